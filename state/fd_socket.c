/* Sockets (CKPT_FD_SOCKET), with the SOCKPAIR object and the SOCKET_END record that follow
 * the FILE record of each end of a pair of connected UNIX sockets.
 *
 * A UNIX socket the program made whose peer is another socket of the process (socketpair,
 * of type SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET) comes back as a new pair, each end
 * holding the data that was queued for reading on it — for datagrams and sequenced packets
 * message by message — with its file status flags, buffer sizes and SO_PEEK_OFF. The peer
 * is found by asking the kernel (sock_diag, UNIX_DIAG_PEER), the queue read without
 * consuming it (MSG_PEEK, walked with SO_PEEK_OFF). A socket whose peer has closed (still
 * connected, to a socket without an inode) comes back so: a new pair, its queue sent from
 * the other end, which is then closed — a stream reads the data then end of file and
 * writes get EPIPE, a datagram socket's sends fail (ECONNREFUSED, then ENOTCONN), as before.
 * So does a connection whose peer is not in the process (another process's socket, or a
 * listener's connection not accepted yet): that peer is gone once the process is restored.
 * Connections accepted from a listener are connected sockets like any other (their name,
 * the listener's, is not kept). Bound and listening sockets: fd_unix_listen.c.
 *
 * Refused at checkpoint, naming the descriptor: a socket that is not a UNIX socket, one
 * neither connected nor bound, one shut down (its peer alive), a queue carrying descriptors
 * or credentials, an empty datagram. Sockets of the program's environment (0, 1, 2 or
 * inherited) are taken from restore-run as before. */
#include "fd_unix.h"
#include "image_check.h"
#include "hash.h"

#include <asm/errno.h>
#include <asm/unistd.h>
#include <linux/mman.h>

#define CK_AF_NETLINK 16
#define CK_SOCK_RAW 3
#define CK_NETLINK_SOCK_DIAG 4
#define CK_SOCK_DIAG_BY_FAMILY 20
#define CK_NLMSG_ERROR 2
#define CK_NLM_F_REQUEST 1
#define CK_UDIAG_SHOW_NAME 1
#define CK_UDIAG_SHOW_VFS 2
#define CK_UDIAG_SHOW_PEER 4
#define CK_UDIAG_SHOW_RQLEN 0x10
#define CK_UNIX_DIAG_NAME 0
#define CK_UNIX_DIAG_VFS 1
#define CK_UNIX_DIAG_PEER 2
#define CK_UNIX_DIAG_RQLEN 4
#define CK_UNIX_DIAG_SHUTDOWN 6
#define CK_MSG_PEEK 2
#define CK_MSG_CTRUNC 8
#define CK_MSG_TRUNC 0x20
#define CK_MSG_DONTWAIT 0x40

/* How much one end's queue may hold in an image (scratch reserved, not touched, per end). */
#define SOCKET_QUEUE_MAX (16UL << 20)

/* Flags of an end carried to the new socket. */
#define SOCKET_END_FLAGS O_NONBLOCK

struct ck_iovec {
    void *base;
    size_t len;
};
struct ck_msghdr {
    void *name;
    int namelen;
    struct ck_iovec *iov;
    size_t iovlen;
    void *control;
    size_t controllen;
    int flags;
};

/* recvmsg into one buffer, no control buffer (so descriptors in flight are never
 * installed); *flags gets msg_flags. */
static long recv_one(int fd, void *buf, size_t len, int how, int *flags)
{
    struct ck_iovec iov = {buf, len};
    struct ck_msghdr m = {.iov = &iov, .iovlen = 1};
    long n = sys_call3(__NR_recvmsg, fd, SYS_L(&m), how);
    *flags = m.flags;
    return n;
}

static long send_one(int fd, const void *buf, size_t len)
{
    struct ck_iovec iov = {(void *)buf, len};
    struct ck_msghdr m = {.iov = &iov, .iovlen = 1};
    return sys_call3(__NR_sendmsg, fd, SYS_L(&m), CK_MSG_DONTWAIT);
}

static const char *type_name(uint32_t type)
{
    return type == CKPT_SOCK_STREAM ? "stream" : type == CKPT_SOCK_DGRAM ? "datagram" : "seqpacket";
}

/* ======================================================================================
 * save side: runs in the checkpoint signal handler, raw syscalls only
 * ====================================================================================== */

struct ck_nlmsghdr {
    uint32_t len;
    uint16_t type, flags;
    uint32_t seq, pid;
};
struct ck_unix_diag_req {
    uint8_t family, protocol;
    uint16_t pad;
    uint32_t states, ino, show, cookie[2];
};
struct ck_unix_diag_msg {
    uint8_t family, type, state, pad;
    uint32_t ino, cookie[2];
};
struct ck_rtattr {
    uint16_t len, type;
};

/* The attributes of one SOCK_DIAG_BY_FAMILY answer. */
static void parse_facts(const char *p, const char *end, struct unix_facts *out)
{
    while (end - p >= (long)sizeof(struct ck_rtattr)) {
        const struct ck_rtattr *a = (const void *)p;
        if (a->len < sizeof *a || a->len > end - p)
            return;
        const char *val = p + sizeof *a;
        if (a->type == CK_UNIX_DIAG_PEER && a->len >= sizeof *a + 4)
            ck_memcpy(&out->peer, val, 4);
        else if (a->type == CK_UNIX_DIAG_NAME)
            out->named = 1;
        else if (a->type == CK_UNIX_DIAG_SHUTDOWN && a->len >= sizeof *a + 1)
            out->shutdown = (unsigned char)val[0];
        else if (a->type == CK_UNIX_DIAG_VFS && a->len >= sizeof *a + 8) {
            ck_memcpy(&out->vfs_ino, val, 4);
            ck_memcpy(&out->vfs_dev, val + 4, 4);
            out->has_vfs = 1;
        } else if (a->type == CK_UNIX_DIAG_RQLEN && a->len >= sizeof *a + 8) {
            ck_memcpy(&out->rqueue, val, 4);
            ck_memcpy(&out->wqueue, val + 4, 4);
        }
        p += (a->len + 3u) & ~3u;
    }
}

int unix_facts_of(uint32_t ino, struct unix_facts *out)
{
    long s =
        sys_call3(__NR_socket, CK_AF_NETLINK, CK_SOCK_RAW | CK_SOCK_CLOEXEC, CK_NETLINK_SOCK_DIAG);
    if (s < 0)
        return (int)s;
    struct {
        struct ck_nlmsghdr h;
        struct ck_unix_diag_req r;
    } q = {{sizeof q, CK_SOCK_DIAG_BY_FAMILY, CK_NLM_F_REQUEST, 1, 0},
           {CK_AF_UNIX,
            0,
            0,
            ~0u,
            ino,
            CK_UDIAG_SHOW_NAME | CK_UDIAG_SHOW_VFS | CK_UDIAG_SHOW_PEER | CK_UDIAG_SHOW_RQLEN,
            {~0u, ~0u}}};
    struct {
        uint16_t family, pad;
        uint32_t pid, groups;
    } kernel = {CK_AF_NETLINK, 0, 0, 0};
    long r = sys_call6(__NR_sendto, s, SYS_L(&q), sizeof q, 0, SYS_L(&kernel), sizeof kernel);
    char buf[8192] __attribute__((aligned(8)));
    if (r >= 0)
        r = sys_call6(__NR_recvfrom, s, SYS_L(buf), sizeof buf, CK_MSG_DONTWAIT, 0, 0);
    sys_close((int)s);
    if (r < 0)
        return (int)r;
    const struct ck_nlmsghdr *h = (const void *)buf;
    if ((size_t)r < sizeof *h || h->len > (size_t)r)
        return -EPROTO;
    if (h->type == CK_NLMSG_ERROR && h->len >= sizeof *h + 4) {
        int code;
        ck_memcpy(&code, buf + sizeof *h, 4);
        return code ? code : -EPROTO;
    }
    if (h->type != CK_SOCK_DIAG_BY_FAMILY || h->len < sizeof *h + sizeof(struct ck_unix_diag_msg))
        return -EPROTO;
    *out = (struct unix_facts){0};
    const struct ck_unix_diag_msg *m = (const void *)(buf + sizeof *h);
    out->type = m->type;
    out->state = m->state;
    parse_facts(buf + sizeof *h + sizeof(struct ck_unix_diag_msg), buf + h->len, out);
    return 0;
}

/* The slot of the socket of inode ino among the process's descriptors, or -1. */
static long slot_of_inode(const struct fd_save_ctx *c, uint32_t ino)
{
    for (size_t j = 0; j < c->nslots; j++) {
        struct kstat st;
        if (sys_fstat(c->slots[j].fd, &st) == 0 && CK_S_IS(st.st_mode, CK_S_IFSOCK) &&
            st.st_ino == ino)
            return (long)j;
    }
    return -1;
}

/* The SOCKPAIR record written after the FILE record of the pair's first end. */
static const struct ckpt_sockpair_record *pair_after(const struct image_writer *w,
                                                     const struct ckpt_file_record *first)
{
    return (const void *)fds_written_after(w, first, CKPT_REC_SOCKPAIR);
}

/* One more message of a datagram queue, at peek offset: u32 length and its bytes. 1 if one
 * was there, 0 at the end of the queue, -1 (err) if it cannot be saved. */
static int peek_message(int fd, char *buf, uint64_t *used, struct ck_error *err)
{
    int flags = 0;
    long len = recv_one(fd, buf, 0, CK_MSG_PEEK | CK_MSG_DONTWAIT | CK_MSG_TRUNC, &flags);
    if (len == -EAGAIN)
        return 0;
    if (len <= 0)
        return ck_fail(err, -1, "descriptor %d: %s", fd,
                       len == 0 ? "an empty datagram is queued on it, which ckpt cannot save"
                                : ck_strerror((int)-len));
    if ((uint64_t)len + 4 > SOCKET_QUEUE_MAX - *used)
        return ck_fail(err, -1, "descriptor %d: more than %lu MiB are queued on it", fd,
                       SOCKET_QUEUE_MAX >> 20);
    uint32_t n32 = (uint32_t)len;
    ck_memcpy(buf + *used, &n32, 4);
    long got = recv_one(fd, buf + *used + 4, (size_t)len, CK_MSG_PEEK | CK_MSG_DONTWAIT, &flags);
    if (got != len || (flags & CK_MSG_CTRUNC))
        return ck_fail(err, -1, "descriptor %d: %s", fd,
                       (flags & CK_MSG_CTRUNC)
                           ? "a message queued on it carries descriptors or credentials"
                           : "its queue changed while it was read");
    *used += 4 + (uint64_t)len;
    return 1;
}

/* The bytes of a stream queue from peek offset on. 1 if more came, 0 at the end. */
static int peek_stream(int fd, char *buf, uint64_t *used, struct ck_error *err)
{
    int flags = 0;
    long n =
        recv_one(fd, buf + *used, SOCKET_QUEUE_MAX - *used, CK_MSG_PEEK | CK_MSG_DONTWAIT, &flags);
    if (n == -EAGAIN || n == 0)
        return 0;
    if (n < 0)
        return ck_fail(err, (int)n, "descriptor %d: reading its queue: %s", fd,
                       ck_strerror((int)-n));
    if (flags & CK_MSG_CTRUNC)
        return ck_fail(err, -1,
                       "descriptor %d: data queued on it carries descriptors or "
                       "credentials",
                       fd);
    *used += (uint64_t)n;
    if (*used == SOCKET_QUEUE_MAX)
        return ck_fail(err, -1, "descriptor %d: more than %lu MiB are queued on it", fd,
                       SOCKET_QUEUE_MAX >> 20);
    return 1;
}

/* Reads fd's whole receive queue into buf without consuming it, walking it with
 * SO_PEEK_OFF from 0 (the program's own setting is put back). */
static int peek_queue(int fd, uint32_t type, char *buf, struct ckpt_socket_end_record *e,
                      struct ck_error *err)
{
    int own = -1;
    unix_getsockopt_int(fd, CK_SO_PEEK_OFF, &own);
    e->peek_off = own;
    if (unix_setsockopt_int(fd, CK_SO_PEEK_OFF, 0) < 0)
        return ck_fail(err, -1, "descriptor %d: SO_PEEK_OFF is not available", fd);
    uint64_t used = 0;
    int rc;
    do
        rc = type == CKPT_SOCK_STREAM ? peek_stream(fd, buf, &used, err)
                                      : peek_message(fd, buf, &used, err);
    while (rc == 1 && (type == CKPT_SOCK_STREAM || ++e->nmsgs));
    unix_setsockopt_int(fd, CK_SO_PEEK_OFF, own);
    e->bytes = used;
    return rc;
}

static int save_socket_end(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                           uint32_t type, uint32_t pair, uint32_t end, struct ck_error *err)
{
    struct ckpt_socket_end_record *e = iw_record(c->w, CKPT_REC_SOCKET_END, sizeof *e, 0);
    if (!e)
        return ck_fail(err, c->w->error, "image metadata: %s", ck_strerror(-c->w->error));
    e->file = f->head.id;
    e->pair = pair;
    e->end = end;
    int v = 0;
    e->sndbuf = unix_getsockopt_int(fd, CK_SO_SNDBUF, &v) == 0 ? (uint32_t)v : 0;
    e->rcvbuf = unix_getsockopt_int(fd, CK_SO_RCVBUF, &v) == 0 ? (uint32_t)v : 0;
    char *buf = sys_mmap(0, SOCKET_QUEUE_MAX, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (sys_mmap_failed(buf))
        return ck_fail(err, -1, "descriptor %d: room for its queue: %s", fd,
                       ck_strerror(-(int)(long)buf));
    int rc = peek_queue(fd, type, buf, e, err);
    if (rc == 0)
        iw_extent(c->w, &e->extent, buf, CK_PAGE_UP(e->bytes));
    sys_munmap(buf, SOCKET_QUEUE_MAX);
    if (rc == 0 && c->w->error)
        return ck_fail(err, c->w->error, "the %lu bytes queued on descriptor %d: %s",
                       (unsigned long)e->bytes, fd, ck_strerror(-c->w->error));
    return rc;
}

#define CK_SHUTDOWN_MASK 3

/* A connected socket whose peer closed: the kernel keeps it connected to a socket that has
 * no inode any more, and shuts a stream or packet socket down both ways (which a client
 * whose connection a listener has not accepted yet, also peer 0, is not). */
static int peer_closed(const struct unix_facts *u)
{
    int shut = u->type == CKPT_SOCK_DGRAM || u->shutdown == CK_SHUTDOWN_MASK;
    return u->state == CK_TCP_ESTABLISHED && u->peer == 0 && shut;
}

/* What peer_in_process returns besides a slot: the socket's peer is not in the process (it
 * closed, another process holds it, or a listener has not accepted the connection yet),
 * so it comes back closed by its peer; or it is bound and not connected (UNIX_BOUND). */
#define PEER_GONE (-2L)
#define NOT_CONNECTED_BUT_BOUND (-3L)

/* The slot of the peer of UNIX socket fd among the process's descriptors, PEER_GONE,
 * NOT_CONNECTED_BUT_BOUND, or -1 with why (a reason to refuse it); its facts in *u. */
static long peer_in_process(const struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                            struct unix_facts *u, const char **why, struct ck_error *err)
{
    int domain = 0;
    *why = "is not a UNIX socket";
    if (unix_getsockopt_int(fd, CK_SO_DOMAIN, &domain) < 0 || domain != CK_AF_UNIX)
        return -1;
    int rc = unix_facts_of((uint32_t)f->file.ino, u);
    if (rc < 0) {
        ck_fail(err, rc, "descriptor %d (%s): asking the kernel for its peer (sock_diag): %s", fd,
                f->path, ck_strerror(-rc));
        *why = err->msg;
        return -1;
    }
    *why = 0;
    if (u->named && u->state != CK_TCP_ESTABLISHED)
        return NOT_CONNECTED_BUT_BOUND;
    if (u->shutdown && !peer_closed(u))
        *why = "was shut down (shutdown(2))";
    else if (u->state != CK_TCP_ESTABLISHED)
        *why = "is not connected";
    if (*why)
        return -1;
    long peer = u->peer ? slot_of_inode(c, u->peer) : -1;
    return peer >= 0 ? peer : PEER_GONE;
}

/* A pair with both ends in the process is made again, whatever their numbers; else a
 * socket of the environment is taken from restore-run, and any other refused. */
static int socket_save(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                       struct ck_error *err)
{
    uint32_t origin = c->slots[c->done].origin; /* the slot being saved */
    struct unix_facts u = {0};
    const char *why;
    long peer = peer_in_process(c, fd, f, &u, &why, err);
    int type = u.type;
    if ((peer == -1 || peer == NOT_CONNECTED_BUT_BOUND) &&
        fds_from_environment(fd, CKPT_FD_SOCKET, origin))
        return 0; /* taken from restore-run: no records */
    if (peer == NOT_CONNECTED_BUT_BOUND)
        return unix_bound_save(c, fd, f, &u, err);
    if (peer == -1 && why == err->msg)
        return -1;
    if (peer == -1)
        return ck_fail(err, -1,
                       "descriptor %d is a socket (%s) the program created that %s; ckpt restores "
                       "UNIX sockets that are connected, bound or listening",
                       fd, f->path, why);
    if (peer >= 0 && (size_t)peer < c->done) { /* the first end was saved: its SOCKPAIR */
        const struct ckpt_sockpair_record *q = pair_after(c->w, c->slots[peer].rec);
        if (!q)
            return ck_fail(err, -1, "descriptor %d (%s): its peer %d has no pair record", fd,
                           f->path, c->slots[peer].fd);
        return save_socket_end(c, fd, f, q->type, q->head.id, 1, err);
    }
    if (type != CKPT_SOCK_STREAM && type != CKPT_SOCK_DGRAM && type != CKPT_SOCK_SEQPACKET)
        return ck_fail(err, -1, "descriptor %d (%s) is a UNIX socket of type %d", fd, f->path,
                       type);
    struct ckpt_sockpair_record *q = iw_record(c->w, CKPT_REC_SOCKPAIR, sizeof *q, 0);
    if (!q)
        return ck_fail(err, c->w->error, "image metadata: %s", ck_strerror(-c->w->error));
    q->head.id = ++c->npairs;
    q->type = (uint32_t)type;
    q->ends = peer == PEER_GONE ? CKPT_SOCK_END0 : CKPT_SOCK_END0 | CKPT_SOCK_END1;
    return save_socket_end(c, fd, f, q->type, q->head.id, 0, err);
}

/* ======================================================================================
 * check side: restore-run phase 1
 * ====================================================================================== */

/* The SOCKET_END record after FILE f, or NULL: a socket of the environment. */
static const struct ckpt_socket_end_record *socket_end_of(const struct restore_plan *p,
                                                          const struct ckpt_file_record *f)
{
    return (const void *)fds_detail_of(p, f, CKPT_REC_SOCKPAIR, CKPT_REC_SOCKET_END);
}

static const struct ckpt_sockpair_record *pair_with_id(const struct restore_plan *p, uint32_t id)
{
    return (const void *)fds_object_with_id(p, CKPT_REC_SOCKPAIR, id);
}

/* A socket end or a bound socket is made again, never taken from restore-run, whatever its
 * number. */
static void socket_prepare(const struct restore_plan *p, struct fd_plan *fp)
{
    if (socket_end_of(p, fp->file) || unix_bound_of(fp))
        fp->inherit = 0;
}

/* The fd_plans installing the pair's two ends: both must be in the image, once each. */
static int find_pair_ends(struct restore_plan *p, const struct ckpt_sockpair_record *q,
                          struct fd_plan *ends[2], const struct ckpt_socket_end_record *recs[2],
                          struct ck_error *err)
{
    ends[0] = ends[1] = 0;
    for (uint32_t i = 0; i < p->nfds; i++) {
        struct fd_plan *fp = &p->fds[i];
        const struct ckpt_socket_end_record *e;
        if (fp->shares_with >= 0 || fp->file->kind != CKPT_FD_SOCKET ||
            !(e = socket_end_of(p, fp->file)) || e->pair != q->head.id)
            continue;
        if (ends[e->end])
            return ck_fail(err, -1, "socket pair %u has two ends %u (descriptors %d and %d)",
                           q->head.id, e->end, ends[e->end]->rec->fd, fp->rec->fd);
        ends[e->end] = fp;
        recs[e->end] = e;
    }
    static const uint32_t bit[2] = {CKPT_SOCK_END0, CKPT_SOCK_END1};
    for (int end = 0; end < 2; end++)
        if (!ends[end] != !(q->ends & bit[end]))
            return ck_fail(err, -1, "socket pair %u: the image %s its end %d", q->head.id,
                           ends[end] ? "has a descriptor of" : "lists no descriptor of", end);
    return 0;
}

/* The stored queue is whole: its checksum, and for messages lengths that add up. */
static int check_queue(const struct restore_plan *p, const struct ckpt_sockpair_record *q,
                       const struct ckpt_socket_end_record *e, int fd, struct ck_error *err)
{
    const unsigned char *data = p->view.base + e->extent.file_offset;
    if (ck_hash64(data, e->extent.length) != e->extent.checksum)
        return ck_fail(
            err, -1, "checksum mismatch in the data queued on descriptor %d (corrupted image)", fd);
    if (q->type == CKPT_SOCK_STREAM)
        return e->nmsgs ? ck_fail(err, -1, "descriptor %d: a stream with messages", fd) : 0;
    uint64_t at = 0;
    for (uint32_t m = 0; m < e->nmsgs; m++) {
        uint32_t len;
        if (e->bytes - at < 4)
            break;
        ck_memcpy(&len, data + at, 4);
        if (len == 0 || len > e->bytes - at - 4)
            break;
        at += 4 + (uint64_t)len;
    }
    if (at != e->bytes)
        return ck_fail(err, -1,
                       "the messages queued on descriptor %d do not add up (%lu of %lu "
                       "bytes in %u messages)",
                       fd, (unsigned long)at, (unsigned long)e->bytes, e->nmsgs);
    return 0;
}

/* Puts end e's queue back by sending it from the other end, message by message. */
static int refill_queue(const struct restore_plan *p, const struct ckpt_sockpair_record *q,
                        const struct ckpt_socket_end_record *e, int from, int fd,
                        struct ck_error *err)
{
    const unsigned char *data = p->view.base + e->extent.file_offset;
    for (uint64_t at = 0; at < e->bytes;) {
        uint32_t len = (uint32_t)(e->bytes - at);
        if (q->type != CKPT_SOCK_STREAM) {
            ck_memcpy(&len, data + at, 4);
            at += 4;
        }
        long n = send_one(from, data + at, len);
        if (n < 0 || (q->type != CKPT_SOCK_STREAM && n != len))
            return ck_fail(err, -1,
                           "descriptor %d: putting back the %lu bytes queued on it: %s (the "
                           "new socket's buffers are smaller than they were)",
                           fd, (unsigned long)e->bytes, ck_strerror(n < 0 ? (int)-n : EMSGSIZE));
        at += (uint64_t)n;
    }
    return 0;
}

/* Phase 1: the first end planned makes the pair, refills both queues and hands the ends
 * to their descriptors at high numbers, like reopened files. */
static int socket_plan(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    const struct ckpt_socket_end_record *e = socket_end_of(p, fp->file);
    const struct ckpt_unix_bound_record *b = unix_bound_of(fp);
    if (b)
        return unix_bound_plan(p, fp, b, err);
    if (!e)
        return ck_fail(err, -1,
                       "descriptor %d is a socket the program created; it cannot be "
                       "restored",
                       fp->rec->fd);
    if (fp->temp_fd >= 0)
        return 0; /* made with its peer */
    const struct ckpt_sockpair_record *q = pair_with_id(p, e->pair);
    struct fd_plan *ends[2];
    const struct ckpt_socket_end_record *recs[2] = {0, 0};
    if (!q)
        return ck_fail(err, -1, "descriptor %d: socket pair %u is missing", fp->rec->fd, e->pair);
    if (find_pair_ends(p, q, ends, recs, err))
        return -1;
    for (int end = 0; end < 2; end++)
        if (ends[end] && check_queue(p, q, recs[end], ends[end]->rec->fd, err))
            return -1;
    int sv[2];
    long r = sys_call4(__NR_socketpair, CK_AF_UNIX, (long)q->type | CK_SOCK_CLOEXEC, 0, SYS_L(sv));
    if (r < 0)
        return ck_fail(err, -1, "descriptor %d: making its %s socket pair: %s", fp->rec->fd,
                       type_name(q->type), ck_strerror((int)-r));
    for (int end = 0; end < 2; end++) { /* the kernel doubles what it is given */
        if (!ends[end])
            continue;
        if (recs[end]->sndbuf)
            unix_setsockopt_int(sv[end], CK_SO_SNDBUF, (int)(recs[end]->sndbuf / 2));
        if (recs[end]->rcvbuf)
            unix_setsockopt_int(sv[end], CK_SO_RCVBUF, (int)(recs[end]->rcvbuf / 2));
    }
    for (int end = 0; end < 2; end++) {
        if (ends[end] && refill_queue(p, q, recs[end], sv[1 - end], ends[end]->rec->fd, err)) {
            sys_close(sv[0]);
            sys_close(sv[1]);
            return -1;
        }
    }
    for (int end = 0; end < 2; end++) {
        if (!ends[end]) { /* its peer had closed: it closes now, after the data went in */
            sys_close(sv[end]);
            continue;
        }
        if (recs[end]->peek_off >= 0)
            unix_setsockopt_int(sv[end], CK_SO_PEEK_OFF, recs[end]->peek_off);
        sys_fcntl(sv[end], F_SETFL, ends[end]->file->flags & SOCKET_END_FLAGS);
        ends[end]->temp_fd = (int)fds_keep_high(p, sv[end]);
        if (ends[end]->temp_fd < 0)
            return ck_fail(err, -1, "descriptor %d: moving its socket: %s", ends[end]->rec->fd,
                           ck_strerror(-ends[end]->temp_fd));
    }
    return 0;
}

/* The restore core has nothing more to do: the descriptor is on its number. */
FD_NOTHING_TO_RESTORE(SOCKET)

const struct fd_kind_ops fd_ops_SOCKET = {
    .kind = CKPT_FD_SOCKET,
    .name = "socket",
    .environment = 1,
    .save = socket_save,
    .prepare = socket_prepare,
    .plan = socket_plan,
};

/* ---- the validator's checks of SOCKPAIR and SOCKET_END records (image_check.h) ----------- */

/* A SOCKPAIR follows the FILE of its first end, before that end's SOCKET_END. */
int check_sockpair(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                   struct ck_error *err)
{
    (void)v;
    const struct ckpt_sockpair_record *q = (const void *)r;
    const struct ckpt_file_record *f = w->file;
    if (!f || w->prev_kind != CKPT_REC_FILE || f->kind != CKPT_FD_SOCKET ||
        (w->since_file & IMAGE_KIND_BIT(SOCKPAIR)))
        return ck_fail(err, -1, "socket pair record %u without the file record of its first end",
                       r->id);
    if (r->id == 0)
        return ck_fail(err, -1, "socket pair record without an id");
    if (q->type != CKPT_SOCK_STREAM && q->type != CKPT_SOCK_DGRAM && q->type != CKPT_SOCK_SEQPACKET)
        return ck_fail(err, -1, "socket pair %u has unknown type %u", r->id, q->type);
    if (q->ends == 0 || (q->ends & ~(CKPT_SOCK_END0 | CKPT_SOCK_END1)))
        return ck_fail(err, -1, "socket pair %u has invalid ends %x", r->id, q->ends);
    return 0;
}

/* A SOCKET_END follows its FILE (and the SOCKPAIR it may introduce) and names a SOCKPAIR
 * before it; its queue's framing is checked with its data, at restore. */
int check_socket_end(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                     struct ck_error *err)
{
    (void)v;
    const struct ckpt_socket_end_record *e = (const void *)r;
    const struct ckpt_file_record *f = image_file_before(w, e->file);
    int follows = w->prev_kind == CKPT_REC_FILE || w->prev_kind == CKPT_REC_SOCKPAIR;
    if (!f || !follows || f->kind != CKPT_FD_SOCKET || (w->since_file & IMAGE_KIND_BIT(SOCKET_END)))
        return ck_fail(err, -1, "socket end record without its file record (file %u)", e->file);
    if (e->pair < 1 || e->pair > w->last_id[CKPT_RECI_SOCKPAIR] || e->end > 1)
        return ck_fail(err, -1, "file %u is end %u of socket pair %u, which is not before it",
                       e->file, e->end, e->pair);
    if (e->extent.length != CK_PAGE_UP(e->bytes) || e->peek_off < -1 ||
        (e->nmsgs && e->bytes < 4ull * e->nmsgs))
        return ck_fail(err, -1, "the queue of socket %u (%s) is malformed", e->file, f->path);
    return 0;
}

/* The FILE that introduces a socket pair is an end of it: its SOCKET_END follows before the
 * next FILE, the FDs or END. */
int complete_sockpair(const struct image_view *v, const struct image_walk *w,
                      const struct ckpt_record_head *next, struct ck_error *err)
{
    (void)v;
    if (image_file_lacks_end(w, next, CKPT_RECI_SOCKPAIR, CKPT_RECI_SOCKET_END))
        return ck_fail(err, -1, "file %u (%s) introduces a socket pair but is no end of it",
                       w->file->head.id, w->file->path);
    return 0;
}

IMAGE_NOTHING_TO_COMPLETE(socket_end)
