// Range images: ckpt_save_range() / ckpt_load_range() (include/ckpt.h).
//
// A range image is an ordinary image whose manifest describes one address
// range instead of a process. The first save of a range is full; later ones
// hold only the pages whose contents changed since the previous save (found
// by comparing a checksum per page, so no write is ever missed whatever
// wrote it) and name the previous file as their parent. Pages not present
// or all zero are not stored: they read as zero after a load. A save is
// full again when it would replace a file of its own chain (the same path
// saved twice: an image cannot be its own parent) or when that chain can no
// longer be read. Pages are read through /proc/self/mem, so a range may
// hold pages the application made unreadable (PROT_NONE).
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include "capture/memory.h"
#include "capture/page_scan.h"
#include "common/raw_syscall.h"
#include "common/xxhash64.h"
#include "image/chain.h"
#include "image/image_writer.h"
#include "image/manifest.h"
#include "common/proc_maps.h"
#include "runtime/arena.h"
#include "runtime/config.h"
#include "runtime/lineage.h"
#include "runtime/log.h"
#include "runtime/runtime.h"
#include "tracking/mprotect_model.h"

namespace ckpt {
namespace {

constexpr uint64_t kPage = 4096;
constexpr size_t kMaxRanges = 64;

// What the last save (or load) of a range left: a checksum per page (0 for
// a page that holds no data) and the image the next save builds on.
struct RangeState {
  uint64_t start = 0, end = 0;
  uint64_t* sums = nullptr;  // mmap'd, one per page
  ImageRef last;
};
RangeState g_ranges[kMaxRanges];

RangeState* find_state(uint64_t start, uint64_t end, bool create) {
  for (RangeState& r : g_ranges)
    if (r.sums && r.start == start && r.end == end) return &r;
  if (!create) return nullptr;
  for (RangeState& r : g_ranges)
    if (!r.sums) {
      void* p = mmap(nullptr, (end - start) / kPage * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) return nullptr;
      r.start = start;
      r.end = end;
      r.sums = static_cast<uint64_t*>(p);
      r.last = ImageRef{};
      return &r;
    }
  return nullptr;
}

// Reads the application's pages whatever their protection: through
// /proc/self/mem (which reads past PROT_NONE), else process_vm_readv (which
// fails on them rather than crashing).
class PageReader {
 public:
  PageReader() : fd_(int(ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long("/proc/self/mem"), O_RDONLY | O_CLOEXEC, 0))) {}
  ~PageReader() {
    if (fd_ >= 0) ckpt_syscall1(CKPT_NR_close, fd_);
  }
  // Copies [addr, addr+len) into buf; false if it cannot be read.
  bool read(uint64_t addr, void* buf, size_t len) {
    if (fd_ >= 0) return ckpt_syscall4(CKPT_NR_pread64, fd_, long(buf), long(len), long(addr)) == long(len);
    struct iovec local = {buf, len}, remote = {reinterpret_cast<void*>(addr), len};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == ssize_t(len);
  }

 private:
  int fd_;
};

constexpr size_t kBounce = 1u << 20;

// Checksums of the range as it is now (0: no data in that page). False if
// a page holding data cannot be read.
bool checksum_pages(uint64_t start, uint64_t end, uint64_t* out, PageReader& reader, unsigned char* bounce) {
  uint64_t n = (end - start) / kPage;
  memset(out, 0, n * 8);
  PageScanner scanner;
  struct Ctx {
    uint64_t start;
    uint64_t* out;
    PageReader* reader;
    unsigned char* bounce;
  } c{start, out, &reader, bounce};
  auto fn = [](uint64_t s, uint64_t e, uint64_t cat, void* p) -> bool {
    auto& c = *static_cast<Ctx*>(p);
    if (cat & kPagePfnZero) return true;
    for (uint64_t a = s; a < e;) {
      size_t len = size_t(std::min<uint64_t>(e - a, kBounce));
      if (!c.reader->read(a, c.bounce, len)) return false;
      for (size_t off = 0; off < len; off += kPage)
        if (!page_is_zero(c.bounce + off)) c.out[(a + off - c.start) / kPage] = xxh64(c.bounce + off, kPage) | 1;  // never 0
      a += len;
    }
    return true;
  };
  return scanner.scan(start, end, false, fn, &c);
}

// Whether `path` is one of the files of the chain ending at `last` (or that
// chain cannot be read): the next save must then be full.
bool replaces_own_chain(const ImageRef& last, const std::string& path) {
  struct stat target;
  if (stat(path.c_str(), &target) != 0) {
    try {
      ImageChain chain(last.path);
      return false;
    } catch (const std::exception&) {
      return true;
    }
  }
  try {
    ImageChain chain(last.path);
    for (size_t i = 0; i < chain.size(); i++) {
      struct stat st;
      if (stat(chain.image(i).path().c_str(), &st) == 0 && st.st_dev == target.st_dev && st.st_ino == target.st_ino)
        return true;
    }
    return false;
  } catch (const std::exception&) {
    return true;
  }
}

// Whether every page of [start, end) is mapped writable by the application
// (libckpt's own write protection aside).
bool writable(uint64_t start, uint64_t end) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string text;
  char buf[65536];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) text.append(buf, size_t(n));
  close(fd);
  struct Ctx {
    uint64_t pos, end;
    bool ok;
  } c{start, end, true};
  parse_maps(text.data(), text.size(), [](const MapsEntry& e, void* p) {
    auto& c = *static_cast<Ctx*>(p);
    if (!c.ok || e.end <= c.pos || c.pos >= c.end) return;
    bool known = false;
    uint32_t prot = mprotect_app_prot(e.start, known);
    if (!known) prot = e.prot;
    if (e.start > c.pos || !(prot & PROT_WRITE)) c.ok = false;
    else c.pos = e.end;
  }, &c);
  return c.ok && c.pos >= end;
}

bool write_range_image(RangeState& st, const uint64_t* sums, const std::string& path, PageReader& reader,
                       unsigned char* bounce, ImageRef& out, Msg& err) {
  bool incremental = st.last.valid && !replaces_own_chain(st.last, path);
  std::string tmp = path + ".partial";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    err << "cannot create " << tmp.c_str() << ": " << errno_name(errno);
    return false;
  }
  ckpt_file_header h;
  memset(&h, 0, sizeof h);
  getrandom(h.image_id, sizeof h.image_id, 0);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  h.created_realtime_ns = uint64_t(now.tv_sec) * 1000000000ull + uint64_t(now.tv_nsec);
  memcpy(h.uts_sysname, g_config.uts_sysname, sizeof h.uts_sysname);
  memcpy(h.uts_release, g_config.uts_release, sizeof h.uts_release);
  memcpy(h.uts_version, g_config.uts_version, sizeof h.uts_version);
  memcpy(h.uts_machine, g_config.uts_machine, sizeof h.uts_machine);
  memcpy(h.build_id, g_config.build_id, sizeof h.build_id);
  h.build_id_len = g_config.build_id_len;
  h.cpu = g_config.cpu;
  if (incremental) {
    h.flags |= CKPT_HDR_INCREMENTAL;
    memcpy(h.parent.image_id, st.last.id, sizeof h.parent.image_id);
    h.parent.content_hash = st.last.content_hash;
    const char* base = strrchr(st.last.path, '/');
    const char* name = base ? base + 1 : st.last.path;  // ours: "<range file>.N", well within the field
    memcpy(h.parent.file_name, name, strnlen(name, sizeof h.parent.file_name - 1));
  }
  bool ok;
  uint64_t file_hash = 0;
  {
    FdSink sink(fd, 4u << 20);
    ImageWriter w(sink, g_config.zstd_level, arena::zstd_allocator());
    ok = w.begin(h, range_manifest_to_json(st.start, st.end, incremental ? st.last.path : ""));
    uint64_t n = (st.end - st.start) / kPage;
    for (uint64_t i = 0; ok && i < n;) {
      if (!sums[i]) {
        i++;
        continue;
      }
      bool changed = !incremental || sums[i] != st.sums[i];
      uint64_t j = i;
      while (j < n && sums[j] && (!incremental || (sums[j] != st.sums[j])) == changed) j++;
      uint64_t addr = st.start + i * kPage;
      if (!changed) {
        ok = w.add_parent(addr, uint32_t(j - i));
      } else {
        for (uint64_t a = addr, e = st.start + j * kPage; ok && a < e;) {
          size_t len = size_t(std::min<uint64_t>(e - a, kBounce));
          ok = reader.read(a, bounce, len) && w.add_data(a, bounce, uint32_t(len / kPage), true);
          a += len;
        }
      }
      i = j;
    }
    ok = ok && w.finish();
    if (!ok) err << "cannot write " << tmp.c_str() << ": " << w.error_text() << ": " << errno_name(w.error());
    file_hash = w.stats().file_hash;
  }
  ok = ok && fsync(fd) == 0;
  close(fd);
  if (ok && rename(tmp.c_str(), path.c_str()) != 0) {
    err << "cannot rename to " << path.c_str() << ": " << errno_name(errno);
    ok = false;
  }
  if (!ok) {
    unlink(tmp.c_str());
    return false;
  }
  out.valid = true;
  memcpy(out.id, h.image_id, sizeof out.id);
  out.content_hash = file_hash;
  strncpy(out.path, path.c_str(), sizeof out.path - 1);
  return true;
}

std::string absolute(const char* path) {
  if (path[0] == '/') return path;
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) return path;
  return std::string(cwd) + "/" + path;
}

// Serialises with checkpoints (they share libckpt's arena) and resets the
// arena after the operation.
struct Exclusive {
  Exclusive() {
    while (!begin_exclusive()) {
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, nullptr);
    }
  }
  ~Exclusive() {
    arena::reset();
    end_exclusive();
  }
};

bool valid_range(const void* start, size_t len) {
  return len && uint64_t(start) % kPage == 0 && len % kPage == 0 && uint64_t(start) + len > uint64_t(start);
}

}  // namespace
}  // namespace ckpt

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

CKPT_EXPORT int ckpt_save_range(const void* start, size_t len, const char* path) {
  if (!valid_range(start, len) || !path || !*path) {
    errno = EINVAL;
    return -1;
  }
  uint64_t s = uint64_t(start), e = s + len;
  int err_no = 0;
  {
    Exclusive guard;
    RangeState* st = find_state(s, e, true);
    if (!st) {
      errno = ENOSPC;
      return -1;
    }
    std::vector<uint64_t> sums((e - s) / kPage);
    std::vector<unsigned char> bounce(kBounce);
    PageReader reader;
    ImageRef written;
    Msg err;
    if (!checksum_pages(s, e, sums.data(), reader, bounce.data())) {
      log_error(Msg() << "ckpt_save_range: cannot read the range " << Hex{s} << "-" << Hex{e});
      err_no = EFAULT;
    } else if (write_range_image(*st, sums.data(), absolute(path), reader, bounce.data(), written, err)) {
      memcpy(st->sums, sums.data(), sums.size() * 8);
      st->last = written;
    } else {
      log_error(Msg() << "ckpt_save_range: " << err.c_str());
      err_no = EIO;
    }
  }
  if (err_no) errno = err_no;
  return err_no ? -1 : 0;
}

CKPT_EXPORT int ckpt_load_range(void* start, size_t len, const char* path) {
  if (!valid_range(start, len) || !path || !*path) {
    errno = EINVAL;
    return -1;
  }
  uint64_t s = uint64_t(start), e = s + len;
  int err_no = 0;
  mprotect_touch(start, len);  // written in full below
  {
    Exclusive guard;
    try {
      if (!writable(s, e)) throw std::system_error(EFAULT, std::generic_category(), "the range is not mapped writable");
      ImageChain chain(absolute(path));
      chain.verify_pages();
      const ImageReader& img = chain.newest();
      if (!img.is_range() || img.state().regions[0].start != s || img.state().regions[0].end != e)
        throw ImageError(std::string(path) + " is not an image of this range");
      memset(start, 0, len);
      BlockDecompressor dec;
      Block block;
      std::vector<unsigned char> scratch;
      size_t cur_image = SIZE_MAX, cur_block = SIZE_MAX;
      for (const PageSource& src : chain.all_pages()) {
        if (src.zero) continue;
        if (src.image != cur_image || src.block != cur_block) {
          chain.image(src.image).read_block(src.block, block);
          scratch.resize(size_t(block.data_pages) * kPage);
          dec.begin(block);
          dec.into(scratch.data(), scratch.size());
          dec.end();
          cur_image = src.image;
          cur_block = src.block;
        }
        memcpy(reinterpret_cast<void*>(src.addr), scratch.data() + src.data_page * kPage, src.npages * kPage);
      }
      // The next save of this range builds on what was loaded.
      std::vector<unsigned char> bounce(kBounce);
      PageReader reader;
      if (RangeState* st = find_state(s, e, true)) {
        checksum_pages(s, e, st->sums, reader, bounce.data());
        st->last.valid = true;
        memcpy(st->last.id, img.header().image_id, sizeof st->last.id);
        st->last.content_hash = img.footer().file_hash;
        strncpy(st->last.path, img.path().c_str(), sizeof st->last.path - 1);
      }
    } catch (const std::system_error& ex) {
      log_error(Msg() << "ckpt_load_range: " << ex.what());
      err_no = ex.code().value();
    } catch (const std::exception& ex) {
      log_error(Msg() << "ckpt_load_range: " << ex.what());
      err_no = EINVAL;
    }
  }
  if (err_no) errno = err_no;
  return err_no ? -1 : 0;
}
