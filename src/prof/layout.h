/* layout.h - HdrHistogram's log-linear bucket layout, shared by the
 * standalone histogram and the per-thread zone slots. */
#ifndef HONE_PROF_LAYOUT_H
#define HONE_PROF_LAYOUT_H

#include <stdint.h>

/* The shape of a histogram: lowest value 1 (unit magnitude 0), `highest`,
 * and `digits` significant decimal digits. Values below sub_count are
 * exact; every further power of two ("bucket") is split into half_count
 * linear sub-buckets. Counts live in a flat array of counts_len entries:
 * bucket 0 takes the first sub_count entries, every later bucket half_count
 * more (its lower half overlaps the previous bucket's range). */
typedef struct hone__layout {
    int digits;
    uint64_t highest;
    int sub_mag;      /* log2(sub_count) */
    int half_mag;     /* sub_mag - 1 */
    uint64_t sub_count;
    uint64_t half_count;
    uint64_t sub_mask; /* sub_count - 1 */
    int bucket_count;
    uint32_t counts_len; /* (bucket_count + 1) * half_count */
} hone__layout;

/* Fills l for digits 1..3 and highest >= 2 * 10^digits; returns 0, or -1
 * on bad arguments. */
int hone__layout_init(hone__layout *l, int digits, uint64_t highest);

static inline uint32_t hone__layout_index(const hone__layout *l, uint64_t v) {
    /* Which power of two v falls in, counted from sub_count. */
    int pow2ceil = 64 - __builtin_clzll(v | l->sub_mask);
    int bucket = pow2ceil - (l->half_mag + 1);
    uint64_t sub = v >> bucket;
    return (uint32_t)((((uint64_t)bucket + 1) << l->half_mag) + sub - l->half_count);
}

/* The smallest value counted at index i. */
static inline uint64_t hone__layout_value(const hone__layout *l, uint32_t i) {
    int bucket = (int)(i >> l->half_mag) - 1;
    uint64_t sub = (i & (l->half_count - 1)) + l->half_count;
    if (bucket < 0) {
        sub -= l->half_count;
        bucket = 0;
    }
    return sub << bucket;
}

/* The width of the range of values counted at index i. */
static inline uint64_t hone__layout_width(const hone__layout *l, uint32_t i) {
    int bucket = (int)(i >> l->half_mag) - 1;
    return (uint64_t)1 << (bucket < 0 ? 0 : bucket);
}

/* The value at percentile p of a flat counts array holding total values
 * (the highest value equivalent to the bucket reached), all of them at
 * indexes [start, end). */
uint64_t hone__hist_percentile_counts(const hone__layout *l, const uint64_t *counts, uint32_t start,
                                      uint32_t end, uint64_t total, double p);

#endif
