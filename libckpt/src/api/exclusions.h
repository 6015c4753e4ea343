// Ranges the application excluded from images (ckpt_exclude).
#pragma once
#include <cstddef>
#include <cstdint>

namespace ckpt {

struct ExcludedRange {
  uint64_t start, end;  // page-aligned
};
constexpr size_t kMaxExcludedRanges = 256;

// Copies the current exclusions, sorted, into `out`; returns how many.
size_t excluded_ranges(ExcludedRange* out, size_t max);

}  // namespace ckpt
