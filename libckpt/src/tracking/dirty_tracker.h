// Dirty-page tracking for incremental images.
//
// Between two checkpoints a tracker learns which pages of which regions were
// written. At a checkpoint (everything frozen) it classifies every present
// page of the regions it can vouch for as written (saved again) or unchanged
// (a PARENT run), then re-arms for the next interval. A region it cannot
// vouch for (new, moved, resized, not trackable) is saved in full. Pages
// that vanished (MADV_DONTNEED, MADV_FREE, munmap) are simply not present:
// an image lists every page that holds data, so they read as zero.
//
// Whatever the backend: only private anonymous memory is ever vouched for
// (shared memory, file mappings and hugetlb are saved in full each time);
// pages the application included again with ckpt_include() since the
// parent are saved in full (the parent left them out); and a restore
// refuses a chain in which an image takes pages from a parent that does
// not hold them (image/chain.h). What each backend guarantees is in its
// file's header.
//
// Backends (--track=): uffd (userfaultfd write-protect in async mode with
// PAGEMAP_SCAN: no fault handling in user space, syscalls unaffected),
// mprotect (write-protection and a SIGSEGV handler, for kernels without
// async uffd-wp), none (every checkpoint is full).
#pragma once
#include <cstdint>
#include <vector>

#include "common/msg.h"
#include "image/process_state.h"

namespace ckpt {

struct PageSpan {
  uint64_t start, end;
  bool changed;  // true: save the contents; false: same as in the parent
};

class DirtyTracker {
 public:
  // Trackers are static objects that need no run-time initialisation (libckpt
  // starts before the library's own dynamic initialisers would have run)
  // and are never destroyed.
  constexpr DirtyTracker() = default;
  virtual const char* name() const = 0;
  // Whether every write to `r` since the last re-arm is known.
  virtual bool vouches(const Region& r) const = 0;
  // Present pages of a vouched region, in address order (frozen).
  virtual bool classify(const Region& r, std::vector<PageSpan>& out, Msg& err) = 0;
  // Starts the next interval (frozen): forget what was written, and start
  // tracking regions not tracked yet. Regions it cannot track stay untracked.
  virtual bool rearm(const ProcessState& st, Msg& err) = 0;
  // Fork child: no tracking state is valid any more (the inherited
  // descriptor is closed).
  virtual void reset() = 0;
  // Restored process: the tracker's descriptor and registrations do not
  // exist; forget them without touching the descriptor number.
  virtual void abandon() = 0;
  // Pages write-protected by the last re-arm (reported in images).
  virtual uint64_t armed_pages() const = 0;
  virtual bool owns_fd(int) const { return false; }
  // Scratch memory of the tracker's (never in an image).
  virtual void own_memory(uint64_t& start, uint64_t& end) const { start = end = 0; }
  // Memory the tracker write-protected shows the tracker's protection in
  // /proc. For the piece starting at `addr` of the anonymous mapping `r` (as
  // /proc shows it; frozen, while capturing): returns true and the
  // application's protection if the tracker protected it, false if not; in
  // both cases `run_end` is where that answer stops holding. A tracker whose
  // model disagrees with `r` (the application changed the mapping behind
  // its back) stops vouching for it.
  virtual bool protected_run(const Region& r, uint64_t addr, uint64_t& run_end, uint32_t& app_prot) {
    run_end = ~uint64_t(0);
    (void)r, (void)addr, (void)app_prot;
    return false;
  }

 protected:
  ~DirtyTracker() = default;
};

// Selects the backend ("uffd", "mprotect", "none", or "auto": uffd where the
// kernel supports it, else mprotect). Returns the tracker (nullptr: none).
DirtyTracker* select_tracker(const char* wanted, Msg& note);
DirtyTracker* active_tracker();

}  // namespace ckpt
