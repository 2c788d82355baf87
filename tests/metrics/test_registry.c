/* test_registry.c - the metrics registry: values, labels, errors, the
 * Prometheus exposition (checked by promtool), threads, process metrics. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static hone_metrics *fresh(void) {
    hone_metrics *m = NULL;
    assert_int_equal(hone_metrics_new(&m, NULL), HONE_OK);
    return m;
}

static char *expose(hone_metrics *m, hone_buf *b) {
    hone_buf_init(b, NULL);
    assert_int_equal(hone_metrics_expose(m, b), HONE_OK);
    return b->data ? b->data : "";
}

static void test_exposition_text(void **state) {
    (void)state;
    hone_metrics *m = fresh();
    hone_metric *get, *post, *g, *h;
    hone_error err;
    const char *l_get[] = {"method", "GET", "path", "/a\"b\\c\nd", NULL};
    const char *l_post[] = {"method", "POST", "path", "/", NULL};
    assert_int_equal(hone_metrics_counter(m, "http_requests_total", "Requests served.\nSecond line", l_get, &get, &err), HONE_OK);
    assert_int_equal(hone_metrics_counter(m, "http_requests_total", NULL, l_post, &post, &err), HONE_OK);
    hone_metric *again;
    assert_int_equal(hone_metrics_counter(m, "http_requests_total", NULL, l_get, &again, &err), HONE_OK);
    assert_ptr_equal(again, get);
    assert_int_equal(hone_metric_inc(get), HONE_OK);
    assert_int_equal(hone_metric_add(get, 2.5), HONE_OK);
    assert_int_equal(hone_metric_add(get, -1), HONE_EINVAL);
    assert_int_equal(hone_metric_inc(post), HONE_OK);
    assert_int_equal(hone_metrics_gauge(m, "queue_depth", "Items waiting.", NULL, &g, &err), HONE_OK);
    assert_int_equal(hone_metric_set(g, -3), HONE_OK);
    assert_int_equal(hone_metric_observe(g, 1), HONE_EINVAL);
    const double bounds[] = {0.1, 1, 10};
    assert_int_equal(hone_metrics_histogram(m, "latency_seconds", "Request latency.", bounds, 3, NULL, &h, &err), HONE_OK);
    double obs[] = {0.05, 0.1, 0.5, 5, 50};
    for (int i = 0; i < 5; i++) assert_int_equal(hone_metric_observe(h, obs[i]), HONE_OK);
    assert_int_equal(hone_metric_count(h), 5);
    hone_buf b;
    const char *want =
        "# HELP http_requests_total Requests served.\\nSecond line\n"
        "# TYPE http_requests_total counter\n"
        "http_requests_total{method=\"GET\",path=\"/a\\\"b\\\\c\\nd\"} 3.5\n"
        "http_requests_total{method=\"POST\",path=\"/\"} 1\n"
        "# HELP queue_depth Items waiting.\n"
        "# TYPE queue_depth gauge\n"
        "queue_depth -3\n"
        "# HELP latency_seconds Request latency.\n"
        "# TYPE latency_seconds histogram\n"
        "latency_seconds_bucket{le=\"0.1\"} 2\n"
        "latency_seconds_bucket{le=\"1\"} 3\n"
        "latency_seconds_bucket{le=\"10\"} 4\n"
        "latency_seconds_bucket{le=\"+Inf\"} 5\n"
        "latency_seconds_sum 55.65\n"
        "latency_seconds_count 5\n";
    assert_string_equal(expose(m, &b), want);
    hone_buf_free(&b);
    hone_metrics_free(m);
}

static void test_errors(void **state) {
    (void)state;
    hone_metrics *m = fresh();
    hone_metric *s = (hone_metric *)&s;
    hone_error err;
    assert_int_equal(hone_metrics_counter(m, "bad-name", "x", NULL, &s, &err), HONE_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err.msg, "bad-name"));
    assert_int_equal(hone_metrics_counter(m, "ok_total", "x", (const char *[]){"__x", "1", NULL}, &s, &err), HONE_EINVAL);
    assert_int_equal(hone_metrics_counter(m, "ok_total", "x", (const char *[]){"a", NULL}, &s, &err), HONE_EINVAL);
    assert_int_equal(hone_metrics_counter(m, "ok_total", NULL, NULL, &s, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "help"));
    assert_int_equal(hone_metrics_counter(m, "ok_total", "x", (const char *[]){"a", "1", NULL}, &s, &err), HONE_OK);
    assert_int_equal(hone_metrics_counter(m, "ok_total", "x", (const char *[]){"b", "1", NULL}, &s, &err), HONE_EINVAL);
    assert_int_equal(hone_metrics_gauge(m, "ok_total", "x", (const char *[]){"a", "1", NULL}, &s, &err), HONE_EEXIST);
    assert_non_null(strstr(err.msg, "counter"));
    assert_int_equal(hone_metrics_histogram(m, "h", "x", NULL, 0, (const char *[]){"le", "1", NULL}, &s, &err), HONE_EINVAL);
    assert_int_equal(hone_metrics_histogram(m, "h", "x", (const double[]){2, 1}, 2, NULL, &s, &err), HONE_EINVAL);
    assert_int_equal(hone_metrics_counter(m, "c_total", "x", NULL, &s, &err), HONE_OK);
    assert_int_equal(hone_metric_set(s, 5), HONE_OK);
    assert_int_equal(hone_metric_set(s, 4), HONE_ERANGE);
    assert_true(hone_metric_value(s) == 5);
    hone_metrics_free(m);
    hone_metrics_free(NULL);
}

static void test_promtool_accepts(void **state) {
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0) fail_msg("promtool not installed (Debian package prometheus)");
    hone_metrics *m = fresh();
    hone_metric *s;
    hone_error err;
    assert_int_equal(hone_metrics_counter(m, "jobs_done_total", "Jobs done.", (const char *[]){"queue", "a \"q\"\\\n", NULL}, &s, &err), HONE_OK);
    hone_metric_add(s, 7);
    assert_int_equal(hone_metrics_histogram(m, "job_duration_seconds", "Job duration.", NULL, 0,
                                            (const char *[]){"queue", "b", NULL}, &s, &err), HONE_OK);
    for (int i = 0; i < 100; i++) hone_metric_observe(s, i * 0.01);
    assert_int_equal(hone_metrics_update_process(m, &err), HONE_OK);
    hone_buf b;
    const char *text = expose(m, &b);
    FILE *p = popen("promtool check metrics >/dev/null 2>&1", "w");
    assert_non_null(p);
    fputs(text, p);
    int st = pclose(p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fputs(text, stderr);
        fail_msg("promtool check metrics failed (status %d) on the exposition above", st);
    }
    hone_buf_free(&b);
    hone_metrics_free(m);
}

enum { N_THREADS = 4, N_OPS = 20000 };
static hone_metric *t_counter, *t_hist, *t_gauge;

static void *hammer(void *arg) {
    (void)arg;
    for (int i = 0; i < N_OPS; i++) {
        hone_metric_inc(t_counter);
        hone_metric_observe(t_hist, (i % 4) * 0.5);
        hone_metric_add(t_gauge, 1);
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    hone_metrics *m = fresh();
    hone_error err;
    assert_int_equal(hone_metrics_counter(m, "ops_total", "Ops.", NULL, &t_counter, &err), HONE_OK);
    assert_int_equal(hone_metrics_histogram(m, "op_seconds", "Op time.", (const double[]){0.25, 0.75}, 2, NULL, &t_hist, &err), HONE_OK);
    assert_int_equal(hone_metrics_gauge(m, "level", "Level.", NULL, &t_gauge, &err), HONE_OK);
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) pthread_create(&t[i], NULL, hammer, NULL);
    /* Expose and register while the threads update. */
    for (int k = 0; k < 20; k++) {
        hone_buf b;
        expose(m, &b);
        hone_buf_free(&b);
        hone_metric *extra;
        char name[32];
        snprintf(name, sizeof name, "extra_%d", k);
        assert_int_equal(hone_metrics_gauge(m, name, "Extra.", NULL, &extra, &err), HONE_OK);
    }
    for (int i = 0; i < N_THREADS; i++) pthread_join(t[i], NULL);
    assert_true(hone_metric_value(t_counter) == N_THREADS * N_OPS);
    assert_true(hone_metric_value(t_gauge) == N_THREADS * N_OPS);
    assert_int_equal(hone_metric_count(t_hist), N_THREADS * N_OPS);
    /* (0 + 0.5 + 1 + 1.5) per 4 observations. */
    assert_true(hone_metric_value(t_hist) == N_THREADS * N_OPS / 4 * 3.0);
    hone_buf b;
    assert_non_null(strstr(expose(m, &b), "op_seconds_bucket{le=\"0.25\"} 20000\nop_seconds_bucket{le=\"0.75\"} 40000\n"));
    hone_buf_free(&b);
    hone_metrics_free(m);
}

static void *idle(void *arg) {
    int *fd = arg;
    char c;
    if (read(fd[0], &c, 1) < 0) return NULL;
    return NULL;
}

static void test_process_stats(void **state) {
    (void)state;
    hone_process_stats a, b;
    assert_int_equal(hone_process_stats_read(&a), HONE_OK);
    assert_true(a.rss_bytes > 0 && a.peak_rss_bytes >= a.rss_bytes);
    assert_true(a.virtual_bytes >= a.rss_bytes);
    assert_true(a.mem_total_bytes > a.rss_bytes);
    assert_true(a.mem_percent > 0 && a.mem_percent < 100);
    /* One more thread and two more descriptors (a pipe) show up. */
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pthread_t t;
    pthread_create(&t, NULL, idle, fd);
    assert_int_equal(hone_process_stats_read(&b), HONE_OK);
    assert_int_equal(b.threads, a.threads + 1);
    assert_int_equal(b.open_fds, a.open_fds + 2);
    assert_true(b.cpu_user_ns + b.cpu_system_ns >= a.cpu_user_ns + a.cpu_system_ns);
    assert_true(hone_process_cpu_percent(&a, &b) >= 0);
    assert_true(hone_process_cpu_percent(&b, &a) == 0);
    if (write(fd[1], "x", 1) != 1) fail();
    pthread_join(t, NULL);
    close(fd[0]);
    close(fd[1]);
    hone_metrics *m = fresh();
    hone_error err;
    assert_int_equal(hone_metrics_update_process(m, &err), HONE_OK);
    assert_int_equal(hone_metrics_update_process(m, &err), HONE_OK);
    hone_buf buf;
    const char *text = expose(m, &buf);
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(text, "process_resident_memory_bytes "));
    assert_non_null(strstr(text, "hone_process_context_switches_total{kind=\"involuntary\"} "));
    hone_buf_free(&buf);
    hone_metrics_free(m);
    assert_non_null(hone_metrics_default());
    assert_ptr_equal(hone_metrics_default(), hone_metrics_default());
}

/* A module's lifetime figure mirrored into the registry: a counter never
 * goes back (two sources under one name are caught, naming the series), a
 * gauge does. */
static void test_mirror(void **state) {
    (void)state;
    hone_metrics *m;
    assert_int_equal(hone_metrics_new(&m, NULL), HONE_OK);
    const char *l[] = {"cache", "web", NULL};
    hone_error err = {0};
    assert_int_equal(hone_metrics_mirror(m, 1, "x_total", "X.", l, 10, &err), HONE_OK);
    assert_int_equal(hone_metrics_mirror(m, 1, "x_total", "X.", l, 12, &err), HONE_OK);
    assert_int_equal(hone_metrics_mirror(m, 1, "x_total", "X.", l, 5, &err), HONE_ERANGE);
    if (!strstr(err.msg, "x_total{cache=\"web\"}") || !strstr(err.msg, "below")) {
        print_error("message: %s\n", err.msg);
        fail();
    }
    assert_int_equal(hone_metrics_mirror(m, 0, "y_bytes", "Y.", l, 10, &err), HONE_OK);
    assert_int_equal(hone_metrics_mirror(m, 0, "y_bytes", "Y.", l, 4, &err), HONE_OK);
    hone_buf b;
    hone_buf_init(&b, NULL);
    assert_int_equal(hone_metrics_expose(m, &b), HONE_OK);
    if (!strstr(b.data, "x_total{cache=\"web\"} 12") || !strstr(b.data, "y_bytes{cache=\"web\"} 4")) {
        print_error("exposition:\n%s\n", b.data);
        fail();
    }
    hone_buf_free(&b);
    /* A gauge's name asked for as a counter is the registry's own error. */
    assert_int_equal(hone_metrics_mirror(m, 1, "y_bytes", "Y.", l, 1, &err), HONE_EEXIST);
    hone_metrics_free(m);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exposition_text), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_promtool_accepts), cmocka_unit_test(test_threads),
        cmocka_unit_test(test_process_stats), cmocka_unit_test(test_mirror),
};
HONE_TEST_MAIN(tests)
