/* manymaps: a program with many memory mappings for the descriptor-limit tests
 * (tests/integrity). It maps page i % 4 of FILE at N separate places (neighbours never merge:
 * their file offsets do not follow on), says "ready", then counts slowly: one line per step
 * with its RLIMIT_NOFILE (soft and hard, as the restored program must have them back) and
 * a sum over every mapping, which a mapping restored wrongly would change.
 *
 * Usage: manymaps FILE N STEPS   (FILE of at least 4 pages) */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: manymaps FILE N STEPS\n");
        return 2;
    }
    long n = atol(argv[2]), steps = atol(argv[3]);
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror("manymaps: open");
        return 1;
    }
    const unsigned char **maps = calloc((size_t)n, sizeof *maps);
    /* One reservation, then the file over every other page of it: the gaps keep the
     * mappings apart, and they lie where nothing else goes. */
    unsigned char *area =
        mmap(NULL, (size_t)n * 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!maps || area == MAP_FAILED) {
        perror("manymaps: reserving");
        return 1;
    }
    munmap(area, (size_t)n * 2 * PAGE);
    for (long i = 0; i < n; i++) {
        maps[i] =
            mmap(area + i * 2 * PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, (i % 4) * PAGE);
        if (maps[i] == MAP_FAILED) {
            perror("manymaps: mmap");
            return 1;
        }
    }
    close(fd);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready\n");
    for (long t = 1; t <= steps; t++) {
        uint64_t sum = 0;
        for (long i = 0; i < n; i++)
            sum = sum * 31 + maps[i][(t * 7 + i) % PAGE];
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        printf("step %ld nofile %lu %lu sum %016llx\n", t, (unsigned long)rl.rlim_cur,
               (unsigned long)rl.rlim_max, (unsigned long long)sum);
        nanosleep(&(struct timespec){0, 20000000}, NULL);
    }
    return 0;
}
