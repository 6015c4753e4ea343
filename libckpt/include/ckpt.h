/* libckpt: the in-application API (C and C++).
 *
 * A program that uses this API still links and runs without libckpt: every
 * function is declared weak, so outside `ckpt-run` its address is null.
 * Test for it before calling:
 *
 *     if (ckpt_is_enabled && ckpt_is_enabled()) ...
 *
 * Threads: every function may be called from any thread, but not from a
 * signal handler. Callbacks run in libckpt's coordinator thread (started by
 * the first use of this API), never in a signal handler.
 */
#ifndef CKPT_H
#define CKPT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CKPT_API_VERSION 1

/* Nonzero when the process runs under libckpt. */
int ckpt_is_enabled(void) __attribute__((weak));

/* Takes a checkpoint of the whole process and waits until its image is on
 * disk. Returns CKPT_AFTER_CHECKPOINT in the process that carries on,
 * CKPT_AFTER_RESTORE when this is a restored process resuming from that
 * image, or -1 (errno set) if the checkpoint failed. The image's absolute
 * path is copied into `path` (if not null, truncated to `size`). */
#define CKPT_AFTER_CHECKPOINT 1
#define CKPT_AFTER_RESTORE 2
int ckpt_checkpoint(char* path, size_t size) __attribute__((weak));

/* Leaves the whole pages inside [addr, addr+len) out of every later image
 * (scratch buffers, caches): a restored process finds them zero. Returns 0,
 * or -1 (ENOSPC) if too many ranges are excluded. ckpt_include() undoes it
 * for every page [addr, addr+len) touches, however it was excluded: the
 * next image holds those pages in full (its parent does not have them). */
int ckpt_exclude(const void* addr, size_t len) __attribute__((weak));
int ckpt_include(const void* addr, size_t len) __attribute__((weak));

/* Callbacks, run in libckpt's coordinator thread. */
enum ckpt_event {
  CKPT_EVENT_BEFORE_CHECKPOINT = 1, /* before the threads are stopped */
  CKPT_EVENT_AFTER_CHECKPOINT = 2,  /* the process carries on after a checkpoint */
  CKPT_EVENT_AFTER_RESTORE = 3,     /* a restored process resumes */
};
int ckpt_on_event(enum ckpt_event event, void (*fn)(void* arg), void* arg) __attribute__((weak));

/* Range images: one memory range saved to its own image file.
 *
 * ckpt_save_range() writes [start, start+len) to `path`: in full the first
 * time for this range, afterwards as an incremental image holding only the
 * pages that changed since the previous save of the same range (found by
 * comparing page checksums), which becomes its parent. ckpt_load_range()
 * reads `path` and its parents and writes the range back into place (it
 * must be mapped writable): pages the image does not hold become zero.
 * Both return 0, or -1 with errno set. */
int ckpt_save_range(const void* start, size_t len, const char* path) __attribute__((weak));
int ckpt_load_range(void* start, size_t len, const char* path) __attribute__((weak));

#ifdef __cplusplus
}
#endif
#endif
