/* api_demo: the in-application API (libckpt/include/ckpt.h).
 *
 *   ckpt-run --images imgs ./build/examples/api_demo   # takes its own checkpoint at step 5
 *   ckpt-run --restore imgs/api_demo-*.img              # resumes at step 5, says so
 *   ./build/examples/api_demo                           # without libckpt: runs, no checkpoints
 *
 * It keeps a 16 MiB table, saves it on its own with ckpt_save_range (full,
 * then incremental), leaves a scratch buffer out of the process image with
 * ckpt_exclude, and registers a callback that runs after a restore (where a
 * real program would reconnect or reopen). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt.h"

enum { kTableBytes = 16 << 20, kScratchBytes = 4 << 20 };

static void on_restore(void* arg) {
  (void)arg;
  printf("callback: restored; a real program would reconnect here\n");
  fflush(stdout);
}

static uint64_t checksum(const uint8_t* p, size_t n) {
  uint64_t h = 1469598103934665603ull, w;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    memcpy(&w, p + i, 8);
    h = (h ^ w) * 1099511628211ull;
  }
  return h;
}

int main(void) {
  int enabled = ckpt_is_enabled && ckpt_is_enabled();
  printf("api_demo: %s libckpt\n", enabled ? "running under" : "running without");
  uint8_t* table = aligned_alloc(4096, kTableBytes);
  uint8_t* scratch = aligned_alloc(4096, kScratchBytes);
  memset(table, 1, kTableBytes);
  memset(scratch, 7, kScratchBytes);
  if (enabled) {
    ckpt_exclude(scratch, kScratchBytes);  /* recomputable: not worth saving */
    ckpt_on_event(CKPT_EVENT_AFTER_RESTORE, on_restore, NULL);
  }
  for (int step = 1; step <= 10; step++) {
    for (size_t i = 0; i < kTableBytes; i += 4096 * 97) table[i + (size_t)step] ^= (uint8_t)step;
    printf("step %d table=%016llx\n", step, (unsigned long long)checksum(table, kTableBytes));
    fflush(stdout);
    if (enabled && (step == 2 || step == 3)) {
      /* The table alone: full the first time, only changed pages the second. */
      if (ckpt_save_range(table, kTableBytes, step == 2 ? "table-1.img" : "table-2.img") != 0) perror("ckpt_save_range");
      else printf("saved the table to table-%d.img\n", step - 1);
    }
    if (enabled && step == 5) {
      char path[4096];
      int r = ckpt_checkpoint(path, sizeof path);
      if (r == CKPT_AFTER_CHECKPOINT) printf("checkpoint written: %s\n", path);
      else if (r == CKPT_AFTER_RESTORE) printf("resumed from %s\n", path);
      else perror("ckpt_checkpoint");
      /* Excluded memory comes back zero after a restore: rebuild it. */
      if (scratch[0] != 7) memset(scratch, 7, kScratchBytes);
    }
    usleep(200000);
  }
  if (enabled) {
    /* Scribble over the table, then load the saved copy (step 3's) back. */
    memset(table, 0, kTableBytes);
    if (ckpt_load_range(table, kTableBytes, "table-2.img") == 0)
      printf("table loaded back from table-2.img: table=%016llx (as at step 3)\n",
             (unsigned long long)checksum(table, kTableBytes));
    else
      perror("ckpt_load_range");
  }
  printf("done\n");
  return 0;
}
