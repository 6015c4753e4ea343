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

// Finds libckpt's control block among PID's descriptors.
int open_control_block(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
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
  if (fd < 0) {
    fprintf(stderr, "ckpt-run: --checkpoint: process %d does not run under libckpt (or is not yours); nothing sent\n",
            pid);
    return kExitFailure;
  }
  auto* cb = static_cast<const ckpt_control_block*>(
      mmap(nullptr, sizeof(ckpt_control_block), PROT_READ, MAP_SHARED, fd, 0));
  close(fd);
  if (cb == MAP_FAILED || memcmp(cb->magic, CKPT_CONTROL_MAGIC, 8) != 0 ||
      !__atomic_load_n(&cb->ready, __ATOMIC_ACQUIRE)) {
    fprintf(stderr, "ckpt-run: --checkpoint: process %d is not ready for checkpoints; nothing sent\n", pid);
    return kExitFailure;
  }
  int sig = cb->ckpt_signal;
  const char* vfork_note = "a process in vfork() takes no signal until that child execs or exits";
  if (pid_t child = child_sharing_memory(pid)) {
    fprintf(stderr, "ckpt-run: --checkpoint: process %d cannot be checkpointed now: its child %d shares its memory "
                    "(vfork() or clone(CLONE_VM)); %s; nothing sent\n", pid, child, vfork_note);
    return kExitFailure;
  }
  if (!catches_signal(pid, sig)) {
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
    for (const ckpt_control_result& r : cb->results) {
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
