#include "vma_query.h"

#include <fcntl.h>
#include <linux/ioctl.h>
#include <sys/mman.h>

#include "common/proc_maps.h"
#include "common/raw_syscall.h"

namespace ckpt {

namespace {

// include/uapi/linux/fs.h (6.11), newer than Debian 12's headers.
struct procmap_query {
  uint64_t size, query_flags, query_addr;
  uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
  uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
  uint64_t vma_name_addr, build_id_addr;
};
#define CKPT_PROCMAP_QUERY _IOWR('f', 17, struct procmap_query)
constexpr uint64_t kQueryReadable = 1, kQueryWritable = 2, kQueryExecutable = 4, kQueryShared = 8;

int g_no_ioctl = 0;  // the kernel has no PROCMAP_QUERY

bool query_ioctl(int fd, uint64_t addr, VmaInfo& out, bool& unsupported) {
  procmap_query q{};
  q.size = sizeof q;
  q.query_addr = addr;
  long r = ckpt_syscall3(CKPT_NR_ioctl, fd, long(CKPT_PROCMAP_QUERY), long(&q));
  if (r != 0) {
    unsupported = r == -25 /* ENOTTY */ || r == -22 /* EINVAL */;
    return false;
  }
  out.start = q.vma_start;
  out.end = q.vma_end;
  out.prot = (q.vma_flags & kQueryReadable ? PROT_READ : 0) | (q.vma_flags & kQueryWritable ? PROT_WRITE : 0) |
             (q.vma_flags & kQueryExecutable ? PROT_EXEC : 0);
  out.shared = q.vma_flags & kQueryShared;
  out.inode = q.inode;
  return true;
}

// /proc/self/maps, a buffer at a time; a line cut at the end of the buffer
// is read again with the next one.
bool query_text(int fd, uint64_t addr, VmaInfo& out) {
  char buf[4096];
  size_t have = 0;
  for (;;) {
    long n = ckpt_syscall3(CKPT_NR_read, fd, long(buf + have), long(sizeof buf - have));
    if (n < 0 && n == -4) continue;
    if (n <= 0 && have == 0) return false;
    have += n > 0 ? size_t(n) : 0;
    size_t end = have;
    while (end > 0 && buf[end - 1] != '\n') end--;  // whole lines only
    if (end == 0) return false;
    struct Ctx {
      uint64_t addr;
      VmaInfo* out;
      bool found;
    } c{addr, &out, false};
    parse_maps(buf, end, [](const MapsEntry& e, void* p) {
      auto& c = *static_cast<Ctx*>(p);
      if (c.found || e.start > c.addr || e.end <= c.addr) return;
      *c.out = {e.start, e.end, e.prot, e.shared, e.inode};
      c.found = true;
    }, &c);
    if (c.found) return true;
    for (size_t i = end; i < have; i++) buf[i - end] = buf[i];
    have -= end;
    if (n <= 0) return false;
  }
}

}  // namespace

bool query_vma(uint64_t addr, VmaInfo& out) {
  long fd = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long("/proc/self/maps"), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return false;
  bool found = false, unsupported = false;
  if (!__atomic_load_n(&g_no_ioctl, __ATOMIC_RELAXED)) {
    found = query_ioctl(int(fd), addr, out, unsupported);
    if (unsupported) __atomic_store_n(&g_no_ioctl, 1, __ATOMIC_RELAXED);
  }
  if (!found && (unsupported || __atomic_load_n(&g_no_ioctl, __ATOMIC_RELAXED))) found = query_text(int(fd), addr, out);
  ckpt_syscall1(CKPT_NR_close, fd);
  return found;
}

}  // namespace ckpt
