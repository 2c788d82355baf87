/* test_calibrate.c - threshold calibration: on a known synthetic
 * distribution the chosen threshold lands on the analytic quantile and the
 * evaluation half's intervals contain the true rates; Wilson intervals
 * match published values; bad input is refused; out-of-memory leaks
 * nothing. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hone/simcache.h"

/* A seeded normal generator (splitmix64 + Box-Muller), so the "random"
 * scores are the same on every run and every machine. */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) { return ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0; }

static double rng_normal(uint64_t *s, double mean, double sd) {
    double u = rng_unit(s), v = rng_unit(s);
    return mean + sd * sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* P(X >= t) for X ~ N(mean, sd). */
static double normal_tail(double t, double mean, double sd) { return 0.5 * erfc((t - mean) / (sd * M_SQRT2)); }

#define NPOS 40000
#define NNEG 40000

/* Positives ~ N(0.8, 0.05), negatives ~ N(0.5, 0.1), interleaved. */
static void synthetic(double *scores, int *labels, uint64_t seed) {
    uint64_t s = seed;
    for (size_t i = 0; i < NPOS + NNEG; i++) labels[i] = (i % 2) == 0;
    for (size_t i = 0; i < NPOS + NNEG; i++)
        scores[i] = labels[i] ? rng_normal(&s, 0.8, 0.05) : rng_normal(&s, 0.5, 0.1);
}

static void synthetic_distribution(void **state) {
    double *scores = malloc((NPOS + NNEG) * sizeof *scores);
    int *labels = malloc((NPOS + NNEG) * sizeof *labels);
    assert_non_null(scores);
    assert_non_null(labels);
    synthetic(scores, labels, 42);
    hone_sim_calibration c;
    hone_error err = {0};
    int rc = hone_sim_calibrate(scores, labels, NPOS + NNEG, 0.01, 7, &c, &err);
    assert_int_equal(rc, HONE_OK);
    /* The negatives' 99th percentile: 0.5 + 0.1 * 2.3263... */
    const double analytic = 0.732634787404084;
    if (fabs(c.threshold - analytic) > 0.01)
        fail_msg("threshold %.5f, analytic quantile %.5f", c.threshold, analytic);
    assert_int_equal(c.fit_pos, NPOS / 2);
    assert_int_equal(c.fit_neg, NNEG / 2);
    assert_int_equal(c.eval_pos, NPOS / 2);
    assert_int_equal(c.eval_neg, NNEG / 2);
    assert_int_equal(c.tp + c.fn, c.eval_pos);
    assert_int_equal(c.fp + c.tn, c.eval_neg);
    assert_true(c.target_fpr == 0.01);
    if (fabs(c.fpr - 0.01) > 0.003) fail_msg("evaluation false hit rate %.5f, target 0.01", c.fpr);
    /* The true rates at the chosen threshold lie inside the intervals. */
    double true_fpr = normal_tail(c.threshold, 0.5, 0.1);
    double true_recall = normal_tail(c.threshold, 0.8, 0.05);
    if (!(c.fpr_lo <= true_fpr && true_fpr <= c.fpr_hi))
        fail_msg("true false hit rate %.5f outside [%.5f, %.5f]", true_fpr, c.fpr_lo, c.fpr_hi);
    if (!(c.recall_lo <= true_recall && true_recall <= c.recall_hi))
        fail_msg("true recall %.5f outside [%.5f, %.5f]", true_recall, c.recall_lo, c.recall_hi);
    /* Recall moves 3.2 points per 0.01 of threshold here (the positives'
     * density at the quantile), so compare it loosely with the analytic
     * recall at the analytic threshold; the interval check above is the
     * exact one. */
    if (fabs(c.recall - 0.911058868362882) > 0.03)
        fail_msg("recall %.5f at threshold %.5f, analytic 0.91106 at %.5f", c.recall, c.threshold,
                 analytic);
    assert_true(c.recall == (double)c.tp / (double)c.eval_pos);
    assert_true(c.fpr == (double)c.fp / (double)c.eval_neg);
    free(scores);
    free(labels);
}

/* The same seed gives the same split and threshold; seed 0 is a fixed
 * default; another seed gives another split of the same pairs. */
static void repeatable(void **state) {
    double *scores = malloc((NPOS + NNEG) * sizeof *scores);
    int *labels = malloc((NPOS + NNEG) * sizeof *labels);
    assert_non_null(scores);
    assert_non_null(labels);
    synthetic(scores, labels, 3);
    hone_sim_calibration a, b, z1, z2;
    assert_int_equal(hone_sim_calibrate(scores, labels, NPOS + NNEG, 0.05, 11, &a, NULL), HONE_OK);
    assert_int_equal(hone_sim_calibrate(scores, labels, NPOS + NNEG, 0.05, 11, &b, NULL), HONE_OK);
    assert_true(a.threshold == b.threshold);
    assert_int_equal(a.tp, b.tp);
    assert_int_equal(a.fp, b.fp);
    assert_int_equal(hone_sim_calibrate(scores, labels, NPOS + NNEG, 0.05, 0, &z1, NULL), HONE_OK);
    assert_int_equal(hone_sim_calibrate(scores, labels, NPOS + NNEG, 0.05, 0, &z2, NULL), HONE_OK);
    assert_true(z1.threshold == z2.threshold);
    assert_int_equal(z1.fp, z2.fp);
    hone_sim_calibration o;
    assert_int_equal(hone_sim_calibrate(scores, labels, NPOS + NNEG, 0.05, 12, &o, NULL), HONE_OK);
    if (o.threshold == a.threshold && o.tp == a.tp && o.fp == a.fp)
        fail_msg("seeds 11 and 12 gave the same split (threshold %.6f)", a.threshold);
    free(scores);
    free(labels);
}

static int contains(const double *v, size_t n, double x) {
    for (size_t i = 0; i < n; i++)
        if (v[i] == x) return 1;
    return 0;
}

/* Every positive above every negative: at target 0 the threshold is a
 * score of the pairs, lies above all negatives, and nothing is lost. */
static void separated(void **state) {
    double s[] = {0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.4, 0.35, 0.3, 0.25, 0.2, 0.1};
    int l[] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
    hone_sim_calibration c;
    assert_int_equal(hone_sim_calibrate(s, l, 12, 0, 1, &c, NULL), HONE_OK);
    if (!contains(s, 12, c.threshold)) fail_msg("threshold %.6f is not one of the scores", c.threshold);
    if (!(c.threshold > 0.4 && c.threshold <= 0.9)) fail_msg("threshold %.6f", c.threshold);
    assert_int_equal(c.fit_pos, 3);
    assert_int_equal(c.eval_pos, 3);
    assert_int_equal(c.fp, 0);
    assert_int_equal(c.tn, 6 - c.fit_neg);
    assert_true(c.fpr == 0 && c.fpr_lo == 0);
    /* The lowest fitting positive passes, so an evaluation positive can
     * only be missed if it lies below all fitting positives. */
    assert_true(c.recall_hi > 0);
}

/* All scores equal: counting ties as hits, any threshold at the shared
 * score lets every negative through, so the threshold goes just above it
 * and nothing hits. */
static void ties_are_hits(void **state) {
    double s[] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    int l[] = {1, 0, 1, 0, 1, 0, 1, 0};
    hone_sim_calibration c;
    assert_int_equal(hone_sim_calibrate(s, l, 8, 0.3, 5, &c, NULL), HONE_OK);
    if (!(c.threshold > 0.5)) fail_msg("threshold %.17g, want above 0.5", c.threshold);
    assert_int_equal(c.tp, 0);
    assert_int_equal(c.fp, 0);
    /* With a target that lets one of the two fitting negatives through (k =
     * 1 of 2 at 0.5) the answer is the same: both tie, so both would hit. */
    assert_int_equal(hone_sim_calibrate(s, l, 8, 0.5, 5, &c, NULL), HONE_OK);
    assert_true(c.threshold > 0.5);
}

/* Gate refusals score -inf: they never hit, and the threshold is the
 * lowest real score. */
static void refusals_never_hit(void **state) {
    double s[] = {0.7, 0.71, 0.72, 0.73, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int l[] = {1, 1, 1, 1, 0, 0, 0, 0};
    hone_sim_calibration c;
    assert_int_equal(hone_sim_calibrate(s, l, 8, 0.01, 9, &c, NULL), HONE_OK);
    if (!contains(s, 4, c.threshold)) fail_msg("threshold %.6f is not a positive's score", c.threshold);
    assert_int_equal(c.fp, 0);
}

/* Target rates between the steps: 3 of 300 fitting negatives at 0.01. */
static void allows_k_false_hits(void **state) {
    enum { N = 600 };
    double s[2 * N];
    int l[2 * N];
    for (int i = 0; i < N; i++) {
        s[i] = 2.0 + i; /* positives far above */
        l[i] = 1;
        s[N + i] = (double)i / N; /* negatives spread over [0, 1) */
        l[N + i] = 0;
    }
    hone_sim_calibration c;
    assert_int_equal(hone_sim_calibrate(s, l, 2 * N, 0.01, 4, &c, NULL), HONE_OK);
    assert_int_equal(c.fit_neg, 300);
    /* Exactly 3 fitting negatives at or above the threshold, so it is the
     * third highest fitting negative: between 0.95 and 1. */
    if (!(c.threshold > 0.95 && c.threshold < 1)) fail_msg("threshold %.6f", c.threshold);
    assert_int_equal(c.tp, c.eval_pos);
}

static void wilson_known_values(void **state) {
    struct {
        size_t k, n;
        double lo, hi;
    } v[] = {
        /* The Wilson score interval at z = 1.96, computed independently
         * (Python, from the formula); 0/10 and 5/10 are the textbook
         * examples [0, 0.2775] and [0.2366, 0.7634]. */
        {0, 10, 0.0, 0.27753},  {5, 10, 0.23659, 0.76341}, {10, 10, 0.72247, 1.0},
        {1, 100, 0.00177, 0.05449}, {81, 263, 0.25529, 0.36621}, {3, 1000, 0.00102, 0.00878},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        double lo, hi;
        hone_sim_wilson(v[i].k, v[i].n, &lo, &hi);
        if (fabs(lo - v[i].lo) > 5e-5 || fabs(hi - v[i].hi) > 5e-5)
            fail_msg("wilson(%zu, %zu) = [%.5f, %.5f], want [%.5f, %.5f]", v[i].k, v[i].n, lo, hi,
                     v[i].lo, v[i].hi);
    }
    double lo = -1, hi = -1;
    hone_sim_wilson(0, 0, &lo, &hi);
    assert_true(lo == 0 && hi == 1);
    hone_sim_wilson(0, 10, &lo, &hi);
    assert_true(lo == 0);
    hone_sim_wilson(10, 10, &lo, &hi);
    assert_true(hi == 1);
}

static void errors(void **state) {
    double s[] = {0.9, 0.8, 0.2, 0.1, 0.5};
    int l[] = {1, 1, 0, 0, 1};
    hone_sim_calibration c;
    hone_error err;
    struct {
        const double *s;
        const int *l;
        size_t n;
        double fpr;
        hone_sim_calibration *out;
        const char *what;
    } bad[] = {
        {NULL, l, 4, 0.01, &c, "NULL scores"},
        {s, NULL, 4, 0.01, &c, "NULL labels"},
        {s, l, 4, -0.01, &c, "negative target"},
        {s, l, 4, 1.0, &c, "target 1"},
        {s, l, 4, NAN, &c, "NaN target"},
        {s, l, 4, 0.01, NULL, "NULL out"},
        {s, l, 3, 0.01, &c, "1 negative"},
        {s + 1, l + 1, 3, 0.01, &c, "1 positive"},
        {s, l, 0, 0.01, &c, "no pairs"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        int rc = hone_sim_calibrate(bad[i].s, bad[i].l, bad[i].n, bad[i].fpr, 0, bad[i].out, &err);
        if (rc != HONE_EINVAL) fail_msg("%s: status %d, want HONE_EINVAL", bad[i].what, rc);
        if (!err.msg[0]) fail_msg("%s: no message", bad[i].what);
    }
    double sn[] = {0.9, NAN, 0.2, 0.1};
    int ln[] = {1, 1, 0, 0};
    assert_int_equal(hone_sim_calibrate(sn, ln, 4, 0.01, 0, &c, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "NaN"));
    assert_non_null(strstr(err.msg, "pair 1"));
    /* NULL arrays with no pairs are not the NULL error but the count one. */
    assert_int_equal(hone_sim_calibrate(NULL, NULL, 0, 0.01, 0, &c, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "at least 2"));
}

static int cal_run(const hone_allocator *a, void *ctx) {
    double s[64];
    int l[64];
    for (int i = 0; i < 64; i++) {
        l[i] = i % 2;
        s[i] = l[i] ? 0.6 + i / 200.0 : i / 100.0;
    }
    hone_sim_calibration c;
    return hone_sim_calibrate(s, l, 64, 0.1, 0, &c, NULL);
}

static void oom(void **state) {
    long n = failalloc_loop("hone_sim_calibrate", cal_run, NULL);
    assert_true(n >= 1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(synthetic_distribution),
    cmocka_unit_test(repeatable),
    cmocka_unit_test(separated),
    cmocka_unit_test(ties_are_hits),
    cmocka_unit_test(refusals_never_hit),
    cmocka_unit_test(allows_k_false_hits),
    cmocka_unit_test(wilson_known_values),
    cmocka_unit_test(errors),
    cmocka_unit_test(oom),
};

HONE_TEST_MAIN(tests)
