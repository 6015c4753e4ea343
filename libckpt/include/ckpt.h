/* libckpt public API (C and C++). See README.md.
 * The functions are weak in programs that may run without libckpt: check
 * ckpt_is_enabled() (or the function pointer) before calling. */
#ifndef CKPT_H
#define CKPT_H

#ifdef __cplusplus
extern "C" {
#endif

#define CKPT_API_VERSION 1

/* Nonzero when the process runs under libckpt. */
int ckpt_is_enabled(void) __attribute__((weak));

#ifdef __cplusplus
}
#endif
#endif
