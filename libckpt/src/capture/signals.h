// Signal dispositions as the kernel holds them (libckpt's own handlers for
// its signals included: the restored process needs them too).
#pragma once
#include "image/process_state.h"

namespace ckpt {

void capture_signal_actions(ProcessState& st);

// Signals pending for this thread (`shared` false) or for the whole process
// (`shared` true): each is dequeued, its siginfo recorded in `out` (128
// bytes each), and queued again at once, so the running process keeps them.
// libckpt's own signals and glibc's internal ones are left alone.
size_t capture_pending_signals(bool shared, unsigned char (*out)[128], size_t max);

// The same for the calling thread, from a freeze signal handler: reads
// /proc/thread-self/status into `scratch` instead of allocating (hundreds
// of threads run this at once; none may take libckpt's heap lock).
size_t capture_thread_pending_signals(char* scratch, size_t scratch_len, unsigned char (*out)[128], size_t max);

}  // namespace ckpt
