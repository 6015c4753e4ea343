/* The control block: how `ckpt-run --checkpoint PID` talks to libckpt.
 *
 * libckpt keeps one memfd ("libckpt-control") open at a high, close-on-exec
 * descriptor and maps it shared. A requester finds it through
 * /proc/PID/fd, reads which signal the process was launched with, sends that
 * signal with sigqueue() carrying a random token, and waits until a result
 * with its token appears here. A shell's plain `kill` carries token 0. */
#ifndef CKPT_CONTROL_BLOCK_H
#define CKPT_CONTROL_BLOCK_H

#include <stdint.h>

#define CKPT_CONTROL_MAGIC "CKPTCTL1"
#define CKPT_CONTROL_NAME "libckpt-control"
#define CKPT_CONTROL_RESULTS 16
#define CKPT_CONTROL_EXEC 2         /* ready: exec in progress; libckpt blocked SIGCKPT for it */
#define CKPT_CONTROL_EXEC_MASKED 3  /* ready: exec in progress; SIGCKPT was blocked already */

enum ckpt_result_status {
  CKPT_RESULT_OK = 0,
  CKPT_RESULT_FAILED = 1,
};

struct ckpt_control_result {
  uint64_t seq;                   /* 1 + index of the checkpoint in this process */
  uint32_t token;                 /* sigqueue value of the request; 0 for kill(1) */
  int32_t status;                 /* ckpt_result_status */
  uint64_t image_bytes;
  uint64_t freeze_ns, write_ns;   /* downtime and total time */
  uint8_t image_id[16];
  uint64_t content_hash;          /* the image's whole-file checksum */
  uint32_t incremental, reserved;
  char path[1024];                /* absolute path of the image */
  char message[512];              /* why it failed */
};

struct ckpt_control_block {
  char magic[8];
  uint32_t version, size;
  int32_t pid;                    /* getpid() of the process */
  int32_t ckpt_signal, thaw_signal;
  uint32_t ready;                 /* 1 once checkpoints can be taken; CKPT_CONTROL_EXEC* while
                                     the process execs another program that takes the block
                                     over: a requester waits for 1 (the checkpoint signal is
                                     blocked meanwhile, so one sent is taken by the new program) */
  uint64_t started, completed;    /* checkpoints begun / finished (ok or not) */
  struct ckpt_control_result results[CKPT_CONTROL_RESULTS]; /* ring, index seq % N */
  char images_dir[1024];
};

#endif
