/* bigmem: a program with a lot of memory for the image tests (tests/integrity). It fills
 * MIB mebibytes with a pattern (no page is zero, so every page goes into the image), says
 * "ready", then counts slowly: one line "tick N sum S" per step, where S re-reads the whole
 * pattern — a restored image with a wrong page would print a different sum.
 *
 * Usage: bigmem MIB STEPS */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static uint64_t sum_of(const uint64_t *words, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i += 512) /* one word per page */
        s = s * 31 + words[i];
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bigmem MIB STEPS\n");
        return 2;
    }
    size_t n = (size_t)atol(argv[1]) << 17; /* 64-bit words */
    long steps = atol(argv[2]);
    uint64_t *words = mmap(NULL, n * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (words == MAP_FAILED) {
        perror("bigmem: mmap");
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        words[i] = i * 0x9e3779b97f4a7c15ULL + 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready\n");
    for (long t = 1; t <= steps; t++) {
        words[(size_t)t * 512 % n] += (uint64_t)t;
        printf("tick %ld sum %016llx\n", t, (unsigned long long)sum_of(words, n));
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return 0;
}
