/* signals: proves that signal state survives a restore:
 *  - a SIGALRM handler driven by a running setitimer(ITIMER_REAL) 5 ms interval timer. Each
 *    step sleeps 20 ms with SIGALRM blocked, then unblocks it (ppoll) and takes exactly one
 *    tick (standard signals do not queue), so the program only finishes if the timer keeps
 *    firing after the restore (if it stops, the program says so after 3 s instead of
 *    hanging). Most of the time SIGALRM is therefore pending at the checkpoint, and while it
 *    is pending the kernel has not re-armed the timer (getitimer shows it_value 0 with a
 *    non-zero interval; it re-arms when the signal is dequeued) — the checkpoint must keep
 *    such a timer alive;
 *  - a SIGINT handler installed with SA_SIGINFO and a sa_mask (SIGALRM is blocked inside it),
 *    raised every 10 steps: the handler runs with the right siginfo and mask;
 *  - SIGTERM set to SIG_IGN, raised at step 60: still ignored;
 *  - SIGUSR1 blocked and raised at the start (before the checkpoint): it stays pending across
 *    the checkpoint and is delivered exactly once when the program unblocks it at step 80.
 * Output depends only on step numbers, never on timing.
 *
 * Usage: signals   (100 steps of 20 ms) */
#include "scenario.h"

#include <poll.h>
#include <signal.h>
#include <sys/time.h>

#define STEPS 100
#define TICK_US 5000

static volatile sig_atomic_t ticks, sigints, usr1s, bad_siginfo, alrm_not_blocked;

static void on_alrm(int sig)
{
    (void)sig;
    ticks++;
}

static void on_int(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    sigints++;
    if (sig != SIGINT || si->si_signo != SIGINT || si->si_code != SI_TKILL)
        bad_siginfo = 1;
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    if (!sigismember(&cur, SIGALRM))
        alrm_not_blocked = 1;
}

static void on_usr1(int sig)
{
    (void)sig;
    usr1s++;
}

static int is_pending(int sig)
{
    sigset_t set;
    sigpending(&set);
    return sigismember(&set, sig);
}

int main(void)
{
    scenario_started();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alrm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_int;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaddset(&sa.sa_mask, SIGALRM);
    sigaction(SIGINT, &sa, NULL);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);

    signal(SIGTERM, SIG_IGN);

    /* SIGALRM is blocked except while waiting for a tick (no lost wakeups); SIGUSR1 is
     * blocked until step 80. */
    sigset_t blocked, waitmask;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGALRM);
    sigaddset(&blocked, SIGUSR1);
    sigprocmask(SIG_BLOCK, &blocked, &waitmask);
    sigaddset(&waitmask, SIGUSR1); /* while waiting: only SIGALRM comes through */
    sigdelset(&waitmask, SIGALRM);

    raise(SIGUSR1);
    say("SIGUSR1 raised while blocked: pending %s, delivered %d\n", yesno(is_pending(SIGUSR1)),
        (int)usr1s);

    struct itimerval it = {{0, TICK_US}, {0, TICK_US}};
    if (setitimer(ITIMER_REAL, &it, NULL) != 0)
        fail("setitimer\n");

    for (int step = 1; step <= STEPS; step++) {
        int misses = 0;
        pace(); /* SIGALRM blocked: the timer expires and its signal stays pending */
        while (ticks < step) {
            struct timespec limit = {1, 0};
            int rc = ppoll(NULL, 0, &limit, &waitmask);
            if (rc == 0 && ++misses >= 3)
                fail("the interval timer stopped: no SIGALRM for 3 s at step %d\n", step);
        }
        say("tick %d\n", step);
        if (step % 10 == 0) {
            int before = sigints;
            raise(SIGINT);
            say("SIGINT %d handled once: %s, siginfo right: %s, SIGALRM blocked in handler: %s\n",
                step / 10, yesno(sigints == before + 1), yesno(!bad_siginfo),
                yesno(!alrm_not_blocked));
        }
        if (step == 60) {
            raise(SIGTERM);
            say("SIGTERM still ignored\n");
        }
        if (step == 80) {
            int pending = is_pending(SIGUSR1);
            int before = usr1s;
            sigset_t usr1;
            sigemptyset(&usr1);
            sigaddset(&usr1, SIGUSR1);
            sigprocmask(SIG_UNBLOCK, &usr1, NULL);
            say("SIGUSR1 still pending before unblock: %s, delivered on unblock: %d\n",
                yesno(pending), (int)(usr1s - before));
        }
    }

    struct itimerval now;
    getitimer(ITIMER_REAL, &now);
    say("timer still armed with interval %ld.%06ld s\n", (long)now.it_interval.tv_sec,
        (long)now.it_interval.tv_usec);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    say("SIGUSR1 delivered %d time(s) in total, SIGINT %d times\n", (int)usr1s, (int)sigints);
    say("done\n");
    return 0;
}
