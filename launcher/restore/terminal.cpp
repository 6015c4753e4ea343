#include "terminal.h"

#include <signal.h>
#include <unistd.h>

namespace ckpt {

namespace {

// tcsetpgrp() from a background group raises SIGTTOU unless it is ignored.
void set_foreground(int tty, pid_t pgrp) {
  struct sigaction ign = {}, old;
  ign.sa_handler = SIG_IGN;
  sigaction(SIGTTOU, &ign, &old);
  tcsetpgrp(tty, pgrp);
  sigaction(SIGTTOU, &old, nullptr);
}

}  // namespace

TerminalHandover::TerminalHandover() {
  if (isatty(0)) {
    tty_ = 0;
    foreground_ = tcgetpgrp(0) == getpgrp();
  }
}

void TerminalHandover::in_child() const {
  setpgid(0, 0);
  if (tty_ >= 0 && foreground_) set_foreground(tty_, getpgrp());
}

void TerminalHandover::on_stop(pid_t app_pgrp) const {
  take_back();
  kill(getpid(), SIGTSTP);  // the shell sees the job stop; we resume on SIGCONT
  if (tty_ >= 0 && foreground_ && tcgetpgrp(tty_) == getpgrp()) set_foreground(tty_, app_pgrp);
  kill(-app_pgrp, SIGCONT);
}

void TerminalHandover::take_back() const {
  if (tty_ >= 0 && foreground_) set_foreground(tty_, getpgrp());
}

}  // namespace ckpt
