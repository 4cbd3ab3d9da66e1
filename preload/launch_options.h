/* Command-line parsing for checkpoint-run, kept apart from main() so it can be unit tested
 * and reused by the ckpt tool (signal names in messages). Pure functions: no I/O, no exit. */
#ifndef CKPT_LAUNCH_OPTIONS_H
#define CKPT_LAUNCH_OPTIONS_H

#include <stddef.h>

/* Parses a signal given as a number ("12"), a name with or without the SIG prefix in any
 * case ("USR2", "sigusr1") or a real-time name ("RTMIN", "RTMIN+3", "RTMAX-2"). Returns the
 * signal number, or -1 if the text names no signal that a checkpoint can be requested with:
 * 0, SIGKILL, SIGSTOP, numbers above 64 and the signals glibc keeps for itself (between 31
 * and SIGRTMIN) are refused. */
int ckpt_parse_signal(const char *s);

/* Writes the short name of sig ("USR2", "RTMIN+3", or the number for a signal without a
 * name) into buf and returns buf. */
const char *ckpt_signal_name(int sig, char *buf, size_t len);

/* The request bits `ckpt checkpoint` queues with the signal: include/ckpt/protocol.h. */

/* --compress without a level: zstd's fast level -1. */
#define CKPT_COMPRESS_DEFAULT_LEVEL (-1)

struct launch_options {
    const char *image; /* --image, NULL if not given (the caller picks the default) */
    int signal;        /* --signal, SIGUSR2 by default */
    int keep;          /* --keep N: images kept (PATH, PATH.1, ... PATH.(N-1)); default 1 */
    int incremental;   /* --incremental[=N]: a full image every N checkpoints; 0 = all full */
    int no_background; /* --no-background: the program stays stopped while its image is written */
    unsigned long long interval_ns; /* --interval DURATION: a checkpoint every so often; 0: none */
    unsigned long long stop_timeout_ns; /* --stop-timeout DURATION; 0: the shim's default */
    int compress_level; /* --compress[=LEVEL]: zstd level of page runs, 1..9 or -7..-1; 0: none */
    int compress_every_run; /* --compress=[LEVEL,]all: even runs the disk would wait for */
    char **argv;            /* PROGRAM and its arguments, NULL terminated (points into argv) */
    int help;               /* --help or -h was given; nothing after it was parsed */
    int version;            /* --version was given; nothing after it was parsed */
};

/* Parses a duration for --interval: a decimal number of seconds ("90", "0.5") or a number
 * with a unit s, m or h ("90s", "10m", "1.5h"), from 0.1 s to 30 days. Returns it in
 * nanoseconds, or 0 if the text is no such duration. */
unsigned long long ckpt_parse_interval(const char *s);

/* Parses `checkpoint-run [--image PATH] [--signal SIG] [--keep N] [--no-background]
 * [--interval DURATION] [--stop-timeout DURATION] [--compress[=LEVEL][,all]] [--]
 * PROGRAM [ARGS...]`. Options end at the first argument that is not one, or after "--".
 * Returns 0, or -1 with a message of the form "what: why" in err. */
int ckpt_parse_launch_options(int argc, char **argv, struct launch_options *o, char *err,
                              size_t errlen);

#endif
