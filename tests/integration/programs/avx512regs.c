/* avx512regs: AVX-512 register state, the CPU number and the clocks of
 * every thread across a checkpoint/restart.
 *
 * usage: avx512regs TRIGGER_FILE MAX_SECONDS
 *
 * Exits 77 ("skip: ...") if the CPU or the kernel lacks AVX-512F.
 * Two spinner threads load zmm0..zmm31 and k1..k7 with patterns of their
 * own, then spin in one asm block (pause; compare a stop flag in memory),
 * which touches no vector or mask register; when the flag is set they store
 * the registers back and compare. A third thread sleeps on a condition
 * variable. Before spinning/sleeping every thread reads CLOCK_MONOTONIC.
 * Main prints "ready pid=P" once the spinners spin, then waits for
 * TRIGGER_FILE and sets the stop flag.
 *
 * Afterwards every thread (main, spinner0, spinner1, sleeper) checks:
 *   cpu      sched_getcpu() returns a CPU >= 0 and < the number of configured CPUs
 *   clock    CLOCK_MONOTONIC is later than its pre-checkpoint reading and never goes
 *            back over 20000 consecutive reads; the vDSO and the raw syscall agree
 *            within 50 ms; CLOCK_REALTIME works
 * and the spinners check "zmm" and "kmask": every register as loaded. Lines:
 *     check NAME ok | check NAME FAIL details
 * then "done failures=N" (exit status 0 only if all passed). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

enum { NSPIN = 2, WORDS = 32 * 8 };

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static int failures;
static volatile int stop;
static volatile int spinning;
static volatile int go;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void check(const char *who, const char *what, int ok, const char *details) {
  pthread_mutex_lock(&out_mu);
  if (ok) {
    printf("check %s.%s ok\n", who, what);
  } else {
    failures++;
    printf("check %s.%s FAIL %s\n", who, what, details);
  }
  fflush(stdout);
  pthread_mutex_unlock(&out_mu);
}

static int64_t ts_ns(const struct timespec *t) { return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec; }

static int64_t mono_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return ts_ns(&t);
}

/* The checks every thread makes after the trigger. */
static void thread_checks(const char *who, int64_t before) {
  char details[200];
  int cpu = sched_getcpu();
  int ncpu = get_nprocs_conf();
  snprintf(details, sizeof details, "sched_getcpu() = %d, %d CPUs configured", cpu, ncpu);
  check(who, "cpu", cpu >= 0 && cpu < ncpu, details);

  int64_t first = mono_ns(), prev = first, back = 0;
  for (int i = 0; i < 20000; i++) {
    int64_t t = mono_ns();
    if (t < prev) back++;
    prev = t;
  }
  struct timespec sys, rt;
  int64_t v1 = mono_ns();
  syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &sys);
  int64_t v2 = mono_ns();
  int rt_rc = clock_gettime(CLOCK_REALTIME, &rt);
  int64_t sys_ns = ts_ns(&sys);
  snprintf(details, sizeof details,
           "before=%lld first=%lld backwards=%lld vdso=%lld..%lld syscall=%lld realtime rc=%d sec=%lld", (long long)before,
           (long long)first, (long long)back, (long long)v1, (long long)v2, (long long)sys_ns, rt_rc,
           (long long)rt.tv_sec);
  check(who, "clock",
        first > before && back == 0 && sys_ns >= v1 - 50000000LL && sys_ns <= v2 + 50000000LL && rt_rc == 0 &&
            rt.tv_sec > 1600000000,
        details);
}

#define LOAD(n) "vmovdqu64 " #n "*64(%[in]), %%zmm" #n "\n\t"
#define STORE(n) "vmovdqu64 %%zmm" #n ", " #n "*64(%[out])\n\t"
#define ALL32(M)                                                                                                   \
  M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15) M(16) M(17) M(18) M(19) \
  M(20) M(21) M(22) M(23) M(24) M(25) M(26) M(27) M(28) M(29) M(30) M(31)
#define KLOAD(n) "kmovw 2*" #n "(%[kin]), %%k" #n "\n\t"
#define KSTORE(n) "kmovw %%k" #n ", 2*" #n "(%[kout])\n\t"
#define K1TO7(M) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

__attribute__((target("avx512f"), noinline)) static void spin_with_zmm(const uint64_t *in, uint64_t *out,
                                                                        const uint16_t *kin, uint16_t *kout) {
  __asm__ volatile(
      ALL32(LOAD) K1TO7(KLOAD)
      "lock incl %[spinning]\n\t"
      "1:\n\t"
      "pause\n\t"
      "cmpl $0, %[stop]\n\t"
      "je 1b\n\t"
      ALL32(STORE) K1TO7(KSTORE)
      : [spinning] "+m"(spinning)
      : [in] "r"(in), [out] "r"(out), [kin] "r"(kin), [kout] "r"(kout), [stop] "m"(stop)
      : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",
        "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k1", "k2", "k3", "k4",
        "k5", "k6", "k7");
}

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static void *spinner(void *arg) {
  int id = (int)(intptr_t)arg;
  char who[16];
  snprintf(who, sizeof who, "spinner%d", id);
  uint64_t *in = aligned_alloc(64, WORDS * 8), *out = aligned_alloc(64, WORDS * 8);
  uint16_t kin[8], kout[8];
  for (int i = 0; i < WORDS; i++) {
    in[i] = mix((uint64_t)id << 32 | (uint64_t)i);
    out[i] = 0;
  }
  for (int k = 0; k < 8; k++) {
    kin[k] = (uint16_t)mix((uint64_t)(id + 7) << 40 | (uint64_t)k);
    kout[k] = 0;
  }
  int64_t before = mono_ns();
  spin_with_zmm(in, out, kin, kout);
  int bad = -1;
  for (int i = 0; i < WORDS && bad < 0; i++)
    if (in[i] != out[i]) bad = i;
  char details[200] = "";
  if (bad >= 0)
    snprintf(details, sizeof details, "zmm%d word %d: %016llx, expected %016llx", bad / 8, bad % 8,
             (unsigned long long)out[bad], (unsigned long long)in[bad]);
  check(who, "zmm", bad < 0, details);
  int kbad = -1;
  for (int k = 1; k < 8 && kbad < 0; k++)
    if (kin[k] != kout[k]) kbad = k;
  if (kbad >= 0) snprintf(details, sizeof details, "k%d: %04x, expected %04x", kbad, kout[kbad], kin[kbad]);
  check(who, "kmask", kbad < 0, details);
  thread_checks(who, before);
  return NULL;
}

static void *sleeper(void *arg) {
  (void)arg;
  int64_t before = mono_ns();
  pthread_mutex_lock(&mu);
  while (!go) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  thread_checks("sleeper", before);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: avx512regs TRIGGER_FILE MAX_SECONDS\n");
    return 100;
  }
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f")) {
    printf("skip: this CPU (or kernel) does not support AVX-512F\n");
    return 77;
  }
  long max_polls = atol(argv[2]) * 100;
  int64_t before = mono_ns();
  pthread_t th[NSPIN + 1];
  for (intptr_t i = 0; i < NSPIN; i++) pthread_create(&th[i], NULL, spinner, (void *)i);
  pthread_create(&th[NSPIN], NULL, sleeper, NULL);
  while (spinning < NSPIN) usleep(1000);
  usleep(20000);
  printf("ready pid=%d\n", getpid());
  fflush(stdout);
  struct stat st;
  for (long polls = 0; stat(argv[1], &st) != 0; polls++) {
    if (polls >= max_polls) {
      printf("gave up\n");
      return 3;
    }
    usleep(10000);
  }
  stop = 1;
  pthread_mutex_lock(&mu);
  go = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  thread_checks("main", before);
  for (int i = 0; i <= NSPIN; i++) pthread_join(th[i], NULL);
  printf("done failures=%d\n", failures);
  fflush(stdout);
  return failures == 0 ? 0 : 1;
}
