// Blobs: saved contents of deleted files, pipe buffers and memfds, stored as
// DATA runs at CKPT_BLOB_BASE + (id << CKPT_BLOB_SHIFT) (image_format.h) and
// checked against the manifest's blob table.
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

uint64_t blob_addr(uint64_t id, uint64_t page = 0) {
  return CKPT_BLOB_BASE + (id << CKPT_BLOB_SHIFT) + page * kPage;
}

// The sample state's blobs: 0 is 12345 bytes (4 pages), 1 is 100 bytes
// (1 page), 2 is 8192 bytes (2 pages).
std::vector<RunSpec> blob_runs() {
  return {{blob_addr(0), 4, CKPT_RUN_DATA}, {blob_addr(1), 1, CKPT_RUN_DATA}, {blob_addr(2), 2, CKPT_RUN_DATA}};
}

}  // namespace

TEST_CASE("blobs: runs in the blob area round-trip") {
  TempDir dir;
  const std::string path = dir.file("blobs.img");
  const ProcessState st = sample_state();
  REQUIRE(st.blobs.size() == 3);
  // 256 data pages of memory fill block 0, so the blobs start block 1.
  std::vector<RunSpec> runs = {{kHeapStart, CKPT_MAX_BLOCK_DATA_PAGES, CKPT_RUN_DATA}};
  for (const RunSpec& r : blob_runs()) runs.push_back(r);
  write_image(path, st, runs);
  ImageReader img(path);
  REQUIRE_NOTHROW(img.verify_pages());
  REQUIRE(img.index().size() == 2);
  CHECK(img.index()[1].first_addr == blob_addr(0));
  CHECK(img.index()[1].end_addr == blob_addr(2, 2));
  CHECK(img.footer().data_pages == CKPT_MAX_BLOCK_DATA_PAGES + 7);

  Block b;
  img.read_block(1, b);
  REQUIRE(b.runs.size() == 3);
  CHECK(b.data_pages == 7);
  std::vector<unsigned char> out(7 * kPage), want(kPage);
  BlockDecompressor dz;
  dz.begin(b);
  dz.into(out.data(), out.size());
  dz.end();
  size_t at = 0, wrong = 0;
  for (const ckpt_run& r : b.runs)
    for (uint32_t p = 0; p < r.npages; p++, at++) {
      fill_page(r.addr + p * kPage, want.data(), Fill::Mixed);
      wrong += memcmp(out.data() + at * kPage, want.data(), kPage) != 0;
    }
  CHECK(wrong == 0);
}

TEST_CASE("blobs: runs outside the saved contents are refused") {
  TempDir dir;
  const std::string path = dir.file("bad-blob.img");
  const ProcessState st = sample_state();
  auto error_for = [&](const std::vector<RunSpec>& runs) {
    write_image(path, st, runs);
    return open_and_verify_error(path);
  };
  CHECK(error_for(blob_runs()) == "");
  // Blob 0 is 12345 bytes: its fifth page is past the end.
  CHECK_REFUSED(error_for({{blob_addr(0), 5, CKPT_RUN_DATA}}),
                "block 0: run at 0x1000000000000000 lies outside every saved file content");
  CHECK_REFUSED(error_for({{blob_addr(0, 4), 1, CKPT_RUN_DATA}}), "lies outside every saved file content");
  // No blob 3.
  CHECK_REFUSED(error_for({{blob_addr(3), 1, CKPT_RUN_DATA}}), "lies outside every saved file content");
  // Blob contents are always DATA.
  CHECK_REFUSED(error_for({{blob_addr(1), 1, CKPT_RUN_ZERO}}), "lies outside every saved file content");
  // An image without blobs has no blob area.
  ProcessState none = sample_state();
  none.blobs.clear();
  for (OpenFile& f : none.open_files) {
    f.blob = -1;
    f.deleted = false;
  }
  write_image(path, none, {{blob_addr(0), 1, CKPT_RUN_DATA}});
  CHECK_REFUSED(open_and_verify_error(path), "lies outside every saved file content");
}

// libckpt writes memory and then blobs through one ImageWriter
// (runtime/checkpoint.cpp: write_pages(), then write_blobs()). The reader
// refuses a block whose span reaches from user space into the blob area, so
// the writer must start a new block where the blob area begins.
TEST_CASE("blobs: memory runs then blob runs written in one go start a new block") {
  TempDir dir;
  const std::string path = dir.file("mixed.img");
  std::vector<RunSpec> runs = {{kHeapStart, 10, CKPT_RUN_DATA}, {kStackStart, 2, CKPT_RUN_ZERO}};
  for (const RunSpec& r : blob_runs()) runs.push_back(r);
  write_image(path, sample_state(), runs);
  std::string err = open_verify_decompress_error(path);
  CHECK_MESSAGE(err.empty(), err);
  ImageReader img(path);
  REQUIRE(img.index().size() == 2);
  CHECK(img.index()[0].end_addr == kStackStart + 2 * kPage);
  CHECK(img.index()[1].first_addr == blob_addr(0));
  CHECK(img.index()[1].nruns == 3);
}
