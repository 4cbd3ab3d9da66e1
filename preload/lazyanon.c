/* After restore-run --lazy, memory that was private anonymous memory (regions ANON and
 * DELETED_PRIVATE) is a private mapping of the image file: the kernel reads each page from
 * the image when it is first touched. The kernel's advice then means something else:
 * MADV_DONTNEED on anonymous memory makes the next read give zeros, on a file mapping it
 * gives the file's page again — the image's old contents —, and MADV_FREE and
 * MADV_WIPEONFORK are refused (EINVAL) on a file mapping. Programs rely on the anonymous
 * meaning (allocators hand out purged memory as zeroed). The core lists those ranges in the
 * restore info (protocol.h); for such advice the madvise wrapper makes the parts of the range
 * still mapped from an image anonymous memory again, with the same protection, before or
 * after the kernel's madvise.
 *
 * Called from the program's threads at any moment (and from signal handlers): raw syscalls
 * only, no lock. The list is written by the core before any thread runs again and not
 * changed until the next restore; a range's done flag (no part of it is mapped from an image
 * any more: skip it) only ever goes from 0 to 1, and is cleared at a restore. Whether a part
 * is still mapped from an image is read from /proc/self/maps at each call that needs it, so
 * memory the program has unmapped or mapped anew since is left alone. */
#include "lazyanon.h"
#include "maps.h"
#include "shim.h"
#include "sys.h"
#include "util.h"

#include <asm/errno.h>
#include <linux/fcntl.h>
#include <linux/mman.h>

#define PAGE 4096ul

static uint8_t range_done[CKPT_LAZY_RANGES_MAX];

void lazyanon_after_restore(void)
{
    for (uint32_t i = 0; i < CKPT_LAZY_RANGES_MAX; i++)
        __atomic_store_n(&range_done[i], 0, __ATOMIC_RELAXED);
}

static uint32_t listed_count(void)
{
    uint32_t n = __atomic_load_n(&ckpt_shim.restore_info.lazy_nranges, __ATOMIC_RELAXED);
    return n < CKPT_LAZY_RANGES_MAX ? n : CKPT_LAZY_RANGES_MAX;
}

/* The first listed range that ends after addr (ranges are in address order). */
static uint32_t first_range_ending_after(uint64_t addr, uint32_t n)
{
    const struct ckpt_lazy_range *r = ckpt_shim.restore_info.lazy_ranges;
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r[mid].end <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int advice_differs_on_file_mappings(int advice)
{
    return advice == MADV_DONTNEED || advice == MADV_DONTNEED_LOCKED || advice == MADV_FREE ||
           advice == MADV_WIPEONFORK;
}

/* [lo, hi): the page range the kernel would act on; 0 when it would refuse the call anyway. */
static int page_range(void *addr, size_t len, uint64_t *lo, uint64_t *hi)
{
    uint64_t a = (uint64_t)addr;
    if (a % PAGE || len == 0 || len > ~0ull - a - PAGE)
        return 0;
    *lo = a;
    *hi = (a + len + PAGE - 1) & ~(PAGE - 1);
    return 1;
}

int lazyanon_concerns(void *addr, size_t len, int advice)
{
    uint64_t lo, hi;
    uint32_t n = listed_count();
    if (!n || !advice_differs_on_file_mappings(advice) || !page_range(addr, len, &lo, &hi))
        return 0;
    const struct ckpt_lazy_range *r = ckpt_shim.restore_info.lazy_ranges;
    for (uint32_t i = first_range_ending_after(lo, n); i < n && r[i].start < hi; i++)
        if (!__atomic_load_n(&range_done[i], __ATOMIC_RELAXED))
            return 1;
    return 0;
}

static int is_image_mapping(const struct map_entry *e)
{
    if (!e->inode || e->shared)
        return 0;
    const struct ckpt_restore_info *info = &ckpt_shim.restore_info;
    uint64_t dev = map_entry_dev(e);
    for (uint32_t i = 0; i < info->lazy_nimages && i <= CKPT_PARENTS_MAX; i++)
        if (info->lazy_images[i].dev == dev && info->lazy_images[i].ino == e->inode)
            return 1;
    return 0;
}

static int mmap_prot(uint32_t prot)
{
    return (prot & CKPT_PROT_READ ? PROT_READ : 0) | (prot & CKPT_PROT_WRITE ? PROT_WRITE : 0) |
           (prot & CKPT_PROT_EXEC ? PROT_EXEC : 0);
}

/* [lo, hi) becomes fresh anonymous memory with protection prot: zeros, or (keep) the
 * contents it had, moved in whole by mremap so that no reader sees a half-copied page. */
static void make_anonymous(uint64_t lo, uint64_t hi, uint32_t prot, int keep)
{
    size_t len = hi - lo;
    if (!keep) {
        sys_mmap((void *)lo, len, mmap_prot(prot), MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        return;
    }
    if (!(prot & CKPT_PROT_READ))
        return; /* cannot be copied without changing its protection: left to the kernel */
    void *copy = sys_mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (sys_mmap_failed(copy))
        return;
    ck_memcpy(copy, (const void *)lo, len);
    if (mmap_prot(prot) != (PROT_READ | PROT_WRITE))
        sys_mprotect(copy, len, mmap_prot(prot));
    if (sys_mmap_failed(sys_mremap(copy, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)lo)))
        sys_munmap(copy, len);
}

/* /proc/self/maps, whole, in a mapping of its own (*cap bytes, NUL-terminated), or NULL. */
static char *read_own_maps(size_t *cap)
{
    for (size_t size = 256 * 1024; size <= (256ul << 20); size *= 4) {
        char *buf = sys_mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (sys_mmap_failed(buf))
            return 0;
        long fd = sys_openat(AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
        size_t used = 0;
        long got = fd < 0 ? -1 : 1;
        while (got > 0 && used < size - 1) {
            got = sys_read((int)fd, buf + used, size - 1 - used);
            if (got > 0)
                used += (size_t)got;
        }
        if (fd >= 0)
            sys_close((int)fd);
        if (got == 0) {
            buf[used] = 0;
            *cap = size;
            return buf;
        }
        sys_munmap(buf, size);
        if (got < 0)
            return 0;
    }
    return 0;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Every part of [lo, hi) inside a listed range and still mapped from an image is made
 * anonymous; a range found with no such part left is marked done. */
static void anonymize_image_parts(uint64_t lo, uint64_t hi, int keep)
{
    size_t cap;
    char *maps = read_own_maps(&cap);
    if (!maps)
        return;
    uint32_t n = listed_count();
    const struct ckpt_lazy_range *r = ckpt_shim.restore_info.lazy_ranges;
    uint8_t left[CKPT_LAZY_RANGES_MAX / 8] = {0}; /* ranges with a part still from an image */
    char *cursor = maps;
    struct map_entry e;
    while (maps_next(&cursor, &e) > 0) {
        if (!is_image_mapping(&e))
            continue;
        for (uint32_t i = first_range_ending_after(e.start, n); i < n && r[i].start < e.end; i++) {
            uint64_t s = max_u64(e.start, r[i].start), t = min_u64(e.end, r[i].end);
            uint64_t a = max_u64(s, lo), b = min_u64(t, hi);
            if (a < b)
                make_anonymous(a, b, e.prot, keep);
            if (a >= b || s < a || b < t)
                left[i / 8] |= (uint8_t)(1u << (i % 8));
        }
    }
    sys_munmap(maps, cap);
    for (uint32_t i = 0; i < n; i++)
        if (!(left[i / 8] & (1u << (i % 8))))
            __atomic_store_n(&range_done[i], 1, __ATOMIC_RELAXED);
}

int lazyanon_madvise(void *addr, size_t len, int advice, int (*real)(void *, size_t, int))
{
    uint64_t lo, hi;
    if (!page_range(addr, len, &lo, &hi))
        return real(addr, len, advice);
    /* The kernel refuses these on a file mapping: anonymous first. */
    if (advice == MADV_FREE || advice == MADV_WIPEONFORK) {
        anonymize_image_parts(lo, hi, advice == MADV_WIPEONFORK);
        return real(addr, len, advice);
    }
    /* MADV_DONTNEED(_LOCKED): what the kernel refuses (locked pages, a hole) stays as it is. */
    int rc = real(addr, len, advice);
    if (rc == 0)
        anonymize_image_parts(lo, hi, 0);
    return rc;
}
