/* res_sockets: sockets whose both ends a restore can re-create
 * (tests_resources.py).
 *
 * usage: res_sockets MODE DIR TRIGGER THAW_SIGNAL [ARGS...]
 *
 * Sets MODE's sockets up, prints "ready ...", waits for the file TRIGGER and
 * checks them (output as in res_common.h). A handler for THAW_SIGNAL prints
 * "thaw value=N" (SIGTHAW's si_value: how many sockets were restored closed).
 *
 *   pairs  AF_UNIX socket pairs with data queued in them:
 *          - stream s0/s1: 3000 bytes s0 -> s1 and 1000 bytes s1 -> s0
 *            unread; s0 O_NONBLOCK and close-on-exec; s1 also at fd 200
 *            (dup: one open file description);
 *          - datagram d0/d1: three datagrams (3, 5 and 2000 bytes) for d0,
 *            one for d1;
 *          - seqpacket q0/q1: two records for q1, then q0 shut down for
 *            writing;
 *          - stream h0/h1: "last words" for h1, then h0 shut down for
 *            writing.
 *          Checks every queue (contents, message boundaries, end-of-file
 *          after a shutdown), the descriptor numbers, flags and sharing, and
 *          that the pairs still carry new data both ways.
 *   udp    a UDP socket "server" bound to 127.0.0.1 (port chosen by the
 *          kernel) and a "client" UDP socket connected to it; another UDP
 *          socket connected to 127.0.0.1:PORT (ARGS: PORT, the test's
 *          socket). Prints "ready server=PORT client=PORT out=PORT".
 *          Checks that each keeps its addresses, that the client's
 *          datagram reaches the server from the same address and the reply
 *          comes back, and that the test's socket and ours still talk (the
 *          test sends "from-test" before TRIGGER; we answer "from-app").
 * Exit status 0 once the checks ran ("done failures=N"); 1 if the set-up
 * failed; 3 if a trigger never came. */
#include "res_common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

static const char *trigger;

static void on_thaw(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)uc;
  char line[64];
  int n = snprintf(line, sizeof line, "thaw value=%d\n", si->si_value.sival_int);
  if (write(1, line, (size_t)n) < 0) {
  }
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 13 + seed);
}

static int filled(const unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)(i * 13 + seed)) return 0;
  return 1;
}

static void send_all(int fd, const void *p, size_t n) {
  if (send(fd, p, n, 0) != (ssize_t)n) setup_fail("send");
}

/* Reads what is there (non-blocking) up to n bytes. */
static size_t drain(int fd, unsigned char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
    if (r <= 0) break;
    got += (size_t)r;
  }
  return got;
}

static int mode_pairs(void) {
  int s[2], d[2], q[2], h[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) || socketpair(AF_UNIX, SOCK_DGRAM, 0, d) ||
      socketpair(AF_UNIX, SOCK_SEQPACKET, 0, q) || socketpair(AF_UNIX, SOCK_STREAM, 0, h))
    setup_fail("socketpair");
  static unsigned char buf[4096];
  fill(buf, 3000, 1);
  send_all(s[0], buf, 3000);
  fill(buf, 1000, 2);
  send_all(s[1], buf, 1000);
  fcntl(s[0], F_SETFL, O_NONBLOCK);
  fcntl(s[0], F_SETFD, FD_CLOEXEC);
  if (dup2(s[1], 200) != 200) setup_fail("dup2 200");
  send_all(d[1], "one", 3);
  send_all(d[1], "two!!", 5);
  fill(buf, 2000, 3);
  send_all(d[1], buf, 2000);
  send_all(d[0], "back", 4);
  send_all(q[0], "first", 5);
  send_all(q[0], "second", 6);
  shutdown(q[0], SHUT_WR);
  send_all(h[0], "last words", 10);
  shutdown(h[0], SHUT_WR);
  say("ready s=%d,%d d=%d,%d q=%d,%d h=%d,%d\n", s[0], s[1], d[0], d[1], q[0], q[1], h[0], h[1]);

  wait_file(trigger);
  static unsigned char got[8192];
  size_t n = drain(s[1], got, sizeof got);
  check("stream_a_to_b", n == 3000 && filled(got, n, 1), "read %zu bytes", n);
  n = drain(s[0], got, sizeof got);
  check("stream_b_to_a", n == 1000 && filled(got, n, 2), "read %zu bytes", n);
  int fl0 = fcntl(s[0], F_GETFL), fd0 = fcntl(s[0], F_GETFD), fl1 = fcntl(s[1], F_GETFL);
  check("stream_flags", (fl0 & O_NONBLOCK) && (fd0 & FD_CLOEXEC) && !(fl1 & O_NONBLOCK),
        "s0 flags %#o fd flags %d, s1 flags %#o", fl0, fd0, fl1);
  fcntl(200, F_SETFL, O_NONBLOCK);
  int shared = (fcntl(s[1], F_GETFL) & O_NONBLOCK) != 0;
  fcntl(200, F_SETFL, 0);
  int type = 0;
  socklen_t len = sizeof type;
  getsockopt(200, SOL_SOCKET, SO_TYPE, &type, &len);
  check("stream_dup_shared", shared && type == SOCK_STREAM, "fd 200 shares the description: %d, type %d", shared, type);
  ssize_t w = send(s[0], "ping", 4, 0);
  n = w == 4 ? (size_t)recv(200, got, sizeof got, 0) : 0;
  ssize_t w2 = send(s[1], "pong", 4, 0);
  size_t n2 = w2 == 4 ? drain(s[0], got + 100, 100) : 0;
  check("stream_still_paired", n == 4 && !memcmp(got, "ping", 4) && n2 == 4 && !memcmp(got + 100, "pong", 4),
        "ping %zu pong %zu", n, n2);

  ssize_t r1 = recv(d[0], got, sizeof got, MSG_DONTWAIT);
  int ok = r1 == 3 && !memcmp(got, "one", 3);
  ssize_t r2 = recv(d[0], got, sizeof got, MSG_DONTWAIT);
  ok = ok && r2 == 5 && !memcmp(got, "two!!", 5);
  ssize_t r3 = recv(d[0], got, sizeof got, MSG_DONTWAIT);
  ok = ok && r3 == 2000 && filled(got, 2000, 3);
  ssize_t r4 = recv(d[0], got, sizeof got, MSG_DONTWAIT);
  check("dgram_messages", ok && r4 < 0 && errno == EAGAIN, "datagrams of %zd, %zd, %zd bytes, then %zd", r1, r2, r3,
        r4);
  r1 = recv(d[1], got, sizeof got, MSG_DONTWAIT);
  check("dgram_other_way", r1 == 4 && !memcmp(got, "back", 4), "%zd bytes", r1);
  send(d[1], "new", 3, 0);
  r1 = recv(d[0], got, sizeof got, MSG_DONTWAIT);
  check("dgram_still_paired", r1 == 3, "%zd bytes", r1);

  r1 = recv(q[1], got, sizeof got, MSG_DONTWAIT);
  r2 = recv(q[1], got + 10, sizeof got - 10, MSG_DONTWAIT);
  r3 = recv(q[1], got + 20, sizeof got - 20, MSG_DONTWAIT);
  check("seqpacket_records_then_eof",
        r1 == 5 && !memcmp(got, "first", 5) && r2 == 6 && !memcmp(got + 10, "second", 6) && r3 == 0,
        "records of %zd and %zd bytes, then %zd", r1, r2, r3);

  r1 = recv(h[1], got, sizeof got, MSG_DONTWAIT);
  r2 = recv(h[1], got + 10, sizeof got - 10, MSG_DONTWAIT);
  w = send(h[0], "more", 4, MSG_NOSIGNAL);
  int err = errno;
  check("half_closed", r1 == 10 && !memcmp(got, "last words", 10) && r2 == 0 && w < 0 && err == EPIPE,
        "read %zd then %zd; send after the shutdown %zd (%s)", r1, r2, w, strerror(err));
  return finish();
}

static int udp_socket(void) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) setup_fail("socket");
  return fd;
}

static int port_of(int fd, int peer) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  if ((peer ? getpeername(fd, (struct sockaddr *)&a, &len) : getsockname(fd, (struct sockaddr *)&a, &len)) != 0)
    return -1;
  return ntohs(a.sin_port);
}

static int mode_udp(int test_port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int server = udp_socket(), client = udp_socket(), out = udp_socket();
  if (bind(server, (struct sockaddr *)&a, sizeof a) != 0) setup_fail("bind server");
  a.sin_port = htons((uint16_t)port_of(server, 0));
  if (connect(client, (struct sockaddr *)&a, sizeof a) != 0) setup_fail("connect client");
  a.sin_port = htons((uint16_t)test_port);
  if (connect(out, (struct sockaddr *)&a, sizeof a) != 0) setup_fail("connect to the test's socket");
  int sp = port_of(server, 0), cp = port_of(client, 0), op = port_of(out, 0);
  say("ready server=%d client=%d out=%d\n", sp, cp, op);

  wait_file(trigger);
  check("server_port", port_of(server, 0) == sp, "bound to %d, was %d", port_of(server, 0), sp);
  check("client_addresses", port_of(client, 0) == cp && port_of(client, 1) == sp, "client %d -> %d, was %d -> %d",
        port_of(client, 0), port_of(client, 1), cp, sp);
  char buf[64] = "";
  ssize_t w = send(client, "hello", 5, 0);
  struct sockaddr_in from;
  socklen_t len = sizeof from;
  ssize_t r = w == 5 ? recvfrom(server, buf, sizeof buf, 0, (struct sockaddr *)&from, &len) : -1;
  check("client_to_server", r == 5 && !memcmp(buf, "hello", 5) && ntohs(from.sin_port) == cp,
        "received %zd bytes from port %d", r, r >= 0 ? ntohs(from.sin_port) : -1);
  w = r == 5 ? sendto(server, "reply", 5, 0, (struct sockaddr *)&from, len) : -1;
  r = w == 5 ? recv(client, buf, sizeof buf, 0) : -1;
  check("server_to_client", r == 5 && !memcmp(buf, "reply", 5), "%zd bytes", r);
  check("out_addresses", port_of(out, 0) == op && port_of(out, 1) == test_port, "%d -> %d", port_of(out, 0),
        port_of(out, 1));
  memset(buf, 0, sizeof buf);
  r = recv(out, buf, sizeof buf, MSG_DONTWAIT);
  check("from_test", r == 9 && !memcmp(buf, "from-test", 9), "%zd bytes: %.9s", r, buf);
  check("to_test", send(out, "from-app", 8, 0) == 8, "send: %s", strerror(errno));
  return finish();
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: res_sockets pairs|udp DIR TRIGGER THAW_SIGNAL [PORT]\n");
    return 100;
  }
  trigger = argv[3];
  struct sigaction sa = {.sa_sigaction = on_thaw, .sa_flags = SA_SIGINFO | SA_RESTART};
  sigaction(atoi(argv[4]), &sa, NULL);
  if (!strcmp(argv[1], "pairs")) return mode_pairs();
  if (!strcmp(argv[1], "udp") && argc == 6) return mode_udp(atoi(argv[5]));
  fprintf(stderr, "res_sockets: bad mode or arguments\n");
  return 100;
}
