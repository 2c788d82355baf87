/* test_stats.c - the statistics of hone/bench.h on synthetic samples with
 * known answers.
 *
 * Reference values marked "mpmath" were computed independently of hone's
 * code with Python's mpmath 1.3.0 at 30 digits: I_x(a,b) with
 * mpmath.betainc(a, b, 0, x, regularized=True); Student's t CDF by numerical
 * integration of the t density (mpmath.quad), not through the incomplete
 * beta function; quantiles with mpmath.findroot on that CDF; Welch's t, df
 * and p from the textbook formulas with the integrated CDF; Mann-Whitney U
 * by counting pairs, with the tie-corrected normal approximation. */
#include "test.h"

#include <math.h>
#include <string.h>

#define NEAR(a, b, tol)                                                                   \
    do {                                                                                  \
        double a_ = (a), b_ = (b);                                                        \
        if (!(fabs(a_ - b_) <= (tol))) fail_msg("%s = %.15g, expected %.15g (tol %g)", #a, a_, b_, \
                                                (double)(tol));                           \
    } while (0)

static void test_incbeta_closed_forms(void **state) {
    (void)state;
    /* I_x(1,1) = x; I_x(1,b) = 1 - (1-x)^b; I_x(a,1) = x^a; I_0.5(a,a) = 1/2. */
    for (double x = 0.05; x < 1; x += 0.1) {
        NEAR(hone_bench_incbeta(1, 1, x), x, 1e-14);
        NEAR(hone_bench_incbeta(1, 3.5, x), 1 - pow(1 - x, 3.5), 1e-13);
        NEAR(hone_bench_incbeta(4.25, 1, x), pow(x, 4.25), 1e-13);
    }
    NEAR(hone_bench_incbeta(7.3, 7.3, 0.5), 0.5, 1e-13);
    NEAR(hone_bench_incbeta(2, 3, 0), 0, 0);
    NEAR(hone_bench_incbeta(2, 3, 1), 1, 0);
    assert_true(isnan(hone_bench_incbeta(0, 3, 0.5)));
    assert_true(isnan(hone_bench_incbeta(2, 3, 1.5)));
}

static void test_incbeta_mpmath(void **state) {
    (void)state;
    NEAR(hone_bench_incbeta(2, 3, 0.4), 0.5248, 1e-13);                   /* mpmath */
    NEAR(hone_bench_incbeta(0.5, 5, 0.3), 0.934737753831091821, 1e-13);    /* mpmath */
    NEAR(hone_bench_incbeta(10, 0.5, 0.9), 0.151640909634709969, 1e-13);   /* mpmath */
    NEAR(hone_bench_incbeta(200, 300, 0.41), 0.677628164772178949, 1e-11); /* mpmath */
}

static void test_t_cdf(void **state) {
    (void)state;
    /* df = 1 is the Cauchy distribution, df = 2 has a closed form too. */
    for (double t = -6; t <= 6; t += 0.75) {
        NEAR(hone_bench_t_cdf(t, 1), 0.5 + atan(t) / M_PI, 1e-13);
        NEAR(hone_bench_t_cdf(t, 2), 0.5 + t / (2 * sqrt(2 + t * t)), 1e-13);
    }
    NEAR(hone_bench_t_cdf(0, 9), 0.5, 1e-15);
    NEAR(hone_bench_t_cdf(2, 5), 0.949030260585070822, 1e-12);    /* mpmath */
    NEAR(hone_bench_t_cdf(-1.5, 7.3), 0.0877815464015430622, 1e-12); /* mpmath */
    NEAR(hone_bench_t_cdf(2.228, 10), 0.974994114091444309, 1e-12);  /* mpmath */
    /* Large df tends to the normal distribution. */
    NEAR(hone_bench_t_cdf(1.959963984540054, 1e7), 0.975, 1e-6);
    NEAR(hone_bench_normal_cdf(1.959963984540054), 0.975, 1e-12);
    assert_true(isnan(hone_bench_t_cdf(1, 0)));
}

static void test_t_quantile(void **state) {
    (void)state;
    NEAR(hone_bench_t_quantile(0.975, 10), 2.22813885198627475, 1e-9); /* mpmath */
    NEAR(hone_bench_t_quantile(0.975, 3.7), 2.86752070719118946, 1e-9); /* mpmath */
    NEAR(hone_bench_t_quantile(0.975, 1), tan(M_PI * 0.475), 1e-8);     /* Cauchy */
    NEAR(hone_bench_t_quantile(0.5, 4), 0, 1e-9);
    NEAR(hone_bench_t_quantile(0.025, 10), -2.22813885198627475, 1e-9);
    assert_true(isnan(hone_bench_t_quantile(1, 10)));
}

static void test_summary(void **state) {
    (void)state;
    /* 1..9 and one far outlier: median 5.5, MAD = median |x - 5.5| = 2.5. */
    double x[] = {9, 1, 8, 2, 7, 3, 6, 4, 5, 100};
    hone_bench_summary s;
    assert_int_equal(hone_bench_summarize(x, 10, &s, NULL), HONE_OK);
    assert_int_equal(s.n, 10);
    NEAR(s.mean, 14.5, 1e-12);
    NEAR(s.median, 5.5, 0);
    NEAR(s.min, 1, 0);
    NEAR(s.max, 100, 0);
    NEAR(s.mad, 2.5, 0);
    /* sum of squares about 14.5: sum (x_i - 14.5)^2 = 8182.5, / 9. */
    NEAR(s.stddev, sqrt(8182.5 / 9), 1e-12);
    /* p25 at h = 9 * 0.25 = 2.25 -> 3 + 0.25 * (4 - 3). */
    NEAR(s.p25, 3.25, 1e-12);
    NEAR(s.p95, 9 + 0.55 * 91, 1e-12);
    /* fence = 3.5 * 1.4826 * 2.5 = 12.97: only 100 is beyond it. */
    assert_int_equal(s.outliers_high, 1);
    assert_int_equal(s.outliers_low, 0);
    /* The input is not reordered. */
    assert_true(x[0] == 9 && x[9] == 100);

    double one = 3;
    assert_int_equal(hone_bench_summarize(&one, 1, &s, NULL), HONE_OK);
    NEAR(s.stddev, 0, 0);
    NEAR(s.median, 3, 0);
    double bad[] = {1, NAN};
    assert_int_equal(hone_bench_summarize(bad, 2, &s, NULL), HONE_EINVAL);
    assert_int_equal(hone_bench_summarize(x, 0, &s, NULL), HONE_EINVAL);
}

static hone_bench_summary sum_of(const double *x, size_t n) {
    hone_bench_summary s;
    assert_int_equal(hone_bench_summarize(x, n, &s, NULL), HONE_OK);
    return s;
}

static void test_welch(void **state) {
    (void)state;
    double a[] = {1, 2, 3, 4, 5}, b[] = {6, 7, 8, 9, 10};
    hone_bench_summary sa = sum_of(a, 5), sb = sum_of(b, 5);
    hone_bench_welch w;
    assert_int_equal(hone_bench_welch_test(&sa, &sb, &w), HONE_OK);
    NEAR(w.t, -5, 1e-12);
    NEAR(w.df, 8, 1e-12);
    NEAR(w.p, 0.00105282579336653927, 1e-12); /* mpmath */

    double c[] = {10.1, 9.8, 10.3, 10.0, 9.9, 10.2}, d[] = {10.6, 10.9, 10.4, 11.0, 10.7};
    sa = sum_of(c, 6), sb = sum_of(d, 5);
    assert_int_equal(hone_bench_welch_test(&sa, &sb, &w), HONE_OK);
    NEAR(w.t, -5.10375899699620363, 1e-10);   /* mpmath */
    NEAR(w.df, 7.55779562291465857, 1e-10);   /* mpmath */
    NEAR(w.p, 0.00110270598440592568, 1e-12); /* mpmath */

    double e[] = {5.0, 5.1, 4.9, 5.2, 4.8, 5.0, 5.05, 4.95}, f[] = {5.02, 5.12, 4.93, 5.18, 4.85, 5.01};
    sa = sum_of(e, 8), sb = sum_of(f, 6);
    assert_int_equal(hone_bench_welch_test(&sa, &sb, &w), HONE_OK);
    NEAR(w.t, -0.279652983367805566, 1e-10); /* mpmath */
    NEAR(w.df, 11.0194878012559748, 1e-9);   /* mpmath */
    NEAR(w.p, 0.784923222510625868, 1e-10);  /* mpmath */

    /* Zero variance on both sides: decided by the means alone. */
    double g[] = {2, 2, 2}, h[] = {3, 3, 3};
    sa = sum_of(g, 3), sb = sum_of(h, 3);
    assert_int_equal(hone_bench_welch_test(&sa, &sb, &w), HONE_OK);
    NEAR(w.p, 0, 0);
    assert_int_equal(hone_bench_welch_test(&sa, &sa, &w), HONE_OK);
    NEAR(w.p, 1, 0);
    hone_bench_summary s1 = sum_of(g, 1);
    assert_int_equal(hone_bench_welch_test(&s1, &sb, &w), HONE_EINVAL);
}

static void test_mann_whitney(void **state) {
    (void)state;
    hone_bench_mwu m;
    /* Complete separation of 3 and 3: U = 0; exactly 1 of the C(6,3) = 20
     * arrangements gives U = 0 and 1 gives U = 9, so p = 2/20. */
    double a[] = {1, 2, 3}, b[] = {4, 5, 6};
    assert_int_equal(hone_bench_mann_whitney(a, 3, b, 3, &m, NULL), HONE_OK);
    NEAR(m.u, 0, 0);
    assert_int_equal(m.exact, 1);
    NEAR(m.p, 0.1, 1e-15);
    assert_int_equal(hone_bench_mann_whitney(b, 3, a, 3, &m, NULL), HONE_OK);
    NEAR(m.u, 9, 0);
    NEAR(m.p, 0.1, 1e-15);
    /* Interleaved 2 vs 2: a = {1,4}, b = {2,3}: U_a = 2 = the mean, p = 1. */
    double c[] = {1, 4}, d[] = {2, 3};
    assert_int_equal(hone_bench_mann_whitney(c, 2, d, 2, &m, NULL), HONE_OK);
    NEAR(m.u, 2, 0);
    NEAR(m.p, 1, 0);
    /* U = 1 for 4 vs 4: P(U <= 1) = 2/70 (U = 0 and U = 1 have one
     * arrangement each), two-sided 4/70. */
    double e[] = {1, 2, 3, 5}, f[] = {4, 6, 7, 8};
    assert_int_equal(hone_bench_mann_whitney(e, 4, f, 4, &m, NULL), HONE_OK);
    NEAR(m.u, 1, 0);
    NEAR(m.p, 4.0 / 70, 1e-15);
    /* Ties force the normal approximation. */
    double g[] = {1, 2, 2, 3, 4, 5, 5, 6}, h[] = {3, 4, 5, 5, 7, 8, 8, 9, 9};
    assert_int_equal(hone_bench_mann_whitney(g, 8, h, 9, &m, NULL), HONE_OK);
    assert_int_equal(m.exact, 0);
    NEAR(m.u, 12, 0);
    NEAR(m.z, -2.28236346048066430, 1e-12);   /* mpmath */
    NEAR(m.p, 0.0224678907303563688, 1e-12); /* mpmath */
    assert_int_equal(hone_bench_mann_whitney(g, 0, h, 9, &m, NULL), HONE_EINVAL);
}

static void test_compare(void **state) {
    (void)state;
    hone_bench_comparison c;
    /* b is exactly twice a: ratio 2, significant, slower. */
    double a[] = {10, 11, 9, 10.5, 9.5, 10.2, 9.8, 10.1}, b[16];
    for (int i = 0; i < 8; i++) b[i] = 2 * a[i];
    assert_int_equal(hone_bench_compare(a, 8, b, 8, &c, NULL), HONE_OK);
    NEAR(c.ratio, 2, 1e-12);
    assert_true(c.ratio_lo < 2 && c.ratio_hi > 2 && c.ratio_lo > 1);
    assert_int_equal(c.verdict, HONE_BENCH_SLOWER);
    assert_string_equal(hone_bench_verdict_name(c.verdict), "slower");
    /* The interval is the delta-method one: se^2 = 2 * cv^2 / n (the two
     * samples have the same coefficient of variation), df from
     * Welch-Satterthwaite = 2 (n - 1) = 14. */
    hone_bench_summary s = sum_of(a, 8);
    double cv2 = s.stddev * s.stddev / (s.mean * s.mean);
    double se = sqrt(2 * cv2 / 8);
    double q = hone_bench_t_quantile(0.975, 14);
    NEAR(q, 2.14478668791780, 1e-9); /* t table, 0.975 quantile, df 14 */
    NEAR(c.ratio_lo, 2 * exp(-q * se), 1e-9);
    NEAR(c.ratio_hi, 2 * exp(q * se), 1e-9);

    assert_int_equal(hone_bench_compare(b, 8, a, 8, &c, NULL), HONE_OK);
    NEAR(c.ratio, 0.5, 1e-12);
    assert_int_equal(c.verdict, HONE_BENCH_FASTER);
    /* Same distribution shifted by noise only: no significant difference. */
    double e[] = {5.0, 5.1, 4.9, 5.2, 4.8, 5.0, 5.05, 4.95}, f[] = {5.02, 5.12, 4.93, 5.18, 4.85, 5.01};
    assert_int_equal(hone_bench_compare(e, 8, f, 6, &c, NULL), HONE_OK);
    assert_int_equal(c.verdict, HONE_BENCH_SAME);
    NEAR(c.welch.p, 0.784923222510625868, 1e-10);
    assert_true(c.ratio_lo < 1 && c.ratio_hi > 1);
    assert_string_equal(hone_bench_verdict_name(c.verdict), "no significant difference");
    double z[] = {0, 0, 0};
    assert_int_equal(hone_bench_compare(z, 3, a, 8, &c, NULL), HONE_EINVAL);
    assert_int_equal(hone_bench_compare(a, 1, b, 8, &c, NULL), HONE_EINVAL);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incbeta_closed_forms), cmocka_unit_test(test_incbeta_mpmath),
        cmocka_unit_test(test_t_cdf),                cmocka_unit_test(test_t_quantile),
        cmocka_unit_test(test_summary),              cmocka_unit_test(test_welch),
        cmocka_unit_test(test_mann_whitney),         cmocka_unit_test(test_compare),
};
HONE_TEST_MAIN(tests)
