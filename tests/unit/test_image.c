/* The image writer and the validating reader agree on the format, and the reader refuses
 * images that are corrupted, truncated or out of order, naming what is wrong. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "hash.h"
#include "image_io.h"
#include "page_hashes.h"
#include "thread.h"

#define META_CAP (64 * 1024)
#define SAMPLE_PID 4242
#define SAMPLE_GENERATION 3
#define FILE_REGION_START 0x400000ULL
#define ANON_REGION_START 0x10000ULL

/* Page data for the two runs, kept alive until the writer has written it. */
struct sample_pages {
    unsigned char *first;  /* one page */
    unsigned char *second; /* two pages */
};

struct image_file {
    char path[256];
    unsigned char *bytes; /* mmap'd file */
    size_t size;
};

static void fill_pages(unsigned char *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(i * 31 + seed);
}

static int make_temp_fd(char *path, size_t cap)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, cap, "%s/ckpt-test-image-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    return fd;
}

/* The id-th thread (ids 1..n in order, the leader's 1). */
static struct ckpt_thread_record *add_thread(struct image_writer *w, uint32_t id, uint32_t tid,
                                             uint32_t flags)
{
    struct ckpt_thread_record *t = iw_record(w, CKPT_REC_THREAD, sizeof *t, NULL);
    assert_non_null(t);
    t->head.id = id;
    t->tid = tid;
    t->flags = flags;
    t->fs_base = 0x7f0000001000ULL;
    snprintf(t->comm, sizeof t->comm, "sample");
    return t;
}

/* The process record and its leader thread's. */
static void add_process(struct image_writer *w)
{
    struct ckpt_process_record *p = iw_record(w, CKPT_REC_PROCESS, sizeof *p, NULL);
    assert_non_null(p);
    p->pid = SAMPLE_PID;
    p->leader_tid = SAMPLE_PID;
    p->nthreads = 1;
    p->uid = 1000;
    p->umask = 022;
    p->checkpoint_signal = SIGUSR2;
    p->start_brk = 0x500000;
    p->brk = 0x521000;
    p->sigactions[SIGINT - 1].handler = 0x401234;
    snprintf(p->comm, sizeof p->comm, "sample");
    snprintf(p->cwd, sizeof p->cwd, "/home/sample");
    snprintf(p->exe, sizeof p->exe, "/usr/bin/sample");
    add_thread(w, 1, SAMPLE_PID, CKPT_THREAD_LEADER);
}

/* An anonymous region with nothing stored: its path is the empty string, which must still
 * be written as a tail (the reader wants a NUL-terminated path in every region). */
static void add_anonymous_region(struct image_writer *w, uint64_t start, uint64_t end,
                                 uint32_t nruns)
{
    struct ckpt_region_record *g = iw_record(w, CKPT_REC_REGION, sizeof *g, "");
    assert_non_null(g);
    g->start = start;
    g->end = end;
    g->prot = CKPT_PROT_READ | CKPT_PROT_WRITE;
    g->kind = CKPT_REGION_ANON;
    g->nruns = nruns;
}

static struct ckpt_run_record *add_run(struct image_writer *w, uint64_t addr,
                                       const unsigned char *data, size_t len)
{
    struct ckpt_run_record *u = iw_record(w, CKPT_REC_RUN, sizeof *u, NULL);
    assert_non_null(u);
    u->addr = addr;
    iw_extent(w, &u->extent, data, len);
    return u;
}

static void add_file_region(struct image_writer *w, const struct sample_pages *pages)
{
    const char *path = "/usr/lib/sample lib.so";
    struct ckpt_region_record *g = iw_record(w, CKPT_REC_REGION, sizeof *g, path);
    assert_non_null(g);
    g->start = FILE_REGION_START;
    g->end = FILE_REGION_START + 0x8000;
    g->prot = CKPT_PROT_READ | CKPT_PROT_WRITE;
    g->kind = CKPT_REGION_FILE_PRIVATE;
    g->file_offset = 0x3000;
    g->nruns = 2;
    g->path_len = (uint32_t)strlen(path);
    g->file.size = 0x9000;
    add_run(w, FILE_REGION_START, pages->first, CK_PAGE);
    add_run(w, FILE_REGION_START + 0x3000, pages->second, 2 * CK_PAGE);
}

/* A FILE record (a regular file open read-write for appending) with the next id. */
static struct ckpt_file_record *add_file(struct image_writer *w, const char *path)
{
    uint32_t id = 1;
    for (size_t off = 0; off < w->meta_len;) {
        const struct ckpt_record_head *h = (const void *)(w->meta + off);
        id += h->kind == CKPT_REC_FILE;
        off += h->length;
    }
    struct ckpt_file_record *f = iw_record(w, CKPT_REC_FILE, sizeof *f, path);
    assert_non_null(f);
    f->head.id = id;
    f->kind = CKPT_FD_FILE;
    f->flags = O_RDWR | O_APPEND;
    f->path_len = (uint32_t)strlen(path);
    f->offset = 123;
    f->file.size = 456;
    return f;
}

static struct ckpt_fd_record *add_fd(struct image_writer *w, int fd, uint32_t file)
{
    struct ckpt_fd_record *f = iw_record(w, CKPT_REC_FD, sizeof *f, NULL);
    assert_non_null(f);
    f->fd = fd;
    f->file = file;
    f->origin = CKPT_ORIGIN_OPEN;
    return f;
}

static int finish(struct image_writer *w)
{
    struct ckpt_file_header hdr;
    memset(&hdr, 0, sizeof hdr);
    hdr.pid = SAMPLE_PID;
    hdr.generation = SAMPLE_GENERATION;
    hdr.created_sec = 1700000000;
    return iw_finish(w, &hdr);
}

static void map_image_file(struct image_file *f, int fd)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    f->size = (size_t)st.st_size;
    f->bytes = mmap(NULL, f->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    assert_true(f->bytes != MAP_FAILED);
    close(fd);
}

/* The image every test starts from: process, anonymous region, file region with two runs,
 * descriptors 3 and 4 sharing one open file description. */
static int write_sample_image(void **state)
{
    struct image_file *f = calloc(1, sizeof *f);
    struct sample_pages pages = {aligned_alloc(CK_PAGE, CK_PAGE),
                                 aligned_alloc(CK_PAGE, 2 * CK_PAGE)};
    char *meta = malloc(META_CAP);
    assert_true(f && pages.first && pages.second && meta);
    fill_pages(pages.first, CK_PAGE, 1);
    fill_pages(pages.second, 2 * CK_PAGE, 2);

    int fd = make_temp_fd(f->path, sizeof f->path);
    struct image_writer w;
    iw_init(&w, fd, meta, META_CAP);
    add_process(&w);
    add_anonymous_region(&w, ANON_REGION_START, ANON_REGION_START + 0x2000, 0);
    add_file_region(&w, &pages);
    add_file(&w, "/tmp/data.txt");
    add_fd(&w, 3, 1);
    add_fd(&w, 4, 1);
    assert_int_equal(finish(&w), 0);
    map_image_file(f, fd);
    free(pages.first);
    free(pages.second);
    free(meta);
    *state = f;
    return 0;
}

static int remove_sample_image(void **state)
{
    struct image_file *f = *state;
    munmap(f->bytes, f->size);
    unlink(f->path);
    free(f);
    return 0;
}

/* ---- round trip ------------------------------------------------------------------------ */

static void header_matches_what_was_written(void **state)
{
    struct image_file *f = *state;
    struct image_view v;
    struct ck_error err;
    assert_int_equal(image_open_view(&v, f->bytes, f->size, &err), 0);
    assert_int_equal(v.hdr->version_major, CKPT_IMAGE_VERSION_MAJOR);
    assert_int_equal(v.hdr->version_minor, CKPT_IMAGE_VERSION_MINOR);
    assert_int_equal(v.hdr->pid, SAMPLE_PID);
    assert_int_equal(v.hdr->generation, SAMPLE_GENERATION);
    assert_true(v.hdr->created_sec == 1700000000);
    assert_true(v.hdr->file_size == f->size);
    assert_true(v.hdr->data_bytes == 3 * CK_PAGE);
    assert_true(v.hdr->meta_offset == CKPT_HEADER_SIZE + 3 * CK_PAGE);
    assert_int_equal(v.nregions, 2);
    assert_int_equal(v.nruns, 2);
    assert_int_equal(v.nfiles, 1);
    assert_int_equal(v.nfds, 2);
}

static void process_record_matches_what_was_written(void **state)
{
    struct image_file *f = *state;
    struct image_view v;
    struct ck_error err;
    assert_int_equal(image_open_view(&v, f->bytes, f->size, &err), 0);
    const struct ckpt_process_record *p = v.proc;
    assert_int_equal(p->pid, SAMPLE_PID);
    assert_int_equal(p->uid, 1000);
    assert_int_equal(p->umask, 022);
    assert_int_equal(p->checkpoint_signal, SIGUSR2);
    assert_true(p->brk == 0x521000);
    assert_int_equal(v.nthreads, 1);
    assert_int_equal(v.threads->tid, SAMPLE_PID);
    assert_true(v.threads->fs_base == 0x7f0000001000ULL);
    assert_string_equal(v.threads->comm, "sample");
    assert_true(p->sigactions[SIGINT - 1].handler == 0x401234);
    assert_string_equal(p->comm, "sample");
    assert_string_equal(p->cwd, "/home/sample");
    assert_string_equal(p->exe, "/usr/bin/sample");
}

static void check_runs(const struct image_file *f, const struct ckpt_run_record *u0,
                       const struct ckpt_run_record *u1)
{
    unsigned char expected[2 * CK_PAGE];
    assert_true(u0->addr == FILE_REGION_START && u0->extent.length == CK_PAGE);
    assert_true(u1->addr == FILE_REGION_START + 0x3000 && u1->extent.length == 2 * CK_PAGE);
    fill_pages(expected, CK_PAGE, 1);
    assert_memory_equal(f->bytes + u0->extent.file_offset, expected, CK_PAGE);
    assert_true(u0->extent.checksum == ck_hash64(expected, CK_PAGE));
    fill_pages(expected, 2 * CK_PAGE, 2);
    assert_memory_equal(f->bytes + u1->extent.file_offset, expected, 2 * CK_PAGE);
    assert_true(u1->extent.checksum == ck_hash64(expected, 2 * CK_PAGE));
}

static void records_come_back_in_order_with_paths(void **state)
{
    struct image_file *f = *state;
    struct image_view v;
    struct ck_error err;
    assert_int_equal(image_open_view(&v, f->bytes, f->size, &err), 0);
    const struct ckpt_record_head *all[10] = {0}, **r = all + 1;
    size_t n = 0;
    for (const struct ckpt_record_head *h = image_first(&v); h; h = image_next(&v, h)) {
        assert_true(n < 10);
        all[n++] = h;
    }
    assert_int_equal(n, 9);
    static const uint32_t kinds[] = {CKPT_REC_PROCESS, CKPT_REC_THREAD, CKPT_REC_REGION,
                                     CKPT_REC_REGION,  CKPT_REC_RUN,    CKPT_REC_RUN,
                                     CKPT_REC_FILE,    CKPT_REC_FD,     CKPT_REC_FD};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(all[i]->kind, kinds[i]);

    const struct ckpt_region_record *anon = (const void *)r[1], *file = (const void *)r[2];
    assert_true(anon->start == ANON_REGION_START && anon->kind == CKPT_REGION_ANON);
    assert_string_equal(anon->path, "");
    assert_true(file->start == FILE_REGION_START && file->end == FILE_REGION_START + 0x8000);
    assert_true(file->file_offset == 0x3000 && file->nruns == 2);
    assert_string_equal(file->path, "/usr/lib/sample lib.so");
    check_runs(f, (const void *)r[3], (const void *)r[4]);

    const struct ckpt_file_record *obj = (const void *)r[5];
    assert_int_equal(obj->head.id, 1);
    assert_true(obj->offset == 123 && obj->file.size == 456);
    assert_string_equal(obj->path, "/tmp/data.txt");
    const struct ckpt_fd_record *fd3 = (const void *)r[6], *fd4 = (const void *)r[7];
    assert_int_equal(fd3->fd, 3);
    assert_int_equal(fd3->file, 1);
    assert_int_equal(fd4->fd, 4);
    assert_int_equal(fd4->file, 1); /* dup'ed: one open file description */
}

static void page_data_verifies(void **state)
{
    struct image_file *f = *state;
    struct image_view v;
    struct ck_error err;
    assert_int_equal(image_open_view(&v, f->bytes, f->size, &err), 0);
    assert_int_equal(image_verify_data(&v, &err), 0);
}

/* restore-run validates the image once, then moves its mapping into the restore core's
 * area and the view with it: the moved view reads the same records, all from the new place
 * (the old one is unmapped, so a pointer left behind would fault). */
static unsigned char *mapped_copy(const struct image_file *f)
{
    unsigned char *copy =
        mmap(NULL, f->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(copy != MAP_FAILED);
    memcpy(copy, f->bytes, f->size);
    return copy;
}

static void view_moved_with_its_mapping_reads_the_same(void **state)
{
    struct image_file *f = *state;
    struct image_view v;
    struct ck_error err;
    unsigned char *before = mapped_copy(f), *after = mapped_copy(f);
    assert_int_equal(image_open_view(&v, before, f->size, &err), 0);
    uint32_t nregions = v.nregions, nruns = v.nruns, nfds = v.nfds;
    size_t nrecords = 0;
    for (const struct ckpt_record_head *h = image_first(&v); h; h = image_next(&v, h))
        nrecords++;
    assert_int_equal(munmap(before, f->size), 0);
    image_view_rebase(&v, after);
    assert_ptr_equal(v.base, after);
    assert_ptr_equal(v.hdr, after);
    assert_true(v.meta == after + v.hdr->meta_offset && v.size == f->size);
    assert_true((const unsigned char *)v.proc > after &&
                (const unsigned char *)v.proc < after + f->size);
    assert_int_equal(v.proc->pid, SAMPLE_PID);
    size_t n = 0;
    for (const struct ckpt_record_head *h = image_first(&v); h; h = image_next(&v, h), n++)
        assert_true((const unsigned char *)h >= v.meta &&
                    (const unsigned char *)h < v.meta + v.meta_len);
    assert_int_equal(n, nrecords);
    assert_true(v.nregions == nregions && v.nruns == nruns && v.nfds == nfds);
    assert_int_equal(image_verify_data(&v, &err), 0);
    munmap(after, f->size);
}

/* ---- corruption ------------------------------------------------------------------------ */

/* Opens a private copy of the sample with byte at offset flipped (offset < 0: unchanged)
 * and size bytes of it; returns the code, with err filled. */
static int open_altered_copy(const struct image_file *f, long offset, size_t size,
                             struct image_view *v, struct ck_error *err, unsigned char **copy)
{
    *copy = malloc(f->size);
    assert_non_null(*copy);
    memcpy(*copy, f->bytes, f->size);
    if (offset >= 0)
        (*copy)[offset] ^= 0x40;
    return image_open_view(v, *copy, size, err);
}

static void expect_open_failure(const struct image_file *f, long offset, size_t size,
                                const char *want)
{
    struct image_view v;
    struct ck_error err = {0};
    unsigned char *copy;
    int rc = open_altered_copy(f, offset, size, &v, &err, &copy);
    free(copy);
    if (rc == 0)
        fail_msg("altered image (byte %ld, size %zu) was accepted", offset, size);
    if (!strstr(err.msg, want))
        fail_msg("error \"%s\" does not mention \"%s\"", err.msg, want);
}

static void flipped_data_byte_fails_page_verification(void **state)
{
    struct image_file *f = *state;
    struct image_view v;
    struct ck_error err = {0};
    unsigned char *copy;
    long data_byte = CKPT_HEADER_SIZE + 2 * CK_PAGE + 100; /* inside the second run */
    assert_int_equal(open_altered_copy(f, data_byte, f->size, &v, &err, &copy), 0);
    assert_int_not_equal(image_verify_data(&v, &err), 0);
    assert_non_null(strstr(err.msg, "checksum mismatch"));
    assert_non_null(strstr(err.msg, "sample lib.so"));
    free(copy);
}

static void flipped_header_byte_fails_header_checksum(void **state)
{
    expect_open_failure(*state, (long)offsetof(struct ckpt_file_header, pid),
                        ((struct image_file *)*state)->size, "header checksum");
}

static void wrong_magic_is_not_an_image(void **state)
{
    expect_open_failure(*state, 0, ((struct image_file *)*state)->size, "wrong magic");
}

/* The bytes after the header's fields are not under its checksum: they must be zero. */
static void header_padding_must_be_zero(void **state)
{
    struct image_file *f = *state;
    expect_open_failure(f, 200, f->size, "header padding at byte 200 is not zero");
    expect_open_failure(f, CKPT_HEADER_SIZE - 1, f->size, "header padding at byte 4095");
}

static void truncated_image_is_reported(void **state)
{
    struct image_file *f = *state;
    expect_open_failure(f, -1, f->size - 8, "truncated");
    expect_open_failure(f, -1, f->size - CK_PAGE, "truncated");
    expect_open_failure(f, -1, 100, "truncated image: 100 bytes, shorter than its header");
    expect_open_failure(f, -1, 5, "truncated image: 5 bytes");
}

/* A short file that does not start like an image is not called a damaged image. */
static void short_file_is_not_an_image(void **state)
{
    struct image_file *f = *state;
    expect_open_failure(f, 0, 100, "not a ckpt image (100 bytes, shorter than a header)");
    expect_open_failure(f, -1, 0, "not a ckpt image (0 bytes");
}

static void flipped_metadata_byte_fails_metadata_checksum(void **state)
{
    struct image_file *f = *state;
    const struct ckpt_file_header *h = (const void *)f->bytes;
    expect_open_failure(f, (long)(h->meta_offset + 20), f->size, "metadata checksum");
    expect_open_failure(f, (long)(f->size - 1), f->size, "metadata checksum");
}

/* ---- a large image: written in pieces, started on disk early, dropped from the cache ---- */

static void remove_image(struct image_file *f);

#define LARGE_RUNS 160 /* of 2 MiB: 320 MiB, past IW_CACHE_BYTES + IW_WRITEBACK_BYTES */

static void large_image_written_in_pieces_reads_back(void **state)
{
    (void)state;
    size_t len = (size_t)LARGE_RUNS * CKPT_RUN_SPLIT;
    unsigned char *data = aligned_alloc(CK_PAGE, len);
    char *meta = malloc(META_CAP);
    assert_true(data && meta);
    fill_pages(data, len, 7);
    struct image_file f;
    int fd = make_temp_fd(f.path, sizeof f.path);
    struct image_writer w;
    iw_init(&w, fd, meta, META_CAP);
    add_process(&w);
    add_anonymous_region(&w, ANON_REGION_START, ANON_REGION_START + len, LARGE_RUNS);
    for (size_t k = 0; k < LARGE_RUNS; k++)
        add_run(&w, ANON_REGION_START + k * CKPT_RUN_SPLIT, data + k * CKPT_RUN_SPLIT,
                CKPT_RUN_SPLIT);
    /* written as it went, not all at the end */
    assert_true(w.written_end >= CKPT_HEADER_SIZE + len - IW_FLUSH_BYTES);
    assert_true(w.writeback_end >= CKPT_HEADER_SIZE + len - IW_FLUSH_BYTES - IW_WRITEBACK_BYTES);
    assert_true(w.dropped_end >= w.writeback_end - IW_CACHE_BYTES - IW_WRITEBACK_BYTES);
    assert_true(w.dropped_end > CKPT_HEADER_SIZE);
    assert_int_equal(finish(&w), 0);
    assert_int_equal(fsync(fd), 0);
    iw_drop_cache(fd);
    map_image_file(&f, fd);

    struct image_view v;
    struct ck_error err;
    assert_int_equal(image_open_view(&v, f.bytes, f.size, &err), 0);
    assert_int_equal(image_verify_data(&v, &err), 0);
    assert_true(v.hdr->data_bytes == len);
    assert_memory_equal(f.bytes + CKPT_HEADER_SIZE, data, len);
    remove_image(&f);
    free(data);
    free(meta);
}

/* ---- structure the writer does not check but the reader must --------------------------- */

/* Writes an image of a process record plus what add_records adds, and maps it into f. */
static void write_image_with(void (*add_records)(struct image_writer *), struct image_file *f)
{
    char *meta = malloc(META_CAP);
    assert_non_null(meta);
    int fd = make_temp_fd(f->path, sizeof f->path);
    struct image_writer w;
    iw_init(&w, fd, meta, META_CAP);
    add_process(&w);
    add_records(&w);
    assert_int_equal(finish(&w), 0);
    map_image_file(f, fd);
    free(meta);
}

static void remove_image(struct image_file *f)
{
    munmap(f->bytes, f->size);
    unlink(f->path);
}

static void expect_written_image_refused(void (*add_records)(struct image_writer *),
                                         const char *want)
{
    struct image_file f;
    write_image_with(add_records, &f);
    struct image_view v;
    struct ck_error err = {0};
    int rc = image_open_view(&v, f.bytes, f.size, &err);
    remove_image(&f);
    assert_int_not_equal(rc, 0);
    if (!strstr(err.msg, want))
        fail_msg("error \"%s\" does not mention \"%s\"", err.msg, want);
}

/* Two regions of one page each whose runs point at each other's data. */
static void add_runs_with_swapped_data(struct image_writer *w)
{
    static unsigned char pages[2 * CK_PAGE];
    struct ckpt_run_record *u[2];
    for (int i = 0; i < 2; i++) {
        add_anonymous_region(w, ANON_REGION_START + (uint64_t)i * 2 * CK_PAGE,
                             ANON_REGION_START + (uint64_t)i * 2 * CK_PAGE + CK_PAGE, 1);
        u[i] =
            add_run(w, ANON_REGION_START + (uint64_t)i * 2 * CK_PAGE, pages + i * CK_PAGE, CK_PAGE);
    }
    uint64_t first = u[0]->extent.file_offset;
    u[0]->extent.file_offset = u[1]->extent.file_offset;
    u[1]->extent.file_offset = first;
}

static void add_regions_out_of_order(struct image_writer *w)
{
    add_anonymous_region(w, 0x20000, 0x30000, 0);
    add_anonymous_region(w, 0x10000, 0x11000, 0);
}

static void add_overlapping_regions(struct image_writer *w)
{
    add_anonymous_region(w, 0x10000, 0x30000, 0);
    add_anonymous_region(w, 0x20000, 0x40000, 0);
}

static void add_fds_out_of_order(struct image_writer *w)
{
    add_file(w, "/a");
    add_fd(w, 5, 1);
    add_fd(w, 4, 1);
}

static void add_region_missing_its_runs(struct image_writer *w)
{
    add_anonymous_region(w, 0x10000, 0x30000, 1);
    add_file(w, "/a");
}

/* A region written without a path tail has no NUL-terminated path; anonymous regions must
 * pass "" to iw_record. */
static void add_region_without_path_tail(struct image_writer *w)
{
    struct ckpt_region_record *g = iw_record(w, CKPT_REC_REGION, sizeof *g, NULL);
    assert_non_null(g);
    g->start = 0x10000;
    g->end = 0x30000;
    g->kind = CKPT_REGION_ANON;
}

static unsigned char file_contents[2 * CK_PAGE];

static struct ckpt_file_data_record *add_file_data(struct image_writer *w, uint32_t file,
                                                   size_t size)
{
    fill_pages(file_contents, sizeof file_contents, 7);
    struct ckpt_file_data_record *d = iw_record(w, CKPT_REC_FILE_DATA, sizeof *d, NULL);
    assert_non_null(d);
    d->file = file;
    d->mode = 0644;
    d->size = size;
    iw_extent(w, &d->extent, file_contents, CK_PAGE_UP(size));
    return d;
}

static void add_file_data_alone(struct image_writer *w)
{
    add_file_data(w, 1, 100);
}

static void add_file_data_of_other_file(struct image_writer *w)
{
    add_file(w, "/db");
    add_file_data(w, 2, 100);
}

/* Its object, but not right after it: after one of the descriptors. */
static void add_file_data_after_a_descriptor(struct image_writer *w)
{
    add_file(w, "/db");
    add_fd(w, 3, 1);
    add_file_data(w, 1, 100);
}

static void add_file_data_of_an_earlier_file(struct image_writer *w)
{
    add_file(w, "/db");
    add_file(w, "/db-journal");
    add_file_data(w, 1, 100);
}

static void add_file_data_beyond_data(struct image_writer *w)
{
    add_file(w, "/db");
    add_file_data(w, 1, 100)->extent.file_offset += CK_PAGE;
}

static void add_file_data_with_wrong_length(struct image_writer *w)
{
    add_file(w, "/db");
    add_file_data(w, 1, CK_PAGE + 1)->extent.length = CK_PAGE;
}

static void refuses_file_data_without_its_file(void **state)
{
    (void)state;
    expect_written_image_refused(add_file_data_alone, "without its file record (file 1)");
    expect_written_image_refused(add_file_data_of_other_file, "without its file record (file 2)");
    expect_written_image_refused(add_file_data_after_a_descriptor, "without its file record");
    expect_written_image_refused(add_file_data_of_an_earlier_file, "without its file record");
}

static void refuses_file_data_outside_the_data_section(void **state)
{
    (void)state;
    expect_written_image_refused(add_file_data_beyond_data, "outside the data section");
    expect_written_image_refused(add_file_data_with_wrong_length, "outside the data section");
}

static void add_lock(struct image_writer *w, uint32_t file, uint64_t start, uint64_t end)
{
    struct ckpt_lock_record *l = iw_record(w, CKPT_REC_LOCK, sizeof *l, NULL);
    assert_non_null(l);
    l->file = file;
    l->type = CKPT_LOCK_WRITE;
    l->start = start;
    l->end = end;
}

static void add_lock_alone(struct image_writer *w)
{
    add_lock(w, 1, 0, 10);
}

static void add_lock_of_other_file(struct image_writer *w)
{
    add_file(w, "/db");
    add_lock(w, 2, 0, 10);
}

static void add_lock_after_a_descriptor(struct image_writer *w)
{
    add_file(w, "/db");
    add_fd(w, 3, 1);
    add_lock(w, 1, 0, 10);
}

static void add_lock_ending_before_its_start(struct image_writer *w)
{
    add_file(w, "/db");
    add_file_data(w, 1, 10);
    add_lock(w, 1, 0, CKPT_LOCK_TO_EOF);
    add_lock(w, 1, 20, 10);
}

static void refuses_lock_without_its_file(void **state)
{
    (void)state;
    expect_written_image_refused(add_lock_alone, "lock record without its file record (file 1)");
    expect_written_image_refused(add_lock_of_other_file,
                                 "lock record without its file record (file 2)");
    expect_written_image_refused(add_lock_after_a_descriptor, "lock record without its file");
}

static void refuses_malformed_lock(void **state)
{
    (void)state;
    expect_written_image_refused(add_lock_ending_before_its_start,
                                 "malformed lock record of file 1");
}

/* Descriptors name FILE records before them; FILE records come first and number 1..n. */
static void add_fd_of_no_file(struct image_writer *w)
{
    add_file(w, "/a");
    add_fd(w, 3, 2);
}

static void add_fd_before_its_file(struct image_writer *w)
{
    add_file(w, "/a");
    add_fd(w, 3, 1);
    add_file(w, "/b");
}

static void add_fd_of_file_zero(struct image_writer *w)
{
    add_file(w, "/a");
    add_fd(w, 3, 0);
}

static void add_file_without_id(struct image_writer *w)
{
    add_file(w, "/a")->head.id = 0;
}

static void refuses_dangling_or_forward_object_references(void **state)
{
    (void)state;
    expect_written_image_refused(add_fd_of_no_file,
                                 "descriptor 3 refers to file 2, which is not before it");
    expect_written_image_refused(add_fd_of_file_zero,
                                 "descriptor 3 refers to file 0, which is not before it");
    expect_written_image_refused(add_fd_before_its_file, "file record after descriptors");
    expect_written_image_refused(add_file_without_id, "file record with id 0, expected 1");
}

/* ---- pipes: a PIPE object after the FILE of its first end, a PIPE_END after each end ---- */

static unsigned char pipe_bytes[2 * CK_PAGE];

static struct ckpt_file_record *add_pipe_file(struct image_writer *w, uint32_t accmode)
{
    struct ckpt_file_record *f = add_file(w, "pipe:[4242]");
    f->kind = CKPT_FD_PIPE;
    f->flags = accmode;
    f->offset = 0;
    return f;
}

static struct ckpt_pipe_record *add_pipe(struct image_writer *w, uint32_t id, uint64_t bytes,
                                         uint32_t ends)
{
    fill_pages(pipe_bytes, sizeof pipe_bytes, 9);
    struct ckpt_pipe_record *q = iw_record(w, CKPT_REC_PIPE, sizeof *q, NULL);
    assert_non_null(q);
    q->head.id = id;
    q->size = 65536;
    q->bytes = bytes;
    q->ends = ends;
    iw_extent(w, &q->extent, pipe_bytes, CK_PAGE_UP(bytes));
    return q;
}

static struct ckpt_pipe_end_record *add_pipe_end(struct image_writer *w, uint32_t file,
                                                 uint32_t pipe, uint32_t end)
{
    struct ckpt_pipe_end_record *e = iw_record(w, CKPT_REC_PIPE_END, sizeof *e, NULL);
    assert_non_null(e);
    e->file = file;
    e->pipe = pipe;
    e->end = end;
    return e;
}

#define BOTH_ENDS (CKPT_PIPE_READ_END | CKPT_PIPE_WRITE_END)

/* A pipe holding 5000 bytes with both ends, the read end dup'ed. */
static void add_whole_pipe(struct image_writer *w)
{
    add_pipe_file(w, O_RDONLY);
    add_pipe(w, 1, 5000, BOTH_ENDS);
    add_pipe_end(w, 1, 1, CKPT_PIPE_END_READ);
    add_pipe_file(w, O_WRONLY);
    add_pipe_end(w, 2, 1, CKPT_PIPE_END_WRITE);
    add_fd(w, 3, 1);
    add_fd(w, 4, 2);
    add_fd(w, 9, 1);
}

/* A pipe whose writer is closed, and one whose reader is closed (no bytes: nobody can read). */
static void add_half_pipes(struct image_writer *w)
{
    add_pipe_file(w, O_RDONLY);
    add_pipe(w, 1, 100, CKPT_PIPE_READ_END);
    add_pipe_end(w, 1, 1, CKPT_PIPE_END_READ);
    add_pipe_file(w, O_WRONLY);
    add_pipe(w, 2, 0, CKPT_PIPE_WRITE_END);
    add_pipe_end(w, 2, 2, CKPT_PIPE_END_WRITE);
    add_fd(w, 3, 1);
    add_fd(w, 4, 2);
}

static void pipes_are_read_back(void **state)
{
    (void)state;
    void (*adders[])(struct image_writer *) = {add_whole_pipe, add_half_pipes};
    for (size_t i = 0; i < sizeof adders / sizeof *adders; i++) {
        struct image_file f;
        write_image_with(adders[i], &f);
        struct image_view v;
        struct ck_error err = {0};
        if (image_open_view(&v, f.bytes, f.size, &err) || image_verify_data(&v, &err))
            fail_msg("pipe image %zu refused: %s", i, err.msg);
        const struct ckpt_pipe_record *q = 0;
        for (const struct ckpt_record_head *r = image_first(&v); r; r = image_next(&v, r))
            if (r->kind == CKPT_REC_PIPE && !q)
                q = (const void *)r;
        assert_non_null(q);
        assert_int_equal(q->bytes, i == 0 ? 5000 : 100);
        assert_memory_equal(f.bytes + q->extent.file_offset, pipe_bytes, q->bytes);
        remove_image(&f);
    }
}

static void add_pipe_after_a_file(struct image_writer *w)
{
    add_file(w, "/a");
    add_pipe(w, 1, 0, BOTH_ENDS);
}

static void add_pipe_alone(struct image_writer *w)
{
    add_pipe(w, 1, 0, BOTH_ENDS);
}

static void add_pipe_without_its_end(struct image_writer *w)
{
    add_pipe_file(w, O_RDONLY);
    add_pipe(w, 1, 0, CKPT_PIPE_READ_END);
    add_fd(w, 3, 1);
}

/* The FILE that introduces a pipe is checked for its end when the next FILE or END starts
 * too, not only at the first FD. */
static void add_pipe_without_its_end_before_a_file(struct image_writer *w)
{
    add_pipe_file(w, O_RDONLY);
    add_pipe(w, 1, 0, CKPT_PIPE_READ_END);
    add_pipe_file(w, O_WRONLY);
    add_pipe_end(w, 2, 1, CKPT_PIPE_END_WRITE);
    add_fd(w, 3, 1);
    add_fd(w, 4, 2);
}

static void add_pipe_without_its_end_before_end(struct image_writer *w)
{
    add_pipe_file(w, O_RDONLY);
    add_pipe(w, 1, 0, CKPT_PIPE_READ_END);
}

static void add_pipe_over_capacity(struct image_writer *w)
{
    add_pipe_file(w, O_RDONLY);
    add_pipe(w, 1, 100, CKPT_PIPE_READ_END)->size = 64;
}

static void add_pipe_without_ends(struct image_writer *w)
{
    add_pipe_file(w, O_RDONLY);
    add_pipe(w, 1, 0, 0);
}

static void add_unreadable_bytes(struct image_writer *w)
{
    add_pipe_file(w, O_WRONLY);
    add_pipe(w, 1, 10, CKPT_PIPE_WRITE_END);
}

static void add_pipe_short_data(struct image_writer *w)
{
    add_pipe_file(w, O_RDONLY);
    add_pipe(w, 1, 5000, CKPT_PIPE_READ_END)->bytes = 9000;
}

static void add_end_of_a_later_pipe(struct image_writer *w)
{
    add_pipe_file(w, O_RDONLY);
    add_pipe_end(w, 1, 1, CKPT_PIPE_END_READ);
}

static void add_end_with_wrong_access(struct image_writer *w)
{
    add_pipe_file(w, O_RDONLY);
    add_pipe(w, 1, 0, CKPT_PIPE_READ_END);
    add_pipe_end(w, 1, 1, CKPT_PIPE_END_WRITE);
}

static void add_end_of_another_file(struct image_writer *w)
{
    add_pipe_file(w, O_RDONLY);
    add_pipe(w, 1, 0, BOTH_ENDS);
    add_pipe_end(w, 1, 1, CKPT_PIPE_END_READ);
    add_pipe_file(w, O_WRONLY);
    add_pipe_end(w, 1, 1, CKPT_PIPE_END_WRITE);
}

static void add_end_of_a_regular_file(struct image_writer *w)
{
    add_pipe_file(w, O_RDONLY);
    add_pipe(w, 1, 0, BOTH_ENDS);
    add_pipe_end(w, 1, 1, CKPT_PIPE_END_READ);
    add_file(w, "/b")->flags = O_WRONLY;
    add_pipe_end(w, 2, 1, CKPT_PIPE_END_WRITE);
}

static void add_two_ends_on_one_file(struct image_writer *w)
{
    add_pipe_file(w, O_RDONLY);
    add_pipe(w, 1, 0, CKPT_PIPE_READ_END);
    add_pipe_end(w, 1, 1, CKPT_PIPE_END_READ);
    add_pipe_end(w, 1, 1, CKPT_PIPE_END_READ);
}

static void refuses_malformed_pipes(void **state)
{
    (void)state;
    expect_written_image_refused(add_pipe_after_a_file,
                                 "pipe record 1 without the file record of its first end");
    expect_written_image_refused(add_pipe_alone, "pipe record 1 without the file record");
    expect_written_image_refused(add_pipe_without_its_end, "introduces a pipe but is no end of it");
    expect_written_image_refused(add_pipe_without_its_end_before_a_file,
                                 "file 1 (pipe:[4242]) introduces a pipe but is no end of it");
    expect_written_image_refused(add_pipe_without_its_end_before_end,
                                 "introduces a pipe but is no end of it");
    expect_written_image_refused(add_pipe_over_capacity, "holds 100 bytes in a pipe of 64 bytes");
    expect_written_image_refused(add_pipe_without_ends, "pipe 1 has invalid ends 0");
    expect_written_image_refused(add_unreadable_bytes, "bytes nobody can read");
    expect_written_image_refused(add_pipe_short_data, "the data of pipe 1 is 8192 bytes long");
    expect_written_image_refused(add_end_of_a_later_pipe,
                                 "file 1 is an end of pipe 1, which is not before it");
    expect_written_image_refused(add_end_with_wrong_access, "is not the write end of a pipe");
    expect_written_image_refused(add_end_of_another_file,
                                 "pipe end record without its file record (file 1)");
    expect_written_image_refused(add_end_of_a_regular_file,
                                 "pipe end record without its file record (file 2)");
    expect_written_image_refused(add_two_ends_on_one_file, "pipe end record without its file");
}

/* ---- FIFOs: a FIFO record after the PIPE_END of the FIFO's first end ------------------- */

static struct ckpt_fifo_record *add_fifo(struct image_writer *w, uint32_t pipe)
{
    struct ckpt_fifo_record *q = iw_record(w, CKPT_REC_FIFO, sizeof *q, NULL);
    assert_non_null(q);
    q->pipe = pipe;
    q->uid = 1000;
    q->gid = 1000;
    q->mode = 0010600;
    return q;
}

static struct ckpt_file_record *add_fifo_file(struct image_writer *w, uint32_t accmode)
{
    struct ckpt_file_record *f = add_file(w, "/run/chan.fifo");
    f->kind = CKPT_FD_PIPE;
    f->flags = accmode;
    f->offset = 0;
    return f;
}

/* A FIFO opened three times: read, write, read-write, holding 5000 bytes. */
static void add_whole_fifo(struct image_writer *w)
{
    add_fifo_file(w, O_RDONLY);
    add_pipe(w, 1, 5000, BOTH_ENDS);
    add_pipe_end(w, 1, 1, CKPT_PIPE_END_READ);
    add_fifo(w, 1);
    add_fifo_file(w, O_WRONLY);
    add_pipe_end(w, 2, 1, CKPT_PIPE_END_WRITE);
    add_fifo_file(w, O_RDWR);
    add_pipe_end(w, 3, 1, CKPT_PIPE_END_BOTH);
    add_fd(w, 3, 1);
    add_fd(w, 4, 2);
    add_fd(w, 5, 3);
}

static void fifos_are_read_back(void **state)
{
    (void)state;
    struct image_file f;
    write_image_with(add_whole_fifo, &f);
    struct image_view v;
    struct ck_error err = {0};
    if (image_open_view(&v, f.bytes, f.size, &err) || image_verify_data(&v, &err))
        fail_msg("FIFO image refused: %s", err.msg);
    int fifos = 0, both = 0;
    for (const struct ckpt_record_head *r = image_first(&v); r; r = image_next(&v, r)) {
        fifos += r->kind == CKPT_REC_FIFO && ((const struct ckpt_fifo_record *)r)->pipe == 1;
        both += r->kind == CKPT_REC_PIPE_END &&
                ((const struct ckpt_pipe_end_record *)r)->end == CKPT_PIPE_END_BOTH;
    }
    assert_int_equal(fifos, 1);
    assert_int_equal(both, 1);
    remove_image(&f);
}

static void add_fifo_before_its_end(struct image_writer *w)
{
    add_fifo_file(w, O_RDONLY);
    add_pipe(w, 1, 0, BOTH_ENDS);
    add_fifo(w, 1);
}

static void add_fifo_of_another_pipe(struct image_writer *w)
{
    add_fifo_file(w, O_RDONLY);
    add_pipe(w, 1, 0, BOTH_ENDS);
    add_pipe_end(w, 1, 1, CKPT_PIPE_END_READ);
    add_fifo(w, 2);
}

static void add_fifo_on_a_later_end(struct image_writer *w)
{
    add_fifo_file(w, O_RDONLY);
    add_pipe(w, 1, 0, BOTH_ENDS);
    add_pipe_end(w, 1, 1, CKPT_PIPE_END_READ);
    add_fifo_file(w, O_WRONLY);
    add_pipe_end(w, 2, 1, CKPT_PIPE_END_WRITE);
    add_fifo(w, 1);
}

static void add_fifo_of_an_anonymous_pipe(struct image_writer *w)
{
    add_pipe_file(w, O_RDONLY);
    add_pipe(w, 1, 0, BOTH_ENDS);
    add_pipe_end(w, 1, 1, CKPT_PIPE_END_READ);
    add_fifo(w, 1);
}

static void add_fifo_not_a_fifo(struct image_writer *w)
{
    add_fifo_file(w, O_RDONLY);
    add_pipe(w, 1, 0, BOTH_ENDS);
    add_pipe_end(w, 1, 1, CKPT_PIPE_END_READ);
    add_fifo(w, 1)->mode = 0100600;
}

static void add_read_write_end_of_a_read_file(struct image_writer *w)
{
    add_fifo_file(w, O_RDONLY);
    add_pipe(w, 1, 0, BOTH_ENDS);
    add_pipe_end(w, 1, 1, CKPT_PIPE_END_BOTH);
}

static void add_fifo_twice(struct image_writer *w)
{
    add_fifo_file(w, O_RDONLY);
    add_pipe(w, 1, 0, BOTH_ENDS);
    add_pipe_end(w, 1, 1, CKPT_PIPE_END_READ);
    add_fifo(w, 1);
    add_fifo(w, 1);
}

static void refuses_malformed_fifos(void **state)
{
    (void)state;
    expect_written_image_refused(add_fifo_before_its_end,
                                 "FIFO record (pipe 1) without the first end of its pipe");
    expect_written_image_refused(add_fifo_of_another_pipe,
                                 "FIFO record names pipe 2, not the pipe 1 just before it");
    expect_written_image_refused(add_fifo_on_a_later_end,
                                 "FIFO record (pipe 1) without the first end of its pipe");
    expect_written_image_refused(add_fifo_of_an_anonymous_pipe,
                                 "its file 1 (pipe:[4242]) has no absolute path");
    expect_written_image_refused(add_fifo_not_a_fifo, "not a FIFO's");
    expect_written_image_refused(add_read_write_end_of_a_read_file,
                                 "is not the read-write end of a pipe");
    expect_written_image_refused(add_fifo_twice,
                                 "FIFO record (pipe 1) without the first end of its pipe");
}

/* ---- socket pairs: a SOCKPAIR after the FILE of its first end, a SOCKET_END after each -- */

static struct ckpt_file_record *add_socket_file(struct image_writer *w)
{
    struct ckpt_file_record *f = add_file(w, "socket:[777]");
    f->kind = CKPT_FD_SOCKET;
    f->flags = O_RDWR;
    f->offset = 0;
    return f;
}

static void add_sockpair(struct image_writer *w, uint32_t id, uint32_t type)
{
    struct ckpt_sockpair_record *q = iw_record(w, CKPT_REC_SOCKPAIR, sizeof *q, NULL);
    assert_non_null(q);
    q->head.id = id;
    q->type = type;
    q->ends = CKPT_SOCK_END0 | CKPT_SOCK_END1;
}

/* An end with two messages "abc" and "de" queued (11 bytes with their lengths). */
static struct ckpt_socket_end_record *add_socket_end(struct image_writer *w, uint32_t file,
                                                     uint32_t pair, uint32_t end)
{
    static unsigned char queue[CK_PAGE] = {3, 0, 0, 0, 'a', 'b', 'c', 2, 0, 0, 0, 'd', 'e'};
    struct ckpt_socket_end_record *e = iw_record(w, CKPT_REC_SOCKET_END, sizeof *e, NULL);
    assert_non_null(e);
    e->file = file;
    e->pair = pair;
    e->end = end;
    e->nmsgs = 2;
    e->bytes = 13;
    e->peek_off = -1;
    iw_extent(w, &e->extent, queue, CK_PAGE);
    return e;
}

static void add_whole_sockpair(struct image_writer *w)
{
    add_socket_file(w);
    add_sockpair(w, 1, CKPT_SOCK_DGRAM);
    add_socket_end(w, 1, 1, 0);
    add_socket_file(w);
    add_socket_end(w, 2, 1, 1);
    add_fd(w, 3, 1);
    add_fd(w, 4, 2);
}

static void sockpairs_are_read_back(void **state)
{
    (void)state;
    struct image_file f;
    write_image_with(add_whole_sockpair, &f);
    struct image_view v;
    struct ck_error err = {0};
    if (image_open_view(&v, f.bytes, f.size, &err) || image_verify_data(&v, &err))
        fail_msg("socket pair image refused: %s", err.msg);
    int ends = 0;
    for (const struct ckpt_record_head *r = image_first(&v); r; r = image_next(&v, r))
        if (r->kind == CKPT_REC_SOCKET_END) {
            const struct ckpt_socket_end_record *e = (const void *)r;
            assert_int_equal(e->end, ends++);
            assert_memory_equal(f.bytes + e->extent.file_offset + 4, "abc", 3);
        }
    assert_int_equal(ends, 2);
    remove_image(&f);
}

static void add_sockpair_after_a_pipe(struct image_writer *w)
{
    add_pipe_file(w, O_RDONLY);
    add_sockpair(w, 1, CKPT_SOCK_STREAM);
}

static void add_sockpair_of_unknown_type(struct image_writer *w)
{
    add_socket_file(w);
    add_sockpair(w, 1, 3 /* SOCK_RAW */);
}

static void add_sockpair_with_a_third_end(struct image_writer *w)
{
    add_socket_file(w);
    add_sockpair(w, 1, CKPT_SOCK_STREAM);
    ((struct ckpt_sockpair_record *)(w->meta + w->meta_len - sizeof(struct ckpt_sockpair_record)))
        ->ends = 4;
}

static void add_sockpair_without_its_end(struct image_writer *w)
{
    add_socket_file(w);
    add_sockpair(w, 1, CKPT_SOCK_STREAM);
    add_fd(w, 3, 1);
}

static void add_socket_end_of_a_later_pair(struct image_writer *w)
{
    add_socket_file(w);
    add_socket_end(w, 1, 1, 0);
}

static void add_socket_end_three(struct image_writer *w)
{
    add_socket_file(w);
    add_sockpair(w, 1, CKPT_SOCK_DGRAM);
    add_socket_end(w, 1, 1, 2);
}

static void add_socket_end_of_a_pipe(struct image_writer *w)
{
    add_socket_file(w);
    add_sockpair(w, 1, CKPT_SOCK_DGRAM);
    add_socket_end(w, 1, 1, 0);
    add_pipe_file(w, O_RDONLY);
    add_socket_end(w, 2, 1, 1);
}

static void add_socket_end_with_short_data(struct image_writer *w)
{
    add_socket_file(w);
    add_sockpair(w, 1, CKPT_SOCK_DGRAM);
    add_socket_end(w, 1, 1, 0)->bytes = 5000;
}

static void add_socket_end_with_too_many_messages(struct image_writer *w)
{
    add_socket_file(w);
    add_sockpair(w, 1, CKPT_SOCK_DGRAM);
    add_socket_end(w, 1, 1, 0)->nmsgs = 4;
}

static void refuses_malformed_sockpairs(void **state)
{
    (void)state;
    expect_written_image_refused(add_sockpair_after_a_pipe,
                                 "socket pair record 1 without the file record of its first end");
    expect_written_image_refused(add_sockpair_of_unknown_type, "socket pair 1 has unknown type 3");
    expect_written_image_refused(add_sockpair_with_a_third_end, "socket pair 1 has invalid ends 4");
    expect_written_image_refused(add_sockpair_without_its_end,
                                 "introduces a socket pair but is no end of it");
    expect_written_image_refused(add_socket_end_of_a_later_pair,
                                 "file 1 is end 0 of socket pair 1, which is not before it");
    expect_written_image_refused(add_socket_end_three,
                                 "file 1 is end 2 of socket pair 1, which is not before it");
    expect_written_image_refused(add_socket_end_of_a_pipe,
                                 "socket end record without its file record (file 2)");
    expect_written_image_refused(add_socket_end_with_short_data, "is malformed");
    expect_written_image_refused(add_socket_end_with_too_many_messages, "is malformed");
}

/* ---- inotify: an INOTIFY_WATCH per watch after the instance's FILE ------------------- */

static void add_inotify_file(struct image_writer *w)
{
    struct ckpt_file_record *f = add_file(w, "anon_inode:inotify");
    f->kind = CKPT_FD_INOTIFY;
    f->flags = O_RDONLY;
    f->offset = 0;
}

static struct ckpt_inotify_watch_record *add_inotify_watch(struct image_writer *w, int32_t wd,
                                                           const char *path)
{
    struct ckpt_inotify_watch_record *n = iw_record(w, CKPT_REC_INOTIFY_WATCH, sizeof *n, path);
    assert_non_null(n);
    n->file = 1;
    n->wd = wd;
    n->mask = 0x100 /* IN_CREATE */;
    n->mode = 040755;
    n->path_len = (uint32_t)strlen(path);
    return n;
}

static void add_two_watches(struct image_writer *w)
{
    add_inotify_file(w);
    add_inotify_watch(w, 4, "/srv/b");
    add_inotify_watch(w, 2, "/srv/a")->mask = 0x84000002 /* IN_ONESHOT|IN_EXCL_UNLINK|MODIFY */;
    add_fd(w, 3, 1);
}

static void inotify_watches_are_read_back(void **state)
{
    (void)state;
    struct image_file f;
    write_image_with(add_two_watches, &f);
    struct image_view v;
    struct ck_error err = {0};
    if (image_open_view(&v, f.bytes, f.size, &err))
        fail_msg("inotify image refused: %s", err.msg);
    int32_t wds[2];
    int n = 0;
    for (const struct ckpt_record_head *r = image_first(&v); r; r = image_next(&v, r))
        if (r->kind == CKPT_REC_INOTIFY_WATCH && n < 2)
            wds[n++] = ((const struct ckpt_inotify_watch_record *)r)->wd;
    assert_int_equal(n, 2);
    assert_int_equal(wds[0], 4);
    assert_int_equal(wds[1], 2);
    remove_image(&f);
}

static void add_watch_of_a_regular_file(struct image_writer *w)
{
    add_file(w, "/a");
    add_inotify_watch(w, 1, "/srv/a");
}

static void add_watch_numbered_0(struct image_writer *w)
{
    add_inotify_file(w);
    add_inotify_watch(w, 0, "/srv/a");
}

static void add_watch_numbered_too_high(struct image_writer *w)
{
    add_inotify_file(w);
    add_inotify_watch(w, CKPT_INOTIFY_WD_MAX + 1, "/srv/a");
}

static void add_watch_without_events(struct image_writer *w)
{
    add_inotify_file(w);
    add_inotify_watch(w, 1, "/srv/a")->mask = 0x80000000 /* IN_ONESHOT alone */;
}

static void add_watch_with_unknown_mask_bits(struct image_writer *w)
{
    add_inotify_file(w);
    add_inotify_watch(w, 1, "/srv/a")->mask = 0x01000100 /* IN_ONLYDIR is never kept */;
}

static void add_watch_of_a_relative_path(struct image_writer *w)
{
    add_inotify_file(w);
    add_inotify_watch(w, 1, "srv/a");
}

static void add_watch_without_a_kind_of_file(struct image_writer *w)
{
    add_inotify_file(w);
    add_inotify_watch(w, 1, "/srv/a")->mode = 0755;
}

static void add_watch_after_a_later_file(struct image_writer *w)
{
    add_inotify_file(w);
    add_inotify_file(w);
    add_inotify_watch(w, 1, "/srv/a"); /* names file 1, after file 2 */
}

static void refuses_malformed_inotify_watches(void **state)
{
    (void)state;
    expect_written_image_refused(add_watch_of_a_regular_file,
                                 "inotify watch record without its file record (file 1)");
    expect_written_image_refused(add_watch_numbered_0, "has an invalid number 0");
    expect_written_image_refused(add_watch_numbered_too_high, "has an invalid number 4194305");
    expect_written_image_refused(add_watch_without_events, "has an invalid mask 80000000");
    expect_written_image_refused(add_watch_with_unknown_mask_bits, "has an invalid mask 1000100");
    expect_written_image_refused(add_watch_of_a_relative_path, "malformed inotify watch 1");
    expect_written_image_refused(add_watch_without_a_kind_of_file, "malformed inotify watch 1");
    expect_written_image_refused(add_watch_after_a_later_file,
                                 "inotify watch record without its file record (file 1)");
}

/* ---- character devices: a CHARDEV after the device's FILE ------------------------------- */

static void add_chardev(struct image_writer *w, const char *path, uint32_t kind, uint32_t major,
                        uint32_t minor)
{
    struct ckpt_file_record *f = add_file(w, path);
    f->kind = kind;
    f->flags = O_RDWR;
    f->offset = 0;
    struct ckpt_chardev_record *d = iw_record(w, CKPT_REC_CHARDEV, sizeof *d, NULL);
    assert_non_null(d);
    d->file = f->head.id;
    d->major = major;
    d->minor = minor;
}

static void add_dev_full(struct image_writer *w)
{
    add_chardev(w, "/dev/full", CKPT_FD_CHARDEV, 1, 7);
    add_fd(w, 3, 1);
}

static void add_dev_kmsg(struct image_writer *w)
{
    add_chardev(w, "/dev/kmsg", CKPT_FD_CHARDEV, 1, 11);
}

static void add_chardev_of_a_regular_file(struct image_writer *w)
{
    add_chardev(w, "/a", CKPT_FD_FILE, 1, 3);
}

static void add_two_chardevs_on_one_file(struct image_writer *w)
{
    add_chardev(w, "/dev/null", CKPT_FD_CHARDEV, 1, 3);
    struct ckpt_chardev_record *d = iw_record(w, CKPT_REC_CHARDEV, sizeof *d, NULL);
    assert_non_null(d);
    d->file = 1;
    d->major = 1;
    d->minor = 5;
}

static void chardevs_are_checked(void **state)
{
    (void)state;
    struct image_file f;
    write_image_with(add_dev_full, &f);
    struct image_view v;
    struct ck_error err = {0};
    if (image_open_view(&v, f.bytes, f.size, &err))
        fail_msg("/dev/full image refused: %s", err.msg);
    remove_image(&f);
    expect_written_image_refused(add_dev_kmsg,
                                 "file 1 is character device 1:11, which ckpt does not restore");
    expect_written_image_refused(add_chardev_of_a_regular_file,
                                 "character device record without its file record (file 1)");
    expect_written_image_refused(add_two_chardevs_on_one_file,
                                 "character device record without its file record (file 1)");
}

static uint64_t stored_at;

static void add_fd_with_file_data(struct image_writer *w)
{
    add_file(w, "/db");
    stored_at = add_file_data(w, 1, CK_PAGE + 10)->extent.file_offset;
    add_fd(w, 3, 1);
}

/* Stored file contents are covered by their checksum like page runs. */
static void file_data_verifies_and_detects_corruption(void **state)
{
    (void)state;
    struct image_file f;
    write_image_with(add_fd_with_file_data, &f);
    struct image_view v;
    struct ck_error err = {0};
    assert_int_equal(image_open_view(&v, f.bytes, f.size, &err), 0);
    assert_int_equal(image_verify_data(&v, &err), 0);
    unsigned char *copy;
    long flipped = (long)stored_at + CK_PAGE + 5;
    assert_int_equal(open_altered_copy(&f, flipped, f.size, &v, &err, &copy), 0);
    assert_int_not_equal(image_verify_data(&v, &err), 0);
    assert_non_null(strstr(err.msg, "stored contents of /db"));
    free(copy);
    remove_image(&f);
}

static void refuses_regions_out_of_order(void **state)
{
    (void)state;
    expect_written_image_refused(add_regions_out_of_order, "out of order");
}

static void refuses_overlapping_regions(void **state)
{
    (void)state;
    expect_written_image_refused(add_overlapping_regions, "overlaps");
}

static void refuses_descriptors_out_of_order(void **state)
{
    (void)state;
    expect_written_image_refused(add_fds_out_of_order, "out of order");
}

static void refuses_region_missing_its_runs(void **state)
{
    (void)state;
    expect_written_image_refused(add_region_missing_its_runs, "missing 1 page runs");
}

static void refuses_region_without_path_tail(void **state)
{
    (void)state;
    expect_written_image_refused(add_region_without_path_tail, "malformed region record");
}

/* THREAD records: right after PROCESS (and each other), the leader first and only once,
 * each tid once, as many as PROCESS.nthreads, no unknown flag. */
static struct ckpt_process_record *written_process(struct image_writer *w)
{
    return (void *)w->meta;
}

static void add_second_thread(struct image_writer *w)
{
    written_process(w)->nthreads = 2;
    add_thread(w, 2, SAMPLE_PID + 1, 0);
}

static void add_second_leader(struct image_writer *w)
{
    written_process(w)->nthreads = 2;
    add_thread(w, 2, SAMPLE_PID + 1, CKPT_THREAD_LEADER);
}

static void add_thread_with_same_tid(struct image_writer *w)
{
    written_process(w)->nthreads = 2;
    add_thread(w, 2, SAMPLE_PID, 0);
}

static void add_thread_after_a_region(struct image_writer *w)
{
    written_process(w)->nthreads = 2;
    add_anonymous_region(w, ANON_REGION_START, ANON_REGION_START + CK_PAGE, 0);
    add_thread(w, 2, SAMPLE_PID + 1, 0);
}

static void count_two_threads_write_one(struct image_writer *w)
{
    written_process(w)->nthreads = 2;
}

static void leader_not_first(struct image_writer *w)
{
    struct ckpt_thread_record *t = (void *)(w->meta + sizeof(struct ckpt_process_record));
    t->flags = 0;
    written_process(w)->nthreads = 2;
    add_thread(w, 2, SAMPLE_PID + 1, CKPT_THREAD_LEADER);
}

static void thread_with_unknown_flag(struct image_writer *w)
{
    struct ckpt_thread_record *t = (void *)(w->meta + sizeof(struct ckpt_process_record));
    t->flags |= 0x100;
}

static void thread_with_wrong_id(struct image_writer *w)
{
    written_process(w)->nthreads = 2;
    add_thread(w, 3, SAMPLE_PID + 1, 0);
}

static void thread_name_unterminated(struct image_writer *w)
{
    struct ckpt_thread_record *t = (void *)(w->meta + sizeof(struct ckpt_process_record));
    memset(t->comm, 'x', sizeof t->comm);
}

static void thread_records_in_shape_are_read(void **state)
{
    (void)state;
    struct image_file f;
    write_image_with(add_second_thread, &f);
    struct image_view v;
    struct ck_error err = {0};
    if (image_open_view(&v, f.bytes, f.size, &err))
        fail_msg("two threads refused: %s", err.msg);
    assert_int_equal(v.nthreads, 2);
    assert_int_equal(v.threads->tid, SAMPLE_PID);
    remove_image(&f);
}

/* A second thread whose frame holds AVX-512 state (opmask, ZMM_Hi256, Hi16_ZMM). */
static void add_thread_with_avx512_state(struct image_writer *w)
{
    written_process(w)->nthreads = 2;
    add_thread(w, 2, SAMPLE_PID + 1, 0)->xfeatures = 0xe7;
}

/* restore-run refuses a thread whose saved register state this CPU lacks, naming it and
 * what is missing, and accepts it where the CPU has it all. */
static void thread_state_this_cpu_lacks_is_refused(void **state)
{
    (void)state;
    struct image_file f;
    write_image_with(add_thread_with_avx512_state, &f);
    struct image_view v;
    struct ck_error err = {0};
    if (image_open_view(&v, f.bytes, f.size, &err))
        fail_msg("the image was refused: %s", err.msg);
    assert_int_not_equal(thread_check_xfeatures(&v, 0x7, &err), 0);
    if (!strstr(err.msg, "thread 4243") || !strstr(err.msg, "missing 0xe0"))
        fail_msg("error \"%s\" does not name the thread and the missing features", err.msg);
    assert_int_equal(thread_check_xfeatures(&v, 0x2e7, &err), 0);
    remove_image(&f);
}

static void refuses_thread_records_out_of_shape(void **state)
{
    (void)state;
    expect_written_image_refused(add_second_leader, "second leader");
    expect_written_image_refused(leader_not_first, "is not the leader");
    expect_written_image_refused(add_thread_with_same_tid, "two thread records have tid");
    expect_written_image_refused(add_thread_after_a_region, "not right after the process");
    expect_written_image_refused(count_two_threads_write_one, "counts 2 threads, the image has 1");
    expect_written_image_refused(thread_with_unknown_flag, "has unknown flags 101");
    expect_written_image_refused(thread_name_unterminated, "unterminated name of thread");
    expect_written_image_refused(thread_with_wrong_id, "has id 3, expected 2");
}

/* A shared file mapping stores nothing (the file holds its pages): runs in one would be
 * written through to the file by the restore. */
static void add_shared_file_region_with_pages(struct image_writer *w)
{
    static unsigned char first[CK_PAGE], second[2 * CK_PAGE];
    struct sample_pages pages = {first, second};
    add_file_region(w, &pages);
    struct ckpt_region_record *g =
        (void *)(w->meta + sizeof(struct ckpt_process_record) + sizeof(struct ckpt_thread_record));
    g->kind = CKPT_REGION_FILE_SHARED;
}

static void refuses_stored_pages_of_a_shared_file(void **state)
{
    (void)state;
    expect_written_image_refused(add_shared_file_region_with_pages, "cannot have stored pages");
}

/* Runs must tile the data section in order, so that no data byte escapes the checksums. */
static void refuses_runs_out_of_data_order(void **state)
{
    (void)state;
    expect_written_image_refused(add_runs_with_swapped_data,
                                 "is at file offset 8192, expected 4096");
}

/* ---- staging: what the checkpoint takes while the program is stopped ------------------ */

/* Records and file contents staged first and appended after the page runs come out as if
 * written in place, with the contents as they were when staged (the source changes after),
 * the FILE_DATA record pointing at them behind the runs. */
static void staged_records_and_contents_land_after_the_runs(void **state)
{
    (void)state;
    char *stage_meta = malloc(META_CAP), *meta = malloc(META_CAP);
    char *stage_data = aligned_alloc(CK_PAGE, 4 * CK_PAGE);
    unsigned char *page = aligned_alloc(CK_PAGE, CK_PAGE);
    assert_true(stage_meta && meta && stage_data && page);
    struct image_writer staged, w;
    iw_init_staging(&staged, stage_meta, META_CAP, stage_data, 4 * CK_PAGE);
    add_process(&staged);
    add_file(&staged, "/tmp/data.txt");
    struct ckpt_file_data_record *d = add_file_data(&staged, 1, CK_PAGE + 100);
    add_fd(&staged, 3, 1);
    uint64_t staged_checksum = d->extent.checksum;
    assert_int_equal(staged.error, 0);
    memset(file_contents, 0xee, sizeof file_contents); /* the file changes after staging */

    struct image_file f;
    int fd = make_temp_fd(f.path, sizeof f.path);
    iw_init(&w, fd, meta, META_CAP);
    const struct ckpt_record_head *process = (const void *)staged.meta;
    const struct ckpt_record_head *thread = (const void *)(staged.meta + process->length);
    assert_int_equal(iw_copy_record(&w, process), 0);
    assert_int_equal(iw_copy_record(&w, thread), 0);
    fill_pages(page, CK_PAGE, 9);
    add_anonymous_region(&w, ANON_REGION_START, ANON_REGION_START + CK_PAGE, 1);
    add_run(&w, ANON_REGION_START, page, CK_PAGE);
    assert_int_equal(iw_append_staged(&w, &staged, process->length + thread->length), 0);
    assert_int_equal(finish(&w), 0);
    map_image_file(&f, fd);

    struct image_view v;
    struct ck_error err = {0};
    assert_int_equal(image_open_view(&v, f.bytes, f.size, &err), 0);
    assert_int_equal(v.proc->pid, SAMPLE_PID);
    assert_int_equal(v.nfds, 1);
    assert_int_equal(image_verify_data(&v, &err), 0);
    const struct ckpt_file_data_record *stored = NULL;
    for (const struct ckpt_record_head *r = image_first(&v); r; r = image_next(&v, r))
        if (r->kind == CKPT_REC_FILE_DATA)
            stored = (const void *)r;
    assert_non_null(stored);
    assert_int_equal(stored->extent.file_offset, CKPT_HEADER_SIZE + CK_PAGE);
    assert_int_equal(stored->extent.checksum, staged_checksum);
    fill_pages(file_contents, sizeof file_contents, 7);
    assert_memory_equal(f.bytes + stored->extent.file_offset, file_contents, 2 * CK_PAGE);
    remove_image(&f);
    free(stage_meta);
    free(meta);
    free(stage_data);
    free(page);
}

/* A staging writer never writes a file: what does not fit its buffer is an error. */
static void staging_more_than_its_buffer_fails(void **state)
{
    (void)state;
    char *stage_meta = malloc(META_CAP), *stage_data = aligned_alloc(CK_PAGE, CK_PAGE);
    assert_true(stage_meta && stage_data);
    struct image_writer staged;
    iw_init_staging(&staged, stage_meta, META_CAP, stage_data, CK_PAGE);
    add_process(&staged);
    add_file(&staged, "/tmp/data.txt");
    add_file_data(&staged, 1, CK_PAGE + 1);
    assert_int_equal(staged.error, -ENOMEM);
    free(stage_meta);
    free(stage_data);
}

/* ---- format 3 framing: versions, flags, unknown kinds, ids, the registry --------------- */

/* Images of another major version are refused by number, whatever follows the header. */
static void expect_major_refused(const struct image_file *f, uint32_t major, uint32_t minor,
                                 const char *want)
{
    unsigned char *copy = malloc(f->size);
    assert_non_null(copy);
    memcpy(copy, f->bytes, f->size);
    struct ckpt_file_header *h = (void *)copy;
    h->version_major = major;
    h->version_minor = minor;
    h->header_checksum = ck_hash64(h, offsetof(struct ckpt_file_header, header_checksum));
    struct image_view v;
    struct ck_error err = {0};
    int rc = image_open_view(&v, copy, f->size, &err);
    free(copy);
    if (!want) {
        assert_int_equal(rc, 0);
        return;
    }
    assert_int_not_equal(rc, 0);
    if (!strstr(err.msg, want))
        fail_msg("error \"%s\" does not mention \"%s\"", err.msg, want);
}

static void other_majors_are_refused_any_minor_is_read(void **state)
{
    struct image_file *f = *state;
    expect_major_refused(f, 2, 0, "image format 2, this restore-run reads format 3");
    expect_major_refused(f, 1, 0, "image format 1, this restore-run reads format 3");
    expect_major_refused(f, 4, 0, "image format 4, this restore-run reads format 3");
    expect_major_refused(f, 3, 7, NULL); /* a later minor: what it adds is skippable */
}

static unsigned char unknown_data[CK_PAGE];

/* A record of a kind this reader does not know, with flags, and a page of data for DATA. */
static struct ckpt_record_head *add_unknown(struct image_writer *w, uint32_t kind, uint32_t flags)
{
    size_t len = flags & CKPT_RECF_DATA ? 16 + sizeof(struct ckpt_extent) + 8 : 32;
    struct ckpt_record_head *r = iw_record(w, kind, len, NULL);
    assert_non_null(r);
    assert_int_equal(r->flags, 0); /* the registry has no flags for it */
    r->flags = (uint16_t)flags;
    if (flags & CKPT_RECF_DATA) {
        fill_pages(unknown_data, sizeof unknown_data, 5);
        iw_extent(w, (struct ckpt_extent *)(r + 1), unknown_data, sizeof unknown_data);
    }
    return r;
}

/* Unknown optional kinds at the start, between a REGION and its RUNs, between RUNs, after a
 * descriptor and before END, one owning data among the runs' data. */
static void add_unknown_optional_kinds_everywhere(struct image_writer *w)
{
    static unsigned char pages[2 * CK_PAGE];
    fill_pages(pages, sizeof pages, 3);
    add_unknown(w, 0x0100, 0);
    add_anonymous_region(w, ANON_REGION_START, ANON_REGION_START + 4 * CK_PAGE, 2);
    add_unknown(w, 0x0101, CKPT_RECF_IGNORABLE_MASK);
    add_run(w, ANON_REGION_START, pages, CK_PAGE);
    add_unknown(w, 0x0102, CKPT_RECF_DATA);
    add_run(w, ANON_REGION_START + 2 * CK_PAGE, pages + CK_PAGE, CK_PAGE);
    add_file(w, "/tmp/data.txt");
    add_unknown(w, 0x0103, 0);
    struct ckpt_file_data_record *d = iw_record(w, CKPT_REC_FILE_DATA, sizeof *d, NULL);
    assert_non_null(d);
    d->file = 1;
    d->size = 10;
    iw_extent(w, &d->extent, pages, CK_PAGE);
    add_unknown(w, 0x0105, 0);
    add_fd(w, 3, 1);
    add_unknown(w, 0x7fff, CKPT_RECF_DATA);
}

static void write_unknown_image(struct image_file *f)
{
    char *meta = malloc(META_CAP);
    assert_non_null(meta);
    int fd = make_temp_fd(f->path, sizeof f->path);
    struct image_writer w;
    iw_init(&w, fd, meta, META_CAP);
    add_unknown(&w, 0x0200, 0); /* before the process record: the very first */
    add_process(&w);
    add_unknown_optional_kinds_everywhere(&w);
    assert_int_equal(finish(&w), 0);
    map_image_file(f, fd);
    free(meta);
}

static void unknown_optional_kinds_are_skipped_wherever_they_stand(void **state)
{
    (void)state;
    struct image_file f;
    write_unknown_image(&f);
    struct image_view v;
    struct ck_error err = {0};
    if (image_open_view(&v, f.bytes, f.size, &err))
        fail_msg("refused: %s", err.msg);
    assert_int_equal(v.nregions, 1);
    assert_int_equal(v.nruns, 2);
    assert_int_equal(v.nfds, 1);
    assert_int_equal(image_verify_data(&v, &err), 0);
    /* Readers never meet them: the region's runs follow it, the data follows its descriptor. */
    uint32_t seen = 0, all = 0;
    for (const struct ckpt_record_head *r = image_first(&v); r; r = image_next(&v, r)) {
        assert_true(ckpt_record_index(r->kind) >= 0);
        seen++;
    }
    for (const struct ckpt_record_head *r = image_first_any(&v); r; r = image_next_any(&v, r))
        all++;
    assert_int_equal(seen, 8); /* PROCESS THREAD REGION RUN RUN FILE FILE_DATA FD */
    assert_int_equal(all, 8 + 7);
    const struct ckpt_record_head *t = image_next(&v, image_first(&v));
    assert_int_equal(t->kind, CKPT_REC_THREAD);
    const struct ckpt_record_head *g = image_next(&v, t);
    assert_int_equal(g->kind, CKPT_REC_REGION);
    const struct ckpt_run_record *u = (const void *)image_next(&v, g);
    assert_int_equal(u->head.kind, CKPT_REC_RUN);
    assert_true(u->addr == ANON_REGION_START);
    u = (const void *)image_next(&v, &u->head);
    assert_true(u->head.kind == CKPT_REC_RUN && u->addr == ANON_REGION_START + 2 * CK_PAGE);
    remove_image(&f);
}

/* The data of a kind the reader does not know is still under its checksum. */
static void unknown_kinds_data_is_verified(void **state)
{
    (void)state;
    struct image_file f;
    write_unknown_image(&f);
    struct image_view v;
    struct ck_error err = {0};
    assert_int_equal(image_open_view(&v, f.bytes, f.size, &err), 0);
    const struct ckpt_record_head *r = image_first_any(&v);
    while (r && r->kind != 0x7fff)
        r = image_next_any(&v, r);
    assert_non_null(r);
    const struct ckpt_extent *e = (const void *)(r + 1);
    f.bytes[e->file_offset + 100] ^= 1;
    assert_int_not_equal(image_verify_file_data(&v, &err), 0);
    assert_non_null(strstr(err.msg, "checksum mismatch in the data of a kind 0x7fff record"));
    assert_int_not_equal(image_verify_data(&v, &err), 0);
    remove_image(&f);
}

static void add_unknown_critical_kind(struct image_writer *w)
{
    add_unknown(w, 0x000c, CKPT_RECF_CRITICAL);
}

static void add_unknown_kind_with_refusing_flag(struct image_writer *w)
{
    add_unknown(w, 0x0300, 0x0100);
}

/* Its extent must tile the data section like any other. */
static void add_unknown_data_out_of_place(struct image_writer *w)
{
    struct ckpt_record_head *r = add_unknown(w, 0x0301, CKPT_RECF_DATA);
    ((struct ckpt_extent *)(r + 1))->file_offset += CK_PAGE;
}

static void refuses_unknown_critical_kinds_and_flags(void **state)
{
    (void)state;
    expect_written_image_refused(add_unknown_critical_kind,
                                 "needs record kind 0x000c, which this restore-run does not know");
    expect_written_image_refused(add_unknown_kind_with_refusing_flag,
                                 "has flags 100, which this restore-run does not know");
    expect_written_image_refused(add_unknown_data_out_of_place, "outside the data section");
}

static void add_run_without_data_flag(struct image_writer *w)
{
    static unsigned char page[CK_PAGE];
    add_anonymous_region(w, ANON_REGION_START, ANON_REGION_START + CK_PAGE, 1);
    add_run(w, ANON_REGION_START, page, CK_PAGE)->head.flags = CKPT_RECF_CRITICAL;
}

static void add_critical_terminal(struct image_writer *w)
{
    add_file(w, "/dev/pts/0")->kind = CKPT_FD_TTY;
    struct ckpt_terminal_record *t = iw_record(w, CKPT_REC_TERMINAL, sizeof *t, NULL);
    assert_non_null(t);
    t->file = 1;
    t->head.flags |= CKPT_RECF_CRITICAL;
}

static void add_short_lock(struct image_writer *w)
{
    add_file(w, "/db");
    iw_record(w, CKPT_REC_LOCK, sizeof(struct ckpt_lock_record) - 8, NULL);
}

static void refuses_known_kinds_with_other_flags_or_too_short(void **state)
{
    (void)state;
    expect_written_image_refused(add_run_without_data_flag, "RUN record at metadata offset");
    expect_written_image_refused(add_run_without_data_flag, "has flags 1, expected 3");
    expect_written_image_refused(add_critical_terminal, "has flags 1, expected 0");
    expect_written_image_refused(add_short_lock, "LOCK record at metadata offset");
    expect_written_image_refused(add_short_lock, "is too short (32 bytes)");
}

static void add_ids_skipping_one(struct image_writer *w)
{
    add_file(w, "/a")->head.id = 2;
}

static void refuses_ids_out_of_sequence(void **state)
{
    (void)state;
    expect_written_image_refused(add_ids_skipping_one, "has id 2, expected 1");
}

/* ---- event-loop descriptors: each kind's record right after its FILE, values sane ---- */

static struct ckpt_file_record *add_event_file(struct image_writer *w, uint32_t kind,
                                               const char *path)
{
    struct ckpt_file_record *f = add_file(w, path);
    f->kind = kind;
    f->flags = O_RDWR | O_NONBLOCK;
    f->offset = 0;
    return f;
}

static struct ckpt_eventfd_record *add_eventfd(struct image_writer *w, uint32_t file)
{
    struct ckpt_eventfd_record *e = iw_record(w, CKPT_REC_EVENTFD, sizeof *e, NULL);
    assert_non_null(e);
    e->file = file;
    e->count = 7;
    return e;
}

static struct ckpt_timerfd_record *add_timerfd(struct image_writer *w, uint32_t file)
{
    struct ckpt_timerfd_record *t = iw_record(w, CKPT_REC_TIMERFD, sizeof *t, NULL);
    assert_non_null(t);
    t->file = file;
    t->clockid = 1;
    t->value_nsec = 300000000;
    t->interval_nsec = 100000000;
    return t;
}

static struct ckpt_epoll_target_record *add_target(struct image_writer *w, uint32_t file, int fd)
{
    struct ckpt_epoll_target_record *t = iw_record(w, CKPT_REC_EPOLL_TARGET, sizeof *t, NULL);
    assert_non_null(t);
    t->file = file;
    t->fd = fd;
    t->events = 1u | (1u << 31); /* EPOLLIN | EPOLLET */
    t->data = 101;
    return t;
}

/* All four kinds, as a checkpoint writes them. */
static void add_event_descriptors(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_EVENTFD, "anon_inode:[eventfd]");
    add_eventfd(w, 1)->semaphore = 1;
    add_event_file(w, CKPT_FD_TIMERFD, "anon_inode:[timerfd]");
    add_timerfd(w, 2)->ticks = 3;
    add_event_file(w, CKPT_FD_SIGNALFD, "anon_inode:[signalfd]");
    struct ckpt_signalfd_record *s = iw_record(w, CKPT_REC_SIGNALFD, sizeof *s, NULL);
    assert_non_null(s);
    s->file = 3;
    s->mask = 1u << (10 - 1);
    add_event_file(w, CKPT_FD_EPOLL, "anon_inode:[eventpoll]");
    add_target(w, 4, 3);
    add_target(w, 4, 5)->events = 4; /* EPOLLOUT */
    for (int fd = 3; fd <= 6; fd++)
        add_fd(w, fd, (uint32_t)fd - 2);
}

static void event_descriptors_are_accepted(void **state)
{
    (void)state;
    struct image_file f;
    write_image_with(add_event_descriptors, &f);
    struct image_view v;
    struct ck_error err = {0};
    int rc = image_open_view(&v, f.bytes, f.size, &err);
    remove_image(&f);
    if (rc)
        fail_msg("refused: %s", err.msg);
    assert_int_equal(v.nfiles, 4);
    assert_int_equal(v.nfds, 4);
}

static void add_eventfd_alone(struct image_writer *w)
{
    add_eventfd(w, 1);
}

static void add_eventfd_of_a_regular_file(struct image_writer *w)
{
    add_file(w, "/a");
    add_eventfd(w, 1);
}

static void add_two_eventfd_records(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_EVENTFD, "anon_inode:[eventfd]");
    add_eventfd(w, 1);
    add_eventfd(w, 1);
}

static void add_eventfd_after_a_descriptor(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_EVENTFD, "anon_inode:[eventfd]");
    add_fd(w, 3, 1);
    add_eventfd(w, 1);
}

static void add_eventfd_counter_at_max(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_EVENTFD, "anon_inode:[eventfd]");
    add_eventfd(w, 1)->count = UINT64_MAX;
}

static void add_eventfd_semaphore_2(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_EVENTFD, "anon_inode:[eventfd]");
    add_eventfd(w, 1)->semaphore = 2;
}

static void refuses_eventfd_record_misplaced_or_malformed(void **state)
{
    (void)state;
    expect_written_image_refused(add_eventfd_alone, "eventfd record without its file record");
    expect_written_image_refused(add_eventfd_of_a_regular_file,
                                 "eventfd record without its file record (file 1)");
    expect_written_image_refused(add_two_eventfd_records, "eventfd record without its file");
    expect_written_image_refused(add_eventfd_after_a_descriptor, "eventfd record without its");
    expect_written_image_refused(add_eventfd_counter_at_max, "invalid counter");
    expect_written_image_refused(add_eventfd_semaphore_2, "semaphore flag 2");
}

static void add_timerfd_unknown_clock(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_TIMERFD, "anon_inode:[timerfd]");
    add_timerfd(w, 1)->clockid = 3; /* CLOCK_THREAD_CPUTIME_ID: timerfd has none */
}

static void add_timerfd_cancel_on_set_relative(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_TIMERFD, "anon_inode:[timerfd]");
    add_timerfd(w, 1)->settime_flags = CKPT_TIMERFD_CANCEL_ON_SET;
}

static void add_timerfd_cancel_on_set_monotonic(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_TIMERFD, "anon_inode:[timerfd]");
    add_timerfd(w, 1)->settime_flags = CKPT_TIMERFD_ABSTIME | CKPT_TIMERFD_CANCEL_ON_SET;
}

static void add_timerfd_bad_nanoseconds(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_TIMERFD, "anon_inode:[timerfd]");
    add_timerfd(w, 1)->interval_nsec = 1000000000;
}

static void add_timerfd_negative_time(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_TIMERFD, "anon_inode:[timerfd]");
    add_timerfd(w, 1)->value_sec = -1;
}

static void add_timerfd_of_an_eventfd(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_EVENTFD, "anon_inode:[eventfd]");
    add_timerfd(w, 1);
}

static void refuses_malformed_timerfd(void **state)
{
    (void)state;
    expect_written_image_refused(add_timerfd_unknown_clock, "has unknown clock 3");
    expect_written_image_refused(add_timerfd_cancel_on_set_relative, "invalid settime flags 2");
    expect_written_image_refused(add_timerfd_cancel_on_set_monotonic, "invalid settime flags 3");
    expect_written_image_refused(add_timerfd_bad_nanoseconds, "has an invalid time");
    expect_written_image_refused(add_timerfd_negative_time, "has an invalid time");
    expect_written_image_refused(add_timerfd_of_an_eventfd,
                                 "timerfd record without its file record (file 1)");
}

static void add_signalfd_with_sigkill(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_SIGNALFD, "anon_inode:[signalfd]");
    struct ckpt_signalfd_record *s = iw_record(w, CKPT_REC_SIGNALFD, sizeof *s, NULL);
    assert_non_null(s);
    s->file = 1;
    s->mask = 1u << (9 - 1);
}

static void refuses_signalfd_with_sigkill(void **state)
{
    (void)state;
    expect_written_image_refused(add_signalfd_with_sigkill, "SIGKILL or SIGSTOP in its mask");
}

static void add_target_of_other_kind(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_EVENTFD, "anon_inode:[eventfd]");
    add_target(w, 1, 4);
}

static void add_target_after_other_file(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_EPOLL, "anon_inode:[eventpoll]");
    add_target(w, 1, 4);
    add_event_file(w, CKPT_FD_EVENTFD, "anon_inode:[eventfd]");
    add_eventfd(w, 2);
    add_target(w, 1, 5);
}

static void add_target_negative_fd(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_EPOLL, "anon_inode:[eventpoll]");
    add_target(w, 1, -1);
}

static void add_target_exclusive_oneshot(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_EPOLL, "anon_inode:[eventpoll]");
    add_target(w, 1, 4)->events = 1u | (1u << 28) | (1u << 30);
}

static void add_target_unknown_event(struct image_writer *w)
{
    add_event_file(w, CKPT_FD_EPOLL, "anon_inode:[eventpoll]");
    add_target(w, 1, 4)->events = 1u << 20;
}

static void refuses_epoll_target_misplaced_or_malformed(void **state)
{
    (void)state;
    expect_written_image_refused(add_target_of_other_kind, "epoll entry without its file record");
    expect_written_image_refused(add_target_after_other_file,
                                 "epoll entry without its file record (file 1)");
    expect_written_image_refused(add_target_negative_fd, "invalid descriptor number -1");
    expect_written_image_refused(add_target_exclusive_oneshot, "for invalid events 50000001");
    expect_written_image_refused(add_target_unknown_event, "for invalid events 100000");
}

/* The registry's rows: values and names unique, END last, lengths sane. */
static void registry_is_consistent(void **state)
{
    (void)state;
    static const struct {
        uint32_t value, flags, min_len, size;
        const char *name;
    } rows[] = {
#define ROW(NAME, name, value, flags, min_len, size) {value, flags, min_len, size, #NAME},
        CKPT_RECORDS(ROW)
#undef ROW
    };
    size_t n = sizeof rows / sizeof rows[0];
    assert_int_equal(n, CKPT_NRECORD_KINDS);
    assert_int_equal(rows[n - 1].value, CKPT_REC_END);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ckpt_record_index(rows[i].value), (int)i);
        assert_string_equal(ckpt_record_name(rows[i].value), rows[i].name);
        assert_int_equal(ckpt_record_flags(rows[i].value), rows[i].flags);
        assert_int_equal(ckpt_record_min_len(rows[i].value), rows[i].min_len);
        assert_true(rows[i].value > 0 && rows[i].value <= 0xffff);
        assert_true(rows[i].min_len >= 16 && rows[i].min_len <= rows[i].size);
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(rows[i].value, rows[j].value);
            assert_string_not_equal(rows[i].name, rows[j].name);
        }
    }
    assert_int_equal(ckpt_record_index(0x000c), -1);
    assert_null(ckpt_record_name(0x000c));
}

/* ---- fdmem: MEMFILE objects before the regions, MEMFILE_OPEN after a FILE of one,
 * MEMFILE_MAP after a REGION of kind MEMFILE ---------------------------------------------- */

static unsigned char memfile_bytes[2 * CK_PAGE];

static struct ckpt_memfile_record *add_memfile(struct image_writer *w, uint32_t id, uint32_t origin,
                                               const char *name, uint64_t size)
{
    fill_pages(memfile_bytes, sizeof memfile_bytes, 11);
    struct ckpt_memfile_record *m = iw_record(w, CKPT_REC_MEMFILE, sizeof *m, name);
    assert_non_null(m);
    m->head.id = id;
    m->origin = origin;
    m->size = size;
    m->mode = 0600;
    m->name_len = (uint32_t)strlen(name);
    iw_extent(w, &m->extent, memfile_bytes, CK_PAGE_UP(size));
    return m;
}

static struct ckpt_region_record *add_memfile_region(struct image_writer *w, uint64_t start,
                                                     uint32_t object)
{
    const char *path = "/memfd:cache (deleted)";
    struct ckpt_region_record *g = iw_record(w, CKPT_REC_REGION, sizeof *g, path);
    assert_non_null(g);
    g->start = start;
    g->end = start + 2 * CK_PAGE;
    g->prot = CKPT_PROT_READ | CKPT_PROT_WRITE;
    g->kind = CKPT_REGION_MEMFILE;
    g->path_len = (uint32_t)strlen(path);
    if (object) {
        struct ckpt_memfile_map_record *map = iw_record(w, CKPT_REC_MEMFILE_MAP, sizeof *map, NULL);
        assert_non_null(map);
        map->object = object;
    }
    return g;
}

static struct ckpt_file_record *add_memfile_file(struct image_writer *w, uint32_t kind,
                                                 const char *path, uint32_t object)
{
    struct ckpt_file_record *f = add_file(w, path);
    f->kind = kind;
    f->flags = O_RDWR;
    if (object) {
        struct ckpt_memfile_open_record *o = iw_record(w, CKPT_REC_MEMFILE_OPEN, sizeof *o, NULL);
        assert_non_null(o);
        o->file = f->head.id;
        o->object = object;
    }
    return f;
}

/* A memfd mapped twice and open once, a deleted file open twice. */
static void add_memfiles(struct image_writer *w)
{
    add_memfile(w, 1, CKPT_MEMFILE_MEMFD, "cache", 5000)->seals = 0x6;
    add_memfile(w, 2, CKPT_MEMFILE_DELETED, "/tmp/scratch", 0);
    add_memfile(w, 3, CKPT_MEMFILE_SHARED, "/dev/zero", 2 * CK_PAGE);
    add_memfile_region(w, 0x10000000, 1);
    add_memfile_region(w, 0x10010000, 1);
    add_memfile_region(w, 0x10020000, 3);
    add_memfile_region(w, 0x10030000, 3);
    add_memfile_file(w, CKPT_FD_MEMFD, "/memfd:cache (deleted)", 1);
    add_memfile_file(w, CKPT_FD_DELETED, "/tmp/scratch (deleted)", 2);
    add_memfile_file(w, CKPT_FD_DELETED, "/tmp/scratch (deleted)", 2);
    add_fd(w, 3, 1);
    add_fd(w, 4, 2);
    add_fd(w, 5, 3);
}

static void memfiles_are_read_back(void **state)
{
    (void)state;
    struct image_file f;
    write_image_with(add_memfiles, &f);
    struct image_view v;
    struct ck_error err = {0};
    if (image_open_view(&v, f.bytes, f.size, &err) || image_verify_data(&v, &err))
        fail_msg("memfile image refused: %s", err.msg);
    const struct ckpt_memfile_record *m = 0;
    uint32_t maps = 0, opens = 0;
    for (const struct ckpt_record_head *r = image_first(&v); r; r = image_next(&v, r)) {
        if (r->kind == CKPT_REC_MEMFILE && !m)
            m = (const void *)r;
        maps += r->kind == CKPT_REC_MEMFILE_MAP;
        opens += r->kind == CKPT_REC_MEMFILE_OPEN;
    }
    assert_non_null(m);
    assert_string_equal(m->name, "cache");
    assert_int_equal(m->seals, 0x6);
    assert_int_equal(maps, 4);
    assert_int_equal(opens, 3);
    assert_memory_equal(f.bytes + m->extent.file_offset, memfile_bytes, 5000);
    remove_image(&f);
}

static void add_memfile_after_a_region(struct image_writer *w)
{
    add_anonymous_region(w, 0x10000000, 0x10001000, 0);
    add_memfile(w, 1, CKPT_MEMFILE_MEMFD, "late", 10);
}

static void add_memfile_of_unknown_origin(struct image_writer *w)
{
    add_memfile(w, 1, 4, "odd", 10);
}

static void add_memfile_with_unknown_seals(struct image_writer *w)
{
    add_memfile(w, 1, CKPT_MEMFILE_MEMFD, "sealed", 10)->seals = 0x40;
}

static void add_deleted_file_with_relative_path(struct image_writer *w)
{
    add_memfile(w, 1, CKPT_MEMFILE_DELETED, "scratch", 10);
}

static void add_shared_memory_with_seals(struct image_writer *w)
{
    add_memfile(w, 1, CKPT_MEMFILE_SHARED, "/dev/zero", 10)->seals = 0x8;
}

static void add_memfile_with_short_contents(struct image_writer *w)
{
    struct ckpt_memfile_record *m = add_memfile(w, 1, CKPT_MEMFILE_MEMFD, "short", 10);
    m->size = CK_PAGE + 1; /* one page stored */
}

static void add_memfile_region_without_its_map(struct image_writer *w)
{
    add_memfile(w, 1, CKPT_MEMFILE_MEMFD, "cache", 10);
    add_memfile_region(w, 0x10000000, 0);
    add_anonymous_region(w, 0x20000000, 0x20001000, 0);
}

static void add_memfile_region_mapping_a_later_object(struct image_writer *w)
{
    add_memfile(w, 1, CKPT_MEMFILE_MEMFD, "cache", 10);
    add_memfile_region(w, 0x10000000, 2);
}

static void add_memfile_map_after_an_anonymous_region(struct image_writer *w)
{
    add_memfile(w, 1, CKPT_MEMFILE_MEMFD, "cache", 10);
    add_anonymous_region(w, 0x10000000, 0x10001000, 0);
    struct ckpt_memfile_map_record *map = iw_record(w, CKPT_REC_MEMFILE_MAP, sizeof *map, NULL);
    assert_non_null(map);
    map->object = 1;
}

static void add_memfile_region_with_runs(struct image_writer *w)
{
    add_memfile(w, 1, CKPT_MEMFILE_MEMFD, "cache", 10);
    add_memfile_region(w, 0x10000000, 0)->nruns = 1;
    add_run(w, 0x10000000, memfile_bytes, CK_PAGE);
}

static void add_memfd_file_without_its_object(struct image_writer *w)
{
    add_memfile(w, 1, CKPT_MEMFILE_MEMFD, "cache", 10);
    add_memfile_file(w, CKPT_FD_MEMFD, "/memfd:cache (deleted)", 0);
    add_fd(w, 3, 1);
}

static void add_memfile_open_after_a_regular_file(struct image_writer *w)
{
    add_memfile(w, 1, CKPT_MEMFILE_MEMFD, "cache", 10);
    add_memfile_file(w, CKPT_FD_FILE, "/tmp/plain", 1);
}

static void add_memfile_open_of_no_object(struct image_writer *w)
{
    add_memfile(w, 1, CKPT_MEMFILE_MEMFD, "cache", 10);
    add_memfile_file(w, CKPT_FD_MEMFD, "/memfd:cache (deleted)", 2);
}

static void refuses_malformed_memfiles(void **state)
{
    (void)state;
    expect_written_image_refused(add_memfile_after_a_region, "after regions or files");
    expect_written_image_refused(add_memfile_of_unknown_origin, "unknown origin 4");
    expect_written_image_refused(add_memfile_with_unknown_seals, "unknown seals 40");
    expect_written_image_refused(add_deleted_file_with_relative_path, "needs an absolute path");
    expect_written_image_refused(add_memfile_with_short_contents, "bytes of contents");
    expect_written_image_refused(add_shared_memory_with_seals, "has seals but is no memfd");
    expect_written_image_refused(add_memfile_region_without_its_map,
                                 "names no memory file it maps");
    expect_written_image_refused(add_memfile_region_mapping_a_later_object,
                                 "maps memory file 2, which is not before it");
    expect_written_image_refused(add_memfile_map_after_an_anonymous_region,
                                 "memory file map record without its region");
    expect_written_image_refused(add_memfile_region_with_runs, "cannot have stored pages");
    expect_written_image_refused(add_memfd_file_without_its_object, "names no memory file");
    expect_written_image_refused(add_memfile_open_after_a_regular_file,
                                 "memory file open record without its file record");
    expect_written_image_refused(add_memfile_open_of_no_object,
                                 "opens memory file 2, which is not before it");
}

/* ---- bound and listening UNIX sockets: a UNIX_BOUND right after the socket's FILE ------- */

static struct ckpt_unix_bound_record *add_unix_bound(struct image_writer *w, const char *name,
                                                     uint32_t name_len, const char *path)
{
    struct ckpt_unix_bound_record *b = iw_record(w, CKPT_REC_UNIX_BOUND, sizeof *b, path);
    assert_non_null(b);
    b->file = 1;
    b->type = CKPT_SOCK_STREAM;
    b->listening = 1;
    b->backlog = 16;
    b->mode = 0640;
    b->name_len = name_len;
    memcpy(b->name, name, name_len);
    b->path_len = path ? (uint32_t)strlen(path) : 0;
    return b;
}

static void add_listener_at_a_path(struct image_writer *w)
{
    add_socket_file(w);
    add_unix_bound(w, "srv.sock", 9, "/run/app/srv.sock");
    add_fd(w, 3, 1);
}

static void add_listener_at_an_abstract_name(struct image_writer *w)
{
    add_socket_file(w);
    add_unix_bound(w, "\0app", 4, NULL);
    add_fd(w, 3, 1);
}

static void unix_bound_sockets_are_read_back(void **state)
{
    (void)state;
    void (*images[])(struct image_writer *) = {add_listener_at_a_path,
                                               add_listener_at_an_abstract_name};
    for (size_t i = 0; i < 2; i++) {
        struct image_file f;
        write_image_with(images[i], &f);
        struct image_view v;
        struct ck_error err = {0};
        if (image_open_view(&v, f.bytes, f.size, &err))
            fail_msg("bound socket image %zu refused: %s", i, err.msg);
        int seen = 0;
        for (const struct ckpt_record_head *r = image_first(&v); r; r = image_next(&v, r))
            if (r->kind == CKPT_REC_UNIX_BOUND) {
                const struct ckpt_unix_bound_record *b = (const void *)r;
                assert_int_equal(b->backlog, 16);
                if (i == 0)
                    assert_string_equal(b->path, "/run/app/srv.sock");
                else
                    assert_int_equal(b->path_len, 0);
                seen++;
            }
        assert_int_equal(seen, 1);
        remove_image(&f);
    }
}

static void add_unix_bound_after_a_pipe(struct image_writer *w)
{
    add_pipe_file(w, O_RDONLY);
    add_unix_bound(w, "\0app", 4, NULL);
}

static void add_unix_bound_twice(struct image_writer *w)
{
    add_socket_file(w);
    add_unix_bound(w, "\0app", 4, NULL);
    add_unix_bound(w, "\0app", 4, NULL);
}

static void add_unix_bound_of_another_file(struct image_writer *w)
{
    add_socket_file(w);
    add_unix_bound(w, "\0app", 4, NULL)->file = 2;
}

static void add_unix_bound_raw(struct image_writer *w)
{
    add_socket_file(w);
    add_unix_bound(w, "\0app", 4, NULL)->type = 3 /* SOCK_RAW */;
}

static void add_unix_bound_listening_dgram(struct image_writer *w)
{
    add_socket_file(w);
    add_unix_bound(w, "\0app", 4, NULL)->type = CKPT_SOCK_DGRAM;
}

static void add_unix_bound_backlog_not_listening(struct image_writer *w)
{
    add_socket_file(w);
    add_unix_bound(w, "\0app", 4, NULL)->listening = 0;
}

static void add_unix_bound_long_name(struct image_writer *w)
{
    add_socket_file(w);
    add_unix_bound(w, "\0app", 4, NULL)->name_len = 109;
}

static void add_unix_bound_path_without_its_file(struct image_writer *w)
{
    add_socket_file(w);
    add_unix_bound(w, "srv.sock", 9, NULL);
}

static void add_unix_bound_relative_path(struct image_writer *w)
{
    add_socket_file(w);
    add_unix_bound(w, "srv.sock", 9, "srv.sock");
}

static void add_unix_bound_path_of_a_directory(struct image_writer *w)
{
    add_socket_file(w);
    add_unix_bound(w, "srv.sock", 9, "/run/app/");
}

static void add_unix_bound_abstract_with_a_path(struct image_writer *w)
{
    add_socket_file(w);
    add_unix_bound(w, "\0app", 4, "/run/app/srv.sock");
}

static void add_unix_bound_path_length_wrong(struct image_writer *w)
{
    add_socket_file(w);
    add_unix_bound(w, "srv.sock", 9, "/run/app/srv.sock")->path_len = 5;
}

static void add_unix_bound_unknown_option(struct image_writer *w)
{
    add_socket_file(w);
    add_unix_bound(w, "\0app", 4, NULL)->options = 4;
}

static void refuses_malformed_unix_bound(void **state)
{
    (void)state;
    expect_written_image_refused(add_unix_bound_after_a_pipe,
                                 "bound socket record without its file record (file 1)");
    expect_written_image_refused(add_unix_bound_twice, "bound socket record without its file");
    expect_written_image_refused(add_unix_bound_of_another_file,
                                 "bound socket record without its file record (file 2)");
    expect_written_image_refused(add_unix_bound_raw, "has unknown type 3");
    expect_written_image_refused(add_unix_bound_listening_dgram, "has invalid settings");
    expect_written_image_refused(add_unix_bound_backlog_not_listening, "has invalid settings");
    expect_written_image_refused(add_unix_bound_unknown_option, "has invalid settings");
    expect_written_image_refused(add_unix_bound_long_name, "has a name of 109 bytes");
    expect_written_image_refused(add_unix_bound_path_without_its_file, "has a malformed path");
    expect_written_image_refused(add_unix_bound_relative_path, "has a malformed path");
    expect_written_image_refused(add_unix_bound_path_of_a_directory, "has a malformed path");
    expect_written_image_refused(add_unix_bound_abstract_with_a_path, "has a malformed path");
    expect_written_image_refused(add_unix_bound_path_length_wrong, "has a malformed path");
}

/* ---- incremental images: PARENT and RUN_REF (state/chain.c, memory.c) ------------------- */

#define CHAIN_REGION_START 0x20000ULL

static void add_parent_record(struct image_writer *w, uint32_t id, uint64_t content_id,
                              const char *name)
{
    struct ckpt_parent_record *pr = iw_record(w, CKPT_REC_PARENT, sizeof *pr, name);
    assert_non_null(pr);
    pr->head.id = id;
    pr->content_id = content_id;
    pr->file_size = 3 * CK_PAGE;
    pr->generation = 7;
    pr->name_len = (uint32_t)strlen(name);
}

/* Pages kept in the parent's run of 4 pages at file offset run_offset, skip bytes into it. */
static void add_run_ref(struct image_writer *w, uint32_t parent, uint64_t addr, uint64_t len,
                        uint64_t run_offset, uint64_t skip)
{
    struct ckpt_run_ref_record *u = iw_record(w, CKPT_REC_RUN_REF, sizeof *u, NULL);
    assert_non_null(u);
    u->parent = parent;
    u->addr = addr;
    u->length = len;
    u->skip = skip;
    u->run = (struct ckpt_extent){run_offset, 4 * CK_PAGE, 0x1234};
}

/* A region of 4 pages: page 0 stored here, pages 1-2 kept in parent image 1. */
static void add_chain_region(struct image_writer *w, uint32_t parent, uint64_t ref_addr,
                             uint64_t run_offset, uint64_t skip)
{
    static unsigned char page[CK_PAGE];
    add_anonymous_region(w, CHAIN_REGION_START, CHAIN_REGION_START + 4 * CK_PAGE, 2);
    add_run(w, CHAIN_REGION_START, page, CK_PAGE);
    add_run_ref(w, parent, ref_addr, 2 * CK_PAGE, run_offset, skip);
}

static void add_incremental(struct image_writer *w)
{
    add_parent_record(w, 1, 0x1234abcdULL, "image.ckpt");
    add_parent_record(w, 2, 0x5678ef01ULL, "image.ckpt.1");
    add_chain_region(w, 2, CHAIN_REGION_START + CK_PAGE, CK_PAGE, CK_PAGE);
}

static void parents_and_run_refs_are_read_back(void **state)
{
    (void)state;
    struct image_file f;
    write_image_with(add_incremental, &f);
    struct image_view v;
    struct ck_error err;
    assert_int_equal(image_open_view(&v, f.bytes, f.size, &err), 0);
    assert_int_equal(v.nparents, 2);
    assert_int_equal(v.nrun_refs, 1);
    assert_int_equal(v.nruns, 2);
    const struct ckpt_record_head *r = image_first(&v);
    while (r && r->kind != CKPT_REC_RUN_REF)
        r = image_next(&v, r);
    assert_non_null(r);
    const struct ckpt_run_ref_record *u = (const void *)r;
    assert_true(u->parent == 2 && u->addr == CHAIN_REGION_START + CK_PAGE &&
                u->length == 2 * CK_PAGE && u->skip == CK_PAGE && u->run.file_offset == CK_PAGE);
    assert_int_equal(image_verify_data(&v, &err), 0);
    remove_image(&f);
}

static void add_parent_after_region(struct image_writer *w)
{
    add_anonymous_region(w, CHAIN_REGION_START, CHAIN_REGION_START + CK_PAGE, 0);
    add_parent_record(w, 1, 1, "image.ckpt");
}
static void add_parent_with_a_path(struct image_writer *w)
{
    add_parent_record(w, 1, 1, "../elsewhere/image.ckpt");
}
static void add_parent_without_content_id(struct image_writer *w)
{
    add_parent_record(w, 1, 0, "image.ckpt");
}
static void add_ref_to_unlisted_parent(struct image_writer *w)
{
    add_parent_record(w, 1, 1, "image.ckpt");
    add_chain_region(w, 2, CHAIN_REGION_START + CK_PAGE, CK_PAGE, CK_PAGE);
}
static void add_ref_without_parents(struct image_writer *w)
{
    add_chain_region(w, 1, CHAIN_REGION_START + CK_PAGE, CK_PAGE, CK_PAGE);
}
static void add_ref_past_its_region(struct image_writer *w)
{
    add_parent_record(w, 1, 1, "image.ckpt");
    add_chain_region(w, 1, CHAIN_REGION_START + 3 * CK_PAGE, CK_PAGE, 0);
}
static void add_ref_overlapping_the_run(struct image_writer *w)
{
    add_parent_record(w, 1, 1, "image.ckpt");
    add_chain_region(w, 1, CHAIN_REGION_START, CK_PAGE, 0);
}
static void add_ref_at_an_unaligned_offset(struct image_writer *w)
{
    add_parent_record(w, 1, 1, "image.ckpt");
    add_chain_region(w, 1, CHAIN_REGION_START + CK_PAGE, CK_PAGE, 8);
}
static void add_ref_into_the_header(struct image_writer *w)
{
    add_parent_record(w, 1, 1, "image.ckpt");
    add_chain_region(w, 1, CHAIN_REGION_START + CK_PAGE, 0, 0);
}
static void add_ref_beyond_its_parents_run(struct image_writer *w)
{
    add_parent_record(w, 1, 1, "image.ckpt");
    add_chain_region(w, 1, CHAIN_REGION_START + CK_PAGE, CK_PAGE, 3 * CK_PAGE);
}
static void add_parents_out_of_sequence(struct image_writer *w)
{
    add_parent_record(w, 2, 1, "image.ckpt");
}

static void refuses_malformed_parents_and_run_refs(void **state)
{
    (void)state;
    expect_written_image_refused(add_parent_after_region, "not right after the threads");
    expect_written_image_refused(add_parent_with_a_path, "is not a file name");
    expect_written_image_refused(add_parent_without_content_id, "no content id");
    expect_written_image_refused(add_ref_to_unlisted_parent, "names parent image 2");
    expect_written_image_refused(add_ref_without_parents, "names parent image 1");
    expect_written_image_refused(add_ref_past_its_region, "does not fit region");
    expect_written_image_refused(add_ref_overlapping_the_run, "does not fit region");
    expect_written_image_refused(add_ref_at_an_unaligned_offset, "malformed reference");
    expect_written_image_refused(add_ref_into_the_header, "malformed reference");
    expect_written_image_refused(add_ref_beyond_its_parents_run, "malformed reference");
    expect_written_image_refused(add_parents_out_of_sequence, "has id 2, expected 1");
}

/* ---- PAGE_HASHES (state/page_hashes.c) ------------------------------------------------- */

static void add_hashes(struct image_writer *w, uint64_t addr, uint64_t npages, size_t extra)
{
    struct ckpt_page_hashes_record *h =
        iw_record(w, CKPT_REC_PAGE_HASHES, sizeof *h + npages * 8 + extra, NULL);
    assert_non_null(h);
    h->addr = addr;
    h->npages = npages;
    for (uint64_t i = 0; i < npages; i++)
        ((uint64_t *)(h + 1))[i] = i + 1;
}
static void add_two_hash_runs(struct image_writer *w)
{
    add_hashes(w, 0x400000, 2, 0);
    add_hashes(w, 0x400000 + 2 * CK_PAGE, 3, 0);
}
static void add_hashes_out_of_order(struct image_writer *w)
{
    add_hashes(w, 0x400000, 4, 0);
    add_hashes(w, 0x400000 + 2 * CK_PAGE, 1, 0);
}
static void add_hashes_of_the_wrong_length(struct image_writer *w)
{
    add_hashes(w, 0x400000, 2, 8);
}
static void add_hashes_of_no_pages(struct image_writer *w)
{
    add_hashes(w, 0x400000, 0, 0);
}
static void add_hashes_unaligned(struct image_writer *w)
{
    add_hashes(w, 0x400008, 1, 0);
}
static void add_hashes_past_user_memory(struct image_writer *w)
{
    add_hashes(w, 0x7ffffffff000ULL, 2, 0);
}

static void page_hashes_are_checked(void **state)
{
    (void)state;
    struct image_file f;
    write_image_with(add_two_hash_runs, &f);
    struct image_view v;
    struct ck_error err;
    assert_int_equal(image_open_view(&v, f.bytes, f.size, &err), 0);
    remove_image(&f);
    expect_written_image_refused(add_hashes_out_of_order, "out of order");
    expect_written_image_refused(add_hashes_of_the_wrong_length, "malformed page hashes");
    expect_written_image_refused(add_hashes_of_no_pages, "malformed page hashes");
    expect_written_image_refused(add_hashes_unaligned, "malformed page hashes");
    expect_written_image_refused(add_hashes_past_user_memory, "malformed page hashes");
}

/* The writer's side: a page whose hash the base recorded is unchanged, any other changed;
 * pages outside the huge ranges are left to the write tracking; the new records hold every
 * hash taken. */
static unsigned char hashed_pages[4 * CK_PAGE] __attribute__((aligned(4096)));
static uint64_t base_hash_of_page1;
static void add_base_hashes(struct image_writer *w)
{
    struct ckpt_page_hashes_record *h = iw_record(w, CKPT_REC_PAGE_HASHES, sizeof *h + 2 * 8, NULL);
    assert_non_null(h);
    h->addr = (uint64_t)hashed_pages;
    h->npages = 2;
    ((uint64_t *)(h + 1))[0] = 0x5a5a; /* not page 0's */
    ((uint64_t *)(h + 1))[1] = base_hash_of_page1;
}

static void page_hashes_compare_by_content(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof hashed_pages; i++)
        hashed_pages[i] = (unsigned char)(i / CK_PAGE + 1);
    base_hash_of_page1 = ck_hash64(hashed_pages + CK_PAGE, CK_PAGE);
    struct image_file f;
    write_image_with(add_base_hashes, &f);
    struct image_view base;
    struct ck_error err;
    assert_int_equal(image_open_view(&base, f.bytes, f.size, &err), 0);
    uint64_t start = (uint64_t)hashed_pages;
    struct memory_range huge = {start, start + 3 * CK_PAGE};
    uint64_t scratch[8] = {0};
    struct page_hashes ph;
    page_hashes_begin(&ph, &huge, 1, scratch, 8, &base);
    assert_int_equal(page_hashes_changed(&ph, start), 1);                /* another hash */
    assert_int_equal(page_hashes_changed(&ph, start + CK_PAGE), 0);      /* the same */
    assert_int_equal(page_hashes_changed(&ph, start + 2 * CK_PAGE), 1);  /* none recorded */
    assert_int_equal(page_hashes_changed(&ph, start + 3 * CK_PAGE), -1); /* not huge */
    assert_int_equal(scratch[1], base_hash_of_page1);
    assert_true(scratch[0] && scratch[2] && !scratch[3]);
    remove_image(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_matches_what_was_written),
        cmocka_unit_test(process_record_matches_what_was_written),
        cmocka_unit_test(records_come_back_in_order_with_paths),
        cmocka_unit_test(page_data_verifies),
        cmocka_unit_test(view_moved_with_its_mapping_reads_the_same),
        cmocka_unit_test(flipped_data_byte_fails_page_verification),
        cmocka_unit_test(flipped_header_byte_fails_header_checksum),
        cmocka_unit_test(wrong_magic_is_not_an_image),
        cmocka_unit_test(header_padding_must_be_zero),
        cmocka_unit_test(truncated_image_is_reported),
        cmocka_unit_test(short_file_is_not_an_image),
        cmocka_unit_test(flipped_metadata_byte_fails_metadata_checksum),
        cmocka_unit_test(refuses_regions_out_of_order),
        cmocka_unit_test(refuses_overlapping_regions),
        cmocka_unit_test(refuses_descriptors_out_of_order),
        cmocka_unit_test(refuses_region_missing_its_runs),
        cmocka_unit_test(refuses_region_without_path_tail),
        cmocka_unit_test(refuses_stored_pages_of_a_shared_file),
        cmocka_unit_test(thread_records_in_shape_are_read),
        cmocka_unit_test(refuses_thread_records_out_of_shape),
        cmocka_unit_test(refuses_runs_out_of_data_order),
        cmocka_unit_test(refuses_file_data_without_its_file),
        cmocka_unit_test(refuses_file_data_outside_the_data_section),
        cmocka_unit_test(file_data_verifies_and_detects_corruption),
        cmocka_unit_test(refuses_lock_without_its_file),
        cmocka_unit_test(refuses_dangling_or_forward_object_references),
        cmocka_unit_test(refuses_malformed_lock),
        cmocka_unit_test(pipes_are_read_back),
        cmocka_unit_test(refuses_malformed_pipes),
        cmocka_unit_test(fifos_are_read_back),
        cmocka_unit_test(refuses_malformed_fifos),
        cmocka_unit_test(sockpairs_are_read_back),
        cmocka_unit_test(refuses_malformed_sockpairs),
        cmocka_unit_test(inotify_watches_are_read_back),
        cmocka_unit_test(refuses_malformed_inotify_watches),
        cmocka_unit_test(chardevs_are_checked),
        cmocka_unit_test(page_hashes_are_checked),
        cmocka_unit_test(page_hashes_compare_by_content),
        cmocka_unit_test(staged_records_and_contents_land_after_the_runs),
        cmocka_unit_test(staging_more_than_its_buffer_fails),
        cmocka_unit_test(large_image_written_in_pieces_reads_back),
        cmocka_unit_test(other_majors_are_refused_any_minor_is_read),
        cmocka_unit_test(unknown_optional_kinds_are_skipped_wherever_they_stand),
        cmocka_unit_test(unknown_kinds_data_is_verified),
        cmocka_unit_test(refuses_unknown_critical_kinds_and_flags),
        cmocka_unit_test(refuses_known_kinds_with_other_flags_or_too_short),
        cmocka_unit_test(refuses_ids_out_of_sequence),
        cmocka_unit_test(registry_is_consistent),
        cmocka_unit_test(event_descriptors_are_accepted),
        cmocka_unit_test(refuses_eventfd_record_misplaced_or_malformed),
        cmocka_unit_test(refuses_malformed_timerfd),
        cmocka_unit_test(refuses_signalfd_with_sigkill),
        cmocka_unit_test(refuses_epoll_target_misplaced_or_malformed),
        cmocka_unit_test(thread_state_this_cpu_lacks_is_refused),
        /* fdmem */
        cmocka_unit_test(memfiles_are_read_back),
        cmocka_unit_test(refuses_malformed_memfiles),
        cmocka_unit_test(unix_bound_sockets_are_read_back),
        cmocka_unit_test(refuses_malformed_unix_bound),
        cmocka_unit_test(parents_and_run_refs_are_read_back),
        cmocka_unit_test(refuses_malformed_parents_and_run_refs),
    };
    return cmocka_run_group_tests(tests, write_sample_image, remove_sample_image);
}
