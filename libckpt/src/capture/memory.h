// Memory: which regions exist and how each is re-created (capture_regions),
// and the pages an image must carry (write_pages).
//
// What is saved and what is re-mapped:
//   private anonymous (heap, stacks, malloc arenas)  present non-zero pages saved
//   shared anonymous, memfd, /dev/zero, /dev/shm    pages of the object that hold data saved
//                                                    (shared_pages.h: written from anywhere)
//   private file mapping (code, data of libraries)  re-mapped from the file;
//                                                    pages the process modified saved
//   shared file mapping, POSIX shm (/dev/shm)       re-mapped; the file holds the data
//   POSIX shm unlinked while mapped                  present pages saved, like memfd
//   a mapped file deleted or replaced since mapping  every page saved, re-created anonymous
//   vdso / vvar                                      never saved; layout and hash recorded
//   libckpt's own scratch memory                     excluded
// Device mappings (VM_IO/VM_PFNMAP), SysV shared memory, AIO rings and
// memory of kernel objects (anon_inode: io_uring, perf events) make the
// checkpoint fail.
#pragma once
#include <cstdint>
#include <vector>

#include "common/msg.h"
#include "image/image_writer.h"
#include "image/process_state.h"
#include "tracking/dirty_tracker.h"

namespace ckpt {

class FileTable;

struct AddressRange {
  uint64_t start, end;
};

// Per-region facts the writer needs that the manifest does not carry.
struct MemoryCapture {
  std::vector<uint8_t> read_all;  // save every page, present or not
  // Where a forked writer finds the region's pages: 0 = at the region itself;
  // else a shared copy made while the process was frozen (memory a fork child
  // would not see as it was: MADV_DONTFORK, MADV_WIPEONFORK, shared memory
  // the application keeps changing).
  std::vector<uint64_t> staging;
  // Incremental images: for regions the tracker vouches for, their present
  // pages split into changed and unchanged spans (classified while frozen).
  std::vector<uint8_t> classified;
  std::vector<std::vector<PageSpan>> spans;
};

// Classifies every region `tracker` vouches for (frozen, before re-arming).
// Pages in `not_in_parent` (sorted; left out of the parent image) count as
// changed whatever the tracker says.
bool classify_regions(const ProcessState& st, MemoryCapture& mc, DirtyTracker& tracker,
                      const std::vector<AddressRange>& not_in_parent, Msg& err);

// Copies the pages of regions a forked writer cannot read faithfully into
// shared staging mappings. Fails (staging nothing) if more than `limit`
// bytes would be copied; the caller then writes in-process.
bool stage_for_fork(const ProcessState& st, MemoryCapture& mc, uint64_t limit, Msg& err);
void unmap_staging(const ProcessState& st, MemoryCapture& mc);

// Fails (naming it) on memory libckpt cannot re-create: device mappings,
// SysV shared memory, AIO rings, kernel objects' memory (anon_inode:
// io_uring rings, perf buffers...) unless `ignore_unsupported`, which leaves
// the latter out and records them in ProcessState::ignored.
bool capture_regions(ProcessState& st, FileTable& files, MemoryCapture& mc,
                     const std::vector<AddressRange>& exclude, bool ignore_unsupported, Msg& err);
bool write_pages(const ProcessState& st, const MemoryCapture& mc, ImageWriter& w, Msg& err);

bool page_is_zero(const void* page);

}  // namespace ckpt
