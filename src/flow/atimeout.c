/* atimeout.c - the adaptive timeout: a ring of recent success latencies,
 * a cached percentile recomputed by selection every few records. */
#include "flow_internal.h"

#include <pthread.h>
#include <string.h>

struct hone_atimeout {
    pthread_mutex_t mu;
    hone_atimeout_opts o; /* with defaults applied */
    uint64_t *ring;       /* the last o.window latencies */
    uint64_t *scratch;    /* selection works on a copy, so the ring keeps its order */
    uint64_t seen;        /* latencies recorded, ever */
    uint32_t since;       /* records since the cached value was computed */
    int valid;            /* cached holds a computed value */
    uint64_t cached;
};

int hone_atimeout_new(hone_atimeout **out, const hone_atimeout_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    if (!opts) return HONE_EINVAL;
    hone_atimeout_opts o = *opts;
    if (o.percentile == 0) o.percentile = 99;
    if (o.factor == 0) o.factor = 2.0;
    if (!o.min_ns) o.min_ns = UINT64_C(10000000);
    if (!o.max_ns) o.max_ns = UINT64_C(30000000000);
    if (!o.min_samples) o.min_samples = 20;
    if (!o.window) o.window = 1000;
    if (!o.recompute_every) o.recompute_every = o.window / 50 ? o.window / 50 : 1;
    if (isnan(o.percentile) || o.percentile <= 0 || o.percentile > 100 || isnan(o.factor) ||
        o.factor < 0 || o.min_ns > o.max_ns)
        return HONE_EINVAL;
    hone_atimeout *t = hone_calloc(o.alloc, 1, sizeof *t);
    if (!t) return HONE_ENOMEM;
    t->ring = hone_calloc(o.alloc, o.window, sizeof *t->ring);
    t->scratch = t->ring ? hone_calloc(o.alloc, o.window, sizeof *t->scratch) : NULL;
    if (!t->scratch) {
        hone_free(o.alloc, t->ring);
        hone_free(o.alloc, t);
        return HONE_ENOMEM;
    }
    t->o = o;
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return HONE_OK;
}

void hone_atimeout_free(hone_atimeout *t) {
    if (!t) return;
    pthread_mutex_destroy(&t->mu);
    hone_free(t->o.alloc, t->scratch);
    hone_free(t->o.alloc, t->ring);
    hone_free(t->o.alloc, t);
}

void hone_atimeout_record(hone_atimeout *t, uint64_t latency_ns) {
    pthread_mutex_lock(&t->mu);
    t->ring[t->seen % t->o.window] = latency_ns;
    t->seen++;
    t->since++;
    pthread_mutex_unlock(&t->mu);
}

/* The k-th smallest (0-based) of a[0..n), n > 0: quickselect with a
 * median-of-three pivot and a three-way partition (latencies repeat, and
 * equal keys must not make it quadratic). O(n) expected, in place. */
static uint64_t select_kth(uint64_t *a, size_t n, size_t k) {
    size_t lo = 0, hi = n; /* the k-th lies in [lo, hi) */
    while (hi - lo > 1) {
        uint64_t x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1];
        uint64_t pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            uint64_t v = a[i];
            if (v < pivot) {
                a[i++] = a[lt], a[lt++] = v;
            } else if (v > pivot) {
                a[i] = a[--gt], a[gt] = v;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return pivot;
    }
    return a[k];
}

uint64_t hone_atimeout_get(hone_atimeout *t) {
    pthread_mutex_lock(&t->mu);
    uint64_t r = t->o.max_ns;
    if (t->seen >= t->o.min_samples) {
        if (!t->valid || t->since >= t->o.recompute_every) {
            size_t n = t->seen < t->o.window ? (size_t)t->seen : t->o.window;
            memcpy(t->scratch, t->ring, n * sizeof *t->ring);
            /* Nearest rank: the smallest value with at least p % of the
             * samples at or below it. */
            double rank = ceil(t->o.percentile / 100.0 * (double)n);
            size_t k = rank < 1 ? 0 : (size_t)rank - 1;
            if (k >= n) k = n - 1;
            double v = (double)select_kth(t->scratch, n, k) * t->o.factor;
            t->cached = v >= (double)t->o.max_ns ? t->o.max_ns
                        : v <= (double)t->o.min_ns ? t->o.min_ns
                                                   : (uint64_t)v;
            t->valid = 1;
            t->since = 0;
        }
        r = t->cached;
    }
    pthread_mutex_unlock(&t->mu);
    return r;
}
