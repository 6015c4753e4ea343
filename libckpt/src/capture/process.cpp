#include "process.h"

#include <asm/prctl.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <cstring>
#include <string>

#include "common/raw_syscall.h"
#include "common/xxhash64.h"
#include "file_table.h"
#include "procfs.h"

namespace ckpt {

namespace {

constexpr long kNrKcmp = 312;

std::vector<uint64_t> numbers(const std::string& s, int base) {
  std::vector<uint64_t> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) i++;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') j++;
    if (j > i) out.push_back(parse_u64(s.substr(i, j - i), base));
    i = j;
  }
  return out;
}

// /proc/self/stat fields, 1-based as in proc(5); the comm field may hold
// spaces and parentheses, so counting starts after the last ')'.
bool stat_fields(std::vector<uint64_t>& f) {
  std::string text;
  if (!read_proc_file("/proc/thread-self/stat", text)) return false;
  size_t p = text.rfind(')');
  if (p == std::string::npos) return false;
  f.assign(3, 0);  // fields 0 (unused), 1 (pid), 2 (comm)
  for (uint64_t v : numbers(text.substr(p + 1), 10)) f.push_back(v);  // field 3 (state) parses as 0
  return f.size() > 51;
}

}  // namespace

bool capture_process_basics(ProcessState& st, Msg& err) {
  st.pid = int32_t(ckpt_syscall0(CKPT_NR_getpid));
  st.ppid = int32_t(ckpt_syscall0(CKPT_NR_getppid));
  st.pgid = int32_t(ckpt_syscall1(CKPT_NR_getpgid, 0));
  st.sid = int32_t(ckpt_syscall1(CKPT_NR_getsid, 0));
  read_link("/proc/thread-self/exe", st.exe);

  std::string cmdline;
  if (read_proc_file("/proc/thread-self/cmdline", cmdline)) {
    size_t i = 0;
    while (i < cmdline.size()) {
      size_t e = cmdline.find('\0', i);
      if (e == std::string::npos) e = cmdline.size();
      st.argv.push_back(cmdline.substr(i, e - i));
      i = e + 1;
    }
  }

  char cwd[4096];
  long n = ckpt_syscall2(CKPT_NR_getcwd, long(cwd), sizeof cwd);
  if (n <= 0) {
    err << "cannot read the working directory: " << errno_name(int(-n));
    return false;
  }
  st.cwd = cwd;

  std::string status;
  if (!read_proc_file("/proc/thread-self/status", status)) {
    err << "cannot read /proc/self/status";
    return false;
  }
  if (uint64_t tracer = parse_u64(status_field(status, "TracerPid"))) {
    err << "the process is being traced (by pid " << tracer << ", e.g. a debugger): a ptrace relationship "
        << "cannot be checkpointed";
    return false;
  }
  if (parse_u64(status_field(status, "Seccomp")) != 0) {
    err << "the process runs under a seccomp filter, which cannot be read from inside it; "
           "restoring without it would silently drop the sandbox";
    return false;
  }
  st.umask = uint32_t(parse_u64(status_field(status, "Umask"), 8));
  st.no_new_privs = parse_u64(status_field(status, "NoNewPrivs")) != 0;
  auto uids = numbers(status_field(status, "Uid"), 10);
  auto gids = numbers(status_field(status, "Gid"), 10);
  if (uids.size() != 4 || gids.size() != 4) {
    err << "cannot parse credentials in /proc/self/status";
    return false;
  }
  Credentials& c = st.creds;
  c.ruid = uint32_t(uids[0]); c.euid = uint32_t(uids[1]); c.suid = uint32_t(uids[2]); c.fsuid = uint32_t(uids[3]);
  c.rgid = uint32_t(gids[0]); c.egid = uint32_t(gids[1]); c.sgid = uint32_t(gids[2]); c.fsgid = uint32_t(gids[3]);
  for (uint64_t g : numbers(status_field(status, "Groups"), 10)) c.groups.push_back(uint32_t(g));
  c.cap_inheritable = parse_u64(status_field(status, "CapInh"), 16);
  c.cap_permitted = parse_u64(status_field(status, "CapPrm"), 16);
  c.cap_effective = parse_u64(status_field(status, "CapEff"), 16);

  for (int r = 0; r < RLIM_NLIMITS; r++) {
    struct rlimit rl;
    if (ckpt_syscall4(CKPT_NR_prlimit64, 0, r, 0, long(&rl)) == 0) st.rlimits.push_back({r, rl.rlim_cur, rl.rlim_max});
  }
  st.personality = uint32_t(ckpt_syscall1(CKPT_NR_personality, 0xffffffff));
  st.dumpable = ckpt_syscall2(CKPT_NR_prctl, PR_GET_DUMPABLE, 0) == 1;
  uint64_t xstate = 0;
  if (ckpt_syscall2(CKPT_NR_arch_prctl, ARCH_GET_XCOMP_PERM, long(&xstate)) == 0) st.xstate_permitted = xstate;

  std::vector<uint64_t> f;
  if (!stat_fields(f)) {
    err << "cannot parse /proc/self/stat";
    return false;
  }
  MmFields& m = st.mm;
  m.start_code = f[26]; m.end_code = f[27]; m.start_stack = f[28];
  m.start_data = f[45]; m.end_data = f[46]; m.start_brk = f[47];
  m.arg_start = f[48]; m.arg_end = f[49]; m.env_start = f[50]; m.env_end = f[51];
  m.brk = uint64_t(ckpt_syscall1(CKPT_NR_brk, 0));
  // Which boot, and where the clocks stood: a restore after a reboot can
  // keep CLOCK_MONOTONIC from jumping back (time namespace offsets).
  std::string boot_id;
  if (read_proc_file("/proc/sys/kernel/random/boot_id", boot_id)) st.boot_id_hash = xxh64(boot_id.data(), boot_id.size());
  struct timespec t;
  ckpt_syscall2(CKPT_NR_clock_gettime, CLOCK_MONOTONIC, long(&t));
  st.monotonic_ns = int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;
  ckpt_syscall2(CKPT_NR_clock_gettime, CLOCK_BOOTTIME, long(&t));
  st.boottime_ns = int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;

  std::string auxv;
  if (!read_proc_file("/proc/thread-self/auxv", auxv) || auxv.size() % 16) {
    err << "cannot read /proc/self/auxv";
    return false;
  }
  m.auxv.resize(auxv.size() / 8);
  memcpy(m.auxv.data(), auxv.data(), auxv.size());
  return true;
}

bool check_sysv_ipc(int32_t pid, Msg& err) {
  // Message queues this process sent to or received from last (SysV shared
  // memory shows up as a mapping; semaphores record no pid).
  std::string text;
  if (!read_proc_file("/proc/sysvipc/msg", text)) return true;
  size_t p = text.find('\n');
  while (p != std::string::npos && p + 1 < text.size()) {
    size_t e = text.find('\n', p + 1);
    std::string line = text.substr(p + 1, e == std::string::npos ? std::string::npos : e - p - 1);
    auto cols = numbers(line, 10);
    // key msqid perms cbytes qnum lspid lrpid ...
    if (cols.size() > 6 && (int64_t(cols[5]) == pid || int64_t(cols[6]) == pid)) {
      err << "the process uses SysV message queue " << cols[1] << ", which libckpt does not checkpoint yet";
      return false;
    }
    p = e;
  }
  return true;
}

void link_executable(ProcessState& st, FileTable&) {
  struct stat sb;
  if (ckpt_syscall4(CKPT_NR_newfstatat, AT_FDCWD, long("/proc/thread-self/exe"), long(&sb), 0) != 0) return;
  for (size_t i = 0; i < st.files.size(); i++)
    if (st.files[i].dev == sb.st_dev && st.files[i].ino == sb.st_ino) st.exe_file = int32_t(i);
}

bool capture_children(ProcessState& st, int32_t tid, const int32_t* tids, size_t ntids, Msg& err) {
  std::string text;
  if (!read_proc_file((Msg() << "/proc/self/task/" << tid << "/children").c_str(), text)) return true;
  for (uint64_t pid : numbers(text, 10)) {
    if (ckpt_syscall5(kNrKcmp, st.pid, long(pid), KCMP_VM, 0, 0) == 0) {
      err << "child process " << pid << " shares the process's memory (vfork() or clone(CLONE_VM)); a process "
          << "whose address space another process uses cannot be checkpointed";
      return false;
    }
    std::string status;
    if (read_proc_file((Msg() << "/proc/" << pid << "/status").c_str(), status)) {
      int64_t tracer = int64_t(parse_u64(status_field(status, "TracerPid")));
      for (size_t i = 0; i < ntids; i++)
        if (tracer && tids[i] == tracer) {
          err << "the process traces its child process " << pid << " (ptrace, from thread " << tracer
              << "): a ptrace relationship cannot be checkpointed";
          return false;
        }
    }
    st.children.push_back(int32_t(pid));
  }
  return true;
}

}  // namespace ckpt
