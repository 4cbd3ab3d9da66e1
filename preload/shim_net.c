/* The shim's wrappers for the calls that make TCP and UDP sockets what they are. Almost all
 * of a socket's state is read back from the socket at checkpoint (state/fd_inet.c:
 * getsockname, getpeername, TCP_INFO, the options), so bind and connect need no wrapper.
 * listen does: the kernel keeps only the backlog in effect, capped by this machine's
 * somaxconn; the shim keeps what the program asked for, so that a restore elsewhere asks
 * the same of its kernel. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/socket.h>

#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

static int (*real_listen)(int, int);

EXPORT int listen(int fd, int backlog)
{
    if (!real_listen)
        real_listen = dlsym(RTLD_NEXT, "listen");
    int rc = real_listen(fd, backlog);
    if (rc == 0)
        fdtable_set_listen_backlog(&ckpt_shim.fds, fd, backlog);
    return rc;
}
