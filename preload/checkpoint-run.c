/* checkpoint-run [--image PATH] [--signal SIG] [--] PROGRAM [ARGS...]
 *
 * Replaces itself with PROGRAM (same pid, so a shell's $! names the program) after putting
 * libckpt.so first in LD_PRELOAD and telling the shim, through the environment, where to
 * write images (CKPT_IMAGE), which signal requests a checkpoint (CKPT_SIGNAL) and which
 * process it serves (CKPT_PID: children inherit the environment but not the role).
 *
 * Exit status follows env(1): 125 when checkpoint-run itself fails, 126 when PROGRAM cannot
 * be run, 127 when it is not found, 2 for a usage error. */
#define _GNU_SOURCE /* asprintf */
#include "launch_options.h"
#include "ckpt/protocol.h"
#include "util.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CKPT_VERSION
#error "CKPT_VERSION must be defined by the build"
#endif
#ifndef CKPT_SHIM_FROM_BINDIR
#error "CKPT_SHIM_FROM_BINDIR must be defined by the build"
#endif

#define TOOL "checkpoint-run"
#define EXIT_USAGE 2
#define EXIT_TOOL_FAILED 125
#define EXIT_CANNOT_RUN 126
#define EXIT_NOT_FOUND 127

/* What execvp uses when PATH is unset (glibc's _CS_PATH). */
#define DEFAULT_SEARCH_PATH "/bin:/usr/bin"

static void print_usage(FILE *out)
{
    fputs("Usage: checkpoint-run [--image PATH] [--signal SIG] [--keep N] [--incremental[=N]]\n"
          "                      [--no-background]\n"
          "                      [--interval DURATION] [--stop-timeout DURATION]\n"
          "                      [--compress[=LEVEL][,all]] [--] PROGRAM [ARGS...]\n"
          "Runs PROGRAM (searched in PATH) in place of checkpoint-run, with the ckpt shim\n"
          "preloaded, so that `ckpt checkpoint PID` can save it to an image while it runs.\n"
          "\n"
          "  --image PATH   where checkpoints are written\n"
          "                 (default: ./PROGRAM-PID.ckpt in the starting directory)\n"
          "  --signal SIG   signal that requests a checkpoint: a number or a name such as\n"
          "                 USR2, SIGUSR1 or RTMIN+3 (default: USR2)\n"
          "  --keep N       keep the N most recent images: PATH, PATH.1, ... PATH.(N-1)\n"
          "                 (default: 1, only PATH; with --incremental also the older\n"
          "                 images they extend)\n"
          "  --incremental[=N]  after a full image, store only the pages written since the\n"
          "                 previous checkpoint (Linux 6.7); a full image every N (16)\n"
          "  --no-background  keep PROGRAM stopped until its image is written, instead of\n"
          "                 letting a copy-on-write child write it while PROGRAM runs on\n"
          "  --interval DURATION  take a checkpoint every DURATION while PROGRAM runs: seconds\n"
          "                 (90, 0.5) or a number with a unit (90s, 10m, 1h); a tick that\n"
          "                 comes while the last image is still written is skipped\n"
          "  --stop-timeout DURATION  how long a checkpoint waits for every thread of PROGRAM\n"
          "                 to stop before it fails, naming the thread (default: 2s)\n"
          "  --compress[=LEVEL][,all]  compress the memory in images with zstd at LEVEL:\n"
          "                 1 to 9, or -1 to -7 for its fast levels (default -1), as much as\n"
          "                 the disk leaves time for; with ,all every run, for the smallest\n"
          "                 images; restore-run --lazy refuses them\n"
          "  -h, --help     show this help and exit\n"
          "  --version      show the version and exit\n"
          "\n"
          "Exit status: PROGRAM's own; 125 if checkpoint-run failed, 126 if PROGRAM could not\n"
          "be run, 127 if it was not found, 2 for a usage error.\n",
          out);
}

static _Noreturn void die(int status, const char *what, const char *why)
{
    fprintf(stderr, TOOL ": %s: %s\n", what, why);
    exit(status);
}

/* ---- finding PROGRAM as execvp would -------------------------------------------------- */

/* 0 if path is a regular file we may execute; else the errno execve would give. */
static int check_executable(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno;
    if (!S_ISREG(st.st_mode) || access(path, X_OK) != 0)
        return EACCES;
    return 0;
}

/* Joins a PATH entry and a name into out; an empty entry means the current directory. */
static int join_search_entry(const char *dir, size_t dir_len, const char *name, char *out,
                             size_t cap)
{
    int n = dir_len ? snprintf(out, cap, "%.*s/%s", (int)dir_len, dir, name)
                    : snprintf(out, cap, "%s", name);
    return n >= 0 && (size_t)n < cap ? 0 : ENAMETOOLONG;
}

/* Finds name like execvp: a name with a slash is used as is, else each PATH entry is tried
 * and entries where the file exists but cannot be executed are skipped. Returns 0 with the
 * path in out, ENOENT if nothing was found, EACCES if only unusable files were. */
static int resolve_program(const char *name, char *out, size_t cap)
{
    if (!*name)
        return ENOENT;
    if (strchr(name, '/')) {
        if (snprintf(out, cap, "%s", name) >= (int)cap)
            return ENAMETOOLONG;
        return check_executable(out);
    }
    const char *search = getenv("PATH");
    if (!search)
        search = DEFAULT_SEARCH_PATH;
    int result = ENOENT;
    for (const char *dir = search;; dir++) {
        size_t dir_len = strcspn(dir, ":");
        if (join_search_entry(dir, dir_len, name, out, cap) == 0) {
            int e = check_executable(out);
            if (e == 0)
                return 0;
            if (e == EACCES)
                result = EACCES;
        }
        dir += dir_len;
        if (!*dir)
            return result;
    }
}

/* ---- refusing programs the shim cannot be preloaded into ------------------------------- */

enum program_kind {
    PROGRAM_NOT_ELF,     /* script or anything else: exec decides */
    PROGRAM_DYNAMIC_ELF, /* has PT_INTERP: the dynamic loader will preload the shim */
    PROGRAM_STATIC_ELF,  /* no PT_INTERP: LD_PRELOAD would be ignored */
    PROGRAM_FOREIGN_ELF, /* not x86_64: the shim cannot be loaded into it */
};

/* Looks for PT_INTERP among the program headers. Unreadable or odd headers are left for
 * the kernel to judge (PROGRAM_NOT_ELF). */
static enum program_kind classify_program_headers(int fd, const Elf64_Ehdr *eh)
{
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum == PN_XNUM)
        return PROGRAM_NOT_ELF;
    size_t bytes = (size_t)eh->e_phnum * sizeof(Elf64_Phdr);
    Elf64_Phdr *ph = malloc(bytes);
    if (!ph)
        die(EXIT_TOOL_FAILED, "reading program headers", strerror(ENOMEM));
    enum program_kind kind = PROGRAM_NOT_ELF;
    if (pread(fd, ph, bytes, (off_t)eh->e_phoff) == (ssize_t)bytes) {
        kind = PROGRAM_STATIC_ELF;
        for (size_t i = 0; i < eh->e_phnum; i++)
            if (ph[i].p_type == PT_INTERP)
                kind = PROGRAM_DYNAMIC_ELF;
    }
    free(ph);
    return kind;
}

static enum program_kind classify_program(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return PROGRAM_NOT_ELF; /* e.g. execute-only: let exec decide */
    Elf64_Ehdr eh;
    ssize_t n = pread(fd, &eh, sizeof eh, 0);
    enum program_kind kind = PROGRAM_NOT_ELF;
    if (n >= EI_NIDENT && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0) {
        if (eh.e_ident[EI_CLASS] != ELFCLASS64 || n < (ssize_t)sizeof eh ||
            eh.e_machine != EM_X86_64)
            kind = PROGRAM_FOREIGN_ELF;
        else if (eh.e_type == ET_EXEC || eh.e_type == ET_DYN)
            kind = classify_program_headers(fd, &eh);
    }
    close(fd);
    return kind;
}

static void refuse_unsupported_program(const char *name, const char *path)
{
    switch (classify_program(path)) {
    case PROGRAM_STATIC_ELF:
        die(EXIT_CANNOT_RUN, name,
            "statically linked; ckpt needs a dynamically linked program (LD_PRELOAD)");
    case PROGRAM_FOREIGN_ELF:
        die(EXIT_CANNOT_RUN, name, "not an x86_64 program; ckpt supports x86_64 programs only");
    default:
        break;
    }
}

/* ---- the environment for the shim ------------------------------------------------------ */

/* <dir of /proc/self/exe>/CKPT_SHIM_FROM_BINDIR, canonical: the build's path from bindir to
 * libdir (../lib/libckpt.so, or ../lib/x86_64-linux-gnu/libckpt.so for a Debian /usr
 * install), the same in the build tree and in an install under any prefix. */
static char *find_shim(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        die(EXIT_TOOL_FAILED, "cannot find its own executable (/proc/self/exe)", strerror(errno));
    self[n] = 0;
    *strrchr(self, '/') = 0; /* the kernel gives an absolute path */
    char candidate[PATH_MAX + sizeof CKPT_SHIM_FROM_BINDIR];
    snprintf(candidate, sizeof candidate, "%s/" CKPT_SHIM_FROM_BINDIR, self);
    char *shim = realpath(candidate, NULL);
    if (!shim || access(shim, R_OK) != 0) {
        int e = errno;
        char what[PATH_MAX + 64];
        snprintf(what, sizeof what, "cannot use the shim %s", candidate);
        die(EXIT_TOOL_FAILED, what, strerror(e));
    }
    /* The dynamic loader splits LD_PRELOAD at spaces and colons. */
    if (strpbrk(shim, " :"))
        die(EXIT_TOOL_FAILED, shim, "its path has a space or colon, which LD_PRELOAD cannot hold");
    return shim;
}

/* The shim first, then the existing entries except earlier copies of the shim. */
static char *build_ld_preload(const char *shim)
{
    const char *old = getenv("LD_PRELOAD");
    size_t cap = strlen(shim) + (old ? strlen(old) : 0) + 2;
    char *out = malloc(cap);
    if (!out)
        die(EXIT_TOOL_FAILED, "building LD_PRELOAD", strerror(ENOMEM));
    size_t len = (size_t)snprintf(out, cap, "%s", shim);
    for (const char *p = old ? old : ""; *p;) {
        size_t n = strcspn(p, " :");
        if (n && !(n == strlen(shim) && strncmp(p, shim, n) == 0))
            len += (size_t)snprintf(out + len, cap - len, ":%.*s", (int)n, p);
        p += n;
        p += *p != 0;
    }
    return out;
}

static char *current_directory(void)
{
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        die(EXIT_TOOL_FAILED, "cannot get the current directory", strerror(errno));
    return cwd;
}

static char *join_path(const char *dir, const char *name)
{
    char *out;
    const char *sep = dir[strlen(dir) - 1] == '/' ? "" : "/";
    if (asprintf(&out, "%s%s%s", dir, sep, name) < 0)
        die(EXIT_TOOL_FAILED, "building the image path", strerror(ENOMEM));
    return out;
}

/* --image made absolute against the starting directory, or
 * <starting dir>/<basename of PROGRAM>-<pid>.ckpt. */
static char *image_path(const char *image, const char *program)
{
    if (image && image[0] == '/')
        return strdup(image);
    char *cwd = current_directory();
    char *path;
    if (image) {
        path = join_path(cwd, image);
    } else {
        const char *slash = strrchr(program, '/');
        char name[NAME_MAX + 32];
        snprintf(name, sizeof name, "%.*s-%ld.ckpt", NAME_MAX, slash ? slash + 1 : program,
                 (long)getpid());
        path = join_path(cwd, name);
    }
    free(cwd);
    return path;
}

static void set_variable(const char *name, const char *value)
{
    if (setenv(name, value, 1) != 0)
        die(EXIT_TOOL_FAILED, name, strerror(errno));
}

/* A directory someone else could remove or swap images in is refused (the checkpoint
 * refuses it too, should it change hands later). */
static void refuse_shared_directory(const char *dir)
{
    struct ck_error err;
    if (ck_check_image_directory(dir, (uint32_t)geteuid(), &err) != 0) {
        fprintf(stderr, TOOL ": %s\n", err.msg);
        exit(EXIT_TOOL_FAILED);
    }
}

/* Images hold the program's memory: their directory is made private (0700) if it does not
 * exist yet. Only the last component is created; a missing parent is an error. */
static void make_image_directory(const char *image)
{
    char *dir = strdup(image);
    if (!dir)
        die(EXIT_TOOL_FAILED, "building the image path", strerror(ENOMEM));
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        struct stat st;
        if (stat(dir, &st) != 0) {
            if (errno != ENOENT || mkdir(dir, 0700) != 0) {
                int e = errno;
                fprintf(stderr, TOOL ": creating the image directory %s: %s\n", dir, strerror(e));
                exit(EXIT_TOOL_FAILED);
            }
        }
        refuse_shared_directory(dir);
    }
    free(dir);
}

static void export_shim_environment(const struct launch_options *o, const char *shim)
{
    char number[32];
    char *image = image_path(o->image, o->argv[0]);
    char *preload = build_ld_preload(shim);
    if (!image)
        die(EXIT_TOOL_FAILED, "building the image path", strerror(ENOMEM));
    make_image_directory(image);
    set_variable(CKPT_ENV_IMAGE, image);
    snprintf(number, sizeof number, "%d", o->keep);
    set_variable(CKPT_ENV_KEEP, number);
    if (o->incremental) {
        snprintf(number, sizeof number, "%d", o->incremental);
        set_variable(CKPT_ENV_INCREMENTAL, number);
    } else {
        unsetenv(CKPT_ENV_INCREMENTAL);
    }
    if (o->no_background)
        set_variable(CKPT_ENV_BACKGROUND, "0");
    else
        unsetenv(CKPT_ENV_BACKGROUND);
    if (o->interval_ns) {
        snprintf(number, sizeof number, "%llu", o->interval_ns);
        set_variable(CKPT_ENV_INTERVAL, number);
    } else {
        unsetenv(CKPT_ENV_INTERVAL);
    }
    if (o->stop_timeout_ns) { /* else CKPT_STOP_TIMEOUT as the caller set it, if at all */
        snprintf(number, sizeof number, "%llu", o->stop_timeout_ns);
        set_variable(CKPT_ENV_STOP_TIMEOUT, number);
    }
    if (o->compress_level) { /* else CKPT_COMPRESS as the caller set it, if at all */
        snprintf(number, sizeof number, "%d%s", o->compress_level,
                 o->compress_every_run ? ",all" : "");
        set_variable(CKPT_ENV_COMPRESS, number);
    }
    snprintf(number, sizeof number, "%d", o->signal);
    set_variable(CKPT_ENV_SIGNAL, number);
    snprintf(number, sizeof number, "%ld", (long)getpid());
    set_variable(CKPT_ENV_PID, number);
    set_variable("LD_PRELOAD", preload);
    free(image);
    free(preload);
}

/* ---- running PROGRAM ------------------------------------------------------------------ */

/* Like execvp: a file the kernel does not recognize (no #! line) is run by /bin/sh. */
static void exec_with_shell_fallback(const char *path, char **argv)
{
    execv(path, argv);
    if (errno != ENOEXEC)
        return;
    size_t argc = 0;
    while (argv[argc])
        argc++;
    char **sh_argv = calloc(argc + 2, sizeof *sh_argv);
    if (!sh_argv)
        return;
    sh_argv[0] = "/bin/sh";
    sh_argv[1] = (char *)path;
    for (size_t i = 1; i < argc; i++)
        sh_argv[i + 1] = argv[i];
    execv("/bin/sh", sh_argv);
    free(sh_argv);
    errno = ENOEXEC; /* report the program's problem, not the shell's */
}

static int exit_status_for(int err)
{
    return err == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
}

int main(int argc, char **argv)
{
    struct launch_options o;
    char err[512];
    if (ckpt_parse_launch_options(argc, argv, &o, err, sizeof err) != 0) {
        fprintf(stderr, TOOL ": %s\nTry '" TOOL " --help' for more information.\n", err);
        return EXIT_USAGE;
    }
    if (o.help) {
        print_usage(stdout);
        return 0;
    }
    if (o.version) {
        printf(TOOL " (ckpt) %s\n", CKPT_VERSION);
        return 0;
    }

    const char *program = o.argv[0];
    char path[PATH_MAX];
    int e = resolve_program(program, path, sizeof path);
    if (e)
        die(exit_status_for(e), program, strerror(e));
    refuse_unsupported_program(program, path);

    char *shim = find_shim();
    export_shim_environment(&o, shim);
    free(shim);

    exec_with_shell_fallback(path, o.argv);
    e = errno;
    die(exit_status_for(e), program, strerror(e));
}
