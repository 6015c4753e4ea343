// The registry of application threads, kept by wrapping pthread_create.
//
// Each thread created through pthread_create records its tid, pthread_t and
// stack when it starts and removes itself when it ends, however it ends
// (return, pthread_exit, pthread_cancel): a thread-specific value's
// destructor does it, and glibc runs those on every exit path. A checkpoint
// cross-checks the registry against /proc/self/task (threads the registry
// does not know were made inside glibc, before libckpt loaded, or with a raw
// clone) and reports each thread's origin in the image. A new thread also
// inherits its creator's view of the reserved signals it had blocked, or
// takes it from the mask set with pthread_attr_setsigmask_np, and unblocks
// them in the kernel (glibc installs that mask itself, unseen).
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <cstring>

#include "common/raw_syscall.h"
#include "real.h"
#include "runtime/config.h"
#include "runtime/runtime.h"
#include "runtime/thread_registry.h"
#include "thread_signals.h"
#include "tracking/mprotect_model.h"

namespace ckpt {
namespace {

struct StartRecord {
  void* (*fn)(void*);
  void* arg;
  uint64_t reserved_blocked;
};

pthread_key_t g_exit_key;
bool g_have_exit_key = false;
pthread_once_t g_exit_key_once = PTHREAD_ONCE_INIT;

void on_thread_exit(void*) { registry_remove(int32_t(ckpt_syscall0(CKPT_NR_gettid))); }
void make_exit_key() { g_have_exit_key = pthread_key_create(&g_exit_key, on_thread_exit) == 0; }

void* thread_start(void* p) {
  StartRecord rec = *static_cast<StartRecord*>(p);
  free(p);
  t_signals.reserved_blocked = rec.reserved_blocked;
  if (runtime_active()) {
    uint64_t reserved = (1ull << (g_config.ckpt_signal - 1)) | (1ull << (g_config.freeze_signal - 1));
    ckpt_syscall4(CKPT_NR_rt_sigprocmask, SIG_UNBLOCK, long(&reserved), 0, 8);
  }
  registry_add(pthread_self(), reinterpret_cast<uintptr_t>(rec.fn));
  if (g_have_exit_key) pthread_setspecific(g_exit_key, reinterpret_cast<void*>(1));
  else registry_remove(int32_t(ckpt_syscall0(CKPT_NR_gettid)));  // no destructor: rather unregistered than leaked
  return rec.fn(rec.arg);  // the key's destructor removes the thread
}

// The reserved signals blocked in a mask set with pthread_attr_setsigmask_np.
uint64_t attr_reserved_bits(const pthread_attr_t* attr, uint64_t inherited) {
  sigset_t mask;
  if (!attr || !runtime_active() || pthread_attr_getsigmask_np(attr, &mask) != 0) return inherited;
  uint64_t bits = 0;
  if (sigismember(&mask, g_config.ckpt_signal) == 1) bits |= reserved_bit(g_config.ckpt_signal);
  if (sigismember(&mask, g_config.freeze_signal) == 1) bits |= reserved_bit(g_config.freeze_signal);
  return bits;
}

}  // namespace
}  // namespace ckpt

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

CKPT_EXPORT int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*fn)(void*), void* arg) {
  pthread_once(&g_exit_key_once, make_exit_key);
  auto rec = static_cast<StartRecord*>(malloc(sizeof(StartRecord)));
  if (!rec) return CKPT_REAL(pthread_create)(thread, attr, fn, arg);
  *rec = {fn, arg, attr_reserved_bits(attr, t_signals.reserved_blocked)};
  void* stack = nullptr;
  size_t size = 0;
  if (attr && mprotect_tracking() && pthread_attr_getstack(attr, &stack, &size) == 0 && stack && size &&
      uint64_t(stack) + size < (uint64_t(1) << 47))
    mprotect_new_thread_stack(uint64_t(stack) + size);
  int r = CKPT_REAL(pthread_create)(thread, attr, thread_start, rec);
  if (r != 0) free(rec);
  return r;
}

CKPT_EXPORT void pthread_exit(void* value) {
  // Registered threads leave the registry in their key's destructor, which
  // runs after the cleanup handlers (a checkpoint meanwhile still knows them).
  CKPT_REAL(pthread_exit)(value);
  __builtin_unreachable();
}
