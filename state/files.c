/* Descriptors; see files.h. */
#include "files.h"
#include "hash.h"
#include "identity.h"
#include "sys.h"
#include "plan.h"

#include <asm/errno.h>
#include <linux/fcntl.h>
#include <linux/mman.h>

#define CK_TCGETS 0x5401
#define CK_TCSETS 0x5402
#define CK_TIOCGPGRP 0x540f
#define CK_TIOCGWINSZ 0x5413
#define CK_SIGWINCH 28

/* The kernel's struct termios (TCGETS, TCSETS) and struct winsize. */
struct ck_termios {
    uint32_t iflag, oflag, cflag, lflag;
    uint8_t line;
    uint8_t cc[19];
};
struct ck_winsize {
    uint16_t rows, cols, xpixel, ypixel;
};
#define CK_KCMP_FILE 0

/* Flags worth carrying to the new open file description. */
#define REOPEN_FLAGS (O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME | O_SYNC | O_DSYNC)

static int is_tty(int fd)
{
    unsigned char termios[64];
    return sys_ioctl(fd, CK_TCGETS, termios) == 0;
}

static int kind_of_mode(uint32_t mode, int fd)
{
    if (CK_S_IS(mode, CK_S_IFREG))
        return CKPT_FD_FILE;
    if (CK_S_IS(mode, CK_S_IFDIR))
        return CKPT_FD_DIR;
    if (CK_S_IS(mode, CK_S_IFIFO))
        return CKPT_FD_PIPE;
    if (CK_S_IS(mode, CK_S_IFSOCK))
        return CKPT_FD_SOCKET;
    if (CK_S_IS(mode, CK_S_IFCHR))
        return is_tty(fd) ? CKPT_FD_TTY : CKPT_FD_CHARDEV;
    return 0;
}

/* ======================================================================================
 * save side: runs in the checkpoint signal handler, raw syscalls only
 * ====================================================================================== */

static int skipped(const struct files_save_args *a, int fd)
{
    for (int i = 0; i < a->nskip; i++)
        if (a->skip_fds[i] == fd)
            return 1;
    return 0;
}

/* Lists the open descriptors in ascending order into a->fd_buf. */
static long list_fds(const struct files_save_args *a, struct ck_error *err)
{
    struct ck_dir dir;
    int rc = ck_dir_open(&dir, "/proc/self/fd");
    if (rc < 0)
        return ck_fail(err, rc, "opening /proc/self/fd: %s", ck_strerror(-rc));
    size_t n = 0;
    const char *name;
    while ((name = ck_dir_next(&dir))) {
        int fd = (int)ck_parse_uint(&name, 10);
        if (fd == dir.fd || skipped(a, fd))
            continue;
        if (n == a->fd_cap) {
            ck_dir_close(&dir);
            return ck_fail(err, -EMFILE, "more than %lu open descriptors",
                           (unsigned long)a->fd_cap);
        }
        size_t i = n++;
        for (; i > 0 && a->fd_buf[i - 1] > fd; i--) /* keep ascending */
            a->fd_buf[i] = a->fd_buf[i - 1];
        a->fd_buf[i] = fd;
    }
    ck_dir_close(&dir);
    return (long)n;
}

/* Pipes, sockets and terminals the program was started with (0, 1, 2 and any other it
 * inherited) belong to its environment: restore takes them from restore-run. */
static int from_environment(int fd, uint32_t kind, uint32_t origin)
{
    return (kind == CKPT_FD_PIPE || kind == CKPT_FD_SOCKET || kind == CKPT_FD_TTY) &&
           (fd <= 2 || origin == CKPT_ORIGIN_INHERITED);
}

static int refuse_kind(int fd, int kind, uint32_t origin, const char *path, struct ck_error *err)
{
    if (kind == 0)
        return ck_fail(err, -1, "descriptor %d (%s) is of a kind ckpt cannot restore", fd, path);
    if ((kind == CKPT_FD_PIPE || kind == CKPT_FD_SOCKET) &&
        !from_environment(fd, (uint32_t)kind, origin))
        return ck_fail(err, -1,
                       "descriptor %d is a %s (%s) the program created; pipes and sockets "
                       "cannot be restored yet",
                       fd, kind == CKPT_FD_PIPE ? "pipe" : "socket", path);
    if ((kind == CKPT_FD_FILE || kind == CKPT_FD_DIR) &&
        (path[0] != '/' || ck_ends_with(path, " (deleted)")))
        return ck_fail(err, -1, "descriptor %d refers to a deleted file (%s)", fd, path);
    return 0;
}

/* Files open read-write may be rewritten in place after the checkpoint (a database, its
 * rollback journal): cutting them back to their size would not undo that, so their contents
 * are stored and written back at restore. Files open write-only are taken for output that
 * only grows (logs, stdout) and are only cut back. The stored contents count against
 * FILES_CONTENTS_MAX for all files together; a checkpoint that would exceed it is refused
 * rather than taken without them. */
static int same_file(const struct ckpt_fd_record *a, const struct ckpt_fd_record *b)
{
    return a->kind == CKPT_FD_FILE && b->kind == CKPT_FD_FILE && a->file.dev == b->file.dev &&
           a->file.ino == b->file.ino;
}

static int is_read_write_file(const struct ckpt_fd_record *f)
{
    return f->kind == CKPT_FD_FILE && (f->flags & O_ACCMODE) == O_RDWR;
}

/* True if an earlier descriptor of the same file already had its contents stored. */
static int saved_before(const struct ckpt_fd_record *const *recs, size_t count,
                        const struct ckpt_fd_record *f)
{
    for (size_t i = 0; i < count; i++)
        if (is_read_write_file(recs[i]) && same_file(recs[i], f))
            return 1;
    return 0;
}

/* Stores the contents of f's file (mapped from the descriptor, so no buffer is needed) in a
 * FILE_DATA record. */
static int save_contents(struct image_writer *w, const struct ckpt_fd_record *f, uint64_t *stored,
                         struct ck_error *err)
{
    uint64_t size = f->file.size, length = CK_PAGE_UP(size);
    if (size > FILES_CONTENTS_MAX - *stored)
        return ck_fail(err, -1,
                       "descriptor %d (%s) is open read-write and holds %lu bytes: ckpt stores "
                       "the contents of read-write files to put them back at restore, up to "
                       "%lu MiB in all",
                       f->fd, f->path, (unsigned long)size, FILES_CONTENTS_MAX >> 20);
    *stored += size;
    struct ckpt_file_data_record *d = iw_record(w, CKPT_REC_FILE_DATA, sizeof *d, 0);
    if (!d)
        return ck_fail(err, w->error, "image metadata: %s", ck_strerror(-w->error));
    d->fd = f->fd;
    d->mode = f->file.mode & 07777;
    d->size = size;
    d->length = length;
    if (length == 0) {
        d->file_offset = w->data_end;
        d->checksum = ck_hash64("", 0);
        return 0;
    }
    void *map = sys_mmap(0, length, PROT_READ, MAP_PRIVATE, f->fd, 0);
    if (sys_mmap_failed(map))
        return ck_fail(err, -1, "descriptor %d (%s): mapping its contents: %s", f->fd, f->path,
                       ck_strerror(-(int)(long)map));
    d->checksum = ck_hash64(map, length);
    d->file_offset = iw_data(w, map, length);
    iw_flush(w);
    sys_munmap(map, length);
    if (w->error)
        return ck_fail(err, w->error, "writing the contents of %s: %s", f->path,
                       ck_strerror(-w->error));
    return 0;
}

/* Copies the next whitespace-separated word of *p into word (cut to cap) and advances. */
static void next_word(const char **p, char *word, size_t cap)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = 0;
    while (*s && *s != ' ' && *s != '\t' && *s != '\n') {
        if (n + 1 < cap)
            word[n++] = *s;
        s++;
    }
    word[n] = 0;
    *p = s;
}

/* One "lock:" line of /proc/self/fdinfo/N (kernel fs/locks.c lock_get_status):
 *     lock:\t1: POSIX  ADVISORY  WRITE 9433 fe:00:10977348 100 EOF
 * POSIX locks of this process become LOCK records; other kinds are refused. */
static int save_lock_line(struct image_writer *w, const struct ckpt_fd_record *f, const char *line,
                          struct ck_error *err)
{
    char id[24], cls[16], mode[16], type[16], pid[24], dev[64], start[24], end[24];
    const char *p = line;
    next_word(&p, id, sizeof id);
    next_word(&p, cls, sizeof cls);
    next_word(&p, mode, sizeof mode);
    next_word(&p, type, sizeof type);
    next_word(&p, pid, sizeof pid);
    next_word(&p, dev, sizeof dev);
    next_word(&p, start, sizeof start);
    next_word(&p, end, sizeof end);
    if (!ck_streq(cls, "POSIX"))
        return ck_fail(err, -1,
                       "descriptor %d (%s) holds a %s lock; only POSIX record locks (fcntl) "
                       "can be restored yet",
                       f->fd, f->path, cls);
    const char *q = pid;
    if (ck_parse_uint(&q, 10) != (uint64_t)sys_getpid())
        return 0;
    if (!ck_streq(type, "READ") && !ck_streq(type, "WRITE"))
        return ck_fail(err, -1, "descriptor %d (%s): unknown lock type %s", f->fd, f->path, type);
    struct ckpt_lock_record *l = iw_record(w, CKPT_REC_LOCK, sizeof *l, 0);
    if (!l)
        return ck_fail(err, w->error, "image metadata: %s", ck_strerror(-w->error));
    l->fd = f->fd;
    l->type = ck_streq(type, "WRITE") ? CKPT_LOCK_WRITE : CKPT_LOCK_READ;
    q = start;
    l->start = ck_parse_uint(&q, 10);
    q = end;
    l->end = ck_streq(end, "EOF") ? CKPT_LOCK_TO_EOF : ck_parse_uint(&q, 10);
    return 0;
}

/* The locks the process holds through descriptor f (fdinfo lists only those). */
static int save_locks(struct image_writer *w, const struct ckpt_fd_record *f, struct ck_error *err)
{
    char path[40], info[8192];
    ck_format(path, sizeof path, "/proc/self/fdinfo/%d", f->fd);
    long n = ck_read_file(path, info, sizeof info);
    if (n < 0)
        return ck_fail(err, (int)n, "reading %s: %s", path, ck_strerror((int)-n));
    for (const char *line = info; *line;) {
        if (ck_starts_with(line, "lock:") && save_lock_line(w, f, line + 5, err))
            return -1;
        while (*line && *line != '\n')
            line++;
        if (*line)
            line++;
    }
    return 0;
}

/* A TERMINAL record: the terminal's settings and window size. */
static int save_terminal(struct image_writer *w, const struct ckpt_fd_record *f,
                         struct ck_error *err)
{
    struct ck_termios t;
    long r = sys_ioctl(f->fd, CK_TCGETS, &t);
    if (r < 0)
        return ck_fail(err, (int)r, "descriptor %d (%s): reading terminal settings: %s", f->fd,
                       f->path, ck_strerror((int)-r));
    struct ckpt_terminal_record *rec = iw_record(w, CKPT_REC_TERMINAL, sizeof *rec, 0);
    if (!rec)
        return ck_fail(err, w->error, "image metadata: %s", ck_strerror(-w->error));
    rec->fd = f->fd;
    rec->iflag = t.iflag;
    rec->oflag = t.oflag;
    rec->cflag = t.cflag;
    rec->lflag = t.lflag;
    rec->line = t.line;
    ck_memcpy(rec->cc, t.cc, sizeof rec->cc);
    struct ck_winsize ws;
    if (sys_ioctl(f->fd, CK_TIOCGWINSZ, &ws) == 0) {
        rec->has_winsize = 1;
        rec->rows = ws.rows;
        rec->cols = ws.cols;
        rec->xpixel = ws.xpixel;
        rec->ypixel = ws.ypixel;
    }
    return 0;
}

/* The lowest earlier descriptor sharing fd's open file description, or -1. */
static int find_shared(const int *fds, size_t count, int fd, const struct ckpt_fd_record *rec,
                       const struct ckpt_fd_record *const *recs)
{
    int pid = (int)sys_getpid();
    for (size_t i = 0; i < count && fds[i] < fd; i++) {
        if (recs[i]->file.dev != rec->file.dev || recs[i]->file.ino != rec->file.ino)
            continue;
        if (sys_kcmp(pid, pid, CK_KCMP_FILE, (unsigned long)fds[i], (unsigned long)fd) == 0)
            return recs[i]->shares_with >= 0 ? recs[i]->shares_with : fds[i];
    }
    return -1;
}

static int save_fd(struct image_writer *w, const struct files_save_args *a, int fd,
                   struct ckpt_fd_record **out, struct ck_error *err)
{
    char link[32], path[CKPT_PATH_MAX];
    ck_format(link, sizeof link, "/proc/self/fd/%d", fd);
    long n = sys_readlinkat(AT_FDCWD, link, path, sizeof path - 1);
    if (n < 0)
        return ck_fail(err, (int)n, "descriptor %d: %s", fd, ck_strerror((int)-n));
    path[n] = 0;
    struct ckpt_file_identity id;
    int rc = identity_read(fd, &id);
    if (rc < 0)
        return ck_fail(err, rc, "descriptor %d (%s): %s", fd, path, ck_strerror(-rc));
    int kind = kind_of_mode(id.mode, fd);
    uint32_t open_flags = 0;
    uint32_t origin = a->origin_of ? a->origin_of(fd, &open_flags) : CKPT_ORIGIN_UNKNOWN;
    if (refuse_kind(fd, kind, origin, path, err))
        return -1;
    struct ckpt_fd_record *f = iw_record(w, CKPT_REC_FD, sizeof *f, path);
    if (!f)
        return ck_fail(err, w->error, "image metadata: %s", ck_strerror(-w->error));
    f->fd = fd;
    f->kind = (uint32_t)kind;
    f->flags = (uint32_t)sys_fcntl(fd, F_GETFL, 0);
    f->cloexec = (sys_fcntl(fd, F_GETFD, 0) & FD_CLOEXEC) ? 1 : 0;
    f->shares_with = -1;
    f->path_len = (uint32_t)n;
    long off = sys_lseek(fd, 0, 1 /* SEEK_CUR */);
    f->offset = off > 0 ? (uint64_t)off : 0;
    f->file = id;
    f->origin = origin;
    f->open_flags = open_flags;
    *out = f;
    return 0;
}

int files_save(struct image_writer *w, const struct files_save_args *a, struct ck_error *err)
{
    long n = list_fds(a, err);
    if (n < 0)
        return (int)n;
    /* The records are kept in the writer's buffer; remember where, to find shared ones. */
    const struct ckpt_fd_record *recs[1024];
    uint64_t stored = 0;
    for (long i = 0; i < n; i++) {
        struct ckpt_fd_record *f = 0;
        if (save_fd(w, a, a->fd_buf[i], &f, err))
            return -1;
        size_t known = i < (long)CK_ARRAY_LEN(recs) ? (size_t)i : CK_ARRAY_LEN(recs);
        if (i < (long)CK_ARRAY_LEN(recs)) {
            f->shares_with = find_shared(a->fd_buf, known, f->fd, f, recs);
            recs[i] = f;
        }
        if (is_read_write_file(f) && !saved_before(recs, known, f) &&
            save_contents(w, f, &stored, err))
            return -1;
        if ((f->kind == CKPT_FD_FILE || f->kind == CKPT_FD_DIR) && f->shares_with < 0 &&
            save_locks(w, f, err))
            return -1;
        if (f->kind == CKPT_FD_TTY && f->shares_with < 0 && save_terminal(w, f, err))
            return -1;
    }
    return 0;
}

/* ======================================================================================
 * check side: restore-run phase 1, before anything is changed
 * ====================================================================================== */

static int is_written(const struct ckpt_fd_record *f)
{
    return (f->flags & O_ACCMODE) != O_RDONLY;
}

/* A file that any descriptor had open for writing may have grown since the checkpoint. */
static enum identity_rule rule_for(const struct restore_plan *p, const struct ckpt_fd_record *f)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct ckpt_fd_record *o = p->fds[i].rec;
        if (o->kind == CKPT_FD_FILE && o->file.dev == f->file.dev && o->file.ino == f->file.ino &&
            is_written(o))
            return IDENTITY_GROWN;
    }
    return IDENTITY_SAME;
}

/* The descriptor holding the stored contents of f's file (the first read-write descriptor
 * of it), or NULL: then the file is at most cut back to its size. */
static struct fd_plan *contents_holder(const struct restore_plan *p, const struct ckpt_fd_record *f)
{
    for (uint32_t i = 0; i < p->nfds; i++)
        if (p->fds[i].data && same_file(p->fds[i].rec, f))
            return &p->fds[i];
    return 0;
}

/* Descriptors the program was started with, as the shim saw them (0, 1, 2 if it saw
 * nothing); not one the program opened itself and moved there (freopen of stdout). */
static int inherited(const struct ckpt_fd_record *f)
{
    return f->origin == CKPT_ORIGIN_INHERITED || (f->fd <= 2 && f->origin == CKPT_ORIGIN_UNKNOWN);
}

static int had_at_startup(const struct restore_plan *p, int fd)
{
    return fd < 1024 && (p->startup_fds[fd / 8] & (1u << (fd % 8)));
}

/* restore-run was given, at f's number, a descriptor open for writing on the very file the
 * program inherited there: the one open file whoever started both shares. */
static int restore_run_writes_same_file(const struct restore_plan *p,
                                        const struct ckpt_fd_record *f)
{
    if (!had_at_startup(p, f->fd))
        return 0;
    struct kstat st;
    long fl = sys_fcntl(f->fd, F_GETFL, 0);
    return fl >= 0 && (fl & O_ACCMODE) != O_RDONLY && sys_fstat(f->fd, &st) == 0 &&
           CK_S_IS(st.st_mode, CK_S_IFREG) && st.st_dev == f->file.dev && st.st_ino == f->file.ino;
}

/* The rule for output others share (README "Standard descriptors"): a written file the
 * program inherited is taken from restore-run's descriptor of that number when that is the
 * same file (offset shared with the shell, never cut); one inherited for appending is
 * reopened for appending and never cut, unless restore-run --cut-appended. */
static void plan_shared_output(const struct restore_plan *p, struct fd_plan *fp)
{
    const struct ckpt_fd_record *f = fp->rec;
    if (f->kind != CKPT_FD_FILE || !is_written(f) || !inherited(f) || f->shares_with >= 0 ||
        contents_holder(p, f)) /* read-write: its stored contents go back (plan_contents) */
        return;
    if (restore_run_writes_same_file(p, f))
        fp->inherit = 1;
    else if ((f->flags & O_APPEND) && !p->cut_appended)
        fp->no_cut = 1;
}

/* A written file is cut back to its size at checkpoint unless some descriptor of it is
 * shared output (plan_shared_output) or it gets its stored contents back. */
static int cut_back(const struct restore_plan *p, const struct ckpt_fd_record *f)
{
    if (f->kind != CKPT_FD_FILE || !is_written(f) || contents_holder(p, f))
        return 0;
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct fd_plan *o = &p->fds[i];
        if (same_file(o->rec, f) && (o->no_cut || (o->inherit && o->rec->kind == CKPT_FD_FILE)))
            return 0;
    }
    return 1;
}

/* The lowest descriptor number above all of the program's. */
static int above_program(const struct restore_plan *p)
{
    int above = 3;
    for (uint32_t i = 0; i < p->nfds; i++)
        above = p->fds[i].rec->fd >= above ? p->fds[i].rec->fd + 1 : above;
    return above;
}

/* Moves fd above the program's numbers (the restore core keeps those free of strays). */
static long keep_high(const struct restore_plan *p, long fd)
{
    if (fd < 0)
        return fd;
    long high = sys_fcntl((int)fd, F_DUPFD_CLOEXEC, above_program(p));
    sys_close((int)fd);
    return high;
}

/* The message for a file identity_open would not open. */
static int refuse_open(const char *what, const char *path, int fd, long rc,
                       const struct identity_found *now, uint32_t want, struct ck_error *err)
{
    if (rc == IDENTITY_OTHER_KIND)
        return ck_fail(err, -1, "%s %s (descriptor %d) is now %s, it was %s: refused", what, path,
                       fd, identity_kind_name(now->id.mode), identity_kind_name(want));
    if (rc == -ELOOP)
        return ck_fail(err, -1,
                       "%s %s (descriptor %d): a symbolic link is now in its path, where there "
                       "was none at checkpoint: refused, restore-run follows no symbolic link",
                       what, path, fd);
    return ck_fail(err, -1, "%s %s (descriptor %d): %s", what, path, fd, ck_strerror((int)-rc));
}

/* The directory of fp's file, opened like any recorded path (no symbolic link, a directory),
 * kept for files_commit to write the stored contents into a temporary beside the file. */
static int open_directory(const struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    const struct ckpt_fd_record *f = fp->rec;
    char dir[CKPT_PATH_MAX];
    ck_strlcpy(dir, f->path, sizeof dir);
    char *slash = 0;
    for (char *c = dir; *c; c++)
        if (*c == '/')
            slash = c;
    if (slash)
        slash[slash == dir ? 1 : 0] = 0;
    struct identity_found now;
    long d = identity_open(dir, O_RDONLY | O_DIRECTORY, CK_S_IFDIR, &now);
    if (d < 0)
        return refuse_open("the directory of", f->path, f->fd, d, &now, CK_S_IFDIR, err);
    /* The file is made again in it: a directory another user owns (made again by them, say)
     * would put the program's contents, and the restored program's work, in their hands. */
    long me = sys_getuid();
    if (now.uid != (uint32_t)me && now.uid != 0) {
        sys_close((int)d);
        return ck_fail(err, -1,
                       "file %s (descriptor %d): its directory now belongs to uid %u, not to "
                       "you or root: refused, the file is not made again there",
                       f->path, f->fd, now.uid);
    }
    fp->dir_fd = (int)keep_high(p, d);
    if (fp->dir_fd < 0)
        return ck_fail(err, -1, "file %s (descriptor %d): keeping its directory open: %s", f->path,
                       f->fd, ck_strerror(-fp->dir_fd));
    return 0;
}

static const char *base_name(const char *path)
{
    const char *name = path;
    for (const char *c = path; *c; c++)
        if (*c == '/')
            name = c + 1;
    return name;
}

/* How the stored contents go back (files_commit): into the very file the program had, in
 * place; into a new file if it is gone (a rollback journal deleted since); or into a new
 * file renamed over the name if the name now holds another regular file of the restoring
 * user's own (the program's later journal). Any other file there — a symbolic link, a FIFO,
 * a file of another owner — is refused: restore-run writes nowhere but into the program's
 * file or one of the restoring user's. */
static int plan_contents(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    const struct ckpt_fd_record *f = fp->rec;
    struct identity_found now;
    long fd = identity_open(f->path, (int)(f->flags & REOPEN_FLAGS), CK_S_IFREG, &now);
    if (fd == -ENOENT) {
        fp->put = PUT_CREATE;
        struct ck_error why;
        if (open_directory(p, fp, &why))
            return ck_fail(err, -1, "file %s is gone, to be created again; %s", f->path, why.msg);
        return 0;
    }
    /* Found but not opened (EACCES): a file that is not the program's is refused below. */
    int found = fd >= 0 || (now.id.ino && fd != -ELOOP && fd != IDENTITY_OTHER_KIND);
    int same = now.id.dev == f->file.dev && now.id.ino == f->file.ino;
    if (fd < 0 && (!found || same))
        return refuse_open("file", f->path, f->fd, fd, &now, CK_S_IFREG, err);
    if (same) {
        fp->put = PUT_IN_PLACE;
        fp->temp_fd = (int)fd;
        return 0;
    }
    if (fd >= 0)
        sys_close((int)fd);
    if (now.uid != (uint32_t)sys_getuid())
        return ck_fail(err, -1,
                       "file %s (descriptor %d) was replaced by a file of uid %u (inode %lu, was "
                       "%lu): refused, restore-run puts stored contents back only into the "
                       "program's own file or one of yours",
                       f->path, f->fd, now.uid, (unsigned long)now.id.ino,
                       (unsigned long)f->file.ino);
    fp->put = PUT_REPLACE;
    return open_directory(p, fp, err);
}

/* The kernel's struct flock (x86_64). */
struct ck_flock {
    short type, whence;
    int64_t start, len;
    int pid;
    int pad;
};
#define CK_F_GETLK 5
#define CK_F_SETLK 6
#define CK_F_UNLCK 2

static struct ck_flock flock_of(const struct ckpt_lock_record *l)
{
    struct ck_flock fl;
    ck_memset(&fl, 0, sizeof fl);
    fl.type = l->type == CKPT_LOCK_WRITE ? 1 /* F_WRLCK */ : 0 /* F_RDLCK */;
    fl.whence = 0; /* SEEK_SET */
    fl.start = (int64_t)l->start;
    fl.len = l->end == CKPT_LOCK_TO_EOF ? 0 : (int64_t)(l->end - l->start + 1);
    return fl;
}

static const struct ckpt_lock_record *next_lock(const struct ckpt_lock_record *l)
{
    return (const void *)((const char *)l + l->head.length);
}

/* Phase 1: another process must not hold a lock that conflicts with one the program held
 * (the restored process takes them again once its descriptors are in place). With take,
 * restore-run takes them itself (files_commit, before it changes any file). */
static int check_locks(const struct fd_plan *fp, int take, struct ck_error *err)
{
    const struct ckpt_lock_record *l = fp->locks;
    for (uint32_t i = 0; i < fp->nlocks; i++, l = next_lock(l)) {
        struct ck_flock fl = flock_of(l);
        if (take && sys_fcntl(fp->temp_fd, CK_F_SETLK, (long)&fl) == 0)
            continue;
        fl = flock_of(l);
        long r = sys_fcntl(fp->temp_fd, CK_F_GETLK, (long)&fl);
        if (r < 0)
            return ck_fail(err, -1, "testing the lock on %s (descriptor %d): %s", fp->rec->path,
                           fp->rec->fd, ck_strerror((int)-r));
        if (fl.type != CK_F_UNLCK || take)
            return ck_fail(err, -1,
                           "%s (descriptor %d): process %d holds a lock that conflicts with the "
                           "%s lock the program held on bytes %lu-%lu",
                           fp->rec->path, fp->rec->fd, fl.type != CK_F_UNLCK ? fl.pid : -1,
                           l->type == CKPT_LOCK_WRITE ? "write" : "read", (unsigned long)l->start,
                           (unsigned long)l->end);
    }
    return 0;
}

static int restore_run_tty(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (is_tty(fd))
            return fd;
    return -1;
}

static int open_terminal(struct fd_plan *fp, struct ck_error *err)
{
    int tty = restore_run_tty();
    long fd = tty >= 0 ? sys_fcntl(tty, F_DUPFD_CLOEXEC, 3)
                       : sys_openat(AT_FDCWD, "/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
    if (fd < 0)
        return ck_fail(err, -1, "descriptor %d was a terminal, and restore-run has none",
                       fp->rec->fd);
    fp->temp_fd = (int)fd;
    return 0;
}

static int open_again(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    const struct ckpt_fd_record *f = fp->rec;
    if (f->kind == CKPT_FD_TTY)
        return open_terminal(fp, err);
    if (f->kind == CKPT_FD_PIPE || f->kind == CKPT_FD_SOCKET)
        return ck_fail(err, -1, "descriptor %d is a %s the program created; it cannot be restored",
                       f->fd, f->kind == CKPT_FD_PIPE ? "pipe" : "socket");
    const struct fd_plan *holder = f->kind == CKPT_FD_FILE ? contents_holder(p, f) : 0;
    if (holder == fp)
        return plan_contents(p, fp, err);
    /* Another descriptor of a file whose contents go into a new file: opened from it. */
    if (holder && holder->put != PUT_IN_PLACE)
        return 0;
    uint32_t want = f->file.mode & CK_S_IFMT;
    int flags = f->kind == CKPT_FD_DIR ? O_RDONLY | O_DIRECTORY : (int)(f->flags & REOPEN_FLAGS);
    struct identity_found now;
    /* A device may block in open (a modem line waiting for carrier): not restore-run. */
    long fd =
        identity_open(f->path, flags | (f->kind == CKPT_FD_CHARDEV ? O_NONBLOCK : 0), want, &now);
    struct ck_error why;
    /* The stored contents go back into this very file: the same rule as a written one. */
    enum identity_rule rule = holder ? IDENTITY_GROWN : rule_for(p, f);
    /* Found but not opened (EACCES): another file in a written one's place says so first. */
    if (fd < 0 && fd != IDENTITY_OTHER_KIND && fd != -ELOOP && now.id.ino &&
        f->kind == CKPT_FD_FILE && rule == IDENTITY_GROWN &&
        identity_compare(&f->file, &now.id, rule, &why) < 0)
        return ck_fail(err, -1, "file %s (descriptor %d) %s", f->path, f->fd, why.msg);
    if (fd < 0)
        return refuse_open("file", f->path, f->fd, fd, &now, want, err);
    fp->temp_fd = (int)fd;
    if (f->kind == CKPT_FD_CHARDEV && !(f->flags & O_NONBLOCK))
        sys_fcntl((int)fd, F_SETFL, (long)(f->flags & REOPEN_FLAGS));
    if (f->kind == CKPT_FD_FILE && !holder &&
        (identity_compare(&f->file, &now.id, rule, &why) < 0 ||
         identity_check_owner(&f->file, &now, &why) < 0))
        return ck_fail(err, -1, "file %s (descriptor %d) %s", f->path, f->fd, why.msg);
    if (holder && (now.id.dev != f->file.dev || now.id.ino != f->file.ino))
        return ck_fail(err, -1, "file %s (descriptor %d) is another file than at checkpoint",
                       f->path, f->fd);
    return 0;
}

static void warn_missing_inherited(const struct restore_plan *p, const struct ckpt_fd_record *f)
{
    char line[CKPT_PATH_MAX + 200];
    size_t n = ck_format(line, sizeof line,
                         "restore-run: %s: warning: descriptor %d (%s) came from the program's "
                         "environment, and restore-run has no descriptor %d: it stays closed\n",
                         p->image_path, f->fd, f->path, f->fd);
    ck_write_all(2, line, n < sizeof line ? n : sizeof line - 1);
}

/* A program reading its terminal from the background would stop (SIGTTIN): say so. */
static void warn_if_background(const struct restore_plan *p)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        if (!p->fds[i].terminal)
            continue;
        int tty = restore_run_tty();
        int fg = 0;
        if (tty < 0 || sys_ioctl(tty, CK_TIOCGPGRP, &fg) < 0 || fg == (int)sys_getpgid(0))
            return;
        char line[CKPT_PATH_MAX + 200];
        size_t n = ck_format(line, sizeof line,
                             "restore-run: %s: warning: restore-run is not in the foreground of "
                             "its terminal; the program stops when it reads from it (use fg)\n",
                             p->image_path);
        ck_write_all(2, line, n < sizeof line ? n : sizeof line - 1);
        return;
    }
}

/* Opens (or plans) one descriptor; the holders of stored contents go first, so that the
 * other descriptors of their files know where the contents will be. */
static int check_one(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    const struct ckpt_fd_record *f = fp->rec;
    if (fp->inherit || f->shares_with >= 0)
        return 0;
    if (open_again(p, fp, err) || (fp->temp_fd >= 0 && check_locks(fp, 0, err)))
        return -1;
    return 0;
}

int files_check(struct restore_plan *p, struct ck_error *err)
{
    warn_if_background(p);
    for (uint32_t i = 0; i < p->nfds; i++) {
        struct fd_plan *fp = &p->fds[i];
        fp->temp_fd = fp->dir_fd = fp->new_fd = -1;
        fp->put = PUT_IN_PLACE;
        fp->no_cut = 0;
        fp->inherit = from_environment(fp->rec->fd, fp->rec->kind, fp->rec->origin);
        if (fp->inherit && !had_at_startup(p, fp->rec->fd))
            warn_missing_inherited(p, fp->rec);
        plan_shared_output(p, fp);
    }
    for (uint32_t i = 0; i < p->nfds; i++)
        if (p->fds[i].data && check_one(p, &p->fds[i], err))
            return -1;
    for (uint32_t i = 0; i < p->nfds; i++)
        if (!p->fds[i].data && check_one(p, &p->fds[i], err))
            return -1;
    return 0;
}

/* ---- files_commit: every change to a file, all or nothing --------------------------------
 *
 * In this order: reserve the space the stored contents need in the files written in place;
 * write the contents of files that are gone or replaced into temporaries beside them; take
 * the program's locks; publish the temporaries (each undoable: a new name, or a swap); and
 * only then write in place, cut back and seek, which can fail only on an I/O error. Any
 * earlier failure leaves every file as it was (the temporaries are removed). */

static int write_all_at(int fd, const unsigned char *src, uint64_t size, const char *path,
                        struct ck_error *err)
{
    for (uint64_t done = 0; done < size;) {
        long r = sys_pwrite(fd, src + done, size - done, done);
        if (r == -EINTR)
            continue;
        if (r <= 0)
            return ck_fail(err, -1, "writing the contents of %s back: %s", path,
                           ck_strerror(r ? (int)-r : EIO));
        done += (uint64_t)r;
    }
    return 0;
}

/* Reopens the file behind fd (by its magic link: that very inode) with flags, high. */
static long reopen(const struct restore_plan *p, int fd, int flags)
{
    char self[40];
    ck_format(self, sizeof self, "/proc/self/fd/%d", fd);
    return keep_high(p, sys_openat(AT_FDCWD, self, flags | O_CLOEXEC | O_NOCTTY, 0));
}

/* The program's locks, taken by restore-run (the same process as the restored program)
 * before any file changes: a second restore of the image, or anyone else, then finds them
 * held. The restore core takes them again after closing the temporaries. */
static int take_locks(struct restore_plan *p, struct ck_error *err)
{
    for (uint32_t i = 0; i < p->nfds; i++)
        if (p->fds[i].temp_fd >= 0 && check_locks(&p->fds[i], 1, err))
            return -1;
    return 0;
}

/* Space for the contents written back in place, so that no write runs out of it halfway
 * (a file system that cannot reserve space, EOPNOTSUPP, is written without). */
static int reserve_space(struct restore_plan *p, struct ck_error *err)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        struct fd_plan *fp = &p->fds[i];
        if (!fp->data || fp->put != PUT_IN_PLACE)
            continue;
        long w = reopen(p, fp->temp_fd, O_WRONLY); /* pwrite on O_APPEND would append */
        if (w < 0)
            return ck_fail(err, -1, "opening %s to write its contents back: %s", fp->rec->path,
                           ck_strerror((int)-w));
        fp->new_fd = (int)w;
        long r = fp->data->size
                     ? sys_fallocate(fp->new_fd, CK_FALLOC_FL_KEEP_SIZE, 0, fp->data->size)
                     : 0;
        if (r < 0 && r != -EOPNOTSUPP)
            return ck_fail(err, -1,
                           "%s needs %lu bytes for its contents at checkpoint: %s (nothing was "
                           "changed)",
                           fp->rec->path, (unsigned long)fp->data->size, ck_strerror((int)-r));
    }
    return 0;
}

static void temp_name(char *buf, size_t cap, const struct fd_plan *fp)
{
    ck_format(buf, cap, ".ckpt-restore.%d.%d", (int)sys_getpid(), fp->rec->fd);
}

/* Every descriptor of holder's file (holder's included) opened with its own flags on the
 * new file, before that is published. */
static int open_from_new_file(struct restore_plan *p, const struct fd_plan *holder,
                              struct ck_error *err)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        struct fd_plan *fp = &p->fds[i];
        if (fp->inherit || fp->rec->shares_with >= 0 || !same_file(fp->rec, holder->rec))
            continue;
        long fd = reopen(p, holder->new_fd, (int)(fp->rec->flags & REOPEN_FLAGS));
        if (fd < 0)
            return ck_fail(err, -1, "opening the new %s (descriptor %d): %s", fp->rec->path,
                           fp->rec->fd, ck_strerror((int)-fd));
        fp->temp_fd = (int)fd;
    }
    return 0;
}

/* The stored contents into a new temporary beside the file (O_EXCL|O_NOFOLLOW: nothing
 * planted there is followed), with the file's mode at checkpoint. */
static int write_new_file(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    const struct ckpt_file_data_record *d = fp->data;
    char name[64];
    temp_name(name, sizeof name, fp);
    long fd =
        sys_openat(fp->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return ck_fail(err, -1, "creating a temporary beside %s: %s", fp->rec->path,
                       ck_strerror((int)-fd));
    fp->new_fd = (int)keep_high(p, fd);
    if (fp->new_fd < 0)
        return ck_fail(err, -1, "creating a temporary beside %s: %s", fp->rec->path,
                       ck_strerror(-fp->new_fd));
    long r = d->size ? sys_fallocate(fp->new_fd, 0, 0, d->size) : 0;
    if (r < 0 && r != -EOPNOTSUPP)
        return ck_fail(err, -1, "writing the contents of %s back: %s (nothing was changed)",
                       fp->rec->path, ck_strerror((int)-r));
    if (write_all_at(fp->new_fd, p->view.base + d->file_offset, d->size, fp->rec->path, err))
        return -1;
    r = sys_fchmod(fp->new_fd, d->mode & 07777);
    if (r < 0)
        return ck_fail(err, -1, "setting the mode of the new %s: %s", fp->rec->path,
                       ck_strerror((int)-r));
    return open_from_new_file(p, fp, err);
}

/* Removes the temporaries files_commit created (after a failure, or once swapped). */
static void remove_temporaries(const struct restore_plan *p)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct fd_plan *fp = &p->fds[i];
        if (fp->data && fp->put != PUT_IN_PLACE && fp->new_fd >= 0) {
            char name[64];
            temp_name(name, sizeof name, fp);
            sys_unlinkat(fp->dir_fd, name, 0);
        }
    }
}

#define CK_RENAME_NOREPLACE 1
#define CK_RENAME_EXCHANGE 2

/* A gone file gets its name (never over something that appeared meanwhile); a replaced
 * one is swapped with the temporary, so that the file found there stays whole until
 * everything is published. */
static long publish(const struct fd_plan *fp, int undo)
{
    char name[64];
    temp_name(name, sizeof name, fp);
    const char *base = base_name(fp->rec->path);
    if (fp->put == PUT_CREATE)
        return undo ? sys_unlinkat(fp->dir_fd, base, 0)
                    : sys_renameat2(fp->dir_fd, name, fp->dir_fd, base, CK_RENAME_NOREPLACE);
    return sys_renameat2(fp->dir_fd, name, fp->dir_fd, base, CK_RENAME_EXCHANGE);
}

static int publish_new_files(struct restore_plan *p, struct ck_error *err)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        struct fd_plan *fp = &p->fds[i];
        if (!fp->data || fp->put == PUT_IN_PLACE)
            continue;
        long r = publish(fp, 0);
        if (r == 0)
            continue;
        ck_fail(err, -1, "putting the new %s in place: %s (nothing was changed)", fp->rec->path,
                ck_strerror((int)-r));
        while (i-- > 0)
            if (p->fds[i].data && p->fds[i].put != PUT_IN_PLACE)
                publish(&p->fds[i], 1);
        return -1;
    }
    return 0;
}

static int write_new_files(struct restore_plan *p, struct ck_error *err)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        struct fd_plan *fp = &p->fds[i];
        if (fp->data && fp->put != PUT_IN_PLACE && write_new_file(p, fp, err))
            return -1;
    }
    return 0;
}

/* After the swaps the temporaries' names hold what was at the names before: the files
 * the stored contents replace. They go; created files left no temporary. */
static void drop_replaced(const struct restore_plan *p)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct fd_plan *fp = &p->fds[i];
        if (fp->data && fp->put == PUT_REPLACE) {
            char name[64];
            temp_name(name, sizeof name, fp);
            sys_unlinkat(fp->dir_fd, name, 0);
        }
    }
}

/* The point where files change: everything that could be checked has been. */
static int put_back_and_cut(struct restore_plan *p, struct ck_error *err)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        struct fd_plan *fp = &p->fds[i];
        const struct ckpt_file_data_record *d = fp->data;
        if (!d || fp->put != PUT_IN_PLACE)
            continue;
        if (write_all_at(fp->new_fd, p->view.base + d->file_offset, d->size, fp->rec->path, err))
            return -1;
        long r = sys_ftruncate(fp->new_fd, d->size);
        if (r < 0)
            return ck_fail(err, -1, "cutting %s to %lu bytes: %s", fp->rec->path,
                           (unsigned long)d->size, ck_strerror((int)-r));
    }
    /* The restored program redoes what it wrote after the checkpoint. */
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct fd_plan *fp = &p->fds[i];
        const struct ckpt_fd_record *f = fp->rec;
        if (fp->temp_fd < 0 || !cut_back(p, f))
            continue;
        long r = sys_ftruncate(fp->temp_fd, f->file.size);
        if (r < 0)
            return ck_fail(err, -1, "cutting %s back to %lu bytes: %s", f->path,
                           (unsigned long)f->file.size, ck_strerror((int)-r));
    }
    return 0;
}

static int seek_all(const struct restore_plan *p, struct ck_error *err)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct fd_plan *fp = &p->fds[i];
        const struct ckpt_fd_record *f = fp->rec;
        if (fp->temp_fd < 0 || (f->kind != CKPT_FD_FILE && f->kind != CKPT_FD_DIR))
            continue;
        long r = sys_lseek(fp->temp_fd, (int64_t)f->offset, 0 /* SEEK_SET */);
        if (r < 0)
            return ck_fail(err, -1, "seeking %s to %lu: %s", f->path, (unsigned long)f->offset,
                           ck_strerror((int)-r));
    }
    return 0;
}

/* The program's terminal settings go onto restore-run's terminal (the first TERMINAL
 * record: all of the program's terminal descriptors now lead there); a different window
 * size is announced to the program with SIGWINCH once it runs. */
static int put_terminal_settings(struct restore_plan *p, struct ck_error *err)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct fd_plan *fp = &p->fds[i];
        const struct ckpt_terminal_record *t = fp->terminal;
        if (!t)
            continue;
        int fd = fp->inherit ? fp->rec->fd : fp->temp_fd;
        if (fd < 0)
            continue;
        struct ck_termios tio = {t->iflag, t->oflag, t->cflag, t->lflag, t->line, {0}};
        ck_memcpy(tio.cc, t->cc, sizeof tio.cc);
        long r = sys_ioctl(fd, CK_TCSETS, &tio);
        if (r < 0)
            return ck_fail(err, -1, "putting the program's settings on the terminal: %s",
                           ck_strerror((int)-r));
        struct ck_winsize now;
        if (t->has_winsize && sys_ioctl(fd, CK_TIOCGWINSZ, &now) == 0 &&
            (now.rows != t->rows || now.cols != t->cols))
            p->raise_signals |= 1ULL << (CK_SIGWINCH - 1);
        return 0;
    }
    return 0;
}

int files_commit(struct restore_plan *p, struct ck_error *err)
{
    if (reserve_space(p, err))
        return -1;
    /* The locks after the last descriptor is opened and closed (closing any descriptor of a
     * file drops the process's locks on it), before the first change. */
    if (write_new_files(p, err) || take_locks(p, err) || publish_new_files(p, err)) {
        remove_temporaries(p);
        return -1;
    }
    drop_replaced(p);
    if (put_back_and_cut(p, err) || seek_all(p, err))
        return -1;
    return put_terminal_settings(p, err); /* last: nothing may fail after it */
}

/* ======================================================================================
 * restore side: the restore core
 * ====================================================================================== */

/* Closes [lo, hi] except keep. */
static void close_gap(unsigned lo, unsigned hi, int keep)
{
    if (lo > hi)
        return;
    if (keep >= 0 && (unsigned)keep >= lo && (unsigned)keep <= hi) {
        if ((unsigned)keep > lo)
            sys_close_range(lo, (unsigned)keep - 1, 0);
        if ((unsigned)keep < hi)
            sys_close_range((unsigned)keep + 1, hi, 0);
        return;
    }
    sys_close_range(lo, hi, 0);
}

void files_restore(const struct restore_plan *p)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct fd_plan *fp = &p->fds[i];
        const struct ckpt_fd_record *f = fp->rec;
        if (fp->inherit)
            continue;
        int src = f->shares_with >= 0 ? f->shares_with : fp->temp_fd;
        long r = sys_dup3(src, f->fd, f->cloexec ? O_CLOEXEC : 0);
        if (r < 0)
            core_die(p, "installing descriptor %d: %s", f->fd, ck_strerror((int)-r));
    }
    /* Everything else goes: the temporaries (all above the program's numbers), the image,
     * and restore-run's own 0, 1, 2 where the program had none. */
    unsigned next = 0;
    for (uint32_t i = 0; i < p->nfds; i++) {
        unsigned fd = (unsigned)p->fds[i].rec->fd;
        if (fd > next)
            close_gap(next, fd - 1, p->err_fd);
        next = fd + 1;
    }
    close_gap(next, ~0U, p->err_fd);
    /* Locks last: closing any descriptor of a file drops the process's locks on it. */
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct ckpt_lock_record *l = p->fds[i].locks;
        for (uint32_t k = 0; k < p->fds[i].nlocks; k++, l = next_lock(l)) {
            struct ck_flock fl = flock_of(l);
            long r = sys_fcntl(l->fd, CK_F_SETLK, (long)&fl);
            if (r < 0)
                core_die(p, "taking the lock on bytes %lu-%lu of descriptor %d again: %s",
                         (unsigned long)l->start, (unsigned long)l->end, l->fd,
                         ck_strerror((int)-r));
        }
    }
}
