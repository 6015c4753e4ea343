// Streaming image writer: header and manifest first, then page runs as they
// are produced (compressed block by block, straight from the source memory),
// then the block index and the footer. It never holds more than one block of
// page addresses; all state is fixed-size or grows by one index entry per
// block, so libckpt can run it while application threads are frozen.
#pragma once
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <atomic>
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

// Starts the helper threads that compress blocks in parallel. libckpt starts
// bare threads (it may run while application threads are frozen, so no
// pthread_create); a test can use std::thread.
class ThreadStarter {
 public:
  virtual ~ThreadStarter() = default;
  // Runs fn(arg) on a new thread; false if none can be started.
  virtual bool start(void (*fn)(void*), void* arg) = 0;
  // Returns once every thread started has returned from fn.
  virtual void join_all() = 0;
};

class ImageWriter {
 public:
  // `mem` routes zstd's allocations (libckpt passes its private arena).
  // With `threads` and `helpers` > 0, blocks are compressed by that many
  // helper threads (and the caller, while it waits) and written in order.
  ImageWriter(FdSink& sink, int zstd_level, const ZSTD_customMem* mem = nullptr, ThreadStarter* threads = nullptr,
              unsigned helpers = 0);
  ~ImageWriter();
  ImageWriter(const ImageWriter&) = delete;
  ImageWriter& operator=(const ImageWriter&) = delete;

  // `header` is completed here (magic, sizes, manifest location, checksums).
  bool begin(ckpt_file_header header, const std::string& manifest);
  // Runs must come in increasing address order and never overlap. The
  // writer reads `pages` when the block is compressed, so they must stay
  // unchanged until finish(), unless `transient` (a reused buffer): then they
  // are copied at once.
  bool add_data(uint64_t addr, const void* pages, uint32_t npages, bool transient = false);
  bool add_zero(uint64_t addr, uint32_t npages);
  bool add_parent(uint64_t addr, uint32_t npages);  // incremental images only
  bool finish();

  const WriterStats& stats() const { return stats_; }
  int error() const { return error_ ? error_ : sink_.error(); }
  const char* error_text() const { return error_text_; }
  unsigned helpers() const { return nhelpers_; }

 private:
  // One block on its way to the file: filled by the caller, compressed by
  // any thread, written by the caller in submission order.
  struct Slot {
    std::vector<ckpt_run> runs;
    // Contents are compressed in one call: straight from the source while
    // the block's pages are contiguous there, else from a gather copy.
    const unsigned char* source = nullptr;
    size_t source_len = 0;
    bool gathered = false;
    std::vector<unsigned char> gather, frame;
    size_t frame_used = 0;
    uint32_t data_pages = 0, zero_pages = 0;
    uint64_t hash = 0;
    bool failed = false;
    std::atomic<uint32_t> done{1};  // compressed (futex word)
  };

  bool add_run(uint64_t addr, uint32_t npages, uint32_t kind);
  bool flush_block();
  bool compress(Slot& s, ZSTD_CCtx* cctx);
  bool emit_oldest();
  bool try_compress_one(ZSTD_CCtx* cctx);
  static void helper_main(void* self);
  void stop_helpers();
  bool fail(int err, const char* what);
  Slot& current() { return *slots_[submitted_.load(std::memory_order_relaxed) % slots_.size()]; }

  FdSink& sink_;
  std::vector<ZSTD_CCtx*> cctx_;  // [0] the caller's, then one per helper
  std::vector<Slot*> slots_;      // a ring: block n uses slots_[n % size]
  std::atomic<uint32_t> submitted_{0};  // blocks handed over for compression
  std::atomic<uint32_t> claimed_{0};    // blocks a thread started compressing
  uint32_t emitted_ = 0;                // blocks written to the sink
  std::atomic<uint32_t> wake_{0};       // futex word the helpers sleep on
  std::atomic<uint32_t> stopping_{0};
  std::atomic<uint32_t> next_helper_{1};
  ThreadStarter* threads_ = nullptr;
  unsigned nhelpers_ = 0;
  uint64_t last_end_ = 0;
  std::vector<ckpt_index_entry> index_;
  WriterStats stats_;
  int error_ = 0;
  const char* error_text_ = "";
};

}  // namespace ckpt
