// Names of the enums in process_state.h, shared by the manifest and the
// /proc parsers.
#include "process_state.h"

namespace ckpt {

namespace {
struct FlagName {
  uint32_t bit;
  const char* mnemonic;
};
constexpr FlagName kVmFlagNames[] = {
    {kVmGrowsDown, "gd"}, {kVmLocked, "lo"},    {kVmDontFork, "dc"},     {kVmWipeOnFork, "wf"},
    {kVmNoReserve, "nr"}, {kVmHugePage, "hg"},  {kVmNoHugePage, "nh"},   {kVmMergeable, "mg"},
    {kVmHugetlb, "ht"},   {kVmIo, "io"},        {kVmDontDump, "dd"},     {kVmShadowStack, "ss"},
    {kVmAccount, "ac"},   {kVmUffdWp, "uw"},
};

constexpr const char* kRegionKinds[] = {"anonymous", "shared-anon", "file-private", "file-shared",
                                        "vdso",      "vvar",        "vvar-vclock",  "vsyscall"};
constexpr const char* kFdKinds[] = {"file",   "directory", "chardev", "blockdev", "pipe",    "fifo",
                                    "socket", "tty",       "anon-inode", "other", "eventfd", "timerfd",
                                    "signalfd", "epoll",   "inotify", "memfd"};

}  // namespace

uint32_t vmflag_from_mnemonic(const char* s) {
  for (auto& f : kVmFlagNames)
    if (s[0] == f.mnemonic[0] && s[1] == f.mnemonic[1] && s[2] == '\0') return f.bit;
  return 0;
}

const char* vmflag_mnemonic(uint32_t bit) {
  for (auto& f : kVmFlagNames)
    if (f.bit == bit) return f.mnemonic;
  return "??";
}

const char* region_kind_name(RegionKind k) { return kRegionKinds[size_t(k)]; }
const char* fd_kind_name(FdKind k) { return kFdKinds[size_t(k)]; }


RegionKind region_kind_from_name(const std::string& s, bool& ok) {
  for (size_t i = 0; i < sizeof kRegionKinds / sizeof *kRegionKinds; i++)
    if (s == kRegionKinds[i]) { ok = true; return RegionKind(i); }
  ok = false;
  return RegionKind::Anonymous;
}

FdKind fd_kind_from_name(const std::string& s, bool& ok) {
  for (size_t i = 0; i < sizeof kFdKinds / sizeof *kFdKinds; i++)
    if (s == kFdKinds[i]) { ok = true; return FdKind(i); }
  ok = false;
  return FdKind::Other;
}

std::vector<std::string> vmflag_names(uint32_t flags) {
  std::vector<std::string> out;
  for (auto& f : kVmFlagNames)
    if (flags & f.bit) out.push_back(f.mnemonic);
  return out;
}

}  // namespace ckpt
