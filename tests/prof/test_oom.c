/* test_oom.c - every prof call that allocates fails cleanly (HONE_ENOMEM,
 * nothing leaked) at each of its allocations. */
#include <string.h>

#include "test.h"

static int hist_calls(const hone_allocator *a, void *ctx) {
    (void)ctx;
    hone_hist *h, *g;
    int rc = hone_hist_new(&h, &(hone_hist_opts){.alloc = a});
    if (rc) return rc;
    if ((rc = hone_hist_new(&g, &(hone_hist_opts){.alloc = a}))) {
        hone_hist_free(h);
        return rc;
    }
    hone_hist_record(h, 42);
    rc = hone_hist_merge(g, h);
    hone_hist_free(h);
    hone_hist_free(g);
    return rc;
}

static int snapshot_report(const hone_allocator *a, void *ctx) {
    (void)ctx;
    hone_prof_snapshot *s;
    int rc = hone_prof_snapshot_take(&s, &(hone_prof_snapshot_opts){a, 0});
    if (rc) return rc;
    for (int f = HONE_REPORT_TEXT; f <= HONE_REPORT_PROM && !rc; f++) {
        hone_buf b;
        hone_buf_init(&b, a);
        rc = hone_prof_report(s, &(hone_prof_report_opts){.format = (hone_report_format)f}, &b);
        hone_buf_free(&b);
    }
    hone_prof_snapshot_free(s);
    return rc;
}

static int parse(const hone_allocator *a, void *ctx) {
    const char *doc = ctx;
    hone_prof_snapshot *s;
    hone_error err;
    int rc = hone_prof_snapshot_parse(&s, doc, strlen(doc), a, &err);
    hone_prof_snapshot_free(s);
    return rc;
}

static void test_oom_loops(void **state) {
    (void)state;
    static hone_prof_site s1 = {"one", "a.c", "f", 1, HONE_LOG_WARN, 0, 0, 0, 0};
    static hone_prof_site s2 = {"two", "b.c", "g", 2, HONE_LOG_WARN, 0, 0, 0, 0};
    hone_prof_enable(1);
    hone_prof_record(&s1, 100);
    hone_prof_record(&s2, 2000);
    assert_true(failalloc_loop("hist", hist_calls, NULL) > 0);
    assert_true(failalloc_loop("snapshot+report", snapshot_report, NULL) > 0);
    const char *doc = "{\"format\": \"hone-profile\", \"version\": 1, \"zones\": [{\"name\": \"a\", \"count\": 1, "
                      "\"total_ns\": 5, \"self_ns\": 5, \"min_ns\": 5, \"max_ns\": 5, \"p50_ns\": 5, \"p90_ns\": 5, "
                      "\"p99_ns\": 5, \"p999_ns\": 5}, {\"name\": \"b\", \"count\": 1, \"total_ns\": 5, "
                      "\"self_ns\": 5, \"min_ns\": 5, \"max_ns\": 5, \"p50_ns\": 5, \"p90_ns\": 5, \"p99_ns\": 5, "
                      "\"p999_ns\": 5}]}";
    assert_true(failalloc_loop("parse", parse, (void *)doc) > 0);
}

static const struct CMUnitTest tests[] = {cmocka_unit_test(test_oom_loops)};
HONE_TEST_MAIN(tests)
