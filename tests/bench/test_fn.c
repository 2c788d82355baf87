/* test_fn.c - hone_bench_fn with an injected clock, so calibration and
 * results are exact and no test depends on real timing. */
#include "test.h"

#include <math.h>
#include <string.h>

/* A fake clock that advances only when the function under test "works":
 * cost_ns per iteration, plus a fixed overhead per call. */
typedef struct fake {
    uint64_t now;
    double cost_ns;
    uint64_t calls;
    uint64_t total_iters;
    uint64_t jitter; /* added to every other call, for a spread */
} fake;

static uint64_t fake_clock(void *ctx) { return ((fake *)ctx)->now; }

static void fake_fn(void *ctx, uint64_t iters) {
    fake *f = ctx;
    f->now += (uint64_t)(f->cost_ns * (double)iters) + ((f->calls & 1) ? f->jitter : 0);
    f->calls++;
    f->total_iters += iters;
}

static void test_calibrates(void **state) {
    (void)state;
    fake f = {.cost_ns = 100};
    hone_bench_fn_opts o = {.sample_ns = 1000000, .samples = 5, .clock = fake_clock, .clock_ctx = &f};
    hone_bench_fn_result r;
    assert_int_equal(hone_bench_fn(fake_fn, &f, &o, &r), HONE_OK);
    /* 1 ms per sample at 100 ns per op is 10000 ops. */
    assert_int_equal(r.iters, 10000);
    assert_int_equal(r.samples, 5);
    for (size_t i = 0; i < 5; i++) assert_true(r.ns_per_op[i] == 100.0);
    assert_true(r.ns.mean == 100.0);
    assert_true(fabs(r.ops_per_sec - 1e7) < 1e-6);
    /* calibration 1+2+...+2048 (until 1/8 ms = 1250 ops is reached), then one
     * warmup and five samples of 10000. */
    assert_int_equal(f.total_iters, 4095 + 6 * 10000);
    hone_bench_fn_result_free(&r);
    assert_null(r.ns_per_op);
    hone_bench_fn_result_free(NULL);
}

static void test_max_iters_and_errors(void **state) {
    (void)state;
    fake f = {.cost_ns = 1};
    hone_bench_fn_opts o = {.sample_ns = 1000000000, .samples = 3, .max_iters = 64,
                            .clock = fake_clock, .clock_ctx = &f};
    hone_bench_fn_result r;
    assert_int_equal(hone_bench_fn(fake_fn, &f, &o, &r), HONE_OK);
    assert_int_equal(r.iters, 64);
    hone_bench_fn_result_free(&r);
    o.samples = 1;
    assert_int_equal(hone_bench_fn(fake_fn, &f, &o, &r), HONE_EINVAL);
    assert_int_equal(hone_bench_fn(NULL, &f, NULL, &r), HONE_EINVAL);
}

static void test_compare_functions(void **state) {
    (void)state;
    fake fa = {.cost_ns = 100, .jitter = 500}, fb = {.cost_ns = 50, .jitter = 500};
    hone_bench_fn_opts o = {.sample_ns = 100000, .samples = 10, .clock = fake_clock};
    hone_bench_fn_result ra, rb;
    o.clock_ctx = &fa;
    assert_int_equal(hone_bench_fn(fake_fn, &fa, &o, &ra), HONE_OK);
    o.clock_ctx = &fb;
    assert_int_equal(hone_bench_fn(fake_fn, &fb, &o, &rb), HONE_OK);
    hone_bench_comparison c;
    assert_int_equal(hone_bench_fn_compare(&ra, &rb, &c), HONE_OK);
    assert_int_equal(c.verdict, HONE_BENCH_FASTER);
    assert_true(fabs(c.ratio - rb.ns.mean / ra.ns.mean) < 1e-12);
    assert_true(c.ratio > 0.45 && c.ratio < 0.55);
    hone_bench_fn_result_free(&ra);
    hone_bench_fn_result_free(&rb);
}

/* A real function on the real clock: only the shape of the result is
 * checked, never its timing. */
static void spin(void *ctx, uint64_t iters) {
    volatile uint64_t *x = ctx;
    for (uint64_t i = 0; i < iters; i++) *x += i;
}

static void test_real_clock(void **state) {
    (void)state;
    volatile uint64_t x = 0;
    hone_bench_fn_opts o = {.sample_ns = 200000, .samples = 3};
    hone_bench_fn_result r;
    assert_int_equal(hone_bench_fn(spin, (void *)&x, &o, &r), HONE_OK);
    assert_int_equal(r.samples, 3);
    assert_true(r.iters >= 1);
    assert_true(r.ns.min <= r.ns.median && r.ns.median <= r.ns.max);
    hone_bench_fn_result_free(&r);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calibrates),
        cmocka_unit_test(test_max_iters_and_errors),
        cmocka_unit_test(test_compare_functions),
        cmocka_unit_test(test_real_clock),
};
HONE_TEST_MAIN(tests)
