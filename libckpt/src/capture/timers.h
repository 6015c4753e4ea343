// Timers: every POSIX timer of the process (from /proc/self/timers, with
// timer_gettime for the remaining time) and the three setitimer timers.
#pragma once
#include "common/msg.h"
#include "image/process_state.h"

namespace ckpt {

bool capture_timers(ProcessState& st, Msg& err);

}  // namespace ckpt
