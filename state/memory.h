/* Memory regions: which parts of /proc/self/maps an image holds, and how they come back.
 *
 * save    (checkpoint handler) memory_save: one REGION record per mapping, RUN records for
 *         the pages that cannot be had again from a file.
 * check   (restore-run, before anything changes) memory_check: open and identify every
 *         mapped file.
 * restore (restore core) memory_unmap_all_but_core, then memory_restore. */
#ifndef CKPT_MEMORY_H
#define CKPT_MEMORY_H

#include "image_io.h"

struct memory_save_args {
    char *maps_buf; /* room for /proc/self/maps */
    size_t maps_cap;
    uint64_t *pagemap; /* room for pagemap entries */
    size_t pagemap_entries;
    uint64_t exclude_start, exclude_end; /* the checkpoint's own scratch memory */
};

int memory_save(struct image_writer *w, const struct memory_save_args *a, struct ck_error *err);

struct restore_plan;
int memory_check(struct restore_plan *p, struct ck_error *err);
void memory_unmap_all_but_core(const struct restore_plan *p);
void memory_restore(const struct restore_plan *p);

#endif
