/* test_log.c - log levels, the sink callback and HONE_LOG. */
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct capture {
    int n;
    hone_log_level level;
    char module[32];
    char msg[256];
};

static void sink(void *ctx, hone_log_level level, const char *module, const char *msg) {
    struct capture *c = ctx;
    c->n++;
    c->level = level;
    snprintf(c->module, sizeof c->module, "%s", module);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
}

static void level_filters_messages(void **state) {
    (void)state;
    struct capture c = {0};
    hone_log_set_sink(sink, &c);
    hone_log_set_level(HONE_LOG_WARN);
    hone_log(HONE_LOG_INFO, "cache", "not shown %d", 1);
    assert_int_equal(c.n, 0);
    hone_log(HONE_LOG_WARN, "cache", "shown %d", 2);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.level, HONE_LOG_WARN);
    assert_string_equal(c.module, "cache");
    assert_string_equal(c.msg, "shown 2");
    hone_log_set_level(HONE_LOG_DEBUG);
    assert_true(hone_log_enabled(HONE_LOG_DEBUG));
    hone_log(HONE_LOG_DEBUG, NULL, "d");
    assert_int_equal(c.n, 2);
    assert_string_equal(c.module, "hone");
    hone_log_set_sink(NULL, NULL);
    hone_log_set_level(HONE_LOG_WARN);
}

static void messages_are_one_line(void **state) {
    (void)state;
    struct capture c = {0};
    hone_log_set_sink(sink, &c);
    hone_log(HONE_LOG_ERROR, "io", "file %s", "evil\nname");
    assert_string_equal(c.msg, "file evil name");
    hone_log_set_sink(NULL, NULL);
}

static void level_names(void **state) {
    (void)state;
    assert_string_equal(hone_log_level_name(HONE_LOG_ERROR), "error");
    assert_string_equal(hone_log_level_name(HONE_LOG_DEBUG), "debug");
}

/* HONE_LOG is read once, at the first use, so each case runs in a child. */
static int child_level(const char *value) {
    pid_t pid = fork();
    if (pid == 0) {
        if (value) setenv("HONE_LOG", value, 1);
        else unsetenv("HONE_LOG");
        _exit((int)hone_log_get_level());
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void hone_log_sets_the_starting_level(void **state) {
    (void)state;
    assert_int_equal(child_level(NULL), HONE_LOG_WARN);
    assert_int_equal(child_level("debug"), HONE_LOG_DEBUG);
    assert_int_equal(child_level("error"), HONE_LOG_ERROR);
    assert_int_equal(child_level("loud"), HONE_LOG_WARN); /* invalid: reported, default kept */
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(hone_log_sets_the_starting_level),
    cmocka_unit_test(level_filters_messages),
    cmocka_unit_test(messages_are_one_line),
    cmocka_unit_test(level_names),
};
HONE_TEST_MAIN(tests)
