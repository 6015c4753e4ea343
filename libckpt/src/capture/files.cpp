#include "files.h"

#include <asm/ioctls.h>
#include <asm/termbits.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>
#include <string>

#include "common/raw_syscall.h"
#include "file_table.h"
#include "procfs.h"

namespace ckpt {

namespace {

struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

FdKind classify(int fd, const struct stat& st, const std::string& path) {
  switch (st.st_mode & S_IFMT) {
    case S_IFREG: return FdKind::RegularFile;
    case S_IFDIR: return FdKind::Directory;
    case S_IFBLK: return FdKind::BlockDevice;
    case S_IFSOCK: return FdKind::Socket;
    case S_IFIFO: return path.compare(0, 5, "pipe:") == 0 ? FdKind::Pipe : FdKind::Fifo;
    case S_IFCHR: {
      struct termios t;
      return ckpt_syscall3(CKPT_NR_ioctl, fd, TCGETS, long(&t)) == 0 ? FdKind::Terminal : FdKind::CharDevice;
    }
    default: return path.compare(0, 11, "anon_inode:") == 0 ? FdKind::AnonInode : FdKind::Other;
  }
}

}  // namespace

bool capture_fds(ProcessState& st, FileTable& files, bool (*is_own)(int fd), Msg& err) {
  long dir = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long("/proc/self/fd"), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dir < 0) {
    err << "cannot open /proc/self/fd: " << errno_name(int(-dir));
    return false;
  }
  std::vector<int> fds;
  alignas(8) char buf[8192];
  for (;;) {
    long n = ckpt_syscall3(CKPT_NR_getdents64, dir, long(buf), sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto d = reinterpret_cast<LinuxDirent64*>(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
      int fd = int(parse_u64(d->d_name));
      if (fd != dir && !is_own(fd)) fds.push_back(fd);
    }
  }
  ckpt_syscall1(CKPT_NR_close, dir);

  for (int fd : fds) {
    FdState d;
    d.fd = fd;
    char link[64];
    Msg lp;
    lp << "/proc/self/fd/" << fd;
    memcpy(link, lp.c_str(), lp.size() + 1);
    if (!read_link(link, d.path)) continue;  // closed meanwhile (cannot happen while frozen)
    struct stat sb;
    if (ckpt_syscall4(CKPT_NR_newfstatat, fd, long(""), long(&sb), AT_EMPTY_PATH) != 0) continue;
    d.kind = classify(fd, sb, d.path);
    long fl = ckpt_syscall3(CKPT_NR_fcntl, fd, F_GETFL, 0);
    d.flags = fl >= 0 ? uint32_t(fl) : 0;
    long fdfl = ckpt_syscall3(CKPT_NR_fcntl, fd, F_GETFD, 0);
    d.cloexec = fdfl >= 0 && (fdfl & FD_CLOEXEC);
    long pos = ckpt_syscall3(CKPT_NR_lseek, fd, 0, SEEK_CUR);
    d.offset = pos >= 0 ? pos : -1;
    d.rdev = sb.st_rdev;
    if (d.kind == FdKind::RegularFile || d.kind == FdKind::Directory) d.file = files.add_open(fd, d.path, sb);
    st.fds.push_back(std::move(d));
  }
  return true;
}

}  // namespace ckpt
