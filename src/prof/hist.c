/* hist.c - a log-linear latency histogram with HdrHistogram's layout:
 * constant-time recording, bounded memory, configurable precision. */
#include "hone/prof.h"

#include <math.h>
#include <string.h>

#include "prof/layout.h"

int hone__layout_init(hone__layout *l, int digits, uint64_t highest) {
    if (digits < 1 || digits > 3) return -1;
    uint64_t single = 2;
    for (int i = 0; i < digits; i++) single *= 10;
    if (highest < single) return -1;
    memset(l, 0, sizeof *l);
    l->digits = digits;
    l->highest = highest;
    /* The smallest power of two that holds every value with unit
     * resolution: below it values are exact, above it each power of two is
     * split into that many steps, which keeps `digits` digits. */
    int mag = 0;
    while (((uint64_t)1 << mag) < single) mag++;
    l->sub_mag = mag;
    l->half_mag = mag - 1;
    l->sub_count = (uint64_t)1 << mag;
    l->half_count = l->sub_count >> 1;
    l->sub_mask = l->sub_count - 1;
    uint64_t untrackable = l->sub_count;
    int buckets = 1;
    while (untrackable <= highest) {
        if (untrackable > INT64_MAX / 2) {
            buckets++;
            break;
        }
        untrackable <<= 1;
        buckets++;
    }
    l->bucket_count = buckets;
    l->counts_len = (uint32_t)(((uint64_t)buckets + 1) * l->half_count);
    return 0;
}

struct hone_hist {
    const hone_allocator *alloc;
    hone__layout l;
    uint64_t total;
    uint64_t saturated;
    uint64_t min, max;
    uint64_t *counts;
};

int hone_hist_new(hone_hist **out, const hone_hist_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    hone_hist_opts o = {0};
    if (opts) o = *opts;
    if (!o.significant_digits) o.significant_digits = 2;
    if (!o.highest) o.highest = 3600000000000ull;
    hone__layout l;
    if (hone__layout_init(&l, o.significant_digits, o.highest)) return HONE_EINVAL;
    hone_hist *h = hone_calloc(o.alloc, 1, sizeof *h);
    if (!h) return HONE_ENOMEM;
    h->counts = hone_calloc(o.alloc, l.counts_len, sizeof *h->counts);
    if (!h->counts) {
        hone_free(o.alloc, h);
        return HONE_ENOMEM;
    }
    h->alloc = o.alloc;
    h->l = l;
    h->min = UINT64_MAX;
    *out = h;
    return HONE_OK;
}

void hone_hist_free(hone_hist *h) {
    if (!h) return;
    const hone_allocator *a = h->alloc;
    hone_free(a, h->counts);
    hone_free(a, h);
}

void hone_hist_record_n(hone_hist *h, uint64_t v, uint64_t n) {
    if (__builtin_expect(v > h->l.highest, 0)) {
        v = h->l.highest;
        h->saturated += n;
    }
    h->counts[hone__layout_index(&h->l, v)] += n;
    h->total += n;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
}

void hone_hist_record(hone_hist *h, uint64_t v) { hone_hist_record_n(h, v, 1); }

int hone_hist_merge(hone_hist *dst, const hone_hist *src) {
    if (!dst || !src || dst->l.digits != src->l.digits || dst->l.highest != src->l.highest)
        return HONE_EINVAL;
    for (uint32_t i = 0; i < src->l.counts_len; i++) dst->counts[i] += src->counts[i];
    dst->total += src->total;
    dst->saturated += src->saturated;
    if (src->total) {
        if (src->min < dst->min) dst->min = src->min;
        if (src->max > dst->max) dst->max = src->max;
    }
    return HONE_OK;
}

void hone_hist_reset(hone_hist *h) {
    memset(h->counts, 0, h->l.counts_len * sizeof *h->counts);
    h->total = h->saturated = h->max = 0;
    h->min = UINT64_MAX;
}

uint64_t hone_hist_count(const hone_hist *h) { return h->total; }
uint64_t hone_hist_saturated(const hone_hist *h) { return h->saturated; }
uint64_t hone_hist_min(const hone_hist *h) { return h->total ? h->min : 0; }
uint64_t hone_hist_max(const hone_hist *h) { return h->max; }

uint64_t hone_hist_lowest_equivalent(const hone_hist *h, uint64_t v) {
    if (v > h->l.highest) v = h->l.highest;
    return hone__layout_value(&h->l, hone__layout_index(&h->l, v));
}

uint64_t hone_hist_highest_equivalent(const hone_hist *h, uint64_t v) {
    if (v > h->l.highest) v = h->l.highest;
    uint32_t i = hone__layout_index(&h->l, v);
    return hone__layout_value(&h->l, i) + hone__layout_width(&h->l, i) - 1;
}

double hone_hist_mean(const hone_hist *h) {
    if (!h->total) return 0;
    double sum = 0;
    for (uint32_t i = 0; i < h->l.counts_len; i++)
        if (h->counts[i])
            sum += (double)h->counts[i] *
                   ((double)hone__layout_value(&h->l, i) + (double)(hone__layout_width(&h->l, i) >> 1));
    return sum / (double)h->total;
}

double hone_hist_stddev(const hone_hist *h) {
    if (!h->total) return 0;
    double mean = hone_hist_mean(h), acc = 0;
    for (uint32_t i = 0; i < h->l.counts_len; i++) {
        if (!h->counts[i]) continue;
        double mid = (double)hone__layout_value(&h->l, i) + (double)(hone__layout_width(&h->l, i) >> 1);
        acc += (double)h->counts[i] * (mid - mean) * (mid - mean);
    }
    return sqrt(acc / (double)h->total);
}

uint64_t hone__hist_percentile_counts(const hone__layout *l, const uint64_t *counts, uint32_t start,
                                      uint32_t end, uint64_t total, double p) {
    if (!total) return 0;
    if (p < 0) p = 0;
    if (p > 100) p = 100;
    uint64_t want = (uint64_t)ceil(p / 100.0 * (double)total);
    if (want < 1) want = 1;
    uint64_t seen = 0;
    for (uint32_t i = start; i < end; i++) {
        seen += counts[i];
        if (seen >= want) return hone__layout_value(l, i) + hone__layout_width(l, i) - 1;
    }
    return l->highest;
}

uint64_t hone_hist_percentile(const hone_hist *h, double p) {
    uint64_t v = hone__hist_percentile_counts(&h->l, h->counts, 0, h->l.counts_len, h->total, p);
    return v > h->max ? h->max : v;
}

size_t hone_hist_memory_size(const hone_hist *h) {
    return sizeof *h + (size_t)h->l.counts_len * sizeof *h->counts;
}
