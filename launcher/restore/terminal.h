// The restored application and the terminal.
//
// The restored process gets a process group of its own (its kill(-pgrp)
// cannot reach ckpt-run), stays in ckpt-run's session, and becomes the
// terminal's foreground group when ckpt-run was in the foreground, so
// Ctrl-C and Ctrl-Z reach it. When it stops, ckpt-run stops too (the shell
// sees the job stopped) and hands the terminal back when continued; when it
// ends, ckpt-run takes the terminal back.
#pragma once
#include <sys/types.h>

#include <string>

namespace ckpt {

class TerminalHandover {
 public:
  TerminalHandover();  // in ckpt-run, before the process is created
  // In the restored process: own group, foreground if ckpt-run was.
  void in_child() const;
  // In ckpt-run: the application stopped (Ctrl-Z). Stops ckpt-run like it;
  // returns once ckpt-run is continued, with the terminal handed back.
  void on_stop(pid_t app_pgrp) const;
  void take_back() const;

 private:
  int tty_ = -1;           // ckpt-run's terminal (its stdin), if any
  bool foreground_ = false;
};

// Applies terminal settings saved by libckpt: the kernel's struct termios
// (TCGETS, asm/termbits.h), not glibc's larger one. False (nothing set) if
// `saved` is not such a struct or the ioctl fails.
bool apply_saved_termios(int fd, const std::string& saved);

}  // namespace ckpt
