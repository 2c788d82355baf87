/* test_limiter.c - the GCRA limiter on a fake clock: burst after idle then
 * one permit per interval, refusals that change nothing, the edge rates,
 * the blocking acquire's deadline rule, and an exact total under threads. */
#include "test.h"

#include <math.h>
#include <pthread.h>

#include "fake_clock.h"

static hone_limiter *mk(fake_clock *fc, double rate, uint32_t burst) {
    hone_limiter_opts o = {.rate = rate, .burst = burst, .clock = &fc->clock};
    hone_limiter *l = NULL;
    assert_int_equal(hone_limiter_new(&l, &o), HONE_OK);
    assert_non_null(l);
    return l;
}

/* How many cost-1 acquires succeed right now before the first refusal. */
static unsigned drain(hone_limiter *l) {
    unsigned n = 0;
    while (hone_limiter_acquire(l, 1, NULL) == HONE_OK) n++;
    return n;
}

static void burst_after_idle_then_one_per_interval(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, 1000 * SEC);
    hone_limiter *l = mk(&fc, 10, 5); /* T = 100 ms */
    assert_int_equal(drain(l), 5);
    uint64_t w = 0;
    assert_int_equal(hone_limiter_acquire(l, 1, &w), HONE_EBUSY);
    assert_int_equal(w, 100 * MS);
    fake_advance(&fc, 99 * MS);
    assert_int_equal(hone_limiter_acquire(l, 1, &w), HONE_EBUSY);
    assert_int_equal(w, 1 * MS);
    fake_advance(&fc, 1 * MS);
    assert_int_equal(hone_limiter_acquire(l, 1, &w), HONE_OK);
    assert_int_equal(w, 0);
    assert_int_equal(hone_limiter_acquire(l, 1, &w), HONE_EBUSY);
    assert_int_equal(w, 100 * MS);
    /* Steady state: exactly one per interval. */
    for (int i = 0; i < 50; i++) {
        fake_advance(&fc, 100 * MS);
        assert_int_equal(drain(l), 1);
    }
    /* Idle long enough: the whole burst again, and no more. */
    fake_advance(&fc, 3600 * SEC);
    assert_int_equal(drain(l), 5);
    /* A cost of 3 after 2 intervals' idle: needs 3 permits, has 2. */
    fake_advance(&fc, 200 * MS);
    assert_int_equal(hone_limiter_acquire(l, 3, &w), HONE_EBUSY);
    assert_int_equal(w, 100 * MS);
    assert_int_equal(hone_limiter_acquire(l, 2, &w), HONE_OK);
    hone_limiter_free(l);
}

static void cost_over_burst_is_refused_forever(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_limiter *l = mk(&fc, 1000, 3);
    uint64_t w = 0;
    assert_int_equal(hone_limiter_acquire(l, 4, &w), HONE_EBUSY);
    assert_true(w == UINT64_MAX);
    assert_int_equal(hone_limiter_peek(l, 4, &w), HONE_EBUSY);
    assert_true(w == UINT64_MAX);
    assert_int_equal(hone_limiter_acquire(l, 3, &w), HONE_OK);
    /* cost 0 counts as 1 */
    fake_advance(&fc, SEC);
    assert_int_equal(hone_limiter_acquire(l, 0, NULL), HONE_OK);
    assert_int_equal(hone_limiter_acquire(l, 0, NULL), HONE_OK);
    assert_int_equal(hone_limiter_acquire(l, 0, NULL), HONE_OK);
    assert_int_equal(hone_limiter_acquire(l, 0, &w), HONE_EBUSY);
    assert_int_equal(w, 1 * MS);
    hone_limiter_free(l);
}

static void rate_zero_denies_and_infinity_admits(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_limiter *deny = mk(&fc, 0, 100);
    hone_limiter *all = mk(&fc, INFINITY, 1);
    uint64_t w = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(hone_limiter_acquire(deny, 1, &w), HONE_EBUSY);
        assert_true(w == UINT64_MAX);
        assert_int_equal(hone_limiter_acquire(all, UINT32_MAX, &w), HONE_OK);
        assert_int_equal(w, 0);
        fake_advance(&fc, 3600 * SEC);
    }
    assert_int_equal(hone_limiter_peek(deny, 1, &w), HONE_EBUSY);
    assert_int_equal(hone_limiter_peek(all, 1, &w), HONE_OK);
    hone_limiter_free(deny);
    hone_limiter_free(all);
}

static void absurd_rates_are_clamped_without_overflow(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    uint64_t w = 0;
    /* Huge: clamped to 1e9/s, one permit per nanosecond. */
    hone_limiter *fast = mk(&fc, 1e300, 1);
    assert_int_equal(hone_limiter_acquire(fast, 1, &w), HONE_OK);
    assert_int_equal(hone_limiter_acquire(fast, 1, &w), HONE_EBUSY);
    assert_int_equal(w, 1);
    fake_advance(&fc, 1);
    assert_int_equal(hone_limiter_acquire(fast, 1, &w), HONE_OK);
    hone_limiter_free(fast);
    /* Tiny: clamped to 1e-6/s, one permit per 1e15 ns. */
    hone_limiter *slow = mk(&fc, 1e-300, 1);
    assert_int_equal(hone_limiter_acquire(slow, 1, &w), HONE_OK);
    assert_int_equal(hone_limiter_acquire(slow, 1, &w), HONE_EBUSY);
    assert_int_equal(w, UINT64_C(1000000000000000));
    hone_limiter_free(slow);
    /* The largest burst at the slowest rate: burst*T saturates, costs of
     * UINT32_MAX pile up, and nothing overflows (UBSan watches). */
    hone_limiter *big = mk(&fc, 1e-9, UINT32_MAX);
    for (int i = 0; i < 4; i++) (void)hone_limiter_acquire(big, UINT32_MAX, &w);
    (void)hone_limiter_peek(big, UINT32_MAX, &w);
    hone_limiter_free(big);
    hone_limiter *l = NULL;
    hone_limiter_opts o = {.rate = -1};
    assert_int_equal(hone_limiter_new(&l, &o), HONE_EINVAL);
    assert_null(l);
    o.rate = NAN;
    assert_int_equal(hone_limiter_new(&l, &o), HONE_EINVAL);
    assert_int_equal(hone_limiter_new(&l, NULL), HONE_EINVAL);
    hone_limiter_free(NULL);
}

static void refusal_changes_nothing_and_peek_takes_nothing(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_limiter *l = mk(&fc, 4, 2); /* T = 250 ms */
    uint64_t w1 = 0, w2 = 0;
    for (int i = 0; i < 10; i++) assert_int_equal(hone_limiter_peek(l, 1, &w1), HONE_OK);
    assert_int_equal(drain(l), 2);
    fake_advance(&fc, 100 * MS);
    assert_int_equal(hone_limiter_peek(l, 1, &w1), HONE_EBUSY);
    for (int i = 0; i < 1000; i++) assert_int_equal(hone_limiter_acquire(l, 1, &w2), HONE_EBUSY);
    assert_int_equal(hone_limiter_peek(l, 1, &w2), HONE_EBUSY);
    assert_int_equal(w1, 150 * MS);
    assert_int_equal(w2, w1);
    fake_advance(&fc, w1);
    assert_int_equal(drain(l), 1);
    hone_limiter_free(l);
}

static void three_per_second_stays_exact_over_time(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, 5 * SEC);
    /* Burst 2: with burst 1 a permit taken 0.67 ms late (the 1 ms polling
     * here) loses that slack, as GCRA must; with room for 2 it is kept.
     * Two at once, then one every 1/3 s: at 100 s, exactly 2 + 300. */
    hone_limiter *l = mk(&fc, 3, 2);
    unsigned total = 0;
    for (uint64_t t = 0; t <= 100000; t++) {
        total += drain(l);
        if (t < 100000) fake_advance(&fc, MS);
    }
    assert_int_equal(total, 302);
    hone_limiter_free(l);
}

static void acquire_until_respects_the_deadline_without_sleeping(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, 10 * SEC);
    hone_limiter *l = mk(&fc, 10, 1);
    assert_int_equal(hone_limiter_acquire_until(l, 1, 0), HONE_OK);
    assert_int_equal(atomic_load(&fc.sleeps), 0);
    /* The next permit is 100 ms away: a deadline 99 ms away fails at once. */
    uint64_t now = fake_get(&fc);
    assert_int_equal(hone_limiter_acquire_until(l, 1, now + 99 * MS), HONE_ETIMEDOUT);
    assert_int_equal(atomic_load(&fc.sleeps), 0);
    assert_int_equal(fake_get(&fc), now);
    /* 100 ms away is enough: one sleep of exactly the wait. */
    assert_int_equal(hone_limiter_acquire_until(l, 1, now + 100 * MS), HONE_OK);
    assert_int_equal(atomic_load(&fc.sleeps), 1);
    assert_int_equal(atomic_load(&fc.slept_ns), 100 * MS);
    assert_int_equal(fake_get(&fc), now + 100 * MS);
    /* No deadline: sleeps as long as needed. */
    assert_int_equal(hone_limiter_acquire_until(l, 1, 0), HONE_OK);
    assert_int_equal(atomic_load(&fc.slept_ns), 200 * MS);
    /* Never admissible: ETIMEDOUT with a deadline, EBUSY without, no sleep. */
    assert_int_equal(hone_limiter_acquire_until(l, 2, fake_get(&fc) + 3600 * SEC), HONE_ETIMEDOUT);
    assert_int_equal(hone_limiter_acquire_until(l, 2, 0), HONE_EBUSY);
    hone_limiter *deny = mk(&fc, 0, 1);
    assert_int_equal(hone_limiter_acquire_until(deny, 1, 0), HONE_EBUSY);
    assert_int_equal(atomic_load(&fc.sleeps), 2);
    /* A deadline already past fails even when a permit is due now+wait. */
    assert_int_equal(hone_limiter_acquire_until(l, 1, fake_get(&fc) - 1), HONE_ETIMEDOUT);
    hone_limiter_free(deny);
    hone_limiter_free(l);
}

typedef struct hammer_arg {
    hone_limiter *l;
    pthread_barrier_t *bar;
    unsigned rounds, tries, admitted;
} hammer_arg;

static void *hammer(void *p) {
    hammer_arg *a = p;
    for (unsigned r = 0; r < a->rounds; r++) {
        pthread_barrier_wait(a->bar); /* the main thread moved the clock */
        for (unsigned i = 0; i < a->tries; i++)
            if (hone_limiter_acquire(a->l, 1, NULL) == HONE_OK) a->admitted++;
        pthread_barrier_wait(a->bar);
    }
    return NULL;
}

static void two_threads_admit_exactly_the_permits_due(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_limiter *l = mk(&fc, 1000, 100); /* T = 1 ms */
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 3);
    hammer_arg a[2];
    pthread_t th[2];
    const unsigned rounds = 20;
    for (int i = 0; i < 2; i++) {
        a[i] = (hammer_arg){.l = l, .bar = &bar, .rounds = rounds, .tries = 2000};
        pthread_create(&th[i], NULL, hammer, &a[i]);
    }
    for (unsigned r = 0; r < rounds; r++) {
        if (r) fake_advance(&fc, 37 * MS); /* 37 permits due each round */
        pthread_barrier_wait(&bar);
        pthread_barrier_wait(&bar);
    }
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    /* Each round the threads try far more than is due, so the total is
     * the burst plus one permit per millisecond that passed. */
    assert_int_equal(a[0].admitted + a[1].admitted, 100 + 37 * (rounds - 1));
    hone_limiter_free(l);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(burst_after_idle_then_one_per_interval),
    cmocka_unit_test(cost_over_burst_is_refused_forever),
    cmocka_unit_test(rate_zero_denies_and_infinity_admits),
    cmocka_unit_test(absurd_rates_are_clamped_without_overflow),
    cmocka_unit_test(refusal_changes_nothing_and_peek_takes_nothing),
    cmocka_unit_test(three_per_second_stays_exact_over_time),
    cmocka_unit_test(acquire_until_respects_the_deadline_without_sleeping),
    cmocka_unit_test(two_threads_admit_exactly_the_permits_due),
};
HONE_TEST_MAIN(tests)
