/* ckpt bench [--json] [--quick] [--dir DIR]: checkpoint, restore and shim overhead measured
 * against what the machine can do, in one run, in one directory.
 *
 * Workloads are ckpt-bench-worker processes (bench_worker.c, in ../libexec/ckpt/ relative to
 * this program) started with checkpoint-run (in this program's directory). For each:
 *
 *   checkpoint  sigqueue the checkpoint signal with a token and wait (inotify on the bench
 *               directory) for <image>.status to answer it. "durable" = signal sent until the
 *               answer is there (the shim writes it after fsync, swap and directory fsync);
 *               "stopped" = how long the handler ran, as the shim reports (stopped_ns=).
 *               Baseline: write(2) the image's number of bytes, from a buffer of that size
 *               filled beforehand (as the program's memory is), to a new file in the same
 *               directory in 1 GiB calls, then fsync.
 *   restore     kill the worker, start restore-run IMAGE; "running" = start of restore-run
 *               until the restored worker prints its first line; "all read" = until it has
 *               read all its touched memory again (it checks the data against the checksum
 *               it printed before the checkpoint). Baseline: read(2) the whole image file.
 *               The checkpoint leaves its image out of the page cache (image_io.h), so the
 *               bench reads it once first: then both read it from the page cache. Then
 *               restore-run --lazy (pages mapped from the image).
 *   cold        the same eager restore and read baseline with the image out of the page
 *               cache, as after a reboot: before each, the image's cached pages are dropped
 *               with posix_fadvise(POSIX_FADV_DONTNEED), which needs no privilege (the image
 *               is written and synced, so every page of it is clean and can go), and mincore
 *               confirms they are gone.
 *
 * The machine's speed wanders from second to second (a shared disk; on a virtual machine,
 * memory its host must hand out anew): each step and its baseline are taken in turns,
 * several times, and the best of each counts. The first restore is shown apart.
 *   threads     the stopped time of one worker with the same memory and 1, 64 or 256
 *               threads (the others waiting on a condition variable), its workers started
 *               together and checkpointed in turns, best of several: what stopping and
 *               capturing each thread adds, as the difference and ratio to one thread.
 *   incremental a worker under checkpoint-run --incremental rewrites 1% of its pages between
 *               checkpoints (ckpt-bench-worker rewrite): the incremental image's data
 *               against the bytes written, its durable and stopped time against the full
 *               image's taken first (best of INCR_ROUNDS). A second worker under plain
 *               checkpoint-run is checkpointed in turns with it (WRITE_ROUNDS): its full
 *               images' stopped and durable time, and the throughput of a loop writing all
 *               memory right after an incremental checkpoint re-armed the tracking against
 *               the same loop right after a full checkpoint without tracking (what the
 *               tracking costs: after either, the copy-on-write writer has left every page
 *               write-protected) and before any checkpoint (what any checkpoint costs).
 *   shim        open/close, socket/close, dup/close and listen loops, plain and under
 *               checkpoint-run.
 *   compression a python3 process holding a realistic mix — its heap of dicts, lists and
 *               strings, an array of doubles, a bytearray of zeros — seven times, started
 *               together: uncompressed, checkpoint-run --compress (zstd level -1, as much as
 *               the disk leaves time for), --compress=-1,all and --compress=1,all (every
 *               run), with the image in the bench directory; and uncompressed, --compress
 *               and --compress=-1,all with the image on tmpfs (/dev/shm), a "disk" faster
 *               than the compressor. Checkpointed in turns, best of several: the image's
 *               size and its ratio to the uncompressed one of its directory, stopped and
 *               durable time, and durable time against that uncompressed checkpoint's
 *               (skipped, saying so, without python3; the tmpfs rows without /dev/shm).
 *
 * Figures are reported as measured; nothing here passes or fails on a time. */
#define _GNU_SOURCE
#include "ckpt_tool.h"
#include "ckpt/protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <linux/magic.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MiB ((uint64_t)1 << 20)
#define IO_CHUNK (64 * MiB)      /* read baseline: read(2) size */
#define WRITE_CHUNK (1024 * MiB) /* write baseline: write(2) size, as the image writer's */
#define WAIT_SECONDS 300
#define LOOP_PASSES 20

struct bench_paths {
    char bindir[PATH_MAX]; /* checkpoint-run, restore-run */
    char worker[PATH_MAX + 64];
    char dir[PATH_MAX]; /* the bench's own directory inside --dir */
};

/* Eager restores and read baselines, best of each; first = the first eager restore. */
struct restore_figures {
    double running_s, all_read_s, read_base_s, first_running_s;
};

struct memory_case {
    const char *name;
    uint64_t map_mib, touch_mib;
    char skipped[160]; /* why the case did not run, or "" */
    uint64_t image_bytes, data_bytes;
    double stopped_s, durable_s, write_base_s;
    struct restore_figures warm, cold;      /* cold: the image out of the page cache */
    double lazy_running_s, lazy_all_read_s; /* restore-run --lazy */
};

/* Threads: the same memory with 1, 64 or 256 threads. */
#define THREAD_CASES 3
#define THREAD_ROUNDS 7
struct thread_case {
    unsigned threads;
    double stopped_s, durable_s; /* best of THREAD_ROUNDS */
};

/* The write loop (best of WRITE_ROUNDS): before any checkpoint; right after a full
 * checkpoint without tracking; right after an incremental one re-armed the tracking. Both
 * checkpoints leave every page write-protected for the copy-on-write writer, so the first
 * write to each faults either way: the second against the third is what the tracking costs,
 * the first against the second what any checkpoint does. With huge pages (MADV_HUGEPAGE),
 * also the KiB of them the worker has after each loop: the kernel tracks writes in 4 KiB
 * pages and splits a huge page at its first write after the re-arm. */
struct write_loop {
    double fresh_s, untracked_s, tracked_s;
    uint64_t fresh_huge_kib, untracked_huge_kib, tracked_huge_kib;
};

/* Incremental images: one worker rewriting 1% between checkpoints. */
#define INCR_ROUNDS 5
#define WRITE_ROUNDS 3
struct incr_case {
    uint64_t map_mib;
    uint64_t written_bytes; /* by the worker before each incremental image */
    uint64_t full_data_bytes, incr_data_bytes;
    double full_durable_s, full_stopped_s; /* the first, full image */
    double incr_durable_s, incr_stopped_s; /* best of INCR_ROUNDS */
    /* A second worker under plain checkpoint-run takes full images in turns with it. */
    double plain_durable_s, plain_stopped_s; /* its full images, best of WRITE_ROUNDS */
    struct write_loop small, huge;           /* the write loop in 4 KiB pages and in huge pages */
    uint64_t huge_mib;                       /* the huge-page workers' memory */
};

/* Compression: the python3 mix uncompressed, with --compress (as much as the disk leaves time
 * for) and with every run compressed, in the bench directory and on tmpfs (/dev/shm: a "disk"
 * faster than any compressor). */
#define COMPRESSION_CASES 7
#define COMPRESSION_ROUNDS 5
struct compression_case {
    int level;     /* 0: uncompressed */
    int every_run; /* --compress=LEVEL,all */
    int on_tmpfs;  /* the image in /dev/shm; else in the bench directory */
    uint64_t image_bytes;
    double stopped_s, durable_s; /* best of the rounds */
};
struct compression_run {
    uint64_t mib;
    char skipped[160];
    char tmpfs_skipped[160];
    char tmpfs_dir[64];
    struct compression_case c[COMPRESSION_CASES];
};

struct loop_case {
    const char *name;
    double plain_ns, shim_ns;
};

/* Prints "ckpt: what: why" and gives -1. */
#define bench_fail(...) (ckpt_fail(__VA_ARGS__), -1)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

/* ---- processes ------------------------------------------------------------------------- */

struct child {
    pid_t pid;
    int out; /* read end of its stdout */
    char buf[512];
    size_t len;
};

/* Starts argv with stdout on a pipe to us, stdin from /dev/null. */
static int spawn(char *const argv[], struct child *c)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return bench_fail("pipe", "%s", strerror(errno));
    c->len = 0;
    c->pid = fork();
    if (c->pid < 0)
        return bench_fail("fork", "%s", strerror(errno));
    if (c->pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0)
            _exit(126);
        /* descriptors we were given (a test harness's log) would become part of the image */
        close_range(3, ~0U, 0);
        execv(argv[0], argv);
        fprintf(stderr, CKPT_TOOL_NAME " bench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    c->out = p[0];
    return 0;
}

/* Reads one line of the child's output into line (without the newline). */
static int read_line(struct child *c, char *line, size_t cap)
{
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            snprintf(line, cap, "%.*s", (int)n, c->buf);
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return 0;
        }
        struct pollfd pfd = {c->out, POLLIN, 0};
        if (poll(&pfd, 1, WAIT_SECONDS * 1000) <= 0)
            return bench_fail("worker", "no output within %d s", WAIT_SECONDS);
        ssize_t r = read(c->out, c->buf + c->len, sizeof c->buf - c->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return bench_fail("worker", "exited early (see its messages above)");
        c->len += (size_t)r;
    }
}

static void finish(struct child *c, int kill_it)
{
    if (c->pid <= 0)
        return;
    if (kill_it)
        kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
    close(c->out);
    c->pid = -1;
}

/* ---- checkpoint ------------------------------------------------------------------------ */

/* Whether text (IMAGE.status) holds an answer to token; fills a. */
static int answers_token(char *text, uint32_t token, struct shim_answer *a)
{
    for (char *line = text, *end; (end = strchr(line, '\n')); line = end + 1)
        if (ckpt_parse_status_line(line, a) == 0 && a->token == token && a->writing < 0)
            return 1;
    return 0;
}

/* Waits until path holds a status line answering token. */
static int wait_status(int inotify_fd, const char *path, uint32_t token, struct shim_answer *a)
{
    double deadline = now_s() + WAIT_SECONDS;
    while (now_s() < deadline) {
        char text[CKPT_STATUS_MAX_BYTES + 1];
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = read(fd, text, sizeof text - 1);
            close(fd);
            text[n > 0 ? n : 0] = 0;
            if (answers_token(text, token, a))
                return 0;
        }
        /* The shim renames the new status file into place: wake on that, or look again
         * after 50 ms in case the event came before we read. */
        struct pollfd pfd = {inotify_fd, POLLIN, 0};
        if (poll(&pfd, 1, 50) > 0) {
            char events[4096];
            if (read(inotify_fd, events, sizeof events) < 0 && errno != EAGAIN)
                return bench_fail("inotify", "%s", strerror(errno));
        }
    }
    return bench_fail(path, "no answer to the checkpoint within %d s", WAIT_SECONDS);
}

/* The writer child goes on after its answer to free the previous image (most of a second
 * for 4 GiB): the next timed step must not share the disk with that. Returns once no child
 * of the worker is alive (the writer stays a zombie until the worker's next checkpoint). */
static void wait_for_writer(pid_t worker)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)worker, (int)worker);
    for (double deadline = now_s() + WAIT_SECONDS; now_s() < deadline;) {
        FILE *f = fopen(path, "re");
        long child;
        int alive = 0;
        while (f && !alive && fscanf(f, "%ld", &child) == 1)
            alive = !ck_process_gone(child);
        if (f)
            fclose(f);
        if (!alive)
            return;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

static int take_checkpoint(const struct bench_paths *bp, struct memory_case *mc, pid_t pid,
                           const char *image)
{
    char status[PATH_MAX + 48], dir[PATH_MAX + 32];
    snprintf(status, sizeof status, "%s" CKPT_STATUS_SUFFIX, image);
    snprintf(dir, sizeof dir, "%s", image); /* the status file is beside the image */
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (in < 0 || inotify_add_watch(in, slash ? dir : bp->dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0)
        return bench_fail("inotify", "%s", strerror(errno));
    struct shim_answer a;
    uint32_t token = (uint32_t)(getpid() ^ (int)(now_s() * 1000)) & CKPT_REQUEST_TOKEN_MASK;
    double start = now_s();
    union sigval value = {.sival_int = (int)(token ? token : 1)};
    int rc = sigqueue(pid, SIGUSR2, value) != 0 ? bench_fail("sigqueue", "%s", strerror(errno))
                                                : wait_status(in, status, token ? token : 1, &a);
    mc->durable_s = now_s() - start;
    close(in);
    wait_for_writer(pid);
    if (rc)
        return rc;
    if (a.result != 0)
        return bench_fail(image, "checkpoint failed: %s", a.message);
    mc->stopped_s = (double)a.stopped_ns / 1e9;
    struct stat st;
    struct mapped_image m;
    struct ck_error err;
    if (stat(image, &st) != 0 || mapped_image_open(image, &m, &err) != 0)
        return bench_fail(image, "unusable image");
    mc->image_bytes = (uint64_t)st.st_size;
    mc->data_bytes = m.view.hdr->data_bytes;
    mapped_image_close(&m);
    return 0;
}

/* The read baseline's buffer, reused for every IO_CHUNK. */
static char *io_buffer(void)
{
    static char *buf;
    if (!buf) {
        buf = mmap(NULL, IO_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buf == MAP_FAILED)
            return buf = NULL;
        memset(buf, 0x5a, IO_CHUNK);
    }
    return buf;
}

/* The source is as large as the data, like the program's memory: a small buffer written
 * again and again would stay in the CPU's caches and TLB and leave the kernel more memory
 * for dirty pages, and so flatter the baseline. */
static int write_baseline(const struct bench_paths *bp, uint64_t bytes, double *seconds)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/baseline", bp->dir);
    char *buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        return bench_fail("baseline buffer", "%s", strerror(errno));
    memset(buf, 0x5a, bytes);
    double start = now_s();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        munmap(buf, bytes);
        return bench_fail(path, "%s", strerror(errno));
    }
    for (uint64_t done = 0; done < bytes;) {
        size_t n = bytes - done < WRITE_CHUNK ? (size_t)(bytes - done) : WRITE_CHUNK;
        ssize_t r = write(fd, buf + done, n);
        if (r <= 0) {
            close(fd);
            munmap(buf, bytes);
            return bench_fail(path, "write: %s", r < 0 ? strerror(errno) : "no progress");
        }
        done += (uint64_t)r;
    }
    int synced = fsync(fd);
    close(fd);
    *seconds = now_s() - start;
    munmap(buf, bytes);
    unlink(path);
    return synced == 0 ? 0 : bench_fail(path, "fsync: %s", strerror(errno));
}

static int read_baseline(const char *image, double *seconds)
{
    char *buf = io_buffer();
    double start = now_s();
    int fd = open(image, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || !buf)
        return bench_fail(image, "%s", strerror(errno));
    ssize_t r;
    while ((r = read(fd, buf, IO_CHUNK)) > 0)
        ;
    close(fd);
    *seconds = now_s() - start;
    return r == 0 ? 0 : bench_fail(image, "read: %s", strerror(errno));
}

/* Drops the file's pages from the page cache, as a reboot would, and checks with mincore
 * that they are gone: a cold restore or read that found them cached would measure nothing
 * but the cache. */
static int evict_from_cache(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return bench_fail(path, "%s", strerror(errno));
    int rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    if (rc != 0) {
        close(fd);
        return bench_fail(path, "posix_fadvise(DONTNEED): %s", strerror(rc));
    }
    size_t pages = ((size_t)st.st_size + 4095) / 4096, cached = 0;
    void *map = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0) : NULL;
    unsigned char *vec = pages ? malloc(pages) : NULL;
    close(fd);
    if (map == MAP_FAILED || (pages && !vec) || (map && mincore(map, (size_t)st.st_size, vec))) {
        rc = errno;
        free(vec);
        if (map && map != MAP_FAILED)
            munmap(map, (size_t)st.st_size);
        return bench_fail(path, "mincore: %s", strerror(rc));
    }
    for (size_t i = 0; i < pages; i++)
        cached += vec[i] & 1;
    free(vec);
    if (map)
        munmap(map, (size_t)st.st_size);
    if (cached > pages / 100)
        return bench_fail(path,
                          "%zu of its %zu pages stay in the page cache after "
                          "posix_fadvise(DONTNEED): cannot measure a cold restore",
                          cached, pages);
    return 0;
}

/* ---- restore --------------------------------------------------------------------------- */

static int restore(const struct bench_paths *bp, const char *image, const char *expected_sum,
                   int lazy, double *running_s, double *all_read_s)
{
    char restore_run[PATH_MAX + 16], image_arg[PATH_MAX + 32];
    snprintf(restore_run, sizeof restore_run, "%s/restore-run", bp->bindir);
    snprintf(image_arg, sizeof image_arg, "%s", image);
    char lazy_arg[] = "--lazy";
    char *argv[] = {restore_run, lazy ? lazy_arg : image_arg, lazy ? image_arg : NULL, NULL};
    struct child c;
    char line[256];
    uint64_t running_ns = 0, read_ns = 0;
    char sum[64] = "";
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (spawn(argv, &c))
        return -1;
    int rc = read_line(&c, line, sizeof line) ||
             sscanf(line, "running %" SCNu64, &running_ns) != 1 ||
             read_line(&c, line, sizeof line) ||
             sscanf(line, "read %" SCNu64 " %63s", &read_ns, sum) != 2;
    finish(&c, rc);
    if (rc)
        return bench_fail(image, "the restored worker did not report (last line: %s)", line);
    if (strcmp(sum, expected_sum) != 0)
        return bench_fail(image, "restored memory differs: checksum %s, before checkpoint %s", sum,
                          expected_sum);
    double start = (double)t0.tv_sec + (double)t0.tv_nsec / 1e9;
    *running_s = (double)running_ns / 1e9 - start;
    *all_read_s = (double)read_ns / 1e9 - start;
    return 0;
}

/* ---- one memory workload --------------------------------------------------------------- */

static uint64_t meminfo_available(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    unsigned long long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib * 1024;
}

/* Leaves a note in mc->skipped when the machine has not the room for the case. */
static void check_room(const struct bench_paths *bp, struct memory_case *mc)
{
    uint64_t touched = mc->touch_mib * MiB;
    struct statvfs vfs;
    /* the image and the write baseline exist at the same time */
    uint64_t disk_needed = 2 * touched + 256 * MiB;
    uint64_t mem_needed = touched + touched / 4 + 512 * MiB;
    if (statvfs(bp->dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < disk_needed)
        snprintf(mc->skipped, sizeof mc->skipped,
                 "skipped: needs %" PRIu64 " MiB free in the bench directory", disk_needed / MiB);
    else if (meminfo_available() < mem_needed)
        snprintf(mc->skipped, sizeof mc->skipped, "skipped: needs %" PRIu64 " MiB of free memory",
                 mem_needed / MiB);
}

static int rounds_for(const struct memory_case *mc)
{
    return mc->touch_mib >= 4096 ? 3 : 5;
}

static void keep_best(double *best, double v)
{
    if (*best == 0 || v < *best)
        *best = v;
}

/* Checkpoints of the running worker and write baselines, in turns. */
static int checkpoint_rounds(const struct bench_paths *bp, struct memory_case *mc, pid_t pid,
                             const char *image)
{
    struct memory_case best = {0};
    int rc = 0;
    for (int r = 0; r < rounds_for(mc) && rc == 0; r++) {
        rc = take_checkpoint(bp, mc, pid, image) ||
             write_baseline(bp, mc->image_bytes, &mc->write_base_s);
        keep_best(&best.stopped_s, mc->stopped_s);
        keep_best(&best.durable_s, mc->durable_s);
        keep_best(&best.write_base_s, mc->write_base_s);
    }
    mc->stopped_s = best.stopped_s;
    mc->durable_s = best.durable_s;
    mc->write_base_s = best.write_base_s;
    return rc;
}

/* Eager restores and read baselines in turns, best of each. Cold: before each, the image's
 * pages are dropped from the page cache; warm: they are all there (read_baseline reads them
 * in before the first). */
static int restore_rounds(const struct bench_paths *bp, const struct memory_case *mc,
                          const char *image, const char *sum, int cold, struct restore_figures *f)
{
    struct restore_figures best = {0};
    double running, all_read, read_base;
    int rc = cold ? 0 : read_baseline(image, &read_base);
    for (int r = 0; r < rounds_for(mc) && rc == 0; r++) {
        rc = (cold && evict_from_cache(image)) || restore(bp, image, sum, 0, &running, &all_read) ||
             (cold && evict_from_cache(image)) || read_baseline(image, &read_base);
        if (r == 0)
            best.first_running_s = running;
        keep_best(&best.running_s, running);
        keep_best(&best.all_read_s, all_read);
        keep_best(&best.read_base_s, read_base);
    }
    *f = best;
    return rc;
}

/* Removes a bench image and its status file (image is changed on the way). */
static void remove_image(char *image)
{
    unlink(image);
    strcat(image, CKPT_STATUS_SUFFIX);
    unlink(image);
}

/* A worker killed, and its image and status file removed. */
static void stop_and_remove(struct child *c, char *image)
{
    finish(c, 1);
    remove_image(image);
}

static int run_memory_case(const struct bench_paths *bp, struct memory_case *mc)
{
    check_room(bp, mc);
    if (mc->skipped[0])
        return 0;
    char checkpoint_run[PATH_MAX + 16], image[PATH_MAX + 32], map[32], touch[32];
    snprintf(checkpoint_run, sizeof checkpoint_run, "%s/checkpoint-run", bp->bindir);
    snprintf(image, sizeof image, "%s/worker.ckpt", bp->dir);
    snprintf(map, sizeof map, "%" PRIu64, mc->map_mib);
    snprintf(touch, sizeof touch, "%" PRIu64, mc->touch_mib);
    char *argv[] = {checkpoint_run,     "--image", image, "--signal", "USR2", "--",
                    (char *)bp->worker, "memory",  map,   touch,      NULL};
    struct child c;
    char line[256], sum[64] = "";
    if (spawn(argv, &c))
        return -1;
    int rc = read_line(&c, line, sizeof line) || sscanf(line, "ready %63s", sum) != 1
                 ? bench_fail(mc->name, "the worker did not start")
                 : checkpoint_rounds(bp, mc, c.pid, image);
    finish(&c, 1);
    if (rc == 0)
        rc = restore_rounds(bp, mc, image, sum, 0, &mc->warm) ||
             restore(bp, image, sum, 1, &mc->lazy_running_s, &mc->lazy_all_read_s) ||
             restore_rounds(bp, mc, image, sum, 1, &mc->cold);
    remove_image(image);
    return rc;
}

/* ---- incremental images ---------------------------------------------------------------- */

/* Asks the rewrite worker for one step (sigqueue value what) and reads its answer. */
static int worker_step(struct child *c, int what, const char *format, uint64_t *value)
{
    char line[256];
    union sigval v = {.sival_int = what};
    if (sigqueue(c->pid, SIGUSR1, v) != 0)
        return bench_fail("sigqueue", "%s", strerror(errno));
    if (read_line(c, line, sizeof line) || sscanf(line, format, value) != 1)
        return bench_fail("incremental", "the worker did not answer");
    return 0;
}

static int incremental_rounds(const struct bench_paths *bp, struct incr_case *ic, struct child *c,
                              const char *image)
{
    struct memory_case mc = {.name = "incremental"};
    if (take_checkpoint(bp, &mc, c->pid, image))
        return -1;
    ic->full_durable_s = mc.durable_s;
    ic->full_stopped_s = mc.stopped_s;
    ic->full_data_bytes = mc.data_bytes;
    for (int r = 0; r < INCR_ROUNDS; r++) {
        uint64_t pages;
        if (worker_step(c, 1, "rewritten %" SCNu64, &pages) ||
            take_checkpoint(bp, &mc, c->pid, image))
            return -1;
        ic->written_bytes = pages * 4096;
        ic->incr_data_bytes = mc.data_bytes;
        keep_best(&ic->incr_durable_s, mc.durable_s);
        keep_best(&ic->incr_stopped_s, mc.stopped_s);
    }
    return 0;
}

/* Asks for the write loop; answers "passes NS HUGE_KIB". */
static int write_loop_step(struct child *c, double *seconds, uint64_t *huge_kib)
{
    char line[256];
    uint64_t ns = 0;
    union sigval v = {.sival_int = 2};
    if (sigqueue(c->pid, SIGUSR1, v) != 0)
        return bench_fail("sigqueue", "%s", strerror(errno));
    if (read_line(c, line, sizeof line) ||
        sscanf(line, "passes %" SCNu64 " %" SCNu64, &ns, huge_kib) != 2)
        return bench_fail("write loop", "the worker did not answer");
    *seconds = (double)ns / 1e9;
    return 0;
}

/* The write loop right after a checkpoint, in turns: the incremental worker (tracked) and
 * the plain one (untracked), each just checkpointed and its writer child gone. The plain
 * worker's checkpoints go into ic's full-image figures if ic is given. */
static int write_loop_rounds(const struct bench_paths *bp, struct write_loop *wl,
                             struct incr_case *ic, struct child *tracked, const char *tracked_image,
                             struct child *plain, const char *plain_image)
{
    struct memory_case mc = {.name = "write loop"};
    for (int r = 0; r < WRITE_ROUNDS; r++) {
        double s;
        if (take_checkpoint(bp, &mc, tracked->pid, tracked_image) ||
            write_loop_step(tracked, &s, &wl->tracked_huge_kib))
            return -1;
        keep_best(&wl->tracked_s, s);
        if (take_checkpoint(bp, &mc, plain->pid, plain_image) ||
            write_loop_step(plain, &s, &wl->untracked_huge_kib))
            return -1;
        keep_best(&wl->untracked_s, s);
        if (ic) {
            keep_best(&ic->plain_durable_s, mc.durable_s);
            keep_best(&ic->plain_stopped_s, mc.stopped_s);
        }
    }
    return 0;
}

/* Removes the image and the older ones of its chain (IMAGE.N) and its status file. */
static void remove_chain(const char *image)
{
    char path[PATH_MAX + 48];
    unlink(image);
    for (int i = 1; i <= INCR_ROUNDS + WRITE_ROUNDS + 2; i++) {
        snprintf(path, sizeof path, "%s.%d", image, i);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s" CKPT_STATUS_SUFFIX, image);
    unlink(path);
}

/* Starts a rewrite worker of mib MiB (in huge pages if huge) under checkpoint-run, with
 * --incremental=64 if incremental, and keeps the time of its first write loop, before any
 * checkpoint, if it is the best. */
static int start_rewrite_worker(const struct bench_paths *bp, uint64_t mib, int huge,
                                struct write_loop *wl, int incremental, const char *image,
                                struct child *c)
{
    char checkpoint_run[PATH_MAX + 16], map[32], line[256];
    snprintf(checkpoint_run, sizeof checkpoint_run, "%s/checkpoint-run", bp->bindir);
    snprintf(map, sizeof map, "%" PRIu64, mib);
    char *argv[] = {checkpoint_run,       "--image", (char *)image,      "--signal", "USR2",
                    "--incremental=64",   "--",      (char *)bp->worker, "rewrite",  map,
                    huge ? "huge" : NULL, NULL};
    if (!incremental)
        memmove(&argv[5], &argv[6], 6 * sizeof argv[0]);
    uint64_t ns = 0;
    c->pid = -1;
    if (spawn(argv, c))
        return -1;
    if (read_line(c, line, sizeof line) ||
        sscanf(line, "ready %" SCNu64 " %" SCNu64, &ns, &wl->fresh_huge_kib) != 2)
        return bench_fail("incremental", "the worker did not start");
    keep_best(&wl->fresh_s, (double)ns / 1e9);
    return 0;
}

/* The write loop in huge pages: a pair of smaller workers, one tracked, one not. */
static int run_huge_write_loop(const struct bench_paths *bp, struct incr_case *ic)
{
    char image[PATH_MAX + 32], plain_image[PATH_MAX + 32];
    snprintf(image, sizeof image, "%s/huge-incremental.ckpt", bp->dir);
    snprintf(plain_image, sizeof plain_image, "%s/huge-full.ckpt", bp->dir);
    struct child tracked = {.pid = -1}, plain = {.pid = -1};
    struct memory_case mc = {.name = "huge pages"};
    int rc = start_rewrite_worker(bp, ic->huge_mib, 1, &ic->huge, 1, image, &tracked) ||
             start_rewrite_worker(bp, ic->huge_mib, 1, &ic->huge, 0, plain_image, &plain) ||
             take_checkpoint(bp, &mc, tracked.pid, image) || /* arms the tracking */
             write_loop_rounds(bp, &ic->huge, NULL, &tracked, image, &plain, plain_image);
    finish(&tracked, 1);
    finish(&plain, 1);
    remove_chain(image);
    remove_chain(plain_image);
    return rc ? -1 : 0;
}

static int run_incremental_case(const struct bench_paths *bp, struct incr_case *ic)
{
    char image[PATH_MAX + 32], plain_image[PATH_MAX + 32];
    snprintf(image, sizeof image, "%s/incremental.ckpt", bp->dir);
    snprintf(plain_image, sizeof plain_image, "%s/full.ckpt", bp->dir);
    struct child tracked = {.pid = -1}, plain = {.pid = -1};
    int rc = start_rewrite_worker(bp, ic->map_mib, 0, &ic->small, 1, image, &tracked) ||
             incremental_rounds(bp, ic, &tracked, image) ||
             start_rewrite_worker(bp, ic->map_mib, 0, &ic->small, 0, plain_image, &plain) ||
             write_loop_rounds(bp, &ic->small, ic, &tracked, image, &plain, plain_image);
    finish(&tracked, 1);
    finish(&plain, 1);
    remove_chain(image);
    remove_chain(plain_image);
    return rc || run_huge_write_loop(bp, ic) ? -1 : 0;
}

/* ---- threads --------------------------------------------------------------------------- */

/* One worker per thread count, all running at once with the same memory, checkpointed in
 * turns so that the machine's mood weighs on each alike. */
static int run_thread_cases(const struct bench_paths *bp, uint64_t mib, struct thread_case *tc)
{
    char checkpoint_run[PATH_MAX + 16], image[THREAD_CASES][PATH_MAX + 32], size[32],
        count[THREAD_CASES][16];
    struct child c[THREAD_CASES];
    snprintf(checkpoint_run, sizeof checkpoint_run, "%s/checkpoint-run", bp->bindir);
    snprintf(size, sizeof size, "%" PRIu64, mib);
    int rc = 0, started = 0;
    for (; started < THREAD_CASES && rc == 0; started++) {
        snprintf(image[started], sizeof image[started], "%s/threads-%u.ckpt", bp->dir,
                 tc[started].threads);
        snprintf(count[started], sizeof count[started], "%u", tc[started].threads);
        char *argv[] = {checkpoint_run, "--image", image[started],     "--signal",
                        "USR2",         "--",      (char *)bp->worker, "memory",
                        size,           size,      count[started],     NULL};
        char line[256];
        rc = spawn(argv, &c[started]) ||
                     (read_line(&c[started], line, sizeof line) || strncmp(line, "ready ", 6))
                 ? bench_fail("threads", "the worker with %u threads did not start",
                              tc[started].threads)
                 : 0;
    }
    for (int r = 0; r < THREAD_ROUNDS && rc == 0; r++)
        for (int i = 0; i < THREAD_CASES && rc == 0; i++) {
            struct memory_case m = {0};
            rc = take_checkpoint(bp, &m, c[i].pid, image[i]);
            keep_best(&tc[i].stopped_s, m.stopped_s);
            keep_best(&tc[i].durable_s, m.durable_s);
        }
    for (int i = 0; i < started; i++)
        stop_and_remove(&c[i], image[i]);
    return rc;
}

/* ---- compression ----------------------------------------------------------------------- */

/* The workload: MIB (argv[1]) split between python3's own heap (a dict of lists of strings
 * and floats), an array of doubles (a smooth function, as numeric data is) and zeros. */
static const char compression_mix_py[] =
    "import array, math, sys, time\n"
    "mib = int(sys.argv[1])\n"
    "heap = {('key%d' % i): ['item number %d' % i, i * 1.5, str(i) * 3]"
    " for i in range(mib * 2000)}\n"
    "nums = array.array('d', (math.sin(i / 1000.0) * 1000.0 for i in range(mib * 131072 // 3)))\n"
    "zeros = bytearray(mib * 1048576 // 3)\n"
    "print('ready', flush=True)\n"
    "time.sleep(3600)\n";

static int python3_in_path(void)
{
    const char *path = getenv("PATH");
    char dir[PATH_MAX + 16];
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t n = strcspn(p, ":");
        snprintf(dir, sizeof dir, "%.*s/python3", (int)n, p);
        if (access(dir, X_OK) == 0)
            return 1;
        p += n + (p[n] == ':');
    }
    return 0;
}

static int start_compression_case(const struct bench_paths *bp, uint64_t mib,
                                  const struct compression_case *cc, const char *image,
                                  struct child *c)
{
    char checkpoint_run[PATH_MAX + 16], size[32], level[32], line[256];
    snprintf(checkpoint_run, sizeof checkpoint_run, "%s/checkpoint-run", bp->bindir);
    snprintf(size, sizeof size, "%" PRIu64, mib);
    snprintf(level, sizeof level, "--compress=%d%s", cc->level, cc->every_run ? ",all" : "");
    char *argv[] = {
        checkpoint_run, "--image", (char *)image, "--signal", "USR2",
        level,          "--",      "python3",     "-c",       (char *)compression_mix_py,
        size,           NULL};
    if (!cc->level)
        memmove(&argv[5], &argv[6], 6 * sizeof *argv); /* no --compress */
    return spawn(argv, c) || read_line(c, line, sizeof line) || strcmp(line, "ready")
               ? bench_fail("compression", "python3 with the mix did not start")
               : 0;
}

/* A directory of our own on /dev/shm for the tmpfs cases, or why there is none. */
static void make_tmpfs_dir(struct compression_run *cr)
{
    struct statfs fs;
    snprintf(cr->tmpfs_dir, sizeof cr->tmpfs_dir, "/dev/shm/ckpt-bench.XXXXXX");
    if (statfs("/dev/shm", &fs) || fs.f_type != TMPFS_MAGIC)
        snprintf(cr->tmpfs_skipped, sizeof cr->tmpfs_skipped, "skipped: /dev/shm is not tmpfs");
    else if (!mkdtemp(cr->tmpfs_dir))
        snprintf(cr->tmpfs_skipped, sizeof cr->tmpfs_skipped, "skipped: /dev/shm: %s",
                 strerror(errno));
}

/* The cases at once, checkpointed in turns so that the machine's mood weighs on each alike. */
static int run_compression_cases(const struct bench_paths *bp, struct compression_run *cr,
                                 int rounds)
{
    if (!python3_in_path()) {
        snprintf(cr->skipped, sizeof cr->skipped, "skipped: python3 is not in PATH");
        return 0;
    }
    make_tmpfs_dir(cr);
    char image[COMPRESSION_CASES][PATH_MAX + 32];
    struct child c[COMPRESSION_CASES];
    int rc = 0, n = 0;
    for (int i = 0; i < COMPRESSION_CASES && rc == 0; i++) {
        const struct compression_case *cc = &cr->c[i];
        if (cc->on_tmpfs && cr->tmpfs_skipped[0])
            break; /* the tmpfs cases come last */
        snprintf(image[n], sizeof image[n], "%s/compress-%d%s.ckpt",
                 cc->on_tmpfs ? cr->tmpfs_dir : bp->dir, cc->level, cc->every_run ? "-all" : "");
        rc = start_compression_case(bp, cr->mib, cc, image[n], &c[n]);
        n += rc == 0;
    }
    for (int r = 0; r < rounds && rc == 0; r++)
        for (int i = 0; i < n && rc == 0; i++) {
            struct memory_case m = {0};
            rc = take_checkpoint(bp, &m, c[i].pid, image[i]);
            keep_best(&cr->c[i].stopped_s, m.stopped_s);
            keep_best(&cr->c[i].durable_s, m.durable_s);
            cr->c[i].image_bytes = m.image_bytes;
        }
    for (int i = 0; i < n; i++)
        stop_and_remove(&c[i], image[i]);
    if (!cr->tmpfs_skipped[0])
        rmdir(cr->tmpfs_dir);
    return rc;
}

/* The uncompressed case a case is measured against: the first of its directory. */
static const struct compression_case *compression_base(const struct compression_run *cr,
                                                       const struct compression_case *c)
{
    for (int i = 0; i < COMPRESSION_CASES; i++)
        if (cr->c[i].on_tmpfs == c->on_tmpfs && !cr->c[i].level)
            return &cr->c[i];
    return c;
}

static void compression_case_name(const struct compression_case *c, char *name, size_t len)
{
    if (!c->level)
        snprintf(name, len, "%s uncompressed", c->on_tmpfs ? "tmpfs" : "disk ");
    else
        snprintf(name, len, "%s --compress=%d%s", c->on_tmpfs ? "tmpfs" : "disk ", c->level,
                 c->every_run ? ",all" : "");
}

static void print_compression_table(const struct compression_run *cr)
{
    printf("\ncompression (python3: heap, doubles, zeros; %" PRIu64 " MiB)  image  "
           "uncompressed/image  stopped  durable  durable/uncompressed\n",
           cr->mib);
    if (cr->skipped[0]) {
        printf("%s\n", cr->skipped);
        return;
    }
    for (int i = 0; i < COMPRESSION_CASES; i++) {
        const struct compression_case *c = &cr->c[i], *base = compression_base(cr, c);
        if (c->on_tmpfs && cr->tmpfs_skipped[0]) {
            printf("tmpfs: %s\n", cr->tmpfs_skipped);
            break;
        }
        char name[48];
        compression_case_name(c, name, sizeof name);
        printf("%-24s %9.1f MiB %12.2f %12.3f ms %7.3f s %12.2f\n", name,
               (double)c->image_bytes / MiB,
               ratio((double)base->image_bytes, (double)c->image_bytes), c->stopped_s * 1e3,
               c->durable_s, ratio(c->durable_s, base->durable_s));
    }
}

/* ---- shim overhead --------------------------------------------------------------------- */

static int run_loops(const struct bench_paths *bp, int with_shim, long rounds,
                     struct loop_case *cases, int ncases)
{
    char checkpoint_run[PATH_MAX + 16], image[PATH_MAX + 32], n[32];
    snprintf(checkpoint_run, sizeof checkpoint_run, "%s/checkpoint-run", bp->bindir);
    snprintf(image, sizeof image, "%s/loops.ckpt", bp->dir);
    snprintf(n, sizeof n, "%ld", rounds);
    char *shim_argv[] = {checkpoint_run,     "--image", image, "--",
                         (char *)bp->worker, "loops",   n,     NULL};
    char *plain_argv[] = {(char *)bp->worker, "loops", n, NULL};
    struct child c;
    if (spawn(with_shim ? shim_argv : plain_argv, &c))
        return -1;
    int rc = 0;
    for (int i = 0; i < ncases && rc == 0; i++) {
        char line[256], name[64];
        double ns;
        rc = read_line(&c, line, sizeof line) || sscanf(line, "%63s %lf", name, &ns) != 2 ||
                     strcmp(name, cases[i].name) != 0
                 ? bench_fail("loops", "unexpected worker output")
                 : 0;
        *(with_shim ? &cases[i].shim_ns : &cases[i].plain_ns) = ns;
    }
    finish(&c, rc);
    return rc;
}

/* ---- output ---------------------------------------------------------------------------- */

struct machine {
    long cpus;
    uint64_t ram;
    struct utsname uts;
    char fs[400];
};

static void describe_machine(const struct bench_paths *bp, struct machine *m)
{
    m->cpus = sysconf(_SC_NPROCESSORS_ONLN);
    m->ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    uname(&m->uts);
    snprintf(m->fs, sizeof m->fs, "?");
    /* the file system type of the bench directory, from the longest matching mount */
    FILE *f = fopen("/proc/self/mounts", "re");
    char dev[256], mnt[PATH_MAX], type[64];
    size_t best = 0;
    while (f && fscanf(f, "%255s %4095s %63s %*[^\n]", dev, mnt, type) == 3) {
        size_t n = strlen(mnt);
        if (n >= best && strncmp(bp->dir, mnt, n) == 0 &&
            (n == 1 || bp->dir[n] == '/' || !bp->dir[n])) {
            best = n;
            snprintf(m->fs, sizeof m->fs, "%s on %s", type, dev);
        }
    }
    if (f)
        fclose(f);
}

static void print_restore_row(const char *name, const struct restore_figures *f)
{
    printf("%-15s %7.3f s %8.3f s %11.3f s %14.2f %18.2f %13.3f s %10.2f", name, f->running_s,
           f->all_read_s, f->read_base_s, ratio(f->running_s, f->read_base_s),
           ratio(f->all_read_s, f->read_base_s), f->first_running_s,
           ratio(f->first_running_s, f->read_base_s));
}

static void print_thread_table(uint64_t mib, const struct thread_case *tc)
{
    printf("\nthreads (%" PRIu64 " MiB)  stopped  durable  stopped - 1 thread  "
           "stopped / 1 thread\n",
           mib);
    for (int i = 0; i < THREAD_CASES; i++)
        printf("%4u thread%s %10.3f ms %6.3f s %14.3f ms %18.2f\n", tc[i].threads,
               tc[i].threads == 1 ? " " : "s", tc[i].stopped_s * 1e3, tc[i].durable_s,
               (tc[i].stopped_s - tc[0].stopped_s) * 1e3, ratio(tc[i].stopped_s, tc[0].stopped_s));
}

static void print_table(const struct machine *m, const struct memory_case *mc, int nmc,
                        const struct loop_case *lc, int nlc)
{
    printf("machine: %ld CPUs, %.1f GiB RAM, %s %s, bench directory: %s\n", m->cpus,
           (double)m->ram / (1024.0 * MiB), m->uts.sysname, m->uts.release, m->fs);
    printf("\ncheckpoint        touched   image  image/touched  stopped  durable  "
           "write+fsync  durable/baseline\n");
    for (int i = 0; i < nmc; i++) {
        const struct memory_case *c = &mc[i];
        if (c->skipped[0]) {
            printf("%-15s  %s\n", c->name, c->skipped);
            continue;
        }
        printf("%-15s %5" PRIu64 " MiB %6.1f MiB %8.3f %9.3f s %7.3f s %9.3f s %12.2f\n", c->name,
               c->touch_mib, (double)c->image_bytes / MiB,
               ratio((double)c->image_bytes, (double)(c->touch_mib * MiB)), c->stopped_s,
               c->durable_s, c->write_base_s, ratio(c->durable_s, c->write_base_s));
    }
    printf("\nrestore           running   all read  read(2) image  running/baseline  "
           "all read/baseline  first: running  /baseline  lazy: running   all read\n");
    for (int i = 0; i < nmc; i++)
        if (!mc[i].skipped[0]) {
            print_restore_row(mc[i].name, &mc[i].warm);
            printf(" %12.3f s %8.3f s\n", mc[i].lazy_running_s, mc[i].lazy_all_read_s);
        }
    printf("\nrestore, cold     running   all read  read(2) image  running/baseline  "
           "all read/baseline  first: running  /baseline\n");
    for (int i = 0; i < nmc; i++)
        if (!mc[i].skipped[0]) {
            print_restore_row(mc[i].name, &mc[i].cold);
            printf("\n");
        }
    printf("(cold: the image's pages dropped from the page cache with posix_fadvise(DONTNEED),"
           " no privilege needed, before each restore and each read)\n");
    printf("\nshim overhead     plain ns/round  with shim ns/round  overhead\n");
    for (int i = 0; i < nlc; i++)
        printf("%-15s %16.1f %19.1f %8.1f%%\n", lc[i].name, lc[i].plain_ns, lc[i].shim_ns,
               100.0 * (ratio(lc[i].shim_ns, lc[i].plain_ns) - 1));
}

static void print_write_loop(const char *indent, const struct write_loop *wl)
{
    printf("  %swrite loop after an incremental checkpoint: %.2f of its throughput after a full "
           "one (%.3f s, %.3f s)\n",
           indent, ratio(wl->untracked_s, wl->tracked_s), wl->tracked_s, wl->untracked_s);
    printf("  %swrite loop after a full checkpoint: %.2f of its throughput before any (%.3f s)\n",
           indent, ratio(wl->fresh_s, wl->untracked_s), wl->fresh_s);
}

static void print_incremental(const struct incr_case *ic)
{
    printf("\nincremental (%" PRIu64 " MiB, 1%% rewritten between checkpoints)\n", ic->map_mib);
    printf("  image data %.1f MiB for %.1f MiB written: %.2f (full image %.1f MiB)\n",
           (double)ic->incr_data_bytes / MiB, (double)ic->written_bytes / MiB,
           ratio((double)ic->incr_data_bytes, (double)ic->written_bytes),
           (double)ic->full_data_bytes / MiB);
    printf("  durable %.3f s, full %.3f s: %.3f (full without tracking %.3f s: %.3f)\n",
           ic->incr_durable_s, ic->full_durable_s, ratio(ic->incr_durable_s, ic->full_durable_s),
           ic->plain_durable_s, ratio(ic->incr_durable_s, ic->plain_durable_s));
    printf("  stopped %.3f ms, full %.3f ms: %.2f\n", ic->incr_stopped_s * 1e3,
           ic->full_stopped_s * 1e3, ratio(ic->incr_stopped_s, ic->full_stopped_s));
    printf("  stopped %.3f ms, full image without tracking %.3f ms: %.2f\n",
           ic->incr_stopped_s * 1e3, ic->plain_stopped_s * 1e3,
           ratio(ic->incr_stopped_s, ic->plain_stopped_s));
    print_write_loop("", &ic->small);
    printf("  in huge pages (%" PRIu64 " MiB, MADV_HUGEPAGE; KiB of huge pages after the loop):\n",
           ic->huge_mib);
    print_write_loop("  ", &ic->huge);
    printf("    huge pages: %" PRIu64 " KiB before any checkpoint, %" PRIu64
           " after a full one, %" PRIu64 " after an incremental one\n",
           ic->huge.fresh_huge_kib, ic->huge.untracked_huge_kib, ic->huge.tracked_huge_kib);
}

static void print_compression_json(const struct compression_run *cr)
{
    printf(",\n \"compression\":{\"workload\":\"python3 heap, doubles, zeros\",\"mib\":%" PRIu64,
           cr->mib);
    if (cr->skipped[0]) {
        printf(",\"skipped\":\"%s\"}", cr->skipped);
        return;
    }
    if (cr->tmpfs_skipped[0])
        printf(",\"tmpfs_skipped\":\"%s\"", cr->tmpfs_skipped);
    printf(",\"cases\":[");
    for (int i = 0; i < COMPRESSION_CASES; i++) {
        const struct compression_case *c = &cr->c[i], *base = compression_base(cr, c);
        if (c->on_tmpfs && cr->tmpfs_skipped[0])
            break;
        printf("%s\n  {\"dir\":\"%s\",\"level\":%d,\"every_run\":%s,\"image_bytes\":%" PRIu64
               ",\"ratio\":%.3f,\"stopped_s\":%.6f,\"durable_s\":%.6f"
               ",\"durable_vs_uncompressed\":%.3f}",
               i ? "," : "", c->on_tmpfs ? "tmpfs" : "bench", c->level,
               c->every_run ? "true" : "false", c->image_bytes,
               ratio((double)base->image_bytes, (double)c->image_bytes), c->stopped_s, c->durable_s,
               ratio(c->durable_s, base->durable_s));
    }
    printf("]}");
}

static void print_json(const struct machine *m, const struct memory_case *mc, int nmc,
                       uint64_t thread_mib, const struct thread_case *tc,
                       const struct incr_case *ic, const struct loop_case *lc, int nlc,
                       const struct compression_run *cr)
{
    printf("{\"machine\":{\"cpus\":%ld,\"ram_bytes\":%" PRIu64
           ",\"kernel\":\"%s\",\"filesystem\":\"%s\"},\n \"memory\":[",
           m->cpus, m->ram, m->uts.release, m->fs);
    for (int i = 0; i < nmc; i++) {
        const struct memory_case *c = &mc[i];
        printf("%s\n  {\"name\":\"%s\",\"mapped_bytes\":%" PRIu64 ",\"touched_bytes\":%" PRIu64,
               i ? "," : "", c->name, c->map_mib * MiB, c->touch_mib * MiB);
        if (c->skipped[0]) {
            printf(",\"skipped\":\"%s\"}", c->skipped);
            continue;
        }
        printf(",\"image_bytes\":%" PRIu64 ",\"data_bytes\":%" PRIu64
               ",\"stopped_s\":%.6f,\"durable_s\":%.6f,\"write_fsync_baseline_s\":%.6f"
               ",\"restore_running_s\":%.6f,\"restore_all_read_s\":%.6f"
               ",\"read_baseline_s\":%.6f,\"restore_first_running_s\":%.6f"
               ",\"lazy_restore_running_s\":%.6f,\"lazy_restore_all_read_s\":%.6f"
               ",\"cold_restore_running_s\":%.6f,\"cold_restore_all_read_s\":%.6f"
               ",\"cold_read_baseline_s\":%.6f,\"cold_restore_first_running_s\":%.6f}",
               c->image_bytes, c->data_bytes, c->stopped_s, c->durable_s, c->write_base_s,
               c->warm.running_s, c->warm.all_read_s, c->warm.read_base_s, c->warm.first_running_s,
               c->lazy_running_s, c->lazy_all_read_s, c->cold.running_s, c->cold.all_read_s,
               c->cold.read_base_s, c->cold.first_running_s);
    }
    printf("],\n \"threads\":[");
    for (int i = 0; i < THREAD_CASES; i++)
        printf("%s\n  {\"threads\":%u,\"touched_bytes\":%" PRIu64
               ",\"stopped_s\":%.6f,\"durable_s\":%.6f}",
               i ? "," : "", tc[i].threads, thread_mib * MiB, tc[i].stopped_s, tc[i].durable_s);
    printf("],\n \"incremental\":{\"mapped_bytes\":%" PRIu64 ",\"written_bytes\":%" PRIu64
           ",\"data_bytes\":%" PRIu64 ",\"full_data_bytes\":%" PRIu64
           ",\"durable_s\":%.6f,\"full_durable_s\":%.6f,\"stopped_s\":%.6f"
           ",\"full_stopped_s\":%.6f,\"untracked_full_stopped_s\":%.6f"
           ",\"untracked_full_durable_s\":%.6f,\"write_loop_s\":%.6f"
           ",\"untracked_write_loop_s\":%.6f,\"uncheckpointed_write_loop_s\":%.6f"
           ",\"huge_pages_bytes\":%" PRIu64 ",\"huge_write_loop_s\":%.6f"
           ",\"huge_untracked_write_loop_s\":%.6f,\"huge_uncheckpointed_write_loop_s\":%.6f"
           ",\"huge_kib_uncheckpointed\":%" PRIu64 ",\"huge_kib_untracked\":%" PRIu64
           ",\"huge_kib_tracked\":%" PRIu64 "}",
           ic->map_mib * MiB, ic->written_bytes, ic->incr_data_bytes, ic->full_data_bytes,
           ic->incr_durable_s, ic->full_durable_s, ic->incr_stopped_s, ic->full_stopped_s,
           ic->plain_stopped_s, ic->plain_durable_s, ic->small.tracked_s, ic->small.untracked_s,
           ic->small.fresh_s, ic->huge_mib * MiB, ic->huge.tracked_s, ic->huge.untracked_s,
           ic->huge.fresh_s, ic->huge.fresh_huge_kib, ic->huge.untracked_huge_kib,
           ic->huge.tracked_huge_kib);
    printf(",\n \"shim\":[");
    for (int i = 0; i < nlc; i++)
        printf("%s\n  {\"name\":\"%s\",\"plain_ns\":%.1f,\"shim_ns\":%.1f}", i ? "," : "",
               lc[i].name, lc[i].plain_ns, lc[i].shim_ns);
    printf("]");
    print_compression_json(cr);
    printf("}\n");
}

/* ---- the command ----------------------------------------------------------------------- */

static int find_programs(struct bench_paths *bp)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return bench_fail("/proc/self/exe", "%s", strerror(errno));
    self[n] = 0;
    *strrchr(self, '/') = 0;
    snprintf(bp->bindir, sizeof bp->bindir, "%s", self);
    snprintf(bp->worker, sizeof bp->worker, "%s/../libexec/ckpt/ckpt-bench-worker", self);
    if (access(bp->worker, X_OK) != 0)
        return bench_fail(bp->worker, "%s (ckpt bench needs its worker there)", strerror(errno));
    return 0;
}

static int make_bench_dir(struct bench_paths *bp, const char *parent)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/ckpt-bench.XXXXXX", parent);
    if (!mkdtemp(path))
        return bench_fail(parent, "cannot create a directory there: %s", strerror(errno));
    if (!realpath(path, bp->dir))
        return bench_fail(path, "%s", strerror(errno));
    return 0;
}

int ckpt_bench_command(int argc, char **argv)
{
    int json = 0, quick = 0;
    const char *parent = ".";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            parent = argv[++i];
        else if (strcmp(argv[i], "--dir") == 0)
            return ckpt_usage_error("bench", "--dir", "missing DIR");
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return ckpt_print_help("bench");
        else
            return ckpt_usage_error("bench", argv[i],
                                    argv[i][0] == '-' ? "unknown option" : "unexpected argument");
    }
#define CASE(label, map, touch)                                                                    \
    {                                                                                              \
        .name = label, .map_mib = map, .touch_mib = touch                                          \
    }
    struct memory_case full[] = {CASE("dense 64 MiB", 64, 64), CASE("dense 1 GiB", 1024, 1024),
                                 CASE("dense 4 GiB", 4096, 4096), CASE("sparse 64/4096", 4096, 64)};
    struct memory_case small[] = {CASE("dense 16 MiB", 16, 16), CASE("sparse 16/256", 256, 16)};
#undef CASE
    struct memory_case *mc = quick ? small : full;
    int nmc = quick ? 2 : 4;
    struct loop_case lc[] = {{.name = "open_close"},
                             {.name = "socket_close"},
                             {.name = "dup_close"},
                             {.name = "listen"}};
    long rounds = quick ? 20000 : 200000;
    struct bench_paths bp;
    if (find_programs(&bp) || make_bench_dir(&bp, parent))
        return CKPT_EXIT_FAILURE;
    int rc = 0;
    for (int i = 0; i < nmc && rc == 0; i++)
        rc = run_memory_case(&bp, &mc[i]);
    struct thread_case tc[THREAD_CASES] = {{.threads = 1}, {.threads = 64}, {.threads = 256}};
    uint64_t thread_mib = quick ? 16 : 64;
    if (rc == 0)
        rc = run_thread_cases(&bp, thread_mib, tc);
    struct incr_case ic = {.map_mib = quick ? 64 : 4096, .huge_mib = quick ? 64 : 512};
    if (rc == 0)
        rc = run_incremental_case(&bp, &ic);
    struct compression_run cr = {.mib = quick ? 24 : 150,
                                 .c = {{.level = 0},
                                       {.level = -1},
                                       {.level = -1, .every_run = 1},
                                       {.level = 1, .every_run = 1},
                                       {.level = 0, .on_tmpfs = 1},
                                       {.level = -1, .on_tmpfs = 1},
                                       {.level = -1, .every_run = 1, .on_tmpfs = 1}}};
    if (rc == 0)
        rc = run_compression_cases(&bp, &cr, quick ? 2 : COMPRESSION_ROUNDS);
    /* plain and shim alternately, the best of LOOP_PASSES/2 runs each, so a neighbour's
     * burst of activity does not count against one side only */
    enum { NLOOPS = sizeof lc / sizeof lc[0] };
    struct loop_case best[NLOOPS];
    memcpy(best, lc, sizeof lc);
    for (int pass = 0; pass < (quick ? 2 : LOOP_PASSES) && rc == 0; pass++) {
        rc = run_loops(&bp, pass % 2, rounds, lc, NLOOPS);
        for (int i = 0; i < NLOOPS && rc == 0; i++) {
            double *b = pass % 2 ? &best[i].shim_ns : &best[i].plain_ns;
            double v = pass % 2 ? lc[i].shim_ns : lc[i].plain_ns;
            *b = *b == 0 || v < *b ? v : *b;
        }
    }
    char loops_image[PATH_MAX + 32];
    snprintf(loops_image, sizeof loops_image, "%s/loops.ckpt", bp.dir);
    unlink(loops_image);
    rmdir(bp.dir);
    if (rc)
        return CKPT_EXIT_FAILURE;
    struct machine m;
    describe_machine(&bp, &m);
    if (json) {
        print_json(&m, mc, nmc, thread_mib, tc, &ic, best, NLOOPS, &cr);
    } else {
        print_table(&m, mc, nmc, best, NLOOPS);
        print_thread_table(thread_mib, tc);
        print_incremental(&ic);
        print_compression_table(&cr);
    }
    return 0;
}
