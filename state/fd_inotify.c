/* inotify (CKPT_FD_INOTIFY) with an INOTIFY_WATCH record per watch. The kernel lists an
 * instance's watches in /proc/self/fdinfo (wd, inode, device, mask) but not their paths:
 * those come from the shim's book (fd_inotify.h), and the checkpoint checks each path
 * still names the watched inode. Restore makes a new instance and adds the watches again
 * by path in ascending order of wd. The kernel numbers an instance's watches cyclically
 * from 1 and never hands out a number just freed, so a gap before a watch's number is
 * filled by adding and removing a watch on a scratch pipe, once per missing number: every
 * watch gets the number the program holds. Events queued at checkpoint are lost. */
#include "fd_inotify.h"
#include "fd_event.h"
#include "image_check.h"

#include <asm/errno.h>

#define CK_IN_NONBLOCK 04000
#define CK_IN_CLOEXEC 02000000
#define CK_IN_ALL_EVENTS 0xfffu
#define CK_O_PATH 010000000

/* ======================================================================================
 * save side: runs in the checkpoint signal handler, raw syscalls only
 * ====================================================================================== */

/* One "inotify wd:... ino:... sdev:... mask:..." line of an instance's fdinfo. */
struct fdinfo_watch {
    int32_t wd;
    uint32_t mask;
    uint64_t ino, sdev;
};

/* The hex number after " key" in text; -ENOENT if text has no such field. */
static int hex_field(const char *text, const char *key, uint64_t *out)
{
    for (const char *p = text; *p; p++)
        if (ck_starts_with(p, key)) {
            const char *v = p + ck_strlen(key);
            *out = ck_parse_uint(&v, 16);
            return 0;
        }
    return -ENOENT;
}

/* 1 and *w filled for a watch line, 0 for another line, -EINVAL for a watch line without
 * the fields this reads. */
static int parse_watch_line(const char *text, struct fdinfo_watch *w)
{
    if (!ck_starts_with(text, "inotify "))
        return 0;
    uint64_t wd, mask;
    if (hex_field(text, " wd:", &wd) || hex_field(text, " ino:", &w->ino) ||
        hex_field(text, " sdev:", &w->sdev) || hex_field(text, " mask:", &mask))
        return -EINVAL;
    w->wd = (int32_t)wd;
    w->mask = (uint32_t)mask;
    return 1;
}

/* fdinfo shows the kernel's dev_t (major << 20 | minor); stat's st_dev encodes it so. */
static uint64_t st_dev_of_kernel_dev(uint64_t sdev)
{
    uint64_t major = sdev >> 20, minor = sdev & 0xfffff;
    return (minor & 0xff) | (major << 8) | ((minor & ~0xffULL) << 12);
}

/* Descriptor fd is one of the open file description whose lowest descriptor is lowest. */
static int of_description(const struct fd_save_ctx *c, int32_t fd, int32_t lowest)
{
    size_t lo = 0, hi = c->nslots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->slots[mid].fd < fd)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == c->nslots || c->slots[lo].fd != fd)
        return 0;
    return fd == lowest || c->slots[lo].shares_with == lowest;
}

/* The shim's note of watch wd of the instance whose lowest descriptor is fd, or NULL. */
static const struct inotify_note *note_of(const struct fd_save_ctx *c, int fd, int32_t wd)
{
    const struct inotify_book *b = c->args->inotify;
    for (uint32_t i = 0; b && i < b->nnotes; i++) {
        const struct inotify_note *n = inotify_note_at(b, i);
        if (n && n->fd >= 0 && n->wd == wd && of_description(c, n->fd, fd))
            return n;
    }
    return 0;
}

/* What save_watch_line returns once it has filled the error: it stops the scan. */
#define WATCH_REFUSED 1

struct watch_scan {
    struct fd_save_ctx *c;
    int fd;
    const struct ckpt_file_record *f;
    struct ck_error *err;
};

/* The watched file as the note's path names it now, checked to be the watched inode: the
 * O_PATH descriptor, its stat and the kernel's name of it (into path). */
static long open_watched(const struct watch_scan *s, const struct inotify_note *n,
                         const struct fdinfo_watch *w, struct kstat *st, char *path)
{
    long o =
        sys_openat(AT_FDCWD, n->path, CK_O_PATH | O_CLOEXEC | (n->dont_follow ? O_NOFOLLOW : 0), 0);
    if (o >= 0 && sys_fstat((int)o, st) < 0) {
        sys_close((int)o);
        o = -EIO;
    }
    if (o >= 0 && (st->st_ino != w->ino || st->st_dev != st_dev_of_kernel_dev(w->sdev))) {
        sys_close((int)o);
        o = -ESTALE;
    }
    if (o < 0)
        return ck_fail(s->err, -1,
                       "descriptor %d (inotify): watch %d was added for %s, which %s now: it "
                       "cannot be added again by its path",
                       s->fd, w->wd, n->path,
                       o == -ESTALE ? "names another file (renamed or replaced since)"
                                    : ck_strerror((int)-o));
    char self[40];
    ck_format(self, sizeof self, "/proc/self/fd/%ld", o);
    long len = sys_readlinkat(AT_FDCWD, self, path, CKPT_PATH_MAX - 1);
    if (len < 0) {
        sys_close((int)o);
        return ck_fail(s->err, -1, "descriptor %d (inotify): watch %d (%s): %s", s->fd, w->wd,
                       n->path, ck_strerror((int)-len));
    }
    path[len] = 0;
    return o;
}

static int save_watch(struct watch_scan *s, const struct fdinfo_watch *w)
{
    if (w->wd < 1 || w->wd > CKPT_INOTIFY_WD_MAX)
        return ck_fail(s->err, -1,
                       "descriptor %d (inotify): watch number %d is above %d, which a restore "
                       "does not make again",
                       s->fd, w->wd, CKPT_INOTIFY_WD_MAX);
    const struct inotify_note *n = note_of(s->c, s->fd, w->wd);
    if (!n)
        return ck_fail(s->err, -1,
                       "descriptor %d (inotify): watch %d was not added through libc's "
                       "inotify_add_watch on this descriptor: ckpt knows no path for it",
                       s->fd, w->wd);
    struct kstat st;
    char path[CKPT_PATH_MAX];
    long o = open_watched(s, n, w, &st, path);
    if (o < 0)
        return -1;
    sys_close((int)o);
    struct ckpt_inotify_watch_record *r =
        iw_record(s->c->w, CKPT_REC_INOTIFY_WATCH, sizeof *r, path);
    if (!r)
        return ck_fail(s->err, s->c->w->error, "image metadata: %s", ck_strerror(-s->c->w->error));
    r->file = s->f->head.id;
    r->wd = w->wd;
    r->mask = w->mask;
    r->mode = st.st_mode;
    r->dev = st.st_dev;
    r->ino = st.st_ino;
    r->path_len = (uint32_t)ck_strlen(path);
    return 0;
}

static int save_watch_line(void *ctx, const char *text)
{
    struct watch_scan *s = ctx;
    struct fdinfo_watch w;
    int rc = parse_watch_line(text, &w);
    if (rc < 0)
        ck_fail(s->err, rc, "descriptor %d (inotify): unreadable watch in fdinfo: %s", s->fd, text);
    return rc < 0 || (rc > 0 && save_watch(s, &w)) ? WATCH_REFUSED : 0;
}

static int inotify_save(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                        struct ck_error *err)
{
    struct watch_scan s = {c, fd, f, err};
    int rc = fd_event_each_fdinfo_line(fd, save_watch_line, &s);
    if (rc < 0)
        return ck_fail(err, rc, "descriptor %d (inotify): reading its fdinfo: %s", fd,
                       ck_strerror(-rc));
    return rc == WATCH_REFUSED ? -1 : 0;
}

/* ======================================================================================
 * check side: restore-run phase 1
 * ====================================================================================== */

/* The watch with the lowest number above after among fp's records, or NULL. */
static const struct ckpt_inotify_watch_record *next_watch(const struct restore_plan *p,
                                                          const struct fd_plan *fp, int32_t after)
{
    const struct ckpt_inotify_watch_record *best = 0;
    const struct ckpt_record_head *r = fp->detail;
    for (uint32_t i = 0; r && i < fp->ndetail; i++, r = image_next(&p->view, r)) {
        const struct ckpt_inotify_watch_record *w = (const void *)r;
        if (r->kind == CKPT_REC_INOTIFY_WATCH && w->wd > after && (!best || w->wd < best->wd))
            best = w;
    }
    return best;
}

/* Makes the kernel hand out every number from *next up to wd - 1 and take it back. */
static int skip_numbers(int in, const char *scratch, int32_t *next, int32_t wd, int fd,
                        struct ck_error *err)
{
    for (; *next < wd; ++*next) {
        long got = sys_inotify_add_watch(in, scratch, CK_IN_DELETE_SELF);
        if (got >= 0)
            sys_inotify_rm_watch(in, (int)got);
        if (got != *next)
            return ck_fail(err, -1,
                           "descriptor %d (inotify): the kernel gave watch number %ld where "
                           "%d was due",
                           fd, got, *next);
    }
    return 0;
}

/* The watched file is what it was: the same kind, the very inode on the same file system,
 * or on another one (another machine) a file of the restoring user's or root's. */
static int check_watched(const struct ckpt_inotify_watch_record *w, const struct kstat *st, int fd,
                         struct ck_error *err)
{
    if ((st->st_mode & CK_S_IFMT) != (w->mode & CK_S_IFMT))
        return ck_fail(err, -1, "descriptor %d (inotify): watched %s is now %s, it was %s", fd,
                       w->path, identity_kind_name(st->st_mode), identity_kind_name(w->mode));
    if (st->st_dev == w->dev && st->st_ino != w->ino)
        return ck_fail(err, -1,
                       "descriptor %d (inotify): watched %s was replaced by another file "
                       "(inode %lu, was %lu)",
                       fd, w->path, (unsigned long)st->st_ino, (unsigned long)w->ino);
    uint32_t me = (uint32_t)sys_getuid();
    if (st->st_dev != w->dev && st->st_uid != me && st->st_uid != 0)
        return ck_fail(err, -1,
                       "descriptor %d (inotify): watched %s is on another file system now and "
                       "belongs to uid %u: refused, a file in another place than at checkpoint "
                       "must be yours or root's",
                       fd, w->path, st->st_uid);
    return 0;
}

/* Adds watch w again on the file its path names (opened without following any symbolic
 * link, checked, and watched through that very descriptor). */
static int add_watch_again(int in, const struct ckpt_inotify_watch_record *w, int fd,
                           struct ck_error *err)
{
    long o = identity_open_path(w->path);
    if (o < 0)
        return ck_fail(err, -1, "descriptor %d (inotify): watched %s: %s", fd, w->path,
                       o == -ELOOP ? "a symbolic link is now in its path: refused, restore-run "
                                     "follows no symbolic link"
                                   : ck_strerror((int)-o));
    struct kstat st;
    long r = sys_fstat((int)o, &st);
    if (r < 0 || check_watched(w, &st, fd, err) < 0) {
        sys_close((int)o);
        return r < 0 ? ck_fail(err, -1, "descriptor %d (inotify): watched %s: %s", fd, w->path,
                               ck_strerror((int)-r))
                     : -1;
    }
    char self[40];
    ck_format(self, sizeof self, "/proc/self/fd/%ld", o);
    long got = sys_inotify_add_watch(in, self, w->mask);
    sys_close((int)o);
    if (got < 0)
        return ck_fail(err, -1, "descriptor %d (inotify): watching %s again: %s", fd, w->path,
                       ck_strerror((int)-got));
    if (got != w->wd)
        return ck_fail(err, -1,
                       "descriptor %d (inotify): the kernel numbered the watch of %s %ld, it "
                       "was %d (two watches of one file?)",
                       fd, w->path, got, w->wd);
    return 0;
}

static int add_watches(const struct restore_plan *p, const struct fd_plan *fp, int in,
                       struct ck_error *err)
{
    int scratch[2];
    long r = sys_call2(__NR_pipe2, SYS_L(scratch), O_CLOEXEC);
    if (r < 0)
        return ck_fail(err, -1, "descriptor %d (inotify): a scratch pipe: %s", fp->rec->fd,
                       ck_strerror((int)-r));
    char scratch_path[40];
    ck_format(scratch_path, sizeof scratch_path, "/proc/self/fd/%d", scratch[0]);
    int32_t next = 1;
    uint32_t added = 0;
    int rc = 0;
    for (const struct ckpt_inotify_watch_record *w = next_watch(p, fp, 0); w && !rc;
         w = next_watch(p, fp, w->wd), added++) {
        rc = skip_numbers(in, scratch_path, &next, w->wd, fp->rec->fd, err) ||
             add_watch_again(in, w, fp->rec->fd, err);
        next = w->wd + 1;
    }
    sys_close(scratch[0]);
    sys_close(scratch[1]);
    if (!rc && added != fp->ndetail)
        return ck_fail(err, -1, "descriptor %d (inotify): two watches have one number",
                       fp->rec->fd);
    return rc ? -1 : 0;
}

/* The events of the scratch watches (and of files changed since the watches were added)
 * go: the program finds only what happens after the restore. */
static void drain_events(int in)
{
    char buf[4096];
    while (sys_read(in, buf, sizeof buf) > 0) {
    }
}

static int inotify_plan(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    long in = sys_inotify_init1(CK_IN_NONBLOCK | CK_IN_CLOEXEC);
    if (in < 0)
        return fd_event_keep(p, fp, in, "its inotify instance", err);
    if (add_watches(p, fp, (int)in, err)) {
        sys_close((int)in);
        return -1;
    }
    drain_events((int)in);
    return fd_event_keep(p, fp, in, "its inotify instance", err);
}

/* The restore core has nothing more to do: watches belong to the instance, not a number. */
FD_NOTHING_TO_RESTORE(INOTIFY)

const struct fd_kind_ops fd_ops_INOTIFY = {
    .kind = CKPT_FD_INOTIFY,
    .name = "inotify",
    .save = inotify_save,
    .plan = inotify_plan,
};

/* ---- the validator's checks of INOTIFY_WATCH records (image_check.h) --------------------- */

int check_inotify_watch(struct image_view *v, struct image_walk *w,
                        const struct ckpt_record_head *r, struct ck_error *err)
{
    (void)v;
    const struct ckpt_inotify_watch_record *n = (const void *)r;
    if (!image_detail_of(w, n->file, CKPT_FD_INOTIFY, CKPT_REC_INOTIFY_WATCH))
        return ck_fail(err, -1, "inotify watch record without its file record (file %u)", n->file);
    if (n->wd < 1 || n->wd > CKPT_INOTIFY_WD_MAX)
        return ck_fail(err, -1, "inotify watch of file %u has an invalid number %d", n->file,
                       n->wd);
    if (!(n->mask & CK_IN_ALL_EVENTS) || (n->mask & ~CKPT_INOTIFY_MASK_KNOWN))
        return ck_fail(err, -1, "inotify watch %d of file %u has an invalid mask %x", n->wd,
                       n->file, n->mask);
    if (!image_path_ok(n->path, n->path_len, (const char *)r + r->length) || n->path[0] != '/' ||
        !(n->mode & CK_S_IFMT))
        return ck_fail(err, -1, "malformed inotify watch %d of file %u", n->wd, n->file);
    return 0;
}

IMAGE_NOTHING_TO_COMPLETE(inotify_watch)
