/* checkpoint-run --compress: the writer's zstd runs (preload/compress.c) allocate nothing,
 * come back exactly through restore-run's expansion (restorer/expand.c), and the validator
 * and the expansion refuse a compressed run that is damaged or malformed, naming it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>
#include <zstd.h>

#include "compress.h"
#include "hash.h"
#include "validate.h"

#define META_CAP (64 * 1024)
#define REGION_START 0x10000000ULL
#define TEXT_PAGES 160 /* a compressible run (text-like), three chunks for two threads */
#define NOISE_PAGES 4  /* an incompressible one */

/* Linked with --wrap for libzstd's allocations (tests/unit/CMakeLists.txt): counted. */
static int allocations;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__wrap_malloc(size_t n)
{
    allocations++;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m)
{
    allocations++;
    return __real_calloc(n, m);
}

struct sample {
    unsigned char *text, *noise;
    char path[256];
    struct image_file f;
    struct image_view v;
};

static void fill_text(unsigned char *p, size_t len)
{
    static const char *words[] = {"checkpoint ", "restart ", "memory ", "page ", "run ", "zstd "};
    for (size_t i = 0; i < len;) {
        const char *w = words[(i / 7) % 6];
        for (size_t k = 0; w[k] && i < len; k++)
            p[i++] = (unsigned char)w[k];
    }
}

static void fill_noise(unsigned char *p, size_t len)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (unsigned char)x;
    }
}

static void add_process(struct image_writer *w)
{
    struct ckpt_process_record *p = iw_record(w, CKPT_REC_PROCESS, sizeof *p, NULL);
    assert_non_null(p);
    p->nthreads = 1;
    p->pid = p->leader_tid = 1;
    p->checkpoint_signal = 12; /* SIGUSR2 */
    snprintf(p->cwd, sizeof p->cwd, "/");
    struct ckpt_thread_record *t = iw_record(w, CKPT_REC_THREAD, sizeof *t, NULL);
    assert_non_null(t);
    t->head.id = 1;
    t->tid = 1;
    t->flags = CKPT_THREAD_LEADER;
    snprintf(t->comm, sizeof t->comm, "sample");
}

/* How write_sample_with writes: in the writer child's ways, or in the program's. */
#define WITH_HELPER 1    /* a helper thread compresses chunks of long runs */
#define WITH_IO_THREAD 2 /* an I/O thread writes while the writer compresses */
#define EVERY_RUN 4      /* --compress=...,all */

/* An image of one region with a text run and a noise run, written with level's compressor
 * (0: none) as the WITH_ and EVERY_ flags in how say, mapped read-write into s->f. Returns
 * the bytes of runs stored as they are for the disk's sake (iw_compressor's runs_plain). */
static uint64_t write_sample_with(struct sample *s, int level, int how)
{
    static char stack[CKPT_COMPRESS_HELPER_STACK] __attribute__((aligned(16)));
    static char io_stack[IW_IO_STACK] __attribute__((aligned(16)));
    static struct iw_io io;
    void *workspace = aligned_alloc(64, CKPT_COMPRESS_WORKSPACE);
    char *out = malloc(CKPT_COMPRESS_OUT), *meta = malloc(META_CAP);
    assert_true(workspace && out && meta);
    const char *dir = getenv("TMPDIR");
    snprintf(s->path, sizeof s->path, "%s/ckpt-test-compress-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(s->path);
    assert_true(fd >= 0);
    struct image_writer w;
    struct iw_compressor z = {0};
    iw_init(&w, fd, meta, META_CAP);
    if (level) {
        char *top = how & WITH_HELPER ? stack + sizeof stack : NULL;
        assert_int_equal(ckpt_compress_init(&z, workspace, out, level, top), 0);
        z.every_run = (how & EVERY_RUN) != 0;
        w.z = &z;
    }
    if (how & WITH_IO_THREAD)
        assert_int_equal(iw_start_io(&w, &io, io_stack + sizeof io_stack), 0);
    add_process(&w);
    struct ckpt_region_record *g = iw_record(&w, CKPT_REC_REGION, sizeof *g, "");
    assert_non_null(g);
    g->start = REGION_START;
    g->end = REGION_START + (TEXT_PAGES + NOISE_PAGES) * CK_PAGE;
    g->prot = CKPT_PROT_READ | CKPT_PROT_WRITE;
    g->kind = CKPT_REGION_ANON;
    g->nruns = 2;
    allocations = 0;
    assert_non_null(iw_run(&w, REGION_START, TEXT_PAGES * CK_PAGE));
    assert_non_null(iw_run(&w, REGION_START + TEXT_PAGES * CK_PAGE, NOISE_PAGES * CK_PAGE));
    assert_int_equal(allocations, 0);
    struct ckpt_file_header hdr = {0};
    assert_int_equal(iw_finish(&w, &hdr), 0);
    assert_int_equal(iw_stop_io(&w), 0);
    if (level)
        ckpt_compress_end(&z);
    free(workspace);
    free(out);
    free(meta);
    s->f.size = (uint64_t)lseek(fd, 0, SEEK_END);
    s->f.base = mmap(NULL, s->f.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(s->f.base != MAP_FAILED);
    s->f.fd = fd;
    s->f.source_fd = -1;
    return z.runs_plain;
}

static void write_sample(struct sample *s, int level)
{
    write_sample_with(s, level, 0);
}

static int setup(void **state)
{
    struct sample *s = calloc(1, sizeof *s);
    assert_non_null(s);
    /* The program's pages, at the addresses the runs record. */
    void *at =
        mmap((void *)REGION_START, (TEXT_PAGES + NOISE_PAGES) * CK_PAGE, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    assert_true(at == (void *)REGION_START);
    s->text = at;
    s->noise = s->text + TEXT_PAGES * CK_PAGE;
    fill_text(s->text, TEXT_PAGES * CK_PAGE);
    fill_noise(s->noise, NOISE_PAGES * CK_PAGE);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct sample *s = *state;
    munmap(s->text, (TEXT_PAGES + NOISE_PAGES) * CK_PAGE);
    free(s);
    return 0;
}

static void close_sample(struct sample *s)
{
    munmap(s->f.base, s->f.size);
    close(s->f.fd);
    if (s->f.source_fd >= 0)
        close(s->f.source_fd);
    unlink(s->path);
}

static void open_view(struct sample *s)
{
    struct ck_error err = {0};
    if (image_open_view(&s->v, s->f.base, s->f.size, &err))
        fail_msg("the image is refused: %s", err.msg);
}

static const struct ckpt_run_record *run_at(const struct image_view *v, int n)
{
    for (const struct ckpt_record_head *r = image_first(v); r; r = image_next(v, r))
        if (r->kind == CKPT_REC_RUN && n-- == 0)
            return (const void *)r;
    return NULL;
}

static void compressed_runs_come_back_exactly(void **state)
{
    struct sample *s = *state;
    struct ck_error err = {0};
    write_sample(s, 1);
    open_view(s);
    assert_int_equal(s->v.ncompressed, 1); /* the text; the noise stays as it is */
    const struct ckpt_compressed_run_record *c = (const void *)run_at(&s->v, 0);
    assert_true(c->run.head.flags & CKPT_RECF_ZSTD);
    assert_int_equal(c->run.head.length, sizeof *c);
    assert_int_equal(c->run.extent.length, TEXT_PAGES * CK_PAGE);
    assert_true(image_stored_length(&c->run.head) < TEXT_PAGES * CK_PAGE / 4);
    assert_false(run_at(&s->v, 1)->head.flags & CKPT_RECF_ZSTD);
    assert_int_equal(image_verify_data(&s->v, &err), 0);

    assert_int_equal(image_expand(&s->f, &s->v, &err), 0);
    assert_int_equal(s->v.ncompressed, 0);
    assert_true(s->f.source_fd >= 0);
    assert_int_equal(image_verify_data(&s->v, &err), 0);
    const struct ckpt_run_record *u = run_at(&s->v, 0), *n = run_at(&s->v, 1);
    assert_int_equal(u->head.flags & CKPT_RECF_ZSTD, 0);
    assert_memory_equal(s->v.base + u->extent.file_offset, s->text, TEXT_PAGES * CK_PAGE);
    assert_memory_equal(s->v.base + n->extent.file_offset, s->noise, NOISE_PAGES * CK_PAGE);
    close_sample(s);
}

/* The text run as restore-run's expansion gives it back, and the noise as it is. */
static void expect_sample_back(struct sample *s)
{
    struct ck_error err = {0};
    assert_int_equal(image_verify_data(&s->v, &err), 0);
    assert_int_equal(image_expand(&s->f, &s->v, &err), 0);
    assert_int_equal(image_verify_data(&s->v, &err), 0);
    const struct ckpt_run_record *u = run_at(&s->v, 0), *n = run_at(&s->v, 1);
    assert_memory_equal(s->v.base + u->extent.file_offset, s->text, TEXT_PAGES * CK_PAGE);
    assert_memory_equal(s->v.base + n->extent.file_offset, s->noise, NOISE_PAGES * CK_PAGE);
}

/* With a helper thread: the run's chunks as frames back to back (three: 256, 256 and
 * 128 KiB), read as one. */
static void runs_split_with_a_helper_come_back_exactly(void **state)
{
    struct sample *s = *state;
    write_sample_with(s, -1, WITH_HELPER);
    open_view(s);
    assert_int_equal(s->v.ncompressed, 1);
    const struct ckpt_compressed_run_record *c = (const void *)run_at(&s->v, 0);
    const unsigned char *frame = s->v.base + c->run.extent.file_offset;
    int frames = 0;
    for (size_t at = 0; at < c->stored_length; frames++) {
        size_t n = ZSTD_findFrameCompressedSize(frame + at, c->stored_length - at);
        assert_false(ZSTD_isError(n));
        at += n;
    }
    assert_int_equal(frames, 3);
    expect_sample_back(s);
    close_sample(s);
}

/* With an I/O thread and ",all": compressed while the thread writes, as without one. */
static void runs_written_by_an_io_thread_come_back_exactly(void **state)
{
    struct sample *s = *state;
    assert_int_equal(write_sample_with(s, -1, WITH_HELPER | WITH_IO_THREAD | EVERY_RUN), 0);
    open_view(s);
    assert_int_equal(s->v.ncompressed, 1);
    assert_true(run_at(&s->v, 0)->head.flags & CKPT_RECF_ZSTD);
    expect_sample_back(s);
    close_sample(s);
}

/* Without ",all", a run that comes while the I/O thread has nothing to write goes as it is:
 * the first one always (nothing is queued before it), so the disk starts at once. */
static void run_the_disk_waits_for_is_stored_as_it_is(void **state)
{
    struct sample *s = *state;
    uint64_t plain = write_sample_with(s, -1, WITH_HELPER | WITH_IO_THREAD);
    assert_int_equal(plain, TEXT_PAGES * CK_PAGE);
    open_view(s);
    assert_int_equal(s->v.ncompressed, 0);
    expect_sample_back(s);
    close_sample(s);
}

static void uncompressed_image_is_not_expanded(void **state)
{
    struct sample *s = *state;
    struct ck_error err = {0};
    write_sample(s, 0);
    open_view(s);
    assert_int_equal(s->v.ncompressed, 0);
    void *base = s->f.base;
    assert_int_equal(image_expand(&s->f, &s->v, &err), 0);
    assert_ptr_equal(s->f.base, base);
    close_sample(s);
}

/* Makes the header's and the metadata's checksums right again after a change. */
static void rechecksum(struct sample *s)
{
    struct ckpt_file_header *h = s->f.base;
    h->meta_checksum = ck_hash64((char *)s->f.base + h->meta_offset, h->meta_length);
    h->header_checksum = ck_hash64(h, offsetof(struct ckpt_file_header, header_checksum));
}

static struct ckpt_compressed_run_record *writable_compressed_run(struct sample *s)
{
    open_view(s);
    return (void *)run_at(&s->v, 0);
}

static void expect_refused(struct sample *s, const char *want)
{
    struct ck_error err = {0};
    rechecksum(s);
    int rc = image_open_view(&s->v, s->f.base, s->f.size, &err);
    if (rc == 0) {
        rc = image_verify_data(&s->v, &err);
        if (rc == 0)
            rc = image_expand(&s->f, &s->v, &err);
    }
    assert_int_not_equal(rc, 0);
    if (!strstr(err.msg, want))
        fail_msg("error \"%s\" does not mention \"%s\"", err.msg, want);
    close_sample(s);
}

static void damaged_frame_refused_by_its_stored_checksum(void **state)
{
    struct sample *s = *state;
    write_sample(s, 1);
    struct ckpt_compressed_run_record *c = writable_compressed_run(s);
    ((unsigned char *)s->f.base)[c->run.extent.file_offset + c->stored_length / 2] ^= 0x5a;
    expect_refused(s, "checksum mismatch in the compressed pages 10000000-100a0000 of region");
}

static void frame_that_does_not_decompress_refused(void **state)
{
    struct sample *s = *state;
    write_sample(s, 1);
    struct ckpt_compressed_run_record *c = writable_compressed_run(s);
    unsigned char *frame = (unsigned char *)s->f.base + c->run.extent.file_offset;
    frame[0] ^= 0xff; /* zstd's magic: no frame; its stored checksum made right */
    c->stored_checksum = ck_hash64(frame, CK_PAGE_UP(c->stored_length));
    expect_refused(s, "the compressed pages 10000000-100a0000 of region 10000000-100a4000 "
                      "(anonymous memory) do not decompress");
}

static void frame_of_the_wrong_length_refused(void **state)
{
    struct sample *s = *state;
    write_sample(s, 1);
    struct ckpt_compressed_run_record *c = writable_compressed_run(s);
    c->stored_length -= 1; /* a frame cut short by one byte */
    c->stored_checksum =
        ck_hash64((char *)s->f.base + c->run.extent.file_offset, CK_PAGE_UP(c->stored_length));
    expect_refused(s, "do not decompress");
}

static void compressed_run_not_smaller_refused(void **state)
{
    struct sample *s = *state;
    write_sample(s, 1);
    struct ckpt_compressed_run_record *c = writable_compressed_run(s);
    c->stored_length = c->run.extent.length;
    expect_refused(s, "stores 655360 bytes for 655360 bytes of pages");
}

static void compressed_flag_on_a_short_run_refused(void **state)
{
    struct sample *s = *state;
    write_sample(s, 1);
    struct ckpt_compressed_run_record *c = writable_compressed_run(s);
    struct ckpt_run_record *plain = (void *)run_at(&s->v, 1);
    (void)c;
    plain->head.flags |= CKPT_RECF_ZSTD;
    expect_refused(s, "compressed RUN record at metadata offset");
}

static void compressed_flag_on_another_kind_refused(void **state)
{
    struct sample *s = *state;
    write_sample(s, 1);
    writable_compressed_run(s);
    struct ckpt_record_head *region = (void *)image_first(&s->v);
    while (region->kind != CKPT_REC_REGION)
        region = (void *)image_next(&s->v, region);
    region->flags |= CKPT_RECF_ZSTD;
    expect_refused(s, "REGION record at metadata offset");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(compressed_runs_come_back_exactly),
        cmocka_unit_test(runs_split_with_a_helper_come_back_exactly),
        cmocka_unit_test(runs_written_by_an_io_thread_come_back_exactly),
        cmocka_unit_test(run_the_disk_waits_for_is_stored_as_it_is),
        cmocka_unit_test(uncompressed_image_is_not_expanded),
        cmocka_unit_test(damaged_frame_refused_by_its_stored_checksum),
        cmocka_unit_test(frame_that_does_not_decompress_refused),
        cmocka_unit_test(frame_of_the_wrong_length_refused),
        cmocka_unit_test(compressed_run_not_smaller_refused),
        cmocka_unit_test(compressed_flag_on_a_short_run_refused),
        cmocka_unit_test(compressed_flag_on_another_kind_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
