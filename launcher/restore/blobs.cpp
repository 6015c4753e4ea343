// Saved contents (deleted files, pipe buffers, memfds) from the image's blob
// blocks, which sit after every memory block. A blob's runs are its data
// extents: what lies between them is a hole (sparse files stay sparse).
#include "blobs.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "address_space.h"

namespace ckpt {

namespace {

void put(const BlobSink& s, const unsigned char* data, uint64_t len, uint64_t off) {
  for (uint64_t done = 0; done < len;) {
    ssize_t n = s.positional ? pwrite(s.fd, data + done, size_t(len - done), off_t(off + done))
                             : write(s.fd, data + done, size_t(len - done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw RestoreError("cannot write the saved contents of " + s.what + ": " + strerror(errno));
    done += uint64_t(n);
  }
}

}  // namespace

void stream_blobs(const ImageReader& img, const std::vector<BlobSink>& sinks) {
  const ProcessState& st = img.state();
  BlockDecompressor dec;
  Block block;
  std::vector<unsigned char> scratch;  // one block: at most CKPT_MAX_BLOCK_DATA_PAGES pages
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
        uint64_t size = st.blobs[size_t(id)].size;  // the last page is padded
        if (id < sinks.size() && sinks[id].fd >= 0 && off < size)
          put(sinks[id], scratch.data() + at, std::min(len, size - off), off);
      }
      at += len;
    }
  }
}

}  // namespace ckpt
