// Edge cases of multithreaded checkpointing (tests_threads.py, thr_* tests).
//
//   thr_edge MODE [ARGS]
//
// Every mode prints `ready` once set up, then `tick N ...` lines (one per
// TICK_MS, 200 ms) from the main thread unless said otherwise, for SECS
// seconds (default 60), then `done` and exits 0.
//
//   unstoppable   a thread blocks every signal with a raw rt_sigprocmask
//                 (prints `blocker tid=N`)
//   closer K      closes every descriptor from 3 up before `ready`: K=0
//                 close_range(), 1 closefrom(), 2 raw SYS_close_range,
//                 3 raw SYS_close loop; prints `first open after=N` (must
//                 be 3) and runs a worker thread
//   setuid        SIGEV_THREAD timer (100 ms) and a worker thread, then
//                 setgid/setuid(65534); ticks say `uid=U fires=F`
//   forkkids N    a thread forks N children, 20 ms apart (each sleeps,
//                 under libckpt too), writes their pids to KIDS_FILE (env),
//                 the main thread reaps nothing: the test kills them
//   racers        threads loop on fork()+waitpid, pthread_create+join and
//                 dlopen+dlclose; ticks say `forks=A threads=B dlopens=C`
//   mainexit      the main thread calls pthread_exit(); two workers tick
//                 (`tick N who=wK pid=P`) and the last one exits 0
//   fullmask      threads wait 3 s with a full signal mask in ppoll,
//                 pselect, epoll_pwait and epoll_pwait2 (errno set to 77
//                 first), then print `wait NAME rc=R errno=E elapsed_ms=M`
//   masks         the ways to set handlers and masks that glibc does
//                 internally: sigignore(SIGRTMAX), sigset(SIGCKPT, h),
//                 sighold(SIGCKPT), a thread made with
//                 pthread_attr_setsigmask_np(full), a thread running in a
//                 swapcontext()ed context with a full uc_sigmask; prints
//                 `view ...` lines (what the app reads back)
//   altstk USE    a thread's SIGUSR1 handler runs 3 s on a 16 KiB
//                 sigaltstack using USE bytes of it (after `ready` the main
//                 thread sends SIGUSR1 and prints `handler started`);
//                 ticks say `handled=H`
//   cancel N      N threads blocked in pause() are cancelled and joined;
//                 then a worker starts; prints `cancelled N`
//   churn         4 threads create short-lived threads (detached and
//                 joined) non-stop; ticks say `created=C`
//   crowd N       N threads alternate a little work and a 0.5 ms sleep,
//                 each counting its rounds; ticks say `stalled=S` (threads
//                 whose count did not move since the previous tick) and
//                 `rounds=R`
//   saverange     single-threaded: ckpt_save_range of 64 MiB to DIR (env
//                 RANGE_DIR) in a loop; ticks say `saves=S` (printed between
//                 saves)
//   mqueue        opens (and unlinks) a POSIX message queue /ckpt-it-PID
//   blockexec PROG ARGS...  blocks every signal with a raw rt_sigprocmask
//                 and execs PROG (a supervisor that forgot to reset its mask)
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "ckpt.h"

// The System V calls are the point of the masks mode.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static int secs = 60;
static volatile long counter_a, counter_b, counter_c;

static double mono(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void msleep(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void out(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
}

static void* idle_worker(void* a) {
  (void)a;
  for (;;) msleep(100);
  return NULL;
}

static void start(void* (*fn)(void*), void* arg) {
  pthread_t t;
  if (pthread_create(&t, NULL, fn, arg) != 0) {
    out("FAIL pthread_create\n");
    exit(1);
  }
  pthread_detach(t);
}

// ------------------------------------------------------------------ modes

static void* blocker(void* a) {
  (void)a;
  uint64_t all = ~0ull;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8);
  out("blocker tid=%ld\n", (long)syscall(SYS_gettid));
  for (;;) {
    struct timespec ts = {0, 50000000};
    syscall(SYS_nanosleep, &ts, NULL);
  }
  return NULL;
}

static void closer(int k) {
  if (k == 0) close_range(3, ~0u, 0);
  if (k == 1) closefrom(3);
  if (k == 2) syscall(SYS_close_range, 3, ~0u, 0);
  if (k == 3)
    for (int fd = 3; fd < 1024; fd++) syscall(SYS_close, fd);
  int fd = open("/dev/null", O_RDONLY);
  out("first open after=%d\n", fd);
  start(idle_worker, NULL);
}

static void on_timer(union sigval v) {
  (void)v;
  __atomic_add_fetch(&counter_b, 1, __ATOMIC_RELAXED);
}

static void drop_privileges(void) {
  start(idle_worker, NULL);
  struct sigevent ev;
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_THREAD;
  ev.sigev_notify_function = on_timer;
  timer_t tm;
  if (timer_create(CLOCK_MONOTONIC, &ev, &tm) != 0) {
    out("FAIL timer_create %d\n", errno);
    exit(1);
  }
  struct itimerspec its = {{0, 100000000}, {0, 100000000}};
  timer_settime(tm, 0, &its, NULL);
  if (setgid(65534) != 0 || setuid(65534) != 0) {
    out("FAIL setuid %d\n", errno);
    exit(1);
  }
}

static int nkids;
static void* forker(void* a) {
  (void)a;
  FILE* f = fopen(getenv("KIDS_FILE"), "w");
  if (!f) exit(1);
  for (int i = 0; i < nkids; i++) {
    pid_t p = fork();
    if (p == 0) {
      for (int k = 0; k < 600; k++) msleep(1000);
      _exit(0);
    }
    fprintf(f, "%d\n", p);
    fflush(f);
    msleep(20);
  }
  fclose(f);
  return NULL;
}

static void* spin_malloc(void* a) {
  (void)a;
  for (;;) free(malloc(100 + (size_t)(counter_c++ % 1000)));
  return NULL;
}

static void* fork_loop(void* a) {
  (void)a;
  for (;;) {
    pid_t p = fork();
    if (p == 0) _exit(0);
    if (p > 0) waitpid(p, NULL, 0);
    __atomic_add_fetch(&counter_a, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

static void* leaf(void* a) { return a; }

static void* create_loop(void* a) {
  (void)a;
  for (;;) {
    pthread_t t;
    if (pthread_create(&t, NULL, leaf, NULL) == 0) pthread_join(t, NULL);
    __atomic_add_fetch(&counter_b, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

static void* dlopen_loop(void* a) {
  (void)a;
  const char* libs[] = {"libresolv.so.2", "libutil.so.1", "libanl.so.1", "libm.so.6"};
  for (;;) {
    for (size_t i = 0; i < sizeof libs / sizeof *libs; i++) {
      void* h = dlopen(libs[i], RTLD_NOW | RTLD_LOCAL);
      if (h) {
        dlclose(h);
        __atomic_add_fetch(&counter_c, 1, __ATOMIC_RELAXED);
      }
    }
  }
  return NULL;
}

static void* mainexit_worker(void* a) {
  long k = (long)a;
  for (int i = 0; i < secs * 5; i++) {
    out("tick %d who=w%ld pid=%d\n", i, k, getpid());
    msleep(200);
  }
  if (k == 0) {
    out("done\n");
    exit(0);
  }
  for (;;) msleep(1000);
  return NULL;
}

static int pfd[2];
static void* fullmask_wait(void* a) {
  long k = (long)a;
  sigset_t all;
  sigfillset(&all);
  struct timespec ts = {3, 0};
  const char* name = "?";
  double t0 = mono();
  errno = 77;
  int r = -2;
  if (k == 0) {
    name = "ppoll";
    struct pollfd p = {pfd[0], POLLIN, 0};
    r = ppoll(&p, 1, &ts, &all);
  } else if (k == 1) {
    name = "pselect";
    fd_set s;
    FD_ZERO(&s);
    FD_SET(pfd[0], &s);
    r = pselect(pfd[0] + 1, &s, NULL, NULL, &ts, &all);
  } else {
    int ep = epoll_create1(0);
    struct epoll_event ev = {EPOLLIN, {0}};
    epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev);
    if (k == 2) {
      name = "epoll_pwait";
      r = epoll_pwait(ep, &ev, 1, 3000, &all);
    } else {
      name = "epoll_pwait2";
      r = epoll_pwait2(ep, &ev, 1, &ts, &all);
    }
  }
  int e = errno;
  out("wait %s rc=%d errno=%d elapsed_ms=%d\n", name, r, e, (int)((mono() - t0) * 1000));
  return NULL;
}

static void handler(int s) { (void)s; }

static void* attr_thread(void* a) {
  (void)a;
  for (;;) msleep(100);
  return NULL;
}

static ucontext_t ctx_main, ctx_co;
static char co_stack[65536];
static void coroutine(void) {
  for (;;) msleep(100);
}
static void* ctx_thread(void* a) {
  (void)a;
  getcontext(&ctx_co);
  ctx_co.uc_stack.ss_sp = co_stack;
  ctx_co.uc_stack.ss_size = sizeof co_stack;
  sigfillset(&ctx_co.uc_sigmask);
  makecontext(&ctx_co, coroutine, 0);
  swapcontext(&ctx_main, &ctx_co);
  return NULL;
}

static void masks(void) {
  int ckpt = SIGRTMIN + 28, freeze = SIGRTMAX;
  if (sigignore(freeze) != 0) out("FAIL sigignore %d\n", errno);
  if (sigset(ckpt, handler) == SIG_ERR) out("FAIL sigset %d\n", errno);
  if (sighold(ckpt) != 0) out("FAIL sighold %d\n", errno);
  struct sigaction sa;
  sigaction(ckpt, NULL, &sa);
  out("view ckpt_handler=%s\n", sa.sa_handler == handler ? "app" : "other");
  sigaction(freeze, NULL, &sa);
  out("view freeze_handler=%s\n", sa.sa_handler == SIG_IGN ? "ignored" : "other");
  sigset_t cur;
  sigprocmask(SIG_BLOCK, NULL, &cur);
  out("view ckpt_blocked=%d\n", sigismember(&cur, ckpt));
  pthread_attr_t at;
  pthread_attr_init(&at);
  sigset_t all;
  sigfillset(&all);
  pthread_attr_setsigmask_np(&at, &all);
  pthread_t t;
  pthread_create(&t, &at, attr_thread, NULL);
  pthread_setname_np(t, "attrmask");
  pthread_create(&t, NULL, ctx_thread, NULL);
  pthread_setname_np(t, "ctxmask");
}

static int altstack_use = 11000;
static void on_usr1(int s) {
  (void)s;
  volatile char big[altstack_use];
  memset((char*)big, 1, sizeof big);
  double t0 = mono();
  while (mono() - t0 < 3) big[(long)(mono() * 1e6) % sizeof big]++;
  __atomic_add_fetch(&counter_a, 1, __ATOMIC_RELAXED);
}
static pthread_t alt_thread;
static void* altstack_thread(void* a) {
  (void)a;
  static char stk[16384];
  stack_t ss = {.ss_sp = stk, .ss_size = sizeof stk, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) out("FAIL sigaltstack %d\n", errno);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_ONSTACK;
  sigaction(SIGUSR1, &sa, NULL);
  for (;;) pause();
  return NULL;
}

static void* pauser(void* a) {
  (void)a;
  for (;;) pause();
  return NULL;
}

static void* churn_leaf(void* a) {
  __atomic_add_fetch(&counter_a, 1, __ATOMIC_RELAXED);
  return a;
}
static void* churn_spawner(void* a) {
  pthread_attr_t at;
  pthread_attr_init(&at);
  if (a) pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  for (;;) {
    pthread_t t;
    if (pthread_create(&t, &at, churn_leaf, NULL) != 0) {
      msleep(1);
      continue;
    }
    if (!a) pthread_join(t, NULL);
  }
  return NULL;
}

enum { MAX_CROWD = 2048 };
static long crowd_rounds[MAX_CROWD], crowd_seen[MAX_CROWD];
static int crowd_n;

static void* crowd_member(void* a) {
  long i = (long)a;
  volatile unsigned x = 0;
  for (;;) {
    for (int k = 0; k < 20000; k++) x += (unsigned)k;
    __atomic_add_fetch(&crowd_rounds[i], 1, __ATOMIC_RELAXED);
    usleep(500);
  }
  return NULL;
}

// Threads whose round count did not move since the last call.
static int crowd_stalled(long* total) {
  int stalled = 0;
  *total = 0;
  for (int i = 0; i < crowd_n; i++) {
    long r = __atomic_load_n(&crowd_rounds[i], __ATOMIC_RELAXED);
    stalled += r == crowd_seen[i];
    crowd_seen[i] = r;
    *total += r;
  }
  return stalled;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: thr_edge MODE [ARGS]\n");
    return 2;
  }
  const char* mode = argv[1];
  const char* arg = argc > 2 ? argv[2] : "0";
  if (getenv("SECS")) secs = atoi(getenv("SECS"));
  char what[128] = "";
  if (!strcmp(mode, "blockexec") && argc > 2) {
    uint64_t all = ~0ull;
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, NULL, 8);
    execv(argv[2], argv + 2);
    return 127;
  }
  if (!strcmp(mode, "unstoppable")) {
    start(blocker, NULL);
  } else if (!strcmp(mode, "closer")) {
    closer(atoi(arg));
  } else if (!strcmp(mode, "setuid")) {
    drop_privileges();
  } else if (!strcmp(mode, "forkkids")) {
    nkids = atoi(arg);
    start(forker, NULL);
    start(spin_malloc, NULL);
  } else if (!strcmp(mode, "racers")) {
    start(fork_loop, NULL);
    start(create_loop, NULL);
    start(dlopen_loop, NULL);
  } else if (!strcmp(mode, "mainexit")) {
    start(mainexit_worker, (void*)0L);
    start(mainexit_worker, (void*)1L);
    out("ready pid=%d\n", getpid());
    pthread_exit(NULL);
  } else if (!strcmp(mode, "fullmask")) {
    if (pipe(pfd) != 0) return 1;
    for (long k = 0; k < 4; k++) start(fullmask_wait, (void*)k);
  } else if (!strcmp(mode, "masks")) {
    masks();
  } else if (!strcmp(mode, "altstk")) {
    altstack_use = atoi(arg);
    pthread_create(&alt_thread, NULL, altstack_thread, NULL);
    msleep(200);
  } else if (!strcmp(mode, "cancel")) {
    int n = atoi(arg);
    for (int i = 0; i < n; i++) {
      pthread_t t;
      if (pthread_create(&t, NULL, pauser, NULL) != 0) {
        out("FAIL pthread_create %d\n", i);
        return 1;
      }
      pthread_cancel(t);
      pthread_join(t, NULL);
    }
    start(idle_worker, NULL);
    snprintf(what, sizeof what, "cancelled %d", n);
  } else if (!strcmp(mode, "churn")) {
    for (long i = 0; i < 4; i++) start(churn_spawner, (void*)(i & 1));
  } else if (!strcmp(mode, "crowd")) {
    crowd_n = atoi(arg) < MAX_CROWD ? atoi(arg) : MAX_CROWD;
    for (long i = 0; i < crowd_n; i++) start(crowd_member, (void*)i);
  } else if (!strcmp(mode, "saverange")) {
    size_t len = 64u << 20;
    char* p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; i < len; i += 4096) p[i] = (char)(i >> 12);
    char path[4096];
    snprintf(path, sizeof path, "%s/range.img", getenv("RANGE_DIR"));
    out("ready\n");
    double t0 = mono();
    for (int i = 0; mono() - t0 < secs; i++) {
      if (ckpt_save_range(p, len, path) != 0) {
        out("FAIL ckpt_save_range %d\n", errno);
        return 1;
      }
      out("tick %d saves=%d\n", i, i + 1);
    }
    out("done\n");
    return 0;
  } else if (!strcmp(mode, "mqueue")) {
    char name[64];
    snprintf(name, sizeof name, "/ckpt-it-%d", getpid());
    struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mqd_t q = mq_open(name, O_CREAT | O_RDWR, 0600, &a);
    if (q == (mqd_t)-1) {
      out("no mqueue %d\n", errno);
      return 77;
    }
    mq_unlink(name);
    snprintf(what, sizeof what, "mqueue %s fd=%d", name, (int)q);
  } else {
    fprintf(stderr, "thr_edge: unknown mode %s\n", mode);
    return 2;
  }
  out("ready pid=%d %s\n", getpid(), what);
  if (!strcmp(mode, "altstk")) {
    pthread_kill(alt_thread, SIGUSR1);
    out("handler started\n");
  }
  for (int i = 0; i < secs * 5; i++) {
    if (!strcmp(mode, "setuid"))
      out("tick %d uid=%d fires=%ld\n", i, (int)getuid(), counter_b);
    else if (!strcmp(mode, "racers"))
      out("tick %d forks=%ld threads=%ld dlopens=%ld\n", i, counter_a, counter_b, counter_c);
    else if (!strcmp(mode, "altstk"))
      out("tick %d handled=%ld\n", i, counter_a);
    else if (!strcmp(mode, "churn"))
      out("tick %d created=%ld\n", i, counter_a);
    else if (!strcmp(mode, "crowd")) {
      long total;
      int stalled = crowd_stalled(&total);
      out("tick %d stalled=%d rounds=%ld\n", i, stalled, total);
    }
    else
      out("tick %d\n", i);
    msleep(200);
  }
  out("done\n");
  return 0;
}
