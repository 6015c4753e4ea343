#include "fds.h"

#include <asm/ioctls.h>
#include <asm/termbits.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/stat.h>

#include <cstring>
#include <string>

#include "common/raw_dir.h"
#include "common/raw_syscall.h"
#include "file_table.h"
#include "procfs.h"
#include "runtime/arena.h"

#include <algorithm>

namespace ckpt {

namespace {

constexpr long kNrKcmp = 312;


bool starts_with(const std::string& s, const char* p) { return s.compare(0, strlen(p), p) == 0; }

FdKind classify(int fd, const struct stat& st, const std::string& path) {
  switch (st.st_mode & S_IFMT) {
    case S_IFREG: return starts_with(path, "/memfd:") ? FdKind::Memfd : FdKind::RegularFile;
    case S_IFDIR: return FdKind::Directory;
    case S_IFBLK: return FdKind::BlockDevice;
    case S_IFSOCK: return FdKind::Socket;
    case S_IFIFO: return starts_with(path, "pipe:") ? FdKind::Pipe : FdKind::Fifo;
    case S_IFCHR: {
      struct termios t;
      return ckpt_syscall3(CKPT_NR_ioctl, fd, TCGETS, long(&t)) == 0 ? FdKind::Terminal : FdKind::CharDevice;
    }
  }
  if (path == "anon_inode:[eventfd]") return FdKind::EventFd;
  if (path == "anon_inode:[timerfd]") return FdKind::TimerFd;
  if (path == "anon_inode:[signalfd]") return FdKind::SignalFd;
  if (path == "anon_inode:[eventpoll]") return FdKind::Epoll;
  if (path == "anon_inode:inotify") return FdKind::Inotify;
  return starts_with(path, "anon_inode:") ? FdKind::AnonInode : FdKind::Other;
}

struct Candidate {
  int fd;
  uint64_t dev, ino;
  uint32_t flags;
  int64_t offset;
  int32_t open_file;
};

// Open file descriptions seen so far, ordered by what fstat/fcntl/lseek show
// and then by the kernel's own order of the file objects (kcmp KCMP_FILE
// answers less/equal/greater), so finding a descriptor's twin costs a binary
// search: thousands of fds on the same file would otherwise cost a kcmp per
// pair while every thread is frozen.
class OpenFileIndex {
 public:
  explicit OpenFileIndex(int32_t pid) : pid_(pid) {}

  // The open file that `c` (with open_file unset) shares, or -1 and where
  // add() should insert it.
  int32_t find(const Candidate& c, size_t& insert_at) const {
    size_t lo = 0, hi = sorted_.size();
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      int order = compare(sorted_[mid], c);
      if (order == 0) return sorted_[mid].open_file;
      if (order < 0) lo = mid + 1;
      else hi = mid;
    }
    insert_at = lo;
    return -1;
  }
  void add(size_t at, const Candidate& c) { sorted_.insert(sorted_.begin() + long(at), c); }

 private:
  // <0, 0 or >0: a before, equal to or after b.
  int compare(const Candidate& a, const Candidate& b) const {
    if (a.dev != b.dev) return a.dev < b.dev ? -1 : 1;
    if (a.ino != b.ino) return a.ino < b.ino ? -1 : 1;
    if (a.flags != b.flags) return a.flags < b.flags ? -1 : 1;
    if (a.offset != b.offset) return a.offset < b.offset ? -1 : 1;
    long r = ckpt_syscall5(kNrKcmp, pid_, pid_, KCMP_FILE, a.fd, b.fd);
    if (r == 1) return -1;  // kcmp: 1 means a's file object sorts before b's
    if (r == 2) return 1;
    return r == 0 ? 0 : (a.fd < b.fd ? -1 : 1);  // kcmp unavailable: never shared
  }

  int32_t pid_;
  std::vector<Candidate> sorted_;
};

}  // namespace

std::string to_hex(const void* data, size_t len) {
  static const char* d = "0123456789abcdef";
  auto p = static_cast<const unsigned char*>(data);
  std::string s;
  s.reserve(len * 2);
  for (size_t i = 0; i < len; i++) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

bool capture_fds(ProcessState& st, FileTable& files, FdCapture& fc, bool (*is_own)(int fd),
                 bool ignore_unsupported, Msg& err) {
  std::vector<int> fds;
  long r = for_each_dir_entry("/proc/thread-self/fd", [&](const char* name, int dir) {
    long fd = dir_entry_number(name);
    if (fd >= 0 && fd != dir && !is_own(int(fd))) fds.push_back(int(fd));
  });
  if (r < 0) {
    err << "cannot open /proc/self/fd: " << errno_name(int(-r));
    return false;
  }

  int32_t pid = int32_t(ckpt_syscall0(CKPT_NR_getpid));
  OpenFileIndex seen(pid);
  for (int fd : fds) {
    std::string path;
    if (!read_link((Msg() << "/proc/thread-self/fd/" << fd).c_str(), path)) continue;
    // The process's own /proc files (/proc/self/mem, status...) read as
    // /proc/PID/...: saved as /proc/self/..., so the restored process opens
    // its own, whatever pid it has then.
    Msg own;
    own << "/proc/" << pid << "/";
    if (path.compare(0, own.size(), own.c_str()) == 0) path = "/proc/self/" + path.substr(own.size());
    struct stat sb;
    if (ckpt_syscall4(CKPT_NR_newfstatat, fd, long(""), long(&sb), AT_EMPTY_PATH) != 0) continue;
    long fl = ckpt_syscall3(CKPT_NR_fcntl, fd, F_GETFL, 0);
    long fdfl = ckpt_syscall3(CKPT_NR_fcntl, fd, F_GETFD, 0);
    long pos = ckpt_syscall3(CKPT_NR_lseek, fd, 0, SEEK_CUR);
    FdState d;
    d.fd = fd;
    d.cloexec = fdfl >= 0 && (fdfl & FD_CLOEXEC);

    // Another descriptor for the same open file description?
    Candidate me{fd, uint64_t(sb.st_dev), uint64_t(sb.st_ino), uint32_t(fl), pos, -1};
    size_t insert_at = 0;
    d.open_file = seen.find(me, insert_at);
    if (d.open_file < 0) {
      OpenFile f;
      f.path = path;
      f.kind = classify(fd, sb, path);
      f.flags = fl >= 0 ? uint32_t(fl) : 0;
      f.offset = pos >= 0 ? pos : -1;
      f.rdev = sb.st_rdev;
      f.inode = sb.st_ino;
      std::string fdinfo;
      read_proc_file((Msg() << "/proc/thread-self/fdinfo/" << fd).c_str(), fdinfo);
      parse_locks(fdinfo, pid, f.locks);
      if (f.kind == FdKind::RegularFile || f.kind == FdKind::Directory) {
        f.file = files.add_open(fd, path, sb);
        f.deleted = f.kind == FdKind::RegularFile && sb.st_nlink == 0;
        if (f.deleted) f.path = st.files[size_t(f.file)].path;
      }
      Msg why;
      if (!capture_fd_kind(st, f, fd, fdinfo, fc, why)) {
        if (!ignore_unsupported) {
          err << "fd " << fd << " (" << path.c_str() << "): " << why.c_str();
          return false;
        }
        st.ignored.push_back(std::string("fd ") + std::to_string(fd) + " (" + path + "): " + why.c_str());
        continue;
      }
      st.open_files.push_back(std::move(f));
      d.open_file = int32_t(st.open_files.size() - 1);
      me.open_file = d.open_file;
      seen.add(insert_at, me);
    }
    st.fds.push_back(d);
  }
  // Pipes: note which ones have both ends inside the process.
  for (OpenFile& f : st.open_files) {
    if (f.kind != FdKind::Pipe) continue;
    for (const OpenFile& g : st.open_files)
      if (&g != &f && g.kind == FdKind::Pipe && g.inode == f.inode && (g.flags & O_ACCMODE) != (f.flags & O_ACCMODE))
        f.pipe_peer_inside = true;
  }
  return true;
}

}  // namespace ckpt

namespace ckpt {

namespace {

constexpr size_t kChunk = 1 << 20;
constexpr uint64_t kPageMask = 4095;

// Adds [off, off + len) of blob bytes read by `read`, page by page (the
// last page padded with zeros).
template <class Read>
bool add_blob_range(uint64_t base, uint64_t off, uint64_t len, unsigned char* buf, ImageWriter& w, Read&& read,
                    Msg& err) {
  for (uint64_t done = 0; done < len; done += kChunk) {
    size_t n = size_t(std::min<uint64_t>(kChunk, len - done));
    if (!read(buf, n, off + done)) return false;
    size_t padded = (n + kPageMask) & ~size_t(kPageMask);
    memset(buf + n, 0, padded - n);
    if (!w.add_data(base + off + done, buf, uint32_t(padded / 4096), true)) {
      err << "cannot write the image: " << w.error_text();
      return false;
    }
  }
  return true;
}

// A blob held by a descriptor (a deleted file, a memfd). It is read through
// an open file description of its own (/proc/self/fd/N): SEEK_DATA and
// SEEK_HOLE find its data extents without moving the application's offset
// (a forked writer shares it), and only the extents are saved, so a restore
// re-creates the holes. A descriptor that cannot be reopened is read whole.
bool write_fd_blob(const Blob& b, int src, uint64_t base, unsigned char* buf, ImageWriter& w, Msg& err) {
  long own = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long((Msg() << "/proc/self/fd/" << src).c_str()),
                           O_RDONLY | O_CLOEXEC, 0);
  int fd = own >= 0 ? int(own) : src;
  auto read = [&](unsigned char* to, size_t n, uint64_t off) {
    long r = ckpt_syscall4(CKPT_NR_pread64, fd, long(to), long(n), long(off));
    if (r == long(n)) return true;
    err << "cannot read " << b.what.c_str() << ": " << (r < 0 ? errno_name(int(-r)) : "short read");
    return false;
  };
  bool ok = true;
  uint64_t pos = 0, written = 0;  // bytes below `written` are in the image
  while (ok && pos < b.size) {
    uint64_t data = pos, hole = b.size;
    if (own >= 0) {
      long d = ckpt_syscall3(CKPT_NR_lseek, fd, long(pos), SEEK_DATA);
      if (d == -ENXIO) break;  // only a hole up to the end
      if (d >= 0) {
        long h = ckpt_syscall3(CKPT_NR_lseek, fd, d, SEEK_HOLE);
        data = uint64_t(d);
        hole = h > d ? uint64_t(h) : b.size;
      }
    }
    if (data >= b.size) break;
    hole = std::min(hole, b.size);
    // Whole pages: an extent that ends inside a page brings the rest of it.
    uint64_t from = std::max(data & ~kPageMask, written);
    uint64_t to = std::min((hole + kPageMask) & ~kPageMask, b.size);
    if (to > from) ok = add_blob_range(base, from, to - from, buf, w, read, err);
    written = std::max(written, (to + kPageMask) & ~kPageMask);
    pos = std::max(hole, written);
  }
  if (own >= 0) ckpt_syscall1(CKPT_NR_close, own);
  return ok;
}

}  // namespace

bool write_blobs(const ProcessState& st, const FdCapture& fc, ImageWriter& w, Msg& err) {
  auto buf = static_cast<unsigned char*>(arena::allocate(kChunk));
  if (!buf) {
    err << "out of memory";
    return false;
  }
  bool ok = true;
  for (size_t i = 0; ok && i < st.blobs.size(); i++) {
    const BlobSource& src = fc.blobs[i];
    uint64_t base = CKPT_BLOB_BASE + (uint64_t(i) << CKPT_BLOB_SHIFT);
    if (src.data) {
      ok = add_blob_range(base, 0, src.size, buf, w, [&](unsigned char* to, size_t n, uint64_t off) {
        memcpy(to, src.data + off, n);
        return true;
      }, err);
    } else {
      ok = write_fd_blob(st.blobs[i], src.fd, base, buf, w, err);
    }
  }
  arena::release(buf);
  return ok;
}

}  // namespace ckpt
