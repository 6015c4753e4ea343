#include "threads.h"

#include <asm/prctl.h>
#include <signal.h>
#include <sys/prctl.h>

#include <cstddef>
#include <cstring>

#include "common/raw_syscall.h"
#include "signals.h"

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif

// glibc 2.35+ publishes where each thread's rseq area sits relative to the
// thread pointer. Weak: older glibc has no rseq registration at all.
extern "C" {
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));
}

namespace ckpt {

namespace {
constexpr uint32_t kRseqSig = 0x53053053;  // glibc's RSEQ_SIG on x86
constexpr int kRseqFlagUnregister = 1;

// Which (area, length) the kernel has registered for this thread. The rseq
// syscall answers EBUSY exactly when the arguments match the registration,
// so each candidate can be tested without changing anything.
void find_rseq(ThreadCapture& t) {
  t.rseq_area = 0;
  if (!&__rseq_size || !&__rseq_offset || __rseq_size == 0) return;
  uint64_t area = t.fs_base + uint64_t(__rseq_offset);
  uint32_t candidates[2] = {32, (__rseq_size + 31u) & ~31u};
  for (uint32_t len : candidates) {
    long r = ckpt_syscall4(CKPT_NR_rseq, long(area), len, 0, kRseqSig);
    if (r == -16 /* EBUSY */) {
      t.rseq_area = area;
      t.rseq_len = len;
      t.rseq_sig = kRseqSig;
      return;
    }
    if (r == 0) {  // was not registered at all: undo what we just did
      ckpt_syscall4(CKPT_NR_rseq, long(area), len, kRseqFlagUnregister, kRseqSig);
      return;
    }
  }
}
}  // namespace

void capture_thread(ThreadCapture& t, const ucontext_t* uc, char* scratch, size_t scratch_len) {
  t.tid = int32_t(ckpt_syscall0(CKPT_NR_gettid));
  t.error = 0;
  ckpt_syscall2(CKPT_NR_arch_prctl, ARCH_GET_FS, long(&t.fs_base));
  ckpt_syscall2(CKPT_NR_arch_prctl, ARCH_GET_GS, long(&t.gs_base));
  ckpt_syscall4(CKPT_NR_rt_sigprocmask, SIG_BLOCK, 0, long(&t.handler_sigmask), 8);
  if (uc) memcpy(&t.app_sigmask, &uc->uc_sigmask, 8);
  else t.app_sigmask = t.handler_sigmask;  // a libckpt thread, not interrupted
  // The alternate stack as the interrupted code had it: while a handler runs
  // the kernel may have disarmed it (SS_AUTODISARM) and saved it in the frame.
  stack_t ss{};
  if (uc) ss = uc->uc_stack;
  else ckpt_syscall2(CKPT_NR_sigaltstack, 0, long(&ss));
  t.altstack_sp = uint64_t(ss.ss_sp);
  t.altstack_size = ss.ss_size;
  t.altstack_flags = ss.ss_flags & (SS_DISABLE | SS_AUTODISARM);  // SS_ONSTACK is a state, not a setting
  size_t len = 0;
  if (ckpt_syscall3(CKPT_NR_get_robust_list, 0, long(&t.robust_list), long(&len)) == 0)
    t.robust_list_len = len;
  uint64_t tid_addr = 0;
  if (ckpt_syscall2(CKPT_NR_prctl, PR_GET_TID_ADDRESS, long(&tid_addr)) == 0) t.clear_child_tid = tid_addr;
  find_rseq(t);
  memset(t.name, 0, sizeof t.name);
  ckpt_syscall2(CKPT_NR_prctl, PR_GET_NAME, long(t.name));
  long n = ckpt_syscall3(CKPT_NR_sched_getaffinity, 0, sizeof t.affinity, long(t.affinity));
  t.affinity_words = n > 0 ? uint32_t(n / 8) : 0;
  t.npending = uint32_t(capture_thread_pending_signals(scratch, scratch_len, t.pending, 16));
  t.interrupted_rip = uc ? uint64_t(uc->uc_mcontext.gregs[REG_RIP]) : 0;
  t.interrupted_rsp = uc ? uint64_t(uc->uc_mcontext.gregs[REG_RSP]) : 0;
}

ThreadState thread_state_from(const ThreadCapture& c) {
  ThreadState t;
  t.tid = c.tid;
  t.coordinator = c.coordinator;
  t.fs_base = c.fs_base;
  t.gs_base = c.gs_base;
  t.resume = c.resume;
  t.handler_sigmask = c.handler_sigmask;
  t.app_sigmask = c.app_sigmask;
  t.altstack_sp = c.altstack_sp;
  t.altstack_size = c.altstack_size;
  t.altstack_flags = c.altstack_flags;
  t.robust_list = c.robust_list;
  t.robust_list_len = c.robust_list_len;
  t.clear_child_tid = c.clear_child_tid;
  t.rseq_area = c.rseq_area;
  t.rseq_len = c.rseq_len;
  t.rseq_sig = c.rseq_sig;
  t.name.assign(c.name, strnlen(c.name, sizeof c.name));
  t.affinity.assign(c.affinity, c.affinity + c.affinity_words);
  t.interrupted_rip = c.interrupted_rip;
  t.interrupted_rsp = c.interrupted_rsp;
  return t;
}

}  // namespace ckpt
