#include "shared_pages.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "common/raw_syscall.h"

namespace ckpt {

namespace {

constexpr uint64_t kPage = 4096;

char* put_hex(char* p, uint64_t v) {
  char tmp[16];
  int n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  while (n) *p++ = tmp[--n];
  return p;
}

// The mapping's object, opened through /proc/self/map_files (privileged).
int open_object(const Region& r) {
  char path[64] = "/proc/self/map_files/";
  char* p = path + 21;
  p = put_hex(p, r.start);
  *p++ = '-';
  p = put_hex(p, r.end);
  *p = '\0';
  long fd = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long(path), O_RDONLY | O_CLOEXEC, 0);
  return fd < 0 ? -1 : int(fd);
}

// `started`: fn was called (a failure after that cannot fall back).
bool scan_data_ranges(int fd, const Region& r, PageScanner::Fn fn, void* ctx, int& error, bool& started) {
  uint64_t first = r.offset, last = r.offset + (r.end - r.start);
  for (uint64_t pos = first; pos < last;) {
    long d = ckpt_syscall3(CKPT_NR_lseek, fd, long(pos), SEEK_DATA);
    if (d == -6 /* ENXIO: no data after pos */) return true;
    if (d < 0) {
      error = int(-d);
      return false;
    }
    if (uint64_t(d) >= last) return true;
    long h = ckpt_syscall3(CKPT_NR_lseek, fd, d, SEEK_HOLE);
    if (h < 0) {
      error = int(-h);
      return false;
    }
    uint64_t s = uint64_t(d) & ~(kPage - 1), e = std::min<uint64_t>((uint64_t(h) + kPage - 1) & ~(kPage - 1), last);
    started = true;
    if (e > s && !fn(r.start + (s - first), r.start + (e - first), kPagePresent, ctx)) return false;
    pos = e > uint64_t(d) ? e : uint64_t(d) + kPage;
  }
  return true;
}

// Whether any swap area is active (/proc/swaps has more than its header).
bool swap_active() {
  long fd = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long("/proc/swaps"), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return true;  // cannot tell: assume it is
  char buf[512];
  long n = ckpt_syscall3(CKPT_NR_read, fd, long(buf), sizeof buf);
  ckpt_syscall1(CKPT_NR_close, fd);
  if (n <= 0) return true;
  int lines = 0;
  for (long i = 0; i < n; i++) lines += buf[i] == '\n';
  return lines > 1 || (n == long(sizeof buf));
}

bool scan_resident(const Region& r, PageScanner::Fn fn, void* ctx, int& error) {
  constexpr uint64_t kBatch = 4096;  // pages per mincore call
  unsigned char vec[kBatch];
  for (uint64_t pos = r.start; pos < r.end;) {
    uint64_t len = std::min<uint64_t>(r.end - pos, kBatch * kPage);
    long rc = ckpt_syscall3(CKPT_NR_mincore, long(pos), long(len), long(vec));
    if (rc != 0) {
      error = int(-rc);
      return false;
    }
    uint64_t n = len / kPage;
    for (uint64_t i = 0; i < n;) {
      if (!(vec[i] & 1)) {
        i++;
        continue;
      }
      uint64_t j = i;
      while (j < n && (vec[j] & 1)) j++;
      if (!fn(pos + i * kPage, pos + j * kPage, kPagePresent, ctx)) return false;
      i = j;
    }
    pos += len;
  }
  return true;
}

}  // namespace

bool scan_shared_object(const Region& r, PageScanner::Fn fn, void* ctx, int& error) {
  error = 0;
  int fd = open_object(r);
  if (fd >= 0) {
    bool started = false;
    bool ok = scan_data_ranges(fd, r, fn, ctx, error, started);
    ckpt_syscall1(CKPT_NR_close, fd);
    if (ok || started) return ok;
    error = 0;  // lseek refused from the start: fall back
  }
  if (swap_active()) return fn(r.start, r.end, kPagePresent, ctx);
  return scan_resident(r, fn, ctx, error);
}

}  // namespace ckpt
