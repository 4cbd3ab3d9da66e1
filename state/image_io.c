/* Image writer and validator; see image_io.h. */
#include "image_io.h"
#include "hash.h"
#include "sys.h"
#include "../include/ckpt/protocol.h" /* struct ckpt_restore_info */

#include <asm/errno.h>

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
    h->kind = kind;
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
        if (r->kind == CKPT_REC_FILE_DATA) {
            struct ckpt_file_data_record *d = (void *)(w->meta + w->meta_len - r->length);
            d->file_offset += shift;
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
    hdr->version = CKPT_IMAGE_VERSION;
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
    if (h->version != CKPT_IMAGE_VERSION)
        return ck_fail(err, -1, "image format version %u, this ckpt reads version %u", h->version,
                       CKPT_IMAGE_VERSION);
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
    uint64_t last_region_end;
    const struct ckpt_region_record *region;
    uint32_t runs_left;
    uint64_t last_run_end;
    uint64_t next_data; /* runs tile the data section in order: where the next one starts */
    int32_t last_fd;
    const struct ckpt_fd_record *fd_rec; /* the record just before, if an FD record */
    int prev_kind;                       /* kind of the record just before */
    uint32_t region_kinds;               /* bit per region kind seen */
};

static int check_process(struct image_view *v, const struct ckpt_record_head *r,
                         struct ck_error *err)
{
    const struct ckpt_process_record *p = (const void *)r;
    if (v->proc)
        return ck_fail(err, -1, "image has two process records");
    if (r->length < sizeof *p)
        return ck_fail(err, -1, "process record too short");
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

static int check_region(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                        struct ck_error *err)
{
    const struct ckpt_region_record *g = (const void *)r;
    if (r->length < sizeof *g || !path_ok(g->path, g->path_len, (const char *)r + r->length))
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

static int check_run(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                     struct ck_error *err)
{
    const struct ckpt_run_record *u = (const void *)r;
    const struct ckpt_region_record *g = w->region;
    if (r->length < sizeof *u || !g || w->runs_left == 0)
        return ck_fail(err, -1, "page run outside of a region");
    if (u->addr % CKPT_PAGE_SIZE || u->length % CKPT_PAGE_SIZE || u->length == 0 ||
        u->addr < w->last_run_end || u->addr > g->end || u->length > g->end - u->addr)
        return ck_fail(err, -1, "page run %lx+%lx does not fit region %lx-%lx",
                       (unsigned long)u->addr, (unsigned long)u->length, (unsigned long)g->start,
                       (unsigned long)g->end);
    /* A stored page of a file mapping is a private copy of a page the program touched:
     * the file had that page (a page past its end cannot be touched, nor filled in). */
    int file_backed = g->kind == CKPT_REGION_FILE_PRIVATE || g->kind == CKPT_REGION_FILE_SHARED;
    if (file_backed && g->file_offset + (u->addr - g->start) + u->length > CK_PAGE_UP(g->file.size))
        return ck_fail(err, -1, "page run %lx+%lx lies past the end of %s", (unsigned long)u->addr,
                       (unsigned long)u->length, g->path);
    if (!in_data_section(v, u->file_offset, u->length))
        return ck_fail(err, -1, "page run %lx+%lx points outside the data section",
                       (unsigned long)u->addr, (unsigned long)u->length);
    if (u->file_offset != w->next_data)
        return ck_fail(err, -1, "page run %lx+%lx is at file offset %lu, expected %lu",
                       (unsigned long)u->addr, (unsigned long)u->length,
                       (unsigned long)u->file_offset, (unsigned long)w->next_data);
    w->next_data += u->length;
    w->last_run_end = u->addr + u->length;
    w->runs_left--;
    v->nruns++;
    return 0;
}

static int check_fd(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                    struct ck_error *err)
{
    const struct ckpt_fd_record *f = (const void *)r;
    if (r->length < sizeof *f || !path_ok(f->path, f->path_len, (const char *)r + r->length))
        return ck_fail(err, -1, "malformed descriptor record");
    if (f->fd < 0 || f->fd > (1 << 20) || f->fd <= w->last_fd)
        return ck_fail(err, -1, "descriptor number %d is invalid or out of order", f->fd);
    if (f->kind < CKPT_FD_FILE || f->kind > CKPT_FD_CHARDEV)
        return ck_fail(err, -1, "descriptor %d has unknown kind %u", f->fd, f->kind);
    /* Reopened with these flags: an access mode of 3 (no read, no write) or a flag Linux
     * does not have would make the reopened file unusable. */
    if ((f->flags & 3u) == 3u || (f->flags & ~KNOWN_OPEN_FLAGS))
        return ck_fail(err, -1, "descriptor %d has invalid file status flags %x", f->fd, f->flags);
    if (f->offset > (uint64_t)INT64_MAX)
        return ck_fail(err, -1, "descriptor %d has an impossible file offset %lu", f->fd,
                       (unsigned long)f->offset);
    if (f->shares_with >= f->fd || f->shares_with < -1)
        return ck_fail(err, -1, "descriptor %d shares with invalid descriptor %d", f->fd,
                       f->shares_with);
    w->last_fd = f->fd;
    v->nfds++;
    return 0;
}

static int check_file_data(struct image_view *v, struct walk *w, const struct ckpt_fd_record *f,
                           const struct ckpt_record_head *r, struct ck_error *err)
{
    const struct ckpt_file_data_record *d = (const void *)r;
    if (r->length < sizeof *d || !f || f->kind != CKPT_FD_FILE || d->fd != f->fd)
        return ck_fail(err, -1, "file contents record without its descriptor record");
    if (d->length != CK_PAGE_UP(d->size) || d->length < d->size ||
        !in_data_section(v, d->file_offset, d->length))
        return ck_fail(err, -1, "contents of descriptor %d point outside the data section", d->fd);
    /* File contents follow the page runs in the data section, tiling it like them. */
    if (d->file_offset != w->next_data)
        return ck_fail(err, -1, "contents of descriptor %d are at file offset %lu, expected %lu",
                       d->fd, (unsigned long)d->file_offset, (unsigned long)w->next_data);
    w->next_data += d->length;
    return 0;
}

static int check_lock(int prev_kind, int32_t last_fd, const struct ckpt_record_head *r,
                      struct ck_error *err)
{
    const struct ckpt_lock_record *l = (const void *)r;
    int follows =
        prev_kind == CKPT_REC_FD || prev_kind == CKPT_REC_FILE_DATA || prev_kind == CKPT_REC_LOCK;
    if (r->length < sizeof *l || !follows || l->fd != last_fd)
        return ck_fail(err, -1, "lock record without its descriptor record");
    if (l->type > CKPT_LOCK_WRITE || l->start > l->end || l->start > (uint64_t)INT64_MAX ||
        (l->end != CKPT_LOCK_TO_EOF && l->end > (uint64_t)INT64_MAX))
        return ck_fail(err, -1, "malformed lock record of descriptor %d", l->fd);
    return 0;
}

static int check_terminal(const struct ckpt_fd_record *f, const struct ckpt_record_head *r,
                          struct ck_error *err)
{
    const struct ckpt_terminal_record *t = (const void *)r;
    if (r->length < sizeof *t || !f || f->kind != CKPT_FD_TTY || t->fd != f->fd)
        return ck_fail(err, -1, "terminal record without its descriptor record");
    return 0;
}

static int check_record(struct image_view *v, struct walk *w, const struct ckpt_record_head *r,
                        struct ck_error *err)
{
    if (w->runs_left && r->kind != CKPT_REC_RUN)
        return ck_fail(err, -1, "region %lx-%lx is missing %u page runs",
                       (unsigned long)w->region->start, (unsigned long)w->region->end,
                       w->runs_left);
    const struct ckpt_fd_record *fd_before = w->fd_rec;
    int prev_kind = w->prev_kind;
    w->fd_rec = r->kind == CKPT_REC_FD ? (const void *)r : 0;
    w->prev_kind = (int)r->kind;
    switch (r->kind) {
    case CKPT_REC_PROCESS:
        return check_process(v, r, err);
    case CKPT_REC_REGION:
        return v->nfds ? ck_fail(err, -1, "region after descriptors") : check_region(v, w, r, err);
    case CKPT_REC_RUN:
        return check_run(v, w, r, err);
    case CKPT_REC_FD:
        return check_fd(v, w, r, err);
    case CKPT_REC_FILE_DATA:
        return check_file_data(v, w, fd_before, r, err);
    case CKPT_REC_LOCK:
        return check_lock(prev_kind, w->last_fd, r, err);
    case CKPT_REC_TERMINAL:
        return check_terminal(fd_before, r, err);
    default:
        return 0; /* unknown kinds are skipped */
    }
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
    uint64_t pos = 0;
    uint32_t nrecords = 0;
    for (;;) {
        const struct ckpt_record_head *r = (const void *)(v->meta + pos);
        if (v->meta_len - pos < sizeof *r || r->length < sizeof *r || r->length % 8 ||
            r->length > v->meta_len - pos)
            return ck_fail(err, -1, "malformed record at metadata offset %lu", (unsigned long)pos);
        if (r->kind == CKPT_REC_END) {
            const struct ckpt_end_record *e = (const void *)r;
            if (r->length < sizeof *e || e->nrecords != nrecords || pos + r->length != v->meta_len)
                return ck_fail(err, -1, "bad end record");
            break;
        }
        rc = check_record(v, &w, r, err);
        if (rc)
            return rc;
        pos += r->length;
        nrecords++;
    }
    if (w.runs_left)
        return ck_fail(err, -1, "last region is missing page runs");
    if (w.next_data != v->hdr->meta_offset)
        return ck_fail(err, -1, "the page runs cover %lu bytes of a %lu-byte data section",
                       (unsigned long)(w.next_data - CKPT_HEADER_SIZE),
                       (unsigned long)(v->hdr->meta_offset - CKPT_HEADER_SIZE));
    if (!v->proc)
        return ck_fail(err, -1, "image has no process record");
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
                   (unsigned long)u->addr, (unsigned long)(u->addr + u->length),
                   (unsigned long)g->start, (unsigned long)g->end, image_region_name(g->path));
}

int image_verify_file_data(const struct image_view *v, struct ck_error *err)
{
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        const struct ckpt_file_data_record *d = (const void *)r;
        if (r->kind == CKPT_REC_FILE_DATA &&
            ck_hash64(v->base + d->file_offset, d->length) != d->checksum)
            return ck_fail(err, -1,
                           "checksum mismatch in the stored contents of descriptor %d "
                           "(corrupted image)",
                           d->fd);
    }
    return 0;
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
    if (image_verify_file_data(v, err))
        return -1;
    const struct ckpt_region_record *g = 0;
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        if (r->kind == CKPT_REC_REGION)
            g = (const void *)r;
        const struct ckpt_run_record *u = (const void *)r;
        if (r->kind == CKPT_REC_RUN &&
            ck_hash64(v->base + u->file_offset, u->length) != u->checksum)
            return image_fail_run(g, u, err);
    }
    return 0;
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

/* The saved context, the restore record and the thread's data: the core jumps to, writes
 * to, and registers these addresses after its point of no return. */
static int check_thread_addresses(const struct image_view *v, struct ck_error *err)
{
    const struct ckpt_process_record *p = v->proc;
    if (!inside_region(v, p->context.rip, 1, CKPT_PROT_EXEC))
        return ck_fail(err, -1, "the saved instruction pointer %lx is outside the saved code",
                       (unsigned long)p->context.rip);
    if (p->context.rsp < 8 || !inside_region(v, p->context.rsp - 8, 8, RW))
        return ck_fail(err, -1, "the saved stack pointer %lx is outside the saved memory",
                       (unsigned long)p->context.rsp);
    if (!inside_region(v, p->restore_info_addr, sizeof(struct ckpt_restore_info), RW))
        return ck_fail(err, -1, "the restore record at %lx is outside the saved memory",
                       (unsigned long)p->restore_info_addr);
    if (!inside_region(v, p->fs_base, 8, CKPT_PROT_READ))
        return ck_fail(err, -1, "the FS base %lx is outside the saved memory",
                       (unsigned long)p->fs_base);
    if (p->gs_base >= USER_ADDR_MAX)
        return ck_fail(err, -1, "the GS base %lx is not a user address", (unsigned long)p->gs_base);
    if (p->tid_addr && (p->tid_addr % 4 || !inside_region(v, p->tid_addr, 4, RW)))
        return ck_fail(err, -1, "the thread id address %lx is outside the saved memory",
                       (unsigned long)p->tid_addr);
    if (p->rseq_addr && (p->rseq_len != RSEQ_AREA_LEN || p->rseq_addr % RSEQ_AREA_LEN ||
                         !inside_region(v, p->rseq_addr, p->rseq_len, RW)))
        return ck_fail(err, -1, "the rseq area %lx (%u bytes) is not a valid registration",
                       (unsigned long)p->rseq_addr, p->rseq_len);
    if (p->robust_list && (p->robust_list_len != ROBUST_LIST_HEAD_LEN ||
                           !inside_region(v, p->robust_list, ROBUST_LIST_HEAD_LEN, RW)))
        return ck_fail(err, -1, "the robust futex list %lx (%lu bytes) is not a valid list head",
                       (unsigned long)p->robust_list, (unsigned long)p->robust_list_len);
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
    if ((p->sigmask | p->sigpending) & UNBLOCKABLE)
        return ck_fail(err, -1, "SIGKILL or SIGSTOP is blocked or pending in the saved state");
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

/* A descriptor that shares its open file with a lower one is installed as a copy of it: that
 * one must be in the image. */
static int check_sharing(const struct image_view *v, struct ck_error *err)
{
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        const struct ckpt_fd_record *f = (const void *)r;
        if (r->kind != CKPT_REC_FD || f->shares_with < 0)
            continue;
        int found = 0;
        for (const struct ckpt_record_head *q = image_first(v); q && q != r; q = image_next(v, q))
            found |=
                q->kind == CKPT_REC_FD && ((const struct ckpt_fd_record *)q)->fd == f->shares_with;
        if (!found)
            return ck_fail(err, -1, "descriptor %d shares with descriptor %d, which is not saved",
                           f->fd, f->shares_with);
    }
    return 0;
}

int image_check_restore_values(const struct image_view *v, struct ck_error *err)
{
    if (check_thread_addresses(v, err) || check_mm_fields(v->proc, err) || check_signals(v, err) ||
        check_limits_and_timers(v->proc, err) || check_sharing(v, err))
        return -1;
    return 0;
}

const struct ckpt_record_head *image_first(const struct image_view *v)
{
    if (!v->meta || v->meta_len < sizeof(struct ckpt_record_head))
        return 0;
    const struct ckpt_record_head *r = (const void *)v->meta;
    return r->kind == CKPT_REC_END ? 0 : r;
}

const struct ckpt_record_head *image_next(const struct image_view *v,
                                          const struct ckpt_record_head *r)
{
    const unsigned char *n = (const unsigned char *)r + r->length;
    if (n >= v->meta + v->meta_len)
        return 0;
    r = (const void *)n;
    return r->kind == CKPT_REC_END ? 0 : r;
}
