// A multithreaded C++ program to try checkpoint/restore on: producers push
// numbered work items into a bounded queue guarded by a std::mutex and two
// condition variables, consumers take them, and the main thread reports
// progress twice a second. At the end it joins every thread and checks that
// each item was consumed exactly once (the sum and the xor of all items), so
// a restore that lost a thread, a wake-up or a lock shows up as a wrong
// total or a hang.
//
//   ckpt-run --pid-file w.pid ./workers 60 &
//   ckpt-run --checkpoint $(cat w.pid); kill -9 $(cat w.pid)
//   ckpt-run --restore <printed image>     # continues, ends with "ok"
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace {

constexpr int kProducers = 3, kConsumers = 4;
constexpr size_t kQueueLimit = 64;

std::mutex queue_lock;
std::condition_variable not_full, not_empty;
std::deque<uint64_t> queue;
int producers_left = kProducers;

thread_local uint64_t my_sum, my_xor;  // each consumer's share, folded in at the end
std::mutex totals_lock;
uint64_t total_sum, total_xor, total_count;

void produce(uint64_t first, uint64_t count, std::chrono::microseconds pause) {
  for (uint64_t i = first; i < first + count; ++i) {
    std::unique_lock<std::mutex> hold(queue_lock);
    not_full.wait(hold, [] { return queue.size() < kQueueLimit; });
    queue.push_back(i);
    not_empty.notify_one();
    hold.unlock();
    std::this_thread::sleep_for(pause);
  }
  std::lock_guard<std::mutex> hold(queue_lock);
  if (--producers_left == 0) not_empty.notify_all();
}

void consume() {
  uint64_t count = 0;
  for (;;) {
    std::unique_lock<std::mutex> hold(queue_lock);
    not_empty.wait(hold, [] { return !queue.empty() || producers_left == 0; });
    if (queue.empty()) break;
    uint64_t item = queue.front();
    queue.pop_front();
    not_full.notify_one();
    hold.unlock();
    my_sum += item;
    my_xor ^= item * 0x9e3779b97f4a7c15ULL;
    ++count;
  }
  std::lock_guard<std::mutex> hold(totals_lock);
  total_sum += my_sum;
  total_xor ^= my_xor;
  total_count += count;
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = argc > 1 ? std::atoi(argv[1]) : 30;
  if (seconds <= 0) seconds = 30;
  setvbuf(stdout, nullptr, _IOLBF, 0);
  // Each producer pauses 1 ms per item: about 1000 items per second each.
  const uint64_t per_producer = uint64_t(seconds) * 1000;
  const uint64_t items = per_producer * kProducers;
  std::printf("workers: pid %d, %d producers, %d consumers, %llu items\n", getpid(), kProducers,
              kConsumers, (unsigned long long)items);

  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p)
    threads.emplace_back(produce, p * per_producer, per_producer, std::chrono::milliseconds(1));
  for (int c = 0; c < kConsumers; ++c) threads.emplace_back(consume);

  for (int tick = 1;; ++tick) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    size_t queued;
    int left;
    {
      std::lock_guard<std::mutex> hold(queue_lock);
      queued = queue.size();
      left = producers_left;
    }
    std::printf("tick %d: %zu queued, %d producers running\n", tick, queued, left);
    if (left == 0 && queued == 0) break;
  }
  for (auto& t : threads) t.join();

  uint64_t want_sum = items * (items - 1) / 2, want_xor = 0;
  for (uint64_t i = 0; i < items; ++i) want_xor ^= i * 0x9e3779b97f4a7c15ULL;
  bool ok = total_count == items && total_sum == want_sum && total_xor == want_xor;
  std::printf("consumed %llu of %llu items, sum %s, xor %s: %s\n", (unsigned long long)total_count,
              (unsigned long long)items, total_sum == want_sum ? "right" : "WRONG",
              total_xor == want_xor ? "right" : "WRONG", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
