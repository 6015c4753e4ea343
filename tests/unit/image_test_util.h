// Helpers shared by the image-format unit tests: temporary files, a complete
// valid ProcessState, an image writer driven by a list of page runs with
// recognisable page contents, byte-level access to an image for crafting
// corruption (rewrite one structure, recompute exactly the checksums that
// protect it), and a field-by-field ProcessState comparison.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "image/image_format.h"
#include "image/image_writer.h"
#include "image/process_state.h"

namespace ckpt::test {

constexpr uint64_t kPage = CKPT_PAGE_SIZE;

// ---------------------------------------------------------------- files

// A fresh directory under $TMPDIR (or /tmp), removed with its files.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<unsigned char> read_file(const std::string& path);
void write_file(const std::string& path, const void* data, size_t len);
inline void write_file(const std::string& path, const std::vector<unsigned char>& b) {
  write_file(path, b.data(), b.size());
}
inline void write_file(const std::string& path, const std::string& s) { write_file(path, s.data(), s.size()); }

// Number of open file descriptors of this process.
size_t count_open_fds();

// Closes, at the end of its scope, every descriptor opened during it. The
// open_*error() helpers below use it because a refused ImageReader leaks its
// descriptor (a library bug with its own test in test_image_corruption.cpp);
// without it the bulk truncation and bit-flip loops would exhaust the
// descriptor limit and later opens would fail for the wrong reason.
class FdReaper {
 public:
  FdReaper();
  ~FdReaper();
  FdReaper(const FdReaper&) = delete;
  FdReaper& operator=(const FdReaper&) = delete;

 private:
  std::vector<int> before_;
};

// ---------------------------------------------------------------- contents

enum class Fill {
  Mixed,         // every third page pseudo-random (incompressible), the rest patterned
  Compressible,  // patterned only: small images for the corruption tests
};

// The page at `addr` always starts with addr and ~addr (so a misplaced page is
// named by its own bytes); the rest depends on addr and `fill`.
void fill_page(uint64_t addr, unsigned char* page, Fill fill);

struct RunSpec {
  uint64_t addr;
  uint32_t npages;
  uint32_t kind;  // CKPT_RUN_DATA, CKPT_RUN_ZERO or CKPT_RUN_PARENT
};

// Page address -> run kind, one entry per page.
std::map<uint64_t, uint32_t> expand_runs(const std::vector<RunSpec>& runs);

// ---------------------------------------------------------------- the sample process

// Addresses of the sample state's regions (see sample_state()).
constexpr uint64_t kTextStart = 0x400000;           // file-private r-x, not saved
constexpr uint64_t kDataStart = 0x402000;           // file-private rw-, saved (2 pages)
constexpr uint64_t kHeapStart = 0x404000;           // anonymous [heap], saved
constexpr uint64_t kHeapPages = 600;
constexpr uint64_t kShmStart = 0x10000000;          // shared anonymous, saved
constexpr uint64_t kShmPages = 1024;
constexpr uint64_t kFileSharedStart = 0x20000000;   // file-shared, not saved (4 pages)
constexpr uint64_t kScratchStart = 0x30000000;      // libckpt scratch, not saved (16 pages)
constexpr uint64_t kStackStart = 0x7ffff0000000;    // anonymous [stack], saved
constexpr uint64_t kStackPages = 32;
constexpr uint64_t kVvarStart = 0x7ffff7fc0000;     // [vvar] 4, [vvar_vclock] 2, [vdso] 2 pages
constexpr uint64_t kVsyscallStart = 0xffffffffff600000ULL;

// A complete, valid process: two threads (coordinator tid == pid), eleven
// regions of every kind, three files, twelve open file descriptions (one of
// every kind with its kind-specific state) behind thirteen descriptors, three
// blobs, pending signals, POSIX and interval timers, rlimits, mm fields,
// vdso layout, clocks. Every field has a distinctive non-default value.
ProcessState sample_state();

// Runs for the full round trip: more than CKPT_MAX_BLOCK_DATA_PAGES data
// pages in one run, a data run spanning the adjacent data and heap regions,
// zero runs, contiguous same-kind runs (merged by the writer) and more than
// CKPT_MAX_BLOCK_RUNS alternating runs. 631 data pages, 744 zero pages.
std::vector<RunSpec> full_runs();

// A small image with three blocks, for the corruption tests.
std::vector<RunSpec> compact_runs();

// The bytes of the image of sample_state() + compact_runs() (Fill::Compressible),
// built once per test run.
const std::vector<unsigned char>& compact_image();

// Header fields the caller of ImageWriter::begin provides, deterministic.
ckpt_file_header sample_header();

struct WriteOptions {
  int zstd_level = 1;
  size_t sink_buffer = 64 << 10;
  Fill fill = Fill::Mixed;
  const ckpt_file_header* header = nullptr;  // default: sample_header()
};

// Writes an image with ImageWriter; CHECKs that every writer call succeeds.
WriterStats write_image(const std::string& path, const std::string& manifest,
                        const std::vector<RunSpec>& runs, const WriteOptions& opt = {});
WriterStats write_image(const std::string& path, const ProcessState& st, const std::vector<RunSpec>& runs,
                        const WriteOptions& opt = {});

// Opens the image and verifies every page. Returns "" when the image is
// accepted, the ImageError text when refused, and "UNEXPECTED <type>: <what>"
// for any other exception (which is always a defect).
std::string open_error(const std::string& path);
// Also decompresses every block (BlockDecompressor, sizes from the run tables).
std::string open_verify_decompress_error(const std::string& path);
std::string open_and_verify_error(const std::string& path);

bool contains(const std::string& haystack, const std::string& needle);

// ---------------------------------------------------------------- crafting

// An image file as bytes. The setters rewrite one structure and recompute
// only the checksum stored in or for that structure; rehash_file() then
// recomputes the whole-file checksum (and the footer's own checksum), so a
// crafted image trips exactly the check under test.
class ImageBytes {
 public:
  explicit ImageBytes(std::vector<unsigned char> b) : b_(std::move(b)) {}
  static ImageBytes load(const std::string& path) { return ImageBytes(read_file(path)); }
  void save(const std::string& path) const { write_file(path, b_); }

  std::vector<unsigned char>& bytes() { return b_; }
  size_t size() const { return b_.size(); }

  template <class T>
  T get(uint64_t off) const {
    check_range(off, sizeof(T));
    T v;
    memcpy(&v, b_.data() + off, sizeof v);
    return v;
  }
  template <class T>
  void put(uint64_t off, const T& v) {
    check_range(off, sizeof(T));
    memcpy(b_.data() + off, &v, sizeof v);
  }

  ckpt_file_header header() const { return get<ckpt_file_header>(0); }
  void set_header(ckpt_file_header h, bool rehash = true);  // recomputes header_hash
  uint64_t manifest_offset() const { return header().manifest_offset; }
  std::string manifest() const;

  uint64_t footer_offset() const { return b_.size() - sizeof(ckpt_footer); }
  ckpt_footer footer() const { return get<ckpt_footer>(footer_offset()); }
  void set_footer(ckpt_footer f, bool rehash = true);  // recomputes footer_hash

  std::vector<ckpt_index_entry> index() const;
  void set_index_entry(size_t i, const ckpt_index_entry& e);  // no checksum of its own

  uint64_t block_offset(size_t i) const { return index().at(i).offset; }
  ckpt_block_header block_header(size_t i) const { return get<ckpt_block_header>(block_offset(i)); }
  void set_block_header(size_t i, const ckpt_block_header& bh);  // not covered by the block hash
  uint64_t runs_offset(size_t i) const { return block_offset(i) + sizeof(ckpt_block_header); }
  std::vector<ckpt_run> runs(size_t i) const;
  void set_runs(size_t i, const std::vector<ckpt_run>& runs);  // same count; rehashes the block
  uint64_t frame_offset(size_t i) const;
  uint64_t frame_size(size_t i) const { return block_header(i).compressed_size; }
  void rehash_block(size_t i);  // block header hash over run table + frame

  void rehash_file();  // footer.file_hash over [0, footer), then footer_hash
  void flip_bit(uint64_t off, int bit) { b_.at(off) ^= (unsigned char)(1u << bit); }

 private:
  void check_range(uint64_t off, size_t len) const {
    if (off > b_.size() || b_.size() - off < len) throw std::out_of_range("ImageBytes: offset out of range");
  }
  std::vector<unsigned char> b_;
};

// ---------------------------------------------------------------- comparison

// CHECKs every field of `got` against `want`, naming the field on failure.
void check_states_equal(const ProcessState& want, const ProcessState& got);

}  // namespace ckpt::test
