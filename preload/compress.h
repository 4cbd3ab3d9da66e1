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
/* Stack of the helper thread that shares the chunks of each long run (the writer child's
 * second core). */
#define CKPT_COMPRESS_HELPER_STACK (128UL << 10)

/* Sets z up to compress page runs at level with static zstd contexts in workspace
 * (CKPT_COMPRESS_WORKSPACE bytes) and frames in out (CKPT_COMPRESS_OUT bytes). With
 * helper_stack_top (the 16-aligned top of CKPT_COMPRESS_HELPER_STACK bytes) a raw helper
 * thread, started at the first run longer than 256 KiB, compresses chunks of each such run
 * along with the caller: only in a process of the writer's own (the writer child), never in
 * the program; ckpt_compress_end ends it. No libc, no allocation. 0 or -errno. */
int ckpt_compress_init(struct iw_compressor *z, void *workspace, char *out, int level,
                       char *helper_stack_top);
/* Ends the helper thread, if one was started: before the writer child goes on without z. */
void ckpt_compress_end(struct iw_compressor *z);

#endif
