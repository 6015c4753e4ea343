// The C library's own versions of the functions libckpt interposes, found
// with dlsym(RTLD_NEXT). Resolved at load time (and on first use if another
// library's constructor calls us before ours ran).
#pragma once
#include <signal.h>

namespace ckpt::real {

int sigaction(int sig, const struct sigaction* act, struct sigaction* old);
int sigprocmask(int how, const sigset_t* set, sigset_t* old);
int pthread_sigmask(int how, const sigset_t* set, sigset_t* old);
void resolve_all();

}  // namespace ckpt::real
