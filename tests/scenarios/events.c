/* events: proves that event-loop descriptors come back with their state, data in flight
 * at the checkpoint included. Before its steps (the checkpoint comes during them) the
 * program sets up:
 *   - an eventfd holding 7 (written 3 + 4), and an EFD_SEMAPHORE one holding 3;
 *   - a one-shot timerfd of 5 ms that expires before the checkpoint and is read only after
 *     it (its expiration must not be lost); a periodic timerfd first due in 300 ms, every
 *     100 ms after (the checkpoint comes before it is due); a CLOCK_REALTIME absolute timer
 *     an hour ahead with TFD_TIMER_CANCEL_ON_SET;
 *   - a signalfd for SIGUSR1 (blocked) with one SIGUSR1 pending;
 *   - an epoll of six entries with different events and data: an eventfd that is readable
 *     (101, level), one that is not (102, EPOLLET), a one-shot timerfd that expired (103,
 *     EPOLLONESHOT), the signalfd (104), an eventfd watched for writing (105, EPOLLOUT) and an
 *     inner epoll watching the readable eventfd (106: epoll inside epoll).
 * After its steps it waits on the epoll (the same events and data must come back, the
 * one-shot only once), changes and deletes entries by their numbers (EPOLL_CTL_MOD/DEL, as
 * a program does; they fail if the entries were added under other numbers), reads every
 * descriptor, and waits for the periodic timer's expirations (counts and order only).
 *
 * Usage: events [STEPS]   (default 15; the steps are 20 ms apart)
 *        events stale [STEPS]  the epoll watches a file added as a number that now names
 *                              another file: the checkpoint must be refused by name
 *        events socket [STEPS] the epoll watches a TCP connection the program made to its
 *                              own listener, which has not accepted it: ckpt cannot
 *                              restore it, the checkpoint must be refused naming it */
#include "scenario.h"

#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

static int check(int rc, const char *what)
{
    if (rc < 0)
        fail("%s: %s\n", what, strerror(errno));
    return rc;
}

static void watch(int ep, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev = {.events = events, .data.u64 = data};
    check(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), "epoll_ctl ADD");
}

static int one_shot_timer(long ns)
{
    int fd = check(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC), "timerfd");
    struct itimerspec its = {.it_value = {0, ns}};
    check(timerfd_settime(fd, 0, &its, NULL), "timerfd_settime");
    return fd;
}

/* The line of /proc/self/fdinfo/fd that starts with key, without its newline. */
static const char *fdinfo_line(int fd, const char *key)
{
    static char line[256];
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "r");
    if (!f)
        fail("%s: %s\n", path, strerror(errno));
    line[0] = 0;
    while (fgets(line, sizeof line, f) && strncmp(line, key, strlen(key)))
        line[0] = 0;
    fclose(f);
    line[strcspn(line, "\n")] = 0;
    return line;
}

static int by_data(const void *a, const void *b)
{
    const struct epoll_event *x = a, *y = b;
    return x->data.u64 < y->data.u64 ? -1 : x->data.u64 > y->data.u64;
}

static void show_ready(int ep, const char *when)
{
    struct epoll_event evs[16];
    int n = check(epoll_wait(ep, evs, 16, 0), "epoll_wait");
    qsort(evs, (size_t)n, sizeof evs[0], by_data);
    say("epoll ready %s: %d\n", when, n);
    for (int i = 0; i < n; i++)
        say("  data %llu events %#x\n", (unsigned long long)evs[i].data.u64, evs[i].events);
}

static uint64_t read_counter(int fd, const char *what)
{
    uint64_t v = 0;
    if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
        return errno == EAGAIN ? 0 : (fail("read %s: %s\n", what, strerror(errno)), 0);
    return v;
}

static void steps(long n)
{
    for (long i = 1; i <= n; i++) {
        say("step %ld\n", i);
        pace();
    }
}

/* An entry added as number a, whose file is now only on number b, while a names another
 * eventfd: nothing the program could ever reach again, so ckpt refuses it. */
static int stale(long n)
{
    int ep = check(epoll_create1(EPOLL_CLOEXEC), "epoll_create1");
    int a = check(eventfd(0, EFD_CLOEXEC), "eventfd");
    watch(ep, a, EPOLLIN, 1);
    int b = check(dup(a), "dup");
    close(a);
    int again = check(eventfd(0, EFD_CLOEXEC), "eventfd");
    if (again != a)
        fail("eventfd got %d, not %d\n", again, a);
    note("events: epoll %d watches the eventfd added as %d, now %d\n", ep, a, b);
    steps(n);
    say("done\n");
    return 0;
}

/* An epoll whose target ckpt cannot restore. */
static int socket_target(long n)
{
    int ep = check(epoll_create1(EPOLL_CLOEXEC), "epoll_create1");
    struct sockaddr_in at = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof at;
    int l = check(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket");
    int s = check(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket");
    check(bind(l, (struct sockaddr *)&at, len), "bind");
    check(listen(l, 4), "listen");
    check(getsockname(l, (struct sockaddr *)&at, &len), "getsockname");
    check(connect(s, (struct sockaddr *)&at, len), "connect");
    watch(ep, s, EPOLLIN, 1);
    note("events: epoll %d watches socket %d\n", ep, s);
    steps(n);
    say("done\n");
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode =
        argc > 1 && (!strcmp(argv[1], "stale") || !strcmp(argv[1], "socket")) ? argv[1] : "";
    long n = argc > 1 + (*mode != 0) ? atol(argv[1 + (*mode != 0)]) : 15;
    scenario_started();
    if (!strcmp(mode, "stale"))
        return stale(n);
    if (!strcmp(mode, "socket"))
        return socket_target(n);

    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    check(sigprocmask(SIG_BLOCK, &usr1, NULL), "sigprocmask");

    int seven = check(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd");
    uint64_t three = 3, four = 4;
    check((int)write(seven, &three, 8), "write");
    check((int)write(seven, &four, 8), "write");
    int sem = check(eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK), "eventfd");

    int fired = one_shot_timer(5000000);
    int periodic = check(timerfd_create(CLOCK_MONOTONIC, 0), "timerfd");
    struct itimerspec every = {.it_interval = {0, 100000000}, .it_value = {0, 300000000}};
    check(timerfd_settime(periodic, 0, &every, NULL), "timerfd_settime");
    int wall = check(timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC), "timerfd");
    struct itimerspec hour = {.it_value = {time(NULL) + 3600, 0}};
    check(timerfd_settime(wall, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &hour, NULL),
          "timerfd_settime");

    int sig = check(signalfd(-1, &usr1, SFD_NONBLOCK | SFD_CLOEXEC), "signalfd");
    check(raise(SIGUSR1), "raise");

    int ep = check(epoll_create1(EPOLL_CLOEXEC), "epoll_create1");
    int readable = check(eventfd(1, EFD_NONBLOCK), "eventfd");
    int edge = check(eventfd(0, EFD_NONBLOCK), "eventfd");
    int oneshot = one_shot_timer(5000000);
    int writable = check(eventfd(0, EFD_NONBLOCK), "eventfd");
    int inner = check(epoll_create1(0), "epoll_create1");
    watch(inner, readable, EPOLLIN, 201);
    watch(ep, readable, EPOLLIN, 101);
    watch(ep, edge, EPOLLIN | EPOLLET, 102);
    watch(ep, oneshot, EPOLLIN | EPOLLONESHOT, 103);
    watch(ep, sig, EPOLLIN, 104);
    watch(ep, writable, EPOLLOUT, 105);
    watch(ep, inner, EPOLLIN, 106);
    note("events: pid %d, epoll %d, eventfds %d %d, timerfds %d %d %d, signalfd %d\n",
         (int)getpid(), ep, seven, sem, fired, periodic, wall, sig);

    steps(n);

    show_ready(ep, "after the steps");
    show_ready(ep, "again (the one-shot is spent)");
    struct epoll_event mod = {.events = EPOLLIN, .data.u64 = 202};
    say("EPOLL_CTL_MOD of descriptor %d: %s\n", edge,
        epoll_ctl(ep, EPOLL_CTL_MOD, edge, &mod) == 0 ? "ok" : strerror(errno));
    say("EPOLL_CTL_DEL of descriptor %d: %s\n", writable,
        epoll_ctl(ep, EPOLL_CTL_DEL, writable, NULL) == 0 ? "ok" : strerror(errno));
    uint64_t one = 1;
    check((int)write(edge, &one, 8), "write");
    show_ready(ep, "after writing to descriptor 102's");
    show_ready(inner, "in the inner epoll");

    say("eventfd counter: %llu\n", (unsigned long long)read_counter(seven, "eventfd"));
    say("eventfd counter read again: %llu\n", (unsigned long long)read_counter(seven, "eventfd"));
    for (int i = 1; i <= 4; i++)
        say("semaphore read %d: %llu\n", i, (unsigned long long)read_counter(sem, "semaphore"));
    say("eventfd flags: nonblocking %s, semaphore %s\n", yesno(fcntl(seven, F_GETFL) & O_NONBLOCK),
        fdinfo_line(sem, "eventfd-semaphore:"));

    say("one-shot timer expirations: %llu\n", (unsigned long long)read_counter(fired, "timerfd"));
    say("one-shot timer read again: %llu\n", (unsigned long long)read_counter(fired, "timerfd"));

    struct signalfd_siginfo si;
    ssize_t got = read(sig, &si, sizeof si);
    say("signalfd read: %s\n", got == (ssize_t)sizeof si ? strsignal((int)si.ssi_signo) : "none");
    got = read(sig, &si, sizeof si);
    say("signalfd read again: %s\n", got < 0 && errno == EAGAIN ? "nothing pending" : "more");
    say("signalfd %s, nonblocking %s\n", fdinfo_line(sig, "sigmask:"),
        yesno(fcntl(sig, F_GETFL) & O_NONBLOCK));

    struct itimerspec left;
    check(timerfd_gettime(wall, &left), "timerfd_gettime");
    say("wall clock timer still an hour ahead: %s, %s\n",
        yesno(left.it_value.tv_sec > 3000 && left.it_value.tv_sec <= 3600),
        fdinfo_line(wall, "settime flags:"));

    check(timerfd_gettime(periodic, &left), "timerfd_gettime");
    say("periodic timer: %s, interval %ld ms, blocking %s\n", fdinfo_line(periodic, "clockid:"),
        left.it_interval.tv_nsec / 1000000, yesno(!(fcntl(periodic, F_GETFL) & O_NONBLOCK)));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t total = 0;
    int reads = 0;
    while (total < 5) {
        uint64_t v = 0;
        if (read(periodic, &v, sizeof v) != (ssize_t)sizeof v || v == 0)
            fail("read periodic timer: %s\n", strerror(errno));
        total += v;
        reads++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    note("events: %llu periodic expirations in %d reads, %ld ms\n", (unsigned long long)total,
         reads, (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
    say("periodic timer reached 5 expirations: yes\n");
    say("done\n");
    return 0;
}
