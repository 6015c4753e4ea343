// The chain of images this process writes: which image the next incremental
// checkpoint builds on, when a full one is due, and which images retention
// (--keep) may delete.
//
// The parent of a checkpoint is the image written at the previous freeze,
// and only if that image was written successfully: tracking restarts at
// every freeze, so a failed write ("dirty bits already cleared") makes the
// next checkpoint full instead of silently missing pages.
#pragma once
#include <cstdint>

#include "common/msg.h"

namespace ckpt {

struct ImageRef {
  bool valid = false;
  uint8_t id[16] = {};
  uint64_t content_hash = 0;
  char path[1024] = "";
};

namespace lineage {

// At a freeze: the parent for this checkpoint, or nullptr for a full image.
// `tracking` says whether a tracker has been armed since the last image.
const ImageRef* choose_parent(bool tracking);
// The outcome of the image begun at the last freeze.
void written(const ImageRef& image);
void failed();
// A restored process continues the chain of the image it came from.
void restored_from(const ImageRef& image);
void reset();  // fork child: its first image is full
// The image written at the last freeze, or the one this process was restored from.
const ImageRef& last_image();

// Deletes images of `dir` beyond the `keep` newest, except those a kept
// image depends on (its parent chain). Runs in the writer after a success.
void apply_retention(const char* dir, const char* newest_path, uint32_t keep, Msg& note);

}  // namespace lineage
}  // namespace ckpt
