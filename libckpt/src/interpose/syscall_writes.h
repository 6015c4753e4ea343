// What a system call writes into the caller's memory, as a table: for each
// system call number, its output arguments and how their sizes follow from
// the other arguments. The interposed public wrappers (user_writes.cpp,
// waits.cpp, signals.cpp) and syscall(2) itself (syscall.cpp) describe each
// call by its number and arguments and find its destinations here, so a
// destination is known once, for every way of making the call.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ckpt {

// One destination: a plain range, an iovec array, a msghdr or an mmsghdr
// array (their buffers are read when the destination is touched).
struct Dest {
  enum Kind : uint8_t { None, Range, Iov, Msg, MMsg } kind = None;
  const void* p = nullptr;
  size_t n = 0;
};

constexpr size_t kMaxDests = 6;

// The destinations of system call `nr` with arguments `a`; returns how many
// (0 for a call that writes nothing of the caller's, or is not in the table).
size_t syscall_dests(long nr, const long a[6], Dest out[kMaxDests]);

// Calls fn(start, len) for each memory range of `d`.
void for_each_range(const Dest& d, void (*fn)(uint64_t start, uint64_t len));

}  // namespace ckpt
