// Per-thread signal bookkeeping that makes checkpoints invisible.
//
// The kernel turns an interrupted nanosleep/poll/epoll_wait/sigtimedwait...
// into EINTR whenever any handler runs, SA_RESTART or not. libckpt's
// handlers count their runs in `ours`, the application's handlers (which
// libckpt wraps) in `app`; a wrapper that sees EINTR with `ours` changed and
// `app` unchanged knows the interruption was libckpt's and resumes the wait
// against its original deadline. The counters live in the thread's TLS, so
// a restored thread sees the increment its checkpoint made and resumes too.
#pragma once
#include <signal.h>

#include <cstdint>

namespace ckpt {

struct ThreadSignals {
  uint32_t ours;             // runs of libckpt's handlers in this thread
  uint32_t app;              // runs of the application's handlers in this thread
  uint64_t reserved_blocked; // reserved signals the app believes it blocked (its view)
};

extern __thread ThreadSignals t_signals __attribute__((tls_model("initial-exec")));

inline void count_our_signal() { __atomic_add_fetch(&t_signals.ours, 1, __ATOMIC_RELAXED); }

// Snapshot taken before a blocking call.
struct InterruptWatch {
  uint32_t ours = t_signals.ours, app = t_signals.app;
  // EINTR caused by libckpt alone: the call should be resumed.
  bool only_ours() const {
    return __atomic_load_n(&t_signals.ours, __ATOMIC_RELAXED) != ours &&
           __atomic_load_n(&t_signals.app, __ATOMIC_RELAXED) == app;
  }
};

// Removes libckpt's reserved signals from a set the application passes on.
void strip_reserved_signals(sigset_t* set);

// Bit for a reserved signal in ThreadSignals::reserved_blocked (0 if not reserved).
uint64_t reserved_bit(int sig);

}  // namespace ckpt
