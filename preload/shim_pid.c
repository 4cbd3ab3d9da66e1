/* The pid the program sees. A restored process has restore-run's pid, but a program may
 * have kept the pid it started with and compare it with getpid(): CPython's asyncio does at
 * every get_running_loop() — it tells a forked child, which must not use its parent's loop,
 * that way — and so finds no loop running once the pid changed; multiprocessing, and
 * programs naming temporary files or locks by pid, do the same. So getpid() keeps giving
 * the pid the program started with (before any restore that is the kernel's), and kill()
 * and sigqueue() of that pid reach this process, as they did. The kernel, /proc and every
 * other process know the new pid; a child sees its own (docs/signals.md). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

#include "shim.h"
#include "sys.h"

#define EXPORT __attribute__((visibility("default")))

/* The program's own pid in this process, or 0 when the shim does not serve it (a child,
 * a process started without checkpoint-run). */
static long own_program_pid(void)
{
    long real = sys_getpid();
    return ckpt_shim.active && real == ckpt_shim.pid_now ? ckpt_shim.program_pid : 0;
}

EXPORT pid_t getpid(void)
{
    long program = own_program_pid();
    return (pid_t)(program ? program : sys_getpid());
}

/* The pid a signal for `pid` goes to: this process for the program's own pid. */
static pid_t signal_target(pid_t pid)
{
    long program = own_program_pid();
    return program && pid == program ? (pid_t)ckpt_shim.pid_now : pid;
}

EXPORT int kill(pid_t pid, int sig)
{
    static int (*real_kill)(pid_t, int);
    if (!real_kill)
        real_kill = (int (*)(pid_t, int))dlsym(RTLD_NEXT, "kill");
    return real_kill(signal_target(pid), sig);
}

EXPORT int sigqueue(pid_t pid, int sig, const union sigval value)
{
    static int (*real_sigqueue)(pid_t, int, const union sigval);
    if (!real_sigqueue)
        real_sigqueue = (int (*)(pid_t, int, const union sigval))dlsym(RTLD_NEXT, "sigqueue");
    return real_sigqueue(signal_target(pid), sig, value);
}
