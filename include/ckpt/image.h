/* ckpt image format, version 2 — the one definition shared by the writer (libckpt.so,
 * in the checkpoint signal handler), restore-run and the ckpt tool.
 *
 * # Layout of an image file
 *
 *     [0, 4096)                  struct ckpt_file_header, zero padded
 *     [4096, meta_offset)        page data: one block per run, each page aligned
 *     [meta_offset, file_size)   metadata: a sequence of records, the last one CKPT_REC_END
 *
 * The data comes first so the writer can stream memory out without knowing in advance how
 * much there is; the header is written last (pwrite at offset 0) and names where the
 * metadata lies. Page data is page aligned so restore can map it straight from the file.
 *
 * # Records
 *
 * Every record starts with struct ckpt_record_head {kind, length}; length covers the whole
 * record including the head and variable tail, and is a multiple of 8. A reader skips kinds
 * it does not know. Record order: one PROCESS record, then for each memory region one
 * REGION record followed immediately by its RUN records, then one FD record per descriptor
 * (followed by a FILE_DATA record if the file's contents are stored, then one LOCK record
 * per lock the process held through the descriptor, or a TERMINAL record if it is a
 * terminal), then END.
 *
 * # Integrity
 *
 * The header carries an XXH64 of itself and of the metadata; every RUN and FILE_DATA carries
 * an XXH64 of its data. So every byte of the file is covered by exactly one checksum.
 *
 * # Rules for changing this file
 *
 * Values on disk never change meaning: a kind or enum value that is retired stays listed
 * with a _RETIRED suffix and is never reused. Any change to a record's layout bumps
 * CKPT_IMAGE_VERSION. All integers are little-endian (the only architecture is x86_64).
 *
 * This header uses only <stdint.h> so any tool can include it. */
#ifndef CKPT_IMAGE_H
#define CKPT_IMAGE_H

#include <stdint.h>

#define CKPT_IMAGE_MAGIC "CKPTIMG\n" /* 8 bytes, no NUL */
/* Version history: 1 the first; 2 the process record ends with start_time and boot_id
 * (restore-run refuses to restore a process that still runs). */
#define CKPT_IMAGE_VERSION 2u
#define CKPT_ARCH_X86_64 62u /* ELF e_machine EM_X86_64 */
#define CKPT_PAGE_SIZE 4096u
#define CKPT_HEADER_SIZE 4096u
#define CKPT_PATH_MAX 4096u

struct ckpt_file_header {
    char magic[8];          /* CKPT_IMAGE_MAGIC */
    uint32_t version;       /* CKPT_IMAGE_VERSION */
    uint32_t header_size;   /* CKPT_HEADER_SIZE */
    uint32_t arch;          /* CKPT_ARCH_X86_64 */
    uint32_t page_size;     /* CKPT_PAGE_SIZE */
    uint64_t file_size;     /* total bytes; a shorter file is truncated */
    uint64_t meta_offset;   /* where the records start (page aligned) */
    uint64_t meta_length;   /* bytes of records, END included */
    uint64_t meta_checksum; /* XXH64(seed 0) of the metadata bytes */
    uint64_t data_bytes;    /* bytes of page data, for inspect and bench */
    int64_t created_sec;    /* CLOCK_REALTIME when the checkpoint started */
    uint32_t created_nsec;
    uint32_t pid;        /* pid of the checkpointed process (informational) */
    uint32_t generation; /* 1 for the first image of a run, +1 per checkpoint */
    uint32_t reserved0;
    uint64_t header_checksum; /* XXH64(seed 0) of the bytes before this field */
};
_Static_assert(sizeof(struct ckpt_file_header) == 96, "header layout");

/* Record kinds: X(name, value). The value is on disk; never reuse one. */
#define CKPT_RECORD_KINDS(X)                                                                       \
    X(PROCESS, 1)                                                                                  \
    X(REGION, 2)                                                                                   \
    X(RUN, 3)                                                                                      \
    X(FD, 4)                                                                                       \
    X(FILE_DATA, 5)                                                                                \
    X(LOCK, 6)                                                                                     \
    X(TERMINAL, 7)                                                                                 \
    X(END, 0xffff)

enum ckpt_record_kind {
#define CKPT_KIND_ENUM(name, value) CKPT_REC_##name = value,
    CKPT_RECORD_KINDS(CKPT_KIND_ENUM)
#undef CKPT_KIND_ENUM
};

struct ckpt_record_head {
    uint32_t kind;   /* enum ckpt_record_kind */
    uint32_t length; /* whole record in bytes, multiple of 8 */
};
_Static_assert(sizeof(struct ckpt_record_head) == 8, "record head layout");

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
    uint32_t pid, tid;            /* at checkpoint, informational */
    uint32_t uid, gid;            /* real ids, informational */
    uint32_t umask;
    uint32_t checkpoint_signal;
    struct ckpt_cpu_context context;
    uint64_t restore_info_addr; /* struct ckpt_restore_info (ckpt/protocol.h) in the shim */
    uint64_t fs_base, gs_base;
    uint64_t rseq_addr; /* 0 = no rseq registration to restore */
    uint32_t rseq_len, rseq_sig;
    uint64_t tid_addr;    /* glibc's cached tid (struct pthread .tid) and clear_child_tid */
    uint64_t robust_list; /* set_robust_list head, 0 = none */
    uint64_t robust_list_len;
    /* mm fields, as in /proc/PID/stat, restored with prctl(PR_SET_MM_MAP) */
    uint64_t start_code, end_code, start_data, end_data, start_brk, brk, start_stack;
    uint64_t arg_start, arg_end, env_start, env_end;
    uint64_t auxv[CKPT_AUXV_WORDS];
    uint32_t auxv_words; /* used words of auxv, AT_NULL pair included */
    uint32_t reserved0;
    struct ckpt_sigaction sigactions[CKPT_NSIG]; /* index = signal number - 1 */
    uint64_t sigmask;              /* blocked set of the interrupted program (informational) */
    uint64_t sigpending;           /* pending, thread and process, re-raised at restore */
    struct ckpt_itimer itimers[3]; /* ITIMER_REAL, _VIRTUAL, _PROF */
    struct ckpt_rlimit rlimits[CKPT_NRLIMITS]; /* index = RLIMIT_* */
    char comm[16];                             /* /proc/PID/comm */
    char cwd[CKPT_PATH_MAX];
    char exe[CKPT_PATH_MAX]; /* /proc/PID/exe at checkpoint */
    /* Which process this was, so that restore-run can tell that it still runs: the same
     * boot, the same pid and the same start time name the same process. */
    uint64_t start_time; /* /proc/PID/stat field 22: clock ticks after boot */
    char boot_id[40];    /* /proc/sys/kernel/random/boot_id without its newline; "" unknown */
};
_Static_assert(sizeof(struct ckpt_process_record) % 8 == 0, "process record alignment");

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
    X(VVAR_VCLOCK, 10)    /* [vvar_vclock]; the live one is placed here */

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
_Static_assert(sizeof(struct ckpt_region_record) == 112, "region layout");

/* RUN: a block of stored pages of the region before it. Writers cut runs at
 * CKPT_RUN_SPLIT bytes so that a reader can copy and verify many runs at once (restore-run
 * fills memory with one thread per CPU); readers accept runs of any length. */
#define CKPT_RUN_SPLIT (2u << 20)
struct ckpt_run_record {
    struct ckpt_record_head head; /* CKPT_REC_RUN */
    uint64_t addr;                /* page aligned, inside the region */
    uint64_t length;              /* page multiple */
    uint64_t file_offset;         /* page aligned, in the data section */
    uint64_t checksum;            /* XXH64(seed 0) of the data */
};
_Static_assert(sizeof(struct ckpt_run_record) == 40, "run layout");

/* ---------------------------------------------------------------------------------------
 * FD: one open descriptor. */

#define CKPT_FD_KINDS(X)                                                                           \
    X(FILE, 1)    /* regular file: reopened by path, offset restored */                            \
    X(DIR, 2)     /* directory: reopened by path */                                                \
    X(PIPE, 3)    /* pipe or FIFO: only 0, 1, 2 or inherited (taken from restore-run) */           \
    X(SOCKET, 4)  /* socket: only 0, 1, 2 or inherited (taken from restore-run) */                 \
    X(TTY, 5)     /* terminal: taken from restore-run's terminal */                                \
    X(CHARDEV, 6) /* other character device (/dev/null, ...): reopened by path */

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

struct ckpt_fd_record {
    struct ckpt_record_head head; /* CKPT_REC_FD */
    int32_t fd;
    uint32_t kind;       /* enum ckpt_fd_kind */
    uint32_t flags;      /* F_GETFL: access mode, O_APPEND, O_NONBLOCK, ... */
    uint32_t cloexec;    /* 1 if FD_CLOEXEC */
    int32_t shares_with; /* lower fd with the same open file description, or -1 */
    uint32_t origin;     /* enum ckpt_fd_origin */
    uint32_t open_flags; /* flags the program passed to open (informational) */
    uint32_t path_len;
    uint64_t offset; /* file position */
    struct ckpt_file_identity file;
    char path[]; /* readlink of /proc/self/fd/N, NUL terminated, padded to 8 */
};
_Static_assert(sizeof(struct ckpt_fd_record) == 112, "fd layout");

/* FILE_DATA: the contents at checkpoint of the regular file of the FD record just before.
 * Stored for files open read-write, which a program may rewrite in place after the
 * checkpoint (a database and its rollback journal): restore writes them back, recreating
 * the file if it was deleted meanwhile, instead of only cutting the file back to its size.
 * One record per file: other descriptors of the same file have none. */
struct ckpt_file_data_record {
    struct ckpt_record_head head; /* CKPT_REC_FILE_DATA */
    int32_t fd;                   /* the FD record's descriptor */
    uint32_t mode;                /* permission bits, for recreating the file */
    uint64_t size;                /* bytes of the file */
    uint64_t file_offset;         /* page aligned, in the data section */
    uint64_t length;              /* size rounded up to pages; the tail is zeros */
    uint64_t checksum;            /* XXH64(seed 0) of the length bytes stored */
};
_Static_assert(sizeof(struct ckpt_file_data_record) == 48, "file data layout");

/* LOCK: a POSIX record lock (fcntl F_SETLK) the process held on the file of the FD record
 * before it, taken through that descriptor. POSIX locks belong to the process, so the
 * restored process takes them again. */
#define CKPT_LOCK_READ 0u
#define CKPT_LOCK_WRITE 1u
#define CKPT_LOCK_TO_EOF UINT64_MAX /* end of a lock that extends to the end of the file */
struct ckpt_lock_record {
    struct ckpt_record_head head; /* CKPT_REC_LOCK */
    int32_t fd;
    uint32_t type;  /* CKPT_LOCK_READ or CKPT_LOCK_WRITE */
    uint64_t start; /* first byte */
    uint64_t end;   /* last byte, or CKPT_LOCK_TO_EOF */
};
_Static_assert(sizeof(struct ckpt_lock_record) == 32, "lock layout");

/* TERMINAL: the settings of the terminal of the FD record before it (a CKPT_FD_TTY). A
 * restored process gets restore-run's terminal; these termios settings are put on it (a
 * line editor left it in raw mode, and reads as if it still is), and if its window size
 * differs the process gets SIGWINCH, as if the window had been resized. */
struct ckpt_terminal_record {
    struct ckpt_record_head head; /* CKPT_REC_TERMINAL */
    int32_t fd;
    uint32_t has_winsize; /* 1 if rows..ypixel were read (TIOCGWINSZ) */
    /* struct termios as the kernel's TCGETS returns it */
    uint32_t iflag, oflag, cflag, lflag;
    uint8_t line;
    uint8_t cc[19];
    uint16_t rows, cols, xpixel, ypixel; /* struct winsize */
    uint32_t reserved0;
};
_Static_assert(sizeof(struct ckpt_terminal_record) == 64, "terminal layout");

struct ckpt_end_record {
    struct ckpt_record_head head; /* CKPT_REC_END */
    uint32_t nrecords;            /* records before this one */
    uint32_t reserved0;
};

#endif
