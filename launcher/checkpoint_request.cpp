// ckpt-run --checkpoint PID: asks a process running under libckpt for a
// checkpoint and waits for its image (common/control_block.h has the protocol).
#include <dirent.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "actions.h"
#include "common/control_block.h"

namespace ckpt {

namespace {

// Finds libckpt's control block among the descriptors in DIR (/proc/PID/fd).
int find_control_fd(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return -1;
  int fd = -1;
  const std::string want = std::string("/memfd:") + CKPT_CONTROL_NAME;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string link = dir + "/" + e->d_name;
    char target[256];
    ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = 0;
    if (strncmp(target, want.c_str(), want.size()) == 0) {
      fd = open(link.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) break;
    }
  }
  closedir(d);
  return fd;
}

// Finds libckpt's control block among PID's descriptors. A process whose
// main thread called pthread_exit() shows no descriptors in /proc/PID/fd
// (its leader is a zombie): look through its other threads then.
int open_control_block(pid_t pid) {
  std::string base = "/proc/" + std::to_string(pid);
  int fd = find_control_fd(base + "/fd");
  if (fd >= 0) return fd;
  DIR* d = opendir((base + "/task").c_str());
  if (!d) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.' || atoi(e->d_name) == pid) continue;
    fd = find_control_fd(base + "/task/" + e->d_name + "/fd");
    if (fd >= 0) break;
  }
  closedir(d);
  return fd;
}

// A child of `pid` that shares its memory (vfork(), clone(CLONE_VM)), or 0.
// A process in vfork() takes no signal until that child execs or exits, so
// the request would just wait; libckpt refuses the other kind anyway.
pid_t child_sharing_memory(pid_t pid) {
  std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(tasks.c_str());
  if (!d) return 0;
  pid_t found = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.' || found) continue;
    std::ifstream f(tasks + "/" + e->d_name + "/children");
    pid_t child;
    while (!found && f >> child)
      if (syscall(SYS_kcmp, pid, child, KCMP_VM, 0, 0) == 0) found = child;
  }
  closedir(d);
  return found;
}

bool catches_signal(pid_t pid, int sig) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("SigCgt:", 0) == 0) {
      unsigned long long mask = strtoull(line.c_str() + 7, nullptr, 16);
      return (mask >> (sig - 1)) & 1;
    }
  return false;
}

// The checkpoint signal PID was started with: CKPT_SIGNAL in its
// environment, else the default.
int signal_from_environment(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  std::string var;
  while (std::getline(f, var, '\0'))
    if (var.rfind("CKPT_SIGNAL=", 0) == 0) return atoi(var.c_str() + 12);
  return default_ckpt_signal();
}

const ckpt_control_block* map_block(int fd) {
  void* p = mmap(nullptr, sizeof(ckpt_control_block), PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  return p == MAP_FAILED ? nullptr : static_cast<const ckpt_control_block*>(p);
}

}  // namespace

int run_checkpoint(const Options& o) {
  char* end;
  long pid_l = strtol(o.target.c_str(), &end, 10);
  if (o.target.empty() || *end || pid_l <= 0 || pid_l > (1 << 22)) {
    fprintf(stderr, "ckpt-run: --checkpoint: '%s' is not a process id\n", o.target.c_str());
    return kExitUsage;
  }
  pid_t pid = pid_t(pid_l);
  if (kill(pid, 0) != 0 && errno == ESRCH) {
    fprintf(stderr, "ckpt-run: --checkpoint: no process %d\n", pid);
    return kExitFailure;
  }
  int fd = open_control_block(pid);
  const ckpt_control_block* cb = nullptr;
  int sig;
  bool caught = false;
  if (fd >= 0) {
    cb = map_block(fd);
    if (!cb || memcmp(cb->magic, CKPT_CONTROL_MAGIC, 8) != 0 || !__atomic_load_n(&cb->ready, __ATOMIC_ACQUIRE)) {
      fprintf(stderr, "ckpt-run: --checkpoint: process %d is not ready for checkpoints; nothing sent\n", pid);
      return kExitFailure;
    }
    // Between two programs (exec): the next one takes the block over and sets
    // ready to 1 once its handler is in place; its SigCgt is clear until then.
    // (Loading a program takes milliseconds; one that never loads libckpt
    // after all, e.g. setuid, would keep this state.)
    auto exec_deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(std::min(o.timeout_s, 30.0));
    auto execing = [&] {
      uint32_t r = __atomic_load_n(&cb->ready, __ATOMIC_ACQUIRE);
      return r == CKPT_CONTROL_EXEC || r == CKPT_CONTROL_EXEC_MASKED;
    };
    // SigCgt is read once, here: a signal sent after an exec began is blocked
    // (exec.cpp blocks it before marking the block) and taken by the next
    // program, so "caught when looked at" is what counts.
    for (;;) {
      while (execing() && std::chrono::steady_clock::now() < exec_deadline && kill(pid, 0) == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      if (execing()) {
        fprintf(stderr, "ckpt-run: --checkpoint: process %d is still starting the program it exec'd; nothing sent\n",
                pid);
        return kExitFailure;
      }
      if (!__atomic_load_n(&cb->ready, __ATOMIC_ACQUIRE)) {
        fprintf(stderr, "ckpt-run: --checkpoint: process %d exec'd a program that does not run under libckpt; "
                        "nothing sent\n", pid);
        return kExitFailure;
      }
      caught = catches_signal(pid, cb->ckpt_signal);
      if (caught || !execing()) break;  // else an exec began meanwhile: wait again
    }
    sig = cb->ckpt_signal;
  } else {
    std::string fds = "/proc/" + std::to_string(pid) + "/fd";
    if (access(fds.c_str(), R_OK | X_OK) != 0) {
      // The kernel hides a process's descriptors from other users, and from
      // its own user too when it is not dumpable (setuid, prctl(PR_SET_DUMPABLE, 0)).
      int e = errno;
      fprintf(stderr,
              "ckpt-run: --checkpoint: cannot read %s (%s): process %d belongs to another user or is not "
              "dumpable (prctl PR_SET_DUMPABLE 0); ask root to checkpoint it; nothing sent\n",
              fds.c_str(), strerror(e), pid);
      return kExitFailure;
    }
    // No control block among its descriptors: either not libckpt, or the
    // application closed libckpt's descriptor with a raw close_range() or
    // close() system call. libckpt re-creates it when the request arrives;
    // what tells that libckpt runs there is that the checkpoint signal is
    // caught (libckpt's handler; an application never sees that signal).
    sig = signal_from_environment(pid);
    caught = sig > 0 && sig <= 64 && catches_signal(pid, sig);
    if (!caught) {
      fprintf(stderr, "ckpt-run: --checkpoint: process %d does not run under libckpt; nothing sent\n", pid);
      return kExitFailure;
    }
    if (o.verbose)
      fprintf(stderr, "ckpt-run: process %d has no control block descriptor (closed by the application?); "
                      "sending signal %d and waiting for libckpt to re-create it\n", pid, sig);
  }
  const char* vfork_note = "a process in vfork() takes no signal until that child execs or exits";
  if (pid_t child = child_sharing_memory(pid)) {
    fprintf(stderr, "ckpt-run: --checkpoint: process %d cannot be checkpointed now: its child %d shares its memory "
                    "(vfork() or clone(CLONE_VM)); %s; nothing sent\n", pid, child, vfork_note);
    return kExitFailure;
  }
  if (!caught) {
    fprintf(stderr, "ckpt-run: --checkpoint: process %d does not catch its checkpoint signal %d; nothing sent\n",
            pid, sig);
    return kExitFailure;
  }
  uint32_t token = 0;
  while (token == 0) getrandom(&token, sizeof token, 0);
  int pidfd = int(syscall(SYS_pidfd_open, pid, 0));
  union sigval v;
  v.sival_int = int(token);
  if (sigqueue(pid, sig, v) != 0) {
    fprintf(stderr, "ckpt-run: --checkpoint: cannot signal process %d: %s\n", pid, strerror(errno));
    return kExitFailure;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.timeout_s);
  auto next_vfork_check = std::chrono::steady_clock::now();
  int vfork_seen = 0;  // consecutive checks that found a child sharing the memory
  for (;;) {
    if (!cb) {
      int cfd = open_control_block(pid);
      if (cfd >= 0) cb = map_block(cfd);
    }
    size_t nresults = cb ? CKPT_CONTROL_RESULTS : 0;
    for (size_t i = 0; i < nresults; i++) {
      const ckpt_control_result& r = cb->results[i];
      uint64_t seq = __atomic_load_n(&r.seq, __ATOMIC_ACQUIRE);
      if (!seq || r.token != token) continue;
      bool ok = r.status == CKPT_RESULT_OK;
      std::string path(r.path), msg(r.message);
      if (__atomic_load_n(&r.seq, __ATOMIC_ACQUIRE) != seq) continue;  // rewritten meanwhile
      if (!ok) {
        fprintf(stderr, "ckpt-run: checkpoint of process %d failed: %s\n", pid, msg.c_str());
        return kExitFailure;
      }
      if (o.verbose)
        fprintf(stderr, "ckpt-run: process %d: image %s, %llu bytes, frozen %.1f ms, done in %.1f ms\n", pid,
                path.c_str(), (unsigned long long)r.image_bytes, r.freeze_ns / 1e6, r.write_ns / 1e6);
      printf("%s\n", path.c_str());
      return 0;
    }
    if (pidfd >= 0) {
      struct pollfd p = {pidfd, POLLIN, 0};
      if (poll(&p, 1, 0) == 1) {
        // Exited: one last look for the result (exit after checkpoint).
        static bool last_look = false;
        if (last_look) {
          fprintf(stderr, "ckpt-run: process %d exited before its image was written\n", pid);
          return kExitFailure;
        }
        last_look = true;
        continue;
      }
    }
    // Entered vfork() after the request was sent: no answer until the child
    // execs or exits. A second's grace for the usual vfork+exec.
    if (std::chrono::steady_clock::now() >= next_vfork_check) {
      next_vfork_check += std::chrono::milliseconds(200);
      pid_t child = child_sharing_memory(pid);
      vfork_seen = child ? vfork_seen + 1 : 0;
      if (vfork_seen > 5) {
        fprintf(stderr, "ckpt-run: process %d cannot take the checkpoint now: its child %d shares its memory "
                        "(vfork() or clone(CLONE_VM)); %s. The request stays pending: an image may still be written "
                        "then.\n", pid, child, vfork_note);
        return kExitFailure;
      }
    }
    if (std::chrono::steady_clock::now() > deadline) {
      fprintf(stderr, "ckpt-run: no image from process %d within %.0f s\n", pid, o.timeout_s);
      return kExitFailure;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace ckpt
