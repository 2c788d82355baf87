/* calibrate.c - thresholds chosen on labelled pairs, not guessed: a
 * stratified random split, the lowest threshold whose false hit rate on the
 * fitting half stays within the target, and recall and false hit rate with
 * 95 % Wilson intervals on the other half (see hone/simcache.h). */
#include "hone/simcache.h"

#include <math.h>
#include <stdlib.h>

/* The seed used when the caller passes 0, so runs repeat. */
#define CAL_DEFAULT_SEED 0x9e3779b97f4a7c15ull

/* z for a two-sided 95 % interval. */
#define CAL_Z 1.959963984540054

void hone_sim_wilson(size_t k, size_t n, double *lo, double *hi) {
    double l = 0, h = 1;
    if (n > 0) {
        if (k > n) k = n;
        double nn = (double)n, p = (double)k / nn, z2 = CAL_Z * CAL_Z;
        double denom = 1 + z2 / nn;
        double centre = (p + z2 / (2 * nn)) / denom;
        double half = CAL_Z * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / denom;
        /* At k = 0 and k = n the formula gives the bounds 0 and 1 up to
         * rounding; return them exactly so "contains the true rate 0" holds. */
        l = k == 0 ? 0 : centre - half;
        h = k == n ? 1 : centre + half;
        if (l < 0) l = 0;
        if (h > 1) h = 1;
    }
    if (lo) *lo = l;
    if (hi) *hi = h;
}

/* splitmix64: small, seedable, and good enough to shuffle. */
static uint64_t cal_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A uniform index in [0, bound) without modulo bias: draws below the
 * largest multiple of bound are kept. */
static size_t cal_below(uint64_t *s, size_t bound) {
    uint64_t b = bound, limit = UINT64_MAX - UINT64_MAX % b;
    for (;;) {
        uint64_t r = cal_next(s);
        if (r < limit) return (size_t)(r % b);
    }
}

static void cal_shuffle(size_t *v, size_t n, uint64_t *s) {
    for (size_t i = n; i > 1; i--) {
        size_t j = cal_below(s, i), t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* Descending, for the negatives' scores. */
static int cal_cmp_desc(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a < b) - (a > b);
}

int hone_sim_calibrate(const double *scores, const int *labels, size_t n, double target_fpr,
                       uint64_t seed, hone_sim_calibration *out, hone_error *err) {
    if (!out) return hone_error_set(err, HONE_EINVAL, "calibrate: out is NULL");
    if (n > 0 && (!scores || !labels))
        return hone_error_set(err, HONE_EINVAL, "calibrate: scores or labels is NULL");
    if (!(target_fpr >= 0 && target_fpr < 1))
        return hone_error_set(err, HONE_EINVAL, "calibrate: target false hit rate %g is not in [0, 1)",
                              target_fpr);
    size_t npos = 0, nneg = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(scores[i]))
            return hone_error_set(err, HONE_EINVAL, "calibrate: score of pair %zu is NaN", i);
        if (labels[i]) npos++;
        else nneg++;
    }
    if (npos < 2 || nneg < 2)
        return hone_error_set(err, HONE_EINVAL,
                              "calibrate: need at least 2 positive and 2 negative pairs, have %zu "
                              "and %zu",
                              npos, nneg);

    /* One block: the positives' and negatives' indices (shuffled, so the
     * first part of each is the fitting half), then the fitting half's
     * negative scores, sorted. */
    size_t fit_pos = npos - npos / 2, fit_neg = nneg - nneg / 2;
    size_t *idx = hone_malloc(NULL, n * sizeof *idx + fit_neg * sizeof(double));
    if (!idx) return hone_error_set(err, HONE_ENOMEM, "calibrate: out of memory");
    size_t *pos = idx, *neg = idx + npos;
    double *fneg = (double *)(idx + n);
    for (size_t i = 0, p = 0, q = 0; i < n; i++) {
        if (labels[i]) pos[p++] = i;
        else neg[q++] = i;
    }
    uint64_t s = seed ? seed : CAL_DEFAULT_SEED;
    cal_shuffle(pos, npos, &s);
    cal_shuffle(neg, nneg, &s);

    for (size_t i = 0; i < fit_neg; i++) fneg[i] = scores[neg[i]];
    qsort(fneg, fit_neg, sizeof *fneg, cal_cmp_desc);
    /* At most k false hits on the fitting half; the small slack keeps
     * 0.01 * 300 from rounding down to 2. */
    size_t k = (size_t)floor(target_fpr * (double)fit_neg + 1e-9);
    if (k >= fit_neg) k = fit_neg - 1;
    /* A threshold t lets at most k negatives through exactly when
     * t > fneg[k]; the lowest such fitting score is the threshold. When no
     * fitting score lies above fneg[k], the next double above it is. */
    double bar = fneg[k], thr = INFINITY;
    for (size_t i = 0; i < fit_pos; i++) {
        double v = scores[pos[i]];
        if (v > bar && v < thr) thr = v;
    }
    for (size_t i = 0; i < k; i++)
        if (fneg[i] > bar && fneg[i] < thr) thr = fneg[i];
    if (thr == INFINITY) thr = bar == INFINITY ? INFINITY : nextafter(bar, INFINITY);

    hone_sim_calibration c = {0};
    c.threshold = thr;
    c.target_fpr = target_fpr;
    c.fit_pos = fit_pos;
    c.fit_neg = fit_neg;
    c.eval_pos = npos - fit_pos;
    c.eval_neg = nneg - fit_neg;
    for (size_t i = fit_pos; i < npos; i++) {
        if (scores[pos[i]] >= thr) c.tp++;
        else c.fn++;
    }
    for (size_t i = fit_neg; i < nneg; i++) {
        if (scores[neg[i]] >= thr) c.fp++;
        else c.tn++;
    }
    hone_free(NULL, idx);
    c.recall = (double)c.tp / (double)c.eval_pos;
    c.fpr = (double)c.fp / (double)c.eval_neg;
    hone_sim_wilson(c.tp, c.eval_pos, &c.recall_lo, &c.recall_hi);
    hone_sim_wilson(c.fp, c.eval_neg, &c.fpr_lo, &c.fpr_hi);
    *out = c;
    return HONE_OK;
}
