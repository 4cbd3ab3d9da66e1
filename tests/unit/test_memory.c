/* memory_save on this very process: the runs it records for a sparse anonymous map hold
 * exactly the pages with data — not pages never touched, not pages written and cleared, not
 * pages only read — in address order, cut at CKPT_RUN_SPLIT; the same with PAGEMAP_SCAN and
 * with pagemap read entry by entry, and with a result buffer small enough that the scan
 * must be resumed many times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>
#include <fcntl.h>
#include <unistd.h>

#include "image_io.h"
#include "memory.h"

#define PAGE 4096UL
#define SPARSE_PAGES 8192UL /* 32 MiB: every 16th page holds data */
#define DENSE_PAGES 1280UL  /* 5 MiB, all data: runs of 2 + 2 + 1 MiB */
#define META_CAP (64UL << 20)

static unsigned char *sparse, *dense;

static int setup(void **state)
{
    (void)state;
    sparse =
        mmap(NULL, SPARSE_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    dense =
        mmap(NULL, DENSE_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (sparse == MAP_FAILED || dense == MAP_FAILED)
        return -1;
    /* No huge pages: a fault must not make the untouched neighbours present. */
    madvise(sparse, SPARSE_PAGES * PAGE, MADV_NOHUGEPAGE);
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < SPARSE_PAGES; i += 16) {
        sparse[i * PAGE + 7] = (unsigned char)(i / 16 % 255 + 1); /* data */
        sparse[(i + 5) * PAGE] = 1;                               /* written, then cleared */
        sparse[(i + 5) * PAGE] = 0;
        sink ^= sparse[(i + 9) * PAGE]; /* only read: the shared zero page */
    }
    for (size_t i = 0; i < DENSE_PAGES; i++)
        dense[i * PAGE] = 1;
    return 0;
}

struct saved_runs {
    uint64_t sparse_pages, dense_runs, dense_bytes;
    int in_order, sparse_only_data, dense_split_ok;
};

static void collect(const char *meta, size_t len, struct saved_runs *out)
{
    uint64_t s0 = (uint64_t)sparse, s1 = s0 + SPARSE_PAGES * PAGE;
    uint64_t d0 = (uint64_t)dense, d1 = d0 + DENSE_PAGES * PAGE;
    uint64_t last_end = 0;
    *out = (struct saved_runs){0, 0, 0, 1, 1, 1};
    for (size_t off = 0; off + sizeof(struct ckpt_record_head) <= len;) {
        const struct ckpt_record_head *h = (const void *)(meta + off);
        if (h->kind == CKPT_REC_END || h->length == 0)
            break;
        if (h->kind == CKPT_REC_REGION)
            last_end = 0;
        if (h->kind == CKPT_REC_RUN) {
            const struct ckpt_run_record *u = (const void *)h;
            out->in_order &= u->addr >= last_end;
            last_end = u->addr + u->extent.length;
            if (u->addr >= s0 && u->addr < s1)
                for (uint64_t a = u->addr; a < u->addr + u->extent.length; a += PAGE) {
                    out->sparse_pages++;
                    out->sparse_only_data &= (a - s0) / PAGE % 16 == 0;
                }
            if (u->addr >= d0 && u->addr < d1) {
                out->dense_runs++;
                out->dense_bytes += u->extent.length;
                out->dense_split_ok &= u->extent.length <= CKPT_RUN_SPLIT;
            }
        }
        off += h->length;
    }
}

static void save_and_check(size_t pagemap_entries, int no_scan)
{
    static char maps[1 << 20];
    char *meta = malloc(META_CAP);
    uint64_t *pagemap = malloc(pagemap_entries * 8);
    int fd = open("/dev/null", O_WRONLY);
    assert_non_null(meta);
    assert_non_null(pagemap);
    assert_true(fd >= 0);
    struct image_writer w;
    iw_init(&w, fd, meta, META_CAP);
    struct memory_save_args a = {.maps_buf = maps,
                                 .maps_cap = sizeof maps,
                                 .pagemap = pagemap,
                                 .pagemap_entries = pagemap_entries,
                                 .no_pagemap_scan = no_scan};
    struct ck_error err;
    assert_int_equal(memory_save(&w, &a, &err), 0);
    iw_flush(&w);
    assert_int_equal(w.error, 0);
    struct saved_runs r;
    collect(w.meta, w.meta_len, &r);
    assert_true(r.in_order);
    assert_true(r.sparse_only_data);
    assert_int_equal(r.sparse_pages, SPARSE_PAGES / 16);
    assert_int_equal(r.dense_bytes, DENSE_PAGES * PAGE);
    assert_int_equal(r.dense_runs, 3);
    assert_true(r.dense_split_ok);
    close(fd);
    free(pagemap);
    free(meta);
}

static void pagemap_scan_with_room(void **state)
{
    (void)state;
    save_and_check(65536, 0);
}

static void pagemap_scan_resumed_many_times(void **state)
{
    (void)state;
    save_and_check(6 /* two ranges per call */, 0);
}

static void pagemap_entries(void **state)
{
    (void)state;
    save_and_check(65536, 1);
}

static void pagemap_entries_in_small_chunks(void **state)
{
    (void)state;
    save_and_check(7, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pagemap_scan_with_room),
        cmocka_unit_test(pagemap_scan_resumed_many_times),
        cmocka_unit_test(pagemap_entries),
        cmocka_unit_test(pagemap_entries_in_small_chunks),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
