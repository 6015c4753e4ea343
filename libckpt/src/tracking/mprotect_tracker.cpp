// The mprotect backend (not available yet in this build).
#include "dirty_tracker.h"

namespace ckpt {

DirtyTracker* mprotect_tracker(Msg& why) {
  why << "not built";
  return nullptr;
}

}  // namespace ckpt
