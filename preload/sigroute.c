/* Which deliveries of the checkpoint signal are checkpoint requests (sigroute.h has the rule),
 * and the program's own deliveries run as the kernel would have run them.
 *
 * ================ NO LIBC IN THIS FILE (signal handler context) ================ */
#include "sigroute.h"
#include "sys.h"

#include <ucontext.h>

/* A message of the shim's own has the cookie in its value: tag and argument come out. */
static enum sigroute_kind classify_own_queued(uint64_t value, const struct sigroute_self *self)
{
    uint64_t plain = value ^ self->cookie;
    uint32_t tag = (uint32_t)(plain >> 32), argument = (uint32_t)plain;
    if (tag == SIGROUTE_TAG_REQUEST && argument == 0)
        return SIGROUTE_CHECKPOINT;
    if (tag == SIGROUTE_TAG_STOP)
        return self->stop_generation && argument == self->stop_generation ? SIGROUTE_STOP
                                                                          : SIGROUTE_STALE_STOP;
    return SIGROUTE_PROGRAM; /* the program's own sigqueue() to itself */
}

enum sigroute_kind sigroute_classify(const struct sigroute_delivery *d,
                                     const struct sigroute_self *self)
{
    switch (d->code) {
    case SI_USER:
    case SI_QUEUE:
    case SI_TKILL:
        /* si_pid is the sender's process as this process's pid namespace sees it: 0 for a
         * sender outside it (a container's host), which is another process too. */
        if (d->sender != self->pid)
            return SIGROUTE_CHECKPOINT;
        return d->code == SI_QUEUE ? classify_own_queued(d->value, self) : SIGROUTE_PROGRAM;
    case SI_TIMER:
        /* Timer ids are per process: the program's own timers never have ours. */
        return self->timer_id >= 0 && d->sender == self->timer_id ? SIGROUTE_CHECKPOINT
                                                                  : SIGROUTE_PROGRAM;
    default: /* SI_KERNEL, SI_SIGIO, SI_MESGQ, SI_ASYNCIO, ...: the program asked for them */
        return SIGROUTE_PROGRAM;
    }
}

uint64_t sigroute_own_value(uint64_t cookie, uint32_t tag, uint32_t argument)
{
    return cookie ^ ((uint64_t)tag << 32 | argument);
}

long sigroute_queue_to_self(int sig, uint64_t value)
{
    siginfo_t info;
    __builtin_memset(&info, 0, sizeof info);
    long pid = sys_getpid();
    info.si_signo = sig;
    info.si_code = SI_QUEUE;
    info.si_pid = (int)pid;
    info.si_uid = (unsigned)sys_getuid();
    info.si_value.sival_ptr = (void *)(uintptr_t)value;
    return sys_call4(__NR_rt_tgsigqueueinfo, pid, sys_gettid(), sig, (long)&info);
}

static uint64_t bit_of(int sig)
{
    return 1ULL << (sig - 1);
}

/* The first 64 signals of a glibc sigset_t: the kernel's mask. */
static uint64_t kernel_mask_of(const sigset_t *set)
{
    uint64_t mask;
    __builtin_memcpy(&mask, set, sizeof mask);
    return mask;
}

/* Signals whose default action is to do nothing (signal(7)); SIGCONT has continued the
 * process already when it was sent. */
static int default_is_ignore(int sig)
{
    return sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH;
}

/* The default action of a terminating, core-dumping or stopping signal: the disposition
 * becomes SIG_DFL for a moment, the signal is sent to this thread again and unblocked, so
 * the kernel acts on it — the process dies of it (the status and a core say so, as they
 * would have), or stops and, once continued, comes back here and puts the checkpoint handler
 * back. Every other signal stays blocked meanwhile (the handler's mask). */
static void take_default_action(int sig)
{
    if (default_is_ignore(sig))
        return;
    struct kernel_sigaction dfl = {0, 0, 0, 0}, ours;
    if (sys_rt_sigaction(sig, &dfl, &ours) < 0)
        return;
    uint64_t only = bit_of(sig);
    sys_tgkill((int)sys_getpid(), (int)sys_gettid(), sig);
    sys_rt_sigprocmask(1 /* SIG_UNBLOCK */, &only, 0);
    sys_rt_sigprocmask(0 /* SIG_BLOCK */, &only, 0);
    sys_rt_sigaction(sig, &ours, 0);
}

void sigroute_to_program(int sig, siginfo_t *si, void *uc, struct sigaction *action)
{
    if (action->sa_handler == SIG_IGN)
        return;
    if (action->sa_handler == SIG_DFL) {
        take_default_action(sig);
        return;
    }
    /* What the kernel does on delivery (kernel/signal.c, signal_delivered and get_signal). */
    const ucontext_t *interrupted = uc;
    uint64_t mask = kernel_mask_of(&interrupted->uc_sigmask) | kernel_mask_of(&action->sa_mask);
    if (!(action->sa_flags & SA_NODEFER))
        mask |= bit_of(sig);
    mask &= ~(bit_of(SIGKILL) | bit_of(SIGSTOP));
    void (*plain)(int) = action->sa_handler;
    void (*with_info)(int, siginfo_t *, void *) = action->sa_sigaction;
    int flags = action->sa_flags;
    if (flags & SA_RESETHAND)
        action->sa_handler = SIG_DFL;
    sys_rt_sigprocmask(2 /* SIG_SETMASK */, &mask, 0);
    if (flags & SA_SIGINFO)
        with_info(sig, si, uc);
    else
        plain(sig);
}
/* ========================= end of the no-libc section ========================= */
