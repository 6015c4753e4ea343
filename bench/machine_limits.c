/* machine_limits: what this machine can do, measured now, so that checkpoint
 * and restore times can be reported as ratios to it (absolute times drift on
 * shared VMs). Prints one JSON object on stdout:
 *
 *   memcpy    copy bandwidth over a large warm buffer (bytes copied per second)
 *   zstd      level-1 compression (ZSTD_compressCCtx, 1 MiB chunks, one core)
 *             and decompression (ZSTD_decompressDCtx into warm memory) of data
 *             filled exactly the way memwalk fills its memory; compression ratio
 *   zstd_dirtied  the same after ITERS of memwalk's iterations at 2% (one
 *             word rewritten in 2% of the pages each): zstd-1 compresses that
 *             data better and much faster than the pristine fill
 *   populate  MADV_POPULATE_WRITE over fresh anonymous memory
 *   fault     first-touch page faults, one byte written per fresh page
 *   populate_touch  the first write to each page just populated by
 *             MADV_POPULATE_WRITE (free on bare metal; a hypervisor that
 *             shadows page tables charges it here, and a restore pays it)
 *   fork_read the first read of each resident page by a freshly forked child
 *             (what libckpt's forked image writer pays before compressing)
 *   cow       the parent's first write to each page while that child lives
 *             (copy-on-write: what the application pays during such a checkpoint)
 *
 * Every figure is the median of REPS timed repetitions (after one warm-up
 * where it matters); "best" is the fastest one. GB/s means 1e9 bytes/s.
 *
 * usage: machine_limits [MIB [REPS [ITERS]]]   (defaults: 512 MiB, 5 repetitions, 30 iterations) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "bench_common.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

enum { PAGE = 4096, WORDS = PAGE / 8, CHUNK = 1 << 20, MAX_REPS = 64 };

static void *map_fresh(size_t len) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap");
  return p; /* no madvise: transparent huge pages as the system decides, as for memwalk */
}

/* memwalk.c's mix() and fill(), for one thread: a quarter of each page random,
 * the rest small values. Kept identical so the compression figures describe
 * the data a memwalk checkpoint compresses. */
static uint64_t mix(uint64_t x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33; return x;
}
static void memwalk_fill(uint64_t *mem, size_t npages) {
  for (size_t p = 0; p < npages; p++)
    for (int w = 0; w < WORDS; w++)
      mem[p * WORDS + w] = w < WORDS / 4 ? mix(p * WORDS + w) : (p + w) & 0xff;
}

/* memwalk.c's step() for one thread, DIRTY_PCT = 2: iteration IT rewrites
 * one word in each of 2% of the pages (chosen at random, with repeats). */
static void memwalk_step(uint64_t *mem, size_t npages, int it) {
  size_t n = npages * 2 / 100;
  for (size_t k = 0; k < n; k++) {
    size_t p = mix(((uint64_t)it << 32) ^ (k * 2654435761u) ^ 0) % npages;
    uint64_t *wp = &mem[p * WORDS + (k % WORDS)];
    *wp = mix(*wp + (uint64_t)it);
  }
}

static void print_rate(const char *name, double bytes, double *t, int reps, int last) {
  double best = t[0];
  for (int i = 1; i < reps; i++) if (t[i] < best) best = t[i];
  double med = median(t, reps);
  printf("  \"%s\": {\"seconds\": %.6f, \"gbps\": %.4f, \"best_gbps\": %.4f, "
         "\"us_per_page\": %.5f, \"bytes\": %.0f}%s\n",
         name, med, bytes / med / 1e9, bytes / best / 1e9, med * 1e6 / (bytes / PAGE), bytes, last ? "" : ",");
}

/* Compresses len bytes of src in 1 MiB chunks with ZSTD_compressCCtx at
 * level 1 (one warm-up round, then reps timed), decompresses them into dst
 * with ZSTD_decompressDCtx the same way, checks the round trip, prints
 * "name": {...}. */
static void measure_zstd(const char *name, const char *src, char *dst, size_t len, int reps, int iters) {
  double ct[MAX_REPS], dt[MAX_REPS];
  size_t nchunks = len / CHUNK, bound = ZSTD_compressBound(CHUNK);
  char *comp = map_fresh(nchunks * bound);
  memset(comp, 0, nchunks * bound);
  size_t *csize = calloc(nchunks, sizeof *csize);
  ZSTD_CCtx *cctx = ZSTD_createCCtx();
  ZSTD_DCtx *dctx = ZSTD_createDCtx();
  if (!csize || !cctx || !dctx) die("zstd contexts");
  size_t total_c = 0;
  for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
    double t0 = now_s();
    total_c = 0;
    for (size_t c = 0; c < nchunks; c++) {
      size_t n = ZSTD_compressCCtx(cctx, comp + c * bound, bound, src + c * CHUNK, CHUNK, 1);
      if (ZSTD_isError(n)) { fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(n)); exit(1); }
      csize[c] = n;
      total_c += n;
    }
    if (r >= 0) ct[r] = now_s() - t0;
  }
  for (int r = -1; r < reps; r++) {
    double t0 = now_s();
    for (size_t c = 0; c < nchunks; c++) {
      size_t n = ZSTD_decompressDCtx(dctx, dst + c * CHUNK, CHUNK, comp + c * bound, csize[c]);
      if (n != CHUNK) { fprintf(stderr, "zstd: decompression failed\n"); exit(1); }
    }
    if (r >= 0) dt[r] = now_s() - t0;
  }
  if (memcmp(src, dst, len) != 0) { fprintf(stderr, "zstd: round trip differs\n"); exit(1); }
  printf("  \"%s\": {\"version\": \"%s\", \"level\": 1, \"chunk_bytes\": %d, \"memwalk_iterations\": %d, "
         "\"ratio\": %.4f, \"compressed_bytes\": %zu,\n", name, ZSTD_versionString(), CHUNK, iters,
         (double)len / (double)total_c, total_c);
  printf("  ");
  print_rate("compress", (double)len, ct, reps, 0);
  printf("  ");
  print_rate("decompress", (double)len, dt, reps, 1);
  printf("  },\n");
  ZSTD_freeCCtx(cctx);
  ZSTD_freeDCtx(dctx);
  free(csize);
  munmap(comp, nchunks * bound);
}

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 512;
  int reps = argc > 2 ? atoi(argv[2]) : 5;
  int dirty_iters = argc > 3 ? atoi(argv[3]) : 30;
  if (mib < 8 || reps < 1 || reps > MAX_REPS || dirty_iters < 0) {
    fprintf(stderr, "usage: machine_limits [MIB>=8 [REPS 1..%d [ITERS>=0]]]\n", MAX_REPS);
    return 2;
  }
  size_t len = mib << 20, npages = len / PAGE;
  double t[MAX_REPS];

  printf("{\n  \"buffer_mib\": %zu,\n  \"reps\": %d,\n", mib, reps);

  /* memcpy: both buffers populated and one untimed copy first (warm). */
  char *src = map_fresh(len), *dst = map_fresh(len);
  memset(src, 0x5a, len);
  memset(dst, 0, len);
  memcpy(dst, src, len);
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    memcpy(dst, src, len);
    t[r] = now_s() - t0;
  }
  print_rate("memcpy", (double)len, t, reps, 0);

  /* fork: the child's first read of each page, the parent's copy-on-write,
   * over the first 64 MiB (copy-on-write can be very slow under a hypervisor). */
  double tc[MAX_REPS], tfork[MAX_REPS];
  size_t flen = len < (64u << 20) ? len : (64u << 20);
  for (int r = 0; r < reps; r++) {
    int res[2], go[2];
    if (pipe(res) != 0 || pipe(go) != 0) die("pipe");
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      double a = now_s();
      volatile const char *q = src;
      unsigned sum = 0;
      for (size_t i = 0; i < flen; i += PAGE) sum += (unsigned char)q[i];
      double d = now_s() - a + (sum == 1 ? 1e-12 : 0);
      if (write(res[1], &d, sizeof d) != sizeof d) _exit(1);
      char c;
      close(go[1]);
      while (read(go[0], &c, 1) > 0) {} /* stay alive while the parent writes */
      _exit(0);
    }
    tfork[r] = now_s() - t0;
    if (read(res[0], &t[r], sizeof t[r]) != sizeof t[r]) die("read from the child");
    double a = now_s();
    for (size_t i = 0; i < flen; i += PAGE) src[i] = (char)r;
    tc[r] = now_s() - a;
    close(go[1]);
    close(go[0]);
    close(res[0]);
    close(res[1]);
    waitpid(pid, NULL, 0);
  }
  printf("  \"fork_ms\": %.3f,\n", median(tfork, reps) * 1e3);
  print_rate("fork_read", (double)flen, t, reps, 0);
  print_rate("cow", (double)flen, tc, reps, 0);

  /* zstd level 1, 1 MiB chunks, over memwalk's data (src), into dst: as
   * memwalk fills it, then after DIRTY_ITERS of its iterations. */
  memwalk_fill((uint64_t *)src, npages);
  measure_zstd("zstd", src, dst, len, reps, 0);
  for (int it = 0; it < dirty_iters; it++) memwalk_step((uint64_t *)src, npages, it);
  measure_zstd("zstd_dirtied", src, dst, len, reps, dirty_iters);
  munmap(src, len);
  munmap(dst, len);

  /* MADV_POPULATE_WRITE over fresh anonymous memory (one untimed round first). */
  int populate_ok = 1;
  for (int r = -1; r < reps && populate_ok; r++) {
    volatile char *p = map_fresh(len);
    double t0 = now_s();
    if (madvise((void *)p, len, MADV_POPULATE_WRITE) != 0) populate_ok = 0;
    double t1 = now_s();
    for (size_t i = 0; i < len; i += PAGE) p[i] = 1;
    if (r >= 0) t[r] = t1 - t0, tc[r] = now_s() - t1;
    munmap((void *)p, len);
  }
  if (populate_ok) {
    print_rate("populate", (double)len, t, reps, 0);
    print_rate("populate_touch", (double)len, tc, reps, 0);
  } else {
    printf("  \"populate\": null, \"populate_touch\": null, \"populate_error\": \"%s\",\n", strerror(errno));
  }

  /* First-touch faults: one byte written per fresh page. */
  for (int r = -1; r < reps; r++) {
    volatile char *p = map_fresh(len);
    double t0 = now_s();
    for (size_t i = 0; i < len; i += PAGE) p[i] = 1;
    if (r >= 0) t[r] = now_s() - t0;
    munmap((void *)p, len);
  }
  print_rate("fault", (double)len, t, reps, 1);
  printf("}\n");
  return 0;
}
