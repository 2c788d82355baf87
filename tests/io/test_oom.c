/* test_oom.c - every representative io call, with each of its allocations
 * failing in turn, returns HONE_ENOMEM (or recovers) and leaks nothing. */
#include "test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hone/io.h"
#include "tree.h"

static char *root, *idx;

static int count_entry(void *ctx, const hone_io_entry *e) {
    (void)e;
    __atomic_add_fetch((int *)ctx, 1, __ATOMIC_RELAXED);
    return 0;
}

static int do_walk(const hone_allocator *a, void *ctx) {
    (void)ctx;
    int n = 0;
    const char *exc[] = {"*.tmp"};
    hone_io_walk_opts o = {.alloc = a, .threads = 2, .exclude = exc, .n_exclude = 1,
                           .report_dirs = 1, .on_entry = count_entry, .ctx = &n};
    return hone_io_walk(root, &o, NULL, NULL);
}

static void no_move(void *ctx, const char *from, const char *to) { (void)ctx, (void)from, (void)to; }

static int do_build(const hone_allocator *a, void *ctx) {
    int use_index = *(int *)ctx;
    /* A file left out by device and inode (as -o does) allocates too. */
    char self[4200];
    snprintf(self, sizeof self, "%s/d/skip.tmp", root);
    const char *skip[] = {self};
    hone_io_manifest_opts o = {.alloc = a, .threads = 2, .no_index = !use_index, .index_dir = idx,
                               .exclude_files = skip, .n_exclude_files = 1};
    hone_io_manifest *m = NULL;
    int rc = hone_io_manifest_build(&m, root, &o, NULL, NULL);
    if (rc) return rc;
    hone_buf b;
    hone_buf_init(&b, a);
    hone_io_manifest *back = NULL;
    rc = hone_io_manifest_format_to(m, HONE_IO_MANIFEST_SUM, &b);
    if (!rc) rc = hone_io_manifest_parse(&back, b.data, b.len, NULL, a, NULL);
    hone_io_manifest_free(back);
    back = NULL;
    hone_buf_clear(&b);
    if (!rc) rc = hone_io_manifest_format_to(m, HONE_IO_MANIFEST_JSON, &b);
    if (!rc) rc = hone_io_manifest_parse(&back, b.data, b.len, NULL, a, NULL);
    hone_io_check_summary s;
    if (!rc) rc = hone_io_manifest_check(m, root, &o, NULL, NULL, &s, NULL, NULL);
    if (!rc) rc = hone_io_manifest_diff(m, m, 1, NULL, NULL, &s, NULL);
    /* Move detection allocates its lists: against a manifest of nothing
     * (all missing) and the other way round (all extra). */
    hone_io_manifest *none = NULL;
    if (!rc) rc = hone_io_manifest_parse(&none, "", 0, NULL, a, NULL);
    hone_io_diff_opts d = {.alloc = a, .on_move = no_move};
    if (!rc) rc = hone_io_manifest_diff_ex(m, none, &d, &s, NULL);
    if (!rc) rc = hone_io_manifest_diff_ex(none, m, &d, &s, NULL);
    if (!rc) rc = hone_io_manifest_check_moves(none, root, &o, NULL, no_move, NULL, &s, NULL, NULL);
    hone_io_manifest_free(none);
    hone_io_manifest_free(back);
    hone_io_manifest_free(m);
    hone_buf_free(&b);
    return rc;
}

static int do_parse(const hone_allocator *a, void *ctx) {
    (void)ctx;
    static const char text[] =
        "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae  a\n"
        "\\2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae  b\\\\c\n";
    static const char json[] =
        "{\"algo\":\"sha256\",\"files\":[{\"path\":\"a\",\"digest\":"
        "\"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\",\"size\":3}]}";
    hone_io_manifest *m = NULL, *j = NULL;
    int rc = hone_io_manifest_parse(&m, text, sizeof text - 1, NULL, a, NULL);
    if (!rc) rc = hone_io_manifest_parse(&j, json, sizeof json - 1, NULL, a, NULL);
    hone_io_manifest_free(m);
    hone_io_manifest_free(j);
    return rc;
}

static void test_oom(void **state) {
    (void)state;
    root = tree_new();
    idx = tree_new();
    tree_file(root, "a.txt", "a");
    tree_file(root, "d/b.txt", "bb");
    tree_file(root, "d/e/c.txt", "ccc");
    tree_file(root, "d/skip.tmp", "t");
    hone_log_set_level(HONE_LOG_ERROR);
    assert_true(failalloc_loop("hone_io_walk", do_walk, NULL) > 0);
    int use_index = 0;
    assert_true(failalloc_loop("manifest build/format/parse/check/diff", do_build, &use_index) > 0);
    use_index = 1;
    assert_true(failalloc_loop("manifest build with the index", do_build, &use_index) > 0);
    assert_true(failalloc_loop("hone_io_manifest_parse", do_parse, NULL) > 0);
    hone_log_set_level(HONE_LOG_WARN);
    tree_rm(root);
    tree_rm(idx);
    free(root);
    free(idx);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_oom)};
    return HONE_TEST_RUN(tests, NULL, NULL, argc, argv);
}
