/* test_report.c - profile reports in every format, and reading snapshots
 * back: round trip, damaged and foreign input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

static const char *doc =
    "{\"format\": \"hone-profile\", \"version\": 1, \"wall_ns\": 10000, \"zones\": ["
    "{\"name\": \"a,b\", \"file\": \"src/x.c\", \"line\": 3, \"function\": \"f\", \"count\": 10, "
    "\"total_ns\": 5000, \"self_ns\": 4000, \"min_ns\": 100, \"max_ns\": 900, \"mean_ns\": 500, "
    "\"std_ns\": 10, \"p50_ns\": 500, \"p90_ns\": 800, \"p99_ns\": 900, \"p999_ns\": 900},"
    "{\"name\": \"pi|pe\\\"q\", \"file\": \"y.c\", \"line\": 9, \"count\": 30, \"total_ns\": 1000, "
    "\"self_ns\": 1000, \"min_ns\": 1, \"max_ns\": 100, \"mean_ns\": 33.3, \"std_ns\": 0, \"p50_ns\": 30, "
    "\"p90_ns\": 90, \"p99_ns\": 100, \"p999_ns\": 100}]}";

static hone_prof_snapshot *load(void) {
    hone_prof_snapshot *s = NULL;
    hone_error err;
    assert_int_equal(hone_prof_snapshot_parse(&s, doc, strlen(doc), NULL, &err), HONE_OK);
    assert_int_equal(hone_prof_snapshot_count(s), 2);
    return s;
}

static char *report(hone_prof_snapshot *s, hone_report_format f, hone_prof_sort key, size_t top,
                    uint64_t min_calls, hone_buf *b) {
    hone_buf_init(b, NULL);
    hone_prof_report_opts o = {.format = f, .sort = key, .top_n = top, .min_calls = min_calls};
    assert_int_equal(hone_prof_report(s, &o, b), HONE_OK);
    return b->data;
}

static void test_csv(void **state) {
    (void)state;
    hone_prof_snapshot *s = load();
    hone_buf b;
    char *t = report(s, HONE_REPORT_CSV, HONE_PROF_SORT_TOTAL, 0, 0, &b);
    /* Sorted by total: a,b first; its name is quoted because of the comma;
     * total_perc is its total time over the interval (5000 of 10000). */
    assert_non_null(strstr(t, "name,src_file,src_line,total_ns,total_perc,counts,mean_ns,min_ns,max_ns,std_ns,"
                              "self_ns,p50_ns,p90_ns,p99_ns,p999_ns\n\"a,b\",src/x.c,3,5000,50.0000,10,500.0,100,900,"
                              "10.0,4000,500,800,900,900\n"));
    hone_buf_free(&b);
    t = report(s, HONE_REPORT_CSV, HONE_PROF_SORT_COUNT, 1, 0, &b);
    assert_non_null(strstr(t, "\n\"pi|pe\"\"q\",y.c,9,"));
    assert_null(strstr(t, "a,b"));
    hone_buf_free(&b);
    t = report(s, HONE_REPORT_CSV, HONE_PROF_SORT_TOTAL, 0, 11, &b);
    assert_null(strstr(t, "a,b"));
    hone_buf_free(&b);
    hone_prof_snapshot_free(s);
}

static void test_text_and_md(void **state) {
    (void)state;
    hone_prof_snapshot *s = load();
    hone_buf b;
    char *t = report(s, HONE_REPORT_TEXT, HONE_PROF_SORT_NAME, 0, 0, &b);
    assert_non_null(strstr(t, "zone"));
    assert_non_null(strstr(t, "5 us"));
    assert_non_null(strstr(t, "x.c:3"));
    assert_true(strstr(t, "a,b") < strstr(t, "pi|pe"));
    hone_buf_free(&b);
    t = report(s, HONE_REPORT_MD, HONE_PROF_SORT_TOTAL, 0, 0, &b);
    assert_non_null(strstr(t, "| zone | calls |"));
    assert_non_null(strstr(t, "| pi\\|pe\"q | 30 |"));
    hone_buf_free(&b);
    hone_prof_snapshot_free(s);
}

/* The widest line of a report. */
static size_t widest(const char *t) {
    size_t w = 0;
    while (*t) {
        const char *nl = strchr(t, '\n');
        size_t n = nl ? (size_t)(nl - t) : strlen(t);
        /* Count characters, not bytes: the table is ASCII but be safe. */
        size_t chars = 0;
        for (size_t i = 0; i < n; i++) chars += ((unsigned char)t[i] & 0xC0) != 0x80;
        if (chars > w) w = chars;
        t += n + (nl != NULL);
    }
    return w;
}

/* total% is a zone's inclusive time over the interval: the outermost zone
 * of a one-thread program shows 100 %, not its small share of self time.
 * Columns that only repeat another (zones called once: mean = min = max =
 * p50 = total) are left out by default, and the table fits 100 columns;
 * wide shows all of them. */
static void test_text_columns(void **state) {
    (void)state;
    static const char *once =
        "{\"format\": \"hone-profile\", \"version\": 1, \"wall_ns\": 1000000, \"zones\": ["
        "{\"name\": \"main\", \"file\": \"a/main.c\", \"line\": 10, \"count\": 1, \"total_ns\": 1000000, "
        "\"self_ns\": 100000, \"min_ns\": 1000000, \"max_ns\": 1000000, \"mean_ns\": 1000000, \"std_ns\": 0, "
        "\"p50_ns\": 1000000, \"p90_ns\": 1000000, \"p99_ns\": 1000000, \"p999_ns\": 1000000},"
        "{\"name\": \"work\", \"file\": \"a/work.c\", \"line\": 20, \"count\": 1, \"total_ns\": 900000, "
        "\"self_ns\": 900000, \"min_ns\": 900000, \"max_ns\": 900000, \"mean_ns\": 900000, \"std_ns\": 0, "
        "\"p50_ns\": 900000, \"p90_ns\": 900000, \"p99_ns\": 900000, \"p999_ns\": 900000}]}";
    hone_prof_snapshot *s = NULL;
    hone_error err;
    assert_int_equal(hone_prof_snapshot_parse(&s, once, strlen(once), NULL, &err), HONE_OK);
    hone_buf b;
    char *t = report(s, HONE_REPORT_TEXT, HONE_PROF_SORT_TOTAL, 0, 0, &b);
    const char *nl = strchr(t, '\n');
    assert_non_null(nl);
    char head[256];
    snprintf(head, sizeof head, "%.*s", (int)(nl - t), t);
    assert_non_null(strstr(head, "total%"));
    assert_non_null(strstr(head, "self%"));
    assert_null(strstr(head, "mean"));
    assert_null(strstr(head, "p50"));
    assert_null(strstr(head, "std"));
    assert_non_null(strstr(t, "100.0%")); /* main's total% */
    assert_non_null(strstr(t, "90.0%"));  /* work's total% and self% */
    assert_non_null(strstr(t, "column(s) hidden (--wide shows all)"));
    assert_true(widest(t) <= 100);
    hone_buf_free(&b);

    hone_buf_init(&b, NULL);
    hone_prof_report_opts o = {.format = HONE_REPORT_TEXT, .sort = HONE_PROF_SORT_TOTAL, .wide = 1};
    assert_int_equal(hone_prof_report(s, &o, &b), HONE_OK);
    static const char *const all[] = {"zone", "calls", "total", "total%", "self", "self%", "mean", "min",
                                       "max", "std", "p50", "p90", "p99", "p99.9", "location"};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) assert_non_null(strstr(b.data, all[i]));
    assert_null(strstr(b.data, "hidden"));
    hone_buf_free(&b);
    hone_prof_snapshot_free(s);

    /* Zones with many calls keep their distribution, still within 100. */
    s = load();
    t = report(s, HONE_REPORT_TEXT, HONE_PROF_SORT_TOTAL, 0, 0, &b);
    assert_non_null(strstr(t, "p90"));
    assert_non_null(strstr(t, "50.0%"));
    assert_true(widest(t) <= 100);
    hone_buf_free(&b);
    hone_prof_snapshot_free(s);
}

static void test_json_round_trip(void **state) {
    (void)state;
    hone_prof_snapshot *s = load(), *s2 = NULL;
    hone_buf b;
    char *t = report(s, HONE_REPORT_JSON, HONE_PROF_SORT_TOTAL, 0, 0, &b);
    hone_error err;
    assert_int_equal(hone_prof_snapshot_parse(&s2, t, b.len, NULL, &err), HONE_OK);
    assert_int_equal(hone_prof_snapshot_count(s2), 2);
    const hone_prof_zone *z = hone_prof_snapshot_find(s2, "pi|pe\"q");
    assert_non_null(z);
    assert_int_equal(z->count, 30);
    assert_int_equal(z->p90_ns, 90);
    assert_string_equal(z->file, "y.c");
    assert_int_equal(hone_prof_snapshot_wall_ns(s2), 10000);
    hone_buf_free(&b);
    hone_prof_snapshot_free(s);
    hone_prof_snapshot_free(s2);
}

static void test_prom_escaping(void **state) {
    (void)state;
    hone_prof_snapshot *s = load();
    hone_buf b;
    char *t = report(s, HONE_REPORT_PROM, HONE_PROF_SORT_TOTAL, 0, 0, &b);
    assert_non_null(strstr(t, "# TYPE hone_zone_duration_seconds summary\n"));
    assert_non_null(strstr(t, "hone_zone_duration_seconds_count{zone=\"pi|pe\\\"q\",file=\"y.c\",line=\"9\"} 30\n"));
    assert_non_null(strstr(t, "hone_zone_duration_seconds{zone=\"a,b\",file=\"src/x.c\",line=\"3\",quantile=\"0.99\"} 9e-07\n"));
    hone_buf_free(&b);
    hone_prof_snapshot_free(s);
}

static void test_damaged_input(void **state) {
    (void)state;
    hone_prof_snapshot *s = (hone_prof_snapshot *)&s;
    hone_error err;
    const char *bad = "{\"format\": \"hone-profile\",\n  \"zones\": [1,\n";
    assert_int_equal(hone_prof_snapshot_parse(&s, bad, strlen(bad), NULL, &err), HONE_EPARSE);
    assert_null(s);
    assert_int_equal(err.line, 3);
    assert_true(strstr(err.msg, "line 3") != NULL);
    const char *foreign = "{\"format\": \"tracy\"}";
    assert_int_equal(hone_prof_snapshot_parse(&s, foreign, strlen(foreign), NULL, &err), HONE_ECORRUPT);
    assert_non_null(strstr(err.msg, "not a hone profile"));
    const char *v2 = "{\"format\": \"hone-profile\", \"version\": 2, \"zones\": []}";
    assert_int_equal(hone_prof_snapshot_parse(&s, v2, strlen(v2), NULL, &err), HONE_ECORRUPT);
    const char *nozone = "{\"format\": \"hone-profile\", \"version\": 1, \"zones\": [{\"name\": 3}]}";
    assert_int_equal(hone_prof_snapshot_parse(&s, nozone, strlen(nozone), NULL, &err), HONE_ECORRUPT);
    assert_non_null(strstr(err.msg, "zone 0: field 'name'"));
    hone_buf b;
    hone_buf_init(&b, NULL);
    assert_int_equal(hone_prof_report(NULL, NULL, &b), HONE_EINVAL);
    assert_int_equal(hone_prof_report((hone_prof_snapshot *)&b, &(hone_prof_report_opts){.format = 9}, &b),
                     HONE_EINVAL);
}

static void test_write_file_atomic(void **state) {
    (void)state;
    char dir[] = "/tmp/hone-prof-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/p.json", dir);
    static hone_prof_site site = {"written", "w.c", "f", 1, HONE_LOG_WARN, 0, 0, 0, 0};
    hone_prof_enable(1);
    hone_prof_record(&site, 1234);
    hone_error err;
    assert_int_equal(hone_prof_write_file(path, &err), HONE_OK);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[65536];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    hone_prof_snapshot *s;
    assert_int_equal(hone_prof_snapshot_parse(&s, text, n, NULL, &err), HONE_OK);
    assert_non_null(hone_prof_snapshot_find(s, "written"));
    assert_int_equal(hone_prof_snapshot_find(s, "written")->max_ns, 1234);
    hone_prof_snapshot_free(s);
    /* A directory that does not exist: an error naming the path. */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/missing/p.json", dir);
    assert_int_equal(hone_prof_write_file(bad, &err), HONE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "missing/p.json"));
    remove(path);
    rmdir(dir);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv),           cmocka_unit_test(test_text_and_md),
        cmocka_unit_test(test_text_columns),
        cmocka_unit_test(test_json_round_trip), cmocka_unit_test(test_prom_escaping),
        cmocka_unit_test(test_damaged_input), cmocka_unit_test(test_write_file_atomic),
};
HONE_TEST_MAIN(tests)
