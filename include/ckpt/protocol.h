/* Every contract between ckpt's programs that is not on disk (the image format is
 * ckpt/image.h): the checkpoint request/answer protocol between the shim (preload/) and
 * `ckpt checkpoint` (tools/checkpoint.c), the environment checkpoint-run gives the shim,
 * the test hooks, and what the restore core tells the restored shim. The protocol itself
 * is described at the top of preload/checkpoint.c and in docs/protocol.md. */
#ifndef CKPT_PROTOCOL_H
#define CKPT_PROTOCOL_H

#include <stdint.h>

#include "image.h" /* CKPT_PATH_MAX */

/* Settings checkpoint-run gives the shim through the environment. */
#define CKPT_ENV_IMAGE "CKPT_IMAGE"
#define CKPT_ENV_SIGNAL "CKPT_SIGNAL"
#define CKPT_ENV_PID "CKPT_PID"
#define CKPT_ENV_KEEP "CKPT_KEEP"
#define CKPT_ENV_INCREMENTAL "CKPT_INCREMENTAL" /* --incremental N: a full image every N */
#define CKPT_ENV_BACKGROUND "CKPT_BACKGROUND"
#define CKPT_ENV_INTERVAL "CKPT_INTERVAL" /* --interval, in nanoseconds */
/* --stop-timeout, in nanoseconds: how long a checkpoint waits for every thread to stop */
#define CKPT_ENV_STOP_TIMEOUT "CKPT_STOP_TIMEOUT"
#define CKPT_ENV_COMPRESS "CKPT_COMPRESS" /* --compress: the zstd level, 1-9 */

/* Test hooks: they let the tests reach a path, never change what a checkpoint or restore
 * holds or does to the program. */
#define CKPT_ENV_TEST_PAGEMAP "CKPT_TEST_PAGEMAP" /* shim: =entries, no PAGEMAP_SCAN ioctl */
#define CKPT_ENV_TEST_PLACE "CKPT_TEST_PLACE" /* restore-run: =none, =alternate regions placed */
#define CKPT_ENV_TEST_VDSO_PROXY                                                                   \
    "CKPT_TEST_VDSO_PROXY" /* =1: the vDSO proxy even if not needed                                \
                            */
#define CKPT_ENV_TEST_STOP_BEFORE_RESTORE "CKPT_TEST_STOP_BEFORE_RESTORE" /* =1: stop there */
/* shim: =MS, a writer child waits MS after its answer before it frees what it replaced */
#define CKPT_ENV_TEST_WRITER_LINGER_MS "CKPT_TEST_WRITER_LINGER_MS"

/* The value `ckpt checkpoint` queues with the checkpoint signal: a token in bits 0..30 that
 * the answer repeats, plus this bit asking the process to wait, doing nothing, for a SIGKILL
 * once the image is published. With it `ckpt checkpoint --kill` kills the process exactly in
 * the state the image holds: had it run on until the SIGKILL, files it rewrites in place
 * would hold changes the restored process would make a second time. */
#define CKPT_REQUEST_STOP 0x80000000u
#define CKPT_REQUEST_TOKEN_MASK 0x7fffffffu
/* The value of the --interval timer's signals (SI_TIMER): no request, so no token. */
#define CKPT_INTERVAL_TICK 0x7ffffff1u

/* ---- the shim's published state ----------------------------------------------------------
 * One struct in the shim's own writable data, which `ckpt checkpoint` finds by its magic in
 * the writable mappings of libckpt.so (/proc/PID/maps) and reads through /proc/PID/mem:
 * unlike /proc/PID/environ, which programs that rewrite their title overwrite, the program
 * never touches it, and it is there only where the shim is loaded. The shim updates it with
 * plain stores (no system call in the handler); `change` is odd while it does, so a reader
 * takes a copy read while it was even and unchanged. */
#define CKPT_PUBLIC_MAGIC "ckpt-shim-state1" /* 16 bytes, no NUL */
#define CKPT_PUBLIC_MAGIC_LEN 16

enum ckpt_shim_role {
    CKPT_ROLE_LOADING = 0, /* loaded, its constructor has not decided yet */
    CKPT_ROLE_ACTIVE = 1,  /* the checkpoint handler is installed in process `pid` */
    CKPT_ROLE_PASSIVE = 2, /* loaded into a process it does not serve (a child, a program
                            * a child ran): its signals are the program's own */
};

struct ckpt_shim_public {
    char magic[CKPT_PUBLIC_MAGIC_LEN];
    uint32_t change;      /* incremented before and after each update: odd while one is made */
    uint32_t role;        /* enum ckpt_shim_role */
    int32_t pid;          /* the process the shim is active in (the restored one after restore) */
    int32_t signal;       /* the checkpoint signal */
    uint64_t incarnation; /* random, new at startup and after each restore: names this
                           * process's answers apart from those of another with its pid */
    uint64_t begun;       /* checkpoints begun: the handler's first act sets it to their number */
    uint64_t finished;    /* the last checkpoint whose handler has done its part (returned,
                           * or holds the process for --kill) */
    int32_t finished_result;       /* its result in the program: 0 or a positive errno */
    int32_t finished_status_error; /* errno if the program could not write its answer, or 0 */
    int64_t finished_writer;       /* its writer child's pid (which answers), 0 if none */
    uint64_t holding;              /* the checkpoint the process waits at for its SIGKILL, 0 */
    char image[CKPT_PATH_MAX];     /* the image's absolute path */
};

/* ---- the answers --------------------------------------------------------------------------
 * <image>.status holds the answers of the last few checkpoints, oldest first, one line each:
 *
 *   seq=N inc=X pid=P token=T hold=H result=R generation=G stopped_ns=S message=TEXT
 *
 * seq: the checkpoint's number (the `begun` it set); inc, pid: the incarnation and pid of
 * the program; token: the value of the request it took (0 for a bare signal); hold: 1 if the
 * process waits for a SIGKILL after it; result: 0 or a positive errno; stopped_ns: how long
 * the program was stopped. Later fields may be added before message=. A writer child first
 * adds a line with writing=PID (its pid) instead of hold, result, generation and stopped_ns:
 * not an answer, but whom to wait for. */
#define CKPT_STATUS_SUFFIX ".status"
#define CKPT_KEY_SEQ "seq"
#define CKPT_KEY_INCARNATION "inc"
#define CKPT_KEY_PID "pid"
#define CKPT_KEY_TOKEN "token"
#define CKPT_KEY_HOLD "hold"
#define CKPT_KEY_RESULT "result"
#define CKPT_KEY_GENERATION "generation"
#define CKPT_KEY_STOPPED_NS "stopped_ns"
#define CKPT_KEY_WRITING "writing"
#define CKPT_KEY_MESSAGE "message"     /* always last: its value runs to the end of the line */
#define CKPT_STATUS_HISTORY 16         /* lines kept */
#define CKPT_STATUS_HISTORY_BYTES 6144 /* the older answers kept fit in this */
#define CKPT_STATUS_LINE_MAX 1280      /* one answer, message included */
#define CKPT_STATUS_MAX_BYTES 65536    /* anything larger is no status file of the shim */

/* ---- after a restore ----------------------------------------------------------------------
 * Written by the restore core into the restored process (at the PROCESS record's
 * restore_info_addr, checked to lie in a writable region) just before it resumes the
 * checkpoint handler, whose second return then knows it comes from a restore. Shim and core
 * come from one build: this is no on-disk format. */
#define CKPT_LAZY_RANGES_MAX 2048u
struct ckpt_restore_info {
    uint64_t core_addr; /* the restore core's mapping, which the shim unmaps after resuming */
    uint64_t core_length;
    uint32_t warnings; /* CKPT_RESTORE_WARN_* bits */
    /* Threads still to come back into the shim's handler: each one that does takes one off,
     * and the one that takes the last is the last on the restore core's code — it raises
     * the process-wide pending signals, unmaps the core and sets release. */
    uint32_t remaining;
    uint32_t release; /* 0 until the last thread is out (a futex word) */
    uint32_t nthreads;
    uint64_t shared_pending; /* raised by the last one out (kill), bit sig - 1 */
    /* The core's struct thread_plan[nthreads] (state/thread.h: old and new tids), which the
     * last one out reads before it unmaps the core. */
    uint64_t threads_addr;
    /* restore-run --lazy: the private anonymous memory it mapped from images (regions of
     * kinds ANON and DELETED_PRIVATE with stored pages, adjacent ones joined, in address
     * order), and those images' identities. MADV_DONTNEED there would read the image's pages
     * again, not zeros: the shim's madvise wrapper makes such parts anonymous memory again
     * (preload/shim_lazy.c). A region beyond CKPT_LAZY_RANGES_MAX is copied instead. */
    uint32_t lazy_nranges;
    uint32_t lazy_nimages;
    struct ckpt_lazy_image {
        uint64_t dev, ino;
    } lazy_images[CKPT_PARENTS_MAX + 1];
    struct ckpt_lazy_range {
        uint64_t start, end;
    } lazy_ranges[CKPT_LAZY_RANGES_MAX];
};
#define CKPT_RESTORE_WARN_EXE 1u      /* /proc/PID/exe could not be set (needs privilege) */
#define CKPT_RESTORE_WARN_RSEQ 2u     /* rseq could not be registered again */
#define CKPT_RESTORE_WARN_SCHED 4u    /* a scheduling policy or nice value could not be set */
#define CKPT_RESTORE_WARN_ALTSTACK 8u /* a signal stack could not be set again */

#endif
