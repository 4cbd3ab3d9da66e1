/* The stop protocol of a multi-threaded checkpoint (docs/proposals/format-v2-and-threads.md
 * §B.2): the thread that takes a checkpoint request leads; it sends every other thread a stop
 * request (the checkpoint signal, queued with the shim's cookie and the stop's generation),
 * each of them captures its own state into its slot and parks, and once every thread of a
 * fresh listing of /proc/self/task has arrived the leader takes the checkpoint and releases
 * them. Raw syscalls only (signal handler context). */
#ifndef CKPT_STOP_H
#define CKPT_STOP_H

#include <stdint.h>

#include "thread.h"
#include "util.h"

/* How long the leader waits for the threads by default (CKPT_STOP_TIMEOUT overrides). */
#define CKPT_STOP_TIMEOUT_DEFAULT_NS 2000000000ull

/* A tid the leader has seen in a listing: whether it was sent a request, whether it arrived. */
struct stop_tid {
    uint32_t tid;
    uint8_t signalled, arrived, pad[2];
};

/* The leader's working memory, in the checkpoint's arena (CKPT_THREADS_MAX entries each). */
struct stop_run {
    struct thread_capture *slots; /* slot 0 is the leader's, followers take the next ones */
    uint32_t *ready;              /* ready[i]: the tid of slot i once it is complete, else 0 */
    struct stop_tid *known;       /* sorted by tid */
    uint32_t nknown;
    uint32_t gen;    /* this stop's generation */
    uint32_t nslots; /* after stop_all: the slots in use, the leader's included */
    uint64_t timeout_ns;
};

/* Becomes the leader of a stop: 1, or 0 if another thread leads one now. */
int stop_claim(void);
/* Gives the lead up once the checkpoint is over. */
void stop_unclaim(void);

/* Stops every other thread: each captures itself into a slot of r and parks. Returns 0 with
 * r->nslots set and the leader's capture to be made in slot 0 (stop_release lets them go),
 * or -1 with err naming the
 * thread that did not stop (all threads released again, the program runs on). */
int stop_all(struct stop_run *r, struct ck_error *err);
/* Lets the threads parked by stop_all of generation gen go on. */
void stop_release(uint32_t gen);

/* A stop request of generation gen reached this thread (its handler, uc its frame): capture
 * and park until released. Returns 1 if the thread comes back from a restore instead (it
 * resumes here), else 0. */
int stop_follow(const void *uc, uint32_t gen);
/* A checkpoint request reached this thread while another leads a stop: follow that stop
 * until it is over. Returns 1 if the thread comes back from a restore instead, else 0. */
int stop_join(const void *uc);

#endif
