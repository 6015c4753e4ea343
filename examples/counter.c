/* counter: the demo application. Prints a line every 200 ms; its state is a
 * counter and a running checksum in memory, so a restored process visibly
 * continues where the checkpointed one stopped. Handles SIGTHAW (the
 * signal libckpt sends after a restore) to say it was restored. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t restored;

static void on_thaw(int sig) {
  (void)sig;
  restored = 1;
}

int main(int argc, char** argv) {
  long limit = argc > 1 ? atol(argv[1]) : 100;
  /* SIGTHAW is RTMIN+29 unless ckpt-run was told otherwise (CKPT_THAW_SIGNAL). */
  const char* env = getenv("CKPT_THAW_SIGNAL");
  int thaw = env ? atoi(env) : SIGRTMIN + 29;
  signal(thaw, on_thaw);
  uint64_t sum = 0;
  for (long i = 1; i <= limit; i++) {
    sum = sum * 31 + (uint64_t)i;
    if (restored) {
      printf("counter: restored, continuing at %ld (pid %d)\n", i, getpid());
      restored = 0;
    }
    printf("count %ld sum %016llx\n", i, (unsigned long long)sum);
    fflush(stdout);
    struct timespec ts = {0, 200 * 1000 * 1000};
    while (nanosleep(&ts, &ts) != 0) {}
  }
  printf("counter: done, sum %016llx\n", (unsigned long long)sum);
  return 0;
}
