/* incr_zap: pages discarded without a write fault between incremental
 * checkpoints, in a process large enough that the mprotect backend tracks
 * it in chunks of several pages.
 *
 * usage: incr_zap DIR MIB
 *
 * Maps and fills MIB MiB (each page a different byte pattern). Each of
 * phases 0..3 (phase 0 changes nothing):
 *   - in 64 chunks spread over the region: MADV_DONTNEED a page, read it
 *     back (a zero page is now present), then write the next page (the
 *     first write to that chunk since the checkpoint);
 *   - MADV_FREE + MADV_PAGEOUT of 32 pages, some of them read back;
 *   - MADV_DONTNEED of 16 pages and the same contents written back to 8;
 *   - a page overwritten with zeros;
 * then "phase N done", waits for DIR/go-N (incr_common.h), and prints
 * "region A h=HASH". Phase 4: "final sum=HASH". A failing call prints
 * "FAIL ..." and exits 1. */
#include "incr_common.h" /* first: it defines _GNU_SOURCE */
#include <sys/mman.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#define PG 4096UL

static unsigned char *A;
static size_t len;

static void fill_page(size_t i) { memset(A + i * PG, (int)(1 + (i & 0x7f)), PG); }

int main(int argc, char **argv) {
  check_usage(argc, 3, "incr_zap DIR MIB");
  len = (size_t)atol(argv[2]) << 20;
  size_t pages = len / PG;
  A = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  FAIL_IF(A == MAP_FAILED, "mmap");
  for (size_t i = 0; i < pages; i++) fill_page(i);
  volatile unsigned char sink = 0;
  uint64_t sum = 0;
  for (int phase = 0; phase < 4; phase++) {
    if (phase > 0) {
      for (size_t c = 0; c < 64; c++) {
        size_t p = (c * (pages / 64) + (size_t)phase * 16) & ~(size_t)63; /* chunk-aligned for chunks up to 256 KiB */
        FAIL_IF(madvise(A + p * PG, PG, MADV_DONTNEED) != 0, "MADV_DONTNEED");
        sink += A[p * PG + 10];
        A[(p + 1) * PG + 5] = (unsigned char)phase;
      }
      size_t f = pages / 3 + (size_t)phase * 64;
      FAIL_IF(madvise(A + f * PG, 32 * PG, MADV_FREE) != 0, "MADV_FREE");
      if (madvise(A + f * PG, 32 * PG, MADV_PAGEOUT) != 0) FAIL_IF(errno != EINVAL, "MADV_PAGEOUT");
      for (size_t i = 0; i < 32; i += 4) sink += A[(f + i) * PG];
      size_t d = pages / 2 + (size_t)phase * 64;
      FAIL_IF(madvise(A + d * PG, 16 * PG, MADV_DONTNEED) != 0, "MADV_DONTNEED 16");
      for (size_t i = 0; i < 8; i++) fill_page(d + i);
      memset(A + (pages - 1 - (size_t)phase) * PG, 0, PG);
    }
    printf("phase %d done\n", phase);
    fflush(stdout);
    wait_phase(argv[1], phase);
    uint64_t h = hash_mem(5, A, len);
    printf("region A h=%016llx\n", (unsigned long long)h);
    fflush(stdout);
    sum = mix64(sum ^ h);
  }
  (void)sink;
  printf("final sum=%016llx\n", (unsigned long long)sum);
  return 0;
}
