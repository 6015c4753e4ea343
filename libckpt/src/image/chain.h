// A chain of images: the one given, its parent, the parent's parent... down
// to a full image. Each link is checked (the parent's image id and
// whole-file checksum must be the ones the child recorded); the newest
// image's manifest describes the process.
//
// Pages: the newest image lists every page that holds data. Its DATA and
// ZERO runs are final; its PARENT runs are looked up in the parent, and so
// on down the chain. A page no image below has is zero (anonymous memory)
// or the file's own content (private file mapping).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "image/image_reader.h"

namespace ckpt {

// Where a page range's contents come from.
struct PageSource {
  uint64_t addr, npages;
  size_t image;         // chain index (0 = newest)
  size_t block;         // block of that image
  uint64_t data_page;   // index of the first page among the block's DATA pages
  bool zero;            // contents are zero (image/block unused)
};

class ImageChain {
 public:
  // Opens `path` and every ancestor; throws ImageError naming what is wrong.
  explicit ImageChain(const std::string& path);
  const ImageReader& newest() const { return *images_.front(); }
  const ImageReader& image(size_t i) const { return *images_[i]; }
  size_t size() const { return images_.size(); }
  // Every image, every byte; and every page an image takes from its parent
  // is one the parent holds (verify_references).
  void verify_pages() const;
  // Throws if an image refers to its parent for pages the parent left out
  // (ckpt_exclude) or never had (outside its saved regions).
  void verify_references() const;
  // Resolves address ranges the newest image marks PARENT, in address order.
  std::vector<PageSource> resolve_parent_pages(const std::vector<std::pair<uint64_t, uint64_t>>& ranges) const;
  // Every page of the final state that holds data (DATA and ZERO pages from
  // any image of the chain), in address order.
  std::vector<PageSource> all_pages() const;

 private:
  struct RunRef {
    uint64_t addr, end;
    uint32_t kind;
    size_t block;
    uint64_t data_page;
  };
  const std::vector<RunRef>& runs_of(size_t image) const;
  void resolve(size_t image, uint64_t addr, uint64_t end, std::vector<PageSource>& out) const;
  bool holds_unlisted(size_t image, uint64_t start, uint64_t end) const;
  void check_unlisted(size_t image, uint64_t start, uint64_t end) const;  // throws

  std::vector<std::unique_ptr<ImageReader>> images_;
  mutable std::vector<std::vector<RunRef>> runs_;  // loaded on demand
  mutable std::vector<bool> runs_loaded_;
};

}  // namespace ckpt
