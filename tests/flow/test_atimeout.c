/* test_atimeout.c - the adaptive timeout: the maximum until enough
 * successes, then a percentile times a factor, clamped, over a window that
 * forgets, recomputed on its cadence; and use from two threads. */
#include "test.h"

#include <pthread.h>

#include "fake_clock.h"

static hone_atimeout *mk(hone_atimeout_opts o) {
    hone_atimeout *t = NULL;
    assert_int_equal(hone_atimeout_new(&t, &o), HONE_OK);
    assert_non_null(t);
    return t;
}

static void max_until_min_samples_then_percentile_times_factor(void **state) {
    (void)state;
    hone_atimeout *t = mk((hone_atimeout_opts){.min_samples = 100, .window = 100,
                                               .recompute_every = 1, .min_ns = 1, .max_ns = 60 * SEC});
    for (uint64_t i = 1; i <= 99; i++) {
        /* shuffled order: 1..99 ms */
        hone_atimeout_record(t, ((i * 37) % 100) * MS);
        assert_int_equal(hone_atimeout_get(t), 60 * SEC);
    }
    hone_atimeout_record(t, 100 * MS);
    /* 1..99 and 100 ms: the 99th percentile (nearest rank) is 99 ms. */
    assert_int_equal(hone_atimeout_get(t), 2 * 99 * MS);
    hone_atimeout_free(t);

    t = mk((hone_atimeout_opts){.percentile = 50, .factor = 3, .min_samples = 10, .window = 10,
                                .recompute_every = 1, .min_ns = 1});
    for (uint64_t i = 1; i <= 10; i++) hone_atimeout_record(t, i * MS);
    assert_int_equal(hone_atimeout_get(t), 15 * MS);
    hone_atimeout_free(t);
}

static void clamped_to_min_and_max(void **state) {
    (void)state;
    hone_atimeout *t = mk((hone_atimeout_opts){.min_samples = 5, .window = 5, .recompute_every = 1,
                                               .min_ns = 50 * MS, .max_ns = SEC});
    for (int i = 0; i < 5; i++) hone_atimeout_record(t, MS);
    assert_int_equal(hone_atimeout_get(t), 50 * MS);
    for (int i = 0; i < 5; i++) hone_atimeout_record(t, UINT64_MAX / 2);
    assert_int_equal(hone_atimeout_get(t), SEC); /* factor 2 would overflow: clamped */
    hone_atimeout_free(t);
    /* Defaults: 99th, x2, [10 ms, 30 s], 20 samples. */
    t = mk((hone_atimeout_opts){0});
    for (int i = 0; i < 19; i++) hone_atimeout_record(t, 100 * MS);
    assert_int_equal(hone_atimeout_get(t), 30 * SEC);
    hone_atimeout_record(t, 100 * MS);
    assert_int_equal(hone_atimeout_get(t), 200 * MS);
    hone_atimeout_free(t);
}

static void the_window_forgets_and_recomputes_on_its_cadence(void **state) {
    (void)state;
    hone_atimeout *t = mk((hone_atimeout_opts){.min_samples = 10, .window = 50, .recompute_every = 10,
                                               .factor = 1, .min_ns = 1});
    for (int i = 0; i < 50; i++) hone_atimeout_record(t, SEC);
    assert_int_equal(hone_atimeout_get(t), SEC);
    for (int i = 0; i < 9; i++) hone_atimeout_record(t, MS);
    assert_int_equal(hone_atimeout_get(t), SEC); /* cached: 9 records since */
    for (int i = 0; i < 41; i++) hone_atimeout_record(t, MS);
    /* The window now holds only the 50 fast ones. */
    assert_int_equal(hone_atimeout_get(t), MS);
    hone_atimeout_free(t);
}

static void bad_options(void **state) {
    (void)state;
    hone_atimeout *t = NULL;
    hone_atimeout_opts o = {.percentile = 101};
    assert_int_equal(hone_atimeout_new(&t, &o), HONE_EINVAL);
    assert_null(t);
    o = (hone_atimeout_opts){.min_ns = 2 * SEC, .max_ns = SEC};
    assert_int_equal(hone_atimeout_new(&t, &o), HONE_EINVAL);
    o = (hone_atimeout_opts){.factor = -1};
    assert_int_equal(hone_atimeout_new(&t, &o), HONE_EINVAL);
    assert_int_equal(hone_atimeout_new(&t, NULL), HONE_EINVAL);
    hone_atimeout_free(NULL);
}

static void *at_worker(void *p) {
    hone_atimeout *t = p;
    for (uint64_t i = 0; i < 20000; i++) {
        hone_atimeout_record(t, (i % 100 + 1) * MS);
        uint64_t v = hone_atimeout_get(t);
        if (v < 10 * MS || v > 30 * SEC) return (void *)1;
    }
    return NULL;
}

static void two_threads_record_and_read(void **state) {
    (void)state;
    hone_atimeout *t = mk((hone_atimeout_opts){.window = 200, .recompute_every = 1, .factor = 1});
    pthread_t th[2];
    void *r[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, at_worker, t);
    for (int i = 0; i < 2; i++) pthread_join(th[i], &r[i]);
    assert_null(r[0]);
    assert_null(r[1]);
    /* Which thread wrote last is not known; a known window after them is. */
    for (uint64_t i = 0; i < 200; i++) hone_atimeout_record(t, (i % 100 + 1) * MS);
    assert_int_equal(hone_atimeout_get(t), 99 * MS);
    hone_atimeout_free(t);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(max_until_min_samples_then_percentile_times_factor),
    cmocka_unit_test(clamped_to_min_and_max),
    cmocka_unit_test(the_window_forgets_and_recomputes_on_its_cadence),
    cmocka_unit_test(bad_options),
    cmocka_unit_test(two_threads_record_and_read),
};
HONE_TEST_MAIN(tests)
