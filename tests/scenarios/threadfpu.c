/* threadfpu: each of three threads keeps its own pattern in its vector registers (ymm8 to
 * ymm15 where the CPU has AVX2, else xmm8 to xmm15) while it spins in assembly, so that a
 * checkpoint interrupts it with those registers live; after the main thread's steps it
 * stores them and compares them with the pattern. Only the thread's own signal frame
 * (its xsave area) carries them across the checkpoint and the restore: a register the
 * restore lost or took from another thread prints "changed".
 *
 * Usage: threadfpu STEPS */
#include "scenario.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define NTHREADS 3
#define NREGS 8

static atomic_int stop;

struct holder {
    int index;
    uint64_t pattern[NREGS][4]; /* ymm8..ymm15, four 64-bit lanes each */
    uint64_t found[NREGS][4];
};

static void fill_pattern(struct holder *h)
{
    for (int r = 0; r < NREGS; r++)
        for (int l = 0; l < 4; l++)
            h->pattern[r][l] = 0x9e3779b97f4a7c15ULL * (uint64_t)(h->index * 64 + r * 4 + l + 1);
}

/* Loads the pattern into ymm8..ymm15, spins until stop is set, stores them back. */
static void hold_ymm(struct holder *h)
{
    __asm__ volatile("vmovdqu 0(%0), %%ymm8\n\t"
                     "vmovdqu 32(%0), %%ymm9\n\t"
                     "vmovdqu 64(%0), %%ymm10\n\t"
                     "vmovdqu 96(%0), %%ymm11\n\t"
                     "vmovdqu 128(%0), %%ymm12\n\t"
                     "vmovdqu 160(%0), %%ymm13\n\t"
                     "vmovdqu 192(%0), %%ymm14\n\t"
                     "vmovdqu 224(%0), %%ymm15\n\t"
                     "1: pause\n\t"
                     "cmpl $0, (%2)\n\t"
                     "je 1b\n\t"
                     "vmovdqu %%ymm8, 0(%1)\n\t"
                     "vmovdqu %%ymm9, 32(%1)\n\t"
                     "vmovdqu %%ymm10, 64(%1)\n\t"
                     "vmovdqu %%ymm11, 96(%1)\n\t"
                     "vmovdqu %%ymm12, 128(%1)\n\t"
                     "vmovdqu %%ymm13, 160(%1)\n\t"
                     "vmovdqu %%ymm14, 192(%1)\n\t"
                     "vmovdqu %%ymm15, 224(%1)\n\t"
                     "vzeroupper\n\t"
                     :
                     : "r"(h->pattern), "r"(h->found), "r"(&stop)
                     : "memory", "cc", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                       "xmm15");
}

/* The same with the 128-bit halves only; the upper lanes are copied, not compared. */
static void hold_xmm(struct holder *h)
{
    uint64_t lo[NREGS][2], out[NREGS][2];
    for (int r = 0; r < NREGS; r++)
        memcpy(lo[r], h->pattern[r], sizeof lo[r]);
    __asm__ volatile("movdqu 0(%0), %%xmm8\n\t"
                     "movdqu 16(%0), %%xmm9\n\t"
                     "movdqu 32(%0), %%xmm10\n\t"
                     "movdqu 48(%0), %%xmm11\n\t"
                     "movdqu 64(%0), %%xmm12\n\t"
                     "movdqu 80(%0), %%xmm13\n\t"
                     "movdqu 96(%0), %%xmm14\n\t"
                     "movdqu 112(%0), %%xmm15\n\t"
                     "1: pause\n\t"
                     "cmpl $0, (%2)\n\t"
                     "je 1b\n\t"
                     "movdqu %%xmm8, 0(%1)\n\t"
                     "movdqu %%xmm9, 16(%1)\n\t"
                     "movdqu %%xmm10, 32(%1)\n\t"
                     "movdqu %%xmm11, 48(%1)\n\t"
                     "movdqu %%xmm12, 64(%1)\n\t"
                     "movdqu %%xmm13, 80(%1)\n\t"
                     "movdqu %%xmm14, 96(%1)\n\t"
                     "movdqu %%xmm15, 112(%1)\n\t"
                     :
                     : "r"(lo), "r"(out), "r"(&stop)
                     : "memory", "cc", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                       "xmm15");
    for (int r = 0; r < NREGS; r++) {
        memcpy(h->found[r], out[r], sizeof out[r]);
        memcpy(&h->found[r][2], &h->pattern[r][2], 2 * sizeof(uint64_t));
    }
}

static void *holder_main(void *arg)
{
    struct holder *h = arg;
    if (__builtin_cpu_supports("avx2"))
        hold_ymm(h);
    else
        hold_xmm(h);
    return 0;
}

int main(int argc, char **argv)
{
    scenario_started();
    int steps = argc > 1 ? atoi(argv[1]) : 60;
    static struct holder holders[NTHREADS];
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        holders[i].index = i;
        fill_pattern(&holders[i]);
        if (pthread_create(&t[i], 0, holder_main, &holders[i]))
            fail("pthread_create\n");
    }
    for (int i = 1; i <= steps; i++) {
        say("step %d\n", i);
        pace();
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < NTHREADS; i++) {
        if (pthread_join(t[i], 0))
            fail("pthread_join\n");
        int same = !memcmp(holders[i].pattern, holders[i].found, sizeof holders[i].found);
        say("thread %d: vector registers %s\n", i, same ? "intact" : "changed");
    }
    return 0;
}
