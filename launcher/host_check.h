// Can this host restore an image? The same checks serve --check and
// --restore: CPU features and xsave size, libckpt build, vdso contents and
// layout, the files the image depends on, and the caller (the image's user
// or root).
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "image/image_reader.h"

namespace ckpt {

struct HostVdso {
  uint64_t vvar_start = 0, vvar_end = 0, vclock_start = 0, vclock_end = 0, vdso_start = 0, vdso_end = 0;
  uint64_t hash = 0;
};
HostVdso read_host_vdso();

// Why a file the image depends on cannot be used as it is now ("" if it can).
std::string file_problem(const FileRef& f);

// Who may restore an image with these credentials: root, or the image's own
// user (real and effective uid). "" if the caller may, else why not.
std::string owner_problem(const Credentials& creds, uid_t caller_ruid, uid_t caller_euid);

// What root may give a restored process. An image is a file its owner can
// edit (and re-checksum): one that root does not own may claim only what
// that owner has: its uid everywhere, groups it belongs to (`owner_groups`,
// from the user and group databases; empty when unknown), no capabilities.
// A caller other than root is bounded by the kernel instead. "" if fine.
std::string credentials_problem(const Credentials& creds, uid_t caller_euid, uid_t image_owner,
                                const std::vector<gid_t>& owner_groups);

// Every reason the image cannot be restored here, each naming what differs.
// With `allow_changed_files`, a file that changed since the checkpoint is
// used as it is now (executables and libraries included: the user's call).
std::vector<std::string> host_problems(const ImageReader& img, const std::string& library_path,
                                       bool allow_changed_files = false);

}  // namespace ckpt
