/* restore-run and ckpt verify: the parents of an incremental image; see chain.h. libc. */
#define _GNU_SOURCE
#include "chain.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../state/chain.h"
#include "../state/hash.h"

struct parent_image {
    const struct ckpt_parent_record *rec;
    int fd;
    char path[CKPT_PATH_MAX + 256];
    void *map;
    uint64_t size;
    struct image_view view;
    const struct ckpt_run_record **runs; /* in file order, so by extent.file_offset */
    unsigned char *verified;             /* per run: its data matched its checksum */
    size_t nruns;
};

struct chain_parents {
    uint32_t n;
    struct parent_image pi[];
};

void chain_parents_close(struct chain_parents *c)
{
    for (uint32_t i = 0; c && i < c->n; i++) {
        struct parent_image *pi = &c->pi[i];
        if (pi->map)
            munmap(pi->map, pi->size);
        if (pi->fd >= 0)
            close(pi->fd);
        free(pi->runs);
        free(pi->verified);
    }
    free(c);
}

static int list_runs(struct parent_image *pi)
{
    pi->runs = malloc((pi->view.nruns + 1) * sizeof *pi->runs);
    pi->verified = calloc(pi->view.nruns + 1, 1);
    if (!pi->runs || !pi->verified)
        return -1;
    for (const struct ckpt_record_head *r = image_first(&pi->view); r; r = image_next(&pi->view, r))
        if (r->kind == CKPT_REC_RUN)
            pi->runs[pi->nruns++] = (const void *)r;
    return 0;
}

/* The parent found, its structure and metadata validated, its runs listed (their data is
 * verified as references use them). */
static int open_parent(const char *image_path, struct parent_image *pi, struct ck_error *err)
{
    long fd = chain_find_parent(image_path, pi->rec, pi->path, sizeof pi->path, err);
    if (fd < 0)
        return -1;
    pi->fd = (int)fd;
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

/* The index of the parent's RUN whose extent starts at off, or -1. */
static long run_at(const struct parent_image *pi, uint64_t off)
{
    size_t lo = 0, hi = pi->nruns;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t at = pi->runs[mid]->extent.file_offset;
        if (off == at)
            return (long)mid;
        if (off < at)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

/* The reference names one RUN of the parent as the parent has it, at the same addresses, and
 * that RUN's data matches its checksum (hashed once, when a reference first uses it). */
static int check_ref(struct parent_image *pi, const struct ckpt_run_ref_record *u,
                     struct ck_error *err)
{
    long i = run_at(pi, u->run.file_offset);
    const struct ckpt_run_record *run = i >= 0 ? pi->runs[i] : NULL;
    if (!run || ck_memcmp(&run->extent, &u->run, sizeof u->run) || run->addr + u->skip != u->addr)
        return ck_fail(err, -1,
                       "pages %lx+%lx are not in parent image %s where this image says (its run "
                       "at file offset %lu): the parent is not the image this one extends",
                       (unsigned long)u->addr, (unsigned long)u->length, pi->path,
                       (unsigned long)u->run.file_offset);
    if (!pi->verified[i]) {
        const struct ckpt_region_record *g = NULL;
        for (const struct ckpt_record_head *r = image_first(&pi->view); r && r != &run->head;
             r = image_next(&pi->view, r))
            if (r->kind == CKPT_REC_REGION)
                g = (const void *)r;
        struct ck_error why;
        if (ck_hash64(pi->view.base + run->extent.file_offset, run->extent.length) !=
            run->extent.checksum)
            return ck_fail(err, -1, "parent image %s: %s", pi->path,
                           (image_fail_run(g, run, &why), why.msg));
        pi->verified[i] = 1;
    }
    return 0;
}

struct chain_parents *chain_parents_open(const struct image_view *v, const char *image_path,
                                         struct ck_error *err)
{
    struct chain_parents *c = calloc(1, sizeof *c + v->nparents * sizeof c->pi[0]);
    if (!c) {
        ck_fail(err, -1, "out of memory for the parent images");
        return NULL;
    }
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < v->nparents; i++) {
        c->pi[i].fd = -1;
        c->pi[i].rec = chain_parent(v, i);
        c->n = i + 1;
        rc = open_parent(image_path, &c->pi[i], err);
    }
    for (const struct ckpt_record_head *r = image_first(v); rc == 0 && r; r = image_next(v, r))
        if (r->kind == CKPT_REC_RUN_REF) {
            const struct ckpt_run_ref_record *u = (const void *)r;
            rc = check_ref(&c->pi[u->parent - 1], u, err);
        }
    if (rc) {
        chain_parents_close(c);
        return NULL;
    }
    return c;
}

const void *chain_ref_data(const struct chain_parents *c, const struct ckpt_run_ref_record *u)
{
    return (const unsigned char *)c->pi[u->parent - 1].map + chain_ref_file_offset(u);
}

int chain_open_parents(struct restore_plan *p, const char *image_path, struct ck_error *err)
{
    p->nparents = 0;
    if (p->view.nparents == 0)
        return 0;
    struct chain_parents *c = chain_parents_open(&p->view, image_path, err);
    if (!c)
        return -1;
    for (uint32_t i = 0; i < c->n; i++) {
        p->parent_fds[i] = c->pi[i].fd;
        c->pi[i].fd = -1;
    }
    p->nparents = c->n;
    chain_parents_close(c);
    return 0;
}
