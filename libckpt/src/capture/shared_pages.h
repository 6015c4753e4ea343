// The pages of a shared memory object that hold data.
//
// Shared memory (MAP_SHARED anonymous, memfd, /dev/zero, /dev/shm) is
// written from anywhere: a fork child, another mapping of the same object,
// write(2) to a memfd. Those pages are in the object but not necessarily in
// this process's page tables, which are all PAGEMAP_SCAN sees. So the object
// itself is asked: its data ranges (SEEK_DATA through /proc/self/map_files,
// which includes swapped-out pages; needs CAP_CHECKPOINT_RESTORE or
// CAP_SYS_ADMIN), else its page-cache residency (mincore), which is exact
// unless a page is swapped out: with swap enabled every page is then
// reported (reading a hole allocates a zero page, but nothing is missed).
#pragma once
#include "image/process_state.h"
#include "page_scan.h"

namespace ckpt {

// Calls fn(start, end, kPagePresent, ctx) for runs of pages of the shared
// region `r` (one whole mapping) that may hold data. Returns false if fn
// does, or with `error` set if the object cannot be examined.
bool scan_shared_object(const Region& r, PageScanner::Fn fn, void* ctx, int& error);

}  // namespace ckpt
