/* The application API (include/ckpt/ckpt.h) as the shim serves it. These functions run in
 * the program's ordinary context (never in the checkpoint signal handler), so hooks may
 * use libc; what they share with the handler (the exclusions) is plain data in ckpt_shim.
 *
 * ckpt_checkpoint takes its checkpoint through the same protocol as `ckpt checkpoint`: it
 * queues the checkpoint signal to its own thread, marked with the shim's cookie (sigroute.h),
 * and its handler runs before the call returns (the shim keeps the signal unblocked); the
 * handler numbers the checkpoint (ckpt_public.begun), and the answer for that number — the
 * program's own, or its writer child's in IMAGE.status — is the result. A restored process resumes
 * in that handler, and so returns from this same call: after_restore (checkpoint.c) counts the
 * restore, which is how the call tells its two returns apart. */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>

#include "shim.h"
#include "sigroute.h"
#include "sys.h"
#include "util.h"

#include <linux/fcntl.h>

#define EXPORT __attribute__((visibility("default")))

struct hook {
    int when;
    ckpt_hook_fn fn;
    void *arg;
};
static struct hook hooks[CKPT_HOOKS_MAX];
static int nhooks;
static int in_checkpoint_call; /* a hook calling ckpt_checkpoint gets -EBUSY */

/* ---- hooks ------------------------------------------------------------------------------ */

EXPORT int ckpt_add_hook(int when, ckpt_hook_fn fn, void *arg)
{
    if (!ckpt_shim.active)
        return -CKPT_ENOTACTIVE;
    int all = CKPT_HOOK_BEFORE | CKPT_HOOK_RESUME | CKPT_HOOK_RESTORE;
    if (!fn || !(when & all) || (when & ~all))
        return -EINVAL;
    if (nhooks == CKPT_HOOKS_MAX)
        return -ENOSPC;
    hooks[nhooks++] = (struct hook){when, fn, arg};
    return 0;
}

EXPORT int ckpt_remove_hook(ckpt_hook_fn fn, void *arg)
{
    if (!ckpt_shim.active)
        return -CKPT_ENOTACTIVE;
    int kept = 0, removed = 0;
    for (int i = 0; i < nhooks; i++) {
        if (hooks[i].fn == fn && hooks[i].arg == arg)
            removed++;
        else
            hooks[kept++] = hooks[i];
    }
    nhooks = kept;
    return removed;
}

/* BEFORE hooks last-registered first, the others first-registered first. */
static void run_hooks(int when, const struct ckpt_result *r)
{
    for (int k = 0; k < nhooks; k++) {
        int i = when == CKPT_HOOK_BEFORE ? nhooks - 1 - k : k;
        if (hooks[i].when & when)
            hooks[i].fn(r, hooks[i].arg);
    }
}

/* ---- exclusions ------------------------------------------------------------------------- */

/* [start, end) from addr and len: page-aligned start, whole pages. 0 or -EINVAL. */
static int page_range(void *addr, size_t len, struct memory_range *out)
{
    uint64_t start = (uint64_t)addr;
    if (!len || start % CK_PAGE || len > UINT64_MAX - start - CK_PAGE)
        return -EINVAL;
    *out = (struct memory_range){start, (start + len + CK_PAGE - 1) / CK_PAGE * CK_PAGE};
    return 0;
}

/* The list minus [x.start, x.end): ranges are cut, split or dropped. -ENOSPC (and nothing
 * changed) if a split needs a slot there is not. The checkpoint handler reads the list:
 * it is changed with the checkpoint signal blocked. */
static int subtract_range(struct memory_range *list, size_t *n, struct memory_range x)
{
    struct memory_range out[CKPT_EXCLUDE_MAX];
    size_t m = 0;
    for (size_t i = 0; i < *n; i++) {
        struct memory_range r = list[i];
        if (r.end <= x.start || r.start >= x.end) {
            out[m++] = r;
            continue;
        }
        if (r.start < x.start)
            out[m++] = (struct memory_range){r.start, x.start};
        if (r.end > x.end) {
            if (m == CKPT_EXCLUDE_MAX)
                return -ENOSPC;
            out[m++] = (struct memory_range){x.end, r.end};
        }
    }
    memcpy(list, out, m * sizeof *out);
    *n = m;
    return 0;
}

/* Adds x, merged with the ranges it overlaps or touches, in address order. */
static int add_range(struct memory_range *list, size_t *n, struct memory_range x)
{
    size_t m = 0, at = 0;
    struct memory_range out[CKPT_EXCLUDE_MAX + 1];
    for (size_t i = 0; i < *n; i++) {
        if (list[i].end < x.start) {
            out[m++] = list[i];
            at = m;
        } else if (list[i].start > x.end) {
            out[m++] = list[i];
        } else {
            x.start = list[i].start < x.start ? list[i].start : x.start;
            x.end = list[i].end > x.end ? list[i].end : x.end;
        }
    }
    if (m == CKPT_EXCLUDE_MAX)
        return -ENOSPC;
    memmove(out + at + 1, out + at, (m - at) * sizeof *out);
    out[at] = x;
    memcpy(list, out, (m + 1) * sizeof *out);
    *n = m + 1;
    return 0;
}

static void block_checkpoints(uint64_t *old)
{
    uint64_t set = 1ULL << (ckpt_shim.signal - 1);
    sys_rt_sigprocmask(0 /* SIG_BLOCK */, &set, old);
}

static void unblock_checkpoints(const uint64_t *old)
{
    sys_rt_sigprocmask(2 /* SIG_SETMASK */, old, 0);
}

static int change_exclusions(void *addr, size_t len, int exclude)
{
    if (!ckpt_shim.active)
        return -CKPT_ENOTACTIVE;
    struct memory_range x;
    int rc = page_range(addr, len, &x);
    if (rc)
        return rc;
    uint64_t old;
    block_checkpoints(&old);
    rc = exclude ? add_range(ckpt_shim.excluded, &ckpt_shim.nexcluded, x)
                 : subtract_range(ckpt_shim.excluded, &ckpt_shim.nexcluded, x);
    unblock_checkpoints(&old);
    return rc;
}

EXPORT int ckpt_exclude(void *addr, size_t len)
{
    return change_exclusions(addr, len, 1);
}

EXPORT int ckpt_include(void *addr, size_t len)
{
    return change_exclusions(addr, len, 0);
}

/* ---- restored? -------------------------------------------------------------------------- */

EXPORT int ckpt_restored(uint32_t *generation)
{
    if (generation)
        *generation = ckpt_shim.active ? ckpt_shim.restored_generation : 0;
    return ckpt_shim.active ? (int)ckpt_shim.restores : -CKPT_ENOTACTIVE;
}

/* ---- ckpt_checkpoint -------------------------------------------------------------------- */

/* The value of key in an answer line ("... key=VALUE ..."), parsed in base; -1 if absent. */
/* The answer for checkpoint seq of this incarnation in IMAGE.status: its result (errno)
 * and generation. Returns 0, or -1 if there is none. */
static int read_answer(uint64_t seq, int *result, uint32_t *generation)
{
    static char buf[CKPT_STATUS_MAX_BYTES + 1];
    char path[CKPT_PATH_MAX + 32];
    ck_format(path, sizeof path, "%s" CKPT_STATUS_SUFFIX, ckpt_shim.image);
    long fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    long n = sys_pread((int)fd, buf, CKPT_STATUS_MAX_BYTES, 0);
    sys_close((int)fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    return checkpoint_find_answer(buf, seq, result, generation);
}

/* The checkpoint's outcome in the original process, once its image is durable or has
 * failed: the program's own answer, or its writer child's, waited for. */
static void collect_outcome(uint64_t seq, struct ckpt_result *r)
{
    if (ckpt_public.finished != seq) { /* cannot be: the handler always finishes */
        r->error = EIO;
        return;
    }
    long writer = ckpt_public.finished_writer;
    r->error = ckpt_public.finished_result;
    r->generation = ckpt_shim.generation;
    if (!writer && !r->error && ckpt_public.finished_status_error)
        r->error = ckpt_public.finished_status_error;
    if (!writer) {
        r->generation = r->error ? 0 : r->generation;
        return;
    }
    /* Blocked meanwhile, a checkpoint requested from outside waits until this one's writer is
     * reaped here, and is taken right after. */
    uint64_t old;
    block_checkpoints(&old);
    int rc = ckpt_shim.writer_pid == writer ? checkpoint_wait_for_writer() : 0;
    unblock_checkpoints(&old);
    int result = 0;
    uint32_t generation = 0;
    if (read_answer(seq, &result, &generation) == 0) {
        r->error = result;
        r->generation = generation;
    } else {
        r->error = rc ? EIO : EPROTO; /* the writer ended without an answer */
    }
    if (r->error)
        r->generation = 0; /* no image was made */
}

static void start_result(struct ckpt_result *r)
{
    memset(r, 0, sizeof *r);
    if (ckpt_shim.active)
        ck_strlcpy(r->image, ckpt_shim.image, sizeof r->image);
    r->restores = ckpt_shim.restores;
}

EXPORT int ckpt_checkpoint(struct ckpt_result *result)
{
    struct ckpt_result local;
    struct ckpt_result *r = result ? result : &local;
    start_result(r);
    if (!ckpt_shim.active)
        return -(r->error = CKPT_ENOTACTIVE);
    if (in_checkpoint_call)
        return -(r->error = EBUSY);
    /* With the checkpoint signal blocked (called from a signal handler whose mask holds it)
     * the signal would stay pending and the checkpoint come later, unbracketed by the
     * hooks: refuse before anything runs or is sent. */
    uint64_t mask = 0;
    sys_rt_sigprocmask(SIG_BLOCK, NULL, &mask);
    if (mask & (1ULL << (ckpt_shim.signal - 1)))
        return -(r->error = EDEADLK);
    in_checkpoint_call = 1;
    run_hooks(CKPT_HOOK_BEFORE, r);
    uint32_t restores = ckpt_shim.restores;
    uint64_t before = ckpt_public.begun;
    /* Queued with the shim's cookie: a raise() of the signal would be the program's own. */
    sigroute_queue_to_self(ckpt_shim.signal,
                           sigroute_own_value(ckpt_shim.sigroute_cookie, SIGROUTE_TAG_REQUEST, 0));
    /* Here the handler has run: in the original, or in a restored process. */
    if (ckpt_shim.restores != restores) {
        start_result(r);
        r->restored = 1;
        r->checkpoint = before + 1;
        r->generation = ckpt_shim.restored_generation;
        run_hooks(CKPT_HOOK_RESTORE, r);
        in_checkpoint_call = 0;
        return CKPT_RESTORED;
    }
    if (ckpt_public.begun == before) /* blocked after all (a hook blocked it) */
        r->error = EDEADLK;
    else
        collect_outcome(r->checkpoint = ckpt_public.finished, r);
    run_hooks(CKPT_HOOK_RESUME, r);
    in_checkpoint_call = 0;
    return r->error ? -r->error : CKPT_CHECKPOINTED;
}
