/* ckpt check [--json]: can this machine checkpoint and restore? Each feature ckpt relies on
 * is probed for real — the system call is made, the file is read — never inferred from the
 * kernel's version, since distributions configure kernels differently and seccomp filters
 * (containers) refuse calls the kernel has. One line per feature:
 *
 *     KEY  ok (detail)
 *     KEY  missing (needed): why
 *     KEY  missing (optional: what is lost): why
 *
 * Exit status: 0 when every needed feature is there, 1 when one is missing, 2 for a usage
 * error. The needed list covers the calls in state/, restorer/ and preload/ that a kernel
 * configuration, an old kernel or a filter can take away (read, mmap and the like are not
 * listed: nothing runs without them). */
#define _GNU_SOURCE
#include "ckpt_tool.h"
#include "maps.h"
#include "memory.h"
#include "vdso_elf.h"

#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <linux/prctl.h> /* struct prctl_mm_map, as state/process.c passes it */
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

/* Debian 12's headers predate these. */
#define CHECK_PR_SET_MM 35
#define CHECK_PR_SET_MM_MAP_SIZE 15
#define CHECK_KCMP_FILE 0
#define CHECK_UFFD_USER_MODE_ONLY 1
#define CHECK_UFFD_FEATURE_WP_ASYNC (1ULL << 15)
#define CHECK_UFFD_FEATURE_WP_UNPOPULATED (1ULL << 13)
#define CHECK_CAP_CHECKPOINT_RESTORE 40
#define CHECK_PAGEMAP_PRESENT (1ULL << 63)
#define CHECK_PAGEMAP_SOFT_DIRTY (1ULL << 55)

enum need {
    NEEDED,   /* ckpt cannot checkpoint or restore without it */
    OPTIONAL, /* ckpt works without it, losing `lost` */
    INFO,     /* a fact about the machine; never missing */
};

/* A probe returns 1 when the feature works, 0 when it does not; detail says what it found
 * or why it failed. */
typedef int (*probe_fn)(char *detail, size_t cap);

struct feature {
    const char *key;
    enum need need;
    const char *lost; /* for OPTIONAL: what a missing feature costs */
    probe_fn probe;
};

struct result {
    int ok;
    char detail[256];
};

static int say(char *detail, size_t cap, int ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int say(char *detail, size_t cap, int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, cap, fmt, ap);
    va_end(ap);
    return ok;
}

/* ---- facts ----------------------------------------------------------------------------- */

static int probe_kernel(char *detail, size_t cap)
{
    struct utsname u;
    if (uname(&u) != 0)
        return say(detail, cap, 1, "unknown (uname: %s)", strerror(errno));
    return say(detail, cap, 1, "%s %s %s", u.sysname, u.release, u.machine);
}

static int probe_glibc(char *detail, size_t cap)
{
    return say(detail, cap, 1, "%s", gnu_get_libc_version());
}

/* The effective capability set from /proc/self/status (CapEff), or 0 if unreadable. */
static unsigned long long effective_capabilities(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    unsigned long long caps = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "CapEff: %llx", &caps) == 1)
            break;
    if (f)
        fclose(f);
    return caps;
}

static int probe_privileges(char *detail, size_t cap)
{
    uid_t uid = geteuid();
    if (uid == 0)
        return say(detail, cap, 1, "root");
    return say(detail, cap, 1, "unprivileged (uid %u): ckpt needs no privilege", (unsigned)uid);
}

static int probe_cap_checkpoint_restore(char *detail, size_t cap)
{
    if (effective_capabilities() & (1ULL << CHECK_CAP_CHECKPOINT_RESTORE))
        return say(detail, cap, 1, "in the effective set");
    return say(detail, cap, 0, "not in the effective set (CapEff of /proc/self/status)");
}

static int probe_ptrace_scope(char *detail, size_t cap)
{
    FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
    int scope = -1;
    if (f) {
        if (fscanf(f, "%d", &scope) != 1)
            scope = -1;
        fclose(f);
    }
    /* Yama restricts attaching only; ckpt never attaches, and reading /proc/PID/environ
     * (ckpt checkpoint) is a read-mode check Yama leaves alone. */
    if (scope < 0)
        return say(detail, cap, 1, "no Yama (ckpt does not use ptrace)");
    return say(detail, cap, 1, "Yama ptrace_scope %d (ckpt does not use ptrace)", scope);
}

static int probe_seccomp(char *detail, size_t cap)
{
    FILE *f = fopen("/proc/self/status", "re");
    int mode = -1;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Seccomp: %d", &mode) == 1)
            break;
    if (f)
        fclose(f);
    if (mode == 2)
        return say(detail, cap, 1, "a filter is active: the probes see what it lets through");
    return say(detail, cap, 1, mode == 0 ? "no filter" : "unknown");
}

/* ---- /proc and memory ------------------------------------------------------------------ */

static int probe_proc_maps(char *detail, size_t cap)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return say(detail, cap, 0, "/proc/self/maps: %s (is /proc mounted?)", strerror(errno));
    fclose(f);
    return say(detail, cap, 1, "/proc/self/maps");
}

/* A private page that is surely present: written just now. */
static volatile unsigned char *touched_page(void)
{
    static volatile unsigned char *page;
    if (!page) {
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        page = p == MAP_FAILED ? NULL : p;
    }
    if (page)
        page[0] = 1;
    return page;
}

/* The pagemap entry of addr, or 0 with errno set. */
static uint64_t pagemap_entry(const volatile void *addr)
{
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    uint64_t entry = 0;
    off_t at = (off_t)((uintptr_t)addr / 4096 * 8);
    if (pread(fd, &entry, sizeof entry, at) != (ssize_t)sizeof entry && errno == 0)
        errno = EIO;
    close(fd);
    return entry;
}

static int probe_pagemap(char *detail, size_t cap)
{
    volatile unsigned char *page = touched_page();
    errno = 0;
    uint64_t entry = page ? pagemap_entry(page) : 0;
    if (!(entry & CHECK_PAGEMAP_PRESENT))
        return say(detail, cap, 0, "/proc/self/pagemap: %s",
                   errno ? strerror(errno) : "a written page is not shown present");
    return say(detail, cap, 1, "/proc/self/pagemap");
}

static int probe_pagemap_scan(char *detail, size_t cap)
{
    volatile unsigned char *page = touched_page();
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (!page || fd < 0)
        return say(detail, cap, 0, "/proc/self/pagemap: %s", strerror(errno));
    struct page_region found[4];
    struct pm_scan_arg a = {.size = sizeof a,
                            .start = (uintptr_t)page,
                            .end = (uintptr_t)page + 4096,
                            .vec = (uintptr_t)found,
                            .vec_len = 4,
                            .category_anyof_mask = PAGE_IS_PRESENT};
    long n = ioctl(fd, PAGEMAP_SCAN, &a);
    int e = errno;
    close(fd);
    if (n < 0)
        return say(detail, cap, 0, "ioctl PAGEMAP_SCAN: %s", strerror(e));
    if (n != 1 || found[0].start != (uintptr_t)page)
        return say(detail, cap, 0, "PAGEMAP_SCAN did not report a written page");
    return say(detail, cap, 1, "ioctl PAGEMAP_SCAN");
}

/* Soft-dirty bits (CONFIG_MEM_SOFT_DIRTY): cleared through /proc/self/clear_refs, set again
 * by a write. */
static int probe_soft_dirty(char *detail, size_t cap)
{
    volatile unsigned char *page = touched_page();
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (!page || fd < 0)
        return say(detail, cap, 0, "/proc/self/clear_refs: %s", strerror(errno));
    ssize_t w = write(fd, "4", 1);
    int e = errno;
    close(fd);
    if (w != 1)
        return say(detail, cap, 0, "clearing soft-dirty bits: %s", strerror(e));
    uint64_t cleared = pagemap_entry(page);
    page[0] = 2;
    uint64_t written = pagemap_entry(page);
    if ((cleared & CHECK_PAGEMAP_SOFT_DIRTY) || !(written & CHECK_PAGEMAP_SOFT_DIRTY))
        return say(detail, cap, 0,
                   "a written page does not become soft-dirty (no CONFIG_MEM_SOFT_DIRTY?)");
    return say(detail, cap, 1, "pagemap bit 55");
}

/* MAP_FIXED_NOREPLACE (Linux 4.17): older kernels ignore the flag and map elsewhere, which
 * the restore would take for success, so both halves are checked. */
static int probe_map_fixed_noreplace(char *detail, size_t cap)
{
    char *taken = mmap(NULL, 2 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (taken == MAP_FAILED)
        return say(detail, cap, 0, "mmap: %s", strerror(errno));
    munmap(taken + 4096, 4096);
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;
    void *over = mmap(taken, 4096, PROT_READ, flags, -1, 0);
    int over_errno = errno;
    void *free_spot = mmap(taken + 4096, 4096, PROT_READ, flags, -1, 0);
    int free_errno = errno;
    int ok = over == MAP_FAILED && over_errno == EEXIST && free_spot == taken + 4096;
    if (over != MAP_FAILED && over != taken)
        munmap(over, 4096);
    if (free_spot != MAP_FAILED && free_spot != taken + 4096)
        munmap(free_spot, 4096);
    munmap(taken, 2 * 4096);
    if (ok)
        return say(detail, cap, 1, "refuses a taken address, maps at a free one");
    if (free_spot == MAP_FAILED)
        return say(detail, cap, 0, "mapping at a free address: %s", strerror(free_errno));
    return say(detail, cap, 0, "the flag is ignored: a taken address was %s",
               over == MAP_FAILED ? strerror(over_errno) : "not refused");
}

/* mremap(MREMAP_MAYMOVE | MREMAP_FIXED): how the restore moves the vDSO into place. */
static int probe_mremap_fixed(char *detail, size_t cap)
{
    char *area = mmap(NULL, 2 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        return say(detail, cap, 0, "mmap: %s", strerror(errno));
    void *moved = mremap(area, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, area + 4096);
    int e = errno;
    munmap(area, 2 * 4096);
    if (moved != area + 4096)
        return say(detail, cap, 0, "mremap MREMAP_FIXED: %s",
                   moved == MAP_FAILED ? strerror(e) : "moved elsewhere");
    return say(detail, cap, 1, "mremap MREMAP_FIXED");
}

/* ---- process state --------------------------------------------------------------------- */

static int probe_prctl_mm_map(char *detail, size_t cap)
{
    unsigned int size = 0;
    if (prctl(CHECK_PR_SET_MM, CHECK_PR_SET_MM_MAP_SIZE, &size, 0, 0) != 0) {
        int e = errno;
        return say(detail, cap, 0, "prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE): %s%s", strerror(e),
                   e == EINVAL ? " (kernel built without CONFIG_CHECKPOINT_RESTORE)" : "");
    }
    if (size != sizeof(struct prctl_mm_map))
        return say(detail, cap, 0, "struct prctl_mm_map is %u bytes here, ckpt passes %zu", size,
                   sizeof(struct prctl_mm_map));
    return say(detail, cap, 1, "PR_SET_MM_MAP_SIZE is %u", size);
}

/* kcmp(KCMP_FILE) tells descriptors sharing one open file description from copies opened
 * twice: a dup must compare equal, a second open must not. */
static int probe_kcmp(char *detail, size_t cap)
{
    int a = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    int b = a >= 0 ? fcntl(a, F_DUPFD_CLOEXEC, 0) : -1;
    int c = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (a < 0 || b < 0 || c < 0)
        return say(detail, cap, 0, "opening /proc/self/maps: %s", strerror(errno));
    pid_t pid = getpid();
    long same = syscall(SYS_kcmp, pid, pid, CHECK_KCMP_FILE, a, b);
    int e = errno;
    long other = syscall(SYS_kcmp, pid, pid, CHECK_KCMP_FILE, a, c);
    close(a), close(b), close(c);
    if (same < 0)
        return say(detail, cap, 0, "kcmp(KCMP_FILE): %s%s", strerror(e),
                   e == ENOSYS ? " (kernel built without CONFIG_KCMP)" : "");
    if (same != 0 || other == 0)
        return say(detail, cap, 0, "kcmp(KCMP_FILE) does not tell shared descriptions apart");
    return say(detail, cap, 1, "kcmp(KCMP_FILE)");
}

/* The kernel has rseq when a call with wrong arguments is refused as wrong (EINVAL, or
 * EBUSY) rather than unknown; glibc (2.35 and later) says in __rseq_size whether it
 * registered an area for this thread. */
static int probe_rseq(char *detail, size_t cap)
{
    long r = syscall(SYS_rseq, NULL, 0, 0, 0);
    int e = errno;
    if (r == 0 || (e != EINVAL && e != EBUSY))
        return say(detail, cap, 0, "rseq: %s", r == 0 ? "accepted an empty area" : strerror(e));
    if (__rseq_size == 0)
        return say(detail, cap, 1, "in the kernel; glibc did not register an area");
    return say(detail, cap, 1, "glibc registers a %u-byte area", __rseq_size);
}

static int probe_robust_list(char *detail, size_t cap)
{
    void *head = NULL;
    size_t len = 0;
    if (syscall(SYS_get_robust_list, 0, &head, &len) != 0)
        return say(detail, cap, 0, "get_robust_list: %s", strerror(errno));
    return say(detail, cap, 1, "get_robust_list, set_robust_list");
}

/* ckpt checkpoint queues the checkpoint signal with a token (rt_sigqueueinfo); signal 0
 * checks the call without delivering anything. */
static int probe_sigqueue(char *detail, size_t cap)
{
    if (sigqueue(getpid(), 0, (union sigval){0}) != 0)
        return say(detail, cap, 0, "rt_sigqueueinfo: %s", strerror(errno));
    return say(detail, cap, 1, "rt_sigqueueinfo");
}

/* The writer child: a fork made with a raw clone. */
static int probe_clone(char *detail, size_t cap)
{
    long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        _exit(0);
    if (pid < 0)
        return say(detail, cap, 0, "clone: %s", strerror(errno));
    int status;
    while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR)
        ;
    return say(detail, cap, 1, "clone");
}

/* clone3 with no arguments is refused as too small (EINVAL) where it exists. */
static int probe_clone3(char *detail, size_t cap)
{
    long r = syscall(SYS_clone3, NULL, 0);
    int e = errno;
    if (r >= 0 || e != EINVAL)
        return say(detail, cap, 0, "clone3: %s", r >= 0 ? "accepted no arguments" : strerror(e));
    return say(detail, cap, 1, "clone3");
}

static int probe_close_range(char *detail, size_t cap)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return say(detail, cap, 0, "opening /proc/self/maps: %s", strerror(errno));
    if (syscall(SYS_close_range, fd, fd, 0) != 0) {
        int e = errno;
        close(fd);
        return say(detail, cap, 0, "close_range: %s", strerror(e));
    }
    if (fcntl(fd, F_GETFD) >= 0) {
        close(fd);
        return say(detail, cap, 0, "close_range left the descriptor open");
    }
    return say(detail, cap, 1, "close_range");
}

/* userfaultfd write-protection without faults to handle (WP_ASYNC, Linux 6.7), also of pages
 * not yet populated (WP_UNPOPULATED): what checkpoint-run --incremental uses to find the pages
 * written since the last checkpoint (preload/track.c).
 * UFFD_USER_MODE_ONLY is what an unprivileged process may ask for. */
static int probe_userfaultfd_wp_async(char *detail, size_t cap)
{
    long fd = syscall(SYS_userfaultfd, O_CLOEXEC | CHECK_UFFD_USER_MODE_ONLY);
    if (fd < 0)
        return say(detail, cap, 0, "userfaultfd: %s", strerror(errno));
    struct uffdio_api api = {.api = UFFD_API};
    int r = ioctl((int)fd, UFFDIO_API, &api);
    int e = errno;
    close((int)fd);
    if (r != 0)
        return say(detail, cap, 0, "UFFDIO_API: %s", strerror(e));
    if (!(api.features & CHECK_UFFD_FEATURE_WP_ASYNC))
        return say(detail, cap, 0, "userfaultfd has no UFFD_FEATURE_WP_ASYNC");
    if (!(api.features & CHECK_UFFD_FEATURE_WP_UNPOPULATED))
        return say(detail, cap, 0, "userfaultfd has no UFFD_FEATURE_WP_UNPOPULATED");
    return say(detail, cap, 1, "userfaultfd with UFFD_FEATURE_WP_ASYNC and WP_UNPOPULATED");
}

/* ---- the vDSO -------------------------------------------------------------------------- */

static int probe_vdso(char *detail, size_t cap)
{
    static char maps[1 << 20];
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return say(detail, cap, 0, "/proc/self/maps: %s", strerror(errno));
    size_t n = fread(maps, 1, sizeof maps - 1, f);
    fclose(f);
    maps[n] = 0;
    static const char *const names[] = {"[vvar]", "[vvar_vclock]", "[vdso]"};
    uint64_t start[3] = {0}, len[3] = {0};
    char *cursor = maps;
    struct map_entry e;
    while (maps_next(&cursor, &e) > 0)
        for (int i = 0; i < 3; i++)
            if (!strcmp(e.path, names[i]))
                start[i] = e.start, len[i] = e.end - e.start;
    if (!len[2])
        return say(detail, cap, 0, "no [vdso] in /proc/self/maps");
    int64_t at =
        vdso_elf_function_offset((const void *)(uintptr_t)start[2], len[2], "__vdso_clock_gettime");
    if (at < 0)
        return say(detail, cap, 0, "libelf %s in the [vdso]",
                   at == -2 ? "cannot read the symbols" : "finds no __vdso_clock_gettime");
    return say(detail, cap, 1,
               "[vvar] %llu KiB, [vvar_vclock] %llu KiB, [vdso] %llu KiB; libelf "
               "reads its symbols",
               (unsigned long long)len[0] / 1024, (unsigned long long)len[1] / 1024,
               (unsigned long long)len[2] / 1024);
}

/* ---- the table ------------------------------------------------------------------------- */

static const struct feature features[] = {
    {"kernel", INFO, NULL, probe_kernel},
    {"glibc", INFO, NULL, probe_glibc},
    {"privileges", INFO, NULL, probe_privileges},
    {"seccomp", INFO, NULL, probe_seccomp},
    {"proc", NEEDED, NULL, probe_proc_maps},
    {"pagemap", NEEDED, NULL, probe_pagemap},
    {"pagemap_scan", OPTIONAL,
     "untouched parts of large reservations are read entry by entry, a second per 2 TiB",
     probe_pagemap_scan},
    {"prctl_mm_map", NEEDED, NULL, probe_prctl_mm_map},
    {"kcmp", NEEDED, NULL, probe_kcmp},
    {"rseq", OPTIONAL, "images of programs whose glibc registered rseq cannot be restored here",
     probe_rseq},
    {"robust_list", NEEDED, NULL, probe_robust_list},
    {"sigqueue", NEEDED, NULL, probe_sigqueue},
    {"clone", OPTIONAL, "the program stays stopped while its image is written", probe_clone},
    {"clone3", OPTIONAL, "nothing for ckpt (it uses clone); glibc falls back to clone",
     probe_clone3},
    {"close_range", NEEDED, NULL, probe_close_range},
    {"map_fixed_noreplace", NEEDED, NULL, probe_map_fixed_noreplace},
    {"mremap_fixed", NEEDED, NULL, probe_mremap_fixed},
    {"vdso", NEEDED, NULL, probe_vdso},
    {"userfaultfd_wp_async", OPTIONAL,
     "checkpoint-run --incremental takes full images (it also needs pagemap_scan)",
     probe_userfaultfd_wp_async},
    {"soft_dirty", OPTIONAL, "nothing: ckpt does not use it yet", probe_soft_dirty},
    {"cap_checkpoint_restore", OPTIONAL, "a restored process's /proc/PID/exe names restore-run",
     probe_cap_checkpoint_restore},
    {"ptrace_scope", INFO, NULL, probe_ptrace_scope},
};
#define NFEATURES (sizeof features / sizeof features[0])

static const char *status_text(const struct feature *f, const struct result *r)
{
    if (r->ok)
        return "ok";
    return f->need == NEEDED ? "missing (needed)" : "missing (optional)";
}

static void print_table(const struct result *results)
{
    for (size_t i = 0; i < NFEATURES; i++) {
        const struct feature *f = &features[i];
        const struct result *r = &results[i];
        if (r->ok)
            printf("%-24s ok (%s)\n", f->key, r->detail);
        else if (f->need == NEEDED)
            printf("%-24s missing (needed): %s\n", f->key, r->detail);
        else
            printf("%-24s missing (optional: %s): %s\n", f->key, f->lost, r->detail);
    }
}

/* {"ok": bool, "features": {KEY: {"status", "needed", "detail"[, "lost"]}}}: one member per
 * feature, every key always present. */
static void print_json(const struct result *results, int all_needed)
{
    struct json j = {0};
    json_open(&j, NULL, '{');
    json_bool(&j, "ok", all_needed);
    json_open(&j, "features", '{');
    for (size_t i = 0; i < NFEATURES; i++) {
        const struct feature *f = &features[i];
        json_open(&j, f->key, '{');
        json_str(&j, "status", status_text(f, &results[i]));
        json_bool(&j, "needed", f->need == NEEDED);
        json_str(&j, "detail", results[i].detail);
        if (!results[i].ok && f->lost)
            json_str(&j, "lost", f->lost);
        json_close(&j, '}');
    }
    json_close(&j, '}');
    json_close(&j, '}');
    putchar('\n');
}

int ckpt_check_command(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return ckpt_print_help("check");
        } else {
            return ckpt_usage_error("check", argv[i],
                                    argv[i][0] == '-' ? "unknown option" : "unexpected argument");
        }
    }
    struct result results[NFEATURES];
    char missing[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < NFEATURES; i++) {
        results[i].ok = features[i].probe(results[i].detail, sizeof results[i].detail);
        if (!results[i].ok && features[i].need == NEEDED && used < sizeof missing)
            used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%s",
                                     used ? ", " : "", features[i].key);
    }
    if (json)
        print_json(results, !missing[0]);
    else
        print_table(results);
    fflush(stdout);
    if (missing[0])
        return ckpt_fail("check", "this machine cannot checkpoint and restore: missing %s",
                         missing);
    return 0;
}
