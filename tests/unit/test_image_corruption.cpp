// Damage below the manifest: block checksums, run tables checked against the
// manifest's regions, page data that does not decompress (BlockDecompressor),
// the whole-file checksum, truncation at many lengths and single bit flips
// anywhere in the file. Damage must always end in ImageError, never a crash
// or another exception.
#include <doctest/doctest.h>
#include <zstd.h>

#include <set>

#include "common/xxhash64.h"
#include "image/image_reader.h"
#include "image/manifest.h"
#include "image_test_util.h"

using namespace ckpt;
using namespace ckpt::test;

namespace {

#define CHECK_REFUSED(err, phrase)              \
  do {                                          \
    const std::string e_ = (err);               \
    INFO("error: ", e_);                        \
    CHECK_FALSE(e_.empty());                    \
    CHECK_FALSE(contains(e_, "UNEXPECTED"));    \
    CHECK(contains(e_, phrase));                \
  } while (0)

// Block layout of compact_image():
//   block 0: DATA 256 pages from kDataStart + 1 page
//   block 1: DATA 256 pages
//   block 2: DATA 8, ZERO 8 (heap), DATA 4, ZERO 4 (shm), DATA 2 (stack)
constexpr size_t kLastBlock = 2;

template <class F>
ImageBytes crafted(F edit) {
  ImageBytes b(compact_image());
  edit(b);
  return b;
}

std::string verify_error(const TempDir& dir, const ImageBytes& b) {
  const std::string path = dir.file("crafted.img");
  b.save(path);
  return open_and_verify_error(path);
}

// Replaces the last block's frame with `frame` (any length): the index and
// footer move, and the block hash, whole-file hash and footer hash are
// recomputed, so only the frame's contents are wrong.
ImageBytes with_last_frame(const std::vector<unsigned char>& frame) {
  ImageBytes src(compact_image());
  const size_t last = src.index().size() - 1;
  const uint64_t frame_off = src.frame_offset(last);
  std::vector<unsigned char> out(src.bytes().begin(), src.bytes().begin() + long(frame_off));
  out.insert(out.end(), frame.begin(), frame.end());
  const uint64_t index_off = out.size();
  const ckpt_footer old = src.footer();
  out.insert(out.end(), src.bytes().begin() + long(old.index_offset), src.bytes().begin() + long(src.footer_offset()));
  ckpt_footer f = old;
  f.index_offset = index_off;
  out.resize(out.size() + sizeof f);
  ImageBytes b(std::move(out));
  b.set_footer(f);
  ckpt_block_header bh = b.block_header(last);
  bh.compressed_size = frame.size();
  b.set_block_header(last, bh);
  b.rehash_block(last);
  b.rehash_file();
  return b;
}

std::vector<unsigned char> zstd_frame(const std::vector<unsigned char>& content, bool checksum = true) {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum ? 1 : 0);
  std::vector<unsigned char> out(ZSTD_compressBound(content.size()));
  size_t n = ZSTD_compress2(c, out.data(), out.size(), content.data(), content.size());
  ZSTD_freeCCtx(c);
  REQUIRE(!ZSTD_isError(n));
  out.resize(n);
  return out;
}

std::vector<unsigned char> pattern(size_t n) {
  std::vector<unsigned char> v(n);
  for (size_t i = 0; i < n; i++) v[i] = (unsigned char)(i * 13 + (i >> 9));
  return v;
}

}  // namespace

TEST_CASE("verify_pages: block checksum") {
  TempDir dir;
  CHECK_REFUSED(verify_error(dir, crafted([](ImageBytes& b) {
                  b.bytes()[b.frame_offset(1) + b.frame_size(1) / 2] ^= 0x40;
                  b.rehash_file();
                })),
                "block 1: checksum mismatch (damaged page data)");
  CHECK_REFUSED(verify_error(dir, crafted([](ImageBytes& b) {
                  ckpt_block_header bh = b.block_header(0);
                  bh.hash ^= 1ULL << 63;
                  b.set_block_header(0, bh);
                  b.rehash_file();
                })),
                "block 0: checksum mismatch");
  // The run table is covered by the block checksum too.
  CHECK_REFUSED(verify_error(dir, crafted([](ImageBytes& b) {
                  b.bytes()[b.runs_offset(2) + 20] ^= 1;  // second run's npages
                  b.rehash_file();
                })),
                "block 2: checksum mismatch");
}

TEST_CASE("verify_pages: block header checks") {
  TempDir dir;
  auto with_header = [&](size_t i, auto change) {
    return verify_error(dir, crafted([&](ImageBytes& b) {
      ckpt_block_header bh = b.block_header(i);
      change(bh);
      b.set_block_header(i, bh);
      b.rehash_file();
    }));
  };
  CHECK_REFUSED(with_header(1, [](ckpt_block_header& bh) { bh.magic ^= 0x100; }), "block 1: bad block magic");
  CHECK_REFUSED(with_header(2, [](ckpt_block_header& bh) { bh.nruns += 1; }),
                "block 2: run count does not match the index");
  CHECK_REFUSED(with_header(0, [](ckpt_block_header& bh) { bh.compressed_size -= 1; }),
                "block 0: compressed size does not match the block's extent");
  CHECK_REFUSED(with_header(2, [](ckpt_block_header& bh) { bh.compressed_size += 1; }),
                "block 2: compressed size does not match the block's extent");
  CHECK_REFUSED(with_header(2, [](ckpt_block_header& bh) { bh.data_pages += 1; }),
                "block 2: page counts do not match the run table");
  CHECK_REFUSED(with_header(2, [](ckpt_block_header& bh) { bh.zero_pages -= 1; }),
                "block 2: page counts do not match the run table");
}

TEST_CASE("verify_pages: run table checks (block checksum recomputed)") {
  TempDir dir;
  auto with_runs = [&](auto change) {
    return verify_error(dir, crafted([&](ImageBytes& b) {
      std::vector<ckpt_run> runs = b.runs(kLastBlock);
      REQUIRE(runs.size() == 5);
      change(runs);
      b.set_runs(kLastBlock, runs);
      b.rehash_file();
    }));
  };
  CHECK_REFUSED(with_runs([](std::vector<ckpt_run>& r) { r[1].addr += 16; }), "is unaligned, empty or out of order");
  CHECK_REFUSED(with_runs([](std::vector<ckpt_run>& r) { r[3].npages = 0; }), "is unaligned, empty or out of order");
  CHECK_REFUSED(with_runs([](std::vector<ckpt_run>& r) { std::swap(r[2], r[3]); }),
                "is unaligned, empty or out of order");
  CHECK_REFUSED(with_runs([](std::vector<ckpt_run>& r) { r[4].npages += 1; }), "exceeds the block span");
  CHECK_REFUSED(with_runs([](std::vector<ckpt_run>& r) { r[4].npages = 0xffffffffu; }), "exceeds the block span");
  CHECK_REFUSED(with_runs([](std::vector<ckpt_run>& r) { r[1].kind = 3; }), "has an unknown kind");
  CHECK_REFUSED(with_runs([](std::vector<ckpt_run>& r) {
                  r[0].addr += kPage;
                  r[0].npages -= 1;
                }),
                "runs do not match the index span");
  CHECK_REFUSED(with_runs([](std::vector<ckpt_run>& r) { r[4].npages -= 1; }), "runs do not match the index span");
  CHECK_REFUSED(with_runs([](std::vector<ckpt_run>& r) { r[1].kind = CKPT_RUN_DATA; }),
                "page counts do not match the run table");
}

TEST_CASE("verify_pages: runs must lie in regions whose pages are saved") {
  TempDir dir;
  const std::string path = dir.file("runs.img");
  const ProcessState st = sample_state();
  auto error_for = [&](const std::vector<RunSpec>& runs) {
    write_image(path, st, runs);
    REQUIRE(open_error(path) == "");  // runs are only checked by read_block
    return open_and_verify_error(path);
  };
  // Between the libckpt scratch region and the stack: no region at all.
  CHECK_REFUSED(error_for({{0x50000000, 2, CKPT_RUN_DATA}}), "run at 0x50000000 lies outside every saved region");
  // Below the first region.
  CHECK_REFUSED(error_for({{0x1000, 1, CKPT_RUN_ZERO}}), "lies outside every saved region");
  // The last heap page and the page after it (the gap before the shm region).
  const uint64_t last_heap = kHeapStart + (kHeapPages - 1) * kPage;
  CHECK_REFUSED(error_for({{kHeapStart, 1, CKPT_RUN_DATA}, {last_heap, 2, CKPT_RUN_DATA}}),
                "crosses a gap between regions");
  // Starts in the saved heap, ends in the unmapped gap: also a gap crossing.
  CHECK_REFUSED(error_for({{last_heap, 3, CKPT_RUN_ZERO}}), "crosses a gap between regions");
  // The text region's pages are not saved (file-backed, unmodified).
  CHECK_REFUSED(error_for({{kTextStart, 1, CKPT_RUN_DATA}}), "lies in region /usr/bin/prog whose pages are not saved");
  // A run from the text region into the saved data region.
  CHECK_REFUSED(error_for({{kDataStart - kPage, 2, CKPT_RUN_DATA}}), "whose pages are not saved");
  // A run from the saved data region across into the heap is fine.
  CHECK(error_for({{kDataStart, 4, CKPT_RUN_DATA}}) == "");
  // libckpt's scratch memory never carries pages.
  CHECK_REFUSED(error_for({{kScratchStart, 1, CKPT_RUN_ZERO}}), "whose pages are not saved");
  // Between user space and the blob area: the index refuses it at open.
  write_image(path, st, {{1ULL << 48, 1, CKPT_RUN_DATA}});
  CHECK_REFUSED(open_error(path), "block 0: address span invalid");
  // The vsyscall page lies in the blob area's address range (above
  // CKPT_BLOB_BASE) but is no blob.
  write_image(path, st, {{kVsyscallStart, 1, CKPT_RUN_DATA}});
  CHECK_REFUSED(open_and_verify_error(path), "lies outside every saved file content");
}

TEST_CASE("decompression: a block with a valid checksum over a garbage frame") {
  TempDir dir;
  ImageBytes b = crafted([](ImageBytes& b) {
    for (uint64_t k = 0; k < b.frame_size(1); k++) b.bytes()[b.frame_offset(1) + k] = (unsigned char)(k * 31 + 7);
    b.rehash_block(1);
    b.rehash_file();
  });
  const std::string path = dir.file("garbage.img");
  b.save(path);
  // The checksums all match: verify_pages accepts it...
  CHECK(open_and_verify_error(path) == "");
  // ...and decompression refuses it.
  CHECK_REFUSED(open_verify_decompress_error(path), "page data does not decompress");
  ImageReader img(path);
  Block blk;
  img.read_block(1, blk);
  BlockDecompressor dz;
  std::vector<unsigned char> out(size_t(blk.data_pages) * kPage);
  dz.begin(blk);
  CHECK_THROWS_WITH_AS(dz.into(out.data(), out.size()), doctest::Contains("page data does not decompress"), ImageError);
  // The same decompressor then reads a good block.
  img.read_block(0, blk);
  dz.begin(blk);
  CHECK_NOTHROW(dz.into(out.data(), out.size()));
  CHECK_NOTHROW(dz.end());
  std::vector<unsigned char> want(kPage);
  fill_page(kDataStart + kPage, want.data(), Fill::Compressible);
  CHECK(memcmp(out.data(), want.data(), kPage) == 0);
}

TEST_CASE("decompression: frame size disagreeing with the run table (checksums valid)") {
  TempDir dir;
  const std::string path = dir.file("frame.img");
  const size_t want_bytes = 14 * kPage;  // the last block's DATA pages
  SUBCASE("frame holds less") {
    with_last_frame(zstd_frame(pattern(want_bytes - kPage))).save(path);
    CHECK(open_and_verify_error(path) == "");
    CHECK_REFUSED(open_verify_decompress_error(path), "page data is shorter than its run table says");
  }
  SUBCASE("frame holds more") {
    with_last_frame(zstd_frame(pattern(want_bytes + 1))).save(path);
    CHECK(open_and_verify_error(path) == "");
    CHECK_REFUSED(open_verify_decompress_error(path), "page data is longer than its run table says");
  }
  SUBCASE("two frames") {
    auto two = zstd_frame(pattern(want_bytes));
    auto extra = zstd_frame(pattern(10));
    two.insert(two.end(), extra.begin(), extra.end());
    with_last_frame(two).save(path);
    CHECK(open_and_verify_error(path) == "");
    CHECK_REFUSED(open_verify_decompress_error(path), "trailing bytes after the page data frame");
  }
  SUBCASE("exact size decompresses") {
    with_last_frame(zstd_frame(pattern(want_bytes))).save(path);
    CHECK(open_verify_decompress_error(path) == "");
  }
}

TEST_CASE("BlockDecompressor: exact frames, short, long, truncated, trailing, damaged") {
  const auto content = pattern(3 * kPage + 100);
  Block b;
  b.frame = zstd_frame(content);
  b.runs = {{0x1000, 4, CKPT_RUN_DATA}};
  b.data_pages = 4;
  BlockDecompressor dz;
  std::vector<unsigned char> out(content.size() + 64, 0);

  SUBCASE("exact") {
    dz.begin(b);
    dz.into(out.data(), 5);
    dz.into(out.data() + 5, 4096);
    dz.into(out.data() + 4101, content.size() - 4101);
    CHECK_NOTHROW(dz.end());
    CHECK(std::equal(content.begin(), content.end(), out.begin()));
  }
  SUBCASE("asks for more than the frame holds") {
    dz.begin(b);
    CHECK_THROWS_WITH_AS(dz.into(out.data(), content.size() + 1), "page data is shorter than its run table says",
                         ImageError);
  }
  SUBCASE("asks again after the frame ended") {
    dz.begin(b);
    dz.into(out.data(), content.size());
    CHECK_THROWS_AS(dz.into(out.data(), 1), ImageError);
  }
  SUBCASE("stops before the frame ends") {
    dz.begin(b);
    dz.into(out.data(), content.size() - 1);
    CHECK_THROWS_WITH_AS(dz.end(), "page data is longer than its run table says", ImageError);
  }
  SUBCASE("truncated frame (checksum cut off)") {
    b.frame.resize(b.frame.size() - 2);
    dz.begin(b);
    std::string err;
    try {
      dz.into(out.data(), content.size());
      dz.end();
    } catch (const ImageError& e) {
      err = e.what();
    }
    CHECK_MESSAGE((contains(err, "truncated") || contains(err, "shorter")), err);
  }
  SUBCASE("frame checksum damaged") {
    b.frame.back() ^= 0x80;
    dz.begin(b);
    std::string err;
    try {
      dz.into(out.data(), content.size());
      dz.end();
    } catch (const ImageError& e) {
      err = e.what();
    }
    CHECK_MESSAGE(contains(err, "page data does not decompress"), err);
  }
  SUBCASE("trailing bytes") {
    b.frame.push_back(0);
    dz.begin(b);
    dz.into(out.data(), content.size());
    CHECK_THROWS_WITH_AS(dz.end(), "trailing bytes after the page data frame", ImageError);
  }
  SUBCASE("empty frame") {
    b.frame.clear();
    dz.begin(b);
    CHECK_THROWS_AS(dz.into(out.data(), 10), ImageError);
  }
  SUBCASE("not zstd at all") {
    b.frame.assign(64, 0x5a);
    dz.begin(b);
    CHECK_THROWS_WITH_AS(dz.into(out.data(), 10), doctest::Contains("page data does not decompress"), ImageError);
  }
}

TEST_CASE("verify_pages: whole-file checksum") {
  TempDir dir;
  // Each damage leaves every other check passing: only the whole-file
  // checksum can see it.
  CHECK_REFUSED(verify_error(dir, crafted([](ImageBytes& b) { b.flip_bit(b.frame_offset(1) + 3, 2); })),
                "whole-file checksum mismatch (damaged image)");
  CHECK_REFUSED(verify_error(dir, crafted([](ImageBytes& b) {
                  ckpt_block_header bh = b.block_header(1);
                  bh.hash ^= 4;
                  b.set_block_header(1, bh);
                })),
                "whole-file checksum mismatch");
  CHECK_REFUSED(verify_error(dir, crafted([](ImageBytes& b) {
                  ckpt_footer f = b.footer();
                  f.file_hash += 1;
                  b.set_footer(f);
                })),
                "whole-file checksum mismatch");
  // Header fields nothing else reads (reserved words), header checksum recomputed.
  CHECK_REFUSED(verify_error(dir, crafted([](ImageBytes& b) {
                  ckpt_file_header h = b.header();
                  h.reserved[3] = 1;
                  b.set_header(h);
                })),
                "whole-file checksum mismatch");
  // The same damage with the file checksum recomputed is accepted: the
  // checksum covers every byte before the footer, and nothing else.
  CHECK(verify_error(dir, crafted([](ImageBytes& b) {
          ckpt_file_header h = b.header();
          h.reserved[3] = 1;
          b.set_header(h);
          b.rehash_file();
        })) == "");
}

TEST_CASE("truncation at many lengths is always refused") {
  TempDir dir;
  const auto& full = compact_image();
  std::set<size_t> lengths;
  for (size_t k = 0; k < 50; k++) lengths.insert(full.size() * k / 50);
  for (size_t k = 1; k <= 8; k++) lengths.insert(full.size() - k);
  lengths.insert(full.size() - sizeof(ckpt_footer));
  lengths.insert(full.size() - sizeof(ckpt_footer) - 1);
  lengths.insert(sizeof(ckpt_file_header) + sizeof(ckpt_footer));
  size_t accepted = 0, unexpected = 0;
  const std::string path = dir.file("cut.img");
  for (size_t len : lengths) {
    write_file(path, full.data(), len);
    std::string e = open_and_verify_error(path);
    if (e.empty()) {
      accepted++;
      INFO("accepted at length ", len);
      CHECK(!e.empty());
    }
    if (contains(e, "UNEXPECTED")) {
      unexpected++;
      INFO("length ", len, ": ", e);
      CHECK(!contains(e, "UNEXPECTED"));
    }
  }
  CHECK(lengths.size() >= 55);
  CHECK(accepted == 0);
  CHECK(unexpected == 0);
}

TEST_CASE("a single bit flip anywhere is detected by open() or verify_pages()") {
  TempDir dir;
  const ImageBytes ref(compact_image());
  const uint64_t manifest_end = ref.manifest_offset() + ref.header().manifest_size;
  const uint64_t index_off = ref.footer().index_offset;
  // Every byte of the header, block headers, run tables, index and footer;
  // every 37th byte of the manifest and every 41st of the frames.
  std::set<uint64_t> positions;
  for (uint64_t p = 0; p < sizeof(ckpt_file_header); p++) positions.insert(p);
  for (uint64_t p = ref.manifest_offset(); p < manifest_end; p += 37) positions.insert(p);
  for (size_t i = 0; i < ref.index().size(); i++) {
    for (uint64_t p = ref.block_offset(i); p < ref.frame_offset(i); p++) positions.insert(p);
    for (uint64_t p = ref.frame_offset(i); p < ref.frame_offset(i) + ref.frame_size(i); p += 41) positions.insert(p);
    positions.insert(ref.frame_offset(i) + ref.frame_size(i) - 1);
  }
  for (uint64_t p = index_off; p < ref.size(); p++) positions.insert(p);
  positions.insert(manifest_end - 1);

  const std::string path = dir.file("flip.img");
  size_t accepted = 0, unexpected = 0, tested = 0;
  std::map<std::string, size_t> by_check;  // which check caught the flips
  for (uint64_t p : positions) {
    ImageBytes b = ref;
    b.flip_bit(p, int(p * 5 % 8));
    b.save(path);
    std::string e = open_and_verify_error(path);
    tested++;
    if (e.empty()) {
      accepted++;
      INFO("flip at offset ", p, " was not detected");
      CHECK(!e.empty());
    } else if (contains(e, "UNEXPECTED")) {
      unexpected++;
      INFO("flip at offset ", p, ": ", e);
      CHECK(!contains(e, "UNEXPECTED"));
    } else {
      by_check[e.substr(e.find(": ") + 2, 24)]++;
    }
  }
  CHECK(tested > 1500);
  CHECK(accepted == 0);
  CHECK(unexpected == 0);
  // Flips in the header, manifest and footer are caught by open(); those in
  // blocks and the index by the whole-file checksum.
  CHECK(by_check["header checksum mismatch"] > 0);
  CHECK(by_check["manifest checksum mismat"] > 0);
  CHECK(by_check["whole-file checksum mism"] > 0);
  CHECK(by_check["footer checksum mismatch"] > 0);
}

TEST_CASE("every bit of the footer and of one block header is protected") {
  TempDir dir;
  const ImageBytes ref(compact_image());
  const std::string path = dir.file("bits.img");
  size_t undetected = 0;
  std::vector<uint64_t> starts = {ref.footer_offset(), ref.block_offset(1)};
  std::vector<uint64_t> lens = {sizeof(ckpt_footer), sizeof(ckpt_block_header)};
  for (size_t s = 0; s < starts.size(); s++)
    for (uint64_t p = starts[s]; p < starts[s] + lens[s]; p++)
      for (int bit = 0; bit < 8; bit++) {
        ImageBytes b = ref;
        b.flip_bit(p, bit);
        b.save(path);
        std::string e = open_and_verify_error(path);
        if (e.empty() || contains(e, "UNEXPECTED")) {
          undetected++;
          INFO("offset ", p, " bit ", bit, ": ", e);
          CHECK(false);
        }
      }
  CHECK(undetected == 0);
}

// A constructor that throws never runs the destructor: the reader closes its
// descriptor itself before refusing an image.
TEST_CASE("ImageReader: a refused image does not leak its file descriptor") {
  TempDir dir;
  write_file(dir.file("bad"), std::string(4000, 'x'));
  ImageBytes b(compact_image());
  b.bytes()[b.manifest_offset()] ^= 1;
  b.save(dir.file("bad-manifest"));
  // ImageReader directly: the open_*error() helpers reap leaked descriptors.
  auto refused = [](const std::string& path) {
    try {
      ImageReader r(path);
    } catch (const ImageError&) {
      return true;
    }
    return false;
  };
  FdReaper tidy;  // closes what leaked when the test ends
  const size_t before = count_open_fds();
  for (int i = 0; i < 10; i++) {
    CHECK(refused(dir.file("bad")));
    CHECK(refused(dir.file("bad-manifest")));
    CHECK(refused(dir.path()));
  }
  CHECK(count_open_fds() == before);
}

TEST_CASE("ImageReader: an accepted image's descriptor is closed by the destructor") {
  TempDir dir;
  write_file(dir.file("ok.img"), compact_image());
  const size_t before = count_open_fds();
  for (int i = 0; i < 5; i++) CHECK(open_and_verify_error(dir.file("ok.img")) == "");
  CHECK(count_open_fds() == before);
}

// Bounds checks must not wrap around for offsets near 2^64.
TEST_CASE("open/verify: an index offset near 2^64 is refused with ImageError") {
  TempDir dir;
  ImageBytes b(compact_image());
  const uint64_t huge = ~uint64_t(0) - 15;  // + sizeof(ckpt_block_header) wraps to 16
  ckpt_index_entry e1 = b.index()[1];
  const uint64_t frame0 = b.frame_offset(0);
  e1.offset = huge;
  b.set_index_entry(1, e1);
  ckpt_block_header bh0 = b.block_header(0);
  bh0.compressed_size = huge - frame0;
  b.set_block_header(0, bh0);
  b.rehash_file();
  const std::string path = dir.file("wrap.img");
  b.save(path);
  std::string err = open_and_verify_error(path);
  CHECK_FALSE(err.empty());
  CHECK_MESSAGE(!contains(err, "UNEXPECTED"), err);
}
