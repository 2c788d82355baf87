/* testmain.c - the main of every cmocka test program: runs every case, or
 * the cases a name pattern selects, and fails when the pattern selects
 * none (a typo must not pass as "0 test(s) run"). */
#include <fnmatch.h>

#include "test.h"

int hone_test_run(const char *group, const struct CMUnitTest *tests, size_t n,
                  CMFixtureFunction setup, CMFixtureFunction teardown, int argc, char **argv) {
    if (argc > 1) {
        /* cmocka's filter takes * and ?, which fnmatch reads alike. */
        size_t hits = 0;
        for (size_t i = 0; i < n; i++) hits += fnmatch(argv[1], tests[i].name, 0) == 0;
        if (!hits) {
            fprintf(stderr, "%s: no test case matches '%s'; the cases are:\n", argv[0], argv[1]);
            for (size_t i = 0; i < n; i++) fprintf(stderr, "  %s\n", tests[i].name);
            return 1;
        }
        cmocka_set_test_filter(argv[1]);
    }
    return _cmocka_run_group_tests(group, tests, n, setup, teardown);
}
