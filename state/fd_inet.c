/* TCP and UDP sockets, IPv4 and IPv6 (CKPT_FD_INET), with the INET record after the FILE
 * record of each.
 *
 * Everything comes from the socket itself at checkpoint: family, type, getsockname,
 * getpeername, the TCP state and listen backlog (TCP_INFO), the options that shape it
 * (SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY, TCP_NODELAY, SO_KEEPALIVE, SO_BROADCAST,
 * SO_LINGER, buffer sizes) and O_NONBLOCK; the bytes queued for reading on a connection are
 * read without consuming them (MSG_PEEK). Restore makes each socket again in restore-run's
 * phase 1, options first, bound to its address (a taken address refuses the restore, naming
 * descriptor and address, before anything is changed), listening or connected:
 *   - a listener binds and listens with SO_REUSEADDR on, then gets its own value back: it
 *     binds beside the connections within the process made at its port just before (their
 *     accepted ends keep SO_REUSEADDR), while a live listener there still refuses the
 *     restore (as do the dead original's TIME_WAIT connections on its port if it had no
 *     SO_REUSEADDR, as they would a restarted program: the message says so);
 *   - a UDP socket is bound and, if it was, connected to its peer again; datagrams queued at
 *     checkpoint are not kept (UDP may lose datagrams: the program must cope already);
 *   - a TCP connection whose other end is in the process comes back connected with the bytes
 *     queued both ways: its client end is bound to its old address and connects to a
 *     scratch listener at the server end's address (made before the program's listener
 *     there, so nothing is taken from that one's queue), and the server end is accepted
 *     from it;
 *   - a TCP connection to outside the process cannot survive (its peer's kernel forgot it):
 *     it comes back as one the peer closed — connected to a scratch peer on loopback that
 *     sends the bytes that were queued for reading and closes, then shut down for writing:
 *     reads return those bytes, then 0 (end of file); writes fail with EPIPE (and SIGPIPE).
 *
 * Refused at checkpoint, naming the descriptor: other protocols (raw, SCTP, ...), a TCP
 * connection still being set up (SYN_SENT), one in the process shut down or with bytes
 * not yet received by its other end, one waiting in a listener of the process's accept
 * queue. Sockets of the program's environment (0, 1, 2 or inherited) are taken from
 * restore-run, as for every socket. */
#include "fd_kind.h"
#include "fd_event.h"
#include "image_check.h"
#include "hash.h"

#include <asm/errno.h>
#include <asm/unistd.h>
#include <linux/mman.h>

#define CK_AF_INET 2
#define CK_AF_INET6 10
#define CK_SOCK_STREAM 1
#define CK_SOCK_DGRAM 2
#define CK_SOCK_CLOEXEC O_CLOEXEC
#define CK_IPPROTO_TCP 6
#define CK_IPPROTO_UDP 17
#define CK_IPPROTO_IPV6 41
#define CK_IPV6_V6ONLY 26
#define CK_TCP_NODELAY 1
#define CK_TCP_INFO 11
#define CK_SOL_SOCKET 1
#define CK_SO_REUSEADDR 2
#define CK_SO_TYPE 3
#define CK_SO_BROADCAST 6
#define CK_SO_SNDBUF 7
#define CK_SO_RCVBUF 8
#define CK_SO_KEEPALIVE 9
#define CK_SO_LINGER 13
#define CK_SO_REUSEPORT 15
#define CK_SO_PROTOCOL 38
#define CK_SO_DOMAIN 39
#define CK_SO_PEEK_OFF 42
#define CK_SIOCINQ 0x541B
#define CK_SIOCOUTQNSD 0x894B /* bytes in the send queue not sent yet */
#define CK_MSG_PEEK 2
#define CK_MSG_DONTWAIT 0x40
#define CK_MSG_NOSIGNAL 0x4000
#define CK_SHUT_WR 1
#define CK_POLLIN 1
#define CK_POLLOUT 4
#define CK_SO_ERROR 4

/* TCP states (include/net/tcp_states.h). */
enum {
    TCPS_ESTABLISHED = 1,
    TCPS_SYN_SENT,
    TCPS_SYN_RECV,
    TCPS_FIN_WAIT1,
    TCPS_FIN_WAIT2,
    TCPS_TIME_WAIT,
    TCPS_CLOSE,
    TCPS_CLOSE_WAIT,
    TCPS_LAST_ACK,
    TCPS_LISTEN,
    TCPS_CLOSING
};

/* How much one connection's queue may hold in an image (scratch reserved, not touched). */
#define INET_QUEUE_MAX (16UL << 20)

/* The first fields of struct tcp_info: the state, and for a listener its backlog. */
struct ck_tcp_info_head {
    uint8_t state, ca_state, retransmits, probes, backoff, options, wscale, flags;
    uint32_t rto, ato, snd_mss, rcv_mss, unacked, sacked;
};

struct ck_linger {
    int on, secs;
};

struct ck_pollfd {
    int fd;
    short events, revents;
};

static long getsockopt_int(int fd, int level, int name, int *val)
{
    int len = sizeof *val;
    return sys_call5(__NR_getsockopt, fd, level, name, SYS_L(val), SYS_L(&len));
}

static long setsockopt_int(int fd, int level, int name, int val)
{
    return sys_call5(__NR_setsockopt, fd, level, name, SYS_L(&val), sizeof val);
}

/* getsockname or getpeername into a zeroed address; its length, or -errno. */
static long socket_address(int fd, int nr, uint8_t addr[CKPT_INET_ADDR_LEN])
{
    int len = CKPT_INET_ADDR_LEN;
    ck_memset(addr, 0, CKPT_INET_ADDR_LEN);
    long r = sys_call3(nr, fd, SYS_L(addr), SYS_L(&len));
    return r < 0 ? r : len;
}

static uint16_t addr_port(const uint8_t *a)
{
    return (uint16_t)(a[2] << 8 | a[3]);
}

static uint32_t addr_len(uint32_t family)
{
    return family == CK_AF_INET ? 16 : CKPT_INET_ADDR_LEN;
}

/* The address bytes (no port, no flow info): 4 or 16. */
static const uint8_t *addr_ip(const uint8_t *a, uint32_t family, uint32_t *n)
{
    *n = family == CK_AF_INET ? 4 : 16;
    return a + (family == CK_AF_INET ? 4 : 8);
}

static int same_address(const uint8_t *a, const uint8_t *b, uint32_t family)
{
    uint32_t n;
    const uint8_t *x = addr_ip(a, family, &n), *y = addr_ip(b, family, &n);
    return addr_port(a) == addr_port(b) && ck_memcmp(x, y, n) == 0;
}

static int is_wildcard(const uint8_t *a, uint32_t family)
{
    uint32_t n;
    const uint8_t *x = addr_ip(a, family, &n);
    for (uint32_t i = 0; i < n; i++)
        if (x[i])
            return 0;
    return 1;
}

/* A listener at l takes connections to address a: the same port, its address or any. */
static int listener_takes(const uint8_t *l, const uint8_t *a, uint32_t family)
{
    return addr_port(l) == addr_port(a) && (is_wildcard(l, family) || same_address(l, a, family));
}

/* "127.0.0.1:8080" or "[::1]:8080" (the longest run of zero groups as ::). */
static void format_address(char *out, size_t cap, const uint8_t *a, uint32_t family)
{
    uint32_t n;
    const uint8_t *ip = addr_ip(a, family, &n);
    if (family == CK_AF_INET) {
        ck_format(out, cap, "%u.%u.%u.%u:%u", ip[0], ip[1], ip[2], ip[3], addr_port(a));
        return;
    }
    unsigned g[8], best = 0, best_len = 0;
    for (int i = 0; i < 8; i++)
        g[i] = (unsigned)ip[2 * i] << 8 | ip[2 * i + 1];
    for (unsigned i = 0; i < 8;) {
        unsigned j = i;
        while (j < 8 && g[j] == 0)
            j++;
        if (j - i > best_len && j - i > 1)
            best = i, best_len = j - i;
        i = j > i ? j : i + 1;
    }
    size_t at = ck_format(out, cap, "[");
    for (unsigned i = 0; i < 8 && at < cap; i++) {
        if (best_len && i == best) {
            at += ck_format(out + at, cap - at, i == 0 ? "::" : ":");
            i += best_len - 1;
            continue;
        }
        at += ck_format(out + at, cap - at, "%x%s", g[i], i < 7 ? ":" : "");
    }
    if (at < cap)
        ck_format(out + at, cap - at, "]:%u", addr_port(a));
}

/* "TCP listener", "UDP socket", ... for messages. */
static const char *inet_what(const struct ckpt_inet_record *r)
{
    if (r->type == CKPT_SOCK_DGRAM)
        return "UDP socket";
    return r->state == CKPT_INET_LISTENING   ? "TCP listener"
           : r->state >= CKPT_INET_CONNECTED ? "TCP connection"
                                             : "TCP socket";
}

int fd_inet_is_inet(int fd)
{
    int domain = 0;
    return getsockopt_int(fd, CK_SOL_SOCKET, CK_SO_DOMAIN, &domain) == 0 &&
           (domain == CK_AF_INET || domain == CK_AF_INET6);
}

/* ======================================================================================
 * save side: runs in the checkpoint signal handler, raw syscalls only
 * ====================================================================================== */

/* The options of fd that shape the new socket, into r. */
static void save_options(int fd, struct ckpt_inet_record *r)
{
    static const struct {
        int level, name;
        uint32_t bit;
    } opts[] = {
        {CK_SOL_SOCKET, CK_SO_REUSEADDR, CKPT_INETO_REUSEADDR},
        {CK_SOL_SOCKET, CK_SO_REUSEPORT, CKPT_INETO_REUSEPORT},
        {CK_SOL_SOCKET, CK_SO_KEEPALIVE, CKPT_INETO_KEEPALIVE},
        {CK_SOL_SOCKET, CK_SO_BROADCAST, CKPT_INETO_BROADCAST},
        {CK_IPPROTO_IPV6, CK_IPV6_V6ONLY, CKPT_INETO_V6ONLY},
        {CK_IPPROTO_TCP, CK_TCP_NODELAY, CKPT_INETO_NODELAY},
    };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        int v = 0;
        if (opts[i].bit == CKPT_INETO_V6ONLY && r->family != CK_AF_INET6)
            continue;
        if (opts[i].bit == CKPT_INETO_NODELAY && r->type != CKPT_SOCK_STREAM)
            continue;
        if (getsockopt_int(fd, opts[i].level, opts[i].name, &v) == 0 && v)
            r->options |= opts[i].bit;
    }
    struct ck_linger l = {0, 0};
    int len = sizeof l;
    r->linger =
        sys_call5(__NR_getsockopt, fd, CK_SOL_SOCKET, CK_SO_LINGER, SYS_L(&l), SYS_L(&len)) == 0 &&
                l.on
            ? l.secs
            : -1;
    int v = 0;
    r->sndbuf = getsockopt_int(fd, CK_SOL_SOCKET, CK_SO_SNDBUF, &v) == 0 ? (uint32_t)v : 0;
    r->rcvbuf = getsockopt_int(fd, CK_SOL_SOCKET, CK_SO_RCVBUF, &v) == 0 ? (uint32_t)v : 0;
}

/* What the process's other descriptors say about the peer of a TCP connection. */
struct peer_search {
    long slot;       /* the other end (its lowest descriptor's slot), or -1 */
    int listener_fd; /* a listener of the process that takes the peer's address, or -1 */
};

/* A socket of the program's environment (0, 1, 2, inherited): taken from restore-run, so
 * not an end the restore can connect again. */
static int of_environment(const struct fd_save_ctx *c, int fd)
{
    uint32_t flags, origin = c->args && c->args->origin_of ? c->args->origin_of(fd, &flags) : 0;
    return fds_from_environment(fd, CKPT_FD_INET, origin);
}

static void find_peer(const struct fd_save_ctx *c, const struct ckpt_inet_record *r,
                      struct peer_search *s)
{
    s->slot = -1;
    s->listener_fd = -1;
    for (size_t j = 0; j < c->nslots; j++) {
        int fd = c->slots[j].fd;
        if (of_environment(c, fd))
            continue; /* a connection to it is one to outside */
        struct kstat st;
        uint8_t local[CKPT_INET_ADDR_LEN], peer[CKPT_INET_ADDR_LEN];
        if (j == c->done || c->slots[j].shares_with >= 0 || sys_fstat(fd, &st) != 0 ||
            !CK_S_IS(st.st_mode, CK_S_IFSOCK) || !fd_inet_is_inet(fd))
            continue;
        int type = 0, family = 0;
        getsockopt_int(fd, CK_SOL_SOCKET, CK_SO_TYPE, &type);
        getsockopt_int(fd, CK_SOL_SOCKET, CK_SO_DOMAIN, &family);
        if (type != CK_SOCK_STREAM || (uint32_t)family != r->family ||
            socket_address(fd, __NR_getsockname, local) < 0)
            continue;
        if (socket_address(fd, __NR_getpeername, peer) >= 0) {
            if (same_address(local, r->peer, r->family) && same_address(peer, r->local, r->family))
                s->slot = (long)j;
            continue;
        }
        struct ck_tcp_info_head ti;
        int len = sizeof ti;
        if (sys_call5(__NR_getsockopt, fd, CK_IPPROTO_TCP, CK_TCP_INFO, SYS_L(&ti), SYS_L(&len)) ==
                0 &&
            ti.state == TCPS_LISTEN && listener_takes(local, r->peer, r->family))
            s->listener_fd = fd;
    }
}

/* Reads fd's receive queue into buf without consuming it (SO_PEEK_OFF, if the program set
 * it, is turned off for that and put back). */
static int peek_stream_queue(int fd, char *buf, struct ckpt_inet_record *r, struct ck_error *err)
{
    int queued = 0;
    long rc = sys_ioctl(fd, CK_SIOCINQ, &queued);
    if (rc < 0)
        return ck_fail(err, (int)rc, "descriptor %d: the size of its queue: %s", fd,
                       ck_strerror((int)-rc));
    if ((unsigned long)queued > INET_QUEUE_MAX)
        return ck_fail(err, -1, "descriptor %d: more than %lu MiB are queued on it", fd,
                       INET_QUEUE_MAX >> 20);
    if (queued == 0)
        return 0;
    int own = -1;
    getsockopt_int(fd, CK_SOL_SOCKET, CK_SO_PEEK_OFF, &own);
    if (own >= 0)
        setsockopt_int(fd, CK_SOL_SOCKET, CK_SO_PEEK_OFF, -1);
    long n = sys_call6(__NR_recvfrom, fd, SYS_L(buf), queued, CK_MSG_PEEK | CK_MSG_DONTWAIT, 0, 0);
    if (own >= 0)
        setsockopt_int(fd, CK_SOL_SOCKET, CK_SO_PEEK_OFF, own);
    if (n != queued)
        return ck_fail(err, -1, "descriptor %d: reading the %d bytes queued on it: %s", fd, queued,
                       n < 0 ? ck_strerror((int)-n) : "fewer came");
    r->bytes = (uint64_t)n;
    return 0;
}

static int save_queue(struct fd_save_ctx *c, int fd, struct ckpt_inet_record *r,
                      struct ck_error *err)
{
    char *buf = sys_mmap(0, INET_QUEUE_MAX, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (sys_mmap_failed(buf))
        return ck_fail(err, -1, "descriptor %d: room for its queue: %s", fd,
                       ck_strerror(-(int)(long)buf));
    int rc = peek_stream_queue(fd, buf, r, err);
    if (rc == 0)
        iw_extent(c->w, &r->extent, buf, CK_PAGE_UP(r->bytes));
    sys_munmap(buf, INET_QUEUE_MAX);
    if (rc == 0 && c->w->error)
        return ck_fail(err, c->w->error, "the %lu bytes queued on descriptor %d: %s",
                       (unsigned long)r->bytes, fd, ck_strerror(-c->w->error));
    return rc;
}

/* A connected TCP socket: within the process, or to outside (restored as closed by its peer).
 * NULL, or why it cannot be saved. */
static const char *classify_connection(const struct fd_save_ctx *c, int fd, int tcp_state,
                                       struct ckpt_inet_record *r)
{
    if (tcp_state == TCPS_SYN_SENT || tcp_state == TCPS_SYN_RECV)
        return "is still connecting (SYN_SENT): checkpoint again once it is connected";
    struct peer_search s;
    find_peer(c, r, &s);
    if (s.slot < 0 && s.listener_fd >= 0)
        return "is connected to a listener of the process that has not accepted it yet";
    if (s.slot < 0) {
        r->state = CKPT_INET_CLOSED_BY_PEER;
        return 0;
    }
    if (tcp_state != TCPS_ESTABLISHED)
        return "is a connection within the process that was shut down (shutdown(2) or close "
               "of one end)";
    int unsent = 0;
    if (sys_ioctl(fd, CK_SIOCOUTQNSD, &unsent) == 0 && unsent > 0)
        return "has sent bytes its other end in the process has not received yet (its receive "
               "buffer is full)";
    r->state = CKPT_INET_CONNECTED_HERE;
    r->peer_fd = c->slots[s.slot].fd;
    return 0;
}

/* The state of a TCP socket from TCP_INFO; NULL or why it cannot be saved. */
static const char *classify_tcp(const struct fd_save_ctx *c, int fd, struct ckpt_inet_record *r,
                                int connected)
{
    struct ck_tcp_info_head ti;
    int len = sizeof ti;
    if (sys_call5(__NR_getsockopt, fd, CK_IPPROTO_TCP, CK_TCP_INFO, SYS_L(&ti), SYS_L(&len)) < 0)
        return "does not say its TCP state (TCP_INFO)";
    if (ti.state == TCPS_LISTEN) {
        /* What the program asked for, as the shim saw it, so that the machine restored on
         * caps it by its own somaxconn as a fresh start would; else the backlog in effect
         * (a listener's sk_max_ack_backlog). */
        int asked = c->args && c->args->listen_backlog_of ? c->args->listen_backlog_of(fd) : -1;
        r->state = CKPT_INET_LISTENING;
        r->backlog = asked >= 0 ? (uint32_t)asked : ti.sacked < 65535 ? ti.sacked : 65535;
        return 0;
    }
    if (connected || ti.state != TCPS_CLOSE)
        return classify_connection(c, fd, ti.state, r);
    r->state = addr_port(r->local) ? CKPT_INET_BOUND : CKPT_INET_UNBOUND;
    return 0;
}

/* The socket's family, type and protocol, if ckpt restores it: NULL, or why not. */
static const char *check_protocol(int fd, struct ckpt_inet_record *r)
{
    int family = 0, type = 0, protocol = 0;
    if (getsockopt_int(fd, CK_SOL_SOCKET, CK_SO_DOMAIN, &family) < 0 ||
        getsockopt_int(fd, CK_SOL_SOCKET, CK_SO_TYPE, &type) < 0 ||
        getsockopt_int(fd, CK_SOL_SOCKET, CK_SO_PROTOCOL, &protocol) < 0)
        return "does not say its type";
    r->family = (uint16_t)family;
    if (type == CK_SOCK_STREAM && protocol == CK_IPPROTO_TCP)
        r->type = CKPT_SOCK_STREAM;
    else if (type == CK_SOCK_DGRAM && protocol == CK_IPPROTO_UDP)
        r->type = CKPT_SOCK_DGRAM;
    else
        return type == 3 ? "is a raw socket" : "is neither TCP nor UDP";
    return 0;
}

static int inet_save(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                     struct ck_error *err)
{
    if (fds_from_environment(fd, CKPT_FD_INET, c->slots[c->done].origin))
        return 0; /* taken from restore-run: no record */
    struct ckpt_inet_record *r = iw_record(c->w, CKPT_REC_INET, sizeof *r, 0);
    if (!r)
        return ck_fail(err, c->w->error, "image metadata: %s", ck_strerror(-c->w->error));
    r->file = f->head.id;
    r->peer_fd = -1;
    const char *why = check_protocol(fd, r);
    long got = why ? 0 : socket_address(fd, __NR_getsockname, r->local);
    if (!why && got < 0)
        why = "does not say its address (getsockname)";
    int connected = !why && socket_address(fd, __NR_getpeername, r->peer) >= 0;
    if (!why) {
        save_options(fd, r);
        if (r->type == CKPT_SOCK_DGRAM)
            r->state = connected                  ? CKPT_INET_CONNECTED
                       : addr_port(r->local) != 0 ? CKPT_INET_BOUND
                                                  : CKPT_INET_UNBOUND;
        else
            why = classify_tcp(c, fd, r, connected);
    }
    if (why)
        return ck_fail(err, -1,
                       "descriptor %d is an %s socket (%s) that %s; ckpt restores TCP and UDP "
                       "sockets that are bound, listening or connected",
                       fd, r->family == CK_AF_INET6 ? "IPv6" : "IPv4", f->path, why);
    if (r->state == CKPT_INET_CONNECTED_HERE || r->state == CKPT_INET_CLOSED_BY_PEER)
        return save_queue(c, fd, r, err);
    iw_extent(c->w, &r->extent, r, 0); /* no queue: an empty extent where the data stands */
    return 0;
}

/* ======================================================================================
 * check side: restore-run phase 1
 * ====================================================================================== */

/* The INET record of a descriptor's plan, or NULL (a socket of the environment). */
static const struct ckpt_inet_record *inet_of(const struct fd_plan *fp)
{
    return fp->detail && fp->detail->kind == CKPT_REC_INET ? (const void *)fp->detail : 0;
}

/* An INET socket is made again, never taken from restore-run, whatever its number. */
static void inet_prepare(const struct restore_plan *p, struct fd_plan *fp)
{
    (void)p;
    if (inet_of(fp))
        fp->inherit = 0;
}

static int new_socket(const struct ckpt_inet_record *r)
{
    int protocol = r->type == CKPT_SOCK_STREAM ? CK_IPPROTO_TCP : CK_IPPROTO_UDP;
    int type = r->type == CKPT_SOCK_STREAM ? CK_SOCK_STREAM : CK_SOCK_DGRAM;
    return (int)sys_call3(__NR_socket, r->family, type | CK_SOCK_CLOEXEC, protocol);
}

/* A buffer size that differs from the new socket's: set (the kernel doubles what it is
 * given). One that does not is left alone, so that TCP still tunes it by itself (setting a
 * size fixes it); a privileged size may be capped: the buffers only need to hold what is
 * put back, which the sends check. */
static void set_buffer_size(int s, int name, uint32_t size)
{
    int now = 0;
    if (size && getsockopt_int(s, CK_SOL_SOCKET, name, &now) == 0 && (uint32_t)now != size)
        setsockopt_int(s, CK_SOL_SOCKET, name, (int)(size / 2));
}

/* The recorded options onto s; before bind, so that SO_REUSE* and IPV6_V6ONLY count. An
 * accepted socket keeps the scratch listener's IPV6_V6ONLY, which cannot change once
 * connected, and its SO_REUSEADDR, which a connected socket has no use for, so that the
 * program's listener at its port can still be bound beside it. */
static long apply_options(int s, const struct ckpt_inet_record *r, int accepted)
{
    long rc = accepted ? 0
                       : setsockopt_int(s, CK_SOL_SOCKET, CK_SO_REUSEADDR,
                                        !!(r->options & CKPT_INETO_REUSEADDR));
    if (!rc && (r->options & CKPT_INETO_REUSEPORT))
        rc = setsockopt_int(s, CK_SOL_SOCKET, CK_SO_REUSEPORT, 1);
    if (!rc && r->family == CK_AF_INET6 && !accepted)
        rc = setsockopt_int(s, CK_IPPROTO_IPV6, CK_IPV6_V6ONLY, !!(r->options & CKPT_INETO_V6ONLY));
    if (!rc && r->type == CKPT_SOCK_STREAM)
        rc = setsockopt_int(s, CK_IPPROTO_TCP, CK_TCP_NODELAY, !!(r->options & CKPT_INETO_NODELAY));
    if (!rc)
        rc = setsockopt_int(s, CK_SOL_SOCKET, CK_SO_KEEPALIVE,
                            !!(r->options & CKPT_INETO_KEEPALIVE));
    if (!rc && (r->options & CKPT_INETO_BROADCAST))
        rc = setsockopt_int(s, CK_SOL_SOCKET, CK_SO_BROADCAST, 1);
    if (!rc && r->linger >= 0) {
        struct ck_linger l = {1, r->linger};
        rc = sys_call5(__NR_setsockopt, s, CK_SOL_SOCKET, CK_SO_LINGER, SYS_L(&l), sizeof l);
    }
    if (!rc)
        set_buffer_size(s, CK_SO_SNDBUF, r->sndbuf);
    if (!rc)
        set_buffer_size(s, CK_SO_RCVBUF, r->rcvbuf);
    return rc;
}

static long bind_to(int s, const uint8_t *addr, uint32_t family)
{
    return sys_call3(__NR_bind, s, SYS_L(addr), addr_len(family));
}

/* connect(2), for a TCP socket waiting at most 2 s: a scratch listener on loopback
 * answers at once, unless another user filled its queue in the moment it was open, and
 * restore-run never waits on what another user controls. The socket is left blocking. */
static long connect_to(int s, const uint8_t *addr, uint32_t family)
{
    sys_fcntl(s, F_SETFL, O_NONBLOCK);
    long rc = sys_call3(__NR_connect, s, SYS_L(addr), addr_len(family));
    if (rc == -EINPROGRESS) {
        struct ck_pollfd pfd = {s, CK_POLLOUT, 0};
        struct ck_timespec ts = {2, 0};
        long n = sys_call5(__NR_ppoll, SYS_L(&pfd), 1, SYS_L(&ts), 0, 0);
        int soerr = 0;
        rc = n < 0                                                       ? n
             : n == 0                                                    ? -ETIMEDOUT
             : getsockopt_int(s, CK_SOL_SOCKET, CK_SO_ERROR, &soerr) < 0 ? -EINVAL
                                                                         : -(long)soerr;
    }
    sys_fcntl(s, F_SETFL, 0);
    return rc;
}

static int refuse(const struct fd_plan *fp, const struct ckpt_inet_record *r, const char *doing,
                  const uint8_t *addr, long rc, struct ck_error *err)
{
    char a[80];
    format_address(a, sizeof a, addr, r->family);
    /* Without SO_REUSEADDR a listener's port stays taken by connections of its own that
     * the dead original closed first, until TIME_WAIT ends, as for a restarted program. */
    int time_wait = rc == -EADDRINUSE && r->state == CKPT_INET_LISTENING &&
                    !(r->options & CKPT_INETO_REUSEADDR);
    return ck_fail(err, -1, "%s fd %d (%s %s): %s%s", doing, fp->rec->fd, inet_what(r), a,
                   ck_strerror((int)-rc),
                   time_wait ? " (the listener has no SO_REUSEADDR: if connections of its own "
                               "are in TIME_WAIT there, the port is free within a minute)"
                             : "");
}

/* A new socket with the options, bound as it was; a listener binds and listens with
 * SO_REUSEADDR on, then gets its own value. The socket or -1 (err). */
static int make_bound(const struct fd_plan *fp, const struct ckpt_inet_record *r,
                      struct ck_error *err)
{
    int s = new_socket(r);
    if (s < 0)
        return refuse(fp, r, "making", r->local, s, err);
    long rc = apply_options(s, r, 0);
    int listener = r->state == CKPT_INET_LISTENING;
    if (!rc && listener)
        rc = setsockopt_int(s, CK_SOL_SOCKET, CK_SO_REUSEADDR, 1);
    if (rc) {
        sys_close(s);
        return refuse(fp, r, "setting the options of", r->local, rc, err);
    }
    int bound = r->state != CKPT_INET_UNBOUND && r->state != CKPT_INET_CLOSED_BY_PEER;
    if (bound && r->state != CKPT_INET_CONNECTED_HERE && (rc = bind_to(s, r->local, r->family))) {
        sys_close(s);
        return refuse(fp, r, "re-binding", r->local, rc, err);
    }
    if (listener && (rc = sys_call2(__NR_listen, s, (long)r->backlog))) {
        sys_close(s);
        return refuse(fp, r, "listening again on", r->local, rc, err);
    }
    if (listener)
        setsockopt_int(s, CK_SOL_SOCKET, CK_SO_REUSEADDR, !!(r->options & CKPT_INETO_REUSEADDR));
    return s;
}

/* The stored queue is whole (its checksum). */
static int check_queue(const struct restore_plan *p, const struct fd_plan *fp,
                       const struct ckpt_inet_record *r, struct ck_error *err)
{
    if (ck_hash64(p->view.base + r->extent.file_offset, r->extent.length) != r->extent.checksum)
        return ck_fail(err, -1,
                       "checksum mismatch in the data queued on descriptor %d (corrupted image)",
                       fp->rec->fd);
    return 0;
}

/* Sends r's queue from `from` to the socket of fp; all of it, or a refusal. */
static int refill(const struct restore_plan *p, const struct fd_plan *fp,
                  const struct ckpt_inet_record *r, int from, struct ck_error *err)
{
    const unsigned char *data = p->view.base + r->extent.file_offset;
    for (uint64_t at = 0; at < r->bytes;) {
        long n = sys_call6(__NR_sendto, from, SYS_L(data + at), r->bytes - at,
                           CK_MSG_DONTWAIT | CK_MSG_NOSIGNAL, 0, 0);
        if (n <= 0)
            return ck_fail(err, -1,
                           "descriptor %d: putting back the %lu bytes queued on it: %s (the new "
                           "socket's buffers are smaller than they were)",
                           fp->rec->fd, (unsigned long)r->bytes,
                           ck_strerror(n < 0 ? (int)-n : EAGAIN));
        at += (uint64_t)n;
    }
    return 0;
}

/* Accepts from listener l the connection from address from (others that came in the
 * meantime are closed: the program was not running to take them). The socket or -errno. */
static long accept_from(int l, const uint8_t *from, uint32_t family)
{
    for (int tries = 0; tries < 64; tries++) {
        struct ck_pollfd pfd = {l, CK_POLLIN, 0};
        struct ck_timespec ts = {2, 0};
        long rc = sys_call5(__NR_ppoll, SYS_L(&pfd), 1, SYS_L(&ts), 0, 0);
        if (rc <= 0)
            return rc < 0 ? rc : -ETIMEDOUT;
        uint8_t a[CKPT_INET_ADDR_LEN] = {0};
        int len = sizeof a;
        long s = sys_call4(__NR_accept4, l, SYS_L(a), SYS_L(&len), CK_SOCK_CLOEXEC);
        if (s < 0 && s != -EAGAIN && s != -ECONNABORTED)
            return s;
        if (s >= 0 && same_address(a, from, family))
            return s;
        if (s >= 0)
            sys_close((int)s);
    }
    return -EAGAIN;
}

/* A scratch listener of r's family: at addr, or on loopback port 0 (addr NULL). */
static int scratch_listener(const struct ckpt_inet_record *r, const uint8_t *addr, uint8_t *where)
{
    uint8_t any[CKPT_INET_ADDR_LEN] = {0};
    any[0] = (uint8_t)r->family;
    if (r->family == CK_AF_INET) {
        any[4] = 127, any[7] = 1;
    } else {
        any[23] = 1;
    }
    const uint8_t *at = addr ? addr : any;
    int s = (int)sys_call3(__NR_socket, r->family, CK_SOCK_STREAM | CK_SOCK_CLOEXEC, 0);
    if (s < 0)
        return s;
    long rc = setsockopt_int(s, CK_SOL_SOCKET, CK_SO_REUSEADDR, 1);
    if (!rc)
        rc = bind_to(s, at, r->family);
    if (!rc)
        rc = sys_call2(__NR_listen, s, 8);
    if (!rc)
        rc = socket_address(s, __NR_getsockname, where) < 0 ? -EINVAL : 0;
    if (rc) {
        sys_close(s);
        return (int)rc;
    }
    return s;
}

/* A connection to outside, back as closed by its peer: a scratch peer on loopback sends the
 * queued bytes and closes; the socket is shut down for writing (writes fail with EPIPE). */
static int plan_closed_by_peer(struct restore_plan *p, struct fd_plan *fp,
                               const struct ckpt_inet_record *r, struct ck_error *err)
{
    if (check_queue(p, fp, r, err))
        return -1;
    uint8_t where[CKPT_INET_ADDR_LEN], mine[CKPT_INET_ADDR_LEN];
    int l = scratch_listener(r, 0, where);
    if (l < 0)
        return refuse(fp, r, "making a loopback peer for", r->peer, l, err);
    int s = make_bound(fp, r, err);
    long rc = s < 0 ? -1 : connect_to(s, where, r->family);
    if (s >= 0 && rc == 0)
        rc = socket_address(s, __NR_getsockname, mine) < 0 ? -EINVAL : 0;
    long peer = rc ? rc : accept_from(l, mine, r->family);
    sys_close(l);
    if (s < 0 || peer < 0) {
        if (s >= 0)
            sys_close(s);
        return s < 0 ? -1 : refuse(fp, r, "connecting to a loopback peer", r->peer, peer, err);
    }
    int failed = refill(p, fp, r, (int)peer, err);
    sys_close((int)peer); /* its FIN follows the bytes */
    rc = failed ? 0 : sys_call2(__NR_shutdown, s, CK_SHUT_WR);
    if (failed || rc) {
        sys_close(s);
        return failed ? -1 : refuse(fp, r, "shutting down", r->peer, rc, err);
    }
    return fd_event_keep(p, fp, s, "its socket", err);
}

/* The plan of the lowest descriptor fd, or NULL. */
static struct fd_plan *plan_of_fd(struct restore_plan *p, int32_t fd)
{
    for (uint32_t i = 0; i < p->nfds; i++)
        if (p->fds[i].rec->fd == fd && p->fds[i].shares_with < 0)
            return &p->fds[i];
    return 0;
}

/* The INET record of a socket the restore makes (not inherited, the lowest descriptor of
 * its file), or NULL. */
static const struct ckpt_inet_record *made_inet(const struct fd_plan *fp)
{
    if (fp->shares_with >= 0 || fp->inherit || fp->file->kind != CKPT_FD_INET)
        return 0;
    return inet_of(fp);
}

/* The image has a listener that takes connections to addr. */
static int image_listens_at(const struct restore_plan *p, const uint8_t *addr, uint32_t family)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct ckpt_inet_record *r = made_inet(&p->fds[i]);
        if (r && r->state == CKPT_INET_LISTENING && r->family == family &&
            listener_takes(r->local, addr, family))
            return 1;
    }
    return 0;
}

/* The two ends of a connection within the process, each with its record. */
struct conn_ends {
    struct fd_plan *fp[2]; /* 0: the server end (accepted), 1: the client end */
    const struct ckpt_inet_record *r[2];
};

/* Connects the client end (bound to its old address, else anywhere) to listener l at addr
 * and accepts the server end from it; 0 with s[0], s[1], or -errno. */
static long connect_ends(const struct conn_ends *e, int l, const uint8_t *addr, int s[2])
{
    uint8_t mine[CKPT_INET_ADDR_LEN];
    const struct ckpt_inet_record *client = e->r[1];
    for (int attempt = 0; attempt < 2; attempt++) {
        s[1] = new_socket(client);
        long rc = s[1] < 0 ? s[1] : apply_options(s[1], client, 0);
        if (!rc && attempt == 0) { /* its old address: its TIME_WAIT is the program's own */
            setsockopt_int(s[1], CK_SOL_SOCKET, CK_SO_REUSEADDR, 1);
            rc = bind_to(s[1], client->local, client->family);
        }
        if (!rc)
            rc = connect_to(s[1], addr, client->family);
        if (!rc)
            rc = socket_address(s[1], __NR_getsockname, mine) < 0 ? -EINVAL : 0;
        if (!rc) {
            setsockopt_int(s[1], CK_SOL_SOCKET, CK_SO_REUSEADDR,
                           !!(client->options & CKPT_INETO_REUSEADDR));
            long a = accept_from(l, mine, client->family);
            if (a >= 0) {
                s[0] = (int)a;
                return apply_options(s[0], e->r[0], 1);
            }
            rc = a;
        }
        if (s[1] >= 0)
            sys_close(s[1]);
        if (rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM || attempt == 1)
            return rc;
    }
    return -EINVAL;
}

/* Makes both ends of a connection within the process: the client connects to a scratch
 * listener at the server end's address (before the program's own listener there is made,
 * so that nothing is taken from that one's queue) and the server end is accepted from it. */
static int plan_connection(struct restore_plan *p, struct conn_ends *e, struct ck_error *err)
{
    for (int i = 0; i < 2; i++)
        if (check_queue(p, e->fp[i], e->r[i], err))
            return -1;
    if (image_listens_at(p, e->r[1]->local, e->r[1]->family) &&
        !image_listens_at(p, e->r[0]->local, e->r[0]->family)) { /* the other way round */
        struct conn_ends t = {{e->fp[1], e->fp[0]}, {e->r[1], e->r[0]}};
        *e = t;
    }
    const struct ckpt_inet_record *server = e->r[0];
    uint8_t where[CKPT_INET_ADDR_LEN];
    int scratch = scratch_listener(server, server->local, where);
    if (scratch < 0)
        scratch = scratch_listener(server, 0, where); /* its address is taken: anywhere */
    if (scratch < 0)
        return refuse(e->fp[0], server, "re-binding", server->local, scratch, err);
    int s[2] = {-1, -1};
    long rc = connect_ends(e, scratch, where, s);
    sys_close(scratch);
    if (rc)
        return refuse(e->fp[1], e->r[1], "connecting again", server->local, rc, err);
    for (int i = 0; i < 2; i++)
        if (!rc && refill(p, e->fp[i], e->r[i], s[1 - i], err))
            rc = -1;
    for (int i = 0; i < 2; i++) {
        if (rc) {
            sys_close(s[i]);
            continue;
        }
        rc = fd_event_keep(p, e->fp[i], s[i], "its socket", err);
    }
    return rc ? -1 : 0;
}

/* A connection within the process, made with its other end when the first is planned. */
static int plan_pair(struct restore_plan *p, struct fd_plan *fp, const struct ckpt_inet_record *r,
                     struct ck_error *err)
{
    if (fp->temp_fd >= 0)
        return 0; /* made with its other end */
    struct fd_plan *other = plan_of_fd(p, r->peer_fd);
    const struct ckpt_inet_record *o = other ? made_inet(other) : 0;
    if (!o || other == fp || o->state != CKPT_INET_CONNECTED_HERE || o->peer_fd != fp->rec->fd ||
        o->family != r->family || !same_address(o->local, r->peer, r->family) ||
        !same_address(o->peer, r->local, r->family))
        return ck_fail(err, -1,
                       "descriptor %d: the other end of its TCP connection, descriptor %d, is "
                       "not in the image as its other end",
                       fp->rec->fd, r->peer_fd);
    struct conn_ends e = {{fp, other}, {r, o}};
    return plan_connection(p, &e, err);
}

/* Before a listener binds: the connections within the process whose server end has its
 * address (accepted from it), each made on a scratch listener there. */
static int plan_pairs_at(struct restore_plan *p, const struct ckpt_inet_record *l,
                         struct ck_error *err)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        struct fd_plan *fp = &p->fds[i];
        const struct ckpt_inet_record *r = made_inet(fp);
        if (r && r->state == CKPT_INET_CONNECTED_HERE && fp->temp_fd < 0 &&
            r->family == l->family && listener_takes(l->local, r->local, l->family) &&
            plan_pair(p, fp, r, err))
            return -1;
    }
    return 0;
}

static int inet_plan(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    const struct ckpt_inet_record *r = inet_of(fp);
    if (!r)
        return ck_fail(err, -1, "descriptor %d is a TCP or UDP socket without its INET record",
                       fp->rec->fd);
    if (r->state == CKPT_INET_CONNECTED_HERE)
        return plan_pair(p, fp, r, err);
    if (r->state == CKPT_INET_CLOSED_BY_PEER)
        return plan_closed_by_peer(p, fp, r, err);
    if (r->state == CKPT_INET_LISTENING && plan_pairs_at(p, r, err))
        return -1;
    int s = make_bound(fp, r, err);
    if (s < 0)
        return -1;
    long rc = r->state == CKPT_INET_CONNECTED ? connect_to(s, r->peer, r->family) : 0;
    if (rc) {
        sys_close(s);
        return refuse(fp, r, "connecting", r->peer, rc, err);
    }
    return fd_event_keep(p, fp, s, "its socket", err);
}

/* The restore core has nothing more to do: the descriptor is on its number. */
FD_NOTHING_TO_RESTORE(INET)

const struct fd_kind_ops fd_ops_INET = {
    .kind = CKPT_FD_INET,
    .name = "TCP or UDP socket",
    .environment = 1,
    .save = inet_save,
    .prepare = inet_prepare,
    .plan = inet_plan,
};

/* ---- the validator's checks of INET records (image_check.h) ------------------------------ */

/* An address of the family with its family field. */
static int address_ok(const uint8_t *a, uint32_t family, int zero_ok)
{
    uint16_t f;
    ck_memcpy(&f, a, 2);
    if (f == 0 && zero_ok)
        return 1;
    if (f != family)
        return 0;
    for (uint32_t i = addr_len(family); i < CKPT_INET_ADDR_LEN; i++)
        if (a[i])
            return 0;
    return 1;
}

int check_inet(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
               struct ck_error *err)
{
    (void)v;
    const struct ckpt_inet_record *s = (const void *)r;
    const struct ckpt_file_record *f = image_detail_of(w, s->file, CKPT_FD_INET, 0);
    if (!f)
        return ck_fail(err, -1, "inet record without its file record (file %u)", s->file);
    int stream = s->type == CKPT_SOCK_STREAM, connection = s->state >= CKPT_INET_CONNECTED_HERE;
    if ((s->family != CK_AF_INET && s->family != CK_AF_INET6) ||
        (!stream && s->type != CKPT_SOCK_DGRAM) || s->state >= CKPT_INET_NSTATES ||
        (s->state == CKPT_INET_CONNECTED) == stream ||
        (!stream && (s->state == CKPT_INET_LISTENING || connection)))
        return ck_fail(err, -1, "socket %u (%s): invalid family %u, type %u or state %u", s->file,
                       f->path, s->family, s->type, s->state);
    int has_peer = s->state == CKPT_INET_CONNECTED || connection;
    if (!address_ok(s->local, s->family, 0) || !address_ok(s->peer, s->family, !has_peer) ||
        (has_peer && !addr_port(s->peer)) ||
        (s->state != CKPT_INET_UNBOUND && s->state != CKPT_INET_CLOSED_BY_PEER &&
         !addr_port(s->local)))
        return ck_fail(err, -1, "socket %u (%s) has an invalid address", s->file, f->path);
    if ((s->options & ~CKPT_INETO_ALL) || s->linger < -1 || s->backlog > 65535 ||
        (s->peer_fd != -1) != (s->state == CKPT_INET_CONNECTED_HERE) || s->peer_fd < -1 ||
        s->reserved0)
        return ck_fail(err, -1, "socket %u (%s) has invalid options", s->file, f->path);
    if (s->extent.length != CK_PAGE_UP(s->bytes) || s->bytes > INET_QUEUE_MAX ||
        (s->bytes && !connection))
        return ck_fail(err, -1, "the queue of socket %u (%s) is malformed", s->file, f->path);
    return 0;
}

IMAGE_NOTHING_TO_COMPLETE(inet)
