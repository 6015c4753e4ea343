#include "timers.h"

#include <signal.h>
#include <sys/time.h>

#include <cstring>
#include <string>

#include "common/raw_syscall.h"
#include "interpose/records.h"
#include "procfs.h"

namespace ckpt {

namespace {

enum { kNrTimerGettime = 224 };

struct KernelItimerspec {
  struct timespec interval, value;
};

int64_t ns(const struct timespec& t) { return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec; }
int64_t us(const struct timeval& t) { return int64_t(t.tv_sec) * 1000000 + t.tv_usec; }

// "signal: 10/0000000000000000" -> signo, value; "notify: signal/tid.123" -> notify, tid.
void parse_signal_line(const std::string& v, PosixTimer& t) {
  size_t slash = v.find('/');
  t.signo = int32_t(parse_u64(v.substr(0, slash)));
  if (slash != std::string::npos) t.value = parse_u64(v.substr(slash + 1), 16);
}

void parse_notify_line(const std::string& v, PosixTimer& t) {
  size_t slash = v.find('/');
  std::string how = v.substr(0, slash);
  t.notify = how == "none" ? SIGEV_NONE : how == "thread" ? SIGEV_THREAD : SIGEV_SIGNAL;
  if (slash == std::string::npos) return;
  std::string who = v.substr(slash + 1);
  if (who.compare(0, 4, "tid.") == 0) {
    t.notify |= SIGEV_THREAD_ID;
    t.target_tid = int32_t(parse_u64(who.substr(4)));
  }
}

}  // namespace

bool capture_timers(ProcessState& st, Msg& err) {
  std::string text;
  int e = 0;
  if (!read_proc_file("/proc/self/timers", text, &e) && e != 2 /* ENOENT: no CONFIG_CHECKPOINT_RESTORE */) {
    err << "cannot read /proc/self/timers: " << errno_name(e);
    return false;
  }
  PosixTimer* cur = nullptr;
  size_t p = 0;
  while (p < text.size()) {
    size_t eol = text.find('\n', p);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(p, eol - p);
    p = eol + 1;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon), val = line.substr(colon + 1);
    while (!val.empty() && val[0] == ' ') val.erase(0, 1);
    if (key == "ID") {
      st.timers.push_back({});
      cur = &st.timers.back();
      cur->id = int32_t(parse_u64(val));
    } else if (!cur) {
      continue;
    } else if (key == "signal") {
      parse_signal_line(val, *cur);
    } else if (key == "notify") {
      parse_notify_line(val, *cur);
    } else if (key == "ClockID") {
      cur->clock = int32_t(parse_u64(val));
    }
  }
  for (PosixTimer& t : st.timers) {
    KernelItimerspec v{};
    long r = ckpt_syscall2(kNrTimerGettime, t.id, long(&v));
    if (r != 0) {
      err << "cannot read POSIX timer " << t.id << ": " << errno_name(int(-r));
      return false;
    }
    t.next_ns = ns(v.value);
    t.interval_ns = ns(v.interval);
    // An absolute timer expires at a time on its clock: record that time
    // (CPU-time clocks, negative ids, stay relative).
    struct timespec now;
    if (timer_is_absolute(t.id) && t.clock >= 0 && (t.next_ns || t.interval_ns) &&
        ckpt_syscall2(CKPT_NR_clock_gettime, t.clock, long(&now)) == 0) {
      t.absolute = true;
      t.deadline_ns = ns(now) + t.next_ns;
    }
  }
  for (int which : {ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF}) {
    struct itimerval v{};
    if (ckpt_syscall2(CKPT_NR_getitimer, which, long(&v)) != 0) continue;
    if (us(v.it_value) == 0 && us(v.it_interval) == 0) continue;
    st.itimers.push_back({which, us(v.it_value), us(v.it_interval)});
  }
  return true;
}

}  // namespace ckpt
