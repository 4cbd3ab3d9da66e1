/* Helpers of the event-loop descriptor kinds; see fd_event.h. */
#include "fd_event.h"

#include <asm/errno.h>

uint32_t fd_event_kind_of_path(const char *path)
{
    if (ck_streq(path, "anon_inode:[eventfd]"))
        return CKPT_FD_EVENTFD;
    if (ck_streq(path, "anon_inode:[timerfd]"))
        return CKPT_FD_TIMERFD;
    if (ck_streq(path, "anon_inode:[signalfd]"))
        return CKPT_FD_SIGNALFD;
    if (ck_streq(path, "anon_inode:[eventpoll]"))
        return CKPT_FD_EPOLL;
    if (ck_streq(path, "anon_inode:inotify"))
        return CKPT_FD_INOTIFY;
    return 0;
}

const char *fd_event_skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* An epoll's fdinfo has a line per entry, so it is read in pieces: a line is at most a
 * hundred bytes, the buffer holds many. */
#define FDINFO_CHUNK 4096

static int lines_of_chunk(char *buf, size_t *len, int (*line)(void *, const char *), void *ctx)
{
    size_t start = 0;
    for (size_t i = 0; i < *len; i++) {
        if (buf[i] != '\n')
            continue;
        buf[i] = 0;
        int rc = line(ctx, buf + start);
        if (rc)
            return rc;
        start = i + 1;
    }
    for (size_t i = start; i < *len; i++) /* the unfinished line to the front */
        buf[i - start] = buf[i];
    *len -= start;
    return 0;
}

int fd_event_each_fdinfo_line(int fd, int (*line)(void *ctx, const char *text), void *ctx)
{
    char path[40], buf[FDINFO_CHUNK + 1];
    ck_format(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    long in = sys_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    if (in < 0)
        return (int)in;
    size_t len = 0;
    int rc = 0;
    for (;;) {
        long n = sys_read((int)in, buf + len, FDINFO_CHUNK - len);
        if (n == -EINTR)
            continue;
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        len += (size_t)n;
        if ((rc = lines_of_chunk(buf, &len, line, ctx)))
            break;
        if (len == FDINFO_CHUNK) { /* a line longer than the kernel writes */
            rc = -EFBIG;
            break;
        }
    }
    if (!rc && len) { /* a last line without its newline */
        buf[len] = 0;
        rc = line(ctx, buf);
    }
    sys_close((int)in);
    return rc;
}

struct value_query {
    const char *key;
    unsigned base;
    uint64_t value;
};

static int match_key(void *ctx, const char *text)
{
    struct value_query *q = ctx;
    if (!ck_starts_with(text, q->key))
        return 0;
    const char *p = fd_event_skip_blanks(text + ck_strlen(q->key));
    q->value = ck_parse_uint(&p, q->base);
    return 1;
}

int fd_event_fdinfo_value(int fd, const char *key, unsigned base, uint64_t *out)
{
    struct value_query q = {key, base, 0};
    int rc = fd_event_each_fdinfo_line(fd, match_key, &q);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return -ENOENT;
    *out = q.value;
    return 0;
}

/* Each of these records names its FILE right after its head. */
#define FILE_ID_AT sizeof(struct ckpt_record_head)
_Static_assert(offsetof(struct ckpt_eventfd_record, file) == FILE_ID_AT, "eventfd file");
_Static_assert(offsetof(struct ckpt_timerfd_record, file) == FILE_ID_AT, "timerfd file");
_Static_assert(offsetof(struct ckpt_signalfd_record, file) == FILE_ID_AT, "signalfd file");
_Static_assert(offsetof(struct ckpt_epoll_target_record, file) == FILE_ID_AT, "epoll file");

void *fd_event_record(struct fd_save_ctx *c, uint32_t rec_kind, uint32_t size,
                      const struct ckpt_file_record *f, int fd, struct ck_error *err)
{
    (void)fd;
    char *rec = iw_record(c->w, rec_kind, size, 0);
    if (!rec) {
        ck_fail(err, c->w->error, "image metadata: %s", ck_strerror(-c->w->error));
        return 0;
    }
    ck_memcpy(rec + FILE_ID_AT, &f->head.id, sizeof f->head.id);
    return rec;
}

const void *fd_event_detail(const struct fd_plan *fp, uint32_t rec_kind, const char *what,
                            struct ck_error *err)
{
    if (!fp->detail || fp->detail->kind != rec_kind) {
        ck_fail(err, -1, "descriptor %d is %s without its %s record", fp->rec->fd, what,
                ckpt_record_name(rec_kind));
        return 0;
    }
    return fp->detail;
}

int fd_event_keep(struct restore_plan *p, struct fd_plan *fp, long made, const char *what,
                  struct ck_error *err)
{
    if (made < 0)
        return ck_fail(err, (int)made, "descriptor %d: making %s again: %s", fp->rec->fd, what,
                       ck_strerror((int)-made));
    long fd = fds_keep_high(p, made);
    if (fd < 0)
        return ck_fail(err, (int)fd, "descriptor %d: %s", fp->rec->fd, ck_strerror((int)-fd));
    fp->temp_fd = (int)fd;
    long r = sys_fcntl((int)fd, F_SETFL, (long)(fp->file->flags & O_NONBLOCK));
    if (r < 0)
        return ck_fail(err, (int)r, "descriptor %d: setting its flags: %s", fp->rec->fd,
                       ck_strerror((int)-r));
    return 0;
}
