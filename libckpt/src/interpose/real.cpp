#undef _FILE_OFFSET_BITS  // both plain and 64-bit-offset functions are looked up
#include "real.h"

#include <dlfcn.h>

#include "common/raw_syscall.h"

namespace ckpt::real {

#define CKPT_DEFINE_REAL(fn) decltype(&::fn) fn = nullptr;
CKPT_REAL_FUNCTIONS(CKPT_DEFINE_REAL)
#undef CKPT_DEFINE_REAL

namespace {
void* lookup(const char* name) {
  void* p = dlsym(RTLD_NEXT, name);
  if (!p) {
    static const char msg[] = "libckpt: cannot find the C library's functions; aborting\n";
    ckpt_syscall3(CKPT_NR_write, 2, long(msg), sizeof msg - 1);
    ckpt_syscall1(CKPT_NR_exit_group, 127);
  }
  return p;
}
}  // namespace

void resolve_all() {
#define CKPT_RESOLVE(f) \
  if (!f) f = reinterpret_cast<decltype(f)>(lookup(#f));
  CKPT_REAL_FUNCTIONS(CKPT_RESOLVE)
#undef CKPT_RESOLVE
}

}  // namespace ckpt::real
