#include "control.h"

#include <fcntl.h>
#include <cerrno>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstring>

#include "common/raw_dir.h"
#include "common/raw_syscall.h"
#include "config.h"
#include "own_fds.h"

namespace ckpt::control {

namespace {
constexpr size_t kSize = (sizeof(ckpt_control_block) + 4095) & ~size_t(4095);
int g_fd = -1;
ckpt_control_block* g_block = nullptr;
uint64_t g_ino = 0, g_dev = 0;  // the memfd's identity: the number may be taken over

void remember_identity(int fd) {
  struct stat sb;
  if (ckpt_syscall2(CKPT_NR_fstat, fd, long(&sb)) == 0) {
    g_ino = sb.st_ino;
    g_dev = sb.st_dev;
  }
}

// Still our memfd? The application may have closed it behind libckpt's
// back (a raw close or close_range system call) and reused the number.
bool still_ours(int fd) {
  struct stat sb;
  return fd >= 0 && ckpt_syscall2(CKPT_NR_fstat, fd, long(&sb)) == 0 && sb.st_ino == g_ino && sb.st_dev == g_dev;
}

}  // namespace

bool create(int want_fd) {
  long fd = ckpt_syscall2(CKPT_NR_memfd_create, long(CKPT_CONTROL_NAME), MFD_CLOEXEC);
  if (fd < 0) return false;
  if (ckpt_syscall2(CKPT_NR_ftruncate, fd, long(kSize)) != 0) {
    ckpt_syscall1(CKPT_NR_close, fd);
    return false;
  }
  long p = ckpt_syscall6(CKPT_NR_mmap, 0, long(kSize), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (CKPT_IS_ERR(p)) {
    ckpt_syscall1(CKPT_NR_close, fd);
    return false;
  }
  g_fd = move_fd_high(int(fd), want_fd);
  remember_identity(g_fd);
  g_block = reinterpret_cast<ckpt_control_block*>(p);
  memcpy(g_block->magic, CKPT_CONTROL_MAGIC, 8);
  g_block->version = 1;
  g_block->size = sizeof(ckpt_control_block);
  g_block->pid = int32_t(ckpt_syscall0(CKPT_NR_getpid));
  g_block->ckpt_signal = g_config.ckpt_signal;
  g_block->thaw_signal = g_config.thaw_signal;
  memcpy(g_block->images_dir, g_config.images_dir, sizeof g_block->images_dir);
  g_block->images_dir[sizeof g_block->images_dir - 1] = '\0';
  return true;
}

namespace {

// Is `fd` a control block memfd (its /proc/self/fd link says so)?
bool is_control_memfd(int fd) {
  Msg link;
  link << "/proc/self/fd/" << fd;
  char target[128];
  long n = ckpt_syscall4(CKPT_NR_readlinkat, AT_FDCWD, long(link.c_str()), long(target), sizeof target - 1);
  if (n <= 0) return false;
  target[n] = '\0';
  static const char kWant[] = "/memfd:" CKPT_CONTROL_NAME;
  return strncmp(target, kWant, sizeof kWant - 1) == 0;
}
}  // namespace

uint32_t adopt_inherited() {
  // Only a block handed over by exec (exec.cpp) is inherited: ours are
  // close-on-exec otherwise.
  int found = -1;
  long r = for_each_dir_entry("/proc/self/fd", [&](const char* name, int dir) {
    long fd = dir_entry_number(name);
    if (fd < 3 || fd == dir) return;
    long flags = ckpt_syscall3(CKPT_NR_fcntl, fd, F_GETFD, 0);
    if (flags < 0 || (flags & FD_CLOEXEC) || !is_control_memfd(int(fd))) return;
    if (found < 0) found = int(fd);
    else ckpt_syscall1(CKPT_NR_close, fd);  // more than one: keep the first
  });
  if (r < 0 || found < 0) return 0;
  ckpt_syscall3(CKPT_NR_fcntl, found, F_SETFD, FD_CLOEXEC);
  long p = ckpt_syscall6(CKPT_NR_mmap, 0, long(kSize), PROT_READ | PROT_WRITE, MAP_SHARED, found, 0);
  auto* b = reinterpret_cast<ckpt_control_block*>(p);
  uint32_t state = CKPT_IS_ERR(p) ? 0 : __atomic_load_n(&b->ready, __ATOMIC_ACQUIRE);
  if (CKPT_IS_ERR(p) || memcmp(b->magic, CKPT_CONTROL_MAGIC, 8) != 0 || b->pid != ckpt_syscall0(CKPT_NR_getpid) ||
      (state != CKPT_CONTROL_EXEC && state != CKPT_CONTROL_EXEC_MASKED)) {
    if (!CKPT_IS_ERR(p)) ckpt_syscall2(CKPT_NR_munmap, p, long(kSize));
    ckpt_syscall1(CKPT_NR_close, found);
    return 0;
  }
  g_fd = found;
  remember_identity(g_fd);
  g_block = b;
  // This program's settings; results, counters and the exec state stay
  // (a request made during the exec waits for its result here).
  g_block->ckpt_signal = g_config.ckpt_signal;
  g_block->thaw_signal = g_config.thaw_signal;
  memcpy(g_block->images_dir, g_config.images_dir, sizeof g_block->images_dir);
  g_block->images_dir[sizeof g_block->images_dir - 1] = '\0';
  return state;
}

bool ours() { return g_block && g_block->pid == ckpt_syscall0(CKPT_NR_getpid); }

uint32_t prepare_exec(bool handover, bool ckpt_signal_was_blocked) {
  uint32_t prev = __atomic_load_n(&g_block->ready, __ATOMIC_ACQUIRE);
  if (handover) {
    ckpt_syscall3(CKPT_NR_fcntl, g_fd, F_SETFD, 0);
    __atomic_store_n(&g_block->ready, ckpt_signal_was_blocked ? CKPT_CONTROL_EXEC_MASKED : CKPT_CONTROL_EXEC,
                     __ATOMIC_RELEASE);
  } else {
    __atomic_store_n(&g_block->ready, 0, __ATOMIC_RELEASE);  // the next program runs without libckpt
  }
  return prev;
}

void exec_failed(uint32_t prev_ready) {
  ckpt_syscall3(CKPT_NR_fcntl, g_fd, F_SETFD, FD_CLOEXEC);
  __atomic_store_n(&g_block->ready, prev_ready, __ATOMIC_RELEASE);
}

void forget() {
  if (g_block) ckpt_syscall2(CKPT_NR_munmap, long(g_block), long(kSize));
  if (g_fd >= 0) ckpt_syscall1(CKPT_NR_close, g_fd);
  g_block = nullptr;
  g_fd = -1;
}

void move_away() {
  if (g_fd < 0) return;
  int old = g_fd;
  long fd = ckpt_syscall3(CKPT_NR_fcntl, old, F_DUPFD_CLOEXEC, 3);
  if (fd < 0) return;
  g_fd = move_fd_high(int(fd), -1);
  if (g_fd == old) return;
  ckpt_syscall1(CKPT_NR_close, old);
}

bool read_result(uint64_t seq, ckpt_control_result& out) {
  if (!g_block) return false;
  const ckpt_control_result& r = g_block->results[seq % CKPT_CONTROL_RESULTS];
  if (__atomic_load_n(&r.seq, __ATOMIC_ACQUIRE) != seq) return false;
  out = r;
  return __atomic_load_n(&r.seq, __ATOMIC_ACQUIRE) == seq;
}

bool find_result(uint32_t token, ckpt_control_result& out) {
  if (!g_block) return false;
  for (const ckpt_control_result& r : g_block->results) {
    uint64_t seq = __atomic_load_n(&r.seq, __ATOMIC_ACQUIRE);
    if (!seq || r.token != token) continue;
    out = r;
    if (__atomic_load_n(&r.seq, __ATOMIC_ACQUIRE) == seq) return true;
  }
  return false;
}

void record_freeze_time(uint64_t seq, uint64_t freeze_ns) {
  if (g_block) __atomic_store_n(&g_block->results[seq % CKPT_CONTROL_RESULTS].freeze_ns, freeze_ns, __ATOMIC_RELEASE);
}

uint64_t recorded_freeze_time(uint64_t seq) {
  return g_block ? __atomic_load_n(&g_block->results[seq % CKPT_CONTROL_RESULTS].freeze_ns, __ATOMIC_ACQUIRE) : 0;
}

void abandon() {
  g_block = nullptr;  // keep g_fd: create() reuses the number
}

bool ensure_fd() {
  if (!g_block) return false;
  if (still_ours(g_fd)) return true;
  // A new memfd with the block's current contents, mapped where the block
  // is (libckpt only ever uses the mapping; ckpt-run finds the descriptor).
  long fd = ckpt_syscall2(CKPT_NR_memfd_create, long(CKPT_CONTROL_NAME), MFD_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ckpt_syscall2(CKPT_NR_ftruncate, fd, long(kSize)) == 0 &&
            ckpt_syscall4(CKPT_NR_pwrite64, fd, long(g_block), long(kSize), 0) == long(kSize) &&
            !CKPT_IS_ERR(ckpt_syscall6(CKPT_NR_mmap, long(g_block), long(kSize), PROT_READ | PROT_WRITE,
                                       MAP_SHARED | MAP_FIXED, fd, 0));
  if (!ok) {
    ckpt_syscall1(CKPT_NR_close, fd);
    return false;
  }
  g_fd = move_fd_high(int(fd), -1);
  remember_identity(g_fd);
  return true;
}

int fd() { return g_fd; }
bool owns_fd(int fd) {
  if (fd < 0 || fd != g_fd) return false;
  if (still_ours(fd)) return true;
  g_fd = -1;  // closed behind our back and reused: the application's now
  return false;
}
uintptr_t mapping_start() { return uintptr_t(g_block); }
uintptr_t mapping_end() { return g_block ? uintptr_t(g_block) + kSize : 0; }

void set_ready() {
  if (g_block) __atomic_store_n(&g_block->ready, 1, __ATOMIC_RELEASE);
}

uint64_t begin_checkpoint() {
  if (!g_block) return 0;
  uint64_t seq = __atomic_add_fetch(&g_block->started, 1, __ATOMIC_ACQ_REL);
  __atomic_store_n(&g_block->results[seq % CKPT_CONTROL_RESULTS].freeze_ns, 0, __ATOMIC_RELEASE);
  return seq;
}

void finish_checkpoint(uint64_t seq, uint32_t token, bool ok, const char* path, const char* message,
                       uint64_t bytes, uint64_t freeze_ns, uint64_t write_ns, const uint8_t* image_id,
                       uint64_t content_hash, bool incremental) {
  if (!g_block) return;
  ckpt_control_result& r = g_block->results[seq % CKPT_CONTROL_RESULTS];
  r.seq = 0;  // invalidate while the slot is rewritten
  __atomic_thread_fence(__ATOMIC_RELEASE);
  r.token = token;
  r.status = ok ? CKPT_RESULT_OK : CKPT_RESULT_FAILED;
  r.image_bytes = bytes;
  if (freeze_ns) r.freeze_ns = freeze_ns;
  memcpy(r.image_id, image_id, sizeof r.image_id);
  r.content_hash = content_hash;
  r.incremental = incremental;
  r.write_ns = write_ns;
  strncpy(r.path, path ? path : "", sizeof r.path - 1);
  r.path[sizeof r.path - 1] = '\0';
  strncpy(r.message, message ? message : "", sizeof r.message - 1);
  r.message[sizeof r.message - 1] = '\0';
  __atomic_store_n(&r.seq, seq, __ATOMIC_RELEASE);
  __atomic_store_n(&g_block->completed, seq, __ATOMIC_RELEASE);
}

}  // namespace ckpt::control
