/* Pieces of the ckpt command shared between its files: ckpt.c (dispatch and `ckpt
 * checkpoint`) and inspect.c (`ckpt inspect`). */
#ifndef CKPT_TOOL_H
#define CKPT_TOOL_H

#include <stddef.h>
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
void mapped_image_close(struct mapped_image *m);

void ckpt_print_usage(FILE *out);

/* The subcommands; argv[0] is the subcommand's name. Each returns the exit status. */
int ckpt_inspect_command(int argc, char **argv);
int ckpt_checkpoint_command(int argc, char **argv);
int ckpt_verify_command(int argc, char **argv);

#endif
