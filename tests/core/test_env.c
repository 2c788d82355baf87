/* test_env.c - value parsers, HONE_* environment helpers, validation of
 * every set HONE_* variable, and "did you mean" suggestions. */
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void parse_u64_accepts_range_and_rejects_the_rest(void **state) {
    (void)state;
    hone_error err;
    uint64_t v = 99;
    assert_int_equal(hone_parse_u64("--runs", "10", 1, 100, &v, &err), HONE_OK);
    assert_int_equal(v, 10);
    assert_int_equal(hone_parse_u64("--runs", "0x10", 1, 100, &v, &err), HONE_OK);
    assert_int_equal(v, 16);
    v = 99;
    assert_int_equal(hone_parse_u64("--runs", "0", 1, 100, &v, &err), HONE_EINVAL);
    assert_string_equal(err.msg, "--runs=0: expected an integer from 1 to 100");
    assert_int_equal(v, 99); /* unchanged on error */
    assert_int_equal(hone_parse_u64("--runs", "-5", 0, 100, &v, &err), HONE_EINVAL);
    assert_int_equal(hone_parse_u64("--runs", "12abc", 0, 100, &v, &err), HONE_EINVAL);
    assert_int_equal(hone_parse_u64("--runs", "", 0, 100, &v, &err), HONE_EINVAL);
    assert_int_equal(hone_parse_u64("--runs", "99999999999999999999999", 0, UINT64_MAX, &v, &err),
                     HONE_EINVAL);
}

static void parse_i64_and_double(void **state) {
    (void)state;
    hone_error err;
    int64_t i;
    double d;
    assert_int_equal(hone_parse_i64("x", "-42", -100, 100, &i, &err), HONE_OK);
    assert_int_equal(i, -42);
    assert_int_equal(hone_parse_i64("x", "-420", -100, 100, &i, &err), HONE_EINVAL);
    assert_string_equal(err.msg, "x=-420: expected an integer from -100 to 100");
    assert_int_equal(hone_parse_double("p", "0.25", 0, 1, &d, &err), HONE_OK);
    assert_true(d == 0.25);
    assert_int_equal(hone_parse_double("p", "nan", 0, 1, &d, &err), HONE_EINVAL);
    assert_int_equal(hone_parse_double("p", "1.5", 0, 1, &d, &err), HONE_EINVAL);
    assert_string_equal(err.msg, "p=1.5: expected a number from 0 to 1");
}

static void parse_bool_and_enum(void **state) {
    (void)state;
    hone_error err;
    int b = -1, e = -1;
    assert_int_equal(hone_parse_bool("HONE_X", "On", &b, &err), HONE_OK);
    assert_int_equal(b, 1);
    assert_int_equal(hone_parse_bool("HONE_X", "0", &b, &err), HONE_OK);
    assert_int_equal(b, 0);
    assert_int_equal(hone_parse_bool("HONE_X", "maybe", &b, &err), HONE_EINVAL);
    assert_string_equal(err.msg, "HONE_X=maybe: expected one of 1, 0, true, false, yes, no, on, off");
    static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
    assert_int_equal(hone_parse_enum("HONE_LOG", "info", levels, &e, &err), HONE_OK);
    assert_int_equal(e, 2);
    assert_int_equal(hone_parse_enum("HONE_LOG", "loud", levels, &e, &err), HONE_EINVAL);
    assert_string_equal(err.msg, "HONE_LOG=loud: expected one of error, warn, info, debug");
}

static void parse_size_and_duration(void **state) {
    (void)state;
    hone_error err;
    uint64_t v;
    assert_int_equal(hone_parse_size("--mem", "64M", 0, UINT64_MAX, &v, &err), HONE_OK);
    assert_int_equal(v, 64u << 20);
    assert_int_equal(hone_parse_size("--mem", "2KiB", 0, UINT64_MAX, &v, &err), HONE_OK);
    assert_int_equal(v, 2048);
    assert_int_equal(hone_parse_size("--mem", "12", 0, UINT64_MAX, &v, &err), HONE_OK);
    assert_int_equal(v, 12);
    assert_int_equal(hone_parse_size("--mem", "12X", 0, UINT64_MAX, &v, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "--mem=12X: expected a size like 64M"));
    assert_int_equal(hone_parse_duration("--timeout", "250ms", 1, &v, &err), HONE_OK);
    assert_int_equal(v, 250000000u);
    assert_int_equal(hone_parse_duration("--timeout", "1.5s", 1, &v, &err), HONE_OK);
    assert_int_equal(v, 1500000000u);
    assert_int_equal(hone_parse_duration("--timeout", "3", 1000000, &v, &err), HONE_OK);
    assert_int_equal(v, 3000000u); /* bare numbers take the default unit */
    assert_int_equal(hone_parse_duration("--timeout", "3 parsecs", 1, &v, &err), HONE_EINVAL);
    assert_string_equal(err.msg,
                        "--timeout=3 parsecs: expected a duration like 250ms (units ns, us, ms, s, m, h)");
    assert_int_equal(hone_parse_duration("--timeout", "-1s", 1, &v, &err), HONE_EINVAL);
}

static void parse_rate_reads_units_off_and_zero(void **state) {
    (void)state;
    hone_error err;
    double r = -1;
    assert_int_equal(hone_parse_rate("--rate", "100/s", &r, &err), HONE_OK);
    assert_true(r == 100);
    assert_int_equal(hone_parse_rate("--rate", "6000/min", &r, &err), HONE_OK);
    assert_true(r == 100);
    assert_int_equal(hone_parse_rate("--rate", "7200/h", &r, &err), HONE_OK);
    assert_true(r == 2);
    assert_int_equal(hone_parse_rate("--rate", "2.5/s", &r, &err), HONE_OK);
    assert_true(r == 2.5);
    assert_int_equal(hone_parse_rate("--rate", "100", &r, &err), HONE_OK);
    assert_true(r == 100);
    assert_int_equal(hone_parse_rate("--rate", "off", &r, &err), HONE_OK);
    assert_true(isinf(r) && r > 0);
    assert_int_equal(hone_parse_rate("--rate", "0/s", &r, &err), HONE_OK);
    assert_true(r == 0);
    static const char *const bad[] = {"fast", "10/x", "-1/s", "1e400/s", "", "10/", "/s",
                                      "inf/s", "nan", "10 /s", "5/s/s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = 42;
        assert_int_equal(hone_parse_rate("HONE_RATE_LIMIT", bad[i], &r, &err), HONE_EINVAL);
        assert_true(r == 42); /* unchanged on error */
        char want[128];
        snprintf(want, sizeof want,
                 "HONE_RATE_LIMIT=%s: expected a rate like 100/s or 6000/min (per s, min or h), or off",
                 bad[i]);
        assert_string_equal(err.msg, want);
    }
}

static void env_helpers_default_when_unset_and_name_the_variable(void **state) {
    (void)state;
    hone_error err;
    uint64_t v = 0;
    unsetenv("HONE_TESTVAR");
    assert_int_equal(hone_env_u64("HONE_TESTVAR", 1, 10, 7, &v, &err), HONE_OK);
    assert_int_equal(v, 7);
    setenv("HONE_TESTVAR", "", 1);
    assert_int_equal(hone_env_u64("HONE_TESTVAR", 1, 10, 7, &v, &err), HONE_OK);
    assert_int_equal(v, 7);
    setenv("HONE_TESTVAR", "11", 1);
    assert_int_equal(hone_env_u64("HONE_TESTVAR", 1, 10, 7, &v, &err), HONE_EINVAL);
    assert_string_equal(err.msg, "HONE_TESTVAR=11: expected an integer from 1 to 10");
    int b;
    setenv("HONE_TESTVAR", "yes", 1);
    assert_int_equal(hone_env_bool("HONE_TESTVAR", 0, &b, &err), HONE_OK);
    assert_int_equal(b, 1);
    setenv("HONE_TESTVAR", "2s", 1);
    assert_int_equal(hone_env_duration("HONE_TESTVAR", 1000000, 5, &v, &err), HONE_OK);
    assert_int_equal(v, 2000000000u);
    unsetenv("HONE_TESTVAR");
}

static void validate_reports_bad_values_and_unknown_names(void **state) {
    (void)state;
    hone_error err;
    unsetenv("HONE_TESTVAR");
    assert_int_equal(hone_env_validate(&err), HONE_OK);
    setenv("HONE_LOG", "loud", 1);
    assert_int_equal(hone_env_validate(&err), HONE_EINVAL);
    assert_string_equal(err.msg, "HONE_LOG=loud: expected one of error, warn, info, debug");
    setenv("HONE_LOG", "debug", 1);
    assert_int_equal(hone_env_validate(&err), HONE_OK);
    unsetenv("HONE_LOG");
    setenv("HONE_CLOKC", "tsc", 1);
    assert_int_equal(hone_env_validate(&err), HONE_ENOTFOUND);
    assert_string_equal(err.msg, "HONE_CLOKC: unknown environment variable; did you mean HONE_CLOCK?");
    unsetenv("HONE_CLOKC");
    setenv("HONE_RATE_LIMIT", "6000/min", 1);
    assert_int_equal(hone_env_validate(&err), HONE_OK);
    double rate = 0;
    assert_int_equal(hone_env_rate("HONE_RATE_LIMIT", 1, &rate, &err), HONE_OK);
    assert_true(rate == 100);
    setenv("HONE_RATE_LIMIT", "fast", 1);
    assert_int_equal(hone_env_validate(&err), HONE_EINVAL);
    assert_string_equal(err.msg,
                        "HONE_RATE_LIMIT=fast: expected a rate like 100/s or 6000/min (per s, min or h), or off");
    unsetenv("HONE_RATE_LIMIT");
    assert_int_equal(hone_env_rate("HONE_RATE_LIMIT", 7, &rate, &err), HONE_OK);
    assert_true(rate == 7);
    setenv("HONE_CPU_MASK", "avx2,nope", 1);
    assert_int_equal(hone_env_validate(&err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "unknown feature 'nope'"));
    unsetenv("HONE_CPU_MASK");
}

static void env_table_lists_every_variable_once(void **state) {
    (void)state;
    const hone_env_var *v = hone_env_vars();
    int n = 0, seen_log = 0;
    for (; v[n].name; n++) {
        assert_true(strncmp(v[n].name, "HONE_", 5) == 0);
        assert_non_null(v[n].expected);
        assert_non_null(v[n].help);
        if (!strcmp(v[n].name, "HONE_LOG")) {
            seen_log = 1;
            assert_string_equal(v[n].expected, "one of error,warn,info,debug");
        }
        for (int j = 0; j < n; j++) assert_string_not_equal(v[j].name, v[n].name);
    }
    assert_true(n >= 3);
    assert_true(seen_log);
}

static void nearest_name_suggests_close_names_only(void **state) {
    (void)state;
    static const char *const cmds[] = {"sysinfo", "demo", "bench", "cache", "manifest"};
    assert_string_equal(hone_nearest_name("sysinf", cmds, 5), "sysinfo");
    assert_string_equal(hone_nearest_name("bnech", cmds, 5), "bench");
    assert_string_equal(hone_nearest_name("manfest", cmds, 5), "manifest");
    assert_string_equal(hone_nearest_name("man", cmds, 5), "manifest"); /* prefix */
    assert_null(hone_nearest_name("frobnicate", cmds, 5));
    assert_null(hone_nearest_name("", cmds, 5));
}

/* Numbers are decimal unless they say 0x: "010" is ten, not eight, and
 * "08" is eight, not an error (C's octal literals surprise people). */
static void parse_numbers_are_never_octal(void **state) {
    (void)state;
    hone_error err;
    uint64_t u = 0;
    assert_int_equal(hone_parse_u64("--runs", "010", 0, 1000, &u, &err), HONE_OK);
    assert_int_equal(u, 10);
    assert_int_equal(hone_parse_u64("--runs", "08", 0, 1000, &u, &err), HONE_OK);
    assert_int_equal(u, 8);
    assert_int_equal(hone_parse_u64("--size", "0100", 0, 1000, &u, &err), HONE_OK);
    assert_int_equal(u, 100);
    assert_int_equal(hone_parse_u64("--size", "0x10", 0, 1000, &u, &err), HONE_OK);
    assert_int_equal(u, 16);
    assert_int_equal(hone_parse_u64("--size", "0x", 0, 1000, &u, &err), HONE_EINVAL);
    int64_t i = 0;
    assert_int_equal(hone_parse_i64("--n", "-010", -100, 100, &i, &err), HONE_OK);
    assert_int_equal(i, -10);
    assert_int_equal(hone_parse_i64("--n", "-0x10", -100, 100, &i, &err), HONE_OK);
    assert_int_equal(i, -16);
}

/* An error message stays one line whatever value it quotes: a newline or
 * an escape sequence in the value is shown escaped, never raw. */
static void error_messages_stay_one_line(void **state) {
    (void)state;
    hone_error err;
    uint64_t u = 0;
    assert_int_equal(hone_parse_u64("--runs", "1\n2\x1b[2J", 0, 10, &u, &err), HONE_EINVAL);
    assert_null(strchr(err.msg, '\n'));
    assert_null(strchr(err.msg, '\x1b'));
    assert_non_null(strstr(err.msg, "--runs=1\\n2\\x1b[2J: expected an integer"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(parse_u64_accepts_range_and_rejects_the_rest),
    cmocka_unit_test(parse_i64_and_double),
    cmocka_unit_test(parse_numbers_are_never_octal),
    cmocka_unit_test(error_messages_stay_one_line),
    cmocka_unit_test(parse_bool_and_enum),
    cmocka_unit_test(parse_size_and_duration),
    cmocka_unit_test(parse_rate_reads_units_off_and_zero),
    cmocka_unit_test(env_helpers_default_when_unset_and_name_the_variable),
    cmocka_unit_test(validate_reports_bad_values_and_unknown_names),
    cmocka_unit_test(env_table_lists_every_variable_once),
    cmocka_unit_test(nearest_name_suggests_close_names_only),
};
HONE_TEST_MAIN(tests)
