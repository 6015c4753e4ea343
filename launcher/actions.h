// The actions of ckpt-run, one file each.
#pragma once
#include <string>

#include "cli.h"

namespace ckpt {

int run_launch(const Options& o);          // launch.cpp
int run_checkpoint(const Options& o);      // checkpoint_request.cpp
int run_inspect(const Options& o);         // inspect.cpp
int run_check(const Options& o);           // inspect.cpp
int run_compact(const Options& o);         // compact.cpp
int run_restore(const Options& o, char** argv);  // restore/restore.cpp

std::string absolute_path(const std::string& p);
// `created`: whether the last component was made here.
bool make_dirs(const std::string& path, std::string& err, bool* created = nullptr);
// "" if fine, else why: an absolute images directory too long for libckpt's
// buffers (common/path_limits.h); a pid file whose directory is missing or
// not writable.
std::string check_images_dir(const std::string& absolute);
std::string check_pid_file(const std::string& absolute);

}  // namespace ckpt
