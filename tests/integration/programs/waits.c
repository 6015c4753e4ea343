/* waits: blocking waits with timeouts, one per thread, that a checkpoint
 * (or a checkpoint, a kill and a later restore) must not disturb.
 *
 * usage: waits
 *
 * Nine threads start together, each in one timed wait on something that
 * never happens:
 *   nanosleep        2000 ms
 *   clock_nanosleep  2200 ms  (CLOCK_MONOTONIC, relative)
 *   poll             2500 ms  (read end of a pipe nothing writes)
 *   poll_nofds       2600 ms  (no fds: a pure timeout)
 *   select           2700 ms  (same pipe)
 *   select_nofds     2800 ms  (no fds)
 *   epoll_wait       3000 ms  (epoll set holding the pipe)
 *   sem_timedwait    3200 ms  (absolute CLOCK_REALTIME deadline)
 *   sigtimedwait     3500 ms  (SIGUSR2, blocked everywhere, never sent)
 * Each makes exactly one call: no retry on EINTR. Main prints
 *     waiting mono=NS
 * (CLOCK_MONOTONIC ns) when they start, each thread then prints
 *     wait NAME timeout_ms=T rc=R errno=E start=NS end=NS elapsed_ms=X info=I
 * (errno=0 unless rc is -1; for clock_nanosleep rc is the returned error
 * number; info is poll's revents in hex, else "-"), and main prints "done"
 * and exits 0. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static int pipe_fds[2], epfd;
static sem_t sem;
static pthread_barrier_t start_bar;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

enum { NANOSLEEP, CLOCK_NANOSLEEP, POLL, POLL_NOFDS, SELECT, SELECT_NOFDS, EPOLL_WAIT, SEM_TIMEDWAIT, SIGTIMEDWAIT, NWAITS };
static const char *names[NWAITS] = {"nanosleep", "clock_nanosleep", "poll",          "poll_nofds",  "select",
                                    "select_nofds", "epoll_wait",  "sem_timedwait", "sigtimedwait"};
static const long timeouts_ms[NWAITS] = {2000, 2200, 2500, 2600, 2700, 2800, 3000, 3200, 3500};

static void *waiter(void *arg) {
  int w = (int)(intptr_t)arg;
  long ms = timeouts_ms[w];
  struct timespec rel = {ms / 1000, (ms % 1000) * 1000000L};
  pthread_barrier_wait(&start_bar);
  uint64_t start = now_ns();
  int rc = 0, err = 0;
  char info[32] = "-";
  errno = 0;
  switch (w) {
    case NANOSLEEP:
      rc = nanosleep(&rel, NULL);
      break;
    case CLOCK_NANOSLEEP:
      rc = clock_nanosleep(CLOCK_MONOTONIC, 0, &rel, NULL);
      break;
    case POLL: {
      struct pollfd p = {.fd = pipe_fds[0], .events = POLLIN};
      rc = poll(&p, 1, (int)ms);
      snprintf(info, sizeof info, "%#x", (unsigned)p.revents);
      break;
    }
    case POLL_NOFDS:
      rc = poll(NULL, 0, (int)ms);
      break;
    case SELECT: {
      fd_set rd;
      FD_ZERO(&rd);
      FD_SET(pipe_fds[0], &rd);
      struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
      rc = select(pipe_fds[0] + 1, &rd, NULL, NULL, &tv);
      break;
    }
    case SELECT_NOFDS: {
      struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
      rc = select(0, NULL, NULL, NULL, &tv);
      break;
    }
    case EPOLL_WAIT: {
      struct epoll_event ev;
      rc = epoll_wait(epfd, &ev, 1, (int)ms);
      break;
    }
    case SEM_TIMEDWAIT: {
      struct timespec abs;
      clock_gettime(CLOCK_REALTIME, &abs);
      abs.tv_sec += rel.tv_sec;
      abs.tv_nsec += rel.tv_nsec;
      if (abs.tv_nsec >= 1000000000L) {
        abs.tv_sec++;
        abs.tv_nsec -= 1000000000L;
      }
      rc = sem_timedwait(&sem, &abs);
      break;
    }
    case SIGTIMEDWAIT: {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGUSR2);
      rc = sigtimedwait(&set, NULL, &rel);
      break;
    }
  }
  if (rc == -1) err = errno;
  uint64_t end = now_ns();
  pthread_mutex_lock(&out_mu);
  printf("wait %s timeout_ms=%ld rc=%d errno=%d start=%llu end=%llu elapsed_ms=%llu info=%s\n", names[w], ms, rc, err,
         (unsigned long long)start, (unsigned long long)end, (unsigned long long)((end - start) / 1000000ULL), info);
  fflush(stdout);
  pthread_mutex_unlock(&out_mu);
  return NULL;
}

int main(void) {
  if (pipe(pipe_fds) != 0) return 1;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN};
  if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, pipe_fds[0], &ev) != 0) return 1;
  sem_init(&sem, 0, 0);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread */
  pthread_barrier_init(&start_bar, NULL, NWAITS + 1);
  pthread_t th[NWAITS];
  for (intptr_t i = 0; i < NWAITS; i++) pthread_create(&th[i], NULL, waiter, (void *)i);
  pthread_barrier_wait(&start_bar);
  printf("waiting mono=%llu pid=%d\n", (unsigned long long)now_ns(), getpid());
  fflush(stdout);
  for (int i = 0; i < NWAITS; i++) pthread_join(th[i], NULL);
  printf("done\n");
  fflush(stdout);
  return 0;
}
