/* incr_race: two threads read(2) into the same write-protected chunks
 * right after each checkpoint (with --track=mprotect a chunk can hold
 * several pages: the first thread to write it unprotects it while the
 * other one's system call must wait, not fail with EFAULT).
 *
 * usage: incr_race DIR MIB
 *
 * Maps MIB MiB (one byte written per page, so that the tracked memory is
 * large and chunks hold several pages), starts two threads that pread(2)
 * 64 bytes of DIR/data into the first 64 pages of it (thread 0 at offset 0
 * of each page, thread 1 at 2048) over and over, prints "ready", and waits
 * for DIR/stop. Then it prints "efault N0 N1 calls C0 C1" (the calls that
 * failed with EFAULT, and all calls, per thread) and exits 0; a call that
 * fails otherwise prints "FAIL ..." and exits 1. */
#include "incr_common.h" /* first: it defines _GNU_SOURCE */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>

static unsigned char *buf;
static int fd;
static volatile int stop;
static long efault[2], calls[2];

static void *reader(void *arg) {
  long id = (long)arg;
  while (!stop) {
    for (size_t off = 0; off < 64 * 4096 && !stop; off += 4096) {
      ssize_t r = pread(fd, buf + off + id * 2048, 64, 0);
      calls[id]++;
      if (r < 0 && errno == EFAULT) efault[id]++;
      else FAIL_IF(r != 64, "pread in thread %ld", id);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  check_usage(argc, 3, "incr_race DIR MIB");
  char path[4096];
  size_t len = (size_t)atol(argv[2]) << 20;
  buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  FAIL_IF(buf == MAP_FAILED, "mmap");
  for (size_t i = 0; i < len; i += 4096) buf[i] = 1;
  snprintf(path, sizeof path, "%s/data", argv[1]);
  fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  FAIL_IF(fd < 0, "open %s", path);
  unsigned char data[64];
  memset(data, 0x42, sizeof data);
  FAIL_IF(pwrite(fd, data, sizeof data, 0) != (ssize_t)sizeof data, "pwrite");
  pthread_t t[2];
  for (long i = 0; i < 2; i++) FAIL_IF(pthread_create(&t[i], NULL, reader, (void *)i) != 0, "pthread_create");
  printf("ready\n");
  fflush(stdout);
  snprintf(path, sizeof path, "%s/stop", argv[1]);
  for (int i = 0; i < 30000 && access(path, F_OK) != 0; i++) sleep_ms(10);
  stop = 1;
  pthread_join(t[0], NULL);
  pthread_join(t[1], NULL);
  printf("efault %ld %ld calls %ld %ld\n", efault[0], efault[1], calls[0], calls[1]);
  return 0;
}
