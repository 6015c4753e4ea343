// The in-application API (include/ckpt.h): checkpoint requests, exclusions
// and callbacks.
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/random.h>

#include <cstring>

#include "callbacks.h"
#include "common/raw_syscall.h"
#include "exclusions.h"
#include "runtime/lineage.h"
#include "runtime/config.h"
#include "runtime/control.h"
#include "runtime/coordinator.h"
#include "runtime/runtime.h"

namespace ckpt {

namespace {

constexpr size_t kMaxCallbacks = 64;
struct Callback {
  enum ckpt_event event;
  void (*fn)(void*);
  void* arg;
};
Callback g_callbacks[kMaxCallbacks];
size_t g_ncallbacks = 0;
pthread_mutex_t g_callbacks_lock = PTHREAD_MUTEX_INITIALIZER;

constexpr size_t kMaxExcluded = 256;
ExcludedRange g_excluded[kMaxExcluded];
size_t g_nexcluded = 0;
pthread_mutex_t g_excluded_lock = PTHREAD_MUTEX_INITIALIZER;

constexpr uint64_t kPage = 4096;

}  // namespace

void run_callbacks(enum ckpt_event event) {
  pthread_mutex_lock(&g_callbacks_lock);
  Callback copy[kMaxCallbacks];
  size_t n = g_ncallbacks;
  memcpy(copy, g_callbacks, n * sizeof(Callback));
  pthread_mutex_unlock(&g_callbacks_lock);
  for (size_t i = 0; i < n; i++)
    if (copy[i].event == event) copy[i].fn(copy[i].arg);
}

bool callbacks_registered() { return __atomic_load_n(&g_ncallbacks, __ATOMIC_ACQUIRE) > 0; }

// Read while every thread is frozen: no lock (a frozen thread may hold it);
// the array is only ever appended to or compacted under the lock, and a
// torn read costs at most one stale range in one image.
size_t excluded_ranges(ExcludedRange* out, size_t max) {
  size_t n = __atomic_load_n(&g_nexcluded, __ATOMIC_ACQUIRE);
  if (n > max) n = max;
  memcpy(out, g_excluded, n * sizeof(ExcludedRange));
  return n;
}

}  // namespace ckpt

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

CKPT_EXPORT int ckpt_is_enabled(void) { return runtime_active(); }

CKPT_EXPORT int ckpt_checkpoint(char* path, size_t size) {
  if (!runtime_active()) {
    errno = ENOSYS;
    return -1;
  }
  if (!coordinator::start()) {
    errno = EAGAIN;
    return -1;
  }
  uint32_t token = 0;
  while (token == 0) getrandom(&token, sizeof token, 0);
  uint64_t restores = __atomic_load_n(&g_restore_count, __ATOMIC_ACQUIRE);
  coordinator::post(token);
  // The result appears in the control block once the image is durable; a
  // restored process learns it is one from the restore counter.
  for (;;) {
    if (__atomic_load_n(&g_restore_count, __ATOMIC_ACQUIRE) != restores) {
      if (path && size) {  // the image this process was restored from
        strncpy(path, lineage::last_image().path, size - 1);
        path[size - 1] = '\0';
      }
      return CKPT_AFTER_RESTORE;
    }
    ckpt_control_result r;
    if (control::find_result(token, r)) {
      if (r.status != CKPT_RESULT_OK) {
        errno = EIO;
        return -1;
      }
      if (path && size) {
        strncpy(path, r.path, size - 1);
        path[size - 1] = '\0';
      }
      return CKPT_AFTER_CHECKPOINT;
    }
    struct timespec ts = {0, 2000000};
    ckpt_syscall2(CKPT_NR_nanosleep, long(&ts), 0);
  }
}

CKPT_EXPORT int ckpt_exclude(const void* addr, size_t len) {
  uint64_t start = (uint64_t(addr) + kPage - 1) & ~(kPage - 1);
  uint64_t end = (uint64_t(addr) + len) & ~(kPage - 1);
  if (end <= start) return 0;  // no whole page inside
  pthread_mutex_lock(&g_excluded_lock);
  if (g_nexcluded == kMaxExcluded) {
    pthread_mutex_unlock(&g_excluded_lock);
    errno = ENOSPC;
    return -1;
  }
  size_t i = g_nexcluded;
  while (i > 0 && g_excluded[i - 1].start > start) {  // keep sorted
    g_excluded[i] = g_excluded[i - 1];
    i--;
  }
  g_excluded[i] = {start, end};
  __atomic_store_n(&g_nexcluded, g_nexcluded + 1, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&g_excluded_lock);
  return 0;
}

CKPT_EXPORT int ckpt_include(const void* addr, size_t len) {
  uint64_t start = (uint64_t(addr) + kPage - 1) & ~(kPage - 1);
  uint64_t end = (uint64_t(addr) + len) & ~(kPage - 1);
  pthread_mutex_lock(&g_excluded_lock);
  size_t out = 0;
  for (size_t i = 0; i < g_nexcluded; i++)
    if (!(g_excluded[i].start == start && g_excluded[i].end == end)) g_excluded[out++] = g_excluded[i];
  __atomic_store_n(&g_nexcluded, out, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&g_excluded_lock);
  return 0;
}

CKPT_EXPORT int ckpt_on_event(enum ckpt_event event, void (*fn)(void*), void* arg) {
  if (!fn || event < CKPT_EVENT_BEFORE_CHECKPOINT || event > CKPT_EVENT_AFTER_RESTORE) {
    errno = EINVAL;
    return -1;
  }
  pthread_mutex_lock(&g_callbacks_lock);
  if (g_ncallbacks == kMaxCallbacks) {
    pthread_mutex_unlock(&g_callbacks_lock);
    errno = ENOSPC;
    return -1;
  }
  g_callbacks[g_ncallbacks] = {event, fn, arg};
  __atomic_store_n(&g_ncallbacks, g_ncallbacks + 1, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&g_callbacks_lock);
  // Callbacks run in the coordinator thread: from now on checkpoints do.
  if (runtime_active() && !coordinator::start()) return -1;
  return 0;
}
