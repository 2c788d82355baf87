/* stats.c - statistics of timing samples: summary with robust outlier
 * counts, Student's t distribution, Welch's t-test, Mann-Whitney U, and the
 * comparison of two samples that `hone bench` and hone_bench_fn report. */
#include "hone/bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

double hone_bench_percentile(const double *sorted, size_t n, double p) {
    if (!sorted || n == 0) return NAN;
    if (p <= 0) return sorted[0];
    if (p >= 100) return sorted[n - 1];
    double h = (double)(n - 1) * p / 100.0;
    size_t lo = (size_t)floor(h);
    if (lo + 1 >= n) return sorted[n - 1];
    return sorted[lo] + (h - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

int hone_bench_summarize(const double *x, size_t n, hone_bench_summary *out,
                         const hone_allocator *a) {
    if (!x || !out || n == 0) return HONE_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return HONE_EINVAL;
    double *s = hone_malloc(a, n * sizeof *s);
    if (!s) return HONE_ENOMEM;
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);

    hone_bench_summary r;
    memset(&r, 0, sizeof r);
    r.n = n;
    /* Two passes: the mean first, then squared deviations from it, which
     * keeps the variance accurate when the spread is tiny next to the mean
     * (nanosecond noise on second-long runs). */
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += s[i];
    r.mean = sum / (double)n;
    if (n > 1) {
        double ss = 0;
        for (size_t i = 0; i < n; i++) ss += (s[i] - r.mean) * (s[i] - r.mean);
        r.stddev = sqrt(ss / (double)(n - 1));
    }
    r.min = s[0];
    r.max = s[n - 1];
    r.median = hone_bench_percentile(s, n, 50);
    r.p5 = hone_bench_percentile(s, n, 5);
    r.p25 = hone_bench_percentile(s, n, 25);
    r.p75 = hone_bench_percentile(s, n, 75);
    r.p95 = hone_bench_percentile(s, n, 95);
    r.p99 = hone_bench_percentile(s, n, 99);

    for (size_t i = 0; i < n; i++) s[i] = fabs(s[i] - r.median);
    qsort(s, n, sizeof *s, cmp_double);
    r.mad = hone_bench_percentile(s, n, 50);
    hone_free(a, s);

    /* With a zero MAD (more than half the samples identical) every other
     * value would be an infinitely far outlier; nothing robust can be said,
     * so none is counted. */
    if (r.mad > 0) {
        double fence = HONE_BENCH_OUTLIER_K * 1.4826 * r.mad;
        for (size_t i = 0; i < n; i++) {
            if (x[i] < r.median - fence) r.outliers_low++;
            else if (x[i] > r.median + fence) r.outliers_high++;
        }
    }
    *out = r;
    return HONE_OK;
}

/* The continued fraction of the incomplete beta function, evaluated with
 * the modified Lentz method (Numerical Recipes, section 6.4). */
static double betacf(double a, double b, double x) {
    const double tiny = 1e-300, eps = 1e-15;
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 1000; m++) {
        double m2 = 2.0 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < eps) break;
    }
    return h;
}

/* I_x(a, b) with y = 1 - x passed in as well, so that callers who know y
 * more precisely than 1 - x would round it (the t distribution near t = 0)
 * keep that precision. */
static double incbeta_xy(double a, double b, double x, double y) {
    if (x <= 0) return 0;
    if (y <= 0) return 1;
    int sg;
    /* lgamma_r, not lgamma: lgamma writes the global signgam, a data race
     * when threads compute p-values at once. */
    double lbt = lgamma_r(a + b, &sg) - lgamma_r(a, &sg) - lgamma_r(b, &sg) + a * log(x) +
                 b * log(y);
    double bt = exp(lbt);
    /* The fraction converges fast only left of the mean of the beta
     * distribution; right of it, use I_x(a,b) = 1 - I_{1-x}(b,a). */
    if (x < (a + 1) / (a + b + 2)) return bt * betacf(a, b, x) / a;
    return 1 - bt * betacf(b, a, y) / b;
}

double hone_bench_incbeta(double a, double b, double x) {
    if (!(a > 0) || !(b > 0) || !(x >= 0) || !(x <= 1)) return NAN;
    return incbeta_xy(a, b, x, 1 - x);
}

/* P(|T| >= |t|): the two-sided tail, computed directly so that tiny
 * p-values keep their precision instead of vanishing in 1 - cdf. */
static double t_two_tail(double t, double df) {
    if (isinf(t)) return 0;
    return incbeta_xy(df / 2, 0.5, df / (df + t * t), t * t / (df + t * t));
}

double hone_bench_t_cdf(double t, double df) {
    if (!(df > 0) || isnan(t)) return NAN;
    double tail = t_two_tail(t, df) / 2;
    return t >= 0 ? 1 - tail : tail;
}

double hone_bench_t_quantile(double p, double df) {
    if (!(p > 0) || !(p < 1) || !(df > 0)) return NAN;
    double lo = -1, hi = 1;
    while (hone_bench_t_cdf(lo, df) > p && lo > -1e300) lo *= 2;
    while (hone_bench_t_cdf(hi, df) < p && hi < 1e300) hi *= 2;
    for (int i = 0; i < 2000; i++) {
        double mid = lo + (hi - lo) / 2;
        if (hone_bench_t_cdf(mid, df) < p) lo = mid;
        else hi = mid;
        if (hi - lo <= 1e-12 * fmax(1, fabs(mid))) break;
    }
    return lo + (hi - lo) / 2;
}

double hone_bench_normal_cdf(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

int hone_bench_welch_test(const hone_bench_summary *a, const hone_bench_summary *b,
                          hone_bench_welch *out) {
    if (!a || !b || !out || a->n < 2 || b->n < 2) return HONE_EINVAL;
    double va = a->stddev * a->stddev / (double)a->n;
    double vb = b->stddev * b->stddev / (double)b->n;
    double diff = a->mean - b->mean;
    hone_bench_welch r;
    if (va + vb == 0) {
        r.df = (double)(a->n + b->n - 2);
        r.t = diff == 0 ? 0 : (diff > 0 ? INFINITY : -INFINITY);
        r.p = diff == 0 ? 1 : 0;
    } else {
        r.t = diff / sqrt(va + vb);
        r.df = (va + vb) * (va + vb) /
               (va * va / (double)(a->n - 1) + vb * vb / (double)(b->n - 1));
        r.p = t_two_tail(r.t, r.df);
    }
    *out = r;
    return HONE_OK;
}

typedef struct ranked {
    double v;
    int from_a;
} ranked;

static int cmp_ranked(const void *pa, const void *pb) {
    return cmp_double(&((const ranked *)pa)->v, &((const ranked *)pb)->v);
}

/* The exact two-sided p-value of U for samples of m and n without ties.
 * The number of arrangements giving each U is the coefficient of q^U in
 * the Gaussian binomial [m+n choose m]_q = prod_{k=1..m} (1-q^(n+k))/(1-q^k);
 * every intermediate is an integer below C(m+n, m), exact in a double for
 * the m*n <= 400 this is used for. */
static int mwu_exact(double u, size_t m, size_t n, double *p, const hone_allocator *alloc) {
    size_t deg = m * n;
    double *c = hone_calloc(alloc, deg + 1, sizeof *c);
    if (!c) return HONE_ENOMEM;
    c[0] = 1;
    for (size_t k = 1; k <= m; k++) {
        size_t up = n + k;
        for (size_t i = deg; i >= up; i--) {
            c[i] -= c[i - up];
            if (i == up) break;
        }
        for (size_t i = k; i <= deg; i++) c[i] += c[i - k];
    }
    double total = 0, le = 0, ge = 0;
    for (size_t i = 0; i <= deg; i++) {
        total += c[i];
        if ((double)i <= u) le += c[i];
        if ((double)i >= u) ge += c[i];
    }
    hone_free(alloc, c);
    double pv = 2 * fmin(le, ge) / total;
    *p = pv > 1 ? 1 : pv;
    return HONE_OK;
}

int hone_bench_mann_whitney(const double *a, size_t na, const double *b, size_t nb,
                            hone_bench_mwu *out, const hone_allocator *alloc) {
    if (!a || !b || !out || na == 0 || nb == 0) return HONE_EINVAL;
    size_t n = na + nb;
    for (size_t i = 0; i < na; i++)
        if (!isfinite(a[i])) return HONE_EINVAL;
    for (size_t i = 0; i < nb; i++)
        if (!isfinite(b[i])) return HONE_EINVAL;
    ranked *r = hone_malloc(alloc, n * sizeof *r);
    if (!r) return HONE_ENOMEM;
    for (size_t i = 0; i < na; i++) r[i] = (ranked){a[i], 1};
    for (size_t i = 0; i < nb; i++) r[na + i] = (ranked){b[i], 0};
    qsort(r, n, sizeof *r, cmp_ranked);

    /* Average ranks for ties; sum of (t^3 - t) over tie groups for the
     * variance correction. */
    double rank_a = 0, ties = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && r[j + 1].v == r[i].v) j++;
        double avg = ((double)i + (double)j) / 2 + 1;
        double t = (double)(j - i + 1);
        ties += t * t * t - t;
        for (size_t k = i; k <= j; k++)
            if (r[k].from_a) rank_a += avg;
        i = j + 1;
    }
    hone_free(alloc, r);

    hone_bench_mwu res;
    memset(&res, 0, sizeof res);
    double dna = (double)na, dnb = (double)nb, dn = (double)n;
    res.u = rank_a - dna * (dna + 1) / 2;
    if (ties == 0 && na * nb <= 400) {
        int rc = mwu_exact(res.u, na, nb, &res.p, alloc);
        if (rc) return rc;
        res.exact = 1;
    } else {
        double mu = dna * dnb / 2;
        double var = dna * dnb / 12 * ((dn + 1) - ties / (dn * (dn - 1)));
        if (var <= 0) {
            res.z = 0;
            res.p = 1;
        } else {
            double d = res.u - mu;
            /* Continuity correction: move half a step toward the mean. */
            d = d > 0.5 ? d - 0.5 : (d < -0.5 ? d + 0.5 : 0);
            res.z = d / sqrt(var);
            res.p = erfc(fabs(res.z) / sqrt(2.0));
            if (res.p > 1) res.p = 1;
        }
    }
    *out = res;
    return HONE_OK;
}

int hone_bench_compare(const double *a, size_t na, const double *b, size_t nb,
                       hone_bench_comparison *out, const hone_allocator *alloc) {
    if (!a || !b || !out || na < 2 || nb < 2) return HONE_EINVAL;
    hone_bench_summary sa, sb;
    int rc = hone_bench_summarize(a, na, &sa, alloc);
    if (!rc) rc = hone_bench_summarize(b, nb, &sb, alloc);
    if (rc) return rc;
    if (!(sa.mean > 0) || !(sb.mean > 0)) return HONE_EINVAL;
    hone_bench_comparison c;
    memset(&c, 0, sizeof c);
    rc = hone_bench_welch_test(&sa, &sb, &c.welch);
    if (!rc) rc = hone_bench_mann_whitney(a, na, b, nb, &c.mwu, alloc);
    if (rc) return rc;

    c.ratio = sb.mean / sa.mean;
    double ra = sa.stddev * sa.stddev / ((double)na * sa.mean * sa.mean);
    double rb = sb.stddev * sb.stddev / ((double)nb * sb.mean * sb.mean);
    if (ra + rb == 0) {
        c.ratio_lo = c.ratio_hi = c.ratio;
    } else {
        double df = (ra + rb) * (ra + rb) / (ra * ra / (double)(na - 1) + rb * rb / (double)(nb - 1));
        double q = hone_bench_t_quantile(0.975, df);
        double se = sqrt(ra + rb);
        c.ratio_lo = c.ratio * exp(-q * se);
        c.ratio_hi = c.ratio * exp(q * se);
    }
    c.verdict = HONE_BENCH_SAME;
    if (c.welch.p < 0.05) {
        if (c.ratio_hi < 1) c.verdict = HONE_BENCH_FASTER;
        else if (c.ratio_lo > 1) c.verdict = HONE_BENCH_SLOWER;
    }
    *out = c;
    return HONE_OK;
}

const char *hone_bench_verdict_name(hone_bench_verdict v) {
    switch (v) {
    case HONE_BENCH_FASTER: return "faster";
    case HONE_BENCH_SLOWER: return "slower";
    default: return "no significant difference";
    }
}
