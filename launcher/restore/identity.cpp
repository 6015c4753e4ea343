#include "identity.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "address_space.h"

namespace ckpt {

namespace {

bool has_capability(int cap) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("CapEff:", 0) == 0) return (strtoull(line.c_str() + 7, nullptr, 16) >> cap) & 1;
  return false;
}

bool id_in_use(pid_t id) { return access(("/proc/" + std::to_string(id)).c_str(), F_OK) == 0; }

std::string process_name(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
  std::string s;
  std::getline(f, s);
  return s.empty() ? "?" : s;
}

bool user_namespaces_allowed() {
  std::ifstream f("/proc/sys/user/max_user_namespaces");
  long n = 0;
  if (!(f >> n) || n <= 0) return false;
  std::ifstream g("/proc/sys/kernel/unprivileged_userns_clone");  // Debian/Ubuntu knob, absent upstream
  long on = 1;
  if (g >> on && on == 0) return false;
  return true;
}

// clone3 returning like fork(). `want`: the pid to ask for (0: any).
pid_t clone_process(pid_t want, uint64_t flags) {
  struct clone_args a;
  memset(&a, 0, sizeof a);
  a.flags = flags;
  a.exit_signal = SIGCHLD;
  pid_t tid[1] = {want};
  if (want) {
    a.set_tid = uint64_t(tid);
    a.set_tid_size = 1;
  }
  return pid_t(syscall(SYS_clone3, &a, sizeof a));
}

bool write_file(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == ssize_t(text.size());
  close(fd);
  return ok;
}

// pid 1 of the restore's pid namespace: starts the application with its pid,
// reaps, forwards signals, and reports the application's wait statuses: each
// stop (Ctrl-Z: ckpt-run's terminal handling must see it as in same-pid
// mode) and then its end.
pid_t g_ns_app = 0;
void ns_forward(int sig) {
  if (g_ns_app > 0) kill(g_ns_app, sig);
}

[[noreturn]] void namespace_init(pid_t want, int ready_in, int status_out, const ClockPlan* clocks,
                                 const std::function<void()>& become_app, const std::vector<int>& app_only_fds) {
  char go;
  if (read(ready_in, &go, 1) != 1) _exit(1);  // the parent failed to set up our maps
  close(ready_in);
  std::string clock_error;
  if (clocks && !enter_time_namespace(*clocks, clock_error))
    fprintf(stderr, "ckpt-run: warning: %s; monotonic clocks restart from this boot's\n", clock_error.c_str());
  // Our own /proc, so that /proc/self is the restored process.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
    fprintf(stderr, "ckpt-run: warning: cannot mount /proc in the restore namespace (%s): /proc/self shows "
                    "the namespace's view only partly\n", strerror(errno));
  pid_t app = clone_process(want, 0);
  if (app < 0) {
    fprintf(stderr, "ckpt-run: cannot create pid %d in the restore namespace: %s\n", want, strerror(errno));
    _exit(1);
  }
  if (app == 0) {
    close(status_out);
    become_app();
    _exit(1);
  }
  g_ns_app = app;
  for (int fd : app_only_fds) close(fd);
  for (int sig : {SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGCONT, SIGWINCH}) signal(sig, ns_forward);
  for (;;) {
    int status;
    pid_t r = waitpid(-1, &status, WUNTRACED);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) _exit(1);
    if (r != app) continue;
    if (write(status_out, &status, sizeof status) < 0) {}
    if (!WIFSTOPPED(status)) _exit(0);  // the namespace and anything left in it ends with us
  }
}

}  // namespace

std::string describe_identity(uint32_t mode) {
  switch (mode) {
    case CKPT_IDENTITY_SAME_PID: return "same pid (clone3 set_tid)";
    case CKPT_IDENTITY_NAMESPACE: return "same pid inside a new pid namespace";
    case CKPT_IDENTITY_NEW_PID: return "new pid (--new-pid)";
  }
  return "?";
}

IdentityChoice choose_identity(pid_t pid, const std::vector<pid_t>& tids, bool allow_new_pid) {
  IdentityChoice c;
  bool privileged = has_capability(21 /* CAP_SYS_ADMIN */) || has_capability(40 /* CAP_CHECKPOINT_RESTORE */);
  if (!privileged) c.why_not_same_pid = "restoring the original pid needs root or CAP_CHECKPOINT_RESTORE";
  for (pid_t t : tids)
    if (c.why_not_same_pid.empty() && id_in_use(t))
      c.why_not_same_pid = (t == pid ? "pid " : "thread id ") + std::to_string(t) + " is in use by " +
                           process_name(t) + " (a killed process's pid stays taken until it is reaped)";
  if (c.why_not_same_pid.empty()) return c;
  if (privileged || user_namespaces_allowed()) {
    c.mode = CKPT_IDENTITY_NAMESPACE;
    return c;
  }
  if (allow_new_pid) {
    c.mode = CKPT_IDENTITY_NEW_PID;
    return c;
  }
  throw RestoreError(c.why_not_same_pid + ", and user namespaces are disabled; use --new-pid to restore under a new pid");
}

void RestoredProcess::start(uint32_t& mode, pid_t want_pid, const ClockPlan& clocks,
                            const std::function<void()>& become_app, const std::vector<int>& app_only_fds) {
  // Root creates the time namespace here, for every child from now on; an
  // ordinary user's namespace init creates it inside its user namespace.
  bool root = geteuid() == 0;
  const ClockPlan* init_clocks = nullptr;
  if (clocks.needed) {
    std::string error;
    if (root) {
      if (!enter_time_namespace(clocks, error))
        fprintf(stderr, "ckpt-run: warning: %s; monotonic clocks restart from this boot's\n", error.c_str());
    } else if (mode == CKPT_IDENTITY_NAMESPACE) {
      init_clocks = &clocks;
    } else {
      fprintf(stderr, "ckpt-run: warning: the image is from another boot and creating a time namespace needs root "
                      "or a user namespace: monotonic clocks restart from this boot's\n");
    }
  }
  if (mode == CKPT_IDENTITY_SAME_PID) {
    // /proc/PID can be gone while the pid still names a process group or a
    // session (a shell's job, a terminal's foreground group): retry a little.
    for (int attempt = 0; attempt < 20; attempt++) {
      child_ = clone_process(want_pid, 0);
      if (child_ >= 0 || errno != EEXIST) break;
      usleep(100000);
    }
    if (child_ < 0 && errno == EEXIST && (geteuid() == 0 || user_namespaces_allowed())) {
      fprintf(stderr, "ckpt-run: pid %d is still taken; restoring it inside a new pid namespace\n", want_pid);
      mode = CKPT_IDENTITY_NAMESPACE;
    } else {
      mode_ = mode;
      if (child_ < 0) throw RestoreError("cannot create the process (pid " + std::to_string(want_pid) + "): " + strerror(errno));
      if (child_ == 0) {
        become_app();
        _exit(1);
      }
      return;
    }
  }
  mode_ = mode;
  if (mode != CKPT_IDENTITY_NAMESPACE) {
    child_ = clone_process(0, 0);
    if (child_ < 0) throw RestoreError(std::string("cannot create the process: ") + strerror(errno));
    if (child_ == 0) {
      become_app();
      _exit(1);
    }
    return;
  }
  int go[2], status[2];
  if (pipe2(go, O_CLOEXEC) != 0 || pipe2(status, O_CLOEXEC) != 0)
    throw RestoreError(std::string("cannot create pipes: ") + strerror(errno));
  uint64_t flags = CLONE_NEWPID | CLONE_NEWNS | (root ? 0 : CLONE_NEWUSER);
  uid_t uid = getuid();
  gid_t gid = getgid();
  child_ = clone_process(0, flags);
  if (child_ < 0) throw RestoreError(std::string("cannot create a pid namespace for the restore: ") + strerror(errno));
  if (child_ == 0) {
    close(go[1]);
    close(status[0]);
    namespace_init(want_pid, go[0], status[1], init_clocks, become_app, app_only_fds);
  }
  close(go[0]);
  close(status[1]);
  status_fd_ = status[0];
  if (!root) {
    // Inside, the user keeps its own uid and gid (mapped to themselves).
    std::string base = "/proc/" + std::to_string(child_) + "/";
    if (!write_file(base + "uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1\n") ||
        !write_file(base + "setgroups", "deny") ||
        !write_file(base + "gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1\n")) {
      kill(child_, SIGKILL);
      waitpid(child_, nullptr, 0);
      throw RestoreError(std::string("cannot set up the user namespace: ") + strerror(errno));
    }
  }
  char c = 1;
  if (write(go[1], &c, 1) != 1) {}
  close(go[1]);
}

pid_t RestoredProcess::app_pid() const {
  if (mode_ != CKPT_IDENTITY_NAMESPACE) return child_;
  std::ifstream f("/proc/" + std::to_string(child_) + "/task/" + std::to_string(child_) + "/children");
  pid_t p = 0;
  f >> p;
  return p > 0 ? p : child_;
}

void RestoredProcess::forward(int sig) const {
  pid_t p = app_pid();
  if (p > 0) kill(p, sig);
}

int RestoredProcess::wait() const {
  int status = 0;
  if (mode_ == CKPT_IDENTITY_NAMESPACE) {
    // The namespace's init reports the application's stops and its end.
    ssize_t n;
    while ((n = read(status_fd_, &status, sizeof status)) < 0 && errno == EINTR) {}
    if (n == sizeof status && WIFSTOPPED(status)) return status;
    int init_status = 0;
    while (waitpid(child_, &init_status, 0) < 0 && errno == EINTR) {}
    return n == sizeof status ? status : init_status;
  }
  // Stops are reported too (job control).
  while (waitpid(child_, &status, WUNTRACED) < 0)
    if (errno != EINTR) return status;
  return status;
}

}  // namespace ckpt
