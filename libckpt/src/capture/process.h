// Process-wide state: ids, credentials, limits, working directory, umask,
// personality, mm fields and auxv. Refuses what cannot be restored faithfully
// (a seccomp filter cannot be read from inside the process).
#pragma once
#include "common/msg.h"
#include "image/process_state.h"

namespace ckpt {

class FileTable;

bool capture_process_basics(ProcessState& st, Msg& err);
// The children of thread `tid` (from /proc/self/task/TID/children). Refuses
// a child that shares our memory (vfork(), clone(CLONE_VM)) or that one of
// our threads (`tids`) traces: neither relationship can be restored.
bool capture_children(ProcessState& st, int32_t tid, const int32_t* tids, size_t ntids, Msg& err);
// After regions are known: the executable's entry in the file table.
void link_executable(ProcessState& st, FileTable& files);
bool check_sysv_ipc(int32_t pid, Msg& err);

}  // namespace ckpt
