// libckpt's coordinator thread, started when the application uses the API
// (ckpt.h). Checkpoint requests (SIGCKPT from outside, ckpt_checkpoint())
// are then carried out in this thread, in normal thread context, so the
// application's callbacks can run before and after a checkpoint without the
// restrictions of a signal handler. Without the API no such thread exists.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ckpt::coordinator {

bool start();    // idempotent; called from application context
bool running();
// Queues a request (async-signal-safe). False if the thread is not running.
bool post(uint32_t token);
// Fork child: the thread does not exist there.
void after_fork();

}  // namespace ckpt::coordinator
