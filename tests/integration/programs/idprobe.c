/* idprobe: reports the process's and its threads' identity on request, for
 * the restore identity modes (same pid, pid namespace, new pid).
 *
 * usage: idprobe MAX_SECONDS
 *
 * Starts two worker threads, prints "start pid=P", then each SIGUSR1 (sent
 * to the process; the workers block it, so main takes it) makes main and
 * then each worker print one line
 *     probe N who=W getpid=P gettid=T getppid=PP uid=U proc_self=S thread_self=TS
 *         status_tgid=G status_pid=SP nspid=A,B pidns=pid:[INODE] comm=NAME
 * (one line; proc_self is readlink("/proc/self"), thread_self the last
 * component of readlink("/proc/thread-self"), status_tgid, status_pid and
 * nspid the Tgid, Pid (the thread's id) and NSpid fields of
 * /proc/thread-self/status, comm the thread's name),
 * followed by "probe N end". Exits 3 after MAX_SECONDS. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { NWORKERS = 2 };

static volatile sig_atomic_t requests;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int round_no;      /* guarded by mu: the probe being answered */
static int answered;      /* guarded by mu: workers done with round_no */

static void on_usr1(int sig) {
  (void)sig;
  requests++;
}

static void readlink_str(const char *path, char *buf, size_t size) {
  ssize_t n = readlink(path, buf, size - 1);
  if (n < 0) {
    snprintf(buf, size, "error:%d", errno);
    return;
  }
  buf[n] = 0;
}

static void status_field(const char *name, char *out, size_t size) {
  snprintf(out, size, "none");
  FILE *f = fopen("/proc/thread-self/status", "r");
  if (!f) return;
  char line[256];
  size_t len = strlen(name);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, name, len) == 0 && line[len] == ':') {
      char *v = line + len + 1, *o = out;
      while (*v == ' ' || *v == '\t') v++;
      /* tabs between the levels become commas */
      for (; *v && *v != '\n' && (size_t)(o - out) < size - 1; v++) *o++ = (*v == '\t' || *v == ' ') ? ',' : *v;
      *o = 0;
      break;
    }
  }
  fclose(f);
}

static void report(int n, const char *who) {
  char self[64], thread_self[64], tgid[32], pid[32], nspid[96], pidns[64], comm[32] = "";
  readlink_str("/proc/self", self, sizeof self);
  readlink_str("/proc/thread-self", thread_self, sizeof thread_self);
  char *slash = strrchr(thread_self, '/');
  status_field("Tgid", tgid, sizeof tgid);
  status_field("Pid", pid, sizeof pid);
  status_field("NSpid", nspid, sizeof nspid);
  readlink_str("/proc/self/ns/pid", pidns, sizeof pidns);
  pthread_getname_np(pthread_self(), comm, sizeof comm);
  printf("probe %d who=%s getpid=%d gettid=%ld getppid=%d uid=%d proc_self=%s thread_self=%s status_tgid=%s status_pid=%s nspid=%s "
         "pidns=%s comm=%s\n",
         n, who, getpid(), (long)syscall(SYS_gettid), getppid(), (int)getuid(), self, slash ? slash + 1 : thread_self,
         tgid, pid, nspid, pidns, comm);
  fflush(stdout);
}

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  char who[16];
  snprintf(who, sizeof who, "worker%d", id);
  char name[16];
  snprintf(name, sizeof name, "idprobe-w%d", id);
  pthread_setname_np(pthread_self(), name);
  int seen = 0;
  pthread_mutex_lock(&mu);
  for (;;) {
    while (round_no == seen) pthread_cond_wait(&cv, &mu);
    seen = round_no;
    pthread_mutex_unlock(&mu);
    report(seen, who);
    pthread_mutex_lock(&mu);
    answered++;
    pthread_cond_broadcast(&cv);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: idprobe MAX_SECONDS\n");
    return 100;
  }
  long max_ticks = atol(argv[1]) * 50;
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, NULL);
  pthread_t th[NWORKERS];
  for (intptr_t i = 0; i < NWORKERS; i++) pthread_create(&th[i], NULL, worker, (void *)i);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
  printf("start pid=%d\n", getpid());
  fflush(stdout);
  int done = 0;
  for (long tick = 0; tick < max_ticks; tick++) {
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    while (done < requests) {
      int n = ++done;
      report(n, "main");
      pthread_mutex_lock(&mu);
      round_no = n;
      answered = 0;
      pthread_cond_broadcast(&cv);
      while (answered < NWORKERS) pthread_cond_wait(&cv, &mu);
      pthread_mutex_unlock(&mu);
      printf("probe %d end\n", n);
      fflush(stdout);
    }
  }
  printf("timeout\n");
  return 3;
}
