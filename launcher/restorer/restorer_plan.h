/* The restore plan: everything the freestanding restorer does, prepared by
 * ckpt-run (launcher/restore/) as plain data in the restorer's hole.
 *
 * Addresses are absolute; the arrays live in the same hole. The restorer
 * trusts the plan: ckpt-run validated the image and computed every range. */
#ifndef CKPT_RESTORER_PLAN_H
#define CKPT_RESTORER_PLAN_H

#include <stdint.h>

#include "common/restore_info.h"

#define CKPT_PLAN_MAGIC 0x4e414c5052544b43ull /* "CKTRPLAN" */

/* Exit status of a restore that failed inside the restorer (after ckpt-run
 * handed over): the message is on the error pipe. */
#define CKPT_RESTORER_EXIT 121

struct ckpt_plan_range {
  uint64_t start, len;
};

struct ckpt_plan_move {  /* a region prepared at `from`, moved to `to` */
  uint64_t from, to, len;
};

struct ckpt_plan_fd {    /* dup3(from, to), then `from` is closed */
  int32_t from, to;
  int32_t cloexec;
  int32_t reserved;
};

struct ckpt_plan_epoll {  /* epoll_ctl(ADD) once descriptors have their numbers */
  int32_t epfd, fd;
  uint32_t events, reserved;
  uint64_t data;
};

struct ckpt_plan_lock {   /* re-acquired last: closing any descriptor drops POSIX locks */
  int32_t fd, kind;        /* kind: 0 POSIX, 1 OFD, 2 flock */
  int32_t write, reserved;
  int64_t start, len;
};

struct ckpt_plan_signal { /* queued again before the threads resume */
  int32_t tid, signo;     /* tid 0: for the process */
  uint8_t info[128];
};

struct ckpt_plan_sigaction {
  int32_t signo, reserved;
  uint64_t handler, flags, restorer, mask;
};

struct ckpt_plan_resume {  /* same layout as ckpt::ResumeContext */
  uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
  uint32_t mxcsr, fpu_cw;
};

struct ckpt_plan_timer {   /* a POSIX timer, re-created with its id */
  int32_t id, clock, signo, notify;
  int32_t target_tid, flags;  /* flags: TIMER_ABSTIME (next_ns is then the expiry on `clock`) */
  uint64_t value;
  int64_t next_ns, interval_ns;
};

struct ckpt_plan_itimer {
  int32_t which, reserved;
  int64_t next_us, interval_us;
};

struct ckpt_plan_thread {
  int32_t tid;             /* the thread's id in the image */
  int32_t is_main;
  int32_t set_tid;         /* 1: clone3 asks for `tid`; 0: any id (--new-pid) */
  int32_t new_tid;         /* filled in by the restorer */
  uint64_t fs_base;
  uint64_t sigmask;        /* mask while it finishes inside libckpt's handler */
  uint64_t altstack_sp, altstack_size;
  int32_t altstack_flags, reserved;
  uint64_t robust_list, robust_list_len;
  uint64_t clear_child_tid;
  uint64_t rseq_area;
  uint32_t rseq_len, rseq_sig;
  char name[16];
  uint64_t affinity[16];
  uint32_t affinity_words, reserved2;
  struct ckpt_plan_resume resume;
  uint64_t stack_top;      /* restorer stack for this thread */
};

/* The kernel's struct prctl_mm_map (PR_SET_MM_MAP). */
struct ckpt_prctl_mm_map {
  uint64_t start_code, end_code, start_data, end_data;
  uint64_t start_brk, brk, start_stack;
  uint64_t arg_start, arg_end, env_start, env_end;
  uint64_t auxv;
  uint32_t auxv_size;
  uint32_t exe_fd;
};

struct ckpt_plan_creds {
  uint32_t ruid, euid, suid, rgid, egid, sgid;
  uint32_t ngroups, set_ids;  /* set_ids: 0 keeps the caller's (it equals the image's) */
  uint64_t groups;            /* address of uint32_t[ngroups] */
  uint64_t cap_effective, cap_permitted, cap_inheritable;
  uint32_t set_caps, reserved;
};

struct ckpt_plan {
  uint64_t magic;
  uint64_t hole_start, hole_len;

  /* 1. tear down the launcher */
  uint64_t launcher_rseq_area;
  uint32_t launcher_rseq_len, launcher_rseq_sig;
  uint32_t nunmaps, nmoves;
  uint64_t unmaps;           /* struct ckpt_plan_range[nunmaps] */
  uint64_t moves;            /* struct ckpt_plan_move[nmoves] */

  /* 2. vdso/vvar: the current parts move by the same distance */
  struct ckpt_plan_range vdso_parts[3];
  uint32_t nvdso_parts, reserved0;
  uint64_t vdso_target;      /* new start of the first part; 0: leave */
  uint64_t vdso_detour;      /* free address for a two-step move; 0: direct */

  /* 3. process state */
  struct ckpt_prctl_mm_map mm;
  int32_t set_mm;            /* 0: PR_SET_MM_MAP not attempted */
  uint32_t personality;
  uint32_t nfds, nkeep;
  uint64_t fds;              /* struct ckpt_plan_fd[nfds] */
  uint64_t keep;             /* int32_t[nkeep]: descriptors that stay open */
  int32_t close_below;       /* close every other descriptor below this */
  uint32_t nepoll, nlocks;
  uint64_t epoll;            /* struct ckpt_plan_epoll[nepoll] */
  uint64_t locks;            /* struct ckpt_plan_lock[nlocks] */
  uint32_t nsignals, set_no_new_privs;
  uint64_t signals;          /* struct ckpt_plan_signal[nsignals] */
  int32_t dumpable, set_nofile;
  uint64_t nofile_cur, nofile_max;  /* RLIMIT_NOFILE, set once the descriptors are in place */
  int32_t exe_fd;            /* closed after PR_SET_MM_MAP (-1: none) */
  uint32_t nsigactions, reserved1;
  uint64_t sigactions;       /* struct ckpt_plan_sigaction[nsigactions] */
  struct ckpt_plan_creds creds;

  /* 4. threads */
  uint32_t nthreads, reserved2;
  uint64_t threads;          /* struct ckpt_plan_thread[nthreads] */

  /* 5. timers, armed once every thread exists */
  uint32_t ntimers, nitimers;
  uint64_t timers;           /* struct ckpt_plan_timer[ntimers], sorted by id */
  uint64_t itimers;          /* struct ckpt_plan_itimer[nitimers] */

  /* reporting */
  int32_t ready_fd, error_fd;  /* pipes to the waiting ckpt-run */

  /* synchronisation (futex words) */
  uint32_t threads_ready;
  uint32_t go;
  /* the main thread had exited (pthread_exit): the leader only sets up the
   * process, then exits and stays a zombie as it was; leader_alive is its
   * clear_child_tid word (info.leader_exit_word points at it) */
  uint32_t leader_exited;
  uint32_t leader_alive;

  struct ckpt_restore_info info;  /* handed to libckpt */
};

#endif
