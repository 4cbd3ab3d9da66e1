/* Character devices other than terminals (CKPT_FD_CHARDEV), with the CHARDEV record that
 * says which device each was. Only devices without state of their own are restored:
 * /dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom (CKPT_CHARDEV_RESTORED),
 * reopened by path with their flags, the same device required there; any other (a FUSE
 * connection, a TUN interface, a sound card) is refused at checkpoint by name. */
#include "fd_kind.h"
#include "image_check.h"

/* The kernel's st_rdev encoding (new_encode_dev): 12 bits of major, 20 of minor. */
static uint32_t major_of(uint64_t rdev)
{
    return (uint32_t)(((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfffULL));
}
static uint32_t minor_of(uint64_t rdev)
{
    return (uint32_t)((rdev & 0xff) | ((rdev >> 12) & ~0xffULL));
}

/* ======================================================================================
 * save side: runs in the checkpoint signal handler, raw syscalls only
 * ====================================================================================== */

static int chardev_accept(int fd, uint32_t origin, const char *path, struct ck_error *err)
{
    (void)origin;
    struct kstat st;
    long r = sys_fstat(fd, &st);
    if (r < 0)
        return ck_fail(err, (int)r, "descriptor %d (%s): %s", fd, path, ck_strerror((int)-r));
    uint32_t major = major_of(st.st_rdev), minor = minor_of(st.st_rdev);
    if (CKPT_CHARDEV_RESTORED(major, minor))
        return 0;
    return ck_fail(err, -1,
                   "descriptor %d (%s) is a character device (%u:%u) ckpt cannot restore: it "
                   "reopens only /dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom and "
                   "terminals",
                   fd, path, major, minor);
}

static int chardev_save(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                        struct ck_error *err)
{
    struct kstat st;
    long r = sys_fstat(fd, &st);
    if (r < 0)
        return ck_fail(err, (int)r, "descriptor %d (%s): %s", fd, f->path, ck_strerror((int)-r));
    struct ckpt_chardev_record *d = iw_record(c->w, CKPT_REC_CHARDEV, sizeof *d, 0);
    if (!d)
        return ck_fail(err, c->w->error, "image metadata: %s", ck_strerror(-c->w->error));
    d->file = f->head.id;
    d->major = major_of(st.st_rdev);
    d->minor = minor_of(st.st_rdev);
    return 0;
}

/* ======================================================================================
 * check side: restore-run phase 1
 * ====================================================================================== */

/* The device found at the path is the one the program had (an image without CHARDEV
 * records, format 3.1: one of the devices ckpt restores). */
static int check_device(const struct fd_plan *fp, int fd, struct ck_error *err)
{
    struct kstat st;
    long r = sys_fstat(fd, &st);
    if (r < 0)
        return ck_fail(err, -1, "file %s (descriptor %d): %s", fp->file->path, fp->rec->fd,
                       ck_strerror((int)-r));
    uint32_t major = major_of(st.st_rdev), minor = minor_of(st.st_rdev);
    const struct ckpt_chardev_record *d =
        fp->detail && fp->detail->kind == CKPT_REC_CHARDEV ? (const void *)fp->detail : 0;
    if (d ? d->major == major && d->minor == minor : CKPT_CHARDEV_RESTORED(major, minor))
        return 0;
    return ck_fail(err, -1, "file %s (descriptor %d) is now device %u:%u, it was %u:%u: refused",
                   fp->file->path, fp->rec->fd, major, minor, d ? d->major : 0, d ? d->minor : 0);
}

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
    if (check_device(fp, (int)fd, err))
        return -1;
    if (!(f->flags & O_NONBLOCK))
        sys_fcntl((int)fd, F_SETFL, (long)(f->flags & REOPEN_FLAGS));
    return 0;
}

/* The restore core has nothing more to do: the descriptor is on its number. */
FD_NOTHING_TO_RESTORE(CHARDEV)

const struct fd_kind_ops fd_ops_CHARDEV = {
    .kind = CKPT_FD_CHARDEV,
    .name = "character device",
    .accept = chardev_accept,
    .save = chardev_save,
    .plan = chardev_plan,
};

/* ---- the validator's checks of CHARDEV records (image_check.h) --------------------------- */

int check_chardev(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                  struct ck_error *err)
{
    (void)v;
    const struct ckpt_chardev_record *d = (const void *)r;
    if (!image_detail_of(w, d->file, CKPT_FD_CHARDEV, 0) ||
        (w->since_file & IMAGE_KIND_BIT(CHARDEV)))
        return ck_fail(err, -1, "character device record without its file record (file %u)",
                       d->file);
    if (!CKPT_CHARDEV_RESTORED(d->major, d->minor))
        return ck_fail(err, -1, "file %u is character device %u:%u, which ckpt does not restore",
                       d->file, d->major, d->minor);
    return 0;
}

IMAGE_NOTHING_TO_COMPLETE(chardev)
