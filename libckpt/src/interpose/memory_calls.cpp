// The application's own changes to its mappings (and alternate signal
// stacks), which the mprotect backend must know about: a range the application re-maps, unmaps, moves or
// re-protects is no longer vouched for (saved in full at the next
// checkpoint), and a moved range gets the application's protection back
// (it carried libckpt's write protection along).
#undef _FILE_OFFSET_BITS  // mmap and mmap64 are both defined here
#include <signal.h>
#include <sys/mman.h>

#include <cstdarg>

#include "real.h"
#include "tracking/mprotect_model.h"

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

CKPT_EXPORT void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (mprotect_tracking() && (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))) mprotect_forget(uint64_t(addr), len);
  return CKPT_REAL(mmap)(addr, len, prot, flags, fd, off);
}

CKPT_EXPORT void* mmap64(void* addr, size_t len, int prot, int flags, int fd, off64_t off) {
  return mmap(addr, len, prot, flags, fd, off);
}

CKPT_EXPORT int munmap(void* addr, size_t len) {
  if (mprotect_tracking()) mprotect_forget(uint64_t(addr), len);
  return CKPT_REAL(munmap)(addr, len);
}

CKPT_EXPORT int mprotect(void* addr, size_t len, int prot) {
  if (mprotect_tracking()) mprotect_forget(uint64_t(addr), len);
  return CKPT_REAL(mprotect)(addr, len, prot);
}

CKPT_EXPORT void* mremap(void* old, size_t old_len, size_t new_len, int flags, ...) {
  void* want = nullptr;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    want = va_arg(ap, void*);
    va_end(ap);
  }
  if (!mprotect_tracking()) return CKPT_REAL(mremap)(old, old_len, new_len, flags, want);
  bool known = false;
  uint32_t prot = mprotect_app_prot(uint64_t(old), known);
  mprotect_forget(uint64_t(old), old_len);
  if (want) mprotect_forget(uint64_t(want), new_len);
  void* r = CKPT_REAL(mremap)(old, old_len, new_len, flags, want);
  if (r != MAP_FAILED && known) CKPT_REAL(mprotect)(r, new_len, int(prot));
  return r;
}

// The kernel writes signal frames onto an alternate stack without faulting:
// it must never be write-protected.
CKPT_EXPORT int sigaltstack(const stack_t* ss, stack_t* old) {
  if (ss && !(ss->ss_flags & SS_DISABLE) && ss->ss_sp) mprotect_new_altstack(ss->ss_sp, ss->ss_size);
  if (old) mprotect_touch(old, sizeof *old);
  return CKPT_REAL(sigaltstack)(ss, old);
}
