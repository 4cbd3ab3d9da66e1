/* State shared by the shim's wrappers (shim.c) and its checkpoint handler (checkpoint.c). */
#ifndef CKPT_SHIM_H
#define CKPT_SHIM_H

#include <signal.h>

#include "../include/ckpt/image.h"
#include "../include/ckpt/protocol.h"
#include "fdtable.h"
#include "fd_inotify.h"
#include "thread.h"
#include "memory.h"
#include "../include/ckpt/ckpt.h"

struct shim_state {
    int active; /* this process is the one checkpoint-run started (or its restored self) */
    int signal; /* the checkpoint signal */
    char image[CKPT_PATH_MAX];
    int keep;                  /* images kept: image, image.1, ... image.(keep-1) */
    uint32_t generation;       /* of the newest image written */
    struct thread_facts glibc; /* what each thread's capture needs to know of glibc */
    struct fdtable fds;
    struct inotify_book inotify; /* the paths of inotify watches (shim_inotify.c) */
    /* What the program asked for the checkpoint signal: the kernel keeps the checkpoint
     * handler, which passes the program's own deliveries on to this (sigroute.h). */
    struct sigaction program_action;
    int warned_about_signal;
    uint64_t sigroute_cookie;          /* random: marks the shim's messages to its own process */
    uint32_t sigroute_stop_generation; /* the stop under way (stop.h), 0 when none is */
    uint64_t stop_timeout_ns; /* how long a stop waits for the threads (CKPT_STOP_TIMEOUT) */
    int no_pagemap_scan;      /* CKPT_TEST_PAGEMAP=entries: test the path for kernels before 6.7 */
    int no_background;        /* checkpoint-run --no-background: the program writes, stopped */
    int compress_level;       /* checkpoint-run --compress: zstd level of page runs, 0 none */
    int compress_every_run;   /* --compress=...,all: even while the disk waits for the writer */
    /* The program asked for memory that a fork does not copy as it is (MADV_DONTFORK,
     * MADV_WIPEONFORK): a writer child would not see it, so the program writes, stopped. */
    int fork_unsafe_advice;
    long writer_pid;     /* the child writing the last checkpoint's image, until it is reaped */
    uint64_t writer_seq; /* the checkpoint it writes */
    /* Earlier writers that answered and only free the images they replaced, or 0. */
#define CKPT_FINISHING_MAX 4
    long finishing_pid[CKPT_FINISHING_MAX];
    long test_linger_ms; /* CKPT_TEST_WRITER_LINGER_MS: a writer waits after its answer */
    struct ckpt_restore_info restore_info; /* written by restore-run's core */
    /* The application API (include/ckpt/ckpt.h, preload/api.c). */
    uint32_t restores;            /* restores this process went through */
    uint32_t restored_generation; /* the generation of the image of the last one */
    struct memory_range excluded[CKPT_EXCLUDE_MAX]; /* ckpt_exclude: sorted, disjoint */
    size_t nexcluded;
    /* checkpoint-run --interval: a POSIX timer of the shim's own sends the checkpoint signal
     * with CKPT_INTERVAL_TICK as its value. */
    uint64_t interval_ns;
    int timer_id; /* -1 if none */
    /* The pid getpid() gives the program: the one it started with (shim_pid.c); and the
     * kernel's pid of this process now (restore-run's after a restore). */
    long program_pid, pid_now;
};

extern struct shim_state ckpt_shim;
/* What `ckpt checkpoint` reads of the shim (include/ckpt/protocol.h). */
extern struct ckpt_shim_public ckpt_public;

/* Updates of ckpt_public: each between public_begin_update and public_end_update. */
static inline void public_begin_update(void)
{
    __atomic_store_n(&ckpt_public.change, ckpt_public.change + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}
static inline void public_end_update(void)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    __atomic_store_n(&ckpt_public.change, ckpt_public.change + 1, __ATOMIC_RELAXED);
}
/* A new random incarnation, and the pid the shim now serves (raw syscalls). */
void public_announce_active(void);

/* The checkpoint signal handler (checkpoint.c). */
void (*checkpoint_handler_address(void))(int, siginfo_t *, void *);
/* Waits for the child writing the last image, if one is still at it (checkpoint.c).
 * Returns 0 if it published the image (or there was none), -1 if not. */
int checkpoint_wait_for_writer(void);
/* ... and for an earlier one still freeing the image it replaced: before an exec or the
 * end, which would leave it to someone else to reap. */
int checkpoint_wait_for_writers(void);
/* Is there a writer child, writing or finishing? */
int checkpoint_writers_pending(void);
/* In text (IMAGE.status lines, NUL-terminated; its newlines are overwritten), the answer
 * for checkpoint seq of this incarnation: its result (errno) and generation. 0, or -1 if
 * there is none. Raw code. */
int checkpoint_find_answer(char *text, uint64_t seq, int *result, uint32_t *generation);
/* Creates the --interval timer (raw syscalls: also run after a restore, in the handler).
 * Returns 0 or -errno. */
int checkpoint_start_interval_timer(void);

#endif
