/* image_layout: prints where the parts of an image file are, as JSON, so
 * tests can damage a chosen part (header, manifest, page blocks, index,
 * footer). It reads the structures of libckpt/src/image/image_format.h and
 * trusts them only as far as they stay inside the file; it does not verify
 * checksums (that is the product's job).
 * usage: image_layout IMAGE */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image_format.h"

static int read_at(FILE *f, long off, void *buf, size_t n) {
  return fseek(f, off, SEEK_SET) == 0 && fread(buf, 1, n, f) == n;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: image_layout IMAGE\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  struct stat st;
  if (!f || fstat(fileno(f), &st) != 0) {
    perror(argv[1]);
    return 1;
  }
  uint64_t size = (uint64_t)st.st_size;
  struct ckpt_file_header h;
  struct ckpt_footer ft;
  if (size < sizeof h + sizeof ft || !read_at(f, 0, &h, sizeof h) ||
      !read_at(f, (long)(size - sizeof ft), &ft, sizeof ft) ||
      memcmp(h.magic, CKPT_FILE_MAGIC, 8) != 0 || memcmp(ft.magic, CKPT_FOOTER_MAGIC, 8) != 0) {
    fprintf(stderr, "%s: not a complete image\n", argv[1]);
    return 1;
  }
  uint64_t footer_offset = size - sizeof ft;
  if (ft.index_offset > footer_offset || ft.block_count > (footer_offset - ft.index_offset) / sizeof(struct ckpt_index_entry)) {
    fprintf(stderr, "%s: index outside the file\n", argv[1]);
    return 1;
  }
  printf("{\"size\": %llu, \"header_size\": %u, \"header_hash_offset\": %zu, "
         "\"manifest_offset\": %llu, \"manifest_size\": %llu, "
         "\"index_offset\": %llu, \"block_count\": %llu, \"footer_offset\": %llu, \"footer_size\": %zu, "
         "\"footer_file_hash_offset\": %llu, \"footer_hash_offset\": %llu, \"build_id_offset\": %zu, "
         "\"manifest_hash_offset\": %zu, \"blocks\": [",
         (unsigned long long)size, h.header_size, offsetof(struct ckpt_file_header, header_hash),
         (unsigned long long)h.manifest_offset, (unsigned long long)h.manifest_size,
         (unsigned long long)ft.index_offset, (unsigned long long)ft.block_count,
         (unsigned long long)footer_offset, sizeof ft,
         (unsigned long long)(footer_offset + offsetof(struct ckpt_footer, file_hash)),
         (unsigned long long)(footer_offset + offsetof(struct ckpt_footer, footer_hash)),
         offsetof(struct ckpt_file_header, build_id), offsetof(struct ckpt_file_header, manifest_hash));
  for (uint64_t i = 0; i < ft.block_count; i++) {
    struct ckpt_index_entry e;
    struct ckpt_block_header b;
    if (!read_at(f, (long)(ft.index_offset + i * sizeof e), &e, sizeof e) || e.offset + sizeof b > footer_offset ||
        !read_at(f, (long)e.offset, &b, sizeof b)) {
      fprintf(stderr, "%s: block %llu outside the file\n", argv[1], (unsigned long long)i);
      return 1;
    }
    uint64_t runs = e.offset + sizeof b, frame = runs + (uint64_t)b.nruns * sizeof(struct ckpt_run);
    printf("%s{\"offset\": %llu, \"runs_offset\": %llu, \"frame_offset\": %llu, \"frame_size\": %llu, \"data_pages\": %u}",
           i ? ", " : "", (unsigned long long)e.offset, (unsigned long long)runs, (unsigned long long)frame,
           (unsigned long long)b.compressed_size, b.data_pages);
  }
  printf("]}\n");
  fclose(f);
  return 0;
}
