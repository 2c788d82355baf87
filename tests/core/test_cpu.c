/* test_cpu.c - CPU feature detection and the HONE_CPU_MASK override used
 * to force portable fallbacks. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

static void mask_parsing_and_closure(void **state) {
    (void)state;
    hone_error err;
    uint32_t m = 0;
    assert_int_equal(hone_cpu_parse_mask("avx512", &m, &err), HONE_OK);
    assert_int_equal(m, HONE_CPU_AVX512F | HONE_CPU_AVX512VL);
    /* Masking AVX2 also masks AVX-512, which builds on it. */
    assert_int_equal(hone_cpu_parse_mask("avx2", &m, &err), HONE_OK);
    assert_int_equal(m, HONE_CPU_AVX2 | HONE_CPU_AVX512F | HONE_CPU_AVX512VL);
    assert_int_equal(hone_cpu_parse_mask(" sse4.1 , sha ", &m, &err), HONE_OK);
    assert_int_equal(m, HONE_CPU_SSE41 | HONE_CPU_AVX2 | HONE_CPU_AVX512F | HONE_CPU_AVX512VL |
                            HONE_CPU_SHA);
    assert_int_equal(hone_cpu_parse_mask("", &m, &err), HONE_OK);
    assert_int_equal(m, 0);
    assert_int_equal(hone_cpu_parse_mask("avx2,avx9", &m, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "HONE_CPU_MASK=avx2,avx9: unknown feature 'avx9'"));
}

static void mask_removes_features_from_what_is_usable(void **state) {
    (void)state;
    hone_error err;
    unsetenv("HONE_CPU_MASK");
    assert_int_equal(hone_cpu_reload(&err), HONE_OK);
    uint32_t hw = hone_cpu_features_hw();
    assert_int_equal(hone_cpu_features(), hw);
    setenv("HONE_CPU_MASK", "avx2", 1);
    assert_int_equal(hone_cpu_reload(&err), HONE_OK);
    assert_false(hone_cpu_has(HONE_CPU_AVX2));
    assert_false(hone_cpu_has(HONE_CPU_AVX512F));
    assert_int_equal(hone_cpu_features() & HONE_CPU_SSE41, hw & HONE_CPU_SSE41);
    setenv("HONE_CPU_MASK", "all", 1);
    assert_int_equal(hone_cpu_reload(&err), HONE_OK);
    assert_int_equal(hone_cpu_features() & ~(uint32_t)HONE_CPU_INVARIANT_TSC, 0);
    /* An invalid mask is reported and not applied. */
    setenv("HONE_CPU_MASK", "bogus", 1);
    assert_int_equal(hone_cpu_reload(&err), HONE_EINVAL);
    assert_int_equal(hone_cpu_features(), hw);
    unsetenv("HONE_CPU_MASK");
    assert_int_equal(hone_cpu_reload(NULL), HONE_OK);
}

static void features_are_consistent(void **state) {
    (void)state;
    uint32_t f = hone_cpu_features_hw();
    /* The usable set never claims AVX-512 without AVX2, nor AVX2 without
     * SSE4.1, on any real CPU. */
    if (f & HONE_CPU_AVX512F) assert_true(f & HONE_CPU_AVX2);
    if (f & HONE_CPU_AVX2) assert_true(f & HONE_CPU_SSE41);
#if defined(__x86_64__)
    assert_true(f & HONE_CPU_SSE41); /* every x86-64 CPU hone supports has it */
#endif
}

static void names_and_formatting(void **state) {
    (void)state;
    assert_string_equal(hone_cpu_feature_name(HONE_CPU_AVX2), "avx2");
    assert_string_equal(hone_cpu_feature_name(HONE_CPU_SHA), "sha");
    assert_null(hone_cpu_feature_name(1u << 30));
    char buf[64];
    size_t n = hone_cpu_features_format(HONE_CPU_SSE41 | HONE_CPU_BMI2, buf, sizeof buf);
    assert_string_equal(buf, "sse4.1 bmi2");
    assert_int_equal(n, strlen("sse4.1 bmi2"));
    char tiny[4];
    n = hone_cpu_features_format(HONE_CPU_SSE41 | HONE_CPU_BMI2, tiny, sizeof tiny);
    assert_int_equal(n, strlen("sse4.1 bmi2")); /* the length it needed */
    assert_int_equal(strlen(tiny), 3);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(mask_parsing_and_closure),
    cmocka_unit_test(mask_removes_features_from_what_is_usable),
    cmocka_unit_test(features_are_consistent),
    cmocka_unit_test(names_and_formatting),
};
HONE_TEST_MAIN(tests)
