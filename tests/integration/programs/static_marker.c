/* static_marker: linked with -static. Creates MARKER (writes "ran") and
 * exits 0. ckpt-run must refuse it at launch, so the marker never appears.
 * usage: static_marker MARKER */
#include <stdio.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: static_marker MARKER\n");
    return 100;
  }
  FILE *f = fopen(argv[1], "w");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  fputs("ran\n", f);
  return fclose(f) == 0 ? 0 : 1;
}
