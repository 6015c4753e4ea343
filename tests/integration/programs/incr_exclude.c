/* incr_exclude: ckpt_exclude()/ckpt_include() between incremental
 * checkpoints. A range included again must be in the next image even if it
 * was not written since: the image it builds on left it out.
 *
 * usage: incr_exclude DIR
 *
 * Built with libckpt/include (weak symbols): without ckpt-run the API is
 * absent and the program does the same work without it (the output is the
 * same). Buffers: OTHER (4 MiB, malloc), BUF (2 MiB, mmap), PART (8 pages,
 * excluded in two calls of 4 pages). A buffer this program excluded is
 * scratch: after each DIR/go-N it is filled again if it does not hold its
 * contents (a restored process finds it zero), without writing it
 * otherwise.
 *   phase 0: BUF and PART excluded and filled
 *   phase 1: OTHER written
 *   phase 2: BUF included again (not written since phase 0), PART pages 2..5
 *            included (across the two excluded ranges), OTHER written
 *   phase 3: the rest of PART included, OTHER written
 * Each phase prints "phase N done", waits for DIR/go-N (incr_common.h), and
 * prints "region NAME h=HASH" for OTHER and each included part, "region NAME
 * excluded" for the others. Then "final sum=HASH". A failing call prints
 * "FAIL ..." and exits 1. */
#include "incr_common.h" /* first: it defines _GNU_SOURCE */
#include <sys/mman.h>

#include "ckpt.h"

#define PG 4096UL
#define MIB (1024UL * 1024)

static unsigned char *other, *buf, *part;
static int buf_excluded, part_excluded[8];
static int api;

static void exclude(void *p, size_t len) {
  if (api) FAIL_IF(ckpt_exclude(p, len) != 0, "ckpt_exclude");
}
static void include(void *p, size_t len) {
  if (api) FAIL_IF(ckpt_include(p, len) != 0, "ckpt_include");
}

static void refill_scratch(void) {
  if (buf_excluded && buf[0] != 0x5a) memset(buf, 0x5a, 2 * MIB);
  for (int i = 0; i < 8; i++)
    if (part_excluded[i] && part[i * PG] != 0x30 + i) memset(part + i * PG, 0x30 + i, PG);
}

static uint64_t report(void) {
  uint64_t sum = hash_mem(1, other, 4 * MIB);
  printf("region other h=%016llx\n", (unsigned long long)sum);
  if (buf_excluded) {
    printf("region buf excluded\n");
  } else {
    uint64_t h = hash_mem(2, buf, 2 * MIB);
    printf("region buf h=%016llx\n", (unsigned long long)h);
    sum = mix64(sum ^ h);
  }
  for (int i = 0; i < 8; i++) {
    if (part_excluded[i]) {
      printf("region part%d excluded\n", i);
    } else {
      uint64_t h = hash_mem(3, part + i * PG, PG);
      printf("region part%d h=%016llx\n", i, (unsigned long long)h);
      sum = mix64(sum ^ h);
    }
  }
  fflush(stdout);
  return sum;
}

int main(int argc, char **argv) {
  check_usage(argc, 2, "incr_exclude DIR");
  api = ckpt_is_enabled && ckpt_is_enabled();
  other = malloc(4 * MIB);
  FAIL_IF(!other, "malloc");
  memset(other, 3, 4 * MIB);
  buf = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  part = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  FAIL_IF(buf == MAP_FAILED || part == MAP_FAILED, "mmap");
  uint64_t sum = 0;
  for (int phase = 0; phase < 4; phase++) {
    if (phase == 0) {
      exclude(buf, 2 * MIB);
      buf_excluded = 1;
      exclude(part, 4 * PG);
      exclude(part + 4 * PG, 4 * PG);
      for (int i = 0; i < 8; i++) part_excluded[i] = 1;
      refill_scratch();
    } else if (phase == 2) {
      include(buf, 2 * MIB);
      buf_excluded = 0;
      include(part + 2 * PG, 4 * PG);
      for (int i = 2; i < 6; i++) part_excluded[i] = 0;
    } else if (phase == 3) {
      include(part, 8 * PG);
      for (int i = 0; i < 8; i++) part_excluded[i] = 0;
    }
    if (phase > 0) other[phase * 1000] = (unsigned char)phase;
    printf("phase %d done\n", phase);
    fflush(stdout);
    wait_phase(argv[1], phase);
    refill_scratch();
    sum = mix64(sum ^ report());
  }
  printf("final sum=%016llx\n", (unsigned long long)sum);
  return 0;
}
