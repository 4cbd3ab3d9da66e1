/* Character devices other than terminals (CKPT_FD_CHARDEV: /dev/null, /dev/urandom, ...):
 * reopened by path, checked to be a character device still. */
#include "fd_kind.h"

static int chardev_plan(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    (void)p;
    const struct ckpt_file_record *f = fp->file;
    uint32_t want = f->file.mode & CK_S_IFMT;
    struct identity_found now;
    /* A device may block in open (a modem line waiting for carrier): not restore-run. */
    long fd = identity_open(f->path, (int)(f->flags & REOPEN_FLAGS) | O_NONBLOCK, want, &now);
    if (fd < 0)
        return fds_refuse_open("file", f->path, fp->rec->fd, fd, &now, want, err);
    fp->temp_fd = (int)fd;
    if (!(f->flags & O_NONBLOCK))
        sys_fcntl((int)fd, F_SETFL, (long)(f->flags & REOPEN_FLAGS));
    return 0;
}

/* The restore core has nothing more to do: the descriptor is on its number. */
FD_NOTHING_TO_RESTORE(CHARDEV)

const struct fd_kind_ops fd_ops_CHARDEV = {
    .kind = CKPT_FD_CHARDEV,
    .name = "character device",
    .plan = chardev_plan,
};
