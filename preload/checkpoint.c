/* The checkpoint: what happens when the checkpoint signal arrives.
 *
 * ================ NO LIBC IN THIS FILE (signal handler context) ================
 * The signal may interrupt malloc, stdio or any other libc call holding a lock. Everything
 * here uses raw syscalls (state/sys.h), memory from mmap, no errno, no stdio. The writer
 * child runs this same code and nothing else: it never returns into the program.
 *
 * Phases:
 *   1. quiesce    — (single thread today) pause rseq so the kernel stops writing into TLS;
 *   2. capture    — ckpt_context_save: the point the restored process resumes from; each
 *                   thread (today: the one) captures its own state into its slot of the
 *                   job's thread_capture array (state/thread.c); then, still stopped, what
 *                   is not memory and changes as the program runs on is staged in the
 *                   arena: the PROCESS record (signals, timers, rlimits, cwd), the THREAD
 *                   records, the descriptors with their offsets and locks, the contents of
 *                   read-write files;
 *   3. write      — memory, then the staged records, to a temporary file (writeback started
 *                   as it goes, image_io.h); fsync; swap it with the image; fsync the
 *                   directory; after the report, remove the previous image. Normally a
 *                   copy-on-write child (a fork made with a raw clone) does this from its
 *                   snapshot of the memory, and the program runs on at once (Redis's
 *                   BGSAVE, Plank's forked libckpt); the program itself writes, stopped,
 *                   where a child could not see the memory as it was (shared memory,
 *                   MADV_DONTFORK/WIPEONFORK), under `--no-background`, or when the clone
 *                   fails. For `ckpt checkpoint --kill` the program waits, stopped, for its
 *                   writer child;
 *   4. resume     — report the result (stderr on failure, and the answer in IMAGE.status
 *                   for `ckpt checkpoint`) — the writer, once the image is durable — resume
 *                   rseq, return from the handler.
 * When a restored process resumes at phase 2 instead, each thread counts itself out of the
 * restore core; the last one out raises the process-wide pending signals, frees the core,
 * announces the new pid and incarnation, and lets the others go; all return: rt_sigreturn
 * then restores the interrupted program's registers and mask.
 *
 * The shim's side of the protocol with `ckpt checkpoint` (described in full at the top of
 * tools/checkpoint.c and in docs/protocol.md; names in include/ckpt/protocol.h):
 *   - ckpt_public, in the shim's data, says whether the shim is active and in which pid,
 *     and numbers the checkpoints: the handler's first act is `begun = N` (before anything
 *     else, even the wait for the previous writer), its last in the program
 *     `finished = N` with the result, the writer child's pid, whether the answer could be
 *     written, and whether the process now holds for a --kill. Plain stores under a
 *     sequence count: nothing is added to the stopped time but a few memory writes.
 *   - whoever writes the image adds the answer "seq=N inc=... result=..." to IMAGE.status
 *     (a new file renamed over the old one, keeping the last few lines); a writer child
 *     first adds "writing=PID". The program writes its own answer before it publishes
 *     `finished`, so a reader that sees `finished` and no answer knows none will come.
 *   - any checkpoint numbered above what `begun` was when a request was made serves that
 *     request: a request merged into a pending signal is served by that signal's
 *     checkpoint. */
#include "shim.h"
#include "compress.h"
#include "fds.h"
#include "fd_memfile.h"
#include "launch_options.h"
#include "image_io.h"
#include "memory.h"
#include "process.h"
#include "signals.h"
#include "sigroute.h"
#include "stop.h"
#include "sys.h"
#include "thread.h"
#include "track.h"
#include "lazyanon.h"
#include "chain.h"
#include "page_hashes.h"

#include <asm/errno.h>
#include <linux/fcntl.h>
#include <linux/mman.h>
#include <ucontext.h>

int ckpt_context_save(struct ckpt_cpu_context *ctx) __attribute__((returns_twice));
void ckpt_call_on_stack(void *stack_top, void (*fn)(void *), void *arg);

/* Scratch memory for one checkpoint: reserved, touched only as needed, excluded from the
 * image, unmapped afterwards. From its start: */
#define ARENA_STACK (512UL << 10)
#define ARENA_MAPS (16UL << 20)
#define ARENA_PAGEMAP_ENTRIES 65536UL
#define ARENA_FDS 65536UL
#define ARENA_STAGE_META (64UL << 20)
#define ARENA_META (224UL << 20)
#define ARENA_THREADS (CKPT_THREADS_MAX * sizeof(struct thread_capture))
#define AT_MAPS ARENA_STACK
#define AT_PAGEMAP (AT_MAPS + ARENA_MAPS)
#define AT_FDS (AT_PAGEMAP + ARENA_PAGEMAP_ENTRIES * 8)
#define AT_STAGE_META (AT_FDS + ARENA_FDS * sizeof(struct fd_slot))
#define AT_STAGE_DATA (AT_STAGE_META + ARENA_STAGE_META)
#define AT_META (AT_STAGE_DATA + FILES_CONTENTS_MAX)
#define AT_THREADS CK_PAGE_UP(AT_META + ARENA_META)
#define AT_STOP_READY (AT_THREADS + ARENA_THREADS)
#define AT_STOP_KNOWN (AT_STOP_READY + CKPT_THREADS_MAX * sizeof(uint32_t))
#define AT_TRACK CK_PAGE_UP(AT_STOP_KNOWN + CKPT_THREADS_MAX * sizeof(struct stop_tid))
#define AT_ZSTD_WORK CK_PAGE_UP(AT_TRACK + TRACK_ARENA_BYTES)
#define AT_ZSTD_OUT (AT_ZSTD_WORK + CKPT_COMPRESS_WORKSPACE)
#define AT_ZSTD_STACK (AT_ZSTD_OUT + CKPT_COMPRESS_OUT)
#define AT_IO_STACK (AT_ZSTD_STACK + CKPT_COMPRESS_HELPER_STACK)
#define AT_HASHES CK_PAGE_UP(AT_IO_STACK + IW_IO_STACK)
#define ARENA_HASHES (32UL << 20) /* PAGE_HASHES of up to 16 GiB of huge pages */
#define ARENA_SIZE (AT_HASHES + ARENA_HASHES)

struct checkpoint_job {
    const struct ckpt_cpu_context *ctx;
    const ucontext_t *uc;
    int rseq_paused; /* the receiving thread had rseq registered (thread_pause_rseq) */
    char *arena;
    struct thread_capture *threads; /* in the arena: the main thread's first */
    uint32_t nthreads;
    uint32_t stopped_generation; /* the stop that holds the other threads, 0 if none does */
    long pid;                    /* the program's: the image may be written by a child */
    uint32_t token;              /* the request's value (0 for a bare signal) */
    uint64_t seq;                /* the checkpoint's number (ckpt_public.begun) */
    uint64_t started_ns;
    int background;             /* may a copy-on-write child write the image */
    int in_writer_child;        /* this process is that child (it may start threads) */
    long writer;                /* that child, once started */
    struct image_writer staged; /* what phase 2 took: PROCESS record first, then descriptors */
    char tmp_path[CKPT_PATH_MAX + 32];
    int previous_swapped; /* tmp_path names the previous image now (publish) */
    int fd;
    struct ck_error err;
    int rc;
    int published;          /* the new image is in place (even if its directory's sync failed) */
    struct track_job track; /* --incremental: what the program wrote since the last image */
    uint32_t depth;         /* the new image's parents (0: a full image) */
    int names;              /* the rotation kept IMAGE, IMAGE.1, ... IMAGE.(names-1) */
    int status_error;       /* errno if the answer could not be written */
};

static uint32_t origin_of(int fd, uint32_t *open_flags)
{
    return fdtable_get(&ckpt_shim.fds, fd, open_flags);
}

static int listen_backlog_of(int fd)
{
    return fdtable_listen_backlog(&ckpt_shim.fds, fd);
}

static int fill_process_record(struct checkpoint_job *job, struct image_writer *w,
                               uint64_t shared_pending)
{
    struct ckpt_process_record *rec = iw_record(w, CKPT_REC_PROCESS, sizeof *rec, 0);
    if (!rec)
        return ck_fail(&job->err, w->error, "image metadata: %s", ck_strerror(-w->error));
    if (process_save(rec, ckpt_shim.finishing_pid, CKPT_FINISHING_MAX, &job->err))
        return -1;
    signals_save(rec);
    rec->shared_pending = shared_pending;
    rec->nthreads = job->nthreads;
    rec->checkpoint_signal = (uint32_t)ckpt_shim.signal;
    rec->restore_info_addr = (uint64_t)&ckpt_shim.restore_info;
    return 0;
}

/* Phase 1 for the other threads: each captures itself into its slot of job->threads and
 * parks (stop.c) until checkpoint_handler releases them. */
static int stop_other_threads(struct checkpoint_job *job)
{
    struct stop_run run;
    ck_memset(&run, 0, sizeof run);
    run.slots = job->threads;
    run.ready = (uint32_t *)(job->arena + AT_STOP_READY);
    run.known = (struct stop_tid *)(job->arena + AT_STOP_KNOWN);
    run.timeout_ns = ckpt_shim.stop_timeout_ns;
    if (stop_all(&run, &job->err))
        return -1;
    job->stopped_generation = run.gen;
    job->nthreads = run.nslots;
    return 0;
}

/* The image lists the main thread first (the restore makes the others from it). */
static void main_thread_first(struct checkpoint_job *job)
{
    for (uint32_t i = 1; i < job->nthreads; i++)
        if (job->threads[i].rec.flags & CKPT_THREAD_LEADER) {
            struct thread_capture main = job->threads[i];
            job->threads[i] = job->threads[0];
            job->threads[0] = main;
            return;
        }
}

/* Phase 2, with the program stopped: everything but memory, staged in the arena. The thread
 * that took the signal captures itself into slot 0, beside the others' captures. */
static int capture(struct checkpoint_job *job)
{
    iw_init_staging(&job->staged, job->arena + AT_STAGE_META, ARENA_STAGE_META,
                    job->arena + AT_STAGE_DATA, FILES_CONTENTS_MAX);
    uint64_t shared_pending = 0;
    if (thread_save_self(&job->threads[0], job->uc, job->ctx, &ckpt_shim.glibc, job->rseq_paused,
                         &shared_pending, &job->err))
        return -1;
    main_thread_first(job);
    struct files_save_args fds = {{track_fd()},       track_fd() >= 0,
                                  origin_of,          listen_backlog_of,
                                  &ckpt_shim.inotify, (struct fd_slot *)(job->arena + AT_FDS),
                                  ARENA_FDS};
    return fill_process_record(job, &job->staged, shared_pending) ||
                   thread_stage(&job->staged, job->threads, job->nthreads, shared_pending,
                                &job->err) ||
                   files_save(&job->staged, &fds, &job->err)
               ? -1
               : 0;
}

/* --incremental: the previous image, which this one extends, or NULL for a full image (the
 * first, every --incremental N, after a failure or a restore; or, said on stderr, when the
 * previous image is not the one this process wrote). */
static const struct memory_incremental *incremental_base(struct checkpoint_job *job,
                                                         struct chain_base *base,
                                                         struct memory_incremental *inc)
{
    job->depth = 0;
    if (!job->track.incremental)
        return 0;
    struct ck_error why;
    if (chain_open_base(ckpt_shim.image, (uint32_t)job->pid, job->track.base_generation, base,
                        &why)) {
        ck_print_error("ckpt: this image is full, not incremental", &why);
        return 0;
    }
    *inc = (struct memory_incremental){job->track.tracked, job->track.ntracked,
                                       job->track.written, job->track.nwritten,
                                       &base->view,        ck_file_name(ckpt_shim.image)};
    job->depth = base->view.nparents + 1;
    return inc;
}

/* Phase 3: the PROCESS and THREAD records, the memory as it is in this process (the program
 * stopped, or a child's snapshot of it), then the staged descriptors and file contents. */
static int write_records(struct checkpoint_job *job, struct image_writer *w)
{
    struct memory_save_args mem = {.maps_buf = job->arena + AT_MAPS,
                                   .maps_cap = ARENA_MAPS,
                                   .pagemap = (uint64_t *)(job->arena + AT_PAGEMAP),
                                   .pagemap_entries = ARENA_PAGEMAP_ENTRIES,
                                   .exclude_start = (uint64_t)job->arena,
                                   .exclude_end = (uint64_t)job->arena + ARENA_SIZE,
                                   .no_pagemap_scan = ckpt_shim.no_pagemap_scan,
                                   .empty = ckpt_shim.excluded,
                                   .nempty = ckpt_shim.nexcluded};
    /* PROCESS and the THREAD records go before the regions: they lead the staging. */
    size_t pos = 0;
    while (pos < job->staged.meta_len) {
        const struct ckpt_record_head *r = (const void *)(job->staged.meta + pos);
        if (r->kind != CKPT_REC_PROCESS && r->kind != CKPT_REC_THREAD)
            break;
        if (iw_copy_record(w, r))
            return ck_fail(&job->err, w->error, "image metadata: %s", ck_strerror(-w->error));
        pos += r->length;
    }
    struct chain_base base;
    struct memory_incremental inc;
    mem.inc = incremental_base(job, &base, &inc);
    /* The PARENT records right after the threads, then the memfds and deleted files before
     * the regions, which may map them. */
    struct memfile_key memfiles[MEMFILES_MAX];
    int saved = (mem.inc && mem.inc->base &&
                 chain_save_parents(w, mem.inc->base, mem.inc->base_name, &job->err)) ||
                memfiles_save(w, &job->staged, mem.maps_buf, mem.maps_cap, memfiles, &mem.nmemfiles,
                              &job->err);
    mem.memfiles = memfiles;
    struct page_hashes hashes;
    if (job->track.nhuge) {
        page_hashes_begin(&hashes, job->track.huge, job->track.nhuge,
                          (uint64_t *)(job->arena + AT_HASHES), ARENA_HASHES / 8,
                          mem.inc ? mem.inc->base : 0);
        mem.hashes = &hashes;
    }
    if (!saved)
        saved = memory_save(w, &mem, &job->err);
    if (!saved && mem.hashes && page_hashes_save(w, mem.hashes))
        saved = ck_fail(&job->err, w->error, "image metadata: %s", ck_strerror(-w->error));
    if (mem.inc)
        chain_close_base(&base);
    if (saved)
        return -1;
    if (iw_append_staged(w, &job->staged, pos))
        return ck_fail(&job->err, w->error, "writing %s: %s", job->tmp_path,
                       ck_strerror(-w->error));
    struct timespec {
        int64_t sec, nsec;
    } now = {0, 0};
    sys_clock_gettime(0 /* CLOCK_REALTIME */, &now);
    struct ckpt_file_header hdr = {0};
    hdr.created_sec = now.sec;
    hdr.created_nsec = (uint32_t)now.nsec;
    hdr.pid = (uint32_t)job->pid;
    hdr.generation = ckpt_shim.generation;
    int rc = iw_finish(w, &hdr);
    if (rc)
        return ck_fail(&job->err, rc, "writing %s: %s", job->tmp_path, ck_strerror(-rc));
    return 0;
}

/* The directory part of path, for fsync after the rename. */
static void directory_of(const char *path, char *dir, size_t cap)
{
    ck_directory_of(path, dir, cap);
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
 * exist — or are zombies: a killed writer child waits for whoever inherited it to reap it. */
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
            if (pid > 0 && pid != sys_getpid() && ck_process_gone(pid))
                sys_unlinkat((int)dfd, name, 0);
        }
    if (dfd >= 0)
        sys_close((int)dfd);
}

/* --keep N: IMAGE.(N-2) becomes IMAGE.(N-1), ..., IMAGE.1 becomes IMAGE.2, and IMAGE gets a
 * second name IMAGE.1, so that IMAGE itself exists at every moment. With --incremental, names
 * is more than N where a kept image needs older ones (track_names_to_keep). */
static int keep_previous_images(struct checkpoint_job *job, int names)
{
    char from[CKPT_PATH_MAX + 16], to[CKPT_PATH_MAX + 16];
    for (int i = names - 1; i >= 2; i--) {
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

/* The rename is durable only once the directory is synced: a checkpoint whose directory
 * cannot be synced fails, although its image is in place (a crash may take it back). */
static int sync_directory(struct checkpoint_job *job)
{
    char dir[CKPT_PATH_MAX];
    directory_of(ckpt_shim.image, dir, sizeof dir);
    long dfd = sys_openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    long r = dfd < 0 ? dfd : sys_fsync((int)dfd);
    if (dfd >= 0)
        sys_close((int)dfd);
    if (r < 0)
        return ck_fail(&job->err, (int)r,
                       "syncing the directory %s: %s (the new image is in place, but a crash "
                       "may lose it)",
                       dir, ck_strerror((int)-r));
    return 0;
}

/* Makes the new image durable and then visible under its name: a crash at any moment
 * leaves either the previous image or this one. */
static int publish(struct checkpoint_job *job)
{
    /* fdatasync: the data and what is needed to read it back (the size); the file's times
     * need not be durable. */
    long r = sys_fdatasync(job->fd);
    if (r < 0)
        return ck_fail(&job->err, (int)r, "syncing %s: %s", job->tmp_path, ck_strerror((int)-r));
    iw_drop_cache(job->fd);
    sys_close(job->fd);
    job->fd = -1;
    int names = job->names = track_names_to_keep(ckpt_shim.image, ckpt_shim.keep, job->depth);
    if (names > 1 && keep_previous_images(job, names))
        return -1;
    /* Swapped rather than renamed over: freeing the previous image's blocks and cached pages
     * (a fifth of a second per GiB) then waits until after the report (retire_previous). A
     * first image, a path that is not a regular file, or a file system without
     * RENAME_EXCHANGE gets a plain rename. */
    struct kstat st;
    r = -ENOENT;
    if (sys_newfstatat(AT_FDCWD, ckpt_shim.image, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        CK_S_IS(st.st_mode, CK_S_IFREG))
        r = sys_renameat2(AT_FDCWD, job->tmp_path, AT_FDCWD, ckpt_shim.image, 2 /* EXCHANGE */);
    job->previous_swapped = r == 0;
    if (r < 0)
        r = sys_renameat(AT_FDCWD, job->tmp_path, AT_FDCWD, ckpt_shim.image);
    if (r < 0)
        return ck_fail(&job->err, (int)r, "renaming to %s: %s", ckpt_shim.image,
                       ck_strerror((int)-r));
    job->published = 1;
    return sync_directory(job);
}

/* ---- the answer (include/ckpt/protocol.h) --------------------------------------------- */

/* The answers of earlier checkpoints worth keeping: the last complete lines of
 * IMAGE.status, at most CKPT_STATUS_HISTORY - 1 of them and CKPT_STATUS_HISTORY_BYTES in
 * all, moved to the start of buf. A file that is no regular file of a sensible size (not
 * one the shim wrote) is not read: its answers are lost, the new one replaces it. */
static size_t recent_answers(const char *path, char *buf, size_t cap)
{
    long fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct kstat st;
    long n = 0;
    uint64_t from = 0;
    if (sys_fstat((int)fd, &st) == 0 && CK_S_IS(st.st_mode, CK_S_IFREG) &&
        st.st_size <= CKPT_STATUS_MAX_BYTES) {
        from = (uint64_t)st.st_size > cap ? (uint64_t)st.st_size - cap : 0;
        n = sys_pread((int)fd, buf, cap, from);
    }
    sys_close((int)fd);
    if (n <= 0)
        return 0;
    size_t end = (size_t)n, start = 0;
    while (end > 0 && buf[end - 1] != '\n') /* a line cut short is no answer */
        end--;
    if (from > 0) /* the first line read may be the end of an older one */
        while (start < end && buf[start++] != '\n')
            ;
    size_t lines = 0;
    for (size_t i = start; i < end; i++)
        lines += buf[i] == '\n';
    for (; lines > CKPT_STATUS_HISTORY - 1; lines--)
        while (buf[start++] != '\n')
            ;
    __builtin_memmove(buf, buf + start, end - start);
    return end - start;
}

/* Adds line to IMAGE.status (a new file renamed over the old one, so that a reader sees
 * the old answers or the new ones, never a part). A write that fails (a full disk) leaves
 * the old file as it was. Returns 0 or -errno. */
static int write_status_line(const char *line, size_t n)
{
    char path[CKPT_PATH_MAX + 32], tmp[CKPT_PATH_MAX + 48], kept[CKPT_STATUS_HISTORY_BYTES];
    ck_format(path, sizeof path, "%s" CKPT_STATUS_SUFFIX, ckpt_shim.image);
    ck_format(tmp, sizeof tmp, "%s" CKPT_STATUS_SUFFIX ".tmp.%ld", ckpt_shim.image, sys_getpid());
    size_t old = recent_answers(path, kept, sizeof kept);
    long fd = create_private(tmp);
    if (fd < 0)
        return (int)fd;
    long r = ck_write_all((int)fd, kept, old);
    if (r >= 0)
        r = ck_write_all((int)fd, line, n);
    long closed = sys_close((int)fd);
    if (r >= 0 && closed < 0)
        r = closed;
    if (r >= 0)
        r = sys_renameat(AT_FDCWD, tmp, AT_FDCWD, path);
    if (r < 0)
        sys_unlinkat(AT_FDCWD, tmp, 0);
    return r < 0 ? (int)r : 0;
}

/* The answer of checkpoint job->seq, by whoever wrote its image, once it is written or has
 * failed. Returns 0 or -errno. */
static int write_answer(const struct checkpoint_job *job, int result, uint64_t stopped_ns,
                        const char *message)
{
    char line[CKPT_STATUS_LINE_MAX];
    int hold = result == 0 && (job->token & CKPT_REQUEST_STOP);
    size_t n = ck_format(
        line, sizeof line,
        CKPT_KEY_SEQ "=%lu " CKPT_KEY_INCARNATION "=%lx " CKPT_KEY_PID "=%ld " CKPT_KEY_TOKEN
                     "=%u " CKPT_KEY_HOLD "=%d " CKPT_KEY_RESULT "=%d " CKPT_KEY_GENERATION
                     "=%u " CKPT_KEY_STOPPED_NS "=%lu " CKPT_KEY_MESSAGE "=%s\n",
        (unsigned long)job->seq, (unsigned long)ckpt_public.incarnation, job->pid, job->token, hold,
        result, ckpt_shim.generation, (unsigned long)stopped_ns, message);
    if (n >= sizeof line) { /* a message cut short still ends its line */
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    return write_status_line(line, n);
}

/* Not an answer: the writer child's first act, naming itself, so that `ckpt checkpoint`
 * waits for it — even once the program is gone — and notices if it ends without answering. */
static void write_writing_line(const struct checkpoint_job *job)
{
    char line[160];
    size_t n = ck_format(line, sizeof line,
                         CKPT_KEY_SEQ "=%lu " CKPT_KEY_INCARNATION "=%lx " CKPT_KEY_PID
                                      "=%ld " CKPT_KEY_TOKEN "=%u " CKPT_KEY_WRITING
                                      "=%ld " CKPT_KEY_MESSAGE "=writing\n",
                         (unsigned long)job->seq, (unsigned long)ckpt_public.incarnation, job->pid,
                         job->token, sys_getpid());
    write_status_line(line, n);
}

/* The result as an errno: 0, or what failed. */
static int result_of(const struct checkpoint_job *job)
{
    return job->rc == 0 ? 0 : job->err.code < -1 ? -job->err.code : EIO;
}

/* Phase 4's report, by whoever wrote the image: the program's stderr on failure, and the
 * answer. */
static void report(struct checkpoint_job *job, uint64_t stopped_ns)
{
    if (job->rc != 0) {
        char prefix[CKPT_PATH_MAX + 64];
        ck_format(prefix, sizeof prefix, "ckpt: checkpoint of %ld to %s failed", job->pid,
                  ckpt_shim.image);
        ck_print_error(prefix, &job->err);
    }
    int r = write_answer(job, result_of(job), stopped_ns, job->rc == 0 ? "ok" : job->err.msg);
    job->status_error = r < 0 ? -r : 0;
    if (r < 0) {
        struct ck_error e;
        char prefix[CKPT_PATH_MAX + 64];
        ck_fail(&e, r, "%s", ck_strerror(-r));
        ck_format(prefix, sizeof prefix, "ckpt: cannot write %s" CKPT_STATUS_SUFFIX,
                  ckpt_shim.image);
        ck_print_error(prefix, &e);
    }
}

/* Before the report: the names of the previous image, which publish swapped to the
 * temporary's name, and of chain images no kept image needs. Their files stay open in
 * held: freeing a large one's blocks takes a fifth of a second per GiB, seconds with
 * discard, which waits until after the answer (ck_close_held). */
static void retire_previous(const struct checkpoint_job *job, struct ck_held *held)
{
    if (job->previous_swapped)
        ck_unlink_holding(held, AT_FDCWD, job->tmp_path);
    if (job->published && job->rc == 0)
        track_remove_unneeded(ckpt_shim.image, job->names, held);
}

/* Phase 3 in the process that writes. Returns 0, or -1 with job->err set. */
static int write_captured(struct checkpoint_job *job)
{
    struct image_writer w;
    char dir[CKPT_PATH_MAX];
    directory_of(ckpt_shim.image, dir, sizeof dir);
    if (ck_check_image_directory(dir, (uint32_t)sys_geteuid(), &job->err))
        return -1;
    remove_stale_temporaries();
    struct iw_compressor z;
    /* Threads only in the writer child: never a thread in the program. */
    char *helper_stack = job->in_writer_child ? job->arena + AT_IO_STACK : 0;
    int rc = ckpt_shim.compress_level
                 ? ckpt_compress_init(&z, job->arena + AT_ZSTD_WORK, job->arena + AT_ZSTD_OUT,
                                      ckpt_shim.compress_level, helper_stack)
                 : 0;
    if (rc)
        return ck_fail(&job->err, rc, "setting up compression (level %d): %s",
                       ckpt_shim.compress_level, ck_strerror(-rc));
    if (open_temporary(job))
        return -1;
    iw_init(&w, job->fd, job->arena + AT_META, ARENA_META);
    w.z = ckpt_shim.compress_level ? &z : 0;
    if (w.z)
        z.every_run = ckpt_shim.compress_every_run;
    /* An I/O thread lets the disk write while the writer compresses; without one (it could
     * not start) the writer does both in turn. */
    struct iw_io io;
    if (w.z && helper_stack)
        iw_start_io(&w, &io, job->arena + AT_IO_STACK + IW_IO_STACK);
    rc = write_records(job, &w);
    iw_stop_io(&w);
    if (w.z)
        ckpt_compress_end(&z);
    if (rc || publish(job)) {
        if (job->fd >= 0)
            sys_close(job->fd);
        if (!job->published || job->previous_swapped)
            sys_unlinkat(AT_FDCWD, job->tmp_path, 0);
        job->previous_swapped = 0;
        return -1;
    }
    return 0;
}

/* How a writer child ends (its parent learns it when it waits): the image published and
 * answered, not published, or published but failed or unanswered. */
#define WRITER_OK 0
#define WRITER_NOT_PUBLISHED 1
#define WRITER_PUBLISHED_FAILED 2

/* The writer child: phase 3 and 4 from its copy-on-write snapshot, then exit. Every signal
 * stays blocked (as its parent blocked them for the clone): a Ctrl-C meant for the program
 * must not run the program's handler here. It keeps only stderr, for a failure message, so
 * that a pipe or socket the program closes meanwhile is closed for good at once. */
static __attribute__((noreturn)) void run_writer_child(struct checkpoint_job *job)
{
    uint64_t stopped_ns = sys_monotonic_ns() - job->started_ns;
    job->in_writer_child = 1;
    sys_close_range(0, 1, 0);
    sys_close_range(3, ~0U, 0);
    write_writing_line(job);
    job->rc = write_captured(job);
    /* Once the answer is there, the program's next checkpoint goes on without waiting for
     * the rest (checkpoint_wait_for_writer): the names are gone before it, only the freeing
     * is left. */
    struct ck_held held = {.n = 0};
    retire_previous(job, &held);
    report(job, stopped_ns);
    if (ckpt_shim.test_linger_ms) { /* a file system slow to free them */
        struct timespec {
            int64_t sec, nsec;
        } t = {ckpt_shim.test_linger_ms / 1000, ckpt_shim.test_linger_ms % 1000 * 1000000L};
        sys_nanosleep(&t, 0);
    }
    ck_close_held(&held);
    sys_exit_group(job->rc == 0 && !job->status_error ? WRITER_OK
                   : job->published                   ? WRITER_PUBLISHED_FAILED
                                                      : WRITER_NOT_PUBLISHED);
}

/* Returns the writer child's pid, or -errno if none could be made. */
static long start_writer_child(struct checkpoint_job *job)
{
    uint64_t all = ~0ULL, old = 0;
    sys_rt_sigprocmask(0 /* SIG_BLOCK */, &all, &old);
    long pid = sys_clone_quiet_child();
    if (pid == 0)
        run_writer_child(job);
    sys_rt_sigprocmask(2 /* SIG_SETMASK */, &old, 0);
    return pid;
}

/* Runs on the arena's stack. */
static void write_image(void *arg)
{
    struct checkpoint_job *job = arg;
    job->rc = -1;
    job->threads = (struct thread_capture *)(job->arena + AT_THREADS);
    if (stop_other_threads(job) || capture(job))
        return;
    int in_child = job->background && !memfiles_staged(&job->staged) &&
                   memory_fork_sees_snapshot(job->arena + AT_MAPS, ARENA_MAPS);
    /* Last before the snapshot: what is written after it is the next image's. */
    track_before_snapshot(&job->track, job->arena + AT_TRACK, job->arena + AT_MAPS, ARENA_MAPS,
                          (uint64_t)job->arena, (uint64_t)job->arena + ARENA_SIZE);
    if (in_child) {
        long pid = start_writer_child(job);
        if (pid > 0) {
            job->writer = pid;
            job->rc = 0;
            return;
        }
    }
    job->rc = write_captured(job);
}

/* The writer child has ended with status: one that published no image gives its generation
 * number back. Returns 0 if it published and answered, else -1. */
static int writer_reaped(int status)
{
    int published = (status & 0x7f) == 0 && ((status >> 8) & 0xff) != WRITER_NOT_PUBLISHED;
    if (!published)
        ckpt_shim.generation--;
    if (status == 0)
        track_published(ckpt_shim.generation);
    else
        track_failed();
    ckpt_shim.writer_pid = 0;
    return status == 0 ? 0 : -1;
}

/* The value of key in an answer line ("key=value", keys whole words). 0, or -1. */
static int answer_field(const char *line, const char *key, int base, uint64_t *value)
{
    size_t n = ck_strlen(key);
    for (const char *p = line; *p; p++) {
        if ((p != line && p[-1] != ' ') || !ck_starts_with(p, key) || p[n] != '=')
            continue;
        const char *v = p + n + 1;
        *value = ck_parse_uint(&v, base);
        return 0;
    }
    return -1;
}

int checkpoint_find_answer(char *text, uint64_t seq, int *result, uint32_t *generation)
{
    int found = -1;
    for (char *line = text, *next; *line; line = next) {
        for (next = line; *next && *next != '\n'; next++)
            ;
        if (!*next)
            break; /* a line cut short is no answer */
        *next++ = 0;
        uint64_t s, inc, res, gen;
        if (answer_field(line, CKPT_KEY_SEQ, 10, &s) || s != seq ||
            answer_field(line, CKPT_KEY_INCARNATION, 16, &inc) || inc != ckpt_public.incarnation ||
            answer_field(line, CKPT_KEY_RESULT, 10, &res) ||
            answer_field(line, CKPT_KEY_GENERATION, 10, &gen))
            continue;
        *result = (int)res;
        *generation = (uint32_t)gen;
        found = 0;
    }
    return found;
}

/* Writers that answered success and only free what they retired (the images they replaced)
 * before they end: reaped later, when done (block: wait for each). */
static void reap_finishing(int block)
{
    for (int i = 0; i < CKPT_FINISHING_MAX; i++) {
        long pid = ckpt_shim.finishing_pid[i], r;
        if (!pid)
            continue;
        int status = 0;
        do
            r = sys_wait4((int)pid, &status, CK_WCLONE | (block ? 0 : 1 /* WNOHANG */));
        while (r == -EINTR);
        if (r != 0)
            ckpt_shim.finishing_pid[i] = 0; /* reaped, or not ours (ECHILD) */
    }
}

/* The writer answered: its image counts as published, its end is reaped later. With every
 * place taken, the oldest is waited for. */
static void writer_finishing(long pid)
{
    reap_finishing(0);
    int slot = 0;
    while (slot < CKPT_FINISHING_MAX && ckpt_shim.finishing_pid[slot])
        slot++;
    if (slot == CKPT_FINISHING_MAX) {
        int status;
        while (sys_wait4((int)ckpt_shim.finishing_pid[0], &status, CK_WCLONE) == -EINTR)
            ;
        slot = 0;
    }
    ckpt_shim.finishing_pid[slot] = pid;
    ckpt_shim.writer_pid = 0;
    track_published(ckpt_shim.generation);
}

/* Has the last checkpoint's writer answered that its image is published? Its answer is the
 * newest line of IMAGE.status: the end of the file is enough. */
static int writer_answered_ok(void)
{
    char buf[768], path[CKPT_PATH_MAX + 32];
    ck_format(path, sizeof path, "%s" CKPT_STATUS_SUFFIX, ckpt_shim.image);
    long fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct kstat st;
    long n =
        sys_fstat((int)fd, &st) == 0 && CK_S_IS(st.st_mode, CK_S_IFREG)
            ? sys_pread((int)fd, buf, sizeof buf - 1,
                        st.st_size > (long)sizeof buf - 1 ? st.st_size - (long)(sizeof buf - 1) : 0)
            : -1;
    sys_close((int)fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    int result = -1;
    uint32_t generation;
    char *text = buf;
    if (st.st_size > (long)sizeof buf - 1) /* the first line may be cut short */
        while (*text && *text++ != '\n')
            ;
    return checkpoint_find_answer(text, ckpt_shim.writer_seq, &result, &generation) == 0 &&
           result == 0;
}

/* One look at the last checkpoint's writer: 1 while it writes; else 0 with *rc, once it has
 * ended (reaped: 0 if it published and answered, else -1) or answered that its image is
 * published (kept to reap later: 0), or if there is none (0). */
static int writer_poll(int *rc)
{
    long pid = ckpt_shim.writer_pid, r;
    int status = 0;
    *rc = 0;
    if (!pid)
        return 0;
    r = sys_wait4((int)pid, &status, CK_WCLONE | 1 /* WNOHANG */);
    if (r == pid) {
        *rc = writer_reaped(status);
        return 0;
    }
    if (r < 0 && r != -EINTR)
        return 0; /* not ours to wait for (a vfork child of the program calling _exit) */
    if (r == 0 && writer_answered_ok()) {
        writer_finishing(pid);
        return 0;
    }
    return 1;
}

/* Waits until the writer child of the last checkpoint is done: checkpoints are taken one
 * at a time and in order. Done is its end, or its answer that the image is published (all
 * it does after is free the image it replaced). One that published no image gives its
 * generation number back. Returns 0 if the writer published and answered (or there was
 * none), else -1. */
int checkpoint_wait_for_writer(void)
{
    reap_finishing(0);
    int rc;
    while (writer_poll(&rc)) {
        struct timespec {
            int64_t sec, nsec;
        } ms = {0, 1000000};
        sys_nanosleep(&ms, 0);
    }
    return rc;
}

int checkpoint_writers_pending(void)
{
    int any = ckpt_shim.writer_pid != 0;
    for (int i = 0; i < CKPT_FINISHING_MAX; i++)
        any |= ckpt_shim.finishing_pid[i] != 0;
    return any;
}

int checkpoint_wait_for_writers(void)
{
    int rc = checkpoint_wait_for_writer();
    reap_finishing(1);
    return rc;
}

/* What the program's part of a checkpoint came to, for ckpt_public. */
struct checkpoint_outcome {
    int rc;           /* 0: published (or a writer child is at it and will answer) */
    uint32_t stopped; /* the stop generation holding the other threads, 0 if none */
    int result;       /* errno of a failure in the program, 0 */
    int status_error; /* errno if the program could not write its answer, 0 */
    long writer;      /* the writer child, which answers; 0 if the program answered */
};

/* started_ns: when the handler was entered; the status line reports how long the program
 * has been stopped until then (what `ckpt bench` calls the stopped time). */
static struct checkpoint_outcome checkpoint_now(const struct ckpt_cpu_context *ctx,
                                                const ucontext_t *uc, int rseq_paused,
                                                uint32_t token, uint64_t seq, uint64_t started_ns)
{
    struct checkpoint_job job;
    struct checkpoint_outcome out = {0, 0, 0, 0, 0};
    ck_memset(&job, 0, sizeof job);
    job.ctx = ctx;
    job.uc = uc;
    job.rseq_paused = rseq_paused;
    job.fd = -1;
    job.pid = sys_getpid();
    job.token = token;
    job.seq = seq;
    job.started_ns = started_ns;
    job.background = !ckpt_shim.no_background && !ckpt_shim.fork_unsafe_advice;
    job.arena = sys_mmap(0, ARENA_SIZE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ckpt_shim.generation++;
    if (sys_mmap_failed(job.arena)) {
        ck_fail(&job.err, -ENOMEM, "no memory for the checkpoint");
        job.rc = -1;
    } else {
        ckpt_call_on_stack(job.arena + ARENA_STACK, write_image, &job);
        sys_munmap(job.arena, ARENA_SIZE); /* the parked threads no longer touch it */
    }
    out.stopped = job.stopped_generation;
    if (job.writer) {
        ckpt_shim.writer_pid = job.writer;
        ckpt_shim.writer_seq = seq;
        out.writer = job.writer;
        /* `ckpt checkpoint --kill`: the SIGKILL is to find the program as the image has it,
         * so it stays stopped until its writer is done. */
        if (token & CKPT_REQUEST_STOP) /* no writer may outlive the SIGKILL, unreaped */
            out.rc = checkpoint_wait_for_writers();
        out.result = out.rc ? EIO : 0;
        return out;
    }
    if (job.rc && !job.published)
        ckpt_shim.generation--;
    if (job.rc == 0)
        track_published(ckpt_shim.generation);
    else
        track_failed();
    struct ck_held held = {.n = 0};
    retire_previous(&job, &held);
    report(&job, sys_monotonic_ns() - started_ns);
    ck_close_held(&held);
    out.rc = job.rc || job.status_error ? -1 : 0;
    out.result = result_of(&job);
    out.status_error = job.status_error;
    return out;
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

/* ---- what `ckpt checkpoint` sees (ckpt_public) ----------------------------------------- */

/* Yama's PR_SET_PTRACER (include/uapi/linux/prctl.h). */
#define CK_PR_SET_PTRACER 0x59616d61

/* `ckpt checkpoint` reads ckpt_public through /proc/PID/mem, which needs ptrace rights.
 * Under Yama's ptrace_scope 1 (Ubuntu's default) only the process's ancestors have them, and
 * `ckpt checkpoint` started from the shell that started the program is its sibling: so the
 * shim names its parent as a ptracer, which gives that process and its descendants — the
 * shell and the commands run from it, a batch script and its trap — the rights that
 * ptrace_scope 0 gives every process of the user. Without Yama the call fails (EINVAL) and
 * nothing changes; scope 2 and 3 leave it to root. */
static void public_allow_parent(void)
{
    long parent = sys_getppid();
    if (parent > 1)
        sys_prctl(CK_PR_SET_PTRACER, (unsigned long)parent, 0, 0, 0);
}

void public_announce_active(void)
{
    public_allow_parent();
    uint64_t incarnation = 0;
    sys_getrandom(&incarnation, sizeof incarnation, 0);
    public_begin_update();
    ckpt_public.incarnation = incarnation;
    ckpt_public.pid = (int32_t)sys_getpid();
    ckpt_public.finished = ckpt_public.begun; /* a restored process: nothing in progress */
    ckpt_public.finished_result = 0;
    ckpt_public.finished_status_error = 0;
    ckpt_public.finished_writer = 0;
    ckpt_public.holding = 0;
    ckpt_public.role = CKPT_ROLE_ACTIVE;
    public_end_update();
}

/* The handler's first act: from here on the checkpoint is under way for `ckpt checkpoint`,
 * until public_finish says it is done. Returns its number. */
static uint64_t public_begin(void)
{
    public_begin_update();
    uint64_t seq = ++ckpt_public.begun;
    public_end_update();
    return seq;
}

static void public_finish(uint64_t seq, const struct checkpoint_outcome *out, int hold)
{
    public_begin_update();
    ckpt_public.finished = seq;
    ckpt_public.finished_result = out->result;
    ckpt_public.finished_status_error = out->status_error;
    ckpt_public.finished_writer = out->writer;
    ckpt_public.holding = hold ? seq : 0;
    public_end_update();
}

static void public_end_hold(void)
{
    public_begin_update();
    ckpt_public.holding = 0;
    public_end_update();
}

/* ---- checkpoint-run --interval ------------------------------------------------------- */

/* The kernel's struct sigevent for SIGEV_SIGNAL (64 bytes). */
struct timer_event {
    uint64_t value;
    int32_t signo, notify;
    int32_t pad[12];
};
struct timer_spec {
    int64_t interval_sec, interval_nsec, value_sec, value_nsec;
};
#define CK_SIGEV_SIGNAL 0
#define CK_CLOCK_MONOTONIC 1

/* A POSIX timer of the shim's own, on CLOCK_MONOTONIC: no process of ours to add, and the
 * program's timers are its own (its ids are the kernel's next ones). Timers are no part
 * of an image (process.c saves the setitimer ones only), so a restored process has none
 * of ours until after_restore makes it again; a fork or exec does not keep it either
 * (after an exec the shim starts again and makes a new one). */
int checkpoint_start_interval_timer(void)
{
    ckpt_shim.timer_id = -1;
    if (!ckpt_shim.interval_ns)
        return 0;
    struct timer_event ev;
    ck_memset(&ev, 0, sizeof ev);
    ev.value = CKPT_INTERVAL_TICK;
    ev.signo = ckpt_shim.signal;
    ev.notify = CK_SIGEV_SIGNAL;
    int id = -1;
    long r = sys_call3(__NR_timer_create, CK_CLOCK_MONOTONIC, (long)&ev, (long)&id);
    if (r < 0)
        return (int)r;
    int64_t sec = (int64_t)(ckpt_shim.interval_ns / 1000000000u);
    int64_t nsec = (int64_t)(ckpt_shim.interval_ns % 1000000000u);
    struct timer_spec spec = {sec, nsec, sec, nsec};
    r = sys_call4(__NR_timer_settime, id, 0, (long)&spec, 0);
    if (r < 0) {
        sys_call1(__NR_timer_delete, id);
        return (int)r;
    }
    ckpt_shim.timer_id = id;
    return 0;
}

static int is_interval_tick(const siginfo_t *si)
{
    return si && si->si_code == SI_TIMER;
}

/* A tick while the previous checkpoint's writer child still writes is skipped: the program
 * must not stop to wait for it because a timer fired. The next tick takes the checkpoint.
 * A writer found done is reaped here. */
static int writer_still_writing(void)
{
    int rc;
    return writer_poll(&rc);
}

static void warn_interval_timer(int rc)
{
    struct ck_error e;
    ck_fail(&e, rc, "%s", ck_strerror(-rc));
    ck_print_error("ckpt: cannot start the --interval timer in the restored process", &e);
}

/* The process-wide signals pending at the checkpoint (and SIGWINCH for a resized terminal)
 * come again to the process, not to one thread: every signal is blocked in this handler,
 * so they wait for the mask the frame brings back. */
static void raise_shared_pending(uint64_t set)
{
    int pid = (int)sys_getpid();
    for (int sig = 1; sig <= CKPT_NSIG; sig++)
        if (set & (1ULL << (sig - 1)))
            sys_kill(pid, sig);
}

/* Once the last thread is out of the restore core, none runs its code or stands on its
 * stacks: that one unmaps it, and then lets the others return into the program. */
static void last_one_out(struct ckpt_restore_info *info)
{
    thread_adopt_rtld_locks(&ckpt_shim.glibc, (const struct thread_plan *)info->threads_addr,
                            info->nthreads);
    raise_shared_pending(info->shared_pending);
    sys_munmap((void *)info->core_addr, info->core_length);
    ckpt_shim.restores++;
    ckpt_shim.restored_generation = ckpt_shim.generation;
    track_after_restore();
    for (int i = 0; i < CKPT_FINISHING_MAX; i++) /* children of the checkpointed process */
        ckpt_shim.finishing_pid[i] = 0;
    lazyanon_after_restore();
    ckpt_shim.pid_now = sys_getpid(); /* getpid() still gives the program its own (shim_pid.c) */
    public_announce_active();         /* a new pid, and a new incarnation for its answers */
    int rc = checkpoint_start_interval_timer();
    if (rc < 0)
        warn_interval_timer(rc);
    __atomic_store_n(&info->release, 1, __ATOMIC_RELEASE);
    sys_futex(&info->release, CK_FUTEX_WAKE_PRIVATE, 0x7fffffff);
}

/* Each restored thread, back in its handler from the core, counts itself out; all but the
 * last wait until the last has freed the core. */
static void after_restore(void)
{
    struct ckpt_restore_info *info = &ckpt_shim.restore_info;
    if (__atomic_sub_fetch(&info->remaining, 1, __ATOMIC_ACQ_REL) == 0) {
        last_one_out(info);
        return;
    }
    while (__atomic_load_n(&info->release, __ATOMIC_ACQUIRE) == 0)
        sys_futex(&info->release, CK_FUTEX_WAIT_PRIVATE, 0);
}

/* What this delivery of the checkpoint signal is (sigroute.h). */
static enum sigroute_kind route_of(const siginfo_t *si)
{
    if (!si)
        return SIGROUTE_CHECKPOINT;
    struct sigroute_delivery d = {si->si_code,
                                  si->si_code == SI_TIMER ? si->si_timerid : si->si_pid,
                                  (uint64_t)(uintptr_t)si->si_value.sival_ptr};
    struct sigroute_self self = {(int32_t)sys_getpid(), ckpt_shim.timer_id,
                                 ckpt_shim.sigroute_cookie, ckpt_shim.sigroute_stop_generation};
    return sigroute_classify(&d, &self);
}

/* The value of a request from another process is its token; the shim's own requests (the
 * API's, the --interval timer's) and bare signals have none. */
static uint32_t token_of(const siginfo_t *si)
{
    return si && si->si_code == SI_QUEUE && si->si_pid != sys_getpid()
               ? (uint32_t)si->si_value.sival_int
               : 0;
}

/* The generation a stop request names. */
static uint32_t stop_generation_of(const siginfo_t *si)
{
    return (uint32_t)((uint64_t)(uintptr_t)si->si_value.sival_ptr ^ ckpt_shim.sigroute_cookie);
}

/* This thread leads a checkpoint: it stops the others, takes it, and lets them go. */
static void lead_checkpoint(const siginfo_t *si, void *ucv, uint64_t started_ns)
{
    uint32_t token = token_of(si);
    uint64_t seq = public_begin();
    struct ckpt_cpu_context ctx;
    checkpoint_wait_for_writer();
    int rseq_paused = thread_pause_rseq(&ckpt_shim.glibc);
    if (ckpt_context_save(&ctx) == 0) {
        struct checkpoint_outcome out =
            checkpoint_now(&ctx, ucv, rseq_paused, token, seq, started_ns);
        thread_resume_rseq(&ckpt_shim.glibc, rseq_paused);
        int hold = out.rc == 0 && (token & CKPT_REQUEST_STOP);
        public_finish(seq, &out, hold);
        if (hold) {
            wait_for_kill(); /* the other threads stay parked too */
            public_end_hold();
        }
        if (out.stopped)
            stop_release(out.stopped);
    } else {
        after_restore(); /* the core registered rseq again (thread_restore_self) */
    }
    stop_unclaim();
}

static void checkpoint_handler(int sig, siginfo_t *si, void *ucv)
{
    switch (route_of(si)) {
    case SIGROUTE_PROGRAM:
        /* The program's own delivery names the sender as getpid() gives it (shim_pid.c). */
        if ((si->si_code == SI_USER || si->si_code == SI_QUEUE || si->si_code == SI_TKILL) &&
            si->si_pid == ckpt_shim.pid_now)
            si->si_pid = (pid_t)ckpt_shim.program_pid;
        sigroute_to_program(sig, si, ucv, &ckpt_shim.program_action);
        return;
    case SIGROUTE_STOP: /* another thread leads a checkpoint */
        if (stop_follow(ucv, stop_generation_of(si)))
            after_restore();
        return;
    case SIGROUTE_STALE_STOP: /* that stop is over */
        return;
    case SIGROUTE_CHECKPOINT:
        break;
    }
    if (is_interval_tick(si) && writer_still_writing())
        return;
    uint64_t started_ns = sys_monotonic_ns();
    /* A request that reaches a thread while another leads a stop: this thread follows that
     * stop, then takes the checkpoint asked for (the request may be newer than it). */
    while (!stop_claim())
        if (stop_join(ucv)) {
            after_restore();
            return;
        }
    lead_checkpoint(si, ucv, started_ns);
}
/* ========================= end of the no-libc section ========================= */

void (*checkpoint_handler_address(void))(int, siginfo_t *, void *)
{
    return checkpoint_handler;
}
