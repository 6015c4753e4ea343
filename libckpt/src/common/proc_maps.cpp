#include "proc_maps.h"

#include <sys/mman.h>

#include "image/process_state.h"

namespace ckpt {

bool parse_hex(const char*& p, const char* end, uint64_t& out) {
  const char* s = p;
  uint64_t v = 0;
  while (p < end) {
    char c = *p;
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) break;
    v = v * 16 + uint64_t(d);
    p++;
  }
  out = v;
  return p > s;
}

bool parse_dec(const char*& p, const char* end, uint64_t& out) {
  const char* s = p;
  uint64_t v = 0;
  while (p < end && *p >= '0' && *p <= '9') v = v * 10 + uint64_t(*p++ - '0');
  out = v;
  return p > s;
}

namespace {

bool expect(const char*& p, const char* end, char c) {
  if (p < end && *p == c) {
    p++;
    return true;
  }
  return false;
}

void skip_spaces(const char*& p, const char* end) {
  while (p < end && (*p == ' ' || *p == '\t')) p++;
}

const char* line_end(const char* p, const char* end) {
  while (p < end && *p != '\n') p++;
  return p;
}

// "7f06aa65c000-7f06aa67e000 rw-p 00000000 00:00 0   [name]"
bool parse_header(const char* p, const char* end, MapsEntry& e) {
  e = MapsEntry{};
  uint64_t v;
  if (!parse_hex(p, end, e.start) || !expect(p, end, '-') || !parse_hex(p, end, e.end) || !expect(p, end, ' '))
    return false;
  if (end - p < 5) return false;
  if (p[0] == 'r') e.prot |= PROT_READ;
  if (p[1] == 'w') e.prot |= PROT_WRITE;
  if (p[2] == 'x') e.prot |= PROT_EXEC;
  e.shared = p[3] == 's';
  p += 4;
  if (!expect(p, end, ' ') || !parse_hex(p, end, e.offset) || !expect(p, end, ' ')) return false;
  if (!parse_hex(p, end, v) || !expect(p, end, ':')) return false;
  e.dev_major = uint32_t(v);
  if (!parse_hex(p, end, v) || !expect(p, end, ' ')) return false;
  e.dev_minor = uint32_t(v);
  if (!parse_dec(p, end, e.inode)) return false;
  skip_spaces(p, end);
  e.name = p;
  e.name_len = size_t(end - p);
  return true;
}

bool is_header(const char* p, const char* end) {
  // Headers start with a hex address followed by '-'; smaps field lines start with a capital word.
  while (p < end && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) p++;
  return p < end && *p == '-';
}

}  // namespace

bool parse_maps(const char* text, size_t len, void (*fn)(const MapsEntry&, void*), void* ctx) {
  const char* p = text;
  const char* end = text + len;
  MapsEntry cur;
  bool have = false;
  while (p < end) {
    const char* le = line_end(p, end);
    if (is_header(p, le)) {
      if (have) fn(cur, ctx);
      if (!parse_header(p, le, cur)) return false;
      have = true;
    } else if (have && le - p > 8 && p[0] == 'V' && p[1] == 'm' && p[2] == 'F' && p[3] == 'l' &&
               p[4] == 'a' && p[5] == 'g' && p[6] == 's' && p[7] == ':') {
      cur.has_vmflags = true;
      const char* q = p + 8;
      while (q < le) {
        skip_spaces(q, le);
        if (le - q >= 2) {
          char m[3] = {q[0], q[1], 0};
          cur.vmflags |= vmflag_from_mnemonic(m);
          if (m[0] == 'p' && m[1] == 'f') cur.vmflags |= kVmIo;  // PFN map: device memory
        }
        while (q < le && *q != ' ') q++;
      }
    }
    p = le < end ? le + 1 : le;
  }
  if (have) fn(cur, ctx);
  return true;
}

}  // namespace ckpt
