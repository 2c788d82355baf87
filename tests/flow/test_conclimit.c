/* test_conclimit.c - the adaptive concurrency limit: the cap on calls in
 * flight, growth while latency holds, shrinking on drops and on rising
 * latency, the bounds, and use from two threads. */
#include "test.h"

#include <pthread.h>

#include "fake_clock.h"

static hone_conclimit *mk(uint32_t initial, uint32_t min, uint32_t max) {
    hone_conclimit_opts o = {.initial = initial, .min = min, .max = max};
    hone_conclimit *l = NULL;
    assert_int_equal(hone_conclimit_new(&l, &o), HONE_OK);
    assert_non_null(l);
    return l;
}

/* Fills the limit, then releases every call with `latency`: one round of a
 * saturated client. Returns the calls that were in flight. */
static uint32_t round_at(hone_conclimit *l, uint64_t latency, int dropped) {
    uint32_t n = 0;
    while (hone_conclimit_acquire(l) == HONE_OK) n++;
    assert_int_equal(hone_conclimit_inflight(l), n);
    for (uint32_t i = 0; i < n; i++) hone_conclimit_release(l, latency, dropped);
    assert_int_equal(hone_conclimit_inflight(l), 0);
    return n;
}

static void in_flight_is_capped_at_the_limit(void **state) {
    (void)state;
    hone_conclimit *l = mk(0, 0, 0); /* defaults: 20 in [1, 1000] */
    assert_int_equal(hone_conclimit_limit(l), 20);
    assert_int_equal(round_at(l, MS, 0), 20);
    hone_conclimit_free(l);
    l = mk(5000, 2, 50);
    assert_int_equal(hone_conclimit_limit(l), 50); /* initial clamped */
    hone_conclimit_free(l);
    hone_conclimit_opts bad = {.min = 10, .max = 5};
    assert_int_equal(hone_conclimit_new(&l, &bad), HONE_EINVAL);
    assert_null(l);
    hone_conclimit_free(NULL);
}

static void grows_while_latency_holds_up_to_max(void **state) {
    (void)state;
    hone_conclimit *l = mk(10, 1, 200);
    uint32_t before = hone_conclimit_limit(l);
    round_at(l, MS, 0);
    uint32_t after = hone_conclimit_limit(l);
    assert_true(after > before);
    for (int r = 0; r < 200; r++) round_at(l, MS, 0);
    assert_int_equal(hone_conclimit_limit(l), 200);
    hone_conclimit_free(l);
}

static void does_not_grow_when_the_caller_is_the_bottleneck(void **state) {
    (void)state;
    hone_conclimit *l = mk(40, 1, 1000);
    /* One call at a time: far below half the limit. */
    for (int i = 0; i < 500; i++) {
        assert_int_equal(hone_conclimit_acquire(l), HONE_OK);
        hone_conclimit_release(l, MS, 0);
    }
    assert_int_equal(hone_conclimit_limit(l), 40);
    hone_conclimit_free(l);
}

static void drops_cut_the_limit_down_to_min(void **state) {
    (void)state;
    hone_conclimit *l = mk(100, 3, 1000);
    assert_int_equal(hone_conclimit_acquire(l), HONE_OK);
    hone_conclimit_release(l, 0, 1);
    assert_int_equal(hone_conclimit_limit(l), 90);
    for (int i = 0; i < 100; i++) round_at(l, 0, 1);
    assert_int_equal(hone_conclimit_limit(l), 3);
    hone_conclimit_free(l);
}

static void rising_latency_shrinks_the_limit(void **state) {
    (void)state;
    hone_conclimit *l = mk(50, 1, 1000);
    for (int r = 0; r < 3; r++) round_at(l, MS, 0);
    uint32_t settled = hone_conclimit_limit(l);
    assert_true(settled > 50);
    for (int r = 0; r < 5; r++) round_at(l, 20 * MS, 0); /* queueing: 20x the RTT */
    uint32_t loaded = hone_conclimit_limit(l);
    assert_true(loaded < settled / 2);
    assert_true(loaded >= 1);
    hone_conclimit_free(l);
}

static void *cl_worker(void *p) {
    hone_conclimit *l = p;
    for (int i = 0; i < 20000; i++) {
        if (hone_conclimit_acquire(l) == HONE_OK) hone_conclimit_release(l, MS, i % 50 == 0);
        (void)hone_conclimit_limit(l);
    }
    return NULL;
}

static void two_threads_balance_in_flight(void **state) {
    (void)state;
    hone_conclimit *l = mk(4, 2, 8);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, cl_worker, l);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    assert_int_equal(hone_conclimit_inflight(l), 0);
    uint32_t lim = hone_conclimit_limit(l);
    assert_true(lim >= 2 && lim <= 8);
    hone_conclimit_free(l);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(in_flight_is_capped_at_the_limit),
    cmocka_unit_test(grows_while_latency_holds_up_to_max),
    cmocka_unit_test(does_not_grow_when_the_caller_is_the_bottleneck),
    cmocka_unit_test(drops_cut_the_limit_down_to_min),
    cmocka_unit_test(rising_latency_shrinks_the_limit),
    cmocka_unit_test(two_threads_balance_in_flight),
};
HONE_TEST_MAIN(tests)
