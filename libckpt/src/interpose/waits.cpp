// Blocking waits that must not notice a checkpoint.
//
// When one of libckpt's handlers interrupts these calls the kernel returns
// EINTR (see thread_signals.h). Each wrapper computes an absolute deadline
// first and, when the interruption was libckpt's alone, waits again for
// what remains. After a restore the same code runs in the restored thread:
// the deadline is still the original one (CLOCK_MONOTONIC continues on the
// same boot), so the wait ends when it would have, or at once if that has
// passed.
//
// A wait resumed after libckpt's EINTR that then succeeds leaves errno as
// the caller had it. The signal masks passed to ppoll, pselect and
// epoll_pwait(2) lose libckpt's reserved signals on their way to the kernel.
//
// What the kernel writes back (remaining time, ready descriptors, events,
// siginfo) is unprotected first for the mprotect backend (user_writes.h).
//
// Waits made inside the C library itself are not covered (they call the
// system directly): e.g. mq_timedreceive, aio_suspend, futex waits through
// syscall(2), recv with SO_RCVTIMEO. Most of glibc's internal waits retry
// EINTR themselves (pthread_cond_*, pthread_join, getaddrinfo).
#include <errno.h>
#include <poll.h>
#include <semaphore.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>

#include <climits>
#include <cstdint>

#include <sys/syscall.h>

#include "real.h"
#include "thread_signals.h"
#include "user_writes.h"

namespace ckpt {
namespace {

int64_t now_ns(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// Strips the reserved signals from a mask the application waits with.
struct WaitMask {
  sigset_t copy;
  const sigset_t* ptr = nullptr;
  explicit WaitMask(const sigset_t* mask) {
    if (!mask) return;
    copy = *mask;
    strip_reserved_signals(&copy);
    ptr = &copy;
  }
};

int64_t ts_ns(const struct timespec& t) { return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec; }

struct timespec ns_ts(int64_t ns) {
  if (ns < 0) ns = 0;
  return {time_t(ns / 1000000000), long(ns % 1000000000)};
}

// A relative timeout turned into an absolute deadline on CLOCK_MONOTONIC.
struct Deadline {
  int64_t at;
  explicit Deadline(int64_t relative_ns) : at(now_ns(CLOCK_MONOTONIC) + relative_ns) {}
  int64_t remaining() const {
    int64_t r = at - now_ns(CLOCK_MONOTONIC);
    return r > 0 ? r : 0;
  }
  int remaining_ms() const {  // rounded up, as poll() would wait at least that long
    int64_t ms = (remaining() + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : int(ms);
  }
};

}  // namespace
}  // namespace ckpt

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

CKPT_EXPORT int nanosleep(const struct timespec* req, struct timespec* rem) {
  int saved_errno = errno;
  if (!req || req->tv_nsec < 0 || req->tv_nsec >= 1000000000) return CKPT_REAL(nanosleep)(req, rem);
  Deadline d(ts_ns(*req));
  struct timespec left = *req;
  UserWrite out(SYS_nanosleep, req, rem);
  for (;;) {
    InterruptWatch w;
    int r = CKPT_REAL(nanosleep)(&left, rem);
    if (r == -1 && errno == EINTR && w.only_ours()) {
      errno = saved_errno;
      left = ns_ts(d.remaining());
      continue;
    }
    return r;
  }
}

CKPT_EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec* req, struct timespec* rem) {
  int saved_errno = errno;
  if (!req) return CKPT_REAL(clock_nanosleep)(clock, flags, req, rem);
  // Absolute sleeps resume as they are; relative ones against a deadline on the same clock.
  int64_t deadline = (flags & TIMER_ABSTIME) ? 0 : now_ns(clock) + ts_ns(*req);
  struct timespec left = *req;
  UserWrite out(SYS_clock_nanosleep, clock, flags, req, rem);
  for (;;) {
    InterruptWatch w;
    int r = CKPT_REAL(clock_nanosleep)(clock, flags, &left, rem);
    if (r == EINTR && w.only_ours()) {
      errno = saved_errno;
      if (!(flags & TIMER_ABSTIME)) left = ns_ts(deadline - now_ns(clock));
      continue;
    }
    return r;
  }
}

CKPT_EXPORT unsigned int sleep(unsigned int seconds) {
  struct timespec req = {time_t(seconds), 0}, rem = {0, 0};
  if (nanosleep(&req, &rem) == 0) return 0;
  return unsigned(rem.tv_sec + (rem.tv_nsec > 0));
}

CKPT_EXPORT int usleep(useconds_t usec) {
  struct timespec req = {time_t(usec / 1000000), long(usec % 1000000) * 1000};
  return nanosleep(&req, nullptr);
}

CKPT_EXPORT int pause(void) {
  int saved_errno = errno;
  for (;;) {
    InterruptWatch w;
    int r = CKPT_REAL(pause)();
    if (r == -1 && errno == EINTR && w.only_ours()) {
      errno = saved_errno;
      continue;
    }
    return r;
  }
}

CKPT_EXPORT int poll(struct pollfd* fds, nfds_t n, int timeout) {
  int saved_errno = errno;
  Deadline d(timeout > 0 ? int64_t(timeout) * 1000000 : 0);
  UserWrite out(SYS_poll, fds, n);
  for (;;) {
    InterruptWatch w;
    int r = CKPT_REAL(poll)(fds, n, timeout);
    if (r == -1 && errno == EINTR && w.only_ours()) {
      errno = saved_errno;
      if (timeout > 0) timeout = d.remaining_ms();
      continue;
    }
    return r;
  }
}

CKPT_EXPORT int ppoll(struct pollfd* fds, nfds_t n, const struct timespec* tmo, const sigset_t* mask) {
  WaitMask m(mask);
  int saved_errno = errno;
  Deadline d(tmo ? ts_ns(*tmo) : 0);
  struct timespec left = tmo ? *tmo : timespec{0, 0};
  UserWrite out(SYS_ppoll, fds, n);
  for (;;) {
    InterruptWatch w;
    int r = CKPT_REAL(ppoll)(fds, n, tmo ? &left : nullptr, m.ptr);
    if (r == -1 && errno == EINTR && w.only_ours()) {
      errno = saved_errno;
      left = ns_ts(d.remaining());
      continue;
    }
    return r;
  }
}

CKPT_EXPORT int select(int n, fd_set* rd, fd_set* wr, fd_set* ex, struct timeval* tv) {
  int saved_errno = errno;
  // select() clears the sets on EINTR? No: Linux leaves them unmodified on
  // error, so they can be passed again as they are.
  Deadline d(tv ? int64_t(tv->tv_sec) * 1000000000 + int64_t(tv->tv_usec) * 1000 : 0);
  UserWrite out(SYS_select, n, rd, wr, ex, tv);
  for (;;) {
    InterruptWatch w;
    int r = CKPT_REAL(select)(n, rd, wr, ex, tv);
    if (r == -1 && errno == EINTR && w.only_ours()) {
      errno = saved_errno;
      if (tv) {
        int64_t left = d.remaining();
        tv->tv_sec = time_t(left / 1000000000);
        tv->tv_usec = long(left % 1000000000 / 1000);
      }
      continue;
    }
    return r;
  }
}

CKPT_EXPORT int pselect(int n, fd_set* rd, fd_set* wr, fd_set* ex, const struct timespec* tmo, const sigset_t* mask) {
  WaitMask m(mask);
  int saved_errno = errno;
  Deadline d(tmo ? ts_ns(*tmo) : 0);
  struct timespec left = tmo ? *tmo : timespec{0, 0};
  UserWrite out(SYS_pselect6, n, rd, wr, ex);
  for (;;) {
    InterruptWatch w;
    int r = CKPT_REAL(pselect)(n, rd, wr, ex, tmo ? &left : nullptr, m.ptr);
    if (r == -1 && errno == EINTR && w.only_ours()) {
      errno = saved_errno;
      left = ns_ts(d.remaining());
      continue;
    }
    return r;
  }
}

CKPT_EXPORT int epoll_wait(int epfd, struct epoll_event* ev, int max, int timeout) {
  int saved_errno = errno;
  Deadline d(timeout > 0 ? int64_t(timeout) * 1000000 : 0);
  UserWrite out(SYS_epoll_wait, epfd, ev, max);
  for (;;) {
    InterruptWatch w;
    int r = CKPT_REAL(epoll_wait)(epfd, ev, max, timeout);
    if (r == -1 && errno == EINTR && w.only_ours()) {
      errno = saved_errno;
      if (timeout > 0) timeout = d.remaining_ms();
      continue;
    }
    return r;
  }
}

CKPT_EXPORT int epoll_pwait(int epfd, struct epoll_event* ev, int max, int timeout, const sigset_t* mask) {
  WaitMask m(mask);
  int saved_errno = errno;
  Deadline d(timeout > 0 ? int64_t(timeout) * 1000000 : 0);
  UserWrite out(SYS_epoll_pwait, epfd, ev, max);
  for (;;) {
    InterruptWatch w;
    int r = CKPT_REAL(epoll_pwait)(epfd, ev, max, timeout, m.ptr);
    if (r == -1 && errno == EINTR && w.only_ours()) {
      errno = saved_errno;
      if (timeout > 0) timeout = d.remaining_ms();
      continue;
    }
    return r;
  }
}

CKPT_EXPORT int epoll_pwait2(int epfd, struct epoll_event* ev, int max, const struct timespec* tmo,
                             const sigset_t* mask) {
  int saved_errno = errno;
  WaitMask m(mask);
  Deadline d(tmo ? ts_ns(*tmo) : 0);
  struct timespec left = tmo ? *tmo : timespec{0, 0};
  UserWrite out(SYS_epoll_pwait2, epfd, ev, max);
  for (;;) {
    InterruptWatch w;
    int r = CKPT_REAL(epoll_pwait2)(epfd, ev, max, tmo ? &left : nullptr, m.ptr);
    if (r == -1 && errno == EINTR && w.only_ours()) {
      errno = saved_errno;
      left = ns_ts(d.remaining());
      continue;
    }
    return r;
  }
}

CKPT_EXPORT int sigtimedwait(const sigset_t* set, siginfo_t* info, const struct timespec* tmo) {
  int saved_errno = errno;
  sigset_t copy = *set;
  strip_reserved_signals(&copy);
  Deadline d(tmo ? ts_ns(*tmo) : 0);
  struct timespec left = tmo ? *tmo : timespec{0, 0};
  UserWrite out(SYS_rt_sigtimedwait, set, info);
  for (;;) {
    InterruptWatch w;
    int r = CKPT_REAL(sigtimedwait)(&copy, info, tmo ? &left : nullptr);
    if (r == -1 && errno == EINTR && w.only_ours()) {
      errno = saved_errno;
      left = ns_ts(d.remaining());
      continue;
    }
    return r;
  }
}

CKPT_EXPORT int sem_wait(sem_t* s) {
  int saved_errno = errno;
  for (;;) {
    InterruptWatch w;
    int r = CKPT_REAL(sem_wait)(s);
    if (r == -1 && errno == EINTR && w.only_ours()) {
      errno = saved_errno;
      continue;
    }
    return r;
  }
}

CKPT_EXPORT int sem_timedwait(sem_t* s, const struct timespec* abstime) {
  int saved_errno = errno;
  for (;;) {
    InterruptWatch w;
    int r = CKPT_REAL(sem_timedwait)(s, abstime);
    if (r == -1 && errno == EINTR && w.only_ours()) {
      errno = saved_errno;
      continue;
    }
    return r;
  }
}

CKPT_EXPORT int sem_clockwait(sem_t* s, clockid_t clock, const struct timespec* abstime) {
  int saved_errno = errno;
  for (;;) {
    InterruptWatch w;
    int r = CKPT_REAL(sem_clockwait)(s, clock, abstime);
    if (r == -1 && errno == EINTR && w.only_ours()) {
      errno = saved_errno;
      continue;
    }
    return r;
  }
}
