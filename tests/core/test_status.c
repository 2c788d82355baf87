/* test_status.c - the status enum, its messages and names, hone_error, and
 * the version calls. */
#include "test.h"

#include <errno.h>
#include <string.h>

static void status_messages_and_names(void **state) {
    (void)state;
    assert_string_equal(hone_strerror(HONE_OK), "success");
    assert_string_equal(hone_strerror(HONE_ENOMEM), "out of memory");
    assert_string_equal(hone_status_name(HONE_ETIMEDOUT), "HONE_ETIMEDOUT");
    assert_string_equal(hone_status_name(HONE_ECORRUPT), "HONE_ECORRUPT");
    assert_string_equal(hone_strerror(12345), "unknown status");
    assert_string_equal(hone_status_name(-9999), "HONE_UNKNOWN");
}

/* The enum is append-only: these numbers are published and must never
 * change. */
static void status_numbers_are_stable(void **state) {
    (void)state;
    assert_int_equal(HONE_OK, 0);
    assert_int_equal(HONE_EINVAL, -1);
    assert_int_equal(HONE_ENOMEM, -2);
    assert_int_equal(HONE_ETIMEDOUT, -3);
    assert_int_equal(HONE_ECANCELED, -4);
    assert_int_equal(HONE_ENOTFOUND, -5);
    assert_int_equal(HONE_EBUSY, -6);
    assert_int_equal(HONE_EIO, -7);
    assert_int_equal(HONE_ECORRUPT, -8);
    assert_int_equal(HONE_ENOTSUP, -9);
    assert_int_equal(HONE_ECLOSED, -10);
}

/* Every status has a distinct name and a message that is not the
 * unknown-status fallback. */
static void every_status_is_described(void **state) {
    (void)state;
    static const int all[] = {
#define X(name, num, msg) HONE_##name,
        HONE_STATUS_MAP(X)
#undef X
    };
    size_t n = sizeof all / sizeof all[0];
    for (size_t i = 0; i < n; i++) {
        assert_string_not_equal(hone_strerror(all[i]), "unknown status");
        for (size_t j = i + 1; j < n; j++) {
            assert_int_not_equal(all[i], all[j]);
            assert_string_not_equal(hone_status_name(all[i]), hone_status_name(all[j]));
        }
    }
}

static void errno_mapping(void **state) {
    (void)state;
    assert_int_equal(hone_status_from_errno(0), HONE_OK);
    assert_int_equal(hone_status_from_errno(ENOENT), HONE_ENOTFOUND);
    assert_int_equal(hone_status_from_errno(EACCES), HONE_EACCES);
    assert_int_equal(hone_status_from_errno(ENOMEM), HONE_ENOMEM);
    assert_int_equal(hone_status_from_errno(EIO), HONE_EIO);
}

static void error_set_fills_and_returns_code(void **state) {
    (void)state;
    hone_error err;
    err.line = 7;
    int rc = hone_error_set(&err, HONE_EPARSE, "bad %s at %d", "thing", 3);
    assert_int_equal(rc, HONE_EPARSE);
    assert_int_equal(err.code, HONE_EPARSE);
    assert_string_equal(err.msg, "bad thing at 3");
    assert_int_equal(err.line, 0);
    assert_true(err.offset == UINT64_MAX);
    /* A NULL error pointer is allowed everywhere. */
    assert_int_equal(hone_error_set(NULL, HONE_EIO, "x"), HONE_EIO);
}

static void error_set_at_records_the_position(void **state) {
    (void)state;
    hone_error err;
    assert_int_equal(hone_error_set_at(&err, HONE_EPARSE, 3, 14, 40, "bad %s", "token"), HONE_EPARSE);
    assert_int_equal(err.code, HONE_EPARSE);
    assert_string_equal(err.msg, "bad token");
    assert_int_equal(err.line, 3);
    assert_int_equal(err.col, 14);
    assert_int_equal(err.offset, 40);
    /* Unknown positions (jansson reports -1) are stored as "not applicable". */
    hone_error_set_at(&err, HONE_EPARSE, -1, 0, -1, "x");
    assert_int_equal(err.line, 0);
    assert_int_equal(err.col, 0);
    assert_true(err.offset == UINT64_MAX);
    assert_int_equal(hone_error_set_at(NULL, HONE_EIO, 1, 1, 1, "x"), HONE_EIO);
}

static void version_matches_macros(void **state) {
    (void)state;
    assert_int_equal(hone_version(), HONE_VERSION_HEX);
    assert_string_equal(hone_version_string(), HONE_VERSION_STRING);
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", HONE_VERSION_MAJOR, HONE_VERSION_MINOR,
             HONE_VERSION_PATCH);
    assert_string_equal(hone_version_string(), expect);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(status_messages_and_names),
    cmocka_unit_test(status_numbers_are_stable),
    cmocka_unit_test(every_status_is_described),
    cmocka_unit_test(errno_mapping),
    cmocka_unit_test(error_set_fills_and_returns_code),
    cmocka_unit_test(error_set_at_records_the_position),
    cmocka_unit_test(version_matches_macros),
};
HONE_TEST_MAIN(tests)
