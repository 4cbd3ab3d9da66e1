/* restore-run and ckpt verify: the parents of an incremental image; see chain.h. libc. */
#define _GNU_SOURCE
#include "chain.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../state/chain.h"

struct parent_image {
    const struct ckpt_parent_record *rec;
    char path[CKPT_PATH_MAX + 256];
    void *map;
    uint64_t size;
    struct image_view view;
    const struct ckpt_run_record **runs; /* in file order, so by extent.file_offset */
    size_t nruns;
};

static void close_parents(struct parent_image *pi, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (pi[i].map)
            munmap(pi[i].map, pi[i].size);
        free(pi[i].runs);
    }
}

static int list_runs(struct parent_image *pi)
{
    pi->runs = malloc((pi->view.nruns + 1) * sizeof *pi->runs);
    if (!pi->runs)
        return -1;
    for (const struct ckpt_record_head *r = image_first(&pi->view); r; r = image_next(&pi->view, r))
        if (r->kind == CKPT_REC_RUN)
            pi->runs[pi->nruns++] = (const void *)r;
    return 0;
}

/* The parent found, validated whole, its runs listed. */
static int open_parent(struct restore_plan *p, const char *image_path, uint32_t i,
                       struct parent_image *pi, struct ck_error *err)
{
    long fd = chain_find_parent(image_path, pi->rec, pi->path, sizeof pi->path, err);
    if (fd < 0)
        return -1;
    p->parent_fds[i] = (int)fd;
    p->nparents = i + 1;
    pi->size = pi->rec->file_size;
    pi->map = mmap(NULL, pi->size, PROT_READ, MAP_PRIVATE, (int)fd, 0);
    if (pi->map == MAP_FAILED) {
        pi->map = NULL;
        return ck_fail(err, -1, "parent image %s: cannot map it", pi->path);
    }
    struct ck_error why;
    if (image_open_view(&pi->view, pi->map, pi->size, &why) || image_verify_data(&pi->view, &why))
        return ck_fail(err, -1, "parent image %s: %s", pi->path, why.msg);
    if (list_runs(pi))
        return ck_fail(err, -1, "parent image %s: out of memory", pi->path);
    return 0;
}

/* The parent's RUN holding file offset off, or NULL. */
static const struct ckpt_run_record *run_at(const struct parent_image *pi, uint64_t off)
{
    size_t lo = 0, hi = pi->nruns;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct ckpt_extent *e = &pi->runs[mid]->extent;
        if (off < e->file_offset)
            hi = mid;
        else if (off - e->file_offset >= e->length)
            lo = mid + 1;
        else
            return pi->runs[mid];
    }
    return NULL;
}

static int check_ref(const struct parent_image *pi, const struct ckpt_run_ref_record *u,
                     struct ck_error *err)
{
    const struct ckpt_run_record *run = run_at(pi, u->offset);
    uint64_t into = run ? u->offset - run->extent.file_offset : 0;
    if (!run || u->length > run->extent.length - into || run->addr + into != u->addr)
        return ck_fail(err, -1,
                       "pages %lx+%lx are not in parent image %s where this image says (file "
                       "offset %lu): the parent is not the image this one extends",
                       (unsigned long)u->addr, (unsigned long)u->length, pi->path,
                       (unsigned long)u->offset);
    return 0;
}

int chain_open_parents(struct restore_plan *p, const char *image_path, struct ck_error *err)
{
    const struct image_view *v = &p->view;
    p->nparents = 0;
    if (v->nparents == 0)
        return 0;
    struct parent_image *pi = calloc(v->nparents, sizeof *pi);
    if (!pi)
        return ck_fail(err, -1, "out of memory for the parent images");
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < v->nparents; i++) {
        pi[i].rec = chain_parent(v, i);
        rc = open_parent(p, image_path, i, &pi[i], err);
    }
    for (const struct ckpt_record_head *r = image_first(v); rc == 0 && r; r = image_next(v, r))
        if (r->kind == CKPT_REC_RUN_REF) {
            const struct ckpt_run_ref_record *u = (const void *)r;
            rc = check_ref(&pi[u->parent - 1], u, err);
        }
    close_parents(pi, v->nparents);
    free(pi);
    if (rc) {
        for (uint32_t i = 0; i < p->nparents; i++)
            close(p->parent_fds[i]);
        p->nparents = 0;
    }
    return rc;
}
