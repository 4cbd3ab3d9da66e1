/* Incremental images: the chain of images; see chain.h. */
#include "chain.h"
#include "image_check.h"
#include "plan.h"
#include "sys.h"

#include <asm/errno.h>
#include <linux/fcntl.h>
#include <linux/mman.h>

/* ---- the validator's checks of PARENT records (image_check.h) ------------------------- */

int check_parent(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                 struct ck_error *err)
{
    const struct ckpt_parent_record *pr = (const void *)r;
    if (w->prev_kind != CKPT_REC_THREAD && w->prev_kind != CKPT_REC_PARENT)
        return ck_fail(err, -1, "parent image record %u is not right after the threads", r->id);
    if (r->id == 0 || r->id > CKPT_PARENTS_MAX)
        return ck_fail(err, -1, "parent image record has id %u (1 to %u)", r->id, CKPT_PARENTS_MAX);
    if (!image_path_ok(pr->name, pr->name_len, (const char *)r + r->length) || pr->name_len == 0)
        return ck_fail(err, -1, "parent image %u has a malformed name", r->id);
    for (const char *c = pr->name; *c; c++)
        if (*c == '/')
            return ck_fail(err, -1, "parent image %u's name %s is not a file name", r->id,
                           pr->name);
    if (pr->content_id == 0 || pr->file_size < CKPT_HEADER_SIZE)
        return ck_fail(err, -1, "parent image %u (%s) has no content id or size", r->id, pr->name);
    v->nparents++;
    return 0;
}

IMAGE_NOTHING_TO_COMPLETE(parent)

/* ---- the save side: the writer ---------------------------------------------------------- */

const struct ckpt_parent_record *chain_parent(const struct image_view *v, uint32_t i)
{
    uint32_t n = 0;
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        if (r->kind == CKPT_REC_REGION)
            break;
        if (r->kind == CKPT_REC_PARENT && n++ == i)
            return (const void *)r;
    }
    return 0;
}

int chain_pages_of(const struct ckpt_record_head *r, uint64_t *addr, uint64_t *len)
{
    if (r->kind == CKPT_REC_RUN) {
        const struct ckpt_run_record *u = (const void *)r;
        *addr = u->addr, *len = u->extent.length;
        return 1;
    }
    if (r->kind == CKPT_REC_RUN_REF) {
        const struct ckpt_run_ref_record *u = (const void *)r;
        *addr = u->addr, *len = u->length;
        return 1;
    }
    return 0;
}

/* A file of ours that nobody else may write: images decide what code runs. */
static int protected_regular(const struct kstat *st)
{
    return CK_S_IS(st->st_mode, CK_S_IFREG) && st->st_uid == (uint32_t)sys_geteuid() &&
           !(st->st_mode & 0022);
}

/* Maps the image open at fd whole, read-only. 0 or -errno. */
static int map_whole(long fd, struct chain_base *b)
{
    struct kstat st;
    long r = sys_fstat((int)fd, &st);
    if (r < 0)
        return (int)r;
    if (!protected_regular(&st))
        return -EPERM;
    b->size = (uint64_t)st.st_size;
    if (b->size < CKPT_HEADER_SIZE)
        return -EINVAL;
    void *m = sys_mmap(0, b->size, PROT_READ, MAP_PRIVATE, (int)fd, 0);
    if (sys_mmap_failed(m))
        return (int)(long)m;
    b->map = m;
    return 0;
}

int chain_open_base(const char *path, uint32_t pid, uint32_t generation, struct chain_base *b,
                    struct ck_error *err)
{
    ck_memset(b, 0, sizeof *b);
    long fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0)
        return ck_fail(err, (int)fd, "the previous image %s: %s", path, ck_strerror((int)-fd));
    int rc = map_whole(fd, b);
    sys_close((int)fd);
    if (rc)
        return ck_fail(err, rc, "the previous image %s: %s", path,
                       rc == -EPERM ? "not a regular file of ours writable by nobody else"
                                    : ck_strerror(-rc));
    struct ck_error why;
    if (image_open_view(&b->view, b->map, b->size, &why)) {
        chain_close_base(b);
        return ck_fail(err, -1, "the previous image %s: %s", path, why.msg);
    }
    const struct ckpt_file_header *h = b->view.hdr;
    if (h->pid != pid || h->generation != generation) {
        chain_close_base(b);
        return ck_fail(err, -1,
                       "the previous image %s is not the one this process wrote last "
                       "(pid %u, generation %u; expected %u, %u)",
                       path, h->pid, h->generation, pid, generation);
    }
    if (b->view.nparents + 1 > CKPT_PARENTS_MAX) {
        chain_close_base(b);
        return ck_fail(err, -1, "the previous image %s has %u parents already", path,
                       b->view.nparents);
    }
    return 0;
}

void chain_close_base(struct chain_base *b)
{
    if (b->map)
        sys_munmap(b->map, b->size);
    b->map = 0;
}

static struct ckpt_parent_record *add_parent(struct image_writer *w, uint32_t id,
                                             uint64_t content_id, uint64_t file_size,
                                             uint32_t generation, const char *name)
{
    struct ckpt_parent_record *pr = iw_record(w, CKPT_REC_PARENT, sizeof *pr, name);
    if (!pr)
        return 0;
    pr->head.id = id;
    pr->content_id = content_id;
    pr->file_size = file_size;
    pr->generation = generation;
    pr->name_len = (uint32_t)ck_strlen(name);
    return pr;
}

int chain_save_parents(struct image_writer *w, const struct image_view *base, const char *base_name,
                       struct ck_error *err)
{
    const struct ckpt_file_header *h = base->hdr;
    if (!add_parent(w, 1, h->header_checksum, h->file_size, h->generation, base_name))
        return ck_fail(err, w->error, "image metadata: %s", ck_strerror(-w->error));
    for (uint32_t i = 0; i < base->nparents; i++) {
        const struct ckpt_parent_record *pr = chain_parent(base, i);
        if (!pr || !add_parent(w, i + 2, pr->content_id, pr->file_size, pr->generation, pr->name))
            return ck_fail(err, w->error ? w->error : -1, "image metadata: %s",
                           w->error ? ck_strerror(-w->error) : "a parent of the base is missing");
    }
    return 0;
}

uint32_t chain_depth_of_file(const char *path)
{
    long fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct ckpt_file_header h;
    uint32_t n = 0;
    struct kstat st;
    if (sys_fstat((int)fd, &st) == 0 && protected_regular(&st) &&
        sys_pread((int)fd, &h, sizeof h, 0) == sizeof h &&
        !ck_memcmp(h.magic, CKPT_IMAGE_MAGIC, 8)) {
        uint64_t pos = h.meta_offset, end = h.meta_offset + h.meta_length;
        struct ckpt_record_head r;
        while (pos < end && sys_pread((int)fd, &r, sizeof r, pos) == sizeof r && r.length >= 16 &&
               r.kind != CKPT_REC_REGION && r.kind != CKPT_REC_END) {
            n += r.kind == CKPT_REC_PARENT;
            pos += r.length;
        }
    }
    sys_close((int)fd);
    return n;
}

/* ---- finding a parent ------------------------------------------------------------------ */

/* Is the file at name in dfd the image pr names? Returns its descriptor, or -1. */
static long open_if_parent(int dfd, const char *name, const struct ckpt_parent_record *pr)
{
    long fd = sys_openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct kstat st;
    struct ckpt_file_header h;
    if (sys_fstat((int)fd, &st) == 0 && protected_regular(&st) &&
        (uint64_t)st.st_size == pr->file_size && sys_pread((int)fd, &h, sizeof h, 0) == sizeof h &&
        !ck_memcmp(h.magic, CKPT_IMAGE_MAGIC, 8) && h.header_checksum == pr->content_id &&
        h.file_size == pr->file_size)
        return fd;
    sys_close((int)fd);
    return -1;
}

long chain_find_parent(const char *image_path, const struct ckpt_parent_record *pr, char *found,
                       size_t found_cap, struct ck_error *err)
{
    char dir[CKPT_PATH_MAX];
    ck_directory_of(image_path, dir, sizeof dir);
    long dfd = sys_openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dfd < 0)
        return ck_fail(err, -1, "parent image %u (%s): the directory %s: %s", pr->head.id, pr->name,
                       dir, ck_strerror((int)-dfd));
    long fd = open_if_parent((int)dfd, pr->name, pr);
    const char *name = pr->name;
    struct ck_dir d;
    if (fd < 0 && ck_dir_open(&d, dir) == 0) {
        while (fd < 0 && (name = ck_dir_next(&d)) != 0)
            fd = open_if_parent((int)dfd, name, pr);
        if (fd >= 0)
            ck_format(found, found_cap, "%s/%s", dir, name);
        ck_dir_close(&d);
    } else if (fd >= 0) {
        ck_format(found, found_cap, "%s/%s", dir, name);
    }
    sys_close((int)dfd);
    if (fd < 0)
        return ck_fail(err, -1,
                       "parent image %u (generation %u, content id %016lx, last named %s) is "
                       "not in %s: the chain is incomplete (a missing or replaced parent)",
                       pr->head.id, pr->generation, (unsigned long)pr->content_id, pr->name, dir);
    return fd;
}

/* ---- the restore side: the restore core ----------------------------------------------- */

uint64_t chain_ref_file_offset(const struct ckpt_run_ref_record *u)
{
    return u->run.file_offset + u->skip;
}

long chain_read_ref(int fd, const struct ckpt_run_ref_record *u, void *dst)
{
    uint64_t from = chain_ref_file_offset(u);
    for (uint64_t done = 0; done < u->length;) {
        long n = sys_pread(fd, (char *)dst + done, u->length - done, from + done);
        if (n == -EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? n : -EIO;
        done += (uint64_t)n;
    }
    return 0;
}

void chain_place_ref(const struct restore_plan *p, const struct ckpt_run_ref_record *u, int prot,
                     int map)
{
    int fd = p->parent_fds[u->parent - 1];
    if (map) {
        void *at = sys_mmap((void *)u->addr, u->length, prot, MAP_PRIVATE | MAP_FIXED, fd,
                            chain_ref_file_offset(u));
        if (!sys_mmap_failed(at))
            return;
    }
    long r = chain_read_ref(fd, u, (void *)u->addr);
    if (r < 0)
        core_die(p, "reading pages %lx+%lx from parent image %u: %s", (unsigned long)u->addr,
                 (unsigned long)u->length, u->parent, ck_strerror((int)-r));
}
