/* test_config.c - the settings' layers and their origins: the precedence
 * table over every combination of layers, component values, config file
 * errors, and where the config file is. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hone/opt.h"
#include "test.h"
#include "tmpdir.h"

static char dir[256], ini[300];

static int group_setup(void **state) {
    (void)state;
    /* Before anything resolves: no user file, no journal of the user's. */
    setenv("HONE_CONFIG", "off", 1);
    if (hone_test_tmpdir(dir, sizeof dir, "optcfg")) return -1;
    setenv("XDG_STATE_HOME", dir, 1);
    snprintf(ini, sizeof ini, "%s/hone.ini", dir);
    return 0;
}
static int group_teardown(void **state) {
    (void)state;
    hone_test_rmtree(dir);
    return 0;
}

static const char *const envs[] = {"HONE_LEVEL", "HONE_PRESET", "HONE_CACHE_STRATEGY",
                                   "HONE_BATCH_SIZE", "HONE_HTTP_TIMEOUT", "HONE_CACHE_SIZE"};
static void reset_all(void) {
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) unsetenv(envs[i]);
    hone_settings_clear(HONE_ORIGIN_API);
    hone_settings_clear(HONE_ORIGIN_FILE);
    hone_settings_clear(HONE_ORIGIN_AUTO);
    setenv("HONE_CONFIG", "off", 1);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ------------------------------------------------------------------ */
/* The precedence table                                                */
/* ------------------------------------------------------------------ */

/* What the settings table says (not read from core's table, so
 * the data is checked too). */
typedef struct spec {
    const char *name, *env, *section, *key;
    uint64_t level[3];                       /* basic, moderate, aggressive */
    uint64_t preset[5];                      /* none, large-repo, realtime, batch, api-heavy; 0: not set */
    uint64_t strategy[3];                    /* memory, disk, hybrid bundles; 0: not set */
    const char *text[4];                     /* file, env, api, auto values */
    uint64_t val[4];
} spec;

#define MiB (1024ull * 1024)
#define SEC 1000000000ull
static const spec specs[] = {
        {"batch.size", "HONE_BATCH_SIZE", "batch", "size", {16, 64, 256}, {0, 256, 1, 1024, 0},
         {0, 0, 0}, {"100", "200", "300", "50"}, {100, 200, 300, 50}},
        {"http.timeout", "HONE_HTTP_TIMEOUT", "http", "timeout", {10 * SEC, 30 * SEC, 60 * SEC},
         {0, 0, 2 * SEC, 120 * SEC, 10 * SEC}, {0, 0, 0}, {"11s", "12s", "13s", "14s"},
         {11 * SEC, 12 * SEC, 13 * SEC, 14 * SEC}},
        {"cache.size", "HONE_CACHE_SIZE", "cache", "size", {16 * MiB, 64 * MiB, 256 * MiB},
         {0, 256 * MiB, 0, 0, 0}, {0, 0, 32 * MiB}, {"1M", "2M", "3M", "4M"},
         {1 * MiB, 2 * MiB, 3 * MiB, 4 * MiB}},
};
static const char *const level_names[] = {"basic", "moderate", "aggressive"};
static const char *const preset_names[] = {"none", "large-repo", "realtime", "batch", "api-heavy"};
/* The strategy each preset sets (-1 none): large-repo hybrid, realtime
 * memory, batch disk. */
static const int preset_strategy[] = {-1, 2, 0, 1, -1};
static const char *const strategy_names[] = {"memory", "disk", "hybrid"};
/* The strategy each level's column has. */
static const int level_strategy[] = {0, 0, 2};

enum src { SRC_NONE, SRC_FILE, SRC_ENV, SRC_API };
static const char *const src_names[] = {"-", "file", "env", "api"};

/* The selector choices a row makes, and by which layer. */
typedef struct choice {
    int src, value;
} choice;
static const choice level_dim[] = {{SRC_NONE, 1}, {SRC_FILE, 0}, {SRC_ENV, 2}, {SRC_API, 1}};
static const choice preset_dim[] = {{SRC_NONE, 0}, {SRC_API, 2}, {SRC_FILE, 1}, {SRC_ENV, 3}};
static const choice strategy_dim[] = {{SRC_NONE, 0}, {SRC_FILE, 2}, {SRC_ENV, 1}};

typedef struct expect {
    uint64_t u;
    int origin;
    char where[400];
} expect;

/* The model: default < level < strategy < preset < auto < file < env < api. */
static void model(const spec *s, choice lv, choice pr, choice st, int has_auto, unsigned layers,
                  long file_line, expect *e) {
    static const int origins[] = {0, HONE_ORIGIN_FILE, HONE_ORIGIN_ENV, HONE_ORIGIN_API};
    for (int src = SRC_API; src >= SRC_FILE; src--) {
        if (!(layers >> src & 1)) continue;
        e->u = s->val[src - 1];
        e->origin = origins[src];
        if (src == SRC_FILE) snprintf(e->where, sizeof e->where, "%s:%ld", ini, file_line);
        else if (src == SRC_ENV) snprintf(e->where, sizeof e->where, "%s", s->env);
        else snprintf(e->where, sizeof e->where, "test-api");
        return;
    }
    if (has_auto) {
        e->u = s->val[3];
        e->origin = HONE_ORIGIN_AUTO;
        snprintf(e->where, sizeof e->where, "journal #7");
        return;
    }
    if (s->preset[pr.value]) {
        e->u = s->preset[pr.value];
        e->origin = HONE_ORIGIN_PRESET;
        snprintf(e->where, sizeof e->where, "preset %s", preset_names[pr.value]);
        return;
    }
    /* The strategy: chosen explicitly, else by the preset, else the level's. */
    int strat = level_strategy[lv.value], chosen = 0;
    if (st.src != SRC_NONE) strat = st.value, chosen = 1;
    else if (preset_strategy[pr.value] >= 0) strat = preset_strategy[pr.value], chosen = 1;
    if (chosen && s->strategy[strat]) {
        e->u = s->strategy[strat];
        e->origin = HONE_ORIGIN_STRATEGY;
        snprintf(e->where, sizeof e->where, "strategy %s", strategy_names[strat]);
        return;
    }
    if (lv.src != SRC_NONE || lv.value != 1) {
        e->u = s->level[lv.value];
        e->origin = HONE_ORIGIN_LEVEL;
        snprintf(e->where, sizeof e->where, "level %s", level_names[lv.value]);
        return;
    }
    e->u = s->level[1];
    e->origin = HONE_ORIGIN_DEFAULT;
    snprintf(e->where, sizeof e->where, "built-in");
}

/* A config file under construction: lines counted. */
typedef struct inifile {
    char text[2048];
    long lines;
} inifile;
static void add_line(inifile *f, const char *fmt, const char *a, const char *b) {
    char l[256];
    snprintf(l, sizeof l, fmt, a, b);
    strcat(f->text, l);
    strcat(f->text, "\n");
    f->lines++;
}

static void test_precedence_table(void **state) {
    (void)state;
    size_t rows = 0, failures = 0;
    hone_error err;
    for (size_t si = 0; si < sizeof specs / sizeof specs[0]; si++) {
        const spec *s = &specs[si];
        int id = hone_setting_lookup(s->name);
        assert_true(id >= 0);
        for (size_t li = 0; li < 4; li++)
            for (size_t pi = 0; pi < 4; pi++)
                for (size_t ti = 0; ti < 3; ti++)
                    for (int au = 0; au < 2; au++)
                        for (unsigned sub = 0; sub < 8; sub++) {
                            reset_all();
                            choice lv = level_dim[li], pr = preset_dim[pi], st = strategy_dim[ti];
                            unsigned layers = sub << 1; /* bits SRC_FILE, SRC_ENV, SRC_API */
                            inifile f = {"# precedence row\n", 1};
                            long file_line = 0;
                            if (lv.src == SRC_FILE) add_line(&f, "level = %s%s", level_names[lv.value], "");
                            if (pr.src == SRC_FILE) add_line(&f, "preset = %s%s", preset_names[pr.value], "");
                            if (st.src == SRC_FILE || !strcmp(s->section, "cache")) add_line(&f, "[cache]%s%s", "", "");
                            if (st.src == SRC_FILE) add_line(&f, "strategy = %s%s", strategy_names[st.value], "");
                            if (layers >> SRC_FILE & 1) {
                                if (strcmp(s->section, "cache")) add_line(&f, "[%s]%s", s->section, "");
                                add_line(&f, "%s = %s", s->key, s->text[0]);
                                file_line = f.lines;
                            }
                            write_text(ini, f.text);
                            int rc = hone_opt_load(ini, &err);
                            if (rc != HONE_OK) fail_msg("load %s: %s\n%s", ini, err.msg, f.text);
                            if (lv.src == SRC_ENV) setenv("HONE_LEVEL", level_names[lv.value], 1);
                            if (lv.src == SRC_API) assert_int_equal(hone_opt_set("level", NULL, level_names[lv.value], "test-api", &err), HONE_OK);
                            if (pr.src == SRC_ENV) setenv("HONE_PRESET", preset_names[pr.value], 1);
                            if (pr.src == SRC_API) assert_int_equal(hone_opt_set("preset", NULL, preset_names[pr.value], "test-api", &err), HONE_OK);
                            if (st.src == SRC_ENV) setenv("HONE_CACHE_STRATEGY", strategy_names[st.value], 1);
                            if (au) assert_int_equal(hone_setting_set(id, NULL, HONE_ORIGIN_AUTO, s->text[3], "journal #7", &err), HONE_OK);
                            if (layers >> SRC_ENV & 1) setenv(s->env, s->text[1], 1);
                            if (layers >> SRC_API & 1) assert_int_equal(hone_opt_set(s->name, NULL, s->text[2], "test-api", &err), HONE_OK);

                            expect e;
                            model(s, lv, pr, st, au, layers, file_line, &e);
                            hone_setting_state got;
                            rc = hone_setting_get(id, NULL, &got, &err);
                            rows++;
                            if (rc != HONE_OK || got.value.u != e.u ||
                                got.origin != e.origin || strcmp(got.where, e.where)) {
                                failures++;
                                print_error("row %zu: %s with level %s@%s, preset %s@%s, strategy "
                                            "%s@%s, auto %d, layers%s%s%s:\n  expected %llu %s "
                                            "\"%s\"\n  got      %llu %s \"%s\" (rc %d)\n",
                                            rows, s->name, level_names[lv.value], src_names[lv.src],
                                            preset_names[pr.value], src_names[pr.src],
                                            strategy_names[st.value], src_names[st.src], au,
                                            layers >> SRC_FILE & 1 ? " file" : "",
                                            layers >> SRC_ENV & 1 ? " env" : "",
                                            layers >> SRC_API & 1 ? " api" : "",
                                            (unsigned long long)e.u, hone_origin_name(e.origin),
                                            e.where, (unsigned long long)got.value.u,
                                            hone_origin_name(got.origin), got.where, rc);
                            }
                        }
    }
    reset_all();
    print_message("precedence table: %zu rows, %zu wrong\n", rows, failures);
    assert_int_equal(rows, 3 * 4 * 4 * 3 * 2 * 8);
    assert_int_equal(failures, 0);
}

/* ------------------------------------------------------------------ */
/* Components                                                          */
/* ------------------------------------------------------------------ */

static void test_component_beats_global(void **state) {
    (void)state;
    reset_all();
    hone_error err;
    write_text(ini, "[batch]\nsize = 100\n[component.parser]\nbatch_size = 7\nttl = 10m\n");
    assert_int_equal(hone_opt_load(ini, &err), HONE_OK);
    /* The global in every higher layer still loses to the component's own. */
    setenv("HONE_BATCH_SIZE", "200", 1);
    assert_int_equal(hone_opt_set("batch.size", NULL, "300", "test-api", &err), HONE_OK);
    hone_setting_state st;
    char where[400];
    assert_int_equal(hone_setting_get(HONE_SET_BATCH_SIZE, "parser", &st, &err), HONE_OK);
    assert_int_equal(st.value.u, 7);
    assert_int_equal(st.origin, HONE_ORIGIN_FILE);
    assert_int_equal(st.component, 1);
    snprintf(where, sizeof where, "%s:4", ini);
    assert_string_equal(st.where, where);
    assert_int_equal(hone_setting_get(HONE_SET_CACHE_TTL, "parser", &st, &err), HONE_OK);
    assert_int_equal(st.value.u, 600 * SEC);
    /* Another component gets the global. */
    assert_int_equal(hone_setting_get(HONE_SET_BATCH_SIZE, "other", &st, &err), HONE_OK);
    assert_int_equal(st.value.u, 300);
    assert_int_equal(st.origin, HONE_ORIGIN_API);
    assert_int_equal(st.component, 0);
    /* The api's component value beats the file's. */
    assert_int_equal(hone_opt_set("HONE_BATCH_SIZE", "parser", "9", "--batch", &err), HONE_OK);
    assert_int_equal(hone_setting_get(HONE_SET_BATCH_SIZE, "parser", &st, &err), HONE_OK);
    assert_int_equal(st.value.u, 9);
    assert_int_equal(st.origin, HONE_ORIGIN_API);
    assert_string_equal(st.where, "--batch");
    /* Status lists the component rows. */
    hone_buf b = {0};
    assert_int_equal(hone_opt_status(&b, 1, &err), HONE_OK);
    assert_non_null(strstr(b.data, "{\"component\": \"parser\", \"name\": \"batch.size\", \"value\": \"9\", \"origin\": \"api\", \"where\": \"--batch\"}"));
    snprintf(where, sizeof where, "{\"component\": \"parser\", \"name\": \"cache.ttl\", \"value\": \"10m\", \"origin\": \"file\", \"where\": \"%s:5\"}", ini);
    if (!strstr(b.data, where)) fail_msg("no %s in\n%s", where, b.data);
    hone_buf_clear(&b);
    assert_int_equal(hone_opt_status(&b, 0, &err), HONE_OK);
    assert_non_null(strstr(b.data, "batch.size [parser]"));
    hone_buf_free(&b);
    assert_int_equal(hone_opt_unset("batch.size", "parser", &err), HONE_OK);
    assert_int_equal(hone_setting_get(HONE_SET_BATCH_SIZE, "parser", &st, &err), HONE_OK);
    assert_int_equal(st.value.u, 7);
    /* A setting without a component key refuses a component. */
    assert_int_equal(hone_opt_set("flow.retry_attempts", "parser", "3", NULL, &err), HONE_EINVAL);
    assert_int_equal(hone_opt_set("bach.size", NULL, "3", NULL, &err), HONE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "did you mean batch.size?"));
    assert_int_equal(hone_opt_set("batch.size", NULL, "lots", NULL, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "lots"));
    reset_all();
}

/* ------------------------------------------------------------------ */
/* Load errors                                                         */
/* ------------------------------------------------------------------ */

/* Loads text that must fail with HONE_EPARSE and a message holding each
 * of the given fragments; the file layer keeps what a good file put. */
static void expect_bad(const char *text, const char *frag1, const char *frag2) {
    hone_error err;
    write_text(ini, "[batch]\nsize = 100\n");
    assert_int_equal(hone_opt_load(ini, &err), HONE_OK);
    write_text(ini, text);
    memset(&err, 0, sizeof err);
    int rc = hone_opt_load(ini, &err);
    if (rc != HONE_EPARSE || !strstr(err.msg, frag1) || (frag2 && !strstr(err.msg, frag2)))
        fail_msg("load of\n%s\nrc %d msg \"%s\", expected EPARSE with \"%s\" and \"%s\"", text, rc,
                 err.msg, frag1, frag2 ? frag2 : "");
    hone_setting_state st;
    char where[400];
    snprintf(where, sizeof where, "%s:2", ini);
    assert_int_equal(hone_setting_get(HONE_SET_BATCH_SIZE, NULL, &st, NULL), HONE_OK);
    assert_int_equal(st.value.u, 100);
    assert_int_equal(st.origin, HONE_ORIGIN_FILE);
    assert_string_equal(st.where, where);
}

static void test_load_errors(void **state) {
    (void)state;
    reset_all();
    /* A bad value names path:line, key=value and what was expected. */
    char frag[400];
    snprintf(frag, sizeof frag, "%s:4: batch.size=lots: expected", ini);
    expect_bad("[cache]\nsize = 1M\n[batch]\nsize = lots\n", frag, NULL);
    expect_bad("# c\n[cache]\nsize = 1M\n[batch]\nsize = lots\n", ":5: batch.size=lots: expected", NULL);
    expect_bad("level = fast\n", ":1: level=fast: expected", "aggressive");
    expect_bad("[cache]\nstrategy = hybrid\nttl = -3\n", ":3: cache.ttl=-3", NULL);
    /* Unknown keys and sections, with a suggestion. */
    expect_bad("[cache]\nsise = 1M\n", ":2: [cache] sise: unknown key", "did you mean size?");
    expect_bad("[cahce]\nsize = 1M\n", ":1: unknown section [cahce]", "did you mean [cache]?");
    expect_bad("levle = basic\n", ":1: levle", "did you mean level?");
    expect_bad("[http]\nsize = 1M\n", "[http] size: unknown key", "[cache]");
    expect_bad("[componnet.parser]\nttl = 1s\n", "unknown section [componnet.parser]",
               "did you mean [component.parser]?");
    expect_bad("[component.parser]\nretry_attempts = 3\n", "[component.parser] retry_attempts", NULL);
    /* Not INI at all, and a line too long for the parser. */
    expect_bad("[cache]\nthis is not a key\n", ":2: expected `key = value`", NULL);
    char longline[400] = "[cache]\nsize = 1";
    memset(longline + strlen(longline), '0', 250);
    longline[strlen("[cache]\nsize = 1") + 250] = '\0';
    strcat(longline, "\n");
    expect_bad(longline, ":2: line longer than", NULL);
    /* The first bad line is the one reported; later good lines apply nothing. */
    expect_bad("[batch]\nsize = 5\n[http]\ntimeout = soon\n[exec]\nmax_workers = 99999\n",
               ":4: http.timeout=soon", NULL);
    /* Alerts sections are not the settings' business; comments and indented
     * keys are fine. */
    write_text(ini, "; top comment\nlevel = basic   # inline\n[alert.slow]\nmetric = zone.x.p99_ms\n"
                    "above = 5\n[cache]\n    ttl = 2m ; why\n");
    hone_error err;
    assert_int_equal(hone_opt_load(ini, &err), HONE_OK);
    hone_setting_state st;
    assert_int_equal(hone_setting_get(HONE_SET_CACHE_TTL, NULL, &st, NULL), HONE_OK);
    assert_int_equal(st.value.u, 120 * SEC);
    assert_int_equal(hone_setting_get(HONE_SET_LEVEL, NULL, &st, NULL), HONE_OK);
    assert_string_equal(st.value.text, "basic");
    /* A missing file empties the layer. */
    unlink(ini);
    assert_int_equal(hone_opt_load(ini, &err), HONE_OK);
    assert_int_equal(hone_setting_get(HONE_SET_LEVEL, NULL, &st, NULL), HONE_OK);
    assert_int_equal(st.origin, HONE_ORIGIN_DEFAULT);
    reset_all();
}

/* ------------------------------------------------------------------ */
/* Where the file is, and the automatic load                           */
/* ------------------------------------------------------------------ */

static void test_config_path(void **state) {
    (void)state;
    reset_all();
    hone_error err;
    char *p = NULL;
    assert_int_equal(hone_opt_config_path(&p, NULL, &err), HONE_ENOTFOUND);
    assert_null(p);
    assert_int_equal(hone_opt_load(NULL, &err), HONE_OK); /* off: an empty layer */
    setenv("HONE_CONFIG", "rel/hone.ini", 1);
    assert_int_equal(hone_opt_config_path(&p, NULL, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "HONE_CONFIG=rel/hone.ini: expected an absolute path"));
    assert_int_equal(hone_opt_load(NULL, &err), HONE_EINVAL);
    assert_int_equal(hone_opt_persist(NULL, "level", NULL, "basic", &err), HONE_EINVAL);
    setenv("HONE_CONFIG", ini, 1);
    assert_int_equal(hone_opt_config_path(&p, NULL, &err), HONE_OK);
    assert_string_equal(p, ini);
    hone_free(NULL, p);
    char *old_xdg = getenv("XDG_CONFIG_HOME") ? strdup(getenv("XDG_CONFIG_HOME")) : NULL;
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    unsetenv("HONE_CONFIG");
    setenv("XDG_CONFIG_HOME", "/x/conf", 1);
    assert_int_equal(hone_opt_config_path(&p, NULL, &err), HONE_OK);
    assert_string_equal(p, "/x/conf/hone/hone.ini");
    hone_free(NULL, p);
    setenv("XDG_CONFIG_HOME", "relative", 1); /* not absolute: ignored */
    setenv("HOME", "/home/u", 1);
    assert_int_equal(hone_opt_config_path(&p, NULL, &err), HONE_OK);
    assert_string_equal(p, "/home/u/.config/hone/hone.ini");
    hone_free(NULL, p);
    unsetenv("HOME");
    unsetenv("XDG_CONFIG_HOME");
    assert_int_equal(hone_opt_config_path(&p, NULL, &err), HONE_ENOTFOUND);
    if (old_xdg) setenv("XDG_CONFIG_HOME", old_xdg, 1);
    if (old_home) setenv("HOME", old_home, 1);
    free(old_xdg);
    free(old_home);
    reset_all();
}

static void test_autoload(void **state) {
    (void)state;
    reset_all();
    hone_error err;
    hone_setting_state st;
    /* The loader reads HONE_CONFIG's file. */
    write_text(ini, "level = aggressive\n");
    setenv("HONE_CONFIG", ini, 1);
    assert_int_equal(hone_settings_reload(&err), HONE_OK);
    assert_int_equal(hone_opt_load_status(&err), HONE_OK);
    assert_int_equal(hone_setting_get(HONE_SET_BATCH_SIZE, NULL, &st, NULL), HONE_OK);
    assert_int_equal(st.value.u, 256);
    assert_string_equal(st.where, "level aggressive");
    /* A bad file: remembered, shown by status, the layer kept. */
    write_text(ini, "level = aggressive\n[cache]\nttl = forever\n");
    assert_int_not_equal(hone_settings_reload(&err), HONE_OK);
    memset(&err, 0, sizeof err);
    assert_int_equal(hone_opt_load_status(&err), HONE_EPARSE);
    assert_non_null(strstr(err.msg, ":3: cache.ttl=forever"));
    hone_buf b = {0};
    assert_int_equal(hone_opt_status(&b, 0, &err), HONE_OK);
    assert_non_null(strstr(b.data, "load error: "));
    assert_non_null(strstr(b.data, "cache.ttl=forever"));
    hone_buf_clear(&b);
    assert_int_equal(hone_opt_status(&b, 1, &err), HONE_OK);
    assert_non_null(strstr(b.data, "\"load_error\": \""));
    char cfg[400];
    snprintf(cfg, sizeof cfg, "{\"config\": \"%s\"", ini);
    assert_non_null(strstr(b.data, cfg));
    assert_non_null(strstr(b.data, "{\"name\": \"batch.size\", \"value\": \"256\", \"origin\": "
                                   "\"level\", \"where\": \"level aggressive\", \"variable\": "
                                   "\"HONE_BATCH_SIZE\", \"levels\": {\"basic\": \"16\", "
                                   "\"moderate\": \"64\", \"aggressive\": \"256\"}}"));
    hone_buf_free(&b);
    /* Fixing the file through a load clears the error. */
    write_text(ini, "level = basic\n");
    assert_int_equal(hone_opt_load(NULL, &err), HONE_OK);
    assert_int_equal(hone_opt_load_status(&err), HONE_OK);
    /* HONE_CONFIG=off: the loader loads nothing. */
    setenv("HONE_CONFIG", "off", 1);
    hone_settings_clear(HONE_ORIGIN_FILE);
    assert_int_equal(hone_settings_reload(&err), HONE_OK);
    assert_int_equal(hone_setting_get(HONE_SET_LEVEL, NULL, &st, NULL), HONE_OK);
    assert_int_equal(st.origin, HONE_ORIGIN_DEFAULT);
    b = (hone_buf){0};
    assert_int_equal(hone_opt_status(&b, 1, &err), HONE_OK);
    assert_non_null(strstr(b.data, "{\"config\": null, \"load_error\": null"));
    hone_buf_free(&b);
    reset_all();
}

static void test_bundle_describe(void **state) {
    (void)state;
    hone_buf b = {0};
    hone_error err;
    assert_int_equal(hone_opt_bundle_describe(HONE_SET_PRESET, "realtime", &b, 0, &err), HONE_OK);
    assert_non_null(strstr(b.data, "batch.size"));
    assert_non_null(strstr(b.data, "= 1\n"));
    hone_buf_clear(&b);
    assert_int_equal(hone_opt_bundle_describe(HONE_SET_CACHE_STRATEGY, "hybrid", &b, 1, &err), HONE_OK);
    assert_non_null(strstr(b.data, "{\"name\": \"cache.size\", \"value\": \"32M\"}"));
    hone_buf_clear(&b);
    assert_int_equal(hone_opt_bundle_describe(HONE_SET_LEVEL, "basic", &b, 0, &err), HONE_OK);
    assert_non_null(strstr(b.data, "http.timeout"));
    assert_int_equal(hone_opt_bundle_describe(HONE_SET_LEVEL, "turbo", &b, 0, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "aggressive"));
    assert_int_equal(hone_opt_bundle_describe(HONE_SET_BATCH_SIZE, "1", &b, 0, &err), HONE_EINVAL);
    hone_buf_free(&b);
}

static int status_calls(const hone_allocator *a, void *ctx) {
    (void)a, (void)ctx;
    hone_buf b;
    hone_buf_init(&b, NULL);
    hone_error err;
    int rc = hone_opt_status(&b, 1, &err);
    if (!rc) rc = hone_opt_status(&b, 0, &err);
    if (!rc) rc = hone_opt_bundle_describe(HONE_SET_PRESET, "batch", &b, 1, &err);
    hone_buf_free(&b);
    char *p = NULL;
    if (!rc) rc = hone_opt_config_path(&p, NULL, &err);
    hone_free(NULL, p);
    return rc;
}

static int load_calls(const hone_allocator *a, void *ctx) {
    (void)a, (void)ctx;
    hone_error err;
    int rc = hone_opt_load(ini, &err);
    hone_settings_clear(HONE_ORIGIN_FILE);
    return rc;
}

static void test_oom(void **state) {
    (void)state;
    reset_all();
    hone_error err;
    setenv("HONE_CONFIG", ini, 1);
    write_text(ini, "level = basic\n[cache]\nttl = 5m\n[component.p]\nttl = 1m\n");
    assert_int_equal(hone_opt_load(ini, &err), HONE_OK);
    assert_true(failalloc_loop("status", status_calls, NULL) > 0);
    failalloc_loop("load", load_calls, NULL);
    reset_all();
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence_table), cmocka_unit_test(test_component_beats_global),
        cmocka_unit_test(test_load_errors),      cmocka_unit_test(test_config_path),
        cmocka_unit_test(test_autoload),         cmocka_unit_test(test_bundle_describe),
        cmocka_unit_test(test_oom),
};
HONE_TEST_MAIN_FIXTURES(tests, group_setup, group_teardown)
