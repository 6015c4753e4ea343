#include "memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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
    case RegionKind::SharedAnon: flags |= MAP_SHARED | MAP_ANONYMOUS; break;
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
  void* p = mmap(reinterpret_cast<void*>(at), len, prot, flags, fd, off_t(r.offset));
  if (p == MAP_FAILED && errno == EEXIST) {
    // The launcher sits there: prepare the region elsewhere, the restorer moves it.
    for (int attempt = 0; attempt < 8 && (p == MAP_FAILED && errno == EEXIST); attempt++) {
      at = space_.take(len);
      p = mmap(reinterpret_cast<void*>(at), len, prot, flags, fd, off_t(r.offset));
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

const RegionPlacement& MemoryRestorer::placement_for(uint64_t addr) const {
  auto it = std::upper_bound(placed_.begin(), placed_.end(), addr,
                             [](uint64_t a, const RegionPlacement& p) { return a < p.region->start; });
  if (it == placed_.begin() || addr >= std::prev(it)->region->end)
    throw RestoreError("image page at " + hex(addr) + " belongs to no restored region");
  return *std::prev(it);
}

void MemoryRestorer::fill_pages() {
  BlockDecompressor dec;
  Block block;
  // Protections of regions that cannot be written as mapped are lifted per
  // run while it is filled.
  auto with_writable = [](const Region& r, uint64_t at, uint64_t len, auto&& fn) {
    bool lift = (r.prot & (PROT_READ | PROT_WRITE)) != (PROT_READ | PROT_WRITE);
    if (lift && mprotect(reinterpret_cast<void*>(at), len, PROT_READ | PROT_WRITE) != 0)
      throw RestoreError("cannot make " + hex(at) + " writable: " + strerror(errno));
    fn();
    if (lift && mprotect(reinterpret_cast<void*>(at), len, int(r.prot)) != 0)
      throw RestoreError("cannot restore the protection at " + hex(at) + ": " + strerror(errno));
  };
  for (size_t b = 0; b < image_.index().size(); b++) {
    image_.read_block(b, block);
    // Runs can span adjacent regions; split them at region boundaries.
    struct Piece {
      const Region* region;
      uint64_t dest, len;
    };
    std::vector<Piece> data;
    for (const ckpt_run& run : block.runs) {
      uint64_t addr = run.addr, end = run.addr + uint64_t(run.npages) * CKPT_PAGE_SIZE;
      while (addr < end) {
        const RegionPlacement& p = placement_for(addr);
        uint64_t piece_end = std::min(end, p.region->end);
        uint64_t dest = p.at + (addr - p.region->start), len = piece_end - addr;
        if (run.kind == CKPT_RUN_DATA) {
          data.push_back({p.region, dest, len});
        } else {
          with_writable(*p.region, dest, len, [&] { memset(reinterpret_cast<void*>(dest), 0, len); });
        }
        addr = piece_end;
      }
    }
    // Make every destination writable and populated, then decompress into it.
    for (const Piece& pc : data) {
      bool lift = (pc.region->prot & (PROT_READ | PROT_WRITE)) != (PROT_READ | PROT_WRITE);
      if (lift && mprotect(reinterpret_cast<void*>(pc.dest), pc.len, PROT_READ | PROT_WRITE) != 0)
        throw RestoreError("cannot make " + hex(pc.dest) + " writable: " + strerror(errno));
      madvise(reinterpret_cast<void*>(pc.dest), pc.len, MADV_POPULATE_WRITE);  // best effort
    }
    dec.begin(block);
    for (const Piece& pc : data) dec.into(reinterpret_cast<void*>(pc.dest), pc.len);
    dec.end();
    for (const Piece& pc : data) {
      bool lift = (pc.region->prot & (PROT_READ | PROT_WRITE)) != (PROT_READ | PROT_WRITE);
      if (lift && mprotect(reinterpret_cast<void*>(pc.dest), pc.len, int(pc.region->prot)) != 0)
        throw RestoreError("cannot restore the protection at " + hex(pc.dest) + ": " + strerror(errno));
      pages_written_ += pc.len / CKPT_PAGE_SIZE;
    }
  }
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
