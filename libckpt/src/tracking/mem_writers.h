// Writes that reach the process's memory without its page tables' write
// permission: through /proc/PID/mem (FOLL_FORCE: debuggers, JITs,
// self-patching code), which writes past the mprotect backend's read-only
// protection without a fault. The mprotect backend cannot see those writes,
// so it does not vouch for anything while such a file is open for writing
// by the process: when one is opened (interposed open(2) family, fopen,
// syscall(2)) every chunk is forgotten at once, and an interval during
// which one is open at a checkpoint is not tracked.
#pragma once

namespace ckpt {

// Whether `path` (as given to open, relative to the current directory or
// absolute) names the memory file of this process or one of its threads.
bool names_own_memory(const char* path);
// Whether descriptor `fd` is this process's memory file open for writing.
bool fd_writes_own_memory(int fd);
// Whether any descriptor of the process is (raw system calls only: usable
// while frozen).
bool own_memory_writer_open();

}  // namespace ckpt
