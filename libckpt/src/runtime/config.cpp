#include "config.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <sys/utsname.h>

#include <cstdlib>
#include <cstring>

#include "common/cpu_features.h"
#include "common/path_limits.h"
#include "common/raw_syscall.h"
#include "log.h"

namespace ckpt {

Config g_config;

namespace {

void copy_str(char* dst, size_t cap, const char* src) {
  size_t n = strlen(src);
  if (n >= cap) n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

bool env_int(const char* name, long lo, long hi, long& out) {
  const char* v = getenv(name);
  if (!v || !*v) return false;
  char* end;
  long x = strtol(v, &end, 10);
  if (*end || x < lo || x > hi) {
    Msg m;
    m << "ignoring " << name << "=" << v << " (expected a number from " << lo << " to " << hi << ")";
    log_warning(m);
    return false;
  }
  out = x;
  return true;
}

// Finds this library's path and GNU build id among the loaded objects.
int find_self(struct dl_phdr_info* info, size_t, void*) {
  uintptr_t self = reinterpret_cast<uintptr_t>(&find_self);
  bool mine = false;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && self >= lo && self < lo + ph.p_memsz) mine = true;
  }
  if (!mine) return 0;
  copy_str(g_config.library_path, sizeof g_config.library_path, info->dlpi_name);
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    uintptr_t lo = (info->dlpi_addr + ph.p_vaddr) & ~uintptr_t(4095);
    uintptr_t hi = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz + 4095) & ~uintptr_t(4095);
    if (!g_config.library_start || lo < g_config.library_start) g_config.library_start = lo;
    if (hi > g_config.library_end) g_config.library_end = hi;
  }
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    auto p = reinterpret_cast<const unsigned char*>(info->dlpi_addr + ph.p_vaddr);
    auto end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      auto n = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const unsigned char* name = p + sizeof *n;
      const unsigned char* desc = name + ((n->n_namesz + 3) & ~3u);
      if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
          n->n_descsz <= sizeof g_config.build_id) {
        memcpy(g_config.build_id, desc, n->n_descsz);
        g_config.build_id_len = n->n_descsz;
      }
      p = desc + ((n->n_descsz + 3) & ~3u);
    }
  }
  return 1;
}

}  // namespace

bool load_config() {
  Config& c = g_config;
  int rtmin = SIGRTMIN, rtmax = SIGRTMAX;
  long v;
  c.ckpt_signal = rtmin + kDefaultCkptOffset;
  c.thaw_signal = rtmin + kDefaultThawOffset;
  c.freeze_signal = rtmin + kFreezeOffset;
  if (c.freeze_signal > rtmax) c.freeze_signal = rtmax;
  if (env_int("CKPT_SIGNAL", rtmin, rtmax, v)) c.ckpt_signal = int(v);
  if (env_int("CKPT_THAW_SIGNAL", rtmin, rtmax, v)) c.thaw_signal = int(v);
  if (c.ckpt_signal == c.freeze_signal || c.thaw_signal == c.freeze_signal) {
    // The internal stop signal moves out of the way of a user's choice.
    for (int s = rtmax; s >= rtmin; s--)
      if (s != c.ckpt_signal && s != c.thaw_signal) { c.freeze_signal = s; break; }
  }
  if (c.ckpt_signal == c.thaw_signal) {
    log_error(Msg() << "CKPT_SIGNAL and CKPT_THAW_SIGNAL are both " << c.ckpt_signal << "; libckpt stays inactive");
    return false;
  }
  if (env_int("CKPT_ZSTD_LEVEL", -5, 19, v)) c.zstd_level = int(v);
  if (env_int("CKPT_WRITER_THREADS", 1, 8, v)) c.writer_threads = unsigned(v);
  if (env_int("CKPT_FREEZE_TIMEOUT_MS", 10, 600000, v)) c.freeze_timeout_ns = uint64_t(v) * 1000000;
  if (env_int("CKPT_VERBOSE", 0, 9, v)) g_verbose = v > 0;
  if (env_int("CKPT_FORKED_WRITER", 0, 1, v)) c.forked_writer = v == 1;
  if (env_int("CKPT_INCREMENTAL", 0, 1, v)) c.incremental = v == 1;
  if (env_int("CKPT_FULL_EVERY", 0, 1000000, v)) c.full_every = uint32_t(v);
  if (env_int("CKPT_KEEP", 0, 1000000, v)) c.keep = uint32_t(v);
  if (env_int("CKPT_INTERVAL", 0, 100000000, v)) c.interval_s = uint32_t(v);
  if (env_int("CKPT_IGNORE_UNSUPPORTED", 0, 1, v)) c.ignore_unsupported = v == 1;
  if (env_int("CKPT_IMAGES_CREATED", 0, 1, v)) c.images_dir_created = v == 1;
  unsetenv("CKPT_IMAGES_CREATED");  // for this program only, not for what it runs
  if (const char* t = getenv("CKPT_TRACK")) {
    if (!strcmp(t, "auto") || !strcmp(t, "uffd") || !strcmp(t, "mprotect") || !strcmp(t, "none"))
      copy_str(c.track, sizeof c.track, t);
    else
      log_warning(Msg() << "ignoring CKPT_TRACK=" << t << " (expected auto, uffd, mprotect or none)");
  }
  const char* exit_after = getenv("CKPT_EXIT_AFTER_CHECKPOINT");
  c.exit_after_checkpoint = exit_after && strcmp(exit_after, "1") == 0;
  const char* dir = getenv("CKPT_IMAGES");
  char cwd[4096];
  if (!dir || dir[0] != '/') {
    // Run without ckpt-run (LD_PRELOAD by hand): images go to the working directory.
    long r = ckpt_syscall2(CKPT_NR_getcwd, long(cwd), sizeof cwd);
    dir = r > 0 ? cwd : "/tmp";
  }
  if (strlen(dir) > CKPT_MAX_IMAGES_DIR) {
    log_error(Msg() << "the images directory path is " << strlen(dir) << " bytes long; at most "
                    << CKPT_MAX_IMAGES_DIR << " are supported; libckpt stays inactive");
    return false;
  }
  copy_str(c.images_dir, sizeof c.images_dir, dir);
  dl_iterate_phdr(find_self, nullptr);
  char exe[1024];
  long n = ckpt_syscall4(CKPT_NR_readlinkat, AT_FDCWD, long("/proc/self/exe"), long(exe), sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    const char* base = strrchr(exe, '/');
    copy_str(c.program, sizeof c.program, base ? base + 1 : exe);
  }
  c.cpu = read_cpu_features();
  struct utsname u;
  if (uname(&u) == 0) {
    copy_str(c.uts_sysname, sizeof c.uts_sysname, u.sysname);
    copy_str(c.uts_release, sizeof c.uts_release, u.release);
    copy_str(c.uts_version, sizeof c.uts_version, u.version);
    copy_str(c.uts_machine, sizeof c.uts_machine, u.machine);
  }
  return true;
}

}  // namespace ckpt
