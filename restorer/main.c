/* restore-run, phase 1: everything that can fail happens here, while libc is still there
 * and nothing has been changed.
 *
 *   1. map the image and validate it: structure, every checksum, addresses;
 *   2. choose a free address range (the "core area") that neither the image's regions nor
 *      restore-run itself occupy, and move the image mapping into it;
 *   3. build the restore plan in the area: open and identify every file (mapped or open),
 *      plan the vDSO, move all descriptors above the program's numbers;
 *   4. place the program's memory where it is free to (place.c): map regions at their
 *      addresses, read their pages in and verify every page checksum;
 *   5. copy the restore core (a position-independent blob) into the area, cut written
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
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "files.h"
#include "identity.h"
#include "maps.h"
#include "memory.h"
#include "place.h"
#include "plan.h"
#include "process.h"
#include "validate.h"

extern const unsigned char ckpt_core_blob[], ckpt_core_blob_end[];
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));

#define CORE_STACK_SIZE (256UL << 10)
#define CORE_SCRATCH_SIZE (1UL << 20)

static const char *image_arg = "?";
/* --lazy: the core maps stored pages from the image; their checksums are not read */
static int lazy;
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

static void usage(FILE *out)
{
    fprintf(out, "usage: restore-run [--lazy] [--cut-appended] [--] IMAGE\n"
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
                 "          are: only when nobody else writes them.\n");
}

/* ---- 1. the image, 2. address space: validate.c ------------------------------------- */

static void occupy_own_mappings(struct address_map *m)
{
    static char buf[1 << 20];
    long n = ck_read_file("/proc/self/maps", buf, sizeof buf);
    if (n < 0)
        failf("reading /proc/self/maps: %s", strerror((int)-n));
    char *cursor = buf;
    struct map_entry e;
    while (maps_next(&cursor, &e) > 0)
        address_map_occupy(m, e.start, e.end);
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
    struct region_plan *regions = (struct region_plan *)(p + 1);
    plan_records(p, regions, (struct fd_plan *)(regions + p->view.nregions));
    p->scratch = (char *)(area + l->scratch);
    p->scratch_len = CORE_SCRATCH_SIZE;
    p->vdso.parking = area + l->parking;
    p->exe_fd = -1;
    memcpy(p->startup_fds, startup_fds, sizeof startup_fds);
    snprintf(p->image_path, sizeof p->image_path, "%s", image_arg);
    p->cut_appended = cut_appended;
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
    p->image_fd = move_high(p->image_fd, floor);
    p->err_fd = fcntl(2, F_DUPFD_CLOEXEC, floor);
}

static void check_everything(struct restore_plan *p, struct address_map *taken)
{
    struct ck_error err;
    if (validate_environment(p, address_map_gap_finder, taken, &err))
        fail(&err);
    /* Found like every recorded path: no symbolic link, no FIFO (-1 if not: exe stays). */
    struct identity_found exe;
    if (p->proc->exe[0])
        p->exe_fd = (int)identity_open(p->proc->exe, O_RDONLY, S_IFREG, &exe);
    if (p->exe_fd < 0)
        p->exe_fd = -1;
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
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--lazy"))
            lazy = 1;
        else if (!strcmp(argv[i], "--cut-appended"))
            cut_appended = 1;
        else
            break;
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
    struct image_file img;
    struct image_view view;
    struct ck_error err;
    /* Page checksums are verified as the pages are placed (place.c), not here. */
    if (validate_own_rights(&err) || validate_image_file(image_arg, 0, &img, &view, &err))
        fail(&err);
    lock_image(img.fd);

    struct address_map taken = {0};
    address_map_occupy_regions(&taken, &view);
    occupy_own_mappings(&taken);
    struct area_layout l = lay_out_area(&view, img.size);
    uint64_t area = address_map_find_gap(&taken, l.total);
    if (!area || mmap((void *)area, l.total, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1,
                      0) != (void *)area)
        failf("no free address range of %lu bytes for the restore core", (unsigned long)l.total);
    if (mremap(img.base, img.size, img.size, MREMAP_MAYMOVE | MREMAP_FIXED,
               (void *)(area + l.image)) == MAP_FAILED)
        failf("moving the image: %s", strerror(errno));
    map_fixed(area + l.plan, l.parking - l.plan, PROT_READ | PROT_WRITE, "plan and stack");
    map_fixed(area + l.scratch + CORE_SCRATCH_SIZE, CK_PAGE, PROT_NONE, "stack guard");

    struct restore_plan *p = (struct restore_plan *)(area + l.plan);
    fill_plan(p, area, &l, img.size);
    p->image_fd = lazy ? img.fd : -1;
    /* The proxy vDSO must avoid the image's regions and the core area; restore-run's own
     * mappings will be gone by then. */
    struct address_map for_vdso = {0};
    address_map_occupy_regions(&for_vdso, &p->view);
    address_map_occupy(&for_vdso, area, area + l.total);
    check_everything(p, &for_vdso);
    move_descriptors_high(p);
    if (image_verify_file_data(&p->view, &err) || (!lazy && place_memory(p, img.fd, &err)))
        fail(&err);
    if (!lazy)
        close(img.fd);

    map_fixed(area + l.blob, l.plan - l.blob, PROT_READ | PROT_WRITE, "code");
    memcpy((void *)(area + l.blob), ckpt_core_blob, (size_t)(ckpt_core_blob_end - ckpt_core_blob));
    if (mprotect((void *)(area + l.blob), l.plan - l.blob, PROT_READ | PROT_EXEC) < 0)
        failf("protecting the restore core: %s", strerror(errno));
    if (files_commit(p, &err))
        fail(&err);
    fflush(NULL);
    jump_to_core(p, area, &l);
}
