// CPU compatibility between an image's CPU and a host: every feature bit the
// image had must be present, every enabled xsave component enabled, and the
// host's xsave area no larger.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>

#include "common/cpu_features.h"

using namespace ckpt;

namespace {

// A rich feature set (an AVX-512 server part).
ckpt_cpu_features rich_cpu() {
  ckpt_cpu_features f;
  memset(&f, 0, sizeof f);
  memcpy(f.vendor, "GenuineIntel", 12);
  f.family = 6;
  f.model = 0x8f;
  f.stepping = 8;
  f.leaf1_ecx = 0x7ffafbff;
  f.leaf1_edx = 0xbfebfbff;
  f.leaf7_ebx = 0xf3bfb7ef;
  f.leaf7_ecx = 0x1b415f6e;
  f.leaf7_edx = 0xbc18c410;
  f.leaf7_1_eax = 0x1c30;
  f.ext1_ecx = 0x121;
  f.ext1_edx = 0x2c100800;
  f.xcr0 = 0x2e7;  // x87 sse avx opmask zmm_hi256 hi16_zmm pkru
  f.xsave_size = 2696;
  return f;
}

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

}  // namespace

TEST_CASE("cpu: identical features are compatible") {
  const ckpt_cpu_features f = rich_cpu();
  CHECK(cpu_incompatibilities(f, f).empty());
  ckpt_cpu_features zero;
  memset(&zero, 0, sizeof zero);
  CHECK(cpu_incompatibilities(zero, zero).empty());
  // A host with more features, more xsave components and a smaller area is fine.
  CHECK(cpu_incompatibilities(zero, f).empty());
  ckpt_cpu_features smaller = f;
  smaller.xsave_size = 1000;
  CHECK(cpu_incompatibilities(f, smaller).empty());
  // Family, model, vendor and stepping are informational.
  ckpt_cpu_features other = f;
  memcpy(other.vendor, "AuthenticAMD", 12);
  other.family = 0x19;
  other.model = 1;
  other.stepping = 0;
  CHECK(cpu_incompatibilities(f, other).empty());
}

TEST_CASE("cpu: a missing feature bit is named") {
  const ckpt_cpu_features image = rich_cpu();
  struct Case {
    uint32_t ckpt_cpu_features::*word;
    int bit;
    const char* name;
  } cases[] = {
      {&ckpt_cpu_features::leaf7_ebx, 16, "avx512f"},    {&ckpt_cpu_features::leaf7_ebx, 5, "avx2"},
      {&ckpt_cpu_features::leaf1_ecx, 28, "avx"},        {&ckpt_cpu_features::leaf1_ecx, 20, "sse4_2"},
      {&ckpt_cpu_features::leaf1_edx, 26, "sse2"},       {&ckpt_cpu_features::leaf7_ecx, 8, "gfni"},
      {&ckpt_cpu_features::leaf7_edx, 4, "fsrm"},        {&ckpt_cpu_features::leaf7_1_eax, 4, "avx_vnni"},
      {&ckpt_cpu_features::ext1_ecx, 5, "abm"},          {&ckpt_cpu_features::ext1_edx, 27, "rdtscp"},
      {&ckpt_cpu_features::leaf7_ebx, 31, "avx512vl"},   {&ckpt_cpu_features::leaf7_ebx, 9, "erms"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    REQUIRE((image.*c.word & (1u << c.bit)) != 0);  // the image has it
    ckpt_cpu_features host = image;
    host.*c.word &= ~(1u << c.bit);
    auto v = cpu_incompatibilities(image, host);
    REQUIRE(v.size() == 1);
    CHECK(v[0] == std::string("missing CPU feature ") + c.name);
  }
}

TEST_CASE("cpu: features glibc selects code by: xsavec, rtm, hle") {
  // glibc 2.36 resolves lazy bindings with _dl_runtime_resolve_xsavec when
  // CPUID 0xd.1 eax has XSAVEC, and uses *_rtm string functions when leaf 7
  // ebx has RTM: a host without them would fault in that code.
  ckpt_cpu_features image = rich_cpu();
  image.xsave_1_eax = 0xf;            // xsaveopt xsavec xgetbv_ecx1 xsaves
  image.leaf7_ebx |= (1u << 11) | (1u << 4);
  CHECK(cpu_incompatibilities(image, image).empty());
  struct Case {
    uint32_t ckpt_cpu_features::*word;
    int bit;
    const char* name;
  } cases[] = {
      {&ckpt_cpu_features::xsave_1_eax, 1, "xsavec"},
      {&ckpt_cpu_features::leaf7_ebx, 11, "rtm"},
      {&ckpt_cpu_features::leaf7_ebx, 4, "hle"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    ckpt_cpu_features host = image;
    host.*c.word &= ~(1u << c.bit);
    auto v = cpu_incompatibilities(image, host);
    REQUIRE(v.size() == 1);
    CHECK(v[0] == std::string("missing CPU feature ") + c.name);
  }
  // Other bits of 0xd.1 eax are not required (glibc does not pick code by them).
  ckpt_cpu_features host = image;
  host.xsave_1_eax = 0x2;
  CHECK(cpu_incompatibilities(image, host).empty());
  // An image written before 0xd.1 was recorded (0) requires nothing there.
  ckpt_cpu_features old = image;
  old.xsave_1_eax = 0;
  host.xsave_1_eax = 0;
  CHECK(cpu_incompatibilities(old, host).empty());
}

TEST_CASE("cpu: several missing features are all named") {
  const ckpt_cpu_features image = rich_cpu();
  ckpt_cpu_features host = image;
  host.leaf7_ebx = 0;  // no avx2, bmi, avx512*, ...
  auto v = cpu_incompatibilities(image, host);
  CHECK(has(v, "missing CPU feature avx512f"));
  CHECK(has(v, "missing CPU feature avx2"));
  CHECK(has(v, "missing CPU feature bmi2"));
  CHECK(has(v, "missing CPU feature avx512bw"));
  CHECK(!has(v, "missing CPU feature avx"));  // leaf 1: still there
  CHECK(v.size() >= 10);
}

TEST_CASE("cpu: bits that are not user-visible features are ignored") {
  const ckpt_cpu_features image = rich_cpu();
  ckpt_cpu_features host = image;
  host.leaf1_ecx &= ~(1u << 31);  // hypervisor
  host.leaf1_ecx &= ~(1u << 3);   // monitor
  host.leaf1_edx &= ~(1u << 9);   // apic
  CHECK(cpu_incompatibilities(image, host).empty());
}

TEST_CASE("cpu: a missing xsave component is named") {
  const ckpt_cpu_features image = rich_cpu();
  ckpt_cpu_features host = image;
  host.xcr0 &= ~uint64_t(1u << 2);  // avx state
  auto v = cpu_incompatibilities(image, host);
  REQUIRE(v.size() == 1);
  CHECK(v[0] == "missing xsave component avx");

  host = image;
  host.xcr0 = 0x7;  // x87 sse avx: no AVX-512 state, no pkru
  v = cpu_incompatibilities(image, host);
  CHECK(v.size() == 4);
  CHECK(has(v, "missing xsave component avx512-opmask"));
  CHECK(has(v, "missing xsave component avx512-zmm-hi256"));
  CHECK(has(v, "missing xsave component avx512-hi16-zmm"));
  CHECK(has(v, "missing xsave component pkru"));

  // Components past the named ones (AMX tile state, bits 17 and 18) by number.
  ckpt_cpu_features amx = image;
  amx.xcr0 |= (1ULL << 17) | (1ULL << 18);
  v = cpu_incompatibilities(amx, image);
  CHECK(v.size() == 2);
  CHECK(has(v, "missing xsave component #17"));
  CHECK(has(v, "missing xsave component #18"));
}

TEST_CASE("cpu: a larger host xsave area is named") {
  const ckpt_cpu_features image = rich_cpu();
  ckpt_cpu_features host = image;
  host.xsave_size = 11008;
  auto v = cpu_incompatibilities(image, host);
  REQUIRE(v.size() == 1);
  CHECK(v[0] == "xsave area of 11008 bytes is larger than the image's 2696");
  // An image without xsave information (no OSXSAVE) does not constrain it.
  ckpt_cpu_features old = image;
  old.xsave_size = 0;
  CHECK(cpu_incompatibilities(old, host).empty());
}

TEST_CASE("cpu: all three kinds of problem at once") {
  const ckpt_cpu_features image = rich_cpu();
  ckpt_cpu_features host = image;
  host.leaf7_ebx &= ~(1u << 16);
  host.xcr0 &= ~uint64_t(1u << 9);
  host.xsave_size += 64;
  auto v = cpu_incompatibilities(image, host);
  REQUIRE(v.size() == 3);
  CHECK(v[0] == "missing CPU feature avx512f");
  CHECK(v[1] == "missing xsave component pkru");
  CHECK(v[2] == "xsave area of 2760 bytes is larger than the image's 2696");
}

TEST_CASE("cpu: read_cpu_features on this host") {
  const ckpt_cpu_features f = read_cpu_features();
  const std::string vendor(f.vendor, 12);
  CHECK(std::all_of(vendor.begin(), vendor.end(), [](char c) { return c >= 0x20 && c < 0x7f; }));
  CHECK((f.leaf1_edx & (1u << 26)) != 0);  // sse2: baseline x86-64
  CHECK((f.ext1_edx & (1u << 29)) != 0);   // long mode
  CHECK(f.family >= 6);
  if (f.leaf1_ecx & (1u << 27)) {          // OSXSAVE: xcr0 and the area size were read
    CHECK((f.xcr0 & 3) == 3);              // x87 and sse state always enabled
    CHECK(f.xsave_size >= 576);            // legacy area + xsave header
  }
  CHECK(cpu_incompatibilities(f, f).empty());
  CHECK(cpu_incompatibilities(f, read_cpu_features()).empty());
  // The bits agree with the kernel's view in /proc/cpuinfo.
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, flags;
  while (std::getline(cpuinfo, line))
    if (line.rfind("flags", 0) == 0) {
      flags = line.substr(line.find(':') + 1) + " ";
      break;
    }
  if (!flags.empty()) {
    auto listed = [&](const char* name) { return flags.find(std::string(" ") + name + " ") != std::string::npos; };
    if (f.leaf1_ecx & (1u << 27)) CHECK(listed("xsavec") == ((f.xsave_1_eax >> 1) & 1));
    CHECK(listed("rtm") == ((f.leaf7_ebx >> 11) & 1));
    CHECK(listed("hle") == ((f.leaf7_ebx >> 4) & 1));
  }
}
