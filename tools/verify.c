/* ckpt verify IMAGE: every check restore-run makes before its point of no return — the
 * image's ownership and mode, structure, architecture, every checksum, every value the
 * restore core would use after it, the working directory, every file the program had open
 * or mapped (present and identical), the descriptor and address space limits and the vDSO
 * plan — with the same code (restorer/validate.c), without restoring and without changing
 * anything. An image of a process that still runs is ok, with a warning: restore-run
 * refuses it until the process has stopped (or with --while-running). */
#include "ckpt_tool.h"
#include "thread.h"
#include "validate.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int verify_environment(const char *path, struct image_view *view)
{
    struct ck_error err;
    struct restore_plan *p = calloc(1, sizeof *p);
    struct region_plan *regions = calloc(view->nregions + 1, sizeof *regions);
    struct fd_plan *fds = calloc(1, plan_fds_bytes(view) + sizeof *fds);
    struct thread_plan *threads = calloc(view->nthreads + 1, sizeof *threads);
    if (!p || !regions || !fds || !threads) {
        free(p), free(regions), free(fds), free(threads);
        fprintf(stderr, CKPT_TOOL_NAME ": %s: out of memory\n", path);
        return CKPT_EXIT_FAILURE;
    }
    p->view = *view;
    p->image_start = (uint64_t)(uintptr_t)view->base; /* the vDSO plan reads the old vDSO */
    p->image_len = view->size;
    p->exe_fd = p->err_fd = -1;
    p->allow_running = 1; /* an image of a running process is fine; a restore of it is not */
    /* Inherited pipes and terminals come from whoever runs restore-run: not checked here. */
    memset(p->startup_fds, 0xff, sizeof p->startup_fds);
    snprintf(p->image_path, sizeof p->image_path, "%s", path);
    plan_records(p, regions, fds);
    thread_plan(p, threads);
    struct address_map taken = {0};
    address_map_occupy_regions(&taken, view);
    int rc = validate_environment(p, address_map_gap_finder, &taken, &err);
    plan_close_files(p);
    address_map_free(&taken);
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
    free(p), free(regions), free(fds), free(threads);
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
    if (validate_image_file(path, 1, &f, &view, &err)) {
        fprintf(stderr, CKPT_TOOL_NAME ": %s: %s\n", path, err.msg);
        return CKPT_EXIT_FAILURE;
    }
    int rc = verify_environment(path, &view);
    image_file_close(&f);
    if (fflush(stdout) != 0)
        return CKPT_EXIT_FAILURE;
    return rc;
}
