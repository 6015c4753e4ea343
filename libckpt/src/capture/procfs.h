// Reading /proc with raw system calls (no stdio, no malloc: buffers come
// from libckpt's arena through std::string).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ckpt {

// Whole contents of a /proc file (or any file); false on error (errno in *err).
bool read_proc_file(const char* path, std::string& out, int* err = nullptr);
// readlink into a std::string.
bool read_link(const char* path, std::string& out);
// Value of "Key:\t..." in a /proc status-style text, or empty.
std::string status_field(const std::string& text, const char* key);
// Parses numbers like "0022", "ffff", "1000 1000 1000 1000".
uint64_t parse_u64(const std::string& s, int base = 10);

// Without allocating (for signal handlers and frozen-thread paths): a small
// /proc file into buf, NUL-terminated (at most cap - 1 bytes); its length,
// or a negative errno.
long read_proc_small(const char* path, char* buf, size_t cap);
// The hexadecimal value of "Key:" in a NUL-terminated status text (SigBlk,
// SigPnd...); false if the key is missing.
bool status_hex_field(const char* text, const char* key, uint64_t& out);

}  // namespace ckpt
