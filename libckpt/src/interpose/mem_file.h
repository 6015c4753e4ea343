// Descriptors on the process's own memory file (tracking/mem_writers.h).
#pragma once

namespace ckpt {

// A descriptor was just opened: if it writes this process's memory, the
// mprotect backend stops vouching for anything from now on. Returns fd.
int note_opened(int fd);

}  // namespace ckpt
