/* Signal state; see signals.h. */
#include "signals.h"
#include "sys.h"
#include "util.h"
#include "plan.h"

#define CK_SIGKILL 9
#define CK_SIGSTOP 19

static int settable(int sig)
{
    return sig != CK_SIGKILL && sig != CK_SIGSTOP;
}

/* ---- save side: checkpoint signal handler, raw syscalls only -------------------------- */

void signals_save(struct ckpt_process_record *rec, uint64_t interrupted_mask)
{
    for (int sig = 1; sig <= CKPT_NSIG; sig++) {
        struct kernel_sigaction ka = {0, 0, 0, 0};
        if (settable(sig))
            sys_rt_sigaction(sig, 0, &ka);
        rec->sigactions[sig - 1] =
            (struct ckpt_sigaction){ka.handler, ka.flags, ka.restorer, ka.mask};
    }
    rec->sigmask = interrupted_mask;
    uint64_t pending = 0;
    sys_rt_sigpending(&pending);
    rec->sigpending = pending;
}

/* ---- restore side: restore core ------------------------------------------------------- */

void signals_restore(const struct restore_plan *p)
{
    for (int sig = 1; sig <= CKPT_NSIG; sig++) {
        if (!settable(sig))
            continue;
        const struct ckpt_sigaction *s = &p->proc->sigactions[sig - 1];
        struct kernel_sigaction ka = {s->handler, s->flags, s->restorer, s->mask};
        long r = sys_rt_sigaction(sig, &ka, 0);
        if (r < 0)
            core_die(p, "restoring the disposition of signal %d: %s", sig, ck_strerror((int)-r));
    }
}

void signals_raise_pending(const struct restore_plan *p)
{
    int pid = (int)sys_getpid(), tid = (int)sys_gettid();
    for (int sig = 1; sig <= CKPT_NSIG; sig++) {
        /* A checkpoint request that arrived while the image was being written belongs to
         * the original process, which served it. */
        if (sig == (int)p->proc->checkpoint_signal)
            continue;
        if ((p->proc->sigpending | p->raise_signals) & (1ULL << (sig - 1)))
            sys_tgkill(pid, tid, sig);
    }
}
