// libckpt's messages go to the application's stderr, prefixed "libckpt[pid]:",
// written with one raw write(2) so they are async-signal-safe and never
// interleave within a line. Only warnings and errors are printed unless
// CKPT_VERBOSE=1.
#pragma once
#include "common/msg.h"

namespace ckpt {

void log_error(const Msg& m);
void log_warning(const Msg& m);
void log_info(const Msg& m);  // only with CKPT_VERBOSE=1
extern bool g_verbose;
// The forked image writer speaks for the application: its messages carry the
// application's pid, not its own.
void log_as_pid(long pid);

}  // namespace ckpt
