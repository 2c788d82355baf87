/* test_cycles.c - cycle metrics: recording, bounded history, window
 * statistics, dashboards, persistence (atomic, damaged and foreign files),
 * threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static hone_cycle_collector *make(size_t history, size_t window) {
    hone_cycle_collector *c = NULL;
    assert_int_equal(hone_cycle_collector_new(&c, &(hone_cycle_opts){NULL, history, window}), HONE_OK);
    return c;
}

static void run_cycle(hone_cycle_collector *c, const char *id, int hits, int misses, int ok) {
    hone_cycle *cy;
    assert_int_equal(hone_cycle_begin(c, id, &cy), HONE_OK);
    for (int i = 0; i < hits; i++) hone_cycle_hit(cy);
    for (int i = 0; i < misses; i++) hone_cycle_miss(cy);
    hone_cycle_validation(cy, 1000);
    hone_cycle_file_ops(cy, 3);
    assert_int_equal(hone_cycle_meta(cy, "branch", "main"), HONE_OK);
    assert_int_equal(hone_cycle_meta(cy, "branch", "dev"), HONE_OK);
    hone_cycle_end(cy, ok);
}

static char *report(hone_cycle_collector *c, hone_report_format f, size_t recent, hone_buf *b) {
    hone_buf_init(b, NULL);
    assert_int_equal(hone_cycle_report(c, &(hone_cycle_report_opts){f, recent}, b), HONE_OK);
    return b->data;
}

static void test_history_bounded_and_stats(void **state) {
    (void)state;
    hone_cycle_collector *c = make(5, 2);
    char id[16];
    for (int i = 0; i < 12; i++) {
        snprintf(id, sizeof id, "c%d", i);
        run_cycle(c, id, i, 1, i % 2);
    }
    assert_int_equal(hone_cycle_count(c), 5);
    hone_cycle_stats all, win;
    assert_int_equal(hone_cycle_stats_get(c, 0, &all), HONE_OK);
    /* Kept: c7..c11; hits 7+8+9+10+11 = 45, misses 5, successes c7 c9 c11. */
    assert_int_equal(all.count, 5);
    assert_int_equal(all.succeeded, 3);
    assert_true(all.success_rate == 0.6);
    assert_int_equal(all.hits, 45);
    assert_int_equal(all.misses, 5);
    assert_true(all.hit_rate == 0.9);
    assert_int_equal(all.validations, 5);
    assert_int_equal(all.validation_ns, 5000);
    assert_int_equal(all.file_ops, 15);
    assert_int_equal(hone_cycle_stats_get(c, 2, &win), HONE_OK);
    assert_int_equal(win.count, 2);
    assert_int_equal(win.hits, 21);
    assert_true(win.success_rate == 0.5);
    hone_buf b;
    char *csv = report(c, HONE_REPORT_CSV, 0, &b);
    assert_null(strstr(csv, "\nc6,"));
    assert_non_null(strstr(csv, "\nc7,"));
    assert_non_null(strstr(csv, ",branch=dev\n"));
    hone_buf_free(&b);
    char *text = report(c, HONE_REPORT_TEXT, 2, &b);
    assert_non_null(strstr(text, "cycle history: 5 of at most 5 kept"));
    assert_non_null(strstr(text, "success rate"));
    assert_non_null(strstr(text, "60.0%"));
    assert_non_null(strstr(text, "c11 "));
    assert_null(strstr(text, "c9 "));
    hone_buf_free(&b);
    char *md = report(c, HONE_REPORT_MD, 1, &b);
    assert_non_null(strstr(md, "| statistic | all | last 2 |"));
    assert_non_null(strstr(md, "| c11 |"));
    hone_buf_free(&b);
    hone_cycle_collector_free(c);
}

static const char *history_doc =
    "{\"format\": \"hone-cycles\", \"version\": 1, \"cycles\": ["
    "{\"id\": \"a\", \"success\": true, \"start_unix_ns\": 0, \"end_unix_ns\": 60000000000, \"duration_ns\": 10},"
    "{\"id\": \"b\", \"success\": true, \"duration_ns\": 20, \"cache_hits\": 3, \"metadata\": {\"k\": \"v\"}},"
    "{\"id\": \"c\", \"success\": false, \"duration_ns\": 30},"
    "{\"id\": \"d\", \"success\": true, \"duration_ns\": 40, \"end_unix_ns\": 120000000000}]}";

static void test_parse_percentiles(void **state) {
    (void)state;
    hone_cycle_collector *c = make(0, 0);
    hone_error err;
    assert_int_equal(hone_cycle_parse(c, history_doc, strlen(history_doc), &err), HONE_OK);
    hone_cycle_stats s;
    assert_int_equal(hone_cycle_stats_get(c, 0, &s), HONE_OK);
    assert_int_equal(s.count, 4);
    assert_int_equal(s.duration_p50_ns, 20);
    assert_int_equal(s.duration_p95_ns, 40);
    assert_int_equal(s.duration_max_ns, 40);
    assert_true(s.duration_mean_ns == 25);
    /* Four cycles over two minutes. */
    assert_true(s.cycles_per_minute == 2);
    assert_true(s.success_rate == 0.75);
    /* A history smaller than the file keeps the newest cycles. */
    hone_cycle_collector *small = make(2, 0);
    assert_int_equal(hone_cycle_parse(small, history_doc, strlen(history_doc), &err), HONE_OK);
    assert_int_equal(hone_cycle_stats_get(small, 0, &s), HONE_OK);
    assert_int_equal(s.count, 2);
    assert_int_equal(s.duration_max_ns, 40);
    assert_int_equal(s.duration_p50_ns, 30);
    hone_cycle_collector_free(small);
    hone_cycle_collector_free(c);
}

static void test_damaged_and_foreign(void **state) {
    (void)state;
    hone_cycle_collector *c = make(0, 0);
    hone_error err;
    run_cycle(c, "keep", 1, 0, 1);
    const char *bad = "{\"format\": \"hone-cycles\", \"version\": 1,\n\"cycles\": [{\"id\": \"x\",\n";
    assert_int_equal(hone_cycle_parse(c, bad, strlen(bad), &err), HONE_EPARSE);
    assert_int_equal(err.line, 3);
    assert_non_null(strstr(err.msg, "line 3, column"));
    const char *foreign = "{\"format\": \"hone-profile\", \"zones\": []}";
    assert_int_equal(hone_cycle_parse(c, foreign, strlen(foreign), &err), HONE_ECORRUPT);
    assert_non_null(strstr(err.msg, "not a hone cycle history"));
    const char *badfield = "{\"format\": \"hone-cycles\", \"version\": 1, \"cycles\": [{\"id\": \"x\", \"success\": true}, "
                           "{\"id\": \"y\", \"success\": true, \"duration_ns\": -4}]}";
    assert_int_equal(hone_cycle_parse(c, badfield, strlen(badfield), &err), HONE_ECORRUPT);
    assert_non_null(strstr(err.msg, "cycle 1: field 'duration_ns'"));
    /* Every failed load left the history as it was. */
    assert_int_equal(hone_cycle_count(c), 1);
    hone_buf b;
    assert_non_null(strstr(report(c, HONE_REPORT_CSV, 0, &b), "\nkeep,"));
    hone_buf_free(&b);
    hone_cycle_collector_free(c);
}

static void test_save_load_atomic(void **state) {
    (void)state;
    char dir[] = "/tmp/hone-cycles-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], bad[300];
    snprintf(path, sizeof path, "%s/history.json", dir);
    hone_cycle_collector *c = make(0, 0), *d = make(0, 0);
    hone_error err;
    run_cycle(c, "one", 2, 2, 1);
    run_cycle(c, "two \"quoted\"", 0, 1, 0);
    assert_int_equal(hone_cycle_save(c, path, &err), HONE_OK);
    assert_int_equal(hone_cycle_load(d, path, &err), HONE_OK);
    hone_buf b1, b2;
    report(c, HONE_REPORT_JSON, 0, &b1);
    report(d, HONE_REPORT_JSON, 0, &b2);
    assert_string_equal(b1.data, b2.data);
    hone_buf_free(&b1);
    hone_buf_free(&b2);
    /* A save that cannot complete leaves the good file untouched. */
    struct stat st0, st1;
    assert_int_equal(stat(path, &st0), 0);
    snprintf(bad, sizeof bad, "%s/nodir/history.json", dir);
    assert_int_equal(hone_cycle_save(c, bad, &err), HONE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nodir"));
    /* A damaged file on disk: clear error with the path, line and column;
     * the collector keeps its history and nothing is written. */
    char dmg[300];
    snprintf(dmg, sizeof dmg, "%s/damaged.json", dir);
    FILE *f = fopen(dmg, "w");
    fputs("{\"format\": \"hone-cycles\",\n  \"cycles\": [}\n", f);
    fclose(f);
    assert_int_equal(hone_cycle_load(d, dmg, &err), HONE_EPARSE);
    assert_non_null(strstr(err.msg, "damaged.json: line 2, column"));
    assert_int_equal(hone_cycle_count(d), 2);
    assert_int_equal(stat(path, &st1), 0);
    assert_int_equal(st0.st_size, st1.st_size);
    snprintf(bad, sizeof bad, "%s/missing.json", dir);
    assert_int_equal(hone_cycle_load(d, bad, &err), HONE_ENOTFOUND);
    /* No temporary file is left behind. */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 2", dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    hone_cycle_collector_free(c);
    hone_cycle_collector_free(d);
}

static void test_prom_passes_promtool(void **state) {
    (void)state;
    hone_cycle_collector *c = make(0, 0);
    run_cycle(c, "x", 1, 1, 1);
    hone_buf b;
    char *text = report(c, HONE_REPORT_PROM, 0, &b);
    assert_non_null(strstr(text, "hone_cycles_success_ratio{scope=\"all\"} 1\n"));
    FILE *p = popen("promtool check metrics >/dev/null 2>&1", "w");
    assert_non_null(p);
    fputs(text, p);
    int st = pclose(p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("promtool rejected:\n%s", text);
    hone_buf_free(&b);
    hone_cycle_collector_free(c);
}

enum { N_THREADS = 4, PER_THREAD = 500 };
static hone_cycle_collector *shared;
static void *cycler(void *arg) {
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        hone_cycle *cy;
        if (hone_cycle_begin(shared, "t", &cy)) return (void *)1;
        hone_cycle_hit(cy);
        hone_cycle_end(cy, 1);
        hone_cycle_stats s;
        if (i % 50 == 0 && hone_cycle_stats_get(shared, 10, &s)) return (void *)1;
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    shared = make(N_THREADS * PER_THREAD, 0);
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) pthread_create(&t[i], NULL, cycler, NULL);
    for (int i = 0; i < N_THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    hone_cycle_stats s;
    assert_int_equal(hone_cycle_stats_get(shared, 0, &s), HONE_OK);
    assert_int_equal(s.count, N_THREADS * PER_THREAD);
    assert_int_equal(s.hits, N_THREADS * PER_THREAD);
    hone_cycle_collector_free(shared);
    /* The default collector. */
    hone_cycle *cy;
    assert_int_equal(hone_cycle_begin(NULL, "default", &cy), HONE_OK);
    hone_cycle_end(cy, 1);
    assert_int_equal(hone_cycle_count(hone_cycle_default()), 1);
    assert_int_equal(hone_cycle_begin(NULL, "gone", &cy), HONE_OK);
    hone_cycle_abandon(cy);
    assert_int_equal(hone_cycle_count(hone_cycle_default()), 1);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history_bounded_and_stats), cmocka_unit_test(test_parse_percentiles),
        cmocka_unit_test(test_damaged_and_foreign),       cmocka_unit_test(test_save_load_atomic),
        cmocka_unit_test(test_prom_passes_promtool),      cmocka_unit_test(test_threads),
};
HONE_TEST_MAIN(tests)
