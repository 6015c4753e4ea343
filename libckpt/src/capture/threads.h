// Per-thread kernel state, captured by each thread for itself inside its
// signal handler (several of these values can only be read by the thread
// they belong to: robust list, clear_child_tid, rseq, fs base, name).
#pragma once
#include <ucontext.h>

#include <cstdint>

#include "image/process_state.h"

namespace ckpt {

// Fixed-size so that frozen threads can fill it without allocating.
struct ThreadCapture {
  int32_t tid;
  int32_t error;                  // errno of a failed capture step, else 0
  bool coordinator;
  uint64_t fs_base, gs_base;
  ResumeContext resume;
  uint64_t handler_sigmask, app_sigmask;
  uint64_t altstack_sp, altstack_size;
  int32_t altstack_flags;          // SS_DISABLE, or SS_AUTODISARM
  uint64_t robust_list, robust_list_len;
  uint64_t clear_child_tid;
  uint64_t rseq_area;
  uint32_t rseq_len, rseq_sig;
  char name[16];
  uint64_t affinity[16];          // up to 1024 CPUs
  uint32_t affinity_words;
  uint64_t interrupted_rip, interrupted_rsp;
  uint32_t npending;              // signals pending for this thread
  uint32_t in_handler;            // the thread runs libckpt's freeze handler (it will park)
  unsigned char pending[16][128]; // their siginfo
};

// Fills everything but `resume` (set by ckpt_save_context) and `coordinator`.
// `scratch` is this thread's own buffer (no allocation in a signal handler).
void capture_thread(ThreadCapture& t, const ucontext_t* uc, char* scratch, size_t scratch_len);
ThreadState thread_state_from(const ThreadCapture& t);

}  // namespace ckpt
