/* sigmasks: per-thread signal masks and alternate signal stacks across a
 * checkpoint/restart, with one thread blocking every signal and the
 * application claiming the checkpoint signal for itself.
 *
 * usage: sigmasks TRIGGER_FILE CKPT_SIGNAL MAX_SECONDS
 *
 * Five threads (t0 is main) each set their own mask and altstack:
 *   t0  blocks SIGUSR1                      altstack 64 KiB
 *   t1  blocks SIGUSR2 SIGHUP               altstack 96 KiB
 *   t2  blocks SIGRTMIN+2 SIGWINCH SIGPIPE  altstack 128 KiB, SS_AUTODISARM
 *   t3  blocks every signal (SIG_BLOCK of a full set)   no altstack
 *   t4  blocks CKPT_SIGNAL SIGTERM          a small altstack (AT_MINSIGSTKSZ + 2 KiB)
 * Main also installs its own handler for CKPT_SIGNAL (sigaction must report
 * it back; it must never run). Each thread prints, once set up,
 *     thread tN tid=T mask=HEX ss_sp=HEX ss_size=N ss_flags=N
 * (HEX mask: bit s-1 for signal s, as read back with pthread_sigmask), then
 * main prints "ready pid=P" and everyone waits for TRIGGER_FILE.
 *
 * After TRIGGER_FILE appears each thread re-reads its mask and altstack and
 * compares them with what it read before, then (mask temporarily opened for
 * SIGURG) raises SIGURG at itself: the SA_ONSTACK handler must run on the
 * thread's altstack (or on its normal stack for t3, which has none). Lines:
 *     check NAME ok | check NAME FAIL details
 * then "done failures=N"; exit status 0 only if all passed. Gives up after
 * MAX_SECONDS without a trigger (exit 3). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31) /* linux/signal.h; glibc does not define it */
#endif
#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif

enum { NT = 5 };

static const char *trigger;
static long max_polls;
static int ckpt_sig;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static int failures;
static pthread_barrier_t setup_done;
static volatile int go;

static void check(int t, const char *what, int ok, const char *details) {
  pthread_mutex_lock(&out_mu);
  if (ok) {
    printf("check t%d.%s ok\n", t, what);
  } else {
    failures++;
    printf("check t%d.%s FAIL %s\n", t, what, details);
  }
  fflush(stdout);
  pthread_mutex_unlock(&out_mu);
}

static uint64_t mask_bits(const sigset_t *s) {
  uint64_t bits = 0;
  for (int sig = 1; sig <= 64; sig++)
    if (sigismember(s, sig) == 1) bits |= 1ULL << (sig - 1);
  return bits;
}

static volatile int app_ckpt_handler_runs;
static void app_ckpt_handler(int sig, siginfo_t *si, void *uc) {
  (void)sig, (void)si, (void)uc;
  app_ckpt_handler_runs++;
}

static __thread volatile uintptr_t urg_frame; /* an address in the SIGURG handler's frame */
static void on_urg(int sig) {
  char here;
  (void)sig;
  urg_frame = (uintptr_t)&here;
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

struct setup {
  int blocks[4]; /* 0-terminated; -1: block everything */
  size_t alt_size; /* 0: no altstack */
  int alt_flags;
};


static void *thread_main(void *arg) {
  int t = (int)(intptr_t)arg;
  struct setup s;
  memset(&s, 0, sizeof s);
  size_t small = getauxval(AT_MINSIGSTKSZ);
  if (small < 2048) small = 2048; /* legacy MINSIGSTKSZ */
  small = (small + 2048 + 1023) & ~(size_t)1023;
  switch (t) {
    case 0: s = (struct setup){.blocks = {SIGUSR1}, .alt_size = 64 << 10}; break;
    case 1: s = (struct setup){.blocks = {SIGUSR2, SIGHUP}, .alt_size = 96 << 10}; break;
    case 2:
      s = (struct setup){.blocks = {SIGRTMIN + 2, SIGWINCH, SIGPIPE}, .alt_size = 128 << 10, .alt_flags = (int)SS_AUTODISARM};
      break;
    case 3: s = (struct setup){.blocks = {-1}}; break;
    case 4: s = (struct setup){.blocks = {ckpt_sig, SIGTERM}, .alt_size = small}; break;
  }
  sigset_t set;
  sigemptyset(&set);
  if (s.blocks[0] == -1) {
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
  } else {
    for (int i = 0; i < 4 && s.blocks[i]; i++) sigaddset(&set, s.blocks[i]);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
  }
  char *alt = NULL;
  if (s.alt_size) {
    alt = malloc(s.alt_size);
    memset(alt, 0xa5, s.alt_size);
    stack_t ss = {.ss_sp = alt, .ss_size = s.alt_size, .ss_flags = s.alt_flags};
    if (sigaltstack(&ss, NULL) != 0) {
      perror("sigaltstack");
      exit(1);
    }
  }
  sigset_t before_mask;
  stack_t before_ss;
  pthread_sigmask(SIG_SETMASK, NULL, &before_mask);
  sigaltstack(NULL, &before_ss);
  pthread_mutex_lock(&out_mu);
  printf("thread t%d tid=%ld mask=%016llx ss_sp=%llx ss_size=%zu ss_flags=%d\n", t, (long)syscall(SYS_gettid),
         (unsigned long long)mask_bits(&before_mask), (unsigned long long)(uintptr_t)before_ss.ss_sp, before_ss.ss_size,
         before_ss.ss_flags);
  fflush(stdout);
  pthread_mutex_unlock(&out_mu);
  pthread_barrier_wait(&setup_done);

  if (t == 0) {
    printf("ready pid=%d\n", getpid());
    fflush(stdout);
    for (long polls = 0; !file_exists(trigger); polls++) {
      if (polls >= max_polls) {
        printf("gave up waiting for %s\n", trigger);
        fflush(stdout);
        _exit(3);
      }
      usleep(10000);
    }
    go = 1;
  } else {
    while (!go) usleep(5000);
  }

  char details[256];
  sigset_t after_mask;
  stack_t after_ss;
  pthread_sigmask(SIG_SETMASK, NULL, &after_mask);
  sigaltstack(NULL, &after_ss);
  snprintf(details, sizeof details, "before %016llx after %016llx", (unsigned long long)mask_bits(&before_mask),
           (unsigned long long)mask_bits(&after_mask));
  check(t, "mask", mask_bits(&before_mask) == mask_bits(&after_mask), details);
  snprintf(details, sizeof details, "before sp=%p size=%zu flags=%d, after sp=%p size=%zu flags=%d", before_ss.ss_sp,
           before_ss.ss_size, before_ss.ss_flags, after_ss.ss_sp, after_ss.ss_size, after_ss.ss_flags);
  check(t, "altstack",
        before_ss.ss_sp == after_ss.ss_sp && before_ss.ss_size == after_ss.ss_size &&
            before_ss.ss_flags == after_ss.ss_flags,
        details);

  /* The kernel's own altstack setting: a SA_ONSTACK handler runs on it. */
  sigset_t urg, saved;
  sigemptyset(&urg);
  sigaddset(&urg, SIGURG);
  urg_frame = 0;
  pthread_sigmask(SIG_UNBLOCK, &urg, &saved);
  pthread_kill(pthread_self(), SIGURG);
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  char *f = (char *)urg_frame;
  int on_alt = alt && f >= alt && f < alt + s.alt_size;
  snprintf(details, sizeof details, "handler frame %p, altstack %p..%p", (void *)f, (void *)alt,
           (void *)(alt ? alt + s.alt_size : NULL));
  check(t, "onstack", f != NULL && (alt ? on_alt : !on_alt), details);
  if (t == 0) {
    struct sigaction cur;
    sigaction(ckpt_sig, NULL, &cur);
    snprintf(details, sizeof details, "sigaction(%d) reports %p, the app installed %p", ckpt_sig,
             (void *)(uintptr_t)cur.sa_sigaction, (void *)(uintptr_t)app_ckpt_handler);
    check(t, "ckpt_handler_reported", cur.sa_sigaction == app_ckpt_handler && (cur.sa_flags & SA_SIGINFO), details);
    snprintf(details, sizeof details, "the app's handler for signal %d ran %d time(s)", ckpt_sig,
             app_ckpt_handler_runs);
    check(t, "ckpt_handler_never_ran", app_ckpt_handler_runs == 0, details);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: sigmasks TRIGGER_FILE CKPT_SIGNAL MAX_SECONDS\n");
    return 100;
  }
  trigger = argv[1];
  ckpt_sig = atoi(argv[2]);
  max_polls = atol(argv[3]) * 100;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_urg;
  sa.sa_flags = SA_ONSTACK;
  sigaction(SIGURG, &sa, NULL);
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = app_ckpt_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  if (sigaction(ckpt_sig, &sa, NULL) != 0) {
    perror("sigaction(CKPT_SIGNAL)");
    return 1;
  }
  struct sigaction cur;
  sigaction(ckpt_sig, NULL, &cur);
  printf("ckpt_handler installed=%d\n", cur.sa_sigaction == app_ckpt_handler);
  fflush(stdout);
  pthread_barrier_init(&setup_done, NULL, NT);
  pthread_t th[NT];
  for (intptr_t i = 1; i < NT; i++) pthread_create(&th[i], NULL, thread_main, (void *)i);
  thread_main((void *)0);
  for (int i = 1; i < NT; i++) pthread_join(th[i], NULL);
  printf("done failures=%d\n", failures);
  fflush(stdout);
  return failures == 0 ? 0 : 1;
}
