/* Bound and listening UNIX sockets (the UNIX_BOUND record after their FILE, kind
 * CKPT_FD_SOCKET): a listener, or a datagram or stream socket bound to a name and not
 * connected.
 *
 * Save (the signal handler): the name getsockname gives, the type, whether it listens and
 * its backlog (sock_diag), buffer sizes and SO_PASSCRED; for a path name, the socket file's
 * absolute path, mode and owner, after checking that the path still names the very socket
 * file the socket was bound to (sock_diag's UNIX_DIAG_VFS) — a listener whose file the
 * program removed or replaced is refused, since binding it again would put back a name the
 * program took away. A bound socket that is not a listener must have nothing queued.
 * Connections waiting in the accept queue are dropped (their count is recorded): a client
 * outside the process lost its connection when the process died, one inside finds its
 * connection closed by the peer (fd_socket.c).
 *
 * Restore, phase 1 (before anything changes): the socket is made again with its options;
 * an abstract name is bound at once (a name in use refuses the restore); for a path name,
 * the directory is opened without following a symbolic link (fds_open_directory) and the
 * name in it is looked at without following one: nothing there is fine, a socket there is
 * stale if connecting to that very inode is refused (ECONNREFUSED: nobody listens);
 * anything else — a live socket, a regular file, a symbolic link, a directory — refuses the
 * restore, naming it. The socket file's owner: a file that was the program's own (its euid
 * and egid) is made by the restoring user, as the program is; any other gets its uid and
 * gid back, which needs root. fd_unix_commit, the first change restore-run makes: puts each stale
 * socket aside under a name of its own beside it (if the name still names the inode
 * checked), binds the socket inside the directory by its last component with the mode at
 * checkpoint (through the umask), gives it its owner (root only) and listens; any failure,
 * or a later one of fd_file_commit, removes the socket files made and puts the stale ones
 * back (fd_unix_undo); once every file is changed, the stale ones go (fd_unix_finish). The
 * race left: a user who can write the directory may swap the stale socket for another file
 * between the check of its inode and the rename, which then moves that file aside and
 * later removes it (a file that user could remove itself). */
#include "fd_unix.h"
#include "image_check.h"

#include <asm/errno.h>

#define CK_AT_SYMLINK_NOFOLLOW 0x100
#define CK_AT_EMPTY_PATH 0x1000

struct ck_sockaddr_un {
    uint16_t family;
    char path[CKPT_UNIX_NAME_MAX];
};

static int is_abstract(const struct ckpt_unix_bound_record *b)
{
    return b->name[0] == 0;
}

/* The user-space encoding of the kernel's device number (st_dev's). */
static uint64_t user_dev(uint32_t kernel_dev)
{
    uint64_t major = kernel_dev >> 20, minor = kernel_dev & 0xfffff;
    return (minor & 0xff) | (major << 8) | ((minor & ~0xffull) << 12);
}

/* ======================================================================================
 * save side: runs in the checkpoint signal handler, raw syscalls only
 * ====================================================================================== */

/* The absolute path of the socket file a path name names, checked to be the file socket
 * fd was bound to (u's inode), with its mode and owner into b. 0, or -1 with err filled. */
static int socket_file_of(int fd, const struct unix_facts *u, const char *name, char *path,
                          size_t cap, struct ckpt_unix_bound_record *b, struct ck_error *err)
{
    char dir[CKPT_UNIX_NAME_MAX + 1];
    ck_strlcpy(dir, name, sizeof dir);
    const char *base = fds_base_name(name);
    size_t dir_len = (size_t)(base - name);
    if (dir_len == 0)
        ck_strlcpy(dir, ".", sizeof dir);
    else
        dir[dir_len > 1 ? dir_len - 1 : 1] = 0; /* "a/b" -> "a", "/b" -> "/" */
    /* Looked up as the program's bind did (following links, from the working directory):
     * what matters is that the file found is the socket's own. */
    long d = sys_openat(AT_FDCWD, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    struct kstat st;
    long r = d < 0 ? d : sys_newfstatat((int)d, base, &st, CK_AT_SYMLINK_NOFOLLOW);
    int same = r == 0 && u->has_vfs && CK_S_IS(st.st_mode, CK_S_IFSOCK) &&
               st.st_ino == u->vfs_ino && st.st_dev == user_dev(u->vfs_dev);
    char link[32];
    long n = -1;
    if (same) {
        ck_format(link, sizeof link, "/proc/self/fd/%d", (int)d);
        n = sys_readlinkat(AT_FDCWD, link, path, cap - 1);
    }
    if (d >= 0)
        sys_close((int)d);
    if (!same)
        return ck_fail(err, -1,
                       "descriptor %d is a UNIX socket bound to %s, which no longer names it (the "
                       "program removed or replaced the socket file%s): ckpt cannot bind it there "
                       "again",
                       fd, name, name[0] == '/' ? "" : ", or left the directory it bound it in");
    if (n < 0 || (size_t)n + 1 + ck_strlen(base) + 1 > cap)
        return ck_fail(err, -1, "descriptor %d: the directory of its socket file %s: %s", fd, name,
                       ck_strerror(n < 0 ? (int)-n : ENAMETOOLONG));
    path[n] = 0;
    ck_format(path + n, cap - (size_t)n, "%s%s", n == 1 ? "" : "/", base);
    b->mode = st.st_mode & 07777;
    b->uid = st.st_uid;
    b->gid = st.st_gid;
    if (st.st_uid == (uint32_t)sys_call0(__NR_geteuid) &&
        st.st_gid == (uint32_t)sys_call0(__NR_getegid))
        b->options |= CKPT_UNIX_FILE_OURS;
    return 0;
}

int unix_bound_save(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                    const struct unix_facts *u, struct ck_error *err)
{
    if (u->type != CKPT_SOCK_STREAM && u->type != CKPT_SOCK_DGRAM && u->type != CKPT_SOCK_SEQPACKET)
        return ck_fail(err, -1, "descriptor %d (%s) is a UNIX socket of type %d", fd, f->path,
                       u->type);
    int listening = u->state == CK_TCP_LISTEN;
    if (!listening && u->rqueue)
        return ck_fail(err, -1,
                       "descriptor %d is a bound UNIX socket with %u bytes queued for it: ckpt "
                       "restores bound sockets that are not listening only with nothing queued",
                       fd, u->rqueue);
    struct ck_sockaddr_un addr;
    int alen = sizeof addr;
    long r = sys_call3(__NR_getsockname, fd, SYS_L(&addr), SYS_L(&alen));
    if (r < 0 || alen <= 2 || alen > (int)sizeof addr)
        return ck_fail(err, -1, "descriptor %d (%s): its name (getsockname): %s", fd, f->path,
                       r < 0 ? ck_strerror((int)-r) : "none");
    struct ckpt_unix_bound_record b = {0};
    b.name_len = (uint32_t)alen - 2;
    ck_memcpy(b.name, addr.path, b.name_len);
    char path[CKPT_PATH_MAX] = "";
    if (b.name[0] && socket_file_of(fd, u, b.name, path, sizeof path, &b, err))
        return -1;
    b.file = f->head.id;
    b.type = (uint32_t)u->type;
    b.listening = (uint32_t)listening;
    /* What the program asked for, as the shim saw it (the restoring kernel caps it by its
     * own somaxconn, as a fresh start would); else the backlog in effect. */
    int asked = c->args && c->args->listen_backlog_of ? c->args->listen_backlog_of(fd) : -1;
    b.backlog = !listening ? 0 : asked >= 0 ? (uint32_t)asked : u->wqueue;
    b.pending = listening ? u->rqueue : 0;
    int val = 0;
    if (unix_getsockopt_int(fd, CK_SO_SNDBUF, &val) == 0)
        b.sndbuf = (uint32_t)val;
    if (unix_getsockopt_int(fd, CK_SO_RCVBUF, &val) == 0)
        b.rcvbuf = (uint32_t)val;
    if (unix_getsockopt_int(fd, CK_SO_PASSCRED, &val) == 0 && val)
        b.options |= CKPT_UNIX_PASSCRED;
    b.path_len = (uint32_t)ck_strlen(path);
    struct ckpt_unix_bound_record *out =
        iw_record(c->w, CKPT_REC_UNIX_BOUND, sizeof *out, b.path_len ? path : 0);
    if (!out)
        return ck_fail(err, c->w->error, "image metadata: %s", ck_strerror(-c->w->error));
    b.head = out->head;
    ck_memcpy(out, &b, sizeof b);
    return 0;
}

/* ======================================================================================
 * check side: restore-run phase 1, and fd_unix_commit
 * ====================================================================================== */

const struct ckpt_unix_bound_record *unix_bound_of(const struct fd_plan *fp)
{
    const struct ckpt_record_head *r = fp->detail;
    return r && fp->ndetail && r->kind == CKPT_REC_UNIX_BOUND ? (const void *)r : 0;
}

/* "@name" for an abstract name (its NULs as '@'), else the path, for messages. */
static const char *shown_name(const struct ckpt_unix_bound_record *b, char *buf, size_t cap)
{
    if (!is_abstract(b))
        return b->path;
    size_t n = 0;
    for (uint32_t i = 0; i < b->name_len && n + 1 < cap; i++)
        buf[n++] = b->name[i] ? b->name[i] : '@';
    buf[n] = 0;
    return buf;
}

/* A new socket of b's type with its options, not yet bound; or -errno. */
static long new_socket(const struct ckpt_unix_bound_record *b, uint32_t file_flags)
{
    long s = sys_call3(__NR_socket, CK_AF_UNIX, (long)b->type | CK_SOCK_CLOEXEC, 0);
    if (s < 0)
        return s;
    if (b->sndbuf) /* the kernel doubles what it is given */
        unix_setsockopt_int((int)s, CK_SO_SNDBUF, (int)(b->sndbuf / 2));
    if (b->rcvbuf)
        unix_setsockopt_int((int)s, CK_SO_RCVBUF, (int)(b->rcvbuf / 2));
    if (b->options & CKPT_UNIX_PASSCRED)
        unix_setsockopt_int((int)s, CK_SO_PASSCRED, 1);
    sys_fcntl((int)s, F_SETFL, file_flags & O_NONBLOCK);
    return s;
}

static long bind_to(int s, const char *name, uint32_t len)
{
    struct ck_sockaddr_un a = {.family = CK_AF_UNIX};
    ck_memcpy(a.path, name, len);
    return sys_call3(__NR_bind, s, SYS_L(&a), 2 + len);
}

static long listen_as(int s, const struct ckpt_unix_bound_record *b)
{
    return b->listening ? sys_call2(__NR_listen, s, (long)b->backlog) : 0;
}

/* Whether anyone listens on (or, datagrams, is bound to) the socket file behind O_PATH
 * descriptor at: a connection to that very inode is tried. 0 if refused (stale), 1 if
 * someone answers, or -errno. */
static int socket_file_live(int at, uint32_t type)
{
    long probe =
        sys_call3(__NR_socket, CK_AF_UNIX, (long)type | CK_SOCK_CLOEXEC | CK_SOCK_NONBLOCK, 0);
    if (probe < 0)
        return (int)probe;
    struct ck_sockaddr_un a = {.family = CK_AF_UNIX};
    ck_format(a.path, sizeof a.path, "/proc/self/fd/%d", at);
    long r = sys_call3(__NR_connect, probe, SYS_L(&a), 2 + ck_strlen(a.path) + 1);
    sys_close((int)probe);
    if (r == -ECONNREFUSED)
        return 0;
    if (r == 0 || r == -EAGAIN || r == -EINPROGRESS || r == -EPROTOTYPE)
        return 1; /* a listener (its backlog full, or of another type) */
    return (int)r;
}

#define CK_S_ISVTX 01000u

/* A stale socket file in a sticky directory can be moved only by its owner, the
 * directory's, or root (restore-run would fail at its rename, after ckpt verify said yes). */
static int stale_not_ours_to_move(const struct fd_plan *fp, const struct kstat *stale)
{
    struct kstat dir;
    long euid = sys_call0(__NR_geteuid);
    return euid != 0 && stale->st_uid != (uint32_t)euid && sys_fstat(fp->dir_fd, &dir) == 0 &&
           (dir.st_mode & CK_S_ISVTX) && dir.st_uid != (uint32_t)euid;
}

/* What is at the socket's path now: nothing (fp->new_fd -1), or a stale socket file
 * (fp->new_fd its O_PATH descriptor, for fd_unix_commit to put it aside). 0, or -1 refused. */
static int check_path(struct restore_plan *p, struct fd_plan *fp,
                      const struct ckpt_unix_bound_record *b, struct ck_error *err)
{
    const char *base = fds_base_name(b->path);
    int fd = fp->rec->fd;
    long at = sys_openat(fp->dir_fd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
    if (at == -ENOENT)
        return 0;
    struct kstat st;
    long r = at < 0 ? at : sys_fstat((int)at, &st);
    if (r < 0) {
        if (at >= 0)
            sys_close((int)at);
        return ck_fail(err, -1, "the socket file %s (descriptor %d): %s", b->path, fd,
                       ck_strerror((int)-r));
    }
    if (!CK_S_IS(st.st_mode, CK_S_IFSOCK)) {
        sys_close((int)at);
        return ck_fail(err, -1,
                       "descriptor %d is bound at %s, where there is now %s: refused, restore-run "
                       "replaces only a stale socket file",
                       fd, b->path,
                       CK_S_IS(st.st_mode, 0120000u) ? "a symbolic link"
                                                     : identity_kind_name(st.st_mode));
    }
    if (stale_not_ours_to_move(fp, &st)) {
        sys_close((int)at);
        return ck_fail(err, -1,
                       "descriptor %d is bound at %s, where a stale socket file of uid %u is, in a "
                       "directory with the sticky bit: restore-run (uid %ld) may not replace it",
                       fd, b->path, st.st_uid, sys_call0(__NR_geteuid));
    }
    int live = socket_file_live((int)at, b->type);
    if (live != 0) {
        sys_close((int)at);
        return live > 0 ? ck_fail(err, -1,
                                  "descriptor %d is bound at %s, where a live socket is (another "
                                  "socket listens or is bound there): refused, restore-run "
                                  "replaces only a stale socket file",
                                  fd, b->path)
                        : ck_fail(err, -1, "the socket file %s (descriptor %d): connecting: %s",
                                  b->path, fd, ck_strerror(-live));
    }
    fp->new_fd = (int)fds_keep_high(p, at);
    return fp->new_fd < 0
               ? ck_fail(err, -1, "the socket file %s: %s", b->path, ck_strerror(-fp->new_fd))
               : 0;
}

/* The socket file bound at a path is the restoring user's, as it was the program's (ids are
 * not compared: a restore in a user namespace sees other numbers), or gets the owner it had
 * at checkpoint, which only root can give it; in a directory restore-run may write. */
static int check_owner(const struct fd_plan *fp, const struct ckpt_unix_bound_record *b,
                       struct ck_error *err)
{
    long euid = sys_call0(__NR_geteuid);
    if (euid != 0 && !(b->options & CKPT_UNIX_FILE_OURS))
        return ck_fail(err, -1,
                       "descriptor %d: its socket file %s belonged to uid %u; restore-run runs as "
                       "uid %ld and cannot make it so",
                       fp->rec->fd, b->path, b->uid, euid);
    /* bind(2) makes the file in the directory: checked now, not found out at the commit. */
    long r = sys_faccessat(fp->dir_fd, ".", 2 /* W_OK */ | 1 /* X_OK */);
    if (r < 0)
        return ck_fail(err, -1,
                       "descriptor %d: restore-run cannot make the socket file %s in its "
                       "directory: %s",
                       fp->rec->fd, b->path, ck_strerror((int)-r));
    return 0;
}

int unix_bound_plan(struct restore_plan *p, struct fd_plan *fp,
                    const struct ckpt_unix_bound_record *b, struct ck_error *err)
{
    char shown[2 * CKPT_UNIX_NAME_MAX];
    const char *name = shown_name(b, shown, sizeof shown);
    int fd = fp->rec->fd;
    if (!is_abstract(b)) {
        fp->dir_fd = (int)fds_open_directory(p, "socket", b->path, fd, err);
        if (fp->dir_fd < 0 || check_owner(fp, b, err) || check_path(p, fp, b, err))
            return -1;
    }
    long s = new_socket(b, fp->file->flags);
    if (s < 0)
        return ck_fail(err, -1, "descriptor %d: making its UNIX socket: %s", fd,
                       ck_strerror((int)-s));
    if (is_abstract(b)) { /* no file: bound now, a refusal later leaves nothing behind */
        long r = bind_to((int)s, b->name, b->name_len);
        if (r == 0)
            r = listen_as((int)s, b);
        if (r < 0) {
            sys_close((int)s);
            return ck_fail(err, -1,
                           "descriptor %d: binding its UNIX socket to the abstract name "
                           "%s: %s%s",
                           fd, name, ck_strerror((int)-r),
                           r == -EADDRINUSE ? " (another socket is bound to it)" : "");
        }
    }
    fp->temp_fd = (int)fds_keep_high(p, s);
    if (fp->temp_fd < 0)
        return ck_fail(err, -1, "descriptor %d: moving its socket: %s", fd,
                       ck_strerror(-fp->temp_fd));
    return 0;
}

/* Descriptor fd's socket file: the one at base in dir (the inode of its sock_diag facts). */
static long own_socket_file(int fd, int dir, const char *base)
{
    struct kstat mine;
    struct unix_facts u;
    long r = sys_fstat(fd, &mine);
    if (r == 0)
        r = unix_facts_of((uint32_t)mine.st_ino, &u);
    if (r < 0)
        return r;
    long at = sys_openat(dir, base, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
    struct kstat st;
    if (at >= 0 && (sys_fstat((int)at, &st) < 0 || !u.has_vfs || st.st_ino != u.vfs_ino ||
                    st.st_dev != user_dev(u.vfs_dev))) {
        sys_close((int)at);
        return -ESTALE;
    }
    return at;
}

#define CK_RENAME_NOREPLACE 1

/* The name a stale socket is put aside under, beside it, until the restore is through. */
static void aside_name(const struct fd_plan *fp, char *buf, size_t cap)
{
    ck_format(buf, cap, ".ckpt-stale-socket.%ld.%d", sys_getpid(), fp->rec->fd);
}

/* The stale socket found by check_path (fp->new_fd) is at name in fp's directory. */
static int stale_is_at(const struct fd_plan *fp, const char *name)
{
    struct kstat then, now;
    return sys_fstat(fp->new_fd, &then) == 0 &&
           sys_newfstatat(fp->dir_fd, name, &now, CK_AT_SYMLINK_NOFOLLOW) == 0 &&
           now.st_ino == then.st_ino && now.st_dev == then.st_dev;
}

/* The stale socket found by check_path is put aside, if its name still names it (never over
 * anything at the other name). */
static long put_stale_aside(const struct fd_plan *fp, const char *base)
{
    char aside[64];
    aside_name(fp, aside, sizeof aside);
    if (!stale_is_at(fp, base))
        return -ESTALE;
    return sys_renameat2(fp->dir_fd, base, fp->dir_fd, aside, CK_RENAME_NOREPLACE);
}

/* Binds fp's socket at its path: inside its directory by the last component (no link
 * followed), with the mode at checkpoint through the umask, then its owner and listen. */
static int bind_at_path(const struct fd_plan *fp, const struct ckpt_unix_bound_record *b,
                        struct ck_error *err)
{
    const char *base = fds_base_name(b->path);
    long r = fp->new_fd >= 0 ? put_stale_aside(fp, base) : 0;
    if (r < 0)
        return ck_fail(err, -1, "putting the stale socket file %s aside: %s", b->path,
                       r == -ESTALE ? "it was replaced meanwhile" : ck_strerror((int)-r));
    long cwd = sys_openat(AT_FDCWD, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (cwd < 0 || (r = sys_fchdir(fp->dir_fd)) < 0) {
        if (cwd >= 0)
            sys_close((int)cwd);
        return ck_fail(err, -1, "binding %s: its directory: %s", b->path,
                       ck_strerror((int)-(cwd < 0 ? cwd : r)));
    }
    long mask = sys_umask(~b->mode & 0777);
    r = bind_to(fp->temp_fd, base, (uint32_t)ck_strlen(base) + 1);
    sys_umask((int)mask);
    long back = sys_fchdir((int)cwd);
    sys_close((int)cwd);
    if (r < 0 || back < 0)
        return ck_fail(err, -1, "binding descriptor %d's socket at %s: %s", fp->rec->fd, b->path,
                       ck_strerror((int)-(r < 0 ? r : back)));
    long at = own_socket_file(fp->temp_fd, fp->dir_fd, base);
    if (at >= 0) {
        struct kstat st;
        r = sys_fstat((int)at, &st);
        if (r == 0 && !(b->options & CKPT_UNIX_FILE_OURS) &&
            (st.st_uid != b->uid || st.st_gid != b->gid))
            r = sys_call5(__NR_fchownat, at, SYS_L(""), b->uid, b->gid, CK_AT_EMPTY_PATH);
        sys_close((int)at);
    }
    if (at < 0 || r < 0)
        return ck_fail(err, -1, "giving the socket file %s its owner %u:%u: %s", b->path, b->uid,
                       b->gid, ck_strerror((int)-(at < 0 ? at : r)));
    r = listen_as(fp->temp_fd, b);
    if (r < 0)
        return ck_fail(err, -1, "listening at %s: %s", b->path, ck_strerror((int)-r));
    return 0;
}

int fd_unix_commit(struct restore_plan *p, struct ck_error *err)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        struct fd_plan *fp = &p->fds[i];
        const struct ckpt_unix_bound_record *b = unix_bound_of(fp);
        if (!b || fp->inherit || fp->shares_with >= 0 || is_abstract(b))
            continue;
        if (bind_at_path(fp, b, err)) {
            fd_unix_undo(p);
            return -1;
        }
    }
    return 0;
}

/* The path sockets of the image, bound at restore: their plans in turn. */
#define FOR_PATH_SOCKETS(p, fp, b)                                                                 \
    for (uint32_t i_ = 0; i_ < (p)->nfds; i_++)                                                    \
        if (((fp) = &(p)->fds[i_]), ((b) = unix_bound_of(fp)) && (fp)->temp_fd >= 0 &&             \
                                        (fp)->dir_fd >= 0 && !is_abstract(b))

void fd_unix_undo(struct restore_plan *p)
{
    struct fd_plan *fp;
    const struct ckpt_unix_bound_record *b;
    FOR_PATH_SOCKETS(p, fp, b)
    {
        const char *base = fds_base_name(b->path);
        long at = own_socket_file(fp->temp_fd, fp->dir_fd, base);
        if (at >= 0) { /* bound: its file goes */
            sys_close((int)at);
            sys_unlinkat(fp->dir_fd, base, 0);
        }
        char aside[64];
        aside_name(fp, aside, sizeof aside);
        if (fp->new_fd >= 0 && stale_is_at(fp, aside)) /* the stale one comes back */
            sys_renameat2(fp->dir_fd, aside, fp->dir_fd, base, CK_RENAME_NOREPLACE);
    }
}

void fd_unix_finish(const struct restore_plan *p)
{
    struct fd_plan *fp;
    const struct ckpt_unix_bound_record *b;
    FOR_PATH_SOCKETS(p, fp, b)
    {
        char aside[64];
        aside_name(fp, aside, sizeof aside);
        if (fp->new_fd >= 0 && stale_is_at(fp, aside))
            sys_unlinkat(fp->dir_fd, aside, 0);
    }
}

/* ---- the validator's checks of UNIX_BOUND records (image_check.h) ------------------------ */

/* A UNIX_BOUND follows the FILE of its socket; its name is a path (with the absolute path
 * of the socket file) or an abstract name (without one). */
int check_unix_bound(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                     struct ck_error *err)
{
    (void)v;
    const struct ckpt_unix_bound_record *b = (const void *)r;
    const struct ckpt_file_record *f = image_detail_of(w, b->file, CKPT_FD_SOCKET, 0);
    if (!f || w->prev_kind != CKPT_REC_FILE)
        return ck_fail(err, -1, "bound socket record without its file record (file %u)", b->file);
    if (b->type != CKPT_SOCK_STREAM && b->type != CKPT_SOCK_DGRAM && b->type != CKPT_SOCK_SEQPACKET)
        return ck_fail(err, -1, "bound socket %u (%s) has unknown type %u", b->file, f->path,
                       b->type);
    if (b->listening > 1 || (b->listening && b->type == CKPT_SOCK_DGRAM) ||
        (!b->listening && (b->backlog || b->pending)) ||
        (b->options & ~(CKPT_UNIX_PASSCRED | CKPT_UNIX_FILE_OURS)))
        return ck_fail(err, -1, "bound socket %u (%s) has invalid settings", b->file, f->path);
    if (b->name_len < 1 || b->name_len > CKPT_UNIX_NAME_MAX)
        return ck_fail(err, -1, "bound socket %u (%s) has a name of %u bytes", b->file, f->path,
                       b->name_len);
    int path_ok = b->path_len > 1 && b->path[0] == '/' &&
                  image_path_ok(b->path, b->path_len, (const char *)r + r->length) &&
                  !ck_ends_with(b->path, "/") &&
                  ck_strlen(fds_base_name(b->path)) < CKPT_UNIX_NAME_MAX;
    if (b->name[0] ? !path_ok : b->path_len != 0)
        return ck_fail(err, -1, "bound socket %u (%s) has a malformed path", b->file, f->path);
    return 0;
}

IMAGE_NOTHING_TO_COMPLETE(unix_bound)
