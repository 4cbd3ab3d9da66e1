/* ckpt verify IMAGE: every check restore-run makes before its point of no return — the
 * image's ownership and mode, structure, architecture, every checksum, every value the
 * restore core would use after it, the working directory, every file the program had open
 * or mapped (present and identical), the descriptor and address space limits and the vDSO
 * plan — with the same code (restorer/validate.c), without restoring and without changing
 * anything. An image of a process that still runs is ok, with a warning: restore-run
 * refuses it until the process has stopped (or with --while-running). */
#include "ckpt_tool.h"
#include "validate.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The plan restore-run would build, by the same function (plan_build), in memory of its
 * own: no core area, every inherited descriptor taken as given (pipes and terminals come
 * from whoever runs restore-run), and an image of a running process allowed (a restore of
 * it is not). */
static int verify_environment(const char *path, struct image_view *view)
{
    struct ck_error err;
    struct own_mappings own;
    if (own_mappings_read(&own, &err)) {
        fprintf(stderr, CKPT_TOOL_NAME ": %s: %s\n", path, err.msg);
        return CKPT_EXIT_FAILURE;
    }
    struct restore_plan *p = calloc(1, plan_size(view));
    if (!p) {
        own_mappings_free(&own);
        fprintf(stderr, CKPT_TOOL_NAME ": %s: out of memory\n", path);
        return CKPT_EXIT_FAILURE;
    }
    struct plan_setting s = {
        .view = view, .image_len = view->size, .own = &own, .image_path = path, .allow_running = 1};
    int rc = plan_build(p, &s, &err);
    if (!rc)
        plan_close_files(p);
    own_mappings_free(&own);
    if (rc)
        fprintf(stderr, CKPT_TOOL_NAME ": %s: %s\n", path, err.msg);
    else if (p->original_runs)
        fprintf(stderr,
                CKPT_TOOL_NAME ": %s: warning: the checkpointed process (pid %" PRIu32
                               ") is still running: restore-run refuses to restore it until it "
                               "has stopped (or with --while-running)\n",
                path, p->proc->pid);
    if (!rc)
        printf(CKPT_TOOL_NAME ": %s: ok (pid %" PRIu32 ", generation %" PRIu32 ", %" PRIu32
                              " %s, %" PRIu32 " %s, %" PRIu32 " %s)\n",
               path, view->hdr->pid, view->hdr->generation, view->nregions,
               ckpt_plural(view->nregions, "region", "regions"), view->nruns,
               ckpt_plural(view->nruns, "run", "runs"), view->nfds,
               ckpt_plural(view->nfds, "descriptor", "descriptors"));
    free(p);
    return rc ? CKPT_EXIT_FAILURE : 0;
}

int ckpt_verify_command(int argc, char **argv)
{
    const char *path = NULL;
    int options_end = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_end && (!strcmp(arg, "--help") || !strcmp(arg, "-h")))
            return ckpt_print_help("verify");
        if (!options_end && !strcmp(arg, "--"))
            options_end = 1;
        else if (!options_end && arg[0] == '-' && arg[1])
            return ckpt_usage_error("verify", arg, "unknown option");
        else if (path)
            return ckpt_usage_error("verify", arg, "unexpected argument (one IMAGE only)");
        else
            path = arg;
    }
    if (!path)
        return ckpt_usage_error("verify", "IMAGE", "missing");
    validate_raise_soft_limits(); /* as restore-run does: the hard limits are what counts */
    struct image_file f;
    struct image_view view;
    struct ck_error err;
    /* A compressed image: its frames were checked against their stored checksums; then the
     * pages, decompressed, against their own. */
    int bad = validate_image_file(path, 1, &f, &view, &err);
    if (!bad && view.ncompressed &&
        (image_expand(&f, &view, &err) || image_verify_data(&view, &err))) {
        image_file_close(&f);
        bad = -1;
    }
    if (bad) {
        fprintf(stderr, CKPT_TOOL_NAME ": %s: %s\n", path, err.msg);
        return CKPT_EXIT_FAILURE;
    }
    int rc = verify_environment(path, &view);
    image_file_close(&f);
    if (fflush(stdout) != 0)
        return CKPT_EXIT_FAILURE;
    return rc;
}
