/* restore-run, phase 1: placing the program's memory before the point of no return.
 *
 * After every other check has passed, and before anything of restore-run is unmapped, each
 * region that is free to map (it collides neither with restore-run's own mappings nor with
 * the core area) is mapped at its address, and its stored pages are read from the image
 * straight into it (past the page cache, with O_DIRECT, where the image is not cached: see
 * "reading past the page cache") and checked against their checksums right after. The runs are
 * shared out among one thread per CPU. The runs of the regions left for the restore core (the few
 * that collide) are checked from the image mapping. So every page checksum is verified before the
 * point of no return, the core has almost nothing left to copy, and the data is read once instead
 * of twice.
 *
 * Huge pages: allocating 4 KiB pages one at a time costs more than reading their contents.
 * Where transparent huge pages are given only on request ("madvise", Debian's default),
 * the 2 MiB blocks of anonymous memory that the image stores in full are advised
 * MADV_HUGEPAGE while they are filled, and the regions MADV_NOHUGEPAGE afterwards — which
 * in that mode behaves as no advice at all: later faults get small pages, as they did before
 * the checkpoint. Blocks only partly stored are not advised, so the resident size does not
 * grow. (smaps shows the "nh" flag on those regions.)
 *
 * libc and threads are allowed here; memory.c's restore side does the mapping itself, so
 * phase 1 and the core map regions the same way. */
#define _GNU_SOURCE
#include "place.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ckpt/protocol.h"
#include "hash.h"
#include "memory.h"
#include "../state/chain.h"

#define HUGE_PAGE (2UL << 20)
#define MAX_THREADS 8
#define BYTES_PER_THREAD (16UL << 20) /* below this, another thread is not worth starting */
#define OWN_STACK_ROOM (8UL << 20)    /* restore-run's stack may grow this far down */

/* Runs to check, and to read into place if their region is placed: consecutive runs of one
 * region whose data lie back to back in the image, read with one preadv. A sparse region
 * has thousands of one-page runs, and a system call for each would cost more than the
 * reading. */
struct fill_item {
    const struct region_plan *rp;
    const struct ckpt_run_record *run; /* the first */
    uint32_t nruns;
    int direct; /* read with O_DIRECT: the data is not in the page cache */
};
#define BATCH_RUNS 256          /* at most so many runs in one item */
#define BATCH_BYTES (2UL << 20) /* nor more data than this: the threads share items */

struct fill_job {
    const struct restore_plan *p;
    int image_fd;
    int direct_fd;               /* the image opened with O_DIRECT, or -1 */
    const unsigned char *cached; /* mincore of the image mapping, or NULL */
    struct fill_item *items;
    size_t nitems;
    size_t next;         /* next item to take (atomic) */
    int failed;          /* set by the first failure (atomic): the others stop */
    struct ck_error err; /* written once, by the thread that set failed */
};

/* ---- which regions phase 1 places ------------------------------------------------------ */

/* CKPT_TEST_PLACE=none leaves every region to the core, =alternate every other one, so the
 * tests exercise the core's path and the mix of both. Returns the step between placed
 * regions: 1 places all, 0 none. */
static uint32_t test_placing_step(void)
{
    const char *mode = getenv(CKPT_ENV_TEST_PLACE);
    if (mode && !strcmp(mode, "none"))
        return 0;
    return mode && !strcmp(mode, "alternate") ? 2 : 1;
}

/* Anything in the way (restore-run's own mappings, the core area) makes the kernel refuse
 * with EEXIST: the region is then the core's. Any other refusal would recur in the core,
 * after the point of no return, so it fails the restore now. */
static int map_free_regions(struct restore_plan *p, const struct own_mappings *own,
                            struct ck_error *err)
{
    /* restore-run's stack, with room below it to grow: a region mapped there would stop it. */
    uint64_t stack_high = own->stack_end;
    uint64_t stack_low = own->stack_start > OWN_STACK_ROOM ? own->stack_start - OWN_STACK_ROOM : 0;
    uint32_t step = test_placing_step();
    for (uint32_t i = 0; i < p->nregions; i++) {
        struct region_plan *rp = &p->regions[i];
        const struct ckpt_region_record *g = rp->rec;
        if (memory_is_kernels(g->kind) || step == 0 || i % step != 0 ||
            (g->start < stack_high && g->end > stack_low))
            continue;
        long r = memory_map_region(rp);
        if (r < 0 && r != -EEXIST)
            return ck_fail(err, -1, "mapping %lx-%lx %s: %s", (unsigned long)g->start,
                           (unsigned long)g->end, g->path, strerror((int)-r));
        rp->placed = r == 0;
    }
    return 0;
}

/* ---- huge pages ------------------------------------------------------------------------ */

static int huge_pages_on_request(void)
{
    char mode[128];
    return ck_read_file("/sys/kernel/mm/transparent_hugepage/enabled", mode, sizeof mode) > 0 &&
           strstr(mode, "[madvise]") != NULL;
}

static int huge_page_candidate(const struct region_plan *rp)
{
    uint32_t kind = rp->rec->kind;
    return rp->placed && rp->rec->nruns && (kind == CKPT_REGION_ANON || kind == CKPT_REGION_HEAP);
}

/* Advises MADV_HUGEPAGE on the whole 2 MiB blocks inside [start, end). */
static int advise_huge(uint64_t start, uint64_t end)
{
    uint64_t lo = (start + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1), hi = end & ~(HUGE_PAGE - 1);
    return lo < hi && madvise((void *)lo, hi - lo, MADV_HUGEPAGE) == 0;
}

/* Returns 1 if some block of the region was advised. Runs are in address order. */
static int advise_stored_blocks(const struct image_view *v, const struct region_plan *rp)
{
    int advised = 0;
    uint64_t span_start = 0, span_end = 0;
    const struct ckpt_record_head *r = rp->first_run;
    for (uint32_t i = 0; i < rp->rec->nruns; i++, r = image_next(v, r)) {
        uint64_t addr, len;
        chain_pages_of(r, &addr, &len);
        if (addr != span_end) {
            advised |= advise_huge(span_start, span_end);
            span_start = addr;
        }
        span_end = addr + len;
    }
    return advised | advise_huge(span_start, span_end);
}

/* ---- filling, in parallel -------------------------------------------------------------- */

/* Reads the runs of it into place from fd, resuming after a short read. Returns 0 or an
 * errno value. */
static int read_runs(const struct fill_job *j, const struct fill_item *it, int fd)
{
    struct iovec iov[BATCH_RUNS];
    const struct ckpt_record_head *r = &it->run->head;
    for (uint32_t k = 0; k < it->nruns; k++, r = image_next(&j->p->view, r)) {
        const struct ckpt_run_record *u = (const void *)r;
        iov[k] = (struct iovec){(void *)u->addr, u->extent.length};
    }
    struct iovec *next = iov;
    int left = (int)it->nruns;
    for (off_t off = (off_t)it->run->extent.file_offset; left > 0;) {
        ssize_t n = preadv(fd, next, left, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        off += n;
        for (; left > 0 && (size_t)n >= next->iov_len; next++, left--)
            n -= (ssize_t)next->iov_len;
        if (left > 0) {
            next->iov_base = (char *)next->iov_base + n;
            next->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* A run the file system cannot read with O_DIRECT (EINVAL: it wants another alignment) is
 * read through the page cache instead. */
static int read_item(const struct fill_job *j, const struct fill_item *it)
{
    if (it->direct) {
        int e = read_runs(j, it, j->direct_fd);
        if (e != EINVAL)
            return e;
    }
    return read_runs(j, it, j->image_fd);
}

static int fill_one(struct fill_job *j, const struct fill_item *it, struct ck_error *err)
{
    const struct ckpt_region_record *g = it->rp->rec;
    if (it->rp->placed) {
        int e = read_item(j, it);
        if (e)
            return ck_fail(err, -1, "reading pages of region %lx-%lx %s from the image: %s",
                           (unsigned long)g->start, (unsigned long)g->end, g->path, strerror(e));
    }
    const struct ckpt_record_head *r = &it->run->head;
    for (uint32_t k = 0; k < it->nruns; k++, r = image_next(&j->p->view, r)) {
        const struct ckpt_run_record *u = (const void *)r;
        const void *data = it->rp->placed ? (const void *)u->addr
                                          : (const void *)(j->p->view.base + u->extent.file_offset);
        if (ck_hash64(data, u->extent.length) != u->extent.checksum)
            return image_fail_run(g, u, err);
    }
    return 0;
}

static void *fill_worker(void *arg)
{
    struct fill_job *j = arg;
    struct ck_error err;
    for (;;) {
        size_t i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (i >= j->nitems || __atomic_load_n(&j->failed, __ATOMIC_RELAXED))
            return NULL;
        if (fill_one(j, &j->items[i], &err) &&
            !__atomic_exchange_n(&j->failed, 1, __ATOMIC_ACQ_REL))
            j->err = err;
    }
}

/* Does run u (of the same region) extend item it? */
static int extends(const struct fill_item *it, uint64_t item_bytes,
                   const struct ckpt_run_record *last, const struct ckpt_run_record *u)
{
    return it->nruns < BATCH_RUNS && item_bytes + u->extent.length <= BATCH_BYTES &&
           last->extent.file_offset + last->extent.length == u->extent.file_offset;
}

static size_t collect_runs(const struct restore_plan *p, struct fill_item *items, uint64_t *bytes)
{
    size_t n = 0;
    *bytes = 0;
    for (uint32_t i = 0; i < p->nregions; i++) {
        const struct region_plan *rp = &p->regions[i];
        const struct ckpt_record_head *r = rp->first_run;
        const struct ckpt_run_record *last = NULL;
        uint64_t item_bytes = 0;
        for (uint32_t k = 0; k < rp->rec->nruns; k++, r = image_next(&p->view, r)) {
            const struct ckpt_run_record *u = (const void *)r;
            if (r->kind == CKPT_REC_RUN_REF) { /* a parent's pages: place_refs */
                last = NULL;
                continue;
            }
            if (last && extends(&items[n - 1], item_bytes, last, u)) {
                items[n - 1].nruns++;
                item_bytes += u->extent.length;
            } else {
                items[n++] = (struct fill_item){rp, u, 1, 0};
                item_bytes = u->extent.length;
            }
            last = u;
            *bytes += rp->placed ? u->extent.length : 0;
        }
    }
    return n;
}

/* ---- reading past the page cache --------------------------------------------------------
 *
 * An image that is not in the page cache (after a reboot, or just written: the writer drops
 * it from the cache) is read with O_DIRECT straight into the program's memory: the disk
 * writes into the pages the program will use, with no page cache pages to allocate and
 * copy from, and without filling the cache with a second copy of the memory (which also
 * leaves free memory in large blocks, for the huge pages). Read through the page cache, a
 * cold 1 GiB took 1.1-1.9 s where reading the file took 0.6 s; a test program reading 1 GiB
 * through the cache into memory advised MADV_HUGEPAGE took 1.2-2.4 s, into small pages
 * 0.8-1.0 s, and with O_DIRECT into huge pages 0.55-0.8 s. A synchronous O_DIRECT read has
 * no readahead, so several are kept in flight (DIRECT_READERS threads; 8 did better than 2
 * or 4 here). Data that is in the cache is read through it, as it costs only a copy. */
#define DIRECT_READERS 8

/* The image once more, with O_DIRECT: through /proc/self/fd, the same open file's inode
 * (checked), so nothing is looked up by name again. -1 if the file system refuses. */
static int open_direct(int image_fd)
{
    char path[64];
    struct stat a, b;
    snprintf(path, sizeof path, "/proc/self/fd/%d", image_fd);
    int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd >= 0 && (fstat(image_fd, &a) != 0 || fstat(fd, &b) != 0 || a.st_dev != b.st_dev ||
                    a.st_ino != b.st_ino)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Which pages of the image are in the page cache (mincore of its mapping), or NULL. */
static unsigned char *image_residency(const struct image_view *v)
{
    unsigned char *vec = malloc((v->size + CK_PAGE - 1) / CK_PAGE + 1);
    if (vec && mincore((void *)v->base, v->size, vec) != 0) {
        free(vec);
        vec = NULL;
    }
    return vec;
}

/* Is some of the item's data not in the page cache? Unknown counts as cached: the page
 * cache reads it either way. */
static int item_uncached(const struct fill_job *j, const struct fill_item *it, uint64_t bytes)
{
    if (!j->cached || j->direct_fd < 0 || !it->rp->placed)
        return 0;
    for (uint64_t off = it->run->extent.file_offset; off < it->run->extent.file_offset + bytes;
         off += CK_PAGE)
        if (!(j->cached[off / CK_PAGE] & 1))
            return 1;
    return 0;
}

static int thread_count(uint64_t bytes, int direct)
{
    cpu_set_t cpus;
    int n = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
    if (direct && n < DIRECT_READERS)
        n = DIRECT_READERS; /* they wait for the disk more than they use a CPU */
    /* a reader keeps one read in flight; a copier is worth its start for BYTES_PER_THREAD */
    uint64_t useful = bytes / (direct ? 2 * BATCH_BYTES : BYTES_PER_THREAD) + 1;
    n = n > MAX_THREADS ? MAX_THREADS : n;
    return (uint64_t)n > useful ? (int)useful : n;
}

/* The bytes of the image an item covers (its runs lie back to back there). */
static uint64_t item_bytes(const struct image_view *v, const struct fill_item *it)
{
    uint64_t bytes = 0;
    const struct ckpt_record_head *r = &it->run->head;
    for (uint32_t k = 0; k < it->nruns; k++, r = image_next(v, r))
        bytes += ((const struct ckpt_run_record *)r)->extent.length;
    return bytes;
}

/* Marks the items to read with O_DIRECT. Returns how many there are. */
static size_t choose_direct(struct fill_job *j)
{
    size_t n = 0;
    for (size_t i = 0; i < j->nitems; i++) {
        struct fill_item *it = &j->items[i];
        it->direct = item_uncached(j, it, item_bytes(&j->p->view, it));
        n += (size_t)it->direct;
    }
    return n;
}

static int fill_all(struct fill_job *j, struct ck_error *err)
{
    uint64_t bytes;
    j->items = calloc(j->p->view.nruns ? j->p->view.nruns : 1, sizeof *j->items);
    if (!j->items)
        return ck_fail(err, -1, "placing memory: out of memory");
    j->nitems = collect_runs(j->p, j->items, &bytes);
    size_t direct = choose_direct(j);
    pthread_t helpers[MAX_THREADS];
    int nhelpers = 0, wanted = thread_count(bytes, direct > 0) - 1;
    while (nhelpers < wanted && pthread_create(&helpers[nhelpers], NULL, fill_worker, j) == 0)
        nhelpers++; /* if a thread cannot start, the others do its share */
    fill_worker(j);
    for (int i = 0; i < nhelpers; i++)
        pthread_join(helpers[i], NULL);
    free(j->items);
    if (j->failed)
        *err = j->err;
    return j->failed ? -1 : 0;
}

/* ---- pages kept in parent images (incremental images, state/chain.h) -------------------
 *
 * Read straight from the parent that holds them: its whole data was verified against its
 * checksums when the chain was checked (restorer/chain.c). */
static int place_refs(const struct restore_plan *p, struct ck_error *err)
{
    for (uint32_t i = 0; i < p->nregions; i++) {
        const struct region_plan *rp = &p->regions[i];
        const struct ckpt_record_head *r = rp->first_run;
        for (uint32_t k = 0; rp->placed && k < rp->rec->nruns; k++, r = image_next(&p->view, r)) {
            if (r->kind != CKPT_REC_RUN_REF)
                continue;
            const struct ckpt_run_ref_record *u = (const void *)r;
            long e = chain_read_ref(p->parent_fds[u->parent - 1], u, (void *)u->addr);
            if (e < 0)
                return ck_fail(err, -1, "reading pages %lx+%lx from parent image %u: %s",
                               (unsigned long)u->addr, (unsigned long)u->length, u->parent,
                               strerror((int)-e));
        }
    }
    return 0;
}

/* ---- the whole of it ------------------------------------------------------------------- */

int place_memory(struct restore_plan *p, int image_fd, const struct own_mappings *own,
                 struct ck_error *err)
{
    if (map_free_regions(p, own, err))
        return -1;
    int huge = huge_pages_on_request();
    uint8_t *advised = calloc(p->nregions ? p->nregions : 1, 1);
    if (!advised)
        return ck_fail(err, -1, "placing memory: out of memory");
    for (uint32_t i = 0; i < p->nregions; i++)
        advised[i] = huge && huge_page_candidate(&p->regions[i]) &&
                     advise_stored_blocks(&p->view, &p->regions[i]);
    struct fill_job job = {.p = p, .image_fd = image_fd, .direct_fd = open_direct(image_fd)};
    unsigned char *cached = job.direct_fd >= 0 ? image_residency(&p->view) : NULL;
    job.cached = cached;
    int rc = fill_all(&job, err);
    if (rc == 0)
        rc = place_refs(p, err);
    free(cached);
    if (job.direct_fd >= 0)
        close(job.direct_fd);
    for (uint32_t i = 0; i < p->nregions && rc == 0; i++) {
        const struct region_plan *rp = &p->regions[i];
        const struct ckpt_region_record *g = rp->rec;
        if (advised[i])
            madvise((void *)g->start, g->end - g->start, MADV_NOHUGEPAGE);
        long r = rp->placed ? memory_protect_region(rp) : 0;
        if (r < 0)
            rc = ck_fail(err, -1, "protecting %lx-%lx %s: %s", (unsigned long)g->start,
                         (unsigned long)g->end, g->path, strerror((int)-r));
    }
    free(advised);
    return rc;
}
