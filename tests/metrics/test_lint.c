/* test_lint.c - hone_metrics_lint catches each defect promtool lets
 * through, passes good expositions (hone's own included), and
 * hone_metrics_openmetrics turns hone's expositions into OpenMetrics text
 * that the lint (and prometheus_client's parser, when installed) accept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

/* Expects text to fail the lint with a message containing want. */
static void bad(const char *text, int om, const char *want) {
    hone_error err = {0};
    int rc = hone_metrics_lint(text, strlen(text), om, &err);
    if (rc != HONE_ECORRUPT || !strstr(err.msg, want))
        fail_msg("lint(om=%d) of:\n%s\ngave %d \"%s\", expected HONE_ECORRUPT with \"%s\"", om, text, rc, err.msg,
                 want);
}

static void good(const char *text, size_t len, int om) {
    hone_error err = {0};
    int rc = hone_metrics_lint(text, len, om, &err);
    if (rc != HONE_OK) fail_msg("lint(om=%d) refused:\n%s\nwith %d \"%s\"", om, text, rc, err.msg);
}

static const char hist_head[] = "# HELP hone_x A histogram.\n# TYPE hone_x histogram\n";

static void test_defects(void **state) {
    (void)state;
    char t[1024];
    snprintf(t, sizeof t, "%shone_x_bucket{le=\"1\"} 1\nhone_x_sum 1\nhone_x_count 1\n", hist_head);
    bad(t, 0, "line 3: hone_x{}: histogram without a +Inf bucket");
    snprintf(t, sizeof t, "%shone_x_bucket{le=\"1\"} 1\nhone_x_bucket{le=\"0.5\"} 1\nhone_x_bucket{le=\"+Inf\"} 1\n", hist_head);
    bad(t, 0, "line 4: hone_x_bucket{le=\"0.5\"}: le 0.5 not above the previous bucket's 1");
    snprintf(t, sizeof t, "%shone_x_bucket{le=\"0.1\"} 5\nhone_x_bucket{le=\"0.5\"} 3\nhone_x_bucket{le=\"+Inf\"} 5\n", hist_head);
    bad(t, 0, "line 4: hone_x_bucket{le=\"0.5\"}: cumulative count 3 below the previous bucket's 5");
    snprintf(t, sizeof t, "%shone_x_bucket{le=\"+Inf\"} 4\nhone_x_sum 1\nhone_x_count 5\n", hist_head);
    bad(t, 0, "not equal to the +Inf bucket's 4");
    bad("# TYPE a gauge\na{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n", 0, "line 3: a{x=\"1\",y=\"2\"}: duplicate series (first on line 2)");
    bad("a 1\nb 2\na{k=\"v\"} 3\n", 0, "line 3: a{k=\"v\"}: the samples of family a are not contiguous");
    bad("# HELP a x\n# HELP a y\na 1\n", 0, "line 2: a: # HELP repeated");
    bad("# TYPE a gauge\n# TYPE a gauge\na 1\n", 0, "line 2: a: # TYPE repeated");
    bad("a 1\n# TYPE a gauge\n", 0, "line 2: a: # TYPE after its samples");
    bad("1a 1\n", 0, "line 1: malformed metric name");
    bad("a{1x=\"v\"} 1\n", 0, "malformed label name");
    bad("a{x=\"v\\q\"} 1\n", 0, "line 1: a: label x has an invalid escape sequence");
    bad("a{x=\"v} 1\n", 0, "unterminated");
    bad("a 1.2.3\n", 0, "line 1: a: malformed value '1.2.3'");
    bad("a{} 1 12x\n", 0, "malformed timestamp");
    bad("# TYPE a widget\n", 0, "type 'widget' is not");
    bad("# HELP a bad \\q escape\n", 0, "HELP text has an invalid escape");
    bad("a{x=\"1\",x=\"2\"} 1\n", 0, "label x repeated");
    /* OpenMetrics rules. */
    bad("# TYPE a gauge\na 1\n", 1, "ends with # EOF");
    bad("# TYPE a gauge\na 1\n# EOF\na 2\n", 1, "line 4: text after # EOF");
    bad("# TYPE a_total counter\na_total 1\n# EOF\n", 1, "without _total");
    bad("# TYPE a counter\na 1\n# EOF\n", 1, "line 2: a: OpenMetrics counter samples are named a_total");
    bad("# TYPE a untyped\na 1\n# EOF\n", 1, "'unknown' there");
    bad("a 1\n\n# EOF\n", 1, "line 2: an empty line");
    bad("# TYPE a unknown\na 1\n", 0, "type 'unknown' is not");
}

static void test_good(void **state) {
    (void)state;
    const char *t = "# A comment.\n"
                    "# HELP req_total Requests \\\\ served\\n.\n# TYPE req_total counter\n"
                    "req_total{code=\"200\",path=\"/a\\\"b\"} 10 1700000000000\nreq_total{code=\"500\",path=\"/\"} 1\n"
                    "\n"
                    "# TYPE lat histogram\nlat_bucket{le=\"0.1\"} 1\nlat_bucket{le=\"1\"} 3\nlat_bucket{le=\"+Inf\"} 3\n"
                    "lat_sum 1.5\nlat_count 3\n"
                    "# TYPE q summary\nq{quantile=\"0.5\"} NaN\nq_sum 0\nq_count 0\n"
                    "temp -Inf\nplain 1e-07\n";
    good(t, strlen(t), 0);
    const char *om = "# HELP req Requests.\n# TYPE req counter\nreq_total{code=\"200\"} 10\n"
                     "# TYPE u unknown\nu 1\n# EOF\n";
    good(om, strlen(om), 1);
}

/* A registry with every kind of metric, and the other writers /metrics
 * concatenates. */
static void real_exposition(hone_buf *b) {
    hone_metrics *m;
    assert_int_equal(hone_metrics_new(&m, NULL), HONE_OK);
    hone_metric *s;
    const char *l1[] = {"method", "GET", "path", "/a\"b\\c\nd", NULL}, *l2[] = {"method", "POST", "path", "/", NULL};
    assert_int_equal(hone_metrics_counter(m, "app_requests_total", "Requests \"served\".\nSecond line \\.", l1, &s, NULL), HONE_OK);
    assert_int_equal(hone_metric_add(s, 3), HONE_OK);
    assert_int_equal(hone_metrics_counter(m, "app_requests_total", NULL, l2, &s, NULL), HONE_OK);
    assert_int_equal(hone_metrics_counter(m, "app_events", "A counter without _total.", NULL, &s, NULL), HONE_OK);
    assert_int_equal(hone_metrics_gauge(m, "app_temp", "A gauge.", NULL, &s, NULL), HONE_OK);
    assert_int_equal(hone_metric_set(s, -21.7), HONE_OK);
    for (int k = 0; k < 2; k++) {
        const char *l[] = {"route", k ? "/x" : "/y", NULL};
        assert_int_equal(hone_metrics_histogram(m, "app_seconds", "A histogram.", NULL, 0, l, &s, NULL), HONE_OK);
        for (int i = 0; i < 50; i++) assert_int_equal(hone_metric_observe(s, i * 0.07 * (k + 1)), HONE_OK);
    }
    hone_error err;
    assert_int_equal(hone_metrics_update_process(m, &err), HONE_OK);
    hone_buf_init(b, NULL);
    assert_int_equal(hone_metrics_expose(m, b), HONE_OK);
    hone_metrics_free(m);
    hone_cycle_collector *c;
    assert_int_equal(hone_cycle_collector_new(&c, NULL), HONE_OK);
    for (int i = 0; i < 5; i++) {
        hone_cycle *cy;
        assert_int_equal(hone_cycle_begin(c, "x", &cy), HONE_OK);
        hone_cycle_hit(cy);
        hone_cycle_end(cy, i != 2);
    }
    hone_cycle_report_opts ro = {.format = HONE_REPORT_PROM};
    assert_int_equal(hone_cycle_report(c, &ro, b), HONE_OK);
    hone_cycle_collector_free(c);
}

static void test_real(void **state) {
    (void)state;
    hone_buf b;
    real_exposition(&b);
    good(b.data, b.len, 0);
    hone_buf om;
    hone_buf_init(&om, NULL);
    assert_int_equal(hone_metrics_openmetrics(b.data, b.len, &om), HONE_OK);
    good(om.data, om.len, 1);
    assert_non_null(strstr(om.data, "# TYPE app_requests counter\n"));
    assert_non_null(strstr(om.data, "# HELP app_requests Requests \\\"served\\\".\\nSecond line \\\\.\n"));
    assert_non_null(strstr(om.data, "\napp_requests_total{method=\"POST\",path=\"/\"} 0\n"));
    assert_non_null(strstr(om.data, "# TYPE app_events unknown\n"));
    assert_non_null(strstr(om.data, "# TYPE app_seconds histogram\n"));
    assert_non_null(strstr(om.data, "# TYPE process_cpu_seconds counter\n"));
    size_t n = strlen(om.data);
    assert_true(n > 6 && !strcmp(om.data + n - 6, "# EOF\n"));
    /* prometheus_client's own OpenMetrics parser, when installed. */
    if (system("python3 -c 'import prometheus_client' >/dev/null 2>&1") == 0) {
        char path[] = "/tmp/hone-om-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, om.data, om.len), (ssize_t)om.len);
        close(fd);
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "python3 -c 'import sys; from prometheus_client.openmetrics.parser import text_string_to_metric_families as p; "
                 "list(p(open(sys.argv[1]).read()))' %s",
                 path);
        int rc = system(cmd);
        unlink(path);
        if (rc) fail_msg("prometheus_client refused:\n%s", om.data);
    }
    hone_buf_free(&om);
    hone_buf_free(&b);
}

static void test_convert_small(void **state) {
    (void)state;
    const char *in = "# comment\n# TYPE a untyped\na 1 1700000000123\n\n# TYPE b gauge\nb{x=\"}\"} 2\n";
    hone_buf out;
    hone_buf_init(&out, NULL);
    assert_int_equal(hone_metrics_openmetrics(in, strlen(in), &out), HONE_OK);
    assert_string_equal(out.data, "# TYPE a unknown\na 1 1700000000.123\n# TYPE b gauge\nb{x=\"}\"} 2\n# EOF\n");
    good(out.data, out.len, 1);
    hone_buf_free(&out);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defects),
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_real),
        cmocka_unit_test(test_convert_small),
};
HONE_TEST_MAIN(tests)
