/* The restore core: phase 2 of restore-run.
 *
 * ======================== NO LIBC BEYOND THIS POINT ==========================
 * This file, and the restore sides of state/ it calls, run after restore-run has unmapped
 * its own memory — libc, its heap, its stack, its TLS. Only raw syscalls, no globals (the
 * blob has no writable data), no stack protector. Everything comes in the plan, which
 * phase 1 (main.c) validated completely: a failure here is fatal and means a bug or a
 * change on the machine between validation and now.
 *
 * Algorithm:
 *   1. unmap everything except this core area and the kernel's vDSO/vvar pages;
 *   2. move the vDSO/vvar pages to the program's addresses (or build a proxy);
 *   3. map every region back at its address and protection, copying stored pages from the
 *      image (mapped inside the core area);
 *   4. brk, stack, argument and environment bounds, auxv (prctl PR_SET_MM_MAP);
 *   5. signal dispositions; descriptors at their numbers;
 *   6. working directory, umask, limits, timers;
 *   7. tell the shim about the restore: how many threads come back into its handler and
 *      which process-wide signals the last of them raises again;
 *   8. the threads, from the plan's copies of their records: every thread after the leader
 *      is made and restores itself (none yet: images have one thread), then the leader
 *      restores its own state (FS base, tid, robust list, rseq, signal stack, scheduling,
 *      name, its pending signals — all signals are blocked until the program's mask
 *      returns), unmaps the image and jumps into its checkpoint handler's saved context;
 *      the handler returns, and rt_sigreturn brings back the interrupted registers and
 *      signal mask from the frame on the restored stack. The last thread back in the
 *      shim's handler unmaps this core (last one out). */
#include "plan.h"
#include "fds.h"
#include "memory.h"
#include "process.h"
#include "signals.h"
#include "sys.h"
#include "thread.h"
#include "vdso.h"

void core_resume(const struct ckpt_cpu_context *ctx) __attribute__((noreturn));
void core_main(struct restore_plan *p) __attribute__((noreturn, used));

/* Before any thread can be back in the shim's handler. */
static struct ckpt_restore_info *tell_shim(const struct restore_plan *p, uint32_t warnings)
{
    struct ckpt_restore_info *info = (void *)p->proc->restore_info_addr;
    info->core_addr = p->area_start;
    info->core_length = p->area_len;
    info->warnings = warnings;
    info->remaining = p->nthreads;
    info->release = 0;
    info->shared_pending = signals_shared_to_raise(p);
    return info;
}

void core_main(struct restore_plan *p)
{
    memory_unmap_all_but_core(p);
    vdso_restore(p);
    memory_restore(p);
    uint32_t warnings = process_restore_mm(p);
    signals_restore(p);
    files_restore(p);
    process_restore_rest(p);
    struct ckpt_restore_info *info = tell_shim(p, warnings);
    const struct thread_plan *leader = &p->threads[0];
    /* Scheduling last: a lower priority set earlier would slow the core down. */
    info->warnings |= thread_restore_self(p, leader);
    sys_close(p->err_fd);
    /* The image stays mapped until here; the core's code and stack are freed by the last
     * thread out, in the shim. */
    struct ckpt_cpu_context ctx = leader->rec.context;
    sys_munmap((void *)p->image_start, p->image_len);
    core_resume(&ctx);
}
