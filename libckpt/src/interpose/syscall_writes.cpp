#include "syscall_writes.h"

#include <linux/capability.h>
#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "common/raw_syscall.h"

namespace ckpt {

namespace {

// How an output argument's size is found.
enum class Size : uint8_t {
  Fixed,       // `param` bytes
  Arg,         // the value of argument `param`, in bytes
  ArgCount,    // argument `param` elements of `elem` bytes
  LenPtr,      // *(socklen_t*) argument `param` bytes (a sockaddr and its length)
  Iov,         // an iovec array; argument `param` elements
  Msg,         // a msghdr
  MMsg,        // an mmsghdr array; argument `param` elements
  FdSet,       // an fd_set of argument `param` (nfds) descriptors
  Pages,       // one byte per page of argument `param` bytes (mincore)
  Special,     // computed by special_dests()
};

struct Out {
  int8_t arg;   // which argument points at the destination (-1: none)
  Size size;
  uint8_t param;
  uint16_t elem;
};

struct Entry {
  long nr;
  Out out[4];
};

constexpr Out F(int arg, uint16_t bytes) { return {int8_t(arg), Size::Fixed, 0, bytes}; }
constexpr Out A(int arg, int len_arg) { return {int8_t(arg), Size::Arg, uint8_t(len_arg), 0}; }
constexpr Out N(int arg, int count_arg, uint16_t elem) { return {int8_t(arg), Size::ArgCount, uint8_t(count_arg), elem}; }
constexpr Out L(int arg, int lenptr_arg) { return {int8_t(arg), Size::LenPtr, uint8_t(lenptr_arg), 0}; }
constexpr Out V(int arg, int count_arg) { return {int8_t(arg), Size::Iov, uint8_t(count_arg), 0}; }
constexpr Out S() { return {0, Size::Special, 0, 0}; }

// x86-64 sizes of the kernel's structures.
constexpr uint16_t kStat = 144, kStatx = 256, kStatfs = 120, kRusage = 144, kTms = 32, kUtsname = 390,
                   kSysinfo = 112, kRlimit = 16, kSiginfo = 128, kStack = 24, kTimespec = 16, kTimeval = 16,
                   kItimer = 32, kEpollEvent = 12, kPollfd = 8, kTimex = 208;

const Entry kTable[] = {
    {SYS_read, {A(1, 2)}},
    {SYS_pread64, {A(1, 2)}},
    {SYS_readv, {V(1, 2)}},
    {SYS_preadv, {V(1, 2)}},
    {SYS_preadv2, {V(1, 2)}},
    {SYS_vmsplice, {V(1, 2)}},
    {SYS_process_vm_readv, {V(1, 2)}},
    {SYS_process_vm_writev, {S()}},
    {SYS_recvfrom, {A(1, 2), L(4, 5), F(5, 4)}},
    {SYS_recvmsg, {{1, Size::Msg, 0, 0}}},
    {SYS_recvmmsg, {{1, Size::MMsg, 2, 0}}},
    {SYS_accept, {L(1, 2), F(2, 4)}},
    {SYS_accept4, {L(1, 2), F(2, 4)}},
    {SYS_getsockname, {L(1, 2), F(2, 4)}},
    {SYS_getpeername, {L(1, 2), F(2, 4)}},
    {SYS_getsockopt, {L(3, 4), F(4, 4)}},
    {SYS_socketpair, {F(3, 8)}},
    {SYS_pipe, {F(0, 8)}},
    {SYS_pipe2, {F(0, 8)}},
    {SYS_getdents, {A(1, 2)}},
    {SYS_getdents64, {A(1, 2)}},
    {SYS_readlink, {A(1, 2)}},
    {SYS_readlinkat, {A(2, 3)}},
    {SYS_getcwd, {A(0, 1)}},
    {SYS_stat, {F(1, kStat)}},
    {SYS_lstat, {F(1, kStat)}},
    {SYS_fstat, {F(1, kStat)}},
    {SYS_newfstatat, {F(2, kStat)}},
    {SYS_statx, {F(4, kStatx)}},
    {SYS_statfs, {F(1, kStatfs)}},
    {SYS_fstatfs, {F(1, kStatfs)}},
    {SYS_getxattr, {A(2, 3)}},
    {SYS_lgetxattr, {A(2, 3)}},
    {SYS_fgetxattr, {A(2, 3)}},
    {SYS_listxattr, {A(1, 2)}},
    {SYS_llistxattr, {A(1, 2)}},
    {SYS_flistxattr, {A(1, 2)}},
    {SYS_wait4, {F(1, 4), F(3, kRusage)}},
    {SYS_waitid, {F(2, kSiginfo), F(4, kRusage)}},
    {SYS_getrusage, {F(1, kRusage)}},
    {SYS_times, {F(0, kTms)}},
    {SYS_uname, {F(0, kUtsname)}},
    {SYS_sysinfo, {F(0, kSysinfo)}},
    {SYS_getrlimit, {F(1, kRlimit)}},
    {SYS_prlimit64, {F(3, kRlimit)}},
    {SYS_getrandom, {A(0, 1)}},
    {SYS_getresuid, {F(0, 4), F(1, 4), F(2, 4)}},
    {SYS_getresgid, {F(0, 4), F(1, 4), F(2, 4)}},
    {SYS_getgroups, {N(1, 0, 4)}},
    {SYS_getcpu, {F(0, 4), F(1, 4)}},
    {SYS_sched_getaffinity, {A(2, 1)}},
    {SYS_sched_getparam, {F(1, 4)}},
    {SYS_sched_getattr, {A(1, 2)}},
    {SYS_sched_rr_get_interval, {F(1, kTimespec)}},
    {SYS_get_mempolicy, {F(0, 4), S()}},
    {SYS_move_pages, {N(4, 1, 4)}},
    {SYS_mincore, {{2, Size::Pages, 1, 0}}},
    {SYS_capget, {F(0, 8), S()}},
    {SYS_prctl, {S()}},
    {SYS_ioctl, {S()}},
    {SYS_futex, {S()}},
    {SYS_ptrace, {S()}},
    {SYS_syslog, {S()}},
    {SYS_arch_prctl, {S()}},
    {SYS_rt_sigprocmask, {A(2, 3)}},
    {SYS_rt_sigpending, {A(0, 1)}},
    {SYS_rt_sigtimedwait, {F(1, kSiginfo)}},
    {SYS_rt_sigaction, {S()}},
    {SYS_sigaltstack, {F(1, kStack)}},
    {SYS_epoll_wait, {N(1, 2, kEpollEvent)}},
    {SYS_epoll_pwait, {N(1, 2, kEpollEvent)}},
    {SYS_epoll_pwait2, {N(1, 2, kEpollEvent)}},
    {SYS_poll, {N(0, 1, kPollfd)}},
    {SYS_ppoll, {N(0, 1, kPollfd), F(2, kTimespec)}},
    {SYS_select, {{1, Size::FdSet, 0, 0}, {2, Size::FdSet, 0, 0}, {3, Size::FdSet, 0, 0}, F(4, kTimeval)}},
    {SYS_pselect6, {{1, Size::FdSet, 0, 0}, {2, Size::FdSet, 0, 0}, {3, Size::FdSet, 0, 0}, F(4, kTimespec)}},
    {SYS_nanosleep, {F(1, kTimespec)}},
    {SYS_clock_nanosleep, {F(3, kTimespec)}},
    {SYS_clock_gettime, {F(1, kTimespec)}},
    {SYS_clock_getres, {F(1, kTimespec)}},
    {SYS_gettimeofday, {F(0, kTimeval), F(1, 8)}},
    {SYS_time, {F(0, 8)}},
    {SYS_getitimer, {F(1, kItimer)}},
    {SYS_setitimer, {F(2, kItimer)}},
    {SYS_timer_create, {F(2, 4)}},
    {SYS_timer_gettime, {F(1, kItimer)}},
    {SYS_timer_settime, {F(3, kItimer)}},
    {SYS_timerfd_gettime, {F(1, kItimer)}},
    {SYS_timerfd_settime, {F(3, kItimer)}},
    {SYS_adjtimex, {F(0, kTimex)}},
    {SYS_clock_adjtime, {F(1, kTimex)}},
    {SYS_mq_timedreceive, {A(1, 2), F(3, 4)}},
    {SYS_msgrcv, {S()}},
    {SYS_sendfile, {F(2, 8)}},
    {SYS_splice, {F(1, 8), F(3, 8)}},
    {SYS_copy_file_range, {F(1, 8), F(3, 8)}},
    {SYS_get_robust_list, {F(1, 8), F(2, 8)}},
    {SYS_rseq, {A(0, 1)}},
};

Dest range(long p, uint64_t n) { return {p && n ? Dest::Range : Dest::None, reinterpret_cast<const void*>(p), n}; }

// Arguments whose output depends on another argument's value.
size_t special_dests(long nr, const long a[6], Dest* out) {
  switch (nr) {
    case SYS_prctl:
      switch (a[0]) {
        case PR_GET_NAME: out[0] = range(a[1], 16); return 1;
        case PR_GET_TID_ADDRESS: out[0] = range(a[1], 8); return 1;
        case PR_GET_PDEATHSIG: case PR_GET_UNALIGN: case PR_GET_FPEMU: case PR_GET_FPEXC: case PR_GET_ENDIAN:
        case PR_GET_TSC: case PR_GET_CHILD_SUBREAPER:
          out[0] = range(a[1], 4);
          return 1;
        case 0x41555856 /* PR_GET_AUXV */: out[0] = range(a[1], uint64_t(a[2])); return 1;
        case PR_SET_MM:
          if (a[1] == PR_SET_MM_MAP_SIZE) {
            out[0] = range(a[2], 4);
            return 1;
          }
          return 0;
        default: return 0;
      }
    case SYS_ioctl: {
      // The size is in the request number when it says the kernel writes;
      // older requests do not say: assume a generous 256 bytes.
      uint64_t req = uint64_t(a[1]), dir = (req >> 30) & 3, size = (req >> 16) & 0x3fff;
      out[0] = range(a[2], dir & 2 /* _IOC_READ */ ? size : dir == 0 ? 256 : 0);
      return 1;
    }
    case SYS_futex:
      switch (a[1] & FUTEX_CMD_MASK) {
        case FUTEX_WAKE_OP: case FUTEX_CMP_REQUEUE_PI: out[0] = range(a[4], 4); return 1;
        case FUTEX_LOCK_PI: case FUTEX_UNLOCK_PI: case FUTEX_TRYLOCK_PI: case 13 /* FUTEX_LOCK_PI2 */:
          out[0] = range(a[0], 4);
          return 1;
        case FUTEX_WAIT_REQUEUE_PI: out[0] = range(a[0], 4); out[1] = range(a[4], 4); return 2;
        default: return 0;
      }
    case SYS_capget: {
      // One data structure for version 1, two for versions 2 and 3.
      uint32_t version = a[0] ? *reinterpret_cast<const uint32_t*>(a[0]) : 0;
      out[0] = range(a[1], version == _LINUX_CAPABILITY_VERSION_1 ? 12 : 24);
      return 1;
    }
    case SYS_process_vm_writev:  // into this very process: its remote iovecs
      if (a[0] != ckpt_syscall0(CKPT_NR_getpid)) return 0;
      out[0] = {a[3] && a[4] > 0 ? Dest::Iov : Dest::None, reinterpret_cast<const void*>(a[3]), size_t(a[4])};
      return 1;
    case SYS_get_mempolicy: out[0] = range(a[1], (uint64_t(a[2]) + 63) / 64 * 8); return 1;
    case SYS_rt_sigaction: out[0] = range(a[2], 24 + uint64_t(a[3])); return 1;
    case SYS_msgrcv: out[0] = range(a[1], uint64_t(a[2]) + 8); return 1;
    case SYS_syslog: out[0] = range(a[1], a[0] >= 2 && a[0] <= 4 ? uint64_t(a[2]) : 0); return 1;
    case SYS_arch_prctl: out[0] = range(a[1], a[0] == 0x1003 || a[0] == 0x1004 ? 8 : 0); return 1;
    case SYS_ptrace:
      switch (a[0]) {
        case 1: case 2: case 3: case 0x4201: out[0] = range(a[3], 8); return 1;  // PEEK*, GETEVENTMSG
        case 12: out[0] = range(a[3], 216); return 1;                             // GETREGS
        case 14: out[0] = range(a[3], 512); return 1;                             // GETFPREGS
        case 0x4202: out[0] = range(a[3], kSiginfo); return 1;                    // GETSIGINFO
        case 0x4204: out[0] = {Dest::Iov, reinterpret_cast<const void*>(a[3]), 1}; return 1;  // GETREGSET
        default: return 0;
      }
    default: return 0;
  }
}

}  // namespace

size_t syscall_dests(long nr, const long a[6], Dest out[kMaxDests]) {
  const Entry* e = nullptr;
  for (const Entry& x : kTable)
    if (x.nr == nr) e = &x;
  if (!e) return 0;
  size_t n = 0;
  for (const Out& o : e->out) {
    if (o.arg < 0 || (o.size == Size::Fixed && o.elem == 0)) continue;
    long p = a[o.arg];
    switch (o.size) {
      case Size::Fixed: out[n++] = range(p, o.elem); break;
      case Size::Arg: out[n++] = range(p, uint64_t(a[o.param])); break;
      case Size::ArgCount: out[n++] = range(p, uint64_t(a[o.param]) * o.elem); break;
      case Size::LenPtr:
        out[n++] = range(p, a[o.param] ? *reinterpret_cast<const socklen_t*>(a[o.param]) : 0);
        break;
      case Size::Iov:
        out[n++] = {p && a[o.param] > 0 ? Dest::Iov : Dest::None, reinterpret_cast<const void*>(p), size_t(a[o.param])};
        break;
      case Size::Msg: out[n++] = {p ? Dest::Msg : Dest::None, reinterpret_cast<const void*>(p), 1}; break;
      case Size::MMsg: out[n++] = {p ? Dest::MMsg : Dest::None, reinterpret_cast<const void*>(p), size_t(a[o.param])}; break;
      case Size::FdSet: out[n++] = range(p, (uint64_t(a[o.param]) + 63) / 64 * 8); break;
      case Size::Pages: out[n++] = range(p, (uint64_t(a[o.param]) + 4095) / 4096); break;
      case Size::Special: n += special_dests(nr, a, out + n); break;
    }
  }
  return n;
}

void for_each_range(const Dest& d, void (*fn)(uint64_t, uint64_t)) {
  auto one = [fn](const void* p, size_t n) {
    if (p && n) fn(uint64_t(p), n);
  };
  auto iov = [&](const struct iovec* v, size_t n) {
    for (size_t i = 0; v && i < n; i++) one(v[i].iov_base, v[i].iov_len);
  };
  auto hdr = [&](const struct msghdr* m) {
    one(m->msg_name, m->msg_namelen);
    one(m->msg_control, m->msg_controllen);
    iov(m->msg_iov, m->msg_iovlen);
  };
  switch (d.kind) {
    case Dest::None: break;
    case Dest::Range: one(d.p, d.n); break;
    case Dest::Iov: iov(static_cast<const struct iovec*>(d.p), d.n); break;
    case Dest::Msg: hdr(static_cast<const struct msghdr*>(d.p)); break;
    case Dest::MMsg:
      for (size_t i = 0; i < d.n; i++) {
        const auto* m = static_cast<const struct mmsghdr*>(d.p) + i;
        hdr(&m->msg_hdr);
        one(&m->msg_len, sizeof m->msg_len);
      }
      break;
  }
}

}  // namespace ckpt
