/* test_oom.c - every cache call fails cleanly (HONE_ENOMEM, nothing leaked,
 * the cache still usable) when any allocation fails. */
#include <stdio.h>
#include <string.h>

#include "test.h"

static int loader(void *ctx, const void *key, size_t klen, void **val, size_t *vlen,
                  uint64_t *ttl) {
    (void)ctx, (void)ttl;
    void *v = hone_malloc(NULL, klen);
    if (!v) return HONE_ENOMEM;
    memcpy(v, key, klen);
    *val = v;
    *vlen = klen;
    return HONE_OK;
}

static int cache_calls(const hone_allocator *a, void *ctx) {
    (void)ctx;
    hone_cache_options o = {0};
    o.alloc = a;
    o.max_entries = 40;
    o.negative_ttl_ns = 1000000000;
    hone_cache *c;
    int rc = hone_cache_new(&c, &o);
    if (rc) return rc;
    char k[16], buf[16];
    size_t n;
    for (int i = 0; i < 120 && !rc; i++) {
        snprintf(k, sizeof k, "key%d", i % 70);
        rc = hone_cache_put(c, k, strlen(k), k, strlen(k));
        if (!rc && hone_cache_get(c, k, strlen(k), buf, sizeof buf, &n) == HONE_OK &&
            memcmp(buf, k, n))
            rc = HONE_EFAIL;
    }
    hone_cache_view v;
    if (!rc) rc = hone_cache_get_or_load(c, "loaded", 6, loader, NULL, &v);
    if (!rc) {
        if (v.len != 6 || memcmp(v.data, "loaded", 6)) rc = HONE_EFAIL;
        hone_cache_view_release(&v);
    }
    if (!rc && hone_cache_get_view(c, "key69", 5, &v) == HONE_OK) hone_cache_view_release(&v);
    if (!rc) hone_cache_delete(c, "key69", 5);
    if (!rc) rc = hone_cache_resize(c, 10, 0);
    hone_buf b;
    hone_buf_init(&b, a);
    if (!rc) rc = hone_cache_stats_json(c, &b);
    hone_buf_free(&b);
    hone_cache_clear(c);
    if (!rc) rc = hone_cache_put(c, "after", 5, "clear", 5);
    hone_cache_free(c);
    return rc;
}

static int sim_calls(const hone_allocator *a, void *ctx) {
    (void)ctx;
    uint64_t keys[3000];
    for (int i = 0; i < 3000; i++) keys[i] = (uint64_t)((i * 7919) % 400);
    for (int p = 0; p < HONE_CACHE_POLICY_COUNT; p++) {
        double h;
        int rc = hone_cache_sim_run(p, 100, keys, 3000, a, &h);
        if (rc) return rc;
    }
    return HONE_OK;
}

static int trace_calls(const hone_allocator *a, void *ctx) {
    (void)ctx;
    uint64_t *k;
    size_t n;
    hone_error err;
    int rc = hone_cache_trace_load(HONE_SOURCE_DIR "/data/traces/web07.trace.xz", 0, a, &k, &n,
                                   &err);
    if (rc) return rc;
    hone_free(a, k);
    return HONE_OK;
}

static void test_oom_cache(void **state) {
    (void)state;
    failalloc_loop("cache calls", cache_calls, NULL);
}

static void test_oom_sim(void **state) {
    (void)state;
    failalloc_loop("simulator", sim_calls, NULL);
}

static void test_oom_trace(void **state) {
    (void)state;
    failalloc_loop("trace load", trace_calls, NULL);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_cache),
        cmocka_unit_test(test_oom_sim),
        cmocka_unit_test(test_oom_trace),
};
HONE_TEST_MAIN(tests)
