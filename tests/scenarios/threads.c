/* Threads stopped by checkpoints wherever they stand, and the program runs on to its exact
 * output (the stop protocol, preload/stop.c).
 *
 * Usage: threads stops|blocker|churn STEPS, threads counters STEPS N
 *   stops    threads blocked in read(2) and poll(2) on stdin (a pipe nobody writes to),
 *            in clock_nanosleep, pthread_cond_wait and a raw FUTEX_WAIT, one spinning in
 *            user code, and four workers adding to shared (mutex) and own counters in
 *            rounds (barrier); at the end the waiters are woken or cancelled, every thread
 *            is joined and the exact totals are printed
 *   blocker  a thread blocks the checkpoint signal (SIGUSR2) with a raw rt_sigprocmask
 *            until ./unblock exists (or the program ends), then unblocks it
 *   counters N workers add to a shared counter under a mutex and to their own, in rounds
 *            ended by a barrier, and wait on a condition variable for main to start the
 *            next round; every worker is joined and the exact totals printed
 *   churn    two threads create and join threads in a tight loop while main counts STEPS;
 *            each created thread adds its number, and the sums must match exactly */
#include "scenario.h"

#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define WORKERS 4
#define MAX_WORKERS 256

static atomic_int done;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t barrier;
static unsigned long long shared_total;
static unsigned long long own_totals[MAX_WORKERS];
static int round_len = 1000;
/* counters: main lets round r begin by setting round_open to r (under lock, with cond). */
static int round_open = -1;
static pthread_cond_t round_cond = PTHREAD_COND_INITIALIZER;
static uint32_t futex_word;
static int rounds;

static void name_self(const char *name)
{
    pthread_setname_np(pthread_self(), name);
}

static void *reader(void *arg)
{
    (void)arg;
    name_self("reader");
    char c;
    ssize_t n = read(0, &c, 1); /* nobody writes: cancelled at the end */
    fail("read returned %zd\n", n);
}

static void *poller(void *arg)
{
    (void)arg;
    name_self("poller");
    struct pollfd p = {0, POLLIN, 0};
    int n;
    /* poll(2) is never restarted after a signal handler (SA_RESTART or not): EINTR. */
    while ((n = poll(&p, 1, -1)) < 0 && errno == EINTR)
        ;
    fail("poll returned %d\n", n);
}

static void *sleeper(void *arg)
{
    (void)arg;
    name_self("sleeper");
    while (!atomic_load(&done)) {
        struct timespec req = {0, 50000000L}, rem;
        while (clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem) == EINTR)
            req = rem;
    }
    return 0;
}

static void *cond_waiter(void *arg)
{
    (void)arg;
    name_self("condwait");
    pthread_mutex_lock(&lock);
    while (!atomic_load(&done))
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return 0;
}

static void *futex_waiter(void *arg)
{
    (void)arg;
    name_self("futexwait");
    while (__atomic_load_n(&futex_word, __ATOMIC_ACQUIRE) == 0)
        syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    return 0;
}

static void *spinner(void *arg)
{
    (void)arg;
    name_self("spinner");
    volatile unsigned long spins = 0;
    while (!atomic_load_explicit(&done, memory_order_relaxed))
        spins++;
    return 0;
}

static void *worker(void *arg)
{
    int me = (int)(long)arg;
    char name[16];
    snprintf(name, sizeof name, "worker-%d", me);
    name_self(name);
    for (int r = 0; r < rounds; r++) {
        if (round_open >= 0) { /* counters: wait until main opens round r */
            pthread_mutex_lock(&lock);
            while (round_open < r)
                pthread_cond_wait(&round_cond, &lock);
            pthread_mutex_unlock(&lock);
        }
        for (int i = 0; i < round_len; i++) {
            pthread_mutex_lock(&lock);
            shared_total += (unsigned long long)(me + 1);
            pthread_mutex_unlock(&lock);
            own_totals[me]++;
        }
        pthread_barrier_wait(&barrier);
        if (round_open < 0)
            pace();
    }
    return 0;
}

static void start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int e = pthread_create(t, 0, fn, arg);
    if (e)
        fail("pthread_create: %s\n", strerror(e));
}

static void join(pthread_t t, const char *what, void *expect)
{
    void *ret = 0;
    int e = pthread_join(t, &ret);
    if (e || ret != expect)
        fail("joining %s: %s\n", what, e ? strerror(e) : "unexpected result");
}

static void count_steps(int steps)
{
    for (int i = 1; i <= steps; i++) {
        say("step %d\n", i);
        pace();
    }
    scenario_hold();
}

static void stops(int steps)
{
    struct stat st;
    if (fstat(0, &st) != 0 || !S_ISFIFO(st.st_mode))
        fail("stdin is to be a pipe\n");
    rounds = steps;
    pthread_barrier_init(&barrier, 0, WORKERS);
    pthread_t rd, po, sl, cw, fw, sp, wk[WORKERS];
    start(&rd, reader, 0);
    start(&po, poller, 0);
    start(&sl, sleeper, 0);
    start(&cw, cond_waiter, 0);
    start(&fw, futex_waiter, 0);
    start(&sp, spinner, 0);
    for (long w = 0; w < WORKERS; w++)
        start(&wk[w], worker, (void *)w);
    count_steps(steps);
    for (int w = 0; w < WORKERS; w++)
        join(wk[w], "a worker", 0);
    atomic_store(&done, 1);
    pthread_mutex_lock(&lock);
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    __atomic_store_n(&futex_word, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    pthread_cancel(rd);
    pthread_cancel(po);
    join(rd, "the reader", PTHREAD_CANCELED);
    join(po, "the poller", PTHREAD_CANCELED);
    join(sl, "the sleeper", 0);
    join(cw, "the condition waiter", 0);
    join(fw, "the futex waiter", 0);
    join(sp, "the spinner", 0);
    unsigned long long want = 0;
    for (int w = 0; w < WORKERS; w++) {
        want += (unsigned long long)(w + 1) * (unsigned long long)rounds * (unsigned)round_len;
        if (own_totals[w] != (unsigned long long)rounds * (unsigned)round_len)
            fail("worker %d counted %llu\n", w, own_totals[w]);
    }
    say("shared total %llu (expected %llu), own totals %d x %llu\n", shared_total, want, WORKERS,
        own_totals[0]);
    say("all %d threads joined\n", WORKERS + 6);
}

/* rt_sigprocmask itself: glibc's sigprocmask goes through the shim, which keeps the
 * checkpoint signal unblocked. */
static void raw_mask(int how, int sig)
{
    unsigned long set = 1UL << (sig - 1);
    if (syscall(SYS_rt_sigprocmask, how, &set, NULL, sizeof set) != 0)
        fail("rt_sigprocmask: %s\n", strerror(errno));
}

static void *blocker(void *arg)
{
    (void)arg;
    name_self("blocker");
    raw_mask(SIG_BLOCK, SIGUSR2);
    while (access("unblock", F_OK) != 0 && !atomic_load(&done)) {
        struct timespec req = {0, 10000000L};
        nanosleep(&req, 0);
    }
    raw_mask(SIG_UNBLOCK, SIGUSR2);
    while (!atomic_load(&done)) {
        struct timespec req = {0, 10000000L}, rem;
        while (clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem) == EINTR)
            req = rem;
    }
    return 0;
}

static void blocked(int steps)
{
    pthread_t b;
    start(&b, blocker, 0);
    count_steps(steps);
    atomic_store(&done, 1);
    join(b, "the blocker", 0);
    say("the blocker joined\n");
}

static void counters(int steps, int n)
{
    if (n < 1 || n > MAX_WORKERS)
        fail("counters: 1 to %d workers\n", MAX_WORKERS);
    rounds = steps;
    round_len = 100;
    round_open = 0;
    pthread_barrier_init(&barrier, 0, (unsigned)n);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 128 * 1024);
    pthread_t t[MAX_WORKERS];
    for (long w = 0; w < n; w++)
        if (pthread_create(&t[w], &attr, worker, (void *)w))
            fail("pthread_create of worker %ld\n", w);
    for (int i = 1; i <= steps; i++) {
        say("step %d\n", i);
        pace();
        pthread_mutex_lock(&lock);
        round_open = i;
        pthread_cond_broadcast(&round_cond);
        pthread_mutex_unlock(&lock);
    }
    unsigned long long want = 0;
    for (int w = 0; w < n; w++) {
        join(t[w], "a worker", 0);
        want += (unsigned long long)(w + 1) * (unsigned long long)rounds * (unsigned)round_len;
        if (own_totals[w] != (unsigned long long)rounds * (unsigned)round_len)
            fail("worker %d counted %llu\n", w, own_totals[w]);
    }
    if (shared_total != want)
        fail("the shared total is %llu, %llu expected\n", shared_total, want);
    say("%d workers joined, shared total %llu, each counted %llu\n", n, shared_total,
        own_totals[0]);
}

static void *add_one(void *arg)
{
    return arg;
}

static void *churner(void *arg)
{
    unsigned long long *made = arg, sum = 0, want = 0;
    for (unsigned long long i = 1; !atomic_load(&done); i++) {
        pthread_t t;
        start(&t, add_one, (void *)(uintptr_t)i);
        void *ret;
        if (pthread_join(t, &ret))
            fail("pthread_join in the churn\n");
        sum += (uintptr_t)ret;
        want += i;
        *made = i;
    }
    if (sum != want)
        fail("the churn's sum is %llu, %llu expected\n", sum, want);
    return 0;
}

static void churn(int steps)
{
    pthread_t c[2];
    unsigned long long made[2] = {0, 0};
    for (int i = 0; i < 2; i++)
        start(&c[i], churner, &made[i]);
    count_steps(steps);
    atomic_store(&done, 1);
    for (int i = 0; i < 2; i++)
        join(c[i], "a churner", 0);
    note("the churners made %llu and %llu threads\n", made[0], made[1]);
    say("both churners joined, their sums exact\n");
}

int main(int argc, char **argv)
{
    scenario_started();
    int steps = argc > 2 ? atoi(argv[2]) : 100;
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "stops"))
        stops(steps);
    else if (!strcmp(mode, "blocker"))
        blocked(steps);
    else if (!strcmp(mode, "churn"))
        churn(steps);
    else if (!strcmp(mode, "counters") && argc > 3)
        counters(steps, atoi(argv[3]));
    else
        fail("usage: threads stops|blocker|churn STEPS, threads counters STEPS N\n");
    return 0;
}
