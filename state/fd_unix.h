/* What fd_socket.c (pairs of connected UNIX sockets) and fd_unix_listen.c (bound and
 * listening ones) share: the kernel's facts about a UNIX socket (sock_diag) and socket
 * options. Raw syscalls only: the save side runs in the checkpoint signal handler. */
#ifndef CKPT_FD_UNIX_H
#define CKPT_FD_UNIX_H

#include "fd_kind.h"

#include <asm/unistd.h>

#define CK_AF_UNIX 1
#define CK_SOL_SOCKET 1
#define CK_SO_TYPE 3
#define CK_SO_SNDBUF 7
#define CK_SO_RCVBUF 8
#define CK_SO_PASSCRED 16
#define CK_SO_DOMAIN 39
#define CK_SO_PEEK_OFF 42
#define CK_SOCK_CLOEXEC O_CLOEXEC
#define CK_SOCK_NONBLOCK O_NONBLOCK
#define CK_TCP_ESTABLISHED 1
#define CK_TCP_LISTEN 10

/* What sock_diag says about one UNIX socket. */
struct unix_facts {
    int type;         /* SOCK_STREAM, ... */
    int state;        /* TCP_ESTABLISHED (1) when connected, also after the peer closed */
    uint32_t peer;    /* inode of the peer, 0 = none or closed */
    int named;        /* bound to a path or an abstract name */
    int shutdown;     /* SHUT_RD/SHUT_WR bits */
    int has_vfs;      /* bound to a path: the socket file's inode below */
    uint32_t vfs_ino; /* the socket file's inode number */
    uint32_t vfs_dev; /* and its device, as the kernel encodes it (major << 20 | minor) */
    uint32_t rqueue;  /* a listener: connections waiting to be accepted; else bytes queued */
    uint32_t wqueue;  /* a listener: its backlog; else bytes sent not yet read */
};

/* Asks the kernel (NETLINK_SOCK_DIAG) about the UNIX socket of inode ino. 0 or -errno. */
int unix_facts_of(uint32_t ino, struct unix_facts *out);

static inline long unix_getsockopt_int(int fd, int name, int *val)
{
    int len = sizeof *val;
    return sys_call5(__NR_getsockopt, fd, CK_SOL_SOCKET, name, SYS_L(val), SYS_L(&len));
}

static inline long unix_setsockopt_int(int fd, int name, int val)
{
    return sys_call5(__NR_setsockopt, fd, CK_SOL_SOCKET, name, SYS_L(&val), sizeof val);
}

/* ---- bound and listening UNIX sockets (fd_unix_listen.c) ------------------------------ */

/* Save side: the UNIX_BOUND record after FILE f of UNIX socket fd, bound and not connected
 * (u: the kernel's facts about it). */
int unix_bound_save(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                    const struct unix_facts *u, struct ck_error *err);

/* Phase 1: the socket made again (fp->temp_fd), an abstract name bound, a path's directory
 * opened and what is at the path now checked (fp->dir_fd, fp->new_fd). */
int unix_bound_plan(struct restore_plan *p, struct fd_plan *fp,
                    const struct ckpt_unix_bound_record *b, struct ck_error *err);

/* The UNIX_BOUND record among fp's detail records, or NULL. */
const struct ckpt_unix_bound_record *unix_bound_of(const struct fd_plan *fp);

#endif
