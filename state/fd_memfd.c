/* memfds (CKPT_FD_MEMFD), and what they share with deleted files held open (fd_deleted.c):
 * the MEMFILE object that holds a file's contents, the MEMFILE_OPEN record after each FILE
 * of it and the MEMFILE_MAP record after each REGION that maps it shared.
 *
 * A memfd comes back as a new memfd of the same name holding the same bytes, of the same
 * size and mode, with the same seals; every descriptor and every shared mapping of the old
 * one is of the new one, so a write through one is seen through all, as before.
 *
 * Where the parts are made: the checkpoint's phase 2 (files_save) gives each file an object
 * id (MEMFILE_OPEN after its FILE); phase 3, with the program stopped, writes the objects
 * with their contents ahead of the regions (memfiles_save), so that the regions that map
 * one can name it (memory.c). restore-run's phase 1 makes each object once
 * (memfiles_create), opens every descriptor from it (its own open file description, offset
 * and flags), sets the mode and adds the seals; the core maps the regions from it. */
#include "fd_kind.h"
#include "fd_memfile.h"
#include "image_check.h"
#include "hash.h"
#include "maps.h"

#include <asm/errno.h>
#include <asm/unistd.h>
#include <linux/mman.h>

#define CK_MFD_CLOEXEC 1u
#define CK_MFD_ALLOW_SEALING 2u
#define CK_MFD_NAME_MAX 249 /* memfd_create refuses longer names */
#define CK_F_ADD_SEALS 1033
#define CK_F_GET_SEALS 1034
#define CK_F_SEAL_SEAL 0x1u
#define CK_F_SEAL_WRITE 0x8u
#define CK_F_SEAL_FUTURE_WRITE 0x10u
#define CK_HUGETLBFS_MAGIC 0x958458f6L

#define MEMFD_PREFIX "/memfd:"
#define DELETED_SUFFIX " (deleted)"

static long sys_memfd_create(const char *name, unsigned flags)
{
    return sys_call2(__NR_memfd_create, SYS_L(name), flags);
}

uint32_t memfile_kind_of(const char *path)
{
    if (!ck_ends_with(path, DELETED_SUFFIX))
        return CKPT_FD_FILE;
    return ck_starts_with(path, MEMFD_PREFIX) ? CKPT_FD_MEMFD : CKPT_FD_DELETED;
}

/* The seals restore-run adds in phase 1, before the regions are mapped: all of them but
 * F_SEAL_FUTURE_WRITE, which forbids the writable shared mappings the program may have
 * made before it (and so F_SEAL_SEAL, which would forbid adding it later): those two come in
 * the core, once every region is mapped. */
static uint32_t seals_before_mapping(uint32_t seals)
{
    return seals & CK_F_SEAL_FUTURE_WRITE ? seals & ~(CK_F_SEAL_FUTURE_WRITE | CK_F_SEAL_SEAL)
                                          : seals;
}

/* Adds the seals of want that fd's file does not have yet. */
static long add_missing_seals(int fd, uint32_t want)
{
    long now = sys_fcntl(fd, CK_F_GET_SEALS, 0);
    if (now < 0)
        return want ? now : 0;
    uint32_t missing = want & ~(uint32_t)now;
    return missing ? sys_fcntl(fd, CK_F_ADD_SEALS, (long)missing) : 0;
}

/* ======================================================================================
 * save side: runs in the checkpoint signal handler, raw syscalls only
 * ====================================================================================== */

static int is_hugetlb(int fd)
{
    long buf[15]; /* struct statfs; f_type first */
    return sys_call2(__NR_fstatfs, fd, SYS_L(buf)) == 0 && buf[0] == CK_HUGETLBFS_MAGIC;
}

/* The object id of the file of FILE f if a descriptor before it (ascending) named the same
 * file, else 0. */
static uint32_t object_seen(const struct fd_save_ctx *c, const struct ckpt_file_record *f)
{
    for (size_t i = 0; i < c->done; i++) {
        const struct ckpt_file_record *g = c->slots[i].rec;
        if (c->slots[i].shares_with >= 0 ||
            (g->kind != CKPT_FD_MEMFD && g->kind != CKPT_FD_DELETED) ||
            g->file.dev != f->file.dev || g->file.ino != f->file.ino)
            continue;
        const struct ckpt_memfile_open_record *o =
            (const void *)fds_written_after(c->w, g, CKPT_REC_MEMFILE_OPEN);
        if (o)
            return o->object;
    }
    return 0;
}

/* Phase 2, after the FILE of a memfd or deleted file: the MEMFILE_OPEN naming its object,
 * a new one unless a lower descriptor opened the same file. */
int memfile_save_open(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                      struct ck_error *err)
{
    const char *what = fd_ops(f->kind)->name;
    if (f->file.size > CKPT_MEMFILE_MAX)
        return ck_fail(err, -1,
                       "descriptor %d (%s, %s) holds %lu MiB; ckpt stores up to %lu MiB of one", fd,
                       what, f->path, (unsigned long)(f->file.size >> 20),
                       (unsigned long)(CKPT_MEMFILE_MAX >> 20));
    if (is_hugetlb(fd))
        return ck_fail(err, -1,
                       "descriptor %d (%s, %s) is of huge pages (MFD_HUGETLB): not "
                       "supported",
                       fd, what, f->path);
    uint32_t object = object_seen(c, f);
    if (!object && c->nmemfiles >= MEMFILES_MAX)
        return ck_fail(err, -1, "descriptor %d (%s, %s): more than %d memfds and deleted files", fd,
                       what, f->path, MEMFILES_MAX);
    if (!object)
        object = ++c->nmemfiles;
    struct ckpt_memfile_open_record *o = iw_record(c->w, CKPT_REC_MEMFILE_OPEN, sizeof *o, 0);
    if (!o)
        return ck_fail(err, c->w->error, "image metadata: %s", ck_strerror(-c->w->error));
    o->file = f->head.id;
    o->object = object;
    o->fd = fd;
    return 0;
}

int memfiles_staged(const struct image_writer *stage)
{
    for (size_t pos = 0; pos < stage->meta_len;) {
        const struct ckpt_record_head *r = (const void *)(stage->meta + pos);
        if (r->kind == CKPT_REC_MEMFILE_OPEN)
            return 1;
        pos += r->length;
    }
    return 0;
}

/* The object's name in the image: a memfd's own (the path without "/memfd:" and
 * " (deleted)"), a deleted file's path without " (deleted)". */
static void object_name(const char *path, char *name, size_t cap)
{
    const char *from = ck_starts_with(path, MEMFD_PREFIX) ? path + sizeof MEMFD_PREFIX - 1 : path;
    size_t n = ck_strlen(from);
    if (ck_ends_with(from, DELETED_SUFFIX))
        n -= sizeof DELETED_SUFFIX - 1;
    ck_strlcpy(name, from, n + 1 < cap ? n + 1 : cap);
}

#define CK_SEEK_DATA 3
#define CK_SEEK_HOLE 4

/* Maps the data of rfd over the zeros at base (len bytes), hole by hole left out: reading
 * a hole of a memfd through a mapping of it would allocate the page in the program's file.
 * rfd is checkpoint's own open file description (seeking moves its offset). 0 or -errno. */
static long map_data_over(int rfd, char *base, size_t len)
{
    for (int64_t at = 0; (uint64_t)at < len;) {
        long data = sys_lseek(rfd, at, CK_SEEK_DATA);
        if (data == -ENXIO)
            return 0; /* only holes from here */
        long hole = data < 0 ? data : sys_lseek(rfd, data, CK_SEEK_HOLE);
        if (hole < 0)
            return hole;
        uint64_t from = (uint64_t)data & ~(uint64_t)(CK_PAGE - 1);
        uint64_t to = CK_PAGE_UP((uint64_t)hole) < len ? CK_PAGE_UP((uint64_t)hole) : len;
        void *m = sys_mmap(base + from, to - from, PROT_READ, MAP_SHARED | MAP_FIXED, rfd, from);
        if (sys_mmap_failed(m))
            return (long)m;
        at = (int64_t)to;
    }
    return 0;
}

/* The file's contents mapped read-only (len > 0): its data over zeros through a read-only
 * open of its own, or, where that fails (a file its mode does not let us open again, a
 * file system without SEEK_DATA), all of it through fd. */
static void *map_contents(int fd, size_t len)
{
    char link[32];
    ck_format(link, sizeof link, "/proc/self/fd/%d", fd);
    long rfd = sys_openat(AT_FDCWD, link, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);
    void *base = sys_mmap(0, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rfd >= 0 && !sys_mmap_failed(base) && map_data_over((int)rfd, base, len) == 0) {
        sys_close((int)rfd);
        return base;
    }
    if (!sys_mmap_failed(base))
        sys_munmap(base, len);
    void *at = sys_mmap(0, len, PROT_READ, MAP_SHARED, rfd >= 0 ? (int)rfd : fd, 0);
    if (rfd >= 0)
        sys_close((int)rfd);
    return at;
}

/* One MEMFILE record: the file at o->fd as it is now (the program is stopped), its
 * contents written at once so that the mapping goes before the regions are listed. */
static int save_object(struct image_writer *w, const struct ckpt_file_record *f,
                       const struct ckpt_memfile_open_record *o, struct memfile_key *key,
                       struct ck_error *err)
{
    struct kstat st;
    long r = sys_fstat(o->fd, &st);
    if (r < 0)
        return ck_fail(err, (int)r, "descriptor %d (%s): %s", o->fd, f->path, ck_strerror((int)-r));
    char name[CKPT_PATH_MAX];
    object_name(f->path, name, sizeof name);
    struct ckpt_memfile_record *m = iw_record(w, CKPT_REC_MEMFILE, sizeof *m, name);
    if (!m)
        return ck_fail(err, w->error, "image metadata: %s", ck_strerror(-w->error));
    m->head.id = o->object;
    m->size = (uint64_t)st.st_size;
    m->origin = f->kind == CKPT_FD_MEMFD ? CKPT_MEMFILE_MEMFD : CKPT_MEMFILE_DELETED;
    long seals = f->kind == CKPT_FD_MEMFD ? sys_fcntl(o->fd, CK_F_GET_SEALS, 0) : 0;
    m->seals = seals > 0 ? (uint32_t)seals & CKPT_MEMFILE_SEALS : 0;
    m->mode = st.st_mode & 07777;
    m->dev = st.st_dev;
    m->ino = st.st_ino;
    m->name_len = (uint32_t)ck_strlen(name);
    *key = (struct memfile_key){.dev = st.st_dev, .ino = st.st_ino, .id = o->object};
    size_t len = CK_PAGE_UP(m->size);
    if (m->size > CKPT_MEMFILE_MAX)
        return ck_fail(err, -1, "descriptor %d (%s) grew to %lu MiB", o->fd, f->path,
                       (unsigned long)(m->size >> 20));
    if (!len) {
        iw_extent(w, &m->extent, m, 0);
        return 0;
    }
    void *at = map_contents(o->fd, len);
    if (sys_mmap_failed(at))
        return ck_fail(err, (int)(long)at, "descriptor %d (%s): reading its contents: %s", o->fd,
                       f->path, ck_strerror((int)-(long)at));
    iw_extent(w, &m->extent, at, len);
    iw_flush(w); /* the mapping goes now: memory_save must not see it */
    sys_munmap(at, len);
    if (w->error)
        return ck_fail(err, w->error, "writing the contents of %s (descriptor %d): %s", f->path,
                       o->fd, ck_strerror(-w->error));
    return 0;
}

/* ---- shared memory mapped more than once and open nowhere ---- */

#define SHARED_MAPS_MAX 512
#define CK_MREMAP_MAYMOVE 1
#define CK_MREMAP_FIXED 2

struct shared_map {
    uint64_t start, end, offset, dev, ino;
    uint32_t prot;
    const char *path;
};

/* A shared mapping of memory that lives in no file on disk: shared anonymous memory, a
 * memfd, a deleted file (System V segments are refused by memory_save). */
static int maps_shared_memory(const struct map_entry *e)
{
    return e->shared && !ck_starts_with(e->path, "/SYSV") &&
           (ck_ends_with(e->path, DELETED_SUFFIX) || ck_starts_with(e->path, "[anon_shmem:") ||
            e->path[0] == 0);
}

/* The shared mappings of /proc/self/maps (read into buf) of objects not written yet. */
static long list_shared_maps(char *buf, size_t cap, const struct memfile_key *keys, uint32_t nkeys,
                             struct shared_map *out, struct ck_error *err)
{
    long n = ck_read_file("/proc/self/maps", buf, cap);
    if (n < 0)
        return ck_fail(err, (int)n, "reading /proc/self/maps: %s", ck_strerror((int)-n));
    char *cursor = buf;
    struct map_entry e;
    long count = 0;
    while (maps_next(&cursor, &e) > 0) {
        uint64_t dev = map_entry_dev(&e);
        if (!maps_shared_memory(&e) || memfile_id_of(keys, nkeys, dev, e.inode))
            continue;
        if (count == SHARED_MAPS_MAX)
            return ck_fail(err, -1, "more than %d mappings of shared memory", SHARED_MAPS_MAX);
        out[count++] = (struct shared_map){.start = e.start,
                                           .end = e.end,
                                           .offset = e.offset,
                                           .dev = dev,
                                           .ino = e.inode,
                                           .prot = e.prot,
                                           .path = e.path};
    }
    return count;
}

/* The object's bytes [0, size) in one view: a zero-filled reservation with every mapping
 * of it mapped again at its offset (mremap of old size 0 maps the same pages once more).
 * Returns the view or an mmap error. */
static void *view_of_object(const struct shared_map *maps, long n, uint64_t dev, uint64_t ino,
                            uint64_t size)
{
    void *base = sys_mmap(0, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (long i = 0; i < n && !sys_mmap_failed(base); i++) {
        if (maps[i].dev != dev || maps[i].ino != ino)
            continue;
        uint64_t len = maps[i].end - maps[i].start;
        void *dup = sys_mremap((void *)maps[i].start, 0, len, CK_MREMAP_MAYMOVE | CK_MREMAP_FIXED,
                               (char *)base + maps[i].offset);
        if (!sys_mmap_failed(dup) && !(maps[i].prot & CKPT_PROT_READ))
            sys_mprotect(dup, len, PROT_READ);
        if (sys_mmap_failed(dup)) {
            sys_munmap(base, size);
            base = dup;
        }
    }
    return base;
}

/* One MEMFILE of origin SHARED for the object of maps[first], from its mappings. */
static int save_mapped_object(struct image_writer *w, const struct shared_map *maps, long n,
                              long first, struct memfile_key *key, uint32_t id,
                              struct ck_error *err)
{
    const struct shared_map *s = &maps[first];
    uint64_t size = 0;
    for (long i = 0; i < n; i++)
        if (maps[i].dev == s->dev && maps[i].ino == s->ino &&
            maps[i].offset + (maps[i].end - maps[i].start) > size)
            size = maps[i].offset + (maps[i].end - maps[i].start);
    if (size > CKPT_MEMFILE_MAX)
        return ck_fail(err, -1,
                       "shared memory %s at %lx is mapped up to %lu MiB; ckpt stores up to %lu "
                       "MiB of one",
                       s->path, (unsigned long)s->start, (unsigned long)(size >> 20),
                       (unsigned long)(CKPT_MEMFILE_MAX >> 20));
    char name[CKPT_PATH_MAX];
    object_name(s->path[0] ? s->path : "shared memory", name, sizeof name);
    struct ckpt_memfile_record *m = iw_record(w, CKPT_REC_MEMFILE, sizeof *m, name);
    if (!m)
        return ck_fail(err, w->error, "image metadata: %s", ck_strerror(-w->error));
    m->head.id = id;
    m->size = size;
    m->origin = CKPT_MEMFILE_SHARED;
    m->mode = 0600;
    m->dev = s->dev;
    m->ino = s->ino;
    m->name_len = (uint32_t)ck_strlen(name);
    *key = (struct memfile_key){.dev = s->dev, .ino = s->ino, .id = id};
    void *view = view_of_object(maps, n, s->dev, s->ino, size);
    if (sys_mmap_failed(view))
        return ck_fail(err, (int)(long)view, "shared memory %s at %lx: reading it: %s", s->path,
                       (unsigned long)s->start, ck_strerror((int)-(long)view));
    iw_extent(w, &m->extent, view, size);
    iw_flush(w); /* the view goes now: memory_save must not see it */
    sys_munmap(view, size);
    if (w->error)
        return ck_fail(err, w->error, "writing shared memory %s: %s", s->path,
                       ck_strerror(-w->error));
    return 0;
}

/* Every object of shared memory mapped more than once and open nowhere: after the restore
 * its mappings must still share their pages, so it is one MEMFILE like a memfd's. Memory
 * mapped once is left to memory_save (a shared anonymous region of its own). */
static int save_mapped_objects(struct image_writer *w, char *maps_buf, size_t maps_cap,
                               struct memfile_key *keys, uint32_t *nkeys, struct ck_error *err)
{
    struct shared_map maps[SHARED_MAPS_MAX];
    long n = list_shared_maps(maps_buf, maps_cap, keys, *nkeys, maps, err);
    if (n < 0)
        return -1;
    for (long i = 0; i < n; i++) {
        long others = 0, earlier = 0;
        for (long k = 0; k < n; k++)
            if (k != i && maps[k].dev == maps[i].dev && maps[k].ino == maps[i].ino) {
                others++;
                earlier += k < i;
            }
        if (!others || earlier)
            continue;
        if (*nkeys == MEMFILES_MAX)
            return ck_fail(err, -1, "more than %d memfds, deleted files and shared memory objects",
                           MEMFILES_MAX);
        if (save_mapped_object(w, maps, n, i, &keys[*nkeys], *nkeys + 1, err))
            return -1;
        ++*nkeys;
    }
    return 0;
}

int memfiles_save(struct image_writer *w, const struct image_writer *stage, char *maps_buf,
                  size_t maps_cap, struct memfile_key *keys, uint32_t *nkeys, struct ck_error *err)
{
    *nkeys = 0;
    const struct ckpt_file_record *file = 0;
    for (size_t pos = 0; pos < stage->meta_len;) {
        const struct ckpt_record_head *r = (const void *)(stage->meta + pos);
        pos += r->length;
        if (r->kind == CKPT_REC_FILE)
            file = (const void *)r;
        if (r->kind != CKPT_REC_MEMFILE_OPEN || !file)
            continue;
        const struct ckpt_memfile_open_record *o = (const void *)r;
        if (o->object != *nkeys + 1) /* another description of an object written */
            continue;
        if (save_object(w, file, o, &keys[*nkeys], err))
            return -1;
        ++*nkeys;
    }
    return save_mapped_objects(w, maps_buf, maps_cap, keys, nkeys, err);
}

uint32_t memfile_id_of(const struct memfile_key *keys, uint32_t nkeys, uint64_t dev, uint64_t ino)
{
    for (uint32_t i = 0; i < nkeys; i++)
        if (keys[i].dev == dev && keys[i].ino == ino)
            return keys[i].id;
    return 0;
}

/* ======================================================================================
 * check side: restore-run phase 1
 * ====================================================================================== */

static const struct ckpt_memfile_record *object_with_id(const struct restore_plan *p, uint32_t id)
{
    return (const void *)fds_object_with_id(p, CKPT_REC_MEMFILE, id);
}

/* A memfd named as the object was (a deleted file made again in memory: its file name). */
static long make_memfd(const struct ckpt_memfile_record *m)
{
    char name[CK_MFD_NAME_MAX + 1];
    const char *from = m->name;
    if (m->origin == CKPT_MEMFILE_DELETED)
        for (const char *s = m->name; *s; s++)
            if (*s == '/')
                from = s + 1;
    ck_strlcpy(name, from, sizeof name);
    return sys_memfd_create(name, CK_MFD_CLOEXEC | CK_MFD_ALLOW_SEALING);
}

/* Page at offset page of the contents (size bytes) into fd, unless it is all zeros: the
 * holes of a sparse file stay holes (ftruncate made them). 0 or -errno. */
static long write_page_unless_zero(int fd, const unsigned char *data, uint64_t page, uint64_t size)
{
    uint64_t len = size - page < CK_PAGE ? size - page : CK_PAGE;
    const uint64_t *words = (const void *)(data + page);
    int zero = 1;
    for (size_t i = 0; i < CK_PAGE / 8 && zero; i++)
        zero = words[i] == 0; /* the tail past size is zeros in the image */
    for (uint64_t done = 0; !zero && done < len;) {
        long n = sys_pwrite(fd, data + page + done, len - done, (int64_t)(page + done));
        if (n <= 0)
            return n < 0 ? n : -EIO;
        done += (uint64_t)n;
    }
    return 0;
}

/* The object's size and bytes, into the new file fd. */
static int fill_object(const struct restore_plan *p, const struct ckpt_memfile_record *m, int fd,
                       struct ck_error *err)
{
    const unsigned char *data = p->view.base + m->extent.file_offset;
    if (ck_hash64(data, m->extent.length) != m->extent.checksum)
        return ck_fail(err, -1, "checksum mismatch in the contents of %s (corrupted image)",
                       m->name);
    long r = sys_ftruncate(fd, (int64_t)m->size);
    for (uint64_t page = 0; r >= 0 && page < m->size; page += CK_PAGE)
        r = write_page_unless_zero(fd, data, page, m->size);
    if (r < 0)
        return ck_fail(err, -1, "making %s again (%lu bytes): %s", m->name, (unsigned long)m->size,
                       ck_strerror((int)-r));
    return 0;
}

int memfiles_create(struct restore_plan *p, struct ck_error *err)
{
    p->nmemfiles = 0;
    for (const struct ckpt_record_head *r = image_first(&p->view); r; r = image_next(&p->view, r)) {
        if (r->kind != CKPT_REC_MEMFILE)
            continue;
        const struct ckpt_memfile_record *m = (const void *)r;
        long fd = m->origin == CKPT_MEMFILE_DELETED ? deleted_make_unnamed(m) : -1;
        if (fd < 0)
            fd = make_memfd(m);
        if (fd < 0)
            return ck_fail(err, -1, "making %s again: %s", m->name, ck_strerror((int)-fd));
        fd = fds_keep_high(p, fd);
        if (fd < 0)
            return ck_fail(err, -1, "making %s again: %s", m->name, ck_strerror((int)-fd));
        p->memfile_fd[p->nmemfiles++] = (int)fd; /* validated: ids 1..n in order */
        if (fill_object(p, m, (int)fd, err))
            return -1;
    }
    return 0;
}

static const struct ckpt_memfile_open_record *open_record_of(const struct restore_plan *p,
                                                             const struct ckpt_file_record *f)
{
    return (const void *)fds_detail_of(p, f, 0, CKPT_REC_MEMFILE_OPEN);
}

/* The object the FILE of fp opens, checked to be of its kind; NULL with err set. */
static const struct ckpt_memfile_record *object_of(const struct restore_plan *p,
                                                   const struct fd_plan *fp, struct ck_error *err)
{
    const struct ckpt_memfile_open_record *o = open_record_of(p, fp->file);
    const struct ckpt_memfile_record *m = o ? object_with_id(p, o->object) : 0;
    uint32_t origin = fp->file->kind == CKPT_FD_MEMFD ? CKPT_MEMFILE_MEMFD : CKPT_MEMFILE_DELETED;
    if (!m || m->origin != origin || o->object > p->nmemfiles) {
        ck_fail(err, -1, "descriptor %d (%s) names no file of its kind in the image", fp->rec->fd,
                fp->file->path);
        return 0;
    }
    return m;
}

/* Phase 1: the descriptor's own open file description of the new file, with its flags and
 * offset (opened through /proc/self/fd, as the program may have done). */
int memfile_plan_fd(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    const struct ckpt_memfile_record *m = object_of(p, fp, err);
    if (!m)
        return -1;
    char link[32];
    ck_format(link, sizeof link, "/proc/self/fd/%d", p->memfile_fd[m->head.id - 1]);
    uint32_t flags = (fp->file->flags & REOPEN_FLAGS & ~(uint32_t)O_DIRECT) | O_CLOEXEC;
    long fd = sys_openat(AT_FDCWD, link, (int)flags, 0);
    if (fd >= 0 && sys_lseek((int)fd, (int64_t)fp->file->offset, 0 /* SEEK_SET */) < 0) {
        sys_close((int)fd);
        fd = -EINVAL;
    }
    fd = fds_keep_high(p, fd);
    if (fd < 0)
        return ck_fail(err, -1, "descriptor %d (%s): opening it again at offset %lu: %s",
                       fp->rec->fd, fp->file->path, (unsigned long)fp->file->offset,
                       ck_strerror((int)-fd));
    fp->temp_fd = (int)fd;
    return 0;
}

/* Phase 1, once every descriptor is open (the mode may forbid opening it so): the mode,
 * then the seals that go before the mappings. */
int memfile_finish(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    if (fp->inherit || fp->shares_with >= 0)
        return 0;
    const struct ckpt_memfile_record *m = object_of(p, fp, err);
    if (!m)
        return -1;
    int fd = p->memfile_fd[m->head.id - 1];
    long r = sys_fchmod(fd, m->mode);
    if (r >= 0)
        r = add_missing_seals(fd, seals_before_mapping(m->seals));
    if (r < 0)
        return ck_fail(err, -1, "descriptor %d (%s): giving it mode %04o and seals %x: %s",
                       fp->rec->fd, fp->file->path, m->mode, m->seals, ck_strerror((int)-r));
    return 0;
}

int memfile_plan_region(struct restore_plan *p, struct region_plan *rp, struct ck_error *err)
{
    const struct ckpt_region_record *g = rp->rec;
    const struct ckpt_memfile_map_record *map = (const void *)image_next(&p->view, &g->head);
    const struct ckpt_memfile_record *m = object_with_id(p, map->object); /* validated */
    if (!m || map->object > p->nmemfiles)
        return ck_fail(err, -1, "region %lx-%lx maps file %u, which is not in the image",
                       (unsigned long)g->start, (unsigned long)g->end, map->object);
    if ((g->prot & CKPT_PROT_WRITE) && (m->seals & CK_F_SEAL_WRITE))
        return ck_fail(err, -1, "region %lx-%lx maps %s writable, but it is sealed against writes",
                       (unsigned long)g->start, (unsigned long)g->end, m->name);
    rp->memfile = map->object;
    rp->map_fd = p->memfile_fd[map->object - 1];
    return 0;
}

/* ======================================================================================
 * restore side: the restore core
 * ====================================================================================== */

/* Every region is mapped: the seals that had to wait for that (F_SEAL_FUTURE_WRITE). */
void memfile_restore_fd(const struct restore_plan *p, const struct fd_plan *fp)
{
    const struct ckpt_memfile_open_record *o = (const void *)fp->detail;
    if (fp->shares_with >= 0 || !o || o->head.kind != CKPT_REC_MEMFILE_OPEN)
        return;
    const struct ckpt_memfile_record *m = object_with_id(p, o->object);
    if (!m || m->seals == seals_before_mapping(m->seals))
        return;
    long r = add_missing_seals(fp->rec->fd, m->seals);
    if (r < 0)
        core_die(p, "sealing descriptor %d (%s): %s", fp->rec->fd, fp->file->path,
                 ck_strerror((int)-r));
}

void fd_restore_MEMFD(const struct restore_plan *p, const struct fd_plan *fp)
{
    memfile_restore_fd(p, fp);
}

static int memfd_check_all(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    return memfile_finish(p, fp, err);
}

const struct fd_kind_ops fd_ops_MEMFD = {
    .kind = CKPT_FD_MEMFD,
    .name = "memfd",
    .save = memfile_save_open,
    .plan = memfile_plan_fd,
    .check_all = memfd_check_all,
};

/* ---- the validator's checks of MEMFILE, MEMFILE_OPEN and MEMFILE_MAP (image_check.h) ---- */

static int is_memfile_kind(uint32_t fd_kind)
{
    return fd_kind == CKPT_FD_MEMFD || fd_kind == CKPT_FD_DELETED;
}

/* Objects come before the regions and files that name them. */
int check_memfile(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                  struct ck_error *err)
{
    (void)w;
    const struct ckpt_memfile_record *m = (const void *)r;
    if (v->nregions || v->nfiles)
        return ck_fail(err, -1, "memory file record %u after regions or files", r->id);
    if (r->id == 0 || r->id > MEMFILES_MAX)
        return ck_fail(err, -1, "memory file record with id %u (at most %d)", r->id, MEMFILES_MAX);
    if (!image_path_ok(m->name, m->name_len, (const char *)r + r->length))
        return ck_fail(err, -1, "malformed memory file record %u", r->id);
    if (m->origin != CKPT_MEMFILE_MEMFD && m->origin != CKPT_MEMFILE_DELETED &&
        m->origin != CKPT_MEMFILE_SHARED)
        return ck_fail(err, -1, "memory file %u (%s) has unknown origin %u", r->id, m->name,
                       m->origin);
    if (m->origin == CKPT_MEMFILE_DELETED && m->name[0] != '/')
        return ck_fail(err, -1, "deleted file %u (%s) needs an absolute path", r->id, m->name);
    if (m->origin != CKPT_MEMFILE_MEMFD && m->seals)
        return ck_fail(err, -1, "memory file %u (%s) has seals but is no memfd", r->id, m->name);
    if (m->seals & ~CKPT_MEMFILE_SEALS)
        return ck_fail(err, -1, "memory file %u (%s) has unknown seals %x", r->id, m->name,
                       m->seals);
    if (m->mode & ~07777u)
        return ck_fail(err, -1, "memory file %u (%s) has invalid mode %o", r->id, m->name, m->mode);
    if (m->size > CKPT_MEMFILE_MAX || m->extent.length != CK_PAGE_UP(m->size))
        return ck_fail(err, -1, "memory file %u (%s) of %lu bytes has %lu bytes of contents", r->id,
                       m->name, (unsigned long)m->size, (unsigned long)m->extent.length);
    return 0;
}

IMAGE_NOTHING_TO_COMPLETE(memfile)

/* A MEMFILE_OPEN follows its FILE (a memfd or deleted file) and names an object before it. */
int check_memfile_open(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                       struct ck_error *err)
{
    (void)v;
    const struct ckpt_memfile_open_record *o = (const void *)r;
    const struct ckpt_file_record *f = image_file_before(w, o->file);
    if (!f || w->prev_kind != CKPT_REC_FILE || !is_memfile_kind(f->kind))
        return ck_fail(err, -1, "memory file open record without its file record (file %u)",
                       o->file);
    if (o->object < 1 || o->object > w->last_id[CKPT_RECI_MEMFILE])
        return ck_fail(err, -1, "file %u (%s) opens memory file %u, which is not before it",
                       o->file, f->path, o->object);
    return 0;
}

/* A FILE of a memfd or deleted file names its object before the next FILE, the FDs or END. */
int complete_memfile_open(const struct image_view *v, const struct image_walk *w,
                          const struct ckpt_record_head *next, struct ck_error *err)
{
    (void)v;
    int ends_file =
        next->kind == CKPT_REC_FILE || next->kind == CKPT_REC_FD || next->kind == CKPT_REC_END;
    if (w->file && ends_file && is_memfile_kind(w->file->kind) &&
        !(w->since_file & IMAGE_KIND_BIT(MEMFILE_OPEN)))
        return ck_fail(err, -1, "file %u (%s) names no memory file", w->file->head.id,
                       w->file->path);
    return 0;
}

/* A MEMFILE_MAP follows its REGION (of kind MEMFILE) and names an object before it. */
int check_memfile_map(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                      struct ck_error *err)
{
    (void)v;
    const struct ckpt_memfile_map_record *map = (const void *)r;
    const struct ckpt_region_record *g = w->memory.region;
    if (w->prev_kind != CKPT_REC_REGION || !g || g->kind != CKPT_REGION_MEMFILE)
        return ck_fail(err, -1, "memory file map record without its region");
    if (map->object < 1 || map->object > w->last_id[CKPT_RECI_MEMFILE])
        return ck_fail(err, -1, "region %lx-%lx maps memory file %u, which is not before it",
                       (unsigned long)g->start, (unsigned long)g->end, map->object);
    return 0;
}

/* A region of kind MEMFILE is followed by the MEMFILE_MAP that names what it maps. */
int complete_memfile_map(const struct image_view *v, const struct image_walk *w,
                         const struct ckpt_record_head *next, struct ck_error *err)
{
    (void)v;
    const struct ckpt_region_record *g = w->memory.region;
    if (w->prev_kind == CKPT_REC_REGION && g && g->kind == CKPT_REGION_MEMFILE &&
        next->kind != CKPT_REC_MEMFILE_MAP)
        return ck_fail(err, -1, "region %lx-%lx names no memory file it maps",
                       (unsigned long)g->start, (unsigned long)g->end);
    return 0;
}
