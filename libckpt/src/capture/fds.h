// File descriptors: each descriptor, the open file description it refers to
// (descriptors made by dup(2) or inherited share one, found with kcmp), and
// what each kind of file holds (fds_kinds.cpp): offsets, flags, locks, pipe
// buffers, socket addresses, eventfd/timerfd/signalfd/epoll/inotify state,
// memfd seals, terminal settings. Contents that must be saved (a deleted
// file, a pipe's buffered bytes, a memfd) become blobs the writer copies.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/msg.h"
#include "image/image_writer.h"
#include "image/process_state.h"

namespace ckpt {

class FileTable;

// Where the writer finds a blob's bytes: in a descriptor (read with pread,
// which does not move the offset) or in a buffer captured while frozen.
struct BlobSource {
  int fd = -1;
  const unsigned char* data = nullptr;
  uint64_t size = 0;
};

struct FdCapture {
  std::vector<BlobSource> blobs;  // indexed like ProcessState::blobs
};

// Fails (with a message naming the descriptor) on resources libckpt cannot
// restore: io_uring, perf events, userfaultfd, BPF objects... unless
// `ignore_unsupported`, which records them in ProcessState::ignored.
bool capture_fds(ProcessState& st, FileTable& files, FdCapture& fc, bool (*is_own)(int fd),
                 bool ignore_unsupported, Msg& err);

// Kind-specific details (fds_kinds.cpp). `fdinfo` is /proc/self/fdinfo/N.
bool capture_fd_kind(ProcessState& st, OpenFile& f, int fd, const std::string& fdinfo, FdCapture& fc, Msg& err);
void parse_locks(const std::string& fdinfo, int32_t pid, std::vector<FileLock>& out);
// Connected AF_UNIX sockets: peer, shutdown state, queued data (unix_sockets.cpp).
bool capture_unix_socket(ProcessState& st, OpenFile& f, int fd, FdCapture& fc, Msg& why);

std::string to_hex(const void* data, size_t len);

// Writes every blob after the memory pages (its runs sit above user space).
bool write_blobs(const ProcessState& st, const FdCapture& fc, ImageWriter& w, Msg& err);

}  // namespace ckpt
