/* test_redis_stress.c - the shared tier under allocation failure (every
 * call fails cleanly with HONE_ENOMEM and leaks nothing) and under 4
 * threads at once (run it under TSan), against a real redis-server. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cache/redis.h"
#include "redis_server.h"
#include "test.h"

#define MS 1000000ull
#define SEC 1000000000ull

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

/* A miss is not a failure here; only HONE_ENOMEM (or a wrong value) is. */
static int redis_calls(const hone_allocator *a, void *ctx) {
    (void)ctx;
    hone__redis_options o = {.alloc = a, .addr = srv.addr, .prefix = "oom:",
                             .timeout_ns = 5 * SEC, .connections = 2};
    hone__redis *r;
    int rc = hone__redis_open(&r, &o, NULL);
    if (rc) return rc;
    hone_buf v;
    hone_buf_init(&v, a);
    char k[16];
    /* Puts: a small one and one past the stack buffer of a get request. */
    static char longkey[700];
    memset(longkey, 'L', sizeof longkey);
    for (int i = 0; i < 4 && !rc; i++) {
        snprintf(k, sizeof k, "k%d", i);
        rc = hone__redis_put(r, k, strlen(k), k, strlen(k), 0);
    }
    if (!rc) rc = hone__redis_put(r, longkey, sizeof longkey, "long", 4, 0);
    if (!rc) rc = hone__redis_flush(r);
    if (!rc) {
        rc = hone__redis_get(r, "k1", 2, &v, NULL);
        if (rc == HONE_OK && (v.len != 2 || memcmp(v.data, "k1", 2))) rc = HONE_EFAIL;
        if (rc == HONE_ENOTFOUND) rc = HONE_OK;
    }
    if (!rc) {
        rc = hone__redis_get(r, longkey, sizeof longkey, &v, NULL);
        if (rc == HONE_ENOTFOUND) rc = HONE_OK;
    }
    if (!rc) {
        const void *keys[3] = {"k0", "missing", "k3"};
        size_t klens[3] = {2, 7, 2};
        hone_buf vals[3];
        int found[3];
        for (int i = 0; i < 3; i++) hone_buf_init(&vals[i], a);
        rc = hone__redis_get_many(r, 3, keys, klens, vals, found);
        if (!rc && found[1]) rc = HONE_EFAIL;
        for (int i = 0; i < 3; i++) hone_buf_free(&vals[i]);
    }
    if (!rc) {
        rc = hone__redis_delete(r, "k2", 2);
        if (rc == HONE_EIO) rc = HONE_EFAIL;
    }
    hone_buf_free(&v);
    hone__redis_close(r);
    return rc;
}

static void test_oom(void **state) {
    (void)state;
    NEED_SERVER();
    long n = failalloc_loop("redis tier calls", redis_calls, NULL);
    assert_true(n > 5);
}

typedef struct shared {
    hone__redis *r;
    atomic_long bad, wrong, hits, calls;
    int id;
} shared;

typedef struct worker {
    shared *sh;
    unsigned seed;
} worker;

static size_t value_of(int i, char *out) { return (size_t)snprintf(out, 64, "v%d-%0*d", i, i % 40, 7); }

static void *worker_main(void *arg) {
    worker *w = arg;
    shared *sh = w->sh;
    hone_buf v;
    hone_buf_init(&v, NULL);
    char k[32], want[64];
    hone_buf vals[8];
    for (int i = 0; i < 8; i++) hone_buf_init(&vals[i], NULL);
    for (int n = 0; n < 1500; n++) {
        int i = (int)(rand_r(&w->seed) % 300);
        snprintf(k, sizeof k, "c%d", i);
        size_t wl = value_of(i, want);
        int op = (int)(rand_r(&w->seed) % 10), rc;
        if (op < 3) {
            rc = hone__redis_put(sh->r, k, strlen(k), want, wl, 0);
            if (rc) atomic_fetch_add(&sh->bad, 1);
        } else if (op < 4) {
            rc = hone__redis_delete(sh->r, k, strlen(k));
            if (rc) atomic_fetch_add(&sh->bad, 1);
        } else if (op < 5) {
            char names[8][32];
            const void *keys[8];
            size_t klens[8];
            int found[8], ids[8];
            for (int j = 0; j < 8; j++) {
                ids[j] = (int)(rand_r(&w->seed) % 300);
                snprintf(names[j], sizeof names[j], "c%d", ids[j]);
                keys[j] = names[j];
                klens[j] = strlen(names[j]);
            }
            rc = hone__redis_get_many(sh->r, 8, keys, klens, vals, found);
            if (rc) atomic_fetch_add(&sh->bad, 1);
            for (int j = 0; j < 8; j++) {
                if (!found[j]) continue;
                atomic_fetch_add(&sh->hits, 1);
                size_t l = value_of(ids[j], want);
                if (vals[j].len != l || memcmp(vals[j].data, want, l)) atomic_fetch_add(&sh->wrong, 1);
            }
        } else if (op < 6) {
            if (hone__redis_flush(sh->r)) atomic_fetch_add(&sh->bad, 1);
        } else {
            rc = hone__redis_get(sh->r, k, strlen(k), &v, NULL);
            if (rc == HONE_OK) {
                atomic_fetch_add(&sh->hits, 1);
                if (v.len != wl || memcmp(v.data, want, wl)) atomic_fetch_add(&sh->wrong, 1);
            } else if (rc != HONE_ENOTFOUND) {
                atomic_fetch_add(&sh->bad, 1);
            }
        }
        atomic_fetch_add(&sh->calls, 1);
    }
    for (int i = 0; i < 8; i++) hone_buf_free(&vals[i]);
    hone_buf_free(&v);
    return NULL;
}

/* 4 threads share one tier with 2 connections (so checkout waits happen)
 * and a small queue: every call succeeds, every hit is the value of its
 * own key, and the counters add up. */
static void test_concurrent(void **state) {
    (void)state;
    NEED_SERVER();
    hone__redis_options o = {.addr = srv.addr, .prefix = "conc:", .timeout_ns = 10 * SEC,
                             .connections = 2, .queue_items = 100000};
    shared sh = {0};
    assert_int_equal(hone__redis_open(&sh.r, &o, NULL), HONE_OK);
    enum { T = 4 };
    pthread_t th[T];
    worker w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker){.sh = &sh, .seed = 1234u + (unsigned)i};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    assert_int_equal(hone__redis_flush(sh.r), HONE_OK);
    hone__redis_stats st;
    hone__redis_stats_get(sh.r, &st);
    print_message("calls %ld hits %ld; stats hits %llu misses %llu puts %llu dropped %llu\n",
                  atomic_load(&sh.calls), atomic_load(&sh.hits), (unsigned long long)st.hits,
                  (unsigned long long)st.misses, (unsigned long long)st.puts,
                  (unsigned long long)st.puts_dropped);
    assert_int_equal(atomic_load(&sh.bad), 0);
    assert_int_equal(atomic_load(&sh.wrong), 0);
    assert_true(atomic_load(&sh.hits) > 0);
    assert_int_equal(st.hits, (uint64_t)atomic_load(&sh.hits));
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(st.puts_dropped, 0);
    hone__redis_close(sh.r);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom),
        cmocka_unit_test(test_concurrent),
    };
    return HONE_TEST_RUN(tests, setup, teardown, argc, argv);
}
