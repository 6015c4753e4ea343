#include "quiesce.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "arena.h"
#include "common/raw_dir.h"
#include "common/raw_syscall.h"
#include "capture/procfs.h"
#include "config.h"
#include "interpose/real.h"
#include "interpose/thread_signals.h"
#include "interpose/altstack_guard.h"
#include "log.h"
#include "thread_registry.h"

extern "C" long ckpt_save_context(ckpt::ResumeContext* ctx) __attribute__((returns_twice));

namespace ckpt {

namespace {

struct FreezeState {
  std::atomic<uint32_t> active{0};      // a freeze is in progress
  std::atomic<uint32_t> parked{0};      // threads parked in the live process
  std::atomic<uint32_t> restored{0};    // threads back in libckpt after a restore
  std::atomic<uint32_t> generation{0};  // bumped by thaw
  // Threads inside on_freeze_signal. The slots (arena memory) are reset or
  // freed only once this is 0: a thread signalled by an abandoned attempt
  // may still be running the handler.
  std::atomic<uint32_t> inside{0};
  std::atomic<uint32_t> nslots{0};
  ThreadCapture* slots = nullptr;
  char* scratch = nullptr;              // kScratch bytes per slot, for the handler
  uint32_t capacity = 0;
  uint32_t live = 0;                    // slots whose thread parked (coordinator included)
};
constexpr size_t kScratch = 4096;
FreezeState g;

uint64_t now_ns() {
  struct timespec t;
  ckpt_syscall2(CKPT_NR_clock_gettime, CLOCK_MONOTONIC, long(&t));
  return uint64_t(t.tv_sec) * 1000000000ull + uint64_t(t.tv_nsec);
}

void futex_wait(std::atomic<uint32_t>* word, uint32_t val, uint64_t timeout_ns) {
  struct timespec ts = {long(timeout_ns / 1000000000ull), long(timeout_ns % 1000000000ull)};
  ckpt_syscall4(CKPT_NR_futex, long(word), FUTEX_WAIT_PRIVATE, val, timeout_ns ? long(&ts) : 0);
}

void futex_wake(std::atomic<uint32_t>* word) {
  ckpt_syscall3(CKPT_NR_futex, long(word), FUTEX_WAKE_PRIVATE, 0x7fffffff);
}

ThreadCapture* find_slot(int32_t tid) {
  uint32_t n = g.nslots.load(std::memory_order_acquire);
  for (uint32_t i = 1; i < n; i++)
    if (g.slots[i].tid == tid) return &g.slots[i];
  return nullptr;
}

void leave_freeze_handler() {
  if (g.inside.fetch_sub(1, std::memory_order_acq_rel) == 1) futex_wake(&g.inside);
}

void on_freeze_signal(int, siginfo_t*, void* ucv) {
  count_our_signal();
  // The generation this signal belongs to, read before `active`: a thaw in
  // between (an abandoned attempt) changes it, and the thread must then not
  // stay parked, nor be counted in a later attempt it was not signalled for.
  g.inside.fetch_add(1, std::memory_order_seq_cst);
  uint32_t gen = g.generation.load(std::memory_order_seq_cst);
  if (!g.active.load(std::memory_order_seq_cst)) {  // stale signal from an abandoned freeze
    leave_freeze_handler();
    return;
  }
  int saved_errno = errno;
  ThreadCapture* slot = find_slot(int32_t(ckpt_syscall0(CKPT_NR_gettid)));
  if (!slot) {
    leave_freeze_handler();
    return;
  }
  __atomic_store_n(&slot->in_handler, 1, __ATOMIC_RELEASE);
  capture_thread(*slot, static_cast<ucontext_t*>(ucv), g.scratch + size_t(slot - g.slots) * kScratch, kScratch);
  long restored = ckpt_save_context(&slot->resume);
  // From here on the code also runs after a restore, when `slot` (arena
  // memory) no longer exists: only globals may be used.
  if (!restored && g.generation.load(std::memory_order_seq_cst) != gen) {
    // The attempt this thread was stopping for was given up meanwhile.
    __atomic_store_n(&slot->resume.rip, 0, __ATOMIC_RELEASE);
    errno = saved_errno;
    leave_freeze_handler();
    return;
  }
  std::atomic<uint32_t>& counter = restored ? g.restored : g.parked;
  counter.fetch_add(1, std::memory_order_acq_rel);
  futex_wake(&counter);
  while (g.generation.load(std::memory_order_acquire) == gen) futex_wait(&g.generation, gen, 0);
  errno = saved_errno;
  leave_freeze_handler();
}


// Calls fn(tid) for every thread of the process. Returns false on error.
template <class Fn>
bool for_each_task(Fn&& fn) {
  return for_each_dir_entry("/proc/self/task", [&](const char* name, int) {
           long tid = dir_entry_number(name);
           if (tid > 0) fn(int32_t(tid));
         }) == 0;
}

// The state letter of /proc/self/task/TID/stat ('R', 'S', 'Z'...), 0 if the
// thread is gone.
char task_state(int32_t tid) {
  char buf[512];
  if (read_proc_small((Msg() << "/proc/self/task/" << tid << "/stat").c_str(), buf, sizeof buf) <= 0) return 0;
  const char* p = strrchr(buf, ')');
  return p && p[1] == ' ' ? p[2] : 0;
}

// A thread that ended (or is ending) can never park: a zombie, most often
// the main thread after it called pthread_exit() (the process lives on in
// its other threads, its leader stays a zombie until they end).
bool task_ended(int32_t tid) {
  char st = task_state(tid);
  return st == 0 || st == 'Z' || st == 'X' || st == 'x';
}

// A thread's blocked signals (SigBlk); false if it cannot be read.
bool blocked_signals(int32_t tid, uint64_t& mask) {
  char status[4096];
  if (read_proc_small((Msg() << "/proc/self/task/" << tid << "/status").c_str(), status, sizeof status) <= 0)
    return false;
  return status_hex_field(status, "SigBlk", mask);
}

bool blocks_freeze_signal(int32_t tid) {
  uint64_t mask;
  return blocked_signals(tid, mask) && (mask & (1ull << (g_config.freeze_signal - 1)));
}

// "1234 (name, blocks every signal, in system call 128)"
void describe_task(Msg& err, int32_t tid) {
  char comm[32], sys[128];
  long n = read_proc_small((Msg() << "/proc/self/task/" << tid << "/comm").c_str(), comm, sizeof comm);
  if (n > 0 && comm[n - 1] == '\n') comm[n - 1] = '\0';
  err << " " << tid << " (" << comm;
  bool blocks_freeze = false;
  uint64_t mask;
  if (blocked_signals(tid, mask)) {
    // The kernel never reports SIGKILL and SIGSTOP as blocked.
    const uint64_t unblockable = (1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1));
    blocks_freeze = mask & (1ull << (g_config.freeze_signal - 1));
    if ((mask | unblockable) == ~0ull) err << ", blocks every signal";
    else if (blocks_freeze) err << ", blocks libckpt's freeze signal " << g_config.freeze_signal;
  }
  long nr = -1;
  if (read_proc_small((Msg() << "/proc/self/task/" << tid << "/syscall").c_str(), sys, sizeof sys) > 0) {
    char* sp = strchr(sys, ' ');
    if (sp) *sp = '\0';
    if (sys[0] >= '0' && sys[0] <= '9') {
      err << ", in system call " << sys;
      nr = 0;
      for (const char* p = sys; *p >= '0' && *p <= '9'; p++) nr = nr * 10 + (*p - '0');
    }
    if (nr == 58) err << ": vfork(), until its child execs or exits";
  }
  // glibc's mq_notify(SIGEV_THREAD) helper: (almost) every signal blocked,
  // waiting in recv() on its netlink socket, made inside glibc (not through
  // the pthread_create libckpt sees).
  if (blocks_freeze && (nr == 45 || nr == 47) && !registry_find(tid))
    err << ": this looks like glibc's mq_notify(SIGEV_THREAD) helper thread, which no signal can stop and "
           "libckpt cannot re-create (the message queue itself cannot be checkpointed either); notify with "
           "SIGEV_SIGNAL instead";
  err << ")";
}

constexpr uint64_t kStuckAfterNs = 30000000;

// Signalled threads that have not parked (and have not ended).
template <class Fn>
void for_each_unparked(Fn&& fn) {
  for (uint32_t i = 1; i < g.nslots.load(); i++)
    if (g.slots[i].tid && __atomic_load_n(&g.slots[i].resume.rip, __ATOMIC_ACQUIRE) == 0) fn(g.slots[i]);
}

// Every thread still running blocks the freeze signal outside libckpt's
// handler (one inside it is on its way to park, however slowly).
bool all_unparked_block_freeze() {
  bool all = true, any = false;
  for_each_unparked([&](const ThreadCapture& s) {
    any = true;
    all = all && !__atomic_load_n(&s.in_handler, __ATOMIC_ACQUIRE) && blocks_freeze_signal(s.tid);
  });
  return any && all;
}

void describe_unparked(Msg& err) {
  err << "threads did not stop within the time allowed:";
  for_each_unparked([&](const ThreadCapture& s) { describe_task(err, s.tid); });
}

// One attempt: signal every thread, wait until `deadline`.
bool try_freeze(FreezeResult& out, Msg& err, uint64_t deadline) {
  int32_t self = int32_t(ckpt_syscall0(CKPT_NR_gettid));
  int32_t pid = int32_t(ckpt_syscall0(CKPT_NR_getpid));
  for (uint32_t i = 0; i < g.capacity; i++) g.slots[i] = ThreadCapture{};
  g.slots[0].tid = self;
  g.slots[0].coordinator = true;
  g.parked.store(0);
  g.restored.store(0);
  g.nslots.store(1, std::memory_order_release);
  g.active.store(1, std::memory_order_release);

  uint32_t expected = 0;
  bool overflow = false;
  bool leader_ended = false;
  uint64_t started = now_ns();
  uint32_t last_parked = 0, last_expected = 0;
  uint64_t last_progress = started;
  uint32_t deferred = 0;
  int32_t deferred_tid = 0;
  // Room the freeze frame (with the xsave area) and libckpt's handler need.
  const uint64_t altstack_need = uint64_t(g_config.cpu.xsave_size) + 1024 + 16384;
  for (;;) {
    // Signal every thread not yet seen; repeat until a listing shows none new.
    uint32_t fresh = 0;
    deferred = 0;
    for_each_task([&](int32_t tid) {
      if (tid == self || find_slot(tid)) return;
      if (altstack_too_tight(tid, altstack_need)) {  // not yet: see altstack_guard.h
        deferred++;
        deferred_tid = tid;
        return;
      }
      if (tid == pid && leader_ended) return;
      if (tid == pid && task_ended(tid)) {  // pthread_exit() in main: a zombie until the process ends
        leader_ended = true;
        return;
      }
      uint32_t n = g.nslots.load(std::memory_order_relaxed);
      if (n == g.capacity) {
        overflow = true;
        return;
      }
      g.slots[n].tid = tid;
      g.nslots.store(n + 1, std::memory_order_release);
      if (ckpt_syscall3(CKPT_NR_tgkill, pid, tid, g_config.freeze_signal) == 0) {
        expected++;
        fresh++;
      } else {
        g.slots[n].tid = 0;  // exited before it could be signalled
      }
    });
    if (overflow) {
      err << "threads are being created faster than they can be stopped";
      break;
    }
    uint32_t parked = g.parked.load(std::memory_order_acquire);
    if (fresh == 0 && parked == expected && deferred == 0) {
      out.slots = g.slots;
      out.count = g.nslots.load();
      g.live = expected + 1;
      return true;
    }
    uint64_t now = now_ns();
    if (now >= deadline) {
      // Threads that exited while we waited no longer count.
      for (uint32_t i = 1; i < g.nslots.load(); i++) {
        ThreadCapture& s = g.slots[i];
        if (s.tid && s.resume.rip == 0 && task_ended(s.tid)) {
          s.tid = 0;
          expected--;
        }
      }
      if (g.parked.load() == expected && deferred == 0) continue;
      if (deferred) {
        err << "thread " << deferred_tid << " runs a signal handler on its alternate signal stack, with too little "
            << "room left for libckpt's freeze signal (" << altstack_need << " bytes): it was not stopped, rather "
            << "than overflow that stack; try again once the handler returned";
        break;
      }
      describe_unparked(err);
      break;
    }
    uint64_t wait = deadline - now < 2000000 ? deadline - now : 2000000;
    futex_wait(&g.parked, parked, wait);
    // A signalled thread that exits without parking (threads come and go
    // all the time in some programs) is noticed within a few milliseconds,
    // not at the deadline: tgkill(..., 0) fails once it is gone; one that
    // lingers as a zombie is looked up in /proc after a while.
    if (g.parked.load(std::memory_order_acquire) != expected) {
      bool look_in_proc = now_ns() - started > 50000000;
      for (uint32_t i = 1; i < g.nslots.load(); i++) {
        ThreadCapture& s = g.slots[i];
        if (!s.tid || __atomic_load_n(&s.resume.rip, __ATOMIC_ACQUIRE) != 0) continue;
        bool gone = ckpt_syscall3(CKPT_NR_tgkill, pid, s.tid, 0) == -ESRCH;
        if (!gone && look_in_proc) {
          char st = task_state(s.tid);
          gone = st == 'Z' || st == 'X' || st == 'x';
        }
        if (gone) {
          s.tid = 0;
          expected--;
        }
      }
    }
    // A thread that blocks the freeze signal now cannot park until the
    // others run again: typically a thread exiting (glibc blocks every
    // signal there) or starting, waiting for a lock a frozen thread holds
    // (glibc's stack cache, taken by pthread_create). Give this attempt up
    // once nothing moved for a while, rather than at its deadline: the next
    // one comes after the others have run.
    uint32_t parked_now = g.parked.load(std::memory_order_acquire);
    if (parked_now != last_parked || expected != last_expected) {
      last_parked = parked_now;
      last_expected = expected;
      last_progress = now_ns();
    } else if (now_ns() - last_progress > kStuckAfterNs && all_unparked_block_freeze()) {
      describe_unparked(err);
      break;
    }
  }
  thaw_threads();
  return false;
}

}  // namespace

void install_freeze_handler() {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_freeze_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;  // never SA_ONSTACK: an AVX-512 frame overflows small altstacks
  sigfillset(&sa.sa_mask);
  real::sigaction(g_config.freeze_signal, &sa, nullptr);
}

bool freeze_other_threads(FreezeResult& out, Msg& err) {
  uint32_t ntasks = 0;
  if (!for_each_task([&](int32_t) { ntasks++; })) {
    err << "cannot list /proc/self/task";
    return false;
  }
  g.capacity = ntasks * 2 + 64;
  g.slots = static_cast<ThreadCapture*>(arena::allocate(sizeof(ThreadCapture) * g.capacity));
  g.scratch = static_cast<char*>(arena::allocate(kScratch * g.capacity));
  if (!g.slots || !g.scratch) {
    err << "out of memory for " << ntasks << " thread records";
    return false;
  }
  // A thread can be briefly unstoppable for a reason that goes away once the
  // others run again (e.g. a new thread waiting, signals blocked, for a lock
  // its frozen creator holds): try again until the time allowed is spent.
  uint64_t start = now_ns(), end = start + g_config.freeze_timeout_ns;
  for (int attempt = 0;; attempt++) {
    uint64_t now = now_ns();
    uint64_t slice = attempt < 3 ? g_config.freeze_timeout_ns / 8 : end - now;
    Msg attempt_err;
    if (try_freeze(out, attempt_err, now + slice < end ? now + slice : end)) return true;
    if (now_ns() + 20000000 >= end) {
      err << attempt_err.c_str();
      return false;
    }
    log_info(Msg() << "freeze attempt " << attempt + 1 << " given up, trying again: " << attempt_err.c_str());
    struct timespec pause = {0, 20000000};
    ckpt_syscall2(CKPT_NR_nanosleep, long(&pause), 0);
  }
}

void thaw_threads() {
  g.active.store(0, std::memory_order_seq_cst);
  g.generation.fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&g.generation);
  // Before the slots are reset (next attempt) or freed (end of the
  // checkpoint): every thread out of the handler. They only have a few
  // system calls left; the bound is for a thread stopped (SIGSTOP, ptrace)
  // inside it.
  uint64_t give_up = now_ns() + 2000000000ull;
  for (uint32_t n; (n = g.inside.load(std::memory_order_seq_cst)) != 0;) {
    uint64_t now = now_ns();
    if (now >= give_up) {
      log_warning(Msg() << n << " thread(s) still in libckpt's freeze handler 2 s after the thaw");
      break;
    }
    futex_wait(&g.inside, n, give_up - now < 10000000 ? give_up - now : 10000000);
  }
}

void wait_restored_threads(uint32_t expected) {
  for (;;) {
    uint32_t n = g.restored.load(std::memory_order_acquire);
    if (n >= expected) return;
    futex_wait(&g.restored, n, 100000000);
  }
}

uint32_t frozen_thread_count() { return g.live; }

void quiesce_after_fork() {
  g.active.store(0);
  g.parked.store(0);
  g.restored.store(0);
  g.inside.store(0);
  g.nslots.store(0);
  g.slots = nullptr;  // arena memory of the parent's checkpoint
  g.scratch = nullptr;
  g.capacity = 0;
  g.live = 0;
}

}  // namespace ckpt
