/* incr_api: checkpoints the program requests itself (ckpt_checkpoint, run
 * in libckpt's coordinator thread) with callbacks that write memory, which
 * the mprotect backend may have write-protected.
 *
 * usage: incr_api
 *
 * Built with libckpt/include; without ckpt-run it prints "no libckpt" and
 * exits 77. A 16 MiB table is partly rewritten before each of 4
 * checkpoints; the before-checkpoint callback counts its runs and flips a
 * byte of the table, the after-checkpoint callback counts its runs. Prints
 * "step N h=HASH image PATH" after each checkpoint (HASH: the table and the
 * counters as they were in the image) and exits 0. A process restored from
 * image N prints "after N h=HASH" (the same HASH) and exits 0. A failing
 * call prints "FAIL ..." and exits 1. */
#include "incr_common.h" /* first: it defines _GNU_SOURCE */

#include "ckpt.h"

#define MIB (1024UL * 1024)

static unsigned char *table;
static uint64_t *counts;

static void before(void *arg) {
  (void)arg;
  counts[0]++;
  table[12345] ^= 0x55;
}
static void after(void *arg) {
  (void)arg;
  counts[1]++;
}
static uint64_t state(void) { return hash_mem(hash_mem(1, table, 16 * MIB), counts, 16); }

int main(void) {
  if (!(ckpt_is_enabled && ckpt_is_enabled())) {
    printf("no libckpt\n");
    return 77;
  }
  table = malloc(16 * MIB);
  counts = calloc(2, sizeof *counts);
  FAIL_IF(!table || !counts, "malloc");
  memset(table, 4, 16 * MIB);
  FAIL_IF(ckpt_on_event(CKPT_EVENT_BEFORE_CHECKPOINT, before, NULL) != 0, "ckpt_on_event before");
  FAIL_IF(ckpt_on_event(CKPT_EVENT_AFTER_CHECKPOINT, after, NULL) != 0, "ckpt_on_event after");
  for (int n = 1; n <= 4; n++) {
    for (size_t i = 0; i < 16 * MIB; i += 4096 * (size_t)(n + 3)) table[i + (size_t)n] = (unsigned char)n;
    char path[4096];
    int r = ckpt_checkpoint(path, sizeof path);
    if (r == CKPT_AFTER_RESTORE) {
      printf("after %d h=%016llx\n", n, (unsigned long long)state());
      fflush(stdout);
      return 0;
    }
    FAIL_IF(r != CKPT_AFTER_CHECKPOINT, "ckpt_checkpoint %d", n);
    counts[1]--; /* as it was in the image: before the after-checkpoint callback */
    uint64_t h = state();
    counts[1]++;
    printf("step %d h=%016llx image %s\n", n, (unsigned long long)h, path);
    fflush(stdout);
  }
  return 0;
}
