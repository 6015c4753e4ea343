// libckpt's own descriptors live at high numbers (close-on-exec), so the
// application's first open() still returns 3 and its fd tables look as
// they would without libckpt.
#pragma once

namespace ckpt {

// Moves `fd` to `want_fd` if that number is free, else to a free number
// just below min(RLIMIT_NOFILE, 1024); returns the new number (or `fd`).
int move_fd_high(int fd, int want_fd = -1);

}  // namespace ckpt
