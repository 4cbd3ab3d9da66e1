/* ckpt: the command people use around a running program.
 *
 *   ckpt inspect IMAGE [--json]                       (inspect.c)
 *   ckpt checkpoint PID [--kill] [--timeout SECONDS]  (below)
 *   ckpt verify IMAGE                                 (verify.c)
 *   ckpt bench [--json] [--quick] [--dir DIR]         (bench.c)
 *   ckpt check [--json]                               (check.c)
 *
 * `ckpt checkpoint` speaks the shim's protocol: it reads CKPT_IMAGE and CKPT_SIGNAL from the
 * target's environment, queues the checkpoint signal carrying a random token, and waits for
 * the shim to replace <CKPT_IMAGE>.status with a line naming that token:
 *
 *     token=<T> result=<0 or a positive errno> generation=<G> [stopped_ns=<N>]
 *         message=<text to end of line>
 *
 * (one line). stopped_ns is how long the program was stopped in the checkpoint handler.
 * The token tells our request's answer apart from an earlier one left in the file. */
#define _GNU_SOURCE /* sigqueue's union sigval, getrandom */
#include "ckpt_tool.h"
#include "launch_options.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#ifndef CKPT_VERSION
#error "CKPT_VERSION must be defined by the build"
#endif

#define POLL_INTERVAL_NS (10 * 1000 * 1000)
#define DEFAULT_TIMEOUT_SECONDS 60.0

void ckpt_print_usage(FILE *out)
{
    fputs("Usage: ckpt COMMAND [ARGS...]\n"
          "\n"
          "  ckpt inspect IMAGE [--json]\n"
          "      show what a checkpoint image holds (--json: as one JSON object)\n"
          "  ckpt checkpoint PID [--kill] [--timeout SECONDS]\n"
          "      checkpoint a process started with checkpoint-run and wait for its image\n"
          "      (--kill: hold it at the checkpoint, then kill it; --timeout: how long to\n"
          "      wait, default 60)\n"
          "  ckpt verify IMAGE\n"
          "      check everything restore-run would check (image, checksums, files),\n"
          "      without restoring; exit 0 if it would restore, 1 with the reason if not\n"
          "  ckpt bench [--json] [--quick] [--dir DIR]\n"
          "      measure checkpoint, restore and shim overhead against write/read baselines\n"
          "      (--quick: small sizes only; --dir: where images go, default .)\n"
          "  ckpt check [--json]\n"
          "      say whether this machine can checkpoint and restore: the kernel features\n"
          "      ckpt uses, probed one by one; exit 0 if every needed one is there\n"
          "  ckpt --help | --version\n",
          out);
}

int ckpt_fail(const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, CKPT_TOOL_NAME ": %s: ", what);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CKPT_EXIT_FAILURE;
}

#define fail ckpt_fail

static int usage_error(const char *what, const char *why)
{
    fprintf(stderr, CKPT_TOOL_NAME ": %s: %s\n", what, why);
    ckpt_print_usage(stderr);
    return CKPT_EXIT_USAGE;
}

#define CHECKPOINT_USAGE "Usage: ckpt checkpoint PID [--kill] [--timeout SECONDS]\n"

static int checkpoint_usage_error(const char *what, const char *why)
{
    fprintf(stderr, CKPT_TOOL_NAME ": %s: %s\n" CHECKPOINT_USAGE, what, why);
    return CKPT_EXIT_USAGE;
}

/* ---- time ------------------------------------------------------------------------------ */

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_poll_interval(void)
{
    struct timespec ts = {0, POLL_INTERVAL_NS};
    nanosleep(&ts, NULL);
}

/* ---- reading /proc --------------------------------------------------------------------- */

/* Reads a whole file into a NUL-terminated malloc'd buffer. Returns 0 or an errno. */
static int read_whole_file(const char *path, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            close(fd);
            return ENOMEM;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (cap - n - 1 == 0) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    close(fd);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

static int read_proc_file(pid_t pid, const char *name, char **data, size_t *len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    return read_whole_file(path, data, len);
}

/* The value of NAME in a NUL-separated environment block, or NULL. */
static const char *environ_lookup(const char *block, size_t len, const char *name)
{
    size_t name_len = strlen(name);
    for (const char *p = block; p < block + len; p += strlen(p) + 1)
        if (strncmp(p, name, name_len) == 0 && p[name_len] == '=')
            return p + name_len + 1;
    return NULL;
}

/* The field after "Name:" in /proc/PID/status text, or NULL. */
static const char *status_field(const char *status, const char *name)
{
    size_t name_len = strlen(name);
    for (const char *line = status; line && *line; line = strchr(line, '\n')) {
        line += *line == '\n';
        if (strncmp(line, name, name_len) == 0 && line[name_len] == ':')
            return line + name_len + 1 + strspn(line + name_len + 1, " \t");
    }
    return NULL;
}

/* ---- the target ------------------------------------------------------------------------ */

struct target {
    pid_t pid;
    const char *pid_text; /* as the user wrote it, for messages */
    int signal;
    char *image;       /* CKPT_IMAGE, made absolute */
    char *status_path; /* <image>.status */
};

/* Whether /proc/PID/status shows a handler installed for sig (SigCgt, bit sig-1). */
static int signal_caught(const char *status, int sig)
{
    const char *caught = status_field(status, "SigCgt");
    if (!caught)
        return 0;
    uint64_t mask = strtoull(caught, NULL, 16);
    return (mask >> (sig - 1)) & 1;
}

/* Whether sig is pending for pid or being handled (blocked while its handler runs). */
static int signal_in_progress(pid_t pid, int sig)
{
    char *status;
    size_t len;
    if (read_proc_file(pid, "status", &status, &len) != 0)
        return 1;
    int busy = 0;
    const char *fields[] = {"SigPnd", "ShdPnd", "SigBlk"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        const char *v = status_field(status, fields[i]);
        busy |= !v || ((strtoull(v, NULL, 16) >> (sig - 1)) & 1);
    }
    free(status);
    return busy;
}

static int not_under_checkpoint_run(const struct target *t)
{
    return fail(t->pid_text, "not running under checkpoint-run");
}

/* A relative CKPT_IMAGE (not one checkpoint-run wrote) is relative to the target's cwd. */
static char *absolute_image_path(pid_t pid, const char *image)
{
    char *path;
    int n = image[0] == '/' ? asprintf(&path, "%s", image)
                            : asprintf(&path, "/proc/%d/cwd/%s", (int)pid, image);
    return n < 0 ? NULL : path;
}

/* Reads /proc/PID/NAME of the target, or says why it cannot (a process that is gone, or
 * another user's). Returns 0 or the failure status. */
static int read_target_file(const struct target *t, const char *name, char **buf, size_t *len)
{
    int e = read_proc_file(t->pid, name, buf, len);
    if (e == ENOENT || e == ESRCH)
        return fail(t->pid_text, "no such process");
    if (e)
        return fail(t->pid_text, "cannot read /proc/%d/%s: %s%s", (int)t->pid, name, strerror(e),
                    e == EACCES || e == EPERM ? " (is it another user's process?)" : "");
    return 0;
}

static int read_target_environment(struct target *t, const char *status)
{
    char *env;
    size_t len;
    int read_rc = read_target_file(t, "environ", &env, &len);
    if (read_rc)
        return read_rc;
    const char *image = environ_lookup(env, len, "CKPT_IMAGE");
    const char *signal_text = environ_lookup(env, len, "CKPT_SIGNAL");
    t->signal = signal_text ? ckpt_parse_signal(signal_text) : -1;
    /* The shim installs its handler at startup: without it a signal would kill the target. */
    if (!image || !*image || t->signal < 0 || !signal_caught(status, t->signal)) {
        free(env);
        return not_under_checkpoint_run(t);
    }
    t->image = absolute_image_path(t->pid, image);
    free(env);
    if (!t->image || asprintf(&t->status_path, "%s.status", t->image) < 0) {
        t->status_path = NULL;
        return fail(t->pid_text, "%s", strerror(ENOMEM));
    }
    return 0;
}

static int find_target(struct target *t)
{
    char *status;
    size_t len;
    int read_rc = read_target_file(t, "status", &status, &len);
    if (read_rc)
        return read_rc;
    const char *state = status_field(status, "State");
    int rc = state && *state == 'Z' ? fail(t->pid_text, "no such process (only a zombie is left)")
                                    : read_target_environment(t, status);
    free(status);
    return rc;
}

/* ---- the request and its answer -------------------------------------------------------- */

static int random_token(uint32_t *token)
{
    uint32_t r;
    do {
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
            return errno ? errno : EIO;
        r &= 0x7fffffff;
    } while (r == 0);
    *token = r;
    return 0;
}

/* Parses "token=T result=R generation=G [stopped_ns=N] [writing=PID] message=TEXT\n".
 * Fields a newer shim puts before message= are skipped. Returns 0 or -1. */
int ckpt_parse_status_line(const char *line, struct shim_answer *a)
{
    int fields_at = -1;
    if (sscanf(line, "token=%" SCNu32 " result=%d generation=%" SCNu32 " %n", &a->token, &a->result,
               &a->generation, &fields_at) != 3 ||
        fields_at < 0)
        return -1;
    a->stopped_ns = 0;
    a->writing = -1;
    const char *p = line + fields_at;
    while (strncmp(p, "message=", 8) != 0) {
        size_t field_len = strcspn(p, " \n");
        if (p[field_len] != ' ')
            return -1;
        sscanf(p, "stopped_ns=%" SCNu64, &a->stopped_ns);
        sscanf(p, "writing=%ld", &a->writing);
        p += field_len + 1;
    }
    const char *message = p + 8;
    size_t n = strcspn(message, "\n");
    snprintf(a->message, sizeof a->message, "%.*s", (int)n, message);
    return 0;
}

enum answer_state { ANSWER_NONE, ANSWER_WRITING, ANSWER_READY, ANSWER_UNREADABLE };

/* Reads the status file; ANSWER_READY only when it answers our token, ANSWER_WRITING when it
 * says a writer child is writing the image for it. */
static enum answer_state read_answer(const struct target *t, uint32_t token, struct shim_answer *a,
                                     int *read_error)
{
    char *text;
    size_t len;
    int e = read_whole_file(t->status_path, &text, &len);
    if (e == ENOENT)
        return ANSWER_NONE;
    if (e) {
        *read_error = e;
        return ANSWER_UNREADABLE;
    }
    int ours = ckpt_parse_status_line(text, a) == 0 && a->token == token;
    free(text);
    if (!ours)
        return ANSWER_NONE;
    return a->writing >= 0 ? ANSWER_WRITING : ANSWER_READY;
}

/* The shim writes its answer next to the image: when it cannot, the image could not be
 * written either. */
static int lost_answer(const struct target *t)
{
    char *dir = strdup(t->image);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash)
        *(slash == dir ? slash + 1 : slash) = 0;
    int e = dir && access(dir, W_OK | X_OK) != 0 ? errno : 0;
    int rc = e ? fail(t->pid_text,
                      "checkpoint failed: the image directory %s: %s (the "
                      "program reports the error on its stderr)",
                      dir, strerror(e))
               : fail(t->pid_text,
                      "checkpoint failed: the program could not write %s (it "
                      "reports the error on its stderr)",
                      t->status_path);
    free(dir);
    return rc;
}

/* No answer yet (s): returns an exit status after printing why if none will come, else 0
 * (to look again: an answer that came meanwhile is found then). A writer child answers
 * after the handler has returned: while the status file names one at work, only its end
 * without an answer is hopeless. */
static int hopeless(const struct target *t, uint32_t token, enum answer_state s,
                    struct shim_answer *a)
{
    int e = 0;
    if (s == ANSWER_WRITING) {
        long writer = a->writing;
        if (writer > 0 && ck_process_gone(writer) && read_answer(t, token, a, &e) != ANSWER_READY)
            return fail(t->pid_text,
                        "checkpoint failed: the process writing the image (pid %ld) ended "
                        "without an answer",
                        writer);
        return 0;
    }
    /* Look at the file once more after seeing the process gone: it may have answered just
     * before it exited. */
    if (ck_process_gone(t->pid))
        return read_answer(t, token, a, &e) == ANSWER_READY
                   ? 0
                   : fail(t->pid_text, "process exited during the checkpoint");
    /* The handler has run and left no answer: it could not write the status file. */
    if (!signal_in_progress(t->pid, t->signal) && !signal_in_progress(t->pid, t->signal) &&
        read_answer(t, token, a, &e) == ANSWER_NONE)
        return lost_answer(t);
    return 0;
}

/* Waits for the shim's answer to token. Returns 0 with *a filled, or an exit status after
 * printing why. */
static int wait_for_answer(const struct target *t, uint32_t token, double timeout,
                           struct shim_answer *a)
{
    double deadline = monotonic_seconds() + timeout;
    for (;;) {
        int e = 0;
        enum answer_state s = read_answer(t, token, a, &e);
        if (s == ANSWER_READY)
            return 0;
        if (s == ANSWER_UNREADABLE)
            return fail(t->pid_text, "cannot read %s: %s", t->status_path, strerror(e));
        int rc = hopeless(t, token, s, a);
        if (rc)
            return rc;
        if (monotonic_seconds() >= deadline)
            return fail(t->pid_text, "timed out after %g s waiting for the checkpoint", timeout);
        sleep_poll_interval();
    }
}

static int send_request(const struct target *t, uint32_t token)
{
    union sigval value = {.sival_int = (int)token};
    if (sigqueue(t->pid, t->signal, value) == 0)
        return 0;
    if (errno == ESRCH)
        return fail(t->pid_text, "no such process");
    char name[32];
    return fail(t->pid_text, "cannot send SIG%s: %s",
                ckpt_signal_name(t->signal, name, sizeof name), strerror(errno));
}

/* The image the shim says it wrote must be valid and of the generation it names. */
static int check_written_image(const struct target *t, uint32_t generation)
{
    struct mapped_image m;
    struct ck_error err;
    if (mapped_image_open(t->image, &m, &err) != 0)
        return fail(t->pid_text, "the checkpoint reported success but %s is unusable: %s", t->image,
                    err.msg);
    uint32_t found = m.view.hdr->generation;
    mapped_image_close(&m);
    if (found != generation)
        return fail(t->pid_text,
                    "the checkpoint reported generation %" PRIu32 " but %s holds generation "
                    "%" PRIu32,
                    generation, t->image, found);
    return 0;
}

static int kill_and_wait(const struct target *t, double timeout)
{
    if (kill(t->pid, SIGKILL) != 0 && errno != ESRCH)
        return fail(t->pid_text, "cannot kill the process: %s", strerror(errno));
    double deadline = monotonic_seconds() + timeout;
    while (!ck_process_gone(t->pid)) {
        if (monotonic_seconds() >= deadline)
            return fail(t->pid_text, "still running %g s after SIGKILL", timeout);
        sleep_poll_interval();
    }
    return 0;
}

/* ---- the command ----------------------------------------------------------------------- */

struct checkpoint_args {
    const char *pid_text;
    pid_t pid;
    int kill_after;
    double timeout;
    int help;
};

static int parse_pid(const char *s, pid_t *pid)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > 0x3fffffff /* PID_MAX_LIMIT */)
        return -1;
    *pid = (pid_t)v;
    return 0;
}

static int parse_timeout(const char *s, double *seconds)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v <= 0)
        return -1;
    *seconds = v;
    return 0;
}

/* The value of --timeout=S or of --timeout S (taking the next argument); NULL if none. */
static const char *timeout_value(int argc, char **argv, int *i)
{
    const char *equals = strchr(argv[*i], '=');
    if (equals)
        return equals + 1;
    return *i + 1 < argc ? argv[++*i] : NULL;
}

static int parse_checkpoint_args(int argc, char **argv, struct checkpoint_args *a)
{
    *a = (struct checkpoint_args){.timeout = DEFAULT_TIMEOUT_SECONDS};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            a->help = 1;
            return 0;
        } else if (strcmp(arg, "--kill") == 0) {
            a->kill_after = 1;
        } else if (strncmp(arg, "--timeout=", 10) == 0 || strcmp(arg, "--timeout") == 0) {
            const char *value = timeout_value(argc, argv, &i);
            if (!value)
                return checkpoint_usage_error("--timeout", "missing SECONDS");
            if (parse_timeout(value, &a->timeout) != 0)
                return checkpoint_usage_error(value,
                                              "not a positive number of seconds for --timeout");
        } else if (arg[0] == '-') {
            return checkpoint_usage_error(arg, "unknown option");
        } else if (a->pid_text) {
            return checkpoint_usage_error(arg, "unexpected argument (one PID only)");
        } else if (parse_pid(arg, &a->pid) != 0) {
            return checkpoint_usage_error(arg, "not a process id");
        } else {
            a->pid_text = arg;
        }
    }
    if (!a->pid_text)
        return checkpoint_usage_error("PID", "missing");
    return 0;
}

static int checkpoint_target(struct target *t, const struct checkpoint_args *a)
{
    uint32_t token;
    struct shim_answer answer;
    int rc = find_target(t);
    if (rc)
        return rc;
    int e = random_token(&token);
    if (e)
        return fail("getrandom", "%s", strerror(e));
    if (a->kill_after)
        token |= CKPT_REQUEST_STOP; /* the process waits at the checkpoint, then dies */
    if ((rc = send_request(t, token)) || (rc = wait_for_answer(t, token, a->timeout, &answer)))
        return rc;
    if (answer.result != 0)
        return fail(t->pid_text, "checkpoint failed: %s",
                    answer.message[0] ? answer.message : strerror(answer.result));
    if ((rc = check_written_image(t, answer.generation))) {
        return rc; /* not killed: the process goes on after its wait (KILL_WAIT_SECONDS) */
    }
    printf(CKPT_TOOL_NAME ": checkpoint of %s written to %s (generation %" PRIu32 ")\n",
           t->pid_text, t->image, answer.generation);
    fflush(stdout);
    return a->kill_after ? kill_and_wait(t, a->timeout) : 0;
}

int ckpt_checkpoint_command(int argc, char **argv)
{
    struct checkpoint_args a;
    int rc = parse_checkpoint_args(argc, argv, &a);
    if (rc)
        return rc;
    if (a.help) {
        ckpt_print_usage(stdout);
        return 0;
    }
    struct target t = {.pid = a.pid, .pid_text = a.pid_text};
    rc = checkpoint_target(&t, &a);
    free(t.image);
    free(t.status_path);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("COMMAND", "missing");
    const char *command = argv[1];
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0) {
        ckpt_print_usage(stdout);
        return 0;
    }
    if (strcmp(command, "--version") == 0) {
        printf(CKPT_TOOL_NAME " (ckpt) %s\n", CKPT_VERSION);
        return 0;
    }
    if (strcmp(command, "inspect") == 0)
        return ckpt_inspect_command(argc - 1, argv + 1);
    if (strcmp(command, "checkpoint") == 0)
        return ckpt_checkpoint_command(argc - 1, argv + 1);
    if (strcmp(command, "verify") == 0)
        return ckpt_verify_command(argc - 1, argv + 1);
    if (strcmp(command, "bench") == 0)
        return ckpt_bench_command(argc - 1, argv + 1);
    if (strcmp(command, "check") == 0)
        return ckpt_check_command(argc - 1, argv + 1);
    return usage_error(command, "unknown command");
}
