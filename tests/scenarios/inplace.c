/* inplace: proves that files a program rewrites in place survive a restore, even when the
 * program ran on after the checkpoint (run-scenario.sh --run-on) and changed them again
 * before it was killed — the way a database updates its file and its rollback journal.
 *
 * table.dat (open read-write all along) holds 64 slots of 64 bytes. Each step is a small
 * transaction: journal.dat is created, gets the old contents of the slot, the slot is
 * rewritten in place, and the journal is closed and deleted; the step pauses in the middle,
 * so a checkpoint usually finds the journal open. Every line carries a hash of the whole
 * table as read back from the file, so contents that came back wrong show at once, and the
 * POSIX locks the process holds on the table (as the kernel lists them in fdinfo): a write
 * lock on the first slot and a read lock from the end of the table to the end of the file,
 * which a restored process must hold again.
 *
 * Usage: inplace [STEPS]   (default 120) */
#include "scenario.h"

#define SLOTS 64
#define SLOT_SIZE 64

static void read_exactly(int fd, void *buf, size_t len, off_t off)
{
    if (pread(fd, buf, len, off) != (ssize_t)len)
        fail("short read of %zu bytes at %lld\n", len, (long long)off);
}

static void write_exactly(int fd, const void *buf, size_t len, off_t off)
{
    if (pwrite(fd, buf, len, off) != (ssize_t)len)
        fail("short write of %zu bytes at %lld\n", len, (long long)off);
}

static void lock(int fd, short type, off_t start, off_t len)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    if (fcntl(fd, F_SETLK, &fl) != 0)
        fail("locking %lld+%lld: %s\n", (long long)start, (long long)len, strerror(errno));
}

/* "WRITE 0-63 READ 4096-EOF": the locks fdinfo lists for fd (pids and inodes left out). */
static void held_locks(int fd, char *out, size_t cap)
{
    char path[64], info[4096];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "r");
    if (!f)
        fail("%s: %s\n", path, strerror(errno));
    size_t n = 0;
    out[0] = 0;
    while (fgets(info, sizeof info, f)) {
        char type[16], start[32], end[32];
        if (sscanf(info, "lock: %*s %*s %*s %15s %*s %*s %31s %31s", type, start, end) == 3)
            n += (size_t)snprintf(out + n, cap - n, "%s%s %s-%s", n ? " " : "", type, start, end);
        if (n >= cap)
            fail("too many locks\n");
    }
    fclose(f);
}

static unsigned long long table_hash(int fd)
{
    char table[SLOTS * SLOT_SIZE];
    read_exactly(fd, table, sizeof table, 0);
    unsigned long long h = FNV_START;
    for (size_t i = 0; i < sizeof table; i += 8) {
        unsigned long long v;
        memcpy(&v, table + i, 8);
        h = fnv_mix(h, v);
    }
    return h;
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 120;
    scenario_started();
    int table = open("table.dat", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (table < 0)
        fail("table.dat: %s\n", strerror(errno));
    char slot[SLOT_SIZE];
    for (int i = 0; i < SLOTS; i++) {
        memset(slot, 'a' + i % 26, sizeof slot);
        write_exactly(table, slot, sizeof slot, (off_t)i * SLOT_SIZE);
    }
    lock(table, F_WRLCK, 0, SLOT_SIZE);
    lock(table, F_RDLCK, SLOTS * SLOT_SIZE, 0);
    char locks[256];
    for (long step = 1; step <= steps; step++) {
        off_t at = (off_t)((step * 37) % SLOTS) * SLOT_SIZE;
        int journal = open("journal.dat", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (journal < 0)
            fail("step %ld: journal.dat: %s\n", step, strerror(errno));
        read_exactly(table, slot, sizeof slot, at);
        write_exactly(journal, slot, sizeof slot, 0);
        pace(); /* in the middle of the transaction */
        char old[SLOT_SIZE];
        read_exactly(journal, old, sizeof old, 0);
        if (memcmp(old, slot, sizeof slot) != 0)
            fail("step %ld: the journal does not hold the old slot\n", step);
        snprintf(slot, sizeof slot, "step %ld slot %lld was %.8s", step, (long long)at, old);
        write_exactly(table, slot, sizeof slot, at);
        close(journal);
        if (unlink("journal.dat") != 0)
            fail("step %ld: deleting journal.dat: %s\n", step, strerror(errno));
        held_locks(table, locks, sizeof locks);
        say("step %ld table %016llx locks %s\n", step, table_hash(table), locks);
    }
    say("done: table %016llx\n", table_hash(table));
    return 0;
}
