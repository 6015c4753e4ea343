// libckpt's private heap.
//
// The checkpoint runs while application threads are frozen, and a frozen
// thread may hold glibc's malloc locks, so nothing on that path may call
// malloc. Inside libckpt.so, operator new/delete and zstd's allocator are
// routed here instead: memory comes straight from mmap, and only libckpt's
// checkpoint code (one coordinator at a time) ever takes the arena's lock.
//
// Allocations live for one checkpoint session: reset() returns every chunk
// to the kernel. The arena's chunks are libckpt scratch memory, excluded from
// images (a restored process starts with an empty arena).
#pragma once
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <cstddef>
#include <cstdint>

namespace ckpt::arena {

void* allocate(size_t size);
void release(void* p);
void reset();
// After a restore: the chunks are not mapped any more (and their addresses
// may now hold something else), so forget them without unmapping.
void abandon();
const ZSTD_customMem* zstd_allocator();
// In a fork child: a thread of the parent may have held the lock.
void after_fork();

// Address ranges the arena holds right now (for exclusion from images).
struct Range {
  uintptr_t start, end;
};
size_t ranges(Range* out, size_t max);
size_t bytes_in_use();

}  // namespace ckpt::arena
