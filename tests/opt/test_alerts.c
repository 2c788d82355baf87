/* test_alerts.c - alerts: hysteresis against flapping, the for-duration on
 * both edges, the callback, the log, /metrics series, [alert.NAME] loading
 * with path:line errors, report metrics, concurrent observes. */
#include "test.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hone/opt.h"
#include "tmpdir.h"

#define S (1000000000ull)

typedef struct events {
    pthread_mutex_t mu;
    hone_opt_alert_event ev[64];
    char msg[64][256];
    size_t n;
    unsigned long total;
} events;

static void on_event(void *ctx, const hone_opt_alert_event *ev) {
    events *e = ctx;
    pthread_mutex_lock(&e->mu);
    if (e->n < 64) {
        e->ev[e->n] = *ev;
        snprintf(e->msg[e->n], sizeof e->msg[e->n], "%s", ev->message);
        e->n++;
    }
    e->total++;
    pthread_mutex_unlock(&e->mu);
}

static hone_opt_alerts *make(events *e, hone_metrics *m) {
    hone_opt_alerts *a;
    hone_opt_alerts_opts o = {.fn = e ? on_event : NULL, .ctx = e, .metrics = m};
    assert_int_equal(hone_opt_alerts_new(&a, &o), HONE_OK);
    return a;
}

static void add(hone_opt_alerts *a, const char *name, const char *metric, int above, double fire,
                double clear, uint64_t for_ns) {
    hone_opt_alert_rule r = {name, metric, above, fire, clear, for_ns};
    hone_error err;
    int rc = hone_opt_alerts_add(a, &r, &err);
    if (rc) fail_msg("add %s: %s", name, err.msg);
}

/* Transitions of rule `name` as hone_opt_alerts_format(json) reports. */
static long transitions(hone_opt_alerts *a, const char *name, const char **state) {
    hone_buf b = {0};
    assert_int_equal(hone_opt_alerts_format(a, &b, 1), HONE_OK);
    json_error_t je;
    json_t *doc = json_loads(b.data, 0, &je);
    if (!doc) fail_msg("alerts JSON: %s: %s", je.text, b.data);
    long n = -1;
    static char st[32];
    for (size_t i = 0; i < json_array_size(doc); i++) {
        json_t *o = json_array_get(doc, i);
        if (strcmp(json_string_value(json_object_get(o, "name")), name)) continue;
        n = (long)json_integer_value(json_object_get(o, "transitions"));
        snprintf(st, sizeof st, "%s", json_string_value(json_object_get(o, "state")));
    }
    if (state) *state = st;
    json_decref(doc);
    hone_buf_free(&b);
    return n;
}

/* xorshift64* and Box-Muller: a seeded normal noise. */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double uniform(void) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return ((rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}
static double normal(void) {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static void test_flapping(void **state) {
    (void)state;
    events e = {.mu = PTHREAD_MUTEX_INITIALIZER};
    hone_opt_alerts *a = make(&e, NULL);
    /* One threshold, no for-duration: every crossing is a transition. */
    add(a, "single", "signal", 1, 50, 50, 0);
    /* Two thresholds and a for-duration of 10 samples (10 s). */
    add(a, "hysteresis", "signal", 1, 55, 45, 10 * S);
    rng = 42;
    for (int i = 0; i < 10000; i++) hone_opt_alerts_observe(a, "signal", 50 + 3 * normal(), (uint64_t)i * S);
    long single = transitions(a, "single", NULL), hyst = transitions(a, "hysteresis", NULL);
    print_message("flapping: 10,000 samples of 50 + N(0, 3): single threshold (50, for 0) made %ld "
                  "transitions, hysteresis (fire 55 / clear 45, for 10 s) made %ld\n",
                  single, hyst);
    assert_true(single > 100);
    assert_true(hyst <= 2);
    assert_int_equal((long)e.total, single + hyst);
    hone_opt_alerts_free(a);
}

static void test_for_duration_both_edges(void **state) {
    (void)state;
    events e = {.mu = PTHREAD_MUTEX_INITIALIZER};
    hone_opt_alerts *a = make(&e, NULL);
    add(a, "slow", "zone.parse.p99_ms", 1, 10, 5, 30 * S);
    const char *st;
    hone_opt_alerts_observe(a, "zone.parse.p99_ms", 12, 0);
    transitions(a, "slow", &st);
    assert_string_equal(st, "pending");
    hone_opt_alerts_observe(a, "zone.parse.p99_ms", 12, 29 * S);
    assert_int_equal(e.n, 0);
    hone_opt_alerts_observe(a, "zone.parse.p99_ms", 12.5, 30 * S);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.ev[0].firing, 1);
    assert_true(e.ev[0].since_ns == 0 && e.ev[0].at_ns == 30 * S);
    assert_true(e.ev[0].value == 12.5 && e.ev[0].threshold == 10);
    assert_string_equal(e.msg[0], "slow: zone.parse.p99_ms = 12.5 >= 10 for 30 s (firing)");
    /* Between clear and fire: stays firing. */
    hone_opt_alerts_observe(a, "zone.parse.p99_ms", 7, 40 * S);
    transitions(a, "slow", &st);
    assert_string_equal(st, "firing");
    /* Back past clear, but not for long enough: resolving, then firing again. */
    hone_opt_alerts_observe(a, "zone.parse.p99_ms", 4, 50 * S);
    transitions(a, "slow", &st);
    assert_string_equal(st, "resolving");
    hone_opt_alerts_observe(a, "zone.parse.p99_ms", 6, 60 * S);
    transitions(a, "slow", &st);
    assert_string_equal(st, "firing");
    assert_int_equal(e.n, 1);
    hone_opt_alerts_observe(a, "zone.parse.p99_ms", 4, 70 * S);
    hone_opt_alerts_observe(a, "zone.parse.p99_ms", 4, 99 * S);
    assert_int_equal(e.n, 1);
    hone_opt_alerts_observe(a, "zone.parse.p99_ms", 3, 100 * S);
    assert_int_equal(e.n, 2);
    assert_int_equal(e.ev[1].firing, 0);
    assert_true(e.ev[1].since_ns == 70 * S && e.ev[1].threshold == 5);
    assert_string_equal(e.msg[1], "slow: zone.parse.p99_ms = 3 < 5 for 30 s (resolved)");
    /* A dip while pending starts the wait again. */
    hone_opt_alerts_observe(a, "zone.parse.p99_ms", 12, 200 * S);
    hone_opt_alerts_observe(a, "zone.parse.p99_ms", 9, 210 * S);
    hone_opt_alerts_observe(a, "zone.parse.p99_ms", 12, 220 * S);
    hone_opt_alerts_observe(a, "zone.parse.p99_ms", 12, 245 * S);
    assert_int_equal(e.n, 2);
    hone_opt_alerts_observe(a, "zone.parse.p99_ms", 12, 250 * S);
    assert_int_equal(e.n, 3);
    assert_int_equal(transitions(a, "slow", NULL), 3);
    /* Other metrics are not this rule's. */
    hone_opt_alerts_observe(a, "zone.other.p99_ms", 0, 400 * S);
    assert_int_equal(e.n, 3);
    hone_opt_alerts_free(a);
}

static void test_below(void **state) {
    (void)state;
    events e = {.mu = PTHREAD_MUTEX_INITIALIZER};
    hone_opt_alerts *a = make(&e, NULL);
    add(a, "hits", "cache.sessions.hit_rate", 0, 50, 60, 0);
    hone_opt_alerts_observe(a, "cache.sessions.hit_rate", 55, 1);
    assert_int_equal(e.n, 0);
    hone_opt_alerts_observe(a, "cache.sessions.hit_rate", 50, 2);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.msg[0], "hits: cache.sessions.hit_rate = 50 <= 50 for 0 ns (firing)");
    hone_opt_alerts_observe(a, "cache.sessions.hit_rate", 60, 3);
    assert_int_equal(e.n, 1);
    hone_opt_alerts_observe(a, "cache.sessions.hit_rate", 61, 4);
    assert_int_equal(e.n, 2);
    hone_opt_alerts_free(a);
}

static void test_add_errors(void **state) {
    (void)state;
    hone_opt_alerts *a = make(NULL, NULL);
    hone_error err;
    hone_opt_alert_rule r = {"bad name!", "m", 1, 2, 1, 0};
    assert_int_equal(hone_opt_alerts_add(a, &r, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "bad name!"));
    r.name = "ok";
    r.fire = 1;
    r.clear = 2;
    assert_int_equal(hone_opt_alerts_add(a, &r, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "clear must be at or below"));
    r.above = 0;
    r.metric = "";
    assert_int_equal(hone_opt_alerts_add(a, &r, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "no metric"));
    r.metric = "m";
    assert_int_equal(hone_opt_alerts_add(a, &r, &err), HONE_OK);
    assert_int_equal(hone_opt_alerts_add(a, &r, &err), HONE_EEXIST);
    r.fire = NAN;
    r.name = "nan";
    assert_int_equal(hone_opt_alerts_add(a, &r, &err), HONE_EINVAL);
    assert_string_equal(hone_opt_alert_state_name(HONE_ALERT_RESOLVING), "resolving");
    hone_opt_alerts_free(a);
    hone_opt_alerts_free(NULL);
}

static void test_metrics(void **state) {
    (void)state;
    hone_metrics *m;
    assert_int_equal(hone_metrics_new(&m, NULL), HONE_OK);
    hone_opt_alerts *a = make(NULL, m);
    add(a, "slow-parse", "zone.parse.p99_ms", 1, 50, 40, 0);
    add(a, "low.hits", "cache.c.hit_rate", 0, 50, 60, 0);
    hone_opt_alerts_observe(a, "zone.parse.p99_ms", 60, 1);
    hone_opt_alerts_observe(a, "cache.c.hit_rate", 10, 1);
    hone_opt_alerts_observe(a, "cache.c.hit_rate", 70, 2);
    hone_buf b = {0};
    assert_int_equal(hone_metrics_expose(m, &b), HONE_OK);
    hone_error err;
    int rc = hone_metrics_lint(b.data, b.len, 0, &err);
    if (rc) fail_msg("lint: %s\n%s", err.msg, b.data);
    fputs(b.data, stdout);
    assert_non_null(strstr(b.data, "hone_alert_active{alert=\"slow-parse\"} 1\n"));
    assert_non_null(strstr(b.data, "hone_alert_active{alert=\"low.hits\"} 0\n"));
    assert_non_null(strstr(b.data, "hone_alert_transitions_total{alert=\"slow-parse\"} 1\n"));
    assert_non_null(strstr(b.data, "hone_alert_transitions_total{alert=\"low.hits\"} 2\n"));
    hone_buf_clear(&b);
    hone_buf_free(&b);
    hone_opt_alerts_free(a);
    hone_metrics_free(m);
}

typedef struct logcap {
    pthread_mutex_t mu;
    char last[512];
    int level;
    int n;
} logcap;

static void sink(void *ctx, hone_log_level level, const char *module, const char *msg) {
    logcap *l = ctx;
    pthread_mutex_lock(&l->mu);
    if (!strcmp(module, "opt")) {
        snprintf(l->last, sizeof l->last, "%s", msg);
        l->level = level;
        l->n++;
    }
    pthread_mutex_unlock(&l->mu);
}

static void test_log(void **state) {
    (void)state;
    logcap l = {.mu = PTHREAD_MUTEX_INITIALIZER};
    hone_log_set_sink(sink, &l);
    hone_log_level old = hone_log_get_level();
    hone_log_set_level(HONE_LOG_INFO);
    hone_opt_alerts *a;
    hone_opt_alerts_opts o = {.log = 1};
    assert_int_equal(hone_opt_alerts_new(&a, &o), HONE_OK);
    add(a, "cpu", "process.cpu_percent", 1, 90, 80, 0);
    hone_opt_alerts_observe(a, "process.cpu_percent", 95, 1);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.level, HONE_LOG_WARN);
    assert_string_equal(l.last, "alert cpu: process.cpu_percent = 95 >= 90 for 0 ns (firing)");
    hone_opt_alerts_observe(a, "process.cpu_percent", 10, 2);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.level, HONE_LOG_INFO);
    hone_opt_alerts_free(a);
    hone_log_set_level(old);
    hone_log_set_sink(NULL, NULL);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int load_text(hone_opt_alerts *a, const char *dir, const char *text, hone_error *err,
                     char *path, size_t n) {
    snprintf(path, n, "%s/hone.ini", dir);
    write_file(path, text);
    return hone_opt_alerts_load(a, path, err);
}

#define EXPECT_ERR(text, code, where, what)                                                   \
    do {                                                                                      \
        hone_opt_alerts *x_ = make(NULL, NULL);                                               \
        char p_[600], w_[700];                                                                \
        hone_error e_;                                                                        \
        assert_int_equal(load_text(x_, dir, text, &e_, p_, sizeof p_), code);                 \
        snprintf(w_, sizeof w_, "%s:%s: ", p_, where);                                        \
        if (strncmp(e_.msg, w_, strlen(w_)) || !strstr(e_.msg, what))                         \
            fail_msg("error '%s', expected '%s...%s'", e_.msg, w_, what);                     \
        print_message("%s\n", e_.msg);                                                        \
        assert_int_equal(transitions(x_, "a", NULL), -1); /* nothing added */                 \
        hone_opt_alerts_free(x_);                                                             \
    } while (0)

/* The file reads the same to the alerts loader as to the settings loader:
 * a BOM, CRLF line ends, indented keys and inline "#" or ";" comments. */
static void test_load_same_lines_as_settings(void **state) {
    (void)state;
    char dir[512];
    assert_int_equal(hone_test_tmpdir(dir, sizeof dir, "alerts-lines"), 0);
    hone_opt_alerts *a = make(NULL, NULL);
    char path[600];
    hone_error err;
    const char *text = "\xEF\xBB\xBFlevel = basic   # the level\r\n"
                       "[alert.slow]\r\n"
                       "  metric = zone.parse.p99_ms\r\n"
                       "  above = 50   # ms\r\n"
                       "  clear = 40 ; ms\r\n"
                       "  for = 30s   # half a minute\r\n";
    int rc = load_text(a, dir, text, &err, path, sizeof path);
    if (rc) fail_msg("alerts load: %s", err.msg);
    hone_buf b = {0};
    assert_int_equal(hone_opt_alerts_format(a, &b, 0), HONE_OK);
    if (!strstr(b.data, ">= 50, clear < 40, for 30 s")) fail_msg("alerts: %s", b.data);
    hone_buf_free(&b);
    hone_opt_alerts_free(a);
    /* The settings loader takes the same file. */
    rc = hone_opt_load(path, &err);
    if (rc) fail_msg("settings load: %s", err.msg);
    hone_setting_state st;
    assert_int_equal(hone_setting_get(HONE_SET_LEVEL, NULL, &st, NULL), HONE_OK);
    assert_string_equal(st.value.text, "basic");
    hone_settings_clear(HONE_ORIGIN_FILE);
}

static void test_load(void **state) {
    (void)state;
    char dir[512];
    assert_int_equal(hone_test_tmpdir(dir, sizeof dir, "alerts"), 0);
    hone_opt_alerts *a = make(NULL, NULL);
    char path[600];
    hone_error err;
    int rc = load_text(a, dir,
                       "level = aggressive\n"
                       "[cache]\n"
                       "size = 1M\n"
                       "; a comment\n"
                       "[alert.slow-parse]\n"
                       "metric = zone.parse.p99_ms\n"
                       "above = 50\n"
                       "clear = 40\n"
                       "for = 30s\n"
                       "[alert.hits]\n"
                       "metric = cache.sessions.hit_rate\n"
                       "below = 50\n"
                       "[component.parser]\n"
                       "ttl = 10m\n",
                       &err, path, sizeof path);
    if (rc) fail_msg("load: %s", err.msg);
    hone_buf b = {0};
    assert_int_equal(hone_opt_alerts_format(a, &b, 1), HONE_OK);
    json_t *doc = json_loads(b.data, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_array_size(doc), 2);
    json_t *o = json_array_get(doc, 0);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "slow-parse");
    assert_string_equal(json_string_value(json_object_get(o, "metric")), "zone.parse.p99_ms");
    assert_true(json_is_true(json_object_get(o, "above")));
    assert_true(json_real_value(json_object_get(o, "fire")) == 50 ||
                json_integer_value(json_object_get(o, "fire")) == 50);
    assert_int_equal(json_integer_value(json_object_get(o, "for_ns")), 30 * S);
    assert_true(json_is_null(json_object_get(o, "value")));
    o = json_array_get(doc, 1);
    assert_true(json_is_false(json_object_get(o, "above")));
    json_decref(doc);
    hone_buf_clear(&b);
    assert_int_equal(hone_opt_alerts_format(a, &b, 0), HONE_OK);
    fputs(b.data, stdout);
    assert_non_null(strstr(b.data, "slow-parse"));
    assert_non_null(strstr(b.data, ">= 50, clear < 40, for 30 s"));
    hone_buf_free(&b);
    /* Loading again: the names exist. */
    assert_int_equal(hone_opt_alerts_load(a, path, &err), HONE_EEXIST);
    assert_non_null(strstr(err.msg, "hone.ini:5: "));
    hone_opt_alerts_free(a);

    EXPECT_ERR("[alert.a]\nmetric = m\nabvoe = 3\n", HONE_EPARSE, "3", "did you mean 'above'");
    EXPECT_ERR("[cache]\nsize = 1M\n\n[alert.a]\nabove = 3\n", HONE_EPARSE, "4", "no metric");
    EXPECT_ERR("[alert.a]\nmetric = m\nabove = lots\n", HONE_EPARSE, "3", "lots");
    EXPECT_ERR("[alert.a]\nmetric = m\nabove = 3\nbelow = 2\n", HONE_EPARSE, "4", "one of above and below");
    EXPECT_ERR("[alert.a]\nmetric = m\nabove = 3\nclear = 5\n", HONE_EPARSE, "1", "clear must be at or below");
    EXPECT_ERR("[alert.a]\nmetric = m\nabove = 3\nfor = soon\n", HONE_EPARSE, "4", "soon");
    EXPECT_ERR("[alert.a]\nmetric = m\nthis line is not ini\nabove = 3\n", HONE_EPARSE, "3",
               "not an INI line");
    EXPECT_ERR("[alert.a]\nmetric = m\n[alert.bad name]\nmetric = m\n", HONE_EPARSE, "3", "bad name");
    EXPECT_ERR("[alert.a]\nmetric = m\nabove = 1\n[alert.b]\nmetric = n\n", HONE_EPARSE, "4",
               "no threshold");

    /* A missing file, and no config file at all (HONE_CONFIG=off): nothing. */
    a = make(NULL, NULL);
    char missing[700];
    snprintf(missing, sizeof missing, "%s/none.ini", dir);
    assert_int_equal(hone_opt_alerts_load(a, missing, &err), HONE_OK);
    setenv("HONE_CONFIG", "off", 1);
    assert_int_equal(hone_opt_alerts_load(a, NULL, &err), HONE_OK);
    assert_int_equal(transitions(a, "slow-parse", NULL), -1);
    hone_opt_alerts_free(a);
    hone_test_rmtree(dir);
}

static void test_observe_report(void **state) {
    (void)state;
    events e = {.mu = PTHREAD_MUTEX_INITIALIZER};
    hone_opt_alerts *a = make(&e, NULL);
    add(a, "p99", "zone.parse.p99_ms", 1, 50, 40, 0);
    add(a, "mean", "zone.parse.mean_ms", 1, 100, 90, 0);
    add(a, "hits", "cache.sessions.hit_rate", 0, 50, 60, 0);
    add(a, "util", "cache.sessions.utilization", 1, 90, 80, 0);
    add(a, "batch", "batcher.w.p99_ms", 1, 5, 4, 0);
    add(a, "errors", "http.api.error_rate", 1, 10, 5, 0);
    add(a, "cpu", "process.cpu_percent", 1, 80, 70, 0);
    add(a, "rss", "process.rss_mb", 1, 100, 90, 0);
    hone_opt_zone_stat z = {.count = 100, .p99_ns = 60000000, .mean_ns = 2e6};
    snprintf(z.name, sizeof z.name, "parse");
    hone_opt_cache_stat c = {.hits = 30, .misses = 70, .utilization = 95};
    snprintf(c.name, sizeof c.name, "sessions");
    hone_opt_batcher_stat bt = {.st = {.items = 10, .latency_p99_ns = 6e6}};
    snprintf(bt.name, sizeof bt.name, "w");
    hone_opt_http_stat h = {.st = {.attempts = 100, .errors = 5, .responses_5xx = 15}};
    snprintf(h.name, sizeof h.name, "api");
    hone_opt_report r = {.start_ns = 0, .end_ns = 60 * S, .zones = &z, .nzones = 1, .caches = &c,
                         .ncaches = 1, .batchers = &bt, .nbatchers = 1, .https = &h, .nhttps = 1,
                         .has_process = 1};
    r.process.cpu_percent = 85;
    r.process.rss_end = 200u << 20;
    hone_opt_alerts_observe_report(a, &r);
    /* Every rule but "mean" (2 ms) fires, at the report's end. */
    assert_int_equal(e.n, 7);
    for (size_t i = 0; i < e.n; i++) {
        assert_true(e.ev[i].firing);
        assert_true(e.ev[i].at_ns == 60 * S);
        assert_string_not_equal(e.ev[i].name, "mean");
    }
    const char *st;
    transitions(a, "errors", &st);
    assert_string_equal(st, "firing");
    hone_opt_alerts_free(a);
}

typedef struct tctx {
    hone_opt_alerts *a;
    int seed;
} tctx;

static void *observer(void *p) {
    tctx *t = p;
    for (int i = 0; i < 20000; i++)
        hone_opt_alerts_observe(t->a, "shared", (i + t->seed) % 2 ? 10 : 0, (uint64_t)i);
    return NULL;
}

static void test_concurrent_observe(void **state) {
    (void)state;
    events e = {.mu = PTHREAD_MUTEX_INITIALIZER};
    hone_opt_alerts *a = make(&e, NULL);
    add(a, "flip", "shared", 1, 5, 5, 0);
    add(a, "flip2", "shared", 1, 5, 5, 0);
    pthread_t th[4];
    tctx t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (tctx){a, i};
        assert_int_equal(pthread_create(&th[i], NULL, observer, &t[i]), 0);
    }
    /* A reader at the same time. */
    for (int i = 0; i < 50; i++) {
        hone_buf b = {0};
        assert_int_equal(hone_opt_alerts_format(a, &b, i % 2), HONE_OK);
        hone_buf_free(&b);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    long n1 = transitions(a, "flip", NULL), n2 = transitions(a, "flip2", NULL);
    /* Every transition was delivered once, whatever the interleaving. */
    assert_int_equal((long)e.total, n1 + n2);
    assert_int_equal(n1, n2);
    assert_true(n1 > 0);
    hone_opt_alerts_free(a);
}

static int alerts_oom(const hone_allocator *al, void *ctx) {
    const char *path = ctx;
    hone_opt_alerts *a;
    hone_opt_alerts_opts o = {.alloc = al};
    int rc = hone_opt_alerts_new(&a, &o);
    if (rc) return rc;
    hone_opt_alert_rule r = {"x", "m", 1, 1, 0, 0};
    hone_error err;
    rc = hone_opt_alerts_add(a, &r, &err);
    if (!rc) rc = hone_opt_alerts_load(a, path, &err);
    if (!rc) {
        hone_opt_alerts_observe(a, "m", 5, 1);
        hone_buf b;
        hone_buf_init(&b, al);
        rc = hone_opt_alerts_format(a, &b, 1);
        if (!rc) rc = hone_opt_alerts_format(a, &b, 0);
        hone_buf_free(&b);
    }
    hone_opt_alerts_free(a);
    return rc;
}

static void test_alerts_oom(void **state) {
    (void)state;
    char dir[512], path[600];
    assert_int_equal(hone_test_tmpdir(dir, sizeof dir, "alerts-oom"), 0);
    snprintf(path, sizeof path, "%s/hone.ini", dir);
    write_file(path, "[alert.a]\nmetric = m\nabove = 3\n[alert.b]\nmetric = n\nbelow = 1\n"
                     "[alert.c]\nmetric = n\nbelow = 1\n");
    assert_true(failalloc_loop("hone_opt_alerts", alerts_oom, path) > 1);
    hone_test_rmtree(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_flapping),        cmocka_unit_test(test_for_duration_both_edges),
    cmocka_unit_test(test_below),           cmocka_unit_test(test_add_errors),
    cmocka_unit_test(test_metrics),         cmocka_unit_test(test_log),
    cmocka_unit_test(test_load),
    cmocka_unit_test(test_load_same_lines_as_settings),
    cmocka_unit_test(test_observe_report),
    cmocka_unit_test(test_concurrent_observe), cmocka_unit_test(test_alerts_oom),
};

HONE_TEST_MAIN(tests)
