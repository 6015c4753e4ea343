// cxxthreads: C++ threading state across a checkpoint/restart.
//
// usage: cxxthreads TRIGGER_FILE MAX_SECONDS
//
// Before TRIGGER_FILE exists (the test checkpoints, kills and restores the
// process meanwhile):
//   - main records getpid()/gettid(), locks an error-checking mutex once and
//     a recursive mutex twice, and sets its thread_local values;
//   - NWAIT std::thread workers set thread_local values (an int, a heap
//     string, a vector) and their thread name, record getpid()/gettid(),
//     throw and catch an exception, then wait on a std::condition_variable;
//   - NBUSY std::thread workers contend for a std::mutex in a loop (the
//     checkpoint catches them running or queued on the lock), keeping a
//     shared counter that must equal the sum of their own tallies;
//   - one pthread (pthread_create) records its ids and waits on the
//     condition variable; main joins it afterwards and checks its result.
// Prints "ready pid=P tid=T" when everything is in place, then polls for
// TRIGGER_FILE every 10 ms.
//
// After TRIGGER_FILE appears, every check prints one line
//     check NAME ok            or            check NAME FAIL details
// then "after pid=P tid=T" (main's getpid()/gettid() now) and
// "done failures=N"; the exit status is 0 only if every check passed. An
// undisturbed run (TRIGGER_FILE present from the start) prints the same
// check lines. Gives up after MAX_SECONDS without a trigger (exit 3).
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <future>
#include <mutex>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int NWAIT = 3;
constexpr int NBUSY = 2;
constexpr int AFTER_INCREMENTS = 1000;

pid_t my_tid() { return pid_t(syscall(SYS_gettid)); }

std::mutex out_mu;
int failures = 0;

void check(const std::string& name, bool ok, const std::string& details = "") {
  std::lock_guard<std::mutex> g(out_mu);
  if (ok) {
    std::printf("check %s ok\n", name.c_str());
  } else {
    failures++;
    std::printf("check %s FAIL %s\n", name.c_str(), details.c_str());
  }
  std::fflush(stdout);
}

std::string ids(pid_t before, pid_t after) {
  return "before=" + std::to_string(before) + " after=" + std::to_string(after);
}

thread_local int tl_int = -1;
thread_local std::string tl_str;
thread_local std::vector<long> tl_vec;

void set_thread_locals(int who) {
  tl_int = 1000 + who;
  tl_str = "thread-local string of thread " + std::to_string(who) + std::string(200, char('a' + who % 26));
  tl_vec.assign(100 + who, who);
}

bool thread_locals_ok(int who) {
  return tl_int == 1000 + who &&
         tl_str == "thread-local string of thread " + std::to_string(who) + std::string(200, char('a' + who % 26)) &&
         tl_vec.size() == size_t(100 + who) && std::accumulate(tl_vec.begin(), tl_vec.end(), 0L) == long(who) * (100 + who);
}

// An exception thrown three frames down, past destructors that must run.
struct Guard {
  int* counter;
  ~Guard() { ++*counter; }
};
struct Custom {
  int who;
  std::string text;
};
[[noreturn]] void thrower3(int who, int kind) {
  if (kind == 0) throw std::runtime_error("runtime error from thread " + std::to_string(who));
  if (kind == 1) throw Custom{who, "custom from " + std::to_string(who)};
  throw who * 7;
}
void thrower2(int who, int kind, int* dtors) {
  Guard g{dtors};
  thrower3(who, kind);
}
void thrower1(int who, int kind, int* dtors) {
  Guard g{dtors};
  std::vector<std::string> garbage(10, "heap allocated while unwinding");
  thrower2(who, kind, dtors);
}
bool exceptions_ok(int who) {
  int dtors = 0, caught = 0;
  try {
    thrower1(who, 0, &dtors);
  } catch (const std::exception& e) {
    caught += std::string(e.what()) == "runtime error from thread " + std::to_string(who);
  }
  try {
    thrower1(who, 1, &dtors);
  } catch (const Custom& c) {
    caught += c.who == who && c.text == "custom from " + std::to_string(who);
  }
  try {
    thrower1(who, 2, &dtors);
  } catch (int v) {
    caught += v == who * 7;
  }
  try {  // rethrow from a nested handler
    try {
      thrower1(who, 0, &dtors);
    } catch (...) {
      throw;
    }
  } catch (const std::runtime_error&) {
    caught++;
  }
  return caught == 4 && dtors == 8;
}

std::string thread_name() {
  char buf[32] = {};
  pthread_getname_np(pthread_self(), buf, sizeof buf);
  return buf;
}

// Shared state.
std::mutex mu;
std::condition_variable cv;
bool go = false;  // guarded by mu
int waiting = 0;  // guarded by mu
pid_t main_pid;

std::mutex busy_mu;
long busy_shared = 0;  // guarded by busy_mu
long busy_tally[NBUSY];
std::atomic<bool> busy_stop{false};
std::atomic<int> busy_running{0};
pid_t busy_tid_before[NBUSY], busy_tid_after[NBUSY], busy_pid_after[NBUSY];

long after_counter = 0;  // guarded by mu; each waiter adds AFTER_INCREMENTS after the restore

std::promise<void> promises[NWAIT];

void waiter(int who) {
  const int tl = who + 1;  // thread-local identity (main is 0)
  std::string name = "cxxw-" + std::to_string(who);
  pthread_setname_np(pthread_self(), name.c_str());
  set_thread_locals(tl);
  pid_t pid = getpid(), tid = my_tid();
  bool pre = exceptions_ok(tl);
  {
    std::unique_lock<std::mutex> lk(mu);
    waiting++;
    cv.notify_all();
    cv.wait(lk, [] { return go; });
  }
  std::string w = "waiter" + std::to_string(who);
  check(w + ".exceptions_before", pre);
  check(w + ".pid", getpid() == pid && pid == main_pid, ids(pid, getpid()));
  check(w + ".tid", my_tid() == tid, ids(tid, my_tid()));
  check(w + ".thread_local", thread_locals_ok(tl), "tl_int=" + std::to_string(tl_int));
  check(w + ".exceptions_after", exceptions_ok(tl));
  check(w + ".name", thread_name() == name, "name=" + thread_name());
  for (int i = 0; i < AFTER_INCREMENTS; i++) {
    std::lock_guard<std::mutex> g(mu);
    after_counter++;
  }
  // A timed wait on the condition variable, now.
  {
    std::unique_lock<std::mutex> lk(mu);
    auto t0 = std::chrono::steady_clock::now();
    bool woke = cv.wait_for(lk, std::chrono::milliseconds(100), [] { return false; });
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    lk.unlock();
    check(w + ".cv_wait_for", !woke && ms >= 95 && ms < 2000, "waited " + std::to_string(ms) + " ms");
  }
  // An exception carried to main through a promise.
  int dtors = 0;
  try {
    thrower1(tl, 0, &dtors);
  } catch (...) {
    promises[who].set_exception(std::current_exception());
  }
}

void busy(int who) {
  pthread_setname_np(pthread_self(), ("cxxb-" + std::to_string(who)).c_str());
  busy_tid_before[who] = my_tid();
  busy_running++;
  while (!busy_stop.load(std::memory_order_relaxed)) {
    std::lock_guard<std::mutex> g(busy_mu);
    busy_shared++;
    busy_tally[who]++;
  }
  busy_tid_after[who] = my_tid();
  busy_pid_after[who] = getpid();
}

struct PthreadResult {
  pid_t pid_before, tid_before, pid_after, tid_after;
  bool tl_ok;
};

void* plain_pthread(void*) {
  auto* r = new PthreadResult{};
  set_thread_locals(99);
  r->pid_before = getpid();
  r->tid_before = my_tid();
  {
    std::unique_lock<std::mutex> lk(mu);
    waiting++;
    cv.notify_all();
    cv.wait(lk, [] { return go; });
  }
  r->pid_after = getpid();
  r->tid_after = my_tid();
  r->tl_ok = thread_locals_ok(99);
  return r;
}

bool file_exists(const char* path) {
  struct stat st;
  return stat(path, &st) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: cxxthreads TRIGGER_FILE MAX_SECONDS\n");
    return 100;
  }
  const char* trigger = argv[1];
  long max_polls = std::atol(argv[2]) * 100;
  main_pid = getpid();
  pid_t main_tid = my_tid();
  set_thread_locals(0);

  pthread_mutexattr_t attr;
  pthread_mutex_t errorcheck, recursive;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(&errorcheck, &attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&recursive, &attr);
  int lock_rc = pthread_mutex_lock(&errorcheck);
  int rlock_rc = pthread_mutex_lock(&recursive) | pthread_mutex_lock(&recursive);

  std::vector<std::thread> waiters, busies;
  std::vector<std::future<void>> futures;
  for (int i = 0; i < NWAIT; i++) {
    futures.push_back(promises[i].get_future());
    waiters.emplace_back(waiter, i);
  }
  for (int i = 0; i < NBUSY; i++) busies.emplace_back(busy, i);
  pthread_t pt;
  if (pthread_create(&pt, nullptr, plain_pthread, nullptr) != 0) {
    std::perror("pthread_create");
    return 1;
  }
  std::set<pid_t> old_tids;
  {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait(lk, [] { return waiting == NWAIT + 1; });
  }
  while (busy_running.load() < NBUSY) usleep(1000);
  std::printf("ready pid=%d tid=%d\n", main_pid, main_tid);
  std::fflush(stdout);

  for (long polls = 0; !file_exists(trigger); polls++) {
    if (polls >= max_polls) {
      std::printf("gave up waiting for %s\n", trigger);
      return 3;
    }
    usleep(10000);
  }

  check("main.lock_before", lock_rc == 0 && rlock_rc == 0,
        "errorcheck lock " + std::to_string(lock_rc) + ", recursive locks " + std::to_string(rlock_rc));
  check("main.pid", getpid() == main_pid, ids(main_pid, getpid()));
  check("main.tid", my_tid() == main_tid, ids(main_tid, my_tid()));
  check("main.thread_local", thread_locals_ok(0), "tl_int=" + std::to_string(tl_int));
  check("main.exceptions", exceptions_ok(0));
  int rc = pthread_mutex_unlock(&errorcheck);
  check("errorcheck.unlock", rc == 0, "pthread_mutex_unlock returned " + std::to_string(rc) + " (" + strerror(rc) + ")");
  int rc2 = pthread_mutex_lock(&errorcheck), rc3 = pthread_mutex_lock(&errorcheck), rc4 = pthread_mutex_unlock(&errorcheck);
  check("errorcheck.relock", rc2 == 0 && rc3 == EDEADLK && rc4 == 0,
        "lock " + std::to_string(rc2) + ", lock again " + std::to_string(rc3) + ", unlock " + std::to_string(rc4));
  int r1 = pthread_mutex_unlock(&recursive), r2 = pthread_mutex_unlock(&recursive), r3 = pthread_mutex_unlock(&recursive);
  check("recursive.unlock", r1 == 0 && r2 == 0 && r3 == EPERM,
        "unlocks " + std::to_string(r1) + " " + std::to_string(r2) + " " + std::to_string(r3) + " (expected 0 0 EPERM)");

  busy_stop = true;
  for (auto& t : busies) t.join();
  {
    std::lock_guard<std::mutex> g(busy_mu);
    long sum = 0;
    for (long v : busy_tally) sum += v;
    check("busy.mutex_counter", busy_shared == sum && sum > 0,
          "shared " + std::to_string(busy_shared) + " tallies " + std::to_string(sum));
  }
  for (int i = 0; i < NBUSY; i++) {
    std::string b = "busy" + std::to_string(i);
    check(b + ".pid", busy_pid_after[i] == main_pid, ids(main_pid, busy_pid_after[i]));
    check(b + ".tid", busy_tid_after[i] == busy_tid_before[i], ids(busy_tid_before[i], busy_tid_after[i]));
  }

  {
    std::lock_guard<std::mutex> g(mu);
    go = true;
  }
  cv.notify_all();
  for (auto& t : waiters) t.join();
  {
    std::lock_guard<std::mutex> g(mu);
    check("waiters.counter", after_counter == long(NWAIT) * AFTER_INCREMENTS, "counter " + std::to_string(after_counter));
  }
  for (int i = 0; i < NWAIT; i++) {
    bool ok = false;
    try {
      futures[i].get();
    } catch (const std::runtime_error& e) {
      ok = std::string(e.what()) == "runtime error from thread " + std::to_string(i + 1);
    } catch (...) {
    }
    check("future" + std::to_string(i) + ".exception", ok);
  }

  void* ret = nullptr;
  rc = pthread_join(pt, &ret);
  auto* pr = static_cast<PthreadResult*>(ret);
  check("pthread.join", rc == 0 && pr != nullptr, "pthread_join returned " + std::to_string(rc));
  if (pr) {
    check("pthread.pid", pr->pid_after == pr->pid_before && pr->pid_before == main_pid, ids(pr->pid_before, pr->pid_after));
    check("pthread.tid", pr->tid_after == pr->tid_before, ids(pr->tid_before, pr->tid_after));
    check("pthread.thread_local", pr->tl_ok);
  }

  // A thread started now gets a new tid and works like any other.
  pid_t fresh_tid = 0;
  bool fresh_ok = false;
  std::thread fresh([&] {
    fresh_tid = my_tid();
    set_thread_locals(50);
    fresh_ok = thread_locals_ok(50) && exceptions_ok(50) && getpid() == main_pid;
  });
  fresh.join();
  check("new_thread", fresh_ok && fresh_tid != main_tid && fresh_tid > 0, "tid " + std::to_string(fresh_tid));
  check("main.name", thread_name() == "cxxthreads", "name=" + thread_name());

  std::printf("after pid=%d tid=%d\n", int(getpid()), int(my_tid()));
  std::printf("done failures=%d\n", failures);
  std::fflush(stdout);
  return failures == 0 ? 0 : 1;
}
