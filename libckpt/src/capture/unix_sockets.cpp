// AF_UNIX sockets: which socket is the peer and which directions were shut
// down (sock_diag, the kernel's socket monitoring interface), and the data
// queued for reading, peeked without consuming it. With both ends in the
// process, a restore re-creates the pair and puts each direction's data back.
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <asm/ioctls.h>
#include <linux/sockios.h>
#include <linux/unix_diag.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstring>

#include "common/raw_syscall.h"
#include "fds.h"
#include "runtime/arena.h"

namespace ckpt {

namespace {

enum {
  kNrSocket = 41, kNrSendto = 44, kNrRecvfrom = 45, kNrRecvmsg = 47, kNrSetsockopt = 54, kNrGetsockopt = 55,
  kSoPeekOff = 42,
};
constexpr size_t kMaxQueued = 64u << 20;  // bytes of queued data one socket may hold in an image

long get_int(int fd, int opt, int& v) {
  unsigned len = sizeof v;
  return ckpt_syscall5(kNrGetsockopt, fd, SOL_SOCKET, opt, long(&v), long(&len));
}

long set_int(int fd, int opt, int v) { return ckpt_syscall5(kNrSetsockopt, fd, SOL_SOCKET, opt, long(&v), sizeof v); }

// The peer's inode and our end's shutdown bits (RCV 1, SEND 2), from
// sock_diag. False if the kernel cannot tell (no unix_diag).
bool unix_diag(uint64_t ino, uint64_t& peer, uint32_t& shutdown) {
  long nl = ckpt_syscall3(kNrSocket, AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0) return false;
  struct {
    nlmsghdr h;
    unix_diag_req r;
  } req;
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.h.nlmsg_flags = NLM_F_REQUEST;
  req.r.sdiag_family = AF_UNIX;
  req.r.udiag_states = ~0u;
  req.r.udiag_ino = uint32_t(ino);
  req.r.udiag_show = UDIAG_SHOW_PEER;
  req.r.udiag_cookie[0] = req.r.udiag_cookie[1] = ~0u;  // INET_DIAG_NOCOOKIE: look it up by inode
  sockaddr_nl kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  alignas(8) unsigned char buf[1024];
  bool ok = ckpt_syscall6(kNrSendto, nl, long(&req), sizeof req, 0, long(&kernel), sizeof kernel) == long(sizeof req);
  long n = ok ? ckpt_syscall6(kNrRecvfrom, nl, long(buf), sizeof buf, 0, 0, 0) : -1;
  ckpt_syscall1(CKPT_NR_close, nl);
  auto h = reinterpret_cast<const nlmsghdr*>(buf);
  if (n < long(NLMSG_LENGTH(sizeof(unix_diag_msg))) || h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
      h->nlmsg_len > uint32_t(n))
    return false;
  peer = 0;
  shutdown = 0;
  size_t at = NLMSG_LENGTH(sizeof(unix_diag_msg));
  at = (at + 3) & ~size_t(3);
  while (at + sizeof(nlattr) <= h->nlmsg_len) {
    auto a = reinterpret_cast<const nlattr*>(buf + at);
    if (a->nla_len < sizeof(nlattr) || at + a->nla_len > h->nlmsg_len) break;
    const unsigned char* v = buf + at + NLA_HDRLEN;
    if (a->nla_type == UNIX_DIAG_PEER && a->nla_len >= NLA_HDRLEN + 4) {
      uint32_t p;
      memcpy(&p, v, 4);
      peer = p;
    } else if (a->nla_type == UNIX_DIAG_SHUTDOWN && a->nla_len >= NLA_HDRLEN + 1) {
      shutdown = v[0];
    }
    at += NLA_ALIGN(a->nla_len);
  }
  return true;
}

// Appends to `out` what is queued for reading: the bytes of a stream, or
// each message of a datagram or seqpacket socket as [u32 length][bytes].
// The peek offset (SO_PEEK_OFF, put back afterwards) walks the queue.
// `eof_ends`: a read of 0 bytes is the end of file after a shutdown, not an
// empty message (streams always; seqpacket sockets whose peer shut down).
bool peek_queue(int fd, bool messages, bool eof_ends, std::string& out, Msg& why) {
  int old_off = -1, passcred = 0;
  get_int(fd, kSoPeekOff, old_off);
  get_int(fd, SO_PASSCRED, passcred);
  size_t cap = 64 * 1024;
  auto buf = static_cast<unsigned char*>(arena::allocate(cap));
  bool ok = buf != nullptr;
  if (!ok) why << "out of memory";
  for (uint64_t off = 0; ok;) {
    if (set_int(fd, kSoPeekOff, int(off)) != 0) {
      why << "cannot peek at the data queued on the socket (SO_PEEK_OFF)";
      ok = false;
      break;
    }
    iovec iov = {buf, cap};
    msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    long r = ckpt_syscall3(kNrRecvmsg, fd, long(&m), MSG_PEEK | MSG_DONTWAIT | (messages ? MSG_TRUNC : 0));
    if (r == -EAGAIN) break;
    if (r < 0) {
      why << "cannot peek at the data queued on the socket: " << errno_name(int(-r));
      ok = false;
    } else if (r == 0 && eof_ends) {
      break;  // end of file: the peer shut down its side
    } else if (r == 0) {
      why << "an empty datagram is queued on the socket; it cannot be checkpointed";
      ok = false;
    } else if (messages && size_t(r) > cap) {  // the whole message does not fit: again, bigger
      arena::release(buf);
      cap = (size_t(r) + 4095) & ~size_t(4095);
      buf = static_cast<unsigned char*>(arena::allocate(cap));
      ok = buf != nullptr;
      if (!ok) why << "out of memory";
    } else if ((m.msg_flags & MSG_CTRUNC) && !passcred) {
      why << "a message queued on the socket carries file descriptors, which cannot be checkpointed";
      ok = false;
    } else if (out.size() + size_t(r) + 4 > kMaxQueued) {
      why << "more than " << uint64_t(kMaxQueued >> 20) << " MiB are queued on the socket";
      ok = false;
    } else {
      if (messages) {
        uint32_t len = uint32_t(r);
        out.append(reinterpret_cast<const char*>(&len), 4);
      }
      out.append(reinterpret_cast<const char*>(buf), size_t(r));
      off += uint64_t(r);
    }
  }
  set_int(fd, kSoPeekOff, old_off);
  if (buf) arena::release(buf);
  // A stream's peek stops before data that came with descriptors.
  int queued = 0;
  if (ok && !messages && ckpt_syscall3(CKPT_NR_ioctl, fd, SIOCINQ, long(&queued)) == 0 && size_t(queued) > out.size()) {
    why << "data queued on the socket carries file descriptors, which cannot be checkpointed";
    ok = false;
  }
  return ok;
}

}  // namespace

bool capture_unix_socket(ProcessState& st, OpenFile& f, int fd, FdCapture& fc, Msg& why) {
  SocketState& s = f.socket;
  if (s.listening || s.peer.empty()) return true;  // only connected sockets have a peer and a queue
  uint64_t peer = 0;
  uint32_t shutdown = 0;
  if (unix_diag(f.inode, peer, shutdown)) {
    s.peer_inode = peer;
    s.shutdown = shutdown;
  }
  int v = 0;
  if (get_int(fd, SO_SNDBUF, v) == 0) s.sndbuf = uint32_t(v);
  if (get_int(fd, SO_RCVBUF, v) == 0) s.rcvbuf = uint32_t(v);
  std::string queued;
  bool messages = s.type != SOCK_STREAM;
  if (!peek_queue(fd, messages, !messages ? true : s.type == SOCK_SEQPACKET && (s.shutdown & 1), queued, why))
    return false;
  if (queued.empty()) return true;
  auto data = static_cast<unsigned char*>(arena::allocate(queued.size()));
  if (!data) {
    why << "out of memory";
    return false;
  }
  memcpy(data, queued.data(), queued.size());
  f.blob = int32_t(st.blobs.size());
  st.blobs.push_back({uint32_t(f.blob), uint64_t(queued.size()), "data queued on " + f.path});
  fc.blobs.push_back({-1, data, uint64_t(queued.size())});
  return true;
}

}  // namespace ckpt
