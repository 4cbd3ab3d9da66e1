/* checkpoint-run's command line: signal names, defaults, where options stop, and the
 * messages for mistakes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "launch_options.h"

#define ARGC(argv) ((int)(sizeof(argv) / sizeof((argv)[0])) - 1)

static void parses_signal_numbers(void **state)
{
    (void)state;
    assert_int_equal(ckpt_parse_signal("12"), SIGUSR2);
    assert_int_equal(ckpt_parse_signal("1"), SIGHUP);
    assert_int_equal(ckpt_parse_signal("64"), 64);
    assert_int_equal(ckpt_parse_signal("010"), 10);
}

static void parses_signal_names_in_any_case_with_or_without_sig(void **state)
{
    (void)state;
    assert_int_equal(ckpt_parse_signal("USR2"), SIGUSR2);
    assert_int_equal(ckpt_parse_signal("SIGUSR1"), SIGUSR1);
    assert_int_equal(ckpt_parse_signal("usr1"), SIGUSR1);
    assert_int_equal(ckpt_parse_signal("sigTerm"), SIGTERM);
    assert_int_equal(ckpt_parse_signal("WINCH"), SIGWINCH);
    assert_int_equal(ckpt_parse_signal("SIGSYS"), SIGSYS);
    assert_int_equal(ckpt_parse_signal("cld"), SIGCHLD);
}

static void parses_realtime_signal_names(void **state)
{
    (void)state;
    assert_int_equal(ckpt_parse_signal("RTMIN"), SIGRTMIN);
    assert_int_equal(ckpt_parse_signal("RTMIN+3"), SIGRTMIN + 3);
    assert_int_equal(ckpt_parse_signal("sigrtmin+0"), SIGRTMIN);
    assert_int_equal(ckpt_parse_signal("SIGRTMAX"), SIGRTMAX);
    assert_int_equal(ckpt_parse_signal("rtmax-2"), SIGRTMAX - 2);
    assert_int_equal(ckpt_parse_signal("RTMIN+30"), SIGRTMAX);
}

static void rejects_signals_that_cannot_request_a_checkpoint(void **state)
{
    (void)state;
    static const char *const bad[] = {
        NULL,      "",        "0",        "65",       "100",        "99999999999", "KILL",
        "SIGKILL", "9",       "STOP",     "sigstop",  "19",         "-1",          "+12",
        " 12",     "12 ",     "USR3",     "SIG",      "SIGSIGUSR1", "RTMIN-1",     "RTMAX+1",
        "RTMIN+",  "RTMIN+x", "RTMIN+31", "RTMAX-31", "32",         "33",          "12abc",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ckpt_parse_signal(bad[i]) != -1)
            fail_msg("accepted signal \"%s\"", bad[i] ? bad[i] : "(null)");
}

static void names_signals_for_messages(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(ckpt_signal_name(SIGUSR2, buf, sizeof buf), "USR2");
    assert_string_equal(ckpt_signal_name(SIGCHLD, buf, sizeof buf), "CHLD");
    assert_string_equal(ckpt_signal_name(SIGRTMIN, buf, sizeof buf), "RTMIN");
    assert_string_equal(ckpt_signal_name(SIGRTMIN + 3, buf, sizeof buf), "RTMIN+3");
    assert_string_equal(ckpt_signal_name(SIGRTMAX, buf, sizeof buf), "RTMAX");
    assert_string_equal(ckpt_signal_name(32, buf, sizeof buf), "32");
    char tiny[3];
    assert_string_equal(ckpt_signal_name(SIGUSR2, tiny, sizeof tiny), "US");
}

static void signal_names_parse_back_to_their_number(void **state)
{
    (void)state;
    for (int sig = 1; sig <= 64; sig++) {
        char buf[32];
        int parsed = ckpt_parse_signal(ckpt_signal_name(sig, buf, sizeof buf));
        if (sig == SIGKILL || sig == SIGSTOP || (sig > SIGSYS && sig < SIGRTMIN))
            assert_int_equal(parsed, -1);
        else if (parsed != sig)
            fail_msg("signal %d named \"%s\" parses as %d", sig, buf, parsed);
    }
}

static void takes_keep_and_refuses_bad_counts(void **state)
{
    (void)state;
    char *ok[] = {"checkpoint-run", "--keep", "3", "prog", NULL};
    char *inline_form[] = {"checkpoint-run", "--keep=12", "prog", NULL};
    struct launch_options o;
    char err[256];
    assert_int_equal(ckpt_parse_launch_options(ARGC(ok), ok, &o, err, sizeof err), 0);
    assert_int_equal(o.keep, 3);
    assert_int_equal(ckpt_parse_launch_options(ARGC(inline_form), inline_form, &o, err, sizeof err),
                     0);
    assert_int_equal(o.keep, 12);
    const char *bad[] = {"0", "-1", "x", "", "1001", "99999999999", "2a"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *argv[] = {"checkpoint-run", "--keep", (char *)bad[i], "prog", NULL};
        assert_int_equal(ckpt_parse_launch_options(ARGC(argv), argv, &o, err, sizeof err), -1);
        char want[128];
        snprintf(want, sizeof want, "--keep %s: not a number of images from 1 to 1000", bad[i]);
        assert_string_equal(err, want);
    }
    char *missing[] = {"checkpoint-run", "--keep", NULL};
    assert_int_equal(ckpt_parse_launch_options(ARGC(missing), missing, &o, err, sizeof err), -1);
    assert_string_equal(err, "--keep: missing N");
}

static void takes_interval_durations_and_refuses_bad_ones(void **state)
{
    (void)state;
    const struct {
        const char *text;
        unsigned long long ns;
    } good[] = {{"90", 90000000000ULL},     {"90s", 90000000000ULL},      {"10m", 600000000000ULL},
                {"1h", 3600000000000ULL},   {"0.5s", 500000000ULL},       {"0.1", 100000000ULL},
                {"1.5h", 5400000000000ULL}, {"720h", 2592000000000000ULL}};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(ckpt_parse_interval(good[i].text) == good[i].ns);
    struct launch_options o;
    char err[256];
    char *inline_form[] = {"checkpoint-run", "--interval=2m", "prog", NULL};
    assert_int_equal(ckpt_parse_launch_options(ARGC(inline_form), inline_form, &o, err, sizeof err),
                     0);
    assert_true(o.interval_ns == 120000000000ULL);
    char *none[] = {"checkpoint-run", "prog", NULL};
    assert_int_equal(ckpt_parse_launch_options(ARGC(none), none, &o, err, sizeof err), 0);
    assert_true(o.interval_ns == 0);
    const char *bad[] = {
        "0", "0s", "0.05s", "", "s", "10x", "-1", "1.2.3", "721h", "10 s", "99999999999999999999",
        ".", "5ms"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_true(ckpt_parse_interval(bad[i]) == 0);
        char *argv[] = {"checkpoint-run", "--interval", (char *)bad[i], "prog", NULL};
        assert_int_equal(ckpt_parse_launch_options(ARGC(argv), argv, &o, err, sizeof err), -1);
        char want[256];
        snprintf(want, sizeof want,
                 "--interval: %s is not a duration from 0.1s to 30 days (write seconds like 90 "
                 "or 0.5, or a number with a unit: 90s, 10m, 1h)",
                 bad[i]);
        assert_string_equal(err, want);
    }
    char *missing[] = {"checkpoint-run", "--interval", NULL};
    assert_int_equal(ckpt_parse_launch_options(ARGC(missing), missing, &o, err, sizeof err), -1);
    assert_string_equal(err, "--interval: missing DURATION");
}

static void takes_a_stop_timeout(void **state)
{
    (void)state;
    struct launch_options o;
    char err[256];
    char *given[] = {"checkpoint-run", "--stop-timeout", "0.5", "prog", NULL};
    assert_int_equal(ckpt_parse_launch_options(ARGC(given), given, &o, err, sizeof err), 0);
    assert_true(o.stop_timeout_ns == 500000000ULL);
    assert_string_equal(o.argv[0], "prog");
    char *none[] = {"checkpoint-run", "prog", NULL};
    assert_int_equal(ckpt_parse_launch_options(ARGC(none), none, &o, err, sizeof err), 0);
    assert_true(o.stop_timeout_ns == 0);
    char *bad[] = {"checkpoint-run", "--stop-timeout=0", "prog", NULL};
    assert_int_equal(ckpt_parse_launch_options(ARGC(bad), bad, &o, err, sizeof err), -1);
    assert_string_equal(err, "--stop-timeout: 0 is not a duration from 0.1s to 30 days (write "
                             "seconds like 2 or 0.5, or a number with a unit: 2s, 1m)");
}

static void takes_a_compression_level(void **state)
{
    (void)state;
    struct launch_options o;
    char err[256];
    char *alone[] = {"checkpoint-run", "--compress", "3", NULL};
    assert_int_equal(ckpt_parse_launch_options(ARGC(alone), alone, &o, err, sizeof err), 0);
    assert_int_equal(o.compress_level, CKPT_COMPRESS_DEFAULT_LEVEL);
    assert_string_equal(o.argv[0], "3"); /* a program, not a level */
    char *level[] = {"checkpoint-run", "--compress=9", "prog", NULL};
    assert_int_equal(ckpt_parse_launch_options(ARGC(level), level, &o, err, sizeof err), 0);
    assert_int_equal(o.compress_level, 9);
    char *fast[] = {"checkpoint-run", "--compress=-7", "prog", NULL};
    assert_int_equal(ckpt_parse_launch_options(ARGC(fast), fast, &o, err, sizeof err), 0);
    assert_int_equal(o.compress_level, -7);
    char *none[] = {"checkpoint-run", "prog", NULL};
    assert_int_equal(ckpt_parse_launch_options(ARGC(none), none, &o, err, sizeof err), 0);
    assert_int_equal(o.compress_level, 0);
    assert_int_equal(o.compress_every_run, 0);
    const char *bad[] = {"--compress=0", "--compress=10",   "--compress=-8",   "--compress=",
                         "--compress=x", "--compress=,all", "--compress=3,al", "--compress=3,all,"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *argv[] = {"checkpoint-run", (char *)bad[i], "prog", NULL};
        assert_int_equal(ckpt_parse_launch_options(ARGC(argv), argv, &o, err, sizeof err), -1);
        char want[256];
        snprintf(want, sizeof want,
                 "%s: the level is 1 to 9, or -1 to -7 for zstd's fast levels, optionally "
                 "followed by \",all\"",
                 bad[i]);
        assert_string_equal(err, want);
    }
}

/* ",all": every run compressed, even while the disk waits (else as the disk leaves time). */
static void takes_compress_every_run(void **state)
{
    (void)state;
    struct launch_options o;
    char err[256];
    char *all[] = {"checkpoint-run", "--compress=all", "prog", NULL};
    assert_int_equal(ckpt_parse_launch_options(ARGC(all), all, &o, err, sizeof err), 0);
    assert_int_equal(o.compress_level, CKPT_COMPRESS_DEFAULT_LEVEL);
    assert_int_equal(o.compress_every_run, 1);
    char *level[] = {"checkpoint-run", "--compress=-3,all", "prog", NULL};
    assert_int_equal(ckpt_parse_launch_options(ARGC(level), level, &o, err, sizeof err), 0);
    assert_int_equal(o.compress_level, -3);
    assert_int_equal(o.compress_every_run, 1);
    char *plain[] = {"checkpoint-run", "--compress=7", "prog", NULL};
    assert_int_equal(ckpt_parse_launch_options(ARGC(plain), plain, &o, err, sizeof err), 0);
    assert_int_equal(o.compress_level, 7);
    assert_int_equal(o.compress_every_run, 0);
}

/* Incremental images read their unchanged pages from uncompressed parents: refused together. */
static void refuses_compression_with_incremental_images(void **state)
{
    (void)state;
    struct launch_options o;
    char err[256];
    char *both[] = {"checkpoint-run", "--incremental", "--compress", "prog", NULL};
    assert_int_equal(ckpt_parse_launch_options(ARGC(both), both, &o, err, sizeof err), -1);
    assert_non_null(strstr(err, "--incremental and --compress: not together"));
    char *other_order[] = {"checkpoint-run", "--compress", "--incremental", "prog", NULL};
    assert_int_equal(ckpt_parse_launch_options(ARGC(other_order), other_order, &o, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "--incremental and --compress: not together"));
}

static void uses_defaults_without_options(void **state)
{
    (void)state;
    char *argv[] = {"checkpoint-run", "prog", "a", NULL};
    struct launch_options o;
    char err[256];
    assert_int_equal(ckpt_parse_launch_options(ARGC(argv), argv, &o, err, sizeof err), 0);
    assert_null(o.image);
    assert_int_equal(o.signal, SIGUSR2);
    assert_int_equal(o.keep, 1);
    assert_int_equal(o.help, 0);
    assert_int_equal(o.version, 0);
    assert_ptr_equal(o.argv, &argv[1]);
    assert_string_equal(o.argv[0], "prog");
    assert_string_equal(o.argv[1], "a");
    assert_null(o.argv[2]);
}

static void takes_image_and_signal_in_both_forms(void **state)
{
    (void)state;
    char *separate[] = {"checkpoint-run", "--image", "out.ckpt", "--signal",
                        "RTMIN+3",        "prog",    NULL};
    char *joined[] = {"checkpoint-run", "--image=/abs/out.ckpt", "--signal=usr1", "prog", NULL};
    struct launch_options o;
    char err[256];
    assert_int_equal(ckpt_parse_launch_options(ARGC(separate), separate, &o, err, sizeof err), 0);
    assert_string_equal(o.image, "out.ckpt");
    assert_int_equal(o.signal, SIGRTMIN + 3);
    assert_string_equal(o.argv[0], "prog");

    assert_int_equal(ckpt_parse_launch_options(ARGC(joined), joined, &o, err, sizeof err), 0);
    assert_string_equal(o.image, "/abs/out.ckpt");
    assert_int_equal(o.signal, SIGUSR1);
    assert_string_equal(o.argv[0], "prog");
}

static void takes_signal_numbers_and_the_last_repeated_option(void **state)
{
    (void)state;
    char *argv[] = {"checkpoint-run", "--signal", "10",   "--signal=12", "--image", "a",
                    "--image",        "b",        "prog", NULL};
    struct launch_options o;
    char err[256];
    assert_int_equal(ckpt_parse_launch_options(ARGC(argv), argv, &o, err, sizeof err), 0);
    assert_int_equal(o.signal, 12);
    assert_string_equal(o.image, "b");
}

static void double_dash_ends_options(void **state)
{
    (void)state;
    char *argv[] = {"checkpoint-run", "--image", "x", "--", "--signal", "y", NULL};
    struct launch_options o;
    char err[256];
    assert_int_equal(ckpt_parse_launch_options(ARGC(argv), argv, &o, err, sizeof err), 0);
    assert_string_equal(o.image, "x");
    assert_int_equal(o.signal, SIGUSR2);
    assert_string_equal(o.argv[0], "--signal");
    assert_string_equal(o.argv[1], "y");
}

static void options_after_program_belong_to_program(void **state)
{
    (void)state;
    char *argv[] = {"checkpoint-run", "prog", "--image", "x", "--", "--help", NULL};
    struct launch_options o;
    char err[256];
    assert_int_equal(ckpt_parse_launch_options(ARGC(argv), argv, &o, err, sizeof err), 0);
    assert_null(o.image);
    assert_int_equal(o.help, 0);
    assert_string_equal(o.argv[0], "prog");
    assert_string_equal(o.argv[1], "--image");
    assert_string_equal(o.argv[4], "--help");
}

static void lone_dash_is_a_program_name(void **state)
{
    (void)state;
    char *argv[] = {"checkpoint-run", "-", NULL};
    struct launch_options o;
    char err[256];
    assert_int_equal(ckpt_parse_launch_options(ARGC(argv), argv, &o, err, sizeof err), 0);
    assert_string_equal(o.argv[0], "-");
}

static void help_and_version_need_no_program(void **state)
{
    (void)state;
    char *help[] = {"checkpoint-run", "--help", NULL};
    char *short_help[] = {"checkpoint-run", "--image", "x", "-h", "--bogus", NULL};
    char *version[] = {"checkpoint-run", "--version", NULL};
    struct launch_options o;
    char err[256];
    assert_int_equal(ckpt_parse_launch_options(ARGC(help), help, &o, err, sizeof err), 0);
    assert_int_equal(o.help, 1);
    assert_int_equal(ckpt_parse_launch_options(ARGC(short_help), short_help, &o, err, sizeof err),
                     0);
    assert_int_equal(o.help, 1);
    assert_int_equal(ckpt_parse_launch_options(ARGC(version), version, &o, err, sizeof err), 0);
    assert_int_equal(o.version, 1);
    assert_int_equal(o.help, 0);
}

/* Expects the parse to fail with a message containing want. */
static void expect_error(int argc, char **argv, const char *want)
{
    struct launch_options o;
    char err[256];
    assert_int_equal(ckpt_parse_launch_options(argc, argv, &o, err, sizeof err), -1);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not mention \"%s\"", err, want);
}

static void reports_usage_mistakes(void **state)
{
    (void)state;
    char *nothing[] = {"checkpoint-run", NULL};
    char *only_options[] = {"checkpoint-run", "--image", "x", NULL};
    char *only_dashes[] = {"checkpoint-run", "--", NULL};
    char *unknown[] = {"checkpoint-run", "--frobnicate", "prog", NULL};
    char *unknown_short[] = {"checkpoint-run", "-x", "prog", NULL};
    char *prefix_only[] = {"checkpoint-run", "--imagefile", "x", "prog", NULL};
    char *no_image[] = {"checkpoint-run", "--image", NULL};
    char *empty_image[] = {"checkpoint-run", "--image=", "prog", NULL};
    char *no_signal[] = {"checkpoint-run", "--signal", NULL};
    char *bad_signal[] = {"checkpoint-run", "--signal", "KILL", "prog", NULL};
    char *bad_inline_signal[] = {"checkpoint-run", "--signal=0", "prog", NULL};
    expect_error(ARGC(nothing), nothing, "PROGRAM");
    expect_error(ARGC(only_options), only_options, "PROGRAM");
    expect_error(ARGC(only_dashes), only_dashes, "PROGRAM");
    expect_error(ARGC(unknown), unknown, "--frobnicate: unknown option");
    expect_error(ARGC(unknown_short), unknown_short, "-x: unknown option");
    expect_error(ARGC(prefix_only), prefix_only, "--imagefile: unknown option");
    expect_error(ARGC(no_image), no_image, "--image: missing PATH");
    expect_error(ARGC(empty_image), empty_image, "--image");
    expect_error(ARGC(no_signal), no_signal, "--signal: missing SIG");
    expect_error(ARGC(bad_signal), bad_signal, "--signal KILL");
    expect_error(ARGC(bad_inline_signal), bad_inline_signal, "--signal 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_signal_numbers),
        cmocka_unit_test(parses_signal_names_in_any_case_with_or_without_sig),
        cmocka_unit_test(parses_realtime_signal_names),
        cmocka_unit_test(rejects_signals_that_cannot_request_a_checkpoint),
        cmocka_unit_test(names_signals_for_messages),
        cmocka_unit_test(signal_names_parse_back_to_their_number),
        cmocka_unit_test(uses_defaults_without_options),
        cmocka_unit_test(takes_keep_and_refuses_bad_counts),
        cmocka_unit_test(takes_interval_durations_and_refuses_bad_ones),
        cmocka_unit_test(takes_image_and_signal_in_both_forms),
        cmocka_unit_test(takes_signal_numbers_and_the_last_repeated_option),
        cmocka_unit_test(double_dash_ends_options),
        cmocka_unit_test(options_after_program_belong_to_program),
        cmocka_unit_test(lone_dash_is_a_program_name),
        cmocka_unit_test(help_and_version_need_no_program),
        cmocka_unit_test(reports_usage_mistakes),
        cmocka_unit_test(takes_a_stop_timeout),
        cmocka_unit_test(takes_a_compression_level),
        cmocka_unit_test(takes_compress_every_run),
        cmocka_unit_test(refuses_compression_with_incremental_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
