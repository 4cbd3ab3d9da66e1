/* Memory regions: which parts of /proc/self/maps an image holds, and how they come back.
 *
 * save    (checkpoint handler) memory_save: one REGION record per mapping, RUN records for
 *         the pages that cannot be had again from a file.
 * check   (restore-run, before anything changes) memory_check: open and identify every
 *         mapped file.
 * place   (restore-run, after all checks, before the point of no return) restorer/place.c
 *         maps the regions that are free to map and reads their pages in, verifying them.
 * restore (restore core) memory_unmap_all_but_core, then memory_restore for the rest. */
#ifndef CKPT_MEMORY_H
#define CKPT_MEMORY_H

#include "image_io.h"

/* PAGEMAP_SCAN (Linux 6.7; Debian 12's headers predate it): the kernel reports the ranges
 * of pages in chosen categories. memory_save uses it; `ckpt check` probes it. */
#define PAGE_IS_FILE (1ULL << 2)
#define PAGE_IS_PRESENT (1ULL << 3)
#define PAGE_IS_SWAPPED (1ULL << 4)

struct pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct page_region {
    uint64_t start, end, categories;
};
#define PAGEMAP_SCAN (3UL << 30 | (uint64_t)sizeof(struct pm_scan_arg) << 16 | 'f' << 8 | 16)

/* [start, end), page-aligned. */
struct memory_range {
    uint64_t start, end;
};

struct memfile_key;
struct page_hashes;
/* An incremental image (chain.c): the pages the program did not write since the previous
 * checkpoint are left in the image that holds them (RUN_REF records) instead of stored again.
 * tracked: memory write-tracked (userfaultfd, preload/track.c) since before the previous
 * checkpoint; written: the pages of it written since then. Both sorted, disjoint. */
struct memory_incremental {
    const struct memory_range *tracked;
    size_t ntracked;
    const struct memory_range *written;
    size_t nwritten;
    const struct image_view *base; /* the previous image, validated (chain_open_base) */
    const char *base_name;         /* its file name, PARENT's hint */
};

struct memory_save_args {
    char *maps_buf; /* room for /proc/self/maps */
    size_t maps_cap;
    uint64_t *pagemap; /* room for pagemap entries */
    size_t pagemap_entries;
    uint64_t exclude_start, exclude_end; /* the checkpoint's own scratch memory */
    struct page_hashes *hashes; /* huge pages tracked by content (page_hashes.h), or NULL */
    int no_pagemap_scan;        /* read pagemap entry by entry even where PAGEMAP_SCAN works */
    /* Ranges whose pages are left out (ckpt_exclude): their regions are recorded, so they
     * are mapped again, but without pages. Sorted, disjoint. */
    const struct memory_range *empty;
    size_t nempty;
    /* The MEMFILE objects written before the regions (fd_memfile.h): a shared mapping of
     * one is recorded as a region of kind MEMFILE naming it. */
    const struct memfile_key *memfiles;
    uint32_t nmemfiles;
    const struct memory_incremental *inc; /* NULL: a full image */
};

int memory_save(struct image_writer *w, const struct memory_save_args *a, struct ck_error *err);
/* Would a copy-on-write child (clone without CLONE_VM) save the memory exactly as it is now?
 * Not where the image stores the pages of shared memory: the child would see what the
 * program writes there afterwards. 1 or 0 (also when /proc/self/maps cannot be read). */
int memory_fork_sees_snapshot(char *maps_buf, size_t maps_cap);

struct restore_plan;
struct region_plan;
int memory_check(struct restore_plan *p, struct ck_error *err);

/* Maps a region at its address (never over anything: -EEXIST if something is there), with
 * its file if it has one, writable while its stored pages are put in. Returns 0 or -errno.
 * restore-run's phase 1 (restorer/place.c) maps every region that does not collide with
 * restore-run itself and fills it; the core maps and fills the rest. */
long memory_map_region(struct region_plan *rp);
/* The region's own protection, once its pages are in. 0 or -errno. */
long memory_protect_region(const struct region_plan *rp);
/* Unmaps restore-run: everything but the core area, the kernel's special mappings and the
 * regions phase 1 placed. */
void memory_unmap_all_but_core(const struct restore_plan *p);
/* The kernel's own mappings ([vdso], [vvar], [vvar_vclock]): vdso_restore places them. */
int memory_is_kernels(uint32_t kind);
/* Maps and fills the regions phase 1 did not place. */
void memory_restore(struct restore_plan *p);

#endif
