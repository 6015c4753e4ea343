/* incr_tls: a program with 64 KiB of static TLS (a __thread buffer), so
 * that its threads' TLS blocks span pages apart from their thread control
 * blocks (errno, libckpt's per-thread state): libckpt's signal handlers
 * write those while checkpointing, with SIGSEGV blocked, so the mprotect
 * backend must never write-protect them.
 *
 * usage: incr_tls DIR
 *
 * The main thread and one worker each fill their own TLS buffer; a 4 MiB
 * heap buffer is rewritten in part. In phases 1..3 a short-lived thread
 * runs on a stack the program allocated before the first checkpoint (its
 * TLS and control block, which the kernel writes at creation and exit, are
 * in that block) and is joined. Phases 0..3: "phase N done", wait for
 * DIR/go-N (incr_common.h), then "tls main h=HASH", "tls worker h=HASH",
 * "tls short-lived h=HASH" (0 in phase 0), "heap h=HASH". Then
 * "final sum=HASH". A failing call prints "FAIL ..." and exits 1. */
#include "incr_common.h" /* first: it defines _GNU_SOURCE */
#include <pthread.h>

static __thread unsigned char tlsbuf[65536];
static unsigned char *heap;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int worker_phase = -1, worker_done = -1;
static uint64_t worker_hash;

static void fill_tls(int phase, int who) {
  for (size_t i = 0; i < sizeof tlsbuf; i += 256) tlsbuf[i] = (unsigned char)(phase * 7 + who + i / 256);
}

static void *worker(void *arg) {
  (void)arg;
  for (int phase = 0; phase < 4; phase++) {
    pthread_mutex_lock(&lock);
    while (worker_phase < phase) pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    fill_tls(phase, 2);
    uint64_t h = hash_mem(3, tlsbuf, sizeof tlsbuf);
    pthread_mutex_lock(&lock);
    worker_hash = h;
    worker_done = phase;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
  }
  return NULL;
}

static void *short_lived(void *arg) {
  fill_tls(*(int *)arg, 3);
  return (void *)(uintptr_t)hash_mem(3, tlsbuf, sizeof tlsbuf);
}

int main(int argc, char **argv) {
  check_usage(argc, 2, "incr_tls DIR");
  heap = malloc(4 << 20);
  FAIL_IF(!heap, "malloc");
  memset(heap, 1, 4 << 20);
  size_t user_stack_size = 1 << 20;
  void *user_stack = NULL;
  FAIL_IF(posix_memalign(&user_stack, 4096, user_stack_size) != 0, "posix_memalign");
  memset(user_stack, 0, user_stack_size);
  pthread_t t;
  FAIL_IF(pthread_create(&t, NULL, worker, NULL) != 0, "pthread_create");
  uint64_t sum = 0, short_hash = 0;
  for (int phase = 0; phase < 4; phase++) {
    fill_tls(phase, 1);
    for (size_t i = 0; i < (4 << 20); i += 4096 * 5) heap[i + (size_t)phase] = (unsigned char)phase;
    if (phase > 0) {
      pthread_attr_t attr;
      pthread_t s;
      void *res;
      FAIL_IF(pthread_attr_init(&attr) != 0 || pthread_attr_setstack(&attr, user_stack, user_stack_size) != 0,
              "pthread_attr_setstack");
      FAIL_IF(pthread_create(&s, &attr, short_lived, &phase) != 0, "pthread_create on the program's stack");
      FAIL_IF(pthread_join(s, &res) != 0, "pthread_join");
      pthread_attr_destroy(&attr);
      short_hash = (uint64_t)(uintptr_t)res;
    }
    pthread_mutex_lock(&lock);
    worker_phase = phase;
    pthread_cond_broadcast(&cond);
    while (worker_done < phase) pthread_cond_wait(&cond, &lock);
    uint64_t wh = worker_hash;
    pthread_mutex_unlock(&lock);
    printf("phase %d done\n", phase);
    fflush(stdout);
    wait_phase(argv[1], phase);
    uint64_t mh = hash_mem(3, tlsbuf, sizeof tlsbuf), hh = hash_mem(4, heap, 4 << 20);
    printf("tls main h=%016llx\ntls worker h=%016llx\ntls short-lived h=%016llx\nheap h=%016llx\n",
           (unsigned long long)mh, (unsigned long long)wh, (unsigned long long)short_hash, (unsigned long long)hh);
    fflush(stdout);
    sum = mix64(sum ^ mh ^ wh ^ hh);
  }
  pthread_join(t, NULL);
  printf("final sum=%016llx\n", (unsigned long long)sum);
  return 0;
}
