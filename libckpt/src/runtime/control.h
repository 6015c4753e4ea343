// libckpt's end of the control block (common/control_block.h).
#pragma once
#include <cstdint>

#include "common/control_block.h"
#include "common/msg.h"

namespace ckpt::control {

// Creates the memfd at a high close-on-exec descriptor (`want_fd` if >= 0 and
// free) and maps it. Returns false if the process has no room for it.
bool create(int want_fd = -1);
// Drops an inherited block (fork child) or a stale one (after restore).
void forget();
// After a restore: the block's fd and mapping do not exist; drop the pointers only.
void abandon();
int fd();
// The application wants our descriptor's number: move to another high one.
void move_away();
bool owns_fd(int fd);
// Makes sure the control block has its descriptor (the application may have
// closed it with a raw system call): re-created if not. Async-signal-safe.
bool ensure_fd();
uintptr_t mapping_start();
uintptr_t mapping_end();

// exec (interpose/exec.cpp): the program exec'd under the same pid takes
// the block over, so a request made meanwhile gets its result where it
// waits. adopt_inherited() is the new program's side: it maps a block
// handed over by exec and returns its exec state (CKPT_CONTROL_EXEC or
// CKPT_CONTROL_EXEC_MASKED), or 0 if there is none (then create()).
uint32_t adopt_inherited();
// Does the block belong to this process (not the parent of a vfork child)?
bool ours();
// Before exec: hand the block over (inheritable, exec state) or, when the
// next program will not load libckpt, mark it not ready. Returns the
// previous ready value for exec_failed().
uint32_t prepare_exec(bool handover, bool ckpt_signal_was_blocked);
void exec_failed(uint32_t prev_ready);

void set_ready();
uint64_t begin_checkpoint();  // returns the sequence number
// freeze_ns 0 keeps what record_freeze_time() put there.
void finish_checkpoint(uint64_t seq, uint32_t token, bool ok, const char* path, const char* message,
                       uint64_t bytes, uint64_t freeze_ns, uint64_t write_ns, const uint8_t* image_id,
                       uint64_t content_hash, bool incremental);
// The result of checkpoint `seq`, if it is still in the ring.
bool read_result(uint64_t seq, ckpt_control_result& out);
// The newest result carrying `token`, if any.
bool find_result(uint32_t token, ckpt_control_result& out);
// The frozen time is known to the application process, the rest of the
// result to the writer process: each fills its part of the same slot.
void record_freeze_time(uint64_t seq, uint64_t freeze_ns);
uint64_t recorded_freeze_time(uint64_t seq);

}  // namespace ckpt::control
