// The uffd backend: userfaultfd write-protect in async mode.
//
// Every private anonymous region is registered with one userfaultfd in
// UFFD_FEATURE_WP_ASYNC mode and its present pages are write-protected. A
// write through this process's page tables (by the application, or by the
// kernel on its behalf: read(2), recv..., even a FOLL_FORCE write through
// /proc/self/mem or ptrace, which must fault a protected pte too) just
// clears the page's protection bit; no signal, no handler, no EFAULT. At a
// checkpoint PAGEMAP_SCAN reports which present pages lost their bit
// (written) and, in a second pass with PM_SCAN_WP_MATCHING, protects them
// again. A region moved by mremap loses its registration (the kernel drops
// it without UFFD_FEATURE_EVENT_REMAP), so a moved region is never mistaken
// for the one that lived there before. A page discarded by MADV_DONTNEED or
// MADV_FREE loses its pte; it is no longer present (reads as zero) or comes
// back as a new, unprotected page. Unprivileged processes use
// UFFD_USER_MODE_ONLY, which async mode never needs to fault on.
//
// Guaranteed: every write to a tracked (private anonymous) page is seen.
// Not tracked, so saved in full at every checkpoint: shared memory
// (MAP_SHARED anonymous, memfd, /dev/zero, /dev/shm), whose protection bits
// belong to one mapping while the memory can be written through others (a
// fork child, a second mapping, write(2) to the object) and whose discarded
// pages leave protection markers that read as unchanged; private file
// mappings; hugetlb; regions another userfaultfd holds.
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#include <cerrno>

#include "capture/page_scan.h"
#include "common/raw_syscall.h"
#include "common/uffd_defs.h"
#include "dirty_tracker.h"
#include "runtime/own_fds.h"

namespace ckpt {

namespace {

constexpr int kNrUserfaultfd = 323;
constexpr size_t kMaxRanges = 16384;

struct Range {
  uint64_t start = 0, end = 0;
};

// Private anonymous memory only: see above for shared memory.
bool trackable(const Region& r) {
  return r.kind == RegionKind::Anonymous && r.pages_saved && !(r.vmflags & (kVmHugetlb | kVmIo));
}

class UffdTracker final : public DirtyTracker {
 public:
  constexpr UffdTracker() {}
  const char* name() const override { return "uffd"; }

  bool open_uffd(Msg& why) {
    long fd = ckpt_syscall1(kNrUserfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd < 0) {
      why << "userfaultfd: " << errno_name(int(-fd));
      return false;
    }
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = UFFD_FEATURE_WP_ASYNC;
    if (ckpt_syscall3(CKPT_NR_ioctl, fd, long(UFFDIO_API), long(&api)) != 0 || !(api.features & UFFD_FEATURE_WP_ASYNC)) {
      why << "this kernel has no asynchronous userfaultfd write-protect";
      ckpt_syscall1(CKPT_NR_close, fd);
      return false;
    }
    fd_ = move_fd_high(int(fd));
    return true;
  }

  bool vouches(const Region& r) const override {
    if (fd_ < 0 || !(r.vmflags & kVmUffdWp) || !trackable(r)) return false;
    for (size_t i = 0; i < nranges_; i++)
      if (ranges_[i].start <= r.start && r.end <= ranges_[i].end) return true;
    return false;
  }

  bool classify(const Region& r, std::vector<PageSpan>& out, Msg& err) override {
    struct Ctx {
      std::vector<PageSpan>* out;
    } c{&out};
    PageScanner scanner;
    auto fn = [](uint64_t s, uint64_t e, uint64_t cat, void* p) -> bool {
      if (cat & kPagePfnZero) return true;  // the shared zero page: reads as zero
      auto& v = *static_cast<Ctx*>(p)->out;
      bool changed = (cat & kPageWritten) != 0;
      if (!v.empty() && v.back().end == s && v.back().changed == changed) v.back().end = e;
      else v.push_back({s, e, changed});
      return true;
    };
    if (!scanner.scan_categories(r.start, r.end, kPagePresent | kPageSwapped,
                                 kPagePresent | kPageSwapped | kPagePfnZero | kPageWritten, fn, &c)) {
      err << "cannot scan written pages of " << r.name.c_str() << ": " << errno_name(scanner.error());
      return false;
    }
    return true;
  }

  bool rearm(const ProcessState& st, Msg& err) override {
    if (fd_ < 0 && !open_uffd(err)) return false;
    PageScanner scanner;
    size_t n = 0;
    for (const Region& r : st.regions) {
      if (!trackable(r)) continue;
      bool known = vouches(r);
      if (!known) {
        uffdio_register reg{};
        reg.range.start = r.start;
        reg.range.len = r.end - r.start;
        reg.mode = UFFDIO_REGISTER_MODE_WP;
        if (ckpt_syscall3(CKPT_NR_ioctl, fd_, long(UFFDIO_REGISTER), long(&reg)) != 0) continue;  // stays untracked
      }
      // Protect what is present now: written pages of a known region, every
      // page of a newly registered one. Unpopulated pages need no marker: a
      // first write to them faults in a page that is not protected.
      if (!scanner.write_protect(r.start, r.end, known ? kPageWritten : 0)) {
        err << "cannot write-protect " << r.name.c_str() << ": " << errno_name(scanner.error());
        return false;
      }
      if (n < kMaxRanges) {
        if (n && new_ranges_[n - 1].end == r.start) new_ranges_[n - 1].end = r.end;
        else new_ranges_[n++] = {r.start, r.end};
      }
    }
    for (size_t i = 0; i < n; i++) ranges_[i] = new_ranges_[i];
    nranges_ = n;
    return true;
  }

  void reset() override {
    if (fd_ >= 0) ckpt_syscall1(CKPT_NR_close, fd_);
    fd_ = -1;
    nranges_ = 0;
  }

  void abandon() override {
    fd_ = -1;
    nranges_ = 0;
  }

  bool reopen(Msg& why) {
    reset();
    return open_uffd(why);
  }

  bool owns_fd(int fd) const override { return fd >= 0 && fd == fd_; }

  uint64_t armed_pages() const override {
    uint64_t n = 0;
    for (size_t i = 0; i < nranges_; i++) n += (ranges_[i].end - ranges_[i].start) / 4096;
    return n;
  }

 private:
  int fd_ = -1;
  Range ranges_[kMaxRanges] = {};
  Range new_ranges_[kMaxRanges] = {};
  size_t nranges_ = 0;
};

UffdTracker g_uffd;

}  // namespace

DirtyTracker* uffd_tracker(Msg& why) { return g_uffd.reopen(why) ? &g_uffd : nullptr; }

}  // namespace ckpt
