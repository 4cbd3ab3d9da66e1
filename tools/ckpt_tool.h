/* Pieces of the ckpt command shared between its files: ckpt.c (dispatch and `ckpt
 * checkpoint`) and inspect.c (`ckpt inspect`). */
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

void ckpt_print_usage(FILE *out);

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

/* The subcommands; argv[0] is the subcommand's name. Each returns the exit status. */
int ckpt_inspect_command(int argc, char **argv);
int ckpt_checkpoint_command(int argc, char **argv);
int ckpt_verify_command(int argc, char **argv);
int ckpt_bench_command(int argc, char **argv); /* bench.c */

#endif
