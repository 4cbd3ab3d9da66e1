/* namesakes: proves that a program's own functions named like the shim's internal ones do
 * not change what the shim does. Linked with -rdynamic, so its functions are in the global
 * symbol scope ahead of every library, libckpt.so included: were the shim to export its
 * internals (or call them through the PLT), its checkpoint would call this memory_save
 * instead of its own (and fail), and hash the image with this ck_hash64 (an image restore-run
 * refuses). The program uses both itself, so each line also shows they are its own.
 *
 * Usage: namesakes [STEPS]   (default 100; one line per step, 20 ms apart) */
#include "scenario.h"

#include <stdint.h>

/* Not the shim's signatures on purpose: the shim calling these would go wrong at once. */
int memory_save(int x);
uint64_t ck_hash64(const void *data, size_t len);
int files_check(void);

int memory_save(int x)
{
    return 2 * x;
}

uint64_t ck_hash64(const void *data, size_t len)
{
    (void)data;
    return 0x1234000000000000ULL + len;
}

int files_check(void)
{
    return 7;
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 100;
    scenario_started();
    note("namesakes: started, pid %d\n", (int)getpid());
    unsigned long long hash = FNV_START;
    for (long i = 1; i <= steps; i++) {
        int saved = memory_save((int)i);
        uint64_t h = ck_hash64(&i, (size_t)i);
        if (saved != 2 * i || h != 0x1234000000000000ULL + (uint64_t)i || files_check() != 7)
            fail("step %ld: memory_save %d ck_hash64 %016llx\n", i, saved, (unsigned long long)h);
        hash = fnv_mix(hash, (unsigned long long)saved ^ h);
        say("step %ld memory_save(%ld) = %d ck_hash64 = %016llx hash %016llx\n", i, i, saved,
            (unsigned long long)h, hash);
        pace();
    }
    say("done after %ld steps\n", steps);
    return 5;
}
