/* <ckpt/ckpt.h> — the application API of ckpt: a program that knows it runs under ckpt
 * checkpoints itself, learns whether it was restored, runs code of its own around
 * checkpoints and restores, and keeps memory it can rebuild out of its images.
 *
 * ---- Linking ---------------------------------------------------------------------------
 *
 *     cc prog.c $(pkg-config --cflags --libs ckpt)        # -lckptapi
 *     target_link_libraries(prog PRIVATE ckpt::ckpt)      # CMake, find_package(ckpt)
 *
 * libckptapi.so holds these functions for a program that runs WITHOUT checkpoint-run: each
 * then fails with CKPT_ENOTACTIVE ("not under ckpt") and changes nothing, so one binary
 * runs both ways. Under checkpoint-run (and once restored) the preloaded shim, libckpt.so,
 * defines the same functions and, being first in symbol lookup, serves the calls; a call
 * that still reaches libckptapi (a dlopen'ed handle, Python's ctypes) is passed on to the
 * shim. Do not link with -lckpt: that is the shim itself.
 *
 * ---- Return values ---------------------------------------------------------------------
 *
 * Every function returns 0 (or a count, where said) on success and a NEGATIVE errno-style
 * code on failure: -CKPT_ENOTACTIVE when the process is not one ckpt serves (started
 * without checkpoint-run, or a child of the program: the shim serves only the process
 * checkpoint-run started, and that process once restored). errno is not changed.
 *
 * ---- Threads and signals ---------------------------------------------------------------
 *
 * ckpt supports programs with one thread today: a checkpoint of a process with a second
 * thread is refused (ckpt_checkpoint returns the refusal). Call these functions from the
 * program's ordinary flow, not from a signal handler.
 *
 * ---- Hooks, and checkpoints the program did not ask for --------------------------------
 *
 * Hooks run only around ckpt_checkpoint(), on the thread that called it, synchronously, in
 * ordinary context (any libc function may be called): CKPT_HOOK_BEFORE hooks before the
 * image is taken, then CKPT_HOOK_RESUME hooks when the call returns in the original
 * process, or CKPT_HOOK_RESTORE hooks when it returns in a process restored from that
 * image. A checkpoint requested from outside — `ckpt checkpoint PID`, the checkpoint signal
 * sent by hand, `checkpoint-run --interval` — interrupts the program at an arbitrary point,
 * inside the checkpoint signal handler, where only async-signal-safe code may run: it is
 * taken, and NO hook runs, neither before it nor after a restore of its image. A program
 * whose hooks must run at every restore takes its checkpoints itself (for instance with a
 * timer of its own, calling ckpt_checkpoint() from its main loop) and nobody else should
 * checkpoint it. (Planned: once ckpt supports threads, the shim gets a thread of its own
 * on which external checkpoints run the hooks too.) A hook must not call ckpt_checkpoint
 * (it gets -EBUSY).
 *
 * ---- Environment -----------------------------------------------------------------------
 *
 * checkpoint-run sets, for the program: CKPT_IMAGE (the image's absolute path), CKPT_SIGNAL
 * (the checkpoint signal's number), CKPT_PID (the pid the shim serves), CKPT_KEEP,
 * CKPT_INTERVAL (nanoseconds, with --interval). The shim never changes the environment,
 * also not in a restored process (the program may have rewritten that memory): whether a
 * process was restored is ckpt_restored()'s answer. A script the program runs may request
 * a checkpoint of it with `ckpt checkpoint "$CKPT_PID"` (an external checkpoint: no hooks). */
#ifndef CKPT_CKPT_H
#define CKPT_CKPT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CKPT_API_VERSION 1

/* The process is not one ckpt serves (see above). */
#define CKPT_ENOTACTIVE ENOSYS

/* What ckpt_checkpoint returns besides a failure: like fork, it returns twice. */
#define CKPT_CHECKPOINTED 0 /* the original process: the image is written and durable */
#define CKPT_RESTORED 1     /* a process restored from the image this call took */

#define CKPT_RESULT_PATH_MAX 4096

struct ckpt_result {
    int error;           /* 0, or the positive errno of the failure (also returned, negated) */
    int restored;        /* 1 if the call returns in a restored process, else 0 */
    uint64_t checkpoint; /* the checkpoint's number in the protocol (docs/protocol.md) */
    uint32_t generation; /* the image's generation: 1 for the process's first image, ... */
    uint32_t restores;   /* how many restores this process has been through (as ckpt_restored) */
    char image[CKPT_RESULT_PATH_MAX]; /* the image's path; "" when not under ckpt */
};

/* Takes an image of the process now, and returns once it is complete and durable on disk
 * (written, synced, renamed into place, its directory synced), through the same numbered
 * request and answer as `ckpt checkpoint`, so a 0 here means what its exit 0 means.
 *
 *   CKPT_CHECKPOINTED (0)  in the original process: the image is durable;
 *   CKPT_RESTORED (1)      in a process restored from that image, which resumes by
 *                          returning from this same call;
 *   -errno                 the checkpoint failed (the reason is also on stderr); the
 *                          program and the previous image are as they were. -EBUSY when
 *                          called from a hook, -CKPT_ENOTACTIVE when not under ckpt.
 *
 * result may be NULL; otherwise it is filled in every case. The program runs on while the
 * image is written by a copy-on-write child, but this call waits for it. */
int ckpt_checkpoint(struct ckpt_result *result);

/* How many restores this process has been through: 0 if it never was restored, 1 after its
 * first restore, and so on (a restore of an image taken after a restore counts both).
 * generation, if not NULL, receives the generation of the image of the last restore (0 if
 * none). -CKPT_ENOTACTIVE when not under ckpt. */
int ckpt_restored(uint32_t *generation);

enum ckpt_hook_when {
    CKPT_HOOK_BEFORE = 1,  /* before the image is taken (flush a log, close a connection) */
    CKPT_HOOK_RESUME = 2,  /* after it, in the original process (also when it failed) */
    CKPT_HOOK_RESTORE = 4, /* after it, in a process restored from it (reconnect, reopen) */
};

/* A hook gets the checkpoint's result as far as it is known (a BEFORE hook: only image)
 * and the arg it was registered with. */
typedef void (*ckpt_hook_fn)(const struct ckpt_result *result, void *arg);

/* Registers fn for the moments in when (CKPT_HOOK_* or'ed). BEFORE hooks run in the reverse
 * order of registration, RESUME and RESTORE hooks in the order of registration (as
 * pthread_atfork's). At most CKPT_HOOKS_MAX registrations: -ENOSPC; -EINVAL for a NULL fn
 * or no moment. Registered hooks are part of the process's memory, so a restored process
 * has them. */
#define CKPT_HOOKS_MAX 32
int ckpt_add_hook(int when, ckpt_hook_fn fn, void *arg);
/* Removes every registration of fn with arg. Returns how many, or -CKPT_ENOTACTIVE. */
int ckpt_remove_hook(ckpt_hook_fn fn, void *arg);

/* Leaves the pages of [addr, addr + len) out of every image from now on: memory the program
 * can rebuild (a cache). addr must be page-aligned; len is rounded up to whole pages. The
 * range need not be mapped yet. In a restored process the range is mapped as it was
 * (address, size, protection) and reads as zeros — for a private file mapping, as the
 * file's contents there. The program must not rely on the old contents after a restore:
 * check ckpt_restored() or use a CKPT_HOOK_RESTORE hook to rebuild. Up to
 * CKPT_EXCLUDE_MAX separate ranges (-ENOSPC); -EINVAL for a misaligned or empty range. */
#define CKPT_EXCLUDE_MAX 64
int ckpt_exclude(void *addr, size_t len);
/* Puts [addr, addr + len) back into images (any part of it that was excluded). */
int ckpt_include(void *addr, size_t len);

#ifdef __cplusplus
}
#endif

#endif
