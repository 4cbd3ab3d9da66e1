/* ckpt inspect IMAGE [--json]: shows what an image holds, as a table for people or as one
 * JSON object for scripts and tests. The JSON shape is a contract; see print_json(). */
#define _GNU_SOURCE /* O_DIRECT, O_NOATIME, O_PATH */
#include "ckpt_tool.h"
#include "launch_options.h"
#include "hash.h"
#include "../state/chain.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the image file -------------------------------------------------------------------- */

int mapped_image_open(const char *path, struct mapped_image *m, struct ck_error *err)
{
    memset(m, 0, sizeof *m);
    /* O_NONBLOCK: a FIFO given as the image must not block the open (it is refused below). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return ck_fail(err, -errno, "cannot open: %s", strerror(errno));
    return mapped_image_from_fd(fd, m, err);
}

int mapped_image_from_fd(int fd, struct mapped_image *m, struct ck_error *err)
{
    memset(m, 0, sizeof *m);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        close(fd);
        return S_ISREG(st.st_mode) ? ck_fail(err, -e, "%s", strerror(e))
                                   : ck_fail(err, -1, "not a regular file");
    }
    m->size = (size_t)st.st_size;
    if (m->size) {
        m->map = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m->map == MAP_FAILED) {
            int e = errno;
            m->map = NULL;
            close(fd);
            return ck_fail(err, -e, "cannot map the image: %s", strerror(e));
        }
    }
    close(fd);
    /* An empty file still goes through the validator, which reports it as truncated. */
    int rc = image_open_view(&m->view, m->map ? m->map : (void *)"", m->size, err);
    if (rc)
        mapped_image_close(m);
    return rc;
}

void mapped_image_close(struct mapped_image *m)
{
    if (m->map)
        munmap(m->map, m->size);
    m->map = NULL;
}

/* ---- names from the X-macros in image.h ------------------------------------------------ */

struct value_name {
    uint32_t value;
    const char *name; /* upper case, as in image.h */
};

#define RECORD_NAME_ENTRY(NAME, name, value, flags, min_len, size) {value, #NAME},
static const struct value_name record_kind_names[] = {CKPT_RECORDS(RECORD_NAME_ENTRY)};
#undef RECORD_NAME_ENTRY
#define VALUE_NAME_ENTRY(name, value) {value, #name},
static const struct value_name region_kind_names[] = {CKPT_REGION_KINDS(VALUE_NAME_ENTRY)};
static const struct value_name fd_kind_names[] = {CKPT_FD_KINDS(VALUE_NAME_ENTRY)};
static const struct value_name fd_origin_names[] = {CKPT_FD_ORIGINS(VALUE_NAME_ENTRY)};
#undef VALUE_NAME_ENTRY

#define NAME_BUF 32

/* Writes the lower-case name of value ("file_private"), or the number if it has none. */
static const char *lookup_name(const struct value_name *table, size_t n, uint32_t value,
                               char buf[NAME_BUF])
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].value != value)
            continue;
        size_t j = 0;
        for (; table[i].name[j] && j + 1 < NAME_BUF; j++) {
            char c = table[i].name[j];
            buf[j] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
        buf[j] = 0;
        return buf;
    }
    snprintf(buf, NAME_BUF, "%" PRIu32, value);
    return buf;
}

#define NAME_OF(table, value, buf) lookup_name(table, CK_ARRAY_LEN(table), value, buf)

static const char *const itimer_names[3] = {"real", "virtual", "prof"};

static const char *const rlimit_names[CKPT_NRLIMITS] = {
    "CPU",     "FSIZE", "DATA",  "STACK",      "CORE",     "RSS",  "NPROC",  "NOFILE",
    "MEMLOCK", "AS",    "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME",
};

/* ---- small facts derived from records -------------------------------------------------- */

static int region_is_shared(uint32_t kind)
{
    return kind == CKPT_REGION_FILE_SHARED || kind == CKPT_REGION_SHARED_ANON ||
           kind == CKPT_REGION_MEMFILE;
}

static const char *prot_string(uint32_t prot, char buf[4])
{
    buf[0] = prot & CKPT_PROT_READ ? 'r' : '-';
    buf[1] = prot & CKPT_PROT_WRITE ? 'w' : '-';
    buf[2] = prot & CKPT_PROT_EXEC ? 'x' : '-';
    buf[3] = 0;
    return buf;
}

/* The RUN records of a region follow it directly (the validator checks this). */
static const struct ckpt_run_record *first_run(const struct image_view *v,
                                               const struct ckpt_region_record *g)
{
    return g->nruns ? (const void *)image_next(v, &g->head) : NULL;
}

static const struct ckpt_run_record *next_run(const struct image_view *v,
                                              const struct ckpt_run_record *u)
{
    return (const void *)image_next(v, &u->head);
}

static uint64_t region_stored_bytes(const struct image_view *v, const struct ckpt_region_record *g)
{
    uint64_t bytes = 0;
    const struct ckpt_run_record *u = first_run(v, g);
    for (uint32_t i = 0; i < g->nruns; i++, u = next_run(v, u))
        bytes += u->head.kind == CKPT_REC_RUN ? u->extent.length : 0;
    return bytes;
}

/* Bytes of the region's pages kept in parent images (RUN_REF). */
static uint64_t region_kept_bytes(const struct image_view *v, const struct ckpt_region_record *g)
{
    uint64_t bytes = 0;
    const struct ckpt_run_record *u = first_run(v, g);
    for (uint32_t i = 0; i < g->nruns; i++, u = next_run(v, u))
        if (u->head.kind == CKPT_REC_RUN_REF)
            bytes += ((const struct ckpt_run_ref_record *)u)->length;
    return bytes;
}

static uint64_t image_kept_bytes(const struct image_view *v)
{
    uint64_t bytes = 0;
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r))
        if (r->kind == CKPT_REC_REGION)
            bytes += region_kept_bytes(v, (const void *)r);
    return bytes;
}

/* Where the parent image pr is found beside the image at path (chain.h): found filled, or
 * "" when it is missing. */
static void locate_parent(const char *path, const struct ckpt_parent_record *pr, char *found,
                          size_t cap)
{
    struct ck_error err;
    long fd = chain_find_parent(path, pr, found, cap, &err);
    if (fd >= 0)
        close((int)fd);
    else
        found[0] = 0;
}

/* The FILE record of an id (the validator made every reference name one). */
static const struct ckpt_file_record *file_of(const struct image_view *v, uint32_t id)
{
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r))
        if (r->kind == CKPT_REC_FILE && r->id == id)
            return (const void *)r;
    return NULL;
}

/* The lowest descriptor referring to a file (restore takes its locks through it), or -1. */
static int32_t lowest_fd_of(const struct image_view *v, uint32_t id)
{
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r))
        if (r->kind == CKPT_REC_FD && ((const struct ckpt_fd_record *)r)->file == id)
            return ((const struct ckpt_fd_record *)r)->fd;
    return -1;
}

/* Another descriptor of the same open file description numbered lower than f, or -1. */
static int32_t shares_with(const struct image_view *v, const struct ckpt_fd_record *f)
{
    int32_t lowest = lowest_fd_of(v, f->file);
    return lowest < f->fd ? lowest : -1;
}

static int itimer_armed(const struct ckpt_itimer *t)
{
    return t->value_sec != 0 || t->value_usec != 0;
}

/* ---- text output ----------------------------------------------------------------------- */

/* Copies s into buf with control characters shown as escapes, so a name holding a newline
 * or a tab cannot break the table. */
static const char *visible(const char *s, char *buf, size_t cap)
{
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && len + 5 < cap; p++) {
        if (*p == '\n')
            len += (size_t)snprintf(buf + len, cap - len, "\\n");
        else if (*p == '\t')
            len += (size_t)snprintf(buf + len, cap - len, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            len += (size_t)snprintf(buf + len, cap - len, "\\x%02x", *p);
        else
            buf[len++] = (char)*p;
    }
    buf[len] = 0;
    return buf;
}

/* Room for a path of CKPT_PATH_MAX bytes with every byte escaped. */
#define VISIBLE_BUF (4 * CKPT_PATH_MAX + 8)

static void print_created(const struct ckpt_file_header *h)
{
    time_t t = (time_t)h->created_sec;
    struct tm tm;
    char when[64];
    if (localtime_r(&t, &tm) && strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %z", &tm))
        printf("created     %s (%" PRId64 ".%09" PRIu32 ")\n", when, h->created_sec,
               h->created_nsec);
    else
        printf("created     %" PRId64 ".%09" PRIu32 "\n", h->created_sec, h->created_nsec);
}

static void print_record_counts(const struct image_view *v)
{
    uint32_t counts[CK_ARRAY_LEN(record_kind_names)] = {0};
    uint32_t unknown = 0;
    for (const struct ckpt_record_head *r = image_first_any(v); r; r = image_next_any(v, r)) {
        size_t i = 0;
        while (i < CK_ARRAY_LEN(record_kind_names) && record_kind_names[i].value != r->kind)
            i++;
        if (i < CK_ARRAY_LEN(record_kind_names))
            counts[i]++;
        else
            unknown++;
    }
    char name[NAME_BUF];
    const char *separator = "records     ";
    for (size_t i = 0; i < CK_ARRAY_LEN(record_kind_names); i++) {
        if (record_kind_names[i].value == CKPT_REC_END)
            continue;
        printf("%s%" PRIu32 " %s", separator, counts[i],
               NAME_OF(record_kind_names, record_kind_names[i].value, name));
        separator = ", ";
    }
    if (unknown)
        printf(", %" PRIu32 " of unknown kinds (skipped)", unknown);
    printf("\n");
}

static void print_header_lines(const char *path, const struct ckpt_file_header *h)
{
    static char text[VISIBLE_BUF];
    printf("image       %s\n", visible(path, text, sizeof text));
    printf("format      version %" PRIu32 ".%" PRIu32 ", x86_64, %" PRIu32 "-byte pages\n",
           h->version_major, h->version_minor, h->page_size);
    printf("pid         %" PRIu32 "\n", h->pid);
    printf("generation  %" PRIu32 "\n", h->generation);
    print_created(h);
    printf("file size   %" PRIu64 " bytes (data %" PRIu64 " bytes, metadata %" PRIu64
           " bytes at offset %" PRIu64 ")\n",
           h->file_size, h->data_bytes, h->meta_length, h->meta_offset);
}

/* checkpoint-run --compress: the page runs stored as zstd frames, the bytes of their pages,
 * and what they take in the image. */
struct compression_totals {
    uint32_t runs;
    uint64_t pages, stored;
};
static struct compression_totals compression_totals(const struct image_view *v)
{
    struct compression_totals t = {0, 0, 0};
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        const struct ckpt_compressed_run_record *c = (const void *)r;
        if (r->kind != CKPT_REC_RUN || !(r->flags & CKPT_RECF_ZSTD))
            continue;
        t.runs++;
        t.pages += c->run.extent.length;
        t.stored += image_stored_length(r);
    }
    return t;
}

static void print_header_text(const char *path, const struct image_view *v)
{
    print_header_lines(path, v->hdr);
    struct compression_totals t = compression_totals(v);
    if (t.runs)
        printf("compressed  %" PRIu32 " of %" PRIu32 " page runs (zstd): %" PRIu64
               " bytes of pages in %" PRIu64 " bytes (ratio %.2f)\n",
               t.runs, v->nruns, t.pages, t.stored, (double)t.pages / (double)t.stored);
    print_record_counts(v);
}

/* Names of the signals in a kernel sigset, e.g. "USR1 TERM". */
static void print_signal_set(uint64_t set)
{
    char name[32];
    if (!set) {
        printf("none\n");
        return;
    }
    for (int sig = 1; sig <= CKPT_NSIG; sig++)
        if (set & (1ULL << (sig - 1)))
            printf("%s ", ckpt_signal_name(sig, name, sizeof name));
    printf("(0x%" PRIx64 ")\n", set);
}

static void print_identity_text(const struct ckpt_process_record *p)
{
    static char text[VISIBLE_BUF];
    char name[32];
    printf("  comm        %s\n", visible(p->comm, text, sizeof text));
    printf("  exe         %s\n", visible(p->exe, text, sizeof text));
    printf("  cwd         %s\n", visible(p->cwd, text, sizeof text));
    printf("  umask       %04" PRIo32 "\n", p->umask);
    printf("  signal      %s (%" PRIu32 ")\n",
           ckpt_signal_name((int)p->checkpoint_signal, name, sizeof name), p->checkpoint_signal);
    printf("  pid/tid     %" PRIu32 "/%" PRIu32 "\n", p->pid, p->leader_tid);
    printf("  uid/gid     %" PRIu32 "/%" PRIu32 "\n", p->uid, p->gid);
    printf("  started     %" PRIu64 " ticks after boot %s\n", p->start_time,
           p->boot_id[0] ? visible(p->boot_id, text, sizeof text) : "(unknown)");
}

static void print_memory_layout_text(const struct ckpt_process_record *p)
{
    printf("  brk         0x%" PRIx64 "..0x%" PRIx64 " (%" PRIu64 " bytes)\n", p->start_brk, p->brk,
           p->brk - p->start_brk);
    printf("  stack       0x%" PRIx64 "\n", p->start_stack);
    printf("  arguments   0x%" PRIx64 "..0x%" PRIx64 "\n", p->arg_start, p->arg_end);
    printf("  environment 0x%" PRIx64 "..0x%" PRIx64 "\n", p->env_start, p->env_end);
}

static void print_signals_text(const struct ckpt_process_record *p)
{
    char name[32];
    printf("  pending     ");
    print_signal_set(p->shared_pending);
    for (int i = 0; i < CKPT_NSIG; i++) {
        const struct ckpt_sigaction *a = &p->sigactions[i];
        if (a->handler == 0)
            continue;
        printf("  sigaction   %-8s ", ckpt_signal_name(i + 1, name, sizeof name));
        if (a->handler == 1)
            printf("ignored\n");
        else
            printf("handler 0x%" PRIx64 ", flags 0x%" PRIx64 ", mask 0x%" PRIx64 "\n", a->handler,
                   a->flags, a->mask);
    }
}

static const char *limit_string(uint64_t value, char *buf, size_t cap)
{
    if (value == UINT64_MAX) /* RLIM_INFINITY */
        return "unlimited";
    snprintf(buf, cap, "%" PRIu64, value);
    return buf;
}

static void print_limits_text(const struct ckpt_process_record *p)
{
    for (int i = 0; i < 3; i++) {
        const struct ckpt_itimer *t = &p->itimers[i];
        if (itimer_armed(t))
            printf("  itimer      %-8s next in %" PRId64 ".%06" PRId64 " s, every %" PRId64
                   ".%06" PRId64 " s\n",
                   itimer_names[i], t->value_sec, t->value_usec, t->interval_sec, t->interval_usec);
    }
    for (int i = 0; i < CKPT_NRLIMITS; i++) {
        const struct ckpt_rlimit *l = &p->rlimits[i];
        if (l->cur == UINT64_MAX && l->max == UINT64_MAX)
            continue;
        char soft[24], hard[24];
        printf("  rlimit      %-10s soft %s, hard %s\n", rlimit_names[i],
               limit_string(l->cur, soft, sizeof soft), limit_string(l->max, hard, sizeof hard));
    }
}

static void print_process_text(const struct ckpt_process_record *p)
{
    printf("\nprocess\n");
    print_identity_text(p);
    print_memory_layout_text(p);
    print_signals_text(p);
    print_limits_text(p);
}

static const char *sched_policy_name(uint32_t policy)
{
    static const char *const names[] = {"other", "fifo", "rr", "batch", "?", "idle"};
    return policy < CK_ARRAY_LEN(names) ? names[policy] : "?";
}

/* Names of the system calls threads are commonly found blocked in (x86_64 numbers). */
static const char *syscall_name(uint32_t nr)
{
    static const struct {
        uint32_t nr;
        const char *name;
    } names[] = {{0, "read"},
                 {1, "write"},
                 {7, "poll"},
                 {17, "pread64"},
                 {19, "readv"},
                 {23, "select"},
                 {34, "pause"},
                 {35, "nanosleep"},
                 {43, "accept"},
                 {45, "recvfrom"},
                 {47, "recvmsg"},
                 {61, "wait4"},
                 {72, "fcntl"},
                 {73, "flock"},
                 {128, "rt_sigtimedwait"},
                 {130, "rt_sigsuspend"},
                 {202, "futex"},
                 {230, "clock_nanosleep"},
                 {232, "epoll_wait"},
                 {247, "waitid"},
                 {270, "pselect6"},
                 {271, "ppoll"},
                 {281, "epoll_pwait"},
                 {288, "accept4"}};
    for (size_t i = 0; i < CK_ARRAY_LEN(names); i++)
        if (names[i].nr == nr)
            return names[i].name;
    return "system call";
}

/* What a thread was doing when the checkpoint signal came. */
static void format_interrupted_call(uint32_t call, char *buf, size_t cap)
{
    if (call == CKPT_THREAD_IN_USER_CODE)
        snprintf(buf, cap, "running (in user code)");
    else if (call == CKPT_THREAD_CALL_INTERRUPTED)
        snprintf(buf, cap, "in a system call that returns EINTR when it goes on");
    else
        snprintf(buf, cap, "in %s (system call %" PRIu32 "), which it restarts when it goes on",
                 syscall_name(call - 1), call - 1);
}

/* One thread: who (tid, name) and where it stood (the handler's return into the program is
 * the frame's; rip is where a restore resumes it), then what it had of its own. */
static void print_thread_text(const struct ckpt_thread_record *t)
{
    static char text[VISIBLE_BUF];
    printf("\nthread %" PRIu32 "%s \"%s\"\n", t->tid,
           (t->flags & CKPT_THREAD_LEADER) ? " (leader)" : "", visible(t->comm, text, sizeof text));
    char state[128];
    format_interrupted_call(t->interrupted_call, state, sizeof state);
    printf("  stood at    0x%" PRIx64 " (rsp 0x%" PRIx64 "), where the checkpoint interrupted it\n",
           t->interrupted_rip, t->interrupted_rsp);
    printf("  state       %s\n", state);
    printf("  rip/rsp     0x%" PRIx64 "/0x%" PRIx64 ", signal frame 0x%" PRIx64 "\n",
           t->context.rip, t->context.rsp, t->frame_addr);
    printf("  fs/gs base  0x%" PRIx64 "/0x%" PRIx64 "\n", t->fs_base, t->gs_base);
    printf("  tid word    %s0x%" PRIx64 ", cleared at exit 0x%" PRIx64 "\n",
           (t->flags & CKPT_THREAD_GLIBC) ? "" : "(unverified) ", t->tid_addr, t->clear_child_tid);
    if (t->flags & CKPT_THREAD_RSEQ)
        printf("  rseq        0x%" PRIx64 " (length %" PRIu32 ", signature 0x%" PRIx32 ")\n",
               t->rseq_addr, t->rseq_len, t->rseq_sig);
    else
        printf("  rseq        none\n");
    printf("  robust list 0x%" PRIx64 "\n", t->robust_list);
    if (t->flags & CKPT_THREAD_ALTSTACK)
        printf("  altstack    0x%" PRIx64 " (%" PRIu64 " bytes, flags 0x%" PRIx32 ")\n",
               t->altstack_sp, t->altstack_size, t->altstack_flags);
    else
        printf("  altstack    none\n");
    printf("  sched       %s, priority %" PRIu32 ", nice %" PRId32 "%s\n",
           sched_policy_name(t->sched_policy), t->sched_priority, t->nice,
           (t->sched_flags & 1) ? ", reset on fork" : "");
    printf("  xstate      features 0x%" PRIx64 ", %" PRIu32 " bytes\n", t->xfeatures,
           t->xstate_size);
    printf("  pending     ");
    print_signal_set(t->pending);
    printf("  blocked     ");
    print_signal_set(t->sigmask);
}

static void print_threads_text(const struct image_view *v)
{
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r))
        if (r->kind == CKPT_REC_THREAD)
            print_thread_text((const void *)r);
}

static void print_regions_text(const struct image_view *v)
{
    static char path[VISIBLE_BUF];
    char prot[4], kind[NAME_BUF];
    printf("\nregions (%" PRIu32 ", %" PRIu64 " %s stored in %" PRIu32 " %s)\n", v->nregions,
           v->hdr->data_bytes, ckpt_plural(v->hdr->data_bytes, "byte", "bytes"), v->nruns,
           ckpt_plural(v->nruns, "run", "runs"));
    printf("  %-29s %-4s %-8s %-16s %12s %5s  %s\n", "START-END", "PROT", "SHARING", "KIND",
           "STORED", "RUNS", "PATH");
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        if (r->kind != CKPT_REC_REGION)
            continue;
        const struct ckpt_region_record *g = (const void *)r;
        printf("  0x%012" PRIx64 "-0x%012" PRIx64 " %-4s %-8s %-16s %12" PRIu64 " %5" PRIu32
               "  %s\n",
               g->start, g->end, prot_string(g->prot, prot),
               region_is_shared(g->kind) ? "shared" : "private",
               NAME_OF(region_kind_names, g->kind, kind), region_stored_bytes(v, g), g->nruns,
               visible(g->path, path, sizeof path));
    }
}

/* "rdwr,append,nonblock": the access mode and the F_GETFL flags that change behaviour. */
static const char *fd_flags_string(uint32_t flags, char *buf, size_t cap)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } notable[] = {
        {O_APPEND, "append"}, {O_NONBLOCK, "nonblock"}, {O_ASYNC, "async"},
        {O_DIRECT, "direct"}, {O_NOATIME, "noatime"},   {O_PATH, "path"},
    };
    const char *mode = (flags & O_ACCMODE) == O_RDONLY   ? "rdonly"
                       : (flags & O_ACCMODE) == O_WRONLY ? "wronly"
                       : (flags & O_ACCMODE) == O_RDWR   ? "rdwr"
                                                         : "badmode";
    size_t len = (size_t)snprintf(buf, cap, "%s", mode);
    if ((flags & O_SYNC) == O_SYNC)
        len += (size_t)snprintf(buf + len, cap - len, ",sync");
    else if (flags & O_DSYNC)
        len += (size_t)snprintf(buf + len, cap - len, ",dsync");
    for (size_t i = 0; i < CK_ARRAY_LEN(notable) && len < cap; i++)
        if (flags & notable[i].bit)
            len += (size_t)snprintf(buf + len, cap - len, ",%s", notable[i].name);
    return buf;
}

static void print_files_text(const struct image_view *v)
{
    static char path[VISIBLE_BUF];
    char kind[NAME_BUF], flags[96];
    printf("\nfiles (%" PRIu32 " open file %s)\n", v->nfiles,
           ckpt_plural(v->nfiles, "description", "descriptions"));
    printf("  %4s %-7s %-20s %12s %12s  %s\n", "ID", "KIND", "FLAGS", "OFFSET", "SIZE", "PATH");
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        if (r->kind != CKPT_REC_FILE)
            continue;
        const struct ckpt_file_record *f = (const void *)r;
        printf("  %4" PRIu32 " %-7s %-20s %12" PRIu64 " %12" PRIu64 "  %s\n", r->id,
               NAME_OF(fd_kind_names, f->kind, kind),
               fd_flags_string(f->flags, flags, sizeof flags), f->offset, f->file.size,
               visible(f->path, path, sizeof path));
    }
}

static void print_fds_text(const struct image_view *v)
{
    static char path[VISIBLE_BUF];
    char kind[NAME_BUF], origin[NAME_BUF];
    printf("\ndescriptors (%" PRIu32 ")\n", v->nfds);
    printf("  %4s %4s %-7s %-9s %-7s %6s  %s\n", "FD", "FILE", "KIND", "ORIGIN", "CLOEXEC",
           "SHARES", "PATH");
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        if (r->kind != CKPT_REC_FD)
            continue;
        const struct ckpt_fd_record *d = (const void *)r;
        const struct ckpt_file_record *f = file_of(v, d->file);
        char shares[16] = "-";
        if (shares_with(v, d) >= 0)
            snprintf(shares, sizeof shares, "%" PRId32, shares_with(v, d));
        printf("  %4" PRId32 " %4" PRIu32 " %-7s %-9s %-7s %6s  %s\n", d->fd, d->file,
               NAME_OF(fd_kind_names, f->kind, kind), NAME_OF(fd_origin_names, d->origin, origin),
               d->cloexec ? "yes" : "no", shares, visible(f->path, path, sizeof path));
    }
}

static void print_file_data_text(const struct image_view *v)
{
    static char path[VISIBLE_BUF];
    int header = 0;
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        if (r->kind != CKPT_REC_FILE_DATA)
            continue;
        const struct ckpt_file_data_record *d = (const void *)r;
        if (!header++) {
            printf("\nstored file contents (written back at restore)\n");
            printf("  %4s %4s %12s %12s %16s %6s  %s\n", "FILE", "FD", "SIZE", "FILE_OFFSET",
                   "CHECKSUM", "MODE", "PATH");
        }
        printf("  %4" PRIu32 " %4" PRId32 " %12" PRIu64 " %12" PRIu64 " %016" PRIx64 " %06" PRIo32
               "  %s\n",
               d->file, lowest_fd_of(v, d->file), d->size, d->extent.file_offset,
               d->extent.checksum, d->mode, visible(file_of(v, d->file)->path, path, sizeof path));
    }
}

static void print_locks_text(const struct image_view *v)
{
    int header = 0;
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        if (r->kind != CKPT_REC_LOCK)
            continue;
        const struct ckpt_lock_record *l = (const void *)r;
        if (!header++)
            printf("\nlocks (POSIX record locks, taken again at restore)\n  %4s %4s %-5s %20s "
                   "%20s\n",
                   "FILE", "FD", "TYPE", "START", "END");
        char end[24] = "EOF";
        if (l->end != CKPT_LOCK_TO_EOF)
            snprintf(end, sizeof end, "%" PRIu64, l->end);
        printf("  %4" PRIu32 " %4" PRId32 " %-5s %20" PRIu64 " %20s\n", l->file,
               lowest_fd_of(v, l->file), l->type == CKPT_LOCK_WRITE ? "write" : "read", l->start,
               end);
    }
}

static void print_terminals_text(const struct image_view *v)
{
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        if (r->kind != CKPT_REC_TERMINAL)
            continue;
        const struct ckpt_terminal_record *t = (const void *)r;
        printf("\nterminal of descriptor %" PRId32 ": iflag %#" PRIx32 " oflag %#" PRIx32
               " cflag %#" PRIx32 " lflag %#" PRIx32 " (%s), window %ux%u (file %" PRIu32 ")\n",
               lowest_fd_of(v, t->file), t->iflag, t->oflag, t->cflag, t->lflag,
               (t->lflag & 2 /* ICANON */) ? "canonical" : "raw", t->cols, t->rows, t->file);
    }
}

static void print_timerfd_text(const struct image_view *v, const struct ckpt_timerfd_record *t)
{
    printf("  timerfd of descriptor %" PRId32 ": clock %" PRIu32 "%s, next in %" PRId64
           ".%09" PRId64 " s, every %" PRId64 ".%09" PRId64 " s, %" PRIu64
           " expirations unread (file %" PRIu32 ")\n",
           lowest_fd_of(v, t->file), t->clockid,
           (t->settime_flags & CKPT_TIMERFD_ABSTIME) ? " absolute" : "", t->value_sec,
           t->value_nsec, t->interval_sec, t->interval_nsec, t->ticks, t->file);
}

/* eventfd counters, timers, signalfd masks and epoll entries, one line each. */
static void print_events_text(const struct image_view *v)
{
    int header = 0;
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        int event = r->kind == CKPT_REC_EVENTFD || r->kind == CKPT_REC_TIMERFD ||
                    r->kind == CKPT_REC_SIGNALFD || r->kind == CKPT_REC_EPOLL_TARGET ||
                    r->kind == CKPT_REC_INOTIFY_WATCH;
        if (event && !header++)
            printf("\nevent descriptors\n");
        if (r->kind == CKPT_REC_EVENTFD) {
            const struct ckpt_eventfd_record *e = (const void *)r;
            printf("  eventfd of descriptor %" PRId32 ": counter %" PRIu64 "%s (file %" PRIu32
                   ")\n",
                   lowest_fd_of(v, e->file), e->count, e->semaphore ? ", semaphore" : "", e->file);
        } else if (r->kind == CKPT_REC_TIMERFD) {
            print_timerfd_text(v, (const void *)r);
        } else if (r->kind == CKPT_REC_SIGNALFD) {
            const struct ckpt_signalfd_record *s = (const void *)r;
            printf("  signalfd of descriptor %" PRId32 ": mask %#" PRIx64 " (file %" PRIu32 ")\n",
                   lowest_fd_of(v, s->file), s->mask, s->file);
        } else if (r->kind == CKPT_REC_EPOLL_TARGET) {
            const struct ckpt_epoll_target_record *t = (const void *)r;
            printf("  epoll of descriptor %" PRId32 " watches descriptor %" PRId32
                   ": events %#" PRIx32 ", data %#" PRIx64 " (file %" PRIu32 ")\n",
                   lowest_fd_of(v, t->file), t->fd, t->events, t->data, t->file);
        } else if (r->kind == CKPT_REC_INOTIFY_WATCH) {
            const struct ckpt_inotify_watch_record *w = (const void *)r;
            printf("  inotify of descriptor %" PRId32 " watches %s: watch %" PRId32
                   ", mask %#" PRIx32 " (file %" PRIu32 ")\n",
                   lowest_fd_of(v, w->file), w->path, w->wd, w->mask, w->file);
        }
    }
}

/* The FIFO record of pipe id, or NULL: an anonymous pipe. */
static const struct ckpt_fifo_record *fifo_of_pipe(const struct image_view *v, uint32_t id)
{
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r))
        if (r->kind == CKPT_REC_FIFO && ((const struct ckpt_fifo_record *)r)->pipe == id)
            return (const void *)r;
    return 0;
}

/* Each pipe with its ends: which descriptors, how many bytes it held. */
static void print_pipes_text(const struct image_view *v)
{
    int header = 0;
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        if (r->kind != CKPT_REC_PIPE_END)
            continue;
        const struct ckpt_pipe_end_record *e = (const void *)r;
        const struct ckpt_pipe_record *q = 0;
        for (const struct ckpt_record_head *p = image_first(v); p && !q; p = image_next(v, p))
            if (p->kind == CKPT_REC_PIPE && p->id == e->pipe)
                q = (const void *)p;
        if (!header++)
            printf("\npipes (made again at restore, with the bytes they held)\n  %4s %4s %4s %-5s "
                   "%10s %10s %s\n",
                   "PIPE", "FILE", "FD", "END", "SIZE", "BYTES", "OTHER END");
        uint32_t other = e->end == CKPT_PIPE_END_READ ? CKPT_PIPE_WRITE_END : CKPT_PIPE_READ_END;
        const struct ckpt_fifo_record *fifo = fifo_of_pipe(v, e->pipe);
        printf("  %4" PRIu32 " %4" PRIu32 " %4" PRId32 " %-5s %10" PRIu32 " %10" PRIu64 " %s\n",
               e->pipe, e->file, lowest_fd_of(v, e->file),
               e->end == CKPT_PIPE_END_WRITE  ? "write"
               : e->end == CKPT_PIPE_END_BOTH ? "rw"
                                              : "read",
               q ? q->size : 0, q ? q->bytes : 0,
               fifo                     ? "FIFO (reopened at its path)"
               : q && (q->ends & other) ? "in the process"
                                        : "closed");
    }
}

static const char *sock_type_name(uint32_t type)
{
    return type == CKPT_SOCK_STREAM ? "stream" : type == CKPT_SOCK_DGRAM ? "dgram" : "seqpacket";
}

/* A bound socket's name for people: the path, or "@name" (an abstract name, NULs as '@'). */
static void bound_name(const struct ckpt_unix_bound_record *b, char *out, size_t cap)
{
    if (b->name[0]) {
        snprintf(out, cap, "%s", b->path);
        return;
    }
    size_t n = 0;
    for (uint32_t i = 0; i < b->name_len && i < CKPT_UNIX_NAME_MAX && n + 1 < cap; i++)
        out[n++] = b->name[i] ? b->name[i] : '@';
    out[n] = 0;
}

/* Bound and listening UNIX sockets: bound again at their names at restore. */
static void print_bound_sockets_text(const struct image_view *v)
{
    int header = 0;
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        if (r->kind != CKPT_REC_UNIX_BOUND)
            continue;
        const struct ckpt_unix_bound_record *b = (const void *)r;
        if (!header++)
            printf("\nbound UNIX sockets (bound again at their names at restore)\n  %4s %4s "
                   "%-9s %-9s %7s %7s %5s %s\n",
                   "FILE", "FD", "TYPE", "STATE", "BACKLOG", "PENDING", "MODE", "NAME");
        char name[2 * CKPT_PATH_MAX], mode[16] = "-";
        bound_name(b, name, sizeof name);
        if (b->name[0])
            snprintf(mode, sizeof mode, "%04" PRIo32, b->mode);
        printf("  %4" PRIu32 " %4" PRId32 " %-9s %-9s %7" PRIu32 " %7" PRIu32 " %5s %s\n", b->file,
               lowest_fd_of(v, b->file), sock_type_name(b->type),
               b->listening ? "listening" : "bound", b->backlog, b->pending, mode, name);
    }
}

/* Each socket pair's ends: which descriptors, what was queued on each. */
static void print_sockets_text(const struct image_view *v)
{
    int header = 0;
    uint32_t type = 0;
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        if (r->kind == CKPT_REC_SOCKPAIR)
            type = ((const struct ckpt_sockpair_record *)r)->type;
        if (r->kind != CKPT_REC_SOCKET_END)
            continue;
        const struct ckpt_socket_end_record *e = (const void *)r;
        if (!header++)
            printf("\nsocket pairs (made again at restore, with what was queued)\n  %4s %4s %4s "
                   "%3s %-9s %8s %10s\n",
                   "PAIR", "FILE", "FD", "END", "TYPE", "MESSAGES", "BYTES");
        printf("  %4" PRIu32 " %4" PRIu32 " %4" PRId32 " %3" PRIu32 " %-9s %8" PRIu32 " %10" PRIu64
               "\n",
               e->pair, e->file, lowest_fd_of(v, e->file), e->end,
               type == CKPT_SOCK_STREAM  ? "stream"
               : type == CKPT_SOCK_DGRAM ? "dgram"
                                         : "seqpacket",
               e->nmsgs, e->bytes);
    }
}

static const char *const inet_state_names[CKPT_INET_NSTATES] = {"unbound",
                                                                "bound",
                                                                "listening",
                                                                "connected",
                                                                "connected within the process",
                                                                "closed by its peer at restore"};

static const char *inet_state_name(uint32_t state)
{
    return state < CKPT_INET_NSTATES ? inet_state_names[state] : "?";
}

/* "127.0.0.1:8080", "[::1]:8080" or "-" for no address. */
static const char *inet_address(char *out, size_t cap, const uint8_t *a, uint32_t family)
{
    char ip[INET6_ADDRSTRLEN];
    uint16_t port = (uint16_t)(a[2] << 8 | a[3]), f;
    memcpy(&f, a, 2);
    if (f != family || !inet_ntop((int)family, a + (family == AF_INET ? 4 : 8), ip, sizeof ip))
        return "-";
    snprintf(out, cap, family == AF_INET ? "%s:%u" : "[%s]:%u", ip, port);
    return out;
}

/* Each TCP and UDP socket: its state, addresses and what was queued on it. */
static void print_inet_text(const struct image_view *v)
{
    int header = 0;
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        if (r->kind != CKPT_REC_INET)
            continue;
        const struct ckpt_inet_record *s = (const void *)r;
        char local[80], peer[80];
        if (!header++)
            printf("\nTCP and UDP sockets (made again at restore)\n  %4s %4s %-5s %-22s %-22s "
                   "%8s %s\n",
                   "FILE", "FD", "PROTO", "LOCAL", "PEER", "BYTES", "STATE");
        printf("  %4" PRIu32 " %4" PRId32 " %-5s %-22s %-22s %8" PRIu64 " %s\n", s->file,
               lowest_fd_of(v, s->file), s->type == CKPT_SOCK_STREAM ? "tcp" : "udp",
               inet_address(local, sizeof local, s->local, s->family),
               inet_address(peer, sizeof peer, s->peer, s->family), s->bytes,
               inet_state_name(s->state));
    }
}

/* Memfds and deleted files: each object, and how many descriptions and mappings it has. */
static void print_memfiles_text(const struct image_view *v)
{
    int header = 0;
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        if (r->kind != CKPT_REC_MEMFILE)
            continue;
        const struct ckpt_memfile_record *m = (const void *)r;
        uint32_t opens = 0, maps = 0;
        for (const struct ckpt_record_head *o = image_first(v); o; o = image_next(v, o)) {
            opens += o->kind == CKPT_REC_MEMFILE_OPEN &&
                     ((const struct ckpt_memfile_open_record *)o)->object == r->id;
            maps += o->kind == CKPT_REC_MEMFILE_MAP &&
                    ((const struct ckpt_memfile_map_record *)o)->object == r->id;
        }
        if (!header++)
            printf("\nmemfds and deleted files (made again at restore, with their contents)\n"
                   "  %4s %-7s %10s %5s %5s %5s %4s %s\n",
                   "ID", "ORIGIN", "SIZE", "MODE", "SEALS", "OPENS", "MAPS", "NAME");
        printf("  %4" PRIu32 " %-7s %10" PRIu64 " %5o %5x %5" PRIu32 " %4" PRIu32 " %s\n", r->id,
               m->origin == CKPT_MEMFILE_MEMFD     ? "memfd"
               : m->origin == CKPT_MEMFILE_DELETED ? "deleted"
                                                   : "shared",
               m->size, m->mode, m->seals, opens, maps, m->name);
    }
}

/* Records of kinds this ckpt does not know (a later minor version's), which restore-run
 * skips: what their heads say. */
static void print_unknown_text(const struct image_view *v)
{
    int header = 0;
    for (const struct ckpt_record_head *r = image_first_any(v); r; r = image_next_any(v, r)) {
        if (ckpt_record_index(r->kind) >= 0)
            continue;
        if (!header++)
            printf("\nrecords of unknown kinds (skipped)\n  %6s %6s %8s %8s\n", "KIND", "FLAGS",
                   "LENGTH", "ID");
        printf("  0x%04" PRIx16 " 0x%04" PRIx16 " %8" PRIu32 " %8" PRIu32 "\n", r->kind, r->flags,
               r->length, r->id);
    }
}

/* The chain an incremental image takes pages from: each parent, and whether it is there. */
static void print_chain_text(const char *path, const struct image_view *v)
{
    static char text[VISIBLE_BUF];
    if (v->nparents == 0) {
        printf("chain       full image (no parent)\n");
        return;
    }
    printf("chain       incremental: %" PRIu32 " parent %s hold %" PRIu64 " bytes of its pages\n",
           v->nparents, ckpt_plural(v->nparents, "image", "images"), image_kept_bytes(v));
    for (uint32_t i = 0; i < v->nparents; i++) {
        const struct ckpt_parent_record *pr = chain_parent(v, i);
        char found[CKPT_PATH_MAX + 256];
        locate_parent(path, pr, found, sizeof found);
        printf("  parent %-3" PRIu32 " generation %-6" PRIu32 " content %016" PRIx64 "  %s\n",
               pr->head.id, pr->generation, pr->content_id,
               found[0] ? visible(found, text, sizeof text) : "MISSING");
    }
}

static void print_text(const char *path, const struct image_view *v)
{
    print_header_text(path, v);
    print_chain_text(path, v);
    print_process_text(v->proc);
    print_threads_text(v);
    print_regions_text(v);
    print_files_text(v);
    print_fds_text(v);
    print_file_data_text(v);
    print_locks_text(v);
    print_terminals_text(v);
    print_events_text(v);
    print_pipes_text(v);
    print_sockets_text(v);
    print_inet_text(v);
    print_memfiles_text(v);
    print_bound_sockets_text(v);
    print_unknown_text(v);
}

/* ---- JSON output ----------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0 if the byte there starts none. */
static size_t utf8_sequence_length(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* A JSON string. Paths may hold any bytes; bytes that are not UTF-8 become U+FFFD so the
 * output is always valid JSON. */
void json_string(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    putchar('"');
    while (*p) {
        size_t n = utf8_sequence_length(p);
        if (n == 0)
            fputs("\\ufffd", stdout);
        else if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", stdout);
        else if (*p == '\t')
            fputs("\\t", stdout);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\u%04x", *p);
        else
            fwrite(p, 1, n, stdout);
        p += n ? n : 1;
    }
    putchar('"');
}

/* Starts a member ("key":) of an object, or an element of an array when key is NULL. */
void json_item(struct json *j, const char *key)
{
    if (j->need_comma)
        putchar(',');
    j->need_comma = 1;
    if (key)
        printf("\"%s\":", key);
}

void json_open(struct json *j, const char *key, char bracket)
{
    json_item(j, key);
    putchar(bracket);
    j->need_comma = 0;
}

void json_close(struct json *j, char bracket)
{
    putchar(bracket);
    j->need_comma = 1;
}

void json_str(struct json *j, const char *key, const char *value)
{
    json_item(j, key);
    json_string(value);
}

/* Addresses and masks are strings of hex digits: easier to read and compare than numbers
 * beyond 2^53, which many JSON readers cannot hold exactly. */
static void json_hex(struct json *j, const char *key, uint64_t value)
{
    json_item(j, key);
    printf("\"0x%" PRIx64 "\"", value);
}

static void json_uint(struct json *j, const char *key, uint64_t value)
{
    json_item(j, key);
    printf("%" PRIu64, value);
}

static void json_int(struct json *j, const char *key, int64_t value)
{
    json_item(j, key);
    printf("%" PRId64, value);
}

void json_bool(struct json *j, const char *key, int value)
{
    json_item(j, key);
    fputs(value ? "true" : "false", stdout);
}

static void print_header_json(struct json *j, const struct ckpt_file_header *h)
{
    json_open(j, "header", '{');
    json_uint(j, "version", h->version_major);
    json_uint(j, "version_minor", h->version_minor);
    json_str(j, "arch", "x86_64"); /* the validator accepts no other */
    json_uint(j, "pid", h->pid);
    json_uint(j, "generation", h->generation);
    json_uint(j, "file_size", h->file_size);
    json_uint(j, "data_bytes", h->data_bytes);
    json_uint(j, "meta_offset", h->meta_offset);
    json_int(j, "created_sec", h->created_sec);
    json_close(j, '}');
}

static void print_sigactions_json(struct json *j, const struct ckpt_process_record *p)
{
    json_open(j, "sigactions", '[');
    for (int i = 0; i < CKPT_NSIG; i++) {
        const struct ckpt_sigaction *a = &p->sigactions[i];
        if (a->handler == 0) /* SIG_DFL */
            continue;
        json_open(j, NULL, '{');
        json_int(j, "signal", i + 1);
        json_hex(j, "handler", a->handler);
        json_hex(j, "flags", a->flags);
        json_close(j, '}');
    }
    json_close(j, ']');
}

static void print_itimers_json(struct json *j, const struct ckpt_process_record *p)
{
    json_open(j, "itimers", '[');
    for (int i = 0; i < 3; i++) {
        const struct ckpt_itimer *t = &p->itimers[i];
        if (!itimer_armed(t))
            continue;
        json_open(j, NULL, '{');
        json_str(j, "which", itimer_names[i]);
        json_int(j, "value_sec", t->value_sec);
        json_int(j, "value_usec", t->value_usec);
        json_int(j, "interval_sec", t->interval_sec);
        json_int(j, "interval_usec", t->interval_usec);
        json_close(j, '}');
    }
    json_close(j, ']');
}

/* Members of format 2's process object, which held the one thread's state: the leader's
 * now (the shape only gains members). */
static void print_leader_json(struct json *j, const struct image_view *v)
{
    const struct ckpt_thread_record *t = v->threads;
    json_uint(j, "tid", t->tid);
    json_hex(j, "fs_base", t->fs_base);
    json_hex(j, "rseq_addr", t->rseq_addr);
    json_hex(j, "sigpending", v->proc->shared_pending | t->pending);
    json_hex(j, "sigmask", t->sigmask);
}

/* One record as JSON, per kind: generated from the registry below, so that a kind without
 * its inspect_<name> does not compile. */
typedef void inspect_fn(struct json *j, const struct image_view *v,
                        const struct ckpt_record_head *r);

static void inspect_process(struct json *j, const struct image_view *v,
                            const struct ckpt_record_head *r)
{
    const struct ckpt_process_record *p = (const void *)r;
    json_open(j, NULL, '{');
    json_str(j, "comm", p->comm);
    json_str(j, "exe", p->exe);
    json_str(j, "cwd", p->cwd);
    json_uint(j, "umask", p->umask);
    json_uint(j, "checkpoint_signal", p->checkpoint_signal);
    json_uint(j, "pid", p->pid);
    json_uint(j, "uid", p->uid);
    json_uint(j, "gid", p->gid);
    json_uint(j, "start_time", p->start_time);
    json_str(j, "boot_id", p->boot_id);
    json_hex(j, "start_brk", p->start_brk);
    json_hex(j, "brk", p->brk);
    json_hex(j, "start_stack", p->start_stack);
    print_leader_json(j, v);
    json_uint(j, "nthreads", p->nthreads);
    json_hex(j, "shared_pending", p->shared_pending);
    print_sigactions_json(j, p);
    print_itimers_json(j, p);
    json_close(j, '}');
}

static void inspect_thread(struct json *j, const struct image_view *v,
                           const struct ckpt_record_head *r)
{
    (void)v;
    const struct ckpt_thread_record *t = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "tid", t->tid);
    json_str(j, "comm", t->comm);
    json_bool(j, "leader", (t->flags & CKPT_THREAD_LEADER) != 0);
    json_uint(j, "flags", t->flags);
    json_hex(j, "rip", t->context.rip);
    json_hex(j, "rsp", t->context.rsp);
    json_hex(j, "frame_addr", t->frame_addr);
    json_hex(j, "interrupted_rip", t->interrupted_rip);
    json_hex(j, "interrupted_rsp", t->interrupted_rsp);
    json_hex(j, "fs_base", t->fs_base);
    json_hex(j, "gs_base", t->gs_base);
    json_hex(j, "tid_addr", t->tid_addr);
    json_hex(j, "clear_child_tid", t->clear_child_tid);
    json_hex(j, "robust_list", t->robust_list);
    json_hex(j, "rseq_addr", t->rseq_addr);
    json_hex(j, "sigmask", t->sigmask);
    json_hex(j, "pending", t->pending);
    json_hex(j, "altstack_sp", t->altstack_sp);
    json_uint(j, "altstack_size", t->altstack_size);
    json_uint(j, "altstack_flags", t->altstack_flags);
    json_str(j, "sched_policy", sched_policy_name(t->sched_policy));
    json_uint(j, "sched_priority", t->sched_priority);
    json_int(j, "nice", t->nice);
    json_hex(j, "xfeatures", t->xfeatures);
    json_uint(j, "xstate_size", t->xstate_size);
    char state[128];
    format_interrupted_call(t->interrupted_call, state, sizeof state);
    json_uint(j, "interrupted_call", t->interrupted_call);
    json_str(j, "state", state);
    json_close(j, '}');
}

static void inspect_run(struct json *j, const struct image_view *v,
                        const struct ckpt_record_head *r)
{
    (void)v;
    const struct ckpt_run_record *u = (const void *)r;
    json_open(j, NULL, '{');
    json_hex(j, "addr", u->addr);
    /* Before length and file_offset, which scripts find at the end of a run. */
    json_bool(j, "compressed", (r->flags & CKPT_RECF_ZSTD) != 0);
    json_uint(j, "stored_length", image_stored_length(r));
    json_uint(j, "length", u->extent.length);
    json_uint(j, "file_offset", u->extent.file_offset);
    json_close(j, '}');
}

/* Pages kept in a parent image: "parent" (its id) tells them from stored runs. */
static void inspect_run_ref(struct json *j, const struct image_view *v,
                            const struct ckpt_record_head *r)
{
    (void)v;
    const struct ckpt_run_ref_record *u = (const void *)r;
    json_open(j, NULL, '{');
    json_hex(j, "addr", u->addr);
    json_uint(j, "length", u->length);
    json_uint(j, "parent", u->parent);
    json_uint(j, "skip", u->skip);
    json_uint(j, "parent_run_offset", u->run.file_offset);
    json_uint(j, "parent_run_length", u->run.length);
    json_close(j, '}');
}

/* The hashes themselves are the checkpointer's business: where and how many. */
static void inspect_page_hashes(struct json *j, const struct image_view *v,
                                const struct ckpt_record_head *r)
{
    (void)v;
    const struct ckpt_page_hashes_record *h = (const void *)r;
    json_open(j, NULL, '{');
    json_hex(j, "addr", h->addr);
    json_uint(j, "pages", h->npages);
    json_close(j, '}');
}

static void inspect_parent(struct json *j, const struct image_view *v,
                           const struct ckpt_record_head *r)
{
    (void)v;
    const struct ckpt_parent_record *pr = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "id", r->id);
    json_hex(j, "content_id", pr->content_id);
    json_uint(j, "file_size", pr->file_size);
    json_uint(j, "generation", pr->generation);
    json_str(j, "name", pr->name);
    json_close(j, '}');
}

static void inspect_region(struct json *j, const struct image_view *v,
                           const struct ckpt_record_head *r)
{
    const struct ckpt_region_record *g = (const void *)r;
    char prot[4], kind[NAME_BUF];
    json_open(j, NULL, '{');
    json_hex(j, "start", g->start);
    json_hex(j, "end", g->end);
    json_str(j, "prot", prot_string(g->prot, prot));
    json_bool(j, "shared", region_is_shared(g->kind));
    json_str(j, "kind", NAME_OF(region_kind_names, g->kind, kind));
    json_str(j, "path", g->path);
    json_uint(j, "file_offset", g->file_offset);
    json_uint(j, "stored_bytes", region_stored_bytes(v, g));
    json_open(j, "runs", '[');
    const struct ckpt_run_record *u = first_run(v, g);
    for (uint32_t i = 0; i < g->nruns; i++, u = next_run(v, u))
        (u->head.kind == CKPT_REC_RUN_REF ? inspect_run_ref : inspect_run)(j, v, &u->head);
    json_close(j, ']');
    json_close(j, '}');
}

/* The members of an open file description, in its FILE object and in each descriptor. */
static void file_members_json(struct json *j, const struct ckpt_file_record *f)
{
    char kind[NAME_BUF];
    json_str(j, "kind", NAME_OF(fd_kind_names, f->kind, kind));
    json_uint(j, "flags", f->flags);
    json_uint(j, "offset", f->offset);
    json_uint(j, "size", f->file.size);
    json_str(j, "path", f->path);
}

static void inspect_file(struct json *j, const struct image_view *v,
                         const struct ckpt_record_head *r)
{
    (void)v;
    json_open(j, NULL, '{');
    json_uint(j, "id", r->id);
    file_members_json(j, (const void *)r);
    json_close(j, '}');
}

/* A descriptor with its file's members, as before files were objects of their own. */
static void inspect_fd(struct json *j, const struct image_view *v, const struct ckpt_record_head *r)
{
    const struct ckpt_fd_record *d = (const void *)r;
    char origin[NAME_BUF];
    json_open(j, NULL, '{');
    json_int(j, "fd", d->fd);
    json_uint(j, "file", d->file);
    json_str(j, "origin", NAME_OF(fd_origin_names, d->origin, origin));
    json_bool(j, "cloexec", d->cloexec);
    json_int(j, "shares_with", shares_with(v, d));
    file_members_json(j, file_of(v, d->file));
    json_close(j, '}');
}

static void inspect_file_data(struct json *j, const struct image_view *v,
                              const struct ckpt_record_head *r)
{
    const struct ckpt_file_data_record *d = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "file", d->file);
    json_int(j, "fd", lowest_fd_of(v, d->file));
    json_uint(j, "size", d->size);
    json_uint(j, "mode", d->mode);
    json_uint(j, "file_offset", d->extent.file_offset);
    json_uint(j, "length", d->extent.length);
    json_hex(j, "checksum", d->extent.checksum); /* a string: JSON numbers lose 64-bit precision */
    json_close(j, '}');
}

static void inspect_lock(struct json *j, const struct image_view *v,
                         const struct ckpt_record_head *r)
{
    const struct ckpt_lock_record *l = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "file", l->file);
    json_int(j, "fd", lowest_fd_of(v, l->file));
    json_str(j, "type", l->type == CKPT_LOCK_WRITE ? "write" : "read");
    json_uint(j, "start", l->start);
    if (l->end == CKPT_LOCK_TO_EOF)
        json_str(j, "end", "eof");
    else
        json_uint(j, "end", l->end);
    json_close(j, '}');
}

static void inspect_terminal(struct json *j, const struct image_view *v,
                             const struct ckpt_record_head *r)
{
    const struct ckpt_terminal_record *t = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "file", t->file);
    json_int(j, "fd", lowest_fd_of(v, t->file));
    json_uint(j, "iflag", t->iflag);
    json_uint(j, "oflag", t->oflag);
    json_uint(j, "cflag", t->cflag);
    json_uint(j, "lflag", t->lflag);
    json_uint(j, "rows", t->rows);
    json_uint(j, "cols", t->cols);
    json_close(j, '}');
}

static void inspect_eventfd(struct json *j, const struct image_view *v,
                            const struct ckpt_record_head *r)
{
    const struct ckpt_eventfd_record *e = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "file", e->file);
    json_int(j, "fd", lowest_fd_of(v, e->file));
    json_uint(j, "count", e->count);
    json_bool(j, "semaphore", e->semaphore);
    json_close(j, '}');
}

static void inspect_timerfd(struct json *j, const struct image_view *v,
                            const struct ckpt_record_head *r)
{
    const struct ckpt_timerfd_record *t = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "file", t->file);
    json_int(j, "fd", lowest_fd_of(v, t->file));
    json_uint(j, "clockid", t->clockid);
    json_uint(j, "settime_flags", t->settime_flags);
    json_uint(j, "ticks", t->ticks);
    json_int(j, "value_ns", t->value_sec * 1000000000 + t->value_nsec);
    json_int(j, "interval_ns", t->interval_sec * 1000000000 + t->interval_nsec);
    json_close(j, '}');
}

static void inspect_signalfd(struct json *j, const struct image_view *v,
                             const struct ckpt_record_head *r)
{
    const struct ckpt_signalfd_record *s = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "file", s->file);
    json_int(j, "fd", lowest_fd_of(v, s->file));
    json_hex(j, "mask", s->mask);
    json_close(j, '}');
}

static void inspect_epoll_target(struct json *j, const struct image_view *v,
                                 const struct ckpt_record_head *r)
{
    const struct ckpt_epoll_target_record *t = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "file", t->file);
    json_int(j, "fd", lowest_fd_of(v, t->file));
    json_int(j, "target", t->fd);
    json_hex(j, "events", t->events);
    json_hex(j, "data", t->data);
    json_close(j, '}');
}

static void inspect_chardev(struct json *j, const struct image_view *v,
                            const struct ckpt_record_head *r)
{
    const struct ckpt_chardev_record *d = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "file", d->file);
    json_int(j, "fd", lowest_fd_of(v, d->file));
    json_uint(j, "major", d->major);
    json_uint(j, "minor", d->minor);
    json_close(j, '}');
}

static void inspect_inotify_watch(struct json *j, const struct image_view *v,
                                  const struct ckpt_record_head *r)
{
    const struct ckpt_inotify_watch_record *w = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "file", w->file);
    json_int(j, "fd", lowest_fd_of(v, w->file));
    json_int(j, "wd", w->wd);
    json_hex(j, "mask", w->mask);
    json_uint(j, "dev", w->dev);
    json_uint(j, "ino", w->ino);
    json_str(j, "path", w->path);
    json_close(j, '}');
}

static void inspect_pipe(struct json *j, const struct image_view *v,
                         const struct ckpt_record_head *r)
{
    (void)v;
    const struct ckpt_pipe_record *q = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "id", r->id);
    json_uint(j, "size", q->size);
    json_uint(j, "bytes", q->bytes);
    json_bool(j, "read_end", (q->ends & CKPT_PIPE_READ_END) != 0);
    json_bool(j, "write_end", (q->ends & CKPT_PIPE_WRITE_END) != 0);
    json_close(j, '}');
}

static void inspect_memfile(struct json *j, const struct image_view *v,
                            const struct ckpt_record_head *r)
{
    (void)v;
    const struct ckpt_memfile_record *m = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "id", r->id);
    json_str(j, "origin",
             m->origin == CKPT_MEMFILE_MEMFD     ? "memfd"
             : m->origin == CKPT_MEMFILE_DELETED ? "deleted file"
                                                 : "shared memory");
    json_str(j, "name", m->name);
    json_uint(j, "size", m->size);
    json_uint(j, "mode", m->mode);
    json_uint(j, "seals", m->seals);
    json_close(j, '}');
}

static void inspect_memfile_open(struct json *j, const struct image_view *v,
                                 const struct ckpt_record_head *r)
{
    const struct ckpt_memfile_open_record *o = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "file", o->file);
    json_int(j, "fd", lowest_fd_of(v, o->file));
    json_uint(j, "memfile", o->object);
    json_close(j, '}');
}

static void inspect_memfile_map(struct json *j, const struct image_view *v,
                                const struct ckpt_record_head *r)
{
    (void)v;
    const struct ckpt_memfile_map_record *map = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "memfile", map->object);
    json_close(j, '}');
}

static void inspect_pipe_end(struct json *j, const struct image_view *v,
                             const struct ckpt_record_head *r)
{
    const struct ckpt_pipe_end_record *e = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "file", e->file);
    json_int(j, "fd", lowest_fd_of(v, e->file));
    json_uint(j, "pipe", e->pipe);
    json_str(j, "end",
             e->end == CKPT_PIPE_END_WRITE  ? "write"
             : e->end == CKPT_PIPE_END_BOTH ? "read-write"
                                            : "read");
    json_close(j, '}');
}

static void inspect_fifo(struct json *j, const struct image_view *v,
                         const struct ckpt_record_head *r)
{
    (void)v;
    const struct ckpt_fifo_record *q = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "pipe", q->pipe);
    json_uint(j, "uid", q->uid);
    json_uint(j, "gid", q->gid);
    json_uint(j, "mode", q->mode & 07777);
    json_close(j, '}');
}

static void inspect_sockpair(struct json *j, const struct image_view *v,
                             const struct ckpt_record_head *r)
{
    (void)v;
    const struct ckpt_sockpair_record *q = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "id", r->id);
    json_str(j, "type",
             q->type == CKPT_SOCK_STREAM  ? "stream"
             : q->type == CKPT_SOCK_DGRAM ? "dgram"
                                          : "seqpacket");
    json_close(j, '}');
}

static void inspect_socket_end(struct json *j, const struct image_view *v,
                               const struct ckpt_record_head *r)
{
    const struct ckpt_socket_end_record *e = (const void *)r;
    json_open(j, NULL, '{');
    json_uint(j, "file", e->file);
    json_int(j, "fd", lowest_fd_of(v, e->file));
    json_uint(j, "pair", e->pair);
    json_uint(j, "end", e->end);
    json_uint(j, "messages", e->nmsgs);
    json_uint(j, "bytes", e->bytes);
    json_close(j, '}');
}

static void inspect_inet(struct json *j, const struct image_view *v,
                         const struct ckpt_record_head *r)
{
    const struct ckpt_inet_record *s = (const void *)r;
    char local[80], peer[80];
    json_open(j, NULL, '{');
    json_uint(j, "file", s->file);
    json_int(j, "fd", lowest_fd_of(v, s->file));
    json_str(j, "protocol", s->type == CKPT_SOCK_STREAM ? "tcp" : "udp");
    json_uint(j, "family", s->family);
    json_str(j, "state", inet_state_name(s->state));
    json_str(j, "local", inet_address(local, sizeof local, s->local, s->family));
    json_str(j, "peer", inet_address(peer, sizeof peer, s->peer, s->family));
    json_int(j, "peer_fd", s->peer_fd);
    json_uint(j, "options", s->options);
    json_int(j, "linger", s->linger);
    json_uint(j, "backlog", s->backlog);
    json_uint(j, "sndbuf", s->sndbuf);
    json_uint(j, "rcvbuf", s->rcvbuf);
    json_uint(j, "bytes", s->bytes);
    json_close(j, '}');
}

static void inspect_unix_bound(struct json *j, const struct image_view *v,
                               const struct ckpt_record_head *r)
{
    const struct ckpt_unix_bound_record *b = (const void *)r;
    char name[2 * CKPT_PATH_MAX];
    bound_name(b, name, sizeof name);
    json_open(j, NULL, '{');
    json_uint(j, "file", b->file);
    json_int(j, "fd", lowest_fd_of(v, b->file));
    json_str(j, "type", sock_type_name(b->type));
    json_str(j, "state", b->listening ? "listening" : "bound");
    json_str(j, "name", name);
    json_str(j, "namespace", b->name[0] ? "path" : "abstract");
    json_uint(j, "backlog", b->backlog);
    json_uint(j, "pending", b->pending);
    json_uint(j, "mode", b->mode);
    json_uint(j, "uid", b->uid);
    json_uint(j, "gid", b->gid);
    json_close(j, '}');
}

static void inspect_end(struct json *j, const struct image_view *v,
                        const struct ckpt_record_head *r)
{
    (void)v;
    json_open(j, NULL, '{');
    json_uint(j, "nrecords", ((const struct ckpt_end_record *)r)->nrecords);
    json_close(j, '}');
}

/* A record of a kind this ckpt does not know: what its head says. */
static void inspect_unknown(struct json *j, const struct image_view *v,
                            const struct ckpt_record_head *r)
{
    (void)v;
    json_open(j, NULL, '{');
    json_hex(j, "kind", r->kind);
    json_hex(j, "flags", r->flags);
    json_uint(j, "length", r->length);
    json_uint(j, "id", r->id);
    json_close(j, '}');
}

static inspect_fn *inspector_of(uint32_t kind)
{
    switch (kind) {
#define INSPECT_CASE(NAME, name, value, flags, min_len, size)                                      \
    case CKPT_REC_##NAME:                                                                          \
        return inspect_##name;
        CKPT_RECORDS(INSPECT_CASE)
#undef INSPECT_CASE
    }
    return inspect_unknown;
}

/* No registry value is 0: it stands for every kind this ckpt does not know. */
#define UNKNOWN_KINDS 0u

/* "name":[...] of every record of one kind (UNKNOWN_KINDS: of every unknown kind). */
static void print_records_json(struct json *j, const struct image_view *v, const char *name,
                               uint32_t kind)
{
    json_open(j, name, '[');
    for (const struct ckpt_record_head *r = image_first_any(v); r; r = image_next_any(v, r))
        if (kind == UNKNOWN_KINDS ? ckpt_record_index(r->kind) < 0 : r->kind == kind)
            inspector_of(r->kind)(j, v, r);
    json_close(j, ']');
}

/* {"header":{...},"process":{...},"threads":[...],"regions":[...],"files":[...],"fds":[...],
 * "file_data":[...],"locks":[...],"terminals":[...],"eventfds":[...],"timerfds":[...],
 * "signalfds":[...],"epoll_targets":[...],"pipes":[...],"pipe_ends":[...],"socket_pairs":[...],
 * "socket_ends":[...],"inet_sockets":[...],"inotify_watches":[...],"memfiles":[...],
 * "memfile_opens":[...],"memfile_maps":[...],"bound_sockets":[...],"unknown":[...],
 * "parents":[...],"chardevs":[...],"fifos":[...],"page_hashes":[...]}
 * on one line; the shape is a contract with scripts and tests, so members are only ever
 * added. */
static void print_json(const struct image_view *v)
{
    struct json j = {0};
    json_open(&j, NULL, '{');
    print_header_json(&j, v->hdr);
    struct compression_totals t = compression_totals(v);
    json_open(&j, "compression", '{');
    json_uint(&j, "runs", t.runs);
    json_uint(&j, "page_bytes", t.pages);
    json_uint(&j, "stored_bytes", t.stored);
    json_close(&j, '}');
    json_item(&j, "process");
    j.need_comma = 0;
    inspect_process(&j, v, &v->proc->head);
    print_records_json(&j, v, "threads", CKPT_REC_THREAD);
    print_records_json(&j, v, "regions", CKPT_REC_REGION);
    print_records_json(&j, v, "files", CKPT_REC_FILE);
    print_records_json(&j, v, "fds", CKPT_REC_FD);
    print_records_json(&j, v, "file_data", CKPT_REC_FILE_DATA);
    print_records_json(&j, v, "locks", CKPT_REC_LOCK);
    print_records_json(&j, v, "terminals", CKPT_REC_TERMINAL);
    print_records_json(&j, v, "eventfds", CKPT_REC_EVENTFD);
    print_records_json(&j, v, "timerfds", CKPT_REC_TIMERFD);
    print_records_json(&j, v, "signalfds", CKPT_REC_SIGNALFD);
    print_records_json(&j, v, "epoll_targets", CKPT_REC_EPOLL_TARGET);
    print_records_json(&j, v, "pipes", CKPT_REC_PIPE);
    print_records_json(&j, v, "pipe_ends", CKPT_REC_PIPE_END);
    print_records_json(&j, v, "socket_pairs", CKPT_REC_SOCKPAIR);
    print_records_json(&j, v, "socket_ends", CKPT_REC_SOCKET_END);
    print_records_json(&j, v, "inet_sockets", CKPT_REC_INET);
    print_records_json(&j, v, "inotify_watches", CKPT_REC_INOTIFY_WATCH);
    print_records_json(&j, v, "memfiles", CKPT_REC_MEMFILE);
    print_records_json(&j, v, "memfile_opens", CKPT_REC_MEMFILE_OPEN);
    print_records_json(&j, v, "memfile_maps", CKPT_REC_MEMFILE_MAP);
    print_records_json(&j, v, "bound_sockets", CKPT_REC_UNIX_BOUND);
    print_records_json(&j, v, "unknown", UNKNOWN_KINDS);
    print_records_json(&j, v, "parents", CKPT_REC_PARENT);
    print_records_json(&j, v, "chardevs", CKPT_REC_CHARDEV);
    print_records_json(&j, v, "fifos", CKPT_REC_FIFO);
    print_records_json(&j, v, "page_hashes", CKPT_REC_PAGE_HASHES);
    json_close(&j, '}');
    putchar('\n');
}

/* ---- the command ----------------------------------------------------------------------- */

/* An image of another major format version is refused like any image this ckpt cannot
 * read, but its header (whose first fields every version shares) still says what it is. */
static void print_other_format_header(const char *path, int json)
{
    struct ckpt_file_header h;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    int got = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
              pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h;
    if (fd >= 0)
        close(fd);
    if (!got || memcmp(h.magic, CKPT_IMAGE_MAGIC, 8) ||
        h.version_major == CKPT_IMAGE_VERSION_MAJOR ||
        h.header_checksum != ck_hash64(&h, offsetof(struct ckpt_file_header, header_checksum)))
        return;
    if (!json) {
        print_header_lines(path, &h);
        fflush(stdout);
        return;
    }
    struct json j = {0};
    json_open(&j, NULL, '{');
    print_header_json(&j, &h);
    json_close(&j, '}');
    putchar('\n');
    fflush(stdout);
}

static int inspect_usage_error(const char *what, const char *why)
{
    return ckpt_usage_error("inspect", what, why);
}

int ckpt_inspect_command(int argc, char **argv)
{
    const char *image = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return ckpt_print_help("inspect");
        else if (argv[i][0] == '-' && argv[i][1] != 0)
            return inspect_usage_error(argv[i], "unknown option");
        else if (image)
            return inspect_usage_error(argv[i], "unexpected argument (one IMAGE only)");
        else
            image = argv[i];
    }
    if (!image)
        return inspect_usage_error("IMAGE", "missing");

    struct mapped_image m;
    struct ck_error err;
    if (mapped_image_open(image, &m, &err) != 0) {
        print_other_format_header(image, json);
        fprintf(stderr, CKPT_TOOL_NAME ": %s: %s\n", image, err.msg);
        return CKPT_EXIT_FAILURE;
    }
    if (json)
        print_json(&m.view);
    else
        print_text(image, &m.view);
    mapped_image_close(&m);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, CKPT_TOOL_NAME ": writing the output: %s\n", strerror(errno));
        return CKPT_EXIT_FAILURE;
    }
    return 0;
}
