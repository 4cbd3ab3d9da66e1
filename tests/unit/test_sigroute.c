/* Which deliveries of the checkpoint signal are checkpoint requests (sigroute_classify), and
 * how the program's own deliveries run its action (sigroute_to_program): the mask its
 * handler runs with, SA_SIGINFO, SA_RESETHAND, SIG_IGN and SIG_DFL. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>
#include <cmocka.h>

#include "sigroute.h"

#define OWN_PID 4242
#define OTHER_PID 777
#define OUR_TIMER 3
#define COOKIE 0x9e3779b97f4a7c15ULL

static const struct sigroute_self self = {OWN_PID, OUR_TIMER, COOKIE, 0};

static enum sigroute_kind classify(int code, int sender, uint64_t value,
                                   const struct sigroute_self *s)
{
    struct sigroute_delivery d = {code, sender, value};
    return sigroute_classify(&d, s);
}

static void requests_from_another_process_take_a_checkpoint(void **state)
{
    (void)state;
    /* kill -USR2 PID, Slurm's --signal */
    assert_int_equal(classify(SI_USER, OTHER_PID, 0, &self), SIGROUTE_CHECKPOINT);
    /* ckpt checkpoint: a token, with or without the hold bit */
    assert_int_equal(classify(SI_QUEUE, OTHER_PID, 17, &self), SIGROUTE_CHECKPOINT);
    assert_int_equal(classify(SI_QUEUE, OTHER_PID, 0x80000011u, &self), SIGROUTE_CHECKPOINT);
    /* a tgkill from another process */
    assert_int_equal(classify(SI_TKILL, OTHER_PID, 0, &self), SIGROUTE_CHECKPOINT);
    /* a sender outside our pid namespace is seen as pid 0 */
    assert_int_equal(classify(SI_USER, 0, 0, &self), SIGROUTE_CHECKPOINT);
    /* another process cannot fake a stop request with our cookie: it is a request */
    uint64_t stop = sigroute_own_value(COOKIE, SIGROUTE_TAG_STOP, 1);
    assert_int_equal(classify(SI_QUEUE, OTHER_PID, stop, &self), SIGROUTE_CHECKPOINT);
}

static void the_interval_timer_takes_a_checkpoint_other_timers_do_not(void **state)
{
    (void)state;
    assert_int_equal(classify(SI_TIMER, OUR_TIMER, 0x7ffffff1u, &self), SIGROUTE_CHECKPOINT);
    assert_int_equal(classify(SI_TIMER, OUR_TIMER + 1, 0x7ffffff1u, &self), SIGROUTE_PROGRAM);
    struct sigroute_self no_timer = self;
    no_timer.timer_id = -1;
    assert_int_equal(classify(SI_TIMER, -1, 0, &no_timer), SIGROUTE_PROGRAM);
    assert_int_equal(classify(SI_TIMER, 0, 0, &no_timer), SIGROUTE_PROGRAM);
}

static void the_programs_own_deliveries_go_to_the_program(void **state)
{
    (void)state;
    /* raise(), pthread_kill(), tgkill() of its own threads */
    assert_int_equal(classify(SI_TKILL, OWN_PID, 0, &self), SIGROUTE_PROGRAM);
    /* kill(getpid(), sig) */
    assert_int_equal(classify(SI_USER, OWN_PID, 0, &self), SIGROUTE_PROGRAM);
    /* sigqueue(getpid(), sig, v), also with a value that looks like a token */
    assert_int_equal(classify(SI_QUEUE, OWN_PID, 17, &self), SIGROUTE_PROGRAM);
    assert_int_equal(classify(SI_QUEUE, OWN_PID, 0, &self), SIGROUTE_PROGRAM);
    /* the cookie's tag bits without the cookie */
    assert_int_equal(classify(SI_QUEUE, OWN_PID, (uint64_t)SIGROUTE_TAG_REQUEST << 32, &self),
                     SIGROUTE_PROGRAM);
    /* kernel-generated and asynchronous-notification codes */
    assert_int_equal(classify(SI_KERNEL, 0, 0, &self), SIGROUTE_PROGRAM);
    assert_int_equal(classify(SI_SIGIO, OTHER_PID, 0, &self), SIGROUTE_PROGRAM);
    assert_int_equal(classify(SI_MESGQ, OTHER_PID, 0, &self), SIGROUTE_PROGRAM);
    assert_int_equal(classify(SI_ASYNCIO, 0, 0, &self), SIGROUTE_PROGRAM);
    assert_int_equal(classify(SI_ASYNCNL, 0, 0, &self), SIGROUTE_PROGRAM);
}

static void the_shims_own_request_takes_a_checkpoint(void **state)
{
    (void)state;
    uint64_t request = sigroute_own_value(COOKIE, SIGROUTE_TAG_REQUEST, 0);
    assert_int_equal(classify(SI_QUEUE, OWN_PID, request, &self), SIGROUTE_CHECKPOINT);
    /* the same value under another cookie (another process's shim): the program's */
    struct sigroute_self other_cookie = self;
    other_cookie.cookie = COOKIE ^ 1ULL << 40;
    assert_int_equal(classify(SI_QUEUE, OWN_PID, request, &other_cookie), SIGROUTE_PROGRAM);
    /* only as a queued value: never as a raise */
    assert_int_equal(classify(SI_TKILL, OWN_PID, request, &self), SIGROUTE_PROGRAM);
    /* a request with an argument is no request of ours */
    uint64_t odd = sigroute_own_value(COOKIE, SIGROUTE_TAG_REQUEST, 5);
    assert_int_equal(classify(SI_QUEUE, OWN_PID, odd, &self), SIGROUTE_PROGRAM);
}

static void stop_requests_of_the_current_generation_are_recognised_stale_ones_ignored(void **s)
{
    (void)s;
    struct sigroute_self stopping = self;
    stopping.stop_generation = 7;
    uint64_t now = sigroute_own_value(COOKIE, SIGROUTE_TAG_STOP, 7);
    uint64_t before = sigroute_own_value(COOKIE, SIGROUTE_TAG_STOP, 6);
    assert_int_equal(classify(SI_QUEUE, OWN_PID, now, &stopping), SIGROUTE_STOP);
    assert_int_equal(classify(SI_QUEUE, OWN_PID, before, &stopping), SIGROUTE_STALE_STOP);
    /* no stop under way: every stop request is stale */
    assert_int_equal(classify(SI_QUEUE, OWN_PID, now, &self), SIGROUTE_STALE_STOP);
    assert_int_equal(
        classify(SI_QUEUE, OWN_PID, sigroute_own_value(COOKIE, SIGROUTE_TAG_STOP, 0), &self),
        SIGROUTE_STALE_STOP);
    /* the cookie is what makes it ours: the plain value is the program's */
    assert_int_equal(classify(SI_QUEUE, OWN_PID, (uint64_t)SIGROUTE_TAG_STOP << 32 | 7, &stopping),
                     SIGROUTE_PROGRAM);
}

/* ---- sigroute_to_program ---------------------------------------------------------------- */

static struct {
    int calls, sig, with_info;
    siginfo_t *si;
    void *uc;
    sigset_t mask; /* the mask the handler ran with */
} seen;

static void plain_handler(int sig)
{
    seen.calls++;
    seen.sig = sig;
    seen.with_info = 0;
    sigprocmask(SIG_BLOCK, NULL, &seen.mask);
}

static void info_handler(int sig, siginfo_t *si, void *uc)
{
    plain_handler(sig);
    seen.with_info = 1;
    seen.si = si;
    seen.uc = uc;
}

/* Calls sigroute_to_program as the checkpoint handler does: every signal blocked, the
 * interrupted mask in uc; puts the test's mask back afterwards. */
static void deliver(int sig, struct sigaction *action, const sigset_t *interrupted, siginfo_t *si,
                    ucontext_t *uc)
{
    sigset_t all, old;
    sigfillset(&all);
    memset(uc, 0, sizeof *uc);
    uc->uc_sigmask = *interrupted;
    memset(&seen, 0, sizeof seen);
    sigprocmask(SIG_SETMASK, &all, &old);
    sigroute_to_program(sig, si, uc, action);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

static void a_handler_runs_with_the_mask_the_kernel_would_give_it(void **state)
{
    (void)state;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = info_handler;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaddset(&action.sa_mask, SIGHUP);
    sigset_t interrupted;
    sigemptyset(&interrupted);
    sigaddset(&interrupted, SIGTERM);
    siginfo_t si = {.si_signo = SIGUSR2, .si_code = SI_TKILL};
    ucontext_t uc;
    deliver(SIGUSR2, &action, &interrupted, &si, &uc);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.sig, SIGUSR2);
    assert_true(seen.with_info);
    assert_ptr_equal(seen.si, &si);
    assert_ptr_equal(seen.uc, &uc);
    assert_true(sigismember(&seen.mask, SIGTERM));  /* interrupted */
    assert_true(sigismember(&seen.mask, SIGHUP));   /* sa_mask */
    assert_true(sigismember(&seen.mask, SIGUSR2));  /* the signal itself */
    assert_false(sigismember(&seen.mask, SIGINT));  /* nothing else */
    assert_false(sigismember(&seen.mask, SIGUSR1)); /* nothing else */
    assert_ptr_equal(action.sa_sigaction, info_handler);
}

static void sa_nodefer_leaves_the_signal_unblocked(void **state)
{
    (void)state;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = plain_handler;
    action.sa_flags = SA_NODEFER;
    sigemptyset(&action.sa_mask);
    sigset_t interrupted;
    sigemptyset(&interrupted);
    ucontext_t uc;
    deliver(SIGUSR2, &action, &interrupted, NULL, &uc);
    assert_int_equal(seen.calls, 1);
    assert_false(seen.with_info);
    assert_false(sigismember(&seen.mask, SIGUSR2));
    assert_false(sigismember(&seen.mask, SIGTERM));
}

static void sa_resethand_runs_once_then_the_action_is_the_default(void **state)
{
    (void)state;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = plain_handler;
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    sigset_t interrupted;
    sigemptyset(&interrupted);
    ucontext_t uc;
    deliver(SIGUSR2, &action, &interrupted, NULL, &uc);
    assert_int_equal(seen.calls, 1);
    assert_ptr_equal(action.sa_handler, SIG_DFL);
}

static void sig_ign_does_nothing(void **state)
{
    (void)state;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_IGN;
    sigset_t interrupted;
    sigemptyset(&interrupted);
    ucontext_t uc;
    deliver(SIGUSR2, &action, &interrupted, NULL, &uc);
    assert_int_equal(seen.calls, 0);
}

/* In a child: sigroute_to_program with SIG_DFL for sig, then exit 0. Returns its status. */
static int default_action_in_child(int sig)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = SIG_DFL;
        sigset_t interrupted;
        sigemptyset(&interrupted);
        ucontext_t uc;
        deliver(sig, &action, &interrupted, NULL, &uc);
        _exit(0);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    return status;
}

static void sig_dfl_kills_by_a_terminating_signal_and_ignores_an_ignored_one(void **state)
{
    (void)state;
    int status = default_action_in_child(SIGUSR2);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGUSR2);
    status = default_action_in_child(SIGRTMIN + 3);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGRTMIN + 3);
    status = default_action_in_child(SIGWINCH);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(requests_from_another_process_take_a_checkpoint),
        cmocka_unit_test(the_interval_timer_takes_a_checkpoint_other_timers_do_not),
        cmocka_unit_test(the_programs_own_deliveries_go_to_the_program),
        cmocka_unit_test(the_shims_own_request_takes_a_checkpoint),
        cmocka_unit_test(stop_requests_of_the_current_generation_are_recognised_stale_ones_ignored),
        cmocka_unit_test(a_handler_runs_with_the_mask_the_kernel_would_give_it),
        cmocka_unit_test(sa_nodefer_leaves_the_signal_unblocked),
        cmocka_unit_test(sa_resethand_runs_once_then_the_action_is_the_default),
        cmocka_unit_test(sig_ign_does_nothing),
        cmocka_unit_test(sig_dfl_kills_by_a_terminating_signal_and_ignores_an_ignored_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
