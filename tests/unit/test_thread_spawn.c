/* The restore's side of threads, outside the core: the clone trampoline (core_clone_thread
 * of restorer/core/core_entry.S) starts a thread on the stack it is given, with the plan and
 * thread it is given, its TLS, glibc's tid word written by the kernel before the thread
 * runs (PARENT_SETTID) and the clear-child-tid word cleared and woken at its exit; and
 * thread_robust_adopt makes the robust mutexes a thread holds name its new tid, and reads
 * nothing outside the plan's regions; thread_adopt_rtld_locks gives ld.so's recursive lock
 * held by an old tid to the new one. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "plan.h"
#include "thread.h"

long core_clone_thread(unsigned long flags, uint64_t stack_top, uint64_t parent_tid,
                       uint64_t child_tid, uint64_t tls, struct restore_plan *p,
                       const struct thread_plan *t);
void core_thread_main(struct restore_plan *p, const struct thread_plan *t);
void core_main(struct restore_plan *p);

/* core_entry.S calls it; never reached here. */
void core_main(struct restore_plan *p)
{
    (void)p;
    abort();
}

#define STACK_SIZE (64 * 1024)
static unsigned char child_stack[STACK_SIZE] __attribute__((aligned(16)));
static struct {
    struct restore_plan *plan;
    const struct thread_plan *thread;
    uint64_t rsp, fs;
    long tid;
} seen;

/* What the trampoline runs in the child: raw system calls only (no TLS of its own). */
void core_thread_main(struct restore_plan *p, const struct thread_plan *t)
{
    /* The compiler aligns this by the ABI's promise about the stack at a call: it is
     * misaligned if the trampoline broke that promise. */
    volatile unsigned char aligned[16] __attribute__((aligned(16)));
    aligned[0] = 1;
    uint64_t rsp = (uint64_t)aligned;
    seen.plan = p;
    seen.thread = t;
    seen.rsp = rsp;
    syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, &seen.fs);
    seen.tid = syscall(SYS_gettid);
    for (;;)
        syscall(SYS_exit, 0);
}

static void trampoline_starts_the_thread_on_its_stack_with_its_arguments(void **state)
{
    (void)state;
    static volatile int tid_word = -1;
    static volatile int clear_word = -1;
    static struct restore_plan plan;
    static struct thread_plan thread;
    static unsigned char fake_tls[256] __attribute__((aligned(64)));
    unsigned long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                          CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
    uint64_t top = (uint64_t)(child_stack + STACK_SIZE);
    long tid = core_clone_thread(flags, top, (uint64_t)&tid_word, (uint64_t)&clear_word,
                                 (uint64_t)fake_tls, &plan, &thread);
    assert_true(tid > 0);
    assert_int_equal(tid_word, (int)tid); /* written before the thread ran */
    while (clear_word != 0)
        syscall(SYS_futex, &clear_word, FUTEX_WAIT, (int)tid, 0, 0, 0);
    assert_ptr_equal(seen.plan, &plan);
    assert_ptr_equal(seen.thread, &thread);
    assert_int_equal(seen.tid, tid);
    assert_int_equal(seen.fs, (uint64_t)fake_tls);
    /* Called at the top of its stack, as the ABI wants it at a call. */
    assert_true(seen.rsp < top && seen.rsp >= top - 512);
    assert_int_equal(seen.rsp % 16, 0);
}

static void trampoline_returns_the_error_of_a_failed_clone(void **state)
{
    (void)state;
    /* CLONE_THREAD without CLONE_SIGHAND is invalid. */
    long rc = core_clone_thread(CLONE_VM | CLONE_THREAD, (uint64_t)(child_stack + STACK_SIZE), 0, 0,
                                0, 0, 0);
    assert_int_equal(rc, -22 /* EINVAL */);
}

/* ---- robust mutexes ------------------------------------------------------------------- */

struct robust_head {
    uint64_t next;
    int64_t futex_offset;
    uint64_t list_op_pending;
};

/* A plan whose one region, [start, end), is readable and writable. */
static void plan_with_region(struct restore_plan *p, struct region_plan *rp,
                             struct ckpt_region_record *g, uint64_t start, uint64_t end)
{
    memset(p, 0, sizeof *p);
    memset(g, 0, sizeof *g);
    g->start = start;
    g->end = end;
    g->prot = CKPT_PROT_READ | CKPT_PROT_WRITE;
    rp->rec = g;
    p->regions = rp;
    p->nregions = 1;
}

static struct robust_head *own_robust_head(void)
{
    struct robust_head *head = 0;
    size_t len = 0;
    assert_int_equal(syscall(SYS_get_robust_list, 0, &head, &len), 0);
    return head;
}

/* glibc's robust mutexes (word at +0, __owner at +8, list entry at +32) held by this
 * thread, one unheld; the list as glibc keeps it, adopted as if this thread had been
 * checkpointed as its own tid and restored as tid + 7. */
static void robust_mutexes_held_name_the_new_tid(void **state)
{
    (void)state;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    static pthread_mutex_t held[2], unheld;
    for (int i = 0; i < 2; i++) {
        pthread_mutex_init(&held[i], &a);
        assert_int_equal(pthread_mutex_lock(&held[i]), 0);
    }
    pthread_mutex_init(&unheld, &a);
    uint32_t tid = (uint32_t)syscall(SYS_gettid), new_tid = tid + 7;
    held[1].__data.__lock |= (int)FUTEX_WAITERS; /* as with a waiter */
    struct robust_head *head = own_robust_head();
    assert_int_equal(head->futex_offset, -32);

    struct restore_plan p;
    struct region_plan rp;
    struct ckpt_region_record g;
    plan_with_region(&p, &rp, &g, 0x1000, 0x7ffffffff000ULL);
    struct ckpt_thread_record r;
    memset(&r, 0, sizeof r);
    r.tid = tid;
    r.robust_list = (uint64_t)head;
    thread_robust_adopt(&p, &r, new_tid);

    assert_int_equal((uint32_t)held[0].__data.__lock, new_tid);
    assert_int_equal((uint32_t)held[0].__data.__owner, new_tid);
    assert_int_equal((uint32_t)held[1].__data.__lock, new_tid | FUTEX_WAITERS);
    assert_int_equal(unheld.__data.__lock, 0);
    assert_int_equal(unheld.__data.__owner, 0);

    /* Back, so that this thread's unlocks find its tid. */
    r.tid = new_tid;
    thread_robust_adopt(&p, &r, tid);
    held[1].__data.__lock &= ~(int)FUTEX_WAITERS;
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_mutex_unlock(&held[i]), 0);
}

/* A list pointing outside the regions is not followed: nothing is read there. */
static void robust_list_outside_the_regions_is_not_read(void **state)
{
    (void)state;
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *mem =
        mmap(0, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(mem != MAP_FAILED);
    /* The head and one entry in the region, the entry's next in an unmapped page. */
    struct robust_head *head = (void *)mem;
    uint64_t *entry = (uint64_t *)(mem + 64);
    uint32_t *word = (uint32_t *)((unsigned char *)entry - 32);
    *word = 1234;
    head->next = (uint64_t)entry;
    head->futex_offset = -32;
    head->list_op_pending = 0;
    assert_int_equal(munmap(mem + page, (size_t)page), 0);
    *entry = (uint64_t)(mem + page + 64); /* unmapped: a read there would crash */

    struct restore_plan p;
    struct region_plan rp;
    struct ckpt_region_record g;
    plan_with_region(&p, &rp, &g, (uint64_t)mem, (uint64_t)mem + (uint64_t)page);
    struct ckpt_thread_record r;
    memset(&r, 0, sizeof r);
    r.tid = 1234;
    r.robust_list = (uint64_t)head;
    thread_robust_adopt(&p, &r, 99);
    assert_int_equal(*word, 99);

    /* A head outside every region: nothing read, nothing written. */
    *word = 1234;
    plan_with_region(&p, &rp, &g, (uint64_t)mem + 4096 * 64, (uint64_t)mem + 4096 * 65);
    thread_robust_adopt(&p, &r, 99);
    assert_int_equal(*word, 1234);
    munmap(mem, (size_t)page);
}

/* ---- ld.so's recursive locks ---------------------------------------------------------- */

static struct thread_facts rtld_facts(void)
{
    struct thread_facts f;
    memset(&f, 0, sizeof f);
    void *g = dlsym(RTLD_DEFAULT, "_rtld_global");
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    assert_non_null(g);
    assert_true(dladdr1(g, &info, (void **)&sym, RTLD_DL_SYMENT) && sym);
    f.rtld_global = (uint64_t)g;
    f.rtld_global_size = sym->st_size;
    return f;
}

static int owners_of(const struct thread_facts *f, int32_t tid)
{
    int n = 0;
    for (uint64_t at = f->rtld_global; at + 20 <= f->rtld_global + f->rtld_global_size; at += 8)
        n += ((const int32_t *)at)[2] == tid && ((const int32_t *)at)[4] == 1;
    return n;
}

/* Inside dl_iterate_phdr this thread holds ld.so's dl_load_write_lock (recursive). */
static int adopt_inside_dl_iterate_phdr(struct dl_phdr_info *i, size_t size, void *data)
{
    (void)i;
    (void)size;
    const struct thread_facts *f = data;
    int32_t tid = (int32_t)syscall(SYS_gettid), new_tid = tid + 7;
    assert_int_equal(owners_of(f, tid), 1);
    struct thread_plan threads[2];
    memset(threads, 0, sizeof threads);
    threads[0].rec.tid = 1; /* another thread, which owns nothing */
    threads[0].new_tid = 2;
    threads[1].rec.tid = (uint32_t)tid;
    threads[1].new_tid = (uint32_t)new_tid;
    thread_adopt_rtld_locks(f, threads, 2);
    assert_int_equal(owners_of(f, tid), 0);
    assert_int_equal(owners_of(f, new_tid), 1);
    threads[1].rec.tid = (uint32_t)new_tid; /* back, for this thread's unlock */
    threads[1].new_tid = (uint32_t)tid;
    thread_adopt_rtld_locks(f, threads, 2);
    assert_int_equal(owners_of(f, tid), 1);
    return 1;
}

static int count_objects(struct dl_phdr_info *i, size_t size, void *data)
{
    (void)i;
    (void)size;
    ++*(int *)data;
    return 0;
}

static void rtld_lock_held_at_checkpoint_names_the_new_tid(void **state)
{
    (void)state;
    struct thread_facts f = rtld_facts();
    assert_int_equal(owners_of(&f, (int32_t)syscall(SYS_gettid)), 0);
    dl_iterate_phdr(adopt_inside_dl_iterate_phdr, &f);
    int objects = 0;
    dl_iterate_phdr(count_objects, &objects); /* the lock was given back */
    assert_true(objects > 0);
    /* Without _rtld_global nothing is touched. */
    struct thread_facts none;
    memset(&none, 0, sizeof none);
    thread_adopt_rtld_locks(&none, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(trampoline_starts_the_thread_on_its_stack_with_its_arguments),
        cmocka_unit_test(trampoline_returns_the_error_of_a_failed_clone),
        cmocka_unit_test(robust_mutexes_held_name_the_new_tid),
        cmocka_unit_test(robust_list_outside_the_regions_is_not_read),
        cmocka_unit_test(rtld_lock_held_at_checkpoint_names_the_new_tid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
