/* add-records IN OUT optional|critical|format2: writes OUT, a copy of the image IN with
 * records of kinds no reader knows added, every checksum made right — what an image of a
 * later minor version looks like to this restore-run.
 *
 *   optional  non-critical records at the start, between the first REGION with stored pages
 *             and its first RUN, between two RUNs, between the descriptors, and before END,
 *             one of them owning a page of data (appended to the data section, so the
 *             extents still tile it), and two PAGE_HASHES (known, not critical): restore-run
 *             must skip them and restore the program.
 *   critical  one critical record (kind 0x000c) among the descriptors: restore-run and ckpt
 *             verify must refuse, naming the kind.
 *   format2   no records added, the header's major version set to 2: refused by number.
 *
 * Exit 0, or 1 with "add-records: what failed: why". */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "image_io.h"

#define PAGE CKPT_PAGE_SIZE
#define UNKNOWN_LEN 32 /* an unknown record without data: head and 16 bytes */

static unsigned char extra_page[PAGE]; /* the data of the unknown DATA record */

struct out {
    unsigned char *meta;
    size_t len, cap;
    uint32_t nrecords;
};

static void die(const char *what, const char *why)
{
    fprintf(stderr, "add-records: %s: %s\n", what, why);
    exit(1);
}

static void *append(struct out *o, const void *rec, size_t len)
{
    if (o->len + len > o->cap)
        die("metadata", "grows past its buffer");
    void *at = o->meta + o->len;
    memcpy(at, rec, len);
    o->len += len;
    o->nrecords++;
    return at;
}

static void add_unknown(struct out *o, uint16_t kind, uint16_t flags)
{
    unsigned char rec[UNKNOWN_LEN];
    memset(rec, 0x5a, sizeof rec); /* a body this reader must not interpret */
    struct ckpt_record_head h = {.kind = kind, .flags = flags, .length = UNKNOWN_LEN};
    memcpy(rec, &h, sizeof h);
    append(o, rec, sizeof rec);
}

/* An unknown DATA record owning the page appended at the old end of the data section. */
static void add_unknown_data(struct out *o, uint64_t file_offset)
{
    struct {
        struct ckpt_record_head head;
        struct ckpt_extent extent;
        uint64_t more;
    } rec = {{.kind = 0x7001, .flags = CKPT_RECF_DATA, .length = sizeof rec},
             {file_offset, PAGE, ck_hash64(extra_page, PAGE)},
             42};
    append(o, &rec, sizeof rec);
}

/* Two PAGE_HASHES records, a kind this reader knows that is not critical (what incremental
 * images of memory in huge pages hold): restore-run checks their shape and passes over them. */
static void add_page_hashes(struct out *o)
{
    struct {
        struct ckpt_page_hashes_record r;
        uint64_t hash[3];
    } rec = {{{.kind = CKPT_REC_PAGE_HASHES, .length = sizeof rec}, 0x7f0000000000, 3},
             {0x1111, 0, 0x3333}};
    append(o, &rec, sizeof rec);
    rec.r.addr += 16 * PAGE;
    append(o, &rec, sizeof rec);
}

/* Copies the records of v into o with the unknown ones added. */
static void copy_records(const struct image_view *v, struct out *o, int critical)
{
    int before_run = 0, runs_seen = 0, fds_seen = 0;
    if (!critical)
        add_unknown(o, 0x0100, 0);
    for (const struct ckpt_record_head *r = image_first_any(v); r; r = image_next_any(v, r)) {
        if (r->kind == CKPT_REC_RUN && before_run && !critical) {
            add_unknown(o, 0x0101, CKPT_RECF_IGNORABLE_MASK);
            before_run = 0;
        }
        if (r->kind == CKPT_REC_FD && fds_seen++ == 1)
            add_unknown(o, critical ? 0x000c : 0x0102, critical ? CKPT_RECF_CRITICAL : 0);
        append(o, r, r->length);
        const struct ckpt_region_record *g = (const void *)r;
        if (r->kind == CKPT_REC_REGION && g->nruns && !runs_seen)
            before_run = 1;
        if (r->kind == CKPT_REC_RUN && runs_seen++ == 0 && !critical)
            add_unknown(o, 0x0103, 0);
    }
    if (!critical) {
        add_unknown_data(o, v->hdr->meta_offset);
        add_page_hashes(o);
        add_unknown(o, 0x0104, 0);
    }
    struct ckpt_end_record end = {{.kind = CKPT_REC_END,
                                   .flags = (uint16_t)ckpt_record_flags(CKPT_REC_END),
                                   .length = sizeof end},
                                  o->nrecords,
                                  0};
    append(o, &end, sizeof end);
}

static void write_all(int fd, const void *buf, size_t len, off_t at)
{
    if (pwrite(fd, buf, len, at) != (ssize_t)len)
        die("writing the new image", "short write");
}

int main(int argc, char **argv)
{
    if (argc != 4 ||
        (strcmp(argv[3], "optional") && strcmp(argv[3], "critical") && strcmp(argv[3], "format2")))
        die("usage", "add-records IN OUT optional|critical|format2");
    int critical = strcmp(argv[3], "critical") == 0, format2 = strcmp(argv[3], "format2") == 0;
    int in = open(argv[1], O_RDONLY);
    struct stat st;
    if (in < 0 || fstat(in, &st))
        die(argv[1], "cannot open");
    void *base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, in, 0);
    struct image_view v;
    struct ck_error err;
    if (base == MAP_FAILED || image_open_view(&v, base, (uint64_t)st.st_size, &err))
        die(argv[1], base == MAP_FAILED ? "cannot map" : err.msg);

    struct out o = {malloc(v.meta_len + 4096), 0, v.meta_len + 4096, 0};
    if (!o.meta)
        die("metadata", "out of memory");
    for (size_t i = 0; i < PAGE; i++)
        extra_page[i] = (unsigned char)(i * 7 + 3);
    struct ckpt_file_header h = *v.hdr;
    uint64_t data_end = h.meta_offset;
    if (format2) {
        memcpy(o.meta, v.meta, v.meta_len);
        o.len = v.meta_len;
        h.version_major = 2;
        h.version_minor = 0; /* reserved, 0, in formats 1 and 2 */
    } else {
        copy_records(&v, &o, critical);
        data_end += critical ? 0 : PAGE;
    }
    h.meta_offset = data_end;
    h.meta_length = o.len;
    h.meta_checksum = ck_hash64(o.meta, o.len);
    h.file_size = data_end + o.len;
    h.header_checksum = ck_hash64(&h, offsetof(struct ckpt_file_header, header_checksum));

    int out = open(argv[2], O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (out < 0)
        die(argv[2], "cannot create");
    const unsigned char *bytes = base;
    write_all(out, bytes, v.hdr->meta_offset, 0); /* header page and data as they were */
    write_all(out, &h, sizeof h, 0);
    if (data_end > v.hdr->meta_offset)
        write_all(out, extra_page, PAGE, (off_t)v.hdr->meta_offset);
    write_all(out, o.meta, o.len, (off_t)data_end);
    if (fsync(out) || close(out))
        die(argv[2], "cannot sync");
    return 0;
}
