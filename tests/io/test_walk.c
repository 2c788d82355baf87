/* test_walk.c - the parallel walker: what it reports, symlinks (never
 * followed by default, never looping or leaving the root when followed),
 * globs, unreadable directories, pruning and stopping. */
#include "test.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hone/io.h"
#include "io/internal.h"
#include "tree.h"

/* Collects "T path" lines (T: f file, d dir, l link, o other) and errors,
 * then sorts them so the walk's order does not matter. */
typedef struct seen {
    pthread_mutex_t mu;
    char lines[512][256];
    int n;
    char errs[16][256];
    int nerr;
    int stop_at; /* nonzero: return HONE_ECANCELED at that many entries */
    const char *prune;
} seen;

static int on_entry(void *ctx, const hone_io_entry *e) {
    seen *s = ctx;
    static const char tc[] = "?fdlo";
    pthread_mutex_lock(&s->mu);
    if (s->n < 512) snprintf(s->lines[s->n++], 256, "%c %s", tc[e->type], e->path);
    int n = s->n;
    pthread_mutex_unlock(&s->mu);
    if (s->stop_at && n >= s->stop_at) return HONE_ECANCELED;
    if (s->prune && !strcmp(e->path, s->prune)) return HONE_IO_WALK_PRUNE;
    return 0;
}

static void on_error(void *ctx, const char *path, int status, int sys_errno) {
    seen *s = ctx;
    pthread_mutex_lock(&s->mu);
    if (s->nerr < 16) snprintf(s->errs[s->nerr++], 256, "%s %s", path, hone_status_name(status));
    pthread_mutex_unlock(&s->mu);
    (void)sys_errno;
}

static int cmp_line(const void *a, const void *b) { return strcmp(a, b); }

/* Runs a walk and returns the sorted lines joined by '\n'. */
static int walk(const char *root, hone_io_walk_opts *o, seen *s, hone_io_walk_stats *st,
                char *joined, size_t cap) {
    memset(s->lines, 0, sizeof s->lines);
    s->n = s->nerr = 0;
    pthread_mutex_init(&s->mu, NULL);
    o->on_entry = on_entry;
    o->on_error = on_error;
    o->ctx = s;
    hone_error err = {0};
    int rc = hone_io_walk(root, o, st, &err);
    qsort(s->lines, (size_t)s->n, sizeof s->lines[0], cmp_line);
    joined[0] = 0;
    for (int i = 0; i < s->n; i++) {
        strncat(joined, s->lines[i], cap - strlen(joined) - 2);
        strcat(joined, "\n");
    }
    pthread_mutex_destroy(&s->mu);
    return rc;
}

static char *basic_tree(void) {
    char *r = tree_new();
    assert_non_null(r);
    assert_int_equal(tree_file(r, "a.txt", "a"), 0);
    assert_int_equal(tree_file(r, ".hidden", "h"), 0);
    assert_int_equal(tree_file(r, "d/b.bin", "bb"), 0);
    assert_int_equal(tree_file(r, "d/e/c.txt", "ccc"), 0);
    assert_int_equal(tree_file(r, "d/e/f/g.tmp", "g"), 0);
    tree_mkdir(r, "empty");
    return r;
}

static void test_lists_every_entry(void **state) {
    (void)state;
    char *r = basic_tree();
    assert_int_equal(tree_symlink(r, "d/loop", ".."), 0);
    seen s = {0};
    static char out[65536];
    hone_io_walk_stats st;
    hone_io_walk_opts o = {.threads = 4, .report_dirs = 1};
    assert_int_equal(walk(r, &o, &s, &st, out, sizeof out), HONE_OK);
    assert_string_equal(out, "d d\nd d/e\nd d/e/f\nd empty\nf .hidden\nf a.txt\nf d/b.bin\n"
                             "f d/e/c.txt\nf d/e/f/g.tmp\nl d/loop\n");
    assert_int_equal(st.files, 5);
    assert_int_equal(st.dirs, 4);
    assert_int_equal(st.symlinks, 1);
    assert_int_equal(st.bytes, 1 + 1 + 2 + 3 + 1);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.loops, 0);
    tree_rm(r);
    free(r);
}

/* Counts what a lazy walk (the manifest builder's) hands over: files
 * unstat'ed (mode 0), everything else stat'ed as usual. */
typedef struct lazy_seen {
    pthread_mutex_t mu;
    int files, unstated, dirs, links, bad;
} lazy_seen;

static int on_lazy(void *ctx, const hone_io_entry *e) {
    lazy_seen *s = ctx;
    pthread_mutex_lock(&s->mu);
    if (e->type == HONE_IO_FILE) {
        s->files++;
        if (e->mode == 0 && e->size == 0 && e->ino == 0) s->unstated++;
        /* The callback can still reach the file through dirfd. */
        struct stat sb;
        if (fstatat(e->dirfd, e->name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) s->bad++;
    } else if (e->type == HONE_IO_DIR) {
        s->dirs++;
        if (!S_ISDIR(e->mode) || e->ino == 0) s->bad++;
    } else if (e->type == HONE_IO_SYMLINK) {
        s->links++;
        if (!S_ISLNK(e->mode)) s->bad++;
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static void test_lazy_walk_leaves_files_unstated(void **state) {
    (void)state;
    char *r = basic_tree();
    assert_int_equal(tree_symlink(r, "d/link", "../a.txt"), 0);
    lazy_seen s = {0};
    pthread_mutex_init(&s.mu, NULL);
    const char *exc[] = {"*.tmp"};
    hone_io_walk_opts o = {.threads = 2, .report_dirs = 1, .on_entry = on_lazy, .ctx = &s,
                           .exclude = exc, .n_exclude = 1};
    hone_io_walk_stats st;
    hone_error err = {0};
    assert_int_equal(hone__io_walk(r, &o, 1, &st, &err), HONE_OK);
    /* ext4, tmpfs, btrfs and xfs fill d_type; where it is DT_UNKNOWN the
     * walk stats every file as usual. */
    int has_dtype = 0;
    DIR *dir = opendir(r);
    assert_non_null(dir);
    for (struct dirent *d; (d = readdir(dir));)
        if (!strcmp(d->d_name, "a.txt")) has_dtype = d->d_type == DT_REG;
    closedir(dir);
    assert_int_equal(s.files, 4); /* g.tmp is excluded before any stat */
    assert_int_equal(s.unstated, has_dtype ? 4 : 0);
    assert_int_equal(s.dirs, 4);
    assert_int_equal(s.links, 1);
    assert_int_equal(s.bad, 0);
    assert_int_equal(st.files, 4);
    assert_int_equal(st.excluded, 1);
    pthread_mutex_destroy(&s.mu);
    tree_rm(r);
    free(r);
}

static void test_follow_never_loops_or_leaves_root(void **state) {
    (void)state;
    char *r = basic_tree();
    char *outside = tree_new();
    assert_int_equal(tree_file(outside, "secret.txt", "s"), 0);
    assert_int_equal(tree_symlink(r, "d/loop", ".."), 0);      /* back to the root */
    assert_int_equal(tree_symlink(r, "d/e/up", "../../d"), 0); /* back to d */
    assert_int_equal(tree_symlink(r, "self", "self"), 0);      /* dangling loop */
    assert_int_equal(tree_symlink(r, "out", outside), 0);      /* leaves the root */
    assert_int_equal(tree_symlink(r, "alias.txt", "a.txt"), 0);
    assert_int_equal(tree_symlink(r, "e2", "d/e"), 0); /* the same directory twice */
    seen s = {0};
    static char out[65536];
    hone_io_walk_stats st;
    hone_io_walk_opts o = {.threads = 3, .follow_symlinks = 1};
    assert_int_equal(walk(r, &o, &s, &st, out, sizeof out), HONE_OK);
    assert_string_equal(out, "f .hidden\nf a.txt\nf alias.txt\nf d/b.bin\nf d/e/c.txt\n"
                             "f d/e/f/g.tmp\nf e2/c.txt\nf e2/f/g.tmp\nf e2/up/b.bin\nl out\nl self\n");
    assert_null(strstr(out, "secret"));
    /* d/loop (to the root) and d/e/up (to d) loop. e2/up leads to d, which
     * is not on e2's path, so it is entered once, as find -L does; inside
     * it, e (e2 itself) and loop (the root) loop. */
    assert_int_equal(st.loops, 4);
    assert_int_equal(st.outside, 1);
    tree_rm(r);
    tree_rm(outside);
    free(r);
    free(outside);
}

/* one_file_system needs a mount point inside the root; a test cannot mount
 * one, so it uses /dev and its /dev/shm (a separate tmpfs on Linux) when
 * this machine has them, and is skipped otherwise. */
static void test_one_file_system(void **state) {
    (void)state;
    struct stat dev, shm;
    if (stat("/dev", &dev) || stat("/dev/shm", &shm) || !S_ISDIR(shm.st_mode) ||
        dev.st_dev == shm.st_dev || access("/dev/shm", W_OK)) {
        print_message("skipped: /dev/shm is not a writable mount inside /dev here\n");
        skip();
    }
    char name[64], path[96], want[96];
    snprintf(name, sizeof name, "hone-walk-test-%ld", (long)getpid());
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    snprintf(want, sizeof want, "f shm/%s\n", name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    seen s = {0};
    static char out[65536];
    hone_io_walk_stats st;
    hone_io_walk_opts o = {.threads = 2};
    /* Without the option the walk goes into the other file system. */
    assert_int_equal(walk("/dev", &o, &s, &st, out, sizeof out), HONE_OK);
    int found = strstr(out, want) != NULL;
    uint64_t mounts_off = st.mounts;
    /* With it, /dev/shm is not entered, and is counted. */
    o.one_file_system = 1;
    assert_int_equal(walk("/dev", &o, &s, &st, out, sizeof out), HONE_OK);
    unlink(path);
    if (!found) {
        print_error("the plain walk of /dev did not list %s", want);
        fail();
    }
    assert_int_equal(mounts_off, 0);
    assert_null(strstr(out, "shm/"));
    assert_true(st.mounts >= 1);
}

static void test_globs(void **state) {
    (void)state;
    char *r = basic_tree();
    seen s = {0};
    static char out[65536];
    hone_io_walk_stats st;
    const char *inc[] = {"*.txt", "d/*.bin"};
    const char *exc[] = {"d/e/f", ".*"};
    hone_io_walk_opts o = {.include = inc, .n_include = 2, .exclude = exc, .n_exclude = 2};
    assert_int_equal(walk(r, &o, &s, &st, out, sizeof out), HONE_OK);
    assert_string_equal(out, "f a.txt\nf d/b.bin\nf d/e/c.txt\n");
    assert_int_equal(st.excluded, 2); /* .hidden and d/e/f; g.tmp is never seen */

    const char *inc2[] = {"**/*.tmp"};
    hone_io_walk_opts o2 = {.include = inc2, .n_include = 1};
    assert_int_equal(walk(r, &o2, &s, &st, out, sizeof out), HONE_OK);
    assert_string_equal(out, "f d/e/f/g.tmp\n");
    tree_rm(r);
    free(r);
}

static void test_prune_and_stop(void **state) {
    (void)state;
    char *r = basic_tree();
    seen s = {0};
    static char out[65536];
    hone_io_walk_stats st;
    s.prune = "d/e";
    hone_io_walk_opts o = {.report_dirs = 1, .threads = 2};
    assert_int_equal(walk(r, &o, &s, &st, out, sizeof out), HONE_OK);
    assert_null(strstr(out, "c.txt"));
    assert_non_null(strstr(out, "d d/e\n"));
    s.prune = NULL;
    s.stop_at = 2;
    assert_int_equal(walk(r, &o, &s, &st, out, sizeof out), HONE_ECANCELED);
    tree_rm(r);
    free(r);
}

static void test_bad_roots(void **state) {
    (void)state;
    char *r = basic_tree();
    char p[4096];
    hone_error err = {0};
    hone_io_walk_opts o = {.on_entry = on_entry};
    seen s = {0};
    o.ctx = &s;
    pthread_mutex_init(&s.mu, NULL);
    snprintf(p, sizeof p, "%s/nope", r);
    assert_int_equal(hone_io_walk(p, &o, NULL, &err), HONE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nope"));
    snprintf(p, sizeof p, "%s/a.txt", r);
    assert_int_equal(hone_io_walk(p, &o, NULL, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "not a directory"));
    hone_io_walk_opts none = {0};
    assert_int_equal(hone_io_walk(r, &none, NULL, &err), HONE_EINVAL);
    pthread_mutex_destroy(&s.mu);
    tree_rm(r);
    free(r);
}

/* Walks a tree with an unreadable directory and writes "errors files
 * error-line" to fd. Runs in a child that, when started as root, first
 * becomes nobody: root reads any directory whatever its mode. */
static int unreadable_child(const char *r, int fd) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) return 3;
    seen s = {0};
    static char out[65536];
    hone_io_walk_stats st;
    hone_io_walk_opts o = {.threads = 2};
    int rc = walk(r, &o, &s, &st, out, sizeof out);
    dprintf(fd, "%d %llu %llu %s\n", rc, (unsigned long long)st.errors,
            (unsigned long long)st.files, s.nerr ? s.errs[0] : "-");
    return 0;
}

static void test_unreadable_dir_is_reported_and_walk_goes_on(void **state) {
    (void)state;
    char *r = basic_tree();
    assert_int_equal(tree_file(r, "locked/inside.txt", "x"), 0);
    char p[4096];
    snprintf(p, sizeof p, "%s/locked", r);
    assert_int_equal(chmod(p, 0), 0);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        _exit(unreadable_child(r, pfd[1]));
    }
    close(pfd[1]);
    char buf[512] = {0};
    ssize_t n = read(pfd[0], buf, sizeof buf - 1);
    close(pfd[0]);
    int status;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
        print_message("skipping: running as root and cannot switch to uid 65534\n");
        tree_rm(r);
        free(r);
        skip();
    }
    assert_true(n > 0);
    /* rc 0, one error, the five readable files, the error names the dir. */
    assert_string_equal(buf, "0 1 5 locked HONE_EACCES\n");
    tree_rm(r);
    free(r);
}

static void test_wide_tree_many_threads(void **state) {
    (void)state;
    char *r = tree_new();
    char rel[64];
    for (int d = 0; d < 40; d++)
        for (int f = 0; f < 12; f++) {
            snprintf(rel, sizeof rel, "d%02d/s%d/f%02d", d, d % 3, f);
            assert_int_equal(tree_file(r, rel, "x"), 0);
        }
    seen s = {0};
    static char out[65536];
    hone_io_walk_stats st;
    hone_io_walk_opts o = {.threads = 8};
    assert_int_equal(walk(r, &o, &s, &st, out, sizeof out), HONE_OK);
    assert_int_equal(st.files, 480);
    assert_int_equal(st.dirs, 80);
    assert_int_equal(s.n, 480);
    for (int i = 1; i < s.n; i++) assert_true(strcmp(s.lines[i - 1], s.lines[i]) < 0);
    tree_rm(r);
    free(r);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lists_every_entry),
        cmocka_unit_test(test_lazy_walk_leaves_files_unstated),
        cmocka_unit_test(test_follow_never_loops_or_leaves_root),
        cmocka_unit_test(test_one_file_system),
        cmocka_unit_test(test_globs),
        cmocka_unit_test(test_prune_and_stop),
        cmocka_unit_test(test_bad_roots),
        cmocka_unit_test(test_unreadable_dir_is_reported_and_walk_goes_on),
        cmocka_unit_test(test_wide_tree_many_threads),
};
HONE_TEST_MAIN(tests)
