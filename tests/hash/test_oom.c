/* test_oom.c - the hash module under the out-of-memory loop: every
 * allocation of making hashers (each algorithm and BLAKE3 mode), hashing a
 * file through the I/O buffer and on BLAKE3's pread workers, and formatting
 * (also -z, --no-names and long BLAKE3 output) and parsing list lines (also
 * with list state) fails in turn; each call must report HONE_ENOMEM (or recover) and leak nothing. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash/hash_internal.h"

static char path[64];

static int hash_everything(const hone_allocator *a, void *ctx) {
    (void)ctx;
    hone_hash_opts ho = {.alloc = a, .threads = 2};
    static const uint8_t key[32] = {1, 2, 3};
    for (int algo = HONE_HASH_SHA256; algo <= HONE_HASH_XXH3_128 + 2; algo++) {
        hone_hash *h = NULL;
        int rc;
        if (algo == HONE_HASH_XXH3_128 + 1)
            rc = hone_hash_new_blake3_keyed(&h, key, &ho);
        else if (algo == HONE_HASH_XXH3_128 + 2)
            rc = hone_hash_new_blake3_derive_key(&h, "hone test", &ho);
        else
            rc = hone_hash_new(&h, (hone_hash_algo)algo, &ho);
        if (rc) {
            if (h) return HONE_EFAIL; /* a failed _new must leave *out NULL */
            return rc;
        }
        uint8_t d[32];
        /* AUTO: with the lowered thresholds below, BLAKE3 takes the
         * threaded pread path, whose workers allocate on their threads. */
        hone_hash_file_opts fo = {.io = HONE_HASH_IO_AUTO, .buf_size = 4096};
        rc = hone_hash_path(h, path, &fo, d, sizeof d, NULL);
        if (!rc) {
            hone_buf b;
            hone_buf_init(&b, a);
            hone_hash_algo fa = hone_hash_algorithm(h);
            rc = hone_hash_format_line(&b, fa, HONE_HASH_STYLE_GNU, d, "a\\name\nwith escapes");
            if (!rc) {
                hone_buf name;
                hone_buf_init(&name, a);
                hone_hash_line l;
                rc = hone_hash_parse_line(b.data, b.len - 1, fa, &l, &name, NULL);
                if (!rc && (fa == HONE_HASH_SHA256 || fa == HONE_HASH_BLAKE3) &&
                    strcmp(name.data, "a\\name\nwith escapes") != 0)
                    rc = HONE_EFAIL;
                /* the list parser with its state, on the same line */
                hone_hash_list_state st = {0};
                if (!rc) rc = hone_hash_parse_list_line(&st, b.data, b.len - 1, fa, &l, &name, NULL);
                hone_buf_free(&name);
            }
            /* -z and --no-names lines, and a long BLAKE3 output (-l) */
            uint8_t xof[200];
            size_t xl = fa == HONE_HASH_BLAKE3 ? sizeof xof : hone_hash_digest_len(fa);
            memcpy(xof, d, hone_hash_digest_len(fa));
            if (!rc && fa == HONE_HASH_BLAKE3) rc = hone_hash_xof(h, 0, xof, sizeof xof);
            if (!rc)
                rc = hone_hash_format_line_ex(&b, fa, HONE_HASH_STYLE_GNU, xof, xl, "n\nl",
                                              HONE_HASH_LINE_ZERO);
            if (!rc)
                rc = hone_hash_format_line_ex(&b, fa, HONE_HASH_STYLE_GNU, xof, xl, NULL,
                                              HONE_HASH_LINE_NO_NAME);
            hone_buf_free(&b);
        }
        hone_hash_free(h);
        if (rc) return rc;
    }
    return HONE_OK;
}

static void test_oom(void **state) {
    (void)state;
    snprintf(path, sizeof path, "/tmp/hone-test-hash-oom-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char data[10000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (char)i;
    assert_int_equal(write(fd, data, sizeof data), (ssize_t)sizeof data);
    close(fd);
    hone__hash_auto_mt_min = 8192;
    hone__b3_fd_min_piece = 4096;
    long n = failalloc_loop("hash_everything", hash_everything, NULL);
    unlink(path);
    assert_true(n > 10);
}

static const struct CMUnitTest tests[] = {cmocka_unit_test(test_oom)};
HONE_TEST_MAIN(tests)
