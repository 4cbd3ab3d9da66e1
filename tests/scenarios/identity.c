/* identity: proves that the restored process is still the program, not restore-run:
 * at the end it reads its own /proc/self/cmdline, /proc/self/comm, /proc/self/stat and
 * /proc/self/environ and prints them (cmdline and comm must be the program's; comm is the
 * name it set itself with PR_SET_NAME before the checkpoint, so it cannot come from the
 * executable's name). It also checks that the umask, an RLIMIT_NOFILE it lowered and its
 * working directory are still its own (the restore runs from another directory).
 * The driver also compares /proc/PID/{cmdline,environ,comm} of the original and of the
 * restored process, and checkpoints the restored process again.
 *
 * Usage: identity [STEPS] [ARGS...]   (default 60, 20 ms per step; ARGS are just carried) */
#include "scenario.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define NEW_NAME "ident-renamed"
#define MARK "CKPT_SCENARIO_MARK"

static ssize_t slurp(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t total = 0, n;
    while ((size_t)total < size && (n = read(fd, buf + total, size - (size_t)total)) > 0)
        total += n;
    close(fd);
    return total;
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 60;
    scenario_started();
    char name[17] = {0};
    prctl(PR_GET_NAME, name);
    say("comm at start: %s\n", name);
    prctl(PR_SET_NAME, NEW_NAME);
    umask(027);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max < 200 ? rl.rlim_max : 200;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        fail("setrlimit\n");
    struct stat cwd_start;
    if (stat(".", &cwd_start) != 0)
        fail("stat .\n");

    for (long i = 1; i <= steps; i++) {
        say("step %ld\n", i);
        pace();
    }

    static char buf[65536];
    ssize_t n = slurp("/proc/self/cmdline", buf, sizeof buf - 1);
    int same = n > 0;
    ssize_t off = 0;
    for (int i = 0; i < argc && same; i++) {
        size_t len = strlen(argv[i]) + 1;
        same = off + (ssize_t)len <= n && memcmp(buf + off, argv[i], len) == 0;
        off += (ssize_t)len;
    }
    same = same && off == n;
    for (ssize_t i = 0; i + 1 < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    if (n > 0)
        buf[n - 1] = '\0';
    say("/proc/self/cmdline: %s\n", n > 0 ? buf : "(unreadable)");
    say("/proc/self/cmdline is our argv: %s\n", yesno(same));

    n = slurp("/proc/self/comm", buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    say("/proc/self/comm: %s", n > 0 ? buf : "(unreadable)\n");
    memset(name, 0, sizeof name);
    prctl(PR_GET_NAME, name);
    say("PR_GET_NAME: %s\n", name);
    n = slurp("/proc/self/stat", buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    say("/proc/self/stat names us: %s\n", yesno(strstr(buf, "(" NEW_NAME ")") != NULL));

    const char *mark = getenv(MARK);
    say("getenv(" MARK "): %s\n", mark ? mark : "(unset)");
    n = slurp("/proc/self/environ", buf, sizeof buf - 1);
    int found = 0;
    if (mark && n > 0) {
        char want[256];
        snprintf(want, sizeof want, MARK "=%s", mark);
        for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
            found |= strcmp(buf + i, want) == 0;
    }
    say("/proc/self/environ has it: %s\n", yesno(found));

    mode_t m = umask(0);
    say("umask: %03o\n", (unsigned)m);
    getrlimit(RLIMIT_NOFILE, &rl);
    say("RLIMIT_NOFILE soft limit: %llu\n", (unsigned long long)rl.rlim_cur);
    struct stat cwd_end;
    say("working directory unchanged: %s\n",
        yesno(stat(".", &cwd_end) == 0 && cwd_end.st_ino == cwd_start.st_ino &&
              cwd_end.st_dev == cwd_start.st_dev));
    char exe[4096];
    ssize_t e = readlink("/proc/self/exe", exe, sizeof exe - 1);
    note("identity: pid %d, exe %.*s\n", (int)getpid(), (int)(e > 0 ? e : 0), exe);
    say("done\n");
    return 5;
}
