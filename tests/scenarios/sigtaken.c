/* sigtaken: proves that the checkpoint signal from outside stays ckpt's, and that a
 * descriptor opened behind the shim's back is still saved.
 *  - the program installs its own handler for the checkpoint signal (with sigaction and
 *    with signal) and blocks it (sigprocmask and pthread_sigmask): checkpoints from outside
 *    still work and never run its handler (it sends itself none; sigown.c does), and
 *    sigaction reports the handler it installed;
 *  - it reads input.txt through a descriptor opened with a raw openat system call, which the
 *    shim's open wrappers never see: after restore it continues at its offset.
 * The driver checks that ckpt warned about the handler exactly once on stderr.
 *
 * Usage: sigtaken --prepare    (create input.txt)
 *        sigtaken SIGNAL [STEPS] (SIGNAL: the checkpoint signal's number) */
#include "scenario.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

#define RECORDS 400
#define REC_LEN INPUT_RECORD_LEN

static volatile sig_atomic_t own_handler_runs;

static void own_handler(int sig)
{
    (void)sig;
    own_handler_runs++;
}

static void prepare(void)
{
    scenario_make_input("input.txt", RECORDS);
}

static void take_the_signal(int sig)
{
    struct sigaction sa = {0};
    sa.sa_handler = own_handler;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0 || signal(sig, own_handler) == SIG_ERR)
        fail("installing a handler: %s\n", strerror(errno));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 || pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        fail("blocking: %s\n", strerror(errno));
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--prepare")) {
        prepare();
        return 0;
    }
    scenario_started();
    int sig = argc > 1 ? atoi(argv[1]) : SIGUSR2;
    int steps = argc > 2 ? atoi(argv[2]) : 100;
    take_the_signal(sig);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "input.txt", O_RDONLY);
    if (fd < 0)
        fail("raw openat: %s\n", strerror(errno));
    for (int i = 1; i <= steps; i++) {
        char rec[REC_LEN];
        if (read(fd, rec, REC_LEN) != REC_LEN)
            fail("short read at step %d\n", i);
        say("step %d: %.*s at offset %ld\n", i, REC_LEN - 1, rec, (long)lseek(fd, 0, SEEK_CUR));
        pace();
    }
    struct sigaction now;
    sigaction(sig, NULL, &now);
    say("own handler runs: %d\n", (int)own_handler_runs);
    say("sigaction reports the program's handler: %s\n", yesno(now.sa_handler == own_handler));
    return 0;
}
