/* test.h - what every cmocka test of hone includes: cmocka itself, a main
 * that runs one case by name, and the failing allocator. */
#ifndef HONE_TEST_H
#define HONE_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
/* cmocka.h needs the headers above first. */
#include <cmocka.h>

#include "failalloc.h"
#include "hone.h"

/* Runs the group: every case, or with a NAME argument only the cases whose
 * name matches it (cmocka's filter: * and ? wildcards). A NAME that matches
 * no case fails, listing the cases, instead of passing with none run. */
int hone_test_run(const char *group, const struct CMUnitTest *tests, size_t n,
                  CMFixtureFunction setup, CMFixtureFunction teardown, int argc, char **argv);

#define HONE_TEST_RUN(tests, setup, teardown, argc, argv) \
    hone_test_run(#tests, tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown, argc, argv)

/* main() for a test program whose cases are the array `tests`. */
#define HONE_TEST_MAIN(tests)                                                                \
    int main(int argc, char **argv) { return HONE_TEST_RUN(tests, NULL, NULL, argc, argv); }
/* The same with group setup and teardown. */
#define HONE_TEST_MAIN_FIXTURES(tests, setup, teardown)                                      \
    int main(int argc, char **argv) { return HONE_TEST_RUN(tests, setup, teardown, argc, argv); }

#endif
