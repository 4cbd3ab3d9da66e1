/* An OpenMP program (gcc -fopenmp, libgomp's thread pool): each step is a parallel
 * reduction over an array that the step's parallel loop rewrote first; the step's sum is
 * printed. Checkpointed while the pool's threads work or wait for the next region.
 *
 * Usage: openmp STEPS */
#include "scenario.h"

#include <omp.h>

#define N (1 << 20)

static unsigned long long values[N];

int main(int argc, char **argv)
{
    scenario_started();
    int steps = argc > 1 ? atoi(argv[1]) : 100;
    omp_set_num_threads(4);
    for (int step = 1; step <= steps; step++) {
        unsigned long long sum = 0;
#pragma omp parallel for schedule(static)
        for (long i = 0; i < N; i++)
            values[i] = values[i] * 6364136223846793005ULL + (unsigned long long)(i ^ step);
#pragma omp parallel for schedule(static) reduction(+ : sum)
        for (long i = 0; i < N; i++)
            sum += values[i] >> 20;
        say("step %d sum %llu\n", step, sum);
        pace();
    }
    say("done: %d threads in the pool\n", omp_get_max_threads());
    return 0;
}
