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

// Two lists: a change is made in the one not published, then published
// with one atomic store, so a checkpoint (which reads without the lock: a
// frozen thread may hold it) always sees a whole list, before or after.
constexpr size_t kMaxExcluded = kMaxExcludedRanges;
struct ExclusionList {
  ExcludedRange r[kMaxExcluded];
  size_t n;
};
ExclusionList g_lists[2];
uint32_t g_published = 0;  // index of the list checkpoints read
pthread_mutex_t g_excluded_lock = PTHREAD_MUTEX_INITIALIZER;

// Replaces the published list (called with the lock held).
void publish(const ExcludedRange* r, size_t n) {
  ExclusionList& next = g_lists[1 - __atomic_load_n(&g_published, __ATOMIC_ACQUIRE)];
  memcpy(next.r, r, n * sizeof *r);
  next.n = n;
  __atomic_store_n(&g_published, uint32_t(&next - g_lists), __ATOMIC_RELEASE);
}

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

// Read while every thread is frozen: no lock (a frozen thread may hold it).
size_t excluded_ranges(ExcludedRange* out, size_t max) {
  const ExclusionList& l = g_lists[__atomic_load_n(&g_published, __ATOMIC_ACQUIRE)];
  size_t n = l.n < max ? l.n : max;
  memcpy(out, l.r, n * sizeof(ExcludedRange));
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
  const ExclusionList& cur = g_lists[g_published];
  // Sorted and merged: the new range absorbs those it overlaps or touches.
  ExcludedRange out[kMaxExcluded + 1];
  size_t n = 0;
  bool placed = false;
  for (size_t i = 0; i < cur.n; i++) {
    const ExcludedRange& x = cur.r[i];
    if (x.end < start || x.start > end) {
      if (!placed && x.start > end) {
        out[n++] = {start, end};
        placed = true;
      }
      out[n++] = x;
    } else {
      start = x.start < start ? x.start : start;
      end = x.end > end ? x.end : end;
    }
  }
  if (!placed) out[n++] = {start, end};
  if (n > kMaxExcluded) {
    pthread_mutex_unlock(&g_excluded_lock);
    errno = ENOSPC;
    return -1;
  }
  publish(out, n);
  pthread_mutex_unlock(&g_excluded_lock);
  return 0;
}

// Every page [addr, addr+len) touches is included again, however it was
// excluded. The next image saves those pages in full whatever the tracker
// says: its parent left them out (checkpoint.cpp compares the exclusions of
// consecutive images).
CKPT_EXPORT int ckpt_include(const void* addr, size_t len) {
  uint64_t start = uint64_t(addr) & ~(kPage - 1);
  uint64_t end = (uint64_t(addr) + len + kPage - 1) & ~(kPage - 1);
  if (end <= start) return 0;
  pthread_mutex_lock(&g_excluded_lock);
  const ExclusionList& cur = g_lists[g_published];
  ExcludedRange out[kMaxExcluded + 1];
  size_t n = 0;
  for (size_t i = 0; i < cur.n && n < kMaxExcluded + 1; i++) {
    const ExcludedRange& x = cur.r[i];
    if (x.end <= start || x.start >= end) {
      out[n++] = x;
      continue;
    }
    if (x.start < start) out[n++] = {x.start, start};
    if (x.end > end && n < kMaxExcluded + 1) out[n++] = {end, x.end};
  }
  if (n > kMaxExcluded) {  // a range split in two with the list full
    pthread_mutex_unlock(&g_excluded_lock);
    errno = ENOSPC;
    return -1;
  }
  publish(out, n);
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
