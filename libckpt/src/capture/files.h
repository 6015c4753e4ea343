// File descriptors: number, kind, path, flags, offset, close-on-exec.
#pragma once
#include "common/msg.h"
#include "image/process_state.h"

namespace ckpt {

class FileTable;

// Skips descriptors that belong to libckpt (`is_own(fd)`).
bool capture_fds(ProcessState& st, FileTable& files, bool (*is_own)(int fd), Msg& err);

}  // namespace ckpt
