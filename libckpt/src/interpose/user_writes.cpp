// Functions through which the kernel (or glibc) writes into the
// application's memory. With the mprotect backend a write-protected
// destination would make the call fail with EFAULT, so the destination is
// unprotected (and counted dirty) first, and stays so while the call is in
// flight: a checkpoint taken meanwhile (the thread frozen between the
// unprotecting and the system call) keeps it writable when it re-arms.
// Without the mprotect backend every wrapper is one branch and the C
// library's own function.
//
// Both the plain and the 64-bit-offset names are defined (programs built
// with _FILE_OFFSET_BITS=64 call the latter), so this file is compiled
// without that macro, which would rename one to the other.
#undef _FILE_OFFSET_BITS
#include <dirent.h>
#include <stdarg.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <initializer_list>

#include "real.h"
#include "tracking/mprotect_model.h"

namespace ckpt {
namespace {

// One destination of a call: a plain range, an iovec array, a msghdr or an
// mmsghdr array (read when the destination is touched, or at a re-arm).
struct Dest {
  enum Kind : uint8_t { None, Range, Iov, Msg, MMsg } kind = None;
  const void* p = nullptr;
  size_t n = 0;
};
Dest range(const void* p, size_t n) { return {p ? Dest::Range : Dest::None, p, n}; }
Dest iovs(const struct iovec* v, int n) { return {v && n > 0 ? Dest::Iov : Dest::None, v, size_t(n > 0 ? n : 0)}; }
Dest msg(const struct msghdr* m) { return {m ? Dest::Msg : Dest::None, m, 1}; }
Dest mmsgs(const struct mmsghdr* v, unsigned n) { return {v ? Dest::MMsg : Dest::None, v, n}; }
Dest sockaddr_out(const struct sockaddr* a, const socklen_t* len) { return range(a && len ? a : nullptr, len ? *len : 0); }

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

// Calls in flight, for the re-arm to see. busy: 0 free, 1 being filled, 2 published.
constexpr size_t kSlots = 512;
struct Slot {
  uint32_t busy;
  Dest dest[3];
};
Slot g_slots[kSlots];

class UserWrite {
 public:
  explicit UserWrite(Dest a, Dest b = {}, Dest c = {}) {
    if (!mprotect_tracking()) return;
    size_t hint = (uint64_t(__builtin_frame_address(0)) >> 14) % kSlots;
    for (size_t i = 0; i < kSlots; i++) {
      Slot& s = g_slots[(hint + i) % kSlots];
      uint32_t expected = 0;
      if (__atomic_compare_exchange_n(&s.busy, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        s.dest[0] = a, s.dest[1] = b, s.dest[2] = c;
        __atomic_store_n(&s.busy, 2, __ATOMIC_RELEASE);
        slot_ = &s;
        break;
      }
    }
    // Without a slot (512 calls in flight) the window is only unguarded.
    for (const Dest& d : {a, b, c}) for_each_range(d, [](uint64_t p, uint64_t n) { mprotect_touch(reinterpret_cast<void*>(p), n); });
  }
  ~UserWrite() {
    if (slot_) __atomic_store_n(&slot_->busy, 0, __ATOMIC_RELEASE);
  }
  UserWrite(const UserWrite&) = delete;
  UserWrite& operator=(const UserWrite&) = delete;

 private:
  Slot* slot_ = nullptr;
};

// Directory streams: glibc fills their buffer with getdents64 from inside
// readdir(); they stay writable for as long as they are open.
constexpr int kMaxDirs = 1024;
struct DirRecord {
  uint64_t start, len;  // start 0: free
};
DirRecord g_dirs[kMaxDirs];

void remember_dir(DIR* d) {
  if (!d) return;
  uint64_t start = uint64_t(d), len = malloc_usable_size(d);
  for (DirRecord& r : g_dirs) {
    uint64_t expected = 0;
    if (__atomic_compare_exchange_n(&r.start, &expected, start, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
      r.len = len;
      break;
    }
  }
  UserWrite w(range(d, len));
}

}  // namespace

void for_each_kept_writable(void (*fn)(uint64_t, uint64_t)) {
  for (const DirRecord& r : g_dirs)
    if (__atomic_load_n(&r.start, __ATOMIC_ACQUIRE)) fn(r.start, r.len);
  for (const Slot& s : g_slots)
    if (__atomic_load_n(&s.busy, __ATOMIC_ACQUIRE) == 2)
      for (const Dest& d : s.dest) for_each_range(d, fn);
}

}  // namespace ckpt

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

CKPT_EXPORT ssize_t read(int fd, void* buf, size_t n) { UserWrite w(range(buf, n)); return CKPT_REAL(read)(fd, buf, n); }
CKPT_EXPORT ssize_t pread(int fd, void* buf, size_t n, off_t off) { UserWrite w(range(buf, n)); return CKPT_REAL(pread)(fd, buf, n, off); }
CKPT_EXPORT ssize_t pread64(int fd, void* buf, size_t n, off_t off) { UserWrite w(range(buf, n)); return CKPT_REAL(pread64)(fd, buf, n, off); }
CKPT_EXPORT ssize_t preadv64(int fd, const struct iovec* iov, int n, off64_t off) {
  UserWrite w(iovs(iov, n));
  return CKPT_REAL(preadv64)(fd, iov, n, off);
}
CKPT_EXPORT ssize_t readv(int fd, const struct iovec* iov, int n) { UserWrite w(iovs(iov, n)); return CKPT_REAL(readv)(fd, iov, n); }
CKPT_EXPORT ssize_t preadv(int fd, const struct iovec* iov, int n, off_t off) {
  UserWrite w(iovs(iov, n));
  return CKPT_REAL(preadv)(fd, iov, n, off);
}
CKPT_EXPORT ssize_t preadv2(int fd, const struct iovec* iov, int n, off_t off, int flags) {
  UserWrite w(iovs(iov, n));
  return CKPT_REAL(preadv2)(fd, iov, n, off, flags);
}
CKPT_EXPORT ssize_t recv(int fd, void* buf, size_t n, int flags) { UserWrite w(range(buf, n)); return CKPT_REAL(recv)(fd, buf, n, flags); }
CKPT_EXPORT ssize_t recvfrom(int fd, void* buf, size_t n, int flags, struct sockaddr* a, socklen_t* al) {
  UserWrite w(range(buf, n), sockaddr_out(a, al), range(al, sizeof *al));
  return CKPT_REAL(recvfrom)(fd, buf, n, flags, a, al);
}
CKPT_EXPORT ssize_t recvmsg(int fd, struct msghdr* m, int flags) { UserWrite w(msg(m)); return CKPT_REAL(recvmsg)(fd, m, flags); }
CKPT_EXPORT int recvmmsg(int fd, struct mmsghdr* v, unsigned n, int flags, struct timespec* t) {
  UserWrite w(mmsgs(v, n));
  return CKPT_REAL(recvmmsg)(fd, v, n, flags, t);
}
CKPT_EXPORT size_t fread(void* buf, size_t size, size_t n, FILE* f) { UserWrite w(range(buf, size * n)); return CKPT_REAL(fread)(buf, size, n, f); }
CKPT_EXPORT size_t fread_unlocked(void* buf, size_t size, size_t n, FILE* f) {
  UserWrite w(range(buf, size * n));
  return CKPT_REAL(fread_unlocked)(buf, size, n, f);
}
CKPT_EXPORT char* fgets(char* buf, int n, FILE* f) { UserWrite w(range(buf, size_t(n > 0 ? n : 0))); return CKPT_REAL(fgets)(buf, n, f); }
CKPT_EXPORT ssize_t getdelim(char** line, size_t* n, int delim, FILE* f) {
  UserWrite w(range(line && n ? *line : nullptr, n ? *n : 0));
  return CKPT_REAL(getdelim)(line, n, delim, f);
}
CKPT_EXPORT ssize_t getline(char** line, size_t* n, FILE* f) { return getdelim(line, n, '\n', f); }
CKPT_EXPORT ssize_t readlink(const char* p, char* buf, size_t n) { UserWrite w(range(buf, n)); return CKPT_REAL(readlink)(p, buf, n); }
CKPT_EXPORT ssize_t readlinkat(int d, const char* p, char* buf, size_t n) {
  UserWrite w(range(buf, n));
  return CKPT_REAL(readlinkat)(d, p, buf, n);
}
CKPT_EXPORT char* getcwd(char* buf, size_t n) { UserWrite w(range(buf, n)); return CKPT_REAL(getcwd)(buf, n); }
CKPT_EXPORT int stat(const char* p, struct stat* s) { UserWrite w(range(s, sizeof *s)); return CKPT_REAL(stat)(p, s); }
CKPT_EXPORT int lstat(const char* p, struct stat* s) { UserWrite w(range(s, sizeof *s)); return CKPT_REAL(lstat)(p, s); }
CKPT_EXPORT int fstat(int fd, struct stat* s) { UserWrite w(range(s, sizeof *s)); return CKPT_REAL(fstat)(fd, s); }
CKPT_EXPORT int fstatat(int d, const char* p, struct stat* s, int fl) { UserWrite w(range(s, sizeof *s)); return CKPT_REAL(fstatat)(d, p, s, fl); }
CKPT_EXPORT int stat64(const char* p, struct stat64* s) { UserWrite w(range(s, sizeof *s)); return CKPT_REAL(stat64)(p, s); }
CKPT_EXPORT int lstat64(const char* p, struct stat64* s) { UserWrite w(range(s, sizeof *s)); return CKPT_REAL(lstat64)(p, s); }
CKPT_EXPORT int fstat64(int fd, struct stat64* s) { UserWrite w(range(s, sizeof *s)); return CKPT_REAL(fstat64)(fd, s); }
CKPT_EXPORT int fstatat64(int d, const char* p, struct stat64* s, int fl) {
  UserWrite w(range(s, sizeof *s));
  return CKPT_REAL(fstatat64)(d, p, s, fl);
}
CKPT_EXPORT int statfs64(const char* p, struct statfs64* s) { UserWrite w(range(s, sizeof *s)); return CKPT_REAL(statfs64)(p, s); }
CKPT_EXPORT int fstatfs64(int fd, struct statfs64* s) { UserWrite w(range(s, sizeof *s)); return CKPT_REAL(fstatfs64)(fd, s); }
CKPT_EXPORT int getrlimit64(__rlimit_resource_t r, struct rlimit64* l) {
  UserWrite w(range(l, sizeof *l));
  return CKPT_REAL(getrlimit64)(r, l);
}
CKPT_EXPORT int statx(int d, const char* p, int fl, unsigned mask, struct statx* s) {
  UserWrite w(range(s, sizeof *s));
  return CKPT_REAL(statx)(d, p, fl, mask, s);
}
CKPT_EXPORT int statfs(const char* p, struct statfs* s) { UserWrite w(range(s, sizeof *s)); return CKPT_REAL(statfs)(p, s); }
CKPT_EXPORT int fstatfs(int fd, struct statfs* s) { UserWrite w(range(s, sizeof *s)); return CKPT_REAL(fstatfs)(fd, s); }
CKPT_EXPORT ssize_t getdents64(int fd, void* buf, size_t n) { UserWrite w(range(buf, n)); return CKPT_REAL(getdents64)(fd, buf, n); }
CKPT_EXPORT int getsockopt(int fd, int level, int opt, void* v, socklen_t* len) {
  UserWrite w(range(v && len ? v : nullptr, len ? *len : 0), range(len, sizeof *len));
  return CKPT_REAL(getsockopt)(fd, level, opt, v, len);
}
CKPT_EXPORT int getsockname(int fd, struct sockaddr* a, socklen_t* len) {
  UserWrite w(sockaddr_out(a, len), range(len, sizeof *len));
  return CKPT_REAL(getsockname)(fd, a, len);
}
CKPT_EXPORT int getpeername(int fd, struct sockaddr* a, socklen_t* len) {
  UserWrite w(sockaddr_out(a, len), range(len, sizeof *len));
  return CKPT_REAL(getpeername)(fd, a, len);
}
CKPT_EXPORT int accept(int fd, struct sockaddr* a, socklen_t* len) {
  UserWrite w(sockaddr_out(a, len), range(len, sizeof *len));
  return CKPT_REAL(accept)(fd, a, len);
}
CKPT_EXPORT int accept4(int fd, struct sockaddr* a, socklen_t* len, int flags) {
  UserWrite w(sockaddr_out(a, len), range(len, sizeof *len));
  return CKPT_REAL(accept4)(fd, a, len, flags);
}
CKPT_EXPORT pid_t waitpid(pid_t p, int* st, int o) { UserWrite w(range(st, sizeof *st)); return CKPT_REAL(waitpid)(p, st, o); }
CKPT_EXPORT pid_t wait(int* st) { UserWrite w(range(st, sizeof *st)); return CKPT_REAL(wait)(st); }
CKPT_EXPORT pid_t wait4(pid_t p, int* st, int o, struct rusage* r) {
  UserWrite w(range(st, sizeof *st), range(r, sizeof *r));
  return CKPT_REAL(wait4)(p, st, o, r);
}
CKPT_EXPORT int waitid(idtype_t t, id_t id, siginfo_t* i, int o) { UserWrite w(range(i, sizeof *i)); return CKPT_REAL(waitid)(t, id, i, o); }
CKPT_EXPORT int pipe(int fds[2]) { UserWrite w(range(fds, 2 * sizeof(int))); return CKPT_REAL(pipe)(fds); }
CKPT_EXPORT int pipe2(int fds[2], int flags) { UserWrite w(range(fds, 2 * sizeof(int))); return CKPT_REAL(pipe2)(fds, flags); }
CKPT_EXPORT int socketpair(int d, int t, int p, int sv[2]) { UserWrite w(range(sv, 2 * sizeof(int))); return CKPT_REAL(socketpair)(d, t, p, sv); }
CKPT_EXPORT int getrusage(int who, struct rusage* r) { UserWrite w(range(r, sizeof *r)); return CKPT_REAL(getrusage)(who, r); }
CKPT_EXPORT clock_t times(struct tms* t) { UserWrite w(range(t, sizeof *t)); return CKPT_REAL(times)(t); }
CKPT_EXPORT int uname(struct utsname* u) { UserWrite w(range(u, sizeof *u)); return CKPT_REAL(uname)(u); }
CKPT_EXPORT int sysinfo(struct sysinfo* i) { UserWrite w(range(i, sizeof *i)); return CKPT_REAL(sysinfo)(i); }
CKPT_EXPORT int getrlimit(__rlimit_resource_t r, struct rlimit* l) { UserWrite w(range(l, sizeof *l)); return CKPT_REAL(getrlimit)(r, l); }
CKPT_EXPORT ssize_t getrandom(void* buf, size_t n, unsigned flags) { UserWrite w(range(buf, n)); return CKPT_REAL(getrandom)(buf, n, flags); }
CKPT_EXPORT int getentropy(void* buf, size_t n) { UserWrite w(range(buf, n)); return CKPT_REAL(getentropy)(buf, n); }
CKPT_EXPORT int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  UserWrite w(range(arg, 256));  // the size depends on the request; whatever it is starts here
  return CKPT_REAL(ioctl)(fd, req, arg);
}
CKPT_EXPORT DIR* opendir(const char* p) {
  DIR* d = CKPT_REAL(opendir)(p);
  remember_dir(d);
  return d;
}
CKPT_EXPORT DIR* fdopendir(int fd) {
  DIR* d = CKPT_REAL(fdopendir)(fd);
  remember_dir(d);
  return d;
}
CKPT_EXPORT int closedir(DIR* d) {
  for (DirRecord& r : g_dirs)
    if (__atomic_load_n(&r.start, __ATOMIC_ACQUIRE) == uint64_t(d)) __atomic_store_n(&r.start, 0, __ATOMIC_RELEASE);
  return CKPT_REAL(closedir)(d);
}
