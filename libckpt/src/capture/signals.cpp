#include "signals.h"

#include <signal.h>

#include "common/raw_syscall.h"
#include "procfs.h"
#include "runtime/config.h"

#include <cstring>

namespace ckpt {

namespace {
struct KernelSigaction {  // the kernel's struct sigaction on x86-64
  uint64_t handler, flags, restorer, mask;
};
}  // namespace

void capture_signal_actions(ProcessState& st) {
  st.signals.clear();
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    KernelSigaction k{};
    if (ckpt_syscall4(CKPT_NR_rt_sigaction, sig, 0, long(&k), 8) != 0) continue;
    if (k.handler == 0 && k.flags == 0 && k.mask == 0) continue;  // default, nothing to restore
    st.signals.push_back({sig, k.handler, k.flags, k.restorer, k.mask});
  }
}

}  // namespace ckpt

namespace ckpt {

namespace {

// Dequeues and re-queues the signals in `mask`, recording their siginfo.
size_t requeue_pending(bool shared, uint64_t mask, unsigned char (*out)[128], size_t max) {
  int32_t pid = int32_t(ckpt_syscall0(CKPT_NR_getpid)), tid = int32_t(ckpt_syscall0(CKPT_NR_gettid));
  size_t n = 0;
  for (int sig = 1; sig <= 64 && n < max; sig++) {
    if (!(mask >> (sig - 1) & 1) || sig == SIGKILL || sig == SIGSTOP || sig == 32 || sig == 33 ||
        sig == g_config.ckpt_signal || sig == g_config.freeze_signal)
      continue;
    uint64_t set = 1ULL << (sig - 1);
    struct timespec zero = {0, 0};
    size_t first = n;
    while (n < max && ckpt_syscall4(CKPT_NR_rt_sigtimedwait, long(&set), long(out[n]), long(&zero), 8) == sig) n++;
    for (size_t i = first; i < n; i++) {  // back in the queue, in order
      if (shared) ckpt_syscall3(CKPT_NR_rt_sigqueueinfo, pid, sig, long(out[i]));
      else ckpt_syscall4(297 /* rt_tgsigqueueinfo */, pid, tid, sig, long(out[i]));
    }
  }
  return n;
}

}  // namespace

size_t capture_pending_signals(bool shared, unsigned char (*out)[128], size_t max) {
  std::string status;
  if (!read_proc_file(shared ? "/proc/self/status" : "/proc/thread-self/status", status)) return 0;
  return requeue_pending(shared, parse_u64(status_field(status, shared ? "ShdPnd" : "SigPnd"), 16), out, max);
}

size_t capture_thread_pending_signals(char* scratch, size_t scratch_len, unsigned char (*out)[128], size_t max) {
  uint64_t mask;
  if (read_proc_small("/proc/thread-self/status", scratch, scratch_len) <= 0 ||
      !status_hex_field(scratch, "SigPnd", mask))
    return 0;
  return requeue_pending(false, mask, out, max);
}

}  // namespace ckpt
