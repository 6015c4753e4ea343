// listen(), inotify_add_watch() and inotify_rm_watch(): recorded in fixed
// tables (lock-free: the checkpoint reads them while threads are frozen).
#include <sys/inotify.h>
#include <sys/socket.h>

#include <cstring>

#include "real.h"
#include "records.h"

namespace ckpt {

namespace {

constexpr int kMaxListen = 256;
struct ListenRecord {
  int fd;  // 0: free (fd 0 is never a listening socket worth recording)
  int backlog;
};
ListenRecord g_listen[kMaxListen];

constexpr int kMaxWatches = 1024;
struct WatchRecord {
  int fd, wd;  // fd 0: free
  char path[512];
};
WatchRecord g_watches[kMaxWatches];

}  // namespace

int socket_backlog(int fd) {
  for (const ListenRecord& r : g_listen)
    if (r.fd == fd) return r.backlog;
  return 128;
}

bool inotify_watch_path(int fd, int wd, std::string& path) {
  for (const WatchRecord& w : g_watches)
    if (w.fd == fd && w.wd == wd) {
      path = w.path;
      return true;
    }
  return false;
}

void forget_fd_records(int fd) {
  if (fd <= 0) return;
  for (ListenRecord& r : g_listen)
    if (__atomic_load_n(&r.fd, __ATOMIC_ACQUIRE) == fd) __atomic_store_n(&r.fd, 0, __ATOMIC_RELEASE);
  for (WatchRecord& w : g_watches)
    if (__atomic_load_n(&w.fd, __ATOMIC_ACQUIRE) == fd) __atomic_store_n(&w.fd, 0, __ATOMIC_RELEASE);
}

}  // namespace ckpt

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

CKPT_EXPORT int listen(int fd, int backlog) {
  int r = CKPT_REAL(listen)(fd, backlog);
  if (r == 0 && fd > 0) {
    ListenRecord* slot = nullptr;
    for (ListenRecord& e : g_listen)
      if (e.fd == fd) slot = &e;
    for (ListenRecord& e : g_listen)
      if (!slot && __atomic_load_n(&e.fd, __ATOMIC_ACQUIRE) == 0) {
        int expected = 0;
        if (__atomic_compare_exchange_n(&e.fd, &expected, fd, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) slot = &e;
      }
    if (slot) slot->backlog = backlog;
  }
  return r;
}

CKPT_EXPORT int inotify_add_watch(int fd, const char* path, uint32_t mask) {
  int wd = CKPT_REAL(inotify_add_watch)(fd, path, mask);
  if (wd < 0 || fd <= 0 || strlen(path) >= sizeof(WatchRecord::path)) return wd;
  for (WatchRecord& w : g_watches)
    if (w.fd == fd && w.wd == wd) return wd;  // the same watch, updated
  for (WatchRecord& w : g_watches) {
    int expected = 0;
    if (__atomic_compare_exchange_n(&w.fd, &expected, -1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
      w.wd = wd;
      strcpy(w.path, path);
      __atomic_store_n(&w.fd, fd, __ATOMIC_RELEASE);
      break;
    }
  }
  return wd;
}

CKPT_EXPORT int inotify_rm_watch(int fd, int wd) {
  int r = CKPT_REAL(inotify_rm_watch)(fd, wd);
  for (WatchRecord& w : g_watches)
    if (w.fd == fd && w.wd == wd) __atomic_store_n(&w.fd, 0, __ATOMIC_RELEASE);
  return r;
}
