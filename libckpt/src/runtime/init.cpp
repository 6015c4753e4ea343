// Load-time set-up of libckpt.so and what a forked child must redo.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>

#include <cstdlib>
#include <cstring>

#include "arena.h"
#include "common/control_block.h"
#include "common/path_limits.h"
#include "common/raw_syscall.h"
#include "config.h"
#include "control.h"
#include "image_file.h"
#include "interpose/altstack_guard.h"
#include "interpose/real.h"
#include "interpose/thread_signals.h"
#include "log.h"
#include "quiesce.h"
#include "runtime.h"
#include "thread_registry.h"
#include "coordinator.h"
#include "lineage.h"
#include "tracking/dirty_tracker.h"

namespace ckpt {

void timers_init();
void timers_after_fork();
void forget_tracking();
void start_interval_timer();

namespace {
constexpr size_t kPrivateStackSize = 2u << 20;
bool g_active = false;
uintptr_t g_stack_start = 0;

// The pid file appears only once checkpoints can be taken (the contract
// scripts rely on): written to a temporary name, then renamed.
void write_pid_file(const char* path) {
  if (strlen(path) > CKPT_MAX_PID_FILE_PATH) {  // PATH.tmp.PID must fit a Msg
    log_error(Msg() << "the pid file path is too long (at most " << CKPT_MAX_PID_FILE_PATH << " bytes); not written");
    return;
  }
  Msg tmp;
  tmp << path << ".tmp." << ckpt_syscall0(CKPT_NR_getpid);
  long fd = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long(tmp.c_str()), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    log_error(Msg() << "cannot write the pid file " << path << ": " << errno_name(int(-fd)));
    return;
  }
  Msg line;
  line << ckpt_syscall0(CKPT_NR_getpid) << "\n";
  ckpt_syscall3(CKPT_NR_write, fd, long(line.c_str()), long(line.size()));
  ckpt_syscall1(CKPT_NR_close, fd);
  long r = ckpt_syscall2(CKPT_NR_rename, long(tmp.c_str()), long(path));
  if (r != 0) log_error(Msg() << "cannot write the pid file " << path << ": " << errno_name(int(-r)));
}

void on_fork_child() {
  if (!g_active) return;
  // The fork may have happened in the middle of a checkpoint of the parent
  // (another thread coordinating, or just thawed): none of it is ours.
  arena::after_fork();
  quiesce_after_fork();
  exclusive_after_fork();
  altstack_after_fork();
  registry_clear();
  timers_after_fork();
  // Tracking (uffd registrations are not inherited) and the image chain
  // start afresh: the child's first image is full.
  if (DirtyTracker* t = active_tracker()) t->reset();
  lineage::reset();
  forget_tracking();
  start_interval_timer();
  coordinator::after_fork();
  // The child shares nothing of libckpt's with its parent: its own control block.
  control::forget();
  control::create();
  control::set_ready();
}

// A program exec'd with libckpt's signals blocked (a supervisor that forgot
// to reset its mask, or an application that blocked them before exec): the
// application believes them blocked, the kernel must not have them blocked,
// or no checkpoint could ever stop it. The checkpoint signal may also have
// been blocked by libckpt itself across an exec (CKPT_CONTROL_EXEC,
// interpose/exec.cpp): that is not the application's. Records the
// application's view; returns what the kernel must stop blocking, which the
// constructor does last, once ready (a signal held over the exec is taken then).
uint64_t adopt_inherited_mask(uint32_t exec_state) {
  uint64_t mask = 0;
  if (ckpt_syscall4(CKPT_NR_rt_sigprocmask, SIG_BLOCK, 0, long(&mask), 8) != 0) return 0;
  uint64_t ckpt_bit = 1ull << (g_config.ckpt_signal - 1), freeze_bit = 1ull << (g_config.freeze_signal - 1);
  uint64_t view = 0;
  if ((mask & ckpt_bit) && exec_state != CKPT_CONTROL_EXEC) view |= reserved_bit(g_config.ckpt_signal);
  if (mask & freeze_bit) view |= reserved_bit(g_config.freeze_signal);
  t_signals.reserved_blocked = view;
  return mask & (ckpt_bit | freeze_bit);
}

__attribute__((constructor)) void libckpt_init() {
  real::resolve_all();
  if (!load_config()) return;
  if (!allocate_private_stack()) {
    log_error(Msg() << "cannot allocate libckpt's stack; checkpoints disabled");
    return;
  }
  // A program exec'd under the same pid takes over the previous one's block.
  uint32_t exec_state = control::adopt_inherited();
  if (!exec_state && !control::create()) {
    log_error(Msg() << "cannot create the control block; checkpoints disabled");
    return;
  }
  timers_init();
  if (g_config.incremental) {
    Msg note;
    DirtyTracker* t = select_tracker(g_config.track, note);
    if (note.size()) log_warning(note);
    log_info(Msg() << "incremental checkpoints, dirty pages tracked with " << (t ? t->name() : "nothing"));
  }
  g_active = true;
  install_freeze_handler();
  install_checkpoint_handler();
  uint64_t to_unblock = adopt_inherited_mask(exec_state);
  start_interval_timer();
  pthread_atfork(nullptr, nullptr, on_fork_child);
  control::set_ready();
  if (const char* pid_file = getenv("CKPT_PID_FILE")) {
    // Only the program ckpt-run launched (it has ckpt-run's pid) writes it,
    // not its children, nor a program it execs under another pid.
    const char* for_pid = getenv("CKPT_PID_FILE_PID");
    if (!for_pid || atol(for_pid) == ckpt_syscall0(CKPT_NR_getpid)) write_pid_file(pid_file);
    unsetenv("CKPT_PID_FILE");
    unsetenv("CKPT_PID_FILE_PID");
  }
  // Last: a checkpoint signal held over the exec is taken now.
  if (to_unblock) ckpt_syscall4(CKPT_NR_rt_sigprocmask, SIG_UNBLOCK, long(&to_unblock), 0, 8);
}
}  // namespace

bool runtime_active() { return g_active; }
bool is_own_fd(int fd) {
  if (control::owns_fd(fd)) return true;
  DirtyTracker* t = active_tracker();
  return t && t->owns_fd(fd);
}

// --interval: a POSIX timer that sends SIGCKPT. It is a timer like the
// application's, so it is checkpointed and restored with them.
void start_interval_timer() {
  if (!g_config.interval_s) return;
  struct {
    uint64_t value;
    int32_t signo, notify;
    int32_t pad[12];
  } ev = {0, g_config.ckpt_signal, SIGEV_SIGNAL, {}};
  int id;
  if (ckpt_syscall3(222 /* timer_create */, CLOCK_MONOTONIC, long(&ev), long(&id)) != 0) {
    log_warning(Msg() << "cannot create the --interval timer");
    return;
  }
  struct timespec its[2] = {{time_t(g_config.interval_s), 0}, {time_t(g_config.interval_s), 0}};
  ckpt_syscall4(223 /* timer_settime */, id, 0, long(its), 0);
}

bool allocate_private_stack() {
  long p = ckpt_syscall6(CKPT_NR_mmap, 0, kPrivateStackSize, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (CKPT_IS_ERR(p)) return false;
  g_stack_start = uintptr_t(p);
  return true;
}

void abandon_private_stack() { g_stack_start = 0; }
void* private_stack_top() { return reinterpret_cast<void*>(g_stack_start + kPrivateStackSize); }
uintptr_t private_stack_start() { return g_stack_start; }
uintptr_t private_stack_end() { return g_stack_start ? g_stack_start + kPrivateStackSize : 0; }

}  // namespace ckpt
