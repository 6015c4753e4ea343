/* What the restorer hands to libckpt when a restored process resumes.
 *
 * Each restored thread resumes inside libckpt at the point where it saved
 * its context, with this structure's address as the return value of
 * ckpt_save_context(). It lives in the restorer's memory, which libckpt
 * unmaps once every thread is back in its own code. */
#ifndef CKPT_RESTORE_INFO_H
#define CKPT_RESTORE_INFO_H

#include <stdint.h>

#define CKPT_RESTORE_INFO_MAGIC 0x4f464e4954534552ull /* "RESTINFO" */

enum ckpt_identity {
  CKPT_IDENTITY_SAME_PID = 1,     /* clone3(set_tid) in the caller's pid namespace */
  CKPT_IDENTITY_NAMESPACE = 2,    /* same pid inside a fresh user+pid namespace */
  CKPT_IDENTITY_NEW_PID = 3,      /* --new-pid: new pid and tids, glibc's copies fixed */
};

struct ckpt_tid_map {
  int32_t old_tid, new_tid;
};

struct ckpt_restore_info {
  uint64_t magic;
  uint32_t identity;              /* ckpt_identity */
  uint32_t nthreads;
  uint64_t hole_start, hole_len;  /* restorer memory, unmapped by libckpt */
  int32_t old_pid, new_pid;
  uint64_t tid_map;               /* address of ckpt_tid_map[nthreads] (in the hole) */
  char images_dir[1024];          /* non-empty: checkpoints now go here */
  char image_path[1024];          /* the image restored from (the newest of its chain) */
  uint8_t image_id[16];           /* its id and content hash: the next incremental */
  uint64_t image_hash;            /* image names it as parent */
  int32_t verbose;
  uint32_t closed_connections;    /* sockets restored closed: SIGTHAW's value */
  uint64_t leader_exit_word;      /* non-zero: the main thread had exited; the
                                     restorer's first thread (the leader, with
                                     the pid) exits too, and the kernel clears
                                     this uint32_t (in the hole) once it left
                                     the hole's code: wait for 0 before unmapping */
};

#endif
