/* eventfd (CKPT_FD_EVENTFD) with its EVENTFD record: the counter and EFD_SEMAPHORE, read
 * from /proc/self/fdinfo at checkpoint; restore makes a new eventfd holding that counter.
 * Nothing else of it is state: whoever waited on it waits again on the new one. */
#include "fd_event.h"

#include <asm/errno.h>

#define CK_EFD_SEMAPHORE 1

/* ======================================================================================
 * save side: runs in the checkpoint signal handler, raw syscalls only
 * ====================================================================================== */

static int eventfd_save(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                        struct ck_error *err)
{
    uint64_t count = 0, semaphore = 0;
    int rc = fd_event_fdinfo_value(fd, "eventfd-count:", 16, &count);
    if (!rc)
        rc = fd_event_fdinfo_value(fd, "eventfd-semaphore:", 10, &semaphore);
    if (rc)
        return ck_fail(err, rc, "descriptor %d (eventfd): reading its counter from fdinfo: %s", fd,
                       ck_strerror(-rc));
    struct ckpt_eventfd_record *e = fd_event_record(c, CKPT_REC_EVENTFD, sizeof *e, f, fd, err);
    if (!e)
        return -1;
    e->count = count;
    e->semaphore = semaphore ? 1 : 0;
    return 0;
}

/* ======================================================================================
 * check side: restore-run phase 1
 * ====================================================================================== */

/* A new eventfd with the counter (written: eventfd2's initial value has only 32 bits). */
static int eventfd_plan(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    const struct ckpt_eventfd_record *e = fd_event_detail(fp, CKPT_REC_EVENTFD, "an eventfd", err);
    if (!e)
        return -1;
    long fd = sys_eventfd2(0, O_CLOEXEC | (e->semaphore ? CK_EFD_SEMAPHORE : 0));
    if (fd >= 0 && e->count) {
        long w = sys_write((int)fd, &e->count, sizeof e->count);
        if (w != (long)sizeof e->count) {
            sys_close((int)fd);
            fd = w < 0 ? w : -EIO;
        }
    }
    return fd_event_keep(p, fp, fd, "its eventfd", err);
}

/* The restore core has nothing more to do: the descriptor is on its number. */
FD_NOTHING_TO_RESTORE(EVENTFD)

const struct fd_kind_ops fd_ops_EVENTFD = {
    .kind = CKPT_FD_EVENTFD,
    .name = "eventfd",
    .save = eventfd_save,
    .plan = eventfd_plan,
};
