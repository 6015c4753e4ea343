// Parser for /proc/PID/maps and /proc/PID/smaps text. Allocation-free (the
// callback gets views into the text), so libckpt can use it while frozen.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ckpt {

struct MapsEntry {
  uint64_t start = 0, end = 0;
  uint32_t prot = 0;                // PROT_READ | PROT_WRITE | PROT_EXEC
  bool shared = false;
  uint64_t offset = 0;
  uint32_t dev_major = 0, dev_minor = 0;
  uint64_t inode = 0;
  const char* name = "";            // not NUL-terminated: use name_len
  size_t name_len = 0;
  uint32_t vmflags = 0;             // VmFlag bits (smaps only)
  bool has_vmflags = false;
};

// Calls fn(const MapsEntry&) per mapping, in file order. Returns false on
// malformed text.
bool parse_maps(const char* text, size_t len, void (*fn)(const MapsEntry&, void*), void* ctx);

// Helpers shared with other /proc parsers.
bool parse_hex(const char*& p, const char* end, uint64_t& out);
bool parse_dec(const char*& p, const char* end, uint64_t& out);

}  // namespace ckpt
