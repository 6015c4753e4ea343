// Re-creating the image's memory in the process being restored.
//
// Each region is mapped at its own address when that is free; where the
// launcher itself sits, it is prepared at a free address instead and the
// restorer moves it into place (mremap keeps contents, protections and
// flags). Pages are decompressed straight into their final mapping after a
// MADV_POPULATE_WRITE of each run (one cheap call instead of a fault per page).
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "address_space.h"
#include "image/chain.h"
#include "image/image_reader.h"
#include "restorer/restorer_plan.h"

namespace ckpt {

struct RegionPlacement {
  const Region* region;
  uint64_t at;  // where it is mapped now
};

class MemoryRestorer {
 public:
  // `shared_objects`: memfds already re-created for open descriptors, by
  // inode; shared regions of those objects map them.
  MemoryRestorer(const ImageChain& chain, FreeSpace& space, const std::map<uint64_t, int>& shared_objects)
      : chain_(chain), image_(chain.newest()), space_(space), shared_objects_(shared_objects) {}
  void map_regions();
  void fill_pages();
  void apply_region_flags(std::vector<std::string>& warnings);

  std::vector<ckpt_plan_move> moves() const;
  // Address ranges this restore placed (they survive the launcher's teardown).
  std::vector<std::pair<uint64_t, uint64_t>> owned() const;
  uint64_t pages_written() const { return pages_written_.load(); }

 private:
  const RegionPlacement& placement_for(uint64_t addr) const;
  void map_one(const Region& r);
  void fill_block(size_t b, BlockDecompressor& dec, Block& block,
                  std::vector<std::pair<uint64_t, uint64_t>>& from_parents);
  void fill_from_parents(const std::vector<std::pair<uint64_t, uint64_t>>& ranges);
  // Calls fn(region, destination, length) for each piece of [addr, addr+len)
  // split at region boundaries.
  template <class Fn>
  void for_each_piece(uint64_t addr, uint64_t len, Fn&& fn) const;

  int shared_object_fd(uint64_t inode);

  const ImageChain& chain_;
  const ImageReader& image_;
  FreeSpace& space_;
  std::map<uint64_t, int> shared_objects_;
  std::vector<RegionPlacement> placed_;  // sorted by region start
  std::atomic<uint64_t> pages_written_{0};  // filled by several threads
};

}  // namespace ckpt
