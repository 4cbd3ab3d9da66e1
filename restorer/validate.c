/* Phase-1 validation shared by restore-run and `ckpt verify` (see validate.h). */
#define _GNU_SOURCE
#include "validate.h"
#include "../restorer/chain.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/protocol.h"
#include "fds.h"
#include "identity.h"
#include "maps.h"
#include "memory.h"
#include "process.h"
#include "thread.h"

#define GAP_SEARCH_FROM 0x100000000ULL  /* above the 4 GiB that non-PIE programs use */
#define GAP_SEARCH_TO 0x7ff000000000ULL /* below the stack and the top of user space */

/* ---- the image file ------------------------------------------------------------------- */

/* An image holds the program's memory, secrets included, and decides what code runs: only
 * its owner may have written it. */
static int check_protection(const struct stat *st, struct ck_error *err)
{
    if (!S_ISREG(st->st_mode))
        return ck_fail(err, -1, "not a regular file");
    if (st->st_uid != getuid())
        return ck_fail(err, -1, "refused: the image belongs to uid %u, not to you (uid %u)",
                       (unsigned)st->st_uid, (unsigned)getuid());
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        char mode[8];
        snprintf(mode, sizeof mode, "%04o", (unsigned)(st->st_mode & 07777));
        return ck_fail(err, -1,
                       "refused: the image is writable by %s (mode %s); it must be "
                       "writable by its owner only",
                       (st->st_mode & S_IWGRP) && (st->st_mode & S_IWOTH) ? "group and others"
                       : (st->st_mode & S_IWGRP)                          ? "its group"
                                                                          : "others",
                       mode);
    }
    return 0;
}

#define MIB(x) ((unsigned long)((x) >> 20))

uint64_t image_memory_bytes(const struct image_view *v)
{
    uint64_t sum = 0;
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r)) {
        const struct ckpt_region_record *g = (const void *)r;
        if (r->kind == CKPT_REC_REGION && !memory_is_kernels(g->kind))
            sum += g->end - g->start;
    }
    return sum;
}

void validate_raise_soft_limits(void)
{
    static const int resources[] = {RLIMIT_NOFILE, RLIMIT_AS};
    for (size_t i = 0; i < sizeof resources / sizeof resources[0]; i++) {
        struct rlimit rl;
        if (getrlimit(resources[i], &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(resources[i], &rl);
        }
    }
}

uint64_t validate_own_address_space(void)
{
    char buf[128];
    const char *cursor = buf;
    return ck_read_file("/proc/self/statm", buf, sizeof buf) > 0
               ? ck_parse_uint(&cursor, 10) * CK_PAGE
               : 0;
}

int validate_address_space(uint64_t need, const char *what, struct ck_error *err)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) || rl.rlim_cur == RLIM_INFINITY || need <= rl.rlim_cur)
        return 0;
    return ck_fail(err, -1,
                   "restoring needs %lu MiB of address space %s; RLIMIT_AS (ulimit -v) allows "
                   "%lu MiB",
                   MIB(need + (1 << 20) - 1), what, MIB(rl.rlim_cur));
}

/* Validating the structure reads the header and the metadata at the end, not the pages: on
 * a cold image, faults on the mapping read only what they touch (MADV_RANDOM), and the
 * metadata in one read ahead of them. Read-around would take megabytes of pages around
 * each, synchronously, before restore-run starts its parallel reads (restorer/place.c).
 * validate_image_file sets the mapping back to normal reading afterwards. */
static void read_only_what_is_needed(const struct image_file *f)
{
    madvise(f->base, f->size, MADV_RANDOM);
    const struct ckpt_file_header *h = f->base;
    uint64_t from = h->meta_offset & ~(uint64_t)4095; /* checked later: only a hint here */
    if (from < f->size)
        madvise((char *)f->base + from, f->size - from, MADV_WILLNEED);
}

/* The image named on the command line: found (O_PATH, which opens nothing), checked — a
 * regular file of the user's, writable by nobody else — and only then opened, through the
 * descriptor that was checked. Another user's symbolic link to a device or FIFO is refused
 * without the device being opened. Returns the descriptor, or -1 with err set. */
static int open_checked_image(const char *path, struct ck_error *err)
{
    int found = open(path, O_PATH | O_CLOEXEC);
    if (found < 0)
        return ck_fail(err, -1, "cannot open: %s", strerror(errno));
    struct stat st;
    int fd = -1;
    if (fstat(found, &st) < 0)
        ck_fail(err, -1, "cannot stat: %s", strerror(errno));
    else if (check_protection(&st, err) == 0) {
        char through[64];
        snprintf(through, sizeof through, "/proc/self/fd/%d", found);
        fd = open(through, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
            ck_fail(err, -1, "cannot open: %s", strerror(errno));
    }
    close(found);
    return fd;
}

static int map_image(const char *path, int populate, struct image_file *f, struct ck_error *err)
{
    f->base = NULL;
    f->source_fd = -1;
    f->fd = open_checked_image(path, err);
    if (f->fd < 0)
        return -1;
    struct stat st;
    if (fstat(f->fd, &st) < 0)
        return ck_fail(err, -1, "cannot stat: %s", strerror(errno));
    f->size = (uint64_t)st.st_size;
    char head[8] = {0};
    if (f->size < CKPT_HEADER_SIZE && pread(f->fd, head, sizeof head, 0) < 0)
        return ck_fail(err, -1, "cannot read: %s", strerror(errno));
    if (image_check_size(head, f->size, err))
        return -1;
    void *base =
        mmap(NULL, f->size, PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), f->fd, 0);
    if (base == MAP_FAILED && errno == ENOMEM &&
        validate_address_space(validate_own_address_space() + f->size, "to map the image", err))
        return -1;
    if (base == MAP_FAILED)
        return ck_fail(err, -1, "cannot map: %s", strerror(errno));
    f->base = base;
    if (!populate)
        read_only_what_is_needed(f);
    return 0;
}

int validate_image_file(const char *path, int verify_pages, struct image_file *f,
                        struct image_view *v, struct ck_error *err)
{
    if (map_image(path, verify_pages, f, err) || image_open_view(v, f->base, f->size, err) ||
        (verify_pages && image_verify_data(v, err)) || image_check_restore_values(v, err)) {
        image_file_close(f);
        return -1;
    }
    if (!verify_pages)
        madvise(f->base, f->size, MADV_NORMAL);
    return 0;
}

void image_file_close(struct image_file *f)
{
    if (f->base)
        munmap(f->base, f->size);
    if (f->fd >= 0)
        close(f->fd);
    if (f->source_fd >= 0)
        close(f->source_fd);
    f->base = NULL;
    f->fd = f->source_fd = -1;
}

int validate_own_rights(struct ck_error *err)
{
    if (getuid() != geteuid() || getgid() != getegid())
        return ck_fail(err, -1,
                       "refused: running setuid or setgid (uid %u, effective %u; "
                       "gid %u, effective %u); restore with your own rights only",
                       (unsigned)getuid(), (unsigned)geteuid(), (unsigned)getgid(),
                       (unsigned)getegid());
    return 0;
}

/* ---- address ranges ------------------------------------------------------------------- */

void address_map_occupy(struct address_map *m, uint64_t start, uint64_t end)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 256;
        void *v = realloc(m->v, cap * sizeof *m->v);
        if (!v) {
            m->out_of_memory = 1;
            return;
        }
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n].start = start;
    m->v[m->n++].end = end;
}

void address_map_occupy_regions(struct address_map *m, const struct image_view *v)
{
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r))
        if (r->kind == CKPT_REC_REGION) {
            const struct ckpt_region_record *g = (const void *)r;
            address_map_occupy(m, g->start, g->end);
        }
}

static int by_start(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t address_map_find_gap(struct address_map *m, uint64_t len)
{
    if (m->out_of_memory)
        return 0;
    if (m->n)
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

/* A gap_finder over an address_map. */
static uint64_t address_map_gap_finder(uint64_t len, void *map)
{
    return address_map_find_gap(map, len);
}

/* ---- this process's own mappings ------------------------------------------------------ */

static const char *const special_names[VDSO_NMAPS] = {
    [VDSO_VVAR] = "[vvar]", [VDSO_VCLOCK] = "[vvar_vclock]", [VDSO_CODE] = "[vdso]"};

static void own_mapping_note(struct own_mappings *m, const struct map_entry *e)
{
    address_map_occupy(&m->all, e->start, e->end);
    if (!strcmp(e->path, "[stack]")) {
        m->stack_start = e->start;
        m->stack_end = e->end;
    }
    for (int i = 0; i < VDSO_NMAPS; i++)
        if (!strcmp(e->path, special_names[i])) {
            m->special_start[i] = e->start;
            m->special_len[i] = e->end - e->start;
        }
}

int own_mappings_read(struct own_mappings *m, struct ck_error *err)
{
    static char buf[1 << 20];
    *m = (struct own_mappings){0};
    long n = ck_read_file("/proc/self/maps", buf, sizeof buf);
    if (n < 0)
        return ck_fail(err, -1, "reading /proc/self/maps: %s", strerror((int)-n));
    char *cursor = buf;
    struct map_entry e;
    while (maps_next(&cursor, &e) > 0)
        own_mapping_note(m, &e);
    return 0;
}

void own_mappings_free(struct own_mappings *m)
{
    address_map_free(&m->all);
}

void address_map_free(struct address_map *m)
{
    free(m->v);
    *m = (struct address_map){0};
}

/* ---- the world it is restored into ---------------------------------------------------- */

/* Bytes plan_records needs at fds: the fd_plans, then the file_plans. */
static uint64_t plan_fds_bytes(const struct image_view *v)
{
    return v->nfds * sizeof(struct fd_plan) + v->nfiles * sizeof(struct file_plan);
}

/* A descriptor's plan: the first one of its FILE gets the FILE's data, locks and terminal;
 * the others are copies of it. */
static void plan_descriptor(struct restore_plan *p, const struct ckpt_fd_record *f)
{
    struct file_plan *obj = &p->files[f->file - 1]; /* validated: a FILE before it */
    struct fd_plan *fp = &p->fds[p->nfds];
    *fp = (struct fd_plan){
        .rec = f, .file = obj->rec, .shares_with = -1, .temp_fd = -1, .dir_fd = -1, .new_fd = -1};
    if (obj->owner >= 0) {
        fp->shares_with = p->fds[obj->owner].rec->fd;
    } else {
        obj->owner = (int32_t)p->nfds;
        fp->data = obj->data;
        fp->locks = obj->locks;
        fp->nlocks = obj->nlocks;
        fp->terminal = obj->terminal;
        fp->detail = obj->detail;
        fp->ndetail = obj->ndetail;
    }
    p->nfds++;
}

/* Points p->regions and p->fds (view->nregions entries, and plan_fds_bytes at fds) at the
 * image's records, each descriptor at its FILE; p->view must be set. */
static void plan_records(struct restore_plan *p, struct region_plan *regions, struct fd_plan *fds)
{
    p->proc = p->view.proc;
    p->regions = regions;
    p->fds = fds;
    p->files = (struct file_plan *)(fds + p->view.nfds);
    p->nregions = p->nfds = p->nfiles = 0;
    struct file_plan *obj = 0; /* the last FILE: its records follow it (validated) */
    for (const struct ckpt_record_head *r = image_first(&p->view); r; r = image_next(&p->view, r)) {
        if (r->kind == CKPT_REC_REGION) {
            struct region_plan *rp = &p->regions[p->nregions++];
            rp->rec = (const void *)r;
            rp->map_fd = -1;
            rp->fd_owner = p->nregions - 1;
            rp->placed = 0;
            rp->memfile = 0;
            const struct ckpt_record_head *next = image_next(&p->view, r);
            rp->first_run = rp->rec->nruns ? next : NULL;
        } else if (r->kind == CKPT_REC_FILE) {
            obj = &p->files[p->nfiles++]; /* validated: ids 1..n in this order */
            *obj = (struct file_plan){.rec = (const void *)r, .owner = -1};
        } else if (r->kind == CKPT_REC_FILE_DATA && obj) {
            obj->data = (const void *)r;
        } else if (r->kind == CKPT_REC_TERMINAL && obj) {
            obj->terminal = (const void *)r;
        } else if (r->kind == CKPT_REC_LOCK && obj) {
            if (!obj->nlocks++) /* validated: consecutive */
                obj->locks = (const void *)r;
        } else if (r->kind == CKPT_REC_FD) {
            plan_descriptor(p, (const void *)r);
        } else if (obj) {
            /* Every other record between a FILE and the next FILE or FD is of the
             * descriptor kind's own (validated by the kind: after its FILE, consecutive). */
            if (!obj->ndetail++)
                obj->detail = r;
        }
    }
}

/* restore-run holds at once: the descriptors it opened for the program's files and mapped
 * files, its own few (the image, the executable, stderr, and short-lived ones such as
 * /proc/self/maps), all numbered above the program's highest descriptor. */
#define OWN_DESCRIPTORS 16

/* The highest descriptor number restore-run needs, plus one: the program's highest, then
 * every file plan_build opened, then restore-run's own. */
static uint64_t plan_descriptors_needed(const struct restore_plan *p)
{
    int top = 2;
    uint64_t held = p->map_files + p->nmemfiles;
    for (uint32_t i = 0; i < p->nfds; i++) {
        top = p->fds[i].rec->fd > top ? p->fds[i].rec->fd : top;
        held += p->fds[i].temp_fd >= 0;
    }
    return (uint64_t)top + 1 + held + OWN_DESCRIPTORS;
}

/* restore-run raises its soft RLIMIT_NOFILE to the hard one for its own work (the restored
 * program gets its own limits back at the end): the hard limit must do. */
static int check_descriptor_limit(const struct restore_plan *p, struct ck_error *err)
{
    struct rlimit rl;
    uint64_t need = plan_descriptors_needed(p);
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_max == RLIM_INFINITY || need <= rl.rlim_max)
        return 0;
    int top = 2;
    for (uint32_t i = 0; i < p->nfds; i++)
        top = p->fds[i].rec->fd > top ? p->fds[i].rec->fd : top;
    return ck_fail(err, -1,
                   "restoring needs %lu descriptor numbers (the program's highest descriptor "
                   "is %d, and restore-run holds %lu files open meanwhile); the hard "
                   "RLIMIT_NOFILE (ulimit -Hn) is %lu",
                   (unsigned long)need, top, (unsigned long)(need - (uint64_t)top - 1),
                   (unsigned long)rl.rlim_max);
}

/* files_commit seeks every reopened file to its offset: a file system's size limit can
 * refuse an offset, so it is tried now, on restore-run's own fresh open of the file. */
static int check_offsets(const struct restore_plan *p, struct ck_error *err)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct ckpt_file_record *f = p->fds[i].file;
        if (p->fds[i].temp_fd < 0 || (f->kind != CKPT_FD_FILE && f->kind != CKPT_FD_DIR))
            continue;
        if (lseek(p->fds[i].temp_fd, (off_t)f->offset, SEEK_SET) < 0)
            return ck_fail(err, -1, "file %s (descriptor %d) cannot be read at offset %lu: %s",
                           f->path, p->fds[i].rec->fd, (unsigned long)f->offset, strerror(errno));
    }
    return 0;
}

/* The core installs a descriptor that shares its open file as a copy of the lower one: a
 * descriptor taken from restore-run's environment must then be there. */
static int check_shared_inherited(const struct restore_plan *p, struct ck_error *err)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        int lower = p->fds[i].shares_with;
        for (uint32_t k = 0; lower >= 0 && k < i; k++) {
            const struct fd_plan *fp = &p->fds[k];
            int missing = lower < 1024 && !(p->startup_fds[lower / 8] & (1u << (lower % 8)));
            if (fp->rec->fd == lower && fp->inherit && (lower >= 1024 || missing))
                return ck_fail(err, -1,
                               "descriptor %d shares its file with descriptor %d, which comes "
                               "from restore-run's environment, and restore-run has no "
                               "descriptor %d",
                               p->fds[i].rec->fd, lower, lower);
        }
    }
    return 0;
}

/* Checks the world: working directory, every file opened or mapped (opened and kept in
 * the plan), and plans the vDSO. Returns 0 or -1 with err filled. */
static int validate_environment(struct restore_plan *p, gap_finder find_gap, void *ctx,
                                struct ck_error *err)
{
    /* The image and the program's memory at least; restore-run adds its own (main.c). */
    if (thread_check_restorable(&p->view, err) || chain_open_parents(p, p->image_path, err) ||
        process_check(p, err) || memfiles_create(p, err) || files_check(p, err) ||
        check_shared_inherited(p, err) || check_offsets(p, err) || memory_check(p, err) ||
        check_descriptor_limit(p, err) ||
        validate_address_space(image_memory_bytes(&p->view) + p->view.size,
                               "for the program's memory and the image", err))
        return -1;
    const char *force = getenv(CKPT_ENV_TEST_VDSO_PROXY);
    return vdso_plan_build(p, force && *force == '1', find_gap, ctx, err);
}

uint64_t plan_size(const struct image_view *view)
{
    return sizeof(struct restore_plan) + view->nregions * sizeof(struct region_plan) +
           plan_fds_bytes(view) + view->nthreads * sizeof(struct thread_plan);
}

static void plan_setting_apply(struct restore_plan *p, const struct plan_setting *s)
{
    memset(p, 0, sizeof *p);
    p->view = *s->view;
    p->area_start = s->area_start;
    p->area_len = s->area_len;
    p->image_start = (uint64_t)(uintptr_t)s->view->base;
    p->image_len = s->image_len;
    p->err_fd = p->exe_fd = p->image_fd = -1;
    p->allow_running = s->allow_running;
    p->cut_appended = s->cut_appended;
    if (s->startup_fds)
        memcpy(p->startup_fds, s->startup_fds, sizeof p->startup_fds);
    else
        memset(p->startup_fds, 0xff, sizeof p->startup_fds);
    snprintf(p->image_path, sizeof p->image_path, "%s", s->image_path);
    memcpy(p->vdso.live_start, s->own->special_start, sizeof p->vdso.live_start);
    memcpy(p->vdso.live_len, s->own->special_len, sizeof p->vdso.live_len);
}

/* The program's executable for PR_SET_MM_MAP, found like every recorded path (no symbolic
 * link, no FIFO); -1 if not found: /proc/PID/exe then stays restore-run's. */
static int open_executable(const struct restore_plan *p)
{
    struct identity_found exe;
    int fd = p->proc->exe[0] ? (int)identity_open(p->proc->exe, O_RDONLY, S_IFREG, &exe) : -1;
    return fd < 0 ? -1 : fd;
}

int plan_build(struct restore_plan *p, const struct plan_setting *s, struct ck_error *err)
{
    plan_setting_apply(p, s);
    struct region_plan *regions = (struct region_plan *)(p + 1);
    struct fd_plan *fds = (struct fd_plan *)(regions + p->view.nregions);
    plan_records(p, regions, fds);
    thread_plan(p, (struct thread_plan *)((char *)fds + plan_fds_bytes(&p->view)));
    /* The proxy vDSO must avoid the image's regions and the core area; restore-run's own
     * mappings will be gone by then. */
    struct address_map for_vdso = {0};
    address_map_occupy_regions(&for_vdso, &p->view);
    if (s->area_len)
        address_map_occupy(&for_vdso, s->area_start, s->area_start + s->area_len);
    int rc = validate_environment(p, address_map_gap_finder, &for_vdso, err);
    address_map_free(&for_vdso);
    if (rc) {
        plan_close_files(p);
        return -1;
    }
    p->exe_fd = open_executable(p);
    return 0;
}

void plan_close_files(struct restore_plan *p)
{
    for (uint32_t i = 0; i < p->nfds; i++)
        if (p->fds[i].temp_fd >= 0) {
            close(p->fds[i].temp_fd);
            p->fds[i].temp_fd = -1;
        }
    for (uint32_t i = 0; i < p->nfds; i++)
        if (p->fds[i].dir_fd >= 0) {
            close(p->fds[i].dir_fd);
            p->fds[i].dir_fd = -1;
        }
    for (uint32_t i = 0; i < p->nregions; i++) {
        if (p->regions[i].map_fd >= 0 && p->regions[i].fd_owner == i && !p->regions[i].memfile)
            close(p->regions[i].map_fd);
        p->regions[i].map_fd = -1;
    }
    for (uint32_t i = 0; i < p->nmemfiles; i++)
        close(p->memfile_fd[i]);
    p->nmemfiles = 0;
    if (p->exe_fd >= 0)
        close(p->exe_fd);
    p->exe_fd = -1;
    for (uint32_t i = 0; i < p->nparents; i++)
        close(p->parent_fds[i]);
    p->nparents = 0;
}
