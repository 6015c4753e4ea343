// Facts about executables: can libckpt run inside this program, where is
// libckpt.so, and what is an ELF file's build id.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ckpt {

// Looks PROGRAM up in PATH (unless it contains '/'); "" if not found.
std::string resolve_program(const std::string& program);
// Empty if libckpt can run inside `path`; otherwise why not. Scripts are
// judged by their interpreter.
std::string why_unsupported(const std::string& path);
// libckpt.so next to this ckpt-run (build tree or installed tree), or
// $CKPT_LIBRARY. Empty if none is found.
std::string find_library();
bool read_build_id(const std::string& elf_path, std::vector<uint8_t>& out);
std::string hex_string(const uint8_t* p, size_t n);

}  // namespace ckpt
