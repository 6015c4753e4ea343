/* res_refuse: processes a checkpoint must refuse, or fail to write, while
 * the process keeps running (tests_resources.py).
 *
 * usage: res_refuse seccomp STOP_FILE
 *   installs an allow-all seccomp filter (PR_SET_NO_NEW_PRIVS, then
 *   seccomp(SECCOMP_SET_MODE_FILTER)); exit 77 with "unsupported ..." if the
 *   kernel does not allow it.
 * usage: res_refuse io_uring STOP_FILE
 *   creates an io_uring instance and maps its rings; exit 77 with
 *   "unsupported ..." if io_uring_setup fails (ENOSYS, EPERM: disabled).
 * usage: res_refuse io_uring_closed STOP_FILE
 *   the same, then closes the io_uring descriptor: only the mapped rings
 *   remain (they keep the instance alive), never touched again.
 * usage: res_refuse vfork STOP_FILE
 *   prints "ready" and calls vfork(); the child prints "vfork child PID",
 *   waits for STOP_FILE and exits (raw system calls only: it runs on our
 *   stack), then we finish at once.
 * usage: res_refuse clone_vm STOP_FILE
 *   a child made with clone(CLONE_VM) (no CLONE_THREAD: another process
 *   sharing our memory) sleeps until we finish; prints "clone_vm child PID".
 * usage: res_refuse ptrace STOP_FILE
 *   a forked child (it waits for STOP_FILE), which we trace
 *   (PTRACE_SEIZE); prints "tracing child PID"; exit 77 with "unsupported
 *   ..." if ptrace is not permitted.
 * usage: res_refuse grow STOP_FILE GROW_FILE MIB
 *   when GROW_FILE appears, fills MIB MiB of heap with incompressible data
 *   and prints "grown sum=S".
 *
 * Then, every 100 ms: "tick N" (and for grow, a check that the data still
 * sums to S: "check data FAIL" otherwise). "ready" once set up. Exits 0 with
 * "done failures=N" when STOP_FILE exists (exit 3 after 120 s). */
#include "res_common.h"

#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <sys/syscall.h>

static int setup_seccomp(void) {
  struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog prog = {.len = 1, .filter = &allow};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
    say("unsupported seccomp: %s\n", strerror(errno));
    return 77;
  }
  char mode[32];
  proc_field("/proc/self/status", "Seccomp", mode, sizeof mode);
  say("ready seccomp=%s\n", mode);
  return 0;
}

static int setup_io_uring(int close_fd) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  long fd = syscall(__NR_io_uring_setup, 8, &p);
  if (fd < 0) {
    say("unsupported io_uring_setup: %s\n", strerror(errno));
    return 77;
  }
  size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  void *sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, (int)fd, IORING_OFF_SQ_RING);
  void *sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_POPULATE, (int)fd, IORING_OFF_SQES);
  if (sq == MAP_FAILED || sqes == MAP_FAILED) setup_fail("mmap io_uring rings");
  if (close_fd) close((int)fd);
  say("ready io_uring fd=%ld%s\n", fd, close_fd ? " (closed)" : "");
  return 0;
}

static void raw_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  syscall(SYS_nanosleep, &ts, NULL);
}

static int setup_vfork(const char *stop) {
  say("ready vfork\n");
  pid_t child = vfork();
  if (child == 0) {
    char line[64];
    int n = snprintf(line, sizeof line, "vfork child %ld\n", (long)syscall(SYS_getpid));
    syscall(SYS_write, 1, line, n);
    while (syscall(SYS_access, stop, F_OK) != 0) raw_sleep_ms(50);
    _exit(0);
  }
  if (child < 0) setup_fail("vfork");
  return 0;
}

static volatile int clone_vm_stop;
static int clone_vm_child(void *arg) {
  (void)arg;
  while (!clone_vm_stop) raw_sleep_ms(50);
  syscall(SYS_exit, 0);
  return 0;
}
static pid_t clone_vm_pid;

static int setup_clone_vm(void) {
  size_t size = 256 * 1024;
  char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) setup_fail("mmap stack");
  clone_vm_pid = clone(clone_vm_child, stack + size, CLONE_VM | SIGCHLD, NULL);
  if (clone_vm_pid < 0) setup_fail("clone(CLONE_VM)");
  say("ready clone_vm child %d\n", (int)clone_vm_pid);
  return 0;
}

static pid_t traced;

static int setup_ptrace(const char *stop) {
  traced = fork();
  if (traced < 0) setup_fail("fork");
  if (traced == 0) {
    while (!file_exists(stop)) sleep_ms(50);
    _exit(0);
  }
  if (ptrace(PTRACE_SEIZE, traced, NULL, NULL) != 0) {
    say("unsupported ptrace: %s\n", strerror(errno));
    kill(traced, SIGKILL);
    return 77;
  }
  say("ready tracing child %d\n", (int)traced);
  return 0;
}

static uint64_t *data;
static size_t words;

static uint64_t data_sum(void) {
  uint64_t s = 0;
  for (size_t i = 0; i < words; i++) s = s * 31 + data[i];
  return s;
}

static void grow(size_t mib) {
  words = mib * 1024 * 1024 / sizeof(uint64_t);
  data = malloc(words * sizeof(uint64_t));
  if (!data) setup_fail("malloc");
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (size_t i = 0; i < words; i++) { /* xorshift64: zstd cannot shrink it */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    data[i] = x;
  }
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: res_refuse seccomp|io_uring|io_uring_closed|vfork|clone_vm|ptrace STOP_FILE | grow STOP_FILE GROW_FILE MIB\n");
    return 100;
  }
  const char *mode = argv[1], *stop = argv[2], *grow_file = NULL;
  size_t mib = 0;
  if (!strcmp(mode, "seccomp")) {
    int rc = setup_seccomp();
    if (rc) return rc;
  } else if (!strcmp(mode, "io_uring") || !strcmp(mode, "io_uring_closed")) {
    int rc = setup_io_uring(!strcmp(mode, "io_uring_closed"));
    if (rc) return rc;
  } else if (!strcmp(mode, "vfork")) {
    setup_vfork(stop);
  } else if (!strcmp(mode, "clone_vm")) {
    setup_clone_vm();
  } else if (!strcmp(mode, "ptrace")) {
    int rc = setup_ptrace(stop);
    if (rc) return rc;
  } else if (!strcmp(mode, "grow") && argc == 5) {
    grow_file = argv[3];
    mib = (size_t)atol(argv[4]);
    say("ready grow\n");
  } else {
    fprintf(stderr, "res_refuse: bad mode or arguments\n");
    return 100;
  }
  uint64_t sum = 0;
  for (long n = 1; !trigger_seen(stop); n++) {
    if (grow_file && !data && file_exists(grow_file)) {
      grow(mib);
      sum = data_sum();
      say("grown sum=%llx\n", (unsigned long long)sum);
    }
    if (data && n % 10 == 0 && data_sum() != sum) check("data", 0, "the data no longer sums to %llx", (unsigned long long)sum);
    say("tick %ld\n", n);
    sleep_ms(100);
  }
  if (data) check("data", data_sum() == sum, "the data no longer sums to %llx", (unsigned long long)sum);
  if (clone_vm_pid > 0) {
    clone_vm_stop = 1;
    check("clone_vm_child", waitpid(clone_vm_pid, NULL, 0) == clone_vm_pid, "waitpid: %s", strerror(errno));
  }
  if (traced > 0) {
    int status = 0;
    check("traced_child", waitpid(traced, &status, 0) == traced && WIFEXITED(status), "status %#x", status);
  }
  return finish();
}
