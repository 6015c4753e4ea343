// The application's view of signals.
//
// libckpt reserves two real-time signals: SIGCKPT and the internal freeze
// signal. The application may install handlers for those numbers (they are
// recorded and reported back to it, never installed) and may block them
// (recorded per thread and reported back, never given to the kernel).
//
// The application's own handlers are installed through a trampoline that
// counts their runs (thread_signals.h) and then calls them exactly as the
// kernel would have; sigaction() reports the application's handler, never
// the trampoline. Every mask the application sets or waits with loses the
// reserved signals on its way to the kernel.
#include <signal.h>

#include <cerrno>
#include <cstring>

#include <sys/syscall.h>

#include "altstack_guard.h"
#include "real.h"
#include "sigsegv_chain.h"
#include "user_writes.h"
#include "runtime/config.h"
#include "runtime/runtime.h"
#include "thread_signals.h"

namespace ckpt {

__thread ThreadSignals t_signals __attribute__((tls_model("initial-exec")));

namespace {

// What the application asked for, for signals whose kernel handler is the
// trampoline.
struct sigaction g_app_actions[65];
struct sigaction g_reserved_actions[65];  // application's view of reserved signals

bool reserved(int sig) {
  return runtime_active() && sig > 0 && (sig == g_config.ckpt_signal || sig == g_config.freeze_signal);
}

void strip_reserved(sigset_t* set) { strip_reserved_signals(set); }

uint64_t reserved_bits_in(const sigset_t* set) {
  uint64_t bits = 0;
  if (!runtime_active() || !set) return 0;
  if (sigismember(set, g_config.ckpt_signal) == 1) bits |= reserved_bit(g_config.ckpt_signal);
  if (sigismember(set, g_config.freeze_signal) == 1) bits |= reserved_bit(g_config.freeze_signal);
  return bits;
}

void add_reserved_bits(sigset_t* set, uint64_t bits) {
  if (!set || !runtime_active()) return;
  if (bits & reserved_bit(g_config.ckpt_signal)) sigaddset(set, g_config.ckpt_signal);
  if (bits & reserved_bit(g_config.freeze_signal)) sigaddset(set, g_config.freeze_signal);
}

void app_handler_trampoline(int sig, siginfo_t* info, void* uc) {
  __atomic_add_fetch(&t_signals.app, 1, __ATOMIC_RELAXED);
  // One-argument handlers ignore the extra arguments (x86-64 calling
  // convention), so every handler is called the SA_SIGINFO way.
  auto handler = __atomic_load_n(&g_app_actions[sig].sa_sigaction, __ATOMIC_ACQUIRE);
  int on_altstack = altstack_enter(uc);  // see altstack_guard.h
  handler(sig, info, uc);
  altstack_leave(on_altstack);
}

// Signal masks and the pthread_sigmask/sigprocmask pair share this.
int set_mask(int (*real_fn)(int, const sigset_t*, sigset_t*), int how, const sigset_t* set, sigset_t* old) {
  UserWrite out(SYS_rt_sigprocmask, how, set, old, 8);
  uint64_t before = t_signals.reserved_blocked;
  int r;
  if (!set) {
    r = real_fn(how, set, old);
  } else {
    sigset_t copy = *set;
    strip_reserved(&copy);
    r = real_fn(how, &copy, old);
    if (r == 0) {
      uint64_t bits = reserved_bits_in(set);
      if (how == SIG_BLOCK) t_signals.reserved_blocked |= bits;
      else if (how == SIG_UNBLOCK) t_signals.reserved_blocked &= ~bits;
      else if (how == SIG_SETMASK) t_signals.reserved_blocked = bits;
    }
  }
  if (r == 0 && old) add_reserved_bits(old, before);
  return r;
}

}  // namespace

void strip_reserved_signals(sigset_t* set) {
  if (!runtime_active()) return;
  sigdelset(set, g_config.ckpt_signal);
  sigdelset(set, g_config.freeze_signal);
}

uint64_t reserved_bit(int sig) {
  if (sig == g_config.ckpt_signal) return 1;
  if (sig == g_config.freeze_signal) return 2;
  return 0;
}

}  // namespace ckpt

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

CKPT_EXPORT int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  if (reserved(sig)) {
    if (old) *old = g_reserved_actions[sig];
    if (act) g_reserved_actions[sig] = *act;
    return 0;
  }
  if (sig <= 0 || sig > 64 || !runtime_active()) return CKPT_REAL(sigaction)(sig, act, old);
  if (sig == SIGSEGV && sigsegv_app_sigaction(act, old)) return 0;  // libsigsegv owns it (mprotect tracking)
  struct sigaction previous = g_app_actions[sig];
  struct sigaction kernel_old;
  int r;
  if (act) {
    struct sigaction k = *act;
    strip_reserved(&k.sa_mask);
    bool wrap = k.sa_handler != SIG_DFL && k.sa_handler != SIG_IGN;
    if (wrap) {
      g_app_actions[sig].sa_mask = act->sa_mask;
      g_app_actions[sig].sa_flags = act->sa_flags;
      __atomic_store_n(&g_app_actions[sig].sa_sigaction, act->sa_sigaction, __ATOMIC_RELEASE);
      k.sa_sigaction = app_handler_trampoline;
      k.sa_flags |= SA_SIGINFO;
    }
    r = CKPT_REAL(sigaction)(sig, &k, &kernel_old);
    if (r != 0 && wrap) g_app_actions[sig] = previous;
  } else {
    r = CKPT_REAL(sigaction)(sig, nullptr, &kernel_old);
  }
  if (r == 0 && old) *old = kernel_old.sa_sigaction == app_handler_trampoline ? previous : kernel_old;
  return r;
}

namespace {
sighandler_t install(int sig, sighandler_t handler, int flags) {
  if (sigsegv_intercept_signal(sig, handler)) return SIG_DFL;
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = flags;
  if (!(flags & SA_NODEFER)) sigaddset(&sa.sa_mask, sig);
  if (sigaction(sig, &sa, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}
}  // namespace

CKPT_EXPORT sighandler_t signal(int sig, sighandler_t handler) { return install(sig, handler, SA_RESTART); }
CKPT_EXPORT sighandler_t bsd_signal(int sig, sighandler_t handler) { return install(sig, handler, SA_RESTART); }
CKPT_EXPORT sighandler_t sysv_signal(int sig, sighandler_t handler) {
  return install(sig, handler, SA_RESETHAND | SA_NODEFER);
}

CKPT_EXPORT int sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  return set_mask(CKPT_REAL(sigprocmask), how, set, old);
}

CKPT_EXPORT int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  return set_mask(CKPT_REAL(pthread_sigmask), how, set, old);
}

CKPT_EXPORT int sigpending(sigset_t* set) {
  UserWrite out(SYS_rt_sigpending, set, 8);
  int r = CKPT_REAL(sigpending)(set);
  if (r == 0) strip_reserved(set);
  return r;
}

CKPT_EXPORT int sigsuspend(const sigset_t* mask) {
  sigset_t copy = *mask;
  strip_reserved(&copy);
  int saved_errno = errno;
  for (;;) {
    InterruptWatch w;
    int r = CKPT_REAL(sigsuspend)(&copy);
    if (r == -1 && errno == EINTR && w.only_ours()) {
      errno = saved_errno;
      continue;
    }
    return r;
  }
}

CKPT_EXPORT int sigwaitinfo(const sigset_t* set, siginfo_t* info) {
  sigset_t copy = *set;
  strip_reserved(&copy);
  int saved_errno = errno;
  UserWrite out(SYS_rt_sigtimedwait, set, info);
  for (;;) {
    InterruptWatch w;
    int r = CKPT_REAL(sigwaitinfo)(&copy, info);
    if (r == -1 && errno == EINTR && w.only_ours()) {
      errno = saved_errno;
      continue;
    }
    return r;
  }
}

CKPT_EXPORT int sigwait(const sigset_t* set, int* sig) {
  // glibc's sigwait retries EINTR itself; only the set needs cleaning.
  sigset_t copy = *set;
  strip_reserved(&copy);
  return CKPT_REAL(sigwait)(&copy, sig);
}

CKPT_EXPORT int signalfd(int fd, const sigset_t* mask, int flags) {
  sigset_t copy = *mask;
  strip_reserved(&copy);
  return CKPT_REAL(signalfd)(fd, &copy, flags);
}
