/* devices: proves that character devices the program opened come back with their flags
 * and behave: before its steps it opens /dev/null (write-only with O_APPEND, and read-only,
 * and a dup), /dev/zero (O_NONBLOCK), /dev/full (read-write), /dev/random and
 * /dev/urandom (close-on-exec); after them (the checkpoint comes during them) it prints
 * each one's flags and device number and uses it: /dev/null swallows a write and reads end
 * of file, /dev/zero and /dev/full read zeros, a write to /dev/full fails with ENOSPC,
 * /dev/random and /dev/urandom give the bytes asked for.
 *
 * Usage: devices [STEPS]       (default 20)
 *        devices tty [STEPS]   /dev/tty opened write-only and non-blocking: after the steps
 *                              it is still the controlling terminal (its session is the
 *                              program's), with its flags, named /dev/tty. Run it under a
 *                              terminal (script -qc), and restore it under one too
 *        devices ptmx [STEPS]  a pseudo-terminal master of its own: the checkpoint must be
 *                              refused naming it
 *        devices kmsg [STEPS]  /dev/kmsg (the kernel's log: a device with state, a reader's
 *                              position), which ckpt does not restore: the checkpoint must be
 *                              refused naming it (root: nobody may not open it) */
#include "scenario.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>

static int check(int rc, const char *what)
{
    if (rc < 0)
        fail("%s: %s\n", what, strerror(errno));
    return rc;
}

struct device {
    const char *path;
    int flags;
    int fd;
};

/* What the program can see of descriptor fd: its flags and the device it is. */
static void describe(const char *name, int fd)
{
    int fl = check(fcntl(fd, F_GETFL), "F_GETFL");
    int fdfl = check(fcntl(fd, F_GETFD), "F_GETFD");
    struct stat st;
    check(fstat(fd, &st), "fstat");
    say("%s: %s%s%s%s, device %u:%u\n", name,
        (fl & O_ACCMODE) == O_RDONLY   ? "read-only"
        : (fl & O_ACCMODE) == O_WRONLY ? "write-only"
                                       : "read-write",
        fl & O_APPEND ? ", append" : "", fl & O_NONBLOCK ? ", non-blocking" : "",
        fdfl & FD_CLOEXEC ? ", close-on-exec" : "", major(st.st_rdev), minor(st.st_rdev));
}

static void use_devices(const struct device *d, int dup_of_null)
{
    char buf[64];
    memset(buf, 'x', sizeof buf);
    say("/dev/null write: %zd\n", write(d[0].fd, buf, sizeof buf));
    say("/dev/null read: %zd\n", read(d[1].fd, buf, sizeof buf));
    say("/dev/null dup shares flags: %s\n",
        yesno(fcntl(dup_of_null, F_GETFL) == fcntl(d[0].fd, F_GETFL)));
    ssize_t n = read(d[2].fd, buf, sizeof buf);
    say("/dev/zero read: %zd, zeros %s\n", n,
        yesno(n == sizeof buf && !memcmp(buf, (char[64]){0}, 64)));
    memset(buf, 'x', sizeof buf);
    n = read(d[3].fd, buf, sizeof buf);
    say("/dev/full read: %zd, zeros %s\n", n,
        yesno(n == sizeof buf && !memcmp(buf, (char[64]){0}, 64)));
    n = write(d[3].fd, "abc", 3);
    say("/dev/full write: %zd (%s)\n", n, n < 0 ? strerror(errno) : "written");
    say("/dev/random read: %zd\n", read(d[4].fd, buf, 16));
    say("/dev/urandom read: %zd\n", read(d[5].fd, buf, sizeof buf));
}

static void devices(long steps)
{
    struct device d[] = {
        {"/dev/null", O_WRONLY | O_APPEND, -1},
        {"/dev/null", O_RDONLY, -1},
        {"/dev/zero", O_RDONLY | O_NONBLOCK, -1},
        {"/dev/full", O_RDWR, -1},
        {"/dev/random", O_RDONLY, -1},
        {"/dev/urandom", O_RDONLY | O_CLOEXEC, -1},
    };
    size_t n = sizeof d / sizeof d[0];
    for (size_t i = 0; i < n; i++)
        d[i].fd = check(open(d[i].path, d[i].flags), d[i].path);
    int dup_of_null = check(dup2(d[0].fd, 20), "dup2");
    for (long i = 1; i <= steps; i++) {
        say("devices step %ld\n", i);
        pace();
    }
    for (size_t i = 0; i < n; i++)
        describe(d[i].path, d[i].fd);
    use_devices(d, dup_of_null);
}

static void controlling_terminal(long steps)
{
    int fd = check(open("/dev/tty", O_WRONLY | O_NONBLOCK | O_CLOEXEC), "/dev/tty");
    for (long i = 1; i <= steps; i++) {
        say("tty step %ld\n", i);
        pace();
    }
    describe("/dev/tty", fd);
    char link[64], path[256];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, path, sizeof path - 1);
    path[len > 0 ? len : 0] = 0;
    say("/dev/tty: named %s, a terminal %s, the controlling terminal %s\n", path, yesno(isatty(fd)),
        yesno(tcgetsid(fd) == getsid(0)));
    say("/dev/tty write: %zd\n", write(fd, "\r", 1));
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 && (!strcmp(argv[1], "tty") || !strcmp(argv[1], "ptmx") ||
                                    !strcmp(argv[1], "kmsg"))
                           ? argv[1]
                           : "";
    long steps = argc > 1 + (*mode != 0) ? atol(argv[1 + (*mode != 0)]) : 20;
    scenario_started();
    if (!strcmp(mode, "tty")) {
        controlling_terminal(steps);
    } else if (*mode) {
        int fd = !strcmp(mode, "ptmx")
                     ? check(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), "posix_openpt")
                     : check(open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC), "/dev/kmsg");
        for (long i = 1; i <= steps; i++) {
            say("%s step %ld\n", mode, i);
            pace();
        }
        describe(mode, fd);
    } else {
        devices(steps);
    }
    say("done\n");
    return 0;
}
