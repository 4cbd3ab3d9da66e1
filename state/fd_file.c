/* Regular files and directories (CKPT_FD_FILE, CKPT_FD_DIR), with the records that follow
 * their FILE records: FILE_DATA (the stored contents of a file open read-write) and LOCK
 * (the POSIX locks the process held through the open file description). See fds.h for the
 * rules. */
#include "fd_kind.h"
#include "image_check.h"
#include "hash.h"

#include <asm/errno.h>
#include <linux/mman.h>

/* ======================================================================================
 * save side: runs in the checkpoint signal handler, raw syscalls only
 * ====================================================================================== */

static int refuse_deleted(int fd, uint32_t origin, const char *path, struct ck_error *err)
{
    (void)origin;
    if (path[0] != '/' || ck_ends_with(path, " (deleted)"))
        return ck_fail(err, -1, "descriptor %d refers to a deleted file (%s)", fd, path);
    return 0;
}

/* Files open read-write may be rewritten in place after the checkpoint (a database, its
 * rollback journal): cutting them back to their size would not undo that, so their contents
 * are stored and written back at restore. Files open write-only are taken for output that
 * only grows (logs, stdout) and are only cut back. The stored contents count against
 * FILES_CONTENTS_MAX for all files together; a checkpoint that would exceed it is refused
 * rather than taken without them. */
static int same_file(const struct ckpt_file_record *a, const struct ckpt_file_record *b)
{
    return a->kind == CKPT_FD_FILE && b->kind == CKPT_FD_FILE && a->file.dev == b->file.dev &&
           a->file.ino == b->file.ino;
}

static int is_read_write_file(const struct ckpt_file_record *f)
{
    return f->kind == CKPT_FD_FILE && (f->flags & O_ACCMODE) == O_RDWR;
}

/* True if an earlier descriptor of the same file already had its contents stored. */
static int saved_before(const struct fd_save_ctx *c, const struct ckpt_file_record *f)
{
    for (size_t i = 0; i < c->done; i++)
        if (is_read_write_file(c->slots[i].rec) && same_file(c->slots[i].rec, f))
            return 1;
    return 0;
}

/* Stores the contents of f's file (mapped from its descriptor fd, so no buffer is needed)
 * in a FILE_DATA record. */
static int save_contents(struct image_writer *w, int fd, const struct ckpt_file_record *f,
                         uint64_t *stored, struct ck_error *err)
{
    uint64_t size = f->file.size, length = CK_PAGE_UP(size);
    if (size > FILES_CONTENTS_MAX - *stored)
        return ck_fail(err, -1,
                       "descriptor %d (%s) is open read-write and holds %lu bytes: ckpt stores "
                       "the contents of read-write files to put them back at restore, up to "
                       "%lu MiB in all",
                       fd, f->path, (unsigned long)size, FILES_CONTENTS_MAX >> 20);
    *stored += size;
    struct ckpt_file_data_record *d = iw_record(w, CKPT_REC_FILE_DATA, sizeof *d, 0);
    if (!d)
        return ck_fail(err, w->error, "image metadata: %s", ck_strerror(-w->error));
    d->file = f->head.id;
    d->mode = f->file.mode & 07777;
    d->size = size;
    if (length == 0) {
        iw_extent(w, &d->extent, "", 0);
        return 0;
    }
    void *map = sys_mmap(0, length, PROT_READ, MAP_PRIVATE, fd, 0);
    if (sys_mmap_failed(map))
        return ck_fail(err, -1, "descriptor %d (%s): mapping its contents: %s", fd, f->path,
                       ck_strerror(-(int)(long)map));
    iw_extent(w, &d->extent, map, length);
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
static int save_lock_line(struct image_writer *w, int fd, const struct ckpt_file_record *f,
                          const char *line, struct ck_error *err)
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
                       fd, f->path, cls);
    const char *q = pid;
    if (ck_parse_uint(&q, 10) != (uint64_t)sys_getpid())
        return 0;
    if (!ck_streq(type, "READ") && !ck_streq(type, "WRITE"))
        return ck_fail(err, -1, "descriptor %d (%s): unknown lock type %s", fd, f->path, type);
    struct ckpt_lock_record *l = iw_record(w, CKPT_REC_LOCK, sizeof *l, 0);
    if (!l)
        return ck_fail(err, w->error, "image metadata: %s", ck_strerror(-w->error));
    l->file = f->head.id;
    l->type = ck_streq(type, "WRITE") ? CKPT_LOCK_WRITE : CKPT_LOCK_READ;
    q = start;
    l->start = ck_parse_uint(&q, 10);
    q = end;
    l->end = ck_streq(end, "EOF") ? CKPT_LOCK_TO_EOF : ck_parse_uint(&q, 10);
    return 0;
}

/* The locks the process holds through descriptor fd of f (fdinfo lists only those: the
 * ones taken through its open file description). */
static int save_locks(struct image_writer *w, int fd, const struct ckpt_file_record *f,
                      struct ck_error *err)
{
    char path[40], info[8192];
    ck_format(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    long n = ck_read_file(path, info, sizeof info);
    if (n < 0)
        return ck_fail(err, (int)n, "reading %s: %s", path, ck_strerror((int)-n));
    for (const char *line = info; *line;) {
        if (ck_starts_with(line, "lock:") && save_lock_line(w, fd, f, line + 5, err))
            return -1;
        while (*line && *line != '\n')
            line++;
        if (*line)
            line++;
    }
    return 0;
}

static int file_save(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                     struct ck_error *err)
{
    if (is_read_write_file(f) && !saved_before(c, f) &&
        save_contents(c->w, fd, f, &c->contents_stored, err))
        return -1;
    return save_locks(c->w, fd, f, err);
}

static int dir_save(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                    struct ck_error *err)
{
    return save_locks(c->w, fd, f, err);
}

/* ======================================================================================
 * check side: restore-run phase 1, before anything is changed
 * ====================================================================================== */

static int is_written(const struct ckpt_file_record *f)
{
    return (f->flags & O_ACCMODE) != O_RDONLY;
}

/* A file that any descriptor had open for writing may have grown since the checkpoint. */
static enum identity_rule rule_for(const struct restore_plan *p, const struct ckpt_file_record *f)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct ckpt_file_record *o = p->fds[i].file;
        if (o->kind == CKPT_FD_FILE && o->file.dev == f->file.dev && o->file.ino == f->file.ino &&
            is_written(o))
            return IDENTITY_GROWN;
    }
    return IDENTITY_SAME;
}

/* The descriptor holding the stored contents of f's file (the first read-write descriptor
 * of it), or NULL: then the file is at most cut back to its size. */
static struct fd_plan *contents_holder(const struct restore_plan *p,
                                       const struct ckpt_file_record *f)
{
    for (uint32_t i = 0; i < p->nfds; i++)
        if (p->fds[i].data && same_file(p->fds[i].file, f))
            return &p->fds[i];
    return 0;
}

/* Descriptors the program was started with, as the shim saw them (0, 1, 2 if it saw
 * nothing); not one the program opened itself and moved there (freopen of stdout). */
static int inherited(const struct ckpt_fd_record *f)
{
    return f->origin == CKPT_ORIGIN_INHERITED || (f->fd <= 2 && f->origin == CKPT_ORIGIN_UNKNOWN);
}

/* restore-run was given, at f's number, a descriptor open for writing on the very file the
 * program inherited there: the one open file whoever started both shares. */
static int restore_run_writes_same_file(const struct restore_plan *p, const struct fd_plan *fp)
{
    int fd = fp->rec->fd;
    if (!fds_had_at_startup(p, fd))
        return 0;
    struct kstat st;
    long fl = sys_fcntl(fd, F_GETFL, 0);
    return fl >= 0 && (fl & O_ACCMODE) != O_RDONLY && sys_fstat(fd, &st) == 0 &&
           CK_S_IS(st.st_mode, CK_S_IFREG) && st.st_dev == fp->file->file.dev &&
           st.st_ino == fp->file->file.ino;
}

/* The rule for output others share (README "Standard descriptors"): a written file the
 * program inherited is taken from restore-run's descriptor of that number when that is the
 * same file (offset shared with the shell, never cut); one inherited for appending is
 * reopened for appending and never cut, unless restore-run --cut-appended. */
static void file_prepare(const struct restore_plan *p, struct fd_plan *fp)
{
    const struct ckpt_file_record *f = fp->file;
    if (f->kind != CKPT_FD_FILE || !is_written(f) || !inherited(fp->rec) || fp->shares_with >= 0 ||
        contents_holder(p, f)) /* read-write: its stored contents go back (plan_contents) */
        return;
    if (restore_run_writes_same_file(p, fp))
        fp->inherit = 1;
    else if ((f->flags & O_APPEND) && !p->cut_appended)
        fp->no_cut = 1;
}

/* A written file is cut back to its size at checkpoint unless some descriptor of it is
 * shared output (file_prepare) or it gets its stored contents back. */
static int cut_back(const struct restore_plan *p, const struct ckpt_file_record *f)
{
    if (f->kind != CKPT_FD_FILE || !is_written(f) || contents_holder(p, f))
        return 0;
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct fd_plan *o = &p->fds[i];
        if (same_file(o->file, f) && (o->no_cut || (o->inherit && o->file->kind == CKPT_FD_FILE)))
            return 0;
    }
    return 1;
}

/* The directory of fp's file, opened like any recorded path (no symbolic link, a directory),
 * kept for files_commit to write the stored contents into a temporary beside the file. */
static int open_directory(const struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    fp->dir_fd = (int)fds_open_directory(p, "file", fp->file->path, fp->rec->fd, err);
    return fp->dir_fd < 0 ? -1 : 0;
}

/* How the stored contents go back (files_commit): into the very file the program had, in
 * place; into a new file if it is gone (a rollback journal deleted since); or into a new
 * file renamed over the name if the name now holds another regular file of the restoring
 * user's own (the program's later journal). Any other file there — a symbolic link, a FIFO,
 * a file of another owner — is refused: restore-run writes nowhere but into the program's
 * file or one of the restoring user's. */
static int plan_contents(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    const struct ckpt_file_record *f = fp->file;
    int32_t fd_number = fp->rec->fd;
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
        return fds_refuse_open("file", f->path, fd_number, fd, &now, CK_S_IFREG, err);
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
                       f->path, fd_number, now.uid, (unsigned long)now.id.ino,
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
            return ck_fail(err, -1, "testing the lock on %s (descriptor %d): %s", fp->file->path,
                           fp->rec->fd, ck_strerror((int)-r));
        if (fl.type != CK_F_UNLCK || take)
            return ck_fail(err, -1,
                           "%s (descriptor %d): process %d holds a lock that conflicts with the "
                           "%s lock the program held on bytes %lu-%lu",
                           fp->file->path, fp->rec->fd, fl.type != CK_F_UNLCK ? fl.pid : -1,
                           l->type == CKPT_LOCK_WRITE ? "write" : "read", (unsigned long)l->start,
                           (unsigned long)l->end);
    }
    return 0;
}

/* Phase 1 for FILE and DIR: opened again by path, checked to be the same file. */
static int file_plan(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    const struct ckpt_file_record *f = fp->file;
    int32_t fd_number = fp->rec->fd;
    const struct fd_plan *holder = f->kind == CKPT_FD_FILE ? contents_holder(p, f) : 0;
    if (holder == fp)
        return plan_contents(p, fp, err);
    /* Another descriptor of a file whose contents go into a new file: opened from it. */
    if (holder && holder->put != PUT_IN_PLACE)
        return 0;
    uint32_t want = f->file.mode & CK_S_IFMT;
    int flags = f->kind == CKPT_FD_DIR ? O_RDONLY | O_DIRECTORY : (int)(f->flags & REOPEN_FLAGS);
    struct identity_found now;
    long fd = identity_open(f->path, flags, want, &now);
    struct ck_error why;
    /* The stored contents go back into this very file: the same rule as a written one. */
    enum identity_rule rule = holder ? IDENTITY_GROWN : rule_for(p, f);
    /* Found but not opened (EACCES): another file in a written one's place says so first. */
    if (fd < 0 && fd != IDENTITY_OTHER_KIND && fd != -ELOOP && now.id.ino &&
        f->kind == CKPT_FD_FILE && rule == IDENTITY_GROWN &&
        identity_compare(&f->file, &now.id, rule, &why) < 0)
        return ck_fail(err, -1, "file %s (descriptor %d) %s", f->path, fd_number, why.msg);
    if (fd < 0)
        return fds_refuse_open("file", f->path, fd_number, fd, &now, want, err);
    fp->temp_fd = (int)fd;
    if (f->kind == CKPT_FD_FILE && !holder &&
        (identity_compare(&f->file, &now.id, rule, &why) < 0 ||
         identity_check_owner(&f->file, &now, &why) < 0))
        return ck_fail(err, -1, "file %s (descriptor %d) %s", f->path, fd_number, why.msg);
    if (holder && (now.id.dev != f->file.dev || now.id.ino != f->file.ino))
        return ck_fail(err, -1, "file %s (descriptor %d) is another file than at checkpoint",
                       f->path, fd_number);
    return 0;
}

/* ---- fd_file_commit: every change to a file, all or nothing --------------------------------
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
    return fds_keep_high(p, sys_openat(AT_FDCWD, self, flags | O_CLOEXEC | O_NOCTTY, 0));
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
            return ck_fail(err, -1, "opening %s to write its contents back: %s", fp->file->path,
                           ck_strerror((int)-w));
        fp->new_fd = (int)w;
        long r = fp->data->size
                     ? sys_fallocate(fp->new_fd, CK_FALLOC_FL_KEEP_SIZE, 0, fp->data->size)
                     : 0;
        if (r < 0 && r != -EOPNOTSUPP)
            return ck_fail(err, -1,
                           "%s needs %lu bytes for its contents at checkpoint: %s (nothing was "
                           "changed)",
                           fp->file->path, (unsigned long)fp->data->size, ck_strerror((int)-r));
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
        if (fp->inherit || fp->shares_with >= 0 || !same_file(fp->file, holder->file))
            continue;
        long fd = reopen(p, holder->new_fd, (int)(fp->file->flags & REOPEN_FLAGS));
        if (fd < 0)
            return ck_fail(err, -1, "opening the new %s (descriptor %d): %s", fp->file->path,
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
        return ck_fail(err, -1, "creating a temporary beside %s: %s", fp->file->path,
                       ck_strerror((int)-fd));
    fp->new_fd = (int)fds_keep_high(p, fd);
    if (fp->new_fd < 0)
        return ck_fail(err, -1, "creating a temporary beside %s: %s", fp->file->path,
                       ck_strerror(-fp->new_fd));
    long r = d->size ? sys_fallocate(fp->new_fd, 0, 0, d->size) : 0;
    if (r < 0 && r != -EOPNOTSUPP)
        return ck_fail(err, -1, "writing the contents of %s back: %s (nothing was changed)",
                       fp->file->path, ck_strerror((int)-r));
    if (write_all_at(fp->new_fd, p->view.base + d->extent.file_offset, d->size, fp->file->path,
                     err))
        return -1;
    r = sys_fchmod(fp->new_fd, d->mode & 07777);
    if (r < 0)
        return ck_fail(err, -1, "setting the mode of the new %s: %s", fp->file->path,
                       ck_strerror((int)-r));
    return open_from_new_file(p, fp, err);
}

/* Removes the temporaries fd_file_commit created (after a failure, or once swapped). */
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
    const char *base = fds_base_name(fp->file->path);
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
        ck_fail(err, -1, "putting the new %s in place: %s (nothing was changed)", fp->file->path,
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
        if (write_all_at(fp->new_fd, p->view.base + d->extent.file_offset, d->size, fp->file->path,
                         err))
            return -1;
        long r = sys_ftruncate(fp->new_fd, d->size);
        if (r < 0)
            return ck_fail(err, -1, "cutting %s to %lu bytes: %s", fp->file->path,
                           (unsigned long)d->size, ck_strerror((int)-r));
    }
    /* The restored program redoes what it wrote after the checkpoint. */
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct fd_plan *fp = &p->fds[i];
        const struct ckpt_file_record *f = fp->file;
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
        const struct ckpt_file_record *f = fp->file;
        if (fp->temp_fd < 0 || (f->kind != CKPT_FD_FILE && f->kind != CKPT_FD_DIR))
            continue;
        long r = sys_lseek(fp->temp_fd, (int64_t)f->offset, 0 /* SEEK_SET */);
        if (r < 0)
            return ck_fail(err, -1, "seeking %s to %lu: %s", f->path, (unsigned long)f->offset,
                           ck_strerror((int)-r));
    }
    return 0;
}

int fd_file_commit(struct restore_plan *p, struct ck_error *err)
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
    return put_back_and_cut(p, err) || seek_all(p, err) ? -1 : 0;
}

/* ======================================================================================
 * restore side: the restore core
 * ====================================================================================== */

/* The program's locks again, once every descriptor is on its number. */
static void restore_locks(const struct restore_plan *p, const struct fd_plan *fp)
{
    const struct ckpt_lock_record *l = fp->locks;
    for (uint32_t k = 0; k < fp->nlocks; k++, l = next_lock(l)) {
        struct ck_flock fl = flock_of(l);
        long r = sys_fcntl(fp->rec->fd, CK_F_SETLK, (long)&fl);
        if (r < 0)
            core_die(p, "taking the lock on bytes %lu-%lu of descriptor %d again: %s",
                     (unsigned long)l->start, (unsigned long)l->end, fp->rec->fd,
                     ck_strerror((int)-r));
    }
}

void fd_restore_FILE(const struct restore_plan *p, const struct fd_plan *fp)
{
    restore_locks(p, fp);
}

void fd_restore_DIR(const struct restore_plan *p, const struct fd_plan *fp)
{
    restore_locks(p, fp);
}

const struct fd_kind_ops fd_ops_FILE = {
    .kind = CKPT_FD_FILE,
    .name = "regular file",
    .accept = refuse_deleted,
    .save = file_save,
    .prepare = file_prepare,
    .plan = file_plan,
};

const struct fd_kind_ops fd_ops_DIR = {
    .kind = CKPT_FD_DIR,
    .name = "directory",
    .accept = refuse_deleted,
    .save = dir_save,
    .plan = file_plan,
};

/* ---- the validator's checks of FILE_DATA and LOCK records (image_check.h) ---------------- */

int check_file_data(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                    struct ck_error *err)
{
    (void)v;
    const struct ckpt_file_data_record *d = (const void *)r;
    const struct ckpt_file_record *f = image_file_before(w, d->file);
    if (!f || w->prev_kind != CKPT_REC_FILE || f->kind != CKPT_FD_FILE ||
        (w->since_file & IMAGE_KIND_BIT(FILE_DATA)))
        return ck_fail(err, -1, "file contents record without its file record (file %u)", d->file);
    if (d->extent.length != CK_PAGE_UP(d->size) || d->extent.length < d->size)
        return ck_fail(err, -1, "contents of file %u (%s) point outside the data section", d->file,
                       f->path);
    return 0;
}

int check_lock(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
               struct ck_error *err)
{
    (void)v;
    const struct ckpt_lock_record *l = (const void *)r;
    int follows = w->prev_kind == CKPT_REC_FILE || w->prev_kind == CKPT_REC_FILE_DATA ||
                  w->prev_kind == CKPT_REC_LOCK;
    if (!follows || !image_file_before(w, l->file))
        return ck_fail(err, -1, "lock record without its file record (file %u)", l->file);
    if (l->type > CKPT_LOCK_WRITE || l->start > l->end || l->start > (uint64_t)INT64_MAX ||
        (l->end != CKPT_LOCK_TO_EOF && l->end > (uint64_t)INT64_MAX))
        return ck_fail(err, -1, "malformed lock record of file %u", l->file);
    return 0;
}

IMAGE_NOTHING_TO_COMPLETE(file_data)
IMAGE_NOTHING_TO_COMPLETE(lock)
