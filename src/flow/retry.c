/* retry.c - exponential backoff with full or decorrelated jitter, and the
 * retry policy of one logical call: attempts, one deadline, per-attempt
 * timeouts, server pushback and the retry budget. */
#include "flow_internal.h"

#include <string.h>

#define BACKOFF_BASE_NS UINT64_C(100000000)  /* 100 ms */
#define BACKOFF_CAP_NS UINT64_C(10000000000) /* 10 s */
#define RETRY_MIN_ATTEMPT_NS UINT64_C(1000000)

void hone_backoff_init(hone_backoff *b, const hone_backoff_opts *opts, uint64_t seed) {
    memset(b, 0, sizeof *b);
    if (opts) b->o = *opts;
    if (!b->o.base_ns) b->o.base_ns = BACKOFF_BASE_NS;
    if (!b->o.cap_ns) b->o.cap_ns = BACKOFF_CAP_NS;
    if ((unsigned)b->o.jitter > HONE_JITTER_NONE) b->o.jitter = HONE_JITTER_FULL;
    b->prev_ns = b->o.base_ns;
    b->rng = seed ? seed : hone__flow_seed();
}

/* min(cap, base * 2^(retry-1)) without overflow. */
static uint64_t expo(const hone_backoff *b, unsigned retry) {
    unsigned k = retry ? retry - 1 : 0;
    uint64_t v = b->o.base_ns;
    if (k >= 64 || v > (UINT64_MAX >> k)) return b->o.cap_ns;
    v <<= k;
    return v < b->o.cap_ns ? v : b->o.cap_ns;
}

uint64_t hone_backoff_next(hone_backoff *b, unsigned retry) {
    switch (b->o.jitter) {
    case HONE_JITTER_NONE: return expo(b, retry);
    case HONE_JITTER_DECORRELATED: {
        if (retry <= 1) b->prev_ns = b->o.base_ns;
        uint64_t hi = hone__sat_mul(b->prev_ns, 3);
        if (hi < b->o.base_ns) hi = b->o.base_ns;
        uint64_t d = hone__rng_range(&b->rng, b->o.base_ns, hi);
        if (d > b->o.cap_ns) d = b->o.cap_ns;
        b->prev_ns = d;
        return d;
    }
    case HONE_JITTER_FULL:
    default: return hone__rng_range(&b->rng, 0, expo(b, retry));
    }
}

void hone_retry_begin(hone_retry *r, const hone_retry_opts *opts, uint64_t deadline) {
    memset(r, 0, sizeof *r);
    if (opts) r->o = *opts;
    /* Zero fields come from the settings table (a malformed variable is
     * ignored here; hone_env_validate reports it). */
    if (!r->o.max_attempts)
        r->o.max_attempts = (unsigned)hone_setting_u64(HONE_SET_RETRY_ATTEMPTS, NULL);
    if (!r->o.max_attempts) r->o.max_attempts = 3;
    if (!r->o.backoff.cap_ns)
        r->o.backoff.cap_ns = hone_setting_u64(HONE_SET_RETRY_MAX_BACKOFF, NULL);
    if (!r->o.min_attempt_ns) r->o.min_attempt_ns = RETRY_MIN_ATTEMPT_NS;
    hone_backoff_init(&r->backoff, &r->o.backoff, r->o.seed);
    r->o.backoff = r->backoff.o;
    r->deadline = deadline;
    r->last_status = HONE_OK;
    hone_retry_budget_request(r->o.budget);
}

int hone_retry_attempt(hone_retry *r, uint64_t *timeout_ns) {
    uint64_t t = r->o.attempt_timeout_ns;
    if (r->deadline) {
        uint64_t now = hone__fclock_now(r->o.clock);
        uint64_t left = r->deadline > now ? r->deadline - now : 0;
        if (left < r->o.min_attempt_ns) return HONE_ETIMEDOUT;
        if (!t || left < t) t = left;
    }
    r->attempts++;
    if (timeout_ns) *timeout_ns = t;
    return HONE_OK;
}

int hone_retry_failed(hone_retry *r, int retryable, uint64_t pushback_ns, uint64_t *delay_ns) {
    if (!retryable || r->attempts >= r->o.max_attempts) return HONE_EFAIL;
    uint64_t delay =
        pushback_ns != UINT64_MAX ? pushback_ns : hone_backoff_next(&r->backoff, r->attempts);
    if (r->deadline) {
        uint64_t now = hone__fclock_now(r->o.clock);
        uint64_t start = hone__sat_add(hone__sat_add(now, delay), r->o.min_attempt_ns);
        if (start > r->deadline) return HONE_ETIMEDOUT;
    }
    if (hone_retry_budget_withdraw(r->o.budget) != HONE_OK) return HONE_EBUSY;
    if (delay_ns) *delay_ns = delay;
    return HONE_OK;
}

int hone_retry_run(const hone_retry_opts *opts, uint64_t deadline, hone_retry_fn fn, void *ctx) {
    if (!fn) return HONE_EINVAL;
    hone_retry r;
    hone_retry_begin(&r, opts, deadline);
    for (;;) {
        uint64_t timeout;
        int rc = hone_retry_attempt(&r, &timeout);
        if (rc) return rc;
        int retryable = 0;
        uint64_t pushback = UINT64_MAX;
        int st = fn(ctx, r.attempts, timeout, &retryable, &pushback);
        r.last_status = st;
        if (st == HONE_OK) return HONE_OK;
        uint64_t delay;
        rc = hone_retry_failed(&r, retryable, pushback, &delay);
        if (rc == HONE_EFAIL) return st;
        if (rc) return rc;
        if (delay) hone__fclock_sleep(r.o.clock, delay);
    }
}
