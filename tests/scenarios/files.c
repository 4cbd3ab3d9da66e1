/* files: proves that regular files come back at the right offsets after a restore.
 *  - a writer appends numbered lines to files.log (O_APPEND|O_CLOEXEC): after restore every
 *    line appears exactly once (the restorer cut the log back to its size at checkpoint);
 *  - a reader consumes input.txt through two descriptors sharing one open file description
 *    (dup), alternating between them, and a third descriptor with its own offset reads the
 *    second half: after restore both offsets continue where they were;
 *  - a directory descriptor and /dev/null still work, flags (O_APPEND, FD_CLOEXEC) kept.
 * The program checks its own log at the end; the driver also compares files.log and stdout
 * byte for byte with an uninterrupted run.
 *
 * Usage: files --prepare      (create input.txt in the current directory)
 *        files [STEPS]        (default 100, 20 ms per step) */
#include "scenario.h"

#include <fcntl.h>

#define RECORDS 400
#define REC_LEN INPUT_RECORD_LEN
#define SECOND_HALF 200

static void prepare(void)
{
    scenario_make_input("input.txt", RECORDS);
}

static void read_record(int fd, char *rec, const char *which)
{
    ssize_t n = read(fd, rec, REC_LEN);
    if (n != REC_LEN)
        fail("short read from %s: %zd\n", which, n);
    rec[REC_LEN - 1] = '\0'; /* drop the newline */
}

static int verify_log(long steps)
{
    int fd = open("files.log", O_RDONLY);
    if (fd < 0)
        fail("reopen files.log: %s\n", strerror(errno));
    static char buf[1 << 16];
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len < 0)
        fail("read files.log\n");
    buf[len] = '\0';
    long expect = 1;
    for (char *line = buf; *line; expect++) {
        char *nl = strchr(line, '\n');
        if (!nl) {
            say("log: line %ld is incomplete\n", expect);
            return 0;
        }
        long got = strtol(line + 5, NULL, 10); /* "line NNN: ..." */
        if (got != expect) {
            say("log: line %ld has number %ld\n", expect, got);
            return 0;
        }
        line = nl + 1;
    }
    if (expect - 1 != steps) {
        say("log: %ld lines, expected %ld\n", expect - 1, steps);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--prepare") == 0) {
        prepare();
        return 0;
    }
    long steps = argc > 1 ? atol(argv[1]) : 100;
    scenario_started();

    int log = open("files.log", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    int in = open("input.txt", O_RDONLY);
    int in_dup = dup(in);
    int in_far = open("input.txt", O_RDONLY);
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    int null = open("/dev/null", O_WRONLY);
    if (log < 0 || in < 0 || in_dup < 0 || in_far < 0 || dir < 0 || null < 0)
        fail("open: %s\n", strerror(errno));
    if (lseek(in_far, (off_t)SECOND_HALF * REC_LEN, SEEK_SET) < 0)
        fail("lseek\n");

    for (long i = 1; i <= steps; i++) {
        char a[REC_LEN], b[REC_LEN], line[128];
        read_record(i % 2 ? in : in_dup, a, "shared descriptor");
        read_record(in_far, b, "independent descriptor");
        int n = snprintf(line, sizeof line, "line %03ld: %s | %s\n", i, a, b);
        scenario_write_all(log, line, (size_t)n);
        say("step %ld: shared offset %lld, independent offset %lld\n", i,
            (long long)lseek(in, 0, SEEK_CUR), (long long)lseek(in_far, 0, SEEK_CUR));
        pace();
    }

    say("shared offsets agree: %s\n", yesno(lseek(in, 0, SEEK_CUR) == lseek(in_dup, 0, SEEK_CUR)));
    say("shared offset at record %lld\n", (long long)lseek(in, 0, SEEK_CUR) / REC_LEN);
    say("independent offset at record %lld\n", (long long)lseek(in_far, 0, SEEK_CUR) / REC_LEN);
    say("log keeps O_APPEND: %s\n", yesno(fcntl(log, F_GETFL) & O_APPEND));
    say("log keeps FD_CLOEXEC: %s\n", yesno(fcntl(log, F_GETFD) & FD_CLOEXEC));
    say("input has no FD_CLOEXEC: %s\n", yesno(!(fcntl(in, F_GETFD) & FD_CLOEXEC)));
    say("directory descriptor works: %s\n", yesno(faccessat(dir, "input.txt", R_OK, 0) == 0));
    say("/dev/null descriptor works: %s\n", yesno(write(null, "x", 1) == 1));
    say("log verified, every line exactly once: %s\n", yesno(verify_log(steps)));
    say("done after %ld steps\n", steps);
    return 0;
}
