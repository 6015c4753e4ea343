// Semantic checks of a manifest, run before anything is restored.
#include <sys/mman.h>

#include <cstdio>
#include <set>

#include "image_reader.h"

namespace ckpt {

namespace {
constexpr uint64_t kUserSpaceEnd = 1ULL << 47;
constexpr uint64_t kPage = CKPT_PAGE_SIZE;

[[noreturn]] void bad(const std::string& what) { throw ImageError("manifest: " + what); }

std::string hex(uint64_t v) {
  char b[24];
  snprintf(b, sizeof b, "%#llx", (unsigned long long)v);
  return b;
}

bool is_file_kind(RegionKind k) { return k == RegionKind::FilePrivate || k == RegionKind::FileShared; }
}  // namespace

void validate_process_state(const ProcessState& st) {
  if (st.threads.empty()) bad("no threads");
  int coordinators = 0;
  std::set<int32_t> tids;
  for (size_t i = 0; i < st.threads.size(); i++) {
    const ThreadState& t = st.threads[i];
    std::string where = "threads[" + std::to_string(i) + "]: ";
    if (!tids.insert(t.tid).second) bad(where + "duplicate tid " + std::to_string(t.tid));
    coordinators += t.coordinator;
    if (t.resume.rip == 0 || t.resume.rsp == 0 || t.resume.rsp % 8 || t.resume.rsp >= kUserSpaceEnd ||
        t.resume.rip >= kUserSpaceEnd)
      bad(where + "resume context is invalid");
    if (t.fs_base >= kUserSpaceEnd || t.robust_list >= kUserSpaceEnd || t.rseq_area >= kUserSpaceEnd ||
        t.clear_child_tid >= kUserSpaceEnd)
      bad(where + "a per-thread pointer lies outside user space");
    if (t.rseq_area && (t.rseq_len < 32 || t.rseq_len > 4096 || t.rseq_area % 32))
      bad(where + "invalid rseq registration");
    if (t.resume.mxcsr & ~0xffffu) bad(where + "invalid mxcsr");
  }
  if (coordinators != 1) bad("exactly one thread must be the coordinator");
  if (!tids.count(st.pid) && !st.leader_exited) bad("no thread has the process id as its tid");
  if (tids.count(st.pid) && st.leader_exited) bad("the main thread is recorded as exited and as a thread");

  uint64_t prev_end = 0;
  for (size_t i = 0; i < st.regions.size(); i++) {
    const Region& g = st.regions[i];
    std::string where = "regions[" + std::to_string(i) + "] (" + g.name + "): ";
    if (g.start % kPage || g.end % kPage || g.start >= g.end) bad(where + "not page-aligned or empty");
    if (g.start < prev_end) bad(where + "overlaps the previous region or is out of order");
    if (g.end > kUserSpaceEnd && g.kind != RegionKind::Vsyscall) bad(where + "lies outside user space");
    if (g.prot & ~uint32_t(PROT_READ | PROT_WRITE | PROT_EXEC)) bad(where + "invalid protection");
    if (is_file_kind(g.kind) != (g.file >= 0)) bad(where + "file reference does not match its kind");
    if (g.file >= int64_t(st.files.size())) bad(where + "file index out of range");
    if (g.offset % kPage) bad(where + "file offset not page-aligned");
    if (g.pages_saved && !(g.kind == RegionKind::Anonymous || g.kind == RegionKind::SharedAnon ||
                           g.kind == RegionKind::FilePrivate))
      bad(where + "pages saved for a region kind that cannot hold them");
    if (g.libckpt_internal && g.pages_saved) bad(where + "libckpt scratch memory cannot carry pages");
    if (g.kind != RegionKind::Vsyscall) prev_end = g.end;
  }

  prev_end = 0;
  for (auto& [s, e] : st.excluded)
    if (s % kPage || e % kPage || s >= e || s < prev_end || e > kUserSpaceEnd) bad("excluded: invalid or unsorted range");
    else prev_end = e;

  const VdsoLayout& v = st.vdso;
  if (v.vdso_start) {
    if (v.vvar_start >= v.vvar_end || v.vdso_start >= v.vdso_end || v.vvar_end > v.vdso_start ||
        (v.vclock_start && (v.vclock_start < v.vvar_end || v.vclock_end > v.vdso_start)))
      bad("vdso/vvar layout is inconsistent");
  }
  // The [vvar], [vvar_vclock] and [vdso] regions are the ones the vdso
  // layout names (restore moves the host's there): no more, no fewer.
  for (const Region& g : st.regions) {
    uint64_t want_start = 0, want_end = 0;
    if (g.kind == RegionKind::Vdso) want_start = v.vdso_start, want_end = v.vdso_end;
    else if (g.kind == RegionKind::Vvar) want_start = v.vvar_start, want_end = v.vvar_end;
    else if (g.kind == RegionKind::VvarVclock) want_start = v.vclock_start, want_end = v.vclock_end;
    else continue;
    if (!v.vdso_start || g.start != want_start || g.end != want_end)
      bad("regions: " + g.name + " at " + hex(g.start) + " does not match the vdso layout");
  }
  if (v.vdso_start) {
    auto present = [&](RegionKind k) {
      for (const Region& g : st.regions)
        if (g.kind == k) return true;
      return false;
    };
    if (!present(RegionKind::Vdso) || !present(RegionKind::Vvar) ||
        (v.vclock_start && !present(RegionKind::VvarVclock)))
      bad("vdso layout names a [vdso], [vvar] or [vvar_vclock] region the image does not have");
  }

  // Private file mappings are mapped again from their files: every page must
  // lie within the file (a page beyond its end raises SIGBUS when touched, and
  // could not have held data in the checkpointed process either).
  for (size_t i = 0; i < st.regions.size(); i++) {
    const Region& g = st.regions[i];
    if (g.kind != RegionKind::FilePrivate || g.file < 0 || g.file >= int64_t(st.files.size())) continue;
    uint64_t file_pages_end = (st.files[size_t(g.file)].size + kPage - 1) / kPage * kPage;
    if (g.offset > file_pages_end || g.end - g.start > file_pages_end - g.offset)
      bad("regions[" + std::to_string(i) + "] (" + g.name + "): maps offset " + hex(g.offset) + " + " +
          hex(g.end - g.start) + " beyond the end of its file (" + std::to_string(st.files[size_t(g.file)].size) +
          " bytes)");
  }

  // Per-thread pointers the restored threads use at once must point into the
  // image's memory: the TLS block (fs base), the rseq area, the stack and
  // code they resume on.
  auto region_of = [&](uint64_t addr) -> const Region* {
    for (const Region& g : st.regions)
      if (addr >= g.start && addr < g.end) return &g;
    return nullptr;
  };
  auto writable = [&](uint64_t addr, uint64_t len) {
    const Region* g = region_of(addr);
    return g && (g->prot & (PROT_READ | PROT_WRITE)) == (PROT_READ | PROT_WRITE) && len <= g->end - addr;
  };
  for (size_t i = 0; i < st.threads.size(); i++) {
    const ThreadState& t = st.threads[i];
    std::string where = "threads[" + std::to_string(i) + "]: ";
    if (t.fs_base && !writable(t.fs_base, 8))
      bad(where + "fs base " + hex(t.fs_base) + " is not in a writable region of the image");
    if (t.rseq_area && !writable(t.rseq_area, t.rseq_len))
      bad(where + "rseq area " + hex(t.rseq_area) + " is not in a writable region of the image");
    if (!writable(t.resume.rsp - 8, 8))
      bad(where + "stack pointer " + hex(t.resume.rsp) + " is not in a writable region of the image");
    const Region* code = region_of(t.resume.rip);
    if (!code || !(code->prot & PROT_EXEC))
      bad(where + "resume address " + hex(t.resume.rip) + " is not in an executable region of the image");
  }

  if (st.exe_file < -1 || st.exe_file >= int64_t(st.files.size())) bad("exe_file: file index out of range");
  for (size_t i = 0; i < st.files.size(); i++)
    if (st.files[i].path.empty() || st.files[i].path[0] != '/')
      bad("files[" + std::to_string(i) + "]: path is not absolute");
  for (size_t i = 0; i < st.blobs.size(); i++)
    if (st.blobs[i].id != i) bad("blobs[" + std::to_string(i) + "]: ids must be 0, 1, 2, ...");
  for (size_t i = 0; i < st.open_files.size(); i++) {
    const OpenFile& f = st.open_files[i];
    std::string where = "open_files[" + std::to_string(i) + "]: ";
    if (f.file >= int64_t(st.files.size())) bad(where + "file index out of range");
    if (f.blob >= int64_t(st.blobs.size())) bad(where + "blob index out of range");
    if (f.deleted && f.blob < 0) bad(where + "a deleted file without saved contents");
  }
  std::set<int32_t> fds;
  for (size_t i = 0; i < st.fds.size(); i++) {
    const FdState& d = st.fds[i];
    std::string where = "fds[" + std::to_string(i) + "]: ";
    if (!fds.insert(d.fd).second) bad(where + "duplicate fd " + std::to_string(d.fd));
    if (d.open_file < 0 || d.open_file >= int64_t(st.open_files.size())) bad(where + "open file index out of range");
  }
  for (const PendingSignal& p : st.pending_signals)
    if (p.siginfo.size() != 256) bad("pending_signals: siginfo must be 128 bytes");
  std::set<int32_t> sigs;
  for (const SignalAction& s : st.signals)
    if (!sigs.insert(s.signo).second || s.signo == 9 || s.signo == 19)
      bad("signals: duplicate or unchangeable signal " + std::to_string(s.signo));
  const MmFields& m = st.mm;
  if (m.auxv.size() % 2) bad("mm.auxv has an odd number of words");
  if (m.start_brk > m.brk || m.arg_start > m.arg_end || m.env_start > m.env_end)
    bad("mm fields are out of order");
  if (st.cwd.empty() || st.cwd[0] != '/') bad("cwd is not absolute");
}

}  // namespace ckpt
