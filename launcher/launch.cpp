// ckpt-run PROGRAM: checks that libckpt can run inside PROGRAM, sets up the
// environment libckpt reads (runtime/config.h) and execs PROGRAM, so the
// application keeps ckpt-run's pid and its exit status is ckpt-run's.
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "actions.h"
#include "common/path_limits.h"
#include "program_check.h"

namespace ckpt {

// Relative to the working directory, without "." components or repeated
// slashes (".." stays: it may cross a symlink), so printed paths read well.
std::string absolute_path(const std::string& p) {
  if (p.empty()) return p;
  std::string joined = p;
  char cwd[PATH_MAX];
  if (p[0] != '/') {
    if (!getcwd(cwd, sizeof cwd)) return p;
    joined = std::string(cwd) + "/" + p;
  }
  std::string out;
  for (size_t i = 0; i < joined.size();) {
    size_t end = joined.find('/', i);
    if (end == std::string::npos) end = joined.size();
    std::string part = joined.substr(i, end - i);
    if (!part.empty() && part != ".") out += "/" + part;
    i = end + 1;
  }
  return out.empty() ? "/" : out;
}

bool make_dirs(const std::string& path, std::string& err, bool* created) {
  if (created) *created = false;
  for (size_t i = 1; i <= path.size(); i++) {
    if (i < path.size() && path[i] != '/') continue;
    std::string part = path.substr(0, i);
    if (mkdir(part.c_str(), 0700) == 0) {
      // mkdir applies the umask: a directory we create is 0700 whatever it is.
      if (chmod(part.c_str(), 0700) != 0) {
        err = "cannot set the mode of " + part + ": " + strerror(errno);
        return false;
      }
      if (created && i == path.size()) *created = true;
    } else if (errno != EEXIST) {
      err = "cannot create " + part + ": " + strerror(errno);
      return false;
    }
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    err = path + " is not a directory";
    return false;
  }
  return true;
}

std::string check_images_dir(const std::string& abs) {
  if (abs.size() > CKPT_MAX_IMAGES_DIR)
    return "the images directory path is " + std::to_string(abs.size()) + " bytes long; at most " +
           std::to_string(CKPT_MAX_IMAGES_DIR) + " are supported";
  return "";
}

std::string check_pid_file(const std::string& abs) {
  if (abs.size() > CKPT_MAX_PID_FILE_PATH)
    return "the pid file path is " + std::to_string(abs.size()) + " bytes long; at most " +
           std::to_string(CKPT_MAX_PID_FILE_PATH) + " are supported";
  std::string dir = abs.substr(0, abs.rfind('/'));
  if (dir.empty()) dir = "/";
  struct stat st;
  if (abs.back() == '/') return abs + " is a directory";
  if (stat(dir.c_str(), &st) != 0) return "cannot use " + abs + ": " + dir + ": " + strerror(errno);
  if (!S_ISDIR(st.st_mode)) return "cannot use " + abs + ": " + dir + " is not a directory";
  if (access(dir.c_str(), W_OK | X_OK) != 0)
    return "cannot write " + abs + ": " + dir + ": " + strerror(errno);
  if (stat(abs.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return abs + " is a directory";
  return "";
}

int run_launch(const Options& o) {
  std::string program = resolve_program(o.program[0]);
  if (program.empty()) {
    fprintf(stderr, "ckpt-run: %s: command not found\n", o.program[0].c_str());
    return 127;
  }
  std::string why = why_unsupported(program);
  if (!why.empty()) {
    fprintf(stderr, "ckpt-run: refusing to run %s: %s\n", o.program[0].c_str(), why.c_str());
    return kExitUsage;
  }
  std::string lib = find_library();
  if (lib.empty()) {
    fprintf(stderr, "ckpt-run: cannot find libckpt.so next to ckpt-run (set CKPT_LIBRARY)\n");
    return kExitUsage;
  }
  std::string images = absolute_path(o.images_dir.empty() ? "ckpt-images" : o.images_dir);
  while (images.size() > 1 && images.back() == '/') images.pop_back();
  std::string err = check_images_dir(images);
  if (!err.empty()) {
    fprintf(stderr, "ckpt-run: --images: %s\n", err.c_str());
    return kExitUsage;
  }
  std::string pid_file = o.pid_file.empty() ? "" : absolute_path(o.pid_file);
  if (!pid_file.empty() && !(err = check_pid_file(pid_file)).empty()) {
    fprintf(stderr, "ckpt-run: --pid-file: %s\n", err.c_str());
    return kExitUsage;
  }
  bool created = false;
  if (!make_dirs(images, err, &created)) {
    fprintf(stderr, "ckpt-run: --images: %s\n", err.c_str());
    return kExitUsage;
  }
  const char* old_preload = getenv("LD_PRELOAD");
  std::string preload = lib + (old_preload && *old_preload ? std::string(" ") + old_preload : "");
  setenv("LD_PRELOAD", preload.c_str(), 1);
  setenv("CKPT_IMAGES", images.c_str(), 1);
  // A directory made here (0700, ours) is the program's: libckpt gives it to
  // the user the program switches to if it drops privileges.
  if (created) setenv("CKPT_IMAGES_CREATED", "1", 1);
  else unsetenv("CKPT_IMAGES_CREATED");
  if (!pid_file.empty()) {
    const std::string& pf = pid_file;
    unlink(pf.c_str());  // a stale file must not be mistaken for readiness
    setenv("CKPT_PID_FILE", pf.c_str(), 1);
    // exec keeps our pid: only the process with it writes the file. Shells
    // keep their own copy of the environment, so libckpt's unsetenv() in
    // the application cannot stop its children from inheriting the variable.
    setenv("CKPT_PID_FILE_PID", std::to_string(getpid()).c_str(), 1);
  } else {
    unsetenv("CKPT_PID_FILE");
    unsetenv("CKPT_PID_FILE_PID");
  }
  if (o.ckpt_signal) setenv("CKPT_SIGNAL", std::to_string(o.ckpt_signal).c_str(), 1);
  if (o.thaw_signal) setenv("CKPT_THAW_SIGNAL", std::to_string(o.thaw_signal).c_str(), 1);
  if (o.exit_after_checkpoint) setenv("CKPT_EXIT_AFTER_CHECKPOINT", "1", 1);
  if (o.verbose) setenv("CKPT_VERBOSE", "1", 1);
  if (o.incremental) setenv("CKPT_INCREMENTAL", "1", 1);
  if (!o.track.empty()) setenv("CKPT_TRACK", o.track.c_str(), 1);
  if (o.full_every >= 0) setenv("CKPT_FULL_EVERY", std::to_string(o.full_every).c_str(), 1);
  if (o.keep >= 0) setenv("CKPT_KEEP", std::to_string(o.keep).c_str(), 1);
  if (o.interval_s >= 0) setenv("CKPT_INTERVAL", std::to_string(o.interval_s).c_str(), 1);
  if (o.ignore_unsupported) setenv("CKPT_IGNORE_UNSUPPORTED", "1", 1);

  std::vector<char*> argv;
  for (const std::string& a : o.program) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(program.c_str(), argv.data());
  fprintf(stderr, "ckpt-run: cannot execute %s: %s\n", program.c_str(), strerror(errno));
  return errno == ENOENT ? 127 : 126;
}

}  // namespace ckpt
