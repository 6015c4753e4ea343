#include "image_file.h"

#include <fcntl.h>
#include <cerrno>
#include <linux/fs.h>

#include <cstring>

#include "common/raw_syscall.h"

namespace ckpt {

bool make_directories(const char* path, Msg& err) {
  std::string p = path;
  for (size_t i = 1; i <= p.size(); i++) {
    if (i < p.size() && p[i] != '/') continue;
    std::string part = p.substr(0, i);
    long r = ckpt_syscall3(CKPT_NR_mkdirat, AT_FDCWD, long(part.c_str()), 0700);
    // mkdir applies the umask: a directory we create is 0700 whatever it is.
    if (r == 0) r = ckpt_syscall3(268 /* fchmodat */, AT_FDCWD, long(part.c_str()), 0700);
    if (r != 0 && r != -EEXIST) {
      err << "cannot create directory " << part.c_str() << ": " << errno_name(int(-r));
      return false;
    }
  }
  return true;
}

bool ImageFile::create(const char* dir, Msg& err) {
  dir_ = dir;
  long dfd = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dfd == -ENOENT) {
    if (!make_directories(dir, err)) return false;
    dfd = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  }
  if (dfd < 0) {
    err << "cannot open the image directory " << dir << ": " << errno_name(int(-dfd));
    if (dfd == -EACCES || dfd == -EPERM)
      err << " (the process runs as uid " << ckpt_syscall0(CKPT_NR_geteuid) << ", which may not enter it or a "
          << "directory above it)";
    return false;
  }
  dir_fd_ = int(dfd);
  uint64_t rnd = 0;
  ckpt_syscall3(CKPT_NR_getrandom, long(&rnd), sizeof rnd, 0);
  Msg name;
  name << ".partial-" << Hex{rnd} << ".img";
  temp_ = name.c_str();
  long fd = ckpt_syscall4(CKPT_NR_openat, dir_fd_, long(temp_.c_str()), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    err << "cannot create an image in " << dir << ": " << errno_name(int(-fd));
    if (fd == -EACCES || fd == -EPERM)
      err << " (the process runs as uid " << ckpt_syscall0(CKPT_NR_geteuid) << ", which may not write there: it "
          << "changed its user after ckpt-run started it with that directory; give the directory to that user, or "
          << "restart with --images naming a directory it can write)";
    temp_.clear();
    return false;
  }
  fd_ = int(fd);
  ckpt_syscall2(91 /* fchmod */, fd_, 0600);  // the application's umask may have taken bits off
  return true;
}

bool ImageFile::commit(const std::string& base, int32_t pid, uint64_t& seq, std::string& final_path, Msg& err) {
  long r = ckpt_syscall1(CKPT_NR_fsync, fd_);
  if (r != 0) {
    err << "cannot flush the image to disk: " << errno_name(int(-r));
    return false;
  }
  ckpt_syscall1(CKPT_NR_close, fd_);
  fd_ = -1;
  for (int attempt = 0; attempt < 10000; attempt++, seq++) {
    Msg name;
    name << base.c_str() << "-" << pid << "-";
    if (seq < 1000) name << (seq < 10 ? "000" : seq < 100 ? "00" : "0");
    name << seq << ".img";
    r = ckpt_syscall5(CKPT_NR_renameat2, dir_fd_, long(temp_.c_str()), dir_fd_, long(name.c_str()), RENAME_NOREPLACE);
    if (r == -EEXIST) continue;
    if (r != 0) {
      err << "cannot rename the finished image: " << errno_name(int(-r));
      return false;
    }
    temp_.clear();
    ckpt_syscall1(CKPT_NR_fsync, dir_fd_);
    final_path = dir_ + "/" + name.c_str();
    return true;
  }
  err << "no free image name in " << dir_.c_str();
  return false;
}

void ImageFile::abandon() {
  if (fd_ >= 0) ckpt_syscall1(CKPT_NR_close, fd_);
  fd_ = -1;
  if (!temp_.empty() && dir_fd_ >= 0) ckpt_syscall3(CKPT_NR_unlinkat, dir_fd_, long(temp_.c_str()), 0);
  temp_.clear();
  if (dir_fd_ >= 0) ckpt_syscall1(CKPT_NR_close, dir_fd_);
  dir_fd_ = -1;
}

}  // namespace ckpt
