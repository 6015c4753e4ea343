#include <cstring>

#include "dirty_tracker.h"

namespace ckpt {

DirtyTracker* uffd_tracker(Msg& why);
DirtyTracker* mprotect_tracker(Msg& why);

namespace {
DirtyTracker* g_active = nullptr;
}

DirtyTracker* select_tracker(const char* wanted, Msg& note) {
  g_active = nullptr;
  if (strcmp(wanted, "none") == 0) return nullptr;
  if (strcmp(wanted, "mprotect") != 0) {
    Msg why;
    if ((g_active = uffd_tracker(why))) return g_active;
    note << "uffd tracking is not available (" << why.c_str() << "); using mprotect";
  }
  Msg why;
  if ((g_active = mprotect_tracker(why))) return g_active;
  note << (note.size() ? "; " : "") << "mprotect tracking is not available (" << why.c_str()
       << "); every checkpoint is full";
  return nullptr;
}

DirtyTracker* active_tracker() { return g_active; }

}  // namespace ckpt
