/* rules.c - recommendations: rules over a report. Each rule reads a few
 * figures of one component, says NO_DATA below the amount of data it needs
 * (naming what it had and what it needs), QUIET when the figures are
 * healthy, and otherwise FIRED with evidence quoting the numbers, their
 * counts and the window, the expected effect, an action on a setting of
 * core's table (its current value read there), a confidence from the
 * sample size and a severity from the fixed scale.
 *
 * Thresholds (also in hone_opt_rules() and hone-optimize(1)):
 *   cache.undersized      >= 1,000 lookups; hit rate < 80 %, capacity
 *                         evictions >= 10 % of misses, peak utilization
 *                         >= 95 %: propose cache.size x2 (high below 50 %
 *                         hit rate, else medium).
 *   cache.oversized       >= 1,000 lookups; hit rate >= 95 %, peak
 *                         utilization < 50 %, no capacity eviction, a byte
 *                         capacity: propose 2 x peak bytes (>= 64K), low.
 *   cache.ttl_short       >= 100 misses; expirations >= 30 % of misses:
 *                         propose cache.ttl x4 (medium from 50 %, else low).
 *   batcher.timeout_bound >= 20 batches; timeout flushes >= 80 % of
 *                         batches and mean batch < 50 % of batch_size:
 *                         propose batch.max_wait / 2 (>= 1 ms), medium.
 *   batcher.backpressure  >= 100 adds; rejected >= 0.1 % of adds: propose
 *                         batch.size x2 (critical from 1 %, else high).
 *   http.retries          >= 100 attempts; retries >= 10 % of attempts
 *                         (high from 30 %, else medium); when timeouts are
 *                         most failed attempts, propose http.timeout x2.
 *   http.rate_limited     >= 100 attempts; limiter waits >= 20 % of
 *                         attempts: propose flow.rate_limit x2 when one is
 *                         set (medium when the total wait is >= 10 % of the
 *                         window, else low).
 *   zone.tail             >= 1,000 calls; p99 >= 10 x p50: diagnostic (low
 *                         from 50 x, else info), no action.
 *   process.cpu_underused a window >= 1 s and >= 10 zone calls; the
 *                         busiest zone's time >= 50 % of the window and CPU
 *                         < 25 % of max_workers x 100: medium, no action
 *                         (work is waiting, not computing).
 *   process.memory_growth a window >= 1 s and a starting rss; rss grew
 *                         >= 50 % and >= 16 MiB: high from 100 %, else
 *                         medium.
 *
 * Confidence: for a rule testing a proportion p^ of n samples against a
 * threshold t, Phi(|p^ - t| / se) with se the standard error at Wilson's
 * centre (so the figure is reliable near 0 and 1): 0.5 at the threshold,
 * near 1 with many samples or a wide margin. Rules over time (process)
 * scale with the window: min(1, seconds / 60). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hone/opt.h"

/* Thresholds. */
#define UNDERSIZED_MIN_LOOKUPS 1000
#define UNDERSIZED_HIT_BELOW 0.80
#define UNDERSIZED_EVICT_SHARE 0.10
#define UNDERSIZED_PEAK_UTIL 95.0
#define UNDERSIZED_HIGH_BELOW 0.50
#define OVERSIZED_MIN_LOOKUPS 1000
#define OVERSIZED_HIT_ABOVE 0.95
#define OVERSIZED_PEAK_BELOW 50.0
#define OVERSIZED_FLOOR (64u * 1024u)
#define TTL_MIN_MISSES 100
#define TTL_EXPIRED_SHARE 0.30
#define TTL_MEDIUM_SHARE 0.50
#define TTL_FACTOR 4
#define TIMEOUT_MIN_BATCHES 20
#define TIMEOUT_SHARE 0.80
#define TIMEOUT_FILL_BELOW 0.50
#define TIMEOUT_FLOOR_NS 1000000ull
#define BACKPRESSURE_MIN_ADDS 100
#define BACKPRESSURE_SHARE 0.001
#define BACKPRESSURE_CRITICAL 0.01
#define RETRY_MIN_ATTEMPTS 100
#define RETRY_SHARE 0.10
#define RETRY_HIGH 0.30
#define RATE_MIN_ATTEMPTS 100
#define RATE_WAIT_SHARE 0.20
#define RATE_WAIT_TIME_MEDIUM 0.10
#define TAIL_MIN_CALLS 1000
#define TAIL_RATIO 10.0
#define TAIL_LOW_RATIO 50.0
#define CPU_MIN_SECONDS 1.0
#define CPU_MIN_CALLS 10
#define CPU_BUSY_SHARE 0.50
#define CPU_USED_BELOW 0.25
#define MEM_MIN_SECONDS 1.0
#define MEM_GROWTH 0.50
#define MEM_GROWTH_MIN_BYTES (16ull << 20)
#define MEM_HIGH 1.00

static const hone_opt_rule_info rules[] = {
    {"cache.undersized",
     "per cache: hits, misses, capacity evictions, peak utilization over the window",
     "a hit rate below 80 % while the cache is full (peak utilization >= 95 %) and capacity "
     "evictions are at least 10 % of misses means entries are pushed out before they are asked "
     "again: a larger cache.size (doubled) turns part of those misses into hits",
     "1,000 lookups (hits + misses) in the window"},
    {"cache.oversized",
     "per cache: hits, misses, capacity evictions, peak utilization, byte capacity",
     "a hit rate of 95 % or more with no capacity eviction while at most half of the capacity was "
     "ever used means the bound is far above the working set: shrinking cache.size to about twice "
     "the peak use frees that headroom without losing hits",
     "1,000 lookups in the window"},
    {"cache.ttl_short", "per cache: misses, entries removed by their ttl, the cache's cache.ttl",
     "when expirations are 30 % of misses or more, entries are dropped while still wanted: a "
     "longer cache.ttl (x4) keeps them, if the data may be that old",
     "100 misses in the window"},
    {"batcher.timeout_bound",
     "per batcher: batches, flushes by timeout, mean batch, batch_size, added latency p99, "
     "max_wait",
     "when 80 % of flushes or more happen because the oldest item waited max_wait while batches "
     "stay under half of batch_size, the wait buys no throughput and costs latency: halving "
     "batch.max_wait (not below 1 ms) removes about half of it",
     "20 batches in the window"},
    {"batcher.backpressure", "per batcher: items, rejected adds",
     "adds refused with HONE_EBUSY (0.1 % or more of adds) are work lost or retried by the caller: "
     "bigger batches (batch.size x2) drain the queue faster",
     "100 adds (items + rejected) in the window"},
    {"http.retries", "per HTTP client: attempts, retries, 5xx, errors, timeouts",
     "when 10 % of attempts or more are retries the server or the network is failing calls; when "
     "timeouts are most failed attempts, a longer http.timeout (x2) lets them finish",
     "100 attempts in the window"},
    {"http.rate_limited",
     "per HTTP client: attempts, attempts that waited for the limiter, total limiter wait",
     "when 20 % of attempts or more wait for a rate-limit permit the limiter sets the pace: "
     "flow.rate_limit x2, if the server allows it, removes that wait",
     "100 attempts in the window"},
    {"zone.tail", "per zone: calls, p50, p99",
     "a p99 ten times the median or more means a few calls take far longer than most (locks, I/O, "
     "cold caches): worth a look, nothing to set",
     "1,000 calls in the window (10 calls in the slowest 1 %)"},
    {"process.cpu_underused", "process CPU percent, max_workers, the busiest zone's time, window",
     "when zones run for half of the window or more but the process uses under 25 % of "
     "max_workers CPUs, the work is waiting (I/O, locks, timers), not computing: more threads or "
     "bigger batches will not help, less waiting will",
     "a window of 1 s and 10 zone calls, with process figures"},
    {"process.memory_growth", "process rss at the window's start and end",
     "rss growing by 50 % or more (and 16 MiB or more) within one window is a leak or an unbounded "
     "structure (a cache without a limit, a queue) unless the program is still warming up",
     "a window of 1 s with process figures"},
};

const hone_opt_rule_info *hone_opt_rules(size_t *n) {
    if (n) *n = sizeof rules / sizeof rules[0];
    return rules;
}

const char *hone_opt_severity_name(int s) {
    static const char *const names[] = {"info", "low", "medium", "high", "critical"};
    return s >= 0 && s <= HONE_OPT_CRITICAL ? names[s] : "unknown";
}

const char *hone_opt_verdict_name(int v) {
    switch (v) {
    case HONE_OPT_QUIET: return "quiet";
    case HONE_OPT_FIRED: return "fired";
    case HONE_OPT_NO_DATA: return "not enough data";
    default: return "unknown";
    }
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* "4,100". */
static const char *grp(char *buf, size_t n, uint64_t v) {
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < len && o + 1 < n; i++) {
        buf[o++] = tmp[i];
        int left = len - i - 1;
        if (left > 0 && left % 3 == 0 && o + 1 < n) buf[o++] = ',';
    }
    buf[o] = '\0';
    return buf;
}

/* "10 min", "30.0 s", "2.0 h". */
static const char *window(char *buf, size_t n, const hone_opt_report *r) {
    double s = (double)(r->end_ns - r->start_ns) / 1e9;
    if (s >= 7200) snprintf(buf, n, "%.1f h", s / 3600);
    else if (s >= 120 && fmod(s, 60) < 0.5) snprintf(buf, n, "%.0f min", s / 60);
    else if (s >= 120) snprintf(buf, n, "%.1f min", s / 60);
    else snprintf(buf, n, "%.1f s", s);
    return buf;
}

static const char *dur(char *buf, size_t n, double ns) {
    if (ns >= 1e9) snprintf(buf, n, "%.2f s", ns / 1e9);
    else if (ns >= 1e6) snprintf(buf, n, "%.2f ms", ns / 1e6);
    else if (ns >= 1e3) snprintf(buf, n, "%.1f us", ns / 1e3);
    else snprintf(buf, n, "%.0f ns", ns);
    return buf;
}

static const char *bytes(char *buf, size_t n, double b) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) b /= 1024, i++;
    if (i == 0) snprintf(buf, n, "%.0f B", b);
    else snprintf(buf, n, "%.1f %s", b, u[i]);
    return buf;
}

/* A size as a setting takes it: "128M", "1536K", "100000". */
static void size_text(char *buf, size_t n, uint64_t v) {
    if (v && v % (1ull << 40) == 0) snprintf(buf, n, "%lluT", (unsigned long long)(v >> 40));
    else if (v && v % (1ull << 30) == 0) snprintf(buf, n, "%lluG", (unsigned long long)(v >> 30));
    else if (v && v % (1ull << 20) == 0) snprintf(buf, n, "%lluM", (unsigned long long)(v >> 20));
    else if (v && v % 1024 == 0) snprintf(buf, n, "%lluK", (unsigned long long)(v >> 10));
    else snprintf(buf, n, "%llu", (unsigned long long)v);
}

/* A duration as a setting takes it, with its unit. */
static void dur_text(char *buf, size_t n, uint64_t ns) {
    const uint64_t ms = 1000000ull, s = 1000 * ms;
    if (ns && ns % (3600 * s) == 0) snprintf(buf, n, "%lluh", (unsigned long long)(ns / (3600 * s)));
    else if (ns && ns % (60 * s) == 0) snprintf(buf, n, "%llum", (unsigned long long)(ns / (60 * s)));
    else if (ns && ns % s == 0) snprintf(buf, n, "%llus", (unsigned long long)(ns / s));
    else if (ns && ns % ms == 0) snprintf(buf, n, "%llums", (unsigned long long)(ns / ms));
    else if (ns % 1000 == 0) snprintf(buf, n, "%lluus", (unsigned long long)(ns / 1000));
    else snprintf(buf, n, "%lluns", (unsigned long long)ns);
}

static double phi(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

/* How sure k of n makes "the proportion is on this side of t": Phi of the
 * margin in standard errors at Wilson's centre (z = 1.96). */
static double confidence(uint64_t k, uint64_t n, double t) {
    if (!n) return 0;
    const double z = 1.96;
    double p = (double)k / (double)n, nn = (double)n;
    double centre = (p + z * z / (2 * nn)) / (1 + z * z / nn);
    double se = sqrt(centre * (1 - centre) / nn);
    if (se <= 0) return 0.5;
    double c = phi(fabs(p - t) / se);
    return c > 0.999 ? 0.999 : c;
}

/* Wilson's 95 % interval of k of n, in percent. */
static void wilson(uint64_t k, uint64_t n, double *lo, double *hi) {
    *lo = *hi = 0;
    if (!n) return;
    const double z = 1.96;
    double p = (double)k / (double)n, nn = (double)n;
    double d = 1 + z * z / nn;
    double c = (p + z * z / (2 * nn)) / d;
    double h = z * sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / d;
    *lo = 100 * (c - h > 0 ? c - h : 0);
    *hi = 100 * (c + h < 1 ? c + h : 1);
}

static double share(uint64_t k, uint64_t n) { return n ? (double)k / (double)n : 0; }

typedef struct out_list {
    hone_opt_finding *v;
    size_t n, cap;
    const hone_allocator *alloc;
    int rc;
} out_list;

static hone_opt_finding *push(out_list *o, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static hone_opt_finding *push(out_list *o, const char *rule, const char *fmt, ...) {
    if (o->rc) return NULL;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        hone_opt_finding *v = hone_realloc(o->alloc, o->v, cap * sizeof *v);
        if (!v) {
            o->rc = HONE_ENOMEM;
            return NULL;
        }
        o->v = v;
        o->cap = cap;
    }
    hone_opt_finding *f = &o->v[o->n++];
    memset(f, 0, sizeof *f);
    f->rule = rule;
    f->setting = -1;
    f->verdict = HONE_OPT_QUIET;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->subject, sizeof f->subject, fmt, ap);
    va_end(ap);
    return f;
}

#define EV(f, ...) snprintf((f)->evidence, sizeof (f)->evidence, __VA_ARGS__)
#define EF(f, ...) snprintf((f)->effect, sizeof (f)->effect, __VA_ARGS__)

/* Proposes setting `id` for `component` at value text `val`, quoting its
 * current value and origin in the action. */
static void propose(hone_opt_finding *f, int id, const char *component, const char *val) {
    const hone_setting_info *in = hone_setting_info_get(id);
    hone_setting_state st;
    memset(&st, 0, sizeof st);
    int have = hone_setting_get(id, component, &st, NULL) == HONE_OK;
    f->setting = id;
    snprintf(f->value, sizeof f->value, "%s", val);
    const char *name = in ? in->name : "?";
    char tmp[1024];
    if (component && in && in->component_key)
        snprintf(tmp, sizeof tmp, "set %s=%s for %s ([component.%s] %s = %s; now %s from %s)", name,
                 val, component, component, in->component_key, val, have ? st.value.text : "?",
                 have ? hone_origin_name(st.origin) : "?");
    else
        snprintf(tmp, sizeof tmp, "set %s=%s (now %s from %s)", name, val,
                 have ? st.value.text : "?", have ? hone_origin_name(st.origin) : "?");
    size_t len = strlen(tmp);
    if (len >= sizeof f->action) len = sizeof f->action - 1;
    memcpy(f->action, tmp, len);
    f->action[len] = '\0';
}

/* ------------------------------------------------------------------ */
/* Rules                                                               */
/* ------------------------------------------------------------------ */

static void r_cache_undersized(const hone_opt_report *r, out_list *o) {
    char w[32], a[32], b[32], c[32], d[32];
    window(w, sizeof w, r);
    for (size_t i = 0; i < r->ncaches; i++) {
        const hone_opt_cache_stat *cs = &r->caches[i];
        hone_opt_finding *f = push(o, "cache.undersized", "cache %s", cs->name);
        if (!f) return;
        uint64_t look = cs->hits + cs->misses;
        double hr = share(cs->hits, look);
        if (look < UNDERSIZED_MIN_LOOKUPS) {
            f->verdict = HONE_OPT_NO_DATA;
            EV(f, "not enough data: %s lookups over %s, needs %s", grp(a, sizeof a, look), w,
               grp(b, sizeof b, UNDERSIZED_MIN_LOOKUPS));
            continue;
        }
        double lo, hi;
        wilson(cs->hits, look, &lo, &hi);
        int fires = hr < UNDERSIZED_HIT_BELOW && cs->evicted_capacity > 0 &&
                    (double)cs->evicted_capacity >= UNDERSIZED_EVICT_SHARE * (double)cs->misses &&
                    cs->peak_utilization >= UNDERSIZED_PEAK_UTIL;
        EV(f, "hit rate %.1f %% (%s of %s lookups; 95 %% interval %.1f-%.1f %%) over %s, %s capacity "
              "evictions at %.0f %% peak utilization",
           100 * hr, grp(a, sizeof a, cs->hits), grp(b, sizeof b, look), lo, hi, w,
           grp(c, sizeof c, cs->evicted_capacity), cs->peak_utilization);
        f->confidence = confidence(cs->hits, look, UNDERSIZED_HIT_BELOW);
        if (!fires) continue;
        f->verdict = HONE_OPT_FIRED;
        f->severity = hr < UNDERSIZED_HIGH_BELOW ? HONE_OPT_HIGH : HONE_OPT_MEDIUM;
        uint64_t cur = cs->max_bytes ? cs->max_bytes : hone_setting_u64(HONE_SET_CACHE_SIZE, cs->name);
        const hone_setting_info *in = hone_setting_info_get(HONE_SET_CACHE_SIZE);
        uint64_t prop = cur * 2;
        if (in && in->max && prop > in->max) prop = in->max;
        size_text(d, sizeof d, prop);
        uint64_t back = cs->evicted_capacity < cs->misses ? cs->evicted_capacity : cs->misses;
        char e[32];
        EF(f, "up to %s of the %s misses (%.1f %% of lookups) were to room the cache lacked; "
              "cache.size %s -> %s (+%s of bound) should win part of them back",
           grp(a, sizeof a, back), grp(b, sizeof b, cs->misses), 100 * share(back, look),
           bytes(c, sizeof c, (double)cur), d, bytes(e, sizeof e, (double)(prop - cur)));
        propose(f, HONE_SET_CACHE_SIZE, cs->name, d);
    }
}

static void r_cache_oversized(const hone_opt_report *r, out_list *o) {
    char w[32], a[32], b[32], c[32], d[32], e[32];
    window(w, sizeof w, r);
    for (size_t i = 0; i < r->ncaches; i++) {
        const hone_opt_cache_stat *cs = &r->caches[i];
        hone_opt_finding *f = push(o, "cache.oversized", "cache %s", cs->name);
        if (!f) return;
        uint64_t look = cs->hits + cs->misses;
        double hr = share(cs->hits, look);
        if (look < OVERSIZED_MIN_LOOKUPS) {
            f->verdict = HONE_OPT_NO_DATA;
            EV(f, "not enough data: %s lookups over %s, needs %s", grp(a, sizeof a, look), w,
               grp(b, sizeof b, OVERSIZED_MIN_LOOKUPS));
            continue;
        }
        uint64_t peak = (uint64_t)((double)cs->max_bytes * cs->peak_utilization / 100.0);
        EV(f, "hit rate %.1f %% (%s of %s lookups) over %s, peak utilization %.1f %% (%s of %s), "
              "%s capacity evictions",
           100 * hr, grp(a, sizeof a, cs->hits), grp(b, sizeof b, look), w, cs->peak_utilization,
           bytes(c, sizeof c, (double)peak), bytes(d, sizeof d, (double)cs->max_bytes),
           grp(e, sizeof e, cs->evicted_capacity));
        f->confidence = confidence(cs->hits, look, OVERSIZED_HIT_ABOVE);
        if (!(hr >= OVERSIZED_HIT_ABOVE && cs->peak_utilization < OVERSIZED_PEAK_BELOW &&
              cs->evicted_capacity == 0 && cs->max_bytes))
            continue;
        uint64_t prop = 2 * peak;
        if (prop < OVERSIZED_FLOOR) prop = OVERSIZED_FLOOR;
        prop = (prop + 1023) / 1024 * 1024;
        if (prop >= cs->max_bytes) continue;
        f->verdict = HONE_OPT_FIRED;
        f->severity = HONE_OPT_LOW;
        size_text(d, sizeof d, prop);
        EF(f, "frees %s of bound (%s -> %s) with twice the peak use still free; no capacity "
              "eviction happened, so the hit rate should stay",
           bytes(a, sizeof a, (double)(cs->max_bytes - prop)), bytes(b, sizeof b, (double)cs->max_bytes),
           bytes(c, sizeof c, (double)prop));
        propose(f, HONE_SET_CACHE_SIZE, cs->name, d);
    }
}

static void r_cache_ttl_short(const hone_opt_report *r, out_list *o) {
    char w[32], a[32], b[32], c[32], d[32];
    window(w, sizeof w, r);
    for (size_t i = 0; i < r->ncaches; i++) {
        const hone_opt_cache_stat *cs = &r->caches[i];
        hone_opt_finding *f = push(o, "cache.ttl_short", "cache %s", cs->name);
        if (!f) return;
        if (cs->misses < TTL_MIN_MISSES) {
            f->verdict = HONE_OPT_NO_DATA;
            EV(f, "not enough data: %s misses over %s, needs %s", grp(a, sizeof a, cs->misses), w,
               grp(b, sizeof b, TTL_MIN_MISSES));
            continue;
        }
        double sh = share(cs->expired, cs->misses);
        uint64_t ttl = cs->ttl_ns ? cs->ttl_ns : hone_setting_u64(HONE_SET_CACHE_TTL, cs->name);
        if (ttl) dur(c, sizeof c, (double)ttl);
        else snprintf(c, sizeof c, "none");
        EV(f, "%s entries expired, %.1f %% of %s misses over %s (ttl %s)",
           grp(a, sizeof a, cs->expired), 100 * sh, grp(b, sizeof b, cs->misses), w, c);
        f->confidence = confidence(cs->expired, cs->misses, TTL_EXPIRED_SHARE);
        if (sh < TTL_EXPIRED_SHARE) continue;
        f->verdict = HONE_OPT_FIRED;
        f->severity = sh >= TTL_MEDIUM_SHARE ? HONE_OPT_MEDIUM : HONE_OPT_LOW;
        if (ttl) {
            dur_text(d, sizeof d, ttl * TTL_FACTOR);
            EF(f, "up to %s misses (%.1f %% of misses) were entries dropped by age; ttl %s -> %s "
                  "keeps them %d times as long",
               grp(a, sizeof a, cs->expired), 100 * sh, c, d, TTL_FACTOR);
            propose(f, HONE_SET_CACHE_TTL, cs->name, d);
        } else {
            EF(f, "up to %s misses (%.1f %% of misses) were entries dropped by age; the cache's own "
                  "ttl is not known to the settings table",
               grp(a, sizeof a, cs->expired), 100 * sh);
            snprintf(f->action, sizeof f->action,
                     "raise the ttl this cache was made with (put_ex or its options)");
        }
    }
}

static void r_batcher_timeout(const hone_opt_report *r, out_list *o) {
    char w[32], a[32], b[32], c[32], d[32];
    window(w, sizeof w, r);
    for (size_t i = 0; i < r->nbatchers; i++) {
        const hone_opt_batcher_stat *bs = &r->batchers[i];
        const hone_batcher_stats *st = &bs->st;
        hone_opt_finding *f = push(o, "batcher.timeout_bound", "batcher %s", bs->name);
        if (!f) return;
        if (st->batches < TIMEOUT_MIN_BATCHES) {
            f->verdict = HONE_OPT_NO_DATA;
            EV(f, "not enough data: %s batches over %s, needs %s", grp(a, sizeof a, st->batches), w,
               grp(b, sizeof b, TIMEOUT_MIN_BATCHES));
            continue;
        }
        double sh = share(st->timeout_flushes, st->batches);
        double fill = bs->batch_size ? st->mean_batch / (double)bs->batch_size : 0;
        EV(f, "%s of %s batches (%.1f %%) flushed by timeout over %s; mean batch %.1f of "
              "batch_size %zu (%.0f %%); added latency p99 %s, max_wait %s",
           grp(a, sizeof a, st->timeout_flushes), grp(b, sizeof b, st->batches), 100 * sh, w,
           st->mean_batch, bs->batch_size, 100 * fill, dur(c, sizeof c, st->latency_p99_ns),
           dur(d, sizeof d, (double)bs->max_wait_ns));
        f->confidence = confidence(st->timeout_flushes, st->batches, TIMEOUT_SHARE);
        if (!(sh >= TIMEOUT_SHARE && bs->batch_size && fill < TIMEOUT_FILL_BELOW &&
              bs->max_wait_ns > TIMEOUT_FLOOR_NS))
            continue;
        uint64_t prop = bs->max_wait_ns / 2;
        if (prop < TIMEOUT_FLOOR_NS) prop = TIMEOUT_FLOOR_NS;
        double saved = (double)(bs->max_wait_ns - prop);
        if (saved > st->latency_p99_ns && st->latency_p99_ns > 0) saved = st->latency_p99_ns;
        f->verdict = HONE_OPT_FIRED;
        f->severity = HONE_OPT_MEDIUM;
        dur_text(d, sizeof d, prop);
        EF(f, "about %s less added latency at p99 (%s -> about %s); batches were %.0f %% full, so "
              "throughput does not depend on the wait",
           dur(a, sizeof a, saved), dur(b, sizeof b, st->latency_p99_ns),
           dur(c, sizeof c, st->latency_p99_ns > saved ? st->latency_p99_ns - saved : 0), 100 * fill);
        propose(f, HONE_SET_BATCH_MAX_WAIT, NULL, d);
    }
}

static void r_batcher_backpressure(const hone_opt_report *r, out_list *o) {
    char w[32], a[32], b[32], d[32];
    window(w, sizeof w, r);
    for (size_t i = 0; i < r->nbatchers; i++) {
        const hone_opt_batcher_stat *bs = &r->batchers[i];
        const hone_batcher_stats *st = &bs->st;
        hone_opt_finding *f = push(o, "batcher.backpressure", "batcher %s", bs->name);
        if (!f) return;
        uint64_t adds = st->items + st->rejected;
        if (adds < BACKPRESSURE_MIN_ADDS) {
            f->verdict = HONE_OPT_NO_DATA;
            EV(f, "not enough data: %s adds over %s, needs %s", grp(a, sizeof a, adds), w,
               grp(b, sizeof b, BACKPRESSURE_MIN_ADDS));
            continue;
        }
        double sh = share(st->rejected, adds);
        EV(f, "%s of %s adds (%.2f %%) rejected (HONE_EBUSY) over %s", grp(a, sizeof a, st->rejected),
           grp(b, sizeof b, adds), 100 * sh, w);
        f->confidence = confidence(st->rejected, adds, BACKPRESSURE_SHARE);
        if (sh < BACKPRESSURE_SHARE) continue;
        f->verdict = HONE_OPT_FIRED;
        f->severity = sh >= BACKPRESSURE_CRITICAL ? HONE_OPT_CRITICAL : HONE_OPT_HIGH;
        uint64_t cur = bs->batch_size ? bs->batch_size : hone_setting_u64(HONE_SET_BATCH_SIZE, bs->name);
        uint64_t prop = cur ? cur * 2 : 2;
        const hone_setting_info *in = hone_setting_info_get(HONE_SET_BATCH_SIZE);
        if (in && in->max && prop > in->max) prop = in->max;
        snprintf(d, sizeof d, "%llu", (unsigned long long)prop);
        EF(f, "%s adds refused (%.1f per second) would be accepted if each flush takes %llu items "
              "instead of %llu",
           grp(a, sizeof a, st->rejected),
           (double)st->rejected / ((double)(r->end_ns - r->start_ns) / 1e9 + 1e-9),
           (unsigned long long)prop, (unsigned long long)cur);
        propose(f, HONE_SET_BATCH_SIZE, bs->name, d);
    }
}

static void r_http_retries(const hone_opt_report *r, out_list *o) {
    char w[32], a[32], b[32], c[32], d[32], e[32], g[32], k[32];
    window(w, sizeof w, r);
    for (size_t i = 0; i < r->nhttps; i++) {
        const hone_http_stats *h = &r->https[i].st;
        hone_opt_finding *f = push(o, "http.retries", "http %s", r->https[i].name);
        if (!f) return;
        if (h->attempts < RETRY_MIN_ATTEMPTS) {
            f->verdict = HONE_OPT_NO_DATA;
            EV(f, "not enough data: %s attempts over %s, needs %s", grp(a, sizeof a, h->attempts),
               w, grp(b, sizeof b, RETRY_MIN_ATTEMPTS));
            continue;
        }
        double sh = share(h->retries, h->attempts);
        EV(f, "%s of %s attempts (%.1f %%) were retries over %s (%s requests); failed attempts: "
              "%s 5xx, %s timeouts, %s other errors, %s 4xx",
           grp(a, sizeof a, h->retries), grp(b, sizeof b, h->attempts), 100 * sh, w,
           grp(c, sizeof c, h->requests), grp(d, sizeof d, h->responses_5xx),
           grp(e, sizeof e, h->timeouts), grp(g, sizeof g, h->errors > h->timeouts ? h->errors - h->timeouts : 0),
           grp(k, sizeof k, h->responses_4xx));
        f->confidence = confidence(h->retries, h->attempts, RETRY_SHARE);
        if (sh < RETRY_SHARE) continue;
        f->verdict = HONE_OPT_FIRED;
        f->severity = sh >= RETRY_HIGH ? HONE_OPT_HIGH : HONE_OPT_MEDIUM;
        uint64_t failed = h->responses_5xx + h->errors;
        if (h->timeouts * 2 > failed && h->timeouts) {
            uint64_t cur = hone_setting_u64(HONE_SET_HTTP_TIMEOUT, r->https[i].name);
            const hone_setting_info *in = hone_setting_info_get(HONE_SET_HTTP_TIMEOUT);
            uint64_t prop = cur * 2;
            if (in && in->max && prop > in->max) prop = in->max;
            dur_text(d, sizeof d, prop);
            EF(f, "timeouts are %s of %s failed attempts: a longer attempt timeout should turn "
                  "part of the %s retries into first-attempt answers",
               grp(a, sizeof a, h->timeouts), grp(b, sizeof b, failed), grp(c, sizeof c, h->retries));
            propose(f, HONE_SET_HTTP_TIMEOUT, r->https[i].name, d);
        } else {
            EF(f, "%s extra attempts (%.2f per request) cost latency and load on the server; the "
                  "server's %s 5xx and %s errors are the cause to fix",
               grp(a, sizeof a, h->retries), share(h->retries, h->requests ? h->requests : 1),
               grp(b, sizeof b, h->responses_5xx), grp(c, sizeof c, h->errors));
        }
    }
}

static void r_http_rate(const hone_opt_report *r, out_list *o) {
    char w[32], a[32], b[32], c[32], d[64];
    window(w, sizeof w, r);
    double win_ns = (double)(r->end_ns - r->start_ns);
    for (size_t i = 0; i < r->nhttps; i++) {
        const hone_http_stats *h = &r->https[i].st;
        hone_opt_finding *f = push(o, "http.rate_limited", "http %s", r->https[i].name);
        if (!f) return;
        if (h->attempts < RATE_MIN_ATTEMPTS) {
            f->verdict = HONE_OPT_NO_DATA;
            EV(f, "not enough data: %s attempts over %s, needs %s", grp(a, sizeof a, h->attempts),
               w, grp(b, sizeof b, RATE_MIN_ATTEMPTS));
            continue;
        }
        double sh = share(h->limiter_waits, h->attempts);
        double wait_share = win_ns > 0 ? (double)h->limiter_wait_ns / win_ns : 0;
        EV(f, "%s of %s attempts (%.1f %%) waited for the rate limiter over %s, %s of waiting in all "
              "(%.1f %% of the window)",
           grp(a, sizeof a, h->limiter_waits), grp(b, sizeof b, h->attempts), 100 * sh, w,
           dur(c, sizeof c, (double)h->limiter_wait_ns), 100 * wait_share);
        f->confidence = confidence(h->limiter_waits, h->attempts, RATE_WAIT_SHARE);
        if (sh < RATE_WAIT_SHARE) continue;
        f->verdict = HONE_OPT_FIRED;
        f->severity = wait_share >= RATE_WAIT_TIME_MEDIUM ? HONE_OPT_MEDIUM : HONE_OPT_LOW;
        double rate = hone_setting_double(HONE_SET_RATE_LIMIT, r->https[i].name);
        double mean_wait = h->limiter_waits ? (double)h->limiter_wait_ns / (double)h->limiter_waits : 0;
        if (isfinite(rate) && rate > 0) {
            snprintf(d, sizeof d, "%g/s", rate * 2);
            EF(f, "about %s of waiting (%s per waiting attempt) goes when the limit allows the "
                  "pace the client asks for",
               dur(a, sizeof a, (double)h->limiter_wait_ns), dur(b, sizeof b, mean_wait));
            propose(f, HONE_SET_RATE_LIMIT, NULL, d);
        } else {
            EF(f, "about %s of waiting (%s per waiting attempt) is set by the client's own limiter "
                  "(flow.rate_limit is off)",
               dur(a, sizeof a, (double)h->limiter_wait_ns), dur(b, sizeof b, mean_wait));
            snprintf(f->action, sizeof f->action,
                     "raise the rate of the limiter given to this client, if the server allows it");
        }
    }
}

static void r_zone_tail(const hone_opt_report *r, out_list *o) {
    char w[32], a[32], b[32], c[32], d[32];
    window(w, sizeof w, r);
    for (size_t i = 0; i < r->nzones; i++) {
        const hone_opt_zone_stat *z = &r->zones[i];
        hone_opt_finding *f = push(o, "zone.tail", "zone %s", z->name);
        if (!f) return;
        if (z->count < TAIL_MIN_CALLS) {
            f->verdict = HONE_OPT_NO_DATA;
            EV(f, "not enough data: %s calls over %s, needs %s", grp(a, sizeof a, z->count), w,
               grp(b, sizeof b, TAIL_MIN_CALLS));
            continue;
        }
        double ratio = z->p50_ns ? (double)z->p99_ns / (double)z->p50_ns : 0;
        EV(f, "p99 %s is %.1f x p50 %s over %s calls in %s (max %s)", dur(a, sizeof a, (double)z->p99_ns),
           ratio, dur(b, sizeof b, (double)z->p50_ns), grp(c, sizeof c, z->count), w,
           dur(d, sizeof d, (double)z->max_ns));
        /* The p99 rests on the slowest 1 % of calls. */
        double tail = (double)z->count / 100.0;
        f->confidence = 1.0 - 1.0 / sqrt(tail);
        if (ratio < TAIL_RATIO) continue;
        f->verdict = HONE_OPT_FIRED;
        f->severity = ratio >= TAIL_LOW_RATIO ? HONE_OPT_LOW : HONE_OPT_INFO;
        EF(f, "the slowest 1 %% of calls take %.0f x the typical one; removing that tail would "
              "bring p99 near %s",
           ratio, dur(a, sizeof a, (double)z->p90_ns));
    }
}

static void r_cpu_underused(const hone_opt_report *r, out_list *o) {
    char w[32], a[32], b[32];
    window(w, sizeof w, r);
    hone_opt_finding *f = push(o, "process.cpu_underused", "process");
    if (!f) return;
    double secs = (double)(r->end_ns - r->start_ns) / 1e9;
    uint64_t calls = 0;
    const hone_opt_zone_stat *busiest = NULL;
    for (size_t i = 0; i < r->nzones; i++) {
        calls += r->zones[i].count;
        if (!busiest || r->zones[i].total_ns > busiest->total_ns) busiest = &r->zones[i];
    }
    if (!r->has_process || secs < CPU_MIN_SECONDS || calls < CPU_MIN_CALLS) {
        f->verdict = HONE_OPT_NO_DATA;
        EV(f, "not enough data: %s, a %s window and %s zone calls; needs process figures, %.0f s "
              "and %d calls",
           r->has_process ? "process figures" : "no process figures", w, grp(a, sizeof a, calls),
           CPU_MIN_SECONDS, CPU_MIN_CALLS);
        return;
    }
    double busy = busiest ? (double)busiest->total_ns / 1e9 / secs : 0;
    int workers = r->max_workers > 0 ? r->max_workers : (int)(r->process.cpus ? r->process.cpus : 1);
    double cap = 100.0 * workers;
    double used = r->process.cpu_percent / cap;
    EV(f, "CPU %.1f %% of %d workers' %.0f %% (%.1f %% used) over %s while zone %s ran %s (%.0f %% "
          "of the window, %s calls)",
       r->process.cpu_percent, workers, cap, 100 * used, w, busiest ? busiest->name : "-",
       dur(a, sizeof a, busiest ? (double)busiest->total_ns : 0), 100 * busy,
       grp(b, sizeof b, busiest ? busiest->count : 0));
    double margin = 1.0 - used / CPU_USED_BELOW;
    f->confidence = (margin > 0 ? margin : -margin) * (secs / 60 < 1 ? secs / 60 : 1);
    if (f->confidence > 0.999) f->confidence = 0.999;
    if (!(busy >= CPU_BUSY_SHARE && used < CPU_USED_BELOW)) return;
    f->verdict = HONE_OPT_FIRED;
    f->severity = HONE_OPT_MEDIUM;
    EF(f, "%.1f of %d CPUs sit idle while work is in progress: the time goes to waiting (I/O, "
          "locks, timers, batch waits); cutting the wait shortens the %s of zone time",
       (cap - r->process.cpu_percent) / 100.0, workers,
       dur(a, sizeof a, busiest ? (double)busiest->total_ns : 0));
    snprintf(f->action, sizeof f->action,
             "look at what zone %s waits on (hone profile --tree); more workers will not help",
             busiest ? busiest->name : "-");
}

static void r_memory_growth(const hone_opt_report *r, out_list *o) {
    char w[32], a[32], b[32], c[32], d[32];
    window(w, sizeof w, r);
    hone_opt_finding *f = push(o, "process.memory_growth", "process");
    if (!f) return;
    double secs = (double)(r->end_ns - r->start_ns) / 1e9;
    if (!r->has_process || secs < MEM_MIN_SECONDS || !r->process.rss_start) {
        f->verdict = HONE_OPT_NO_DATA;
        EV(f, "not enough data: %s over a %s window; needs process figures with a starting rss and "
              "%.0f s",
           r->has_process ? "process figures" : "no process figures", w, MEM_MIN_SECONDS);
        return;
    }
    const hone_opt_process_stat *p = &r->process;
    double g = ((double)p->rss_end - (double)p->rss_start) / (double)p->rss_start;
    EV(f, "rss %s -> %s (%+.1f %%, %s%s) over %s; peak %s", bytes(a, sizeof a, (double)p->rss_start),
       bytes(b, sizeof b, (double)p->rss_end), 100 * g, p->rss_end >= p->rss_start ? "+" : "-",
       bytes(c, sizeof c, (double)(p->rss_end >= p->rss_start ? p->rss_end - p->rss_start
                                                              : p->rss_start - p->rss_end)),
       w, bytes(d, sizeof d, (double)p->peak_rss));
    f->confidence = secs / 60 < 1 ? secs / 60 : 0.999;
    if (!(g >= MEM_GROWTH && p->rss_end - p->rss_start >= MEM_GROWTH_MIN_BYTES)) return;
    f->verdict = HONE_OPT_FIRED;
    f->severity = g >= MEM_HIGH ? HONE_OPT_HIGH : HONE_OPT_MEDIUM;
    double rate = (double)(p->rss_end - p->rss_start) / secs;
    EF(f, "at %s per second the process would add another %s each hour; bounding what grows "
          "(cache.size, queues) stops it",
       bytes(a, sizeof a, rate), bytes(b, sizeof b, rate * 3600));
    snprintf(f->action, sizeof f->action,
             "check caches without a byte limit and unbounded queues; compare cache memory in the "
             "report");
}

typedef void (*rule_fn)(const hone_opt_report *, out_list *);
static const rule_fn rule_fns[] = {
    r_cache_undersized, r_cache_oversized, r_cache_ttl_short, r_batcher_timeout,
    r_batcher_backpressure, r_http_retries, r_http_rate, r_zone_tail, r_cpu_underused,
    r_memory_growth,
};

_Static_assert(sizeof rule_fns / sizeof rule_fns[0] == sizeof rules / sizeof rules[0],
               "one function per documented rule");

int hone_opt_recommend(const hone_opt_report *r, hone_opt_finding **out, size_t *n,
                       const hone_allocator *alloc) {
    if (!r || !out || !n || r->end_ns < r->start_ns) return HONE_EINVAL;
    *out = NULL;
    *n = 0;
    out_list o = {.alloc = alloc};
    for (size_t i = 0; i < sizeof rule_fns / sizeof rule_fns[0] && !o.rc; i++) rule_fns[i](r, &o);
    if (o.rc) {
        hone_free(alloc, o.v);
        return o.rc;
    }
    /* Fired first, most severe first; the rest in rule order (a stable
     * insertion sort: the lists are short). */
    for (size_t i = 1; i < o.n; i++) {
        hone_opt_finding x = o.v[i];
        int kx = x.verdict == HONE_OPT_FIRED ? 10 + x.severity : 0;
        size_t j = i;
        while (j > 0) {
            const hone_opt_finding *y = &o.v[j - 1];
            int ky = y->verdict == HONE_OPT_FIRED ? 10 + y->severity : 0;
            if (ky >= kx) break;
            o.v[j] = o.v[j - 1];
            j--;
        }
        o.v[j] = x;
    }
    *out = o.v;
    *n = o.n;
    return HONE_OK;
}

/* ------------------------------------------------------------------ */
/* Formatting                                                          */
/* ------------------------------------------------------------------ */

static int fmt_json(const hone_opt_finding *f, size_t n, int all, hone_buf *b) {
    int rc = hone_buf_puts(b, "[");
    int first = 1;
    for (size_t i = 0; i < n && !rc; i++) {
        const hone_opt_finding *x = &f[i];
        if (!all && x->verdict != HONE_OPT_FIRED) continue;
        rc = hone_buf_puts(b, first ? "{\"rule\":" : ",{\"rule\":");
        first = 0;
        if (!rc) rc = hone_buf_json_string(b, x->rule ? x->rule : "");
        if (!rc) rc = hone_buf_puts(b, ",\"subject\":");
        if (!rc) rc = hone_buf_json_string(b, x->subject);
        if (!rc) rc = hone_buf_puts(b, ",\"verdict\":");
        if (!rc) rc = hone_buf_json_string(b, x->verdict == HONE_OPT_NO_DATA ? "no_data" : hone_opt_verdict_name(x->verdict));
        if (!rc) rc = hone_buf_puts(b, ",\"severity\":");
        if (!rc && x->verdict == HONE_OPT_FIRED) rc = hone_buf_json_string(b, hone_opt_severity_name(x->severity));
        else if (!rc) rc = hone_buf_puts(b, "null");
        if (!rc) rc = hone_buf_printf(b, ",\"confidence\":%.3f,\"evidence\":", isfinite(x->confidence) ? x->confidence : 0);
        if (!rc) rc = hone_buf_json_string(b, x->evidence);
        if (!rc) rc = hone_buf_puts(b, ",\"effect\":");
        if (!rc) rc = hone_buf_json_string(b, x->effect);
        if (!rc) rc = hone_buf_puts(b, ",\"action\":");
        if (!rc) rc = hone_buf_json_string(b, x->action);
        if (!rc) rc = hone_buf_puts(b, ",\"setting\":");
        const hone_setting_info *in = x->setting >= 0 ? hone_setting_info_get(x->setting) : NULL;
        if (!rc && in) rc = hone_buf_json_string(b, in->name);
        else if (!rc) rc = hone_buf_puts(b, "null");
        if (!rc) rc = hone_buf_puts(b, ",\"value\":");
        if (!rc && in) rc = hone_buf_json_string(b, x->value);
        else if (!rc) rc = hone_buf_puts(b, "null");
        if (!rc) rc = hone_buf_puts(b, "}");
    }
    if (!rc) rc = hone_buf_puts(b, "]\n");
    return rc;
}

static int fmt_text(const hone_opt_finding *f, size_t n, int all, hone_buf *b) {
    int rc = HONE_OK;
    size_t fired = 0;
    for (size_t i = 0; i < n; i++) fired += f[i].verdict == HONE_OPT_FIRED;
    for (size_t i = 0; i < n && !rc; i++) {
        const hone_opt_finding *x = &f[i];
        if (x->verdict != HONE_OPT_FIRED) continue;
        rc = hone_buf_printf(b, "[%s] %s: %s (confidence %.2f)\n  evidence: %s\n",
                             hone_opt_severity_name(x->severity), x->rule, x->subject,
                             x->confidence, x->evidence);
        if (!rc && x->effect[0]) rc = hone_buf_printf(b, "  effect:   %s\n", x->effect);
        if (!rc && x->action[0]) rc = hone_buf_printf(b, "  action:   %s\n", x->action);
    }
    if (!rc && !fired) rc = hone_buf_puts(b, "no findings\n");
    for (size_t i = 0; all && i < n && !rc; i++) {
        const hone_opt_finding *x = &f[i];
        if (x->verdict == HONE_OPT_FIRED) continue;
        rc = hone_buf_printf(b, "[%s] %s: %s: %s\n", hone_opt_verdict_name(x->verdict), x->rule,
                             x->subject, x->evidence);
    }
    return rc;
}

int hone_opt_findings_format(const hone_opt_finding *f, size_t n, int all, hone_buf *out,
                             int json) {
    if ((!f && n) || !out) return HONE_EINVAL;
    size_t len0 = out->len;
    int rc = json ? fmt_json(f, n, all, out) : fmt_text(f, n, all, out);
    if (rc && out->data) {
        out->len = len0;
        out->data[len0] = '\0';
    }
    return rc;
}
