/* sparse: proves that memory the image leaves out — pages never touched, pages only read,
 * pages of zeros — comes back exactly as it was: zeros where there were zeros, data where
 * there was data. And that a page of zeros in a private file map, which the image must keep
 * (the file has other bytes there), is zero after the restore.
 *
 *   a 256 MiB private anonymous map: every 16th page holds data, every 16th (other) page was
 *   written and cleared again (present, all zeros), every 16th (other) page was only read
 *   (the shared zero page), the rest was never touched;
 *   a 4 MiB shared anonymous map: odd pages hold data, even pages were written and cleared;
 *   the first page of the program's own file, mapped private and cleared;
 *   an 8 MiB private anonymous map full of data (restore-run fills such memory with huge
 *   pages where it can).
 * The number of resident pages of the maps must not grow across the restore: memory the
 * image leaves out must not come back as resident memory (as it would if restore-run gave
 * huge pages to blocks it stores only in part).
 * Every step changes one data page and prints a checksum of the pages set up; after the
 * checkpoint every page of every map is read and the pages holding data are counted.
 *
 * Usage: sparse [STEPS]   (default 60, 20 ms per step) */
#include "scenario.h"

#include <stdint.h>
#include <sys/mman.h>

#define PAGE 4096UL
#define ANON_PAGES (256UL * 256) /* 256 MiB */
#define SHARED_PAGES (4UL * 256) /* 4 MiB */
#define DENSE_PAGES (8UL * 256)  /* 8 MiB */

static void fill_page(unsigned char *page, uint64_t seed)
{
    uint64_t *w = (uint64_t *)page;
    for (size_t k = 0; k < PAGE / 8; k++)
        w[k] = (seed * 0x9e3779b97f4a7c15ULL) ^ (k * 0xd6e8feb86659fd93ULL) ^ 1;
}

static unsigned long long checksum(const unsigned char *p, size_t pages, unsigned long long h)
{
    const uint64_t *w = (const uint64_t *)p;
    for (size_t k = 0; k < pages * PAGE / 8; k++)
        if (w[k])
            h = fnv_mix(h, w[k] ^ k);
    return h;
}

static size_t count_nonzero_pages(const unsigned char *p, size_t pages)
{
    size_t n = 0;
    for (size_t i = 0; i < pages; i++) {
        const uint64_t *w = (const uint64_t *)(p + i * PAGE);
        for (size_t k = 0; k < PAGE / 8; k++)
            if (w[k]) {
                n++;
                break;
            }
    }
    return n;
}

static size_t resident_pages(unsigned char *p, size_t pages)
{
    static unsigned char vec[ANON_PAGES];
    if (mincore(p, pages * PAGE, vec) != 0)
        fail("mincore: %s\n", strerror(errno));
    size_t n = 0;
    for (size_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    return n;
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 60;
    scenario_started();
    unsigned char *anon =
        mmap(NULL, ANON_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *shared =
        mmap(NULL, SHARED_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    unsigned char *file =
        self < 0 ? MAP_FAILED : mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, self, 0);
    unsigned char *dense =
        mmap(NULL, DENSE_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (anon == MAP_FAILED || shared == MAP_FAILED || file == MAP_FAILED || dense == MAP_FAILED)
        fail("mmap: %s\n", strerror(errno));
    close(self);

    volatile unsigned char sink = 0;
    for (size_t i = 0; i < ANON_PAGES; i += 16) {
        fill_page(anon + i * PAGE, i);
        fill_page(anon + (i + 5) * PAGE, i + 5);
        memset(anon + (i + 5) * PAGE, 0, PAGE);
        sink ^= anon[(i + 9) * PAGE];
    }
    for (size_t i = 0; i < SHARED_PAGES; i++) {
        fill_page(shared + i * PAGE, 1000000 + i);
        if (i % 2 == 0)
            memset(shared + i * PAGE, 0, PAGE);
    }
    say("file page had data: %s\n", yesno(file[1] != 0));
    memset(file, 0, PAGE);
    for (size_t i = 0; i < DENSE_PAGES; i++)
        fill_page(dense + i * PAGE, 3000000 + i);
    size_t resident_before = resident_pages(anon, ANON_PAGES) + resident_pages(dense, DENSE_PAGES);

    for (long step = 1; step <= steps; step++) {
        fill_page(anon + (size_t)(step % (ANON_PAGES / 16)) * 16 * PAGE, 7000000 + step);
        /* only the pages set up above: the others stay untouched until the checkpoint */
        unsigned long long h = FNV_START;
        for (size_t i = 0; i < ANON_PAGES; i += 16)
            h = checksum(anon + i * PAGE, 1, checksum(anon + (i + 5) * PAGE, 1, h));
        h = checksum(shared, SHARED_PAGES, h);
        h = checksum(file, 1, h);
        h = checksum(dense, DENSE_PAGES, h);
        say("step %ld checksum %016llx\n", step, h);
        pace();
    }

    size_t resident_after = resident_pages(anon, ANON_PAGES) + resident_pages(dense, DENSE_PAGES);
    say("resident pages did not grow: %s\n", yesno(resident_after <= resident_before));
    if (resident_after > resident_before)
        fprintf(stderr, "sparse: resident pages %zu before the checkpoint, %zu now\n",
                resident_before, resident_after);
    say("pages with data: anon %zu of %lu, shared %zu of %lu, file %zu of 1\n",
        count_nonzero_pages(anon, ANON_PAGES), ANON_PAGES,
        count_nonzero_pages(shared, SHARED_PAGES), SHARED_PAGES, count_nonzero_pages(file, 1));
    /* The restored zero pages must be ordinary writable memory. */
    for (size_t i = 0; i < ANON_PAGES; i += 16)
        fill_page(anon + (i + 5) * PAGE, i + 5);
    for (size_t i = 0; i < SHARED_PAGES; i += 2)
        fill_page(shared + i * PAGE, 2000000 + i);
    unsigned long long h = checksum(anon, ANON_PAGES, FNV_START);
    say("after rewriting the zero pages: checksum %016llx\n", checksum(shared, SHARED_PAGES, h));
    say("done\n");
    return 0;
}
