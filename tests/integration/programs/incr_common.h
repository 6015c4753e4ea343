/* Helpers shared by the incr_* fixtures (tests_incremental.py).
 *
 * - mix64/hash_mem: a deterministic checksum (the same in an undisturbed run
 *   and in a restored one).
 * - FAIL_IF: prints "FAIL <what>: <errno text>" on stdout and exits 1, so a
 *   call that failed under a tracking backend is named in the output.
 * - check_usage: the argument count, or "usage: ..." and exit 100.
 * - wait_phase(DIR, N): prints nothing; waits (bounded, 300 s) until the
 *   file DIR/go-N exists. The fixtures print "phase N ..." and then wait
 *   there, so a test checkpoints them at a known point; an undisturbed run
 *   gets all the go-N files created in advance. */
#ifndef INCR_COMMON_H
#define INCR_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static inline uint64_t hash_mem(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = (const unsigned char *)p;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, b + i, 8);
    h = mix64(h ^ w) + i;
  }
  for (; i < n; i++) h = mix64(h ^ b[i]);
  return h;
}

#define FAIL_IF(cond, ...)                                  \
  do {                                                      \
    if (cond) {                                             \
      int e_ = errno;                                       \
      printf("FAIL ");                                      \
      printf(__VA_ARGS__);                                  \
      printf(": %s\n", strerror(e_));                       \
      fflush(stdout);                                       \
      exit(1);                                              \
    }                                                       \
  } while (0)

/* Exits 100 with "usage: USAGE" unless argc == want. */
static inline void check_usage(int argc, int want, const char *usage) {
  if (argc != want) {
    fprintf(stderr, "usage: %s\n", usage);
    exit(100);
  }
}

static inline void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static inline void wait_phase(const char *dir, int n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/go-%d", dir, n);
  for (int i = 0; i < 30000; i++) {
    if (access(path, F_OK) == 0) return;
    sleep_ms(10);
  }
  printf("FAIL timed out waiting for %s\n", path);
  fflush(stdout);
  exit(3);
}

#endif
