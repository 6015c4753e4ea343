// One image file on disk, written atomically: a temporary name in the image
// directory (mode 0600), fsync, then a rename that never replaces an
// existing image, then fsync of the directory. A failure removes the
// temporary file and leaves every earlier image as it was.
#pragma once
#include <cstdint>
#include <string>

#include "common/msg.h"

namespace ckpt {

class ImageFile {
 public:
  ~ImageFile() { abandon(); }
  bool create(const char* dir, Msg& err);
  int fd() const { return fd_; }
  // Final name: DIR/<base>-<pid>-<seq>.img, seq bumped while the name is taken.
  bool commit(const std::string& base, int32_t pid, uint64_t& seq, std::string& final_path, Msg& err);
  void abandon();

 private:
  std::string dir_, temp_;
  int fd_ = -1;
  int dir_fd_ = -1;
};

bool make_directories(const char* path, Msg& err);

}  // namespace ckpt
