/* test_oom.c - the metrics calls that allocate fail cleanly (HONE_ENOMEM,
 * nothing leaked) at each of their allocations. */
#include <string.h>

#include "test.h"

static int registry_calls(const hone_allocator *a, void *ctx) {
    (void)ctx;
    hone_metrics *m;
    int rc = hone_metrics_new(&m, &(hone_metrics_opts){a});
    if (rc) return rc;
    hone_metric *s;
    const char *l1[] = {"k", "v1", NULL}, *l2[] = {"k", "v2", NULL};
    if (!(rc = hone_metrics_counter(m, "a_total", "A.", l1, &s, NULL))) hone_metric_inc(s);
    if (!rc && !(rc = hone_metrics_counter(m, "a_total", NULL, l2, &s, NULL))) hone_metric_inc(s);
    if (!rc && !(rc = hone_metrics_histogram(m, "h_seconds", "H.", NULL, 0, l1, &s, NULL))) hone_metric_observe(s, 0.3);
    if (!rc) rc = hone_metrics_mirror(m, 1, "mirrored_total", "M.", l1, 7, NULL);
    if (!rc) rc = hone_metrics_mirror(m, 0, "mirrored_gauge", "G.", l1, 3, NULL);
    if (!rc) rc = hone_metrics_update_process(m, NULL);
    if (!rc) {
        hone_buf b;
        hone_buf_init(&b, a);
        rc = hone_metrics_expose(m, &b);
        hone_buf_free(&b);
    }
    hone_metrics_free(m);
    return rc;
}

static int cycle_calls(const hone_allocator *a, void *ctx) {
    (void)ctx;
    hone_cycle_collector *c;
    int rc = hone_cycle_collector_new(&c, &(hone_cycle_opts){a, 2, 0});
    if (rc) return rc;
    for (int i = 0; i < 3 && !rc; i++) {
        hone_cycle *cy;
        if ((rc = hone_cycle_begin(c, "id", &cy))) break;
        hone_cycle_hit(cy);
        if ((rc = hone_cycle_meta(cy, "k", "v"))) {
            hone_cycle_abandon(cy);
            break;
        }
        hone_cycle_end(cy, 1);
    }
    for (int f = HONE_REPORT_TEXT; f <= HONE_REPORT_PROM && !rc; f++) {
        hone_buf b;
        hone_buf_init(&b, a);
        rc = hone_cycle_report(c, &(hone_cycle_report_opts){(hone_report_format)f, 2}, &b);
        hone_buf_free(&b);
    }
    const char *doc = "{\"format\": \"hone-cycles\", \"version\": 1, \"cycles\": [{\"id\": \"a\", \"success\": true, "
                      "\"metadata\": {\"x\": \"y\", \"z\": \"w\"}}, {\"id\": \"b\", \"success\": false}]}";
    if (!rc) rc = hone_cycle_parse(c, doc, strlen(doc), NULL);
    hone_cycle_collector_free(c);
    return rc;
}

static void test_oom_loops(void **state) {
    (void)state;
    assert_true(failalloc_loop("registry", registry_calls, NULL) > 0);
    assert_true(failalloc_loop("cycles", cycle_calls, NULL) > 0);
}

static const struct CMUnitTest tests[] = {cmocka_unit_test(test_oom_loops)};
HONE_TEST_MAIN(tests)
