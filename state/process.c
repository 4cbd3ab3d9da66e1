/* Process-wide state; see process.h. */
#include "process.h"
#include "image_check.h"
#include "identity.h"
#include "sys.h"
#include "plan.h"

#include <asm/errno.h>
#include <linux/fcntl.h>

#define CK_PR_GET_NAME 16
#define CK_PR_SET_MM 35
#define CK_PR_SET_MM_MAP 14

/* ---- save side: checkpoint signal handler, raw syscalls only -------------------------- */

/* Skips n space-separated fields of /proc/self/stat. */
static void skip_fields(const char **p, int n)
{
    while (n-- > 0) {
        while (**p && **p != ' ')
            (*p)++;
        while (**p == ' ')
            (*p)++;
    }
}

/* Fields of /proc/self/stat (proc(5) numbering) after the command name. */
static int read_mm_fields(struct ckpt_process_record *rec, struct ck_error *err)
{
    char buf[2048];
    long n = ck_read_file("/proc/self/stat", buf, sizeof buf);
    if (n < 0)
        return ck_fail(err, (int)n, "reading /proc/self/stat: %s", ck_strerror((int)-n));
    const char *p = buf + n;
    while (p > buf && *p != ')') /* the name may contain spaces and parentheses */
        p--;
    p += 2;              /* now at field 3 */
    skip_fields(&p, 19); /* to field 22 */
    rec->start_time = ck_parse_uint(&p, 10);
    skip_fields(&p, 4); /* to field 26 */
    rec->start_code = ck_parse_uint(&p, 10), skip_fields(&p, 1);
    rec->end_code = ck_parse_uint(&p, 10), skip_fields(&p, 1);
    rec->start_stack = ck_parse_uint(&p, 10), skip_fields(&p, 1);
    skip_fields(&p, 16); /* to field 45 */
    rec->start_data = ck_parse_uint(&p, 10), skip_fields(&p, 1);
    rec->end_data = ck_parse_uint(&p, 10), skip_fields(&p, 1);
    rec->start_brk = ck_parse_uint(&p, 10), skip_fields(&p, 1);
    rec->arg_start = ck_parse_uint(&p, 10), skip_fields(&p, 1);
    rec->arg_end = ck_parse_uint(&p, 10), skip_fields(&p, 1);
    rec->env_start = ck_parse_uint(&p, 10), skip_fields(&p, 1);
    rec->env_end = ck_parse_uint(&p, 10);
    if (!rec->start_stack || !rec->arg_start || !rec->env_end)
        return ck_fail(err, -1, "/proc/self/stat hides the memory layout");
    return 0;
}

static int read_auxv(struct ckpt_process_record *rec, struct ck_error *err)
{
    long fd = sys_openat(AT_FDCWD, "/proc/self/auxv", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return ck_fail(err, (int)fd, "opening /proc/self/auxv: %s", ck_strerror((int)-fd));
    long n = sys_read((int)fd, rec->auxv, sizeof rec->auxv);
    sys_close((int)fd);
    if (n <= 0 || n % 16 || n == (long)sizeof rec->auxv)
        return ck_fail(err, -1, "reading /proc/self/auxv");
    rec->auxv_words = (uint32_t)(n / 8);
    return 0;
}

/* The children of thread tid but the nown in own (the kernel's list ends with a space), in
 * buf; its length. */
static long children_of(const char *tid, const long *own, int nown, char *buf, size_t cap)
{
    char path[64], list[512];
    ck_format(path, sizeof path, "/proc/self/task/%s/children", tid);
    long n = ck_read_file(path, list, sizeof list);
    size_t len = 0;
    buf[0] = 0;
    for (const char *p = list; n > 0 && *p;) {
        const char *start = p;
        long pid = (long)ck_parse_uint(&p, 10);
        if (p == start) {
            p++;
            continue;
        }
        int ours = 0;
        for (int i = 0; i < nown; i++)
            ours |= pid == own[i];
        if (!ours && len + 24 < cap)
            len += ck_format(buf + len, cap - len, "%s%ld", len ? " " : "", pid);
    }
    return (long)len;
}

/* Child processes are not restored yet: refuse rather than restore a part. Each thread has
 * its own list of the children it made. own: the shim's own children (earlier checkpoints'
 * writers that only free the images they replaced). */
static int refuse_unsupported(const long *own, int nown, struct ck_error *err)
{
    char buf[512];
    struct ck_dir dir;
    long n = 0;
    if (ck_dir_open(&dir, "/proc/self/task") == 0) {
        const char *tid;
        while (n <= 0 && (tid = ck_dir_next(&dir)))
            n = children_of(tid, own, nown, buf, sizeof buf);
    }
    ck_dir_close(&dir);
    if (n > 0)
        return ck_fail(err, -1,
                       "the program has child processes (%s); process trees cannot "
                       "be checkpointed yet",
                       buf);
    return 0;
}

/* This boot's id (a UUID) without the newline, or "" if the kernel does not say. */
static void read_boot_id(char *id, size_t cap)
{
    long n = ck_read_file("/proc/sys/kernel/random/boot_id", id, cap);
    if (n < 0)
        n = 0;
    while (n > 0 && (id[n - 1] == '\n' || id[n - 1] == ' '))
        n--;
    id[n] = 0;
}

int process_save(struct ckpt_process_record *rec, const long *own_children, int nown,
                 struct ck_error *err)
{
    if (refuse_unsupported(own_children, nown, err))
        return -1;
    rec->pid = (uint32_t)sys_getpid();
    rec->leader_tid = (uint32_t)sys_gettid();
    rec->uid = (uint32_t)sys_getuid();
    rec->gid = (uint32_t)sys_getgid();
    long mask = sys_umask(022);
    sys_umask((int)mask);
    rec->umask = (uint32_t)mask;
    rec->brk = (uint64_t)sys_brk(0);
    sys_prctl(CK_PR_GET_NAME, (unsigned long)rec->comm, 0, 0, 0);
    rec->comm[sizeof rec->comm - 1] = 0;
    if (sys_getcwd(rec->cwd, sizeof rec->cwd) < 0)
        return ck_fail(err, -1, "the working directory cannot be named");
    long n = sys_readlinkat(AT_FDCWD, "/proc/self/exe", rec->exe, sizeof rec->exe - 1);
    rec->exe[n > 0 ? n : 0] = 0;
    for (int i = 0; i < 3; i++) {
        int64_t v[4];
        sys_getitimer(i, v);
        /* A periodic timer that just expired reads 0 until its signal is delivered, which
         * re-arms it; restored as read it would be disarmed. Its signal is pending and is
         * raised again at restore, so the timer resumes with a full period. */
        if (v[2] == 0 && v[3] == 0 && (v[0] || v[1]))
            v[2] = v[0], v[3] = v[1];
        rec->itimers[i] = (struct ckpt_itimer){v[0], v[1], v[2], v[3]};
    }
    for (int i = 0; i < CKPT_NRLIMITS; i++)
        sys_prlimit(0, i, 0, &rec->rlimits[i]);
    read_boot_id(rec->boot_id, sizeof rec->boot_id);
    if (read_mm_fields(rec, err) || read_auxv(rec, err))
        return -1;
    return 0;
}

/* ---- check side: restore-run phase 1 -------------------------------------------------- */

#define CK_X_OK 1
#define CK_RLIMIT_DATA 2
#define CK_RLIM_INFINITY (~0ULL)
/* The fewest auxv words (AT_VECTOR_SIZE) a Linux 6 kernel on x86_64 keeps. */
#define KERNEL_AUXV_WORDS_MIN 48

/* The core changes to the directory after its point of no return: it must be one that the
 * restoring user may enter, found like every recorded path (identity_open) — the program
 * would otherwise write its relative paths wherever a planted symbolic link points. */
static int check_cwd(const char *cwd, struct ck_error *err)
{
    struct identity_found now;
    long r = identity_open(cwd, O_RDONLY | O_DIRECTORY, CK_S_IFDIR, &now);
    if (r == IDENTITY_OTHER_KIND)
        return ck_fail(err, -1, "working directory %s is not a directory", cwd);
    if (r == -ELOOP)
        return ck_fail(err, -1,
                       "working directory %s: a symbolic link is now in its path, where there "
                       "was none at checkpoint: refused, restore-run follows no symbolic link",
                       cwd);
    if (r < 0)
        return ck_fail(err, -1, "working directory %s: %s", cwd, ck_strerror((int)-r));
    sys_close((int)r);
    /* The path has just been found free of symbolic links. */
    r = sys_faccessat(AT_FDCWD, cwd, CK_X_OK);
    if (r < 0)
        return ck_fail(err, -1, "working directory %s cannot be entered: %s", cwd,
                       ck_strerror((int)-r));
    return 0;
}

/* A number from a /proc/sys file, or fallback if it cannot be read. */
static uint64_t read_sysctl(const char *path, uint64_t fallback)
{
    char buf[32];
    const char *cursor = buf;
    return ck_read_file(path, buf, sizeof buf) > 0 ? ck_parse_uint(&cursor, 10) : fallback;
}

/* The kernel's floor is the larger of vm.mmap_min_addr and the security modules' own
 * (CONFIG_LSM_MMAP_MIN_ADDR, 65536 where it is set), which no file shows: 65536 at least. */
#define LSM_MMAP_MIN_ADDR 65536

/* Neither mmap nor PR_SET_MM_MAP take an address below the kernel's mmap_min_addr. */
static int check_address_floor(const struct restore_plan *p, struct ck_error *err)
{
    const struct ckpt_process_record *r = p->proc;
    uint64_t floor = read_sysctl("/proc/sys/vm/mmap_min_addr", LSM_MMAP_MIN_ADDR);
    floor = floor > LSM_MMAP_MIN_ADDR ? floor : LSM_MMAP_MIN_ADDR;
    const uint64_t fields[] = {r->start_code, r->end_code,  r->start_data,  r->end_data,
                               r->start_brk,  r->brk,       r->start_stack, r->arg_start,
                               r->arg_end,    r->env_start, r->env_end};
    for (size_t i = 0; i < CK_ARRAY_LEN(fields); i++)
        if (fields[i] < floor)
            return ck_fail(err, -1,
                           "the memory layout has address %lx, below the lowest address "
                           "a program may map (%lx)",
                           (unsigned long)fields[i], (unsigned long)floor);
    for (uint32_t i = 0; i < p->nregions; i++)
        if (p->regions[i].rec->start < floor)
            return ck_fail(err, -1,
                           "region %lx-%lx lies below this machine's vm.mmap_min_addr (%lx)",
                           (unsigned long)p->regions[i].rec->start,
                           (unsigned long)p->regions[i].rec->end, (unsigned long)floor);
    return 0;
}

/* PR_SET_MM_MAP, which the core calls with restore-run's own limits still in force, refuses
 * a heap and data larger than RLIMIT_DATA, and an auxv larger than the kernel keeps. */
static int check_mm_limits(const struct ckpt_process_record *r, struct ck_error *err)
{
    struct ckpt_rlimit data;
    if (sys_prlimit(0, CK_RLIMIT_DATA, 0, &data) == 0 && data.cur != CK_RLIM_INFINITY &&
        (r->brk - r->start_brk) + (r->end_data - r->start_data) > data.cur)
        return ck_fail(err, -1,
                       "the program's heap and data (%lu bytes) exceed RLIMIT_DATA "
                       "(ulimit -d) of %lu bytes",
                       (unsigned long)((r->brk - r->start_brk) + (r->end_data - r->start_data)),
                       (unsigned long)data.cur);
    /* The kernel gave restore-run itself so many words: it keeps at least as many. */
    uint64_t own[CKPT_AUXV_WORDS];
    long fd = sys_openat(AT_FDCWD, "/proc/self/auxv", O_RDONLY | O_CLOEXEC, 0);
    long n = fd >= 0 ? sys_read((int)fd, own, sizeof own) : 0;
    if (fd >= 0)
        sys_close((int)fd);
    uint32_t capacity =
        n > 0 && n / 8 > KERNEL_AUXV_WORDS_MIN ? (uint32_t)(n / 8) : KERNEL_AUXV_WORDS_MIN;
    if (r->auxv_words > capacity)
        return ck_fail(err, -1, "the auxiliary vector has %u words; this kernel keeps %u",
                       r->auxv_words, capacity);
    return 0;
}

/* Does the checkpointed process still run? The same boot, pid and start time name the same
 * process (a pid alone may have been given to another since); a zombie has stopped. */
static int original_runs(const struct ckpt_process_record *r)
{
    char boot[sizeof r->boot_id], path[40], stat[1024];
    read_boot_id(boot, sizeof boot);
    if (!r->boot_id[0] || !ck_streq(boot, r->boot_id))
        return 0;
    ck_format(path, sizeof path, "/proc/%u/stat", r->pid);
    long n = ck_read_file(path, stat, sizeof stat);
    if (n <= 0)
        return 0;
    const char *p = stat + n;
    while (p > stat && *p != ')') /* the name may contain spaces and parentheses */
        p--;
    if (*p != ')' || p + 2 >= stat + n)
        return 0;
    p += 2; /* field 3, the state */
    if (*p == 'Z' || *p == 'X')
        return 0;
    skip_fields(&p, 19); /* to field 22 */
    return ck_parse_uint(&p, 10) == r->start_time;
}

int process_check(struct restore_plan *p, struct ck_error *err)
{
    if (check_cwd(p->proc->cwd, err) || check_address_floor(p, err) ||
        check_mm_limits(p->proc, err))
        return -1;
    p->original_runs = original_runs(p->proc);
    if (p->original_runs && !p->allow_running)
        return ck_fail(err, -1,
                       "refused: the checkpointed process (pid %u) is still running; two copies "
                       "would write the same files. Stop it first, or restore with "
                       "--while-running",
                       p->proc->pid);
    return 0;
}

/* ---- restore side: restore core ------------------------------------------------------- */

struct prctl_mm_map {
    uint64_t start_code, end_code, start_data, end_data, start_brk, brk, start_stack;
    uint64_t arg_start, arg_end, env_start, env_end;
    uint64_t *auxv;
    uint32_t auxv_size;
    uint32_t exe_fd;
};

uint32_t process_restore_mm(const struct restore_plan *p)
{
    const struct ckpt_process_record *r = p->proc;
    struct prctl_mm_map m = {
        r->start_code, r->end_code,         r->start_data,     r->end_data,        r->start_brk,
        r->brk,        r->start_stack,      r->arg_start,      r->arg_end,         r->env_start,
        r->env_end,    (uint64_t *)r->auxv, r->auxv_words * 8, (uint32_t)p->exe_fd};
    /* Setting /proc/PID/exe needs CAP_CHECKPOINT_RESTORE; the rest needs no privilege. */
    long rc = p->exe_fd >= 0
                  ? sys_prctl(CK_PR_SET_MM, CK_PR_SET_MM_MAP, (unsigned long)&m, sizeof m, 0)
                  : -EPERM;
    if (rc == 0)
        return 0;
    m.exe_fd = (uint32_t)-1;
    rc = sys_prctl(CK_PR_SET_MM, CK_PR_SET_MM_MAP, (unsigned long)&m, sizeof m, 0);
    if (rc < 0)
        core_die(p, "restoring the memory layout (prctl PR_SET_MM_MAP): %s", ck_strerror((int)-rc));
    return CKPT_RESTORE_WARN_EXE;
}

void process_restore_rest(const struct restore_plan *p)
{
    const struct ckpt_process_record *r = p->proc;
    /* As phase 1 found it (process_check): a symbolic link planted since is not followed. */
    long dir = identity_open_path(r->cwd);
    long rc = dir < 0 ? dir : sys_fchdir((int)dir);
    if (dir >= 0)
        sys_close((int)dir);
    if (rc < 0)
        core_die(p, "changing to %s: %s", r->cwd, ck_strerror((int)-rc));
    sys_umask((int)r->umask); /* the name is per thread: thread_restore_self */
    for (int i = 0; i < CKPT_NRLIMITS; i++) {
        struct ckpt_rlimit want = r->rlimits[i], now;
        if (sys_prlimit(0, i, &want, 0) == 0 || sys_prlimit(0, i, 0, &now) < 0)
            continue;
        /* Without privilege a hard limit cannot be raised: keep ours, lower the soft one. */
        want.max = now.max;
        if (want.cur > want.max)
            want.cur = want.max;
        sys_prlimit(0, i, &want, 0);
    }
    for (int i = 0; i < 3; i++) {
        const struct ckpt_itimer *t = &r->itimers[i];
        int64_t v[4] = {t->interval_sec, t->interval_usec, t->value_sec, t->value_usec};
        sys_setitimer(i, v, 0);
    }
}

/* ---- the validator's checks of PROCESS records (image_check.h) --------------------------- */

int check_process(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                  struct ck_error *err)
{
    (void)w;
    const struct ckpt_process_record *p = (const void *)r;
    if (v->proc)
        return ck_fail(err, -1, "image has two process records");
    if (p->auxv_words > CKPT_AUXV_WORDS || p->auxv_words % 2)
        return ck_fail(err, -1, "bad auxv length %u", p->auxv_words);
    if (p->cwd[sizeof p->cwd - 1] || p->exe[sizeof p->exe - 1] || p->comm[sizeof p->comm - 1] ||
        p->boot_id[sizeof p->boot_id - 1])
        return ck_fail(err, -1, "unterminated string in process record");
    if (p->checkpoint_signal < 1 || p->checkpoint_signal > CKPT_NSIG)
        return ck_fail(err, -1, "bad checkpoint signal %u", p->checkpoint_signal);
    v->proc = p;
    return 0;
}

/* The image holds its process record. */
int complete_process(const struct image_view *v, const struct image_walk *w,
                     const struct ckpt_record_head *next, struct ck_error *err)
{
    (void)w;
    if (next->kind == CKPT_REC_END && !v->proc)
        return ck_fail(err, -1, "image has no process record");
    return 0;
}
