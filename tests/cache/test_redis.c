/* test_redis.c - the cache's shared tier against a real redis-server:
 * round trips, TTLs, prefixes, binary keys and values, pipelined gets,
 * deletes, foreign and corrupt values, queue bounds, bad options. */
#include <stdlib.h>
#include <string.h>

#include "cache/redis.h"
#include "redis_server.h"
#include "test.h"

#define MS 1000000ull
#define SEC 1000000000ull

/* Functional tests use a generous timeout so that a loaded machine (or a
 * sanitizer build) cannot turn a hit into a timeout; the outage tests use
 * a short one on purpose. */
#define TEST_TIMEOUT_NS (5 * SEC)

static redis_server srv;

static int setup(void **state) {
    (void)state;
    if (!redis_server_available()) return 0;
    return redis_server_start(&srv) ? -1 : 0;
}

static int teardown(void **state) {
    (void)state;
    redis_server_stop(&srv);
    return 0;
}

#define NEED_SERVER()                                              \
    do {                                                           \
        if (!srv.pid) {                                            \
            print_message("redis-server not installed: skipped\n"); \
            skip();                                                \
        }                                                          \
    } while (0)

static hone__redis *open_tier(const char *prefix, uint64_t default_ttl) {
    hone__redis_options o = {.addr = srv.addr, .prefix = prefix, .timeout_ns = TEST_TIMEOUT_NS,
                             .default_ttl_ns = default_ttl};
    hone__redis *r = NULL;
    hone_error err;
    int rc = hone__redis_open(&r, &o, &err);
    if (rc) print_error("open: %s\n", err.msg);
    assert_int_equal(rc, HONE_OK);
    return r;
}

static redisReply *raw(const char *fmt, ...) {
    redisContext *c = redis_server_connect(&srv);
    assert_non_null(c);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    assert_non_null(r);
    return r;
}

static void raw_ok(const char *fmt, ...) {
    redisContext *c = redis_server_connect(&srv);
    assert_non_null(c);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

static void test_round_trip(void **state) {
    (void)state;
    NEED_SERVER();
    hone__redis *r = open_tier("rt:", 0);
    assert_int_equal(hone__redis_put(r, "alpha", 5, "value-a", 7, 60 * SEC), HONE_OK);
    assert_int_equal(hone__redis_flush(r), HONE_OK);
    hone_buf v;
    hone_buf_init(&v, NULL);
    uint64_t ttl = 0;
    assert_int_equal(hone__redis_get(r, "alpha", 5, &v, &ttl), HONE_OK);
    assert_int_equal(v.len, 7);
    assert_memory_equal(v.data, "value-a", 7);
    assert_true(ttl > 0 && ttl <= 60 * SEC);
    assert_int_equal(hone__redis_get(r, "beta", 4, &v, &ttl), HONE_ENOTFOUND);
    /* A second put replaces the value. */
    assert_int_equal(hone__redis_put(r, "alpha", 5, "second", 6, 0), HONE_OK);
    assert_int_equal(hone__redis_flush(r), HONE_OK);
    assert_int_equal(hone__redis_get(r, "alpha", 5, &v, NULL), HONE_OK);
    assert_int_equal(v.len, 6);
    assert_memory_equal(v.data, "second", 6);
    /* The key in Redis is prefix + key, with a TTL. */
    redisReply *p = raw("PTTL rt:alpha");
    assert_int_equal(p->type, REDIS_REPLY_INTEGER);
    assert_true(p->integer > 0);
    freeReplyObject(p);
    hone__redis_stats st;
    hone__redis_stats_get(r, &st);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.puts, 2);
    assert_int_equal(st.puts_dropped, 0);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.rejected, 0);
    hone_buf_free(&v);
    hone__redis_close(r);
}

static void test_ttl(void **state) {
    (void)state;
    NEED_SERVER();
    hone__redis *r = open_tier("ttl:", 10 * SEC);
    hone_buf v;
    hone_buf_init(&v, NULL);
    uint64_t ttl = 0;
    /* The default TTL applies to a put with 0; the remaining TTL comes back. */
    assert_int_equal(hone__redis_put(r, "d", 1, "x", 1, 0), HONE_OK);
    /* A TTL is rounded up to whole milliseconds, never to 0. */
    assert_int_equal(hone__redis_put(r, "tiny", 4, "x", 1, 1), HONE_OK);
    assert_int_equal(hone__redis_put(r, "short", 5, "x", 1, 30 * MS), HONE_OK);
    assert_int_equal(hone__redis_put(r, "long", 4, "y", 1, 3600 * SEC), HONE_OK);
    assert_int_equal(hone__redis_flush(r), HONE_OK);
    assert_int_equal(hone__redis_get(r, "d", 1, &v, &ttl), HONE_OK);
    assert_true(ttl > 0 && ttl <= 10 * SEC);
    assert_int_equal(hone__redis_get(r, "long", 4, &v, &ttl), HONE_OK);
    assert_true(ttl > 10 * SEC && ttl <= 3600 * SEC);
    redisReply *p = raw("PTTL ttl:tiny");
    assert_true(p->integer == -2 || (p->integer >= 0 && p->integer <= 1));
    freeReplyObject(p);
    /* The short one expires: eventually a miss (bounded poll). */
    int gone = 0;
    for (int i = 0; i < 500 && !gone; i++) {
        gone = hone__redis_get(r, "short", 5, &v, &ttl) == HONE_ENOTFOUND;
        if (!gone) {
            assert_true(ttl > 0 && ttl <= 30 * MS);
            redis_sleep_ms(10);
        }
    }
    assert_true(gone);
    /* A value without expiry (someone PERSISTed it) reports 0: no expiry. */
    assert_int_equal(hone__redis_put(r, "keep", 4, "z", 1, 0), HONE_OK);
    assert_int_equal(hone__redis_flush(r), HONE_OK);
    raw_ok("PERSIST ttl:keep");
    ttl = 123;
    assert_int_equal(hone__redis_get(r, "keep", 4, &v, &ttl), HONE_OK);
    assert_int_equal(ttl, 0);
    hone_buf_free(&v);
    hone__redis_close(r);
}

static void test_prefix_isolation(void **state) {
    (void)state;
    NEED_SERVER();
    hone__redis *a = open_tier("pa:", 0), *b = open_tier("pb:", 0);
    hone_buf v;
    hone_buf_init(&v, NULL);
    assert_int_equal(hone__redis_put(a, "k", 1, "from-a", 6, 0), HONE_OK);
    assert_int_equal(hone__redis_flush(a), HONE_OK);
    assert_int_equal(hone__redis_get(b, "k", 1, &v, NULL), HONE_ENOTFOUND);
    assert_int_equal(hone__redis_put(b, "k", 1, "from-b", 6, 0), HONE_OK);
    assert_int_equal(hone__redis_flush(b), HONE_OK);
    assert_int_equal(hone__redis_get(a, "k", 1, &v, NULL), HONE_OK);
    assert_memory_equal(v.data, "from-a", 6);
    assert_int_equal(hone__redis_get(b, "k", 1, &v, NULL), HONE_OK);
    assert_memory_equal(v.data, "from-b", 6);
    /* A delete in one prefix leaves the other alone. */
    assert_int_equal(hone__redis_delete(a, "k", 1), HONE_OK);
    assert_int_equal(hone__redis_get(a, "k", 1, &v, NULL), HONE_ENOTFOUND);
    assert_int_equal(hone__redis_get(b, "k", 1, &v, NULL), HONE_OK);
    /* A value moved from one prefix to the other is refused: the checksum
     * covers the full key. */
    raw_ok("COPY pb:k pa:k");
    assert_int_equal(hone__redis_get(a, "k", 1, &v, NULL), HONE_ENOTFOUND);
    hone__redis_stats st;
    hone__redis_stats_get(a, &st);
    assert_int_equal(st.rejected, 1);
    /* The default prefix is "hone:". */
    hone__redis *d = open_tier(NULL, 0);
    assert_int_equal(hone__redis_put(d, "dk", 2, "dv", 2, 0), HONE_OK);
    assert_int_equal(hone__redis_flush(d), HONE_OK);
    redisReply *e = raw("EXISTS hone:dk");
    assert_int_equal(e->integer, 1);
    freeReplyObject(e);
    hone__redis_close(d);
    hone_buf_free(&v);
    hone__redis_close(a);
    hone__redis_close(b);
}

static void test_binary(void **state) {
    (void)state;
    NEED_SERVER();
    hone__redis *r = open_tier("bin:\r\n\0", 0);
    hone_buf v;
    hone_buf_init(&v, NULL);
    unsigned char key[40], val[256];
    for (int i = 0; i < 40; i++) key[i] = (unsigned char)(i * 37);
    key[0] = 0, key[1] = '\r', key[2] = '\n', key[3] = '$', key[4] = '*';
    for (int i = 0; i < 256; i++) val[i] = (unsigned char)i;
    assert_int_equal(hone__redis_put(r, key, sizeof key, val, sizeof val, 0), HONE_OK);
    /* Keys differing only after a NUL are different keys. */
    unsigned char key2[40];
    memcpy(key2, key, sizeof key);
    key2[39] ^= 1;
    assert_int_equal(hone__redis_put(r, key2, sizeof key2, "other", 5, 0), HONE_OK);
    /* Empty key and empty value. */
    assert_int_equal(hone__redis_put(r, NULL, 0, NULL, 0, 0), HONE_OK);
    /* A value of 3 MB: several socket buffers each way. */
    size_t big = 3u << 20;
    unsigned char *bv = malloc(big);
    assert_non_null(bv);
    for (size_t i = 0; i < big; i++) bv[i] = (unsigned char)(i * 131 + (i >> 13));
    assert_int_equal(hone__redis_put(r, "big", 3, bv, big, 0), HONE_OK);
    assert_int_equal(hone__redis_flush(r), HONE_OK);
    assert_int_equal(hone__redis_get(r, key, sizeof key, &v, NULL), HONE_OK);
    assert_int_equal(v.len, sizeof val);
    assert_memory_equal(v.data, val, sizeof val);
    assert_int_equal(hone__redis_get(r, key2, sizeof key2, &v, NULL), HONE_OK);
    assert_int_equal(v.len, 5);
    assert_memory_equal(v.data, "other", 5);
    assert_int_equal(hone__redis_get(r, "", 0, &v, NULL), HONE_OK);
    assert_int_equal(v.len, 0);
    assert_int_equal(hone__redis_get(r, "big", 3, &v, NULL), HONE_OK);
    assert_int_equal(v.len, big);
    assert_memory_equal(v.data, bv, big);
    /* The stored key is prefix + raw key bytes. */
    redisReply *e = raw("EXISTS %b", "bin:\r\n\0big", (size_t)10);
    assert_int_equal(e->integer, 0); /* the prefix ends at its NUL: "bin:\r\n" */
    freeReplyObject(e);
    e = raw("EXISTS %b", "bin:\r\nbig", (size_t)9);
    assert_int_equal(e->integer, 1);
    freeReplyObject(e);
    free(bv);
    hone_buf_free(&v);
    hone__redis_close(r);
}

static void test_get_many(void **state) {
    (void)state;
    NEED_SERVER();
    hone__redis *r = open_tier("gm:", 0);
    enum { N = 50 };
    char names[N][16];
    const void *keys[N];
    size_t klens[N];
    hone_buf vals[N];
    int found[N];
    uint64_t ttls[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "key-%d", i);
        keys[i] = names[i];
        klens[i] = strlen(names[i]);
        hone_buf_init(&vals[i], NULL);
        if (i % 3 == 0)
            assert_int_equal(hone__redis_put(r, names[i], klens[i], names[i], klens[i], 60 * SEC),
                             HONE_OK);
    }
    /* One foreign value among them is a miss like any other. */
    raw_ok("SET gm:key-1 foreign");
    assert_int_equal(hone__redis_flush(r), HONE_OK);
    assert_int_equal(hone__redis_get_many_ttl(r, N, keys, klens, vals, found, ttls), HONE_OK);
    int hits = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(found[i], i % 3 == 0);
        if (i % 3 == 0) {
            hits++;
            assert_int_equal(vals[i].len, klens[i]);
            assert_memory_equal(vals[i].data, names[i], klens[i]);
            assert_true(ttls[i] > 0 && ttls[i] <= 60 * SEC);
        } else {
            assert_int_equal(ttls[i], 0);
        }
    }
    hone__redis_stats st;
    hone__redis_stats_get(r, &st);
    assert_int_equal(st.hits, hits);
    assert_int_equal(st.misses, N - hits);
    assert_int_equal(st.rejected, 1);
    /* The form without TTLs, and n = 0. */
    for (int i = 0; i < N; i++) found[i] = -1;
    assert_int_equal(hone__redis_get_many(r, N, keys, klens, vals, found), HONE_OK);
    for (int i = 0; i < N; i++) assert_int_equal(found[i], i % 3 == 0);
    assert_int_equal(hone__redis_get_many(r, 0, NULL, NULL, NULL, NULL), HONE_OK);
    for (int i = 0; i < N; i++) hone_buf_free(&vals[i]);
    hone__redis_close(r);
}

static void test_delete(void **state) {
    (void)state;
    NEED_SERVER();
    hone__redis *r = open_tier("del:", 0);
    hone_buf v;
    hone_buf_init(&v, NULL);
    assert_int_equal(hone__redis_put(r, "k", 1, "v", 1, 0), HONE_OK);
    assert_int_equal(hone__redis_flush(r), HONE_OK);
    assert_int_equal(hone__redis_delete(r, "k", 1), HONE_OK);
    assert_int_equal(hone__redis_get(r, "k", 1, &v, NULL), HONE_ENOTFOUND);
    /* Deleting what is not there is fine. */
    assert_int_equal(hone__redis_delete(r, "nothing", 7), HONE_OK);
    /* A delete right after a put of the same key wins, whether the put was
     * still queued (dropped) or already sent (the DEL follows it on the
     * filler's connection). */
    char k[16];
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "race%d", i);
        for (int j = 0; j < i % 4; j++)
            assert_int_equal(hone__redis_put(r, "other", 5, "o", 1, 0), HONE_OK);
        assert_int_equal(hone__redis_put(r, k, strlen(k), "x", 1, 0), HONE_OK);
        assert_int_equal(hone__redis_delete(r, k, strlen(k)), HONE_OK);
    }
    assert_int_equal(hone__redis_flush(r), HONE_OK);
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "race%d", i);
        assert_int_equal(hone__redis_get(r, k, strlen(k), &v, NULL), HONE_ENOTFOUND);
    }
    hone__redis_stats st;
    hone__redis_stats_get(r, &st);
    assert_int_equal(st.errors, 0);
    hone_buf_free(&v);
    hone__redis_close(r);
}

/* Stored bytes of prefix+key, read raw. */
static redisReply *raw_get(const char *full) { return raw("GET %s", full); }

static void test_foreign_and_corrupt(void **state) {
    (void)state;
    NEED_SERVER();
    hone__redis *r = open_tier("fc:", 0);
    hone_buf v;
    hone_buf_init(&v, NULL);
    assert_int_equal(hone__redis_put(r, "good", 4, "the value bytes", 15, 0), HONE_OK);
    assert_int_equal(hone__redis_flush(r), HONE_OK);
    redisReply *g = raw_get("fc:good");
    assert_int_equal(g->type, REDIS_REPLY_STRING);
    assert_int_equal(g->len, 24 + 15);
    char stored[64];
    memcpy(stored, g->str, g->len);
    size_t slen = g->len;
    freeReplyObject(g);

    int expect_rejected = 0;
    /* Foreign: written by someone else, too short for a header, or as long
     * as a header but not hone's. */
    raw_ok("SET fc:f1 hello");
    raw_ok("SET fc:f2 %b", "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", (size_t)40);
    raw_ok("SET fc:f3 %b", "", (size_t)0);
    expect_rejected += 3;
    /* Truncated: one byte short, and the header alone. */
    raw_ok("SET fc:t1 %b", stored, slen - 1);
    raw_ok("SET fc:t2 %b", stored, (size_t)24);
    expect_rejected += 2;
    /* Corrupt: one bit flipped in the value, in the length, in the checksum,
     * an unknown version, unknown flags. */
    const int flips[][2] = {{30, 0x01}, {8, 0x01}, {20, 0x80}, {4, 0x02}, {5, 0x01}};
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        char c[64], name[16];
        memcpy(c, stored, slen);
        c[flips[i][0]] ^= (char)flips[i][1];
        snprintf(name, sizeof name, "fc:c%zu", i);
        raw_ok("SET %s %b", name, c, slen);
        /* ...and the same bytes under the original key. */
        raw_ok("SET fc:good %b", c, slen);
        assert_int_equal(hone__redis_get(r, "good", 4, &v, NULL), HONE_ENOTFOUND);
        expect_rejected++;
    }
    expect_rejected += 5;
    /* Moved: hone's intact value under another key. */
    raw_ok("SET fc:moved %b", stored, slen);
    expect_rejected++;
    /* Another type under hone's key. */
    raw_ok("RPUSH fc:list a b");
    expect_rejected++;
    const char *const names[] = {"f1", "f2", "f3", "t1", "t2", "c0", "c1",
                                 "c2", "c3", "c4", "moved", "list"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_int_equal(hone__redis_get(r, names[i], strlen(names[i]), &v, NULL),
                         HONE_ENOTFOUND);
    /* The intact bytes under their own key still hit. */
    raw_ok("SET fc:good %b", stored, slen);
    assert_int_equal(hone__redis_get(r, "good", 4, &v, NULL), HONE_OK);
    assert_memory_equal(v.data, "the value bytes", 15);
    hone__redis_stats st;
    hone__redis_stats_get(r, &st);
    assert_int_equal(st.rejected, expect_rejected);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, expect_rejected);
    assert_int_equal(st.errors, 0);
    hone_buf_free(&v);
    hone__redis_close(r);
}

static void test_unix_socket(void **state) {
    (void)state;
    NEED_SERVER();
    redis_server us = {0};
    snprintf(us.unix_path, sizeof us.unix_path, "/tmp/hone-redis-test-%d.sock", (int)getpid());
    assert_int_equal(redis_server_start(&us), 0);
    hone__redis_options o = {.addr = us.unix_path, .timeout_ns = TEST_TIMEOUT_NS};
    hone__redis *r = NULL;
    assert_int_equal(hone__redis_open(&r, &o, NULL), HONE_OK);
    hone_buf v;
    hone_buf_init(&v, NULL);
    assert_int_equal(hone__redis_put(r, "u", 1, "over unix", 9, 0), HONE_OK);
    assert_int_equal(hone__redis_flush(r), HONE_OK);
    assert_int_equal(hone__redis_get(r, "u", 1, &v, NULL), HONE_OK);
    assert_memory_equal(v.data, "over unix", 9);
    hone_buf_free(&v);
    hone__redis_close(r);
    redis_server_stop(&us);
    unlink(us.unix_path);
}

static void test_bad_options(void **state) {
    (void)state;
    hone__redis *r = (hone__redis *)&r;
    hone_error err;
    hone__redis_options o = {0};
    assert_int_equal(hone__redis_open(&r, &o, &err), HONE_EINVAL);
    assert_null(r);
    assert_non_null(strstr(err.msg, "address"));
    o.addr = "localhost";
    assert_int_equal(hone__redis_open(&r, &o, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "localhost"));
    o.addr = "127.0.0.1:70000";
    assert_int_equal(hone__redis_open(&r, &o, &err), HONE_EINVAL);
    o.addr = "127.0.0.1:6379";
    o.connections = 5000;
    assert_int_equal(hone__redis_open(&r, &o, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "5000"));
    assert_null(r);
    assert_int_equal(hone__redis_open(NULL, &o, NULL), HONE_EINVAL);
    hone__redis_close(NULL);
}

/* Fail open: no server at the address. Open succeeds, gets miss at once
 * with errors counted, puts are accepted and later dropped, deletes and
 * flushes report the failure; nothing fails the caller. */
static void test_no_server(void **state) {
    (void)state;
    unsigned port = redis_free_port();
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    hone__redis_options o = {.addr = addr, .timeout_ns = 200 * MS};
    hone__redis *r = NULL;
    assert_int_equal(hone__redis_open(&r, &o, NULL), HONE_OK);
    hone_buf v;
    hone_buf_init(&v, NULL);
    /* Gets until the backoff gate answers one at once (the first refused
     * connection closes it for a random 0..10 ms, so this takes a few). */
    hone__redis_stats st;
    int gets = 0;
    do {
        assert_int_equal(hone__redis_get(r, "k", 1, &v, NULL), HONE_ENOTFOUND);
        gets++;
        hone__redis_stats_get(r, &st);
    } while (!st.skipped && gets < 100000);
    assert_int_equal(hone__redis_put(r, "k", 1, "v", 1, 0), HONE_OK);
    int rc = hone__redis_delete(r, "k", 1);
    assert_int_equal(rc, HONE_EIO);
    hone__redis_stats_get(r, &st);
    assert_int_equal(st.misses, gets);
    assert_int_equal(st.hits, 0);
    assert_true(st.errors >= (uint64_t)gets);
    assert_true(st.skipped >= 1);
    assert_true(st.skipped <= st.errors);
    hone_buf_free(&v);
    hone__redis_close(r);
    hone__redis_stats_get(NULL, &st);
    assert_int_equal(st.hits, 0);
}

/* A full queue drops puts and counts them; the dropped ones never arrive. */
static void test_queue_bound(void **state) {
    (void)state;
    NEED_SERVER();
    hone__redis_options o = {.addr = srv.addr, .prefix = "qb:", .timeout_ns = 2 * SEC,
                             .queue_items = 10};
    hone__redis *r = NULL;
    assert_int_equal(hone__redis_open(&r, &o, NULL), HONE_OK);
    /* With the server stopped the filler can take at most one batch (64)
     * off the queue, so of 200 puts at least 200 - 64 - 10 are dropped. */
    redis_server_signal(&srv, SIGSTOP);
    char k[16];
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "q%d", i);
        assert_int_equal(hone__redis_put(r, k, strlen(k), "v", 1, 0), HONE_OK);
    }
    hone__redis_stats st;
    hone__redis_stats_get(r, &st);
    redis_server_signal(&srv, SIGCONT);
    assert_int_equal(st.puts, 200);
    assert_true(st.puts_dropped >= 200 - 64 - 10);
    assert_int_equal(hone__redis_flush(r), HONE_OK);
    hone__redis_stats_get(r, &st);
    redisReply *n = raw("DBSIZE");
    long long stored = n->integer;
    freeReplyObject(n);
    /* Every put either reached the server or was counted as dropped. */
    hone_buf v;
    hone_buf_init(&v, NULL);
    long long present = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "q%d", i);
        present += hone__redis_get(r, k, strlen(k), &v, NULL) == HONE_OK;
    }
    assert_int_equal(present, 200 - (long long)st.puts_dropped);
    assert_true(stored >= present);
    hone_buf_free(&v);
    hone__redis_close(r);
    /* A value over Redis's 512 MB limit is refused before any copy. */
    r = open_tier("qb:", 0);
    assert_int_equal(hone__redis_put(r, "huge", 4, "", (size_t)512 << 20, 0), HONE_EINVAL);
    hone__redis_close(r);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_prefix_isolation), cmocka_unit_test(test_binary),
        cmocka_unit_test(test_get_many),         cmocka_unit_test(test_delete),
        cmocka_unit_test(test_foreign_and_corrupt), cmocka_unit_test(test_unix_socket),
        cmocka_unit_test(test_bad_options),      cmocka_unit_test(test_no_server),
        cmocka_unit_test(test_queue_bound),
    };
    return HONE_TEST_RUN(tests, setup, teardown, argc, argv);
}
