#include "log.h"

#include "common/raw_syscall.h"

namespace ckpt {

bool g_verbose = false;

namespace {
long g_pid_override = 0;

void emit(const char* level, const Msg& m) {
  Msg line;
  line << "libckpt[" << (g_pid_override ? g_pid_override : ckpt_syscall0(CKPT_NR_getpid)) << "]: " << level
       << m.c_str() << "\n";
  ckpt_syscall3(CKPT_NR_write, 2, long(line.c_str()), long(line.size()));
}
}  // namespace

void log_as_pid(long pid) { g_pid_override = pid; }

void log_error(const Msg& m) { emit("error: ", m); }
void log_warning(const Msg& m) { emit("warning: ", m); }
void log_info(const Msg& m) {
  if (g_verbose) emit("", m);
}

}  // namespace ckpt
