/* failing-syscall: runs a program in which one system call always fails with EIO, as a
 * disk that reports a write error does. The integrity tests use it to make a checkpoint's
 * fsync fail without root or a broken device. openat2 fails with ENOSYS instead, as on a
 * kernel before 5.6 or under a container's seccomp profile that does not know it.
 *
 * Usage: failing-syscall fsync|writev|pwrite64|openat2 -- PROGRAM [ARGS...]
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
    if (!strcmp(name, "writev"))
        return SYS_writev;
    if (!strcmp(name, "pwrite64"))
        return SYS_pwrite64;
    if (!strcmp(name, "openat2"))
        return 437; /* SYS_openat2: Debian 12's headers have it, older ones not */
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
    long nr = argc >= 4 ? syscall_number(argv[1]) : -1;
    if (nr < 0 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr,
                "usage: failing-syscall fsync|writev|pwrite64|openat2 -- PROGRAM [ARGS...]\n");
        return 2;
    }
    if (fail_with(nr, nr == 437 ? ENOSYS : EIO) != 0) {
        fprintf(stderr, "failing-syscall: seccomp filter: %s\n", strerror(errno));
        return 126;
    }
    execvp(argv[3], argv + 3);
    fprintf(stderr, "failing-syscall: %s: %s\n", argv[3], strerror(errno));
    return 127;
}
