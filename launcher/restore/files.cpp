#include "files.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <linux/fs.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "address_space.h"
#include "blobs.h"
#include "terminal.h"

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

namespace ckpt {

namespace {

std::string from_hex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out += char(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

std::string dir_of(const std::string& p) {
  size_t s = p.rfind('/');
  return s == std::string::npos || s == 0 ? "/" : p.substr(0, s);
}

// Saved contents go in once every descriptor exists (streamed, blobs.h);
// then memfds get their seals, socket directions that were shut down are
// shut down again, and what only served to write them is closed.
struct Contents {
  const ProcessState& st;
  std::vector<BlobSink> sinks;                     // by blob id
  std::vector<std::pair<int, uint32_t>> seals;     // a writable memfd descriptor, its seals
  std::vector<std::pair<int, uint32_t>> shutdowns;  // a socket, SocketState::shutdown bits
  std::vector<int> close_after;

  uint64_t size(const OpenFile& f) const { return f.blob >= 0 ? st.blobs[size_t(f.blob)].size : 0; }
  void sink(const OpenFile& f, int fd, BlobSink::Mode mode, const std::string& what, bool socket = false) {
    if (f.blob < 0) return;
    if (sinks.size() <= size_t(f.blob)) sinks.resize(size_t(f.blob) + 1);
    sinks[size_t(f.blob)] = {fd, mode, socket, what};
  }
  void finish(const ImageReader& img) {
    if (!sinks.empty()) stream_blobs(img, sinks);
    for (auto& [fd, seals] : seals) fcntl(fd, F_ADD_SEALS, int(seals));
    for (auto& [fd, bits] : shutdowns)
      if (bits) shutdown(fd, bits == 3 ? SHUT_RDWR : bits == 2 ? SHUT_WR : SHUT_RD);
    for (int fd : close_after) close(fd);
  }
  // A descriptor of our own for `fd` (which will move), closed at the end.
  int writer(int fd, const std::string& what) {
    int w = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (w < 0) throw RestoreError("cannot re-create " + what + ": " + strerror(errno));
    close_after.push_back(w);
    return w;
  }
};

// Reopens `fd`'s file with `flags` (another open file description, same file).
int reopen(int fd, uint32_t flags) {
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  return open(path.c_str(), int(flags & ~uint32_t(O_CREAT | O_TRUNC | O_EXCL)) | O_CLOEXEC);
}

void set_status_flags(int fd, uint32_t flags) {
  fcntl(fd, F_SETFL, int(flags & (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME)));
}

int open_regular(const OpenFile& f, Contents& contents) {
  if (!f.deleted) {
    uint32_t flags = f.flags & ~uint32_t(O_CREAT | O_TRUNC | O_EXCL | O_NOCTTY);
    int fd = open(f.path.c_str(), int(flags) | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) throw RestoreError("cannot reopen " + f.path + ": " + strerror(errno));
    return fd;
  }
  // A file deleted while open: an unlinked file with the saved contents,
  // in the directory it lived in if it still exists. Its size is set first
  // and only the saved extents are written: holes stay holes.
  int tmp = open(dir_of(f.path).c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (tmp < 0) tmp = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (tmp < 0) throw RestoreError("cannot re-create the deleted file " + f.path + ": " + strerror(errno));
  contents.close_after.push_back(tmp);
  if (ftruncate(tmp, off_t(contents.size(f))) != 0)
    throw RestoreError("cannot re-create the deleted file " + f.path + " with its size: " + strerror(errno));
  contents.sink(f, tmp, BlobSink::Positional, f.path + " (deleted)");
  int fd = reopen(tmp, f.flags);
  if (fd < 0) throw RestoreError("cannot reopen the re-created " + f.path + ": " + strerror(errno));
  return fd;
}

int open_fifo(const OpenFile& f, Contents& contents) {
  // Opening one end of a FIFO blocks until the other is open: hold it open
  // (O_RDWR never blocks on Linux) while opening the end we want.
  int hold = open(f.path.c_str(), O_RDWR | O_CLOEXEC);
  if (hold < 0) throw RestoreError("cannot reopen the FIFO " + f.path + ": " + strerror(errno));
  int fd = open(f.path.c_str(), int(f.flags & (O_ACCMODE | O_NONBLOCK)) | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    close(hold);
    throw RestoreError("cannot reopen the FIFO " + f.path + ": " + strerror(err));
  }
  if (f.pipe_size) fcntl(hold, F_SETPIPE_SZ, int(f.pipe_size));
  // The data that was buffered (it died with the old process's ends) goes
  // in through `hold`, closed once it is written.
  contents.sink(f, hold, BlobSink::InOrder, "the FIFO " + f.path);
  contents.close_after.push_back(hold);
  set_status_flags(fd, f.flags);
  return fd;
}

bool unix_socket_is_stale(const struct sockaddr_un& a, socklen_t len) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool stale = connect(s, reinterpret_cast<const sockaddr*>(&a), len) != 0 && errno == ECONNREFUSED;
  close(s);
  return stale;
}

BlobSink::Mode queue_mode(const SocketState& k) { return k.type == SOCK_STREAM ? BlobSink::InOrder : BlobSink::Messages; }

// The other end of a connected AF_UNIX socket, when it is in the process too.
const OpenFile* unix_peer_inside(const ProcessState& st, const OpenFile& f) {
  const SocketState& k = f.socket;
  if (k.family != AF_UNIX || k.listening || !k.peer_inode) return nullptr;
  for (const OpenFile& g : st.open_files)
    if (&g != &f && g.kind == FdKind::Socket && g.inode == k.peer_inode && g.socket.peer_inode == f.inode) return &g;
  return nullptr;
}

void set_buffer(int fd, int opt, int force_opt, uint32_t shown) {
  int v = int(shown / 2);  // getsockopt shows twice what setsockopt asked for
  if (v > 0 && setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof v) != 0) setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v);
}

// Both ends of a socket pair (or of a connection between two sockets of the
// process): re-created with socketpair; each end gets the data that was
// queued for it, sent from the other end, then the directions that were
// shut down are shut down again. The first end met creates the pair and
// leaves the other in `pairs` for its own descriptors.
int open_unix_pair_end(const OpenFile& f, const OpenFile& peer, std::map<uint64_t, int>& pairs, Contents& contents,
                       const std::string& what) {
  auto it = pairs.find(f.inode);
  if (it != pairs.end()) {
    int fd = it->second;
    pairs.erase(it);
    set_status_flags(fd, f.flags);
    return fd;
  }
  int sv[2];
  if (socketpair(AF_UNIX, f.socket.type | SOCK_CLOEXEC, 0, sv) != 0)
    throw RestoreError("cannot re-create the socket pair of " + what + ": " + strerror(errno));
  pairs[peer.inode] = sv[1];
  const OpenFile* ends[2] = {&f, &peer};
  for (int i = 0; i < 2; i++) {
    set_buffer(sv[i], SO_SNDBUF, SO_SNDBUFFORCE, ends[i]->socket.sndbuf);
    set_buffer(sv[i], SO_RCVBUF, SO_RCVBUFFORCE, ends[i]->socket.rcvbuf);
  }
  for (int i = 0; i < 2; i++) {
    int from = contents.writer(sv[1 - i], what);  // the data queued for end i comes from the other one
    contents.sink(*ends[i], from, queue_mode(f.socket), "the data queued on " + what, true);
    contents.shutdowns.push_back({contents.writer(sv[i], what), ends[i]->socket.shutdown});
  }
  set_status_flags(sv[0], f.flags);
  return sv[0];
}

int open_socket(const ProcessState& st, const OpenFile& f, FdPlan& plan, std::map<uint64_t, int>& pairs,
                Contents& contents, std::vector<std::string>& warnings, const std::string& what) {
  const SocketState& k = f.socket;
  if (const OpenFile* peer = unix_peer_inside(st, f)) return open_unix_pair_end(f, *peer, pairs, contents, what);
  std::string local = from_hex(k.local);
  bool bound = !local.empty() && !(k.family == AF_UNIX && local.size() <= sizeof(sa_family_t));
  // A connected UDP socket has no connection to lose (connect only sets the
  // default peer): bound to its address and connected to its peer again.
  bool connected_udp = (k.family == AF_INET || k.family == AF_INET6) && k.type == SOCK_DGRAM && !k.peer.empty();
  bool keep = k.listening || (bound && k.type == SOCK_DGRAM && (k.peer.empty() || connected_udp));
  if (!keep) {
    // A connection cannot be carried over: a socket whose peer is gone. What
    // was queued for it can still be read, then end-of-file.
    int sv[2];
    int type = k.type == SOCK_DGRAM || k.type == SOCK_SEQPACKET ? k.type : SOCK_STREAM;
    if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0)
      throw RestoreError("cannot create a socket for " + what + ": " + strerror(errno));
    contents.sink(f, sv[1], queue_mode(k), "the data queued on " + what, true);
    contents.close_after.push_back(sv[1]);
    set_status_flags(sv[0], f.flags);
    if (!k.peer.empty()) {
      plan.closed_connections++;
      warnings.push_back(what + " was connected; it is restored closed");
    }
    return sv[0];
  }
  int s = socket(k.family, k.type | SOCK_CLOEXEC, k.protocol);
  if (s < 0) throw RestoreError("cannot create a socket for " + what + ": " + strerror(errno));
  int one = 1;
  if (k.reuse_addr || k.listening) setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (k.reuse_port) setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (k.keepalive) setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  if (k.v6only) setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (k.nodelay) setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  auto addr = reinterpret_cast<const sockaddr*>(local.data());
  socklen_t len = socklen_t(local.size());
  if (bind(s, addr, len) != 0) {
    int err = errno;
    // A UNIX socket file left by the checkpointed process: replace it.
    auto un = reinterpret_cast<const sockaddr_un*>(local.data());
    if (err == EADDRINUSE && k.family == AF_UNIX && un->sun_path[0] && unix_socket_is_stale(*un, len)) {
      unlink(un->sun_path);
      if (bind(s, addr, len) == 0) err = 0;
    }
    // The killed process's connections on that port are still closing
    // (FIN_WAIT, LAST_ACK): the port frees within moments.
    for (int attempt = 0; err == EADDRINUSE && k.family != AF_UNIX && attempt < 60; attempt++) {
      usleep(50000);
      err = bind(s, addr, len) == 0 ? 0 : errno;
    }
    if (err) {
      close(s);
      // Listeners are re-created with SO_REUSEADDR, which ignores connections
      // of the killed process still closing (TIME_WAIT): what holds the
      // address now is another socket.
      std::string hint = err == EADDRINUSE && k.family != AF_UNIX
                             ? " (another socket is bound to that address: a process took the port while this one "
                               "was down; 'ss -tulpn' shows which)"
                             : "";
      throw RestoreError("cannot bind " + what + " to its address again: " + strerror(err) + hint);
    }
  }
  if (k.listening && listen(s, k.backlog) != 0) {
    int err = errno;
    close(s);
    throw RestoreError("cannot listen on " + what + ": " + strerror(err));
  }
  std::string peer = from_hex(k.peer);
  if (connected_udp && connect(s, reinterpret_cast<const sockaddr*>(peer.data()), socklen_t(peer.size())) != 0) {
    int err = errno;
    close(s);
    throw RestoreError("cannot connect " + what + " to its peer again: " + strerror(err));
  }
  set_status_flags(s, f.flags);
  return s;
}

// A relative timer gets its remaining time; an absolute one (TFD_TIMER_ABSTIME)
// its original expiry on its clock, whatever the downtime, with
// TFD_TIMER_CANCEL_ON_SET kept.
int open_timerfd(const OpenFile& f) {
  int fd = timerfd_create(f.clock, TFD_CLOEXEC | ((f.flags & O_NONBLOCK) ? TFD_NONBLOCK : 0));
  if (fd < 0) throw RestoreError(std::string("cannot create a timerfd: ") + strerror(errno));
  if (f.next_ns || f.interval_ns) {
    bool absolute = (f.timer_flags & TFD_TIMER_ABSTIME) && f.deadline_ns > 0;
    int64_t value = absolute ? f.deadline_ns : f.next_ns;
    struct itimerspec its = {{time_t(f.interval_ns / 1000000000), long(f.interval_ns % 1000000000)},
                             {time_t(value / 1000000000), long(value % 1000000000)}};
    if (!its.it_value.tv_sec && !its.it_value.tv_nsec) its.it_value.tv_nsec = 1;  // expires at once
    int flags = absolute ? int(f.timer_flags & (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)) : 0;
    if (timerfd_settime(fd, flags, &its, nullptr) != 0)
      throw RestoreError(std::string("cannot arm a timerfd: ") + strerror(errno));
  }
  if (f.counter) {
    uint64_t ticks = f.counter;
    ioctl(fd, TFD_IOC_SET_TICKS, &ticks);
  }
  return fd;
}

int open_inotify(const OpenFile& f, std::vector<std::string>& warnings, const std::string& what) {
  int fd = inotify_init1(IN_CLOEXEC | ((f.flags & O_NONBLOCK) ? IN_NONBLOCK : 0));
  if (fd < 0) throw RestoreError(std::string("cannot create an inotify instance: ") + strerror(errno));
  // Watch descriptors are handed out in increasing order: re-add the watches
  // in that order, filling gaps with throw-away watches.
  std::vector<InotifyWatch> watches = f.inotify;
  std::sort(watches.begin(), watches.end(), [](const InotifyWatch& a, const InotifyWatch& b) { return a.wd < b.wd; });
  std::vector<int> fillers;
  for (const InotifyWatch& w : watches) {
    for (;;) {
      int wd = inotify_add_watch(fd, w.path.c_str(), w.mask);
      if (wd < 0) {
        warnings.push_back(what + ": cannot watch " + w.path + " again: " + strerror(errno));
        break;
      }
      if (wd == w.wd) break;
      if (wd > w.wd) {
        warnings.push_back(what + ": watch " + w.path + " got a different descriptor (" + std::to_string(wd) + ")");
        break;
      }
      inotify_rm_watch(fd, wd);  // a gap: used and released to move on
      fillers.push_back(wd);
    }
  }
  return fd;
}

int open_memfd(const OpenFile& f, Contents& contents) {
  std::string name = f.path.substr(strlen("/memfd:"));
  size_t d = name.rfind(" (deleted)");
  if (d != std::string::npos) name.resize(d);
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) throw RestoreError("cannot re-create the memfd " + name + ": " + strerror(errno));
  if (ftruncate(fd, off_t(contents.size(f))) != 0)
    throw RestoreError("cannot re-create the memfd " + name + " with its size: " + strerror(errno));
  // Contents and seals (after the contents: F_SEAL_WRITE) go through a
  // writable descriptor of our own (the returned one moves).
  int w = contents.writer(fd, "the memfd " + name);
  contents.sink(f, w, BlobSink::Positional, f.path);
  if (f.seals) contents.seals.push_back({w, f.seals});
  if ((f.flags & O_ACCMODE) != O_RDWR) {
    int r = reopen(fd, f.flags);
    if (r >= 0) {
      close(fd);
      fd = r;
    }
  }
  return fd;
}

}  // namespace

int move_above(int fd, int base) {
  int n = fcntl(fd, F_DUPFD_CLOEXEC, base);
  if (n < 0) throw RestoreError(std::string("cannot move a descriptor above ") + std::to_string(base) + ": " + strerror(errno));
  close(fd);
  return n;
}

FdPlan prepare_fds(const ProcessState& st, const ImageReader& img, std::vector<std::string>& warnings) {
  FdPlan plan;
  Contents contents{st, {}, {}, {}, {}};
  int32_t max_fd = 2;
  for (const FdState& d : st.fds) max_fd = std::max(max_fd, d.fd);
  plan.temp_base = max_fd + 1;
  std::vector<int> opened(st.open_files.size(), -1);  // temporary descriptor per open file
  // Pipes by inode: the ends of the re-created pipe, closed as soon as all
  // its open files are re-created (a process with thousands of pipes would
  // otherwise hold two extra descriptors for each until the end).
  struct PipeEnds {
    int read = -1, write = -1;
    int files_left = 0;         // its open files not re-created yet
    bool write_fills = false;   // the write end refills the read end's buffered data (at contents.finish)
  };
  std::map<uint64_t, PipeEnds> pipes;
  for (const OpenFile& f : st.open_files)
    if (f.kind == FdKind::Pipe) pipes[f.inode].files_left++;
  std::map<uint64_t, int> socket_pairs;               // inode -> end of a re-created pair not placed yet

  for (const FdState& d : st.fds) {
    const OpenFile& f = st.open_files[size_t(d.open_file)];
    std::string what = "fd " + std::to_string(d.fd) + " (" + f.path + ")";
    int& fd = opened[size_t(d.open_file)];
    bool stdio = d.fd <= 2;
    bool gone_stream = f.kind == FdKind::Terminal || f.kind == FdKind::Socket ||
                       (f.kind == FdKind::Pipe && !f.pipe_peer_inside);
    if (stdio && gone_stream) {
      // The terminal or pipe is gone with the old process: use ckpt-run's.
      if (fcntl(d.fd, F_GETFD) >= 0) {
        plan.keep.push_back(d.fd);
        if (f.kind == FdKind::Terminal && !f.termios.empty() && isatty(d.fd) &&
            !apply_saved_termios(d.fd, from_hex(f.termios)))
          warnings.push_back(what + ": cannot restore the terminal settings");
      }
      continue;
    }
    if (fd < 0) {
      try {
        switch (f.kind) {
          case FdKind::RegularFile:
          case FdKind::Directory:
          case FdKind::CharDevice: {
            fd = open_regular(f, contents);
            if (f.kind == FdKind::RegularFile && f.offset >= 0 && lseek(fd, f.offset, SEEK_SET) < 0)
              throw RestoreError("cannot seek " + what + " to " + std::to_string(f.offset) + ": " + strerror(errno));
            break;
          }
          case FdKind::Terminal: {
            // A terminal of the old session: ckpt-run's terminal if it has one.
            int tty = isatty(0) ? 0 : isatty(1) ? 1 : isatty(2) ? 2 : -1;
            fd = tty >= 0 ? fcntl(tty, F_DUPFD_CLOEXEC, 3) : open("/dev/null", int(f.flags & O_ACCMODE) | O_CLOEXEC);
            if (tty >= 0 && !f.termios.empty()) apply_saved_termios(fd, from_hex(f.termios));
            warnings.push_back(what + " now refers to " + (tty >= 0 ? "ckpt-run's terminal" : "/dev/null"));
            break;
          }
          case FdKind::Pipe: {
            PipeEnds& ends = pipes[f.inode];
            if (ends.read < 0) {
              int p[2];
              if (pipe2(p, O_CLOEXEC) != 0) throw RestoreError(std::string("cannot create a pipe: ") + strerror(errno));
              if (f.pipe_size) fcntl(p[1], F_SETPIPE_SZ, int(f.pipe_size));
              ends.read = p[0];
              ends.write = p[1];
              if (!f.pipe_peer_inside)
                warnings.push_back(what + ": the other end of the pipe is gone; " +
                                   ((f.flags & O_ACCMODE) == O_RDONLY ? "reads see end-of-file after the buffered data"
                                                                      : "writes fail with EPIPE"));
            }
            bool read_end = (f.flags & O_ACCMODE) == O_RDONLY;
            if (read_end && f.blob >= 0) {
              contents.sink(f, ends.write, BlobSink::InOrder, what);
              ends.write_fills = true;
            }
            fd = fcntl(read_end ? ends.read : ends.write, F_DUPFD_CLOEXEC, 3);
            set_status_flags(fd, f.flags);
            if (--ends.files_left == 0) {
              close(ends.read);
              if (ends.write_fills) contents.close_after.push_back(ends.write);
              else close(ends.write);
              ends.read = ends.write = -1;
            }
            break;
          }
          case FdKind::Fifo: fd = open_fifo(f, contents); break;
          case FdKind::Socket: fd = open_socket(st, f, plan, socket_pairs, contents, warnings, what); break;
          case FdKind::EventFd:
            // eventfd() takes only 32 bits: start at 0 and write the whole count.
            fd = eventfd(0, EFD_CLOEXEC | ((f.flags & O_NONBLOCK) ? EFD_NONBLOCK : 0) |
                                ((f.efd_flags & 1) ? EFD_SEMAPHORE : 0));
            if (fd >= 0 && f.counter && write(fd, &f.counter, sizeof f.counter) != ssize_t(sizeof f.counter))
              throw RestoreError("cannot set the count of " + what + ": " + strerror(errno));
            break;
          case FdKind::TimerFd: fd = open_timerfd(f); break;
          case FdKind::SignalFd: {
            sigset_t mask;
            sigemptyset(&mask);
            for (int s = 1; s <= 64; s++)
              if (f.sigmask >> (s - 1) & 1) sigaddset(&mask, s);
            fd = signalfd(-1, &mask, SFD_CLOEXEC | ((f.flags & O_NONBLOCK) ? SFD_NONBLOCK : 0));
            break;
          }
          case FdKind::Epoll: fd = epoll_create1(EPOLL_CLOEXEC); break;
          case FdKind::Inotify: fd = open_inotify(f, warnings, what); break;
          case FdKind::Memfd:
            fd = open_memfd(f, contents);
            if (f.offset > 0) lseek(fd, f.offset, SEEK_SET);
            break;
          default:
            warnings.push_back(what + " (" + fd_kind_name(f.kind) + ") is not restored; it stays closed");
            continue;
        }
      } catch (const RestoreError& e) {
        // A standard stream whose file is gone falls back on ckpt-run's.
        if (stdio && fcntl(d.fd, F_GETFD) >= 0) {
          warnings.push_back(std::string(e.what()) + "; using ckpt-run's own stream instead");
          plan.keep.push_back(d.fd);
          continue;
        }
        throw;
      }
      if (fd < 0) {
        bool emfile = errno == EMFILE;
        throw RestoreError("cannot re-create " + what + ": " + strerror(errno) +
                           (emfile ? " (the restore holds a temporary descriptor for each open file: raise the "
                                     "hard RLIMIT_NOFILE, e.g. ulimit -Hn, or restore with CAP_SYS_RESOURCE)"
                                   : ""));
      }
      fd = move_above(fd, plan.temp_base);
      if (f.kind == FdKind::Memfd) plan.memfd_by_inode[f.inode] = fd;
      for (const EpollItem& e : f.epoll) plan.epoll.push_back({d.fd, e.fd, e.events, 0, e.data});
      for (const FileLock& l : f.locks)
        plan.locks.push_back({d.fd, int32_t(l.kind), l.write ? 1 : 0, 0, l.start, l.len});
    } else {
      // Another descriptor of an already re-created open file: the epoll
      // registrations and locks refer to the first number, which is enough.
    }
    plan.dups.push_back({fd, d.fd, d.cloexec ? 1 : 0, 0});
    plan.keep.push_back(d.fd);
  }
  contents.finish(img);
  for (auto& [inode, ends] : pipes) {
    if (ends.read >= 0) close(ends.read);
    if (ends.write >= 0) close(ends.write);
  }
  return plan;
}

}  // namespace ckpt
