/* incr_kwrites: every kind of call through which the kernel (or glibc
 * from inside) writes into the caller's memory, aimed at heap pages the
 * program itself does not write between checkpoints (with --track=mprotect
 * they are write-protected after each checkpoint: a call must not fail with
 * EFAULT).
 *
 * usage: incr_kwrites ROUNDS SLEEP_MS
 *
 * Each round makes every call once, into its own page-aligned heap buffer
 * (allocated at start, written only by the kernel afterwards), then prints
 * "round R" and sleeps SLEEP_MS. The calls: the signal-mask and signal-wait calls,
 * epoll_wait/epoll_pwait, poll, select, sched_getaffinity,
 * pthread_getaffinity_np, getresuid/getresgid, getgroups, prctl(PR_GET_NAME),
 * pthread_getname_np, mincore, timerfd_gettime, getitimer, setitimer,
 * capget, process_vm_readv, clock_gettime of a CPU-time clock, clock_getres,
 * raw syscall(2) reads (read, pread64, getrandom, uname), readv, preadv2,
 * recvmmsg, getrusage, times, uname, sysinfo, getrlimit, prlimit, getcwd,
 * readlink, statx, fstatfs, getsockname, getsockopt, wait4, waitid,
 * madvise(MADV_POPULATE_WRITE), a stdio stream opened after the checkpoint
 * (fgets, fread) and getline. A call failing with EFAULT prints "FAIL
 * round R: NAME: ERROR"; with another error, "note round R: ...". Ends with
 * "final ok" (exit 0) or "final failures=N" (exit 1). */
#include "incr_common.h" /* first: it defines _GNU_SOURCE */
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/times.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

enum { NB = 64 };
static unsigned char *B[NB];
static int failures, round_no;

/* EFAULT is the failure under test; other errors come from the
 * environment (a restored process has no children, and its socket pair
 * may come back unconnected): they are only noted. */
static void check(const char *name, long rc) {
  if (rc < 0 && errno == EFAULT) {
    printf("FAIL round %d: %s: %s\n", round_no, name, strerror(errno));
    failures++;
  } else if (rc < 0) {
    printf("note round %d: %s: %s\n", round_no, name, strerror(errno));
  }
}
/* For functions that return an error number instead of setting errno. */
static void check_rc(const char *name, int err) {
  if (err) {
    errno = err;
    check(name, -1);
  }
}

int main(int argc, char **argv) {
  check_usage(argc, 3, "incr_kwrites ROUNDS SLEEP_MS");
  int rounds = atoi(argv[1]), sleep = atoi(argv[2]);
  for (int i = 0; i < NB; i++) FAIL_IF(posix_memalign((void **)&B[i], 4096, 4096) != 0, "posix_memalign");
  for (int i = 0; i < NB; i++) memset(B[i], 0x5a, 4096);
  unsigned char *fresh = mmap(NULL, 64 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  FAIL_IF(fresh == MAP_FAILED, "mmap");
  int sp[2];
  FAIL_IF(socketpair(AF_UNIX, SOCK_DGRAM, 0, sp) != 0, "socketpair");
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 7};
  FAIL_IF(ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sp[1], &ev) != 0, "epoll");
  int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
  struct itimerspec its = {{100, 0}, {100, 0}};
  FAIL_IF(tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) != 0, "timerfd");
  int fd = open("/proc/self/exe", O_RDONLY);
  FAIL_IF(fd < 0, "open /proc/self/exe");
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  FAIL_IF(sigprocmask(SIG_BLOCK, &usr2, NULL) != 0, "sigprocmask");
  static char src[256] = "process_vm_readv source";
  printf("ready\n");
  fflush(stdout);

  for (round_no = 1; round_no <= rounds; round_no++) {
    int b = 0;
    sigset_t empty;
    sigemptyset(&empty);
    check("sigprocmask oldset", sigprocmask(SIG_BLOCK, &empty, (sigset_t *)B[b++]));
    check_rc("pthread_sigmask oldset", pthread_sigmask(SIG_BLOCK, &empty, (sigset_t *)B[b++]));
    check("sigpending", sigpending((sigset_t *)B[b++]));
    raise(SIGUSR2);
    struct timespec zero = {0, 0};
    check("sigtimedwait info", sigtimedwait(&usr2, (siginfo_t *)B[b++], &zero));
    raise(SIGUSR2);
    check("sigwaitinfo info", sigwaitinfo(&usr2, (siginfo_t *)B[b++]));
    check("send", send(sp[0], "x", 1, 0));
    check("epoll_wait events", epoll_wait(ep, (struct epoll_event *)B[b++], 4, 0));
    check("epoll_pwait events", epoll_pwait(ep, (struct epoll_event *)B[b++], 4, 0, NULL));
    {
      unsigned char *p = B[b++];
      struct pollfd pf = {sp[0], POLLOUT, 0};
      check("poll", poll(memcpy(p + 4096 - sizeof pf, &pf, sizeof pf) ? (struct pollfd *)(p + 4096 - sizeof pf) : NULL, 1, 0));
    }
    char tmp[8];
    check("recv", recv(sp[1], tmp, sizeof tmp, MSG_DONTWAIT));
    check("sched_getaffinity", sched_getaffinity(0, 128, (cpu_set_t *)B[b++]));
    check_rc("pthread_getaffinity_np", pthread_getaffinity_np(pthread_self(), 128, (cpu_set_t *)B[b++]));
    uid_t *u = (uid_t *)B[b++];
    check("getresuid", getresuid(u, u + 1, u + 2));
    gid_t *g = (gid_t *)B[b++];
    check("getresgid", getresgid(g, g + 1, g + 2));
    check("getgroups", getgroups(64, (gid_t *)B[b++]));
    check("prctl(PR_GET_NAME)", prctl(PR_GET_NAME, B[b++]));
    check_rc("pthread_getname_np", pthread_getname_np(pthread_self(), (char *)B[b++], 16));
    check("mincore", mincore(fresh, 16 * 4096, B[b++]));
    check("timerfd_gettime", timerfd_gettime(tfd, (struct itimerspec *)B[b++]));
    check("getitimer", getitimer(ITIMER_VIRTUAL, (struct itimerval *)B[b++]));
    struct itimerval off = {{0, 0}, {0, 0}};
    check("setitimer old value", setitimer(ITIMER_VIRTUAL, &off, (struct itimerval *)B[b++]));
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    check("capget data", syscall(SYS_capget, &hdr, B[b++]));
    struct iovec lv = {B[b++], 100}, rv = {src, 100};
    check("process_vm_readv", process_vm_readv(getpid(), &lv, 1, &rv, 1, 0));
    check("clock_gettime(CLOCK_PROCESS_CPUTIME_ID)", clock_gettime(CLOCK_PROCESS_CPUTIME_ID, (struct timespec *)B[b++]));
    check("clock_gettime(CLOCK_THREAD_CPUTIME_ID)", clock_gettime(CLOCK_THREAD_CPUTIME_ID, (struct timespec *)B[b++]));
    check("clock_getres", clock_getres(CLOCK_MONOTONIC, (struct timespec *)B[b++]));
    check("syscall(SYS_read)", syscall(SYS_read, fd, B[b++], 100));
    check("syscall(SYS_pread64) into a never-touched page", syscall(SYS_pread64, fd, fresh + 32 * 4096 + (round_no % 16) * 4096, 4096, 0));
    check("syscall(SYS_getrandom)", syscall(SYS_getrandom, B[b++], 64, 0));
    check("syscall(SYS_uname)", syscall(SYS_uname, B[b++]));
    struct iovec iv[2] = {{B[b], 100}, {B[b + 1], 100}};
    b += 2;
    check("readv", readv(fd, iv, 2));
    struct iovec iv2 = {B[b++], 1000};
    check("preadv2", preadv2(fd, &iv2, 1, 0, 0));
    check("send", send(sp[0], "msg", 3, 0));
    struct mmsghdr mm;
    memset(&mm, 0, sizeof mm);
    struct iovec mi = {B[b++], 100};
    mm.msg_hdr.msg_iov = &mi;
    mm.msg_hdr.msg_iovlen = 1;
    check("recvmmsg", recvmmsg(sp[1], &mm, 1, MSG_DONTWAIT, NULL));
    check("getrusage", getrusage(RUSAGE_SELF, (struct rusage *)B[b++]));
    check("times", times((struct tms *)B[b++]) == (clock_t)-1 ? -1 : 0);
    check("uname", uname((struct utsname *)B[b++]));
    check("sysinfo", sysinfo((struct sysinfo *)B[b++]));
    check("getrlimit", getrlimit(RLIMIT_NOFILE, (struct rlimit *)B[b++]));
    check("prlimit old", prlimit(0, RLIMIT_NOFILE, NULL, (struct rlimit *)B[b++]));
    check("getcwd", getcwd((char *)B[b++], 4096) ? 0 : -1);
    check("readlink", readlink("/proc/self/exe", (char *)B[b++], 4096));
    check("statx", statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, (struct statx *)B[b++]));
    check("fstatfs", fstatfs(fd, (struct statfs *)B[b++]));
    socklen_t *len = (socklen_t *)B[b++];
    *len = 100;  /* a user write: unprotects that page; the address goes elsewhere */
    check("getsockname", getsockname(sp[0], (struct sockaddr *)B[b++], len));
    socklen_t *olen = (socklen_t *)B[b++];
    *olen = sizeof(int);
    check("getsockopt", getsockopt(sp[0], SOL_SOCKET, SO_TYPE, B[b++], olen));
    {
      unsigned char *sel = B[b++];
      fd_set s;
      FD_ZERO(&s);
      FD_SET(sp[0], &s);
      struct timeval tv = {0, 0};
      /* the fd_set lives in a page the kernel writes */
      fd_set *ks = (fd_set *)(sel + 4096 - sizeof s);
      check("select", (memcpy(ks, &s, sizeof s), select(sp[0] + 1, NULL, ks, NULL, &tv)));
    }
    pid_t c = fork();
    if (c == 0) _exit(3);
    check("wait4", wait4(c, (int *)B[b], 0, (struct rusage *)(B[b + 1])));
    b += 2;
    c = fork();
    if (c == 0) _exit(4);
    check("waitid", waitid(P_PID, (id_t)c, (siginfo_t *)B[b++], WEXITED));
    check("madvise(MADV_POPULATE_WRITE)", madvise(B[b++], 4096, MADV_POPULATE_WRITE));
    FILE *f = fopen("/proc/self/maps", "r");
    check("fopen", f ? 0 : -1);
    if (f) {
      char line[256];
      check("fgets on a stream opened after the checkpoint", fgets(line, sizeof line, f) ? 0 : -1);
      check("fread", fread(B[b++], 1, 2000, f) > 0 ? 0 : -1);
      char *lp = NULL;
      size_t ln = 0;
      check("getline", getline(&lp, &ln, f));
      free(lp);
      fclose(f);
    }
    if (b > NB) {
      printf("FAIL the fixture needs more buffers (%d > %d)\n", b, NB);
      return 1;
    }
    printf("round %d\n", round_no);
    fflush(stdout);
    sleep_ms(sleep);
  }
  if (failures) printf("final failures=%d\n", failures);
  else printf("final ok\n");
  return failures != 0;
}
