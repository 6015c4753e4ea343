/* nouserns: runs a command as the calling (unprivileged) user in a fresh
 * user namespace, with the caller's uid and gid mapped to themselves and
 * user-namespace creation disabled inside (max_user_namespaces = 0, a limit
 * of that namespace only). The command has no capabilities and can create
 * no user namespace: the situation in which ckpt-run --restore can neither
 * restore the original pid nor use a pid namespace (only --new-pid works).
 * Nothing outside the namespace changes.
 *
 * usage: nouserns COMMAND [ARGS...]
 * Exit status 3 if the namespace cannot be set up (message on stderr),
 * else the command's (execvp). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int put(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  int saved = errno;
  close(fd);
  errno = saved;
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: nouserns COMMAND [ARGS...]\n");
    return 100;
  }
  uid_t uid = getuid();
  gid_t gid = getgid();
  if (uid == 0) {
    fprintf(stderr, "nouserns: run me as an ordinary user\n");
    return 3;
  }
  if (unshare(CLONE_NEWUSER) != 0) {
    fprintf(stderr, "nouserns: unshare(CLONE_NEWUSER): %s\n", strerror(errno));
    return 3;
  }
  char map[64];
  snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
  if (put("/proc/self/uid_map", map) != 0) {
    fprintf(stderr, "nouserns: uid_map: %s\n", strerror(errno));
    return 3;
  }
  if (put("/proc/self/setgroups", "deny") != 0) {
    fprintf(stderr, "nouserns: setgroups: %s\n", strerror(errno));
    return 3;
  }
  snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
  if (put("/proc/self/gid_map", map) != 0) {
    fprintf(stderr, "nouserns: gid_map: %s\n", strerror(errno));
    return 3;
  }
  if (put("/proc/sys/user/max_user_namespaces", "0\n") != 0) {
    fprintf(stderr, "nouserns: max_user_namespaces: %s\n", strerror(errno));
    return 3;
  }
  execvp(argv[1], argv + 1);
  fprintf(stderr, "nouserns: %s: %s\n", argv[1], strerror(errno));
  return 127;
}
