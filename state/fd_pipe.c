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
 * A FIFO the program opened by its path (mkfifo and open of both ends, or O_RDWR) is one
 * more pipe with a FIFO record: restored when the process holds a read and a write end of
 * it (else another process may hold the missing one: refused at checkpoint, naming it), by
 * opening it again at its path, the very FIFO, never blocking. Each open of it is an end
 * (PIPE_END), however many. A FIFO of the program's environment (0, 1, 2, inherited) is
 * taken from restore-run as before. */
#include "fd_kind.h"
#include "image_check.h"
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
    uint32_t mode = flags & O_ACCMODE;
    return mode == O_WRONLY ? CKPT_PIPE_END_WRITE
           : mode == O_RDWR ? CKPT_PIPE_END_BOTH
                            : CKPT_PIPE_END_READ;
}

static int writes_only(uint32_t flags)
{
    return (flags & O_ACCMODE) == O_WRONLY;
}

static const char *end_name(uint32_t end)
{
    return end == CKPT_PIPE_END_WRITE ? "write" : end == CKPT_PIPE_END_BOTH ? "read-write" : "read";
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
        if (flags >= 0 && writes_only((uint32_t)flags) != writes_only(f->flags)) {
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

/* The PIPE record of the pipe whose first end is fd (f), with the bytes buffered in it,
 * read through descriptor reader (-1: the pipe has no read end in the process). */
static int save_pipe(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f, uint32_t ends,
                     uint32_t id, int reader, struct ck_error *err)
{
    long size = sys_fcntl(fd, CK_F_GETPIPE_SZ, 0);
    int queued = 0;
    if (size < 0)
        return ck_fail(err, (int)size, "descriptor %d (%s): its capacity: %s", fd, f->path,
                       ck_strerror((int)-size));
    int readable = reader >= 0;
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

/* The program's own open ends of the FIFO f (those of the environment left out): the slot
 * of its lowest descriptor, a descriptor that reads it (-1: none) and whether one writes. */
struct fifo_ends {
    long first;
    int reader;
    int writes;
};

static void fifo_ends_in_process(const struct fd_save_ctx *c, const struct ckpt_file_record *f,
                                 struct fifo_ends *e)
{
    e->first = -1;
    e->reader = -1;
    e->writes = 0;
    for (size_t j = 0; j < c->nslots; j++) {
        struct kstat st;
        int fd = c->slots[j].fd;
        if (sys_fstat(fd, &st) < 0 || !CK_S_IS(st.st_mode, CK_S_IFIFO) ||
            st.st_ino != f->file.ino || st.st_dev != f->file.dev)
            continue;
        long flags = sys_fcntl(fd, F_GETFL, 0);
        /* An open of the environment's (restore-run's at restore) is not the program's. */
        if (flags < 0 || fds_from_environment(fd, CKPT_FD_PIPE, c->slots[j].origin))
            continue;
        if (e->first < 0)
            e->first = (long)j;
        if (!writes_only((uint32_t)flags) && e->reader < 0)
            e->reader = fd;
        if (((uint32_t)flags & O_ACCMODE) != O_RDONLY)
            e->writes = 1;
    }
}

/* The FIFO's path still names it (not renamed or removed since it was opened), without a
 * symbolic link: restore opens it there again. */
static int fifo_named_by_path(const struct ckpt_file_record *f)
{
    long at = identity_open_path(f->path);
    struct kstat st;
    if (at < 0)
        return 0;
    long r = sys_fstat((int)at, &st);
    sys_close((int)at);
    return r == 0 && CK_S_IS(st.st_mode, CK_S_IFIFO) && st.st_dev == f->file.dev &&
           st.st_ino == f->file.ino;
}

static int save_fifo_record(struct image_writer *w, int fd, uint32_t pipe, struct ck_error *err)
{
    struct kstat st;
    long r = sys_fstat(fd, &st);
    if (r < 0)
        return ck_fail(err, (int)r, "descriptor %d (FIFO): fstat: %s", fd, ck_strerror((int)-r));
    struct ckpt_fifo_record *q = iw_record(w, CKPT_REC_FIFO, sizeof *q, 0);
    if (!q)
        return ck_fail(err, w->error, "image metadata: %s", ck_strerror(-w->error));
    q->pipe = pipe;
    q->uid = st.st_uid;
    q->gid = st.st_gid;
    q->mode = st.st_mode;
    return 0;
}

/* A FIFO the program opened: its first end saved writes PIPE, PIPE_END and FIFO, every
 * other open of it a PIPE_END. Whether another process holds an end cannot be seen while
 * the process holds both (a reader sees the writers only as "some"), so the rule is: both
 * a read and a write end in the process, else refused. */
static int fifo_save(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                     struct ck_error *err)
{
    struct fifo_ends e;
    fifo_ends_in_process(c, f, &e);
    if (e.first >= 0 && (size_t)e.first < c->done) {
        const struct ckpt_pipe_record *q = pipe_after(c->w, c->slots[e.first].rec);
        if (!q)
            return ck_fail(err, -1, "descriptor %d (FIFO %s): its first end %d has no pipe record",
                           fd, f->path, c->slots[e.first].fd);
        return save_pipe_end(c->w, f, q->head.id, err);
    }
    if (e.reader < 0 || !e.writes)
        return ck_fail(err, -1,
                       "descriptor %d is a FIFO (%s) the program opened, with no %s end of it "
                       "in the process: another process may hold that end; ckpt restores a "
                       "FIFO only with all its open ends in the process",
                       fd, f->path, e.reader < 0 ? "read" : "write");
    if (!fifo_named_by_path(f))
        return ck_fail(err, -1,
                       "descriptor %d is a FIFO (%s) its name no longer leads to (renamed or "
                       "removed, or a symbolic link on the way): restore could not open it again",
                       fd, f->path);
    uint32_t id = ++c->npipes;
    if (save_pipe(c, fd, f, CKPT_PIPE_READ_END | CKPT_PIPE_WRITE_END, id, e.reader, err) ||
        save_pipe_end(c->w, f, id, err))
        return -1;
    return save_fifo_record(c->w, fd, id, err);
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
    } else if (!is_anonymous(f->path)) {
        return fifo_save(c, fd, f, err);
    } else if ((f->flags & O_ACCMODE) == O_RDWR) {
        return ck_fail(err, -1,
                       "descriptor %d (%s) is a pipe end opened for reading and writing "
                       "(through /proc): ckpt restores a pipe's read and write ends",
                       fd, f->path);
    } else if (!other_end_closed(fd, f)) {
        return ck_fail(err, -1,
                       "descriptor %d is the %s end of a pipe (%s) whose other end another "
                       "process holds; ckpt restores pipes with all their open ends in the "
                       "process",
                       fd, end_name(end_of_flags(f->flags)), f->path);
    }
    int reader = -1;
    if (ends & CKPT_PIPE_READ_END)
        reader = end_of_flags(f->flags) == CKPT_PIPE_END_READ ? fd : c->slots[c->other].fd;
    uint32_t id = ++c->npipes;
    if (save_pipe(c, fd, f, ends, id, reader, err))
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
        if (e->end > CKPT_PIPE_END_WRITE)
            return ck_fail(err, -1,
                           "pipe %u: descriptor %d is a read-write end, which only a "
                           "FIFO has",
                           q->head.id, fp->rec->fd);
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

/* ---- FIFOs ------------------------------------------------------------------------------- */

/* The FIFO record of pipe id, or NULL: a pipe the program made. */
static const struct ckpt_fifo_record *fifo_of(const struct restore_plan *p, uint32_t id)
{
    for (const struct ckpt_record_head *r = image_first(&p->view); r; r = image_next(&p->view, r))
        if (r->kind == CKPT_REC_FIFO && ((const struct ckpt_fifo_record *)r)->pipe == id)
            return (const void *)r;
    return 0;
}

/* fp is the lowest descriptor of one open of pipe id. */
static int is_end_of(const struct restore_plan *p, const struct fd_plan *fp, uint32_t id)
{
    const struct ckpt_pipe_end_record *e;
    return fp->shares_with < 0 && fp->file->kind == CKPT_FD_PIPE &&
           (e = pipe_end_of(p, fp->file)) && e->pipe == id;
}

/* The FIFO now at the path is the one recorded: device, inode, owner and mode. */
static int fifo_is_the_one(long fd, const struct ckpt_file_record *f,
                           const struct ckpt_fifo_record *fifo)
{
    struct kstat st;
    return sys_fstat((int)fd, &st) == 0 && st.st_mode == fifo->mode && st.st_uid == fifo->uid &&
           st.st_gid == fifo->gid && st.st_dev == f->file.dev && st.st_ino == f->file.ino;
}

/* Opens the FIFO of FILE f (descriptor fd) at its path for access mode, never blocking (no
 * symbolic link followed, nothing but a FIFO opened), and checks it is the very FIFO the
 * program had. Returns the descriptor, -ENXIO when nothing reads it (mode O_WRONLY), or -1
 * with err filled. */
static long open_fifo(const struct ckpt_file_record *f, const struct ckpt_fifo_record *fifo, int fd,
                      uint32_t mode, struct ck_error *err)
{
    struct identity_found now;
    long r = identity_open(f->path, (int)(mode | O_NONBLOCK), CK_S_IFIFO, &now);
    if (r == -ENXIO)
        return r;
    if (r == -ENOENT)
        return ck_fail(err, -1,
                       "the FIFO %s (descriptor %d) is gone: a FIFO made anew there would "
                       "connect the program to nothing that used the old one; refused",
                       f->path, fd);
    if (r < 0)
        return fds_refuse_open("the FIFO", f->path, fd, r, &now, CK_S_IFIFO, err);
    if (!fifo_is_the_one(r, f, fifo)) {
        sys_close((int)r);
        return ck_fail(err, -1,
                       "the FIFO %s (descriptor %d) is another file at its name now (not the "
                       "FIFO it had: device %lx, inode %lu, owner %u, its mode): refused",
                       f->path, fd, (unsigned long)f->file.dev, (unsigned long)f->file.ino,
                       fifo->uid);
    }
    return r;
}

/* Closes the ends of FIFO id opened so far (a later check refused the restore). */
static void close_fifo_ends(struct restore_plan *p, uint32_t id)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        struct fd_plan *fp = &p->fds[i];
        if (is_end_of(p, fp, id) && fp->temp_fd >= 0) {
            sys_close(fp->temp_fd);
            fp->temp_fd = -1;
        }
    }
}

/* Nobody else may hold the FIFO open: a reader of another process would take the program's
 * bytes (an open for writing succeeds only with a reader there); bytes already in it were
 * written by another process. A writer holding it without writing cannot be seen. */
static int fifo_held_elsewhere(const struct ckpt_file_record *f,
                               const struct ckpt_fifo_record *fifo, int fd, int reader,
                               struct ck_error *err)
{
    int queued = 0;
    if (reader < 0) {
        long w = open_fifo(f, fifo, fd, O_WRONLY, err);
        if (w == -ENXIO)
            return 0;
        if (w < 0)
            return -1;
        sys_close((int)w);
        return ck_fail(err, -1,
                       "the FIFO %s (descriptor %d) is open for reading in another process, "
                       "which would take the program's bytes: refused",
                       f->path, fd);
    }
    if (sys_ioctl(reader, CK_FIONREAD, &queued) < 0 || queued != 0)
        return ck_fail(err, -1,
                       "the FIFO %s (descriptor %d) holds %d bytes now: another process has "
                       "it open; refused",
                       f->path, fd, queued);
    return 0;
}

/* Opens every end of the FIFO: those that read first (O_RDONLY, O_RDWR: they never block),
 * then the write ends (a reader is there, so they open at once). Returns a descriptor that
 * writes it, or -1 with err filled. */
static int open_fifo_ends(struct restore_plan *p, const struct ckpt_fifo_record *fifo,
                          struct fd_plan *first, struct ck_error *err)
{
    int writer = -1, checked = 0;
    if (fifo_held_elsewhere(first->file, fifo, first->rec->fd, -1, err))
        return -1;
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < p->nfds; i++) {
            struct fd_plan *fp = &p->fds[i];
            if (!is_end_of(p, fp, fifo->pipe) || writes_only(fp->file->flags) != pass)
                continue;
            uint32_t mode = fp->file->flags & O_ACCMODE;
            long fd = open_fifo(fp->file, fifo, fp->rec->fd, mode, err);
            if (fd == -ENXIO)
                return ck_fail(err, -1, "the FIFO %s (descriptor %d): no reader", fp->file->path,
                               fp->rec->fd);
            long high = fds_keep_high(p, fd);
            fp->temp_fd = high < 0 ? -1 : (int)high;
            if (high < 0)
                return fd < 0 ? -1
                              : ck_fail(err, -1, "descriptor %d: moving its FIFO end: %s",
                                        fp->rec->fd, ck_strerror((int)-high));
            if (!pass && writer < 0 && mode == O_RDWR)
                writer = fp->temp_fd;
            if (pass && writer < 0)
                writer = fp->temp_fd;
            if (!pass && !checked++ &&
                fifo_held_elsewhere(fp->file, fifo, fp->rec->fd, fp->temp_fd, err))
                return -1;
        }
    return writer;
}

/* Phase 1, a FIFO the program opened: every end opened again at its path, the FIFO given
 * its size and bytes, each end its flags. On a refusal the ends opened are closed: opening
 * a FIFO changes no file. */
static int fifo_plan(struct restore_plan *p, const struct ckpt_pipe_record *q,
                     const struct ckpt_fifo_record *fifo, struct ck_error *err)
{
    struct fd_plan *first = 0;
    for (uint32_t i = 0; i < p->nfds && !first; i++)
        if (is_end_of(p, &p->fds[i], q->head.id))
            first = &p->fds[i];
    if (!first)
        return ck_fail(err, -1, "FIFO of pipe %u: no descriptor", q->head.id);
    int writer = open_fifo_ends(p, fifo, first, err);
    long r = writer < 0 ? -1 : sys_fcntl(writer, CK_F_SETPIPE_SZ, q->size);
    if (writer >= 0 && r < 0)
        ck_fail(err, -1, "the FIFO %s (descriptor %d): giving it %u bytes as it had: %s",
                first->file->path, first->rec->fd, q->size, ck_strerror((int)-r));
    if (r < 0 || fill_pipe(p, q, writer, first->rec->fd, err)) {
        close_fifo_ends(p, q->head.id);
        return -1;
    }
    for (uint32_t i = 0; i < p->nfds; i++)
        if (is_end_of(p, &p->fds[i], q->head.id))
            sys_fcntl(p->fds[i].temp_fd, F_SETFL, p->fds[i].file->flags & PIPE_END_FLAGS);
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
    const struct ckpt_fifo_record *fifo = fifo_of(p, q->head.id);
    if (fifo)
        return fifo_plan(p, q, fifo, err);
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

/* ---- the validator's checks of PIPE and PIPE_END records (image_check.h) ----------------- */

/* Capacities Linux gives a pipe: a page at least, at most 2^31 bytes (F_SETPIPE_SZ). */
#define PIPE_SIZE_MIN CKPT_PAGE_SIZE
#define PIPE_SIZE_MAX (1u << 31)

/* A PIPE follows the FILE of its first end, before that end's PIPE_END. */
int check_pipe(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
               struct ck_error *err)
{
    (void)v;
    const struct ckpt_pipe_record *q = (const void *)r;
    const struct ckpt_file_record *f = w->file;
    if (!f || w->prev_kind != CKPT_REC_FILE || f->kind != CKPT_FD_PIPE ||
        (w->since_file & IMAGE_KIND_BIT(PIPE)))
        return ck_fail(err, -1, "pipe record %u without the file record of its first end", r->id);
    if (r->id == 0)
        return ck_fail(err, -1, "pipe record without an id");
    if (q->size < PIPE_SIZE_MIN || q->size > PIPE_SIZE_MAX || q->bytes > q->size)
        return ck_fail(err, -1, "pipe %u holds %lu bytes in a pipe of %u bytes", r->id,
                       (unsigned long)q->bytes, q->size);
    if (q->ends == 0 || (q->ends & ~(CKPT_PIPE_READ_END | CKPT_PIPE_WRITE_END)))
        return ck_fail(err, -1, "pipe %u has invalid ends %x", r->id, q->ends);
    if (q->bytes && !(q->ends & CKPT_PIPE_READ_END))
        return ck_fail(err, -1, "pipe %u holds bytes nobody can read (no read end)", r->id);
    if (q->extent.length != CK_PAGE_UP(q->bytes))
        return ck_fail(err, -1, "the data of pipe %u is %lu bytes long, it holds %lu", r->id,
                       (unsigned long)q->extent.length, (unsigned long)q->bytes);
    return 0;
}

/* A PIPE_END follows its FILE (and the PIPE it may introduce), names a PIPE before it, and
 * is the end the FILE's access mode says: a read end is O_RDONLY, a write end O_WRONLY. */
int check_pipe_end(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                   struct ck_error *err)
{
    (void)v;
    const struct ckpt_pipe_end_record *e = (const void *)r;
    const struct ckpt_file_record *f = image_file_before(w, e->file);
    int follows = w->prev_kind == CKPT_REC_FILE || w->prev_kind == CKPT_REC_PIPE;
    if (!f || !follows || f->kind != CKPT_FD_PIPE || (w->since_file & IMAGE_KIND_BIT(PIPE_END)))
        return ck_fail(err, -1, "pipe end record without its file record (file %u)", e->file);
    if (e->pipe < 1 || e->pipe > w->last_id[CKPT_RECI_PIPE])
        return ck_fail(err, -1, "file %u is an end of pipe %u, which is not before it", e->file,
                       e->pipe);
    static const uint32_t modes[] = {O_RDONLY, O_WRONLY, O_RDWR};
    if (e->end > CKPT_PIPE_END_BOTH || (f->flags & O_ACCMODE) != modes[e->end])
        return ck_fail(err, -1, "file %u (%s) is not the %s end of a pipe", e->file, f->path,
                       end_name(e->end));
    return 0;
}

/* A FIFO follows the PIPE_END of the first end of the pipe it names, the FILE of that end
 * (with the FIFO's absolute path) just before them. */
int check_fifo(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
               struct ck_error *err)
{
    (void)v;
    const struct ckpt_fifo_record *q = (const void *)r;
    const struct ckpt_file_record *f = w->file;
    if (!f || w->prev_kind != CKPT_REC_PIPE_END || !(w->since_file & IMAGE_KIND_BIT(PIPE)) ||
        (w->since_file & IMAGE_KIND_BIT(FIFO)))
        return ck_fail(err, -1, "FIFO record (pipe %u) without the first end of its pipe before it",
                       q->pipe);
    if (q->pipe == 0 || q->pipe != w->last_id[CKPT_RECI_PIPE])
        return ck_fail(err, -1, "FIFO record names pipe %u, not the pipe %u just before it",
                       q->pipe, w->last_id[CKPT_RECI_PIPE]);
    if (!CK_S_IS(q->mode, CK_S_IFIFO))
        return ck_fail(err, -1, "FIFO record of pipe %u has mode %x (hex), not a FIFO's", q->pipe,
                       q->mode);
    if (f->path[0] != '/' || is_anonymous(f->path))
        return ck_fail(err, -1, "FIFO record of pipe %u: its file %u (%s) has no absolute path",
                       q->pipe, f->head.id, f->path);
    return 0;
}

IMAGE_NOTHING_TO_COMPLETE(fifo)

/* The FILE that introduces a pipe is an end of it: its PIPE_END follows before the next
 * FILE, the FDs or END. */
int complete_pipe(const struct image_view *v, const struct image_walk *w,
                  const struct ckpt_record_head *next, struct ck_error *err)
{
    (void)v;
    if (image_file_lacks_end(w, next, CKPT_RECI_PIPE, CKPT_RECI_PIPE_END))
        return ck_fail(err, -1, "file %u (%s) introduces a pipe but is no end of it",
                       w->file->head.id, w->file->path);
    return 0;
}

IMAGE_NOTHING_TO_COMPLETE(pipe_end)
