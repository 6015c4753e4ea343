/* The restorer: the last step of a restore, freestanding (no libc, no TLS,
 * no heap, no writable globals) because it runs while the launcher's own
 * code, libraries and stack are unmapped under it.
 *
 * Algorithm (ckpt-run prepared everything else, see launcher/restore/):
 *   1. block every signal; unregister the launcher's rseq area (else the
 *      kernel keeps writing into whatever lands at its address)
 *   2. unmap the launcher's mappings
 *   3. move [vvar], [vvar_vclock], [vdso] together to the image's addresses
 *      (through a detour when the old and new places overlap)
 *   4. move regions that were prepared elsewhere (they collided with the
 *      launcher) into place with mremap
 *   5. mm fields and auxv (PR_SET_MM_MAP), file descriptors, RLIMIT_NOFILE
 *      (only now: the application may have descriptors at or above its own
 *      limit), signal dispositions, personality
 *   6. create the other threads with clone3(set_tid); every thread sets its
 *      own robust list, clear_child_tid, sigaltstack, name, affinity, rseq
 *      registration and credentials, then waits for the others
 *   7. re-create POSIX timers with their ids (targets may be threads) and
 *      the setitimer timers, with their remaining time (TIMER_ABSTIME
 *      ones at their original expiry); epoll interest
 *      lists (they name final descriptor numbers); file locks (last, since
 *      closing any descriptor of a file drops POSIX locks); pending signals
 *   8. tell ckpt-run the process is ready, and let every thread jump back to
 *      its saved context inside libckpt with the restore info as the value
 *      of ckpt_save_context().
 * Any failure writes a message to the error pipe and ends the process. */
#include "common/raw_syscall.h"
#include "restorer_plan.h"

#define HIDDEN __attribute__((visibility("hidden")))

enum {
  PROT_READ_ = 1, PROT_WRITE_ = 2,
  MREMAP_MAYMOVE_ = 1, MREMAP_FIXED_ = 2,
  O_CLOEXEC_ = 02000000,
  SIG_SETMASK_ = 2,
  PR_SET_NAME_ = 15, PR_SET_MM_ = 35, PR_SET_MM_MAP_ = 14,
  RSEQ_FLAG_UNREGISTER_ = 1,
  FUTEX_WAIT_PRIVATE_ = 128, FUTEX_WAKE_PRIVATE_ = 129,
  ARCH_SET_FS_ = 0x1002,
  NR_timer_create_ = 222, NR_timer_settime_ = 223, NR_timer_delete_ = 226,
  NR_epoll_ctl_ = 233, NR_flock_ = 73, NR_rt_tgsigqueueinfo_ = 297,
  F_SETLK_ = 6, F_OFD_SETLK_ = 37, F_RDLCK_ = 0, F_WRLCK_ = 1, LOCK_SH_ = 1, LOCK_EX_ = 2, LOCK_NB_ = 4,
  PR_SET_DUMPABLE_ = 4, PR_SET_NO_NEW_PRIVS_ = 38,
  PR_TIMER_CREATE_RESTORE_IDS_ = 77,
};

#define CLONE_VM_ 0x00000100ull
#define CLONE_FS_ 0x00000200ull
#define CLONE_FILES_ 0x00000400ull
#define CLONE_SIGHAND_ 0x00000800ull
#define CLONE_THREAD_ 0x00010000ull
#define CLONE_SYSVSEM_ 0x00040000ull
#define CLONE_SETTLS_ 0x00080000ull

struct clone_args_ {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

struct kernel_sigaction_ {
  uint64_t handler, flags, restorer, mask;
};

struct user_cap_header_ {
  uint32_t version;
  int32_t pid;
};
struct user_cap_data_ {
  uint32_t effective, permitted, inheritable;
};

HIDDEN long restorer_clone3(struct clone_args_* args, unsigned long size, void (*fn)(void*), void* arg);
HIDDEN __attribute__((noreturn)) void restorer_resume(const struct ckpt_plan_resume* ctx, uint64_t info);
HIDDEN __attribute__((noreturn)) void restorer_main(struct ckpt_plan* plan);

/* The compiler may emit calls to these for struct copies. */
HIDDEN void* memcpy(void* d, const void* s, unsigned long n) {
  char* dp = d;
  const char* sp = s;
  while (n--) *dp++ = *sp++;
  return d;
}
HIDDEN void* memset(void* d, int c, unsigned long n) {
  char* dp = d;
  while (n--) *dp++ = (char)c;
  return d;
}

/* --- reporting ---------------------------------------------------------- */

struct text {
  char buf[256];
  unsigned len;
};

static void put_str(struct text* t, const char* s) {
  while (*s && t->len < sizeof t->buf - 1) t->buf[t->len++] = *s++;
}

static void put_num(struct text* t, long v) {
  char tmp[24];
  int n = 0;
  unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
  if (v < 0) put_str(t, "-");
  do tmp[n++] = (char)('0' + u % 10); while (u /= 10);
  while (n && t->len < sizeof t->buf - 1) t->buf[t->len++] = tmp[--n];
}

static void put_hex(struct text* t, uint64_t v) {
  char tmp[17];
  int n = 0;
  put_str(t, "0x");
  do tmp[n++] = "0123456789abcdef"[v & 15]; while (v >>= 4);
  while (n && t->len < sizeof t->buf - 1) t->buf[t->len++] = tmp[--n];
}

/* "restorer: <what> <addr>: error <errno>", then the whole process ends. */
static __attribute__((noreturn)) void fail(const struct ckpt_plan* p, const char* what, uint64_t addr, long err) {
  struct text t = {{0}, 0};
  put_str(&t, what);
  if (addr) {
    put_str(&t, " ");
    put_hex(&t, addr);
  }
  if (err) {
    put_str(&t, ": error ");
    put_num(&t, -err);
  }
  put_str(&t, "\n");
  ckpt_syscall3(CKPT_NR_write, p->error_fd, (long)t.buf, t.len);
  ckpt_syscall1(CKPT_NR_exit_group, CKPT_RESTORER_EXIT);
  for (;;) {
  }
}

static void futex_wait(uint32_t* word, uint32_t val) {
  ckpt_syscall4(CKPT_NR_futex, (long)word, FUTEX_WAIT_PRIVATE_, val, 0);
}
static void futex_wake(uint32_t* word) { ckpt_syscall3(CKPT_NR_futex, (long)word, FUTEX_WAKE_PRIVATE_, 0x7fffffff); }

/* --- steps -------------------------------------------------------------- */

static void move_range(const struct ckpt_plan* p, uint64_t from, uint64_t to, uint64_t len) {
  if (from == to) return;
  long r = ckpt_syscall5(CKPT_NR_mremap, (long)from, (long)len, (long)len, MREMAP_MAYMOVE_ | MREMAP_FIXED_, (long)to);
  if (r != (long)to) fail(p, "cannot move memory to", to, r);
}

static void move_vdso(const struct ckpt_plan* p) {
  if (!p->vdso_target || !p->nvdso_parts) return;
  uint64_t base = p->vdso_parts[0].start;
  uint64_t via = p->vdso_detour ? p->vdso_detour : p->vdso_target;
  for (int step = 0; step < (p->vdso_detour ? 2 : 1); step++) {
    uint64_t dest = step == 0 ? via : p->vdso_target;
    uint64_t src_base = step == 0 ? base : via;
    /* Move in the order that never overwrites a part not yet moved. */
    int up = dest > src_base;
    for (uint32_t k = 0; k < p->nvdso_parts; k++) {
      uint32_t i = up ? p->nvdso_parts - 1 - k : k;
      uint64_t off = p->vdso_parts[i].start - base;
      move_range(p, src_base + off, dest + off, p->vdso_parts[i].len);
    }
  }
}

static void set_fds(const struct ckpt_plan* p) {
  const struct ckpt_plan_fd* fds = (const struct ckpt_plan_fd*)p->fds;
  for (uint32_t i = 0; i < p->nfds; i++) {
    if (fds[i].from == fds[i].to) continue;
    long r = ckpt_syscall3(CKPT_NR_dup3, fds[i].from, fds[i].to, fds[i].cloexec ? O_CLOEXEC_ : 0);
    if (r < 0) fail(p, "cannot place file descriptor", (uint64_t)fds[i].to, r);
  }
  /* Close everything of the launcher's that the application does not own. */
  const int32_t* keep = (const int32_t*)p->keep;
  for (int32_t fd = 0; fd < p->close_below; fd++) {
    int kept = 0;
    for (uint32_t k = 0; k < p->nkeep && !kept; k++) kept = keep[k] == fd;
    if (!kept) ckpt_syscall1(CKPT_NR_close, fd);
  }
}

static void set_signal_actions(const struct ckpt_plan* p) {
  struct kernel_sigaction_ dfl = {0, 0, 0, 0};
  for (int sig = 1; sig <= 64; sig++)
    if (sig != 9 && sig != 19) ckpt_syscall4(CKPT_NR_rt_sigaction, sig, (long)&dfl, 0, 8);
  const struct ckpt_plan_sigaction* sa = (const struct ckpt_plan_sigaction*)p->sigactions;
  for (uint32_t i = 0; i < p->nsigactions; i++) {
    struct kernel_sigaction_ k = {sa[i].handler, sa[i].flags, sa[i].restorer, sa[i].mask};
    long r = ckpt_syscall4(CKPT_NR_rt_sigaction, sa[i].signo, (long)&k, 0, 8);
    if (r < 0) fail(p, "cannot restore the action of signal", (uint64_t)sa[i].signo, r);
  }
}

static void set_credentials(const struct ckpt_plan* p) {
  const struct ckpt_plan_creds* c = &p->creds;
  long r;
  if (c->set_ids) {
    r = ckpt_syscall2(CKPT_NR_setgroups, c->ngroups, (long)c->groups);
    if (r < 0) fail(p, "cannot set supplementary groups", 0, r);
    r = ckpt_syscall3(CKPT_NR_setresgid, c->rgid, c->egid, c->sgid);
    if (r < 0) fail(p, "cannot set group ids", 0, r);
    r = ckpt_syscall3(CKPT_NR_setresuid, c->ruid, c->euid, c->suid);
    if (r < 0) fail(p, "cannot set user ids", 0, r);
  }
  if (c->set_caps) {
    struct user_cap_header_ h = {0x20080522, 0}; /* _LINUX_CAPABILITY_VERSION_3 */
    struct user_cap_data_ d[2] = {
        {(uint32_t)c->cap_effective, (uint32_t)c->cap_permitted, (uint32_t)c->cap_inheritable},
        {(uint32_t)(c->cap_effective >> 32), (uint32_t)(c->cap_permitted >> 32), (uint32_t)(c->cap_inheritable >> 32)}};
    r = ckpt_syscall2(CKPT_NR_capset, (long)&h, (long)d);
    if (r < 0) fail(p, "cannot set capabilities", 0, r);
  }
}

/* Per-thread kernel state that only the thread itself can set. */
static void setup_thread(struct ckpt_plan* p, const struct ckpt_plan_thread* t) {
  long r;
  if (t->robust_list) ckpt_syscall2(CKPT_NR_set_robust_list, (long)t->robust_list, (long)t->robust_list_len);
  ckpt_syscall1(CKPT_NR_set_tid_address, (long)t->clear_child_tid);
  /* Under a new tid, glibc's copy in struct pthread (the word clear_child_tid
   * points at) must say so, or pthread_kill/pthread_join get it wrong. */
  if (!t->set_tid && t->clear_child_tid) *(volatile int32_t*)t->clear_child_tid = (int32_t)ckpt_syscall0(CKPT_NR_gettid);
  struct {
    uint64_t sp;
    int32_t flags;
    int32_t pad;
    uint64_t size;
  } ss = {t->altstack_sp, t->altstack_flags, 0, t->altstack_size};
  r = ckpt_syscall2(CKPT_NR_sigaltstack, (long)&ss, 0);
  if (r < 0 && !(t->altstack_flags & 2 /* SS_DISABLE */)) fail(p, "cannot restore the signal stack at", t->altstack_sp, r);
  ckpt_syscall2(CKPT_NR_prctl, PR_SET_NAME_, (long)t->name);
  if (t->affinity_words)  /* a CPU set the host lacks is not fatal */
    ckpt_syscall3(CKPT_NR_sched_setaffinity, 0, t->affinity_words * 8, (long)t->affinity);
  if (t->rseq_area) {
    r = ckpt_syscall4(CKPT_NR_rseq, (long)t->rseq_area, t->rseq_len, 0, t->rseq_sig);
    if (r < 0) fail(p, "cannot register the rseq area at", t->rseq_area, r);
  }
  set_credentials(p);
}

static int32_t map_tid(const struct ckpt_plan* p, int32_t old_tid) {
  const struct ckpt_plan_thread* threads = (const struct ckpt_plan_thread*)p->threads;
  for (uint32_t i = 0; i < p->nthreads; i++)
    if (threads[i].tid == old_tid) return threads[i].new_tid;
  return old_tid;
}

struct kernel_sigevent_ {
  uint64_t value;
  int32_t signo, notify;
  int32_t tid;
  int32_t pad[11];
};

struct kernel_itimerspec_ {
  int64_t interval_sec, interval_nsec, value_sec, value_nsec;
};

static long create_timer(const struct ckpt_plan_timer* t, int32_t tid, int32_t* id) {
  struct kernel_sigevent_ ev;
  memset(&ev, 0, sizeof ev);
  ev.value = t->value;
  ev.signo = t->signo;
  ev.notify = t->notify;
  ev.tid = tid;
  return ckpt_syscall3(NR_timer_create_, t->clock, (long)&ev, (long)id);
}

static void restore_timers(const struct ckpt_plan* p) {
  const struct ckpt_plan_timer* timers = (const struct ckpt_plan_timer*)p->timers;
  /* With PR_TIMER_CREATE_RESTORE_IDS (Linux 6.16+) timer_create takes the id
   * we ask for; without it ids come in ascending order, and gaps are filled
   * with placeholder timers deleted afterwards. */
  int by_id = ckpt_syscall5(CKPT_NR_prctl, PR_TIMER_CREATE_RESTORE_IDS_, 1, 0, 0, 0) == 0;
  int32_t fillers[256];
  uint32_t nfillers = 0;
  for (uint32_t i = 0; i < p->ntimers; i++) {
    const struct ckpt_plan_timer* t = &timers[i];
    int32_t tid = (t->notify & 4 /* SIGEV_THREAD_ID */) ? map_tid(p, t->target_tid) : 0;
    int32_t id = t->id;
    for (;;) {
      long r = create_timer(t, tid, &id);
      if (r < 0) fail(p, "cannot re-create POSIX timer", (uint64_t)t->id, r);
      if (id == t->id) break;
      if (by_id || id > t->id || nfillers == 256) fail(p, "cannot re-create POSIX timer with its id", (uint64_t)t->id, 0);
      fillers[nfillers++] = id;
      id = t->id;
    }
    if (t->next_ns || t->interval_ns) {
      struct kernel_itimerspec_ its = {t->interval_ns / 1000000000, t->interval_ns % 1000000000,
                                       t->next_ns / 1000000000, t->next_ns % 1000000000};
      if (!its.value_sec && !its.value_nsec) its.value_nsec = 1; /* due now: a zero value would disarm it */
      long r = ckpt_syscall4(NR_timer_settime_, id, t->flags /* TIMER_ABSTIME */, (long)&its, 0);
      if (r < 0) fail(p, "cannot arm POSIX timer", (uint64_t)t->id, r);
    }
  }
  if (by_id) ckpt_syscall5(CKPT_NR_prctl, PR_TIMER_CREATE_RESTORE_IDS_, 0, 0, 0, 0);
  for (uint32_t i = 0; i < nfillers; i++) ckpt_syscall1(NR_timer_delete_, fillers[i]);

  const struct ckpt_plan_itimer* it = (const struct ckpt_plan_itimer*)p->itimers;
  for (uint32_t i = 0; i < p->nitimers; i++) {
    int64_t v[4] = {it[i].interval_us / 1000000, it[i].interval_us % 1000000, it[i].next_us / 1000000,
                    it[i].next_us % 1000000};
    long r = ckpt_syscall3(CKPT_NR_setitimer, it[i].which, (long)v, 0);
    if (r < 0) fail(p, "cannot restore interval timer", (uint64_t)it[i].which, r);
  }
}

static void restore_epoll_and_locks(const struct ckpt_plan* p) {
  const struct ckpt_plan_epoll* ep = (const struct ckpt_plan_epoll*)p->epoll;
  for (uint32_t i = 0; i < p->nepoll; i++) {
    struct {
      uint32_t events;
      uint64_t data;
    } __attribute__((packed)) ev = {ep[i].events, ep[i].data};
    long r = ckpt_syscall4(NR_epoll_ctl_, ep[i].epfd, 1 /* EPOLL_CTL_ADD */, ep[i].fd, (long)&ev);
    if (r < 0 && r != -2 /* ENOENT */ && r != -9 /* EBADF: the watched fd was not restored */)
      fail(p, "cannot restore epoll interest in descriptor", (uint64_t)ep[i].fd, r);
  }
  const struct ckpt_plan_lock* lk = (const struct ckpt_plan_lock*)p->locks;
  for (uint32_t i = 0; i < p->nlocks; i++) {
    long r;
    if (lk[i].kind == 2) {
      r = ckpt_syscall2(NR_flock_, lk[i].fd, (lk[i].write ? LOCK_EX_ : LOCK_SH_) | LOCK_NB_);
    } else {
      struct {
        int16_t type, whence;
        int64_t start, len;
        int32_t pid;
      } fl = {(int16_t)(lk[i].write ? F_WRLCK_ : F_RDLCK_), 0 /* SEEK_SET */, lk[i].start, lk[i].len, 0};
      r = ckpt_syscall3(CKPT_NR_fcntl, lk[i].fd, lk[i].kind == 1 ? F_OFD_SETLK_ : F_SETLK_, (long)&fl);
    }
    if (r < 0) fail(p, "cannot take back a file lock (someone else holds it) on descriptor", (uint64_t)lk[i].fd, r);
  }
}

static void requeue_signals(const struct ckpt_plan* p) {
  const struct ckpt_plan_signal* sg = (const struct ckpt_plan_signal*)p->signals;
  int32_t pid = (int32_t)ckpt_syscall0(CKPT_NR_getpid);
  for (uint32_t i = 0; i < p->nsignals; i++) {
    if (sg[i].tid) ckpt_syscall4(NR_rt_tgsigqueueinfo_, pid, map_tid(p, sg[i].tid), sg[i].signo, (long)sg[i].info);
    else ckpt_syscall3(CKPT_NR_rt_sigqueueinfo, pid, sg[i].signo, (long)sg[i].info);
  }
}

static __attribute__((noreturn)) void finish_thread(struct ckpt_plan* p, const struct ckpt_plan_thread* t) {
  __atomic_add_fetch(&p->threads_ready, 1, __ATOMIC_ACQ_REL);
  futex_wake(&p->threads_ready);
  while (!__atomic_load_n(&p->go, __ATOMIC_ACQUIRE)) futex_wait(&p->go, 0);
  ckpt_syscall4(CKPT_NR_rt_sigprocmask, SIG_SETMASK_, (long)&t->sigmask, 0, 8);
  restorer_resume(&t->resume, (uint64_t)&p->info);
}

struct thread_start {
  struct ckpt_plan* plan;
  const struct ckpt_plan_thread* thread;
};

static void thread_entry(void* arg) {
  struct thread_start* s = arg;
  setup_thread(s->plan, s->thread);
  finish_thread(s->plan, s->thread);
}

static void create_thread(struct ckpt_plan* p, const struct ckpt_plan_thread* t) {
  /* The start record sits at the top of the thread's own restorer stack. */
  struct thread_start* s = (struct thread_start*)(t->stack_top - 64);
  s->plan = p;
  s->thread = t;
  int32_t tid = t->tid;
  struct clone_args_ a;
  memset(&a, 0, sizeof a);
  a.flags = CLONE_VM_ | CLONE_FS_ | CLONE_FILES_ | CLONE_SIGHAND_ | CLONE_THREAD_ | CLONE_SYSVSEM_ | CLONE_SETTLS_;
  a.stack = t->stack_top - 16384;
  a.stack_size = 16384 - 64;
  a.tls = t->fs_base;
  a.set_tid = t->set_tid ? (uint64_t)&tid : 0; /* clone3 rejects a set_tid array of size 0 */
  a.set_tid_size = t->set_tid ? 1 : 0;
  long r = restorer_clone3(&a, sizeof a, thread_entry, s);
  if (r < 0) fail(p, "cannot create thread", (uint64_t)tid, r);
  ((struct ckpt_plan_thread*)t)->new_tid = (int32_t)r;
}

void restorer_main(struct ckpt_plan* p) {
  uint64_t all = ~0ull;
  ckpt_syscall4(CKPT_NR_rt_sigprocmask, SIG_SETMASK_, (long)&all, 0, 8);
  if (p->magic != CKPT_PLAN_MAGIC) fail(p, "bad restore plan", 0, 0);

  if (p->launcher_rseq_area)
    ckpt_syscall4(CKPT_NR_rseq, (long)p->launcher_rseq_area, p->launcher_rseq_len, RSEQ_FLAG_UNREGISTER_,
                  p->launcher_rseq_sig);

  const struct ckpt_plan_range* unmaps = (const struct ckpt_plan_range*)p->unmaps;
  for (uint32_t i = 0; i < p->nunmaps; i++) {
    long r = ckpt_syscall2(CKPT_NR_munmap, (long)unmaps[i].start, (long)unmaps[i].len);
    if (r < 0) fail(p, "cannot unmap the launcher's memory at", unmaps[i].start, r);
  }

  move_vdso(p);

  const struct ckpt_plan_move* moves = (const struct ckpt_plan_move*)p->moves;
  for (uint32_t i = 0; i < p->nmoves; i++) move_range(p, moves[i].from, moves[i].to, moves[i].len);

  if (p->set_mm) {
    long r = ckpt_syscall5(CKPT_NR_prctl, PR_SET_MM_, PR_SET_MM_MAP_, (long)&p->mm, sizeof p->mm, 0);
    if (r < 0) fail(p, "cannot restore the mm fields (PR_SET_MM_MAP)", 0, r);
  }
  if (p->exe_fd >= 0) ckpt_syscall1(CKPT_NR_close, p->exe_fd);

  set_fds(p);
  if (p->set_nofile) {
    uint64_t lim[2] = {p->nofile_cur, p->nofile_max};
    long r = ckpt_syscall4(CKPT_NR_prlimit64, 0, 7 /* RLIMIT_NOFILE */, (long)lim, 0);
    if (r < 0) fail(p, "cannot restore RLIMIT_NOFILE", 0, r);
  }
  set_signal_actions(p);
  ckpt_syscall1(CKPT_NR_personality, p->personality);

  const struct ckpt_plan_thread* threads = (const struct ckpt_plan_thread*)p->threads;
  const struct ckpt_plan_thread* main_thread = 0;
  for (uint32_t i = 0; i < p->nthreads; i++) {
    if (threads[i].is_main) main_thread = &threads[i];
    else create_thread(p, &threads[i]);
  }
  if (!main_thread && !p->leader_exited) fail(p, "no main thread in the plan", 0, 0);

  int32_t leader_tid = (int32_t)ckpt_syscall0(CKPT_NR_gettid);
  if (main_thread) {
    ((struct ckpt_plan_thread*)main_thread)->new_tid = leader_tid;
    long r = ckpt_syscall2(CKPT_NR_arch_prctl, ARCH_SET_FS_, (long)main_thread->fs_base);
    if (r < 0) fail(p, "cannot set the thread pointer", main_thread->fs_base, r);
    setup_thread(p, main_thread);
    __atomic_add_fetch(&p->threads_ready, 1, __ATOMIC_ACQ_REL);
  }

  /* Every thread is ready: report, then release them all. */
  for (;;) {
    uint32_t n = __atomic_load_n(&p->threads_ready, __ATOMIC_ACQUIRE);
    if (n == p->nthreads) break;
    futex_wait(&p->threads_ready, n);
  }
  restore_timers(p);
  restore_epoll_and_locks(p);
  requeue_signals(p);
  if (p->set_no_new_privs) ckpt_syscall5(CKPT_NR_prctl, PR_SET_NO_NEW_PRIVS_, 1, 0, 0, 0);
  ckpt_syscall2(CKPT_NR_prctl, PR_SET_DUMPABLE_, p->dumpable);
  struct ckpt_tid_map* map = (struct ckpt_tid_map*)p->info.tid_map;
  for (uint32_t i = 0; i < p->nthreads; i++) map[i] = (struct ckpt_tid_map){threads[i].tid, threads[i].new_tid};
  p->info.new_pid = leader_tid;
  if (!main_thread) {
    /* The leader exits once released threads may run: the kernel clears
     * leader_alive when it has left this code, and libckpt waits for that
     * before unmapping the hole. */
    __atomic_store_n(&p->leader_alive, 1, __ATOMIC_RELEASE);
    ckpt_syscall1(CKPT_NR_set_tid_address, (long)&p->leader_alive);
  }

  char ok = 1;
  ckpt_syscall3(CKPT_NR_write, p->ready_fd, (long)&ok, 1);
  ckpt_syscall1(CKPT_NR_close, p->ready_fd);
  ckpt_syscall1(CKPT_NR_close, p->error_fd);
  __atomic_store_n(&p->go, 1, __ATOMIC_RELEASE);
  futex_wake(&p->go);
  if (!main_thread) {
    /* A zombie again, as the checkpointed process's leader was. */
    for (;;) ckpt_syscall1(CKPT_NR_exit, 0);
  }
  ckpt_syscall4(CKPT_NR_rt_sigprocmask, SIG_SETMASK_, (long)&main_thread->sigmask, 0, 8);
  restorer_resume(&main_thread->resume, (uint64_t)&p->info);
}
