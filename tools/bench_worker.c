/* ckpt-bench-worker: the workloads `ckpt bench` runs (bench.c). Installed in
 * libexec/ckpt/ next to bin/, where the bench looks for it. Not meant to be run by hand.
 *
 *   ckpt-bench-worker memory MAP_MIB TOUCH_MIB [THREADS]
 *       with THREADS, first starts THREADS - 1 threads that wait on a condition variable
 *       forever (the stop protocol's cost per thread); then maps MAP_MIB MiB of private anonymous
 * memory and writes non-zero data into TOUCH_MIB MiB of it, spread evenly over the mapping; prints
 * "ready SUM" (SUM: a checksum of the touched data) and waits. When it finds itself restored (its
 * pid changed), it prints "running NS" (CLOCK_MONOTONIC), reads all touched memory again, prints
 * "read NS SUM" and exits 0. ckpt-bench-worker loops N times N rounds each of open/close,
 * socket/close, dup/close and listen (again, on one listening TCP socket) and prints
 * "open_close NS_PER_ROUND", "socket_close ...", "dup_close ..." and "listen ..." (one line
 * each).
 *
 *   ckpt-bench-worker rewrite MAP_MIB [huge]
 *       maps MAP_MIB MiB (huge: MADV_HUGEPAGE, transparent huge pages), writes all of it,
 *       times WRITE_PASSES passes writing every page (before its first checkpoint) and prints
 *       "ready NS HUGE_KIB" (HUGE_KIB: its memory in huge pages); then on each SIGUSR1 with
 *       value 2 times WRITE_PASSES passes again (prints "passes NS HUGE_KIB"): right after a
 *       checkpoint, with or without --incremental; with another value rewrites 1% of its
 *       pages, other ones each time (prints "rewritten PAGES").
 *
 * Every line is one write(2) to stdout, which the bench reads from a pipe. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MiB (1024UL * 1024UL)
#define PAGE 4096UL

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0 && write(1, line, (size_t)n) != n)
        exit(3);
}

static void die(const char *what)
{
    fprintf(stderr, "ckpt-bench-worker: %s: %s\n", what, strerror(errno));
    exit(2);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The touched pages: every stride-th page of the mapping, npages of them. */
struct touched {
    unsigned char *base;
    size_t npages, stride;
};

static void fill(const struct touched *t)
{
    for (size_t i = 0; i < t->npages; i++) {
        uint64_t *w = (uint64_t *)(t->base + i * t->stride * PAGE);
        for (size_t k = 0; k < PAGE / 8; k++)
            w[k] = ((i * (PAGE / 8) + k) * 0x9e3779b97f4a7c15ULL) | 1;
    }
}

/* Reads every word of the touched pages: a polynomial hash in four independent lanes, so it
 * keeps up with memory rather than timing a chain of dependent multiplications. */
static uint64_t checksum(const struct touched *t)
{
    uint64_t lane[4] = {1, 2, 3, 4};
    for (size_t i = 0; i < t->npages; i++) {
        const uint64_t *w = (const uint64_t *)(t->base + i * t->stride * PAGE);
        for (size_t k = 0; k < PAGE / 8; k += 4)
            for (int l = 0; l < 4; l++)
                lane[l] = lane[l] * 0x9e3779b97f4a7c15ULL + w[k + l];
    }
    return lane[0] ^ (lane[1] * 3) ^ (lane[2] * 5) ^ (lane[3] * 7);
}

static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;

static __attribute__((noreturn)) void *idle_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&idle_lock);
    for (;;)
        pthread_cond_wait(&idle_cond, &idle_lock);
}

/* Small stacks: 256 threads need no 2 GiB of address space. */
static void start_idle_threads(unsigned long n)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (unsigned long i = 0; i < n; i++) {
        pthread_t t;
        int e = pthread_create(&t, &attr, idle_thread, NULL);
        if (e)
            errno = e, die("pthread_create");
    }
    pthread_attr_destroy(&attr);
}

static int memory_workload(size_t map_mib, size_t touch_mib)
{
    if (touch_mib == 0 || touch_mib > map_mib)
        return fprintf(stderr, "ckpt-bench-worker: TOUCH_MIB must be 1..MAP_MIB\n"), 2;
    struct touched t = {NULL, touch_mib * MiB / PAGE, map_mib / touch_mib};
    t.base = mmap(NULL, map_mib * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t.base == MAP_FAILED)
        die("mmap");
    fill(&t);
    /* The kernel's pid tells a restore: getpid() keeps the program's own (shim_pid.c). */
    pid_t original = (pid_t)syscall(SYS_getpid);
    say("ready %016" PRIx64 "\n", checksum(&t));
    for (;;) {
        /* Not pause(): the checkpoint may catch us before we enter it, and the restored
         * process would then wait forever. A signal cuts the sleep short, so after a
         * restore this normally returns at once. */
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        if ((pid_t)syscall(SYS_getpid) == original)
            continue;
        say("running %" PRIu64 "\n", now_ns());
        uint64_t sum = checksum(&t);
        say("read %" PRIu64 " %016" PRIx64 "\n", now_ns(), sum);
        return 0;
    }
}

#define WRITE_PASSES 4

/* Writes every word of every page, passes times: the memory-writing loop whose throughput
 * write tracking may slow down (one fault per page after each re-arm). */
static uint64_t write_passes(unsigned char *base, size_t npages, int passes)
{
    uint64_t start = now_ns();
    for (int pass = 0; pass < passes; pass++)
        for (size_t i = 0; i < npages; i++) {
            uint64_t *w = (uint64_t *)(base + i * PAGE);
            for (size_t k = 0; k < PAGE / 8; k++)
                w[k] = (i + (size_t)pass) * 0x9e3779b97f4a7c15ULL + k;
        }
    return now_ns() - start;
}

/* KiB of the process's anonymous memory in transparent huge pages. */
static uint64_t huge_kib(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    uint64_t kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %" SCNu64, &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static int rewrite_workload(size_t map_mib, int huge)
{
    size_t npages = map_mib * MiB / PAGE;
    unsigned char *base =
        mmap(NULL, map_mib * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        die("mmap");
    if (huge && madvise(base, map_mib * MiB, MADV_HUGEPAGE) != 0)
        die("madvise");
    write_passes(base, npages, 1);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    uint64_t ns = write_passes(base, npages, WRITE_PASSES);
    say("ready %" PRIu64 " %" PRIu64 "\n", ns, huge_kib());
    for (unsigned round = 0;; round++) {
        siginfo_t si;
        if (sigwaitinfo(&usr1, &si) < 0)
            continue;
        if (si.si_value.sival_int == 2) {
            ns = write_passes(base, npages, WRITE_PASSES);
            say("passes %" PRIu64 " %" PRIu64 "\n", ns, huge_kib());
            continue;
        }
        size_t n = 0;
        for (size_t i = round % 100; i < npages; i += 100, n++)
            ((uint64_t *)(base + i * PAGE))[0] ^= (uint64_t)round + 1;
        say("rewritten %zu\n", n);
    }
    return 0;
}

static void open_close(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || close(fd) != 0)
        die("open/close");
}

static void socket_close(void)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || close(fd) != 0)
        die("socket/close");
}

static void dup_close(void)
{
    int fd = dup(2);
    if (fd < 0 || close(fd) != 0)
        die("dup/close");
}

/* listen(2) on a socket that listens already only sets its backlog again: the call and the
 * shim's wrapper, without binding a port per round. */
static int listening = -1;

static void listen_again(void)
{
    if (listen(listening, 16) != 0)
        die("listen");
}

static void start_listening(void)
{
    struct sockaddr_in at = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    listening = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listening < 0 || bind(listening, (struct sockaddr *)&at, sizeof at) != 0)
        die("listening socket");
}

static void time_loop(const char *name, void (*round)(void), long n)
{
    for (long i = 0; i < n / 10; i++) /* warm up */
        round();
    uint64_t start = now_ns();
    for (long i = 0; i < n; i++)
        round();
    say("%s %.1f\n", name, (double)(now_ns() - start) / (double)n);
}

int main(int argc, char **argv)
{
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "memory") == 0) {
        unsigned long threads = argc == 5 ? strtoul(argv[4], NULL, 10) : 1;
        start_idle_threads(threads > 1 ? threads - 1 : 0);
        return memory_workload(strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10));
    }
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "rewrite") == 0)
        return rewrite_workload(strtoul(argv[2], NULL, 10), argc == 4 && !strcmp(argv[3], "huge"));
    if (argc == 3 && strcmp(argv[1], "loops") == 0) {
        long n = atol(argv[2]);
        time_loop("open_close", open_close, n);
        time_loop("socket_close", socket_close, n);
        time_loop("dup_close", dup_close, n);
        start_listening();
        time_loop("listen", listen_again, n);
        return 0;
    }
    fprintf(stderr, "usage: ckpt-bench-worker memory MAP_MIB TOUCH_MIB [THREADS] | rewrite "
                    "MAP_MIB [huge] | loops N\n");
    return 2;
}
