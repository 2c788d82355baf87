/* conclimit.c - the adaptive concurrency limit: Netflix concurrency-limits'
 * Gradient2 (short- and long-term RTT averages, gradient, queue allowance,
 * smoothing) with a multiplicative cut on dropped calls. */
#include "flow_internal.h"

#include <pthread.h>
#include <stdatomic.h>

/* Gradient2Limit's defaults (netflix/concurrency-limits,
 * Gradient2Limit.Builder): tolerance 1.5, smoothing 0.2, queue size 4, a
 * long window of 600 samples. Short window 10 so one outlier does not
 * halve the limit. Warm-up: the first 10 samples are averaged plainly, as
 * its ExpAvgMeasurement does. */
#define CL_TOLERANCE 1.5
#define CL_SMOOTHING 0.2
#define CL_QUEUE 4.0
#define CL_LONG_WINDOW 600.0
#define CL_SHORT_WINDOW 10.0
#define CL_WARMUP 10
#define CL_DROP_FACTOR 0.9

struct hone_conclimit {
    _Atomic uint32_t inflight;
    _Atomic uint32_t limit; /* published floor of `estimate` */
    pthread_mutex_t mu;
    double estimate;
    double short_rtt, long_rtt;
    uint64_t samples;
    uint32_t min, max;
    const hone_allocator *alloc;
};

int hone_conclimit_new(hone_conclimit **out, const hone_conclimit_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    if (!opts) return HONE_EINVAL;
    uint32_t min = opts->min ? opts->min : 1;
    uint32_t max = opts->max ? opts->max : 1000;
    uint32_t init = opts->initial ? opts->initial : 20;
    if (min > max) return HONE_EINVAL;
    if (init < min) init = min;
    if (init > max) init = max;
    hone_conclimit *l = hone_calloc(opts->alloc, 1, sizeof *l);
    if (!l) return HONE_ENOMEM;
    atomic_init(&l->inflight, 0);
    atomic_init(&l->limit, init);
    l->estimate = init;
    l->min = min;
    l->max = max;
    l->alloc = opts->alloc;
    pthread_mutex_init(&l->mu, NULL);
    *out = l;
    return HONE_OK;
}

void hone_conclimit_free(hone_conclimit *l) {
    if (!l) return;
    pthread_mutex_destroy(&l->mu);
    hone_free(l->alloc, l);
}

int hone_conclimit_acquire(hone_conclimit *l) {
    uint32_t cur = atomic_load_explicit(&l->inflight, memory_order_relaxed);
    do {
        if (cur >= atomic_load_explicit(&l->limit, memory_order_relaxed)) return HONE_EBUSY;
    } while (!atomic_compare_exchange_weak_explicit(&l->inflight, &cur, cur + 1,
                                                    memory_order_relaxed, memory_order_relaxed));
    return HONE_OK;
}

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

void hone_conclimit_release(hone_conclimit *l, uint64_t latency_ns, int dropped) {
    /* In flight as the call ended, itself included: the load it saw. */
    uint32_t inflight = atomic_fetch_sub_explicit(&l->inflight, 1, memory_order_relaxed);
    pthread_mutex_lock(&l->mu);
    double est = l->estimate;
    if (dropped) {
        est *= CL_DROP_FACTOR;
    } else {
        double rtt = latency_ns ? (double)latency_ns : 1.0;
        l->samples++;
        if (l->samples <= CL_WARMUP) {
            /* Running mean while warming up, for both averages. */
            l->long_rtt += (rtt - l->long_rtt) / (double)l->samples;
            l->short_rtt = l->long_rtt;
        } else {
            l->long_rtt += (rtt - l->long_rtt) * (2.0 / (CL_LONG_WINDOW + 1));
            l->short_rtt += (rtt - l->short_rtt) * (2.0 / (CL_SHORT_WINDOW + 1));
        }
        /* A long-term RTT far above the short-term one is a recovered
         * server: let the long average come down faster. */
        if (l->long_rtt / l->short_rtt > 2) l->long_rtt *= 0.95;
        /* Application-limited: the limit was not what held calls back, so
         * the sample says nothing about a higher one. */
        if ((double)inflight >= est / 2) {
            double gradient = clampd(CL_TOLERANCE * l->long_rtt / l->short_rtt, 0.5, 1.0);
            double next = est * gradient + CL_QUEUE;
            est = est * (1 - CL_SMOOTHING) + next * CL_SMOOTHING;
        }
    }
    est = clampd(est, l->min, l->max);
    l->estimate = est;
    atomic_store_explicit(&l->limit, (uint32_t)est, memory_order_relaxed);
    pthread_mutex_unlock(&l->mu);
}

uint32_t hone_conclimit_limit(hone_conclimit *l) {
    return atomic_load_explicit(&l->limit, memory_order_relaxed);
}

uint32_t hone_conclimit_inflight(hone_conclimit *l) {
    return atomic_load_explicit(&l->inflight, memory_order_relaxed);
}
