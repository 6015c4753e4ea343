/* manyfds: a process with thousands of descriptors.
 * For each of N groups: /etc/passwd opened and seeked to (i % 97), a dup of
 * that descriptor, a pipe holding "group i\n", and a UNIX socketpair. Raises
 * its soft RLIMIT_NOFILE as needed, prints "ready FDS", and waits until the
 * file GO exists; then checks every group (the dup shares the offset and
 * moves with it, a separately opened file does not, the pipe still holds
 * its line, the socketpair carries a message both ways) and prints
 * "check ok N" (exit 0) or "check bad GROUP what" (exit 1).
 * usage: manyfds N GO */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct group {
  int file, dup, other, pipe_r, pipe_w, sock[2];
};

static int bad(int i, const char *what) {
  printf("check bad %d %s\n", i, what);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: manyfds N GO\n");
    return 100;
  }
  int n = atoi(argv[1]);
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t want = (rlim_t)n * 7 + 64;
  if (rl.rlim_cur < want) {
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  struct group *g = calloc((size_t)n, sizeof *g);
  for (int i = 0; i < n; i++) {
    int p[2];
    g[i].file = open("/etc/passwd", O_RDONLY);
    g[i].other = open("/etc/passwd", O_RDONLY);
    if (g[i].file < 0 || g[i].other < 0 || pipe(p) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, g[i].sock) != 0) {
      printf("setup failed at group %d: %s\n", i, strerror(errno));
      return 3;
    }
    g[i].dup = dup(g[i].file);
    lseek(g[i].file, i % 97, SEEK_SET);
    g[i].pipe_r = p[0];
    g[i].pipe_w = p[1];
    char line[32];
    int len = snprintf(line, sizeof line, "group %d\n", i);
    if (write(p[1], line, (size_t)len) != len) return bad(i, "pipe write");
  }
  printf("ready %d\n", n * 7);
  struct timespec pause = {0, 50 * 1000000};
  while (access(argv[2], F_OK) != 0) nanosleep(&pause, NULL);

  for (int i = 0; i < n; i++) {
    if (lseek(g[i].dup, 0, SEEK_CUR) != i % 97) return bad(i, "dup offset");
    if (lseek(g[i].other, 0, SEEK_CUR) != 0) return bad(i, "other offset");
    lseek(g[i].dup, 5, SEEK_CUR);
    if (lseek(g[i].file, 0, SEEK_CUR) != i % 97 + 5) return bad(i, "dup not shared");
    char want_line[32], got[32] = {0};
    int len = snprintf(want_line, sizeof want_line, "group %d\n", i);
    if (read(g[i].pipe_r, got, sizeof got) != len || memcmp(got, want_line, (size_t)len) != 0)
      return bad(i, "pipe data");
    if (write(g[i].sock[0], "ping", 4) != 4 || read(g[i].sock[1], got, 4) != 4 || memcmp(got, "ping", 4) != 0)
      return bad(i, "socketpair one way");
    if (write(g[i].sock[1], "pong", 4) != 4 || read(g[i].sock[0], got, 4) != 4 || memcmp(got, "pong", 4) != 0)
      return bad(i, "socketpair other way");
  }
  printf("check ok %d\n", n);
  return 0;
}
