/* sparse_reserve: a huge, almost untouched address space for the benchmark.
 * Reserves 64 GiB (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE), writes 100
 * pages spread over it, prints "ready pid=P ...", then prints
 * "tick N t=NS" (CLOCK_MONOTONIC) every SLEEP_MS milliseconds, ITERS times.
 * Exit status 3 ("mmap failed") when the host refuses the reservation.
 * usage: sparse_reserve ITERS SLEEP_MS */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum { PAGE = 4096, NTOUCH = 100 };
static const uint64_t kSize = 64ULL << 30;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: sparse_reserve ITERS SLEEP_MS\n");
    return 2;
  }
  long iters = atol(argv[1]), sleep_ms = atol(argv[2]);
  char *base = mmap(NULL, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) {
    printf("mmap failed: %s\n", strerror(errno));
    return 3;
  }
  for (uint64_t i = 0; i < NTOUCH; i++) /* spread over the whole reservation */
    memset(base + i * (kSize / NTOUCH / PAGE) * PAGE + (i % 7) * PAGE, (int)(i + 1), PAGE);
  printf("ready pid=%d base=%p size=%llu touched=%d\n", getpid(), (void *)base, (unsigned long long)kSize, NTOUCH);
  fflush(stdout);
  for (long it = 0; it < iters; it++) {
    struct timespec ts = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
    printf("tick %ld t=%llu\n", it, (unsigned long long)now_ns());
    fflush(stdout);
  }
  return 0;
}
