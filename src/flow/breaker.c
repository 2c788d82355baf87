/* breaker.c - the circuit breaker: closed, open and half-open on the
 * failure rate and slow-call rate of a sliding window of ten buckets. */
#include "flow_internal.h"

#include <pthread.h>

#define BREAKER_BUCKETS 10

typedef struct breaker_bucket {
    uint64_t slot; /* UINT64_MAX: none yet */
    uint64_t calls, failures, slow;
} breaker_bucket;

struct hone_breaker {
    pthread_mutex_t mu;
    hone_breaker_opts o; /* with defaults applied */
    uint64_t bucket_ns;
    hone__clock clock;
    hone_breaker_state state;
    uint64_t opened_at;
    uint32_t probes_out; /* probes admitted and not yet recorded */
    uint32_t probes_ok;
    breaker_bucket b[BREAKER_BUCKETS];
    hone_breaker_stats st;
};

static int bad_rate(double r) { return isnan(r) || r < 0 || r > 1; }

int hone_breaker_new(hone_breaker **out, const hone_breaker_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    if (!opts || bad_rate(opts->failure_rate) || bad_rate(opts->slow_rate)) return HONE_EINVAL;
    hone_breaker *b = hone_calloc(opts->alloc, 1, sizeof *b);
    if (!b) return HONE_ENOMEM;
    b->o = *opts;
    if (!b->o.window_ns) b->o.window_ns = UINT64_C(10000000000);
    if (!b->o.min_calls) b->o.min_calls = 20;
    if (b->o.failure_rate == 0) b->o.failure_rate = 0.5;
    if (b->o.slow_rate == 0) b->o.slow_rate = 1.0;
    if (!b->o.open_ns) b->o.open_ns = UINT64_C(5000000000);
    if (!b->o.half_open_probes) b->o.half_open_probes = 3;
    b->o.clock = NULL; /* copied below; the caller's struct need not live on */
    b->bucket_ns = b->o.window_ns / BREAKER_BUCKETS ? b->o.window_ns / BREAKER_BUCKETS : 1;
    hone__clock_copy(&b->clock, opts->clock);
    for (int i = 0; i < BREAKER_BUCKETS; i++) b->b[i].slot = UINT64_MAX;
    b->state = HONE_BREAKER_CLOSED;
    pthread_mutex_init(&b->mu, NULL);
    *out = b;
    return HONE_OK;
}

void hone_breaker_free(hone_breaker *b) {
    if (!b) return;
    pthread_mutex_destroy(&b->mu);
    hone_free(b->o.alloc, b);
}

static void window_reset(hone_breaker *b) {
    for (int i = 0; i < BREAKER_BUCKETS; i++) b->b[i].slot = UINT64_MAX;
}

static void trip(hone_breaker *b, uint64_t now) {
    b->state = HONE_BREAKER_OPEN;
    b->opened_at = now;
    b->probes_out = b->probes_ok = 0;
    b->st.opened++;
}

/* Open -> half-open once open_ns has passed. Mutex held. */
static void tick(hone_breaker *b, uint64_t now) {
    if (b->state == HONE_BREAKER_OPEN && now >= b->opened_at && now - b->opened_at >= b->o.open_ns) {
        b->state = HONE_BREAKER_HALF_OPEN;
        b->probes_out = b->probes_ok = 0;
    }
}

int hone_breaker_allow(hone_breaker *b, uint64_t *retry_in_ns) {
    uint64_t now = hone__clock_now(&b->clock);
    uint64_t retry_in = 0;
    int rc = HONE_OK;
    pthread_mutex_lock(&b->mu);
    tick(b, now);
    if (b->state == HONE_BREAKER_OPEN) {
        retry_in = now >= b->opened_at ? b->o.open_ns - (now - b->opened_at) : b->o.open_ns;
        rc = HONE_EBUSY;
    } else if (b->state == HONE_BREAKER_HALF_OPEN) {
        if (b->probes_out + b->probes_ok < b->o.half_open_probes) {
            b->probes_out++;
        } else {
            retry_in = b->o.open_ns / 10;
            rc = HONE_EBUSY;
        }
    }
    if (rc) b->st.rejected++;
    pthread_mutex_unlock(&b->mu);
    if (retry_in_ns) *retry_in_ns = retry_in;
    return rc;
}

void hone_breaker_record(hone_breaker *b, int ok, uint64_t latency_ns) {
    uint64_t now = hone__clock_now(&b->clock);
    int slow = b->o.slow_ns && latency_ns > b->o.slow_ns;
    pthread_mutex_lock(&b->mu);
    b->st.calls++;
    b->st.failures += !ok;
    b->st.slow += slow;
    tick(b, now);
    if (b->state == HONE_BREAKER_HALF_OPEN) {
        /* With no probe out, this is a call allowed before the breaker
         * opened: its outcome is old news and decides nothing. */
        if (!b->probes_out) goto out;
        b->probes_out--;
        if (!ok || slow) {
            trip(b, now);
        } else if (++b->probes_ok >= b->o.half_open_probes) {
            b->state = HONE_BREAKER_CLOSED;
            window_reset(b);
        }
    } else if (b->state == HONE_BREAKER_CLOSED) {
        uint64_t slot = now / b->bucket_ns;
        breaker_bucket *k = &b->b[slot % BREAKER_BUCKETS];
        if (k->slot != slot) *k = (breaker_bucket){.slot = slot};
        k->calls++;
        k->failures += !ok;
        k->slow += slow;
        uint64_t calls = 0, failures = 0, slows = 0;
        for (int i = 0; i < BREAKER_BUCKETS; i++) {
            if (b->b[i].slot == UINT64_MAX || b->b[i].slot + BREAKER_BUCKETS <= slot) continue;
            calls += b->b[i].calls;
            failures += b->b[i].failures;
            slows += b->b[i].slow;
        }
        if (calls >= b->o.min_calls &&
            ((double)failures >= b->o.failure_rate * (double)calls ||
             (b->o.slow_ns && (double)slows >= b->o.slow_rate * (double)calls)))
            trip(b, now);
    }
out:
    pthread_mutex_unlock(&b->mu);
}

hone_breaker_state hone_breaker_get_state(hone_breaker *b) {
    uint64_t now = hone__clock_now(&b->clock);
    pthread_mutex_lock(&b->mu);
    tick(b, now);
    hone_breaker_state s = b->state;
    pthread_mutex_unlock(&b->mu);
    return s;
}

void hone_breaker_stats_get(hone_breaker *b, hone_breaker_stats *out) {
    uint64_t now = hone__clock_now(&b->clock);
    pthread_mutex_lock(&b->mu);
    tick(b, now);
    *out = b->st;
    out->state = b->state;
    pthread_mutex_unlock(&b->mu);
}

const char *hone_breaker_state_name(hone_breaker_state s) {
    switch (s) {
    case HONE_BREAKER_CLOSED: return "closed";
    case HONE_BREAKER_OPEN: return "open";
    case HONE_BREAKER_HALF_OPEN: return "half-open";
    }
    return "unknown";
}
