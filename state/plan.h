/* The restore plan: everything restore-run's phase 1 (libc, validation: restorer/) hands the
 * restore core (phase 2, no libc: restorer/core/ and the restore sides of state/). It is
 * the contract between the two, so it lives here, beside the state/ files that fill and
 * apply it. Phase 1 builds it inside the core's own area, so every pointer in it stays
 * valid after restore-run's memory is gone. The core only applies it: every value here has
 * been checked before the point of no return. */
#ifndef CKPT_PLAN_H
#define CKPT_PLAN_H

#include <stdint.h>

#include "../include/ckpt/protocol.h"
#include "image_io.h"
#include "fd_memfile.h"

struct region_plan {
    const struct ckpt_region_record *rec;
    const struct ckpt_record_head *first_run; /* RUN records follow; NULL if none */
    int map_fd;                               /* file to map for FILE_* kinds, else -1 */
    uint32_t fd_owner; /* index of the region that opened map_fd: regions of one file share it */
    int placed;        /* 1: phase 1 mapped and filled it (restorer/place.c); the core keeps it */
    uint32_t memfile;  /* kind MEMFILE: the object's id; map_fd is p->memfile_fd[memfile - 1] */
    /* --lazy: anonymous memory mapped from the image, listed for the shim (protocol.h) */
    int lazy_anon;
};

struct fd_plan {
    const struct ckpt_fd_record *rec;    /* the descriptor: number, close-on-exec, origin */
    const struct ckpt_file_record *file; /* its open file description */
    /* The lowest descriptor of the same FILE, if lower: installed as a copy of it, and the
     * FILE's data, locks and terminal belong to that one; else -1. */
    int32_t shares_with;
    int temp_fd; /* opened by phase 1 at a high number; -1 if inherited or shared */
    int inherit; /* 1: restore-run's own descriptor of that number is the program's */
    const struct ckpt_file_data_record *data; /* the file's stored contents, or NULL */
    /* For the descriptor holding data: how files_commit puts the contents back. */
    enum { PUT_IN_PLACE, PUT_CREATE, PUT_REPLACE } put;
    int dir_fd; /* PUT_CREATE, PUT_REPLACE: the file's directory; else -1 */
    int new_fd; /* files_commit writes the contents through it: the temporary (PUT_CREATE,
                 * PUT_REPLACE) or a write-only descriptor of the file (PUT_IN_PLACE); or -1 */
    int no_cut; /* a written file others share (inherited, O_APPEND): never cut back */
    const struct ckpt_lock_record *locks; /* nlocks consecutive LOCK records */
    uint32_t nlocks;
    const struct ckpt_terminal_record *terminal; /* settings of this terminal, or NULL */
    /* The kind's own records after the FILE (every record before the next FILE or FD but
     * FILE_DATA, LOCK and TERMINAL: an EVENTFD, EPOLL_TARGETs, a PIPE and PIPE_END, ...):
     * ndetail consecutive records from detail, or NULL. */
    const struct ckpt_record_head *detail;
    uint32_t ndetail;
};

/* One FILE object and the records that follow it, while plan_records hands them to its
 * lowest descriptor's fd_plan. */
struct file_plan {
    const struct ckpt_file_record *rec;
    int32_t owner; /* index in fds of its lowest descriptor, -1 before it is seen */
    uint32_t nlocks;
    const struct ckpt_file_data_record *data;
    const struct ckpt_lock_record *locks;
    const struct ckpt_terminal_record *terminal;
    const struct ckpt_record_head *detail; /* the kind's own records (fd_plan.detail) */
    uint32_t ndetail;
};

/* Live special mappings, indexed VDSO_VVAR, VDSO_VCLOCK, VDSO_CODE. */
enum { VDSO_VVAR, VDSO_VCLOCK, VDSO_CODE, VDSO_NMAPS };

struct vdso_patch {
    uint64_t at;     /* address of the old entry point (in the rebuilt old vDSO) */
    uint64_t target; /* the new vDSO's function, or 0 = return -ENOSYS */
};

#define VDSO_MAX_PATCHES 64

struct vdso_plan {
    uint64_t live_start[VDSO_NMAPS], live_len[VDSO_NMAPS]; /* len 0 = absent */
    uint64_t target_start[VDSO_NMAPS];                     /* where each live map goes */
    uint64_t parking; /* free space in the core area for moving them safely */
    int proxy;        /* 1: the old vDSO is rebuilt at its address with jumps */
    uint64_t old_start, old_len;
    const unsigned char *old_bytes; /* the image's copy of the old vDSO */
    uint32_t npatches;
    struct vdso_patch patches[VDSO_MAX_PATCHES];
};

struct thread_plan; /* state/thread.h */

struct restore_plan {
    uint64_t area_start, area_len;   /* the core's own mapping: blob, plan, stack, image */
    uint64_t image_start, image_len; /* the image file's mapping inside the area */
    struct image_view view;
    const struct ckpt_process_record *proc;
    int err_fd;   /* restore-run's stderr, kept for fatal messages until the end */
    int exe_fd;   /* the program's executable for PR_SET_MM_MAP, or -1 */
    int image_fd; /* restore-run --lazy: the image, private pages are mapped from it; else -1 */
    /* An incremental image's parents (PARENT records, by id - 1), checked by
     * restorer/chain.c: RUN_REF pages are read or mapped from them (chain_place_ref). */
    uint32_t nparents;
    int parent_fds[CKPT_PARENTS_MAX];
    uint32_t nregions, nfds, nfiles, nthreads;
    uint32_t map_files; /* descriptors memory_check opened for the mapped files */
    /* The MEMFILE objects made again (memfiles_create), by id - 1: descriptors and regions
     * of one are opened and mapped from it. */
    uint32_t nmemfiles;
    int memfile_fd[MEMFILES_MAX];
    struct region_plan *regions;
    struct fd_plan *fds;
    struct file_plan *files;     /* nfiles, by id - 1 */
    struct thread_plan *threads; /* the leader first (thread_plan) */
    uint32_t threads_restored;   /* core: threads after the leader done with the image */
    struct vdso_plan vdso;
    uint64_t raise_signals;   /* more signals to raise at the end (bit sig - 1) */
    int allow_running;        /* restore-run --while-running, ckpt verify: no refusal when */
    int original_runs;        /* ... the checkpointed process still runs (process_check) */
    int cut_appended;         /* restore-run --cut-appended: inherited O_APPEND files too */
    uint8_t startup_fds[128]; /* bitmap: descriptors 0..1023 restore-run was started with */
    char *scratch;            /* for reading /proc/self/maps in the core */
    uint64_t scratch_len;
    char image_path[CKPT_PATH_MAX];
};

/* Fatal error after the point of no return: "restore-run: IMAGE: ..." on err_fd, exit 1. */
#define core_die(p, ...) ck_die((p)->err_fd, "restore-run", (p)->image_path, __VA_ARGS__)

#endif
