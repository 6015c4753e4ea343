// The files an image depends on (mapped files, open files), deduplicated by
// device and inode. Executables and libraries get a content hash, cached
// across checkpoints by (dev, ino, size, mtime) so that it is computed once.
#pragma once
#include <sys/stat.h>

#include <string>
#include <vector>

#include "image/process_state.h"

namespace ckpt {

class FileTable {
 public:
  explicit FileTable(std::vector<FileRef>& files) : files_(files) {}

  // A mapped file: identity from stat(path), which must be the inode the
  // mapping shows (else the file was replaced or deleted: returns -1).
  int add_mapped(const std::string& path, uint64_t dev, uint64_t ino, bool hash);
  // An open file: identity from fstat of the descriptor itself.
  int add_open(int fd, const std::string& path, const struct stat& st);

 private:
  int find(uint64_t dev, uint64_t ino) const;
  int add(const std::string& path, const struct stat& st, bool deleted);
  std::vector<FileRef>& files_;
};

// XXH64 of a whole file, or false if it cannot be read.
bool hash_file(const char* path, uint64_t& out);

}  // namespace ckpt
