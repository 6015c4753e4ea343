#include "helper_threads.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>

#include "common/raw_syscall.h"
#include "config.h"

extern "C" long ckpt_spawn_thread(void* stack_top, void (*fn)(void*), void* arg, int* tid_word);

namespace ckpt {

bool HelperThreads::start(void (*fn)(void*), void* arg) {
  if (count_ == kMax) return false;
  long stack = ckpt_syscall6(CKPT_NR_mmap, 0, kStackSize, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (CKPT_IS_ERR(stack)) return false;
  Helper& h = helpers_[count_];
  h.stack = uint64_t(stack);
  __atomic_store_n(&h.tid_word, 0, __ATOMIC_RELEASE);
  long tid = ckpt_spawn_thread(reinterpret_cast<void*>(stack + kStackSize), fn, arg, &h.tid_word);
  if (tid < 0) {
    ckpt_syscall2(CKPT_NR_munmap, stack, kStackSize);
    return false;
  }
  count_++;
  return true;
}

void HelperThreads::join_all() {
  for (unsigned i = 0; i < count_; i++) {
    Helper& h = helpers_[i];
    for (int tid; (tid = __atomic_load_n(&h.tid_word, __ATOMIC_ACQUIRE)) != 0;)
      ckpt_syscall6(CKPT_NR_futex, long(&h.tid_word), FUTEX_WAIT, tid, 0, 0, 0);
    ckpt_syscall2(CKPT_NR_munmap, long(h.stack), kStackSize);
  }
  count_ = 0;
}

unsigned HelperThreads::recommended() {
  unsigned total = g_config.writer_threads;
  if (!total) {
    uint64_t mask[16] = {};
    long n = ckpt_syscall3(CKPT_NR_sched_getaffinity, 0, sizeof mask, long(mask));
    total = 0;
    for (long i = 0; i < n / 8; i++) total += unsigned(__builtin_popcountll(mask[i]));
  }
  if (total < 1) total = 1;
  return total > kMax ? kMax - 1 : total - 1;
}

}  // namespace ckpt
