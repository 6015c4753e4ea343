/* incr_mmaps: the address space changes between incremental checkpoints:
 * mmap, munmap (splitting a mapping), mremap (grow, move to a fixed place,
 * shrink), mprotect (read-only, PROT_NONE, and back), MADV_DONTNEED
 * (anonymous pages read as zero again; a private file mapping's pages revert
 * to the file), and a mapping replaced by another at the same address.
 *
 * usage: incr_mmaps DIR
 *
 * Five phases (0..4). At the end of each of phases 0..3 it prints, for
 * every live region, "addr NAME 0xSTART 0xEND PROT" (PROT: r, w, - as set by
 * the program; addresses differ from run to run: tests leave these lines out
 * of comparisons) and "region NAME len=BYTES h=HASH" (HASH: a checksum of
 * the region's contents, "-" for a PROT_NONE one), then "phase N done", and
 * waits for DIR/go-N (incr_common.h). Phase 4 ends with
 * "final sum=HASH" (a checksum of every region) and exit status 0.
 * A failing call prints "FAIL ..." and exits 1. */
#include "incr_common.h" /* first: it defines _GNU_SOURCE */
#include <fcntl.h>
#include <sys/mman.h>


#define MIB (1024UL * 1024)
#define PG 4096UL

struct region {
  const char *name;
  unsigned char *p;
  size_t len;
  int prot;
};
static struct region regions[16];
static int nregions;

static struct region *add(const char *name, void *p, size_t len, int prot) {
  struct region *r = &regions[nregions++];
  r->name = name;
  r->p = p;
  r->len = len;
  r->prot = prot;
  return r;
}

static void drop(struct region *r) { r->len = 0; }

static void *map_anon(size_t len) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  FAIL_IF(p == MAP_FAILED, "mmap %zu bytes", len);
  return p;
}

/* Pseudo-random words (incompressible) from seed. */
static void fill(unsigned char *p, size_t len, uint64_t seed) {
  uint64_t *w = (uint64_t *)p;
  for (size_t i = 0; i < len / 8; i++) w[i] = mix64(seed * 0x9e3779b97f4a7c15ULL + i);
}

/* Changes one word in every `stride`-th page. */
static void touch(unsigned char *p, size_t len, uint64_t seed, size_t stride) {
  for (size_t off = 0; off < len; off += stride * PG) {
    uint64_t *w = (uint64_t *)(p + off) + (seed % 512);
    *w = mix64(*w ^ seed);
  }
}

static void prot(struct region *r, int pr) {
  FAIL_IF(mprotect(r->p, r->len, pr) != 0, "mprotect %s %d", r->name, pr);
  r->prot = pr;
}

static void dontneed(void *p, size_t len, const char *what) {
  FAIL_IF(madvise(p, len, MADV_DONTNEED) != 0, "madvise DONTNEED %s", what);
}

static uint64_t report(int phase) {
  uint64_t sum = 0;
  for (int i = 0; i < nregions; i++) {
    struct region *r = &regions[i];
    if (!r->len) continue;
    printf("addr %s %p %p %c%c\n", r->name, (void *)r->p, (void *)(r->p + r->len), r->prot & PROT_READ ? 'r' : '-',
           r->prot & PROT_WRITE ? 'w' : '-');
    if (r->prot & PROT_READ) {
      uint64_t h = hash_mem(0, r->p, r->len);
      sum = mix64(sum ^ h);
      printf("region %s len=%zu h=%016llx\n", r->name, r->len, (unsigned long long)h);
    } else {
      printf("region %s len=%zu h=-\n", r->name, r->len);
    }
  }
  if (phase >= 0) printf("phase %d done\n", phase);
  fflush(stdout);
  return sum;
}

static unsigned char *map_file(const char *dir, size_t len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/mapped", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  FAIL_IF(fd < 0, "open %s", path);
  unsigned char *buf = malloc(len);
  FAIL_IF(!buf, "malloc");
  fill(buf, len, 99);
  FAIL_IF(write(fd, buf, len) != (ssize_t)len, "write %s", path);
  free(buf);
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  FAIL_IF(p == MAP_FAILED, "mmap %s", path);
  close(fd);
  return p;
}

int main(int argc, char **argv) {
  check_usage(argc, 2, "incr_mmaps DIR");
  const char *dir = argv[1];
  const int RW = PROT_READ | PROT_WRITE;

  /* phase 0: plain mappings */
  struct region *A = add("A", map_anon(8 * MIB), 8 * MIB, RW);
  fill(A->p, A->len, 1);
  struct region *B = add("B", map_anon(4 * MIB), 4 * MIB, RW);
  fill(B->p, B->len, 2);
  struct region *C = add("C", map_anon(2 * MIB), 2 * MIB, RW);
  fill(C->p, C->len, 3);
  struct region *D = add("D", map_anon(1 * MIB), 1 * MIB, RW);
  fill(D->p, D->len, 4);
  struct region *F = add("F", map_file(dir, 1 * MIB), 1 * MIB, RW);
  touch(F->p, F->len, 5, 4); /* copy-on-write pages */
  report(0);
  wait_phase(dir, 0);

  /* phase 1: split A, grow B (may move), C read-only, half of D zapped */
  FAIL_IF(munmap(A->p + 2 * MIB, 2 * MIB) != 0, "munmap middle of A");
  struct region *A2 = add("A2", A->p + 4 * MIB, 4 * MIB, RW);
  A->name = "A1";
  A->len = 2 * MIB;
  touch(A2->p, A2->len, 6, 3);
  void *nb = mremap(B->p, 4 * MIB, 8 * MIB, MREMAP_MAYMOVE);
  FAIL_IF(nb == MAP_FAILED, "mremap grow B");
  B->p = nb;
  B->len = 8 * MIB;
  fill(B->p + 4 * MIB, 4 * MIB, 7);
  touch(B->p, 4 * MIB, 8, 5);
  touch(C->p, C->len, 9, 2);
  prot(C, PROT_READ);
  touch(F->p, F->len, 10, 3);
  dontneed(D->p, D->len / 2, "first half of D");
  report(1);
  wait_phase(dir, 1);

  /* phase 2: C writable again, part of A2 zapped and partly rewritten, B
   * moved to a fixed address and shrunk, all of D zapped, a new mapping E */
  prot(C, RW);
  touch(C->p, C->len, 11, 7);
  dontneed(A2->p + 1 * MIB, 1 * MIB, "1 MiB of A2");
  touch(A2->p + 1 * MIB, 1 * MIB, 12, 16);
  void *target = mmap(NULL, 8 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  FAIL_IF(target == MAP_FAILED, "mmap a place for B");
  nb = mremap(B->p, 8 * MIB, 8 * MIB, MREMAP_MAYMOVE | MREMAP_FIXED, target);
  FAIL_IF(nb != target, "mremap move B to %p", target);
  B->p = nb;
  FAIL_IF(mremap(B->p, 8 * MIB, 6 * MIB, 0) != B->p, "mremap shrink B");
  B->len = 6 * MIB;
  touch(B->p, B->len, 13, 9);
  dontneed(D->p, D->len, "all of D");
  D->p[200 * PG + 8] = 0x5a;
  struct region *E = add("E", map_anon(3 * MIB), 3 * MIB, RW);
  fill(E->p, E->len, 14);
  report(2);
  wait_phase(dir, 2);

  /* phase 3: A1 replaced by a new mapping at the same address (half
   * written), E PROT_NONE, F's copied pages reverted to the file, C
   * read-only again */
  unsigned char *a1 = A->p;
  FAIL_IF(munmap(a1, 2 * MIB) != 0, "munmap A1");
  void *again = mmap(a1, 2 * MIB, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  FAIL_IF(again != a1, "mmap A1 again at %p", (void *)a1);
  fill(A->p, 1 * MIB, 15);
  prot(E, PROT_NONE);
  dontneed(F->p, F->len, "F (private file mapping)");
  prot(C, PROT_READ);
  report(3);
  wait_phase(dir, 3);

  /* phase 4: everything writable again and written once more */
  prot(E, RW);
  touch(E->p, E->len, 16, 2);
  prot(C, RW);
  touch(C->p, C->len, 17, 3);
  touch(B->p, B->len, 18, 11);
  touch(D->p, D->len, 19, 13);
  touch(F->p, F->len, 20, 5);
  drop(A2);
  FAIL_IF(munmap(A2->p, 4 * MIB) != 0, "munmap A2");
  uint64_t sum = report(-1);
  printf("final sum=%016llx\n", (unsigned long long)sum);
  fflush(stdout);
  return 0;
}
