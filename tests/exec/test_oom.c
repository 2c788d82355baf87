/* test_oom.c - out-of-memory loops over the executor: pool + futures,
 * groups, parallel loops and the batcher must fail cleanly with
 * HONE_ENOMEM (or recover) and leak nothing at every failing allocation. */
#include "test.h"

static int noop(void *arg, hone_task *t) { return HONE_OK; }

static int pool_futures(const hone_allocator *a, void *ctx) {
    hone_pool_opts o = {.workers = 2, .alloc = a};
    hone_pool *p;
    int rc = hone_pool_new(&p, &o, NULL);
    if (rc) return rc;
    hone_future *f[20] = {0};
    for (int i = 0; i < 20 && !rc; i++) rc = hone_pool_submit(p, noop, NULL, &f[i]);
    if (!rc) rc = hone_pool_submit(p, noop, NULL, NULL);
    for (int i = 0; i < 20; i++) {
        if (f[i]) hone_future_wait(f[i]);
        hone_future_free(f[i]);
    }
    hone_pool_free(p);
    return rc;
}

static int group_run(const hone_allocator *a, void *ctx) {
    hone_pool_opts o = {.workers = 2, .alloc = a};
    hone_pool *p;
    int rc = hone_pool_new(&p, &o, NULL);
    if (rc) return rc;
    hone_group *g;
    hone_group_opts go = {.max_concurrency = 2, .policy = HONE_GROUP_FAIL_FAST};
    rc = hone_group_new(&g, p, &go);
    if (!rc) {
        for (int i = 0; i < 40 && rc >= 0; i++) rc = hone_group_add(g, noop, NULL);
        if (rc >= 0) rc = hone_group_wait(g);
        hone_group_free(g);
    }
    hone_pool_free(p);
    return rc;
}

static int scope_run(const hone_allocator *a, void *ctx) {
    hone_pool_opts o = {.workers = 2, .alloc = a};
    hone_pool *p;
    int rc = hone_pool_new(&p, &o, NULL);
    if (rc) return rc;
    hone_scope *s;
    rc = hone_scope_new(&s, p);
    if (!rc) {
        for (int i = 0; i < 40 && !rc; i++) rc = hone_scope_spawn(s, noop, NULL);
        int w = hone_scope_wait(s);
        if (!rc) rc = w;
        hone_scope_free(s);
    }
    hone_pool_free(p);
    return rc;
}

static int sum(void *ctx, size_t lo, size_t hi) { return HONE_OK; }

static int pfor_run(const hone_allocator *a, void *ctx) {
    hone_pool_opts o = {.workers = 2, .alloc = a};
    hone_pool *p;
    int rc = hone_pool_new(&p, &o, NULL);
    if (rc) return rc;
    rc = hone_parallel_for(p, 0, 1000, 0, sum, NULL);
    hone_pool_free(p);
    return rc;
}

static void sink(void *ctx, void **items, size_t n) {}

static int batcher_run(const hone_allocator *a, void *ctx) {
    hone_batcher_opts o = {.batch_size = 8, .max_wait_ns = 1000000, .alloc = a};
    hone_batcher *b;
    int rc = hone_batcher_new(&b, sink, NULL, &o, NULL);
    if (rc) return rc;
    for (int i = 0; i < 100 && !rc; i++) rc = hone_batcher_add(b, (void *)(intptr_t)i, HONE_BATCH_BLOCK);
    hone_batcher_close(b);
    hone_batcher_free(b);
    return rc;
}

static void oom_pool(void **state) { failalloc_loop("pool+futures", pool_futures, NULL); }
static void oom_group(void **state) { failalloc_loop("group", group_run, NULL); }
static void oom_pfor(void **state) { failalloc_loop("parallel_for", pfor_run, NULL); }
static void oom_scope(void **state) { failalloc_loop("scope", scope_run, NULL); }
static void oom_batcher(void **state) { failalloc_loop("batcher", batcher_run, NULL); }

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(oom_pool),
        cmocka_unit_test(oom_group),
        cmocka_unit_test(oom_pfor),
        cmocka_unit_test(oom_scope),
        cmocka_unit_test(oom_batcher),
};
HONE_TEST_MAIN(tests)
