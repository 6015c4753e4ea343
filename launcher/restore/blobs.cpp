// Saved contents (deleted files, pipe and socket buffers, memfds) from the
// image's blob blocks, which sit after every memory block. A blob's runs are
// its data extents: what lies between them is a hole (sparse files stay
// sparse).
#include "blobs.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "address_space.h"

namespace ckpt {

namespace {

// One write (or send) of up to `len` bytes; throws on failure.
size_t put_some(const BlobSink& s, const unsigned char* data, size_t len, uint64_t off) {
  for (;;) {
    ssize_t n = s.mode == BlobSink::Positional ? pwrite(s.fd, data, len, off_t(off))
                : s.socket                     ? send(s.fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL)
                                               : write(s.fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (n == 0 && len))
      throw RestoreError("cannot put back the saved contents of " + s.what + ": " + strerror(n < 0 ? errno : EIO));
    return size_t(n);
  }
}

void put(const BlobSink& s, const unsigned char* data, uint64_t len, uint64_t off) {
  for (uint64_t done = 0; done < len;) done += put_some(s, data + done, size_t(len - done), off + done);
}

// Messages: whole records go out one send() each; a record split across
// blocks waits in `carry`.
void put_messages(const BlobSink& s, std::string& carry, const unsigned char* data, uint64_t len) {
  carry.append(reinterpret_cast<const char*>(data), size_t(len));
  size_t at = 0;
  while (carry.size() - at >= 4) {
    uint32_t n;
    memcpy(&n, carry.data() + at, 4);
    if (carry.size() - at - 4 < n) break;
    auto msg = reinterpret_cast<const unsigned char*>(carry.data() + at + 4);
    if (put_some(s, msg, n, 0) != n) throw RestoreError("cannot put back a whole message queued on " + s.what);
    at += 4 + size_t(n);
  }
  carry.erase(0, at);
}

}  // namespace

void stream_blobs(const ImageReader& img, const std::vector<BlobSink>& sinks) {
  const ProcessState& st = img.state();
  BlockDecompressor dec;
  Block block;
  std::vector<unsigned char> scratch;  // one block: at most CKPT_MAX_BLOCK_DATA_PAGES pages
  std::vector<std::string> carry(sinks.size());
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
        if (id < sinks.size() && sinks[id].fd >= 0 && off < size) {
          const BlobSink& s = sinks[id];
          uint64_t n = std::min(len, size - off);
          if (s.mode == BlobSink::Messages) put_messages(s, carry[id], scratch.data() + at, n);
          else put(s, scratch.data() + at, n, off);
        }
      }
      at += len;
    }
  }
  for (size_t id = 0; id < carry.size(); id++)
    if (!carry[id].empty()) throw RestoreError("the saved messages of " + sinks[id].what + " end in the middle of one");
}

}  // namespace ckpt
