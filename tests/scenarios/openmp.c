/* openmp: an OpenMP program (gcc -fopenmp, libgomp's thread pool): every step a parallel
 * loop with a reduction and a critical section over a shared array; between steps the
 * pool's threads wait in libgomp's futexes, where the checkpoint finds them. Every step
 * prints sums that do not depend on the schedule.
 *
 * Usage: openmp [STEPS]   (default 60 steps of 20 ms) */
#include "scenario.h"

#include <sys/syscall.h>

#include <omp.h>

#define CELLS 4096

static unsigned long long cells[CELLS];

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 60;
    scenario_started();
    omp_set_num_threads(4);
    note("openmp: started, pid %d\n", (int)getpid());
    unsigned long long critical_sum = 0;
    for (long step = 1; step <= steps; step++) {
        unsigned long long sum = 0;
        int team = 0;
#pragma omp parallel for reduction(+ : sum) schedule(dynamic, 64)
        for (int i = 0; i < CELLS; i++) {
            cells[i] = cells[i] * 6364136223846793005ULL + (unsigned long long)(i + step);
            sum += cells[i] >> 20;
            if (i % 512 == 0) {
#pragma omp critical
                critical_sum += cells[i] & 0xffff;
            }
        }
#pragma omp parallel
        {
#pragma omp single
            team = omp_get_num_threads();
        }
        say("step %ld sum %llu critical %llu team %d\n", step, sum, critical_sum, team);
        pace();
    }
    note("openmp: finished pid %d\n", (int)syscall(SYS_getpid)); /* the kernel's */
    say("done\n");
    return 0;
}
