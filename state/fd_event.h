/* Shared by the event-loop descriptor kinds (fd_eventfd.c, fd_timerfd.c, fd_signalfd.c,
 * fd_epoll.c): their system calls, what an anonymous inode's name says it is, and
 * /proc/self/fdinfo/N read line by line (raw syscalls: the checkpoint handler reads it). */
#ifndef CKPT_FD_EVENT_H
#define CKPT_FD_EVENT_H

#include "fd_kind.h"

struct ck_timespec {
    int64_t sec, nsec;
};
struct ck_itimerspec {
    struct ck_timespec interval, value;
};
struct ck_epoll_event {
    uint32_t events;
    uint64_t data;
} __attribute__((packed)); /* x86_64's struct epoll_event is packed */

#define CK_EPOLL_CTL_ADD 1
#define CK_TFD_IOC_SET_TICKS 0x40085400UL /* _IOW('T', 0, u64): CONFIG_CHECKPOINT_RESTORE */
#define CK_KCMP_EPOLL_TFD 7

static inline long sys_eventfd2(unsigned count, int flags)
{
    return sys_call2(__NR_eventfd2, (long)count, flags);
}
static inline long sys_timerfd_create(int clockid, int flags)
{
    return sys_call2(__NR_timerfd_create, clockid, flags);
}
static inline long sys_timerfd_settime(int fd, int flags, const struct ck_itimerspec *new_value)
{
    return sys_call4(__NR_timerfd_settime, fd, flags, SYS_L(new_value), 0);
}
static inline long sys_timerfd_gettime(int fd, struct ck_itimerspec *value)
{
    return sys_call2(__NR_timerfd_gettime, fd, SYS_L(value));
}
static inline long sys_signalfd4(int fd, const uint64_t *mask, int flags)
{
    return sys_call4(__NR_signalfd4, fd, SYS_L(mask), 8, flags);
}
static inline long sys_epoll_create1(int flags)
{
    return sys_call1(__NR_epoll_create1, flags);
}
static inline long sys_epoll_ctl(int epfd, int op, int fd, struct ck_epoll_event *ev)
{
    return sys_call4(__NR_epoll_ctl, epfd, op, fd, SYS_L(ev));
}

/* CKPT_FD_EVENTFD ... CKPT_FD_EPOLL, CKPT_FD_INOTIFY for the name of an anonymous inode's
 * descriptor ("anon_inode:[eventfd]"), 0 for any other. */
uint32_t fd_event_kind_of_path(const char *path);

/* Calls line(ctx, text) for each line of /proc/self/fdinfo/fd (without its newline), until
 * one returns non-zero, which is returned; 0 at the end; -errno if it cannot be read. */
int fd_event_each_fdinfo_line(int fd, int (*line)(void *ctx, const char *text), void *ctx);

/* The value of "key" in /proc/self/fdinfo/fd in base (the text after the key and any
 * blanks), into *out: 0, -ENOENT if there is no such line, or -errno. */
int fd_event_fdinfo_value(int fd, const char *key, unsigned base, uint64_t *out);

/* Skips blanks (spaces, tabs) at *p. */
const char *fd_event_skip_blanks(const char *p);

/* Handler: the FILE's own record of this kind, or ck_fail naming the descriptor. */
void *fd_event_record(struct fd_save_ctx *c, uint32_t rec_kind, uint32_t size,
                      const struct ckpt_file_record *f, int fd, struct ck_error *err);

/* Phase 1: the kind's record of a descriptor's plan, or a refusal naming it. */
const void *fd_event_detail(const struct fd_plan *fp, uint32_t rec_kind, const char *what,
                            struct ck_error *err);

/* Phase 1: a new descriptor made by phase 1 moved above the program's numbers, with the
 * FILE's O_NONBLOCK; or a refusal naming the descriptor. */
int fd_event_keep(struct restore_plan *p, struct fd_plan *fp, long made, const char *what,
                  struct ck_error *err);

#endif
