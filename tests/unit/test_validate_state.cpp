// validate_process_state: the semantic checks run on every manifest before
// anything is restored. Each case breaks one rule of the (valid) sample state
// and expects ImageError naming it.
#include <doctest/doctest.h>

#include "image/image_reader.h"
#include "image_test_util.h"

using namespace ckpt;
using namespace ckpt::test;

namespace {

std::string validate_error(const ProcessState& st) {
  try {
    validate_process_state(st);
    return "";
  } catch (const ImageError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("UNEXPECTED: ") + e.what();
  }
}

template <class F>
std::string broken(F change) {
  ProcessState st = sample_state();
  change(st);
  return validate_error(st);
}

#define CHECK_INVALID(change, phrase)              \
  do {                                             \
    const std::string e_ = broken(change);         \
    INFO("error: ", e_);                           \
    CHECK(e_.rfind("manifest: ", 0) == 0);         \
    CHECK(contains(e_, phrase));                   \
  } while (0)

}  // namespace

TEST_CASE("validate: the sample state is valid") {
  CHECK(validate_error(sample_state()) == "");
  // Also without the optional parts: no vdso, no files, no fds. (Regions are
  // not optional: a thread's stack, code and TLS must lie in them.)
  ProcessState st = sample_state();
  st.vdso = VdsoLayout{};
  std::vector<Region> regions;
  for (const Region& g : st.regions)
    if (g.kind == RegionKind::Anonymous || g.start == kTextStart) regions.push_back(g);
  for (Region& g : regions) g.file = -1, g.kind = RegionKind::Anonymous, g.offset = 0;
  st.regions = regions;
  st.fds.clear();
  st.open_files.clear();
  st.blobs.clear();
  st.pending_signals.clear();
  st.files.clear();
  st.exe_file = -1;
  st.signals.clear();
  st.threads.resize(1);
  CHECK(validate_error(st) == "");
}

TEST_CASE("validate: threads") {
  CHECK_INVALID([](ProcessState& s) { s.threads.clear(); }, "manifest: no threads");
  CHECK_INVALID([](ProcessState& s) { s.threads[1].tid = s.threads[0].tid; }, "threads[1]: duplicate tid 4242");
  CHECK_INVALID([](ProcessState& s) { s.threads[1].coordinator = true; },
                "exactly one thread must be the coordinator");
  CHECK_INVALID([](ProcessState& s) { s.threads[0].coordinator = false; },
                "exactly one thread must be the coordinator");
  CHECK_INVALID([](ProcessState& s) { s.threads[0].tid = 4243; }, "no thread has the process id as its tid");
  CHECK_INVALID([](ProcessState& s) { s.threads[0].resume.rip = 0; }, "threads[0]: resume context is invalid");
  CHECK_INVALID([](ProcessState& s) { s.threads[1].resume.rsp = 0; }, "threads[1]: resume context is invalid");
  CHECK_INVALID([](ProcessState& s) { s.threads[0].resume.rsp += 4; }, "threads[0]: resume context is invalid");
  CHECK_INVALID([](ProcessState& s) { s.threads[0].resume.rsp = 1ULL << 47; }, "resume context is invalid");
  CHECK_INVALID([](ProcessState& s) { s.threads[0].resume.rip = 0xffffffffff600000ULL; },
                "resume context is invalid");
  CHECK_INVALID([](ProcessState& s) { s.threads[0].fs_base = 1ULL << 47; },
                "threads[0]: a per-thread pointer lies outside user space");
  CHECK_INVALID([](ProcessState& s) { s.threads[1].robust_list = ~0ULL; }, "a per-thread pointer lies outside");
  CHECK_INVALID([](ProcessState& s) { s.threads[1].clear_child_tid = 1ULL << 63; }, "a per-thread pointer lies outside");
  CHECK_INVALID([](ProcessState& s) { s.threads[0].rseq_area = 1ULL << 47; }, "a per-thread pointer lies outside");
  CHECK_INVALID([](ProcessState& s) { s.threads[0].rseq_len = 16; }, "threads[0]: invalid rseq registration");
  CHECK_INVALID([](ProcessState& s) { s.threads[0].rseq_len = 8192; }, "invalid rseq registration");
  CHECK_INVALID([](ProcessState& s) { s.threads[0].rseq_area += 8; }, "invalid rseq registration");
  CHECK_INVALID([](ProcessState& s) { s.threads[0].resume.mxcsr = 0x10000; }, "threads[0]: invalid mxcsr");
  // An unregistered rseq area may have any length.
  CHECK(broken([](ProcessState& s) { s.threads[1].rseq_len = 3; }) == "");
}

TEST_CASE("validate: regions") {
  CHECK_INVALID([](ProcessState& s) { s.regions[2].start += 1; }, "regions[2] ([heap]): not page-aligned or empty");
  CHECK_INVALID([](ProcessState& s) { s.regions[2].end -= 16; }, "not page-aligned or empty");
  CHECK_INVALID([](ProcessState& s) { s.regions[2].end = s.regions[2].start; }, "not page-aligned or empty");
  CHECK_INVALID([](ProcessState& s) { s.regions[3].start = s.regions[2].end - kPage; },
                "regions[3] (/dev/zero (deleted)): overlaps the previous region or is out of order");
  CHECK_INVALID([](ProcessState& s) { std::swap(s.regions[3], s.regions[4]); }, "overlaps the previous region");
  CHECK_INVALID(
      [](ProcessState& s) {
        s.regions[6].start = 1ULL << 47;
        s.regions[6].end = (1ULL << 47) + kPage;
        s.regions.resize(7);
      },
      "regions[6] ([stack]): lies outside user space");
  CHECK_INVALID([](ProcessState& s) { s.regions[2].prot = 8; }, "regions[2] ([heap]): invalid protection");
  CHECK_INVALID([](ProcessState& s) { s.regions[2].file = 0; }, "regions[2] ([heap]): file reference does not match its kind");
  CHECK_INVALID([](ProcessState& s) { s.regions[0].file = -1; }, "file reference does not match its kind");
  CHECK_INVALID([](ProcessState& s) { s.regions[4].file = 3; }, "regions[4] (/data/shared file.bin): file index out of range");
  CHECK_INVALID([](ProcessState& s) { s.regions[1].offset = 0x2100; }, "file offset not page-aligned");
  CHECK_INVALID([](ProcessState& s) { s.regions[4].pages_saved = true; },
                "pages saved for a region kind that cannot hold them");
  CHECK_INVALID([](ProcessState& s) { s.regions[9].pages_saved = true; },
                "regions[9] ([vdso]): pages saved for a region kind that cannot hold them");
  CHECK_INVALID([](ProcessState& s) { s.regions[7].pages_saved = true; }, "pages saved for a region kind");
  CHECK_INVALID([](ProcessState& s) { s.regions[5].pages_saved = true; },
                "libckpt scratch memory cannot carry pages");
  // [vsyscall] lies above user space (the sample has one) but only it may.
  CHECK(broken([](ProcessState& s) { s.regions.back().kind = RegionKind::Anonymous; })
            .find("regions[10] ([vsyscall]): lies outside user space") != std::string::npos);
}

TEST_CASE("validate: vdso layout") {
  CHECK_INVALID([](ProcessState& s) { s.vdso.vvar_end = s.vdso.vvar_start; }, "vdso/vvar layout is inconsistent");
  CHECK_INVALID([](ProcessState& s) { s.vdso.vdso_end = s.vdso.vdso_start; }, "vdso/vvar layout is inconsistent");
  CHECK_INVALID([](ProcessState& s) { s.vdso.vvar_end = s.vdso.vdso_start + kPage; }, "vdso/vvar layout is inconsistent");
  CHECK_INVALID([](ProcessState& s) { s.vdso.vclock_start = s.vdso.vvar_end - kPage; },
                "vdso/vvar layout is inconsistent");
  CHECK_INVALID([](ProcessState& s) { s.vdso.vclock_end = s.vdso.vdso_start + kPage; },
                "vdso/vvar layout is inconsistent");
  // No [vvar_vclock] (older kernels) is fine.
  CHECK(broken([](ProcessState& s) {
          s.vdso.vclock_start = s.vdso.vclock_end = 0;
          s.regions.erase(s.regions.begin() + 8);
        }) == "");
  // The vdso regions and the layout agree (a forged vdso_start = 0 would skip
  // the host's vdso checks and leave the restored process without its vdso).
  CHECK_INVALID([](ProcessState& s) { s.vdso = VdsoLayout{}; },
                "regions: [vvar] at 0x7ffff7fc0000 does not match the vdso layout");
  CHECK_INVALID([](ProcessState& s) { s.vdso.vclock_start = s.vdso.vclock_end = 0; },
                "regions: [vvar_vclock] at 0x7ffff7fc4000 does not match the vdso layout");
  CHECK_INVALID([](ProcessState& s) { s.regions[9].end += kPage; }, "[vdso] at 0x7ffff7fc6000 does not match");
  CHECK_INVALID([](ProcessState& s) { s.regions.erase(s.regions.begin() + 9); },
                "vdso layout names a [vdso], [vvar] or [vvar_vclock] region the image does not have");
  CHECK_INVALID([](ProcessState& s) { s.regions.erase(s.regions.begin() + 7); },
                "vdso layout names a [vdso], [vvar] or [vvar_vclock] region");
}

TEST_CASE("validate: private file mappings lie within their files") {
  // files[0] is 0x3f00 bytes: 4 pages, mapped by regions 0 (offset 0) and 1 (0x2000).
  CHECK_INVALID([](ProcessState& s) { s.regions[1].offset = 0x3000; },
                "regions[1] (/usr/bin/prog): maps offset 0x3000 + 0x2000 beyond the end of its file (16128 bytes)");
  CHECK_INVALID([](ProcessState& s) { s.regions[0].offset = 0x7fff0000000; }, "beyond the end of its file");
  CHECK_INVALID([](ProcessState& s) { s.regions[0].offset = ~0ULL & ~(kPage - 1); }, "beyond the end of its file");
  CHECK_INVALID([](ProcessState& s) { s.files[0].size = 0x2000; }, "regions[1] (/usr/bin/prog): maps offset 0x2000");
  // The partial last page of a file is mapped whole.
  CHECK(broken([](ProcessState& s) { s.files[0].size = 0x3001; }) == "");
  // Shared file mappings are not checked (the file may grow to meet them).
  CHECK(broken([](ProcessState& s) { s.regions[4].offset = 0x100000; }) == "");
}

TEST_CASE("validate: thread pointers point into the image's memory") {
  CHECK_INVALID([](ProcessState& s) { s.threads[0].fs_base = 0x7ffff7d8a740; },
                "threads[0]: fs base 0x7ffff7d8a740 is not in a writable region of the image");
  // Read-only or read-execute memory cannot hold a TLS block.
  CHECK_INVALID([](ProcessState& s) { s.threads[1].fs_base = kTextStart + 0x100; },
                "threads[1]: fs base 0x400100 is not in a writable region");
  CHECK_INVALID([](ProcessState& s) { s.threads[0].rseq_area = kVvarStart; },
                "threads[0]: rseq area 0x7ffff7fc0000 is not in a writable region of the image");
  // The whole area lies in one region.
  CHECK_INVALID([](ProcessState& s) { s.threads[0].rseq_area = kHeapStart + kHeapPages * kPage - 32; s.threads[0].rseq_len = 64; },
                "rseq area");
  CHECK_INVALID([](ProcessState& s) { s.threads[1].resume.rsp = 0x7ffff7d00000; },
                "threads[1]: stack pointer 0x7ffff7d00000 is not in a writable region of the image");
  CHECK_INVALID([](ProcessState& s) { s.threads[1].resume.rsp = kStackStart; }, "stack pointer");
  CHECK_INVALID([](ProcessState& s) { s.threads[0].resume.rip = kHeapStart + 0x10; },
                "threads[0]: resume address 0x404010 is not in an executable region of the image");
  CHECK_INVALID([](ProcessState& s) { s.threads[0].resume.rip = 0x7ffff7f01234; }, "resume address");
  // A thread without fs base or rseq registration is fine.
  CHECK(broken([](ProcessState& s) {
          s.threads[1].fs_base = 0;
          s.threads[0].rseq_area = 0;
          s.threads[0].rseq_len = 0;
        }) == "");
}

TEST_CASE("validate: files, fds, signals, mm fields, cwd") {
  CHECK_INVALID([](ProcessState& s) { s.files[1].path = "data/x"; }, "files[1]: path is not absolute");
  CHECK_INVALID([](ProcessState& s) { s.files[0].path = ""; }, "files[0]: path is not absolute");
  CHECK_INVALID([](ProcessState& s) { s.fds[3].fd = 1; }, "fds[3]: duplicate fd 1");
  CHECK_INVALID([](ProcessState& s) { s.fds[1].open_file = 12; }, "fds[1]: open file index out of range");
  CHECK_INVALID([](ProcessState& s) { s.fds[2].open_file = -1; }, "fds[2]: open file index out of range");
  CHECK_INVALID([](ProcessState& s) { s.open_files[3].file = 3; }, "open_files[3]: file index out of range");
  CHECK_INVALID([](ProcessState& s) { s.open_files[2].blob = 3; }, "open_files[2]: blob index out of range");
  CHECK_INVALID([](ProcessState& s) { s.open_files[1].blob = -1; },
                "open_files[1]: a deleted file without saved contents");
  CHECK_INVALID([](ProcessState& s) { s.blobs[1].id = 2; }, "blobs[1]: ids must be 0, 1, 2, ...");
  CHECK_INVALID([](ProcessState& s) { s.pending_signals[1].siginfo.pop_back(); },
                "pending_signals: siginfo must be 128 bytes");
  CHECK_INVALID([](ProcessState& s) { s.signals[1].signo = 2; }, "signals: duplicate or unchangeable signal 2");
  CHECK_INVALID([](ProcessState& s) { s.signals[0].signo = 9; }, "unchangeable signal 9");
  CHECK_INVALID([](ProcessState& s) { s.signals[0].signo = 19; }, "unchangeable signal 19");
  CHECK_INVALID([](ProcessState& s) { s.mm.auxv.push_back(0); }, "mm.auxv has an odd number of words");
  CHECK_INVALID([](ProcessState& s) { s.mm.brk = s.mm.start_brk - 1; }, "mm fields are out of order");
  CHECK_INVALID([](ProcessState& s) { s.mm.arg_end = s.mm.arg_start - 1; }, "mm fields are out of order");
  CHECK_INVALID([](ProcessState& s) { s.mm.env_start = s.mm.env_end + 1; }, "mm fields are out of order");
  CHECK_INVALID([](ProcessState& s) { s.cwd = "relative/dir"; }, "cwd is not absolute");
  CHECK_INVALID([](ProcessState& s) { s.cwd = ""; }, "cwd is not absolute");
}

// exe_file indexes files[]: a crafted manifest must not index past its end.
TEST_CASE("validate: exe_file index out of range") {
  CHECK_INVALID([](ProcessState& s) { s.exe_file = 3; }, "file index out of range");
  CHECK_INVALID([](ProcessState& s) { s.exe_file = -7; }, "file index out of range");
}
