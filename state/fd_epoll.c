/* epoll (CKPT_FD_EPOLL) with its EPOLL_TARGET records: one per entry of the interest list
 * (target descriptor, events with EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE, and the program's
 * data), read from /proc/self/fdinfo at checkpoint.
 *
 * The kernel keys an entry by the target's file and the number it was added with, and the
 * program's later EPOLL_CTL_MOD and EPOLL_CTL_DEL name that number: so phase 1 only makes
 * an empty epoll (and tries every entry on a scratch epoll, so that one the kernel would
 * refuse refuses the restore while nothing has changed), and the restore core adds the
 * entries once every descriptor is on its own number. An epoll watching an epoll works the
 * same way (the inner one is a target like any other).
 *
 * What a restored program finds: the same entries with the same events and data; level-
 * triggered readiness is what the targets' state says; an edge-triggered target that is
 * ready is reported once more after the restore (adding it finds it ready); a one-shot entry
 * that fired and was not re-armed stays disarmed. */
#include "fd_event.h"

#include <asm/errno.h>

/* ======================================================================================
 * save side: runs in the checkpoint signal handler, raw syscalls only
 * ====================================================================================== */

struct kcmp_epoll_slot {
    uint32_t efd, tfd, toff;
};

struct epoll_save {
    struct fd_save_ctx *c;
    const struct ckpt_file_record *f;
    int epfd, pid;
    struct ck_error *err;
};

/* An entry whose number no longer names its file (closed, or another file on it since)
 * cannot be added again: the program could not reach it either. */
static int check_entry(const struct epoll_save *s, int tfd)
{
    struct kcmp_epoll_slot first = {(uint32_t)s->epfd, (uint32_t)tfd, 0};
    struct kcmp_epoll_slot second = {(uint32_t)s->epfd, (uint32_t)tfd, 1};
    long same =
        sys_kcmp(s->pid, s->pid, CK_KCMP_EPOLL_TFD, (unsigned long)tfd, (unsigned long)&first);
    long other =
        sys_kcmp(s->pid, s->pid, CK_KCMP_EPOLL_TFD, (unsigned long)tfd, (unsigned long)&second);
    if (same == 0 && other == -ENOENT)
        return 0;
    if (same == -ENOSYS || same == -EPERM || same == -EACCES)
        return ck_fail(s->err, (int)same,
                       "descriptor %d (epoll): cannot tell which file its entry for descriptor "
                       "%d watches (kcmp: %s)",
                       s->epfd, tfd, ck_strerror((int)-same));
    return ck_fail(s->err, -1,
                   "descriptor %d (epoll) watches a file added as descriptor %d, which that "
                   "number no longer names (closed or reused): it cannot be restored",
                   s->epfd, tfd);
}

static int epoll_line(void *ctx, const char *text)
{
    struct epoll_save *s = ctx;
    if (!ck_starts_with(text, "tfd:"))
        return 0;
    const char *p = fd_event_skip_blanks(text + 4);
    int tfd = (int)ck_parse_uint(&p, 10);
    p = fd_event_skip_blanks(p);
    if (!ck_starts_with(p, "events:"))
        return ck_fail(s->err, -1, "descriptor %d (epoll): unexpected fdinfo line '%s'", s->epfd,
                       text);
    p = fd_event_skip_blanks(p + 7);
    uint32_t events = (uint32_t)ck_parse_uint(&p, 16);
    p = fd_event_skip_blanks(p);
    if (!ck_starts_with(p, "data:"))
        return ck_fail(s->err, -1, "descriptor %d (epoll): unexpected fdinfo line '%s'", s->epfd,
                       text);
    p = fd_event_skip_blanks(p + 5);
    uint64_t data = ck_parse_uint(&p, 16);
    if (check_entry(s, tfd))
        return -1;
    struct ckpt_epoll_target_record *t =
        fd_event_record(s->c, CKPT_REC_EPOLL_TARGET, sizeof *t, s->f, s->epfd, s->err);
    if (!t)
        return -1;
    t->fd = tfd;
    t->events = events;
    t->data = data;
    return 0;
}

static int epoll_save(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                      struct ck_error *err)
{
    struct epoll_save s = {c, f, fd, (int)sys_getpid(), err};
    err->msg[0] = 0;
    int rc = fd_event_each_fdinfo_line(fd, epoll_line, &s);
    if (rc < 0 && !err->msg[0]) /* fdinfo could not be read (a line's refusal says why) */
        return ck_fail(err, rc, "descriptor %d (epoll): reading its interest list: %s", fd,
                       ck_strerror(-rc));
    return rc;
}

/* ======================================================================================
 * check side: restore-run phase 1
 * ====================================================================================== */

/* The plan of descriptor number fd, or NULL (p->fds ascend by number). */
static const struct fd_plan *plan_of(const struct restore_plan *p, int32_t fd)
{
    uint32_t lo = 0, hi = p->nfds;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (p->fds[mid].rec->fd == fd)
            return &p->fds[mid];
        if (p->fds[mid].rec->fd < fd)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* The descriptor restore-run holds now for what will be the program's number fd: -1 if it
 * will be closed. */
static int held_for(const struct restore_plan *p, int32_t fd)
{
    const struct fd_plan *t = plan_of(p, fd);
    if (t && t->shares_with >= 0)
        t = plan_of(p, t->shares_with);
    if (!t)
        return -1;
    if (t->inherit)
        return fds_had_at_startup(p, t->rec->fd) ? t->rec->fd : -1;
    return t->temp_fd;
}

static const struct ckpt_epoll_target_record *next_target(const struct restore_plan *p,
                                                          const struct ckpt_record_head *r)
{
    return (const void *)image_next(&p->view, r);
}

/* The entries name descriptors of the image, each once, never the epoll itself. */
static int check_targets(const struct restore_plan *p, const struct fd_plan *fp,
                         struct ck_error *err)
{
    const struct ckpt_epoll_target_record *t = (const void *)fp->detail;
    for (uint32_t i = 0; i < fp->ndetail; i++, t = next_target(p, &t->head)) {
        const struct fd_plan *target = plan_of(p, t->fd);
        if (!target || target->file == fp->file)
            return ck_fail(err, -1, "descriptor %d (epoll) watches descriptor %d, which %s",
                           fp->rec->fd, t->fd, target ? "is itself" : "the image does not have");
        const struct ckpt_epoll_target_record *u = (const void *)fp->detail;
        for (uint32_t j = 0; j < i; j++, u = next_target(p, &u->head))
            if (u->fd == t->fd)
                return ck_fail(err, -1, "descriptor %d (epoll) watches descriptor %d twice",
                               fp->rec->fd, t->fd);
    }
    return 0;
}

static int epoll_plan(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    if (fp->ndetail && check_targets(p, fp, err))
        return -1;
    return fd_event_keep(p, fp, sys_epoll_create1(O_CLOEXEC), "its epoll", err);
}

/* Once every descriptor is planned: each entry added to a scratch epoll with the
 * descriptor restore-run holds for its target, so that the kernel's refusal (a target that
 * cannot be polled, such as a regular file restore-run was given as the program's stdin;
 * events it does not accept) comes now, not in the restore core. */
static int epoll_check_all(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    if (fp->shares_with >= 0 || !fp->ndetail)
        return 0;
    long scratch = sys_epoll_create1(O_CLOEXEC);
    if (scratch < 0)
        return ck_fail(err, (int)scratch, "epoll_create1: %s", ck_strerror((int)-scratch));
    const struct ckpt_epoll_target_record *t = (const void *)fp->detail;
    int rc = 0;
    for (uint32_t i = 0; i < fp->ndetail && !rc; i++, t = next_target(p, &t->head)) {
        int held = held_for(p, t->fd);
        struct ck_epoll_event ev = {t->events, t->data};
        long r = held < 0 ? -EBADF : sys_epoll_ctl((int)scratch, CK_EPOLL_CTL_ADD, held, &ev);
        if (r < 0 && r != -EEXIST) /* EEXIST: two numbers of one file, held once */
            rc = ck_fail(err, -1,
                         "descriptor %d (epoll) watches descriptor %d (events %x), which cannot "
                         "be watched again: %s",
                         fp->rec->fd, t->fd, t->events,
                         held < 0 ? "it stays closed" : ck_strerror((int)-r));
    }
    sys_close((int)scratch);
    return rc;
}

/* ======================================================================================
 * restore side: the restore core, once every descriptor is on its number
 * ====================================================================================== */

void fd_restore_EPOLL(const struct restore_plan *p, const struct fd_plan *fp)
{
    if (fp->shares_with >= 0) /* the entries belong to the open file description */
        return;
    const struct ckpt_epoll_target_record *t = (const void *)fp->detail;
    for (uint32_t i = 0; i < fp->ndetail; i++, t = next_target(p, &t->head)) {
        struct ck_epoll_event ev = {t->events, t->data};
        long r = sys_epoll_ctl(fp->rec->fd, CK_EPOLL_CTL_ADD, t->fd, &ev);
        if (r < 0)
            core_die(p, "descriptor %d (epoll): adding descriptor %d again: %s", fp->rec->fd, t->fd,
                     ck_strerror((int)-r));
    }
}

const struct fd_kind_ops fd_ops_EPOLL = {
    .kind = CKPT_FD_EPOLL,
    .name = "epoll",
    .save = epoll_save,
    .plan = epoll_plan,
    .check_all = epoll_check_all,
};
