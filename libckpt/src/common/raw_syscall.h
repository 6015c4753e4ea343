/* Raw x86-64 Linux system calls.
 *
 * Used wherever libc may not be called: the checkpoint path while application
 * threads are frozen (a frozen thread may hold a libc lock), signal handlers,
 * and the freestanding restorer (which has no libc at all). The calls return
 * the kernel's value: -errno on failure; errno is never touched.
 *
 * This header is C and freestanding: it includes nothing but <stdint.h>-free
 * builtin types so that the restorer can use it too. */
#ifndef CKPT_RAW_SYSCALL_H
#define CKPT_RAW_SYSCALL_H

#ifdef __cplusplus
extern "C" {
#endif

static inline long ckpt_syscall0(long n) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "0"(n) : "rcx", "r11", "memory");
  return r;
}
static inline long ckpt_syscall1(long n, long a) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "0"(n), "D"(a) : "rcx", "r11", "memory");
  return r;
}
static inline long ckpt_syscall2(long n, long a, long b) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "0"(n), "D"(a), "S"(b) : "rcx", "r11", "memory");
  return r;
}
static inline long ckpt_syscall3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "0"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}
static inline long ckpt_syscall4(long n, long a, long b, long c, long d) {
  long r;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall" : "=a"(r) : "0"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
  return r;
}
static inline long ckpt_syscall5(long n, long a, long b, long c, long d, long e) {
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "0"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
  return r;
}
static inline long ckpt_syscall6(long n, long a, long b, long c, long d, long e, long f) {
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "0"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return r;
}

/* x86-64 system call numbers used by libckpt (stable ABI). */
enum {
  CKPT_NR_read = 0, CKPT_NR_write = 1, CKPT_NR_close = 3, CKPT_NR_fstat = 5,
  CKPT_NR_lseek = 8, CKPT_NR_mmap = 9, CKPT_NR_mprotect = 10, CKPT_NR_munmap = 11,
  CKPT_NR_brk = 12, CKPT_NR_rt_sigaction = 13, CKPT_NR_rt_sigprocmask = 14,
  CKPT_NR_rt_sigreturn = 15, CKPT_NR_ioctl = 16, CKPT_NR_pread64 = 17, CKPT_NR_pwrite64 = 18,
  CKPT_NR_sched_yield = 24, CKPT_NR_mremap = 25, CKPT_NR_mincore = 27, CKPT_NR_madvise = 28, CKPT_NR_dup = 32,
  CKPT_NR_dup2 = 33, CKPT_NR_nanosleep = 35, CKPT_NR_getitimer = 36, CKPT_NR_setitimer = 38,
  CKPT_NR_getpid = 39, CKPT_NR_clone = 56, CKPT_NR_exit = 60, CKPT_NR_wait4 = 61,
  CKPT_NR_kill = 62, CKPT_NR_uname = 63, CKPT_NR_fcntl = 72, CKPT_NR_fsync = 74,
  CKPT_NR_ftruncate = 77, CKPT_NR_getcwd = 79, CKPT_NR_chdir = 80, CKPT_NR_fchdir = 81,
  CKPT_NR_rename = 82, CKPT_NR_mkdir = 83, CKPT_NR_unlink = 87, CKPT_NR_readlink = 89, CKPT_NR_umask = 95,
  CKPT_NR_getrlimit = 97, CKPT_NR_getuid = 102, CKPT_NR_getgid = 104, CKPT_NR_setuid = 105,
  CKPT_NR_setgid = 106, CKPT_NR_geteuid = 107, CKPT_NR_getegid = 108, CKPT_NR_setpgid = 109,
  CKPT_NR_getppid = 110, CKPT_NR_getpgrp = 111, CKPT_NR_setsid = 112, CKPT_NR_getgroups = 115,
  CKPT_NR_setgroups = 116, CKPT_NR_setresuid = 117, CKPT_NR_getresuid = 118,
  CKPT_NR_setresgid = 119, CKPT_NR_getresgid = 120, CKPT_NR_getpgid = 121, CKPT_NR_getsid = 124,
  CKPT_NR_capget = 125, CKPT_NR_capset = 126, CKPT_NR_rt_sigpending = 127,
  CKPT_NR_rt_sigtimedwait = 128, CKPT_NR_rt_sigqueueinfo = 129, CKPT_NR_sigaltstack = 131,
  CKPT_NR_personality = 135, CKPT_NR_prctl = 157, CKPT_NR_arch_prctl = 158,
  CKPT_NR_setrlimit = 160, CKPT_NR_gettid = 186, CKPT_NR_tkill = 200, CKPT_NR_futex = 202,
  CKPT_NR_sched_setaffinity = 203, CKPT_NR_sched_getaffinity = 204,
  CKPT_NR_getdents64 = 217, CKPT_NR_set_tid_address = 218, CKPT_NR_clock_gettime = 228,
  CKPT_NR_clock_nanosleep = 230, CKPT_NR_exit_group = 231, CKPT_NR_tgkill = 234,
  CKPT_NR_openat = 257, CKPT_NR_mkdirat = 258, CKPT_NR_newfstatat = 262, CKPT_NR_unlinkat = 263, CKPT_NR_renameat = 264,
  CKPT_NR_readlinkat = 267, CKPT_NR_ppoll = 271, CKPT_NR_set_robust_list = 273,
  CKPT_NR_get_robust_list = 274, CKPT_NR_dup3 = 292, CKPT_NR_pipe2 = 293,
  CKPT_NR_prlimit64 = 302, CKPT_NR_renameat2 = 316, CKPT_NR_getrandom = 318,
  CKPT_NR_memfd_create = 319, CKPT_NR_rseq = 334, CKPT_NR_pidfd_send_signal = 424,
  CKPT_NR_pidfd_open = 434, CKPT_NR_clone3 = 435, CKPT_NR_close_range = 436,
};

#define CKPT_IS_ERR(r) ((unsigned long)(r) > (unsigned long)-4096L)

#ifdef __cplusplus
}
#endif
#endif
