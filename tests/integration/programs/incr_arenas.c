/* incr_arenas: glibc malloc arenas that grow and shrink between incremental
 * checkpoints. glibc changes them with internal calls no interposer sees:
 * brk, a non-main heap's mprotect (grow) and MADV_DONTNEED or PROT_NONE
 * (shrink), malloc_trim's MADV_DONTNEED of free pages, munmap of big
 * chunks.
 *
 * usage: incr_arenas DIR NTHREADS
 *
 * The main thread (main arena) and NTHREADS workers (each its own arena)
 * keep tables of heap blocks filled with a pattern derived from a per-block
 * seed. Phases, all threads in step:
 *   0: ~2400 blocks of 16 B to 16 KiB and two 1 MiB blocks per thread;
 *   1: free most blocks (the newest first, so the tops of the heaps shrink),
 *      the big ones too; the main thread calls malloc_trim(0);
 *   2: allocate again (malloc and calloc, whose memory must be zero) and
 *      realloc survivors bigger;
 *   3: free every other block, realloc some smaller, malloc_trim(0);
 *   4: verify and finish.
 * After each of phases 0..3: "thread T live=N bytes=B h=HASH" per thread
 * (HASH: checksum of its live blocks in table order), "phase N done", then
 * it waits for DIR/go-N (incr_common.h). At the end the same thread lines,
 * then "final sum=HASH". Every block's pattern is verified before it is
 * freed or reallocated and at every report; a wrong byte or a calloc that is
 * not zero prints "FAIL ..." and exits 1. */
#include "incr_common.h" /* first: it defines _GNU_SOURCE */
#include <malloc.h>
#include <pthread.h>


enum { MAX_THREADS = 16, MAX_BLOCKS = 4096 };

struct block {
  unsigned char *p;
  size_t size;
  uint64_t seed;
};
struct table {
  struct block b[MAX_BLOCKS];
  int n;
  uint64_t next_seed;
};
static struct table tables[MAX_THREADS + 1];
static int nthreads;
static pthread_barrier_t start_bar, done_bar;
static int current_phase;

static void fill(struct block *b) {
  uint64_t *w = (uint64_t *)b->p;
  size_t words = b->size / 8;
  for (size_t i = 0; i < words; i++) w[i] = mix64(b->seed + i);
  for (size_t i = words * 8; i < b->size; i++) b->p[i] = (unsigned char)(b->seed + i);
}

/* Byte i of what fill() wrote (size: the block's size when it was filled). */
static unsigned char pattern_byte(const struct block *b, size_t i) {
  if (i >= b->size / 8 * 8) return (unsigned char)(b->seed + i);
  uint64_t w = mix64(b->seed + i / 8);
  return ((const unsigned char *)&w)[i % 8];
}

/* Checks the first `size` bytes of a block against its pattern. */
static void verify(int t, const struct block *b, size_t size, const char *when) {
  const uint64_t *w = (const uint64_t *)b->p;
  size_t words = size / 8;
  for (size_t i = 0; i < words; i++)
    if (w[i] != mix64(b->seed + i)) {
      printf("FAIL thread %d %s: block seed=%llu size=%zu: word %zu differs\n", t, when,
             (unsigned long long)b->seed, b->size, i);
      fflush(stdout);
      exit(1);
    }
  for (size_t i = words * 8; i < size; i++)
    if (b->p[i] != pattern_byte(b, i)) {
      printf("FAIL thread %d %s: block seed=%llu size=%zu: byte %zu differs\n", t, when,
             (unsigned long long)b->seed, b->size, i);
      fflush(stdout);
      exit(1);
    }
}

static size_t pick_size(uint64_t seed) { return 16 + mix64(seed) % (16 * 1024 - 16); }

static void new_block(int t, size_t size, int zeroed) {
  struct table *tb = &tables[t];
  FAIL_IF(tb->n >= MAX_BLOCKS, "thread %d: block table full", t);
  struct block *b = &tb->b[tb->n];
  b->seed = tb->next_seed++;
  b->size = size;
  b->p = zeroed ? calloc(1, size) : malloc(size);
  FAIL_IF(!b->p, "thread %d: %s %zu", t, zeroed ? "calloc" : "malloc", size);
  if (zeroed)
    for (size_t i = 0; i < size; i++)
      if (b->p[i]) {
        printf("FAIL thread %d phase %d: calloc(%zu) returned memory with byte %zu = %#x\n", t, current_phase, size,
               i, b->p[i]);
        fflush(stdout);
        exit(1);
      }
  fill(b);
  tb->n++;
}

static void free_block(int t, int i) {
  struct table *tb = &tables[t];
  verify(t, &tb->b[i], tb->b[i].size, "before free");
  free(tb->b[i].p);
  tb->b[i] = tb->b[--tb->n]; /* the last one takes its place */
}

/* realloc keeps the old contents (up to the smaller size); the block then
 * gets a new seed and pattern. */
static void realloc_block(int t, int i, size_t size) {
  struct block *b = &tables[t].b[i];
  size_t keep = size < b->size ? size : b->size;
  unsigned char *p = realloc(b->p, size);
  FAIL_IF(!p, "thread %d: realloc %zu", t, size);
  b->p = p;
  verify(t, b, keep, "after realloc");
  b->size = size;
  b->seed = tables[t].next_seed++;
  fill(b);
}

static void do_phase(int t, int phase) {
  struct table *tb = &tables[t];
  switch (phase) {
    case 0:
      tb->next_seed = (uint64_t)(t + 1) << 40;
      for (int i = 0; i < 2400; i++) new_block(t, pick_size(tb->next_seed), 0);
      new_block(t, 1 << 20, 0);
      new_block(t, 1 << 20, 0);
      break;
    case 1:
      while (tb->n > 200) free_block(t, tb->n - 1); /* newest first: the heap top */
      for (int i = 150; i >= 0; i -= 3) free_block(t, i);
      break;
    case 2:
      for (int i = 0; i < 1200; i++) new_block(t, pick_size(tb->next_seed) / 2 + 16, i % 3 == 0);
      new_block(t, 3 << 19, 1);
      for (int i = 0; i < 40; i++) realloc_block(t, i, tb->b[i].size * 3 + 100);
      break;
    case 3:
      for (int i = tb->n - 1; i >= 0; i -= 2) free_block(t, i);
      for (int i = 0; i < 60 && i < tb->n; i++) realloc_block(t, i, tb->b[i].size / 4 + 1);
      break;
  }
}

static uint64_t report(void) {
  uint64_t sum = 0;
  for (int t = 0; t <= nthreads; t++) {
    struct table *tb = &tables[t];
    uint64_t h = 0;
    size_t bytes = 0;
    for (int i = 0; i < tb->n; i++) {
      verify(t, &tb->b[i], tb->b[i].size, "at report");
      h = hash_mem(h, tb->b[i].p, tb->b[i].size);
      bytes += tb->b[i].size;
    }
    printf("thread %d live=%d bytes=%zu h=%016llx\n", t, tb->n, bytes, (unsigned long long)h);
    sum = mix64(sum ^ h);
  }
  return sum;
}

static void *worker(void *arg) {
  int t = (int)(long)arg;
  for (int phase = 0; phase < 4; phase++) {
    pthread_barrier_wait(&start_bar);
    do_phase(t, phase);
    pthread_barrier_wait(&done_bar);
  }
  return NULL;
}

int main(int argc, char **argv) {
  check_usage(argc, 3, "incr_arenas DIR NTHREADS");
  const char *dir = argv[1];
  nthreads = atoi(argv[2]);
  FAIL_IF(nthreads < 1 || nthreads > MAX_THREADS, "bad NTHREADS %d", nthreads);
  pthread_barrier_init(&start_bar, NULL, (unsigned)nthreads + 1);
  pthread_barrier_init(&done_bar, NULL, (unsigned)nthreads + 1);
  pthread_t th[MAX_THREADS];
  for (int t = 1; t <= nthreads; t++) {
    errno = pthread_create(&th[t - 1], NULL, worker, (void *)(long)t);
    FAIL_IF(errno != 0, "pthread_create");
  }
  for (int phase = 0; phase < 4; phase++) {
    current_phase = phase;
    pthread_barrier_wait(&start_bar);
    do_phase(0, phase);
    pthread_barrier_wait(&done_bar);
    if (phase == 1 || phase == 3) malloc_trim(0);
    report();
    printf("phase %d done\n", phase);
    fflush(stdout);
    wait_phase(dir, phase);
  }
  for (int t = 1; t <= nthreads; t++) pthread_join(th[t - 1], NULL);
  uint64_t sum = report();
  printf("final sum=%016llx\n", (unsigned long long)sum);
  fflush(stdout);
  return 0;
}
