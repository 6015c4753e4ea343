#include "lineage.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "common/raw_dir.h"
#include "common/raw_syscall.h"
#include "config.h"
#include "image/image_format.h"

namespace ckpt::lineage {

namespace {
ImageRef g_last;         // the newest image written successfully
uint32_t g_since_full = 0;
}  // namespace

const ImageRef* choose_parent(bool tracking) {
  if (!g_config.incremental || !tracking || !g_last.valid ||
      (g_config.full_every && g_since_full + 1 >= g_config.full_every)) {
    g_since_full = 0;
    return nullptr;
  }
  g_since_full++;
  return &g_last;
}

void written(const ImageRef& image) { g_last = image; }
void failed() { g_last.valid = false; }
void restored_from(const ImageRef& image) {
  g_last = image;
  g_since_full = 0;
}
void reset() {
  g_last.valid = false;
  g_since_full = 0;
}
const ImageRef& last_image() { return g_last; }

namespace {


struct Entry {
  std::string name;
  std::string parent;  // file name of the parent ("" for a full image)
  uint64_t created;
};

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

void apply_retention(const char* dir, const char* newest_path, uint32_t keep, Msg& note) {
  if (!keep) return;
  // Only images of the same program and pid (the same lineage) are considered.
  std::string newest = newest_path;
  newest = newest.substr(newest.rfind('/') + 1);
  size_t dash = newest.rfind('-');
  if (dash == std::string::npos) return;
  std::string prefix = newest.substr(0, dash + 1);
  std::vector<Entry> images;
  long dr = for_each_dir_entry(dir, [&](const char* entry, int dfd) {
    std::string name = entry;
    if (name.compare(0, prefix.size(), prefix) != 0 || !ends_with(name, ".img")) return;
    long fd = ckpt_syscall4(CKPT_NR_openat, dfd, long(name.c_str()), O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return;
    ckpt_file_header h;
    long r = ckpt_syscall4(CKPT_NR_pread64, fd, long(&h), sizeof h, 0);
    ckpt_syscall1(CKPT_NR_close, fd);
    if (r != long(sizeof h) || memcmp(h.magic, CKPT_FILE_MAGIC, 8) != 0) return;
    Entry e{name, "", h.created_realtime_ns};
    if (h.flags & CKPT_HDR_INCREMENTAL) e.parent.assign(h.parent.file_name, strnlen(h.parent.file_name, sizeof h.parent.file_name));
    images.push_back(std::move(e));
  });
  if (dr < 0) return;
  std::sort(images.begin(), images.end(), [](const Entry& a, const Entry& b) { return a.created > b.created; });
  // Keep the newest `keep` images and every image one of them depends on.
  std::vector<std::string> kept;
  for (size_t i = 0; i < images.size() && i < keep; i++) {
    std::string name = images[i].name;
    while (!name.empty() && std::find(kept.begin(), kept.end(), name) == kept.end()) {
      kept.push_back(name);
      std::string parent;
      for (const Entry& e : images)
        if (e.name == name) parent = e.parent;
      name = parent;
    }
  }
  uint32_t removed = 0;
  for (const Entry& e : images)
    if (std::find(kept.begin(), kept.end(), e.name) == kept.end() &&
        ckpt_syscall3(CKPT_NR_unlinkat, AT_FDCWD, long((std::string(dir) + "/" + e.name).c_str()), 0) == 0)
      removed++;
  if (removed) note << "retention removed " << removed << " old image(s)";
}

}  // namespace ckpt::lineage
