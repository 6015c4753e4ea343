// Reading a directory with raw getdents64: opendir() allocates, and libckpt
// reads /proc/self/task, /proc/self/fd and the images directory while
// application threads may be frozen inside malloc.
#pragma once
#include <fcntl.h>

#include <cstdint>

#include "raw_syscall.h"

namespace ckpt {

struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

// Calls fn(name, dir_fd) for every entry of `path` ("." and ".." included;
// dir_fd is the directory's own descriptor, open during the walk). Returns
// the negative errno if the directory cannot be opened, else 0.
template <class Fn>
long for_each_dir_entry(const char* path, Fn&& fn) {
  long dir = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dir < 0) return dir;
  alignas(8) char buf[8192];
  for (;;) {
    long n = ckpt_syscall3(CKPT_NR_getdents64, dir, long(buf), sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto d = reinterpret_cast<const LinuxDirent64*>(buf + off);
      off += d->d_reclen;
      fn(static_cast<const char*>(d->d_name), int(dir));
    }
  }
  ckpt_syscall1(CKPT_NR_close, dir);
  return 0;
}

// The number an entry of /proc/.../task or /proc/.../fd names, or -1.
inline long dir_entry_number(const char* name) {
  if (*name < '0' || *name > '9') return -1;
  long v = 0;
  for (; *name >= '0' && *name <= '9'; name++) v = v * 10 + (*name - '0');
  return v;
}

}  // namespace ckpt
