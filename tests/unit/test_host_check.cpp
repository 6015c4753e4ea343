// Host checks shared by --check and --restore (launcher/host_check.cpp): a
// changed mapped file (ctime catches a rewrite with the mtime set back), the
// libckpt build id, the vdso's contents and layout, and who may restore.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "host_check.h"
#include "image/image_reader.h"
#include "image_test_util.h"
#include "program_check.h"

using namespace ckpt;
using namespace ckpt::test;

namespace {

// The FileRef capture would record for `path` now (hashed: with its content hash).
FileRef file_ref(const std::string& path, bool hashed) {
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  FileRef f;
  f.path = path;
  f.dev = st.st_dev;
  f.ino = st.st_ino;
  f.size = uint64_t(st.st_size);
  f.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  f.ctime_ns = int64_t(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  f.mode = st.st_mode;
  f.hashed = hashed;
  if (hashed) {
    auto bytes = read_file(path);
    f.content_hash = xxh64(bytes.data(), bytes.size());
  }
  return f;
}

// Rewrites one byte of `path` in place and sets its mtime back to what it was.
void patch_in_place_keep_mtime(const std::string& path, off_t where, char byte) {
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  // ctime has a clock tick's resolution: make sure it moves.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  int fd = open(path.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  REQUIRE(pwrite(fd, &byte, 1, where) == 1);
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  REQUIRE(futimens(fd, times) == 0);
  close(fd);
}

bool any_contains(const std::vector<std::string>& v, const std::string& needle) {
  return std::any_of(v.begin(), v.end(), [&](const std::string& s) { return contains(s, needle); });
}

}  // namespace

TEST_CASE("host check: an unchanged file passes") {
  TempDir dir;
  write_file(dir.file("lib.so"), std::string(10000, 'a'));
  CHECK(file_problem(file_ref(dir.file("lib.so"), true)) == "");
  CHECK(file_problem(file_ref(dir.file("lib.so"), false)) == "");
}

TEST_CASE("host check: a library rewritten in place with its mtime set back is refused") {
  TempDir dir;
  const std::string lib = dir.file("lib.so");
  write_file(lib, std::string(10000, 'a'));
  FileRef f = file_ref(lib, true);
  patch_in_place_keep_mtime(lib, 5000, 'b');
  struct stat st;
  REQUIRE(stat(lib.c_str(), &st) == 0);
  REQUIRE(int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec == f.mtime_ns);  // same inode, size, mtime
  CHECK(file_problem(f) == lib + " changed since the checkpoint (content differs)");
  // Restored content: the hash decides, whatever ctime says.
  patch_in_place_keep_mtime(lib, 5000, 'a');
  CHECK(file_problem(f) == "");
  // An image without ctime (older) always hashes.
  f.ctime_ns = 0;
  CHECK(file_problem(f) == "");
  patch_in_place_keep_mtime(lib, 0, 'z');
  CHECK(file_problem(f) == lib + " changed since the checkpoint (content differs)");
}

TEST_CASE("host check: files without a content hash keep size, mtime and inode") {
  TempDir dir;
  const std::string data = dir.file("data.bin");
  write_file(data, std::string(100, 'x'));
  FileRef f = file_ref(data, false);
  write_file(data, std::string(101, 'x'));
  CHECK(contains(file_problem(f), "changed since the checkpoint (size 101, was 100)"));
  f = file_ref(data, false);
  f.mtime_ns -= 1000000000;
  CHECK(contains(file_problem(f), "modification time differs"));
  f = file_ref(data, false);
  f.ino += 1;
  CHECK(contains(file_problem(f), "was replaced since the checkpoint (different inode)"));
  // A hashed file copied to another inode with the same content is fine.
  FileRef h = file_ref(data, true);
  h.ino += 1;
  CHECK(file_problem(h) == "");
  // A missing file is named.
  FileRef gone = file_ref(data, true);
  gone.path = dir.file("missing");
  CHECK(file_problem(gone) == dir.file("missing") + ": No such file or directory");
}

TEST_CASE("host check: who may restore") {
  Credentials c;
  c.ruid = 1000;
  c.euid = 1000;
  CHECK(owner_problem(c, 1000, 1000) == "");
  CHECK(owner_problem(c, 0, 0) == "");        // root switches to the image's user
  CHECK(owner_problem(c, 1000, 0) == "");     // effective root
  CHECK(contains(owner_problem(c, 1001, 1001), "the image belongs to uid 1000"));
  c.euid = 1001;  // a setuid-like process: real 1000, effective 1001
  CHECK(contains(owner_problem(c, 1000, 1000), "belongs to uid 1000 (effective uid 1001)"));
  CHECK(owner_problem(c, 1000, 1001) == "");
}

TEST_CASE("host check: root gives a restored process no more than the image file's owner has") {
  Credentials c;
  c.ruid = c.euid = c.suid = c.fsuid = 1000;
  c.rgid = c.egid = c.sgid = c.fsgid = 1000;
  c.groups = {1000, 100};
  const std::vector<gid_t> member_of = {1000, 100, 27};
  CHECK(credentials_problem(c, 0, 1000, member_of) == "");
  CHECK(credentials_problem(c, 0, 0, {}) == "");           // a root-owned image is root's word
  CHECK(credentials_problem(c, 1000, 1000, {}) == "");     // not root: the kernel bounds the restore
  Credentials forged = c;
  forged.euid = 0;  // the owner edited the manifest to become root
  CHECK(contains(credentials_problem(forged, 0, 1000, member_of), "claims uid 0"));
  forged = c;
  forged.groups.push_back(42);  // shadow
  forged.fsgid = 6;             // disk
  std::string p = credentials_problem(forged, 0, 1000, member_of);
  CHECK(contains(p, "group 6"));
  CHECK(contains(p, "group 42"));
  CHECK(contains(p, "belongs to uid 1000"));
  forged = c;
  forged.cap_permitted = 1ull << 21;  // CAP_SYS_ADMIN
  CHECK(contains(credentials_problem(forged, 0, 1000, member_of), "capabilities"));
  // An owner the user database does not know: no group can be vouched for.
  CHECK(contains(credentials_problem(c, 0, 1000, {}), "not in the user database"));
}

namespace {

// An image of the sample state whose vdso is this host's (its layout and,
// unless `vdso_hash_delta`, its hash), written with `build_id`.
std::string host_image(const TempDir& dir, const std::vector<uint8_t>& build_id, uint64_t vdso_hash_delta,
                       uint64_t vdso_extra_pages = 0) {
  ProcessState st = sample_state();
  HostVdso hv = read_host_vdso();
  REQUIRE(hv.vdso_start != 0);
  st.vdso.vvar_start = hv.vvar_start;
  st.vdso.vvar_end = hv.vvar_end;
  st.vdso.vclock_start = hv.vclock_start;
  st.vdso.vclock_end = hv.vclock_end;
  st.vdso.vdso_start = hv.vdso_start;
  st.vdso.vdso_end = hv.vdso_end + vdso_extra_pages * kPage;
  st.vdso.vdso_hash = hv.hash + vdso_hash_delta;
  // The sample's vdso regions follow the layout (validate.cpp requires it);
  // the sample's vdso area lies above the host's in the address space.
  std::vector<Region> regions;
  for (const Region& g : st.regions) {
    Region r = g;
    if (g.kind == RegionKind::Vvar) r.start = st.vdso.vvar_start, r.end = st.vdso.vvar_end;
    else if (g.kind == RegionKind::VvarVclock) {
      if (!st.vdso.vclock_start) continue;
      r.start = st.vdso.vclock_start, r.end = st.vdso.vclock_end;
    } else if (g.kind == RegionKind::Vdso) r.start = st.vdso.vdso_start, r.end = st.vdso.vdso_end;
    regions.push_back(r);
  }
  std::sort(regions.begin(), regions.end(), [](const Region& a, const Region& b) {
    return (a.kind == RegionKind::Vsyscall) < (b.kind == RegionKind::Vsyscall) ||
           ((a.kind == RegionKind::Vsyscall) == (b.kind == RegionKind::Vsyscall) && a.start < b.start);
  });
  st.regions = regions;
  ckpt_file_header h = sample_header();
  memcpy(h.build_id, build_id.data(), build_id.size());
  h.build_id_len = uint32_t(build_id.size());
  WriteOptions opt;
  opt.header = &h;
  opt.fill = Fill::Compressible;
  std::string path = dir.file("host.img");
  write_image(path, st, compact_runs(), opt);
  return path;
}

}  // namespace

TEST_CASE("host check: libckpt build id and vdso") {
  TempDir dir;
  // This test binary stands in for libckpt.so: its build id is "ours".
  std::string self = "/proc/self/exe";
  std::vector<uint8_t> id;
  REQUIRE(read_build_id(self, id));
  REQUIRE(!id.empty());

  SUBCASE("same build and vdso: no build or vdso problem") {
    ImageReader img(host_image(dir, id, 0));
    auto problems = host_problems(img, self);
    INFO(problems.size());
    CHECK(!any_contains(problems, "libckpt build"));
    CHECK(!any_contains(problems, "vdso"));
  }
  SUBCASE("another build of libckpt is refused, naming both") {
    std::vector<uint8_t> other = id;
    other[0] ^= 0xff;
    ImageReader img(host_image(dir, other, 0));
    auto problems = host_problems(img, self);
    CHECK(any_contains(problems, "image was written by libckpt build " + hex_string(other.data(), other.size()) +
                                     ", this ckpt-run uses build " + hex_string(id.data(), id.size())));
  }
  SUBCASE("a vdso with other contents is refused") {
    ImageReader img(host_image(dir, id, 1));
    CHECK(any_contains(host_problems(img, self), "vdso contents differ"));
  }
  SUBCASE("a vdso of another size is refused") {
    ImageReader img(host_image(dir, id, 0, 1));
    CHECK(any_contains(host_problems(img, self), "vdso/vvar layout differs from this kernel's"));
  }
  SUBCASE("the owner rule is part of the host checks") {
    ImageReader img(host_image(dir, id, 0));
    bool root = geteuid() == 0;
    // The sample belongs to uid 1000 (effective 1001).
    CHECK(any_contains(host_problems(img, self), "the image belongs to uid 1000") == !root);
  }
}
