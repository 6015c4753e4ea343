#include "cli.h"

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "runtime/config.h"

namespace ckpt {

int default_ckpt_signal() { return SIGRTMIN + kDefaultCkptOffset; }
int default_thaw_signal() { return SIGRTMIN + kDefaultThawOffset; }

int parse_signal(const std::string& text) {
  std::string s = text;
  if (s.rfind("SIG", 0) == 0) s = s.substr(3);
  char* end;
  if (s.rfind("RTMIN+", 0) == 0) {
    long n = strtol(s.c_str() + 6, &end, 10);
    if (*end || n < 0 || SIGRTMIN + n > SIGRTMAX) return 0;
    return int(SIGRTMIN + n);
  }
  if (s.rfind("RTMAX-", 0) == 0) {
    long n = strtol(s.c_str() + 6, &end, 10);
    if (*end || n < 0 || SIGRTMAX - n < SIGRTMIN) return 0;
    return int(SIGRTMAX - n);
  }
  long n = strtol(s.c_str(), &end, 10);
  if (s.empty() || *end || n < SIGRTMIN || n > SIGRTMAX) return 0;
  return int(n);
}

void print_help() {
  int sig = default_ckpt_signal(), thaw = default_thaw_signal();
  printf(
      "Usage:\n"
      "  ckpt-run [OPTIONS] PROGRAM [ARGS...]      run PROGRAM with libckpt loaded\n"
      "  ckpt-run --checkpoint PID                 checkpoint a process started by ckpt-run\n"
      "  ckpt-run [--pid-file FILE] --restore IMAGE   restore a process from IMAGE\n"
      "  ckpt-run --inspect [--verify] IMAGE       print an image's contents as JSON\n"
      "  ckpt-run --check IMAGE                    can this host restore IMAGE?\n"
      "  ckpt-run --compact IMAGE -o OUT           merge an incremental chain into one full image\n"
      "  ckpt-run --print-signal                   print the default checkpoint signal number\n"
      "  ckpt-run --version | --help\n"
      "\n"
      "Launch options (options end at the first non-option or at --):\n"
      "  --images DIR              where images go (created with mode 0700; default:\n"
      "                            ./ckpt-images, resolved against the current directory)\n"
      "  --pid-file FILE           write the application's pid once it can be checkpointed\n"
      "  --exit-after-checkpoint   the application exits (status 0) once an image is written\n"
      "  --signal SIG              checkpoint signal (default RTMIN+%d = %d; env CKPT_SIGNAL)\n"
      "  --thaw-signal SIG         signal sent after a restore (default RTMIN+%d = %d;\n"
      "                            env CKPT_THAW_SIGNAL); sent only if the app handles it\n"
      "  -v, --verbose             report each checkpoint on stderr\n"
      "  --incremental             checkpoints after the first store only what changed\n"
      "  --track=BACKEND           dirty-page tracking for --incremental: auto (default: uffd\n"
      "                            where the kernel supports it, else mprotect), uffd,\n"
      "                            mprotect, none (every checkpoint full)\n"
      "  --full-every N            with --incremental, every Nth checkpoint is full\n"
      "  --keep N                  keep only the N newest images (and the images they need)\n"
      "  --interval SECONDS        also checkpoint every SECONDS\n"
      "  --ignore-unsupported      checkpoint even with resources libckpt cannot restore\n"
      "                            (io_uring, devices...): they are listed in the image and\n"
      "                            left out of it\n"
      "\n"
      "Checkpoint: `kill -s %d PID` or `ckpt-run --checkpoint PID`. The latter waits until\n"
      "the image is durable (at most --timeout SECONDS, default 300) and prints its\n"
      "absolute path as the last line of stdout. The pid file appears once the first\n"
      "program is ready; when it execs another (env, a #! script, a shim) under the same\n"
      "pid, a request made meanwhile waits until the new program is ready (at most 30 s).\n"
      "\n"
      "Inspect and check options:\n"
      "  --verify                  --inspect: also decompress every page block and check its\n"
      "                            checksum (--check and --restore always do)\n"
      "\n"
      "Restore options:\n"
      "  --pid-file FILE           write the restored application's pid once it runs\n"
      "  --images DIR              later checkpoints of the restored process go here\n"
      "  --new-pid                 restore under a new pid if the original cannot be had\n"
      "  --allow-changed-files     use files that changed since the checkpoint as they are\n"
      "                            (by default a changed file open read-only or mapped is\n"
      "                            refused by name)\n"
      "\n"
      "Exit status: the application's own; 2 for a bad command line or a program libckpt\n"
      "cannot run (static, setuid, not x86-64); 1 when a checkpoint, restore or check fails.\n",
      kDefaultCkptOffset, sig, kDefaultThawOffset, thaw, sig);
}

namespace {
[[noreturn]] void usage_error(const std::string& msg) {
  fprintf(stderr, "ckpt-run: %s\nTry 'ckpt-run --help'.\n", msg.c_str());
  exit(kExitUsage);
}
}  // namespace

Options parse_command_line(int argc, char** argv) {
  Options o;
  bool action_set = false;
  auto set_action = [&](Action a) {
    if (action_set && o.action != a) usage_error("only one of --checkpoint, --restore, --inspect, --check, --print-signal");
    o.action = a;
    action_set = true;
  };
  int i = 1;
  auto value = [&](const char* opt) -> std::string {
    if (i + 1 >= argc) usage_error(std::string(opt) + " needs a value");
    return argv[++i];
  };
  // The IMAGE or PID of --restore/--inspect/--check/--checkpoint/--compact
  // may come after other options (`--inspect --verify IMAGE`): an option
  // there is taken as an option, and the target is the next non-option.
  const char* pending_target = nullptr;
  auto target = [&](const char* opt, bool has_inline, const std::string& inline_value) {
    if (has_inline) {
      o.target = inline_value;
    } else if (i + 1 < argc && (argv[i + 1][0] != '-' || !argv[i + 1][1])) {
      o.target = argv[++i];
    } else {
      if (i + 1 >= argc) usage_error(std::string(opt) + " needs a value");
      pending_target = opt;
    }
  };
  for (; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--") {
      i++;
      if (pending_target) {
        if (i >= argc) usage_error(std::string(pending_target) + " needs a value");
        o.target = argv[i++];
        pending_target = nullptr;
      }
      break;
    }
    if (a.size() < 2 || a[0] != '-') {
      if (!pending_target) break;  // PROGRAM
      o.target = a;
      pending_target = nullptr;
      continue;
    }
    // --opt=value form
    std::string inline_value;
    bool has_inline = false;
    if (a.rfind("--", 0) == 0 && a.find('=') != std::string::npos) {
      inline_value = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
      has_inline = true;
    }
    auto val = [&](const char* opt) { return has_inline ? inline_value : value(opt); };
    if (a == "--help" || a == "-h") set_action(Action::Help);
    else if (a == "--version") set_action(Action::Version);
    else if (a == "--images") o.images_dir = val("--images");
    else if (a == "--pid-file") o.pid_file = val("--pid-file");
    else if (a == "--exit-after-checkpoint") o.exit_after_checkpoint = true;
    else if (a == "--verbose" || a == "-v") o.verbose = true;
    else if (a == "--new-pid") o.new_pid = true;
    else if (a == "--allow-changed-files") o.allow_changed_files = true;
    else if (a == "--ignore-unsupported") o.ignore_unsupported = true;
    else if (a == "--verify") o.verify = true;
    else if (a == "--signal" || a == "--thaw-signal") {
      std::string s = val(a.c_str());
      int n = parse_signal(s);
      if (!n) usage_error("invalid signal '" + s + "' (use a real-time signal: a number or RTMIN+n)");
      (a == "--signal" ? o.ckpt_signal : o.thaw_signal) = n;
    } else if (a == "--timeout") {
      std::string s = val("--timeout");
      char* end;
      o.timeout_s = strtod(s.c_str(), &end);
      if (*end || o.timeout_s <= 0) usage_error("invalid --timeout '" + s + "'");
    } else if (a == "--checkpoint") {
      set_action(Action::Checkpoint);
      target("--checkpoint", has_inline, inline_value);
    } else if (a == "--restore") {
      set_action(Action::Restore);
      target("--restore", has_inline, inline_value);
    } else if (a == "--inspect") {
      set_action(Action::Inspect);
      target("--inspect", has_inline, inline_value);
    } else if (a == "--check") {
      set_action(Action::Check);
      target("--check", has_inline, inline_value);
    } else if (a == "--compact") {
      set_action(Action::Compact);
      target("--compact", has_inline, inline_value);
    } else if (a == "-o" || a == "--output") {
      o.output = val("-o");
    } else if (a == "--incremental") {
      o.incremental = true;
    } else if (a == "--track") {
      o.track = val("--track");
      if (o.track != "auto" && o.track != "uffd" && o.track != "mprotect" && o.track != "none")
        usage_error("--track takes auto, uffd, mprotect or none");
    } else if (a == "--full-every" || a == "--keep" || a == "--interval") {
      std::string s = val(a.c_str());
      char* end;
      long n = strtol(s.c_str(), &end, 10);
      if (s.empty() || *end || n < 0 || n > 100000000) usage_error("invalid " + a + " '" + s + "'");
      (a == "--full-every" ? o.full_every : a == "--keep" ? o.keep : o.interval_s) = n;
    } else if (a == "--print-signal") {
      set_action(Action::PrintSignal);
    } else {
      usage_error("unknown option '" + std::string(argv[i]) + "'");
    }
  }
  if (pending_target) usage_error(std::string(pending_target) + " needs a value");
  for (; i < argc; i++) o.program.push_back(argv[i]);
  if (o.action == Action::Launch && o.program.empty()) usage_error("no PROGRAM to run");
  if (o.action == Action::Compact && o.output.empty()) usage_error("--compact needs -o OUT");
  if (o.action != Action::Launch && !o.program.empty())
    usage_error("unexpected argument '" + o.program[0] + "'");
  if (o.action == Action::Launch) {
    // What the application will use: the option, else the environment
    // (which libckpt reads as a plain number), else the default.
    auto effective = [](int opt, const char* env, int dflt) {
      if (opt) return opt;
      const char* v = getenv(env);
      if (!v || !*v) return dflt;
      int n = parse_signal(v);
      if (!n) usage_error(std::string("invalid ") + env + "='" + v + "' (use a real-time signal: a number or RTMIN+n)");
      return n;
    };
    o.ckpt_signal = effective(o.ckpt_signal, "CKPT_SIGNAL", 0);
    o.thaw_signal = effective(o.thaw_signal, "CKPT_THAW_SIGNAL", 0);
    int ckpt = o.ckpt_signal ? o.ckpt_signal : default_ckpt_signal();
    int thaw = o.thaw_signal ? o.thaw_signal : default_thaw_signal();
    if (ckpt == thaw)
      usage_error("the checkpoint and thaw signals must differ (both are " + std::to_string(ckpt) +
                  "; see --signal, --thaw-signal, CKPT_SIGNAL, CKPT_THAW_SIGNAL)");
  } else if (o.ckpt_signal && o.ckpt_signal == (o.thaw_signal ? o.thaw_signal : default_thaw_signal())) {
    usage_error("the checkpoint and thaw signals must differ");
  }
  return o;
}

}  // namespace ckpt
