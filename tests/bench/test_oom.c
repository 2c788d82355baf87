/* test_oom.c - every allocating call of the bench module under the
 * out-of-memory loop: a failed allocation gives HONE_ENOMEM and leaks
 * nothing. */
#include "test.h"

#include <string.h>

static int split_calls(const hone_allocator *a, void *ctx) {
    (void)ctx;
    char **argv;
    int argc;
    int rc = hone_bench_split("grep -i 'a b' \"c d\" e\\ f  g h i j k", &argv, &argc, a, NULL);
    if (rc) return rc;
    hone_bench_argv_free(argv, a);
    char *p;
    rc = hone_bench_which("true", "/nonexistent:/usr/bin:/bin", &p, a, NULL);
    if (rc) return rc;
    hone_free(a, p);
    return HONE_OK;
}

static int stats_calls(const hone_allocator *a, void *ctx) {
    (void)ctx;
    double x[] = {1, 2, 3, 4, 5, 6, 7, 8}, y[] = {2, 3, 4, 5, 6, 7, 8, 9.5};
    double t1[] = {1, 1, 2, 3}, t2[] = {2, 3, 3, 4};
    hone_bench_summary s;
    hone_bench_mwu m;
    hone_bench_comparison c;
    int rc = hone_bench_summarize(x, 8, &s, a);
    if (!rc) rc = hone_bench_mann_whitney(t1, 4, t2, 4, &m, a);
    if (!rc) rc = hone_bench_compare(x, 8, y, 8, &c, a);
    return rc;
}

static uint64_t fake_now;
static uint64_t fake_clock(void *ctx) { (void)ctx; return fake_now; }
static void fake_fn(void *ctx, uint64_t iters) { (void)ctx; fake_now += 10 * iters + (fake_now & 7); }

static int fn_calls(const hone_allocator *a, void *ctx) {
    (void)ctx;
    hone_bench_fn_opts o = {.sample_ns = 10000, .samples = 4, .clock = fake_clock, .alloc = a};
    hone_bench_fn_result r1, r2;
    int rc = hone_bench_fn(fake_fn, NULL, &o, &r1);
    if (rc) return rc;
    rc = hone_bench_fn(fake_fn, NULL, &o, &r2);
    if (rc) {
        hone_bench_fn_result_free(&r1);
        return rc;
    }
    hone_bench_comparison c;
    rc = hone_bench_fn_compare(&r1, &r2, &c);
    hone_bench_fn_result_free(&r1);
    hone_bench_fn_result_free(&r2);
    return rc;
}

static void test_oom_split(void **state) {
    (void)state;
    assert_true(failalloc_loop("split+which", split_calls, NULL) > 0);
}
static void test_oom_stats(void **state) {
    (void)state;
    assert_true(failalloc_loop("stats", stats_calls, NULL) > 0);
}
static void test_oom_fn(void **state) {
    (void)state;
    assert_true(failalloc_loop("fn", fn_calls, NULL) > 0);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_split),
        cmocka_unit_test(test_oom_stats),
        cmocka_unit_test(test_oom_fn),
};
HONE_TEST_MAIN(tests)
