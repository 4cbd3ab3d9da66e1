/* The pid the program sees. A restored process has restore-run's pid, but a program may
 * have kept the pid it started with and compare it with getpid(): CPython's asyncio does at
 * every get_running_loop() — it tells a forked child, which must not use its parent's loop,
 * that way — and so finds no loop running once the pid changed; multiprocessing, and
 * programs naming temporary files or locks by pid, do the same. So getpid() keeps giving
 * the pid the program started with (before any restore that is the kernel's), and kill()
 * and sigqueue() of that pid reach this process, as they did. A child it forks sees its own
 * pid, and that pid as its parent's (getppid), and reaches it with kill() of it. The kernel,
 * /proc, exec'd children and every other process know the new pid (docs/signals.md). */
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

/* A forked child keeps the shim's state, passive: is this one's parent the program? */
static int child_of_program(void)
{
    return !ckpt_shim.active && ckpt_shim.program_pid && sys_getppid() == ckpt_shim.pid_now;
}

EXPORT pid_t getppid(void)
{
    long parent = sys_getppid();
    return (pid_t)(child_of_program() ? ckpt_shim.program_pid : parent);
}

/* The pid a signal for `pid` goes to: the program's kernel pid for the pid it started with,
 * from the program itself or a child it forked. */
static pid_t signal_target(pid_t pid)
{
    if (!ckpt_shim.program_pid || pid != ckpt_shim.program_pid || pid == ckpt_shim.pid_now)
        return pid;
    return own_program_pid() || child_of_program() ? (pid_t)ckpt_shim.pid_now : pid;
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
