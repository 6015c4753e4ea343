// The process state an image holds, as plain C++ data: libckpt's capture fills
// it, the manifest (manifest.cpp) serialises it to JSON, and ckpt-run's
// restore reads it back. One struct per kind of kernel state.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ckpt {

// Registers of a thread parked inside libckpt, saved like setjmp: the
// callee-saved registers, stack and return address. The interrupted
// application context (all registers, xsave state, signal mask) lives in the
// kernel's signal frame on the thread's stack, which is part of memory; the
// thread resumes here and returns from the handler through rt_sigreturn.
struct ResumeContext {
  uint64_t rbx = 0, rbp = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0, rsp = 0, rip = 0;
  uint32_t mxcsr = 0x1f80, fpu_cw = 0x37f;
};

struct ThreadState {
  int32_t tid = 0;
  bool coordinator = false;           // took the checkpoint; restored first
  uint64_t fs_base = 0, gs_base = 0;
  ResumeContext resume;
  uint64_t handler_sigmask = 0;       // mask while parked (restorer sets it)
  uint64_t app_sigmask = 0;           // the interrupted code's mask (from the frame)
  uint64_t altstack_sp = 0, altstack_size = 0;
  int32_t altstack_flags = 0;         // SS_DISABLE or 0
  uint64_t robust_list = 0, robust_list_len = 0;
  uint64_t clear_child_tid = 0;
  uint64_t rseq_area = 0;             // 0: not registered
  uint32_t rseq_len = 0, rseq_sig = 0;
  std::string name;                   // comm
  std::string origin;                 // "main", "pthread" (registered), "unregistered"
  uint64_t pthread = 0;               // pthread_t, when registered
  uint64_t stack_lo = 0, stack_hi = 0;
  std::vector<uint64_t> affinity;     // CPU mask words
  uint64_t interrupted_rip = 0, interrupted_rsp = 0;  // for --inspect
};

// VmFlags from /proc/PID/smaps that change how a region must be re-created.
enum VmFlag : uint32_t {
  kVmGrowsDown = 1u << 0,   // gd
  kVmLocked = 1u << 1,      // lo
  kVmDontFork = 1u << 2,    // dc
  kVmWipeOnFork = 1u << 3,  // wf
  kVmNoReserve = 1u << 4,   // nr
  kVmHugePage = 1u << 5,    // hg
  kVmNoHugePage = 1u << 6,  // nh
  kVmMergeable = 1u << 7,   // mg
  kVmHugetlb = 1u << 8,     // ht
  kVmIo = 1u << 9,          // io / pf: device memory
  kVmDontDump = 1u << 10,   // dd
  kVmShadowStack = 1u << 11,// ss
  kVmAccount = 1u << 12,    // ac
  kVmUffdWp = 1u << 13,     // uw: registered for userfaultfd write-protect
};
uint32_t vmflag_from_mnemonic(const char* two_chars);  // 0 if unknown
const char* vmflag_mnemonic(uint32_t bit);
std::vector<std::string> vmflag_names(uint32_t flags);

enum class RegionKind : uint8_t {
  Anonymous,      // private anonymous (incl. [heap], [stack], thread stacks)
  SharedAnon,     // MAP_SHARED|MAP_ANONYMOUS or shmem (/dev/zero, memfd, SYSV)
  FilePrivate,    // MAP_PRIVATE of a file: re-mapped, modified pages saved
  FileShared,     // MAP_SHARED of a file: re-mapped, the file holds the data
  Vdso, Vvar, VvarVclock, Vsyscall,
};
const char* region_kind_name(RegionKind k);
RegionKind region_kind_from_name(const std::string& s, bool& ok);

struct Region {
  uint64_t start = 0, end = 0;
  uint32_t prot = 0;                // PROT_READ|PROT_WRITE|PROT_EXEC
  RegionKind kind = RegionKind::Anonymous;
  uint32_t vmflags = 0;             // VmFlag bits
  uint64_t offset = 0;              // file offset
  std::string name;                 // as /proc/PID/maps shows it
  int32_t file = -1;                // index into ProcessState::files
  uint64_t inode = 0;               // shared memory object (shared-anon): regions with one inode share it
  bool pages_saved = false;         // the image holds its present, non-file pages
  bool libckpt_internal = false;    // libckpt's own scratch memory: not restored
};

// A file the image depends on (mapped or open): restore verifies it unchanged.
struct FileRef {
  std::string path;
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;             // status change time: users cannot set it (0: not recorded)
  uint32_t mode = 0;
  bool hashed = false;              // executables, libraries and other mapped files
  uint64_t content_hash = 0;        // XXH64 of the whole file
  bool deleted = false;             // "(deleted)" at capture
};

enum class FdKind : uint8_t {
  RegularFile, Directory, CharDevice, BlockDevice, Pipe, Fifo, Socket, Terminal,
  AnonInode, Other, EventFd, TimerFd, SignalFd, Epoll, Inotify, Memfd,
};
const char* fd_kind_name(FdKind k);
FdKind fd_kind_from_name(const std::string& s, bool& ok);

// Saved contents an image carries besides memory (a deleted file, a pipe's
// buffered bytes, a memfd). Stored as page runs at CKPT_BLOB_BASE +
// (id << CKPT_BLOB_SHIFT) + offset (image_format.h).
struct Blob {
  uint32_t id = 0;
  uint64_t size = 0;
  std::string what;                 // for messages: "contents of /tmp/x (deleted)"
};

struct FileLock {
  enum Kind : uint8_t { Posix, Ofd, Flock } kind = Posix;
  bool write = false;
  int64_t start = 0, len = 0;       // len 0: to the end of the file
};

struct EpollItem {
  int32_t fd = -1;                  // the watched descriptor's number
  uint32_t events = 0;
  uint64_t data = 0;
};

struct InotifyWatch {
  int32_t wd = 0;
  uint32_t mask = 0;
  std::string path;
};

struct SocketState {
  int32_t family = 0, type = 0, protocol = 0;
  bool listening = false;
  int32_t backlog = 128;
  std::string local, peer;          // sockaddr bytes, hex
  bool reuse_addr = false, reuse_port = false, v6only = false, keepalive = false, nodelay = false;
  // AF_UNIX, connected: the peer socket's inode (0: unknown), our end's
  // shutdown bits (1 receive, 2 send), buffer sizes as getsockopt shows them.
  // The data queued for reading is OpenFile::blob (a datagram or seqpacket
  // socket's as [u32 length][bytes] per message).
  uint64_t peer_inode = 0;
  uint32_t shutdown = 0;
  uint32_t sndbuf = 0, rcvbuf = 0;
};

// One open file description: what every descriptor referring to it shares
// (offset, flags, locks, pipe buffer...). dup(2)ed and inherited descriptors
// point at the same one and stay shared after a restore.
struct OpenFile {
  FdKind kind = FdKind::Other;
  std::string path;                 // readlink of /proc/self/fd/N
  int32_t file = -1;                // FileRef index (regular files, directories)
  uint32_t flags = 0;               // O_ACCMODE | O_APPEND | O_NONBLOCK | ...
  int64_t offset = -1;              // -1: not seekable
  uint64_t rdev = 0;                // character devices
  uint64_t inode = 0;               // pipes, sockets, anonymous inodes, memfds
  int32_t blob = -1;                // saved contents (deleted file, pipe buffer, memfd)
  bool deleted = false;             // a regular file unlinked while open
  std::vector<FileLock> locks;
  uint32_t pipe_size = 0;           // pipes
  bool pipe_peer_inside = false;    // both ends of the pipe belong to the process
  SocketState socket;
  uint64_t counter = 0;             // eventfd count, timerfd ticks
  uint32_t efd_flags = 0;           // eventfd: EFD_SEMAPHORE
  int32_t clock = 0;                // timerfd
  int64_t next_ns = 0, interval_ns = 0;  // remaining time, period
  uint32_t timer_flags = 0;         // timerfd: TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET
  int64_t deadline_ns = 0;          // timerfd with TFD_TIMER_ABSTIME: the expiry, on its clock
  uint64_t sigmask = 0;             // signalfd
  std::vector<EpollItem> epoll;
  std::vector<InotifyWatch> inotify;
  uint32_t seals = 0;               // memfd
  std::string termios;              // terminals: struct termios bytes, hex
};

struct FdState {
  int32_t fd = -1;
  int32_t open_file = -1;           // index into ProcessState::open_files
  bool cloexec = false;
};

// Convenience view for code that looks at one descriptor.
struct FdView {
  const FdState& fd;
  const OpenFile& file;
};

struct SignalAction {
  int32_t signo = 0;
  uint64_t handler = 0;             // SIG_DFL 0, SIG_IGN 1, else address
  uint64_t flags = 0;               // SA_*
  uint64_t restorer = 0;
  uint64_t mask = 0;
};

// A POSIX timer as /proc/self/timers and timer_gettime show it. Re-created
// with its id (PR_TIMER_CREATE_RESTORE_IDS) and its remaining time.
struct PosixTimer {
  int32_t id = 0;
  int32_t clock = 0;
  int32_t signo = 0;
  int32_t notify = 0;               // SIGEV_SIGNAL / SIGEV_NONE, | SIGEV_THREAD_ID
  int32_t target_tid = 0;           // thread for SIGEV_THREAD_ID
  uint64_t value = 0;               // sigev_value
  int64_t next_ns = 0, interval_ns = 0;  // 0/0: disarmed
  bool absolute = false;            // armed with TIMER_ABSTIME (recorded by libckpt's timer_settime)
  int64_t deadline_ns = 0;          // absolute: the expiry, on its clock
};

// setitimer(2) timers (ITIMER_REAL is alarm()'s).
struct IntervalTimer {
  int32_t which = 0;
  int64_t next_us = 0, interval_us = 0;
};

// A signal pending at the checkpoint, re-queued after the restore.
struct PendingSignal {
  int32_t tid = 0;                  // 0: pending for the process, else for that thread
  std::string siginfo;              // the 128-byte siginfo_t, hex
};

struct Rlimit {
  int32_t resource = 0;
  uint64_t cur = 0, max = 0;
};

struct Credentials {
  uint32_t ruid = 0, euid = 0, suid = 0, fsuid = 0;
  uint32_t rgid = 0, egid = 0, sgid = 0, fsgid = 0;
  std::vector<uint32_t> groups;
  uint64_t cap_effective = 0, cap_permitted = 0, cap_inheritable = 0;
};

// The mm fields PR_SET_MM_MAP sets (kernel's struct prctl_mm_map).
struct MmFields {
  uint64_t start_code = 0, end_code = 0, start_data = 0, end_data = 0;
  uint64_t start_brk = 0, brk = 0, start_stack = 0;
  uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
  std::vector<uint64_t> auxv;       // (type, value) pairs, AT_NULL-terminated
};

struct VdsoLayout {
  uint64_t vvar_start = 0, vvar_end = 0;
  uint64_t vclock_start = 0, vclock_end = 0;  // [vvar_vclock]; 0 if absent
  uint64_t vdso_start = 0, vdso_end = 0;
  uint64_t vdso_hash = 0;           // XXH64 of the vdso's bytes
};

// libckpt's own bookkeeping, needed to resume inside it after restore.
struct LibckptInfo {
  std::string library_path;
  uint64_t control_fd = 0;          // fd number of the control block (recreated)
  int32_t ckpt_signal = 0, thaw_signal = 0, freeze_signal = 0;
  uint64_t sequence = 0;            // checkpoint number within this process lineage
  std::string images_dir;
  std::string tracking;             // dirty-page tracking backend ("none", "uffd", "mprotect")
  std::string parent_path;          // incremental: where the parent was written
  // What the tracker did at this checkpoint: pages whose state it vouched
  // for (classified, incremental images only), how many of those it found
  // unchanged since the parent, and how many it then armed (write-protected)
  // for the next interval. All 0 without tracking.
  uint64_t vouched_pages = 0, unchanged_pages = 0, armed_pages = 0;
};

struct ProcessState {
  int32_t pid = 0, ppid = 0, pgid = 0, sid = 0;
  std::string exe;                  // /proc/self/exe
  int32_t exe_file = -1;            // FileRef index
  std::vector<std::string> argv;    // for display
  std::string cwd;
  uint32_t umask = 022;
  uint32_t personality = 0;
  bool dumpable = true;
  bool no_new_privs = false;
  // xsave components the process may use (ARCH_GET_XCOMP_PERM), including
  // those it enabled itself with ARCH_REQ_XCOMP_PERM (AMX tile data): its
  // signal frames hold their state, so the restored process needs them too.
  uint64_t xstate_permitted = 0;
  Credentials creds;
  std::vector<Rlimit> rlimits;
  MmFields mm;
  VdsoLayout vdso;
  std::vector<SignalAction> signals;
  std::vector<PosixTimer> timers;
  std::vector<IntervalTimer> itimers;
  std::vector<ThreadState> threads;
  // The main thread had called pthread_exit(): the process lived on in its
  // other threads, the leader a zombie (no thread has the pid as its tid).
  bool leader_exited = false;
  std::vector<Region> regions;      // sorted by start, non-overlapping
  // Pages the application left out with ckpt_exclude(): sorted, page-aligned
  // [start, end) pairs. The image holds none of them, so an image built on
  // this one must never refer to them.
  std::vector<std::pair<uint64_t, uint64_t>> excluded;
  std::vector<FileRef> files;
  std::vector<OpenFile> open_files;
  std::vector<FdState> fds;
  std::vector<Blob> blobs;
  std::vector<PendingSignal> pending_signals;
  // Resources the checkpoint found but does not restore (--ignore-unsupported).
  std::vector<std::string> ignored;
  // Child processes at the checkpoint: not part of the image (a process
  // tree is checkpointed process by process), listed so a restore can say so.
  std::vector<int32_t> children;
  LibckptInfo libckpt;
  std::string identity;             // how the pid was obtained at the last restore
  uint64_t boot_id_hash = 0;        // which boot the checkpoint was taken in
  int64_t monotonic_ns = 0, boottime_ns = 0;  // clocks at the checkpoint
};

}  // namespace ckpt
