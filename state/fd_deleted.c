/* Deleted files held open (CKPT_FD_DELETED): a regular file whose last name was removed
 * while the program kept it open (tmpfile(3), Python's tempfile.TemporaryFile, open and
 * unlink). Its contents exist nowhere but in the kernel, so the image stores them in a
 * MEMFILE object (fd_memfd.c holds what memfds and deleted files share).
 *
 * Restore makes it again as a file without a name: with O_TMPFILE in the directory it was
 * deleted from, when that directory is still there and belongs to the restoring user or to
 * root (so the file is on the same file system, and linkat(2) through /proc/self/fd can give
 * it a name there as before), else as a memfd named after it. Nobody else can open it: it
 * is in no directory, and vanishes with its last descriptor — also when restore-run gives
 * up before its point of no return. */
#include "fd_kind.h"
#include "fd_memfile.h"

#include <asm/errno.h>

#define CK_O_TMPFILE 020200000 /* __O_TMPFILE | O_DIRECTORY */

/* Only a file with no name left: a file with another hard link still has its contents on
 * disk, under a name ckpt cannot tell. */
static int accept_deleted(int fd, uint32_t origin, const char *path, struct ck_error *err)
{
    (void)origin;
    struct kstat st;
    long r = sys_fstat(fd, &st);
    if (r < 0)
        return ck_fail(err, (int)r, "descriptor %d (%s): %s", fd, path, ck_strerror((int)-r));
    if (st.st_nlink)
        return ck_fail(err, -1,
                       "descriptor %d refers to a file whose name was deleted but that has "
                       "%lu other links (%s): ckpt cannot tell which name to reopen",
                       fd, (unsigned long)st.st_nlink, path);
    return 0;
}

/* The directory of path (an absolute path), into dir. */
static void directory_of(const char *path, char *dir, size_t cap)
{
    ck_strlcpy(dir, path, cap);
    char *slash = dir;
    for (char *s = dir; *s; s++)
        if (*s == '/')
            slash = s;
    slash[slash == dir ? 1 : 0] = 0;
}

long deleted_make_unnamed(const struct ckpt_memfile_record *m)
{
    char dir[CKPT_PATH_MAX];
    directory_of(m->name, dir, sizeof dir);
    struct identity_found found;
    long dfd = identity_open(dir, O_RDONLY | O_DIRECTORY, CK_S_IFDIR, &found);
    if (dfd < 0)
        return -1;
    long fd = -1;
    uint32_t me = (uint32_t)sys_geteuid();
    if (found.uid == me || found.uid == 0)
        fd = sys_openat((int)dfd, ".", CK_O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    sys_close((int)dfd);
    return fd < 0 ? -1 : fd;
}

void fd_restore_DELETED(const struct restore_plan *p, const struct fd_plan *fp)
{
    (void)p;
    (void)fp; /* no seals: nothing waits for the mappings */
}

const struct fd_kind_ops fd_ops_DELETED = {
    .kind = CKPT_FD_DELETED,
    .name = "deleted file",
    .accept = accept_deleted,
    .save = memfile_save_open,
    .plan = memfile_plan_fd,
    .check_all = memfile_finish,
};
