/* sockets: pairs of UNIX sockets the program made, with messages in flight both ways at
 * every checkpoint.
 *
 * Usage: sockets stream|dgram|seqpacket|outside [STEPS]
 *   stream, dgram, seqpacket
 *           a socketpair of that type; 6 messages (1 to 2999 bytes) are queued each way at
 *           every moment: each step sends the next message each way and receives the oldest,
 *           which must be the next of its direction's sequence, whole (for datagrams and
 *           packets one receive must return exactly one message: boundaries kept). End 0 is
 *           non-blocking and dup'ed to 9 (receives alternate between 0's two numbers), end 1
 *           is close-on-exec.
 *   closedpeer-stream, closedpeer-dgram
 *           a socketpair whose end 1 sent 8 messages and closed: each step receives one
 *           (boundaries kept for datagrams), then a stream reads end of file and a send gets
 *           EPIPE, a datagram socket's receive EAGAIN and its sends fail (ECONNREFUSED, then
 *           ENOTCONN).
 *   outside a socketpair whose other end a grandchild holds, with 3 messages it sent
 *           queued (read at steps 15 to 17): after a restore the peer is gone, so at the end
 *           a receive gets end of file (0) and a send EPIPE, where the reference run finds
 *           EAGAIN and its send taken (./peer.log). */
#include "messages.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* Receives message k of direction dir: one receive for a datagram or packet, exactly its
 * bytes for a stream. */
static unsigned long long recv_msg(int fd, int stream, unsigned dir, unsigned long k,
                                   unsigned long long hash)
{
    unsigned char buf[MAX_MSG + 100];
    size_t n = msg_len(dir, k);
    ssize_t got = stream ? recv(fd, buf, n, MSG_DONTWAIT) : recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (got != (ssize_t)n)
        fail("message %lu of direction %u: %zd bytes, expected %zu (%s)\n", k, dir, got, n,
             got < 0 ? strerror(errno) : "");
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != msg_byte(dir, k, i))
            fail("message %lu of direction %u: byte %zu is wrong\n", k, dir, i);
        hash = fnv_mix(hash, buf[i]);
    }
    return hash;
}

static void check_pair(int sv[2])
{
    if (!(fcntl(sv[0], F_GETFL) & O_NONBLOCK) || (fcntl(sv[1], F_GETFL) & O_NONBLOCK))
        fail("socket flags changed\n");
    if (fcntl(sv[0], F_GETFD) != 0 || fcntl(sv[1], F_GETFD) != FD_CLOEXEC || fcntl(9, F_GETFD) != 0)
        fail("close-on-exec flags changed\n");
}

static int pair(const char *what, int type, long steps)
{
    int sv[2];
    if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0 || fcntl(sv[0], F_SETFD, 0) != 0 ||
        fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0 || dup2(sv[0], 9) != 9)
        fail("socketpair: %s\n", strerror(errno));
    int stream = type == SOCK_STREAM;
    unsigned long sent[2] = {0, 0}, got[2] = {0, 0}; /* direction 0: end 0 to end 1 */
    unsigned long long hash = FNV_START;
    for (int k = 0; k < IN_FLIGHT; k++) {
        send_msg(sv[0], 0, sent[0]++);
        send_msg(sv[1], 1, sent[1]++);
    }
    for (long i = 1; i <= steps; i++) {
        check_pair(sv);
        send_msg(sv[0], 0, sent[0]++);
        send_msg(sv[1], 1, sent[1]++);
        hash = recv_msg(sv[1], stream, 0, got[0]++, hash);
        hash = recv_msg(i % 2 ? sv[0] : 9, stream, 1, got[1]++, hash);
        say("%s step %ld messages %lu %lu hash %016llx\n", what, i, got[0], got[1], hash);
        pace();
    }
    return 0;
}

static int closed_peer(const char *what, int type, long steps)
{
    int sv[2];
    if (socketpair(AF_UNIX, type, 0, sv) != 0 || fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0)
        fail("socketpair: %s\n", strerror(errno));
    unsigned long got = 0;
    for (unsigned long k = 0; k < 8; k++)
        send_msg(sv[1], 1, k);
    close(sv[1]);
    unsigned long long hash = FNV_START;
    for (long i = 1; i <= steps; i++) {
        if (got < 8) {
            hash = recv_msg(sv[0], type == SOCK_STREAM, 1, got++, hash);
            say("%s step %ld message %lu hash %016llx\n", what, i, got, hash);
        } else {
            char c;
            ssize_t r = recv(sv[0], &c, 1, MSG_DONTWAIT);
            int rerr = r < 0 ? errno : 0;
            ssize_t w = send(sv[0], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            say("%s step %ld recv %zd %s send %zd %s\n", what, i, r, rerr ? strerror(rerr) : "", w,
                w < 0 ? strerror(errno) : "");
        }
        pace();
    }
    return 0;
}

/* The connection's state as the program finds it at the end, into ./peer.log: its peer
 * alive (the reference run) or gone (after a restore). */
static void note_peer(int fd)
{
    char buf[16];
    errno = 0;
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    int rerr = r < 0 ? errno : 0;
    errno = 0;
    ssize_t w = send(fd, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    int werr = w < 0 ? errno : 0;
    FILE *log = fopen("peer.log", "w");
    if (!log)
        fail("peer.log: %s\n", strerror(errno));
    fprintf(log, "recv %zd %s\nsend %zd %s\n", r, rerr ? strerrorname_np(rerr) : "", w,
            werr ? strerrorname_np(werr) : "");
    fclose(log);
}

static int outside(long steps)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        fail("socketpair: %s\n", strerror(errno));
    for (unsigned long k = 0; k < 3; k++) /* queued on end 0 from outside, read after step 14 */
        send_msg(sv[1], 1, k);
    scenario_grandchild_holds(sv[1], POLLIN); /* POLLIN|POLLHUP once end 0 is gone */
    close(sv[1]);
    unsigned long long hash = 0;
    for (long i = 1; i <= steps; i++) {
        if (i >= 15 && i < 18)
            hash = recv_msg(sv[0], 1, 1, (unsigned long)(i - 15), hash);
        say("outside step %ld%s\n", i, i >= 15 && i < 18 ? ": a message from outside" : "");
        pace();
    }
    say("outside: messages hash %llx\n", hash);
    note_peer(sv[0]);
    return 0;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    long steps = argc > 2 ? atol(argv[2]) : 60;
    scenario_started();
    int rc;
    if (strcmp(what, "stream") == 0)
        rc = pair(what, SOCK_STREAM, steps);
    else if (strcmp(what, "dgram") == 0)
        rc = pair(what, SOCK_DGRAM, steps);
    else if (strcmp(what, "seqpacket") == 0)
        rc = pair(what, SOCK_SEQPACKET, steps);
    else if (strcmp(what, "closedpeer-stream") == 0)
        rc = closed_peer(what, SOCK_STREAM, steps);
    else if (strcmp(what, "closedpeer-dgram") == 0)
        rc = closed_peer(what, SOCK_DGRAM, steps);
    else if (strcmp(what, "outside") == 0)
        rc = outside(steps);
    else
        fail("usage: sockets stream|dgram|seqpacket|closedpeer-stream|closedpeer-dgram|outside "
             "[STEPS]\n");
    say("%s done\n", what);
    return rc;
}
