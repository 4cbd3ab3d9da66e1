/* ckpt: the command people use around a running program.
 *
 *   ckpt inspect IMAGE [--json]                       (inspect.c)
 *   ckpt checkpoint PID [--kill] [--timeout SECONDS]  (checkpoint.c)
 *   ckpt verify IMAGE                                 (verify.c)
 *   ckpt bench [--json] [--quick] [--dir DIR]         (bench.c)
 *
 * `ckpt checkpoint` (checkpoint.c) speaks the shim's protocol (docs/protocol.md). */
#include "ckpt_tool.h"

#include <stdarg.h>
#include <string.h>

#ifndef CKPT_VERSION
#error "CKPT_VERSION must be defined by the build"
#endif

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

static int usage_error(const char *what, const char *why)
{
    fprintf(stderr, CKPT_TOOL_NAME ": %s: %s\n", what, why);
    ckpt_print_usage(stderr);
    return CKPT_EXIT_USAGE;
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
    return usage_error(command, "unknown command");
}
