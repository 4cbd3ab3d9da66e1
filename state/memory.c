/* Memory regions; see memory.h. */
#include "memory.h"
#include "page_hashes.h"
#include "image_check.h"
#include "identity.h"
#include "hash.h"
#include "maps.h"
#include "sys.h"
#include "plan.h"
#include "fd_memfile.h"
#include "chain.h"
#include "../include/ckpt/protocol.h" /* struct ckpt_restore_info: the --lazy list */

#include <asm/errno.h>
#include <linux/mman.h>
#include <linux/fcntl.h>

#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_FILE (1ULL << 61) /* page cache or shared anonymous page, i.e. not a private copy */

/* ======================================================================================
 * save side: runs in the checkpoint signal handler, raw syscalls only
 * ====================================================================================== */

/* Which pages of a region the image must hold. */
enum page_policy {
    PAGES_NONE,    /* all of it comes back from a file or the kernel */
    PAGES_PRIVATE, /* present or swapped pages of anonymous memory */
    PAGES_COPIED,  /* private copies in a file mapping (written or relocated pages) */
    PAGES_ALL,     /* everything: nothing else holds the contents */
};

static enum page_policy policy_of(uint32_t kind)
{
    switch (kind) {
    case CKPT_REGION_ANON:
    case CKPT_REGION_HEAP:
    case CKPT_REGION_STACK:
        return PAGES_PRIVATE;
    case CKPT_REGION_FILE_PRIVATE:
        return PAGES_COPIED;
    case CKPT_REGION_SHARED_ANON:
    case CKPT_REGION_DELETED_PRIVATE:
    case CKPT_REGION_VDSO:
        return PAGES_ALL;
    default:
        return PAGES_NONE;
    }
}

/* Memory that comes back zero-filled when it is mapped again at restore: its pages of zeros
 * need not be stored. Not so in a private file map, where the file has other data under a
 * page the program cleared. */
static int zeros_come_back(uint32_t kind)
{
    return kind == CKPT_REGION_ANON || kind == CKPT_REGION_HEAP || kind == CKPT_REGION_STACK ||
           kind == CKPT_REGION_SHARED_ANON;
}

/* Stops at the first non-zero word, so a page with data costs one cache line. */
static int page_is_zero(uint64_t addr)
{
    const uint64_t *w = (const uint64_t *)addr;
    for (size_t i = 0; i < CK_PAGE / 8; i++)
        if (w[i])
            return 0;
    return 1;
}

/* For PAGES_PRIVATE and PAGES_COPIED: is the page with pagemap entry pme to be stored? */
static int page_wanted(enum page_policy policy, uint64_t pme)
{
    if (policy == PAGES_PRIVATE)
        return (pme & (PM_PRESENT | PM_SWAPPED)) != 0;
    if (policy == PAGES_COPIED)
        return (pme & PM_SWAPPED) || ((pme & PM_PRESENT) && !(pme & PM_FILE));
    return 0;
}

/* Sorts a mapping into a region kind. Returns the kind, 0 to leave it out of the image, or
 * -1 with err set when the process holds memory ckpt cannot restore. */
static int classify(const struct map_entry *e, struct ck_error *err)
{
    const char *p = e->path;
    int deleted = ck_ends_with(p, " (deleted)");
    if (ck_streq(p, "[vsyscall]"))
        return 0; /* fixed by the kernel, the same in every process */
    if (ck_streq(p, "[vdso]"))
        return CKPT_REGION_VDSO;
    if (ck_streq(p, "[vvar]"))
        return CKPT_REGION_VVAR;
    if (ck_streq(p, "[vvar_vclock]"))
        return CKPT_REGION_VVAR_VCLOCK;
    if (ck_streq(p, "[heap]"))
        return CKPT_REGION_HEAP;
    if (ck_streq(p, "[stack]"))
        return CKPT_REGION_STACK;
    if (ck_starts_with(p, "/SYSV"))
        return ck_fail(err, -1, "System V shared memory at %lx-%lx is not supported",
                       (unsigned long)e->start, (unsigned long)e->end);
    if (p[0] == 0 || ck_starts_with(p, "[anon:") || ck_starts_with(p, "[anon_shmem:"))
        return e->shared ? CKPT_REGION_SHARED_ANON : CKPT_REGION_ANON;
    if (p[0] == '[')
        return ck_fail(err, -1, "special mapping %s at %lx-%lx is not supported", p,
                       (unsigned long)e->start, (unsigned long)e->end);
    if (deleted || ck_starts_with(p, "/memfd:"))
        return e->shared ? CKPT_REGION_SHARED_ANON : CKPT_REGION_DELETED_PRIVATE;
    if (ck_starts_with(p, "/dev/") && !ck_starts_with(p, "/dev/shm/"))
        return ck_fail(err, -1, "device mapping %s at %lx-%lx is not supported", p,
                       (unsigned long)e->start, (unsigned long)e->end);
    if (p[0] != '/')
        return ck_fail(err, -1, "mapping %s at %lx-%lx is not supported", p,
                       (unsigned long)e->start, (unsigned long)e->end);
    return e->shared ? CKPT_REGION_FILE_SHARED : CKPT_REGION_FILE_PRIVATE;
}

/* The mapped file's identity. A path that now names another file than the mapped one (it
 * was replaced) is treated as deleted: the pages are stored instead. */
static int identify_mapped_file(const struct map_entry *e, struct ckpt_file_identity *id)
{
    long fd = sys_openat(AT_FDCWD, e->path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc = identity_read((int)fd, id);
    char magic[8];
    int image = sys_pread((int)fd, magic, 8, 0) == 8 && !ck_memcmp(magic, CKPT_IMAGE_MAGIC, 8);
    sys_close((int)fd);
    /* Pages a lazy restore mapped from a checkpoint image: that image is replaced by the
     * next checkpoint, so they are stored like those of a deleted file. */
    return rc == 0 && id->ino == e->inode && !image ? 0 : -1;
}

/* PAGEMAP_SCAN (memory.h) skips page tables that are empty, so a reservation of terabytes
 * that was never touched costs nothing to scan — read entry by entry, pagemap costs a
 * second per 2 TiB. */

struct run_scan {
    struct image_writer *w;
    int pagemap_fd;
    int use_scan; /* 1: PAGEMAP_SCAN works here; 0: read pagemap entries */
    uint64_t *pm; /* buffer for pagemap entries or scan results */
    size_t pm_entries;
    uint32_t nruns;
    int skip_zero_pages;         /* the region's zeros come back by themselves */
    uint32_t memfile;            /* the MEMFILE object the mapping being saved maps, or 0 */
    uint64_t run_start, run_len; /* the run being built */
    /* Incremental images: where the unwritten pages are (cursors into inc's ascending lists
     * and the base's records: pages come in address order), and the reference being built. */
    const struct memory_incremental *inc;
    struct page_hashes *hashes; /* huge pages: kept in the parent by content */
    int refs_allowed;           /* the region's pages may stay in a parent */
    size_t tracked_at, written_at;
    const struct ckpt_record_head *base_at;
    uint64_t ref_start, ref_len, ref_skip;
    struct ckpt_extent ref_run;
    uint32_t ref_parent;
    /* The base's record a reference takes its pages from: one never spans two (a restore
     * checks it against that one RUN of the parent). */
    const struct ckpt_record_head *ref_from;
};

/* Appends [addr, addr+len) as RUN records of at most CKPT_RUN_SPLIT bytes each. */
static int add_run(struct run_scan *s, uint64_t addr, uint64_t len)
{
    for (uint64_t done = 0; done < len && !s->w->error;) {
        uint64_t n = len - done < CKPT_RUN_SPLIT ? len - done : CKPT_RUN_SPLIT;
        if (!iw_run(s->w, addr + done, n))
            break;
        s->nruns++;
        done += n;
    }
    return s->w->error;
}

static int end_run(struct run_scan *s)
{
    uint64_t len = s->run_len;
    s->run_len = 0;
    return len ? add_run(s, s->run_start, len) : 0;
}

/* Does range list r (ascending) hold addr? *at moves forward only: addresses come in order. */
static int in_ranges(const struct memory_range *r, size_t n, size_t *at, uint64_t addr)
{
    while (*at < n && r[*at].end <= addr)
        (*at)++;
    return *at < n && r[*at].start <= addr;
}

/* Where the pages of a RUN or RUN_REF record of the base are, as the new image names them:
 * the base is its PARENT 1, the base's parent k its k + 1; the RUN extent holding them and
 * how far into it the record starts. 0 for other records. */
static int base_pages(const struct ckpt_record_head *r, uint64_t *start, uint64_t *len,
                      uint32_t *parent, struct ckpt_extent *run, uint64_t *skip)
{
    if (!chain_pages_of(r, start, len))
        return 0;
    const struct ckpt_run_ref_record *ref = (const void *)r;
    const struct ckpt_run_record *u = (const void *)r;
    *parent = r->kind == CKPT_REC_RUN ? 1 : ref->parent + 1;
    *run = r->kind == CKPT_REC_RUN ? u->extent : ref->run;
    *skip = r->kind == CKPT_REC_RUN ? 0 : ref->skip;
    return 1;
}

/* Where the base image chain holds the page at addr: 1 with *parent, *run and *skip, or 0. */
static int base_holds(struct run_scan *s, uint64_t addr, uint32_t *parent, struct ckpt_extent *run,
                      uint64_t *skip)
{
    for (; s->base_at; s->base_at = image_next(s->inc->base, s->base_at)) {
        uint64_t start, len;
        if (!base_pages(s->base_at, &start, &len, parent, run, skip) || start + len <= addr)
            continue;
        if (start > addr)
            return 0;
        *skip += addr - start;
        return 1;
    }
    return 0;
}

/* A page tracked since before the previous checkpoint, not written since, is as that image
 * chain holds it. A tracked page the chain does not hold was a page of zeros then (left
 * out), or is one the chain cannot vouch for: it is stored as in a full image. changed: a
 * huge page's verdict by content (page_hashes_changed), or -1: the write tracking's. */
static int page_kept_in_parent(struct run_scan *s, uint64_t addr, int changed, uint32_t *parent,
                               struct ckpt_extent *run, uint64_t *skip)
{
    const struct memory_incremental *inc = s->inc;
    if (!s->refs_allowed || !in_ranges(inc->tracked, inc->ntracked, &s->tracked_at, addr))
        return 0;
    int written =
        changed >= 0 ? changed : in_ranges(inc->written, inc->nwritten, &s->written_at, addr);
    return !written && base_holds(s, addr, parent, run, skip);
}

static int end_ref(struct run_scan *s)
{
    if (!s->ref_len)
        return 0;
    struct ckpt_run_ref_record *u = iw_record(s->w, CKPT_REC_RUN_REF, sizeof *u, 0);
    if (u) {
        u->parent = s->ref_parent;
        u->addr = s->ref_start;
        u->length = s->ref_len;
        u->skip = s->ref_skip;
        u->run = s->ref_run;
        s->nruns++;
    }
    s->ref_len = 0;
    return s->w->error;
}

/* An unwritten page: it extends the reference being built, or ends it (and the run being
 * built) and starts the next. */
static int add_kept_page(struct run_scan *s, uint64_t addr, uint32_t parent,
                         const struct ckpt_extent *run, uint64_t skip)
{
    if (s->ref_len && s->ref_from == s->base_at && s->ref_start + s->ref_len == addr) {
        s->ref_len += CK_PAGE;
        return 0;
    }
    int rc = end_run(s);
    if (rc == 0)
        rc = end_ref(s);
    s->ref_start = addr;
    s->ref_len = CK_PAGE;
    s->ref_skip = skip;
    s->ref_run = *run;
    s->ref_parent = parent;
    s->ref_from = s->base_at;
    return rc;
}

/* A wanted page: it extends the run being built, or ends it and starts the next. Pages of
 * zeros are left out where they come back by themselves; pages unwritten since the
 * previous checkpoint of an incremental image stay where they are. */
static int add_page(struct run_scan *s, uint64_t addr)
{
    uint32_t parent;
    struct ckpt_extent run;
    uint64_t skip;
    int changed = s->hashes ? page_hashes_changed(s->hashes, addr) : -1;
    if (s->inc && page_kept_in_parent(s, addr, changed, &parent, &run, &skip))
        return add_kept_page(s, addr, parent, &run, skip);
    if (s->skip_zero_pages && page_is_zero(addr))
        return 0;
    if (end_ref(s))
        return s->w->error;
    if (s->run_len && s->run_start + s->run_len == addr) {
        s->run_len += CK_PAGE;
        return 0;
    }
    int rc = end_run(s);
    s->run_start = addr;
    s->run_len = CK_PAGE;
    return rc;
}

/* The wanted pages of [start, end) by PAGEMAP_SCAN. Returns 0, -errno, or -ENOTTY if the
 * kernel has no such ioctl (then nothing was added). */
static int scan_ranges(struct run_scan *s, uint64_t start, uint64_t end, enum page_policy policy)
{
    struct page_region *found = (struct page_region *)s->pm;
    uint64_t not_file = policy == PAGES_COPIED ? PAGE_IS_FILE : 0; /* private copies only */
    struct pm_scan_arg a = {.size = sizeof a,
                            .start = start,
                            .end = end,
                            .vec = (uint64_t)found,
                            .vec_len = s->pm_entries * 8 / sizeof *found,
                            .category_inverted = not_file,
                            .category_mask = not_file,
                            .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED};
    for (int first = 1;; first = 0) {
        long n = sys_ioctl(s->pagemap_fd, PAGEMAP_SCAN, &a);
        if (n < 0 && first && (n == -ENOTTY || n == -EINVAL))
            return -ENOTTY;
        if (n < 0)
            return (int)n;
        for (long i = 0; i < n; i++)
            for (uint64_t addr = found[i].start; addr < found[i].end; addr += CK_PAGE)
                if (add_page(s, addr))
                    return s->w->error;
        /* Room left: the kernel walked to the end. Else go on after what it reported: its
         * walk_end can lag behind that (seen on 6.18 when the results fill its internal
         * buffer more than once in one call). */
        if ((uint64_t)n < a.vec_len)
            return 0;
        uint64_t next = found[n - 1].end > a.walk_end ? found[n - 1].end : a.walk_end;
        if (next >= end)
            return 0;
        a.start = next;
    }
}

/* Every page of [start, end): nothing else holds their contents. */
static int every_page(struct run_scan *s, uint64_t start, uint64_t end)
{
    for (uint64_t addr = start; addr < end; addr += CK_PAGE)
        if (add_page(s, addr))
            return s->w->error;
    return 0;
}

/* The wanted pages of [start, end) by reading pagemap entries, a chunk at a time. */
static int read_entries(struct run_scan *s, uint64_t start, uint64_t end, enum page_policy policy)
{
    for (uint64_t addr = start; addr < end;) {
        size_t n = (size_t)((end - addr) / CK_PAGE);
        if (n > s->pm_entries)
            n = s->pm_entries;
        long r = sys_pread(s->pagemap_fd, s->pm, n * 8, addr / CK_PAGE * 8);
        if (r < (long)(n * 8))
            return r < 0 ? (int)r : -EIO;
        for (size_t i = 0; i < n; i++, addr += CK_PAGE)
            if (page_wanted(policy, s->pm[i]) && add_page(s, addr))
                return s->w->error;
    }
    return 0;
}

/* Appends RUN records for the wanted pages of [start, end). */
static int save_runs(struct run_scan *s, uint64_t start, uint64_t end, enum page_policy policy)
{
    if (policy == PAGES_ALL && !s->skip_zero_pages)
        return add_run(s, start, end - start);
    s->run_len = 0;
    int rc = -ENOTTY;
    if (policy == PAGES_ALL) {
        rc = every_page(s, start, end);
    } else if (s->use_scan) {
        rc = scan_ranges(s, start, end, policy);
        s->use_scan = rc != -ENOTTY; /* a kernel before 6.7: not again */
    }
    if (rc == -ENOTTY)
        rc = read_entries(s, start, end, policy);
    if (rc == 0)
        rc = end_run(s);
    return rc ? rc : end_ref(s);
}

static int to_mmap_prot(uint32_t prot)
{
    return (prot & CKPT_PROT_READ ? PROT_READ : 0) | (prot & CKPT_PROT_WRITE ? PROT_WRITE : 0) |
           (prot & CKPT_PROT_EXEC ? PROT_EXEC : 0);
}

/* A shared mapping of a MEMFILE object: its offset in the file and the MEMFILE_MAP naming
 * the object; the pages are the object's (fd_memfd.c). */
static int save_memfile_map(struct run_scan *s, struct ckpt_region_record *g,
                            const struct map_entry *e, struct ck_error *err)
{
    g->file_offset = e->offset + (g->start - e->start);
    struct ckpt_memfile_map_record *map = iw_record(s->w, CKPT_REC_MEMFILE_MAP, sizeof *map, 0);
    if (!map)
        return ck_fail(err, s->w->error, "image metadata: %s", ck_strerror(-s->w->error));
    map->object = s->memfile;
    return 0;
}

/* The kind of a shared mapping of a memfd or deleted file that is one of the objects
 * written: MEMFILE, the same file after the restore; else kind. */
static int memfile_kind(struct run_scan *s, const struct memory_save_args *a,
                        const struct map_entry *e, int kind)
{
    s->memfile = kind == CKPT_REGION_SHARED_ANON && e->shared
                     ? memfile_id_of(a->memfiles, a->nmemfiles, map_entry_dev(e), e->inode)
                     : 0;
    return s->memfile ? CKPT_REGION_MEMFILE : kind;
}

static int save_region(struct run_scan *s, const struct map_entry *e, uint64_t start, uint64_t end,
                       int kind, int without_pages, struct ck_error *err)
{
    struct ckpt_file_identity id;
    if (kind == CKPT_REGION_FILE_PRIVATE || kind == CKPT_REGION_FILE_SHARED) {
        if (identify_mapped_file(e, &id) != 0)
            kind = e->shared ? CKPT_REGION_SHARED_ANON : CKPT_REGION_DELETED_PRIVATE;
    }
    struct ckpt_region_record *g = iw_record(s->w, CKPT_REC_REGION, sizeof *g, e->path);
    if (!g)
        return ck_fail(err, s->w->error, "image metadata: %s", ck_strerror(-s->w->error));
    g->start = start;
    g->end = end;
    g->prot = e->prot;
    g->kind = (uint32_t)kind;
    g->path_len = (uint32_t)ck_strlen(e->path);
    if (kind == CKPT_REGION_FILE_PRIVATE || kind == CKPT_REGION_FILE_SHARED) {
        g->file_offset = e->offset + (start - e->start);
        g->file = id;
    }
    if (kind == CKPT_REGION_MEMFILE)
        return save_memfile_map(s, g, e, err);
    enum page_policy policy = without_pages ? PAGES_NONE : policy_of((uint32_t)kind);
    /* Pages we must store but cannot read (PROT_NONE guard areas with data, write-only
     * maps) are made readable for the write and protected again afterwards. */
    int unreadable = policy != PAGES_NONE && !(e->prot & CKPT_PROT_READ);
    if (unreadable)
        sys_mprotect((void *)start, end - start, to_mmap_prot(e->prot) | PROT_READ);
    s->nruns = 0;
    s->skip_zero_pages = zeros_come_back((uint32_t)kind);
    s->refs_allowed = policy == PAGES_PRIVATE || policy == PAGES_COPIED;
    int rc = policy == PAGES_NONE ? 0 : save_runs(s, start, end, policy);
    if (unreadable) {
        iw_flush(s->w);
        sys_mprotect((void *)start, end - start, to_mmap_prot(e->prot));
    }
    g->nruns = s->nruns;
    if (rc || s->w->error)
        return ck_fail(err, rc ? rc : s->w->error, "saving memory %lx-%lx (%s) to the image: %s",
                       (unsigned long)start, (unsigned long)end, image_region_name(e->path),
                       ck_strerror(-(rc ? rc : s->w->error)));
    return 0;
}

/* [start, end) of mapping e, split where ckpt_exclude'd ranges begin and end: those parts
 * are recorded without their pages (the kernel's own mappings keep theirs: the vDSO is
 * rebuilt from them). */
static int save_pieces(struct run_scan *s, const struct memory_save_args *a,
                       const struct map_entry *e, uint64_t start, uint64_t end, int kind,
                       struct ck_error *err)
{
    int rc = 0;
    for (size_t i = 0; i < a->nempty && start < end && rc == 0 && !memory_is_kernels(kind); i++) {
        const struct memory_range *x = &a->empty[i];
        if (x->end <= start || x->start >= end)
            continue;
        if (x->start > start)
            rc = save_region(s, e, start, x->start, kind, 0, err);
        uint64_t stop = x->end < end ? x->end : end;
        if (rc == 0)
            rc = save_region(s, e, x->start > start ? x->start : start, stop, kind, 1, err);
        start = stop;
    }
    return rc == 0 && start < end ? save_region(s, e, start, end, kind, 0, err) : rc;
}

int memory_fork_sees_snapshot(char *maps_buf, size_t maps_cap)
{
    if (ck_read_file("/proc/self/maps", maps_buf, maps_cap) < 0)
        return 0;
    char *cursor = maps_buf;
    struct map_entry e;
    struct ck_error ignored;
    while (maps_next(&cursor, &e) > 0)
        if (classify(&e, &ignored) == CKPT_REGION_SHARED_ANON)
            return 0;
    return 1;
}

/* The writer's own mapping of the previous image (chain_open_base): not the program's. */
static int is_base_mapping(const struct memory_incremental *inc, const struct map_entry *e)
{
    uint64_t start = inc ? (uint64_t)inc->base->base : 0;
    return inc && e->start >= start && e->end <= start + CK_PAGE_UP(inc->base->size);
}

int memory_save(struct image_writer *w, const struct memory_save_args *a, struct ck_error *err)
{
    long n = ck_read_file("/proc/self/maps", a->maps_buf, a->maps_cap);
    if (n < 0)
        return ck_fail(err, (int)n, "reading /proc/self/maps: %s", ck_strerror((int)-n));
    long pmfd = sys_openat(AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
    if (pmfd < 0)
        return ck_fail(err, (int)pmfd, "opening /proc/self/pagemap: %s", ck_strerror((int)-pmfd));
    struct run_scan scan = {.w = w,
                            .pagemap_fd = (int)pmfd,
                            .use_scan = !a->no_pagemap_scan,
                            .pm = a->pagemap,
                            .pm_entries = a->pagemap_entries,
                            .inc = a->inc && a->inc->base ? a->inc : 0,
                            .hashes = a->hashes};
    /* An incremental image's PARENT records are written before (checkpoint.c). */
    if (scan.inc)
        scan.base_at = image_first(scan.inc->base);
    char *cursor = a->maps_buf;
    struct map_entry e;
    int rc = 0, more;
    while (rc == 0 && (more = maps_next(&cursor, &e)) > 0) {
        int kind = classify(&e, err);
        if (kind < 0) {
            rc = -1;
            break;
        }
        if (kind == 0 || is_base_mapping(scan.inc, &e))
            continue;
        kind = memfile_kind(&scan, a, &e, kind);
        /* Our own scratch memory may have merged with a neighbour: save what is left. */
        if (e.start < a->exclude_start && kind)
            rc = save_pieces(&scan, a, &e, e.start,
                             e.end < a->exclude_start ? e.end : a->exclude_start, kind, err);
        if (rc == 0 && e.end > a->exclude_end)
            rc = save_pieces(&scan, a, &e, e.start > a->exclude_end ? e.start : a->exclude_end,
                             e.end, kind, err);
    }
    if (rc == 0 && more < 0)
        rc = ck_fail(err, -1, "unexpected line in /proc/self/maps");
    sys_close((int)pmfd);
    return rc;
}

/* ======================================================================================
 * check side: restore-run phase 1, before anything is changed
 * ====================================================================================== */

static int region_is_file(const struct ckpt_region_record *g)
{
    return g->kind == CKPT_REGION_FILE_PRIVATE || g->kind == CKPT_REGION_FILE_SHARED;
}

/* A file the program also had open for writing may have grown meanwhile; restore cuts it
 * back, so it is checked like a written file. */
static enum identity_rule rule_for(const struct restore_plan *p, const struct ckpt_region_record *g)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct ckpt_file_record *f = p->fds[i].file;
        if (f->file.dev == g->file.dev && f->file.ino == g->file.ino && (f->flags & O_ACCMODE))
            return IDENTITY_GROWN;
    }
    return IDENTITY_SAME;
}

static int opened_writable(const struct ckpt_region_record *g)
{
    return g->kind == CKPT_REGION_FILE_SHARED && (g->prot & CKPT_PROT_WRITE);
}

/* Regions of one file (a library's segments, a file mapped many times) share the descriptor
 * opened for the first: the same path, recorded identity and access. */
static int same_mapped_file(const struct ckpt_region_record *a, const struct ckpt_region_record *b)
{
    return a->path_len == b->path_len && !ck_memcmp(a->path, b->path, a->path_len) &&
           !ck_memcmp(&a->file, &b->file, sizeof a->file) &&
           opened_writable(a) == opened_writable(b);
}

#define RECENT_FILES 16 /* distinct files remembered for sharing, the last opened */

static int open_mapped_file(struct restore_plan *p, struct region_plan *rp, struct ck_error *err)
{
    const struct ckpt_region_record *g = rp->rec;
    struct identity_found now;
    long fd = identity_open(g->path, opened_writable(g) ? O_RDWR : O_RDONLY, CK_S_IFREG, &now);
    if (fd == IDENTITY_OTHER_KIND)
        return ck_fail(err, -1, "mapped file %s is now %s: refused", g->path,
                       identity_kind_name(now.id.mode));
    if (fd == -ELOOP)
        return ck_fail(err, -1,
                       "mapped file %s: a symbolic link is now in its path, where there was "
                       "none at checkpoint: refused",
                       g->path);
    if (fd == -EMFILE)
        return ck_fail(err, -1,
                       "mapped file %s: %s (restore-run keeps one descriptor per mapped file "
                       "and per open file; %u are open)",
                       g->path, ck_strerror(EMFILE), p->map_files);
    if (fd < 0)
        return ck_fail(err, -1, "mapped file %s: %s", g->path, ck_strerror((int)-fd));
    rp->map_fd = (int)fd;
    p->map_files++;
    struct ck_error why;
    if (identity_compare(&g->file, &now.id, rule_for(p, g), &why) < 0 ||
        identity_check_owner(&g->file, &now, &why) < 0)
        return ck_fail(err, -1, "mapped file %s %s", g->path, why.msg);
    return 0;
}

/* The kernel charges a private writable mapping (or a shared anonymous one) against the
 * commit limit when it is mapped; the restore maps a region with stored pages writable
 * while it fills it. */
static int charged(const struct ckpt_region_record *g)
{
    int writable = (g->prot & CKPT_PROT_WRITE) || g->nruns;
    return g->kind == CKPT_REGION_SHARED_ANON ||
           (writable && g->kind != CKPT_REGION_FILE_SHARED && g->kind != CKPT_REGION_MEMFILE &&
            !memory_is_kernels(g->kind));
}

/* A "Name:  N kB" line of /proc/meminfo, in bytes; 0 if absent. */
static uint64_t meminfo_bytes(const char *info, const char *name)
{
    size_t n = ck_strlen(name);
    for (const char *line = info; *line;) {
        if (ck_starts_with(line, name) && line[n] == ':') {
            const char *cursor = line + n + 1;
            while (*cursor == ' ')
                cursor++;
            return ck_parse_uint(&cursor, 10) * 1024;
        }
        while (*line && *line != '\n')
            line++;
        if (*line)
            line++;
    }
    return 0;
}

/* What mmap would refuse with ENOMEM under the machine's overcommit policy — in the core,
 * after the point of no return, for a region that collides with restore-run: in the
 * heuristic mode (0) a single mapping larger than RAM and swap together, in mode 2 more
 * than the commit limit leaves. */
static int check_commit(const struct restore_plan *p, struct ck_error *err)
{
    char mode[16], info[8192];
    const char *cursor = mode;
    long policy = ck_read_file("/proc/sys/vm/overcommit_memory", mode, sizeof mode) > 0
                      ? (long)ck_parse_uint(&cursor, 10)
                      : 0;
    if (policy == 1 || ck_read_file("/proc/meminfo", info, sizeof info) <= 0)
        return 0;
    uint64_t ram_swap = meminfo_bytes(info, "MemTotal") + meminfo_bytes(info, "SwapTotal");
    uint64_t limit = meminfo_bytes(info, "CommitLimit"), used = meminfo_bytes(info, "Committed_AS");
    uint64_t total = 0;
    for (uint32_t i = 0; i < p->nregions; i++) {
        const struct ckpt_region_record *g = p->regions[i].rec;
        if (!charged(g))
            continue;
        total += g->end - g->start;
        if (policy == 0 && ram_swap && g->end - g->start > ram_swap)
            return ck_fail(err, -1,
                           "region %lx-%lx (%s) of %lu MiB is larger than this machine's memory "
                           "and swap (%lu MiB): the kernel refuses to map it",
                           (unsigned long)g->start, (unsigned long)g->end,
                           image_region_name(g->path), (unsigned long)((g->end - g->start) >> 20),
                           (unsigned long)(ram_swap >> 20));
    }
    if (policy == 2 && limit && total > (limit > used ? limit - used : 0))
        return ck_fail(err, -1,
                       "the program's memory needs %lu MiB of commit charge; the commit limit "
                       "leaves %lu MiB (vm.overcommit_memory = 2)",
                       (unsigned long)(total >> 20),
                       (unsigned long)((limit > used ? limit - used : 0) >> 20));
    return 0;
}

int memory_check(struct restore_plan *p, struct ck_error *err)
{
    uint32_t recent[RECENT_FILES], nrecent = 0;
    if (check_commit(p, err))
        return -1;
    p->map_files = 0;
    for (uint32_t i = 0; i < p->nregions; i++) {
        struct region_plan *rp = &p->regions[i];
        rp->map_fd = -1;
        rp->fd_owner = i;
        if (rp->rec->kind == CKPT_REGION_MEMFILE && memfile_plan_region(p, rp, err))
            return -1;
        if (!region_is_file(rp->rec))
            continue;
        for (uint32_t k = 0; k < nrecent && k < RECENT_FILES; k++)
            if (same_mapped_file(p->regions[recent[k]].rec, rp->rec)) {
                rp->fd_owner = recent[k];
                rp->map_fd = p->regions[recent[k]].map_fd;
                break;
            }
        if (rp->map_fd >= 0)
            continue;
        if (open_mapped_file(p, rp, err))
            return -1;
        recent[nrecent++ % RECENT_FILES] = i;
    }
    return 0;
}

/* ======================================================================================
 * restore side: the restore core, after restore-run's libc is gone
 * ====================================================================================== */

static int kept_by_core(const struct restore_plan *p, const struct map_entry *e)
{
    if (e->start >= p->area_start && e->end <= p->area_start + p->area_len)
        return 1;
    return ck_streq(e->path, "[vdso]") || ck_streq(e->path, "[vvar]") ||
           ck_streq(e->path, "[vvar_vclock]") || ck_streq(e->path, "[vsyscall]");
}

static void unmap_or_die(const struct restore_plan *p, uint64_t start, uint64_t end)
{
    long r = sys_munmap((void *)start, end - start);
    if (r < 0)
        core_die(p, "unmapping %lx-%lx: %s", (unsigned long)start, (unsigned long)end,
                 ck_strerror((int)-r));
}

/* Unmaps the parts of [start, end) that no region placed by phase 1 covers. The kernel may
 * have merged a placed region with a neighbour of restore-run's into one mapping. Regions
 * are in address order (the validator checks it). */
static void unmap_unplaced(const struct restore_plan *p, uint64_t start, uint64_t end)
{
    uint64_t cursor = start;
    for (uint32_t i = 0; i < p->nregions && cursor < end; i++) {
        const struct ckpt_region_record *g = p->regions[i].rec;
        if (!p->regions[i].placed || g->end <= cursor || g->start >= end)
            continue;
        if (g->start > cursor)
            unmap_or_die(p, cursor, g->start);
        cursor = g->end;
    }
    if (cursor < end)
        unmap_or_die(p, cursor, end);
}

void memory_unmap_all_but_core(const struct restore_plan *p)
{
    long n = ck_read_file("/proc/self/maps", p->scratch, p->scratch_len);
    if (n < 0)
        core_die(p, "reading /proc/self/maps: %s", ck_strerror((int)-n));
    char *cursor = p->scratch;
    struct map_entry e;
    while (maps_next(&cursor, &e) > 0)
        if (!kept_by_core(p, &e))
            unmap_unplaced(p, e.start, e.end);
}

static int mmap_flags_for(uint32_t kind)
{
    switch (kind) {
    case CKPT_REGION_STACK:
        return MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN;
    case CKPT_REGION_SHARED_ANON:
        return MAP_SHARED | MAP_ANONYMOUS;
    case CKPT_REGION_FILE_PRIVATE:
        return MAP_PRIVATE;
    case CKPT_REGION_FILE_SHARED:
    case CKPT_REGION_MEMFILE:
        return MAP_SHARED;
    default:
        return MAP_PRIVATE | MAP_ANONYMOUS;
    }
}

/* restore-run --lazy maps stored pages straight from the image, copy-on-write, rather than
 * copying them. Not for shared memory (it must stay shared anonymous memory), nor for the
 * stack and the brk heap, whose growth the kernel ties to their anonymous mappings. */
static int maps_from_image(const struct restore_plan *p, const struct region_plan *rp)
{
    return p->image_fd >= 0 && (rp->rec->kind == CKPT_REGION_FILE_PRIVATE || rp->lazy_anon);
}

/* Private memory the kernel gives zeros for after MADV_DONTNEED: in an eager restore it is
 * anonymous memory again (a deleted file's pages too: that file is gone). */
static int is_private_anon(uint32_t kind)
{
    return kind == CKPT_REGION_ANON || kind == CKPT_REGION_DELETED_PRIVATE;
}

/* Whether region i starts where the previous listed one ends: one range of the list. */
static int joins_listed(const struct restore_plan *p, uint32_t i, uint64_t listed_end)
{
    return listed_end && p->regions[i].rec->start == listed_end;
}

/* --lazy maps private anonymous memory from the image only where the shim can list it
 * (CKPT_LAZY_RANGES_MAX ranges, adjacent regions joined): its madvise wrapper makes it
 * anonymous again where advice means something else on a file mapping (preload/lazyanon.c).
 * Regions beyond are copied, and have the anonymous semantics by themselves. */
static void choose_lazy_anon(struct restore_plan *p)
{
    uint32_t n = 0;
    uint64_t listed_end = 0;
    for (uint32_t i = 0; i < p->nregions; i++) {
        struct region_plan *rp = &p->regions[i];
        rp->lazy_anon = 0;
        if (p->image_fd < 0 || !is_private_anon(rp->rec->kind) || !rp->rec->nruns || rp->placed)
            continue;
        int joins = joins_listed(p, i, listed_end);
        if (!joins && n == CKPT_LAZY_RANGES_MAX)
            continue;
        n += !joins;
        listed_end = rp->rec->end;
        rp->lazy_anon = 1;
    }
}

static void add_lazy_image(struct ckpt_restore_info *info, int fd)
{
    struct kstat st;
    if (fd < 0 || sys_fstat(fd, &st) < 0)
        return;
    info->lazy_images[info->lazy_nimages].dev = st.st_dev;
    info->lazy_images[info->lazy_nimages].ino = st.st_ino;
    info->lazy_nimages++;
}

/* The list choose_lazy_anon made room for, into the shim's restore info (its memory is in
 * place now); empty after an eager restore. */
static void tell_shim_lazy_anon(const struct restore_plan *p)
{
    struct ckpt_restore_info *info = (void *)p->proc->restore_info_addr;
    uint32_t n = 0;
    uint64_t listed_end = 0;
    for (uint32_t i = 0; i < p->nregions; i++) {
        const struct ckpt_region_record *g = p->regions[i].rec;
        if (!p->regions[i].lazy_anon)
            continue;
        if (joins_listed(p, i, listed_end))
            info->lazy_ranges[n - 1].end = g->end;
        else
            info->lazy_ranges[n++] = (struct ckpt_lazy_range){g->start, g->end};
        listed_end = g->end;
    }
    info->lazy_nranges = n;
    info->lazy_nimages = 0;
    if (!n)
        return;
    add_lazy_image(info, p->image_fd);
    for (uint32_t i = 0; i < p->nparents; i++)
        add_lazy_image(info, p->parent_fds[i]);
}

static void place_runs(const struct restore_plan *p, const struct region_plan *rp, int prot)
{
    int from_image = maps_from_image(p, rp);
    const struct ckpt_record_head *r = rp->first_run;
    for (uint32_t i = 0; i < rp->rec->nruns; i++, r = image_next(&p->view, r)) {
        if (r->kind == CKPT_REC_RUN_REF) {
            chain_place_ref(p, (const void *)r, prot, from_image);
            continue;
        }
        const struct ckpt_run_record *run = (const void *)r;
        const struct ckpt_extent *e = &run->extent;
        void *at = from_image ? sys_mmap((void *)run->addr, e->length, prot,
                                         MAP_PRIVATE | MAP_FIXED, p->image_fd, e->file_offset)
                              : 0;
        /* Copied when not mapped, or when the mapping fails (too many mappings). */
        if (!from_image || sys_mmap_failed(at))
            ck_memcpy((void *)run->addr, (const void *)(p->image_start + e->file_offset),
                      e->length);
    }
}

/* While its stored pages are copied in, a region must be writable. */
static int fill_prot(const struct ckpt_region_record *g)
{
    int prot = to_mmap_prot(g->prot);
    return g->nruns ? prot | PROT_READ | PROT_WRITE : prot;
}

long memory_map_region(struct region_plan *rp)
{
    const struct ckpt_region_record *g = rp->rec;
    int flags = mmap_flags_for(g->kind) | MAP_FIXED_NOREPLACE;
    uint64_t offset = region_is_file(g) || g->kind == CKPT_REGION_MEMFILE ? g->file_offset : 0;
    void *at =
        sys_mmap((void *)g->start, g->end - g->start, fill_prot(g), flags, rp->map_fd, offset);
    if (sys_mmap_failed(at))
        return (long)at;
    if ((uint64_t)at != g->start) { /* a kernel without MAP_FIXED_NOREPLACE */
        sys_munmap(at, g->end - g->start);
        return -EEXIST;
    }
    /* The descriptor may serve other regions of the file: files_restore closes it with
     * restore-run's other descriptors. */
    return 0;
}

long memory_protect_region(const struct region_plan *rp)
{
    const struct ckpt_region_record *g = rp->rec;
    int prot = to_mmap_prot(g->prot);
    return fill_prot(g) == prot ? 0 : sys_mprotect((void *)g->start, g->end - g->start, prot);
}

static void restore_region(const struct restore_plan *p, struct region_plan *rp)
{
    const struct ckpt_region_record *g = rp->rec;
    long r = memory_map_region(rp);
    if (r < 0)
        core_die(p, "mapping %lx-%lx (%s): %s", (unsigned long)g->start, (unsigned long)g->end,
                 image_region_name(g->path), ck_strerror((int)-r));
    place_runs(p, rp, fill_prot(g));
    if (memory_protect_region(rp) < 0)
        core_die(p, "protecting %lx-%lx", (unsigned long)g->start, (unsigned long)g->end);
}

int memory_is_kernels(uint32_t kind)
{
    return kind == CKPT_REGION_VDSO || kind == CKPT_REGION_VVAR || kind == CKPT_REGION_VVAR_VCLOCK;
}

/* Regions phase 1 placed are complete. */
void memory_restore(struct restore_plan *p)
{
    choose_lazy_anon(p);
    for (uint32_t i = 0; i < p->nregions; i++) {
        struct region_plan *rp = &p->regions[i];
        if (!rp->placed && !memory_is_kernels(rp->rec->kind))
            restore_region(p, rp);
    }
    tell_shim_lazy_anon(p);
    if (p->image_fd >= 0)
        sys_close(p->image_fd); /* the mappings keep the file */
    for (uint32_t i = 0; i < p->nparents; i++)
        sys_close(p->parent_fds[i]);
}

/* ---- the validator's checks of REGION and RUN records (image_check.h) -------------------- */

int check_region(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                 struct ck_error *err)
{
    const struct ckpt_region_record *g = (const void *)r;
    if (v->nfds || v->nfiles)
        return ck_fail(err, -1, "region after descriptors");
    if (!image_path_ok(g->path, g->path_len, (const char *)r + r->length))
        return ck_fail(err, -1, "malformed region record");
    if (g->start % CKPT_PAGE_SIZE || g->end % CKPT_PAGE_SIZE || g->start >= g->end ||
        g->start < USER_ADDR_MIN || g->end > USER_ADDR_MAX)
        return ck_fail(err, -1, "region %lx-%lx is not a valid user range", (unsigned long)g->start,
                       (unsigned long)g->end);
    if (g->start < w->memory.last_region_end)
        return ck_fail(err, -1, "region %lx-%lx overlaps or is out of order",
                       (unsigned long)g->start, (unsigned long)g->end);
    if (g->kind < CKPT_REGION_ANON || g->kind > CKPT_REGION_MEMFILE)
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
    if (kernels && (w->memory.region_kinds & (1u << g->kind)))
        return ck_fail(err, -1, "region %lx-%lx is a second %s", (unsigned long)g->start,
                       (unsigned long)g->end, g->path[0] ? g->path : "kernel mapping");
    w->memory.region_kinds |= 1u << g->kind;
    /* Nothing is stored for a shared file mapping (the file holds it) nor for [vvar]: pages
     * would be written through to the file, or into the kernel's. */
    if (g->nruns && (g->kind == CKPT_REGION_FILE_SHARED || g->kind == CKPT_REGION_VVAR ||
                     g->kind == CKPT_REGION_VVAR_VCLOCK || g->kind == CKPT_REGION_MEMFILE))
        return ck_fail(err, -1, "region %lx-%lx (%s) cannot have stored pages",
                       (unsigned long)g->start, (unsigned long)g->end, image_region_name(g->path));
    int file_backed = g->kind == CKPT_REGION_FILE_PRIVATE || g->kind == CKPT_REGION_FILE_SHARED;
    if ((file_backed || g->kind == CKPT_REGION_MEMFILE) &&
        (g->path[0] != '/' || g->file_offset % CKPT_PAGE_SIZE))
        return ck_fail(err, -1, "file region %lx-%lx needs an absolute path",
                       (unsigned long)g->start, (unsigned long)g->end);
    w->memory.last_region_end = g->end;
    w->memory.region = g;
    w->memory.runs_left = g->nruns;
    w->memory.last_run_end = g->start;
    v->nregions++;
    return 0;
}

/* A block of the region's pages, stored here (RUN) or in a parent image (RUN_REF): inside
 * the region, after the one before. */
static int check_pages(struct image_walk *w, uint64_t addr, uint64_t len, struct ck_error *err)
{
    const struct ckpt_region_record *g = w->memory.region;
    if (!g || w->memory.runs_left == 0)
        return ck_fail(err, -1, "page run outside of a region");
    if (addr % CKPT_PAGE_SIZE || len % CKPT_PAGE_SIZE || len == 0 ||
        addr < w->memory.last_run_end || addr > g->end || len > g->end - addr)
        return ck_fail(err, -1, "page run %lx+%lx does not fit region %lx-%lx", (unsigned long)addr,
                       (unsigned long)len, (unsigned long)g->start, (unsigned long)g->end);
    /* A stored page of a file mapping is a private copy of a page the program touched:
     * the file had that page (a page past its end cannot be touched, nor filled in). */
    int file_backed = g->kind == CKPT_REGION_FILE_PRIVATE || g->kind == CKPT_REGION_FILE_SHARED;
    if (file_backed && g->file_offset + (addr - g->start) + len > CK_PAGE_UP(g->file.size))
        return ck_fail(err, -1, "page run %lx+%lx lies past the end of %s", (unsigned long)addr,
                       (unsigned long)len, g->path);
    w->memory.last_run_end = addr + len;
    w->memory.runs_left--;
    return 0;
}

int check_run(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
              struct ck_error *err)
{
    const struct ckpt_run_record *u = (const void *)r;
    if (check_pages(w, u->addr, u->extent.length, err))
        return -1;
    v->nruns++;
    return 0;
}

/* The parent's side (the pages are in one of its RUN extents at these addresses) is
 * checked against the parent itself (chain.c, chain_check_refs). */
int check_run_ref(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                  struct ck_error *err)
{
    const struct ckpt_run_ref_record *u = (const void *)r;
    if (u->parent == 0 || u->parent > w->last_id[CKPT_RECI_PARENT])
        return ck_fail(err, -1, "page run %lx+%lx names parent image %u, which is not listed",
                       (unsigned long)u->addr, (unsigned long)u->length, u->parent);
    if (u->reserved0 || u->skip % CKPT_PAGE_SIZE || u->run.length % CKPT_PAGE_SIZE ||
        u->run.file_offset % CKPT_PAGE_SIZE || u->run.file_offset < CKPT_HEADER_SIZE ||
        u->skip > u->run.length || u->length > u->run.length - u->skip)
        return ck_fail(err, -1, "page run %lx+%lx has a malformed reference",
                       (unsigned long)u->addr, (unsigned long)u->length);
    if (check_pages(w, u->addr, u->length, err))
        return -1;
    v->nruns++;
    v->nrun_refs++;
    return 0;
}

/* A region's page runs follow it: no other known record stands among them. */
int complete_region(const struct image_view *v, const struct image_walk *w,
                    const struct ckpt_record_head *next, struct ck_error *err)
{
    (void)v;
    if (w->memory.runs_left && next->kind != CKPT_REC_RUN && next->kind != CKPT_REC_RUN_REF)
        return ck_fail(err, -1, "region %lx-%lx is missing %u page runs",
                       (unsigned long)w->memory.region->start, (unsigned long)w->memory.region->end,
                       w->memory.runs_left);
    return 0;
}

IMAGE_NOTHING_TO_COMPLETE(run)
IMAGE_NOTHING_TO_COMPLETE(run_ref)
