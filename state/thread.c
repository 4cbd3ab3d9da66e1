/* Per-thread state; see thread.h. */
#include "thread.h"
#include "sys.h"
#include "util.h"
#include "plan.h"

#include <ucontext.h>

#define CK_ARCH_SET_GS 0x1001
#define CK_ARCH_SET_FS 0x1002
#define CK_ARCH_GET_FS 0x1003
#define CK_ARCH_GET_GS 0x1004
#define CK_PR_SET_NAME 15
#define CK_PR_GET_NAME 16
#define CK_PR_GET_TID_ADDRESS 40
#define CK_RSEQ_SIG 0x53053053u /* glibc's signature for abort handlers on x86 */
#define CK_RSEQ_AREA_LEN 32     /* the original struct rseq; every kernel accepts it */
#define CK_SS_DISABLE 2
#define ROBUST_LIST_HEAD_LEN 24 /* struct robust_list_head: the only length the kernel takes */
#define CK_SS_AUTODISARM (1u << 31)
#define CK_SCHED_DEADLINE 6
#define CK_SCHED_FLAG_RESET_ON_FORK 1u
/* The xsave area's software bytes, in the frame's fxsave image (struct _fpx_sw_bytes). */
#define FP_SW_BYTES_AT 464
#define FP_XSTATE_MAGIC1 0x46505853u
/* Indices of rax, rsp and rip in the frame's gregs (REG_RAX, ... of <sys/ucontext.h>). */
#define FRAME_RAX 13
#define FRAME_RSP 15
#define FRAME_RIP 16
#define CK_EINTR 4

/* ---- save side: checkpoint signal handler, raw syscalls only -------------------------- */

static unsigned long fs_base_now(void)
{
    unsigned long fs = 0;
    sys_arch_prctl(CK_ARCH_GET_FS, (unsigned long)&fs);
    return fs;
}

static void *rseq_area(const struct thread_facts *f)
{
    return (void *)(fs_base_now() + (unsigned long)f->rseq_offset);
}

/* Unregistering succeeds only for the area registered: it tells whether there was one
 * (glibc's registration may have failed, or been turned off with a tunable). */
int thread_pause_rseq(const struct thread_facts *f)
{
    if (f->rseq_size == 0)
        return 0;
    return sys_rseq(rseq_area(f), CK_RSEQ_AREA_LEN, 1 /* RSEQ_FLAG_UNREGISTER */, CK_RSEQ_SIG) == 0;
}

void thread_resume_rseq(const struct thread_facts *f, int paused)
{
    if (paused)
        sys_rseq(rseq_area(f), CK_RSEQ_AREA_LEN, 0, CK_RSEQ_SIG);
}

/* glibc's cached tid (struct pthread .tid), which the restore writes anew: only an address
 * that holds this thread's tid now is taken for it. */
static int save_tid_word(struct ckpt_thread_record *r, const struct thread_facts *f,
                         struct ck_error *err)
{
    if (f->tid_offset <= 0)
        return ck_fail(err, -1,
                       "thread %u: the C library's thread id field is unknown (libc.so.6 has no "
                       "_thread_db_pthread_tid, and no word near the thread pointer holds the "
                       "thread id)",
                       r->tid);
    uint64_t at = r->fs_base + (uint64_t)f->tid_offset;
    int found = *(const volatile int *)at;
    if (found != (int)r->tid)
        return ck_fail(
            err, -1,
            "thread %u: the C library's thread id at %lx (thread pointer + %ld, %s) "
            "holds %d, not the thread's id: this thread's glibc state cannot be "
            "restored",
            r->tid, (unsigned long)at, f->tid_offset,
            f->tid_from_thread_db ? "from libthread_db's descriptor" : "found at startup", found);
    r->tid_addr = at;
    r->flags |= CKPT_THREAD_GLIBC;
    return 0;
}

/* A "Name:\t<hex>" line of a /proc status file; 0 if absent. */
static uint64_t status_hex(const char *status, const char *name)
{
    size_t len = ck_strlen(name);
    for (const char *p = status; *p; p++) {
        if ((p == status || p[-1] == '\n') && ck_starts_with(p, name) && p[len] == ':') {
            const char *v = p + len + 1;
            while (*v == '\t' || *v == ' ')
                v++;
            return ck_parse_uint(&v, 16);
        }
    }
    return 0;
}

/* rt_sigpending mixes what is pending for this thread (SigPnd) with what is pending for the
 * process (ShdPnd); the kernel tells them apart in the thread's status. Only the thread
 * that leads the stop reads it (shared set): reading /proc cost every thread 25-35 us of the
 * stop. The others take rt_sigpending, and thread_stage takes the process-wide set out. */
static int save_pending(struct thread_capture *c, uint64_t *shared, struct ck_error *err)
{
    struct ckpt_thread_record *r = &c->rec;
    if (!shared) {
        uint64_t both = 0;
        sys_rt_sigpending(&both);
        r->pending = both;
        c->pending_has_shared = 1;
        return 0;
    }
    c->pending_has_shared = 0;
    char status[4096];
    long n = ck_read_file("/proc/thread-self/status", status, sizeof status);
    if (n < 0)
        return ck_fail(err, (int)n, "reading /proc/thread-self/status: %s", ck_strerror((int)-n));
    r->pending = status_hex(status, "SigPnd");
    *shared = status_hex(status, "ShdPnd");
    return 0;
}

/* The kernel's stack_t. */
struct kernel_stack {
    uint64_t sp;
    int32_t flags, pad;
    uint64_t size;
};

static void save_altstack(struct ckpt_thread_record *r)
{
    struct kernel_stack ss = {0, CK_SS_DISABLE, 0, 0};
    if (sys_sigaltstack(0, &ss) < 0 || (ss.flags & CK_SS_DISABLE))
        return;
    r->flags |= CKPT_THREAD_ALTSTACK;
    r->altstack_sp = ss.sp;
    r->altstack_size = ss.size;
    r->altstack_flags = (uint32_t)ss.flags;
}

static int save_sched(struct ckpt_thread_record *r, struct ck_error *err)
{
    struct kernel_sched_attr a;
    ck_memset(&a, 0, sizeof a);
    long rc = sys_sched_getattr(0, &a);
    if (rc < 0)
        return ck_fail(err, (int)rc, "thread %u: sched_getattr: %s", r->tid, ck_strerror((int)-rc));
    if (a.sched_policy == CK_SCHED_DEADLINE)
        return ck_fail(err, -1, "thread %u runs under SCHED_DEADLINE, which ckpt cannot restore",
                       r->tid);
    r->sched_policy = a.sched_policy;
    r->sched_priority = a.sched_priority;
    r->nice = a.sched_nice;
    /* Utilisation clamps are not kept: they are hints, and need privilege to set again. */
    r->sched_flags = a.sched_flags & CK_SCHED_FLAG_RESET_ON_FORK;
    return 0;
}

/* Which register state the kernel put in the frame (for a later CPU check at restore). */
static void save_xstate(struct ckpt_thread_record *r, const ucontext_t *uc)
{
    const unsigned char *fp = (const void *)uc->uc_mcontext.fpregs;
    if (!fp)
        return;
    uint32_t magic, size;
    ck_memcpy(&magic, fp + FP_SW_BYTES_AT, 4);
    if (magic != FP_XSTATE_MAGIC1)
        return;
    ck_memcpy(&r->xfeatures, fp + FP_SW_BYTES_AT + 8, 8);
    ck_memcpy(&size, fp + FP_SW_BYTES_AT + 16, 4);
    r->xstate_size = size;
}

/* Is there a syscall instruction (0f 05) at p? rip is in an executable mapping, and so is the
 * instruction before it unless rip starts a page. */
static int syscall_at(uint64_t p, uint64_t rip)
{
    if (p < rip && (rip & 0xfff) < 2)
        return 0;
    const volatile unsigned char *b = (const volatile unsigned char *)p;
    return b[0] == 0x0f && b[1] == 0x05;
}

/* What the thread was doing when the signal came. The kernel sets a call it restarts
 * (SA_RESTART) up again before it builds the frame: rax holds the call's number and rip the
 * syscall instruction; one it does not restart returns -EINTR, rip after the instruction. */
static uint32_t interrupted_call_of(const ucontext_t *uc)
{
    uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[FRAME_RIP];
    int64_t rax = uc->uc_mcontext.gregs[FRAME_RAX];
    if (syscall_at(rip, rip) && rax >= 0 && rax < 1024)
        return (uint32_t)rax + 1;
    if (rax == -CK_EINTR && syscall_at(rip - 2, rip))
        return CKPT_THREAD_CALL_INTERRUPTED;
    return CKPT_THREAD_IN_USER_CODE;
}

int thread_save_self(struct thread_capture *c, const void *ucv, const struct ckpt_cpu_context *ctx,
                     const struct thread_facts *f, int rseq_paused, uint64_t *shared_pending,
                     struct ck_error *err)
{
    const ucontext_t *uc = ucv;
    struct ckpt_thread_record *r = &c->rec;
    ck_memset(r, 0, sizeof *r);
    r->tid = (uint32_t)sys_gettid();
    r->flags = sys_gettid() == sys_getpid() ? CKPT_THREAD_LEADER : 0;
    r->context = *ctx;
    r->fs_base = fs_base_now();
    sys_arch_prctl(CK_ARCH_GET_GS, (unsigned long)&r->gs_base);
    r->frame_addr = (uint64_t)uc;
    if (save_tid_word(r, f, err))
        return -1;
    sys_prctl(CK_PR_GET_TID_ADDRESS, (unsigned long)&r->clear_child_tid, 0, 0, 0);
    void *head = 0;
    size_t len = 0;
    if (sys_get_robust_list(0, &head, &len) == 0) {
        r->robust_list = (uint64_t)head;
        r->robust_list_len = len;
    }
    if (rseq_paused) {
        r->flags |= CKPT_THREAD_RSEQ;
        r->rseq_addr = r->fs_base + (unsigned long)f->rseq_offset;
        r->rseq_len = CK_RSEQ_AREA_LEN;
        r->rseq_sig = CK_RSEQ_SIG;
    }
    ck_memcpy(&r->sigmask, &uc->uc_sigmask, sizeof r->sigmask);
    r->interrupted_rip = (uint64_t)uc->uc_mcontext.gregs[FRAME_RIP];
    r->interrupted_rsp = (uint64_t)uc->uc_mcontext.gregs[FRAME_RSP];
    r->interrupted_call = interrupted_call_of(uc);
    if (save_pending(c, shared_pending, err) || save_sched(r, err))
        return -1;
    save_altstack(r);
    save_xstate(r, uc);
    sys_prctl(CK_PR_GET_NAME, (unsigned long)r->comm, 0, 0, 0);
    r->comm[sizeof r->comm - 1] = 0;
    return 0;
}

int thread_stage(struct image_writer *w, const struct thread_capture *captures, uint32_t n,
                 uint64_t shared_pending, struct ck_error *err)
{
    for (uint32_t i = 0; i < n; i++) {
        struct ckpt_thread_record *r = iw_record(w, CKPT_REC_THREAD, sizeof *r, 0);
        if (!r)
            return ck_fail(err, w->error, "image metadata: %s", ck_strerror(-w->error));
        struct ckpt_record_head head = r->head;
        *r = captures[i].rec;
        r->head = head;
        r->head.id = i + 1;
        if (captures[i].pending_has_shared)
            r->pending &= ~shared_pending;
    }
    return 0;
}

/* ---- plan side: restore-run phase 1 --------------------------------------------------- */

/* The register state components this CPU and kernel keep for a process (XCR0), or 0
 * without XSAVE. */
uint64_t thread_cpu_xfeatures(void)
{
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    if (!(c & (1u << 27))) /* OSXSAVE: the kernel enabled XSAVE and XGETBV */
        return 0;
    __asm__ volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
    return ((uint64_t)d << 32) | a;
}

/* Each thread resumes through its signal frame, whose xsave area rt_sigreturn loads: a
 * component this CPU lacks (AVX-512 saved on a CPU that had it, say) makes that fail. And
 * the program chose its code paths for the old CPU at startup (glibc's ifuncs), so it
 * would fault on the first such instruction anyway. */
int thread_check_xfeatures(const struct image_view *v, uint64_t here, struct ck_error *err)
{
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        if (r->kind != CKPT_REC_THREAD)
            continue;
        const struct ckpt_thread_record *t = (const void *)r;
        uint64_t missing = t->xfeatures & ~here;
        if (t->xfeatures && missing)
            return ck_fail(err, -1,
                           "thread %u saved CPU register state this CPU does not have (xsave "
                           "features 0x%lx, this CPU has 0x%lx, missing 0x%lx): restore on a "
                           "CPU with the features of the one it was checkpointed on",
                           t->tid, (unsigned long)t->xfeatures, (unsigned long)here,
                           (unsigned long)missing);
    }
    return 0;
}

int thread_check_restorable(const struct image_view *v, struct ck_error *err)
{
    /* Each thread but the leader gets a stack of its own in the core's area. */
    if (v->nthreads > CKPT_THREADS_MAX)
        return ck_fail(err, -1, "the image has %u threads; restore-run restores at most %u",
                       v->nthreads, CKPT_THREADS_MAX);
    return thread_check_xfeatures(v, thread_cpu_xfeatures(), err);
}

void thread_plan(struct restore_plan *p, struct thread_plan *threads)
{
    p->threads = threads;
    p->nthreads = 0;
    for (const struct ckpt_record_head *r = image_first(&p->view); r; r = image_next(&p->view, r))
        if (r->kind == CKPT_REC_THREAD && p->nthreads < p->view.nthreads) {
            ck_memcpy(&threads[p->nthreads].rec, r, sizeof threads[0].rec);
            threads[p->nthreads++].core_stack_top = 0;
        }
}

void thread_plan_stacks(struct restore_plan *p, uint64_t base, uint64_t each)
{
    for (uint32_t i = 1; i < p->nthreads; i++)
        p->threads[i].core_stack_top = base + i * each;
}

/* ---- restore side: restore core ------------------------------------------------------- */

static uint32_t restore_altstack(const struct ckpt_thread_record *r)
{
    if (!(r->flags & CKPT_THREAD_ALTSTACK)) {
        struct kernel_stack none = {0, CK_SS_DISABLE, 0, 0};
        sys_sigaltstack(&none, 0);
        return 0;
    }
    struct kernel_stack ss = {r->altstack_sp, (int32_t)(r->altstack_flags & CK_SS_AUTODISARM), 0,
                              r->altstack_size};
    return sys_sigaltstack(&ss, 0) < 0 ? CKPT_RESTORE_WARN_ALTSTACK : 0;
}

/* Best effort: a higher priority or a lower nice value than restore-run's needs privilege
 * (or RLIMIT_RTPRIO, RLIMIT_NICE, restored just before). */
static uint32_t restore_sched(const struct ckpt_thread_record *r)
{
    struct kernel_sched_attr a;
    ck_memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.sched_policy = r->sched_policy;
    a.sched_flags = r->sched_flags;
    a.sched_nice = r->nice;
    a.sched_priority = r->sched_priority;
    return sys_sched_setattr(0, &a) < 0 ? CKPT_RESTORE_WARN_SCHED : 0;
}

/* The checkpoint signal pending at the checkpoint asked the original process, which
 * served it. */
static void raise_own_pending(const struct restore_plan *p, const struct ckpt_thread_record *r)
{
    int pid = (int)sys_getpid(), tid = (int)sys_gettid();
    for (int sig = 1; sig <= CKPT_NSIG; sig++)
        if (sig != (int)p->proc->checkpoint_signal && (r->pending & (1ULL << (sig - 1))))
            sys_tgkill(pid, tid, sig);
}

/* The kernel's struct robust_list_head (glibc's, in its struct pthread). */
struct robust_head {
    uint64_t next;
    int64_t futex_offset;
    uint64_t list_op_pending;
};
#define ROBUST_LIST_LIMIT 2048 /* the kernel's bound on a list it walks at exit */
#define FUTEX_TID_MASK 0x3fffffffu
#define GLIBC_MUTEX_LIST_OFFSET (-32) /* __list of pthread_mutex_t from its __lock */
#define GLIBC_MUTEX_OWNER_AT 8        /* __owner from __lock */

/* Whether [addr, addr + len) lies in one restored region the program can read and write:
 * the list is the program's memory, and a wrong pointer must not crash the core. */
static int in_writable_region(const struct restore_plan *p, uint64_t addr, uint64_t len)
{
    uint32_t lo = 0, hi = p->nregions;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct ckpt_region_record *g = p->regions[mid].rec;
        if (addr >= g->end)
            lo = mid + 1;
        else if (addr < g->start)
            hi = mid;
        else
            return addr + len <= g->end && addr + len > addr &&
                   (g->prot & (CKPT_PROT_READ | CKPT_PROT_WRITE)) ==
                       (CKPT_PROT_READ | CKPT_PROT_WRITE);
    }
    return 0;
}

/* A robust mutex word (and glibc's __owner beside it) naming the thread's old tid names the
 * new one: the kernel sets FUTEX_OWNER_DIED at exit only in words holding the dying
 * thread's tid, and glibc's unlock compares the word with the thread's tid. */
static void robust_word_adopt(const struct restore_plan *p, uint64_t entry, int64_t offset,
                              uint32_t old_tid, uint32_t new_tid)
{
    uint64_t at = (entry & ~1ULL) + (uint64_t)offset; /* bit 0 marks a PI mutex */
    if (!in_writable_region(p, at, 4))
        return;
    volatile uint32_t *word = (volatile uint32_t *)at;
    uint32_t v = *word;
    if ((v & FUTEX_TID_MASK) != old_tid)
        return;
    *word = (v & ~FUTEX_TID_MASK) | new_tid; /* keeps FUTEX_WAITERS and FUTEX_OWNER_DIED */
    uint64_t owner = at + GLIBC_MUTEX_OWNER_AT;
    if (offset == GLIBC_MUTEX_LIST_OFFSET && in_writable_region(p, owner, 4) &&
        *(volatile uint32_t *)owner == old_tid)
        *(volatile uint32_t *)owner = new_tid;
}

/* The kernel's walk at a thread's exit (the entries, then the one being locked or unlocked,
 * at most ROBUST_LIST_LIMIT). No other thread runs program code yet, so the words change
 * under nobody. */
void thread_robust_adopt(const struct restore_plan *p, const struct ckpt_thread_record *r,
                         uint32_t new_tid)
{
    uint64_t head_at = r->robust_list;
    if (!head_at || r->tid == new_tid ||
        !in_writable_region(p, head_at, sizeof(struct robust_head)))
        return;
    const volatile struct robust_head *head = (const volatile struct robust_head *)head_at;
    int64_t offset = head->futex_offset;
    uint64_t entry = head->next;
    for (int n = 0; entry != head_at && n < ROBUST_LIST_LIMIT; n++) {
        if (!in_writable_region(p, entry & ~1ULL, 8))
            break;
        robust_word_adopt(p, entry, offset, r->tid, new_tid);
        entry = *(const volatile uint64_t *)(entry & ~1ULL);
    }
    if (head->list_op_pending)
        robust_word_adopt(p, head->list_op_pending, offset, r->tid, new_tid);
}

uint32_t thread_restore_self(const struct restore_plan *p, const struct thread_plan *t)
{
    const struct ckpt_thread_record *r = &t->rec;
    uint32_t warnings = 0;
    if (sys_arch_prctl(CK_ARCH_SET_FS, r->fs_base) < 0)
        core_die(p, "setting the FS base of thread %u to %lx", r->tid, (unsigned long)r->fs_base);
    if (r->gs_base)
        sys_arch_prctl(CK_ARCH_SET_GS, r->gs_base);
    if (r->flags & CKPT_THREAD_GLIBC)
        *(volatile int *)r->tid_addr = (int)sys_gettid();
    /* The kernel clears this word and wakes its waiters when the thread exits (pthread_join
     * waits so). Set even when it is 0: restore-run's own, in its unmapped TLS, would have
     * the kernel write into whatever the program has mapped there now. */
    sys_set_tid_address((void *)r->clear_child_tid);
    /* Likewise: restore-run's own list head, which the kernel walks at exit, is gone. */
    sys_set_robust_list((void *)r->robust_list, ROBUST_LIST_HEAD_LEN);
    thread_robust_adopt(p, r, (uint32_t)sys_gettid());
    if ((r->flags & CKPT_THREAD_RSEQ) &&
        sys_rseq((void *)r->rseq_addr, r->rseq_len, 0, r->rseq_sig) < 0)
        warnings |= CKPT_RESTORE_WARN_RSEQ;
    warnings |= restore_altstack(r) | restore_sched(r);
    sys_prctl(CK_PR_SET_NAME, (unsigned long)r->comm, 0, 0, 0);
    raise_own_pending(p, r);
    return warnings;
}

/* ---- after the restore: the shim's last thread out ------------------------------------ */

/* glibc's pthread_mutex_t (x86_64): __lock, __count, __owner, __nusers, __kind. */
struct glibc_mutex_words {
    int32_t lock;
    uint32_t count;
    int32_t owner;
    uint32_t nusers;
    int32_t kind;
};
#define GLIBC_MUTEX_RECURSIVE 1 /* PTHREAD_MUTEX_RECURSIVE_NP, ld.so's lock kind */
#define GLIBC_MUTEX_KIND_MASK 0x7f

static const struct thread_plan *thread_of_old_tid(const struct thread_plan *threads, uint32_t n,
                                                   int32_t tid)
{
    for (uint32_t i = 0; i < n; i++)
        if ((int32_t)threads[i].rec.tid == tid)
            return &threads[i];
    return 0;
}

void thread_adopt_rtld_locks(const struct thread_facts *f, const struct thread_plan *threads,
                             uint32_t n)
{
    if (!f->rtld_global || f->rtld_global_size < sizeof(struct glibc_mutex_words))
        return;
    /* Only a held recursive mutex with a thread's old tid as owner is taken for one. */
    for (uint64_t at = f->rtld_global & ~7ULL;
         at + sizeof(struct glibc_mutex_words) <= f->rtld_global + f->rtld_global_size; at += 8) {
        volatile struct glibc_mutex_words *m = (volatile struct glibc_mutex_words *)at;
        if ((m->kind & GLIBC_MUTEX_KIND_MASK) != GLIBC_MUTEX_RECURSIVE || m->lock == 0 ||
            m->count == 0)
            continue;
        const struct thread_plan *t = thread_of_old_tid(threads, n, m->owner);
        if (t && t->new_tid)
            m->owner = (int32_t)t->new_tid;
    }
}

/* ---- the validator's checks of THREAD records (image_check.h) ---------------------------- */

/* Included here, not at the top: this section is apart from the save and restore code. */
#include "image_check.h"

/* THREAD records follow PROCESS, the leader first, each tid once, ids 1..n. (Unknown
 * records of other kinds may stand between them.) */
int check_thread(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                 struct ck_error *err)
{
    const struct ckpt_thread_record *t = (const void *)r;
    if (w->prev_kind != CKPT_REC_PROCESS && w->prev_kind != CKPT_REC_THREAD)
        return ck_fail(err, -1, "thread record of thread %u is not right after the process record",
                       t->tid);
    if (r->id != v->nthreads + 1)
        return ck_fail(err, -1, "thread record of thread %u has id %u, expected %u", t->tid, r->id,
                       v->nthreads + 1);
    if (t->flags & ~CKPT_THREAD_FLAGS)
        return ck_fail(err, -1, "thread %u has unknown flags %x", t->tid, t->flags);
    int leader = (t->flags & CKPT_THREAD_LEADER) != 0;
    if (leader != (v->nthreads == 0))
        return ck_fail(err, -1,
                       leader ? "thread %u is a second leader thread"
                              : "the first thread record (thread %u) is not the leader's",
                       t->tid);
    if (t->comm[sizeof t->comm - 1])
        return ck_fail(err, -1, "unterminated name of thread %u", t->tid);
    for (const struct ckpt_record_head *q = (const void *)v->threads; q && q != r;
         q = (const void *)((const unsigned char *)q + q->length))
        if (q->kind == CKPT_REC_THREAD && ((const struct ckpt_thread_record *)q)->tid == t->tid)
            return ck_fail(err, -1, "two thread records have tid %u", t->tid);
    if (v->nthreads == 0)
        v->threads = t;
    v->nthreads++;
    return 0;
}

/* The image holds as many THREAD records as the process record counts. */
int complete_thread(const struct image_view *v, const struct image_walk *w,
                    const struct ckpt_record_head *next, struct ck_error *err)
{
    (void)w;
    if (next->kind != CKPT_REC_END || !v->proc)
        return 0;
    if (v->nthreads == 0 || v->nthreads != v->proc->nthreads)
        return ck_fail(err, -1, "the process record counts %u threads, the image has %u",
                       v->proc->nthreads, v->nthreads);
    return 0;
}
