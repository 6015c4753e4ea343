/* incr_shared: shared memory written behind this process's page tables
 * between incremental checkpoints.
 *
 * usage: incr_shared DIR
 *
 * Three shared regions of 64 pages: S (MAP_SHARED|MAP_ANONYMOUS), M and M2
 * (two MAP_SHARED mappings of one memfd), and P (64 private anonymous pages,
 * for comparison). Each of phases 0..3:
 *   - a fork child writes S (pages the parent wrote and pages it never
 *     touched) and M, then exits;
 *   - pwrite(2) on the memfd (a page the parent mapped, one it never did);
 *   - writes through the alias mapping M2 only;
 *   - from phase 1 on: MADV_REMOVE of a few pages of S and M (they become
 *     zero) and fallocate(PUNCH_HOLE) on the memfd;
 *   - the parent writes a few pages of P;
 * then "phase N done", wait for DIR/go-N (incr_common.h), then
 * "region NAME h=HASH" for S, M and P, and MADV_DONTNEED on S, M and M2:
 * the parent's page tables forget the shared pages (the object keeps them),
 * so that at the next checkpoint none of them is mapped in this process.
 * Phase 4: "final sum=HASH". A failing call prints "FAIL ..." and exits 1. */
#include "incr_common.h" /* first: it defines _GNU_SOURCE */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PG 4096UL
#define NP 64

static unsigned char *S, *M, *M2, *P;
static int mfd;

static void stamp(unsigned char *page, int phase, int who) {
  for (size_t i = 0; i < PG; i += 64) page[i] = (unsigned char)(phase * 31 + who * 7 + i / 64);
}

static uint64_t print_regions(void) {
  uint64_t sum = 0;
  struct { const char *name; unsigned char *p; } r[] = {{"S", S}, {"M", M}, {"P", P}};
  for (int i = 0; i < 3; i++) {
    uint64_t h = hash_mem(17, r[i].p, NP * PG);
    printf("region %s h=%016llx\n", r[i].name, (unsigned long long)h);
    sum = mix64(sum ^ h);
  }
  fflush(stdout);
  return sum;
}

int main(int argc, char **argv) {
  check_usage(argc, 2, "incr_shared DIR");
  const char *dir = argv[1];
  S = mmap(NULL, NP * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  FAIL_IF(S == MAP_FAILED, "mmap shared anonymous");
  mfd = memfd_create("incr_shared", 0);
  FAIL_IF(mfd < 0, "memfd_create");
  FAIL_IF(ftruncate(mfd, NP * PG) != 0, "ftruncate");
  M = mmap(NULL, NP * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  M2 = mmap(NULL, NP * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  P = mmap(NULL, NP * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  FAIL_IF(M == MAP_FAILED || M2 == MAP_FAILED || P == MAP_FAILED, "mmap");
  for (int i = 0; i < 8; i++) stamp(S + i * PG, 0, 1);
  for (int i = 0; i < 8; i++) stamp(M + i * PG, 0, 2);
  for (int i = 0; i < NP; i++) stamp(P + i * PG, 0, 3);

  uint64_t sum = 0;
  for (int phase = 0; phase < 4; phase++) {
    pid_t c = fork();
    FAIL_IF(c < 0, "fork");
    if (c == 0) {
      for (int i = phase; i < NP; i += 6) stamp(S + i * PG, phase, 4);       /* touched and untouched pages */
      stamp(S + (40 + phase) * PG, phase, 5);                                /* never touched by the parent */
      for (int i = 0; i < 8; i += 3) stamp(M + (i + phase) * PG, phase, 6);
      _exit(0);
    }
    int st;
    FAIL_IF(waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0, "child of phase %d", phase);
    unsigned char buf[300];
    memset(buf, 0x60 + phase, sizeof buf);
    FAIL_IF(pwrite(mfd, buf, sizeof buf, (off_t)(2 * PG + 16 * phase)) != (ssize_t)sizeof buf, "pwrite mapped page");
    FAIL_IF(pwrite(mfd, buf, sizeof buf, (off_t)((48 + phase) * PG)) != (ssize_t)sizeof buf, "pwrite unmapped page");
    for (int i = 20; i < 24; i++) stamp(M2 + (i + phase) * PG, phase, 7);  /* the alias only */
    if (phase > 0) {
      FAIL_IF(madvise(S + (phase * 3) * PG, 2 * PG, MADV_REMOVE) != 0, "MADV_REMOVE S");
      FAIL_IF(madvise(M + (20 + phase) * PG, PG, MADV_REMOVE) != 0, "MADV_REMOVE M");
      FAIL_IF(fallocate(mfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)((48 + phase - 1) * PG), (off_t)PG) != 0,
              "fallocate punch hole");
    }
    for (int i = phase; i < NP; i += 16) stamp(P + i * PG, phase, 8);
    printf("phase %d done\n", phase);
    fflush(stdout);
    wait_phase(dir, phase);
    sum = mix64(sum ^ print_regions());
    FAIL_IF(madvise(S, NP * PG, MADV_DONTNEED) != 0 || madvise(M, NP * PG, MADV_DONTNEED) != 0 ||
                madvise(M2, NP * PG, MADV_DONTNEED) != 0,
            "MADV_DONTNEED shared");
  }
  printf("final sum=%016llx\n", (unsigned long long)sum);
  return 0;
}
