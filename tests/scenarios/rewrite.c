/* rewrite: a program that keeps most of its memory and rewrites a little of it each step,
 * the workload incremental images are for (checkpoint-run --incremental).
 *  - a 16 MiB buffer filled once; each step rewrites 1% of its pages at places a fixed
 *    generator chooses, and clears one page with MADV_DONTNEED (it must read zeros after);
 *  - every 4th step a new 128 KiB mapping (made after the checkpoints started: stored whole
 *    and tracked from then on), every 6th step the oldest of them unmapped;
 *  - a few heap blocks (malloc) rewritten too.
 * Each step prints the step number and a checksum of everything; the end prints the totals.
 * Any page an image got wrong (a stale page, a page of zeros that should not be one) shows
 * in the next checksum.
 *
 * Usage: rewrite [STEPS [no-dontneed|huge|huge-dontneed]]   (default 60, 20 ms per step;
 * no-dontneed: no MADV_DONTNEED, for restore-run --lazy, whose mapped pages come back from
 * the image then; huge: the buffer in transparent huge pages (MADV_HUGEPAGE, 2 MiB
 * aligned), no MADV_DONTNEED, which would split them; huge-dontneed: both, some huge pages
 * split by the program itself) */
#include "scenario.h"

#include <stdint.h>
#include <sys/mman.h>

#define PAGE 4096UL
#define BIG_PAGES 4096UL /* 16 MiB */
#define SMALL_BYTES (128UL << 10)
#define SMALLS 8
#define HEAP_BLOCKS 16

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t sum_of(const void *p, size_t bytes, uint64_t h)
{
    const uint64_t *w = p;
    for (size_t i = 0; i < bytes / 8; i += 7) /* every 7th word: fast, still every page */
        h = fnv_mix(h, w[i]);
    return h;
}

static void fill_page(unsigned char *page, uint64_t seed)
{
    uint64_t *w = (uint64_t *)page;
    for (size_t i = 0; i < PAGE / 8; i++)
        w[i] = seed * 0xd6e8feb86659fd93ULL + i;
}

#define HUGE_PAGE (2UL << 20)

/* The big buffer, in huge pages if huge: 2 MiB aligned, MADV_HUGEPAGE before it is filled. */
static unsigned char *map_big(int huge)
{
    size_t len = BIG_PAGES * PAGE + (huge ? HUGE_PAGE : 0);
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        fail("mmap: %s\n", strerror(errno));
    if (!huge)
        return p;
    unsigned char *aligned = (unsigned char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
    if (aligned > p)
        munmap(p, (size_t)(aligned - p));
    if (aligned + BIG_PAGES * PAGE < p + len)
        munmap(aligned + BIG_PAGES * PAGE, (size_t)(p + len - aligned - BIG_PAGES * PAGE));
    if (madvise(aligned, BIG_PAGES * PAGE, MADV_HUGEPAGE) != 0)
        fail("madvise(MADV_HUGEPAGE): %s\n", strerror(errno));
    return aligned;
}

int main(int argc, char **argv)
{
    scenario_started();
    long steps = argc > 1 ? atol(argv[1]) : 60;
    const char *mode = argc > 2 ? argv[2] : "";
    int dontneed = strcmp(mode, "no-dontneed") && strcmp(mode, "huge");
    int huge = !strncmp(mode, "huge", 4);
    unsigned char *big = map_big(huge);
    unsigned char *small[SMALLS] = {0};
    unsigned char *heap[HEAP_BLOCKS];
    for (size_t p = 0; p < BIG_PAGES; p++)
        fill_page(big + p * PAGE, p);
    for (int i = 0; i < HEAP_BLOCKS; i++) {
        heap[i] = malloc(3 * PAGE);
        memset(heap[i], i + 1, 3 * PAGE);
    }
    size_t cleared = BIG_PAGES; /* the page last cleared, which must read zeros */
    for (long step = 1; step <= steps; step++) {
        if (cleared < BIG_PAGES)
            for (size_t i = 0; i < PAGE; i++)
                if (big[cleared * PAGE + i])
                    fail("step %ld: page %zu cleared with MADV_DONTNEED reads %u at %zu\n", step,
                         cleared, big[cleared * PAGE + i], i);
        for (size_t k = 0; k < BIG_PAGES / 100; k++) {
            size_t p = next_rand() % BIG_PAGES;
            fill_page(big + p * PAGE, next_rand());
        }
        cleared = next_rand() % BIG_PAGES;
        if (dontneed)
            madvise(big + cleared * PAGE, PAGE, MADV_DONTNEED);
        else
            cleared = BIG_PAGES;
        if (step % 4 == 0) {
            int slot = (int)(step / 4 % SMALLS);
            if (small[slot])
                munmap(small[slot], SMALL_BYTES);
            small[slot] =
                mmap(NULL, SMALL_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (small[slot] == MAP_FAILED)
                fail("mmap: %s\n", strerror(errno));
            for (size_t p = 0; p < SMALL_BYTES / PAGE; p++)
                fill_page(small[slot] + p * PAGE, next_rand());
        }
        if (step % 6 == 0) {
            int slot = (int)((step / 4 + 1) % SMALLS);
            if (small[slot])
                munmap(small[slot], SMALL_BYTES);
            small[slot] = NULL;
        }
        heap[step % HEAP_BLOCKS][next_rand() % (3 * PAGE)] ^= 0x5a;
        uint64_t h = sum_of(big, BIG_PAGES * PAGE, 14695981039346656037ULL);
        for (int i = 0; i < SMALLS; i++)
            h = small[i] ? sum_of(small[i], SMALL_BYTES, h) : fnv_mix(h, (uint64_t)i);
        for (int i = 0; i < HEAP_BLOCKS; i++)
            h = sum_of(heap[i], 3 * PAGE, h);
        say("step %ld checksum %016llx\n", step, (unsigned long long)h);
        pace();
    }
    say("done after %ld steps\n", steps);
    return 0;
}
