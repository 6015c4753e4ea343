// The application's own changes to its mappings (and alternate signal
// stacks), which the mprotect backend must know about: a range the
// application re-maps, unmaps, moves or re-protects is no longer vouched
// for (saved in full at the next checkpoint), libckpt's write protection is
// taken off a range before it moves (mremap must not carry it along, nor
// fail on the pieces it split the mapping into), and where the application
// itself makes anonymous memory read-only is recorded (app_protection.h).
//
// realloc() is here too: glibc grows a large (mmap'd) block with an internal
// mremap no interposer sees. A realloc called from inside glibc (getline,
// open_memstream...) is not seen either; the tracker's fault handler gives
// such moved pages back (mprotect_tracker.cpp).
//
// syscall(2) routes the same system calls here (interpose/syscall.cpp).
#undef _FILE_OFFSET_BITS  // mmap and mmap64 are both defined here
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdint>

#include "common/raw_syscall.h"
#include "memory_calls.h"
#include "real.h"
#include "tracking/app_protection.h"
#include "tracking/mprotect_model.h"

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

namespace ckpt {

bool anonymous_private(int flags, int fd) { return !(flags & MAP_SHARED) && ((flags & MAP_ANONYMOUS) || fd < 0); }

void brk_changing(uint64_t old_break, uint64_t new_break) {
  uint64_t lo = old_break < new_break ? old_break : new_break, hi = old_break < new_break ? new_break : old_break;
  lo &= ~uint64_t(4095);
  hi = (hi + 4095) & ~uint64_t(4095);
  if (hi <= lo) return;
  if (mprotect_tracking()) mprotect_forget(lo, hi - lo);
  app_protection_unmapped(lo, hi - lo);
}

}  // namespace ckpt

CKPT_EXPORT void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  bool tracking = mprotect_tracking();
  if (tracking && (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))) mprotect_forget(uint64_t(addr), len);
  void* r = CKPT_REAL(mmap)(addr, len, prot, flags, fd, off);
  if (r != MAP_FAILED && mprotect_selected()) {
    // A new mapping where the model still describes an older one (unmapped
    // by glibc behind libckpt's back) is not vouched for.
    if (tracking) mprotect_forget(uint64_t(r), len);
    app_protection_set(uint64_t(r), len, anonymous_private(flags, fd) ? uint32_t(prot) : PROT_WRITE);
  }
  return r;
}

CKPT_EXPORT void* mmap64(void* addr, size_t len, int prot, int flags, int fd, off64_t off) {
  return mmap(addr, len, prot, flags, fd, off);
}

CKPT_EXPORT int munmap(void* addr, size_t len) {
  if (mprotect_tracking()) mprotect_forget(uint64_t(addr), len);
  int r = CKPT_REAL(munmap)(addr, len);
  if (r == 0 && mprotect_selected()) app_protection_unmapped(uint64_t(addr), len);
  return r;
}

CKPT_EXPORT int mprotect(void* addr, size_t len, int prot) {
  if (mprotect_tracking()) mprotect_forget(uint64_t(addr), len);
  int r = CKPT_REAL(mprotect)(addr, len, prot);
  if (r == 0 && mprotect_selected()) app_protection_set(uint64_t(addr), len, uint32_t(prot));
  return r;
}

CKPT_EXPORT int pkey_mprotect(void* addr, size_t len, int prot, int pkey) {
  if (mprotect_tracking()) mprotect_forget(uint64_t(addr), len);
  int r = CKPT_REAL(pkey_mprotect)(addr, len, prot, pkey);
  if (r == 0 && mprotect_selected()) app_protection_set(uint64_t(addr), len, uint32_t(prot));
  return r;
}

CKPT_EXPORT void* mremap(void* old, size_t old_len, size_t new_len, int flags, ...) {
  void* want = nullptr;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    want = va_arg(ap, void*);
    va_end(ap);
  }
  if (mprotect_tracking()) {
    mprotect_release(uint64_t(old), old_len);
    if (want) mprotect_forget(uint64_t(want), new_len);
    else if (new_len > old_len) mprotect_forget(uint64_t(old) + old_len, new_len - old_len);  // grown in place
  }
  void* r = CKPT_REAL(mremap)(old, old_len, new_len, flags, want);
  if (r != MAP_FAILED && mprotect_selected()) {
    if (mprotect_tracking() && r != old) mprotect_forget(uint64_t(r), new_len);
    app_protection_moved(uint64_t(old), old_len, uint64_t(r), new_len);
  }
  return r;
}

// MADV_POPULATE_WRITE faults pages in for writing: on memory libckpt
// protects it would fail (EFAULT). Discarding advice (MADV_DONTNEED,
// MADV_FREE...) needs nothing: a discarded page is absent or zero, which
// the tracker checks for.
CKPT_EXPORT int madvise(void* addr, size_t len, int advice) {
  if (advice == 23 /* MADV_POPULATE_WRITE */) mprotect_touch(addr, len);
  return CKPT_REAL(madvise)(addr, len, advice);
}

CKPT_EXPORT int brk(void* addr) {
  long old_break = ckpt_syscall1(CKPT_NR_brk, 0);
  if (mprotect_selected()) brk_changing(uint64_t(old_break), uint64_t(addr));
  return CKPT_REAL(brk)(addr);
}

CKPT_EXPORT void* sbrk(intptr_t increment) {
  long old_break = ckpt_syscall1(CKPT_NR_brk, 0);
  if (increment && mprotect_selected()) brk_changing(uint64_t(old_break), uint64_t(old_break + increment));
  return CKPT_REAL(sbrk)(increment);
}

namespace {

// A block glibc's malloc served with its own mapping (IS_MMAPPED): the
// mapping, page-aligned, starts `prev_size` bytes before the chunk header.
bool mmapped_block(void* p, uint64_t& start, uint64_t& len) {
  if (!p) return false;
  const uint64_t* h = static_cast<const uint64_t*>(p) - 2;
  uint64_t prev_size = h[0], size = h[1];
  if (!(size & 2) || (size & 4)) return false;  // IS_MMAPPED, not NON_MAIN_ARENA
  start = uint64_t(h) - prev_size;
  len = (size & ~uint64_t(7)) + prev_size;
  return start % 4096 == 0 && len % 4096 == 0 && start + len > uint64_t(p);
}

}  // namespace

CKPT_EXPORT void* realloc(void* p, size_t size) {
  uint64_t start, len;
  if (mprotect_tracking() && mmapped_block(p, start, len)) mprotect_release(start, len);
  return CKPT_REAL(realloc)(p, size);
}

CKPT_EXPORT void* reallocarray(void* p, size_t n, size_t size) {
  uint64_t start, len;
  if (mprotect_tracking() && mmapped_block(p, start, len)) mprotect_release(start, len);
  return CKPT_REAL(reallocarray)(p, n, size);
}

// The kernel writes signal frames onto an alternate stack without faulting:
// it must never be write-protected.
CKPT_EXPORT int sigaltstack(const stack_t* ss, stack_t* old) {
  if (ss && !(ss->ss_flags & SS_DISABLE) && ss->ss_sp) mprotect_new_altstack(ss->ss_sp, ss->ss_size);
  if (old) mprotect_touch(old, sizeof *old);
  return CKPT_REAL(sigaltstack)(ss, old);
}
