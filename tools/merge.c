/* `ckpt merge IMAGE OUTPUT`: folds an incremental image and the chain it extends into one
 * full image (docs/incremental.md). Every page a RUN_REF keeps in a parent is copied into a
 * RUN of the output; every other record is copied as it is, its data with it; the PARENT
 * records go. The chain is checked first as restore-run checks it (restorer/chain.c), the
 * output is written to a temporary, synced, validated whole and then renamed to OUTPUT (which
 * may be IMAGE itself: the parents are then no longer needed by it). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_tool.h"
#include "../restorer/chain.h"
#include "../state/chain.h"

/* The output's records: IMAGE's, with pages from the parents in place of references. */
static int merge_records(struct image_writer *w, const struct image_view *v,
                         const struct chain_parents *c)
{
    for (const struct ckpt_record_head *r = image_first_any(v); r && !w->error;
         r = image_next_any(v, r)) {
        if (r->kind == CKPT_REC_PARENT || r->kind == CKPT_REC_END)
            continue;
        if (r->kind == CKPT_REC_RUN_REF) {
            const struct ckpt_run_ref_record *u = (const void *)r;
            struct ckpt_run_record *run = iw_record(w, CKPT_REC_RUN, sizeof *run, 0);
            if (run) {
                run->addr = u->addr;
                iw_extent(w, &run->extent, chain_ref_data(c, u), u->length);
            }
            continue;
        }
        if (iw_copy_record(w, r))
            break;
        if (r->flags & CKPT_RECF_DATA) {
            struct ckpt_extent *e = (void *)(w->meta + w->meta_len - r->length + 16);
            const struct ckpt_extent *from = (const void *)((const char *)r + 16);
            iw_extent(w, e, v->base + from->file_offset, from->length);
        }
    }
    return w->error;
}

static int write_merged(const char *tmp, const struct mapped_image *m,
                        const struct chain_parents *c)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return ckpt_fail(tmp, "cannot create: %s", strerror(errno));
    size_t meta_cap = m->view.meta_len + CKPT_PAGE_SIZE;
    char *meta = malloc(meta_cap);
    struct image_writer w;
    iw_init(&w, fd, meta, meta_cap);
    struct ckpt_file_header hdr = {0};
    hdr.created_sec = m->view.hdr->created_sec;
    hdr.created_nsec = m->view.hdr->created_nsec;
    hdr.pid = m->view.hdr->pid;
    hdr.generation = m->view.hdr->generation;
    int rc = meta ? merge_records(&w, &m->view, c) : -ENOMEM;
    if (rc == 0)
        rc = iw_finish(&w, &hdr);
    if (rc == 0 && fdatasync(fd) != 0)
        rc = -errno;
    free(meta);
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc)
        return ckpt_fail(tmp, "writing the merged image: %s", strerror(-rc));
    return 0;
}

/* The merged image is read back and checked whole before it takes OUTPUT's name. */
static int check_merged(const char *tmp)
{
    struct mapped_image m;
    struct ck_error err;
    int rc = mapped_image_open(tmp, &m, &err) || image_verify_data(&m.view, &err) ||
             (m.view.nparents ? ck_fail(&err, -1, "still has parents") : 0);
    if (rc == 0)
        mapped_image_close(&m);
    return rc ? ckpt_fail(tmp, "the merged image is wrong: %s", err.msg) : 0;
}

static int sync_directory_of(const char *path)
{
    char dir[CKPT_PATH_MAX];
    ck_directory_of(path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = dfd >= 0 && fsync(dfd) == 0 ? 0 : -1;
    if (dfd >= 0)
        close(dfd);
    return rc ? ckpt_fail(dir, "cannot sync the directory: %s", strerror(errno)) : 0;
}

static int merge(const char *image, const char *output)
{
    struct mapped_image m;
    struct ck_error err;
    if (mapped_image_open(image, &m, &err) != 0)
        return ckpt_fail(image, "%s", err.msg);
    struct chain_parents *c = NULL;
    if (image_verify_data(&m.view, &err) || !(c = chain_parents_open(&m.view, image, &err))) {
        mapped_image_close(&m);
        return ckpt_fail(image, "%s", err.msg);
    }
    char tmp[CKPT_PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s.merge.tmp.%ld", output, (long)getpid());
    int rc = write_merged(tmp, &m, c);
    uint32_t nparents = m.view.nparents;
    chain_parents_close(c);
    mapped_image_close(&m);
    if (rc == 0)
        rc = check_merged(tmp);
    if (rc == 0 && rename(tmp, output) != 0)
        rc = ckpt_fail(output, "cannot rename the merged image to it: %s", strerror(errno));
    if (rc) {
        unlink(tmp);
        return rc;
    }
    if (sync_directory_of(output))
        return CKPT_EXIT_FAILURE;
    printf(CKPT_TOOL_NAME ": %s: merged with its %u parent %s into %s\n", image, nparents,
           ckpt_plural(nparents, "image", "images"), output);
    return 0;
}

int ckpt_merge_command(int argc, char **argv)
{
    const char *args[2] = {NULL, NULL};
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return ckpt_print_help("merge");
        if (argv[i][0] == '-' && argv[i][1] != 0)
            return ckpt_usage_error("merge", argv[i], "unknown option");
        if (n == 2)
            return ckpt_usage_error("merge", argv[i], "unexpected argument");
        args[n++] = argv[i];
    }
    if (n < 2)
        return ckpt_usage_error("merge", n ? "OUTPUT" : "IMAGE", "missing");
    return merge(args[0], args[1]);
}
