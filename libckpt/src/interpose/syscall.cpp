// syscall(2): the application's raw system calls made through glibc's
// wrapper get what the functions libckpt interposes get. Memory calls
// (mmap, munmap, mprotect, mremap, madvise, brk) update the mprotect
// backend's model (memory_calls.cpp); calls that write the caller's memory
// have their destinations unprotected first (syscall_writes.h). System
// calls made without the wrapper (inline assembly) are not seen.
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/raw_syscall.h"
#include "mem_file.h"
#include "memory_calls.h"
#include "real.h"
#include "tracking/mprotect_model.h"
#include "user_writes.h"

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

CKPT_EXPORT long syscall(long nr, ...) {
  va_list ap;
  va_start(ap, nr);
  long a[6];
  for (long& x : a) x = va_arg(ap, long);
  va_end(ap);
  auto p = [&](int i) { return reinterpret_cast<void*>(a[i]); };
  switch (nr) {
    case SYS_mmap: return long(mmap(p(0), size_t(a[1]), int(a[2]), int(a[3]), int(a[4]), off_t(a[5])));
    case SYS_munmap: return munmap(p(0), size_t(a[1]));
    case SYS_mprotect: return mprotect(p(0), size_t(a[1]), int(a[2]));
    case SYS_pkey_mprotect: return pkey_mprotect(p(0), size_t(a[1]), int(a[2]), int(a[3]));
    case SYS_mremap: return long(mremap(p(0), size_t(a[1]), size_t(a[2]), int(a[3]), p(4)));
    case SYS_madvise: return madvise(p(0), size_t(a[1]), int(a[2]));
    case SYS_brk:
      if (mprotect_selected() && a[0]) brk_changing(uint64_t(ckpt_syscall1(CKPT_NR_brk, 0)), uint64_t(a[0]));
      break;
    case SYS_open: case SYS_openat: case SYS_openat2: case SYS_creat: {
      long fd = CKPT_REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
      if (fd >= 0) note_opened(int(fd));
      return fd;
    }
    default: break;
  }
  UserWrite w(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
  return CKPT_REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
