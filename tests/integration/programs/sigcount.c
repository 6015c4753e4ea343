/* sigcount: counts SIGUSR1 in memory and logs each one to a file.
 * FILE is opened with O_APPEND; every SIGUSR1 increments an in-memory counter
 * and the handler appends the new value as one line ("N\n", one write(2)).
 * SIGUSR2 asks the program to stop: it prints "done count=N" and exits 0.
 * The main loop sleeps; it gives up after MAX_SECONDS of sleeping (exit 3),
 * so a forgotten instance does not live forever.
 * Prints "ready pid=P" once the handlers are installed.
 * usage: sigcount FILE MAX_SECONDS */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;
static volatile sig_atomic_t count;
static volatile sig_atomic_t stop;

static void on_usr1(int sig) {
  (void)sig;
  int saved_errno = errno;
  count++;
  char buf[24];
  int n = sizeof buf;
  buf[--n] = '\n';
  unsigned v = (unsigned)count;
  do {
    buf[--n] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  (void)!write(log_fd, buf + n, sizeof buf - n);
  errno = saved_errno;
}

static void on_usr2(int sig) {
  (void)sig;
  stop = 1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: sigcount FILE MAX_SECONDS\n");
    return 100;
  }
  log_fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    perror(argv[1]);
    return 1;
  }
  long max_ticks = atol(argv[2]) * 20; /* 50 ms each */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = on_usr2;
  sigaction(SIGUSR2, &sa, NULL);
  printf("ready pid=%d\n", getpid());
  fflush(stdout);
  for (long t = 0; !stop; t++) {
    if (t >= max_ticks) {
      printf("gave up count=%d\n", (int)count);
      return 3;
    }
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  printf("done count=%d\n", (int)count);
  return 0;
}
