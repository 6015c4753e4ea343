// Saved contents of files, pipes, sockets and memfds carried by an image,
// streamed straight to where they belong: one block is decompressed at a
// time, so a restore never holds every blob in memory.
#pragma once
#include <string>
#include <vector>

#include "image/image_reader.h"

namespace ckpt {

// Where blob i goes (fd -1: not wanted).
struct BlobSink {
  enum Mode : uint8_t {
    Positional,  // pwrite at its offsets: a re-created file or memfd already truncated to
                 // the blob's size, so the parts the image does not carry stay holes
    InOrder,     // written in order (a pipe, a stream socket)
    Messages,    // [u32 length][bytes] records, one send() each (datagram, seqpacket)
  };
  int fd = -1;
  Mode mode = Positional;
  bool socket = false;  // send(MSG_DONTWAIT): a full buffer fails instead of blocking
  std::string what;     // for messages
};

// Throws RestoreError when a sink refuses the data.
void stream_blobs(const ImageReader& img, const std::vector<BlobSink>& sinks);

}  // namespace ckpt
