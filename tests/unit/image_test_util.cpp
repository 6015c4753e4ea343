#include "image_test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdlib>
#include <doctest/doctest.h>
#include <stdexcept>
#include <typeinfo>

#include "common/xxhash64.h"
#include "image/image_reader.h"
#include "image/manifest.h"

namespace ckpt::test {

// ---------------------------------------------------------------- files

TempDir::TempDir() {
  const char* base = getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ckpt-unit-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed: " + std::string(strerror(errno)));
  path_ = tmpl;
}

TempDir::~TempDir() {
  // The tests create plain files only, one level deep.
  if (DIR* d = opendir(path_.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") unlink((path_ + "/" + n).c_str());
    }
    closedir(d);
  }
  rmdir(path_.c_str());
}

std::vector<unsigned char> read_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path);
  std::vector<unsigned char> out;
  unsigned char buf[1 << 16];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      throw std::runtime_error("cannot read " + path);
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  close(fd);
  return out;
}

void write_file(const std::string& path, const void* data, size_t len) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  auto p = static_cast<const char*>(data);
  for (size_t done = 0; done < len;) {
    ssize_t n = write(fd, p + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      throw std::runtime_error("cannot write " + path);
    }
    done += size_t(n);
  }
  close(fd);
}


namespace {
std::vector<int> open_fd_list() {
  std::vector<int> out;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return out;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) out.push_back(atoi(e->d_name));
  closedir(d);
  return out;
}
}  // namespace

size_t count_open_fds() { return open_fd_list().size(); }

FdReaper::FdReaper() : before_(open_fd_list()) {}

FdReaper::~FdReaper() {
  for (int fd : open_fd_list())
    if (std::find(before_.begin(), before_.end(), fd) == before_.end()) close(fd);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------- contents

void fill_page(uint64_t addr, unsigned char* p, Fill fill) {
  uint64_t a = addr, na = ~addr;
  memcpy(p, &a, 8);
  memcpy(p + 8, &na, 8);
  uint64_t pn = addr / kPage;
  if (fill == Fill::Mixed && pn % 3 == 0) {
    uint64_t x = (addr * 0x9E3779B97F4A7C15ULL) | 1;  // xorshift64*
    for (size_t i = 16; i < kPage; i += 8) {
      x ^= x >> 12;
      x ^= x << 25;
      x ^= x >> 27;
      uint64_t v = x * 0x2545F4914F6CDD1DULL;
      memcpy(p + i, &v, 8);
    }
  } else {
    auto c = (unsigned char)(pn * 7 + 1);
    for (size_t i = 16; i < kPage; i++) p[i] = (unsigned char)(c + i % 61);
  }
}

std::map<uint64_t, uint32_t> expand_runs(const std::vector<RunSpec>& runs) {
  std::map<uint64_t, uint32_t> out;
  for (const RunSpec& r : runs)
    for (uint32_t i = 0; i < r.npages; i++) {
      bool fresh = out.emplace(r.addr + i * kPage, r.kind).second;
      if (!fresh) throw std::logic_error("overlapping runs in a test's run list");
    }
  return out;
}

// ---------------------------------------------------------------- the sample process

ProcessState sample_state() {
  ProcessState st;
  st.pid = 4242;
  st.ppid = 1;
  st.pgid = 4242;
  st.sid = 4000;
  st.exe = "/usr/bin/prog";
  st.exe_file = 0;
  st.argv = {"prog", "--flag=\"quoted\"", "arg with space", "tab\there", "caf\xc3\xa9 \xe2\x82\xac"};
  st.cwd = "/home/user/work dir";
  st.umask = 027;
  st.personality = 0x0040000;  // ADDR_NO_RANDOMIZE
  st.dumpable = false;
  st.no_new_privs = true;
  st.xstate_permitted = 0x602e7;  // x87..AVX-512 plus AMX tile config and data

  Credentials& c = st.creds;
  c.ruid = 1000; c.euid = 1001; c.suid = 1002; c.fsuid = 1003;
  c.rgid = 100; c.egid = 101; c.sgid = 102; c.fsgid = 103;
  c.groups = {4, 24, 27, 4294967294u};
  c.cap_effective = 0x1;
  c.cap_permitted = 0x3;
  c.cap_inheritable = 0x1ffffffffffULL;

  st.rlimits = {{7, 1024, 4096}, {3, 8u << 20, UINT64_MAX}, {0, UINT64_MAX, UINT64_MAX}};

  MmFields& m = st.mm;
  m.start_code = kTextStart;
  m.end_code = kTextStart + 0x1a34;
  m.start_data = kDataStart;
  m.end_data = kDataStart + 0x1100;
  m.start_brk = kHeapStart;
  m.brk = kHeapStart + kHeapPages * kPage - 0x100;
  m.start_stack = kStackStart + kStackPages * kPage - 0x220;
  m.arg_start = kStackStart + kStackPages * kPage - 0x200;
  m.arg_end = m.arg_start + 0x40;
  m.env_start = m.arg_end;
  m.env_end = m.env_start + 0x100;
  m.auxv = {33, kVvarStart + 6 * kPage, 6, 4096, 25, m.start_stack + 0x10, 31, m.env_end - 0x20, 0, 0};

  VdsoLayout& v = st.vdso;
  v.vvar_start = kVvarStart;
  v.vvar_end = kVvarStart + 4 * kPage;
  v.vclock_start = v.vvar_end;
  v.vclock_end = v.vclock_start + 2 * kPage;
  v.vdso_start = v.vclock_end;
  v.vdso_end = v.vdso_start + 2 * kPage;
  v.vdso_hash = 0x0123456789abcdefULL;

  st.signals = {
      {2, 0x401234, 0x14000004, 0x7ffff7a3e520, 0x4000},  // SIGINT: SA_RESTART|SA_SIGINFO|SA_RESTORER
      {13, 1, 0, 0, 0},                                   // SIGPIPE ignored
      {40, 0x401500, 0x0c000004, 0x7ffff7a3e520, UINT64_MAX},
  };

  PosixTimer pt0;
  pt0.id = 0;
  pt0.clock = 1;  // CLOCK_MONOTONIC
  pt0.signo = 14;
  pt0.notify = 0;  // SIGEV_SIGNAL
  pt0.value = 0x5555deadbeef;
  pt0.next_ns = 250000000;
  pt0.interval_ns = 1000000000;
  pt0.absolute = true;
  pt0.deadline_ns = 123456789012345;
  PosixTimer pt1;
  pt1.id = 7;
  pt1.clock = -6;  // a CPU-time clock id
  pt1.signo = 40;
  pt1.notify = 4;  // SIGEV_THREAD_ID
  pt1.target_tid = 4250;
  pt1.value = UINT64_MAX;
  pt1.next_ns = 0;
  pt1.interval_ns = 0;  // disarmed
  st.timers = {pt0, pt1};
  st.itimers = {{0, 1500000, 0}, {2, 999, 10000}};

  ThreadState t0;
  t0.tid = 4242;
  t0.coordinator = true;
  t0.fs_base = kHeapStart + 0x1740;  // pointers a thread uses at once lie in its memory (validate.cpp)
  t0.gs_base = 0;
  t0.resume = {0x11, 0x7ffff001fe00, 0x12, 0x13, 0x14, 0x15, 0x7ffff001fd08, kTextStart + 0x1234, 0x1fa0, 0x37f};
  t0.handler_sigmask = 0xfffffffe7ffbfeffULL;
  t0.app_sigmask = 0x10000;
  t0.altstack_sp = 0x30004000;
  t0.altstack_size = 0x4000;
  t0.altstack_flags = 0;
  t0.robust_list = 0x7ffff7d8aa20;
  t0.robust_list_len = 24;
  t0.clear_child_tid = 0;
  t0.rseq_area = kHeapStart + 0x1e00;
  t0.rseq_len = 32;
  t0.rseq_sig = 0x53053053;
  t0.name = "prog";
  t0.origin = "main";
  t0.pthread = 0x7ffff7d8a740;
  t0.stack_lo = kStackStart;
  t0.stack_hi = kStackStart + kStackPages * kPage;
  t0.affinity = {0xff, 0x1, UINT64_MAX};
  t0.interrupted_rip = 0x401a2b;
  t0.interrupted_rsp = 0x7ffff001fc00;

  ThreadState t1;
  t1.tid = 4250;
  t1.coordinator = false;
  t1.fs_base = kHeapStart + 0x26c0;
  t1.resume = {0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x7ffff0010ff8, kTextStart + 0x1234, 0x1f80, 0x27f};
  t1.handler_sigmask = 0xfffffffe7ffbfeffULL;
  t1.app_sigmask = 0;
  t1.altstack_flags = 2;  // SS_DISABLE
  t1.robust_list = 0x7ffff758a9a0;
  t1.robust_list_len = 24;
  t1.clear_child_tid = 0x7ffff758a990;
  t1.name = "worker-15chars!";  // exactly 15 characters, the comm limit
  t1.origin = "pthread";
  t1.pthread = 0x7ffff758a6c0;
  t1.stack_lo = 0x7ffff0001000;
  t1.stack_hi = 0x7ffff0011000;
  t1.affinity = {0x2};
  t1.interrupted_rip = 0x7ffff7e9d1b2;
  t1.interrupted_rsp = 0x7ffff0010e00;
  st.threads = {t0, t1};

  auto region = [](uint64_t start, uint64_t end, uint32_t prot, RegionKind kind, uint32_t vmflags,
                   uint64_t offset, std::string name, int32_t file, bool saved, bool internal = false) {
    Region g;
    g.start = start;
    g.end = end;
    g.prot = prot;
    g.kind = kind;
    g.vmflags = vmflags;
    g.offset = offset;
    g.name = std::move(name);
    g.file = file;
    g.pages_saved = saved;
    g.libckpt_internal = internal;
    return g;
  };
  const uint32_t R = PROT_READ, W = PROT_WRITE, X = PROT_EXEC;
  st.regions = {
      region(kTextStart, kDataStart, R | X, RegionKind::FilePrivate, 0, 0, "/usr/bin/prog", 0, false),
      region(kDataStart, kHeapStart, R | W, RegionKind::FilePrivate, kVmAccount | kVmLocked, 0x2000,
             "/usr/bin/prog", 0, true),
      region(kHeapStart, kHeapStart + kHeapPages * kPage, R | W, RegionKind::Anonymous,
             kVmAccount | kVmHugePage | kVmMergeable, 0, "[heap]", -1, true),
      region(kShmStart, kShmStart + kShmPages * kPage, R | W, RegionKind::SharedAnon,
             kVmNoReserve | kVmDontFork | kVmDontDump, 0, "/dev/zero (deleted)", -1, true),
      region(kFileSharedStart, kFileSharedStart + 4 * kPage, R | W, RegionKind::FileShared, kVmNoHugePage,
             0x1000, "/data/shared file.bin", 1, false),
      region(kScratchStart, kScratchStart + 16 * kPage, R | W, RegionKind::Anonymous, kVmWipeOnFork, 0, "",
             -1, false, true),
      region(kStackStart, kStackStart + kStackPages * kPage, R | W, RegionKind::Anonymous,
             kVmGrowsDown | kVmAccount, 0, "[stack]", -1, true),
      region(kVvarStart, kVvarStart + 4 * kPage, R, RegionKind::Vvar, kVmIo | kVmDontDump, 0, "[vvar]", -1,
             false),
      region(kVvarStart + 4 * kPage, kVvarStart + 6 * kPage, R, RegionKind::VvarVclock, kVmIo | kVmDontDump, 0,
             "[vvar_vclock]", -1, false),
      region(kVvarStart + 6 * kPage, kVvarStart + 8 * kPage, R | X, RegionKind::Vdso, kVmDontDump, 0, "[vdso]",
             -1, false),
      region(kVsyscallStart, kVsyscallStart + kPage, X, RegionKind::Vsyscall, 0, 0, "[vsyscall]", -1, false),
  };

  st.regions[3].inode = 4099;  // the shared memory object

  FileRef f0;
  f0.path = "/usr/bin/prog";
  f0.dev = 0xfe00;
  f0.ino = 1234567;
  f0.size = 0x3f00;
  f0.mtime_ns = 1700000000123456789LL;
  f0.mode = 0100755;
  f0.hashed = true;
  f0.content_hash = 0xdeadbeefcafef00dULL;
  f0.deleted = false;
  FileRef f1;
  f1.path = "/data/shared file.bin";
  f1.dev = 0x803;
  f1.ino = 99;
  f1.size = 0x10000;
  f1.mtime_ns = -5;  // before the epoch
  f1.mode = 0100600;
  f1.hashed = false;
  f1.content_hash = 0;
  FileRef f2;
  f2.path = "/tmp/log.txt";
  f2.dev = 0x2f;
  f2.ino = UINT64_MAX;
  f2.size = 12345;
  f2.mtime_ns = 0;
  f2.mode = 0100644;
  f2.deleted = true;
  st.files = {f0, f1, f2};

  // Open file descriptions, one of every kind with its kind-specific state;
  // descriptors 0 and 10 share one (dup).
  auto of = [](FdKind kind, std::string path, int32_t file, uint32_t flags, int64_t offset) {
    OpenFile f;
    f.kind = kind;
    f.path = std::move(path);
    f.file = file;
    f.flags = flags;
    f.offset = offset;
    return f;
  };
  std::vector<OpenFile>& o = st.open_files;
  o.push_back(of(FdKind::Terminal, "/dev/pts/3", -1, O_RDWR, -1));
  o.back().rdev = 0x8803;
  o.back().termios = "00450000050000000b000000be8a000000031c7f150401";
  o.push_back(of(FdKind::RegularFile, "/tmp/log.txt (deleted)", 2, O_WRONLY | O_APPEND, 12345));
  o.back().deleted = true;
  o.back().blob = 0;
  o.back().inode = UINT64_MAX;
  o.back().locks = {{FileLock::Posix, true, 0, 100}, {FileLock::Flock, false, 0, 0}};
  o.push_back(of(FdKind::Pipe, "pipe:[123456]", -1, O_WRONLY, -1));
  o.back().inode = 123456;
  o.back().pipe_size = 65536;
  o.back().pipe_peer_inside = true;
  o.back().blob = 1;
  o.push_back(of(FdKind::RegularFile, "/data/shared file.bin", 1, O_RDWR, 0x1000));
  o.back().locks = {{FileLock::Ofd, true, 4096, 8192}};
  o.push_back(of(FdKind::Socket, "socket:[999]", -1, O_RDWR | O_NONBLOCK, -1));
  o.back().inode = 999;
  o.back().socket.family = 10;  // AF_INET6
  o.back().socket.type = 1;
  o.back().socket.protocol = 6;
  o.back().socket.listening = true;
  o.back().socket.backlog = 64;
  o.back().socket.local = "0a001f90000000000000000000000000000000000000000100000000";
  o.back().socket.reuse_addr = true;
  o.back().socket.v6only = true;
  o.back().socket.nodelay = true;
  o.back().socket.peer_inode = 4242;
  o.back().socket.shutdown = 2;
  o.back().socket.sndbuf = 212992;
  o.back().socket.rcvbuf = 425984;
  o.push_back(of(FdKind::EventFd, "anon_inode:[eventfd]", -1, O_RDWR, -1));
  o.back().counter = 7;
  o.back().efd_flags = 1;
  o.push_back(of(FdKind::CharDevice, "/dev/null", -1, O_RDONLY, 0));
  o.back().rdev = 0x103;
  o.push_back(of(FdKind::TimerFd, "anon_inode:[timerfd]", -1, O_RDWR, -1));
  o.back().clock = 1;
  o.back().counter = 3;
  o.back().next_ns = 5000;
  o.back().interval_ns = 100000;
  o.back().timer_flags = 3;  // TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET
  o.back().deadline_ns = 1700000000123456789;
  o.push_back(of(FdKind::SignalFd, "anon_inode:[signalfd]", -1, O_RDONLY, -1));
  o.back().sigmask = 0x4002;
  o.push_back(of(FdKind::Epoll, "anon_inode:[eventpoll]", -1, O_RDWR, -1));
  o.back().epoll = {{5, 1, 0xabc}, {7, 4, UINT64_MAX}};
  o.push_back(of(FdKind::Inotify, "anon_inode:inotify", -1, O_RDONLY, -1));
  o.back().inotify = {{1, 0x100, "/home/user/work dir"}};
  o.push_back(of(FdKind::Memfd, "/memfd:buf (deleted)", -1, O_RDWR, 4096));
  o.back().seals = 0xf;
  o.back().blob = 2;

  auto fd = [](int32_t n, int32_t open_file, bool cloexec) {
    FdState d;
    d.fd = n;
    d.open_file = open_file;
    d.cloexec = cloexec;
    return d;
  };
  st.fds = {fd(0, 0, false), fd(1, 1, false),  fd(2, 2, false),  fd(3, 3, true),   fd(5, 4, true),
            fd(7, 5, true),  fd(1023, 6, false), fd(10, 0, true), fd(11, 7, true),  fd(12, 8, true),
            fd(13, 9, true), fd(14, 10, true),  fd(15, 11, false)};

  st.blobs = {{0, 12345, "contents of /tmp/log.txt (deleted)"},
              {1, 100, "buffered bytes of pipe:[123456]"},
              {2, 8192, "contents of memfd:buf"}};
  std::string siginfo(256, '0');
  siginfo.replace(0, 8, "0a000000");  // si_signo 10
  st.pending_signals = {{0, siginfo}, {4250, std::string(256, 'f')}};
  st.ignored = {"io_uring instance (fd 17)"};
  st.boot_id_hash = 0x5a5a5a5a12345678ULL;
  st.monotonic_ns = 123456789012LL;
  st.boottime_ns = 223456789012LL;

  st.libckpt.library_path = "/usr/lib/x86_64-linux-gnu/libckpt/libckpt.so";
  st.libckpt.control_fd = 1022;
  st.libckpt.ckpt_signal = 40;
  st.libckpt.thaw_signal = 41;
  st.libckpt.freeze_signal = 42;
  st.libckpt.sequence = 3;
  st.libckpt.images_dir = "/var/tmp/ckpt images";
  st.libckpt.tracking = "mprotect";
  st.libckpt.parent_path = "/var/tmp/ckpt images/prog-4242-2.ckpt";
  st.libckpt.vouched_pages = 590;
  st.libckpt.unchanged_pages = 577;
  st.libckpt.armed_pages = 612;
  st.excluded = {{kHeapStart + 100 * kPage, kHeapStart + 104 * kPage}, {kStackStart, kStackStart + kPage}};
  st.identity = "clone3-set-tid";
  return st;
}

std::vector<RunSpec> full_runs() {
  const uint64_t d = kDataStart + kPage;  // last page of the data region, then the heap
  std::vector<RunSpec> r = {
      {d, 300, CKPT_RUN_DATA},                   // 1 + 299 pages: crosses data -> heap, > 256 pages
      {d + 300 * kPage, 20, CKPT_RUN_ZERO},
      {d + 320 * kPage, 10, CKPT_RUN_DATA},
      {d + 330 * kPage, 5, CKPT_RUN_DATA},       // contiguous with the previous: merged
  };
  for (uint64_t k = 0; k < 300; k++) {           // 600 alternating one-page runs: > 256 runs
    r.push_back({kShmStart + 2 * k * kPage, 1, CKPT_RUN_DATA});
    r.push_back({kShmStart + (2 * k + 1) * kPage, 1, CKPT_RUN_ZERO});
  }
  r.push_back({kShmStart + 600 * kPage, 424, CKPT_RUN_ZERO});  // to the end of the region
  r.push_back({kStackStart + 16 * kPage, 16, CKPT_RUN_DATA});  // to the end of the stack
  return r;
}

std::vector<RunSpec> compact_runs() {
  const uint64_t d = kDataStart + kPage;
  return {
      {d, 520, CKPT_RUN_DATA},  // blocks 0 and 1 full, 8 pages in block 2
      {kHeapStart + 530 * kPage, 8, CKPT_RUN_ZERO},
      {kShmStart, 4, CKPT_RUN_DATA},
      {kShmStart + 4 * kPage, 4, CKPT_RUN_ZERO},
      {kStackStart + 30 * kPage, 2, CKPT_RUN_DATA},
  };
}

ckpt_file_header sample_header() {
  ckpt_file_header h;
  memset(&h, 0, sizeof h);
  h.flags = 0;
  for (int i = 0; i < 16; i++) h.image_id[i] = uint8_t(0x10 + i);
  h.created_realtime_ns = 1700000000987654321ULL;
  strcpy(h.uts_sysname, "Linux");
  strcpy(h.uts_release, "6.1.0-18-amd64");
  strcpy(h.uts_version, "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)");
  strcpy(h.uts_machine, "x86_64");
  for (int i = 0; i < 20; i++) h.build_id[i] = uint8_t(0xa0 + i);
  h.build_id_len = 20;
  memcpy(h.cpu.vendor, "GenuineIntel", 12);
  h.cpu.family = 6;
  h.cpu.model = 0x8f;
  h.cpu.stepping = 8;
  h.cpu.leaf1_ecx = 0x7ffafbff;
  h.cpu.leaf1_edx = 0xbfebfbff;
  h.cpu.leaf7_ebx = 0xf3bfb7ef;
  h.cpu.leaf7_ecx = 0x1b415f6e;
  h.cpu.leaf7_edx = 0xbc18c410;
  h.cpu.leaf7_1_eax = 0x1c30;
  h.cpu.ext1_ecx = 0x121;
  h.cpu.ext1_edx = 0x2c100800;
  h.cpu.xcr0 = 0x602e7;
  h.cpu.xsave_size = 11008;
  return h;
}

WriterStats write_image(const std::string& path, const std::string& manifest, const std::vector<RunSpec>& runs,
                        const WriteOptions& opt) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  WriterStats stats;
  {
    FdSink sink(fd, opt.sink_buffer);
    ImageWriter w(sink, opt.zstd_level);
    ckpt_file_header h = opt.header ? *opt.header : sample_header();
    REQUIRE(w.begin(h, manifest));
    // ImageWriter may keep pointing into the pages until the block is
    // flushed: every run's buffer lives until finish().
    std::vector<std::vector<unsigned char>> buffers;
    for (const RunSpec& r : runs) {
      if (r.kind == CKPT_RUN_DATA) {
        std::vector<unsigned char>& buf = buffers.emplace_back(size_t(r.npages) * kPage);
        for (uint32_t i = 0; i < r.npages; i++) fill_page(r.addr + i * kPage, buf.data() + i * kPage, opt.fill);
        REQUIRE_MESSAGE(w.add_data(r.addr, buf.data(), r.npages), std::string(w.error_text()));
      } else if (r.kind == CKPT_RUN_ZERO) {
        REQUIRE_MESSAGE(w.add_zero(r.addr, r.npages), std::string(w.error_text()));
      } else {
        REQUIRE_MESSAGE(w.add_parent(r.addr, r.npages), std::string(w.error_text()));
      }
    }
    REQUIRE_MESSAGE(w.finish(), std::string(w.error_text()));
    stats = w.stats();
  }
  close(fd);
  return stats;
}

WriterStats write_image(const std::string& path, const ProcessState& st, const std::vector<RunSpec>& runs,
                        const WriteOptions& opt) {
  return write_image(path, manifest_to_json(st), runs, opt);
}

namespace {
std::string unexpected(const std::exception& e) {
  return std::string("UNEXPECTED ") + typeid(e).name() + ": " + e.what();
}
}  // namespace

std::string open_error(const std::string& path) {
  FdReaper reaper;
  try {
    ImageReader r(path);
    return "";
  } catch (const ImageError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return unexpected(e);
  }
}

std::string open_and_verify_error(const std::string& path) {
  FdReaper reaper;
  try {
    ImageReader r(path);
    r.verify_pages();
    return "";
  } catch (const ImageError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return unexpected(e);
  }
}

std::string open_verify_decompress_error(const std::string& path) {
  FdReaper reaper;
  try {
    ImageReader r(path);
    r.verify_pages();
    BlockDecompressor dz;
    Block b;
    std::vector<unsigned char> buf;
    for (size_t i = 0; i < r.index().size(); i++) {
      r.read_block(i, b);
      buf.resize(size_t(b.data_pages) * kPage);
      dz.begin(b);
      dz.into(buf.data(), buf.size());
      dz.end();
    }
    return "";
  } catch (const ImageError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return unexpected(e);
  }
}

const std::vector<unsigned char>& compact_image() {
  static const std::vector<unsigned char> bytes = [] {
    TempDir dir;
    WriteOptions opt;
    opt.fill = Fill::Compressible;
    write_image(dir.file("compact.img"), sample_state(), compact_runs(), opt);
    return read_file(dir.file("compact.img"));
  }();
  return bytes;
}

// ---------------------------------------------------------------- crafting

void ImageBytes::set_header(ckpt_file_header h, bool rehash) {
  if (rehash) {
    h.header_hash = 0;
    h.header_hash = xxh64(&h, sizeof h);
  }
  put(0, h);
}

std::string ImageBytes::manifest() const {
  ckpt_file_header h = header();
  return std::string(reinterpret_cast<const char*>(b_.data() + h.manifest_offset), h.manifest_size);
}

void ImageBytes::set_footer(ckpt_footer f, bool rehash) {
  if (rehash) {
    f.footer_hash = 0;
    f.footer_hash = xxh64(&f, sizeof f);
  }
  put(footer_offset(), f);
}

std::vector<ckpt_index_entry> ImageBytes::index() const {
  ckpt_footer f = footer();
  std::vector<ckpt_index_entry> out(f.block_count);
  for (size_t i = 0; i < out.size(); i++)
    out[i] = get<ckpt_index_entry>(f.index_offset + i * sizeof(ckpt_index_entry));
  return out;
}

void ImageBytes::set_index_entry(size_t i, const ckpt_index_entry& e) {
  put(footer().index_offset + i * sizeof(ckpt_index_entry), e);
}

void ImageBytes::set_block_header(size_t i, const ckpt_block_header& bh) { put(block_offset(i), bh); }

std::vector<ckpt_run> ImageBytes::runs(size_t i) const {
  std::vector<ckpt_run> out(block_header(i).nruns);
  for (size_t k = 0; k < out.size(); k++) out[k] = get<ckpt_run>(runs_offset(i) + k * sizeof(ckpt_run));
  return out;
}

void ImageBytes::set_runs(size_t i, const std::vector<ckpt_run>& runs) {
  if (runs.size() != block_header(i).nruns) throw std::logic_error("set_runs: run count differs");
  for (size_t k = 0; k < runs.size(); k++) put(runs_offset(i) + k * sizeof(ckpt_run), runs[k]);
  rehash_block(i);
}

uint64_t ImageBytes::frame_offset(size_t i) const {
  return runs_offset(i) + uint64_t(block_header(i).nruns) * sizeof(ckpt_run);
}

void ImageBytes::rehash_block(size_t i) {
  ckpt_block_header bh = block_header(i);
  Xxh64 h;
  h.update(b_.data() + runs_offset(i), size_t(bh.nruns) * sizeof(ckpt_run));
  h.update(b_.data() + frame_offset(i), bh.compressed_size);
  bh.hash = h.digest();
  set_block_header(i, bh);
}

void ImageBytes::rehash_file() {
  ckpt_footer f = footer();
  f.file_hash = xxh64(b_.data(), footer_offset());
  set_footer(f);
}

// ---------------------------------------------------------------- comparison

#define EQ(field) CHECK_MESSAGE(want.field == got.field, #field)

namespace {

void check_thread(const ThreadState& want, const ThreadState& got) {
  EQ(tid);
  EQ(coordinator);
  EQ(fs_base);
  EQ(gs_base);
  EQ(resume.rbx);
  EQ(resume.rbp);
  EQ(resume.r12);
  EQ(resume.r13);
  EQ(resume.r14);
  EQ(resume.r15);
  EQ(resume.rsp);
  EQ(resume.rip);
  EQ(resume.mxcsr);
  EQ(resume.fpu_cw);
  EQ(handler_sigmask);
  EQ(app_sigmask);
  EQ(altstack_sp);
  EQ(altstack_size);
  EQ(altstack_flags);
  EQ(robust_list);
  EQ(robust_list_len);
  EQ(clear_child_tid);
  EQ(rseq_area);
  EQ(rseq_len);
  EQ(rseq_sig);
  EQ(name);
  EQ(origin);
  EQ(pthread);
  EQ(stack_lo);
  EQ(stack_hi);
  EQ(affinity);
  EQ(interrupted_rip);
  EQ(interrupted_rsp);
}

void check_region(const Region& want, const Region& got) {
  EQ(start);
  EQ(end);
  EQ(prot);
  EQ(kind);
  EQ(vmflags);
  EQ(offset);
  EQ(name);
  EQ(file);
  EQ(inode);
  EQ(pages_saved);
  EQ(libckpt_internal);
}

void check_file(const FileRef& want, const FileRef& got) {
  EQ(path);
  EQ(dev);
  EQ(ino);
  EQ(size);
  EQ(mtime_ns);
  EQ(mode);
  EQ(hashed);
  EQ(content_hash);
  EQ(deleted);
}

void check_fd(const FdState& want, const FdState& got) {
  EQ(fd);
  EQ(open_file);
  EQ(cloexec);
}

void check_open_file(const OpenFile& want, const OpenFile& got) {
  EQ(kind);
  EQ(path);
  EQ(file);
  EQ(flags);
  EQ(offset);
  EQ(rdev);
  EQ(inode);
  EQ(blob);
  EQ(deleted);
  CHECK_MESSAGE(want.locks.size() == got.locks.size(), "locks count");
  for (size_t i = 0; i < want.locks.size() && i < got.locks.size(); i++) {
    INFO("locks[", i, "]");
    EQ(locks[i].kind);
    EQ(locks[i].write);
    EQ(locks[i].start);
    EQ(locks[i].len);
  }
  EQ(pipe_size);
  EQ(pipe_peer_inside);
  EQ(socket.family);
  EQ(socket.type);
  EQ(socket.protocol);
  EQ(socket.listening);
  EQ(socket.backlog);
  EQ(socket.local);
  EQ(socket.peer);
  EQ(socket.reuse_addr);
  EQ(socket.reuse_port);
  EQ(socket.v6only);
  EQ(socket.keepalive);
  EQ(socket.nodelay);
  EQ(socket.peer_inode);
  EQ(socket.shutdown);
  EQ(socket.sndbuf);
  EQ(socket.rcvbuf);
  EQ(counter);
  EQ(efd_flags);
  EQ(clock);
  EQ(next_ns);
  EQ(interval_ns);
  EQ(timer_flags);
  EQ(deadline_ns);
  EQ(sigmask);
  CHECK_MESSAGE(want.epoll.size() == got.epoll.size(), "epoll count");
  for (size_t i = 0; i < want.epoll.size() && i < got.epoll.size(); i++) {
    INFO("epoll[", i, "]");
    EQ(epoll[i].fd);
    EQ(epoll[i].events);
    EQ(epoll[i].data);
  }
  CHECK_MESSAGE(want.inotify.size() == got.inotify.size(), "inotify count");
  for (size_t i = 0; i < want.inotify.size() && i < got.inotify.size(); i++) {
    INFO("inotify[", i, "]");
    EQ(inotify[i].wd);
    EQ(inotify[i].mask);
    EQ(inotify[i].path);
  }
  EQ(seals);
  EQ(termios);
}

void check_blob(const Blob& want, const Blob& got) {
  EQ(id);
  EQ(size);
  EQ(what);
}

void check_pending(const PendingSignal& want, const PendingSignal& got) {
  EQ(tid);
  EQ(siginfo);
}

void check_signal(const SignalAction& want, const SignalAction& got) {
  EQ(signo);
  EQ(handler);
  EQ(flags);
  EQ(restorer);
  EQ(mask);
}

void check_timer(const PosixTimer& want, const PosixTimer& got) {
  EQ(id);
  EQ(clock);
  EQ(signo);
  EQ(notify);
  EQ(target_tid);
  EQ(value);
  EQ(next_ns);
  EQ(interval_ns);
  EQ(absolute);
  EQ(deadline_ns);
}

void check_itimer(const IntervalTimer& want, const IntervalTimer& got) {
  EQ(which);
  EQ(next_us);
  EQ(interval_us);
}

void check_rlimit(const Rlimit& want, const Rlimit& got) {
  EQ(resource);
  EQ(cur);
  EQ(max);
}

template <class T, class F>
void check_each(const char* what, const std::vector<T>& want, const std::vector<T>& got, F check) {
  CHECK_MESSAGE(want.size() == got.size(), what, " count");
  for (size_t i = 0; i < want.size() && i < got.size(); i++) {
    INFO(what, "[", i, "]");
    check(want[i], got[i]);
  }
}

}  // namespace

void check_states_equal(const ProcessState& want, const ProcessState& got) {
  EQ(pid);
  EQ(ppid);
  EQ(pgid);
  EQ(sid);
  EQ(exe);
  EQ(exe_file);
  EQ(argv);
  EQ(cwd);
  EQ(umask);
  EQ(personality);
  EQ(dumpable);
  EQ(no_new_privs);
  EQ(xstate_permitted);
  EQ(creds.ruid);
  EQ(creds.euid);
  EQ(creds.suid);
  EQ(creds.fsuid);
  EQ(creds.rgid);
  EQ(creds.egid);
  EQ(creds.sgid);
  EQ(creds.fsgid);
  EQ(creds.groups);
  EQ(creds.cap_effective);
  EQ(creds.cap_permitted);
  EQ(creds.cap_inheritable);
  check_each("rlimits", want.rlimits, got.rlimits, check_rlimit);
  EQ(mm.start_code);
  EQ(mm.end_code);
  EQ(mm.start_data);
  EQ(mm.end_data);
  EQ(mm.start_brk);
  EQ(mm.brk);
  EQ(mm.start_stack);
  EQ(mm.arg_start);
  EQ(mm.arg_end);
  EQ(mm.env_start);
  EQ(mm.env_end);
  EQ(mm.auxv);
  EQ(vdso.vvar_start);
  EQ(vdso.vvar_end);
  EQ(vdso.vclock_start);
  EQ(vdso.vclock_end);
  EQ(vdso.vdso_start);
  EQ(vdso.vdso_end);
  EQ(vdso.vdso_hash);
  check_each("signals", want.signals, got.signals, check_signal);
  check_each("timers", want.timers, got.timers, check_timer);
  check_each("itimers", want.itimers, got.itimers, check_itimer);
  check_each("threads", want.threads, got.threads, check_thread);
  check_each("regions", want.regions, got.regions, check_region);
  check_each("files", want.files, got.files, check_file);
  check_each("open_files", want.open_files, got.open_files, check_open_file);
  check_each("fds", want.fds, got.fds, check_fd);
  check_each("blobs", want.blobs, got.blobs, check_blob);
  check_each("pending_signals", want.pending_signals, got.pending_signals, check_pending);
  EQ(ignored);
  EQ(boot_id_hash);
  EQ(monotonic_ns);
  EQ(boottime_ns);
  EQ(libckpt.library_path);
  EQ(libckpt.control_fd);
  EQ(libckpt.ckpt_signal);
  EQ(libckpt.thaw_signal);
  EQ(libckpt.freeze_signal);
  EQ(libckpt.sequence);
  EQ(libckpt.images_dir);
  EQ(libckpt.tracking);
  EQ(libckpt.parent_path);
  EQ(libckpt.vouched_pages);
  EQ(libckpt.unchanged_pages);
  EQ(libckpt.armed_pages);
  EQ(excluded);
  EQ(identity);
}

#undef EQ

}  // namespace ckpt::test
