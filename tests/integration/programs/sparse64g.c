/* sparse64g: a huge, almost empty address space.
 * Reserves 64 GiB with MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, writes
 * distinct values into 100 pages spread over it, prints "ready pid=P", then
 * sleeps ITERS times 100 ms ("wait I" lines). At the end it checks the 100
 * values, that untouched pages still read as zero, that the mapping still has
 * the MAP_NORESERVE flag (VmFlags "nr" in /proc/self/smaps) and that fresh
 * pages can be written, and prints "OK" (exit 0) or "BAD what" (exit 1).
 * Exit status 3 with "mmap failed" means the host refuses the reservation.
 * usage: sparse64g ITERS */
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

static uint64_t mix(uint64_t x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33; return x;
}
static uint64_t touched_page(int i) { /* spread, not aligned to any power of two */
  return (uint64_t)i * (kSize / PAGE / NTOUCH) + (uint64_t)(i * 7919 % 1021);
}
static uint64_t *word(char *base, uint64_t page, int w) {
  return (uint64_t *)(base + page * PAGE) + w;
}

/* Does the region starting at BASE carry VmFlags "nr" (MAP_NORESERVE)? */
static int has_noreserve(char *base) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f) return -1;
  char line[512];
  int in_region = 0, found = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long start, end; /* a region's first line: "start-end perms ..." */
    if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
      in_region = start == (unsigned long)base;
      continue;
    }
    if (in_region && strncmp(line, "VmFlags:", 8) == 0) {
      found = strstr(line, " nr") != NULL;
      break;
    }
  }
  fclose(f);
  return found;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: sparse64g ITERS\n");
    return 100;
  }
  long iters = atol(argv[1]);
  char *base = mmap(NULL, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) {
    printf("mmap failed: %s\n", strerror(errno));
    return 3;
  }
  for (int i = 0; i < NTOUCH; i++) {
    *word(base, touched_page(i), 0) = mix((uint64_t)i + 1);
    *word(base, touched_page(i), PAGE / 8 - 1) = ~mix((uint64_t)i + 1);
  }
  printf("ready pid=%d base=%p size=%llu\n", getpid(), (void *)base, (unsigned long long)kSize);
  fflush(stdout);
  for (long it = 1; it <= iters; it++) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    while (nanosleep(&ts, &ts) != 0) {}
    printf("wait %ld\n", it);
    fflush(stdout);
  }
  int bad = 0;
  for (int i = 0; i < NTOUCH; i++) {
    uint64_t a = *word(base, touched_page(i), 0), b = *word(base, touched_page(i), PAGE / 8 - 1);
    if (a != mix((uint64_t)i + 1) || b != ~mix((uint64_t)i + 1)) {
      printf("BAD page %d (offset %#llx): %016llx %016llx\n", i,
             (unsigned long long)(touched_page(i) * PAGE), (unsigned long long)a, (unsigned long long)b);
      bad = 1;
    }
    uint64_t untouched = touched_page(i) + 1;
    if (*word(base, untouched, 0) != 0 || *word(base, untouched, 17) != 0) {
      printf("BAD untouched page after page %d is not zero\n", i);
      bad = 1;
    }
  }
  int nr = has_noreserve(base);
  if (nr != 1) {
    printf("BAD mapping at %p lost MAP_NORESERVE (VmFlags nr: %d)\n", (void *)base, nr);
    bad = 1;
  }
  for (int i = 0; i < 8; i++) { /* fresh pages, including the very last one */
    uint64_t page = i == 7 ? kSize / PAGE - 1 : touched_page(i * 13) + 3;
    *word(base, page, 3) = 42 + (uint64_t)i;
    if (*word(base, page, 3) != 42 + (uint64_t)i) {
      printf("BAD fresh page %d cannot be written\n", i);
      bad = 1;
    }
  }
  printf(bad ? "BAD\n" : "OK\n");
  return bad;
}
