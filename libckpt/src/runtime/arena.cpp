#include "arena.h"

#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <new>

#include "common/raw_syscall.h"

namespace ckpt::arena {
namespace {

constexpr size_t kChunkSize = 8u << 20;
constexpr size_t kLargeThreshold = 256u << 10;  // bigger requests get their own mapping
constexpr int kMinClass = 4;                     // 16 bytes
constexpr int kMaxClass = 18;                    // 256 KiB
constexpr size_t kMaxChunks = 4096;

struct alignas(16) BlockHeader {
  uint64_t size_class;  // kMaxClass + 1 marks a dedicated mapping
  uint64_t mapping_size;
};

struct FreeNode {
  FreeNode* next;
};

struct State {
  std::atomic_flag lock = ATOMIC_FLAG_INIT;
  Range chunks[kMaxChunks] = {};
  size_t nchunks = 0;
  char* bump = nullptr;
  char* bump_end = nullptr;
  FreeNode* free_lists[kMaxClass + 1] = {};
  size_t in_use = 0;
};
State g;

struct Guard {
  Guard() { while (g.lock.test_and_set(std::memory_order_acquire)) ckpt_syscall0(CKPT_NR_sched_yield); }
  ~Guard() { g.lock.clear(std::memory_order_release); }
};

void* map(size_t size) {
  long r = ckpt_syscall6(CKPT_NR_mmap, 0, long(size), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (CKPT_IS_ERR(r)) return nullptr;
  return reinterpret_cast<void*>(r);
}

bool track(void* p, size_t size) {
  if (g.nchunks == kMaxChunks) return false;
  g.chunks[g.nchunks++] = {uintptr_t(p), uintptr_t(p) + size};
  return true;
}

void untrack(void* p) {
  for (size_t i = 0; i < g.nchunks; i++)
    if (g.chunks[i].start == uintptr_t(p)) {
      g.chunks[i] = g.chunks[--g.nchunks];
      return;
    }
}

int class_of(size_t size) {
  int c = kMinClass;
  while ((size_t(1) << c) < size) c++;
  return c;
}

}  // namespace

void* allocate(size_t size) {
  size_t total = size + sizeof(BlockHeader);
  Guard lock;
  if (total > kLargeThreshold) {
    size_t len = (total + 4095) & ~size_t(4095);
    void* p = map(len);
    if (!p) return nullptr;
    if (!track(p, len)) {
      ckpt_syscall2(CKPT_NR_munmap, long(p), long(len));
      return nullptr;
    }
    auto h = static_cast<BlockHeader*>(p);
    h->size_class = kMaxClass + 1;
    h->mapping_size = len;
    g.in_use += len;
    return h + 1;
  }
  int c = class_of(total);
  size_t block = size_t(1) << c;
  BlockHeader* h;
  if (FreeNode* n = g.free_lists[c]) {
    g.free_lists[c] = n->next;
    h = reinterpret_cast<BlockHeader*>(n);
  } else {
    if (size_t(g.bump_end - g.bump) < block) {
      void* chunk = map(kChunkSize);
      if (!chunk) return nullptr;
      if (!track(chunk, kChunkSize)) {
        ckpt_syscall2(CKPT_NR_munmap, long(chunk), long(kChunkSize));
        return nullptr;
      }
      g.bump = static_cast<char*>(chunk);
      g.bump_end = g.bump + kChunkSize;
    }
    h = reinterpret_cast<BlockHeader*>(g.bump);
    g.bump += block;
  }
  h->size_class = uint64_t(c);
  h->mapping_size = 0;
  g.in_use += block;
  return h + 1;
}

void release(void* p) {
  if (!p) return;
  auto h = static_cast<BlockHeader*>(p) - 1;
  Guard lock;
  if (h->size_class == kMaxClass + 1) {
    g.in_use -= h->mapping_size;
    untrack(h);
    ckpt_syscall2(CKPT_NR_munmap, long(h), long(h->mapping_size));
    return;
  }
  int c = int(h->size_class);
  g.in_use -= size_t(1) << c;
  auto n = reinterpret_cast<FreeNode*>(h);
  n->next = g.free_lists[c];
  g.free_lists[c] = n;
}

void reset() {
  Guard lock;
  for (size_t i = 0; i < g.nchunks; i++)
    ckpt_syscall2(CKPT_NR_munmap, long(g.chunks[i].start), long(g.chunks[i].end - g.chunks[i].start));
  g.nchunks = 0;
  g.bump = g.bump_end = nullptr;
  memset(g.free_lists, 0, sizeof g.free_lists);
  g.in_use = 0;
}

void abandon() {
  g.lock.clear();
  g.nchunks = 0;
  g.bump = g.bump_end = nullptr;
  memset(g.free_lists, 0, sizeof g.free_lists);
  g.in_use = 0;
}

void after_fork() {
  // Nothing in the child uses the parent's session memory. If a thread of
  // the parent held the lock at the fork, the lists may be half-updated
  // (chunks unmapped but still listed): forget them (a leak in the child);
  // otherwise unmap them.
  if (g.lock.test_and_set(std::memory_order_acquire)) {
    abandon();
    return;
  }
  g.lock.clear(std::memory_order_release);
  reset();
}

size_t ranges(Range* out, size_t max) {
  Guard lock;
  size_t n = g.nchunks < max ? g.nchunks : max;
  memcpy(out, g.chunks, n * sizeof(Range));
  return n;
}

size_t bytes_in_use() { return g.in_use; }

namespace {
void* zstd_alloc(void*, size_t size) { return allocate(size); }
void zstd_free(void*, void* p) { release(p); }
const ZSTD_customMem kZstdMem = {zstd_alloc, zstd_free, nullptr};
}  // namespace

const ZSTD_customMem* zstd_allocator() { return &kZstdMem; }

}  // namespace ckpt::arena

// Every C++ allocation inside libckpt.so goes to the arena. These definitions
// are local to the library (see libckpt.map): the application's own operator
// new is untouched.
void* operator new(size_t n) {
  void* p = ckpt::arena::allocate(n);
  if (!p) ckpt_syscall1(CKPT_NR_exit_group, 127);  // out of memory while checkpointing
  return p;
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept { return ckpt::arena::allocate(n); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return ckpt::arena::allocate(n); }
void* operator new(size_t n, std::align_val_t) { return operator new(n); }  // 16-byte aligned is all libckpt needs
void* operator new[](size_t n, std::align_val_t) { return operator new(n); }
void operator delete(void* p) noexcept { ckpt::arena::release(p); }
void operator delete[](void* p) noexcept { ckpt::arena::release(p); }
void operator delete(void* p, size_t) noexcept { ckpt::arena::release(p); }
void operator delete[](void* p, size_t) noexcept { ckpt::arena::release(p); }
void operator delete(void* p, std::align_val_t) noexcept { ckpt::arena::release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { ckpt::arena::release(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { ckpt::arena::release(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { ckpt::arena::release(p); }
