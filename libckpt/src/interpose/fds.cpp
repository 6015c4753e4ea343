// libckpt's own descriptors (the control block) survive whatever the
// application does to its descriptors: close() and close_range() skip them
// (as if they were not open), and dup2()/dup3() onto one moves it away first.
// Daemons that close every descriptor at start-up keep working, and their
// first open() still returns 3 because libckpt's descriptors sit high.
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <unistd.h>

#include "real.h"
#include "records.h"
#include "runtime/control.h"
#include "runtime/runtime.h"

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

CKPT_EXPORT int close(int fd) {
  if (is_own_fd(fd)) {
    errno = EBADF;
    return -1;
  }
  forget_fd_records(fd);
  return CKPT_REAL(close)(fd);
}

CKPT_EXPORT int close_range(unsigned first, unsigned last, int flags) {
  int own = control::fd();
  if (!control::owns_fd(own)) own = -1;
  if (own < 0 || unsigned(own) < first || unsigned(own) > last || (flags & CLOSE_RANGE_CLOEXEC))
    return CKPT_REAL(close_range)(first, last, flags);
  int r = 0;
  if (unsigned(own) > first) r = CKPT_REAL(close_range)(first, unsigned(own) - 1, flags);
  if (r == 0 && unsigned(own) < last) r = CKPT_REAL(close_range)(unsigned(own) + 1, last, flags);
  return r;
}

CKPT_EXPORT void closefrom(int lowfd) {
  if (lowfd < 0) lowfd = 0;
  if (close_range(unsigned(lowfd), ~0u, 0) != 0) {
    // close_range unavailable: close what is open, one by one.
    for (int fd = lowfd; fd < 65536; fd++)
      if (!is_own_fd(fd)) CKPT_REAL(close)(fd);
  }
}

CKPT_EXPORT int dup2(int oldfd, int newfd) {
  if (is_own_fd(newfd) && oldfd != newfd) control::move_away();
  return CKPT_REAL(dup2)(oldfd, newfd);
}

CKPT_EXPORT int dup3(int oldfd, int newfd, int flags) {
  if (is_own_fd(newfd) && oldfd != newfd) control::move_away();
  return CKPT_REAL(dup3)(oldfd, newfd, flags);
}
