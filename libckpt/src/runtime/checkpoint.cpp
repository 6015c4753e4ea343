// The checkpoint, from signal to image.
//
//   SIGCKPT arrives in some thread, which becomes the coordinator
//   1. capture (on libckpt's stack): freeze the other threads, record the
//      process state (ids, credentials, signals, fds, memory map) as plain data
//   2. save the coordinator's resume context (on the application's stack:
//      a restored process continues right here)
//   3. fork a copy-on-write snapshot of the process (a raw clone: no atfork
//      handlers, no SIGCHLD) and thaw every thread at once; the snapshot
//      writes the image: manifest, then every saved page compressed straight
//      from its memory, to a temporary file; fsync; rename; it reports the
//      result in the control block and exits. Memory a fork child would not
//      see as it was (MADV_DONTFORK, MADV_WIPEONFORK, shared memory) is
//      copied while frozen. Where that is too much, or fork fails, the image
//      is written before thawing instead.
//   4. the next checkpoint first waits for the previous writer
//
// Nothing between 1 and 4 calls malloc, stdio or takes a lock an application
// thread could hold: allocations come from libckpt's arena, I/O uses raw
// system calls.
//
// After a restore, step 2 returns a second time with the restorer's info:
// libckpt re-creates its own resources, waits for the other threads to come
// back, unmaps the restorer, thaws everyone and sends SIGTHAW if the
// application handles it.
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "arena.h"
#include "capture/file_table.h"
#include "capture/fds.h"
#include "capture/memory.h"
#include "capture/process.h"
#include "capture/signals.h"
#include "capture/threads.h"
#include "capture/timers.h"
#include "api/exclusions.h"
#include "common/raw_syscall.h"
#include "common/restore_info.h"
#include "config.h"
#include "control.h"
#include "helper_threads.h"
#include "image/image_writer.h"
#include "image/manifest.h"
#include "image_file.h"
#include "lineage.h"
#include "tracking/dirty_tracker.h"
#include "interpose/real.h"
#include "interpose/thread_signals.h"
#include "thread_registry.h"
#include "log.h"
#include "quiesce.h"
#include "coordinator.h"
#include "runtime.h"

extern "C" long ckpt_save_context(ckpt::ResumeContext* ctx) __attribute__((returns_twice));
extern "C" void ckpt_call_on_stack(void* stack_top, void (*fn)(void*), void* arg);

namespace ckpt {

namespace {

// State of the checkpoint in progress. Pointers into the arena are only
// valid until the checkpoint ends (and never after a restore).
struct Session {
  std::atomic<int> busy{0};
  uint32_t token = 0;
  uint64_t seq = 0;
  uint64_t image_counter = 0;  // numbers images across this process's lineage
  const ucontext_t* uc = nullptr;
  uint64_t t_signal = 0, t_thaw = 0;
  bool ok = false;
  long app_dumpable = 1;  // PR_GET_DUMPABLE before the checkpoint made it 1
  FreezeResult frozen{};
  ProcessState* state = nullptr;
  MemoryCapture* memory = nullptr;
  FdCapture* fds = nullptr;
  Msg err;
  char image_path[1024] = {};
  uint64_t image_bytes = 0;
  int32_t writer_pid = 0;       // forked writer still running (or not yet reaped)
  uint64_t writer_seq = 0;      // the checkpoint it writes
  ckpt_file_header header{};    // made while frozen (the parent needs the image id)
  ImageRef parent;              // incremental: the image this one builds on
  uint64_t image_hash = 0;
  uint64_t t_capture = 0, t_pages = 0, t_sync = 0;  // phase durations, for the verbose report
};
Session g_session;
// How this process got its identity: reported in every image it writes.
const char* g_identity = "launched";
// A tracker has recorded every write since the last freeze.
bool g_tracking_armed = false;
// The application's exclusions (ckpt_exclude) at the last capture: the
// pages the newest image does not hold. Kept in libckpt's memory, which a
// restored process gets back with the image it came from.
ExcludedRange g_last_excluded[kMaxExcludedRanges];
size_t g_nlast_excluded = 0;

uint64_t now_ns(clockid_t clock = CLOCK_MONOTONIC) {
  struct timespec t;
  ckpt_syscall2(CKPT_NR_clock_gettime, clock, long(&t));
  return uint64_t(t.tv_sec) * 1000000000ull + uint64_t(t.tv_nsec);
}

void copy_str(char* dst, size_t cap, const char* src) {
  size_t n = strnlen(src, cap - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

// --- phase 1: capture -------------------------------------------------------

// libckpt's own memory that images leave out (the arena is added by
// capture_regions itself).
std::vector<AddressRange> libckpt_scratch() {
  std::vector<AddressRange> r = {
      {uint64_t(private_stack_start()), uint64_t(private_stack_end())},
      {uint64_t(control::mapping_start()), uint64_t(control::mapping_end())},
  };
  if (const DirtyTracker* t = active_tracker()) {
    AddressRange own{0, 0};
    t->own_memory(own.start, own.end);
    if (own.end > own.start) r.push_back(own);
  }
  return r;
}

bool track_pages(ProcessState& st, MemoryCapture& mc, Msg& err);
void record_threads(ProcessState& st);
void fill_header(ckpt_file_header& h);

void capture_phase(void*) {
  Session& s = g_session;
  uint64_t t0 = now_ns();
  s.ok = false;
  if (!freeze_other_threads(s.frozen, s.err)) return;
  ThreadCapture& me = s.frozen.slots[0];
  static char status_scratch[4096];  // one coordinator at a time
  capture_thread(me, s.uc, status_scratch, sizeof status_scratch);
  me.coordinator = true;

  s.state = new ProcessState;
  s.memory = new MemoryCapture;
  s.fds = new FdCapture;
  ProcessState& st = *s.state;
  FileTable files(st.files);
  std::vector<AddressRange> exclude = libckpt_scratch();
  bool ok = capture_process_basics(st, s.err);
  st.dumpable = s.app_dumpable == 1;
  std::vector<int32_t> tids;  // (arena memory)
  for (uint32_t i = 0; i < s.frozen.count; i++)
    if (s.frozen.slots[i].tid) tids.push_back(s.frozen.slots[i].tid);
  for (size_t i = 0; ok && i < tids.size(); i++) ok = capture_children(st, tids[i], tids.data(), tids.size(), s.err);
  if (ok) capture_signal_actions(st);
  ok = ok && capture_timers(st, s.err);
  ok = ok && check_sysv_ipc(st.pid, s.err);
  ok = ok && capture_fds(st, files, *s.fds, is_own_fd, g_config.ignore_unsupported, s.err);
  if (ok) {
    unsigned char shared[64][128];
    size_t n = capture_pending_signals(true, shared, 64);
    for (size_t i = 0; i < n; i++) st.pending_signals.push_back({0, to_hex(shared[i], 128)});
  }
  ok = ok && capture_regions(st, files, *s.memory, exclude, g_config.ignore_unsupported, s.err);
  if (ok) {
    link_executable(st, files);
    LibckptInfo& l = st.libckpt;
    l.library_path = g_config.library_path;
    l.control_fd = uint64_t(control::fd());
    l.ckpt_signal = g_config.ckpt_signal;
    l.thaw_signal = g_config.thaw_signal;
    l.freeze_signal = g_config.freeze_signal;
    l.images_dir = g_config.images_dir;
    l.sequence = ++s.image_counter;  // here, not in the writer: a forked writer's copy is lost
    st.identity = g_identity;
    record_threads(st);
    ok = track_pages(st, *s.memory, s.err);
  }
  if (!ok) {
    thaw_threads();
    return;
  }
  fill_header(s.header);
  s.t_capture = now_ns() - t0;
  s.ok = true;
}

// --- phase 3: write ---------------------------------------------------------

void fill_header(ckpt_file_header& h) {
  memset(&h, 0, sizeof h);
  ckpt_syscall3(CKPT_NR_getrandom, long(h.image_id), sizeof h.image_id, 0);
  h.created_realtime_ns = now_ns(CLOCK_REALTIME);
  copy_str(h.uts_sysname, sizeof h.uts_sysname, g_config.uts_sysname);
  copy_str(h.uts_release, sizeof h.uts_release, g_config.uts_release);
  copy_str(h.uts_version, sizeof h.uts_version, g_config.uts_version);
  copy_str(h.uts_machine, sizeof h.uts_machine, g_config.uts_machine);
  memcpy(h.build_id, g_config.build_id, sizeof h.build_id);
  h.build_id_len = g_config.build_id_len;
  h.cpu = g_config.cpu;
  const ImageRef& p = g_session.parent;
  if (p.valid) {
    h.flags |= CKPT_HDR_INCREMENTAL;
    memcpy(h.parent.image_id, p.id, sizeof p.id);
    h.parent.content_hash = p.content_hash;
    const char* base = strrchr(p.path, '/');
    copy_str(h.parent.file_name, sizeof h.parent.file_name, base ? base + 1 : p.path);
  }
}

// Decides full or incremental, classifies pages against the tracker and
// re-arms it for the next interval (frozen).
bool track_pages(ProcessState& st, MemoryCapture& mc, Msg& err) {
  Session& s = g_session;
  DirtyTracker* tracker = active_tracker();
  const ImageRef* parent = lineage::choose_parent(tracker && g_tracking_armed);
  s.parent = parent ? *parent : ImageRef{};
  // The application's exclusions now (the image leaves them out), and the
  // pages it included again since the parent, which the parent lacks.
  ExcludedRange now[kMaxExcludedRanges];
  size_t nnow = excluded_ranges(now, kMaxExcludedRanges);
  st.excluded.clear();
  for (size_t i = 0; i < nnow; i++) st.excluded.emplace_back(now[i].start, now[i].end);
  std::vector<AddressRange> not_in_parent;
  for (size_t i = 0; i < g_nlast_excluded; i++) {
    uint64_t pos = g_last_excluded[i].start, end = g_last_excluded[i].end;
    for (size_t k = 0; k < nnow && pos < end; k++) {
      if (now[k].end <= pos || now[k].start >= end) continue;
      if (now[k].start > pos) not_in_parent.push_back({pos, now[k].start});
      pos = now[k].end;
    }
    if (pos < end) not_in_parent.push_back({pos, end});
  }
  if (parent && !classify_regions(st, mc, *tracker, not_in_parent, err)) return false;
  memcpy(g_last_excluded, now, nnow * sizeof *now);  // the next image's parent is this one
  g_nlast_excluded = nnow;
  LibckptInfo& l = st.libckpt;
  l.vouched_pages = l.unchanged_pages = l.armed_pages = 0;
  for (size_t i = 0; i < st.regions.size(); i++)
    if (mc.classified[i])
      for (const PageSpan& sp : mc.spans[i]) {
        l.vouched_pages += (sp.end - sp.start) / 4096;
        if (!sp.changed) l.unchanged_pages += (sp.end - sp.start) / 4096;
      }
  if (tracker) {
    Msg why;
    g_tracking_armed = tracker->rearm(st, why);
    if (!g_tracking_armed) log_warning(Msg() << "dirty-page tracking stopped (" << why.c_str() << "); the next checkpoint is full");
    else l.armed_pages = tracker->armed_pages();
  }
  st.libckpt.tracking = tracker ? tracker->name() : "none";
  st.libckpt.parent_path = s.parent.valid ? s.parent.path : "";
  return true;
}

// Named after the program libckpt was loaded into (a restored process's
// /proc/self/exe may be ckpt-run for an unprivileged restore).
std::string image_base_name(const ProcessState& st) {
  std::string base = g_config.program[0] ? g_config.program : st.exe.substr(st.exe.rfind('/') + 1);
  size_t d = base.find(" (deleted)");
  if (d != std::string::npos) base.resize(d);
  for (char& c : base)
    if (c == '/' || c == ' ' || c < 32) c = '_';
  return base.empty() ? "process" : base;
}

// The frozen threads' state, as the image records it. Recorded twice: for the
// tracker while capturing, and again for the image once the coordinator has
// saved where it resumes.
void record_threads(ProcessState& st) {
  Session& s = g_session;
  st.threads.clear();
  st.leader_exited = true;  // until the main thread is found among the frozen ones
  for (uint32_t i = 0; i < s.frozen.count; i++) {
    if (!s.frozen.slots[i].tid) continue;
    const ThreadCapture& slot = s.frozen.slots[i];
    ThreadState t = thread_state_from(slot);
    if (t.tid == st.pid) {
      st.leader_exited = false;
      t.origin = "main";
    } else if (const RegisteredThread* r = registry_find(t.tid)) {
      t.origin = "pthread";
      t.pthread = r->pthread;
      t.stack_lo = r->stack_lo;
      t.stack_hi = r->stack_hi;
    } else {
      t.origin = "unregistered";  // made inside glibc, before libckpt loaded, or by a raw clone
    }
    st.threads.push_back(std::move(t));
  }
}

void write_phase(void*) {
  Session& s = g_session;
  ProcessState& st = *s.state;
  record_threads(st);
  for (uint32_t i = 0; i < s.frozen.count; i++) {
    const ThreadCapture& slot = s.frozen.slots[i];
    if (!slot.tid) continue;
    for (uint32_t k = 0; k < slot.npending; k++) st.pending_signals.push_back({slot.tid, to_hex(slot.pending[k], 128)});
  }
  std::string manifest = manifest_to_json(st);

  ImageFile file;
  s.ok = false;
  if (!file.create(g_config.images_dir, s.err)) return;
  {
    FdSink sink(file.fd(), 4u << 20);
    HelperThreads helpers;
    ImageWriter writer(sink, g_config.zstd_level, arena::zstd_allocator(), &helpers, HelperThreads::recommended());
    uint64_t t0 = now_ns();
    bool ok = writer.begin(s.header, manifest) && write_pages(st, *s.memory, writer, s.err) &&
              write_blobs(st, *s.fds, writer, s.err) && writer.finish();
    s.t_pages = now_ns() - t0;
    if (!ok) {
      if (s.err.size() == 0) s.err << "cannot write the image: " << writer.error_text();
      if (writer.error()) s.err << ": " << errno_name(writer.error());
      return;  // ~ImageFile removes the partial file
    }
    s.image_bytes = writer.stats().bytes;
    s.image_hash = writer.stats().file_hash;
  }
  std::string path;
  uint64_t seq = st.libckpt.sequence;
  uint64_t t0 = now_ns();
  if (!file.commit(image_base_name(st), st.pid, seq, path, s.err)) return;
  s.t_sync = now_ns() - t0;
  s.image_counter = seq;
  copy_str(s.image_path, sizeof s.image_path, path.c_str());
  s.ok = true;
  if (g_config.keep) {
    Msg note;
    lineage::apply_retention(g_config.images_dir, s.image_path, g_config.keep, note);
    if (note.size()) log_info(note);
  }
}

ImageRef written_image() {
  Session& s = g_session;
  ImageRef r;
  r.valid = true;
  memcpy(r.id, s.header.image_id, sizeof r.id);
  r.content_hash = s.image_hash;
  copy_str(r.path, sizeof r.path, s.image_path);
  return r;
}

// Reports the result (in the process that wrote the image).
void report_result() {
  Session& s = g_session;
  uint64_t end = now_ns();
  uint64_t freeze = s.t_thaw > s.t_signal ? s.t_thaw - s.t_signal : 0;
  control::finish_checkpoint(s.seq, s.token, s.ok, s.ok ? s.image_path : "", s.ok ? "" : s.err.c_str(),
                             s.image_bytes, freeze, end - s.t_signal, s.header.image_id, s.image_hash,
                             s.parent.valid);
  if (!freeze) freeze = control::recorded_freeze_time(s.seq);
  if (s.ok) {
    Msg m;
    m << (s.parent.valid ? "incremental " : "") << "checkpoint written to " << s.image_path << " ("
      << s.image_bytes << " bytes; frozen "
      << freeze / 1000000 << " ms, of which capture " << s.t_capture / 1000000 << " ms; pages "
      << s.t_pages / 1000000 << " ms; fsync+rename " << s.t_sync / 1000000 << " ms)";
    log_info(m);
  } else {
    log_error(Msg() << "checkpoint failed: " << s.err.c_str());
  }
}

// Drops everything the checkpoint allocated (in the application process).
void end_session() {
  Session& s = g_session;
  s.state = nullptr;
  s.memory = nullptr;
  s.fds = nullptr;
  s.frozen = {};
  arena::reset();
}

// Reaps the previous writer and records how it went (the next incremental
// image may only build on an image that was written).
bool wait_for_writer() {
  Session& s = g_session;
  if (!s.writer_pid) return true;
  int status = 0;
  while (ckpt_syscall4(CKPT_NR_wait4, s.writer_pid, long(&status), __WCLONE, 0) == -EINTR) {}
  s.writer_pid = 0;
  ckpt_control_result r;
  bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && control::read_result(s.writer_seq, r) &&
            r.status == CKPT_RESULT_OK;
  if (ok) {
    ImageRef img;
    img.valid = true;
    memcpy(img.id, r.image_id, sizeof img.id);
    img.content_hash = r.content_hash;
    copy_str(img.path, sizeof img.path, r.path);
    lineage::written(img);
  } else {
    lineage::failed();
  }
  return ok;
}

// The snapshot process: write, report, exit. Never returns.
[[noreturn]] void writer_main() {
  Session& s = g_session;
  ckpt_call_on_stack(private_stack_top(), write_phase, nullptr);
  // The application records how long it was frozen right after thawing;
  // give it a moment so the report carries it.
  for (int i = 0; i < 1000 && !control::recorded_freeze_time(s.seq); i++) {
    struct timespec ts = {0, 100000};
    ckpt_syscall2(CKPT_NR_nanosleep, long(&ts), 0);
  }
  report_result();
  ckpt_syscall1(CKPT_NR_exit_group, s.ok ? 0 : 1);
  __builtin_unreachable();
}

// Forks the writer; returns false (nothing forked) if it cannot.
bool fork_writer() {
  Session& s = g_session;
  Msg why;
  if (!stage_for_fork(*s.state, *s.memory, g_config.staging_limit, why)) {
    log_info(Msg() << "writing the image before thawing: " << why.c_str());
    return false;
  }
  long app_pid = ckpt_syscall0(CKPT_NR_getpid);
  long pid = ckpt_syscall5(CKPT_NR_clone, 0 /* no exit signal, no sharing */, 0, 0, 0, 0);
  if (pid == 0) {
    log_as_pid(app_pid);
    writer_main();
  }
  unmap_staging(*s.state, *s.memory);
  if (pid < 0) {
    log_info(Msg() << "cannot fork the image writer (" << errno_name(int(-pid)) << "); writing before thawing");
    return false;
  }
  s.writer_pid = int32_t(pid);
  s.writer_seq = s.seq;
  return true;
}

// --- after a restore ------------------------------------------------------

void arm_tracking_after_restore(void*) {
  {  // everything allocated here is gone before the arena is reset
    ProcessState st;
    MemoryCapture mc;
    FileTable files(st.files);
    Msg err;
    // (only tracking: nothing is refused here)
    if (capture_regions(st, files, mc, libckpt_scratch(), true, err) && active_tracker()->rearm(st, err))
      g_tracking_armed = true;
    else log_warning(Msg() << "cannot track pages after restore (" << err.c_str() << "); the next checkpoint is full");
  }
  arena::reset();
}

// SIGTHAW carries, as si_value.sival_int, how many connected sockets were
// restored closed (the application may want to reconnect them).
uint32_t g_closed_connections = 0;

// sigqueue() to this process, async-signal-safe.
void queue_to_self(int sig, int value) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  si.si_signo = sig;
  si.si_code = SI_QUEUE;
  si.si_pid = int32_t(ckpt_syscall0(CKPT_NR_getpid));
  si.si_uid = uint32_t(ckpt_syscall0(CKPT_NR_getuid));
  si.si_value.sival_int = value;
  ckpt_syscall3(CKPT_NR_rt_sigqueueinfo, si.si_pid, sig, long(&si));
}

void send_thaw_signal() { queue_to_self(g_config.thaw_signal, int(g_closed_connections)); }

void post_restore(const ckpt_restore_info* info) {
  __atomic_add_fetch(&g_restore_count, 1, __ATOMIC_ACQ_REL);
  // Nothing libckpt allocated for the checkpoint exists here: forget it all.
  arena::abandon();
  abandon_private_stack();
  control::abandon();
  Session& s = g_session;
  s.state = nullptr;
  s.memory = nullptr;
  s.fds = nullptr;
  s.frozen = {};
  s.writer_pid = 0;  // the writer belonged to the process that was checkpointed
  forget_pending_requests();
  bool valid = info && info->magic == CKPT_RESTORE_INFO_MAGIC;
  if (valid && info->images_dir[0]) copy_str(g_config.images_dir, sizeof g_config.images_dir, info->images_dir);
  if (valid) {
    // The restored image is the parent of this process's next image.
    ImageRef from;
    from.valid = true;
    memcpy(from.id, info->image_id, sizeof from.id);
    from.content_hash = info->image_hash;
    copy_str(from.path, sizeof from.path, info->image_path);
    lineage::restored_from(from);
  }
  g_closed_connections = valid ? info->closed_connections : 0;
  if (valid) {
    g_verbose = g_verbose || info->verbose;
    g_identity = info->identity == CKPT_IDENTITY_NEW_PID ? "new-pid"
                 : info->identity == CKPT_IDENTITY_NAMESPACE ? "namespace" : "same-pid";
    if (info->identity == CKPT_IDENTITY_NEW_PID) {
      auto map = reinterpret_cast<const ckpt_tid_map*>(info->tid_map);
      for (uint32_t i = 0; i < info->nthreads; i++) registry_rename(map[i].old_tid, map[i].new_tid);
    }
  }
  int old_control_fd = int(control::fd());
  allocate_private_stack();
  if (!control::create(old_control_fd)) log_warning(Msg() << "cannot re-create the control block after restore");
  uint32_t others = frozen_thread_count() - 1;
  wait_restored_threads(others);
  if (valid && info->leader_exit_word) {
    // The leader (main thread exited before the checkpoint) is leaving the
    // restorer's code: wait until it is out before unmapping that code.
    auto word = reinterpret_cast<uint32_t*>(info->leader_exit_word);
    for (uint32_t v; (v = __atomic_load_n(word, __ATOMIC_ACQUIRE)) != 0;)
      ckpt_syscall4(CKPT_NR_futex, long(word), FUTEX_WAIT, v, 0);
  }
  if (valid) ckpt_syscall2(CKPT_NR_munmap, long(info->hole_start), long(info->hole_len));
  // Track writes from here on, so the next image can be incremental.
  g_tracking_armed = false;
  if (DirtyTracker* tracker = active_tracker()) {
    tracker->abandon();
    ckpt_call_on_stack(private_stack_top(), arm_tracking_after_restore, nullptr);
  }
  control::set_ready();
}

bool app_handles(int sig) {
  struct sigaction sa;
  if (real::sigaction(sig, nullptr, &sa) != 0) return false;
  return sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN;
}

}  // namespace

uint64_t g_restore_count = 0;

void forget_tracking() { g_tracking_armed = false; }

Outcome coordinate(uint32_t token, const ucontext_t* uc) {
  Session& s = g_session;
  s.t_signal = now_ns();
  s.token = token;
  s.seq = control::begin_checkpoint();
  s.uc = uc;
  s.err.clear();
  s.image_bytes = 0;
  s.image_path[0] = '\0';

  wait_for_writer();
  // ckpt-run finds the control block through its descriptor: if the
  // application closed it with a raw close_range(), make a new one.
  control::ensure_fd();
  // A process that dropped privileges is not dumpable: its own /proc/self
  // auxv, environ and pagemap are then closed to it. Dumpable for the
  // checkpoint (and its writer), as it was afterwards.
  struct DumpableForCheckpoint {
    long was;
    DumpableForCheckpoint() : was(ckpt_syscall2(CKPT_NR_prctl, PR_GET_DUMPABLE, 0)) {
      if (was != 1) ckpt_syscall2(CKPT_NR_prctl, PR_SET_DUMPABLE, 1);
    }
    ~DumpableForCheckpoint() {
      if (was != 1 && was >= 0) ckpt_syscall2(CKPT_NR_prctl, PR_SET_DUMPABLE, was);
    }
  } dumpable;
  s.app_dumpable = dumpable.was;
  ckpt_call_on_stack(private_stack_top(), capture_phase, nullptr);
  if (!s.ok) {
    s.t_thaw = now_ns();
    report_result();
    end_session();
    return Outcome::Failed;
  }
  long restored = ckpt_save_context(&s.frozen.slots[0].resume);
  if (restored) {
    // A restored process: only globals are valid from here on.
    post_restore(reinterpret_cast<const ckpt_restore_info*>(restored));
    thaw_threads();
    if (app_handles(g_config.thaw_signal)) send_thaw_signal();
    return Outcome::Restored;
  }
  if (g_config.forked_writer && fork_writer()) {
    thaw_threads();
    s.t_thaw = now_ns();
    control::record_freeze_time(s.seq, s.t_thaw - s.t_signal);
    end_session();
    // Exit once the image is durable; if writing failed, carry on.
    if (g_config.exit_after_checkpoint && wait_for_writer()) ckpt_syscall1(CKPT_NR_exit_group, 0);
    return Outcome::Written;  // (being written: the result arrives in the control block)
  }
  ckpt_call_on_stack(private_stack_top(), write_phase, nullptr);
  if (s.ok && g_config.exit_after_checkpoint) {
    s.t_thaw = now_ns();
    report_result();
    ckpt_syscall1(CKPT_NR_exit_group, 0);
  }
  thaw_threads();
  s.t_thaw = now_ns();
  report_result();
  bool ok = s.ok;
  if (ok) lineage::written(written_image());
  else lineage::failed();
  end_session();
  return ok ? Outcome::Written : Outcome::Failed;
}

// --- who checkpoints ------------------------------------------------------
//
// One checkpoint (or range save) at a time: `busy` is the exclusive right.
// A request that arrives while it is held is queued here, never re-sent at
// once (a re-sent signal comes straight back to the same thread: with the
// holder interrupted by it, or in a single-threaded process, that spins
// forever). Whoever releases the right sends the queued requests again,
// each to get its own image. A request queued just as the holder released
// is picked up by its own producer, which then finds the right free.

namespace {

constexpr uint32_t kPending = 256;
struct PendingRequests {
  uint32_t tokens[kPending];
  uint32_t slot_seq[kPending];  // reservation number + 1 once the token is written
  uint32_t reserved;            // producers (signal handlers) reserve slots
  uint32_t head;                // consumed up to here (by the holder of `busy` only)
};
PendingRequests g_pending;

void push_pending(uint32_t token) {
  uint32_t t = __atomic_load_n(&g_pending.reserved, __ATOMIC_SEQ_CST);
  do {
    if (t - __atomic_load_n(&g_pending.head, __ATOMIC_SEQ_CST) >= kPending) return;  // full: dropped
  } while (!__atomic_compare_exchange_n(&g_pending.reserved, &t, t + 1, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
  g_pending.tokens[t % kPending] = token;
  __atomic_store_n(&g_pending.slot_seq[t % kPending], t + 1, __ATOMIC_SEQ_CST);
}

bool pending_empty() {
  return __atomic_load_n(&g_pending.head, __ATOMIC_SEQ_CST) == __atomic_load_n(&g_pending.reserved, __ATOMIC_SEQ_CST);
}

// Sends the request again as SIGCKPT to the process (async-signal-safe).
void resend(uint32_t token) { queue_to_self(g_config.ckpt_signal, int(token)); }

}  // namespace

bool begin_exclusive() { return !g_session.busy.exchange(1, std::memory_order_seq_cst); }

void end_exclusive() {
  for (;;) {
    // Take what is queued while still holding the right (one consumer).
    uint32_t tokens[kPending];
    uint32_t n = 0;
    for (;;) {
      uint32_t h = __atomic_load_n(&g_pending.head, __ATOMIC_SEQ_CST);
      if (__atomic_load_n(&g_pending.slot_seq[h % kPending], __ATOMIC_SEQ_CST) != h + 1) break;
      tokens[n++] = g_pending.tokens[h % kPending];
      __atomic_store_n(&g_pending.head, h + 1, __ATOMIC_SEQ_CST);
    }
    g_session.busy.store(0, std::memory_order_seq_cst);
    for (uint32_t i = 0; i < n; i++) resend(tokens[i]);
    // A request queued meanwhile: serve it unless someone else holds the right now.
    if (pending_empty() || !begin_exclusive()) return;
  }
}

void forget_pending_requests() {
  // The requests were made to the process that was checkpointed (restore),
  // or to the parent (fork child).
  memset(&g_pending, 0, sizeof g_pending);
}

void exclusive_after_fork() {
  // The fork may have happened while another thread held the right: the
  // child has no such thread, nothing would ever release it.
  forget_pending_requests();
  g_session.busy.store(0, std::memory_order_seq_cst);
  g_session.writer_pid = 0;  // the parent's writer is not our child
  g_session.state = nullptr;
  g_session.memory = nullptr;
  g_session.fds = nullptr;
  g_session.frozen = {};
}

void on_checkpoint_signal(int, siginfo_t* info, void* ucv) {
  count_our_signal();
  int saved_errno = errno;
  uint32_t token = info && info->si_code == SI_QUEUE ? uint32_t(info->si_value.sival_int) : 0;
  // With libckpt's coordinator thread running (the application uses the
  // API), checkpoints happen there, in normal thread context.
  if (coordinator::post(token)) {
    errno = saved_errno;
    return;
  }
  if (!begin_exclusive()) {
    // Another thread is checkpointing, or this very thread is inside
    // ckpt_save_range: queued, and sent again when the right is released.
    push_pending(token);
    // The holder may have released it just before the push: then this
    // thread is the one to send the request again (after returning).
    if (begin_exclusive()) end_exclusive();
    errno = saved_errno;
    return;
  }
  coordinate(token, static_cast<const ucontext_t*>(ucv));
  end_exclusive();
  errno = saved_errno;
}

void install_checkpoint_handler() {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_checkpoint_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  real::sigaction(g_config.ckpt_signal, &sa, nullptr);
}

}  // namespace ckpt
