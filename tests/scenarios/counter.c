/* counter: proves that a checkpointed, killed and restored program continues exactly where
 * it stopped. State lives in every kind of place — a stack variable, .data, .bss, the heap,
 * a thread-local (fs_base) and a floating point accumulator (FPU/SSE state) — and all of it
 * is cross-checked at every step, so a region restored wrongly shows as "FAILED". The
 * running hash chains every step, so a skipped or repeated step changes all later lines.
 * errno (thread-local), getpid and the exit status (17) must also survive.
 *
 * Usage: counter [STEPS]   (default 100; one line "count N ..." per step, 20 ms apart) */
#include "scenario.h"

#include <sys/syscall.h>

static long data_count = 1000; /* .data */
static long bss_count;         /* .bss */
static __thread long tls_count;

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 100;
    scenario_started();
    pid_t started_as = getpid();
    long *heap_count = malloc(sizeof *heap_count);
    if (!heap_count)
        fail("malloc\n");
    *heap_count = 0;
    unsigned long long hash = FNV_START;
    double acc = 1.0;
    note("counter: started, pid %d\n", (int)getpid());

    for (long i = 1; i <= steps; i++) {
        data_count++;
        bss_count++;
        tls_count++;
        (*heap_count)++;
        if (data_count != 1000 + i || bss_count != i || tls_count != i || *heap_count != i)
            fail("step %ld: data %ld bss %ld tls %ld heap %ld\n", i, data_count, bss_count,
                 tls_count, *heap_count);
        hash = fnv_mix(hash, (unsigned long long)i);
        acc = acc * 1.0001 + (double)i / 7.0;
        char line[128]; /* stack */
        snprintf(line, sizeof line, "count %ld hash %016llx acc %.6f\n", i, hash, acc);
        say("%s", line);
        pace();
    }

    errno = 0;
    int rc = close(-1);
    say("errno works: %s\n", yesno(rc == -1 && errno == EBADF));
    /* The program keeps its own pid after a restore (preload/shim_pid.c). */
    say("getpid is the pid the program started with: %s\n", yesno(getpid() == started_as));
    note("counter: finished pid %d\n", (int)syscall(SYS_getpid)); /* the kernel's */
    say("done after %ld steps\n", steps);
    free(heap_count);
    return 17;
}
