// Image round trip: a ProcessState and page runs written with FdSink +
// ImageWriter come back identical through ImageReader, read_block and
// BlockDecompressor: header, manifest, footer, index and every page's bytes.
#include <doctest/doctest.h>

#include <cstring>

#include "common/xxhash64.h"
#include "image/image_reader.h"
#include "image/manifest.h"
#include "image_test_util.h"

using namespace ckpt;
using namespace ckpt::test;

namespace {

// Everything read_image() saw, page by page.
struct ReadBack {
  std::map<uint64_t, uint32_t> kinds;  // page -> run kind
  size_t data_pages = 0, zero_pages = 0, wrong_pages = 0, duplicate_pages = 0;
  std::vector<ckpt_run> all_runs;      // every run of every block, in order
  size_t blocks_with_max_data = 0, blocks_with_max_runs = 0;
};

// Reads every block and decompresses its DATA runs; `piece` > 0 decompresses
// in pieces of that many bytes regardless of run and page boundaries.
ReadBack read_image(const ImageReader& img, Fill fill, size_t piece = 0) {
  ReadBack rb;
  BlockDecompressor dz;
  Block b;
  std::vector<unsigned char> data, want(kPage);
  for (size_t i = 0; i < img.index().size(); i++) {
    const ckpt_index_entry& e = img.index()[i];
    img.read_block(i, b);
    REQUIRE(b.runs.size() == e.nruns);
    CHECK(b.data_pages == e.data_pages);
    CHECK(b.data_pages <= CKPT_MAX_BLOCK_DATA_PAGES);
    CHECK(b.runs.size() <= CKPT_MAX_BLOCK_RUNS);
    CHECK(b.runs.front().addr == e.first_addr);
    CHECK(b.runs.back().addr + b.runs.back().npages * kPage == e.end_addr);
    rb.blocks_with_max_data += b.data_pages == CKPT_MAX_BLOCK_DATA_PAGES;
    rb.blocks_with_max_runs += b.runs.size() == CKPT_MAX_BLOCK_RUNS;

    uint64_t block_data = 0;
    std::vector<uint64_t> data_addrs;  // the DATA pages in frame order
    for (const ckpt_run& r : b.runs) {
      rb.all_runs.push_back(r);
      for (uint32_t k = 0; k < r.npages; k++) {
        uint64_t a = r.addr + k * kPage;
        if (!rb.kinds.emplace(a, r.kind).second) rb.duplicate_pages++;
        if (r.kind == CKPT_RUN_DATA) data_addrs.push_back(a);
      }
      if (r.kind == CKPT_RUN_DATA) block_data += r.npages;
      else rb.zero_pages += r.npages;
    }
    CHECK(block_data == b.data_pages);

    data.assign(size_t(block_data) * kPage, 0xee);
    dz.begin(b);
    if (piece == 0) {
      // One into() per run, as a restorer writes each run to its address.
      size_t off = 0;
      for (const ckpt_run& r : b.runs)
        if (r.kind == CKPT_RUN_DATA) {
          dz.into(data.data() + off, size_t(r.npages) * kPage);
          off += size_t(r.npages) * kPage;
        }
    } else {
      for (size_t off = 0; off < data.size(); off += piece)
        dz.into(data.data() + off, std::min(piece, data.size() - off));
    }
    dz.end();
    for (size_t k = 0; k < data_addrs.size(); k++) {
      fill_page(data_addrs[k], want.data(), fill);
      if (memcmp(want.data(), data.data() + k * kPage, kPage) != 0) rb.wrong_pages++;
    }
    rb.data_pages += data_addrs.size();
  }
  return rb;
}

size_t count_kind(const std::map<uint64_t, uint32_t>& m, uint32_t kind) {
  size_t n = 0;
  for (auto& [a, k] : m) n += k == kind;
  return n;
}

}  // namespace

TEST_CASE("round trip: full image with several blocks, every page read back") {
  TempDir dir;
  const std::string path = dir.file("full.img");
  const ProcessState st = sample_state();
  const std::vector<RunSpec> runs = full_runs();
  const auto expect = expand_runs(runs);
  REQUIRE(count_kind(expect, CKPT_RUN_DATA) == 631);
  REQUIRE(count_kind(expect, CKPT_RUN_ZERO) == 744);

  const WriterStats ws = write_image(path, st, runs);
  const auto file = read_file(path);
  CHECK(ws.data_pages == 631);
  CHECK(ws.zero_pages == 744);
  CHECK(ws.parent_pages == 0);
  CHECK(ws.bytes == file.size());
  CHECK(ws.blocks >= 4);

  ImageReader img(path);
  REQUIRE_NOTHROW(img.verify_pages());
  CHECK(img.path() == path);
  CHECK(!img.incremental());
  CHECK(img.file_size() == file.size());

  SUBCASE("header") {
    const ckpt_file_header& h = img.header();
    const ckpt_file_header want = sample_header();
    const std::string manifest = manifest_to_json(st);
    CHECK(memcmp(h.magic, CKPT_FILE_MAGIC, 8) == 0);
    CHECK(h.format_version == CKPT_FORMAT_VERSION);
    CHECK(h.header_size == sizeof(ckpt_file_header));
    CHECK(h.page_size == CKPT_PAGE_SIZE);
    CHECK(h.flags == 0);
    CHECK(memcmp(h.image_id, want.image_id, 16) == 0);
    CHECK(h.created_realtime_ns == want.created_realtime_ns);
    CHECK(std::string(h.uts_sysname) == "Linux");
    CHECK(std::string(h.uts_release) == want.uts_release);
    CHECK(std::string(h.uts_version) == want.uts_version);
    CHECK(std::string(h.uts_machine) == "x86_64");
    CHECK(h.build_id_len == 20);
    CHECK(memcmp(h.build_id, want.build_id, sizeof h.build_id) == 0);
    CHECK(memcmp(&h.cpu, &want.cpu, sizeof h.cpu) == 0);
    CHECK(memcmp(&h.parent, &want.parent, sizeof h.parent) == 0);
    CHECK(h.manifest_offset == sizeof(ckpt_file_header));
    CHECK(h.manifest_size == manifest.size());
    CHECK(h.manifest_hash == xxh64(manifest.data(), manifest.size()));
    ckpt_file_header z = h;
    z.header_hash = 0;
    CHECK(h.header_hash == xxh64(&z, sizeof z));
    CHECK(img.manifest_text() == manifest);
  }

  SUBCASE("manifest: every field of the process state") { check_states_equal(st, img.state()); }

  SUBCASE("footer and index") {
    const ckpt_footer& f = img.footer();
    const uint64_t footer_off = file.size() - sizeof(ckpt_footer);
    CHECK(memcmp(f.magic, CKPT_FOOTER_MAGIC, 8) == 0);
    CHECK(f.block_count == ws.blocks);
    CHECK(f.data_pages == 631);
    CHECK(f.zero_pages == 744);
    CHECK(f.parent_pages == 0);
    CHECK(f.index_offset == footer_off - ws.blocks * sizeof(ckpt_index_entry));
    CHECK(f.file_hash == xxh64(file.data(), footer_off));
    ckpt_footer z = f;
    z.footer_hash = 0;
    CHECK(f.footer_hash == xxh64(&z, sizeof z));

    const auto& idx = img.index();
    REQUIRE(idx.size() == ws.blocks);
    CHECK(idx[0].offset == img.header().manifest_offset + img.header().manifest_size);
    uint64_t data = 0;
    for (size_t i = 0; i < idx.size(); i++) {
      CAPTURE(i);
      CHECK(idx[i].first_addr < idx[i].end_addr);
      CHECK(idx[i].nruns >= 1);
      CHECK(idx[i].nruns <= CKPT_MAX_BLOCK_RUNS);
      CHECK(idx[i].data_pages <= CKPT_MAX_BLOCK_DATA_PAGES);
      if (i) {
        CHECK(idx[i].offset > idx[i - 1].offset);
        CHECK(idx[i].first_addr >= idx[i - 1].end_addr);
      }
      data += idx[i].data_pages;
    }
    CHECK(data == 631);
  }

  SUBCASE("blocks: every page's kind and bytes") {
    ReadBack rb = read_image(img, Fill::Mixed);
    CHECK(rb.duplicate_pages == 0);
    CHECK(rb.wrong_pages == 0);
    CHECK(rb.data_pages == 631);
    CHECK(rb.zero_pages == 744);
    CHECK(rb.kinds == expect);
    // The 300-page run was split at the block data limit, the alternating
    // runs at the block run limit.
    CHECK(rb.blocks_with_max_data >= 1);
    CHECK(rb.blocks_with_max_runs >= 1);
    // Block 0 opens with the run that starts in the data region and continues
    // into the adjacent heap, cut at 256 pages.
    REQUIRE(!rb.all_runs.empty());
    CHECK(rb.all_runs[0].addr == kDataStart + kPage);
    CHECK(rb.all_runs[0].npages == CKPT_MAX_BLOCK_DATA_PAGES);
    CHECK(rb.all_runs[0].kind == CKPT_RUN_DATA);
    // The contiguous 10- and 5-page DATA runs were merged into one.
    bool merged = false;
    for (const ckpt_run& r : rb.all_runs)
      merged |= r.addr == kDataStart + kPage + 320 * kPage && r.npages == 15 && r.kind == CKPT_RUN_DATA;
    CHECK(merged);
  }

  SUBCASE("blocks: decompression in pieces that ignore page and run boundaries") {
    for (size_t piece : {size_t(1000), size_t(4097), size_t(3 * kPage + 1)}) {
      CAPTURE(piece);
      ReadBack rb = read_image(img, Fill::Mixed, piece);
      CHECK(rb.wrong_pages == 0);
      CHECK(rb.kinds == expect);
    }
  }
}

TEST_CASE("round trip: compact image (three blocks) with compressible pages") {
  TempDir dir;
  const std::string path = dir.file("compact.img");
  WriteOptions opt;
  opt.fill = Fill::Compressible;
  const WriterStats ws = write_image(path, sample_state(), compact_runs(), opt);
  CHECK(ws.blocks == 3);
  CHECK(ws.data_pages == 526);
  CHECK(ws.zero_pages == 12);
  ImageReader img(path);
  REQUIRE_NOTHROW(img.verify_pages());
  ReadBack rb = read_image(img, Fill::Compressible);
  CHECK(rb.wrong_pages == 0);
  CHECK(rb.kinds == expand_runs(compact_runs()));
  // Patterned pages compress: the file is far smaller than its contents.
  CHECK(ws.bytes < 526 * kPage / 8);
}

TEST_CASE("round trip: the sink's buffer size and the zstd level do not change what is read") {
  TempDir dir;
  const ProcessState st = sample_state();
  WriteOptions opt;
  opt.fill = Fill::Compressible;
  opt.sink_buffer = 1 << 20;
  write_image(dir.file("ref.img"), st, compact_runs(), opt);
  const auto ref = read_file(dir.file("ref.img"));
  for (size_t buffer : {size_t(1), size_t(100), size_t(4096), size_t(8 << 20)}) {
    CAPTURE(buffer);
    opt.sink_buffer = buffer;
    write_image(dir.file("b.img"), st, compact_runs(), opt);
    CHECK(read_file(dir.file("b.img")) == ref);
  }
  opt.sink_buffer = 64 << 10;
  for (int level : {-5, 1, 9}) {
    CAPTURE(level);
    opt.zstd_level = level;
    write_image(dir.file("l.img"), st, compact_runs(), opt);
    ImageReader img(dir.file("l.img"));
    REQUIRE_NOTHROW(img.verify_pages());
    ReadBack rb = read_image(img, Fill::Compressible);
    CHECK(rb.wrong_pages == 0);
    CHECK(rb.data_pages == 526);
  }
}

TEST_CASE("round trip: an image without page runs") {
  TempDir dir;
  const std::string path = dir.file("empty.img");
  ProcessState st = sample_state();
  const WriterStats ws = write_image(path, st, {});
  CHECK(ws.blocks == 0);
  CHECK(ws.data_pages == 0);
  ImageReader img(path);
  REQUIRE_NOTHROW(img.verify_pages());
  CHECK(img.index().empty());
  CHECK(img.footer().block_count == 0);
  CHECK(img.footer().index_offset == img.header().manifest_offset + img.header().manifest_size);
  CHECK(img.file_size() == sizeof(ckpt_file_header) + manifest_to_json(st).size() + sizeof(ckpt_footer));
  check_states_equal(st, img.state());
}

TEST_CASE("round trip: a block of zero runs carries an empty frame") {
  TempDir dir;
  const std::string path = dir.file("zero.img");
  const std::vector<RunSpec> runs = {{kHeapStart, 5, CKPT_RUN_ZERO}, {kHeapStart + 10 * kPage, 3, CKPT_RUN_ZERO}};
  write_image(path, sample_state(), runs);
  ImageReader img(path);
  REQUIRE_NOTHROW(img.verify_pages());
  REQUIRE(img.index().size() == 1);
  Block b;
  img.read_block(0, b);
  CHECK(b.data_pages == 0);
  CHECK(b.runs.size() == 2);
  CHECK(!b.frame.empty());  // a complete (empty) zstd frame
  BlockDecompressor dz;
  dz.begin(b);
  dz.into(nullptr, 0);
  CHECK_NOTHROW(dz.end());
  CHECK(img.footer().zero_pages == 8);
}

TEST_CASE("round trip: incremental header fields pass through the writer unchanged") {
  TempDir dir;
  const std::string path = dir.file("incr.img");
  ckpt_file_header h = sample_header();
  h.flags = CKPT_HDR_INCREMENTAL;
  for (int i = 0; i < 16; i++) h.parent.image_id[i] = uint8_t(0xf0 - i);
  h.parent.content_hash = 0x1122334455667788ULL;
  strcpy(h.parent.file_name, "prog-4242-2.ckpt");
  for (auto& r : h.reserved) r = 0;
  WriteOptions opt;
  opt.header = &h;
  write_image(path, sample_state(), {{kHeapStart, 2, CKPT_RUN_DATA}}, opt);
  ImageReader img(path);
  REQUIRE_NOTHROW(img.verify_pages());
  CHECK(img.header().flags == CKPT_HDR_INCREMENTAL);
  CHECK(memcmp(img.header().parent.image_id, h.parent.image_id, 16) == 0);
  CHECK(img.header().parent.content_hash == 0x1122334455667788ULL);
  CHECK(std::string(img.header().parent.file_name) == "prog-4242-2.ckpt");
}

TEST_CASE("round trip: the whole-file checksum is the XXH64 of every byte before the footer") {
  TempDir dir;
  const std::string path = dir.file("hash.img");
  WriteOptions opt;
  opt.fill = Fill::Compressible;
  write_image(path, sample_state(), compact_runs(), opt);
  const auto file = read_file(path);
  ImageReader img(path);
  CHECK(img.footer().file_hash == xxh64(file.data(), file.size() - sizeof(ckpt_footer)));
}
