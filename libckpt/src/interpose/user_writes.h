// A call through which the kernel (or glibc) writes into the application's
// memory. With the mprotect backend a write-protected destination would make
// the call fail with EFAULT, so a UserWrite made before the call unprotects
// its destinations (and counts them dirty); they stay so while the call is
// in flight: a checkpoint taken meanwhile (the thread frozen between the
// unprotecting and the system call) keeps them writable when it re-arms.
// Without the mprotect backend it costs one branch.
#pragma once
#include <cstdint>

#include "syscall_writes.h"

namespace ckpt {

class UserWrite {
 public:
  // A system call by number and arguments: its destinations come from the
  // table (syscall_writes.h).
  template <class... Args>
  explicit UserWrite(long nr, Args... args) {
    if (!armed()) return;
    long a[6] = {long(args)...};
    Dest d[kMaxDests];
    begin(d, syscall_dests(nr, a, d));
  }
  // Destinations named directly (library functions that are not one call).
  explicit UserWrite(const Dest& a, const Dest& b = {}) {
    if (!armed()) return;
    Dest d[2] = {a, b};
    begin(d, 2);
  }
  ~UserWrite();
  UserWrite(const UserWrite&) = delete;
  UserWrite& operator=(const UserWrite&) = delete;

 private:
  static bool armed();
  void begin(const Dest* d, size_t n);
  void* slot_ = nullptr;
};

inline Dest dest_range(const void* p, size_t n) { return {p && n ? Dest::Range : Dest::None, p, n}; }

}  // namespace ckpt
