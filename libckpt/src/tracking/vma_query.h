// The mapping (VMA) that holds an address, asked of the kernel from a
// signal handler: no allocation, no lock, raw system calls only. The
// PROCMAP_QUERY ioctl (Linux 6.11+) answers directly; older kernels have
// /proc/self/maps read line by line.
#pragma once
#include <cstdint>

namespace ckpt {

struct VmaInfo {
  uint64_t start, end;
  uint32_t prot;      // PROT_READ | PROT_WRITE | PROT_EXEC
  bool shared;
  uint64_t inode;     // 0: anonymous memory ([heap] and [stack] included)
};

bool query_vma(uint64_t addr, VmaInfo& out);

}  // namespace ckpt
