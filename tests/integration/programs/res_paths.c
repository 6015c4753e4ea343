/* res_paths: what a restore does with paths (tests_resources.py).
 *
 * usage: res_paths MODE DIR TRIGGER
 *
 * Sets up MODE's resources in directory DIR, prints "ready", waits for the
 * file TRIGGER and then checks them (see res_common.h for the output).
 * Modes:
 *
 *   user     run as an ordinary user (root restores it): the working
 *            directory is DIR; DIR/out.txt open O_WRONLY; DIR/map.dat (one
 *            page) mapped MAP_SHARED read/write; a UNIX socket listening at
 *            DIR/sock; DIR/deleted.dat open O_RDWR and unlinked. Checks the
 *            working directory, that out.txt takes a write, that the
 *            socket file belongs to us and accepts a connection, that the
 *            re-created deleted file belongs to us with its contents, and
 *            that the mapping is still shared with map.dat.
 *   changed  DIR/written.dat (one page) mapped MAP_SHARED read/write and
 *            written through the mapping (its size and modification time
 *            change: the test also rewrites it while the process is down);
 *            DIR/log.txt open O_WRONLY. After TRIGGER the mapping must show
 *            what the file holds now (DIR/written.dat begins with "test:"
 *            once the test wrote it) and a write through the mapping must
 *            reach the file.
 * Exit status 0 once the checks ran ("done failures=N"); 1 if the set-up
 * failed; 3 if a trigger never came. */
#include "res_common.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

static const char *dir, *trigger;

static void path_in_dir(char *out, size_t size, const char *name) { snprintf(out, size, "%s/%s", dir, name); }

static const char kDeleted[] = "contents of a deleted file\n";

static int mode_user(void) {
  char out[4096], map[4096], sock[4096], deleted[4096];
  path_in_dir(out, sizeof out, "out.txt");
  path_in_dir(map, sizeof map, "map.dat");
  path_in_dir(sock, sizeof sock, "sock");
  path_in_dir(deleted, sizeof deleted, "deleted.dat");
  if (chdir(dir) != 0) setup_fail("chdir DIR");

  int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (o < 0 || write(o, "before\n", 7) != 7) setup_fail("out.txt");
  int m = open(map, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (m < 0 || ftruncate(m, 4096) != 0) setup_fail("map.dat");
  char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
  if (p == MAP_FAILED) setup_fail("mmap map.dat");
  close(m);
  strcpy(p, "map-before");
  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(sock) >= sizeof a.sun_path) setup_fail("DIR/sock is too long for a UNIX socket address");
  memcpy(a.sun_path, sock, strlen(sock));
  if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 4) != 0) setup_fail("listen on DIR/sock");
  int d = open(deleted, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (d < 0 || write(d, kDeleted, sizeof kDeleted - 1) != (ssize_t)(sizeof kDeleted - 1) || unlink(deleted) != 0)
    setup_fail("deleted.dat");
  say("ready uid=%d\n", (int)getuid());
  wait_file(trigger);

  char cwd[4096] = "";
  check("cwd", getcwd(cwd, sizeof cwd) && !strcmp(cwd, dir), "cwd %s, expected %s", cwd, dir);
  ssize_t w = write(o, "after\n", 6);
  check("out_write", w == 6, "write to out.txt returned %zd (%s)", w, strerror(errno));
  struct stat st;
  int r = stat(sock, &st);
  check("sock_owner", r == 0 && S_ISSOCK(st.st_mode) && st.st_uid == geteuid(), "stat DIR/sock: %d, mode %o, uid %d",
        r, r == 0 ? st.st_mode : 0, r == 0 ? (int)st.st_uid : -1);
  int c = socket(AF_UNIX, SOCK_STREAM, 0);
  int conn = connect(c, (struct sockaddr *)&a, sizeof a);
  int acc = conn == 0 ? accept(l, NULL, NULL) : -1;
  check("sock_accepts", conn == 0 && acc >= 0, "connect %d accept %d (%s)", conn, acc, strerror(errno));
  char buf[64] = "";
  r = fstat(d, &st);
  ssize_t n = pread(d, buf, sizeof buf - 1, 0);
  check("deleted_owner", r == 0 && st.st_uid == geteuid() && st.st_nlink == 0, "uid %d links %d",
        r == 0 ? (int)st.st_uid : -1, r == 0 ? (int)st.st_nlink : -1);
  check("deleted_contents", n == (ssize_t)(sizeof kDeleted - 1) && !memcmp(buf, kDeleted, (size_t)n),
        "read %zd bytes", n);
  int ok_before = !strcmp(p, "map-before");
  strcpy(p, "map-after");
  msync(p, 4096, MS_SYNC);
  int f = open(map, O_RDONLY);
  memset(buf, 0, sizeof buf);
  n = f >= 0 ? pread(f, buf, 9, 0) : -1;
  check("map_shared", ok_before && n == 9 && !memcmp(buf, "map-after", 9), "before: %.16s, file after: %.16s", p,
        buf);
  return finish();
}

static int mode_changed(void) {
  char written[4096], log[4096];
  path_in_dir(written, sizeof written, "written.dat");
  path_in_dir(log, sizeof log, "log.txt");
  int f = open(written, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (f < 0 || ftruncate(f, 4096) != 0) setup_fail("written.dat");
  char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
  if (p == MAP_FAILED) setup_fail("mmap written.dat");
  close(f);
  int lg = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (lg < 0) setup_fail("log.txt");
  strcpy(p, "app: 0");
  msync(p, 4096, MS_SYNC);
  say("ready\n");
  for (int i = 1; !trigger_seen(trigger); i++) {  /* keeps writing through the mapping */
    snprintf(p, 64, "app: %d", i);
    sleep_ms(20);
  }
  char now[64];
  f = open(written, O_RDONLY);
  memset(now, 0, sizeof now);
  ssize_t n = f >= 0 ? pread(f, now, sizeof now - 1, 0) : -1;
  check("mapping_is_file", n > 0 && !strncmp(p, now, sizeof now - 1), "mapping %.32s, file %.32s", p, now);
  strcpy(p, "app: after");
  msync(p, 4096, MS_SYNC);
  memset(now, 0, sizeof now);
  n = pread(f, now, sizeof now - 1, 0);
  check("write_reaches_file", n > 0 && !strcmp(now, "app: after"), "file holds %.32s", now);
  check("log_write", write(lg, "log\n", 4) == 4, "write to log.txt: %s", strerror(errno));
  return finish();
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: res_paths user|changed DIR TRIGGER\n");
    return 100;
  }
  const char *mode = argv[1];
  dir = argv[2];
  trigger = argv[3];
  if (!strcmp(mode, "user")) return mode_user();
  if (!strcmp(mode, "changed")) return mode_changed();
  fprintf(stderr, "res_paths: unknown mode %s\n", mode);
  return 100;
}
