// Bare helper threads for libckpt's own parallel work (compressing image
// blocks). They run while application threads may be frozen, so they are
// made with a raw clone, not pthread_create (which takes glibc locks a
// frozen thread may hold), block every signal (inherited from the signal
// handler that starts them), and must not touch thread-local data.
#pragma once
#include <cstdint>

#include "image/image_writer.h"

namespace ckpt {

class HelperThreads : public ThreadStarter {
 public:
  ~HelperThreads() override { join_all(); }
  bool start(void (*fn)(void*), void* arg) override;
  void join_all() override;

  // How many helpers the image writer should use: one less than the CPUs
  // this thread may run on (the caller compresses too), at most 7;
  // CKPT_WRITER_THREADS overrides the total.
  static unsigned recommended();

 private:
  static constexpr unsigned kMax = 8;
  static constexpr uint64_t kStackSize = 256u << 10;
  struct Helper {
    int tid_word;  // cleared by the kernel when the thread is gone
    uint64_t stack;
  };
  Helper helpers_[kMax] = {};
  unsigned count_ = 0;
};

}  // namespace ckpt
