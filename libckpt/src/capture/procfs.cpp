#include "procfs.h"

#include <fcntl.h>

#include <cstring>

#include "common/raw_syscall.h"

namespace ckpt {

bool read_proc_file(const char* path, std::string& out, int* err) {
  long fd = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long(path), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    if (err) *err = int(-fd);
    return false;
  }
  out.clear();
  size_t cap = 16384;
  for (;;) {
    out.resize(out.size() + cap);
    size_t have = out.size() - cap;
    long r = ckpt_syscall3(CKPT_NR_read, fd, long(&out[have]), long(cap));
    if (r < 0) {
      if (r == -4 /* EINTR */) { out.resize(have); continue; }
      if (err) *err = int(-r);
      ckpt_syscall1(CKPT_NR_close, fd);
      return false;
    }
    out.resize(have + size_t(r));
    if (r == 0) break;
    if (cap < (1u << 22)) cap *= 2;
  }
  ckpt_syscall1(CKPT_NR_close, fd);
  return true;
}

bool read_link(const char* path, std::string& out) {
  char buf[4096];
  long r = ckpt_syscall4(CKPT_NR_readlinkat, AT_FDCWD, long(path), long(buf), sizeof buf);
  if (r < 0) return false;
  out.assign(buf, size_t(r));
  return true;
}

std::string status_field(const std::string& text, const char* key) {
  std::string k = std::string(key) + ":";
  for (size_t p = 0; p < text.size();) {
    if (text.compare(p, k.size(), k) == 0) {
      p += k.size();
      while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) p++;
      size_t e = text.find('\n', p);
      return text.substr(p, e == std::string::npos ? std::string::npos : e - p);
    }
    p = text.find('\n', p);
    if (p == std::string::npos) break;
    p++;
  }
  return {};
}

long read_proc_small(const char* path, char* buf, size_t cap) {
  long fd = ckpt_syscall4(CKPT_NR_openat, AT_FDCWD, long(path), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    buf[0] = '\0';
    return fd;
  }
  size_t len = 0;
  while (len + 1 < cap) {
    long r = ckpt_syscall3(CKPT_NR_read, fd, long(buf + len), long(cap - 1 - len));
    if (r == -4 /* EINTR */) continue;
    if (r <= 0) break;
    len += size_t(r);
  }
  ckpt_syscall1(CKPT_NR_close, fd);
  buf[len] = '\0';
  return long(len);
}

bool status_hex_field(const char* text, const char* key, uint64_t& out) {
  size_t klen = strlen(key);
  for (const char* p = text; (p = strstr(p, key)) != nullptr; p += klen) {
    if ((p != text && p[-1] != '\n') || p[klen] != ':') continue;
    for (p += klen + 1; *p == ' ' || *p == '\t'; p++) {}
    out = 0;
    for (; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'); p++)
      out = out << 4 | uint64_t(*p <= '9' ? *p - '0' : *p - 'a' + 10);
    return true;
  }
  return false;
}

uint64_t parse_u64(const std::string& s, int base) {
  uint64_t v = 0;
  for (char c : s) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0 || d >= base) break;
    v = v * uint64_t(base) + uint64_t(d);
  }
  return v;
}

}  // namespace ckpt
