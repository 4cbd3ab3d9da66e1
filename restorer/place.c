/* restore-run, phase 1: placing the program's memory before the point of no return.
 *
 * After every other check has passed, and before anything of restore-run is unmapped, each
 * region that is free to map (it collides neither with restore-run's own mappings nor with
 * the core area) is mapped at its address, and its stored pages are read from the image
 * straight into it and checked against their checksums right after, while they are still
 * in the CPU's cache. The runs are shared out among one thread per CPU. The runs of the
 * regions left for the restore core (the few that collide) are checked from the image
 * mapping. So every page checksum is verified before the point of no return, the core has
 * almost nothing left to copy, and the data is read once instead of twice.
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
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hash.h"
#include "maps.h"
#include "memory.h"

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
};
#define BATCH_RUNS 256          /* at most so many runs in one item */
#define BATCH_BYTES (2UL << 20) /* nor more data than this: the threads share items */

struct fill_job {
    const struct restore_plan *p;
    int image_fd;
    struct fill_item *items;
    size_t nitems;
    size_t next;         /* next item to take (atomic) */
    int failed;          /* set by the first failure (atomic): the others stop */
    struct ck_error err; /* written once, by the thread that set failed */
};

/* ---- which regions phase 1 places ------------------------------------------------------ */

/* restore-run's stack, with room below it to grow: a region mapped there would stop it. */
static void own_stack(uint64_t *low, uint64_t *high)
{
    static char maps[1 << 20];
    *low = *high = 0;
    char *cursor = maps;
    struct map_entry e;
    if (ck_read_file("/proc/self/maps", maps, sizeof maps) < 0)
        return;
    while (maps_next(&cursor, &e) > 0)
        if (!strcmp(e.path, "[stack]")) {
            *low = e.start > OWN_STACK_ROOM ? e.start - OWN_STACK_ROOM : 0;
            *high = e.end;
        }
}

/* CKPT_TEST_PLACE=none leaves every region to the core, =alternate every other one, so the
 * tests exercise the core's path and the mix of both. Returns the step between placed
 * regions: 1 places all, 0 none. */
static uint32_t test_placing_step(void)
{
    const char *mode = getenv("CKPT_TEST_PLACE");
    if (mode && !strcmp(mode, "none"))
        return 0;
    return mode && !strcmp(mode, "alternate") ? 2 : 1;
}

/* Anything in the way (restore-run's own mappings, the core area) makes the kernel refuse
 * with EEXIST: the region is then the core's. Any other refusal would recur in the core,
 * after the point of no return, so it fails the restore now. */
static int map_free_regions(struct restore_plan *p, struct ck_error *err)
{
    uint64_t stack_low, stack_high;
    own_stack(&stack_low, &stack_high);
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
        const struct ckpt_run_record *u = (const void *)r;
        if (u->addr != span_end) {
            advised |= advise_huge(span_start, span_end);
            span_start = u->addr;
        }
        span_end = u->addr + u->length;
    }
    return advised | advise_huge(span_start, span_end);
}

/* ---- filling, in parallel -------------------------------------------------------------- */

/* Reads the runs of it into place, resuming after a short read. */
static int read_runs(const struct fill_job *j, const struct fill_item *it)
{
    struct iovec iov[BATCH_RUNS];
    const struct ckpt_record_head *r = &it->run->head;
    for (uint32_t k = 0; k < it->nruns; k++, r = image_next(&j->p->view, r)) {
        const struct ckpt_run_record *u = (const void *)r;
        iov[k] = (struct iovec){(void *)u->addr, u->length};
    }
    struct iovec *next = iov;
    int left = (int)it->nruns;
    for (off_t off = (off_t)it->run->file_offset; left > 0;) {
        ssize_t n = preadv(j->image_fd, next, left, off);
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

static int fill_one(struct fill_job *j, const struct fill_item *it, struct ck_error *err)
{
    const struct ckpt_region_record *g = it->rp->rec;
    if (it->rp->placed) {
        int e = read_runs(j, it);
        if (e)
            return ck_fail(err, -1, "reading pages of region %lx-%lx %s from the image: %s",
                           (unsigned long)g->start, (unsigned long)g->end, g->path, strerror(e));
    }
    const struct ckpt_record_head *r = &it->run->head;
    for (uint32_t k = 0; k < it->nruns; k++, r = image_next(&j->p->view, r)) {
        const struct ckpt_run_record *u = (const void *)r;
        const void *data = it->rp->placed ? (const void *)u->addr
                                          : (const void *)(j->p->view.base + u->file_offset);
        if (ck_hash64(data, u->length) != u->checksum)
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
    return it->nruns < BATCH_RUNS && item_bytes + u->length <= BATCH_BYTES &&
           last->file_offset + last->length == u->file_offset;
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
            if (last && extends(&items[n - 1], item_bytes, last, u)) {
                items[n - 1].nruns++;
                item_bytes += u->length;
            } else {
                items[n++] = (struct fill_item){rp, u, 1};
                item_bytes = u->length;
            }
            last = u;
            *bytes += rp->placed ? u->length : 0;
        }
    }
    return n;
}

static int thread_count(uint64_t bytes)
{
    cpu_set_t cpus;
    int n = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
    uint64_t useful = bytes / BYTES_PER_THREAD + 1;
    n = n > MAX_THREADS ? MAX_THREADS : n;
    return (uint64_t)n > useful ? (int)useful : n;
}

static int fill_all(struct fill_job *j, struct ck_error *err)
{
    uint64_t bytes;
    j->items = calloc(j->p->view.nruns ? j->p->view.nruns : 1, sizeof *j->items);
    if (!j->items)
        return ck_fail(err, -1, "placing memory: out of memory");
    j->nitems = collect_runs(j->p, j->items, &bytes);
    pthread_t helpers[MAX_THREADS];
    int nhelpers = 0, wanted = thread_count(bytes) - 1;
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

/* ---- the whole of it ------------------------------------------------------------------- */

int place_memory(struct restore_plan *p, int image_fd, struct ck_error *err)
{
    if (map_free_regions(p, err))
        return -1;
    int huge = huge_pages_on_request();
    uint8_t *advised = calloc(p->nregions ? p->nregions : 1, 1);
    if (!advised)
        return ck_fail(err, -1, "placing memory: out of memory");
    for (uint32_t i = 0; i < p->nregions; i++)
        advised[i] = huge && huge_page_candidate(&p->regions[i]) &&
                     advise_stored_blocks(&p->view, &p->regions[i]);
    struct fill_job job = {.p = p, .image_fd = image_fd};
    int rc = fill_all(&job, err);
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
