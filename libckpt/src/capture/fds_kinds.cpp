// What each kind of open file holds, read while the process is frozen.
#include <asm/ioctls.h>
#include <asm/termbits.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/vfs.h>

#include <cstring>

#include "common/raw_syscall.h"
#include "fds.h"
#include "interpose/records.h"
#include "procfs.h"
#include "runtime/arena.h"

namespace ckpt {

namespace {

enum {
  kNrGetsockname = 51, kNrGetpeername = 52, kNrGetsockopt = 55, kNrTee = 276,
  kFGetPipeSz = 1032, kFSetPipeSz = 1031, kFGetSeals = 1034, kSpliceNonblock = 2,
  kTfdAbstime = 1,
};

// Lines of an fdinfo text that start with `key`, value after it.
template <class Fn>
void for_each_line(const std::string& text, const char* key, Fn&& fn) {
  size_t klen = strlen(key);
  for (size_t p = 0; p < text.size();) {
    size_t e = text.find('\n', p);
    if (e == std::string::npos) e = text.size();
    if (text.compare(p, klen, key) == 0) fn(text.substr(p + klen, e - p - klen));
    p = e + 1;
  }
}

std::string field(const std::string& text, const char* key) {
  std::string out;
  for_each_line(text, key, [&](const std::string& v) {
    size_t b = v.find_first_not_of(" \t");
    out = b == std::string::npos ? "" : v.substr(b);
  });
  return out;
}

// "(sec, nsec)"
int64_t parse_timespec(const std::string& v) {
  size_t open = v.find('('), comma = v.find(',');
  if (open == std::string::npos || comma == std::string::npos) return 0;
  uint64_t sec = parse_u64(v.substr(open + 1, comma - open - 1));
  std::string rest = v.substr(comma + 1);
  size_t b = rest.find_first_not_of(' ');
  uint64_t nsec = parse_u64(rest.substr(b == std::string::npos ? 0 : b));
  return int64_t(sec) * 1000000000 + int64_t(nsec);
}

// Hex value after "name:" inside a line like "tfd:   5 events: 19 data: ...".
uint64_t token_after(const std::string& line, const char* name, int base) {
  size_t p = line.find(name);
  if (p == std::string::npos) return 0;
  p += strlen(name);
  while (p < line.size() && line[p] == ' ') p++;
  return parse_u64(line.substr(p), base);
}

long sockopt_int(int fd, int level, int opt) {
  int v = 0;
  unsigned len = sizeof v;
  long r = ckpt_syscall5(kNrGetsockopt, fd, level, opt, long(&v), long(&len));
  return r < 0 ? r : v;
}

bool capture_socket(OpenFile& f, int fd, Msg& why) {
  SocketState& s = f.socket;
  long family = sockopt_int(fd, SOL_SOCKET, SO_DOMAIN);
  long type = sockopt_int(fd, SOL_SOCKET, SO_TYPE);
  if (family < 0 || type < 0) {
    why << "cannot query the socket";
    return false;
  }
  s.family = int32_t(family);
  s.type = int32_t(type);
  s.protocol = int32_t(sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL));
  if (s.family != AF_INET && s.family != AF_INET6 && s.family != AF_UNIX) {
    why << "sockets of address family " << int(s.family) << " are not supported";
    return false;
  }
  s.listening = sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN) == 1;
  s.reuse_addr = sockopt_int(fd, SOL_SOCKET, SO_REUSEADDR) == 1;
  s.reuse_port = sockopt_int(fd, SOL_SOCKET, SO_REUSEPORT) == 1;
  s.keepalive = sockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE) == 1;
  if (s.family == AF_INET6) s.v6only = sockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY) == 1;
  if (s.family != AF_UNIX && s.type == SOCK_STREAM) s.nodelay = sockopt_int(fd, IPPROTO_TCP, TCP_NODELAY) == 1;
  s.backlog = socket_backlog(fd);
  struct sockaddr_storage a;
  unsigned len = sizeof a;
  if (ckpt_syscall3(kNrGetsockname, fd, long(&a), long(&len)) == 0) s.local = to_hex(&a, len);
  len = sizeof a;
  if (ckpt_syscall3(kNrGetpeername, fd, long(&a), long(&len)) == 0) s.peer = to_hex(&a, len);
  return true;
}

// A pipe's buffered bytes, copied without consuming them (tee) through a
// temporary pipe.
bool capture_pipe_buffer(ProcessState& st, OpenFile& f, int fd, FdCapture& fc, Msg& why) {
  long size = ckpt_syscall3(CKPT_NR_fcntl, fd, kFGetPipeSz, 0);
  f.pipe_size = size > 0 ? uint32_t(size) : 0;
  if ((f.flags & O_ACCMODE) == O_WRONLY) return true;  // only the read end can see the data
  for (const OpenFile& g : st.open_files)
    if (g.inode == f.inode && g.kind == f.kind && g.blob >= 0) return true;  // saved with another read end
  int avail = 0;
  if (ckpt_syscall3(CKPT_NR_ioctl, fd, FIONREAD, long(&avail)) != 0 || avail <= 0) return true;
  int tmp[2];
  if (ckpt_syscall2(CKPT_NR_pipe2, long(tmp), O_CLOEXEC | O_NONBLOCK) != 0) {
    why << "cannot create a pipe to copy buffered data";
    return false;
  }
  ckpt_syscall3(CKPT_NR_fcntl, tmp[1], kFSetPipeSz, size > 0 ? size : 65536);
  auto data = static_cast<unsigned char*>(arena::allocate(size_t(avail)));
  long copied = ckpt_syscall4(kNrTee, fd, tmp[1], avail, kSpliceNonblock);
  long got = 0;
  while (data && copied > 0 && got < copied) {
    long r = ckpt_syscall3(CKPT_NR_read, tmp[0], long(data + got), copied - got);
    if (r <= 0) break;
    got += r;
  }
  ckpt_syscall1(CKPT_NR_close, tmp[0]);
  ckpt_syscall1(CKPT_NR_close, tmp[1]);
  if (!data || got != avail) {
    why << "cannot copy the " << avail << " bytes buffered in the pipe";
    return false;
  }
  f.blob = int32_t(st.blobs.size());
  st.blobs.push_back({uint32_t(f.blob), uint64_t(got), "data buffered in " + f.path});
  fc.blobs.push_back({-1, data, uint64_t(got)});
  return true;
}

bool safe_char_device(const std::string& path) {
  static const char* safe[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"};
  for (const char* s : safe)
    if (path == s) return true;
  return false;
}

}  // namespace

void parse_locks(const std::string& fdinfo, int32_t pid, std::vector<FileLock>& out) {
  // "lock:\t1: POSIX  ADVISORY  WRITE 1234 fe:00:5678 0 EOF"
  for_each_line(fdinfo, "lock:", [&](const std::string& line) {
    char kind[16] = "", mode[16] = "", type[16] = "", devino[64] = "", end[32] = "";
    long long lpid = 0, start = 0;
    int id = 0;
    if (sscanf(line.c_str(), " %d: %15s %15s %15s %lld %63s %lld %31s", &id, kind, mode, type, &lpid, devino, &start,
               end) != 8)
      return;
    FileLock l;
    if (!strcmp(kind, "POSIX")) l.kind = FileLock::Posix;
    else if (!strcmp(kind, "OFDLCK")) l.kind = FileLock::Ofd;
    else if (!strcmp(kind, "FLOCK")) l.kind = FileLock::Flock;
    else return;
    if (l.kind == FileLock::Posix && lpid != pid) return;
    l.write = !strcmp(type, "WRITE");
    l.start = start;
    l.len = !strcmp(end, "EOF") ? 0 : int64_t(parse_u64(end)) - start + 1;
    out.push_back(l);
  });
}

static bool is_mqueue(int fd) {
  struct statfs sfs;
  return ckpt_syscall2(138 /* fstatfs */, fd, long(&sfs)) == 0 && sfs.f_type == 0x19800202 /* MQUEUE_MAGIC */;
}

bool capture_fd_kind(ProcessState& st, OpenFile& f, int fd, const std::string& fdinfo, FdCapture& fc, Msg& why) {
  switch (f.kind) {
    case FdKind::RegularFile:
      if (is_mqueue(fd)) {  // a regular file of the mqueue filesystem, "deleted" once mq_unlink'ed
        std::string name = f.path.substr(0, f.path.find(" (deleted)"));
        why << "POSIX message queue " << name.c_str() << " (mq_open): its messages and mq_notify registration live "
            << "in the kernel and cannot be checkpointed";
        return false;
      }
      if (f.deleted) {  // the only copy of the contents is the open file itself
        f.blob = int32_t(st.blobs.size());
        uint64_t size = st.files[size_t(f.file)].size;
        st.blobs.push_back({uint32_t(f.blob), size, "contents of " + f.path + " (deleted)"});
        fc.blobs.push_back({fd, nullptr, size});
      }
      return true;
    case FdKind::Directory:
    case FdKind::Terminal: {
      if (f.kind == FdKind::Terminal) {
        struct termios t;  // the kernel's (asm/termbits.h): ckpt-run sets it back with TCSETS
        static_assert(sizeof t == 36, "the kernel's struct termios");
        if (ckpt_syscall3(CKPT_NR_ioctl, fd, TCGETS, long(&t)) == 0) f.termios = to_hex(&t, sizeof t);
      }
      return true;
    }
    case FdKind::CharDevice:
      if (safe_char_device(f.path)) return true;
      why << "the device " << f.path.c_str() << " cannot be checkpointed (its driver holds state)";
      return false;
    case FdKind::BlockDevice:
      why << "block devices cannot be checkpointed";
      return false;
    case FdKind::Pipe:
      return capture_pipe_buffer(st, f, fd, fc, why);
    case FdKind::Fifo:  // its buffer dies with the last process holding it open
      return capture_pipe_buffer(st, f, fd, fc, why);
    case FdKind::Socket:
      return capture_socket(f, fd, why) && (f.socket.family != AF_UNIX || capture_unix_socket(st, f, fd, fc, why));
    case FdKind::EventFd:
      f.counter = parse_u64(field(fdinfo, "eventfd-count:"), 16);
      if (parse_u64(field(fdinfo, "eventfd-semaphore:")) == 1) f.efd_flags |= 1;  // EFD_SEMAPHORE
      return true;
    case FdKind::TimerFd:
      f.clock = int32_t(parse_u64(field(fdinfo, "clockid:")));
      f.counter = parse_u64(field(fdinfo, "ticks:"));
      f.next_ns = parse_timespec(field(fdinfo, "it_value:"));
      f.interval_ns = parse_timespec(field(fdinfo, "it_interval:"));
      // An absolute timer expires at a time on its clock, not after a delay:
      // the restore sets that time again (fdinfo shows only what remains).
      f.timer_flags = uint32_t(parse_u64(field(fdinfo, "settime flags:"), 8));
      if ((f.timer_flags & kTfdAbstime) && (f.next_ns || f.interval_ns)) {
        struct timespec now;
        if (ckpt_syscall2(CKPT_NR_clock_gettime, f.clock, long(&now)) == 0)
          f.deadline_ns = int64_t(now.tv_sec) * 1000000000 + now.tv_nsec + f.next_ns;
      }
      return true;
    case FdKind::SignalFd:
      f.sigmask = parse_u64(field(fdinfo, "sigmask:"), 16);
      return true;
    case FdKind::Epoll:
      for_each_line(fdinfo, "tfd:", [&](const std::string& line) {
        EpollItem e;
        e.fd = int32_t(parse_u64(line.substr(line.find_first_not_of(' '))));
        e.events = uint32_t(token_after(line, "events:", 16));
        e.data = token_after(line, "data:", 16);
        f.epoll.push_back(e);
      });
      return true;
    case FdKind::Inotify: {
      bool ok = true;
      for_each_line(fdinfo, "inotify wd:", [&](const std::string& line) {
        InotifyWatch w;
        w.wd = int32_t(parse_u64(line, 16));
        w.mask = uint32_t(token_after(line, "mask:", 16));
        if (!inotify_watch_path(fd, w.wd, w.path)) ok = false;
        f.inotify.push_back(w);
      });
      if (!ok) why << "an inotify watch was added before libckpt loaded; its path is unknown";
      return ok;
    }
    case FdKind::Memfd: {
      long seals = ckpt_syscall3(CKPT_NR_fcntl, fd, kFGetSeals, 0);
      f.seals = seals > 0 ? uint32_t(seals) : 0;
      struct stat sb;
      uint64_t size = ckpt_syscall4(CKPT_NR_newfstatat, fd, long(""), long(&sb), AT_EMPTY_PATH) == 0 ? uint64_t(sb.st_size) : 0;
      f.blob = int32_t(st.blobs.size());
      st.blobs.push_back({uint32_t(f.blob), size, "contents of " + f.path});
      fc.blobs.push_back({fd, nullptr, size});
      return true;
    }
    case FdKind::AnonInode:
    case FdKind::Other:
      if (f.path.find("io_uring") != std::string::npos) why << "io_uring instances cannot be checkpointed";
      else if (f.path.find("perf_event") != std::string::npos) why << "perf events cannot be checkpointed";
      else why << f.path.c_str() << " cannot be checkpointed";
      return false;
  }
  return true;
}

}  // namespace ckpt
