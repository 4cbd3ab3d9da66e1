/* Pieces of the ckpt command shared between its files: commands.c (the subcommand table
 * and dispatch), checkpoint.c, inspect.c, verify.c, bench.c and check.c. */
#ifndef CKPT_TOOL_H
#define CKPT_TOOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "image_io.h"

#define CKPT_TOOL_NAME "ckpt"
#define CKPT_EXIT_FAILURE 1
#define CKPT_EXIT_USAGE 2

/* An image file mapped read-only and validated (structure only, not page data). */
struct mapped_image {
    void *map; /* NULL for an empty file */
    size_t size;
    struct image_view view;
};

/* Maps path and validates it with image_open_view. Returns 0, or a negative code with a
 * message (without the path) in err; the mapping is released on failure. */
int mapped_image_open(const char *path, struct mapped_image *m, struct ck_error *err);
/* The same for an open regular file, which it closes. */
int mapped_image_from_fd(int fd, struct mapped_image *m, struct ck_error *err);
void mapped_image_close(struct mapped_image *m);

/* "1 region", "2 regions": n's noun for counts in messages. */
static inline const char *ckpt_plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* commands.c: the subcommand table. ckpt_print_usage prints every command's usage;
 * ckpt_print_help(NAME) prints one subcommand's usage and help on stdout and returns the
 * exit status; ckpt_usage_error(NAME, what, why) prints "ckpt: what: why" and NAME's usage
 * line on stderr and returns CKPT_EXIT_USAGE. */
void ckpt_print_usage(FILE *out);
int ckpt_print_help(const char *name);
int ckpt_usage_error(const char *name, const char *what, const char *why);

/* Prints "ckpt: what: why" and returns CKPT_EXIT_FAILURE, for `return ckpt_fail(...)`. */
int ckpt_fail(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One answer of the shim in <image>.status; see ckpt.c. */
struct shim_answer {
    uint64_t seq;         /* the checkpoint's number */
    uint64_t incarnation; /* of the process that took it */
    long pid;             /* that process */
    uint32_t token;       /* the request's value it took (0 for a bare signal) */
    int hold;             /* the process waits for a SIGKILL after it */
    int result;           /* 0 or a positive errno */
    uint32_t generation;
    uint64_t stopped_ns; /* how long the program was stopped; 0 if the shim did not say */
    /* Not an answer: a writer child announcing itself (its pid); -1 in an answer. */
    long writing;
    char message[1024];
};
/* Parses one line of IMAGE.status (include/ckpt/protocol.h; checkpoint.c). Returns 0 or -1. */
int ckpt_parse_status_line(const char *line, struct shim_answer *a);

/* Writes JSON to stdout, putting the commas between members and elements itself
 * (inspect.c; used by `ckpt inspect --json` and `ckpt check --json`). */
struct json {
    int need_comma;
};
void json_string(const char *s); /* bytes that are not UTF-8 become U+FFFD */
/* Starts a member ("key":) of an object, or an element of an array when key is NULL. */
void json_item(struct json *j, const char *key);
void json_open(struct json *j, const char *key, char bracket);
void json_close(struct json *j, char bracket);
void json_str(struct json *j, const char *key, const char *value);
void json_bool(struct json *j, const char *key, int value);

/* The subcommands; argv[0] is the subcommand's name. Each returns the exit status. */
int ckpt_inspect_command(int argc, char **argv);
int ckpt_checkpoint_command(int argc, char **argv);
int ckpt_verify_command(int argc, char **argv);
int ckpt_merge_command(int argc, char **argv);
int ckpt_bench_command(int argc, char **argv); /* bench.c */
int ckpt_check_command(int argc, char **argv); /* check.c */

#endif
