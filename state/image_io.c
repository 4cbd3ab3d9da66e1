/* Image writer and validator; see image_io.h. */
#include "image_io.h"
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

/* Starts writeback of what was written since the last start (see IW_WRITEBACK_BYTES). */
static int start_writeback(struct image_writer *w)
{
    if (w->written_end - w->writeback_end < IW_WRITEBACK_BYTES)
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

void iw_flush(struct image_writer *w)
{
    if (w->stage)
        return; /* staged data was copied already */
    if (w->niov && !w->error)
        w->error = write_iovecs(w->fd, w->iov, w->niov);
    w->niov = 0;
    w->written_end = w->data_end;
    if (!w->error)
        w->error = start_writeback(w);
    if (!w->error)
        w->error = drop_written(w);
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
        w->iov[w->niov].base = p + done;
        w->iov[w->niov].len = chunk;
        w->niov++;
        done += chunk;
        w->data_end = off + done;
        if (w->niov == IW_IOV_BATCH || w->data_end - w->written_end >= IW_FLUSH_BYTES)
            iw_flush(w);
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

/* Addresses a restored process may use: above mmap_min_addr's lowest floor and below
 * TASK_SIZE of the 47-bit user half, which ends one page short of 2^47 (mmap and
 * PR_SET_MM_MAP refuse anything else; restore-run checks the machine's mmap_min_addr). */
#define USER_ADDR_MIN 0x1000UL
#define USER_ADDR_MAX 0x7ffffffff000UL

/* Every open(2) flag of Linux on x86_64 (O_ACCMODE to __O_TMPFILE, octal 03 and 0100 to
 * 020000000): what F_GETFL can report. */
#define KNOWN_OPEN_FLAGS 037777703u

static int path_ok(const char *path, uint32_t path_len, const char *rec_end)
{
    return path + path_len < rec_end && path[path_len] == 0 && ck_strlen(path) == path_len;
}

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

struct walk {
    uint64_t pos;       /* metadata offset of the record being checked */
    uint32_t nrecords;  /* records before it */
    uint64_t next_data; /* DATA extents tile the data section in order: where the next starts */
    uint32_t last_id[CKPT_NRECORD_KINDS]; /* per known kind: the last id seen, 0 = none */
    uint64_t last_region_end;
    const struct ckpt_region_record *region;
    uint32_t runs_left;
    uint64_t last_run_end;
    int32_t last_fd;
    const struct ckpt_file_record *file;  /* the last FILE record */
    int file_has_data, file_has_terminal; /* ... has its FILE_DATA, its TERMINAL */
    int file_has_pipe, file_has_pipe_end; /* ... is followed by a PIPE, a PIPE_END */
    int file_has_pair, file_has_sock_end; /* ... by a SOCKPAIR, a SOCKET_END */
    int prev_kind;                        /* kind of the known record just before */
    uint32_t region_kinds;                /* bit per region kind seen */
};

static int check_process(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                         struct ck_error *err)
{
    (void)w;
    const struct ckpt_process_record *p = (const void *)r;
    if (v->proc)
        return ck_fail(err, -1, "image has two process records");
    if (p->auxv_words > CKPT_AUXV_WORDS || p->auxv_words % 2)
        return ck_fail(err, -1, "bad auxv length %u", p->auxv_words);
    if (p->cwd[sizeof p->cwd - 1] || p->exe[sizeof p->exe - 1] || p->comm[sizeof p->comm - 1] ||
        p->boot_id[sizeof p->boot_id - 1])
        return ck_fail(err, -1, "unterminated string in process record");
    if (p->checkpoint_signal < 1 || p->checkpoint_signal > CKPT_NSIG)
        return ck_fail(err, -1, "bad checkpoint signal %u", p->checkpoint_signal);
    v->proc = p;
    return 0;
}

/* THREAD records follow PROCESS, the leader first, each tid once, ids 1..n. (Unknown
 * records of other kinds may stand between them.) */
static int check_thread(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                        struct ck_error *err)
{
    const struct ckpt_thread_record *t = (const void *)r;
    if (w->prev_kind != CKPT_REC_PROCESS && w->prev_kind != CKPT_REC_THREAD)
        return ck_fail(err, -1, "thread record of thread %u is not right after the process record",
                       t->tid);
    if (r->id != v->nthreads + 1)
        return ck_fail(err, -1, "thread record of thread %u has id %u, expected %u", t->tid, r->id,
                       v->nthreads + 1);
    if (t->flags & ~CKPT_THREAD_FLAGS)
        return ck_fail(err, -1, "thread %u has unknown flags %x", t->tid, t->flags);
    int leader = (t->flags & CKPT_THREAD_LEADER) != 0;
    if (leader != (v->nthreads == 0))
        return ck_fail(err, -1,
                       leader ? "thread %u is a second leader thread"
                              : "the first thread record (thread %u) is not the leader's",
                       t->tid);
    if (t->comm[sizeof t->comm - 1])
        return ck_fail(err, -1, "unterminated name of thread %u", t->tid);
    for (const struct ckpt_record_head *q = (const void *)v->threads; q && q != r;
         q = (const void *)((const unsigned char *)q + q->length))
        if (q->kind == CKPT_REC_THREAD && ((const struct ckpt_thread_record *)q)->tid == t->tid)
            return ck_fail(err, -1, "two thread records have tid %u", t->tid);
    if (v->nthreads == 0)
        v->threads = t;
    v->nthreads++;
    return 0;
}

static int check_region(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                        struct ck_error *err)
{
    const struct ckpt_region_record *g = (const void *)r;
    if (v->nfds || v->nfiles)
        return ck_fail(err, -1, "region after descriptors");
    if (!path_ok(g->path, g->path_len, (const char *)r + r->length))
        return ck_fail(err, -1, "malformed region record");
    if (g->start % CKPT_PAGE_SIZE || g->end % CKPT_PAGE_SIZE || g->start >= g->end ||
        g->start < USER_ADDR_MIN || g->end > USER_ADDR_MAX)
        return ck_fail(err, -1, "region %lx-%lx is not a valid user range", (unsigned long)g->start,
                       (unsigned long)g->end);
    if (g->start < w->last_region_end)
        return ck_fail(err, -1, "region %lx-%lx overlaps or is out of order",
                       (unsigned long)g->start, (unsigned long)g->end);
    if (g->kind < CKPT_REGION_ANON || g->kind > CKPT_REGION_VVAR_VCLOCK)
        return ck_fail(err, -1, "region %lx-%lx has unknown kind %u", (unsigned long)g->start,
                       (unsigned long)g->end, g->kind);
    if (g->prot & ~(CKPT_PROT_READ | CKPT_PROT_WRITE | CKPT_PROT_EXEC))
        return ck_fail(err, -1, "region %lx-%lx has unknown protection bits %x",
                       (unsigned long)g->start, (unsigned long)g->end, g->prot);
    /* mmap refuses an offset whose end does not fit in off_t. */
    if (g->file_offset > (uint64_t)INT64_MAX - (g->end - g->start))
        return ck_fail(err, -1, "region %lx-%lx has file offset %lx beyond any file",
                       (unsigned long)g->start, (unsigned long)g->end,
                       (unsigned long)g->file_offset);
    /* The kernel's own mappings exist once in a process: the restore moves each there. */
    int kernels = g->kind == CKPT_REGION_VDSO || g->kind == CKPT_REGION_VVAR ||
                  g->kind == CKPT_REGION_VVAR_VCLOCK;
    if (kernels && (w->region_kinds & (1u << g->kind)))
        return ck_fail(err, -1, "region %lx-%lx is a second %s", (unsigned long)g->start,
                       (unsigned long)g->end, g->path[0] ? g->path : "kernel mapping");
    w->region_kinds |= 1u << g->kind;
    /* Nothing is stored for a shared file mapping (the file holds it) nor for [vvar]: pages
     * would be written through to the file, or into the kernel's. */
    if (g->nruns && (g->kind == CKPT_REGION_FILE_SHARED || g->kind == CKPT_REGION_VVAR ||
                     g->kind == CKPT_REGION_VVAR_VCLOCK))
        return ck_fail(err, -1, "region %lx-%lx (%s) cannot have stored pages",
                       (unsigned long)g->start, (unsigned long)g->end, image_region_name(g->path));
    int file_backed = g->kind == CKPT_REGION_FILE_PRIVATE || g->kind == CKPT_REGION_FILE_SHARED;
    if (file_backed && (g->path[0] != '/' || g->file_offset % CKPT_PAGE_SIZE))
        return ck_fail(err, -1, "file region %lx-%lx needs an absolute path",
                       (unsigned long)g->start, (unsigned long)g->end);
    w->last_region_end = g->end;
    w->region = g;
    w->runs_left = g->nruns;
    w->last_run_end = g->start;
    v->nregions++;
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

/* The extent of a DATA record of any kind, known or not: inside the data section, and
 * right after the one before, so that the extents tile the data section and no byte of it
 * escapes the checksums. */
static int check_extent(const struct image_view *v, struct walk *w,
                        const struct ckpt_record_head *r, struct ck_error *err)
{
    const struct ckpt_extent *e = record_extent(r);
    if (r->length < sizeof *r + sizeof *e)
        return ck_fail(err, -1, "%s record at metadata offset %lu is too short for its data",
                       kind_text(r->kind).s, (unsigned long)w->pos);
    if (!in_data_section(v, e->file_offset, e->length))
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
    w->next_data += e->length;
    return 0;
}

static int check_run(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                     struct ck_error *err)
{
    const struct ckpt_run_record *u = (const void *)r;
    const struct ckpt_region_record *g = w->region;
    uint64_t len = u->extent.length;
    if (!g || w->runs_left == 0)
        return ck_fail(err, -1, "page run outside of a region");
    if (u->addr % CKPT_PAGE_SIZE || len % CKPT_PAGE_SIZE || len == 0 || u->addr < w->last_run_end ||
        u->addr > g->end || len > g->end - u->addr)
        return ck_fail(err, -1, "page run %lx+%lx does not fit region %lx-%lx",
                       (unsigned long)u->addr, (unsigned long)len, (unsigned long)g->start,
                       (unsigned long)g->end);
    /* A stored page of a file mapping is a private copy of a page the program touched:
     * the file had that page (a page past its end cannot be touched, nor filled in). */
    int file_backed = g->kind == CKPT_REGION_FILE_PRIVATE || g->kind == CKPT_REGION_FILE_SHARED;
    if (file_backed && g->file_offset + (u->addr - g->start) + len > CK_PAGE_UP(g->file.size))
        return ck_fail(err, -1, "page run %lx+%lx lies past the end of %s", (unsigned long)u->addr,
                       (unsigned long)len, g->path);
    w->last_run_end = u->addr + len;
    w->runs_left--;
    v->nruns++;
    return 0;
}

/* A kind of descriptor of CKPT_FD_KINDS. */
static int fd_kind_known(uint32_t kind)
{
    switch (kind) {
#define FD_KIND_KNOWN(name, value)                                                                 \
    case CKPT_FD_##name:                                                                           \
        return 1;
        CKPT_FD_KINDS(FD_KIND_KNOWN)
#undef FD_KIND_KNOWN
    }
    return 0;
}

/* The FILE record before has all its records: a PIPE is followed by its PIPE_END. */
static int check_file_complete(const struct walk *w, struct ck_error *err)
{
    if (w->file && w->file_has_pipe && !w->file_has_pipe_end)
        return ck_fail(err, -1, "file %u (%s) introduces a pipe but is no end of it",
                       w->file->head.id, w->file->path);
    if (w->file && w->file_has_pair && !w->file_has_sock_end)
        return ck_fail(err, -1, "file %u (%s) introduces a socket pair but is no end of it",
                       w->file->head.id, w->file->path);
    return 0;
}

static int check_file(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                      struct ck_error *err)
{
    const struct ckpt_file_record *f = (const void *)r;
    if (check_file_complete(w, err))
        return -1;
    if (v->nfds)
        return ck_fail(err, -1, "file record after descriptors");
    if (r->id != v->nfiles + 1)
        return ck_fail(err, -1, "file record with id %u, expected %u", r->id, v->nfiles + 1);
    if (!path_ok(f->path, f->path_len, (const char *)r + r->length))
        return ck_fail(err, -1, "malformed file record %u", r->id);
    if (!fd_kind_known(f->kind))
        return ck_fail(err, -1, "file %u (%s) has unknown kind %u", r->id, f->path, f->kind);
    /* Reopened with these flags: an access mode of 3 (no read, no write) or a flag Linux
     * does not have would make the reopened file unusable. */
    if ((f->flags & 3u) == 3u || (f->flags & ~KNOWN_OPEN_FLAGS))
        return ck_fail(err, -1, "file %u (%s) has invalid file status flags %x", r->id, f->path,
                       f->flags);
    if (f->offset > (uint64_t)INT64_MAX)
        return ck_fail(err, -1, "file %u (%s) has an impossible file offset %lu", r->id, f->path,
                       (unsigned long)f->offset);
    w->file = f;
    w->file_has_data = w->file_has_terminal = w->file_has_pipe = w->file_has_pipe_end = 0;
    w->file_has_pair = w->file_has_sock_end = 0;
    v->nfiles++;
    return 0;
}

static int check_fd(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                    struct ck_error *err)
{
    const struct ckpt_fd_record *f = (const void *)r;
    if (v->nfds == 0 && check_file_complete(w, err))
        return -1;
    if (f->fd < 0 || f->fd > (1 << 20) || f->fd <= w->last_fd)
        return ck_fail(err, -1, "descriptor number %d is invalid or out of order", f->fd);
    /* Objects come first: a reference names one already seen. */
    if (f->file < 1 || f->file > v->nfiles)
        return ck_fail(err, -1, "descriptor %d refers to file %u, which is not before it", f->fd,
                       f->file);
    if (f->cloexec > 1)
        return ck_fail(err, -1, "descriptor %d has an invalid close-on-exec flag %u", f->fd,
                       f->cloexec);
    w->last_fd = f->fd;
    v->nfds++;
    return 0;
}

/* FILE_DATA, LOCK and TERMINAL records name the FILE record they follow. */
static const struct ckpt_file_record *object_before(const struct walk *w, uint32_t id)
{
    return w->file && id == w->file->head.id ? w->file : 0;
}

static int check_file_data(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                           struct ck_error *err)
{
    (void)v;
    const struct ckpt_file_data_record *d = (const void *)r;
    const struct ckpt_file_record *f = object_before(w, d->file);
    if (!f || w->prev_kind != CKPT_REC_FILE || f->kind != CKPT_FD_FILE || w->file_has_data)
        return ck_fail(err, -1, "file contents record without its file record (file %u)", d->file);
    if (d->extent.length != CK_PAGE_UP(d->size) || d->extent.length < d->size)
        return ck_fail(err, -1, "contents of file %u (%s) point outside the data section", d->file,
                       f->path);
    w->file_has_data = 1;
    return 0;
}

static int check_lock(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                      struct ck_error *err)
{
    (void)v;
    const struct ckpt_lock_record *l = (const void *)r;
    int follows = w->prev_kind == CKPT_REC_FILE || w->prev_kind == CKPT_REC_FILE_DATA ||
                  w->prev_kind == CKPT_REC_LOCK;
    if (!follows || !object_before(w, l->file))
        return ck_fail(err, -1, "lock record without its file record (file %u)", l->file);
    if (l->type > CKPT_LOCK_WRITE || l->start > l->end || l->start > (uint64_t)INT64_MAX ||
        (l->end != CKPT_LOCK_TO_EOF && l->end > (uint64_t)INT64_MAX))
        return ck_fail(err, -1, "malformed lock record of file %u", l->file);
    return 0;
}

static int check_terminal(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                          struct ck_error *err)
{
    (void)v;
    const struct ckpt_terminal_record *t = (const void *)r;
    const struct ckpt_file_record *f = object_before(w, t->file);
    if (!f || w->prev_kind != CKPT_REC_FILE || f->kind != CKPT_FD_TTY || w->file_has_terminal)
        return ck_fail(err, -1, "terminal record without its file record (file %u)", t->file);
    w->file_has_terminal = 1;
    return 0;
}

/* ---- the event-loop descriptors' records: each right after the FILE it names ---------- */

/* The FILE record a kind's own record names, if it is the one just before it of that kind
 * (after = the record kind that may stand between them, or 0). */
static const struct ckpt_file_record *detail_of(const struct walk *w, uint32_t id, uint32_t fd_kind,
                                                int after)
{
    const struct ckpt_file_record *f = object_before(w, id);
    if (!f || f->kind != fd_kind || (w->prev_kind != CKPT_REC_FILE && w->prev_kind != after))
        return 0;
    return f;
}

static int check_eventfd(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                         struct ck_error *err)
{
    (void)v;
    const struct ckpt_eventfd_record *e = (const void *)r;
    if (!detail_of(w, e->file, CKPT_FD_EVENTFD, 0))
        return ck_fail(err, -1, "eventfd record without its file record (file %u)", e->file);
    if (e->semaphore > 1 || e->count == UINT64_MAX)
        return ck_fail(err, -1, "eventfd of file %u: invalid counter %lu or semaphore flag %u",
                       e->file, (unsigned long)e->count, e->semaphore);
    return 0;
}

#define NSEC_PER_SEC 1000000000
static int timespec_ok(int64_t sec, int64_t nsec)
{
    return sec >= 0 && nsec >= 0 && nsec < NSEC_PER_SEC;
}

static int timerfd_clock_ok(uint32_t clockid)
{
    return clockid == 0 || clockid == 1 || clockid == 7 || clockid == 8 || clockid == 9;
}

static int check_timerfd(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                         struct ck_error *err)
{
    (void)v;
    const struct ckpt_timerfd_record *t = (const void *)r;
    if (!detail_of(w, t->file, CKPT_FD_TIMERFD, 0))
        return ck_fail(err, -1, "timerfd record without its file record (file %u)", t->file);
    if (!timerfd_clock_ok(t->clockid))
        return ck_fail(err, -1, "timerfd of file %u has unknown clock %u", t->file, t->clockid);
    int realtime = t->clockid == 0 || t->clockid == 8;
    uint32_t known = CKPT_TIMERFD_ABSTIME | CKPT_TIMERFD_CANCEL_ON_SET;
    if ((t->settime_flags & ~known) || ((t->settime_flags & CKPT_TIMERFD_CANCEL_ON_SET) &&
                                        (!realtime || !(t->settime_flags & CKPT_TIMERFD_ABSTIME))))
        return ck_fail(err, -1, "timerfd of file %u has invalid settime flags %x", t->file,
                       t->settime_flags);
    if (!timespec_ok(t->value_sec, t->value_nsec) ||
        !timespec_ok(t->interval_sec, t->interval_nsec) ||
        !timespec_ok(t->expires_sec, t->expires_nsec))
        return ck_fail(err, -1, "timerfd of file %u has an invalid time", t->file);
    return 0;
}

#define SIGKILL_SIGSTOP_BITS ((1ULL << (9 - 1)) | (1ULL << (19 - 1)))
static int check_signalfd(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                          struct ck_error *err)
{
    (void)v;
    const struct ckpt_signalfd_record *s = (const void *)r;
    if (!detail_of(w, s->file, CKPT_FD_SIGNALFD, 0))
        return ck_fail(err, -1, "signalfd record without its file record (file %u)", s->file);
    if (s->mask & SIGKILL_SIGSTOP_BITS)
        return ck_fail(err, -1, "signalfd of file %u has SIGKILL or SIGSTOP in its mask", s->file);
    return 0;
}

/* EPOLLIN ... EPOLLMSG, EPOLLRDHUP, EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET */
#define EPOLL_KNOWN_EVENTS 0xf00027ffu
#define EPOLL_EXCLUSIVE_BIT (1u << 28)
#define EPOLL_ONESHOT_BIT (1u << 30)
static int check_epoll_target(struct image_view *v, struct walk *w,
                              const struct ckpt_record_head *r, struct ck_error *err)
{
    (void)v;
    const struct ckpt_epoll_target_record *t = (const void *)r;
    if (!detail_of(w, t->file, CKPT_FD_EPOLL, CKPT_REC_EPOLL_TARGET))
        return ck_fail(err, -1, "epoll entry without its file record (file %u)", t->file);
    if (t->fd < 0 || t->fd > (1 << 20))
        return ck_fail(err, -1, "epoll of file %u watches invalid descriptor number %d", t->file,
                       t->fd);
    if ((t->events & ~EPOLL_KNOWN_EVENTS) ||
        ((t->events & EPOLL_EXCLUSIVE_BIT) && (t->events & EPOLL_ONESHOT_BIT)))
        return ck_fail(err, -1, "epoll of file %u watches descriptor %d for invalid events %x",
                       t->file, t->fd, t->events);
    return 0;
}

/* Capacities Linux gives a pipe: a page at least, at most 2^31 bytes (F_SETPIPE_SZ). */
#define PIPE_SIZE_MIN CKPT_PAGE_SIZE
#define PIPE_SIZE_MAX (1u << 31)

/* A PIPE follows the FILE of its first end, before that end's PIPE_END. */
static int check_pipe(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                      struct ck_error *err)
{
    (void)v;
    const struct ckpt_pipe_record *q = (const void *)r;
    const struct ckpt_file_record *f = w->file;
    if (!f || w->prev_kind != CKPT_REC_FILE || f->kind != CKPT_FD_PIPE || w->file_has_pipe)
        return ck_fail(err, -1, "pipe record %u without the file record of its first end", r->id);
    if (r->id == 0)
        return ck_fail(err, -1, "pipe record without an id");
    if (q->size < PIPE_SIZE_MIN || q->size > PIPE_SIZE_MAX || q->bytes > q->size)
        return ck_fail(err, -1, "pipe %u holds %lu bytes in a pipe of %u bytes", r->id,
                       (unsigned long)q->bytes, q->size);
    if (q->ends == 0 || (q->ends & ~(CKPT_PIPE_READ_END | CKPT_PIPE_WRITE_END)))
        return ck_fail(err, -1, "pipe %u has invalid ends %x", r->id, q->ends);
    if (q->bytes && !(q->ends & CKPT_PIPE_READ_END))
        return ck_fail(err, -1, "pipe %u holds bytes nobody can read (no read end)", r->id);
    if (q->extent.length != CK_PAGE_UP(q->bytes))
        return ck_fail(err, -1, "the data of pipe %u is %lu bytes long, it holds %lu", r->id,
                       (unsigned long)q->extent.length, (unsigned long)q->bytes);
    w->file_has_pipe = 1;
    return 0;
}

/* A PIPE_END follows its FILE (and the PIPE it may introduce), names a PIPE before it, and
 * is the end the FILE's access mode says: a read end is O_RDONLY, a write end O_WRONLY. */
static int check_pipe_end(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                          struct ck_error *err)
{
    (void)v;
    const struct ckpt_pipe_end_record *e = (const void *)r;
    const struct ckpt_file_record *f = object_before(w, e->file);
    int follows = w->prev_kind == CKPT_REC_FILE || w->prev_kind == CKPT_REC_PIPE;
    if (!f || !follows || f->kind != CKPT_FD_PIPE || w->file_has_pipe_end)
        return ck_fail(err, -1, "pipe end record without its file record (file %u)", e->file);
    if (e->pipe < 1 || e->pipe > w->last_id[CKPT_RECI_PIPE])
        return ck_fail(err, -1, "file %u is an end of pipe %u, which is not before it", e->file,
                       e->pipe);
    uint32_t mode = e->end == CKPT_PIPE_END_READ ? O_RDONLY : O_WRONLY;
    if (e->end > CKPT_PIPE_END_WRITE || (f->flags & O_ACCMODE) != mode)
        return ck_fail(err, -1, "file %u (%s) is not the %s end of a pipe", e->file, f->path,
                       e->end == CKPT_PIPE_END_WRITE ? "write" : "read");
    w->file_has_pipe_end = 1;
    return 0;
}

/* A SOCKPAIR follows the FILE of its first end, before that end's SOCKET_END. */
static int check_sockpair(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                          struct ck_error *err)
{
    (void)v;
    const struct ckpt_sockpair_record *q = (const void *)r;
    const struct ckpt_file_record *f = w->file;
    if (!f || w->prev_kind != CKPT_REC_FILE || f->kind != CKPT_FD_SOCKET || w->file_has_pair)
        return ck_fail(err, -1, "socket pair record %u without the file record of its first end",
                       r->id);
    if (r->id == 0)
        return ck_fail(err, -1, "socket pair record without an id");
    if (q->type != CKPT_SOCK_STREAM && q->type != CKPT_SOCK_DGRAM && q->type != CKPT_SOCK_SEQPACKET)
        return ck_fail(err, -1, "socket pair %u has unknown type %u", r->id, q->type);
    if (q->ends == 0 || (q->ends & ~(CKPT_SOCK_END0 | CKPT_SOCK_END1)))
        return ck_fail(err, -1, "socket pair %u has invalid ends %x", r->id, q->ends);
    w->file_has_pair = 1;
    return 0;
}

/* A SOCKET_END follows its FILE (and the SOCKPAIR it may introduce) and names a SOCKPAIR
 * before it; its queue's framing is checked with its data, at restore. */
static int check_socket_end(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                            struct ck_error *err)
{
    (void)v;
    const struct ckpt_socket_end_record *e = (const void *)r;
    const struct ckpt_file_record *f = object_before(w, e->file);
    int follows = w->prev_kind == CKPT_REC_FILE || w->prev_kind == CKPT_REC_SOCKPAIR;
    if (!f || !follows || f->kind != CKPT_FD_SOCKET || w->file_has_sock_end)
        return ck_fail(err, -1, "socket end record without its file record (file %u)", e->file);
    if (e->pair < 1 || e->pair > w->last_id[CKPT_RECI_SOCKPAIR] || e->end > 1)
        return ck_fail(err, -1, "file %u is end %u of socket pair %u, which is not before it",
                       e->file, e->end, e->pair);
    if (e->extent.length != CK_PAGE_UP(e->bytes) || e->peek_off < -1 ||
        (e->nmsgs && e->bytes < 4ull * e->nmsgs))
        return ck_fail(err, -1, "the queue of socket %u (%s) is malformed", e->file, f->path);
    w->file_has_sock_end = 1;
    return 0;
}

static int check_end(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                     struct ck_error *err)
{
    const struct ckpt_end_record *e = (const void *)r;
    if (e->nrecords != w->nrecords || w->pos + r->length != v->meta_len)
        return ck_fail(err, -1, "bad end record");
    return 0;
}

/* The checks of the record's own kind: generated from the registry, so that a kind without
 * a check_<name> does not compile. */
static int check_known(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
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

/* A record of a kind this reader does not know: refused if critical, else skipped — but
 * the data it owns still tiles the data section. */
static int check_unknown(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                         struct ck_error *err)
{
    if (r->flags & CKPT_RECF_CRITICAL)
        return ck_fail(err, -1, "needs record kind 0x%04x, which this restore-run does not know",
                       r->kind);
    return r->flags & CKPT_RECF_DATA ? check_extent(v, w, r, err) : 0;
}

/* Ids run 1..n in file order per kind; a kind without objects has id 0 throughout. */
static int check_id(struct walk *w, int index, const struct ckpt_record_head *r,
                    struct ck_error *err)
{
    if (r->id && r->id != w->last_id[index] + 1)
        return ck_fail(err, -1, "%s record at metadata offset %lu has id %u, expected %u",
                       kind_text(r->kind).s, (unsigned long)w->pos, r->id, w->last_id[index] + 1);
    if (r->id)
        w->last_id[index] = r->id;
    return 0;
}

static int check_record(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                        struct ck_error *err)
{
    if (r->flags & CKPT_RECF_REFUSE_MASK)
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
    if (w->runs_left && r->kind != CKPT_REC_RUN)
        return ck_fail(err, -1, "region %lx-%lx is missing %u page runs",
                       (unsigned long)w->region->start, (unsigned long)w->region->end,
                       w->runs_left);
    if (check_id(w, index, r, err) || check_known(v, w, r, err) ||
        ((flags & CKPT_RECF_DATA) && check_extent(v, w, r, err)))
        return -1;
    w->prev_kind = (int)r->kind;
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
    struct walk w = {.next_data = CKPT_HEADER_SIZE, .last_fd = -1};
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
    if (w.runs_left)
        return ck_fail(err, -1, "last region is missing page runs");
    if (w.next_data != v->hdr->meta_offset)
        return ck_fail(err, -1, "the page runs cover %lu bytes of a %lu-byte data section",
                       (unsigned long)(w.next_data - CKPT_HEADER_SIZE),
                       (unsigned long)(v->hdr->meta_offset - CKPT_HEADER_SIZE));
    if (!v->proc)
        return ck_fail(err, -1, "image has no process record");
    if (v->nthreads == 0 || v->nthreads != v->proc->nthreads)
        return ck_fail(err, -1, "the process record counts %u threads, the image has %u",
                       v->proc->nthreads, v->nthreads);
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
static int inside_region(const struct image_view *v, uint64_t addr, uint64_t len, uint32_t prot)
{
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        const struct ckpt_region_record *g = (const void *)r;
        if (r->kind == CKPT_REC_REGION && addr >= g->start && addr < g->end &&
            len <= g->end - addr && (g->prot & prot) == prot)
            return 1;
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
