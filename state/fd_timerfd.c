/* timerfd (CKPT_FD_TIMERFD) with its TIMERFD record: the clock, the time left to the next
 * expiration, the interval, the settime flags and the expirations not yet read.
 *
 * What a restored program finds: a relative timer resumes with the time it had left at
 * checkpoint (the time the program was not running does not count); an absolute timer of
 * CLOCK_REALTIME (or _ALARM) expires at the same wall time as before (if that has passed,
 * at once, counting the intervals missed, as the kernel does after a clock jump), with
 * TFD_TIMER_CANCEL_ON_SET kept; an absolute timer of CLOCK_MONOTONIC or CLOCK_BOOTTIME —
 * clocks that start again at a reboot — is re-armed relative, with the time it had left,
 * and timerfd_gettime then reports the same remaining time as at checkpoint. Expirations
 * counted but not yet read are given back to the new timer (TFD_IOC_SET_TICKS), so the
 * first read returns them. */
#include "fd_event.h"

#include <asm/errno.h>

#define CK_TFD_TIMER_ABSTIME 1
#define NSEC_PER_SEC 1000000000

static int realtime_clock(uint32_t clockid)
{
    return clockid == 0 /* CLOCK_REALTIME */ || clockid == 8 /* CLOCK_REALTIME_ALARM */;
}

static int timespec_zero(struct ck_timespec t)
{
    return t.sec == 0 && t.nsec == 0;
}

static struct ck_timespec timespec_add(struct ck_timespec a, struct ck_timespec b)
{
    struct ck_timespec s = {a.sec + b.sec, a.nsec + b.nsec};
    if (s.nsec >= NSEC_PER_SEC) {
        s.sec++;
        s.nsec -= NSEC_PER_SEC;
    }
    return s;
}

/* ======================================================================================
 * save side: runs in the checkpoint signal handler, raw syscalls only
 * ====================================================================================== */

struct timerfd_info {
    uint64_t clockid, ticks, settime_flags;
    int seen; /* bit per line found */
};

/* If text is "key value", the value in base into *field, and its bit in *seen. */
static void field_of_line(const char *text, const char *key, unsigned base, uint64_t *field,
                          int bit, int *seen)
{
    if (!ck_starts_with(text, key))
        return;
    const char *p = fd_event_skip_blanks(text + ck_strlen(key));
    *field = ck_parse_uint(&p, base);
    *seen |= bit;
}

static int timerfd_line(void *ctx, const char *text)
{
    struct timerfd_info *t = ctx;
    field_of_line(text, "clockid:", 10, &t->clockid, 1, &t->seen);
    field_of_line(text, "ticks:", 10, &t->ticks, 2, &t->seen);
    field_of_line(text, "settime flags:", 8, &t->settime_flags, 4, &t->seen);
    return 0;
}

static int timerfd_save(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                        struct ck_error *err)
{
    /* timerfd_gettime first: for a periodic timer that expired, it counts the intervals
     * missed into ticks and re-arms it, as a read would. */
    struct ck_itimerspec its;
    long r = sys_timerfd_gettime(fd, &its);
    if (r < 0)
        return ck_fail(err, (int)r, "descriptor %d (timerfd): timerfd_gettime: %s", fd,
                       ck_strerror((int)-r));
    struct timerfd_info t = {0};
    int rc = fd_event_each_fdinfo_line(fd, timerfd_line, &t);
    if (rc < 0 || t.seen != 7)
        return ck_fail(err, rc < 0 ? rc : -1,
                       "descriptor %d (timerfd): reading its clock and ticks from fdinfo: %s", fd,
                       rc < 0 ? ck_strerror(-rc) : "lines missing");
    struct ck_timespec now = {0, 0};
    if (!timespec_zero(its.value) && (r = sys_clock_gettime((int)t.clockid, &now)) < 0)
        return ck_fail(err, (int)r, "descriptor %d (timerfd): reading clock %lu: %s", fd,
                       (unsigned long)t.clockid, ck_strerror((int)-r));
    struct ckpt_timerfd_record *rec = fd_event_record(c, CKPT_REC_TIMERFD, sizeof *rec, f, fd, err);
    if (!rec)
        return -1;
    rec->clockid = (uint32_t)t.clockid;
    rec->settime_flags = (uint32_t)t.settime_flags;
    rec->ticks = t.ticks;
    rec->value_sec = its.value.sec;
    rec->value_nsec = its.value.nsec;
    rec->interval_sec = its.interval.sec;
    rec->interval_nsec = its.interval.nsec;
    if (!timespec_zero(its.value)) {
        struct ck_timespec at = timespec_add(now, its.value);
        rec->expires_sec = at.sec;
        rec->expires_nsec = at.nsec;
    }
    return 0;
}

/* ======================================================================================
 * check side: restore-run phase 1
 * ====================================================================================== */

/* Arms the new timer as the comment at the top says. */
static long arm(int fd, const struct ckpt_timerfd_record *t)
{
    struct ck_itimerspec its = {{t->interval_sec, t->interval_nsec}, {t->value_sec, t->value_nsec}};
    if (timespec_zero(its.value))
        return 0; /* disarmed */
    int flags = 0;
    if ((t->settime_flags & CKPT_TIMERFD_ABSTIME) && realtime_clock(t->clockid)) {
        its.value = (struct ck_timespec){t->expires_sec, t->expires_nsec};
        flags = (int)t->settime_flags;
    }
    return sys_timerfd_settime(fd, flags, &its);
}

static int timerfd_plan(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    const struct ckpt_timerfd_record *t = fd_event_detail(fp, CKPT_REC_TIMERFD, "a timerfd", err);
    if (!t)
        return -1;
    long fd = sys_timerfd_create((int)t->clockid, O_CLOEXEC);
    if (fd < 0)
        return ck_fail(err, (int)fd, "descriptor %d: making its timerfd (clock %u) again: %s",
                       fp->rec->fd, t->clockid, ck_strerror((int)-fd));
    long r = arm((int)fd, t);
    if (r < 0) {
        sys_close((int)fd);
        return ck_fail(err, (int)r, "descriptor %d: arming its timerfd again: %s", fp->rec->fd,
                       ck_strerror((int)-r));
    }
    if (t->ticks && (r = sys_ioctl((int)fd, CK_TFD_IOC_SET_TICKS, (void *)&t->ticks)) < 0) {
        sys_close((int)fd);
        return ck_fail(err, (int)r,
                       "descriptor %d: giving its timerfd the %lu expirations not yet read: %s%s",
                       fp->rec->fd, (unsigned long)t->ticks, ck_strerror((int)-r),
                       r == -ENOTTY ? " (a kernel without CONFIG_CHECKPOINT_RESTORE)" : "");
    }
    return fd_event_keep(p, fp, fd, "its timerfd", err);
}

/* The restore core has nothing more to do: the descriptor is on its number. */
FD_NOTHING_TO_RESTORE(TIMERFD)

const struct fd_kind_ops fd_ops_TIMERFD = {
    .kind = CKPT_FD_TIMERFD,
    .name = "timerfd",
    .save = timerfd_save,
    .plan = timerfd_plan,
};
