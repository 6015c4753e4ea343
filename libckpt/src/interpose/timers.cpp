// SIGEV_THREAD timers, run by libckpt instead of glibc.
//
// glibc delivers SIGEV_THREAD timers through a helper thread that blocks
// every signal, so no checkpoint could ever stop it. libckpt creates such
// timers itself as SIGEV_THREAD_ID timers aimed at its own helper thread,
// which blocks everything but libckpt's freeze signal: it is checkpointed
// and restored like any other thread (same tid), and the kernel timers are
// re-created pointing at it. On each expiry the helper starts a detached
// thread that runs the application's function, as glibc does. The timer_t
// handed back is the kernel timer id, which glibc's timer_settime,
// timer_gettime and timer_getoverrun accept as they are.
//
// timer_settime is watched for TIMER_ABSTIME: an absolute timer is restored
// at its original expiry, not at its remaining time after the restore.
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "common/raw_syscall.h"
#include "records.h"
#include "real.h"
#include "runtime/config.h"
#include "runtime/runtime.h"

namespace ckpt {
namespace {

constexpr int kTimerSignal = 32;  // glibc's own SIGTIMER
constexpr int kMaxTimers = 1024;

struct ThreadTimer {
  int kernel_id;                  // -1: free
  void (*fn)(union sigval);
  union sigval value;
  size_t stack_size;              // 0: default
  bool has_attr;
};

ThreadTimer g_timers[kMaxTimers];

// Kernel timer ids last armed with TIMER_ABSTIME (timer_gettime only shows
// the remaining time). Atomic bits: the checkpoint reads them while
// application threads are frozen.
constexpr int kMaxAbsoluteIds = 1 << 16;
uint64_t g_absolute[kMaxAbsoluteIds / 64];

void note_absolute(intptr_t id, bool absolute) {
  if (id < 0 || id >= kMaxAbsoluteIds) return;  // glibc's own SIGEV_THREAD handles, ids beyond the table
  uint64_t bit = 1ull << (id % 64);
  if (absolute) __atomic_fetch_or(&g_absolute[id / 64], bit, __ATOMIC_RELEASE);
  else __atomic_fetch_and(&g_absolute[id / 64], ~bit, __ATOMIC_RELEASE);
}
pthread_once_t g_helper_once = PTHREAD_ONCE_INIT;
pid_t g_helper_tid = 0;
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void* run_timer_function(void* p) {
  auto t = static_cast<ThreadTimer*>(p);
  t->fn(t->value);
  return nullptr;
}

void* helper_main(void*) {
  // Block everything (raw: glibc would keep its internal signals open) but
  // libckpt's freeze signal and glibc's setxid broadcast.
  uint64_t mask = ~0ull;
  mask &= ~(1ull << (g_config.freeze_signal - 1));
  mask &= ~(1ull << (33 - 1));
  ckpt_syscall4(CKPT_NR_rt_sigprocmask, SIG_SETMASK, long(&mask), 0, 8);
  ckpt_syscall2(CKPT_NR_prctl, PR_SET_NAME, long("ckpt-timers"));
  __atomic_store_n(&g_helper_tid, pid_t(ckpt_syscall0(CKPT_NR_gettid)), __ATOMIC_RELEASE);
  uint64_t wait_set = 1ull << (kTimerSignal - 1);
  for (;;) {
    siginfo_t si;
    long r = ckpt_syscall4(CKPT_NR_rt_sigtimedwait, long(&wait_set), long(&si), 0, 8);
    if (r != kTimerSignal || si.si_code != SI_TIMER) continue;  // EINTR from a checkpoint, or stray
    auto t = static_cast<ThreadTimer*>(si.si_value.sival_ptr);
    if (!t || t < g_timers || t >= g_timers + kMaxTimers || t->kernel_id < 0) continue;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (t->stack_size) pthread_attr_setstacksize(&attr, t->stack_size);
    pthread_t th;
    pthread_create(&th, &attr, run_timer_function, t);
    pthread_attr_destroy(&attr);
  }
  return nullptr;
}

void start_helper() {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t th;
  if (pthread_create(&th, &attr, helper_main, nullptr) == 0)
    while (!__atomic_load_n(&g_helper_tid, __ATOMIC_ACQUIRE)) sched_yield();
  pthread_attr_destroy(&attr);
}

}  // namespace

void timers_after_fork() {
  // POSIX timers are not inherited and neither is the helper thread.
  g_helper_once = PTHREAD_ONCE_INIT;
  g_helper_tid = 0;
  for (ThreadTimer& t : g_timers) t.kernel_id = -1;
  pthread_mutex_init(&g_lock, nullptr);
  memset(g_absolute, 0, sizeof g_absolute);
}

bool timer_is_absolute(int id) {
  return id >= 0 && id < kMaxAbsoluteIds && (__atomic_load_n(&g_absolute[id / 64], __ATOMIC_ACQUIRE) >> (id % 64) & 1);
}

void timers_init() {
  for (ThreadTimer& t : g_timers) t.kernel_id = -1;
}

}  // namespace ckpt

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

CKPT_EXPORT int timer_create(clockid_t clock, struct sigevent* sev, timer_t* out) {
  if (!sev || sev->sigev_notify != SIGEV_THREAD || !runtime_active())
    return CKPT_REAL(timer_create)(clock, sev, out);
  pthread_once(&g_helper_once, start_helper);
  if (!g_helper_tid) return CKPT_REAL(timer_create)(clock, sev, out);  // no helper: glibc's way
  pthread_mutex_lock(&g_lock);
  ThreadTimer* t = nullptr;
  for (ThreadTimer& slot : g_timers)
    if (slot.kernel_id < 0) {
      t = &slot;
      break;
    }
  if (!t) {
    pthread_mutex_unlock(&g_lock);
    errno = EAGAIN;
    return -1;
  }
  t->fn = sev->sigev_notify_function;
  t->value = sev->sigev_value;
  t->stack_size = 0;
  if (sev->sigev_notify_attributes) pthread_attr_getstacksize(sev->sigev_notify_attributes, &t->stack_size);
  struct sigevent k;
  memset(&k, 0, sizeof k);
  k.sigev_notify = SIGEV_THREAD_ID;
  k.sigev_signo = kTimerSignal;
  k.sigev_value.sival_ptr = t;
  k._sigev_un._tid = g_helper_tid;
  int id = -1;
  long r = syscall(SYS_timer_create, clock, &k, &id);
  if (r == 0) {
    t->kernel_id = id;
    *out = reinterpret_cast<timer_t>(intptr_t(id));
  }
  pthread_mutex_unlock(&g_lock);
  return r == 0 ? 0 : -1;
}

CKPT_EXPORT int timer_delete(timer_t timer) {
  intptr_t id = reinterpret_cast<intptr_t>(timer);
  if (id >= 0 && id < INT32_MAX) {
    pthread_mutex_lock(&g_lock);
    for (ThreadTimer& t : g_timers)
      if (t.kernel_id == id) t.kernel_id = -1;
    pthread_mutex_unlock(&g_lock);
  }
  note_absolute(id, false);
  return CKPT_REAL(timer_delete)(timer);
}

// timer_t is the kernel id for every timer but glibc's own SIGEV_THREAD ones
// (negative handles), which libckpt replaces anyway.
CKPT_EXPORT int timer_settime(timer_t timer, int flags, const struct itimerspec* value, struct itimerspec* old) {
  int r = CKPT_REAL(timer_settime)(timer, flags, value, old);
  if (r == 0) note_absolute(reinterpret_cast<intptr_t>(timer), (flags & TIMER_ABSTIME) != 0);
  return r;
}
