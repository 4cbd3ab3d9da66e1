/* The shim's wrappers for the calls that make TCP and UDP sockets what they are. Almost all
 * of a socket's state is read back from the socket at checkpoint (state/fd_inet.c:
 * getsockname, getpeername, TCP_INFO, the options), so bind and connect need no wrapper.
 * listen does: the kernel keeps only the backlog in effect, capped by this machine's
 * somaxconn; the shim keeps what the program asked for, so that a restore elsewhere asks
 * the same of its kernel.
 *
 * glibc's listen is the bare system call (no cancellation point, nothing kept), so the
 * wrapper makes it itself: no call through a pointer to libc's, which costs more than the
 * bookkeeping on a call this cheap. */
#define _GNU_SOURCE
#include <asm/unistd.h>
#include <errno.h>
#include <sys/socket.h>

#include "shim.h"
#include "sys.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT int listen(int fd, int backlog)
{
    long rc = sys_call2(__NR_listen, fd, backlog);
    if (rc < 0) {
        errno = (int)-rc;
        return -1;
    }
    fdtable_set_listen_backlog(&ckpt_shim.fds, fd, backlog);
    return 0;
}
