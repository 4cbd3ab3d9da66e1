/* Write tracking for incremental images; see track.h.
 *
 * ================ NO LIBC IN THIS FILE (signal handler context) ================ */
#include "track.h"
#include "maps.h"
#include "sys.h"
#include "util.h"
#include "chain.h"

#include <asm/errno.h>
#include <asm/unistd.h>
#include <linux/fcntl.h>

/* <linux/userfaultfd.h> of Debian 12 predates WP_ASYNC: the values of Linux 6.7. */
#define UFFD_API_VERSION 0xAAULL
#define UFFD_USER_MODE_ONLY 1
#define UFFD_FEATURE_WP_UNPOPULATED (1ULL << 13)
#define UFFD_FEATURE_WP_ASYNC (1ULL << 15)
#define UFFDIO_REGISTER_MODE_WP (1ULL << 1)
struct uffdio_api_arg {
    uint64_t api, features, ioctls;
};
struct uffdio_register_arg {
    uint64_t start, len, mode, ioctls;
};
#define UFFDIO_API_IOCTL (3UL << 30 | 24UL << 16 | 0xAA << 8 | 0x3F)
#define UFFDIO_REGISTER_IOCTL (3UL << 30 | 32UL << 16 | 0xAA << 8 | 0x00)

#define PAGE_IS_WPALLOWED (1ULL << 0)
#define PAGE_IS_WRITTEN (1ULL << 1)
#define PAGE_IS_HUGE (1ULL << 6)
#define PM_SCAN_WP_MATCHING (1ULL << 0)

#define TRACK_USER_START 0x1000UL
#define TRACK_USER_END 0x7ffffffff000UL
#define TRACK_FD_FLOOR 1000 /* the descriptor moves up here, out of the program's way */

static struct {
    uint32_t full_every; /* 0: no incremental images */
    int uffd;            /* -1 until the first checkpoint makes it */
    int unavailable;     /* the kernel lacks a feature: said once, every image full */
    int base_valid;      /* the last image published can be extended */
    uint32_t base_generation;
    uint32_t base_depth; /* its parents */
    int pending;         /* the image being written extends the base */
    int armed;           /* the image being written was tracked: it may be the next base */
    uint64_t dev, ino;   /* of uffd: a number the program reused is not ours */
} track = {0, -1, 0, 0, 0, 0, 0, 0, 0, 0};

void track_init(const char *incremental)
{
    const char *c = incremental;
    track.full_every = c && *c ? (uint32_t)ck_parse_uint(&c, 10) : 0;
    if (track.full_every > CKPT_PARENTS_MAX + 1)
        track.full_every = CKPT_PARENTS_MAX + 1;
}

int track_fd(void)
{
    return track.uffd;
}

static void say_unavailable(const char *what, long why)
{
    char msg[512];
    size_t n = ck_format(msg, sizeof msg,
                         "ckpt: incremental images are not available: %s: %s (they need Linux "
                         "6.7: userfaultfd with UFFD_FEATURE_WP_ASYNC, PAGEMAP_SCAN); every "
                         "image is full\n",
                         what, ck_strerror((int)-why));
    ck_write_all(2, msg, n);
    track.unavailable = 1;
}

/* The shim's userfaultfd, write-protect async mode, at a high number. */
static int open_tracker(void)
{
    long fd = sys_call1(__NR_userfaultfd, UFFD_USER_MODE_ONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        say_unavailable("userfaultfd", fd);
        return -1;
    }
    struct uffdio_api_arg api = {UFFD_API_VERSION,
                                 UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED, 0};
    long r = sys_ioctl((int)fd, UFFDIO_API_IOCTL, &api);
    if (r < 0 || (api.features & (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED)) !=
                     (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED)) {
        sys_close((int)fd);
        say_unavailable("userfaultfd write-protect async mode", r < 0 ? r : -EINVAL);
        return -1;
    }
    long high = sys_fcntl((int)fd, F_DUPFD_CLOEXEC, TRACK_FD_FLOOR);
    if (high >= 0) {
        sys_close((int)fd);
        fd = high;
    }
    struct kstat st;
    if (sys_fstat((int)fd, &st) == 0) {
        track.dev = st.st_dev;
        track.ino = st.st_ino;
    }
    track.uffd = (int)fd;
    return 0;
}

/* Is track.uffd still the descriptor open_tracker made? The program may have closed it (its
 * registrations went with it) and opened something else at its number. */
static int tracker_still_ours(void)
{
    struct kstat st;
    return track.uffd >= 0 && sys_fstat(track.uffd, &st) == 0 && st.st_dev == track.dev &&
           st.st_ino == track.ino;
}

/* Ranges of pages in categories (all of them, those in inverted absent), by PAGEMAP_SCAN over
 * the user address space, merged where they touch, into out (cap entries). wp: re-arm them too.
 * Returns the count, -ENOSPC when out is full (the walk still goes to the end, so that wp re-arms
 * all), or -errno. With PAGE_IS_WRITTEN alone the kernel takes its fast path for write tracking. */
static long scan_all(int pagemap, uint64_t categories, uint64_t inverted, int wp,
                     struct memory_range *out, size_t cap)
{
    /* The kernel fills page_region triples at the end of out; they are packed into
     * memory_range pairs at its start, never overtaking what is still to be read. */
    struct page_region found[256];
    struct pm_scan_arg a = {.size = sizeof a,
                            .flags = wp ? PM_SCAN_WP_MATCHING : 0,
                            .start = TRACK_USER_START,
                            .end = TRACK_USER_END,
                            .vec = (uint64_t)found,
                            .vec_len = sizeof found / sizeof found[0],
                            .category_inverted = inverted,
                            .category_mask = categories,
                            .return_mask = categories};
    size_t n = 0;
    int full = 0;
    for (;;) {
        long got = sys_ioctl(pagemap, PAGEMAP_SCAN, &a);
        if (got < 0)
            return got;
        for (long i = 0; i < got; i++) {
            if (n && out[n - 1].end == found[i].start)
                out[n - 1].end = found[i].end;
            else if (n < cap)
                out[n++] = (struct memory_range){found[i].start, found[i].end};
            else
                full = 1;
        }
        /* Until the kernel says it walked to the end: it may stop early with room left
         * (its own buffer filled), and its walk_end may lag behind what it reported. */
        uint64_t next =
            got > 0 && found[got - 1].end > a.walk_end ? found[got - 1].end : a.walk_end;
        if (next >= TRACK_USER_END || next <= a.start)
            break;
        a.start = next;
    }
    return full ? -ENOSPC : (long)n;
}

/* Is the mapping [start, end) registered (with a write-protect async userfaultfd)? One page
 * reported is enough: max_pages 1 ends the walk there, and a mapping that is not registered
 * is passed over without walking its page tables. 1, 0, or -errno. */
static long registered(int pagemap, uint64_t start, uint64_t end)
{
    struct page_region found;
    struct pm_scan_arg a = {.size = sizeof a,
                            .start = start,
                            .end = end,
                            .vec = (uint64_t)&found,
                            .vec_len = 1,
                            .max_pages = 1,
                            .category_mask = PAGE_IS_WPALLOWED,
                            .return_mask = PAGE_IS_WPALLOWED};
    long n = sys_ioctl(pagemap, PAGEMAP_SCAN, &a);
    return n < 0 ? n : n > 0 && found.start == start;
}

/* Private writable memory can be tracked: the program's data, heap, stacks, anonymous maps,
 * written pages of private file maps. Shared memory is stored whole every time; the
 * kernel's own mappings are not the program's to track. */
static int trackable(const struct map_entry *e)
{
    const char *p = e->path;
    return !e->shared && (e->prot & CKPT_PROT_WRITE) &&
           (p[0] != '[' || ck_streq(p, "[heap]") || ck_streq(p, "[stack]") ||
            ck_starts_with(p, "[anon:"));
}

static void register_range(uint64_t start, uint64_t end)
{
    if (start >= end)
        return;
    struct uffdio_register_arg reg = {start, end - start, UFFDIO_REGISTER_MODE_WP, 0};
    /* Refused where the program registered the range with a userfaultfd of its own (EBUSY)
     * or the kernel cannot track it: that memory is then stored whole, every time. */
    sys_ioctl(track.uffd, UFFDIO_REGISTER_IOCTL, &reg);
}

/* Each trackable mapping of /proc/self/maps: tracked since an earlier checkpoint if it is
 * registered (the kernel drops a registration with its mapping, so memory unmapped, mapped
 * anew or moved since is not), into tj->tracked; else registered now, leaving out the arena
 * [skip_start, skip_end). Returns the tracked ranges, -ENOSPC beyond cap, or -errno. */
static long track_mappings(struct track_job *tj, size_t cap, int pagemap, char *maps,
                           size_t maps_cap, uint64_t skip_start, uint64_t skip_end)
{
    long r = ck_read_file("/proc/self/maps", maps, maps_cap);
    if (r < 0)
        return r;
    char *cursor = maps;
    struct map_entry e;
    size_t n = 0;
    while (maps_next(&cursor, &e) > 0) {
        if (!trackable(&e))
            continue;
        long known = registered(pagemap, e.start, e.end);
        if (known < 0)
            return known;
        if (!known) {
            register_range(e.start, e.end < skip_start ? e.end : skip_start);
            register_range(e.start > skip_end ? e.start : skip_end, e.end);
        } else if (n && tj->tracked[n - 1].end == e.start) {
            tj->tracked[n - 1].end = e.end;
        } else if (n < cap) {
            tj->tracked[n++] = (struct memory_range){e.start, e.end};
        } else {
            return -ENOSPC;
        }
    }
    return (long)n;
}

void track_before_snapshot(struct track_job *tj, char *arena, char *maps, size_t maps_cap,
                           uint64_t skip_start, uint64_t skip_end)
{
    tj->incremental = 0;
    tj->ntracked = tj->nwritten = tj->nhuge = 0;
    track.pending = 0;
    if (!track.full_every || track.unavailable)
        return;
    if (track.uffd >= 0 && !tracker_still_ours()) {
        track.uffd = -1;
        track.base_valid = 0;
    }
    if (track.uffd < 0 && open_tracker())
        return;
    size_t cap = TRACK_ARENA_BYTES / 3 / sizeof(struct memory_range);
    tj->tracked = (struct memory_range *)arena;
    tj->written = tj->tracked + cap;
    tj->huge = tj->written + cap;
    long pagemap = sys_openat(AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
    if (pagemap < 0)
        return;
    long tracked = track_mappings(tj, cap, (int)pagemap, maps, maps_cap, skip_start, skip_end);
    if (tracked == -ENOTTY || tracked == -EINVAL) {
        say_unavailable("PAGEMAP_SCAN", tracked);
        sys_close((int)pagemap);
        return;
    }
    tj->ntracked = tracked > 0 ? (size_t)tracked : 0;
    /* Huge pages are never protected (page_hashes.h): the writer compares them by content.
     * Where there are none, the kernel's fast path for PAGE_IS_WRITTEN alone is taken. If
     * they cannot all be listed, all memory is protected, huge pages too. */
    long huge = scan_all((int)pagemap, PAGE_IS_HUGE | PAGE_IS_WPALLOWED, 0, 0, tj->huge, cap);
    uint64_t by_content = huge > 0 ? PAGE_IS_HUGE : 0;
    tj->nhuge = huge > 0 ? (size_t)huge : 0;
    /* Written since the last re-arm (and all of the memory registered just now): reported
     * and protected again in the same walk. */
    long written =
        scan_all((int)pagemap, PAGE_IS_WRITTEN | by_content, by_content, 1, tj->written, cap);
    sys_close((int)pagemap);
    tj->nwritten = written > 0 ? (size_t)written : 0;
    tj->base_generation = track.base_generation;
    tj->incremental =
        tracked >= 0 && written >= 0 && track.base_valid && track.base_depth + 1 < track.full_every;
    track.pending = tj->incremental;
    /* Re-armed: an image that fails now loses what was written before; the next is full.
     * Tracking is armed from here on, even if this image could not be incremental. */
    track.base_valid = 0;
    track.armed = tracked >= 0 && written >= 0;
}

void track_published(uint32_t generation)
{
    if (!track.armed)
        return;
    /* The writer may have found the base unusable and written a full image: the depth
     * believed here is then too large, which only makes the next full image come sooner. */
    track.base_depth = track.pending ? track.base_depth + 1 : 0;
    track.base_generation = generation;
    track.base_valid = 1;
    track.armed = 0;
}

void track_failed(void)
{
    track.base_valid = 0;
    track.armed = 0;
}

int track_names_to_keep(const char *image, int keep, uint32_t new_depth)
{
    if (!track.full_every)
        return keep;
    /* After the rotation the image now at name j (IMAGE, IMAGE.1, ...) is at j + 1; one at
     * j + 1 that is kept needs the next depth names after it. */
    int names = keep > (int)new_depth + 1 ? keep : (int)new_depth + 1;
    char path[CKPT_PATH_MAX + 16];
    for (int j = 0; j + 1 < keep; j++) {
        if (j == 0)
            ck_strlcpy(path, image, sizeof path);
        else
            ck_format(path, sizeof path, "%s.%d", image, j);
        int needs = j + 1 + (int)chain_depth_of_file(path) + 1;
        names = needs > names ? needs : names;
    }
    return names;
}

void track_after_restore(void)
{
    track.uffd = -1;
    track.base_valid = 0;
    track.unavailable = 0;
}

void track_remove_unneeded(const char *image, int names, struct ck_held *held)
{
    if (!track.full_every)
        return;
    char path[CKPT_PATH_MAX + 16];
    for (int j = names > 1 ? names : 1; j < names + (int)CKPT_PARENTS_MAX + 2; j++) {
        ck_format(path, sizeof path, "%s.%d", image, j);
        if (ck_unlink_holding(held, AT_FDCWD, path) == -ENOENT)
            break;
    }
}
