#include "image_writer.h"

#include <linux/futex.h>

#include <cerrno>
#include <climits>
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

namespace {

void futex_wait(std::atomic<uint32_t>& word, uint32_t expected) {
  ckpt_syscall6(CKPT_NR_futex, long(&word), FUTEX_WAIT_PRIVATE, expected, 0, 0, 0);
}
void futex_wake(std::atomic<uint32_t>& word) {
  ckpt_syscall6(CKPT_NR_futex, long(&word), FUTEX_WAKE_PRIVATE, INT_MAX, 0, 0, 0);
}

}  // namespace

ImageWriter::ImageWriter(FdSink& sink, int zstd_level, const ZSTD_customMem* mem, ThreadStarter* threads,
                         unsigned helpers)
    : sink_(sink) {
  if (!threads) helpers = 0;
  for (unsigned i = 0; i <= helpers; i++) {
    ZSTD_CCtx* c = mem ? ZSTD_createCCtx_advanced(*mem) : ZSTD_createCCtx();
    if (!c) break;
    // The block checksum covers the compressed bytes; zstd's own content
    // checksum would add a second pass over the uncompressed data.
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, zstd_level);
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0);
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
    cctx_.push_back(c);
  }
  if (cctx_.empty()) { fail(ENOMEM, "cannot create a zstd context"); return; }
  // Each thread has a block in hand and one waiting to be written.
  size_t nslots = cctx_.size() > 1 ? 2 * cctx_.size() : 1;
  for (size_t i = 0; i < nslots; i++) {
    Slot* slot = new Slot;
    slot->runs.reserve(CKPT_MAX_BLOCK_RUNS);
    slot->gather.resize(size_t(CKPT_MAX_BLOCK_DATA_PAGES) * CKPT_PAGE_SIZE);
    slot->frame.resize(ZSTD_compressBound(slot->gather.size()) + 64);
    slots_.push_back(slot);
  }
  if (cctx_.size() > 1) {
    threads_ = threads;
    for (size_t i = 1; i < cctx_.size() && threads->start(helper_main, this); i++) nhelpers_++;
  }
}

ImageWriter::~ImageWriter() {
  stop_helpers();
  for (ZSTD_CCtx* c : cctx_) ZSTD_freeCCtx(c);
  for (Slot* slot : slots_) delete slot;
}

void ImageWriter::helper_main(void* self) {
  auto* w = static_cast<ImageWriter*>(self);
  ZSTD_CCtx* cctx = w->cctx_[w->next_helper_.fetch_add(1)];
  for (;;) {
    uint32_t seen = w->wake_.load(std::memory_order_acquire);
    if (w->try_compress_one(cctx)) continue;
    if (w->stopping_.load(std::memory_order_acquire)) return;
    futex_wait(w->wake_, seen);
  }
}

void ImageWriter::stop_helpers() {
  if (!threads_) return;
  stopping_.store(1, std::memory_order_release);
  wake_.fetch_add(1, std::memory_order_acq_rel);
  futex_wake(wake_);
  threads_->join_all();
  threads_ = nullptr;
}

// Takes the oldest block nobody compresses yet, if any, and compresses it.
bool ImageWriter::try_compress_one(ZSTD_CCtx* cctx) {
  uint32_t c = claimed_.load(std::memory_order_acquire);
  while (c < submitted_.load(std::memory_order_acquire)) {
    if (!claimed_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel)) continue;
    Slot& slot = *slots_[c % slots_.size()];
    compress(slot, cctx);
    slot.done.store(1, std::memory_order_release);
    futex_wake(slot.done);
    return true;
  }
  return false;
}

bool ImageWriter::compress(Slot& s, ZSTD_CCtx* cctx) {
  // Even a block of zero runs carries an (empty) frame, so the reader's
  // checks are uniform.
  const unsigned char* src = s.gathered ? s.gather.data() : s.source;
  size_t r = ZSTD_compress2(cctx, s.frame.data(), s.frame.size(), src, s.source_len);
  s.failed = ZSTD_isError(r);
  if (s.failed) return false;
  s.frame_used = r;
  Xxh64 h;
  h.update(s.runs.data(), s.runs.size() * sizeof(ckpt_run));
  h.update(s.frame.data(), s.frame_used);
  s.hash = h.digest();
  return true;
}

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
  if (addr >= CKPT_BLOB_BASE && !current().runs.empty() && current().runs.back().addr < CKPT_BLOB_BASE &&
      !flush_block())
    return false;
  last_end_ = addr + uint64_t(npages) * CKPT_PAGE_SIZE;
  std::vector<ckpt_run>& runs = current().runs;
  if (!runs.empty()) {  // extend the previous run when contiguous and of the same kind
    ckpt_run& prev = runs.back();
    if (prev.kind == kind && prev.addr + uint64_t(prev.npages) * CKPT_PAGE_SIZE == addr &&
        uint64_t(prev.npages) + npages <= UINT32_MAX) {
      prev.npages += npages;
      return true;
    }
  }
  runs.push_back({addr, npages, kind});
  return true;
}

bool ImageWriter::add_data(uint64_t addr, const void* pages, uint32_t npages, bool transient) {
  if (error_) return false;
  auto p = static_cast<const unsigned char*>(pages);
  while (npages) {
    if (current().data_pages == CKPT_MAX_BLOCK_DATA_PAGES || current().runs.size() == CKPT_MAX_BLOCK_RUNS)
      if (!flush_block()) return false;
    uint32_t n = std::min(npages, CKPT_MAX_BLOCK_DATA_PAGES - current().data_pages);
    if (!add_run(addr, n, CKPT_RUN_DATA)) return false;
    Slot& b = current();  // (add_run may have started a new block)
    size_t len = size_t(n) * CKPT_PAGE_SIZE;
    if (!transient && !b.gathered && (b.source_len == 0 || b.source + b.source_len == p)) {
      if (b.source_len == 0) b.source = p;
      b.source_len += len;
    } else {
      if (!b.gathered) {  // the block stops being contiguous: copy what came so far
        if (b.source_len) memcpy(b.gather.data(), b.source, b.source_len);
        b.gathered = true;
      }
      memcpy(b.gather.data() + b.source_len, p, len);
      b.source_len += len;
    }
    b.data_pages += n;
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
  if ((current().runs.size() == CKPT_MAX_BLOCK_RUNS || uint64_t(current().zero_pages) + npages > UINT32_MAX) &&
      !flush_block())
    return false;
  if (!add_run(addr, npages, CKPT_RUN_ZERO)) return false;
  current().zero_pages += npages;
  stats_.zero_pages += npages;
  return true;
}

bool ImageWriter::add_parent(uint64_t addr, uint32_t npages) {
  if (error_) return false;
  if ((current().runs.size() == CKPT_MAX_BLOCK_RUNS || uint64_t(current().zero_pages) + npages > UINT32_MAX) &&
      !flush_block())
    return false;
  if (!add_run(addr, npages, CKPT_RUN_PARENT)) return false;
  current().zero_pages += npages;
  stats_.parent_pages += npages;
  return true;
}

// Hands the current block over for compression and makes sure the next
// slot is free (written out).
bool ImageWriter::flush_block() {
  Slot& b = current();
  if (b.runs.empty()) return true;
  b.done.store(0, std::memory_order_relaxed);
  submitted_.fetch_add(1, std::memory_order_acq_rel);
  if (nhelpers_) {
    wake_.fetch_add(1, std::memory_order_acq_rel);
    futex_wake(wake_);
  }
  while (submitted_.load(std::memory_order_relaxed) - emitted_ >= slots_.size())
    if (!emit_oldest()) return false;
  return true;
}

// Writes the oldest block once it is compressed (helping with the
// compression meanwhile), in submission order.
bool ImageWriter::emit_oldest() {
  Slot& b = *slots_[emitted_ % slots_.size()];
  while (!b.done.load(std::memory_order_acquire))
    if (!try_compress_one(cctx_[0])) futex_wait(b.done, 0);
  if (b.failed) return fail(EIO, "zstd compression failed");
  ckpt_block_header bh{};
  bh.magic = CKPT_BLOCK_MAGIC;
  bh.nruns = uint32_t(b.runs.size());
  bh.data_pages = b.data_pages;
  bh.zero_pages = b.zero_pages;
  bh.compressed_size = b.frame_used;
  bh.hash = b.hash;
  const ckpt_run& last = b.runs.back();
  index_.push_back({sink_.offset(), b.runs.front().addr,
                    last.addr + uint64_t(last.npages) * CKPT_PAGE_SIZE, bh.nruns, bh.data_pages});
  if (!sink_.write(&bh, sizeof bh) || !sink_.write(b.runs.data(), b.runs.size() * sizeof(ckpt_run)) ||
      !sink_.write(b.frame.data(), b.frame_used))
    return fail(sink_.error(), "cannot write a page block");
  stats_.blocks++;
  b.runs.clear();
  b.source = nullptr;
  b.source_len = 0;
  b.gathered = false;
  b.data_pages = b.zero_pages = 0;
  emitted_++;
  return true;
}

bool ImageWriter::finish() {
  if (error_ || !flush_block()) return false;
  while (emitted_ != submitted_.load(std::memory_order_relaxed))
    if (!emit_oldest()) return false;
  stop_helpers();
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
