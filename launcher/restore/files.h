// File descriptors of the restored process, opened by ckpt-run at
// temporary numbers and put in place by the restorer (dup3). Descriptors
// that shared an open file description share the re-created one.
//
// Policy (README "Files"). Every path is opened, bound or watched with the
// image user's rights (fs_creds.h), also when root restores.
//   regular files, directories  reopened by path with their saved flags (never
//                               O_TRUNC/O_CREAT) at their saved offset; files
//                               open read-only must be unchanged (host_check)
//   a deleted open file         re-created unlinked, with its saved contents
//                               (only its data extents are saved: holes stay holes)
//   /dev/null, /dev/zero, ...   reopened
//   standard streams that were a terminal, pipe or socket
//                               ckpt-run's own corresponding streams (terminal
//                               settings restored)
//   pipes with both ends inside re-created with their buffered bytes
//   a pipe whose other end is gone: a new pipe with that end closed (reads
//                               see end-of-file, writes fail with EPIPE)
//   FIFOs                       reopened by path
//   listening and bound sockets re-created, bound to the same address, listening
//   connected UDP sockets       re-created, bound to the same address and
//                               connected to the same peer (datagrams queued
//                               in them are not kept)
//   AF_UNIX socket pairs (both ends inside)
//                               re-created with socketpair: each end's numbers,
//                               flags and sharing, the data queued in each
//                               direction (message boundaries kept), shutdowns
//   connected sockets           closed: what was queued for reading can still be
//                               read, then end-of-file (the application learns
//                               it from SIGTHAW, whose value is the number of
//                               sockets restored closed)
//   eventfd, timerfd, signalfd, epoll, inotify, memfd
//                               re-created with their state
//   file locks                  re-acquired by the restorer, once every
//                               descriptor is in place
#pragma once
#include <map>
#include <string>
#include <vector>

#include "image/image_reader.h"
#include "image/process_state.h"
#include "restorer/restorer_plan.h"

namespace ckpt {

struct FdPlan {
  std::vector<ckpt_plan_fd> dups;
  std::vector<int32_t> keep;        // numbers that stay open in the restored process
  int32_t temp_base = 0;            // temporaries live at or above this number
  std::vector<ckpt_plan_epoll> epoll;
  std::vector<ckpt_plan_lock> locks;
  std::map<uint64_t, int> memfd_by_inode;  // re-created memfds, for shared mappings
  uint32_t closed_connections = 0;
};

// Opens everything and puts the saved contents (deleted files, pipe
// buffers, memfds) in from `img`; throws RestoreError for a file that cannot
// be reopened.
FdPlan prepare_fds(const ProcessState& st, const ImageReader& img, std::vector<std::string>& warnings);
// Moves a descriptor of the launcher's above every application number.
int move_above(int fd, int base);

}  // namespace ckpt
