// Where the application itself made anonymous memory readable but not
// writable, as its (interposed) mmap, mprotect, mremap and munmap calls said.
//
// The mprotect backend's write protection travels with pages that glibc or
// a raw system call moves with mremap (realloc of a large block does), out
// of libckpt's model. A write fault there must be given back to the
// application (libckpt's protection) unless the application asked for that
// read-only memory itself and expects the fault: this record tells which.
// A process's anonymous read-only memory comes from calls libckpt sees,
// except raw system calls made without syscall(2) (see the tracker's header).
#pragma once
#include <cstdint>

namespace ckpt {

// The application set `prot` on [start, start+len) (mmap, mprotect).
void app_protection_set(uint64_t start, uint64_t len, uint32_t prot);
// [start, start+len) was unmapped.
void app_protection_unmapped(uint64_t start, uint64_t len);
// [old, old+old_len) moved to [to, to+new_len) (mremap).
void app_protection_moved(uint64_t old, uint64_t old_len, uint64_t to, uint64_t new_len);
// Whether the application made any of [start, end) non-writable itself. Also
// true when the record overflowed (it can no longer tell).
bool app_made_readonly(uint64_t start, uint64_t end);
// The widest [lo, hi) around `addr` (not itself read-only by the
// application's request) that holds nothing the application made read-only.
void app_writable_around(uint64_t addr, uint64_t& lo, uint64_t& hi);

}  // namespace ckpt
