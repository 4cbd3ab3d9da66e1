/* threadlife: proves that a program with many pthreads is checkpointed and restored with every
 * thread, and that glibc's thread machinery works on after the restore, when every tid is
 * new.
 *  - WORKERS threads count in rounds: each adds ITERATIONS to a shared counter under a
 *    mutex and to its own __thread counter, then takes its turn in a ring of condition
 *    variables (one per worker, under the same mutex), then waits at a barrier with the main
 *    thread, which prints the round's totals and lets the next round start (a second
 *    barrier). At the checkpoint they stand in futex waits
 *    (barrier, mutex, condition variable);
 *  - threads standing elsewhere at the checkpoint: one in nanosleep, one in
 *    pthread_cond_timedwait, one spinning in user code, one on its own signal stack with
 *    its own signal mask (SIGHUP blocked), one in pause() waiting to be cancelled;
 *  - one thread holds a robust mutex across the checkpoint and exits holding it: the next
 *    locker must get EOWNERDEAD (only if the mutex word names the thread's new tid does the
 *    kernel mark it at the thread's exit); one is inside dl_iterate_phdr, holding ld.so's
 *    recursive lock, and another thread must get that lock after it comes out;
 *  - at the end: pthread_create and pthread_join of a new thread, pthread_kill to a
 *    restored thread (its handler runs in that thread), raise in the main thread,
 *    pthread_cancel of the one in pause(), every thread joined with its own count, its
 *    pthread key and __thread values as they were.
 * Everything printed is deterministic; a checkpoint in any round gives the same lines.
 *
 * Usage: threadlife [WORKERS [ROUNDS]]   (default 4 workers, 60 rounds of 20 ms) */
#include "scenario.h"

#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>

#define ITERATIONS 100
#define ALTSTACK_SIZE (64 * 1024)

static long workers, rounds;
static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static long shared_count;
static long turn; /* the worker whose turn it is in the ring, under counter_lock */
static pthread_cond_t *ring;
static pthread_barrier_t round_start, round_end;
static pthread_key_t slot_key;
static long *slot_counts;
static __thread long tls_count;
static __thread long tls_id = -1;
static atomic_int stop_others;

static void *worker(void *arg)
{
    long id = (long)arg;
    tls_id = id;
    if (pthread_setspecific(slot_key, &slot_counts[id]))
        fail("pthread_setspecific\n");
    for (long r = 0; r < rounds; r++) {
        pthread_barrier_wait(&round_start);
        for (int i = 0; i < ITERATIONS; i++) {
            pthread_mutex_lock(&counter_lock);
            shared_count++;
            pthread_mutex_unlock(&counter_lock);
            tls_count++;
            slot_counts[id]++;
        }
        pthread_mutex_lock(&counter_lock);
        while (turn != id)
            pthread_cond_wait(&ring[id], &counter_lock);
        turn = (id + 1) % workers;
        pthread_cond_signal(&ring[turn]);
        pthread_mutex_unlock(&counter_lock);
        pthread_barrier_wait(&round_end);
    }
    long *mine = pthread_getspecific(slot_key);
    int ok = tls_id == id && mine == &slot_counts[id] && *mine == tls_count &&
             tls_count == rounds * ITERATIONS;
    return (void *)(intptr_t)ok;
}

/* ---- threads standing elsewhere ------------------------------------------------------- */

static pthread_t sleeper_thread;
static _Atomic pthread_t usr1_ran_in;
static atomic_int usr1s;

static void on_usr1(int sig)
{
    (void)sig;
    atomic_store(&usr1_ran_in, pthread_self());
    atomic_fetch_add(&usr1s, 1);
}

static void *sleeper(void *arg)
{
    (void)arg;
    struct timespec ms = {0, 1000000};
    while (!atomic_load(&stop_others))
        nanosleep(&ms, 0);
    return (void *)1;
}

static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cond = PTHREAD_COND_INITIALIZER;

static void *timed_waiter(void *arg)
{
    (void)arg;
    long wakeups = 0;
    pthread_mutex_lock(&wait_lock);
    while (!atomic_load(&stop_others)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        int rc = pthread_cond_timedwait(&wait_cond, &wait_lock, &until);
        if (rc && rc != ETIMEDOUT)
            fail("pthread_cond_timedwait: %s\n", strerror(rc));
        wakeups++;
    }
    pthread_mutex_unlock(&wait_lock);
    return (void *)(intptr_t)(wakeups > 0);
}

static void *spinner(void *arg)
{
    (void)arg;
    volatile unsigned long spins = 0;
    while (!atomic_load(&stop_others))
        spins++;
    return (void *)(intptr_t)(spins > 0);
}

static char altstack[ALTSTACK_SIZE] __attribute__((aligned(16)));

/* Its own signal stack and mask (SIGHUP blocked, unlike every other thread). */
static void *own_stack_and_mask(void *arg)
{
    (void)arg;
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    if (sigaltstack(&ss, 0) || pthread_sigmask(SIG_BLOCK, &hup, 0))
        fail("sigaltstack or pthread_sigmask\n");
    struct timespec ms = {0, 1000000};
    while (!atomic_load(&stop_others))
        nanosleep(&ms, 0);
    stack_t now;
    sigset_t mask;
    sigaltstack(0, &now);
    pthread_sigmask(SIG_BLOCK, 0, &mask);
    return (void *)(intptr_t)(now.ss_sp == altstack && now.ss_size == sizeof altstack &&
                              sigismember(&mask, SIGHUP) == 1);
}

static void *cancel_target(void *arg)
{
    (void)arg;
    for (;;)
        pause(); /* a cancellation point; a checkpoint's signal returns from it */
    return 0;
}

static pthread_mutex_t robust_lock;
static atomic_int holder_may_exit, holder_has_it;

static void *robust_holder(void *arg)
{
    (void)arg;
    if (pthread_mutex_lock(&robust_lock))
        fail("locking the robust mutex\n");
    atomic_store(&holder_has_it, 1);
    struct timespec ms = {0, 1000000};
    while (!atomic_load(&holder_may_exit))
        nanosleep(&ms, 0);
    return 0; /* exits holding it */
}

static void *answer(void *arg)
{
    return arg;
}

/* A thread inside dl_iterate_phdr across the checkpoint holds ld.so's recursive
 * dl_load_write_lock (as every C++ exception's unwind does); it gives it back after. */
static atomic_int in_ld_so, ld_so_may_return;

static int wait_inside_ld_so(struct dl_phdr_info *i, size_t size, void *data)
{
    (void)i;
    (void)size;
    (void)data;
    atomic_store(&in_ld_so, 1);
    struct timespec ms = {0, 1000000};
    while (!atomic_load(&ld_so_may_return))
        nanosleep(&ms, 0);
    return 1;
}

static void *inside_ld_so(void *arg)
{
    (void)arg;
    dl_iterate_phdr(wait_inside_ld_so, 0);
    return (void *)1;
}

static int count_object(struct dl_phdr_info *i, size_t size, void *data)
{
    (void)i;
    (void)size;
    ++*(int *)data;
    return 0;
}

static void *walk_ld_so(void *arg)
{
    (void)arg;
    int objects = 0;
    dl_iterate_phdr(count_object, &objects);
    return (void *)(intptr_t)(objects > 0);
}

/* ---- main ------------------------------------------------------------------------------ */

static void start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, 0, fn, arg);
    if (rc)
        fail("pthread_create: %s\n", strerror(rc));
}

static void make_robust_mutex(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&robust_lock, &a);
    pthread_mutexattr_destroy(&a);
}

static const char *lock_result(int rc)
{
    return rc == EOWNERDEAD ? "EOWNERDEAD" : rc == ETIMEDOUT ? "ETIMEDOUT (hangs)" : strerror(rc);
}

/* After the one inside ld.so is out, another thread takes ld.so's lock (within 5 s). */
static void ld_so_lock_given_back(pthread_t inside)
{
    atomic_store(&ld_so_may_return, 1);
    void *got = 0;
    pthread_join(inside, &got);
    pthread_t walker;
    start(&walker, walk_ld_so, 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    int rc = pthread_timedjoin_np(walker, &got, &until);
    say("dl_iterate_phdr in another thread after one was inside it: %s\n",
        rc == ETIMEDOUT ? "hangs" : yesno(rc == 0 && got == (void *)1));
    if (rc == ETIMEDOUT)
        _exit(3); /* the walker cannot be joined */
}

static void after_the_rounds(pthread_t others[5], pthread_t holder, pthread_t inside)
{
    ld_so_lock_given_back(inside);
    pthread_t fresh;
    void *got = 0;
    start(&fresh, answer, (void *)42);
    say("a new thread made and joined: %s\n",
        yesno(pthread_join(fresh, &got) == 0 && got == (void *)42));

    pthread_kill(sleeper_thread, SIGUSR1);
    for (int i = 0; i < 5000 && atomic_load(&usr1s) < 1; i++)
        usleep(1000);
    say("pthread_kill ran the handler in that thread: %s\n",
        yesno(atomic_load(&usr1s) == 1 &&
              pthread_equal(atomic_load(&usr1_ran_in), sleeper_thread)));
    raise(SIGUSR1);
    say("raise ran the handler in the main thread: %s\n",
        yesno(atomic_load(&usr1s) == 2 &&
              pthread_equal(atomic_load(&usr1_ran_in), pthread_self())));

    atomic_store(&holder_may_exit, 1);
    pthread_join(holder, 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    int rc = pthread_mutex_timedlock(&robust_lock, &until);
    say("the robust mutex its holder died with: %s\n", lock_result(rc));
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(&robust_lock);
        pthread_mutex_unlock(&robust_lock);
    }

    pthread_cancel(others[4]);
    say("the thread in pause() cancelled and joined: %s\n",
        yesno(pthread_join(others[4], &got) == 0 && got == PTHREAD_CANCELED));
    atomic_store(&stop_others, 1);
    const char *names[4] = {"nanosleep", "pthread_cond_timedwait", "busy loop",
                            "own signal stack and mask"};
    for (int i = 0; i < 4; i++)
        say("the thread in %s joined: %s\n", names[i],
            yesno(pthread_join(others[i], &got) == 0 && got == (void *)1));
}

int main(int argc, char **argv)
{
    workers = argc > 1 ? atol(argv[1]) : 4;
    rounds = argc > 2 ? atol(argv[2]) : 60;
    if (workers < 1 || rounds < 1)
        fail("usage: threadlife [WORKERS [ROUNDS]]\n");
    scenario_started();
    note("threadlife: started, pid %d\n", (int)getpid());
    signal(SIGUSR1, on_usr1);
    ring = calloc((size_t)workers, sizeof *ring);
    slot_counts = calloc((size_t)workers, sizeof *slot_counts);
    pthread_t *w = calloc((size_t)workers, sizeof *w);
    if (!ring || !slot_counts || !w)
        fail("calloc\n");
    for (long i = 0; i < workers; i++)
        pthread_cond_init(&ring[i], 0);
    pthread_key_create(&slot_key, 0);
    pthread_barrier_init(&round_start, 0, (unsigned)workers + 1);
    pthread_barrier_init(&round_end, 0, (unsigned)workers + 1);
    make_robust_mutex();

    pthread_t others[5], holder, inside;
    start(&others[0], sleeper, 0);
    sleeper_thread = others[0];
    start(&others[1], timed_waiter, 0);
    start(&others[2], spinner, 0);
    start(&others[3], own_stack_and_mask, 0);
    start(&others[4], cancel_target, 0);
    start(&holder, robust_holder, 0);
    start(&inside, inside_ld_so, 0);
    while (!atomic_load(&holder_has_it) || !atomic_load(&in_ld_so))
        usleep(1000);
    for (long i = 0; i < workers; i++)
        start(&w[i], worker, (void *)i);

    for (long r = 1; r <= rounds; r++) {
        pthread_barrier_wait(&round_start);
        pthread_barrier_wait(&round_end);
        pthread_mutex_lock(&counter_lock);
        long total = shared_count, at = turn;
        pthread_mutex_unlock(&counter_lock);
        say("round %ld: %ld workers counted %ld, turn back at %ld\n", r, workers, total, at);
        pace();
    }
    long joined = 0, right = 0;
    for (long i = 0; i < workers; i++) {
        void *ok = 0;
        if (pthread_join(w[i], &ok) == 0)
            joined++;
        right += ok == (void *)1;
    }
    say("workers joined: %ld of %ld, each with its own count, key and __thread: %ld\n", joined,
        workers, right);
    say("shared count: %ld (expected %ld)\n", shared_count, workers * rounds * ITERATIONS);
    after_the_rounds(others, holder, inside);
    note("threadlife: finished pid %d\n", (int)syscall(SYS_getpid)); /* the kernel's */
    say("done\n");
    return 0;
}
