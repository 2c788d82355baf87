/* test_journal.c - the optimizer's journal as a file: its default path,
 * its history output (text and JSON), that every operation only ever
 * appends, and how damaged files are reported. */
#include "test.h"
#include "tmpdir.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hone/opt.h"
#include "opt/journal_internal.h"

static char dir[256];

static int group_setup(void **state) {
    (void)state;
    setenv("HONE_CONFIG", "off", 1);
    return hone_test_tmpdir(dir, sizeof dir, "journal");
}

static int group_teardown(void **state) {
    (void)state;
    hone_settings_clear(HONE_ORIGIN_AUTO);
    hone_test_rmtree(dir);
    return 0;
}

/* The whole file, NUL-terminated, into a static buffer. */
static char *slurp(const char *path, size_t *len) {
    static char buf[1 << 16];
    FILE *f = fopen(path, "rb");
    size_t n = 0;
    if (f) {
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static void expect_batch(uint64_t value, int origin, const char *where) {
    hone_setting_state st;
    assert_int_equal(hone_setting_get(HONE_SET_BATCH_SIZE, NULL, &st, NULL), HONE_OK);
    if (st.value.u != value || st.origin != origin || (where && strcmp(where, st.where)))
        fail_msg("batch.size: expected %llu from %s (%s), got %llu from %s (%s)",
                 (unsigned long long)value, hone_origin_name(origin), where ? where : "*",
                 (unsigned long long)st.value.u, hone_origin_name(st.origin), st.where);
}

/* Default path: XDG_STATE_HOME when absolute, else ~/.local/state; none
 * with HONE_CONFIG=off, so tests never touch the user's journal. */
static void default_path(void **state) {
    char *p = NULL;
    hone_error err = {0};
    assert_int_equal(hone_opt_journal_path(&p, NULL, &err), HONE_ENOTFOUND);
    assert_null(p);
    assert_non_null(strstr(err.msg, "HONE_CONFIG=off"));
    /* Nothing is replayed, nothing to undo, an empty history. */
    assert_int_equal(hone_opt_journal_replay(NULL, &err), HONE_OK);
    assert_int_equal(hone_opt_journal_undo(NULL, NULL, 0, &err), HONE_ENOTFOUND);
    hone_buf b = {0};
    assert_int_equal(hone_opt_journal_format(NULL, &b, 1, &err), HONE_OK);
    assert_string_equal(b.data, "[]\n");
    hone_buf_free(&b);

    char *old_state = getenv("XDG_STATE_HOME") ? strdup(getenv("XDG_STATE_HOME")) : NULL;
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    unsetenv("HONE_CONFIG");
    setenv("XDG_STATE_HOME", "/x/state", 1);
    assert_int_equal(hone_opt_journal_path(&p, NULL, &err), HONE_OK);
    assert_string_equal(p, "/x/state/hone/journal.jsonl");
    hone_free(NULL, p);
    setenv("XDG_STATE_HOME", "relative", 1);
    setenv("HOME", "/home/u", 1);
    assert_int_equal(hone_opt_journal_path(&p, NULL, &err), HONE_OK);
    assert_string_equal(p, "/home/u/.local/state/hone/journal.jsonl");
    hone_free(NULL, p);
    unsetenv("XDG_STATE_HOME");
    unsetenv("HOME");
    assert_int_equal(hone_opt_journal_path(&p, NULL, &err), HONE_ENOTFOUND);
    if (old_state) setenv("XDG_STATE_HOME", old_state, 1);
    if (old_home) setenv("HOME", old_home, 1);
    free(old_state);
    free(old_home);
    setenv("HONE_CONFIG", "off", 1);
}

static const char sample[] =
    "{\"seq\":1,\"time\":\"2026-12-04T16:20:00Z\",\"setting\":\"batch.size\",\"component\":null,"
    "\"before\":\"64\",\"after\":\"128\",\"before_origin\":\"default\",\"evidence\":\"mean 600 -> 900\","
    "\"outcome\":\"kept\"}\n"
    "{\"seq\":2,\"time\":\"2026-12-04T16:21:00Z\",\"setting\":\"cache.size\",\"component\":null,"
    "\"before\":\"64M\",\"after\":\"64M\",\"before_origin\":\"env\",\"evidence\":\"explicit\","
    "\"outcome\":\"skipped\"}\n"
    "\n"
    "{\"seq\":4,\"time\":\"2026-12-04T16:22:00Z\",\"setting\":\"batch.size\",\"component\":\"parser\","
    "\"before\":\"64\",\"after\":\"32\",\"evidence\":\"mean 900 -> 700\",\"outcome\":\"reverted\"}\n"
    "{\"seq\":5,\"time\":\"2026-12-04T16:23:00Z\",\"setting\":\"batch.size\",\"component\":null,"
    "\"before\":\"128\",\"after\":\"64\",\"evidence\":\"undo of #1\",\"outcome\":\"undone\",\"ref\":1}\n";

/* The history as text: one line per event, a kept change marked with what
 * undid it; as JSON: the stored lines, in an array. */
static void format_text_and_json(void **state) {
    char path[320];
    path_in(path, sizeof path, "format.jsonl");
    write_file(path, sample);
    hone_buf b = {0};
    hone_error err = {0};
    assert_int_equal(hone_opt_journal_format(path, &b, 0, &err), HONE_OK);
    assert_string_equal(b.data,
        "#1 2026-12-04T16:20:00Z batch.size 64 -> 128: kept (undone by #5); mean 600 -> 900\n"
        "#2 2026-12-04T16:21:00Z cache.size 64M: skipped; explicit\n"
        "#4 2026-12-04T16:22:00Z batch.size[parser] 64 -> 32: reverted; mean 900 -> 700\n"
        "#5 2026-12-04T16:23:00Z batch.size 128 -> 64: undone (of #1); undo of #1\n");
    hone_buf_clear(&b);
    assert_int_equal(hone_opt_journal_format(path, &b, 1, &err), HONE_OK);
    /* Lines 1, 2, 4 and 5 of the file (the blank one carries nothing). */
    char want[sizeof sample + 64];
    const char *l1 = sample, *l2 = strchr(l1, '\n') + 1, *l4 = strchr(l2, '\n') + 2,
               *l5 = strchr(l4, '\n') + 1;
    snprintf(want, sizeof want, "[\n%.*s,\n%.*s,\n%.*s,\n%.*s\n]\n", (int)(l2 - l1 - 1), l1,
             (int)(l4 - l2 - 2), l2, (int)(l5 - l4 - 1), l4, (int)strlen(l5) - 1, l5);
    assert_string_equal(b.data, want);
    /* A replay of it: change #1 was undone, so no auto value. */
    hone_settings_clear(HONE_ORIGIN_AUTO);
    assert_int_equal(hone_opt_journal_replay(path, &err), HONE_OK);
    expect_batch(64, HONE_ORIGIN_DEFAULT, NULL);
    hone_buf_free(&b);
    /* No file: an empty history. */
    path_in(path, sizeof path, "none.jsonl");
    assert_int_equal(hone_opt_journal_format(path, &b, 0, &err), HONE_OK);
    assert_non_null(strstr(b.data, "no journal entries"));
    hone_buf_free(&b);
}

/* Every operation leaves the earlier bytes as they were: appends grow the
 * file, replay and format do not write. Directories are made as needed. */
static void append_only(void **state) {
    char path[320];
    path_in(path, sizeof path, "deep/er/journal.jsonl");
    static char before[1 << 16];
    size_t blen = 0, len;
    hone_settings_clear(HONE_ORIGIN_AUTO);
#define CHECK_PREFIX(what, grew)                                                            \
    do {                                                                                    \
        char *now_ = slurp(path, &len);                                                     \
        if (len < blen || memcmp(now_, before, blen) || (grew) != (len > blen))             \
            fail_msg("%s: the journal went from %zu to %zu bytes%s", what, blen, len,       \
                     len >= blen && !memcmp(now_, before, blen) ? "" : ", earlier bytes changed"); \
        memcpy(before, now_, len);                                                          \
        blen = len;                                                                         \
    } while (0)
    hone__journal_entry e = {.setting = "batch.size", .before = "64", .after = "128",
                             .before_origin = "default", .evidence = "e1", .outcome = "kept"};
    uint64_t seq = 0;
    hone_error err = {0};
    assert_int_equal(hone__journal_append(path, &e, &seq, NULL, &err), HONE_OK);
    assert_int_equal(seq, 1);
    CHECK_PREFIX("first append", 1);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    e.before = "128";
    e.after = "256";
    e.before_origin = "auto";
    assert_int_equal(hone__journal_append(path, &e, &seq, NULL, &err), HONE_OK);
    assert_int_equal(seq, 2);
    CHECK_PREFIX("second append", 1);
    e.outcome = "reverted";
    e.after = "512";
    assert_int_equal(hone__journal_append(path, &e, &seq, NULL, &err), HONE_OK);
    CHECK_PREFIX("reverted", 1);
    assert_int_equal(hone_opt_journal_replay(path, &err), HONE_OK);
    CHECK_PREFIX("replay", 0);
    expect_batch(256, HONE_ORIGIN_AUTO, "journal #2");
    hone_buf b = {0};
    assert_int_equal(hone_opt_journal_format(path, &b, 0, &err), HONE_OK);
    assert_int_equal(hone_opt_journal_format(path, &b, 1, &err), HONE_OK);
    hone_buf_free(&b);
    CHECK_PREFIX("format", 0);
    char what[200];
    assert_int_equal(hone_opt_journal_undo(path, what, sizeof what, &err), HONE_OK);
    CHECK_PREFIX("undo", 1);
    expect_batch(128, HONE_ORIGIN_AUTO, "journal #1");
    assert_non_null(strstr(before, "\"outcome\":\"undone\",\"ref\":2}\n"));
    assert_int_equal(hone_opt_journal_undo(path, what, sizeof what, &err), HONE_OK);
    CHECK_PREFIX("second undo", 1);
    expect_batch(64, HONE_ORIGIN_DEFAULT, NULL);
    assert_int_equal(hone_opt_journal_undo(path, what, sizeof what, &err), HONE_ENOTFOUND);
    CHECK_PREFIX("nothing to undo", 0);
    /* Another setting's later change is undone first (last in, first out). */
    e = (hone__journal_entry){.setting = "exec.parallel_threshold", .before = "1", .after = "2",
                              .outcome = "kept"};
    assert_int_equal(hone__journal_append(path, &e, &seq, NULL, &err), HONE_OK);
    CHECK_PREFIX("another setting", 1);
    assert_int_equal(hone_opt_journal_undo(path, what, sizeof what, &err), HONE_OK);
    assert_non_null(strstr(what, "exec.parallel_threshold"));
    CHECK_PREFIX("undo of it", 1);
#undef CHECK_PREFIX
    hone_settings_clear(HONE_ORIGIN_AUTO);
}

/* Text that JSON must escape, and bytes that are not UTF-8, still make one
 * line that reads back. */
static void escapes_round_trip(void **state) {
    char path[320];
    path_in(path, sizeof path, "escape.jsonl");
    hone__journal_entry e = {.setting = "batch.size", .component = "a\"b\\c",
                             .before = "64", .after = "128",
                             .evidence = "quote \" back \\ new\nline tab\t bad \xff\xfe end \xc3\xa9",
                             .outcome = "reverted"};
    hone_error err = {0};
    assert_int_equal(hone__journal_append(path, &e, NULL, NULL, &err), HONE_OK);
    size_t len;
    char *text = slurp(path, &len);
    assert_int_equal(strchr(text, '\n') - text, (long)len - 1);
    hone_buf b = {0};
    assert_int_equal(hone_opt_journal_format(path, &b, 0, &err), HONE_OK);
    assert_non_null(strstr(b.data, "batch.size[a\"b\\c] 64 -> 128: reverted; quote \" back \\ new\nline"));
    assert_non_null(strstr(b.data, "bad \xef\xbf\xbd\xef\xbf\xbd end \xc3\xa9"));
    hone_buf_free(&b);
}

/* A last line without its newline (a crash mid-write) is ignored by replay
 * and format with a warning; nothing is appended after it. */
static void torn_last_line(void **state) {
    char path[320];
    path_in(path, sizeof path, "torn.jsonl");
    write_file(path,
               "{\"seq\":1,\"setting\":\"batch.size\",\"before\":\"64\",\"after\":\"128\","
               "\"outcome\":\"kept\"}\n"
               "{\"seq\":2,\"setting\":\"batch.size\",\"before\":\"128\",\"af");
    size_t len0;
    char copy[4096];
    char *orig = slurp(path, &len0);
    memcpy(copy, orig, len0 + 1);
    hone_settings_clear(HONE_ORIGIN_AUTO);
    hone_error err = {0};
    assert_int_equal(hone_opt_journal_replay(path, &err), HONE_OK);
    expect_batch(128, HONE_ORIGIN_AUTO, "journal #1");
    hone_buf b = {0};
    assert_int_equal(hone_opt_journal_format(path, &b, 0, &err), HONE_OK);
    assert_non_null(strstr(b.data, "line 2 is incomplete"));
    hone_buf_free(&b);
    int rc = hone_opt_journal_undo(path, NULL, 0, &err);
    char want[340];
    snprintf(want, sizeof want, "%s:2:", path);
    if (rc != HONE_ECORRUPT || !strstr(err.msg, want))
        fail_msg("undo after a torn line: %s (%s), expected HONE_ECORRUPT naming %s",
                 hone_status_name(rc), err.msg, want);
    hone__journal_entry e = {.setting = "batch.size", .before = "1", .after = "2", .outcome = "kept"};
    assert_int_equal(hone__journal_append(path, &e, NULL, NULL, &err), HONE_ECORRUPT);
    size_t len1;
    char *after = slurp(path, &len1);
    assert_int_equal(len1, len0);
    assert_memory_equal(after, copy, len0);
    expect_batch(128, HONE_ORIGIN_AUTO, "journal #1");
    hone_settings_clear(HONE_ORIGIN_AUTO);
}

/* Lines that parse as JSON but are not journal lines are corrupt too,
 * each named by path:line, and nothing of the file is applied. */
static void bad_lines(void **state) {
    static const struct {
        const char *second, *why;
    } cases[] = {
        {"{\"seq\":1,\"setting\":\"batch.size\",\"before\":\"1\",\"after\":\"2\",\"outcome\":\"kept\"}",
         "does not increase"},
        {"{\"seq\":2,\"setting\":\"batch.size\",\"before\":\"1\",\"after\":\"2\",\"outcome\":\"maybe\"}",
         "maybe"},
        {"{\"seq\":2,\"setting\":\"batch.size\",\"before\":\"1\",\"after\":\"2\",\"outcome\":\"undone\",\"ref\":7}",
         "ref"},
        {"{\"seq\":2,\"setting\":\"batch.size\",\"outcome\":\"kept\"}", "before"},
        {"[1,2,3]", "not a JSON object"},
        {"{\"seq\":2,\"setting\":\"batch.size\",\"before\":\"1\",\"after\":\"2\",\"outcome\":\"kept\"", "not JSON"},
    };
    char path[320];
    path_in(path, sizeof path, "bad.jsonl");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text,
                 "{\"seq\":1,\"setting\":\"batch.size\",\"before\":\"64\",\"after\":\"128\","
                 "\"outcome\":\"kept\"}\n%s\n", cases[i].second);
        write_file(path, text);
        hone_settings_clear(HONE_ORIGIN_AUTO);
        hone_error err = {0};
        int rc = hone_opt_journal_replay(path, &err);
        char want[340];
        snprintf(want, sizeof want, "%s:2: ", path);
        if (rc != HONE_ECORRUPT || !strstr(err.msg, want) || !strstr(err.msg, cases[i].why))
            fail_msg("case %zu: %s (%s), expected HONE_ECORRUPT naming %s and \"%s\"", i,
                     hone_status_name(rc), err.msg, want, cases[i].why);
        expect_batch(64, HONE_ORIGIN_DEFAULT, NULL);
        hone_buf b = {0};
        assert_int_equal(hone_opt_journal_format(path, &b, 0, &err), HONE_ECORRUPT);
        assert_true(b.len == 0);
        hone_buf_free(&b);
    }
    /* A setting this build does not know, or a value it no longer takes,
     * is left out with a warning; the rest applies. */
    write_file(path,
               "{\"seq\":1,\"setting\":\"batch.size\",\"before\":\"64\",\"after\":\"128\",\"outcome\":\"kept\"}\n"
               "{\"seq\":2,\"setting\":\"future.knob\",\"before\":\"1\",\"after\":\"2\",\"outcome\":\"kept\"}\n"
               "{\"seq\":3,\"setting\":\"exec.parallel_threshold\",\"before\":\"1\",\"after\":\"0\",\"outcome\":\"kept\"}\n");
    assert_int_equal(hone_opt_journal_replay(path, NULL), HONE_OK);
    expect_batch(128, HONE_ORIGIN_AUTO, "journal #1");
    hone_settings_clear(HONE_ORIGIN_AUTO);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(default_path),
    cmocka_unit_test(format_text_and_json),
    cmocka_unit_test(append_only),
    cmocka_unit_test(escapes_round_trip),
    cmocka_unit_test(torn_last_line),
    cmocka_unit_test(bad_lines),
};

HONE_TEST_MAIN_FIXTURES(tests, group_setup, group_teardown)
