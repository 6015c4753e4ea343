// ckpt-run: launch a program under libckpt, checkpoint it, restore it,
// inspect and check images. One file per action (actions.h).
#include <signal.h>

#include <cstdio>

#include "actions.h"
#include "cli.h"

int main(int argc, char** argv) {
  using namespace ckpt;
  Options o = parse_command_line(argc, argv);
  switch (o.action) {
    case Action::Help: print_help(); return 0;
    case Action::Version: printf("ckpt-run (libckpt) %s\n", CKPT_VERSION); return 0;
    case Action::PrintSignal: printf("%d\n", o.ckpt_signal ? o.ckpt_signal : default_ckpt_signal()); return 0;
    case Action::Launch: return run_launch(o);
    case Action::Checkpoint: return run_checkpoint(o);
    case Action::Inspect: return run_inspect(o);
    case Action::Check: return run_check(o);
    case Action::Compact: return run_compact(o);
    case Action::Restore: return run_restore(o, argv);
  }
  return kExitUsage;
}
