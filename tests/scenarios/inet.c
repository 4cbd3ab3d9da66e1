/* inet: TCP and UDP sockets of a program, over a checkpoint, a kill and a restore.
 *
 * Usage: inet loopback4|loopback6 [STEPS]
 *           A TCP listener on loopback (port 0, for IPv4 SO_REUSEADDR, for IPv6 IPV6_V6ONLY
 *           and no SO_REUSEADDR, a 64 KiB receive buffer) and a connection from the process to it
 * (client end TCP_NODELAY and non-blocking, server end SO_KEEPALIVE and SO_LINGER 5) with 6
 *           messages queued each way at every moment: each step sends the next message
 *           each way and receives the oldest, which must be the next of its direction's
 *           sequence. Beside them a pair of UDP sockets bound on loopback and connected to
 *           each other exchange a datagram each way per step. Every 10 steps a new client
 *           connects to the listener and gets an answer. Each step says whether the
 *           addresses and options are still those of the start (the listener's port, both
 *           ends' addresses, the options, O_NONBLOCK, the buffer sizes).
 *        inet serve DIR
 *           A TCP server on 127.0.0.1 (port 0, written to DIR/port) for the clients of
 *           run-net-scenario.sh: each line "GET WORD" is answered "WORD has N letters
 *           (request R)"; a client's bytes are only consumed line by line (peeked until a
 *           line is whole), so a partial line stays queued in the kernel; a client that ends
 *           is reported with what it had left unanswered, and "QUIT" ends the server. It
 *           listens with a backlog of 5000, above the kernel's cap (somaxconn). What
 *           a write after the end of file gives goes to stderr. */
#include "messages.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/* Exactly the bytes of message k of direction dir (a stream: it may come in pieces). */
static unsigned long long recv_msg(int fd, unsigned dir, unsigned long k, unsigned long long h)
{
    unsigned char buf[MAX_MSG];
    size_t n = msg_len(dir, k), got = 0;
    while (got < n) {
        struct pollfd p = {fd, POLLIN, 0};
        poll(&p, 1, 2000);
        ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
        if (r <= 0)
            fail("message %lu of direction %u: %zd (%s)\n", k, dir, r, r ? strerror(errno) : "eof");
        got += (size_t)r;
    }
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != msg_byte(dir, k, i))
            fail("message %lu of direction %u: byte %zu differs\n", k, dir, i);
        h = fnv_mix(h, buf[i]);
    }
    return h;
}

struct sa {
    struct sockaddr_storage a;
    socklen_t len;
};

static struct sa name_of(int fd, int peer)
{
    struct sa s = {.len = sizeof s.a};
    memset(&s.a, 0, sizeof s.a);
    if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&s.a, &s.len) < 0)
        fail("get%sname: %s\n", peer ? "peer" : "sock", strerror(errno));
    return s;
}

static int same(struct sa x, struct sa y)
{
    return x.len == y.len && memcmp(&x.a, &y.a, x.len) == 0;
}

static int opt(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    if (getsockopt(fd, level, name, &v, &len) < 0)
        fail("getsockopt %d: %s\n", name, strerror(errno));
    return v;
}

static void set(int fd, int level, int name, int v)
{
    if (setsockopt(fd, level, name, &v, sizeof v) < 0)
        fail("setsockopt %d: %s\n", name, strerror(errno));
}

static struct sa loopback(int family)
{
    struct sa s = {.len = family == AF_INET ? sizeof(struct sockaddr_in)
                                            : sizeof(struct sockaddr_in6)};
    memset(&s.a, 0, sizeof s.a);
    if (family == AF_INET) {
        struct sockaddr_in *a = (void *)&s.a;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else {
        struct sockaddr_in6 *a = (void *)&s.a;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
    }
    return s;
}

static int make(int family, int type, struct sa *bind_to)
{
    int fd = socket(family, type | SOCK_CLOEXEC, 0);
    if (fd < 0 || (bind_to && bind(fd, (struct sockaddr *)&bind_to->a, bind_to->len) < 0))
        fail("socket or bind: %s\n", strerror(errno));
    return fd;
}

/* What the program set up at the start, to compare each step with. */
struct setup {
    int family, listener, client, server, udp[2];
    struct sa at, client_at, server_at, udp_at[2];
    int rcvbuf, client_sndbuf;
};

static void setup_sockets(struct setup *s, int family)
{
    s->family = family;
    struct sa lo = loopback(family);
    s->listener = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    set(s->listener, SOL_SOCKET, SO_REUSEADDR, family == AF_INET); /* both ways */
    set(s->listener, SOL_SOCKET, SO_RCVBUF, 32768);
    if (family == AF_INET6)
        set(s->listener, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    if (bind(s->listener, (struct sockaddr *)&lo.a, lo.len) < 0 || listen(s->listener, 16) < 0)
        fail("listener: %s\n", strerror(errno));
    s->at = name_of(s->listener, 0);
    s->client = make(family, SOCK_STREAM, 0);
    set(s->client, IPPROTO_TCP, TCP_NODELAY, 1);
    if (connect(s->client, (struct sockaddr *)&s->at.a, s->at.len) < 0)
        fail("connect: %s\n", strerror(errno));
    s->server = accept4(s->listener, 0, 0, SOCK_CLOEXEC);
    if (s->server < 0)
        fail("accept: %s\n", strerror(errno));
    set(s->server, SOL_SOCKET, SO_KEEPALIVE, 1);
    struct linger l = {1, 5};
    setsockopt(s->server, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    fcntl(s->client, F_SETFL, O_NONBLOCK);
    s->client_at = name_of(s->client, 0);
    s->server_at = name_of(s->server, 0);
    s->rcvbuf = opt(s->server, SOL_SOCKET, SO_RCVBUF);
    s->client_sndbuf = opt(s->client, SOL_SOCKET, SO_SNDBUF);
    for (int i = 0; i < 2; i++) {
        s->udp[i] = make(family, SOCK_DGRAM, &lo);
        s->udp_at[i] = name_of(s->udp[i], 0);
    }
    for (int i = 0; i < 2; i++)
        if (connect(s->udp[i], (struct sockaddr *)&s->udp_at[1 - i].a, s->udp_at[1 - i].len) < 0)
            fail("udp connect: %s\n", strerror(errno));
}

/* The addresses and options are those of the start. */
static const char *as_at_start(const struct setup *s)
{
    if (!same(name_of(s->listener, 0), s->at) || !opt(s->listener, SOL_SOCKET, SO_ACCEPTCONN))
        return "listener moved";
    if (!same(name_of(s->client, 0), s->client_at) || !same(name_of(s->client, 1), s->at) ||
        !same(name_of(s->server, 0), s->server_at) || !same(name_of(s->server, 1), s->client_at))
        return "connection's addresses changed";
    if (opt(s->listener, SOL_SOCKET, SO_REUSEADDR) != (s->family == AF_INET) ||
        !opt(s->client, IPPROTO_TCP, TCP_NODELAY) || opt(s->server, IPPROTO_TCP, TCP_NODELAY) ||
        !opt(s->server, SOL_SOCKET, SO_KEEPALIVE) || opt(s->client, SOL_SOCKET, SO_KEEPALIVE))
        return "options changed";
    if (s->family == AF_INET6 && !opt(s->listener, IPPROTO_IPV6, IPV6_V6ONLY))
        return "IPV6_V6ONLY lost";
    struct linger l = {0, 0};
    socklen_t len = sizeof l;
    getsockopt(s->server, SOL_SOCKET, SO_LINGER, &l, &len);
    if (!l.l_onoff || l.l_linger != 5)
        return "SO_LINGER lost";
    if (!(fcntl(s->client, F_GETFL) & O_NONBLOCK) || (fcntl(s->server, F_GETFL) & O_NONBLOCK))
        return "O_NONBLOCK changed";
    if (opt(s->server, SOL_SOCKET, SO_RCVBUF) != s->rcvbuf ||
        opt(s->client, SOL_SOCKET, SO_SNDBUF) != s->client_sndbuf)
        return "buffer sizes changed";
    for (int i = 0; i < 2; i++)
        if (!same(name_of(s->udp[i], 0), s->udp_at[i]) ||
            !same(name_of(s->udp[i], 1), s->udp_at[1 - i]))
            return "UDP addresses changed";
    return "yes";
}

/* A new client of the listener gets an answer. */
static void serve_one(const struct setup *s, long step)
{
    int c = make(s->family, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&s->at.a, s->at.len) < 0)
        fail("step %ld: a new client cannot connect: %s\n", step, strerror(errno));
    int a = accept4(s->listener, 0, 0, SOCK_CLOEXEC);
    char buf[32] = {0};
    if (a < 0 || send(c, "ping", 4, 0) != 4 || recv(a, buf, sizeof buf, 0) != 4 ||
        send(a, "pong", 4, 0) != 4 || recv(c, buf, sizeof buf, 0) != 4)
        fail("step %ld: the new client was not served: %s\n", step, strerror(errno));
    say("step %ld: a new client was served: %.4s\n", step, buf);
    /* The client closes first, as clients do: its end waits in TIME_WAIT, on its own port.
     * (Had the server's end closed first, its TIME_WAIT would keep the IPv6 listener, which
     * has no SO_REUSEADDR, from its port for a minute after the kill, as from a restart.) */
    close(c);
    if (recv(a, buf, sizeof buf, 0) != 0)
        fail("step %ld: the new client's end of file did not come\n", step);
    close(a);
}

static int loopback_run(int family, long steps)
{
    struct setup s;
    setup_sockets(&s, family);
    unsigned long sent = 0, got[2] = {0, 0};
    for (; sent < IN_FLIGHT; sent++) {
        send_msg(s.client, 0, sent);
        send_msg(s.server, 1, sent);
    }
    unsigned long long hash = 0xcbf29ce484222325ULL;
    for (long i = 1; i <= steps; i++) {
        send_msg(s.client, 0, sent);
        send_msg(s.server, 1, sent++);
        hash = recv_msg(s.server, 0, got[0]++, hash);
        hash = recv_msg(s.client, 1, got[1]++, hash);
        /* Datagrams queued at a checkpoint are not kept (docs/descriptors.md: UDP may lose
         * them), and this exchange waits for its own without a timeout: a checkpoint taken
         * between a send and its recv (a loaded machine delivers the driver's signal that
         * late) would leave it waiting for ever. Signals wait until the exchange is done,
         * so the checkpoint lands between steps, as the driver means it to. */
        sigset_t all, before;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &before);
        char d[2][16];
        for (int u = 0; u < 2; u++) {
            int n = snprintf(d[u], sizeof d[u], "udp %d %ld", u, i);
            if (send(s.udp[u], d[u], (size_t)n, 0) != n)
                fail("udp send: %s\n", strerror(errno));
        }
        for (int u = 0; u < 2; u++) {
            char buf[16] = {0};
            if (recv(s.udp[u], buf, sizeof buf - 1, 0) < 0 || strcmp(buf, d[1 - u]))
                fail("udp %d: got '%s': %s\n", u, buf, strerror(errno));
        }
        sigprocmask(SIG_SETMASK, &before, NULL);
        say("step %ld: messages %lu %lu hash %016llx, as at the start: %s\n", i, got[0], got[1],
            hash, as_at_start(&s));
        if (i % 10 == 0)
            serve_one(&s, i);
        pace();
    }
    return 0;
}

/* ---- serve ------------------------------------------------------------------------------ */

#define MAX_CLIENTS 16

struct client {
    int fd, id;
    size_t seen; /* bytes peeked last time without a whole line */
};

static int requests;

/* Consumes and answers every whole line queued on c. 0, or 1 if it said QUIT. */
static int answer_lines(struct client *c)
{
    for (;;) {
        char buf[1024];
        ssize_t n = recv(c->fd, buf, sizeof buf - 1, MSG_PEEK | MSG_DONTWAIT);
        if (n <= 0)
            return 0;
        char *nl = memchr(buf, '\n', (size_t)n);
        if (!nl) {
            c->seen = (size_t)n;
            return 0;
        }
        size_t len = (size_t)(nl - buf) + 1;
        if (recv(c->fd, buf, len, 0) != (ssize_t)len)
            fail("recv of a line: %s\n", strerror(errno));
        buf[len - 1] = 0;
        c->seen = 0;
        if (strcmp(buf, "QUIT") == 0)
            return 1;
        char answer[1100];
        int m = snprintf(answer, sizeof answer, "%s has %zu letters (request %d)\n",
                         strncmp(buf, "GET ", 4) ? "?" : buf + 4,
                         strncmp(buf, "GET ", 4) ? 0 : strlen(buf + 4), ++requests);
        say("client %d: %s -> answered\n", c->id, buf);
        if (send(c->fd, answer, (size_t)m, MSG_NOSIGNAL) != m)
            say("client %d: the answer could not be sent\n", c->id);
    }
}

/* c ended (end of file or an error): what it left unanswered, and what a write gives. */
static void client_ended(struct client *c)
{
    char buf[1024];
    ssize_t n = recv(c->fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    ssize_t more = n > 0 ? recv(c->fd, buf + n, sizeof buf - 1 - (size_t)n, MSG_DONTWAIT) : n;
    int read_err = errno;
    buf[n > 0 ? n : 0] = 0;
    say("client %d ended: '%s' unanswered, then %s\n", c->id, buf,
        more == 0 ? "end of file" : strerror(read_err));
    ssize_t w = send(c->fd, "late\n", 5, MSG_NOSIGNAL);
    note("client %d: write after the end: %s\n", c->id, w < 0 ? strerror(errno) : "written");
    close(c->fd);
    c->fd = -1;
}

static void write_port(const char *dir, int listener)
{
    struct sa at = name_of(listener, 0);
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/port", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%u\n", ntohs(((struct sockaddr_in *)&at.a)->sin_port)) < 0 || fclose(f) ||
        rename(tmp, path))
        fail("writing %s: %s\n", path, strerror(errno));
}

static int serve(const char *dir)
{
    struct sa lo = loopback(AF_INET);
    int l = make(AF_INET, SOCK_STREAM, &lo);
    if (listen(l, 5000) < 0) /* more than somaxconn (4096): the image has what was asked */
        fail("listen: %s\n", strerror(errno));
    write_port(dir, l);
    struct client cl[MAX_CLIENTS];
    int n = 0, ids = 0;
    for (;;) {
        struct pollfd p[MAX_CLIENTS + 1] = {{l, POLLIN, 0}};
        for (int i = 0; i < n; i++)
            p[i + 1] = (struct pollfd){cl[i].fd, POLLRDHUP | (cl[i].seen ? 0 : POLLIN), 0};
        if (poll(p, (nfds_t)n + 1, 20) < 0 && errno != EINTR)
            fail("poll: %s\n", strerror(errno));
        if ((p[0].revents & POLLIN) && n < MAX_CLIENTS) {
            int fd = accept4(l, 0, 0, SOCK_CLOEXEC);
            if (fd >= 0) {
                cl[n++] = (struct client){fd, ++ids, 0};
                say("client %d connected\n", ids);
            }
        }
        for (int i = 0; i < n; i++) {
            if (answer_lines(&cl[i]))
                return 0;
            if (p[i + 1].revents & (POLLRDHUP | POLLHUP | POLLERR))
                client_ended(&cl[i]);
        }
        int kept = 0;
        for (int i = 0; i < n; i++)
            if (cl[i].fd >= 0)
                cl[kept++] = cl[i];
        n = kept;
    }
}

int main(int argc, char **argv)
{
    scenario_started();
    const char *what = argc > 1 ? argv[1] : "loopback4";
    if (strcmp(what, "loopback4") == 0)
        return loopback_run(AF_INET, argc > 2 ? atol(argv[2]) : 60);
    if (strcmp(what, "loopback6") == 0)
        return loopback_run(AF_INET6, argc > 2 ? atol(argv[2]) : 60);
    if (strcmp(what, "serve") == 0 && argc > 2)
        return serve(argv[2]);
    fail("usage: inet loopback4|loopback6 [STEPS] | serve DIR\n");
}
