#include "image_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>

#include "common/xxhash64.h"
#include "manifest.h"

namespace ckpt {

namespace {
constexpr uint64_t kUserSpaceEnd = 1ULL << 47;  // x86-64 with 4-level paging
constexpr uint64_t kMaxBlocks = 1ULL << 26;

std::string hex(uint64_t v) {
  char b[24];
  snprintf(b, sizeof b, "0x%llx", (unsigned long long)v);
  return b;
}
}  // namespace

void ImageReader::fail(const std::string& what) const { throw ImageError(path_ + ": " + what); }

void ImageReader::read_at(uint64_t off, void* buf, size_t len, const char* what) const {
  auto p = static_cast<char*>(buf);
  size_t done = 0;
  while (done < len) {
    ssize_t r = pread(fd_, p + done, len - done, off_t(off + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(std::string("cannot read the ") + what + ": " + strerror(errno));
    if (r == 0) fail(std::string("truncated: the ") + what + " extends past the end of the file");
    done += size_t(r);
  }
}

ImageReader::ImageReader(const std::string& path) : path_(path) {
  fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) fail(std::string("cannot open: ") + strerror(errno));
  try {
    check_structure();
  } catch (...) {
    // A refused image: the destructor will not run.
    close(fd_);
    fd_ = -1;
    throw;
  }
}

void ImageReader::check_structure() {
  struct stat sb;
  if (fstat(fd_, &sb) != 0 || !S_ISREG(sb.st_mode)) fail("not a regular file");
  size_ = uint64_t(sb.st_size);
  owner_ = sb.st_uid;

  // Header.
  if (size_ < 8) fail("not a libckpt image (file too short)");
  char magic[8];
  read_at(0, magic, 8, "header");
  if (memcmp(magic, CKPT_FILE_MAGIC, 8) != 0) fail("not a libckpt image (bad magic)");
  if (size_ < sizeof header_ + sizeof footer_) fail("truncated: shorter than a header and a footer");
  read_at(0, &header_, sizeof header_, "header");
  if (header_.format_version != CKPT_FORMAT_VERSION)
    fail("unsupported image format version " + std::to_string(header_.format_version) +
         " (this ckpt-run reads version " + std::to_string(CKPT_FORMAT_VERSION) + ")");
  if (header_.header_size != sizeof header_) fail("header size mismatch");
  ckpt_file_header h = header_;
  h.header_hash = 0;
  if (xxh64(&h, sizeof h) != header_.header_hash) fail("header checksum mismatch (damaged image)");
  if (header_.page_size != CKPT_PAGE_SIZE) fail("unsupported page size");
  if (header_.build_id_len > sizeof header_.build_id) fail("bad build id length");
  if (header_.flags & ~uint32_t(CKPT_HDR_INCREMENTAL)) fail("unknown header flags");
  bool has_parent = false;
  for (uint8_t b : header_.parent.image_id) has_parent |= b != 0;
  if (has_parent != bool(header_.flags & CKPT_HDR_INCREMENTAL))
    fail("parent reference does not match the incremental flag");
  if (has_parent && (memchr(header_.parent.file_name, 0, sizeof header_.parent.file_name) == nullptr ||
                     header_.parent.file_name[0] == 0 || strchr(header_.parent.file_name, '/')))
    fail("invalid parent file name");

  // Footer.
  read_at(size_ - sizeof footer_, &footer_, sizeof footer_, "footer");
  if (memcmp(footer_.magic, CKPT_FOOTER_MAGIC, 8) != 0)
    fail("truncated or damaged: no footer at the end of the file");
  ckpt_footer f = footer_;
  f.footer_hash = 0;
  if (xxh64(&f, sizeof f) != footer_.footer_hash) fail("footer checksum mismatch (damaged image)");
  uint64_t footer_off = size_ - sizeof footer_;
  if (footer_.block_count > kMaxBlocks) fail("implausible block count");
  if (footer_.index_offset > footer_off ||
      footer_off - footer_.index_offset != footer_.block_count * sizeof(ckpt_index_entry))
    fail("block index location is inconsistent with the file size");

  // Manifest.
  if (header_.manifest_offset != sizeof header_ || header_.manifest_size > CKPT_MAX_MANIFEST_SIZE ||
      header_.manifest_offset + header_.manifest_size > footer_.index_offset)
    fail("manifest location is out of bounds");
  manifest_.resize(header_.manifest_size);
  read_at(header_.manifest_offset, manifest_.data(), manifest_.size(), "manifest");
  if (xxh64(manifest_.data(), manifest_.size()) != header_.manifest_hash)
    fail("manifest checksum mismatch (damaged image)");
  try {
    uint64_t start, end;
    std::string parent;
    if (range_manifest_from_json(manifest_, start, end, parent)) {
      is_range_ = true;
      Region r;
      r.start = start;
      r.end = end;
      r.prot = 3;
      r.pages_saved = true;
      r.name = "[range]";
      state_.regions.push_back(r);
      state_.libckpt.parent_path = parent;
    } else {
      state_ = manifest_from_json(manifest_);
      validate_process_state(state_);
    }
  } catch (const std::exception& e) {
    fail(e.what());
  }

  // Index.
  index_.resize(footer_.block_count);
  read_at(footer_.index_offset, index_.data(), index_.size() * sizeof(ckpt_index_entry), "block index");
  uint64_t manifest_end = header_.manifest_offset + header_.manifest_size;
  uint64_t prev_off = manifest_end, prev_end = 0, data_pages = 0;
  if (index_.empty() && footer_.index_offset != manifest_end) fail("unexpected bytes between manifest and index");
  for (size_t i = 0; i < index_.size(); i++) {
    const ckpt_index_entry& e = index_[i];
    std::string where = "block " + std::to_string(i) + ": ";
    if ((i == 0 && e.offset != manifest_end) || e.offset < prev_off || e.offset > footer_.index_offset ||
        footer_.index_offset - e.offset < sizeof(ckpt_block_header))
      fail(where + "offset out of order or out of bounds");
    if (e.first_addr % CKPT_PAGE_SIZE || e.end_addr % CKPT_PAGE_SIZE || e.first_addr >= e.end_addr ||
        (e.end_addr > kUserSpaceEnd && e.first_addr < CKPT_BLOB_BASE) || e.first_addr < prev_end)
      fail(where + "address span invalid or overlapping");
    if (e.nruns == 0 || e.nruns > CKPT_MAX_BLOCK_RUNS || e.data_pages > CKPT_MAX_BLOCK_DATA_PAGES)
      fail(where + "run or page count out of range");
    prev_off = e.offset + sizeof(ckpt_block_header) + uint64_t(e.nruns) * sizeof(ckpt_run);
    prev_end = e.end_addr;
    data_pages += e.data_pages;
  }
  if (data_pages != footer_.data_pages) fail("page count in the footer does not match the index");
}

ImageReader::~ImageReader() {
  if (fd_ >= 0) close(fd_);
}

void ImageReader::check_runs(size_t i, const ckpt_index_entry& e, const ckpt_block_header& bh,
                             const std::vector<ckpt_run>& runs) const {
  std::string where = "block " + std::to_string(i) + ": ";
  uint64_t prev_end = e.first_addr, data = 0, zero = 0;
  size_t region = 0;
  const auto& regions = state_.regions;
  for (const ckpt_run& r : runs) {
    if (r.addr % CKPT_PAGE_SIZE || r.npages == 0 || r.addr < prev_end)
      fail(where + "run at " + hex(r.addr) + " is unaligned, empty or out of order");
    uint64_t end = r.addr + uint64_t(r.npages) * CKPT_PAGE_SIZE;
    if (end > e.end_addr || end < r.addr) fail(where + "run at " + hex(r.addr) + " exceeds the block span");
    if (r.addr >= CKPT_BLOB_BASE) {  // saved contents of a file, pipe or memfd
      uint64_t id = (r.addr - CKPT_BLOB_BASE) >> CKPT_BLOB_SHIFT;
      uint64_t off = (r.addr - CKPT_BLOB_BASE) & ((1ULL << CKPT_BLOB_SHIFT) - 1);
      if (id >= state_.blobs.size() || r.kind != CKPT_RUN_DATA ||
          off + uint64_t(r.npages) * CKPT_PAGE_SIZE > ((state_.blobs[id].size + CKPT_PAGE_SIZE - 1) & ~uint64_t(CKPT_PAGE_SIZE - 1)))
        fail(where + "run at " + hex(r.addr) + " lies outside every saved file content");
      data += r.npages;
      prev_end = end;
      continue;
    }
    if (r.kind == CKPT_RUN_DATA) data += r.npages;
    else if (r.kind == CKPT_RUN_ZERO) zero += r.npages;
    else if (r.kind == CKPT_RUN_PARENT && (header_.flags & CKPT_HDR_INCREMENTAL)) zero += r.npages;
    else fail(where + "run at " + hex(r.addr) + " has an unknown kind" +
              (r.kind == CKPT_RUN_PARENT ? " (parent pages in a full image)" : ""));
    // Every page must fall in a region whose pages the image carries.
    while (region < regions.size() && regions[region].end <= r.addr) region++;
    for (size_t k = region; ; k++) {
      uint64_t at = k == region ? r.addr : regions[k - 1].end;
      if (k >= regions.size() || regions[k].start > at)
        fail(where + "run at " + hex(r.addr) + (k == region ? " lies outside every saved region" : " crosses a gap between regions"));
      if (!regions[k].pages_saved)
        fail(where + "run at " + hex(r.addr) + " lies in region " + regions[k].name + " whose pages are not saved");
      if (regions[k].end >= end) break;
    }
    prev_end = end;
  }
  if (runs.front().addr != e.first_addr || prev_end != e.end_addr)
    fail(where + "runs do not match the index span");
  if (data != bh.data_pages || zero != bh.zero_pages || data != e.data_pages)
    fail(where + "page counts do not match the run table");
}

void ImageReader::read_block(size_t i, Block& out) const {
  const ckpt_index_entry& e = index_.at(i);
  std::string where = "block " + std::to_string(i) + ": ";
  ckpt_block_header bh;
  read_at(e.offset, &bh, sizeof bh, "block header");
  if (bh.magic != CKPT_BLOCK_MAGIC) fail(where + "bad block magic (damaged image)");
  if (bh.nruns != e.nruns) fail(where + "run count does not match the index");
  uint64_t runs_off = e.offset + sizeof bh;
  uint64_t frame_off = runs_off + uint64_t(bh.nruns) * sizeof(ckpt_run);
  uint64_t next = i + 1 < index_.size() ? index_[i + 1].offset : footer_.index_offset;
  if (frame_off > next || bh.compressed_size != next - frame_off)
    fail(where + "compressed size does not match the block's extent");
  out.runs.resize(bh.nruns);
  read_at(runs_off, out.runs.data(), out.runs.size() * sizeof(ckpt_run), "run table");
  out.frame.resize(bh.compressed_size);
  read_at(frame_off, out.frame.data(), out.frame.size(), "page data");
  Xxh64 h;
  h.update(out.runs.data(), out.runs.size() * sizeof(ckpt_run));
  h.update(out.frame.data(), out.frame.size());
  if (h.digest() != bh.hash) fail(where + "checksum mismatch (damaged page data)");
  check_runs(i, e, bh, out.runs);
  out.data_pages = bh.data_pages;
}

void ImageReader::read_runs(size_t i, std::vector<ckpt_run>& out) const {
  const ckpt_index_entry& e = index_.at(i);
  ckpt_block_header bh;
  read_at(e.offset, &bh, sizeof bh, "block header");
  if (bh.magic != CKPT_BLOCK_MAGIC || bh.nruns != e.nruns)
    fail("block " + std::to_string(i) + ": bad block header (damaged image)");
  out.resize(bh.nruns);
  read_at(e.offset + sizeof bh, out.data(), out.size() * sizeof(ckpt_run), "run table");
  check_runs(i, e, bh, out);
}

void ImageReader::verify_pages() const {
  Xxh64 whole;
  std::vector<unsigned char> buf(1 << 20);
  uint64_t end = size_ - sizeof(ckpt_footer);
  for (uint64_t off = 0; off < end;) {
    size_t n = size_t(std::min<uint64_t>(buf.size(), end - off));
    read_at(off, buf.data(), n, "image");
    whole.update(buf.data(), n);
    off += n;
  }
  if (whole.digest() != footer_.file_hash) fail("whole-file checksum mismatch (damaged image)");
  Block b;
  for (size_t i = 0; i < index_.size(); i++) read_block(i, b);
}

BlockDecompressor::BlockDecompressor() : dctx_(ZSTD_createDCtx()) {
  if (!dctx_) throw ImageError("cannot create a zstd decompression context");
}
BlockDecompressor::~BlockDecompressor() { ZSTD_freeDCtx(dctx_); }

void BlockDecompressor::begin(const Block& b) {
  ZSTD_DCtx_reset(dctx_, ZSTD_reset_session_only);
  block_ = &b;
  in_pos_ = 0;
  frame_done_ = false;
}

void BlockDecompressor::into(void* out, size_t len) {
  ZSTD_outBuffer o{out, len, 0};
  ZSTD_inBuffer in{block_->frame.data(), block_->frame.size(), in_pos_};
  while (o.pos < o.size) {
    size_t before = o.pos + in.pos;
    if (frame_done_) throw ImageError("page data is shorter than its run table says");
    size_t r = ZSTD_decompressStream(dctx_, &o, &in);
    if (ZSTD_isError(r)) throw ImageError(std::string("page data does not decompress: ") + ZSTD_getErrorName(r));
    frame_done_ = r == 0;
    if (o.pos + in.pos == before) throw ImageError("page data is shorter than its run table says");
  }
  in_pos_ = in.pos;
}

void BlockDecompressor::end() {
  // The frame must end exactly here: no trailing data, checksum verified.
  unsigned char extra;
  ZSTD_outBuffer o{&extra, 1, 0};
  ZSTD_inBuffer in{block_->frame.data(), block_->frame.size(), in_pos_};
  while (!frame_done_) {
    size_t r = ZSTD_decompressStream(dctx_, &o, &in);
    if (ZSTD_isError(r)) throw ImageError(std::string("page data does not decompress: ") + ZSTD_getErrorName(r));
    if (o.pos) throw ImageError("page data is longer than its run table says");
    frame_done_ = r == 0;
    if (!frame_done_ && in.pos == in.size) throw ImageError("page data frame is truncated");
  }
  if (in.pos != in.size) throw ImageError("trailing bytes after the page data frame");
  block_ = nullptr;
}

}  // namespace ckpt
