// Address-space bookkeeping for a restore: the launcher's own mappings, and
// free ranges that collide with neither the launcher nor the image (for the
// restorer's hole and for regions that must be prepared elsewhere first).
#pragma once
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ckpt {

struct RestoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Mapping {
  uint64_t start, end;
  std::string name;
};

std::vector<Mapping> read_own_mappings();
// Who occupies [start, end) right now ("[heap]", a library path, ...).
std::string describe_occupant(uint64_t start, uint64_t end);

class FreeSpace {
 public:
  void mark_busy(uint64_t start, uint64_t end);
  // A free range of `len` bytes with `guard` bytes of free space on each
  // side, marked busy; throws RestoreError if the address space is full.
  uint64_t take(uint64_t len, uint64_t guard = 1ull << 20);

 private:
  std::vector<std::pair<uint64_t, uint64_t>> busy_;
};

// Address ranges, sorted and merged once, so that [start, end) minus them
// costs a binary search and allocates nothing (the restore plan subtracts
// them from every line of /proc/self/maps, with no allocation allowed
// between reading it and handing over).
class RangeSet {
 public:
  explicit RangeSet(std::vector<std::pair<uint64_t, uint64_t>> ranges);
  // Calls piece(s, e) for each part of [start, end) outside the set, in order.
  template <class Piece>
  void subtract(uint64_t start, uint64_t end, Piece&& piece) const {
    uint64_t pos = start;
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), pos,
                               [](uint64_t v, const std::pair<uint64_t, uint64_t>& r) { return v < r.second; });
    for (; it != ranges_.end() && it->first < end; ++it) {
      if (it->first > pos) piece(pos, it->first);
      pos = std::max(pos, it->second);
    }
    if (pos < end) piece(pos, end);
  }

 private:
  std::vector<std::pair<uint64_t, uint64_t>> ranges_;  // sorted, disjoint, non-adjacent
};

std::string hex(uint64_t v);

}  // namespace ckpt
