#include "app_protection.h"

#include <signal.h>
#include <sys/mman.h>

#include <algorithm>

#include "common/raw_syscall.h"

namespace ckpt {

namespace {

constexpr size_t kMax = 4096;
constexpr uint64_t kPage = 4096;

struct Range {
  uint64_t start, end;
};

// Sorted, disjoint. Read by the fault handler, which may interrupt a thread
// changing it: changes are made with signals blocked under a spinlock, and
// the handler takes the lock too (a thread never faults while holding it).
Range g_ranges[kMax];
size_t g_n = 0;
bool g_overflowed = false;
int g_lock = 0;

class Locked {
 public:
  Locked() {
    uint64_t all = ~((uint64_t(1) << (SIGSEGV - 1)) | (uint64_t(1) << (SIGBUS - 1)));
    ckpt_syscall4(CKPT_NR_rt_sigprocmask, SIG_BLOCK, long(&all), long(&old_), 8);
    while (__atomic_exchange_n(&g_lock, 1, __ATOMIC_ACQUIRE)) ckpt_syscall0(CKPT_NR_sched_yield);
  }
  ~Locked() {
    __atomic_store_n(&g_lock, 0, __ATOMIC_RELEASE);
    ckpt_syscall4(CKPT_NR_rt_sigprocmask, SIG_SETMASK, long(&old_), 0, 8);
  }

 private:
  uint64_t old_ = 0;
};

// In place (no large buffer: the callers run on application stacks).
void remove(uint64_t s, uint64_t e) {
  size_t n = 0;
  for (size_t i = 0; i < g_n; i++) {
    Range r = g_ranges[i];
    if (r.end <= s || r.start >= e) {
      g_ranges[n++] = r;
    } else if (r.start < s && r.end > e) {  // split in two: at most one range is
      if (g_n == kMax) {
        g_overflowed = true;
        g_ranges[n++] = r;
        continue;
      }
      std::copy_backward(g_ranges + i + 1, g_ranges + g_n, g_ranges + g_n + 1);
      g_n++;
      g_ranges[n++] = {r.start, s};
      g_ranges[n++] = {e, r.end};
      i++;
    } else if (r.start < s) {
      g_ranges[n++] = {r.start, s};
    } else if (r.end > e) {
      g_ranges[n++] = {e, r.end};
    }
  }
  g_n = n;
}

void add(uint64_t s, uint64_t e) {
  remove(s, e);
  size_t i = 0;
  while (i < g_n && g_ranges[i].end < s) i++;
  // Merge with touching neighbours.
  if (i < g_n && g_ranges[i].start <= e && g_ranges[i].end >= s) {
    g_ranges[i].start = std::min(g_ranges[i].start, s);
    g_ranges[i].end = std::max(g_ranges[i].end, e);
    while (i + 1 < g_n && g_ranges[i + 1].start <= g_ranges[i].end) {
      g_ranges[i].end = std::max(g_ranges[i].end, g_ranges[i + 1].end);
      std::copy(g_ranges + i + 2, g_ranges + g_n, g_ranges + i + 1);
      g_n--;
    }
    return;
  }
  if (g_n == kMax) {
    g_overflowed = true;
    return;
  }
  std::copy_backward(g_ranges + i, g_ranges + g_n, g_ranges + g_n + 1);
  g_ranges[i] = {s, e};
  g_n++;
}

bool overlaps(uint64_t s, uint64_t e) {
  for (size_t i = 0; i < g_n; i++)
    if (g_ranges[i].start < e && s < g_ranges[i].end) return true;
  return false;
}

uint64_t page_end(uint64_t start, uint64_t len) { return (start + len + kPage - 1) & ~(kPage - 1); }

// Nothing recorded: removing is a no-op (the common case, without the lock).
bool nothing_recorded() { return __atomic_load_n(&g_n, __ATOMIC_ACQUIRE) == 0 && !g_overflowed; }

}  // namespace

void app_protection_set(uint64_t start, uint64_t len, uint32_t prot) {
  // Only readable, not writable memory looks like libckpt's protection.
  bool readonly = (prot & PROT_READ) && !(prot & PROT_WRITE);
  if (!readonly && nothing_recorded()) return;
  Locked l;
  if (readonly) add(start, page_end(start, len));
  else remove(start, page_end(start, len));
}

void app_protection_unmapped(uint64_t start, uint64_t len) {
  if (nothing_recorded()) return;
  Locked l;
  remove(start, page_end(start, len));
}

void app_protection_moved(uint64_t old, uint64_t old_len, uint64_t to, uint64_t new_len) {
  if (nothing_recorded()) return;
  Locked l;
  bool readonly = overlaps(old, page_end(old, old_len));
  remove(old, page_end(old, old_len));
  remove(to, page_end(to, new_len));
  if (readonly) add(to, page_end(to, new_len));  // whole: the record keeps no finer detail
}

bool app_made_readonly(uint64_t start, uint64_t end) {
  Locked l;
  return g_overflowed || overlaps(start, end);
}

void app_writable_around(uint64_t addr, uint64_t& lo, uint64_t& hi) {
  Locked l;
  lo = 0;
  hi = ~uint64_t(0);
  for (size_t i = 0; i < g_n; i++) {
    if (g_ranges[i].end <= addr) lo = g_ranges[i].end;
    else if (g_ranges[i].start > addr) {
      hi = g_ranges[i].start;
      break;
    }
  }
}

}  // namespace ckpt
