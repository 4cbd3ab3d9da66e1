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
 *   6. FS base, rseq, tid; working directory, umask, name, limits, timers;
 *   7. pending signals again (all signals are blocked until the program's mask returns);
 *   8. tell the shim about the restore, unmap the image, and jump into the checkpoint
 *      handler's saved context; the handler returns, and rt_sigreturn brings back the
 *      interrupted registers and signal mask from the frame on the restored stack. */
#include "plan.h"
#include "fds.h"
#include "memory.h"
#include "process.h"
#include "signals.h"
#include "sys.h"
#include "tls.h"
#include "vdso.h"

void core_resume(const struct ckpt_cpu_context *ctx) __attribute__((noreturn));
void core_main(struct restore_plan *p) __attribute__((noreturn, used));

static void tell_shim(const struct restore_plan *p, uint32_t warnings)
{
    struct ckpt_restore_info *info = (void *)p->proc->restore_info_addr;
    info->core_addr = p->area_start;
    info->core_length = p->area_len;
    info->warnings = warnings;
}

void core_main(struct restore_plan *p)
{
    memory_unmap_all_but_core(p);
    vdso_restore(p);
    memory_restore(p);
    uint32_t warnings = process_restore_mm(p);
    signals_restore(p);
    files_restore(p);
    warnings |= tls_restore(p);
    process_restore_rest(p);
    signals_raise_pending(p);
    tell_shim(p, warnings);
    sys_close(p->err_fd);
    /* The image stays mapped until here; the core's code and stack are freed by the shim. */
    struct ckpt_cpu_context ctx = p->proc->context;
    sys_munmap((void *)p->image_start, p->image_len);
    core_resume(&ctx);
}
