// open(2) and its relatives, for one purpose: writes through
// /proc/self/mem (or another path to this process's memory file) bypass the
// mprotect backend's write protection without a fault, so opening such a
// file for writing makes the backend forget everything it vouched for
// (tracking/mem_writers.h). fopen and syscall(2) come here too
// (user_writes.cpp, syscall.cpp).
#undef _FILE_OFFSET_BITS  // open and open64 are both defined here
#include "mem_file.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "real.h"
#include "tracking/mem_writers.h"
#include "tracking/mprotect_model.h"

namespace ckpt {

int note_opened(int fd) {
  if (fd >= 0 && mprotect_selected() && fd_writes_own_memory(fd)) mprotect_untrusted();
  return fd;
}

}  // namespace ckpt

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

namespace {
// The mode argument exists only with O_CREAT or O_TMPFILE.
mode_t mode_of(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? mode_t(va_arg(ap, int)) : 0;
}
bool may_write(int flags) { return (flags & O_ACCMODE) != O_RDONLY; }
}  // namespace

CKPT_EXPORT int open(const char* p, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_of(flags, ap);
  va_end(ap);
  int fd = CKPT_REAL(open)(p, flags, mode);
  return may_write(flags) ? note_opened(fd) : fd;
}
CKPT_EXPORT int open64(const char* p, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_of(flags, ap);
  va_end(ap);
  int fd = CKPT_REAL(open64)(p, flags, mode);
  return may_write(flags) ? note_opened(fd) : fd;
}
CKPT_EXPORT int openat(int d, const char* p, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_of(flags, ap);
  va_end(ap);
  int fd = CKPT_REAL(openat)(d, p, flags, mode);
  return may_write(flags) ? note_opened(fd) : fd;
}
CKPT_EXPORT int openat64(int d, const char* p, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_of(flags, ap);
  va_end(ap);
  int fd = CKPT_REAL(openat64)(d, p, flags, mode);
  return may_write(flags) ? note_opened(fd) : fd;
}
CKPT_EXPORT int __open_2(const char* p, int flags) {
  int fd = CKPT_REAL(__open_2)(p, flags);
  return may_write(flags) ? note_opened(fd) : fd;
}
CKPT_EXPORT int __open64_2(const char* p, int flags) {
  int fd = CKPT_REAL(__open64_2)(p, flags);
  return may_write(flags) ? note_opened(fd) : fd;
}
CKPT_EXPORT int __openat_2(int d, const char* p, int flags) {
  int fd = CKPT_REAL(__openat_2)(d, p, flags);
  return may_write(flags) ? note_opened(fd) : fd;
}
CKPT_EXPORT int __openat64_2(int d, const char* p, int flags) {
  int fd = CKPT_REAL(__openat64_2)(d, p, flags);
  return may_write(flags) ? note_opened(fd) : fd;
}
CKPT_EXPORT int creat(const char* p, mode_t mode) { return note_opened(CKPT_REAL(creat)(p, mode)); }
CKPT_EXPORT int creat64(const char* p, mode_t mode) { return note_opened(CKPT_REAL(creat64)(p, mode)); }
