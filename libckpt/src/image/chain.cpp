#include "chain.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>


namespace ckpt {

namespace {

constexpr size_t kMaxDepth = 100000;

std::string hex_id(const uint8_t* p) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 16; i++) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

std::string hex(uint64_t v) {
  char b[24];
  snprintf(b, sizeof b, "0x%llx", (unsigned long long)v);
  return b;
}

std::string dir_of(const std::string& p) {
  size_t s = p.rfind('/');
  return s == std::string::npos ? "." : s == 0 ? "/" : p.substr(0, s);
}

}  // namespace

ImageChain::ImageChain(const std::string& path) {
  images_.push_back(std::make_unique<ImageReader>(path));
  while (images_.back()->incremental()) {
    const ImageReader& child = *images_.back();
    if (images_.size() > kMaxDepth) throw ImageError(path + ": image chain is too long (a loop?)");
    const ckpt_parent_ref& ref = child.header().parent;
    std::string name(ref.file_name, strnlen(ref.file_name, sizeof ref.file_name));
    // Next to the child first (a directory of images may move as a whole),
    // then where the child's process wrote it.
    std::vector<std::string> candidates = {dir_of(child.path()) + "/" + name};
    const std::string& recorded = child.state().libckpt.parent_path;
    if (!recorded.empty() && recorded != candidates[0]) candidates.push_back(recorded);
    std::string found;
    for (const std::string& c : candidates)
      if (access(c.c_str(), F_OK) == 0) {
        found = c;
        break;
      }
    if (found.empty()) {
      std::string where = candidates[0] + (candidates.size() > 1 ? " or " + candidates[1] : "");
      throw ImageError(child.path() + ": its parent image " + name + " is missing (looked for " + where + ")");
    }
    images_.push_back(std::make_unique<ImageReader>(found));
    const ImageReader& parent = *images_.back();
    if (memcmp(parent.header().image_id, ref.image_id, sizeof ref.image_id) != 0)
      throw ImageError(child.path() + ": " + found + " is not its parent (image id " +
                       hex_id(parent.header().image_id) + ", expected " + hex_id(ref.image_id) + ")");
    if (parent.footer().file_hash != ref.content_hash)
      throw ImageError(child.path() + ": its parent " + found + " was modified since (content checksum differs)");
  }
  runs_.resize(images_.size());
  runs_loaded_.assign(images_.size(), false);
}

void ImageChain::verify_pages() const {
  for (const auto& img : images_) img->verify_pages();
  verify_references();
}

bool ImageChain::holds_unlisted(size_t p, uint64_t s, uint64_t e) const {
  const ProcessState& st = images_[p]->state();
  for (auto& [xs, xe] : st.excluded)
    if (xs < e && s < xe) return false;
  const std::vector<Region>& regions = st.regions;
  auto it = std::upper_bound(regions.begin(), regions.end(), s, [](uint64_t a, const Region& r) { return a < r.end; });
  for (uint64_t pos = s; pos < e; ++it) {
    if (it == regions.end() || it->start > pos || !it->pages_saved) return false;
    pos = it->end;
  }
  return true;
}

void ImageChain::check_unlisted(size_t p, uint64_t s, uint64_t e) const {
  if (holds_unlisted(p, s, e)) return;
  throw ImageError(images_[p - 1]->path() + ": its pages " + hex(s) + "-" + hex(e) + " are to come from its parent " +
                   images_[p]->path() + ", which does not hold them (left out of it, or never there): "
                   "the chain is inconsistent");
}

void ImageChain::verify_references() const {
  for (size_t i = 0; i < images_.size(); i++)
    for (const RunRef& r : runs_of(i)) {
      if (r.kind != CKPT_RUN_PARENT) continue;
      if (i + 1 == images_.size())
        throw ImageError(images_[i]->path() + ": a full image refers to a parent for its pages at " + hex(r.addr));
      const std::vector<RunRef>& below = runs_of(i + 1);
      auto it = std::upper_bound(below.begin(), below.end(), r.addr, [](uint64_t a, const RunRef& x) { return a < x.end; });
      uint64_t pos = r.addr;
      for (; it != below.end() && it->addr < r.end; ++it) {
        if (it->addr > pos) check_unlisted(i + 1, pos, it->addr);
        pos = std::max(pos, std::min(it->end, r.end));
      }
      if (pos < r.end) check_unlisted(i + 1, pos, r.end);
    }
}

const std::vector<ImageChain::RunRef>& ImageChain::runs_of(size_t image) const {
  if (!runs_loaded_[image]) {
    const ImageReader& img = *images_[image];
    std::vector<ckpt_run> runs;
    for (size_t b = 0; b < img.index().size(); b++) {
      img.read_runs(b, runs);
      uint64_t data_page = 0;
      for (const ckpt_run& r : runs) {
        runs_[image].push_back({r.addr, r.addr + uint64_t(r.npages) * CKPT_PAGE_SIZE, r.kind, b, data_page});
        if (r.kind == CKPT_RUN_DATA) data_page += r.npages;
      }
    }
    runs_loaded_[image] = true;
  }
  return runs_[image];
}

// Pages of `image` that hold no run read as zero (or as their file) only
// where that image saved its pages: anything else is an error, never
// silently zero.
void ImageChain::resolve(size_t image, uint64_t addr, uint64_t end, std::vector<PageSource>& out) const {
  if (image >= images_.size())
    throw ImageError(images_.back()->path() + ": a full image refers to a parent for its pages at " + hex(addr));
  const std::vector<RunRef>& runs = runs_of(image);
  auto it = std::upper_bound(runs.begin(), runs.end(), addr, [](uint64_t a, const RunRef& r) { return a < r.end; });
  uint64_t pos = addr;
  for (; it != runs.end() && it->addr < end; ++it) {
    uint64_t s = std::max(addr, it->addr), e = std::min(end, it->end);
    if (s > pos && image > 0) check_unlisted(image, pos, s);
    uint64_t skip = (s - it->addr) / CKPT_PAGE_SIZE, n = (e - s) / CKPT_PAGE_SIZE;
    if (it->kind == CKPT_RUN_DATA) out.push_back({s, n, image, it->block, it->data_page + skip, false});
    else if (it->kind == CKPT_RUN_ZERO) out.push_back({s, n, image, 0, 0, true});
    else resolve(image + 1, s, e, out);
    pos = e;
  }
  if (pos < end && image > 0) check_unlisted(image, pos, end);
}

std::vector<PageSource> ImageChain::resolve_parent_pages(
    const std::vector<std::pair<uint64_t, uint64_t>>& ranges) const {
  std::vector<PageSource> out;
  for (auto& [s, e] : ranges) resolve(1, s, e, out);
  return out;
}

std::vector<PageSource> ImageChain::all_pages() const {
  std::vector<PageSource> out;
  for (const RunRef& r : runs_of(0)) {
    uint64_t n = (r.end - r.addr) / CKPT_PAGE_SIZE;
    if (r.kind == CKPT_RUN_DATA) out.push_back({r.addr, n, 0, r.block, r.data_page, false});
    else if (r.kind == CKPT_RUN_ZERO) out.push_back({r.addr, n, 0, 0, 0, true});
    else resolve(1, r.addr, r.end, out);
  }
  return out;
}

}  // namespace ckpt
