#include "file_table.h"

#include <fcntl.h>
#include <sys/sysmacros.h>

#include <cstring>

#include "common/raw_syscall.h"
#include "common/xxhash64.h"
#include "runtime/arena.h"

namespace ckpt {

namespace {

struct HashCacheEntry {
  uint64_t dev, ino, size;
  int64_t mtime_ns, ctime_ns;  // ctime: a file rewritten in place with its mtime reset still differs
  uint64_t hash;
};
// Lives in libckpt's static data, so it survives checkpoints (and restores:
// the entries describe files, not memory).
HashCacheEntry g_hash_cache[256];
unsigned g_hash_cache_next;

int64_t mtime_ns(const struct stat& st) { return int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec; }
int64_t ctime_ns(const struct stat& st) { return int64_t(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec; }

bool cached_hash(const struct stat& st, uint64_t& out) {
  for (const HashCacheEntry& e : g_hash_cache)
    if (e.ino == st.st_ino && e.dev == st.st_dev && e.size == uint64_t(st.st_size) && e.mtime_ns == mtime_ns(st) &&
        e.ctime_ns == ctime_ns(st) && e.ino) {
      out = e.hash;
      return true;
    }
  return false;
}

}  // namespace

bool hash_file(const char* path, uint64_t& out) {
  long fd = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long(path), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return false;
  constexpr size_t kBuf = 1 << 20;
  auto buf = static_cast<unsigned char*>(arena::allocate(kBuf));
  bool ok = buf != nullptr;
  Xxh64 h;
  while (ok) {
    long r = ckpt_syscall3(CKPT_NR_read, fd, long(buf), kBuf);
    if (r == -4) continue;
    if (r < 0) ok = false;
    if (r <= 0) break;
    h.update(buf, size_t(r));
  }
  arena::release(buf);
  ckpt_syscall1(CKPT_NR_close, fd);
  if (ok) out = h.digest();
  return ok;
}

int FileTable::find(uint64_t dev, uint64_t ino) const {
  for (size_t i = 0; i < files_.size(); i++)
    if (files_[i].dev == dev && files_[i].ino == ino) return int(i);
  return -1;
}

int FileTable::add(const std::string& path, const struct stat& st, bool deleted) {
  int i = find(st.st_dev, st.st_ino);
  if (i >= 0) return i;
  FileRef f;
  f.path = path;
  f.dev = st.st_dev;
  f.ino = st.st_ino;
  f.size = uint64_t(st.st_size);
  f.mtime_ns = mtime_ns(st);
  f.ctime_ns = ctime_ns(st);
  f.mode = st.st_mode;
  f.deleted = deleted;
  files_.push_back(std::move(f));
  return int(files_.size() - 1);
}

int FileTable::add_mapped(const std::string& path, uint64_t dev, uint64_t ino, bool hash) {
  struct stat st;
  if (ckpt_syscall4(CKPT_NR_newfstatat, AT_FDCWD, long(path.c_str()), long(&st), 0) != 0) return -1;
  if (st.st_dev != dev || st.st_ino != ino || !S_ISREG(st.st_mode)) return -1;
  int i = add(path, st, false);
  FileRef& f = files_[size_t(i)];
  if (hash && !f.hashed) {
    uint64_t h;
    if (!cached_hash(st, h)) {
      if (!hash_file(path.c_str(), h)) return i;  // unreadable: identity by stat only
      g_hash_cache[g_hash_cache_next++ % 256] = {uint64_t(st.st_dev), uint64_t(st.st_ino), uint64_t(st.st_size),
                                                 mtime_ns(st), ctime_ns(st), h};
    }
    f.hashed = true;
    f.content_hash = h;
  }
  return i;
}

int FileTable::add_open(int, const std::string& path, const struct stat& st) {
  static const char kDeleted[] = " (deleted)";
  bool deleted = path.size() > sizeof kDeleted - 1 &&
                 path.compare(path.size() - (sizeof kDeleted - 1), std::string::npos, kDeleted) == 0;
  return add(deleted ? path.substr(0, path.size() - (sizeof kDeleted - 1)) : path, st, deleted);
}

}  // namespace ckpt
