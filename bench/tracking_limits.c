/* tracking_limits: what dirty-page tracking costs on this machine, measured
 * now, without libckpt: the per-page price of the first write after each
 * kind of write protection, and the PAGEMAP_SCAN passes a uffd checkpoint
 * makes. The tracking overhead benchmark (tracking_overhead.py) reports its
 * numbers next to these. Prints one JSON object on stdout; every figure is
 * the median of REPS timed passes over MIB of memory (present, written in a
 * shuffled page order, one word per page, as memwalk does), in wall time
 * (us_per_page, us_per_fault) and in this thread's CPU time (cpu_us_...:
 * the same without the time spent waiting for a CPU on a busy machine; on
 * a VM it includes the hypervisor's share of each fault):
 *
 *   write_present   a write to a present, writable page: no fault (what
 *                   memwalk pays per dirtied page when nothing is tracked)
 *   first_touch     the first write to each page of a fresh mapping (a
 *                   page fault that allocates and zeroes a page), for scale
 *   fork_reuse      the first write to each page after a fork whose child
 *                   already exited: a write-protect fault where the kernel
 *                   reuses the page (every forked-writer checkpoint leaves
 *                   the whole address space like this, whatever --track says)
 *   uffd_wp         the first write to each page after PAGEMAP_SCAN
 *                   write-protected it (userfaultfd WP_ASYNC, as libckpt's
 *                   uffd backend): a fault resolved in the kernel
 *   uffd_wp_after_fork  the same when a fork also left the page write-protected
 *                   (one fault does both)
 *   mprotect        the first write to each CHUNK_KIB chunk after
 *                   mprotect(PROT_READ): SIGSEGV, a handler that mprotects
 *                   the chunk back to read-write (per fault, and per page)
 *   uffd_protect_all_ms  one PAGEMAP_SCAN pass write-protecting every present
 *                   page of MIB (what registering a region costs, once)
 *   uffd_scan_written_ms / uffd_rearm_written_ms  the two passes of a uffd
 *                   checkpoint over MIB with every page written: report the
 *                   written pages, then write-protect them again (ms per pass)
 *
 * usage: tracking_limits [MIB [REPS [CHUNK_KIB]]]   (defaults 256, 5, 16)
 * Exit status 3 (and {"uffd": null, ...}) where async uffd-wp is missing. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

#include "uffd_defs.h" /* libckpt/src/common: PAGEMAP_SCAN, async write-protect */

enum { PAGE = 4096, MAX_REPS = 64 };

static char *mem;
static size_t npages, chunk;
static size_t *order;
static int pagemap = -1;

static uint64_t mix(uint64_t x) { /* memwalk's */
  x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33; return x;
}

static double cpu_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* One word written in every page, in a fixed shuffled order; wall seconds
 * (returned) and this thread's CPU seconds (*cpu: what the fault costs
 * whether or not other processes keep us waiting for a CPU). */
static double write_pass_cpu(uint64_t salt, double *cpu) {
  double c0 = cpu_s(), t0 = now_s();
  for (size_t k = 0; k < npages; k++) {
    uint64_t *w = (uint64_t *)(mem + order[k] * PAGE) + (k % (PAGE / 8));
    *w = mix(*w + salt);
  }
  double t = now_s() - t0;
  *cpu = cpu_s() - c0;
  return t;
}

static void fork_and_reap(void) {
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) _exit(0);
  if (waitpid(pid, NULL, 0) != pid) die("waitpid");
}

/* mprotect backend: unprotect the faulting chunk. */
static void on_segv(int sig, siginfo_t *si, void *uc) {
  (void)sig, (void)uc;
  uintptr_t a = (uintptr_t)si->si_addr, base = (uintptr_t)mem;
  if (a < base || a >= base + npages * PAGE) abort();
  uintptr_t c = base + (a - base) / chunk * chunk;
  size_t len = chunk;
  if (c + len > base + npages * PAGE) len = base + npages * PAGE - c;
  if (mprotect((void *)c, len, PROT_READ | PROT_WRITE) != 0) abort();
}

/* One PAGEMAP_SCAN pass over the region; returns the number of regions
 * reported (or -1). flags/mask as for libckpt's PageScanner. */
static long scan(uint64_t flags, uint64_t mask, uint64_t report, uint64_t *pages_reported) {
  static struct pm_page_region vec[256];
  long total = 0;
  *pages_reported = 0;
  for (uint64_t pos = (uint64_t)mem, end = pos + npages * PAGE; pos < end;) {
    struct pm_scan_arg a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.flags = flags;
    a.start = pos;
    a.end = end;
    a.vec = (uint64_t)vec;
    a.vec_len = 256;
    a.category_mask = mask;
    a.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED;
    a.return_mask = report;
    long n = ioctl(pagemap, PAGEMAP_SCAN, &a);
    if (n < 0) return -1;
    for (long i = 0; i < n; i++) *pages_reported += (vec[i].end - vec[i].start) / PAGE;
    total += n;
    if (a.walk_end <= pos) break;
    pos = a.walk_end;
  }
  return total;
}

static void print_per_page(const char *name, double *v, double *cpu, int reps, size_t faults, int comma) {
  double best = v[0];
  for (int i = 1; i < reps; i++) if (v[i] < best) best = v[i];
  double m = median(v, reps), c = median(cpu, reps);
  printf("  \"%s\": {\"us_per_page\": %.4f, \"us_per_fault\": %.4f, \"best_us_per_page\": %.4f, "
         "\"cpu_us_per_page\": %.4f, \"cpu_us_per_fault\": %.4f, \"faults\": %zu}%s\n",
         name, m / npages * 1e6, faults ? m / faults * 1e6 : 0.0, best / npages * 1e6, c / npages * 1e6,
         faults ? c / faults * 1e6 : 0.0, faults, comma ? "," : "");
}

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], 0, 10) : 256;
  int reps = argc > 2 ? atoi(argv[2]) : 5;
  size_t chunk_kib = argc > 3 ? strtoul(argv[3], 0, 10) : 16;
  if (mib < 1 || reps < 1 || reps > MAX_REPS || chunk_kib < 4 || chunk_kib % 4) {
    fprintf(stderr, "usage: tracking_limits [MIB [REPS [CHUNK_KIB]]]\n");
    return 2;
  }
  npages = mib * 256;
  chunk = chunk_kib * 1024;
  mem = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) die("mmap");
  order = malloc(npages * sizeof *order);
  if (!order) die("malloc");
  for (size_t i = 0; i < npages; i++) order[i] = i;
  for (size_t i = npages - 1; i > 0; i--) { /* Fisher-Yates with memwalk's mix */
    size_t j = mix(i * 2654435761u) % (i + 1), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  memset(mem, 1, npages * PAGE); /* present */
  double warm_cpu;
  write_pass_cpu(0, &warm_cpu);  /* warm */

  double present[MAX_REPS], touch[MAX_REPS], reuse[MAX_REPS], mprot[MAX_REPS], wp[MAX_REPS], wpf[MAX_REPS];
  double present_cpu[MAX_REPS], touch_cpu[MAX_REPS], reuse_cpu[MAX_REPS], mprot_cpu[MAX_REPS], wp_cpu[MAX_REPS],
      wpf_cpu[MAX_REPS];
  double scan_w[MAX_REPS], rearm_w[MAX_REPS];
  for (int r = 0; r < reps; r++) present[r] = write_pass_cpu(r + 1, &present_cpu[r]);
  char *kept = mem;
  for (int r = 0; r < reps; r++) {
    mem = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) die("mmap");
    touch[r] = write_pass_cpu(r + 50, &touch_cpu[r]);
    munmap(mem, npages * PAGE);
  }
  mem = kept;
  for (int r = 0; r < reps; r++) {
    fork_and_reap();
    reuse[r] = write_pass_cpu(r + 100, &reuse_cpu[r]);
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  if (sigaction(SIGSEGV, &sa, NULL) != 0) die("sigaction");
  for (int r = 0; r < reps; r++) {
    if (mprotect(mem, npages * PAGE, PROT_READ) != 0) die("mprotect");
    mprot[r] = write_pass_cpu(r + 200, &mprot_cpu[r]);
  }
  size_t chunks = (npages * PAGE + chunk - 1) / chunk;

  printf("{\n  \"buffer_mib\": %zu,\n  \"reps\": %d,\n  \"chunk_kib\": %zu,\n", mib, reps, chunk_kib);
  print_per_page("write_present", present, present_cpu, reps, 0, 1);
  print_per_page("first_touch", touch, touch_cpu, reps, npages, 1);
  print_per_page("fork_reuse", reuse, reuse_cpu, reps, npages, 1);
  print_per_page("mprotect", mprot, mprot_cpu, reps, chunks, 1);

  /* uffd-wp in async mode, as libckpt's uffd backend sets it up. */
  int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
  struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC};
  struct uffdio_register reg = {.range = {(uint64_t)mem, npages * PAGE}, .mode = UFFDIO_REGISTER_MODE_WP};
  pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (uffd < 0 || pagemap < 0 || ioctl(uffd, UFFDIO_API, &api) != 0 || !(api.features & UFFD_FEATURE_WP_ASYNC) ||
      ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) {
    printf("  \"uffd\": null, \"uffd_error\": \"%s\"\n}\n", strerror(errno));
    return 3;
  }
  uint64_t seen = 0, written = 0;
  double t0 = now_s();
  if (scan(PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, 0, PAGE_IS_PRESENT, &seen) < 0) die("PAGEMAP_SCAN");
  double prot_all = now_s() - t0;
  for (int r = 0; r < reps; r++) {
    wp[r] = write_pass_cpu(r + 300, &wp_cpu[r]);
    t0 = now_s();
    if (scan(0, PAGE_IS_WRITTEN, PAGE_IS_PRESENT | PAGE_IS_WRITTEN, &written) < 0) die("PAGEMAP_SCAN");
    scan_w[r] = now_s() - t0;
    t0 = now_s();
    if (scan(PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, PAGE_IS_WRITTEN, PAGE_IS_PRESENT, &seen) < 0)
      die("PAGEMAP_SCAN");
    rearm_w[r] = now_s() - t0;
  }
  for (int r = 0; r < reps; r++) {
    fork_and_reap();
    if (scan(PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, 0, PAGE_IS_PRESENT, &seen) < 0) die("PAGEMAP_SCAN");
    wpf[r] = write_pass_cpu(r + 400, &wpf_cpu[r]);
  }
  print_per_page("uffd_wp", wp, wp_cpu, reps, npages, 1);
  print_per_page("uffd_wp_after_fork", wpf, wpf_cpu, reps, npages, 1);
  printf("  \"uffd_protect_all_ms\": %.3f,\n  \"uffd_scan_written_ms\": %.3f,\n  \"uffd_rearm_written_ms\": %.3f,\n"
         "  \"uffd_written_pages_seen\": %llu\n}\n",
         prot_all * 1e3, median(scan_w, reps) * 1e3, median(rearm_w, reps) * 1e3, (unsigned long long)written);
  return 0;
}
