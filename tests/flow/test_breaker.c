/* test_breaker.c - the circuit breaker on a fake clock: when it opens and
 * when not, slow calls, the open period, limited probes, reopening and
 * closing, the sliding window, stats, and use from two threads. */
#include "test.h"

#include <pthread.h>

#include "fake_clock.h"

static hone_breaker *mk(fake_clock *fc, hone_breaker_opts o) {
    o.clock = &fc->clock;
    hone_breaker *b = NULL;
    assert_int_equal(hone_breaker_new(&b, &o), HONE_OK);
    assert_non_null(b);
    return b;
}

static void call(hone_breaker *b, int ok, uint64_t latency) {
    assert_int_equal(hone_breaker_allow(b, NULL), HONE_OK);
    hone_breaker_record(b, ok, latency);
}

static void opens_at_the_failure_rate_after_min_calls_not_before(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_breaker *b = mk(&fc, (hone_breaker_opts){.min_calls = 10, .failure_rate = 0.5});
    for (int i = 0; i < 9; i++) call(b, 0, MS); /* 100 % failures, but 9 calls */
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_CLOSED);
    call(b, 0, MS);
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_OPEN);
    hone_breaker_free(b);

    b = mk(&fc, (hone_breaker_opts){.min_calls = 10, .failure_rate = 0.5});
    for (int i = 0; i < 6; i++) call(b, 1, MS);
    for (int i = 0; i < 5; i++) call(b, 0, MS); /* 5 of 11: below half */
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_CLOSED);
    call(b, 0, MS); /* 6 of 12: at half */
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_OPEN);
    hone_breaker_free(b);
}

static void opens_at_the_slow_call_rate(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_breaker *b = mk(&fc, (hone_breaker_opts){.min_calls = 4, .slow_ns = 100 * MS, .slow_rate = 0.5});
    call(b, 1, 10 * MS);
    call(b, 1, 100 * MS); /* at the threshold is not slow */
    call(b, 1, 101 * MS);
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_CLOSED);
    call(b, 1, SEC);
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_OPEN);
    hone_breaker_stats st;
    hone_breaker_stats_get(b, &st);
    assert_int_equal(st.slow, 2);
    assert_int_equal(st.failures, 0);
    hone_breaker_free(b);
    /* slow_ns 0: latency is never held against a call. */
    b = mk(&fc, (hone_breaker_opts){.min_calls = 4, .slow_rate = 0.1});
    for (int i = 0; i < 10; i++) call(b, 1, 3600 * SEC);
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_CLOSED);
    hone_breaker_free(b);
}

static hone_breaker *tripped(fake_clock *fc, uint32_t probes) {
    hone_breaker *b = mk(fc, (hone_breaker_opts){.min_calls = 5, .open_ns = 5 * SEC,
                                                 .half_open_probes = probes});
    for (int i = 0; i < 5; i++) call(b, 0, MS);
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_OPEN);
    return b;
}

static void open_turns_half_open_after_open_ns_and_limits_probes(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_breaker *b = tripped(&fc, 2);
    uint64_t in = 0;
    assert_int_equal(hone_breaker_allow(b, &in), HONE_EBUSY);
    assert_int_equal(in, 5 * SEC);
    fake_advance(&fc, 4 * SEC);
    assert_int_equal(hone_breaker_allow(b, &in), HONE_EBUSY);
    assert_int_equal(in, 1 * SEC);
    fake_advance(&fc, 1 * SEC);
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_HALF_OPEN);
    assert_int_equal(hone_breaker_allow(b, &in), HONE_OK);
    assert_int_equal(in, 0);
    assert_int_equal(hone_breaker_allow(b, NULL), HONE_OK);
    assert_int_equal(hone_breaker_allow(b, &in), HONE_EBUSY); /* both probes out */
    assert_int_equal(in, 500 * MS);
    /* One probe back fine: still half-open, and its slot is not reissued. */
    hone_breaker_record(b, 1, MS);
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_HALF_OPEN);
    assert_int_equal(hone_breaker_allow(b, NULL), HONE_EBUSY);
    hone_breaker_record(b, 1, MS);
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_CLOSED);
    /* Closed with a fresh window: four failures do not reach min_calls. */
    for (int i = 0; i < 4; i++) call(b, 0, MS);
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_CLOSED);
    hone_breaker_free(b);
}

static void a_failed_probe_opens_it_again(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_breaker *b = tripped(&fc, 3);
    fake_advance(&fc, 5 * SEC);
    assert_int_equal(hone_breaker_allow(b, NULL), HONE_OK);
    assert_int_equal(hone_breaker_allow(b, NULL), HONE_OK);
    hone_breaker_record(b, 1, MS);
    hone_breaker_record(b, 0, MS);
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_OPEN);
    uint64_t in;
    assert_int_equal(hone_breaker_allow(b, &in), HONE_EBUSY);
    assert_int_equal(in, 5 * SEC); /* a whole new open period */
    hone_breaker_stats st;
    hone_breaker_stats_get(b, &st);
    assert_int_equal(st.state, HONE_BREAKER_OPEN);
    assert_int_equal(st.opened, 2);
    assert_int_equal(st.calls, 7);
    assert_int_equal(st.failures, 6);
    assert_int_equal(st.rejected, 1);
    hone_breaker_free(b);
}

static void old_failures_leave_the_window(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_breaker *b = mk(&fc, (hone_breaker_opts){.window_ns = 10 * SEC, .min_calls = 10});
    for (int i = 0; i < 9; i++) call(b, 0, MS);
    fake_advance(&fc, 10 * SEC); /* those nine are out of the window now */
    call(b, 0, MS);
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_CLOSED);
    for (int i = 0; i < 8; i++) call(b, 0, MS);
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_CLOSED);
    call(b, 0, MS);
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_OPEN);
    hone_breaker_free(b);
}

static void names_and_bad_options(void **state) {
    (void)state;
    assert_string_equal(hone_breaker_state_name(HONE_BREAKER_CLOSED), "closed");
    assert_string_equal(hone_breaker_state_name(HONE_BREAKER_OPEN), "open");
    assert_string_equal(hone_breaker_state_name(HONE_BREAKER_HALF_OPEN), "half-open");
    assert_string_equal(hone_breaker_state_name((hone_breaker_state)9), "unknown");
    hone_breaker *b = NULL;
    hone_breaker_opts o = {.failure_rate = 1.5};
    assert_int_equal(hone_breaker_new(&b, &o), HONE_EINVAL);
    assert_null(b);
    assert_int_equal(hone_breaker_new(&b, NULL), HONE_EINVAL);
    hone_breaker_free(NULL);
}

typedef struct br_arg {
    hone_breaker *b;
    unsigned allowed;
} br_arg;

static void *br_worker(void *p) {
    br_arg *a = p;
    for (int i = 0; i < 20000; i++) {
        if (hone_breaker_allow(a->b, NULL) == HONE_OK) {
            a->allowed++;
            hone_breaker_record(a->b, i % 3 != 0, MS);
        }
        if (i % 100 == 0) (void)hone_breaker_get_state(a->b);
    }
    return NULL;
}

static void two_threads_keep_the_counts(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    /* One failure in three stays under 50 %: it never opens. */
    hone_breaker *b = mk(&fc, (hone_breaker_opts){.min_calls = 10});
    br_arg a[2] = {{.b = b}, {.b = b}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, br_worker, &a[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    hone_breaker_stats st;
    hone_breaker_stats_get(b, &st);
    assert_int_equal(a[0].allowed + a[1].allowed, 40000);
    assert_int_equal(st.calls, 40000);
    assert_int_equal(st.failures, 2 * 6667);
    assert_int_equal(st.state, HONE_BREAKER_CLOSED);
    hone_breaker_free(b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(opens_at_the_failure_rate_after_min_calls_not_before),
    cmocka_unit_test(opens_at_the_slow_call_rate),
    cmocka_unit_test(open_turns_half_open_after_open_ns_and_limits_probes),
    cmocka_unit_test(a_failed_probe_opens_it_again),
    cmocka_unit_test(old_failures_leave_the_window),
    cmocka_unit_test(names_and_bad_options),
    cmocka_unit_test(two_threads_keep_the_counts),
};
HONE_TEST_MAIN(tests)
