/* signalfd (CKPT_FD_SIGNALFD) with its SIGNALFD record: the mask, from /proc/self/fdinfo
 * at checkpoint. The signals it reads are the process's pending signals, which the PROCESS
 * record keeps and the restore raises again: a signal pending at checkpoint is read from
 * the new signalfd (with the restore's sender fields: ssi_pid, ssi_uid and ssi_code are
 * the restored process's own, as after raise). */
#include "fd_event.h"

/* ======================================================================================
 * save side: runs in the checkpoint signal handler, raw syscalls only
 * ====================================================================================== */

static int signalfd_save(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                         struct ck_error *err)
{
    uint64_t mask = 0;
    int rc = fd_event_fdinfo_value(fd, "sigmask:", 16, &mask);
    if (rc)
        return ck_fail(err, rc, "descriptor %d (signalfd): reading its mask from fdinfo: %s", fd,
                       ck_strerror(-rc));
    struct ckpt_signalfd_record *s = fd_event_record(c, CKPT_REC_SIGNALFD, sizeof *s, f, fd, err);
    if (!s)
        return -1;
    s->mask = mask;
    return 0;
}

/* ======================================================================================
 * check side: restore-run phase 1
 * ====================================================================================== */

static int signalfd_plan(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    const struct ckpt_signalfd_record *s =
        fd_event_detail(fp, CKPT_REC_SIGNALFD, "a signalfd", err);
    if (!s)
        return -1;
    return fd_event_keep(p, fp, sys_signalfd4(-1, &s->mask, O_CLOEXEC), "its signalfd", err);
}

/* The restore core has nothing more to do: the descriptor is on its number. */
FD_NOTHING_TO_RESTORE(SIGNALFD)

const struct fd_kind_ops fd_ops_SIGNALFD = {
    .kind = CKPT_FD_SIGNALFD,
    .name = "signalfd",
    .save = signalfd_save,
    .plan = signalfd_plan,
};
