#include "altstack_guard.h"

#include <fcntl.h>
#include <ucontext.h>

#include <cstring>

#include "common/msg.h"
#include "common/raw_syscall.h"

namespace ckpt {

namespace {

constexpr int kSlots = 128;
struct Use {
  int32_t tid;     // 0: free
  uint64_t lo, hi; // the alternate stack
};
Use g_uses[kSlots];
int g_active = 0;  // records in use: the coordinator's fast path
__thread int t_depth __attribute__((tls_model("initial-exec")));  // this thread's records

int32_t my_tid() { return int32_t(ckpt_syscall0(CKPT_NR_gettid)); }

// The user stack pointer of a thread that is blocked (in a system call or
// not), from /proc/self/task/TID/syscall; 0 if it is running or unknown.
uint64_t blocked_sp(int32_t tid) {
  char buf[256];
  Msg path;
  path << "/proc/self/task/" << tid << "/syscall";
  long fd = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long(path.c_str()), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return 0;
  long n = ckpt_syscall3(CKPT_NR_read, fd, long(buf), sizeof buf - 1);
  ckpt_syscall1(CKPT_NR_close, fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  if (buf[0] != '-' && (buf[0] < '0' || buf[0] > '9')) return 0;  // "running"
  // "NR a1 a2 a3 a4 a5 a6 SP PC" in a system call, "-1 SP PC" otherwise:
  // the stack pointer is the next to last field.
  const char* fields[10];
  int nf = 0;
  for (char* p = buf; *p && nf < 10;) {
    while (*p == ' ' || *p == '\n') p++;
    if (!*p) break;
    fields[nf++] = p;
    while (*p && *p != ' ' && *p != '\n') p++;
  }
  if (nf < 3) return 0;
  const char* s = fields[nf - 2];
  if (s[0] != '0' || s[1] != 'x') return 0;
  uint64_t v = 0;
  for (s += 2; (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'); s++)
    v = v << 4 | uint64_t(*s <= '9' ? *s - '0' : *s - 'a' + 10);
  return v;
}

}  // namespace

int altstack_enter(const void* ucv) {
  auto uc = static_cast<const ucontext_t*>(ucv);
  if (!uc || (uc->uc_stack.ss_flags & SS_DISABLE) || !uc->uc_stack.ss_size) return -1;
  uint64_t lo = uint64_t(uc->uc_stack.ss_sp), hi = lo + uc->uc_stack.ss_size;
  char here;
  uint64_t sp = uint64_t(&here);
  if (sp < lo || sp >= hi) return -1;  // the handler runs on the ordinary stack
  int32_t tid = my_tid();
  for (int i = 0; i < kSlots; i++) {
    int32_t expected = 0;
    if (__atomic_load_n(&g_uses[i].tid, __ATOMIC_RELAXED) == 0 &&
        __atomic_compare_exchange_n(&g_uses[i].tid, &expected, -1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
      g_uses[i].lo = lo;
      g_uses[i].hi = hi;
      __atomic_add_fetch(&g_active, 1, __ATOMIC_ACQ_REL);
      __atomic_store_n(&g_uses[i].tid, tid, __ATOMIC_RELEASE);
      t_depth++;
      return i;
    }
  }
  return -1;  // full: not guarded
}

void altstack_leave(int slot) {
  if (slot < 0) return;
  __atomic_store_n(&g_uses[slot].tid, 0, __ATOMIC_RELEASE);
  __atomic_sub_fetch(&g_active, 1, __ATOMIC_ACQ_REL);
  t_depth--;
}

void altstack_forget_self() {
  if (t_depth <= 0) return;
  t_depth = 0;
  int32_t tid = my_tid();
  for (Use& u : g_uses)
    if (__atomic_load_n(&u.tid, __ATOMIC_ACQUIRE) == tid) {
      __atomic_store_n(&u.tid, 0, __ATOMIC_RELEASE);
      __atomic_sub_fetch(&g_active, 1, __ATOMIC_ACQ_REL);
    }
}

bool altstack_too_tight(int32_t tid, uint64_t need) {
  if (__atomic_load_n(&g_active, __ATOMIC_ACQUIRE) <= 0) return false;
  for (Use& u : g_uses) {
    if (__atomic_load_n(&u.tid, __ATOMIC_ACQUIRE) != tid) continue;
    uint64_t sp = blocked_sp(tid);
    if (!sp) return true;                 // running: cannot tell where
    if (sp < u.lo || sp >= u.hi) continue;  // not on it (any more): a stale record
    if (sp - u.lo < need) return true;
  }
  return false;
}

void altstack_after_fork() {
  for (Use& u : g_uses) u.tid = 0;  // the parent's threads (and tids)
  g_active = 0;
  t_depth = 0;
}

}  // namespace ckpt
