// CLOCK_MONOTONIC and CLOCK_BOOTTIME across a reboot.
//
// On the boot that took the image the clocks simply continue (the time
// between checkpoint and restore shows as time passed). After a reboot they
// would jump back, which breaks timeouts and anything ordering events by
// monotonic time, so the restored process gets a time namespace whose
// offsets make both clocks read what they read at the checkpoint plus the
// wall-clock time elapsed since. (The same holds when an image of a process
// restored that way is restored again.) Creating one needs CAP_SYS_ADMIN (root) or
// a user namespace (the namespace identity mode); without either the clocks
// restart from the host's and ckpt-run says so.
#pragma once
#include <cstdint>
#include <string>

#include "image/image_reader.h"

namespace ckpt {

struct ClockPlan {
  bool needed = false;             // a time namespace should be created
  int64_t monotonic_offset_ns = 0;
  int64_t boottime_offset_ns = 0;
  std::string why;                 // for -v and warnings
};

ClockPlan plan_clocks(const ImageReader& image);

// unshare(CLONE_NEWTIME) and set the offsets: applies to the children the
// caller creates afterwards. False (and `error`) if the kernel refuses.
bool enter_time_namespace(const ClockPlan& plan, std::string& error);

}  // namespace ckpt
