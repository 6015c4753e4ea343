/* libckpt image format, version 2 (CKPT_FORMAT_VERSION): the on-disk structures.
 *
 * This header and docs/image-format.md are the one description of the format;
 * the writer (libckpt.so) and the reader (ckpt-run) both include it.
 *
 *   offset 0          ckpt_file_header          fixed size, own checksum
 *   manifest_offset   manifest                  UTF-8 JSON, checksum in the header
 *   ...               page blocks               ckpt_block_header, run table, zstd frame
 *   index_offset      ckpt_index_entry[count]   one entry per block
 *   EOF - footer      ckpt_footer               index location, whole-file checksum
 *
 * All integers are little-endian (the format is x86-64 only). Checksums are
 * XXH64 with seed 0. The whole-file checksum covers every byte before the
 * footer; it is also the image's content hash, which incremental children use
 * to name their parent.
 *
 * Versioning: CKPT_FORMAT_VERSION changes on any incompatible change to these
 * structures or to the meaning of a manifest field. Readers refuse other
 * versions. New optional manifest fields do not change the version. */
#ifndef CKPT_IMAGE_FORMAT_H
#define CKPT_IMAGE_FORMAT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CKPT_FORMAT_VERSION 2u
#define CKPT_PAGE_SIZE 4096u

/* "CKPTIMG" + 0x1a: the 0x1a stops `type`-style tools; a text file cannot match. */
#define CKPT_FILE_MAGIC "CKPTIMG\x1a"
#define CKPT_BLOCK_MAGIC 0x4b424750u  /* "PGBK" */
#define CKPT_FOOTER_MAGIC "CKPTEND\x1a"

enum ckpt_header_flags {
  CKPT_HDR_INCREMENTAL = 1u << 0, /* pages not in this image come from the parent */
};

/* CPU facts the image depends on. glibc picks string/memory routines and
 * sizes its xsave buffers from CPUID at start-up, so a host must offer every
 * feature bit the source had and an xsave area no larger. */
struct ckpt_cpu_features {
  char vendor[12];
  uint32_t family, model, stepping;
  uint32_t leaf1_ecx, leaf1_edx;
  uint32_t leaf7_ebx, leaf7_ecx, leaf7_edx;
  uint32_t leaf7_1_eax;
  uint32_t ext1_ecx, ext1_edx;     /* leaf 0x80000001 */
  uint64_t xcr0;                    /* enabled xsave features */
  uint32_t xsave_size;              /* CPUID 0xd.0 ebx: size for enabled features */
  uint32_t xsave_1_eax;             /* CPUID 0xd.1 eax: xsaveopt, xsavec (glibc's
                                       _dl_runtime_resolve_xsavec), ... (0 in
                                       images written before it was recorded) */
};

struct ckpt_parent_ref {
  uint8_t image_id[16];             /* zero: no parent (a full image) */
  uint64_t content_hash;            /* parent's whole-file checksum */
  char file_name[240];              /* base name; looked up next to the child first */
};

struct ckpt_file_header {
  char magic[8];                    /* CKPT_FILE_MAGIC */
  uint32_t format_version;          /* CKPT_FORMAT_VERSION */
  uint32_t header_size;             /* sizeof(struct ckpt_file_header) */
  uint32_t flags;                   /* ckpt_header_flags */
  uint32_t page_size;               /* CKPT_PAGE_SIZE */
  uint8_t image_id[16];             /* random, unique per image */
  uint64_t created_realtime_ns;
  char uts_sysname[65], uts_release[65], uts_version[65], uts_machine[65];
  uint8_t build_id[32];             /* libckpt.so's GNU build id */
  uint32_t build_id_len;
  uint32_t reserved0;
  struct ckpt_cpu_features cpu;
  struct ckpt_parent_ref parent;
  uint64_t manifest_offset, manifest_size, manifest_hash;
  uint64_t reserved[8];
  uint64_t header_hash;             /* XXH64 of this struct with header_hash = 0 */
};

/* A run of consecutive pages inside a block.
 *
 * An image lists every page that holds data: a page of a region whose pages
 * are saved that no run covers is zero (anonymous memory) or the file's own
 * content (private file mappings). An incremental image lists the complete
 * set too; pages unchanged since the parent are PARENT runs. */
enum ckpt_run_kind {
  CKPT_RUN_DATA = 1,                /* contents follow in the block's zstd frame */
  CKPT_RUN_ZERO = 2,                /* pages are zero */
  CKPT_RUN_PARENT = 3,              /* incremental: same contents as in the parent chain */
};

struct ckpt_run {
  uint64_t addr;                    /* page-aligned start */
  uint32_t npages;
  uint32_t kind;                    /* ckpt_run_kind */
};

/* A block: this header, nruns ckpt_run entries, then one zstd frame holding
 * the contents of the DATA runs in order (data_pages * page_size bytes once
 * decompressed). Runs are sorted and never overlap, within and across blocks. */
struct ckpt_block_header {
  uint32_t magic;                   /* CKPT_BLOCK_MAGIC */
  uint32_t nruns;
  uint32_t data_pages;              /* pages whose contents are in the frame */
  uint32_t zero_pages;              /* ZERO and PARENT pages */
  uint64_t compressed_size;         /* bytes of the zstd frame */
  uint64_t hash;                    /* XXH64 of run table + frame */
};

struct ckpt_index_entry {
  uint64_t offset;                  /* file offset of the block header */
  uint64_t first_addr, end_addr;    /* address span of its runs */
  uint32_t nruns, data_pages;
};

struct ckpt_footer {
  char magic[8];                    /* CKPT_FOOTER_MAGIC */
  uint64_t index_offset;
  uint64_t block_count;
  uint64_t data_pages;              /* total over blocks */
  uint64_t zero_pages;              /* ZERO pages */
  uint64_t parent_pages;            /* PARENT pages */
  uint64_t file_hash;               /* XXH64 of bytes [0, footer offset) */
  uint64_t footer_hash;             /* XXH64 of this struct with footer_hash = 0 */
};

/* Blobs (saved file contents, pipe buffers) are stored as page runs above
 * any user address: blob `id` occupies [CKPT_BLOB_BASE + (id << CKPT_BLOB_SHIFT),
 * + size rounded up to a page). */
#define CKPT_BLOB_BASE (1ull << 60)
#define CKPT_BLOB_SHIFT 40
#define CKPT_MAX_BLOBS 4096u

/* Writer limits, also enforced by the reader. */
#define CKPT_MAX_BLOCK_DATA_PAGES 256u        /* 1 MiB of contents per block */
#define CKPT_MAX_BLOCK_RUNS 256u
#define CKPT_MAX_MANIFEST_SIZE (256u << 20)

#ifdef __cplusplus
}
/* docs/image-format.md gives these sizes. */
static_assert(sizeof(struct ckpt_footer) == 64, "ckpt_footer is 64 bytes");
static_assert(sizeof(struct ckpt_cpu_features) == 72, "ckpt_cpu_features is 72 bytes");
#endif
#endif
