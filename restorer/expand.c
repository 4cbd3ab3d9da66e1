/* restore-run and ckpt verify, phase 1: the image's compressed page runs decompressed
 * (checkpoint-run --compress; docs/compression.md).
 *
 * A compressed run cannot be read straight into place nor mapped, and the restore core has
 * no libc to decompress with. So before anything else uses the image, it is copied into a
 * memfd with every run as it would be without compression — same records, the extents moved
 * to their new offsets, CKPT_RECF_ZSTD cleared — and the view is opened on that copy again.
 * From there on place.c, the core and ckpt verify see an ordinary image: each run's own
 * checksum (over the uncompressed pages) is checked where a plain run's is. The runs are
 * decompressed by one thread per CPU. The cost: the expanded image's size in memory (shmem)
 * while restore-run runs, and --lazy is refused. */
#define _GNU_SOURCE
#define ZSTD_STATIC_LINKING_ONLY
#include "validate.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "hash.h"

static struct ckpt_extent *extent_of(void *record)
{
    return (struct ckpt_extent *)((char *)record + sizeof(struct ckpt_record_head));
}

/* Decompresses with dctx (one per thread), after the stored checksum. */
static int read_compressed_with(ZSTD_DCtx *dctx, const struct image_view *v,
                                const struct ckpt_compressed_run_record *c,
                                const struct ckpt_region_record *g, void *dst, struct ck_error *err)
{
    if (image_check_compressed_run(v, c, g, err))
        return -1;
    const struct ckpt_run_record *u = &c->run;
    size_t n = ZSTD_decompressDCtx(dctx, dst, u->extent.length, v->base + u->extent.file_offset,
                                   c->stored_length);
    if (ZSTD_isError(n) || n != u->extent.length)
        return ck_fail(err, -1,
                       "the compressed pages %lx-%lx of region %lx-%lx (%s) do not decompress: %s "
                       "(corrupted image)",
                       (unsigned long)u->addr, (unsigned long)(u->addr + u->extent.length),
                       (unsigned long)g->start, (unsigned long)g->end, image_region_name(g->path),
                       ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong length");
    return 0;
}

int image_read_compressed_run(const struct image_view *v,
                              const struct ckpt_compressed_run_record *c,
                              const struct ckpt_region_record *g, void *dst, struct ck_error *err)
{
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    if (!dctx)
        return ck_fail(err, -1, "no memory to decompress the image");
    int rc = read_compressed_with(dctx, v, c, g, dst, err);
    ZSTD_freeDCtx(dctx);
    return rc;
}

/* The compressed runs to decompress into the copy, shared out among threads. */
struct expand_item {
    const struct ckpt_compressed_run_record *run;
    const struct ckpt_region_record *region;
    unsigned char *to;
};
struct expand_job {
    const struct image_view *v;
    struct expand_item *items;
    size_t nitems;
    size_t next;         /* next item to take (atomic) */
    int failed;          /* set by the first failure (atomic): the others stop */
    struct ck_error err; /* written once, by the thread that set failed */
};
#define EXPAND_THREADS_MAX 8

static void *expand_worker(void *arg)
{
    struct expand_job *j = arg;
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    struct ck_error err;
    for (;;) {
        size_t i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (i >= j->nitems || __atomic_load_n(&j->failed, __ATOMIC_RELAXED))
            break;
        const struct expand_item *it = &j->items[i];
        int rc = dctx ? read_compressed_with(dctx, j->v, it->run, it->region, it->to, &err)
                      : ck_fail(&err, -1, "no memory to decompress the image");
        if (rc && !__atomic_exchange_n(&j->failed, 1, __ATOMIC_ACQ_REL)) {
            j->err = err;
            break;
        }
    }
    ZSTD_freeDCtx(dctx);
    return NULL;
}

/* One thread per CPU (at most EXPAND_THREADS_MAX, and not more than there are runs). */
static int decompress_all(struct expand_job *j, struct ck_error *err)
{
    cpu_set_t cpus;
    long n = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
    n = n > EXPAND_THREADS_MAX ? EXPAND_THREADS_MAX : n;
    n = (size_t)n > j->nitems ? (long)j->nitems : n;
    pthread_t helpers[EXPAND_THREADS_MAX];
    int nhelpers = 0;
    while (nhelpers < n - 1 && pthread_create(&helpers[nhelpers], NULL, expand_worker, j) == 0)
        nhelpers++; /* if a thread cannot start, the others do its share */
    expand_worker(j);
    for (int i = 0; i < nhelpers; i++)
        pthread_join(helpers[i], NULL);
    if (j->failed)
        *err = j->err;
    return j->failed ? -1 : 0;
}

/* Bytes of data the expanded image holds: every extent at its uncompressed length. */
static uint64_t expanded_data_bytes(const struct image_view *v)
{
    uint64_t n = 0;
    for (const struct ckpt_record_head *r = image_first_any(v); r; r = image_next_any(v, r))
        if (r->flags & CKPT_RECF_DATA)
            n += extent_of((void *)r)->length;
    return n;
}

/* Fills the data section of the copy at to (its metadata already there at meta), record by
 * record — plain extents copied, compressed runs decompressed by decompress_all — and
 * rewrites each DATA record's extent in the copy's metadata. */
static int fill_data(const struct image_view *v, unsigned char *to, unsigned char *meta,
                     struct ck_error *err)
{
    struct expand_job j = {.v = v, .items = calloc(v->ncompressed, sizeof *j.items)};
    if (!j.items)
        return ck_fail(err, -1, "no memory to decompress the image");
    const struct ckpt_region_record *g = 0;
    uint64_t at = CKPT_HEADER_SIZE;
    for (const struct ckpt_record_head *r = image_first_any(v); r; r = image_next_any(v, r)) {
        if (r->kind == CKPT_REC_REGION)
            g = (const void *)r;
        if (!(r->flags & CKPT_RECF_DATA))
            continue;
        struct ckpt_record_head *copy = (void *)(meta + ((const unsigned char *)r - v->meta));
        struct ckpt_extent *e = extent_of(copy);
        if (r->flags & CKPT_RECF_ZSTD) {
            j.items[j.nitems++] = (struct expand_item){(const void *)r, g, to + at};
            struct ckpt_compressed_run_record *c = (void *)copy;
            copy->flags &= (uint16_t)~CKPT_RECF_ZSTD;
            c->stored_length = c->stored_checksum = 0;
        } else {
            memcpy(to + at, v->base + e->file_offset, e->length);
        }
        e->file_offset = at;
        at += e->length;
    }
    int rc = decompress_all(&j, err);
    free(j.items);
    return rc;
}

/* The copy's header: the original's, with the new layout and checksums. */
static void write_header(const struct image_view *v, unsigned char *to, uint64_t data,
                         uint64_t size)
{
    struct ckpt_file_header h = *v->hdr;
    h.meta_offset = CKPT_HEADER_SIZE + data;
    h.file_size = size;
    h.data_bytes = data;
    h.meta_checksum = ck_hash64(to + h.meta_offset, h.meta_length);
    h.header_checksum = ck_hash64(&h, offsetof(struct ckpt_file_header, header_checksum));
    memcpy(to, &h, sizeof h);
}

int image_expand(struct image_file *f, struct image_view *v, struct ck_error *err)
{
    if (!v->ncompressed)
        return 0;
    uint64_t data = expanded_data_bytes(v), size = CKPT_HEADER_SIZE + data + v->meta_len;
    int fd = memfd_create("ckpt-expanded-image", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return ck_fail(err, -1, "no memory for the decompressed image (%lu bytes): %s",
                       (unsigned long)size, strerror(e));
    }
    unsigned char *to = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (to == MAP_FAILED) {
        close(fd);
        return ck_fail(err, -1, "mapping the decompressed image: %s", strerror(errno));
    }
    unsigned char *meta = to + CKPT_HEADER_SIZE + data;
    memcpy(meta, v->meta, v->meta_len);
    struct image_view expanded;
    int rc = fill_data(v, to, meta, err);
    if (rc == 0) {
        write_header(v, to, data, size);
        if (mprotect(to, size, PROT_READ) < 0)
            rc = ck_fail(err, -1, "protecting the decompressed image: %s", strerror(errno));
    }
    if (rc == 0)
        rc = image_open_view(&expanded, to, size, err);
    if (rc) {
        munmap(to, size);
        close(fd);
        return -1;
    }
    munmap(f->base, f->size);
    f->source_fd = f->fd;
    f->fd = fd;
    f->base = to;
    f->size = size;
    *v = expanded;
    return 0;
}
