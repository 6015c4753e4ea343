// Signal dispositions as the kernel holds them (libckpt's own handlers for
// its signals included: the restored process needs them too).
#pragma once
#include "image/process_state.h"

namespace ckpt {

void capture_signal_actions(ProcessState& st);

}  // namespace ckpt
