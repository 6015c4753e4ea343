// libckpt's configuration, read once from the environment at load time
// (ckpt-run sets these variables; see `ckpt-run --help`):
//   CKPT_IMAGES          image directory (absolute)
//   CKPT_SIGNAL          checkpoint signal number (default SIGRTMIN+28)
//   CKPT_THAW_SIGNAL     signal sent to the app after a restore (SIGRTMIN+29)
//   CKPT_PID_FILE        file to receive the pid once ready (consumed, then unset)
//   CKPT_PID_FILE_PID    the pid that writes it (children inherit the variables)
//   CKPT_EXIT_AFTER_CHECKPOINT=1   exit once an image is written
//   CKPT_ZSTD_LEVEL      compression level (default 1)
//   CKPT_FREEZE_TIMEOUT_MS   how long to wait for threads to stop (default 5000)
//   CKPT_WRITER_THREADS=N    threads compressing an image (default: the CPUs
//                            the process may use, at most 8)
//   CKPT_FORKED_WRITER=0     write images while frozen instead of from a
//                            copy-on-write snapshot process (default 1)
//   CKPT_INCREMENTAL=1       checkpoints after the first are incremental
//   CKPT_TRACK               dirty-page tracking: auto (default), uffd, mprotect, none
//   CKPT_FULL_EVERY=N        every Nth checkpoint is full (0: never forced)
//   CKPT_KEEP=N              keep the N newest images (and what they depend on)
//   CKPT_INTERVAL=SECONDS    checkpoint periodically
//   CKPT_IGNORE_UNSUPPORTED=1  checkpoint even with resources libckpt cannot
//                            restore (they are listed in the image and left out)
#pragma once
#include <cstdint>

#include "image/image_format.h"

namespace ckpt {

constexpr int kDefaultCkptOffset = 28;  // SIGRTMIN + 28
constexpr int kDefaultThawOffset = 29;
constexpr int kFreezeOffset = 30;       // SIGRTMAX: libckpt's internal stop signal

struct Config {
  int ckpt_signal = 0, thaw_signal = 0, freeze_signal = 0;
  char images_dir[1024] = "";
  bool exit_after_checkpoint = false;
  int zstd_level = 1;
  unsigned writer_threads = 0;  // 0: as many as CPUs
  uint64_t freeze_timeout_ns = 5'000'000'000ull;
  bool forked_writer = true;
  bool incremental = false;
  char track[16] = "auto";
  uint32_t full_every = 0;
  uint32_t keep = 0;
  uint32_t interval_s = 0;
  bool ignore_unsupported = false;
  // ckpt-run created images_dir for this program (CKPT_IMAGES_CREATED=1): it
  // may hand it over to the user the program switches to (setuid & co).
  bool images_dir_created = false;
  uint64_t staging_limit = 256ull << 20;  // shared/fork-excluded bytes a forked writer may copy
  char library_path[1024] = "";
  char program[256] = "";  // base name of the program at load time: names its images
  uint8_t build_id[32] = {};
  uint32_t build_id_len = 0;
  uintptr_t library_start = 0, library_end = 0;  // libckpt.so's loaded image, .bss included
  ckpt_cpu_features cpu = {};
  char uts_sysname[65] = "", uts_release[65] = "", uts_version[65] = "", uts_machine[65] = "";
};

extern Config g_config;

// Reads the environment; returns false (with a message printed) if libckpt
// must stay inactive.
bool load_config();

}  // namespace ckpt
