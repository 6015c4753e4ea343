// ckpt-run --compact IMAGE -o OUT: folds an incremental chain into one full
// image (the newest manifest, every page resolved through the chain).
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "actions.h"
#include "image/image_writer.h"
#include "image/chain.h"

namespace ckpt {

int run_compact(const Options& o) {
  std::string tmp;
  try {
    ImageChain chain(o.target);
    chain.verify_pages();
    const ImageReader& newest = chain.newest();
    std::string out = absolute_path(o.output);
    tmp = out + ".partial";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw ImageError(tmp + ": " + strerror(errno));
    FdSink sink(fd, 4u << 20);
    ImageWriter writer(sink, 1);
    ckpt_file_header h = newest.header();
    h.flags &= ~uint32_t(CKPT_HDR_INCREMENTAL);
    memset(&h.parent, 0, sizeof h.parent);
    getrandom(h.image_id, sizeof h.image_id, 0);
    bool ok = writer.begin(h, newest.manifest_text());
    // Pages in address order; each source block is decompressed once per visit.
    BlockDecompressor dec;
    Block block;
    std::vector<unsigned char> scratch;
    size_t cur_image = SIZE_MAX, cur_block = SIZE_MAX;
    for (const PageSource& src : chain.all_pages()) {
      if (!ok) break;
      if (src.zero) {
        ok = writer.add_zero(src.addr, uint32_t(src.npages));
        continue;
      }
      if (src.image != cur_image || src.block != cur_block) {
        chain.image(src.image).read_block(src.block, block);
        scratch.resize(size_t(block.data_pages) * CKPT_PAGE_SIZE);
        dec.begin(block);
        dec.into(scratch.data(), scratch.size());
        dec.end();
        cur_image = src.image;
        cur_block = src.block;
      }
      // scratch is reused for the next block: the writer must copy.
      ok = writer.add_data(src.addr, scratch.data() + src.data_page * CKPT_PAGE_SIZE, uint32_t(src.npages), true);
    }
    ok = ok && writer.finish() && fsync(fd) == 0;
    close(fd);
    if (!ok) throw ImageError(std::string("cannot write ") + tmp + ": " + writer.error_text() + " " + strerror(writer.error()));
    if (rename(tmp.c_str(), out.c_str()) != 0) throw ImageError("cannot rename to " + out + ": " + strerror(errno));
    tmp.clear();
    fprintf(stderr, "ckpt-run: %zu image(s) folded into %s (%llu pages)\n", chain.size(), out.c_str(),
            (unsigned long long)writer.stats().data_pages);
    printf("%s\n", out.c_str());
    return 0;
  } catch (const std::exception& e) {
    if (!tmp.empty()) unlink(tmp.c_str());
    fprintf(stderr, "ckpt-run: --compact: %s\n", e.what());
    return kExitFailure;
  }
}

}  // namespace ckpt
