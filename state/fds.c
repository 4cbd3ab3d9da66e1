/* Descriptors, the table side; see fds.h. Each kind's own code is in its fd_<kind>.c. */
#include "fd_kind.h"
#include "image_check.h"
#include "fd_event.h"
#include "fd_memfile.h"

#include <asm/errno.h>

#define CK_TCGETS 0x5401
#define CK_KCMP_FILE 0

const struct fd_kind_ops *fd_ops(uint32_t kind)
{
    switch (kind) {
#define FD_KIND_CASE(name, value)                                                                  \
    case CKPT_FD_##name:                                                                           \
        return &fd_ops_##name;
        CKPT_FD_KINDS(FD_KIND_CASE)
#undef FD_KIND_CASE
    default:
        return 0;
    }
}

int fds_is_tty(int fd)
{
    unsigned char termios[64];
    return sys_ioctl(fd, CK_TCGETS, termios) == 0;
}

int fds_from_environment(int fd, uint32_t kind, uint32_t origin)
{
    const struct fd_kind_ops *ops = fd_ops(kind);
    return ops && ops->environment && (fd <= 2 || origin == CKPT_ORIGIN_INHERITED);
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
        return fd_inet_is_inet(fd) ? CKPT_FD_INET : CKPT_FD_SOCKET;
    if (CK_S_IS(mode, CK_S_IFCHR))
        return fds_is_tty(fd) ? CKPT_FD_TTY : CKPT_FD_CHARDEV;
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

/* Lists the open descriptors into a->fd_buf (in the order of /proc/self/fd). */
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
        a->fd_buf[n++] = (struct fd_slot){.fd = fd, .shares_with = -1};
    }
    ck_dir_close(&dir);
    return (long)n;
}

/* Orders slots by their open file description (kcmp's order of the kernel's struct file,
 * the same for descriptors sharing one), then by number. */
static int by_description(const struct fd_slot *x, const struct fd_slot *y, int pid)
{
    long c = sys_kcmp(pid, pid, CK_KCMP_FILE, (unsigned long)x->fd, (unsigned long)y->fd);
    if (c == 1)
        return -1;
    if (c == 2)
        return 1;
    return x->fd < y->fd ? -1 : x->fd > y->fd;
}

static int by_number(const struct fd_slot *x, const struct fd_slot *y, int pid)
{
    (void)pid;
    return x->fd < y->fd ? -1 : x->fd > y->fd;
}

typedef int slot_order(const struct fd_slot *, const struct fd_slot *, int);

/* Heapsort: in place and O(n log n) comparisons, for the handler (no allocation). */
static void sift_down(struct fd_slot *s, size_t root, size_t n, slot_order *before, int pid)
{
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && before(&s[child], &s[child + 1], pid) < 0)
            child++;
        if (before(&s[root], &s[child], pid) >= 0)
            return;
        struct fd_slot t = s[root];
        s[root] = s[child];
        s[child] = t;
    }
}

static void sort_slots(struct fd_slot *s, size_t n, slot_order *before, int pid)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(s, i, n, before, pid);
    for (size_t end = n; end-- > 1;) {
        struct fd_slot t = s[0];
        s[0] = s[end];
        s[end] = t;
        sift_down(s, 0, end, before, pid);
    }
}

/* Each descriptor's shares_with: the lowest descriptor of its open file description, if
 * lower than itself. Sorted by description, descriptors sharing one lie together, lowest
 * first; then back into ascending numbers, the order of the FD records. */
static void find_shared(struct fd_slot *s, size_t n)
{
    int pid = (int)sys_getpid();
    sort_slots(s, n, by_description, pid);
    for (size_t i = 1; i < n; i++)
        if (sys_kcmp(pid, pid, CK_KCMP_FILE, (unsigned long)s[i - 1].fd, (unsigned long)s[i].fd) ==
            0)
            s[i].shares_with = s[i - 1].shares_with >= 0 ? s[i - 1].shares_with : s[i - 1].fd;
    sort_slots(s, n, by_number, pid);
}

/* What an anonymous inode ckpt cannot restore is, by the name the kernel gives it
 * ("anon_inode:[pidfd]"), for the refusal; NULL if the name says nothing ckpt knows. */
static const char *anon_inode_kind_name(const char *path)
{
    /* No table of pointers: this file is part of the restore core, which has no
     * relocations. */
    if (!ck_starts_with(path, "anon_inode:"))
        return 0;
    path += sizeof "anon_inode:" - 1;
    if (ck_streq(path, "[pidfd]"))
        return "a pidfd";
    if (ck_streq(path, "[io_uring]"))
        return "an io_uring instance";
    if (ck_streq(path, "[userfaultfd]"))
        return "a userfaultfd";
    if (ck_streq(path, "[perf_event]"))
        return "a perf event";
    if (ck_streq(path, "[fanotify]"))
        return "a fanotify group";
    if (ck_starts_with(path, "bpf"))
        return "a BPF object";
    if (ck_streq(path, "[fscontext]"))
        return "a file system context (fsopen)";
    if (ck_starts_with(path, "kvm"))
        return "a KVM descriptor";
    return 0;
}

#define CK_SOL_SOCKET 1
#define CK_SO_DOMAIN 39

/* The address family of a socket that no descriptor kind restores (netlink, packet, ...),
 * for the refusal; NULL for a UNIX or IP socket (the socket kinds' own rules decide) or
 * one whose family cannot be read. */
static const char *foreign_socket_family(int fd)
{
    int domain = 0;
    uint32_t len = sizeof domain;
    if (sys_call5(__NR_getsockopt, fd, CK_SOL_SOCKET, CK_SO_DOMAIN, SYS_L(&domain), SYS_L(&len)))
        return 0;
    switch (domain) {
    case 1:  /* AF_UNIX */
    case 2:  /* AF_INET */
    case 10: /* AF_INET6 */
        return 0;
    case 15:
        return "a PF_KEY socket";
    case 16:
        return "a netlink socket";
    case 17:
        return "a packet socket (AF_PACKET)";
    case 29:
        return "a CAN socket";
    case 31:
        return "a Bluetooth socket";
    case 38:
        return "a crypto socket (AF_ALG)";
    case 40:
        return "a vsock socket";
    case 44:
        return "an XDP socket";
    default:
        return "a socket of an address family ckpt does not restore";
    }
}

static int refuse_kind(int fd, int kind, uint32_t origin, const char *path, struct ck_error *err)
{
    const struct fd_kind_ops *ops = fd_ops((uint32_t)kind);
    const char *name = ops ? 0 : anon_inode_kind_name(path);
    if (name)
        return ck_fail(err, -1, "descriptor %d (%s) is %s: ckpt cannot restore it", fd, path, name);
    if (!ops)
        return ck_fail(err, -1, "descriptor %d (%s) is of a kind ckpt cannot restore", fd, path);
    /* A socket of the environment is restore-run's at restore, whatever its family. */
    name = kind == CKPT_FD_SOCKET && !fds_from_environment(fd, (uint32_t)kind, origin)
               ? foreign_socket_family(fd)
               : 0;
    if (name)
        return ck_fail(err, -1, "descriptor %d (%s) is %s: ckpt cannot restore it", fd, path, name);
    return ops->accept ? ops->accept(fd, origin, path, err) : 0;
}

/* The FILE record of an open file description, as its lowest descriptor fd shows it. */
static int save_file(struct image_writer *w, int fd, uint32_t id, uint32_t open_flags,
                     struct ckpt_file_record **out, struct ck_error *err)
{
    char link[32], path[CKPT_PATH_MAX];
    ck_format(link, sizeof link, "/proc/self/fd/%d", fd);
    long n = sys_readlinkat(AT_FDCWD, link, path, sizeof path - 1);
    if (n < 0)
        return ck_fail(err, (int)n, "descriptor %d: %s", fd, ck_strerror((int)-n));
    path[n] = 0;
    struct ckpt_file_identity ident;
    int rc = identity_read(fd, &ident);
    if (rc < 0)
        return ck_fail(err, rc, "descriptor %d (%s): %s", fd, path, ck_strerror(-rc));
    struct ckpt_file_record *f = iw_record(w, CKPT_REC_FILE, sizeof *f, path);
    if (!f)
        return ck_fail(err, w->error, "image metadata: %s", ck_strerror(-w->error));
    f->head.id = id;
    f->kind = (uint32_t)kind_of_mode(ident.mode, fd);
    if (!f->kind) /* anonymous inodes: eventfd, timerfd, signalfd, epoll */
        f->kind = fd_event_kind_of_path(path);
    if (f->kind == CKPT_FD_FILE) /* memfds and deleted files are regular files too */
        f->kind = memfile_kind_of(path);
    f->flags = (uint32_t)sys_fcntl(fd, F_GETFL, 0);
    f->open_flags = open_flags;
    f->path_len = (uint32_t)n;
    long off = sys_lseek(fd, 0, 1 /* SEEK_CUR */);
    f->offset = off > 0 ? (uint64_t)off : 0;
    f->file = ident;
    *out = f;
    return 0;
}

/* The slot of descriptor fd among the first n (ascending numbers), which holds it. */
static const struct fd_slot *slot_of(const struct fd_slot *s, size_t n, int32_t fd)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s[mid].fd <= fd)
            lo = mid;
        else
            hi = mid;
    }
    return &s[lo];
}

/* Slot i's open file description: written as a FILE record (with its kind's records) if i
 * is its lowest descriptor, else the one written for that. Every descriptor is checked
 * against its kind's rules (a pipe dup'ed by the program is one it made). */
static int save_description(struct fd_save_ctx *c, const struct files_save_args *a, size_t i,
                            uint32_t *nfiles, struct ck_error *err)
{
    struct fd_slot *slot = &a->fd_buf[i];
    uint32_t open_flags = 0;
    slot->origin = a->origin_of ? a->origin_of(slot->fd, &open_flags) : CKPT_ORIGIN_UNKNOWN;
    if (slot->shares_with >= 0) {
        const struct fd_slot *lowest = slot_of(a->fd_buf, i, slot->shares_with);
        slot->rec = lowest->rec;
        slot->file = lowest->file;
        return refuse_kind(slot->fd, (int)slot->rec->kind, slot->origin, slot->rec->path, err);
    }
    struct ckpt_file_record *f = 0;
    if (save_file(c->w, slot->fd, *nfiles + 1, open_flags, &f, err) ||
        refuse_kind(slot->fd, (int)f->kind, slot->origin, f->path, err))
        return -1;
    slot->rec = f;
    slot->file = ++*nfiles;
    const struct fd_kind_ops *ops = fd_ops(f->kind);
    return ops->save ? ops->save(c, slot->fd, f, err) : 0;
}

const struct ckpt_record_head *
fds_written_after(const struct image_writer *w, const struct ckpt_file_record *first, uint32_t kind)
{
    const struct ckpt_record_head *next = (const void *)((const char *)first + first->head.length);
    if ((const char *)next >= w->meta + w->meta_len || next->kind != kind)
        return 0;
    return next;
}

static int save_fd(struct image_writer *w, const struct fd_slot *slot, struct ck_error *err)
{
    struct ckpt_fd_record *d = iw_record(w, CKPT_REC_FD, sizeof *d, 0);
    if (!d)
        return ck_fail(err, w->error, "image metadata: %s", ck_strerror(-w->error));
    d->fd = slot->fd;
    d->file = slot->file;
    d->cloexec = (sys_fcntl(slot->fd, F_GETFD, 0) & FD_CLOEXEC) ? 1 : 0;
    d->origin = slot->origin;
    return 0;
}

int files_save(struct image_writer *w, const struct files_save_args *a, struct ck_error *err)
{
    long n = list_fds(a, err);
    if (n < 0)
        return (int)n;
    find_shared(a->fd_buf, (size_t)n);
    /* The open file descriptions first, in the order of their lowest descriptors: the FILE
     * records stay in the writer's buffer, the next descriptors look back at them. */
    struct fd_save_ctx c = {.w = w, .slots = a->fd_buf, .nslots = (size_t)n, .args = a};
    uint32_t nfiles = 0;
    for (long i = 0; i < n; i++) {
        if (save_description(&c, a, (size_t)i, &nfiles, err))
            return -1;
        c.done = (size_t)i + 1;
    }
    for (long i = 0; i < n; i++)
        if (save_fd(w, &a->fd_buf[i], err))
            return -1;
    return 0;
}

/* ======================================================================================
 * check side: restore-run phase 1, before anything is changed
 * ====================================================================================== */

int fds_had_at_startup(const struct restore_plan *p, int fd)
{
    return fd < 1024 && (p->startup_fds[fd / 8] & (1u << (fd % 8)));
}

/* The lowest descriptor number above all of the program's. */
static int above_program(const struct restore_plan *p)
{
    int above = 3;
    for (uint32_t i = 0; i < p->nfds; i++)
        above = p->fds[i].rec->fd >= above ? p->fds[i].rec->fd + 1 : above;
    return above;
}

long fds_keep_high(const struct restore_plan *p, long fd)
{
    if (fd < 0)
        return fd;
    long high = sys_fcntl((int)fd, F_DUPFD_CLOEXEC, above_program(p));
    sys_close((int)fd);
    return high;
}

const struct ckpt_record_head *fds_detail_of(const struct restore_plan *p,
                                             const struct ckpt_file_record *f, uint32_t object,
                                             uint32_t detail)
{
    const struct ckpt_record_head *r = image_next(&p->view, &f->head);
    if (r && r->kind == object)
        r = image_next(&p->view, r);
    return r && r->kind == detail ? r : 0;
}

const struct ckpt_record_head *fds_object_with_id(const struct restore_plan *p, uint32_t kind,
                                                  uint32_t id)
{
    for (const struct ckpt_record_head *r = image_first(&p->view); r; r = image_next(&p->view, r))
        if (r->kind == kind && r->id == id)
            return r;
    return 0;
}

int fds_refuse_open(const char *what, const char *path, int fd, long rc,
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

const char *fds_base_name(const char *path)
{
    const char *name = path;
    for (const char *c = path; *c; c++)
        if (*c == '/')
            name = c + 1;
    return name;
}

long fds_open_directory(const struct restore_plan *p, const char *what, const char *path,
                        int32_t fd_number, struct ck_error *err)
{
    char dir[CKPT_PATH_MAX];
    ck_strlcpy(dir, path, sizeof dir);
    char *slash = 0;
    for (char *c = dir; *c; c++)
        if (*c == '/')
            slash = c;
    if (slash)
        slash[slash == dir ? 1 : 0] = 0;
    struct identity_found now;
    long d = identity_open(dir, O_RDONLY | O_DIRECTORY, CK_S_IFDIR, &now);
    if (d < 0)
        return fds_refuse_open("the directory of", path, fd_number, d, &now, CK_S_IFDIR, err);
    /* The file is made again in it: a directory another user owns (made again by them, say)
     * would put the program's contents, and the restored program's work, in their hands. */
    long me = sys_getuid();
    if (now.uid != (uint32_t)me && now.uid != 0) {
        sys_close((int)d);
        return ck_fail(err, -1,
                       "%s %s (descriptor %d): its directory now belongs to uid %u, not to "
                       "you or root: refused, the %s is not made again there",
                       what, path, fd_number, now.uid, what);
    }
    long high = fds_keep_high(p, d);
    if (high < 0)
        return ck_fail(err, -1, "%s %s (descriptor %d): keeping its directory open: %s", what, path,
                       fd_number, ck_strerror((int)-high));
    return high;
}

static void warn_missing_inherited(const struct restore_plan *p, const struct fd_plan *fp)
{
    const struct ckpt_fd_record *f = fp->rec;
    char line[CKPT_PATH_MAX + 200];
    size_t n = ck_format(line, sizeof line,
                         "restore-run: %s: warning: descriptor %d (%s) came from the program's "
                         "environment, and restore-run has no descriptor %d: it stays closed\n",
                         p->image_path, f->fd, fp->file->path, f->fd);
    ck_write_all(2, line, n < sizeof line ? n : sizeof line - 1);
}

/* Opens (or plans) one descriptor; the holders of stored contents go first, so that the
 * other descriptors of their files know where the contents will be. */
static int check_one(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    if (fp->inherit || fp->shares_with >= 0)
        return 0;
    return fd_ops(fp->file->kind)->plan(p, fp, err);
}

int files_check(struct restore_plan *p, struct ck_error *err)
{
    fd_tty_warn_if_background(p);
    for (uint32_t i = 0; i < p->nfds; i++) {
        struct fd_plan *fp = &p->fds[i];
        const struct fd_kind_ops *ops = fd_ops(fp->file->kind);
        if (!ops) /* the validator refuses unknown kinds; this is its second line */
            return ck_fail(err, -1, "descriptor %d has unknown kind %u", fp->rec->fd,
                           fp->file->kind);
        fp->temp_fd = fp->dir_fd = fp->new_fd = -1;
        fp->put = PUT_IN_PLACE;
        fp->no_cut = 0;
        fp->inherit = fds_from_environment(fp->rec->fd, fp->file->kind, fp->rec->origin);
        if (fp->inherit && !fds_had_at_startup(p, fp->rec->fd))
            warn_missing_inherited(p, fp);
        if (ops->prepare)
            ops->prepare(p, fp);
    }
    for (uint32_t i = 0; i < p->nfds; i++)
        if (p->fds[i].data && check_one(p, &p->fds[i], err))
            return -1;
    for (uint32_t i = 0; i < p->nfds; i++)
        if (!p->fds[i].data && check_one(p, &p->fds[i], err))
            return -1;
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct fd_kind_ops *ops = fd_ops(p->fds[i].file->kind);
        if (ops->check_all && ops->check_all(p, &p->fds[i], err))
            return -1;
    }
    return 0;
}

int files_commit(struct restore_plan *p, struct ck_error *err)
{
    if (fd_unix_commit(p, err))
        return -1;
    if (fd_file_commit(p, err)) {
        fd_unix_undo(p);
        return -1;
    }
    fd_unix_finish(p);
    return fd_tty_commit(p, err); /* last: nothing may fail after it */
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

/* Each kind's last step, by a switch: the core holds no table of function pointers. */
static void restore_kind(const struct restore_plan *p, const struct fd_plan *fp)
{
    switch (fp->file->kind) {
#define FD_KIND_RESTORE(name, value)                                                               \
    case CKPT_FD_##name:                                                                           \
        fd_restore_##name(p, fp);                                                                  \
        break;
        CKPT_FD_KINDS(FD_KIND_RESTORE)
#undef FD_KIND_RESTORE
    }
}

void files_restore(const struct restore_plan *p)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct fd_plan *fp = &p->fds[i];
        const struct ckpt_fd_record *f = fp->rec;
        if (fp->inherit)
            continue;
        int src = fp->shares_with >= 0 ? fp->shares_with : fp->temp_fd;
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
    /* Last: closing any descriptor of a file drops the process's locks on it. */
    for (uint32_t i = 0; i < p->nfds; i++)
        restore_kind(p, &p->fds[i]);
}

/* ---- the validator's checks of FILE and FD records (image_check.h) ----------------------- */

/* Every open(2) flag of Linux on x86_64 (O_ACCMODE to __O_TMPFILE, octal 03 and 0100 to
 * 020000000): what F_GETFL can report. */
#define KNOWN_OPEN_FLAGS 037777703u

/* A kind of descriptor of CKPT_FD_KINDS. */
static int fd_kind_known(uint32_t kind)
{
    switch (kind) {
#define FD_KIND_KNOWN(name, value)                                                                 \
    case CKPT_FD_##name:                                                                           \
        return 1;
        CKPT_FD_KINDS(FD_KIND_KNOWN)
#undef FD_KIND_KNOWN
    }
    return 0;
}

int check_file(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
               struct ck_error *err)
{
    const struct ckpt_file_record *f = (const void *)r;
    if (v->nfds)
        return ck_fail(err, -1, "file record after descriptors");
    if (r->id != v->nfiles + 1)
        return ck_fail(err, -1, "file record with id %u, expected %u", r->id, v->nfiles + 1);
    if (!image_path_ok(f->path, f->path_len, (const char *)r + r->length))
        return ck_fail(err, -1, "malformed file record %u", r->id);
    if (!fd_kind_known(f->kind))
        return ck_fail(err, -1, "file %u (%s) has unknown kind %u", r->id, f->path, f->kind);
    /* Reopened with these flags: an access mode of 3 (no read, no write) or a flag Linux
     * does not have would make the reopened file unusable. */
    if ((f->flags & 3u) == 3u || (f->flags & ~KNOWN_OPEN_FLAGS))
        return ck_fail(err, -1, "file %u (%s) has invalid file status flags %x", r->id, f->path,
                       f->flags);
    if (f->offset > (uint64_t)INT64_MAX)
        return ck_fail(err, -1, "file %u (%s) has an impossible file offset %lu", r->id, f->path,
                       (unsigned long)f->offset);
    w->file = f;
    w->since_file = 0;
    v->nfiles++;
    return 0;
}

int check_fd(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
             struct ck_error *err)
{
    const struct ckpt_fd_record *f = (const void *)r;
    if (f->fd < 0 || f->fd > (1 << 20) || f->fd <= w->last_fd)
        return ck_fail(err, -1, "descriptor number %d is invalid or out of order", f->fd);
    /* Objects come first: a reference names one already seen. */
    if (f->file < 1 || f->file > v->nfiles)
        return ck_fail(err, -1, "descriptor %d refers to file %u, which is not before it", f->fd,
                       f->file);
    if (f->cloexec > 1)
        return ck_fail(err, -1, "descriptor %d has an invalid close-on-exec flag %u", f->fd,
                       f->cloexec);
    w->last_fd = f->fd;
    v->nfds++;
    return 0;
}

const struct ckpt_file_record *image_file_before(const struct image_walk *w, uint32_t id)
{
    return w->file && id == w->file->head.id ? w->file : 0;
}

const struct ckpt_file_record *image_detail_of(const struct image_walk *w, uint32_t id,
                                               uint32_t fd_kind, int after)
{
    const struct ckpt_file_record *f = image_file_before(w, id);
    if (!f || f->kind != fd_kind || (w->prev_kind != CKPT_REC_FILE && w->prev_kind != after))
        return 0;
    return f;
}

int image_file_lacks_end(const struct image_walk *w, const struct ckpt_record_head *next,
                         int object, int end)
{
    int ends_file =
        next->kind == CKPT_REC_FILE || next->kind == CKPT_REC_FD || next->kind == CKPT_REC_END;
    return w->file && ends_file && (w->since_file & (1ULL << object)) &&
           !(w->since_file & (1ULL << end));
}

IMAGE_NOTHING_TO_COMPLETE(file)
IMAGE_NOTHING_TO_COMPLETE(fd)
