/* checkpoint-run --compress: the writer's zstd compressor (see compress.c). */
#ifndef CKPT_COMPRESS_H
#define CKPT_COMPRESS_H

#include <stddef.h>

#include "image_io.h"

#define CKPT_COMPRESS_LEVEL_MIN (-7) /* zstd's fast levels: faster, less small */
#define CKPT_COMPRESS_LEVEL_MAX 9
/* Scratch the compressor needs: a zstd context for any level up to the maximum (13 MB at 9,
 * 0.6 MB at 1) and the buffer where frames wait until they are written. */
#define CKPT_COMPRESS_WORKSPACE (16UL << 20)
#define CKPT_COMPRESS_OUT (16UL << 20)

/* Does zstd's context for level fit CKPT_COMPRESS_WORKSPACE? (The shim checks the setting.) */
int ckpt_compress_level_ok(int level);
/* Sets z up to compress page runs at level with a static zstd context in workspace
 * (CKPT_COMPRESS_WORKSPACE bytes) and frames in out (CKPT_COMPRESS_OUT bytes). No libc, no
 * allocation: the writer child calls it. 0 or -errno. */
int ckpt_compress_init(struct iw_compressor *z, void *workspace, char *out, int level);

#endif
