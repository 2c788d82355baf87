/* test_cache.c - what users of the cache rely on: put/get/delete/contains,
 * views that outlive eviction, TTLs on an injected clock, capacity by
 * entries and bytes, resize, stats and their JSON, get_or_load errors and
 * negative caching. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

typedef struct fake_clock {
    uint64_t t;
} fake_clock;

static uint64_t fake_now(void *ctx) { return ((fake_clock *)ctx)->t; }

static hone_cache *make(uint64_t entries, uint64_t bytes, fake_clock *fc) {
    hone_cache_options o = {0};
    o.max_entries = entries;
    o.max_bytes = bytes;
    if (fc) {
        o.clock = fake_now;
        o.clock_ctx = fc;
    }
    hone_cache *c = NULL;
    assert_int_equal(hone_cache_new(&c, &o), HONE_OK);
    return c;
}

static void test_put_get_delete(void **state) {
    (void)state;
    hone_cache *c = make(100, 0, NULL);
    char buf[32];
    size_t n = 0;
    assert_int_equal(hone_cache_get(c, "k", 1, buf, sizeof buf, &n), HONE_ENOTFOUND);
    assert_int_equal(hone_cache_put(c, "k", 1, "value", 5), HONE_OK);
    assert_int_equal(hone_cache_get(c, "k", 1, buf, sizeof buf, &n), HONE_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "value", 5);
    /* A short buffer gets a truncated copy and the full length. */
    assert_int_equal(hone_cache_get(c, "k", 1, buf, 2, &n), HONE_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "va", 2);
    assert_int_equal(hone_cache_put(c, "k", 1, "v2", 2), HONE_OK);
    assert_int_equal(hone_cache_get(c, "k", 1, buf, sizeof buf, &n), HONE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(hone_cache_contains(c, "k", 1), 1);
    assert_int_equal(hone_cache_contains(c, "kk", 2), 0);
    assert_int_equal(hone_cache_delete(c, "k", 1), HONE_OK);
    assert_int_equal(hone_cache_delete(c, "k", 1), HONE_ENOTFOUND);
    assert_int_equal(hone_cache_contains(c, "k", 1), 0);
    /* Lengths the entry header cannot hold are refused before anything is
     * read (the pointers are not dereferenced for these lengths). */
    assert_int_equal(hone_cache_put(c, "k", (size_t)1 << 31, "v", 1), HONE_EINVAL);
    if (SIZE_MAX > UINT32_MAX)
        assert_int_equal(hone_cache_put(c, "k", 1, "v", (size_t)UINT32_MAX + 1), HONE_EINVAL);
    /* Empty keys and values are values like any other. */
    assert_int_equal(hone_cache_put(c, "", 0, "", 0), HONE_OK);
    assert_int_equal(hone_cache_get(c, "", 0, buf, sizeof buf, &n), HONE_OK);
    assert_int_equal(n, 0);
    hone_cache_stats st;
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.hits, 4);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.evictions[HONE_CACHE_EVICT_EXPLICIT], 2); /* replace + delete */
    assert_int_equal(st.entries, 1);
    hone_cache_free(c);
    hone_cache_free(NULL);
}

static void test_bad_options(void **state) {
    (void)state;
    hone_cache *c = (hone_cache *)1;
    hone_cache_options o = {0};
    assert_int_equal(hone_cache_new(&c, &o), HONE_EINVAL);
    assert_null(c);
    o.max_entries = 10;
    o.shards = 3;
    assert_int_equal(hone_cache_new(&c, &o), HONE_EINVAL);
    o.shards = 512;
    assert_int_equal(hone_cache_new(&c, &o), HONE_EINVAL);
}

static void test_view_outlives_eviction(void **state) {
    (void)state;
    hone_cache *c = make(4, 0, NULL);
    assert_int_equal(hone_cache_put(c, "a", 1, "alpha", 5), 0);
    hone_cache_view v;
    assert_int_equal(hone_cache_get_view(c, "a", 1, &v), HONE_OK);
    assert_int_equal(hone_cache_put(c, "a", 1, "replaced", 8), 0);
    assert_int_equal(hone_cache_delete(c, "a", 1), 0);
    hone_cache_clear(c);
    char big[64];
    for (int i = 0; i < 50; i++) {
        snprintf(big, sizeof big, "key%d", i);
        assert_int_equal(hone_cache_put(c, big, strlen(big), big, strlen(big)), 0);
    }
    /* The view still reads the value it was given (ASan would flag a
     * use-after-free). */
    assert_int_equal(v.len, 5);
    assert_memory_equal(v.data, "alpha", 5);
    hone_cache_view_release(&v);
    hone_cache_view_release(&v); /* released views are zeroed: no-op */
    hone_cache_view_release(NULL);
    /* A view may even outlive the cache. */
    assert_int_equal(hone_cache_get_view(c, "key49", 5, &v), HONE_OK);
    hone_cache_free(c);
    assert_memory_equal(v.data, "key49", 5);
    hone_cache_view_release(&v);
}

/* A counting allocator: every block it hands out must come back to it. */
typedef struct counting {
    long live, total;
} counting;
static void *cnt_malloc(void *ctx, size_t n) {
    counting *c = ctx;
    void *p = malloc(n);
    if (p) c->live++, c->total++;
    return p;
}
static void *cnt_realloc(void *ctx, void *p, size_t n) {
    counting *c = ctx;
    void *q = realloc(p, n);
    if (q && !p) c->live++, c->total++;
    return q;
}
static void cnt_free(void *ctx, void *p) {
    counting *c = ctx;
    if (p) c->live--;
    free(p);
}

/* Entries of a cache made with its own allocator remember it, so a view
 * released after the cache is gone frees its entry there, not in libc's
 * default; and a cache that expires after access keeps each entry's ttl. */
static void test_view_outlives_cache_own_allocator(void **state) {
    (void)state;
    counting cnt = {0, 0};
    hone_allocator a = {cnt_malloc, cnt_realloc, cnt_free, &cnt};
    fake_clock fc = {1000};
    hone_cache_options o = {0};
    o.alloc = &a;
    o.max_entries = 8;
    o.ttl_ns = 100;
    o.expire_after_access = 1;
    o.clock = fake_now;
    o.clock_ctx = &fc;
    hone_cache *c = NULL;
    assert_int_equal(hone_cache_new(&c, &o), HONE_OK);
    assert_int_equal(hone_cache_put(c, "k", 1, "value", 5), HONE_OK);
    assert_int_equal(hone_cache_put_ex(c, "long", 4, "lived", 5, 1000, 0), HONE_OK);
    /* Each access restarts the entry's own ttl. */
    char buf[8];
    size_t n;
    for (int i = 0; i < 5; i++) {
        fc.t += 90;
        assert_int_equal(hone_cache_get(c, "k", 1, buf, sizeof buf, &n), HONE_OK);
    }
    fc.t += 500;
    assert_int_equal(hone_cache_get(c, "k", 1, buf, sizeof buf, &n), HONE_ENOTFOUND);
    assert_int_equal(hone_cache_get(c, "long", 4, buf, sizeof buf, &n), HONE_OK);
    fc.t += 999;
    hone_cache_view v;
    assert_int_equal(hone_cache_get_view(c, "long", 4, &v), HONE_OK);
    hone_cache_free(c);
    assert_true(cnt.live > 0); /* the view's entry */
    assert_int_equal(v.len, 5);
    assert_memory_equal(v.data, "lived", 5);
    hone_cache_view_release(&v);
    if (cnt.live != 0) {
        print_error("%ld of %ld blocks were not returned to the cache's allocator\n", cnt.live,
                    cnt.total);
        fail();
    }
}

static void test_capacity_entries(void **state) {
    (void)state;
    hone_cache *c = make(10, 0, NULL);
    char k[16];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(hone_cache_put(c, k, strlen(k), "v", 1), 0);
        hone_cache_stats st;
        hone_cache_stats_get(c, &st);
        assert_true(st.entries <= 10);
    }
    hone_cache_stats st;
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.entries, 10);
    assert_int_equal(st.evictions[HONE_CACHE_EVICT_SIZE], 90);
    assert_float_equal(st.utilization, 100.0, 1e-9);
    /* Shrinking evicts down to the new size; growing makes room. */
    assert_int_equal(hone_cache_resize(c, 4, 0), HONE_OK);
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.entries, 4);
    assert_int_equal(st.evictions[HONE_CACHE_EVICT_SIZE], 96);
    assert_int_equal(hone_cache_resize(c, 0, 0), HONE_EINVAL);
    assert_int_equal(hone_cache_resize(c, 0, 100), HONE_EINVAL); /* weights are entries */
    assert_int_equal(hone_cache_resize(c, 50, 0), HONE_OK);
    for (int i = 0; i < 40; i++) {
        snprintf(k, sizeof k, "n%d", i);
        assert_int_equal(hone_cache_put(c, k, strlen(k), "v", 1), 0);
    }
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.entries, 44);
    hone_cache_free(c);
}

static void test_frequent_keys_survive(void **state) {
    (void)state;
    /* A hot key read often is kept while a stream of one-off keys passes
     * through: the policy is frequency-aware, not plain LRU. */
    hone_cache *c = make(64, 0, NULL);
    char k[16], buf[8];
    size_t n;
    assert_int_equal(hone_cache_put(c, "hot", 3, "h", 1), 0);
    for (int i = 0; i < 2000; i++) {
        if (hone_cache_get(c, "hot", 3, buf, sizeof buf, &n) != HONE_OK)
            assert_int_equal(hone_cache_put(c, "hot", 3, "h", 1), 0);
        snprintf(k, sizeof k, "once%d", i);
        assert_int_equal(hone_cache_put(c, k, strlen(k), "v", 1), 0);
    }
    assert_int_equal(hone_cache_contains(c, "hot", 3), 1);
    hone_cache_free(c);
}

static void test_capacity_bytes(void **state) {
    (void)state;
    hone_cache *c = make(0, 1000, NULL);
    char v[100];
    memset(v, 'x', sizeof v);
    char k[16];
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "%04d", i);
        assert_int_equal(hone_cache_put(c, k, 4, v, 96), 0); /* weighs 100 */
        hone_cache_stats st;
        hone_cache_stats_get(c, &st);
        assert_true(st.bytes <= 1000);
    }
    hone_cache_stats st;
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.bytes, 1000);
    assert_int_equal(st.entries, 10);
    /* One entry heavier than the whole cache is refused. */
    assert_int_equal(hone_cache_put_ex(c, "big", 3, v, 10, 0, 5000), HONE_EINVAL);
    /* An explicit weight counts instead of the size. */
    assert_int_equal(hone_cache_put_ex(c, "w", 1, "x", 1, 0, 500), HONE_OK);
    hone_cache_stats_get(c, &st);
    assert_true(st.bytes <= 1000);
    hone_cache_free(c);
    /* Both limits: the entry count binds first here. */
    c = make(3, 1000, NULL);
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof k, "%04d", i);
        assert_int_equal(hone_cache_put(c, k, 4, v, 6), 0);
    }
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.bytes, 30);
    hone_cache_free(c);
}

static void test_large_byte_cache_is_lazy(void **state) {
    (void)state;
    /* A cache allowed 64 GiB must not reserve memory for the millions of
     * entries it might hold: it starts small and grows with its content. */
    hone_cache *c = make(0, 64ULL << 30, NULL);
    uint64_t m0 = hone_cache_memory_size(c);
    assert_true(m0 < (64u << 20));
    char k[16], v[100] = {0};
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof k, "%d", i);
        assert_int_equal(hone_cache_put(c, k, strlen(k), v, sizeof v), 0);
    }
    hone_cache_stats st;
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.entries, 20000);
    assert_true(hone_cache_memory_size(c) < m0 + 20000 * 400);
    hone_cache_free(c);
    c = make(1000000000, 0, NULL);
    assert_true(hone_cache_memory_size(c) < (64u << 20));
    hone_cache_free(c);
}

static void test_ttl(void **state) {
    (void)state;
    fake_clock fc = {1000};
    hone_cache_options o = {0};
    o.max_entries = 100;
    o.ttl_ns = 100;
    o.clock = fake_now;
    o.clock_ctx = &fc;
    hone_cache *c;
    assert_int_equal(hone_cache_new(&c, &o), 0);
    char buf[8];
    size_t n;
    assert_int_equal(hone_cache_put(c, "d", 1, "1", 1), 0);                  /* default 100 */
    assert_int_equal(hone_cache_put_ex(c, "p", 1, "2", 1, 500, 0), 0);       /* own 500 */
    assert_int_equal(hone_cache_put_ex(c, "f", 1, "3", 1, UINT64_MAX, 0), 0); /* forever */
    fc.t = 1099;
    assert_int_equal(hone_cache_get(c, "d", 1, buf, sizeof buf, &n), HONE_OK);
    fc.t = 1100;
    assert_int_equal(hone_cache_get(c, "d", 1, buf, sizeof buf, &n), HONE_ENOTFOUND);
    assert_int_equal(hone_cache_contains(c, "p", 1), 1);
    fc.t = 1500;
    assert_int_equal(hone_cache_contains(c, "p", 1), 0);
    hone_cache_view v;
    assert_int_equal(hone_cache_get_view(c, "p", 1, &v), HONE_ENOTFOUND);
    fc.t = 1000000;
    assert_int_equal(hone_cache_get(c, "f", 1, buf, sizeof buf, &n), HONE_OK);
    hone_cache_stats st;
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.evictions[HONE_CACHE_EVICT_EXPIRED], 2);
    hone_cache_free(c);

    /* Expire after access: every hit restarts the clock. */
    fc.t = 0;
    o.expire_after_access = 1;
    assert_int_equal(hone_cache_new(&c, &o), 0);
    assert_int_equal(hone_cache_put(c, "a", 1, "1", 1), 0);
    for (int i = 0; i < 10; i++) {
        fc.t += 90;
        assert_int_equal(hone_cache_get(c, "a", 1, buf, sizeof buf, &n), HONE_OK);
    }
    fc.t += 100;
    assert_int_equal(hone_cache_get(c, "a", 1, buf, sizeof buf, &n), HONE_ENOTFOUND);
    hone_cache_free(c);
}

typedef struct loader_state {
    int calls;
    int fail;
} loader_state;

static int loader(void *ctx, const void *key, size_t klen, void **val, size_t *vlen,
                  uint64_t *ttl) {
    loader_state *ls = ctx;
    ls->calls++;
    if (ls->fail) return HONE_EIO;
    char *v = hone_malloc(NULL, klen + 7);
    if (!v) return HONE_ENOMEM;
    memcpy(v, "loaded:", 7);
    memcpy(v + 7, key, klen);
    *val = v;
    *vlen = klen + 7;
    if (klen == 1 && *(const char *)key == 't') *ttl = 10; /* the loader picks the ttl */
    return HONE_OK;
}

static void test_get_or_load(void **state) {
    (void)state;
    fake_clock fc = {0};
    hone_cache_options o = {0};
    o.max_entries = 100;
    o.clock = fake_now;
    o.clock_ctx = &fc;
    hone_cache *c;
    assert_int_equal(hone_cache_new(&c, &o), 0);
    loader_state ls = {0, 0};
    hone_cache_view v;
    assert_int_equal(hone_cache_get_or_load(c, "x", 1, loader, &ls, &v), HONE_OK);
    assert_int_equal(v.len, 8);
    assert_memory_equal(v.data, "loaded:x", 8);
    hone_cache_view_release(&v);
    assert_int_equal(hone_cache_get_or_load(c, "x", 1, loader, &ls, &v), HONE_OK);
    hone_cache_view_release(&v);
    assert_int_equal(ls.calls, 1); /* the second was a hit */
    assert_int_equal(hone_cache_get_or_load(c, "t", 1, loader, &ls, &v), HONE_OK);
    hone_cache_view_release(&v);
    fc.t += 9;
    assert_int_equal(hone_cache_contains(c, "t", 1), 1);
    fc.t += 1;
    assert_int_equal(hone_cache_contains(c, "t", 1), 0);
    assert_int_equal(hone_cache_get_or_load(c, "t", 1, loader, &ls, &v), HONE_OK);
    hone_cache_view_release(&v);
    assert_int_equal(ls.calls, 3);
    ls.calls = 1;
    /* Errors are returned and not cached... */
    ls.fail = 1;
    assert_int_equal(hone_cache_get_or_load(c, "y", 1, loader, &ls, &v), HONE_EIO);
    assert_null(v.ref_);
    assert_int_equal(hone_cache_get_or_load(c, "y", 1, loader, &ls, &v), HONE_EIO);
    assert_int_equal(ls.calls, 3);
    hone_cache_stats st;
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.loads, 5); /* x, t twice, y twice */
    assert_int_equal(st.load_failures, 2);
    hone_cache_free(c);

    /* ...unless negative caching is on: then until its ttl runs out. */
    o.negative_ttl_ns = 50;
    assert_int_equal(hone_cache_new(&c, &o), 0);
    ls.calls = 0;
    assert_int_equal(hone_cache_get_or_load(c, "y", 1, loader, &ls, &v), HONE_EIO);
    fc.t += 49;
    assert_int_equal(hone_cache_get_or_load(c, "y", 1, loader, &ls, &v), HONE_EIO);
    assert_int_equal(ls.calls, 1);
    fc.t += 1;
    ls.fail = 0;
    assert_int_equal(hone_cache_get_or_load(c, "y", 1, loader, &ls, &v), HONE_OK);
    assert_int_equal(ls.calls, 2);
    hone_cache_view_release(&v);
    /* A remembered failure still held at free time is freed too. */
    ls.fail = 1;
    assert_int_equal(hone_cache_get_or_load(c, "z", 1, loader, &ls, &v), HONE_EIO);
    hone_cache_free(c);
}

static int count_entries(void *ctx, const void *key, size_t klen, const void *val,
                         size_t vlen) {
    (void)key, (void)val;
    assert_int_equal(klen, vlen);
    return ++*(int *)ctx == 1000 ? 7 : 0;
}

static void test_iterate_clear_json(void **state) {
    (void)state;
    hone_cache_options o = {0};
    o.max_entries = 200000;
    o.shards = 8;
    hone_cache *c;
    assert_int_equal(hone_cache_new(&c, &o), 0);
    char k[16];
    for (int i = 0; i < 500; i++) {
        snprintf(k, sizeof k, "%05d", i);
        assert_int_equal(hone_cache_put(c, k, 5, k, 5), 0);
    }
    int seen = 0;
    assert_int_equal(hone_cache_iterate(c, count_entries, &seen), 0);
    assert_int_equal(seen, 500);
    uint64_t mem = hone_cache_memory_size(c);
    assert_true(mem > 500 * 10);
    hone_buf b;
    hone_buf_init(&b, NULL);
    assert_int_equal(hone_cache_stats_json(c, &b), 0);
    assert_non_null(strstr(b.data, "\"entries\":500,"));
    assert_non_null(strstr(b.data, "\"evictions\":{\"size\":0,"));
    hone_buf_free(&b);
    hone_cache_clear(c);
    seen = 0;
    assert_int_equal(hone_cache_iterate(c, count_entries, &seen), 0);
    assert_int_equal(seen, 0);
    hone_cache_stats st;
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.evictions[HONE_CACHE_EVICT_EXPLICIT], 500);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    hone_cache_stats_reset(c);
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.evictions[HONE_CACHE_EVICT_EXPLICIT], 0);
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "%05d", i);
        assert_int_equal(hone_cache_put(c, k, 5, k, 5), 0);
    }
    seen = 0;
    assert_int_equal(hone_cache_iterate(c, count_entries, &seen), 7); /* stopped */
    assert_int_equal(seen, 1000);
    hone_cache_free(c);
}

/* The cache's key hash before it was keyed: an unseeded mix that anyone can
 * invert, kept here to compute colliding keys the way an attacker would. */
static uint64_t old_mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t unxorshift(uint64_t y, int k) {
    uint64_t x = y;
    for (int i = 0; i < 64 / k + 1; i++) x = y ^ (x >> k);
    return x;
}

static uint64_t inv_odd(uint64_t c) {
    uint64_t inv = c;
    for (int i = 0; i < 6; i++) inv *= 2 - c * inv;
    return inv;
}

static uint64_t old_unmix(uint64_t x) {
    x = unxorshift(x, 31);
    x *= inv_odd(0x94d049bb133111ebULL);
    x = unxorshift(x, 27);
    x *= inv_odd(0xbf58476d1ce4e5b9ULL);
    return unxorshift(x, 30);
}

static uint64_t old_hash16(const uint64_t w[2]) {
    uint64_t h = 0x243f6a8885a308d3ULL ^ (16 * 0x9e3779b97f4a7c15ULL);
    for (int i = 0; i < 2; i++) h = (h ^ old_mix(w[i])) * 0x9fb21c651e98df25ULL;
    return old_mix(h ^ 0x5851f42d4c957f2dULL);
}

/* Crafted keys: flipping the top bit of both mixed words cancels through
 * the old hash's multiply (x ^ 2^63 = x + 2^63, times an odd constant), so
 * each pair collides for that hash. Putting one must not evict the other. */
static void test_crafted_collisions(void **state) {
    hone_cache *c = make(1000, 0, NULL);
    enum { PAIRS = 64 };
    for (uint64_t i = 0; i < PAIRS; i++) {
        uint64_t a[2] = {0x1000 + i, 0x2000 + i * 7}, b[2];
        for (int j = 0; j < 2; j++) b[j] = old_unmix(old_mix(a[j]) ^ (1ULL << 63));
        assert_int_equal(old_mix(old_unmix(a[0])), a[0]);
        assert_true(memcmp(a, b, 16) != 0);
        assert_true(old_hash16(a) == old_hash16(b));
        assert_int_equal(hone_cache_put(c, a, 16, "a", 1), HONE_OK);
        assert_int_equal(hone_cache_put(c, b, 16, "b", 1), HONE_OK);
    }
    for (uint64_t i = 0; i < PAIRS; i++) {
        uint64_t a[2] = {0x1000 + i, 0x2000 + i * 7}, b[2];
        for (int j = 0; j < 2; j++) b[j] = old_unmix(old_mix(a[j]) ^ (1ULL << 63));
        char v = 0;
        size_t n = 0;
        assert_int_equal(hone_cache_get(c, a, 16, &v, 1, &n), HONE_OK);
        assert_int_equal(v, 'a');
        assert_int_equal(hone_cache_get(c, b, 16, &v, 1, &n), HONE_OK);
        assert_int_equal(v, 'b');
    }
    hone_cache_stats st;
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.entries, 2 * PAIRS);
    hone_cache_free(c);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_delete),       cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_view_outlives_eviction), cmocka_unit_test(test_capacity_entries),
        cmocka_unit_test(test_view_outlives_cache_own_allocator),
        cmocka_unit_test(test_frequent_keys_survive), cmocka_unit_test(test_capacity_bytes),
        cmocka_unit_test(test_large_byte_cache_is_lazy), cmocka_unit_test(test_ttl),                  cmocka_unit_test(test_get_or_load),
        cmocka_unit_test(test_iterate_clear_json),
        cmocka_unit_test(test_crafted_collisions),
};
HONE_TEST_MAIN(tests)
