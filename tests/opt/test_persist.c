/* test_persist.c - hone_opt_persist edits the config file in place: keys
 * added, replaced and removed with every other byte kept, sections and
 * directories made, bad values and unparsable files refused, atomically. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hone/opt.h"
#include "test.h"
#include "tmpdir.h"

static char dir[256], ini[300];

static int group_setup(void **state) {
    (void)state;
    setenv("HONE_CONFIG", "off", 1);
    if (hone_test_tmpdir(dir, sizeof dir, "optpersist")) return -1;
    setenv("XDG_STATE_HOME", dir, 1);
    snprintf(ini, sizeof ini, "%s/hone.ini", dir);
    return 0;
}
static int group_teardown(void **state) {
    (void)state;
    hone_test_rmtree(dir);
    return 0;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}
static char *read_text(const char *path) {
    static char buf[8192];
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}
/* Persists and compares the whole file with what it must be. */
static void persist_expect(const char *name, const char *comp, const char *value,
                           const char *want) {
    hone_error err;
    int rc = hone_opt_persist(ini, name, comp, value, &err);
    if (rc != HONE_OK) fail_msg("persist %s=%s: %d %s", name, value ? value : "(remove)", rc, err.msg);
    const char *got = read_text(ini);
    if (!got || strcmp(got, want))
        fail_msg("after %s=%s:\n--- expected\n%s--- got\n%s---", name, value ? value : "(remove)",
                 want, got ? got : "(none)");
}
/* No "<file>.tmp.*" left in the directory. */
static void assert_no_temp(const char *d) {
    DIR *dd = opendir(d);
    assert_non_null(dd);
    struct dirent *de;
    while ((de = readdir(dd)))
        if (strstr(de->d_name, ".tmp.")) fail_msg("temporary file left: %s/%s", d, de->d_name);
    closedir(dd);
}

static const char base[] =
        "# my hone settings\n"
        "; written by hand\n"
        "level = basic   # for the laptop\n"
        "\n"
        "[cache]\n"
        "  size = 128M   ; enough\n"
        "# the ttl is not set on purpose\n"
        "\n"
        "[alert.slow-parse]\n"
        "metric = zone.parse.p99_ms\n"
        "above = 50\n"
        "\n"
        "[http]\n"
        "timeout: 20s\n";

static void test_add_replace_remove(void **state) {
    (void)state;
    write_text(ini, base);
    /* Replace in place: indentation and comment kept. */
    persist_expect("cache.size", NULL, "256M",
                   "# my hone settings\n; written by hand\nlevel = basic   # for the laptop\n\n"
                   "[cache]\n  size = 256M   ; enough\n# the ttl is not set on purpose\n\n"
                   "[alert.slow-parse]\nmetric = zone.parse.p99_ms\nabove = 50\n\n"
                   "[http]\ntimeout: 20s\n");
    persist_expect("level", NULL, "aggressive",
                   "# my hone settings\n; written by hand\nlevel = aggressive   # for the laptop\n\n"
                   "[cache]\n  size = 256M   ; enough\n# the ttl is not set on purpose\n\n"
                   "[alert.slow-parse]\nmetric = zone.parse.p99_ms\nabove = 50\n\n"
                   "[http]\ntimeout: 20s\n");
    /* Added after the section's last key; comments stay where they are. */
    persist_expect("HONE_CACHE_TTL", NULL, "5m",
                   "# my hone settings\n; written by hand\nlevel = aggressive   # for the laptop\n\n"
                   "[cache]\n  size = 256M   ; enough\nttl = 5m\n# the ttl is not set on purpose\n\n"
                   "[alert.slow-parse]\nmetric = zone.parse.p99_ms\nabove = 50\n\n"
                   "[http]\ntimeout: 20s\n");
    /* A new top-level key goes after the others; a new section at the end. */
    persist_expect("preset", NULL, "batch",
                   "# my hone settings\n; written by hand\nlevel = aggressive   # for the laptop\n"
                   "preset = batch\n\n"
                   "[cache]\n  size = 256M   ; enough\nttl = 5m\n# the ttl is not set on purpose\n\n"
                   "[alert.slow-parse]\nmetric = zone.parse.p99_ms\nabove = 50\n\n"
                   "[http]\ntimeout: 20s\n");
    persist_expect("batch.size", "parser", "32",
                   "# my hone settings\n; written by hand\nlevel = aggressive   # for the laptop\n"
                   "preset = batch\n\n"
                   "[cache]\n  size = 256M   ; enough\nttl = 5m\n# the ttl is not set on purpose\n\n"
                   "[alert.slow-parse]\nmetric = zone.parse.p99_ms\nabove = 50\n\n"
                   "[http]\ntimeout: 20s\n\n[component.parser]\nbatch_size = 32\n");
    /* Removing puts back exactly the bytes that were there before. */
    persist_expect("batch.size", "parser", NULL,
                   "# my hone settings\n; written by hand\nlevel = aggressive   # for the laptop\n"
                   "preset = batch\n\n"
                   "[cache]\n  size = 256M   ; enough\nttl = 5m\n# the ttl is not set on purpose\n\n"
                   "[alert.slow-parse]\nmetric = zone.parse.p99_ms\nabove = 50\n\n"
                   "[http]\ntimeout: 20s\n\n[component.parser]\n");
    persist_expect("cache.ttl", NULL, NULL,
                   "# my hone settings\n; written by hand\nlevel = aggressive   # for the laptop\n"
                   "preset = batch\n\n"
                   "[cache]\n  size = 256M   ; enough\n# the ttl is not set on purpose\n\n"
                   "[alert.slow-parse]\nmetric = zone.parse.p99_ms\nabove = 50\n\n"
                   "[http]\ntimeout: 20s\n\n[component.parser]\n");
    persist_expect("http.timeout", NULL, "45s",
                   "# my hone settings\n; written by hand\nlevel = aggressive   # for the laptop\n"
                   "preset = batch\n\n"
                   "[cache]\n  size = 256M   ; enough\n# the ttl is not set on purpose\n\n"
                   "[alert.slow-parse]\nmetric = zone.parse.p99_ms\nabove = 50\n\n"
                   "[http]\ntimeout: 45s\n\n[component.parser]\n");
    /* Removing a key that is not there changes nothing. */
    persist_expect("batch.max_wait", NULL, NULL,
                   "# my hone settings\n; written by hand\nlevel = aggressive   # for the laptop\n"
                   "preset = batch\n\n"
                   "[cache]\n  size = 256M   ; enough\n# the ttl is not set on purpose\n\n"
                   "[alert.slow-parse]\nmetric = zone.parse.p99_ms\nabove = 50\n\n"
                   "[http]\ntimeout: 45s\n\n[component.parser]\n");
    /* A file that opens with a section gets its first top-level key above. */
    write_text(ini, "[exec]\nmax_workers = 4\n");
    persist_expect("level", NULL, "basic", "level = basic\n\n[exec]\nmax_workers = 4\n");
    /* No newline at the end of the file. */
    write_text(ini, "[exec]\nmax_workers = 4");
    persist_expect("exec.parallel", NULL, "off", "[exec]\nmax_workers = 4\nparallel = off\n");
    assert_no_temp(dir);
}

static void test_create(void **state) {
    (void)state;
    char deep[400];
    snprintf(deep, sizeof deep, "%s/a/b/hone/hone.ini", dir);
    hone_error err;
    assert_int_equal(hone_opt_persist(deep, "cache.strategy", NULL, "hybrid", &err), HONE_OK);
    assert_string_equal(read_text(deep), "[cache]\nstrategy = hybrid\n");
    assert_int_equal(hone_opt_persist(deep, "level", NULL, "basic", &err), HONE_OK);
    assert_string_equal(read_text(deep), "level = basic\n\n[cache]\nstrategy = hybrid\n");
    char d[400];
    snprintf(d, sizeof d, "%s/a/b/hone", dir);
    assert_no_temp(d);
    /* HONE_CONFIG=off: no file to persist to. */
    assert_int_equal(hone_opt_persist(NULL, "level", NULL, "basic", &err), HONE_ENOTFOUND);
}

static void test_refusals(void **state) {
    (void)state;
    hone_error err;
    const char *good = "level = basic\n[cache]\nsize = 1M\n";
    write_text(ini, good);
    assert_int_equal(hone_opt_persist(ini, "cache.size", NULL, "huge", &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "huge"));
    assert_int_equal(hone_opt_persist(ini, "cache.size", NULL, "1K", &err), HONE_ERANGE);
    assert_int_equal(hone_opt_persist(ini, "cache.sise", NULL, "1M", &err), HONE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "did you mean cache.size?"));
    assert_int_equal(hone_opt_persist(ini, "level", NULL, "fast", &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "moderate"));
    assert_int_equal(hone_opt_persist(ini, "flow.retry_attempts", "parser", "3", &err), HONE_EINVAL);
    assert_int_equal(hone_opt_persist(ini, "cache.ttl", "bad name]", "3", &err), HONE_EINVAL);
    assert_int_equal(hone_opt_persist(ini, "cache.dir", NULL, "/x ; y", &err), HONE_EINVAL);
    assert_string_equal(read_text(ini), good);
    /* Files that do not parse are left alone. */
    const char *bad[] = {"level = basic\n[cache\nsize = 1M\n", "[cache]\nnot a key line\n",
                         "[cache]\nsize = lots\n[http]\ntimeout = 3s\n", "[cahce]\nsize = 1M\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(ini, bad[i]);
        int rc = hone_opt_persist(ini, "http.timeout", NULL, "5s", &err);
        if (rc != HONE_EPARSE) fail_msg("file\n%src %d (%s), expected HONE_EPARSE", bad[i], rc, err.msg);
        assert_non_null(strstr(err.msg, "left as it is"));
        assert_string_equal(read_text(ini), bad[i]);
    }
    /* ...but the bad value of the key being written is what persist fixes. */
    write_text(ini, "[cache]\nsize = lots\n");
    assert_int_equal(hone_opt_persist(ini, "cache.size", NULL, "2M", &err), HONE_OK);
    assert_string_equal(read_text(ini), "[cache]\nsize = 2M\n");
    assert_no_temp(dir);
}

static void test_reload_active(void **state) {
    (void)state;
    hone_error err;
    write_text(ini, "[batch]\nsize = 10\n");
    setenv("HONE_CONFIG", ini, 1);
    assert_int_equal(hone_opt_load(NULL, &err), HONE_OK);
    hone_setting_state st;
    assert_int_equal(hone_setting_get(HONE_SET_BATCH_SIZE, NULL, &st, NULL), HONE_OK);
    assert_int_equal(st.value.u, 10);
    assert_int_equal(hone_opt_persist(NULL, "batch.size", NULL, "20", &err), HONE_OK);
    assert_int_equal(hone_opt_persist(NULL, "level", NULL, "basic", &err), HONE_OK);
    assert_int_equal(hone_setting_get(HONE_SET_BATCH_SIZE, NULL, &st, NULL), HONE_OK);
    assert_int_equal(st.value.u, 20);
    assert_int_equal(st.origin, HONE_ORIGIN_FILE);
    char where[400];
    snprintf(where, sizeof where, "%s:4", ini);
    assert_string_equal(st.where, where);
    setenv("HONE_CONFIG", "off", 1);
    hone_settings_clear(HONE_ORIGIN_FILE);
}

static int persist_calls(const hone_allocator *a, void *ctx) {
    (void)a, (void)ctx;
    hone_error err;
    write_text(ini, base);
    int rc = hone_opt_persist(ini, "cache.ttl", NULL, "5m", &err);
    if (!rc) rc = hone_opt_persist(ini, "batch.size", "parser", "4", &err);
    if (!rc) rc = hone_opt_persist(ini, "cache.ttl", NULL, NULL, &err);
    return rc;
}

static void test_oom(void **state) {
    (void)state;
    assert_true(failalloc_loop("persist", persist_calls, NULL) > 0);
    /* After every failed run the file was whole: either before or after. */
    assert_no_temp(dir);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_replace_remove), cmocka_unit_test(test_create),
        cmocka_unit_test(test_refusals),           cmocka_unit_test(test_reload_active),
        cmocka_unit_test(test_oom),
};
HONE_TEST_MAIN_FIXTURES(tests, group_setup, group_teardown)
