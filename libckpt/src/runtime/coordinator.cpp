#include "coordinator.h"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>

#include "api/callbacks.h"
#include "common/raw_syscall.h"
#include "config.h"
#include "runtime.h"

namespace ckpt::coordinator {

namespace {

// A multi-producer queue fed from signal handlers: a producer reserves a
// slot, writes the token, then marks the slot with its sequence number.
constexpr uint32_t kQueue = 256;
uint32_t g_tokens[kQueue];
uint32_t g_slot_seq[kQueue];
uint32_t g_reserved = 0;
uint32_t g_published = 0;  // futex word the thread sleeps on
uint32_t g_head = 0;       // consumer only
bool g_running = false;
pthread_mutex_t g_start_lock = PTHREAD_MUTEX_INITIALIZER;

void futex_wait(uint32_t* word, uint32_t val) {
  ckpt_syscall4(CKPT_NR_futex, long(word), FUTEX_WAIT_PRIVATE, val, 0);
}

void* thread_main(void*) {
  // Everything blocked but libckpt's freeze signal: SIGCKPT from outside is
  // taken by application threads, whose handler posts here. Faults stay
  // deliverable: the application's callbacks run here and may write memory
  // the mprotect backend protects (a blocked SIGSEGV would kill the process).
  uint64_t mask = ~0ull & ~(1ull << (g_config.freeze_signal - 1)) & ~(1ull << (33 - 1)) &
                  ~(1ull << (SIGSEGV - 1)) & ~(1ull << (SIGBUS - 1));
  ckpt_syscall4(CKPT_NR_rt_sigprocmask, SIG_SETMASK, long(&mask), 0, 8);
  ckpt_syscall2(CKPT_NR_prctl, PR_SET_NAME, long("ckpt-coord"));
  for (;;) {
    uint32_t published = __atomic_load_n(&g_published, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&g_slot_seq[g_head % kQueue], __ATOMIC_ACQUIRE) != g_head + 1) {
      futex_wait(&g_published, published);
      continue;
    }
    uint32_t token = g_tokens[g_head % kQueue];
    g_head++;
    run_callbacks(CKPT_EVENT_BEFORE_CHECKPOINT);
    while (!begin_exclusive()) {  // a range save in progress
      struct timespec ts = {0, 1000000};
      ckpt_syscall2(CKPT_NR_nanosleep, long(&ts), 0);
    }
    Outcome o = coordinate(token, nullptr);
    end_exclusive();
    run_callbacks(o == Outcome::Restored ? CKPT_EVENT_AFTER_RESTORE : CKPT_EVENT_AFTER_CHECKPOINT);
  }
  return nullptr;
}

}  // namespace

bool start() {
  pthread_mutex_lock(&g_start_lock);
  if (!g_running) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    g_running = pthread_create(&th, &attr, thread_main, nullptr) == 0;
    pthread_attr_destroy(&attr);
  }
  bool ok = g_running;
  pthread_mutex_unlock(&g_start_lock);
  return ok;
}

bool running() { return __atomic_load_n(&g_running, __ATOMIC_ACQUIRE); }

bool post(uint32_t token) {
  if (!running()) return false;
  uint32_t t = __atomic_fetch_add(&g_reserved, 1, __ATOMIC_ACQ_REL);
  g_tokens[t % kQueue] = token;
  __atomic_store_n(&g_slot_seq[t % kQueue], t + 1, __ATOMIC_RELEASE);
  __atomic_add_fetch(&g_published, 1, __ATOMIC_ACQ_REL);
  ckpt_syscall3(CKPT_NR_futex, long(&g_published), FUTEX_WAKE_PRIVATE, 1);
  return true;
}

void after_fork() {
  g_running = false;
  g_head = g_reserved = g_published = 0;
  for (uint32_t& q : g_slot_seq) q = 0;
  pthread_mutex_init(&g_start_lock, nullptr);
  if (callbacks_registered()) start();
}

}  // namespace ckpt::coordinator
