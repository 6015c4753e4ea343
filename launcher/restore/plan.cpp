// Builds the restorer's plan in a hole free in both the launcher's and the
// image's address space, copies the restorer there and jumps to it.
#include "plan.h"

#include <asm/prctl.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <algorithm>

#include "common/raw_syscall.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

extern "C" const unsigned char ckpt_restorer_blob[];
extern "C" const unsigned char ckpt_restorer_blob_end[];

extern "C" {
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));
}

namespace ckpt {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kThreadStack = 16384;
constexpr uint64_t kMainStack = 65536;

uint64_t round_up(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

// Bump allocation of the plan's arrays inside the hole.
struct HoleAllocator {
  uint64_t next, end;
  template <class T>
  T* alloc(size_t n) {
    next = (next + 63) & ~uint64_t(63);
    uint64_t p = next;
    next += sizeof(T) * (n ? n : 1);
    if (next > end) throw RestoreError("restore plan does not fit its hole");
    return reinterpret_cast<T*>(p);
  }
};

// Room for the text of /proc/self/maps once every region is in place: the
// image's regions and the launcher's own (a line is ~75 bytes plus a path).
size_t maps_text_cap(const ProcessState& st) { return (1 << 20) + (st.regions.size() + 256) * 256; }

// Reads /proc/self/maps without allocating (the list must describe the
// address space exactly as it is when the restorer runs).
size_t read_maps_raw(char* buf, size_t cap) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, buf + len, cap - len - 1);
    if (n <= 0) break;
    len += size_t(n);
    if (len + 1 >= cap) break;
  }
  close(fd);
  buf[len] = 0;
  return len;
}

int highest_open_fd() {
  int high = 2;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) high = std::max(high, atoi(e->d_name));
    closedir(d);
  }
  return high;
}

void launcher_rseq(ckpt_plan& p) {
  if (!&__rseq_size || !&__rseq_offset || __rseq_size == 0) return;
  uint64_t tp;
  syscall(SYS_arch_prctl, ARCH_GET_FS, &tp);
  uint64_t area = tp + uint64_t(__rseq_offset);
  for (uint32_t len : {32u, (__rseq_size + 31u) & ~31u}) {
    long r = ckpt_syscall4(CKPT_NR_rseq, long(area), len, 0, 0x53053053);
    if (r == -EBUSY) {
      p.launcher_rseq_area = area;
      p.launcher_rseq_len = len;
      p.launcher_rseq_sig = 0x53053053;
      return;
    }
    if (r == 0) {
      ckpt_syscall4(CKPT_NR_rseq, long(area), len, 1, 0x53053053);
      return;
    }
  }
}

bool privileged_for_exe() {
  // CAP_SYS_ADMIN (21) or CAP_CHECKPOINT_RESTORE (40) in the effective set.
  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  const char* p = strstr(buf, "CapEff:");
  if (!p) return false;
  unsigned long long caps = strtoull(p + 7, nullptr, 16);
  return (caps >> 21 & 1) || (caps >> 40 & 1);
}

}  // namespace

void enter_restorer(const RestoreContext& c) {
  const ProcessState& st = c.chain->newest().state();
  uint64_t blob_len = uint64_t(ckpt_restorer_blob_end - ckpt_restorer_blob);
  size_t nthreads = st.threads.size();
  uint64_t data_len = round_up(sizeof(ckpt_plan) + 64 * 16 + sizeof(ckpt_plan_range) * 8192 +
                               sizeof(ckpt_plan_move) * (st.regions.size() + 1) +
                               sizeof(ckpt_plan_fd) * (c.fds->dups.size() + 1) + sizeof(int32_t) * (c.fds->keep.size() + 3) +
                               sizeof(ckpt_plan_sigaction) * 65 + sizeof(ckpt_plan_thread) * nthreads +
                               sizeof(ckpt_tid_map) * nthreads + sizeof(ckpt_plan_timer) * (st.timers.size() + 1) + 256 +
                               sizeof(ckpt_plan_epoll) * (c.fds->epoll.size() + 1) +
                               sizeof(ckpt_plan_lock) * (c.fds->locks.size() + 1) +
                               sizeof(ckpt_plan_signal) * (st.pending_signals.size() + 1) + sizeof(uint32_t) * (st.creds.groups.size() + 1) +
                               st.mm.auxv.size() * 8 + maps_text_cap(st) + 4096);
  uint64_t code_len = round_up(blob_len);
  uint64_t hole_len = code_len + data_len + kThreadStack * nthreads + kMainStack;

  uint64_t hole = 0;
  for (int attempt = 0; attempt < 8 && !hole; attempt++) {
    uint64_t at = c.space->take(hole_len);
    void* p = mmap(reinterpret_cast<void*>(at), hole_len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == reinterpret_cast<void*>(at)) hole = at;
    else if (p != MAP_FAILED) munmap(p, hole_len);
  }
  if (!hole) throw RestoreError("cannot map the restorer's memory: " + std::string(strerror(errno)));
  memcpy(reinterpret_cast<void*>(hole), ckpt_restorer_blob, blob_len);

  HoleAllocator a{hole + code_len, hole + code_len + data_len};
  ckpt_plan& p = *a.alloc<ckpt_plan>(1);
  memset(&p, 0, sizeof p);
  p.magic = CKPT_PLAN_MAGIC;
  p.hole_start = hole;
  p.hole_len = hole_len;
  launcher_rseq(p);

  // Regions prepared elsewhere.
  std::vector<ckpt_plan_move> moves = c.memory->moves();
  auto* mv = a.alloc<ckpt_plan_move>(moves.size());
  memcpy(mv, moves.data(), moves.size() * sizeof *mv);
  p.moves = uint64_t(mv);
  p.nmoves = uint32_t(moves.size());

  // vdso/vvar: move the launcher's parts to where the image had them.
  std::vector<Mapping> own = read_own_mappings();
  std::vector<std::pair<uint64_t, uint64_t>> keep_ranges = c.memory->owned();
  keep_ranges.push_back({hole, hole + hole_len});
  for (const Mapping& m : own) {
    bool part = m.name == "[vvar]" || m.name == "[vvar_vclock]" || m.name == "[vdso]";
    if (m.name == "[vsyscall]") keep_ranges.push_back({m.start, m.end});
    if (!part) continue;
    keep_ranges.push_back({m.start, m.end});
    if (p.nvdso_parts < 3) p.vdso_parts[p.nvdso_parts++] = {m.start, m.end - m.start};
  }
  if (st.vdso.vdso_start && p.nvdso_parts) {
    p.vdso_target = st.vdso.vvar_start ? st.vdso.vvar_start : st.vdso.vdso_start;
    uint64_t cur = p.vdso_parts[0].start;
    uint64_t len = p.vdso_parts[p.nvdso_parts - 1].start + p.vdso_parts[p.nvdso_parts - 1].len - cur;
    if (p.vdso_target < cur + len && cur < p.vdso_target + len) p.vdso_detour = c.space->take(len);
  }

  // mm fields, auxv and (when permitted) /proc/self/exe.
  const MmFields& m = st.mm;
  p.mm = {m.start_code, m.end_code, m.start_data, m.end_data, m.start_brk, m.brk, m.start_stack,
          m.arg_start, m.arg_end, m.env_start, m.env_end, 0, 0, 0xffffffffu};
  size_t auxv_words = std::min<size_t>(m.auxv.size(), 52);  // the kernel keeps AT_VECTOR_SIZE words
  auto* auxv = a.alloc<uint64_t>(auxv_words);
  memcpy(auxv, m.auxv.data(), auxv_words * 8);
  if (auxv_words >= 2 && auxv_words < m.auxv.size()) auxv[auxv_words - 2] = auxv[auxv_words - 1] = 0;
  p.mm.auxv = uint64_t(auxv);
  p.mm.auxv_size = uint32_t(auxv_words * 8);
  p.set_mm = m.start_code != 0;
  p.exe_fd = -1;
  if (privileged_for_exe() && !st.exe.empty() && st.exe.find(" (deleted)") == std::string::npos) {
    int fd = open(st.exe.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      p.exe_fd = move_above(fd, c.fds->temp_base);
      p.mm.exe_fd = uint32_t(p.exe_fd);
    }
  }
  p.personality = st.personality;

  // Signal dispositions.
  auto* sa = a.alloc<ckpt_plan_sigaction>(st.signals.size());
  for (size_t i = 0; i < st.signals.size(); i++) {
    const SignalAction& s = st.signals[i];
    sa[i] = {s.signo, 0, s.handler, s.flags, s.restorer, s.mask};
  }
  p.sigactions = uint64_t(sa);
  p.nsigactions = uint32_t(st.signals.size());

  // Credentials: only what differs from ours is changed (restore runs as the
  // image's user, or as root, who drops to it).
  const Credentials& cr = st.creds;
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  getresuid(&ru, &eu, &su);
  getresgid(&rg, &eg, &sg);
  p.creds = {cr.ruid, cr.euid, cr.suid, cr.rgid, cr.egid, cr.sgid, uint32_t(cr.groups.size()), 0, 0,
             cr.cap_effective, cr.cap_permitted, cr.cap_inheritable, 0, 0};
  auto* groups = a.alloc<uint32_t>(cr.groups.size());
  memcpy(groups, cr.groups.data(), cr.groups.size() * 4);
  p.creds.groups = uint64_t(groups);
  std::vector<gid_t> my_groups(size_t(std::max(0, getgroups(0, nullptr))));
  getgroups(int(my_groups.size()), my_groups.data());
  bool same_groups = my_groups.size() == cr.groups.size() && std::equal(my_groups.begin(), my_groups.end(), cr.groups.begin());
  p.creds.set_ids = !(ru == cr.ruid && eu == cr.euid && su == cr.suid && rg == cr.rgid && eg == cr.egid &&
                      sg == cr.sgid && same_groups);
  if (c.identity == CKPT_IDENTITY_NAMESPACE && geteuid() != 0) p.creds.set_ids = 0;  // setgroups is denied there
  p.creds.set_caps = 1;

  // Threads: each gets a small restorer stack in the hole.
  auto* threads = a.alloc<ckpt_plan_thread>(nthreads);
  uint64_t stacks = hole + code_len + data_len;
  for (size_t i = 0; i < nthreads; i++) {
    const ThreadState& t = st.threads[i];
    ckpt_plan_thread& pt = threads[i];
    memset(&pt, 0, sizeof pt);
    pt.tid = t.tid;
    pt.set_tid = c.identity != CKPT_IDENTITY_NEW_PID;
    pt.is_main = t.tid == st.pid;
    pt.fs_base = t.fs_base;
    pt.sigmask = t.handler_sigmask;
    pt.altstack_sp = t.altstack_sp;
    pt.altstack_size = t.altstack_size;
    pt.altstack_flags = t.altstack_flags;
    pt.robust_list = t.robust_list;
    pt.robust_list_len = t.robust_list_len;
    pt.clear_child_tid = t.clear_child_tid;
    pt.rseq_area = t.rseq_area;
    pt.rseq_len = t.rseq_len;
    pt.rseq_sig = t.rseq_sig;
    memcpy(pt.name, t.name.c_str(), std::min<size_t>(t.name.size(), 15));
    pt.affinity_words = uint32_t(std::min<size_t>(t.affinity.size(), 16));
    memcpy(pt.affinity, t.affinity.data(), pt.affinity_words * 8);
    const ResumeContext& r = t.resume;
    pt.resume = {r.rbx, r.rbp, r.r12, r.r13, r.r14, r.r15, r.rsp, r.rip, r.mxcsr, r.fpu_cw};
    pt.stack_top = stacks + kThreadStack * (i + 1);
  }
  p.threads = uint64_t(threads);
  p.nthreads = uint32_t(nthreads);
  p.leader_exited = st.leader_exited;

  // Timers (sorted by id: without PR_TIMER_CREATE_RESTORE_IDS they come in order).
  std::vector<PosixTimer> timers = st.timers;
  std::sort(timers.begin(), timers.end(), [](const PosixTimer& x, const PosixTimer& y) { return x.id < y.id; });
  auto* pt = a.alloc<ckpt_plan_timer>(timers.size());
  for (size_t i = 0; i < timers.size(); i++) {
    const PosixTimer& t = timers[i];
    bool absolute = t.absolute && t.deadline_ns > 0;  // at its original expiry, whatever the downtime
    pt[i] = {t.id, t.clock, t.signo, t.notify, t.target_tid, absolute ? 1 : 0, t.value,
             absolute ? t.deadline_ns : t.next_ns, t.interval_ns};
  }
  p.timers = uint64_t(pt);
  p.ntimers = uint32_t(timers.size());
  auto* it = a.alloc<ckpt_plan_itimer>(st.itimers.size());
  for (size_t i = 0; i < st.itimers.size(); i++)
    it[i] = {st.itimers[i].which, 0, st.itimers[i].next_us, st.itimers[i].interval_us};
  p.itimers = uint64_t(it);
  p.nitimers = uint32_t(st.itimers.size());

  // What libckpt learns when it resumes.
  ckpt_restore_info& info = p.info;
  info.magic = CKPT_RESTORE_INFO_MAGIC;
  info.identity = c.identity;
  info.nthreads = uint32_t(nthreads);
  info.hole_start = hole;
  info.hole_len = hole_len;
  info.old_pid = st.pid;
  info.new_pid = c.new_pid;
  auto* tids = a.alloc<ckpt_tid_map>(nthreads);
  info.tid_map = uint64_t(tids);
  strncpy(info.images_dir, c.images_dir.c_str(), sizeof info.images_dir - 1);
  strncpy(info.image_path, c.image_path.c_str(), sizeof info.image_path - 1);
  memcpy(info.image_id, c.chain->newest().header().image_id, sizeof info.image_id);
  info.image_hash = c.chain->newest().footer().file_hash;
  info.verbose = c.verbose;
  info.leader_exit_word = st.leader_exited ? uint64_t(&p.leader_alive) : 0;

  // File descriptors: the application's, the two pipes to ckpt-run, nothing else.
  p.ready_fd = c.ready_fd;
  p.error_fd = c.error_fd;
  auto* dups = a.alloc<ckpt_plan_fd>(c.fds->dups.size());
  memcpy(dups, c.fds->dups.data(), c.fds->dups.size() * sizeof *dups);
  p.fds = uint64_t(dups);
  p.nfds = uint32_t(c.fds->dups.size());
  auto* keep = a.alloc<int32_t>(c.fds->keep.size() + 2);
  memcpy(keep, c.fds->keep.data(), c.fds->keep.size() * 4);
  keep[c.fds->keep.size()] = c.ready_fd;
  keep[c.fds->keep.size() + 1] = c.error_fd;
  p.keep = uint64_t(keep);
  p.nkeep = uint32_t(c.fds->keep.size() + 2);

  auto* epoll = a.alloc<ckpt_plan_epoll>(c.fds->epoll.size());
  memcpy(epoll, c.fds->epoll.data(), c.fds->epoll.size() * sizeof *epoll);
  p.epoll = uint64_t(epoll);
  p.nepoll = uint32_t(c.fds->epoll.size());
  auto* locks = a.alloc<ckpt_plan_lock>(c.fds->locks.size());
  memcpy(locks, c.fds->locks.data(), c.fds->locks.size() * sizeof *locks);
  p.locks = uint64_t(locks);
  p.nlocks = uint32_t(c.fds->locks.size());
  auto* sigs = a.alloc<ckpt_plan_signal>(st.pending_signals.size());
  for (size_t i = 0; i < st.pending_signals.size(); i++) {
    const PendingSignal& ps = st.pending_signals[i];
    sigs[i].tid = ps.tid;
    for (size_t k = 0; k < 128; k++) sigs[i].info[k] = uint8_t(std::stoi(ps.siginfo.substr(2 * k, 2), nullptr, 16));
    memcpy(&sigs[i].signo, sigs[i].info, 4);  // siginfo_t starts with si_signo
  }
  p.signals = uint64_t(sigs);
  p.nsignals = uint32_t(st.pending_signals.size());
  p.set_no_new_privs = st.no_new_privs;
  p.dumpable = st.dumpable ? 1 : 0;
  p.set_nofile = c.set_nofile ? 1 : 0;
  p.nofile_cur = c.nofile_cur;
  p.nofile_max = c.nofile_max;
  info.closed_connections = c.fds->closed_connections;
  p.close_below = highest_open_fd() + 1;

  // Last: everything of the launcher's that is not kept gets unmapped. The
  // list is read without allocating, so it is exact.
  const RangeSet kept(std::move(keep_ranges));
  auto* unmaps = a.alloc<ckpt_plan_range>(8192);
  size_t text_cap = maps_text_cap(st);
  auto* text = a.alloc<char>(text_cap);
  size_t n = read_maps_raw(text, text_cap);
  if (n + 1 >= text_cap)
    throw RestoreError("/proc/self/maps of the restoring process is longer than " + std::to_string(text_cap) +
                       " bytes; cannot list the launcher's mappings");
  uint32_t nun = 0;
  for (char* line = text; line < text + n;) {
    char* eol = static_cast<char*>(memchr(line, '\n', size_t(text + n - line)));
    if (!eol) eol = text + n;
    unsigned long long s = strtoull(line, &line, 16), e = strtoull(line + 1, nullptr, 16);
    kept.subtract(s, e, [&](uint64_t us, uint64_t ue) {
      if (nun == 8192) throw RestoreError("too many launcher mappings to unmap");
      unmaps[nun++] = {us, ue - us};
    });
    line = eol + 1;
  }
  p.unmaps = uint64_t(unmaps);
  p.nunmaps = nun;

  if (mprotect(reinterpret_cast<void*>(hole), code_len, PROT_READ | PROT_EXEC) != 0)
    throw RestoreError(std::string("cannot make the restorer executable: ") + strerror(errno));

  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  reinterpret_cast<void (*)(ckpt_plan*)>(hole)(&p);
  __builtin_unreachable();
}

}  // namespace ckpt
