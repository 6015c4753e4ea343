/* manymaps: a process with very many mappings and a few threads.
 * Maps N two-page anonymous regions with alternating protections (so the
 * kernel cannot merge them), writes a distinct byte into every writable one,
 * starts 4 threads that count, prints "ready N", then every 100 ms for ITERS
 * rounds checks every region ("round I bad B", B regions with the wrong
 * byte). Exit 0 if no round found a bad region.
 * usage: manymaps N ITERS */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

enum { NTHREADS = 4 };
static atomic_long counters[NTHREADS];

static void *count(void *arg) {
  long i = (long)arg;
  struct timespec ms = {0, 1000000};
  for (;;) {
    atomic_fetch_add(&counters[i], 1);
    nanosleep(&ms, NULL);
  }
  return NULL;
}

static char byte_of(int i) { return (char)(i * 31 + 7); }

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: manymaps N ITERS\n");
    return 100;
  }
  int n = atoi(argv[1]), iters = atoi(argv[2]);
  setvbuf(stdout, NULL, _IOLBF, 0);
  char **maps = calloc((size_t)n, sizeof *maps);
  for (int i = 0; i < n; i++) {
    int prot = (i & 1) ? PROT_READ | PROT_WRITE : PROT_READ;
    maps[i] = mmap(NULL, 8192, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (maps[i] == MAP_FAILED) {
      perror("mmap");
      return 3;
    }
    if (i & 1) maps[i][4096] = byte_of(i);
  }
  pthread_t t[NTHREADS];
  for (long i = 0; i < NTHREADS; i++) pthread_create(&t[i], NULL, count, (void *)i);
  printf("ready %d\n", n);
  int failed = 0;
  struct timespec pause = {0, 100 * 1000000};
  for (int r = 0; r < iters; r++) {
    nanosleep(&pause, NULL);
    int bad = 0;
    for (int i = 0; i < n; i++)
      if (maps[i][4096] != ((i & 1) ? byte_of(i) : 0)) bad++;
    printf("round %d bad %d\n", r, bad);
    failed |= bad != 0;
  }
  return failed;
}
