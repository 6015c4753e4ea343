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
#include <fcntl.h>
#include <linux/capability.h>
#include <mqueue.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/timex.h>
#include <sys/xattr.h>

// glibc exports these without declaring them (the _chk ones only under
// _FORTIFY_SOURCE).
extern "C" {
int __open_2(const char*, int);
int __open64_2(const char*, int);
int __openat_2(int, const char*, int);
int __openat64_2(int, const char*, int);
ssize_t __read_chk(int, void*, size_t, size_t);
ssize_t __pread_chk(int, void*, size_t, off_t, size_t);
ssize_t __pread64_chk(int, void*, size_t, off64_t, size_t);
ssize_t __recv_chk(int, void*, size_t, size_t, int);
ssize_t __recvfrom_chk(int, void*, size_t, size_t, int, struct sockaddr*, socklen_t*);
ssize_t __readlink_chk(const char*, char*, size_t, size_t);
ssize_t __readlinkat_chk(int, const char*, char*, size_t, size_t);
char* __getcwd_chk(char*, size_t, size_t);
int __getgroups_chk(int, gid_t*, size_t);
size_t __fread_chk(void*, size_t, size_t, size_t, FILE*);
size_t __fread_unlocked_chk(void*, size_t, size_t, size_t, FILE*);
char* __fgets_chk(char*, size_t, int, FILE*);
int capget(cap_user_header_t, cap_user_data_t);
int _IO_doallocbuf(FILE*);
}

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
  X(fstatfs64) X(getrlimit64) X(sigaltstack) X(pkey_mprotect) X(madvise) X(brk) X(sbrk) X(realloc)           \
  X(reallocarray) X(syscall) X(__read_chk) X(__pread_chk) X(__pread64_chk) X(preadv64v2)                   \
  X(process_vm_readv) X(vmsplice) X(__recv_chk) X(__recvfrom_chk) X(__readlink_chk) X(__readlinkat_chk)    \
  X(__getcwd_chk) X(ttyname_r) X(getxattr) X(lgetxattr) X(fgetxattr) X(listxattr) X(llistxattr)           \
  X(flistxattr) X(sendfile) X(sendfile64) X(splice) X(copy_file_range) X(wait3) X(prlimit) X(prlimit64)   \
  X(getresuid) X(getresgid) X(getgroups) X(__getgroups_chk) X(capget) X(prctl) X(sched_getaffinity)       \
  X(pthread_getaffinity_np) X(sched_getparam) X(sched_rr_get_interval) X(pthread_getname_np) X(mincore)  \
  X(clock_gettime) X(clock_getres) X(getitimer) X(setitimer) X(timerfd_gettime) X(timerfd_settime)       \
  X(adjtimex) X(ntp_adjtime) X(clock_adjtime) X(mq_timedreceive) X(mq_receive) X(msgrcv) X(__fread_chk)  \
  X(__fread_unlocked_chk) X(__fgets_chk) X(fopen) X(fopen64) X(fdopen) X(freopen) X(freopen64) X(popen)  \
  X(tmpfile) X(tmpfile64) X(epoll_pwait2) X(process_vm_writev) X(open) X(open64) X(openat) X(openat64)       \
  X(__open_2) X(__open64_2) X(__openat_2) X(__openat64_2) X(creat) X(creat64) \
  X(setcontext) X(swapcontext) X(setuid) X(seteuid) X(setreuid) X(setresuid) X(siglongjmp) X(longjmp)     \
  X(_longjmp) X(__longjmp_chk)

namespace ckpt::real {

#define CKPT_DECLARE_REAL(fn) extern decltype(&::fn) fn;
CKPT_REAL_FUNCTIONS(CKPT_DECLARE_REAL)
#undef CKPT_DECLARE_REAL

void resolve_all();

}  // namespace ckpt::real

// real::fn, resolved first if libckpt's constructor has not run yet.
#define CKPT_REAL(fn) (ckpt::real::fn ? ckpt::real::fn : (ckpt::real::resolve_all(), ckpt::real::fn))
