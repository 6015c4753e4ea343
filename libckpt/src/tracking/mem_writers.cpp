#include "mem_writers.h"

#include <fcntl.h>

#include <cstdint>
#include <cstring>

#include "common/raw_syscall.h"

namespace ckpt {

namespace {

// "123" -> 123; -1 if not all digits.
long number(const char* s, size_t n) {
  if (!n || n > 10) return -1;
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// A thread of this process (its pid or a tid in /proc/self/task).
bool own_task(long id) {
  if (id == ckpt_syscall0(CKPT_NR_getpid)) return true;
  char path[48] = "/proc/self/task/";
  char digits[24];
  int n = 0;
  do {
    digits[n++] = char('0' + id % 10);
    id /= 10;
  } while (id);
  size_t len = strlen(path);
  while (n) path[len++] = digits[--n];
  path[len] = '\0';
  alignas(8) char st[256];  // struct stat, unused
  return ckpt_syscall4(CKPT_NR_newfstatat, AT_FDCWD, long(path), long(st), 0) == 0;
}

// /proc/{self,thread-self,N}/mem or /proc/{self,N}/task/N/mem, N ours.
bool memory_path(const char* p) {
  if (strncmp(p, "/proc/", 6) != 0) return false;
  p += 6;
  const char* slash = strchr(p, '/');
  if (!slash) return false;
  size_t n = size_t(slash - p);
  bool self = (n == 4 && !strncmp(p, "self", 4)) || (n == 11 && !strncmp(p, "thread-self", 11));
  long id = number(p, n);
  if (!self && !(id > 0 && own_task(id))) return false;
  p = slash + 1;
  if (!strcmp(p, "mem")) return true;
  if (strncmp(p, "task/", 5) != 0) return false;
  p += 5;
  slash = strchr(p, '/');
  return slash && number(p, size_t(slash - p)) > 0 && !strcmp(slash + 1, "mem");
}

}  // namespace

bool names_own_memory(const char* path) {
  if (!path) return false;
  if (path[0] == '/') return memory_path(path);
  // Relative: only worth resolving from inside /proc.
  char cwd[256];
  long n = ckpt_syscall2(CKPT_NR_getcwd, long(cwd), sizeof cwd);
  if (n <= 0 || strncmp(cwd, "/proc", 5) != 0) return false;
  char full[512];
  size_t len = strnlen(cwd, sizeof cwd);
  if (len + 1 + strlen(path) + 1 > sizeof full) return false;
  memcpy(full, cwd, len);
  full[len] = '/';
  strcpy(full + len + 1, path);
  return memory_path(full);
}

bool fd_writes_own_memory(int fd) {
  long fl = ckpt_syscall3(CKPT_NR_fcntl, fd, F_GETFL, 0);
  if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY) return false;
  char link[32] = "/proc/self/fd/", target[128];
  char digits[12];
  int n = 0, v = fd;
  do {
    digits[n++] = char('0' + v % 10);
    v /= 10;
  } while (v);
  size_t len = strlen(link);
  while (n) link[len++] = digits[--n];
  link[len] = '\0';
  long r = ckpt_syscall3(CKPT_NR_readlink, long(link), long(target), sizeof target - 1);
  if (r <= 0) return false;
  target[r] = '\0';
  return memory_path(target);
}

bool own_memory_writer_open() {
  long dir = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long("/proc/self/fd"), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dir < 0) return false;
  alignas(8) char buf[4096];
  bool found = false;
  for (long n; !found && (n = ckpt_syscall3(CKPT_NR_getdents64, dir, long(buf), sizeof buf)) > 0;) {
    for (long off = 0; off < n && !found;) {
      const char* name = buf + off + 19;  // struct linux_dirent64: d_name after ino, off, reclen, type
      uint16_t reclen;
      memcpy(&reclen, buf + off + 16, 2);
      long fd = number(name, strlen(name));
      if (fd >= 0 && fd != dir && fd_writes_own_memory(int(fd))) found = true;
      off += reclen;
    }
  }
  ckpt_syscall1(CKPT_NR_close, dir);
  return found;
}

}  // namespace ckpt
