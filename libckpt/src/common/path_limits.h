/* How long the paths libckpt and ckpt-run keep in fixed buffers may be
 * (config.h, control_block.h, restore_info.h, lineage.h). Longer ones are
 * refused with a message where they enter: ckpt-run --images / --restore
 * IMAGE, and CKPT_IMAGES when libckpt loads. Never silently truncated. */
#ifndef CKPT_PATH_LIMITS_H
#define CKPT_PATH_LIMITS_H

/* Bytes of the absolute images directory. An image's path is that, "/",
 * and a name of at most 255 + 33 bytes (PROGRAM-PID-SEQ.img), which must
 * fit the 1024-byte path buffers with their terminating NUL. */
#define CKPT_MAX_IMAGES_DIR 700
/* Bytes of an absolute image path (a restored process records the image it
 * came from, for its next incremental image). */
#define CKPT_MAX_IMAGE_PATH 1023
/* Bytes of an absolute pid file path: libckpt writes PATH.tmp.PID first,
 * in a 1024-byte message buffer (common/msg.h). */
#define CKPT_MAX_PID_FILE_PATH 1000

#if CKPT_MAX_IMAGES_DIR + 1 + 255 + 33 + 1 > 1024
#error "images directory limit too large for the 1024-byte path buffers"
#endif

#endif
