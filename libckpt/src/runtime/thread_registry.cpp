#include "thread_registry.h"

#include "common/raw_syscall.h"

namespace ckpt {

namespace {
constexpr int kMax = 4096;
RegisteredThread g_threads[kMax];
}  // namespace

void registry_add(pthread_t self, uintptr_t start_fn) {
  int32_t tid = int32_t(ckpt_syscall0(CKPT_NR_gettid));
  uint64_t lo = 0, hi = 0;
  pthread_attr_t attr;
  if (pthread_getattr_np(self, &attr) == 0) {
    void* addr;
    size_t size;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
      lo = uint64_t(addr);
      hi = lo + size;
    }
    pthread_attr_destroy(&attr);
  }
  for (RegisteredThread& t : g_threads) {
    int32_t expected = 0;
    if (__atomic_compare_exchange_n(&t.tid, &expected, -1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
      t.pthread = uint64_t(self);
      t.start_fn = start_fn;
      t.stack_lo = lo;
      t.stack_hi = hi;
      __atomic_store_n(&t.tid, tid, __ATOMIC_RELEASE);
      return;
    }
  }
  // Full: the thread is reported as unregistered, nothing else changes.
}

void registry_remove(int32_t tid) {
  for (RegisteredThread& t : g_threads)
    if (__atomic_load_n(&t.tid, __ATOMIC_ACQUIRE) == tid) {
      __atomic_store_n(&t.tid, 0, __ATOMIC_RELEASE);
      return;
    }
}

const RegisteredThread* registry_find(int32_t tid) {
  for (const RegisteredThread& t : g_threads)
    if (__atomic_load_n(&t.tid, __ATOMIC_ACQUIRE) == tid) return &t;
  return nullptr;
}

void registry_rename(int32_t old_tid, int32_t new_tid) {
  for (RegisteredThread& t : g_threads)
    if (t.tid == old_tid && old_tid != new_tid) {
      t.tid = new_tid;
      return;
    }
}

void for_each_thread_stack(void (*fn)(uint64_t lo, uint64_t hi, void* ctx), void* ctx) {
  for (const RegisteredThread& t : g_threads)
    if (__atomic_load_n(&t.tid, __ATOMIC_ACQUIRE) > 0 && t.stack_hi > t.stack_lo) fn(t.stack_lo, t.stack_hi, ctx);
}

void registry_clear() {
  int32_t self = int32_t(ckpt_syscall0(CKPT_NR_gettid));
  for (RegisteredThread& t : g_threads)
    if (t.tid != self) t.tid = 0;
}

}  // namespace ckpt
