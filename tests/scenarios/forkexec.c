/* forkexec: proves that a restored process can create processes and read the clocks.
 * Phase 1 (paced, the checkpoint happens here) only counts. Phase 2, after the restore:
 *  - fork + exec /bin/echo, and fork + exec of this program (by its argv[0]) which checks
 *    it is a new process whose parent is us; waitpid gets their exit statuses;
 *  - posix_spawn (clone with CLONE_VM|CLONE_VFORK) of /bin/sh -c 'exit 3';
 *  - a pipe between parent and forked child;
 *  - the vDSO: the address in our auxv (AT_SYSINFO_EHDR, as glibc saw it at startup) is the
 *    [vdso] mapping of the restored process and matches the kernel's auxv — or, when the
 *    restore rebuilt the old vDSO as a proxy (CKPT_TEST_VDSO_PROXY=1, as after a kernel
 *    change), an executable ELF image whose functions jump into the new [vdso] elsewhere;
 *    clock_gettime/gettimeofday/time (vDSO) agree with the real system calls, realtime is
 *    plausible, and CLOCK_MONOTONIC never goes backwards over many samples.
 * Only deterministic facts are printed.
 *
 * Usage: forkexec [STEPS]        (default 40, 20 ms per step)
 *        forkexec --child PPID   (internal: the re-executed child) */
#include "scenario.h"

#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

extern char **environ;

static int child_main(long parent)
{
    say("re-executed child: parent is the restored process: %s, own pid differs: %s\n",
        yesno(getppid() == (pid_t)parent), yesno(getpid() != (pid_t)parent));
    return 7;
}

static int wait_status(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        fail("waitpid: %s\n", strerror(errno));
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static double ts_sec(struct timespec t)
{
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* vDSO clock_gettime (through glibc) against the raw system call. */
static int clock_agrees(clockid_t clk)
{
    struct timespec v1, s, v2;
    if (clock_gettime(clk, &v1) != 0 || syscall(SYS_clock_gettime, clk, &s) != 0 ||
        clock_gettime(clk, &v2) != 0)
        return 0;
    return ts_sec(v1) <= ts_sec(s) + 0.01 && ts_sec(s) <= ts_sec(v2) + 0.01 &&
           ts_sec(v2) - ts_sec(v1) < 1.0;
}

static int vdso_is_mapped_at(unsigned long addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return 0;
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && strstr(line, "[vdso]"))
            found = (lo == addr);
    }
    fclose(f);
    return found;
}

static unsigned long kernel_auxv(unsigned long type)
{
    int fd = open("/proc/self/auxv", O_RDONLY);
    unsigned long v[2 * 64], result = 0;
    ssize_t n = fd >= 0 ? read(fd, v, sizeof v) : -1;
    if (fd >= 0)
        close(fd);
    for (ssize_t i = 0; i + 1 < n / (ssize_t)sizeof(long); i += 2)
        if (v[i] == type)
            result = v[i + 1];
    return result;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--child") == 0)
        return child_main(atol(argv[2]));
    long steps = argc > 1 ? atol(argv[1]) : 40;
    scenario_started();
    pid_t started_as = getpid();

    for (long i = 1; i <= steps; i++) {
        say("step %ld\n", i);
        pace();
    }

    /* Phase 2: after the restore. */
    /* The program keeps its own pid (preload/shim_pid.c); an exec'd child knows the kernel's,
     * so that is the one it is given. */
    say("getpid is the pid the program started with: %s\n", yesno(getpid() == started_as));
    pid_t self = (pid_t)syscall(SYS_getpid);

    pid_t pid = fork();
    if (pid < 0)
        fail("fork: %s\n", strerror(errno));
    if (pid == 0) {
        execl("/bin/echo", "echo", "hello from /bin/echo exec'd after restore", (char *)NULL);
        _exit(127);
    }
    say("/bin/echo child exited with %d\n", wait_status(pid));

    char parent[32];
    snprintf(parent, sizeof parent, "%d", (int)self);
    pid = fork();
    if (pid < 0)
        fail("fork: %s\n", strerror(errno));
    if (pid == 0) {
        execl(argv[0], argv[0], "--child", parent, (char *)NULL);
        _exit(127);
    }
    say("re-executed child exited with %d\n", wait_status(pid));

    char *sh_argv[] = {"sh", "-c", "exit 3", NULL};
    if (posix_spawn(&pid, "/bin/sh", NULL, NULL, sh_argv, environ) != 0)
        fail("posix_spawn\n");
    say("posix_spawn'd shell exited with %d\n", wait_status(pid));

    int p[2];
    if (pipe(p) != 0)
        fail("pipe\n");
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        scenario_write_all(p[1], "through the pipe", 16);
        _exit(0);
    }
    close(p[1]);
    char buf[32] = {0};
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    say("pipe child exited with %d, sent \"%s\" (%zd bytes)\n", wait_status(pid), buf, n);

    unsigned long ehdr = getauxval(AT_SYSINFO_EHDR);
    say("vDSO present: %s\n", yesno(ehdr != 0));
    const char *proxy = getenv("CKPT_TEST_VDSO_PROXY");
    if (proxy && *proxy == '1')
        say("AT_SYSINFO_EHDR is an ELF image (the vDSO or its proxy): %s\n",
            yesno(ehdr && !memcmp((const void *)ehdr, "\177ELF", 4)));
    else
        say("AT_SYSINFO_EHDR is the [vdso] mapping: %s\n", yesno(vdso_is_mapped_at(ehdr)));
    say("kernel auxv AT_SYSINFO_EHDR matches: %s\n", yesno(kernel_auxv(AT_SYSINFO_EHDR) == ehdr));

    say("CLOCK_MONOTONIC agrees with the syscall: %s\n", yesno(clock_agrees(CLOCK_MONOTONIC)));
    say("CLOCK_REALTIME agrees with the syscall: %s\n", yesno(clock_agrees(CLOCK_REALTIME)));
    say("CLOCK_BOOTTIME agrees with the syscall: %s\n", yesno(clock_agrees(CLOCK_BOOTTIME)));
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    say("CLOCK_REALTIME is after 2023: %s\n", yesno(rt.tv_sec > 1700000000));

    struct timeval tv, stv;
    gettimeofday(&tv, NULL);
    syscall(SYS_gettimeofday, &stv, NULL);
    double d = (stv.tv_sec - tv.tv_sec) + (stv.tv_usec - tv.tv_usec) / 1e6;
    say("gettimeofday agrees with the syscall: %s\n", yesno(d >= 0 && d < 1.0));
    time_t t1 = time(NULL);
    long t2 = syscall(SYS_time, NULL);
    say("time() agrees with the syscall: %s\n", yesno(t2 - t1 >= 0 && t2 - t1 <= 1));

    struct timespec prev, cur;
    clock_gettime(CLOCK_MONOTONIC, &prev);
    int backwards = 0;
    for (int k = 0; k < 200000; k++) {
        clock_gettime(CLOCK_MONOTONIC, &cur);
        if (cur.tv_sec < prev.tv_sec || (cur.tv_sec == prev.tv_sec && cur.tv_nsec < prev.tv_nsec))
            backwards++;
        prev = cur;
    }
    say("CLOCK_MONOTONIC went backwards in 200000 samples: %d times\n", backwards);
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pace();
    clock_gettime(CLOCK_MONOTONIC, &end);
    double slept = ts_sec(end) - ts_sec(start);
    say("a 20 ms sleep measures between 20 ms and 2 s: %s\n", yesno(slept >= 0.02 && slept < 2.0));
    unsigned cpu;
    say("getcpu works: %s\n", yesno(getcpu(&cpu, NULL) == 0 && cpu < 4096));
    say("done\n");
    return 0;
}
