/* Helpers shared by the scenario programs in tests/scenarios.
 *
 * Rules for scenario programs: everything written to stdout is deterministic (the driver
 * compares it byte for byte with an uninterrupted run); anything that varies from run to
 * run (pids, times) goes to stderr. Every line is written with a single write(2), unbuffered,
 * so the driver sees progress as it happens and never half a line. */
#ifndef CKPT_SCENARIO_H
#define CKPT_SCENARIO_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SCENARIO_STEP_NS 20000000L /* 20 ms between steps */

static inline void scenario_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            _exit(98);
        }
        buf += n;
        len -= (size_t)n;
    }
}

static inline void scenario_vprint(int fd, const char *fmt, va_list ap)
{
    char buf[4096];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    if (n < 0)
        _exit(98);
    scenario_write_all(fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A deterministic line to stdout. */
__attribute__((format(printf, 1, 2))) static inline void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    scenario_vprint(1, fmt, ap);
    va_end(ap);
}

/* A diagnostic line to stderr (not compared). */
__attribute__((format(printf, 1, 2))) static inline void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    scenario_vprint(2, fmt, ap);
    va_end(ap);
}

/* Something impossible happened: say so on stdout (so the comparison fails loudly) and
 * exit with a status no scenario uses otherwise. */
__attribute__((format(printf, 1, 2), noreturn)) static inline void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    scenario_write_all(1, "FAILED: ", 8);
    scenario_vprint(1, fmt, ap);
    va_end(ap);
    va_start(ap, fmt);
    scenario_write_all(2, "FAILED: ", 8);
    scenario_vprint(2, fmt, ap);
    va_end(ap);
    _exit(99);
}

/* Sleep one step, finishing the whole interval even when signals interrupt it. */
static inline void pace(void)
{
    struct timespec req = {0, SCENARIO_STEP_NS}, rem;
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem) == EINTR)
        req = rem;
}

/* Waits, pacing, while ./hold exists (at most 2 minutes). The driver's "running" mode
 * makes the file before it starts the program and removes it after its last checkpoint,
 * so a loaded machine cannot end the program before all its checkpoints are taken; the
 * reference run has no such file and goes straight on. The output is the same either way. */
static inline void scenario_hold(void)
{
    for (int i = 0; i < 6000 && access("hold", F_OK) == 0; i++)
        pace();
}

/* Called first thing by every scenario program: appends one line to ./starts.log and closes
 * it again. A restore continues the program and so never adds a line (the file is not open
 * at the checkpoint, the restore does not touch it); a "restore" that re-ran the program
 * from the beginning would add one. The driver requires exactly one line. */
static inline void scenario_started(void)
{
    int fd = open("starts.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        _exit(97);
    char line[64];
    int n = snprintf(line, sizeof line, "started as pid %d\n", (int)getpid());
    scenario_write_all(fd, line, (size_t)n);
    close(fd);
}

static inline const char *yesno(int v)
{
    return v ? "yes" : "no";
}

/* Hands descriptor fd to a grandchild (another process, not a child of this one) that
 * holds it, all else closed, until poll on it returns (its peer gone), or 10 minutes. */
static inline void scenario_grandchild_holds(int fd, short events)
{
    pid_t child = fork();
    if (child == 0) {
        if (fork() == 0) {
            for (int other = 0; other < 1024; other++)
                if (other != fd)
                    close(other);
            struct pollfd w = {.fd = fd, .events = events};
            poll(&w, 1, 600000);
            _exit(0);
        }
        _exit(0);
    }
    int status;
    if (child < 0 || waitpid(child, &status, 0) != child)
        fail("fork\n");
}

/* FNV-1a over 8 bytes, for short deterministic fingerprints. */
static inline unsigned long long fnv_mix(unsigned long long h, unsigned long long v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ULL;
    }
    return h;
}
#define FNV_START 0xcbf29ce484222325ULL

/* The input file of the reading scenarios: `records` fixed-length lines
 * "input record NNNN\n" (18 bytes each). */
#define INPUT_RECORD_LEN 18
static inline void scenario_make_input(const char *path, int records)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        fail("create %s: %s\n", path, strerror(errno));
    for (int r = 1; r <= records; r++) {
        char rec[INPUT_RECORD_LEN + 1];
        snprintf(rec, sizeof rec, "input record %04d\n", r);
        scenario_write_all(fd, rec, INPUT_RECORD_LEN);
    }
    close(fd);
}

#endif
