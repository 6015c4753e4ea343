#include "memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "parallel.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

namespace ckpt {

namespace {

bool restorable(const Region& r) {
  return r.kind == RegionKind::Anonymous || r.kind == RegionKind::SharedAnon || r.kind == RegionKind::FilePrivate ||
         r.kind == RegionKind::FileShared;
}

std::string region_label(const Region& r) {
  return (r.name.empty() ? std::string("anonymous region") : r.name) + " at " + hex(r.start) + "-" + hex(r.end);
}

}  // namespace

void MemoryRestorer::map_one(const Region& r) {
  const ProcessState& st = image_.state();
  int flags = MAP_FIXED_NOREPLACE;
  int fd = -1;
  uint64_t len = r.end - r.start;
  switch (r.kind) {
    case RegionKind::Anonymous: flags |= MAP_PRIVATE | MAP_ANONYMOUS; break;
    case RegionKind::SharedAnon:
      flags |= MAP_SHARED;
      // One shared object per inode, so regions that shared it still do.
      if (r.inode) fd = dup(shared_object_fd(r.inode));
      else flags |= MAP_ANONYMOUS;
      break;
    case RegionKind::FilePrivate:
    case RegionKind::FileShared: {
      const FileRef& f = st.files[size_t(r.file)];
      bool shared_write = r.kind == RegionKind::FileShared && (r.prot & PROT_WRITE);
      fd = open(f.path.c_str(), (shared_write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
      if (fd < 0) throw RestoreError("cannot open " + f.path + " to map " + region_label(r) + ": " + strerror(errno));
      flags |= r.kind == RegionKind::FileShared ? MAP_SHARED : MAP_PRIVATE;
      break;
    }
    default: return;
  }
  if (r.vmflags & kVmNoReserve) flags |= MAP_NORESERVE;
  if (r.vmflags & kVmGrowsDown) flags |= MAP_GROWSDOWN;
  int prot = int(r.prot);

  uint64_t at = r.start;
  off_t offset = (r.kind == RegionKind::SharedAnon && !r.inode) ? 0 : off_t(r.offset);
  void* p = mmap(reinterpret_cast<void*>(at), len, prot, flags, fd, offset);
  if (p == MAP_FAILED && errno == EEXIST) {
    // The launcher sits there: prepare the region elsewhere, the restorer moves it.
    for (int attempt = 0; attempt < 8 && (p == MAP_FAILED && errno == EEXIST); attempt++) {
      at = space_.take(len);
      p = mmap(reinterpret_cast<void*>(at), len, prot, flags, fd, offset);
    }
  }
  int err = errno;
  if (fd >= 0) close(fd);
  if (p == MAP_FAILED)
    throw RestoreError("cannot map " + region_label(r) + ": " + strerror(err) +
                       (err == EEXIST ? " (collides with " + describe_occupant(at, at + len) + ")" : ""));
  if (uint64_t(p) != at) {
    munmap(p, len);
    throw RestoreError("cannot map " + region_label(r) + " at its address (kernel chose " + hex(uint64_t(p)) + ")");
  }
  placed_.push_back({&r, at});
}

void MemoryRestorer::map_regions() {
  const ProcessState& st = image_.state();
  // Temporary places must never overlap where any region finally goes.
  for (const Region& r : st.regions) space_.mark_busy(r.start, r.end);
  for (const Mapping& m : read_own_mappings()) space_.mark_busy(m.start, m.end);
  for (const Region& r : st.regions)
    if (restorable(r)) map_one(r);
}

int MemoryRestorer::shared_object_fd(uint64_t inode) {
  auto it = shared_objects_.find(inode);
  if (it != shared_objects_.end()) return it->second;
  uint64_t size = 0;
  for (const Region& r : image_.state().regions)
    if (r.kind == RegionKind::SharedAnon && r.inode == inode) size = std::max(size, r.offset + (r.end - r.start));
  int fd = memfd_create("libckpt-shared", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, off_t(size)) != 0)
    throw RestoreError(std::string("cannot re-create shared memory: ") + strerror(errno));
  shared_objects_[inode] = fd;
  return fd;
}

const RegionPlacement& MemoryRestorer::placement_for(uint64_t addr) const {
  auto it = std::upper_bound(placed_.begin(), placed_.end(), addr,
                             [](uint64_t a, const RegionPlacement& p) { return a < p.region->start; });
  if (it == placed_.begin() || addr >= std::prev(it)->region->end)
    throw RestoreError("image page at " + hex(addr) + " belongs to no restored region");
  return *std::prev(it);
}

namespace {

bool needs_lift(const Region& r) { return (r.prot & (PROT_READ | PROT_WRITE)) != (PROT_READ | PROT_WRITE); }

// Makes a destination writable (when its final protection is not) and
// populates it in one call instead of a fault per page.
void prepare(const Region& r, uint64_t dest, uint64_t len) {
  if (needs_lift(r) && mprotect(reinterpret_cast<void*>(dest), len, PROT_READ | PROT_WRITE) != 0)
    throw RestoreError("cannot make " + hex(dest) + " writable: " + strerror(errno));
  madvise(reinterpret_cast<void*>(dest), len, MADV_POPULATE_WRITE);  // best effort
}

void finish(const Region& r, uint64_t dest, uint64_t len) {
  if (needs_lift(r) && mprotect(reinterpret_cast<void*>(dest), len, int(r.prot)) != 0)
    throw RestoreError("cannot restore the protection at " + hex(dest) + ": " + strerror(errno));
}

}  // namespace

template <class Fn>
void MemoryRestorer::for_each_piece(uint64_t addr, uint64_t len, Fn&& fn) const {
  uint64_t end = addr + len;
  while (addr < end) {
    const RegionPlacement& p = placement_for(addr);
    uint64_t piece_end = std::min(end, p.region->end);
    fn(*p.region, p.at + (addr - p.region->start), piece_end - addr);
    addr = piece_end;
  }
}

void MemoryRestorer::fill_pages() {
  size_t nblocks = 0;  // blobs follow all memory (stream_blobs)
  while (nblocks < image_.index().size() && image_.index()[nblocks].first_addr < CKPT_BLOB_BASE) nblocks++;
  unsigned threads = restore_threads();
  struct Worker {
    BlockDecompressor dec;
    Block block;
    std::vector<std::pair<uint64_t, uint64_t>> from_parents;
  };
  std::vector<Worker> workers(threads);
  // Blocks are independent and never overlap: each is decompressed straight
  // into place by whichever thread takes it.
  parallel_for(nblocks, threads, [&](size_t b, unsigned w) {
    fill_block(b, workers[w].dec, workers[w].block, workers[w].from_parents);
  });
  std::vector<std::pair<uint64_t, uint64_t>> from_parents;
  for (Worker& w : workers) from_parents.insert(from_parents.end(), w.from_parents.begin(), w.from_parents.end());
  std::sort(from_parents.begin(), from_parents.end());
  if (!from_parents.empty()) fill_from_parents(from_parents);
}

void MemoryRestorer::fill_block(size_t b, BlockDecompressor& dec, Block& block,
                                std::vector<std::pair<uint64_t, uint64_t>>& from_parents) {
  struct Piece {
    const Region* region;
    uint64_t dest, len;
  };
  std::vector<Piece> data;
  image_.read_block(b, block);
  uint64_t blob_bytes = 0;
  for (const ckpt_run& run : block.runs) {
    uint64_t len = uint64_t(run.npages) * CKPT_PAGE_SIZE;
    if (run.addr >= CKPT_BLOB_BASE) {
      blob_bytes += len;
      continue;
    }
    if (run.kind == CKPT_RUN_PARENT) {
      from_parents.push_back({run.addr, run.addr + len});
      continue;
    }
    for_each_piece(run.addr, len, [&](const Region& r, uint64_t dest, uint64_t n) {
      if (run.kind == CKPT_RUN_DATA) {
        data.push_back({&r, dest, n});
      } else if (r.kind == RegionKind::FilePrivate) {  // anonymous memory is zero already
        prepare(r, dest, n);
        memset(reinterpret_cast<void*>(dest), 0, n);
        finish(r, dest, n);
      }
    });
  }
  // The newest image's pages are final: decompress straight into place.
  for (const Piece& pc : data) prepare(*pc.region, pc.dest, pc.len);
  dec.begin(block);
  for (const Piece& pc : data) dec.into(reinterpret_cast<void*>(pc.dest), pc.len);
  if (blob_bytes) {  // a block shared by the last pages and the first blob
    std::vector<unsigned char> skip(blob_bytes);
    dec.into(skip.data(), skip.size());
  }
  dec.end();
  for (const Piece& pc : data) {
    finish(*pc.region, pc.dest, pc.len);
    pages_written_ += pc.len / CKPT_PAGE_SIZE;
  }
}

void MemoryRestorer::fill_from_parents(const std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
  std::vector<PageSource> sources = chain_.resolve_parent_pages(ranges);
  // Each needed block of an older image is decompressed once into a scratch
  // buffer and its pages copied out: sources are grouped by block, and the
  // groups spread over the threads.
  std::stable_sort(sources.begin(), sources.end(), [](const PageSource& a, const PageSource& b) {
    return a.image != b.image ? a.image < b.image : a.block < b.block;
  });
  std::vector<size_t> group_start;
  for (size_t i = 0; i < sources.size(); i++) {
    const PageSource& s = sources[i];
    if (i == 0 || s.zero || sources[i - 1].zero || s.image != sources[i - 1].image || s.block != sources[i - 1].block)
      group_start.push_back(i);
  }
  group_start.push_back(sources.size());
  unsigned threads = restore_threads();
  struct Worker {
    BlockDecompressor dec;
    Block block;
    std::vector<unsigned char> scratch;
  };
  std::vector<Worker> workers(threads);
  parallel_for(group_start.size() - 1, threads, [&](size_t g, unsigned w) {
    Worker& wk = workers[w];
    for (size_t i = group_start[g]; i < group_start[g + 1]; i++) {
      const PageSource& src = sources[i];
      if (!src.zero && i == group_start[g]) {
        chain_.image(src.image).read_block(src.block, wk.block);
        wk.scratch.resize(size_t(wk.block.data_pages) * CKPT_PAGE_SIZE);
        wk.dec.begin(wk.block);
        wk.dec.into(wk.scratch.data(), wk.scratch.size());
        wk.dec.end();
      }
      uint64_t offset = 0;
      for_each_piece(src.addr, src.npages * CKPT_PAGE_SIZE, [&](const Region& r, uint64_t dest, uint64_t n) {
        if (src.zero && r.kind != RegionKind::FilePrivate) {
          offset += n;
          return;
        }
        prepare(r, dest, n);
        if (src.zero) memset(reinterpret_cast<void*>(dest), 0, n);
        else memcpy(reinterpret_cast<void*>(dest), wk.scratch.data() + src.data_page * CKPT_PAGE_SIZE + offset, n);
        finish(r, dest, n);
        pages_written_ += n / CKPT_PAGE_SIZE;
        offset += n;
      });
    }
  });
}

void MemoryRestorer::apply_region_flags(std::vector<std::string>& warnings) {
  for (const RegionPlacement& p : placed_) {
    const Region& r = *p.region;
    void* at = reinterpret_cast<void*>(p.at);
    size_t len = r.end - r.start;
    if (r.vmflags & kVmDontFork) madvise(at, len, MADV_DONTFORK);
    if ((r.vmflags & kVmWipeOnFork) && r.kind == RegionKind::Anonymous) madvise(at, len, MADV_WIPEONFORK);
    if (r.vmflags & kVmHugePage) madvise(at, len, MADV_HUGEPAGE);
    if (r.vmflags & kVmNoHugePage) madvise(at, len, MADV_NOHUGEPAGE);
    if (r.vmflags & kVmMergeable) madvise(at, len, MADV_MERGEABLE);
    if (r.vmflags & kVmDontDump) madvise(at, len, MADV_DONTDUMP);
    if ((r.vmflags & kVmLocked) && mlock(at, len) != 0)
      warnings.push_back("cannot lock " + region_label(r) + " in memory: " + strerror(errno));
  }
}

std::vector<ckpt_plan_move> MemoryRestorer::moves() const {
  std::vector<ckpt_plan_move> out;
  for (const RegionPlacement& p : placed_)
    if (p.at != p.region->start) out.push_back({p.at, p.region->start, p.region->end - p.region->start});
  return out;
}

std::vector<std::pair<uint64_t, uint64_t>> MemoryRestorer::owned() const {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const RegionPlacement& p : placed_) out.push_back({p.at, p.at + (p.region->end - p.region->start)});
  return out;
}

}  // namespace ckpt
