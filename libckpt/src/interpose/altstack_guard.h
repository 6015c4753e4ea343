// Threads running a handler on their alternate signal stack.
//
// A thread already on its sigaltstack gets every further signal frame
// there, whatever the handler's flags: libckpt's freeze signal included.
// Its frame (with the AVX-512 state, ~3.4 KiB) and libckpt's handler may
// not fit in what is left of a small alternate stack, and the kernel then
// kills the process with SIGSEGV. The application's handlers (run through
// libckpt's trampoline) record here when they run on the alternate stack;
// the coordinator does not signal such a thread while it may lack the room
// (it waits, within the freeze time allowed, for the handler to return).
#pragma once
#include <signal.h>

#include <cstdint>

namespace ckpt {

// In the trampoline, around the application's handler. `uc`: the frame's
// context (its uc_stack is the alternate stack as it was at delivery).
int altstack_enter(const void* uc);
void altstack_leave(int slot);
// The thread leaves its handlers by a jump (siglongjmp, setcontext).
void altstack_forget_self();
// Coordinator: true if `tid` runs a handler on an alternate stack and may
// not have `need` bytes free below its stack pointer.
bool altstack_too_tight(int32_t tid, uint64_t need);
// In a fork child: only the forking thread exists.
void altstack_after_fork();

}  // namespace ckpt
