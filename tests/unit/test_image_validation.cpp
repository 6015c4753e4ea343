// ImageReader's open(): every check of the header, footer, index and
// manifest refuses a crafted image with ImageError naming that check. Each
// crafted image is a valid one with one structure rewritten and the checksum
// protecting that structure recomputed, so exactly the intended check fires.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "common/xxhash64.h"
#include "image/image_reader.h"
#include "image/manifest.h"
#include "image_test_util.h"

using namespace ckpt;
using namespace ckpt::test;
using json = nlohmann::ordered_json;

namespace {

// Applies `edit` to a copy of the compact sample image and returns the
// error of opening it ("" if it opened).
template <class F>
std::string open_crafted(const TempDir& dir, F edit) {
  ImageBytes img(compact_image());
  edit(img);
  const std::string path = dir.file("crafted.img");
  img.save(path);
  return open_error(path);
}

// The error of opening an image (without page runs) whose manifest is `text`.
std::string open_with_manifest(const TempDir& dir, const std::string& text) {
  const std::string path = dir.file("manifest.img");
  write_image(path, text, {});
  return open_error(path);
}

std::string open_with_json(const TempDir& dir, const json& j) { return open_with_manifest(dir, j.dump(1)); }

json sample_json() { return json::parse(manifest_to_json(sample_state())); }

std::string open_with_state(const TempDir& dir, const ProcessState& st) {
  return open_with_manifest(dir, manifest_to_json(st));
}

// CHECKs that `err` is an ImageError naming the image and containing `phrase`.
#define CHECK_REFUSED(err, phrase)                                          \
  do {                                                                      \
    const std::string e_ = (err);                                           \
    INFO("error: ", e_);                                                    \
    CHECK_FALSE(e_.empty());                                                \
    CHECK_FALSE(contains(e_, "UNEXPECTED"));                                \
    CHECK(contains(e_, phrase));                                            \
  } while (0)

}  // namespace

TEST_CASE("open: the unmodified compact image is accepted") {
  TempDir dir;
  CHECK(open_crafted(dir, [](ImageBytes&) {}) == "");
  ImageBytes img(compact_image());
  img.save(dir.file("ok.img"));
  CHECK(open_and_verify_error(dir.file("ok.img")) == "");
  CHECK(open_verify_decompress_error(dir.file("ok.img")) == "");
}

TEST_CASE("open: files that are not images") {
  TempDir dir;
  SUBCASE("missing file") {
    std::string e = open_error(dir.file("does-not-exist.img"));
    CHECK_REFUSED(e, "cannot open");
    CHECK(contains(e, dir.file("does-not-exist.img")));
  }
  SUBCASE("a directory") { CHECK_REFUSED(open_error(dir.path()), "not a regular file"); }
  SUBCASE("empty file") {
    write_file(dir.file("empty"), std::string());
    CHECK_REFUSED(open_error(dir.file("empty")), "file too short");
  }
  SUBCASE("short file") {
    write_file(dir.file("short"), std::string("CKPTI"));
    CHECK_REFUSED(open_error(dir.file("short")), "file too short");
  }
  SUBCASE("text file") {
    write_file(dir.file("text"), std::string(4000, 'x'));
    CHECK_REFUSED(open_error(dir.file("text")), "bad magic");
  }
  SUBCASE("bad magic in an otherwise valid image") {
    CHECK_REFUSED(open_crafted(dir, [](ImageBytes& b) { b.bytes()[3] ^= 0x20; }), "bad magic");
  }
  SUBCASE("magic, then too short for a header and a footer") {
    std::vector<unsigned char> head(compact_image().begin(), compact_image().begin() + 700);
    write_file(dir.file("head"), head);
    CHECK_REFUSED(open_error(dir.file("head")), "shorter than a header and a footer");
  }
}

TEST_CASE("open: header checks") {
  TempDir dir;
  SUBCASE("unsupported format version (header checksum recomputed)") {
    std::string e = open_crafted(dir, [](ImageBytes& b) {
      ckpt_file_header h = b.header();
      h.format_version = CKPT_FORMAT_VERSION + 1;
      b.set_header(h);
    });
    CHECK_REFUSED(e, "unsupported image format version " + std::to_string(CKPT_FORMAT_VERSION + 1));
    CHECK(contains(e, "reads version " + std::to_string(CKPT_FORMAT_VERSION)));
  }
  SUBCASE("header size") {
    CHECK_REFUSED(open_crafted(dir, [](ImageBytes& b) {
                    ckpt_file_header h = b.header();
                    h.header_size -= 8;
                    b.set_header(h);
                  }),
                  "header size mismatch");
  }
  SUBCASE("header checksum mismatch") {
    CHECK_REFUSED(open_crafted(dir, [](ImageBytes& b) {
                    ckpt_file_header h = b.header();
                    h.uts_release[0] ^= 1;
                    b.set_header(h, /*rehash=*/false);
                    b.rehash_file();
                  }),
                  "header checksum mismatch");
    CHECK_REFUSED(open_crafted(dir, [](ImageBytes& b) {
                    ckpt_file_header h = b.header();
                    h.header_hash ^= 1;
                    b.set_header(h, false);
                  }),
                  "header checksum mismatch");
  }
  SUBCASE("page size") {
    CHECK_REFUSED(open_crafted(dir, [](ImageBytes& b) {
                    ckpt_file_header h = b.header();
                    h.page_size = 65536;
                    b.set_header(h);
                  }),
                  "unsupported page size");
  }
  SUBCASE("build id length") {
    CHECK_REFUSED(open_crafted(dir, [](ImageBytes& b) {
                    ckpt_file_header h = b.header();
                    h.build_id_len = 33;
                    b.set_header(h);
                  }),
                  "bad build id length");
  }
}

TEST_CASE("open: footer checks") {
  TempDir dir;
  SUBCASE("missing footer: last byte cut off") {
    CHECK_REFUSED(open_crafted(dir, [](ImageBytes& b) { b.bytes().pop_back(); }), "no footer at the end of the file");
  }
  SUBCASE("missing footer: bytes appended after it") {
    CHECK_REFUSED(open_crafted(dir, [](ImageBytes& b) { b.bytes().push_back(0); }), "no footer at the end of the file");
  }
  SUBCASE("damaged footer magic") {
    CHECK_REFUSED(open_crafted(dir, [](ImageBytes& b) {
                    ckpt_footer f = b.footer();
                    f.magic[0] = 'X';
                    b.set_footer(f);
                  }),
                  "no footer at the end of the file");
  }
  SUBCASE("footer checksum") {
    CHECK_REFUSED(open_crafted(dir, [](ImageBytes& b) {
                    ckpt_footer f = b.footer();
                    f.data_pages += 1;
                    b.set_footer(f, /*rehash=*/false);
                  }),
                  "footer checksum mismatch");
  }
  SUBCASE("implausible block count") {
    CHECK_REFUSED(open_crafted(dir, [](ImageBytes& b) {
                    ckpt_footer f = b.footer();
                    f.block_count = 1ULL << 40;
                    b.set_footer(f);
                  }),
                  "implausible block count");
  }
  SUBCASE("index location inconsistent with the file size") {
    CHECK_REFUSED(open_crafted(dir, [](ImageBytes& b) {
                    ckpt_footer f = b.footer();
                    f.index_offset += sizeof(ckpt_index_entry);
                    b.set_footer(f);
                  }),
                  "block index location is inconsistent");
    CHECK_REFUSED(open_crafted(dir, [](ImageBytes& b) {
                    ckpt_footer f = b.footer();
                    f.block_count += 1;
                    b.set_footer(f);
                  }),
                  "block index location is inconsistent");
    CHECK_REFUSED(open_crafted(dir, [](ImageBytes& b) {
                    ckpt_footer f = b.footer();
                    f.index_offset = b.size();  // past the footer
                    b.set_footer(f);
                  }),
                  "block index location is inconsistent");
  }
}

TEST_CASE("open: manifest location and checksum") {
  TempDir dir;
  auto with_header = [&](auto change) {
    return open_crafted(dir, [&](ImageBytes& b) {
      ckpt_file_header h = b.header();
      change(h);
      b.set_header(h);
    });
  };
  CHECK_REFUSED(with_header([](ckpt_file_header& h) { h.manifest_size += 1ULL << 20; }),
                "manifest location is out of bounds");
  CHECK_REFUSED(with_header([](ckpt_file_header& h) { h.manifest_size = CKPT_MAX_MANIFEST_SIZE + 1ULL; }),
                "manifest location is out of bounds");
  CHECK_REFUSED(with_header([](ckpt_file_header& h) { h.manifest_offset += 8; }),
                "manifest location is out of bounds");
  CHECK_REFUSED(with_header([](ckpt_file_header& h) { h.manifest_size = ~0ULL - 100; }),
                "manifest location is out of bounds");
  CHECK_REFUSED(with_header([](ckpt_file_header& h) { h.manifest_hash ^= 1; }), "manifest checksum mismatch");
  CHECK_REFUSED(open_crafted(dir,
                             [](ImageBytes& b) {
                               b.bytes()[b.manifest_offset() + 10] ^= 0x01;
                               b.rehash_file();
                             }),
                "manifest checksum mismatch");
}

TEST_CASE("open: manifest content (ManifestError surfaces as ImageError)") {
  TempDir dir;
  SUBCASE("not JSON") { CHECK_REFUSED(open_with_manifest(dir, "{\"pid\": 42,"), "not valid JSON"); }
  SUBCASE("empty manifest") { CHECK_REFUSED(open_with_manifest(dir, ""), "not valid JSON"); }
  SUBCASE("not an object") { CHECK_REFUSED(open_with_manifest(dir, "[1, 2, 3]"), "expected an object"); }
  SUBCASE("missing top-level field") {
    json j = sample_json();
    j.erase("cwd");
    CHECK_REFUSED(open_with_json(dir, j), "manifest.cwd: missing");
  }
  SUBCASE("missing nested field") {
    json j = sample_json();
    j["threads"][0]["resume"].erase("rip");
    CHECK_REFUSED(open_with_json(dir, j), "threads[0].resume.rip: missing");
  }
  SUBCASE("wrong field type") {
    json j = sample_json();
    j["pid"] = "4242";
    CHECK_REFUSED(open_with_json(dir, j), "manifest.pid: expected an integer");
    j = sample_json();
    j["regions"][2]["pages_saved"] = 1;
    CHECK_REFUSED(open_with_json(dir, j), "regions[2].pages_saved: expected true or false");
    j = sample_json();
    j["files"] = json::object();
    CHECK_REFUSED(open_with_json(dir, j), "manifest.files: expected an array");
  }
  SUBCASE("value out of range") {
    json j = sample_json();
    j["umask"] = 01000;
    CHECK_REFUSED(open_with_json(dir, j), "manifest.umask: out of range");
  }
  SUBCASE("the error names the image file") {
    std::string e = open_with_manifest(dir, "null");
    CHECK(e.rfind(dir.file("manifest.img") + ": ", 0) == 0);
  }
}

TEST_CASE("open: semantic errors from validate_process_state") {
  TempDir dir;
  ProcessState st = sample_state();
  SUBCASE("overlapping regions") {
    st.regions[3].end = st.regions[4].start + kPage;
    CHECK_REFUSED(open_with_state(dir, st), "overlaps the previous region");
  }
  SUBCASE("unaligned region") {
    st.regions[2].end -= 16;
    CHECK_REFUSED(open_with_state(dir, st), "not page-aligned or empty");
  }
  SUBCASE("no threads") {
    st.threads.clear();
    CHECK_REFUSED(open_with_state(dir, st), "manifest: no threads");
  }
  SUBCASE("two coordinators") {
    st.threads[1].coordinator = true;
    CHECK_REFUSED(open_with_state(dir, st), "exactly one thread must be the coordinator");
  }
  SUBCASE("no thread with tid == pid") {
    st.threads[0].tid = 4243;
    CHECK_REFUSED(open_with_state(dir, st), "no thread has the process id as its tid");
  }
  SUBCASE("duplicate fd") {
    st.fds[3].fd = 1;
    CHECK_REFUSED(open_with_state(dir, st), "duplicate fd 1");
  }
  SUBCASE("relative cwd") {
    st.cwd = "home/user";
    CHECK_REFUSED(open_with_state(dir, st), "cwd is not absolute");
  }
  SUBCASE("pages saved for a file-shared region") {
    st.regions[4].pages_saved = true;
    CHECK_REFUSED(open_with_state(dir, st), "pages saved for a region kind that cannot hold them");
  }
  SUBCASE("file index out of range") {
    st.regions[4].file = 3;
    CHECK_REFUSED(open_with_state(dir, st), "file index out of range");
  }
}

TEST_CASE("open: block index checks") {
  TempDir dir;
  auto with_entry = [&](size_t i, auto change) {
    return open_crafted(dir, [&](ImageBytes& b) {
      ckpt_index_entry e = b.index()[i];
      change(e);
      b.set_index_entry(i, e);
      b.rehash_file();
    });
  };
  CHECK_REFUSED(with_entry(0, [](ckpt_index_entry& e) { e.offset += 1; }), "block 0: offset out of order or out of bounds");
  CHECK_REFUSED(with_entry(2, [&](ckpt_index_entry& e) { e.offset = ImageBytes(compact_image()).block_offset(1); }),
                "block 2: offset out of order or out of bounds");
  CHECK_REFUSED(with_entry(2, [&](ckpt_index_entry& e) { e.offset = ImageBytes(compact_image()).footer().index_offset; }),
                "block 2: offset out of order or out of bounds");
  CHECK_REFUSED(with_entry(1, [](ckpt_index_entry& e) { e.first_addr -= kPage; }),
                "block 1: address span invalid or overlapping");
  CHECK_REFUSED(with_entry(1, [](ckpt_index_entry& e) { e.first_addr += 8; }),
                "block 1: address span invalid or overlapping");
  CHECK_REFUSED(with_entry(1, [](ckpt_index_entry& e) { e.end_addr = e.first_addr; }),
                "block 1: address span invalid or overlapping");
  CHECK_REFUSED(with_entry(2, [](ckpt_index_entry& e) { e.end_addr = 1ULL << 48; }),
                "block 2: address span invalid or overlapping");
  CHECK_REFUSED(with_entry(0, [](ckpt_index_entry& e) { e.nruns = 0; }), "block 0: run or page count out of range");
  CHECK_REFUSED(with_entry(2, [](ckpt_index_entry& e) { e.nruns = CKPT_MAX_BLOCK_RUNS + 1; }),
                "block 2: run or page count out of range");
  CHECK_REFUSED(with_entry(1, [](ckpt_index_entry& e) { e.data_pages = CKPT_MAX_BLOCK_DATA_PAGES + 1; }),
                "block 1: run or page count out of range");
  CHECK_REFUSED(with_entry(2, [](ckpt_index_entry& e) { e.data_pages -= 1; }),
                "page count in the footer does not match the index");
  CHECK_REFUSED(open_crafted(dir,
                             [](ImageBytes& b) {
                               ckpt_footer f = b.footer();
                               f.data_pages += 1;
                               b.set_footer(f);
                             }),
                "page count in the footer does not match the index");
}

TEST_CASE("open: bytes between the manifest and an empty index") {
  TempDir dir;
  // A manifest with trailing whitespace is valid JSON; shortening the
  // manifest by that byte (size and checksum rewritten) leaves one byte
  // between the manifest and the (empty) block index.
  const std::string path = dir.file("gap.img");
  write_image(path, manifest_to_json(sample_state()) + "\n", {});
  REQUIRE(open_error(path) == "");
  ImageBytes b = ImageBytes::load(path);
  ckpt_file_header h = b.header();
  h.manifest_size -= 1;
  h.manifest_hash = xxh64(b.bytes().data() + h.manifest_offset, h.manifest_size);
  b.set_header(h);
  b.rehash_file();
  b.save(path);
  CHECK_REFUSED(open_error(path), "unexpected bytes between manifest and index");
}
