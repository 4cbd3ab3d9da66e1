/* anonadvice: anonymous memory keeps the kernel's anonymous-memory meaning of madvise across
 * a restore — above all after restore-run --lazy, which maps it from the image file.
 *
 *  advice STEPS: a mapping of its own and a malloc'd block (glibc mmaps it) are filled with a
 *  pattern before the checkpoint. Each step clears one page of the mapping with
 *  MADV_DONTNEED, which must then read zeros (a file mapping would read the image's page
 *  again), while the pages not cleared yet keep their pattern; and gives one page of the
 *  block MADV_FREE, which must succeed (the kernel refuses it on a file mapping) and leave
 *  the page reading its pattern or zeros, then writes the pattern again.
 *  malloc-threads STEPS: two threads (glibc gives each an arena of its own, whose heap it
 *  shrinks with MADV_DONTNEED) allocate, calloc and free blocks of many sizes each step;
 *  every calloc'd block must read zeros; a checksum of the contents per step.
 * Each step prints one line: byte-identical to a run without a checkpoint. */
#include "scenario.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

#define PAGE 4096UL
#define MAPPED_PAGES 256
#define BLOCK_PAGES 128

static uint64_t pattern(uint64_t page, uint64_t word)
{
    return (page + 1) * 0x9e3779b97f4a7c15ULL ^ word * 0xd6e8feb86659fd93ULL;
}

static void fill_page(unsigned char *at, uint64_t page)
{
    uint64_t *w = (uint64_t *)at;
    for (size_t i = 0; i < PAGE / 8; i++)
        w[i] = pattern(page, i);
}

static int page_is_pattern(const unsigned char *at, uint64_t page)
{
    const uint64_t *w = (const uint64_t *)at;
    for (size_t i = 0; i < PAGE / 8; i++)
        if (w[i] != pattern(page, i))
            return 0;
    return 1;
}

static int page_is_zero(const unsigned char *at)
{
    const uint64_t *w = (const uint64_t *)at;
    for (size_t i = 0; i < PAGE / 8; i++)
        if (w[i])
            return 0;
    return 1;
}

static void advice(long steps)
{
    unsigned char *mapped =
        mmap(NULL, MAPPED_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *block = malloc(BLOCK_PAGES * PAGE + PAGE);
    if (mapped == MAP_FAILED || !block)
        fail("anonadvice: allocating: %s\n", strerror(errno));
    unsigned char *aligned = (unsigned char *)(((uintptr_t)block + PAGE - 1) & ~(PAGE - 1));
    for (uint64_t p = 0; p < MAPPED_PAGES; p++)
        fill_page(mapped + p * PAGE, p);
    for (uint64_t p = 0; p < BLOCK_PAGES; p++)
        fill_page(aligned + p * PAGE, p + MAPPED_PAGES);
    for (long step = 0; step < steps; step++) {
        uint64_t cleared = (uint64_t)step % MAPPED_PAGES;
        if (madvise(mapped + cleared * PAGE, PAGE, MADV_DONTNEED))
            fail("step %ld: MADV_DONTNEED: %s\n", step, strerror(errno));
        for (uint64_t p = 0; p < MAPPED_PAGES; p++) {
            int zero = p <= cleared && (long)p <= step;
            if (zero ? !page_is_zero(mapped + p * PAGE) : !page_is_pattern(mapped + p * PAGE, p))
                fail("step %ld: page %lu of the mapping does not read %s\n", step, (unsigned long)p,
                     zero ? "zeros after MADV_DONTNEED" : "its pattern");
        }
        uint64_t freed = (uint64_t)step % BLOCK_PAGES;
        unsigned char *at = aligned + freed * PAGE;
        if (madvise(at, PAGE, MADV_FREE))
            fail("step %ld: MADV_FREE: %s\n", step, strerror(errno));
        if (!page_is_zero(at) && !page_is_pattern(at, freed + MAPPED_PAGES))
            fail("step %ld: page %lu given MADV_FREE reads neither zeros nor its pattern\n", step,
                 (unsigned long)freed);
        fill_page(at, freed + MAPPED_PAGES);
        say("step %ld: page %lu reads zeros after MADV_DONTNEED, MADV_FREE ok\n", step,
            (unsigned long)cleared);
        pace();
    }
}

struct worker {
    uint64_t seed, sum;
};

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* One step of one thread: blocks up to 256 KiB (below glibc's mmap threshold, in the
 * thread's arena), half of them calloc'd, all freed at the end so that the arena's heap
 * shrinks. */
static void *churn(void *arg)
{
    struct worker *w = arg;
    enum { BLOCKS = 96 };
    unsigned char *blocks[BLOCKS];
    size_t sizes[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        sizes[i] = 64 + next(&w->seed) % (120 * 1024);
        int zeroed = i % 2;
        blocks[i] = zeroed ? calloc(1, sizes[i]) : malloc(sizes[i]);
        if (!blocks[i])
            fail("anonadvice: allocating %zu bytes\n", sizes[i]);
        for (size_t k = 0; zeroed && k < sizes[i]; k++)
            if (blocks[i][k])
                fail("anonadvice: a calloc'd block of %zu bytes reads %u at %zu\n", sizes[i],
                     blocks[i][k], k);
        memset(blocks[i], (int)(next(&w->seed) & 0xff), sizes[i]);
    }
    for (int i = 0; i < BLOCKS; i++) {
        for (size_t k = 0; k < sizes[i]; k += 997)
            w->sum = fnv_mix(w->sum, blocks[i][k]);
        free(blocks[i]);
    }
    return NULL;
}

static void malloc_threads(long steps)
{
    struct worker w[2] = {{0x2545f4914f6cdd1dULL, FNV_START}, {0x9e3779b97f4a7c15ULL, FNV_START}};
    for (long step = 0; step < steps; step++) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            if (pthread_create(&t[i], NULL, churn, &w[i]))
                fail("anonadvice: pthread_create\n");
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        say("step %ld: sums %016llx %016llx\n", step, (unsigned long long)w[0].sum,
            (unsigned long long)w[1].sum);
        pace();
    }
}

int main(int argc, char **argv)
{
    scenario_started();
    if (argc != 3)
        fail("usage: anonadvice advice|malloc-threads STEPS\n");
    long steps = atol(argv[2]);
    if (!strcmp(argv[1], "advice"))
        advice(steps);
    else if (!strcmp(argv[1], "malloc-threads"))
        malloc_threads(steps);
    else
        fail("anonadvice: unknown mode %s\n", argv[1]);
    return 0;
}
