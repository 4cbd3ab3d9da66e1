/* The libc-free helpers in state/util.c: the formatter behind every error message of the
 * checkpoint handler and the restorer, number parsing of /proc files, string copies and
 * whole-file reads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "util.h"

/* Every errno Linux can return has the C library's text (ESPIPE, ENXIO, ETXTBSY, EXDEV and
 * all the others), and a number it does not use is named, as glibc does. */
static void describes_every_errno_like_the_c_library(void **state)
{
    (void)state;
    for (int e = 1; e <= 200; e++)
        if (strcmp(ck_strerror(e), strerror(e)))
            fail_msg("errno %d: \"%s\", the C library says \"%s\"", e, ck_strerror(e), strerror(e));
    assert_string_equal(ck_strerror(ESPIPE), "Illegal seek");
    assert_string_equal(ck_strerror(EXDEV), "Invalid cross-device link");
    assert_string_equal(ck_strerror(4095), "Unknown error 4095");
    assert_string_equal(ck_strerror(-3), "Unknown error -3");
}

static void formats_every_conversion(void **state)
{
    (void)state;
    char buf[256];
    size_t n = ck_format(buf, sizeof buf, "%s|%d|%d|%u|%lu|%x|%lx|%p|%zu|%c|%%", "str", 42, -7,
                         4000000000u, 18446744073709551615UL, 0xbeefu, 0x7fffdeadbeefUL,
                         (void *)0x1000, (size_t)12, 'z');
    assert_string_equal(buf, "str|42|-7|4000000000|18446744073709551615|beef|7fffdeadbeef|0x1000|"
                             "12|z|%");
    assert_int_equal(n, strlen(buf));
}

static void formats_extreme_integers(void **state)
{
    (void)state;
    char buf[128];
    ck_format(buf, sizeof buf, "%d %ld %u %x %lx", (int)0x80000000u, (long)INT64_MIN, 0u, 0u, 0UL);
    assert_string_equal(buf, "-2147483648 -9223372036854775808 0 0 0");
}

static void formats_null_string_safely(void **state)
{
    (void)state;
    char buf[32];
    /* volatile: the compiler must not see the NULL and object to it (that is the point). */
    const char *volatile nothing = NULL;
    ck_format(buf, sizeof buf, "[%s]", nothing);
    assert_string_equal(buf, "[(null)]");
}

static void truncates_but_always_terminates(void **state)
{
    (void)state;
    char buf[8];
    memset(buf, 'X', sizeof buf);
    size_t n = ck_format(buf, sizeof buf, "%s-%d", "abcdef", 12345);
    assert_int_equal(n, strlen("abcdef-12345"));
    assert_string_equal(buf, "abcdef-");

    char one[1] = {'X'};
    assert_int_equal(ck_format(one, sizeof one, "hello"), 5);
    assert_int_equal(one[0], 0);
}

static void reports_length_without_writing_when_capacity_is_zero(void **state)
{
    (void)state;
    char guard = 'G';
    assert_int_equal(ck_format(&guard, 0, "%s %u", "abc", 100u), 7);
    assert_int_equal(guard, 'G');
}

static void parses_unsigned_numbers_and_advances(void **state)
{
    (void)state;
    const char *p = "12345 rest";
    assert_true(ck_parse_uint(&p, 10) == 12345);
    assert_string_equal(p, " rest");

    p = "7fffdeadBEEF-";
    assert_true(ck_parse_uint(&p, 16) == 0x7fffdeadbeefULL);
    assert_string_equal(p, "-");

    p = "ffffffffffffffff";
    assert_true(ck_parse_uint(&p, 16) == UINT64_MAX);
    assert_string_equal(p, "");

    p = "0777x";
    assert_true(ck_parse_uint(&p, 8) == 0777);
    assert_string_equal(p, "x");
}

static void parses_nothing_when_no_digit_comes_first(void **state)
{
    (void)state;
    const char *text = "abc";
    const char *p = text;
    assert_true(ck_parse_uint(&p, 10) == 0);
    assert_ptr_equal(p, text);

    text = "9";
    p = text;
    assert_true(ck_parse_uint(&p, 8) == 0); /* 9 is not an octal digit */
    assert_ptr_equal(p, text);
}

static void copies_strings_with_a_bound(void **state)
{
    (void)state;
    char buf[6];
    assert_int_equal(ck_strlcpy(buf, "hello", sizeof buf), 0);
    assert_string_equal(buf, "hello");
    assert_int_equal(ck_strlcpy(buf, "hello!", sizeof buf), -1);
    assert_string_equal(buf, "hello");
    assert_int_equal(ck_strlcpy(buf, "", sizeof buf), 0);
    assert_string_equal(buf, "");
    char untouched = 'U';
    assert_int_equal(ck_strlcpy(&untouched, "x", 0), -1);
    assert_int_equal(untouched, 'U');
}

/* Writes text to a new temporary file and returns its path in path. */
static void formats_widths_and_flags(void **state)
{
    (void)state;
    char buf[64];
    ck_format(buf, sizeof buf, "[%08lx|%s|%5d|%-3d|%x]", 0x1234UL, "next", -42, 7, 255);
    assert_string_equal(buf, "[00001234|next|  -42|7  |ff]");
    ck_format(buf, sizeof buf, "%05d|%3s|%-4s|", -42, "ab", "cd");
    assert_string_equal(buf, "-0042| ab|cd  |");
}

static void make_temp_file(char *path, size_t cap, const char *text, size_t len)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, cap, "%s/ckpt-test-util-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static void reads_a_whole_file_and_terminates_it(void **state)
{
    (void)state;
    char path[256], buf[64];
    const char text[] = "line one\nline two\n";
    make_temp_file(path, sizeof path, text, strlen(text));
    memset(buf, 'X', sizeof buf);
    assert_int_equal(ck_read_file(path, buf, sizeof buf), (long)strlen(text));
    assert_string_equal(buf, text);
    unlink(path);
}

static void reads_an_empty_file(void **state)
{
    (void)state;
    char path[256], buf[8];
    make_temp_file(path, sizeof path, "", 0);
    buf[0] = 'X';
    assert_int_equal(ck_read_file(path, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    unlink(path);
}

static void reads_a_file_that_exactly_fills_the_buffer(void **state)
{
    (void)state;
    char path[256], buf[8];
    make_temp_file(path, sizeof path, "1234567", 7);
    assert_int_equal(ck_read_file(path, buf, sizeof buf), 7);
    assert_string_equal(buf, "1234567");
    unlink(path);
}

static void refuses_a_file_larger_than_the_buffer(void **state)
{
    (void)state;
    char path[256], buf[16];
    char text[100];
    memset(text, 'a', sizeof text);
    make_temp_file(path, sizeof path, text, sizeof text);
    assert_int_equal(ck_read_file(path, buf, sizeof buf), -EFBIG);
    unlink(path);
}

static void reads_proc_files_whose_size_stat_does_not_know(void **state)
{
    (void)state;
    char buf[4096];
    long n = ck_read_file("/proc/self/status", buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal((long)strlen(buf), n);
    assert_non_null(strstr(buf, "SigCgt:"));
}

static void returns_negative_errno_for_a_missing_file(void **state)
{
    (void)state;
    char buf[16];
    assert_int_equal(ck_read_file("/nonexistent/ckpt/file", buf, sizeof buf), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(describes_every_errno_like_the_c_library),
        cmocka_unit_test(formats_every_conversion),
        cmocka_unit_test(formats_extreme_integers),
        cmocka_unit_test(formats_widths_and_flags),
        cmocka_unit_test(formats_null_string_safely),
        cmocka_unit_test(truncates_but_always_terminates),
        cmocka_unit_test(reports_length_without_writing_when_capacity_is_zero),
        cmocka_unit_test(parses_unsigned_numbers_and_advances),
        cmocka_unit_test(parses_nothing_when_no_digit_comes_first),
        cmocka_unit_test(copies_strings_with_a_bound),
        cmocka_unit_test(reads_a_whole_file_and_terminates_it),
        cmocka_unit_test(reads_an_empty_file),
        cmocka_unit_test(reads_a_file_that_exactly_fills_the_buffer),
        cmocka_unit_test(refuses_a_file_larger_than_the_buffer),
        cmocka_unit_test(reads_proc_files_whose_size_stat_does_not_know),
        cmocka_unit_test(returns_negative_errno_for_a_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
