/* test_exec.c - command splitting, PATH lookup and measured runs of
 * hone/bench.h, with tiny real programs (/bin/true, /bin/false). */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void expect_split(const char *line, int n, const char *const *words) {
    char **argv;
    int argc = -1;
    hone_error err;
    int rc = hone_bench_split(line, &argv, &argc, NULL, &err);
    if (rc) fail_msg("split(%s) failed: %s", line, err.msg);
    assert_int_equal(argc, n);
    for (int i = 0; i < n; i++) assert_string_equal(argv[i], words[i]);
    assert_null(argv[n]);
    hone_bench_argv_free(argv, NULL);
}

static void test_split(void **state) {
    (void)state;
    expect_split("true", 1, (const char *[]){"true"});
    expect_split("  sleep   0.01 ", 2, (const char *[]){"sleep", "0.01"});
    expect_split("grep 'a b' \"c d\" e\\ f", 4, (const char *[]){"grep", "a b", "c d", "e f"});
    expect_split("echo '' \"\" x", 4, (const char *[]){"echo", "", "", "x"});
    expect_split("echo \"a\\\"b\\\\c\\$d\\xe\"", 2, (const char *[]){"echo", "a\"b\\c$d\\xe"});
    expect_split("echo 'it''s' a\"b\"c", 3, (const char *[]){"echo", "its", "abc"});
    expect_split("echo '$HOME' *", 3, (const char *[]){"echo", "$HOME", "*"});
}

static void test_split_errors(void **state) {
    (void)state;
    char **argv = (char **)1;
    int argc;
    hone_error err;
    assert_int_equal(hone_bench_split("echo 'abc", &argv, &argc, NULL, &err), HONE_EPARSE);
    assert_null(argv);
    assert_non_null(strstr(err.msg, "unterminated single quote at column 6"));
    assert_int_equal(hone_bench_split("echo \"abc", &argv, &argc, NULL, &err), HONE_EPARSE);
    assert_non_null(strstr(err.msg, "unterminated double quote"));
    assert_int_equal(hone_bench_split("echo \\", &argv, &argc, NULL, &err), HONE_EPARSE);
    assert_non_null(strstr(err.msg, "trailing backslash"));
    assert_int_equal(hone_bench_split("   ", &argv, &argc, NULL, &err), HONE_EPARSE);
    assert_non_null(strstr(err.msg, "is empty"));
    assert_int_equal(hone_bench_split(NULL, &argv, &argc, NULL, &err), HONE_EINVAL);
}

static void test_which(void **state) {
    (void)state;
    char *p;
    hone_error err;
    assert_int_equal(hone_bench_which("true", "/nonexistent:/bin:/usr/bin", &p, NULL, &err), HONE_OK);
    assert_true(!strcmp(p, "/bin/true") || !strcmp(p, "/usr/bin/true"));
    free(p);
    assert_int_equal(hone_bench_which("/bin/true", NULL, &p, NULL, &err), HONE_OK);
    assert_string_equal(p, "/bin/true");
    free(p);
    assert_int_equal(hone_bench_which("no-such-cmd-hone", "/bin:/usr/bin", &p, NULL, &err),
                     HONE_ENOTFOUND);
    assert_null(p);
    assert_non_null(strstr(err.msg, "'no-such-cmd-hone' not found in PATH"));
    assert_int_equal(hone_bench_which("/no/such/file", NULL, &p, NULL, &err), HONE_ENOTFOUND);
    /* A directory and a non-executable file are found but not runnable. */
    assert_int_equal(hone_bench_which("/tmp", NULL, &p, NULL, &err), HONE_EACCES);
    char tmpl[] = "/tmp/hone-bench-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(hone_bench_which(tmpl, NULL, &p, NULL, &err), HONE_EACCES);
    assert_non_null(strstr(err.msg, "not executable"));
    unlink(tmpl);
}

static void test_exec(void **state) {
    (void)state;
    hone_bench_run r;
    char *t[] = {"true", NULL}, *f[] = {"false", NULL};
    char *tp, *fp;
    assert_int_equal(hone_bench_which("true", NULL, &tp, NULL, NULL), HONE_OK);
    assert_int_equal(hone_bench_which("false", NULL, &fp, NULL, NULL), HONE_OK);
    assert_int_equal(hone_bench_exec(tp, t, NULL, &r), HONE_OK);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.signal, 0);
    assert_true(r.wall_ns > 0);
    assert_true(r.max_rss_bytes > 0);
    assert_int_equal(hone_bench_exec(fp, f, NULL, &r), HONE_OK);
    assert_int_equal(r.exit_code, 1);
    /* A child killed by a signal reports 128 + the signal. */
    char *k[] = {"sh", "-c", "kill -TERM $$", NULL};
    char *sh;
    assert_int_equal(hone_bench_which("sh", NULL, &sh, NULL, NULL), HONE_OK);
    assert_int_equal(hone_bench_exec(sh, k, NULL, &r), HONE_OK);
    assert_int_equal(r.signal, SIGTERM);
    assert_int_equal(r.exit_code, 128 + SIGTERM);
    /* The child's stdout goes where we say. */
    char tmpl[] = "/tmp/hone-bench-out-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    char *e[] = {"sh", "-c", "echo hello", NULL};
    hone_bench_exec_opts o = {.use_fds = HONE_BENCH_USE_STDOUT, .stdout_fd = fd};
    assert_int_equal(hone_bench_exec(sh, e, &o, &r), HONE_OK);
    char buf[16] = {0};
    assert_int_equal(pread(fd, buf, sizeof buf - 1, 0), 6);
    assert_string_equal(buf, "hello\n");
    close(fd);
    unlink(tmpl);
    assert_int_equal(hone_bench_exec("/no/such/prog", t, NULL, &r), HONE_ENOTFOUND);
    free(tp);
    free(fp);
    free(sh);
}

/* Allocates and touches n MiB, so that they are resident. */
static char *hog(size_t mib) {
    char *p = malloc(mib << 20);
    if (p) memset(p, 1, mib << 20);
    return p;
}

static char self_exe[4096];

/* A child that uses more memory than this process has so far reports its
 * own peak, exactly. Runs before test_rss_bound, which makes this process
 * large. */
static void test_rss_exact(void **state) {
    (void)state;
    char *argv[] = {self_exe, "--hog", "256", NULL};
    hone_bench_run r;
    assert_int_equal(hone_bench_exec(self_exe, argv, NULL, &r), HONE_OK);
    assert_int_equal(r.exit_code, 0);
    if (r.max_rss_bounded || r.max_rss_bytes < (256u << 20)) {
        print_error("child peak %llu bytes, bounded %d; wanted >= 256 MiB, exact\n",
                    (unsigned long long)r.max_rss_bytes, r.max_rss_bounded);
        fail();
    }
}

/* A small child of a large process is charged the process's peak: the
 * figure is flagged as an upper bound, not passed off as the child's. */
static void test_rss_bound(void **state) {
    (void)state;
    char *big = hog(320);
    assert_non_null(big);
    char *t[] = {"true", NULL};
    char *tp;
    assert_int_equal(hone_bench_which("true", NULL, &tp, NULL, NULL), HONE_OK);
    hone_bench_run r;
    assert_int_equal(hone_bench_exec(tp, t, NULL, &r), HONE_OK);
    free(tp);
    if (!r.max_rss_bounded || r.max_rss_bytes < (320u << 20)) {
        print_error("true's reported peak %llu bytes, bounded %d; wanted the parent's >= 320 MiB, "
                    "bounded\n",
                    (unsigned long long)r.max_rss_bytes, r.max_rss_bounded);
        fail();
    }
    free(big);
}

int main(int argc, char **argv) {
    /* The hog child: touch the memory asked for and exit. */
    if (argc == 3 && !strcmp(argv[1], "--hog")) {
        char *p = hog((size_t)atoi(argv[2]));
        int rc = p ? p[12345] - 1 : 1;
        free(p);
        return rc;
    }
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n > 0) self_exe[n] = 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split), cmocka_unit_test(test_split_errors),
        cmocka_unit_test(test_which), cmocka_unit_test(test_exec),
        cmocka_unit_test(test_rss_exact), cmocka_unit_test(test_rss_bound),
    };
    return HONE_TEST_RUN(tests, NULL, NULL, argc, argv);
}
