/* pipes: pipes the program made itself, with data in flight at every checkpoint.
 *
 * Usage: pipes selfpipe|closedwriter|closedreader|held|fifo|fifoheld [STEPS]
 *   selfpipe     a pipe of 128 KiB (F_SETPIPE_SZ) holding 40 KiB at every moment: each step
 *                writes the next 1000 bytes of a deterministic stream and reads 1000, so a
 *                lost, duplicated or reordered byte changes the printed hash. The read end
 *                is non-blocking and dup'ed to 9 (they must share: a read through one moves
 *                the other), the write end is close-on-exec, the read end not.
 *   closedwriter a pipe holding 10,000 bytes whose write end is closed: each step reads 100,
 *                then end of file.
 *   closedreader a pipe whose read end is closed: each write fails with EPIPE (SIGPIPE
 *                ignored), after a restore too.
 *   held         a pipe whose write end a grandchild holds (not a child: the checkpoint's
 *                refusal is about the pipe): refused at checkpoint, the program runs on.
 *   fifo         a FIFO made in the working directory (chan.fifo) and opened three times: a
 *                non-blocking read end, a close-on-exec write end, and a read-write
 *                descriptor; 128 KiB (F_SETPIPE_SZ) holding 40 KiB at every moment, each step
 *                writing 1000 bytes through the write end or the read-write one in turn and
 *                reading 1000 through the read end or the read-write one.
 *   fifoheld     chan.fifo with the program's read end and a write end a grandchild holds:
 *                refused at checkpoint, the program runs on. */
#include "scenario.h"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define IN_FLIGHT 40960
#define CHUNK 1000

static unsigned char stream_byte(unsigned long long i)
{
    return (unsigned char)((i * 2654435761ULL) >> 13);
}

static void write_stream(int fd, unsigned long long *next, size_t n)
{
    unsigned char buf[IN_FLIGHT];
    for (size_t k = 0; k < n; k++)
        buf[k] = stream_byte((*next)++);
    if (write(fd, buf, n) != (ssize_t)n)
        fail("write to the pipe: %s\n", strerror(errno));
}

/* Reads exactly n bytes (non-blocking: they must be there) and checks they are the next of
 * the stream. */
static unsigned long long read_stream(int fd, unsigned long long *next, size_t n,
                                      unsigned long long hash)
{
    unsigned char buf[CHUNK];
    ssize_t got = read(fd, buf, n);
    if (got != (ssize_t)n)
        fail("read %zd of %zu bytes from the pipe: %s\n", got, n, got < 0 ? strerror(errno) : "");
    for (size_t k = 0; k < n; k++) {
        if (buf[k] != stream_byte(*next))
            fail("byte %llu of the stream is wrong\n", *next);
        hash = fnv_mix(hash, buf[k]);
        (*next)++;
    }
    return hash;
}

static void check_selfpipe(int p[2], int dup_fd)
{
    int rflags = fcntl(p[0], F_GETFL), wflags = fcntl(p[1], F_GETFL);
    if (!(rflags & O_NONBLOCK) || (wflags & O_NONBLOCK))
        fail("pipe end flags: read %x write %x\n", rflags, wflags);
    if (fcntl(p[1], F_GETFD) != FD_CLOEXEC || fcntl(p[0], F_GETFD) != 0 ||
        fcntl(dup_fd, F_GETFD) != 0)
        fail("close-on-exec flags changed\n");
    if (fcntl(p[0], F_GETPIPE_SZ) != 131072)
        fail("pipe size is %d\n", fcntl(p[0], F_GETPIPE_SZ));
    int queued = -1;
    if (ioctl(p[0], FIONREAD, &queued) != 0 || queued != IN_FLIGHT)
        fail("%d bytes in the pipe, expected %d\n", queued, IN_FLIGHT);
}

static int selfpipe(long steps)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0 || fcntl(p[0], F_SETFD, 0) != 0 ||
        fcntl(p[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(p[0], F_SETPIPE_SZ, 131072) < 131072 ||
        dup2(p[0], 9) != 9)
        fail("making the pipe: %s\n", strerror(errno));
    unsigned long long wnext = 0, rnext = 0, hash = FNV_START;
    write_stream(p[1], &wnext, IN_FLIGHT);
    for (long i = 1; i <= steps; i++) {
        check_selfpipe(p, 9);
        write_stream(p[1], &wnext, CHUNK);
        hash = read_stream(i % 2 ? p[0] : 9, &rnext, CHUNK, hash);
        say("selfpipe step %ld read %llu hash %016llx\n", i, rnext, hash);
        pace();
    }
    return 0;
}

static int closedwriter(long steps)
{
    int p[2];
    if (pipe(p) != 0)
        fail("pipe: %s\n", strerror(errno));
    unsigned long long wnext = 0, rnext = 0, hash = FNV_START;
    write_stream(p[1], &wnext, 10000);
    close(p[1]);
    for (long i = 1; i <= steps; i++) {
        size_t n = rnext < 10000 ? 100 : 0;
        if (n)
            hash = read_stream(p[0], &rnext, n, hash);
        else if (read(p[0], (char[1]){0}, 1) != 0)
            fail("no end of file after the data\n");
        say("closedwriter step %ld read %llu %s hash %016llx\n", i, rnext, n ? "data" : "eof",
            hash);
        pace();
    }
    return 0;
}

static int closedreader(long steps)
{
    int p[2];
    signal(SIGPIPE, SIG_IGN);
    if (pipe(p) != 0)
        fail("pipe: %s\n", strerror(errno));
    close(p[0]);
    for (long i = 1; i <= steps; i++) {
        ssize_t n = write(p[1], "x", 1);
        say("closedreader step %ld write %zd %s\n", i, n, n < 0 ? strerror(errno) : "");
        pace();
    }
    return 0;
}

static int held(long steps)
{
    int p[2];
    if (pipe(p) != 0)
        fail("pipe: %s\n", strerror(errno));
    scenario_grandchild_holds(p[1], 0); /* POLLERR once no reader is left */
    close(p[1]);
    for (long i = 1; i <= steps; i++) {
        say("held step %ld\n", i);
        pace();
    }
    return 0;
}

#define FIFO_NAME "chan.fifo"

/* Makes chan.fifo anew in the working directory and opens its read end, not blocking. */
static int make_fifo_reader(void)
{
    if ((unlink(FIFO_NAME) != 0 && errno != ENOENT) || mkfifo(FIFO_NAME, 0600) != 0)
        fail("mkfifo %s: %s\n", FIFO_NAME, strerror(errno));
    int r = open(FIFO_NAME, O_RDONLY | O_NONBLOCK);
    if (r < 0)
        fail("open %s for reading: %s\n", FIFO_NAME, strerror(errno));
    return r;
}

static void check_fifo(int r, int w, int rw)
{
    int rflags = fcntl(r, F_GETFL), wflags = fcntl(w, F_GETFL), rwflags = fcntl(rw, F_GETFL);
    if ((rflags & (O_ACCMODE | O_NONBLOCK)) != (O_RDONLY | O_NONBLOCK) ||
        (wflags & (O_ACCMODE | O_NONBLOCK)) != O_WRONLY ||
        (rwflags & (O_ACCMODE | O_NONBLOCK)) != (O_RDWR | O_NONBLOCK))
        fail("FIFO end flags: read %x write %x read-write %x\n", rflags, wflags, rwflags);
    if (fcntl(w, F_GETFD) != FD_CLOEXEC || fcntl(r, F_GETFD) != 0 || fcntl(rw, F_GETFD) != 0)
        fail("close-on-exec flags changed\n");
    if (fcntl(rw, F_GETPIPE_SZ) != 131072)
        fail("FIFO size is %d\n", fcntl(rw, F_GETPIPE_SZ));
    int queued = -1;
    if (ioctl(r, FIONREAD, &queued) != 0 || queued != IN_FLIGHT)
        fail("%d bytes in the FIFO, expected %d\n", queued, IN_FLIGHT);
    struct stat a, b;
    if (stat(FIFO_NAME, &a) != 0 || fstat(r, &b) != 0 || a.st_ino != b.st_ino ||
        a.st_dev != b.st_dev || !S_ISFIFO(b.st_mode))
        fail("%s is no longer the FIFO of descriptor %d\n", FIFO_NAME, r);
}

static int fifo(long steps)
{
    int r = make_fifo_reader();
    int w = open(FIFO_NAME, O_WRONLY | O_CLOEXEC);
    int rw = open(FIFO_NAME, O_RDWR | O_NONBLOCK);
    if (w < 0 || rw < 0 || fcntl(w, F_SETPIPE_SZ, 131072) < 131072)
        fail("opening %s: %s\n", FIFO_NAME, strerror(errno));
    unsigned long long wnext = 0, rnext = 0, hash = FNV_START;
    write_stream(w, &wnext, IN_FLIGHT);
    for (long i = 1; i <= steps; i++) {
        check_fifo(r, w, rw);
        write_stream(i % 2 ? w : rw, &wnext, CHUNK);
        hash = read_stream(i % 3 ? r : rw, &rnext, CHUNK, hash);
        say("fifo step %ld read %llu hash %016llx\n", i, rnext, hash);
        pace();
    }
    unlink(FIFO_NAME);
    return 0;
}

static int fifoheld(long steps)
{
    int r = make_fifo_reader();
    int w = open(FIFO_NAME, O_WRONLY);
    if (w < 0)
        fail("open %s for writing: %s\n", FIFO_NAME, strerror(errno));
    scenario_grandchild_holds(w, 0); /* POLLERR once no reader is left */
    close(w);
    for (long i = 1; i <= steps; i++) {
        say("fifoheld step %ld\n", i);
        pace();
    }
    close(r);
    unlink(FIFO_NAME);
    return 0;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    long steps = argc > 2 ? atol(argv[2]) : 60;
    scenario_started();
    int rc;
    if (strcmp(what, "selfpipe") == 0)
        rc = selfpipe(steps);
    else if (strcmp(what, "closedwriter") == 0)
        rc = closedwriter(steps);
    else if (strcmp(what, "closedreader") == 0)
        rc = closedreader(steps);
    else if (strcmp(what, "held") == 0)
        rc = held(steps);
    else if (strcmp(what, "fifo") == 0)
        rc = fifo(steps);
    else if (strcmp(what, "fifoheld") == 0)
        rc = fifoheld(steps);
    else
        fail("usage: pipes selfpipe|closedwriter|closedreader|held|fifo|fifoheld [STEPS]\n");
    say("%s done\n", what);
    return rc;
}
