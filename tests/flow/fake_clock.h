/* fake_clock.h - a clock the flow tests move by hand, whose sleep advances
 * it and records that it was called, so no test of a policy sleeps. */
#ifndef HONE_TEST_FLOW_FAKE_CLOCK_H
#define HONE_TEST_FLOW_FAKE_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>

#include "hone/flow.h"

typedef struct fake_clock {
    _Atomic uint64_t now;
    _Atomic uint64_t sleeps;   /* sleep calls */
    _Atomic uint64_t slept_ns; /* their total */
    hone_flow_clock clock;     /* pass &fc.clock to the code under test */
} fake_clock;

static inline uint64_t fake_now(void *ctx) { return atomic_load(&((fake_clock *)ctx)->now); }

static inline void fake_sleep(void *ctx, uint64_t ns) {
    fake_clock *c = ctx;
    atomic_fetch_add(&c->sleeps, 1);
    atomic_fetch_add(&c->slept_ns, ns);
    atomic_fetch_add(&c->now, ns);
}

/* Starts at `start` (not 0, so that "no time" and "time 0" differ). */
static inline void fake_init(fake_clock *c, uint64_t start) {
    atomic_init(&c->now, start);
    atomic_init(&c->sleeps, 0);
    atomic_init(&c->slept_ns, 0);
    c->clock.now = fake_now;
    c->clock.sleep = fake_sleep;
    c->clock.ctx = c;
}

static inline void fake_advance(fake_clock *c, uint64_t ns) { atomic_fetch_add(&c->now, ns); }
static inline uint64_t fake_get(fake_clock *c) { return atomic_load(&c->now); }

#define MS UINT64_C(1000000)
#define SEC UINT64_C(1000000000)

#endif
