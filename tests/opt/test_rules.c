/* test_rules.c - every recommendation rule fires on a report carrying its
 * evidence (and the evidence quotes the numbers), stays quiet on a healthy
 * report, and says "not enough data" below its minimum. */
#include "test.h"

#include <jansson.h>
#include <string.h>

#include "hone/opt.h"

#define MIN10 (600ull * 1000000000ull)

/* A healthy report over 10 minutes: nothing should fire. */
static hone_opt_zone_stat hz[1];
static hone_opt_cache_stat hc[1];
static hone_opt_batcher_stat hb[1];
static hone_opt_http_stat hh[1];

static void healthy(hone_opt_report *r) {
    memset(r, 0, sizeof *r);
    memset(hz, 0, sizeof hz);
    memset(hc, 0, sizeof hc);
    memset(hb, 0, sizeof hb);
    memset(hh, 0, sizeof hh);
    r->start_ns = 1000;
    r->end_ns = 1000 + MIN10;
    snprintf(hz[0].name, sizeof hz[0].name, "parse");
    hz[0].count = 10000;
    hz[0].p50_ns = 1000000;
    hz[0].p90_ns = 2000000;
    hz[0].p99_ns = 3000000;
    hz[0].max_ns = 5000000;
    hz[0].mean_ns = 1200000;
    hz[0].total_ns = 300ull * 1000000000ull; /* half the window */
    snprintf(hc[0].name, sizeof hc[0].name, "sessions");
    hc[0].hits = 9000;
    hc[0].misses = 1000;
    hc[0].expired = 10;
    hc[0].max_bytes = 64u << 20;
    hc[0].bytes = (uint64_t)(0.7 * (64u << 20));
    hc[0].utilization = 70;
    hc[0].peak_utilization = 72;
    hc[0].ttl_ns = 60ull * 1000000000ull;
    snprintf(hb[0].name, sizeof hb[0].name, "writes");
    hb[0].st.items = 6000;
    hb[0].st.batches = 100;
    hb[0].st.mean_batch = 60;
    hb[0].st.full_flushes = 90;
    hb[0].st.timeout_flushes = 10;
    hb[0].st.latency_p99_ns = 2e6;
    hb[0].batch_size = 64;
    hb[0].max_wait_ns = 10000000;
    snprintf(hh[0].name, sizeof hh[0].name, "api");
    hh[0].st.requests = 1000;
    hh[0].st.attempts = 1010;
    hh[0].st.retries = 10;
    hh[0].st.responses_2xx = 1000;
    hh[0].st.responses_5xx = 10;
    hh[0].st.limiter_waits = 5;
    hh[0].st.limiter_wait_ns = 1000000;
    r->zones = hz;
    r->nzones = 1;
    r->caches = hc;
    r->ncaches = 1;
    r->batchers = hb;
    r->nbatchers = 1;
    r->https = hh;
    r->nhttps = 1;
    r->has_process = 1;
    r->process.cpu_percent = 150;
    r->process.cpus = 2;
    r->process.rss_start = 100u << 20;
    r->process.rss_end = 110u << 20;
    r->process.peak_rss = 120u << 20;
    r->process.threads = 4;
    r->max_workers = 2;
}

typedef struct findings {
    hone_opt_finding *f;
    size_t n;
} findings;

static findings run(const hone_opt_report *r) {
    findings x;
    assert_int_equal(hone_opt_recommend(r, &x.f, &x.n, NULL), HONE_OK);
    return x;
}

static const hone_opt_finding *find(findings *x, const char *rule) {
    for (size_t i = 0; i < x->n; i++)
        if (!strcmp(x->f[i].rule, rule)) return &x->f[i];
    fail_msg("no finding of rule %s", rule);
    return NULL;
}

#define HAS(hay, needle)                                                                     \
    do {                                                                                     \
        if (!strstr((hay), (needle))) fail_msg("'%s' not in '%s'", (needle), (hay));         \
    } while (0)

static void expect_fired(findings *x, const char *rule, int severity) {
    const hone_opt_finding *f = find(x, rule);
    if (f->verdict != HONE_OPT_FIRED)
        fail_msg("%s: verdict %s, expected fired; evidence: %s", rule,
                 hone_opt_verdict_name(f->verdict), f->evidence);
    assert_int_equal(f->severity, severity);
    assert_true(f->confidence > 0.5 && f->confidence <= 1.0);
    assert_true(f->effect[0] != '\0');
    print_message("%s [%s %.2f]\n  evidence: %s\n  effect: %s\n  action: %s\n", rule,
                  hone_opt_severity_name(f->severity), f->confidence, f->evidence, f->effect,
                  f->action);
}

static void test_rules_documented(void **state) {
    (void)state;
    size_t n;
    const hone_opt_rule_info *ri = hone_opt_rules(&n);
    assert_true(n >= 10);
    const char *want[] = {"cache.undersized", "cache.oversized", "cache.ttl_short",
                          "batcher.timeout_bound", "batcher.backpressure", "http.retries",
                          "http.rate_limited", "zone.tail", "process.cpu_underused",
                          "process.memory_growth"};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        size_t i = 0;
        while (i < n && strcmp(ri[i].name, want[k])) i++;
        if (i == n) fail_msg("rule %s is not documented", want[k]);
        assert_true(strlen(ri[i].reads) > 10 && strlen(ri[i].why) > 20 && strlen(ri[i].min_data) > 3);
    }
}

static void test_healthy_quiet(void **state) {
    (void)state;
    hone_opt_report r;
    healthy(&r);
    findings x = run(&r);
    size_t nrules;
    hone_opt_rules(&nrules);
    assert_int_equal(x.n, nrules); /* one subject each */
    for (size_t i = 0; i < x.n; i++) {
        if (x.f[i].verdict != HONE_OPT_QUIET)
            fail_msg("%s on %s: %s (%s), expected quiet", x.f[i].rule, x.f[i].subject,
                     hone_opt_verdict_name(x.f[i].verdict), x.f[i].evidence);
        /* Quiet findings still cite what they read. */
        assert_true(strlen(x.f[i].evidence) > 10);
    }
    hone_buf b = {0};
    assert_int_equal(hone_opt_findings_format(x.f, x.n, 0, &b, 0), HONE_OK);
    HAS(b.data, "no findings");
    hone_buf_free(&b);
    hone_free(NULL, x.f);
}

static void test_no_data(void **state) {
    (void)state;
    hone_opt_report r;
    healthy(&r);
    hc[0].hits = 30;
    hc[0].misses = 7;
    hb[0].st.items = 50;
    hb[0].st.batches = 5;
    hh[0].st.attempts = 37;
    hz[0].count = 500;
    r.has_process = 0;
    findings x = run(&r);
    for (size_t i = 0; i < x.n; i++) {
        if (x.f[i].verdict != HONE_OPT_NO_DATA)
            fail_msg("%s: %s, expected no data (%s)", x.f[i].rule,
                     hone_opt_verdict_name(x.f[i].verdict), x.f[i].evidence);
        HAS(x.f[i].evidence, "not enough data");
    }
    HAS(find(&x, "cache.undersized")->evidence, "37 lookups over 10 min, needs 1,000");
    HAS(find(&x, "cache.oversized")->evidence, "37 lookups");
    HAS(find(&x, "cache.ttl_short")->evidence, "7 misses over 10 min, needs 100");
    HAS(find(&x, "batcher.timeout_bound")->evidence, "5 batches over 10 min, needs 20");
    HAS(find(&x, "batcher.backpressure")->evidence, "50 adds over 10 min, needs 100");
    HAS(find(&x, "http.retries")->evidence, "37 attempts over 10 min, needs 100");
    HAS(find(&x, "http.rate_limited")->evidence, "37 attempts");
    HAS(find(&x, "zone.tail")->evidence, "500 calls over 10 min, needs 1,000");
    HAS(find(&x, "process.cpu_underused")->evidence, "no process figures");
    HAS(find(&x, "process.memory_growth")->evidence, "no process figures");
    assert_string_equal(hone_opt_verdict_name(HONE_OPT_NO_DATA), "not enough data");
    hone_buf b = {0};
    assert_int_equal(hone_opt_findings_format(x.f, x.n, 1, &b, 0), HONE_OK);
    HAS(b.data, "[not enough data] cache.undersized: cache sessions: not enough data: 37 lookups");
    hone_buf_free(&b);
    hone_free(NULL, x.f);
}

static void test_cache_undersized(void **state) {
    (void)state;
    hone_opt_report r;
    healthy(&r);
    hc[0].hits = 4100;
    hc[0].misses = 5900;
    hc[0].evicted_capacity = 2300;
    hc[0].utilization = 100;
    hc[0].peak_utilization = 100;
    findings x = run(&r);
    expect_fired(&x, "cache.undersized", HONE_OPT_HIGH);
    const hone_opt_finding *f = find(&x, "cache.undersized");
    HAS(f->evidence, "hit rate 41.0 % (4,100 of 10,000 lookups");
    HAS(f->evidence, "over 10 min");
    HAS(f->evidence, "2,300 capacity evictions at 100 % peak utilization");
    HAS(f->effect, "2,300 of the 5,900 misses");
    assert_int_equal(f->setting, HONE_SET_CACHE_SIZE);
    assert_string_equal(f->value, "128M"); /* max_bytes 64M doubled */
    HAS(f->action, "set cache.size=128M");
    assert_true(f->confidence > 0.99);
    assert_string_equal(f->subject, "cache sessions");
    /* Fired findings come first. */
    assert_int_equal(x.f[0].verdict, HONE_OPT_FIRED);
    hone_free(NULL, x.f);
    /* Not full: no capacity problem even with a low hit rate. */
    hc[0].peak_utilization = 60;
    x = run(&r);
    assert_int_equal(find(&x, "cache.undersized")->verdict, HONE_OPT_QUIET);
    hone_free(NULL, x.f);
}

static void test_cache_oversized(void **state) {
    (void)state;
    hone_opt_report r;
    healthy(&r);
    hc[0].hits = 9900;
    hc[0].misses = 100;
    hc[0].expired = 0;
    hc[0].peak_utilization = 10;
    hc[0].utilization = 8;
    findings x = run(&r);
    expect_fired(&x, "cache.oversized", HONE_OPT_LOW);
    const hone_opt_finding *f = find(&x, "cache.oversized");
    HAS(f->evidence, "hit rate 99.0 % (9,900 of 10,000 lookups) over 10 min");
    HAS(f->evidence, "peak utilization 10.0 % (6.4 MiB of 64.0 MiB)");
    HAS(f->evidence, "0 capacity evictions");
    /* 2 x 6.4 MiB, rounded up to a KiB. */
    assert_string_equal(f->value, "13108K");
    HAS(f->effect, "frees 51.2 MiB of bound");
    assert_int_equal(f->setting, HONE_SET_CACHE_SIZE);
    hone_free(NULL, x.f);
}

static void test_cache_ttl_short(void **state) {
    (void)state;
    hone_opt_report r;
    healthy(&r);
    hc[0].expired = 600;
    findings x = run(&r);
    expect_fired(&x, "cache.ttl_short", HONE_OPT_MEDIUM);
    const hone_opt_finding *f = find(&x, "cache.ttl_short");
    HAS(f->evidence, "600 entries expired, 60.0 % of 1,000 misses over 10 min (ttl 60.00 s)");
    assert_int_equal(f->setting, HONE_SET_CACHE_TTL);
    assert_string_equal(f->value, "4m");
    hone_free(NULL, x.f);
}

static void test_batcher_timeout_bound(void **state) {
    (void)state;
    hone_opt_report r;
    healthy(&r);
    hb[0].st.items = 5000;
    hb[0].st.batches = 1000;
    hb[0].st.mean_batch = 5;
    hb[0].st.timeout_flushes = 950;
    hb[0].st.full_flushes = 50;
    hb[0].st.latency_p99_ns = 9.8e6;
    findings x = run(&r);
    expect_fired(&x, "batcher.timeout_bound", HONE_OPT_MEDIUM);
    const hone_opt_finding *f = find(&x, "batcher.timeout_bound");
    HAS(f->evidence, "950 of 1,000 batches (95.0 %) flushed by timeout over 10 min");
    HAS(f->evidence, "mean batch 5.0 of batch_size 64");
    HAS(f->evidence, "added latency p99 9.80 ms, max_wait 10.00 ms");
    HAS(f->effect, "about 5.00 ms less added latency at p99");
    assert_int_equal(f->setting, HONE_SET_BATCH_MAX_WAIT);
    assert_string_equal(f->value, "5ms");
    hone_free(NULL, x.f);
}

static void test_batcher_backpressure(void **state) {
    (void)state;
    hone_opt_report r;
    healthy(&r);
    hb[0].st.items = 10000;
    hb[0].st.rejected = 500;
    findings x = run(&r);
    expect_fired(&x, "batcher.backpressure", HONE_OPT_CRITICAL);
    const hone_opt_finding *f = find(&x, "batcher.backpressure");
    HAS(f->evidence, "500 of 10,500 adds (4.76 %) rejected");
    assert_string_equal(f->value, "128");
    /* Critical sorts first. */
    assert_string_equal(x.f[0].rule, "batcher.backpressure");
    hone_free(NULL, x.f);
}

static void test_http_retries(void **state) {
    (void)state;
    hone_opt_report r;
    healthy(&r);
    hh[0].st.attempts = 1000;
    hh[0].st.retries = 400;
    hh[0].st.timeouts = 300;
    hh[0].st.errors = 300;
    hh[0].st.responses_5xx = 50;
    findings x = run(&r);
    expect_fired(&x, "http.retries", HONE_OPT_HIGH);
    const hone_opt_finding *f = find(&x, "http.retries");
    HAS(f->evidence, "400 of 1,000 attempts (40.0 %) were retries over 10 min");
    HAS(f->evidence, "50 5xx, 300 timeouts");
    assert_int_equal(f->setting, HONE_SET_HTTP_TIMEOUT);
    assert_string_equal(f->value, "1m"); /* 30 s at level moderate, doubled */
    hone_free(NULL, x.f);
    /* 5xx-driven retries: no setting to change, the counts cited. */
    hh[0].st.timeouts = 0;
    hh[0].st.errors = 0;
    hh[0].st.responses_5xx = 400;
    hh[0].st.retries = 200;
    x = run(&r);
    expect_fired(&x, "http.retries", HONE_OPT_MEDIUM);
    f = find(&x, "http.retries");
    assert_int_equal(f->setting, -1);
    HAS(f->effect, "400 5xx");
    hone_free(NULL, x.f);
}

static void test_http_rate_limited(void **state) {
    (void)state;
    hone_opt_report r;
    healthy(&r);
    hh[0].st.attempts = 1000;
    hh[0].st.limiter_waits = 600;
    hh[0].st.limiter_wait_ns = 120ull * 1000000000ull;
    findings x = run(&r);
    expect_fired(&x, "http.rate_limited", HONE_OPT_MEDIUM);
    const hone_opt_finding *f = find(&x, "http.rate_limited");
    HAS(f->evidence, "600 of 1,000 attempts (60.0 %) waited for the rate limiter over 10 min");
    HAS(f->evidence, "120.00 s of waiting in all (20.0 % of the window)");
    hone_free(NULL, x.f);
}

static void test_zone_tail(void **state) {
    (void)state;
    hone_opt_report r;
    healthy(&r);
    hz[0].p99_ns = 60000000;
    findings x = run(&r);
    expect_fired(&x, "zone.tail", HONE_OPT_LOW);
    const hone_opt_finding *f = find(&x, "zone.tail");
    HAS(f->evidence, "p99 60.00 ms is 60.0 x p50 1.00 ms over 10,000 calls in 10 min");
    assert_int_equal(f->setting, -1);
    hone_free(NULL, x.f);
    hz[0].p99_ns = 20000000;
    x = run(&r);
    expect_fired(&x, "zone.tail", HONE_OPT_INFO);
    hone_free(NULL, x.f);
}

static void test_cpu_underused(void **state) {
    (void)state;
    hone_opt_report r;
    healthy(&r);
    r.max_workers = 4;
    r.process.cpu_percent = 20;
    hz[0].total_ns = 500ull * 1000000000ull;
    findings x = run(&r);
    expect_fired(&x, "process.cpu_underused", HONE_OPT_MEDIUM);
    const hone_opt_finding *f = find(&x, "process.cpu_underused");
    HAS(f->evidence, "CPU 20.0 % of 4 workers' 400 % (5.0 % used) over 10 min");
    HAS(f->evidence, "zone parse ran 500.00 s (83 % of the window, 10,000 calls)");
    hone_free(NULL, x.f);
}

static void test_memory_growth(void **state) {
    (void)state;
    hone_opt_report r;
    healthy(&r);
    r.process.rss_end = 300u << 20;
    findings x = run(&r);
    expect_fired(&x, "process.memory_growth", HONE_OPT_HIGH);
    const hone_opt_finding *f = find(&x, "process.memory_growth");
    HAS(f->evidence, "rss 100.0 MiB -> 300.0 MiB (+200.0 %, +200.0 MiB) over 10 min");
    hone_free(NULL, x.f);
}

static void test_findings_json(void **state) {
    (void)state;
    hone_opt_report r;
    healthy(&r);
    hc[0].expired = 600;
    findings x = run(&r);
    hone_buf b = {0};
    assert_int_equal(hone_opt_findings_format(x.f, x.n, 1, &b, 1), HONE_OK);
    json_error_t je;
    json_t *doc = json_loads(b.data, 0, &je);
    if (!doc) fail_msg("findings JSON does not parse: %s: %s", je.text, b.data);
    assert_true(json_is_array(doc));
    assert_int_equal(json_array_size(doc), x.n);
    json_t *first = json_array_get(doc, 0);
    assert_string_equal(json_string_value(json_object_get(first, "rule")), "cache.ttl_short");
    assert_string_equal(json_string_value(json_object_get(first, "verdict")), "fired");
    assert_string_equal(json_string_value(json_object_get(first, "severity")), "medium");
    assert_string_equal(json_string_value(json_object_get(first, "setting")), "cache.ttl");
    assert_string_equal(json_string_value(json_object_get(first, "value")), "4m");
    assert_true(json_is_null(json_object_get(json_array_get(doc, 1), "severity")));
    json_decref(doc);
    hone_buf_clear(&b);
    /* Fired only. */
    assert_int_equal(hone_opt_findings_format(x.f, x.n, 0, &b, 1), HONE_OK);
    doc = json_loads(b.data, 0, &je);
    assert_non_null(doc);
    assert_int_equal(json_array_size(doc), 1);
    json_decref(doc);
    hone_buf_clear(&b);
    assert_int_equal(hone_opt_findings_format(x.f, x.n, 0, &b, 0), HONE_OK);
    HAS(b.data, "[medium] cache.ttl_short: cache sessions");
    HAS(b.data, "evidence: 600 entries expired");
    HAS(b.data, "action:   set cache.ttl=4m");
    hone_buf_free(&b);
    hone_free(NULL, x.f);
    assert_string_equal(hone_opt_severity_name(HONE_OPT_CRITICAL), "critical");
}

static int recommend_oom(const hone_allocator *a, void *ctx) {
    const hone_opt_report *r = ctx;
    hone_opt_finding *f;
    size_t n;
    int rc = hone_opt_recommend(r, &f, &n, a);
    if (rc) return rc;
    hone_buf b;
    hone_buf_init(&b, a);
    rc = hone_opt_findings_format(f, n, 1, &b, 1);
    if (!rc) rc = hone_opt_findings_format(f, n, 1, &b, 0);
    hone_buf_free(&b);
    hone_free(a, f);
    return rc;
}

static void test_recommend_oom(void **state) {
    (void)state;
    hone_opt_report r;
    healthy(&r);
    hc[0].expired = 600;
    long n = failalloc_loop("hone_opt_recommend", recommend_oom, &r);
    assert_true(n >= 1);
    hone_opt_finding *f;
    size_t nf;
    assert_int_equal(hone_opt_recommend(NULL, &f, &nf, NULL), HONE_EINVAL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rules_documented),  cmocka_unit_test(test_healthy_quiet),
    cmocka_unit_test(test_no_data),           cmocka_unit_test(test_cache_undersized),
    cmocka_unit_test(test_cache_oversized),   cmocka_unit_test(test_cache_ttl_short),
    cmocka_unit_test(test_batcher_timeout_bound), cmocka_unit_test(test_batcher_backpressure),
    cmocka_unit_test(test_http_retries),      cmocka_unit_test(test_http_rate_limited),
    cmocka_unit_test(test_zone_tail),         cmocka_unit_test(test_cpu_underused),
    cmocka_unit_test(test_memory_growth),     cmocka_unit_test(test_findings_json),
    cmocka_unit_test(test_recommend_oom),
};

HONE_TEST_MAIN(tests)
