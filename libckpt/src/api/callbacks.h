// Application callbacks registered through ckpt.h.
#pragma once
#include "ckpt.h"

namespace ckpt {

void run_callbacks(enum ckpt_event event);
bool callbacks_registered();

}  // namespace ckpt
