/* test_retry.c - backoff delays and their distribution (fixed seeds, no
 * timing), the retry budget's window, and the retry policy's attempts,
 * deadlines, pushback and budget rules, all on a fake clock. */
#include "test.h"

#include <string.h>

#include "fake_clock.h"

static uint64_t expo(uint64_t base, uint64_t cap, unsigned k) {
    uint64_t v = base;
    for (unsigned i = 1; i < k && v < cap; i++) v *= 2;
    return v < cap ? v : cap;
}

static void full_jitter_is_uniform_below_the_exponential(void **state) {
    (void)state;
    hone_backoff_opts o = {.base_ns = 100 * MS, .cap_ns = 10 * SEC, .jitter = HONE_JITTER_FULL};
    hone_backoff b;
    hone_backoff_init(&b, &o, 42);
    for (unsigned k = 1; k <= 12; k++) {
        uint64_t hi = expo(100 * MS, 10 * SEC, k);
        double sum = 0;
        uint64_t lo_seen = UINT64_MAX, hi_seen = 0;
        const int n = 20000;
        for (int i = 0; i < n; i++) {
            uint64_t d = hone_backoff_next(&b, k);
            assert_true(d <= hi);
            sum += (double)d;
            if (d < lo_seen) lo_seen = d;
            if (d > hi_seen) hi_seen = d;
        }
        /* Mean of uniform [0, hi] is hi/2; 20000 draws put it within 2 %
         * (the standard error is 0.4 %), and a fixed seed makes it fixed. */
        double mean = sum / n;
        assert_true(mean > 0.49 * (double)hi && mean < 0.51 * (double)hi);
        assert_true(lo_seen < hi / 100 && hi_seen > hi - hi / 100); /* spans the range */
    }
}

static void decorrelated_jitter_stays_between_base_and_three_times_prev(void **state) {
    (void)state;
    hone_backoff_opts o = {.base_ns = 10 * MS, .cap_ns = 2 * SEC, .jitter = HONE_JITTER_DECORRELATED};
    hone_backoff b;
    hone_backoff_init(&b, &o, 7);
    uint64_t prev = 10 * MS, max_seen = 0;
    for (unsigned k = 1; k <= 5000; k++) {
        unsigned retry = (k % 50) + 1; /* restarts every 50 */
        if (retry == 1) prev = 10 * MS;
        uint64_t d = hone_backoff_next(&b, retry);
        uint64_t hi = prev * 3 < 2 * SEC ? prev * 3 : 2 * SEC;
        assert_true(d >= 10 * MS);
        assert_true(d <= hi);
        if (d > max_seen) max_seen = d;
        prev = d;
    }
    assert_int_equal(max_seen, 2 * SEC); /* it reaches the cap and stays under it */
}

static void no_jitter_doubles_up_to_the_cap_and_never_overflows(void **state) {
    (void)state;
    hone_backoff_opts o = {.base_ns = 100 * MS, .cap_ns = 1 * SEC, .jitter = HONE_JITTER_NONE};
    hone_backoff b;
    hone_backoff_init(&b, &o, 1);
    assert_int_equal(hone_backoff_next(&b, 0), 100 * MS);
    assert_int_equal(hone_backoff_next(&b, 1), 100 * MS);
    assert_int_equal(hone_backoff_next(&b, 2), 200 * MS);
    assert_int_equal(hone_backoff_next(&b, 4), 800 * MS);
    assert_int_equal(hone_backoff_next(&b, 5), 1 * SEC);
    assert_int_equal(hone_backoff_next(&b, 1000), 1 * SEC);
    /* An unbounded cap and a huge base: saturates, no overflow. */
    hone_backoff_opts huge = {.base_ns = UINT64_MAX / 3, .cap_ns = UINT64_MAX};
    for (int j = 0; j < 3; j++) {
        huge.jitter = (hone_jitter)j;
        hone_backoff_init(&b, &huge, 9);
        for (unsigned r = 1; r <= 1000; r += 37) {
            uint64_t d = hone_backoff_next(&b, r);
            if (j == HONE_JITTER_NONE) assert_true(d == (r == 1 ? UINT64_MAX / 3 : UINT64_MAX));
            if (j == HONE_JITTER_DECORRELATED) assert_true(d >= UINT64_MAX / 3);
        }
        assert_true(hone_backoff_next(&b, UINT32_MAX) <= UINT64_MAX);
    }
    /* Defaults: 100 ms base, 10 s cap. */
    hone_backoff_init(&b, NULL, 3);
    assert_int_equal(b.o.base_ns, 100 * MS);
    assert_int_equal(b.o.cap_ns, 10 * SEC);
    assert_true(hone_backoff_next(&b, 1000) <= 10 * SEC);
}

static void same_seed_same_delays(void **state) {
    (void)state;
    hone_backoff a, b, c;
    hone_backoff_init(&a, NULL, 1234);
    hone_backoff_init(&b, NULL, 1234);
    hone_backoff_init(&c, NULL, 4321);
    int differ = 0;
    for (unsigned k = 1; k < 20; k++) {
        uint64_t x = hone_backoff_next(&a, k), y = hone_backoff_next(&b, k);
        assert_int_equal(x, y);
        differ += hone_backoff_next(&c, k) != x;
    }
    assert_true(differ > 15);
}

static hone_retry_budget *mkbudget(fake_clock *fc, double ratio, uint32_t min_per_sec,
                                   uint64_t window) {
    hone_retry_budget_opts o = {.ratio = ratio, .min_per_sec = min_per_sec, .window_ns = window,
                                .clock = &fc->clock};
    hone_retry_budget *b = NULL;
    assert_int_equal(hone_retry_budget_new(&b, &o), HONE_OK);
    return b;
}

static int withdraw_all(hone_retry_budget *b) {
    int n = 0;
    while (hone_retry_budget_withdraw(b) == HONE_OK) n++;
    return n;
}

static void budget_allows_a_fraction_of_requests_or_the_floor(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, 100 * SEC);
    /* Floor: 1/s over a 10 s window = 10 retries with no requests. */
    hone_retry_budget *b = mkbudget(&fc, 0.25, 1, 10 * SEC);
    assert_int_equal(withdraw_all(b), 10);
    /* 200 requests: 25 % is 50 retries in the window, 10 already taken. */
    for (int i = 0; i < 200; i++) hone_retry_budget_request(b);
    assert_int_equal(withdraw_all(b), 40);
    /* Spent stays spent until the window moves on... */
    fake_advance(&fc, 9 * SEC);
    assert_int_equal(hone_retry_budget_withdraw(b), HONE_EBUSY);
    /* ...and once those buckets leave the window, only the floor is left. */
    fake_advance(&fc, 1 * SEC);
    assert_int_equal(withdraw_all(b), 10);
    hone_retry_budget_free(b);
    /* Defaults: 10 %, 10/s, 10 s: a floor of 100. */
    b = mkbudget(&fc, 0, 0, 0);
    assert_int_equal(withdraw_all(b), 100);
    for (int i = 0; i < 1000; i++) hone_retry_budget_request(b);
    assert_int_equal(withdraw_all(b), 0); /* 10 % of 1000 is the floor's 100 */
    for (int i = 0; i < 1000; i++) hone_retry_budget_request(b);
    assert_int_equal(withdraw_all(b), 100); /* 200 in all: 10 % of 2000 */
    hone_retry_budget_free(b);
    assert_int_equal(hone_retry_budget_withdraw(NULL), HONE_OK);
    hone_retry_budget_request(NULL);
    hone_retry_budget_opts bad = {.ratio = -1};
    assert_int_equal(hone_retry_budget_new(&b, &bad), HONE_EINVAL);
    assert_null(b);
    hone_retry_budget_free(NULL);
}

static void attempts_are_limited(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_retry_opts o = {.max_attempts = 3, .clock = &fc.clock, .seed = 5};
    hone_retry r;
    hone_retry_begin(&r, &o, 0);
    uint64_t t = 1, d = 0;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(hone_retry_attempt(&r, &t), HONE_OK);
        assert_int_equal(t, 0); /* no timeout, no deadline: unbounded */
        assert_int_equal(hone_retry_failed(&r, 1, UINT64_MAX, &d), HONE_OK);
        assert_true(d <= expo(100 * MS, 10 * SEC, (unsigned)i + 1));
    }
    assert_int_equal(hone_retry_attempt(&r, &t), HONE_OK);
    assert_int_equal(r.attempts, 3);
    assert_int_equal(hone_retry_failed(&r, 1, UINT64_MAX, &d), HONE_EFAIL);
    /* Not retryable: stops at once. */
    hone_retry_begin(&r, &o, 0);
    assert_int_equal(hone_retry_attempt(&r, &t), HONE_OK);
    assert_int_equal(hone_retry_failed(&r, 0, UINT64_MAX, &d), HONE_EFAIL);
    /* Defaults: 3 attempts, 1 ms minimum. */
    hone_retry_begin(&r, NULL, 0);
    assert_int_equal(r.o.max_attempts, 3);
    assert_int_equal(r.o.min_attempt_ns, MS);
}

static void attempt_timeout_is_the_smaller_of_its_own_and_what_is_left(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_retry_opts o = {.max_attempts = 10, .attempt_timeout_ns = 300 * MS, .clock = &fc.clock};
    hone_retry r;
    hone_retry_begin(&r, &o, fake_get(&fc) + SEC);
    uint64_t t = 0;
    assert_int_equal(hone_retry_attempt(&r, &t), HONE_OK);
    assert_int_equal(t, 300 * MS);
    fake_advance(&fc, 800 * MS);
    assert_int_equal(hone_retry_attempt(&r, &t), HONE_OK);
    assert_int_equal(t, 200 * MS);
    /* Exactly min_attempt_ns left still starts; less does not. */
    fake_advance(&fc, 199 * MS);
    assert_int_equal(hone_retry_attempt(&r, &t), HONE_OK);
    assert_int_equal(t, MS);
    fake_advance(&fc, 1);
    t = 12345;
    assert_int_equal(hone_retry_attempt(&r, &t), HONE_ETIMEDOUT);
    assert_int_equal(t, 12345);
    assert_int_equal(r.attempts, 3);
    /* Past the deadline. */
    fake_advance(&fc, SEC);
    assert_int_equal(hone_retry_attempt(&r, &t), HONE_ETIMEDOUT);
    /* No attempt timeout: the time left. */
    o.attempt_timeout_ns = 0;
    hone_retry_begin(&r, &o, fake_get(&fc) + 5 * SEC);
    assert_int_equal(hone_retry_attempt(&r, &t), HONE_OK);
    assert_int_equal(t, 5 * SEC);
}

static void pushback_replaces_the_backoff_and_the_deadline_bounds_it(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_retry_opts o = {.max_attempts = 5,
                         .backoff = {.base_ns = 100 * MS, .jitter = HONE_JITTER_NONE},
                         .clock = &fc.clock};
    hone_retry r;
    uint64_t t, d = 0;
    hone_retry_begin(&r, &o, fake_get(&fc) + 10 * SEC);
    assert_int_equal(hone_retry_attempt(&r, &t), HONE_OK);
    assert_int_equal(hone_retry_failed(&r, 1, 2 * SEC, &d), HONE_OK);
    assert_int_equal(d, 2 * SEC);
    assert_int_equal(hone_retry_attempt(&r, &t), HONE_OK);
    assert_int_equal(hone_retry_failed(&r, 1, 0, &d), HONE_OK); /* "retry now" */
    assert_int_equal(d, 0);
    assert_int_equal(hone_retry_attempt(&r, &t), HONE_OK);
    assert_int_equal(hone_retry_failed(&r, 1, UINT64_MAX, &d), HONE_OK); /* computed */
    assert_int_equal(d, 400 * MS);
    /* A pushback that would end past the deadline (with the minimum
     * attempt after it) stops the call. */
    assert_int_equal(hone_retry_attempt(&r, &t), HONE_OK);
    assert_int_equal(hone_retry_failed(&r, 1, 10 * SEC, &d), HONE_ETIMEDOUT);
    assert_int_equal(hone_retry_failed(&r, 1, 10 * SEC - MS, &d), HONE_OK);
    /* The computed backoff obeys the same rule. */
    hone_retry_begin(&r, &o, fake_get(&fc) + 100 * MS);
    assert_int_equal(hone_retry_attempt(&r, &t), HONE_OK);
    assert_int_equal(hone_retry_failed(&r, 1, UINT64_MAX, &d), HONE_ETIMEDOUT);
}

static void a_spent_budget_fails_fast(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_retry_budget *b = mkbudget(&fc, 0.5, 1, 2 * SEC); /* floor 2 */
    hone_retry_opts o = {.max_attempts = 100, .budget = b, .clock = &fc.clock, .seed = 3};
    hone_retry r;
    uint64_t t, d;
    /* 10 logical calls deposit 10 requests: 5 retries allowed in all. */
    int retried = 0, busy = 0;
    for (int c = 0; c < 10; c++) {
        hone_retry_begin(&r, &o, 0);
        assert_int_equal(hone_retry_attempt(&r, &t), HONE_OK);
        int rc = hone_retry_failed(&r, 1, UINT64_MAX, &d);
        if (rc == HONE_OK) retried++;
        else if (rc == HONE_EBUSY) busy++;
    }
    assert_int_equal(retried, 5);
    assert_int_equal(busy, 5);
    /* A refusal for another reason does not spend the budget. */
    fake_advance(&fc, 2 * SEC);
    hone_retry_begin(&r, &o, fake_get(&fc) + 10 * MS);
    assert_int_equal(hone_retry_attempt(&r, &t), HONE_OK);
    assert_int_equal(hone_retry_failed(&r, 1, 20 * MS, &d), HONE_ETIMEDOUT);
    assert_int_equal(hone_retry_failed(&r, 0, UINT64_MAX, &d), HONE_EFAIL);
    assert_int_equal(withdraw_all(b), 2); /* the floor, untouched */
    hone_retry_budget_free(b);
}

typedef struct script {
    int fail_first;     /* attempts that fail before one succeeds; -1 all */
    int retryable;
    uint64_t pushback;
    unsigned calls;
    unsigned attempt_seen[8];
    uint64_t timeout_seen[8];
    fake_clock *fc;
} script;

static int scripted(void *ctx, unsigned attempt, uint64_t timeout_ns, int *retryable,
                    uint64_t *pushback_ns) {
    script *s = ctx;
    assert_int_equal(*retryable, 0);
    assert_true(*pushback_ns == UINT64_MAX);
    if (s->calls < 8) s->attempt_seen[s->calls] = attempt, s->timeout_seen[s->calls] = timeout_ns;
    s->calls++;
    fake_advance(s->fc, 50 * MS); /* each attempt takes 50 ms */
    if (s->fail_first >= 0 && (int)s->calls > s->fail_first) return HONE_OK;
    *retryable = s->retryable;
    *pushback_ns = s->pushback;
    return HONE_EIO;
}

static void run_sleeps_the_delays_on_the_clock(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_retry_opts o = {.max_attempts = 4,
                         .backoff = {.base_ns = 100 * MS, .jitter = HONE_JITTER_NONE},
                         .attempt_timeout_ns = 400 * MS,
                         .clock = &fc.clock};
    /* Two failures then success: slept 100 + 200 ms, attempts numbered. */
    script s = {.fail_first = 2, .retryable = 1, .pushback = UINT64_MAX, .fc = &fc};
    uint64_t start = fake_get(&fc);
    assert_int_equal(hone_retry_run(&o, start + 700 * MS, scripted, &s), HONE_OK);
    assert_int_equal(s.calls, 3);
    assert_int_equal(atomic_load(&fc.slept_ns), 300 * MS);
    assert_int_equal(fake_get(&fc), start + 3 * 50 * MS + 300 * MS);
    for (unsigned i = 0; i < 3; i++) assert_int_equal(s.attempt_seen[i], i + 1);
    assert_int_equal(s.timeout_seen[0], 400 * MS);
    assert_int_equal(s.timeout_seen[1], 400 * MS); /* 550 ms left */
    assert_int_equal(s.timeout_seen[2], 300 * MS); /* 300 ms left */
    /* Always failing: the last attempt's status after max_attempts. */
    s = (script){.fail_first = -1, .retryable = 1, .pushback = UINT64_MAX, .fc = &fc};
    assert_int_equal(hone_retry_run(&o, 0, scripted, &s), HONE_EIO);
    assert_int_equal(s.calls, 4);
    /* Not retryable: one call. */
    s = (script){.fail_first = -1, .retryable = 0, .pushback = UINT64_MAX, .fc = &fc};
    assert_int_equal(hone_retry_run(&o, 0, scripted, &s), HONE_EIO);
    assert_int_equal(s.calls, 1);
    /* Pushback past the deadline: the status that stopped it. */
    s = (script){.fail_first = -1, .retryable = 1, .pushback = 5 * SEC, .fc = &fc};
    assert_int_equal(hone_retry_run(&o, fake_get(&fc) + SEC, scripted, &s), HONE_ETIMEDOUT);
    assert_int_equal(s.calls, 1);
    /* A deadline too close for even one attempt: fn is never called. */
    s = (script){.fail_first = 0, .fc = &fc};
    uint64_t sleeps = atomic_load(&fc.sleeps);
    assert_int_equal(hone_retry_run(&o, fake_get(&fc) + MS / 2, scripted, &s), HONE_ETIMEDOUT);
    assert_int_equal(s.calls, 0);
    assert_int_equal(atomic_load(&fc.sleeps), sleeps);
    /* A spent budget. */
    hone_retry_budget *b = mkbudget(&fc, 0.1, 1, SEC); /* floor 1 */
    o.budget = b;
    s = (script){.fail_first = -1, .retryable = 1, .pushback = UINT64_MAX, .fc = &fc};
    assert_int_equal(hone_retry_run(&o, 0, scripted, &s), HONE_EBUSY);
    assert_int_equal(s.calls, 2);
    hone_retry_budget_free(b);
    assert_int_equal(hone_retry_run(&o, 0, NULL, NULL), HONE_EINVAL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(full_jitter_is_uniform_below_the_exponential),
    cmocka_unit_test(decorrelated_jitter_stays_between_base_and_three_times_prev),
    cmocka_unit_test(no_jitter_doubles_up_to_the_cap_and_never_overflows),
    cmocka_unit_test(same_seed_same_delays),
    cmocka_unit_test(budget_allows_a_fraction_of_requests_or_the_floor),
    cmocka_unit_test(attempts_are_limited),
    cmocka_unit_test(attempt_timeout_is_the_smaller_of_its_own_and_what_is_left),
    cmocka_unit_test(pushback_replaces_the_backoff_and_the_deadline_bounds_it),
    cmocka_unit_test(a_spent_budget_fails_fast),
    cmocka_unit_test(run_sleeps_the_delays_on_the_clock),
};
HONE_TEST_MAIN(tests)
