/* test_concurrent.c - the cache under many threads: single-flight loading
 * runs the loader exactly once and hands every waiter the same result or
 * the same error; mixed operations keep values intact (run under TSan). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache_test.h"
#include "test.h"

#define THREADS 16

typedef struct flight_test {
    hone_cache *c;
    atomic_int calls;
    atomic_int release; /* the loader waits for this */
    int fail;
    int rc[THREADS];
    char got[THREADS][16];
} flight_test;

static int slow_loader(void *ctx, const void *key, size_t klen, void **val, size_t *vlen,
                       uint64_t *ttl) {
    flight_test *ft = ctx;
    (void)key, (void)klen, (void)ttl;
    atomic_fetch_add(&ft->calls, 1);
    while (!atomic_load(&ft->release)) sched_yield();
    if (ft->fail) return HONE_EIO;
    char *v = hone_malloc(NULL, 6);
    if (!v) return HONE_ENOMEM;
    memcpy(v, "result", 6);
    *val = v;
    *vlen = 6;
    return HONE_OK;
}

typedef struct arg {
    flight_test *ft;
    int i;
} arg;

static void *flight_thread(void *p) {
    arg *a = p;
    hone_cache_view v;
    a->ft->rc[a->i] = hone_cache_get_or_load(a->ft->c, "same", 4, slow_loader, a->ft, &v);
    if (a->ft->rc[a->i] == HONE_OK) {
        memcpy(a->ft->got[a->i], v.data, v.len < 15 ? v.len : 15);
        hone_cache_view_release(&v);
    }
    return NULL;
}

static void run_flight(int fail) {
    flight_test ft;
    memset(&ft, 0, sizeof ft);
    ft.fail = fail;
    hone_cache_options o = {0};
    o.max_entries = 1000;
    assert_int_equal(hone_cache_new(&ft.c, &o), 0);
    pthread_t th[THREADS];
    arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (arg){&ft, i};
        assert_int_equal(pthread_create(&th[i], NULL, flight_thread, &args[i]), 0);
    }
    /* Every thread counts its miss under the shard lock before it either
     * starts the load or joins it; only when all have missed does the
     * loader finish. So all of them were concurrent misses, by count. */
    for (;;) {
        hone_cache_stats st;
        hone_cache_stats_get(ft.c, &st);
        if (st.misses == THREADS) break;
        sched_yield();
    }
    atomic_store(&ft.release, 1);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&ft.calls), 1);
    for (int i = 0; i < THREADS; i++) {
        if (fail) {
            assert_int_equal(ft.rc[i], HONE_EIO);
        } else {
            assert_int_equal(ft.rc[i], HONE_OK);
            assert_string_equal(ft.got[i], "result");
        }
    }
    hone_cache_stats st;
    hone_cache_stats_get(ft.c, &st);
    assert_int_equal(st.loads, 1);
    assert_int_equal(st.load_failures, fail ? 1 : 0);
    assert_int_equal(hone_cache_contains(ft.c, "same", 4), fail ? 0 : 1);
    hone_cache_free(ft.c);
}

static void test_single_flight_once(void **state) {
    (void)state;
    run_flight(0);
}

static void test_single_flight_error_to_all(void **state) {
    (void)state;
    run_flight(1);
}

typedef struct mix {
    hone_cache *c;
    int seed;
    pthread_barrier_t *bar;
    int bad;
} mix;

/* Values are the key repeated, so any torn or mixed-up value shows. */
static void *mix_thread(void *p) {
    mix *m = p;
    uint64_t x = (uint64_t)m->seed * 0x9e3779b97f4a7c15ULL + 1;
    char key[16], val[64], buf[64];
    pthread_barrier_wait(m->bar);
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int k = (int)(x % 300);
        int kl = snprintf(key, sizeof key, "k%d", k);
        int vl = 0;
        while (vl + kl <= (int)sizeof val) memcpy(val + vl, key, (size_t)kl), vl += kl;
        size_t n;
        hone_cache_view v;
        switch ((x >> 20) % 8) {
        case 0:
        case 1: hone_cache_put(m->c, key, (size_t)kl, val, (size_t)vl); break;
        case 2: hone_cache_delete(m->c, key, (size_t)kl); break;
        case 3:
            if (hone_cache_get_view(m->c, key, (size_t)kl, &v) == HONE_OK) {
                if (v.len != (size_t)vl || memcmp(v.data, val, v.len)) m->bad++;
                hone_cache_view_release(&v);
            }
            break;
        default:
            if (hone_cache_get(m->c, key, (size_t)kl, buf, sizeof buf, &n) == HONE_OK &&
                (n != (size_t)vl || memcmp(buf, val, n)))
                m->bad++;
            break;
        }
    }
    return NULL;
}

static void test_mixed_operations(void **state) {
    (void)state;
    hone_cache_options o = {0};
    o.max_entries = 128;
    o.shards = 4;
    hone_cache *c;
    assert_int_equal(hone_cache_new(&c, &o), 0);
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 4);
    pthread_t th[4];
    mix m[4];
    for (int i = 0; i < 4; i++) {
        m[i] = (mix){c, i + 1, &bar, 0};
        pthread_create(&th[i], NULL, mix_thread, &m[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) assert_int_equal(m[i].bad, 0);
    hone_cache_stats st;
    hone_cache_stats_get(c, &st);
    assert_true(st.entries <= 128);
    assert_true(st.hits > 0);
    pthread_barrier_destroy(&bar);
    hone_cache_free(c);
}

/* Readers run without a lock while writers replace, delete, evict, clear
 * and resize, so the index is rebuilt (a byte-limited cache starts with a
 * small index) and entries are retired under the readers' feet. Every value
 * read, and every view held across many other operations, must still be
 * intact, and the hit and miss counters must add up to the reads made. */
typedef struct churn {
    hone_cache *c;
    atomic_int *writers_left;
    int seed, writer;
    pthread_barrier_t *bar;
    int bad;
    uint64_t reads;
} churn;

static int churn_kv(int k, char *key, char *val, int *vl) {
    int kl = snprintf(key, 16, "c%d", k);
    int n = 0;
    while (n + kl <= 40) memcpy(val + n, key, (size_t)kl), n += kl;
    *vl = n;
    return kl;
}

static void *churn_thread(void *p) {
    churn *m = p;
    uint64_t x = (uint64_t)m->seed * 0x9e3779b97f4a7c15ULL + 7;
    char key[16], val[48], buf[48], held_val[48];
    int held_len = 0;
    hone_cache_view held = {0};
    pthread_barrier_wait(m->bar);
    /* Readers keep going until both writers are done, however the threads
     * get scheduled, so reads overlap the writes. */
    for (int i = 0; m->writer ? i < 30000 : (i < 30000 || atomic_load(m->writers_left)); i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int vl, kl = churn_kv((int)(x % 1000), key, val, &vl);
        if (m->writer) {
            unsigned op = (unsigned)(x >> 24) % 64;
            if (op == 0 && m->writer == 1) hone_cache_clear(m->c);
            else if (op == 1) hone_cache_resize(m->c, 0, (x >> 40) & 1 ? 8192 : 4096);
            else if (op < 12) hone_cache_delete(m->c, key, (size_t)kl);
            else hone_cache_put(m->c, key, (size_t)kl, val, (size_t)vl);
            if (i == 29999) atomic_fetch_sub(m->writers_left, 1);
            continue;
        }
        m->reads++;
        if ((x >> 30) & 1) {
            size_t n;
            if (hone_cache_get(m->c, key, (size_t)kl, buf, sizeof buf, &n) == HONE_OK &&
                (n != (size_t)vl || memcmp(buf, val, n)))
                m->bad++;
            continue;
        }
        if (held.ref_ && i % 50 == 0) {
            /* Held across ~50 operations of every thread: the entry may
             * be long gone from the cache by now. */
            if (held.len != (size_t)held_len || memcmp(held.data, held_val, held.len)) m->bad++;
            hone_cache_view_release(&held);
        }
        hone_cache_view v;
        if (hone_cache_get_view(m->c, key, (size_t)kl, &v) != HONE_OK) continue;
        if (v.len != (size_t)vl || memcmp(v.data, val, v.len)) m->bad++;
        if (!held.ref_) {
            held = v;
            memcpy(held_val, val, (size_t)vl);
            held_len = vl;
        } else {
            hone_cache_view_release(&v);
        }
    }
    if (held.ref_) {
        if (held.len != (size_t)held_len || memcmp(held.data, held_val, held.len)) m->bad++;
        hone_cache_view_release(&held);
    }
    return NULL;
}

static void test_lock_free_reads_under_churn(void **state) {
    (void)state;
    hone_cache_options o = {0};
    o.max_bytes = 8192;
    o.shards = 2;
    hone_cache *c;
    assert_int_equal(hone_cache_new(&c, &o), 0);
    /* Filled first, so that reads hit from the start. */
    for (int k = 0; k < 1000; k++) {
        char key[16], val[48];
        int vl, kl = churn_kv(k, key, val, &vl);
        assert_int_equal(hone_cache_put(c, key, (size_t)kl, val, (size_t)vl), 0);
    }
    atomic_int writers_left = 2;
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 4);
    pthread_t th[4];
    churn m[4];
    for (int i = 0; i < 4; i++) {
        m[i] = (churn){c, &writers_left, i + 11, i < 2 ? i + 1 : 0, &bar, 0, 0};
        pthread_create(&th[i], NULL, churn_thread, &m[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    uint64_t reads = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(m[i].bad, 0);
        reads += m[i].reads;
    }
    hone_cache_stats st;
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.hits + st.misses, reads);
    assert_true(st.bytes <= 8192);
    /* Reset zeroes the read counters exactly too. Cleared first, so that
     * the put below finds room and no admission decision (which depends on
     * the cache's random key hash) can turn it away. */
    hone_cache_clear(c);
    hone_cache_stats_reset(c);
    char key[16], val[48], buf[48];
    int vl, kl = churn_kv(1, key, val, &vl);
    size_t n;
    assert_int_equal(hone_cache_put(c, key, (size_t)kl, val, (size_t)vl), 0);
    assert_int_equal(hone_cache_get(c, key, (size_t)kl, buf, sizeof buf, &n), 0);
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 0);
    pthread_barrier_destroy(&bar);
    hone_cache_free(c);
}

/* Deterministic: a read section held open keeps every entry retired
 * meanwhile alive (memory counts them, the bytes stay readable: ASan would
 * report a use after free), and once it closes they are reclaimed. */
static void test_epoch_keeps_retired_entries(void **state) {
    (void)state;
    hone_cache_options o = {0};
    o.max_entries = 64;
    hone_cache *c;
    assert_int_equal(hone_cache_new(&c, &o), 0);
    assert_int_equal(hone_cache_put(c, "held", 4, "the held value", 14), 0);
    uint64_t base = hone_cache_memory_size(c);
    size_t vlen = 0;
    const char *p = hone__cache_test_enter(c, "held", 4, &vlen);
    assert_non_null(p);
    assert_int_equal(vlen, 14);
    /* This thread writes while its own section is open: writers never
     * wait for readers, they only defer the frees. */
    assert_int_equal(hone_cache_delete(c, "held", 4), 0);
    char key[16], val[64] = {0};
    for (int i = 0; i < 300; i++) {
        int kl = snprintf(key, sizeof key, "w%d", i);
        assert_int_equal(hone_cache_put(c, key, (size_t)kl, val, sizeof val), 0);
        if (i % 2) assert_int_equal(hone_cache_delete(c, key, (size_t)kl), 0);
    }
    assert_memory_equal(p, "the held value", 14);
    uint64_t held = hone_cache_memory_size(c);
    /* ~150 deleted entries of ~64 value bytes each are still held. */
    assert_true(held > base + 150 * 64);
    hone__cache_test_leave();
    for (int i = 300; i < 340; i++) {
        int kl = snprintf(key, sizeof key, "w%d", i);
        assert_int_equal(hone_cache_put(c, key, (size_t)kl, val, sizeof val), 0);
        assert_int_equal(hone_cache_delete(c, key, (size_t)kl), 0);
    }
    uint64_t after = hone_cache_memory_size(c);
    assert_true(after + 100 * 64 < held);
    hone_cache_free(c);
}

/* The path for threads beyond the epoch slots: reads under the shard lock,
 * with the same results, views and counters. */
static void *no_slot_thread(void *p) {
    hone_cache *c = p;
    hone__cache_test_no_slot();
    int *bad = calloc(1, sizeof *bad);
    char buf[16];
    size_t n = 0;
    hone_cache_view v;
    if (hone_cache_get(c, "a", 1, buf, sizeof buf, &n) != HONE_OK || n != 5 ||
        memcmp(buf, "alpha", 5))
        (*bad)++;
    if (hone_cache_get(c, "zz", 2, buf, sizeof buf, &n) != HONE_ENOTFOUND) (*bad)++;
    if (hone_cache_get_view(c, "a", 1, &v) != HONE_OK) (*bad)++;
    /* The view outlives the entry's replacement. */
    if (hone_cache_put(c, "a", 1, "other", 5) != HONE_OK) (*bad)++;
    if (v.len != 5 || memcmp(v.data, "alpha", 5)) (*bad)++;
    hone_cache_view_release(&v);
    if (!hone_cache_contains(c, "a", 1) || hone_cache_contains(c, "zz", 2)) (*bad)++;
    /* Enough hits to fill and drain a read buffer under the lock. */
    for (int i = 0; i < 100; i++)
        if (hone_cache_get(c, "a", 1, buf, sizeof buf, &n) != HONE_OK) (*bad)++;
    return bad;
}

static void test_reads_without_epoch_slot(void **state) {
    (void)state;
    hone_cache_options o = {0};
    o.max_entries = 16;
    hone_cache *c;
    assert_int_equal(hone_cache_new(&c, &o), 0);
    assert_int_equal(hone_cache_put(c, "a", 1, "alpha", 5), 0);
    pthread_t th;
    pthread_create(&th, NULL, no_slot_thread, c);
    int *bad;
    pthread_join(th, (void **)&bad);
    assert_int_equal(*bad, 0);
    free(bad);
    hone_cache_stats st;
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.hits, 102);
    assert_int_equal(st.misses, 1);
    hone_cache_free(c);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_flight_once),
        cmocka_unit_test(test_single_flight_error_to_all),
        cmocka_unit_test(test_mixed_operations),
        cmocka_unit_test(test_lock_free_reads_under_churn),
        cmocka_unit_test(test_epoch_keeps_retired_entries),
        cmocka_unit_test(test_reads_without_epoch_slot),
};
HONE_TEST_MAIN(tests)
