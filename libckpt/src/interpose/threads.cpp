// The registry of application threads, kept by wrapping pthread_create.
//
// Each thread created through pthread_create records its tid, pthread_t and
// stack when it starts and removes itself when it ends. A checkpoint
// cross-checks the registry against /proc/self/task (threads the registry
// does not know were made inside glibc, before libckpt loaded, or with a raw
// clone) and reports each thread's origin in the image. A new thread also
// inherits its creator's view of the reserved signals it had blocked.
#include <pthread.h>

#include <cstdlib>
#include <cstring>

#include "common/raw_syscall.h"
#include "real.h"
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

void* thread_start(void* p) {
  StartRecord rec = *static_cast<StartRecord*>(p);
  free(p);
  t_signals.reserved_blocked = rec.reserved_blocked;
  registry_add(pthread_self(), reinterpret_cast<uintptr_t>(rec.fn));
  void* result = rec.fn(rec.arg);
  registry_remove(int32_t(ckpt_syscall0(CKPT_NR_gettid)));
  return result;
}

}  // namespace
}  // namespace ckpt

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

CKPT_EXPORT int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*fn)(void*), void* arg) {
  auto rec = static_cast<StartRecord*>(malloc(sizeof(StartRecord)));
  if (!rec) return CKPT_REAL(pthread_create)(thread, attr, fn, arg);
  *rec = {fn, arg, t_signals.reserved_blocked};
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
  registry_remove(int32_t(ckpt_syscall0(CKPT_NR_gettid)));
  CKPT_REAL(pthread_exit)(value);
  __builtin_unreachable();
}
