// The C library's own versions of the functions libckpt interposes, found
// with dlsym(RTLD_NEXT) when libckpt loads (never later: dlsym takes the
// loader's lock, which an interrupted thread may hold). A wrapper called
// before libckpt's constructor ran (by another library's constructor)
// resolves them on the spot.
#pragma once
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <setjmp.h>
#include <ucontext.h>
#include <unistd.h>

// glibc's _FORTIFY_SOURCE longjmp, not declared in its headers.
extern "C" __attribute__((noreturn)) void __longjmp_chk(jmp_buf, int);

#define CKPT_REAL_FUNCTIONS(X)                                                                       \
  X(sigaction) X(sigprocmask) X(pthread_sigmask) X(sigsuspend) X(sigwait) X(sigwaitinfo)            \
  X(sigtimedwait) X(signalfd) X(sigpending) X(nanosleep) X(clock_nanosleep) X(sleep) X(usleep)       \
  X(pause) X(poll) X(ppoll) X(select) X(pselect) X(epoll_wait) X(epoll_pwait) X(sem_wait)            \
  X(sem_timedwait) X(sem_clockwait) X(close) X(dup2) X(dup3) X(close_range) X(closefrom)             \
  X(pthread_create) X(pthread_exit) X(timer_create) X(timer_delete) X(timer_settime) X(listen) X(inotify_add_watch)   \
  X(inotify_rm_watch) X(read) X(pread) X(pread64) X(readv) X(preadv) X(preadv2) X(recv) X(recvfrom)     \
  X(recvmsg) X(recvmmsg) X(fread) X(fread_unlocked) X(fgets) X(getdelim) X(readlink) X(readlinkat)     \
  X(getcwd) X(stat) X(lstat) X(fstat) X(fstatat) X(statx) X(statfs) X(fstatfs) X(getdents64)           \
  X(getsockopt) X(getsockname) X(getpeername) X(accept) X(accept4) X(waitpid) X(wait) X(wait4)         \
  X(waitid) X(pipe) X(pipe2) X(socketpair) X(getrusage) X(times) X(uname) X(sysinfo) X(getrlimit)      \
  X(getrandom) X(getentropy) X(ioctl) X(opendir) X(fdopendir) X(closedir) X(mmap) X(munmap)            \
  X(mprotect) X(mremap) X(preadv64) X(stat64) X(lstat64) X(fstat64) X(fstatat64) X(statfs64)          \
  X(fstatfs64) X(getrlimit64) X(sigaltstack) X(epoll_pwait2) X(setcontext) X(swapcontext) \
  X(setuid) X(seteuid) X(setreuid) X(setresuid) X(siglongjmp) X(longjmp) X(_longjmp) X(__longjmp_chk)

namespace ckpt::real {

#define CKPT_DECLARE_REAL(fn) extern decltype(&::fn) fn;
CKPT_REAL_FUNCTIONS(CKPT_DECLARE_REAL)
#undef CKPT_DECLARE_REAL

void resolve_all();

}  // namespace ckpt::real

// real::fn, resolved first if libckpt's constructor has not run yet.
#define CKPT_REAL(fn) (ckpt::real::fn ? ckpt::real::fn : (ckpt::real::resolve_all(), ckpt::real::fn))
