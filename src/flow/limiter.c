/* limiter.c - the GCRA rate limiter: one atomic word, a CAS only when a
 * request is admitted, and the shared GCRA setup and OS seed. */
#include "flow_internal.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

struct hone_limiter {
    /* Alone on its cache line: every admission writes it, and nothing else
     * the limiter holds should be invalidated along with it. */
    _Alignas(64) _Atomic uint64_t tat;
    _Alignas(64) hone__gcra g;
    hone__clock clock;
    const hone_allocator *alloc;
};

int hone__gcra_init(hone__gcra *g, double rate, uint32_t burst, uint64_t epoch) {
    if (isnan(rate) || rate < 0) return HONE_EINVAL;
    memset(g, 0, sizeof *g);
    g->burst = burst ? burst : 1;
    g->epoch = epoch;
    if (rate == 0) {
        g->mode = HONE__GCRA_DENY;
        return HONE_OK;
    }
    if (isinf(rate)) {
        g->mode = HONE__GCRA_ALLOW;
        return HONE_OK;
    }
    /* Clamped so that the interval is at least 1 ns and at most 11.6 days,
     * and 1e9 * 64 / rate can neither divide by zero nor overflow. */
    if (rate < 1e-6) rate = 1e-6;
    if (rate > 1e9) rate = 1e9;
    double t = floor(1e9 * (double)(1u << HONE__GCRA_FRAC) / rate + 0.5);
    g->mode = HONE__GCRA_LIMIT;
    g->t = t < 1 ? 1 : (uint64_t)t;
    g->tau = hone__sat_mul(g->burst, g->t);
    return HONE_OK;
}

uint64_t hone__flow_seed(void) {
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
        uint64_t mix = hone_now_ns() ^ (uint64_t)(uintptr_t)&s;
        s = hone__rng_next(&mix);
    }
    return s ? s : UINT64_C(0x9e3779b97f4a7c15);
}

int hone_limiter_new(hone_limiter **out, const hone_limiter_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    if (!opts) return HONE_EINVAL;
    hone__clock c;
    hone__clock_copy(&c, opts->clock);
    hone__gcra g;
    if (hone__gcra_init(&g, opts->rate, opts->burst, hone__clock_now(&c))) return HONE_EINVAL;
    /* hone_malloc gives malloc's 16-byte alignment; the struct asks for 64,
     * so over-allocate and keep the original pointer just before it. */
    unsigned char *raw = hone_malloc(opts->alloc, sizeof(hone_limiter) + 64 + sizeof(void *));
    if (!raw) return HONE_ENOMEM;
    uintptr_t p = ((uintptr_t)raw + sizeof(void *) + 63) & ~(uintptr_t)63;
    hone_limiter *l = (hone_limiter *)p;
    memcpy((unsigned char *)l - sizeof(void *), &raw, sizeof raw);
    atomic_init(&l->tat, 0);
    l->g = g;
    l->clock = c;
    l->alloc = opts->alloc;
    *out = l;
    return HONE_OK;
}

void hone_limiter_free(hone_limiter *l) {
    if (!l) return;
    void *raw;
    memcpy(&raw, (unsigned char *)l - sizeof(void *), sizeof raw);
    hone_free(l->alloc, raw);
}

int hone_limiter_acquire(hone_limiter *l, uint32_t cost, uint64_t *wait_ns) {
    uint64_t w = 0;
    int rc = HONE_OK;
    if (l->g.mode == HONE__GCRA_LIMIT) {
        uint64_t now_u = hone__gcra_now(&l->g, hone__clock_now(&l->clock));
        /* Relaxed is enough: the word publishes nothing but itself, and the
         * CAS orders the admissions among themselves. */
        uint64_t tat = atomic_load_explicit(&l->tat, memory_order_relaxed);
        for (;;) {
            uint64_t nt;
            if (!hone__gcra_decide(&l->g, tat, now_u, cost, &nt, &w)) {
                rc = HONE_EBUSY;
                break;
            }
            if (atomic_compare_exchange_weak_explicit(&l->tat, &tat, nt, memory_order_relaxed,
                                                      memory_order_relaxed))
                break;
        }
    } else if (l->g.mode == HONE__GCRA_DENY) {
        w = UINT64_MAX, rc = HONE_EBUSY;
    }
    if (wait_ns) *wait_ns = rc ? w : 0;
    return rc;
}

int hone_limiter_peek(const hone_limiter *l, uint32_t cost, uint64_t *wait_ns) {
    uint64_t w = 0;
    int rc = HONE_OK;
    if (l->g.mode == HONE__GCRA_LIMIT) {
        uint64_t now_u = hone__gcra_now(&l->g, hone__clock_now(&l->clock));
        uint64_t tat = atomic_load_explicit(&((hone_limiter *)l)->tat, memory_order_relaxed);
        uint64_t nt;
        if (!hone__gcra_decide(&l->g, tat, now_u, cost, &nt, &w)) rc = HONE_EBUSY;
    } else if (l->g.mode == HONE__GCRA_DENY) {
        w = UINT64_MAX, rc = HONE_EBUSY;
    }
    if (wait_ns) *wait_ns = rc ? w : 0;
    return rc;
}

int hone_limiter_acquire_until(hone_limiter *l, uint32_t cost, uint64_t deadline) {
    for (;;) {
        uint64_t wait;
        if (hone_limiter_acquire(l, cost, &wait) == HONE_OK) return HONE_OK;
        if (wait == UINT64_MAX) return deadline ? HONE_ETIMEDOUT : HONE_EBUSY;
        if (deadline) {
            uint64_t now = hone__clock_now(&l->clock);
            if (now >= deadline || wait > deadline - now) return HONE_ETIMEDOUT;
        }
        hone__clock_sleep(&l->clock, wait);
    }
}
