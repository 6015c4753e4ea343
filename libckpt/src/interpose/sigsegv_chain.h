// SIGSEGV with the mprotect backend: libsigsegv owns the signal, libckpt's
// handler takes the faults that are its own, and every other fault reaches
// the application's handler exactly as the kernel would have delivered it.
//
// How a fault that is not libckpt's reaches the application: libckpt's
// libsigsegv handler declines; libsigsegv then resets SIGSEGV with
// signal(SIGSEGV, SIG_DFL), which is libckpt's signal(), which installs a
// trampoline instead; the faulting instruction runs again, faults again, and
// the trampoline re-installs libsigsegv and calls the application's handler
// with the real siginfo and ucontext (or lets the default action happen).
#pragma once
#include <signal.h>

namespace ckpt {

bool sigsegv_chain_install(int (*handler)(void* fault_address, int serious));
bool sigsegv_chain_active();
void sigsegv_decline();  // from the libsigsegv handler, before returning 0

// For interpose/signals.cpp: the application's view of SIGSEGV.
bool sigsegv_app_sigaction(const struct sigaction* act, struct sigaction* old);
bool sigsegv_intercept_signal(int sig, sighandler_t handler);  // true: handled here

}  // namespace ckpt
