// The hand-over from ckpt-run to the freestanding restorer (restorer/).
#pragma once
#include <string>
#include <vector>

#include "address_space.h"
#include "files.h"
#include "image/chain.h"
#include "image/image_reader.h"
#include "memory.h"

namespace ckpt {

struct RestoreContext {
  const ImageChain* chain;
  MemoryRestorer* memory;
  FdPlan* fds;
  FreeSpace* space;
  int ready_fd, error_fd;
  uint32_t identity;        // ckpt_identity
  int32_t new_pid;
  std::string images_dir;   // --images given at restore ("" keeps the image's)
  std::string image_path;
  bool verbose;
  bool set_nofile = false;  // RLIMIT_NOFILE for the restorer to set last
  uint64_t nofile_cur = 0, nofile_max = 0;
};

// Builds the plan and jumps to the restorer; returns only by exception
// (before anything irreversible happened).
[[noreturn]] void enter_restorer(const RestoreContext& c);

}  // namespace ckpt
