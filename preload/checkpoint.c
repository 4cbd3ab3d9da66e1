/* The checkpoint: what happens when the checkpoint signal arrives.
 *
 * ================ NO LIBC IN THIS FILE (signal handler context) ================
 * The signal may interrupt malloc, stdio or any other libc call holding a lock. Everything
 * here uses raw syscalls (state/sys.h), memory from mmap, no errno, no stdio.
 *
 * Phases, kept apart so that threads can later be stopped first and the writing moved to a
 * forked child:
 *   1. quiesce    — (single thread today) pause rseq so the kernel stops writing into TLS;
 *   2. capture    — ckpt_context_save: the point the restored process resumes from;
 *   3. write      — on a private stack: PROCESS record, memory, descriptors, header, to a
 *                   temporary file; fsync; rename over the image; fsync the directory;
 *   4. resume     — report the result (stderr on failure, and the status file for
 *                   `ckpt checkpoint`), resume rseq, return from the handler.
 * When a restored process resumes at phase 2 instead, it frees the restore core and
 * returns: rt_sigreturn then restores the interrupted program's registers and mask. */
#include "shim.h"
#include "files.h"
#include "launch_options.h"
#include "image_io.h"
#include "memory.h"
#include "process.h"
#include "signals.h"
#include "sys.h"
#include "tls.h"

#include <asm/errno.h>
#include <linux/fcntl.h>
#include <linux/mman.h>
#include <ucontext.h>

int ckpt_context_save(struct ckpt_cpu_context *ctx) __attribute__((returns_twice));
void ckpt_call_on_stack(void *stack_top, void (*fn)(void *), void *arg);

/* Scratch memory for one checkpoint: reserved, touched only as needed, excluded from the
 * image, unmapped afterwards. */
#define ARENA_STACK (512UL << 10)
#define ARENA_MAPS (16UL << 20)
#define ARENA_PAGEMAP_ENTRIES 65536UL
#define ARENA_FDS 65536UL
#define ARENA_META (224UL << 20)
#define ARENA_SIZE                                                                                 \
    (ARENA_STACK + ARENA_MAPS + ARENA_PAGEMAP_ENTRIES * 8 + ARENA_FDS * sizeof(int) + ARENA_META)

struct checkpoint_job {
    const struct ckpt_cpu_context *ctx;
    const ucontext_t *uc;
    char *arena;
    char tmp_path[CKPT_PATH_MAX + 32];
    int fd;
    struct ck_error err;
    int rc;
};

static uint32_t origin_of(int fd, uint32_t *open_flags)
{
    return fdtable_get(&ckpt_shim.fds, fd, open_flags);
}

static int fill_process_record(struct checkpoint_job *job, struct image_writer *w)
{
    struct ckpt_process_record *rec = iw_record(w, CKPT_REC_PROCESS, sizeof *rec, 0);
    if (!rec)
        return ck_fail(&job->err, w->error, "image metadata: %s", ck_strerror(-w->error));
    if (process_save(rec, &job->err))
        return -1;
    uint64_t mask;
    ck_memcpy(&mask, &job->uc->uc_sigmask, sizeof mask);
    signals_save(rec, mask);
    tls_save(rec, &ckpt_shim.tls);
    rec->context = *job->ctx;
    rec->checkpoint_signal = (uint32_t)ckpt_shim.signal;
    rec->restore_info_addr = (uint64_t)&ckpt_shim.restore_info;
    return 0;
}

static int write_records(struct checkpoint_job *job, struct image_writer *w)
{
    char *a = job->arena + ARENA_STACK;
    struct memory_save_args mem = {.maps_buf = a,
                                   .maps_cap = ARENA_MAPS,
                                   .pagemap = (uint64_t *)(a + ARENA_MAPS),
                                   .pagemap_entries = ARENA_PAGEMAP_ENTRIES,
                                   .exclude_start = (uint64_t)job->arena,
                                   .exclude_end = (uint64_t)job->arena + ARENA_SIZE,
                                   .no_pagemap_scan = ckpt_shim.no_pagemap_scan};
    struct files_save_args fds = {
        {job->fd}, 1, origin_of, (int *)(a + ARENA_MAPS + ARENA_PAGEMAP_ENTRIES * 8), ARENA_FDS};
    if (fill_process_record(job, w) || memory_save(w, &mem, &job->err) ||
        files_save(w, &fds, &job->err))
        return -1;
    struct timespec {
        int64_t sec, nsec;
    } now = {0, 0};
    sys_clock_gettime(0 /* CLOCK_REALTIME */, &now);
    struct ckpt_file_header hdr = {0};
    hdr.created_sec = now.sec;
    hdr.created_nsec = (uint32_t)now.nsec;
    hdr.pid = (uint32_t)sys_getpid();
    hdr.generation = ckpt_shim.generation;
    int rc = iw_finish(w, &hdr);
    if (rc)
        return ck_fail(&job->err, rc, "writing %s: %s", job->tmp_path, ck_strerror(-rc));
    return 0;
}

/* The directory part of path, for fsync after the rename. */
static void directory_of(const char *path, char *dir, size_t cap)
{
    ck_strlcpy(dir, path, cap);
    char *slash = 0;
    for (char *p = dir; *p; p++)
        if (*p == '/')
            slash = p;
    if (slash == dir)
        slash[1] = 0;
    else if (slash)
        *slash = 0;
    else
        ck_strlcpy(dir, ".", cap);
}

/* Creates path for writing, private (0600), never through a symlink; a leftover of a
 * process that died with our pid is replaced. Returns the descriptor or -errno. */
static long create_private(const char *path)
{
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    long fd = sys_openat(AT_FDCWD, path, flags, 0600);
    if (fd == -EEXIST) {
        sys_unlinkat(AT_FDCWD, path, 0);
        fd = sys_openat(AT_FDCWD, path, flags, 0600);
    }
    return fd;
}

static int open_temporary(struct checkpoint_job *job)
{
    ck_format(job->tmp_path, sizeof job->tmp_path, "%s.tmp.%ld", ckpt_shim.image, sys_getpid());
    long fd = create_private(job->tmp_path);
    if (fd < 0)
        return ck_fail(&job->err, (int)fd, "creating %s: %s", job->tmp_path, ck_strerror((int)-fd));
    job->fd = (int)fd;
    return 0;
}

/* Is name "BASE.tmp.PID" or "BASE.status.tmp.PID" for BASE = the image's file name? Returns
 * PID, or 0. */
static long temporary_of(const char *name, const char *base)
{
    while (*base && *name == *base)
        name++, base++;
    if (*base)
        return 0;
    const char *suffixes[] = {".tmp.", ".status.tmp."};
    for (int i = 0; i < 2; i++) {
        const char *s = suffixes[i], *n = name;
        while (*s && *n == *s)
            n++, s++;
        if (*s || *n < '1' || *n > '9')
            continue;
        long pid = (long)ck_parse_uint(&n, 10);
        return *n ? 0 : pid;
    }
    return 0;
}

/* A process killed in the middle of a checkpoint leaves its temporary file behind (restore
 * and verify never look at it). Each checkpoint removes those of processes that no longer
 * exist. */
static void remove_stale_temporaries(void)
{
    char dir[CKPT_PATH_MAX], buf[4096];
    directory_of(ckpt_shim.image, dir, sizeof dir);
    const char *base = ckpt_shim.image + ck_strlen(dir) + (ck_streq(dir, "/") ? 0 : 1);
    long dfd = sys_openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    long n;
    while (dfd >= 0 && (n = sys_getdents64((int)dfd, buf, sizeof buf)) > 0)
        for (long pos = 0; pos < n; pos += *(unsigned short *)(buf + pos + 16)) {
            const char *name = buf + pos + 19;
            long pid = temporary_of(name, base);
            if (pid > 0 && pid != sys_getpid() && sys_kill((int)pid, 0) == -ESRCH)
                sys_unlinkat((int)dfd, name, 0);
        }
    if (dfd >= 0)
        sys_close((int)dfd);
}

/* --keep N: IMAGE.(N-2) becomes IMAGE.(N-1), ..., IMAGE.1 becomes IMAGE.2, and IMAGE gets a
 * second name IMAGE.1, so that IMAGE itself exists at every moment. */
static int keep_previous_images(struct checkpoint_job *job)
{
    char from[CKPT_PATH_MAX + 16], to[CKPT_PATH_MAX + 16];
    for (int i = ckpt_shim.keep - 1; i >= 2; i--) {
        ck_format(from, sizeof from, "%s.%d", ckpt_shim.image, i - 1);
        ck_format(to, sizeof to, "%s.%d", ckpt_shim.image, i);
        long r = sys_renameat(AT_FDCWD, from, AT_FDCWD, to);
        if (r < 0 && r != -ENOENT)
            return ck_fail(&job->err, (int)r, "renaming %s to %s: %s", from, to,
                           ck_strerror((int)-r));
    }
    ck_format(to, sizeof to, "%s.1", ckpt_shim.image);
    sys_unlinkat(AT_FDCWD, to, 0);
    long r = sys_linkat(AT_FDCWD, ckpt_shim.image, AT_FDCWD, to, 0);
    if (r < 0 && r != -ENOENT)
        return ck_fail(&job->err, (int)r, "linking %s to %s: %s", ckpt_shim.image, to,
                       ck_strerror((int)-r));
    return 0;
}

/* Makes the new image durable and then visible under its name: a crash at any moment
 * leaves either the previous image or this one. */
static int publish(struct checkpoint_job *job)
{
    long r = sys_fsync(job->fd);
    if (r < 0)
        return ck_fail(&job->err, (int)r, "syncing %s: %s", job->tmp_path, ck_strerror((int)-r));
    sys_close(job->fd);
    job->fd = -1;
    if (ckpt_shim.keep > 1 && keep_previous_images(job))
        return -1;
    r = sys_renameat(AT_FDCWD, job->tmp_path, AT_FDCWD, ckpt_shim.image);
    if (r < 0)
        return ck_fail(&job->err, (int)r, "renaming to %s: %s", ckpt_shim.image,
                       ck_strerror((int)-r));
    char dir[CKPT_PATH_MAX];
    directory_of(ckpt_shim.image, dir, sizeof dir);
    long dfd = sys_openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dfd >= 0) {
        sys_fsync((int)dfd);
        sys_close((int)dfd);
    }
    return 0;
}

/* Runs on the arena's stack. */
static void write_image(void *arg)
{
    struct checkpoint_job *job = arg;
    struct image_writer w;
    job->rc = -1;
    remove_stale_temporaries();
    if (open_temporary(job))
        return;
    char *meta = job->arena + ARENA_SIZE - ARENA_META;
    iw_init(&w, job->fd, meta, ARENA_META);
    if (write_records(job, &w) || publish(job)) {
        if (job->fd >= 0)
            sys_close(job->fd);
        sys_unlinkat(AT_FDCWD, job->tmp_path, 0);
        return;
    }
    job->rc = 0;
}

/* `ckpt checkpoint` waits for this file: one line naming the request and its result. */
static void write_status(int token, int result, uint64_t stopped_ns, const char *message)
{
    char path[CKPT_PATH_MAX + 32], tmp[CKPT_PATH_MAX + 48], line[1200];
    ck_format(path, sizeof path, "%s.status", ckpt_shim.image);
    ck_format(tmp, sizeof tmp, "%s.status.tmp.%ld", ckpt_shim.image, sys_getpid());
    size_t n = ck_format(
        line, sizeof line, "token=%u result=%d generation=%u stopped_ns=%lu message=%s\n",
        (unsigned)token, result, ckpt_shim.generation, (unsigned long)stopped_ns, message);
    long fd = create_private(tmp);
    if (fd < 0)
        return;
    ck_write_all((int)fd, line, n < sizeof line ? n : sizeof line - 1);
    sys_close((int)fd);
    if (sys_renameat(AT_FDCWD, tmp, AT_FDCWD, path) < 0)
        sys_unlinkat(AT_FDCWD, tmp, 0);
}

static void report_failure(const struct checkpoint_job *job)
{
    char prefix[CKPT_PATH_MAX + 64];
    ck_format(prefix, sizeof prefix, "ckpt: checkpoint of %ld to %s failed", sys_getpid(),
              ckpt_shim.image);
    ck_print_error(prefix, &job->err);
}

static uint64_t monotonic_ns(void)
{
    struct {
        int64_t sec, nsec;
    } now = {0, 0};
    sys_clock_gettime(1 /* CLOCK_MONOTONIC */, &now);
    return (uint64_t)now.sec * 1000000000u + (uint64_t)now.nsec;
}

/* started_ns: when the handler was entered; the status line reports how long the program
 * has been stopped until then (what `ckpt bench` calls the stopped time). */
static int checkpoint_now(const struct ckpt_cpu_context *ctx, const ucontext_t *uc, int token,
                          uint64_t started_ns)
{
    struct checkpoint_job job;
    ck_memset(&job, 0, sizeof job);
    job.ctx = ctx;
    job.uc = uc;
    job.fd = -1;
    job.arena = sys_mmap(0, ARENA_SIZE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ckpt_shim.generation++;
    if (sys_mmap_failed(job.arena)) {
        ck_fail(&job.err, -ENOMEM, "no memory for the checkpoint");
        job.rc = -1;
    } else {
        ckpt_call_on_stack(job.arena + ARENA_STACK, write_image, &job);
        sys_munmap(job.arena, ARENA_SIZE);
    }
    if (job.rc) {
        ckpt_shim.generation--;
        report_failure(&job);
        write_status(token, job.err.code < -1 ? -job.err.code : EIO, monotonic_ns() - started_ns,
                     job.err.msg);
    } else {
        write_status(token, 0, monotonic_ns() - started_ns, "ok");
    }
    return job.rc;
}

/* `ckpt checkpoint --kill`: the SIGKILL follows at once. Until it comes the process waits
 * here with every signal blocked, so it does nothing more — not even when a parent that
 * watches its children continues a stopped one (tmux sends SIGCONT), as it would after a
 * SIGSTOP. If no SIGKILL comes (ckpt died), it goes on after KILL_WAIT_SECONDS. */
#define KILL_WAIT_SECONDS 30
static void wait_for_kill(void)
{
    uint64_t all = ~0ULL, old = 0;
    sys_rt_sigprocmask(0 /* SIG_BLOCK */, &all, &old);
    struct {
        int64_t sec, nsec;
    } left = {KILL_WAIT_SECONDS, 0};
    while (sys_nanosleep(&left, &left) == -EINTR)
        ;
    sys_rt_sigprocmask(2 /* SIG_SETMASK */, &old, 0);
}

static void after_restore(void)
{
    struct ckpt_restore_info *info = &ckpt_shim.restore_info;
    sys_munmap((void *)info->core_addr, info->core_length);
}

static void checkpoint_handler(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    uint64_t started_ns = monotonic_ns();
    int token = si && si->si_code == SI_QUEUE ? si->si_value.sival_int : 0;
    struct ckpt_cpu_context ctx;
    tls_pause_rseq(&ckpt_shim.tls);
    if (ckpt_context_save(&ctx) == 0) {
        int rc = checkpoint_now(&ctx, ucv, token, started_ns);
        tls_resume_rseq(&ckpt_shim.tls);
        if (rc == 0 && ((unsigned)token & CKPT_REQUEST_STOP))
            wait_for_kill();
    } else {
        after_restore(); /* restore-run's core registered rseq again */
    }
}
/* ========================= end of the no-libc section ========================= */

void (*checkpoint_handler_address(void))(int, siginfo_t *, void *)
{
    return checkpoint_handler;
}
