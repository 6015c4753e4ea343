// Saved contents (deleted files, pipe buffers, memfds) from the image's blob
// blocks, which sit after every memory block.
#include "blobs.h"

#include <cstring>

namespace ckpt {

std::vector<std::string> load_blobs(const ImageReader& img) {
  const ProcessState& st = img.state();
  std::vector<std::string> blobs(st.blobs.size());
  for (size_t i = 0; i < st.blobs.size(); i++) blobs[i].assign(st.blobs[i].size, '\0');
  BlockDecompressor dec;
  Block block;
  std::vector<unsigned char> scratch;
  for (size_t b = 0; b < img.index().size(); b++) {
    if (img.index()[b].end_addr <= CKPT_BLOB_BASE) continue;
    img.read_block(b, block);
    scratch.resize(size_t(block.data_pages) * CKPT_PAGE_SIZE);
    dec.begin(block);
    dec.into(scratch.data(), scratch.size());
    dec.end();
    uint64_t at = 0;
    for (const ckpt_run& r : block.runs) {
      uint64_t len = uint64_t(r.npages) * CKPT_PAGE_SIZE;
      if (r.kind != CKPT_RUN_DATA) continue;
      if (r.addr >= CKPT_BLOB_BASE) {
        uint64_t id = (r.addr - CKPT_BLOB_BASE) >> CKPT_BLOB_SHIFT;
        uint64_t off = (r.addr - CKPT_BLOB_BASE) & ((1ULL << CKPT_BLOB_SHIFT) - 1);
        std::string& dst = blobs[size_t(id)];
        if (off < dst.size()) memcpy(dst.data() + off, scratch.data() + at, size_t(std::min<uint64_t>(len, dst.size() - off)));
      }
      at += len;
    }
  }
  return blobs;
}

}  // namespace ckpt
