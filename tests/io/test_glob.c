/* test_glob.c - the glob dialect of include/exclude lists, and matching in
 * bounded time on patterns that made a backtracking matcher exponential. */
#include "test.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* Runs fn in a child bounded by alarm(): a matcher that backtracks
 * exponentially never returns on these inputs (two stars fewer took 15 s),
 * so the child is killed and the case fails on its exit status, not on a
 * measured time. */
static void in_child_with_alarm(void (*fn)(void), unsigned seconds) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(seconds);
        fn();
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("the matcher did not finish within %u s (killed by signal %d)", seconds,
                 WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void pathological(void) {
    char name[61], path[200];
    memset(name, 'a', 60);
    name[60] = '\0';
    /* Nine and twelve stars: under the backtracking matcher the first runs
     * for hours and the second for years. */
    if (hone_io_glob_match("*a*a*a*a*a*a*a*a*a*b", name) != 0) _exit(2);
    if (hone_io_glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*", name) != 1) _exit(3);
    if (hone_io_glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", name) != 0) _exit(4);
    /* '**' crossing '/', many times over a deep path. */
    size_t n = 0;
    for (int i = 0; i < 30; i++) path[n++] = 'a', path[n++] = '/';
    memcpy(path + n, "aaaa", 5);
    if (hone_io_glob_match("**a**a**a**a**a**a**a**a**a**a**b", path) != 0) _exit(5);
    if (hone_io_glob_match("**/a/**/a/**/a/**/a/**/a/**/a/**/b", path) != 0) _exit(6);
    if (hone_io_glob_match("**/a/**/a/**/a/**/a/**/a/**/a/**/aaaa", path) != 1) _exit(7);
}

static void test_pathological_patterns_finish(void **state) {
    (void)state;
    in_child_with_alarm(pathological, 20);
}

/* The reference: the plain recursive matcher of the dialect, exponential
 * in the worst case but obviously right; the real one must agree with it
 * on every small pattern and path. */
static int ref_bracket(const char **pp, unsigned char c) {
    const char *p = *pp + 1;
    int negate = 0, hit = 0;
    if (*p == '!' || *p == '^') negate = 1, p++;
    const char *first = p;
    while (*p && (*p != ']' || p == first)) {
        unsigned char lo = (unsigned char)*p;
        if (lo == '\\' && p[1]) lo = (unsigned char)*++p;
        unsigned char hi = lo;
        if (p[1] == '-' && p[2] && p[2] != ']') {
            p += 2;
            hi = (unsigned char)*p;
            if (hi == '\\' && p[1]) hi = (unsigned char)*++p;
        }
        if (c >= lo && c <= hi) hit = 1;
        p++;
    }
    if (*p != ']') return -1;
    *pp = p + 1;
    return hit != negate;
}

static int ref_match(const char *p, const char *s) {
    for (;;) {
        switch (*p) {
        case '\0': return *s == '\0';
        case '*':
            if (p[1] == '*') {
                const char *q = p;
                while (*q == '*') q++;
                if (*q == '\0') return 1;
                if (*q == '/') {
                    if (ref_match(q + 1, s)) return 1;
                    for (const char *t = s; *t; t++)
                        if (*t == '/' && ref_match(q + 1, t + 1)) return 1;
                    return 0;
                }
                for (const char *t = s;; t++) {
                    if (ref_match(q, t)) return 1;
                    if (!*t) return 0;
                }
            }
            p++;
            for (const char *t = s;; t++) {
                if (ref_match(p, t)) return 1;
                if (!*t || *t == '/') return 0;
            }
        case '?':
            if (!*s || *s == '/') return 0;
            p++, s++;
            break;
        case '[': {
            if (!*s || *s == '/') return 0;
            const char *q = p;
            int r = ref_bracket(&q, (unsigned char)*s);
            if (r < 0) {
                if (*s != '[') return 0;
                p++, s++;
            } else {
                if (!r) return 0;
                p = q, s++;
            }
            break;
        }
        case '\\':
            if (p[1]) p++;
            /* fall through */
        default:
            if (*p != *s) return 0;
            p++, s++;
        }
    }
}

static int ref_glob(const char *pattern, const char *path) {
    if (!strchr(pattern, '/')) {
        const char *base = strrchr(path, '/');
        return ref_match(pattern, base ? base + 1 : path);
    }
    while (*pattern == '/') pattern++;
    return ref_match(pattern, path);
}

static uint64_t rng_state = 0x853c49e6748fea9bu;
static unsigned rnd(unsigned n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

static void test_agrees_with_reference(void **state) {
    (void)state;
    static const char *const pieces[] = {"a", "b", "/", "*", "**", "**/", "/**", "?", "[ab]",
                                         "[!a]", "\\*", "[", "]", ".", "a*", "*b"};
    static const char path_chars[] = "ab/.*[";
    char pat[64], path[32];
    unsigned long n = 0, matches = 0;
    for (int i = 0; i < 300000; i++) {
        size_t pl = 0;
        for (unsigned k = rnd(7); k > 0; k--) {
            const char *pc = pieces[rnd(sizeof pieces / sizeof *pieces)];
            size_t l = strlen(pc);
            memcpy(pat + pl, pc, l);
            pl += l;
        }
        pat[pl] = '\0';
        size_t sl = rnd(9);
        for (size_t k = 0; k < sl; k++) path[k] = path_chars[rnd(sizeof path_chars - 1)];
        path[sl] = '\0';
        int want = ref_glob(pat, path), got = hone_io_glob_match(pat, path);
        if (got != want) fail_msg("glob '%s' vs path '%s': got %d, the reference says %d", pat, path, got, want);
        n++;
        matches += (unsigned long)want;
    }
    /* Not a vacuous comparison: a fair share of the cases match. */
    assert_true(matches > n / 50);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_star_stays_in_segment),
        cmocka_unit_test(test_double_star),
        cmocka_unit_test(test_classes_and_escapes),
        cmocka_unit_test(test_pathological_patterns_finish),
        cmocka_unit_test(test_agrees_with_reference),
};
HONE_TEST_MAIN(tests)
