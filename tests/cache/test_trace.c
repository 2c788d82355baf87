/* test_trace.c - the trace formats and compressions, and clear errors with
 * byte offsets for truncated or malformed traces. */
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "test.h"

static char dir[512];

static const char *path_of(const char *name) {
    static char p[640];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void write_file(const char *name, const void *data, size_t n) {
    FILE *f = fopen(path_of(name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s/tests/cache-trace-XXXXXX", HONE_BINARY_DIR);
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static int load(const char *name, int fmt, uint64_t **k, size_t *n, hone_error *err) {
    return hone_cache_trace_load(path_of(name), fmt, NULL, k, n, err);
}

static void test_cache2k_plain(void **state) {
    (void)state;
    const unsigned char d[] = {0, 0, 0, 7, 0xff, 0xff, 0xff, 0xfe, 0, 1, 0, 0};
    write_file("a.trace", d, sizeof d);
    uint64_t *k;
    size_t n;
    hone_error err;
    assert_int_equal(load("a.trace", HONE_CACHE_TRACE_AUTO, &k, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(k[0], 7);
    assert_int_equal((int64_t)k[1], -2); /* signed, as Java reads it */
    assert_int_equal(k[2], 65536);
    hone_free(NULL, k);
}

static void test_cache2k_truncated(void **state) {
    (void)state;
    const unsigned char d[] = {0, 0, 0, 7, 0, 0, 0, 8, 0, 0};
    write_file("t.trace", d, sizeof d);
    uint64_t *k;
    size_t n;
    hone_error err;
    assert_int_equal(load("t.trace", HONE_CACHE_TRACE_CACHE2K, &k, &n, &err), HONE_ETRUNC);
    assert_null(k);
    assert_int_equal(err.offset, 8);
    assert_non_null(strstr(err.msg, "byte offset 8"));
}

static void test_arc_and_malformed(void **state) {
    (void)state;
    const char *ok = "10 3 0 1\n\n5 1 0 2\n";
    write_file("x.lis", ok, strlen(ok));
    uint64_t *k;
    size_t n;
    hone_error err;
    assert_int_equal(load("x.lis", HONE_CACHE_TRACE_AUTO, &k, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_int_equal(k[0], 10);
    assert_int_equal(k[2], 12);
    assert_int_equal(k[3], 5);
    hone_free(NULL, k);
    const char *bad = "10 3 0 1\n7 x 0 2\n";
    write_file("bad.lis", bad, strlen(bad));
    assert_int_equal(load("bad.lis", HONE_CACHE_TRACE_ARC, &k, &n, &err), HONE_EPARSE);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.offset, 9);
    assert_non_null(strstr(err.msg, "line 2 (byte offset 9)"));
}

static void test_lines(void **state) {
    (void)state;
    const char *t = "alpha\nbeta\r\nalpha\n\ngamma";
    write_file("k.txt", t, strlen(t));
    uint64_t *k;
    size_t n;
    hone_error err;
    assert_int_equal(load("k.txt", HONE_CACHE_TRACE_AUTO, &k, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_int_equal(k[0], k[2]);
    assert_true(k[0] != k[1] && k[1] != k[3]);
    hone_free(NULL, k);
}

static void test_zstd_and_truncated_zstd(void **state) {
    (void)state;
    const char *t = "1 2 0 1\n100 1 0 2\n";
    unsigned char z[256];
    size_t zn = ZSTD_compress(z, sizeof z, t, strlen(t), 3);
    assert_false(ZSTD_isError(zn));
    write_file("a.lis.zst", z, zn);
    uint64_t *k;
    size_t n;
    hone_error err;
    assert_int_equal(load("a.lis.zst", HONE_CACHE_TRACE_AUTO, &k, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(k[2], 100);
    hone_free(NULL, k);
    write_file("t.lis.zst", z, zn - 3);
    assert_int_equal(load("t.lis.zst", HONE_CACHE_TRACE_AUTO, &k, &n, &err), HONE_ETRUNC);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_non_null(strstr(err.msg, "compressed byte offset"));
}

static void test_xz_truncated_and_corrupt(void **state) {
    (void)state;
    FILE *f = fopen(HONE_SOURCE_DIR "/data/traces/web07.trace.xz", "rb");
    assert_non_null(f);
    static unsigned char buf[200000];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(len, 104172);
    write_file("cut.trace.xz", buf, len / 2);
    uint64_t *k;
    size_t n;
    hone_error err;
    assert_int_equal(load("cut.trace.xz", HONE_CACHE_TRACE_AUTO, &k, &n, &err), HONE_ETRUNC);
    assert_non_null(strstr(err.msg, "xz stream ends early"));
    assert_int_equal(err.offset, len / 2);
    buf[5000] ^= 0x55;
    write_file("bad.trace.xz", buf, len);
    int rc = load("bad.trace.xz", HONE_CACHE_TRACE_AUTO, &k, &n, &err);
    assert_int_equal(rc, HONE_ECORRUPT);
    assert_non_null(strstr(err.msg, "compressed byte offset"));
}

static void test_missing_file(void **state) {
    (void)state;
    hone_cache_trace *t = (hone_cache_trace *)1;
    hone_error err;
    assert_int_equal(hone_cache_trace_open(&t, path_of("nope"), 0, NULL, &err), HONE_ENOTFOUND);
    assert_null(t);
    assert_non_null(strstr(err.msg, "nope"));
    int f = -1;
    assert_int_equal(hone_cache_trace_format_parse("cache2k", &f, &err), 0);
    assert_int_equal(f, HONE_CACHE_TRACE_CACHE2K);
    assert_int_equal(hone_cache_trace_format_parse("csv", &f, &err), HONE_EINVAL);
}

/* AUTO picks the format by the name's suffix, never by a substring: a
 * "keys.list" of text keys is not an ARC trace. */
static void test_format_detect(void **state) {
    (void)state;
    static const struct {
        const char *path;
        int want;
    } cases[] = {
        {"OLTP.lis", HONE_CACHE_TRACE_ARC},          {"dir/OLTP.lis.zst", HONE_CACHE_TRACE_ARC},
        {"web07.trace.xz", HONE_CACHE_TRACE_CACHE2K}, {"a.trace", HONE_CACHE_TRACE_CACHE2K},
        {"keys.list", HONE_CACHE_TRACE_LINES},       {"my.lisp", HONE_CACHE_TRACE_LINES},
        {"x.traces.txt", HONE_CACHE_TRACE_LINES},    {"old.lis/keys", HONE_CACHE_TRACE_LINES},
        {".lis", HONE_CACHE_TRACE_LINES},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int got = hone_cache_trace_format_detect(cases[i].path);
        if (got != cases[i].want)
            fail_msg("%s: detected %s, expected %s", cases[i].path, hone_cache_trace_format_name(got),
                     hone_cache_trace_format_name(cases[i].want));
    }
    assert_string_equal(hone_cache_trace_format_name(HONE_CACHE_TRACE_ARC), "arc");
    assert_null(hone_cache_trace_format_name(99));
}

/* Concatenated xz streams are one trace (as xz -d reads them); garbage
 * after the last stream is an error, not silently ignored. An ARC line
 * asking for more blocks than a request can hold is refused, not a way to
 * eat all memory. */
static void test_xz_concatenated_and_arc_bounds(void **state) {
    (void)state;
    uint32_t keys[200];
    for (int i = 0; i < 200; i++) keys[i] = __builtin_bswap32((uint32_t)i);
    static uint8_t out[4096];
    size_t off = 0;
    for (int half = 0; half < 2; half++) {
        size_t pos = 0;
        assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL,
                                                 (const uint8_t *)(keys + 100 * half), 400,
                                                 out + off, &pos, sizeof out - off),
                         LZMA_OK);
        off += pos;
    }
    write_file("two.trace.xz", out, off);
    uint64_t *k;
    size_t n;
    hone_error err;
    assert_int_equal(load("two.trace.xz", HONE_CACHE_TRACE_AUTO, &k, &n, &err), HONE_OK);
    assert_int_equal(n, 200);
    assert_int_equal(k[199], 199);
    hone_free(NULL, k);
    memset(out + off, 'j', 32);
    write_file("junk.trace.xz", out, off + 32);
    assert_int_equal(load("junk.trace.xz", HONE_CACHE_TRACE_AUTO, &k, &n, &err), HONE_ECORRUPT);
    assert_non_null(strstr(err.msg, "corrupt xz data"));

    const char *huge = "0 100000000000 0 0\n";
    write_file("huge.lis", huge, strlen(huge));
    assert_int_equal(load("huge.lis", HONE_CACHE_TRACE_AUTO, &k, &n, &err), HONE_ERANGE);
    assert_non_null(strstr(err.msg, "n_blocks 100000000000: expected at most 1048576"));
    assert_int_equal(err.line, 1);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache2k_plain),        cmocka_unit_test(test_cache2k_truncated),
        cmocka_unit_test(test_arc_and_malformed),    cmocka_unit_test(test_lines),
        cmocka_unit_test(test_zstd_and_truncated_zstd),
        cmocka_unit_test(test_xz_truncated_and_corrupt), cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_format_detect),
        cmocka_unit_test(test_xz_concatenated_and_arc_bounds),
};
HONE_TEST_MAIN_FIXTURES(tests, setup, teardown)
