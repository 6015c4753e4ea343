/* res_common.h: helpers shared by the res_*.c fixtures of tests_resources.py.
 *
 * Every fixture prints line-oriented, flushed output:
 *   ready ...                      set-up done: the test may checkpoint
 *   check NAME ok                  a self-check passed
 *   check NAME FAIL details        a self-check failed
 *   setup FAIL what: error         the set-up itself failed (exit 1)
 *   gave up waiting for FILE       a trigger never came (exit 3)
 * Checks run once the test creates a trigger file (after the restore; from
 * the start in an undisturbed run), so both runs print the same checks. */
#ifndef RES_COMMON_H
#define RES_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int res_failures;
static int res_max_seconds = 120;

static inline uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* printf + fflush: the test reads the output while the program runs. */
static inline void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
}

/* Prints "check NAME ok" or "check NAME FAIL <details>". */
static inline void check(const char *name, int ok, const char *fmt, ...) {
  if (ok) {
    say("check %s ok\n", name);
    return;
  }
  res_failures++;
  char details[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(details, sizeof details, fmt, ap);
  va_end(ap);
  say("check %s FAIL %s\n", name, details);
}

/* A set-up step that must work on any host: report and exit 1. */
static inline void setup_fail(const char *what) {
  say("setup FAIL %s: %s\n", what, strerror(errno));
  exit(1);
}

static inline int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static inline void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Polls for PATH every 10 ms; exits 3 after res_max_seconds. */
static inline void wait_file(const char *path) {
  uint64_t end = now_ns() + (uint64_t)res_max_seconds * 1000000000ULL;
  while (!file_exists(path)) {
    if (now_ns() > end) {
      say("gave up waiting for %s\n", path);
      exit(3);
    }
    sleep_ms(10);
  }
}

/* For loops that do work between polls: whether PATH exists yet; exits 3
 * once res_max_seconds have passed since the first call. */
static inline int trigger_seen(const char *path) {
  static uint64_t end;
  if (!end) end = now_ns() + (uint64_t)res_max_seconds * 1000000000ULL;
  if (file_exists(path)) return 1;
  if (now_ns() > end) {
    say("gave up waiting for %s\n", path);
    exit(3);
  }
  return 0;
}

/* The value of "Name:" in a /proc status-like file (trimmed), "" if absent. */
static inline void proc_field(const char *path, const char *name, char *out, size_t size) {
  out[0] = 0;
  FILE *f = fopen(path, "r");
  if (!f) return;
  char line[512];
  size_t n = strlen(name);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, name, n) == 0 && line[n] == ':') {
      char *v = line + n + 1;
      while (*v == ' ' || *v == '\t') v++;
      v[strcspn(v, "\n")] = 0;
      size_t len = strlen(v) < size ? strlen(v) : size - 1; /* truncate */
      memcpy(out, v, len);
      out[len] = 0;
      break;
    }
  }
  fclose(f);
}

/* Ends with "done failures=N" and exit status 0 (the checks say the rest). */
static inline int finish(void) {
  say("done failures=%d\n", res_failures);
  return 0;
}

#endif
