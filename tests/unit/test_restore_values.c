/* The values of an image that the restore core uses after its point of no return are checked
 * before it (image_check_restore_values, run by restore-run and `ckpt verify`): an address
 * outside every region — even one so high that a careless bound check wraps around — an
 * impossible memory layout, non-canonical bases, unknown protection or signal flags, invalid
 * timers and limits are refused, naming the value; a consistent image passes. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "image_io.h"

#define META_CAP (64 * 1024)
#define CODE_START 0x400000ULL
#define CODE_END 0x402000ULL
#define DATA_START 0x600000ULL
#define DATA_END 0x640000ULL
#define SA_SIGINFO_FLAG 4ULL
#define SA_RESTORER_FLAG 0x04000000ULL

typedef void change_fn(struct ckpt_process_record *p, struct ckpt_thread_record *t,
                       struct ckpt_region_record *code);
static struct ckpt_region_record *data_region; /* the image's second region, for a change */
/* Where the data is split in two regions (0: one region), and the gap between them. */
static uint64_t data_split, data_gap;

/* A thread whose every address lies where it should. */
static void fill_consistent_thread(struct ckpt_thread_record *t)
{
    t->tid = 77;
    t->flags = CKPT_THREAD_LEADER | CKPT_THREAD_GLIBC | CKPT_THREAD_RSEQ | CKPT_THREAD_ALTSTACK;
    t->context.rip = CODE_START + 0x100;
    t->context.rsp = DATA_START + 0x20000;
    t->frame_addr = DATA_START + 0x1f000;
    t->fs_base = DATA_START + 0x38000;
    t->tid_addr = t->clear_child_tid = t->fs_base + 0x10;
    t->rseq_addr = t->fs_base + 0x40;
    t->rseq_len = 32;
    t->rseq_sig = 0x53053053;
    t->robust_list = t->fs_base + 0x100;
    t->robust_list_len = 24;
    t->altstack_sp = DATA_START + 0x2000;
    t->altstack_size = 0x4000;
    t->sched_policy = 3; /* SCHED_BATCH */
    t->nice = 5;
    snprintf(t->comm, sizeof t->comm, "worker");
}

/* A process whose every address lies where it should. */
static void fill_consistent_process(struct ckpt_process_record *p)
{
    p->pid = p->leader_tid = 77;
    p->nthreads = 1;
    p->checkpoint_signal = SIGUSR2;
    p->umask = 022;
    p->restore_info_addr = DATA_START + 0x30000;
    p->start_code = CODE_START;
    p->end_code = CODE_END;
    p->start_data = DATA_START;
    p->end_data = DATA_START + 0x1000;
    p->start_brk = DATA_START + 0x10000;
    p->brk = DATA_START + 0x11000;
    p->start_stack = DATA_END - 0x1000;
    p->arg_start = DATA_END - 0xf00;
    p->arg_end = p->env_start = DATA_END - 0xe00;
    p->env_end = DATA_END - 0xd00;
    p->auxv_words = 2; /* AT_NULL, 0 */
    p->sigactions[SIGINT - 1] =
        (struct ckpt_sigaction){CODE_START + 0x200, SA_SIGINFO_FLAG | SA_RESTORER_FLAG,
                                CODE_START + 0x300, 1ULL << (SIGTERM - 1)};
    for (int i = 0; i < CKPT_NRLIMITS; i++)
        p->rlimits[i] = (struct ckpt_rlimit){~0ULL, ~0ULL};
    p->itimers[0] = (struct ckpt_itimer){0, 500000, 1, 999999};
    snprintf(p->cwd, sizeof p->cwd, "/");
}

static struct ckpt_region_record *add_region(struct image_writer *w, uint64_t start, uint64_t end,
                                             uint32_t prot)
{
    struct ckpt_region_record *g = iw_record(w, CKPT_REC_REGION, sizeof *g, "");
    assert_non_null(g);
    g->start = start;
    g->end = end;
    g->prot = prot;
    g->kind = CKPT_REGION_ANON;
    return g;
}

/* Writes the consistent image with change applied, and runs both checks on it. Returns 0 if
 * the image passes, else -1 with err filled. */
static int check_image_with(change_fn *change, struct ck_error *err)
{
    char *meta = malloc(META_CAP);
    assert_non_null(meta);
    int fd = memfd_create("ckpt-test-values", MFD_CLOEXEC);
    assert_true(fd >= 0);
    struct image_writer w;
    iw_init(&w, fd, meta, META_CAP);
    struct ckpt_process_record *p = iw_record(&w, CKPT_REC_PROCESS, sizeof *p, NULL);
    assert_non_null(p);
    fill_consistent_process(p);
    struct ckpt_thread_record *t = iw_record(&w, CKPT_REC_THREAD, sizeof *t, NULL);
    assert_non_null(t);
    fill_consistent_thread(t);
    t->head.id = 1;
    struct ckpt_region_record *code =
        add_region(&w, CODE_START, CODE_END, CKPT_PROT_READ | CKPT_PROT_EXEC);
    if (data_split) { /* the data in two regions, data_gap bytes apart */
        add_region(&w, DATA_START, data_split, CKPT_PROT_READ | CKPT_PROT_WRITE);
        data_region =
            add_region(&w, data_split + data_gap, DATA_END, CKPT_PROT_READ | CKPT_PROT_WRITE);
    } else {
        data_region = add_region(&w, DATA_START, DATA_END, CKPT_PROT_READ | CKPT_PROT_WRITE);
    }
    if (change)
        change(p, t, code);
    struct ckpt_file_header hdr;
    memset(&hdr, 0, sizeof hdr);
    assert_int_equal(iw_finish(&w, &hdr), 0);
    free(meta);
    off_t size = lseek(fd, 0, SEEK_END);
    void *base = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    assert_true(base != MAP_FAILED);
    close(fd);
    struct image_view v;
    int rc = image_open_view(&v, base, (uint64_t)size, err) ? -1
             : image_check_restore_values(&v, err)          ? -1
                                                            : 0;
    munmap(base, (size_t)size);
    return rc;
}

static void expect_refused(change_fn *change, const char *what, const char *want)
{
    struct ck_error err = {0};
    if (check_image_with(change, &err) == 0)
        fail_msg("an image with %s was accepted", what);
    if (!strstr(err.msg, want))
        fail_msg("%s: error \"%s\" does not mention \"%s\"", what, err.msg, want);
}

static void consistent_image_passes(void **state)
{
    (void)state;
    struct ck_error err = {0};
    if (check_image_with(NULL, &err))
        fail_msg("the consistent image was refused: %s", err.msg);
}

#define CHANGE(name, body)                                                                         \
    static void name(struct ckpt_process_record *p, struct ckpt_thread_record *t,                  \
                     struct ckpt_region_record *code)                                              \
    {                                                                                              \
        (void)p, (void)t, (void)code;                                                              \
        body;                                                                                      \
    }

/* Above every region: addr >= start holds for all of them, and end - addr wraps around. */
CHANGE(rip_wraps_around, t->context.rip = 0xfffffffffffff000ULL)
CHANGE(rip_in_data, t->context.rip = DATA_START + 0x100)
CHANGE(rsp_wraps_around, t->context.rsp = 0xffffffffffff0008ULL)
CHANGE(tid_wraps_around, t->tid_addr = 0xffffffffffffff00ULL)
CHANGE(fs_base_non_canonical, t->fs_base = 0x8000000000001000ULL)
CHANGE(gs_base_non_canonical, t->gs_base = 0xffff800000000000ULL)
CHANGE(rseq_wraps_around, t->rseq_addr = 0xffffffffffffffe0ULL)
CHANGE(rseq_bad_length, t->rseq_len = 8)
CHANGE(restore_record_wraps_around, p->restore_info_addr = 0xfffffffffffff100ULL)
CHANGE(robust_list_bad_length, t->robust_list_len = 4096)
CHANGE(brk_zero, p->brk = 0)
CHANGE(start_stack_two, p->start_stack = 2)
CHANGE(brk_below_start, p->brk = p->start_brk - 0x1000)
CHANGE(env_end_beyond_user_space, p->env_end = 0x800000000000ULL)
CHANGE(auxv_without_at_null, p->auxv[0] = 6)
CHANGE(unknown_prot_bits, code->prot |= 0x10)
CHANGE(two_vdsos, code->kind = CKPT_REGION_VDSO; data_region->kind = CKPT_REGION_VDSO)
CHANGE(handler_outside_code, p->sigactions[SIGINT - 1].handler = DATA_START + 0x10)
CHANGE(handler_without_restorer, p->sigactions[SIGINT - 1].flags = SA_SIGINFO_FLAG)
CHANGE(unknown_sa_flags, p->sigactions[SIGTERM - 1].flags = 0x100)
CHANGE(mask_with_sigkill, p->sigactions[SIGINT - 1].mask |= 1ULL << (SIGKILL - 1))
CHANGE(pending_sigkill, p->shared_pending = 1ULL << (SIGKILL - 1))
CHANGE(thread_pending_sigstop, t->pending = 1ULL << (SIGSTOP - 1))
CHANGE(thread_blocks_sigkill, t->sigmask = 1ULL << (SIGKILL - 1))
CHANGE(frame_in_code, t->frame_addr = CODE_START + 0x10)
CHANGE(clear_child_tid_wraps_around, t->clear_child_tid = 0xfffffffffffffff0ULL)
CHANGE(clear_child_tid_misaligned, t->clear_child_tid = t->fs_base + 0x11)
CHANGE(altstack_too_small, t->altstack_size = 1024)
CHANGE(altstack_wraps_around, t->altstack_sp = 0x7ffffffff000ULL - 0x1000)
CHANGE(altstack_unknown_flags, t->altstack_flags = 4)
CHANGE(sched_deadline, t->sched_policy = 6)
CHANGE(sched_fifo_priority_zero, t->sched_policy = 1; t->nice = 0)
CHANGE(sched_batch_with_priority, t->sched_priority = 10)
CHANGE(nice_too_low, t->nice = -21)
CHANGE(sched_unknown_flags, t->sched_flags = 2)
CHANGE(itimer_usec_too_big, p->itimers[1].value_usec = 1000000)
CHANGE(itimer_negative, p->itimers[2].interval_sec = -1)
CHANGE(rlimit_soft_above_hard, p->rlimits[7].cur = 100; p->rlimits[7].max = 10)
CHANGE(umask_beyond_permissions, p->umask = 01022)
CHANGE(cwd_relative, snprintf(p->cwd, sizeof p->cwd, "home/user"))

/* The shim's restore info is split in several regions after restore-run --lazy (pages of it
 * mapped from the image): adjacent writable regions hold it, a gap between them does not. */
static void restore_info_across_adjacent_regions_passes_and_across_a_gap_is_refused(void **state)
{
    (void)state;
    struct ck_error err = {0};
    data_split = DATA_START + 0x31000; /* inside the restore info at DATA_START + 0x30000 */
    data_gap = 0;
    int adjacent = check_image_with(NULL, &err);
    if (adjacent)
        fail_msg("the restore info across two adjacent regions was refused: %s", err.msg);
    data_gap = 0x1000;
    expect_refused(NULL, "the restore info across a gap", "restore record");
    data_split = data_gap = 0;
}

static void addresses_outside_every_region_are_refused(void **state)
{
    (void)state;
    expect_refused(rip_wraps_around, "an instruction pointer above every region",
                   "instruction pointer");
    expect_refused(rip_in_data, "an instruction pointer in data", "instruction pointer");
    expect_refused(rsp_wraps_around, "a stack pointer above every region", "stack pointer");
    expect_refused(tid_wraps_around, "a tid address above every region", "thread id");
    expect_refused(fs_base_non_canonical, "a non-canonical FS base", "FS base");
    expect_refused(gs_base_non_canonical, "a non-canonical GS base", "GS base");
    expect_refused(rseq_wraps_around, "an rseq area above every region", "rseq");
    expect_refused(rseq_bad_length, "an rseq area of 8 bytes", "rseq");
    expect_refused(restore_record_wraps_around, "a restore record above every region",
                   "restore record");
    expect_refused(robust_list_bad_length, "a robust list of 4096 bytes", "robust");
    expect_refused(frame_in_code, "a signal frame in read-only code", "signal frame");
    expect_refused(clear_child_tid_wraps_around, "a clear-child tid above every region",
                   "clear-child");
    expect_refused(clear_child_tid_misaligned, "a misaligned clear-child tid", "clear-child");
}

/* What the core sets for a thread beside addresses: its signal stack, its scheduling. */
static void impossible_thread_settings_are_refused(void **state)
{
    (void)state;
    expect_refused(altstack_too_small, "a 1024-byte signal stack", "signal stack");
    expect_refused(altstack_wraps_around, "a signal stack past the top", "signal stack");
    expect_refused(altstack_unknown_flags, "signal stack flags 4", "signal stack");
    expect_refused(sched_deadline, "SCHED_DEADLINE", "scheduling policy 6");
    expect_refused(sched_fifo_priority_zero, "SCHED_FIFO priority 0", "scheduling policy 1");
    expect_refused(sched_batch_with_priority, "SCHED_BATCH priority 10", "priority 10");
    expect_refused(nice_too_low, "nice -21", "nice -21");
    expect_refused(sched_unknown_flags, "sched flags 2", "flags 2");
    expect_refused(thread_pending_sigstop, "SIGSTOP pending for a thread", "SIGKILL or SIGSTOP");
    expect_refused(thread_blocks_sigkill, "SIGKILL blocked in a thread", "SIGKILL or SIGSTOP");
}

static void impossible_memory_layouts_are_refused(void **state)
{
    (void)state;
    expect_refused(brk_zero, "brk 0", "impossible address");
    expect_refused(start_stack_two, "start_stack 2", "impossible address");
    expect_refused(brk_below_start, "brk below start_brk", "out of order");
    expect_refused(env_end_beyond_user_space, "env_end at 2^47", "impossible address");
    expect_refused(auxv_without_at_null, "an auxv without AT_NULL", "AT_NULL");
    expect_refused(unknown_prot_bits, "protection bit 0x10", "unknown protection bits");
    expect_refused(two_vdsos, "two vDSO regions", "a second");
}

static void impossible_signal_timer_and_limit_values_are_refused(void **state)
{
    (void)state;
    expect_refused(handler_outside_code, "a handler in data", "handler of signal 2");
    expect_refused(handler_without_restorer, "a handler without SA_RESTORER", "restorer");
    expect_refused(unknown_sa_flags, "sa_flags 0x100", "unknown flags");
    expect_refused(mask_with_sigkill, "a handler mask with SIGKILL", "blocks SIGKILL");
    expect_refused(pending_sigkill, "SIGKILL pending", "SIGKILL or SIGSTOP");
    expect_refused(itimer_usec_too_big, "an itimer of 1000000 us", "interval timer 1");
    expect_refused(itimer_negative, "a negative itimer", "interval timer 2");
    expect_refused(rlimit_soft_above_hard, "a soft limit above the hard one", "resource limit 7");
    expect_refused(umask_beyond_permissions, "umask 01022", "umask");
    expect_refused(cwd_relative, "a relative cwd", "absolute");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(consistent_image_passes),
        cmocka_unit_test(restore_info_across_adjacent_regions_passes_and_across_a_gap_is_refused),
        cmocka_unit_test(addresses_outside_every_region_are_refused),
        cmocka_unit_test(impossible_memory_layouts_are_refused),
        cmocka_unit_test(impossible_signal_timer_and_limit_values_are_refused),
        cmocka_unit_test(impossible_thread_settings_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
