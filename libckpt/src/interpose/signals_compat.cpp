// The other ways a program can change its signal handlers and masks.
//
// glibc implements the System V and BSD signal calls (sigset, sigignore,
// sighold, sigrelse, sigpause, siginterrupt, sigblock, sigsetmask,
// siggetmask), __sigaction and setcontext/swapcontext with its own internal
// calls, which no interposer sees: sigignore(SIGRTMAX) would replace
// libckpt's freeze handler, sighold(SIGCKPT) block checkpoints, a coroutine
// switch with a full uc_sigmask leave a thread no signal can stop. Here each
// is rebuilt on libckpt's own sigaction and sigprocmask wrappers
// (signals.cpp), so the reserved signals are handled as everywhere else:
// recorded as the application's view, never given to the kernel.
//
// setcontext and swapcontext switch to a copy of the context whose mask
// lost the reserved signals; the thread's view of them becomes what the
// context's mask says.
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <ucontext.h>

#include <cstring>

#include "altstack_guard.h"
#include "real.h"
#include "runtime/config.h"
#include "runtime/runtime.h"
#include "thread_signals.h"

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

bool valid_signal(int sig) { return sig > 0 && sig < NSIG; }

int one_signal_mask(int how, int sig) {
  if (!valid_signal(sig)) {
    errno = EINVAL;
    return -1;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  return sigprocmask(how, &set, nullptr);
}

// The mask a context installs, without the reserved signals; the thread's
// view of them follows the context.
const ucontext_t* strip_context(const ucontext_t* ucp, ucontext_t* copy) {
  if (!ucp || !runtime_active()) return ucp;
  uint64_t bits = 0;
  if (sigismember(&ucp->uc_sigmask, g_config.ckpt_signal) == 1) bits |= reserved_bit(g_config.ckpt_signal);
  if (sigismember(&ucp->uc_sigmask, g_config.freeze_signal) == 1) bits |= reserved_bit(g_config.freeze_signal);
  t_signals.reserved_blocked = bits;
  if (!bits) return ucp;
  memcpy(copy, ucp, sizeof *copy);
  strip_reserved_signals(&copy->uc_sigmask);
  return copy;
}

// Mask as the application sees it (reserved signals it blocked included).
sigset_t current_mask() {
  sigset_t cur;
  sigprocmask(SIG_BLOCK, nullptr, &cur);
  return cur;
}

int old_style_mask(const sigset_t& set) {
  int m = 0;
  for (int s = 1; s <= 32; s++)
    if (sigismember(&set, s) == 1) m |= 1 << (s - 1);
  return m;
}

sigset_t from_old_style(int mask) {
  sigset_t set;
  sigemptyset(&set);
  for (int s = 1; s <= 32; s++)
    if (mask & (1 << (s - 1))) sigaddset(&set, s);
  return set;
}

int suspend_with(const sigset_t& mask) { return sigsuspend(&mask); }

}  // namespace

CKPT_EXPORT int __sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  return sigaction(sig, act, old);
}

CKPT_EXPORT sighandler_t ssignal(int sig, sighandler_t handler) { return signal(sig, handler); }
CKPT_EXPORT sighandler_t __sysv_signal(int sig, sighandler_t handler) { return sysv_signal(sig, handler); }

// System V: the handler runs with sig blocked; SIG_HOLD blocks it instead.
// Returns SIG_HOLD when sig was blocked before the call.
CKPT_EXPORT sighandler_t sigset(int sig, sighandler_t disp) {
  if (!valid_signal(sig)) {
    errno = EINVAL;
    return SIG_ERR;
  }
  sigset_t set, old_mask;
  sigemptyset(&set);
  sigaddset(&set, sig);
  struct sigaction old;
  if (disp == SIG_HOLD) {
    if (sigaction(sig, nullptr, &old) != 0 || sigprocmask(SIG_BLOCK, &set, &old_mask) != 0) return SIG_ERR;
    return sigismember(&old_mask, sig) == 1 ? SIG_HOLD : old.sa_handler;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = disp;
  if (sigaction(sig, &sa, &old) != 0 || sigprocmask(SIG_UNBLOCK, &set, &old_mask) != 0) return SIG_ERR;
  return sigismember(&old_mask, sig) == 1 ? SIG_HOLD : old.sa_handler;
}

CKPT_EXPORT int sigignore(int sig) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  return sigaction(sig, &sa, nullptr);
}

CKPT_EXPORT int sighold(int sig) { return one_signal_mask(SIG_BLOCK, sig); }
CKPT_EXPORT int sigrelse(int sig) { return one_signal_mask(SIG_UNBLOCK, sig); }

CKPT_EXPORT int siginterrupt(int sig, int flag) {
  struct sigaction sa;
  if (!valid_signal(sig) || sigaction(sig, nullptr, &sa) != 0) {
    errno = EINVAL;
    return -1;
  }
  if (flag) sa.sa_flags &= ~SA_RESTART;
  else sa.sa_flags |= SA_RESTART;
  return sigaction(sig, &sa, nullptr);
}

// sigpause: the System V one (removes sig from the mask while waiting) is
// __xpg_sigpause, what <signal.h> maps sigpause() to; the exported
// `sigpause` is the BSD one (waits with the given old-style mask).
extern "C" int ckpt_xpg_sigpause(int sig) __asm__("__xpg_sigpause") __attribute__((visibility("default")));
extern "C" int ckpt_bsd_sigpause(int mask) __asm__("sigpause") __attribute__((visibility("default")));
extern "C" int ckpt_sigpause(int sig_or_mask, int is_sig) __asm__("__sigpause") __attribute__((visibility("default")));

int ckpt_sigpause(int sig_or_mask, int is_sig) {
  sigset_t mask;
  if (is_sig) {
    if (!valid_signal(sig_or_mask)) {
      errno = EINVAL;
      return -1;
    }
    mask = current_mask();
    sigdelset(&mask, sig_or_mask);
  } else {
    mask = from_old_style(sig_or_mask);
  }
  return suspend_with(mask);
}
int ckpt_xpg_sigpause(int sig) { return ckpt_sigpause(sig, 1); }
int ckpt_bsd_sigpause(int mask) { return ckpt_sigpause(mask, 0); }

// BSD masks: signals 1..32 as bits of an int.
CKPT_EXPORT int sigblock(int mask) {
  sigset_t set = from_old_style(mask), old;
  if (sigprocmask(SIG_BLOCK, &set, &old) != 0) return -1;
  return old_style_mask(old);
}

CKPT_EXPORT int sigsetmask(int mask) {
  sigset_t set = from_old_style(mask), old;
  if (sigprocmask(SIG_SETMASK, &set, &old) != 0) return -1;
  return old_style_mask(old);
}

CKPT_EXPORT int siggetmask(void) { return old_style_mask(current_mask()); }

CKPT_EXPORT int setcontext(const ucontext_t* ucp) {
  altstack_forget_self();  // a way out of a signal handler
  ucontext_t copy;
  return CKPT_REAL(setcontext)(strip_context(ucp, &copy));
}

CKPT_EXPORT int swapcontext(ucontext_t* oucp, const ucontext_t* ucp) {
  // oucp resumes here, in this frame, when the program switches back: the
  // mask saved in it lacks the reserved signals (the kernel's), so the
  // view they had is taken back from this frame then.
  ucontext_t copy;
  uint64_t view = t_signals.reserved_blocked;
  int r = CKPT_REAL(swapcontext)(oucp, strip_context(ucp, &copy));
  t_signals.reserved_blocked = view;
  return r;
}

// Jumping out of a signal handler that ran on the alternate stack: the
// thread is not on it any more (altstack_guard.h).
CKPT_EXPORT __attribute__((noreturn)) void siglongjmp(sigjmp_buf env, int val) {
  altstack_forget_self();
  CKPT_REAL(siglongjmp)(env, val);
  __builtin_unreachable();
}
CKPT_EXPORT __attribute__((noreturn)) void longjmp(jmp_buf env, int val) {
  altstack_forget_self();
  CKPT_REAL(longjmp)(env, val);
  __builtin_unreachable();
}
CKPT_EXPORT __attribute__((noreturn)) void _longjmp(jmp_buf env, int val) {
  altstack_forget_self();
  CKPT_REAL(_longjmp)(env, val);
  __builtin_unreachable();
}
CKPT_EXPORT __attribute__((noreturn)) void __longjmp_chk(jmp_buf env, int val) {
  altstack_forget_self();
  CKPT_REAL(__longjmp_chk)(env, val);
  __builtin_unreachable();
}
