// What the mprotect backend offers the interposed functions.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ckpt {

// The mprotect backend is the process's tracker (from start-up on), and it
// has a model armed (from the first checkpoint on).
bool mprotect_selected();
bool mprotect_tracking();
// The kernel or glibc is about to write [addr, addr+len): unprotect it (and
// count it dirty) first, so the write does not fail with EFAULT.
void mprotect_touch(const void* addr, size_t len);
// The application is about to change the mapping of [start, start+len):
// its chunks are no longer vouched for (saved in full next time).
void mprotect_forget(uint64_t start, uint64_t len);
// The same, and libckpt's protection is taken off the whole range (it is
// about to move with mremap, which must not carry it along).
void mprotect_release(uint64_t start, uint64_t len);
// Something may write memory without faulting (tracking/mem_writers.h):
// nothing is vouched for any more until the next re-arm.
void mprotect_untrusted();
// The application set up an alternate signal stack.
void mprotect_new_altstack(const void* sp, size_t size);
// A thread is about to be created on a stack the application provided.
void mprotect_new_thread_stack(uint64_t stack_top);
// The protection the application set on a tracked address.
uint32_t mprotect_app_prot(uint64_t addr, bool& known);

// Buffers a re-arm must leave writable (directory streams, destinations of
// calls in flight), kept by interpose/user_writes.cpp.
void for_each_kept_writable(void (*fn)(uint64_t start, uint64_t len));

}  // namespace ckpt
