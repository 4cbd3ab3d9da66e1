/* Which deliveries of the checkpoint signal are checkpoint requests, and how the others reach
 * the program's own action for that signal (sigroute.c). Raw syscalls only: it runs at the
 * entry of the checkpoint signal handler.
 *
 * The rule (README, "The checkpoint signal"):
 *   - from another process — SI_USER (`kill -USR2 PID`, Slurm's --signal), SI_QUEUE (`ckpt
 *     checkpoint`, whose value is its token), SI_TKILL (a tgkill from outside) — and the
 *     shim's own --interval timer (SI_TIMER with its timer id): a checkpoint request;
 *   - SI_QUEUE from this process whose value carries the shim's cookie: the shim's own
 *     in-process messages — a checkpoint the application API asks for, or a stop request
 *     to a thread for one generation of a checkpoint (issue 13's stop protocol; one of an
 *     earlier generation is stale and ignored);
 *   - anything else — raise(), pthread_kill(), kill(getpid()), sigqueue() to itself, the
 *     program's own timers, kernel-generated codes — the program's own use of the signal:
 *     it goes to the action the program installed, as the kernel would have run it. */
#ifndef CKPT_SIGROUTE_H
#define CKPT_SIGROUTE_H

#include <signal.h>
#include <stdint.h>

enum sigroute_kind {
    SIGROUTE_CHECKPOINT, /* take a checkpoint */
    SIGROUTE_STOP,       /* the shim's stop request for the current generation */
    SIGROUTE_STALE_STOP, /* a stop request of an earlier generation: return at once */
    SIGROUTE_PROGRAM,    /* the program's own: to its recorded action */
};

/* What siginfo says of a delivery. */
struct sigroute_delivery {
    int32_t code;   /* si_code */
    int32_t sender; /* si_pid; for SI_TIMER the timer's id (si_timerid, same place) */
    uint64_t value; /* si_value, all 64 bits */
};

/* What the receiving process knows of itself. */
struct sigroute_self {
    int32_t pid;              /* getpid() now (it changes with a restore) */
    int32_t timer_id;         /* the --interval timer's id, -1 if none */
    uint64_t cookie;          /* random, drawn at shim start */
    uint32_t stop_generation; /* the stop under way, 0 when none is */
};

/* A pure function: the same delivery and self give the same answer. */
enum sigroute_kind sigroute_classify(const struct sigroute_delivery *d,
                                     const struct sigroute_self *self);

/* The values the shim queues to its own process (SI_QUEUE): the cookie XOR a tag in the high
 * 32 bits and an argument in the low ones. A program's own sigqueue() is taken for one of
 * them only if its value matches 32 random bits. */
#define SIGROUTE_TAG_STOP 1u    /* argument: the stop's generation */
#define SIGROUTE_TAG_REQUEST 2u /* a checkpoint the application API asks for; argument 0 */
uint64_t sigroute_own_value(uint64_t cookie, uint32_t tag, uint32_t argument);

/* Queues a message of the shim to the calling thread (rt_tgsigqueueinfo, SI_QUEUE).
 * Returns 0 or -errno. */
long sigroute_queue_to_self(int sig, uint64_t value);

/* Runs the program's action for sig as the kernel would have, from inside the checkpoint
 * handler (whose mask blocks every signal): SIG_IGN does nothing; SIG_DFL takes the
 * default action (a terminating signal kills the process by that signal, a stopping one
 * stops it); a handler runs with the interrupted mask | its sa_mask | sig (unless
 * SA_NODEFER), with (sig, si, uc) if SA_SIGINFO, else (sig); SA_RESETHAND sets the
 * recorded action to SIG_DFL first. The handler's own return (rt_sigreturn) then puts back
 * the interrupted mask and registers, including any change the program's handler made to
 * *uc. */
void sigroute_to_program(int sig, siginfo_t *si, void *uc, struct sigaction *action);

#endif
