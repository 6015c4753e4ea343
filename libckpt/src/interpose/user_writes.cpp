// The public functions through which the kernel (or glibc) writes into the
// application's memory, for the mprotect backend (user_writes.h). Each
// wrapper names the system call it makes and its arguments; what that call
// writes comes from one table (syscall_writes.cpp). Functions that are not
// one system call name their destinations directly. The waits
// (waits.cpp) and signal-mask calls (signals.cpp) use the same mechanism,
// and syscall(2) itself (syscall.cpp).
//
// glibc also fills buffers of its own from inside (no interposer sees those
// calls): stdio buffers and directory streams are kept writable while they
// exist. Other internal calls into heap buffers (the resolver's, NSS's,
// getifaddrs') can still fail with EFAULT: see the tracker's header.
//
// Both the plain and the 64-bit-offset names are defined (programs built
// with _FILE_OFFSET_BITS=64 call the latter), so this file is compiled
// without that macro, which would rename one to the other. The _chk
// variants are what programs built with _FORTIFY_SOURCE call.
#undef _FILE_OFFSET_BITS
#include "user_writes.h"

#include <dirent.h>
#include <malloc.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/times.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mem_file.h"
#include "real.h"
#include "tracking/mprotect_model.h"

namespace ckpt {
namespace {

// Calls in flight, for the re-arm to see. busy: 0 free, 1 being filled, 2 published.
constexpr size_t kSlots = 512;
struct Slot {
  uint32_t busy;
  uint32_t n;
  Dest dest[kMaxDests];
};
Slot g_slots[kSlots];

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
  UserWrite w(dest_range(d, len));
}

// A new stdio stream gets its buffer at once (glibc would allocate it at
// the first read, from the heap, and read(2) into it from inside), and that
// buffer stays writable (at every re-arm too: mprotect_tracker.cpp walks
// the streams).
FILE* with_buffer(FILE* f) {
  if (f) note_opened(fileno(f));  // /proc/self/mem (mem_file.cpp)
  if (f && mprotect_tracking()) {
    if (!f->_IO_buf_base) _IO_doallocbuf(f);
    if (f->_IO_buf_base && f->_IO_buf_end > f->_IO_buf_base)
      mprotect_touch(f->_IO_buf_base, size_t(f->_IO_buf_end - f->_IO_buf_base));
  }
  return f;
}

}  // namespace

// Selected, not merely armed: a call already in flight when a checkpoint
// arms tracking for the first time must be kept writable too.
bool UserWrite::armed() { return mprotect_selected(); }

void UserWrite::begin(const Dest* d, size_t n) {
  size_t hint = (uint64_t(__builtin_frame_address(0)) >> 14) % kSlots;
  for (size_t i = 0; i < kSlots; i++) {
    Slot& s = g_slots[(hint + i) % kSlots];
    uint32_t expected = 0;
    if (__atomic_compare_exchange_n(&s.busy, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
      s.n = uint32_t(n);
      for (size_t k = 0; k < n; k++) s.dest[k] = d[k];
      __atomic_store_n(&s.busy, 2, __ATOMIC_RELEASE);
      slot_ = &s;
      break;
    }
  }
  // Without a slot (512 calls in flight) the window is only unguarded.
  for (size_t k = 0; k < n; k++)
    for_each_range(d[k], [](uint64_t p, uint64_t len) { mprotect_touch(reinterpret_cast<void*>(p), len); });
}

UserWrite::~UserWrite() {
  if (slot_) __atomic_store_n(&static_cast<Slot*>(slot_)->busy, 0, __ATOMIC_RELEASE);
}

void for_each_kept_writable(void (*fn)(uint64_t, uint64_t)) {
  for (const DirRecord& r : g_dirs)
    if (__atomic_load_n(&r.start, __ATOMIC_ACQUIRE)) fn(r.start, r.len);
  for (const Slot& s : g_slots)
    if (__atomic_load_n(&s.busy, __ATOMIC_ACQUIRE) == 2)
      for (uint32_t k = 0; k < s.n; k++) for_each_range(s.dest[k], fn);
}

}  // namespace ckpt

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

// --- reads -------------------------------------------------------------------

CKPT_EXPORT ssize_t read(int fd, void* buf, size_t n) { UserWrite w(SYS_read, fd, buf, n); return CKPT_REAL(read)(fd, buf, n); }
CKPT_EXPORT ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
  UserWrite w(SYS_read, fd, buf, n);
  return CKPT_REAL(__read_chk)(fd, buf, n, buflen);
}
CKPT_EXPORT ssize_t pread(int fd, void* buf, size_t n, off_t off) {
  UserWrite w(SYS_pread64, fd, buf, n);
  return CKPT_REAL(pread)(fd, buf, n, off);
}
CKPT_EXPORT ssize_t pread64(int fd, void* buf, size_t n, off_t off) {
  UserWrite w(SYS_pread64, fd, buf, n);
  return CKPT_REAL(pread64)(fd, buf, n, off);
}
CKPT_EXPORT ssize_t __pread_chk(int fd, void* buf, size_t n, off_t off, size_t buflen) {
  UserWrite w(SYS_pread64, fd, buf, n);
  return CKPT_REAL(__pread_chk)(fd, buf, n, off, buflen);
}
CKPT_EXPORT ssize_t __pread64_chk(int fd, void* buf, size_t n, off_t off, size_t buflen) {
  UserWrite w(SYS_pread64, fd, buf, n);
  return CKPT_REAL(__pread64_chk)(fd, buf, n, off, buflen);
}
CKPT_EXPORT ssize_t readv(int fd, const struct iovec* iov, int n) {
  UserWrite w(SYS_readv, fd, iov, n);
  return CKPT_REAL(readv)(fd, iov, n);
}
CKPT_EXPORT ssize_t preadv(int fd, const struct iovec* iov, int n, off_t off) {
  UserWrite w(SYS_readv, fd, iov, n);
  return CKPT_REAL(preadv)(fd, iov, n, off);
}
CKPT_EXPORT ssize_t preadv64(int fd, const struct iovec* iov, int n, off64_t off) {
  UserWrite w(SYS_readv, fd, iov, n);
  return CKPT_REAL(preadv64)(fd, iov, n, off);
}
CKPT_EXPORT ssize_t preadv2(int fd, const struct iovec* iov, int n, off_t off, int flags) {
  UserWrite w(SYS_readv, fd, iov, n);
  return CKPT_REAL(preadv2)(fd, iov, n, off, flags);
}
CKPT_EXPORT ssize_t preadv64v2(int fd, const struct iovec* iov, int n, off64_t off, int flags) {
  UserWrite w(SYS_readv, fd, iov, n);
  return CKPT_REAL(preadv64v2)(fd, iov, n, off, flags);
}
CKPT_EXPORT ssize_t process_vm_readv(pid_t pid, const struct iovec* local, unsigned long nlocal,
                                     const struct iovec* remote, unsigned long nremote, unsigned long flags) {
  UserWrite w(SYS_process_vm_readv, pid, local, nlocal);
  return CKPT_REAL(process_vm_readv)(pid, local, nlocal, remote, nremote, flags);
}
// Writing into this process itself goes through its page tables: the
// destinations are this process's memory.
CKPT_EXPORT ssize_t process_vm_writev(pid_t pid, const struct iovec* local, unsigned long nlocal,
                                      const struct iovec* remote, unsigned long nremote, unsigned long flags) {
  UserWrite w(SYS_process_vm_writev, pid, local, nlocal, remote, nremote);
  return CKPT_REAL(process_vm_writev)(pid, local, nlocal, remote, nremote, flags);
}
CKPT_EXPORT ssize_t vmsplice(int fd, const struct iovec* iov, size_t n, unsigned flags) {
  UserWrite w(SYS_vmsplice, fd, iov, n);
  return CKPT_REAL(vmsplice)(fd, iov, n, flags);
}

// --- sockets -----------------------------------------------------------------

CKPT_EXPORT ssize_t recv(int fd, void* buf, size_t n, int flags) {
  UserWrite w(SYS_recvfrom, fd, buf, n, flags, 0, 0);
  return CKPT_REAL(recv)(fd, buf, n, flags);
}
CKPT_EXPORT ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags) {
  UserWrite w(SYS_recvfrom, fd, buf, n, flags, 0, 0);
  return CKPT_REAL(__recv_chk)(fd, buf, n, buflen, flags);
}
CKPT_EXPORT ssize_t recvfrom(int fd, void* buf, size_t n, int flags, struct sockaddr* a, socklen_t* al) {
  UserWrite w(SYS_recvfrom, fd, buf, n, flags, a, al);
  return CKPT_REAL(recvfrom)(fd, buf, n, flags, a, al);
}
CKPT_EXPORT ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags, struct sockaddr* a,
                                   socklen_t* al) {
  UserWrite w(SYS_recvfrom, fd, buf, n, flags, a, al);
  return CKPT_REAL(__recvfrom_chk)(fd, buf, n, buflen, flags, a, al);
}
CKPT_EXPORT ssize_t recvmsg(int fd, struct msghdr* m, int flags) {
  UserWrite w(SYS_recvmsg, fd, m, flags);
  return CKPT_REAL(recvmsg)(fd, m, flags);
}
CKPT_EXPORT int recvmmsg(int fd, struct mmsghdr* v, unsigned n, int flags, struct timespec* t) {
  UserWrite w(SYS_recvmmsg, fd, v, n, flags, t);
  return CKPT_REAL(recvmmsg)(fd, v, n, flags, t);
}
CKPT_EXPORT int getsockopt(int fd, int level, int opt, void* v, socklen_t* len) {
  UserWrite w(SYS_getsockopt, fd, level, opt, v, len);
  return CKPT_REAL(getsockopt)(fd, level, opt, v, len);
}
CKPT_EXPORT int getsockname(int fd, struct sockaddr* a, socklen_t* len) {
  UserWrite w(SYS_getsockname, fd, a, len);
  return CKPT_REAL(getsockname)(fd, a, len);
}
CKPT_EXPORT int getpeername(int fd, struct sockaddr* a, socklen_t* len) {
  UserWrite w(SYS_getpeername, fd, a, len);
  return CKPT_REAL(getpeername)(fd, a, len);
}
CKPT_EXPORT int accept(int fd, struct sockaddr* a, socklen_t* len) {
  UserWrite w(SYS_accept, fd, a, len);
  return CKPT_REAL(accept)(fd, a, len);
}
CKPT_EXPORT int accept4(int fd, struct sockaddr* a, socklen_t* len, int flags) {
  UserWrite w(SYS_accept4, fd, a, len, flags);
  return CKPT_REAL(accept4)(fd, a, len, flags);
}
CKPT_EXPORT int socketpair(int d, int t, int p, int sv[2]) {
  UserWrite w(SYS_socketpair, d, t, p, sv);
  return CKPT_REAL(socketpair)(d, t, p, sv);
}
CKPT_EXPORT int pipe(int fds[2]) { UserWrite w(SYS_pipe, fds); return CKPT_REAL(pipe)(fds); }
CKPT_EXPORT int pipe2(int fds[2], int flags) { UserWrite w(SYS_pipe2, fds, flags); return CKPT_REAL(pipe2)(fds, flags); }

// --- files -------------------------------------------------------------------

CKPT_EXPORT ssize_t readlink(const char* p, char* buf, size_t n) {
  UserWrite w(SYS_readlink, p, buf, n);
  return CKPT_REAL(readlink)(p, buf, n);
}
CKPT_EXPORT ssize_t __readlink_chk(const char* p, char* buf, size_t n, size_t buflen) {
  UserWrite w(SYS_readlink, p, buf, n);
  return CKPT_REAL(__readlink_chk)(p, buf, n, buflen);
}
CKPT_EXPORT ssize_t readlinkat(int d, const char* p, char* buf, size_t n) {
  UserWrite w(SYS_readlinkat, d, p, buf, n);
  return CKPT_REAL(readlinkat)(d, p, buf, n);
}
CKPT_EXPORT ssize_t __readlinkat_chk(int d, const char* p, char* buf, size_t n, size_t buflen) {
  UserWrite w(SYS_readlinkat, d, p, buf, n);
  return CKPT_REAL(__readlinkat_chk)(d, p, buf, n, buflen);
}
CKPT_EXPORT char* getcwd(char* buf, size_t n) { UserWrite w(SYS_getcwd, buf, n); return CKPT_REAL(getcwd)(buf, n); }
CKPT_EXPORT char* __getcwd_chk(char* buf, size_t n, size_t buflen) {
  UserWrite w(SYS_getcwd, buf, n);
  return CKPT_REAL(__getcwd_chk)(buf, n, buflen);
}
CKPT_EXPORT int ttyname_r(int fd, char* buf, size_t n) {  // readlink of /proc/self/fd/FD into buf
  UserWrite w(dest_range(buf, n));
  return CKPT_REAL(ttyname_r)(fd, buf, n);
}
CKPT_EXPORT int stat(const char* p, struct stat* s) { UserWrite w(SYS_stat, p, s); return CKPT_REAL(stat)(p, s); }
CKPT_EXPORT int lstat(const char* p, struct stat* s) { UserWrite w(SYS_lstat, p, s); return CKPT_REAL(lstat)(p, s); }
CKPT_EXPORT int fstat(int fd, struct stat* s) { UserWrite w(SYS_fstat, fd, s); return CKPT_REAL(fstat)(fd, s); }
CKPT_EXPORT int fstatat(int d, const char* p, struct stat* s, int fl) {
  UserWrite w(SYS_newfstatat, d, p, s, fl);
  return CKPT_REAL(fstatat)(d, p, s, fl);
}
CKPT_EXPORT int stat64(const char* p, struct stat64* s) { UserWrite w(SYS_stat, p, s); return CKPT_REAL(stat64)(p, s); }
CKPT_EXPORT int lstat64(const char* p, struct stat64* s) { UserWrite w(SYS_lstat, p, s); return CKPT_REAL(lstat64)(p, s); }
CKPT_EXPORT int fstat64(int fd, struct stat64* s) { UserWrite w(SYS_fstat, fd, s); return CKPT_REAL(fstat64)(fd, s); }
CKPT_EXPORT int fstatat64(int d, const char* p, struct stat64* s, int fl) {
  UserWrite w(SYS_newfstatat, d, p, s, fl);
  return CKPT_REAL(fstatat64)(d, p, s, fl);
}
CKPT_EXPORT int statx(int d, const char* p, int fl, unsigned mask, struct statx* s) {
  UserWrite w(SYS_statx, d, p, fl, mask, s);
  return CKPT_REAL(statx)(d, p, fl, mask, s);
}
CKPT_EXPORT int statfs(const char* p, struct statfs* s) { UserWrite w(SYS_statfs, p, s); return CKPT_REAL(statfs)(p, s); }
CKPT_EXPORT int fstatfs(int fd, struct statfs* s) { UserWrite w(SYS_fstatfs, fd, s); return CKPT_REAL(fstatfs)(fd, s); }
CKPT_EXPORT int statfs64(const char* p, struct statfs64* s) { UserWrite w(SYS_statfs, p, s); return CKPT_REAL(statfs64)(p, s); }
CKPT_EXPORT int fstatfs64(int fd, struct statfs64* s) {
  UserWrite w(SYS_fstatfs, fd, s);
  return CKPT_REAL(fstatfs64)(fd, s);
}
CKPT_EXPORT ssize_t getdents64(int fd, void* buf, size_t n) {
  UserWrite w(SYS_getdents64, fd, buf, n);
  return CKPT_REAL(getdents64)(fd, buf, n);
}
CKPT_EXPORT ssize_t getxattr(const char* p, const char* name, void* v, size_t n) {
  UserWrite w(SYS_getxattr, p, name, v, n);
  return CKPT_REAL(getxattr)(p, name, v, n);
}
CKPT_EXPORT ssize_t lgetxattr(const char* p, const char* name, void* v, size_t n) {
  UserWrite w(SYS_lgetxattr, p, name, v, n);
  return CKPT_REAL(lgetxattr)(p, name, v, n);
}
CKPT_EXPORT ssize_t fgetxattr(int fd, const char* name, void* v, size_t n) {
  UserWrite w(SYS_fgetxattr, fd, name, v, n);
  return CKPT_REAL(fgetxattr)(fd, name, v, n);
}
CKPT_EXPORT ssize_t listxattr(const char* p, char* list, size_t n) {
  UserWrite w(SYS_listxattr, p, list, n);
  return CKPT_REAL(listxattr)(p, list, n);
}
CKPT_EXPORT ssize_t llistxattr(const char* p, char* list, size_t n) {
  UserWrite w(SYS_llistxattr, p, list, n);
  return CKPT_REAL(llistxattr)(p, list, n);
}
CKPT_EXPORT ssize_t flistxattr(int fd, char* list, size_t n) {
  UserWrite w(SYS_flistxattr, fd, list, n);
  return CKPT_REAL(flistxattr)(fd, list, n);
}
CKPT_EXPORT ssize_t sendfile(int out, int in, off_t* off, size_t n) {
  UserWrite w(SYS_sendfile, out, in, off, n);
  return CKPT_REAL(sendfile)(out, in, off, n);
}
CKPT_EXPORT ssize_t sendfile64(int out, int in, off64_t* off, size_t n) {
  UserWrite w(SYS_sendfile, out, in, off, n);
  return CKPT_REAL(sendfile64)(out, in, off, n);
}
CKPT_EXPORT ssize_t splice(int in, off64_t* in_off, int out, off64_t* out_off, size_t n, unsigned flags) {
  UserWrite w(SYS_splice, in, in_off, out, out_off, n, flags);
  return CKPT_REAL(splice)(in, in_off, out, out_off, n, flags);
}
CKPT_EXPORT ssize_t copy_file_range(int in, off64_t* in_off, int out, off64_t* out_off, size_t n, unsigned flags) {
  UserWrite w(SYS_copy_file_range, in, in_off, out, out_off, n, flags);
  return CKPT_REAL(copy_file_range)(in, in_off, out, out_off, n, flags);
}
CKPT_EXPORT int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  UserWrite w(SYS_ioctl, fd, req, arg);
  return CKPT_REAL(ioctl)(fd, req, arg);
}

// --- processes, identity, limits, clocks -------------------------------------

CKPT_EXPORT pid_t waitpid(pid_t p, int* st, int o) { UserWrite w(SYS_wait4, p, st, o, 0); return CKPT_REAL(waitpid)(p, st, o); }
CKPT_EXPORT pid_t wait(int* st) { UserWrite w(SYS_wait4, -1, st, 0, 0); return CKPT_REAL(wait)(st); }
CKPT_EXPORT pid_t wait3(int* st, int o, struct rusage* r) {
  UserWrite w(SYS_wait4, -1, st, o, r);
  return CKPT_REAL(wait3)(st, o, r);
}
CKPT_EXPORT pid_t wait4(pid_t p, int* st, int o, struct rusage* r) {
  UserWrite w(SYS_wait4, p, st, o, r);
  return CKPT_REAL(wait4)(p, st, o, r);
}
CKPT_EXPORT int waitid(idtype_t t, id_t id, siginfo_t* i, int o) {
  UserWrite w(SYS_waitid, t, id, i, o, 0);
  return CKPT_REAL(waitid)(t, id, i, o);
}
CKPT_EXPORT int getrusage(int who, struct rusage* r) { UserWrite w(SYS_getrusage, who, r); return CKPT_REAL(getrusage)(who, r); }
CKPT_EXPORT clock_t times(struct tms* t) { UserWrite w(SYS_times, t); return CKPT_REAL(times)(t); }
CKPT_EXPORT int uname(struct utsname* u) { UserWrite w(SYS_uname, u); return CKPT_REAL(uname)(u); }
CKPT_EXPORT int sysinfo(struct sysinfo* i) { UserWrite w(SYS_sysinfo, i); return CKPT_REAL(sysinfo)(i); }
CKPT_EXPORT int getrlimit(__rlimit_resource_t r, struct rlimit* l) {
  UserWrite w(SYS_getrlimit, r, l);
  return CKPT_REAL(getrlimit)(r, l);
}
CKPT_EXPORT int getrlimit64(__rlimit_resource_t r, struct rlimit64* l) {
  UserWrite w(SYS_getrlimit, r, l);
  return CKPT_REAL(getrlimit64)(r, l);
}
CKPT_EXPORT int prlimit(pid_t pid, enum __rlimit_resource r, const struct rlimit* n, struct rlimit* old) {
  UserWrite w(SYS_prlimit64, pid, r, n, old);
  return CKPT_REAL(prlimit)(pid, r, n, old);
}
CKPT_EXPORT int prlimit64(pid_t pid, enum __rlimit_resource r, const struct rlimit64* n, struct rlimit64* old) {
  UserWrite w(SYS_prlimit64, pid, r, n, old);
  return CKPT_REAL(prlimit64)(pid, r, n, old);
}
CKPT_EXPORT ssize_t getrandom(void* buf, size_t n, unsigned flags) {
  UserWrite w(SYS_getrandom, buf, n, flags);
  return CKPT_REAL(getrandom)(buf, n, flags);
}
CKPT_EXPORT int getentropy(void* buf, size_t n) { UserWrite w(SYS_getrandom, buf, n, 0); return CKPT_REAL(getentropy)(buf, n); }
CKPT_EXPORT int getresuid(uid_t* r, uid_t* e, uid_t* s) {
  UserWrite w(SYS_getresuid, r, e, s);
  return CKPT_REAL(getresuid)(r, e, s);
}
CKPT_EXPORT int getresgid(gid_t* r, gid_t* e, gid_t* s) {
  UserWrite w(SYS_getresgid, r, e, s);
  return CKPT_REAL(getresgid)(r, e, s);
}
CKPT_EXPORT int getgroups(int n, gid_t* list) { UserWrite w(SYS_getgroups, n, list); return CKPT_REAL(getgroups)(n, list); }
CKPT_EXPORT int __getgroups_chk(int n, gid_t* list, size_t listlen) {
  UserWrite w(SYS_getgroups, n, list);
  return CKPT_REAL(__getgroups_chk)(n, list, listlen);
}
CKPT_EXPORT int capget(cap_user_header_t h, cap_user_data_t d) { UserWrite w(SYS_capget, h, d); return CKPT_REAL(capget)(h, d); }
CKPT_EXPORT int prctl(int option, ...) {
  va_list ap;
  va_start(ap, option);
  unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long), a4 = va_arg(ap, unsigned long),
                a5 = va_arg(ap, unsigned long);
  va_end(ap);
  UserWrite w(SYS_prctl, option, a2, a3, a4, a5);
  return CKPT_REAL(prctl)(option, a2, a3, a4, a5);
}
CKPT_EXPORT int sched_getaffinity(pid_t pid, size_t n, cpu_set_t* set) {
  UserWrite w(SYS_sched_getaffinity, pid, n, set);
  return CKPT_REAL(sched_getaffinity)(pid, n, set);
}
CKPT_EXPORT int pthread_getaffinity_np(pthread_t t, size_t n, cpu_set_t* set) {
  UserWrite w(SYS_sched_getaffinity, 0, n, set);
  return CKPT_REAL(pthread_getaffinity_np)(t, n, set);
}
CKPT_EXPORT int sched_getparam(pid_t pid, struct sched_param* p) {
  UserWrite w(SYS_sched_getparam, pid, p);
  return CKPT_REAL(sched_getparam)(pid, p);
}
CKPT_EXPORT int sched_rr_get_interval(pid_t pid, struct timespec* t) {
  UserWrite w(SYS_sched_rr_get_interval, pid, t);
  return CKPT_REAL(sched_rr_get_interval)(pid, t);
}
CKPT_EXPORT int pthread_getname_np(pthread_t t, char* buf, size_t n) {  // read(2) of /proc/.../comm into buf
  UserWrite w(dest_range(buf, n));
  return CKPT_REAL(pthread_getname_np)(t, buf, n);
}
CKPT_EXPORT int mincore(void* addr, size_t len, unsigned char* vec) {
  UserWrite w(SYS_mincore, addr, len, vec);
  return CKPT_REAL(mincore)(addr, len, vec);
}
CKPT_EXPORT int clock_gettime(clockid_t clk, struct timespec* ts) {
  // The vDSO answers the common clocks from user space (no EFAULT): only
  // the others (CPU-time clocks) reach the kernel.
  if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC && clk != CLOCK_BOOTTIME && clk != CLOCK_MONOTONIC_RAW &&
      clk != CLOCK_REALTIME_COARSE && clk != CLOCK_MONOTONIC_COARSE && clk != CLOCK_TAI) {
    UserWrite w(SYS_clock_gettime, clk, ts);
    return CKPT_REAL(clock_gettime)(clk, ts);
  }
  return CKPT_REAL(clock_gettime)(clk, ts);
}
CKPT_EXPORT int clock_getres(clockid_t clk, struct timespec* ts) {
  UserWrite w(SYS_clock_getres, clk, ts);
  return CKPT_REAL(clock_getres)(clk, ts);
}
CKPT_EXPORT int getitimer(__itimer_which_t which, struct itimerval* v) {
  UserWrite w(SYS_getitimer, which, v);
  return CKPT_REAL(getitimer)(which, v);
}
CKPT_EXPORT int setitimer(__itimer_which_t which, const struct itimerval* v, struct itimerval* old) {
  UserWrite w(SYS_setitimer, which, v, old);
  return CKPT_REAL(setitimer)(which, v, old);
}
CKPT_EXPORT int timerfd_gettime(int fd, struct itimerspec* v) {
  UserWrite w(SYS_timerfd_gettime, fd, v);
  return CKPT_REAL(timerfd_gettime)(fd, v);
}
CKPT_EXPORT int timerfd_settime(int fd, int flags, const struct itimerspec* v, struct itimerspec* old) {
  UserWrite w(SYS_timerfd_settime, fd, flags, v, old);
  return CKPT_REAL(timerfd_settime)(fd, flags, v, old);
}
CKPT_EXPORT int adjtimex(struct timex* t) { UserWrite w(SYS_adjtimex, t); return CKPT_REAL(adjtimex)(t); }
CKPT_EXPORT int ntp_adjtime(struct timex* t) { UserWrite w(SYS_adjtimex, t); return CKPT_REAL(ntp_adjtime)(t); }
CKPT_EXPORT int clock_adjtime(clockid_t clk, struct timex* t) {
  UserWrite w(SYS_clock_adjtime, clk, t);
  return CKPT_REAL(clock_adjtime)(clk, t);
}
CKPT_EXPORT ssize_t mq_timedreceive(mqd_t q, char* buf, size_t n, unsigned* prio, const struct timespec* t) {
  UserWrite w(SYS_mq_timedreceive, q, buf, n, prio, t);
  return CKPT_REAL(mq_timedreceive)(q, buf, n, prio, t);
}
CKPT_EXPORT ssize_t mq_receive(mqd_t q, char* buf, size_t n, unsigned* prio) {
  UserWrite w(SYS_mq_timedreceive, q, buf, n, prio, 0);
  return CKPT_REAL(mq_receive)(q, buf, n, prio);
}
CKPT_EXPORT ssize_t msgrcv(int id, void* buf, size_t n, long type, int flags) {
  UserWrite w(SYS_msgrcv, id, buf, n, type, flags);
  return CKPT_REAL(msgrcv)(id, buf, n, type, flags);
}

// --- stdio and directory streams ---------------------------------------------

CKPT_EXPORT size_t fread(void* buf, size_t size, size_t n, FILE* f) {
  UserWrite w(dest_range(buf, size * n));
  return CKPT_REAL(fread)(buf, size, n, f);
}
CKPT_EXPORT size_t __fread_chk(void* buf, size_t buflen, size_t size, size_t n, FILE* f) {
  UserWrite w(dest_range(buf, size * n));
  return CKPT_REAL(__fread_chk)(buf, buflen, size, n, f);
}
CKPT_EXPORT size_t fread_unlocked(void* buf, size_t size, size_t n, FILE* f) {
  UserWrite w(dest_range(buf, size * n));
  return CKPT_REAL(fread_unlocked)(buf, size, n, f);
}
CKPT_EXPORT size_t __fread_unlocked_chk(void* buf, size_t buflen, size_t size, size_t n, FILE* f) {
  UserWrite w(dest_range(buf, size * n));
  return CKPT_REAL(__fread_unlocked_chk)(buf, buflen, size, n, f);
}
CKPT_EXPORT char* fgets(char* buf, int n, FILE* f) {
  UserWrite w(dest_range(buf, size_t(n > 0 ? n : 0)));
  return CKPT_REAL(fgets)(buf, n, f);
}
CKPT_EXPORT char* __fgets_chk(char* buf, size_t buflen, int n, FILE* f) {
  UserWrite w(dest_range(buf, size_t(n > 0 ? n : 0)));
  return CKPT_REAL(__fgets_chk)(buf, buflen, n, f);
}
CKPT_EXPORT ssize_t getdelim(char** line, size_t* n, int delim, FILE* f) {
  UserWrite w(dest_range(line && n ? *line : nullptr, n ? *n : 0));
  return CKPT_REAL(getdelim)(line, n, delim, f);
}
CKPT_EXPORT ssize_t getline(char** line, size_t* n, FILE* f) { return getdelim(line, n, '\n', f); }
CKPT_EXPORT FILE* fopen(const char* p, const char* mode) { return with_buffer(CKPT_REAL(fopen)(p, mode)); }
CKPT_EXPORT FILE* fopen64(const char* p, const char* mode) { return with_buffer(CKPT_REAL(fopen64)(p, mode)); }
CKPT_EXPORT FILE* fdopen(int fd, const char* mode) { return with_buffer(CKPT_REAL(fdopen)(fd, mode)); }
CKPT_EXPORT FILE* freopen(const char* p, const char* mode, FILE* f) {
  return with_buffer(CKPT_REAL(freopen)(p, mode, f));
}
CKPT_EXPORT FILE* freopen64(const char* p, const char* mode, FILE* f) {
  return with_buffer(CKPT_REAL(freopen64)(p, mode, f));
}
CKPT_EXPORT FILE* popen(const char* cmd, const char* mode) { return with_buffer(CKPT_REAL(popen)(cmd, mode)); }
CKPT_EXPORT FILE* tmpfile(void) { return with_buffer(CKPT_REAL(tmpfile)()); }
CKPT_EXPORT FILE* tmpfile64(void) { return with_buffer(CKPT_REAL(tmpfile64)()); }
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
