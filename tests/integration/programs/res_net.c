/* res_net: a TCP server on 127.0.0.1 across a checkpoint/restart
 * (tests_resources.py).
 *
 * usage: res_net STOP_FILE THAW_SIGNAL [noreuse]
 *
 * Listens on 127.0.0.1, port 0 (the kernel picks one; with SO_REUSEADDR
 * unless "noreuse"), and prints
 * "listening port=P". Serves every connection in one poll loop:
 *   accepted conn=ID                     a new connection (IDs from 1)
 *   for each line "ping X" it answers "pong X conn=ID pid=PID\n"
 *   closed conn=ID how=eof|reset|error errno=E
 *                                        the peer went away (read 0 / error)
 * A handler for THAW_SIGNAL (SA_SIGINFO) makes the loop print
 *   thaw value=V count=N                 (V: the signal's si_value)
 * Exits 0 with "done" when STOP_FILE exists (exit 3 after 120 s). */
#include "res_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#define MAX_CONNS 16

static volatile sig_atomic_t thaws;
static volatile int thaw_value;

static void on_thaw(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)uc;
  thaw_value = si->si_value.sival_int;
  thaws++;
}

struct conn {
  int fd, id;
  char buf[512];
  size_t len;
};

static void serve_lines(struct conn *c) {
  char *nl;
  while ((nl = memchr(c->buf, '\n', c->len))) {
    *nl = 0;
    char reply[640];
    int n;
    if (strncmp(c->buf, "ping ", 5) == 0)
      n = snprintf(reply, sizeof reply, "pong %s conn=%d pid=%d\n", c->buf + 5, c->id, getpid());
    else
      n = snprintf(reply, sizeof reply, "what %s\n", c->buf);
    if (send(c->fd, reply, (size_t)n, MSG_NOSIGNAL) != n) say("send conn=%d failed errno=%d\n", c->id, errno);
    size_t used = (size_t)(nl - c->buf) + 1;
    memmove(c->buf, nl + 1, c->len - used);
    c->len -= used;
  }
}

int main(int argc, char **argv) {
  if (argc != 3 && !(argc == 4 && !strcmp(argv[3], "noreuse"))) {
    fprintf(stderr, "usage: res_net STOP_FILE THAW_SIGNAL [noreuse]\n");
    return 100;
  }
  const char *stop = argv[1];
  struct sigaction sa = {.sa_sigaction = on_thaw, .sa_flags = SA_SIGINFO | SA_RESTART};
  if (sigaction(atoi(argv[2]), &sa, NULL) != 0) setup_fail("sigaction(THAW_SIGNAL)");

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (argc == 3) setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 16) != 0) setup_fail("bind/listen");
  socklen_t alen = sizeof addr;
  getsockname(lfd, (struct sockaddr *)&addr, &alen);
  say("listening port=%d pid=%d\n", ntohs(addr.sin_port), getpid());

  static struct conn conns[MAX_CONNS];
  int nconns = 0, next_id = 1, printed_thaws = 0;
  while (!trigger_seen(stop)) {
    if (thaws != printed_thaws) {
      printed_thaws = thaws;
      say("thaw value=%d count=%d\n", thaw_value, printed_thaws);
    }
    struct pollfd pfd[MAX_CONNS + 1];
    pfd[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
    for (int k = 0; k < nconns; k++) pfd[k + 1] = (struct pollfd){.fd = conns[k].fd, .events = POLLIN};
    int n = poll(pfd, (nfds_t)nconns + 1, 100);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) setup_fail("poll");
    if (pfd[0].revents & POLLIN) {
      int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
      if (fd >= 0 && nconns < MAX_CONNS) {
        conns[nconns] = (struct conn){.fd = fd, .id = next_id++};
        say("accepted conn=%d\n", conns[nconns].id);
        nconns++;
      } else if (fd >= 0) {
        close(fd);
      }
    }
    for (int k = nconns - 1; k >= 0; k--) {
      if (!pfd[k + 1].revents) continue;
      struct conn *c = &conns[k];
      ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, MSG_DONTWAIT);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r > 0) {
        c->len += (size_t)r;
        serve_lines(c);
        continue;
      }
      const char *how = r == 0 ? "eof" : errno == ECONNRESET ? "reset" : "error";
      say("closed conn=%d how=%s errno=%d\n", c->id, how, r == 0 ? 0 : errno);
      close(c->fd);
      conns[k] = conns[--nconns];
    }
  }
  say("done\n");
  return 0;
}
