// XXH64 (common/xxhash64): published test vectors, and streaming in any split
// equals hashing in one call.
//
// The vectors are the official ones from xxHash's cli/xsum_sanity_check.c
// (over its generated "sanity buffer") plus widely published string vectors.
// The two values for the 1 MiB buffer below were computed with a direct
// pure-Python port of the XXH64 specification that reproduces every official
// vector listed here.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/xxhash64.h"

using ckpt::Xxh64;
using ckpt::xxh64;

namespace {

constexpr uint64_t kPrime32 = 2654435761u;

// xsum_sanity_check.c's buffer: byte i is the top byte of PRIME32 * PRIME64^i.
std::vector<unsigned char> sanity_buffer(size_t len) {
  std::vector<unsigned char> b(len);
  uint64_t gen = kPrime32;
  for (size_t i = 0; i < len; i++) {
    b[i] = (unsigned char)(gen >> 56);
    gen *= 11400714785074694797ULL;
  }
  return b;
}

std::vector<unsigned char> big_buffer() {
  std::vector<unsigned char> b(1 << 20);
  for (size_t i = 0; i < b.size(); i++) b[i] = (unsigned char)(i * 131 + (i >> 8) * 7);
  return b;
}

uint64_t streamed(const unsigned char* p, size_t len, const std::vector<size_t>& chunks, uint64_t seed = 0) {
  Xxh64 h(seed);
  size_t off = 0, k = 0;
  while (off < len) {
    size_t n = std::min(chunks[k++ % chunks.size()], len - off);
    h.update(p + off, n);
    off += n;
  }
  return h.digest();
}

}  // namespace

TEST_CASE("xxh64: official sanity-check vectors") {
  auto buf = sanity_buffer(222);
  struct Vec {
    size_t len;
    uint64_t seed, want;
  } vecs[] = {
      {0, 0, 0xEF46DB3751D8E999ULL},   {0, kPrime32, 0xAC75FDA2929B17EFULL},
      {1, 0, 0xE934A84ADB052768ULL},   {1, kPrime32, 0x5014607643A9B4C3ULL},
      {4, 0, 0x9136A0DCA57457EEULL},   {14, 0, 0x8282DCC4994E35C8ULL},
      {14, kPrime32, 0xC3BD6BF63DEB6DF0ULL}, {222, 0, 0xB641AE8CB691C174ULL},
      {222, kPrime32, 0x20CB8AB7AE10C14AULL},
  };
  for (const Vec& v : vecs) {
    CAPTURE(v.len);
    CAPTURE(v.seed);
    CHECK(xxh64(buf.data(), v.len, v.seed) == v.want);
    Xxh64 h(v.seed);
    h.update(buf.data(), v.len);
    CHECK(h.digest() == v.want);
  }
}

TEST_CASE("xxh64: published string vectors") {
  CHECK(xxh64("", 0) == 0xEF46DB3751D8E999ULL);
  CHECK(xxh64("abc", 3) == 0x44BC2CF5AD770999ULL);
  const char* s1 = "Nobody inspects the spammish repetition";
  CHECK(xxh64(s1, strlen(s1)) == 0xFBCEA83C8A378BF1ULL);
  const char* s2 = "The quick brown fox jumps over the lazy dog";
  CHECK(xxh64(s2, strlen(s2)) == 0x0B242D361FDA71BCULL);
  CHECK(xxh64("xxhash", 6, 20141025) == 0xB559B98D844E0635ULL);
}

TEST_CASE("xxh64: 1 MiB buffer against the reference") {
  auto b = big_buffer();
  CHECK(xxh64(b.data(), b.size()) == 0x6F07DE5389314F70ULL);
  CHECK(xxh64(b.data(), b.size(), 0x9E3779B1) == 0xDCD303CBB6036606ULL);
}

TEST_CASE("xxh64: streaming in odd chunk sizes equals one-shot, lengths 0..200") {
  auto buf = sanity_buffer(200);
  const std::vector<std::vector<size_t>> splits = {
      {1}, {3}, {5}, {7}, {13}, {31}, {32}, {33}, {63}, {1, 2, 3, 5, 8, 13, 21, 34}, {31, 1}, {0, 17, 0, 4},
  };
  int mismatches = 0;
  for (size_t len = 0; len <= 200; len++) {
    for (uint64_t seed : {uint64_t(0), kPrime32}) {
      uint64_t one = xxh64(buf.data(), len, seed);
      for (const auto& s : splits) {
        const std::vector<size_t>& chunks = s;  // zeros are empty update() calls
        if (streamed(buf.data(), len, chunks, seed) != one) {
          mismatches++;
          INFO("len ", len, " seed ", seed, " first chunk ", chunks[0]);
          CHECK(streamed(buf.data(), len, chunks, seed) == one);
        }
      }
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("xxh64: streaming a 1 MiB buffer in odd chunk sizes equals one-shot") {
  auto b = big_buffer();
  const uint64_t want = 0x6F07DE5389314F70ULL;
  for (const std::vector<size_t>& chunks : std::vector<std::vector<size_t>>{
           {1}, {7}, {31}, {33}, {4093}, {65537}, {1 << 20}, {5, 4096, 77, 1, 100003}}) {
    CAPTURE(chunks[0]);
    CHECK(streamed(b.data(), b.size(), chunks) == want);
  }
}

TEST_CASE("xxh64: digest does not disturb the state; reset starts over") {
  auto buf = sanity_buffer(222);
  Xxh64 h;
  h.update(buf.data(), 40);
  uint64_t mid = h.digest();
  CHECK(mid == xxh64(buf.data(), 40));
  CHECK(h.digest() == mid);  // digest() is idempotent
  h.update(buf.data() + 40, 182);
  CHECK(h.digest() == 0xB641AE8CB691C174ULL);

  h.reset(kPrime32);
  CHECK(h.digest() == 0xAC75FDA2929B17EFULL);
  h.update(buf.data(), 14);
  CHECK(h.digest() == 0xC3BD6BF63DEB6DF0ULL);
  h.reset();
  h.update(buf.data(), 1);
  CHECK(h.digest() == 0xE934A84ADB052768ULL);
}

TEST_CASE("xxh64: every single-bit change of the input changes the hash") {
  auto buf = sanity_buffer(100);
  uint64_t base = xxh64(buf.data(), buf.size());
  int unchanged = 0;
  for (size_t i = 0; i < buf.size(); i++)
    for (int bit = 0; bit < 8; bit++) {
      buf[i] ^= (unsigned char)(1u << bit);
      if (xxh64(buf.data(), buf.size()) == base) unchanged++;
      buf[i] ^= (unsigned char)(1u << bit);
    }
  CHECK(unchanged == 0);
  CHECK(xxh64(buf.data(), buf.size()) == base);
}
