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
 *      is made with a raw clone (core_clone_thread) on a core stack of its own and
 *      restores itself (core_thread_main), then the leader
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
long core_clone_thread(unsigned long flags, uint64_t stack_top, uint64_t parent_tid,
                       uint64_t child_tid, uint64_t tls, struct restore_plan *p,
                       const struct thread_plan *t);
void core_thread_main(struct restore_plan *p, const struct thread_plan *t)
    __attribute__((noreturn, used));

#define CK_CLONE_VM 0x00000100UL
#define CK_CLONE_FS 0x00000200UL
#define CK_CLONE_FILES 0x00000400UL
#define CK_CLONE_SIGHAND 0x00000800UL
#define CK_CLONE_THREAD 0x00010000UL
#define CK_CLONE_SYSVSEM 0x00040000UL
#define CK_CLONE_SETTLS 0x00080000UL
#define CK_CLONE_PARENT_SETTID 0x00100000UL
#define CK_CLONE_CHILD_CLEARTID 0x00200000UL
#define THREAD_CLONE_FLAGS                                                                         \
    (CK_CLONE_VM | CK_CLONE_FS | CK_CLONE_FILES | CK_CLONE_SIGHAND | CK_CLONE_THREAD |             \
     CK_CLONE_SYSVSEM | CK_CLONE_SETTLS)

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
    info->threads_addr = (uint64_t)p->threads;
    info->nthreads = p->nthreads;
    return info;
}

/* A restored thread's first and only code in the core, on its own core stack, with every
 * signal blocked (inherited from the leader): its own state, then its saved context. It
 * says when it is done with the plan's image pointers, so the leader may unmap the image. */
void core_thread_main(struct restore_plan *p, const struct thread_plan *t)
{
    uint32_t warnings = thread_restore_self(p, t);
    struct ckpt_restore_info *info = (void *)p->proc->restore_info_addr;
    __atomic_or_fetch(&info->warnings, warnings, __ATOMIC_RELAXED);
    if (__atomic_add_fetch(&p->threads_restored, 1, __ATOMIC_ACQ_REL) == p->nthreads - 1)
        sys_futex(&p->threads_restored, CK_FUTEX_WAKE_PRIVATE, 1);
    /* The plan (and this stack) stay until the last thread is out, in the shim, which
     * cannot be before this one is there too. */
    core_resume(&t->rec.context);
}

/* Every thread but the leader, made as glibc makes its threads (nptl/pthread_create.c):
 * the kernel writes the new tid into glibc's tid word before the thread runs, and clears
 * the clear-child-tid word and wakes its waiters when the thread exits (pthread_join). */
static void spawn_threads(struct restore_plan *p)
{
    for (uint32_t i = 1; i < p->nthreads; i++) {
        const struct thread_plan *t = &p->threads[i];
        const struct ckpt_thread_record *r = &t->rec;
        unsigned long flags = THREAD_CLONE_FLAGS;
        if (r->flags & CKPT_THREAD_GLIBC)
            flags |= CK_CLONE_PARENT_SETTID;
        if (r->clear_child_tid)
            flags |= CK_CLONE_CHILD_CLEARTID;
        long tid = core_clone_thread(flags, t->core_stack_top, r->tid_addr, r->clear_child_tid,
                                     r->fs_base, p, t);
        if (tid < 0)
            core_die(p, "creating thread %u of %u (checkpointed as %u): %s", i + 1, p->nthreads,
                     r->tid, ck_strerror((int)-tid));
        p->threads[i].new_tid = (uint32_t)tid; /* read by the last one out, after this */
    }
}

/* The threads read the image (through the plan's record pointers) until they are done. */
static void wait_for_threads(struct restore_plan *p)
{
    uint32_t done;
    while ((done = __atomic_load_n(&p->threads_restored, __ATOMIC_ACQUIRE)) != p->nthreads - 1)
        sys_futex(&p->threads_restored, CK_FUTEX_WAIT_PRIVATE, done);
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
    p->threads_restored = 0;
    p->threads[0].new_tid = (uint32_t)sys_gettid();
    spawn_threads(p);
    /* Scheduling last: a lower priority set earlier would slow the core down. */
    __atomic_or_fetch(&info->warnings, thread_restore_self(p, leader), __ATOMIC_RELAXED);
    wait_for_threads(p);
    sys_close(p->err_fd);
    /* The image stays mapped until here; the core's code and stacks are freed by the last
     * thread out, in the shim. */
    struct ckpt_cpu_context ctx = leader->rec.context;
    sys_munmap((void *)p->image_start, p->image_len);
    core_resume(&ctx);
}
