/* test_glob.c - the glob dialect of include/exclude lists. */
#include "test.h"

#include <stdio.h>

#include "hone/io.h"

static void expect(const char *pat, const char *path, int want) {
    int got = hone_io_glob_match(pat, path);
    if (got != want) fail_msg("glob '%s' vs path '%s': got %d, want %d", pat, path, got, want);
}

static void test_star_stays_in_segment(void **state) {
    (void)state;
    expect("*.txt", "a.txt", 1);
    expect("*.txt", "d/e/a.txt", 1); /* no '/': matched against the last component */
    expect("*.txt", "a.txt.bak", 0);
    expect("d/*.txt", "d/a.txt", 1);
    expect("d/*.txt", "d/e/a.txt", 0);
    expect("d/*", "d/e/a.txt", 0);
    expect("*", ".hidden", 1);
    expect("/d/*.txt", "d/a.txt", 1); /* a leading '/' only anchors */
}

static void test_double_star(void **state) {
    (void)state;
    expect("**", "a/b/c", 1);
    expect("d/**", "d/e/f.txt", 1);
    expect("d/**", "e/f.txt", 0);
    expect("**/f.txt", "f.txt", 1);
    expect("**/f.txt", "a/b/f.txt", 1);
    expect("**/f.txt", "a/b/xf.txt", 0);
    expect("a/**/z", "a/z", 1);
    expect("a/**/z", "a/b/c/z", 1);
    expect("a/**/z", "a/b/c/zz", 0);
    expect("a/**.bin", "a/b/c.bin", 1);
    expect("models/**/*.safetensors", "models/x/y/w.safetensors", 1);
    expect("models/**/*.safetensors", "models/w.safetensors", 1);
    expect("models/**/*.safetensors", "data/w.safetensors", 0);
}

static void test_classes_and_escapes(void **state) {
    (void)state;
    expect("f?.txt", "f1.txt", 1);
    expect("f?.txt", "f12.txt", 0);
    expect("a?b", "a/b", 0); /* '?' never matches '/' */
    expect("[abc].c", "b.c", 1);
    expect("[abc].c", "d.c", 0);
    expect("[a-c].c", "b.c", 1);
    expect("[!a-c].c", "b.c", 0);
    expect("[!a-c].c", "x.c", 1);
    expect("[^a-c].c", "x.c", 1);
    expect("[]].c", "].c", 1);
    expect("\\*.c", "*.c", 1);
    expect("\\*.c", "x.c", 0);
    expect("[unclosed", "[unclosed", 1); /* a malformed bracket is literal */
    expect("[unclosed", "u", 0);
    expect("", "", 1);
    expect("x", "", 0);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_star_stays_in_segment),
        cmocka_unit_test(test_double_star),
        cmocka_unit_test(test_classes_and_escapes),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
