// parse_maps on /proc/PID/maps and /proc/PID/smaps text: realistic samples
// (names with spaces, "(deleted)", [vvar_vclock], VmFlags, nameless
// mappings), malformed text, and this process's own /proc/self/smaps.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/proc_maps.h"
#include "image/process_state.h"

using namespace ckpt;

namespace {

struct Entry {
  uint64_t start, end;
  uint32_t prot;
  bool shared;
  uint64_t offset;
  uint32_t dev_major, dev_minor;
  uint64_t inode;
  std::string name;
  uint32_t vmflags;
  bool has_vmflags;
};

void collect(const MapsEntry& e, void* ctx) {
  static_cast<std::vector<Entry>*>(ctx)->push_back({e.start, e.end, e.prot, e.shared, e.offset, e.dev_major,
                                                    e.dev_minor, e.inode, std::string(e.name, e.name_len),
                                                    e.vmflags, e.has_vmflags});
}

bool parse(const std::string& text, std::vector<Entry>& out) {
  out.clear();
  return parse_maps(text.data(), text.size(), collect, &out);
}

const uint32_t R = PROT_READ, W = PROT_WRITE, X = PROT_EXEC;

const char kMaps[] =
    "00400000-00452000 r-xp 00000000 08:02 173521                             /usr/bin/dbus-daemon\n"
    "00651000-00652000 r--p 00051000 08:02 173521                             /usr/bin/dbus-daemon\n"
    "00652000-00655000 rw-p 00052000 08:02 173521                             /usr/bin/dbus-daemon\n"
    "00e03000-00e24000 rw-p 00000000 00:00 0                                  [heap]\n"
    "7f2c0c000000-7f2c0c021000 rw-p 00000000 00:00 0 \n"
    "7f2c10000000-7f2c10200000 rw-s 00000000 00:01 4099                       /dev/zero (deleted)\n"
    "7f2c10200000-7f2c10201000 rw-s 00001000 fd:01 131074                     /home/u/My Documents/data file.bin\n"
    "7f2c10201000-7f2c10202000 r--p 00000000 103:05 18446744073709551615     /tmp/old lib.so (deleted)\n"
    "7f4b2a000000-7f4b2a001000 ---p 00000000 00:00 0\n"
    "7ffd3b6f0000-7ffd3b711000 rw-p 00000000 00:00 0                          [stack]\n"
    "7ffd3b7d4000-7ffd3b7d8000 r--p 00000000 00:00 0                          [vvar]\n"
    "7ffd3b7d8000-7ffd3b7da000 r--p 00000000 00:00 0                          [vvar_vclock]\n"
    "7ffd3b7da000-7ffd3b7dc000 r-xp 00000000 00:00 0                          [vdso]\n"
    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

// The fields smaps prints between a header and VmFlags.
const char kFields[] =
    "Size:                132 kB\n"
    "KernelPageSize:        4 kB\n"
    "MMUPageSize:           4 kB\n"
    "Rss:                  12 kB\n"
    "Pss:                  12 kB\n"
    "Pss_Dirty:            12 kB\n"
    "Shared_Clean:          0 kB\n"
    "Shared_Dirty:          0 kB\n"
    "Private_Clean:         0 kB\n"
    "Private_Dirty:        12 kB\n"
    "Referenced:           12 kB\n"
    "Anonymous:            12 kB\n"
    "KSM:                   0 kB\n"
    "LazyFree:              0 kB\n"
    "AnonHugePages:         0 kB\n"
    "ShmemPmdMapped:        0 kB\n"
    "FilePmdMapped:         0 kB\n"
    "Shared_Hugetlb:        0 kB\n"
    "Private_Hugetlb:       0 kB\n"
    "Swap:                  0 kB\n"
    "SwapPss:               0 kB\n"
    "Locked:                0 kB\n"
    "THPeligible:           0\n"
    "ProtectionKey:         0\n";

std::string smaps_sample() {
  std::string s;
  auto add = [&](const char* header, const char* vmflags) {
    s += header;
    s += kFields;
    s += vmflags;
  };
  add("00400000-00452000 r-xp 00000000 08:02 173521                             /usr/bin/dbus-daemon\n",
      "VmFlags: rd ex mr mw me dw sd \n");
  add("00e03000-00e24000 rw-p 00000000 00:00 0                                  [heap]\n",
      "VmFlags: rd wr mr mw me ac sd uw \n");
  add("7f2c0c000000-7f2c0c021000 rw-p 00000000 00:00 0 \n", "VmFlags: rd wr mr mw me ac sd nr gd\n");
  add("7f2c10000000-7f2c10200000 rw-s 00000000 00:01 4099                       /dev/zero (deleted)\n",
      "VmFlags: rd wr sh mr mw me ms dc dd sd \n");
  add("7f2c20000000-7f2c20200000 rw-p 00000000 00:00 0                          /anon_hugepage (deleted)\n",
      "VmFlags: rd wr mr mw me de ht lo hg nh mg wf ss \n");
  add("7ffd3b6f0000-7ffd3b711000 rw-p 00000000 00:00 0                          [stack]\n",
      "VmFlags: rd wr mr mw me gd ac \n");
  add("7ffd3b7d4000-7ffd3b7d8000 r--p 00000000 00:00 0                          [vvar]\n",
      "VmFlags: rd mr pf io de dd sd \n");
  add("7ffd3b7d8000-7ffd3b7da000 r--p 00000000 00:00 0                          [vvar_vclock]\n",
      "VmFlags: rd mr pf io de dd sd \n");
  add("7ffd3b7da000-7ffd3b7dc000 r-xp 00000000 00:00 0                          [vdso]\n",
      "VmFlags: rd ex mr mw me de sd \n");
  add("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n",
      "VmFlags: ex \n");
  return s;
}

std::string read_proc(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  std::string s;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    REQUIRE(n >= 0);
    if (n == 0) break;
    s.append(buf, size_t(n));
  }
  close(fd);
  return s;
}

}  // namespace

TEST_CASE("vmflag mnemonics") {
  const struct {
    const char* m;
    uint32_t bit;
  } known[] = {{"gd", kVmGrowsDown}, {"lo", kVmLocked},   {"dc", kVmDontFork},   {"wf", kVmWipeOnFork},
               {"nr", kVmNoReserve}, {"hg", kVmHugePage}, {"nh", kVmNoHugePage}, {"mg", kVmMergeable},
               {"ht", kVmHugetlb},   {"io", kVmIo},       {"dd", kVmDontDump},   {"ss", kVmShadowStack},
               {"ac", kVmAccount},   {"uw", kVmUffdWp}};
  uint32_t all = 0;
  for (auto& k : known) {
    CAPTURE(k.m);
    CHECK(vmflag_from_mnemonic(k.m) == k.bit);
    CHECK(std::string(vmflag_mnemonic(k.bit)) == k.m);
    all |= k.bit;
  }
  CHECK(all == 0x3fff);
  for (const char* m : {"rd", "wr", "ex", "sh", "mr", "mw", "me", "ms", "sd", "de", "pf", "", "g", "gdx"}) {
    CAPTURE(m);
    CHECK(vmflag_from_mnemonic(m) == 0);
  }
  CHECK(std::string(vmflag_mnemonic(1u << 20)) == "??");
  CHECK(vmflag_names(kVmGrowsDown | kVmAccount | kVmNoReserve) == std::vector<std::string>{"gd", "nr", "ac"});
  CHECK(vmflag_names(0).empty());
}

TEST_CASE("parse_maps: /proc/PID/maps sample") {
  std::vector<Entry> v;
  REQUIRE(parse(kMaps, v));
  REQUIRE(v.size() == 14);

  CHECK(v[0].start == 0x400000);
  CHECK(v[0].end == 0x452000);
  CHECK(v[0].prot == (R | X));
  CHECK(!v[0].shared);
  CHECK(v[0].offset == 0);
  CHECK(v[0].dev_major == 8);
  CHECK(v[0].dev_minor == 2);
  CHECK(v[0].inode == 173521);
  CHECK(v[0].name == "/usr/bin/dbus-daemon");
  CHECK(!v[0].has_vmflags);
  CHECK(v[0].vmflags == 0);

  CHECK(v[1].prot == R);
  CHECK(v[1].offset == 0x51000);
  CHECK(v[2].prot == (R | W));
  CHECK(v[2].offset == 0x52000);

  CHECK(v[3].name == "[heap]");
  CHECK(v[3].inode == 0);
  CHECK(v[3].dev_major == 0);

  // Nameless anonymous mapping (the kernel prints a trailing space).
  CHECK(v[4].start == 0x7f2c0c000000);
  CHECK(v[4].end == 0x7f2c0c021000);
  CHECK(v[4].name.empty());

  CHECK(v[5].shared);
  CHECK(v[5].prot == (R | W));
  CHECK(v[5].dev_minor == 1);
  CHECK(v[5].inode == 4099);
  CHECK(v[5].name == "/dev/zero (deleted)");

  // Spaces inside the name; hexadecimal device numbers.
  CHECK(v[6].name == "/home/u/My Documents/data file.bin");
  CHECK(v[6].shared);
  CHECK(v[6].offset == 0x1000);
  CHECK(v[6].dev_major == 0xfd);
  CHECK(v[6].dev_minor == 1);
  CHECK(v[6].inode == 131074);

  CHECK(v[7].dev_major == 0x103);
  CHECK(v[7].dev_minor == 5);
  CHECK(v[7].inode == 18446744073709551615ULL);
  CHECK(v[7].name == "/tmp/old lib.so (deleted)");

  // No name and no trailing space; no access at all.
  CHECK(v[8].prot == 0);
  CHECK(v[8].name.empty());

  CHECK(v[9].name == "[stack]");
  CHECK(v[10].name == "[vvar]");
  CHECK(v[11].name == "[vvar_vclock]");
  CHECK(v[11].start == 0x7ffd3b7d8000);
  CHECK(v[11].prot == R);
  CHECK(v[12].name == "[vdso]");
  CHECK(v[12].prot == (R | X));
  CHECK(v[13].start == 0xffffffffff600000ULL);
  CHECK(v[13].end == 0xffffffffff601000ULL);
  CHECK(v[13].prot == X);
  CHECK(v[13].name == "[vsyscall]");
}

TEST_CASE("parse_maps: /proc/PID/smaps sample with VmFlags") {
  std::vector<Entry> v;
  const std::string text = smaps_sample();
  REQUIRE(parse(text, v));
  REQUIRE(v.size() == 10);
  for (const Entry& e : v) CHECK(e.has_vmflags);

  CHECK(v[0].name == "/usr/bin/dbus-daemon");
  CHECK(v[0].vmflags == 0);  // rd ex mr mw me dw sd: none that matter
  CHECK(v[1].name == "[heap]");
  CHECK(v[1].vmflags == (kVmAccount | kVmUffdWp));
  CHECK(v[2].name.empty());
  CHECK(v[2].vmflags == (kVmAccount | kVmNoReserve | kVmGrowsDown));  // "rd wr mr mw me ac sd nr gd"
  CHECK(v[3].name == "/dev/zero (deleted)");
  CHECK(v[3].shared);
  CHECK(v[3].vmflags == (kVmDontFork | kVmDontDump));
  CHECK(v[4].vmflags == (kVmHugetlb | kVmLocked | kVmHugePage | kVmNoHugePage | kVmMergeable | kVmWipeOnFork |
                         kVmShadowStack));
  CHECK(v[5].name == "[stack]");
  CHECK(v[5].vmflags == (kVmGrowsDown | kVmAccount));
  CHECK(v[6].name == "[vvar]");
  CHECK(v[6].vmflags == (kVmIo | kVmDontDump));  // pf is device memory too
  CHECK(v[7].name == "[vvar_vclock]");
  CHECK(v[7].vmflags == (kVmIo | kVmDontDump));
  CHECK(v[8].name == "[vdso]");
  CHECK(v[9].name == "[vsyscall]");
  CHECK(v[9].vmflags == 0);

  // Headers parse the same as in maps.
  CHECK(v[1].start == 0xe03000);
  CHECK(v[1].end == 0xe24000);
  CHECK(v[3].start == 0x7f2c10000000);
}

TEST_CASE("parse_maps: pf alone marks device memory") {
  std::vector<Entry> v;
  REQUIRE(parse("7f0000000000-7f0000001000 rw-s 00000000 00:06 512 /dev/mem\nVmFlags: rd wr sh mr mw me pf\n", v));
  REQUIRE(v.size() == 1);
  CHECK(v[0].vmflags == kVmIo);
}

TEST_CASE("parse_maps: edge cases and malformed text") {
  std::vector<Entry> v;
  SUBCASE("empty text") {
    CHECK(parse("", v));
    CHECK(v.empty());
  }
  SUBCASE("no trailing newline") {
    CHECK(parse("1000-2000 r--p 00000000 00:00 0 [x]", v));
    REQUIRE(v.size() == 1);
    CHECK(v[0].name == "[x]");
  }
  SUBCASE("blank lines are skipped") {
    CHECK(parse("\n1000-2000 r--p 00000000 00:00 0\n\n3000-4000 rw-p 00000000 00:00 0\n", v));
    CHECK(v.size() == 2);
  }
  SUBCASE("VmFlags before any header is ignored") {
    CHECK(parse("VmFlags: gd ac\n1000-2000 r--p 00000000 00:00 0\n", v));
    REQUIRE(v.size() == 1);
    CHECK(!v[0].has_vmflags);
    CHECK(v[0].vmflags == 0);
  }
  SUBCASE("upper-case hex in numbers") {
    CHECK(parse("1000-2000 r--p 0000ABCD FD:0A 7 n\n", v));
    REQUIRE(v.size() == 1);
    CHECK(v[0].offset == 0xabcd);
    CHECK(v[0].dev_major == 0xfd);
    CHECK(v[0].dev_minor == 0xa);
  }
  SUBCASE("missing end address") { CHECK(!parse("1000- r--p 00000000 00:00 0\n", v)); }
  SUBCASE("truncated permissions") { CHECK(!parse("1000-2000 r-\n", v)); }
  SUBCASE("missing device separator") { CHECK(!parse("1000-2000 r--p 00000000 0000 0\n", v)); }
  SUBCASE("missing inode") { CHECK(!parse("1000-2000 r--p 00000000 00:00 x\n", v)); }
  SUBCASE("entries before a malformed line are delivered") {
    CHECK(!parse("1000-2000 r--p 00000000 00:00 0\n3000-zzzz\n", v));
    CHECK(v.size() == 1);
  }
}

TEST_CASE("parse_maps: this process's /proc/self/smaps") {
  int local = 42;
  static int in_data = 7;
  std::vector<int> on_heap(100000, 1);  // large: its own mapping or the heap
  const std::string text = read_proc("/proc/self/smaps");
  std::vector<Entry> v;
  REQUIRE(parse(text, v));
  REQUIRE(v.size() > 5);

  auto find = [&](const void* p) -> const Entry* {
    auto a = reinterpret_cast<uint64_t>(p);
    for (const Entry& e : v)
      if (e.start <= a && a < e.end) return &e;
    return nullptr;
  };
  uint64_t prev_end = 0;
  for (const Entry& e : v) {
    CHECK(e.start < e.end);
    CHECK(e.start % 4096 == 0);
    CHECK(e.end % 4096 == 0);
    CHECK(e.start >= prev_end);
    CHECK(e.has_vmflags);
    prev_end = e.end;
  }

  const Entry* here = find(&local);
  REQUIRE(here != nullptr);
  CHECK((here->prot & (R | W)) == (R | W));
  CHECK(!here->shared);
  CHECK(local == 42);
  // The main thread's stack (where `local` lives, unless a tool such as
  // valgrind runs the program on a stack of its own) grows down.
  const Entry* stack = nullptr;
  for (const Entry& e : v)
    if (e.name == "[stack]") stack = &e;
  REQUIRE(stack != nullptr);
  CHECK((stack->prot & (R | W)) == (R | W));
  CHECK((stack->vmflags & kVmGrowsDown) != 0);
  CHECK(stack->inode == 0);

  const Entry* data = find(&in_data);
  REQUIRE(data != nullptr);
  CHECK((data->prot & (R | W)) == (R | W));
  CHECK(in_data == 7);

  const Entry* heap = find(on_heap.data());
  REQUIRE(heap != nullptr);
  CHECK((heap->prot & (R | W)) == (R | W));
  CHECK(!heap->shared);

  const Entry* code = find(reinterpret_cast<const void*>(&parse_maps));
  REQUIRE(code != nullptr);
  CHECK((code->prot & X) != 0);
  CHECK((code->prot & W) == 0);
  CHECK(code->inode != 0);
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  REQUIRE(n > 0);
  CHECK(code->name == std::string(exe, size_t(n)));  // this test program

  // maps and smaps agree on the mappings (both read now; nothing maps in between).
  std::vector<Entry> m;
  REQUIRE(parse(read_proc("/proc/self/maps"), m));
  CHECK(m.size() >= v.size() - 2);
  CHECK(m.size() <= v.size() + 2);
}
