/* test_clock.c - the monotonic clock, cycle conversion and clock info.
 * Nothing here asserts how fast anything is; the checks are that the clock
 * never goes backwards, that conversions are consistent, and that the
 * calibrated clock tracks CLOCK_MONOTONIC. */
#include "test.h"

#include <pthread.h>

static void now_never_goes_backwards(void **state) {
    (void)state;
    uint64_t prev = hone_now_ns();
    for (int i = 0; i < 200000; i++) {
        uint64_t t = hone_now_ns();
        if (t < prev) fail_msg("hone_now_ns went back from %llu to %llu", (unsigned long long)prev,
                               (unsigned long long)t);
        prev = t;
    }
}

static void *reader(void *arg) {
    uint64_t *bad = arg;
    uint64_t prev = hone_now_ns();
    for (int i = 0; i < 100000; i++) {
        uint64_t t = hone_now_ns();
        if (t < prev) (*bad)++;
        prev = t;
    }
    return NULL;
}

/* The first calls race to calibrate; all threads must see one calibration. */
static void concurrent_readers_agree(void **state) {
    (void)state;
    pthread_t th[4];
    uint64_t bad[4] = {0};
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, reader, &bad[i]);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) assert_int_equal(bad[i], 0);
}

static void cycle_conversion_is_consistent(void **state) {
    (void)state;
    double hz = hone_cycles_per_sec();
    assert_true(hz > 1e6);
    uint64_t one_sec = hone_cycles_to_ns((uint64_t)hz);
    if (one_sec < 999000000u || one_sec > 1001000000u)
        fail_msg("hone_cycles_to_ns(%.0f) = %llu, expected 1e9 +- 0.1%%", hz,
                 (unsigned long long)one_sec);
    assert_int_equal(hone_cycles_to_ns(0), 0);
}

static void pair(uint64_t *now, uint64_t *mono) {
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 16; i++) {
        uint64_t a = hone_monotonic_ns(), n = hone_now_ns(), b = hone_monotonic_ns();
        if (b - a < best) best = b - a, *now = n, *mono = a + (b - a) / 2;
    }
}

/* Calibration error is parts per million; 1 % over 50 ms leaves room for
 * any scheduling noise while catching a wrong multiplier. */
static void calibrated_clock_tracks_monotonic(void **state) {
    (void)state;
    uint64_t n0 = 0, m0 = 0, n1 = 0, m1 = 0;
    pair(&n0, &m0);
    do pair(&n1, &m1);
    while (m1 - m0 < 50000000u);
    double drift = ((double)(n1 - n0) - (double)(m1 - m0)) / (double)(m1 - m0);
    if (drift > 0.01 || drift < -0.01)
        fail_msg("hone_now_ns advanced %llu ns while CLOCK_MONOTONIC advanced %llu ns",
                 (unsigned long long)(n1 - n0), (unsigned long long)(m1 - m0));
}

static void clock_info_is_filled(void **state) {
    (void)state;
    hone_clock_info ci;
    assert_int_equal(hone_clock_info_get(NULL), HONE_EINVAL);
    assert_int_equal(hone_clock_info_get(&ci), HONE_OK);
    assert_true(ci.source == HONE_CLOCK_TSC || ci.source == HONE_CLOCK_MONOTONIC);
    if (ci.source == HONE_CLOCK_TSC) {
        assert_true(ci.invariant_tsc);
        assert_true(ci.tsc_hz > 1e6);
    }
    assert_int_equal(ci.invariant_tsc, (hone_cpu_features_hw() & HONE_CPU_INVARIANT_TSC) != 0);
    assert_true(ci.resolution_ns > 0);
    assert_true(ci.cycles_read_ns > 0);
    assert_true(ci.gettime_read_ns > 0);
    assert_true(ci.now_read_ns > 0);
    assert_string_equal(hone_clock_source_name(HONE_CLOCK_TSC), "tsc");
    assert_string_equal(hone_clock_source_name(HONE_CLOCK_MONOTONIC), "monotonic");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(now_never_goes_backwards),
    cmocka_unit_test(concurrent_readers_agree),
    cmocka_unit_test(cycle_conversion_is_consistent),
    cmocka_unit_test(calibrated_clock_tracks_monotonic),
    cmocka_unit_test(clock_info_is_filled),
};
HONE_TEST_MAIN(tests)
