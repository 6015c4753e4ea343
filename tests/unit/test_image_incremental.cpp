// Incremental images: the header's incremental flag and parent reference,
// PARENT runs (pages unchanged since the parent), and read_runs().
#include <doctest/doctest.h>

#include <cstring>

#include "image/image_reader.h"
#include "image/manifest.h"
#include "image_test_util.h"

using namespace ckpt;
using namespace ckpt::test;

namespace {

#define CHECK_REFUSED(err, phrase)           \
  do {                                       \
    const std::string e_ = (err);            \
    INFO("error: ", e_);                     \
    CHECK_FALSE(e_.empty());                 \
    CHECK_FALSE(contains(e_, "UNEXPECTED")); \
    CHECK(contains(e_, phrase));             \
  } while (0)

ckpt_file_header incremental_header() {
  ckpt_file_header h = sample_header();
  h.flags = CKPT_HDR_INCREMENTAL;
  for (int i = 0; i < 16; i++) h.parent.image_id[i] = uint8_t(0xf0 - i);
  h.parent.content_hash = 0x1122334455667788ULL;
  strcpy(h.parent.file_name, "prog-4242-2.ckpt");
  return h;
}

// DATA, ZERO and PARENT runs, with a PARENT run crossing the block data limit's
// split of the DATA run before it.
std::vector<RunSpec> incremental_runs() {
  const uint64_t d = kDataStart + kPage;
  return {
      {kDataStart, 1, CKPT_RUN_PARENT},
      {d, 300, CKPT_RUN_DATA},
      {d + 300 * kPage, 50, CKPT_RUN_PARENT},
      {d + 350 * kPage, 10, CKPT_RUN_ZERO},
      {d + 360 * kPage, 20, CKPT_RUN_PARENT},
      {d + 380 * kPage, 20, CKPT_RUN_PARENT},  // contiguous: merged
      {kShmStart, kShmPages, CKPT_RUN_PARENT},
      {kStackStart, 2, CKPT_RUN_DATA},
  };
}

// Writes the sample image with `h` as header; returns the open error.
std::string open_with_header(const TempDir& dir, const ckpt_file_header& h, const std::vector<RunSpec>& runs = {}) {
  WriteOptions opt;
  opt.header = &h;
  opt.fill = Fill::Compressible;
  write_image(dir.file("h.img"), sample_state(), runs, opt);
  return open_error(dir.file("h.img"));
}

}  // namespace

TEST_CASE("incremental: DATA, ZERO and PARENT runs round-trip") {
  TempDir dir;
  const std::string path = dir.file("incr.img");
  const ckpt_file_header h = incremental_header();
  WriteOptions opt;
  opt.header = &h;
  opt.fill = Fill::Compressible;
  const auto runs = incremental_runs();
  const WriterStats ws = write_image(path, sample_state(), runs, opt);
  CHECK(ws.data_pages == 302);
  CHECK(ws.zero_pages == 10);
  CHECK(ws.parent_pages == 1 + 50 + 40 + kShmPages);

  ImageReader img(path);
  REQUIRE_NOTHROW(img.verify_pages());
  CHECK(img.incremental());
  CHECK(img.header().flags == CKPT_HDR_INCREMENTAL);
  CHECK(memcmp(img.header().parent.image_id, h.parent.image_id, 16) == 0);
  CHECK(img.header().parent.content_hash == 0x1122334455667788ULL);
  CHECK(std::string(img.header().parent.file_name) == "prog-4242-2.ckpt");
  CHECK(img.footer().data_pages == 302);
  CHECK(img.footer().zero_pages == 10);
  CHECK(img.footer().parent_pages == 1 + 50 + 40 + kShmPages);

  // Every page comes back with its kind; block zero_pages counts ZERO and PARENT pages.
  std::map<uint64_t, uint32_t> got;
  Block b;
  std::vector<ckpt_run> table;
  bool merged = false;
  for (size_t i = 0; i < img.index().size(); i++) {
    img.read_block(i, b);
    img.read_runs(i, table);
    REQUIRE(table.size() == b.runs.size());
    uint64_t zero_and_parent = 0;
    for (size_t k = 0; k < table.size(); k++) {
      const ckpt_run& r = b.runs[k];
      CHECK(table[k].addr == r.addr);
      CHECK(table[k].npages == r.npages);
      CHECK(table[k].kind == r.kind);
      if (r.kind != CKPT_RUN_DATA) zero_and_parent += r.npages;
      merged |= r.kind == CKPT_RUN_PARENT && r.npages == 40;
      for (uint32_t p = 0; p < r.npages; p++) got.emplace(r.addr + p * kPage, r.kind);
    }
    CHECK(zero_and_parent == ImageBytes::load(path).block_header(i).zero_pages);
  }
  CHECK(got == expand_runs(runs));
  CHECK(merged);
}

TEST_CASE("incremental: PARENT runs are refused in a full image") {
  TempDir dir;
  const std::string path = dir.file("full-with-parent.img");
  write_image(path, sample_state(), {{kHeapStart, 3, CKPT_RUN_PARENT}});
  REQUIRE(open_error(path) == "");
  CHECK_REFUSED(open_and_verify_error(path), "has an unknown kind (parent pages in a full image)");
  ImageReader img(path);
  std::vector<ckpt_run> table;
  CHECK_THROWS_WITH_AS(img.read_runs(0, table), doctest::Contains("parent pages in a full image"), ImageError);
}

TEST_CASE("incremental: header flags and parent reference") {
  TempDir dir;
  CHECK(open_with_header(dir, incremental_header()) == "");
  SUBCASE("unknown flag") {
    ckpt_file_header h = sample_header();
    h.flags = 1u << 5;
    CHECK_REFUSED(open_with_header(dir, h), "unknown header flags");
  }
  SUBCASE("incremental flag without a parent") {
    ckpt_file_header h = sample_header();
    h.flags = CKPT_HDR_INCREMENTAL;
    CHECK_REFUSED(open_with_header(dir, h), "parent reference does not match the incremental flag");
  }
  SUBCASE("parent without the incremental flag") {
    ckpt_file_header h = incremental_header();
    h.flags = 0;
    CHECK_REFUSED(open_with_header(dir, h), "parent reference does not match the incremental flag");
  }
  SUBCASE("empty parent file name") {
    ckpt_file_header h = incremental_header();
    memset(h.parent.file_name, 0, sizeof h.parent.file_name);
    CHECK_REFUSED(open_with_header(dir, h), "invalid parent file name");
  }
  SUBCASE("parent file name with a directory") {
    ckpt_file_header h = incremental_header();
    strcpy(h.parent.file_name, "../other/prog-4242-2.ckpt");
    CHECK_REFUSED(open_with_header(dir, h), "invalid parent file name");
  }
  SUBCASE("parent file name without a terminating NUL") {
    ckpt_file_header h = incremental_header();
    memset(h.parent.file_name, 'a', sizeof h.parent.file_name);
    CHECK_REFUSED(open_with_header(dir, h), "invalid parent file name");
  }
}

TEST_CASE("read_runs: the run table alone, checked against the regions") {
  TempDir dir;
  ImageBytes good(compact_image());
  const std::string path = dir.file("runs.img");
  good.save(path);
  {
    ImageReader img(path);
    std::vector<ckpt_run> table;
    img.read_runs(2, table);
    REQUIRE(table.size() == 5);
    CHECK(table[0].addr == kDataStart + kPage + 512 * kPage);
    CHECK(table[0].npages == 8);
    CHECK(table[1].kind == CKPT_RUN_ZERO);
    CHECK(table[4].addr == kStackStart + 30 * kPage);
    CHECK_THROWS_AS(img.read_runs(3, table), std::out_of_range);
  }
  SUBCASE("damaged block header") {
    ckpt_block_header bh = good.block_header(1);
    bh.magic = 0;
    good.set_block_header(1, bh);
    good.save(path);
    ImageReader img(path);
    std::vector<ckpt_run> table;
    CHECK_THROWS_WITH_AS(img.read_runs(1, table), doctest::Contains("block 1: bad block header"), ImageError);
  }
  SUBCASE("run outside the saved regions (no checksum needed to see it)") {
    std::vector<ckpt_run> runs = good.runs(2);
    runs[4].addr = kScratchStart;  // libckpt scratch: pages never saved
    runs[4].npages = 2;
    good.set_runs(2, runs);
    ckpt_index_entry e = good.index()[2];
    e.end_addr = kScratchStart + 2 * kPage;
    good.set_index_entry(2, e);
    good.save(path);
    ImageReader img(path);
    std::vector<ckpt_run> table;
    CHECK_THROWS_WITH_AS(img.read_runs(2, table), doctest::Contains("whose pages are not saved"), ImageError);
  }
}
