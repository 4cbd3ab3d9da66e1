/* Descriptors: what each open descriptor is, and how it is opened again.
 *
 * save    (checkpoint handler) files_save: reconciles the shim's bookkeeping with
 *         /proc/self/fd, one FD record per descriptor; refuses kinds ckpt cannot restore.
 * check   (restore-run phase 1) files_check: opens every file again (without changing it,
 *         following no symbolic link, opening nothing but the kind of file it was) and
 *         checks it is the same file; files_commit then makes every change to files, all or
 *         nothing: stored contents back, written files cut back to their size at checkpoint
 *         (not output shared with others), seeks — the last step before the point of no
 *         return.
 * restore (restore core) files_restore: moves each descriptor to its number. */
#ifndef CKPT_FILES_H
#define CKPT_FILES_H

#include "image_io.h"

/* How much of the contents of read-write files one image stores (all files together). */
#define FILES_CONTENTS_MAX (256UL << 20)

struct files_save_args {
    int skip_fds[4]; /* the checkpoint's own descriptors */
    int nskip;
    /* The shim's bookkeeping: how fd was created and the flags the program passed. */
    uint32_t (*origin_of)(int fd, uint32_t *open_flags);
    int *fd_buf; /* room for the descriptor numbers */
    size_t fd_cap;
};

int files_save(struct image_writer *w, const struct files_save_args *a, struct ck_error *err);

struct restore_plan;
int files_check(struct restore_plan *p, struct ck_error *err);
int files_commit(struct restore_plan *p, struct ck_error *err);
void files_restore(const struct restore_plan *p);

#endif
