/* failing-syscall: runs a program in which one system call always fails with EIO, as a
 * disk that reports a write error does. The integrity tests use it to make a checkpoint's
 * fdatasync (of the image) or fsync (of its directory) fail without root or a broken device; the
 * `ckpt check` tests use it with another errno to play a kernel without a feature (ENOSYS, or
 * EINVAL as prctl gives for an option the kernel was built without); the scenarios use it to
 * make restore-run's listen fail after it bound a UNIX socket's path (the undo).
 *
 * Usage: failing-syscall SYSCALL[:ERRNO] -- PROGRAM [ARGS...]
 *   SYSCALL: fsync, fdatasync, writev, pwrite64, prctl, kcmp, ioctl, listen, openat2; ERRNO: EIO
 *   (default; ENOSYS for openat2, as on a kernel before 5.6 or under a container's seccomp
 *   profile that does not know it), ENOSYS, EINVAL, ENOTTY or EPERM
 *
 * A seccomp filter (allowed without privilege after PR_SET_NO_NEW_PRIVS) makes the call
 * return the error; every other call runs as usual. The filter is inherited across exec. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static long syscall_number(const char *name)
{
    if (!strcmp(name, "fsync"))
        return SYS_fsync;
    if (!strcmp(name, "fdatasync"))
        return SYS_fdatasync;
    if (!strcmp(name, "writev"))
        return SYS_writev;
    if (!strcmp(name, "pwrite64"))
        return SYS_pwrite64;
    if (!strcmp(name, "prctl"))
        return SYS_prctl;
    if (!strcmp(name, "kcmp"))
        return SYS_kcmp;
    if (!strcmp(name, "ioctl"))
        return SYS_ioctl;
    if (!strcmp(name, "listen"))
        return SYS_listen;
    if (!strcmp(name, "openat2"))
        return 437; /* SYS_openat2: Debian 12's headers have it, older ones not */
    return -1;
}

static int errno_number(const char *name)
{
    static const struct {
        const char *name;
        int value;
    } known[] = {
        {"EIO", EIO}, {"ENOSYS", ENOSYS}, {"EINVAL", EINVAL}, {"ENOTTY", ENOTTY}, {"EPERM", EPERM}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(name, known[i].name))
            return known[i].value;
    return -1;
}

static int fail_with(long nr, int error)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)error),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof code / sizeof code[0], code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

int main(int argc, char **argv)
{
    char name[32] = "";
    const char *colon = argc >= 2 ? strchr(argv[1], ':') : NULL;
    if (argc >= 2)
        snprintf(name, sizeof name, "%.*s", colon ? (int)(colon - argv[1]) : 31, argv[1]);
    long nr = argc >= 4 ? syscall_number(name) : -1;
    int error = colon ? errno_number(colon + 1) : nr == 437 ? ENOSYS : EIO;
    if (nr < 0 || error < 0 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: failing-syscall SYSCALL[:ERRNO] -- PROGRAM [ARGS...]\n");
        return 2;
    }
    if (fail_with(nr, error) != 0) {
        fprintf(stderr, "failing-syscall: seccomp filter: %s\n", strerror(errno));
        return 126;
    }
    execvp(argv[3], argv + 3);
    fprintf(stderr, "failing-syscall: %s: %s\n", argv[3], strerror(errno));
    return 127;
}
