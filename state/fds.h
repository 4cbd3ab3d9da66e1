/* Descriptors: what each open descriptor is, and how it is opened again.
 *
 * This is the table side (fds.c): listing /proc/self/fd, which descriptors share an open
 * file description, installing descriptors on their numbers, and the dispatch to each
 * kind's own file through struct fd_kind_ops (fd_kind.h): fd_file.c (FILE, DIR, with
 * FILE_DATA and LOCK), fd_tty.c (TTY, TERMINAL), fd_pipe.c (PIPE, with PIPE and PIPE_END),
 * fd_socket.c (SOCKET, with SOCKPAIR and SOCKET_END), fd_chardev.c (CHARDEV).
 *
 * save    (checkpoint handler) files_save: reconciles the shim's bookkeeping with
 *         /proc/self/fd: one FILE record per open file description (with its kind's
 *         records), then one FD record per descriptor naming its FILE; refuses kinds ckpt
 *         cannot restore.
 * check   (restore-run phase 1) files_check: opens every file again (without changing it,
 *         following no symbolic link, opening nothing but the kind of file it was) and
 *         checks it is the same file; files_commit then makes every change to files, all or
 *         nothing: stored contents back, written files cut back to their size at checkpoint
 *         (not output shared with others), seeks — the last step before the point of no
 *         return.
 * restore (restore core) files_restore: moves each descriptor to its number. */
#ifndef CKPT_FDS_H
#define CKPT_FDS_H

#include "image_io.h"

/* How much of the contents of read-write files one image stores (all files together). */
#define FILES_CONTENTS_MAX (256UL << 20)

/* files_save's scratch, one per descriptor: its number and the lowest descriptor sharing
 * its open file description (found by sorting, so that no number of descriptors is too
 * many to compare), then its FILE record. */
struct fd_slot {
    int32_t fd;
    int32_t shares_with;                /* -1: none lower */
    uint32_t origin;                    /* how the shim learnt of it */
    uint32_t file;                      /* the id of its FILE record, once written */
    const struct ckpt_file_record *rec; /* its FILE record in the writer's metadata */
};

struct files_save_args {
    int skip_fds[4]; /* the checkpoint's own descriptors */
    int nskip;
    /* The shim's bookkeeping: how fd was created and the flags the program passed. */
    uint32_t (*origin_of)(int fd, uint32_t *open_flags);
    /* The backlog the program last passed to listen(2) on fd, or -1 (the shim saw none). */
    int (*listen_backlog_of)(int fd);
    /* The paths the shim saw added as inotify watches (state/fd_inotify.h), or NULL. */
    const struct inotify_book *inotify;
    struct fd_slot *fd_buf; /* room for fd_cap descriptors */
    size_t fd_cap;
};

int files_save(struct image_writer *w, const struct files_save_args *a, struct ck_error *err);

struct restore_plan;
int files_check(struct restore_plan *p, struct ck_error *err);
int files_commit(struct restore_plan *p, struct ck_error *err);
void files_restore(const struct restore_plan *p);

#endif
