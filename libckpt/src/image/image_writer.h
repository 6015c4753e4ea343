// Streaming image writer: header and manifest first, then page runs as they
// are produced (compressed block by block, straight from the source memory),
// then the block index and the footer. It never holds more than one block of
// page addresses; all state is fixed-size or grows by one index entry per
// block, so libckpt can run it while application threads are frozen.
#pragma once
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/xxhash64.h"
#include "image_format.h"

namespace ckpt {

// Where image bytes go: a file descriptor, written with raw system calls
// through a buffer. Hashes everything it writes (the whole-file checksum).
class FdSink {
 public:
  FdSink(int fd, size_t buffer_size);
  ~FdSink();
  FdSink(const FdSink&) = delete;
  FdSink& operator=(const FdSink&) = delete;
  bool write(const void* data, size_t len);
  bool flush();
  uint64_t offset() const { return offset_; }
  uint64_t hash() const { return hash_.digest(); }
  int error() const { return error_; }  // errno of the first failure

 private:
  int fd_;
  std::vector<unsigned char> buf_;
  size_t used_ = 0;
  uint64_t offset_ = 0;
  Xxh64 hash_;
  int error_ = 0;
};

struct WriterStats {
  uint64_t data_pages = 0, zero_pages = 0, parent_pages = 0, blocks = 0, bytes = 0;
  uint64_t file_hash = 0;  // the footer's whole-file checksum: the image's content hash
};

class ImageWriter {
 public:
  // `mem` routes zstd's allocations (libckpt passes its private arena).
  ImageWriter(FdSink& sink, int zstd_level, const ZSTD_customMem* mem = nullptr);
  ~ImageWriter();
  ImageWriter(const ImageWriter&) = delete;
  ImageWriter& operator=(const ImageWriter&) = delete;

  // `header` is completed here (magic, sizes, manifest location, checksums).
  bool begin(ckpt_file_header header, const std::string& manifest);
  // Runs must come in increasing address order and never overlap. The
  // writer reads `pages` when the block is compressed, so they must stay
  // unchanged until then, unless `transient` (a reused buffer): then they
  // are copied at once.
  bool add_data(uint64_t addr, const void* pages, uint32_t npages, bool transient = false);
  bool add_zero(uint64_t addr, uint32_t npages);
  bool add_parent(uint64_t addr, uint32_t npages);  // incremental images only
  bool finish();

  const WriterStats& stats() const { return stats_; }
  int error() const { return error_ ? error_ : sink_.error(); }
  const char* error_text() const { return error_text_; }

 private:
  bool add_run(uint64_t addr, uint32_t npages, uint32_t kind);
  bool flush_block();
  bool fail(int err, const char* what);

  FdSink& sink_;
  ZSTD_CCtx* cctx_ = nullptr;
  std::vector<ckpt_run> runs_;
  // A block's contents are compressed in one call when the block is full:
  // straight from the source while its pages are contiguous there, else
  // from a gather copy.
  const unsigned char* source_ = nullptr;  // start of contiguous source data
  size_t source_len_ = 0;
  std::vector<unsigned char> gather_;
  bool gathered_ = false;
  std::vector<unsigned char> frame_;
  size_t frame_used_ = 0;
  uint32_t block_data_pages_ = 0, block_zero_pages_ = 0;
  uint64_t last_end_ = 0;
  std::vector<ckpt_index_entry> index_;
  WriterStats stats_;
  int error_ = 0;
  const char* error_text_ = "";
};

}  // namespace ckpt
