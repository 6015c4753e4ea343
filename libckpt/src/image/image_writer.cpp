#include "image_writer.h"

#include <cerrno>
#include <cstring>

#include "common/raw_syscall.h"

namespace ckpt {

FdSink::FdSink(int fd, size_t buffer_size) : fd_(fd), buf_(buffer_size) {}
FdSink::~FdSink() = default;

bool FdSink::write(const void* data, size_t len) {
  if (error_) return false;
  hash_.update(data, len);
  offset_ += len;
  auto p = static_cast<const unsigned char*>(data);
  while (len) {
    if (used_ == buf_.size() && !flush()) return false;
    size_t n = std::min(len, buf_.size() - used_);
    if (used_ == 0 && len >= buf_.size()) {  // large writes skip the buffer
      n = len;
      for (size_t done = 0; done < n;) {
        long r = ckpt_syscall3(CKPT_NR_write, fd_, long(p + done), long(n - done));
        if (r == -EINTR) continue;
        if (r <= 0) { error_ = r == 0 ? EIO : int(-r); return false; }
        done += size_t(r);
      }
    } else {
      memcpy(buf_.data() + used_, p, n);
      used_ += n;
    }
    p += n;
    len -= n;
  }
  return true;
}

bool FdSink::flush() {
  if (error_) return false;
  for (size_t done = 0; done < used_;) {
    long r = ckpt_syscall3(CKPT_NR_write, fd_, long(buf_.data() + done), long(used_ - done));
    if (r == -EINTR) continue;
    if (r <= 0) { error_ = r == 0 ? EIO : int(-r); return false; }
    done += size_t(r);
  }
  used_ = 0;
  return true;
}

ImageWriter::ImageWriter(FdSink& sink, int zstd_level, const ZSTD_customMem* mem) : sink_(sink) {
  cctx_ = mem ? ZSTD_createCCtx_advanced(*mem) : ZSTD_createCCtx();
  if (!cctx_) { fail(ENOMEM, "cannot create a zstd context"); return; }
  // The block checksum covers the compressed bytes; zstd's own content
  // checksum would add a second pass over the uncompressed data.
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, zstd_level);
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 0);
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_contentSizeFlag, 1);
  runs_.reserve(CKPT_MAX_BLOCK_RUNS);
  gather_.resize(size_t(CKPT_MAX_BLOCK_DATA_PAGES) * CKPT_PAGE_SIZE);
  frame_.resize(ZSTD_compressBound(gather_.size()) + 64);
}

ImageWriter::~ImageWriter() { ZSTD_freeCCtx(cctx_); }

bool ImageWriter::fail(int err, const char* what) {
  if (!error_) {
    error_ = err;
    error_text_ = what;
  }
  return false;
}

bool ImageWriter::begin(ckpt_file_header h, const std::string& manifest) {
  if (error_) return false;
  memcpy(h.magic, CKPT_FILE_MAGIC, 8);
  h.format_version = CKPT_FORMAT_VERSION;
  h.header_size = sizeof h;
  h.page_size = CKPT_PAGE_SIZE;
  h.manifest_offset = sizeof h;
  h.manifest_size = manifest.size();
  h.manifest_hash = xxh64(manifest.data(), manifest.size());
  h.header_hash = 0;
  h.header_hash = xxh64(&h, sizeof h);
  if (!sink_.write(&h, sizeof h) || !sink_.write(manifest.data(), manifest.size()))
    return fail(sink_.error(), "cannot write the image header");
  return true;
}

bool ImageWriter::add_run(uint64_t addr, uint32_t npages, uint32_t kind) {
  if (addr % CKPT_PAGE_SIZE || npages == 0 || addr < last_end_)
    return fail(EINVAL, "page runs out of order");
  // Blobs get blocks of their own: a block holds memory or saved contents.
  if (addr >= CKPT_BLOB_BASE && !runs_.empty() && runs_.back().addr < CKPT_BLOB_BASE && !flush_block()) return false;
  last_end_ = addr + uint64_t(npages) * CKPT_PAGE_SIZE;
  if (!runs_.empty()) {  // extend the previous run when contiguous and of the same kind
    ckpt_run& prev = runs_.back();
    if (prev.kind == kind && prev.addr + uint64_t(prev.npages) * CKPT_PAGE_SIZE == addr &&
        uint64_t(prev.npages) + npages <= UINT32_MAX) {
      prev.npages += npages;
      return true;
    }
  }
  runs_.push_back({addr, npages, kind});
  return true;
}

bool ImageWriter::add_data(uint64_t addr, const void* pages, uint32_t npages, bool transient) {
  if (error_) return false;
  auto p = static_cast<const unsigned char*>(pages);
  while (npages) {
    if (block_data_pages_ == CKPT_MAX_BLOCK_DATA_PAGES || runs_.size() == CKPT_MAX_BLOCK_RUNS)
      if (!flush_block()) return false;
    uint32_t n = std::min(npages, CKPT_MAX_BLOCK_DATA_PAGES - block_data_pages_);
    if (!add_run(addr, n, CKPT_RUN_DATA)) return false;
    size_t len = size_t(n) * CKPT_PAGE_SIZE;
    if (!transient && !gathered_ && (source_len_ == 0 || source_ + source_len_ == p)) {
      if (source_len_ == 0) source_ = p;
      source_len_ += len;
    } else {
      if (!gathered_) {  // the block stops being contiguous: copy what came so far
        if (source_len_) memcpy(gather_.data(), source_, source_len_);
        gathered_ = true;
      }
      memcpy(gather_.data() + source_len_, p, len);
      source_len_ += len;
    }
    block_data_pages_ += n;
    stats_.data_pages += n;
    addr += uint64_t(n) * CKPT_PAGE_SIZE;
    p += len;
    npages -= n;
  }
  return true;
}

bool ImageWriter::add_zero(uint64_t addr, uint32_t npages) {
  if (error_) return false;
  // A block's page counts are 32-bit: start a new block before they would wrap.
  if ((runs_.size() == CKPT_MAX_BLOCK_RUNS || uint64_t(block_zero_pages_) + npages > UINT32_MAX) && !flush_block())
    return false;
  if (!add_run(addr, npages, CKPT_RUN_ZERO)) return false;
  block_zero_pages_ += npages;
  stats_.zero_pages += npages;
  return true;
}

bool ImageWriter::add_parent(uint64_t addr, uint32_t npages) {
  if (error_) return false;
  if ((runs_.size() == CKPT_MAX_BLOCK_RUNS || uint64_t(block_zero_pages_) + npages > UINT32_MAX) && !flush_block())
    return false;
  if (!add_run(addr, npages, CKPT_RUN_PARENT)) return false;
  block_zero_pages_ += npages;
  stats_.parent_pages += npages;
  return true;
}

bool ImageWriter::flush_block() {
  if (runs_.empty()) return true;
  // Even a block of zero runs carries an (empty) frame, so the reader's
  // checks are uniform.
  const unsigned char* src = gathered_ ? gather_.data() : source_;
  size_t r = ZSTD_compress2(cctx_, frame_.data(), frame_.size(), src, source_len_);
  if (ZSTD_isError(r)) return fail(EIO, "zstd compression failed");
  frame_used_ = r;
  ckpt_block_header bh{};
  bh.magic = CKPT_BLOCK_MAGIC;
  bh.nruns = uint32_t(runs_.size());
  bh.data_pages = block_data_pages_;
  bh.zero_pages = block_zero_pages_;
  bh.compressed_size = frame_used_;
  Xxh64 h;
  h.update(runs_.data(), runs_.size() * sizeof(ckpt_run));
  h.update(frame_.data(), frame_used_);
  bh.hash = h.digest();
  const ckpt_run& last = runs_.back();
  index_.push_back({sink_.offset(), runs_.front().addr,
                    last.addr + uint64_t(last.npages) * CKPT_PAGE_SIZE, bh.nruns, bh.data_pages});
  if (!sink_.write(&bh, sizeof bh) || !sink_.write(runs_.data(), runs_.size() * sizeof(ckpt_run)) ||
      !sink_.write(frame_.data(), frame_used_))
    return fail(sink_.error(), "cannot write a page block");
  stats_.blocks++;
  runs_.clear();
  source_ = nullptr;
  source_len_ = 0;
  gathered_ = false;
  block_data_pages_ = block_zero_pages_ = 0;
  return true;
}

bool ImageWriter::finish() {
  if (error_ || !flush_block()) return false;
  ckpt_footer f{};
  memcpy(f.magic, CKPT_FOOTER_MAGIC, 8);
  f.index_offset = sink_.offset();
  f.block_count = index_.size();
  f.data_pages = stats_.data_pages;
  f.zero_pages = stats_.zero_pages;
  f.parent_pages = stats_.parent_pages;
  if (!sink_.write(index_.data(), index_.size() * sizeof(ckpt_index_entry)))
    return fail(sink_.error(), "cannot write the block index");
  f.file_hash = sink_.hash();
  stats_.file_hash = f.file_hash;
  f.footer_hash = 0;
  f.footer_hash = xxh64(&f, sizeof f);
  if (!sink_.write(&f, sizeof f) || !sink_.flush()) return fail(sink_.error(), "cannot write the footer");
  stats_.bytes = sink_.offset();
  return true;
}

}  // namespace ckpt
