// Threads the application created with pthread_create (see
// interpose/threads.cpp). Lock-free and allocation-free: threads add and
// remove themselves, the checkpoint reads it while everyone is frozen.
#pragma once
#include <pthread.h>

#include <cstdint>

namespace ckpt {

struct RegisteredThread {
  int32_t tid;          // 0: free slot
  uint64_t pthread;     // pthread_t
  uint64_t start_fn;    // the function the thread runs
  uint64_t stack_lo, stack_hi;
};

void registry_add(pthread_t self, uintptr_t start_fn);
void registry_remove(int32_t tid);
const RegisteredThread* registry_find(int32_t tid);
void registry_clear();  // fork child: only the calling thread survives
void registry_rename(int32_t old_tid, int32_t new_tid);  // restored under new tids
// Calls fn(lo, hi) for the stack of every registered live thread.
void for_each_thread_stack(void (*fn)(uint64_t lo, uint64_t hi, void* ctx), void* ctx);

}  // namespace ckpt
