/* res_events: event fds and interval timers across a checkpoint/restart
 * (tests_resources.py).
 *
 * usage: res_events epoll TRIGGER PERIOD_MS
 *   A periodic timerfd (CLOCK_MONOTONIC) and an eventfd in one epoll
 *   instance (data.u64 tags 0x7417 and 0xefd). Each timerfd expiration read
 *   adds to the timer total and writes 1 to the eventfd, whose reads add to
 *   the event total. A second eventfd holds 5, unread, from the start.
 *   Prints for every timerfd read
 *     tick mono=NS reads=R exp=E total=T events=V
 *   (E: expirations in this read). (epoll_wait's 1 s timeout only lets the
 *   loop look for TRIGGER: one that began before a checkpoint may time out
 *   at once after the restore, its deadline having passed.) After TRIGGER: checks that every event had a known
 *   tag, events == reads, the pending eventfd still holds 5, the interest
 *   list still holds the timerfd (EPOLL_CTL_ADD fails with EEXIST) and the
 *   timerfd's interval is PERIOD_MS.
 *
 * usage: res_events itimer TRIGGER PERIOD_MS
 *   setitimer(ITIMER_REAL) every PERIOD_MS; prints "tick mono=NS n=N" for
 *   each SIGALRM. After TRIGGER: checks getitimer's interval.
 *
 * usage: res_events alarm TRIGGER SECONDS
 *   alarm(SECONDS); prints "armed mono=NS" and, when SIGALRM comes,
 *   "alarm fired mono=NS"; waits for TRIGGER, then checks that it fired once.
 *
 * usage: res_events abstime TRIGGER DELAY_MS
 *   Absolute timers: a one-shot CLOCK_MONOTONIC timerfd set with
 *   TFD_TIMER_ABSTIME to expire DELAY_MS from now, and a CLOCK_REALTIME
 *   timerfd set with TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET 600 s
 *   ahead. Prints "ready mono=NS deadline=NS" and "fired timerfd mono=NS"
 *   when the first expires. After TRIGGER: checks the realtime timer's
 *   flags (fdinfo) and that its remaining time still leads to its deadline,
 *   and that the first fired once. The same with POSIX timers armed with
 *   TIMER_ABSTIME: a CLOCK_MONOTONIC one (SIGEV_SIGNAL, SIGUSR1) at the same
 *   deadline ("fired posix mono=NS") and a CLOCK_REALTIME one (SIGEV_NONE)
 *   600 s ahead.
 *
 * usage: res_events eventfd64 TRIGGER 0
 *   An eventfd holding 0x100000005 (above 32 bits) and an EFD_SEMAPHORE
 *   eventfd holding 3, both unread. After TRIGGER: checks that the first
 *   reads 0x100000005 and the second reads 1 three times, then would block.
 *
 * Output conventions: res_common.h. */
#include "res_common.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <sys/timerfd.h>

#define TAG_TIMER 0x7417ULL
#define TAG_EVENT 0xefdULL

static const char *trigger;

static int mode_epoll(long period_ms) {
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  int pend = eventfd(0, 0);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (tfd < 0 || efd < 0 || pend < 0 || ep < 0) setup_fail("timerfd/eventfd/epoll");
  uint64_t five = 5;
  if (write(pend, &five, sizeof five) != sizeof five) setup_fail("eventfd write");
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_TIMER};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) != 0) setup_fail("EPOLL_CTL_ADD timerfd");
  ev.data.u64 = TAG_EVENT;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) != 0) setup_fail("EPOLL_CTL_ADD eventfd");
  struct itimerspec its = {{period_ms / 1000, (period_ms % 1000) * 1000000L},
                           {period_ms / 1000, (period_ms % 1000) * 1000000L}};
  if (timerfd_settime(tfd, 0, &its, NULL) != 0) setup_fail("timerfd_settime");
  say("ready mono=%llu period_ms=%ld\n", (unsigned long long)now_ns(), period_ms);

  uint64_t reads = 0, total = 0, events = 0, unknown = 0;
  while (!trigger_seen(trigger)) {
    struct epoll_event evs[4];
    int n = epoll_wait(ep, evs, 4, 1000);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) setup_fail("epoll_wait");
    for (int k = 0; k < n; k++) {
      uint64_t v = 0;
      if (evs[k].data.u64 == TAG_TIMER) {
        if (read(tfd, &v, sizeof v) != sizeof v) continue; /* EAGAIN: nothing yet */
        reads++;
        total += v;
        uint64_t one = 1;
        if (write(efd, &one, sizeof one) != sizeof one) setup_fail("eventfd write");
        say("tick mono=%llu reads=%llu exp=%llu total=%llu events=%llu\n", (unsigned long long)now_ns(),
            (unsigned long long)reads, (unsigned long long)v, (unsigned long long)total, (unsigned long long)events);
      } else if (evs[k].data.u64 == TAG_EVENT) {
        if (read(efd, &v, sizeof v) == sizeof v) events += v;
      } else {
        unknown++;
      }
    }
  }
  uint64_t v = 0;
  if (read(efd, &v, sizeof v) == sizeof v) events += v;
  check("tags", unknown == 0, "%llu events with an unknown data.u64 tag", (unsigned long long)unknown);
  check("events_match_reads", events == reads, "eventfd total %llu, timerfd reads %llu", (unsigned long long)events,
        (unsigned long long)reads);
  v = 0;
  ssize_t r = read(pend, &v, sizeof v);
  check("pending_eventfd", r == sizeof v && v == 5, "read returned %zd, value %llu", r, (unsigned long long)v);
  ev.data.u64 = TAG_TIMER;
  int add = epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
  check("interest_list", add != 0 && errno == EEXIST, "EPOLL_CTL_ADD of the timerfd again: %d (%s), expected EEXIST",
        add, add ? strerror(errno) : "ok");
  struct itimerspec cur;
  timerfd_gettime(tfd, &cur);
  long interval_ms = cur.it_interval.tv_sec * 1000 + cur.it_interval.tv_nsec / 1000000;
  check("timerfd_interval", interval_ms == period_ms, "interval %ld ms", interval_ms);
  return finish();
}

static volatile sig_atomic_t alarms;
static volatile uint64_t alarm_ns;

static void on_alarm(int sig) {
  (void)sig;
  alarm_ns = now_ns();
  alarms++;
}

static void catch_alarm(void) {
  struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
  sigaction(SIGALRM, &sa, NULL);
}

static int mode_itimer(long period_ms) {
  catch_alarm();
  struct timeval p = {period_ms / 1000, (period_ms % 1000) * 1000};
  struct itimerval itv = {p, p};
  if (setitimer(ITIMER_REAL, &itv, NULL) != 0) setup_fail("setitimer");
  say("ready mono=%llu period_ms=%ld\n", (unsigned long long)now_ns(), period_ms);
  int printed = 0;
  while (!trigger_seen(trigger)) {
    sleep_ms(5);
    int n = alarms;
    if (n != printed) {
      say("tick mono=%llu n=%d\n", (unsigned long long)alarm_ns, n);
      printed = n;
    }
  }
  struct itimerval cur;
  getitimer(ITIMER_REAL, &cur);
  long interval_ms = cur.it_interval.tv_sec * 1000 + cur.it_interval.tv_usec / 1000;
  check("itimer_interval", interval_ms == period_ms, "interval %ld ms", interval_ms);
  return finish();
}

static int mode_alarm(long seconds) {
  catch_alarm();
  alarm((unsigned)seconds);
  say("ready armed mono=%llu seconds=%ld\n", (unsigned long long)now_ns(), seconds);
  int reported = 0;
  while (!(reported && trigger_seen(trigger))) {
    sleep_ms(5);
    if (alarms && !reported) {
      say("alarm fired mono=%llu\n", (unsigned long long)alarm_ns);
      reported = 1;
    }
  }
  sleep_ms(50);
  check("fired_once", alarms == 1, "SIGALRM came %d times", (int)alarms);
  return finish();
}

/* "settime flags:" of a timerfd, from fdinfo (octal); -1 if absent. */
static long timerfd_flags(int fd) {
  char path[64], v[64];
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  FILE *f = fopen(path, "r");
  char line[256];
  long flags = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "settime flags: %63s", v) == 1) flags = strtol(v, NULL, 8);
  if (f) fclose(f);
  return flags;
}

static uint64_t realtime_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static struct timespec ts_of(uint64_t ns) { return (struct timespec){(time_t)(ns / 1000000000), (long)(ns % 1000000000)}; }

static volatile sig_atomic_t posix_fired;
static volatile uint64_t posix_fired_at;
static void on_posix_timer(int sig) {
  (void)sig;
  if (!posix_fired) posix_fired_at = now_ns();
  posix_fired++;
}

static int mode_abstime(long delay_ms) {
  int mono = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  int rt = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
  if (mono < 0 || rt < 0) setup_fail("timerfd_create");
  uint64_t start = now_ns(), deadline = start + (uint64_t)delay_ms * 1000000ULL;
  struct itimerspec its = {{0, 0}, ts_of(deadline)};
  if (timerfd_settime(mono, TFD_TIMER_ABSTIME, &its, NULL) != 0) setup_fail("timerfd_settime monotonic");
  uint64_t rt_deadline = realtime_ns() + 600ULL * 1000000000ULL;
  its.it_value = ts_of(rt_deadline);
  if (timerfd_settime(rt, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) != 0)
    setup_fail("timerfd_settime realtime");
  struct sigaction sa = {.sa_handler = on_posix_timer, .sa_flags = SA_RESTART};
  sigaction(SIGUSR1, &sa, NULL);
  struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
  timer_t pmono, prt;
  if (timer_create(CLOCK_MONOTONIC, &ev, &pmono) != 0) setup_fail("timer_create monotonic");
  ev.sigev_notify = SIGEV_NONE;
  if (timer_create(CLOCK_REALTIME, &ev, &prt) != 0) setup_fail("timer_create realtime");
  its.it_value = ts_of(deadline);
  if (timer_settime(pmono, TIMER_ABSTIME, &its, NULL) != 0) setup_fail("timer_settime monotonic");
  its.it_value = ts_of(rt_deadline);
  if (timer_settime(prt, TIMER_ABSTIME, &its, NULL) != 0) setup_fail("timer_settime realtime");
  say("ready mono=%llu deadline=%llu\n", (unsigned long long)start, (unsigned long long)deadline);

  uint64_t expirations = 0;
  while (!trigger_seen(trigger)) {
    uint64_t n;
    if (read(mono, &n, sizeof n) == sizeof n) {
      if (!expirations) say("fired timerfd mono=%llu\n", (unsigned long long)now_ns());
      expirations += n;
    }
    static int posix_said;
    if (posix_fired && !posix_said++) say("fired posix mono=%llu\n", (unsigned long long)posix_fired_at);
    sleep_ms(5);
  }
  check("timerfd_fired_once", expirations == 1, "%llu expirations", (unsigned long long)expirations);
  long flags = timerfd_flags(rt);
  check("timerfd_flags", flags == (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET), "settime flags %lo", flags);
  struct itimerspec cur;
  timerfd_gettime(rt, &cur);
  double left = (double)cur.it_value.tv_sec + cur.it_value.tv_nsec / 1e9;
  double want = ((double)rt_deadline - (double)realtime_ns()) / 1e9;
  check("timerfd_realtime_deadline", left > 0 && left - want < 0.3 && want - left < 0.3,
        "%.3f s left, its deadline is %.3f s away", left, want);
  check("posix_fired_once", posix_fired == 1, "%d signals", (int)posix_fired);
  timer_gettime(prt, &cur);
  left = (double)cur.it_value.tv_sec + cur.it_value.tv_nsec / 1e9;
  want = ((double)rt_deadline - (double)realtime_ns()) / 1e9;
  check("posix_realtime_deadline", left > 0 && left - want < 0.3 && want - left < 0.3,
        "%.3f s left, its deadline is %.3f s away", left, want);
  return finish();
}

static int mode_eventfd64(void) {
  int big = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int sem = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE);
  uint64_t v = 0x100000005ULL, three = 3;
  if (big < 0 || sem < 0 || write(big, &v, sizeof v) != sizeof v || write(sem, &three, sizeof three) != sizeof three)
    setup_fail("eventfd");
  say("ready\n");
  wait_file(trigger);
  v = 0;
  ssize_t r = read(big, &v, sizeof v);
  check("eventfd64_count", r == sizeof v && v == 0x100000005ULL, "read %zd: %#llx", r, (unsigned long long)v);
  int ones = 0;
  for (int i = 0; i < 3; i++) ones += read(sem, &v, sizeof v) == sizeof v && v == 1;
  r = read(sem, &v, sizeof v);
  check("semaphore_count", ones == 3 && r < 0 && errno == EAGAIN, "%d reads of 1, then %zd", ones, r);
  return finish();
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: res_events epoll|itimer|alarm|abstime|eventfd64 TRIGGER PERIOD_MS|SECONDS\n");
    return 100;
  }
  trigger = argv[2];
  long arg = atol(argv[3]);
  if (!strcmp(argv[1], "epoll")) return mode_epoll(arg);
  if (!strcmp(argv[1], "itimer")) return mode_itimer(arg);
  if (!strcmp(argv[1], "alarm")) return mode_alarm(arg);
  if (!strcmp(argv[1], "abstime")) return mode_abstime(arg);
  if (!strcmp(argv[1], "eventfd64")) return mode_eventfd64();
  fprintf(stderr, "res_events: unknown mode %s\n", argv[1]);
  return 100;
}
