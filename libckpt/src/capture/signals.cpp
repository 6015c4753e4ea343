#include "signals.h"

#include <signal.h>

#include "common/raw_syscall.h"

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
