#include "address_space.h"

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace ckpt {

std::string hex(uint64_t v) {
  char b[24];
  snprintf(b, sizeof b, "0x%llx", (unsigned long long)v);
  return b;
}

std::vector<Mapping> read_own_mappings() {
  std::vector<Mapping> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long long s, e;
    int name_at = 0;
    if (sscanf(line.c_str(), "%llx-%llx %*s %*s %*s %*s %n", &s, &e, &name_at) < 2) continue;
    out.push_back({s, e, name_at > 0 && size_t(name_at) <= line.size() ? line.substr(size_t(name_at)) : ""});
  }
  return out;
}

std::string describe_occupant(uint64_t start, uint64_t end) {
  for (const Mapping& m : read_own_mappings())
    if (m.start < end && m.end > start)
      return (m.name.empty() ? std::string("an anonymous mapping") : m.name) + " at " + hex(m.start) + "-" + hex(m.end);
  return "nothing (the kernel refused the address)";
}

void FreeSpace::mark_busy(uint64_t start, uint64_t end) { busy_.push_back({start, end}); }

uint64_t FreeSpace::take(uint64_t len, uint64_t guard) {
  // Search from high in the user address space downwards, below the usual
  // home of stacks and shared libraries, for a gap with room for the guards.
  constexpr uint64_t kLow = 1ull << 32, kHigh = 0x7e0000000000ull;
  std::sort(busy_.begin(), busy_.end());
  std::vector<std::pair<uint64_t, uint64_t>> merged;
  for (auto& r : busy_) {
    if (!merged.empty() && r.first <= merged.back().second) merged.back().second = std::max(merged.back().second, r.second);
    else merged.push_back(r);
  }
  busy_ = merged;
  uint64_t need = len + 2 * guard;
  uint64_t gap_end = kHigh;
  for (auto it = busy_.rbegin(); ; ++it) {
    uint64_t gap_start = it == busy_.rend() ? kLow : std::max(kLow, it->second);
    if (gap_end > gap_start && gap_end - gap_start >= need) {
      uint64_t start = (gap_end - guard - len) & ~0xfffull;
      busy_.push_back({start, start + len});
      return start;
    }
    if (it == busy_.rend()) break;
    gap_end = std::min(gap_end, it->first);
    if (gap_end <= kLow) break;
  }
  throw RestoreError("no free address range of " + std::to_string(len) + " bytes for the restore");
}

RangeSet::RangeSet(std::vector<std::pair<uint64_t, uint64_t>> ranges) {
  std::sort(ranges.begin(), ranges.end());
  for (const auto& r : ranges) {
    if (r.first >= r.second) continue;
    if (!ranges_.empty() && r.first <= ranges_.back().second)
      ranges_.back().second = std::max(ranges_.back().second, r.second);
    else
      ranges_.push_back(r);
  }
}

}  // namespace ckpt
