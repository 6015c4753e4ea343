// The mprotect backend, for kernels without asynchronous uffd-wp.
//
// After each checkpoint the private writable anonymous regions (except
// stacks, threads' TLS and control blocks, and what the kernel writes
// without faulting: rseq areas, robust lists, alternate signal stacks,
// libckpt's own memory) are write-protected in chunks (a page, or more in
// large processes, so that the mappings the kernel must split stay below
// vm.max_map_count); the first write to a chunk faults, libsigsegv hands
// the fault to libckpt, which marks the chunk dirty and gives the
// application its protection back. A chunk of several pages remembers
// each page's hash at its first write, so only pages that really changed
// are saved; a page that is zero is never taken from the parent (it may
// have been discarded by MADV_DONTNEED/MADV_FREE, which do not fault).
//
// What keeps the model true:
// - The application's mmap/munmap/mprotect/mremap/madvise/brk/sbrk and
//   realloc, and the same calls through syscall(2), are interposed
//   (interpose/memory_calls.cpp): the chunks they touch are forgotten
//   (saved in full next time), and protection is taken off memory before
//   it moves.
// - Each protected range is registered with a userfaultfd (no protection
//   through it): a mapping that is moved or replaced loses the
//   registration, so a protected chunk whose mapping lacks it, or whose
//   protection is not libckpt's, is forgotten at the capture.
// - Memory that moved carrying libckpt's protection (an mremap libckpt did
//   not see) is recognised by the fault handler and at the capture: private
//   anonymous, readable, not writable although the application never asked
//   for that (tracking/app_protection.h); it gets write access back.
// - A system call writing into a protected page would fail with EFAULT:
//   the destinations of every interposed function that writes user memory
//   are unprotected first (interpose/syscall_writes.cpp: one table for the
//   public wrappers and syscall(2)); stdio and directory-stream buffers and
//   the destinations of calls in flight stay writable.
// - Writes through /proc/PID/mem need no write permission and do not
//   fault: opening this process's memory file for writing forgets every
//   chunk, and while one is open at a checkpoint nothing is tracked
//   (tracking/mem_writers.h).
//
// Guaranteed: a page taken from the parent was not written since, by the
// process or by the kernel on its behalf, through any call above or any
// instruction. Not guaranteed (use the uffd backend where the kernel has
// it):
// - writes through /proc/PID/mem by another process, or by a debugger
//   attached with ptrace between two checkpoints (one attached at a
//   checkpoint makes it fail), are not seen;
// - system calls made with an inline `syscall` instruction (not through
//   glibc) are not seen: a write into a protected page fails with EFAULT,
//   an mremap of protected memory onto an address the model describes is
//   caught only where userfaultfd exists (the registration above), and
//   without it such a move can bring back a parent's page;
// - system calls glibc makes internally into heap buffers other than
//   stdio's and directory streams' (the resolver's, NSS's, getifaddrs')
//   can fail with EFAULT, and so can the kernel's writes into futex words
//   of PI or robust mutexes in protected memory.
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sigsegv.h>
#include <stdio.h>
#include <signal.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "app_protection.h"
#include "capture/memory.h"
#include "capture/page_scan.h"
#include "common/raw_syscall.h"
#include "common/uffd_defs.h"
#include "common/xxhash64.h"
#include "dirty_tracker.h"
#include "interpose/sigsegv_chain.h"
#include "mem_writers.h"
#include "mprotect_model.h"
#include "runtime/arena.h"
#include "runtime/config.h"
#include "runtime/own_fds.h"
#include "runtime/runtime.h"
#include "runtime/thread_registry.h"
#include "vma_query.h"

// glibc's list of open FILE streams (exported, used by fflush(NULL)).
extern "C" FILE* _IO_list_all __attribute__((weak));

namespace ckpt {

namespace {

// Protection granularity: a page where the tracked memory is small, coarser
// where it is large, so that the mappings the kernel must split stay far
// below vm.max_map_count (65530) whatever the write pattern.
constexpr uint64_t kMinChunk = 4096, kMaxChunk = 2 << 20;
constexpr uint64_t kChunkBudget = 16384;
constexpr size_t kMaxTracked = 8192;

struct Tracked {
  uint64_t start, end;   // chunk-aligned inside the region
  uint32_t app_prot;     // what the application set (always includes PROT_WRITE)
  uint16_t valid;        // 0: could not be protected or tagged after all; saved in full
  uint16_t tagged;       // registered with the tag userfaultfd (see below)
  uint8_t* dirty;        // one state byte per chunk
  uint64_t chunk;        // bytes per chunk
  uint64_t* hashes;      // chunks of several pages: each page's hash when its chunk was first written

  size_t index(uint64_t addr) const { return (addr - start) / chunk; }
  uint64_t chunk_start(size_t c) const { return start + c * chunk; }
  uint64_t chunk_end(size_t c) const { return std::min(start + (c + 1) * chunk, end); }
  size_t chunks() const { return (end - start + chunk - 1) / chunk; }
};

Tracked g_tracked[kMaxTracked];
size_t g_ntracked = 0;
// One scratch mapping (never in an image): the state bytes of every tracked
// range, then the page hashes where chunks hold several pages.
uint8_t* g_dirty_pool = nullptr;
size_t g_pool_size = 0;

// Page hashes: a chunk larger than a page is given back whole at its first
// write, so the pages of a written chunk are compared with their contents at
// that moment to find which really changed. kAbsent: the page was not
// resident then (not read: on a kernel without the shared zero page reading
// would allocate it).
constexpr uint64_t kAbsent = 0;
uint64_t page_hash(uint64_t addr) { return xxh64(reinterpret_cast<const void*>(addr), 4096) | 1; }

void remember_chunk(const Tracked& t, size_t c) {
  if (!t.hashes) return;
  uint64_t s = t.chunk_start(c), e = t.chunk_end(c);
  size_t first = (s - t.start) / 4096, n = (e - s) / 4096;
  unsigned char resident[kMaxChunk / 4096];
  bool known = (t.app_prot & PROT_READ) && ckpt_syscall3(CKPT_NR_mincore, long(s), long(e - s), long(resident)) == 0;
  for (size_t i = 0; i < n; i++)
    t.hashes[first + i] = known && (resident[i] & 1) ? page_hash(s + i * 4096) : kAbsent;
}
bool g_active = false;    // a model is armed
uint32_t g_epoch = 0;     // re-arms so far
bool g_selected = false;  // this is the process's backend

const Tracked* find(uint64_t addr) {
  size_t lo = 0, hi = g_ntracked;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (g_tracked[mid].end <= addr) lo = mid + 1;
    else hi = mid;
  }
  return lo < g_ntracked && g_tracked[lo].start <= addr ? &g_tracked[lo] : nullptr;
}

// A chunk's state (Tracked::dirty): anything but kProtected means written
// (or no longer vouched for).
enum : uint8_t { kProtected = 0, kUnprotecting = 1, kWritable = 2, kForgotten = 3 };

// Changes to the model and the protection it describes are not interrupted
// by the freeze signal: a checkpoint re-arms with a new model, and a thread
// frozen half-way would finish its update against that one.
class SignalsBlocked {
 public:
  SignalsBlocked() {
    uint64_t all = ~((uint64_t(1) << (SIGSEGV - 1)) | (uint64_t(1) << (SIGBUS - 1)));
    ckpt_syscall4(CKPT_NR_rt_sigprocmask, SIG_BLOCK, long(&all), long(&old_), 8);
  }
  ~SignalsBlocked() { ckpt_syscall4(CKPT_NR_rt_sigprocmask, SIG_SETMASK, long(&old_), 0, 8); }

 private:
  uint64_t old_ = 0;
};

// Whether libckpt's write protection is (or may still be) on the chunk.
bool chunk_protected(const Tracked& t, size_t c) {
  uint8_t s = __atomic_load_n(&t.dirty[c], __ATOMIC_ACQUIRE);
  return s == kProtected || s == kUnprotecting;
}

// Gives the application its protection back on the chunk holding `addr`,
// and returns once it is back (whichever thread did it). Returns false if
// `addr` is not in a tracked range.
bool unprotect_chunk(uint64_t addr) {
  SignalsBlocked blocked;
  const Tracked* t = find(addr);
  if (!t) return false;
  size_t c = t->index(addr);
  uint8_t expected = kProtected;
  if (!__atomic_compare_exchange_n(&t->dirty[c], &expected, kUnprotecting, false, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE)) {
    // Another thread is giving it back: a system call into the chunk must
    // not start before that is done (EFAULT). That thread cannot be frozen
    // meanwhile (it blocks signals too), so this wait is short.
    while (__atomic_load_n(&t->dirty[c], __ATOMIC_ACQUIRE) == kUnprotecting) ckpt_syscall0(CKPT_NR_sched_yield);
    return true;
  }
  remember_chunk(*t, c);
  uint64_t s = t->chunk_start(c), e = t->chunk_end(c);
  if (ckpt_syscall3(CKPT_NR_mprotect, long(s), long(e - s), t->app_prot) != 0) {
    // Splitting the mapping failed (vm.max_map_count): give the whole range
    // back, all of it counted written.
    for (size_t i = 0; i < t->chunks(); i++) __atomic_store_n(&t->dirty[i], uint8_t(kWritable), __ATOMIC_RELEASE);
    ckpt_syscall3(CKPT_NR_mprotect, long(t->start), long(t->end - t->start), t->app_prot);
  }
  __atomic_store_n(&t->dirty[c], kWritable, __ATOMIC_RELEASE);
  return true;
}

// The start of the first tracked range above `addr` (or ~0).
uint64_t next_tracked(uint64_t addr) {
  size_t n = __atomic_load_n(&g_ntracked, __ATOMIC_ACQUIRE);
  for (size_t i = 0; i < n; i++)
    if (g_tracked[i].start > addr) return g_tracked[i].start;
  return ~uint64_t(0);
}

// A write fault the model does not explain. libckpt's protection travels
// with pages moved or grown by mremap (glibc's realloc of a large block,
// which no interposer sees, or a raw system call): the mapping holding
// `addr` is then private anonymous, readable and not writable although the
// application never asked for that (app_protection.h). Its pages around
// `addr` that the model does not own get write access back, and chunks of
// the model found there are forgotten (saved in full: their contents came
// from elsewhere). `v` is that mapping. Returns false if the fault is not
// libckpt's.
bool give_back_carried(uint64_t addr, const VmaInfo& v) {
  uint64_t page = addr & ~uint64_t(4095);
  if (v.shared || v.inode || !(v.prot & PROT_READ) || (v.prot & PROT_WRITE)) return false;
  if (app_made_readonly(page, page + 4096)) return false;
  uint64_t lo, hi;
  app_writable_around(page, lo, hi);
  uint64_t start = std::max(v.start, lo), end = std::min(v.end, hi);
  uint32_t prot = v.prot | PROT_WRITE;
  SignalsBlocked blocked;
  bool done = false;
  for (uint64_t pos = start; pos < end;) {
    const Tracked* t = find(pos);
    uint64_t piece_end;
    bool give = true;
    if (!t) {
      piece_end = std::min(end, next_tracked(pos));
    } else {
      size_t c = t->index(pos);
      piece_end = std::min(end, t->chunk_end(c));
      uint8_t expected = kWritable;
      if (!__atomic_compare_exchange_n(&t->dirty[c], &expected, kForgotten, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) &&
          expected != kForgotten)
        give = false;  // protected by the model: its faults go through the state machine
    }
    if (give && ckpt_syscall3(CKPT_NR_mprotect, long(pos), long(piece_end - pos), prot) == 0 && pos <= page &&
        page < piece_end)
      done = true;
    pos = piece_end;
  }
  return done;
}

int on_fault(void* addr, int) {
  uint64_t a = uint64_t(addr);
  const Tracked* t = find(a);
  uint8_t state = t ? __atomic_load_n(&t->dirty[t->index(a)], __ATOMIC_ACQUIRE) : uint8_t(kForgotten);
  if (state == kProtected) {
    unprotect_chunk(a);
    return 1;
  }
  if (state == kUnprotecting) {
    // Another thread is giving the chunk back: retry once it has.
    ckpt_syscall0(CKPT_NR_sched_yield);
    return 1;
  }
  VmaInfo v;
  if (g_active && query_vma(a, v)) {
    if (give_back_carried(a, v)) return 1;
    // Writable now: the fault lost a race with another thread that gave
    // the page back (or the chunk changed state meanwhile). Retry; a few
    // times per page and interval only (a page is given back once per
    // interval), as a writable page can also fault for the application's
    // own reasons (a protection key).
    static __thread uint64_t t_page __attribute__((tls_model("initial-exec")));
    static __thread uint32_t t_epoch __attribute__((tls_model("initial-exec")));
    static __thread int t_retries __attribute__((tls_model("initial-exec")));
    uint64_t page = a & ~uint64_t(4095);
    uint32_t epoch = __atomic_load_n(&g_epoch, __ATOMIC_ACQUIRE);
    if (v.prot & PROT_WRITE) {
      if (t_page != page || t_epoch != epoch) t_page = page, t_epoch = epoch, t_retries = 0;
      if (t_retries++ < 4) return 1;
    }
  }
  // Not ours: the application's own fault (a guard page...). Let its handler see it.
  sigsegv_decline();
  return 0;
}

// The tag: every range the model protects is also registered with a
// userfaultfd in write-protect mode, without ever protecting a page through
// it (no fault, no behaviour change). The kernel drops a registration when
// the mapping is replaced or moved (no UFFD_FEATURE_EVENT_REMAP), so a
// mapping at a protected address without it ("uw" missing from its VmFlags)
// is not the one libckpt protected, whatever its protection says: pages
// moved there from elsewhere must not be taken for the unchanged ones. Where
// userfaultfd is unavailable there is no tag (see the header).
int g_tag_fd = -1;
bool g_tag_tried = false;

bool open_tag_fd() {
  if (g_tag_fd >= 0) return true;
  if (g_tag_tried) return false;
  g_tag_tried = true;
  long fd = ckpt_syscall1(323 /* userfaultfd */, O_CLOEXEC | O_NONBLOCK | 1 /* UFFD_USER_MODE_ONLY */);
  if (fd < 0) return false;
  uffdio_api api{};
  api.api = UFFD_API;
  if (ckpt_syscall3(CKPT_NR_ioctl, fd, long(UFFDIO_API), long(&api)) != 0) {
    ckpt_syscall1(CKPT_NR_close, fd);
    return false;
  }
  g_tag_fd = move_fd_high(int(fd));
  return true;
}

bool tag(uint64_t start, uint64_t end) {
  uffdio_register reg{};
  reg.range.start = start;
  reg.range.len = end - start;
  reg.mode = UFFDIO_REGISTER_MODE_WP;
  return ckpt_syscall3(CKPT_NR_ioctl, g_tag_fd, long(UFFDIO_REGISTER), long(&reg)) == 0;
}

// Memory that must stay writable: libckpt's own (written while the
// application is frozen, or from handlers that block SIGSEGV), every stack,
// and what the kernel writes on the application's behalf (rseq cpu ids,
// signal frames on alternate stacks, robust futex lists, clear_child_tid):
// the kernel does not fault on those, it fails or kills the thread.
struct KeepWritable {
  std::vector<AddressRange> ranges;
  void add(uint64_t s, uint64_t e) {
    if (e > s) ranges.push_back({s & ~uint64_t(4095), (e + 4095) & ~uint64_t(4095)});
  }
};

// The threads' kernel-written areas as of the last checkpoint. Kept in
// libckpt's own memory, which the image carries: a restored process re-arms
// before it could learn them again.
constexpr size_t kMaxThreadAreas = 4 * 4096;
AddressRange g_thread_areas[kMaxThreadAreas];
size_t g_nthread_areas = 0;

// New alternate signal stacks (sigaltstack after the checkpoint).
constexpr size_t kMaxAltStacks = 256;
AddressRange g_altstacks[kMaxAltStacks];

// Bytes of static TLS below a thread's pointer (fs base), its thread
// control block above it: errno, libckpt's own per-thread state and the
// rseq area live there, and libckpt's signal handlers (which block SIGSEGV)
// write them. From ld.so at start-up; a generous guess if it will not say.
uint64_t g_tls_static_size = 128 << 10;
constexpr uint64_t kTcbSize = 4096;

void learn_tls_size() {
  using Fn = void (*)(size_t*, size_t*);
  if (auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info"))) {
    size_t size = 0, align = 0;
    fn(&size, &align);
    if (size) g_tls_static_size = size + align;
  }
}

void remember_thread_areas(const ProcessState& st) {
  size_t n = 0;
  auto add = [&](uint64_t s, uint64_t len) {
    if (s && n < kMaxThreadAreas) g_thread_areas[n++] = {s, s + std::max<uint64_t>(len, 1)};
  };
  for (const ThreadState& t : st.threads) {
    if (t.fs_base > g_tls_static_size) add(t.fs_base - g_tls_static_size, g_tls_static_size + kTcbSize);
    add(t.stack_lo, t.stack_hi - t.stack_lo);
    if (!(t.altstack_flags & SS_DISABLE)) add(t.altstack_sp, t.altstack_size);
    add(t.rseq_area, t.rseq_len);
    add(t.robust_list, 24);
    add(t.clear_child_tid, 4);
  }
  g_nthread_areas = n;
}

void collect_keep_writable(const ProcessState& st, KeepWritable& k) {
  k.add(g_config.library_start, g_config.library_end);
  k.add(private_stack_start(), private_stack_end());
  arena::Range ar[64];
  size_t n = arena::ranges(ar, 64);
  for (size_t i = 0; i < n; i++) k.add(ar[i].start, ar[i].end);
  k.add(uint64_t(g_dirty_pool), uint64_t(g_dirty_pool) + g_pool_size);
  if (!st.threads.empty()) remember_thread_areas(st);  // else: just restored
  for (size_t i = 0; i < g_nthread_areas; i++) k.add(g_thread_areas[i].start, g_thread_areas[i].end);
  for (const AddressRange& a : g_altstacks) k.add(a.start, a.end);
  for_each_thread_stack([](uint64_t lo, uint64_t hi, void* p) { static_cast<KeepWritable*>(p)->add(lo, hi); }, &k);
  std::sort(k.ranges.begin(), k.ranges.end(), [](const AddressRange& a, const AddressRange& b) { return a.start < b.start; });
}

bool holds_a_thread_stack(const ProcessState& st, const Region& r, const Region* below) {
  if ((r.vmflags & kVmGrowsDown) || r.name == "[stack]") return true;
  for (const ThreadState& t : st.threads)
    if (t.interrupted_rsp >= r.start && t.interrupted_rsp < r.end) return true;
  // glibc's cached stacks of exited threads (reused by the next
  // pthread_create) sit right above their PROT_NONE guard.
  return below && below->end == r.start && below->prot == PROT_NONE;
}

bool trackable(const Region& r) {
  return r.kind == RegionKind::Anonymous && r.pages_saved && (r.prot & PROT_WRITE) &&
         !(r.vmflags & (kVmHugetlb | kVmIo | kVmLocked));
}

class MprotectTracker final : public DirtyTracker {
 public:
  constexpr MprotectTracker() {}
  const char* name() const override { return "mprotect"; }

  bool vouches(const Region& r) const override {
    if (r.kind != RegionKind::Anonymous) return false;
    for (size_t i = 0; i < g_ntracked; i++)
      if (g_tracked[i].valid && g_tracked[i].start < r.end && r.start < g_tracked[i].end) return true;
    return false;
  }

  // A present page is unchanged only inside a valid tracked range, in a chunk
  // that is still protected, and only if it is not all zero: MADV_DONTNEED
  // (glibc's malloc trims with it internally) discards a protected page
  // without a fault, and a later read brings it back as a zero page, which
  // on kernels that do not use the shared zero page (this VM's) is an
  // ordinary present page. Checking costs one cache line for the typical
  // non-zero page; a page that was zero and still is is simply saved as zero.
  bool classify(const Region& r, std::vector<PageSpan>& out, Msg& err) override {
    PageScanner scanner;
    struct Ctx {
      std::vector<PageSpan>* out;
    } c{&out};
    auto fn = [](uint64_t s, uint64_t e, uint64_t cat, void* p) -> bool {
      if (cat & kPagePfnZero) return true;
      auto& v = *static_cast<Ctx*>(p)->out;
      for (uint64_t a = s; a < e; a += 4096) {
        const Tracked* t = find(a);
        bool changed = !t || !t->valid || !(t->app_prot & PROT_READ);
        if (!changed) {
          uint8_t state = t->dirty[t->index(a)];
          if (state == kProtected)
            changed = page_is_zero(reinterpret_cast<const void*>(a));
          else if (state == kWritable && t->hashes)  // written chunk: did this page change?
            // A zero page may have been discarded (MADV_DONTNEED) and read
            // back before the chunk's first write, which then hashed zeros:
            // the parent's copy may not be zero.
            changed = t->hashes[(a - t->start) / 4096] != page_hash(a) ||
                      page_is_zero(reinterpret_cast<const void*>(a));
          else
            changed = true;
        }
        if (!v.empty() && v.back().end == a && v.back().changed == changed) v.back().end = a + 4096;
        else v.push_back({a, a + 4096, changed});
      }
      return true;
    };
    if (!scanner.scan(r.start, r.end, true, fn, &c)) {
      err << "cannot scan the pages of " << r.name.c_str();
      return false;
    }
    return true;
  }

  // Anonymous memory that is readable but not writable although the
  // application never asked for that carries libckpt's protection from
  // elsewhere (moved or grown by an mremap libckpt did not see): its
  // protection is the application's plus write access, up to `run_end`.
  static bool carried(const Region& r, uint64_t addr, uint64_t& run_end, uint32_t& app_prot) {
    bool anonymous = r.name.empty() || r.name[0] == '[';
    if (!anonymous || !(r.prot & PROT_READ) || (r.prot & PROT_WRITE) || app_made_readonly(addr, addr + 4096))
      return false;
    uint64_t lo, hi;
    app_writable_around(addr, lo, hi);
    run_end = std::min(run_end, hi);
    app_prot = r.prot | PROT_WRITE;
    return true;
  }

  bool protected_run(const Region& r, uint64_t addr, uint64_t& run_end, uint32_t& app_prot) override {
    Tracked* t = const_cast<Tracked*>(find(addr));
    if (!t) {  // outside the model up to the next tracked range
      run_end = next_tracked(addr);
      return carried(r, addr, run_end, app_prot);
    }
    // The run of chunks in the same state, within this mapping.
    size_t first = t->index(addr), c = first, nchunks = t->chunks();
    bool prot = chunk_protected(*t, c);
    while (c + 1 < nchunks && t->chunk_start(c + 1) < r.end && chunk_protected(*t, c + 1) == prot) c++;
    run_end = std::min(t->chunk_end(c), r.end);
    app_prot = t->app_prot;
    // Not as libckpt left it: changed by a call it did not see (glibc's
    // internal mmap/mprotect/brk/mremap), or another mapping now (the tag
    // is gone). Its contents can no longer be vouched for.
    if (prot && (r.prot != (t->app_prot & ~uint32_t(PROT_WRITE)) || (t->tagged && !(r.vmflags & kVmUffdWp)))) {
      for (size_t i = first; i <= c; i++) __atomic_store_n(&t->dirty[i], uint8_t(kForgotten), __ATOMIC_RELEASE);
      prot = false;
    }
    // Not protected by the model yet not writable: protection carried in.
    return prot || carried(r, addr, run_end, app_prot);
  }

  bool rearm(const ProcessState& st, Msg& err) override {
    // Chunks the last interval left protected: those the new model does not
    // cover get the application's protection back below.
    std::vector<Run> left_protected;
    protected_runs(left_protected);

    // New model: the trackable regions minus what must stay writable, in chunks.
    KeepWritable keep;
    collect_keep_writable(st, keep);
    size_t n = 0, chunks = 0;
    uint64_t chunk = kMinChunk;
    // While this process's memory file is open for writing nothing is
    // tracked: its writes bypass the protection (mem_writers.h).
    const std::vector<Region> none;
    const std::vector<Region>& regions = own_memory_writer_open() ? none : st.regions;
    auto for_each_piece = [&](auto&& fn) {
      const Region* below = nullptr;
      for (const Region& r : regions) {
        const Region* prev = below;
        below = &r;
        if (!trackable(r) || holds_a_thread_stack(st, r, prev)) continue;
        uint64_t pos = r.start;
        for (const AddressRange& k : keep.ranges) {
          if (k.end <= pos || k.start >= r.end) continue;
          // A kept range may start before pos (it overlaps the previous
          // one, or the region): nothing of the region lies before it then.
          if (k.start > pos) fn(pos, std::min(k.start, r.end), r.prot);
          pos = std::max(pos, k.end);
        }
        if (pos < r.end) fn(pos, r.end, r.prot);
      }
    };
    uint64_t total = 0;
    for_each_piece([&](uint64_t s, uint64_t e, uint32_t) { total += e - s; });
    while (chunk < kMaxChunk && total / chunk > kChunkBudget) chunk *= 2;
    __atomic_store_n(&g_ntracked, size_t(0), __ATOMIC_RELEASE);
    for_each_piece([&](uint64_t s, uint64_t e, uint32_t prot) {
      s = (s + chunk - 1) & ~(chunk - 1);
      e &= ~(chunk - 1);
      if (s >= e) return;
      if (n && g_tracked[n - 1].end == s && g_tracked[n - 1].app_prot == prot) {
        g_tracked[n - 1].end = e;
      } else {
        if (n == kMaxTracked) return;
        g_tracked[n++] = {s, e, prot, 1, 0, nullptr, chunk, nullptr};
      }
      chunks += (e - s) / chunk;
    });
    size_t state_bytes = (chunks + 7) & ~size_t(7);
    size_t need = state_bytes + (chunk > 4096 ? chunks * (chunk / 4096) * sizeof(uint64_t) : 0);
    if (need > g_pool_size || !g_dirty_pool) {
      if (g_dirty_pool) ckpt_syscall2(CKPT_NR_munmap, long(g_dirty_pool), long(g_pool_size));
      g_pool_size = (need + 4095) & ~size_t(4095);
      // NORESERVE: hashes are touched only for the chunks that get written.
      long p = ckpt_syscall6(CKPT_NR_mmap, 0, long(g_pool_size ? g_pool_size : 4096), PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (CKPT_IS_ERR(p)) {
        g_dirty_pool = nullptr;
        g_pool_size = 0;
        n = 0;
        err << "out of memory for the dirty map";
      } else {
        g_dirty_pool = reinterpret_cast<uint8_t*>(p);
      }
    }
    if (g_dirty_pool) memset(g_dirty_pool, kProtected, chunks);
    size_t used = 0, hashed = 0;
    for (size_t i = 0; i < n; i++) {
      g_tracked[i].dirty = g_dirty_pool + used;
      used += g_tracked[i].chunks();
      if (chunk > 4096) {
        g_tracked[i].hashes = reinterpret_cast<uint64_t*>(g_dirty_pool + state_bytes) + hashed;
        hashed += (g_tracked[i].end - g_tracked[i].start) / 4096;
      }
    }

    // Old protection outside the new model goes.
    for (const Run& run : left_protected) {
      uint64_t pos = run.start;
      for (size_t i = 0; i < n && pos < run.end; i++) {
        const Tracked& t = g_tracked[i];
        if (t.end <= pos || t.start >= run.end) continue;
        if (t.start > pos) ckpt_syscall3(CKPT_NR_mprotect, long(pos), long(t.start - pos), run.prot);
        pos = t.end;
      }
      if (pos < run.end) ckpt_syscall3(CKPT_NR_mprotect, long(pos), long(run.end - pos), run.prot);
    }

    bool tagging = open_tag_fd();
    for (size_t i = 0; i < n; i++) {
      Tracked& t = g_tracked[i];
      bool ok = ckpt_syscall3(CKPT_NR_mprotect, long(t.start), long(t.end - t.start), t.app_prot & ~PROT_WRITE) == 0;
      // A range that cannot be tagged (another userfaultfd holds it) is not
      // tracked: nothing could tell it was replaced.
      if (ok && tagging) {
        t.tagged = tag(t.start, t.end);
        ok = t.tagged;
      }
      if (!ok) {
        // Not (all) mapped as the capture saw it: leave it alone, untracked.
        ckpt_syscall3(CKPT_NR_mprotect, long(t.start), long(t.end - t.start), t.app_prot);
        t.valid = 0;
        memset(t.dirty, kForgotten, t.chunks());
      }
    }
    __atomic_store_n(&g_ntracked, n, __ATOMIC_RELEASE);
    // Active before the touches below (after a restore it was not: they
    // would do nothing).
    g_active = n > 0;
    __atomic_add_fetch(&g_epoch, 1, __ATOMIC_ACQ_REL);
    // Buffers glibc fills from inside (stdio, directory streams) and the
    // destinations of calls in flight stay writable.
    if (&_IO_list_all)
      for (FILE* f = _IO_list_all; f; f = f->_chain)
        if (f->_IO_buf_base && f->_IO_buf_end > f->_IO_buf_base)
          mprotect_touch(f->_IO_buf_base, size_t(f->_IO_buf_end - f->_IO_buf_base));
    for_each_kept_writable([](uint64_t s, uint64_t len) { mprotect_touch(reinterpret_cast<void*>(s), len); });
    return n > 0 || err.size() == 0;
  }

  void reset() override {
    // Fork child of the application: it is not tracked; give every chunk
    // still protected its protection back.
    std::vector<Run> runs;
    protected_runs(runs);
    for (const Run& r : runs) ckpt_syscall3(CKPT_NR_mprotect, long(r.start), long(r.end - r.start), r.prot);
    if (g_tag_fd >= 0) ckpt_syscall1(CKPT_NR_close, g_tag_fd);
    abandon();
  }

  void abandon() override {
    // Restored process: its memory was re-created with the application's
    // protection; only the model goes (and the dirty map, never in an
    // image, and the tag descriptor, whose number may be the application's now).
    __atomic_store_n(&g_ntracked, size_t(0), __ATOMIC_RELEASE);
    g_active = false;
    g_dirty_pool = nullptr;
    g_pool_size = 0;
    g_tag_fd = -1;
    g_tag_tried = false;
  }

  bool owns_fd(int fd) const override { return fd >= 0 && fd == g_tag_fd; }

  uint64_t armed_pages() const override {
    uint64_t n = 0;
    for (size_t i = 0; i < g_ntracked; i++)
      if (g_tracked[i].valid) n += (g_tracked[i].end - g_tracked[i].start) / 4096;
    return n;
  }

  void own_memory(uint64_t& start, uint64_t& end) const override {
    start = uint64_t(g_dirty_pool);
    end = start + g_pool_size;
  }

 private:
  struct Run {
    uint64_t start, end;
    uint32_t prot;
  };
  // The chunks that are protected now, merged into runs.
  static void protected_runs(std::vector<Run>& out) {
    for (size_t i = 0; i < g_ntracked; i++) {
      const Tracked& t = g_tracked[i];
      for (size_t c = 0; c < t.chunks(); c++) {
        if (!chunk_protected(t, c)) continue;
        uint64_t s = t.chunk_start(c), e = t.chunk_end(c);
        if (!out.empty() && out.back().end == s && out.back().prot == t.app_prot) out.back().end = e;
        else out.push_back({s, e, t.app_prot});
      }
    }
  }
};

MprotectTracker g_mprotect;

}  // namespace

// --- used by the interposed functions ----------------------------------------

bool mprotect_tracking() { return g_active && __atomic_load_n(&g_ntracked, __ATOMIC_ACQUIRE) > 0; }
bool mprotect_selected() { return g_selected; }

void mprotect_touch(const void* addr, size_t len) {
  if (!g_active || !len) return;
  uint64_t a = uint64_t(addr) & ~uint64_t(4095), end = uint64_t(addr) + len;
  while (a < end) {
    const Tracked* t = find(a);
    if (t) unprotect_chunk(a);
    a = t ? t->chunk_end(t->index(a)) : a + 4096;
  }
}

namespace {
// Forgets the chunks of [start, start+len) (saved in full at the next
// checkpoint); those still protected get the application's protection back
// if `all`, else only those the range covers in part (the application's own
// call then treats the rest).
void forget(uint64_t start, uint64_t len, bool all) {
  uint64_t end = start + len;
  SignalsBlocked blocked;
  for (size_t i = 0; i < g_ntracked; i++) {
    Tracked& t = g_tracked[i];
    if (t.end <= start || t.start >= end) continue;
    uint64_t s = std::max(start, t.start), e = std::min(end, t.end);
    for (size_t c = t.index(s); c < t.chunks() && t.chunk_start(c) < e; c++) {
      uint64_t cs = t.chunk_start(c), ce = t.chunk_end(c);
      uint8_t was = __atomic_load_n(&t.dirty[c], __ATOMIC_ACQUIRE);
      // A chunk another thread is giving back is left to finish first.
      while (was == kUnprotecting ||
             !__atomic_compare_exchange_n(&t.dirty[c], &was, kForgotten, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        if (was == kUnprotecting) {
          ckpt_syscall0(CKPT_NR_sched_yield);
          was = __atomic_load_n(&t.dirty[c], __ATOMIC_ACQUIRE);
        }
      }
      if (was == kProtected && (all || cs < start || ce > end))
        ckpt_syscall3(CKPT_NR_mprotect, long(cs), long(ce - cs), t.app_prot);
    }
  }
}
}  // namespace

void mprotect_forget(uint64_t start, uint64_t len) { forget(start, len, false); }
void mprotect_untrusted() { forget(0, ~uint64_t(0), true); }
void mprotect_release(uint64_t start, uint64_t len) { forget(start, len, true); }

void mprotect_new_altstack(const void* sp, size_t size) {
  // The kernel writes signal frames there: it must stay writable, now and
  // after every re-arm.
  uint64_t s = uint64_t(sp);
  for (AddressRange& a : g_altstacks) {
    uint64_t expected = 0;
    if (__atomic_load_n(&a.start, __ATOMIC_ACQUIRE) == s ||
        __atomic_compare_exchange_n(&a.start, &expected, s, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
      a.end = s + size;
      break;
    }
  }
  if (g_active) mprotect_touch(sp, size);
}

uint32_t mprotect_app_prot(uint64_t addr, bool& known) {
  const Tracked* t = find(addr);
  known = t != nullptr;
  return t ? t->app_prot : 0;
}

void mprotect_new_thread_stack(uint64_t stack_top) {
  // The thread's TLS and control block go at the top of a stack the
  // application provided; the kernel writes there too (the tid at creation
  // and exit), and does not fault.
  if (g_active && stack_top > g_tls_static_size + kTcbSize)
    mprotect_touch(reinterpret_cast<void*>(stack_top - g_tls_static_size - kTcbSize), g_tls_static_size + kTcbSize);
}

DirtyTracker* mprotect_tracker(Msg& why) {
  learn_tls_size();
  if (!sigsegv_chain_install(on_fault)) {
    why << "cannot install the SIGSEGV handler (libsigsegv)";
    return nullptr;
  }
  g_selected = true;
  return &g_mprotect;
}

}  // namespace ckpt
