/* hash-throughput: how fast ck_hash64 (XXH64, state/hash.c, built with the same flags as
 * the checkpoint handler's code) checksums page data, against how fast the same bytes are
 * merely copied — the checkpoint's own minimum cost per byte. A benchmark, not a test:
 * it prints figures and asserts nothing.
 *
 * Usage: hash-throughput [MIB]   (default 256) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256, len = mib << 20;
    unsigned char *a = malloc(len), *b = malloc(len);
    if (!a || !b || !mib) {
        fprintf(stderr, "hash-throughput: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < len; i++)
        a[i] = (unsigned char)(i * 131 + (i >> 12) + (i >> 20));
    memcpy(b, a, len); /* touch every page of both */
    double best_hash = 1e9, best_copy = 1e9;
    uint64_t sink = 0;
    for (int round = 0; round < 5; round++) {
        double t0 = seconds();
        for (size_t off = 0; off < len; off += 1 << 20) /* 1 MiB runs, like large regions */
            sink = sink * 31 + ck_hash64(a + off, 1 << 20);
        double t1 = seconds();
        memcpy(b, a, len);
        double t2 = seconds();
        best_hash = t1 - t0 < best_hash ? t1 - t0 : best_hash;
        best_copy = t2 - t1 < best_copy ? t2 - t1 : best_copy;
    }
    printf("XXH64 over %zu MiB: %.2f GB/s; memcpy of the same: %.2f GB/s (checksum %016llx)\n", mib,
           (double)len / best_hash / 1e9, (double)len / best_copy / 1e9, (unsigned long long)sink);
    free(a);
    free(b);
    return 0;
}
