// Facts the kernel does not show in /proc, recorded as the application
// makes them: listen() backlogs, inotify watch paths (records.cpp), which
// POSIX timers were armed with TIMER_ABSTIME (timers.cpp).
#pragma once
#include <string>

namespace ckpt {

int socket_backlog(int fd);  // the backlog passed to listen(), or 128
bool inotify_watch_path(int fd, int wd, std::string& path);
void forget_fd_records(int fd);  // the descriptor is being closed
bool timer_is_absolute(int kernel_timer_id);

}  // namespace ckpt
