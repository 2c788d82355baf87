/* test_tune.c - continuous mode on a simulated workload whose best setting
 * is known: it converges, reverts a harmful step, never touches an explicit
 * setting, respects the hold time, keeps nothing on pure noise, and its
 * journal replays and undoes. */
#include "test.h"
#include "tmpdir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hone/opt.h"

/* The workload: throughput as a concave function of log2(batch.size),
 * peaking at 2^peak_log2, plus seeded Gaussian noise. */
typedef struct workload {
    double peak_log2; /* NAN: no effect at all (pure noise) */
    double height, curvature, noise_sd;
    uint64_t rng;
    long calls;
} workload;

static double uniform(uint64_t *s) {
    /* splitmix64: a seeded, portable sequence. */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static double gaussian(uint64_t *s) {
    double u1 = uniform(s), u2 = uniform(s);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static int measure(void *ctx, double *value) {
    workload *w = ctx;
    w->calls++;
    double x = log2((double)hone_setting_u64(HONE_SET_BATCH_SIZE, NULL));
    double f = isnan(w->peak_log2) ? w->height
                                   : w->height - w->curvature * (x - w->peak_log2) * (x - w->peak_log2);
    *value = f + w->noise_sd * gaussian(&w->rng);
    return HONE_OK;
}

static uint64_t fake_now;
static uint64_t fake_clock(void *ctx) {
    (void)ctx;
    return fake_now;
}

#define HOLD_NS 10000000000ull /* 10 s */
#define TICK_NS 1000000000ull  /* the program ticks every second */
#define MAX_TICKS 400

typedef struct run_log {
    int n[HONE_TUNE_DONE + 1];
    uint64_t change_at[64];
    int nchanges;
    int ticks;
    int last_action;
} run_log;

static void clean_settings(void) {
    hone_settings_clear(HONE_ORIGIN_AUTO);
    hone_settings_clear(HONE_ORIGIN_API);
    unsetenv("HONE_BATCH_SIZE");
}

static hone_opt_knob batch_knob = {HONE_SET_BATCH_SIZE, NULL, 1, 4096, 2.0};

static void make_tuner(hone_opt_tuner **t, workload *w, const char *journal) {
    hone_opt_tuner_opts o = {
        .knobs = &batch_knob, .nknobs = 1, .measure = measure, .ctx = w, .samples = 5,
        .hold_ns = HOLD_NS, .journal = journal, .clock = fake_clock,
    };
    hone_error err = {0};
    int rc = hone_opt_tuner_new(t, &o, &err);
    if (rc) fail_msg("hone_opt_tuner_new: %s (%s)", hone_status_name(rc), err.msg);
}

/* Ticks until DONE (bounded), logging every action; verbose prints them. */
static void run_to_done(hone_opt_tuner *t, run_log *lg, int verbose) {
    memset(lg, 0, sizeof *lg);
    for (lg->ticks = 0; lg->ticks < MAX_TICKS; lg->ticks++) {
        fake_now += TICK_NS;
        hone_opt_tuner_event ev;
        hone_error err = {0};
        int rc = hone_opt_tuner_tick(t, &ev, &err);
        if (rc) fail_msg("tick %d: %s (%s)", lg->ticks, hone_status_name(rc), err.msg);
        lg->n[ev.action]++;
        lg->last_action = ev.action;
        if (ev.action == HONE_TUNE_STEPPED || ev.action == HONE_TUNE_REVERTED)
            if (lg->nchanges < 64) lg->change_at[lg->nchanges++] = fake_now;
        if (verbose && ev.action != HONE_TUNE_WAIT)
            printf("  t=%3llus %-8s %s -> %s  %s\n", (unsigned long long)(fake_now / TICK_NS),
                   hone_opt_tuner_action_name(ev.action), ev.before, ev.after, ev.evidence);
        if (ev.action == HONE_TUNE_DONE) return;
    }
    fail_msg("the tuner was not DONE after %d ticks", MAX_TICKS);
}

static void expect_setting(int id, uint64_t value, int origin, const char *where) {
    hone_setting_state st;
    hone_error err = {0};
    assert_int_equal(hone_setting_get(id, NULL, &st, &err), HONE_OK);
    if (st.value.u != value || st.origin != origin || (where && strcmp(st.where, where)))
        fail_msg("setting %s: expected %llu from %s (%s), got %llu (\"%s\") from %s (%s)",
                 hone_setting_info_get(id)->name, (unsigned long long)value,
                 hone_origin_name(origin), where ? where : "*", (unsigned long long)st.value.u,
                 st.value.text, hone_origin_name(st.origin), st.where);
}

/* Counts lines of the journal containing `needle`. */
static int count_lines(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle)) n++;
    fclose(f);
    return n;
}

typedef struct fixture {
    char dir[256], journal[320];
} fixture;

static void fixture_open(fixture *fx) {
    assert_int_equal(hone_test_tmpdir(fx->dir, sizeof fx->dir, "tune"), 0);
    snprintf(fx->journal, sizeof fx->journal, "%s/state/hone/journal.jsonl", fx->dir);
    clean_settings();
}

static void fixture_close(fixture *fx) {
    clean_settings();
    hone_test_rmtree(fx->dir);
}

static workload peaked(double peak_log2, uint64_t seed) {
    return (workload){.peak_log2 = peak_log2, .height = 1000, .curvature = 100, .noise_sd = 20,
                      .rng = seed};
}

/* From the default 64 the tuner climbs to the known best, 256, keeps it in
 * the auto layer with its journal line as where, and stops. */
static void converges_to_best(void **state) {
    fixture fx;
    fixture_open(&fx);
    expect_setting(HONE_SET_BATCH_SIZE, 64, HONE_ORIGIN_DEFAULT, NULL);
    workload w = peaked(8, 1);
    hone_opt_tuner *t;
    make_tuner(&t, &w, fx.journal);
    run_log lg;
    run_to_done(t, &lg, 1);
    printf("  converged in %d ticks: %d kept, %d reverted, %ld measurements\n", lg.ticks,
           lg.n[HONE_TUNE_KEPT], lg.n[HONE_TUNE_REVERTED], w.calls);
    assert_int_equal(lg.n[HONE_TUNE_KEPT], 2); /* 64 -> 128 -> 256 */
    assert_true(lg.n[HONE_TUNE_REVERTED] >= 1); /* 512 was tried and lost */
    char where[32];
    snprintf(where, sizeof where, "journal #%d", 2);
    /* Lines: #1 kept 64->128, #2 kept 128->256, #3 reverted 256->512. */
    expect_setting(HONE_SET_BATCH_SIZE, 256, HONE_ORIGIN_AUTO, where);
    assert_int_equal(count_lines(fx.journal, "\"outcome\":\"kept\""), 2);
    assert_int_equal(count_lines(fx.journal, "\"outcome\":\"reverted\""), lg.n[HONE_TUNE_REVERTED]);
    /* Done stays done: no further change. */
    hone_opt_tuner_event ev;
    fake_now += 100 * HOLD_NS;
    assert_int_equal(hone_opt_tuner_tick(t, &ev, NULL), HONE_OK);
    assert_int_equal(ev.action, HONE_TUNE_DONE);
    hone_opt_tuner_free(t);
    fixture_close(&fx);
}

/* Started at the optimum, both directions are harmful: each is reverted,
 * journalled as such, and the value stays where it was (no auto value). */
static void harmful_step_reverted(void **state) {
    fixture fx;
    fixture_open(&fx);
    workload w = peaked(6, 2); /* the best is the default, 64 */
    hone_opt_tuner *t;
    make_tuner(&t, &w, fx.journal);
    run_log lg;
    run_to_done(t, &lg, 1);
    assert_int_equal(lg.n[HONE_TUNE_KEPT], 0);
    assert_int_equal(lg.n[HONE_TUNE_REVERTED], 2);
    expect_setting(HONE_SET_BATCH_SIZE, 64, HONE_ORIGIN_DEFAULT, NULL);
    assert_int_equal(count_lines(fx.journal, "\"outcome\":\"reverted\""), 2);
    assert_int_equal(count_lines(fx.journal, "\"before\":\"64\",\"after\":\"128\""), 1);
    assert_int_equal(count_lines(fx.journal, "\"before\":\"64\",\"after\":\"32\""), 1);
    hone_opt_tuner_free(t);
    fixture_close(&fx);
}

/* Also from a value the auto layer holds: a revert puts that value (and
 * its where) back rather than removing it. */
static void revert_restores_auto_value(void **state) {
    fixture fx;
    fixture_open(&fx);
    assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_AUTO, "256",
                                      "journal #99", NULL), HONE_OK);
    workload w = peaked(8, 3);
    hone_opt_tuner *t;
    make_tuner(&t, &w, fx.journal);
    run_log lg;
    run_to_done(t, &lg, 0);
    assert_int_equal(lg.n[HONE_TUNE_KEPT], 0);
    assert_int_equal(lg.n[HONE_TUNE_REVERTED], 2);
    expect_setting(HONE_SET_BATCH_SIZE, 256, HONE_ORIGIN_AUTO, "journal #99");
    assert_int_equal(count_lines(fx.journal, "\"before_origin\":\"auto\""), 2);
    hone_opt_tuner_free(t);
    fixture_close(&fx);
}

/* An explicit setting (api layer, or the environment) is never changed:
 * SKIPPED once, journalled once, value untouched, no measurement spent. */
static void explicit_never_touched(void **state) {
    for (int how = 0; how < 2; how++) {
        fixture fx;
        fixture_open(&fx);
        if (how == 0)
            assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_API, "32",
                                              "test api", NULL), HONE_OK);
        else
            setenv("HONE_BATCH_SIZE", "32", 1);
        workload w = peaked(8, 4);
        hone_opt_tuner *t;
        make_tuner(&t, &w, fx.journal);
        run_log lg;
        run_to_done(t, &lg, 1);
        for (int i = 0; i < 20; i++) {
            fake_now += HOLD_NS;
            hone_opt_tuner_event ev;
            assert_int_equal(hone_opt_tuner_tick(t, &ev, NULL), HONE_OK);
            lg.n[ev.action]++;
        }
        assert_int_equal(lg.n[HONE_TUNE_SKIPPED], 1);
        assert_int_equal(lg.n[HONE_TUNE_STEPPED], 0);
        expect_setting(HONE_SET_BATCH_SIZE, 32, how == 0 ? HONE_ORIGIN_API : HONE_ORIGIN_ENV,
                       NULL);
        assert_int_equal(count_lines(fx.journal, "\"outcome\":\"skipped\""), 1);
        assert_int_equal(count_lines(fx.journal, how == 0 ? "\"before_origin\":\"api\""
                                                          : "\"before_origin\":\"env\""), 1);
        /* Only the baseline was measured. */
        assert_int_equal(w.calls, 5);
        hone_opt_tuner_free(t);
        fixture_close(&fx);
    }
}

/* A user who sets the knob while a trial holds wins: the trial value goes,
 * nothing is judged or kept. */
static void explicit_during_trial(void **state) {
    fixture fx;
    fixture_open(&fx);
    workload w = peaked(8, 5);
    hone_opt_tuner *t;
    make_tuner(&t, &w, fx.journal);
    hone_opt_tuner_event ev;
    fake_now += HOLD_NS;
    assert_int_equal(hone_opt_tuner_tick(t, &ev, NULL), HONE_OK);
    assert_int_equal(ev.action, HONE_TUNE_MEASURED);
    assert_int_equal(hone_opt_tuner_tick(t, &ev, NULL), HONE_OK);
    assert_int_equal(ev.action, HONE_TUNE_STEPPED);
    expect_setting(HONE_SET_BATCH_SIZE, 128, HONE_ORIGIN_AUTO, NULL);
    assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_API, "16", NULL,
                                      NULL), HONE_OK);
    fake_now += HOLD_NS;
    assert_int_equal(hone_opt_tuner_tick(t, &ev, NULL), HONE_OK);
    assert_int_equal(ev.action, HONE_TUNE_SKIPPED);
    hone_setting_unset(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_API);
    expect_setting(HONE_SET_BATCH_SIZE, 64, HONE_ORIGIN_DEFAULT, NULL);
    assert_int_equal(count_lines(fx.journal, "\"outcome\":\"kept\""), 0);
    hone_opt_tuner_free(t);
    fixture_close(&fx);
}

/* No two changes (a step, a revert) closer than hold_ns on the clock, and
 * the tuner waits in between. */
static void hold_time_respected(void **state) {
    fixture fx;
    fixture_open(&fx);
    workload w = peaked(10, 6); /* best at 1024: several steps */
    hone_opt_tuner *t;
    make_tuner(&t, &w, fx.journal);
    run_log lg;
    run_to_done(t, &lg, 0);
    assert_true(lg.nchanges >= 4);
    assert_true(lg.n[HONE_TUNE_WAIT] > 0);
    for (int i = 1; i < lg.nchanges; i++)
        if (lg.change_at[i] - lg.change_at[i - 1] < HOLD_NS)
            fail_msg("changes %d and %d are %llu ns apart, hold is %llu ns", i - 1, i,
                     (unsigned long long)(lg.change_at[i] - lg.change_at[i - 1]),
                     (unsigned long long)HOLD_NS);
    expect_setting(HONE_SET_BATCH_SIZE, 1024, HONE_ORIGIN_AUTO, NULL);
    hone_opt_tuner_free(t);
    fixture_close(&fx);
}

/* Pure noise, no real effect: over many seeds hardly any change is kept
 * (each trial has about a 2.3 % chance of a z > 2 fluke; min_gain adds to
 * the margin). */
static void noise_keeps_nothing(void **state) {
    int kept = 0, trials = 0;
    for (uint64_t seed = 1; seed <= 100; seed++) {
        clean_settings();
        workload w = {.peak_log2 = NAN, .height = 1000, .noise_sd = 50, .rng = seed * 7919};
        hone_opt_tuner *t;
        make_tuner(&t, &w, NULL); /* memory only (HONE_CONFIG=off: no default journal) */
        run_log lg;
        run_to_done(t, &lg, 0);
        kept += lg.n[HONE_TUNE_KEPT];
        trials += lg.n[HONE_TUNE_KEPT] + lg.n[HONE_TUNE_REVERTED];
        hone_opt_tuner_free(t);
    }
    printf("  pure noise, 100 seeds: %d of %d trials kept (%.1f%%)\n", kept, trials,
           100.0 * kept / trials);
    if (kept > trials / 20)
        fail_msg("%d of %d trials kept on pure noise; at most %d expected", kept, trials,
                 trials / 20);
    clean_settings();
}

/* The journal replays into a fresh auto layer and undoes, step by step. */
static void journal_replays_and_undoes(void **state) {
    fixture fx;
    fixture_open(&fx);
    workload w = peaked(8, 1);
    hone_opt_tuner *t;
    make_tuner(&t, &w, fx.journal);
    run_log lg;
    run_to_done(t, &lg, 0);
    hone_opt_tuner_free(t);
    expect_setting(HONE_SET_BATCH_SIZE, 256, HONE_ORIGIN_AUTO, "journal #2");

    hone_settings_clear(HONE_ORIGIN_AUTO);
    expect_setting(HONE_SET_BATCH_SIZE, 64, HONE_ORIGIN_DEFAULT, NULL);
    hone_error err = {0};
    assert_int_equal(hone_opt_journal_replay(fx.journal, &err), HONE_OK);
    expect_setting(HONE_SET_BATCH_SIZE, 256, HONE_ORIGIN_AUTO, "journal #2");

    char what[256];
    assert_int_equal(hone_opt_journal_undo(fx.journal, what, sizeof what, &err), HONE_OK);
    printf("  %s\n", what);
    assert_non_null(strstr(what, "256 -> 128"));
    expect_setting(HONE_SET_BATCH_SIZE, 128, HONE_ORIGIN_AUTO, "journal #1");
    assert_int_equal(hone_opt_journal_undo(fx.journal, what, sizeof what, &err), HONE_OK);
    printf("  %s\n", what);
    expect_setting(HONE_SET_BATCH_SIZE, 64, HONE_ORIGIN_DEFAULT, NULL);
    int rc = hone_opt_journal_undo(fx.journal, what, sizeof what, &err);
    if (rc != HONE_ENOTFOUND) fail_msg("third undo: %s (%s)", hone_status_name(rc), err.msg);

    /* A replay now gives what the undos left: nothing in the auto layer. */
    assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_AUTO, "512", NULL,
                                      NULL), HONE_OK);
    assert_int_equal(hone_opt_journal_replay(fx.journal, &err), HONE_OK);
    expect_setting(HONE_SET_BATCH_SIZE, 64, HONE_ORIGIN_DEFAULT, NULL);
    assert_int_equal(count_lines(fx.journal, "\"outcome\":\"undone\""), 2);
    fixture_close(&fx);
}

/* A corrupt line stops the replay, naming path:line, before anything is
 * applied. */
static void corrupt_journal_refused(void **state) {
    fixture fx;
    fixture_open(&fx);
    char path[400];
    snprintf(path, sizeof path, "%s/j.jsonl", fx.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"seq\":1,\"time\":\"2026-01-01T00:00:00Z\",\"setting\":\"batch.size\","
          "\"component\":null,\"before\":\"64\",\"after\":\"128\",\"evidence\":\"\","
          "\"outcome\":\"kept\"}\n"
          "{\"seq\":2,\"setting\":\"batch.size\",\"before\":\"128\",\"aft\n",
          f);
    fclose(f);
    hone_error err = {0};
    int rc = hone_opt_journal_replay(path, &err);
    char want[420];
    snprintf(want, sizeof want, "%s:2:", path);
    if (rc != HONE_ECORRUPT || !strstr(err.msg, want))
        fail_msg("replay: %s (%s), expected HONE_ECORRUPT naming %s", hone_status_name(rc),
                 err.msg, want);
    assert_int_equal(err.line, 2);
    expect_setting(HONE_SET_BATCH_SIZE, 64, HONE_ORIGIN_DEFAULT, NULL);
    /* Undo refuses too, and the file is not added to. */
    rc = hone_opt_journal_undo(path, NULL, 0, &err);
    assert_int_equal(rc, HONE_ECORRUPT);
    assert_int_equal(count_lines(path, "undone"), 0);
    fixture_close(&fx);
}

/* The out-of-memory loop over making a tuner, running it to DONE,
 * replaying and undoing. */
typedef struct oom_ctx {
    char journal[400];
} oom_ctx;

static int oom_run(const hone_allocator *a, void *vctx) {
    oom_ctx *c = vctx;
    unlink(c->journal);
    hone_settings_clear(HONE_ORIGIN_AUTO);
    workload w = peaked(8, 11);
    hone_opt_tuner_opts o = {
        .knobs = &batch_knob, .nknobs = 1, .measure = measure, .ctx = &w, .samples = 5,
        .hold_ns = HOLD_NS, .journal = c->journal, .clock = fake_clock, .alloc = a,
    };
    hone_opt_tuner *t;
    int rc = hone_opt_tuner_new(&t, &o, NULL);
    for (int i = 0; !rc && i < MAX_TICKS; i++) {
        hone_opt_tuner_event ev;
        fake_now += TICK_NS;
        rc = hone_opt_tuner_tick(t, &ev, NULL);
        if (!rc && ev.action == HONE_TUNE_DONE) break;
    }
    if (t) hone_opt_tuner_free(t);
    if (!rc) rc = hone_opt_journal_replay(c->journal, NULL);
    if (!rc) rc = hone_opt_journal_undo(c->journal, NULL, 0, NULL);
    hone_buf b;
    hone_buf_init(&b, a);
    if (!rc) rc = hone_opt_journal_format(c->journal, &b, 0, NULL);
    if (!rc) rc = hone_opt_journal_format(c->journal, &b, 1, NULL);
    hone_buf_free(&b);
    hone_settings_clear(HONE_ORIGIN_AUTO);
    return rc;
}

static void oom_tuner_and_journal(void **state) {
    fixture fx;
    fixture_open(&fx);
    oom_ctx c;
    snprintf(c.journal, sizeof c.journal, "%s/oom/journal.jsonl", fx.dir);
    long n = failalloc_loop("tuner+journal", oom_run, &c);
    printf("  %ld allocations in a full run\n", n);
    fixture_close(&fx);
}

/* Bad options are refused with a reason. */
static void bad_options(void **state) {
    hone_opt_tuner *t = (hone_opt_tuner *)1;
    hone_error err = {0};
    workload w = peaked(8, 1);
    hone_opt_knob k = {HONE_SET_CACHE_STRATEGY, NULL, 0, 0, 0};
    hone_opt_tuner_opts o = {.knobs = &k, .nknobs = 1, .measure = measure, .ctx = &w};
    assert_int_equal(hone_opt_tuner_new(&t, &o, &err), HONE_EINVAL);
    assert_null(t);
    assert_non_null(strstr(err.msg, "cache.strategy"));
    o.nknobs = 0;
    assert_int_equal(hone_opt_tuner_new(&t, &o, &err), HONE_EINVAL);
    k.setting = HONE_SET_BATCH_SIZE;
    o.nknobs = 1;
    o.measure = NULL;
    assert_int_equal(hone_opt_tuner_new(&t, &o, &err), HONE_EINVAL);
    o.measure = measure;
    k.factor = 0.5;
    assert_int_equal(hone_opt_tuner_new(&t, &o, &err), HONE_EINVAL);
    assert_string_equal(hone_opt_tuner_action_name(HONE_TUNE_REVERTED), "reverted");
    assert_string_equal(hone_opt_tuner_action_name(99), "unknown");
}

/* Whatever the environment, nothing here reads or writes the user's config
 * or journal (tests/CMakeLists.txt sets the same; this covers a direct run). */
static int group_setup(void **state) {
    (void)state;
    return setenv("HONE_CONFIG", "off", 1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(converges_to_best),
    cmocka_unit_test(harmful_step_reverted),
    cmocka_unit_test(revert_restores_auto_value),
    cmocka_unit_test(explicit_never_touched),
    cmocka_unit_test(explicit_during_trial),
    cmocka_unit_test(hold_time_respected),
    cmocka_unit_test(noise_keeps_nothing),
    cmocka_unit_test(journal_replays_and_undoes),
    cmocka_unit_test(corrupt_journal_refused),
    cmocka_unit_test(oom_tuner_and_journal),
    cmocka_unit_test(bad_options),
};

HONE_TEST_MAIN_FIXTURES(tests, group_setup, NULL)
