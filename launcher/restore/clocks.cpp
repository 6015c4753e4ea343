#include "clocks.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <ctime>
#include <fstream>
#include <sstream>

#include "common/xxhash64.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace ckpt {

namespace {

int64_t now_ns(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;
}

uint64_t boot_id_hash() {
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string id = ss.str();
  return id.empty() ? 0 : xxh64(id.data(), id.size());
}

}  // namespace

ClockPlan plan_clocks(const ImageReader& image) {
  const ProcessState& st = image.state();
  ClockPlan p;
  // CKPT_TEST_CLOCK_SHIFT_S: behave as if this boot's clocks were that many
  // seconds behind (tests the time namespace without a reboot).
  const char* shift_env = getenv("CKPT_TEST_CLOCK_SHIFT_S");
  int64_t shift = shift_env ? int64_t(strtoll(shift_env, nullptr, 10)) * 1000000000 : 0;
  int64_t mono = now_ns(CLOCK_MONOTONIC) - shift, boot = now_ns(CLOCK_BOOTTIME) - shift;
  // Only where a clock would go backwards: after a reboot, or restoring
  // again an image of a process that ran in such a namespace.
  if (mono >= st.monotonic_ns && boot >= st.boottime_ns) return p;
  int64_t elapsed = int64_t(now_ns(CLOCK_REALTIME)) - int64_t(image.header().created_realtime_ns);
  if (elapsed < 0) elapsed = 0;
  p.monotonic_offset_ns = std::max<int64_t>(0, st.monotonic_ns + elapsed - mono);
  p.boottime_offset_ns = std::max<int64_t>(0, st.boottime_ns + elapsed - boot);
  p.needed = true;
  bool other_boot = st.boot_id_hash && st.boot_id_hash != boot_id_hash();
  p.why = std::string(other_boot ? "the image was taken on another boot" : "the image's clocks are ahead of this host's") +
          ": monotonic and boottime clocks continue from the image's (offset " +
          std::to_string(p.monotonic_offset_ns / 1000000000) + " s) in a time namespace";
  return p;
}

bool enter_time_namespace(const ClockPlan& plan, std::string& error) {
  if (unshare(CLONE_NEWTIME) != 0) {
    error = std::string("cannot create a time namespace: ") + strerror(errno);
    return false;
  }
  auto line = [](const char* clock, int64_t ns) {
    return std::string(clock) + " " + std::to_string(ns / 1000000000) + " " + std::to_string(ns % 1000000000) + "\n";
  };
  std::string text = line("monotonic", plan.monotonic_offset_ns) + line("boottime", plan.boottime_offset_ns);
  int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
  bool ok = fd >= 0 && write(fd, text.data(), text.size()) == ssize_t(text.size());
  if (!ok) error = std::string("cannot set the time namespace's offsets: ") + strerror(errno);
  if (fd >= 0) close(fd);
  return ok;
}

}  // namespace ckpt
