/* TCP and UDP sockets (state/fd_inet.c) on real sockets of this process: what the
 * checkpoint handler's save writes for a listener, a UDP socket, a connection whose peer is
 * not among the saved descriptors, and what restore-run's phase 1 makes of it (a listener
 * at the same address with its backlog and options, a UDP socket bound and connected
 * again, a connection that reads the queued bytes, then end of file, and fails writes with
 * EPIPE); a taken address refused naming the descriptor and the address (IPv4 and IPv6);
 * INET records the validator refuses. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "fd_kind.h"
#include "image_check.h"

#define META_CAP (64 * 1024)
#define STAGE_CAP (64 * 1024)
#define MAX_FDS 4

/* One checkpoint's worth of sockets and the phase 1 plan made of them. */
struct rig {
    char meta[META_CAP], stage[STAGE_CAP];
    struct image_writer w;
    struct fd_slot slots[MAX_FDS];
    struct ckpt_file_record files[MAX_FDS];
    struct ckpt_fd_record recs[MAX_FDS];
    struct fd_plan fds[MAX_FDS];
    struct restore_plan p;
    size_t detail_at[MAX_FDS];
    uint32_t n;
    struct ck_error err;
};

static struct rig *rig_new(void)
{
    struct rig *r = calloc(1, sizeof *r);
    assert_non_null(r);
    iw_init_staging(&r->w, r->meta, sizeof r->meta, r->stage, sizeof r->stage);
    return r;
}

/* Saves sockets fds[0..n) (as the program's numbers 3, 4, ...), as files_save does. */
static int rig_save(struct rig *r, const int *fds, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        r->slots[i] = (struct fd_slot){.fd = fds[i], .shares_with = -1};
    struct fd_save_ctx c = {.w = &r->w, .slots = r->slots, .nslots = n};
    for (uint32_t i = 0; i < n; i++, r->n++) {
        struct ckpt_file_record *f = &r->files[i];
        f->head.id = i + 1;
        f->kind = CKPT_FD_INET;
        f->flags = (uint32_t)sys_fcntl(fds[i], F_GETFL, 0);
        r->recs[i] = (struct ckpt_fd_record){.fd = 3 + (int)i, .file = i + 1};
        r->detail_at[i] = r->w.meta_len;
        c.done = i;
        assert_true(fd_inet_is_inet(fds[i]));
        if (fd_ops(CKPT_FD_INET)->save(&c, fds[i], f, &r->err)) {
            print_message("save of socket %d: %s\n", fds[i], r->err.msg);
            return -1;
        }
    }
    return 0;
}

/* Phase 1 for every saved socket. */
static int rig_plan(struct rig *r)
{
    r->p.view.meta = (const unsigned char *)r->meta;
    r->p.view.meta_len = r->w.meta_len;
    r->p.view.base = (const unsigned char *)r->stage - CKPT_HEADER_SIZE; /* staged data */
    r->p.fds = r->fds;
    r->p.nfds = r->n;
    for (uint32_t i = 0; i < r->n; i++)
        r->fds[i] = (struct fd_plan){.rec = &r->recs[i],
                                     .file = &r->files[i],
                                     .shares_with = -1,
                                     .temp_fd = -1,
                                     .dir_fd = -1,
                                     .new_fd = -1,
                                     .detail = (const void *)(r->meta + r->detail_at[i]),
                                     .ndetail = 1};
    const struct fd_kind_ops *ops = fd_ops(CKPT_FD_INET);
    for (uint32_t i = 0; i < r->n; i++) {
        ops->prepare(&r->p, &r->fds[i]);
        if (ops->plan(&r->p, &r->fds[i], &r->err))
            return -1;
    }
    return 0;
}

static void rig_free(struct rig *r)
{
    for (uint32_t i = 0; i < r->n; i++)
        if (r->fds[i].temp_fd >= 0)
            close(r->fds[i].temp_fd);
    free(r);
}

static struct ckpt_inet_record *record(struct rig *r, uint32_t i)
{
    return (struct ckpt_inet_record *)(r->meta + r->detail_at[i]);
}

/* The validator's verdict on record i of r after its FILE record. */
static int validate(struct rig *r, uint32_t i)
{
    struct image_view v = {0};
    struct image_walk w = {.file = &r->files[i], .prev_kind = CKPT_REC_FILE};
    return check_inet(&v, &w, &record(r, i)->head, &r->err);
}

static void expect_message(const struct rig *r, const char *want)
{
    if (!strstr(r->err.msg, want))
        fail_msg("error \"%s\" does not mention \"%s\"", r->err.msg, want);
}

static struct sockaddr_storage loopback(int family, socklen_t *len)
{
    struct sockaddr_storage a;
    memset(&a, 0, sizeof a);
    if (family == AF_INET) {
        struct sockaddr_in *in = (void *)&a;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (void *)&a;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        *len = sizeof *in6;
    }
    return a;
}

static int listener(int family, int backlog, int reuse)
{
    socklen_t len;
    struct sockaddr_storage a = loopback(family, &len);
    int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    assert_int_equal(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse), 0);
    assert_int_equal(bind(s, (struct sockaddr *)&a, len), 0);
    assert_int_equal(listen(s, backlog), 0);
    return s;
}

static int port_of(int s)
{
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    return ntohs(((struct sockaddr_in *)&a)->sin_port);
}

static int opt(int s, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    assert_int_equal(getsockopt(s, level, name, &v, &len), 0);
    return v;
}

static void listener_comes_back_at_its_port_with_backlog_and_options(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    int l = listener(AF_INET, 7, 0);
    int one = 1;
    setsockopt(l, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int port = port_of(l);
    assert_int_equal(rig_save(r, &l, 1), 0);
    const struct ckpt_inet_record *rec = record(r, 0);
    assert_int_equal(rec->head.kind, CKPT_REC_INET);
    assert_int_equal(rec->state, CKPT_INET_LISTENING);
    assert_int_equal(rec->family, AF_INET);
    assert_int_equal(rec->backlog, 7);
    assert_int_equal(rec->options, CKPT_INETO_NODELAY);
    assert_int_equal(validate(r, 0), 0);
    close(l);
    assert_int_equal(rig_plan(r), 0);
    int made = r->fds[0].temp_fd;
    assert_int_equal(port_of(made), port);
    assert_int_equal(opt(made, SOL_SOCKET, SO_ACCEPTCONN), 1);
    assert_int_equal(opt(made, SOL_SOCKET, SO_REUSEADDR), 0); /* its own value again */
    assert_int_equal(opt(made, IPPROTO_TCP, TCP_NODELAY), 1);
    assert_true(sys_fcntl(made, F_GETFD, 0) & FD_CLOEXEC);
    rig_free(r);
}

/* While another socket listens there, the restore is refused naming fd and address. */
static void taken_address_refused_by_name(int family, const char *shown)
{
    struct rig *r = rig_new();
    int l = listener(family, 4, 1);
    assert_int_equal(rig_save(r, &l, 1), 0);
    assert_int_not_equal(rig_plan(r), 0);
    char want[96];
    snprintf(want, sizeof want, "re-binding fd 3 (TCP listener %s:%d): Address already in use",
             shown, port_of(l));
    expect_message(r, want);
    assert_int_equal(r->fds[0].temp_fd, -1);
    close(l);
    rig_free(r);
}

static void taken_ipv4_address_refused_by_name(void **state)
{
    (void)state;
    taken_address_refused_by_name(AF_INET, "127.0.0.1");
}

static void taken_ipv6_address_refused_by_name(void **state)
{
    (void)state;
    taken_address_refused_by_name(AF_INET6, "[::1]");
}

static void udp_comes_back_bound_and_connected(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    socklen_t len;
    struct sockaddr_storage lo = loopback(AF_INET, &len);
    int u[2];
    for (int i = 0; i < 2; i++) {
        u[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | (i ? SOCK_NONBLOCK : 0), 0);
        assert_int_equal(bind(u[i], (struct sockaddr *)&lo, len), 0);
    }
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    getsockname(u[1], (struct sockaddr *)&peer, &plen);
    assert_int_equal(connect(u[0], (struct sockaddr *)&peer, plen), 0);
    int ports[2] = {port_of(u[0]), port_of(u[1])};
    assert_int_equal(rig_save(r, u, 2), 0);
    assert_int_equal(record(r, 0)->state, CKPT_INET_CONNECTED);
    assert_int_equal(record(r, 1)->state, CKPT_INET_BOUND);
    assert_int_equal(validate(r, 0), 0);
    close(u[0]);
    close(u[1]);
    assert_int_equal(rig_plan(r), 0);
    int a = r->fds[0].temp_fd, b = r->fds[1].temp_fd;
    assert_int_equal(port_of(a), ports[0]);
    assert_int_equal(port_of(b), ports[1]);
    assert_true(sys_fcntl(b, F_GETFL, 0) & O_NONBLOCK);
    assert_int_equal(send(a, "datagram", 8, 0), 8);
    char buf[16] = {0};
    struct pollfd p = {b, POLLIN, 0};
    poll(&p, 1, 2000);
    assert_int_equal(recv(b, buf, sizeof buf, 0), 8);
    assert_string_equal(buf, "datagram");
    rig_free(r);
}

/* A connection whose other end is not saved (outside the checkpoint): restored as closed by
 * its peer, with the bytes that were queued for reading. */
static void outside_connection_reads_its_queue_then_eof_and_writes_fail(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    int l = listener(AF_INET, 4, 0);
    socklen_t len;
    struct sockaddr_storage at = loopback(AF_INET, &len);
    ((struct sockaddr_in *)&at)->sin_port = htons((uint16_t)port_of(l));
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(c, (struct sockaddr *)&at, len), 0);
    int s = accept4(l, 0, 0, SOCK_CLOEXEC);
    assert_int_equal(send(s, "queued bytes", 12, 0), 12);
    usleep(20000);
    assert_int_equal(rig_save(r, &c, 1), 0);
    assert_int_equal(record(r, 0)->state, CKPT_INET_CLOSED_BY_PEER);
    assert_int_equal(record(r, 0)->bytes, 12);
    assert_int_equal(validate(r, 0), 0);
    char buf[32] = {0};
    assert_int_equal(recv(c, buf, sizeof buf, MSG_DONTWAIT), 12); /* the save consumed nothing */
    close(c);
    close(s);
    close(l);
    assert_int_equal(rig_plan(r), 0);
    int made = r->fds[0].temp_fd;
    memset(buf, 0, sizeof buf);
    struct pollfd p = {made, POLLIN, 0};
    poll(&p, 1, 2000);
    assert_int_equal(recv(made, buf, sizeof buf, 0), 12);
    assert_string_equal(buf, "queued bytes");
    assert_int_equal(recv(made, buf, sizeof buf, 0), 0);
    assert_int_equal(send(made, "x", 1, MSG_NOSIGNAL), -1);
    assert_int_equal(errno, EPIPE);
    rig_free(r);
}

/* Each change makes the validator refuse a record it accepted. */
static void malformed_inet_records_refused(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    int l = listener(AF_INET6, 3, 0);
    assert_int_equal(rig_save(r, &l, 1), 0);
    close(l);
    struct ckpt_inet_record *rec = record(r, 0), good = *rec;
    assert_int_equal(validate(r, 0), 0);
    static const struct {
        const char *why;
        size_t at, size;
        uint64_t value;
    } bad[] = {
        {"family", offsetof(struct ckpt_inet_record, family), 2, 1},
        {"type", offsetof(struct ckpt_inet_record, type), 2, 5},
        {"state", offsetof(struct ckpt_inet_record, state), 4, 3},
        {"state", offsetof(struct ckpt_inet_record, state), 4, 9},
        {"invalid address", offsetof(struct ckpt_inet_record, local), 2, 2},
        {"invalid address", offsetof(struct ckpt_inet_record, local) + 2, 2, 0},
        {"invalid options", offsetof(struct ckpt_inet_record, options), 4, 0x40},
        {"invalid options", offsetof(struct ckpt_inet_record, peer_fd), 4, 4},
        {"invalid options", offsetof(struct ckpt_inet_record, backlog), 4, 70000},
        {"invalid options", offsetof(struct ckpt_inet_record, linger), 4, (uint32_t)-2},
        {"queue", offsetof(struct ckpt_inet_record, bytes), 8, 5},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        *rec = good;
        memcpy((char *)rec + bad[i].at, &bad[i].value, bad[i].size);
        r->err.msg[0] = 0;
        if (validate(r, 0) == 0)
            fail_msg("change %zu (%s) was accepted", i, bad[i].why);
        expect_message(r, bad[i].why);
    }
    *rec = good;
    struct image_view v = {0};
    struct image_walk w = {.file = &r->files[0], .prev_kind = CKPT_REC_FD};
    assert_int_not_equal(check_inet(&v, &w, &rec->head, &r->err), 0);
    expect_message(r, "without its file record");
    rig_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(listener_comes_back_at_its_port_with_backlog_and_options),
        cmocka_unit_test(taken_ipv4_address_refused_by_name),
        cmocka_unit_test(taken_ipv6_address_refused_by_name),
        cmocka_unit_test(udp_comes_back_bound_and_connected),
        cmocka_unit_test(outside_connection_reads_its_queue_then_eof_and_writes_fail),
        cmocka_unit_test(malformed_inet_records_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
