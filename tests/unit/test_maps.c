/* maps_next() must read every kind of /proc/PID/maps line the kernel writes, and refuse
 * lines it cannot make sense of instead of inventing a region. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "maps.h"
#include "../include/ckpt/image.h"

/* Parses the single line text (copied, since maps_next writes into its buffer). */
static int parse_line(const char *text, struct map_entry *e, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", text);
    char *cursor = buf;
    return maps_next(&cursor, e);
}

static void reads_file_mapping_with_offset_and_device(void **state)
{
    (void)state;
    char buf[256];
    struct map_entry e;
    assert_int_equal(parse_line("5625cf246000-5625cf24b000 r-xp 00002000 fe:01 247134          "
                                "           /usr/bin/cat\n",
                                &e, buf, sizeof buf),
                     1);
    assert_true(e.start == 0x5625cf246000ULL);
    assert_true(e.end == 0x5625cf24b000ULL);
    assert_int_equal(e.prot, CKPT_PROT_READ | CKPT_PROT_EXEC);
    assert_int_equal(e.shared, 0);
    assert_true(e.offset == 0x2000);
    assert_int_equal(e.dev_major, 0xfe);
    assert_int_equal(e.dev_minor, 0x01);
    assert_true(e.inode == 247134);
    assert_string_equal(e.path, "/usr/bin/cat");
}

static void reads_anonymous_mapping_with_empty_path(void **state)
{
    (void)state;
    char buf[256];
    struct map_entry e;
    /* The kernel ends anonymous lines with "0 " before the newline. */
    assert_int_equal(
        parse_line("7f77a122b000-7f77a12ef000 rw-p 00000000 00:00 0 \n", &e, buf, sizeof buf), 1);
    assert_true(e.start == 0x7f77a122b000ULL && e.end == 0x7f77a12ef000ULL);
    assert_int_equal(e.prot, CKPT_PROT_READ | CKPT_PROT_WRITE);
    assert_true(e.inode == 0);
    assert_string_equal(e.path, "");
}

static void reads_bracketed_special_regions(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        const char *path;
        uint64_t start;
    } cases[] = {
        {"562602717000-562602738000 rw-p 00000000 00:00 0                          [heap]",
         "[heap]", 0x562602717000ULL},
        {"7fffb722b000-7fffb724c000 rw-p 00000000 00:00 0                          [stack]",
         "[stack]", 0x7fffb722b000ULL},
        {"7f85ba8d0000-7f85ba8d2000 r-xp 00000000 00:00 0                          [vdso]",
         "[vdso]", 0x7f85ba8d0000ULL},
        {"7f85ba8ca000-7f85ba8ce000 r--p 00000000 00:00 0                          [vvar]",
         "[vvar]", 0x7f85ba8ca000ULL},
        {"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
         "[vsyscall]", 0xffffffffff600000ULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[256];
        struct map_entry e;
        assert_int_equal(parse_line(cases[i].line, &e, buf, sizeof buf), 1);
        assert_string_equal(e.path, cases[i].path);
        assert_true(e.start == cases[i].start);
    }
}

static void keeps_spaces_and_deleted_suffix_in_paths(void **state)
{
    (void)state;
    char buf[256];
    struct map_entry e;
    assert_int_equal(parse_line("7f0000000000-7f0000001000 rw-s 00000000 00:1f 42              "
                                "            /tmp/my data file (deleted)\n",
                                &e, buf, sizeof buf),
                     1);
    assert_string_equal(e.path, "/tmp/my data file (deleted)");
    assert_int_equal(e.shared, 1);
    assert_true(e.inode == 42);
    assert_int_equal(e.dev_minor, 0x1f);
}

static void reads_every_protection_combination(void **state)
{
    (void)state;
    for (uint32_t prot = 0; prot < 8; prot++) {
        for (int shared = 0; shared < 2; shared++) {
            char line[128], buf[128];
            snprintf(line, sizeof line, "1000-2000 %c%c%c%c 00000000 00:00 0",
                     prot & CKPT_PROT_READ ? 'r' : '-', prot & CKPT_PROT_WRITE ? 'w' : '-',
                     prot & CKPT_PROT_EXEC ? 'x' : '-', shared ? 's' : 'p');
            struct map_entry e;
            assert_int_equal(parse_line(line, &e, buf, sizeof buf), 1);
            assert_int_equal(e.prot, prot);
            assert_int_equal(e.shared, shared);
        }
    }
}

static void walks_several_lines_and_a_last_line_without_newline(void **state)
{
    (void)state;
    char buf[] = "1000-2000 r--p 00000000 08:01 10 /a\n"
                 "2000-3000 rw-p 00001000 08:01 10 /a\n"
                 "3000-5000 rw-p 00000000 00:00 0";
    char *cursor = buf;
    struct map_entry e;
    assert_int_equal(maps_next(&cursor, &e), 1);
    assert_true(e.start == 0x1000 && e.end == 0x2000);
    assert_string_equal(e.path, "/a");
    assert_int_equal(maps_next(&cursor, &e), 1);
    assert_true(e.offset == 0x1000);
    assert_string_equal(e.path, "/a");
    assert_int_equal(maps_next(&cursor, &e), 1);
    assert_true(e.start == 0x3000 && e.end == 0x5000);
    assert_string_equal(e.path, "");
    assert_int_equal(maps_next(&cursor, &e), 0);
    assert_int_equal(maps_next(&cursor, &e), 0);
}

static void reports_end_of_an_empty_buffer(void **state)
{
    (void)state;
    char buf[] = "";
    char *cursor = buf;
    struct map_entry e;
    assert_int_equal(maps_next(&cursor, &e), 0);
}

static void rejects_malformed_lines(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "garbage",
        "-2000 rw-p 00000000 00:00 0",         /* no start */
        "1000 2000 rw-p 00000000 00:00 0",     /* no dash */
        "1000-2000",                           /* nothing after the range */
        "1000-2000 rw",                        /* short permissions */
        "1000-2000 rw-p",                      /* no offset */
        "1000-2000 rw-p00000000 00:00 0",      /* no space after permissions */
        "1000-2000 rw-p 00000000 0000 0",      /* device without colon */
        "1000-2000 rw-p 00000000 00:00",       /* no inode */
        "2000-1000 rw-p 00000000 00:00 0",     /* end before start */
        "1000-1000 rw-p 00000000 00:00 0",     /* empty range */
        "\n1000-2000 rw-p 00000000 00:00 0",   /* blank line */
        "1000-2000  rw-p 00000000 00:00 0 /x", /* two spaces shift the fields */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[128];
        struct map_entry e;
        if (parse_line(bad[i], &e, buf, sizeof buf) != -1)
            fail_msg("accepted malformed line \"%s\"", bad[i]);
    }
}

static void moves_past_a_malformed_line(void **state)
{
    (void)state;
    char buf[] = "bad line\n1000-2000 rw-p 00000000 00:00 0\n";
    char *cursor = buf;
    struct map_entry e;
    assert_int_equal(maps_next(&cursor, &e), -1);
    assert_int_equal(maps_next(&cursor, &e), 1);
    assert_true(e.start == 0x1000);
    assert_int_equal(maps_next(&cursor, &e), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_file_mapping_with_offset_and_device),
        cmocka_unit_test(reads_anonymous_mapping_with_empty_path),
        cmocka_unit_test(reads_bracketed_special_regions),
        cmocka_unit_test(keeps_spaces_and_deleted_suffix_in_paths),
        cmocka_unit_test(reads_every_protection_combination),
        cmocka_unit_test(walks_several_lines_and_a_last_line_without_newline),
        cmocka_unit_test(reports_end_of_an_empty_buffer),
        cmocka_unit_test(rejects_malformed_lines),
        cmocka_unit_test(moves_past_a_malformed_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
