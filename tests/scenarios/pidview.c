/* pidview: proves that the program keeps its own pid across a restore, as programs that
 * compare pids expect (CPython's asyncio compares the pid its loop was set in with
 * getpid(); multiprocessing and pid-named lock files do the same):
 *  - getpid() gives the pid the program started with, before and after the restore;
 *  - kill() and sigqueue() of that pid reach the program's own handler (each step counts
 *    them, with the value sigqueue sent);
 *  - a child forked at the end sees a pid of its own, not its parent's.
 * Each line prints only what must be the same in every run, never a pid.
 *
 * Usage: pidview [STEPS]   (default 40 steps of 20 ms) */
#include "scenario.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static volatile sig_atomic_t killed, queued, last_value;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    if (si->si_code == SI_QUEUE) {
        queued++;
        last_value = si->si_value.sival_int;
    } else {
        killed++;
    }
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 40;
    scenario_started();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    pid_t mine = getpid();
    for (int step = 1; step <= steps; step++) {
        pace();
        if (kill(getpid(), SIGUSR1) != 0)
            fail("step %d: kill of its own pid: %s\n", step, strerror(errno));
        if (sigqueue(mine, SIGUSR1, (union sigval){.sival_int = step}) != 0)
            fail("step %d: sigqueue to its own pid: %s\n", step, strerror(errno));
        say("step %d: getpid() is the pid it started with: %s; its own kill and sigqueue "
            "reached it %d and %d times, the last value %d\n",
            step, getpid() == mine ? "yes" : "no", (int)killed, (int)queued, (int)last_value);
    }
    pid_t child = fork();
    if (child == 0)
        _exit(getpid() == (pid_t)syscall(SYS_getpid) && getpid() != mine ? 0 : 1);
    int status = 0;
    waitpid(child, &status, 0);
    say("a forked child sees a pid of its own: %s\n",
        WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "yes" : "no");
    say("done\n");
    return 0;
}
