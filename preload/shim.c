/* libckpt.so, the preload shim: it keeps track of every descriptor the program creates and
 * keeps the checkpoint signal's handler installed and unblockable. The checkpoint itself is
 * in checkpoint.c.
 *
 * It is active only in the process checkpoint-run started (CKPT_PID equals its pid at
 * startup) and in that process restored; children and programs they exec pass through. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/single_threaded.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shim.h"
#include "lazyanon.h"
#include "track.h"
#include "compress.h"
#include "launch_options.h"
#include "stop.h"
#include "sys.h"
#include "util.h"

#define EXPORT __attribute__((visibility("default")))

struct shim_state ckpt_shim;
/* Initialized, so that it lies in the library's data, where `ckpt checkpoint` looks for it. */
struct ckpt_shim_public ckpt_public = {.magic = CKPT_PUBLIC_MAGIC};

/* libc's own functions, found once at startup (or on first use, if another library's
 * constructor calls us before ours has run). */
#define REAL(name) real_##name
#define DEFINE_REAL(ret, name, params) static ret(*real_##name) params
#define RESOLVE(name)                                                                              \
    do {                                                                                           \
        if (!real_##name)                                                                          \
            real_##name = dlsym(RTLD_NEXT, #name);                                                 \
    } while (0)

DEFINE_REAL(int, open, (const char *, int, ...));
DEFINE_REAL(int, open64, (const char *, int, ...));
DEFINE_REAL(int, openat, (int, const char *, int, ...));
DEFINE_REAL(int, openat64, (int, const char *, int, ...));
DEFINE_REAL(int, __open_2, (const char *, int));
DEFINE_REAL(int, __open64_2, (const char *, int));
DEFINE_REAL(int, __openat_2, (int, const char *, int));
DEFINE_REAL(int, __openat64_2, (int, const char *, int));
DEFINE_REAL(int, creat, (const char *, mode_t));
DEFINE_REAL(int, creat64, (const char *, mode_t));
DEFINE_REAL(int, close, (int));
DEFINE_REAL(int, close_range, (unsigned, unsigned, int));
DEFINE_REAL(int, dup2, (int, int));
DEFINE_REAL(int, dup3, (int, int, int));
DEFINE_REAL(int, fcntl, (int, int, ...));
DEFINE_REAL(int, fcntl64, (int, int, ...));
DEFINE_REAL(int, pipe, (int[2]));
DEFINE_REAL(int, pipe2, (int[2], int));
DEFINE_REAL(int, socket, (int, int, int));
DEFINE_REAL(int, socketpair, (int, int, int, int[2]));
DEFINE_REAL(int, accept, (int, struct sockaddr *, socklen_t *));
DEFINE_REAL(int, accept4, (int, struct sockaddr *, socklen_t *, int));
DEFINE_REAL(int, sigaction, (int, const struct sigaction *, struct sigaction *));
DEFINE_REAL(sighandler_t, signal, (int, sighandler_t));
DEFINE_REAL(int, sigprocmask, (int, const sigset_t *, sigset_t *));
DEFINE_REAL(int, pthread_sigmask, (int, const sigset_t *, sigset_t *));
DEFINE_REAL(int, madvise, (void *, size_t, int));
DEFINE_REAL(void, _exit, (int));
DEFINE_REAL(void, _Exit, (int));
DEFINE_REAL(int, execve, (const char *, char *const[], char *const[]));
DEFINE_REAL(int, execv, (const char *, char *const[]));
DEFINE_REAL(int, execvp, (const char *, char *const[]));
DEFINE_REAL(int, execvpe, (const char *, char *const[], char *const[]));
DEFINE_REAL(int, fexecve, (int, char *const[], char *const[]));
DEFINE_REAL(int, execveat, (int, const char *, char *const[], char *const[], int));

/* ---- descriptor bookkeeping ----------------------------------------------------------- */

static int record(int fd, uint8_t origin, int flags)
{
    if (fd >= 0)
        fdtable_set(&ckpt_shim.fds, fd, origin, (uint32_t)flags);
    return fd;
}

static int record_pair(int rc, int fds[2], uint8_t origin, int flags)
{
    if (rc == 0) {
        record(fds[0], origin, flags);
        record(fds[1], origin, flags);
    }
    return rc;
}

static int needs_mode(int flags)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

#define MODE_ARG(flags, mode)                                                                      \
    do {                                                                                           \
        if (needs_mode(flags)) {                                                                   \
            va_list ap;                                                                            \
            va_start(ap, flags);                                                                   \
            mode = va_arg(ap, mode_t);                                                             \
            va_end(ap);                                                                            \
        }                                                                                          \
    } while (0)

EXPORT int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    RESOLVE(open);
    return record(REAL(open)(path, flags, mode), CKPT_ORIGIN_OPEN, flags);
}

EXPORT int open64(const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    RESOLVE(open64);
    return record(REAL(open64)(path, flags, mode), CKPT_ORIGIN_OPEN, flags);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    RESOLVE(openat);
    return record(REAL(openat)(dirfd, path, flags, mode), CKPT_ORIGIN_OPEN, flags);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    RESOLVE(openat64);
    return record(REAL(openat64)(dirfd, path, flags, mode), CKPT_ORIGIN_OPEN, flags);
}

/* _FORTIFY_SOURCE builds call these instead of open/openat. */
EXPORT int __open_2(const char *path, int flags)
{
    RESOLVE(__open_2);
    return record(REAL(__open_2)(path, flags), CKPT_ORIGIN_OPEN, flags);
}

EXPORT int __open64_2(const char *path, int flags)
{
    RESOLVE(__open64_2);
    return record(REAL(__open64_2)(path, flags), CKPT_ORIGIN_OPEN, flags);
}

EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
    RESOLVE(__openat_2);
    return record(REAL(__openat_2)(dirfd, path, flags), CKPT_ORIGIN_OPEN, flags);
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
    RESOLVE(__openat64_2);
    return record(REAL(__openat64_2)(dirfd, path, flags), CKPT_ORIGIN_OPEN, flags);
}

EXPORT int creat(const char *path, mode_t mode)
{
    RESOLVE(creat);
    return record(REAL(creat)(path, mode), CKPT_ORIGIN_OPEN, O_CREAT | O_WRONLY | O_TRUNC);
}

EXPORT int creat64(const char *path, mode_t mode)
{
    RESOLVE(creat64);
    return record(REAL(creat64)(path, mode), CKPT_ORIGIN_OPEN, O_CREAT | O_WRONLY | O_TRUNC);
}

/* In a process with one thread, close is no cancellation point, and libc's close is the
 * bare system call (glibc's __libc_single_threaded says so): made here, it saves a call into
 * libc on every close. */
EXPORT int close(int fd)
{
    int rc;
    if (__libc_single_threaded) {
        long r = sys_close(fd);
        errno = r < 0 ? (int)-r : errno;
        rc = r < 0 ? -1 : 0;
    } else {
        RESOLVE(close);
        rc = REAL(close)(fd);
    }
    if (rc == 0 || errno != EBADF)
        fdtable_clear(&ckpt_shim.fds, fd); /* close releases fd even when it fails */
    return rc;
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    RESOLVE(close_range);
    int rc = REAL(close_range)(first, last, flags);
    if (rc == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
        fdtable_clear_range(&ckpt_shim.fds, first, last);
    return rc;
}

/* dup is no cancellation point, and glibc's is a bare system call: made here, it saves a
 * call into libc on the cheapest round the shim wraps. */
EXPORT int dup(int fd)
{
    long rc = sys_call1(__NR_dup, fd);
    if (rc < 0) {
        errno = (int)-rc;
        return -1;
    }
    fdtable_dup(&ckpt_shim.fds, fd, (int)rc);
    return (int)rc;
}

EXPORT int dup2(int fd, int to)
{
    RESOLVE(dup2);
    int rc = REAL(dup2)(fd, to);
    if (rc >= 0 && fd != to)
        fdtable_dup(&ckpt_shim.fds, fd, rc);
    return rc;
}

EXPORT int dup3(int fd, int to, int flags)
{
    RESOLVE(dup3);
    int rc = REAL(dup3)(fd, to, flags);
    if (rc >= 0)
        fdtable_dup(&ckpt_shim.fds, fd, rc);
    return rc;
}

static int after_fcntl(int fd, int cmd, int rc)
{
    if (rc >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
        fdtable_dup(&ckpt_shim.fds, fd, rc);
    return rc;
}

/* Every fcntl command takes at most one argument, an int or a pointer. */
EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    RESOLVE(fcntl);
    return after_fcntl(fd, cmd, REAL(fcntl)(fd, cmd, arg));
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    RESOLVE(fcntl64);
    if (!REAL(fcntl64)) { /* glibc before 2.28 */
        RESOLVE(fcntl);
        return after_fcntl(fd, cmd, REAL(fcntl)(fd, cmd, arg));
    }
    return after_fcntl(fd, cmd, REAL(fcntl64)(fd, cmd, arg));
}

EXPORT int pipe(int fds[2])
{
    RESOLVE(pipe);
    return record_pair(REAL(pipe)(fds), fds, CKPT_ORIGIN_PIPE, 0);
}

EXPORT int pipe2(int fds[2], int flags)
{
    RESOLVE(pipe2);
    return record_pair(REAL(pipe2)(fds, flags), fds, CKPT_ORIGIN_PIPE, flags);
}

EXPORT int socket(int domain, int type, int protocol)
{
    RESOLVE(socket);
    return record(REAL(socket)(domain, type, protocol), CKPT_ORIGIN_SOCKET, type);
}

EXPORT int socketpair(int domain, int type, int protocol, int fds[2])
{
    RESOLVE(socketpair);
    return record_pair(REAL(socketpair)(domain, type, protocol, fds), fds, CKPT_ORIGIN_SOCKET,
                       type);
}

EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    RESOLVE(accept);
    return record(REAL(accept)(fd, addr, len), CKPT_ORIGIN_ACCEPT, 0);
}

EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    RESOLVE(accept4);
    return record(REAL(accept4)(fd, addr, len, flags), CKPT_ORIGIN_ACCEPT, flags);
}

/* ---- the checkpoint signal stays ours ------------------------------------------------- */

static int is_checkpoint_signal(int sig)
{
    return ckpt_shim.active && sig == ckpt_shim.signal;
}

static void warn_signal_taken(void)
{
    if (ckpt_shim.warned_about_signal++)
        return;
    char msg[320];
    size_t n = ck_format(msg, sizeof msg,
                         "ckpt: the program installs a handler for signal %d, which ckpt uses "
                         "for checkpoints: the signal from another process takes a checkpoint, "
                         "the program's own (raise, pthread_kill, kill of itself) reaches its "
                         "handler (checkpoint-run --signal SIGRTMIN+N leaves signal %d to the "
                         "program)\n",
                         ckpt_shim.signal, ckpt_shim.signal);
    ck_write_all(2, msg, n);
}

/* The checkpoint handler reads the recorded action when it passes the program's own
 * deliveries on: it must never see one half written. */
static void record_program_action(const struct sigaction *act)
{
    uint64_t own = 1ULL << (ckpt_shim.signal - 1), old = 0;
    sys_rt_sigprocmask(SIG_BLOCK, &own, &old);
    ckpt_shim.program_action = *act;
    sys_rt_sigprocmask(SIG_SETMASK, &old, NULL);
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    RESOLVE(sigaction);
    if (!is_checkpoint_signal(sig))
        return REAL(sigaction)(sig, act, old);
    if (old)
        *old = ckpt_shim.program_action;
    if (act) {
        record_program_action(act);
        warn_signal_taken();
    }
    return 0;
}

/* glibc's signal(): BSD semantics, the signal blocked while its handler runs. */
EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    RESOLVE(signal);
    if (!is_checkpoint_signal(sig))
        return REAL(signal)(sig, handler);
    if (handler == SIG_ERR) {
        errno = EINVAL;
        return SIG_ERR;
    }
    sighandler_t old = ckpt_shim.program_action.sa_handler;
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    act.sa_flags = SA_RESTART;
    sigemptyset(&act.sa_mask);
    sigaddset(&act.sa_mask, sig);
    record_program_action(&act);
    warn_signal_taken();
    return old;
}

/* Blocking the checkpoint signal would postpone checkpoints indefinitely. */
static const sigset_t *without_checkpoint_signal(int how, const sigset_t *set, sigset_t *copy)
{
    if (!set || !ckpt_shim.active || how == SIG_UNBLOCK)
        return set;
    *copy = *set;
    sigdelset(copy, ckpt_shim.signal);
    return copy;
}

EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    sigset_t copy;
    RESOLVE(sigprocmask);
    return REAL(sigprocmask)(how, without_checkpoint_signal(how, set, &copy), old);
}

EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    sigset_t copy;
    RESOLVE(pthread_sigmask);
    return REAL(pthread_sigmask)(how, without_checkpoint_signal(how, set, &copy), old);
}

/* ---- startup -------------------------------------------------------------------------- */

extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));

/* libthread_db's description of struct pthread's tid field, which libc.so.6 exports for
 * debuggers (GLIBC_PRIVATE, glibc's nptl_db/structs.def): {size in bits, count, offset}. */
static long tid_offset_from_thread_db(void)
{
    const uint32_t *desc = dlsym(RTLD_DEFAULT, "_thread_db_pthread_tid");
    if (!desc || desc[0] != 32 || desc[1] != 1)
        return 0;
    return (long)desc[2];
}

/* Where glibc keeps the thread id inside struct pthread (the thread pointer): from
 * libthread_db's descriptor when libc.so.6 has it, else found by looking for it (720 on glibc
 * 2.36 x86_64). Either is taken only if the main thread's word holds its tid now; each
 * checkpoint verifies it again (thread_save_self) and refuses when it does not hold. */
static void find_tid_offset(struct thread_facts *f)
{
    const int *self = (const int *)pthread_self();
    int tid = (int)sys_gettid();
    long offset = tid_offset_from_thread_db();
    if (offset > 0 && offset % 4 == 0 && offset < 65536 && self[offset / 4] == tid) {
        f->tid_offset = offset;
        f->tid_from_thread_db = 1;
        return;
    }
    for (long i = 4; i < 2048 / 4; i++)
        if (self[i] == tid) {
            f->tid_offset = i * 4;
            return;
        }
}

/* ld.so's _rtld_global and its size (its symbol's), where ld.so keeps its recursive locks:
 * a restore gives them to the new tids of their owners (thread_adopt_rtld_locks). */
static void find_rtld_global(struct thread_facts *f)
{
    void *g = dlsym(RTLD_DEFAULT, "_rtld_global");
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (g && dladdr1(g, &info, (void **)&sym, RTLD_DL_SYMENT) && sym) {
        f->rtld_global = (uint64_t)(uintptr_t)g;
        f->rtld_global_size = sym->st_size;
    }
}

static void learn_about_glibc(void)
{
    if (&__rseq_size && &__rseq_offset) {
        ckpt_shim.glibc.rseq_size = __rseq_size;
        ckpt_shim.glibc.rseq_offset = __rseq_offset;
    }
    find_tid_offset(&ckpt_shim.glibc);
    find_rtld_global(&ckpt_shim.glibc);
}

static void install_checkpoint_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigfillset(&sa.sa_mask); /* the program's handlers must not run while memory is saved */
    sa.sa_sigaction = checkpoint_handler_address();
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    RESOLVE(sigaction);
    REAL(sigaction)(ckpt_shim.signal, &sa, &ckpt_shim.program_action);
    /* Make sure the signal is not blocked from the start (inherited masks). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, ckpt_shim.signal);
    RESOLVE(sigprocmask);
    REAL(sigprocmask)(SIG_UNBLOCK, &set, NULL);
}

/* ---- what the checkpoint's writer child needs to know --------------------------------- */

/* Memory a fork does not copy as it is: a writer child would save something else. */
EXPORT int madvise(void *addr, size_t len, int advice)
{
    RESOLVE(madvise);
    if (advice == MADV_DONTFORK || advice == MADV_WIPEONFORK)
        ckpt_shim.fork_unsafe_advice = 1;
    /* After restore-run --lazy, anonymous memory may be mapped from the image (lazyanon.h). */
    if (lazyanon_concerns(addr, len, advice))
        return lazyanon_madvise(addr, len, advice, REAL(madvise));
    return REAL(madvise)(addr, len, advice);
}

/* A program that ends while a checkpoint's image is still being written waits for it:
 * whoever runs it next may restore at once. Signals stay blocked from here on, so that no
 * new checkpoint starts a writer this wait would miss: the process is ending anyway. */
__attribute__((destructor)) static void wait_for_image_at_exit(void)
{
    if (!ckpt_shim.active || !checkpoint_writers_pending())
        return;
    uint64_t all = ~0ULL;
    sys_rt_sigprocmask(SIG_BLOCK, &all, NULL);
    checkpoint_wait_for_writers();
}

EXPORT void _exit(int status)
{
    RESOLVE(_exit);
    wait_for_image_at_exit();
    REAL(_exit)(status);
    __builtin_unreachable();
}

EXPORT void _Exit(int status)
{
    RESOLVE(_Exit);
    wait_for_image_at_exit();
    REAL(_Exit)(status);
    __builtin_unreachable();
}

/* ---- exec: the program's writer child is waited for first --------------------------- */

/* The writer child is the program's child: after an exec the new program (in which the
 * shim is active again, same pid) would find a child it knows nothing of, and refuse its
 * checkpoints. So exec first blocks the checkpoint signal, so that no new checkpoint starts,
 * and waits (every signal blocked) for a writer already at work. The signal stays blocked
 * through the exec itself: a checkpoint requested in the meantime stays pending, and the
 * new program's shim takes it once its handler is installed, which unblocks the signal
 * (install_checkpoint_handler) — rather than the new program dying of the signal's default
 * action before that, or inheriting a writer. A new program without the shim (one run with
 * LD_PRELOAD removed) keeps the signal blocked. If the exec fails, the mask is put back.
 * (execl* and execvp* call glibc's own execve, not ours: each is wrapped.) Returns the mask
 * to put back. */
static uint64_t hold_checkpoints_for_exec(void)
{
    uint64_t own = ckpt_shim.active ? 1ULL << (ckpt_shim.signal - 1) : 0, old = 0;
    sys_rt_sigprocmask(SIG_BLOCK, &own, &old);
    if (ckpt_shim.active && checkpoint_writers_pending()) {
        uint64_t all = ~0ULL, before = 0;
        sys_rt_sigprocmask(SIG_BLOCK, &all, &before);
        checkpoint_wait_for_writers();
        sys_rt_sigprocmask(SIG_SETMASK, &before, NULL);
    }
    return old;
}

/* The exec returned (it failed): the program's mask as it was, the exec's result. */
static int exec_failed(uint64_t mask, int rc)
{
    sys_rt_sigprocmask(SIG_SETMASK, &mask, NULL); /* a raw call: errno stays the exec's */
    return rc;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    RESOLVE(execve);
    uint64_t mask = hold_checkpoints_for_exec();
    return exec_failed(mask, REAL(execve)(path, argv, envp));
}

EXPORT int execv(const char *path, char *const argv[])
{
    RESOLVE(execv);
    uint64_t mask = hold_checkpoints_for_exec();
    return exec_failed(mask, REAL(execv)(path, argv));
}

EXPORT int execvp(const char *file, char *const argv[])
{
    RESOLVE(execvp);
    uint64_t mask = hold_checkpoints_for_exec();
    return exec_failed(mask, REAL(execvp)(file, argv));
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    RESOLVE(execvpe);
    uint64_t mask = hold_checkpoints_for_exec();
    return exec_failed(mask, REAL(execvpe)(file, argv, envp));
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    RESOLVE(fexecve);
    uint64_t mask = hold_checkpoints_for_exec();
    return exec_failed(mask, REAL(fexecve)(fd, argv, envp));
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
    RESOLVE(execveat);
    uint64_t mask = hold_checkpoints_for_exec();
    return exec_failed(mask, REAL(execveat)(dirfd, path, argv, envp, flags));
}

/* How many arguments of execl, execlp or execle follow the first, up to the NULL. */
static size_t count_list(va_list ap)
{
    size_t n = 0;
    while (va_arg(ap, char *))
        n++;
    return n;
}

/* Declares argv[] holding arg0 and the list after it with its NULL, then runs last (which
 * may take one more argument: execle's envp). */
#define LIST_TO_ARGV(argv, arg0, last)                                                             \
    va_list ap;                                                                                    \
    va_start(ap, arg0);                                                                            \
    size_t n = count_list(ap) + 1; /* arg0 is not NULL: glibc declares it nonnull */               \
    va_end(ap);                                                                                    \
    char *argv[n + 1];                                                                             \
    argv[0] = (char *)arg0;                                                                        \
    va_start(ap, arg0);                                                                            \
    for (size_t i = 1; i <= n; i++)                                                                \
        argv[i] = va_arg(ap, char *); /* argv[n] is the NULL */                                    \
    last;                                                                                          \
    va_end(ap)

EXPORT int execl(const char *path, const char *arg, ...)
{
    LIST_TO_ARGV(argv, arg, (void)0);
    return execv(path, argv);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
    LIST_TO_ARGV(argv, arg, (void)0);
    return execvp(file, argv);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
    char *const *envp;
    LIST_TO_ARGV(argv, arg, envp = va_arg(ap, char *const *));
    return execve(path, argv, envp);
}

/* A process the shim does not serve says so at once: `ckpt checkpoint` refuses it rather
 * than wait for a handler that never comes. */
static void publish_passive(void)
{
    public_begin_update();
    ckpt_public.role = CKPT_ROLE_PASSIVE;
    public_end_update();
}

/* A forked child is not the checkpointed process: it gets the program's own disposition. */
static void become_passive_in_child(void)
{
    ckpt_shim.writer_pid = 0; /* not this child's child, nor these */
    memset(ckpt_shim.finishing_pid, 0, sizeof ckpt_shim.finishing_pid);
    if (!ckpt_shim.active)
        return;
    ckpt_shim.active = 0;
    REAL(sigaction)(ckpt_shim.signal, &ckpt_shim.program_action, NULL);
    publish_passive(); /* `ckpt checkpoint CHILD` is refused, not signalled */
}

static int read_settings(void)
{
    const char *image = getenv(CKPT_ENV_IMAGE), *sig = getenv(CKPT_ENV_SIGNAL);
    const char *pid = getenv(CKPT_ENV_PID);
    if (!image || !sig || !pid || atol(pid) != (long)getpid())
        return -1;
    if (image[0] != '/' || ck_strlcpy(ckpt_shim.image, image, sizeof ckpt_shim.image) < 0)
        return -1;
    const char *keep = getenv(CKPT_ENV_KEEP);
    ckpt_shim.keep = keep && atoi(keep) > 1 ? atoi(keep) : 1;
    track_init(getenv(CKPT_ENV_INCREMENTAL));
    const char *linger = getenv(CKPT_ENV_TEST_WRITER_LINGER_MS);
    ckpt_shim.test_linger_ms = linger ? atol(linger) : 0;
    const char *pagemap = getenv(CKPT_ENV_TEST_PAGEMAP);
    ckpt_shim.no_pagemap_scan = pagemap && !strcmp(pagemap, "entries");
    const char *background = getenv(CKPT_ENV_BACKGROUND);
    ckpt_shim.no_background = background && !strcmp(background, "0");
    const char *interval = getenv(CKPT_ENV_INTERVAL);
    ckpt_shim.interval_ns = interval ? strtoull(interval, NULL, 10) : 0;
    const char *compress = getenv(CKPT_ENV_COMPRESS);
    /* LEVEL, LEVEL,all or all (level -1), as checkpoint-run --compress writes it; "" or 0:
     * none */
    int every_run = compress && (!strcmp(compress, "all") || strstr(compress, ",all"));
    ckpt_shim.compress_level = !compress                 ? 0
                               : strcmp(compress, "all") ? atoi(compress)
                                                         : CKPT_COMPRESS_DEFAULT_LEVEL;
    ckpt_shim.compress_every_run = every_run;
    if (ckpt_shim.compress_level && !ckpt_compress_level_ok(ckpt_shim.compress_level))
        return -1;
    const char *incremental = getenv(CKPT_ENV_INCREMENTAL);
    if (ckpt_shim.compress_level && incremental && atoi(incremental) > 0)
        return -1; /* checkpoint-run refuses them together, naming both */
    const char *stop_timeout = getenv(CKPT_ENV_STOP_TIMEOUT);
    ckpt_shim.stop_timeout_ns = stop_timeout ? strtoull(stop_timeout, NULL, 10) : 0;
    if (!ckpt_shim.stop_timeout_ns)
        ckpt_shim.stop_timeout_ns = CKPT_STOP_TIMEOUT_DEFAULT_NS;
    ckpt_shim.signal = atoi(sig);
    return ckpt_shim.signal >= 1 && ckpt_shim.signal <= 64 ? 0 : -1;
}

/* Descriptors open before main() were inherited: restore takes pipes, sockets and terminals
 * among them from restore-run rather than refusing them. */
static void record_inherited_descriptors(void)
{
    struct ck_dir dir;
    const char *name;
    if (ck_dir_open(&dir, "/proc/self/fd") < 0)
        return;
    while ((name = ck_dir_next(&dir))) {
        int fd = (int)ck_parse_uint(&name, 10);
        if (fd != dir.fd)
            fdtable_set(&ckpt_shim.fds, fd, CKPT_ORIGIN_INHERITED, 0);
    }
    ck_dir_close(&dir);
}

/* checkpoint-run --interval: a failure to make the timer is said, and the program runs
 * without periodic checkpoints. */
static void start_interval_timer(void)
{
    int rc = checkpoint_start_interval_timer();
    if (rc < 0) {
        char msg[256];
        size_t n = ck_format(msg, sizeof msg,
                             "ckpt: cannot start the --interval timer: %s; no periodic "
                             "checkpoints\n",
                             ck_strerror(-rc));
        ck_write_all(2, msg, n);
    }
}

__attribute__((constructor)) static void shim_start(void)
{
    if (read_settings() != 0) {
        publish_passive();
        return;
    }
    learn_about_glibc();
    record_inherited_descriptors();
    ckpt_shim.program_pid = ckpt_shim.pid_now = sys_getpid();
    ckpt_shim.active = 1;
    sys_getrandom(&ckpt_shim.sigroute_cookie, sizeof ckpt_shim.sigroute_cookie, 0);
    install_checkpoint_handler();
    pthread_atfork(NULL, NULL, become_passive_in_child);
    ck_strlcpy(ckpt_public.image, ckpt_shim.image, sizeof ckpt_public.image);
    ckpt_public.signal = ckpt_shim.signal;
    public_announce_active();
    start_interval_timer();
}
