/* test_zone.c - zones: statistics, nesting, the run-time switch, slow-call
 * logging, snapshot+reset under concurrent recording, bounded memory. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static hone_prof_snapshot *snap(int reset) {
    hone_prof_snapshot *s = NULL;
    assert_int_equal(hone_prof_snapshot_take(&s, &(hone_prof_snapshot_opts){NULL, reset}), HONE_OK);
    return s;
}

static void test_record_stats(void **state) {
    (void)state;
    static hone_prof_site site = {"stats", __FILE__, "f", 1, HONE_LOG_WARN, 0, 0, 0, 0};
    hone_prof_enable(1);
    hone_prof_reset();
    for (uint64_t v = 1; v <= 1000; v++) hone_prof_record(&site, v * 1000);
    hone_prof_snapshot *s = snap(1);
    const hone_prof_zone *z = hone_prof_snapshot_find(s, "stats");
    assert_non_null(z);
    assert_int_equal(z->count, 1000);
    assert_int_equal(z->total_ns, 500500000);
    assert_int_equal(z->self_ns, 500500000);
    assert_int_equal(z->min_ns, 1000);
    assert_int_equal(z->max_ns, 1000000);
    assert_true(z->mean_ns > 500499 && z->mean_ns < 500501);
    assert_true(z->std_ns > 288600 && z->std_ns < 288700);
    /* Two significant digits: within 1% above the exact value. */
    assert_true(z->p50_ns >= 500000 && z->p50_ns <= 505000);
    assert_true(z->p90_ns >= 900000 && z->p90_ns <= 909000);
    assert_true(z->p99_ns >= 990000 && z->p99_ns <= 1000000);
    assert_true(z->p999_ns >= 999000 && z->p999_ns <= 1000000);
    assert_string_equal(z->func, "f");
    hone_prof_snapshot_free(s);
    /* The reset started a new interval: the zone is gone from it. */
    s = snap(0);
    assert_null(hone_prof_snapshot_find(s, "stats"));
    hone_prof_snapshot_free(s);
}

static volatile uint64_t sink;
static void spin(int n) {
    for (int i = 0; i < n; i++) sink += (uint64_t)i;
}

static void inner_fn(void) {
    HONE_ZONE("inner");
    spin(2000);
}

static void outer_fn(void) {
    HONE_ZONE("outer");
    spin(1000);
    inner_fn();
    inner_fn();
}

static void test_nesting_self_time(void **state) {
    (void)state;
    hone_prof_enable(1);
    hone_prof_reset();
    for (int i = 0; i < 50; i++) outer_fn();
    hone_prof_snapshot *s = snap(1);
    const hone_prof_zone *o = hone_prof_snapshot_find(s, "outer"), *in = hone_prof_snapshot_find(s, "inner");
    assert_non_null(o);
    assert_non_null(in);
    assert_int_equal(o->count, 50);
    assert_int_equal(in->count, 100);
    assert_int_equal(in->self_ns, in->total_ns);
    assert_true(o->total_ns >= in->total_ns);
    /* Outer's self time is its inclusive time minus the inner calls, up to
     * the rounding of one nanosecond per conversion. */
    uint64_t want = o->total_ns - in->total_ns;
    uint64_t diff = o->self_ns > want ? o->self_ns - want : want - o->self_ns;
    if (diff > 3 * 150) fail_msg("outer self %llu, total-inner %llu", (unsigned long long)o->self_ns,
                                (unsigned long long)want);
    assert_true(strstr(o->file, "test_zone.c") != NULL);
    assert_string_equal(o->func, "outer_fn");
    assert_true(o->line > 0);
    hone_prof_snapshot_free(s);
}

static void explicit_zone(void) {
    HONE_ZONE_BEGIN(z1, "explicit");
    spin(10);
    HONE_ZONE_END(z1);
}

static void test_switch_off(void **state) {
    (void)state;
    hone_prof_enable(1);
    hone_prof_reset();
    hone_prof_enable(0);
    assert_int_equal(hone_prof_enabled(), 0);
    for (int i = 0; i < 10; i++) {
        outer_fn();
        explicit_zone();
    }
    hone_prof_snapshot *s = snap(1);
    assert_null(hone_prof_snapshot_find(s, "outer"));
    assert_null(hone_prof_snapshot_find(s, "explicit"));
    hone_prof_snapshot_free(s);
    hone_prof_enable(1);
    for (int i = 0; i < 10; i++) explicit_zone();
    s = snap(1);
    assert_non_null(hone_prof_snapshot_find(s, "explicit"));
    assert_int_equal(hone_prof_snapshot_find(s, "explicit")->count, 10);
    hone_prof_snapshot_free(s);
}

/* ---- slow calls ---- */

static int slow_lines;
static char slow_last[512];
static void capture(void *ctx, hone_log_level level, const char *module, const char *msg) {
    (void)ctx;
    if (level == HONE_LOG_INFO && !strcmp(module, "prof")) {
        slow_lines++;
        snprintf(slow_last, sizeof slow_last, "%s", msg);
    }
}

static void test_slow_calls_rate_limited(void **state) {
    (void)state;
    static hone_prof_site site = {"slowpoke", "x.c", "f", 7, HONE_LOG_INFO, 1000000, 0, 0, 0};
    hone_prof_enable(1);
    hone_log_set_sink(capture, NULL);
    hone_log_set_level(HONE_LOG_INFO);
    slow_lines = 0;
    hone_prof_record(&site, 999999); /* under the threshold */
    assert_int_equal(slow_lines, 0);
    uint64_t t0 = hone_monotonic_ns();
    for (int i = 0; i < 100000; i++) hone_prof_record(&site, 2000000);
    double secs = (double)(hone_monotonic_ns() - t0) / 1e9;
    hone_log_set_sink(NULL, NULL);
    hone_log_set_level(HONE_LOG_WARN);
    /* One line per second at most, however many slow calls. */
    assert_true(slow_lines >= 1);
    if (slow_lines > 1 + (int)secs + 1) fail_msg("%d lines in %.2f s", slow_lines, secs);
    assert_non_null(strstr(slow_last, "slowpoke"));
    assert_non_null(strstr(slow_last, "x.c:7"));
    hone_prof_reset();
}

/* ---- threads ---- */

enum { N_THREADS = 4 };
static hone_prof_site thr_site = {"threaded", __FILE__, "worker", 1, HONE_LOG_WARN, 0, 0, 0, 0};
static int n_records;

static void *worker(void *arg) {
    uint64_t v = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < n_records; i++) hone_prof_record(&thr_site, v);
    return NULL;
}

static void test_snapshot_reset_concurrent(void **state) {
    (void)state;
    n_records = SANITIZED ? 20000 : 200000;
    hone_prof_enable(1);
    hone_prof_reset();
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)((i + 1) * 100)), 0);
    uint64_t count = 0, total = 0;
    int snaps = 0;
    /* Snapshot and reset while the workers record; some workers also exit
     * while this runs, so their retired data must be picked up too. */
    for (int k = 0; k < 200; k++) {
        hone_prof_snapshot *s = snap(1);
        const hone_prof_zone *z = hone_prof_snapshot_find(s, "threaded");
        if (z) {
            count += z->count;
            total += z->total_ns;
            /* A record racing with the reset may leave only its histogram
             * bucket to bound min and max: 400 shares a bucket with 401.
             * An interval with no records (the workers may all be done
             * before the 200 snapshots are) has no min or max: 0 and 0. */
            if (z->count && (z->min_ns < 100 || z->max_ns > 401))
                fail_msg("min %llu max %llu, want within [100, 401]", (unsigned long long)z->min_ns,
                         (unsigned long long)z->max_ns);
        }
        snaps++;
        hone_prof_snapshot_free(s);
    }
    for (int i = 0; i < N_THREADS; i++) pthread_join(t[i], NULL);
    hone_prof_snapshot *s = snap(1);
    const hone_prof_zone *z = hone_prof_snapshot_find(s, "threaded");
    if (z) {
        count += z->count;
        total += z->total_ns;
    }
    hone_prof_snapshot_free(s);
    uint64_t want_total = (uint64_t)n_records * (100 + 200 + 300 + 400);
    assert_int_equal(count, (uint64_t)n_records * N_THREADS);
    assert_int_equal(total, want_total);
    assert_int_equal(hone_prof_dropped(), 0);
}

static void test_exited_threads_kept(void **state) {
    (void)state;
    n_records = 1000;
    hone_prof_enable(1);
    hone_prof_reset();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, worker, (void *)(uintptr_t)250), 0);
    pthread_join(t, NULL);
    hone_prof_snapshot *s = snap(0);
    const hone_prof_zone *z = hone_prof_snapshot_find(s, "threaded");
    assert_non_null(z);
    assert_int_equal(z->count, 1000);
    assert_int_equal(z->min_ns, 250);
    assert_int_equal(z->max_ns, 250);
    assert_int_equal(z->p99_ns, 250);
    hone_prof_snapshot_free(s);
    hone_prof_reset();
}

/* ---- memory ---- */

static long rss_pages(void) {
    long size = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &size, &rss) != 2) rss = -1;
    fclose(f);
    return rss;
}

static void test_memory_bounded(void **state) {
    (void)state;
    static hone_prof_site site = {"many", __FILE__, "f", 1, HONE_LOG_WARN, 0, 0, 0, 0};
    hone_prof_enable(1);
    /* Warm up: touch every histogram block the loop below will use. */
    uint64_t v = 1;
    for (int i = 0; i < 100000; i++) {
        hone_prof_record(&site, v % 3600000000000ull);
        v = v * 6364136223846793005ull + 1442695040888963407ull;
    }
    long before = rss_pages();
    long n = SANITIZED ? 1000000 : 10000000;
    for (long i = 0; i < n; i++) {
        hone_prof_record(&site, v % 3600000000000ull);
        v = v * 6364136223846793005ull + 1442695040888963407ull;
        if (i % 1000 == 0) outer_fn();
    }
    long after = rss_pages();
    long grown = (after - before) * sysconf(_SC_PAGESIZE);
    /* An event buffer would need at least 16 bytes a record (16 MB for a
     * million); the sanitizers' own bookkeeping grows a little. */
    long limit = SANITIZED ? 2 * 1024 * 1024 : 256 * 1024;
    if (grown > limit) fail_msg("RSS grew by %ld bytes over %ld records (limit %ld)", grown, n, limit);
    hone_prof_snapshot *s = snap(1);
    assert_int_equal(hone_prof_snapshot_find(s, "many")->count, (uint64_t)n + 100000);
    hone_prof_snapshot_free(s);
}

static hone_prof_site pend_site = {"pending", __FILE__, "f", 1, HONE_LOG_WARN, 0, 0, 0, 0};

static void *record_one(void *arg) {
    hone_prof_record(&pend_site, (uint64_t)(uintptr_t)arg);
    return NULL;
}

/* The latest record of a zone on a thread reaches its histogram counter
 * only with the thread's next record of that zone (zone.c explains why).
 * Snapshots must still count it exactly once: now, not again later, and
 * not lose it when the thread exits. */
static void test_histogram_latest_record_exact(void **state) {
    (void)state;
    hone_prof_enable(1);
    hone_prof_reset();
    hone_prof_record(&pend_site, 100);
    hone_prof_snapshot *s = snap(0);
    const hone_prof_zone *z = hone_prof_snapshot_find(s, "pending");
    assert_non_null(z);
    assert_int_equal(z->count, 1);
    assert_int_equal(z->p50_ns, 100);
    assert_int_equal(z->p999_ns, 100);
    hone_prof_snapshot_free(s);
    s = snap(1);
    z = hone_prof_snapshot_find(s, "pending");
    assert_non_null(z);
    assert_int_equal(z->p50_ns, 100);
    hone_prof_snapshot_free(s);
    /* This record moves the 100 into its counter; the 100 belongs to the
     * previous interval and must not show again. */
    hone_prof_record(&pend_site, 5000);
    s = snap(1);
    z = hone_prof_snapshot_find(s, "pending");
    assert_non_null(z);
    assert_int_equal(z->count, 1);
    assert_int_equal(z->p50_ns, 5000);
    assert_int_equal(z->min_ns, 5000);
    hone_prof_snapshot_free(s);
    /* A thread that records once and exits keeps its record. */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, record_one, (void *)(uintptr_t)777), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    s = snap(1);
    z = hone_prof_snapshot_find(s, "pending");
    assert_non_null(z);
    assert_int_equal(z->count, 1);
    assert_int_equal(z->p50_ns, 777);
    assert_int_equal(z->max_ns, 777);
    hone_prof_snapshot_free(s);
}

static void test_configure(void **state) {
    (void)state;
    assert_int_equal(hone_prof_configure(&(hone_prof_config){.significant_digits = 4}), HONE_EINVAL);
    /* Sites have registered: the histogram shape is fixed now. */
    assert_int_equal(hone_prof_configure(&(hone_prof_config){.significant_digits = 3}), HONE_ESTATE);
    assert_int_equal(hone_prof_configure(&(hone_prof_config){.significant_digits = 2}), HONE_OK);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_stats),
        cmocka_unit_test(test_nesting_self_time),
        cmocka_unit_test(test_switch_off),
        cmocka_unit_test(test_slow_calls_rate_limited),
        cmocka_unit_test(test_snapshot_reset_concurrent),
        cmocka_unit_test(test_exited_threads_kept),
        cmocka_unit_test(test_memory_bounded),
        cmocka_unit_test(test_histogram_latest_record_exact),
        cmocka_unit_test(test_configure),
};
HONE_TEST_MAIN(tests)
