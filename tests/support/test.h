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

/* main() for a test program: `prog` runs every case, `prog NAME` only the
 * cases whose name matches NAME (cmocka's filter, * and ? wildcards). */
#define HONE_TEST_MAIN(tests)                                  \
    int main(int argc, char **argv) {                          \
        if (argc > 1) cmocka_set_test_filter(argv[1]);         \
        return cmocka_run_group_tests(tests, NULL, NULL);      \
    }

#endif
