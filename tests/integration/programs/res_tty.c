/* res_tty: a process on a terminal (tests_resources.py).
 *
 * usage: res_tty MODE TRIGGER
 *
 *   termios  standard input is a terminal (a pseudo-terminal the test
 *            holds): turns off ECHO, ICANON and OPOST and sets VMIN 3 and
 *            VTIME 7, prints "ready", waits for TRIGGER and checks that the
 *            terminal on its standard input has those settings.
 *   ticks    prints "tick N" every 100 ms until TRIGGER exists (the test
 *            stops and continues it with Ctrl-Z through its terminal).
 * Output as in res_common.h; exit status 0 once done, 1 if the set-up
 * failed, 3 if the trigger never came. */
#include "res_common.h"

#include <termios.h>

static int mode_termios(const char *trigger) {
  struct termios t;
  if (tcgetattr(0, &t) != 0) setup_fail("tcgetattr on standard input");
  t.c_lflag &= ~(tcflag_t)(ECHO | ICANON);
  t.c_oflag &= ~(tcflag_t)OPOST;
  t.c_cc[VMIN] = 3;
  t.c_cc[VTIME] = 7;
  if (tcsetattr(0, TCSANOW, &t) != 0) setup_fail("tcsetattr on standard input");
  say("ready\n");
  wait_file(trigger);
  struct termios now;
  int r = tcgetattr(0, &now);
  check("tty", r == 0, "tcgetattr on standard input: %s", strerror(errno));
  check("echo_off", r == 0 && !(now.c_lflag & ECHO), "lflag %#o", now.c_lflag);
  check("icanon_off", r == 0 && !(now.c_lflag & ICANON), "lflag %#o", now.c_lflag);
  check("opost_off", r == 0 && !(now.c_oflag & OPOST), "oflag %#o", now.c_oflag);
  check("vmin_vtime", r == 0 && now.c_cc[VMIN] == 3 && now.c_cc[VTIME] == 7, "VMIN %d VTIME %d", now.c_cc[VMIN],
        now.c_cc[VTIME]);
  return finish();
}

static int mode_ticks(const char *trigger) {
  say("ready\n");
  for (int n = 1; !trigger_seen(trigger); n++) {
    say("tick %d\n", n);
    sleep_ms(100);
  }
  return finish();
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: res_tty termios|ticks TRIGGER\n");
    return 100;
  }
  if (!strcmp(argv[1], "termios")) return mode_termios(argv[2]);
  if (!strcmp(argv[1], "ticks")) return mode_ticks(argv[2]);
  fprintf(stderr, "res_tty: unknown mode %s\n", argv[1]);
  return 100;
}
