/* test_tree.c - the zone tree, folded stacks and the trace: exact times
 * from an injected per-thread clock, parent/child counts and self times on
 * two threads, folded output parsed back, the JSON round trip, the bounded
 * ring dropping its oldest events, Chrome JSON checked with jansson, and
 * traced recording racing with snapshots. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* Each thread has its own fake time, moved only by the test: durations
 * are exact and never depend on the machine. */
static __thread uint64_t fake_now;
static uint64_t fake_clock(void *ctx) {
    (void)ctx;
    return fake_now;
}
static void advance(uint64_t ns) { fake_now += ns; }

static hone_prof_site s_outer = {"outer", "t.c", "f_outer", 10, HONE_LOG_WARN, 0, 0, 0, 0};
static hone_prof_site s_inner = {"inner", "t.c", "f_inner", 20, HONE_LOG_WARN, 0, 0, 0, 0};
static hone_prof_site s_leaf = {"leaf;odd", "t.c", "f_leaf", 30, HONE_LOG_WARN, 0, 0, 0, 0};
static hone_prof_site s_other = {"other", "u.c", "f_other", 40, HONE_LOG_WARN, 0, 0, 0, 0};

#define US 1000ull

static void zone(hone_prof_site *site, uint64_t before, void (*body)(void), uint64_t after) {
    hone_prof_scope z;
    hone_prof_begin(site, &z);
    advance(before);
    if (body) body();
    advance(after);
    hone_prof_end(&z);
}

static void inner5(void) { zone(&s_inner, 5 * US, NULL, 0); }
static void inner7(void) { zone(&s_inner, 7 * US, NULL, 0); }
static void leaf2(void) { zone(&s_leaf, 2 * US, NULL, 0); }
static void other3(void) { zone(&s_other, 3 * US, NULL, 0); }

/* outer: 10 us alone, inner 5 us, 1 us alone, inner 7 us, leaf 2 us:
 * total 25 us, self 11 us. */
static void outer_body(void) {
    inner5();
    advance(1 * US);
    inner7();
    leaf2();
}

enum { REPS_A = 6, REPS_B = 4 };

static void *thread_a(void *arg) {
    (void)arg;
    fake_now = 1000000;
    for (int i = 0; i < REPS_A; i++) zone(&s_outer, 10 * US, outer_body, 0);
    return NULL;
}

/* On the other thread: outer holding only `other` (3 us, outer's self 0),
 * and inner as an outermost zone (4 us). */
static void *thread_b(void *arg) {
    (void)arg;
    fake_now = 5000000;
    for (int i = 0; i < REPS_B; i++) {
        zone(&s_outer, 0, other3, 0);
        zone(&s_inner, 4 * US, NULL, 0);
    }
    return NULL;
}

static void use_fake_clock(size_t trace_events) {
    assert_int_equal(hone_prof_configure(&(hone_prof_config){.trace_events = trace_events,
                                                             .clock = fake_clock}),
                     HONE_OK);
}

static hone_prof_snapshot *snap(int reset) {
    hone_prof_snapshot *s = NULL;
    assert_int_equal(hone_prof_snapshot_take(&s, &(hone_prof_snapshot_opts){NULL, reset}), HONE_OK);
    return s;
}

/* The node named `name` whose parent is named `parent` (NULL: outermost). */
static const hone_prof_node *find_node(const hone_prof_snapshot *s, const char *parent, const char *name) {
    for (size_t i = 0; i < hone_prof_snapshot_node_count(s); i++) {
        const hone_prof_node *n = hone_prof_snapshot_node(s, i);
        if (strcmp(n->z.name, name)) continue;
        if (!parent && n->parent == HONE_PROF_NO_PARENT) return n;
        if (parent && n->parent != HONE_PROF_NO_PARENT &&
            !strcmp(hone_prof_snapshot_node(s, n->parent)->z.name, parent))
            return n;
    }
    return NULL;
}

static void run_two_threads(void) {
    pthread_t a, b;
    assert_int_equal(pthread_create(&a, NULL, thread_a, NULL), 0);
    assert_int_equal(pthread_create(&b, NULL, thread_b, NULL), 0);
    assert_int_equal(pthread_join(a, NULL), 0);
    assert_int_equal(pthread_join(b, NULL), 0);
}

static void check_tree(const hone_prof_snapshot *s) {
    const hone_prof_node *outer = find_node(s, NULL, "outer");
    const hone_prof_node *in_outer = find_node(s, "outer", "inner");
    const hone_prof_node *in_root = find_node(s, NULL, "inner");
    const hone_prof_node *leaf = find_node(s, "outer", "leaf;odd");
    const hone_prof_node *other = find_node(s, "outer", "other");
    assert_non_null(outer);
    assert_non_null(in_outer);
    assert_non_null(in_root);
    assert_non_null(leaf);
    assert_non_null(other);
    assert_int_equal(hone_prof_snapshot_node_count(s), 5);
    assert_int_equal(outer->depth, 0);
    assert_int_equal(in_outer->depth, 1);
    assert_string_equal(outer->z.file, "t.c");
    assert_int_equal(in_outer->z.line, 20);
    /* Threads merge by path. */
    assert_int_equal(outer->z.count, REPS_A + REPS_B);
    assert_int_equal(outer->z.total_ns, REPS_A * 25 * US + REPS_B * 3 * US);
    assert_int_equal(outer->z.self_ns, REPS_A * 11 * US);
    assert_int_equal(outer->z.min_ns, 3 * US);
    assert_int_equal(outer->z.max_ns, 25 * US);
    assert_int_equal(in_outer->z.count, 2 * REPS_A);
    assert_int_equal(in_outer->z.total_ns, REPS_A * 12 * US);
    assert_int_equal(in_outer->z.self_ns, REPS_A * 12 * US);
    assert_int_equal(in_outer->z.min_ns, 5 * US);
    assert_int_equal(in_outer->z.max_ns, 7 * US);
    /* Percentiles: the top of the value's bucket (two digits: within 1%),
     * never above the exact max. */
    assert_in_range(in_outer->z.p50_ns, 5 * US, 5 * US + 50);
    assert_int_equal(in_outer->z.p99_ns, 7 * US);
    assert_int_equal(in_root->z.count, REPS_B);
    assert_int_equal(in_root->z.self_ns, REPS_B * 4 * US);
    assert_int_equal(leaf->z.count, REPS_A);
    assert_int_equal(leaf->z.self_ns, REPS_A * 2 * US);
    assert_int_equal(other->z.count, REPS_B);
    assert_int_equal(other->z.total_ns, REPS_B * 3 * US);
    /* Every node comes after its parent. */
    for (size_t i = 0; i < hone_prof_snapshot_node_count(s); i++) {
        const hone_prof_node *n = hone_prof_snapshot_node(s, i);
        if (n->parent != HONE_PROF_NO_PARENT && n->parent >= i)
            fail_msg("node %zu (%s) has parent %zu, not before it", i, n->z.name, n->parent);
    }
}

static void test_tree_two_threads(void **state) {
    (void)state;
    use_fake_clock(0);
    hone_prof_enable(1);
    hone_prof_trace(0);
    hone_prof_reset();
    run_two_threads();
    hone_prof_snapshot *s = snap(0);
    check_tree(s);
    /* The flat zones stay what they were: the sums over their paths. */
    const hone_prof_zone *inner = hone_prof_snapshot_find(s, "inner");
    assert_non_null(inner);
    assert_int_equal(inner->count, 2 * REPS_A + REPS_B);
    assert_int_equal(inner->total_ns, REPS_A * 12 * US + REPS_B * 4 * US);
    assert_int_equal(inner->self_ns, inner->total_ns);
    assert_int_equal(inner->min_ns, 4 * US);
    assert_int_equal(inner->max_ns, 7 * US);
    const hone_prof_zone *outer = hone_prof_snapshot_find(s, "outer");
    assert_int_equal(outer->self_ns, REPS_A * 11 * US);
    assert_int_equal(hone_prof_snapshot_traced(s), 0);
    assert_int_equal(hone_prof_snapshot_thread_count(s), 0);

    /* The JSON keeps the tree, and reading it back gives the same tree. */
    hone_buf b;
    hone_buf_init(&b, NULL);
    assert_int_equal(hone_prof_snapshot_json(s, &b), HONE_OK);
    hone_prof_snapshot *back;
    hone_error err;
    if (hone_prof_snapshot_parse(&back, b.data, b.len, NULL, &err)) fail_msg("parse: %s", err.msg);
    check_tree(back);
    assert_int_equal(hone_prof_snapshot_count(back), hone_prof_snapshot_count(s));

    /* The tree report: indented two spaces a level. */
    hone_buf_clear(&b);
    assert_int_equal(hone_prof_report(back, &(hone_prof_report_opts){.format = HONE_REPORT_TREE}, &b), HONE_OK);
    if (!strstr(b.data, "\nouter ") || !strstr(b.data, "\n  inner ") || !strstr(b.data, "\ninner "))
        fail_msg("tree report:\n%s", b.data);
    /* outer (total 182 us) sorts before the outermost inner (16 us). */
    assert_true(strstr(b.data, "\nouter ") < strstr(b.data, "\ninner "));
    /* min_calls leaves out a node and its subtree. */
    hone_buf_clear(&b);
    assert_int_equal(hone_prof_report(back, &(hone_prof_report_opts){.format = HONE_REPORT_TREE, .min_calls = 5}, &b),
                     HONE_OK);
    if (strstr(b.data, "other") || strstr(b.data, "\ninner ") || !strstr(b.data, "  inner "))
        fail_msg("tree report with min_calls 5:\n%s", b.data);
    hone_prof_snapshot_free(back);
    hone_buf_free(&b);
    hone_prof_snapshot_free(s);
    hone_prof_reset();
}

/* Folded stacks parse back to the tree's paths and self times. */
static void test_folded_parsed_back(void **state) {
    (void)state;
    use_fake_clock(0);
    hone_prof_enable(1);
    hone_prof_reset();
    run_two_threads();
    hone_prof_snapshot *s = snap(1);
    hone_buf b;
    hone_buf_init(&b, NULL);
    assert_int_equal(hone_prof_report(s, &(hone_prof_report_opts){.format = HONE_REPORT_FOLDED}, &b), HONE_OK);
    struct {
        const char *stack;
        unsigned long long us;
        int seen;
    } want[] = {{"outer", REPS_A * 11, 0},
                {"outer;inner", REPS_A * 12, 0},
                {"outer;leaf_odd", REPS_A * 2, 0},
                {"outer;other", REPS_B * 3, 0},
                {"inner", REPS_B * 4, 0}};
    size_t nwant = sizeof want / sizeof *want, lines = 0;
    char *save, *copy = strdup(b.data);
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strrchr(line, ' ');
        if (!sp) fail_msg("folded line without a count: '%s'", line);
        *sp = 0;
        char *end;
        unsigned long long us = strtoull(sp + 1, &end, 10);
        if (*end) fail_msg("folded count '%s' is not an integer", sp + 1);
        lines++;
        size_t k = 0;
        while (k < nwant && strcmp(want[k].stack, line)) k++;
        if (k == nwant) fail_msg("unexpected folded stack '%s'", line);
        if (want[k].seen++) fail_msg("stack '%s' twice", line);
        if (us != want[k].us) fail_msg("stack '%s': %llu us, want %llu", line, us, want[k].us);
    }
    free(copy);
    assert_int_equal(lines, nwant);
    hone_buf_free(&b);
    hone_prof_snapshot_free(s);
}

/* ---- the trace ---- */

static hone_prof_site s_tick = {"tick", "t.c", "f_tick", 50, HONE_LOG_WARN, 0, 0, 0, 0};

static void *ticks(void *arg) {
    int n = (int)(intptr_t)arg;
    fake_now = 100;
    for (int i = 0; i < n; i++) zone(&s_tick, 10, NULL, 0);
    return NULL;
}

static void test_ring_drops_oldest(void **state) {
    (void)state;
    use_fake_clock(8);
    hone_prof_enable(1);
    hone_prof_trace(1);
    hone_prof_reset();
    /* A thread that exits: its ring is kept for the next snapshot. */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, ticks, (void *)(intptr_t)20), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    hone_prof_snapshot *s = snap(1);
    assert_int_equal(hone_prof_snapshot_traced(s), 1);
    assert_int_equal(hone_prof_snapshot_thread_count(s), 1);
    const hone_prof_thread *th = hone_prof_snapshot_thread(s, 0);
    assert_int_equal(th->n_events, 8);
    assert_int_equal(th->dropped, 12);
    assert_int_equal(hone_prof_snapshot_trace_dropped(s), 12);
    assert_true(th->tid > 0);
    /* The newest eight: zones 12..19, begun at 100 + 10 i. */
    for (size_t k = 0; k < 8; k++) {
        assert_int_equal(th->events[k].begin_ns, 100 + 10 * (12 + k));
        assert_int_equal(th->events[k].end_ns, 110 + 10 * (12 + k));
        assert_string_equal(hone_prof_snapshot_node(s, th->events[k].node)->z.name, "tick");
    }
    /* The flat figures count every call, dropped events or not. */
    assert_int_equal(hone_prof_snapshot_find(s, "tick")->count, 20);
    hone_prof_snapshot_free(s);
    /* The reset consumed that thread's events. */
    s = snap(1);
    assert_int_equal(hone_prof_snapshot_thread_count(s), 0);
    assert_int_equal(hone_prof_snapshot_trace_dropped(s), 0);
    hone_prof_snapshot_free(s);

    /* On a live thread (this one), memory stays put however many events. */
    fake_now = 0;
    for (int i = 0; i < 20; i++) zone(&s_tick, 10, NULL, 0);
    size_t mem = hone_prof_memory_size();
    for (int i = 0; i < 10000; i++) zone(&s_tick, 10, NULL, 0);
    assert_int_equal(hone_prof_memory_size(), mem);
    s = snap(1);
    th = hone_prof_snapshot_thread(s, 0);
    assert_non_null(th);
    assert_int_equal(th->n_events, 8);
    assert_int_equal(th->dropped, 10020 - 8);
    assert_int_equal(th->events[7].end_ns, 10020 * 10);
    hone_prof_snapshot_free(s);
    /* Three more after the reset: all there, none dropped. */
    for (int i = 0; i < 3; i++) zone(&s_tick, 10, NULL, 0);
    s = snap(1);
    th = hone_prof_snapshot_thread(s, 0);
    assert_non_null(th);
    assert_int_equal(th->n_events, 3);
    assert_int_equal(th->dropped, 0);
    hone_prof_snapshot_free(s);
    hone_prof_trace(0);
}

/* Checks a Chrome trace document: every X event has ts and dur >= 0, ts
 * never goes back on a thread, events on a thread nest, every thread with
 * events is named; returns the number of X events. */
static size_t check_chrome(const char *text, uint64_t want_dropped) {
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    if (!doc) fail_msg("chrome JSON: line %d: %s", jerr.line, jerr.text);
    json_t *evs = json_object_get(doc, "traceEvents");
    assert_true(json_is_array(evs));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "otherData"), "dropped_events")),
                     want_dropped);
    enum { MAXT = 16, DEPTH = 64 };
    json_int_t tids[MAXT];
    double last_ts[MAXT], stack_end[MAXT][DEPTH];
    int depth[MAXT], named[MAXT], nt = 0;
    size_t nx = 0, i;
    json_t *e;
    json_array_foreach(evs, i, e) {
        const char *ph = json_string_value(json_object_get(e, "ph"));
        json_t *tid = json_object_get(e, "tid");
        assert_non_null(ph);
        assert_true(json_is_integer(json_object_get(e, "pid")));
        assert_true(json_is_integer(tid));
        int k = 0;
        while (k < nt && tids[k] != json_integer_value(tid)) k++;
        if (k == nt) {
            assert_true(nt < MAXT);
            tids[nt] = json_integer_value(tid);
            last_ts[nt] = -1;
            depth[nt] = 0;
            named[nt++] = 0;
        }
        if (!strcmp(ph, "M")) {
            const char *what = json_string_value(json_object_get(e, "name"));
            const char *name = json_string_value(json_object_get(json_object_get(e, "args"), "name"));
            assert_non_null(name);
            if (!strcmp(what, "thread_name")) named[k] = 1;
            continue;
        }
        assert_string_equal(ph, "X");
        nx++;
        json_t *ts = json_object_get(e, "ts"), *dur = json_object_get(e, "dur");
        assert_true(json_is_number(ts) && json_is_number(dur));
        double t0 = json_number_value(ts), d = json_number_value(dur);
        if (d < 0) fail_msg("event %zu: dur %f", i, d);
        if (t0 < last_ts[k]) fail_msg("event %zu: ts %f before %f on tid %lld", i, t0, last_ts[k], (long long)tids[k]);
        last_ts[k] = t0;
        assert_non_null(json_string_value(json_object_get(e, "name")));
        /* Nesting: close what ended before this began, then it must end
         * within the zone still open. */
        while (depth[k] && stack_end[k][depth[k] - 1] <= t0 + 1e-9) depth[k]--;
        if (depth[k] && t0 + d > stack_end[k][depth[k] - 1] + 1e-9)
            fail_msg("event %zu overlaps its enclosing zone:\n%.3000s", i, text);
        assert_true(depth[k] < DEPTH);
        stack_end[k][depth[k]++] = t0 + d;
    }
    for (int k = 0; k < nt; k++)
        if (last_ts[k] >= 0 && !named[k]) fail_msg("tid %lld has events but no thread_name", (long long)tids[k]);
    json_decref(doc);
    return nx;
}

static void test_chrome_trace(void **state) {
    (void)state;
    use_fake_clock(1024);
    hone_prof_enable(1);
    hone_prof_trace(1);
    hone_prof_reset();
    run_two_threads();
    hone_prof_snapshot *s = snap(1);
    assert_int_equal(hone_prof_snapshot_thread_count(s), 2);
    /* A: 6 x (outer, 2 inner, leaf); B: 4 x (outer, other, inner). */
    size_t events = 0;
    for (size_t i = 0; i < 2; i++) events += hone_prof_snapshot_thread(s, i)->n_events;
    assert_int_equal(events, REPS_A * 4 + REPS_B * 3);
    hone_buf b;
    hone_buf_init(&b, NULL);
    assert_int_equal(hone_prof_report(s, &(hone_prof_report_opts){.format = HONE_REPORT_CHROME}, &b), HONE_OK);
    assert_int_equal(check_chrome(b.data, 0), REPS_A * 4 + REPS_B * 3);
    /* The first outer on thread A: begun at 1 ms of its clock, 25 us long. */
    if (!strstr(b.data, "\"name\":\"outer\",\"cat\":\"hone\",\"ph\":\"X\"") ||
        !strstr(b.data, "\"ts\":1000.000,\"dur\":25.000"))
        fail_msg("chrome trace:\n%.2000s", b.data);
    /* The profile JSON carries the trace, and the trace read back from it
     * gives the same Chrome document. */
    hone_buf j;
    hone_buf_init(&j, NULL);
    assert_int_equal(hone_prof_snapshot_json(s, &j), HONE_OK);
    hone_prof_snapshot *back;
    hone_error err;
    if (hone_prof_snapshot_parse(&back, j.data, j.len, NULL, &err)) fail_msg("parse: %s", err.msg);
    hone_buf b2;
    hone_buf_init(&b2, NULL);
    assert_int_equal(hone_prof_report(back, &(hone_prof_report_opts){.format = HONE_REPORT_CHROME}, &b2), HONE_OK);
    assert_string_equal(b2.data, b.data);
    hone_prof_snapshot_free(back);
    hone_buf_free(&b2);
    hone_buf_free(&j);
    hone_buf_free(&b);
    hone_prof_snapshot_free(s);

    /* A trace that lost events says how many. */
    use_fake_clock(8);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, ticks, (void *)(intptr_t)30), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    s = snap(1);
    hone_buf_init(&b, NULL);
    assert_int_equal(hone_prof_report(s, &(hone_prof_report_opts){.format = HONE_REPORT_CHROME}, &b), HONE_OK);
    assert_int_equal(check_chrome(b.data, 22), 8);
    hone_buf_free(&b);
    hone_prof_snapshot_free(s);
    hone_prof_trace(0);
}

/* Without a trace, CHROME is HONE_ENOTFOUND; a profile from before the tree
 * reads, with TREE and FOLDED HONE_ENOTFOUND and the flat formats as they
 * were; a bad tree or trace is named. */
static void test_old_and_bad_files(void **state) {
    (void)state;
    const char *old = "{\"format\": \"hone-profile\", \"version\": 1, \"wall_ns\": 100, \"zones\": [{\"name\": \"a\", "
                      "\"count\": 1, \"total_ns\": 5, \"self_ns\": 5, \"min_ns\": 5, \"max_ns\": 5, \"p50_ns\": 5, "
                      "\"p90_ns\": 5, \"p99_ns\": 5, \"p999_ns\": 5}]}";
    hone_prof_snapshot *s;
    hone_error err;
    assert_int_equal(hone_prof_snapshot_parse(&s, old, strlen(old), NULL, &err), HONE_OK);
    assert_int_equal(hone_prof_snapshot_node_count(s), 0);
    hone_buf b;
    hone_buf_init(&b, NULL);
    for (int f = HONE_REPORT_TREE; f <= HONE_REPORT_CHROME; f++)
        assert_int_equal(hone_prof_report(s, &(hone_prof_report_opts){.format = (hone_report_format)f}, &b),
                         HONE_ENOTFOUND);
    assert_int_equal(b.len, 0);
    for (int f = HONE_REPORT_TEXT; f <= HONE_REPORT_PROM; f++)
        assert_int_equal(hone_prof_report(s, &(hone_prof_report_opts){.format = (hone_report_format)f}, &b), HONE_OK);
    hone_buf_free(&b);
    hone_prof_snapshot_free(s);

    static const struct {
        const char *tail, *msg;
    } bad[] = {
        {"\"tree\": [{\"name\": \"a\", \"count\": 1, \"total_ns\": 5, \"self_ns\": 5, \"min_ns\": 5, \"max_ns\": 5, "
         "\"p50_ns\": 5, \"p90_ns\": 5, \"p99_ns\": 5, \"p999_ns\": 5, \"parent\": 0}]",
         "tree node 0: field 'parent'"},
        {"\"tree\": [{\"name\": \"a\"}]", "tree node 0: field 'count'"},
        {"\"tree\": [], \"trace\": {\"threads\": [{\"tid\": 1, \"events\": [[0, 1, 2]]}]}", "trace thread 0, event 0"},
        {"\"trace\": 5", "field 'trace'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char doc[1024];
        snprintf(doc, sizeof doc, "{\"format\": \"hone-profile\", \"version\": 1, \"zones\": [], %s}", bad[i].tail);
        s = NULL;
        assert_int_equal(hone_prof_snapshot_parse(&s, doc, strlen(doc), NULL, &err), HONE_ECORRUPT);
        assert_null(s);
        if (!strstr(err.msg, bad[i].msg)) fail_msg("error '%s' does not name '%s'", err.msg, bad[i].msg);
    }
}

/* ---- out of memory ---- */

static int snapshot_all_formats(const hone_allocator *a, void *ctx) {
    (void)ctx;
    hone_prof_snapshot *s;
    int rc = hone_prof_snapshot_take(&s, &(hone_prof_snapshot_opts){a, 0});
    if (rc) return rc;
    for (int f = HONE_REPORT_TEXT; f <= HONE_REPORT_CHROME && !rc; f++) {
        hone_buf b;
        hone_buf_init(&b, a);
        rc = hone_prof_report(s, &(hone_prof_report_opts){.format = (hone_report_format)f}, &b);
        hone_buf_free(&b);
    }
    hone_prof_snapshot_free(s);
    return rc;
}

static int parse_doc(const hone_allocator *a, void *ctx) {
    const char *doc = ctx;
    hone_prof_snapshot *s;
    hone_error err;
    int rc = hone_prof_snapshot_parse(&s, doc, strlen(doc), a, &err);
    hone_prof_snapshot_free(s);
    return rc;
}

static void test_oom(void **state) {
    (void)state;
    use_fake_clock(64);
    hone_prof_enable(1);
    hone_prof_trace(1);
    hone_prof_reset();
    run_two_threads();
    assert_true(failalloc_loop("snapshot with tree and trace, every format", snapshot_all_formats, NULL) > 0);
    hone_prof_snapshot *s = snap(1);
    hone_buf b;
    hone_buf_init(&b, NULL);
    assert_int_equal(hone_prof_snapshot_json(s, &b), HONE_OK);
    hone_prof_snapshot_free(s);
    assert_true(failalloc_loop("parse with tree and trace", parse_doc, b.data) > 0);
    hone_buf_free(&b);
    hone_prof_trace(0);
}

/* ---- traced recording racing with snapshots (run under TSan) ---- */

enum { RACE_THREADS = 3 };
static int race_zones;
static hone_prof_site s_race = {"race", "t.c", "f_race", 60, HONE_LOG_WARN, 0, 0, 0, 0};
static hone_prof_site s_race_in = {"race_in", "t.c", "f_race", 61, HONE_LOG_WARN, 0, 0, 0, 0};

static void race_inner(void) { zone(&s_race_in, 1, NULL, 0); }

static void *racer(void *arg) {
    (void)arg;
    fake_now = 1;
    for (int i = 0; i < race_zones; i++) zone(&s_race, 1, race_inner, 1);
    return NULL;
}

static void test_trace_races_snapshots(void **state) {
    (void)state;
    race_zones = 20000;
    use_fake_clock(256);
    hone_prof_enable(1);
    hone_prof_trace(1);
    hone_prof_reset();
    pthread_t t[RACE_THREADS];
    for (int i = 0; i < RACE_THREADS; i++) assert_int_equal(pthread_create(&t[i], NULL, racer, NULL), 0);
    uint64_t seen = 0, lost = 0, calls = 0;
    for (int round = 0; round < 201; round++) {
        if (round == 200)
            for (int i = 0; i < RACE_THREADS; i++) pthread_join(t[i], NULL);
        hone_prof_snapshot *s = snap(1);
        uint64_t lost_here = 0;
        for (size_t i = 0; i < hone_prof_snapshot_thread_count(s); i++) {
            const hone_prof_thread *th = hone_prof_snapshot_thread(s, i);
            lost_here += th->dropped;
            for (size_t k = 0; k < th->n_events; k++) {
                const hone_prof_event *e = &th->events[k];
                if (e->end_ns < e->begin_ns || e->node >= hone_prof_snapshot_node_count(s))
                    fail_msg("bad event [%llu, %llu] node %zu", (unsigned long long)e->begin_ns,
                             (unsigned long long)e->end_ns, e->node);
                if (k && e->begin_ns < th->events[k - 1].begin_ns) fail_msg("events out of order");
            }
            seen += th->n_events;
            lost += th->dropped;
        }
        /* No ring failed to allocate and none was freed: every lost event
         * is one a thread's ring overwrote. */
        assert_int_equal(hone_prof_snapshot_trace_dropped(s), lost_here);
        const hone_prof_zone *a = hone_prof_snapshot_find(s, "race"), *b = hone_prof_snapshot_find(s, "race_in");
        calls += (a ? a->count : 0) + (b ? b->count : 0);
        hone_prof_snapshot_free(s);
    }
    /* Every zone that ended is, in exactly one snapshot, an event or a
     * dropped event; and counted once in the flat figures. */
    assert_int_equal(calls, (uint64_t)2 * RACE_THREADS * race_zones);
    assert_int_equal(seen + lost, (uint64_t)2 * RACE_THREADS * race_zones);
    hone_prof_trace(0);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_two_threads), cmocka_unit_test(test_folded_parsed_back),
        cmocka_unit_test(test_ring_drops_oldest), cmocka_unit_test(test_chrome_trace),
        cmocka_unit_test(test_old_and_bad_files), cmocka_unit_test(test_oom),
        cmocka_unit_test(test_trace_races_snapshots),
};
HONE_TEST_MAIN(tests)
