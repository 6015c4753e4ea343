// libckpt's process-wide runtime: load-time set-up, the checkpoint signal
// handler, and what a restored or forked process must redo.
#pragma once
#include <signal.h>
#include <ucontext.h>

#include <cstdint>

namespace ckpt {

bool runtime_active();
bool is_own_fd(int fd);

// libckpt's own stack for the capture and writing phases (never the
// application's: a thread's stack may be small).
void* private_stack_top();
uintptr_t private_stack_start();
uintptr_t private_stack_end();
bool allocate_private_stack();
void abandon_private_stack();  // after a restore: the mapping is gone

void on_checkpoint_signal(int sig, siginfo_t* info, void* uc);
void install_checkpoint_handler();

// The checkpoint, run by the coordinating thread (in the SIGCKPT handler, or
// in libckpt's coordinator thread) while it holds the exclusive right to
// checkpoint. `uc` is the interrupted context (null outside a handler).
enum class Outcome { Written, Failed, Restored };
Outcome coordinate(uint32_t token, const ucontext_t* uc);
bool begin_exclusive();
// Releases the right; requests that arrived meanwhile are sent again.
void end_exclusive();
void forget_pending_requests();
// In a fork child: nobody holds the right, no request is pending.
void exclusive_after_fork();
// Bumped each time this process is restored: a thread that waited through
// a checkpoint compares it to know whether it now runs in a restored process.
extern uint64_t g_restore_count;

}  // namespace ckpt
