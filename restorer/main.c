/* restore-run, phase 1: everything that can fail happens here, while libc is still there
 * and nothing has been changed.
 *
 *   1. map the image and validate it, once: structure, every checksum, addresses; read
 *      restore-run's own mappings, once (validate.c: own_mappings);
 *   2. choose a free address range (the "core area") that neither the image's regions nor
 *      restore-run itself occupy, and move the image mapping, and the view of it, there;
 *   3. build the restore plan in the area (plan_build, as `ckpt verify` does): open and
 *      identify every file (mapped or open), plan the vDSO; move all descriptors above
 *      the program's numbers;
 *   4. place the program's memory where it is free to (place.c): map regions at their
 *      addresses, read their pages in and verify every page checksum;
 *   5. copy the restore core (a position-independent blob) into the area, cut written
 *      files back to their size at checkpoint, block signals, drop glibc's rseq
 *      registration — and jump. From there on, core/core.c runs without libc. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ckpt/protocol.h"
#include "fds.h"
#include "memory.h"
#include "place.h"
#include "plan.h"
#include "process.h"
#include "thread.h"
#include "validate.h"

extern const unsigned char ckpt_core_blob[], ckpt_core_blob_end[];
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));

#define CORE_STACK_SIZE (256UL << 10)
/* Each thread after the leader restores itself on a stack of its own: thread_restore_self
 * and an error message need a few KiB. */
#define THREAD_CORE_STACK_SIZE (32UL << 10)
#define CORE_SCRATCH_MIN (1UL << 20)
#define MAPS_LINE_MAX 128 /* a line of /proc/PID/maps without its path: addresses to inode */

static const char *image_arg = "?";
/* --lazy: the core maps stored pages from the image; their checksums are not read */
static int lazy;
/* --while-running: restore even if the checkpointed process runs */
static int while_running;
/* --cut-appended: inherited O_APPEND files are cut back too (files.c plan_shared_output) */
static int cut_appended;
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

#define USAGE_LINE "Usage: restore-run [--lazy] [--cut-appended] [--while-running] [--] IMAGE\n"

static void usage(FILE *out)
{
    fprintf(out, USAGE_LINE
            "Restores a process checkpointed under checkpoint-run and continues it.\n"
            "The restored program replaces restore-run (same pid).\n"
            "  --lazy  map the saved memory from IMAGE instead of reading it: the program\n"
            "          runs again at once and reads its pages as it touches them. The\n"
            "          checksums of header, metadata and stored file contents are\n"
            "          checked, those of the page data are NOT. IMAGE must not be\n"
            "          changed or truncated in place while the program lives (a later\n"
            "          checkpoint replacing it is safe).\n"
            "  --cut-appended  also cut files the program inherited open for appending\n"
            "          (>>) back to their size at checkpoint, as files it opened itself\n"
            "          are: only when nobody else writes them.\n"
            "  --while-running  restore even though the checkpointed process still runs\n"
            "          (refused otherwise): both copies then run, and write the same\n"
            "          files.\n");
}

/* ---- 1. the image, 2. address space: validate.c ------------------------------------- */

/* The core area, in order: blob, plan, scratch, guard, stack, the other threads' stacks,
 * parking, image. */
struct area_layout {
    uint64_t blob, plan, scratch, scratch_len, stack_top, thread_stacks, parking, image, total;
};

/* The core reads /proc/self/maps into its scratch with the program's regions placed: room
 * for a line per region, and as much again for restore-run's own mappings. */
static uint64_t core_scratch_len(const struct image_view *v)
{
    uint64_t len = CORE_SCRATCH_MIN;
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r))
        if (r->kind == CKPT_REC_REGION)
            len += MAPS_LINE_MAX + ((const struct ckpt_region_record *)r)->path_len;
    return CK_PAGE_UP(len);
}

static struct area_layout lay_out_area(const struct image_view *v, uint64_t image_size)
{
    struct area_layout l;
    uint64_t blob_len = CK_PAGE_UP(ckpt_core_blob_end - ckpt_core_blob);
    uint64_t plan_len = CK_PAGE_UP(plan_size(v));
    l.blob = 0;
    l.plan = l.blob + blob_len;
    l.scratch = l.plan + plan_len;
    l.scratch_len = core_scratch_len(v);
    l.stack_top = l.scratch + l.scratch_len + CK_PAGE + CORE_STACK_SIZE;
    l.thread_stacks = l.stack_top;
    l.parking = l.thread_stacks + (uint64_t)(v->nthreads - 1) * THREAD_CORE_STACK_SIZE;
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

/* The plan, in the area, over the image at its place there (view, already moved): the
 * core reads both after restore-run is gone. */
static struct restore_plan *build_plan(uint64_t area, const struct area_layout *l,
                                       const struct image_view *view,
                                       const struct own_mappings *own)
{
    struct ck_error err;
    struct restore_plan *p = (struct restore_plan *)(area + l->plan);
    struct plan_setting s = {.view = view,
                             .image_len = l->total - l->image,
                             .area_start = area,
                             .area_len = l->total,
                             .own = own,
                             .startup_fds = startup_fds,
                             .image_path = image_arg,
                             .allow_running = while_running,
                             .cut_appended = cut_appended};
    if (plan_build(p, &s, &err))
        fail(&err);
    p->scratch = (char *)(area + l->scratch);
    p->scratch_len = l->scratch_len;
    p->vdso.parking = area + l->parking;
    /* Thread i (1..n-1) has the i-th stack above thread_stacks, up to the parking. */
    thread_plan_stacks(p, area + l->thread_stacks, THREAD_CORE_STACK_SIZE);
    return p;
}

/* One restore of an image at a time: the lock (on the image's open file, which the image
 * mapping keeps until the restore core's last step) is taken before anything is checked
 * or changed, and held until the restored program has its locks back — and, after --lazy,
 * as long as the program maps its pages from the image. */
static void lock_image(int fd)
{
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return;
    if (errno == EWOULDBLOCK)
        failf("refused: another restore-run is restoring this image right now, or a program "
              "restored from it with --lazy still runs (nothing was changed)");
    failf("locking the image: %s", strerror(errno));
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

/* The program's descriptors go to their numbers, so everything restore-run holds moves
 * above them. Regions of one file share their owner's descriptor. */
static void move_descriptors_high(struct restore_plan *p)
{
    int top = 2;
    for (uint32_t i = 0; i < p->nfds; i++)
        top = p->fds[i].rec->fd > top ? p->fds[i].rec->fd : top;
    int floor = top + 1;
    for (uint32_t i = 0; i < p->nfds; i++)
        p->fds[i].temp_fd = move_high(p->fds[i].temp_fd, floor);
    for (uint32_t i = 0; i < p->nmemfiles; i++)
        p->memfile_fd[i] = move_high(p->memfile_fd[i], floor);
    for (uint32_t i = 0; i < p->nregions; i++) {
        struct region_plan *rp = &p->regions[i];
        rp->map_fd = rp->memfile         ? p->memfile_fd[rp->memfile - 1]
                     : rp->fd_owner == i ? move_high(rp->map_fd, floor)
                                         : p->regions[rp->fd_owner].map_fd;
    }
    p->exe_fd = move_high(p->exe_fd, floor);
    p->image_fd = move_high(p->image_fd, floor);
    for (uint32_t i = 0; i < p->nparents; i++)
        p->parent_fds[i] = move_high(p->parent_fds[i], floor);
    p->err_fd = fcntl(2, F_DUPFD_CLOEXEC, floor);
}

/* At its peak restore-run holds its own memory, the core area (into which the image moves)
 * and the program's regions it places: all within RLIMIT_AS. */
static void check_address_space(const struct image_view *v, uint64_t area_len, uint64_t image_len)
{
    struct ck_error err;
    uint64_t program = image_memory_bytes(v);
    uint64_t beyond_image = program > image_len ? program - image_len : 0;
    if (validate_address_space(validate_own_address_space() + area_len + beyond_image,
                               "for the program's memory, the image and restore-run itself", &err))
        fail(&err);
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

static void __attribute__((noreturn)) usage_error(const char *what, const char *why)
{
    fprintf(stderr, "restore-run: %s: %s\n" USAGE_LINE, what, why);
    exit(2);
}

/* CKPT_TEST_STOP_BEFORE_RESTORE=1: every check has passed and nothing has been changed yet
 * (files_commit is the first change); say so and exit 0 instead of restoring. The tests
 * check with it that what `ckpt verify` accepts, restore-run takes to its point of no return.
 * It can only make restore-run stop, never change what a restore does. */
static void stop_here_if_testing(void)
{
    const char *stop = getenv(CKPT_ENV_TEST_STOP_BEFORE_RESTORE);
    if (!stop || strcmp(stop, "1"))
        return;
    printf("restore-run: %s: every check passed; stopped before the point of no return "
           "(CKPT_TEST_STOP_BEFORE_RESTORE)\n",
           image_arg);
    exit(fflush(stdout) ? 1 : 0);
}

static const char *parse_args(int argc, char **argv)
{
    const char *image = NULL;
    int options_end = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (options_end || arg[0] != '-' || !arg[1]) {
            if (image)
                usage_error(arg, "unexpected argument (one IMAGE only)");
            image = arg;
        } else if (!strcmp(arg, "--")) {
            options_end = 1;
        } else if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(arg, "--version")) {
            printf("restore-run (ckpt) %s\n", CKPT_VERSION);
            exit(0);
        } else if (!strcmp(arg, "--lazy")) {
            lazy = 1;
        } else if (!strcmp(arg, "--while-running")) {
            while_running = 1;
        } else if (!strcmp(arg, "--cut-appended")) {
            cut_appended = 1;
        } else {
            usage_error(arg, "unknown option");
        }
    }
    if (!image)
        usage_error("IMAGE", "missing");
    return image;
}

/* The image mapping moves into the core area, and the view of it with it: validated once,
 * before the move. */
static void move_image(struct image_file *img, struct image_view *view, uint64_t to)
{
    if (mremap(img->base, img->size, img->size, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)to) ==
        MAP_FAILED)
        failf("moving the image: %s", strerror(errno));
    img->base = (void *)to;
    image_view_rebase(view, img->base);
}

int main(int argc, char **argv)
{
    note_startup_descriptors();
    image_arg = parse_args(argc, argv);
    validate_raise_soft_limits();
    struct image_file img;
    struct image_view view;
    struct own_mappings own;
    struct ck_error err;
    /* Page checksums are verified as the pages are placed (place.c), not here. */
    if (validate_own_rights(&err) || validate_image_file(image_arg, 0, &img, &view, &err))
        fail(&err);
    lock_image(img.fd);
    if (lazy && view.ncompressed)
        failf("--lazy maps the saved memory from the image, and this image's memory is "
              "compressed (checkpoint-run --compress): restore it without --lazy (nothing was "
              "changed)");
    if (image_expand(&img, &view, &err))
        fail(&err);
    if (own_mappings_read(&own, &err))
        fail(&err);

    struct address_map taken = {0};
    address_map_occupy_regions(&taken, &view);
    for (size_t i = 0; i < own.all.n; i++)
        address_map_occupy(&taken, own.all.v[i].start, own.all.v[i].end);
    struct area_layout l = lay_out_area(&view, img.size);
    check_address_space(&view, l.total, CK_PAGE_UP(img.size));
    uint64_t area = address_map_find_gap(&taken, l.total);
    if (!area || mmap((void *)area, l.total, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1,
                      0) != (void *)area)
        failf("no free address range of %lu bytes for the restore core", (unsigned long)l.total);
    move_image(&img, &view, area + l.image);
    map_fixed(area + l.plan, l.parking - l.plan, PROT_READ | PROT_WRITE, "plan and stack");
    map_fixed(area + l.scratch + l.scratch_len, CK_PAGE, PROT_NONE, "stack guard");

    struct restore_plan *p = build_plan(area, &l, &view, &own);
    p->image_fd = lazy ? img.fd : -1;
    move_descriptors_high(p);
    /* The image file of an expanded image holds the lock: kept open above the program's
     * numbers until the core closes restore-run's descriptors. */
    img.source_fd = move_high(img.source_fd, p->err_fd + 1);
    if (image_verify_file_data(&p->view, &err) || (!lazy && place_memory(p, img.fd, &own, &err)))
        fail(&err);
    if (!lazy)
        close(img.fd);

    map_fixed(area + l.blob, l.plan - l.blob, PROT_READ | PROT_WRITE, "code");
    memcpy((void *)(area + l.blob), ckpt_core_blob, (size_t)(ckpt_core_blob_end - ckpt_core_blob));
    if (mprotect((void *)(area + l.blob), l.plan - l.blob, PROT_READ | PROT_EXEC) < 0)
        failf("protecting the restore core: %s", strerror(errno));
    stop_here_if_testing();
    if (files_commit(p, &err))
        fail(&err);
    fflush(NULL);
    jump_to_core(p, area, &l);
}
