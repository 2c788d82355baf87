/* test_alloc.c - the allocator seam, the growable buffer, and the
 * out-of-memory loop over core's allocating calls. */
#include "test.h"

#include <string.h>

static void default_allocator_can_be_replaced_and_restored(void **state) {
    (void)state;
    failalloc fa;
    failalloc_init(&fa, 0);
    assert_int_equal(hone_allocator_set_default(&fa.alloc), HONE_OK);
    void *p = hone_malloc(NULL, 10);
    assert_non_null(p);
    assert_int_equal(fa.live, 1);
    hone_free(NULL, p);
    assert_int_equal(fa.live, 0);
    assert_int_equal(hone_allocator_set_default(NULL), HONE_OK);
    p = hone_malloc(NULL, 10);
    assert_int_equal(fa.calls, 1); /* the restored libc allocator did this one */
    hone_free(NULL, p);
}

static void incomplete_allocator_is_rejected(void **state) {
    (void)state;
    hone_allocator a = {0};
    assert_int_equal(hone_allocator_set_default(&a), HONE_EINVAL);
}

static void calloc_checks_overflow_and_zeroes(void **state) {
    (void)state;
    assert_null(hone_calloc(NULL, SIZE_MAX / 2, 4));
    unsigned char *p = hone_calloc(NULL, 16, 4);
    assert_non_null(p);
    for (int i = 0; i < 64; i++) assert_int_equal(p[i], 0);
    hone_free(NULL, p);
}

static void failing_allocator_fails_exactly_the_nth(void **state) {
    (void)state;
    failalloc fa;
    failalloc_init(&fa, 3);
    void *a = hone_malloc(&fa.alloc, 8), *b = hone_malloc(&fa.alloc, 8);
    void *c = hone_malloc(&fa.alloc, 8), *d = hone_malloc(&fa.alloc, 8);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    assert_non_null(d);
    assert_int_equal(fa.failures, 1);
    assert_int_equal(fa.live, 3);
    hone_free(&fa.alloc, a);
    hone_free(&fa.alloc, b);
    hone_free(&fa.alloc, d);
    assert_int_equal(fa.live, 0);
}

static void buf_builds_strings(void **state) {
    (void)state;
    hone_buf b;
    hone_buf_init(&b, NULL);
    assert_int_equal(hone_buf_puts(&b, "hello"), HONE_OK);
    assert_int_equal(hone_buf_printf(&b, ", %s #%d", "world", 42), HONE_OK);
    assert_string_equal(b.data, "hello, world #42");
    assert_int_equal(b.len, strlen("hello, world #42"));
    /* A long formatted append takes the slow path. */
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(hone_buf_printf(&b, "%s", big), HONE_OK);
    assert_int_equal(b.len, 16 + 999);
    assert_int_equal(b.data[b.len], '\0');
    hone_buf_clear(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    hone_buf_free(&b);
    assert_null(b.data);
}

static void buf_keeps_content_when_growth_fails(void **state) {
    (void)state;
    failalloc fa;
    failalloc_init(&fa, 2);
    hone_buf b;
    hone_buf_init(&b, &fa.alloc);
    assert_int_equal(hone_buf_puts(&b, "abc"), HONE_OK);
    char big[200];
    memset(big, 'y', sizeof big);
    assert_int_equal(hone_buf_append(&b, big, sizeof big), HONE_ENOMEM);
    assert_string_equal(b.data, "abc");
    assert_int_equal(b.len, 3);
    hone_buf_free(&b);
    assert_int_equal(fa.live, 0);
}

/* The representative set of core's allocating calls, run under the
 * out-of-memory loop. */
static int core_calls(const hone_allocator *a, void *ctx) {
    (void)ctx;
    hone_sysinfo *si = NULL;
    int rc = hone_sysinfo_new(&si, a);
    if (rc) {
        if (si) return HONE_EFAIL; /* a failed _new must leave *out NULL */
        return rc;
    }
    hone_buf b;
    hone_buf_init(&b, a);
    rc = hone_buf_printf(&b, "%s on %s, %d cpus", si->cpu_model, si->kernel, si->logical_cpus);
    if (!rc) rc = hone_buf_puts(&b, " and a little more text to force growth past the first block");
    char *dup = rc ? NULL : hone_strdup(a, b.data);
    if (!rc && !dup) rc = HONE_ENOMEM;
    hone_free(a, dup);
    hone_buf_free(&b);
    hone_sysinfo_free(si, a);
    return rc;
}

/* JSON strings: escapes, NULL, and bytes that are not UTF-8 each become
 * U+FFFD (an overlong '/', a lone continuation byte, a surrogate, a
 * truncated sequence), so the output always parses. */
static void buf_json_string_always_parses(void **state) {
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"plain", "\"plain\""},
        {"q\"b\\n\nt\t\x7f", "\"q\\\"b\\\\n\\u000at\\u0009\\u007f\""},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
        {"a\xc0\xaf" "b", "\"a\\ufffd\\ufffdb\""},
        {"\x80x", "\"\\ufffdx\""},
        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},
        {"end\xe2\x82", "\"end\\ufffd\\ufffd\""},
        {NULL, "null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hone_buf b;
        hone_buf_init(&b, NULL);
        assert_int_equal(hone_buf_json_string(&b, cases[i].in), HONE_OK);
        assert_int_equal(hone_buf_puts(&b, ""), HONE_OK);
        if (strcmp(b.data, cases[i].want)) fail_msg("case %zu: got %s, want %s", i, b.data, cases[i].want);
        hone_buf_free(&b);
    }
}

static void core_calls_survive_every_failed_allocation(void **state) {
    (void)state;
    long n = failalloc_loop("core", core_calls, NULL);
    assert_true(n >= 6); /* sysinfo's strings and the buffer all allocate */
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(default_allocator_can_be_replaced_and_restored),
    cmocka_unit_test(incomplete_allocator_is_rejected),
    cmocka_unit_test(calloc_checks_overflow_and_zeroes),
    cmocka_unit_test(failing_allocator_fails_exactly_the_nth),
    cmocka_unit_test(buf_builds_strings),
    cmocka_unit_test(buf_keeps_content_when_growth_fails),
    cmocka_unit_test(buf_json_string_always_parses),
    cmocka_unit_test(core_calls_survive_every_failed_allocation),
};
HONE_TEST_MAIN(tests)
