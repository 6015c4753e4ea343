#include "parallel.h"

#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace ckpt {

unsigned restore_threads() {
  if (const char* v = getenv("CKPT_RESTORE_THREADS")) {
    long n = strtol(v, nullptr, 10);
    if (n >= 1 && n <= 64) return unsigned(n);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return unsigned(std::clamp(CPU_COUNT(&set), 1, 8));
}

void parallel_for(size_t n, unsigned threads, const std::function<void(size_t, unsigned)>& work) {
  threads = unsigned(std::min<size_t>(std::max(threads, 1u), n ? n : 1));
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_lock;
  std::vector<pid_t> helper_tids(threads, 0);
  auto run = [&](unsigned worker) {
    if (worker) helper_tids[worker] = pid_t(syscall(SYS_gettid));
    try {
      for (size_t i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < n;) work(i, worker);
    } catch (...) {
      std::lock_guard<std::mutex> g(error_lock);
      if (!error) error = std::current_exception();
      failed = true;
    }
  };
  std::vector<std::thread> helpers;
  for (unsigned w = 1; w < threads; w++) {
    try {
      helpers.emplace_back(run, w);
    } catch (const std::system_error&) {
      break;  // fewer helpers: the work still gets done
    }
  }
  run(0);
  for (std::thread& t : helpers) t.join();
  // join() returns when the kernel cleared the thread's tid word, a moment
  // before the tid itself is released.
  pid_t self = getpid();
  for (pid_t tid : helper_tids)
    for (int spins = 0; tid && spins < 100000 && syscall(SYS_tgkill, self, tid, 0) == 0; spins++) sched_yield();
  if (error) std::rethrow_exception(error);
}

}  // namespace ckpt
