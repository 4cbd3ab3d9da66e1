/* Huge pages tracked by content; see page_hashes.h.
 *
 * ================ NO LIBC IN THIS FILE (writer child and restore-run) ================ */
#include "page_hashes.h"
#include "hash.h"
#include "image_check.h"
#include "util.h"

/* ======================================================================================
 * save side: the writer
 * ====================================================================================== */

void page_hashes_begin(struct page_hashes *ph, const struct memory_range *huge, size_t nhuge,
                       uint64_t *scratch, size_t cap, const struct image_view *base)
{
    *ph = (struct page_hashes){
        .huge = huge, .nhuge = nhuge, .hash = scratch, .cap = cap, .base = base};
    ph->base_at = base ? image_first(base) : 0;
    while (ph->base_at && ph->base_at->kind != CKPT_REC_PAGE_HASHES)
        ph->base_at = image_next(base, ph->base_at);
}

/* Where in ph->hash the page at addr goes, or -1 if addr is not in huge memory. */
static long slot_of(struct page_hashes *ph, uint64_t addr)
{
    while (ph->at < ph->nhuge && ph->huge[ph->at].end <= addr) {
        ph->first_page += (ph->huge[ph->at].end - ph->huge[ph->at].start) / CK_PAGE;
        ph->at++;
    }
    if (ph->at == ph->nhuge || ph->huge[ph->at].start > addr)
        return -1;
    return (long)(ph->first_page + (addr - ph->huge[ph->at].start) / CK_PAGE);
}

/* The hash the base recorded for the page at addr, 0 if none. */
static uint64_t base_hash(struct page_hashes *ph, uint64_t addr)
{
    for (; ph->base_at; ph->base_at = image_next(ph->base, ph->base_at)) {
        if (ph->base_at->kind != CKPT_REC_PAGE_HASHES)
            return 0; /* they come last, together */
        const struct ckpt_page_hashes_record *h = (const void *)ph->base_at;
        if (h->addr + h->npages * CK_PAGE <= addr)
            continue;
        if (h->addr > addr)
            return 0;
        return ((const uint64_t *)(h + 1))[(addr - h->addr) / CK_PAGE];
    }
    return 0;
}

int page_hashes_changed(struct page_hashes *ph, uint64_t addr)
{
    long slot = slot_of(ph, addr);
    if (slot < 0)
        return -1;
    if ((size_t)slot >= ph->cap)
        return 1;
    uint64_t h = ck_hash64((const void *)addr, CK_PAGE);
    h += h == 0; /* 0 stands for "not seen" */
    ph->hash[slot] = h;
    return base_hash(ph, addr) != h;
}

int page_hashes_save(struct image_writer *w, const struct page_hashes *ph)
{
    size_t first = 0;
    for (size_t i = 0; i < ph->nhuge && first < ph->cap; i++) {
        uint64_t pages = (ph->huge[i].end - ph->huge[i].start) / CK_PAGE;
        for (uint64_t done = 0; done < pages && first + done < ph->cap;) {
            uint64_t n = pages - done;
            n = n < CKPT_PAGE_HASHES_SPLIT ? n : CKPT_PAGE_HASHES_SPLIT;
            n = first + done + n <= ph->cap ? n : ph->cap - first - done;
            struct ckpt_page_hashes_record *r =
                iw_record(w, CKPT_REC_PAGE_HASHES, sizeof *r + n * 8, 0);
            if (!r)
                return w->error;
            r->addr = ph->huge[i].start + done * CK_PAGE;
            r->npages = n;
            ck_memcpy(r + 1, ph->hash + first + done, n * 8);
            done += n;
        }
        first += pages;
    }
    return w->error;
}

/* ======================================================================================
 * check side
 * ====================================================================================== */

int check_page_hashes(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                      struct ck_error *err)
{
    (void)v;
    const struct ckpt_page_hashes_record *h = (const void *)r;
    if (h->npages == 0 || h->npages > CKPT_PAGE_HASHES_SPLIT ||
        r->length != sizeof *h + h->npages * 8 || h->addr % CKPT_PAGE_SIZE ||
        h->addr < USER_ADDR_MIN || h->addr > USER_ADDR_MAX ||
        h->npages > (USER_ADDR_MAX - h->addr) / CKPT_PAGE_SIZE)
        return ck_fail(err, -1, "malformed page hashes at %lx", (unsigned long)h->addr);
    if (h->addr < w->last_hashes_end)
        return ck_fail(err, -1, "page hashes at %lx out of order", (unsigned long)h->addr);
    w->last_hashes_end = h->addr + h->npages * CKPT_PAGE_SIZE;
    return 0;
}

IMAGE_NOTHING_TO_COMPLETE(page_hashes)
