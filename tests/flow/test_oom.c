/* test_oom.c - out-of-memory loops over every flow call that allocates:
 * each fails cleanly with HONE_ENOMEM and leaks nothing. */
#include "test.h"

#include <stdio.h>
#include <string.h>

#include "fake_clock.h"

static int limiter_run(const hone_allocator *a, void *ctx) {
    hone_limiter_opts o = {.rate = 100, .burst = 10, .alloc = a};
    hone_limiter *l;
    int rc = hone_limiter_new(&l, &o);
    if (rc) return rc;
    rc = hone_limiter_acquire(l, 1, NULL);
    hone_limiter_free(l);
    return rc;
}

static int map_run(const hone_allocator *a, void *ctx) {
    fake_clock *fc = ctx;
    hone_limiter_map_opts o = {.rate = 1, .burst = 1, .max_keys = 300, .clock = &fc->clock, .alloc = a};
    hone_limiter_map *m;
    int rc = hone_limiter_map_new(&m, &o);
    if (rc) return rc;
    char key[32];
    /* More keys than max_keys: inserts, sweeps and evictions. */
    for (int i = 0; i < 400 && !rc; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        rc = hone_limiter_map_acquire(m, key, strlen(key), 1, NULL);
    }
    if (!rc && hone_limiter_map_size(m) != 300) rc = HONE_EFAIL;
    hone_limiter_map_free(m);
    return rc;
}

static int budget_run(const hone_allocator *a, void *ctx) {
    hone_retry_budget_opts o = {.alloc = a};
    hone_retry_budget *b;
    int rc = hone_retry_budget_new(&b, &o);
    if (rc) return rc;
    hone_retry_budget_request(b);
    rc = hone_retry_budget_withdraw(b);
    hone_retry_budget_free(b);
    return rc;
}

static int breaker_run(const hone_allocator *a, void *ctx) {
    hone_breaker_opts o = {.alloc = a};
    hone_breaker *b;
    int rc = hone_breaker_new(&b, &o);
    if (rc) return rc;
    rc = hone_breaker_allow(b, NULL);
    if (!rc) hone_breaker_record(b, 1, 1000);
    hone_breaker_free(b);
    return rc;
}

static int atimeout_run(const hone_allocator *a, void *ctx) {
    hone_atimeout_opts o = {.window = 64, .alloc = a};
    hone_atimeout *t;
    int rc = hone_atimeout_new(&t, &o);
    if (rc) return rc;
    for (int i = 0; i < 100; i++) hone_atimeout_record(t, 1000000);
    if (hone_atimeout_get(t) != 10000000) rc = HONE_EFAIL;
    hone_atimeout_free(t);
    return rc;
}

static int conclimit_run(const hone_allocator *a, void *ctx) {
    hone_conclimit_opts o = {.alloc = a};
    hone_conclimit *l;
    int rc = hone_conclimit_new(&l, &o);
    if (rc) return rc;
    rc = hone_conclimit_acquire(l);
    if (!rc) hone_conclimit_release(l, 1000, 0);
    hone_conclimit_free(l);
    return rc;
}

static void oom_limiter(void **state) { assert_true(failalloc_loop("limiter", limiter_run, NULL) >= 1); }
static void oom_map(void **state) {
    fake_clock fc;
    fake_init(&fc, SEC);
    assert_true(failalloc_loop("limiter_map", map_run, &fc) >= 400);
}
static void oom_budget(void **state) { assert_true(failalloc_loop("retry_budget", budget_run, NULL) >= 1); }
static void oom_breaker(void **state) { assert_true(failalloc_loop("breaker", breaker_run, NULL) >= 1); }
static void oom_atimeout(void **state) { assert_true(failalloc_loop("atimeout", atimeout_run, NULL) >= 3); }
static void oom_conclimit(void **state) { assert_true(failalloc_loop("conclimit", conclimit_run, NULL) >= 1); }

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(oom_limiter),  cmocka_unit_test(oom_map),      cmocka_unit_test(oom_budget),
    cmocka_unit_test(oom_breaker),  cmocka_unit_test(oom_atimeout), cmocka_unit_test(oom_conclimit),
};
HONE_TEST_MAIN(tests)
