/* libFuzzer harness over the image reader and validator: image_open_view (structure),
 * image_verify_data (checksums), image_check_restore_values and record iteration — the code
 * restore-run and `ckpt verify` run on an untrusted file before anything else.
 *
 * Each input is tried twice: as it is, and with its header and metadata checksums made
 * right, so that mutations reach the record checks behind the checksums. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "image_io.h"

static void validate(const unsigned char *data, size_t size)
{
    struct image_view v;
    struct ck_error err;
    if (image_open_view(&v, data, size, &err) != 0)
        return;
    uint64_t kinds = 0;
    for (const struct ckpt_record_head *r = image_first(&v); r; r = image_next(&v, r))
        kinds += r->kind;
    if (image_verify_data(&v, &err) == 0)
        (void)image_check_restore_values(&v, &err);
    (void)kinds;
}

/* Recomputes the checksums the header holds, where its bounds allow. */
static void fix_checksums(unsigned char *data, size_t size)
{
    struct ckpt_file_header h;
    memcpy(&h, data, sizeof h);
    memcpy(h.magic, CKPT_IMAGE_MAGIC, 8);
    if (h.meta_offset <= size && h.meta_length <= size - h.meta_offset)
        h.meta_checksum = ck_hash64(data + h.meta_offset, h.meta_length);
    h.header_checksum = ck_hash64(&h, __builtin_offsetof(struct ckpt_file_header, header_checksum));
    memcpy(data, &h, sizeof h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size heap copy, so reading one byte past the end is caught. Images are read
     * from a page-aligned mapping; the records' 8-byte alignment is kept by malloc. */
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    validate(copy, size);
    if (size >= CKPT_HEADER_SIZE) {
        fix_checksums(copy, size);
        validate(copy, size);
    }
    free(copy);
    return 0;
}
