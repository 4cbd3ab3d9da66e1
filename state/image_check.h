/* The validator's interface to the record kinds: image_io.c walks the records (framing,
 * header, ids, DATA extents, unknown kinds, END) and calls, for each known record, the
 * check_<name> of its kind, which lives in the kind's own file (descriptor kinds in fds.c and
 * state/fd_<kind>.c, REGION and RUN in memory.c, PROCESS in process.c, THREAD in thread.c).
 * Both are declared here from the registry (CKPT_RECORDS), so a kind without them does not
 * link. Raw code only: restore-run, the ckpt tool and the fuzzers run it. */
#ifndef CKPT_IMAGE_CHECK_H
#define CKPT_IMAGE_CHECK_H

#include "image_io.h"

/* Addresses a restored process may use: above mmap_min_addr's lowest floor and below
 * TASK_SIZE of the 47-bit user half, which ends one page short of 2^47 (mmap and
 * PR_SET_MM_MAP refuse anything else; restore-run checks the machine's mmap_min_addr). */
#define USER_ADDR_MIN 0x1000UL
#define USER_ADDR_MAX 0x7ffffffff000UL

_Static_assert(CKPT_NRECORD_KINDS <= 64, "a bit per known record kind in image_walk.seen");
/* The bit of a known record kind in image_walk's masks. */
#define IMAGE_KIND_BIT(NAME) (1ULL << CKPT_RECI_##NAME)

/* What the walk over the records carries from one record to the next. */
struct image_walk {
    uint64_t pos;       /* metadata offset of the record being checked */
    uint32_t nrecords;  /* records before it */
    uint64_t next_data; /* DATA extents tile the data section in order: where the next starts */
    uint32_t last_id[CKPT_NRECORD_KINDS]; /* per known kind: the last id seen, 0 = none */
    int prev_kind;                        /* kind of the known record just before */
    /* The last FILE record, and a bit per known kind (registry index) of the records after
     * it: the records a FILE introduces check their place and number with these. */
    const struct ckpt_file_record *file;
    uint64_t since_file;
    /* Kept by the kinds' checks for their own records (memory.c: REGION and RUN; fds.c:
     * FD). */
    struct {
        uint64_t last_region_end;
        const struct ckpt_region_record *region;
        uint32_t runs_left;
        uint64_t last_run_end;
        uint32_t region_kinds; /* bit per region kind seen */
    } memory;
    int32_t last_fd;
    uint64_t last_hashes_end; /* page_hashes.c: where the last PAGE_HASHES run ended */
};

/* check_<name>: the checks of one record of the kind, at its place in the walk (w->pos);
 * the walk's own (framing, registry flags, min_len, id, extent) are done. 0 or -1 with err
 * filled.
 * complete_<name>: called before every known record next (END included) for every kind:
 * refuses if what records of the kind began is incomplete at next (a region still owed page
 * runs, a pipe whose first end's PIPE_END is missing when the next FILE, the FDs or END
 * starts). */
#define IMAGE_CHECK_DECLARE(NAME, name, value, flags, min_len, size)                               \
    int check_##name(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r, \
                     struct ck_error *err);                                                        \
    int complete_##name(const struct image_view *v, const struct image_walk *w,                    \
                        const struct ckpt_record_head *next, struct ck_error *err);
CKPT_RECORDS(IMAGE_CHECK_DECLARE)
#undef IMAGE_CHECK_DECLARE

/* For a kind whose records need nothing after them. */
#define IMAGE_NOTHING_TO_COMPLETE(name)                                                            \
    int complete_##name(const struct image_view *v, const struct image_walk *w,                    \
                        const struct ckpt_record_head *next, struct ck_error *err)                 \
    {                                                                                              \
        (void)v, (void)w, (void)next, (void)err;                                                   \
        return 0;                                                                                  \
    }

/* A NUL-terminated path of path_len bytes that ends inside the record. */
static inline int image_path_ok(const char *path, uint32_t path_len, const char *rec_end)
{
    return path + path_len < rec_end && path[path_len] == 0 && ck_strlen(path) == path_len;
}

/* ---- shared by the descriptor kinds' checks (fds.c) ----------------------------------- */

/* The FILE record with id, if it is the last FILE (records a FILE introduces name it). */
const struct ckpt_file_record *image_file_before(const struct image_walk *w, uint32_t id);
/* The FILE record a kind's own record names, if it is the one just before it, of
 * descriptor kind fd_kind (after = the record kind that may stand between them, or 0). */
const struct ckpt_file_record *image_detail_of(const struct image_walk *w, uint32_t id,
                                               uint32_t fd_kind, int after);
/* The last FILE introduced an object (a record of registry index object: a PIPE, a
 * SOCKPAIR) but is no end of it (no record of index end after it), and next ends its
 * records: the next FILE, an FD or END. */
int image_file_lacks_end(const struct image_walk *w, const struct ckpt_record_head *next,
                         int object, int end);

#endif
