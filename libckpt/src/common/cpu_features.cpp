#include "cpu_features.h"

#include <cpuid.h>

#include <cstring>

namespace ckpt {

namespace {

uint64_t xgetbv0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

struct BitName {
  int word;  // which register below
  int bit;
  const char* name;
};
enum { L1C, L1D, L7B, L7C, L7D, L71A, E1C, E1D, XD1A };

// Feature bits that matter to user-space code. Bits describing the platform
// rather than the instruction set (hypervisor, APIC ids, monitor) are left out.
constexpr BitName kFeatures[] = {
    {L1D, 0, "fpu"}, {L1D, 8, "cx8"}, {L1D, 15, "cmov"}, {L1D, 23, "mmx"}, {L1D, 24, "fxsr"},
    {L1D, 25, "sse"}, {L1D, 26, "sse2"}, {L1C, 0, "sse3"}, {L1C, 1, "pclmulqdq"}, {L1C, 9, "ssse3"},
    {L1C, 12, "fma"}, {L1C, 13, "cx16"}, {L1C, 19, "sse4_1"}, {L1C, 20, "sse4_2"}, {L1C, 22, "movbe"},
    {L1C, 23, "popcnt"}, {L1C, 25, "aes"}, {L1C, 26, "xsave"}, {L1C, 27, "osxsave"}, {L1C, 28, "avx"},
    {L1C, 29, "f16c"}, {L1C, 30, "rdrand"}, {L7B, 0, "fsgsbase"}, {L7B, 3, "bmi1"}, {L7B, 4, "hle"},
    {L7B, 5, "avx2"}, {L7B, 11, "rtm"},
    {L7B, 8, "bmi2"}, {L7B, 9, "erms"}, {L7B, 16, "avx512f"}, {L7B, 17, "avx512dq"}, {L7B, 18, "rdseed"},
    {L7B, 19, "adx"}, {L7B, 21, "avx512ifma"}, {L7B, 23, "clflushopt"}, {L7B, 24, "clwb"},
    {L7B, 28, "avx512cd"}, {L7B, 29, "sha_ni"}, {L7B, 30, "avx512bw"}, {L7B, 31, "avx512vl"},
    {L7C, 1, "avx512vbmi"}, {L7C, 5, "waitpkg"}, {L7C, 6, "avx512_vbmi2"}, {L7C, 8, "gfni"},
    {L7C, 9, "vaes"}, {L7C, 10, "vpclmulqdq"}, {L7C, 11, "avx512_vnni"}, {L7C, 12, "avx512_bitalg"},
    {L7C, 14, "avx512_vpopcntdq"}, {L7C, 22, "rdpid"}, {L7C, 27, "movdiri"}, {L7C, 28, "movdir64b"},
    {L7D, 4, "fsrm"}, {L7D, 8, "avx512_vp2intersect"}, {L7D, 14, "serialize"}, {L7D, 22, "amx_bf16"},
    {L7D, 23, "avx512_fp16"}, {L7D, 24, "amx_tile"}, {L7D, 25, "amx_int8"}, {L71A, 4, "avx_vnni"},
    {L71A, 5, "avx512_bf16"}, {E1C, 0, "lahf_lm"}, {E1C, 5, "abm"}, {E1C, 6, "sse4a"},
    {E1C, 8, "3dnowprefetch"}, {E1C, 16, "fma4"}, {E1D, 27, "rdtscp"}, {E1D, 29, "lm"},
    // glibc picks code by these too: its lazy-binding trampoline
    // (_dl_runtime_resolve_xsavec) and its *_rtm string functions (rtm above).
    {XD1A, 1, "xsavec"},
};

uint32_t word(const ckpt_cpu_features& f, int w) {
  switch (w) {
    case L1C: return f.leaf1_ecx;
    case L1D: return f.leaf1_edx;
    case L7B: return f.leaf7_ebx;
    case L7C: return f.leaf7_ecx;
    case L7D: return f.leaf7_edx;
    case L71A: return f.leaf7_1_eax;
    case E1C: return f.ext1_ecx;
    case XD1A: return f.xsave_1_eax;
    default: return f.ext1_edx;
  }
}

const char* kXsaveComponents[] = {"x87", "sse", "avx", "mpx-bndregs", "mpx-bndcsr", "avx512-opmask",
                                  "avx512-zmm-hi256", "avx512-hi16-zmm", "pt", "pkru"};

}  // namespace

ckpt_cpu_features read_cpu_features() {
  ckpt_cpu_features f;
  memset(&f, 0, sizeof f);
  unsigned a, b, c, d;
  __cpuid(0, a, b, c, d);
  unsigned max_leaf = a;
  memcpy(f.vendor, &b, 4);
  memcpy(f.vendor + 4, &d, 4);
  memcpy(f.vendor + 8, &c, 4);
  __cpuid(1, a, b, c, d);
  f.leaf1_ecx = c;
  f.leaf1_edx = d;
  f.stepping = a & 0xf;
  f.model = ((a >> 4) & 0xf) | (((a >> 16) & 0xf) << 4);
  f.family = ((a >> 8) & 0xf) + ((a >> 20) & 0xff);
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.leaf7_ebx = b;
    f.leaf7_ecx = c;
    f.leaf7_edx = d;
    unsigned sub = a;
    if (sub >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      f.leaf7_1_eax = a;
    }
  }
  __cpuid(0x80000000, a, b, c, d);
  if (a >= 0x80000001) {
    __cpuid(0x80000001, a, b, c, d);
    f.ext1_ecx = c;
    f.ext1_edx = d;
  }
  if ((f.leaf1_ecx & (1u << 27)) && max_leaf >= 0xd) {  // OSXSAVE
    f.xcr0 = xgetbv0();
    __cpuid_count(0xd, 0, a, b, c, d);
    f.xsave_size = b;
    __cpuid_count(0xd, 1, a, b, c, d);
    f.xsave_1_eax = a;
  }
  return f;
}

std::vector<std::string> cpu_incompatibilities(const ckpt_cpu_features& image,
                                               const ckpt_cpu_features& host) {
  std::vector<std::string> out;
  for (const BitName& b : kFeatures) {
    uint32_t m = 1u << b.bit;
    if ((word(image, b.word) & m) && !(word(host, b.word) & m))
      out.push_back(std::string("missing CPU feature ") + b.name);
  }
  uint64_t missing = image.xcr0 & ~host.xcr0;
  for (int i = 0; i < 64; i++)
    if (missing & (1ULL << i))
      out.push_back(std::string("missing xsave component ") +
                    (i < 10 ? kXsaveComponents[i] : ("#" + std::to_string(i)).c_str()));
  if (host.xsave_size > image.xsave_size && image.xsave_size)
    out.push_back("xsave area of " + std::to_string(host.xsave_size) + " bytes is larger than the image's " +
                  std::to_string(image.xsave_size));
  return out;
}

}  // namespace ckpt
