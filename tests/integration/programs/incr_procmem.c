/* incr_procmem: writes into the program's own memory through
 * /proc/self/mem (as debuggers, JITs and self-patching code do), which
 * reach memory without its write permission: with --track=mprotect no
 * fault tells libckpt about them.
 *
 * usage: incr_procmem DIR
 *
 * A 4 MiB buffer, filled at start. Phase 1 opens /proc/self/mem
 * read-write (open) and pwrite(2)s 16 small patches into the buffer,
 * keeping the descriptor open into phase 2, which writes more and closes
 * it; phase 3 patches through fopen("/proc/self/mem", "r+") + fwrite,
 * through syscall(SYS_openat, ..., "/proc/thread-self/mem") and through
 * openat of "/proc/PID/task/TID/mem", each closed at once. The program
 * never writes the patched pages otherwise. Phases 0..3: "phase N done",
 * wait for DIR/go-N (incr_common.h), then "region buf h=HASH"; then
 * "final sum=HASH". A failing call prints "FAIL ..." and exits 1. */
#include "incr_common.h" /* first: it defines _GNU_SOURCE */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define MIB (1024UL * 1024)

static unsigned char *buf;

static void patch(int fd, int phase, int k) {
  unsigned char src[64];
  memset(src, 0x30 + phase * 8 + k, sizeof src);
  off_t at = (off_t)(uintptr_t)(buf + (size_t)(k * 37 + phase * 5) * 4096 + 16);
  FAIL_IF(pwrite(fd, src, sizeof src, at) != (ssize_t)sizeof src, "pwrite /proc/self/mem (phase %d)", phase);
}

int main(int argc, char **argv) {
  check_usage(argc, 2, "incr_procmem DIR");
  buf = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  FAIL_IF(buf == MAP_FAILED, "mmap");
  for (size_t i = 0; i < 4 * MIB; i += 4096) memset(buf + i, (int)(7 + i / 4096), 4096);
  int fd = -1;
  uint64_t sum = 0;
  for (int phase = 0; phase < 4; phase++) {
    if (phase == 1) {
      fd = open("/proc/self/mem", O_RDWR);
      FAIL_IF(fd < 0, "open /proc/self/mem");
    }
    if (phase == 1 || phase == 2)
      for (int k = 0; k < 16; k++) patch(fd, phase, k);
    if (phase == 2) close(fd);
    if (phase == 3) {
      FILE *f = fopen("/proc/self/mem", "r+");
      FAIL_IF(!f, "fopen /proc/self/mem");
      unsigned char src[64];
      memset(src, 0x7e, sizeof src);
      FAIL_IF(fseeko(f, (off_t)(uintptr_t)(buf + 77 * 4096), SEEK_SET) != 0 || fwrite(src, 1, sizeof src, f) != sizeof src ||
                  fclose(f) != 0,
              "fwrite through fopen(/proc/self/mem)");
      fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/thread-self/mem", O_RDWR);
      FAIL_IF(fd < 0, "syscall(SYS_openat) /proc/thread-self/mem");
      patch(fd, phase, 1);
      close(fd);
      char path[128];
      snprintf(path, sizeof path, "/proc/%d/task/%ld/mem", getpid(), (long)syscall(SYS_gettid));
      fd = openat(AT_FDCWD, path, O_WRONLY);
      FAIL_IF(fd < 0, "openat %s", path);
      patch(fd, phase, 2);
      close(fd);
    }
    printf("phase %d done\n", phase);
    fflush(stdout);
    wait_phase(argv[1], phase);
    uint64_t h = hash_mem(3, buf, 4 * MIB);
    printf("region buf h=%016llx\n", (unsigned long long)h);
    fflush(stdout);
    sum = mix64(sum ^ h);
  }
  printf("final sum=%016llx\n", (unsigned long long)sum);
  return 0;
}
