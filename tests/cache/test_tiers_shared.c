/* test_tiers_shared.c - two caches sharing a real Redis server (started by
 * the test on a free loopback port) through the one cache API: what one
 * puts, the other gets; a value hone did not write is never returned; a
 * server that dies makes misses, never failures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redis_server.h"
#include "test.h"
#include "tmpdir.h"

static redis_server srv;
static char dir[256];

static int setup(void **state) {
    (void)state;
    if (hone_test_tmpdir(dir, sizeof dir, "test-shared")) return -1;
    if (!redis_server_available()) return 0;
    return redis_server_start(&srv) ? -1 : 0;
}

static int teardown(void **state) {
    (void)state;
    if (srv.pid) redis_server_stop(&srv);
    hone_test_rmtree(dir);
    return 0;
}

#define NEED_REDIS()                                                      \
    do {                                                                  \
        if (!srv.pid) {                                                   \
            fprintf(stderr, "redis-server not installed: skipped\n");     \
            skip();                                                       \
        }                                                                 \
    } while (0)

static hone_cache *open_shared(int strategy, const char *name, const char *prefix) {
    hone_cache_options mo = {.max_entries = 1000};
    hone_tier_options to = {.strategy = strategy,
                            .dir = dir,
                            .name = name,
                            .disk_bytes = (uint64_t)16 << 20,
                            .redis = srv.addr,
                            .redis_prefix = prefix,
                            .redis_timeout_ns = 200000000,
                            .ignore_env = 1};
    hone_cache *c = NULL;
    hone_error err;
    int rc = hone_cache_open(&c, &mo, &to, &err);
    if (rc) fprintf(stderr, "hone_cache_open: %s\n", err.msg);
    assert_int_equal(rc, HONE_OK);
    return c;
}

/* A put in one cache (hybrid, its own disk) is a get in another (memory
 * only) through the server, promoted into the second one's memory. */
static void test_shared_between_caches(void **state) {
    (void)state;
    NEED_REDIS();
    hone_cache *a = open_shared(HONE_CACHE_HYBRID, "a.mdb", "t1:");
    hone_cache *b = open_shared(HONE_CACHE_MEMORY, NULL, "t1:");
    assert_int_equal(hone_cache_put(a, "shared", 6, "result", 6), HONE_OK);
    assert_int_equal(hone_cache_sync(a), HONE_OK);
    char buf[16];
    size_t n = 0;
    assert_int_equal(hone_cache_get(b, "shared", 6, buf, sizeof buf, &n), HONE_OK);
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "result", 6);
    hone_cache_tier_stats ts;
    hone_cache_tier_stats_get(b, &ts);
    assert_int_equal(ts.redis, 1);
    assert_int_equal(ts.redis_hits, 1);
    assert_int_equal(ts.promotions, 1);
    /* Now from b's memory: the server is not asked again. */
    assert_int_equal(hone_cache_get(b, "shared", 6, buf, sizeof buf, &n), HONE_OK);
    hone_cache_tier_stats_get(b, &ts);
    assert_int_equal(ts.redis_hits, 1);
    /* Another prefix is another namespace. */
    hone_cache *c = open_shared(HONE_CACHE_MEMORY, NULL, "t2:");
    assert_int_equal(hone_cache_get(c, "shared", 6, buf, sizeof buf, &n), HONE_ENOTFOUND);
    hone_cache_free(c);
    hone_cache_free(b);
    hone_cache_free(a);
}

/* Many keys at once: what memory misses comes from Redis in one round. */
static void test_get_many(void **state) {
    (void)state;
    NEED_REDIS();
    hone_cache *a = open_shared(HONE_CACHE_HYBRID, "many.mdb", "t5:");
    char kbuf[25][16];
    const void *keys[25];
    size_t klens[25];
    for (int i = 0; i < 25; i++) {
        snprintf(kbuf[i], sizeof kbuf[i], "many%d", i);
        keys[i] = kbuf[i];
        klens[i] = strlen(kbuf[i]);
        if (i < 20) assert_int_equal(hone_cache_put(a, keys[i], klens[i], kbuf[i], klens[i]), HONE_OK);
    }
    assert_int_equal(hone_cache_sync(a), HONE_OK);
    hone_cache *b = open_shared(HONE_CACHE_MEMORY, NULL, "t5:");
    hone_buf vals[25];
    int found[25];
    for (int i = 0; i < 25; i++) hone_buf_init(&vals[i], NULL);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(hone_cache_get_many(b, 25, keys, klens, vals, found), HONE_OK);
        for (int i = 0; i < 25; i++) {
            assert_int_equal(found[i], i < 20);
            if (i < 20) {
                assert_int_equal(vals[i].len, klens[i]);
                assert_memory_equal(vals[i].data, kbuf[i], klens[i]);
            }
        }
    }
    hone_cache_tier_stats ts;
    hone_cache_tier_stats_get(b, &ts);
    /* The first round asked Redis for 25 keys, the second only for the 5
     * it lacks: the 20 were promoted into memory. */
    assert_int_equal(ts.redis_hits, 20);
    assert_int_equal(ts.redis_misses, 10);
    for (int i = 0; i < 25; i++) hone_buf_free(&vals[i]);
    hone_cache_free(b);
    hone_cache_free(a);
}

/* A value under hone's key that hone did not write is a miss, counted. */
static void test_foreign_value_is_a_miss(void **state) {
    (void)state;
    NEED_REDIS();
    redisContext *rc = redis_server_connect(&srv);
    assert_non_null(rc);
    redisReply *r = redisCommand(rc, "SET t3:foreign %s", "plain text from another program");
    assert_non_null(r);
    freeReplyObject(r);
    redisFree(rc);
    hone_cache *b = open_shared(HONE_CACHE_MEMORY, NULL, "t3:");
    char buf[64];
    size_t n;
    assert_int_equal(hone_cache_get(b, "foreign", 7, buf, sizeof buf, &n), HONE_ENOTFOUND);
    hone_cache_tier_stats ts;
    hone_cache_tier_stats_get(b, &ts);
    assert_int_equal(ts.redis_rejected, 1);
    hone_cache_free(b);
}

/* The server dies: gets fall back to the local tiers or miss, puts still
 * succeed (the shared tier never fails a put), and nothing returns an
 * error. The server comes back on the same port: sharing resumes. */
static void test_server_down(void **state) {
    (void)state;
    NEED_REDIS();
    hone_cache *a = open_shared(HONE_CACHE_HYBRID, "down.mdb", "t4:");
    assert_int_equal(hone_cache_put(a, "before", 6, "v", 1), HONE_OK);
    hone_cache_sync(a);
    redis_server_kill(&srv);
    char k[32], buf[16];
    size_t n;
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "down%d", i);
        assert_int_equal(hone_cache_put(a, k, strlen(k), "x", 1), HONE_OK);
        assert_int_equal(hone_cache_get(a, k, strlen(k), buf, sizeof buf, &n), HONE_OK);
        assert_int_equal(hone_cache_get(a, "missing", 7, buf, sizeof buf, &n), HONE_ENOTFOUND);
    }
    assert_int_equal(hone_cache_get(a, "before", 6, buf, sizeof buf, &n), HONE_OK);
    hone_cache_tier_stats ts;
    hone_cache_tier_stats_get(a, &ts);
    assert_true(ts.redis_errors > 0);
    assert_int_equal(redis_server_restart(&srv), 0);
    hone_cache *b = open_shared(HONE_CACHE_MEMORY, NULL, "t4:");
    /* The tier reconnects on its own (after its backoff): a put and a get
     * of a fresh key meet again within a bounded number of tries. */
    int shared = 0;
    for (int i = 0; i < 200 && !shared; i++) {
        snprintf(k, sizeof k, "after%d", i);
        assert_int_equal(hone_cache_put(a, k, strlen(k), "y", 1), HONE_OK);
        hone_cache_sync(a);
        shared = hone_cache_get(b, k, strlen(k), buf, sizeof buf, &n) == HONE_OK;
        if (!shared) redis_sleep_ms(20);
    }
    assert_true(shared);
    hone_cache_free(b);
    hone_cache_free(a);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_shared_between_caches),
    cmocka_unit_test(test_get_many),
    cmocka_unit_test(test_foreign_value_is_a_miss),
    cmocka_unit_test(test_server_down),
};

HONE_TEST_MAIN_FIXTURES(tests, setup, teardown)
