/* incr_syscalls: heap buffers written only by the kernel, for incremental
 * checkpoints with --track=mprotect (a write-protected destination must not
 * make a system call fail with EFAULT).
 *
 * usage: incr_syscalls DIR ROUNDS SLEEP_MS
 *
 * Creates DIR/data (1 MiB, deterministic) and DIR/d/ with 20 files. Each
 * round rewrites heap buffers only through system calls: pread(2) into a
 * 512 KiB (mmap'd) and a 24 KiB (brk heap) buffer, fstat(2) and stat(2) into
 * a heap struct stat, lseek + readv(2) into three heap buffers, recv(2) on a
 * fresh socketpair into a heap buffer, and readdir(3) of DIR/d (getdents
 * into the DIR's heap buffer). Then it prints "round R h=HASH" (a checksum
 * of what was read, the same in every run) and sleeps SLEEP_MS. At the end:
 * "final h=HASH". Any failing or short call prints "FAIL round R: CALL ..."
 * and exits 1. */
#include "incr_common.h" /* first: it defines _GNU_SOURCE */
#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>


enum { FILE_SIZE = 1 << 20, BIG = 512 << 10, SMALL = 24 << 10, IOV = 8 << 10, MSG = 12 << 10, NFILES = 20 };

static void setup(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/data", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  FAIL_IF(fd < 0, "setup: open %s", path);
  uint64_t chunk[512]; /* on the stack: only the heap buffers matter */
  for (size_t off = 0; off < FILE_SIZE; off += sizeof chunk) {
    for (size_t i = 0; i < 512; i++) chunk[i] = mix64(off + i * 8);
    FAIL_IF(pwrite(fd, chunk, sizeof chunk, (off_t)off) != (ssize_t)sizeof chunk, "setup: pwrite");
  }
  close(fd);
  snprintf(path, sizeof path, "%s/d", dir);
  FAIL_IF(mkdir(path, 0700) != 0 && errno != EEXIST, "setup: mkdir %s", path);
  for (int i = 0; i < NFILES; i++) {
    snprintf(path, sizeof path, "%s/d/f%02d", dir, i);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    FAIL_IF(fd < 0, "setup: open %s", path);
    close(fd);
  }
}

int main(int argc, char **argv) {
  check_usage(argc, 4, "incr_syscalls DIR ROUNDS SLEEP_MS");
  const char *dir = argv[1];
  int rounds = atoi(argv[2]);
  long pause_ms = atol(argv[3]);
  setup(dir);

  char data[4096], subdir[4096];
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(subdir, sizeof subdir, "%s/d", dir);
  int fd = open(data, O_RDONLY);
  int fd2 = open(data, O_RDONLY);
  FAIL_IF(fd < 0 || fd2 < 0, "open %s", data);

  unsigned char *big = malloc(BIG), *small = malloc(SMALL), *rbuf = malloc(MSG);
  unsigned char *iov_buf[3] = {malloc(IOV), malloc(IOV), malloc(IOV)};
  struct stat *st = malloc(sizeof *st);
  FAIL_IF(!big || !small || !rbuf || !iov_buf[0] || !iov_buf[1] || !iov_buf[2] || !st, "malloc");
  printf("ready pid=%d\n", (int)getpid());
  fflush(stdout);

  uint64_t h = 0;
  for (int r = 0; r < rounds; r++) {
    off_t off = (off_t)((r * 37) % 128) * 4096;
    FAIL_IF(pread(fd, big, BIG, off) != BIG, "round %d: pread big at %lld", r, (long long)off);
    h = hash_mem(h, big, BIG);
    off = (off_t)((r * 100003) % (FILE_SIZE - SMALL));
    FAIL_IF(pread(fd, small, SMALL, off) != SMALL, "round %d: pread small at %lld", r, (long long)off);
    h = hash_mem(h, small, SMALL);

    FAIL_IF(fstat(fd, st) != 0, "round %d: fstat", r);
    h = mix64(h ^ (uint64_t)st->st_size ^ ((uint64_t)st->st_mode << 32));
    FAIL_IF(stat(subdir, st) != 0, "round %d: stat %s", r, subdir);
    h = mix64(h ^ (uint64_t)S_ISDIR(st->st_mode));

    off = (off_t)((r * 7) % 64) * 4096 + 8 * r;
    FAIL_IF(lseek(fd2, off, SEEK_SET) != off, "round %d: lseek", r);
    struct iovec iov[3] = {{iov_buf[0], IOV}, {iov_buf[1], IOV}, {iov_buf[2], IOV}};
    FAIL_IF(readv(fd2, iov, 3) != 3 * IOV, "round %d: readv", r);
    for (int i = 0; i < 3; i++) h = hash_mem(h, iov_buf[i], IOV);

    int sv[2];
    FAIL_IF(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0, "round %d: socketpair", r);
    unsigned char msg[MSG]; /* the source is on the stack */
    for (size_t i = 0; i < MSG; i++) msg[i] = (unsigned char)(i * 31 + r);
    FAIL_IF(write(sv[0], msg, MSG) != MSG, "round %d: write to the socketpair", r);
    FAIL_IF(recv(sv[1], rbuf, MSG, MSG_WAITALL) != MSG, "round %d: recv", r);
    FAIL_IF(memcmp(rbuf, msg, MSG) != 0, "round %d: recv gave other bytes", r);
    h = hash_mem(h, rbuf, MSG);
    close(sv[0]);
    close(sv[1]);

    DIR *d = opendir(subdir);
    FAIL_IF(!d, "round %d: opendir %s", r, subdir);
    int n = 0;
    uint64_t names = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
      n++;
      names ^= hash_mem(0, e->d_name, strlen(e->d_name)); /* order-independent */
    }
    FAIL_IF(errno != 0, "round %d: readdir", r);
    closedir(d);
    FAIL_IF(n != NFILES + 2, "round %d: readdir found %d entries, expected %d", r, n, NFILES + 2);
    h = mix64(h ^ names);

    printf("round %d h=%016llx\n", r, (unsigned long long)h);
    fflush(stdout);
    sleep_ms(pause_ms);
  }
  printf("final h=%016llx\n", (unsigned long long)h);
  fflush(stdout);
  return 0;
}
