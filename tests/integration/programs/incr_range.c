/* incr_range: the range API of include/ckpt.h (ckpt_save_range,
 * ckpt_load_range).
 *
 * usage: incr_range DIR
 *
 * Without libckpt (the API's weak symbols are null) it prints
 * "no libckpt: ..." and exits 77. Under ckpt-run: a 64 MiB page-aligned
 * array, pseudo-random except every 10th page left zero, is saved to
 * DIR/range-1.img; 1% of its pages are changed (every 100th page: one word
 * changed, and of those every 4th one cleared to zero instead), it is saved
 * again to DIR/range-2.img (an incremental image of range-1.img), then
 * filled with 0xAB and loaded back from range-2.img; then loaded from
 * range-1.img, which must give the original contents. Prints
 *   "saved 1 size=BYTES h=HASH", "saved 2 size=BYTES h=HASH" (HASH: checksum
 *   of the array when it was saved),
 *   "loaded 2 h=HASH", "loaded 1 h=HASH", "zero pages ok" and "done",
 * and exits 0; a failing call or a wrong page prints "FAIL ..." and exits
 * 1. The test compares the sizes and the hashes. */
#include "incr_common.h" /* first: it defines _GNU_SOURCE */
#include <sys/mman.h>
#include <sys/stat.h>

#include "ckpt.h"

#define PG 4096UL
#define SIZE (64UL << 20)
#define NPAGES (SIZE / PG)

static int zero_page(size_t p) { return p % 10 == 0 || (p % 100 == 55 && (p / 100) % 4 == 0); }

static uint64_t checksum(const unsigned char *a) { return hash_mem(0, a, SIZE); }

static long file_size(const char *path) {
  struct stat st;
  FAIL_IF(stat(path, &st) != 0, "stat %s", path);
  return (long)st.st_size;
}

static void save(const unsigned char *a, const char *path, int n) {
  FAIL_IF(ckpt_save_range(a, SIZE, path) != 0, "ckpt_save_range %s", path);
  printf("saved %d size=%ld h=%016llx\n", n, file_size(path), (unsigned long long)checksum(a));
  fflush(stdout);
}

static void load(unsigned char *a, const char *path, int n) {
  memset(a, 0xAB, SIZE);
  FAIL_IF(ckpt_load_range(a, SIZE, path) != 0, "ckpt_load_range %s", path);
  printf("loaded %d h=%016llx\n", n, (unsigned long long)checksum(a));
  fflush(stdout);
}

int main(int argc, char **argv) {
  check_usage(argc, 2, "incr_range DIR");
  if (!ckpt_save_range || !ckpt_load_range || !ckpt_is_enabled || !ckpt_is_enabled()) {
    printf("no libckpt: the range API needs the program to run under ckpt-run\n");
    return 77;
  }
  char p1[4096], p2[4096];
  snprintf(p1, sizeof p1, "%s/range-1.img", argv[1]);
  snprintf(p2, sizeof p2, "%s/range-2.img", argv[1]);

  unsigned char *a = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  FAIL_IF(a == MAP_FAILED, "mmap 64 MiB");
  for (size_t p = 0; p < NPAGES; p++) {
    if (p % 10 == 0) continue;
    uint64_t *w = (uint64_t *)(a + p * PG);
    for (size_t i = 0; i < PG / 8; i++) w[i] = mix64(p * 512 + i + 1);
  }
  save(a, p1, 1);

  for (size_t p = 55; p < NPAGES; p += 100) {
    if ((p / 100) % 4 == 0) memset(a + p * PG, 0, PG); /* a page that had data becomes zero */
    else ((uint64_t *)(a + p * PG))[p % 512] ^= 0x5555aaaa5555aaaaULL;
  }
  save(a, p2, 2);
  uint64_t h2 = checksum(a);

  load(a, p2, 2);
  for (size_t p = 0; p < NPAGES; p++)
    if (zero_page(p))
      for (size_t i = 0; i < PG; i++)
        if (a[p * PG + i]) {
          printf("FAIL after loading range-2.img page %zu byte %zu is %#x, expected zero\n", p, i, a[p * PG + i]);
          fflush(stdout);
          return 1;
        }
  printf("zero pages ok\n");
  if (checksum(a) != h2) {
    printf("FAIL loading range-2.img did not give the saved contents back\n");
    fflush(stdout);
    return 1;
  }
  load(a, p1, 1);
  printf("done\n");
  fflush(stdout);
  return 0;
}
