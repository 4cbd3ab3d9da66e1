/* ckpt image format 3.2 — the one definition shared by the writer (libckpt.so, in the
 * checkpoint signal handler), restore-run and the ckpt tool. docs/image-format.md describes
 * it field by field; this file is the normative source.
 *
 * # Adding a record kind (checklist)
 *
 * 1. A row in CKPT_RECORDS below: a new value (never one used before), its flags (CRITICAL
 *    if a reader that skips it would restore something wrong; DATA if it owns bytes of the
 *    data section), min_len = size = sizeof its struct. Adding a kind is a minor version.
 * 2. Its struct below, starting with struct ckpt_record_head head (and, for DATA, struct
 *    ckpt_extent extent right after it, at byte 16), size a multiple of 8.
 * 3. In the kind's own file (a descriptor kind's state/fd_<kind>.c; memory.c, process.c,
 *    thread.c for theirs): check_<name>, the validator's checks of one record, and
 *    complete_<name>, what must follow it (IMAGE_NOTHING_TO_COMPLETE(name) if nothing),
 *    declared from the rows in state/image_check.h; the save side (iw_record sets kind and
 *    flags, iw_extent fills a DATA record's extent) and the restore side's use of it. A
 *    descriptor kind's records after its FILE reach its fd_plan as detail (plan_records).
 *    And inspect_<name> in tools/inspect.c. The build fails without check_, complete_ and
 *    inspect_ (their dispatch is generated from the rows).
 * 4. docs/image-format.md and tests/fuzz/make-corpus.sh's seeds.
 *
 * # Layout of an image file
 *
 *     [0, 4096)                  struct ckpt_file_header, zero padded
 *     [4096, meta_offset)        data: one block per DATA record, each page aligned
 *     [meta_offset, file_size)   metadata: a sequence of records, the last one CKPT_REC_END
 *
 * The data comes first so the writer can stream memory out without knowing in advance how
 * much there is; the header is written last (pwrite at offset 0) and names where the
 * metadata lies. Data is page aligned so restore can map it straight from the file.
 *
 * # Records
 *
 * Every record starts with the 16-byte struct ckpt_record_head {kind, flags, length, id};
 * length covers the whole record including the head and variable tail, and is a multiple
 * of 8 and at least the kind's min_len. Record order: one PROCESS record, then its THREAD
 * records (PROCESS.nthreads of them, the leader first, ids 1..n), then the MEMFILE objects
 * (memfds, deleted files, shared memory mapped twice), then for each memory region one
 * REGION record followed by its RUN records (a MEMFILE_MAP for a region of kind MEMFILE),
 * then one FILE record per
 * open file description (followed by a FILE_DATA record if the file's contents are stored,
 * then one LOCK record per lock the process held on the file, or a TERMINAL record if it
 * is a terminal; a PIPE record after the first end of a pipe, and a PIPE_END after each
 * end; likewise SOCKPAIR and SOCKET_END for a pair of UNIX sockets; a MEMFILE_OPEN after a
 * memfd or deleted file; a UNIX_BOUND after a bound or listening UNIX socket; an
 * INOTIFY_WATCH per watch of an inotify instance; a CHARDEV after a character device), then
 * one FD record per
 * descriptor in ascending order, each naming its FILE by id, then END.
 *
 * Flags: CKPT_RECF_CRITICAL — a reader that does not know the kind refuses the image;
 * without it a reader skips the record wherever it stands (also between a REGION and its
 * RUNs). CKPT_RECF_DATA — a struct ckpt_extent at byte 16 names the record's bytes in the
 * data section; readers that do not know the kind still check that the extents of all
 * DATA records tile the data section in metadata order and hash them. Bits of
 * CKPT_RECF_IGNORABLE_MASK may be defined by a minor version and are ignored by older
 * readers; bits of CKPT_RECF_REFUSE_MASK make an older reader refuse. A known kind's
 * CRITICAL and DATA bits must be the registry's.
 *
 * Ids: where a kind has objects that other records refer to, its records carry ids 1..n,
 * dense, in file order; records of other kinds carry 0. A reference names an id of a
 * record before it.
 *
 * # Integrity
 *
 * The header carries an XXH64 of itself and of the metadata; every DATA record's extent
 * carries an XXH64 of its bytes. So every byte of the file is covered by exactly one
 * checksum.
 *
 * # Versions
 *
 * version_major.version_minor. A reader reads every minor of its major and refuses any
 * other major. A minor version may add a kind (critical or not: an older reader refuses
 * only an image that holds a critical record of it), append fields at the end of a record
 * (older readers read what they know; newer readers take 0 for fields a shorter record
 * lacks, so min_len stays what it was), or define an ignorable flag bit. A major version
 * changes the meaning or offset of an existing field, or the framing. History: 1 the
 * first; 2 the process record ends with start_time and boot_id; 3.0 the 16-byte record
 * head with flags and ids, DATA extents, the registry, FILE objects, and THREAD records
 * for what is per thread (registers, TLS, rseq, robust list, mask, signal stack,
 * scheduling, name), PROCESS keeping only what is process-wide; 3.1 the event-loop
 * descriptors (FD kinds EVENTFD..EPOLL, records EVENTFD, TIMERFD, SIGNALFD, EPOLL_TARGET),
 * pipes and UNIX socket pairs of the program's own (PIPE, PIPE_END, SOCKPAIR, SOCKET_END);
 * 3.2 inotify (FD kind INOTIFY, record INOTIFY_WATCH), the device number of a character
 * device (CHARDEV); TCP and UDP sockets (FD kind INET,
 * record INET); files that live only in memory or are deleted (FD kinds MEMFD, DELETED, region kind
 * MEMFILE, records MEMFILE, MEMFILE_OPEN, MEMFILE_MAP).
 * 3.2 bound and listening UNIX sockets (UNIX_BOUND).
 * 3.2 incremental images (PARENT, RUN_REF: pages kept in an earlier image, state/chain.c).
 * 3.2 compressed page runs (CKPT_RECF_ZSTD on RUN).
 * 3.2 hashes of pages in transparent huge pages (PAGE_HASHES, not critical, state/page_hashes.c).
 *
 * # Rules for changing this file
 *
 * Values on disk never change meaning: a kind or enum value that is retired stays listed
 * with a _RETIRED suffix and is never reused. All integers are little-endian (the only
 * architecture is x86_64).
 *
 * This header uses only <stdint.h> and <stddef.h> so any tool can include it. */
#ifndef CKPT_IMAGE_H
#define CKPT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define CKPT_IMAGE_MAGIC "CKPTIMG\n" /* 8 bytes, no NUL */
#define CKPT_IMAGE_VERSION_MAJOR 3u
#define CKPT_IMAGE_VERSION_MINOR 2u
#define CKPT_ARCH_X86_64 62u /* ELF e_machine EM_X86_64 */
#define CKPT_PAGE_SIZE 4096u
#define CKPT_HEADER_SIZE 4096u
#define CKPT_PATH_MAX 4096u

struct ckpt_file_header {
    char magic[8];          /* CKPT_IMAGE_MAGIC */
    uint32_t version_major; /* CKPT_IMAGE_VERSION_MAJOR (formats 1 and 2 had one number here) */
    uint32_t header_size;   /* CKPT_HEADER_SIZE */
    uint32_t arch;          /* CKPT_ARCH_X86_64 */
    uint32_t page_size;     /* CKPT_PAGE_SIZE */
    uint64_t file_size;     /* total bytes; a shorter file is truncated */
    uint64_t meta_offset;   /* where the records start (page aligned) */
    uint64_t meta_length;   /* bytes of records, END included */
    uint64_t meta_checksum; /* XXH64(seed 0) of the metadata bytes */
    uint64_t data_bytes;    /* bytes of data, for inspect and bench */
    int64_t created_sec;    /* CLOCK_REALTIME when the checkpoint started */
    uint32_t created_nsec;
    uint32_t pid;             /* pid of the checkpointed process (informational) */
    uint32_t generation;      /* 1 for the first image of a run, +1 per checkpoint */
    uint32_t version_minor;   /* CKPT_IMAGE_VERSION_MINOR (0 in formats 1 and 2) */
    uint64_t header_checksum; /* XXH64(seed 0) of the bytes before this field */
};
_Static_assert(sizeof(struct ckpt_file_header) == 96, "header layout");

/* Record head flags. */
#define CKPT_RECF_CRITICAL 0x0001u       /* a reader that does not know the kind refuses */
#define CKPT_RECF_DATA 0x0002u           /* a struct ckpt_extent follows the head */
#define CKPT_RECF_IGNORABLE_MASK 0x00fcu /* bits 2-7: future, an older reader ignores them */
#define CKPT_RECF_REFUSE_MASK 0xff00u    /* bits 8-15: future, an older reader refuses */
/* RUN only (3.2): the record is a struct ckpt_compressed_run_record and its extent's bytes are
 * one zstd frame of the pages (checkpoint-run --compress). In CKPT_RECF_REFUSE_MASK: a reader
 * that does not know it would take the frame for the pages. */
#define CKPT_RECF_ZSTD 0x0100u

/* The registry of record kinds: X(NAME, name, value, flags, min_len, size). value and
 * min_len never change once released; size is sizeof(struct ckpt_<name>_record) in this
 * version (>= min_len). END is the last row. Everything per kind — the enum, names, flags,
 * minimum lengths, layout checks, the validator's and inspect's dispatch — is generated
 * from these rows. */
#define CKPT_RECORDS(X)                                                                            \
    X(PROCESS, process, 0x0001, CKPT_RECF_CRITICAL, 11840, 11840)                                  \
    X(REGION, region, 0x0002, CKPT_RECF_CRITICAL, 120, 120)                                        \
    X(RUN, run, 0x0003, CKPT_RECF_CRITICAL | CKPT_RECF_DATA, 48, 48)                               \
    X(FD, fd, 0x0004, CKPT_RECF_CRITICAL, 32, 32)                                                  \
    X(FILE_DATA, file_data, 0x0005, CKPT_RECF_CRITICAL | CKPT_RECF_DATA, 56, 56)                   \
    X(LOCK, lock, 0x0006, CKPT_RECF_CRITICAL, 40, 40)                                              \
    X(TERMINAL, terminal, 0x0007, 0, 72, 72)                                                       \
    X(THREAD, thread, 0x0008, CKPT_RECF_CRITICAL, 264, 264)                                        \
    X(FILE, file, 0x0009, CKPT_RECF_CRITICAL, 112, 112)                                            \
    X(EVENTFD, eventfd, 0x0020, CKPT_RECF_CRITICAL, 32, 32)                                        \
    X(TIMERFD, timerfd, 0x0021, CKPT_RECF_CRITICAL, 88, 88)                                        \
    X(SIGNALFD, signalfd, 0x0022, CKPT_RECF_CRITICAL, 32, 32)                                      \
    X(EPOLL_TARGET, epoll_target, 0x0023, CKPT_RECF_CRITICAL, 40, 40)                              \
    X(PIPE, pipe, 0x0010, CKPT_RECF_CRITICAL | CKPT_RECF_DATA, 56, 56)                             \
    X(PIPE_END, pipe_end, 0x0011, CKPT_RECF_CRITICAL, 32, 32)                                      \
    X(FIFO, fifo, 0x0018, CKPT_RECF_CRITICAL, 32, 32)                                              \
    X(SOCKPAIR, sockpair, 0x0012, CKPT_RECF_CRITICAL, 24, 24)                                      \
    X(SOCKET_END, socket_end, 0x0013, CKPT_RECF_CRITICAL | CKPT_RECF_DATA, 80, 80)                 \
    X(INET, inet, 0x0030, CKPT_RECF_CRITICAL | CKPT_RECF_DATA, 144, 144)                           \
    X(INOTIFY_WATCH, inotify_watch, 0x0050, CKPT_RECF_CRITICAL, 56, 56)                            \
    X(CHARDEV, chardev, 0x0051, 0, 32, 32)                                                         \
    X(MEMFILE, memfile, 0x0040, CKPT_RECF_CRITICAL | CKPT_RECF_DATA, 88, 88)                       \
    X(MEMFILE_OPEN, memfile_open, 0x0041, CKPT_RECF_CRITICAL, 32, 32)                              \
    X(MEMFILE_MAP, memfile_map, 0x0042, CKPT_RECF_CRITICAL, 24, 24)                                \
    X(UNIX_BOUND, unix_bound, 0x0014, CKPT_RECF_CRITICAL, 184, 184)                                \
    X(PARENT, parent, 0x0060, CKPT_RECF_CRITICAL, 40, 40)                                          \
    X(RUN_REF, run_ref, 0x0061, CKPT_RECF_CRITICAL, 72, 72)                                        \
    X(PAGE_HASHES, page_hashes, 0x0062, 0, 32, 32)                                                 \
    X(END, end, 0xffff, CKPT_RECF_CRITICAL, 24, 24)

enum ckpt_record_kind {
#define CKPT_KIND_ENUM(NAME, name, value, flags, min_len, size) CKPT_REC_##NAME = value,
    CKPT_RECORDS(CKPT_KIND_ENUM)
#undef CKPT_KIND_ENUM
};

/* Dense indices of the known kinds, for tables per kind: CKPT_RECI_<NAME>. */
enum ckpt_record_index {
#define CKPT_KIND_INDEX(NAME, name, value, flags, min_len, size) CKPT_RECI_##NAME,
    CKPT_RECORDS(CKPT_KIND_INDEX)
#undef CKPT_KIND_INDEX
        CKPT_NRECORD_KINDS
};

/* Lookups by kind, one switch each (no table of pointers: the restore core is linked to
 * run at two addresses and has no relocations). */
#define CKPT_RECORD_LOOKUP(fn, type, case_of_row, otherwise)                                       \
    static inline type fn(uint32_t kind)                                                           \
    {                                                                                              \
        switch (kind) {                                                                            \
            CKPT_RECORDS(case_of_row)                                                              \
        }                                                                                          \
        return otherwise;                                                                          \
    }
#define CKPT_CASE_INDEX(NAME, name, value, flags, min_len, size)                                   \
    case value:                                                                                    \
        return CKPT_RECI_##NAME;
#define CKPT_CASE_NAME(NAME, name, value, flags, min_len, size)                                    \
    case value:                                                                                    \
        return #NAME;
#define CKPT_CASE_FLAGS(NAME, name, value, flags, min_len, size)                                   \
    case value:                                                                                    \
        return flags;
#define CKPT_CASE_MIN_LEN(NAME, name, value, flags, min_len, size)                                 \
    case value:                                                                                    \
        return min_len;
/* The index of a known kind, or -1 for a kind this reader does not know. */
CKPT_RECORD_LOOKUP(ckpt_record_index, int, CKPT_CASE_INDEX, -1)
/* "PROCESS", ... for a known kind, NULL for another. */
CKPT_RECORD_LOOKUP(ckpt_record_name, const char *, CKPT_CASE_NAME, 0)
/* The registry's flags of a known kind (0 for another). */
CKPT_RECORD_LOOKUP(ckpt_record_flags, uint32_t, CKPT_CASE_FLAGS, 0)
/* The shortest record of a known kind a reader accepts (0 for another). */
CKPT_RECORD_LOOKUP(ckpt_record_min_len, uint32_t, CKPT_CASE_MIN_LEN, 0)
#undef CKPT_CASE_INDEX
#undef CKPT_CASE_NAME
#undef CKPT_CASE_FLAGS
#undef CKPT_CASE_MIN_LEN
#undef CKPT_RECORD_LOOKUP

struct ckpt_record_head {
    uint16_t kind;      /* enum ckpt_record_kind */
    uint16_t flags;     /* CKPT_RECF_* */
    uint32_t length;    /* whole record in bytes, multiple of 8, >= the kind's min_len */
    uint32_t id;        /* 1..n in file order for kinds with objects, else 0 */
    uint32_t reserved0; /* 0 */
};
_Static_assert(sizeof(struct ckpt_record_head) == 16, "record head layout");

/* The bytes a DATA record owns in the data section, at byte 16 of the record. */
struct ckpt_extent {
    uint64_t file_offset; /* page aligned, in [CKPT_HEADER_SIZE, meta_offset) */
    uint64_t length;      /* page multiple (may be 0) */
    uint64_t checksum;    /* XXH64(seed 0) of the length bytes */
};
_Static_assert(sizeof(struct ckpt_extent) == 24, "extent layout");

/* ---------------------------------------------------------------------------------------
 * PROCESS: everything about the process that is not a memory region or a descriptor. */

/* The setjmp-style context taken inside the checkpoint signal handler. Restore resumes
 * here with rax = 1; the interrupted program's registers then come back from the signal
 * frame (which is in the saved stack) when the handler returns. */
struct ckpt_cpu_context {
    uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
};
_Static_assert(sizeof(struct ckpt_cpu_context) == 64, "context layout");

struct ckpt_sigaction {
    uint64_t handler; /* SIG_DFL = 0, SIG_IGN = 1, else an address in the image */
    uint64_t flags;   /* SA_* as the kernel keeps them */
    uint64_t restorer;
    uint64_t mask; /* kernel sigset (64 signals) */
};
_Static_assert(sizeof(struct ckpt_sigaction) == 32, "sigaction layout");

struct ckpt_itimer {
    int64_t interval_sec, interval_usec, value_sec, value_usec;
};

struct ckpt_rlimit {
    uint64_t cur, max; /* RLIM_INFINITY = ~0 */
};

#define CKPT_NSIG 64
#define CKPT_NRLIMITS 16
#define CKPT_AUXV_WORDS 128 /* (type, value) pairs, AT_NULL terminated */

struct ckpt_process_record {
    struct ckpt_record_head head; /* CKPT_REC_PROCESS */
    uint32_t pid, leader_tid;     /* at checkpoint, informational */
    uint32_t uid, gid;            /* real ids, informational */
    uint32_t umask;
    uint32_t checkpoint_signal;
    uint32_t nthreads; /* THREAD records that follow, the leader's first */
    uint32_t reserved0;
    uint64_t restore_info_addr; /* struct ckpt_restore_info (ckpt/protocol.h) in the shim */
    /* mm fields, as in /proc/PID/stat, restored with prctl(PR_SET_MM_MAP) */
    uint64_t start_code, end_code, start_data, end_data, start_brk, brk, start_stack;
    uint64_t arg_start, arg_end, env_start, env_end;
    uint64_t auxv[CKPT_AUXV_WORDS];
    uint32_t auxv_words; /* used words of auxv, AT_NULL pair included */
    uint32_t reserved1;
    struct ckpt_sigaction sigactions[CKPT_NSIG]; /* index = signal number - 1 */
    uint64_t shared_pending;       /* process-directed pending signals (ShdPnd), raised again */
    struct ckpt_itimer itimers[3]; /* ITIMER_REAL, _VIRTUAL, _PROF */
    struct ckpt_rlimit rlimits[CKPT_NRLIMITS]; /* index = RLIMIT_* */
    char comm[16];                             /* /proc/PID/comm: the leader's name */
    char cwd[CKPT_PATH_MAX];
    char exe[CKPT_PATH_MAX]; /* /proc/PID/exe at checkpoint */
    /* Which process this was, so that restore-run can tell that it still runs: the same
     * boot, the same pid and the same start time name the same process. */
    uint64_t start_time; /* /proc/PID/stat field 22: clock ticks after boot */
    char boot_id[40];    /* /proc/sys/kernel/random/boot_id without its newline; "" unknown */
};

/* ---------------------------------------------------------------------------------------
 * THREAD: one thread of the process, taken by the thread itself inside its checkpoint
 * signal handler. The registers the signal interrupted are not here: they are in the
 * kernel's signal frame (at frame_addr) on the thread's own stack, which is memory, and
 * come back with rt_sigreturn when the handler returns after the restore. */

#define CKPT_THREAD_LEADER 0x1u   /* the thread whose tid is the pid (first THREAD record) */
#define CKPT_THREAD_GLIBC 0x2u    /* tid_addr is glibc's struct pthread .tid, verified */
#define CKPT_THREAD_RSEQ 0x4u     /* the thread had an rseq area registered (rseq_addr) */
#define CKPT_THREAD_ALTSTACK 0x8u /* the thread had a signal stack (altstack_*) */
#define CKPT_THREAD_FLAGS 0xfu    /* every flag defined */

struct ckpt_thread_record {
    struct ckpt_record_head head; /* CKPT_REC_THREAD */
    uint32_t tid;                 /* at checkpoint */
    uint32_t flags;               /* CKPT_THREAD_* */
    struct ckpt_cpu_context context;
    uint64_t fs_base, gs_base;
    uint64_t frame_addr;      /* the handler's ucontext_t: a restore returns through it */
    uint64_t tid_addr;        /* with CKPT_THREAD_GLIBC: glibc's cached tid, written anew */
    uint64_t clear_child_tid; /* prctl(PR_GET_TID_ADDRESS): cleared by the kernel at exit */
    uint64_t robust_list;     /* set_robust_list head, 0 = none */
    uint64_t robust_list_len;
    uint64_t rseq_addr; /* with CKPT_THREAD_RSEQ: registered again at restore */
    uint32_t rseq_len, rseq_sig;
    uint64_t sigmask; /* blocked set of the interrupted thread (informational: the frame has it) */
    uint64_t pending; /* thread-directed pending signals, raised again in this thread */
    uint64_t altstack_sp, altstack_size; /* sigaltstack, with CKPT_THREAD_ALTSTACK */
    uint32_t altstack_flags;             /* SS_AUTODISARM as set (SS_ONSTACK as found) */
    uint32_t sched_policy;               /* SCHED_OTHER, _FIFO, _RR, _BATCH, _IDLE */
    uint32_t sched_priority;             /* real-time priority, 0 for the others */
    int32_t nice;                        /* -20..19 */
    uint64_t sched_flags;                /* SCHED_FLAG_RESET_ON_FORK */
    uint64_t xfeatures;                  /* of the signal frame's xsave area (informational) */
    uint32_t xstate_size;
    /* What the thread was doing when the checkpoint signal came (informational, for ckpt
     * inspect; from the frame): CKPT_THREAD_IN_USER_CODE, the number + 1 of the system call
     * it was in and will restart, or CKPT_THREAD_CALL_INTERRUPTED. */
    uint32_t interrupted_call;
    char comm[16]; /* the thread's name (prctl PR_GET_NAME) */
    /* Where the checkpoint signal interrupted the program (the frame's rip and rsp):
     * informational, for ckpt inspect; the frame itself brings them back. */
    uint64_t interrupted_rip, interrupted_rsp;
};
_Static_assert(sizeof(struct ckpt_thread_record) % 8 == 0, "thread record alignment");
#define CKPT_THREAD_IN_USER_CODE 0u
/* A system call that the signal ended with EINTR (poll, epoll_wait, select, nanosleep, a
 * timed futex wait: the kernel restarts none of these after a handler). */
#define CKPT_THREAD_CALL_INTERRUPTED 0xffffffffu

/* ---------------------------------------------------------------------------------------
 * REGION: one line of /proc/PID/maps. */

#define CKPT_REGION_KINDS(X)                                                                       \
    X(ANON, 1)         /* private anonymous; stored: present pages but all-zero ones */            \
    X(HEAP, 2)         /* the brk heap; like ANON */                                               \
    X(STACK, 3)        /* the main stack, grows down; like ANON */                                 \
    X(FILE_PRIVATE, 4) /* private file map; mapped from the file, stored: copied-on-write pages */ \
    X(FILE_SHARED, 5)  /* shared file map; mapped from the file, nothing stored */                 \
    X(SHARED_ANON, 6)  /* shared anonymous or of a deleted file; stored: non-zero pages */         \
    X(DELETED_PRIVATE, 7) /* private map of a deleted file; stored: all pages, restored anon */    \
    X(VDSO, 8)            /* [vdso]; stored for comparison, the live one is placed here */         \
    X(VVAR, 9)            /* [vvar]; the live one is placed here */                                \
    X(VVAR_VCLOCK, 10)    /* [vvar_vclock]; the live one is placed here */                         \
    X(MEMFILE, 11) /* shared map of a MEMFILE object (MEMFILE_MAP after it); nothing stored */

enum ckpt_region_kind {
#define CKPT_REGION_ENUM(name, value) CKPT_REGION_##name = value,
    CKPT_REGION_KINDS(CKPT_REGION_ENUM)
#undef CKPT_REGION_ENUM
};

#define CKPT_PROT_READ 1u
#define CKPT_PROT_WRITE 2u
#define CKPT_PROT_EXEC 4u

/* Identity of a file, checked at restore: a mapped or read-only file must be the same file,
 * a file open for writing may only have grown. */
struct ckpt_file_identity {
    uint64_t size;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    uint32_t mode;     /* st_mode */
    uint64_t dev, ino; /* informational: they change across machines and file systems */
    uint8_t build_id[20];
    uint32_t build_id_len; /* 0 = not an ELF file or no build-id note */
};
_Static_assert(sizeof(struct ckpt_file_identity) == 64, "identity layout");

struct ckpt_region_record {
    struct ckpt_record_head head; /* CKPT_REC_REGION */
    uint64_t start, end;          /* page aligned, start < end */
    uint32_t prot;                /* CKPT_PROT_* */
    uint32_t kind;                /* enum ckpt_region_kind */
    uint64_t file_offset;         /* for file maps */
    uint32_t nruns;               /* RUN records that follow */
    uint32_t path_len;            /* bytes of path, NUL excluded; 0 for anonymous */
    struct ckpt_file_identity file;
    char path[]; /* NUL terminated, padded to 8 */
};

/* RUN: a block of stored pages of the region before it. Writers cut runs at
 * CKPT_RUN_SPLIT bytes so that a reader can copy and verify many runs at once (restore-run
 * fills memory with one thread per CPU); readers accept runs of any length. */
#define CKPT_RUN_SPLIT (2u << 20)
struct ckpt_run_record {
    struct ckpt_record_head head; /* CKPT_REC_RUN */
    struct ckpt_extent extent;    /* the pages; length > 0 */
    uint64_t addr;                /* page aligned, inside the region, ascending */
};

/* A RUN with CKPT_RECF_ZSTD: extent.length and extent.checksum are those of the pages as they
 * were (uncompressed), so every check of a run's place stays the same; its bytes in the data
 * section are one zstd frame of them, stored_length bytes, then zeros to the next page. The
 * extent occupies CK_PAGE_UP(stored_length) bytes there, less than extent.length. */
struct ckpt_compressed_run_record {
    struct ckpt_run_record run;
    uint64_t stored_length;   /* bytes of the zstd frame at extent.file_offset */
    uint64_t stored_checksum; /* XXH64(seed 0) of the stored bytes, padding included */
};
_Static_assert(sizeof(struct ckpt_compressed_run_record) == 64, "compressed run layout");

/* ---------------------------------------------------------------------------------------
 * Incremental images (state/chain.c, docs/image-format.md): an image may leave pages the
 * program did not write since an earlier checkpoint in the image that holds them. */

/* PARENT: an image this one takes pages from, an object RUN_REF records name by id (1..n),
 * after the THREAD records and before the first REGION. The parent is found by its content
 * id (its header_checksum, which covers its metadata and so every checksum of its data), not
 * by its name: rotation renames images, and a chain may be moved to another directory. */
struct ckpt_parent_record {
    struct ckpt_record_head head; /* CKPT_REC_PARENT, id = parent object id */
    uint64_t content_id;          /* the parent's header_checksum */
    uint64_t file_size;           /* the parent's file_size */
    uint32_t generation;          /* the parent's generation */
    uint32_t name_len;            /* bytes of name, NUL excluded */
    char name[]; /* the parent's file name when this image was written (a hint), padded */
};

/* RUN_REF: pages of the region before it that are in a parent image: skip bytes into the
 * pages of the parent's RUN whose extent is run (copied as the parent has it, so a reader
 * needs only this record and the parent's file to read them, through the codec, and checks
 * them against that RUN). Stands among the region's RUN records (counted in its nruns), in
 * address order. */
struct ckpt_run_ref_record {
    struct ckpt_record_head head; /* CKPT_REC_RUN_REF */
    uint32_t parent;              /* id of a PARENT record */
    uint32_t reserved0;
    uint64_t addr;          /* page aligned, inside the region, ascending with the RUNs */
    uint64_t length;        /* page multiple, > 0 */
    uint64_t skip;          /* bytes of that RUN's pages before these (page multiple) */
    struct ckpt_extent run; /* the parent's RUN extent that holds them */
};
#define CKPT_PARENTS_MAX 64u /* PARENT records of one image */

/* PAGE_HASHES: the XXH64 of each page of a run of memory the program had in transparent
 * huge pages, as this image holds it. The kernel tracks writes in 4 KiB pages and would
 * split a huge page at its first write after each checkpoint; such memory is not
 * write-protected, and the next incremental image keeps a page in its parent when the
 * page's hash is the one recorded here. Only the checkpointer reads these records:
 * restore-run checks their shape and passes over them (not critical: an older reader
 * skips them). After the regions, in ascending address order, not overlapping. */
struct ckpt_page_hashes_record {
    struct ckpt_record_head head; /* CKPT_REC_PAGE_HASHES */
    uint64_t addr;                /* page aligned */
    uint64_t npages;              /* > 0; length = 32 + 8 * npages */
    /* uint64_t hash[npages]: 0 for a page not seen (it never matches) */
};
#define CKPT_PAGE_HASHES_SPLIT (1u << 20) /* pages per record at most */

/* ---------------------------------------------------------------------------------------
 * FILE and FD: open file descriptions, and the descriptors that refer to them. */

#define CKPT_FD_KINDS(X)                                                                           \
    X(FILE, 1)      /* regular file: reopened by path, offset restored */                          \
    X(DIR, 2)       /* directory: reopened by path */                                              \
    X(PIPE, 3)      /* pipe or FIFO: made again (PIPE, FIFO records) or restore-run's */           \
    X(SOCKET, 4)    /* socket: only 0, 1, 2 or inherited (taken from restore-run) */               \
    X(TTY, 5)       /* terminal: taken from restore-run's terminal */                              \
    X(CHARDEV, 6)   /* /dev/null, zero, full, random, urandom: reopened by path (CHARDEV) */       \
    X(EVENTFD, 16)  /* eventfd: made again with its counter (EVENTFD record) */                    \
    X(TIMERFD, 17)  /* timerfd: made again and re-armed (TIMERFD record) */                        \
    X(SIGNALFD, 18) /* signalfd: made again with its mask (SIGNALFD record) */                     \
    X(EPOLL, 19)    /* epoll: made again, its interest list re-added (EPOLL_TARGET records) */     \
    X(INET, 20)     /* TCP or UDP socket: made again, bound, listening, connected (INET record) */ \
    X(INOTIFY, 32)  /* inotify: made again, its watches re-added by path (INOTIFY_WATCH) */        \
    X(MEMFD, 28)    /* memfd: made again with its contents and seals (MEMFILE, MEMFILE_OPEN) */    \
    X(DELETED, 29)  /* deleted file held open: made again unlinked (MEMFILE, MEMFILE_OPEN) */

enum ckpt_fd_kind {
#define CKPT_FD_ENUM(name, value) CKPT_FD_##name = value,
    CKPT_FD_KINDS(CKPT_FD_ENUM)
#undef CKPT_FD_ENUM
};

/* How the shim learnt of the descriptor. */
#define CKPT_FD_ORIGINS(X)                                                                         \
    X(UNKNOWN, 0)   /* found in /proc/self/fd only (inherited, or opened behind the shim) */       \
    X(OPEN, 1)      /* open, openat, creat */                                                      \
    X(DUP, 2)       /* dup, dup2, dup3, fcntl F_DUPFD */                                           \
    X(PIPE, 3)      /* pipe, pipe2 */                                                              \
    X(SOCKET, 4)    /* socket, socketpair */                                                       \
    X(ACCEPT, 5)    /* accept, accept4 */                                                          \
    X(INHERITED, 6) /* already open when the program started */

enum ckpt_fd_origin {
#define CKPT_ORIGIN_ENUM(name, value) CKPT_ORIGIN_##name = value,
    CKPT_FD_ORIGINS(CKPT_ORIGIN_ENUM)
#undef CKPT_ORIGIN_ENUM
};

/* FILE: one open file description (what open(2) made; dup'ed descriptors share one), the
 * object FD records refer to by its id (1..n in file order). Its FILE_DATA, LOCK and
 * TERMINAL records follow it. */
struct ckpt_file_record {
    struct ckpt_record_head head; /* CKPT_REC_FILE, id = object id */
    uint32_t kind;                /* enum ckpt_fd_kind */
    uint32_t flags;               /* F_GETFL: access mode, O_APPEND, O_NONBLOCK, ... */
    uint32_t open_flags;          /* flags the program passed to open (informational) */
    uint32_t reserved1;
    uint64_t offset; /* file position, shared by its descriptors */
    struct ckpt_file_identity file;
    uint32_t path_len;
    uint32_t reserved0;
    char path[]; /* readlink of /proc/self/fd/N, NUL terminated, padded to 8 */
};

/* FD: one open descriptor, a number referring to a FILE record before it. */
struct ckpt_fd_record {
    struct ckpt_record_head head; /* CKPT_REC_FD */
    int32_t fd;
    uint32_t file;    /* id of its FILE record */
    uint32_t cloexec; /* 1 if FD_CLOEXEC */
    uint32_t origin;  /* enum ckpt_fd_origin: how the shim learnt of this descriptor */
};

/* FILE_DATA: the contents at checkpoint of the regular file of a FILE record, right after
 * it. Stored for files open read-write, which a program may rewrite in place after the
 * checkpoint (a database and its rollback journal): restore writes them back, recreating
 * the file if it was deleted meanwhile, instead of only cutting the file back to its size.
 * One record per file: other open file descriptions of the same file have none. */
struct ckpt_file_data_record {
    struct ckpt_record_head head; /* CKPT_REC_FILE_DATA */
    struct ckpt_extent extent;    /* the contents: size rounded up to pages, the tail zeros */
    uint32_t file;                /* id of the FILE record */
    uint32_t mode;                /* permission bits, for recreating the file */
    uint64_t size;                /* bytes of the file */
};

/* LOCK: a POSIX record lock (fcntl F_SETLK) the process held on the file of a FILE record,
 * after it (and its FILE_DATA). POSIX locks belong to the process, so the restored process
 * takes them again, through the file's lowest descriptor. */
#define CKPT_LOCK_READ 0u
#define CKPT_LOCK_WRITE 1u
#define CKPT_LOCK_TO_EOF UINT64_MAX /* end of a lock that extends to the end of the file */
struct ckpt_lock_record {
    struct ckpt_record_head head; /* CKPT_REC_LOCK */
    uint32_t file;                /* id of the FILE record */
    uint32_t type;                /* CKPT_LOCK_READ or CKPT_LOCK_WRITE */
    uint64_t start;               /* first byte */
    uint64_t end;                 /* last byte, or CKPT_LOCK_TO_EOF */
};

/* TERMINAL: the settings of the terminal of a FILE record (a CKPT_FD_TTY), right after it.
 * A restored process gets restore-run's terminal; these termios settings are put on it (a
 * line editor left it in raw mode, and reads as if it still is), and if its window size
 * differs the process gets SIGWINCH, as if the window had been resized. Not critical: a
 * reader that skips it leaves the terminal as it is — degraded, not wrong. */
struct ckpt_terminal_record {
    struct ckpt_record_head head; /* CKPT_REC_TERMINAL */
    uint32_t file;                /* id of the FILE record */
    uint32_t has_winsize;         /* 1 if rows..ypixel were read (TIOCGWINSZ) */
    /* struct termios as the kernel's TCGETS returns it */
    uint32_t iflag, oflag, cflag, lflag;
    uint8_t line;
    uint8_t cc[19];
    uint16_t rows, cols, xpixel, ypixel; /* struct winsize */
    uint32_t reserved0;
};

/* ---------------------------------------------------------------------------------------
 * Event-loop descriptors (state/fd_eventfd.c, fd_timerfd.c, fd_signalfd.c, fd_epoll.c): a
 * FILE record of kind EVENTFD, TIMERFD, SIGNALFD or EPOLL (its flags: O_NONBLOCK), then
 * right after it the kind's own record(s) naming it by id. */

/* EVENTFD: the counter of an eventfd, right after its FILE. */
struct ckpt_eventfd_record {
    struct ckpt_record_head head; /* CKPT_REC_EVENTFD */
    uint32_t file;                /* id of the FILE record */
    uint32_t semaphore;           /* 1 if EFD_SEMAPHORE */
    uint64_t count;               /* the counter, < UINT64_MAX */
};

/* TIMERFD: a timerfd's clock and setting, right after its FILE. value is the time left to
 * the next expiration at checkpoint (0: disarmed), expires the same as an absolute time of
 * clockid at checkpoint. A relative timer is re-armed with value; an absolute timer of a
 * CLOCK_REALTIME clock at expires (the same wall time); an absolute timer of another clock
 * with value (that clock starts again at a reboot). ticks expirations not yet read stay. */
#define CKPT_TIMERFD_ABSTIME 1u       /* TFD_TIMER_ABSTIME */
#define CKPT_TIMERFD_CANCEL_ON_SET 2u /* TFD_TIMER_CANCEL_ON_SET */
struct ckpt_timerfd_record {
    struct ckpt_record_head head; /* CKPT_REC_TIMERFD */
    uint32_t file;                /* id of the FILE record */
    uint32_t clockid;             /* CLOCK_REALTIME 0, MONOTONIC 1, BOOTTIME 7, *_ALARM 8, 9 */
    uint32_t settime_flags;       /* CKPT_TIMERFD_* */
    uint32_t reserved0;
    uint64_t ticks; /* expirations counted, not yet read */
    int64_t value_sec, value_nsec;
    int64_t interval_sec, interval_nsec;
    int64_t expires_sec, expires_nsec;
};

/* SIGNALFD: the mask of a signalfd, right after its FILE. */
struct ckpt_signalfd_record {
    struct ckpt_record_head head; /* CKPT_REC_SIGNALFD */
    uint32_t file;                /* id of the FILE record */
    uint32_t reserved0;
    uint64_t mask; /* bit sig - 1; never SIGKILL or SIGSTOP */
};

/* EPOLL_TARGET: one entry of an epoll's interest list, after its FILE (and the entries
 * before it). Re-added once every descriptor is on its number: the kernel keys an entry by
 * its file and the number it was added with. */
struct ckpt_epoll_target_record {
    struct ckpt_record_head head; /* CKPT_REC_EPOLL_TARGET */
    uint32_t file;                /* id of the epoll's FILE record */
    int32_t fd;                   /* the target descriptor: one of the image's FD records */
    uint32_t events;              /* EPOLLIN ... EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE */
    uint32_t reserved0;
    uint64_t data; /* epoll_data as the program gave it */
};

/* PIPE: a pipe the program made (pipe, pipe2, or found with its ends in the process), the
 * object PIPE_END records name by id (1..n in file order). It follows the FILE record of its
 * lowest-numbered end, before that end's PIPE_END. Restore makes a new pipe of this size,
 * writes the bytes that were buffered in it, and closes an end the process no longer had. */
#define CKPT_PIPE_READ_END 1u  /* bit of ends: the read end is in the process */
#define CKPT_PIPE_WRITE_END 2u /* bit of ends: the write end is in the process */
struct ckpt_pipe_record {
    struct ckpt_record_head head; /* CKPT_REC_PIPE, id = pipe object id */
    struct ckpt_extent extent;    /* the buffered bytes, rounded up to pages, the tail zeros */
    uint64_t bytes;               /* bytes buffered (FIONREAD); 0 without a read end */
    uint32_t size;                /* capacity, F_GETPIPE_SZ */
    uint32_t ends;                /* CKPT_PIPE_*_END bits; an end not listed was closed */
};

/* PIPE_END: the FILE record before it is one end of a pipe (a FILE of kind CKPT_FD_PIPE
 * without one is a pipe of the program's environment, taken from restore-run). */
#define CKPT_PIPE_END_READ 0u
#define CKPT_PIPE_END_WRITE 1u
#define CKPT_PIPE_END_BOTH 2u /* a FIFO opened O_RDWR (only of a pipe with a FIFO record) */
struct ckpt_pipe_end_record {
    struct ckpt_record_head head; /* CKPT_REC_PIPE_END */
    uint32_t file;                /* id of the FILE record (an O_RDONLY or O_WRONLY pipe end) */
    uint32_t pipe;                /* id of its PIPE record, before it */
    uint32_t end;                 /* CKPT_PIPE_END_READ, _WRITE or _BOTH */
    uint32_t reserved0;
};

/* FIFO (format 3.2): the pipe named by pipe is a FIFO the program opened by its path (the
 * FILE records of its ends: path, device, inode), every open end of it in the process. It
 * follows the PIPE_END of the FIFO's first end. Restore opens the FIFO at that path (no
 * symbolic link in any component, never blocking), requires the very FIFO (device, inode,
 * owner, mode), writes the bytes back and sets the size of the PIPE record; a FIFO gone or
 * replaced is refused by name. Critical: a reader without it would make an anonymous pipe. */
struct ckpt_fifo_record {
    struct ckpt_record_head head; /* CKPT_REC_FIFO, id 0 */
    uint32_t pipe;                /* id of its PIPE record, just before */
    uint32_t uid, gid;            /* owner of the FIFO at checkpoint */
    uint32_t mode;                /* st_mode at checkpoint (S_IFIFO and permissions) */
};

/* SOCKPAIR: a connected pair of UNIX sockets with both ends in the process (socketpair,
 * or two sockets found connected to each other) or one end whose peer has closed, the object
 * SOCKET_END records name by id (1..n in file order). It follows the FILE record of its
 * lowest-numbered end, before that end's SOCKET_END. Restore makes a new socketpair of this type
 * and puts each end's receive queue back by sending it from the other end. */
#define CKPT_SOCK_STREAM 1u
#define CKPT_SOCK_DGRAM 2u
#define CKPT_SOCK_SEQPACKET 5u
#define CKPT_SOCK_END0 1u /* bit of ends: the first end is in the process */
#define CKPT_SOCK_END1 2u /* bit of ends: the other end is in the process */
struct ckpt_sockpair_record {
    struct ckpt_record_head head; /* CKPT_REC_SOCKPAIR, id = pair object id */
    uint32_t type;                /* CKPT_SOCK_* */
    uint32_t ends;                /* CKPT_SOCK_END* bits; an end not listed had closed */
};

/* SOCKET_END: the FILE record before it (kind CKPT_FD_SOCKET) is end 0 or 1 of a pair; its
 * data is what was queued for reading on it: for a stream the bytes, for datagrams and
 * sequenced packets each message as a u32 length (little-endian) and its bytes, unpadded.
 * A FILE of kind SOCKET without one is a socket of the program's environment. */
struct ckpt_socket_end_record {
    struct ckpt_record_head head; /* CKPT_REC_SOCKET_END */
    struct ckpt_extent extent;    /* the receive queue, rounded up to pages, the tail zeros */
    uint32_t file;                /* id of the FILE record */
    uint32_t pair;                /* id of its SOCKPAIR record, before it */
    uint32_t end;                 /* 0: the pair's first end, 1: the other */
    uint32_t nmsgs;               /* messages in the queue (0 for a stream) */
    uint64_t bytes;               /* bytes of the queue as stored, framing included */
    int32_t peek_off;             /* SO_PEEK_OFF, -1 when off */
    uint32_t sndbuf, rcvbuf;      /* SO_SNDBUF, SO_RCVBUF as getsockopt gives them */
    uint32_t reserved0;
};

/* INET: the TCP or UDP socket (IPv4 or IPv6) of the FILE record before it (kind
 * CKPT_FD_INET), as the socket itself says at checkpoint. Restore makes a new socket with
 * the options, binds it to local (SO_REUSEADDR on while a TCP listener binds and listens),
 * and then: LISTENING listens with backlog; CONNECTED (UDP) connects to peer;
 * CONNECTED_HERE (TCP, the other end in the process: the descriptor peer_fd, whose record
 * names this one) is connected again to the other end, both keeping their addresses where
 * they can; CLOSED_BY_PEER (TCP to outside the process, which cannot survive) is connected
 * to a scratch peer on loopback that sends the queued bytes and closes, and shut down for
 * writing. The extent holds the bytes queued for reading (CONNECTED_HERE, CLOSED_BY_PEER).
 * A FILE of kind INET without one is a socket of the program's environment. */
#define CKPT_INET_UNBOUND 0u
#define CKPT_INET_BOUND 1u
#define CKPT_INET_LISTENING 2u
#define CKPT_INET_CONNECTED 3u
#define CKPT_INET_CONNECTED_HERE 4u
#define CKPT_INET_CLOSED_BY_PEER 5u
#define CKPT_INET_NSTATES 6u
#define CKPT_INETO_REUSEADDR 0x01u
#define CKPT_INETO_REUSEPORT 0x02u
#define CKPT_INETO_V6ONLY 0x04u
#define CKPT_INETO_NODELAY 0x08u
#define CKPT_INETO_KEEPALIVE 0x10u
#define CKPT_INETO_BROADCAST 0x20u
#define CKPT_INETO_ALL 0x3fu
#define CKPT_INET_ADDR_LEN 28u /* a struct sockaddr_in6; a sockaddr_in in its first 16 */
struct ckpt_inet_record {
    struct ckpt_record_head head;      /* CKPT_REC_INET */
    struct ckpt_extent extent;         /* bytes queued for reading, rounded up to pages */
    uint32_t file;                     /* id of the FILE record */
    uint16_t family;                   /* AF_INET (2) or AF_INET6 (10) */
    uint16_t type;                     /* CKPT_SOCK_STREAM (TCP) or CKPT_SOCK_DGRAM (UDP) */
    uint32_t state;                    /* CKPT_INET_* */
    int32_t peer_fd;                   /* CONNECTED_HERE: the other end's descriptor; else -1 */
    uint8_t local[CKPT_INET_ADDR_LEN]; /* getsockname (family first, port and address) */
    uint8_t peer[CKPT_INET_ADDR_LEN];  /* getpeername; zeros when not connected */
    uint32_t options;                  /* CKPT_INETO_* bits */
    int32_t linger;                    /* SO_LINGER seconds, -1 when off */
    uint32_t backlog;                  /* LISTENING: the listen backlog in effect */
    uint32_t sndbuf, rcvbuf;           /* SO_SNDBUF, SO_RCVBUF as getsockopt gives them */
    uint32_t reserved0;
    uint64_t bytes; /* bytes of the queue */
};

/* INOTIFY_WATCH: one watch of an inotify instance, after its FILE (and the watches before
 * it, in any order of wd). Restore makes a new instance and adds each watch again, by its
 * path, in ascending order of wd, so that the kernel gives each the number it had. */
#define CKPT_INOTIFY_MASK_KNOWN 0x84000fffu /* IN_ALL_EVENTS | IN_EXCL_UNLINK | IN_ONESHOT */
#define CKPT_INOTIFY_WD_MAX (1 << 22)       /* larger numbers are not made again */
struct ckpt_inotify_watch_record {
    struct ckpt_record_head head; /* CKPT_REC_INOTIFY_WATCH */
    uint32_t file;                /* id of the inotify's FILE record */
    int32_t wd;                   /* the watch descriptor, 1..CKPT_INOTIFY_WD_MAX */
    uint32_t mask;                /* as the kernel keeps it (fdinfo): CKPT_INOTIFY_MASK_KNOWN */
    uint32_t mode;                /* st_mode of the watched file at checkpoint */
    uint64_t dev, ino;            /* its device (st_dev) and inode at checkpoint */
    uint32_t path_len;
    uint32_t reserved0;
    char path[]; /* the kernel's name of the watched file at checkpoint, NUL terminated */
};

/* CHARDEV: which device a character device's FILE (not a terminal) was, right after it.
 * Only the devices without state of their own are restored (CKPT_CHARDEV_RESTORED: /dev/null,
 * zero, full, random, urandom, all of major 1); restore reopens the path and requires the
 * same device there. A reader that skips it reopens the path, checking only the kind. */
#define CKPT_CHARDEV_MEMORY_MAJOR 1u
#define CKPT_CHARDEV_RESTORED(major, minor)                                                        \
    ((major) == CKPT_CHARDEV_MEMORY_MAJOR &&                                                       \
     ((minor) == 3 || (minor) == 5 || (minor) == 7 || (minor) == 8 || (minor) == 9))
struct ckpt_chardev_record {
    struct ckpt_record_head head; /* CKPT_REC_CHARDEV */
    uint32_t file;                /* id of the FILE record */
    uint32_t major, minor;        /* the device number (st_rdev) */
    uint32_t reserved0;
};

/* ---------------------------------------------------------------------------------------
 * Files that live only in memory (memfds) or whose last name was deleted (state/fd_memfd.c,
 * fd_deleted.c): each is one MEMFILE object holding the contents, written after the THREAD
 * records and before the regions, ids 1..n. Each open file description of one is a FILE of
 * kind MEMFD or DELETED followed by a MEMFILE_OPEN naming the object; each shared mapping of
 * one is a REGION of kind MEMFILE followed by a MEMFILE_MAP naming it. Restore makes every
 * object once (memfd_create, or O_TMPFILE in its directory) and opens and maps that one
 * file, so that what is written through one descriptor or mapping is seen through all. */
#define CKPT_MEMFILE_MEMFD 1u   /* origin: memfd_create */
#define CKPT_MEMFILE_DELETED 2u /* origin: a file whose last name was deleted */
/* origin: shared memory mapped more than once and open nowhere (MAP_SHARED|MAP_ANONYMOUS
 * duplicated with mremap, a memfd or deleted file whose descriptors were closed): made
 * again as a memfd; name is the mapping's (/proc/PID/maps), mode 0600, no seals */
#define CKPT_MEMFILE_SHARED 3u
#define CKPT_MEMFILE_MAX (4ULL << 30) /* bytes of one object a checkpoint stores */
/* Seals (F_ADD_SEALS) a MEMFILE may carry: SEAL, SHRINK, GROW, WRITE, FUTURE_WRITE, EXEC. */
#define CKPT_MEMFILE_SEALS 0x3fu
struct ckpt_memfile_record {
    struct ckpt_record_head head; /* CKPT_REC_MEMFILE, id = object id */
    struct ckpt_extent extent;    /* the contents: size rounded up to pages, the tail zeros */
    uint64_t size;                /* bytes of the file (st_size), <= CKPT_MEMFILE_MAX */
    uint32_t origin;              /* CKPT_MEMFILE_* */
    uint32_t seals;               /* F_GET_SEALS of a memfd (F_SEAL_SEAL: no more allowed); 0 */
    uint32_t mode;                /* permission bits (st_mode & 07777) */
    uint32_t reserved0;
    uint64_t dev, ino; /* at checkpoint (informational; the checkpoint matches mappings by them) */
    uint32_t name_len; /* bytes of name, NUL excluded */
    uint32_t reserved1;
    /* a memfd's name (memfd_create's, without "/memfd:"); a deleted file's path at
     * checkpoint (without " (deleted)"). NUL terminated, padded to 8. */
    char name[];
};

/* MEMFILE_OPEN: the FILE record before it (kind MEMFD or DELETED) is an open file
 * description of the MEMFILE object. */
struct ckpt_memfile_open_record {
    struct ckpt_record_head head; /* CKPT_REC_MEMFILE_OPEN */
    uint32_t file;                /* id of the FILE record */
    uint32_t object;              /* id of its MEMFILE record, before it */
    int32_t fd;                   /* its lowest descriptor at checkpoint (informational) */
    uint32_t reserved0;
};

/* MEMFILE_MAP: the REGION record before it (kind MEMFILE) maps the MEMFILE object shared,
 * from the region's file_offset. */
struct ckpt_memfile_map_record {
    struct ckpt_record_head head; /* CKPT_REC_MEMFILE_MAP */
    uint32_t object;              /* id of its MEMFILE record, before it */
    uint32_t reserved0;
};

/* UNIX_BOUND: the FILE record before it (kind CKPT_FD_SOCKET) is a UNIX socket bound to a
 * name and not connected: a listener, or a bound datagram or stream socket. Restore makes
 * it again, binds it at its name and listens with its backlog. A path name is bound in its
 * directory (opened without following links) once a stale socket file there is removed. */
#define CKPT_UNIX_PASSCRED 1u /* bit of options: SO_PASSCRED */
#define CKPT_UNIX_FILE_OURS                                                                        \
    2u /* bit of options: the socket file was the program's own (its                               \
        * euid and egid): made again, it is the restoring user's */
#define CKPT_UNIX_NAME_MAX 108u
struct ckpt_unix_bound_record {
    struct ckpt_record_head head; /* CKPT_REC_UNIX_BOUND */
    uint32_t file;                /* id of the FILE record */
    uint32_t type;                /* CKPT_SOCK_* */
    uint32_t listening;           /* 1: listen(backlog) was called; 0: bound only */
    uint32_t backlog;             /* the listen backlog (sock_diag) */
    uint32_t pending;             /* connections in the accept queue at checkpoint: dropped */
    uint32_t sndbuf, rcvbuf;      /* SO_SNDBUF, SO_RCVBUF as getsockopt gives them */
    uint32_t options;             /* CKPT_UNIX_* bits */
    uint32_t mode, uid, gid;      /* of the socket file (a path name), 0 for an abstract one;
                                   * uid and gid given back unless CKPT_UNIX_FILE_OURS */
    uint32_t name_len;            /* bytes of name, 1..CKPT_UNIX_NAME_MAX */
    char name[112];               /* sun_path as getsockname gave it; name[0] 0: abstract */
    uint32_t path_len;            /* bytes of path (a path name), else 0 */
    uint32_t reserved0;
    char path[]; /* a path name: the socket file's absolute path, NUL terminated, padded to 8 */
};

struct ckpt_end_record {
    struct ckpt_record_head head; /* CKPT_REC_END */
    uint32_t nrecords;            /* records before this one */
    uint32_t reserved0;
};

/* The registry's promises about each struct, checked by the compiler. */
#define CKPT_KIND_LAYOUT(NAME, name, value, flags, min_len, size)                                  \
    _Static_assert(sizeof(struct ckpt_##name##_record) == (size), #NAME " record size");           \
    _Static_assert((size) >= (min_len) && (size) % 8 == 0, #NAME " record length");                \
    _Static_assert(offsetof(struct ckpt_##name##_record, head) == 0, #NAME " record head");        \
    _Static_assert(!((flags)&CKPT_RECF_DATA) || (size) >= 40, #NAME " record has no extent");      \
    _Static_assert(((flags) & ~(CKPT_RECF_CRITICAL | CKPT_RECF_DATA)) == 0, #NAME " flags");
CKPT_RECORDS(CKPT_KIND_LAYOUT)
#undef CKPT_KIND_LAYOUT
/* DATA records hold their extent at byte 16 (the codec reads it there for any kind). */
_Static_assert(offsetof(struct ckpt_run_record, extent) == 16, "run extent");
_Static_assert(offsetof(struct ckpt_file_data_record, extent) == 16, "file data extent");
_Static_assert(offsetof(struct ckpt_pipe_record, extent) == 16, "pipe extent");
_Static_assert(offsetof(struct ckpt_socket_end_record, extent) == 16, "socket end extent");
_Static_assert(offsetof(struct ckpt_inet_record, extent) == 16, "inet extent");
_Static_assert(offsetof(struct ckpt_inet_record, local) == 56, "inet addresses");
_Static_assert(offsetof(struct ckpt_inet_record, bytes) == 136, "inet queue");
_Static_assert(offsetof(struct ckpt_memfile_record, extent) == 16, "memfile extent");
_Static_assert(offsetof(struct ckpt_memfile_record, name) == 88, "memfile name");

#endif
