#include "own_fds.h"

#include <fcntl.h>
#include <sys/resource.h>

#include <cerrno>

#include "common/raw_syscall.h"

namespace ckpt {

int move_fd_high(int fd, int want_fd) {
  if (want_fd >= 0) {
    // Only if the number is free: never replace an application descriptor.
    if (ckpt_syscall3(CKPT_NR_fcntl, want_fd, F_GETFD, 0) == -EBADF) {
      long r = ckpt_syscall3(CKPT_NR_dup3, fd, want_fd, O_CLOEXEC);
      if (r == want_fd) {
        ckpt_syscall1(CKPT_NR_close, fd);
        return want_fd;
      }
    }
  }
  struct rlimit rl;
  long top = 1024;
  if (ckpt_syscall4(CKPT_NR_prlimit64, 0, RLIMIT_NOFILE, 0, long(&rl)) == 0 && rl.rlim_cur < 1024)
    top = long(rl.rlim_cur);
  for (long target = top - 1; target > 2 && target > top - 64; target--) {
    if (ckpt_syscall3(CKPT_NR_fcntl, target, F_GETFD, 0) != -EBADF) continue;
    long r = ckpt_syscall3(CKPT_NR_fcntl, fd, F_DUPFD_CLOEXEC, target);
    if (r == target) {
      ckpt_syscall1(CKPT_NR_close, fd);
      return int(r);
    }
    if (r >= 0) ckpt_syscall1(CKPT_NR_close, r);
  }
  return fd;  // no room up high: keep the low number rather than fail
}
}  // namespace ckpt
