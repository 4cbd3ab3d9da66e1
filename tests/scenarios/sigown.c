/* sigown: the program's own uses of the checkpoint signal reach the program, as without ckpt,
 * while checkpoints from outside (ckpt checkpoint) still work.
 *  - handler: it installs an SA_SIGINFO handler for the signal with SIGUSR1 in sa_mask and
 *    sends the signal to itself every step, in turn with raise(), pthread_kill(),
 *    kill(getpid()) and sigqueue(getpid()). Its handler must run once for each, with the
 *    siginfo the kernel gives (si_code, si_pid = its own pid, also after a restore changed
 *    it; sigqueue's value) and the mask it gives (sa_mask and the signal itself blocked);
 *  - ignore: SIG_IGN for the signal, raise() and kill(getpid()) every step: nothing happens;
 *  - default: SIG_DFL for the signal; at step DIE_AT it raise()s it and dies of it.
 *
 * Usage: sigown MODE SIGNAL STEPS [DIE_AT]   (SIGNAL: the checkpoint signal's number) */
#include "scenario.h"

#include <pthread.h>
#include <signal.h>

enum method { BY_RAISE, BY_PTHREAD_KILL, BY_KILL, BY_SIGQUEUE, METHODS };
static const char *const method_names[METHODS] = {"raise", "pthread_kill", "kill(getpid())",
                                                  "sigqueue(getpid())"};
static const int method_codes[METHODS] = {SI_TKILL, SI_TKILL, SI_USER, SI_QUEUE};

static int checkpoint_signal;
static volatile sig_atomic_t handled, expected_method, expected_value, wrong;

static void own_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    handled++;
    if (sig != checkpoint_signal || si->si_signo != sig)
        wrong |= 1;
    if (si->si_code != method_codes[expected_method] || si->si_pid != getpid())
        wrong |= 2;
    if (expected_method == BY_SIGQUEUE && si->si_value.sival_int != expected_value)
        wrong |= 4;
    /* sa_mask and the signal itself blocked, and nothing else (SIGINT stands for the rest) */
    if (!sigismember(&now, SIGUSR1) || !sigismember(&now, sig) || sigismember(&now, SIGINT))
        wrong |= 8;
}

static void send_to_self(enum method m, int step)
{
    expected_method = m;
    expected_value = step;
    int rc = 0;
    switch (m) {
    case BY_RAISE:
        rc = raise(checkpoint_signal);
        break;
    case BY_PTHREAD_KILL:
        rc = pthread_kill(pthread_self(), checkpoint_signal);
        break;
    case BY_KILL:
        rc = kill(getpid(), checkpoint_signal);
        break;
    case BY_SIGQUEUE:
        rc = sigqueue(getpid(), checkpoint_signal, (union sigval){.sival_int = step});
        break;
    default:
        break;
    }
    if (rc != 0)
        fail("%s: %s\n", method_names[m], strerror(errno));
}

static void run_with_handler(int steps)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = own_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1);
    if (sigaction(checkpoint_signal, &sa, NULL) != 0)
        fail("sigaction: %s\n", strerror(errno));
    for (int i = 1; i <= steps; i++) {
        enum method m = (enum method)(i % METHODS);
        send_to_self(m, i);
        say("step %d: %s, its handler ran %d times of %d, siginfo and mask as the kernel gives "
            "them: %s\n",
            i, method_names[m], (int)handled, i, yesno(!wrong));
        if (wrong)
            note("wrong: %d\n", (int)wrong);
        pace();
    }
}

static void run_ignoring(int steps)
{
    if (signal(checkpoint_signal, SIG_IGN) == SIG_ERR)
        fail("signal: %s\n", strerror(errno));
    for (int i = 1; i <= steps; i++) {
        if (raise(checkpoint_signal) != 0 || kill(getpid(), checkpoint_signal) != 0)
            fail("raise or kill: %s\n", strerror(errno));
        say("step %d: raised and killed itself with the ignored signal, still here\n", i);
        pace();
    }
}

static void run_to_default_death(int steps, int die_at)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    if (sigaction(checkpoint_signal, &sa, NULL) != 0)
        fail("sigaction: %s\n", strerror(errno));
    for (int i = 1; i <= steps; i++) {
        say("step %d\n", i);
        if (i == die_at) {
            say("raising signal %d with its default action\n", checkpoint_signal);
            raise(checkpoint_signal);
            fail("survived the default action of signal %d\n", checkpoint_signal);
        }
        pace();
    }
}

int main(int argc, char **argv)
{
    scenario_started();
    if (argc < 4)
        fail("usage: sigown handler|ignore|default SIGNAL STEPS [DIE_AT]\n");
    checkpoint_signal = atoi(argv[2]);
    int steps = atoi(argv[3]);
    if (!strcmp(argv[1], "handler"))
        run_with_handler(steps);
    else if (!strcmp(argv[1], "ignore"))
        run_ignoring(steps);
    else if (!strcmp(argv[1], "default") && argc > 4)
        run_to_default_death(steps, atoi(argv[4]));
    else
        fail("unknown mode %s\n", argv[1]);
    return 0;
}
