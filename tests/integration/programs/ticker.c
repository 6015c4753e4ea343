/* ticker: a small deterministic application for integration tests.
 * Prints "start pid=P", then COUNT lines "tick I pid=P sum=S" one every
 * INTERVAL_MS milliseconds, then "done ticks=COUNT pid=P sum=S" and exits
 * with EXIT_CODE. S is a running checksum kept in memory, so a restored
 * process visibly continues from its checkpointed state; P is getpid() at the
 * time of printing, so a restore under another pid shows. With HEAP_MIB, it
 * first fills that much heap with a pattern that enters the checksum (an
 * image with many page blocks).
 * usage: ticker COUNT INTERVAL_MS EXIT_CODE [HEAP_MIB] */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: ticker COUNT INTERVAL_MS EXIT_CODE [HEAP_MIB]\n");
    return 100;
  }
  long count = atol(argv[1]);
  long interval_ms = atol(argv[2]);
  int exit_code = atoi(argv[3]);
  size_t heap_words = argc == 5 ? (size_t)atol(argv[4]) << 17 : 0; /* 8-byte words */
  uint64_t *heap = heap_words ? malloc(heap_words * sizeof *heap) : NULL;
  if (heap_words && !heap) {
    perror("malloc");
    return 1;
  }
  for (size_t w = 0; w < heap_words; w++) heap[w] = (w * 0x9e3779b97f4a7c15ULL) >> (w % 29);
  uint64_t sum = 0;
  printf("start pid=%d\n", getpid());
  fflush(stdout);
  for (long i = 1; i <= count; i++) {
    sum = sum * 1000003u + (uint64_t)i;
    if (heap_words) sum ^= heap[((size_t)i * 7919) % heap_words];
    printf("tick %ld pid=%d sum=%016llx\n", i, getpid(), (unsigned long long)sum);
    fflush(stdout);
    struct timespec ts = {interval_ms / 1000, (interval_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {} /* the full interval, even if interrupted */
  }
  printf("done ticks=%ld pid=%d sum=%016llx\n", count, getpid(), (unsigned long long)sum);
  fflush(stdout);
  return exit_code;
}
