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

#include "sys.h"
#include "util.h"

/* Runs of at least this much are split between the writer and a helper thread (when it has
 * one): two frames, back to back, which zstd decompresses as one. Below, a clone costs more
 * than it saves. */
#define SPLIT_MIN (256UL << 10)
#define CLONE_HELPER_FLAGS                                                                         \
    (0x100 /* VM */ | 0x200 /* FS */ | 0x400 /* FILES */ | 0x800 /* SIGHAND */ |                   \
     0x10000 /* THREAD */ | 0x40000 /* SYSVSEM */ | 0x100000 /* PARENT_SETTID */ |                 \
     0x200000 /* CHILD_CLEARTID */)

struct zstd_writer {
    ZSTD_CCtx *cctx[2]; /* the writer's; the helper's, or NULL when there is none */
    int level;
    char *helper_stack_top;
    uint32_t helper_tid; /* set by clone, cleared (and woken) by the kernel when it ends */
    struct {
        void *dst;
        const void *src;
        size_t cap, len, frame; /* frame: its result, 0 if none */
    } half;
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

/* The helper thread's whole life: one half, then the exit in start_helper. */
static void helper_main(void *arg)
{
    struct zstd_writer *zw = arg;
    zw->half.frame = compress_with(zw->cctx[1], zw->level, zw->half.dst, zw->half.cap, zw->half.src,
                                   zw->half.len);
}

/* A raw thread of this process on the helper stack that runs helper_main(zw) and exits; its
 * tid is in zw->helper_tid until it has ended. Returns the tid or -errno. The new thread keeps
 * this one's FS base (zstd's stack protector reads its canary there) and all signals blocked
 * (the writer child blocks them all). */
static long start_helper(struct zstd_writer *zw)
{
    void **sp = (void **)zw->helper_stack_top;
    *--sp = zw;
    *--sp = (void *)helper_main; /* popped by the new thread: rsp is 16-aligned at the call */
    register long ctid __asm__("r10") = (long)&zw->helper_tid;
    register long tls __asm__("r8") = 0;
    long ret;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xor %%ebp, %%ebp\n\t"
                     "pop %%rax\n\t"
                     "pop %%rdi\n\t"
                     "call *%%rax\n\t"
                     "mov $60, %%eax\n\t" /* exit: this thread only */
                     "xor %%edi, %%edi\n\t"
                     "syscall\n\t"
                     "hlt\n"
                     "1:"
                     : "=a"(ret)
                     : "0"(56L /* clone */), "D"((long)CLONE_HELPER_FLAGS), "S"(sp),
                       "d"(&zw->helper_tid), "r"(ctid), "r"(tls)
                     : "rcx", "r11", "memory");
    return ret;
}

/* CLONE_CHILD_CLEARTID wakes a shared futex: the wait is not the private kind. */
static void wait_helper(struct zstd_writer *zw)
{
    uint32_t tid;
    while ((tid = __atomic_load_n(&zw->helper_tid, __ATOMIC_ACQUIRE)) != 0)
        sys_futex(&zw->helper_tid, 0 /* FUTEX_WAIT */, tid);
}

/* iw_compressor's compress: 0 when the frame would not fit cap (the run is then stored as it
 * is) or zstd fails. dst has room for len bytes. A long run with a helper: its second half is
 * compressed by the helper into dst + first while this thread does the first, and the two
 * frames are put back to back. */
static size_t compress_frame(void *ctx, void *dst, size_t cap, const void *src, size_t len)
{
    struct zstd_writer *zw = ctx;
    size_t first = (len / 2) & ~(CK_PAGE - 1);
    if (!zw->cctx[1] || len < SPLIT_MIN)
        return compress_with(zw->cctx[0], zw->level, dst, cap, src, len);
    zw->half.dst = (char *)dst + first;
    zw->half.src = (const char *)src + first;
    zw->half.cap = zw->half.len = len - first;
    zw->half.frame = 0;
    if (start_helper(zw) <= 0)
        return compress_with(zw->cctx[0], zw->level, dst, cap, src, len);
    size_t a = compress_with(zw->cctx[0], zw->level, dst, first, src, first);
    wait_helper(zw);
    size_t b = zw->half.frame;
    if (!a || !b || a + b > cap)
        return 0;
    __builtin_memmove((char *)dst + a, (char *)dst + first, b); /* nolibc.c's */
    return a + b;
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
    zw->helper_tid = 0;
    *z = (struct iw_compressor){
        .compress = compress_frame, .ctx = zw, .out = out, .out_cap = CKPT_COMPRESS_OUT};
    return 0;
}
