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
 *   "loaded 2 h=HASH", "loaded 1 h=HASH", "zero pages ok".
 * Then, with a 1 MiB range B:
 *   - saved twice to DIR/same.img, changed in between, loaded back:
 *     "same path ok" (the second save cannot build on the file it replaces);
 *   - saved to DIR/b1.img, changed, saved to DIR/b2.img (built on b1),
 *     changed, saved to DIR/b1.img again: loading b1.img gives the newest
 *     contents, loading b2.img (whose parent was replaced) fails:
 *     "replaced parent ok";
 *   - one page of B made PROT_NONE, saved to DIR/prot.img, made writable
 *     again and scribbled over, loaded back: "prot_none ok";
 *   - B made read-only: ckpt_load_range fails with EFAULT (and does not
 *     crash): "read-only refused ok";
 * then "done" and exit 0; a failing call or a wrong page prints "FAIL ..."
 * and exits 1. The test compares the sizes and the hashes. */
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

#define BSIZE (1UL << 20)

static void fill_b(unsigned char *b, int seed) {
  for (size_t i = 0; i < BSIZE; i += 8) *(uint64_t *)(b + i) = mix64(i + (uint64_t)seed * 0x1000000);
}

static void expect_b(unsigned char *b, const char *path, uint64_t want, const char *what) {
  memset(b, 0xCD, BSIZE);
  FAIL_IF(ckpt_load_range(b, BSIZE, path) != 0, "%s: ckpt_load_range %s", what, path);
  if (hash_mem(0, b, BSIZE) != want) {
    printf("FAIL %s: %s does not give the saved contents back\n", what, path);
    fflush(stdout);
    exit(1);
  }
}

static void more_checks(const char *dir) {
  char same[4096], b1[4096], b2[4096], prot[4096];
  snprintf(same, sizeof same, "%s/same.img", dir);
  snprintf(b1, sizeof b1, "%s/b1.img", dir);
  snprintf(b2, sizeof b2, "%s/b2.img", dir);
  snprintf(prot, sizeof prot, "%s/prot.img", dir);
  unsigned char *b = mmap(NULL, BSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  FAIL_IF(b == MAP_FAILED, "mmap 1 MiB");

  fill_b(b, 1);
  FAIL_IF(ckpt_save_range(b, BSIZE, same) != 0, "ckpt_save_range %s", same);
  b[5] ^= 1;
  uint64_t want = hash_mem(0, b, BSIZE);
  FAIL_IF(ckpt_save_range(b, BSIZE, same) != 0, "ckpt_save_range %s again", same);
  expect_b(b, same, want, "same path");
  printf("same path ok\n");

  fill_b(b, 2);
  FAIL_IF(ckpt_save_range(b, BSIZE, b1) != 0, "ckpt_save_range %s", b1);
  b[100] ^= 1;
  FAIL_IF(ckpt_save_range(b, BSIZE, b2) != 0, "ckpt_save_range %s", b2);
  b[9000] ^= 1;
  want = hash_mem(0, b, BSIZE);
  FAIL_IF(ckpt_save_range(b, BSIZE, b1) != 0, "ckpt_save_range %s again", b1);
  expect_b(b, b1, want, "replaced parent");
  if (ckpt_load_range(b, BSIZE, b2) == 0) {
    printf("FAIL replaced parent: %s loaded although its parent %s was replaced\n", b2, b1);
    fflush(stdout);
    exit(1);
  }
  printf("replaced parent ok\n");

  fill_b(b, 3);
  want = hash_mem(0, b, BSIZE);
  FAIL_IF(mprotect(b + 8 * PG, PG, PROT_NONE) != 0, "mprotect PROT_NONE");
  FAIL_IF(ckpt_save_range(b, BSIZE, prot) != 0, "ckpt_save_range with a PROT_NONE page");
  FAIL_IF(mprotect(b + 8 * PG, PG, PROT_READ | PROT_WRITE) != 0, "mprotect back");
  expect_b(b, prot, want, "prot_none");
  printf("prot_none ok\n");

  FAIL_IF(mprotect(b, BSIZE, PROT_READ) != 0, "mprotect read-only");
  errno = 0;
  if (ckpt_load_range(b, BSIZE, prot) == 0 || errno != EFAULT) {
    printf("FAIL ckpt_load_range into read-only memory: rc=0 or errno %s, expected EFAULT\n", strerror(errno));
    fflush(stdout);
    exit(1);
  }
  printf("read-only refused ok\n");
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
  more_checks(argv[1]);
  printf("done\n");
  fflush(stdout);
  return 0;
}
