/* Kernel interfaces newer than Debian 12's headers: PAGEMAP_SCAN (6.7) and
 * userfaultfd write-protect in async mode (6.7). Layouts from the kernel's
 * include/uapi/linux/fs.h and userfaultfd.h. */
#ifndef CKPT_UFFD_DEFS_H
#define CKPT_UFFD_DEFS_H

#include <linux/ioctl.h>
#include <stdint.h>

struct pm_page_region {
  uint64_t start, end, categories;
};

struct pm_scan_arg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)

#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#endif
