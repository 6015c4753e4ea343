// Shared by the interposed memory calls and syscall(2).
#pragma once
#include <cstdint>

namespace ckpt {

// The program break moves from old_break to new_break (brk, sbrk, SYS_brk).
void brk_changing(uint64_t old_break, uint64_t new_break);

}  // namespace ckpt
