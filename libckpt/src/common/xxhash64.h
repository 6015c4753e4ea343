// XXH64 (Yann Collet's xxHash, 64-bit variant), implemented from the public
// specification. Used for block, manifest and whole-file checksums and for
// file content hashes. Allocation-free and async-signal-safe.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ckpt {

class Xxh64 {
 public:
  explicit Xxh64(uint64_t seed = 0) { reset(seed); }
  void reset(uint64_t seed = 0);
  void update(const void* data, size_t len);
  uint64_t digest() const;

 private:
  uint64_t v_[4];
  uint64_t total_ = 0;
  unsigned char buf_[32];
  size_t buffered_ = 0;
  uint64_t seed_ = 0;
};

uint64_t xxh64(const void* data, size_t len, uint64_t seed = 0);

}  // namespace ckpt
