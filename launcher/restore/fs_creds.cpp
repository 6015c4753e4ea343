#include "fs_creds.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "address_space.h"

namespace ckpt {

namespace {

// setfsuid/setfsgid report no errors: they return the previous id, and
// asking for -1 changes nothing and returns the current one.
uid_t current_fsuid() { return uid_t(syscall(SYS_setfsuid, -1)); }
gid_t current_fsgid() { return gid_t(syscall(SYS_setfsgid, -1)); }

}  // namespace

ImageFsCredentials::ImageFsCredentials(const Credentials& image) {
  if (geteuid() != 0) return;  // an ordinary user restores only its own images
  uid_ = current_fsuid();
  gid_ = current_fsgid();
  int n = getgroups(0, nullptr);
  groups_.resize(size_t(n > 0 ? n : 0));
  if (n > 0 && getgroups(n, groups_.data()) != n) groups_.clear();
  std::vector<gid_t> want(image.groups.begin(), image.groups.end());
  if (image.fsuid == uid_ && image.fsgid == gid_ && want == groups_) return;
  switched_ = true;
  if (syscall(SYS_setgroups, want.size(), want.data()) != 0)
    throw RestoreError(std::string("cannot take the image's supplementary groups: ") + strerror(errno));
  syscall(SYS_setfsgid, image.fsgid);
  syscall(SYS_setfsuid, image.fsuid);
  if (current_fsuid() != image.fsuid || current_fsgid() != image.fsgid)
    throw RestoreError("cannot take the image's filesystem user and group (" + std::to_string(image.fsuid) + "/" +
                       std::to_string(image.fsgid) + ")");
}

ImageFsCredentials::~ImageFsCredentials() {
  if (!switched_) return;
  syscall(SYS_setfsuid, uid_);
  syscall(SYS_setfsgid, gid_);
  syscall(SYS_setgroups, groups_.size(), groups_.data());
}

}  // namespace ckpt
