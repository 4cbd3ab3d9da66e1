/* manyfds: a program with more descriptors than one checkpoint once compared for sharing
 * (tests/integrity, kind manyfds). It opens FILE for writing at descriptor 3, fills the
 * numbers up to N - 1 with /dev/null, and makes descriptor N * 3 / 4 a dup of 3: one open
 * file description, one offset. Then it counts slowly, writing each step through 3 and
 * the dup in turn, and prints both offsets: a restore that gave the dup an open file of
 * its own would print offsets that no longer move together.
 *
 * Usage: manyfds FILE N STEPS   (raises its soft RLIMIT_NOFILE to N + 16, within the hard) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what)
{
    perror(what);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: manyfds FILE N STEPS\n");
        return 2;
    }
    int n = atoi(argv[2]), far = n * 3 / 4;
    long steps = atol(argv[3]);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = (rlim_t)n + 16;
    if (n < 8 || setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return fail("manyfds: raising RLIMIT_NOFILE");
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (fd != 3 && (dup2(fd, 3) < 0 || close(fd) < 0)))
        return fail("manyfds: opening FILE at 3");
    for (int i = 4; i < n; i++)
        if (open("/dev/null", O_RDONLY | O_CLOEXEC) != i)
            return fail("manyfds: filling the numbers with /dev/null");
    if (dup2(3, far) != far) /* in place of its /dev/null */
        return fail("manyfds: dup2");
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready, descriptor %d shares 3\n", far);
    for (long t = 1; t <= steps; t++) {
        char line[64];
        int len = snprintf(line, sizeof line, "step %ld\n", t);
        if (write(t % 2 ? 3 : far, line, (size_t)len) != len)
            return fail("manyfds: write");
        printf("step %ld offsets %ld %ld\n", t, (long)lseek(3, 0, SEEK_CUR),
               (long)lseek(far, 0, SEEK_CUR));
        nanosleep(&(struct timespec){0, 20000000}, NULL);
    }
    return 0;
}
