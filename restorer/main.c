/* restore-run, phase 1: everything that can fail happens here, while libc is still there
 * and nothing has been changed.
 *
 *   1. map the image and validate it: structure, every checksum, addresses;
 *   2. choose a free address range (the "core area") that neither the image's regions nor
 *      restore-run itself occupy, and move the image mapping into it;
 *   3. build the restore plan in the area: open and identify every file (mapped or open),
 *      plan the vDSO, move all descriptors above the program's numbers;
 *   4. copy the restore core (a position-independent blob) into the area, cut written
 *      files back to their size at checkpoint, block signals, drop glibc's rseq
 *      registration — and jump. From there on, core.c runs without libc. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "files.h"
#include "maps.h"
#include "memory.h"
#include "plan.h"
#include "process.h"
#include "vdso_elf.h"

extern const unsigned char ckpt_core_blob[], ckpt_core_blob_end[];
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));

#define CORE_STACK_SIZE (256UL << 10)
#define CORE_SCRATCH_SIZE (1UL << 20)
#define GAP_SEARCH_FROM 0x100000000ULL  /* above the 4 GiB that non-PIE programs use */
#define GAP_SEARCH_TO 0x7ff000000000ULL /* below the stack and the top of user space */

static const char *image_arg = "?";
static uint8_t startup_fds[128];

/* Which descriptors restore-run was given: inherited pipes, sockets and terminals of the
 * program are taken from these. */
static void note_startup_descriptors(void)
{
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            startup_fds[fd / 8] |= (uint8_t)(1u << (fd % 8));
}

static void __attribute__((noreturn)) fail(const struct ck_error *err)
{
    fprintf(stderr, "restore-run: %s: %s\n", image_arg, err->msg);
    exit(1);
}

static void __attribute__((noreturn, format(printf, 1, 2))) failf(const char *fmt, ...)
{
    struct ck_error err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.msg, sizeof err.msg, fmt, ap);
    va_end(ap);
    fail(&err);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: restore-run [--] IMAGE\n"
                 "Restores a process checkpointed under checkpoint-run and continues it.\n"
                 "The restored program replaces restore-run (same pid).\n");
}

/* ---- 1. the image ------------------------------------------------------------------ */

struct mapped_image {
    int fd;
    void *base;
    uint64_t size;
};

static void map_image(const char *path, struct mapped_image *m)
{
    m->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (m->fd < 0)
        failf("cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(m->fd, &st) < 0 || !S_ISREG(st.st_mode))
        failf("not a regular file");
    m->size = (uint64_t)st.st_size;
    if (m->size < CKPT_HEADER_SIZE)
        failf("truncated image: %lu bytes, not even a header", (unsigned long)m->size);
    m->base = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, m->fd, 0);
    if (m->base == MAP_FAILED)
        failf("cannot map: %s", strerror(errno));
}

/* Is [addr, addr+len) inside one region of the image with at least prot? */
static int inside_region(const struct image_view *v, uint64_t addr, uint64_t len, uint32_t prot)
{
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        const struct ckpt_region_record *g = (const void *)r;
        if (r->kind == CKPT_REC_REGION && addr >= g->start && len <= g->end - addr &&
            (g->prot & prot) == prot)
            return 1;
    }
    return 0;
}

/* The addresses the core will write to or jump to must be the program's own memory. */
static void check_addresses(const struct image_view *v)
{
    const struct ckpt_process_record *p = v->proc;
    const uint32_t rw = CKPT_PROT_READ | CKPT_PROT_WRITE;
    if (!inside_region(v, p->context.rip, 1, CKPT_PROT_EXEC) ||
        !inside_region(v, p->context.rsp - 8, 8, rw))
        failf("the saved context points outside the saved memory");
    if (!inside_region(v, p->restore_info_addr, sizeof(struct ckpt_restore_info), rw))
        failf("the restore record points outside the saved memory");
    if ((p->tid_addr && !inside_region(v, p->tid_addr, 4, rw)) ||
        (p->rseq_addr && !inside_region(v, p->rseq_addr, p->rseq_len, rw)) ||
        !inside_region(v, p->fs_base, 8, CKPT_PROT_READ))
        failf("thread data points outside the saved memory");
}

/* ---- 2. address space ---------------------------------------------------------------- */

struct interval {
    uint64_t start, end;
};

struct address_map {
    struct interval *v;
    size_t n, cap;
};

static void occupy(struct address_map *m, uint64_t start, uint64_t end)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 256;
        m->v = realloc(m->v, m->cap * sizeof *m->v);
        if (!m->v)
            failf("out of memory");
    }
    m->v[m->n++] = (struct interval){start, end};
}

static int by_start(const void *a, const void *b)
{
    const struct interval *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Lowest free range of len bytes (with a guard page on each side) in the search window. */
static uint64_t find_gap(struct address_map *m, uint64_t len)
{
    qsort(m->v, m->n, sizeof *m->v, by_start);
    uint64_t candidate = GAP_SEARCH_FROM;
    for (size_t i = 0; i <= m->n; i++) {
        uint64_t next = i < m->n ? m->v[i].start : GAP_SEARCH_TO;
        if (next > candidate + CK_PAGE && next - candidate - CK_PAGE >= len + CK_PAGE)
            return candidate + CK_PAGE;
        if (i < m->n && m->v[i].end > candidate)
            candidate = m->v[i].end;
    }
    return 0;
}

static void occupy_image_regions(struct address_map *m, const struct image_view *v)
{
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r))
        if (r->kind == CKPT_REC_REGION) {
            const struct ckpt_region_record *g = (const void *)r;
            occupy(m, g->start, g->end);
        }
}

static void occupy_own_mappings(struct address_map *m)
{
    static char buf[1 << 20];
    struct ck_error err;
    long n = ck_read_file("/proc/self/maps", buf, sizeof buf);
    if (n < 0)
        failf("reading /proc/self/maps: %s", strerror((int)-n));
    char *cursor = buf;
    struct map_entry e;
    while (maps_next(&cursor, &e) > 0)
        occupy(m, e.start, e.end);
    (void)err;
}

static uint64_t find_gap_for_vdso(uint64_t len, void *ctx)
{
    return find_gap(ctx, len);
}

/* The core area, in order: blob, plan, scratch, guard, stack, parking, image. */
struct area_layout {
    uint64_t blob, plan, scratch, stack_top, parking, image, total;
};

static struct area_layout lay_out_area(const struct image_view *v, uint64_t image_size)
{
    struct area_layout l;
    uint64_t blob_len = CK_PAGE_UP(ckpt_core_blob_end - ckpt_core_blob);
    uint64_t plan_len =
        CK_PAGE_UP(sizeof(struct restore_plan) + v->nregions * sizeof(struct region_plan) +
                   v->nfds * sizeof(struct fd_plan));
    l.blob = 0;
    l.plan = l.blob + blob_len;
    l.scratch = l.plan + plan_len;
    l.stack_top = l.scratch + CORE_SCRATCH_SIZE + CK_PAGE + CORE_STACK_SIZE;
    l.parking = l.stack_top;
    l.image = l.parking + (64UL << 10); /* room for [vvar], [vvar_vclock], [vdso] */
    l.total = l.image + CK_PAGE_UP(image_size);
    return l;
}

static void map_fixed(uint64_t at, uint64_t len, int prot, const char *what)
{
    void *p = mmap((void *)at, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED)
        failf("mapping the restore core's %s: %s", what, strerror(errno));
}

/* ---- 3. the plan ---------------------------------------------------------------------- */

static void fill_plan(struct restore_plan *p, uint64_t area, const struct area_layout *l,
                      uint64_t image_size)
{
    struct ck_error err;
    memset(p, 0, sizeof *p);
    p->area_start = area;
    p->area_len = l->total;
    p->image_start = area + l->image;
    p->image_len = CK_PAGE_UP(image_size);
    if (image_open_view(&p->view, (const void *)p->image_start, image_size, &err))
        fail(&err);
    p->proc = p->view.proc;
    p->regions = (struct region_plan *)(p + 1);
    p->fds = (struct fd_plan *)(p->regions + p->view.nregions);
    p->scratch = (char *)(area + l->scratch);
    p->scratch_len = CORE_SCRATCH_SIZE;
    p->vdso.parking = area + l->parking;
    p->exe_fd = -1;
    memcpy(p->startup_fds, startup_fds, sizeof startup_fds);
    snprintf(p->image_path, sizeof p->image_path, "%s", image_arg);
    for (const struct ckpt_record_head *r = image_first(&p->view); r; r = image_next(&p->view, r)) {
        if (r->kind == CKPT_REC_REGION) {
            struct region_plan *rp = &p->regions[p->nregions++];
            rp->rec = (const void *)r;
            rp->map_fd = -1;
            const struct ckpt_record_head *next = image_next(&p->view, r);
            rp->first_run = rp->rec->nruns ? next : NULL;
        } else if (r->kind == CKPT_REC_FD) {
            p->fds[p->nfds++] = (struct fd_plan){(const void *)r, -1, 0, NULL, 0, NULL, 0, NULL};
        } else if (r->kind == CKPT_REC_FILE_DATA && p->nfds > 0) {
            p->fds[p->nfds - 1].data = (const void *)r; /* validated: follows its FD record */
        } else if (r->kind == CKPT_REC_TERMINAL && p->nfds > 0) {
            p->fds[p->nfds - 1].terminal = (const void *)r; /* validated: follows it */
        } else if (r->kind == CKPT_REC_LOCK && p->nfds > 0) {
            struct fd_plan *fp = &p->fds[p->nfds - 1]; /* validated: consecutive, after it */
            if (!fp->nlocks++)
                fp->locks = (const void *)r;
        }
    }
}

/* Moves fd above every descriptor number the program uses. */
static int move_high(int fd, int floor)
{
    if (fd < 0)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, floor);
    if (moved < 0)
        failf("moving a descriptor out of the program's way: %s", strerror(errno));
    close(fd);
    return moved;
}

static void move_descriptors_high(struct restore_plan *p)
{
    int top = 2;
    for (uint32_t i = 0; i < p->nfds; i++)
        top = p->fds[i].rec->fd > top ? p->fds[i].rec->fd : top;
    int floor = top + 1;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t need = (rlim_t)floor + p->nfds + p->nregions + 8;
    if (rl.rlim_cur < need) {
        if (rl.rlim_max < need)
            failf("the program used descriptor %d; RLIMIT_NOFILE allows only %lu", top,
                  (unsigned long)rl.rlim_max);
        rl.rlim_cur = need;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    for (uint32_t i = 0; i < p->nfds; i++)
        p->fds[i].temp_fd = move_high(p->fds[i].temp_fd, floor);
    for (uint32_t i = 0; i < p->nregions; i++)
        p->regions[i].map_fd = move_high(p->regions[i].map_fd, floor);
    p->exe_fd = move_high(p->exe_fd, floor);
    p->err_fd = fcntl(2, F_DUPFD_CLOEXEC, floor);
}

static void check_everything(struct restore_plan *p, struct address_map *taken)
{
    struct ck_error err;
    if (process_check(p, &err) || files_check(p, &err) || memory_check(p, &err))
        fail(&err);
    const char *force = getenv("CKPT_TEST_VDSO_PROXY");
    if (vdso_plan_build(p, force && *force == '1', find_gap_for_vdso, taken, &err))
        fail(&err);
    if (p->proc->exe[0])
        p->exe_fd = open(p->proc->exe, O_RDONLY | O_CLOEXEC);
}

/* ---- 4. the jump ---------------------------------------------------------------------- */

/* glibc registered an rseq area in restore-run's TLS; the kernel would keep writing to it
 * after the core has unmapped it. */
static void drop_own_rseq(void)
{
    if (!&__rseq_size || __rseq_size == 0)
        return;
    unsigned long tp;
    syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, &tp);
    void *area = (char *)tp + __rseq_offset;
    if (syscall(SYS_rseq, area, 32, 1 /* UNREGISTER */, 0x53053053) != 0 &&
        syscall(SYS_rseq, area, __rseq_size, 1, 0x53053053) != 0)
        failf("cannot unregister restore-run's own rseq area: %s", strerror(errno));
}

static void __attribute__((noreturn))
jump_to_core(struct restore_plan *p, uint64_t area, const struct area_layout *l)
{
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    drop_own_rseq();
    void (*entry)(struct restore_plan *, void *) = (void *)(area + l->blob);
    entry(p, (void *)(area + l->stack_top));
    __builtin_unreachable();
}

static const char *parse_args(int argc, char **argv)
{
    int i = 1;
    if (i < argc && !strcmp(argv[i], "--help")) {
        usage(stdout);
        exit(0);
    }
    if (i < argc && !strcmp(argv[i], "--version")) {
        printf("restore-run (ckpt) %s\n", CKPT_VERSION);
        exit(0);
    }
    if (i < argc && !strcmp(argv[i], "--"))
        i++;
    else if (i < argc && argv[i][0] == '-' && argv[i][1]) {
        fprintf(stderr, "restore-run: unknown option %s\n", argv[i]);
        usage(stderr);
        exit(2);
    }
    if (argc - i != 1) {
        usage(stderr);
        exit(2);
    }
    return argv[i];
}

int main(int argc, char **argv)
{
    note_startup_descriptors();
    image_arg = parse_args(argc, argv);
    struct mapped_image img;
    struct image_view view;
    struct ck_error err;
    map_image(image_arg, &img);
    if (image_open_view(&view, img.base, img.size, &err) || image_verify_data(&view, &err))
        fail(&err);
    check_addresses(&view);

    struct address_map taken = {0};
    occupy_image_regions(&taken, &view);
    occupy_own_mappings(&taken);
    struct area_layout l = lay_out_area(&view, img.size);
    uint64_t area = find_gap(&taken, l.total);
    if (!area || mmap((void *)area, l.total, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1,
                      0) != (void *)area)
        failf("no free address range of %lu bytes for the restore core", (unsigned long)l.total);
    if (mremap(img.base, img.size, img.size, MREMAP_MAYMOVE | MREMAP_FIXED,
               (void *)(area + l.image)) == MAP_FAILED)
        failf("moving the image: %s", strerror(errno));
    close(img.fd);
    map_fixed(area + l.plan, l.parking - l.plan, PROT_READ | PROT_WRITE, "plan and stack");
    map_fixed(area + l.scratch + CORE_SCRATCH_SIZE, CK_PAGE, PROT_NONE, "stack guard");

    struct restore_plan *p = (struct restore_plan *)(area + l.plan);
    fill_plan(p, area, &l, img.size);
    /* The proxy vDSO must avoid the image's regions and the core area; restore-run's own
     * mappings will be gone by then. */
    struct address_map for_vdso = {0};
    occupy_image_regions(&for_vdso, &p->view);
    occupy(&for_vdso, area, area + l.total);
    check_everything(p, &for_vdso);
    move_descriptors_high(p);

    map_fixed(area + l.blob, l.plan - l.blob, PROT_READ | PROT_WRITE, "code");
    memcpy((void *)(area + l.blob), ckpt_core_blob, (size_t)(ckpt_core_blob_end - ckpt_core_blob));
    if (mprotect((void *)(area + l.blob), l.plan - l.blob, PROT_READ | PROT_EXEC) < 0)
        failf("protecting the restore core: %s", strerror(errno));
    if (files_commit(p, &err))
        fail(&err);
    fflush(NULL);
    jump_to_core(p, area, &l);
}
