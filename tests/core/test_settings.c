/* test_settings.c - the settings table: parsing with messages that name
 * the value and what was expected, lookup, every layer's precedence with
 * origins and `where`, levels, strategy and preset bundles, per-component
 * values, a malformed variable, the generation, the loader hook, the
 * environment table, and concurrent readers and writers. */
#include "test.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every setting's variable unset and every stored layer empty. */
static void reset(void) {
    for (int i = 0; i < HONE_SETTING_COUNT; i++) unsetenv(hone_setting_info_get(i)->env);
    hone_settings_clear(HONE_ORIGIN_AUTO);
    hone_settings_clear(HONE_ORIGIN_FILE);
    hone_settings_clear(HONE_ORIGIN_API);
}

static hone_setting_state get(int id, const char *component) {
    hone_setting_state st;
    memset(&st, 0, sizeof st);
    hone_error err = {0};
    int rc = hone_setting_get(id, component, &st, &err);
    if (rc) fail_msg("hone_setting_get(%d): %s", id, err.msg);
    return st;
}

#define assert_state(st, want_text, want_origin, want_where)                                   \
    do {                                                                                     \
        hone_setting_state s_ = (st);                                                        \
        if (strcmp(s_.value.text, want_text) || s_.origin != (want_origin) ||                \
            strcmp(s_.where, want_where))                                                    \
            fail_msg("got %s (%s, %s), want %s (%s, %s)", s_.value.text,                     \
                     hone_origin_name(s_.origin), s_.where, want_text,                       \
                     hone_origin_name(want_origin), want_where);                             \
    } while (0)

static void parse_names_value_and_expectation(void **state) {
    (void)state;
    hone_error err;
    hone_setting_value v;
    assert_int_equal(hone_setting_parse(HONE_SET_MAX_WORKERS, "HONE_MAX_WORKERS", "abc", &v, &err),
                     HONE_EINVAL);
    assert_string_equal(err.msg, "HONE_MAX_WORKERS=abc: expected an integer from 0 to 1024");
    assert_int_equal(hone_setting_parse(HONE_SET_MAX_WORKERS, "HONE_MAX_WORKERS", "2000", &v, &err),
                     HONE_ERANGE);
    assert_string_equal(err.msg, "HONE_MAX_WORKERS=2000: expected an integer from 0 to 1024");
    assert_int_equal(hone_setting_parse(HONE_SET_CACHE_STRATEGY, NULL, "fast", &v, &err),
                     HONE_EINVAL);
    assert_string_equal(err.msg, "cache.strategy=fast: expected one of memory, disk, hybrid");
    assert_int_equal(hone_setting_parse(HONE_SET_CACHE_STRATEGY, NULL, "disk", &v, &err), HONE_OK);
    assert_int_equal(v.u, 1);
    assert_string_equal(v.text, "disk");
    /* Bare durations take the setting's unit. */
    assert_int_equal(hone_setting_parse(HONE_SET_BATCH_MAX_WAIT, NULL, "10", &v, &err), HONE_OK);
    assert_int_equal(v.u, 10000000u);
    assert_int_equal(hone_setting_parse(HONE_SET_CACHE_TTL, NULL, "30", &v, &err), HONE_OK);
    assert_int_equal(v.u, 30000000000u);
    assert_int_equal(hone_setting_parse(HONE_SET_CACHE_TTL, NULL, "0", &v, &err), HONE_OK);
    assert_int_equal(v.u, 0);
    assert_int_equal(hone_setting_parse(HONE_SET_BATCH_MAX_WAIT, "--max-wait", "0", &v, &err),
                     HONE_ERANGE);
    assert_string_equal(err.msg, "--max-wait=0: expected a duration from 1ms to 1h like 10ms (a bare "
                                 "number is milliseconds)");
    assert_int_equal(hone_setting_parse(HONE_SET_HTTP_DEADLINE, NULL, "2d", &v, &err), HONE_EINVAL);
    assert_int_equal(hone_setting_parse(HONE_SET_CACHE_SIZE, NULL, "64M", &v, &err), HONE_OK);
    assert_int_equal(v.u, 64u << 20);
    assert_true(v.d == (double)(64u << 20));
    assert_string_equal(v.text, "64M");
    assert_int_equal(hone_setting_parse(HONE_SET_CACHE_SIZE, NULL, "1K", &v, &err), HONE_ERANGE);
    assert_string_equal(err.msg,
                        "cache.size=1K: expected a size like 64M (suffix k, M, G or T) from 64K to 1T");
    assert_int_equal(hone_setting_parse(HONE_SET_PARALLEL, NULL, "yes", &v, &err), HONE_OK);
    assert_int_equal(v.u, 1);
    assert_string_equal(v.text, "on");
    assert_int_equal(hone_setting_parse(HONE_SET_PARALLEL, NULL, "maybe", &v, &err), HONE_EINVAL);
    assert_int_equal(hone_setting_parse(HONE_SET_RATE_LIMIT, NULL, "6000/min", &v, &err), HONE_OK);
    assert_true(v.d == 100);
    assert_int_equal(hone_setting_parse(HONE_SET_RATE_LIMIT, NULL, "OFF", &v, &err), HONE_OK);
    assert_true(isinf(v.d));
    assert_string_equal(v.text, "off");
    assert_int_equal(hone_setting_parse(HONE_SET_CACHE_DIR, "HONE_CACHE_DIR", "~/x", &v, &err),
                     HONE_EINVAL);
    assert_string_equal(err.msg, "HONE_CACHE_DIR=~/x: expected an absolute directory path ('~' is "
                                 "expanded by a shell, not in a quoted value)");
    assert_int_equal(hone_setting_parse(HONE_SET_CACHE_DIR, NULL, "", &v, &err), HONE_OK);
    assert_int_equal(hone_setting_parse(HONE_SET_CACHE_DIR, NULL, "/var/cache/x", &v, &err), HONE_OK);
    assert_string_equal(v.text, "/var/cache/x");
    char longpath[300];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    assert_int_equal(hone_setting_parse(HONE_SET_CACHE_DIR, NULL, longpath, &v, &err), HONE_EINVAL);
    assert_int_equal(hone_setting_parse(-1, NULL, "1", &v, &err), HONE_EINVAL);
    assert_int_equal(hone_setting_parse(HONE_SETTING_COUNT, NULL, "1", &v, &err), HONE_EINVAL);
}

/* Every value the table itself holds (level columns, bundles) is valid,
 * and bundles are in table order. */
static void builtin_values_parse_and_bundles_are_ordered(void **state) {
    (void)state;
    hone_error err;
    hone_setting_value v;
    for (int i = 0; i < HONE_SETTING_COUNT; i++) {
        const hone_setting_info *r = hone_setting_info_get(i);
        assert_non_null(r);
        assert_non_null(r->name);
        assert_non_null(r->env);
        assert_non_null(r->expected);
        assert_non_null(r->help);
        for (int l = 0; l < 3; l++)
            if (hone_setting_parse(i, r->name, r->level_value[l], &v, &err))
                fail_msg("level %d of %s: %s", l, r->name, err.msg);
    }
    assert_null(hone_setting_info_get(HONE_SETTING_COUNT));
    static const int sel[] = {HONE_SET_LEVEL, HONE_SET_CACHE_STRATEGY, HONE_SET_PRESET};
    for (int k = 0; k < 3; k++) {
        for (int c = 0;; c++) {
            const hone_setting_bundle_item *items;
            size_t n;
            if (hone_setting_bundle(sel[k], c, &items, &n) != HONE_OK) {
                assert_true(c >= 3);
                break;
            }
            for (size_t j = 0; j < n; j++) {
                if (hone_setting_parse(items[j].id, NULL, items[j].value, &v, &err))
                    fail_msg("bundle %d/%d: %s", sel[k], c, err.msg);
                assert_true(items[j].id != HONE_SET_LEVEL && items[j].id != HONE_SET_PRESET);
                if (j) assert_true(items[j].id > items[j - 1].id);
            }
            if (sel[k] != HONE_SET_LEVEL) assert_non_null(hone_setting_bundle_help(sel[k], c));
        }
    }
}

static void lookup_by_name_or_variable(void **state) {
    (void)state;
    assert_int_equal(hone_setting_lookup("cache.ttl"), HONE_SET_CACHE_TTL);
    assert_int_equal(hone_setting_lookup("HONE_CACHE_TTL"), HONE_SET_CACHE_TTL);
    assert_int_equal(hone_setting_lookup("level"), HONE_SET_LEVEL);
    assert_int_equal(hone_setting_lookup("HONE_BATCH_MAX_WAIT_MS"), HONE_SET_BATCH_MAX_WAIT);
    assert_int_equal(hone_setting_lookup("http.max_input_size"), HONE_SET_MAX_INPUT_SIZE);
    assert_int_equal(hone_setting_lookup("cache.ttlx"), -1);
    assert_int_equal(hone_setting_lookup(""), -1);
    assert_int_equal(hone_setting_lookup(NULL), -1);
    for (int i = 0; i < HONE_SETTING_COUNT; i++) {
        const hone_setting_info *r = hone_setting_info_get(i);
        assert_int_equal(hone_setting_lookup(r->name), i);
        assert_int_equal(hone_setting_lookup(r->env), i);
    }
    assert_string_equal(hone_origin_name(HONE_ORIGIN_DEFAULT), "default");
    assert_string_equal(hone_origin_name(HONE_ORIGIN_STRATEGY), "strategy");
    assert_string_equal(hone_origin_name(HONE_ORIGIN_API), "api");
}

static void defaults_are_the_moderate_column(void **state) {
    (void)state;
    reset();
    for (int i = 0; i < HONE_SETTING_COUNT; i++) {
        hone_setting_state st = get(i, NULL);
        assert_state(st, hone_setting_info_get(i)->level_value[1], HONE_ORIGIN_DEFAULT,
                     "built-in");
        assert_int_equal(st.component, 0);
    }
    assert_int_equal(hone_setting_u64(HONE_SET_BATCH_SIZE, NULL), 64);
    assert_int_equal(hone_setting_u64(HONE_SET_HTTP_TIMEOUT, NULL), 30000000000u);
    assert_true(isinf(hone_setting_double(HONE_SET_RATE_LIMIT, NULL)));
    assert_int_equal(hone_setting_u64(-1, NULL), 0);
}

static void level_columns_change_values_with_origin_level(void **state) {
    (void)state;
    reset();
    setenv("HONE_LEVEL", "aggressive", 1);
    assert_state(get(HONE_SET_LEVEL, NULL), "aggressive", HONE_ORIGIN_ENV, "HONE_LEVEL");
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "256", HONE_ORIGIN_LEVEL, "level aggressive");
    assert_state(get(HONE_SET_CACHE_STRATEGY, NULL), "hybrid", HONE_ORIGIN_LEVEL,
                 "level aggressive");
    /* The level picked the strategy: its column's cache.size holds (the
     * hybrid bundle applies only to a strategy chosen on its own). */
    assert_state(get(HONE_SET_CACHE_SIZE, NULL), "256M", HONE_ORIGIN_LEVEL, "level aggressive");
    assert_int_equal(hone_setting_u64(HONE_SET_CACHE_SIZE, NULL), 256u << 20);
    setenv("HONE_LEVEL", "basic", 1);
    assert_state(get(HONE_SET_MAX_WORKERS, NULL), "2", HONE_ORIGIN_LEVEL, "level basic");
    assert_state(get(HONE_SET_CACHE_TTL, NULL), "1h", HONE_ORIGIN_LEVEL, "level basic");
    assert_int_equal(hone_setting_u64(HONE_SET_CACHE_TTL, NULL), 3600000000000u);
    /* moderate chosen explicitly: the column, with origin level. */
    unsetenv("HONE_LEVEL");
    assert_int_equal(hone_setting_set(HONE_SET_LEVEL, NULL, HONE_ORIGIN_FILE, "moderate",
                                      "/etc/hone.ini:1", NULL),
                     HONE_OK);
    assert_state(get(HONE_SET_LEVEL, NULL), "moderate", HONE_ORIGIN_FILE, "/etc/hone.ini:1");
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "64", HONE_ORIGIN_LEVEL, "level moderate");
    /* A level set by the api beats the environment's. */
    setenv("HONE_LEVEL", "basic", 1);
    assert_int_equal(hone_setting_set(HONE_SET_LEVEL, NULL, HONE_ORIGIN_API, "aggressive",
                                      "--level", NULL),
                     HONE_OK);
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "256", HONE_ORIGIN_LEVEL, "level aggressive");
    reset();
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "64", HONE_ORIGIN_DEFAULT, "built-in");
}

static void strategy_and_preset_bundles(void **state) {
    (void)state;
    reset();
    /* A strategy chosen explicitly brings its bundle. */
    assert_int_equal(hone_setting_set(HONE_SET_CACHE_STRATEGY, NULL, HONE_ORIGIN_API, "hybrid", NULL,
                                      NULL),
                     HONE_OK);
    assert_state(get(HONE_SET_CACHE_STRATEGY, NULL), "hybrid", HONE_ORIGIN_API, "api");
    assert_state(get(HONE_SET_CACHE_SIZE, NULL), "32M", HONE_ORIGIN_STRATEGY, "strategy hybrid");
    assert_state(get(HONE_SET_CACHE_DISK_SIZE, NULL), "4G", HONE_ORIGIN_STRATEGY, "strategy hybrid");
    /* The strategy beats the level; the level still gives the rest. */
    setenv("HONE_LEVEL", "basic", 1);
    assert_state(get(HONE_SET_CACHE_SIZE, NULL), "32M", HONE_ORIGIN_STRATEGY, "strategy hybrid");
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "16", HONE_ORIGIN_LEVEL, "level basic");
    /* A preset beats the strategy: large-repo's cache.size is 256M. */
    setenv("HONE_PRESET", "large-repo", 1);
    assert_state(get(HONE_SET_PRESET, NULL), "large-repo", HONE_ORIGIN_ENV, "HONE_PRESET");
    assert_state(get(HONE_SET_CACHE_SIZE, NULL), "256M", HONE_ORIGIN_PRESET, "preset large-repo");
    assert_state(get(HONE_SET_CACHE_DISK_SIZE, NULL), "8G", HONE_ORIGIN_PRESET,
                 "preset large-repo");
    assert_state(get(HONE_SET_PARALLEL_THRESHOLD, NULL), "64", HONE_ORIGIN_PRESET,
                 "preset large-repo");
    /* ... but not an explicit strategy: that is the api's. */
    assert_state(get(HONE_SET_CACHE_STRATEGY, NULL), "hybrid", HONE_ORIGIN_API, "api");
    reset();
    /* A preset's strategy brings that strategy's bundle. */
    setenv("HONE_PRESET", "batch", 1);
    assert_state(get(HONE_SET_CACHE_STRATEGY, NULL), "disk", HONE_ORIGIN_PRESET, "preset batch");
    assert_state(get(HONE_SET_CACHE_DISK_SIZE, NULL), "4G", HONE_ORIGIN_STRATEGY, "strategy disk");
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "1024", HONE_ORIGIN_PRESET, "preset batch");
    assert_state(get(HONE_SET_HTTP_DEADLINE, NULL), "600s", HONE_ORIGIN_PRESET, "preset batch");
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "1024", HONE_ORIGIN_PRESET, "preset batch");
    setenv("HONE_PRESET", "api-heavy", 1);
    assert_state(get(HONE_SET_RATE_LIMIT, NULL), "100/s", HONE_ORIGIN_PRESET, "preset api-heavy");
    assert_true(hone_setting_double(HONE_SET_RATE_LIMIT, NULL) == 100);
    assert_state(get(HONE_SET_CACHE_TTL, NULL), "5m", HONE_ORIGIN_PRESET, "preset api-heavy");
    assert_state(get(HONE_SET_RETRY_ATTEMPTS, NULL), "4", HONE_ORIGIN_PRESET, "preset api-heavy");
    /* What the preset does not name keeps the default. */
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "64", HONE_ORIGIN_DEFAULT, "built-in");
    setenv("HONE_PRESET", "realtime", 1);
    assert_state(get(HONE_SET_BATCH_MAX_WAIT, NULL), "1ms", HONE_ORIGIN_PRESET, "preset realtime");
    assert_int_equal(hone_setting_u64(HONE_SET_BATCH_MAX_WAIT, NULL), 1000000u);
    /* Explicit values beat the preset. */
    setenv("HONE_BATCH_MAX_WAIT_MS", "7", 1);
    assert_state(get(HONE_SET_BATCH_MAX_WAIT, NULL), "7", HONE_ORIGIN_ENV, "HONE_BATCH_MAX_WAIT_MS");
    assert_int_equal(hone_setting_u64(HONE_SET_BATCH_MAX_WAIT, NULL), 7000000u);
    reset();
}

/* default < level < ... < auto < file < env < api, one layer at a time
 * from the top down. */
static void layers_in_order(void **state) {
    (void)state;
    reset();
    hone_error err;
    setenv("HONE_LEVEL", "basic", 1);
    assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_AUTO, "100",
                                      "journal #4", &err),
                     HONE_OK);
    assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_FILE, "200",
                                      "/home/u/.config/hone/hone.ini:3", &err),
                     HONE_OK);
    setenv("HONE_BATCH_SIZE", "300", 1);
    assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_API, "400", NULL, &err),
                     HONE_OK);
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "400", HONE_ORIGIN_API, "api");
    hone_setting_unset(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_API);
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "300", HONE_ORIGIN_ENV, "HONE_BATCH_SIZE");
    unsetenv("HONE_BATCH_SIZE");
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "200", HONE_ORIGIN_FILE,
                 "/home/u/.config/hone/hone.ini:3");
    hone_settings_clear(HONE_ORIGIN_FILE);
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "100", HONE_ORIGIN_AUTO, "journal #4");
    hone_setting_unset(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_AUTO);
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "16", HONE_ORIGIN_LEVEL, "level basic");
    unsetenv("HONE_LEVEL");
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "64", HONE_ORIGIN_DEFAULT, "built-in");
    /* Unsetting what is not set is fine. */
    hone_setting_unset(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_AUTO);
    hone_setting_unset(HONE_SET_BATCH_SIZE, "nobody", HONE_ORIGIN_API);
    hone_setting_unset(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_ENV);
    /* Only auto, file and api can be set. */
    assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_ENV, "5", NULL, &err),
                     HONE_EINVAL);
    assert_non_null(strstr(err.msg, "origin env cannot be set"));
    assert_int_equal(hone_setting_set(HONE_SETTING_COUNT, NULL, HONE_ORIGIN_API, "5", NULL, &err),
                     HONE_EINVAL);
    /* A bad value names where it came from and what was expected; the
     * layer keeps what it had. */
    assert_int_equal(hone_setting_set(HONE_SET_CACHE_TTL, NULL, HONE_ORIGIN_FILE, "fast",
                                      "hone.ini:3", &err),
                     HONE_EINVAL);
    assert_string_equal(err.msg, "hone.ini:3: cache.ttl=fast: expected a duration like 30s or 1h "
                                 "(a bare number is seconds), 0 for none");
    assert_state(get(HONE_SET_CACHE_TTL, NULL), "0", HONE_ORIGIN_DEFAULT, "built-in");
    reset();
}

static void component_values_beat_global_layers(void **state) {
    (void)state;
    reset();
    hone_error err;
    assert_int_equal(hone_setting_set(HONE_SET_CACHE_TTL, "db", HONE_ORIGIN_FILE, "2m",
                                      "hone.ini:9", &err),
                     HONE_OK);
    assert_int_equal(hone_setting_set(HONE_SET_CACHE_TTL, NULL, HONE_ORIGIN_API, "5s", NULL, &err),
                     HONE_OK);
    setenv("HONE_CACHE_TTL", "7s", 1);
    hone_setting_state st = get(HONE_SET_CACHE_TTL, "db");
    assert_state(st, "2m", HONE_ORIGIN_FILE, "hone.ini:9");
    assert_int_equal(st.component, 1);
    assert_int_equal(hone_setting_u64(HONE_SET_CACHE_TTL, "db"), 120000000000u);
    /* Another component, or none, gets the global value. */
    st = get(HONE_SET_CACHE_TTL, "web");
    assert_state(st, "5s", HONE_ORIGIN_API, "api");
    assert_int_equal(st.component, 0);
    assert_state(get(HONE_SET_CACHE_TTL, NULL), "5s", HONE_ORIGIN_API, "api");
    /* The component's api value beats its file value. */
    assert_int_equal(hone_setting_set(HONE_SET_CACHE_TTL, "db", HONE_ORIGIN_API, "3m", "test",
                                      &err),
                     HONE_OK);
    assert_state(get(HONE_SET_CACHE_TTL, "db"), "3m", HONE_ORIGIN_API, "test");
    /* A component's auto value beats the global auto value but not an
     * explicit global one (continuous mode never overrides the user). */
    reset();
    assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, "ingest", HONE_ORIGIN_AUTO, "32",
                                      "journal #1", &err),
                     HONE_OK);
    assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_AUTO, "48",
                                      "journal #2", &err),
                     HONE_OK);
    st = get(HONE_SET_BATCH_SIZE, "ingest");
    assert_state(st, "32", HONE_ORIGIN_AUTO, "journal #1");
    assert_int_equal(st.component, 1);
    setenv("HONE_BATCH_SIZE", "10", 1);
    assert_state(get(HONE_SET_BATCH_SIZE, "ingest"), "10", HONE_ORIGIN_ENV, "HONE_BATCH_SIZE");
    /* A setting without a component key refuses a component; a bad name
     * is refused. */
    assert_int_equal(hone_setting_set(HONE_SET_CACHE_DIR, "db", HONE_ORIGIN_API, "/x", NULL, &err),
                     HONE_EINVAL);
    assert_string_equal(err.msg, "cache.dir: has no per-component value");
    assert_int_equal(hone_setting_set(HONE_SET_CACHE_TTL, "a b", HONE_ORIGIN_API, "1s", NULL, &err),
                     HONE_EINVAL);
    assert_int_equal(hone_setting_set(HONE_SET_CACHE_TTL, "", HONE_ORIGIN_API, "1s", NULL, &err),
                     HONE_EINVAL);
    /* A component value names the component key in its message. */
    assert_int_equal(hone_setting_set(HONE_SET_CACHE_TTL, "db", HONE_ORIGIN_FILE, "x", "hone.ini:4",
                                      &err),
                     HONE_EINVAL);
    assert_non_null(strstr(err.msg, "hone.ini:4: component.db.ttl=x: expected a duration"));
    /* The global value of a setting with no component key is what a
     * component asking for it gets. */
    assert_state(get(HONE_SET_CACHE_DIR, "db"), "", HONE_ORIGIN_DEFAULT, "built-in");
    reset();
}

static void component_table_full_is_enomem(void **state) {
    (void)state;
    reset();
    hone_error err;
    int rc = HONE_OK, i;
    for (i = 0; i < 1000 && rc == HONE_OK; i++) {
        char name[32];
        snprintf(name, sizeof name, "c%d", i);
        rc = hone_setting_set(HONE_SET_CACHE_TTL, name, HONE_ORIGIN_API, "1s", NULL, &err);
    }
    assert_int_equal(rc, HONE_ENOMEM);
    assert_true(i > 64);
    assert_non_null(strstr(err.msg, "too many per-component values"));
    /* Replacing an existing one still works when full. */
    assert_int_equal(hone_setting_set(HONE_SET_CACHE_TTL, "c0", HONE_ORIGIN_API, "2s", NULL, &err),
                     HONE_OK);
    assert_state(get(HONE_SET_CACHE_TTL, "c0"), "2s", HONE_ORIGIN_API, "api");
    reset();
    assert_int_equal(hone_setting_set(HONE_SET_CACHE_TTL, "fresh", HONE_ORIGIN_API, "1s", NULL, &err),
                     HONE_OK);
    reset();
}

static void malformed_variable_gives_lower_value_and_einval(void **state) {
    (void)state;
    reset();
    hone_error err = {0};
    hone_setting_state st;
    assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_FILE, "50", "hone.ini:2",
                                      &err),
                     HONE_OK);
    setenv("HONE_BATCH_SIZE", "lots", 1);
    assert_int_equal(hone_setting_get(HONE_SET_BATCH_SIZE, NULL, &st, &err), HONE_EINVAL);
    assert_int_equal(err.code, HONE_EINVAL);
    assert_string_equal(err.msg, "HONE_BATCH_SIZE=lots: expected an integer from 1 to 1000000");
    assert_state(st, "50", HONE_ORIGIN_FILE, "hone.ini:2");
    assert_int_equal(hone_setting_u64(HONE_SET_BATCH_SIZE, NULL), 50);
    /* Out of range is malformed too, and reported as EINVAL here. */
    setenv("HONE_BATCH_SIZE", "0", 1);
    assert_int_equal(hone_setting_get(HONE_SET_BATCH_SIZE, NULL, &st, &err), HONE_EINVAL);
    assert_string_equal(err.msg, "HONE_BATCH_SIZE=0: expected an integer from 1 to 1000000");
    /* With nothing below, the default. */
    hone_settings_clear(HONE_ORIGIN_FILE);
    assert_int_equal(hone_setting_get(HONE_SET_BATCH_SIZE, NULL, &st, NULL), HONE_EINVAL);
    assert_state(st, "64", HONE_ORIGIN_DEFAULT, "built-in");
    /* The api wins over the variable: it does not matter then. */
    assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_API, "8", NULL, &err),
                     HONE_OK);
    assert_int_equal(hone_setting_get(HONE_SET_BATCH_SIZE, NULL, &st, &err), HONE_OK);
    assert_state(st, "8", HONE_ORIGIN_API, "api");
    /* An empty variable is unset. */
    reset();
    setenv("HONE_BATCH_SIZE", "", 1);
    assert_int_equal(hone_setting_get(HONE_SET_BATCH_SIZE, NULL, &st, &err), HONE_OK);
    assert_state(st, "64", HONE_ORIGIN_DEFAULT, "built-in");
    /* A bad level falls back to moderate. */
    setenv("HONE_LEVEL", "extreme", 1);
    assert_int_equal(hone_setting_get(HONE_SET_LEVEL, NULL, &st, &err), HONE_EINVAL);
    assert_string_equal(err.msg, "HONE_LEVEL=extreme: expected one of basic, moderate, aggressive");
    assert_state(st, "moderate", HONE_ORIGIN_DEFAULT, "built-in");
    assert_int_equal(hone_setting_u64(HONE_SET_BATCH_SIZE, NULL), 64);
    assert_int_equal(hone_setting_get(-1, NULL, &st, &err), HONE_EINVAL);
    reset();
}

static void generation_changes_with_every_layer_change(void **state) {
    (void)state;
    reset();
    uint64_t g0 = hone_settings_generation();
    assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_API, "8", NULL, NULL),
                     HONE_OK);
    uint64_t g1 = hone_settings_generation();
    assert_true(g1 != g0);
    /* A refused value changes nothing. */
    assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_API, "x", NULL, NULL),
                     HONE_EINVAL);
    assert_int_equal(hone_settings_generation(), g1);
    /* Reading does not change it. */
    get(HONE_SET_BATCH_SIZE, NULL);
    assert_int_equal(hone_settings_generation(), g1);
    hone_setting_unset(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_API);
    uint64_t g2 = hone_settings_generation();
    assert_true(g2 != g1);
    hone_settings_clear(HONE_ORIGIN_AUTO);
    assert_true(hone_settings_generation() != g2);
}

static void bundles_list_levels_strategies_presets(void **state) {
    (void)state;
    const hone_setting_bundle_item *items;
    size_t n;
    assert_int_equal(hone_setting_bundle(HONE_SET_LEVEL, 2, &items, &n), HONE_OK);
    assert_int_equal(n, HONE_SETTING_COUNT - 2);
    assert_int_equal(items[0].id, HONE_SET_CACHE_STRATEGY);
    assert_string_equal(items[0].value, "hybrid");
    for (size_t i = 0; i < n; i++)
        assert_string_equal(items[i].value, hone_setting_info_get(items[i].id)->level_value[2]);
    assert_int_equal(hone_setting_bundle(HONE_SET_CACHE_STRATEGY, 0, &items, &n), HONE_OK);
    assert_int_equal(n, 0); /* memory: nothing else */
    assert_int_equal(hone_setting_bundle(HONE_SET_CACHE_STRATEGY, 2, &items, &n), HONE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(items[0].id, HONE_SET_CACHE_SIZE);
    assert_string_equal(items[0].value, "32M");
    assert_int_equal(items[1].id, HONE_SET_CACHE_DISK_SIZE);
    assert_string_equal(items[1].value, "4G");
    assert_int_equal(hone_setting_bundle(HONE_SET_PRESET, 0, &items, &n), HONE_OK);
    assert_int_equal(n, 0); /* none */
    assert_int_equal(hone_setting_bundle(HONE_SET_PRESET, 4, &items, &n), HONE_OK); /* api-heavy */
    assert_int_equal(n, 6);
    int saw_rate = 0;
    for (size_t i = 0; i < n; i++)
        if (items[i].id == HONE_SET_RATE_LIMIT) saw_rate = !strcmp(items[i].value, "100/s");
    assert_true(saw_rate);
    assert_int_equal(hone_setting_bundle(HONE_SET_PRESET, 5, &items, &n), HONE_EINVAL);
    assert_int_equal(hone_setting_bundle(HONE_SET_BATCH_SIZE, 0, &items, &n), HONE_EINVAL);
    assert_int_equal(hone_setting_bundle(HONE_SET_LEVEL, -1, &items, &n), HONE_EINVAL);
    assert_non_null(strstr(hone_setting_bundle_help(HONE_SET_PRESET, 3), "batch processing"));
    assert_non_null(strstr(hone_setting_bundle_help(HONE_SET_PRESET, 4), "API-heavy"));
    assert_non_null(strstr(hone_setting_bundle_help(HONE_SET_PRESET, 1), "large repository"));
    assert_non_null(strstr(hone_setting_bundle_help(HONE_SET_PRESET, 2), "real-time"));
    assert_non_null(hone_setting_bundle_help(HONE_SET_CACHE_STRATEGY, 2));
    assert_null(hone_setting_bundle_help(HONE_SET_PRESET, 9));
    assert_null(hone_setting_bundle_help(HONE_SET_BATCH_SIZE, 0));
}

/* The loader: run once before the first resolution after it is set, again
 * by hone_settings_reload; it may set values itself; a failure is logged
 * once. */
static atomic_int loader_calls;
static int loader_fail;
static int test_loader(hone_error *err) {
    atomic_fetch_add(&loader_calls, 1);
    /* Setting and reading from inside the loader must not deadlock. */
    int rc = hone_setting_set(HONE_SET_BATCH_SIZE, NULL, HONE_ORIGIN_FILE, "77", "loader.ini:1", err);
    if (rc) return rc;
    (void)hone_setting_u64(HONE_SET_BATCH_SIZE, NULL);
    if (loader_fail) return hone_error_set(err, HONE_EPARSE, "loader.ini:2: broken");
    return HONE_OK;
}

static atomic_int warn_logs;
static void count_sink(void *ctx, hone_log_level level, const char *module, const char *msg) {
    (void)ctx;
    if (level == HONE_LOG_WARN && !strcmp(module, "opt") && strstr(msg, "loader.ini:2: broken"))
        atomic_fetch_add(&warn_logs, 1);
}

static void loader_runs_once_and_on_reload(void **state) {
    (void)state;
    reset();
    hone_log_set_sink(count_sink, NULL);
    hone_settings_set_loader(test_loader);
    assert_int_equal(atomic_load(&loader_calls), 0); /* not before a resolution */
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "77", HONE_ORIGIN_FILE, "loader.ini:1");
    get(HONE_SET_CACHE_SIZE, NULL);
    assert_int_equal(atomic_load(&loader_calls), 1);
    hone_settings_clear(HONE_ORIGIN_FILE);
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "64", HONE_ORIGIN_DEFAULT, "built-in");
    hone_error err = {0};
    assert_int_equal(hone_settings_reload(&err), HONE_OK);
    assert_int_equal(atomic_load(&loader_calls), 2);
    assert_state(get(HONE_SET_BATCH_SIZE, NULL), "77", HONE_ORIGIN_FILE, "loader.ini:1");
    /* A failing loader: reload returns its status; the implicit run logs
     * it, once. */
    loader_fail = 1;
    assert_int_equal(hone_settings_reload(&err), HONE_EPARSE);
    assert_string_equal(err.msg, "loader.ini:2: broken");
    hone_settings_set_loader(test_loader); /* runs again at the next resolution */
    get(HONE_SET_BATCH_SIZE, NULL);
    hone_settings_set_loader(test_loader);
    get(HONE_SET_BATCH_SIZE, NULL);
    assert_int_equal(atomic_load(&loader_calls), 5);
    assert_int_equal(atomic_load(&warn_logs), 1);
    loader_fail = 0;
    hone_settings_set_loader(NULL);
    hone_log_set_sink(NULL, NULL);
    assert_int_equal(hone_settings_reload(&err), HONE_OK); /* no loader: nothing to do */
    reset();
}

/* Every setting's variable is in the one environment table and validated
 * with the setting's parser. */
static void environment_table_has_every_setting(void **state) {
    (void)state;
    reset();
    const hone_env_var *vars = hone_env_vars();
    for (int i = 0; i < HONE_SETTING_COUNT; i++) {
        const hone_setting_info *r = hone_setting_info_get(i);
        const hone_env_var *v = vars;
        while (v->name && strcmp(v->name, r->env)) v++;
        if (!v->name) fail_msg("%s is not in hone_env_vars()", r->env);
        assert_string_equal(v->expected, r->expected);
        assert_non_null(strstr(v->help, r->name));
    }
    const hone_env_var *v = vars;
    while (v->name && strcmp(v->name, "HONE_CONFIG")) v++;
    assert_non_null(v->name);
    hone_error err;
    assert_int_equal(hone_env_validate(&err), HONE_OK);
    setenv("HONE_LEVEL", "extreme", 1);
    assert_int_equal(hone_env_validate(&err), HONE_EINVAL);
    assert_string_equal(err.msg, "HONE_LEVEL=extreme: expected one of basic, moderate, aggressive");
    unsetenv("HONE_LEVEL");
    setenv("HONE_BATCH_MAX_WAIT_MS", "10", 1); /* still milliseconds */
    assert_int_equal(hone_env_validate(&err), HONE_OK);
    assert_int_equal(hone_setting_u64(HONE_SET_BATCH_MAX_WAIT, NULL), 10000000u);
    setenv("HONE_BATCH_MAX_WAIT_MS", "2h", 1);
    assert_int_equal(hone_env_validate(&err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "HONE_BATCH_MAX_WAIT_MS=2h: expected a duration from 1ms to 1h"));
    unsetenv("HONE_BATCH_MAX_WAIT_MS");
    setenv("HONE_PRESTE", "batch", 1);
    assert_int_equal(hone_env_validate(&err), HONE_ENOTFOUND);
    assert_string_equal(err.msg, "HONE_PRESTE: unknown environment variable; did you mean HONE_PRESET?");
    unsetenv("HONE_PRESTE");
    /* hone_cache_dir reads cache.dir: the api layer too. */
    char *dir = NULL;
    assert_int_equal(hone_setting_set(HONE_SET_CACHE_DIR, NULL, HONE_ORIGIN_API, "/tmp/hone-x", NULL,
                                      &err),
                     HONE_OK);
    assert_int_equal(hone_cache_dir(&dir, NULL, &err), HONE_OK);
    assert_string_equal(dir, "/tmp/hone-x");
    hone_free(NULL, dir);
    reset();
}

/* Readers and writers at once: every read is one of the values written
 * (TSan checks the locking). */
static atomic_int stop_readers;
static void *reader(void *arg) {
    (void)arg;
    long bad = 0;
    while (!atomic_load(&stop_readers)) {
        hone_setting_state st;
        hone_setting_get(HONE_SET_BATCH_SIZE, "ingest", &st, NULL);
        if (st.value.u != 64 && st.value.u != 11 && st.value.u != 22) bad++;
        (void)hone_settings_generation();
    }
    return (void *)bad;
}

static void concurrent_readers_and_writers(void **state) {
    (void)state;
    reset();
    pthread_t th[4];
    atomic_store(&stop_readers, 0);
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&th[i], NULL, reader, NULL), 0);
    for (int i = 0; i < 2000; i++) {
        hone_setting_set(HONE_SET_BATCH_SIZE, "ingest", HONE_ORIGIN_API, i % 2 ? "11" : "22", NULL,
                         NULL);
        if (i % 3 == 0) hone_setting_unset(HONE_SET_BATCH_SIZE, "ingest", HONE_ORIGIN_API);
        if (i % 7 == 0) hone_settings_clear(HONE_ORIGIN_API);
    }
    atomic_store(&stop_readers, 1);
    for (int i = 0; i < 4; i++) {
        void *bad;
        pthread_join(th[i], &bad);
        assert_int_equal((long)bad, 0);
    }
    reset();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(parse_names_value_and_expectation),
    cmocka_unit_test(builtin_values_parse_and_bundles_are_ordered),
    cmocka_unit_test(lookup_by_name_or_variable),
    cmocka_unit_test(defaults_are_the_moderate_column),
    cmocka_unit_test(level_columns_change_values_with_origin_level),
    cmocka_unit_test(strategy_and_preset_bundles),
    cmocka_unit_test(layers_in_order),
    cmocka_unit_test(component_values_beat_global_layers),
    cmocka_unit_test(component_table_full_is_enomem),
    cmocka_unit_test(malformed_variable_gives_lower_value_and_einval),
    cmocka_unit_test(generation_changes_with_every_layer_change),
    cmocka_unit_test(bundles_list_levels_strategies_presets),
    cmocka_unit_test(loader_runs_once_and_on_reload),
    cmocka_unit_test(environment_table_has_every_setting),
    cmocka_unit_test(concurrent_readers_and_writers),
};
HONE_TEST_MAIN(tests)
