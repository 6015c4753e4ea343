#include "page_scan.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>

#include "common/raw_syscall.h"
#include "common/uffd_defs.h"

namespace ckpt {

PageScanner::PageScanner() {
  long fd = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long("/proc/thread-self/pagemap"), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) error_ = int(-fd);
  else fd_ = int(fd);
}

PageScanner::~PageScanner() {
  if (fd_ >= 0) ckpt_syscall1(CKPT_NR_close, fd_);
}

bool PageScanner::scan(uint64_t start, uint64_t end, bool anon_only, Fn fn, void* ctx) {
  if (fd_ < 0) return false;
  if (have_ioctl_) {
    if (scan_ioctl(start, end, anon_only, fn, ctx)) return true;
    if (error_ != ENOTTY && error_ != EINVAL) return false;
    have_ioctl_ = false;  // kernel without PAGEMAP_SCAN
    error_ = 0;
  }
  return scan_pagemap(start, end, anon_only, fn, ctx);
}

bool PageScanner::scan_ioctl(uint64_t start, uint64_t end, bool anon_only, Fn fn, void* ctx) {
  constexpr unsigned kVec = 256;
  pm_page_region vec[kVec];
  uint64_t pos = start;
  while (pos < end) {
    pm_scan_arg arg{};
    arg.size = sizeof arg;
    arg.start = pos;
    arg.end = end;
    arg.vec = uint64_t(vec);
    arg.vec_len = kVec;
    arg.category_anyof_mask = kPagePresent | kPageSwapped;
    if (anon_only) {
      arg.category_inverted = kPageFile;
      arg.category_mask = kPageFile;
    }
    arg.return_mask = kPagePresent | kPageSwapped | kPageFile | kPagePfnZero;
    long n = ckpt_syscall3(CKPT_NR_ioctl, fd_, long(PAGEMAP_SCAN), long(&arg));
    if (n < 0) {
      error_ = int(-n);
      return false;
    }
    for (long i = 0; i < n; i++)
      if (!fn(vec[i].start, vec[i].end, vec[i].categories, ctx)) return false;
    if (arg.walk_end <= pos) break;
    pos = arg.walk_end;
  }
  return true;
}

bool PageScanner::scan_categories(uint64_t start, uint64_t end, uint64_t anyof, uint64_t report, Fn fn, void* ctx) {
  constexpr unsigned kVec = 256;
  pm_page_region vec[kVec];
  for (uint64_t pos = start; pos < end;) {
    pm_scan_arg arg{};
    arg.size = sizeof arg;
    arg.start = pos;
    arg.end = end;
    arg.vec = uint64_t(vec);
    arg.vec_len = kVec;
    arg.category_anyof_mask = anyof;
    arg.return_mask = report;
    long n = ckpt_syscall3(CKPT_NR_ioctl, fd_, long(PAGEMAP_SCAN), long(&arg));
    if (n < 0) {
      error_ = int(-n);
      return false;
    }
    for (long i = 0; i < n; i++)
      if (!fn(vec[i].start, vec[i].end, vec[i].categories, ctx)) return false;
    if (arg.walk_end <= pos) break;
    pos = arg.walk_end;
  }
  return true;
}

bool PageScanner::write_protect(uint64_t start, uint64_t end, uint64_t mask) {
  constexpr unsigned kVec = 256;
  pm_page_region vec[kVec];
  for (uint64_t pos = start; pos < end;) {
    pm_scan_arg arg{};
    arg.size = sizeof arg;
    arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
    arg.start = pos;
    arg.end = end;
    arg.vec = uint64_t(vec);
    arg.vec_len = kVec;
    arg.category_mask = mask;
    arg.category_anyof_mask = kPagePresent | kPageSwapped;
    arg.return_mask = kPagePresent | kPageSwapped;
    long n = ckpt_syscall3(CKPT_NR_ioctl, fd_, long(PAGEMAP_SCAN), long(&arg));
    if (n < 0) {
      error_ = int(-n);
      return false;
    }
    if (arg.walk_end <= pos) break;
    pos = arg.walk_end;
  }
  return true;
}

bool PageScanner::scan_pagemap(uint64_t start, uint64_t end, bool anon_only, Fn fn, void* ctx) {
  constexpr size_t kEntries = 4096;
  uint64_t entries[kEntries];
  uint64_t run_start = 0, run_cat = 0;
  bool in_run = false;
  for (uint64_t pos = start; pos < end;) {
    size_t n = size_t((end - pos) / 4096);
    if (n > kEntries) n = kEntries;
    long r = ckpt_syscall4(CKPT_NR_pread64, fd_, long(entries), long(n * 8), long(pos / 4096 * 8));
    if (r < long(n * 8)) {
      error_ = r < 0 ? int(-r) : EIO;
      return false;
    }
    for (size_t i = 0; i < n; i++, pos += 4096) {
      uint64_t e = entries[i];
      uint64_t cat = (e >> 63 ? kPagePresent : 0) | ((e >> 62) & 1 ? kPageSwapped : 0) |
                     ((e >> 61) & 1 ? kPageFile : 0);
      bool want = (cat & (kPagePresent | kPageSwapped)) && !(anon_only && (cat & kPageFile));
      if (in_run && (!want || cat != run_cat)) {
        if (!fn(run_start, pos, run_cat, ctx)) return false;
        in_run = false;
      }
      if (want && !in_run) {
        in_run = true;
        run_start = pos;
        run_cat = cat;
      }
    }
  }
  if (in_run && !fn(run_start, end, run_cat, ctx)) return false;
  return true;
}

}  // namespace ckpt
