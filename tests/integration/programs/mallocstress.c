/* mallocstress: threads hammering malloc/free/realloc and stdio, for
 * checkpoints taken while glibc's allocator and FILE locks are busy.
 *
 * usage: mallocstress NTHREADS NOISE_FILE PROGRESS_FILE MAX_SECONDS
 *
 * Each worker keeps up to 64 live heap blocks of random sizes (16 B to
 * 16 KiB, from malloc, calloc, realloc and asprintf), fills each with a
 * pattern derived from its seed and verifies the pattern before freeing it;
 * every 32 operations it fprintf()s a line to NOISE_FILE (one FILE shared by
 * all workers). Every operation increments the worker's counter.
 *
 * The main thread, every 20 ms, pwrite()s one line at offset 0 of
 * PROGRESS_FILE:
 *     P <CLOCK_MONOTONIC ns> <count of worker 0> ... <count of worker N-1> <sum> E
 * (fixed-width fields, so a line always overwrites the previous one whole;
 * a reader checks the sum and the E); every 500 ms it truncates NOISE_FILE
 * (holding the FILE's lock) so that it stays small; every second it prints
 * "progress mono=NS total=N" on stdout. A corrupted block prints
 * "BAD thread=T ..." and exits 3. After MAX_SECONDS it prints "done" and
 * exits 0. Prints "ready pid=P threads=N" once every worker has started. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_THREADS = 32, LIVE = 64 };

static FILE *noise;
static unsigned long counts[MAX_THREADS];
static int started;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static uint64_t rnd(uint64_t *s) { /* xorshift64* */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}

struct block {
  unsigned char *p;
  size_t size;
  uint64_t seed;
};

static unsigned char pattern_byte(uint64_t seed, size_t i) { return (unsigned char)((seed >> (i % 56)) + i * 131u); }

static void fill(struct block *b) {
  for (size_t i = 0; i < b->size; i++) b->p[i] = pattern_byte(b->seed, i);
}

static void verify(long id, const struct block *b) {
  for (size_t i = 0; i < b->size; i++) {
    if (b->p[i] != pattern_byte(b->seed, i)) {
      printf("BAD thread=%ld block=%p size=%zu offset=%zu got=%02x expected=%02x\n", id, (void *)b->p, b->size, i,
             b->p[i], pattern_byte(b->seed, i));
      fflush(stdout);
      _exit(3);
    }
  }
}

static void *worker(void *arg) {
  long id = (long)arg;
  uint64_t s = 0x9e3779b97f4a7c15ULL * (uint64_t)(id + 1);
  struct block live[LIVE];
  memset(live, 0, sizeof live);
  __atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
  for (unsigned long op = 0;; op++) {
    struct block *b = &live[rnd(&s) % LIVE];
    if (b->p) {
      verify(id, b);
      if (op % 5 == 0) { /* grow or shrink in place or elsewhere; the kept prefix must survive */
        size_t nsize = 16 + rnd(&s) % 16384;
        unsigned char *q = realloc(b->p, nsize);
        if (!q) abort();
        b->p = q;
        size_t keep = b->size < nsize ? b->size : nsize;
        for (size_t i = 0; i < keep; i++)
          if (q[i] != pattern_byte(b->seed, i)) {
            printf("BAD thread=%ld realloc lost byte %zu of %zu\n", id, i, keep);
            fflush(stdout);
            _exit(3);
          }
        b->size = nsize;
        b->seed = rnd(&s);
        fill(b);
        goto counted;
      }
      free(b->p);
      b->p = NULL;
    } else {
      b->seed = rnd(&s);
      switch (op % 3) {
        case 0:
          b->size = 16 + rnd(&s) % 16384;
          b->p = malloc(b->size);
          break;
        case 1:
          b->size = 16 + rnd(&s) % 4096;
          b->p = calloc(1, b->size);
          if (b->p)
            for (size_t i = 0; i < b->size; i++)
              if (b->p[i]) {
                printf("BAD thread=%ld calloc byte %zu not zero\n", id, i);
                fflush(stdout);
                _exit(3);
              }
          break;
        default: {
          char *text = NULL;
          if (asprintf(&text, "thread %ld op %lu seed %016llx", id, op, (unsigned long long)b->seed) < 0) abort();
          b->size = strlen(text) + 1;
          b->p = (unsigned char *)text;
        }
      }
      if (!b->p) abort();
      fill(b);
    }
  counted:
    if (op % 32 == 0) fprintf(noise, "thread %ld op %lu live-seed %016llx\n", id, op, (unsigned long long)b->seed);
    __atomic_add_fetch(&counts[id], 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: mallocstress NTHREADS NOISE_FILE PROGRESS_FILE MAX_SECONDS\n");
    return 100;
  }
  int n = atoi(argv[1]);
  if (n < 1 || n > MAX_THREADS) return 100;
  noise = fopen(argv[2], "w");
  int progress = open(argv[3], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (!noise || progress < 0) {
    perror("open");
    return 1;
  }
  uint64_t end = now_ns() + (uint64_t)atol(argv[4]) * 1000000000ULL;
  pthread_t th[MAX_THREADS];
  for (long i = 0; i < n; i++)
    if (pthread_create(&th[i], NULL, worker, (void *)i) != 0) {
      perror("pthread_create");
      return 1;
    }
  while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < n) usleep(1000);
  printf("ready pid=%d threads=%d\n", getpid(), n);
  fflush(stdout);
  for (unsigned long tick = 1;; tick++) {
    char line[64 + MAX_THREADS * 24];
    unsigned long sum = 0;
    uint64_t t = now_ns();
    int len = snprintf(line, sizeof line, "P %20llu", (unsigned long long)t);
    for (int i = 0; i < n; i++) {
      unsigned long c = __atomic_load_n(&counts[i], __ATOMIC_RELAXED);
      sum += c;
      len += snprintf(line + len, sizeof line - len, " %20lu", c);
    }
    len += snprintf(line + len, sizeof line - len, " %20lu E\n", sum);
    if (pwrite(progress, line, len, 0) != len) {
      perror("pwrite");
      return 1;
    }
    if (tick % 25 == 0) {
      flockfile(noise);
      fflush(noise);
      if (ftruncate(fileno(noise), 0) != 0) perror("ftruncate");
      fseek(noise, 0, SEEK_SET);
      funlockfile(noise);
    }
    if (tick % 50 == 0) {
      printf("progress mono=%llu total=%lu\n", (unsigned long long)t, sum);
      fflush(stdout);
    }
    if (t >= end) break;
    usleep(20000);
  }
  printf("done\n");
  fflush(stdout);
  _exit(0); /* the workers never stop */
}
