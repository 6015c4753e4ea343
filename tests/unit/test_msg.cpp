// Msg, the async-signal-safe message builder, and errno_name.
#include <doctest/doctest.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <string>

#include "common/msg.h"

using namespace ckpt;

TEST_CASE("msg: strings, characters, integers and hex") {
  Msg m;
  CHECK(std::string(m.c_str()).empty());
  m << "pid " << 42 << ' ' << uint64_t(18446744073709551615ULL) << ' ' << int64_t(INT64_MIN) << ' ' << -7 << ' '
    << 0u << ' ' << Hex{0} << ' ' << Hex{0xdeadbeef} << ' ' << Hex{UINT64_MAX};
  CHECK(std::string(m.c_str()) ==
        "pid 42 18446744073709551615 -9223372036854775808 -7 0 0x0 0xdeadbeef 0xffffffffffffffff");
  CHECK(m.size() == std::string(m.c_str()).size());
  m.clear();
  CHECK(m.size() == 0);
  m << static_cast<const char*>(nullptr);
  CHECK(std::string(m.c_str()) == "(null)");
}

TEST_CASE("msg: output is truncated at the buffer, never overflows") {
  Msg m;
  std::string chunk(100, 'a');
  for (int i = 0; i < 20; i++) m << chunk.c_str();
  CHECK(m.size() == 1023);
  CHECK(std::string(m.c_str()) == std::string(1023, 'a'));
  m << 12345 << Hex{0xff};
  CHECK(m.size() == 1023);
}

TEST_CASE("msg: errno names") {
  CHECK(std::string(errno_name(ENOSPC)) == "ENOSPC (no space left on device)");
  CHECK(std::string(errno_name(EINTR)) == "EINTR");
  CHECK(std::string(errno_name(12345)) == "error");
}
