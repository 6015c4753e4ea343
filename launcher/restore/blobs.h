// Saved contents of files, pipes and memfds carried by an image, streamed
// straight to where they belong: one block is decompressed at a time, so a
// restore never holds every blob in memory.
#pragma once
#include <vector>

#include "image/image_reader.h"

namespace ckpt {

// Where blob i goes. `positional`: written at its offsets (pwrite; a
// re-created file or memfd already truncated to the blob's size, so the
// parts the image does not carry stay holes); otherwise written in order
// (a pipe). fd -1: the blob is not wanted.
struct BlobSink {
  int fd = -1;
  bool positional = true;
  std::string what;  // for messages
};

// Throws RestoreError when a sink refuses the data.
void stream_blobs(const ImageReader& img, const std::vector<BlobSink>& sinks);

}  // namespace ckpt
