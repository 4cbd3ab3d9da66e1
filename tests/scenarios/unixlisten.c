/* unixlisten: a UNIX listener bound to a name, serving a new client every step, before and
 * after a restore, beside a connection accepted from it with data queued both ways.
 *
 * Usage: unixlisten MODE [STEPS], MODE one of
 *   path      a stream listener bound to ./listen.sock (relative, in the working
 *             directory), its socket file chmod 0640, non-blocking, a backlog of 5000 asked
 *   abspath   the same, bound to the absolute path of ./listen.sock (getsockname after a
 *             restore gives the last component: only that is printed)
 *   abstract  the same, bound to an abstract name (unique to the working directory)
 *   seqpacket the path listener, of type SOCK_SEQPACKET
 *   dgram     a datagram socket bound to ./listen.sock; each step a client sends it a
 *             datagram by name and it answers to the client's own (abstract, autobound)
 *             name; it has SO_PASSCRED on
 *   dgram-queued  the bound datagram socket, and from step 3 a second one at ./queued.sock
 *             with a datagram queued on it (read at the end): a checkpoint is refused (who
 *             sent it could not be given back)
 *   unlinked  the path listener, its socket file removed once bound (a checkpoint is refused:
 *             binding it again would give back a name the program took away)
 *   moved     the path listener (bound by a relative name), the program then changes to
 *             a subdirectory: a checkpoint is refused (the name no longer leads to the socket
 *             file from the working directory, and no other name of it is known)
 *   pending   the path listener, and a second one at ./pending.sock with a client of the
 *             program's own (which sent "early") in its accept queue from step 5 to the end
 *             (accepted then): after a restore that client finds its connection closed
 *             (recv 0, send EPIPE) and the listener's queue empty, where the uninterrupted
 *             run accepts it (./pending.log says which)
 * Every step a new client connects by name (so the name is bound again after a restore),
 * the listener accepts it, and they exchange a ping and a pong; one long-lived client
 * accepted at the start has two messages in flight each way at every moment. Each step
 * also checks the listener (SO_ACCEPTCONN, its type, SO_PASSCRED, O_NONBLOCK, its name) and
 * the socket file (a socket, mode 0640; as root it is given to 65534:65534, which a restore
 * as root gives back). */
#include "scenario.h"

#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static struct sockaddr_un addr;
static socklen_t addr_len;
static int type = SOCK_STREAM;
static int is_path = 1;

static void name_it(const char *mode)
{
    addr.sun_family = AF_UNIX;
    if (!strcmp(mode, "abstract")) {
        struct stat st;
        if (stat(".", &st) != 0)
            fail("stat .: %s\n", strerror(errno));
        int n = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "ckpt-unixlisten-%lu-%lu",
                         (unsigned long)st.st_dev, (unsigned long)st.st_ino);
        addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
        is_path = 0;
        return;
    }
    char cwd[200] = "";
    if (!strcmp(mode, "abspath") && !getcwd(cwd, sizeof cwd - 20))
        fail("getcwd: %s\n", strerror(errno));
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s%slisten.sock", cwd, *cwd ? "/" : "");
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(addr.sun_path) + 1);
}

static int check(int r, const char *what)
{
    if (r < 0)
        fail("%s: %s\n", what, strerror(errno));
    return r;
}

static void wait_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 5000) != 1)
        fail("descriptor %d never became readable\n", fd);
}

static int accept_one(int l)
{
    wait_readable(l);
    return check(accept4(l, 0, 0, SOCK_CLOEXEC), "accept");
}

static int connect_client(void)
{
    int c = check(socket(AF_UNIX, type | SOCK_CLOEXEC, 0), "socket");
    check(connect(c, (struct sockaddr *)&addr, addr_len), "connect to the listener by name");
    return c;
}

static void send_text(int fd, const char *text)
{
    if (send(fd, text, strlen(text), MSG_NOSIGNAL) != (ssize_t)strlen(text))
        fail("send %s: %s\n", text, strerror(errno));
}

static void recv_text(int fd, const char *want)
{
    char buf[128];
    wait_readable(fd);
    ssize_t n = recv(fd, buf, strlen(want), 0);
    if (n != (ssize_t)strlen(want) || memcmp(buf, want, (size_t)n))
        fail("received %.*s, expected %s\n", n > 0 ? (int)n : 0, buf, want);
}

/* "mine" (the program's own ids: whoever restores it, in whatever user namespace), or the
 * ids. */
static const char *owner_of(const struct stat *st, char *buf, size_t cap)
{
    if (st->st_uid == geteuid() && st->st_gid == getegid())
        return "mine";
    snprintf(buf, cap, "%u:%u", (unsigned)st->st_uid, (unsigned)st->st_gid);
    return buf;
}

/* The listener and its socket file as the program set them up. */
static void describe(int l, long step)
{
    int acc = -1, ty = -1, cred = -1;
    socklen_t len = sizeof acc;
    getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len);
    len = sizeof ty;
    getsockopt(l, SOL_SOCKET, SO_TYPE, &ty, &len);
    len = sizeof cred;
    getsockopt(l, SOL_SOCKET, SO_PASSCRED, &cred, &len);
    struct sockaddr_un a;
    socklen_t alen = sizeof a;
    check(getsockname(l, (struct sockaddr *)&a, &alen), "getsockname");
    const char *name = "?";
    if (alen > offsetof(struct sockaddr_un, sun_path) && a.sun_path[0] == 0)
        name = memcmp(a.sun_path, addr.sun_path, alen - offsetof(struct sockaddr_un, sun_path))
                   ? "another abstract name"
                   : "its abstract name";
    else if (alen > offsetof(struct sockaddr_un, sun_path))
        name = strrchr(a.sun_path, '/') ? strrchr(a.sun_path, '/') + 1 : a.sun_path;
    char file[96] = "no file (abstract)", owner[32];
    if (is_path) {
        struct stat st;
        if (lstat(addr.sun_path, &st) != 0)
            snprintf(file, sizeof file, "file: %s", strerror(errno));
        else
            snprintf(file, sizeof file, "file: %s mode %04o owner %s",
                     S_ISSOCK(st.st_mode) ? "socket" : "other", (unsigned)(st.st_mode & 07777),
                     owner_of(&st, owner, sizeof owner));
    }
    say("step %ld: listener acceptconn %d type %d passcred %d nonblock %d name %s, %s\n", step, acc,
        ty, cred, (fcntl(l, F_GETFL) & O_NONBLOCK) ? 1 : 0, name, file);
}

static int bind_listener(void)
{
    if (is_path)
        unlink(addr.sun_path);
    int l = check(socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), "socket");
    int one = 1; /* (accepted sockets inherit it, and their queues would carry credentials) */
    if (type == SOCK_DGRAM)
        check(setsockopt(l, SOL_SOCKET, SO_PASSCRED, &one, sizeof one), "SO_PASSCRED");
    check(bind(l, (struct sockaddr *)&addr, addr_len), "bind");
    if (is_path)
        check(chmod(addr.sun_path, 0640), "chmod");
    if (is_path && geteuid() == 0) /* root: a socket file of another owner, given back */
        check(chown(addr.sun_path, 65534, 65534), "chown");
    if (type != SOCK_DGRAM)
        check(listen(l, 5000), "listen"); /* more than somaxconn (4096): the kernel caps it */
    return l;
}

/* The connection a client of the program's own made, still in the accept queue since step
 * 5: accepted now if it is there (the uninterrupted run), else the restore dropped it. */
static void settle_pending(int l, int pending)
{
    char buf[8];
    struct pollfd p = {.fd = l, .events = POLLIN};
    int queued = poll(&p, 1, 0) == 1;
    FILE *log = fopen("pending.log", "w");
    if (!log)
        fail("pending.log: %s\n", strerror(errno));
    if (queued) {
        int s = accept_one(l);
        send_text(pending, "late");
        recv_text(s, "earlylate");
        fprintf(log, "accepted at the end, its data read\n");
        close(s);
    } else {
        ssize_t r = recv(pending, buf, sizeof buf, MSG_DONTWAIT);
        int rerr = r < 0 ? errno : 0;
        ssize_t w = send(pending, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        fprintf(log, "not in the queue: recv %zd %s, send %zd %s\n", r,
                rerr ? strerrorname_np(rerr) : "", w, w < 0 ? strerrorname_np(errno) : "");
    }
    fclose(log);
    close(pending);
}

/* A second listener, at ./pending.sock, whose one client waits in its accept queue. */
static int pending_client(int *listener)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX, .sun_path = "pending.sock"};
    unlink(a.sun_path);
    int l = check(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), "socket");
    check(bind(l, (struct sockaddr *)&a, sizeof a), "bind pending.sock");
    check(listen(l, 3), "listen");
    int c = check(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket");
    check(connect(c, (struct sockaddr *)&a, sizeof a), "connect to pending.sock");
    send_text(c, "early"); /* in the queued connection: lost with it at a restore */
    *listener = l;
    return c;
}

static int serve(long steps, int pending_from)
{
    int l = bind_listener(), pending = -1, pl = -1;
    int lc = connect_client(), ls = accept_one(l);
    char text[64];
    for (long k = 1; k <= 2; k++) { /* two in flight each way from the start */
        snprintf(text, sizeof text, "up %03ld|", k);
        send_text(lc, text);
        snprintf(text, sizeof text, "down %03ld|", k);
        send_text(ls, text);
    }
    for (long i = 1; i <= steps; i++) {
        if (i == pending_from)
            pending = pending_client(&pl); /* never accepted until the end */
        describe(l, i);
        int c = connect_client(), s = accept_one(l);
        snprintf(text, sizeof text, "ping %ld", i);
        send_text(c, text);
        recv_text(s, text);
        snprintf(text, sizeof text, "pong %ld", i);
        send_text(s, text);
        recv_text(c, text);
        close(c);
        close(s);
        snprintf(text, sizeof text, "up %03ld|", i + 2);
        send_text(lc, text);
        snprintf(text, sizeof text, "down %03ld|", i + 2);
        send_text(ls, text);
        snprintf(text, sizeof text, "up %03ld|", i);
        recv_text(ls, text);
        snprintf(text, sizeof text, "down %03ld|", i);
        recv_text(lc, text);
        say("step %ld: served client %ld (ping, pong), long-lived connection up %ld down %ld\n", i,
            i, i, i);
        pace();
    }
    if (pending >= 0) {
        settle_pending(pl, pending);
        unlink("pending.sock");
    }
    if (is_path)
        unlink(addr.sun_path);
    return 0;
}

/* A bound datagram socket answering each client at the client's own autobound name. */
/* A second bound datagram socket, at ./queued.sock, with a datagram queued on it. */
static int queued_datagram(int from)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX, .sun_path = "queued.sock"};
    unlink(a.sun_path);
    int q = check(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket");
    check(bind(q, (struct sockaddr *)&a, sizeof a), "bind queued.sock");
    if (sendto(from, "mine", 4, 0, (struct sockaddr *)&a, sizeof a) != 4)
        fail("sendto queued.sock: %s\n", strerror(errno));
    return q;
}

static int serve_datagrams(long steps, int queued_from)
{
    int l = bind_listener(), q = -1;
    for (long i = 1; i <= steps; i++) {
        if (i == queued_from)
            q = queued_datagram(l);
        describe(l, i);
        int c = check(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket");
        sa_family_t fam = AF_UNIX;
        check(bind(c, (struct sockaddr *)&fam, sizeof fam), "autobind"); /* an abstract name */
        char text[64], buf[64];
        snprintf(text, sizeof text, "ping %ld", i);
        if (sendto(c, text, strlen(text), 0, (struct sockaddr *)&addr, addr_len) < 0)
            fail("sendto the bound socket by name: %s\n", strerror(errno));
        struct sockaddr_un from;
        socklen_t flen = sizeof from;
        wait_readable(l);
        ssize_t n = recvfrom(l, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
        if (n != (ssize_t)strlen(text) || memcmp(buf, text, (size_t)n))
            fail("the bound socket received %zd bytes\n", n);
        snprintf(text, sizeof text, "pong %ld", i);
        check((int)sendto(l, text, strlen(text), 0, (struct sockaddr *)&from, flen), "answer");
        recv_text(c, text);
        close(c);
        if (queued_from && i >= queued_from)
            say("step %ld: answered datagram client %ld, its own datagram still queued\n", i, i);
        else
            say("step %ld: answered datagram client %ld\n", i, i);
        pace();
    }
    if (q >= 0) {
        recv_text(q, "mine");
        unlink("queued.sock");
    }
    unlink(addr.sun_path);
    return 0;
}

/* A listener whose socket file the program removed: it still accepts the connections it
 * has, but nobody can reach it by name. */
static int unlinked(long steps, int move)
{
    int l = bind_listener();
    if (move) {
        mkdir("elsewhere", 0700);
        check(chdir("elsewhere"), "chdir");
    } else {
        check(unlink(addr.sun_path), "unlink");
    }
    for (long i = 1; i <= steps; i++) {
        describe(l, i);
        pace();
    }
    close(l);
    if (move && (chdir("..") != 0 || unlink(addr.sun_path) != 0 || rmdir("elsewhere") != 0))
        fail("cleaning up: %s\n", strerror(errno));
    say("%s done\n", move ? "moved" : "unlinked");
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    long steps = argc > 2 ? atol(argv[2]) : 40;
    scenario_started();
    if (!strcmp(mode, "seqpacket"))
        type = SOCK_SEQPACKET;
    else if (!strcmp(mode, "dgram") || !strcmp(mode, "dgram-queued"))
        type = SOCK_DGRAM;
    else if (strcmp(mode, "path") && strcmp(mode, "abspath") && strcmp(mode, "abstract") &&
             strcmp(mode, "unlinked") && strcmp(mode, "moved") && strcmp(mode, "pending"))
        fail("usage: unixlisten path|abspath|abstract|seqpacket|dgram|dgram-queued|unlinked|moved|"
             "pending "
             "[STEPS]\n");
    name_it(mode);
    if (!strcmp(mode, "unlinked") || !strcmp(mode, "moved"))
        return unlinked(steps, !strcmp(mode, "moved"));
    int rc = type == SOCK_DGRAM ? serve_datagrams(steps, strcmp(mode, "dgram") ? 3 : 0)
                                : serve(steps, strcmp(mode, "pending") ? 0 : 5);
    say("%s done\n", mode);
    return rc;
}
