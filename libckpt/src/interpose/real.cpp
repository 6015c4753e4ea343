#include "real.h"

#include <dlfcn.h>

#include "common/raw_syscall.h"

namespace ckpt::real {

namespace {

template <class F>
F resolve(F& slot, const char* name) {
  if (!slot) {
    slot = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
    if (!slot) {
      static const char msg[] = "libckpt: cannot find the C library's functions; aborting\n";
      ckpt_syscall3(CKPT_NR_write, 2, long(msg), sizeof msg - 1);
      ckpt_syscall1(CKPT_NR_exit_group, 127);
    }
  }
  return slot;
}

int (*p_sigaction)(int, const struct sigaction*, struct sigaction*);
int (*p_sigprocmask)(int, const sigset_t*, sigset_t*);
int (*p_pthread_sigmask)(int, const sigset_t*, sigset_t*);

}  // namespace

int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  return resolve(p_sigaction, "sigaction")(sig, act, old);
}
int sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  return resolve(p_sigprocmask, "sigprocmask")(how, set, old);
}
int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  return resolve(p_pthread_sigmask, "pthread_sigmask")(how, set, old);
}

void resolve_all() {
  resolve(p_sigaction, "sigaction");
  resolve(p_sigprocmask, "sigprocmask");
  resolve(p_pthread_sigmask, "pthread_sigmask");
}

}  // namespace ckpt::real
