/* Per-thread state: where the thread stands (its checkpoint handler's context and signal
 * frame), FS/GS base, glibc's cached tid, clear-child-tid, the robust futex list, the rseq
 * registration, blocked and pending signals, the signal stack, scheduling and name. Each
 * of these is a fact of one thread, so each thread takes its own (one THREAD record per
 * thread, include/ckpt/image.h); today the program has one thread, its leader.
 *
 * save    (checkpoint handler) thread_pause_rseq, thread_save_self into a thread_capture,
 *         thread_stage (the THREAD records)
 * check   (image_io.c check_thread and the restore values; thread_check_restorable)
 * plan    (restore-run phase 1) thread_plan: a copy of every record, so that the core
 *         needs no image once the threads run
 * restore (restore core) thread_restore_self, on the thread itself. */
#ifndef CKPT_THREAD_H
#define CKPT_THREAD_H

#include <stddef.h>

#include "../include/ckpt/image.h"
#include "image_io.h"
#include "util.h"

/* Threads one checkpoint can take (capture slots reserved in the checkpoint's arena). */
#define CKPT_THREADS_MAX 4096

/* What the shim learnt about glibc at startup, outside any handler. */
struct thread_facts {
    long rseq_offset;       /* __rseq_offset: the rseq area from the thread pointer */
    unsigned rseq_size;     /* __rseq_size: 0 if glibc did not register rseq */
    long tid_offset;        /* struct pthread's tid field from the thread pointer, 0 = unknown */
    int tid_from_thread_db; /* tid_offset came from libthread_db's descriptor, not a scan */
    /* ld.so's _rtld_global (GLIBC_PRIVATE), which holds its recursive locks; 0 if unknown */
    uint64_t rtld_global, rtld_global_size;
};

/* One thread's part of a checkpoint, taken by the thread itself in its handler. */
struct thread_capture {
    struct ckpt_thread_record rec;
    uint32_t pending_has_shared; /* rec.pending still holds the process-wide set too */
};

/* The kernel writes the current CPU into the rseq area whenever the thread migrates; the
 * registration is paused while memory is written so every checksummed page stays as is.
 * Returns 1 if this thread had an area registered (and it is now paused), else 0. */
int thread_pause_rseq(const struct thread_facts *f);
void thread_resume_rseq(const struct thread_facts *f, int paused);

/* Fills c with the calling thread's state. uc is the handler's ucontext_t (the frame a
 * restore returns through), ctx the context ckpt_context_save took, rseq_paused what
 * thread_pause_rseq said. The thread that leads the stop passes shared_pending, which gets
 * the process-wide pending signals; the others pass NULL (see thread_stage). Fails,
 * naming the thread, for what cannot be restored (SCHED_DEADLINE, glibc's tid not found). */
int thread_save_self(struct thread_capture *c, const void *uc, const struct ckpt_cpu_context *ctx,
                     const struct thread_facts *f, int rseq_paused, uint64_t *shared_pending,
                     struct ck_error *err);
/* Appends the THREAD records of captures[0..n) (the leader first), each one's pending set
 * without shared_pending, the process-wide set. 0 or -1 with err. */
int thread_stage(struct image_writer *w, const struct thread_capture *captures, uint32_t n,
                 uint64_t shared_pending, struct ck_error *err);

/* Phase 1's copy of a THREAD record: everything the core needs of a thread. */
struct thread_plan {
    struct ckpt_thread_record rec;
    uint64_t core_stack_top; /* the core's stack for this thread (not the leader's: 0) */
    uint32_t new_tid;        /* its tid after the restore: set by the core */
    uint32_t pad;
};

struct restore_plan;
/* Refuses an image this restore-run cannot restore the threads of (more than
 * CKPT_THREADS_MAX). */
int thread_check_restorable(const struct image_view *v, struct ck_error *err);
/* Every thread's saved register state (xsave features) is among those of this CPU, `here`
 * (thread_cpu_xfeatures: XCR0, 0 without XSAVE). Part of thread_check_restorable. */
int thread_check_xfeatures(const struct image_view *v, uint64_t here, struct ck_error *err);
uint64_t thread_cpu_xfeatures(void);
/* Copies the view's THREAD records into threads (room for v->nthreads) and points
 * p->threads at them; p->view must be set. */
void thread_plan(struct restore_plan *p, struct thread_plan *threads);
/* Gives every thread after the leader a core stack: thread i's top is base + i * each
 * (the stack of thread i is [top - each, top); restore-run lays them out in the core's
 * area, ckpt verify needs none). */
void thread_plan_stacks(struct restore_plan *p, uint64_t base, uint64_t each);
/* Restores the calling thread's own state from t: FS and GS base, glibc's tid and
 * clear-child-tid, robust list (the robust mutexes it holds name its new tid), rseq, signal stack,
 * scheduling, name, and raises its thread-directed pending signals again (all signals are blocked
 * until the frame's mask returns). Returns CKPT_RESTORE_WARN_* bits for what could not be set. */
uint32_t thread_restore_self(const struct restore_plan *p, const struct thread_plan *t);
/* The robust mutexes on r's robust list whose word (and glibc's __owner) names r->tid, the
 * thread's tid at checkpoint, name new_tid instead, FUTEX_WAITERS and FUTEX_OWNER_DIED
 * kept. Only words in a readable and writable region of p are read or written. */
void thread_robust_adopt(const struct restore_plan *p, const struct ckpt_thread_record *r,
                         uint32_t new_tid);

/* After a restore, in the shim, by the last thread out (while the core's thread list is
 * still mapped): ld.so's recursive locks (dl_load_lock, dl_load_write_lock: a thread was
 * in dlopen or dl_iterate_phdr, as every C++ exception's unwind is, at the checkpoint)
 * owned by a thread's old tid are owned by its new one; else the owner's unlock fails
 * (EPERM, which ld.so ignores) and the next dlopen or exception deadlocks. */
void thread_adopt_rtld_locks(const struct thread_facts *f, const struct thread_plan *threads,
                             uint32_t n);

#endif
