// Image chains: a page an image takes from its parent must be one the
// parent holds. A parent holds the pages it lists, and the unlisted pages
// of the regions it saves (they read as zero), but not the pages the
// application excluded (ckpt_exclude) nor anything outside its saved
// regions: a reference there is refused, never resolved to nothing.
#include <doctest/doctest.h>

#include <cstring>

#include "image/chain.h"
#include "image/image_reader.h"
#include "image_test_util.h"

using namespace ckpt;
using namespace ckpt::test;

namespace {

constexpr uint64_t kExcludedStart = kHeapStart + 100 * kPage;  // sample_state(): 4 excluded heap pages

// The parent: a full image of sample_state() whose heap was only 300 pages
// then, holding heap pages 0..49 and the shared memory; heap pages 50..299
// hold nothing (zero).
void write_parent(const std::string& path) {
  ProcessState st = sample_state();
  for (Region& r : st.regions)
    if (r.start == kHeapStart) r.end = kHeapStart + 300 * kPage;
  write_image(path, st, {{kHeapStart, 50, CKPT_RUN_DATA}, {kShmStart, kShmPages, CKPT_RUN_DATA}});
}

// A child of `parent` (in the same directory) with `runs`.
void write_child(const std::string& path, const std::string& parent, const std::vector<RunSpec>& runs) {
  ImageReader p(parent);
  ckpt_file_header h = sample_header();
  h.flags = CKPT_HDR_INCREMENTAL;
  memcpy(h.parent.image_id, p.header().image_id, sizeof h.parent.image_id);
  h.parent.content_hash = p.footer().file_hash;
  const char* base = strrchr(parent.c_str(), '/');
  strncpy(h.parent.file_name, base + 1, sizeof h.parent.file_name - 1);
  for (int i = 0; i < 16; i++) h.image_id[i] = uint8_t(0x30 + i);
  WriteOptions opt;
  opt.header = &h;
  write_image(path, sample_state(), runs, opt);
}

std::string chain_error(const std::string& path) {
  FdReaper reaper;
  try {
    ImageChain chain(path);
    chain.verify_pages();
    chain.all_pages();
    return "";
  } catch (const ImageError& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("chain: PARENT pages the parent lists or leaves zero resolve") {
  TempDir dir;
  write_parent(dir.file("parent.img"));
  // Heap pages 0..99: 0..49 listed in the parent, 50..99 zero there.
  write_child(dir.file("child.img"), dir.file("parent.img"),
              {{kHeapStart, 100, CKPT_RUN_PARENT}, {kShmStart, kShmPages, CKPT_RUN_PARENT}});
  CHECK(chain_error(dir.file("child.img")) == "");
  ImageChain chain(dir.file("child.img"));
  uint64_t from_parent = 0;
  for (const PageSource& s : chain.all_pages())
    if (s.image == 1) from_parent += s.npages;
  CHECK(from_parent == 50 + kShmPages);
}

TEST_CASE("chain: PARENT pages the parent excluded are refused") {
  TempDir dir;
  write_parent(dir.file("parent.img"));
  write_child(dir.file("child.img"), dir.file("parent.img"), {{kExcludedStart - kPage, 3, CKPT_RUN_PARENT}});
  const std::string e = chain_error(dir.file("child.img"));
  INFO("error: ", e);
  CHECK(contains(e, "does not hold them"));
  CHECK(contains(e, "child.img"));
  CHECK(contains(e, "parent.img"));

  // resolve() refuses too when the references are not verified first.
  ImageChain chain(dir.file("child.img"));
  CHECK_THROWS_AS(chain.all_pages(), ImageError);
}

TEST_CASE("chain: PARENT pages outside the parent's saved regions are refused") {
  TempDir dir;
  write_parent(dir.file("parent.img"));
  // Heap pages the parent did not have (its heap was shorter).
  write_child(dir.file("child.img"), dir.file("parent.img"), {{kHeapStart + 290 * kPage, 20, CKPT_RUN_PARENT}});
  const std::string e = chain_error(dir.file("child.img"));
  INFO("error: ", e);
  CHECK(contains(e, "does not hold them"));
}
