#include "sigsegv_chain.h"

#include <sigsegv.h>

#include <cstring>

#include "real.h"

namespace ckpt {

namespace {

int (*g_handler)(void*, int) = nullptr;
bool g_active = false;
bool g_installing = false;                 // libsigsegv is calling sigaction
__thread bool t_declining = false;         // libsigsegv is about to reset SIGSEGV
struct sigaction g_app_action;             // the application's SIGSEGV action

void install_libsigsegv() {
  g_installing = true;
  sigsegv_install_handler(g_handler);
  g_installing = false;
}

void trampoline(int sig, siginfo_t* info, void* uc) {
  t_declining = false;
  struct sigaction app = g_app_action;
  if (!(app.sa_flags & SA_SIGINFO) && (app.sa_handler == SIG_DFL || app.sa_handler == SIG_IGN)) {
    // No handler: the default action (a fault cannot be ignored). The
    // instruction faults once more and the process ends as it would have.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    CKPT_REAL(sigaction)(sig, &dfl, nullptr);
    return;
  }
  install_libsigsegv();  // before the handler: it may longjmp away
  if (app.sa_flags & SA_SIGINFO) app.sa_sigaction(sig, info, uc);
  else app.sa_handler(sig);
}

}  // namespace

bool sigsegv_chain_install(int (*handler)(void*, int)) {
  if (g_active) return true;
  CKPT_REAL(sigaction)(SIGSEGV, nullptr, &g_app_action);  // whatever was there is the application's
  g_handler = handler;
  install_libsigsegv();
  g_active = true;
  return true;
}

bool sigsegv_chain_active() { return g_active; }

void sigsegv_decline() { t_declining = true; }

bool sigsegv_app_sigaction(const struct sigaction* act, struct sigaction* old) {
  if (!g_active || g_installing) return false;  // libsigsegv itself goes to the kernel
  if (old) *old = g_app_action;
  if (act) g_app_action = *act;
  return true;
}

bool sigsegv_intercept_signal(int sig, sighandler_t handler) {
  if (!g_active || sig != SIGSEGV || !t_declining || handler != SIG_DFL) return false;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = trampoline;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  CKPT_REAL(sigaction)(SIGSEGV, &sa, nullptr);
  return true;
}

}  // namespace ckpt
