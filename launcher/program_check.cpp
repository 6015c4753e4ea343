#include "program_check.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#ifndef CKPT_REL_LIBDIR
#define CKPT_REL_LIBDIR "../lib/libckpt"
#endif

namespace ckpt {

namespace {

bool read_file_prefix(const std::string& path, std::string& out, size_t n) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out.resize(n);
  f.read(out.data(), std::streamsize(n));
  out.resize(size_t(f.gcount()));
  return true;
}

std::string dir_of(const std::string& p) {
  size_t s = p.rfind('/');
  return s == std::string::npos ? "." : p.substr(0, s);
}

bool exists(const std::string& p) { return access(p.c_str(), R_OK) == 0; }

std::string self_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  return dir_of(buf);
}

}  // namespace

std::string resolve_program(const std::string& program) {
  if (program.find('/') != std::string::npos) return access(program.c_str(), F_OK) == 0 ? program : "";
  const char* path = getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string cand = dir + "/" + program;
    struct stat st;
    if (stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(cand.c_str(), X_OK) == 0) return cand;
    start = end + 1;
  }
  return "";
}

std::string why_unsupported(const std::string& path) {
  std::string current = path;
  for (int depth = 0; depth < 4; depth++) {
    struct stat st;
    if (stat(current.c_str(), &st) != 0) return current + ": " + strerror(errno);
    if (!S_ISREG(st.st_mode)) return current + " is not a regular file";
    if (st.st_mode & (S_ISUID | S_ISGID))
      return current + " is setuid/setgid: the loader ignores LD_PRELOAD for it, so libckpt could not run inside";
    if (getxattr(current.c_str(), "security.capability", nullptr, 0) > 0)
      return current + " has file capabilities: the loader ignores LD_PRELOAD for it, so libckpt could not run inside";
    std::string head;
    if (!read_file_prefix(current, head, 4096)) return current + ": cannot read";
    if (head.size() >= 2 && head[0] == '#' && head[1] == '!') {
      // A script: what matters is the interpreter.
      size_t e = head.find('\n');
      std::string line = head.substr(2, e == std::string::npos ? std::string::npos : e - 2);
      size_t b = line.find_first_not_of(" \t");
      if (b == std::string::npos) return current + ": empty #! line";
      line = line.substr(b);
      current = line.substr(0, line.find_first_of(" \t"));
      continue;
    }
    if (head.size() < sizeof(Elf64_Ehdr) || memcmp(head.data(), ELFMAG, SELFMAG) != 0)
      return current + " is not an ELF executable";
    auto eh = reinterpret_cast<const Elf64_Ehdr*>(head.data());
    if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != EM_X86_64)
      return current + " is not an x86-64 program (libckpt supports x86-64 only)";
    if (eh->e_phoff + uint64_t(eh->e_phnum) * sizeof(Elf64_Phdr) > head.size())
      return current + ": program headers beyond the first 4 KiB";
    auto ph = reinterpret_cast<const Elf64_Phdr*>(head.data() + eh->e_phoff);
    bool interp = false;
    for (int i = 0; i < eh->e_phnum; i++) interp |= ph[i].p_type == PT_INTERP;
    if (!interp)
      return current + " is statically linked: libckpt is loaded with LD_PRELOAD, which static programs ignore";
    return "";
  }
  return path + ": too many levels of #! interpreters";
}

std::string find_library() {
  if (const char* env = getenv("CKPT_LIBRARY"); env && *env) return exists(env) ? env : "";
  std::string dir = self_dir();
  for (const std::string& cand : {dir + "/../libckpt/libckpt.so", dir + "/" CKPT_REL_LIBDIR "/libckpt.so"}) {
    if (exists(cand)) {
      char real[4096];
      return realpath(cand.c_str(), real) ? real : cand;
    }
  }
  return "";
}

bool read_build_id(const std::string& elf_path, std::vector<uint8_t>& out) {
  std::ifstream f(elf_path, std::ios::binary);
  if (!f) return false;
  Elf64_Ehdr eh;
  if (!f.read(reinterpret_cast<char*>(&eh), sizeof eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return false;
  for (int i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    f.seekg(std::streamoff(eh.e_phoff + uint64_t(i) * sizeof ph));
    if (!f.read(reinterpret_cast<char*>(&ph), sizeof ph)) return false;
    if (ph.p_type != PT_NOTE || ph.p_filesz > (1 << 20)) continue;
    std::string notes(ph.p_filesz, '\0');
    f.seekg(std::streamoff(ph.p_offset));
    if (!f.read(notes.data(), std::streamsize(notes.size()))) return false;
    size_t p = 0;
    while (p + sizeof(Elf64_Nhdr) <= notes.size()) {
      auto n = reinterpret_cast<const Elf64_Nhdr*>(notes.data() + p);
      size_t name = p + sizeof *n, desc = name + ((n->n_namesz + 3) & ~3u);
      if (desc + n->n_descsz > notes.size()) break;
      if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(notes.data() + name, "GNU", 4) == 0) {
        out.assign(notes.begin() + long(desc), notes.begin() + long(desc + n->n_descsz));
        return true;
      }
      p = desc + ((n->n_descsz + 3) & ~3u);
    }
  }
  return false;
}

std::string hex_string(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; i++) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

}  // namespace ckpt
