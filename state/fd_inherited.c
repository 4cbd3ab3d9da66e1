/* Sockets (CKPT_FD_SOCKET): only those of the program's environment (0, 1, 2, or
 * inherited) can be restored, by taking restore-run's descriptor of that number; one the
 * program created is refused at checkpoint. Pipes are fd_pipe.c's. */
#include "fd_kind.h"

/* Handler: one the program created cannot be made again. */
static int accept_socket(int fd, uint32_t origin, const char *path, struct ck_error *err)
{
    if (fds_from_environment(fd, CKPT_FD_SOCKET, origin))
        return 0;
    return ck_fail(err, -1,
                   "descriptor %d is a socket (%s) the program created; sockets cannot be "
                   "restored yet",
                   fd, path);
}

/* Phase 1 plans only descriptors not taken from the environment: an image says this one
 * was created by the program, which a checkpoint refuses. */
static int refuse_plan(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    (void)p;
    return ck_fail(err, -1, "descriptor %d is a socket the program created; it cannot be restored",
                   fp->rec->fd);
}

/* The restore core has nothing more to do: restore-run's descriptor is the program's. */
FD_NOTHING_TO_RESTORE(SOCKET)

const struct fd_kind_ops fd_ops_SOCKET = {
    .kind = CKPT_FD_SOCKET,
    .name = "socket",
    .environment = 1,
    .accept = accept_socket,
    .plan = refuse_plan,
};
