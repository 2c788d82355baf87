/* test_limiter_map.c - keyed limiters: keys are independent, the map never
 * holds more than max_keys, idle keys go first and then the oldest. */
#include "test.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "fake_clock.h"

static hone_limiter_map *mk(fake_clock *fc, double rate, uint32_t burst, size_t max_keys) {
    hone_limiter_map_opts o = {.rate = rate, .burst = burst, .max_keys = max_keys, .clock = &fc->clock};
    hone_limiter_map *m = NULL;
    assert_int_equal(hone_limiter_map_new(&m, &o), HONE_OK);
    assert_non_null(m);
    return m;
}

static int take(hone_limiter_map *m, const char *key) {
    return hone_limiter_map_acquire(m, key, strlen(key), 1, NULL);
}

static void keys_are_independent(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_limiter_map *m = mk(&fc, 1, 2, 0);
    assert_int_equal(take(m, "alice"), HONE_OK);
    assert_int_equal(take(m, "alice"), HONE_OK);
    uint64_t w = 0;
    assert_int_equal(hone_limiter_map_acquire(m, "alice", 5, 1, &w), HONE_EBUSY);
    assert_int_equal(w, SEC);
    assert_int_equal(take(m, "bob"), HONE_OK);
    assert_int_equal(take(m, "bob"), HONE_OK);
    assert_int_equal(take(m, "bob"), HONE_EBUSY);
    /* Same bytes, different length: a different key. */
    assert_int_equal(hone_limiter_map_acquire(m, "alice", 4, 1, NULL), HONE_OK);
    assert_int_equal(hone_limiter_map_acquire(m, NULL, 0, 1, NULL), HONE_OK); /* the empty key */
    assert_int_equal(hone_limiter_map_size(m), 4);
    fake_advance(&fc, SEC);
    assert_int_equal(take(m, "alice"), HONE_OK);
    assert_int_equal(take(m, "alice"), HONE_EBUSY);
    /* A refused new key (cost over burst) is not stored. */
    assert_int_equal(hone_limiter_map_acquire(m, "carol", 5, 3, &w), HONE_EBUSY);
    assert_true(w == UINT64_MAX);
    assert_int_equal(hone_limiter_map_size(m), 4);
    assert_int_equal(hone_limiter_map_acquire(m, NULL, 3, 1, NULL), HONE_EINVAL);
    hone_limiter_map_free(m);
}

static void size_never_exceeds_max_keys(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    const size_t sizes[] = {1, 7, 100, 1000};
    for (size_t s = 0; s < 4; s++) {
        hone_limiter_map *m = mk(&fc, 1, 2, sizes[s]);
        char key[32];
        for (int i = 0; i < 6000; i++) {
            snprintf(key, sizeof key, "client-%d", i);
            assert_int_equal(take(m, key), HONE_OK);
            size_t n = hone_limiter_map_size(m);
            assert_true(n <= sizes[s]);
        }
        /* Every shard saw far more keys than its share: all full. */
        assert_int_equal(hone_limiter_map_size(m), sizes[s]);
        hone_limiter_map_free(m);
    }
}

static void idle_keys_expire_first(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_limiter_map *m = mk(&fc, 10, 1, 10); /* T = 100 ms, one shard */
    char key[16];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "old-%d", i);
        assert_int_equal(take(m, key), HONE_OK);
    }
    fake_advance(&fc, 100 * MS); /* the old keys' buckets are full again */
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "new-%d", i);
        assert_int_equal(take(m, key), HONE_OK);
    }
    assert_int_equal(hone_limiter_map_size(m), 10);
    /* Full: a new key drops the five idle ones, not a busy one. */
    assert_int_equal(take(m, "newest"), HONE_OK);
    assert_int_equal(hone_limiter_map_size(m), 6);
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "new-%d", i);
        assert_int_equal(take(m, key), HONE_EBUSY); /* still remembered */
    }
    /* expire() gives the memory back once all are idle. */
    assert_int_equal(hone_limiter_map_expire(m), 0);
    fake_advance(&fc, 100 * MS);
    assert_int_equal(hone_limiter_map_expire(m), 6);
    assert_int_equal(hone_limiter_map_size(m), 0);
    hone_limiter_map_free(m);
}

static void with_no_idle_key_the_oldest_is_evicted(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_limiter_map *m = mk(&fc, 1, 1, 10); /* T = 1 s */
    char key[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(take(m, key), HONE_OK);
        fake_advance(&fc, MS);
    }
    assert_int_equal(take(m, "k10"), HONE_OK); /* evicts k0, the oldest TAT */
    assert_int_equal(hone_limiter_map_size(m), 10);
    assert_int_equal(take(m, "k1"), HONE_EBUSY);
    /* The documented over-admission: k0's debt was forgotten. */
    assert_int_equal(take(m, "k0"), HONE_OK);
    hone_limiter_map_free(m);
}

static void deny_and_unlimited_store_nothing(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_limiter_map *deny = mk(&fc, 0, 1, 10);
    hone_limiter_map *all = mk(&fc, INFINITY, 1, 10);
    uint64_t w = 0;
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(hone_limiter_map_acquire(deny, key, strlen(key), 1, &w), HONE_EBUSY);
        assert_true(w == UINT64_MAX);
        assert_int_equal(take(all, key), HONE_OK);
    }
    assert_int_equal(hone_limiter_map_size(deny), 0);
    assert_int_equal(hone_limiter_map_size(all), 0);
    hone_limiter_map_free(deny);
    hone_limiter_map_free(all);
    hone_limiter_map *m = NULL;
    hone_limiter_map_opts o = {.rate = -5};
    assert_int_equal(hone_limiter_map_new(&m, &o), HONE_EINVAL);
    assert_null(m);
    hone_limiter_map_free(NULL);
}

typedef struct map_arg {
    hone_limiter_map *m;
    int id;
    unsigned shared, own;
} map_arg;

static void *map_hammer(void *p) {
    map_arg *a = p;
    char key[16];
    snprintf(key, sizeof key, "own-%d", a->id);
    for (int i = 0; i < 20000; i++) {
        if (take(a->m, "shared") == HONE_OK) a->shared++;
        if (take(a->m, key) == HONE_OK) a->own++;
        if (i % 64 == 0) (void)hone_limiter_map_size(a->m);
    }
    return NULL;
}

static void threads_share_one_key_exactly(void **state) {
    (void)state;
    fake_clock fc;
    fake_init(&fc, SEC);
    hone_limiter_map *m = mk(&fc, 1, 50, 0);
    map_arg a[2] = {{.m = m, .id = 0}, {.m = m, .id = 1}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, map_hammer, &a[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    assert_int_equal(a[0].shared + a[1].shared, 50);
    assert_int_equal(a[0].own, 50);
    assert_int_equal(a[1].own, 50);
    assert_int_equal(hone_limiter_map_size(m), 3);
    hone_limiter_map_free(m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(keys_are_independent),
    cmocka_unit_test(size_never_exceeds_max_keys),
    cmocka_unit_test(idle_keys_expire_first),
    cmocka_unit_test(with_no_idle_key_the_oldest_is_evicted),
    cmocka_unit_test(deny_and_unlimited_store_nothing),
    cmocka_unit_test(threads_share_one_key_exactly),
};
HONE_TEST_MAIN(tests)
