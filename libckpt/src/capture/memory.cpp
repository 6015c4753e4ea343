#include "memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "common/proc_maps.h"
#include "common/raw_syscall.h"
#include "common/xxhash64.h"
#include "api/exclusions.h"
#include "file_table.h"
#include "page_scan.h"
#include "runtime/arena.h"
#include "shared_pages.h"

namespace ckpt {

namespace {

constexpr uint64_t kPage = CKPT_PAGE_SIZE;
// /proc/self/smaps is read into one reservation so that no allocation (and
// so no change to the mappings) happens while the kernel produces it. Pages
// are only touched as they are filled: 65530 mappings need about 80 MiB.
constexpr size_t kSmapsReserve = 256u << 20;

bool starts_with(const std::string& s, const char* p) { return s.compare(0, strlen(p), p) == 0; }
bool ends_with(const std::string& s, const char* p) {
  size_t n = strlen(p);
  return s.size() >= n && s.compare(s.size() - n, n, p) == 0;
}

struct ParseCtx {
  ProcessState* st;
  FileTable* files;
  MemoryCapture* mc;
  const std::vector<AddressRange>* exclude;
  Msg* err;
  bool ignore_unsupported;  // record refused mappings in st->ignored and leave them out
  bool failed = false;
  bool last_fixed = false;  // the last region emitted had the tracker's protection replaced
};

void add_pieces(ParseCtx& c, const Region& r, bool read_all) {
  // Cut libckpt's own memory out (the kernel may have merged it with a neighbour).
  uint64_t pos = r.start;
  auto emit_one = [&](uint64_t s, uint64_t e, uint32_t prot, bool fixed) {
    bool prev_fixed = c.last_fixed;
    c.last_fixed = fixed;
    if ((fixed || prev_fixed) && !c.st->regions.empty()) {
      // Chunks the tracker split off their neighbours join them again.
      Region& prev = c.st->regions.back();
      if (prev.end == s && prev.kind == RegionKind::Anonymous && r.kind == RegionKind::Anonymous && prev.prot == prot &&
          prev.vmflags == r.vmflags && prev.name == r.name && prev.pages_saved == r.pages_saved && !prev.inode &&
          !r.inode && c.mc->read_all.back() == uint8_t(read_all) && prev.file == r.file && r.file < 0) {
        prev.end = e;
        return;
      }
    }
    Region piece = r;
    piece.start = s;
    piece.end = e;
    piece.prot = prot;
    if (piece.file >= 0 || piece.inode) piece.offset = r.offset + (s - r.start);
    c.st->regions.push_back(std::move(piece));
    c.mc->read_all.push_back(read_all);
    c.mc->staging.push_back(0);
    c.mc->classified.push_back(0);
    c.mc->spans.emplace_back();
  };
  auto emit = [&](uint64_t s, uint64_t e) {
    // The mprotect tracker's write protection is not the application's: record
    // the application's (the kernel may have merged a protected chunk with a
    // neighbour whose protection the application chose).
    DirtyTracker* t = active_tracker();
    if (!t || r.kind != RegionKind::Anonymous) {
      if (s < e) emit_one(s, e, r.prot, false);
      return;
    }
    while (s < e) {
      uint64_t run_end;
      uint32_t app_prot;
      bool tracker_protected = t->protected_run(r, s, run_end, app_prot);
      uint64_t piece_end = std::min(std::max(run_end, s + kPage), e);
      emit_one(s, piece_end, tracker_protected ? app_prot : r.prot, tracker_protected);
      s = piece_end;
    }
  };

  for (const AddressRange& x : *c.exclude) {
    if (x.end <= pos || x.start >= r.end) continue;
    emit(pos, std::max(pos, x.start));
    pos = std::max(pos, x.end);
  }
  emit(pos, r.end);
}

void on_mapping(const MapsEntry& e, void* vctx) {
  ParseCtx& c = *static_cast<ParseCtx*>(vctx);
  if (c.failed) return;
  std::string name(e.name, e.name_len);
  Region r;
  r.start = e.start;
  r.end = e.end;
  r.prot = e.prot;
  r.offset = e.offset;
  r.name = name;
  r.vmflags = e.vmflags;
  VdsoLayout& v = c.st->vdso;
  bool read_all = false;

  if (name == "[vdso]" || name == "[vvar]" || name == "[vvar_vclock]" || name == "[vsyscall]") {
    r.kind = name == "[vdso]" ? RegionKind::Vdso : name == "[vvar]" ? RegionKind::Vvar
             : name == "[vvar_vclock]" ? RegionKind::VvarVclock : RegionKind::Vsyscall;
    if (r.kind == RegionKind::Vdso) {
      v.vdso_start = e.start;
      v.vdso_end = e.end;
      v.vdso_hash = xxh64(reinterpret_cast<const void*>(e.start), e.end - e.start);
    } else if (r.kind == RegionKind::Vvar) {
      v.vvar_start = e.start;
      v.vvar_end = e.end;
    } else if (r.kind == RegionKind::VvarVclock) {
      v.vclock_start = e.start;
      v.vclock_end = e.end;
    }
    c.st->regions.push_back(std::move(r));
    c.mc->read_all.push_back(false);
    c.mc->staging.push_back(0);
    c.mc->classified.push_back(0);
    c.mc->spans.emplace_back();
    return;
  }
  if (e.vmflags & kVmIo) {
    *c.err << "cannot checkpoint the device mapping " << name.c_str() << " at " << Hex{e.start}
           << " (VM_IO/VM_PFNMAP memory belongs to a driver)";
    c.failed = true;
    return;
  }
  if (e.vmflags & kVmHugetlb) {
    *c.err << "cannot checkpoint the hugetlb mapping " << name.c_str() << " at " << Hex{e.start};
    c.failed = true;
    return;
  }
  bool anonymous = e.inode == 0 || name.empty() || name[0] == '[';
  // A POSIX shared memory object (/dev/shm) outlives the process and other
  // processes may share it: while it exists it is re-mapped like a shared
  // file; an unlinked one is saved like memfd memory.
  bool posix_shm = starts_with(name, "/dev/shm/");
  bool shmem_object = e.dev_major == 0 && (starts_with(name, "/memfd:") || starts_with(name, "/dev/zero") ||
                                           starts_with(name, "/SYSV") || (posix_shm && ends_with(name, " (deleted)")));
  if (starts_with(name, "anon_inode:")) {
    // Memory of a kernel object (io_uring rings, perf buffers, ...), which
    // can outlive the object's descriptor: nothing to re-create it from.
    Msg why;
    if (name.find("io_uring") != std::string::npos) why << "an io_uring ring";
    else if (name.find("perf_event") != std::string::npos) why << "a perf event buffer";
    else why << "memory of the kernel object " << name.c_str();
    why << " is mapped at " << Hex{e.start} << "-" << Hex{e.end} << " (" << name.c_str()
        << "), which cannot be checkpointed";
    if (c.ignore_unsupported) {
      c.st->ignored.push_back(std::string(why.c_str()) + "; not restored (--ignore-unsupported)");
      return;
    }
    *c.err << why.c_str();
    c.failed = true;
    return;
  }
  if (starts_with(name, "/[aio]")) {
    *c.err << "the process has an asynchronous I/O (io_setup) ring at " << Hex{e.start}
           << ", which cannot be checkpointed";
    c.failed = true;
    return;
  }
  if (starts_with(name, "/SYSV")) {
    *c.err << "cannot checkpoint SysV shared memory attached at " << Hex{e.start} << " (not supported yet)";
    c.failed = true;
    return;
  }
  if (anonymous) {
    r.kind = e.shared ? RegionKind::SharedAnon : RegionKind::Anonymous;
    r.pages_saved = true;
    if (e.shared) r.inode = e.inode;
  } else if (shmem_object && (e.shared || ends_with(name, " (deleted)"))) {
    // memfd and /dev/zero objects: their pages are the content.
    r.kind = e.shared ? RegionKind::SharedAnon : RegionKind::Anonymous;
    r.pages_saved = true;
    read_all = !e.shared;  // a private copy: unmodified pages come from the object
    if (e.shared) r.inode = e.inode;
  } else if (starts_with(name, "/dev/") && !starts_with(name, "/dev/shm/")) {
    *c.err << "cannot checkpoint the device mapping " << name.c_str() << " at " << Hex{e.start};
    c.failed = true;
    return;
  } else {
    int fi = ends_with(name, " (deleted)")
                 ? -1
                 : c.files->add_mapped(name, makedev(e.dev_major, e.dev_minor), e.inode, (e.prot & PROT_EXEC) != 0);
    if (fi < 0) {
      // Deleted or replaced since it was mapped: the file cannot be re-mapped,
      // so the image carries every page.
      r.kind = e.shared ? RegionKind::SharedAnon : RegionKind::Anonymous;
      r.pages_saved = true;
      read_all = true;
    } else {
      r.file = fi;
      r.kind = e.shared ? RegionKind::FileShared : RegionKind::FilePrivate;
      r.pages_saved = !e.shared;
    }
  }
  add_pieces(c, r, read_all);
}

// --- page writing ---------------------------------------------------------

struct PageCtx {
  ImageWriter* w;
  bool transient = false;  // the source is a reused buffer
  const Region* region;
  int64_t shift = 0;  // image address = scanned address + shift (staged copies)
  bool skip_zero;
  bool readable;
  int mem_fd = -1;
  unsigned char* bounce = nullptr;
  size_t bounce_size = 0;
  Msg* err;
  const ExcludedRange* excluded = nullptr;  // ckpt_exclude(): never saved
  size_t nexcluded = 0;
};

// Calls fn(start, end) for the parts of [start, end) not excluded by the
// application; false as soon as fn fails.
template <class Fn>
bool for_each_included(const PageCtx& c, uint64_t start, uint64_t end, Fn&& fn) {
  for (size_t i = 0; i < c.nexcluded && start < end; i++) {
    const ExcludedRange& x = c.excluded[i];
    if (x.end <= start || x.start >= end) continue;
    if (x.start > start && !fn(start, x.start)) return false;
    start = x.end;
  }
  return start >= end || fn(start, end);
}

// Emits [addr, addr + n pages) whose bytes are at `src`, dropping zero pages
// of anonymous memory (a fresh mapping is zero already).
bool emit_pages(PageCtx& c, uint64_t addr, const unsigned char* src, uint64_t npages) {
  addr += uint64_t(c.shift);
  if (c.nexcluded) {
    uint64_t base = addr;
    PageCtx inner = c;
    inner.nexcluded = 0;
    inner.shift = 0;
    return for_each_included(c, addr, addr + npages * kPage, [&](uint64_t s, uint64_t e) {
      return emit_pages(inner, s, src + (s - base), (e - s) / kPage);
    });
  }
  if (!c.skip_zero) return c.w->add_data(addr, src, uint32_t(npages), c.transient);
  uint64_t i = 0;
  while (i < npages) {
    while (i < npages && page_is_zero(src + i * kPage)) i++;
    uint64_t s = i;
    while (i < npages && !page_is_zero(src + i * kPage)) i++;
    if (i > s && !c.w->add_data(addr + s * kPage, src + s * kPage, uint32_t(i - s), c.transient)) return false;
  }
  return true;
}

bool save_range(uint64_t start, uint64_t end, uint64_t categories, void* vctx) {
  PageCtx& c = *static_cast<PageCtx*>(vctx);
  if ((categories & kPagePfnZero) && c.skip_zero) return true;
  if (c.readable) {
    // Compress straight from the application's memory (it is frozen).
    for (uint64_t a = start; a < end;) {
      uint64_t n = std::min<uint64_t>((end - a) / kPage, 1u << 16);
      if (!emit_pages(c, a, reinterpret_cast<const unsigned char*>(a), n)) return false;
      a += n * kPage;
    }
    return true;
  }
  // Not readable (PROT_NONE, write-only): /proc/self/mem reads past protections.
  if (c.mem_fd < 0) {
    long fd = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long("/proc/thread-self/mem"), O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
      *c.err << "cannot open /proc/self/mem: " << errno_name(int(-fd));
      return false;
    }
    c.mem_fd = int(fd);
  }
  for (uint64_t a = start; a < end;) {
    size_t len = size_t(std::min<uint64_t>(end - a, c.bounce_size));
    long r = ckpt_syscall4(CKPT_NR_pread64, c.mem_fd, long(c.bounce), long(len), long(a));
    if (r != long(len)) {
      *c.err << "cannot read memory at " << Hex{a} << " in " << c.region->name.c_str();
      return false;
    }
    c.transient = true;
    bool ok = emit_pages(c, a, c.bounce, len / kPage);
    c.transient = false;
    if (!ok) return false;
    a += len;
  }
  return true;
}

}  // namespace

bool page_is_zero(const void* page) {
  auto p = static_cast<const uint64_t*>(page);
  for (size_t i = 0; i < kPage / 8; i += 8) {
    if (p[i] | p[i + 1] | p[i + 2] | p[i + 3] | p[i + 4] | p[i + 5] | p[i + 6] | p[i + 7]) return false;
  }
  return true;
}

namespace {

bool needs_staging(const Region& r) {
  return r.pages_saved && ((r.vmflags & (kVmDontFork | kVmWipeOnFork)) || r.kind == RegionKind::SharedAnon);
}

struct StageCtx {
  const Region* region;
  uint64_t dest;
  uint64_t copied, limit;
  int mem_fd;
  std::vector<PageSpan>* spans;  // what was copied (a fork child cannot scan shared memory)
};

bool copy_to_staging(StageCtx& c, uint64_t start, uint64_t end) {
  c.copied += end - start;
  if (c.copied > c.limit) return false;
  void* to = reinterpret_cast<void*>(c.dest + (start - c.region->start));
  if (c.region->prot & PROT_READ) {
    memcpy(to, reinterpret_cast<const void*>(start), end - start);
    return true;
  }
  return ckpt_syscall4(CKPT_NR_pread64, c.mem_fd, long(to), long(end - start), long(start)) == long(end - start);
}

bool stage_range(uint64_t start, uint64_t end, uint64_t cat, void* vctx) {
  StageCtx& c = *static_cast<StageCtx*>(vctx);
  if (cat & kPagePfnZero) return true;
  if (!copy_to_staging(c, start, end)) return false;
  c.spans->push_back({start, end, true});
  return true;
}

}  // namespace

void unmap_staging(const ProcessState& st, MemoryCapture& mc) {
  for (size_t i = 0; i < st.regions.size(); i++)
    if (mc.staging[i]) {
      ckpt_syscall2(CKPT_NR_munmap, long(mc.staging[i]), long(st.regions[i].end - st.regions[i].start));
      mc.staging[i] = 0;
    }
}

bool stage_for_fork(const ProcessState& st, MemoryCapture& mc, uint64_t limit, Msg& err) {
  PageScanner scanner;
  if (!scanner.ok()) {
    err << "cannot open /proc/self/pagemap";
    return false;
  }
  StageCtx c{nullptr, 0, 0, limit, -1, nullptr};
  bool ok = true;
  for (size_t i = 0; ok && i < st.regions.size(); i++) {
    const Region& r = st.regions[i];
    if (!needs_staging(r)) continue;
    long p = ckpt_syscall6(CKPT_NR_mmap, 0, long(r.end - r.start), PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (CKPT_IS_ERR(p)) {
      ok = false;
      break;
    }
    mc.staging[i] = uint64_t(p);
    c.region = &r;
    c.dest = uint64_t(p);
    if (!(r.prot & PROT_READ) && c.mem_fd < 0)
      c.mem_fd = int(ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long("/proc/thread-self/mem"), O_RDONLY | O_CLOEXEC, 0));
    if (mc.classified[i]) {
      // Incremental: only the changed pages need their contents.
      for (const PageSpan& sp : mc.spans[i])
        if (sp.changed && !(ok = copy_to_staging(c, sp.start, sp.end))) break;
      continue;
    }
    std::vector<PageSpan> spans;
    c.spans = &spans;
    int error = 0;
    ok = mc.read_all[i]                        ? stage_range(r.start, r.end, 0, &c)
         : r.kind == RegionKind::SharedAnon ? scan_shared_object(r, stage_range, &c, error)
                                             : scanner.scan(r.start, r.end, false, stage_range, &c);
    if (error) err << "cannot find the pages of the shared memory " << r.name.c_str() << ": " << errno_name(error);
    mc.spans[i] = std::move(spans);
    mc.classified[i] = 1;  // the spans now say which pages the writer copies
  }
  if (c.mem_fd >= 0) ckpt_syscall1(CKPT_NR_close, c.mem_fd);
  if (!ok) {
    unmap_staging(st, mc);
    if (c.copied > limit) err << "more than " << (limit >> 20) << " MiB of shared or fork-excluded memory";
  }
  return ok;
}

bool capture_regions(ProcessState& st, FileTable& files, MemoryCapture& mc,
                     const std::vector<AddressRange>& exclude_in, bool ignore_unsupported, Msg& err) {
  long buf = ckpt_syscall6(CKPT_NR_mmap, 0, kSmapsReserve, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (CKPT_IS_ERR(buf)) {
    err << "cannot reserve memory to read /proc/self/smaps: " << errno_name(int(-buf));
    return false;
  }
  auto text = reinterpret_cast<char*>(buf);
  size_t len = 0;
  bool ok = true;
  long fd = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long("/proc/thread-self/smaps"), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    err << "cannot open /proc/self/smaps: " << errno_name(int(-fd));
    ok = false;
  }
  while (ok) {
    long r = ckpt_syscall3(CKPT_NR_read, fd, long(text + len), long(kSmapsReserve - len));
    if (r == -4) continue;
    if (r < 0) {
      err << "cannot read /proc/self/smaps: " << errno_name(int(-r));
      ok = false;
    }
    if (r <= 0) break;
    len += size_t(r);
    if (len == kSmapsReserve) {
      err << "/proc/self/smaps is larger than " << uint64_t(kSmapsReserve >> 20) << " MiB";
      ok = false;
    }
  }
  if (fd >= 0) ckpt_syscall1(CKPT_NR_close, fd);
  if (ok) {
    // Everything libckpt holds right now is excluded, the smaps buffer included.
    std::vector<AddressRange> exclude = exclude_in;
    exclude.push_back({uint64_t(buf), uint64_t(buf) + kSmapsReserve});
    arena::Range ranges[4096];
    size_t n = arena::ranges(ranges, 4096);
    for (size_t i = 0; i < n; i++) exclude.push_back({ranges[i].start, ranges[i].end});
    std::sort(exclude.begin(), exclude.end(), [](const AddressRange& a, const AddressRange& b) { return a.start < b.start; });
    ParseCtx c{&st, &files, &mc, &exclude, &err, ignore_unsupported};
    if (!parse_maps(text, len, on_mapping, &c)) {
      err << "cannot parse /proc/self/smaps";
      ok = false;
    }
    if (c.failed) ok = false;
  }
  ckpt_syscall2(CKPT_NR_munmap, buf, kSmapsReserve);
  return ok;
}

namespace {

// Splits the unchanged spans that meet `ranges` (sorted) so that the part
// inside them is changed.
void mark_changed(std::vector<PageSpan>& spans, const std::vector<AddressRange>& ranges) {
  std::vector<PageSpan> out;
  for (const PageSpan& sp : spans) {
    if (sp.changed) {
      out.push_back(sp);
      continue;
    }
    uint64_t pos = sp.start;
    for (const AddressRange& x : ranges) {
      if (x.end <= pos || x.start >= sp.end) continue;
      if (x.start > pos) out.push_back({pos, x.start, false});
      uint64_t e = std::min(x.end, sp.end);
      out.push_back({std::max(pos, x.start), e, true});
      pos = e;
    }
    if (pos < sp.end) out.push_back({pos, sp.end, false});
  }
  spans = std::move(out);
}

}  // namespace

bool classify_regions(const ProcessState& st, MemoryCapture& mc, DirtyTracker& tracker,
                      const std::vector<AddressRange>& not_in_parent, Msg& err) {
  for (size_t i = 0; i < st.regions.size(); i++) {
    const Region& r = st.regions[i];
    if (!r.pages_saved || mc.read_all[i] || !tracker.vouches(r)) continue;
    if (!tracker.classify(r, mc.spans[i], err)) return false;
    if (!not_in_parent.empty()) mark_changed(mc.spans[i], not_in_parent);
    mc.classified[i] = 1;
  }
  return true;
}

// Writes a classified region: unchanged spans refer to the parent, changed
// ones are read from `base` (the region itself, or its staged copy).
static bool write_spans(PageCtx& c, const Region& r, const std::vector<PageSpan>& spans, uint64_t base) {
  c.shift = int64_t(r.start) - int64_t(base);
  for (const PageSpan& sp : spans) {
    bool ok = sp.changed ? save_range(sp.start - uint64_t(c.shift), sp.end - uint64_t(c.shift), kPagePresent, &c)
                         : for_each_included(c, sp.start, sp.end, [&](uint64_t s, uint64_t e) {
                             return c.w->add_parent(s, uint32_t((e - s) / kPage));
                           });
    if (!ok) return false;
  }
  return true;
}

bool write_pages(const ProcessState& st, const MemoryCapture& mc, ImageWriter& w, Msg& err) {
  PageScanner scanner;
  if (!scanner.ok()) {
    err << "cannot open /proc/self/pagemap: " << errno_name(scanner.error());
    return false;
  }
  PageCtx c{};
  c.w = &w;
  c.err = &err;
  ExcludedRange excluded[kMaxExcludedRanges];
  c.excluded = excluded;
  c.nexcluded = excluded_ranges(excluded, kMaxExcludedRanges);
  c.bounce_size = 1u << 20;
  c.bounce = static_cast<unsigned char*>(arena::allocate(c.bounce_size));
  bool ok = c.bounce != nullptr;
  for (size_t i = 0; ok && i < st.regions.size(); i++) {
    const Region& r = st.regions[i];
    if (!r.pages_saved) continue;
    c.region = &r;
    c.skip_zero = r.kind != RegionKind::FilePrivate;
    c.readable = (r.prot & PROT_READ) != 0;
    c.shift = 0;
    if (mc.classified[i]) {
      if (mc.staging[i]) c.readable = true;
      ok = write_spans(c, r, mc.spans[i], mc.staging[i] ? mc.staging[i] : r.start);
    } else if (mc.read_all[i]) {
      ok = save_range(r.start, r.end, kPagePresent, &c);
    } else if (r.kind == RegionKind::SharedAnon) {
      int error = 0;
      ok = scan_shared_object(r, save_range, &c, error);
      if (error)
        err << "cannot find the pages of the shared memory " << r.name.c_str() << " at " << Hex{r.start} << ": "
            << errno_name(error);
    } else {
      ok = scanner.scan(r.start, r.end, r.kind == RegionKind::FilePrivate, save_range, &c);
      if (!ok && scanner.error())
        err << "cannot scan the pages of " << r.name.c_str() << " at " << Hex{r.start} << ": "
            << errno_name(scanner.error());
    }
    if (!ok && w.error() && err.size() == 0) err << "cannot write the image: " << w.error_text() << ": " << errno_name(w.error());
  }
  if (c.mem_fd >= 0) ckpt_syscall1(CKPT_NR_close, c.mem_fd);
  arena::release(c.bounce);
  return ok;
}

}  // namespace ckpt
