/* test_env.c - HONE_PROFILE (0, 1, trace) and HONE_PROFILE_OUT in a program
 * that only has zones: the test runs itself as a child with each setting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

static const char *self;
static char dir[] = "/tmp/hone-profenv-XXXXXX";

static void work(void) {
    HONE_ZONE("child_zone");
}

static int child(void) {
    for (int i = 0; i < 5; i++) work();
    printf("enabled=%d\n", hone_prof_enabled());
    if (hone_prof_tracing()) printf("tracing=1\n");
    return 0;
}

/* Runs the child with the given environment prefix; returns what it
 * printed (stdout and stderr). */
static void run(const char *env, char *out, size_t n) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "env -u HONE_PROFILE -u HONE_PROFILE_OUT %s '%s' child 2>&1", env, self);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t len = fread(out, 1, n - 1, p);
    out[len] = 0;
    assert_int_equal(pclose(p), 0);
}

static hone_prof_snapshot *load(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("%s was not written", path);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    hone_prof_snapshot *s;
    hone_error err;
    if (hone_prof_snapshot_parse(&s, text, n, NULL, &err)) fail_msg("%s: %s", path, err.msg);
    return s;
}

static void test_switch_from_env(void **state) {
    (void)state;
    char out[4096];
    run("", out, sizeof out);
    assert_string_equal(out, "enabled=0\n");
    run("HONE_PROFILE=1", out, sizeof out);
    assert_string_equal(out, "enabled=1\n");
    run("HONE_PROFILE=off", out, sizeof out);
    assert_string_equal(out, "enabled=0\n");
}

static void test_profile_out(void **state) {
    (void)state;
    char out[4096], env[512], path[300];
    snprintf(path, sizeof path, "%s/p.json", dir);
    snprintf(env, sizeof env, "HONE_PROFILE_OUT=%s", path);
    run(env, out, sizeof out);
    /* HONE_PROFILE_OUT alone turns profiling on. */
    assert_string_equal(out, "enabled=1\n");
    hone_prof_snapshot *s = load(path);
    const hone_prof_zone *z = hone_prof_snapshot_find(s, "child_zone");
    assert_non_null(z);
    assert_int_equal(z->count, 5);
    assert_string_equal(z->func, "work");
    hone_prof_snapshot_free(s);
    /* An explicit HONE_PROFILE=0 wins: the file is written, empty. */
    snprintf(env, sizeof env, "HONE_PROFILE=0 HONE_PROFILE_OUT=%s", path);
    run(env, out, sizeof out);
    assert_string_equal(out, "enabled=0\n");
    s = load(path);
    assert_int_equal(hone_prof_snapshot_count(s), 0);
    hone_prof_snapshot_free(s);
    unlink(path);
    /* An unwritable path: one error line naming it, the exit status kept. */
    snprintf(env, sizeof env, "HONE_PROFILE_OUT=%s/no/such/dir/p.json", dir);
    run(env, out, sizeof out);
    assert_non_null(strstr(out, "enabled=1\n"));
    assert_non_null(strstr(out, "HONE_PROFILE_OUT"));
    assert_non_null(strstr(out, "no/such/dir/p.json"));
    /* HONE_PROFILE=trace: zones on, traced, and the file carries the
     * trace: one event a call, on the child's one thread. */
    snprintf(env, sizeof env, "HONE_PROFILE=trace HONE_PROFILE_OUT=%s", path);
    run(env, out, sizeof out);
    assert_string_equal(out, "enabled=1\ntracing=1\n");
    s = load(path);
    assert_int_equal(hone_prof_snapshot_traced(s), 1);
    assert_int_equal(hone_prof_snapshot_thread_count(s), 1);
    assert_int_equal(hone_prof_snapshot_thread(s, 0)->n_events, 5);
    assert_int_equal(hone_prof_snapshot_trace_dropped(s), 0);
    assert_int_equal(hone_prof_snapshot_node_count(s), 1);
    hone_prof_snapshot_free(s);
    unlink(path);
    /* The old boolean spellings still mean what they meant. */
    run("HONE_PROFILE=yes", out, sizeof out);
    assert_string_equal(out, "enabled=1\n");
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "child")) return child();
    self = argv[0];
    if (!mkdtemp(dir)) return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_switch_from_env), cmocka_unit_test(test_profile_out)};
    int rc = HONE_TEST_RUN(tests, NULL, NULL, argc, argv);
    rmdir(dir);
    return rc;
}
