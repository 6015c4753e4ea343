/* incr_sigsegv: an application with its own SIGSEGV handling, for
 * --track=mprotect (libsigsegv owns SIGSEGV there and must pass the
 * application's faults on) and incremental checkpoints.
 *
 * usage: incr_sigsegv ROUNDS SLEEP_MS
 *
 * At start sigaction(SIGSEGV, NULL, &old) must report SIG_DFL; then an
 * SA_SIGINFO handler is installed and must be what sigaction reports. Each
 * round:
 *   - writes to, then reads from, a PROT_NONE guard page: the handler checks
 *     si_addr and si_code (SEGV_ACCERR), mprotects the page read-write and
 *     returns, so the access is retried and succeeds;
 *   - touches another PROT_NONE page under sigsetjmp: the handler
 *     siglongjmps out of the fault;
 *   - every 5th round, signal(SIGSEGV, plain) must return the SA_SIGINFO
 *     handler, a fault is handled by the plain handler, sigaction must
 *     report the plain one, and the SA_SIGINFO one is reinstalled;
 *   - writes 64 pages of a heap buffer (write faults of the tracker itself,
 *     between the application's);
 *   - checks that sigaction(SIGSEGV, NULL, &old) gives the SA_SIGINFO
 *     handler;
 * then prints "round R faults=F jumps=J plain=P h=HASH" and sleeps SLEEP_MS.
 * At the end "final faults=F jumps=J plain=P h=HASH". A wrong fault or
 * handler prints "FAIL ..." and exits 1. */
#include "incr_common.h" /* first: it defines _GNU_SOURCE */
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>


#define PG 4096UL
enum { HEAP = 1 << 20 };

static unsigned char *guard;           /* 16 pages: 0-7 fixed by the handler, 8-15 jumped out of */
static unsigned char *volatile expect; /* the page the next fault must be in */
static volatile int jump_mode;
static volatile long faults, jumps, plain_faults;
static sigjmp_buf env;

static void die(const char *msg) {
  (void)!write(1, msg, strlen(msg));
  _exit(1);
}

static void on_segv(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  unsigned char *a = si->si_addr;
  if (sig != SIGSEGV || !expect || a < expect || a >= expect + PG)
    die("FAIL SA_SIGINFO handler: a fault at an unexpected address\n");
  if (si->si_code != SEGV_ACCERR) die("FAIL SA_SIGINFO handler: si_code is not SEGV_ACCERR\n");
  if (jump_mode) {
    jumps++;
    siglongjmp(env, 1);
  }
  if (mprotect(expect, PG, PROT_READ | PROT_WRITE) != 0) die("FAIL mprotect in the handler\n");
  expect = NULL;
  faults++;
}

static void on_segv_plain(int sig) {
  if (sig != SIGSEGV || !expect) die("FAIL plain handler: unexpected fault\n");
  if (mprotect(expect, PG, PROT_READ | PROT_WRITE) != 0) die("FAIL mprotect in the plain handler\n");
  expect = NULL;
  plain_faults++;
}

static void install_siginfo(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  FAIL_IF(sigaction(SIGSEGV, &sa, NULL) != 0, "sigaction SIGSEGV");
}

static void check_action(int round, void *handler, int siginfo) {
  struct sigaction old;
  FAIL_IF(sigaction(SIGSEGV, NULL, &old) != 0, "round %d: sigaction(SIGSEGV, NULL, &old)", round);
  void *got = (old.sa_flags & SA_SIGINFO) ? (void *)old.sa_sigaction : (void *)old.sa_handler;
  if (got != handler || !!(old.sa_flags & SA_SIGINFO) != siginfo) {
    printf("FAIL round %d: sigaction(SIGSEGV, NULL, &old) gives handler %p flags %#x, expected %p%s\n", round, got,
           (unsigned)old.sa_flags, handler, siginfo ? " with SA_SIGINFO" : "");
    fflush(stdout);
    exit(1);
  }
}

static void protect(unsigned char *page) {
  FAIL_IF(mprotect(page, PG, PROT_NONE) != 0, "mprotect PROT_NONE");
  expect = page;
}

/* A fault left with siglongjmp (its own function: no local of main's
 * lives across the sigsetjmp). */
static __attribute__((noinline)) void jump_fault(int r) {
  unsigned char *page = guard + (size_t)(8 + r % 8) * PG;
  protect(page);
  if (sigsetjmp(env, 1) == 0) {
    jump_mode = 1;
    ((volatile unsigned char *)page)[r] = 1;
    printf("FAIL round %d: no fault on a PROT_NONE page\n", r);
    fflush(stdout);
    exit(1);
  }
  jump_mode = 0;
  FAIL_IF(mprotect(page, PG, PROT_READ | PROT_WRITE) != 0, "mprotect after siglongjmp");
  expect = NULL;
}

int main(int argc, char **argv) {
  check_usage(argc, 3, "incr_sigsegv ROUNDS SLEEP_MS");
  int rounds = atoi(argv[1]);
  long pause_ms = atol(argv[2]);
  check_action(-1, (void *)SIG_DFL, 0);
  install_siginfo();
  check_action(-1, (void *)on_segv, 1);

  guard = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  FAIL_IF(guard == MAP_FAILED, "mmap guard pages");
  unsigned char *heap = malloc(HEAP);
  FAIL_IF(!heap, "malloc");
  memset(heap, 0x11, HEAP);
  printf("ready pid=%d\n", (int)getpid());
  fflush(stdout);

  uint64_t h = 0;
  for (int r = 0; r < rounds; r++) {
    /* a write, then a read, fixed by the handler */
    unsigned char *page = guard + (size_t)(r % 8) * PG;
    long before = faults;
    protect(page);
    ((volatile uint64_t *)page)[r % 512] = (uint64_t)r * 3 + 1;
    protect(page);
    uint64_t v = ((volatile uint64_t *)page)[r % 512];
    if (v != (uint64_t)r * 3 + 1 || faults != before + 2) {
      printf("FAIL round %d: read %llu after the fixed faults (faults %ld -> %ld)\n", r, (unsigned long long)v,
             before, faults);
      fflush(stdout);
      return 1;
    }
    h = mix64(h ^ v);

    jump_fault(r);

    if (r % 5 == 0) { /* signal() path */
      sighandler_t prev = signal(SIGSEGV, on_segv_plain);
      if ((void *)prev != (void *)on_segv) {
        printf("FAIL round %d: signal(SIGSEGV, ...) returned %p, expected the SA_SIGINFO handler %p\n", r,
               (void *)prev, (void *)on_segv);
        fflush(stdout);
        return 1;
      }
      check_action(r, (void *)on_segv_plain, 0);
      page = guard + (size_t)((r / 5) % 8) * PG;
      protect(page);
      ((volatile uint64_t *)page)[7] += 1;
      h = mix64(h ^ ((volatile uint64_t *)page)[7]);
      install_siginfo();
    }

    for (int i = 0; i < 64; i++) heap[(size_t)((r * 64 + i) * 4099) % HEAP] += (unsigned char)(i + 1);
    check_action(r, (void *)on_segv, 1);
    h = hash_mem(h, heap, HEAP);
    printf("round %d faults=%ld jumps=%ld plain=%ld h=%016llx\n", r, faults, jumps, plain_faults,
           (unsigned long long)h);
    fflush(stdout);
    sleep_ms(pause_ms);
  }
  printf("final faults=%ld jumps=%ld plain=%ld h=%016llx\n", faults, jumps, plain_faults, (unsigned long long)h);
  fflush(stdout);
  return 0;
}
