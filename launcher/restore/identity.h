// Which pid and thread ids the restored process gets, and how.
//
//   same-pid   root or CAP_CHECKPOINT_RESTORE, ids free: clone3(set_tid) in
//              ckpt-run's pid namespace.
//   namespace  otherwise, where the kernel allows it: a fresh pid namespace
//              (plus a user namespace for ordinary users, plus a mount
//              namespace with its own /proc, so /proc/self is the process)
//              with a small init as pid 1; the application gets its ids
//              inside it and has no capabilities when it resumes.
//   new-pid    only with --new-pid: whatever ids the kernel hands out.
//              libckpt fixes the tids glibc keeps in struct pthread; tids
//              recorded elsewhere (mutex owners, robust futexes, the
//              application's own copies) stay stale.
#pragma once
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "clocks.h"
#include "common/restore_info.h"

namespace ckpt {

struct IdentityChoice {
  uint32_t mode = CKPT_IDENTITY_SAME_PID;
  std::string why_not_same_pid;  // empty when same-pid is possible
};

// Decides from privileges and which ids are free; throws RestoreError when
// nothing works and --new-pid was not given.
IdentityChoice choose_identity(pid_t pid, const std::vector<pid_t>& tids, bool allow_new_pid);

class RestoredProcess {
 public:
  // Creates the process that becomes the application. In that process
  // `become_app` runs and never returns. Throws RestoreError.
  // `app_only_fds` are closed in the namespace's init (they belong to the
  // application). A pid that turns out to be taken (a process group or
  // session still holds it) is waited for briefly, then `mode` switches to a
  // namespace where the kernel allows one; `become_app` sees the final mode.
  // `clocks`: a time namespace to create for the application (done here
  // for root, by the namespace's init for an ordinary user).
  void start(uint32_t& mode, pid_t want_pid, const ClockPlan& clocks, const std::function<void()>& become_app,
             const std::vector<int>& app_only_fds);
  // The application's pid as the caller sees it (after it reported ready).
  pid_t app_pid() const;
  // Forwards a signal to the application.
  void forward(int sig) const;
  // Waits for the application to end (or stop) and returns its wait status.
  int wait() const;

 private:
  uint32_t mode_ = 0;
  pid_t child_ = -1;     // the application, or the namespace's init
  int status_fd_ = -1;   // namespace mode: the init reports the application's wait status here
};

std::string describe_identity(uint32_t mode);

}  // namespace ckpt
