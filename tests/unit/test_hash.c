/* ck_hash64 must be XXH64 with seed 0 exactly: images are checked against checksums that
 * other tools may compute with any xxHash implementation.
 *
 * The short vectors are the published ones. The others were computed with XXH64() of the
 * reference implementation (Debian's libxxhash0 0.8.1) over pattern_byte() below; their
 * lengths reach every branch of the algorithm: the 32-byte stripe loop, the 8-byte and
 * 4-byte steps and the single-byte tail. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hash.h"

static void hashes_published_short_vectors(void **state)
{
    (void)state;
    assert_true(ck_hash64("", 0) == 0xEF46DB3751D8E999ULL);
    assert_true(ck_hash64("a", 1) == 0xD24EC4F1A98C6E5BULL);
    assert_true(ck_hash64("abc", 3) == 0x44BC2CF5AD770999ULL);
    const char *fox = "The quick brown fox jumps over the lazy dog";
    assert_true(ck_hash64(fox, strlen(fox)) == 0x0B242D361FDA71BCULL);
}

static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)(i * 7 + 3);
}

static const struct {
    size_t len;
    uint64_t xxh64;
} pattern_vectors[] = {
    {31, 0xA2AA5F33CC4A6119ULL},  {32, 0x23C3C17EF790FD97ULL},   {33, 0x50A7CFC7BA588784ULL},
    {35, 0xA5B3456011D2913BULL},  {36, 0xC0B52B0DCC5E3F7FULL},   {39, 0x880BBEEA606E4B37ULL},
    {40, 0xB620306B253D76B6ULL},  {63, 0x5E3E54B431C7493CULL},   {64, 0x0EB64B3EF6EEB01FULL},
    {100, 0xA61F8D4C170FE531ULL}, {101, 0xBAD4D3BF033BDA4CULL},  {103, 0x9CE1E302796DFBC9ULL},
    {127, 0x0C2B3713C3EDBEB3ULL}, {1000, 0x5F235FA033F1A3FBULL},
};

static void hashes_long_inputs_like_the_reference(void **state)
{
    (void)state;
    unsigned char data[1000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = pattern_byte(i);
    for (size_t i = 0; i < sizeof pattern_vectors / sizeof pattern_vectors[0]; i++) {
        uint64_t h = ck_hash64(data, pattern_vectors[i].len);
        if (h != pattern_vectors[i].xxh64)
            fail_msg("length %zu: got 0x%016llx, want 0x%016llx", pattern_vectors[i].len,
                     (unsigned long long)h, (unsigned long long)pattern_vectors[i].xxh64);
    }
}

/* Run data starts page aligned but metadata records need not be 8-byte aligned relative to
 * anything: the hash must not depend on the address. */
static void hash_does_not_depend_on_alignment(void **state)
{
    (void)state;
    unsigned char *buf = malloc(1000 + 8);
    assert_non_null(buf);
    for (size_t shift = 0; shift < 8; shift++) {
        for (size_t i = 0; i < 1000; i++)
            buf[shift + i] = pattern_byte(i);
        assert_true(ck_hash64(buf + shift, 1000) == 0x5F235FA033F1A3FBULL);
    }
    free(buf);
}

static void hash_changes_with_any_flipped_bit(void **state)
{
    (void)state;
    unsigned char data[200];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = pattern_byte(i);
    uint64_t original = ck_hash64(data, sizeof data);
    for (size_t bit = 0; bit < sizeof data * 8; bit++) {
        data[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        assert_true(ck_hash64(data, sizeof data) != original);
        data[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hashes_published_short_vectors),
        cmocka_unit_test(hashes_long_inputs_like_the_reference),
        cmocka_unit_test(hash_does_not_depend_on_alignment),
        cmocka_unit_test(hash_changes_with_any_flipped_bit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
