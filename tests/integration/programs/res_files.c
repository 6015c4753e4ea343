/* res_files: file descriptors, locks, pipes and shared memory across a
 * checkpoint/restart (tests_resources.py).
 *
 * usage: res_files MODE DIR TRIGGER [ARGS...]
 *
 * Sets up MODE's resources in directory DIR, prints "ready ...", waits for
 * the file TRIGGER and then checks that they are as set up (see
 * res_common.h for the output). Modes:
 *
 *   files    DIR/shared.dat opened O_RDWR at fd 3, offset 10, shared by
 *            dup (FD_CLOEXEC set), dup2 to 500, F_DUPFD_CLOEXEC >= 200 and
 *            F_DUPFD >= 300, O_NONBLOCK set on the shared description; an
 *            independent O_RDONLY open at fd 450 (O_CLOEXEC), offset 20;
 *            DIR/append.log O_WRONLY|O_APPEND at fd 400. Checks offsets,
 *            flags, fd numbers, that a write through one dup moves the
 *            others but not the independent open, and that fd 400 appends
 *            at the end of whatever the file holds now (the test appends a
 *            line while the program is down).
 *   deleted  DIR/deleted.dat (12411 bytes) open O_RDWR at offset 5000, then
 *            unlinked: same content and offset afterwards, link count 0,
 *            /proc/self/fd shows "(deleted)", the name stays gone.
 *   sparse   DIR/sparse.dat (1 GiB + 5000 bytes, three short strings
 *            written, holes elsewhere) open O_RDWR at offset 12345 and
 *            unlinked; a 256 MiB memfd with two strings at offset 777.
 *            Checks sizes, contents, offsets, that both are still sparse
 *            (at most 4 MiB allocated, a hole right after the head) and that
 *            the process's peak RSS (which includes the restore) stayed
 *            under 256 MiB.
 *   nofile   /dev/null at fd 500 and DIR/high.dat at fd 700 (offset 4), then
 *            RLIMIT_NOFILE lowered to 100/200. Checks the descriptors, the
 *            limit, and that it is enforced (F_DUPFD at 150 fails; a new
 *            descriptor comes below 100).
 *   locks    a POSIX write lock on bytes 100..199 of DIR/posix.lock, an
 *            exclusive flock on DIR/flock.lock, an OFD write lock on bytes
 *            0..49 of DIR/ofd.lock. After TRIGGER: /proc/self/fdinfo shows
 *            them held; releases them, prints "released", waits for
 *            TRIGGER.2 (the test checks another process can take them).
 *   pipes    a pipe with 3000 unread bytes; a pipe of 256 KiB capacity with
 *            200000 unread bytes; the FIFO DIR/fifo open for reading (and
 *            writing) with "fifo-before\n" unread. After TRIGGER the FIFO
 *            must hold "fifo-before\nfrom-test\n" (the test writes the second
 *            line through the FIFO's path before the trigger).
 *   shm      64 KiB MAP_SHARED|MAP_ANONYMOUS and a 64 KiB memfd mapping
 *            (sealed against shrinking and growing) with patterns. Checks
 *            the contents, that the memfd's fd and mapping are one object,
 *            and that a child forked after TRIGGER shares both with us.
 *   posixshm a POSIX shared memory object /ckpt-res-shm-PID (2 pages)
 *            mapped MAP_SHARED ("app-before" at 0), and another one mapped
 *            and then unlinked ("unlinked-shm"). Prints "ready
 *            shm=/dev/shm/NAME"; the test writes "from-test" at offset 4096
 *            of that file before TRIGGER. Checks that the mapping is still
 *            the object (/proc/self/maps, the test's write seen, our write
 *            at 100 seen in the file), and the unlinked one's contents. The
 *            object is left for the test to remove.
 *   mapping  DIR/mapped.dat (3 pages) mapped MAP_PRIVATE read/write, page 1
 *            modified in memory, page 2 made read-only. Checks the
 *            modification, the untouched pages, the protections, and that
 *            the file on disk is unchanged (also after writing page 0).
 *            Also DIR/shared-map.dat mapped MAP_SHARED, written through the
 *            mapping: still shared with the file, both ways.
 *   creds    [UID GID GROUP,GROUP...]: as root, drops to those ids first.
 *            Checks getres[ug]id, getgroups, capabilities, dumpable and every
 *            thread's ids are what they were before the checkpoint.
 * Exit status 0 once the checks ran ("done failures=N"); 1 if the set-up
 * failed; 3 if a trigger never came. */
#include "res_common.h"

#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

static const char *dir, *trigger;

static void path_in_dir(char *out, size_t size, const char *name) { snprintf(out, size, "%s/%s", dir, name); }

static off_t offset_of(int fd) { return lseek(fd, 0, SEEK_CUR); }

static void fill_pattern(unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)((i * 7 + i / 251 + seed) & 0xff);
}

static int pattern_ok(const unsigned char *p, size_t n, size_t start, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)(((start + i) * 7 + (start + i) / 251 + seed) & 0xff)) return 0;
  return 1;
}

static void write_all(int fd, const void *buf, size_t n, const char *what) {
  const char *p = buf;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) setup_fail(what);
    p += w;
    n -= (size_t)w;
  }
}

/* Reads up to n bytes (stops at EOF or EAGAIN); returns the count. */
static size_t read_avail(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  return got;
}

static int lowest_free_fd(void) {
  int fd = dup(0);
  close(fd);
  return fd;
}

static int same_file(int fd, const char *path) {
  struct stat a, b;
  return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* ------------------------------------------------------------------ files */

static int mode_files(void) {
  char shared[4096], append[4096];
  path_in_dir(shared, sizeof shared, "shared.dat");
  path_in_dir(append, sizeof append, "append.log");
  unsigned char pat[64];
  fill_pattern(pat, sizeof pat, 1);

  int a = open(shared, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (a < 0) setup_fail("open shared.dat");
  int first_fd = a;
  write_all(a, pat, sizeof pat, "write shared.dat");
  lseek(a, 10, SEEK_SET);
  int b = dup(a);
  fcntl(b, F_SETFD, FD_CLOEXEC);
  int h500 = dup2(a, 500);
  int d200 = fcntl(a, F_DUPFD_CLOEXEC, 200);
  int d300 = fcntl(a, F_DUPFD, 300);
  if (b < 0 || h500 != 500 || d200 < 200 || d300 < 300) setup_fail("dup/dup2/F_DUPFD");
  fcntl(a, F_SETFL, fcntl(a, F_GETFL) | O_NONBLOCK);
  int i = open(shared, O_RDONLY);
  if (i < 0 || dup3(i, 450, O_CLOEXEC) != 450) setup_fail("independent open at 450");
  close(i);
  lseek(450, 20, SEEK_SET);
  int g = open(append, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC, 0644);
  if (g < 0 || dup2(g, 400) != 400) setup_fail("append.log at 400");
  close(g);
  write_all(400, "app-1\n", 6, "write append.log");
  int lowest = lowest_free_fd();
  say("ready a=%d b=%d h500=%d d200=%d d300=%d indep=450 append=400 lowest_free=%d\n", a, b, h500, d200, d300,
      lowest);

  wait_file(trigger);
  check("first_open_is_3", first_fd == 3, "the first open() returned %d", first_fd);
  check("lowest_free_fd", lowest_free_fd() == lowest, "lowest free fd %d, was %d", lowest_free_fd(), lowest);
  int dups[] = {a, b, 500, d200, d300};
  const char *dup_names[] = {"a", "b", "500", "d200", "d300"};
  int want_cloexec[] = {0, 1, 0, 1, 0};
  char name[64];
  for (int k = 0; k < 5; k++) {
    snprintf(name, sizeof name, "offset_%s", dup_names[k]);
    check(name, offset_of(dups[k]) == 10, "fd %d at offset %lld, expected 10", dups[k], (long long)offset_of(dups[k]));
    snprintf(name, sizeof name, "cloexec_%s", dup_names[k]);
    int fdfl = fcntl(dups[k], F_GETFD);
    check(name, fdfl == want_cloexec[k], "F_GETFD of fd %d is %d, expected %d", dups[k], fdfl, want_cloexec[k]);
    snprintf(name, sizeof name, "flags_%s", dup_names[k]);
    int fl = fcntl(dups[k], F_GETFL);
    check(name, fl >= 0 && (fl & O_ACCMODE) == O_RDWR && (fl & O_NONBLOCK) && !(fl & O_APPEND),
          "F_GETFL of fd %d is %#o, expected O_RDWR|O_NONBLOCK", dups[k], fl);
    snprintf(name, sizeof name, "file_%s", dup_names[k]);
    check(name, same_file(dups[k], shared), "fd %d is not %s", dups[k], shared);
  }
  check("offset_indep", offset_of(450) == 20, "fd 450 at offset %lld, expected 20", (long long)offset_of(450));
  int fl = fcntl(450, F_GETFL);
  check("flags_indep", fl >= 0 && (fl & O_ACCMODE) == O_RDONLY && !(fl & O_NONBLOCK),
        "F_GETFL of fd 450 is %#o, expected O_RDONLY without O_NONBLOCK", fl);
  check("cloexec_indep", fcntl(450, F_GETFD) == FD_CLOEXEC, "F_GETFD of fd 450 is %d", fcntl(450, F_GETFD));
  check("file_indep", same_file(450, shared), "fd 450 is not %s", shared);
  fl = fcntl(400, F_GETFL);
  check("flags_append", fl >= 0 && (fl & O_ACCMODE) == O_WRONLY && (fl & O_APPEND),
        "F_GETFL of fd 400 is %#o, expected O_WRONLY|O_APPEND", fl);
  check("file_append", same_file(400, append), "fd 400 is not %s", append);

  /* A write through one dup moves every dup, not the independent open. */
  ssize_t w = write(500, "XY", 2);
  check("write_500", w == 2, "write(500) returned %zd (%s)", w, strerror(errno));
  for (int k = 0; k < 5; k++) {
    snprintf(name, sizeof name, "shared_offset_%s", dup_names[k]);
    check(name, offset_of(dups[k]) == 12, "after writing 2 bytes through fd 500, fd %d is at %lld, expected 12",
          dups[k], (long long)offset_of(dups[k]));
  }
  check("indep_offset_unmoved", offset_of(450) == 20, "fd 450 moved to %lld", (long long)offset_of(450));
  unsigned char buf[8];
  ssize_t r = read(450, buf, 4);
  check("indep_read", r == 4 && pattern_ok(buf, 4, 20, 1) && offset_of(450) == 24,
        "read(450, 4) returned %zd, offset now %lld", r, (long long)offset_of(450));
  r = pread(a, buf, 2, 10);
  check("dup_write_landed", r == 2 && memcmp(buf, "XY", 2) == 0, "pread(10, 2) returned %zd", r);

  /* O_APPEND: lseek to 0 does not matter, the write goes to the end. */
  struct stat st;
  stat(append, &st);
  lseek(400, 0, SEEK_SET);
  w = write(400, "app-2\n", 6);
  struct stat st2;
  stat(append, &st2);
  char tail[8] = {0};
  int rd = open(append, O_RDONLY);
  pread(rd, tail, 6, st2.st_size - 6);
  close(rd);
  check("append_at_end", w == 6 && st2.st_size == st.st_size + 6 && strcmp(tail, "app-2\n") == 0,
        "write returned %zd, size %lld -> %lld, tail %s", w, (long long)st.st_size, (long long)st2.st_size, tail);
  return finish();
}

/* ---------------------------------------------------------------- deleted */

#define DELETED_SIZE 12411
#define DELETED_OFFSET 5000

static int mode_deleted(void) {
  char path[4096];
  path_in_dir(path, sizeof path, "deleted.dat");
  static unsigned char data[DELETED_SIZE];
  fill_pattern(data, sizeof data, 3);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) setup_fail("open deleted.dat");
  write_all(fd, data, sizeof data, "write deleted.dat");
  lseek(fd, DELETED_OFFSET, SEEK_SET);
  if (unlink(path) != 0) setup_fail("unlink");
  say("ready fd=%d\n", fd);

  wait_file(trigger);
  check("offset", offset_of(fd) == DELETED_OFFSET, "offset %lld", (long long)offset_of(fd));
  unsigned char buf[300];
  ssize_t r = read(fd, buf, sizeof buf);
  check("content_at_offset", r == (ssize_t)sizeof buf && pattern_ok(buf, sizeof buf, DELETED_OFFSET, 3),
        "read returned %zd bytes %s", r, r > 0 ? "not the saved content" : strerror(errno));
  static unsigned char all[DELETED_SIZE + 16];
  r = pread(fd, all, sizeof all, 0);
  check("whole_content", r == DELETED_SIZE && pattern_ok(all, DELETED_SIZE, 0, 3), "pread of everything: %zd bytes",
        r);
  struct stat st;
  fstat(fd, &st);
  check("unlinked", st.st_nlink == 0 && st.st_size == DELETED_SIZE && S_ISREG(st.st_mode),
        "nlink %lu size %lld mode %o", (unsigned long)st.st_nlink, (long long)st.st_size, st.st_mode);
  char link[4200], proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(proc, link, sizeof link - 1);
  link[n > 0 ? n : 0] = 0;
  const char *suffix = " (deleted)";
  check("proc_shows_deleted", n > 10 && strcmp(link + n - strlen(suffix), suffix) == 0, "%s -> %s", proc, link);
  check("name_gone", access(path, F_OK) != 0 && errno == ENOENT, "%s exists", path);
  check("writable", pwrite(fd, "Z", 1, DELETED_SIZE) == 1 && fstat(fd, &st) == 0 && st.st_size == DELETED_SIZE + 1,
        "pwrite at the end failed: %s", strerror(errno));
  return finish();
}

/* ----------------------------------------------------------------- nofile */

static int mode_nofile(void) {
  int n = open("/dev/null", O_RDONLY);
  char path[4096];
  path_in_dir(path, sizeof path, "high.dat");
  int h = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (n < 0 || h < 0 || dup2(n, 500) != 500 || dup2(h, 700) != 700) setup_fail("descriptors 500 and 700");
  close(n);
  close(h);
  if (write(700, "high", 4) != 4) setup_fail("write fd 700");
  struct rlimit r = {100, 200};
  if (setrlimit(RLIMIT_NOFILE, &r) != 0) setup_fail("setrlimit RLIMIT_NOFILE");
  say("ready\n");

  wait_file(trigger);
  check("fd500", fcntl(500, F_GETFD) >= 0, "fd 500: %s", strerror(errno));
  check("fd700", fcntl(700, F_GETFD) >= 0 && offset_of(700) == 4 && same_file(700, path), "fd 700 is not high.dat at 4");
  struct rlimit now;
  getrlimit(RLIMIT_NOFILE, &now);
  check("limit", now.rlim_cur == 100 && now.rlim_max == 200, "RLIMIT_NOFILE %llu/%llu",
        (unsigned long long)now.rlim_cur, (unsigned long long)now.rlim_max);
  int above = fcntl(0, F_DUPFD, 150);
  check("limit_enforced", above < 0 && errno == EINVAL, "F_DUPFD at 150 returned %d", above);
  int low = open("/dev/null", O_RDONLY);
  check("new_fd_below", low >= 0 && low < 100, "open returned %d", low);
  return finish();
}

/* ----------------------------------------------------------------- sparse */

#define SPARSE_SIZE ((1LL << 30) + 5000) /* 1 GiB and a partial page */
#define SPARSE_MEMFD_SIZE (256LL << 20)

/* (offset, text) pairs written into the sparse file and memfd. */
static const struct {
  long long off;
  const char *text;
} sparse_data[] = {{0, "head"}, {512LL << 20, "middle"}, {SPARSE_SIZE - 3, "end"}};
static const struct {
  long long off;
  const char *text;
} memfd_data[] = {{0, "memfd-head"}, {128LL << 20, "memfd-middle"}};

static void check_sparse(const char *name, int fd, long long size, const void *table, size_t n, long long offset) {
  const struct {
    long long off;
    const char *text;
  } *t = table;
  char what[64];
  struct stat st;
  int r = fstat(fd, &st);
  snprintf(what, sizeof what, "%s_size", name);
  check(what, r == 0 && st.st_size == size, "size %lld, expected %lld", r == 0 ? (long long)st.st_size : -1LL, size);
  snprintf(what, sizeof what, "%s_sparse", name);
  check(what, r == 0 && st.st_blocks * 512LL <= (4LL << 20), "%lld bytes allocated",
        r == 0 ? (long long)st.st_blocks * 512 : -1LL);
  int ok = 1;
  char buf[64];
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(t[i].text);
    memset(buf, 0, sizeof buf);
    ok = ok && pread(fd, buf, len, t[i].off) == (ssize_t)len && !memcmp(buf, t[i].text, len);
  }
  memset(buf, 1, sizeof buf);
  ok = ok && pread(fd, buf, 16, 100LL << 20) == 16;
  for (int i = 0; i < 16; i++) ok = ok && buf[i] == 0;
  snprintf(what, sizeof what, "%s_contents", name);
  check(what, ok, "the saved bytes or the zeros between them differ");
  snprintf(what, sizeof what, "%s_offset", name);
  check(what, offset_of(fd) == offset, "offset %lld, expected %lld", (long long)offset_of(fd), offset);
  off_t hole = lseek(fd, 0, SEEK_HOLE); /* moves the offset: after its check */
  snprintf(what, sizeof what, "%s_hole_after_head", name);
  check(what, hole >= 4 && hole <= (1 << 20), "first hole at %lld", (long long)hole);
}

/* VmHWM of this process in KiB (a restored process's includes the restore). */
static long peak_rss_kib(void) {
  char v[64];
  proc_field("/proc/self/status", "VmHWM", v, sizeof v);
  return atol(v);
}

static int mode_sparse(void) {
  char path[4096];
  path_in_dir(path, sizeof path, "sparse.dat");
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || ftruncate(fd, SPARSE_SIZE) != 0) setup_fail("sparse.dat");
  for (size_t i = 0; i < sizeof sparse_data / sizeof *sparse_data; i++)
    if (pwrite(fd, sparse_data[i].text, strlen(sparse_data[i].text), sparse_data[i].off) < 0) setup_fail("pwrite");
  lseek(fd, 12345, SEEK_SET);
  if (unlink(path) != 0) setup_fail("unlink sparse.dat");
  int m = memfd_create("sparse", MFD_CLOEXEC);
  if (m < 0 || ftruncate(m, SPARSE_MEMFD_SIZE) != 0) setup_fail("memfd");
  for (size_t i = 0; i < sizeof memfd_data / sizeof *memfd_data; i++)
    if (pwrite(m, memfd_data[i].text, strlen(memfd_data[i].text), memfd_data[i].off) < 0) setup_fail("pwrite memfd");
  lseek(m, 777, SEEK_SET);
  say("ready fd=%d memfd=%d\n", fd, m);

  wait_file(trigger);
  check_sparse("file", fd, SPARSE_SIZE, sparse_data, sizeof sparse_data / sizeof *sparse_data, 12345);
  check_sparse("memfd", m, SPARSE_MEMFD_SIZE, memfd_data, sizeof memfd_data / sizeof *memfd_data, 777);
  long peak = peak_rss_kib();
  check("peak_rss", peak > 0 && peak < 256 * 1024, "VmHWM %ld KiB", peak);
  return finish();
}

/* ------------------------------------------------------------------ locks */

static int open_lock_file(const char *name) {
  char path[4096];
  path_in_dir(path, sizeof path, name);
  int fd = open(path, O_RDWR | O_CREAT, 0666);
  if (fd < 0 || ftruncate(fd, 4096) != 0) setup_fail(name);
  return fd;
}

static int set_lock(int fd, int cmd, short type, off_t start, off_t len) {
  struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
  return fcntl(fd, cmd, &fl);
}

/* /proc/self/fdinfo/FD's "lock:" lines contain KIND (POSIX, FLOCK, OFDLCK)
 * with WRITE. */
static int fdinfo_lock(int fd, const char *kind, char *seen, size_t size) {
  char path[64], line[512];
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  seen[0] = 0;
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int found = 0;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "lock:", 5) != 0) continue;
    line[strcspn(line, "\n")] = 0;
    snprintf(seen + strlen(seen), size - strlen(seen), "[%s]", line + 5);
    if (strstr(line, kind) && strstr(line, "WRITE")) found = 1;
  }
  fclose(f);
  return found;
}

static int mode_locks(void) {
  int fp = open_lock_file("posix.lock"), ff = open_lock_file("flock.lock"), fo = open_lock_file("ofd.lock");
  if (set_lock(fp, F_SETLK, F_WRLCK, 100, 100) != 0) setup_fail("F_SETLK");
  if (flock(ff, LOCK_EX | LOCK_NB) != 0) setup_fail("flock");
  if (set_lock(fo, F_OFD_SETLK, F_WRLCK, 0, 50) != 0) setup_fail("F_OFD_SETLK");
  say("ready posix=%d flock=%d ofd=%d\n", fp, ff, fo);

  wait_file(trigger);
  char seen[1024];
  int fds[] = {fp, ff, fo};
  const char *kinds[] = {"POSIX", "FLOCK", "OFDLCK"};
  const char *names[] = {"held_posix", "held_flock", "held_ofd"};
  for (int k = 0; k < 3; k++)
    check(names[k], fdinfo_lock(fds[k], kinds[k], seen, sizeof seen), "fdinfo of fd %d shows no %s write lock: %s",
          fds[k], kinds[k], seen[0] ? seen : "no lock lines");
  /* Our own POSIX lock over the same range: the kernel merges it (0). */
  check("relock_posix", set_lock(fp, F_SETLK, F_WRLCK, 100, 100) == 0, "F_SETLK again: %s", strerror(errno));
  check("unlock_posix", set_lock(fp, F_SETLK, F_UNLCK, 100, 100) == 0, "F_UNLCK: %s", strerror(errno));
  check("unlock_flock", flock(ff, LOCK_UN) == 0, "LOCK_UN: %s", strerror(errno));
  check("unlock_ofd", set_lock(fo, F_OFD_SETLK, F_UNLCK, 0, 50) == 0, "OFD F_UNLCK: %s", strerror(errno));
  const char *gone[] = {"released_posix", "released_flock", "released_ofd"};
  for (int k = 0; k < 3; k++)
    check(gone[k], !fdinfo_lock(fds[k], kinds[k], seen, sizeof seen), "fdinfo of fd %d still shows %s", fds[k], seen);
  say("released\n");
  char second[4200];
  snprintf(second, sizeof second, "%s.2", trigger);
  wait_file(second);
  return finish();
}

/* ------------------------------------------------------------------ pipes */

#define PIPE1_BYTES 3000
#define PIPE2_BYTES 200000
#define PIPE2_CAPACITY (256 * 1024)

static int mode_pipes(void) {
  int p1[2], p2[2];
  if (pipe(p1) != 0 || pipe2(p2, O_NONBLOCK) != 0) setup_fail("pipe");
  static unsigned char data[PIPE2_BYTES];
  fill_pattern(data, PIPE1_BYTES, 5);
  write_all(p1[1], data, PIPE1_BYTES, "write pipe 1");
  if (fcntl(p2[1], F_SETPIPE_SZ, PIPE2_CAPACITY) < PIPE2_CAPACITY) setup_fail("F_SETPIPE_SZ");
  fill_pattern(data, PIPE2_BYTES, 6);
  write_all(p2[1], data, PIPE2_BYTES, "write pipe 2");
  char fifo[4096];
  path_in_dir(fifo, sizeof fifo, "fifo");
  if (mkfifo(fifo, 0666) != 0) setup_fail("mkfifo");
  int fr = open(fifo, O_RDONLY | O_NONBLOCK);
  int fw = open(fifo, O_WRONLY);
  if (fr < 0 || fw < 0) setup_fail("open fifo");
  write_all(fw, "fifo-before\n", 12, "write fifo");
  say("ready pipe1=%d,%d pipe2=%d,%d fifo=%d,%d\n", p1[0], p1[1], p2[0], p2[1], fr, fw);

  wait_file(trigger);
  int avail = -1;
  ioctl(p1[0], FIONREAD, &avail);
  check("pipe1_fionread", avail == PIPE1_BYTES, "%d bytes buffered, expected %d", avail, PIPE1_BYTES);
  static unsigned char buf[PIPE2_BYTES];
  fcntl(p1[0], F_SETFL, O_NONBLOCK);
  size_t got = read_avail(p1[0], buf, sizeof buf);
  check("pipe1_content", got == PIPE1_BYTES && pattern_ok(buf, got, 0, 5), "read %zu bytes", got);
  check("pipe1_works", write(p1[1], "z", 1) == 1 && read(p1[0], buf, 4) == 1 && buf[0] == 'z',
        "write/read after the restore failed: %s", strerror(errno));
  int cap = fcntl(p2[0], F_GETPIPE_SZ);
  check("pipe2_capacity", cap >= PIPE2_CAPACITY, "F_GETPIPE_SZ %d, expected >= %d", cap, PIPE2_CAPACITY);
  avail = -1;
  ioctl(p2[0], FIONREAD, &avail);
  check("pipe2_fionread", avail == PIPE2_BYTES, "%d bytes buffered, expected %d", avail, PIPE2_BYTES);
  got = read_avail(p2[0], buf, sizeof buf);
  check("pipe2_content", got == PIPE2_BYTES && pattern_ok(buf, got, 0, 6), "read %zu bytes", got);
  int fl = fcntl(p2[1], F_GETFL);
  check("pipe2_nonblock", fl >= 0 && (fl & O_NONBLOCK), "F_GETFL of the write end %#o", fl);
  check("fifo_same_path", same_file(fr, fifo) && same_file(fw, fifo), "the FIFO fds are not %s", fifo);
  char text[64] = {0};
  got = read_avail(fr, text, sizeof text - 1);
  check("fifo_content", strcmp(text, "fifo-before\nfrom-test\n") == 0, "read %zu bytes: \"%s\"", got, text);
  return finish();
}

/* -------------------------------------------------------------- posixshm */

/* The name of the object the mapping at `p` shows in /proc/self/maps. */
static void mapping_name(const void *p, char *out, size_t size) {
  out[0] = 0;
  FILE *f = fopen("/proc/self/maps", "r");
  char line[4400];
  unsigned long lo, hi;
  while (f && fgets(line, sizeof line, f)) {
    int pos = 0;
    if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &pos) >= 2 && (unsigned long)p >= lo &&
        (unsigned long)p < hi) {
      line[strcspn(line, "\n")] = 0;
      snprintf(out, size, "%s", line + pos);
      break;
    }
  }
  if (f) fclose(f);
}

static int mode_posixshm(void) {
  char name[64], gone[64], path[128];
  snprintf(name, sizeof name, "/ckpt-res-shm-%d", (int)getpid());
  snprintf(gone, sizeof gone, "/ckpt-res-shm-%d-gone", (int)getpid());
  snprintf(path, sizeof path, "/dev/shm%s", name);
  int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0 || ftruncate(fd, 2 * 4096) != 0) setup_fail("shm_open");
  char *a = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (a == MAP_FAILED) setup_fail("mmap the shm object");
  close(fd);
  strcpy(a, "app-before");
  fd = shm_open(gone, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0 || ftruncate(fd, 4096) != 0) setup_fail("shm_open (the one unlinked)");
  char *b = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (b == MAP_FAILED) setup_fail("mmap the unlinked shm object");
  close(fd);
  strcpy(b, "unlinked-shm");
  if (shm_unlink(gone) != 0) setup_fail("shm_unlink");
  say("ready shm=%s\n", path);

  wait_file(trigger);
  char seen[4400];
  mapping_name(a, seen, sizeof seen);
  check("shm_mapped", !strcmp(seen, path), "the mapping shows %s", seen);
  check("shm_before", !strcmp(a, "app-before"), "offset 0 holds %.20s", a);
  check("shm_from_test", !strcmp(a + 4096, "from-test"), "offset 4096 holds %.20s (the test wrote there)", a + 4096);
  strcpy(a + 100, "app-after");
  fd = open(path, O_RDONLY);
  char buf[16] = "";
  check("shm_to_file", fd >= 0 && pread(fd, buf, 9, 100) == 9 && !memcmp(buf, "app-after", 9),
        "the object holds %.9s at 100", buf);
  check("unlinked_content", !strcmp(b, "unlinked-shm"), "the unlinked object's mapping holds %.20s", b);
  b[100] = 'x';
  check("unlinked_writable", b[100] == 'x', "cannot write it");
  return finish();
}

/* -------------------------------------------------------------------- shm */

#define SHM_SIZE (64 * 1024)

static int mode_shm(void) {
  unsigned char *anon = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (anon == MAP_FAILED) setup_fail("mmap shared anonymous");
  fill_pattern(anon, SHM_SIZE, 7);
  int mfd = memfd_create("res-memfd", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0 || ftruncate(mfd, SHM_SIZE) != 0) setup_fail("memfd_create");
  unsigned char *mem = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  if (mem == MAP_FAILED) setup_fail("mmap memfd");
  fill_pattern(mem, SHM_SIZE, 8);
  if (pwrite(mfd, "memfd-pwrite", 12, 60000) != 12) setup_fail("pwrite memfd");
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) setup_fail("F_ADD_SEALS");
  say("ready anon=%p memfd=%d map=%p\n", (void *)anon, mfd, (void *)mem);

  wait_file(trigger);
  check("anon_content", pattern_ok(anon, SHM_SIZE, 0, 7), "shared anonymous memory differs");
  check("memfd_content", pattern_ok(mem, 60000, 0, 8) && memcmp(mem + 60000, "memfd-pwrite", 12) == 0 &&
                             pattern_ok(mem + 60012, SHM_SIZE - 60012, 60012, 8),
        "memfd mapping differs");
  int seals = fcntl(mfd, F_GET_SEALS);
  check("memfd_seals", seals == (F_SEAL_SHRINK | F_SEAL_GROW), "F_GET_SEALS %d", seals);
  struct stat st;
  check("memfd_size", fstat(mfd, &st) == 0 && st.st_size == SHM_SIZE, "size %lld", (long long)st.st_size);
  char link[256] = {0}, proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", mfd);
  readlink(proc, link, sizeof link - 1);
  check("memfd_name", strncmp(link, "/memfd:res-memfd", 16) == 0, "%s -> %s", proc, link);
  /* The fd and the mapping are one object. */
  check("memfd_fd_is_mapping", pwrite(mfd, "via-fd", 6, 100) == 6 && memcmp(mem + 100, "via-fd", 6) == 0,
        "a pwrite through the memfd is not seen in its mapping");
  memcpy(mem + 200, "via-map", 7);
  char back[8] = {0};
  check("memfd_mapping_is_fd", pread(mfd, back, 7, 200) == 7 && memcmp(back, "via-map", 7) == 0,
        "a write to the mapping is not seen through the memfd: \"%s\"", back);
  /* A child forked now shares both with us. */
  pid_t child = fork();
  if (child == 0) {
    memcpy(anon + 300, "child-anon", 10);
    memcpy(mem + 300, "child-memfd", 11);
    anon[SHM_SIZE - 1] = 0xAB;
    _exit(0);
  }
  int status = -1;
  while (child > 0 && waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  check("child_exit", child > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork %d status %#x", child,
        status);
  check("child_anon_shared", memcmp(anon + 300, "child-anon", 10) == 0 && anon[SHM_SIZE - 1] == 0xAB,
        "the child's writes to the shared anonymous mapping are not seen by the parent");
  check("child_memfd_shared", memcmp(mem + 300, "child-memfd", 11) == 0,
        "the child's writes to the memfd mapping are not seen by the parent");
  return finish();
}

/* ---------------------------------------------------------------- mapping */

#define PAGE 4096

static int mode_mapping(void) {
  char path[4096];
  path_in_dir(path, sizeof path, "mapped.dat");
  static unsigned char data[3 * PAGE];
  fill_pattern(data, sizeof data, 9);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) setup_fail("open mapped.dat");
  write_all(fd, data, sizeof data, "write mapped.dat");
  close(fd);
  fd = open(path, O_RDONLY);
  unsigned char *m = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (m == MAP_FAILED) setup_fail("mmap");
  close(fd);
  memcpy(m + PAGE + 10, "private-change", 14);
  if (mprotect(m + 2 * PAGE, PAGE, PROT_READ) != 0) setup_fail("mprotect");
  char spath[4096];
  path_in_dir(spath, sizeof spath, "shared-map.dat");
  int sfd = open(spath, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (sfd < 0 || ftruncate(sfd, PAGE) != 0) setup_fail("shared-map.dat");
  char *sm = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
  if (sm == MAP_FAILED) setup_fail("mmap MAP_SHARED");
  close(sfd);
  memcpy(sm, "shared-before", 13);
  msync(sm, PAGE, MS_SYNC);
  say("ready map=%p shared=%p\n", (void *)m, (void *)sm);

  wait_file(trigger);
  check("modified_page", memcmp(m + PAGE + 10, "private-change", 14) == 0 && pattern_ok(m + PAGE, 10, PAGE, 9) &&
                             pattern_ok(m + PAGE + 24, PAGE - 24, PAGE + 24, 9),
        "page 1 does not hold the in-memory modification over the file's data");
  check("clean_pages", pattern_ok(m, PAGE, 0, 9) && pattern_ok(m + 2 * PAGE, PAGE, 2 * PAGE, 9),
        "pages 0 and 2 differ from the file");
  char want[64], line[512];
  snprintf(want, sizeof want, "%lx-", (unsigned long)(m + 2 * PAGE));
  char perms[3][8] = {"", "", ""};
  FILE *f = fopen("/proc/self/maps", "r");
  while (f && fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char p[8];
    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, p) != 3) continue;
    for (int k = 0; k < 3; k++)
      if (lo <= (unsigned long)(m + k * PAGE) && (unsigned long)(m + k * PAGE) < hi) snprintf(perms[k], 8, "%s", p);
  }
  if (f) fclose(f);
  check("protections", strcmp(perms[0], "rw-p") == 0 && strcmp(perms[1], "rw-p") == 0 &&
                           strcmp(perms[2], "r--p") == 0,
        "pages 0,1,2 are %s,%s,%s; expected rw-p,rw-p,r--p", perms[0], perms[1], perms[2]);
  m[0] ^= 0xff; /* private: never reaches the file */
  static unsigned char disk[3 * PAGE + 1];
  fd = open(path, O_RDONLY);
  ssize_t r = fd >= 0 ? pread(fd, disk, sizeof disk, 0) : -1;
  check("file_unchanged", r == 3 * PAGE && pattern_ok(disk, 3 * PAGE, 0, 9), "%s holds %zd bytes, or others", path, r);
  if (fd >= 0) close(fd);
  /* The MAP_SHARED file mapping is still the file's pages, both ways. */
  check("shared_content", memcmp(sm, "shared-before", 13) == 0, "the shared mapping lost what was written to it");
  memcpy(sm + 100, "shared-after", 12);
  msync(sm, PAGE, MS_SYNC);
  char back[16] = {0};
  fd = open(spath, O_RDWR);
  check("shared_to_file", fd >= 0 && pread(fd, back, 12, 100) == 12 && memcmp(back, "shared-after", 12) == 0,
        "a write to the shared mapping did not reach the file: \"%s\"", back);
  check("file_to_shared", fd >= 0 && pwrite(fd, "from-fd", 7, 200) == 7 && memcmp(sm + 200, "from-fd", 7) == 0,
        "a write to the file is not seen in the shared mapping");
  if (fd >= 0) close(fd);
  return finish();
}

/* ------------------------------------------------------------------ creds */

struct ids {
  uid_t r, e, s;
  gid_t gr, ge, gs;
  int ngroups;
  gid_t groups[64];
  int dumpable;
  char capeff[32], capprm[32], capbnd[32];
};

static int cmp_gid(const void *a, const void *b) {
  gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
  return x < y ? -1 : x > y;
}

static void read_ids(struct ids *x) {
  memset(x, 0, sizeof *x);
  getresuid(&x->r, &x->e, &x->s);
  getresgid(&x->gr, &x->ge, &x->gs);
  x->ngroups = getgroups(64, x->groups);
  if (x->ngroups > 0) qsort(x->groups, (size_t)x->ngroups, sizeof(gid_t), cmp_gid);
  x->dumpable = prctl(PR_GET_DUMPABLE);
  proc_field("/proc/self/status", "CapEff", x->capeff, sizeof x->capeff);
  proc_field("/proc/self/status", "CapPrm", x->capprm, sizeof x->capprm);
  proc_field("/proc/self/status", "CapBnd", x->capbnd, sizeof x->capbnd);
}

static void format_ids(const struct ids *x, char *out, size_t size) {
  int n = snprintf(out, size, "uid=%u,%u,%u gid=%u,%u,%u groups=", x->r, x->e, x->s, x->gr, x->ge, x->gs);
  for (int k = 0; k < x->ngroups && n < (int)size; k++) n += snprintf(out + n, size - n, "%s%u", k ? "," : "", x->groups[k]);
  snprintf(out + n, size - n, " dumpable=%d capeff=%s capprm=%s", x->dumpable, x->capeff, x->capprm);
}

/* Every task's Uid:/Gid: lines equal the main thread's. */
static int threads_agree(char *details, size_t size) {
  char uid[128], gid[128], path[300], u[128], g[128];
  proc_field("/proc/self/status", "Uid", uid, sizeof uid);
  proc_field("/proc/self/status", "Gid", gid, sizeof gid);
  DIR *d = opendir("/proc/self/task");
  int ok = d != NULL, n = 0;
  struct dirent *e;
  details[0] = 0;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
    proc_field(path, "Uid", u, sizeof u);
    proc_field(path, "Gid", g, sizeof g);
    n++;
    if (strcmp(u, uid) != 0 || strcmp(g, gid) != 0) {
      ok = 0;
      snprintf(details + strlen(details), size - strlen(details), "task %s: Uid %s Gid %s (main: %s / %s); ",
               e->d_name, u, g, uid, gid);
    }
  }
  if (d) closedir(d);
  if (ok) snprintf(details, size, "%d tasks agree", n);
  return ok;
}

static int mode_creds(int argc, char **argv) {
  if (argc >= 3) {
    uid_t uid = (uid_t)atol(argv[0]);
    gid_t gid = (gid_t)atol(argv[1]);
    gid_t groups[16];
    int n = 0;
    for (char *s = strtok(argv[2], ","); s && n < 16; s = strtok(NULL, ",")) groups[n++] = (gid_t)atol(s);
    if (setgroups((size_t)n, groups) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
      setup_fail("dropping privileges");
  }
  struct ids before, after;
  read_ids(&before);
  char text[512], details[1024];
  format_ids(&before, text, sizeof text);
  int agree = threads_agree(details, sizeof details);
  say("ready %s\n", text);

  wait_file(trigger);
  check("threads_before", agree, "before the checkpoint: %s", details);
  read_ids(&after);
  char now[512];
  format_ids(&after, now, sizeof now);
  check("resuid", before.r == after.r && before.e == after.e && before.s == after.s, "%s, was %s", now, text);
  check("resgid", before.gr == after.gr && before.ge == after.ge && before.gs == after.gs, "%s, was %s", now, text);
  check("groups", before.ngroups == after.ngroups &&
                      memcmp(before.groups, after.groups, sizeof(gid_t) * (size_t)(before.ngroups > 0 ? before.ngroups : 0)) == 0,
        "%s, was %s", now, text);
  check("caps", strcmp(before.capeff, after.capeff) == 0 && strcmp(before.capprm, after.capprm) == 0 &&
                    strcmp(before.capbnd, after.capbnd) == 0,
        "%s, was %s", now, text);
  check("dumpable", before.dumpable == after.dumpable, "%s, was %s", now, text);
  check("threads_after", threads_agree(details, sizeof details), "%s", details);
  say("ids %s\n", now);
  return finish();
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: res_files files|deleted|sparse|nofile|locks|pipes|shm|posixshm|mapping|creds DIR TRIGGER [ARGS...]\n");
    return 100;
  }
  const char *mode = argv[1];
  dir = argv[2];
  trigger = argv[3];
  if (!strcmp(mode, "files")) return mode_files();
  if (!strcmp(mode, "deleted")) return mode_deleted();
  if (!strcmp(mode, "sparse")) return mode_sparse();
  if (!strcmp(mode, "nofile")) return mode_nofile();
  if (!strcmp(mode, "locks")) return mode_locks();
  if (!strcmp(mode, "pipes")) return mode_pipes();
  if (!strcmp(mode, "shm")) return mode_shm();
  if (!strcmp(mode, "posixshm")) return mode_posixshm();
  if (!strcmp(mode, "mapping")) return mode_mapping();
  if (!strcmp(mode, "creds")) return mode_creds(argc - 4, argv + 4);
  fprintf(stderr, "res_files: unknown mode %s\n", mode);
  return 100;
}
