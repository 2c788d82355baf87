/* test_file.c - atomic file replacement: the new content appears whole,
 * the mode is kept, and a failure leaves the old file and no litter. */
#include "test.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/hone-test-file-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static void slurp(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = '\0';
    fclose(f);
}

static int entries(void) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void writes_and_replaces_keeping_the_mode(void **state) {
    (void)state;
    char path[128], buf[64];
    snprintf(path, sizeof path, "%s/out.json", dir);
    hone_error err;
    assert_int_equal(hone_file_write_atomic(path, "first", 5, &err), HONE_OK);
    slurp(path, buf, sizeof buf);
    assert_string_equal(buf, "first");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(hone_file_write_atomic(path, "second!", 7, &err), HONE_OK);
    slurp(path, buf, sizeof buf);
    assert_string_equal(buf, "second!");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(entries(), 1); /* no temporary file left */
}

static void failure_leaves_the_old_file_and_no_litter(void **state) {
    (void)state;
    char path[128], sub[128];
    hone_error err;
    /* A directory where the file should go: the rename fails. */
    snprintf(sub, sizeof sub, "%s/taken", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    int before = entries();
    int rc = hone_file_write_atomic(sub, "x", 1, &err);
    assert_int_not_equal(rc, HONE_OK);
    assert_non_null(strstr(err.msg, sub));
    struct stat st;
    assert_int_equal(stat(sub, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(entries(), before);
    /* A missing directory. */
    snprintf(path, sizeof path, "%s/no/such/dir/file", dir);
    assert_int_equal(hone_file_write_atomic(path, "x", 1, &err), HONE_ENOTFOUND);
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(hone_file_write_atomic(NULL, "x", 1, &err), HONE_EINVAL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(writes_and_replaces_keeping_the_mode),
    cmocka_unit_test(failure_leaves_the_old_file_and_no_litter),
};

HONE_TEST_MAIN_FIXTURES(tests, setup, teardown)
