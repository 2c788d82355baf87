/* test_sim_reference.c - every policy the simulator compares hone with
 * reproduces its column of the reference table in
 * ../shared/traces/SOURCES.md (libCacheSim, unit sizes, cold start): within
 * 0.3 points, Belady's optimum within 0.1. web07 comes with the repository;
 * OLTP is read from the shared traces and skipped when absent. orm-busy
 * (5M accesses) is left to bench/cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/simpol.h"
#include "test.h"

#define WEB07 HONE_SOURCE_DIR "/data/traces/web07.trace.xz"

/* Columns, in the table's order. */
static const int policies[] = {HONE_CACHE_POLICY_BELADY, HONE_CACHE_POLICY_LRU,
                               HONE_CACHE_POLICY_ARC,    HONE_CACHE_POLICY_LIRS,
                               HONE_CACHE_POLICY_S3FIFO, HONE_CACHE_POLICY_SIEVE,
                               HONE_CACHE_POLICY_WTINYLFU};
#define NPOL (sizeof policies / sizeof policies[0])

typedef struct row {
    uint64_t size;
    double want[NPOL];
} row;

static const row web07_rows[] = {
    {500, {59.2, 45.6, 48.3, 46.6, 50.0, 48.5, 45.9}},
    {1000, {63.6, 50.4, 53.0, 52.2, 54.1, 53.2, 50.3}},
    {2000, {68.0, 55.5, 57.9, 57.3, 58.0, 57.9, 54.8}},
    {4000, {71.6, 60.8, 62.6, 61.9, 62.4, 62.4, 59.5}},
};

static const row oltp_rows[] = {
    {250, {38.4, 16.5, 21.2, 17.9, 21.7, 11.8, 21.6}},
    {500, {46.4, 23.4, 30.5, 26.5, 32.6, 20.6, 26.8}},
    {1000, {53.6, 32.8, 39.0, 34.6, 40.8, 32.6, 31.9}},
    {2000, {60.4, 42.5, 46.1, 42.5, 47.0, 41.2, 37.6}},
};

/* Runs every policy on every row; prints each figure and asserts after
 * all are printed, so one failure shows the whole table. */
static void check_rows(const char *trace, const uint64_t *k, size_t n, const row *rows,
                       size_t nrows) {
    int bad = 0;
    for (size_t r = 0; r < nrows; r++) {
        for (size_t p = 0; p < NPOL; p++) {
            double got = -1, want = rows[r].want[p];
            double bound = policies[p] == HONE_CACHE_POLICY_BELADY ? 0.1 : 0.3;
            int rc = hone_cache_sim_run(policies[p], rows[r].size, k, n, NULL, &got);
            int ok = rc == HONE_OK && got >= want - bound && got <= want + bound;
            printf("%s %6llu %-8s got %6.2f want %5.1f (+-%.1f)%s\n", trace,
                   (unsigned long long)rows[r].size, hone_cache_policy_name(policies[p]), got, want,
                   bound, ok ? "" : "  FAIL");
            if (!ok) bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_web07(void **state) {
    (void)state;
    uint64_t *k;
    size_t n;
    hone_error err;
    int rc = hone_cache_trace_load(WEB07, HONE_CACHE_TRACE_AUTO, NULL, &k, &n, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HONE_OK);
    assert_int_equal(n, 76118);
    check_rows("web07", k, n, web07_rows, sizeof web07_rows / sizeof web07_rows[0]);
    hone_free(NULL, k);
}

static void test_oltp(void **state) {
    (void)state;
    const char *dir = getenv("TEST_SHARED_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/traces/OLTP.lis.zst",
             dir ? dir : HONE_SOURCE_DIR "/../shared");
    uint64_t *k;
    size_t n;
    hone_error err;
    if (hone_cache_trace_load(path, HONE_CACHE_TRACE_AUTO, NULL, &k, &n, &err)) {
        printf("skipping OLTP: %s\n", err.msg);
        skip();
    }
    assert_int_equal(n, 914145);
    check_rows("OLTP", k, n, oltp_rows, sizeof oltp_rows / sizeof oltp_rows[0]);
    hone_free(NULL, k);
}

/* Names round-trip, with the accepted spellings. */
static void test_names(void **state) {
    (void)state;
    static const char *const names[] = {"lirs", "sieve", "wtinylfu", "belady"};
    static const int want[] = {HONE_CACHE_POLICY_LIRS, HONE_CACHE_POLICY_SIEVE,
                               HONE_CACHE_POLICY_WTINYLFU, HONE_CACHE_POLICY_BELADY};
    hone_error err;
    for (size_t i = 0; i < 4; i++) {
        int p = -1;
        assert_int_equal(hone_cache_policy_parse(names[i], &p, &err), HONE_OK);
        assert_int_equal(p, want[i]);
        assert_string_equal(hone_cache_policy_name(p), names[i]);
    }
    int p = -1;
    assert_int_equal(hone_cache_policy_parse("w-tinylfu", &p, &err), HONE_OK);
    assert_int_equal(p, HONE_CACHE_POLICY_WTINYLFU);
    assert_null(hone_cache_policy_name(HONE_CACHE_POLICY_ALL_COUNT));
    /* COUNT keeps meaning the four policies that came first. */
    assert_int_equal(HONE_CACHE_POLICY_COUNT, 4);
}

/* Belady is offline: no incremental simulator, but sim_run replays it; a
 * zero capacity is refused by every policy. */
static void test_belady_offline_and_edges(void **state) {
    (void)state;
    hone_cache_sim *s = (hone_cache_sim *)1;
    assert_int_equal(hone_cache_sim_new(&s, HONE_CACHE_POLICY_BELADY, 10, NULL), HONE_EINVAL);
    assert_null(s);
    /* a b c a b d a: capacity 2 -> the optimum hits a (4th) and a (7th)
     * ... a b (miss miss) c evicts b (next use 4 vs a's 3), a hits, b
     * misses evicting c (never again), d misses evicting b, a hits: 2. */
    static const uint64_t k[] = {1, 2, 3, 1, 2, 4, 1};
    uint64_t hits = 0;
    assert_int_equal(hone__sim_belady(k, 7, 2, NULL, &hits), HONE_OK);
    assert_int_equal(hits, 2);
    assert_int_equal(hone__sim_belady(k, 7, 0, NULL, &hits), HONE_EINVAL);
    assert_int_equal(hone__sim_belady(k, 7, 100, NULL, &hits), HONE_OK);
    assert_int_equal(hits, 3); /* every repeat hits when all fit */
    for (size_t p = 0; p < NPOL; p++) {
        double h = -1;
        assert_int_equal(hone_cache_sim_run(policies[p], 0, k, 7, NULL, &h), HONE_EINVAL);
        /* Tiny capacities terminate and count sensibly. */
        for (uint64_t c = 1; c <= 3; c++) {
            assert_int_equal(hone_cache_sim_run(policies[p], c, k, 7, NULL, &h), HONE_OK);
            assert_true(h >= 0.0 && h <= 100.0 * 3 / 7 + 1e-9);
        }
    }
}

/* Every policy here survives the failure of any allocation: ENOMEM and
 * nothing leaked (failalloc_loop checks both). */
static int sim_calls(const hone_allocator *a, void *ctx) {
    (void)ctx;
    uint64_t k[3000];
    for (size_t i = 0; i < 3000; i++) k[i] = (uint64_t)((i * 7919) % 400);
    for (size_t p = 0; p < NPOL; p++) {
        double h;
        int rc = hone_cache_sim_run(policies[p], 100, k, 3000, a, &h);
        if (rc) return rc;
    }
    return HONE_OK;
}

static void test_oom(void **state) {
    (void)state;
    assert_true(failalloc_loop("reference sim_run", sim_calls, NULL) > 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_names), cmocka_unit_test(test_belady_offline_and_edges),
    cmocka_unit_test(test_oom),   cmocka_unit_test(test_web07),
    cmocka_unit_test(test_oltp),
};
HONE_TEST_MAIN(tests)
