/* flow_internal.h - what the flow module's files share: the clock seam,
 * saturating arithmetic, the GCRA decision, and the jitter generator. */
#ifndef HONE_FLOW_INTERNAL_H
#define HONE_FLOW_INTERNAL_H

#include "hone/flow.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

/* A copied clock: the objects keep their own, so the caller's struct need
 * not outlive _new. */
typedef struct hone__clock {
    uint64_t (*now)(void *ctx);
    void (*sleep)(void *ctx, uint64_t ns);
    void *ctx;
} hone__clock;

static inline void hone__clock_copy(hone__clock *c, const hone_flow_clock *from) {
    c->now = from ? from->now : NULL;
    c->sleep = from ? from->sleep : NULL;
    c->ctx = from ? from->ctx : NULL;
}

static inline uint64_t hone__clock_now(const hone__clock *c) {
    return c->now ? c->now(c->ctx) : hone_now_ns();
}

/* Sleeps ns on the real clock, resuming after signals. */
static inline void hone__real_sleep(uint64_t ns) {
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
    if (ns / 1000000000u > (uint64_t)INT32_MAX) ts.tv_sec = INT32_MAX;
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static inline void hone__clock_sleep(const hone__clock *c, uint64_t ns) {
    if (c->sleep)
        c->sleep(c->ctx, ns);
    else
        hone__real_sleep(ns);
}

/* The same for a borrowed hone_flow_clock pointer (hone_retry). */
static inline uint64_t hone__fclock_now(const hone_flow_clock *c) {
    return c && c->now ? c->now(c->ctx) : hone_now_ns();
}
static inline void hone__fclock_sleep(const hone_flow_clock *c, uint64_t ns) {
    if (c && c->sleep)
        c->sleep(c->ctx, ns);
    else
        hone__real_sleep(ns);
}

static inline uint64_t hone__sat_add(uint64_t a, uint64_t b) {
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}
static inline uint64_t hone__sat_mul(uint64_t a, uint64_t b) {
    return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

/* ---- GCRA ---- */

/* TAT and the emission interval are kept in 1/64 ns: 6 fraction bits keep a
 * 1e9/s interval (1 ns) exact and any rate's interval within 1/128 ns of
 * the true value, while 58 integer bits of nanoseconds last 9 years from
 * the limiter's epoch. */
#define HONE__GCRA_FRAC 6
#define HONE__GCRA_MAX_NS ((UINT64_C(1) << (64 - HONE__GCRA_FRAC)) - 1)

enum { HONE__GCRA_LIMIT = 0, HONE__GCRA_DENY = 1, HONE__GCRA_ALLOW = 2 };

typedef struct hone__gcra {
    int mode;
    uint32_t burst;
    uint64_t t;     /* emission interval, 1/64 ns */
    uint64_t tau;   /* burst * t, saturated */
    uint64_t epoch; /* clock time of TAT 0, ns */
} hone__gcra;

/* Fills g from a rate and burst. HONE_EINVAL for a negative or NaN rate. */
int hone__gcra_init(hone__gcra *g, double rate, uint32_t burst, uint64_t epoch);

/* now (ns on the clock) as GCRA units since the epoch, saturated. */
static inline uint64_t hone__gcra_now(const hone__gcra *g, uint64_t now_ns) {
    uint64_t rel = now_ns > g->epoch ? now_ns - g->epoch : 0;
    if (rel > HONE__GCRA_MAX_NS) rel = HONE__GCRA_MAX_NS;
    return rel << HONE__GCRA_FRAC;
}

/* The GCRA decision for a LIMIT-mode g: returns 1 and *new_tat when cost
 * is admitted against tat at time now_u, else 0 and *wait_ns (UINT64_MAX:
 * never). Pure: the caller stores *new_tat if it wants the permits. */
static inline int hone__gcra_decide(const hone__gcra *g, uint64_t tat, uint64_t now_u,
                                    uint32_t cost, uint64_t *new_tat, uint64_t *wait_ns) {
    if (cost == 0) cost = 1;
    if (cost > g->burst) {
        *wait_ns = UINT64_MAX;
        return 0;
    }
    uint64_t base = tat > now_u ? tat : now_u;
    uint64_t nt = hone__sat_add(base, hone__sat_mul(cost, g->t));
    uint64_t ahead = nt - now_u;
    if (ahead <= g->tau) {
        *new_tat = nt;
        return 1;
    }
    uint64_t w = ahead - g->tau;
    *wait_ns = (w >> HONE__GCRA_FRAC) + ((w & ((1u << HONE__GCRA_FRAC) - 1)) != 0);
    return 0;
}

/* ---- Random numbers for jitter and hash seeds ---- */

/* 64 random bits from getrandom(), or from the clock and an address when
 * the kernel cannot give them (never 0). */
uint64_t hone__flow_seed(void);

/* SplitMix64 (Steele, Lea and Flood, 2014): one add and a mix per draw,
 * passes BigCrush, any seed is good. */
static inline uint64_t hone__rng_next(uint64_t *s) {
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi] (inclusive) by Lemire's multiply-shift, without the
 * modulo's bias beyond 2^-64. */
static inline uint64_t hone__rng_range(uint64_t *s, uint64_t lo, uint64_t hi) {
    __extension__ typedef unsigned __int128 u128;
    uint64_t r = hone__rng_next(s);
    if (hi <= lo) return lo;
    uint64_t span = hi - lo;
    if (span == UINT64_MAX) return r;
    return lo + (uint64_t)(((u128)r * (span + 1)) >> 64);
}

#endif /* HONE_FLOW_INTERNAL_H */
