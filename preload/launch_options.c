/* Option parsing for checkpoint-run; see launch_options.h. */
#include "launch_options.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CKPT_MAX_SIGNAL 64

struct signal_name {
    const char *name;
    int number;
};

/* Linux x86_64 signals. The first entry for a number is the name messages use; the later
 * ones (IOT, CLD, POLL) are aliases accepted on input. */
static const struct signal_name signal_names[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},     {"BUS", SIGBUS},   {"FPE", SIGFPE},
    {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT},
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"IO", SIGIO},     {"PWR", SIGPWR},       {"SYS", SIGSYS},   {"IOT", SIGABRT},
    {"CLD", SIGCHLD},  {"POLL", SIGIO},
};

/* A signal the shim can install its handler for: not uncatchable, not one of the signals
 * glibc reserves for threads and setxid (32 and 33, below SIGRTMIN), which its sigaction
 * refuses. */
static int signal_usable(int sig)
{
    if (sig < 1 || sig > CKPT_MAX_SIGNAL || sig == SIGKILL || sig == SIGSTOP)
        return 0;
    return sig <= SIGSYS || (sig >= SIGRTMIN && sig <= SIGRTMAX);
}

/* Parses a short run of decimal digits that must make up all of s; -1 if s is empty, has
 * another character, or is too large to be a signal number. */
static int parse_small_decimal(const char *s)
{
    int value = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        value = value * 10 + (*s - '0');
        if (value > 1000)
            return -1;
    }
    return value;
}

/* "RTMIN", "RTMIN+N", "RTMAX", "RTMAX-N", in any case. SIGRTMIN is read at run time: glibc
 * decides how many real-time signals it keeps for itself. */
static int parse_realtime_name(const char *s)
{
    int base, sign;
    if (strncasecmp(s, "RTMIN", 5) == 0) {
        base = SIGRTMIN;
        sign = '+';
    } else if (strncasecmp(s, "RTMAX", 5) == 0) {
        base = SIGRTMAX;
        sign = '-';
    } else {
        return -1;
    }
    s += 5;
    if (!*s)
        return base;
    if (*s != sign)
        return -1;
    int n = parse_small_decimal(s + 1);
    if (n < 0)
        return -1;
    return sign == '+' ? base + n : base - n;
}

static int parse_plain_name(const char *s)
{
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
        if (strcasecmp(s, signal_names[i].name) == 0)
            return signal_names[i].number;
    return -1;
}

int ckpt_parse_signal(const char *s)
{
    if (!s || !*s)
        return -1;
    int sig;
    if (*s >= '0' && *s <= '9') {
        sig = parse_small_decimal(s);
    } else {
        if (strncasecmp(s, "SIG", 3) == 0)
            s += 3;
        sig = parse_plain_name(s);
        if (sig < 0)
            sig = parse_realtime_name(s);
    }
    return signal_usable(sig) ? sig : -1;
}

const char *ckpt_signal_name(int sig, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++) {
        if (signal_names[i].number == sig) {
            snprintf(buf, len, "%s", signal_names[i].name);
            return buf;
        }
    }
    if (sig == SIGRTMIN)
        snprintf(buf, len, "RTMIN");
    else if (sig == SIGRTMAX)
        snprintf(buf, len, "RTMAX");
    else if (sig > SIGRTMIN && sig < SIGRTMAX)
        snprintf(buf, len, "RTMIN+%d", sig - SIGRTMIN);
    else
        snprintf(buf, len, "%d", sig);
    return buf;
}

/* ---- launch options ------------------------------------------------------------------- */

/* If arg is `--name` or `--name=VALUE`, returns 1 and sets *inline_value (NULL for the
 * first form); otherwise 0. */
static int match_long_option(const char *arg, const char *name, const char **inline_value)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == 0) {
        *inline_value = NULL;
        return 1;
    }
    if (arg[n] == '=') {
        *inline_value = arg + n + 1;
        return 1;
    }
    return 0;
}

/* Takes the value of an option from `--name=VALUE` or from the next argument. Returns NULL
 * if there is none. */
static const char *option_value(const char *inline_value, int argc, char **argv, int *i)
{
    if (inline_value)
        return inline_value;
    if (*i + 1 >= argc || !argv[*i + 1])
        return NULL;
    return argv[++*i];
}

enum option_result { OPTION_NEXT, OPTION_STOP, OPTION_ERROR };

/* Fills err and returns OPTION_ERROR, so callers can `return option_error(...)`. */
static enum option_result option_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum option_result option_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return OPTION_ERROR;
}

static enum option_result parse_image(const char *value, struct launch_options *o, char *err,
                                      size_t errlen)
{
    if (!value)
        return option_error(err, errlen, "--image: missing PATH");
    if (!*value)
        return option_error(err, errlen, "--image: the path is empty");
    o->image = value;
    return OPTION_NEXT;
}

static enum option_result parse_signal_option(const char *value, struct launch_options *o,
                                              char *err, size_t errlen)
{
    if (!value)
        return option_error(err, errlen, "--signal: missing SIG");
    int sig = ckpt_parse_signal(value);
    if (sig < 0)
        return option_error(err, errlen,
                            "--signal %s: not a signal a checkpoint can be requested with "
                            "(use a number or a name like USR2 or RTMIN+3; not KILL, STOP or 0)",
                            value);
    o->signal = sig;
    return OPTION_NEXT;
}

/* How many images to keep: PATH, PATH.1, ... PATH.(N-1). */
#define KEEP_MAX 1000

static enum option_result parse_keep(const char *value, struct launch_options *o, char *err,
                                     size_t errlen)
{
    if (!value)
        return option_error(err, errlen, "--keep: missing N");
    int n = 0;
    const char *c = value;
    for (; *c >= '0' && *c <= '9' && n <= KEEP_MAX; c++)
        n = n * 10 + (*c - '0');
    if (c == value || *c || n < 1 || n > KEEP_MAX)
        return option_error(err, errlen, "--keep %s: not a number of images from 1 to %d", value,
                            KEEP_MAX);
    o->keep = n;
    return OPTION_NEXT;
}

/* --incremental[=N]: images that store only the pages written since the previous checkpoint,
 * a full image every N checkpoints (N - 1 incremental images after each full one). */
#define INCREMENTAL_DEFAULT 16
#define INCREMENTAL_MAX 65 /* CKPT_PARENTS_MAX + 1 */

static enum option_result parse_incremental(const char *value, struct launch_options *o, char *err,
                                            size_t errlen)
{
    int n = 0;
    const char *c = value ? value : "";
    for (; *c >= '0' && *c <= '9' && n <= INCREMENTAL_MAX; c++)
        n = n * 10 + (*c - '0');
    if (!value)
        n = INCREMENTAL_DEFAULT;
    else if (c == value || *c || n < 2 || n > INCREMENTAL_MAX)
        return option_error(err, errlen,
                            "--incremental=%s: not a number of checkpoints from 2 to %d (a full "
                            "image every N)",
                            value, INCREMENTAL_MAX);
    o->incremental = n;
    return OPTION_NEXT;
}

#define NS_PER_SECOND 1000000000ULL
#define INTERVAL_MIN_NS (NS_PER_SECOND / 10)
#define INTERVAL_MAX_NS (30ULL * 24 * 3600 * NS_PER_SECOND)

unsigned long long ckpt_parse_interval(const char *s)
{
    unsigned long long whole = 0, frac = 0, scale = NS_PER_SECOND;
    const char *c = s;
    for (; *c >= '0' && *c <= '9' && whole <= INTERVAL_MAX_NS; c++)
        whole = whole * 10 + (unsigned long long)(*c - '0');
    int digits = (int)(c - s);
    if (*c == '.')
        for (c++; *c >= '0' && *c <= '9'; c++, digits++)
            if (scale > 1) {
                scale /= 10;
                frac += (unsigned long long)(*c - '0') * scale;
            }
    unsigned long long unit = *c == 'h' ? 3600 : *c == 'm' ? 60 : 1;
    if (*c == 's' || *c == 'm' || *c == 'h')
        c++;
    if (!digits || *c || whole > INTERVAL_MAX_NS / NS_PER_SECOND)
        return 0;
    unsigned long long ns = (whole * NS_PER_SECOND + frac) * unit;
    return ns >= INTERVAL_MIN_NS && ns <= INTERVAL_MAX_NS ? ns : 0;
}

/* --interval and --stop-timeout: a duration into *ns; examples shows how to write one. */
static enum option_result parse_duration(const char *option, const char *value,
                                         unsigned long long *ns, const char *examples, char *err,
                                         size_t errlen)
{
    if (!value)
        return option_error(err, errlen, "%s: missing DURATION", option);
    *ns = ckpt_parse_interval(value);
    if (!*ns)
        return option_error(err, errlen,
                            "%s: %s is not a duration from 0.1s to 30 days (write seconds like %s)",
                            option, value, examples);
    return OPTION_NEXT;
}

/* --compress alone is zstd's fast level -1 (the fastest that still compresses well: the
 * writer's time is what a checkpoint waits for); a level only after '=', so that PROGRAM is
 * never taken for one: 1 to 9, or -1 to -7 for zstd's fast levels (docs/compression.md).
 * ",all" after it (or "all" alone): every run compressed, even one the disk would otherwise
 * wait for. */
static enum option_result parse_compress(const char *value, struct launch_options *o, char *err,
                                         size_t errlen)
{
    o->compress_level = CKPT_COMPRESS_DEFAULT_LEVEL;
    o->compress_every_run = 0;
    if (!value)
        return OPTION_NEXT;
    if (!strcmp(value, "all")) {
        o->compress_every_run = 1;
        return OPTION_NEXT;
    }
    int negative = value[0] == '-';
    const char *digit = value + negative;
    int max = negative ? 7 : 9;
    int every_run = digit[0] && !strcmp(digit + 1, ",all");
    if (digit[0] < '1' || digit[0] > '0' + max || (digit[1] && !every_run))
        return option_error(err, errlen,
                            "--compress=%s: the level is 1 to 9, or -1 to -7 for zstd's fast "
                            "levels, optionally followed by \",all\"",
                            value);
    o->compress_level = negative ? -(digit[0] - '0') : digit[0] - '0';
    o->compress_every_run = every_run;
    return OPTION_NEXT;
}

/* Handles argv[*i], which starts with '-'; may consume the next argument. */
static enum option_result parse_option(int argc, char **argv, int *i, struct launch_options *o,
                                       char *err, size_t errlen)
{
    const char *arg = argv[*i];
    const char *inline_value;
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        o->help = 1;
        return OPTION_STOP;
    }
    if (strcmp(arg, "--version") == 0) {
        o->version = 1;
        return OPTION_STOP;
    }
    if (match_long_option(arg, "--image", &inline_value))
        return parse_image(option_value(inline_value, argc, argv, i), o, err, errlen);
    if (match_long_option(arg, "--signal", &inline_value))
        return parse_signal_option(option_value(inline_value, argc, argv, i), o, err, errlen);
    if (match_long_option(arg, "--keep", &inline_value))
        return parse_keep(option_value(inline_value, argc, argv, i), o, err, errlen);
    if (match_long_option(arg, "--interval", &inline_value))
        return parse_duration("--interval", option_value(inline_value, argc, argv, i),
                              &o->interval_ns, "90 or 0.5, or a number with a unit: 90s, 10m, 1h",
                              err, errlen);
    if (match_long_option(arg, "--stop-timeout", &inline_value))
        return parse_duration("--stop-timeout", option_value(inline_value, argc, argv, i),
                              &o->stop_timeout_ns, "2 or 0.5, or a number with a unit: 2s, 1m", err,
                              errlen);
    if (match_long_option(arg, "--incremental", &inline_value))
        return parse_incremental(inline_value, o, err, errlen); /* never takes the next word */
    if (match_long_option(arg, "--compress", &inline_value))
        return parse_compress(inline_value, o, err, errlen);
    if (strcmp(arg, "--no-background") == 0) {
        o->no_background = 1;
        return OPTION_NEXT;
    }
    return option_error(err, errlen, "%s: unknown option", arg);
}

int ckpt_parse_launch_options(int argc, char **argv, struct launch_options *o, char *err,
                              size_t errlen)
{
    *o = (struct launch_options){.signal = SIGUSR2, .keep = 1};
    if (errlen)
        err[0] = 0;
    int i = 1;
    for (; i < argc && argv[i]; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (arg[0] != '-' || arg[1] == 0) /* a lone "-" is a program name, as for env */
            break;
        enum option_result r = parse_option(argc, argv, &i, o, err, errlen);
        if (r == OPTION_ERROR)
            return -1;
        if (r == OPTION_STOP)
            return 0;
    }
    if (i >= argc || !argv[i]) {
        option_error(err, errlen, "PROGRAM: missing");
        return -1;
    }
    /* An incremental image reads its unchanged pages from the earlier images in place, which
     * compressed runs cannot give (docs/compression.md). */
    if (o->incremental && o->compress_level) {
        option_error(err, errlen,
                     "--incremental and --compress: not together (an incremental image reads "
                     "the pages it does not store from the uncompressed images before it)");
        return -1;
    }
    o->argv = argv + i;
    return 0;
}
