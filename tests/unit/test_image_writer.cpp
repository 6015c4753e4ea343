// FdSink and ImageWriter on their own: buffering and hashing, run ordering
// rules, block limits, write errors, custom zstd allocator, and page counts
// that do not fit the 32-bit fields of a block.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "common/xxhash64.h"
#include "image/image_reader.h"
#include "image/manifest.h"
#include "image_test_util.h"

using namespace ckpt;
using namespace ckpt::test;

namespace {

// An open file in a TempDir, closed at the end of the scope.
struct OutFile {
  explicit OutFile(const std::string& p) : path(p), fd(open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) {
    REQUIRE(fd >= 0);
  }
  ~OutFile() { close(fd); }
  std::string path;
  int fd;
};

std::vector<unsigned char> pages(uint64_t addr, uint32_t n) {
  std::vector<unsigned char> b(size_t(n) * kPage);
  for (uint32_t i = 0; i < n; i++) fill_page(addr + i * kPage, b.data() + i * kPage, Fill::Compressible);
  return b;
}

// All runs of an image, in file order.
std::vector<ckpt_run> image_runs(const ImageReader& img) {
  std::vector<ckpt_run> out;
  Block b;
  for (size_t i = 0; i < img.index().size(); i++) {
    img.read_block(i, b);
    out.insert(out.end(), b.runs.begin(), b.runs.end());
  }
  return out;
}

}  // namespace

TEST_CASE("FdSink: writes every byte in order through any buffer size, and hashes them") {
  TempDir dir;
  std::vector<unsigned char> src(300000);
  for (size_t i = 0; i < src.size(); i++) src[i] = (unsigned char)(i * 7 + i / 1000);
  for (size_t buffer : {size_t(0), size_t(1), size_t(10), size_t(4096), size_t(1 << 20)}) {
    CAPTURE(buffer);
    OutFile f(dir.file("sink"));
    {
      FdSink sink(f.fd, buffer);
      size_t off = 0, k = 0;
      const size_t sizes[] = {1, 0, 9, 10, 11, 4095, 4096, 4097, 70000, 3};
      while (off < src.size()) {
        size_t n = std::min(sizes[k++ % 10], src.size() - off);
        REQUIRE(sink.write(src.data() + off, n));
        off += n;
        CHECK(sink.offset() == off);
      }
      REQUIRE(sink.flush());
      CHECK(sink.error() == 0);
      CHECK(sink.hash() == xxh64(src.data(), src.size()));
    }
    CHECK(read_file(f.path) == src);
  }
}

TEST_CASE("FdSink: a write error is reported with its errno and is sticky") {
  int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  FdSink sink(fd, 16);
  char buf[64] = {};
  CHECK(sink.write(buf, 8));   // buffered
  CHECK(!sink.write(buf, 64)); // fills the buffer and flushes: ENOSPC
  CHECK(sink.error() == ENOSPC);
  CHECK(!sink.write(buf, 1));
  CHECK(!sink.flush());
  CHECK(sink.error() == ENOSPC);
  close(fd);

  FdSink bad(-1, 0);
  CHECK(!bad.write(buf, 1));
  CHECK(bad.error() == EBADF);
}

TEST_CASE("ImageWriter: runs out of order, unaligned, empty or overlapping are refused") {
  TempDir dir;
  const std::string manifest = manifest_to_json(sample_state());
  auto data = pages(kHeapStart, 4);

  auto fresh = [&](auto&& body) {
    OutFile f(dir.file("w.img"));
    FdSink sink(f.fd, 1 << 16);
    ImageWriter w(sink, 1);
    REQUIRE(w.begin(sample_header(), manifest));
    body(w);
  };

  SUBCASE("decreasing address") {
    fresh([&](ImageWriter& w) {
      REQUIRE(w.add_data(kHeapStart + 8 * kPage, data.data(), 1));
      CHECK(!w.add_data(kHeapStart, data.data(), 1));
      CHECK(w.error() == EINVAL);
      CHECK(std::string(w.error_text()) == "page runs out of order");
      // Errors are sticky: nothing more is accepted, the image is never finished.
      CHECK(!w.add_zero(kHeapStart + 20 * kPage, 1));
      CHECK(!w.add_data(kHeapStart + 30 * kPage, data.data(), 1));
      CHECK(!w.finish());
      CHECK(std::string(w.error_text()) == "page runs out of order");
    });
  }
  SUBCASE("overlap with the previous run") {
    fresh([&](ImageWriter& w) {
      REQUIRE(w.add_zero(kHeapStart, 4));
      CHECK(!w.add_data(kHeapStart + 3 * kPage, data.data(), 1));
      CHECK(w.error() == EINVAL);
    });
  }
  SUBCASE("unaligned address") {
    fresh([&](ImageWriter& w) {
      CHECK(!w.add_data(kHeapStart + 8, data.data(), 1));
      CHECK(w.error() == EINVAL);
    });
    fresh([&](ImageWriter& w) {
      CHECK(!w.add_zero(kHeapStart + 2048, 1));
      CHECK(w.error() == EINVAL);
    });
  }
  SUBCASE("empty zero run") {
    fresh([&](ImageWriter& w) {
      CHECK(!w.add_zero(kHeapStart, 0));
      CHECK(w.error() == EINVAL);
    });
  }
}

TEST_CASE("ImageWriter: write errors name the failed step and carry errno") {
  const std::string manifest = manifest_to_json(sample_state());
  int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  SUBCASE("header, small buffer") {
    FdSink sink(fd, 64);
    ImageWriter w(sink, 1);
    CHECK(!w.begin(sample_header(), manifest));
    CHECK(w.error() == ENOSPC);
    CHECK(std::string(w.error_text()) == "cannot write the image header");
  }
  SUBCASE("everything buffered until the footer") {
    FdSink sink(fd, 8 << 20);
    ImageWriter w(sink, 1);
    REQUIRE(w.begin(sample_header(), manifest));
    auto data = pages(kHeapStart, 2);
    REQUIRE(w.add_data(kHeapStart, data.data(), 2));
    CHECK(!w.finish());
    CHECK(w.error() == ENOSPC);
    CHECK(std::string(w.error_text()) == "cannot write the footer");
  }
  close(fd);
}

TEST_CASE("ImageWriter: block limits of 256 runs and 256 data pages") {
  TempDir dir;
  const ProcessState st = sample_state();
  auto blocks_for = [&](const std::vector<RunSpec>& runs) {
    write_image(dir.file("lim.img"), st, runs);
    ImageReader img(dir.file("lim.img"));
    REQUIRE_NOTHROW(img.verify_pages());
    return img.index();
  };
  auto alternating = [](size_t n) {
    std::vector<RunSpec> r;
    for (size_t k = 0; k < n; k++)
      r.push_back({kShmStart + k * kPage, 1, k % 2 ? uint32_t(CKPT_RUN_ZERO) : uint32_t(CKPT_RUN_DATA)});
    return r;
  };
  CHECK(blocks_for(alternating(256)).size() == 1);
  auto two = blocks_for(alternating(257));
  REQUIRE(two.size() == 2);
  CHECK(two[0].nruns == 256);
  CHECK(two[1].nruns == 1);
  CHECK(two[1].first_addr == kShmStart + 256 * kPage);

  CHECK(blocks_for({{kHeapStart, 256, CKPT_RUN_DATA}}).size() == 1);
  auto split = blocks_for({{kHeapStart, 200, CKPT_RUN_DATA}, {kHeapStart + 200 * kPage, 57, CKPT_RUN_DATA}});
  REQUIRE(split.size() == 2);
  CHECK(split[0].data_pages == 256);
  CHECK(split[0].nruns == 1);  // the two contiguous calls were merged into one run
  CHECK(split[0].end_addr == kHeapStart + 256 * kPage);
  CHECK(split[1].data_pages == 1);
  CHECK(split[1].first_addr == kHeapStart + 256 * kPage);

  // Zero runs do not count against the data page limit.
  auto zeros = blocks_for({{kShmStart, 1000, CKPT_RUN_ZERO}, {kShmStart + 1000 * kPage, 24, CKPT_RUN_DATA}});
  CHECK(zeros.size() == 1);
}

namespace {
size_t g_allocs = 0, g_frees = 0;
void* counting_alloc(void*, size_t n) {
  g_allocs++;
  return malloc(n);
}
void counting_free(void*, void* p) {
  if (p) g_frees++;
  free(p);
}
}  // namespace

TEST_CASE("ImageWriter: zstd allocations go through the given allocator") {
  TempDir dir;
  const std::string path = dir.file("alloc.img");
  g_allocs = g_frees = 0;
  ZSTD_customMem mem{counting_alloc, counting_free, nullptr};
  {
    OutFile f(path);
    FdSink sink(f.fd, 1 << 16);
    ImageWriter w(sink, 3, &mem);
    REQUIRE(w.begin(sample_header(), manifest_to_json(sample_state())));
    auto data = pages(kHeapStart, 300);
    REQUIRE(w.add_data(kHeapStart, data.data(), 300));
    REQUIRE(w.finish());
    CHECK(w.stats().blocks == 2);
    CHECK(w.stats().bytes == sink.offset());
  }
  CHECK(g_allocs > 0);
  CHECK(g_frees == g_allocs);
  ImageReader img(path);
  CHECK_NOTHROW(img.verify_pages());
}

TEST_CASE("ImageWriter: pages from one contiguous buffer, scattered buffers, or both") {
  // add_data compresses a block's pages straight from the caller's memory
  // while consecutive calls pass consecutive memory, and gathers them into a
  // copy once they do not; every combination must store the same pages.
  TempDir dir;
  const std::string path = dir.file("src.img");
  const ProcessState st = sample_state();
  const uint64_t base = kHeapStart;
  auto all = pages(base, 400);  // page k of the heap at all[k * kPage]
  auto page = [&](uint64_t k) { return all.data() + k * kPage; };
  std::vector<std::vector<unsigned char>> copies;  // scattered sources, alive until finish()
  auto scattered = [&](uint64_t k, uint32_t n) {
    copies.emplace_back(page(k), page(k) + n * kPage);
    return copies.back().data();
  };
  SUBCASE("contiguous source in pieces, across the block boundary") {
    OutFile f(path);
    FdSink sink(f.fd, 1 << 16);
    ImageWriter w(sink, 1);
    REQUIRE(w.begin(sample_header(), manifest_to_json(st)));
    REQUIRE(w.add_data(base, page(0), 100));
    REQUIRE(w.add_zero(base + 100 * kPage, 10));  // the source stays contiguous: pages 100.. follow
    REQUIRE(w.add_data(base + 110 * kPage, page(100), 200));
    REQUIRE(w.finish());
  }
  SUBCASE("scattered sources") {
    OutFile f(path);
    FdSink sink(f.fd, 1 << 16);
    ImageWriter w(sink, 1);
    REQUIRE(w.begin(sample_header(), manifest_to_json(st)));
    REQUIRE(w.add_data(base, scattered(0, 100), 100));
    REQUIRE(w.add_zero(base + 100 * kPage, 10));
    REQUIRE(w.add_data(base + 110 * kPage, scattered(100, 200), 200));
    REQUIRE(w.finish());
  }
  SUBCASE("contiguous, then scattered within the same block") {
    OutFile f(path);
    FdSink sink(f.fd, 1 << 16);
    ImageWriter w(sink, 1);
    REQUIRE(w.begin(sample_header(), manifest_to_json(st)));
    REQUIRE(w.add_data(base, page(0), 50));
    REQUIRE(w.add_data(base + 50 * kPage, page(50), 50));    // contiguous
    REQUIRE(w.add_zero(base + 100 * kPage, 10));
    REQUIRE(w.add_data(base + 110 * kPage, scattered(100, 30), 30));  // not: gathered from here
    REQUIRE(w.add_data(base + 140 * kPage, page(130), 170));
    REQUIRE(w.finish());
  }
  ImageReader img(path);
  REQUIRE_NOTHROW(img.verify_pages());
  BlockDecompressor dz;
  Block b;
  std::vector<unsigned char> out;
  uint64_t k = 0;  // source page expected next
  size_t wrong = 0;
  for (size_t i = 0; i < img.index().size(); i++) {
    img.read_block(i, b);
    out.resize(size_t(b.data_pages) * kPage);
    dz.begin(b);
    dz.into(out.data(), out.size());
    dz.end();
    for (size_t p = 0; p < b.data_pages; p++, k++) wrong += memcmp(out.data() + p * kPage, page(k), kPage) != 0;
  }
  CHECK(k == 300);
  CHECK(wrong == 0);
  CHECK(img.footer().data_pages == 300);
  CHECK(img.footer().zero_pages == 10);
}

TEST_CASE("ImageWriter: a transient buffer may be reused as soon as add_data returns") {
  // Without `transient` the writer reads the pages when it compresses the
  // block (image_writer.h); with it they are copied at once.
  TempDir dir;
  const std::string path = dir.file("reuse.img");
  {
    OutFile f(path);
    FdSink sink(f.fd, 1 << 16);
    ImageWriter w(sink, 1);
    REQUIRE(w.begin(sample_header(), manifest_to_json(sample_state())));
    std::vector<unsigned char> buf(2 * kPage);
    for (uint64_t k = 0; k < 300; k += 2) {  // one buffer, refilled for every run; crosses a block
      fill_page(kHeapStart + 2 * k * kPage, buf.data(), Fill::Compressible);
      fill_page(kHeapStart + (2 * k + 1) * kPage, buf.data() + kPage, Fill::Compressible);
      REQUIRE(w.add_data(kHeapStart + 2 * k * kPage, buf.data(), 2, /*transient=*/true));
    }
    memset(buf.data(), 0xee, buf.size());  // the caller is done with its buffer
    REQUIRE(w.finish());
  }
  ImageReader img(path);
  REQUIRE_NOTHROW(img.verify_pages());
  Block b;
  BlockDecompressor dz;
  std::vector<unsigned char> out, want(kPage);
  size_t pages_read = 0, wrong = 0;
  for (size_t i = 0; i < img.index().size(); i++) {
    img.read_block(i, b);
    out.resize(size_t(b.data_pages) * kPage);
    dz.begin(b);
    dz.into(out.data(), out.size());
    dz.end();
    size_t at = 0;
    for (const ckpt_run& r : b.runs)
      for (uint32_t p = 0; p < r.npages; p++, at++, pages_read++) {
        fill_page(r.addr + p * kPage, want.data(), Fill::Compressible);
        wrong += memcmp(out.data() + at * kPage, want.data(), kPage) != 0;
      }
  }
  CHECK(pages_read == 300);
  CHECK(wrong == 0);
}

// Run and block page counts are 32-bit: the writer starts a new run or block
// before one would wrap (a 16 TiB sparse reservation).
TEST_CASE("ImageWriter: zero runs totalling 2^32 pages or more") {
  TempDir dir;
  const std::string path = dir.file("huge.img");
  constexpr uint64_t kBase = 0x100000000000ULL;
  constexpr uint64_t kPages = (1ULL << 32) + 4;
  ProcessState st = sample_state();
  Region big;
  big.start = kBase;
  big.end = kBase + kPages * kPage;
  big.prot = 3;
  big.kind = RegionKind::Anonymous;
  big.name = "huge reservation";
  big.pages_saved = true;
  // After the scratch region, before the stack.
  auto it = st.regions.begin();
  while (it != st.regions.end() && it->start < kBase) ++it;
  st.regions.insert(it, big);
  REQUIRE_NOTHROW(validate_process_state(st));

  std::vector<RunSpec> runs;
  SUBCASE("contiguous zero runs merged past UINT32_MAX pages") {
    runs = {{kBase, 0xffffffffu, CKPT_RUN_ZERO}, {kBase + 0xffffffffULL * kPage, 2, CKPT_RUN_ZERO}};
  }
  SUBCASE("separate zero runs whose block total passes UINT32_MAX") {
    runs = {{kBase, 0x80000000u, CKPT_RUN_ZERO}, {kBase + 0x80000001ULL * kPage, 0x80000000u, CKPT_RUN_ZERO}};
  }
  uint64_t want = 0;
  for (auto& r : runs) want += r.npages;
  const WriterStats ws = write_image(path, st, runs);
  CHECK(ws.zero_pages == want);
  std::string err = open_and_verify_error(path);
  CHECK_MESSAGE(err.empty(), err);
  if (err.empty()) {
    ImageReader img(path);
    uint64_t got = 0;
    for (const ckpt_run& r : image_runs(img)) got += r.npages;
    CHECK(got == want);  // every zero page the writer was given is in the image
    CHECK(img.footer().zero_pages == got);
  }
}

namespace {

// std::thread helpers for the parallel writer (libckpt uses bare threads).
struct StdThreads : ThreadStarter {
  std::vector<std::thread> threads;
  bool start(void (*fn)(void*), void* arg) override {
    threads.emplace_back(fn, arg);
    return true;
  }
  void join_all() override {
    for (std::thread& t : threads) t.join();
    threads.clear();
  }
};

// Writes the same page sequence (contiguous, scattered, transient, zero and
// parent runs, over many blocks) with `helpers` compression threads.
std::vector<unsigned char> write_mixed(TempDir& dir, const std::string& manifest, unsigned helpers) {
  OutFile f(dir.file("mixed-" + std::to_string(helpers) + ".img"));
  auto big = pages(kHeapStart, 3000);
  std::vector<unsigned char> reused(8 * kPage);
  {
    StdThreads threads;
    FdSink sink(f.fd, 1 << 16);
    ImageWriter w(sink, 1, nullptr, helpers ? &threads : nullptr, helpers);
    CHECK(w.helpers() == helpers);
    ckpt_file_header h = sample_header();
    h.flags |= CKPT_HDR_INCREMENTAL;  // it has parent runs
    h.parent.image_id[0] = 1;
    strcpy(h.parent.file_name, "parent.img");
    REQUIRE(w.begin(h, manifest));
    uint64_t addr = kHeapStart;
    for (uint32_t i = 0; i < 3000;) {
      uint32_t n = 1 + (i * 7) % 300;
      if (i + n > 3000) n = 3000 - i;
      if (i % 5 == 0) {  // a reused buffer: copied at once
        for (uint32_t k = 0; k < n; k += 8) {
          uint32_t m = std::min(8u, n - k);
          memcpy(reused.data(), big.data() + size_t(i + k) * kPage, size_t(m) * kPage);
          REQUIRE(w.add_data(addr + uint64_t(i + k) * kPage, reused.data(), m, true));
          memset(reused.data(), 0xAB, reused.size());
        }
      } else {
        REQUIRE(w.add_data(addr + uint64_t(i) * kPage, big.data() + size_t(i) * kPage, n));
      }
      i += n;
      if (i % 3 == 0) {  // a gap, then zero and parent runs
        addr += 16 * kPage;
        REQUIRE(w.add_zero(addr + uint64_t(i) * kPage - 16 * kPage, 8));
        REQUIRE(w.add_parent(addr + uint64_t(i) * kPage - 8 * kPage, 8));
      }
    }
    REQUIRE(w.finish());
  }
  return read_file(f.path);
}

}  // namespace

TEST_CASE("ImageWriter: compression threads write exactly the image one thread writes") {
  TempDir dir;
  ProcessState st = sample_state();
  for (Region& r : st.regions)
    if (r.start == kHeapStart) r.end = kHeapStart + 8000 * kPage;  // room for 3000 pages and gaps
  const std::string manifest = manifest_to_json(st);
  std::vector<unsigned char> serial = write_mixed(dir, manifest, 0);
  for (unsigned helpers : {1u, 3u}) {
    CAPTURE(helpers);
    CHECK(write_mixed(dir, manifest, helpers) == serial);
  }
  ImageReader img(dir.file("mixed-3.img"));
  img.verify_pages();
  CHECK(img.index().size() > 10);
}

TEST_CASE("ImageWriter: a write error with compression threads running is reported, and nothing hangs") {
  TempDir dir;
  int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  auto data = pages(kHeapStart, 2048);
  StdThreads threads;
  FdSink sink(fd, 1 << 16);
  {
    ImageWriter w(sink, 1, nullptr, &threads, 2);
    bool ok = w.begin(sample_header(), manifest_to_json(sample_state()));
    for (uint32_t i = 0; ok && i < 2048; i += 64) ok = w.add_data(kHeapStart + uint64_t(i) * kPage, data.data() + size_t(i) * kPage, 64);
    ok = ok && w.finish();
    CHECK(!ok);
    CHECK(w.error() == ENOSPC);
  }  // the destructor stops the helpers
  CHECK(threads.threads.empty());
  close(fd);
}
