// The application's view of libckpt's reserved signals.
//
// SIGCKPT and the internal freeze signal must stay libckpt's: the app may
// install handlers for those numbers (they are recorded and reported back to
// it, never installed) and may not block them (they are removed from every
// mask it sets). Everything else passes through to the C library.
#include <signal.h>

#include <cerrno>
#include <cstring>

#include "real.h"
#include "runtime/config.h"
#include "runtime/runtime.h"

namespace ckpt {
namespace {

struct sigaction g_app_actions[65];  // what the app asked for, for reserved signals

bool reserved(int sig) {
  return runtime_active() && sig > 0 && (sig == g_config.ckpt_signal || sig == g_config.freeze_signal);
}

void strip_reserved(sigset_t* set) {
  if (!runtime_active()) return;
  sigdelset(set, g_config.ckpt_signal);
  sigdelset(set, g_config.freeze_signal);
}

}  // namespace
}  // namespace ckpt

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

CKPT_EXPORT int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  if (reserved(sig)) {
    if (old) *old = g_app_actions[sig];
    if (act) g_app_actions[sig] = *act;
    return 0;
  }
  if (!act) return real::sigaction(sig, act, old);
  struct sigaction copy = *act;
  strip_reserved(&copy.sa_mask);
  return real::sigaction(sig, &copy, old);
}

namespace {
sighandler_t install(int sig, sighandler_t handler, int flags) {
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
  if (!set || how == SIG_UNBLOCK) return real::sigprocmask(how, set, old);
  sigset_t copy = *set;
  strip_reserved(&copy);
  return real::sigprocmask(how, &copy, old);
}

CKPT_EXPORT int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  if (!set || how == SIG_UNBLOCK) return real::pthread_sigmask(how, set, old);
  sigset_t copy = *set;
  strip_reserved(&copy);
  return real::pthread_sigmask(how, &copy, old);
}
