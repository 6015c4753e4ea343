// ckpt-run --restore IMAGE.
//
//   ckpt-run (parent)                      restored process (child)
//   validate the image completely
//   check the host (CPU, vdso, files)
//   create the child with the image's pid ---> cwd, umask, fds at temporary numbers
//                                              map regions, decompress pages
//                                              limits, plan, jump to the restorer
//                                              (restorer: see restorer/restorer.c)
//   wait for "ready" (or an error message) <--- ready byte / error text on pipes
//   write --pid-file, forward signals,
//   exit with the application's status
//
// Nothing in the address space changes before the image passed every
// check; a failure in the child ends the child, never a half-restored
// process left running.
#include <asm/prctl.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>

#include "actions.h"
#include "common/path_limits.h"
#include "files.h"
#include "fs_creds.h"
#include "host_check.h"
#include "identity.h"
#include "terminal.h"
#include "image/chain.h"
#include "memory.h"
#include "plan.h"
#include "program_check.h"

namespace ckpt {

namespace {

const RestoredProcess* g_process = nullptr;

double since_ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// The launcher must not share the image's layout (setarch -R, gdb): with
// ASLR off both would sit at the same addresses every time.
void reexec_if_aslr_disabled(char** argv) {
  int pers = personality(0xffffffff);
  if (pers == -1 || !(pers & ADDR_NO_RANDOMIZE) || getenv("CKPT_ASLR_REEXEC")) return;
  personality(pers & ~ADDR_NO_RANDOMIZE);
  setenv("CKPT_ASLR_REEXEC", "1", 1);
  execv("/proc/self/exe", argv);
  personality(pers);  // exec failed: carry on, collisions are still handled
}

void forward_signal(int sig, siginfo_t*, void*) {
  // The application has a process group of its own: whatever reaches
  // ckpt-run (kill, a terminal where ckpt-run is in the foreground) is
  // passed on.
  if (g_process) g_process->forward(sig);
}

void write_pid_file(const std::string& path, pid_t pid) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  FILE* f = fopen(tmp.c_str(), "w");
  if (!f || fprintf(f, "%d\n", pid) < 0 || fclose(f) != 0 || rename(tmp.c_str(), path.c_str()) != 0)
    fprintf(stderr, "ckpt-run: cannot write the pid file %s: %s\n", path.c_str(), strerror(errno));
}

const char* const kLimitNames[] = {"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
                                   "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"};

// RLIMIT_NOFILE is set by the restorer once every descriptor has its number
// (the application may hold descriptors at or above its own limit, and ours
// at temporary numbers above all of them). Until then our soft limit goes as
// high as we may. Returns what the restorer sets: the image's limits, or
// ours where raising the hard limit is not permitted.
struct NofileLimit {
  bool set = false;
  uint64_t cur = 0, max = 0;
};

NofileLimit prepare_nofile(const ProcessState& st, std::vector<std::string>& warnings) {
  NofileLimit out;
  struct rlimit cur;
  if (getrlimit(RLIMIT_NOFILE, &cur) != 0) return out;
  // Temporaries (about two per open file, and a few of our own) sit above
  // the application's highest number.
  rlim_t needed = 3 + st.open_files.size() * 2 + 64;
  for (const FdState& d : st.fds) needed = std::max<rlim_t>(needed, rlim_t(d.fd) + 1 + st.open_files.size() * 2 + 64);
  struct rlimit high = {cur.rlim_max, cur.rlim_max};
  struct rlimit more = {needed, needed};
  if (cur.rlim_max < needed && setrlimit(RLIMIT_NOFILE, &more) == 0) high = more;  // root may
  setrlimit(RLIMIT_NOFILE, &high);
  for (const Rlimit& r : st.rlimits) {
    if (r.resource != RLIMIT_NOFILE) continue;
    out = {true, r.cur, r.max};
    struct rlimit now;
    getrlimit(RLIMIT_NOFILE, &now);
    struct rlimit raise = {now.rlim_cur, std::max<rlim_t>(now.rlim_max, r.max)};
    if (r.max > now.rlim_max && setrlimit(RLIMIT_NOFILE, &raise) != 0) {
      // Raising a hard limit needs CAP_SYS_RESOURCE: keep ours, within the image's soft limit.
      warnings.push_back(std::string("cannot set RLIMIT_NOFILE as saved: ") + strerror(errno));
      out.cur = std::min<uint64_t>(r.cur, now.rlim_max);
      out.max = now.rlim_max;
    }
  }
  return out;
}

void set_limits(const ProcessState& st, std::vector<std::string>& warnings) {
  for (const Rlimit& r : st.rlimits) {
    if (r.resource == RLIMIT_NOFILE) continue;  // prepare_nofile
    struct rlimit cur;
    if (getrlimit(r.resource, &cur) == 0 && cur.rlim_cur == r.cur && cur.rlim_max == r.max) continue;
    struct rlimit want = {r.cur, r.max};
    if (setrlimit(r.resource, &want) != 0) {
      // Raising a hard limit needs CAP_SYS_RESOURCE: keep ours, within the image's soft limit.
      struct rlimit fallback = {std::min<rlim_t>(r.cur, cur.rlim_max), cur.rlim_max};
      setrlimit(r.resource, &fallback);
      warnings.push_back(std::string("cannot set RLIMIT_") + (r.resource < 16 ? kLimitNames[r.resource] : "?") +
                         " as saved: " + strerror(errno));
    }
  }
}

// The application may have enabled xsave components that need permission
// (AMX tile data): its saved signal frames carry their state, and
// rt_sigreturn rejects a frame larger than the process is allowed.
void enable_xstate_components(const ProcessState& st) {
  uint64_t have = 0;
  if (!st.xstate_permitted || syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &have) != 0) return;
  for (int bit = 0; bit < 64; bit++) {
    if (!((st.xstate_permitted & ~have) >> bit & 1)) continue;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, bit) != 0)
      throw RestoreError("cannot enable xsave component " + std::to_string(bit) +
                         " (ARCH_REQ_XCOMP_PERM), which the application had enabled: " + strerror(errno));
    syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &have);
  }
}

// Runs in the child: prepares everything, then hands over to the restorer.
[[noreturn]] void child_main(const ImageChain& chain, const Options& o, int ready_fd, int error_fd, uint32_t identity,
                             const TerminalHandover& terminal) {
  const ProcessState& st = chain.newest().state();
  try {
    prctl(PR_SET_PDEATHSIG, 0);
    terminal.in_child();
    // From here on every path is looked up with the image user's rights
    // (fs_creds.h); the restorer then takes the image's full credentials.
    ImageFsCredentials as_image_user(st.creds);
    std::vector<std::string> warnings;
    if (chdir(st.cwd.c_str()) != 0)
      throw RestoreError("cannot enter the working directory " + st.cwd + " as uid " + std::to_string(st.creds.fsuid) +
                         ": " + strerror(errno));
    umask(st.umask);
    enable_xstate_components(st);
    NofileLimit nofile = prepare_nofile(st, warnings);
    FdPlan fds = prepare_fds(st, chain.newest(), warnings);
    FreeSpace space;
    MemoryRestorer memory(chain, space, fds.memfd_by_inode);
    auto t0 = std::chrono::steady_clock::now();
    memory.map_regions();
    memory.fill_pages();
    memory.apply_region_flags(warnings);
    if (o.verbose)
      fprintf(stderr, "ckpt-run: %llu pages in place in %.1f ms\n", (unsigned long long)memory.pages_written(),
              since_ms(t0));
    set_limits(st, warnings);
    for (const std::string& w : warnings) fprintf(stderr, "ckpt-run: warning: %s\n", w.c_str());
    ready_fd = move_above(ready_fd, fds.temp_base);
    error_fd = move_above(error_fd, fds.temp_base);
    RestoreContext c{&chain, &memory, &fds, &space, ready_fd, error_fd, identity, int32_t(getpid()),
                     o.images_dir, o.target, o.verbose,  // both absolute (run_restore)
                     nofile.set, nofile.cur, nofile.max};
    enter_restorer(c);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    if (write(error_fd, msg.data(), msg.size()) < 0) {}
  }
  _exit(kExitFailure);
}

int wait_for_application(const RestoredProcess& proc, const TerminalHandover& terminal) {
  for (int sig : {SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGCONT, SIGWINCH}) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = forward_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(sig, &sa, nullptr);
  }
  int status;
  for (;;) {
    status = proc.wait();
    if (!WIFSTOPPED(status)) break;
    terminal.on_stop(proc.app_pid());
  }
  terminal.take_back();
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  int sig = WTERMSIG(status);
  // Die the same way, so that our caller sees what the application did.
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  signal(sig, SIG_DFL);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, sig);
  sigprocmask(SIG_UNBLOCK, &s, nullptr);
  raise(sig);
  return 128 + sig;
}

}  // namespace

int run_restore(const Options& given, char** argv) {
  reexec_if_aslr_disabled(argv);
  auto t0 = std::chrono::steady_clock::now();
  // Relative paths are the caller's: resolved here, before the child enters
  // the application's saved working directory.
  Options o = given;
  o.target = absolute_path(given.target);
  if (!given.images_dir.empty()) o.images_dir = absolute_path(given.images_dir);
  if (!given.pid_file.empty()) o.pid_file = absolute_path(given.pid_file);
  if (o.target.size() > CKPT_MAX_IMAGE_PATH) {
    fprintf(stderr, "ckpt-run: --restore: the image path is %zu bytes long; at most %d are supported\n",
            o.target.size(), CKPT_MAX_IMAGE_PATH);
    return kExitUsage;
  }
  std::string bad = o.images_dir.empty() ? "" : check_images_dir(o.images_dir);
  if (!bad.empty()) {
    fprintf(stderr, "ckpt-run: --images: %s\n", bad.c_str());
    return kExitUsage;
  }
  if (!o.pid_file.empty() && !(bad = check_pid_file(o.pid_file)).empty()) {
    fprintf(stderr, "ckpt-run: --pid-file: %s\n", bad.c_str());
    return kExitUsage;
  }
  std::unique_ptr<ImageChain> chain;
  try {
    chain = std::make_unique<ImageChain>(o.target);
    chain->verify_pages();
  } catch (const std::exception& e) {
    fprintf(stderr, "ckpt-run: cannot restore: %s\n", e.what());
    return kExitFailure;
  }
  const ProcessState& st = chain->newest().state();
  if (chain->newest().is_range()) {
    fprintf(stderr, "ckpt-run: cannot restore: %s is a range image (ckpt_save_range); load it with ckpt_load_range\n",
            o.target.c_str());
    return kExitFailure;
  }
  std::vector<std::string> problems;
  try {
    ImageFsCredentials as_image_user(st.creds);  // the checks see only what the image's user may see
    problems = host_problems(chain->newest(), find_library(), o.allow_changed_files);
  } catch (const std::exception& e) {
    fprintf(stderr, "ckpt-run: cannot restore: %s\n", e.what());
    return kExitFailure;
  }
  if (!problems.empty()) {
    fprintf(stderr, "ckpt-run: cannot restore %s on this host:\n", o.target.c_str());
    for (const std::string& p : problems) fprintf(stderr, "  - %s\n", p.c_str());
    return kExitFailure;
  }

  // Identity: the original pid and tids where the kernel lets us have them.
  IdentityChoice identity;
  try {
    std::vector<pid_t> tids;
    for (const ThreadState& t : st.threads) tids.push_back(t.tid);
    identity = choose_identity(st.pid, tids, o.new_pid);
  } catch (const std::exception& e) {
    fprintf(stderr, "ckpt-run: cannot restore: %s\n", e.what());
    return kExitFailure;
  }
  if (o.verbose && !identity.why_not_same_pid.empty())
    fprintf(stderr, "ckpt-run: %s: restoring with %s\n", identity.why_not_same_pid.c_str(),
            describe_identity(identity.mode).c_str());

  if (!st.children.empty()) {
    std::string pids;
    for (int32_t c : st.children) pids += (pids.empty() ? "" : ", ") + std::to_string(c);
    fprintf(stderr, "ckpt-run: warning: the process had child processes when it was checkpointed (%s); they are "
                    "not part of the image: the restored process has none (wait() reports ECHILD)\n", pids.c_str());
  }
    ClockPlan clocks = plan_clocks(chain->newest());
  if (o.verbose && clocks.needed) fprintf(stderr, "ckpt-run: %s\n", clocks.why.c_str());

  int ready[2], error[2];
  if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(error, O_CLOEXEC) != 0) {
    fprintf(stderr, "ckpt-run: cannot create pipes: %s\n", strerror(errno));
    return kExitFailure;
  }
  fflush(nullptr);
  TerminalHandover terminal;
  RestoredProcess proc;
  try {
    proc.start(identity.mode, st.pid, clocks, [&] {
      close(ready[0]);
      close(error[0]);
      child_main(*chain, o, ready[1], error[1], identity.mode, terminal);
    }, {ready[1], error[1]});
  } catch (const std::exception& e) {
    fprintf(stderr, "ckpt-run: cannot restore: %s\n", e.what());
    return kExitFailure;
  }
  g_process = &proc;
  close(ready[1]);
  close(error[1]);
  char byte = 0;
  ssize_t n;
  while ((n = read(ready[0], &byte, 1)) < 0 && errno == EINTR) {}
  close(ready[0]);
  if (n != 1) {
    std::string msg;
    char buf[1024];
    ssize_t k;
    while ((k = read(error[0], buf, sizeof buf)) > 0) msg.append(buf, size_t(k));
    int status = proc.wait();
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    if (msg.empty())
      msg = WIFSIGNALED(status) ? std::string("the process died with signal ") + strsignal(WTERMSIG(status))
                                : "the process exited with status " + std::to_string(WEXITSTATUS(status));
    fprintf(stderr, "ckpt-run: restore of %s failed: %s\n", o.target.c_str(), msg.c_str());
    return kExitFailure;
  }
  close(error[0]);
  pid_t pid = proc.app_pid();
  if (o.verbose)
    fprintf(stderr, "ckpt-run: restored pid %d from %s in %.1f ms (%s)\n", pid, o.target.c_str(), since_ms(t0),
            describe_identity(identity.mode).c_str());
  if (!o.pid_file.empty()) write_pid_file(o.pid_file, pid);
  chain.reset();
  return wait_for_application(proc, terminal);
}

}  // namespace ckpt
