#include "files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "address_space.h"

namespace ckpt {

int move_above(int fd, int base) {
  int n = fcntl(fd, F_DUPFD_CLOEXEC, base);
  if (n < 0) throw RestoreError(std::string("cannot move a descriptor above ") + std::to_string(base) + ": " + strerror(errno));
  close(fd);
  return n;
}

FdPlan prepare_fds(const ProcessState& st, std::vector<std::string>& warnings) {
  FdPlan plan;
  int32_t max_fd = 2;
  for (const FdState& d : st.fds) max_fd = std::max(max_fd, d.fd);
  plan.temp_base = max_fd + 1;
  for (const FdState& d : st.fds) {
    bool stdio = d.fd <= 2;
    std::string what = "fd " + std::to_string(d.fd) + " (" + d.path + ")";
    switch (d.kind) {
      case FdKind::RegularFile:
      case FdKind::Directory:
      case FdKind::CharDevice: {
        if (d.kind == FdKind::RegularFile && d.file >= 0 && st.files[size_t(d.file)].deleted) {
          warnings.push_back(what + " refers to a deleted file and is not restored");
          continue;
        }
        uint32_t flags = d.flags & ~uint32_t(O_CREAT | O_TRUNC | O_EXCL | O_NOCTTY);
        int fd = open(d.path.c_str(), int(flags) | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
          if (stdio && fcntl(d.fd, F_GETFD) >= 0) {
            warnings.push_back(what + ": " + strerror(errno) + "; using ckpt-run's own stream instead");
            plan.keep.push_back(d.fd);
            continue;
          }
          throw RestoreError("cannot reopen " + what + ": " + strerror(errno));
        }
        if (d.kind == FdKind::RegularFile && d.offset >= 0 && lseek(fd, d.offset, SEEK_SET) < 0) {
          int err = errno;
          close(fd);
          throw RestoreError("cannot seek " + what + " to " + std::to_string(d.offset) + ": " + strerror(err));
        }
        fd = move_above(fd, plan.temp_base);
        plan.dups.push_back({fd, d.fd, d.cloexec ? 1 : 0, 0});
        plan.keep.push_back(d.fd);
        break;
      }
      case FdKind::Terminal:
      case FdKind::Pipe:
      case FdKind::Fifo:
      case FdKind::Socket:
        if (stdio) {
          // The terminal or pipe is gone with the old process: use ours.
          if (fcntl(d.fd, F_GETFD) >= 0) {
            plan.keep.push_back(d.fd);
            if (d.cloexec) fcntl(d.fd, F_SETFD, FD_CLOEXEC);
          }
          continue;
        }
        warnings.push_back(what + " (" + fd_kind_name(d.kind) + ") is not restored yet; it stays closed");
        break;
      default:
        warnings.push_back(what + " (" + fd_kind_name(d.kind) + ") is not restored yet; it stays closed");
        break;
    }
  }
  return plan;
}

}  // namespace ckpt
