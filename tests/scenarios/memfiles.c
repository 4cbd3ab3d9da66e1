/* memfiles: proves that memfds, shared anonymous memory and deleted files held open come
 * back as one object each, with their contents, sizes, seals, offsets and flags, and that
 * what shared them still shares. Before its steps (a checkpoint comes during them):
 *   - memfd A ("ckpt-a", 64 KiB written through its descriptor) mapped twice MAP_SHARED,
 *     sealed F_SEAL_SHRINK | F_SEAL_GROW, and opened a second time read-only through
 *     /proc/self/fd (its own offset);
 *   - memfd B ("ckpt-b", 8 KiB) sealed F_SEAL_WRITE, mapped shared read-only;
 *   - memfd C ("ckpt-c", 4 KiB) mapped shared writable, then sealed F_SEAL_FUTURE_WRITE |
 *     F_SEAL_SEAL: the old mapping stays writable, write() and new writable maps are refused;
 *   - 16 KiB of MAP_SHARED | MAP_ANONYMOUS memory, mapped a second time with mremap (old
 *     size 0), and memfd D mapped twice and then closed: memory mapped twice, open nowhere;
 *   - memfd E of 16 MiB with one page written in the middle: sparse, it must stay so (a
 *     checkpoint reads no hole, a restore writes none);
 *   - a file of 1 MiB created, unlinked and held open read-write at an offset in the middle,
 *     and opened a second time O_WRONLY | O_APPEND.
 * Each step writes through one mapping of A and checks the other mapping and read() of A see
 * it, reads on through A's second description and the deleted file, appends to the deleted
 * file, and prints a hash of what it saw. After the steps: the seals, sizes, flags and
 * offsets, that the deleted file is in no directory (no link, on the file system of the
 * directory it was made in), that B still refuses writes, and that a forked child's writes
 * to the shared memory and to A's mapping reach the parent.
 *
 * Usage: memfiles [STEPS [KIB]]   (default 40 steps; the deleted file of KIB KiB, 1024)
 *        memfiles huge [STEPS]    a memfd of 5 GiB (sparse), more than a checkpoint stores of
 *                                 one: the checkpoint is refused naming it, the program runs
 *                                 on */
#include "scenario.h"

#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define A_SIZE (64 * 1024)
#define B_SIZE (8 * 1024)
#define C_SIZE 4096
#define E_SIZE (deleted_size * 16) /* 16 MiB by default */
#define SHM_SIZE (16 * 1024)
static size_t deleted_size = 1024 * 1024;

static int check(int rc, const char *what)
{
    if (rc < 0)
        fail("%s: %s\n", what, strerror(errno));
    return rc;
}

static void *map(size_t len, int prot, int flags, int fd)
{
    void *at = mmap(NULL, len, prot, flags, fd, 0);
    if (at == MAP_FAILED)
        fail("mmap: %s\n", strerror(errno));
    return at;
}

static unsigned char pattern(unsigned long i, unsigned seed)
{
    return (unsigned char)((i * 2654435761UL + seed) >> 11);
}

static void write_pattern(int fd, size_t len, unsigned seed)
{
    unsigned char *buf = malloc(len);
    if (!buf)
        fail("malloc\n");
    for (size_t i = 0; i < len; i++)
        buf[i] = pattern(i, seed);
    if (write(fd, buf, len) != (ssize_t)len)
        fail("write: %s\n", strerror(errno));
    free(buf);
}

static unsigned long long hash_bytes(unsigned long long h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = fnv_mix(h, p[i]);
    return h;
}

struct state {
    int a, a_reader, b, c, e, deleted, appender;
    unsigned char *a1, *a2, *b_map, *c_map, *shm, *shm2, *d1, *d2;
};

static void set_up(struct state *s)
{
    s->a = check(memfd_create("ckpt-a", MFD_ALLOW_SEALING), "memfd_create a");
    write_pattern(s->a, A_SIZE, 1);
    s->a1 = map(A_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->a);
    s->a2 = map(A_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->a);
    check(fcntl(s->a, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), "sealing a");
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", s->a);
    s->a_reader = check(open(link, O_RDONLY), "opening a again");

    s->b = check(memfd_create("ckpt-b", MFD_ALLOW_SEALING | MFD_CLOEXEC), "memfd_create b");
    write_pattern(s->b, B_SIZE, 2);
    check(fcntl(s->b, F_ADD_SEALS, F_SEAL_WRITE), "sealing b");
    s->b_map = map(B_SIZE, PROT_READ, MAP_SHARED, s->b);

    s->c = check(memfd_create("ckpt-c", MFD_ALLOW_SEALING), "memfd_create c");
    check(ftruncate(s->c, C_SIZE), "ftruncate c");
    s->c_map = map(C_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->c);
    check(fcntl(s->c, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL), "sealing c");

    s->shm = map(SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1);
    memset(s->shm, 0x5a, SHM_SIZE);
    s->shm2 = mremap(s->shm, 0, SHM_SIZE, MREMAP_MAYMOVE);
    if (s->shm2 == MAP_FAILED)
        fail("mremap: %s\n", strerror(errno));
    int d = check(memfd_create("ckpt-d", 0), "memfd_create d");
    check(ftruncate(d, C_SIZE), "ftruncate d");
    s->d1 = map(C_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, d);
    s->d2 = map(C_SIZE, PROT_READ, MAP_SHARED, d);
    close(d);

    s->e = check(memfd_create("ckpt-e", 0), "memfd_create e");
    check(ftruncate(s->e, (off_t)E_SIZE), "ftruncate e");
    check((int)pwrite(s->e, "sparse", 6, (off_t)E_SIZE / 2), "pwrite e");

    s->deleted = check(open("deleted.tmp", O_RDWR | O_CREAT | O_EXCL, 0640), "creating");
    write_pattern(s->deleted, deleted_size, 3);
    check(unlink("deleted.tmp"), "unlink");
    check((int)lseek(s->deleted, (off_t)deleted_size / 2 + 100, SEEK_SET), "lseek");
    snprintf(link, sizeof link, "/proc/self/fd/%d", s->deleted);
    s->appender = check(open(link, O_WRONLY | O_APPEND), "opening the deleted file again");
}

static void step(struct state *s, int i)
{
    /* A write through one mapping is seen through the other and through read(). */
    size_t at = ((size_t)i * 4099) % A_SIZE;
    s->a1[at] = (unsigned char)(i + 1);
    unsigned char byte = 0;
    if (s->a2[at] != (unsigned char)(i + 1) || pread(s->a, &byte, 1, (off_t)at) != 1 ||
        byte != (unsigned char)(i + 1))
        fail("step %d: a write through one mapping of memfd a is not seen everywhere\n", i);
    unsigned char buf[1000];
    unsigned long long h = hash_bytes(FNV_START, s->a2, A_SIZE);
    if (read(s->a_reader, buf, 100) != 100)
        fail("step %d: reading memfd a's second description\n", i);
    h = hash_bytes(h, buf, 100);
    if (read(s->deleted, buf, sizeof buf) != (ssize_t)sizeof buf)
        fail("step %d: reading the deleted file\n", i);
    h = hash_bytes(h, buf, sizeof buf);
    char line[16];
    int n = snprintf(line, sizeof line, "append %03d\n", i);
    if (write(s->appender, line, (size_t)n) != n)
        fail("step %d: appending to the deleted file: %s\n", i, strerror(errno));
    s->shm[i] = (unsigned char)i;
    s->c_map[i] = (unsigned char)(i + 7);
    if (pread(s->c, &byte, 1, i) != 1 || byte != (unsigned char)(i + 7))
        fail("step %d: a write through memfd c's mapping is not seen by read()\n", i);
    h = hash_bytes(h, s->c_map, C_SIZE);
    s->shm2[SHM_SIZE / 2 + i] = (unsigned char)(i + 3);
    s->d1[i] = (unsigned char)(i + 5);
    if (s->shm[SHM_SIZE / 2 + i] != (unsigned char)(i + 3) || s->d2[i] != (unsigned char)(i + 5))
        fail("step %d: memory mapped twice does not share its pages\n", i);
    h = hash_bytes(h, s->d2, C_SIZE);
    h = hash_bytes(h, s->shm, SHM_SIZE);
    h = hash_bytes(h, s->b_map, B_SIZE);
    say("step %d hash %016llx\n", i, h);
}

static long long size_of(int fd)
{
    struct stat st;
    check(fstat(fd, &st), "fstat");
    return (long long)st.st_size;
}

static void report(struct state *s)
{
    say("a seals %x size %lld offset %lld reader offset %lld\n", fcntl(s->a, F_GET_SEALS),
        size_of(s->a), (long long)lseek(s->a, 0, SEEK_CUR),
        (long long)lseek(s->a_reader, 0, SEEK_CUR));
    say("b seals %x size %lld cloexec %d write refused %s\n", fcntl(s->b, F_GET_SEALS),
        size_of(s->b), fcntl(s->b, F_GETFD) & FD_CLOEXEC,
        write(s->b, "x", 1) < 0 && errno == EPERM ? "yes" : "no");
    void *again = mmap(NULL, C_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->c, 0);
    say("c seals %x write refused %s new writable map refused %s\n", fcntl(s->c, F_GET_SEALS),
        write(s->c, "x", 1) < 0 && errno == EPERM ? "yes" : "no", yesno(again == MAP_FAILED));
    struct stat est;
    char sparse[8] = {0};
    check(fstat(s->e, &est), "fstat e");
    check((int)pread(s->e, sparse, 6, (off_t)E_SIZE / 2), "pread e");
    say("e size %lld holds %s, still sparse %s\n", (long long)est.st_size, sparse,
        yesno(est.st_blocks * 512 <= 64 * 1024));
    if (ftruncate(s->a, A_SIZE * 2) == 0 || errno != EPERM)
        fail("memfd a grew despite F_SEAL_GROW\n");
    char link[64], name[256];
    snprintf(link, sizeof link, "/proc/self/fd/%d", s->a);
    ssize_t n = readlink(link, name, sizeof name - 1);
    name[n > 0 ? n : 0] = 0;
    say("a is %s\n", name);
    struct stat st, dir;
    check(fstat(s->deleted, &st), "fstat deleted");
    check(stat(".", &dir), "stat .");
    say("deleted file size %lld links %lu same file system as its directory %s mode %o\n",
        (long long)st.st_size, (unsigned long)st.st_nlink, yesno(st.st_dev == dir.st_dev),
        st.st_mode & 07777);
    say("deleted offset %lld flags %s appender flags %s\n",
        (long long)lseek(s->deleted, 0, SEEK_CUR),
        (fcntl(s->deleted, F_GETFL) & O_ACCMODE) == O_RDWR ? "rdwr" : "other",
        fcntl(s->appender, F_GETFL) & O_APPEND ? "append" : "no append");
    if (access("deleted.tmp", F_OK) == 0)
        fail("the deleted file has a name again\n");
    /* The shared memory and memfd a's mapping are shared with a child too. */
    pid_t child = fork();
    if (child < 0)
        fail("fork: %s\n", strerror(errno));
    if (child == 0) {
        s->shm[SHM_SIZE - 1] = 0x77;
        s->a2[A_SIZE - 1] = 0x66;
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    say("child's writes seen: shared memory %s, memfd a through the other mapping %s\n",
        yesno(s->shm[SHM_SIZE - 1] == 0x77), yesno(s->a1[A_SIZE - 1] == 0x66));
}

/* A memfd larger than ckpt stores, and steps that use it. */
static int huge(int steps)
{
    int fd = check(memfd_create("ckpt-huge", 0), "memfd_create huge");
    check(ftruncate(fd, 5LL << 30), "ftruncate huge");
    scenario_started();
    for (int i = 0; i < steps; i++) {
        unsigned char byte = (unsigned char)i;
        if (pwrite(fd, &byte, 1, (off_t)i << 20) != 1)
            fail("pwrite: %s\n", strerror(errno));
        say("huge step %d size %lld\n", i, size_of(fd));
        pace();
    }
    say("done\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "huge") == 0)
        return huge(argc > 2 ? atoi(argv[2]) : 40);
    int steps = argc > 1 ? atoi(argv[1]) : 40;
    if (argc > 2)
        deleted_size = (size_t)atoi(argv[2]) * 1024;
    struct state s;
    set_up(&s);
    scenario_started();
    for (int i = 0; i < steps; i++) {
        step(&s, i);
        pace();
    }
    report(&s);
    say("done\n");
    return 0;
}
