// Image reader and validator (used by ckpt-run, never by libckpt.so).
// open() checks the header, footer, index and manifest; verify_pages() reads
// every block and checks checksums and run tables against the manifest's
// regions. Nothing about the address space is trusted before both pass.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "image_format.h"

struct ZSTD_DCtx_s;
#include "process_state.h"

namespace ckpt {

struct ImageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Block {
  std::vector<ckpt_run> runs;
  std::vector<unsigned char> frame;  // zstd frame with the DATA runs' contents
  uint32_t data_pages = 0;
};

class ImageReader {
 public:
  explicit ImageReader(const std::string& path);  // opens and validates; throws ImageError
  ~ImageReader();
  ImageReader(const ImageReader&) = delete;
  ImageReader& operator=(const ImageReader&) = delete;

  const std::string& path() const { return path_; }
  const ckpt_file_header& header() const { return header_; }
  const ckpt_footer& footer() const { return footer_; }
  const ProcessState& state() const { return state_; }
  const std::string& manifest_text() const { return manifest_; }
  const std::vector<ckpt_index_entry>& index() const { return index_; }
  uint64_t file_size() const { return size_; }
  uint32_t owner() const { return owner_; }  // the file's owner (uid), as opened

  // Reads every byte: whole-file checksum, every block's checksum and runs.
  void verify_pages() const;
  // Reads block i and checks it (checksum, run table); throws ImageError.
  void read_block(size_t i, Block& out) const;
  // Only block i's run table (no checksum: verify_pages() covers it).
  void read_runs(size_t i, std::vector<ckpt_run>& out) const;
  bool incremental() const { return header_.flags & CKPT_HDR_INCREMENTAL; }
  // A range image (ckpt_save_range): state() then holds just one anonymous
  // region, the range, and libckpt.parent_path.
  bool is_range() const { return is_range_; }

 private:
  void read_at(uint64_t off, void* buf, size_t len, const char* what) const;
  void check_runs(size_t i, const ckpt_index_entry& e, const ckpt_block_header& bh,
                  const std::vector<ckpt_run>& runs) const;
  [[noreturn]] void fail(const std::string& what) const;
  void check_structure();  // header, footer, manifest and index (the constructor's work)

  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint32_t owner_ = 0;
  ckpt_file_header header_{};
  ckpt_footer footer_{};
  std::string manifest_;
  ProcessState state_;
  bool is_range_ = false;
  std::vector<ckpt_index_entry> index_;
};

// Decompresses blocks straight into their destinations: for each DATA run,
// `dest(run)` gives where its npages * page_size bytes go (no staging copy).
class BlockDecompressor {
 public:
  BlockDecompressor();
  ~BlockDecompressor();
  BlockDecompressor(const BlockDecompressor&) = delete;
  BlockDecompressor& operator=(const BlockDecompressor&) = delete;
  // The DATA runs' bytes come out in run order: begin(), then into() for
  // consecutive pieces (any split of the runs), then end(), which checks
  // that the frame held exactly that much.
  void begin(const Block& b);
  void into(void* out, size_t len);
  void end();

 private:
  ::ZSTD_DCtx_s* dctx_;
  const Block* block_ = nullptr;
  size_t in_pos_ = 0;
  bool frame_done_ = false;  // zstd reported the end of the frame
};

// Semantic checks of a manifest (alignment, overlaps, indices, thread and vdso
// consistency). Throws ImageError naming the first problem.
void validate_process_state(const ProcessState& st);

}  // namespace ckpt
