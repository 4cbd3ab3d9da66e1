/* selfckpt: a program that uses the application API (<ckpt/ckpt.h>, -lckptapi).
 *
 * It registers hooks, excludes a cache from its images and checkpoints itself twice with
 * ckpt_checkpoint(): at step 20 it runs on, at step 40 it kills itself with SIGKILL once
 * the call says the image is durable. The driver (run-scenario.sh, kind "self") restores
 * that image from another directory; the restored process comes back out of the second
 * call, finds it was restored, and finishes.
 *
 * It checks itself, and prints FAILED on stdout (so that the comparison with the
 * uninterrupted run fails) when anything is off: under checkpoint-run (CKPT_IMAGE set)
 * every call must succeed, hooks must have run in their order with the right results, the
 * excluded pages must read zeros after the restore and the pages beside them their data;
 * without checkpoint-run every call must answer -CKPT_ENOTACTIVE. What happened is logged
 * to ./hooks.log, one line per event, compared by the driver with the expected sequence. */
#include "scenario.h"

#include <ckpt/ckpt.h>
#include <signal.h>
#include <sys/mman.h>

#define STEPS 60
#define CACHE_PAGES 5 /* pages 1..3 are excluded, 0 and 4 are kept */

static int hooks_log = -1;
static int restore_hooks_run;

__attribute__((format(printf, 1, 2))) static void log_event(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    scenario_vprint(hooks_log, fmt, ap);
    va_end(ap);
}

static void before_hook(const struct ckpt_result *r, void *arg)
{
    log_event("before %s image %s\n", (const char *)arg,
              strcmp(r->image, getenv("CKPT_IMAGE")) ? "wrong" : "ok");
}

static void resume_hook(const struct ckpt_result *r, void *arg)
{
    (void)arg;
    log_event("resume error %d restored %d generation %u\n", r->error, r->restored, r->generation);
}

static void restore_hook(const struct ckpt_result *r, void *arg)
{
    (void)arg;
    restore_hooks_run++;
    log_event("restore error %d restored %d generation %u restores %u\n", r->error, r->restored,
              r->generation, r->restores);
}

static unsigned char *cache;
static long page;

static void fill_cache(void)
{
    memset(cache, 0xab, (size_t)(CACHE_PAGES * page));
}

/* "kept" if every page holds its 0xab, "zeros 1-3" if the excluded ones read zero. */
static const char *cache_state(void)
{
    int zeros = 1, kept = 1;
    for (long i = 0; i < CACHE_PAGES * page; i++) {
        int excluded = i / page >= 1 && i / page <= 3;
        if (excluded)
            zeros &= cache[i] == 0, kept &= cache[i] == 0xab;
        else if (cache[i] != 0xab)
            return "neighbours lost";
    }
    return kept ? "kept" : zeros ? "zeros 1-3" : "mixed";
}

static void set_up_api(int under_ckpt)
{
    int rc = ckpt_add_hook(CKPT_HOOK_BEFORE, before_hook, "A");
    if (!under_ckpt) {
        struct ckpt_result r;
        uint32_t gen = 7;
        if (rc != -CKPT_ENOTACTIVE || ckpt_checkpoint(&r) != -CKPT_ENOTACTIVE ||
            r.error != CKPT_ENOTACTIVE || ckpt_restored(&gen) != -CKPT_ENOTACTIVE || gen != 0 ||
            ckpt_exclude(cache + page, 3 * page) != -CKPT_ENOTACTIVE)
            fail("without checkpoint-run the API must answer -CKPT_ENOTACTIVE\n");
        log_event("not under ckpt: every call answers %d\n", -CKPT_ENOTACTIVE);
        return;
    }
    if (rc || ckpt_add_hook(CKPT_HOOK_BEFORE, before_hook, "B") ||
        ckpt_add_hook(CKPT_HOOK_RESUME, resume_hook, NULL) ||
        ckpt_add_hook(CKPT_HOOK_RESTORE, restore_hook, NULL))
        fail("ckpt_add_hook failed\n");
    if (ckpt_add_hook(0, before_hook, NULL) != -EINVAL || ckpt_exclude(cache + 1, 10) != -EINVAL)
        fail("bad arguments were accepted\n");
    /* Excluded in two pieces, one put back and excluded again: the list merges them. */
    if (ckpt_exclude(cache + page, page) || ckpt_exclude(cache + 2 * page, 2 * page - 100) ||
        ckpt_include(cache + 2 * page, page) || ckpt_exclude(cache + 2 * page, page))
        fail("ckpt_exclude/ckpt_include failed\n");
    uint32_t gen = 7;
    if (ckpt_restored(&gen) != 0 || gen != 0)
        fail("a process never restored says it was\n");
}

static void checkpoint_at(int step, int under_ckpt)
{
    struct ckpt_result r;
    int rc = ckpt_checkpoint(&r);
    if (!under_ckpt)
        return;
    if (rc == CKPT_RESTORED) {
        uint32_t gen = 0;
        int restores = ckpt_restored(&gen);
        log_event(
            "step %d: restored (ckpt_restored %d, generation %u, restore hooks %d), cache %s\n",
            step, restores, gen, restore_hooks_run, cache_state());
        if (restores != 1 || gen != r.generation || restore_hooks_run != 1 || !r.restored)
            fail("the restored process does not know it is\n");
        fill_cache(); /* rebuilt */
        return;
    }
    if (rc != CKPT_CHECKPOINTED || r.error || r.restored || !r.generation)
        fail("ckpt_checkpoint at step %d: %d (error %d)\n", step, rc, r.error);
    log_event("step %d: checkpointed, generation %u, cache %s\n", step, r.generation,
              cache_state());
    if (step == 40)
        raise(SIGKILL); /* the driver restores the image that call made durable */
}

/* selfckpt failing: the image cannot be made durable (the test runs it where fdatasync
 * fails with EIO): ckpt_checkpoint must say so, its RESUME hook must see the same error,
 * and the program runs on. */
static int checkpoint_that_fails(void)
{
    hooks_log = 1;
    if (ckpt_add_hook(CKPT_HOOK_RESUME, resume_hook, NULL))
        fail("ckpt_add_hook failed\n");
    struct ckpt_result r;
    int rc = ckpt_checkpoint(&r);
    say("ckpt_checkpoint %d error %d\n", rc, r.error);
    uint32_t gen = 0;
    say("runs on, restores %d\n", ckpt_restored(&gen));
    return 0;
}

/* selfckpt blocked: ckpt_checkpoint called from a signal handler whose mask holds the
 * checkpoint signal must refuse at once (-EDEADLK) without running a hook or leaving the
 * signal pending: no checkpoint comes once the handler returns. */
static int blocked_result;

static void checkpoint_from_handler(int sig)
{
    (void)sig;
    blocked_result = ckpt_checkpoint(NULL);
}

static int checkpoint_while_blocked(void)
{
    hooks_log = 1;
    if (ckpt_add_hook(CKPT_HOOK_BEFORE, before_hook, "X"))
        fail("ckpt_add_hook failed\n");
    struct sigaction sa = {.sa_handler = checkpoint_from_handler};
    sigfillset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    usleep(300 * 1000); /* a checkpoint left pending would be taken and written by now */
    say("from a handler: %d (EDEADLK %d), image %s\n", blocked_result, -EDEADLK,
        access(getenv("CKPT_IMAGE"), F_OK) == 0 ? "written" : "none");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "failing"))
        return checkpoint_that_fails();
    if (argc > 1 && !strcmp(argv[1], "blocked"))
        return checkpoint_while_blocked();
    scenario_started();
    hooks_log = open("hooks.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    page = sysconf(_SC_PAGESIZE);
    cache = mmap(NULL, (size_t)(CACHE_PAGES * page), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (hooks_log < 0 || cache == MAP_FAILED)
        fail("setting up: %s\n", strerror(errno));
    fill_cache();
    int under_ckpt = getenv("CKPT_IMAGE") != NULL;
    set_up_api(under_ckpt);
    unsigned long long sum = FNV_START;
    for (int step = 1; step <= STEPS; step++) {
        sum = fnv_mix(sum, (unsigned long long)step);
        say("step %d sum %016llx\n", step, sum);
        if (step == 20 || step == 40)
            checkpoint_at(step, under_ckpt);
        pace();
    }
    /* The cache is the program's again: written after a restore, it stays. */
    say("done, cache %s\n", cache_state());
    return 0;
}
