/* The event-loop descriptor kinds, save and check sides on real kernel objects in this
 * process: what the checkpoint handler's save writes for an eventfd, a timerfd, a signalfd
 * and an epoll, and what restore-run's phase 1 makes of it (a new descriptor with the same
 * counter, timer, unread expirations, mask); and the refusals — an epoll entry whose number
 * names another file now, entries naming descriptors the image lacks, the epoll itself or
 * one number twice, a target that cannot be watched again (a regular file), a target that
 * stays closed. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fd_event.h"

#define META_CAP (64 * 1024)
#define MAX_FDS 8

/* One checkpoint's worth of descriptors and the phase 1 plan made of them. */
struct rig {
    char meta[META_CAP], stage[CK_PAGE];
    struct image_writer w;
    struct ckpt_file_record files[MAX_FDS];
    struct ckpt_fd_record recs[MAX_FDS];
    struct fd_plan fds[MAX_FDS];
    struct restore_plan p;
    size_t detail_at[MAX_FDS]; /* metadata offset of each one's first own record */
    uint32_t n;
    struct ck_error err;
};

static struct rig *rig_new(void)
{
    struct rig *r = calloc(1, sizeof *r);
    assert_non_null(r);
    iw_init_staging(&r->w, r->meta, sizeof r->meta, r->stage, sizeof r->stage);
    return r;
}

/* Saves descriptor fd (as the program's number as_fd) the way files_save does: its FILE,
 * then its kind's records. Returns the save's result. */
static int rig_save(struct rig *r, int fd, int as_fd)
{
    uint32_t i = r->n++;
    char link[64], path[128];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, path, sizeof path - 1);
    assert_true(len > 0);
    path[len] = 0;
    struct ckpt_file_record *f = &r->files[i];
    f->head.id = i + 1;
    f->kind = fd_event_kind_of_path(path);
    f->flags = (uint32_t)sys_fcntl(fd, F_GETFL, 0);
    if (!f->kind) { /* a regular file, as a target that cannot be watched */
        f->kind = CKPT_FD_FILE;
        f->flags = O_RDONLY;
    }
    r->recs[i] = (struct ckpt_fd_record){.fd = as_fd, .file = i + 1};
    r->fds[i].temp_fd = -1; /* nothing to close until planned */
    r->detail_at[i] = r->w.meta_len;
    const struct fd_kind_ops *ops = fd_ops(f->kind);
    struct fd_save_ctx c = {.w = &r->w};
    int rc = f->kind == CKPT_FD_FILE ? 0 : ops->save(&c, fd, f, &r->err);
    if (rc)
        print_message("save of descriptor %d: %s\n", fd, r->err.msg);
    return rc;
}

/* The plan of what was saved, as plan_records and files_check's first loop make it. */
static void rig_plan_records(struct rig *r)
{
    r->p.view.meta = (const unsigned char *)r->meta;
    r->p.view.meta_len = r->w.meta_len;
    r->p.fds = r->fds;
    r->p.nfds = r->n;
    for (uint32_t i = 0; i < r->n; i++) {
        size_t end = i + 1 < r->n ? r->detail_at[i + 1] : r->w.meta_len;
        struct fd_plan *fp = &r->fds[i];
        *fp = (struct fd_plan){.rec = &r->recs[i],
                               .file = &r->files[i],
                               .shares_with = -1,
                               .temp_fd = -1,
                               .dir_fd = -1,
                               .new_fd = -1};
        for (size_t off = r->detail_at[i]; off < end;) {
            const struct ckpt_record_head *h = (const void *)(r->meta + off);
            if (!fp->ndetail++)
                fp->detail = h;
            off += h->length;
        }
    }
}

/* Phase 1 for every saved descriptor (a regular file target: opened read-only, as
 * fd_file.c would), then the checks that need them all. Returns 0 or -1 with r->err. */
static int rig_check(struct rig *r)
{
    rig_plan_records(r);
    for (uint32_t i = 0; i < r->n; i++) {
        struct fd_plan *fp = &r->fds[i];
        if (fp->file->kind == CKPT_FD_FILE) {
            fp->temp_fd = (int)sys_openat(AT_FDCWD, "/proc/self/exe", O_RDONLY | O_CLOEXEC, 0);
            continue;
        }
        if (fd_ops(fp->file->kind)->plan(&r->p, fp, &r->err))
            return -1;
    }
    for (uint32_t i = 0; i < r->n; i++) {
        const struct fd_kind_ops *ops = fd_ops(r->fds[i].file->kind);
        if (ops->check_all && ops->check_all(&r->p, &r->fds[i], &r->err))
            return -1;
    }
    return 0;
}

static void rig_free(struct rig *r)
{
    for (uint32_t i = 0; i < r->n; i++)
        if (r->fds[i].temp_fd >= 0)
            close(r->fds[i].temp_fd);
    free(r);
}

static void expect_refused(struct rig *r, int rc, const char *want)
{
    assert_int_not_equal(rc, 0);
    if (!strstr(r->err.msg, want))
        fail_msg("error \"%s\" does not mention \"%s\"", r->err.msg, want);
}

static uint64_t read_u64(int fd)
{
    uint64_t v = 0;
    return read(fd, &v, sizeof v) == (ssize_t)sizeof v ? v : 0;
}

static const char *fdinfo_line(int fd, const char *key)
{
    static char line[256];
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    line[0] = 0;
    while (fgets(line, sizeof line, f) && strncmp(line, key, strlen(key)))
        line[0] = 0;
    fclose(f);
    return line;
}

static const void *detail(struct rig *r, uint32_t i)
{
    return r->meta + r->detail_at[i];
}

static void eventfd_counter_and_semaphore_come_back(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    int e = eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK);
    uint64_t big = 5000000000ULL; /* more than eventfd2's 32-bit initial value */
    assert_int_equal(write(e, &big, 8), 8);
    assert_int_equal(rig_save(r, e, 3), 0);
    const struct ckpt_eventfd_record *rec = detail(r, 0);
    assert_int_equal(rec->head.kind, CKPT_REC_EVENTFD);
    assert_int_equal(rec->count, big);
    assert_int_equal(rec->semaphore, 1);
    assert_int_equal(rig_check(r), 0);
    int made = r->fds[0].temp_fd;
    assert_true(sys_fcntl(made, F_GETFL, 0) & O_NONBLOCK);
    assert_true(sys_fcntl(made, F_GETFD, 0) & FD_CLOEXEC);
    assert_int_equal(read_u64(made), 1); /* a semaphore */
    unsigned long long left = 0;
    assert_int_equal(sscanf(fdinfo_line(made, "eventfd-count:"), "eventfd-count: %llx", &left), 1);
    assert_true(left == big - 1);
    assert_int_equal(read_u64(e), 1); /* the save read nothing of the original */
    close(e);
    rig_free(r);
}

static void timerfd_ticks_interval_and_clocks_come_back(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    int fired = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec once = {.it_value = {0, 1000000}};
    assert_int_equal(timerfd_settime(fired, 0, &once, NULL), 0);
    int periodic = timerfd_create(CLOCK_BOOTTIME, 0);
    struct itimerspec every = {.it_interval = {0, 100000000}, .it_value = {5, 0}};
    assert_int_equal(timerfd_settime(periodic, 0, &every, NULL), 0);
    int wall = timerfd_create(CLOCK_REALTIME, 0);
    struct itimerspec at = {.it_value = {time(NULL) + 3600, 0}};
    assert_int_equal(timerfd_settime(wall, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &at, NULL),
                     0);
    int mono = timerfd_create(CLOCK_MONOTONIC, 0);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct itimerspec mono_at = {.it_value = {now.tv_sec + 600, 0}};
    assert_int_equal(timerfd_settime(mono, TFD_TIMER_ABSTIME, &mono_at, NULL), 0);
    usleep(20000);
    assert_int_equal(rig_save(r, fired, 3), 0);
    assert_int_equal(rig_save(r, periodic, 4), 0);
    assert_int_equal(rig_save(r, wall, 5), 0);
    assert_int_equal(rig_save(r, mono, 6), 0);
    const struct ckpt_timerfd_record *t = detail(r, 0);
    assert_int_equal(t->ticks, 1);
    assert_int_equal(t->value_sec | t->value_nsec, 0);
    t = detail(r, 1);
    assert_int_equal(t->clockid, CLOCK_BOOTTIME);
    assert_int_equal(t->interval_nsec, 100000000);
    assert_true(t->value_sec == 4);
    t = detail(r, 2);
    assert_int_equal(t->settime_flags, CKPT_TIMERFD_ABSTIME | CKPT_TIMERFD_CANCEL_ON_SET);
    assert_int_equal(t->expires_sec, at.it_value.tv_sec);
    assert_int_equal(rig_check(r), 0);

    assert_int_equal(read_u64(r->fds[0].temp_fd), 1); /* the unread expiration */
    struct itimerspec left;
    assert_int_equal(timerfd_gettime(r->fds[1].temp_fd, &left), 0);
    assert_int_equal(left.it_interval.tv_nsec, 100000000);
    assert_true(left.it_value.tv_sec == 4 || left.it_value.tv_sec == 3);
    assert_string_equal(fdinfo_line(r->fds[1].temp_fd, "clockid:"), "clockid: 7\n");
    /* Realtime absolute: the same wall time, the flags kept. */
    assert_string_equal(fdinfo_line(r->fds[2].temp_fd, "settime flags:"), "settime flags: 03\n");
    assert_int_equal(timerfd_gettime(r->fds[2].temp_fd, &left), 0);
    assert_true(left.it_value.tv_sec > 3500 && left.it_value.tv_sec < 3600);
    /* Monotonic absolute: re-armed relative, with the time it had left. */
    assert_string_equal(fdinfo_line(r->fds[3].temp_fd, "settime flags:"), "settime flags: 00\n");
    assert_int_equal(timerfd_gettime(r->fds[3].temp_fd, &left), 0);
    assert_true(left.it_value.tv_sec > 590 && left.it_value.tv_sec < 600);
    close(fired);
    close(periodic);
    close(wall);
    close(mono);
    rig_free(r);
}

static void signalfd_mask_comes_back(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGRTMIN + 4);
    int s = signalfd(-1, &set, SFD_NONBLOCK);
    assert_int_equal(rig_save(r, s, 3), 0);
    const struct ckpt_signalfd_record *rec = detail(r, 0);
    assert_int_equal(rec->mask, (1ULL << (SIGUSR1 - 1)) | (1ULL << (SIGRTMIN + 4 - 1)));
    assert_int_equal(rig_check(r), 0);
    char want[256];
    snprintf(want, sizeof want, "%s", fdinfo_line(s, "sigmask:"));
    assert_string_equal(fdinfo_line(r->fds[0].temp_fd, "sigmask:"), want);
    assert_true(sys_fcntl(r->fds[0].temp_fd, F_GETFL, 0) & O_NONBLOCK);
    close(s);
    rig_free(r);
}

static void watch(int ep, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev = {.events = events, .data.u64 = data};
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
}

static void epoll_entries_are_saved_with_events_and_data(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    int ep = epoll_create1(0);
    int a = eventfd(0, 0), b = eventfd(0, 0);
    watch(ep, a, EPOLLIN | EPOLLET, 0x1122334455667788ULL);
    watch(ep, b, EPOLLOUT | EPOLLONESHOT, 7);
    assert_int_equal(rig_save(r, ep, ep), 0);
    const struct ckpt_epoll_target_record *t = detail(r, 0);
    int seen = 0;
    for (int i = 0; i < 2; i++, t++) {
        assert_int_equal(t->head.kind, CKPT_REC_EPOLL_TARGET);
        if (t->fd == a) {
            assert_int_equal(t->events & ~(uint32_t)(EPOLLERR | EPOLLHUP), EPOLLIN | EPOLLET);
            assert_true(t->data == 0x1122334455667788ULL);
        } else {
            assert_int_equal(t->fd, b);
            assert_int_equal(t->events & ~(uint32_t)(EPOLLERR | EPOLLHUP), EPOLLOUT | EPOLLONESHOT);
            assert_true(t->data == 7);
        }
        seen |= 1 << (t->fd == a);
    }
    assert_int_equal(seen, 3);
    assert_int_equal(r->w.meta_len, 2 * sizeof *t);
    close(ep);
    close(a);
    close(b);
    rig_free(r);
}

static void stale_epoll_entry_is_refused(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    int ep = epoll_create1(0);
    int a = eventfd(0, 0);
    watch(ep, a, EPOLLIN, 1);
    int b = dup(a);
    close(a);
    int other = eventfd(0, 0); /* takes a's number */
    assert_int_equal(other, a);
    char want[128];
    snprintf(want, sizeof want, "descriptor %d (epoll) watches a file added as descriptor %d", ep,
             a);
    expect_refused(r, rig_save(r, ep, ep), want);
    close(other);
    /* Closed altogether, the number names nothing: refused too. */
    struct rig *r2 = rig_new();
    expect_refused(r2, rig_save(r2, ep, ep), want);
    close(b);
    close(ep);
    rig_free(r);
    rig_free(r2);
}

/* An epoll at number 3 watching what add_targets adds, its targets saved as 4, 5, ... */
static struct rig *epoll_rig(int ep, const int *targets, int n)
{
    struct rig *r = rig_new();
    assert_int_equal(rig_save(r, ep, 3), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(rig_save(r, targets[i], 4 + i), 0);
    return r;
}

/* The saved entries renumbered as the program's numbers 4, 5, ... (or as given). */
static void renumber(struct rig *r, const int *numbers, int n)
{
    struct ckpt_epoll_target_record *t = (void *)(r->meta + r->detail_at[0]);
    for (int i = 0; i < n; i++)
        t[i].fd = numbers[i];
}

static void epoll_targets_must_be_the_images_descriptors(void **state)
{
    (void)state;
    int ep = epoll_create1(0);
    int e = eventfd(0, 0), f = eventfd(0, 0);
    watch(ep, e, EPOLLIN, 1);
    watch(ep, f, EPOLLIN, 2);
    int targets[2] = {e, f};

    struct rig *ok = epoll_rig(ep, targets, 2);
    int fine[2] = {4, 5};
    renumber(ok, fine, 2);
    if (rig_check(ok))
        fail_msg("refused: %s", ok->err.msg);
    rig_free(ok);

    struct rig *missing = epoll_rig(ep, targets, 2);
    int absent[2] = {4, 9};
    renumber(missing, absent, 2);
    expect_refused(missing, rig_check(missing),
                   "descriptor 3 (epoll) watches descriptor 9, which the image does not have");
    rig_free(missing);

    struct rig *itself = epoll_rig(ep, targets, 2);
    int self[2] = {3, 4};
    renumber(itself, self, 2);
    expect_refused(itself, rig_check(itself), "watches descriptor 3, which is itself");
    rig_free(itself);

    struct rig *twice = epoll_rig(ep, targets, 2);
    int same[2] = {5, 5};
    renumber(twice, same, 2);
    expect_refused(twice, rig_check(twice), "descriptor 3 (epoll) watches descriptor 5 twice");
    rig_free(twice);
    close(ep);
    close(e);
    close(f);
}

static void epoll_target_that_cannot_be_watched_is_refused(void **state)
{
    (void)state;
    int ep = epoll_create1(0);
    int e = eventfd(0, 0);
    watch(ep, e, EPOLLIN, 1);
    int file = (int)sys_openat(AT_FDCWD, "/proc/self/exe", O_RDONLY, 0);
    int targets[2] = {e, file};
    /* The image says the eventfd's number is now a regular file's (restore-run was given a
     * file where the program had a pollable descriptor). */
    struct rig *r = epoll_rig(ep, targets, 2);
    int numbers[1] = {5};
    renumber(r, numbers, 1);
    expect_refused(r, rig_check(r),
                   "descriptor 3 (epoll) watches descriptor 5 (events 19), which cannot be "
                   "watched again: Operation not permitted");
    rig_free(r);

    /* A target from the environment that restore-run does not have stays closed. */
    struct rig *gone = epoll_rig(ep, targets, 1);
    renumber(gone, (int[]){4}, 1);
    rig_plan_records(gone);
    gone->files[1].kind = CKPT_FD_PIPE;
    assert_int_equal(fd_ops(CKPT_FD_EPOLL)->plan(&gone->p, &gone->fds[0], &gone->err), 0);
    gone->fds[1].inherit = 1;
    expect_refused(gone, fd_ops(CKPT_FD_EPOLL)->check_all(&gone->p, &gone->fds[0], &gone->err),
                   "which cannot be watched again: it stays closed");
    rig_free(gone);
    close(file);
    close(e);
    close(ep);
}

static void event_kind_is_told_by_the_inode_name(void **state)
{
    (void)state;
    assert_int_equal(fd_event_kind_of_path("anon_inode:[eventfd]"), CKPT_FD_EVENTFD);
    assert_int_equal(fd_event_kind_of_path("anon_inode:[timerfd]"), CKPT_FD_TIMERFD);
    assert_int_equal(fd_event_kind_of_path("anon_inode:[signalfd]"), CKPT_FD_SIGNALFD);
    assert_int_equal(fd_event_kind_of_path("anon_inode:[eventpoll]"), CKPT_FD_EPOLL);
    assert_int_equal(fd_event_kind_of_path("anon_inode:[pidfd]"), 0);
    assert_int_equal(fd_event_kind_of_path("anon_inode:inotify"), CKPT_FD_INOTIFY);
    assert_int_equal(fd_event_kind_of_path("/tmp/anon_inode:[eventfd]"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(event_kind_is_told_by_the_inode_name),
        cmocka_unit_test(eventfd_counter_and_semaphore_come_back),
        cmocka_unit_test(timerfd_ticks_interval_and_clocks_come_back),
        cmocka_unit_test(signalfd_mask_comes_back),
        cmocka_unit_test(epoll_entries_are_saved_with_events_and_data),
        cmocka_unit_test(stale_epoll_entry_is_refused),
        cmocka_unit_test(epoll_targets_must_be_the_images_descriptors),
        cmocka_unit_test(epoll_target_that_cannot_be_watched_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
