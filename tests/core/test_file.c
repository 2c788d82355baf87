/* test_file.c - atomic file replacement: the new content appears whole,
 * the mode is kept, and a failure leaves the old file and no litter. */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* A symlink is written through: the file it names gets the bytes and the
 * link stays a link (also a dangling one, whose target is created). */
static void symlinks_are_written_through(void **state) {
    (void)state;
    char real[128], link[128], dangling[128], later[128], buf[64];
    hone_error err;
    snprintf(real, sizeof real, "%s/real.json", dir);
    snprintf(link, sizeof link, "%s/link.json", dir);
    assert_int_equal(hone_file_write_atomic(real, "old", 3, &err), HONE_OK);
    assert_int_equal(symlink("real.json", link), 0);
    assert_int_equal(hone_file_write_atomic(link, "new", 3, &err), HONE_OK);
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    slurp(real, buf, sizeof buf);
    assert_string_equal(buf, "new");
    snprintf(dangling, sizeof dangling, "%s/dangling", dir);
    snprintf(later, sizeof later, "%s/later.txt", dir);
    assert_int_equal(symlink(later, dangling), 0);
    assert_int_equal(hone_file_write_atomic(dangling, "made", 4, &err), HONE_OK);
    assert_int_equal(lstat(dangling, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    slurp(later, buf, sizeof buf);
    assert_string_equal(buf, "made");
}

static void *read_fifo(void *arg) {
    static char got[64];
    int fd = open(arg, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, got, sizeof got - 1) : -1;
    got[n > 0 ? n : 0] = '\0';
    if (fd >= 0) close(fd);
    return got;
}

/* A FIFO or a character device (/dev/null here; /dev/stdout in use) is
 * written, never replaced by a regular file, even as root. */
static void pipes_and_devices_are_written_not_replaced(void **state) {
    (void)state;
    char fifo[128];
    hone_error err;
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    int before = entries();
    assert_int_equal(mkfifo(fifo, 0600), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, read_fifo, fifo), 0);
    assert_int_equal(hone_file_write_atomic(fifo, "through", 7, &err), HONE_OK);
    void *got;
    pthread_join(t, &got);
    assert_string_equal(got, "through");
    struct stat st;
    assert_int_equal(stat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(hone_file_write_atomic("/dev/null", "x", 1, &err), HONE_OK);
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(entries(), before + 1); /* the FIFO: no temporary file */
}

/* A new file is created 0666 less the umask, as a shell's `>` would. */
static void new_files_follow_the_umask(void **state) {
    (void)state;
    char path[128];
    hone_error err;
    snprintf(path, sizeof path, "%s/private.json", dir);
    mode_t old = umask(077);
    int rc = hone_file_write_atomic(path, "x", 1, &err);
    umask(old);
    assert_int_equal(rc, HONE_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

/* A temporary file left by a writer that was killed (its pid is gone) is
 * removed by the next write of the same path; a live writer's is kept. */
static void stale_temporary_files_are_removed(void **state) {
    (void)state;
    char path[128], stale[160], live[160];
    hone_error err;
    snprintf(path, sizeof path, "%s/state.json", dir);
    pid_t child = fork();
    if (child == 0) _exit(0);
    assert_true(child > 0);
    waitpid(child, NULL, 0);
    snprintf(stale, sizeof stale, "%s.tmp.%ld.0badf00d", path, (long)child);
    snprintf(live, sizeof live, "%s.tmp.%ld.12345678", path, (long)getppid());
    FILE *f = fopen(stale, "w");
    assert_non_null(f);
    fclose(f);
    f = fopen(live, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(hone_file_write_atomic(path, "x", 1, &err), HONE_OK);
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(live, F_OK), 0);
    unlink(live);
}

/* mkdir -p: nested directories made, an existing one is fine, a file in
 * the way is ENOTDIR. */
static void mkdir_p_makes_parents_and_refuses_files(void **state) {
    (void)state;
    char p[256], f[256];
    snprintf(p, sizeof p, "%s/a/b/c", dir);
    assert_int_equal(hone_mkdir_p(p), HONE_OK);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(hone_mkdir_p(p), HONE_OK);
    snprintf(f, sizeof f, "%s/a/file", dir);
    FILE *fp = fopen(f, "w");
    assert_non_null(fp);
    fclose(fp);
    errno = 0;
    assert_int_not_equal(hone_mkdir_p(f), HONE_OK);
    assert_int_equal(errno, ENOTDIR);
    snprintf(p, sizeof p, "%s/a/file/sub", dir);
    assert_int_not_equal(hone_mkdir_p(p), HONE_OK);
    assert_int_equal(errno, ENOTDIR);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(writes_and_replaces_keeping_the_mode),
    cmocka_unit_test(failure_leaves_the_old_file_and_no_litter),
    cmocka_unit_test(symlinks_are_written_through),
    cmocka_unit_test(pipes_and_devices_are_written_not_replaced),
    cmocka_unit_test(new_files_follow_the_umask),
    cmocka_unit_test(stale_temporary_files_are_removed),
    cmocka_unit_test(mkdir_p_makes_parents_and_refuses_files),
};

HONE_TEST_MAIN_FIXTURES(tests, setup, teardown)
