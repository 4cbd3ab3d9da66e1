/* Memory in transparent huge pages, tracked by content for incremental images.
 *
 * The kernel's write tracking (userfaultfd write-protect, track.c) works in 4 KiB pages: the
 * first write to a write-protected huge page splits it, so a program checkpointed with
 * --incremental would lose its huge pages after the first checkpoint and fault once per
 * 4 KiB page after every one. Huge pages are therefore left unprotected (track.c) and
 * compared by content instead: the writer hashes each of their pages (XXH64, about
 * 4 GB/s here) into PAGE_HASHES records of the image it writes, and the next incremental
 * image keeps a page in its parent when its hash is the one the parent recorded.
 *
 * save   (writer) page_hashes_begin, page_hashes_changed for every page the image saves in
 *        address order (memory.c), page_hashes_save: the records.
 * check  (restore-run, ckpt verify) check_page_hashes: their shape; nothing restores them.
 * Raw syscalls only. */
#ifndef CKPT_PAGE_HASHES_H
#define CKPT_PAGE_HASHES_H

#include "image_io.h"
#include "memory.h"

struct page_hashes {
    const struct memory_range *huge; /* present huge pages of tracked memory, ascending */
    size_t nhuge;
    uint64_t *hash;                /* scratch, zeroed: a hash per page of huge, in order */
    size_t cap;                    /* pages it has room for; the rest are never kept by content */
    const struct image_view *base; /* the image extended (its PAGE_HASHES), or NULL */
    /* cursors: addresses come in ascending order */
    size_t at, first_page; /* huge[at], and its first page's index in hash */
    const struct ckpt_record_head *base_at;
};

void page_hashes_begin(struct page_hashes *ph, const struct memory_range *huge, size_t nhuge,
                       uint64_t *scratch, size_t cap, const struct image_view *base);
/* For a page the image saves (ascending addresses): -1 if it is not in huge memory (the
 * write tracking decides); else its hash is recorded, and 0 if it is the base's, 1 if not
 * (or the base recorded none). */
int page_hashes_changed(struct page_hashes *ph, uint64_t addr);
/* The PAGE_HASHES records of the hashes recorded. 0 or the writer's error. */
int page_hashes_save(struct image_writer *w, const struct page_hashes *ph);

#endif
