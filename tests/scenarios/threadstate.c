/* threadstate: proves that the state a thread has of its own survives a restore:
 *  - its signal stack (sigaltstack) and a SIGSEGV handler that runs on it (SA_ONSTACK):
 *    every step touches a PROT_NONE page, and the handler checks that it runs on the
 *    signal stack before it jumps back (siglongjmp); near the end the program overflows its
 *    own stack by recursion and recovers the same way — which only works on a signal
 *    stack;
 *  - its name (prctl PR_SET_NAME, read back with PR_GET_NAME and /proc/thread-self/comm);
 *  - its scheduling policy (SCHED_BATCH) and nice value (+5), which restore-run, started
 *    from the shell with SCHED_OTHER and nice 0, does not have;
 *  - its clear-child-tid address (set_tid_address), here a word of its own rather than
 *    glibc's tid word, which the kernel clears when the thread exits; and no robust futex
 *    list (set_robust_list(NULL), which glibc would have pointed at its own);
 *  - pending signals, each where it was: SIGUSR1 raised for the thread (raise), SIGHUP sent
 *    to the process (kill), both blocked — the status file tells the thread's pending set
 *    (SigPnd) from the process's (ShdPnd) — and each delivered exactly once at the end;
 *    and a second thread's own pending SIGWINCH (pthread_kill), which it reports each step
 *    from its own status, beside the process's SIGHUP: whichever thread takes the
 *    checkpoint signal, the other one's set is taken its own way, and neither may come back
 *    holding the other's or the process's signals.
 * Every step prints what it finds, so the lines after the restore show that it is the same.
 *
 * Usage: threadstate [STEPS]   (default 100 steps of 20 ms) */
#include "scenario.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#define ALTSTACK_SIZE (64 * 1024)
#define THREAD_NAME "ckpt-worker"
#define NICE 5

static char altstack[ALTSTACK_SIZE] __attribute__((aligned(16)));
static sigjmp_buf back;
static volatile sig_atomic_t segvs, segvs_on_altstack, hups, usr1s;
static volatile int keep_recursing = 1;
static int cleared_at_exit = 1;

static int on_altstack(const void *addr)
{
    uintptr_t a = (uintptr_t)addr, lo = (uintptr_t)altstack;
    return a >= lo && a < lo + sizeof altstack;
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)si, (void)uc;
    char here;
    stack_t now;
    segvs++;
    if (on_altstack(&here) && sigaltstack(NULL, &now) == 0 && (now.ss_flags & SS_ONSTACK))
        segvs_on_altstack++;
    siglongjmp(back, 1);
}

static void on_counted(int sig)
{
    if (sig == SIGHUP)
        hups++;
    else
        usr1s++;
}

/* Is sig in the "Name:" hex set of /proc/thread-self/status? */
static int in_status_set(const char *name, int sig)
{
    char buf[4096], key[16];
    int fd = open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = 0;
    snprintf(key, sizeof key, "\n%s:", name);
    const char *at = strstr(buf, key);
    return at && (strtoull(at + strlen(key), NULL, 16) >> (sig - 1)) & 1;
}

/* Recurses until the stack has no room left: SIGSEGV, handled on the signal stack. */
static int recurse(int depth)
{
    volatile char pad[1024];
    pad[0] = (char)depth;
    if (!keep_recursing)
        return pad[0];
    return recurse(depth + 1) + pad[0];
}

static const char *policy_name(int policy)
{
    return policy == SCHED_OTHER   ? "other"
           : policy == SCHED_BATCH ? "batch"
           : policy == SCHED_IDLE  ? "idle"
                                   : "realtime";
}

static void read_comm(char *buf, size_t cap)
{
    buf[0] = 0;
    int fd = open("/proc/thread-self/comm", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, cap - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = 0;
    buf[strcspn(buf, "\n")] = 0;
}

/* The peer thread: blocks what main blocks (inherited), has SIGWINCH pending for itself,
 * and answers each step's question with a line on what is pending for it. */
static pthread_t peer;
static pthread_mutex_t peer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t peer_cond = PTHREAD_COND_INITIALIZER;
static int peer_asked, peer_answered, peer_done;
static volatile sig_atomic_t winches;

static void on_winch(int sig)
{
    (void)sig;
    winches++;
}

static void *peer_main(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "peer", 0, 0, 0);
    pthread_mutex_lock(&peer_lock);
    for (;;) {
        while (peer_asked == peer_answered && !peer_done)
            pthread_cond_wait(&peer_cond, &peer_lock);
        if (peer_done)
            break;
        say("  peer: SIGWINCH for the thread %s, SIGUSR1 for the thread %s, SIGHUP for the "
            "thread %s, for the process %s\n",
            yesno(in_status_set("SigPnd", SIGWINCH)), yesno(in_status_set("SigPnd", SIGUSR1)),
            yesno(in_status_set("SigPnd", SIGHUP)), yesno(in_status_set("ShdPnd", SIGHUP)));
        peer_answered = peer_asked;
        pthread_cond_broadcast(&peer_cond);
    }
    pthread_mutex_unlock(&peer_lock);
    sigset_t winch;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    pthread_sigmask(SIG_UNBLOCK, &winch, NULL);
    return NULL;
}

static void start_peer(void)
{
    signal(SIGWINCH, on_winch);
    if (pthread_create(&peer, NULL, peer_main, NULL) != 0)
        fail("pthread_create\n");
    pthread_kill(peer, SIGWINCH);
}

static void ask_peer(void)
{
    pthread_mutex_lock(&peer_lock);
    peer_asked++;
    pthread_cond_broadcast(&peer_cond);
    while (peer_answered != peer_asked)
        pthread_cond_wait(&peer_cond, &peer_lock);
    pthread_mutex_unlock(&peer_lock);
}

static void end_peer(void)
{
    pthread_mutex_lock(&peer_lock);
    peer_done = 1;
    pthread_cond_broadcast(&peer_cond);
    pthread_mutex_unlock(&peer_lock);
    pthread_join(peer, NULL);
    say("peer unblocked SIGWINCH: delivered %d time(s)\n", (int)winches);
}

static void set_up(void)
{
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        fail("sigaltstack: %s\n", strerror(errno));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    if (prctl(PR_SET_NAME, THREAD_NAME, 0, 0, 0) != 0)
        fail("PR_SET_NAME: %s\n", strerror(errno));
    struct sched_param none = {0};
    if (sched_setscheduler(0, SCHED_BATCH, &none) != 0)
        fail("SCHED_BATCH: %s\n", strerror(errno));
    if (setpriority(PRIO_PROCESS, 0, NICE) != 0)
        fail("nice %d: %s\n", NICE, strerror(errno));
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_counted;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t both;
    sigemptyset(&both);
    sigaddset(&both, SIGHUP);
    sigaddset(&both, SIGUSR1);
    sigaddset(&both, SIGWINCH);
    sigprocmask(SIG_BLOCK, &both, NULL);
    start_peer();
    kill(getpid(), SIGHUP);
    raise(SIGUSR1);
    syscall(SYS_set_tid_address, &cleared_at_exit);
    if (syscall(SYS_set_robust_list, NULL, 3 * sizeof(void *)) != 0)
        fail("set_robust_list: %s\n", strerror(errno));
}

static int no_robust_list(void)
{
    void *head = &head;
    size_t len = 0;
    return syscall(SYS_get_robust_list, 0, &head, &len) == 0 && head == NULL;
}

static int clear_child_tid_kept(void)
{
    int *now = NULL;
    return prctl(PR_GET_TID_ADDRESS, &now, 0, 0, 0) == 0 && now == &cleared_at_exit;
}

static void deliver_pending(void)
{
    sigset_t both;
    sigemptyset(&both);
    sigaddset(&both, SIGHUP);
    sigaddset(&both, SIGUSR1);
    sigprocmask(SIG_UNBLOCK, &both, NULL);
    say("unblocked: SIGHUP delivered %d time(s), SIGUSR1 %d time(s)\n", (int)hups, (int)usr1s);
}

/* One line of what the thread has now. */
static void report(int step, const char *what)
{
    stack_t ss;
    sigaltstack(NULL, &ss);
    int same_stack =
        ss.ss_sp == altstack && ss.ss_size == sizeof altstack && !(ss.ss_flags & SS_DISABLE);
    char name[32] = "", comm[32];
    prctl(PR_GET_NAME, name, 0, 0, 0);
    read_comm(comm, sizeof comm);
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    int e = errno;
    say("step %d: %s; SIGSEGV %d handled, %d on the signal stack; signal stack kept: %s; "
        "name %s (comm %s); policy %s, nice %d; clear-child tid kept: %s, no robust list: %s; "
        "pending: SIGHUP for the "
        "process %s, for the "
        "thread %s, SIGUSR1 for the thread %s, for the process %s\n",
        step, what, (int)segvs, (int)segvs_on_altstack, yesno(same_stack), name, comm,
        policy_name(sched_getscheduler(0)), e ? -100 : nice, yesno(clear_child_tid_kept()),
        yesno(no_robust_list()), yesno(in_status_set("ShdPnd", SIGHUP)),
        yesno(in_status_set("SigPnd", SIGHUP)), yesno(in_status_set("SigPnd", SIGUSR1)),
        yesno(in_status_set("ShdPnd", SIGUSR1)));
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 100;
    scenario_started();
    set_up();
    char *guard = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard == MAP_FAILED)
        fail("mmap: %s\n", strerror(errno));
    for (int step = 1; step <= steps; step++) {
        pace();
        if (sigsetjmp(back, 1) == 0)
            *(volatile char *)guard = 1;
        report(step, "touched a PROT_NONE page");
        ask_peer();
    }
    if (sigsetjmp(back, 1) == 0)
        recurse(0);
    report(steps + 1, "overflowed the stack and recovered");
    deliver_pending();
    end_peer();
    say("done\n");
    return 0;
}
