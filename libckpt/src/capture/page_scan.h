// Finds the pages of an address range that hold data, without touching
// them: the PAGEMAP_SCAN ioctl (Linux 6.7+) walks the page tables and
// returns ranges, so a 64 GiB reservation with 100 touched pages costs a few
// hundred microseconds. Older kernels fall back to reading /proc/self/pagemap.
#pragma once
#include <cstdint>

namespace ckpt {

// Page categories (the kernel's PAGE_IS_* bits for PAGEMAP_SCAN).
constexpr uint64_t kPageWpAllowed = 1 << 0;
constexpr uint64_t kPageWritten = 1 << 1;
constexpr uint64_t kPageFile = 1 << 2;     // page cache or shmem, not a private anonymous copy
constexpr uint64_t kPagePresent = 1 << 3;
constexpr uint64_t kPageSwapped = 1 << 4;
constexpr uint64_t kPagePfnZero = 1 << 5;  // the shared zero page
constexpr uint64_t kPageHuge = 1 << 6;

class PageScanner {
 public:
  PageScanner();
  ~PageScanner();
  bool ok() const { return fd_ >= 0; }
  int error() const { return error_; }

  // Calls fn(start, end, categories, ctx) for each run of pages in
  // [start, end) that is present or swapped; with anon_only, pages backed by
  // the page cache/shmem (kPageFile) are skipped. Returns false on error.
  using Fn = bool (*)(uint64_t start, uint64_t end, uint64_t categories, void* ctx);
  bool scan(uint64_t start, uint64_t end, bool anon_only, Fn fn, void* ctx);
  // PAGEMAP_SCAN only: runs of pages having any of `anyof`, reported with
  // their `report` categories.
  bool scan_categories(uint64_t start, uint64_t end, uint64_t anyof, uint64_t report, Fn fn, void* ctx);
  // Write-protects (uffd-wp async) the present pages of [start, end) that
  // have every category in `mask` (0: all present pages).
  bool write_protect(uint64_t start, uint64_t end, uint64_t mask);

 private:
  bool scan_ioctl(uint64_t start, uint64_t end, bool anon_only, Fn fn, void* ctx);
  bool scan_pagemap(uint64_t start, uint64_t end, bool anon_only, Fn fn, void* ctx);
  int fd_ = -1;
  int error_ = 0;
  bool have_ioctl_ = true;
};

}  // namespace ckpt
