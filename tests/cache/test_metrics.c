/* test_metrics.c - the cache's figures in Prometheus exposition: every
 * series a dashboard reads, counters that survive hone_cache_stats_reset,
 * and clear errors for bad arguments and clashing names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* The value of the exposition line that starts with `series ` (exact). */
static double series_value(const char *text, const char *series) {
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
        if (!strncmp(p, series, n) && p[n] == ' ') return strtod(p + n + 1, NULL);
    }
    print_error("no line for %s in:\n%s\n", series, text);
    fail();
    return -1;
}

static char *expose(hone_metrics *m, hone_buf *b) {
    b->len = 0;
    assert_int_equal(hone_metrics_expose(m, b), HONE_OK);
    return b->data;
}

static int fail_load(void *ctx, const void *key, size_t klen, void **val, size_t *vlen,
                     uint64_t *ttl_ns) {
    (void)ctx, (void)key, (void)klen, (void)val, (void)vlen, (void)ttl_ns;
    return HONE_EIO;
}

static void test_series(void **state) {
    (void)state;
    hone_cache_options o = {0};
    o.max_entries = 2;
    hone_cache *c;
    assert_int_equal(hone_cache_new(&c, &o), HONE_OK);
    hone_metrics *m;
    assert_int_equal(hone_metrics_new(&m, NULL), HONE_OK);
    char buf[8];
    size_t n;
    assert_int_equal(hone_cache_put(c, "a", 1, "1", 1), HONE_OK);
    assert_int_equal(hone_cache_put(c, "b", 1, "2", 1), HONE_OK);
    assert_int_equal(hone_cache_get(c, "a", 1, buf, sizeof buf, &n), HONE_OK);
    assert_int_equal(hone_cache_get(c, "a", 1, buf, sizeof buf, &n), HONE_OK);
    assert_int_equal(hone_cache_get(c, "x", 1, buf, sizeof buf, &n), HONE_ENOTFOUND);
    assert_int_equal(hone_cache_delete(c, "b", 1), HONE_OK);
    hone_cache_view v;
    assert_int_equal(hone_cache_get_or_load(c, "z", 1, fail_load, NULL, &v), HONE_EIO);

    hone_error err = {0};
    assert_int_equal(hone_cache_metrics_update(c, m, "users", &err), HONE_OK);
    hone_buf b = {0};
    char *t = expose(m, &b);
    assert_non_null(strstr(t, "# TYPE hone_cache_hits_total counter"));
    assert_non_null(strstr(t, "# TYPE hone_cache_entries gauge"));
    assert_int_equal(series_value(t, "hone_cache_hits_total{cache=\"users\"}"), 2);
    /* x, and z before its load. */
    assert_int_equal(series_value(t, "hone_cache_misses_total{cache=\"users\"}"), 2);
    assert_int_equal(series_value(t, "hone_cache_loads_total{cache=\"users\"}"), 1);
    assert_int_equal(series_value(t, "hone_cache_load_failures_total{cache=\"users\"}"), 1);
    assert_int_equal(
        series_value(t, "hone_cache_evictions_total{cache=\"users\",reason=\"explicit\"}"), 1);
    assert_int_equal(
        series_value(t, "hone_cache_evictions_total{cache=\"users\",reason=\"size\"}"), 0);
    assert_int_equal(series_value(t, "hone_cache_entries{cache=\"users\"}"), 1);
    assert_int_equal(series_value(t, "hone_cache_max_entries{cache=\"users\"}"), 2);
    assert_int_equal(series_value(t, "hone_cache_utilization_percent{cache=\"users\"}"), 50);
    assert_true(series_value(t, "hone_cache_memory_bytes{cache=\"users\"}") > 0);
    assert_true(series_value(t, "hone_cache_hit_ratio{cache=\"users\"}") == 0.5);

    /* A reset starts hone_cache_stats_get again; the exported counters keep
     * counting, as Prometheus needs. */
    hone_cache_stats_reset(c);
    assert_int_equal(hone_cache_get(c, "a", 1, buf, sizeof buf, &n), HONE_OK);
    hone_cache_stats st;
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 0);
    assert_int_equal(st.loads, 0);
    assert_int_equal(st.evictions[HONE_CACHE_EVICT_EXPLICIT], 0);
    hone_cache_stats_lifetime(c, &st);
    assert_int_equal(st.hits, 3);
    assert_int_equal(st.misses, 2);
    assert_int_equal(hone_cache_metrics_update(c, m, "users", &err), HONE_OK);
    t = expose(m, &b);
    assert_int_equal(series_value(t, "hone_cache_hits_total{cache=\"users\"}"), 3);
    assert_int_equal(series_value(t, "hone_cache_loads_total{cache=\"users\"}"), 1);

    /* A second cache under the same name would make counters go down. */
    hone_cache *c2;
    assert_int_equal(hone_cache_new(&c2, &o), HONE_OK);
    assert_int_equal(hone_cache_metrics_update(c2, m, "users", &err), HONE_ERANGE);
    assert_non_null(strstr(err.msg, "hone_cache_hits_total{cache=\"users\"}"));
    /* Under its own name it is a second set of series. */
    assert_int_equal(hone_cache_metrics_update(c2, m, "sessions", &err), HONE_OK);
    t = expose(m, &b);
    assert_int_equal(series_value(t, "hone_cache_hits_total{cache=\"sessions\"}"), 0);
    assert_int_equal(series_value(t, "hone_cache_hits_total{cache=\"users\"}"), 3);

    assert_int_equal(hone_cache_metrics_update(c, m, "", &err), HONE_EINVAL);
    assert_int_equal(hone_cache_metrics_update(c, NULL, "x", &err), HONE_EINVAL);
    /* A label value is escaped, not trusted. */
    assert_int_equal(hone_cache_metrics_update(c2, m, "a\"b", &err), HONE_OK);
    t = expose(m, &b);
    assert_int_equal(series_value(t, "hone_cache_entries{cache=\"a\\\"b\"}"), 0);

    hone_buf_free(&b);
    hone_metrics_free(m);
    hone_cache_free(c2);
    hone_cache_free(c);
}

static const struct CMUnitTest tests[] = {cmocka_unit_test(test_series)};
HONE_TEST_MAIN(tests)
