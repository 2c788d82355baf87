/* test_hist.c - the log-linear histogram: precision, percentiles, merge,
 * limits and bad options. */
#include "test.h"

static hone_hist *make(int digits) {
    hone_hist *h = NULL;
    hone_hist_opts o = {.significant_digits = digits};
    assert_int_equal(hone_hist_new(&h, &o), HONE_OK);
    assert_non_null(h);
    return h;
}

static void test_small_values_exact(void **state) {
    (void)state;
    hone_hist *h = make(2);
    /* Below 2 * 10^digits every value has its own bucket. */
    for (uint64_t v = 0; v < 200; v++) {
        assert_int_equal(hone_hist_lowest_equivalent(h, v), v);
        assert_int_equal(hone_hist_highest_equivalent(h, v), v);
    }
    hone_hist_free(h);
}

static void test_precision_kept(void **state) {
    (void)state;
    for (int d = 1; d <= 3; d++) {
        hone_hist *h = make(d);
        double tol = d == 1 ? 0.1 : d == 2 ? 0.01 : 0.001;
        for (uint64_t v = 1; v < 3600000000000ull; v = v * 3 + 7) {
            uint64_t lo = hone_hist_lowest_equivalent(h, v), hi = hone_hist_highest_equivalent(h, v);
            assert_true(lo <= v && v <= hi);
            if ((double)(hi - lo) > tol * (double)v + 1) fail_msg("digits %d v %llu bucket [%llu,%llu]", d,
                                                               (unsigned long long)v, (unsigned long long)lo,
                                                               (unsigned long long)hi);
        }
        hone_hist_free(h);
    }
}

static void test_percentiles_uniform(void **state) {
    (void)state;
    hone_hist *h = make(3);
    for (uint64_t v = 1; v <= 10000; v++) hone_hist_record(h, v * 1000);
    assert_int_equal(hone_hist_count(h), 10000);
    assert_int_equal(hone_hist_min(h), 1000);
    assert_int_equal(hone_hist_max(h), 10000000);
    struct { double p; double want; } cases[] = {{50, 5e6}, {90, 9e6}, {99, 9.9e6}, {99.9, 9.99e6}, {100, 1e7}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = (double)hone_hist_percentile(h, cases[i].p);
        if (got < cases[i].want || got > cases[i].want * 1.001 + 1)
            fail_msg("p%.1f: got %.0f, want %.0f (+0.1%%)", cases[i].p, got, cases[i].want);
    }
    double mean = hone_hist_mean(h);
    assert_true(mean > 5.0e6 * 0.999 && mean < 5.0e6 * 1.002);
    double sd = hone_hist_stddev(h);
    assert_true(sd > 2.88e6 && sd < 2.9e6);
    hone_hist_free(h);
}

static void test_merge_and_reset(void **state) {
    (void)state;
    hone_hist *a = make(2), *b = make(2), *c = make(3);
    hone_hist_record_n(a, 100, 5);
    hone_hist_record_n(b, 5000000, 5);
    assert_int_equal(hone_hist_merge(a, b), HONE_OK);
    assert_int_equal(hone_hist_count(a), 10);
    assert_int_equal(hone_hist_min(a), 100);
    assert_int_equal(hone_hist_max(a), 5000000);
    assert_int_equal(hone_hist_percentile(a, 50), 100);
    assert_int_equal(hone_hist_merge(a, c), HONE_EINVAL);
    hone_hist_reset(a);
    assert_int_equal(hone_hist_count(a), 0);
    assert_int_equal(hone_hist_percentile(a, 99), 0);
    assert_int_equal(hone_hist_min(a), 0);
    hone_hist_free(a);
    hone_hist_free(b);
    hone_hist_free(c);
}

static void test_saturation_and_range(void **state) {
    (void)state;
    hone_hist *h = make(2);
    hone_hist_record(h, UINT64_MAX);
    hone_hist_record(h, 3600000000000ull);
    assert_int_equal(hone_hist_saturated(h), 1);
    assert_int_equal(hone_hist_count(h), 2);
    assert_int_equal(hone_hist_max(h), 3600000000000ull);
    assert_true(hone_hist_memory_size(h) > 4000 * sizeof(uint64_t));
    hone_hist_free(h);
}

static void test_bad_options(void **state) {
    (void)state;
    hone_hist *h = (hone_hist *)&h;
    assert_int_equal(hone_hist_new(&h, &(hone_hist_opts){.significant_digits = 4}), HONE_EINVAL);
    assert_null(h);
    assert_int_equal(hone_hist_new(&h, &(hone_hist_opts){.significant_digits = 2, .highest = 100}), HONE_EINVAL);
    assert_int_equal(hone_hist_new(NULL, NULL), HONE_EINVAL);
    hone_hist_free(NULL);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_values_exact), cmocka_unit_test(test_precision_kept),
        cmocka_unit_test(test_percentiles_uniform), cmocka_unit_test(test_merge_and_reset),
        cmocka_unit_test(test_saturation_and_range), cmocka_unit_test(test_bad_options),
};
HONE_TEST_MAIN(tests)
