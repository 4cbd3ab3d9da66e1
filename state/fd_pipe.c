/* Pipes (CKPT_FD_PIPE), with the PIPE object and the PIPE_END record that follow the FILE
 * record of each end.
 *
 * A pipe the program made (pipe, pipe2, or any anonymous pipe found with both ends in the
 * process) comes back as a new pipe of the same capacity holding the bytes that were
 * buffered in it, each end with its file status flags (O_NONBLOCK, O_DIRECT) and its
 * descriptors, as they were. An end the process had closed stays closed: a reader sees the
 * data and then end of file, a writer gets EPIPE (and SIGPIPE).
 *
 * A pipe with one end in the process: if the other end is closed (poll says POLLHUP to a
 * read end without writers, POLLERR to a write end without readers), it is restored so;
 * if another process holds it, a pipe of the program's environment (0, 1, 2 or inherited)
 * is taken from restore-run as before, and any other is refused at checkpoint.
 *
 * Named FIFOs keep the environment's rule: only 0, 1, 2 or inherited. */
#include "fd_kind.h"
#include "hash.h"

#include <asm/errno.h>
#include <asm/unistd.h>
#include <linux/mman.h>

#define CK_FIONREAD 0x541b
#define CK_F_SETPIPE_SZ 1031
#define CK_F_GETPIPE_SZ 1032
#define CK_SPLICE_F_NONBLOCK 2
#define CK_POLLERR 0x0008
#define CK_POLLHUP 0x0010
#define CK_KCMP_FILE 0

/* Flags of an end carried to the new pipe: blocking and packet mode. */
#define PIPE_END_FLAGS (O_NONBLOCK | O_DIRECT)

struct ck_pollfd {
    int fd;
    short events, revents;
};

static long sys_pipe2(int fds[2], int flags)
{
    return sys_call2(__NR_pipe2, SYS_L(fds), flags);
}

static long sys_tee(int in, int out, size_t len, unsigned flags)
{
    return sys_call4(__NR_tee, in, out, SYS_L(len), flags);
}

/* poll without waiting: the events of fd now. */
static short poll_now(int fd)
{
    struct ck_pollfd p = {.fd = fd};
    long ts[2] = {0, 0};
    long r = sys_call5(__NR_ppoll, SYS_L(&p), 1, SYS_L(ts), 0, 8);
    return r < 0 ? 0 : p.revents;
}

/* An anonymous pipe (made by pipe(2)), not a named FIFO. */
static int is_anonymous(const char *path)
{
    return ck_starts_with(path, "pipe:[");
}

static uint32_t end_of_flags(uint32_t flags)
{
    return (flags & O_ACCMODE) == O_WRONLY ? CKPT_PIPE_END_WRITE : CKPT_PIPE_END_READ;
}

static const char *end_name(uint32_t end)
{
    return end == CKPT_PIPE_END_WRITE ? "write" : "read";
}

/* ======================================================================================
 * save side: runs in the checkpoint signal handler, raw syscalls only
 * ====================================================================================== */

/* The other end of the pipe whose end f is at descriptor fd: the lowest descriptor of the
 * process open on the same pipe with the other access mode, or -1 (*error: -1 if a second
 * open file description of the same end exists, made by opening /proc/self/fd/N: one
 * pipe end per end is what restore makes). */
static long other_end(const struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                      int *error)
{
    int pid = (int)sys_getpid();
    long found = -1;
    for (size_t j = 0; j < c->nslots; j++) {
        int other = c->slots[j].fd;
        struct kstat st;
        if (other == fd || sys_fstat(other, &st) < 0 || !CK_S_IS(st.st_mode, CK_S_IFIFO) ||
            st.st_ino != f->file.ino || st.st_dev != f->file.dev)
            continue;
        long flags = sys_fcntl(other, F_GETFL, 0);
        if (flags >= 0 && end_of_flags((uint32_t)flags) != end_of_flags(f->flags)) {
            if (found < 0)
                found = (long)j;
        } else if (sys_kcmp(pid, pid, CK_KCMP_FILE, (unsigned long)fd, (unsigned long)other)) {
            *error = -1;
        }
    }
    return found;
}

/* The PIPE record written after the FILE record of the pipe's first end. */
static const struct ckpt_pipe_record *pipe_after(const struct image_writer *w,
                                                 const struct ckpt_file_record *first)
{
    return (const void *)fds_written_after(w, first, CKPT_REC_PIPE);
}

/* Copies the bytes buffered in the pipe of read end fd into buf without consuming them:
 * tee(2) duplicates them into a scratch pipe of the same capacity (so every buffer fits),
 * from which they are read. */
static int peek_pipe(int fd, uint32_t size, char *buf, uint64_t bytes, struct ck_error *err)
{
    int scratch[2];
    long r = sys_pipe2(scratch, O_CLOEXEC | O_NONBLOCK);
    if (r < 0)
        return ck_fail(err, (int)r, "descriptor %d (pipe): a scratch pipe: %s", fd,
                       ck_strerror((int)-r));
    r = sys_fcntl(scratch[1], CK_F_SETPIPE_SZ, size);
    if (r >= 0)
        r = sys_tee(fd, scratch[1], bytes, CK_SPLICE_F_NONBLOCK);
    uint64_t got = 0;
    while (r >= 0 && (uint64_t)r == bytes && got < bytes) {
        long n = sys_read(scratch[0], buf + got, bytes - got);
        if (n <= 0)
            break;
        got += (uint64_t)n;
    }
    sys_close(scratch[0]);
    sys_close(scratch[1]);
    if (r < 0)
        return ck_fail(err, (int)r, "descriptor %d (pipe): copying its %lu buffered bytes: %s", fd,
                       (unsigned long)bytes, ck_strerror((int)-r));
    if (got != bytes)
        return ck_fail(err, -1, "descriptor %d (pipe): copied %lu of its %lu buffered bytes", fd,
                       (unsigned long)got, (unsigned long)bytes);
    return 0;
}

/* The PIPE record of the pipe whose first end is fd (f), with the bytes buffered in it. */
static int save_pipe(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f, uint32_t ends,
                     uint32_t id, struct ck_error *err)
{
    long size = sys_fcntl(fd, CK_F_GETPIPE_SZ, 0);
    int queued = 0;
    if (size < 0)
        return ck_fail(err, (int)size, "descriptor %d (%s): its capacity: %s", fd, f->path,
                       ck_strerror((int)-size));
    int readable = (ends & CKPT_PIPE_READ_END) != 0;
    int reader = fd;
    if (readable && end_of_flags(f->flags) != CKPT_PIPE_END_READ)
        reader = c->slots[c->other].fd;
    if (readable && sys_ioctl(reader, CK_FIONREAD, &queued) < 0)
        return ck_fail(err, -1, "descriptor %d (%s): its buffered bytes cannot be counted", fd,
                       f->path);
    uint64_t bytes = queued > 0 ? (uint64_t)queued : 0, length = CK_PAGE_UP(bytes);
    if (bytes && (f->flags & O_DIRECT))
        return ck_fail(err, -1,
                       "descriptor %d (%s) is a pipe in packet mode (O_DIRECT) holding %lu "
                       "bytes: its packet boundaries cannot be saved",
                       fd, f->path, (unsigned long)bytes);
    struct ckpt_pipe_record *q = iw_record(c->w, CKPT_REC_PIPE, sizeof *q, 0);
    if (!q)
        return ck_fail(err, c->w->error, "image metadata: %s", ck_strerror(-c->w->error));
    q->head.id = id;
    q->size = (uint32_t)size;
    q->ends = ends;
    q->bytes = bytes;
    if (!bytes) {
        iw_extent(c->w, &q->extent, "", 0);
        return 0;
    }
    char *buf = sys_mmap(0, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (sys_mmap_failed(buf))
        return ck_fail(err, -1, "descriptor %d (%s): room for %lu buffered bytes: %s", fd, f->path,
                       (unsigned long)bytes, ck_strerror(-(int)(long)buf));
    int rc = peek_pipe(reader, (uint32_t)size, buf, bytes, err);
    if (rc == 0)
        iw_extent(c->w, &q->extent, buf, length);
    sys_munmap(buf, length);
    if (rc == 0 && c->w->error)
        return ck_fail(err, c->w->error, "the %lu bytes buffered in %s: %s", (unsigned long)bytes,
                       f->path, ck_strerror(-c->w->error));
    return rc;
}

static int save_pipe_end(struct image_writer *w, const struct ckpt_file_record *f, uint32_t pipe,
                         struct ck_error *err)
{
    struct ckpt_pipe_end_record *e = iw_record(w, CKPT_REC_PIPE_END, sizeof *e, 0);
    if (!e)
        return ck_fail(err, w->error, "image metadata: %s", ck_strerror(-w->error));
    e->file = f->head.id;
    e->pipe = pipe;
    e->end = end_of_flags(f->flags);
    return 0;
}

/* Is the other end of the pipe closed? A read end without writers polls POLLHUP, a write
 * end without readers POLLERR; while another process holds it, neither. */
static int other_end_closed(int fd, const struct ckpt_file_record *f)
{
    short ev = poll_now(fd);
    return end_of_flags(f->flags) == CKPT_PIPE_END_READ ? (ev & CK_POLLHUP) != 0
                                                        : (ev & CK_POLLERR) != 0;
}

static int pipe_save(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                     struct ck_error *err)
{
    uint32_t origin = c->slots[c->done].origin; /* the slot being saved */
    uint32_t mine =
        end_of_flags(f->flags) == CKPT_PIPE_END_READ ? CKPT_PIPE_READ_END : CKPT_PIPE_WRITE_END;
    int reopened = 0;
    long other = is_anonymous(f->path) && (f->flags & O_ACCMODE) != O_RDWR
                     ? other_end(c, fd, f, &reopened)
                     : -1;
    if (reopened)
        return ck_fail(err, -1,
                       "descriptor %d (%s): the %s end of this pipe is open twice (reopened "
                       "through /proc): ckpt restores one open file per end",
                       fd, f->path, end_name(end_of_flags(f->flags)));
    if (other >= 0 && (size_t)other < c->done) { /* its first end was saved: the PIPE is there */
        const struct ckpt_pipe_record *q = pipe_after(c->w, c->slots[other].rec);
        if (!q)
            return ck_fail(err, -1, "descriptor %d (%s): its other end %d has no pipe record", fd,
                           f->path, c->slots[other].fd);
        return save_pipe_end(c->w, f, q->head.id, err);
    }
    uint32_t ends = mine;
    if (other >= 0) {
        ends = CKPT_PIPE_READ_END | CKPT_PIPE_WRITE_END;
        c->other = (size_t)other;
    } else if (fds_from_environment(fd, CKPT_FD_PIPE, origin)) {
        return 0; /* taken from restore-run: no records */
    } else if (!is_anonymous(f->path) || (f->flags & O_ACCMODE) == O_RDWR) {
        return ck_fail(err, -1,
                       "descriptor %d is a FIFO (%s) the program opened; FIFOs cannot be "
                       "restored yet",
                       fd, f->path);
    } else if (!other_end_closed(fd, f)) {
        return ck_fail(err, -1,
                       "descriptor %d is the %s end of a pipe (%s) whose other end another "
                       "process holds; ckpt restores pipes with all their open ends in the "
                       "process",
                       fd, end_name(end_of_flags(f->flags)), f->path);
    }
    uint32_t id = ++c->npipes;
    if (save_pipe(c, fd, f, ends, id, err))
        return -1;
    return save_pipe_end(c->w, f, id, err);
}

/* ======================================================================================
 * check side: restore-run phase 1
 * ====================================================================================== */

/* The PIPE_END record after FILE f, or NULL: a pipe of the environment. */
static const struct ckpt_pipe_end_record *pipe_end_of(const struct restore_plan *p,
                                                      const struct ckpt_file_record *f)
{
    return (const void *)fds_detail_of(p, f, CKPT_REC_PIPE, CKPT_REC_PIPE_END);
}

static const struct ckpt_pipe_record *pipe_with_id(const struct restore_plan *p, uint32_t id)
{
    return (const void *)fds_object_with_id(p, CKPT_REC_PIPE, id);
}

/* A pipe end is made again, never taken from restore-run, whatever its number. */
static void pipe_prepare(const struct restore_plan *p, struct fd_plan *fp)
{
    if (pipe_end_of(p, fp->file))
        fp->inherit = 0;
}

/* The fd_plans that install the pipe's ends (by CKPT_PIPE_END_*): the lowest descriptor of
 * each end's FILE. The image must hold exactly the ends its PIPE record lists. */
static int find_ends(struct restore_plan *p, const struct ckpt_pipe_record *q,
                     struct fd_plan *ends[2], struct ck_error *err)
{
    ends[0] = ends[1] = 0;
    for (uint32_t i = 0; i < p->nfds; i++) {
        struct fd_plan *fp = &p->fds[i];
        const struct ckpt_pipe_end_record *e;
        if (fp->shares_with >= 0 || fp->file->kind != CKPT_FD_PIPE ||
            !(e = pipe_end_of(p, fp->file)) || e->pipe != q->head.id)
            continue;
        if (ends[e->end])
            return ck_fail(err, -1, "pipe %u has two %s ends (descriptors %d and %d)", q->head.id,
                           end_name(e->end), ends[e->end]->rec->fd, fp->rec->fd);
        ends[e->end] = fp;
    }
    static const uint32_t bit[2] = {CKPT_PIPE_READ_END, CKPT_PIPE_WRITE_END};
    for (uint32_t end = 0; end < 2; end++)
        if (!ends[end] != !(q->ends & bit[end]))
            return ck_fail(err, -1, "pipe %u: the image %s its %s end", q->head.id,
                           ends[end] ? "has a descriptor of" : "lists no descriptor of",
                           end_name(end));
    return 0;
}

/* The new pipe holds the bytes it held: written before any end is handed out, while the
 * pipe is empty and at least as large as they are. */
static int fill_pipe(const struct restore_plan *p, const struct ckpt_pipe_record *q, int wfd,
                     int fd, struct ck_error *err)
{
    const unsigned char *data = p->view.base + q->extent.file_offset;
    if (ck_hash64(data, q->extent.length) != q->extent.checksum)
        return ck_fail(err, -1,
                       "checksum mismatch in the bytes buffered in the pipe of descriptor %d "
                       "(corrupted image)",
                       fd);
    for (uint64_t done = 0; done < q->bytes;) {
        long n = sys_write(wfd, data + done, q->bytes - done);
        if (n <= 0)
            return ck_fail(err, -1, "descriptor %d: writing the %lu bytes its pipe held: %s", fd,
                           (unsigned long)q->bytes, ck_strerror(n < 0 ? (int)-n : EIO));
        done += (uint64_t)n;
    }
    return 0;
}

/* Phase 1: the first end planned makes the pipe, fills it and hands both ends to their
 * descriptors (at high numbers, like reopened files); an end the process had closed is
 * closed now, after the data went in. */
static int pipe_plan(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    const struct ckpt_pipe_end_record *e = pipe_end_of(p, fp->file);
    if (!e)
        return ck_fail(err, -1,
                       "descriptor %d is a pipe of the program's environment, but not one "
                       "restore-run can give it",
                       fp->rec->fd);
    if (fp->temp_fd >= 0)
        return 0; /* made with its other end */
    const struct ckpt_pipe_record *q = pipe_with_id(p, e->pipe);
    struct fd_plan *ends[2];
    if (!q)
        return ck_fail(err, -1, "descriptor %d: pipe %u is missing", fp->rec->fd, e->pipe);
    if (find_ends(p, q, ends, err))
        return -1;
    int fds[2];
    long r = sys_pipe2(fds, O_CLOEXEC);
    if (r < 0)
        return ck_fail(err, -1, "descriptor %d: making its pipe: %s", fp->rec->fd,
                       ck_strerror((int)-r));
    r = sys_fcntl(fds[1], CK_F_SETPIPE_SZ, q->size);
    if (r < 0 || fill_pipe(p, q, fds[1], fp->rec->fd, err)) {
        sys_close(fds[0]);
        sys_close(fds[1]);
        return r < 0 ? ck_fail(err, -1, "descriptor %d: giving its pipe %u bytes as it had: %s",
                               fp->rec->fd, q->size, ck_strerror((int)-r))
                     : -1;
    }
    for (uint32_t end = 0; end < 2; end++) {
        if (!ends[end]) {
            sys_close(fds[end]);
            continue;
        }
        sys_fcntl(fds[end], F_SETFL, ends[end]->file->flags & PIPE_END_FLAGS);
        ends[end]->temp_fd = (int)fds_keep_high(p, fds[end]);
        if (ends[end]->temp_fd < 0)
            return ck_fail(err, -1, "descriptor %d: moving its pipe end: %s", ends[end]->rec->fd,
                           ck_strerror(-ends[end]->temp_fd));
    }
    return 0;
}

/* The restore core has nothing more to do: the descriptor is on its number. */
FD_NOTHING_TO_RESTORE(PIPE)

const struct fd_kind_ops fd_ops_PIPE = {
    .kind = CKPT_FD_PIPE,
    .name = "pipe",
    .environment = 1,
    .save = pipe_save,
    .prepare = pipe_prepare,
    .plan = pipe_plan,
};
