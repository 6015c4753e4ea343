// The exec family: no checkpoint signal may fall into the gap between two
// programs of one process.
//
// A process under libckpt that execs another program (env, a #! script, a
// pyenv-style shim) keeps its pid, but between the exec and the new
// program's libckpt installing its handler the checkpoint signal has its
// default action, which kills. So before calling the C library's exec:
//   - if the next program will load libckpt (LD_PRELOAD in its environment
//     names this library), the checkpoint signal is blocked (a blocked
//     signal stays blocked, and one sent meanwhile stays pending, across
//     exec) and the control block is handed over: its descriptor
//     is made inheritable and marked CKPT_CONTROL_EXEC, so `ckpt-run
//     --checkpoint` waits instead of sending, and a result for a request
//     already sent lands where its requester waits. The new program's
//     libckpt adopts the block (control::adopt_inherited) and, once ready,
//     unblocks the signal (libckpt_init, adopt_inherited_mask): the pending
//     one is taken then, and the application never sees the signal blocked;
//   - otherwise the block is marked not ready (the process leaves libckpt)
//     and the signal is left as it is (nothing would ever unblock it).
// If exec fails, all of it is undone and errno kept.
//
// posix_spawn, system and popen are not interposed: glibc runs their exec
// inside a new process (its own pid, which nothing has been told yet, and
// whose handlers glibc resets), so their gap is not reachable this way.
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "common/raw_syscall.h"
#include "interpose/real.h"
#include "runtime/config.h"
#include "runtime/control.h"
#include "runtime/runtime.h"

namespace ckpt {

namespace {

using execve_fn = int (*)(const char*, char* const[], char* const[]);
using execv_fn = int (*)(const char*, char* const[]);
using fexecve_fn = int (*)(int, char* const[], char* const[]);
using execveat_fn = int (*)(int, const char*, char* const[], char* const[], int);

execve_fn g_execve, g_execvpe;
execv_fn g_execv, g_execvp;
fexecve_fn g_fexecve;
execveat_fn g_execveat;

void resolve() {
  if (g_execve) return;
  g_execvpe = reinterpret_cast<execve_fn>(dlsym(RTLD_NEXT, "execvpe"));
  g_execv = reinterpret_cast<execv_fn>(dlsym(RTLD_NEXT, "execv"));
  g_execvp = reinterpret_cast<execv_fn>(dlsym(RTLD_NEXT, "execvp"));
  g_fexecve = reinterpret_cast<fexecve_fn>(dlsym(RTLD_NEXT, "fexecve"));
  g_execveat = reinterpret_cast<execveat_fn>(dlsym(RTLD_NEXT, "execveat"));  // glibc >= 2.34
  __atomic_store_n(&g_execve, reinterpret_cast<execve_fn>(dlsym(RTLD_NEXT, "execve")), __ATOMIC_RELEASE);
}

// Resolved at load time: after fork in a multithreaded process dlsym could
// block on a loader lock another thread held.
__attribute__((constructor)) void resolve_at_load() { resolve(); }

// Will the program exec'd with `envp` load this library?
bool loads_libckpt(char* const* envp) {
  const char* lib = g_config.library_path;
  size_t n = strlen(lib);
  if (!n || !envp) return false;
  for (char* const* e = envp; *e; e++) {
    if (strncmp(*e, "LD_PRELOAD=", 11) != 0) continue;
    for (const char* p = *e + 11; (p = strstr(p, lib)) != nullptr; p += n) {
      bool starts = p == *e + 11 || p[-1] == ' ' || p[-1] == ':';
      bool ends = p[n] == '\0' || p[n] == ' ' || p[n] == ':';
      if (starts && ends) return true;
    }
  }
  return false;
}

class ExecGuard {
 public:
  explicit ExecGuard(char* const* envp) {
    // A vfork child shares its parent's memory, control block included, and
    // has a pid nobody was told: it is left alone (and its program starts
    // with the signal as it was, since nothing would unblock it there).
    if (!runtime_active() || !control::ours()) return;
    active_ = true;
    masked_ = loads_libckpt(envp);
    uint64_t set = 1ull << (g_config.ckpt_signal - 1);
    if (masked_) ckpt_syscall4(CKPT_NR_rt_sigprocmask, SIG_BLOCK, long(&set), long(&old_mask_), 8);
    // Without libckpt in the next program there is nobody to unblock the
    // signal: it stays as it was, and the block says "not ready" so that no
    // new request sends it.
    prev_ready_ = control::prepare_exec(masked_, (old_mask_ & set) != 0);
  }
  // exec returned: it failed. Everything as it was, errno kept.
  ~ExecGuard() {
    if (!active_) return;
    int e = errno;
    control::exec_failed(prev_ready_);
    if (masked_) ckpt_syscall4(CKPT_NR_rt_sigprocmask, SIG_SETMASK, long(&old_mask_), 0, 8);
    errno = e;
  }
  ExecGuard(const ExecGuard&) = delete;
  ExecGuard& operator=(const ExecGuard&) = delete;

 private:
  bool active_ = false, masked_ = false;
  uint64_t old_mask_ = 0;
  uint32_t prev_ready_ = 0;
};

// execl, execle, execlp: the variadic arguments as an argv array.
// argv[0] is `arg`; the list ends at the first null pointer (arg itself may be one).
#define CKPT_COLLECT_ARGS(arg, ap, argv)                        \
  size_t argc_ = 0;                                             \
  const char* arg0_ = arg;                                      \
  __asm__("" : "+r"(arg0_)); /* glibc declares it nonnull */    \
  if (arg0_) {                                                  \
    argc_ = 1;                                                  \
    va_list count_;                                             \
    va_copy(count_, ap);                                        \
    while (va_arg(count_, const char*)) argc_++;                \
    va_end(count_);                                             \
  }                                                             \
  const char** argv = static_cast<const char**>(__builtin_alloca((argc_ + 1) * sizeof(char*))); \
  argv[0] = arg0_;                                              \
  for (size_t i_ = 1; i_ <= argc_; i_++) argv[i_] = va_arg(ap, const char*);

}  // namespace

}  // namespace ckpt

using ckpt::ExecGuard;

extern "C" {

__attribute__((visibility("default"))) int execve(const char* path, char* const argv[], char* const envp[]) {
  ckpt::resolve();
  ExecGuard guard(envp);
  return ckpt::g_execve(path, argv, envp);
}

__attribute__((visibility("default"))) int execv(const char* path, char* const argv[]) {
  ckpt::resolve();
  ExecGuard guard(environ);
  return ckpt::g_execv(path, argv);
}

__attribute__((visibility("default"))) int execvp(const char* file, char* const argv[]) {
  ckpt::resolve();
  ExecGuard guard(environ);
  return ckpt::g_execvp(file, argv);
}

__attribute__((visibility("default"))) int execvpe(const char* file, char* const argv[], char* const envp[]) {
  ckpt::resolve();
  ExecGuard guard(envp);
  return ckpt::g_execvpe(file, argv, envp);
}

__attribute__((visibility("default"))) int fexecve(int fd, char* const argv[], char* const envp[]) {
  ckpt::resolve();
  ExecGuard guard(envp);
  return ckpt::g_fexecve(fd, argv, envp);
}

__attribute__((visibility("default"))) int execveat(int dirfd, const char* path, char* const argv[],
                                                    char* const envp[], int flags) {
  ckpt::resolve();
  ExecGuard guard(envp);
  if (ckpt::g_execveat) return ckpt::g_execveat(dirfd, path, argv, envp, flags);
  long r = ckpt_syscall5(322 /* execveat */, dirfd, long(path), long(argv), long(envp), flags);
  errno = int(-r);
  return -1;
}

__attribute__((visibility("default"))) int execl(const char* path, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  CKPT_COLLECT_ARGS(arg, ap, argv)
  va_end(ap);
  return execv(path, const_cast<char* const*>(argv));
}

__attribute__((visibility("default"))) int execlp(const char* file, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  CKPT_COLLECT_ARGS(arg, ap, argv)
  va_end(ap);
  return execvp(file, const_cast<char* const*>(argv));
}

__attribute__((visibility("default"))) int execle(const char* path, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  CKPT_COLLECT_ARGS(arg, ap, argv)
  char* const* envp = va_arg(ap, char* const*);
  va_end(ap);
  return execve(path, const_cast<char* const*>(argv), envp);
}

}  // extern "C"
