// File descriptors of the restored process, opened by ckpt-run at
// temporary numbers and put in place by the restorer (dup3).
//
// Policy (README "Files"): regular files and directories are reopened by
// path with their saved flags (never O_TRUNC/O_CREAT) at their saved offset;
// character devices such as /dev/null are reopened; standard streams that
// were a terminal, pipe or socket become ckpt-run's own corresponding streams.
// Other kinds are not restored yet: the descriptor stays closed, with a warning.
#pragma once
#include <string>
#include <vector>

#include "image/process_state.h"
#include "restorer/restorer_plan.h"

namespace ckpt {

struct FdPlan {
  std::vector<ckpt_plan_fd> dups;
  std::vector<int32_t> keep;   // numbers that stay open in the restored process
  int32_t temp_base = 0;       // temporaries live at or above this number
};

// Opens everything; throws RestoreError for a file that cannot be reopened.
FdPlan prepare_fds(const ProcessState& st, std::vector<std::string>& warnings);
// Moves a descriptor of the launcher's above every application number.
int move_above(int fd, int base);

}  // namespace ckpt
