/* churn: proves that an image holds the memory as it was at the checkpoint, although the
 * program runs on and rewrites that memory while the image is being written. Every step
 * changes one word in each page of a 64 MiB buffer (so each page is copied on write while
 * a writer child holds a snapshot) and prints a hash chained over the words it changed; at
 * the end it prints a hash of the whole buffer. A page saved after the program changed it
 * shows as a different hash after the restore.
 *
 * Usage: churn [STEPS] [private|shared|dontfork|wipeonfork]   (default 60 private)
 *   private     an ordinary private anonymous buffer
 *   shared      MAP_SHARED | MAP_ANONYMOUS: a fork would share, not snapshot, it
 *   dontfork    a private buffer marked MADV_DONTFORK: a fork would not have it
 *   wipeonfork  a private buffer marked MADV_WIPEONFORK: a fork would see zeros */
#include "scenario.h"

#include <sys/mman.h>

#define BUFFER_BYTES (64UL << 20)
#define PAGE_WORDS 512UL
#define PAGES (BUFFER_BYTES / 8 / PAGE_WORDS)

static unsigned long long *map_buffer(const char *kind)
{
    int shared = !strcmp(kind, "shared");
    void *p = mmap(NULL, BUFFER_BYTES, PROT_READ | PROT_WRITE,
                   (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        fail("mmap: %s\n", strerror(errno));
    int advice = !strcmp(kind, "dontfork")     ? MADV_DONTFORK
                 : !strcmp(kind, "wipeonfork") ? MADV_WIPEONFORK
                                               : -1;
    if (advice >= 0 && madvise(p, BUFFER_BYTES, advice) != 0)
        fail("madvise: %s\n", strerror(errno));
    if (!shared && advice < 0 && strcmp(kind, "private"))
        fail("unknown buffer kind %s\n", kind);
    return p;
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 60;
    const char *kind = argc > 2 ? argv[2] : "private";
    scenario_started();
    unsigned long long *words = map_buffer(kind);
    for (unsigned long i = 0; i < BUFFER_BYTES / 8; i++)
        words[i] = i * 0x9e3779b97f4a7c15ULL;
    note("churn: started, pid %d, %s buffer\n", (int)getpid(), kind);
    unsigned long long hash = FNV_START;
    for (long s = 1; s <= steps; s++) {
        for (unsigned long page = 0; page < PAGES; page++) {
            unsigned long long *w = &words[page * PAGE_WORDS + (unsigned long)s % PAGE_WORDS];
            *w = *w * 6364136223846793005ULL + (unsigned long long)s + page;
            hash = fnv_mix(hash, *w);
        }
        say("step %ld hash %016llx\n", s, hash);
        pace();
    }
    unsigned long long all = FNV_START;
    for (unsigned long i = 0; i < BUFFER_BYTES / 8; i++)
        all = fnv_mix(all, words[i]);
    say("whole buffer hash %016llx\n", all);
    return 0;
}
