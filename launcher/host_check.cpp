#include "host_check.h"

#include <asm/prctl.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include "common/cpu_features.h"
#include "common/xxhash64.h"
#include "program_check.h"

namespace ckpt {

namespace {

bool hash_whole_file(const std::string& path, uint64_t& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  Xxh64 h;
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), std::streamsize(buf.size()));
    h.update(buf.data(), size_t(f.gcount()));
  }
  if (f.bad()) return false;
  out = h.digest();
  return true;
}

// AT_EACCESS: checked with the filesystem ids the restore runs with
// (fs_creds.h), not with the real ones as access(2) would.
bool exists(const std::string& path) { return faccessat(AT_FDCWD, path.c_str(), F_OK, AT_EACCESS) == 0; }

int64_t mtime_ns(const struct stat& st) { return int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec; }
int64_t ctime_ns(const struct stat& st) { return int64_t(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec; }

// The groups `uid` belongs to (its passwd group and its /etc/group
// memberships); empty if the user database does not know it.
std::vector<gid_t> groups_of(uid_t uid) {
  struct passwd pw, *found = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) return {};
  std::vector<gid_t> groups(64);
  int n = int(groups.size());
  if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) {
    groups.resize(size_t(n));
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) return {pw.pw_gid};
  }
  groups.resize(size_t(n));
  return groups;
}

}  // namespace

// A file the image maps or reads must be the one it saw. Files with a
// content hash may have moved to another inode (another host, a copy): the
// hash decides, and it is skipped only when inode, size, mtime and ctime are
// all unchanged (mtime can be set back with touch or utime(); ctime cannot
// be set by users, and an image without it always hashes). Others must keep
// size, mtime and inode.
std::string file_problem(const FileRef& f) {
  struct stat st;
  if (stat(f.path.c_str(), &st) != 0) return f.path + ": " + strerror(errno);
  bool same_identity = uint64_t(st.st_dev) == f.dev && uint64_t(st.st_ino) == f.ino &&
                       uint64_t(st.st_size) == f.size && mtime_ns(st) == f.mtime_ns;
  if (same_identity && (!f.hashed || (f.ctime_ns && ctime_ns(st) == f.ctime_ns))) return "";
  if (f.hashed) {
    uint64_t h;
    if (uint64_t(st.st_size) == f.size && hash_whole_file(f.path, h) && h == f.content_hash) return "";
    return f.path + " changed since the checkpoint (content differs)";
  }
  if (uint64_t(st.st_size) != f.size)
    return f.path + " changed since the checkpoint (size " + std::to_string(st.st_size) + ", was " +
           std::to_string(f.size) + ")";
  if (mtime_ns(st) != f.mtime_ns) return f.path + " changed since the checkpoint (modification time differs)";
  return f.path + " was replaced since the checkpoint (different inode)";
}

std::string owner_problem(const Credentials& c, uid_t caller_ruid, uid_t caller_euid) {
  // The restored process runs as the image's user: root may switch to it,
  // anyone else must already be it.
  if (caller_euid == 0 || (caller_euid == c.euid && caller_ruid == c.ruid)) return "";
  return "the image belongs to uid " + std::to_string(c.ruid) + " (effective uid " + std::to_string(c.euid) +
         "); restore it as that user or as root (you are uid " + std::to_string(caller_ruid) + ")";
}

std::string credentials_problem(const Credentials& c, uid_t caller_euid, uid_t image_owner,
                                const std::vector<gid_t>& owner_groups) {
  if (caller_euid != 0 || image_owner == 0) return "";
  std::string claims;
  auto add = [&](const std::string& what) { claims += (claims.empty() ? "" : ", ") + what; };
  for (uint32_t u : {c.ruid, c.euid, c.suid, c.fsuid})
    if (u != image_owner) {
      add("uid " + std::to_string(u));
      break;
    }
  std::vector<uint32_t> gids = {c.rgid, c.egid, c.sgid, c.fsgid};
  gids.insert(gids.end(), c.groups.begin(), c.groups.end());
  std::vector<uint32_t> foreign;
  for (uint32_t g : gids)
    if (std::find(owner_groups.begin(), owner_groups.end(), g) == owner_groups.end() &&
        std::find(foreign.begin(), foreign.end(), g) == foreign.end())
      foreign.push_back(g);
  for (uint32_t g : foreign) add("group " + std::to_string(g));
  if (c.cap_effective | c.cap_permitted | c.cap_inheritable) add("capabilities");
  if (claims.empty()) return "";
  return "the image file belongs to uid " + std::to_string(image_owner) + ", but its process claims " + claims +
         (owner_groups.empty() ? " (uid " + std::to_string(image_owner) + " is not in the user database)" : "") +
         ", which that user does not have: root restores an image owned by another user only with that "
         "user's own rights (restore it as that user, or make root its owner if you trust its contents)";
}

HostVdso read_host_vdso() {
  HostVdso v;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long long s, e;
    if (sscanf(line.c_str(), "%llx-%llx", &s, &e) != 2) continue;
    if (line.find("[vvar]") != std::string::npos) { v.vvar_start = s; v.vvar_end = e; }
    else if (line.find("[vvar_vclock]") != std::string::npos) { v.vclock_start = s; v.vclock_end = e; }
    else if (line.find("[vdso]") != std::string::npos) {
      v.vdso_start = s;
      v.vdso_end = e;
      v.hash = xxh64(reinterpret_cast<const void*>(s), e - s);
    }
  }
  return v;
}

std::vector<std::string> host_problems(const ImageReader& img, const std::string& library_path,
                                       bool allow_changed_files) {
  std::vector<std::string> out;
  const ckpt_file_header& h = img.header();
  const ProcessState& st = img.state();

  if (strncmp(h.uts_machine, "x86_64", sizeof h.uts_machine) != 0)
    out.push_back(std::string("image is for ") + h.uts_machine + ", this host is x86_64");
  for (const std::string& p : cpu_incompatibilities(h.cpu, read_cpu_features())) out.push_back("CPU: " + p);
  uint64_t supported = 0;
  if (st.xstate_permitted && syscall(SYS_arch_prctl, ARCH_GET_XCOMP_SUPP, &supported) == 0 &&
      (st.xstate_permitted & ~supported)) {
    char mask[32];
    snprintf(mask, sizeof mask, "%#llx", (unsigned long long)(st.xstate_permitted & ~supported));
    out.push_back(std::string("CPU: the application had enabled xsave components this host does not offer (mask ") +
                  mask + ")");
  }

  std::vector<uint8_t> id;
  if (library_path.empty() || !read_build_id(library_path, id))
    out.push_back("cannot read the build id of libckpt.so (" + library_path + ")");
  else if (id.size() != h.build_id_len || memcmp(id.data(), h.build_id, id.size()) != 0)
    out.push_back("image was written by libckpt build " + hex_string(h.build_id, h.build_id_len) +
                  ", this ckpt-run uses build " + hex_string(id.data(), id.size()));

  const VdsoLayout& iv = st.vdso;
  HostVdso hv = read_host_vdso();
  if (iv.vdso_start) {
    if (!hv.vdso_start) {
      out.push_back("this host has no vdso; the image's process used one");
    } else {
      auto len = [](uint64_t a, uint64_t b) { return b - a; };
      bool same_layout = len(iv.vvar_start, iv.vvar_end) == len(hv.vvar_start, hv.vvar_end) &&
                         len(iv.vclock_start, iv.vclock_end) == len(hv.vclock_start, hv.vclock_end) &&
                         len(iv.vdso_start, iv.vdso_end) == len(hv.vdso_start, hv.vdso_end) &&
                         iv.vdso_start - iv.vvar_start == hv.vdso_start - hv.vvar_start &&
                         (!iv.vclock_start || iv.vclock_start - iv.vvar_start == hv.vclock_start - hv.vvar_start);
      if (!same_layout)
        out.push_back("vdso/vvar layout differs from this kernel's (image kernel " + std::string(h.uts_release) + ")");
      else if (iv.vdso_hash != hv.hash)
        out.push_back("vdso contents differ (image kernel " + std::string(h.uts_release) +
                      "): the application holds pointers into the old vdso");
    }
  }

  // Files: mapped files, the executable and files open read-only must be
  // unchanged. Files the application writes itself (open for writing, or
  // mapped shared and writable) are expected to change: only their absence
  // stops the restore.
  std::set<int32_t> needed, written;
  for (const Region& r : st.regions)
    if (r.file >= 0) (r.kind == RegionKind::FileShared && (r.prot & PROT_WRITE) ? written : needed).insert(r.file);
  if (st.exe_file >= 0) needed.insert(st.exe_file);
  for (const OpenFile& f : st.open_files)
    if (f.file >= 0 && f.kind == FdKind::RegularFile && !f.deleted) ((f.flags & 3) == 0 ? needed : written).insert(f.file);
  for (int32_t i : written) {
    const FileRef& f = st.files[size_t(i)];
    if (!f.deleted && !exists(f.path)) out.push_back(f.path + ": " + strerror(errno));
  }
  for (int32_t i : needed) {
    const FileRef& f = st.files[size_t(i)];
    if (f.deleted || written.count(i)) continue;
    // With --allow-changed-files only a missing file stops the restore.
    if (allow_changed_files && exists(f.path)) continue;
    std::string p = file_problem(f);
    if (!p.empty()) out.push_back(p);
  }
  if (faccessat(AT_FDCWD, st.cwd.c_str(), X_OK, AT_EACCESS) != 0)
    out.push_back("working directory " + st.cwd + ": " + strerror(errno));
  std::string who = owner_problem(st.creds, getuid(), geteuid());
  if (!who.empty()) out.push_back(who);
  std::string claims = credentials_problem(st.creds, geteuid(), img.owner(), groups_of(img.owner()));
  if (!claims.empty()) out.push_back(claims);
  return out;
}

}  // namespace ckpt
