/* State shared by the shim's wrappers (shim.c) and its checkpoint handler (checkpoint.c). */
#ifndef CKPT_SHIM_H
#define CKPT_SHIM_H

#include <signal.h>

#include "../include/ckpt/image.h"
#include "fdtable.h"
#include "tls.h"

struct shim_state {
    int active; /* this process is the one checkpoint-run started (or its restored self) */
    int signal; /* the checkpoint signal */
    char image[CKPT_PATH_MAX];
    int keep;            /* images kept: image, image.1, ... image.(keep-1) */
    uint32_t generation; /* of the newest image written */
    struct tls_facts tls;
    struct fdtable fds;
    /* What the program asked for the checkpoint signal: recorded, never applied. */
    struct sigaction program_action;
    int warned_about_signal;
    int no_pagemap_scan; /* CKPT_TEST_PAGEMAP=entries: test the path for kernels before 6.7 */
    int no_background;   /* checkpoint-run --no-background: the program writes, stopped */
    /* The program asked for memory that a fork does not copy as it is (MADV_DONTFORK,
     * MADV_WIPEONFORK): a writer child would not see it, so the program writes, stopped. */
    int fork_unsafe_advice;
    long writer_pid; /* the child writing the last checkpoint's image, until it is reaped */
    struct ckpt_restore_info restore_info; /* written by restore-run's core */
};

extern struct shim_state ckpt_shim;

/* The checkpoint signal handler (checkpoint.c). */
void (*checkpoint_handler_address(void))(int, siginfo_t *, void *);
/* Waits for the child writing the last image, if one is still at it (checkpoint.c).
 * Returns 0 if it published the image (or there was none), -1 if not. */
int checkpoint_wait_for_writer(void);

#endif
