/* hone/flow.h - flow control for calls to other services: rate limiters
 * (GCRA, single and keyed), backoff, retry budgets, retries with one
 * deadline per logical call, a circuit breaker, an adaptive timeout and an
 * adaptive concurrency limit.
 *
 * Time: every time below is an integer number of nanoseconds on hone's
 * clock (hone_now_ns()) unless an injected hone_flow_clock says otherwise.
 * A "deadline" is an absolute time on that clock, 0 meaning none. Tests
 * inject a fake clock whose sleep advances its time, so that every policy
 * here is proved without sleeping.
 *
 * The design, its defaults and the measurements behind them are in
 * docs/design/flow.md; bench/flow measures the limiter and a retry storm.
 */
#ifndef HONE_FLOW_H
#define HONE_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include "hone/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An injectable clock: NULL (or a NULL member) means hone_now_ns() and
 * nanosleep(). now must be monotonic and, for objects shared by threads,
 * thread-safe. Objects made with _new copy the struct, so it need not
 * outlive the call; hone_retry_opts holds the pointer, which must stay
 * valid until the logical call ends. */
typedef struct hone_flow_clock {
    uint64_t (*now)(void *ctx);
    void (*sleep)(void *ctx, uint64_t ns);
    void *ctx;
} hone_flow_clock;

/* ------------------------------------------------------------------ */
/* Rate limiter                                                        */
/* ------------------------------------------------------------------ */

/* GCRA (the generic cell rate algorithm, as in ATM networks and redis-cell)
 * on one atomic 64-bit word: the theoretical arrival time (TAT) of the next
 * permit. A request of `cost` permits is admitted iff
 *     max(TAT, now) + cost*T - now <= burst*T        (T = 1 s / rate)
 * and then TAT becomes max(TAT, now) + cost*T with one compare-and-swap.
 * The word holds TAT in 1/64 ns units relative to the limiter's creation, so
 * a rate up to 1e9/s keeps its interval to within 1 % (exact for every rate
 * whose interval is a whole number of 1/64 ns, 10000/s for instance) and a
 * limiter works for 9 years after it is made. A refusal only loads the
 * word, so threads hammering a saturated limiter share its cache line
 * instead of bouncing it: bench/flow measures 2 threads on one limiter at
 * a fraction of a mutex token bucket's cost (docs/design/flow.md). */
typedef struct hone_limiter hone_limiter;

typedef struct hone_limiter_opts {
    /* Permits per second. 0 denies everything; INFINITY admits everything
     * (no limit); finite values are clamped to [1e-6, 1e9], so there is
     * never a division by zero. Negative or NaN is HONE_EINVAL. */
    double rate;
    /* Permits available at once after idle (the bucket's depth); 0 means
     * 1, so by default requests are spaced exactly 1/rate apart. */
    uint32_t burst;
    const hone_flow_clock *clock; /* NULL: hone_now_ns() and nanosleep() */
    const hone_allocator *alloc;  /* NULL: the default allocator */
} hone_limiter_opts;

/* Makes a limiter whose bucket is full (burst permits available at once).
 * Returns HONE_OK; HONE_EINVAL (out or opts NULL, rate negative or NaN);
 * HONE_ENOMEM. On failure *out is NULL and nothing leaks. */
HONE_API int hone_limiter_new(hone_limiter **out, const hone_limiter_opts *opts);
/* Frees the limiter; NULL does nothing. No call may be running on it. */
HONE_API void hone_limiter_free(hone_limiter *l);

/* Non-blocking: HONE_OK admitted; HONE_EBUSY refused with *wait_ns (if not
 * NULL) the time until `cost` would be admitted if nobody else takes
 * permits meanwhile (UINT64_MAX: never, because the rate is 0 or cost >
 * burst). On HONE_OK *wait_ns is set to 0. The refusal path writes nothing
 * (no store, no CAS). cost 0 counts as 1. Lock-free; thread-safe: with any
 * number of threads the admitted total is exactly what one thread would
 * get with the same calls in some order. */
HONE_API int hone_limiter_acquire(hone_limiter *l, uint32_t cost, uint64_t *wait_ns);

/* Blocking: sleeps (with the clock's sleep) until admitted, taking the
 * permits. Returns HONE_OK; HONE_ETIMEDOUT, at once and without sleeping,
 * when the wait is already known to end after `deadline` (0 = no
 * deadline), including every never-admissible request with a deadline;
 * HONE_EBUSY at once when the request can never be admitted (rate 0 or
 * cost > burst) and there is no deadline, rather than sleeping forever.
 * Other threads may take the permits while this one sleeps; it then waits
 * again, still bounded by the deadline. Thread-safe. */
HONE_API int hone_limiter_acquire_until(hone_limiter *l, uint32_t cost, uint64_t deadline);

/* What hone_limiter_acquire would say now (same status and *wait_ns),
 * without taking anything. Thread-safe. */
HONE_API int hone_limiter_peek(const hone_limiter *l, uint32_t cost, uint64_t *wait_ns);

/* ------------------------------------------------------------------ */
/* Keyed limiters                                                      */
/* ------------------------------------------------------------------ */

/* One GCRA limiter per key (a client address, a host name), with memory
 * bounded by max_keys. Keys are hashed with XXH3 under a seed drawn from
 * getrandom() for each map, so keys chosen by an attacker cannot be aimed
 * at one hash chain. The map is split into up to 16 shards, each with its
 * own mutex and a share of max_keys (the shares sum to max_keys).
 *
 * A key whose TAT is in the past has a full bucket: it behaves exactly as a
 * key never seen, so dropping it loses nothing. When a shard is full, a new
 * key first drops every such idle key of that shard; only if none is idle
 * does it evict the key whose TAT is oldest (the one closest to a full
 * bucket). That eviction forgets that key's debt: if it comes back it gets
 * a full burst again, so under more than max_keys active keys a key can be
 * over-admitted by at most `burst` permits per eviction. */
typedef struct hone_limiter_map hone_limiter_map;

typedef struct hone_limiter_map_opts {
    double rate;     /* as hone_limiter_opts.rate, for every key */
    uint32_t burst;  /* as hone_limiter_opts.burst, for every key */
    size_t max_keys; /* keys held at most; 0: 10000 */
    const hone_flow_clock *clock;
    const hone_allocator *alloc;
} hone_limiter_map_opts;

/* Makes an empty map. Returns HONE_OK; HONE_EINVAL (out or opts NULL, rate
 * negative or NaN); HONE_ENOMEM. On failure *out is NULL and nothing
 * leaks. Its fixed memory is one pointer per key of max_keys (rounded up to
 * a power of two per shard); each key held adds one allocation of about 40
 * bytes plus the key. */
HONE_API int hone_limiter_map_new(hone_limiter_map **out, const hone_limiter_map_opts *opts);
/* Frees the map and every key; NULL does nothing. */
HONE_API void hone_limiter_map_free(hone_limiter_map *m);

/* As hone_limiter_acquire, on the limiter of `key` (len bytes, copied when
 * the key is new). A refused new key is not stored. Returns HONE_OK,
 * HONE_EBUSY (with *wait_ns as hone_limiter_acquire), HONE_EINVAL (m NULL,
 * or key NULL with len > 0), or HONE_ENOMEM when a new key could not be
 * stored (nothing is admitted then). Thread-safe; calls on keys of
 * different shards do not contend. */
HONE_API int hone_limiter_map_acquire(hone_limiter_map *m, const void *key, size_t len,
                                      uint32_t cost, uint64_t *wait_ns);

/* The number of keys held now (at most max_keys). Thread-safe; with
 * concurrent acquires the count is a snapshot of each shard in turn. */
HONE_API size_t hone_limiter_map_size(hone_limiter_map *m);

/* Drops every idle key (bucket full again) now and returns how many were
 * dropped, to give memory back between bursts of new keys; acquire does
 * the same shard by shard when a shard is full. Thread-safe. */
HONE_API size_t hone_limiter_map_expire(hone_limiter_map *m);

/* ------------------------------------------------------------------ */
/* Backoff                                                             */
/* ------------------------------------------------------------------ */

/* Jitter kinds, after Marc Brooker's "Exponential Backoff And Jitter" (AWS
 * Architecture Blog, 2015): full jitter spreads retries of clients that
 * failed together most evenly and does the least total work;
 * decorrelated jitter grows from the previous delay instead of the attempt
 * number. Append-only. */
typedef enum hone_jitter {
    HONE_JITTER_FULL = 0,
    HONE_JITTER_DECORRELATED = 1,
    HONE_JITTER_NONE = 2
} hone_jitter;

typedef struct hone_backoff_opts {
    uint64_t base_ns; /* 0: 100 ms */
    uint64_t cap_ns;  /* 0: 10 s; no delay is ever longer */
    hone_jitter jitter;
} hone_backoff_opts;

/* Backoff state, on the caller's stack or in a struct. Not thread-safe: one
 * per logical call. */
typedef struct hone_backoff {
    hone_backoff_opts o;
    uint64_t prev_ns;
    uint64_t rng;
} hone_backoff;

/* Initialises b with opts (NULL: defaults) and a jitter generator seeded
 * with seed (0: from getrandom(); a fixed seed gives a reproducible
 * sequence). Cannot fail. */
HONE_API void hone_backoff_init(hone_backoff *b, const hone_backoff_opts *opts, uint64_t seed);

/* Delay before retry number `retry` (1 = first retry; 0 counts as 1):
 *   full jitter:         uniform [0, min(cap, base*2^(retry-1))]
 *   decorrelated jitter: min(cap, uniform [base, prev*3]), prev starting at
 *                        base (reset when retry is 1)
 *   none:                min(cap, base*2^(retry-1))
 * Integer arithmetic that saturates: never overflows, at retry 1000 or
 * with a cap of UINT64_MAX. Cannot fail. */
HONE_API uint64_t hone_backoff_next(hone_backoff *b, unsigned retry);

/* ------------------------------------------------------------------ */
/* Retry budget                                                        */
/* ------------------------------------------------------------------ */

/* A retry budget per upstream, as Envoy's retry budget and Finagle's
 * RetryBudget: retries are allowed while, over the sliding window,
 *     retries + 1 <= max(ratio * requests, min_per_sec * window seconds)
 * where requests counts logical requests (hone_retry_budget_request) and
 * retries counts successful withdrawals. Like Envoy (and unlike Finagle,
 * whose reserve adds to the percentage) the floor is a maximum, not a sum:
 * it lets a quiet client retry, and adds nothing to the retries a busy one
 * may send, so under overload the load sent stays within (1 + ratio) of
 * the load offered. The window is 10 buckets of window/10 each; a bucket
 * leaves the window whole. */
typedef struct hone_retry_budget hone_retry_budget;

typedef struct hone_retry_budget_opts {
    /* Retries per request over the window; 0: 0.1, gRPC's retry throttling
     * token ratio. Under overload the load sent is at most 1.1x the load
     * offered (bench/flow's storm: 1.10x; Envoy's 20 % gives 1.20x), and an
     * upstream failing fewer than one request in ten transiently still has
     * every failure retried. */
    double ratio;
    uint32_t min_per_sec; /* retries always allowed at this rate; 0: 10 (Finagle's) */
    uint64_t window_ns;   /* 0: 10 s (Finagle's TTL) */
    const hone_flow_clock *clock;
    const hone_allocator *alloc;
} hone_retry_budget_opts;

/* Makes a budget with an empty window. Returns HONE_OK; HONE_EINVAL (out or
 * opts NULL, ratio negative or NaN); HONE_ENOMEM. On failure *out is NULL
 * and nothing leaks. */
HONE_API int hone_retry_budget_new(hone_retry_budget **out, const hone_retry_budget_opts *opts);
/* Frees the budget; NULL does nothing. */
HONE_API void hone_retry_budget_free(hone_retry_budget *b);
/* Counts one logical request started. NULL does nothing. Thread-safe (a
 * mutex held for a few nanoseconds). */
HONE_API void hone_retry_budget_request(hone_retry_budget *b);
/* Takes one retry from the budget: HONE_OK may retry (and the retry is
 * counted); HONE_EBUSY spent (nothing counted), so the caller fails fast
 * instead of adding load to an upstream that is already failing. NULL b
 * returns HONE_OK (no budget). Thread-safe. */
HONE_API int hone_retry_budget_withdraw(hone_retry_budget *b);

/* ------------------------------------------------------------------ */
/* Retries with one deadline per logical call                          */
/* ------------------------------------------------------------------ */

typedef struct hone_retry_opts {
    /* Attempts in all (1 means never retry). 0: flow.retry_attempts
     * (HONE_RETRY_ATTEMPTS; 3 at level moderate), see hone-optimize(1). */
    unsigned max_attempts;
    /* zero: full jitter, 100 ms base, and a cap of flow.retry_max_backoff
     * (HONE_RETRY_MAX_BACKOFF; 10 s at level moderate). */
    hone_backoff_opts backoff;
    uint64_t attempt_timeout_ns; /* each attempt's own timeout; 0: none (only the deadline) */
    uint64_t min_attempt_ns;     /* never start an attempt with less than this left; 0: 1 ms */
    hone_retry_budget *budget;   /* NULL: none; borrowed, must outlive the call */
    const hone_flow_clock *clock;
    uint64_t seed; /* for the jitter; 0: from the OS */
} hone_retry_opts;

/* One logical call's retry state, on the caller's stack; fields readable.
 * Not thread-safe: one per logical call (the budget it uses is shared). */
typedef struct hone_retry {
    hone_retry_opts o; /* with defaults applied */
    hone_backoff backoff;
    uint64_t deadline;    /* absolute; 0 none */
    unsigned attempts;    /* attempts started (hone_retry_attempt returned HONE_OK) */
    int last_status;      /* hone_retry_run: the last attempt's status */
} hone_retry;

/* Starts a logical call: applies the defaults of opts (NULL: all
 * defaults), seeds the backoff, and counts one request in the budget.
 * deadline: absolute, 0 none. Cannot fail. */
HONE_API void hone_retry_begin(hone_retry *r, const hone_retry_opts *opts, uint64_t deadline);

/* Before each attempt: HONE_OK with *timeout_ns = min(attempt timeout, time
 * left before the deadline), 0 meaning unbounded (no attempt timeout and no
 * deadline), and the attempt counted; HONE_ETIMEDOUT when less than
 * min_attempt_ns is left, so an attempt that cannot finish is never
 * started. */
HONE_API int hone_retry_attempt(hone_retry *r, uint64_t *timeout_ns);

/* After a failed attempt, decides whether to retry, in this order:
 * HONE_EFAIL when retryable is 0 (the caller's verdict that retrying is
 * safe, e.g. an idempotent request, and useful, e.g. not a 4xx) or
 * max_attempts attempts were made; then the delay is pushback_ns (the
 * server's Retry-After on 429 or 503; UINT64_MAX: none), which replaces the
 * computed backoff, or else the backoff for this retry; HONE_ETIMEDOUT when
 * now + delay + min_attempt_ns would pass the deadline (a pushback beyond
 * the deadline stops the call rather than being shortened: the server
 * asked not to be called before then); HONE_EBUSY when the budget is spent.
 * HONE_OK with *delay_ns to wait before the next hone_retry_attempt. The
 * budget is only charged when HONE_OK is returned. */
HONE_API int hone_retry_failed(hone_retry *r, int retryable, uint64_t pushback_ns,
                               uint64_t *delay_ns);

/* One attempt for hone_retry_run: returns HONE_OK on success or a failure
 * status, setting *retryable (0 on entry) and *pushback_ns (UINT64_MAX on
 * entry) for failures. attempt is 1-based; timeout_ns as hone_retry_attempt
 * gives it. */
typedef int (*hone_retry_fn)(void *ctx, unsigned attempt, uint64_t timeout_ns, int *retryable,
                             uint64_t *pushback_ns);

/* Convenience: runs fn under the policy, sleeping between attempts with the
 * clock's sleep. Returns HONE_OK when an attempt succeeded; the last
 * attempt's status when it was not retryable or attempts ran out; or the
 * status that stopped retrying (HONE_ETIMEDOUT, HONE_EBUSY), including
 * HONE_ETIMEDOUT before the first attempt when the deadline is too close.
 * HONE_EINVAL when fn is NULL. Thread-safe if fn is. */
HONE_API int hone_retry_run(const hone_retry_opts *opts, uint64_t deadline, hone_retry_fn fn,
                            void *ctx);

/* ------------------------------------------------------------------ */
/* Circuit breaker                                                     */
/* ------------------------------------------------------------------ */

/* Closed / open / half-open, as resilience4j's CircuitBreaker: while
 * closed, calls are counted in a sliding time window of 10 buckets; once
 * the window holds at least min_calls calls and the failure rate or the
 * slow-call rate reaches its threshold, the breaker opens and refuses calls
 * for open_ns; then it goes half-open and admits up to half_open_probes
 * concurrent probes: any probe failing (or slow, when slow_ns is set)
 * opens it again, all of them succeeding closes it with an empty window.
 * Append-only. */
typedef enum hone_breaker_state {
    HONE_BREAKER_CLOSED = 0,
    HONE_BREAKER_OPEN = 1,
    HONE_BREAKER_HALF_OPEN = 2
} hone_breaker_state;

typedef struct hone_breaker_opts {
    uint64_t window_ns;        /* sliding window; 0: 10 s (in 10 buckets) */
    uint32_t min_calls;        /* no verdict on fewer calls in the window; 0: 20 */
    double failure_rate;       /* open at or above; 0: 0.5 */
    uint64_t slow_ns;          /* a call slower than this is slow; 0: slow calls not counted */
    double slow_rate;          /* open at or above; 0: 1.0 */
    uint64_t open_ns;          /* stay open this long, then half-open; 0: 5 s */
    uint32_t half_open_probes; /* probes admitted while half-open; all must succeed to close; 0: 3 */
    const hone_flow_clock *clock;
    const hone_allocator *alloc;
} hone_breaker_opts;

typedef struct hone_breaker hone_breaker;

/* Totals since the breaker was made (not the window): calls recorded,
 * of which failures and slow calls; calls refused by allow; times it
 * opened. */
typedef struct hone_breaker_stats {
    hone_breaker_state state;
    uint64_t calls, failures, slow, rejected, opened;
} hone_breaker_stats;

/* Makes a closed breaker. Returns HONE_OK; HONE_EINVAL (out or opts NULL, a
 * rate outside [0, 1] or NaN); HONE_ENOMEM. On failure *out is NULL and
 * nothing leaks. */
HONE_API int hone_breaker_new(hone_breaker **out, const hone_breaker_opts *opts);
/* Frees the breaker; NULL does nothing. */
HONE_API void hone_breaker_free(hone_breaker *b);

/* HONE_OK: the call may go (and must be followed by exactly one
 * hone_breaker_record); HONE_EBUSY: open, or half-open with every probe in
 * flight; *retry_in_ns (if not NULL) says when to ask again: the rest of
 * the open period, or open_ns/10 while probes are in flight (a hint: the
 * probes decide). Thread-safe: one mutex per breaker, held for a few
 * nanoseconds (a breaker guards calls that take milliseconds). */
HONE_API int hone_breaker_allow(hone_breaker *b, uint64_t *retry_in_ns);

/* Records the outcome of an allowed call: ok nonzero for success, and its
 * latency (slow when above slow_ns). While half-open, records are taken as
 * the probes' outcomes, one per probe out; a record that arrives while
 * open, or while half-open with no probe out (a call allowed before the
 * breaker opened), is counted in the stats and decides nothing. The record
 * carries no token, so a straggler that ends while a probe is out is taken
 * for that probe: the price of a call-free API, and the same verdict the
 * probe would likely give. Thread-safe. */
HONE_API void hone_breaker_record(hone_breaker *b, int ok, uint64_t latency_ns);

/* The state now (an open breaker whose open period has passed is reported,
 * and becomes, half-open). Thread-safe. */
HONE_API hone_breaker_state hone_breaker_get_state(hone_breaker *b);
/* Fills *out with the state and totals. Thread-safe. */
HONE_API void hone_breaker_stats_get(hone_breaker *b, hone_breaker_stats *out);
/* "closed", "open", "half-open"; "unknown" for other values. Static. */
HONE_API const char *hone_breaker_state_name(hone_breaker_state s);

/* ------------------------------------------------------------------ */
/* Adaptive timeout                                                    */
/* ------------------------------------------------------------------ */

/* A per-call timeout from the latency of recent successes: the given
 * percentile of the last `window` successes times `factor`, clamped to
 * [min_ns, max_ns]. Failures are not recorded: a timed-out call's latency
 * is the timeout itself and would ratchet it upward. The percentile is
 * cached and recomputed (a selection over the window, linear in its
 * size) at most once every recompute_every records, so a get per call
 * usually costs a lock and a load. */
typedef struct hone_atimeout hone_atimeout;

typedef struct hone_atimeout_opts {
    double percentile;    /* 0: 99 (nearest rank; (0, 100]) */
    double factor;        /* 0: 2.0 */
    uint64_t min_ns;      /* 0: 10 ms */
    uint64_t max_ns;      /* 0: 30 s; also the timeout until min_samples successes were seen */
    uint32_t min_samples; /* 0: 20 */
    uint32_t window;      /* recent successes kept; 0: 1000 */
    const hone_allocator *alloc;
    uint32_t recompute_every; /* records between recomputations; 0: window/50, at least 1 */
} hone_atimeout_opts;

/* Makes an empty tracker. Returns HONE_OK; HONE_EINVAL (out or opts NULL,
 * percentile outside (0, 100], factor negative or NaN, min_ns > max_ns);
 * HONE_ENOMEM. On failure *out is NULL and nothing leaks. */
HONE_API int hone_atimeout_new(hone_atimeout **out, const hone_atimeout_opts *opts);
/* Frees the tracker; NULL does nothing. */
HONE_API void hone_atimeout_free(hone_atimeout *t);
/* Records a success's latency. Thread-safe. */
HONE_API void hone_atimeout_record(hone_atimeout *t, uint64_t latency_ns);
/* The timeout to use now: max_ns until min_samples successes were
 * recorded, then clamp(percentile * factor, min_ns, max_ns). Thread-safe. */
HONE_API uint64_t hone_atimeout_get(hone_atimeout *t);

/* ------------------------------------------------------------------ */
/* Adaptive concurrency limit                                          */
/* ------------------------------------------------------------------ */

/* A concurrency limit that finds itself, as Netflix concurrency-limits'
 * Gradient2Limit: a short-term (10-sample) and a long-term (600-sample)
 * exponential average of the round-trip time; their ratio is the gradient
 *     gradient = clamp(1.5 * long / short, 0.5, 1)
 * (1.5: queueing up to 50 % above the long-term RTT is tolerated) and
 *     new = limit * gradient + 4            (4: the queue allowed to form)
 *     limit = 0.8 * limit + 0.2 * new       (smoothing), within [min, max].
 * While latency holds, the limit grows by about 0.8 per sample; when the
 * short-term RTT rises the limit shrinks. A limit is not grown while fewer
 * than half of it are in flight (the caller, not the server, is the
 * bottleneck). A dropped call (timed out, or refused as overloaded) cuts
 * the limit by 10 % at once, as AIMD's multiplicative decrease, since its
 * latency says nothing. When the long-term RTT exceeds twice the
 * short-term one it decays by 5 % per sample, so a recovered server is
 * believed quickly. */
typedef struct hone_conclimit hone_conclimit;

typedef struct hone_conclimit_opts {
    uint32_t initial, min, max; /* 0: 20, 1, 1000; initial is clamped to [min, max] */
    /* Not read by the estimator, which takes each latency from the caller;
     * accepted so every flow object is made the same way. */
    const hone_flow_clock *clock;
    const hone_allocator *alloc;
} hone_conclimit_opts;

/* Makes a limiter. Returns HONE_OK; HONE_EINVAL (out or opts NULL, min >
 * max); HONE_ENOMEM. On failure *out is NULL and nothing leaks. */
HONE_API int hone_conclimit_new(hone_conclimit **out, const hone_conclimit_opts *opts);
/* Frees it; NULL does nothing. */
HONE_API void hone_conclimit_free(hone_conclimit *l);
/* Takes a slot: HONE_OK (then call hone_conclimit_release exactly once) or
 * HONE_EBUSY when the calls in flight already reach the limit. Lock-free
 * (one CAS); thread-safe. */
HONE_API int hone_conclimit_acquire(hone_conclimit *l);
/* Returns a slot with the call's latency; dropped nonzero when the call
 * timed out or was refused as overloaded. Updates the limit. Thread-safe
 * (a mutex around the estimator). */
HONE_API void hone_conclimit_release(hone_conclimit *l, uint64_t latency_ns, int dropped);
/* The current limit. Thread-safe. */
HONE_API uint32_t hone_conclimit_limit(hone_conclimit *l);
/* Calls in flight now. Thread-safe. */
HONE_API uint32_t hone_conclimit_inflight(hone_conclimit *l);

#ifdef __cplusplus
}
#endif
#endif /* HONE_FLOW_H */
