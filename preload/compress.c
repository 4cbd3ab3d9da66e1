/* checkpoint-run --compress: page runs compressed by the writer, one zstd frame per run.
 *
 * The writer child is a raw clone without libc (no malloc, no stdio, no TLS), and so is the
 * program under --no-background. libzstd (Debian's libzstd.a, linked into libckpt.so and kept
 * out of its exports) compresses without allocating when its context is static: the context
 * lives in the checkpoint's scratch arena (ZSTD_initStaticCCtx, which only lays it out), and
 * ZSTD_compressCCtx works in it and fails rather than grow it. zstd's own use of memcpy and
 * memset binds to the shim's (restorer/core/nolibc.c) at link time, it has no thread-local
 * variables, and one thread compresses: zstd's worker threads (pthreads, malloc) are never
 * asked for. The entry points used here are the only symbols the no-libc boundary check
 * allows from libzstd (CKPT_NOLIBC_ALLOWED). Its stack protector reads the canary at %fs:0x28,
 * which the writer child has as its parent's thread left it (the clone copies the memory and
 * keeps FS). A unit test (test_compress) checks that compressing allocates nothing. */
#define ZSTD_STATIC_LINKING_ONLY
#include "compress.h"

#include <asm/errno.h>
#include <zstd.h>

struct zstd_writer {
    ZSTD_CCtx *cctx;
    int level;
};

int ckpt_compress_level_ok(int level)
{
    return level >= CKPT_COMPRESS_LEVEL_MIN && level <= CKPT_COMPRESS_LEVEL_MAX && level != 0 &&
           ZSTD_estimateCCtxSize(level) + sizeof(struct zstd_writer) + 64 <=
               CKPT_COMPRESS_WORKSPACE;
}

/* iw_compressor's compress: 0 when the frame would not fit cap (the run is then stored as it
 * is) or zstd fails. */
static size_t compress_frame(void *ctx, void *dst, size_t cap, const void *src, size_t len)
{
    struct zstd_writer *zw = ctx;
    size_t n = ZSTD_compressCCtx(zw->cctx, dst, cap, src, len, zw->level);
    return ZSTD_isError(n) ? 0 : n;
}

int ckpt_compress_init(struct iw_compressor *z, void *workspace, char *out, int level)
{
    struct zstd_writer *zw = workspace;
    /* zstd wants its static context 8-byte aligned: after zw, rounded up to 64. */
    size_t skip = (sizeof *zw + 63) & ~(size_t)63;
    zw->cctx = ZSTD_initStaticCCtx((char *)workspace + skip, CKPT_COMPRESS_WORKSPACE - skip);
    if (!zw->cctx)
        return -ENOMEM;
    zw->level = level;
    *z = (struct iw_compressor){
        .compress = compress_frame, .ctx = zw, .out = out, .out_cap = CKPT_COMPRESS_OUT};
    return 0;
}
