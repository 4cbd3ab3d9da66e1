/* Raw Linux x86_64 system calls for code that cannot use libc: the checkpoint signal handler
 * (it may interrupt malloc or stdio) and the restore core (libc is unmapped under it).
 *
 * Every sys_*() returns the kernel's result: >= 0 on success, -errno on failure. Nothing
 * here touches errno (it lives in TLS, which the restore core does not have). */
#ifndef CKPT_SYS_H
#define CKPT_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <asm/unistd.h>

static inline long sys_call0(long n)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n) : "rcx", "r11", "memory");
    return r;
}

static inline long sys_call1(long n, long a)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a) : "rcx", "r11", "memory");
    return r;
}

static inline long sys_call2(long n, long a, long b)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return r;
}

static inline long sys_call3(long n, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

static inline long sys_call4(long n, long a, long b, long c, long d)
{
    long r;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return r;
}

static inline long sys_call5(long n, long a, long b, long c, long d, long e)
{
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return r;
}

static inline long sys_call6(long n, long a, long b, long c, long d, long e, long f)
{
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}

#define SYS_L(x) ((long)(x))

static inline long sys_read(int fd, void *buf, size_t n)
{
    return sys_call3(__NR_read, fd, SYS_L(buf), SYS_L(n));
}
static inline long sys_write(int fd, const void *buf, size_t n)
{
    return sys_call3(__NR_write, fd, SYS_L(buf), SYS_L(n));
}
static inline long sys_pread(int fd, void *buf, size_t n, uint64_t off)
{
    return sys_call4(__NR_pread64, fd, SYS_L(buf), SYS_L(n), SYS_L(off));
}
static inline long sys_pwrite(int fd, const void *buf, size_t n, uint64_t off)
{
    return sys_call4(__NR_pwrite64, fd, SYS_L(buf), SYS_L(n), SYS_L(off));
}
static inline long sys_writev(int fd, const void *iov, int cnt)
{
    return sys_call3(__NR_writev, fd, SYS_L(iov), cnt);
}
static inline long sys_openat(int dirfd, const char *path, int flags, int mode)
{
    return sys_call4(__NR_openat, dirfd, SYS_L(path), flags, mode);
}
/* openat2's struct open_how; RESOLVE_NO_SYMLINKS refuses (ELOOP) a symbolic link in any
 * component of the path, magic links of /proc included. */
struct ck_open_how {
    uint64_t flags, mode, resolve;
};
#define CK_RESOLVE_NO_SYMLINKS 0x04
static inline long sys_openat2(int dirfd, const char *path, const struct ck_open_how *how)
{
    return sys_call4(__NR_openat2, dirfd, SYS_L(path), SYS_L(how), sizeof *how);
}
static inline long sys_close(int fd)
{
    return sys_call1(__NR_close, fd);
}
static inline long sys_close_range(unsigned first, unsigned last, unsigned flags)
{
    return sys_call3(__NR_close_range, first, last, flags);
}
static inline long sys_lseek(int fd, int64_t off, int whence)
{
    return sys_call3(__NR_lseek, fd, SYS_L(off), whence);
}
/* The kernel's x86_64 struct stat (named apart from libc's so both can be in scope). */
struct kstat {
    uint64_t st_dev, st_ino, st_nlink;
    uint32_t st_mode, st_uid, st_gid, pad0;
    uint64_t st_rdev;
    int64_t st_size, st_blksize, st_blocks;
    uint64_t st_atime_sec, st_atime_nsec, st_mtime_sec, st_mtime_nsec, st_ctime_sec, st_ctime_nsec;
    int64_t unused[3];
};
#define CK_S_IFMT 0170000u
#define CK_S_IFSOCK 0140000u
#define CK_S_IFREG 0100000u
#define CK_S_IFDIR 0040000u
#define CK_S_IFCHR 0020000u
#define CK_S_IFIFO 0010000u
#define CK_S_IS(mode, kind) (((mode)&CK_S_IFMT) == (kind))

static inline long sys_fstat(int fd, struct kstat *st)
{
    return sys_call2(__NR_fstat, fd, SYS_L(st));
}
static inline long sys_newfstatat(int dirfd, const char *path, struct kstat *st, int flags)
{
    return sys_call4(__NR_newfstatat, dirfd, SYS_L(path), SYS_L(st), flags);
}
static inline long sys_fsync(int fd)
{
    return sys_call1(__NR_fsync, fd);
}
static inline long sys_fdatasync(int fd)
{
    return sys_call1(__NR_fdatasync, fd);
}
static inline long sys_getrandom(void *buf, size_t n, unsigned flags)
{
    return sys_call3(__NR_getrandom, SYS_L(buf), SYS_L(n), flags);
}
static inline long sys_ftruncate(int fd, uint64_t len)
{
    return sys_call2(__NR_ftruncate, fd, SYS_L(len));
}
#define CK_FALLOC_FL_KEEP_SIZE 1
static inline long sys_fallocate(int fd, int mode, uint64_t off, uint64_t len)
{
    return sys_call4(__NR_fallocate, fd, mode, SYS_L(off), SYS_L(len));
}
static inline long sys_fchmod(int fd, unsigned mode)
{
    return sys_call2(__NR_fchmod, fd, mode);
}
static inline long sys_renameat(int olddir, const char *oldp, int newdir, const char *newp)
{
    return sys_call4(__NR_renameat, olddir, SYS_L(oldp), newdir, SYS_L(newp));
}
/* flags: RENAME_EXCHANGE swaps the two names atomically. */
static inline long sys_renameat2(int olddir, const char *oldp, int newdir, const char *newp,
                                 unsigned flags)
{
    return sys_call5(__NR_renameat2, olddir, SYS_L(oldp), newdir, SYS_L(newp), flags);
}
/* flags: SYNC_FILE_RANGE_WRITE starts writeback of the range's dirty pages, without waiting. */
static inline long sys_sync_file_range(int fd, uint64_t off, uint64_t len, unsigned flags)
{
    return sys_call4(__NR_sync_file_range, fd, SYS_L(off), SYS_L(len), flags);
}
/* advice: POSIX_FADV_DONTNEED (4) drops the range's clean pages from the page cache. */
static inline long sys_fadvise(int fd, uint64_t off, uint64_t len, int advice)
{
    return sys_call4(__NR_fadvise64, fd, SYS_L(off), SYS_L(len), advice);
}
static inline long sys_linkat(int olddir, const char *oldp, int newdir, const char *newp, int flags)
{
    return sys_call5(__NR_linkat, olddir, SYS_L(oldp), newdir, SYS_L(newp), flags);
}
static inline long sys_unlinkat(int dirfd, const char *path, int flags)
{
    return sys_call3(__NR_unlinkat, dirfd, SYS_L(path), flags);
}
static inline long sys_readlinkat(int dirfd, const char *path, char *buf, size_t n)
{
    return sys_call4(__NR_readlinkat, dirfd, SYS_L(path), SYS_L(buf), SYS_L(n));
}
static inline long sys_getcwd(char *buf, size_t n)
{
    return sys_call2(__NR_getcwd, SYS_L(buf), SYS_L(n));
}
static inline long sys_faccessat(int dirfd, const char *path, int mode)
{
    return sys_call3(__NR_faccessat, dirfd, SYS_L(path), mode);
}
static inline long sys_chdir(const char *path)
{
    return sys_call1(__NR_chdir, SYS_L(path));
}
static inline long sys_fchdir(int fd)
{
    return sys_call1(__NR_fchdir, fd);
}
static inline long sys_umask(int mask)
{
    return sys_call1(__NR_umask, mask);
}
static inline long sys_fcntl(int fd, int cmd, long arg)
{
    return sys_call3(__NR_fcntl, fd, cmd, arg);
}
static inline long sys_dup3(int oldfd, int newfd, int flags)
{
    return sys_call3(__NR_dup3, oldfd, newfd, flags);
}
static inline long sys_getdents64(int fd, void *buf, size_t n)
{
    return sys_call3(__NR_getdents64, fd, SYS_L(buf), SYS_L(n));
}
static inline long sys_ioctl(int fd, unsigned long req, void *arg)
{
    return sys_call3(__NR_ioctl, fd, SYS_L(req), SYS_L(arg));
}
static inline long sys_kcmp(int pid1, int pid2, int type, unsigned long a, unsigned long b)
{
    return sys_call5(__NR_kcmp, pid1, pid2, type, SYS_L(a), SYS_L(b));
}

static inline void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, uint64_t off)
{
    return (void *)sys_call6(__NR_mmap, SYS_L(addr), SYS_L(len), prot, flags, fd, SYS_L(off));
}
/* mmap's result is an address or -errno; errors are the top 4095 values. */
static inline int sys_mmap_failed(const void *p)
{
    return (unsigned long)p > -4096UL;
}
static inline long sys_munmap(void *addr, size_t len)
{
    return sys_call2(__NR_munmap, SYS_L(addr), SYS_L(len));
}
static inline long sys_mprotect(void *addr, size_t len, int prot)
{
    return sys_call3(__NR_mprotect, SYS_L(addr), SYS_L(len), prot);
}
static inline void *sys_mremap(void *old, size_t oldlen, size_t newlen, int flags, void *newaddr)
{
    return (void *)sys_call5(__NR_mremap, SYS_L(old), SYS_L(oldlen), SYS_L(newlen), flags,
                             SYS_L(newaddr));
}
static inline long sys_brk(uint64_t addr)
{
    return sys_call1(__NR_brk, SYS_L(addr));
}
static inline long sys_prctl(int op, unsigned long a, unsigned long b, unsigned long c,
                             unsigned long d)
{
    return sys_call5(__NR_prctl, op, SYS_L(a), SYS_L(b), SYS_L(c), SYS_L(d));
}
static inline long sys_arch_prctl(int code, unsigned long addr)
{
    return sys_call2(__NR_arch_prctl, code, SYS_L(addr));
}

static inline long sys_getpid(void)
{
    return sys_call0(__NR_getpid);
}
static inline long sys_getppid(void)
{
    return sys_call0(__NR_getppid);
}
static inline long sys_gettid(void)
{
    return sys_call0(__NR_gettid);
}
static inline long sys_getpgid(int pid)
{
    return sys_call1(__NR_getpgid, pid);
}
static inline long sys_getuid(void)
{
    return sys_call0(__NR_getuid);
}
static inline long sys_geteuid(void)
{
    return sys_call0(__NR_geteuid);
}
static inline long sys_getgid(void)
{
    return sys_call0(__NR_getgid);
}
static inline long sys_kill(int pid, int sig)
{
    return sys_call2(__NR_kill, pid, sig);
}
static inline long sys_tgkill(int tgid, int tid, int sig)
{
    return sys_call3(__NR_tgkill, tgid, tid, sig);
}
/* The kernel's struct sigaction for rt_sigaction (not glibc's). */
struct kernel_sigaction {
    uint64_t handler;
    uint64_t flags;
    uint64_t restorer;
    uint64_t mask;
};
static inline long sys_rt_sigaction(int sig, const struct kernel_sigaction *act,
                                    struct kernel_sigaction *old)
{
    return sys_call4(__NR_rt_sigaction, sig, SYS_L(act), SYS_L(old), 8);
}
static inline long sys_rt_sigprocmask(int how, const uint64_t *set, uint64_t *old)
{
    return sys_call4(__NR_rt_sigprocmask, how, SYS_L(set), SYS_L(old), 8);
}
static inline long sys_rt_sigpending(uint64_t *set)
{
    return sys_call2(__NR_rt_sigpending, SYS_L(set), 8);
}
static inline long sys_getitimer(int which, void *value)
{
    return sys_call2(__NR_getitimer, which, SYS_L(value));
}
static inline long sys_setitimer(int which, const void *value, void *old)
{
    return sys_call3(__NR_setitimer, which, SYS_L(value), SYS_L(old));
}
static inline long sys_prlimit(int pid, int res, const void *newl, void *oldl)
{
    return sys_call4(__NR_prlimit64, pid, res, SYS_L(newl), SYS_L(oldl));
}
static inline long sys_set_tid_address(void *addr)
{
    return sys_call1(__NR_set_tid_address, SYS_L(addr));
}
static inline long sys_set_robust_list(void *head, size_t len)
{
    return sys_call2(__NR_set_robust_list, SYS_L(head), SYS_L(len));
}
static inline long sys_get_robust_list(int pid, void *head_ptr, size_t *len_ptr)
{
    return sys_call3(__NR_get_robust_list, pid, SYS_L(head_ptr), SYS_L(len_ptr));
}
static inline long sys_rseq(void *area, uint32_t len, int flags, uint32_t sig)
{
    return sys_call4(__NR_rseq, SYS_L(area), len, flags, sig);
}
static inline long sys_clock_gettime(int clk, void *ts)
{
    return sys_call2(__NR_clock_gettime, clk, SYS_L(ts));
}
/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t sys_monotonic_ns(void)
{
    struct {
        int64_t sec, nsec;
    } now = {0, 0};
    sys_clock_gettime(1 /* CLOCK_MONOTONIC */, &now);
    return (uint64_t)now.sec * 1000000000u + (uint64_t)now.nsec;
}
static inline long sys_nanosleep(const void *req, void *rem)
{
    return sys_call2(__NR_nanosleep, SYS_L(req), SYS_L(rem));
}
static inline long sys_sigaltstack(const void *ss, void *old)
{
    return sys_call2(__NR_sigaltstack, SYS_L(ss), SYS_L(old));
}
/* The kernel's struct sched_attr as of Linux 3.14 (SCHED_ATTR_SIZE_VER0, 48 bytes). */
struct kernel_sched_attr {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
};
static inline long sys_sched_getattr(int pid, struct kernel_sched_attr *attr)
{
    return sys_call4(__NR_sched_getattr, pid, SYS_L(attr), sizeof *attr, 0);
}
static inline long sys_sched_setattr(int pid, const struct kernel_sched_attr *attr)
{
    return sys_call3(__NR_sched_setattr, pid, SYS_L(attr), 0);
}
#define CK_FUTEX_WAIT_PRIVATE 128
#define CK_FUTEX_WAKE_PRIVATE 129
static inline long sys_futex(uint32_t *word, int op, uint32_t val)
{
    return sys_call6(__NR_futex, SYS_L(word), op, val, 0, 0, 0);
}
/* fork without libc: a copy-on-write child that returns 0 here on a copy of this stack.
 * exit_signal is 0: the child's end sends no SIGCHLD, and wait() and waitpid() without
 * __WCLONE or __WALL do not see it, so the program's own bookkeeping of children is not
 * disturbed. */
static inline long sys_clone_quiet_child(void)
{
    return sys_call5(__NR_clone, 0, 0, 0, 0, 0);
}
#define CK_WCLONE 0x80000000
static inline long sys_wait4(int pid, int *status, int options)
{
    return sys_call4(__NR_wait4, pid, SYS_L(status), options, 0);
}
static inline __attribute__((noreturn)) void sys_exit_group(int code)
{
    for (;;)
        sys_call1(__NR_exit_group, code);
}

#endif
