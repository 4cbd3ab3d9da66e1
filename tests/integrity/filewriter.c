/* filewriter: a program whose files restore-run must write to — and nowhere else. In the
 * current directory it keeps data.rw open read-write (KIB KiB, one slot rewritten in place
 * per step, so its contents are stored in the image and written back at restore) and
 * out.log open write-only (one line appended per step, cut back at restore), and prints
 * "step N" on stdout. With --lock it holds a POSIX write lock on the first byte of data.rw.
 * With --shrink K it cuts data.rw to nothing at step K (as sqlite resets a journal), so
 * that putting its contents back needs space again. If in.txt exists it is kept open
 * read-only and its first line goes into every line of out.log.
 *
 * Usage: filewriter [--lock] [--shrink K] STEPS KIB */
#include "../scenarios/scenario.h"

#define SLOT 64

static void write_exactly(int fd, const void *buf, size_t len, off_t off)
{
    if (pwrite(fd, buf, len, off) != (ssize_t)len)
        fail("short write of %zu bytes at %lld: %s\n", len, (long long)off, strerror(errno));
}

static int open_data(long kib)
{
    int fd = open("data.rw", O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        fail("data.rw: %s\n", strerror(errno));
    char block[1024];
    for (long k = 0; k < kib; k++) {
        memset(block, 'a' + (int)(k % 26), sizeof block);
        write_exactly(fd, block, sizeof block, (off_t)k * 1024);
    }
    return fd;
}

int main(int argc, char **argv)
{
    int lock = 0;
    long shrink_at = -1;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--lock"))
            lock = 1;
        else if (!strcmp(argv[i], "--shrink") && i + 1 < argc)
            shrink_at = atol(argv[++i]);
        else
            fail("usage: filewriter [--lock] [--shrink K] STEPS KIB\n");
    }
    if (argc - i != 2)
        fail("usage: filewriter [--lock] [--shrink K] STEPS KIB\n");
    long steps = atol(argv[i]), kib = atol(argv[i + 1]);
    scenario_started();
    int data = open_data(kib);
    int log = open("out.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (log < 0)
        fail("out.log: %s\n", strerror(errno));
    int in = open("in.txt", O_RDONLY | O_CLOEXEC); /* read at each step when there is one */
    if (lock) {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
        if (fcntl(data, F_SETLK, &fl) != 0)
            fail("locking data.rw: %s\n", strerror(errno));
    }
    for (long step = 1; step <= steps; step++) {
        if (step == shrink_at && ftruncate(data, 0) != 0)
            fail("cutting data.rw: %s\n", strerror(errno));
        char slot[SLOT];
        memset(slot, ' ', sizeof slot);
        int n = snprintf(slot, sizeof slot, "slot written at step %ld", step);
        slot[n] = ' ';
        slot[SLOT - 1] = '\n';
        if (step < shrink_at || shrink_at < 0)
            write_exactly(data, slot, sizeof slot, (off_t)(step % (kib * 1024 / SLOT)) * SLOT);
        char first[16] = "";
        if (in >= 0 && pread(in, first, sizeof first - 1, 0) < 0)
            fail("reading in.txt: %s\n", strerror(errno));
        dprintf(log, "log line %ld%s%.*s\n", step, first[0] ? " " : "", (int)strcspn(first, "\n"),
                first);
        say("step %ld\n", step);
        pace();
    }
    return 0;
}
