/* timers: POSIX timers and the real-time itimer across a checkpoint/restart.
 *
 * usage: timers STOP_FILE MAX_SECONDS ITIMER_MS THREAD_PERIOD_MS SIGNAL_PERIOD_MS
 *
 *   - a SIGEV_THREAD timer (CLOCK_MONOTONIC, every THREAD_PERIOD_MS) whose
 *     callback, run by glibc's helper thread, increments a counter;
 *   - a SIGEV_SIGNAL timer (CLOCK_MONOTONIC, every SIGNAL_PERIOD_MS,
 *     SIGRTMIN+1) whose handler increments another counter;
 *   - setitimer(ITIMER_REAL) once, ITIMER_MS from the start: the SIGALRM
 *     handler records when it ran.
 * Prints "armed mono=NS itimer_ms=N" (CLOCK_MONOTONIC ns, the clock of the
 * test's time.monotonic()) once all three are armed, then every 100 ms
 *     counts mono=NS thread=N signal=M
 * and once, after SIGALRM: "alarm fired mono=NS". Stops when STOP_FILE
 * exists ("done thread=N signal=M alarms=A", exit 0) or after MAX_SECONDS
 * (exit 3). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static unsigned long thread_fires;
static volatile sig_atomic_t signal_fires;
static volatile sig_atomic_t alarms;
static volatile uint64_t alarm_ns;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static void on_thread_timer(union sigval v) {
  (void)v;
  __atomic_add_fetch(&thread_fires, 1, __ATOMIC_RELAXED);
}

static void on_signal_timer(int sig) {
  (void)sig;
  signal_fires++;
}

static void on_alarm(int sig) {
  (void)sig;
  alarm_ns = now_ns();
  alarms++;
}

static struct timespec ms_ts(long ms) { return (struct timespec){ms / 1000, (ms % 1000) * 1000000L}; }

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: timers STOP_FILE MAX_SECONDS ITIMER_MS THREAD_PERIOD_MS SIGNAL_PERIOD_MS\n");
    return 100;
  }
  const char *stop = argv[1];
  uint64_t end = now_ns() + (uint64_t)atol(argv[2]) * 1000000000ULL;
  long itimer_ms = atol(argv[3]), thread_ms = atol(argv[4]), signal_ms = atol(argv[5]);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_flags = SA_RESTART;
  sa.sa_handler = on_signal_timer;
  sigaction(SIGRTMIN + 1, &sa, NULL);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);

  timer_t tt, ts;
  struct sigevent ev;
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_THREAD;
  ev.sigev_notify_function = on_thread_timer;
  if (timer_create(CLOCK_MONOTONIC, &ev, &tt) != 0) {
    perror("timer_create(SIGEV_THREAD)");
    return 1;
  }
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = SIGRTMIN + 1;
  if (timer_create(CLOCK_MONOTONIC, &ev, &ts) != 0) {
    perror("timer_create(SIGEV_SIGNAL)");
    return 1;
  }
  struct itimerspec its = {ms_ts(thread_ms), ms_ts(thread_ms)};
  timer_settime(tt, 0, &its, NULL);
  its = (struct itimerspec){ms_ts(signal_ms), ms_ts(signal_ms)};
  timer_settime(ts, 0, &its, NULL);
  struct itimerval itv = {{0, 0}, {itimer_ms / 1000, (itimer_ms % 1000) * 1000}};
  setitimer(ITIMER_REAL, &itv, NULL);
  printf("armed mono=%llu itimer_ms=%ld pid=%d\n", (unsigned long long)now_ns(), itimer_ms, getpid());
  fflush(stdout);

  int alarm_reported = 0;
  for (uint64_t next = now_ns();;) {
    next += 100000000ULL;
    struct timespec abs = {(time_t)(next / 1000000000ULL), (long)(next % 1000000000ULL)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL) == EINTR) {
    }
    uint64_t t = now_ns();
    printf("counts mono=%llu thread=%lu signal=%d\n", (unsigned long long)t,
           __atomic_load_n(&thread_fires, __ATOMIC_RELAXED), (int)signal_fires);
    if (alarms && !alarm_reported) {
      printf("alarm fired mono=%llu\n", (unsigned long long)alarm_ns);
      alarm_reported = 1;
    }
    fflush(stdout);
    struct stat st;
    if (stat(stop, &st) == 0) break;
    if (t >= end) {
      printf("gave up\n");
      return 3;
    }
  }
  printf("done thread=%lu signal=%d alarms=%d\n", __atomic_load_n(&thread_fires, __ATOMIC_RELAXED), (int)signal_fires,
         (int)alarms);
  fflush(stdout);
  return 0;
}
