#include "msg.h"

#include <cerrno>

namespace ckpt {

Msg& Msg::operator<<(const char* s) {
  if (!s) s = "(null)";
  while (*s && len_ + 1 < sizeof buf_) buf_[len_++] = *s++;
  buf_[len_] = '\0';
  return *this;
}

Msg& Msg::operator<<(char c) {
  char s[2] = {c, 0};
  return *this << s;
}

Msg& Msg::operator<<(uint64_t v) {
  char tmp[24];
  int n = 0;
  do tmp[n++] = char('0' + v % 10); while (v /= 10);
  char out[24];
  for (int i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  out[n] = 0;
  return *this << out;
}

Msg& Msg::operator<<(int64_t v) {
  if (v < 0) {
    *this << "-";
    return *this << uint64_t(-(v + 1)) + 1;
  }
  return *this << uint64_t(v);
}

Msg& Msg::operator<<(Hex h) {
  char out[20] = "0x";
  int n = 0;
  char tmp[16];
  uint64_t v = h.v;
  do tmp[n++] = "0123456789abcdef"[v & 15]; while (v >>= 4);
  for (int i = 0; i < n; i++) out[2 + i] = tmp[n - 1 - i];
  out[2 + n] = 0;
  return *this << out;
}

const char* errno_name(int err) {
  switch (err) {
    case EPERM: return "EPERM (operation not permitted)";
    case ENOENT: return "ENOENT (no such file or directory)";
    case EINTR: return "EINTR";
    case EIO: return "EIO (input/output error)";
    case EBADF: return "EBADF (bad file descriptor)";
    case EAGAIN: return "EAGAIN (resource temporarily unavailable)";
    case ENOMEM: return "ENOMEM (out of memory)";
    case EACCES: return "EACCES (permission denied)";
    case EFAULT: return "EFAULT (bad address)";
    case EBUSY: return "EBUSY (resource busy)";
    case EEXIST: return "EEXIST (file exists)";
    case ENOTDIR: return "ENOTDIR (not a directory)";
    case EISDIR: return "EISDIR (is a directory)";
    case EINVAL: return "EINVAL (invalid argument)";
    case EMFILE: return "EMFILE (too many open files)";
    case EFBIG: return "EFBIG (file too large)";
    case ENOSPC: return "ENOSPC (no space left on device)";
    case EROFS: return "EROFS (read-only file system)";
    case ENAMETOOLONG: return "ENAMETOOLONG (file name too long)";
    case ENOSYS: return "ENOSYS (not implemented)";
    case EDQUOT: return "EDQUOT (disk quota exceeded)";
    case ETIMEDOUT: return "ETIMEDOUT (timed out)";
    case ESRCH: return "ESRCH (no such process)";
    case ENOTSUP: return "ENOTSUP (not supported)";
    default: return "error";
  }
}

}  // namespace ckpt
