/* test_noprofile.c - with HONE_NO_PROFILE defined, zones compile to
 * nothing: even with profiling on, nothing is recorded. */
#define HONE_NO_PROFILE 1
#include "test.h"

static int calls;
static void zoned(void) {
    HONE_ZONE("removed");
    HONE_ZONE_SLOW("removed_slow", 1, HONE_LOG_WARN);
    HONE_ZONE_BEGIN(z, "removed_explicit");
    calls++;
    HONE_ZONE_END(z);
}

static void test_zones_removed(void **state) {
    (void)state;
    hone_prof_enable(1);
    for (int i = 0; i < 10; i++) zoned();
    assert_int_equal(calls, 10);
    hone_prof_snapshot *s;
    assert_int_equal(hone_prof_snapshot_take(&s, NULL), HONE_OK);
    assert_int_equal(hone_prof_snapshot_count(s), 0);
    hone_prof_snapshot_free(s);
}

static const struct CMUnitTest tests[] = {cmocka_unit_test(test_zones_removed)};
HONE_TEST_MAIN(tests)
