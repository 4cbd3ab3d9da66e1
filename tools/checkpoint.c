/* ckpt checkpoint PID [--kill] [--timeout SECONDS]: the requesting side of the checkpoint
 * protocol. The shim's side is in preload/checkpoint.c, the names both use in
 * include/ckpt/protocol.h, and docs/protocol.md says the same for users.
 *
 * Finding the shim. The shim publishes a struct ckpt_shim_public in its own data (the
 * writable mapping of libckpt.so in /proc/PID/maps), found by its magic and read through
 * /proc/PID/mem: the program does not overwrite it as it may overwrite its environment
 * (programs that set their title), it exists only where the shim is loaded, and it says
 * whether the shim is active in this very process (role ACTIVE and pid == PID: a child
 * that inherited the shim says PASSIVE, or names its parent's pid after a raw fork). A
 * process that is still checkpoint-run before its exec, or carries CKPT_PID=PID in its
 * environment but has not run the shim's constructor yet, is waited for (within the
 * timeout). Nothing else is signalled: a process without an active shim may have its own
 * use for the signal.
 *
 * A request. Checkpoints are numbered: the handler's first act is begun = N (plain stores
 * in the program's memory, no system call), its last in the program finished = N. A request
 * reads begun (S) and then queues the checkpoint signal (pidfd_send_signal, so that a pid
 * reused meanwhile gets nothing) with a token and the --kill bit as its value. Any
 * checkpoint numbered above S began after the request was made, so it serves the request:
 * the checkpoint signal is a standard signal, and a request made while another one is
 * pending is merged with it by the kernel — the pending one's checkpoint, which has not
 * begun yet, serves both. A request is never told "finished" from signal masks: until
 * begun > S its checkpoint is still to come, whatever /proc says about the signal.
 *
 * The answer. Whoever writes the image (the writer child, or the program itself) adds a
 * line "seq=N inc=I pid=P ... result=R generation=G ..." to IMAGE.status, which keeps the
 * last CKPT_STATUS_HISTORY lines: the request takes the answer of the first checkpoint
 * above S (of the same incarnation I: a restored process, or another one with the pid, has
 * another), so concurrent requests each find theirs even when later checkpoints answered
 * since. A writer child first adds "writing=W": the request then waits for W, and fails
 * naming it if W ends without an answer — also when the program itself died meanwhile.
 * When the program wrote itself and could not write its answer (a read-only directory, a
 * full disk), it says so in the published state (finished_status_error), so the request
 * fails at once with that reason instead of waiting.
 *
 * --kill. The answer says hold=1 when the process waits, all signals blocked, for a SIGKILL
 * after that checkpoint. A --kill request takes only such an answer: if its own request
 * was merged into a pending one without the bit, it asks again. So concurrent --kill and
 * plain requests: those served by the held checkpoint (or earlier ones) succeed; those made
 * while the process is held are served by no checkpoint and fail saying the process
 * exited; every --kill request kills the process at the checkpoint it reports.
 *
 * What it reads of the target's user, it reads with care: IMAGE.status must be a regular
 * file of that user, at most CKPT_STATUS_MAX_BYTES, opened without following a symlink or
 * blocking (a FIFO, a link to /dev/zero, a huge file are refused at once), and so is the
 * image it checks. A stopped process (SIGSTOP) is reported at once. */
#define _GNU_SOURCE /* pidfd, asprintf */
#include "ckpt_tool.h"
#include "ckpt/protocol.h"
#include "launch_options.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define POLL_INTERVAL_NS (10 * 1000 * 1000)
#define DEFAULT_TIMEOUT_SECONDS 60.0
/* How long a program that died in the middle of a checkpoint gets for its writer child to
 * announce itself: it does so first thing. */
#define WRITER_GRACE_SECONDS 0.2
/* /proc files are the kernel's, but one of a process with 65530 mappings (vm.max_map_count)
 * runs to megabytes. */
#define PROC_FILE_MAX (64 << 20)
/* A process this young without the shim may not have exec'd checkpoint-run yet. */
#define YOUNG_SECONDS 1.0
#define SHIM_DATA_MAX (16u << 20) /* the largest writable mapping of libckpt.so searched */

#define fail ckpt_fail

static int checkpoint_usage_error(const char *what, const char *why)
{
    return ckpt_usage_error("checkpoint", what, why);
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

/* ---- reading files --------------------------------------------------------------------- */

/* Reads what is left of fd, at most max bytes, into a NUL-terminated malloc'd buffer.
 * Returns 0, EFBIG if there was more, or an errno. */
static int read_fd(int fd, size_t max, char **data, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            return ENOMEM;
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            return e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            free(buf);
            return EFBIG;
        }
        if (cap - n - 1 == 0) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

/* A file of /proc. */
static int read_proc_path(const char *path, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int e = read_fd(fd, PROC_FILE_MAX, data, len);
    close(fd);
    return e;
}

static int read_proc_file(pid_t pid, const char *name, char **data, size_t *len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    return read_proc_path(path, data, len);
}

/* Opens a file the target's user controls: no symlink followed, no blocking open (a FIFO),
 * and only a regular file of that user at most max bytes long. Returns the descriptor, or
 * -1 with why in err (errno in *e: ENOENT for a missing file). */
static int open_users_file(const char *path, uid_t uid, off_t max, struct ck_error *err, int *e)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    *e = 0;
    if (fd < 0) {
        *e = errno;
        ck_fail(err, -*e, "%s", errno == ELOOP ? "is a symbolic link" : strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        *e = errno;
        ck_fail(err, -*e, "%s", strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        *e = EINVAL;
        ck_fail(err, -1, "is not a regular file (%s)",
                S_ISFIFO(st.st_mode)  ? "a FIFO"
                : S_ISCHR(st.st_mode) ? "a device"
                : S_ISDIR(st.st_mode) ? "a directory"
                                      : "a socket or device");
    } else if (st.st_uid != uid) {
        *e = EPERM;
        ck_fail(err, -1, "belongs to uid %u, not to the process's user (uid %u)",
                (unsigned)st.st_uid, (unsigned)uid);
    } else if (max && st.st_size > max) {
        *e = EFBIG;
        ck_fail(err, -1, "is %lld bytes long, larger than the shim ever writes (%lld)",
                (long long)st.st_size, (long long)max);
    } else {
        return fd;
    }
    close(fd);
    return -1;
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

/* The value of NAME in a NUL-separated environment block, or NULL. */
static const char *environ_lookup(const char *block, size_t len, const char *name)
{
    size_t name_len = strlen(name);
    for (const char *p = block; p < block + len; p += strlen(p) + 1)
        if (strncmp(p, name, name_len) == 0 && p[name_len] == '=')
            return p + name_len + 1;
    return NULL;
}

/* ---- the target ------------------------------------------------------------------------ */

struct target {
    pid_t pid;
    const char *pid_text;        /* as the user wrote it, for messages */
    int pidfd;                   /* signals go to this process, not to one that reuses its pid */
    uid_t uid;                   /* its effective uid: its image and answers are that user's */
    uint64_t public_addr;        /* where its shim's ckpt_shim_public lies, 0 if not found */
    struct ckpt_shim_public pub; /* the last consistent copy read */
    char *image, *status_path;
};

/* The process's state letter from /proc/PID/stat (R, S, D, T, t, Z, ...), 0 if gone. */
static char process_state(pid_t pid)
{
    char *stat;
    size_t len;
    if (read_proc_file(pid, "stat", &stat, &len) != 0)
        return 0;
    const char *paren = strrchr(stat, ')'); /* the command may hold one */
    char state = paren && paren[1] == ' ' ? paren[2] : 0;
    free(stat);
    return state;
}

static int stopped_state(char state)
{
    return state == 'T' || state == 't';
}

static int report_stopped(const struct target *t)
{
    return fail(t->pid_text,
                "the process is stopped (SIGSTOP or a debugger): it cannot take a checkpoint "
                "until it is continued (kill -CONT %d)",
                (int)t->pid);
}

/* Whether /proc/PID/status shows a handler installed for sig (SigCgt, bit sig-1). */
static int signal_caught(pid_t pid, int sig)
{
    char *status;
    size_t len;
    if (read_proc_file(pid, "status", &status, &len) != 0)
        return 0;
    const char *caught = status_field(status, "SigCgt");
    int yes = caught && ((strtoull(caught, NULL, 16) >> (sig - 1)) & 1);
    free(status);
    return yes;
}

/* The effective uid (the second of /proc/PID/status's Uid line). Returns 0 or an errno. */
static int read_target_uid(struct target *t)
{
    char *status;
    size_t len;
    int e = read_proc_file(t->pid, "status", &status, &len);
    if (e)
        return e;
    const char *uid = status_field(status, "Uid");
    unsigned real, effective;
    e = uid && sscanf(uid, "%u %u", &real, &effective) == 2 ? 0 : EINVAL;
    t->uid = (uid_t)effective;
    free(status);
    return e;
}

/* Yama's ptrace_scope (0 without Yama): above 0, reading another process's memory needs more
 * than being its user. */
static int yama_ptrace_scope(void)
{
    char *text;
    size_t len;
    if (read_proc_path("/proc/sys/kernel/yama/ptrace_scope", &text, &len) != 0)
        return 0;
    int scope = atoi(text);
    free(text);
    return scope;
}

/* Why a /proc file of the target could not be read, in the user's terms. */
static const char *denied_hint(const struct target *t, int e)
{
    if (e != EACCES && e != EPERM)
        return "";
    if (t->uid != geteuid())
        return " (it is another user's process)";
    int scope = yama_ptrace_scope();
    if (scope == 1)
        return " (Yama's ptrace_scope is 1: run ckpt checkpoint from the shell or script that "
               "started the program, or as root)";
    if (scope > 1)
        return " (Yama's ptrace_scope is above 1: only root can checkpoint it)";
    return "";
}

static int cannot_read(const struct target *t, const char *name, int e)
{
    if (e == ENOENT || e == ESRCH)
        return fail(t->pid_text, "no such process");
    return fail(t->pid_text, "cannot read /proc/%d/%s: %s%s", (int)t->pid, name, strerror(e),
                denied_hint(t, e));
}

/* Whether the maps line's path (from path_at) is libckpt.so. */
static int is_shim_path(const char *line, int path_at)
{
    const char *slash = path_at > 0 ? strrchr(line + path_at, '/') : NULL;
    return slash && strcmp(slash, "/libckpt.so") == 0;
}

/* Where the magic lies in [start, stop) of the target's memory, or 0. */
static uint64_t search_magic(int mem, uint64_t start, uint64_t stop, size_t size)
{
    uint64_t found = 0;
    char *data = malloc(stop - start);
    ssize_t n = data ? pread(mem, data, stop - start, (off_t)start) : -1;
    for (ssize_t at = 0; at + (ssize_t)size <= n && !found; at += 8)
        if (memcmp(data + at, CKPT_PUBLIC_MAGIC, CKPT_PUBLIC_MAGIC_LEN) == 0)
            found = start + (uint64_t)at;
    free(data);
    return found;
}

/* Searches the shim's writable data for its published state: a writable mapping of
 * libckpt.so, or one in the run of mappings right after one of it (after a lazy restore
 * its relro and data pages are mapped from the image). Returns 0 (t->public_addr set, or 0 if the
 * shim is not loaded) or an errno. */
static int find_public(struct target *t, int mem)
{
    char *maps;
    size_t len;
    int e = read_proc_file(t->pid, "maps", &maps, &len);
    if (e)
        return e;
    t->public_addr = 0;
    uint64_t run_end = 0; /* the end of the mappings adjacent to one of libckpt.so */
    int run_left = 0;     /* how many more of them may belong to it */
    for (char *line = maps; *line && !t->public_addr;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = 0;
        unsigned long start, stop;
        char perms[8];
        int path_at = 0;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &start, &stop, perms, &path_at) == 3) {
            int shim = is_shim_path(line, path_at);
            int in_run = shim || (start == run_end && run_left-- > 0);
            if (in_run && perms[0] == 'r' && perms[1] == 'w' && stop - start <= SHIM_DATA_MAX)
                t->public_addr = search_magic(mem, start, stop, sizeof t->pub);
            if (shim)
                run_left = 3;
            if (in_run)
                run_end = stop;
        }
        line = end ? end + 1 : line + strlen(line);
    }
    free(maps);
    return 0;
}

/* A consistent copy of the published state into t->pub. Returns 0, or ESRCH when the
 * process (or its memory) is gone. */
static int read_public(struct target *t, int mem)
{
    for (int tries = 0; tries < 1000; tries++) {
        uint32_t before, after;
        off_t at = (off_t)t->public_addr;
        off_t change_at = at + (off_t)offsetof(struct ckpt_shim_public, change);
        if (pread(mem, &before, sizeof before, change_at) != (ssize_t)sizeof before ||
            pread(mem, &t->pub, sizeof t->pub, at) != (ssize_t)sizeof t->pub ||
            pread(mem, &after, sizeof after, change_at) != (ssize_t)sizeof after)
            return ESRCH;
        if (before == after && !(before & 1) &&
            memcmp(t->pub.magic, CKPT_PUBLIC_MAGIC, CKPT_PUBLIC_MAGIC_LEN) == 0) {
            t->pub.image[sizeof t->pub.image - 1] = 0;
            return 0;
        }
        sched_yield();
    }
    return EAGAIN;
}

/* How long ago the process started (/proc/PID/stat's starttime against /proc/uptime), or
 * a large number if unknown. */
static double process_age(pid_t pid)
{
    char *stat, *uptime;
    size_t len;
    double age = 1e9;
    if (read_proc_file(pid, "stat", &stat, &len) != 0)
        return age;
    const char *p = strrchr(stat, ')');
    unsigned long long start = 0;
    /* after ")": state is field 3, starttime field 22 */
    int fields = p ? sscanf(p + 2,
                            "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
                            "%*d %*d %*d %*d %llu",
                            &start)
                   : 0;
    free(stat);
    if (fields == 1 && read_proc_path("/proc/uptime", &uptime, &len) == 0) {
        age = strtod(uptime, NULL) - (double)start / (double)sysconf(_SC_CLK_TCK);
        free(uptime);
    }
    return age;
}

/* Will PID run the shim soon? It is checkpoint-run before its exec, or has the settings
 * checkpoint-run gives its program (CKPT_PID is its pid) before the shim's constructor, or
 * it is younger than YOUNG_SECONDS: `checkpoint-run PROGRAM & ckpt checkpoint $!` may find
 * the shell's child before it has even exec'd checkpoint-run. */
static int shim_to_come(const struct target *t)
{
    if (process_age(t->pid) < YOUNG_SECONDS)
        return 1;
    char exe[4096], *env;
    size_t len;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)t->pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        const char *slash = strrchr(exe, '/');
        if (strcmp(slash ? slash + 1 : exe, "checkpoint-run") == 0)
            return 1;
    }
    if (read_proc_file(t->pid, "environ", &env, &len) != 0)
        return 0;
    const char *pid = environ_lookup(env, len, CKPT_ENV_PID);
    int yes = pid && strtol(pid, NULL, 10) == (long)t->pid;
    free(env);
    return yes;
}

enum shim_found { SHIM_ACTIVE, SHIM_NOT_HERE, SHIM_TO_COME };

/* Looks once for an active shim in PID. Returns 0 with *found set, or an exit status after
 * printing why not. */
static int look_for_shim(struct target *t, enum shim_found *found)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)t->pid);
    int mem = open(path, O_RDONLY | O_CLOEXEC);
    if (mem < 0)
        return cannot_read(t, "mem", errno);
    int e = find_public(t, mem);
    if (!e && t->public_addr)
        e = read_public(t, mem);
    close(mem);
    if (e == ESRCH)
        return fail(t->pid_text, "no such process");
    if (e)
        return cannot_read(t, "maps", e);
    *found = SHIM_NOT_HERE;
    if (!t->public_addr || t->pub.role == CKPT_ROLE_LOADING)
        *found = t->public_addr || shim_to_come(t) ? SHIM_TO_COME : SHIM_NOT_HERE;
    else if (t->pub.role == CKPT_ROLE_ACTIVE && t->pub.pid == t->pid)
        *found = SHIM_ACTIVE;
    else if (t->pub.role == CKPT_ROLE_ACTIVE && process_age(t->pid) < YOUNG_SECONDS)
        *found = SHIM_TO_COME; /* restored just now: its shim has yet to announce its pid */
    if (*found != SHIM_NOT_HERE || !t->public_addr)
        return 0;
    /* Loaded but serving another process: a child of the program, or a program one ran. */
    return fail(t->pid_text,
                "not the process checkpoint-run started: the ckpt shim is loaded but not "
                "active in it (a child of the program, or a program a child ran, inherits "
                "the shim but not its role); it was not signalled");
}

/* Waits (within timeout) until the shim is active in PID. Returns 0 or an exit status. */
static int find_shim(struct target *t, double deadline, double timeout)
{
    for (;;) {
        char state = process_state(t->pid);
        if (!state)
            return fail(t->pid_text, "no such process");
        if (state == 'Z' || state == 'X')
            return fail(t->pid_text, "no such process (only a zombie is left)");
        if (stopped_state(state))
            return report_stopped(t);
        enum shim_found found = SHIM_NOT_HERE;
        int rc = look_for_shim(t, &found);
        if (rc)
            return rc;
        if (found == SHIM_ACTIVE)
            return 0;
        if (found == SHIM_NOT_HERE)
            return fail(t->pid_text, "not running under checkpoint-run");
        if (monotonic_seconds() >= deadline)
            return fail(t->pid_text, "timed out after %g s waiting for the ckpt shim to start",
                        timeout);
        sleep_poll_interval();
    }
}

static int find_target(struct target *t, double deadline, double timeout)
{
    t->pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
    if (t->pidfd < 0)
        return errno == ESRCH ? fail(t->pid_text, "no such process")
                              : fail(t->pid_text, "pidfd_open: %s", strerror(errno));
    int e = read_target_uid(t);
    if (e)
        return cannot_read(t, "status", e);
    int rc = find_shim(t, deadline, timeout);
    if (rc)
        return rc;
    if (t->pub.image[0] != '/' || t->pub.signal < 1 || t->pub.signal > 64)
        return fail(t->pid_text, "the ckpt shim in it publishes no usable settings");
    /* Without its handler the signal would kill the process. */
    if (!signal_caught(t->pid, t->pub.signal))
        return fail(t->pid_text, "the ckpt shim's signal handler is not installed");
    /* Still the process the pidfd names: what was read of PID was read of it (a pid is not
     * reused while its process, even a zombie, exists). */
    if (syscall(SYS_pidfd_send_signal, t->pidfd, 0, NULL, 0) != 0)
        return fail(t->pid_text, "no such process");
    if (!(t->image = strdup(t->pub.image)) ||
        asprintf(&t->status_path, "%s" CKPT_STATUS_SUFFIX, t->image) < 0) {
        t->status_path = NULL;
        return fail(t->pid_text, "%s", strerror(ENOMEM));
    }
    return 0;
}

/* ---- the answers ----------------------------------------------------------------------- */

/* Parses one line "key=value ... message=TEXT" of IMAGE.status (protocol.h). Unknown keys
 * before message= are skipped. Returns 0 or -1. */
int ckpt_parse_status_line(const char *line, struct shim_answer *a)
{
    memset(a, 0, sizeof *a);
    a->writing = -1;
    a->result = -1;
    const char *p = line;
    const char *message_key = CKPT_KEY_MESSAGE "=";
    while (strncmp(p, message_key, strlen(message_key)) != 0) {
        size_t field_len = strcspn(p, " \n");
        if (p[field_len] != ' ' || !memchr(p, '=', field_len))
            return -1;
        sscanf(p, CKPT_KEY_SEQ "=%" SCNu64, &a->seq);
        sscanf(p, CKPT_KEY_INCARNATION "=%" SCNx64, &a->incarnation);
        sscanf(p, CKPT_KEY_PID "=%ld", &a->pid);
        sscanf(p, CKPT_KEY_TOKEN "=%" SCNu32, &a->token);
        sscanf(p, CKPT_KEY_HOLD "=%d", &a->hold);
        sscanf(p, CKPT_KEY_RESULT "=%d", &a->result);
        sscanf(p, CKPT_KEY_GENERATION "=%" SCNu32, &a->generation);
        sscanf(p, CKPT_KEY_STOPPED_NS "=%" SCNu64, &a->stopped_ns);
        sscanf(p, CKPT_KEY_WRITING "=%ld", &a->writing);
        p += field_len + 1;
    }
    if (a->writing < 0 && a->result < 0)
        return -1;
    const char *message = p + strlen(message_key);
    size_t n = strcspn(message, "\n");
    snprintf(a->message, sizeof a->message, "%.*s", (int)n, message);
    return 0;
}

/* What IMAGE.status holds for the checkpoints after `after` of this incarnation. */
struct answers {
    int found;                 /* an answer */
    struct shim_answer answer; /* the first one after `after` */
    long writer;               /* the writer child of the latest one announced, or 0 */
};

/* Reads IMAGE.status. Returns 0 (a missing file holds nothing), or an exit status after
 * printing why it cannot be read. */
static int read_answers(const struct target *t, uint64_t after, struct answers *out)
{
    struct ck_error err;
    int e;
    memset(out, 0, sizeof *out);
    int fd = open_users_file(t->status_path, t->uid, CKPT_STATUS_MAX_BYTES, &err, &e);
    if (fd < 0 && e == ENOENT)
        return 0;
    if (fd < 0)
        return fail(t->pid_text, "%s %s: not an answer of the ckpt shim", t->status_path, err.msg);
    char *text;
    size_t len;
    e = read_fd(fd, CKPT_STATUS_MAX_BYTES, &text, &len);
    close(fd);
    if (e)
        return fail(t->pid_text, "cannot read %s: %s", t->status_path, strerror(e));
    for (char *line = text; *line;) {
        struct shim_answer a;
        char *end = strchr(line, '\n');
        if (!end)
            break; /* cut short: no answer */
        if (ckpt_parse_status_line(line, &a) == 0 && a.incarnation == t->pub.incarnation &&
            a.pid == t->pid && a.seq > after) {
            if (a.writing >= 0)
                out->writer = a.writing;
            else if (!out->found || a.seq < out->answer.seq)
                out->found = 1, out->answer = a;
        }
        line = end + 1;
    }
    free(text);
    return 0;
}

/* ---- the request ----------------------------------------------------------------------- */

static int random_token(uint32_t *token)
{
    uint32_t r;
    do {
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
            return errno ? errno : EIO;
        r &= CKPT_REQUEST_TOKEN_MASK;
    } while (r == 0);
    *token = r;
    return 0;
}

static int send_request(const struct target *t, uint32_t value)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = t->pub.signal;
    info.si_code = SI_QUEUE;
    info.si_pid = getpid();
    info.si_uid = getuid();
    info.si_value.sival_int = (int)value;
    if (syscall(SYS_pidfd_send_signal, t->pidfd, t->pub.signal, &info, 0) == 0)
        return 0;
    if (errno == ESRCH)
        return fail(t->pid_text, "no such process");
    char name[32];
    return fail(t->pid_text, "cannot send SIG%s: %s",
                ckpt_signal_name(t->pub.signal, name, sizeof name), strerror(errno));
}

/* The program could not write its answer (finished_status_error): say what it said. */
static int unwritten_answer(const struct target *t)
{
    const struct ckpt_shim_public *p = &t->pub;
    if (p->finished_result)
        return fail(t->pid_text,
                    "checkpoint failed: %s; the program could not write %s either (%s) and "
                    "reports the error on its stderr",
                    strerror(p->finished_result), t->status_path,
                    strerror(p->finished_status_error));
    return fail(t->pid_text,
                "checkpoint not confirmed: the image was written, but the program could not "
                "write its answer to %s: %s",
                t->status_path, strerror(p->finished_status_error));
}

/* When the shim could write nothing next to the image, the image could not be written
 * either: says so if the directory is not writable (as far as this user can tell). */
static int unwritable_directory(const struct target *t)
{
    char *dir = strdup(t->image);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash)
        *(slash == dir ? slash + 1 : slash) = 0;
    int e = dir && access(dir, W_OK | X_OK) != 0 ? errno : 0;
    if (e)
        fail(t->pid_text,
             "checkpoint failed: the image directory %s: %s (the program reports the error "
             "on its stderr)",
             dir, strerror(e));
    free(dir);
    return e != 0;
}

/* No answer after `after` yet. Returns an exit status after printing why none will come,
 * or 0 to look again. alive: whether the published state could still be read. */
static int hopeless(const struct target *t, uint64_t after, int alive, const struct answers *s)
{
    const struct ckpt_shim_public *p = &t->pub;
    /* The writer child at work: the one that announced itself, or (when it could not even
     * do that) the one the program says it started. */
    long writer = s->writer > 0 ? s->writer : p->finished > after ? p->finished_writer : 0;
    if (writer > 0 && !ck_process_gone(writer))
        return 0; /* it will answer */
    struct answers again;
    int rc = 0;
    if (writer > 0) {
        if ((rc = read_answers(t, after, &again)) || again.found)
            return rc;
        if (s->writer == 0 && unwritable_directory(t))
            return CKPT_EXIT_FAILURE; /* it could not even announce itself */
        return fail(t->pid_text,
                    "checkpoint failed: the process writing the image (pid %ld) ended without "
                    "an answer (the program's stderr says why, if it could)",
                    writer);
    }
    if (!alive) {
        /* A writer child it started just before it died announces itself at once. */
        struct timespec grace = {0, (long)(WRITER_GRACE_SECONDS * 1e9)};
        nanosleep(&grace, NULL);
        if ((rc = read_answers(t, after, &again)) || again.found || again.writer > 0)
            return rc;
        return fail(t->pid_text, "process exited before its checkpoint was written");
    }
    /* The program has done its part of every checkpoint begun (none is in progress), one
     * of them after our request, and left no answer and no writer. */
    if (p->finished > after && p->finished == p->begun && p->finished_status_error)
        return unwritten_answer(t);
    if (p->finished > after && p->finished == p->begun && p->finished_writer == 0 &&
        (rc = read_answers(t, after, &again)) == 0 && !again.found && again.writer == 0)
        return fail(t->pid_text, "checkpoint failed: the program left no answer in %s",
                    t->status_path);
    return rc;
}

/* Reads the published state again (0 if the process is gone). */
static int refresh_public(struct target *t)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)t->pid);
    int mem = open(path, O_RDONLY | O_CLOEXEC);
    if (mem < 0)
        return 0;
    struct ckpt_shim_public last = t->pub;
    int ok = read_public(t, mem) == 0 && t->pub.incarnation == last.incarnation;
    if (!ok)
        t->pub = last;
    close(mem);
    return ok && !ck_process_gone(t->pid);
}

/* Waits until a checkpoint after `after` has answered. Returns 0 with *a filled, or an exit
 * status after printing why. */
static int wait_for_answer(struct target *t, uint64_t after, double deadline, double timeout,
                           struct shim_answer *a)
{
    for (;;) {
        struct answers s;
        int alive = refresh_public(t); /* before the answers: see hopeless */
        int rc = read_answers(t, after, &s);
        if (rc)
            return rc;
        if (s.found) {
            *a = s.answer;
            return 0;
        }
        if ((rc = hopeless(t, after, alive, &s)))
            return rc;
        /* Stopped with its part of the checkpoint still to do (a writer child at work
         * goes on regardless). */
        if (alive && stopped_state(process_state(t->pid)) &&
            !(t->pub.finished == t->pub.begun && t->pub.finished > after && s.writer > 0))
            return report_stopped(t);
        if (monotonic_seconds() >= deadline)
            return fail(t->pid_text, "timed out after %g s waiting for the checkpoint", timeout);
        sleep_poll_interval();
    }
}

/* Requests a checkpoint and waits for its answer; for --kill one after which the process
 * is held for the SIGKILL (asking again if the request was merged into one without). */
static int request_checkpoint(struct target *t, int kill_after, double deadline, double timeout,
                              struct shim_answer *a)
{
    uint32_t token;
    int e = random_token(&token);
    if (e)
        return fail("getrandom", "%s", strerror(e));
    for (;;) {
        /* The count just before the signal: a checkpoint begun since the shim was found
         * (another request's, an interval tick) must not be taken for this one's. */
        refresh_public(t);
        uint64_t after = t->pub.begun;
        int rc = send_request(t, token | (kill_after ? CKPT_REQUEST_STOP : 0));
        if (rc || (rc = wait_for_answer(t, after, deadline, timeout, a)))
            return rc;
        if (!kill_after || a->result != 0 || a->hold)
            return 0;
    }
}

/* The image the shim says it wrote must be valid, the target user's, and of the generation
 * it names or a later one (a later request's checkpoint may have replaced it). */
static int check_written_image(const struct target *t, uint32_t generation)
{
    struct mapped_image m;
    struct ck_error err;
    int e;
    int fd = open_users_file(t->image, t->uid, 0, &err, &e);
    if (fd < 0 || mapped_image_from_fd(fd, &m, &err) != 0)
        return fail(t->pid_text, "the checkpoint reported success but %s is unusable: %s", t->image,
                    err.msg);
    uint32_t found = m.view.hdr->generation;
    mapped_image_close(&m);
    if (found < generation)
        return fail(t->pid_text,
                    "the checkpoint reported generation %" PRIu32 " but %s holds generation "
                    "%" PRIu32,
                    generation, t->image, found);
    return 0;
}

static int kill_and_wait(const struct target *t, double timeout)
{
    if (syscall(SYS_pidfd_send_signal, t->pidfd, SIGKILL, NULL, 0) != 0 && errno != ESRCH)
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
    struct shim_answer answer;
    struct answers before;
    double deadline = monotonic_seconds() + a->timeout;
    int rc = find_target(t, deadline, a->timeout);
    /* A status file that cannot be an answer is refused before the process is disturbed. */
    if (rc || (rc = read_answers(t, UINT64_MAX, &before)) ||
        (rc = request_checkpoint(t, a->kill_after, deadline, a->timeout, &answer)))
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
    if (a.help)
        return ckpt_print_help("checkpoint");
    struct target t = {.pid = a.pid, .pid_text = a.pid_text, .pidfd = -1};
    rc = checkpoint_target(&t, &a);
    if (t.pidfd >= 0)
        close(t.pidfd);
    free(t.image);
    free(t.status_path);
    return rc;
}
