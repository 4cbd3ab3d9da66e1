/* Image writer and validator (the codec: framing, header, ids, DATA extents, unknown kinds,
 * END; each kind's own checks are in its file, state/image_check.h); see image_io.h. */
#include "image_check.h"
#include "hash.h"
#include "sys.h"
#include "../include/ckpt/protocol.h" /* struct ckpt_restore_info */

#include <asm/errno.h>
#include <linux/fcntl.h>

/* ---- writer: runs in the checkpoint signal handler, raw syscalls only ----------------- */

void iw_init(struct image_writer *w, int fd, char *meta_buf, size_t meta_cap)
{
    ck_memset(w, 0, sizeof *w);
    w->fd = fd;
    w->meta = meta_buf;
    w->meta_cap = meta_cap;
    w->data_end = w->written_end = w->writeback_end = w->dropped_end = CKPT_HEADER_SIZE;
    long r = sys_lseek(fd, CKPT_HEADER_SIZE, 0 /* SEEK_SET */);
    if (r < 0)
        w->error = (int)r;
}

void iw_init_staging(struct image_writer *w, char *meta_buf, size_t meta_cap, char *stage_buf,
                     size_t stage_cap)
{
    ck_memset(w, 0, sizeof *w);
    w->fd = -1;
    w->meta = meta_buf;
    w->meta_cap = meta_cap;
    w->data_end = CKPT_HEADER_SIZE;
    w->stage = stage_buf;
    w->stage_cap = stage_cap;
}

/* A DATA record's extent, at byte 16 of any kind. */
static struct ckpt_extent *record_extent(const struct ckpt_record_head *r)
{
    return (struct ckpt_extent *)((char *)r + sizeof *r);
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

void *iw_record(struct image_writer *w, uint32_t kind, size_t fixed_len, const char *tail)
{
    size_t tail_len = tail ? ck_strlen(tail) + 1 : 0;
    size_t len = align8(fixed_len + tail_len);
    if (w->error)
        return 0;
    if (len > 0xffffffffu || w->meta_len + len > w->meta_cap) {
        w->error = -ENOMEM;
        return 0;
    }
    char *r = w->meta + w->meta_len;
    ck_memset(r, 0, len);
    struct ckpt_record_head *h = (struct ckpt_record_head *)r;
    h->kind = (uint16_t)kind;
    h->flags = (uint16_t)ckpt_record_flags(kind);
    h->length = (uint32_t)len;
    if (tail)
        ck_memcpy(r + fixed_len, tail, tail_len);
    w->meta_len += len;
    w->nrecords++;
    return r;
}

/* Writes iovecs at the current file position, resuming after short writes. */
static int write_iovecs(int fd, struct iw_iovec *iov, int n)
{
    while (n > 0) {
        long r = sys_writev(fd, iov, n);
        if (r == -EINTR)
            continue;
        if (r < 0)
            return (int)r;
        if (r == 0)
            return -EIO;
        size_t done = (size_t)r;
        while (n > 0 && done >= iov->len) {
            done -= iov->len;
            iov++, n--;
        }
        if (n > 0) {
            iov->base = (const char *)iov->base + done;
            iov->len -= done;
        }
    }
    return 0;
}

#define SFR_WAIT_BEFORE 1
#define SFR_WRITE 2
#define SFR_WAIT_AFTER 4
#define FADV_DONTNEED 4

/* Starts writeback of what was written since the last start (see IW_WRITEBACK_BYTES; with an
 * I/O thread at once: it waits for the disk, so that the writer sees when the disk needs
 * more). */
static int start_writeback(struct image_writer *w)
{
    if (w->written_end - w->writeback_end < (w->io ? 1 : IW_WRITEBACK_BYTES))
        return 0;
    long r =
        sys_sync_file_range(w->fd, w->writeback_end, w->written_end - w->writeback_end, SFR_WRITE);
    w->writeback_end = w->written_end;
    return (int)r;
}

/* Waits until data more than IW_CACHE_BYTES back is on disk, then drops it from the cache.
 * An error here is the disk's: waiting consumed it, so the final fsync would not see it. */
static int drop_written(struct image_writer *w)
{
    if (w->writeback_end - w->dropped_end <= IW_CACHE_BYTES)
        return 0;
    uint64_t end = w->writeback_end - IW_CACHE_BYTES, len = end - w->dropped_end;
    long r = sys_sync_file_range(w->fd, w->dropped_end, len,
                                 SFR_WAIT_BEFORE | SFR_WRITE | SFR_WAIT_AFTER);
    if (r == 0)
        sys_fadvise(w->fd, w->dropped_end, len, FADV_DONTNEED);
    w->dropped_end = end;
    return (int)r;
}

void iw_drop_cache(int fd)
{
    sys_fadvise(fd, 0, 0, FADV_DONTNEED);
}

/* Writes one queue of data, which ends at file offset end, and moves writeback on: the I/O
 * thread's work, or the writer's own without one. 0 or -errno. */
static int write_queue(struct image_writer *w, struct iw_iovec *iov, int n, uint64_t end)
{
    int rc = n ? write_iovecs(w->fd, iov, n) : 0;
    w->written_end = end;
    if (!rc)
        rc = start_writeback(w);
    if (!rc)
        rc = drop_written(w);
    return rc;
}

/* ---- the I/O thread ---- */

#define IW_IO_IDLE 0
#define IW_IO_BUSY 1
#define IW_IO_EXIT 2
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129

/* One batch: written into the page cache, its writeback started, then a wait until the batch
 * before it is on disk. So at most two batches are on their way to the disk, the thread goes
 * at the disk's pace, and waited_end tells the writer how much the disk has left to write
 * (storage_of_run). */
static int write_batch(struct image_writer *w, struct iw_io *io)
{
    uint64_t before = w->written_end;
    int rc = write_queue(w, (struct iw_iovec *)io->iov, io->niov, io->end);
    if (rc == 0 && before > io->waited_end)
        rc = (int)sys_sync_file_range(w->fd, io->waited_end, before - io->waited_end,
                                      SFR_WAIT_BEFORE | SFR_WRITE | SFR_WAIT_AFTER);
    __atomic_store_n(&io->waited_end, before, __ATOMIC_RELEASE);
    return rc;
}

/* Its whole life: the batches handed over, one at a time, until told to end. Only this
 * thread touches written_end, writeback_end and dropped_end while it lives. */
static void io_thread_main(void *arg)
{
    struct image_writer *w = arg;
    struct iw_io *io = w->io;
    for (;;) {
        uint32_t state;
        while ((state = __atomic_load_n(&io->state, __ATOMIC_ACQUIRE)) == IW_IO_IDLE)
            sys_futex(&io->state, FUTEX_WAIT_PRIVATE, IW_IO_IDLE);
        if (state == IW_IO_EXIT)
            return;
        if (!io->error)
            io->error = write_batch(w, io);
        __atomic_store_n(&io->state, IW_IO_IDLE, __ATOMIC_RELEASE);
        sys_futex(&io->state, FUTEX_WAKE_PRIVATE, 1);
    }
}

static int io_idle(const struct image_writer *w)
{
    return __atomic_load_n(&w->io->state, __ATOMIC_ACQUIRE) == IW_IO_IDLE;
}

/* Waits until the I/O thread has written what it was given, and takes over its error. */
static void io_wait(struct image_writer *w)
{
    while (!io_idle(w))
        sys_futex(&w->io->state, FUTEX_WAIT_PRIVATE, IW_IO_BUSY);
    if (!w->error)
        w->error = w->io->error;
}

static void io_post(struct iw_io *io, uint32_t state)
{
    __atomic_store_n(&io->state, state, __ATOMIC_RELEASE);
    sys_futex(&io->state, FUTEX_WAKE_PRIVATE, 1);
}

/* Hands the queue to the I/O thread, once it is done with the one before, and fills the
 * other from now on (the frames of the compressor's other half-buffer with it). */
static void io_hand_over(struct image_writer *w)
{
    io_wait(w);
    struct iw_io *io = w->io;
    io->iov = w->cur ? io->spare : w->iov;
    io->niov = w->niov;
    io->end = w->data_end;
    w->cur ^= 1;
    if (!w->error)
        io_post(io, IW_IO_BUSY);
}

int iw_start_io(struct image_writer *w, struct iw_io *io, char *stack_top)
{
    iw_flush(w);
    ck_memset(io, 0, __builtin_offsetof(struct iw_io, spare));
    io->waited_end = w->written_end; /* the backlog counts from here (storage_of_run) */
    w->io = io;
    long tid = ck_thread_start(stack_top, &io->tid, io_thread_main, w);
    if (tid <= 0)
        w->io = 0;
    return tid <= 0 ? (int)(tid ? tid : -EAGAIN) : 0;
}

int iw_stop_io(struct image_writer *w)
{
    if (!w->io)
        return w->error;
    iw_flush(w); /* nothing stays queued in the spare queue or the second half-buffer */
    io_post(w->io, IW_IO_EXIT);
    ck_thread_join(&w->io->tid);
    w->io = 0;
    w->cur = 0;
    return w->error;
}

/* ---- queueing data ---- */

static struct iw_iovec *queue_of(struct image_writer *w)
{
    return w->cur ? w->io->spare : w->iov;
}

/* What is queued goes to the file: handed to the I/O thread (if there is anything: an empty
 * batch would only keep it waiting for the disk), or written now. */
static void write_queued(struct image_writer *w)
{
    if (!w->io && !w->error)
        w->error = write_queue(w, w->iov, w->niov, w->data_end);
    else if (w->io && w->niov)
        io_hand_over(w);
    w->niov = 0;
    w->handed_end = w->data_end;
    if (w->z)
        w->z->out_used = 0; /* the frames queued are now the writer's or the I/O thread's */
}

void iw_flush(struct image_writer *w)
{
    if (w->stage)
        return; /* staged data was copied already */
    write_queued(w);
    if (w->io)
        io_wait(w);
}

/* writev takes at most 2 GiB - 4 KiB per call; split larger blocks so short writes stay
 * the exception. */
#define IW_MAX_IOV_LEN (1UL << 30)

/* A staging writer's data: copied now, because what it stages may change right after. */
static uint64_t stage_data(struct image_writer *w, const void *addr, size_t len)
{
    uint64_t off = w->data_end, used = off - CKPT_HEADER_SIZE;
    if (w->error)
        return off;
    if (len > w->stage_cap - used) {
        w->error = -ENOMEM;
        return off;
    }
    ck_memcpy(w->stage + used, addr, len);
    w->data_end += len;
    w->data_bytes += len;
    return off;
}

uint64_t iw_data(struct image_writer *w, const void *addr, size_t len)
{
    if (w->stage)
        return stage_data(w, addr, len);
    uint64_t off = w->data_end;
    const char *p = addr;
    w->data_bytes += len;
    for (size_t done = 0; done < len && !w->error;) {
        size_t chunk = len - done < IW_MAX_IOV_LEN ? len - done : IW_MAX_IOV_LEN;
        struct iw_iovec *q = queue_of(w);
        q[w->niov].base = p + done;
        q[w->niov].len = chunk;
        w->niov++;
        done += chunk;
        w->data_end = off + done;
        if (w->niov == IW_IOV_BATCH || w->data_end - w->handed_end >= IW_FLUSH_BYTES)
            write_queued(w);
    }
    w->data_end = off + len;
    return off;
}

void iw_extent(struct image_writer *w, struct ckpt_extent *e, const void *addr, size_t len)
{
    e->length = len;
    e->checksum = ck_hash64(addr, len);
    e->file_offset = iw_data(w, addr, len);
}

/* The run as one zstd frame in the compressor's buffer (in the half the queue being filled
 * owns, with an I/O thread), if that saves a page: NULL (nothing appended) if it does not. */
static struct ckpt_run_record *compressed_run(struct image_writer *w, uint64_t addr, size_t len)
{
    struct iw_compressor *z = w->z;
    size_t room = w->io ? z->out_cap / 2 : z->out_cap;
    if (room - z->out_used < len + z->slack)
        write_queued(w);
    if (w->error)
        return 0;
    char *frame = z->out + (w->cur ? room : 0) + z->out_used;
    size_t n = z->compress(z->ctx, frame, len - CK_PAGE, (const void *)addr, len);
    if (n == 0 || CK_PAGE_UP(n) >= len)
        return 0;
    size_t padded = CK_PAGE_UP(n);
    ck_memset(frame + n, 0, padded - n);
    struct ckpt_compressed_run_record *c = iw_record(w, CKPT_REC_RUN, sizeof *c, 0);
    if (!c)
        return 0;
    c->run.head.flags |= CKPT_RECF_ZSTD;
    c->run.addr = addr;
    c->run.extent.length = len;
    c->run.extent.checksum = ck_hash64((const void *)addr, len);
    c->stored_length = n;
    c->stored_checksum = ck_hash64(frame, padded);
    z->out_used += padded;
    z->runs_in += len;
    z->runs_stored += padded;
    c->run.extent.file_offset = iw_data(w, frame, padded);
    return &c->run;
}

enum run_storage { RUN_PLAIN, RUN_COMPRESSED, RUN_PLAIN_FOR_THE_DISK };

/* With an I/O thread, a run is compressed only while the disk has this many times the run's
 * bytes still to write: compressing it then ends before the disk runs dry even where the disk
 * writes faster than the compressor (tmpfs, fast NVMe drives). */
#define IW_COMPRESS_BACKLOG 2

/* How the run is to be stored. With an I/O thread, compressing must not leave the disk
 * waiting: the disk's backlog is what was queued or handed over and not yet seen on disk by
 * the I/O thread (which waits for the disk batch by batch). A run that comes while the
 * backlog is short goes as it is, so the disk has work at once. The slower the disk is
 * against the compressor, the longer the backlog stays: the ratio follows the disk's speed,
 * and the time stays the disk's or the compressor's, whichever is shorter. */
static enum run_storage storage_of_run(struct image_writer *w, size_t len)
{
    struct iw_compressor *z = w->z;
    size_t room = !z ? 0 : w->io ? z->out_cap / 2 : z->out_cap;
    if (w->stage || len <= CK_PAGE || len + (z ? z->slack : 0) > room || w->error)
        return RUN_PLAIN;
    if (!w->io || z->every_run)
        return RUN_COMPRESSED;
    uint64_t on_disk = __atomic_load_n(&w->io->waited_end, __ATOMIC_ACQUIRE);
    uint64_t backlog = w->data_end > on_disk ? w->data_end - on_disk : 0;
    return backlog >= IW_COMPRESS_BACKLOG * len ? RUN_COMPRESSED : RUN_PLAIN_FOR_THE_DISK;
}

struct ckpt_run_record *iw_run(struct image_writer *w, uint64_t addr, size_t len)
{
    enum run_storage storage = storage_of_run(w, len);
    struct ckpt_run_record *run = storage == RUN_COMPRESSED ? compressed_run(w, addr, len) : 0;
    if (!run && !w->error) {
        run = iw_record(w, CKPT_REC_RUN, sizeof *run, 0);
        if (!run)
            return 0;
        run->addr = addr;
        iw_extent(w, &run->extent, (const void *)addr, len);
        if (storage == RUN_PLAIN_FOR_THE_DISK)
            w->z->runs_plain += len;
    }
    if (w->io && w->niov && io_idle(w))
        write_queued(w); /* the disk has nothing to do: what is queued goes to it now */
    return run;
}

int iw_copy_record(struct image_writer *w, const struct ckpt_record_head *r)
{
    char *copy = iw_record(w, r->kind, r->length, 0);
    if (!copy)
        return w->error;
    ck_memcpy(copy, r, r->length);
    return 0;
}

int iw_append_staged(struct image_writer *w, const struct image_writer *stage, size_t pos)
{
    uint64_t shift = w->data_end - CKPT_HEADER_SIZE;
    while (pos < stage->meta_len && !w->error) {
        const struct ckpt_record_head *r = (const void *)(stage->meta + pos);
        if (iw_copy_record(w, r))
            break;
        if (r->flags & CKPT_RECF_DATA) {
            struct ckpt_extent *e = record_extent((void *)(w->meta + w->meta_len - r->length));
            e->file_offset += shift;
        }
        pos += r->length;
    }
    uint64_t staged = stage->data_end - CKPT_HEADER_SIZE;
    if (staged)
        iw_data(w, stage->stage, staged);
    return w->error;
}

int iw_finish(struct image_writer *w, struct ckpt_file_header *hdr)
{
    struct ckpt_end_record *end = iw_record(w, CKPT_REC_END, sizeof *end, 0);
    if (end)
        end->nrecords = w->nrecords - 1;
    iw_flush(w);
    if (w->error)
        return w->error;

    uint64_t meta_off = CK_PAGE_UP(w->data_end);
    long r = 0;
    for (size_t done = 0; r >= 0 && done < w->meta_len; done += (size_t)r) {
        r = sys_pwrite(w->fd, w->meta + done, w->meta_len - done, meta_off + done);
        if (r == 0)
            r = -EIO;
    }
    if (r < 0)
        return w->error = (int)r;

    ck_memcpy(hdr->magic, CKPT_IMAGE_MAGIC, 8);
    hdr->version_major = CKPT_IMAGE_VERSION_MAJOR;
    hdr->version_minor = CKPT_IMAGE_VERSION_MINOR;
    hdr->header_size = CKPT_HEADER_SIZE;
    hdr->arch = CKPT_ARCH_X86_64;
    hdr->page_size = CKPT_PAGE_SIZE;
    hdr->meta_offset = meta_off;
    hdr->meta_length = w->meta_len;
    hdr->meta_checksum = ck_hash64(w->meta, w->meta_len);
    hdr->file_size = meta_off + w->meta_len;
    hdr->data_bytes = w->data_bytes;
    hdr->header_checksum =
        ck_hash64(hdr, __builtin_offsetof(struct ckpt_file_header, header_checksum));

    static const char zero_page[CKPT_HEADER_SIZE];
    char page[CKPT_HEADER_SIZE];
    ck_memcpy(page, zero_page, sizeof page);
    ck_memcpy(page, hdr, sizeof *hdr);
    r = sys_pwrite(w->fd, page, sizeof page, 0);
    if (r != (long)sizeof page)
        return w->error = r < 0 ? (int)r : -EIO;
    return 0;
}

/* ---- reader: validates an image in memory ---------------------------------------------- */

int image_check_size(const void *head, uint64_t size, struct ck_error *err)
{
    if (size >= CKPT_HEADER_SIZE)
        return 0;
    uint64_t n = size < 8 ? size : 8;
    if (size == 0 || ck_memcmp(head, CKPT_IMAGE_MAGIC, n))
        return ck_fail(err, -1, "not a ckpt image (%lu bytes, shorter than a header)",
                       (unsigned long)size);
    return ck_fail(err, -1, "truncated image: %lu bytes, shorter than its header",
                   (unsigned long)size);
}

static int check_header(struct image_view *v, struct ck_error *err)
{
    const struct ckpt_file_header *h = (const void *)v->base;
    if (image_check_size(v->base, v->size, err))
        return -1;
    if (ck_memcmp(h->magic, CKPT_IMAGE_MAGIC, 8))
        return ck_fail(err, -1, "not a ckpt image (wrong magic)");
    if (h->header_checksum !=
        ck_hash64(h, __builtin_offsetof(struct ckpt_file_header, header_checksum)))
        return ck_fail(err, -1, "header checksum mismatch (corrupted image)");
    /* Any minor of this major: what a newer minor adds, this reader may skip. */
    if (h->version_major != CKPT_IMAGE_VERSION_MAJOR)
        return ck_fail(err, -1, "image format %u, this restore-run reads format %u",
                       h->version_major, CKPT_IMAGE_VERSION_MAJOR);
    if (h->arch != CKPT_ARCH_X86_64)
        return ck_fail(err, -1, "image is for ELF machine %u, this is x86_64 (%u)", h->arch,
                       CKPT_ARCH_X86_64);
    if (h->page_size != CKPT_PAGE_SIZE || h->header_size != CKPT_HEADER_SIZE)
        return ck_fail(err, -1, "unsupported page size %u or header size %u", h->page_size,
                       h->header_size);
    if (h->file_size != v->size)
        return ck_fail(err, -1, "truncated image: %lu bytes, header says %lu",
                       (unsigned long)v->size, (unsigned long)h->file_size);
    if (h->meta_offset < CKPT_HEADER_SIZE || h->meta_offset % CKPT_PAGE_SIZE ||
        h->meta_offset > v->size || h->meta_length > v->size - h->meta_offset ||
        h->meta_offset + h->meta_length != v->size)
        return ck_fail(err, -1, "bad metadata bounds in header");
    for (uint32_t i = sizeof *h; i < CKPT_HEADER_SIZE; i++)
        if (v->base[i])
            return ck_fail(err, -1, "header padding at byte %u is not zero (corrupted image)", i);
    v->hdr = h;
    v->meta = v->base + h->meta_offset;
    v->meta_len = h->meta_length;
    if (ck_hash64(v->meta, v->meta_len) != h->meta_checksum)
        return ck_fail(err, -1, "metadata checksum mismatch (corrupted image)");
    return 0;
}

/* True if [off, off + len) lies page aligned inside the data section. */
static int in_data_section(const struct image_view *v, uint64_t off, uint64_t len)
{
    return off % CKPT_PAGE_SIZE == 0 && len % CKPT_PAGE_SIZE == 0 && off >= CKPT_HEADER_SIZE &&
           off <= v->hdr->meta_offset && len <= v->hdr->meta_offset - off;
}

/* A record's kind in messages: its name, or its number for a kind this reader lacks. */
struct kind_text {
    char s[24];
};
static struct kind_text kind_text(uint32_t kind)
{
    struct kind_text t;
    const char *name = ckpt_record_name(kind);
    if (name)
        ck_strlcpy(t.s, name, sizeof t.s);
    else
        ck_format(t.s, sizeof t.s, "kind 0x%04x", kind);
    return t;
}

uint64_t image_stored_length(const struct ckpt_record_head *r)
{
    const struct ckpt_compressed_run_record *c = (const void *)r;
    return r->flags & CKPT_RECF_ZSTD ? CK_PAGE_UP(c->stored_length) : c->run.extent.length;
}

/* A compressed run's frame: there, and smaller than the pages it holds. */
static int check_compressed(const struct image_walk *w, const struct ckpt_record_head *r,
                            struct ck_error *err)
{
    const struct ckpt_compressed_run_record *c = (const void *)r;
    if (r->length < sizeof *c)
        return ck_fail(err, -1,
                       "compressed RUN record at metadata offset %lu is too short (%u bytes)",
                       (unsigned long)w->pos, r->length);
    if (c->stored_length == 0 || c->stored_length >= c->run.extent.length ||
        CK_PAGE_UP(c->stored_length) >= c->run.extent.length)
        return ck_fail(
            err, -1,
            "compressed RUN record at metadata offset %lu stores %lu bytes for %lu bytes "
            "of pages",
            (unsigned long)w->pos, (unsigned long)c->stored_length,
            (unsigned long)c->run.extent.length);
    return 0;
}

/* The extent of a DATA record of any kind, known or not: inside the data section, and
 * right after the one before, so that the extents tile the data section and no byte of it
 * escapes the checksums. */
static int check_extent(const struct image_view *v, struct image_walk *w,
                        const struct ckpt_record_head *r, struct ck_error *err)
{
    const struct ckpt_extent *e = record_extent(r);
    if (r->length < sizeof *r + sizeof *e)
        return ck_fail(err, -1, "%s record at metadata offset %lu is too short for its data",
                       kind_text(r->kind).s, (unsigned long)w->pos);
    if ((r->flags & CKPT_RECF_ZSTD) && check_compressed(w, r, err))
        return -1;
    uint64_t stored = image_stored_length(r);
    if (!in_data_section(v, e->file_offset, stored))
        return ck_fail(err, -1,
                       "the data of the %s record at metadata offset %lu lies outside the data "
                       "section",
                       kind_text(r->kind).s, (unsigned long)w->pos);
    if (e->file_offset != w->next_data)
        return ck_fail(err, -1,
                       "the data of the %s record at metadata offset %lu is at file offset %lu, "
                       "expected %lu",
                       kind_text(r->kind).s, (unsigned long)w->pos, (unsigned long)e->file_offset,
                       (unsigned long)w->next_data);
    w->next_data += stored;
    return 0;
}

int check_end(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
              struct ck_error *err)
{
    const struct ckpt_end_record *e = (const void *)r;
    if (e->nrecords != w->nrecords || w->pos + r->length != v->meta_len)
        return ck_fail(err, -1, "bad end record");
    return 0;
}

/* The checks of the record's own kind (in the kind's file): generated from the registry, so
 * that a kind without a check_<name> does not link. */
static int check_known(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                       struct ck_error *err)
{
    switch (r->kind) {
#define CHECK_KIND(NAME, name, value, flags, min_len, size)                                        \
    case CKPT_REC_##NAME:                                                                          \
        return check_##name(v, w, r, err);
        CKPT_RECORDS(CHECK_KIND)
#undef CHECK_KIND
    }
    return ck_fail(err, -1, "record kind 0x%04x is not in the registry", r->kind);
}

IMAGE_NOTHING_TO_COMPLETE(end)

/* What records of every kind began is complete before next: generated from the registry
 * (complete_<name>, in the kind's file). */
static int check_complete(const struct image_view *v, const struct image_walk *w,
                          const struct ckpt_record_head *next, struct ck_error *err)
{
#define COMPLETE_KIND(NAME, name, value, flags, min_len, size)                                     \
    if (complete_##name(v, w, next, err))                                                          \
        return -1;
    CKPT_RECORDS(COMPLETE_KIND)
#undef COMPLETE_KIND
    return 0;
}

/* A record of a kind this reader does not know: refused if critical, else skipped — but
 * the data it owns still tiles the data section. */
static int check_unknown(struct image_view *v, struct image_walk *w,
                         const struct ckpt_record_head *r, struct ck_error *err)
{
    if (r->flags & CKPT_RECF_CRITICAL)
        return ck_fail(err, -1, "needs record kind 0x%04x, which this restore-run does not know",
                       r->kind);
    return r->flags & CKPT_RECF_DATA ? check_extent(v, w, r, err) : 0;
}

/* Ids run 1..n in file order per kind; a kind without objects has id 0 throughout. */
static int check_id(struct image_walk *w, int index, const struct ckpt_record_head *r,
                    struct ck_error *err)
{
    if (r->id && r->id != w->last_id[index] + 1)
        return ck_fail(err, -1, "%s record at metadata offset %lu has id %u, expected %u",
                       kind_text(r->kind).s, (unsigned long)w->pos, r->id, w->last_id[index] + 1);
    if (r->id)
        w->last_id[index] = r->id;
    return 0;
}

/* The flags of CKPT_RECF_REFUSE_MASK this reader knows for a kind. */
static uint32_t known_refuse_flags(uint32_t kind)
{
    return kind == CKPT_REC_RUN ? CKPT_RECF_ZSTD : 0;
}

static int check_record(struct image_view *v, struct image_walk *w,
                        const struct ckpt_record_head *r, struct ck_error *err)
{
    if (r->flags & CKPT_RECF_REFUSE_MASK & ~known_refuse_flags(r->kind))
        return ck_fail(err, -1,
                       "%s record at metadata offset %lu has flags %x, which this restore-run "
                       "does not know",
                       kind_text(r->kind).s, (unsigned long)w->pos, r->flags);
    int index = ckpt_record_index(r->kind);
    if (index < 0)
        return check_unknown(v, w, r, err);
    uint32_t flags = r->flags & (CKPT_RECF_CRITICAL | CKPT_RECF_DATA);
    if (flags != ckpt_record_flags(r->kind))
        return ck_fail(err, -1, "%s record at metadata offset %lu has flags %x, expected %x",
                       kind_text(r->kind).s, (unsigned long)w->pos, r->flags,
                       ckpt_record_flags(r->kind));
    if (r->length < ckpt_record_min_len(r->kind))
        return ck_fail(err, -1, "%s record at metadata offset %lu is too short (%u bytes)",
                       kind_text(r->kind).s, (unsigned long)w->pos, r->length);
    if (check_complete(v, w, r, err) || check_id(w, index, r, err) || check_known(v, w, r, err) ||
        ((flags & CKPT_RECF_DATA) && check_extent(v, w, r, err)))
        return -1;
    v->ncompressed += (r->flags & CKPT_RECF_ZSTD) != 0;
    w->prev_kind = (int)r->kind;
    w->since_file |= 1ULL << index;
    return 0;
}

int image_open_view(struct image_view *v, const void *base, uint64_t size, struct ck_error *err)
{
    ck_memset(v, 0, sizeof *v);
    v->base = base;
    v->size = size;
    int rc = check_header(v, err);
    if (rc)
        return rc;
    struct image_walk w = {.next_data = CKPT_HEADER_SIZE, .last_fd = -1};
    for (;;) {
        const struct ckpt_record_head *r = (const void *)(v->meta + w.pos);
        if (v->meta_len - w.pos < sizeof *r || r->length < sizeof *r || r->length % 8 ||
            r->length > v->meta_len - w.pos)
            return ck_fail(err, -1, "malformed record at metadata offset %lu",
                           (unsigned long)w.pos);
        rc = check_record(v, &w, r, err);
        if (rc)
            return rc;
        if (r->kind == CKPT_REC_END)
            break;
        w.pos += r->length;
        w.nrecords++;
    }
    if (w.next_data != v->hdr->meta_offset)
        return ck_fail(err, -1, "the page runs cover %lu bytes of a %lu-byte data section",
                       (unsigned long)(w.next_data - CKPT_HEADER_SIZE),
                       (unsigned long)(v->hdr->meta_offset - CKPT_HEADER_SIZE));
    return 0;
}

const char *image_region_name(const char *path)
{
    return path[0] ? path : "anonymous memory";
}

int image_fail_run(const struct ckpt_region_record *g, const struct ckpt_run_record *u,
                   struct ck_error *err)
{
    return ck_fail(err, -1,
                   "checksum mismatch in pages %lx-%lx of region %lx-%lx (%s) "
                   "(corrupted image)",
                   (unsigned long)u->addr, (unsigned long)(u->addr + u->extent.length),
                   (unsigned long)g->start, (unsigned long)g->end, image_region_name(g->path));
}

int image_check_compressed_run(const struct image_view *v,
                               const struct ckpt_compressed_run_record *c,
                               const struct ckpt_region_record *g, struct ck_error *err)
{
    const struct ckpt_run_record *u = &c->run;
    if (ck_hash64(v->base + u->extent.file_offset, CK_PAGE_UP(c->stored_length)) ==
        c->stored_checksum)
        return 0;
    return ck_fail(err, -1,
                   "checksum mismatch in the compressed pages %lx-%lx of region %lx-%lx (%s) "
                   "(corrupted image)",
                   (unsigned long)u->addr, (unsigned long)(u->addr + u->extent.length),
                   (unsigned long)g->start, (unsigned long)g->end, image_region_name(g->path));
}

/* What a DATA record's bytes are, for a checksum mismatch in them; file is the FILE record
 * before it. */
static int fail_data(const struct ckpt_record_head *r, const struct ckpt_file_record *file,
                     struct ck_error *err)
{
    if (r->kind == CKPT_REC_FILE_DATA)
        return ck_fail(err, -1, "checksum mismatch in the stored contents of %s (corrupted image)",
                       file->path);
    return ck_fail(err, -1, "checksum mismatch in the data of a %s record (corrupted image)",
                   kind_text(r->kind).s);
}

/* Hashes the extent of every DATA record, of known kinds and others, with_runs or not. */
static int verify_extents(const struct image_view *v, int with_runs, struct ck_error *err)
{
    const struct ckpt_region_record *g = 0;
    const struct ckpt_file_record *file = 0;
    for (const struct ckpt_record_head *r = image_first_any(v); r; r = image_next_any(v, r)) {
        if (r->kind == CKPT_REC_REGION)
            g = (const void *)r;
        if (r->kind == CKPT_REC_FILE)
            file = (const void *)r;
        if (!(r->flags & CKPT_RECF_DATA) || (r->kind == CKPT_REC_RUN && !with_runs))
            continue;
        const struct ckpt_extent *e = record_extent(r);
        if (r->flags & CKPT_RECF_ZSTD) {
            if (image_check_compressed_run(v, (const void *)r, g, err))
                return -1;
            continue;
        }
        if (ck_hash64(v->base + e->file_offset, e->length) == e->checksum)
            continue;
        return r->kind == CKPT_REC_RUN ? image_fail_run(g, (const void *)r, err)
                                       : fail_data(r, file, err);
    }
    return 0;
}

int image_verify_file_data(const struct image_view *v, struct ck_error *err)
{
    return verify_extents(v, 0, err);
}

static const void *moved(const void *ptr, const unsigned char *from, const unsigned char *to)
{
    return ptr ? to + ((const unsigned char *)ptr - from) : NULL;
}

void image_view_rebase(struct image_view *v, const void *new_base)
{
    const unsigned char *from = v->base, *to = new_base;
    v->hdr = moved(v->hdr, from, to);
    v->proc = moved(v->proc, from, to);
    v->meta = moved(v->meta, from, to);
    v->base = to;
}

int image_verify_data(const struct image_view *v, struct ck_error *err)
{
    return verify_extents(v, 1, err);
}

/* Is [addr, addr+len) inside one region of the image with at least prot? */
/* [addr, addr+len) lies in regions with prot that follow each other without a gap: one
 * object of the program may span several (after restore-run --lazy, a static array is split
 * where pages were mapped from the image). Regions come in address order. */
static int inside_region(const struct image_view *v, uint64_t addr, uint64_t len, uint32_t prot)
{
    uint64_t at = addr, end = addr + len;
    if (end < addr)
        return 0;
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        const struct ckpt_region_record *g = (const void *)r;
        if (r->kind != CKPT_REC_REGION || at < g->start || at >= g->end)
            continue;
        if ((g->prot & prot) != prot)
            return 0;
        if (end <= g->end)
            return 1;
        at = g->end; /* the rest must start the next region */
    }
    return 0;
}

#define RW (CKPT_PROT_READ | CKPT_PROT_WRITE)
#define SIG_BIT(sig) (1ULL << ((sig)-1))
#define UNBLOCKABLE (SIG_BIT(9) | SIG_BIT(19)) /* SIGKILL, SIGSTOP */
/* The sa_flags the kernel keeps (SA_NOCLDSTOP, SA_NOCLDWAIT, SA_SIGINFO, SA_UNSUPPORTED,
 * SA_EXPOSE_TAGBITS, SA_RESTORER, SA_ONSTACK, SA_RESTART, SA_NODEFER, SA_RESETHAND). */
#define KNOWN_SA_FLAGS 0xdc000c07ULL
#define SA_RESTORER_FLAG 0x04000000ULL
#define ROBUST_LIST_HEAD_LEN 24 /* struct robust_list_head: the only length the kernel takes */
#define RSEQ_AREA_LEN 32        /* struct rseq as the shim registers it, 32-byte aligned */

#define MINSIGSTKSZ_ 2048 /* the smallest signal stack sigaltstack takes */
#define SS_ONSTACK_ 1u
#define SS_AUTODISARM_ (1u << 31)

/* A thread's saved context and data: the core jumps to, writes to and registers these
 * addresses after its point of no return. */
static int check_thread_addresses(const struct image_view *v, const struct ckpt_thread_record *t,
                                  struct ck_error *err)
{
    if (!inside_region(v, t->context.rip, 1, CKPT_PROT_EXEC))
        return ck_fail(err, -1,
                       "thread %u: the saved instruction pointer %lx is outside the saved code",
                       t->tid, (unsigned long)t->context.rip);
    if (t->context.rsp < 8 || !inside_region(v, t->context.rsp - 8, 8, RW))
        return ck_fail(err, -1,
                       "thread %u: the saved stack pointer %lx is outside the saved memory", t->tid,
                       (unsigned long)t->context.rsp);
    if (!inside_region(v, t->frame_addr, 8, RW))
        return ck_fail(err, -1, "thread %u: the signal frame at %lx is outside the saved memory",
                       t->tid, (unsigned long)t->frame_addr);
    if (!inside_region(v, t->fs_base, 8, CKPT_PROT_READ))
        return ck_fail(err, -1, "thread %u: the FS base %lx is outside the saved memory", t->tid,
                       (unsigned long)t->fs_base);
    if (t->gs_base >= USER_ADDR_MAX)
        return ck_fail(err, -1, "thread %u: the GS base %lx is not a user address", t->tid,
                       (unsigned long)t->gs_base);
    if ((t->flags & CKPT_THREAD_GLIBC) &&
        (t->tid_addr % 4 || !inside_region(v, t->tid_addr, 4, RW)))
        return ck_fail(err, -1, "thread %u: the thread id address %lx is outside the saved memory",
                       t->tid, (unsigned long)t->tid_addr);
    if (t->clear_child_tid &&
        (t->clear_child_tid % 4 || !inside_region(v, t->clear_child_tid, 4, RW)))
        return ck_fail(err, -1,
                       "thread %u: the clear-child thread id address %lx is outside the saved "
                       "memory",
                       t->tid, (unsigned long)t->clear_child_tid);
    if ((t->flags & CKPT_THREAD_RSEQ) &&
        (t->rseq_len != RSEQ_AREA_LEN || t->rseq_addr % RSEQ_AREA_LEN ||
         !inside_region(v, t->rseq_addr, t->rseq_len, RW)))
        return ck_fail(err, -1,
                       "thread %u: the rseq area %lx (%u bytes) is not a valid registration",
                       t->tid, (unsigned long)t->rseq_addr, t->rseq_len);
    if (t->robust_list && (t->robust_list_len != ROBUST_LIST_HEAD_LEN ||
                           !inside_region(v, t->robust_list, ROBUST_LIST_HEAD_LEN, RW)))
        return ck_fail(err, -1,
                       "thread %u: the robust futex list %lx (%lu bytes) is not a valid list head",
                       t->tid, (unsigned long)t->robust_list, (unsigned long)t->robust_list_len);
    return 0;
}

/* The signal stack, scheduling and signals the core sets for the thread. */
static int check_thread_settings(const struct ckpt_thread_record *t, struct ck_error *err)
{
    if ((t->flags & CKPT_THREAD_ALTSTACK) &&
        (t->altstack_size < MINSIGSTKSZ_ || t->altstack_sp < USER_ADDR_MIN ||
         t->altstack_sp >= USER_ADDR_MAX || t->altstack_size > USER_ADDR_MAX - t->altstack_sp ||
         (t->altstack_flags & ~(SS_ONSTACK_ | SS_AUTODISARM_))))
        return ck_fail(err, -1, "thread %u: the signal stack %lx (%lu bytes, flags %x) is invalid",
                       t->tid, (unsigned long)t->altstack_sp, (unsigned long)t->altstack_size,
                       t->altstack_flags);
    int realtime = t->sched_policy == 1 /* FIFO */ || t->sched_policy == 2 /* RR */;
    int normal = t->sched_policy == 0 /* OTHER */ || t->sched_policy == 3 /* BATCH */ ||
                 t->sched_policy == 5 /* IDLE */;
    if ((!realtime && !normal) || (realtime && (t->sched_priority < 1 || t->sched_priority > 99)) ||
        (normal && t->sched_priority) || t->nice < -20 || t->nice > 19 || t->sched_flags & ~1ULL)
        return ck_fail(err, -1,
                       "thread %u: scheduling policy %u, priority %u, nice %d, flags %lx is not a "
                       "valid setting",
                       t->tid, t->sched_policy, t->sched_priority, t->nice,
                       (unsigned long)t->sched_flags);
    if ((t->sigmask | t->pending) & UNBLOCKABLE)
        return ck_fail(err, -1, "thread %u: SIGKILL or SIGSTOP is blocked or pending", t->tid);
    return 0;
}

static int check_threads(const struct image_view *v, struct ck_error *err)
{
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        const struct ckpt_thread_record *t = (const void *)r;
        if (r->kind == CKPT_REC_THREAD &&
            (check_thread_addresses(v, t, err) || check_thread_settings(t, err)))
            return -1;
    }
    const struct ckpt_process_record *p = v->proc;
    if (!inside_region(v, p->restore_info_addr, sizeof(struct ckpt_restore_info), RW))
        return ck_fail(err, -1, "the restore record at %lx is outside the saved memory",
                       (unsigned long)p->restore_info_addr);
    return 0;
}

/* PR_SET_MM_MAP's own rules (the kernel's validate_prctl_map_addr): every address below
 * TASK_SIZE, the pairs in order. The floor (mmap_min_addr) and RLIMIT_DATA depend on the
 * machine: process_check. */
static int check_mm_fields(const struct ckpt_process_record *p, struct ck_error *err)
{
    const uint64_t fields[] = {p->start_code, p->end_code,  p->start_data,  p->end_data,
                               p->start_brk,  p->brk,       p->start_stack, p->arg_start,
                               p->arg_end,    p->env_start, p->env_end};
    for (size_t i = 0; i < CK_ARRAY_LEN(fields); i++)
        if (fields[i] < USER_ADDR_MIN || fields[i] >= USER_ADDR_MAX)
            return ck_fail(err, -1, "the memory layout has an impossible address %lx (field %u)",
                           (unsigned long)fields[i], (unsigned)i);
    if (p->start_code >= p->end_code || p->start_data > p->end_data || p->start_brk > p->brk ||
        p->arg_start > p->arg_end || p->env_start > p->env_end)
        return ck_fail(err, -1, "the memory layout's bounds are out of order");
    if (p->auxv_words < 2 || p->auxv[p->auxv_words - 2] != 0 /* AT_NULL */)
        return ck_fail(err, -1, "the auxiliary vector does not end with AT_NULL");
    return 0;
}

static int check_signals(const struct image_view *v, struct ck_error *err)
{
    const struct ckpt_process_record *p = v->proc;
    if (p->shared_pending & UNBLOCKABLE)
        return ck_fail(err, -1, "SIGKILL or SIGSTOP is pending in the saved state");
    for (int sig = 1; sig <= CKPT_NSIG; sig++) {
        const struct ckpt_sigaction *a = &p->sigactions[sig - 1];
        if (UNBLOCKABLE & SIG_BIT(sig))
            continue; /* never set */
        if (a->flags & ~KNOWN_SA_FLAGS)
            return ck_fail(err, -1, "signal %d has unknown flags %lx", sig,
                           (unsigned long)a->flags);
        if (a->mask & UNBLOCKABLE)
            return ck_fail(err, -1, "the handler of signal %d blocks SIGKILL or SIGSTOP", sig);
        if (a->handler <= 1) /* SIG_DFL, SIG_IGN */
            continue;
        if (!inside_region(v, a->handler, 1, CKPT_PROT_EXEC))
            return ck_fail(err, -1, "the handler of signal %d at %lx is outside the saved code",
                           sig, (unsigned long)a->handler);
        /* x86_64 delivers a signal to a handler only through its restorer. */
        if (!(a->flags & SA_RESTORER_FLAG) || !inside_region(v, a->restorer, 1, CKPT_PROT_EXEC))
            return ck_fail(err, -1, "the handler of signal %d has no restorer in the saved code",
                           sig);
    }
    return 0;
}

static int timeval_ok(int64_t sec, int64_t usec)
{
    return sec >= 0 && usec >= 0 && usec < 1000000;
}

static int check_limits_and_timers(const struct ckpt_process_record *p, struct ck_error *err)
{
    for (int i = 0; i < CKPT_NRLIMITS; i++)
        if (p->rlimits[i].cur > p->rlimits[i].max)
            return ck_fail(err, -1, "resource limit %d has its soft limit above its hard one", i);
    for (int i = 0; i < 3; i++) {
        const struct ckpt_itimer *t = &p->itimers[i];
        if (!timeval_ok(t->interval_sec, t->interval_usec) ||
            !timeval_ok(t->value_sec, t->value_usec))
            return ck_fail(err, -1, "interval timer %d holds an invalid time", i);
    }
    if (p->umask & ~0777u)
        return ck_fail(err, -1, "the umask %o has bits beyond the permissions", p->umask);
    if (p->cwd[0] != '/')
        return ck_fail(err, -1, "the working directory \"%s\" is not an absolute path", p->cwd);
    return 0;
}

int image_check_restore_values(const struct image_view *v, struct ck_error *err)
{
    if (check_threads(v, err) || check_mm_fields(v->proc, err) || check_signals(v, err) ||
        check_limits_and_timers(v->proc, err))
        return -1;
    return 0;
}

const struct ckpt_record_head *image_first_any(const struct image_view *v)
{
    if (!v->meta || v->meta_len < sizeof(struct ckpt_record_head))
        return 0;
    const struct ckpt_record_head *r = (const void *)v->meta;
    return r->kind == CKPT_REC_END ? 0 : r;
}

const struct ckpt_record_head *image_next_any(const struct image_view *v,
                                              const struct ckpt_record_head *r)
{
    const unsigned char *n = (const unsigned char *)r + r->length;
    if (n >= v->meta + v->meta_len)
        return 0;
    r = (const void *)n;
    return r->kind == CKPT_REC_END ? 0 : r;
}

/* Records of kinds this reader does not know were validated as skippable: readers never
 * see them. */
static const struct ckpt_record_head *skip_unknown(const struct image_view *v,
                                                   const struct ckpt_record_head *r)
{
    while (r && ckpt_record_index(r->kind) < 0)
        r = image_next_any(v, r);
    return r;
}

const struct ckpt_record_head *image_first(const struct image_view *v)
{
    return skip_unknown(v, image_first_any(v));
}

const struct ckpt_record_head *image_next(const struct image_view *v,
                                          const struct ckpt_record_head *r)
{
    return skip_unknown(v, image_next_any(v, r));
}
