// The image user's filesystem identity, taken by root while it restores
// that user's image.
//
// An image is its user's data: the paths it names (or symlinks put in their
// place since the checkpoint) must not reach files that user could not
// open. Everything the restore does with paths (reopening files and
// directories, FIFOs, binding and unlinking UNIX sockets, inotify watches,
// mapped files, the working directory, the file checks) runs with the
// image's fsuid, fsgid and supplementary groups: access checks and the
// owner of what is created (sockets, re-created deleted files) are the
// user's. Only these credentials change: root's real and effective ids and
// its other capabilities (CAP_SYS_ADMIN for PR_SET_MM, CAP_SYS_RESOURCE for
// limits, CAP_NET_BIND_SERVICE for low ports) stay until the restorer sets
// the image's full credentials.
#pragma once
#include <sys/types.h>

#include <vector>

#include "image/process_state.h"

namespace ckpt {

class ImageFsCredentials {
 public:
  // Switches the calling thread (raw system calls: glibc's setgroups would
  // broadcast to every thread) when we are root and the image's user is
  // not; a no-op otherwise. Throws RestoreError if the switch fails.
  explicit ImageFsCredentials(const Credentials& image);
  ~ImageFsCredentials();  // back to ours
  ImageFsCredentials(const ImageFsCredentials&) = delete;
  ImageFsCredentials& operator=(const ImageFsCredentials&) = delete;

 private:
  bool switched_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  std::vector<gid_t> groups_;
};

}  // namespace ckpt
