/* checkpoint-run --compress: page runs compressed by the writer, one zstd frame per run.
 *
 * The writer child is a raw clone without libc (no malloc, no stdio, no TLS), and so is the
 * program under --no-background. libzstd (Debian's libzstd.a, linked into libckpt.so and kept
 * out of its exports) compresses without allocating when its context is static: the context
 * lives in the checkpoint's scratch arena (ZSTD_initStaticCCtx, which only lays it out), and
 * ZSTD_compressCCtx works in it and fails rather than grow it. zstd's own use of memcpy and
 * memset binds to the shim's (restorer/core/nolibc.c) at link time, it has no thread-local
 * variables, and zstd's worker threads (pthreads, malloc) are never asked for: the writer
 * child's second thread is a raw one of ours (ck_thread_start), with its own static context.
 * The entry points used here are the only symbols the no-libc boundary check allows from libzstd
 * (CKPT_NOLIBC_ALLOWED). Its stack protector reads the canary at %fs:0x28, which the writer child
 * has as its parent's thread left it (the clone copies the memory and keeps FS). A unit test
 * (test_compress) checks that compressing allocates nothing. */
#define ZSTD_STATIC_LINKING_ONLY
#include "compress.h"

#include <asm/errno.h>
#include <zstd.h>

#include "sys.h"
#include "util.h"

/* With a helper thread, a run is cut into chunks of this much, each its own zstd frame, the
 * frames back to back (zstd decompresses them as one). The two threads take chunks in turn
 * as each becomes free, so neither waits for the other longer than one chunk; the ratio is
 * zstd's at 2 MiB to a thousandth on page data. Each chunk is compressed into a slot with
 * room for its worst case, and the frames are then moved together. */
#define CHUNK (256UL << 10)
#define CHUNKS_MAX (CKPT_RUN_SPLIT / CHUNK)
#define SLOT ((ZSTD_COMPRESSBOUND(CHUNK) + 63) & ~63UL)

#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129

struct zstd_writer {
    ZSTD_CCtx *cctx[2]; /* the writer's; the helper's, or NULL when there is none */
    int level;
    char *helper_stack_top;
    uint32_t helper_tid; /* set by clone, cleared (and woken) by the kernel when it ends */
    uint32_t job;        /* futex word: the run's number, for the helper to wake on */
    uint32_t done;       /* futex word: chunks of the run compressed */
    int quit;            /* with the next job: the helper ends */
    /* The run being compressed: chunk i from src + i * CHUNK into slots + i * SLOT. */
    uint64_t next; /* job << 32 | the next chunk to take */
    const char *src;
    char *slots;
    size_t len;
    uint32_t nchunks;
    size_t frame[CHUNKS_MAX]; /* each chunk's frame length, 0 if it failed */
};

int ckpt_compress_level_ok(int level)
{
    return level >= CKPT_COMPRESS_LEVEL_MIN && level <= CKPT_COMPRESS_LEVEL_MAX && level != 0 &&
           ZSTD_estimateCCtxSize(level) + sizeof(struct zstd_writer) + 64 <=
               CKPT_COMPRESS_WORKSPACE;
}

static size_t compress_with(ZSTD_CCtx *cctx, int level, void *dst, size_t cap, const void *src,
                            size_t len)
{
    size_t n = ZSTD_compressCCtx(cctx, dst, cap, src, len, level);
    return ZSTD_isError(n) ? 0 : n;
}

/* Takes the run's next chunk, if any is left and the run is still job: the number and the
 * chunk are taken together, so a thread late from the run before cannot take one of this. */
static int take_chunk(struct zstd_writer *zw, uint32_t job, uint32_t *chunk)
{
    uint64_t next = __atomic_load_n(&zw->next, __ATOMIC_ACQUIRE);
    do {
        if ((uint32_t)(next >> 32) != job || (uint32_t)next >= zw->nchunks)
            return 0;
    } while (!__atomic_compare_exchange_n(&zw->next, &next, next + 1, 0, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
    *chunk = (uint32_t)next;
    return 1;
}

/* One thread's share of the run: chunks until none is left. */
static void compress_chunks(struct zstd_writer *zw, uint32_t job, int thread)
{
    uint32_t i;
    while (take_chunk(zw, job, &i)) {
        size_t off = (size_t)i * CHUNK, len = zw->len - off < CHUNK ? zw->len - off : CHUNK;
        zw->frame[i] = compress_with(zw->cctx[thread], zw->level, zw->slots + i * SLOT,
                                     ZSTD_COMPRESSBOUND(len), zw->src + off, len);
        if (__atomic_add_fetch(&zw->done, 1, __ATOMIC_ACQ_REL) == zw->nchunks)
            sys_futex(&zw->done, FUTEX_WAKE_PRIVATE, 1);
    }
}

/* The helper thread's whole life: its share of every run, until told to quit. */
static void helper_main(void *arg)
{
    struct zstd_writer *zw = arg;
    uint32_t seen = 0, job;
    for (;;) {
        while ((job = __atomic_load_n(&zw->job, __ATOMIC_ACQUIRE)) == seen)
            sys_futex(&zw->job, FUTEX_WAIT_PRIVATE, seen);
        seen = job;
        if (__atomic_load_n(&zw->quit, __ATOMIC_ACQUIRE))
            return;
        compress_chunks(zw, job, 1);
    }
}

/* Both threads on the run's chunks into slots; returns the frames' total length, moved to
 * the start of dst, or 0 if any failed or they do not fit cap. */
static size_t compress_in_chunks(struct zstd_writer *zw, char *dst, size_t cap, const char *src,
                                 size_t len)
{
    uint32_t job = zw->job + 1;
    zw->src = src;
    zw->slots = dst;
    zw->len = len;
    zw->nchunks = (uint32_t)((len + CHUNK - 1) / CHUNK);
    zw->done = 0;
    __atomic_store_n(&zw->next, (uint64_t)job << 32, __ATOMIC_RELEASE);
    __atomic_store_n(&zw->job, job, __ATOMIC_RELEASE);
    sys_futex(&zw->job, FUTEX_WAKE_PRIVATE, 1);
    compress_chunks(zw, job, 0);
    uint32_t done;
    while ((done = __atomic_load_n(&zw->done, __ATOMIC_ACQUIRE)) != zw->nchunks)
        sys_futex(&zw->done, FUTEX_WAIT_PRIVATE, done);
    size_t total = 0;
    for (uint32_t i = 0; i < zw->nchunks; i++) {
        if (!zw->frame[i] || total + zw->frame[i] > cap)
            return 0;
        __builtin_memmove(dst + total, dst + i * SLOT, zw->frame[i]); /* nolibc.c's: forward */
        total += zw->frame[i];
    }
    return total;
}

/* iw_compressor's compress: 0 when the frame would not fit cap (the run is then stored as it
 * is) or zstd fails. dst has room for len bytes plus the compressor's slack. A run of more
 * than one chunk, with a helper: compressed in chunks by both threads (started at the first
 * such run). */
static size_t compress_frame(void *ctx, void *dst, size_t cap, const void *src, size_t len)
{
    struct zstd_writer *zw = ctx;
    if (zw->cctx[1] && len > CHUNK && !zw->helper_tid &&
        ck_thread_start(zw->helper_stack_top, &zw->helper_tid, helper_main, zw) <= 0)
        zw->cctx[1] = 0; /* no helper: one thread from now on */
    if (!zw->cctx[1] || len <= CHUNK)
        return compress_with(zw->cctx[0], zw->level, dst, cap, src, len);
    return compress_in_chunks(zw, dst, cap, src, len);
}

void ckpt_compress_end(struct iw_compressor *z)
{
    struct zstd_writer *zw = z->ctx;
    if (!zw->helper_tid)
        return;
    __atomic_store_n(&zw->quit, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&zw->job, 1, __ATOMIC_ACQ_REL);
    sys_futex(&zw->job, FUTEX_WAKE_PRIVATE, 1);
    ck_thread_join(&zw->helper_tid);
}

int ckpt_compress_init(struct iw_compressor *z, void *workspace, char *out, int level,
                       char *helper_stack_top)
{
    struct zstd_writer *zw = workspace;
    /* zstd wants its static contexts 8-byte aligned: after zw, rounded up to 64; two of half
     * the room each if both fit (a helper thread), else one. */
    size_t skip = (sizeof *zw + 63) & ~(size_t)63, room = CKPT_COMPRESS_WORKSPACE - skip;
    size_t half = (room / 2) & ~(size_t)63;
    int two = helper_stack_top && ZSTD_estimateCCtxSize(level) <= half;
    char *at = (char *)workspace + skip;
    zw->cctx[0] = ZSTD_initStaticCCtx(at, two ? half : room);
    zw->cctx[1] = two ? ZSTD_initStaticCCtx(at + half, half) : 0;
    if (!zw->cctx[0] || (two && !zw->cctx[1]))
        return -ENOMEM;
    zw->level = level;
    zw->helper_stack_top = helper_stack_top;
    zw->helper_tid = zw->job = zw->done = 0;
    zw->quit = 0;
    zw->next = 0;
    *z = (struct iw_compressor){.compress = compress_frame,
                                .ctx = zw,
                                .out = out,
                                .out_cap = CKPT_COMPRESS_OUT,
                                .slack = two ? CHUNKS_MAX * (SLOT - CHUNK) : 0};
    return 0;
}
