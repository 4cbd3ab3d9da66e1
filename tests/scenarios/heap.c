/* heap: proves that malloc keeps working across a restore and that the restored process can
 * grow its heap by hundreds of MiB afterwards.
 *  Phase 1 (paced, the checkpoint happens here): malloc/free churn over 64 slots with small
 *  blocks (brk heap) and some large ones (mmap'd chunks), every block filled with a pattern
 *  and verified before it is freed.
 *  Phase 2 (after the checkpoint): verify and free the phase-1 blocks, then allocate
 *  160 MiB in 64 KiB blocks — which must come from brk, so the kernel's brk must have been
 *  restored — and 160 MiB in 20 MiB blocks, which must be mmap'd outside the brk heap;
 *  fill, verify, print checksums, free, and trim the heap back.
 * The mmap threshold is fixed (mallopt) so where glibc puts a block is deterministic.
 *
 * Usage: heap [PHASE1_STEPS]   (default 60, 20 ms per step) */
#include "scenario.h"

#include <malloc.h>
#include <stdint.h>

#define SLOTS 64
#define MiB (1024UL * 1024UL)
#define SMALL_SIZE (64 * 1024UL)
#define SMALL_TOTAL (160 * MiB)
#define LARGE_SIZE (20 * MiB)
#define LARGE_TOTAL (160 * MiB)

static uint64_t rng = 0x2545f4914f6cdd1dULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static inline uint64_t pattern_word(uint64_t seed, size_t k)
{
    return (seed * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)k * 0xd6e8feb86659fd93ULL);
}

static void fill(void *p, size_t size, uint64_t seed)
{
    uint64_t *w = p;
    for (size_t k = 0; k < size / 8; k++)
        w[k] = pattern_word(seed, k);
}

/* Verifies the pattern and returns a checksum of the contents. */
static uint64_t check(const void *p, size_t size, uint64_t seed, const char *what)
{
    const uint64_t *w = p;
    uint64_t sum = seed;
    for (size_t k = 0; k < size / 8; k++) {
        if (w[k] != pattern_word(seed, k))
            fail("%s: block seed %llu corrupt at word %zu\n", what, (unsigned long long)seed, k);
        sum = sum * 31 + w[k];
    }
    return sum;
}

struct slot {
    void *p;
    size_t size;
    uint64_t seed;
};
static struct slot slots[SLOTS];

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 60;
    scenario_started();
    if (!mallopt(M_MMAP_THRESHOLD, 128 * 1024) || !mallopt(M_TRIM_THRESHOLD, 256 * 1024))
        fail("mallopt\n");
    char *heap_start = sbrk(0);
    uint64_t seed_counter = 1;
    uint64_t churn_sum = 0;

    /* A large block allocated before the checkpoint and freed after it (munmap of a
     * restored region). */
    size_t early_size = 3 * MiB;
    void *early = malloc(early_size);
    uint64_t early_seed = seed_counter++;
    if (!early)
        fail("malloc early\n");
    fill(early, early_size, early_seed);

    for (long i = 1; i <= steps; i++) {
        size_t live = 0, bytes = 0;
        for (int j = 0; j < 8; j++) {
            struct slot *s = &slots[next_rand() % SLOTS];
            if (s->p) {
                churn_sum += check(s->p, s->size, s->seed, "phase 1");
                free(s->p);
                s->p = NULL;
            } else {
                uint64_t r = next_rand();
                s->size = (r % 16 == 0) ? (256 * 1024 + (r >> 8) % (2 * MiB)) & ~7UL
                                        : (16 + (r >> 8) % 4096) & ~7UL;
                s->seed = seed_counter++;
                s->p = malloc(s->size);
                if (!s->p)
                    fail("malloc %zu\n", s->size);
                fill(s->p, s->size, s->seed);
            }
        }
        for (int k = 0; k < SLOTS; k++)
            if (slots[k].p) {
                live++;
                bytes += slots[k].size;
            }
        say("churn step %ld: %zu blocks live, %zu bytes, checksum %016llx\n", i, live, bytes,
            (unsigned long long)churn_sum);
        pace();
    }

    /* Phase 2: the checkpoint is behind us. */
    uint64_t sum = 0;
    for (int k = 0; k < SLOTS; k++)
        if (slots[k].p) {
            sum += check(slots[k].p, slots[k].size, slots[k].seed, "phase 1 survivor");
            free(slots[k].p);
            slots[k].p = NULL;
        }
    sum += check(early, early_size, early_seed, "early large block");
    free(early);
    say("phase 1 blocks intact, checksum %016llx\n", (unsigned long long)sum);

    char *brk_before = sbrk(0);
    size_t nsmall = SMALL_TOTAL / SMALL_SIZE, nlarge = LARGE_TOTAL / LARGE_SIZE;
    void **small = calloc(nsmall, sizeof *small);
    void **large = calloc(nlarge, sizeof *large);
    if (!small || !large)
        fail("calloc\n");
    for (size_t k = 0; k < nsmall; k++) {
        if (!(small[k] = malloc(SMALL_SIZE)))
            fail("small malloc %zu\n", k);
        fill(small[k], SMALL_SIZE, 1000000 + k);
    }
    for (size_t k = 0; k < nlarge; k++) {
        if (!(large[k] = malloc(LARGE_SIZE)))
            fail("large malloc %zu\n", k);
        fill(large[k], LARGE_SIZE, 2000000 + k);
    }
    char *brk_after = sbrk(0);
    say("allocated %zu x %lu KiB and %zu x %lu MiB\n", nsmall, SMALL_SIZE / 1024, nlarge,
        LARGE_SIZE / MiB);
    /* A little of the small blocks may reuse free space below the old break. */
    say("brk heap grew by at least %lu MiB: %s\n", SMALL_TOTAL / MiB - 8,
        yesno((size_t)(brk_after - brk_before) >= SMALL_TOTAL - 8 * MiB));
    note("heap: brk grew by %zu bytes\n", (size_t)(brk_after - brk_before));
    int small_in_brk = 1, large_outside = 1;
    for (size_t k = 0; k < nsmall; k++)
        small_in_brk &= (char *)small[k] >= heap_start && (char *)small[k] < brk_after;
    for (size_t k = 0; k < nlarge; k++)
        large_outside &=
            (char *)large[k] + LARGE_SIZE <= brk_before || (char *)large[k] >= brk_after;
    say("small blocks inside the brk heap: %s\n", yesno(small_in_brk));
    say("large blocks mmap'd outside the brk heap: %s\n", yesno(large_outside));

    uint64_t small_sum = 0, large_sum = 0;
    for (size_t k = 0; k < nsmall; k++)
        small_sum += check(small[k], SMALL_SIZE, 1000000 + k, "small block");
    for (size_t k = 0; k < nlarge; k++)
        large_sum += check(large[k], LARGE_SIZE, 2000000 + k, "large block");
    say("small blocks verified, checksum %016llx\n", (unsigned long long)small_sum);
    say("large blocks verified, checksum %016llx\n", (unsigned long long)large_sum);

    /* Free every other small block and reuse the holes. */
    for (size_t k = 0; k < nsmall; k += 2) {
        free(small[k]);
        if (!(small[k] = malloc(SMALL_SIZE / 2)))
            fail("reuse malloc\n");
        fill(small[k], SMALL_SIZE / 2, 3000000 + k);
    }
    uint64_t reuse_sum = 0;
    for (size_t k = 0; k < nsmall; k++)
        reuse_sum += k % 2 ? check(small[k], SMALL_SIZE, 1000000 + k, "kept block")
                           : check(small[k], SMALL_SIZE / 2, 3000000 + k, "reused block");
    say("after reuse all blocks verified, checksum %016llx\n", (unsigned long long)reuse_sum);

    for (size_t k = 0; k < nsmall; k++)
        free(small[k]);
    for (size_t k = 0; k < nlarge; k++)
        free(large[k]);
    free(small);
    free(large);
    malloc_trim(0);
    char *brk_end = sbrk(0);
    say("heap trimmed back below its peak: %s\n", yesno(brk_end < brk_after - SMALL_TOTAL / 2));
    say("done\n");
    return 0;
}
