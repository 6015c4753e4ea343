// ckpt-run's command line (../shared/docs/cli-contract.md is the contract).
#pragma once
#include <string>
#include <vector>

namespace ckpt {

enum class Action { Launch, Checkpoint, PrintSignal, Restore, Inspect, Check, Compact, Help, Version };

struct Options {
  Action action = Action::Launch;
  std::vector<std::string> program;  // PROGRAM ARGS... (launch)
  std::string images_dir;            // --images (as given)
  std::string pid_file;              // --pid-file
  std::string target;                // PID for --checkpoint, IMAGE for --restore/--inspect/--check
  bool exit_after_checkpoint = false;
  int ckpt_signal = 0;               // 0: default
  int thaw_signal = 0;
  double timeout_s = 300;            // --checkpoint wait
  bool new_pid = false;              // --new-pid
  bool allow_changed_files = false;  // --allow-changed-files
  bool ignore_unsupported = false;   // --ignore-unsupported
  bool verbose = false;
  bool verify = false;               // --inspect --verify
  bool incremental = false;          // --incremental
  std::string track;                 // --track=auto|uffd|mprotect|none
  long full_every = -1, keep = -1, interval_s = -1;
  std::string output;                // --compact ... -o OUT
};

constexpr int kExitUsage = 2;        // bad command line, program refused at launch
constexpr int kExitFailure = 1;      // checkpoint/restore/check failed

// Parses argv; on error prints a message and exits with kExitUsage.
Options parse_command_line(int argc, char** argv);
void print_help();
int default_ckpt_signal();
int default_thaw_signal();
// "62" or "RTMIN+28" or "SIGRTMIN+28" -> signal number; 0 if invalid.
int parse_signal(const std::string& s);

}  // namespace ckpt
