/* The shim's descriptor bookkeeping (preload/fdtable.c): what the wrappers record for open,
 * dup, close and close_range, including descriptors in chunks far apart and out of range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../include/ckpt/image.h"
#include "fdtable.h"

static struct fdtable table;

static int reset(void **state)
{
    (void)state;
    for (int i = 0; i < FDTABLE_CHUNKS; i++)
        table.chunks[i] = NULL; /* chunks leak on purpose: the shim never frees them */
    return 0;
}

static uint8_t origin(int fd, uint32_t *flags)
{
    return fdtable_get(&table, fd, flags);
}

static void unknown_descriptors_have_no_origin(void **state)
{
    (void)state;
    uint32_t flags = 123;
    assert_int_equal(origin(5, &flags), CKPT_ORIGIN_UNKNOWN);
    assert_int_equal(flags, 0);
    assert_int_equal(origin(-1, &flags), CKPT_ORIGIN_UNKNOWN);
    assert_int_equal(origin(FDTABLE_CHUNK * FDTABLE_CHUNKS, &flags), CKPT_ORIGIN_UNKNOWN);
}

static void open_records_origin_and_flags(void **state)
{
    (void)state;
    uint32_t flags;
    fdtable_set(&table, 3, CKPT_ORIGIN_OPEN, 0101);
    assert_int_equal(origin(3, &flags), CKPT_ORIGIN_OPEN);
    assert_int_equal(flags, 0101);
    assert_int_equal(origin(4, &flags), CKPT_ORIGIN_UNKNOWN);
}

static void dup_copies_flags_and_marks_the_copy(void **state)
{
    (void)state;
    uint32_t flags;
    fdtable_set(&table, 3, CKPT_ORIGIN_OPEN, 02);
    fdtable_dup(&table, 3, 10);
    assert_int_equal(origin(10, &flags), CKPT_ORIGIN_DUP);
    assert_int_equal(flags, 02);
    assert_int_equal(origin(3, &flags), CKPT_ORIGIN_OPEN); /* the original is unchanged */
}

static void close_forgets_only_that_descriptor(void **state)
{
    (void)state;
    uint32_t flags;
    fdtable_set(&table, 7, CKPT_ORIGIN_SOCKET, 1);
    fdtable_set(&table, 8, CKPT_ORIGIN_PIPE, 0);
    fdtable_clear(&table, 7);
    assert_int_equal(origin(7, &flags), CKPT_ORIGIN_UNKNOWN);
    assert_int_equal(origin(8, &flags), CKPT_ORIGIN_PIPE);
    fdtable_clear(&table, 900000); /* never seen: nothing to do, no crash */
}

static void close_range_spans_chunks_and_missing_ones(void **state)
{
    (void)state;
    uint32_t flags;
    int far = 5 * FDTABLE_CHUNK + 17;
    fdtable_set(&table, 2, CKPT_ORIGIN_INHERITED, 0);
    fdtable_set(&table, 5, CKPT_ORIGIN_OPEN, 0);
    fdtable_set(&table, FDTABLE_CHUNK + 1, CKPT_ORIGIN_OPEN, 0);
    fdtable_set(&table, far, CKPT_ORIGIN_ACCEPT, 0);
    fdtable_clear_range(&table, 3, ~0U); /* close_range(3, ~0U): chunks 2-4 never existed */
    assert_int_equal(origin(2, &flags), CKPT_ORIGIN_INHERITED);
    assert_int_equal(origin(5, &flags), CKPT_ORIGIN_UNKNOWN);
    assert_int_equal(origin(FDTABLE_CHUNK + 1, &flags), CKPT_ORIGIN_UNKNOWN);
    assert_int_equal(origin(far, &flags), CKPT_ORIGIN_UNKNOWN);
}

static void reuse_after_close_takes_the_new_origin(void **state)
{
    (void)state;
    uint32_t flags;
    fdtable_set(&table, 4, CKPT_ORIGIN_PIPE, 0);
    fdtable_clear(&table, 4);
    fdtable_set(&table, 4, CKPT_ORIGIN_OPEN, 01000);
    assert_int_equal(origin(4, &flags), CKPT_ORIGIN_OPEN);
    assert_int_equal(flags, 01000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(unknown_descriptors_have_no_origin, reset),
        cmocka_unit_test_setup(open_records_origin_and_flags, reset),
        cmocka_unit_test_setup(dup_copies_flags_and_marks_the_copy, reset),
        cmocka_unit_test_setup(close_forgets_only_that_descriptor, reset),
        cmocka_unit_test_setup(close_range_spans_chunks_and_missing_ones, reset),
        cmocka_unit_test_setup(reuse_after_close_takes_the_new_origin, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
