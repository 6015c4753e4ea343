// Async-signal-safe message building: a fixed buffer with << for strings,
// integers and hex. libckpt reports through it on paths where stdio and
// malloc are forbidden.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ckpt {

struct Hex {
  uint64_t v;
};

class Msg {
 public:
  constexpr Msg() : buf_{}, len_(0) {}
  Msg& operator<<(const char* s);
  Msg& operator<<(char c);
  Msg& operator<<(int64_t v);
  Msg& operator<<(uint64_t v);
  Msg& operator<<(int v) { return *this << int64_t(v); }
  Msg& operator<<(unsigned v) { return *this << uint64_t(v); }
  Msg& operator<<(long long v) { return *this << int64_t(v); }
  Msg& operator<<(unsigned long long v) { return *this << uint64_t(v); }
  Msg& operator<<(Hex h);
  const char* c_str() const { return buf_; }
  size_t size() const { return len_; }
  void clear() { len_ = 0; buf_[0] = '\0'; }

 private:
  char buf_[1024];
  size_t len_;
};

// Name of an errno value ("ENOSPC") without strerror's locale machinery.
const char* errno_name(int err);

}  // namespace ckpt
