/* incr_remap: mappings moved, grown and replaced between incremental
 * checkpoints by calls libckpt does not see, or sees only as syscall(2).
 * With --track=mprotect the write protection of a moved region travels
 * with it: the region must keep working, and must never be mistaken for
 * the one that lived at its new address.
 *
 * usage: incr_remap DIR
 *
 * Regions (anonymous, read-write, each filled with its own pattern):
 *   BIG   an 8 MiB malloc block (glibc maps it on its own), grown with realloc
 *   SYSM  4 MiB, moved with syscall(SYS_mremap, ..., MREMAP_FIXED)
 *   ASMM  4 MiB, moved with an inline `syscall` instruction (no wrapper)
 *   ASMG  4 MiB, grown in place to 8 MiB by an inline mremap
 *   X, Y  2 MiB each; X unmapped and Y moved onto X's address, both inline
 *   RO    1 MiB, made read-only and back with syscall(SYS_mprotect)
 *   BRK   8 MiB of heap from sbrk, shrunk by 4 MiB and grown back
 * Phases 0..3: phase 0 sets up; phases 1 and 2 move/grow/replace (Y is not
 * written at X's address before phase 3), then write to some regions. Each phase
 * prints "phase N done", waits for DIR/go-N (incr_common.h), then
 * "region NAME len=BYTES h=HASH" for every live region; then
 * "final sum=HASH". A failing call prints "FAIL ..." and exits 1. */
#include "incr_common.h" /* first: it defines _GNU_SOURCE */
#include <sys/mman.h>
#include <sys/syscall.h>

#define MIB (1024UL * 1024)
#define PG 4096UL

static long raw(long n, long a, long b, long c, long d, long e) {
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall" : "=a"(r) : "0"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
  return r;
}

struct region {
  const char *name;
  unsigned char *p;
  size_t len;
};
static struct region R[8];
static int nr;

static struct region *add(const char *name, unsigned char *p, size_t len) {
  R[nr] = (struct region){name, p, len};
  return &R[nr++];
}

static void fill(unsigned char *p, size_t len, int seed) {
  for (size_t i = 0; i < len; i += PG) memset(p + i, seed + (int)(i / PG), PG);
}

static unsigned char *map(size_t len, int prot) {
  unsigned char *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  FAIL_IF(p == MAP_FAILED, "mmap %zu", len);
  return p;
}

static uint64_t report(void) {
  uint64_t sum = 0;
  for (int i = 0; i < nr; i++) {
    uint64_t h = hash_mem(7, R[i].p, R[i].len);
    printf("region %s len=%zu h=%016llx\n", R[i].name, R[i].len, (unsigned long long)h);
    sum = mix64(sum ^ h);
  }
  fflush(stdout);
  return sum;
}

int main(int argc, char **argv) {
  check_usage(argc, 2, "incr_remap DIR");
  const int RW = PROT_READ | PROT_WRITE;
  /* targets for the moves, reserved (inaccessible) so that nothing else
   * lands there; first, so that no region sits right above them (libckpt
   * takes memory right above an inaccessible mapping for a cached thread
   * stack, which it does not track) */
  unsigned char *sys_to = map(4 * MIB, PROT_NONE), *asm_to = map(4 * MIB, PROT_NONE);
  struct region *big = add("BIG", malloc(8 * MIB), 8 * MIB);
  FAIL_IF(!big->p, "malloc");
  struct region *sysm = add("SYSM", map(4 * MIB, RW), 4 * MIB);
  struct region *asmm = add("ASMM", map(4 * MIB, RW), 4 * MIB);
  /* ASMG with room to grow: 8 MiB reserved, the upper half given back just before growing */
  unsigned char *g = map(8 * MIB, RW);
  struct region *asmg = add("ASMG", g, 4 * MIB);
  struct region *x = add("X", map(2 * MIB, RW), 2 * MIB);
  struct region *y = add("Y", map(2 * MIB, RW), 2 * MIB);
  struct region *ro = add("RO", map(1 * MIB, RW), 1 * MIB);
  unsigned char *brk0 = sbrk(0);
  FAIL_IF(sbrk((intptr_t)(8 * MIB)) == (void *)-1, "sbrk");
  struct region *heap = add("BRK", brk0, 8 * MIB);
  int seed = 1;
  for (int i = 0; i < nr; i++) fill(R[i].p, R[i].len, seed += 16);

  uint64_t sum = 0;
  for (int phase = 0; phase < 4; phase++) {
    if (phase == 1) {
      unsigned char *nb = realloc(big->p, 16 * MIB);
      FAIL_IF(!nb, "realloc");
      big->p = nb;
      big->len = 16 * MIB;
      void *r = (void *)syscall(SYS_mremap, sysm->p, 4 * MIB, 4 * MIB, MREMAP_MAYMOVE | MREMAP_FIXED, sys_to);
      FAIL_IF(r != sys_to, "syscall(SYS_mremap)");
      sysm->p = sys_to;
      long a = raw(SYS_mremap, (long)asmm->p, 4 * MIB, 4 * MIB, MREMAP_MAYMOVE | MREMAP_FIXED, (long)asm_to);
      FAIL_IF(a != (long)asm_to, "inline mremap (move)");
      asmm->p = asm_to;
      FAIL_IF(raw(SYS_munmap, (long)(g + 4 * MIB), 4 * MIB, 0, 0, 0) != 0, "inline munmap");
      FAIL_IF(raw(SYS_mremap, (long)g, 4 * MIB, 8 * MIB, 0, 0) != (long)g, "inline mremap (grow in place)");
      asmg->len = 8 * MIB;
      FAIL_IF(syscall(SYS_mprotect, ro->p, 1 * MIB, PROT_READ) != 0, "syscall(SYS_mprotect) read-only");
      FAIL_IF(sbrk(-(intptr_t)(4 * MIB)) == (void *)-1 || sbrk((intptr_t)(4 * MIB)) == (void *)-1, "sbrk shrink, grow");
      /* writes: old and new parts of each moved or grown region */
      for (size_t i = 0; i < big->len; i += 7 * PG) big->p[i + 1] = 0x11;
      for (size_t i = 0; i < sysm->len; i += 5 * PG) sysm->p[i + 2] = 0x22;
      for (size_t i = 0; i < asmm->len; i += 5 * PG) asmm->p[i + 3] = 0x33;
      for (size_t i = 0; i < asmg->len; i += 3 * PG) asmg->p[i + 4] = 0x44;
      for (size_t i = 4 * MIB; i < 8 * MIB; i += 9 * PG) heap->p[i + 5] = 0x55;
    } else if (phase == 2) {
      /* Y moves onto X's address, unwritten: X's old pages must not come back */
      FAIL_IF(raw(SYS_munmap, (long)x->p, 2 * MIB, 0, 0, 0) != 0, "inline munmap X");
      long r = raw(SYS_mremap, (long)y->p, 2 * MIB, 2 * MIB, MREMAP_MAYMOVE | MREMAP_FIXED, (long)x->p);
      FAIL_IF(r != (long)x->p, "inline mremap Y onto X");
      y->p = x->p;
      nr--;  /* X is gone: Y is the last but one region; keep the order */
      R[4] = R[5];
      R[5] = R[6];
      R[6] = R[7];
      ro = &R[5];
      heap = &R[6];
      x = y = NULL;
      FAIL_IF(syscall(SYS_mprotect, ro->p, 1 * MIB, PROT_READ | PROT_WRITE) != 0, "syscall(SYS_mprotect) back");
      for (size_t i = 0; i < ro->len; i += 3 * PG) ro->p[i + 6] = 0x66;
      for (size_t i = 0; i < asmm->len; i += 11 * PG) asmm->p[i + 7] = 0x77;
    } else if (phase == 3) {
      big->p[12345] = 0x12;
      asmg->p[7 * MIB + 3] = 0x13;
      R[4].p[MIB + 9] = 0x14;  /* Y, at X's old address */
    }
    printf("phase %d done\n", phase);
    fflush(stdout);
    wait_phase(argv[1], phase);
    sum = mix64(sum ^ report());
  }
  printf("final sum=%016llx\n", (unsigned long long)sum);
  return 0;
}
