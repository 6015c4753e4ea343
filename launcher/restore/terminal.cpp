#include "terminal.h"

#include <asm/termbits.h>  // the kernel's struct termios, as libckpt saves it
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>

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

bool apply_saved_termios(int fd, const std::string& saved) {
  struct termios t;
  static_assert(sizeof t == 36, "the kernel's struct termios");
  if (saved.size() != sizeof t) return false;
  memcpy(&t, saved.data(), sizeof t);
  return ioctl(fd, TCSETS, &t) == 0;
}

void TerminalHandover::take_back() const {
  if (tty_ >= 0 && foreground_) set_foreground(tty_, getpgrp());
}

}  // namespace ckpt
