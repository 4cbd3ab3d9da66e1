/* ckpt: the command people use around a running program. This file holds the table of its
 * subcommands — name, synopsis, help — and dispatches to them; each lives in its own file:
 *
 *   inspect     inspect.c
 *   checkpoint  checkpoint.c (the shim's protocol: docs/protocol.md)
 *   verify      verify.c
 *   merge       merge.c
 *   bench       bench.c
 *   check       check.c
 *
 * Every subcommand answers --help (and -h) with its own usage, and a usage error with
 * "ckpt: WHAT: WHY" followed by its usage line, exit 2. */
#include "ckpt_tool.h"

#include <stdarg.h>
#include <string.h>

#ifndef CKPT_VERSION
#error "CKPT_VERSION must be defined by the build"
#endif

struct subcommand {
    const char *name;
    const char *synopsis; /* after "ckpt NAME " */
    const char *help;     /* indented lines, each ending in \n */
    int (*run)(int argc, char **argv);
};

static const struct subcommand subcommands[] = {
    {"inspect", "IMAGE [--json]",
     "      show what a checkpoint image holds (--json: as one JSON object)\n",
     ckpt_inspect_command},
    {"checkpoint", "PID [--kill] [--timeout SECONDS]",
     "      checkpoint a process started with checkpoint-run and wait for its image\n"
     "      (--kill: hold it at the checkpoint, then kill it; --timeout: how long to\n"
     "      wait, default 60)\n",
     ckpt_checkpoint_command},
    {"verify", "IMAGE",
     "      check everything restore-run would check (image, checksums, files),\n"
     "      without restoring; exit 0 if it would restore, 1 with the reason if not\n",
     ckpt_verify_command},
    {"merge", "IMAGE OUTPUT",
     "      fold an incremental image and the images it extends into one full image\n"
     "      OUTPUT (which may be IMAGE): it restores the same, without the others\n",
     ckpt_merge_command},
    {"bench", "[--json] [--quick] [--dir DIR]",
     "      measure checkpoint, restore and shim overhead against write/read baselines\n"
     "      (--quick: small sizes only; --dir: where images go, default .)\n",
     ckpt_bench_command},
    {"check", "[--json]",
     "      say whether this machine can checkpoint and restore: the kernel features\n"
     "      ckpt uses, probed one by one; exit 0 if every needed one is there\n",
     ckpt_check_command},
};

static const struct subcommand *find_subcommand(const char *name)
{
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(subcommands[i].name, name) == 0)
            return &subcommands[i];
    return NULL;
}

static void print_synopsis(FILE *out, const struct subcommand *c)
{
    fprintf(out, "Usage: ckpt %s %s\n", c->name, c->synopsis);
}

void ckpt_print_usage(FILE *out)
{
    fputs("Usage: ckpt COMMAND [ARGS...]\n\n", out);
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(out, "  ckpt %s %s\n%s", subcommands[i].name, subcommands[i].synopsis,
                subcommands[i].help);
    fputs("  ckpt --help | --version\n"
          "\nckpt COMMAND --help shows one command's usage.\n",
          out);
}

int ckpt_print_help(const char *name)
{
    const struct subcommand *c = find_subcommand(name);
    print_synopsis(stdout, c);
    fputs(c->help, stdout);
    return fflush(stdout) == 0 ? 0 : CKPT_EXIT_FAILURE;
}

int ckpt_usage_error(const char *name, const char *what, const char *why)
{
    fprintf(stderr, CKPT_TOOL_NAME ": %s: %s\n", what, why);
    print_synopsis(stderr, find_subcommand(name));
    return CKPT_EXIT_USAGE;
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

static int top_usage_error(const char *what, const char *why)
{
    fprintf(stderr, CKPT_TOOL_NAME ": %s: %s\n", what, why);
    ckpt_print_usage(stderr);
    return CKPT_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return top_usage_error("COMMAND", "missing");
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        ckpt_print_usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0) {
        printf(CKPT_TOOL_NAME " (ckpt) %s\n", CKPT_VERSION);
        return 0;
    }
    const struct subcommand *c = find_subcommand(name);
    if (!c)
        return top_usage_error(name, "unknown command");
    return c->run(argc - 1, argv + 1);
}
