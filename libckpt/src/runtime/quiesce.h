// Stopping every other thread for a checkpoint ("quiesce") and letting them
// go again ("thaw").
//
// Protocol: the coordinator (the thread that received SIGCKPT) lists
// /proc/self/task, gives each other thread a ThreadCapture slot and sends it
// the internal freeze signal with tgkill. Each thread records its own state
// in its handler, saves its resume context and parks on a futex. The
// coordinator re-lists the tasks until no new thread appeared (threads being
// created meanwhile are caught too) and gives up after a bounded wait,
// naming the threads that did not stop. Thaw bumps a generation counter and
// wakes everyone.
//
// After a restore every thread resumes at its saved context inside the
// handler, announces itself and parks again until the coordinator has
// finished the post-restore work.
#pragma once
#include <cstdint>

#include "capture/threads.h"
#include "common/msg.h"

namespace ckpt {

struct FreezeResult {
  ThreadCapture* slots;  // slots[0] is the coordinator
  uint32_t count;
};

void install_freeze_handler();
// On failure every thread is already running again and `err` says why.
bool freeze_other_threads(FreezeResult& out, Msg& err);
void thaw_threads();
// After a restore: wait until the `expected` other threads are back in
// libckpt's code (out of the restorer's memory).
void wait_restored_threads(uint32_t expected);
uint32_t frozen_thread_count();
// In a fork child: no freeze is in progress there.
void quiesce_after_fork();

}  // namespace ckpt
