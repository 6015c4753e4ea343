// Address-space bookkeeping for a restore: the launcher's own mappings, and
// free ranges that collide with neither the launcher nor the image (for the
// restorer's hole and for regions that must be prepared elsewhere first).
#pragma once
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

// [start, end) minus the `owned` ranges.
std::vector<std::pair<uint64_t, uint64_t>> subtract(uint64_t start, uint64_t end,
                                                    std::vector<std::pair<uint64_t, uint64_t>> owned);

std::string hex(uint64_t v);

}  // namespace ckpt
