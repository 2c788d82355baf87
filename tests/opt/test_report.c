/* test_report.c - the monitor over a real cache, batcher and zone workload
 * (figures exactly the window's), the report's text and JSON and the JSON
 * round trip, parse errors, a report fetched from a real hone server on
 * loopback, and out-of-memory loops. */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "hone/opt.h"

static uint64_t fake_now;
static uint64_t fake_clock(void *ctx) {
    (void)ctx;
    return fake_now;
}

static hone_prof_site work_site = {"opt_test.work", __FILE__, "work", __LINE__, HONE_LOG_WARN, 0, 0, 0, 0};

static void batch_handler(void *ctx, void **items, size_t n) {
    (void)items;
    atomic_fetch_add((atomic_ulong *)ctx, n);
}

/* Looks up keys 0..nkeys-1 `rounds` times, putting each miss. */
static void cache_work(hone_cache *c, int rounds, int nkeys) {
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < nkeys; k++) {
            char key[16], val[8];
            size_t vl;
            snprintf(key, sizeof key, "k%d", k);
            if (hone_cache_get(c, key, strlen(key), val, sizeof val, &vl) == HONE_ENOTFOUND)
                assert_int_equal(hone_cache_put(c, key, strlen(key), "v", 1), HONE_OK);
        }
}

static void test_monitor_workload(void **state) {
    (void)state;
    hone_cache *c;
    hone_cache_options co = {.max_entries = 100, .shards = 1};
    assert_int_equal(hone_cache_new(&c, &co), HONE_OK);
    atomic_ulong handled = 0;
    hone_batcher *b;
    hone_batcher_opts bo = {.batch_size = 8, .max_wait_ns = 1000000};
    hone_error err;
    assert_int_equal(hone_batcher_new(&b, batch_handler, &handled, &bo, &err), HONE_OK);
    hone_prof_enable(1);

    /* Before the window: not counted. */
    cache_work(c, 1, 50);
    for (int i = 0; i < 7; i++) hone_prof_record(&work_site, 1000);

    hone_opt_monitor *m;
    hone_opt_monitor_opts mo = {.clock = fake_clock, .zones = 1, .process = 1};
    assert_int_equal(hone_opt_monitor_new(&m, &mo), HONE_OK);
    assert_int_equal(hone_opt_watch_cache(m, "lru", c), HONE_OK);
    assert_int_equal(hone_opt_watch_cache(m, "lru", c), HONE_EEXIST);
    assert_int_equal(hone_opt_watch_batcher(m, "writes", b, 8, 1000000), HONE_OK);
    hone_opt_report *r;
    assert_int_equal(hone_opt_monitor_report(m, &r, &err), HONE_EINVAL); /* no begin */
    fake_now = 1000000000ull;
    assert_int_equal(hone_opt_monitor_begin(m, &err), HONE_OK);

    /* The window: 3 rounds over 150 keys in a 100-entry cache: every
     * lookup misses (LRU-like scan) and evicts once full. */
    cache_work(c, 3, 150);
    assert_int_equal(hone_opt_monitor_sample(m, &err), HONE_OK);
    for (int i = 0; i < 1000; i++) hone_prof_record(&work_site, 2000000 + (uint64_t)i * 1000);
    for (int i = 0; i < 64; i++) assert_int_equal(hone_batcher_add(b, (void *)1, HONE_BATCH_BLOCK), HONE_OK);
    /* Bounded wait for the batcher to hand everything over. */
    for (int i = 0; i < 5000 && atomic_load(&handled) < 64; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(atomic_load(&handled), 64);
    fake_now += 10ull * 1000000000ull;
    assert_int_equal(hone_opt_monitor_report(m, &r, &err), HONE_OK);

    assert_true(r->start_ns == 1000000000ull && r->end_ns == 11000000000ull);
    assert_int_equal(r->ncaches, 1);
    const hone_opt_cache_stat *cs = &r->caches[0];
    assert_string_equal(cs->name, "lru");
    print_message("cache: %llu hits, %llu misses, %llu capacity evictions, util %.1f peak %.1f, "
                  "memory %llu\n",
                  (unsigned long long)cs->hits, (unsigned long long)cs->misses,
                  (unsigned long long)cs->evicted_capacity, cs->utilization, cs->peak_utilization,
                  (unsigned long long)cs->memory_bytes);
    assert_int_equal(cs->hits + cs->misses, 450);
    /* Every miss put an entry; 50 were in before; 100 stay. */
    assert_int_equal(cs->evicted_capacity, 50 + cs->misses - 100);
    assert_true(cs->misses >= 150);
    assert_int_equal(cs->entries, 100);
    assert_true(cs->peak_utilization >= 99.9);
    assert_true(cs->memory_bytes > 0);
    assert_int_equal(r->nbatchers, 1);
    assert_int_equal(r->batchers[0].st.items, 64);
    assert_int_equal(r->batchers[0].batch_size, 8);
    /* Zones: exactly the window's 1000 calls. */
    const hone_opt_zone_stat *z = NULL;
    for (size_t i = 0; i < r->nzones; i++)
        if (!strcmp(r->zones[i].name, "opt_test.work")) z = &r->zones[i];
    assert_non_null(z);
    assert_int_equal(z->count, 1000);
    assert_true(z->p50_ns >= 2000000 && z->p50_ns <= 3100000);
    assert_true(z->per_sec > 99.9 && z->per_sec < 100.1);
    assert_true(r->has_process);
    assert_true(r->process.rss_end > 0 && r->process.cpus >= 1);
    assert_true(r->max_workers >= 1);
    hone_buf tb = {0};
    assert_int_equal(hone_opt_report_format(r, &tb, 0), HONE_OK);
    fputs(tb.data, stdout);
    assert_non_null(strstr(tb.data, "opt_test.work"));
    assert_non_null(strstr(tb.data, "lru"));
    assert_non_null(strstr(tb.data, "writes"));
    hone_buf_free(&tb);
    /* Recommendations over a real report run. */
    hone_opt_finding *f;
    size_t nf;
    assert_int_equal(hone_opt_recommend(r, &f, &nf, NULL), HONE_OK);
    assert_true(nf >= 8); /* 3 cache rules, 2 batcher rules, zone.tail, 2 process rules */
    hone_free(NULL, f);
    hone_opt_report_free(r, NULL);

    /* The next window starts where that one ended: nothing happened. */
    fake_now += 1000000000ull;
    assert_int_equal(hone_opt_monitor_report(m, &r, &err), HONE_OK);
    assert_int_equal(r->caches[0].hits + r->caches[0].misses, 0);
    assert_int_equal(r->batchers[0].st.items, 0);
    for (size_t i = 0; i < r->nzones; i++) assert_string_not_equal(r->zones[i].name, "opt_test.work");
    hone_opt_report_free(r, NULL);
    hone_opt_unwatch(m, "writes");
    assert_int_equal(hone_opt_monitor_report(m, &r, &err), HONE_OK);
    assert_int_equal(r->nbatchers, 0);
    hone_opt_report_free(r, NULL);

    hone_prof_enable(0);
    hone_opt_monitor_free(m);
    hone_batcher_free(b);
    hone_cache_free(c);
}

static hone_opt_zone_stat rz[2];
static hone_opt_cache_stat rc_[1];
static hone_opt_batcher_stat rb[1];
static hone_opt_http_stat rh[1];

static void sample_report(hone_opt_report *r) {
    memset(r, 0, sizeof *r);
    r->start_ns = 5;
    r->end_ns = 5 + 60000000000ull;
    snprintf(rz[0].name, sizeof rz[0].name, "parse \"quoted\" \\ zone");
    rz[0] = (hone_opt_zone_stat){.count = 12345, .mean_ns = 1234.5678901234, .p50_ns = 1000,
                                 .p90_ns = 2000, .p99_ns = 9000, .max_ns = 100000,
                                 .total_ns = 15240000, .per_sec = 205.75};
    snprintf(rz[0].name, sizeof rz[0].name, "parse \"quoted\" \\ zone");
    rz[1] = (hone_opt_zone_stat){.count = 1, .mean_ns = 0.1, .per_sec = 1.0 / 3};
    snprintf(rz[1].name, sizeof rz[1].name, "tiny");
    rc_[0] = (hone_opt_cache_stat){.hits = 9, .misses = 3, .evicted_capacity = 2, .expired = 1,
                                   .entries = 7, .bytes = 700, .max_entries = 0, .max_bytes = 1024,
                                   .utilization = 68.359375, .peak_utilization = 70.1,
                                   .memory_bytes = 4096, .ttl_ns = 30000000000ull};
    snprintf(rc_[0].name, sizeof rc_[0].name, "sessions");
    rb[0].st = (hone_batcher_stats){.items = 100, .batches = 7, .mean_batch = 100.0 / 7,
                                    .full_flushes = 5, .timeout_flushes = 1, .close_flushes = 1,
                                    .rejected = 3, .latency_p50_ns = 1.5e5,
                                    .latency_p99_ns = 9.9e6, .latency_max_ns = 1.1e7};
    rb[0].batch_size = 16;
    rb[0].max_wait_ns = 10000000;
    snprintf(rb[0].name, sizeof rb[0].name, "writes");
    rh[0].st = (hone_http_stats){1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
    snprintf(rh[0].name, sizeof rh[0].name, "api");
    r->zones = rz;
    r->nzones = 2;
    r->caches = rc_;
    r->ncaches = 1;
    r->batchers = rb;
    r->nbatchers = 1;
    r->https = rh;
    r->nhttps = 1;
    r->has_process = 1;
    r->process = (hone_opt_process_stat){.cpu_percent = 123.456, .cpus = 8, .rss_start = 1 << 20,
                                         .rss_end = 2 << 20, .peak_rss = 3 << 20, .threads = 9};
    r->max_workers = 8;
}

static void test_json_round_trip(void **state) {
    (void)state;
    hone_opt_report r;
    sample_report(&r);
    hone_buf a = {0}, b = {0};
    assert_int_equal(hone_opt_report_format(&r, &a, 1), HONE_OK);
    hone_opt_report *p;
    hone_error err;
    int rc = hone_opt_report_parse(&p, a.data, a.len, NULL, &err);
    if (rc) fail_msg("parse: %s\n%s", err.msg, a.data);
    assert_int_equal(hone_opt_report_format(p, &b, 1), HONE_OK);
    assert_string_equal(a.data, b.data);
    /* Field by field, doubles exactly. */
    assert_true(p->start_ns == r.start_ns && p->end_ns == r.end_ns);
    assert_int_equal(p->nzones, 2);
    assert_string_equal(p->zones[0].name, rz[0].name);
    assert_true(p->zones[0].mean_ns == rz[0].mean_ns && p->zones[1].per_sec == rz[1].per_sec);
    assert_true(!memcmp(&p->https[0].st, &rh[0].st, sizeof rh[0].st));
    assert_true(p->batchers[0].st.mean_batch == rb[0].st.mean_batch);
    assert_true(p->caches[0].utilization == rc_[0].utilization);
    assert_int_equal(p->caches[0].ttl_ns, rc_[0].ttl_ns);
    assert_true(p->has_process && p->process.cpu_percent == 123.456 && p->process.threads == 9);
    assert_int_equal(p->max_workers, 8);
    hone_opt_report_free(p, NULL);
    /* Without process figures. */
    r.has_process = 0;
    hone_buf_clear(&a);
    assert_int_equal(hone_opt_report_format(&r, &a, 1), HONE_OK);
    assert_non_null(strstr(a.data, "\"process\":null"));
    assert_int_equal(hone_opt_report_parse(&p, a.data, a.len, NULL, &err), HONE_OK);
    assert_false(p->has_process);
    hone_opt_report_free(p, NULL);
    /* Text: aligned rows with the figures. */
    hone_buf_clear(&a);
    r.has_process = 1;
    assert_int_equal(hone_opt_report_format(&r, &a, 0), HONE_OK);
    fputs(a.data, stdout);
    assert_non_null(strstr(a.data, "window: 60.000 s"));
    assert_non_null(strstr(a.data, "sessions"));
    assert_non_null(strstr(a.data, "75.0")); /* 9 of 12 hits */
    assert_non_null(strstr(a.data, "cpu 123.5 % of one CPU (8 online)"));
    hone_buf_free(&a);
    hone_buf_free(&b);
}

static void test_parse_errors(void **state) {
    (void)state;
    hone_opt_report *p = (void *)1;
    hone_error err;
    const char *bad = "{\"format\":\"hone-opt-report\",\n  oops}";
    assert_int_equal(hone_opt_report_parse(&p, bad, strlen(bad), NULL, &err), HONE_EPARSE);
    assert_null(p);
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.msg, "line 2"));
    const char *other = "{\"format\":\"something\"}";
    assert_int_equal(hone_opt_report_parse(&p, other, strlen(other), NULL, &err), HONE_ECORRUPT);
    assert_non_null(strstr(err.msg, "not a hone report"));
    hone_opt_report r;
    sample_report(&r);
    hone_buf a = {0};
    assert_int_equal(hone_opt_report_format(&r, &a, 1), HONE_OK);
    /* Break one field. */
    char *s = strstr(a.data, "\"misses\":3");
    assert_non_null(s);
    memcpy(s, "\"misses\":\"", 10);
    s[10] = '3';
    char *q = strchr(s + 11, ',');
    (void)q;
    hone_buf fixed = {0};
    hone_buf_append(&fixed, a.data, (size_t)(s - a.data));
    hone_buf_puts(&fixed, "\"misses\":\"x\"");
    hone_buf_puts(&fixed, strchr(s + 11, ','));
    assert_int_equal(hone_opt_report_parse(&p, fixed.data, fixed.len, NULL, &err), HONE_ECORRUPT);
    print_message("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "caches[0].misses"));
    hone_buf_free(&a);
    hone_buf_free(&fixed);
}

/* A real hone server on 127.0.0.1, a cache it exports and a thread doing
 * work during the fetch's window. */
typedef struct worker {
    hone_cache *c;
    atomic_int stop;
    atomic_ulong lookups;
} worker;

static hone_prof_site fetch_site = {"opt_test.fetch", __FILE__, "fetch", __LINE__, HONE_LOG_WARN, 0, 0, 0, 0};

static void *work(void *p) {
    worker *w = p;
    unsigned long i = 0;
    while (!atomic_load(&w->stop)) {
        char key[16], val[8];
        size_t vl;
        snprintf(key, sizeof key, "k%lu", i++ % 64);
        if (hone_cache_get(w->c, key, strlen(key), val, sizeof val, &vl) == HONE_ENOTFOUND)
            hone_cache_put(w->c, key, strlen(key), "v", 1);
        hone_prof_record(&fetch_site, 5000);
        atomic_fetch_add(&w->lookups, 1);
        if (i % 64 == 0) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static void test_fetch_from_server(void **state) {
    (void)state;
    hone_server *srv;
    hone_error err;
    hone_server_opts so = {.listen = "127.0.0.1:0"};
    int rc = hone_server_start(&srv, &so, &err);
    if (rc) fail_msg("server: %s", err.msg);
    hone_cache *c;
    hone_cache_options co = {.max_entries = 1000};
    assert_int_equal(hone_cache_new(&c, &co), HONE_OK);
    assert_int_equal(hone_server_add_cache(srv, "shared", c), HONE_OK);
    hone_prof_enable(1);
    worker w = {.c = c};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, work, &w), 0);
    /* Bounded wait until the worker has started. */
    for (int i = 0; i < 5000 && atomic_load(&w.lookups) < 100; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", hone_server_port(srv));
    hone_opt_report *r = NULL;
    rc = hone_opt_report_fetch(&r, url, 200000000ull, NULL, &err);
    atomic_store(&w.stop, 1);
    pthread_join(th, NULL);
    if (rc) fail_msg("fetch: %s", err.msg);
    unsigned long total = atomic_load(&w.lookups);
    hone_buf b = {0};
    assert_int_equal(hone_opt_report_format(r, &b, 0), HONE_OK);
    fputs(b.data, stdout);
    hone_buf_free(&b);
    assert_int_equal(r->ncaches, 1);
    assert_string_equal(r->caches[0].name, "shared");
    uint64_t look = r->caches[0].hits + r->caches[0].misses;
    assert_true(look > 0 && look <= total);
    assert_true(r->caches[0].hits > 0);
    assert_true(r->has_process);
    assert_true(r->process.rss_end > 0);
    assert_true(r->end_ns - r->start_ns >= 200000000ull);
    const hone_opt_zone_stat *z = NULL;
    for (size_t i = 0; i < r->nzones; i++)
        if (!strcmp(r->zones[i].name, "opt_test.fetch")) z = &r->zones[i];
    assert_non_null(z);
    assert_true(z->count > 0 && z->count <= total);
    assert_int_equal(z->total_ns, z->count * 5000);
    hone_opt_report_free(r, NULL);
    /* Nothing listens here any more: an error naming the URL. */
    hone_server_stop(srv);
    rc = hone_opt_report_fetch(&r, url, 0, NULL, &err);
    assert_true(rc != HONE_OK);
    assert_null(r);
    assert_non_null(strstr(err.msg, "127.0.0.1"));
    assert_int_equal(hone_opt_report_fetch(&r, "ftp://x", 0, NULL, &err), HONE_EINVAL);
    hone_prof_enable(0);
    hone_cache_free(c);
}

static int monitor_oom(const hone_allocator *a, void *ctx) {
    hone_cache *c = ctx;
    hone_opt_monitor *m;
    hone_opt_monitor_opts mo = {.alloc = a, .zones = 1, .process = 1};
    int rc = hone_opt_monitor_new(&m, &mo);
    if (rc) return rc;
    hone_error err;
    hone_opt_report *r = NULL;
    rc = hone_opt_watch_cache(m, "a", c);
    if (!rc) rc = hone_opt_watch_cache(m, "b", c);
    if (!rc) rc = hone_opt_monitor_begin(m, &err);
    if (!rc) {
        hone_prof_record(&work_site, 1000);
        rc = hone_opt_monitor_report(m, &r, &err);
    }
    if (!rc) {
        hone_buf b;
        hone_buf_init(&b, a);
        rc = hone_opt_report_format(r, &b, 1);
        hone_opt_report *p = NULL;
        if (!rc) rc = hone_opt_report_parse(&p, b.data, b.len, a, &err);
        if (!rc) rc = hone_opt_report_format(r, &b, 0);
        hone_opt_report_free(p, a);
        hone_buf_free(&b);
    }
    hone_opt_report_free(r, a);
    hone_opt_monitor_free(m);
    return rc;
}

static void test_oom(void **state) {
    (void)state;
    hone_cache *c;
    hone_cache_options co = {.max_entries = 10};
    assert_int_equal(hone_cache_new(&c, &co), HONE_OK);
    hone_prof_enable(1);
    assert_true(failalloc_loop("hone_opt_monitor", monitor_oom, c) > 3);
    hone_prof_enable(0);
    hone_cache_free(c);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_monitor_workload), cmocka_unit_test(test_json_round_trip),
    cmocka_unit_test(test_parse_errors),     cmocka_unit_test(test_fetch_from_server),
    cmocka_unit_test(test_oom),
};

HONE_TEST_MAIN(tests)
