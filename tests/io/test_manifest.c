/* test_manifest.c - manifests: building (digests, order, globs), the
 * incremental index (cache hits, the racy-timestamp rule with an injected
 * clock, corrupt/foreign/mismatched indexes), parsing, check and diff. */
#include "test.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hone/hash.h"
#include "hone/io.h"
#include "tree.h"

/* A clock the test sets: the racy rule compares file mtimes with it. */
static int64_t fixed_clock(void *ctx) { return *(const int64_t *)ctx; }

static int64_t mtime_of(const char *root, const char *rel) {
    char p[4096];
    struct stat sb;
    tree_path(p, sizeof p, root, rel);
    assert_int_equal(stat(p, &sb), 0);
    return (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
}

static void set_mtime(const char *root, const char *rel, int64_t ns) {
    char p[4096];
    tree_path(p, sizeof p, root, rel);
    struct timespec ts[2] = {{ns / 1000000000, ns % 1000000000}, {ns / 1000000000, ns % 1000000000}};
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

typedef struct env {
    char *root, *idx;
    int64_t now;
    hone_io_manifest_opts o;
} env;

static int setup(void **state) {
    env *e = calloc(1, sizeof *e);
    e->root = tree_new();
    e->idx = tree_new();
    tree_file(e->root, "b.txt", "bee");
    tree_file(e->root, "a.txt", "ay");
    tree_file(e->root, "sub/c.bin", "sea");
    tree_file(e->root, "sub/deep/d.tmp", "dee");
    /* Files well in the past, the clock well after them: nothing racy
     * unless a test makes it so. */
    e->now = mtime_of(e->root, "a.txt") + 3600 * (int64_t)1000000000;
    e->o.index_dir = e->idx;
    e->o.clock_ns = fixed_clock;
    e->o.clock_ctx = &e->now;
    *state = e;
    return 0;
}

static int teardown(void **state) {
    env *e = *state;
    tree_rm(e->root);
    tree_rm(e->idx);
    free(e->root);
    free(e->idx);
    free(e);
    return 0;
}

static void test_build_sorted_with_digests(void **state) {
    env *e = *state;
    hone_io_manifest *m;
    hone_io_manifest_stats st;
    hone_error err = {0};
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
    assert_int_equal(hone_io_manifest_count(m), 4);
    assert_string_equal(hone_io_manifest_entry_at(m, 0)->path, "a.txt");
    assert_string_equal(hone_io_manifest_entry_at(m, 1)->path, "b.txt");
    assert_string_equal(hone_io_manifest_entry_at(m, 2)->path, "sub/c.bin");
    assert_string_equal(hone_io_manifest_entry_at(m, 3)->path, "sub/deep/d.tmp");
    expect_digest(m, "a.txt", "ay");
    expect_digest(m, "sub/deep/d.tmp", "dee");
    assert_int_equal(hone_io_manifest_entry_at(m, 0)->size, 2);
    assert_int_equal(st.files, 4);
    assert_int_equal(st.hashed, 4);
    assert_int_equal(st.cached, 0);

    hone_buf b;
    hone_buf_init(&b, NULL);
    assert_int_equal(hone_io_manifest_format_to(m, HONE_IO_MANIFEST_SUM, &b), HONE_OK);
    assert_non_null(strstr(b.data, "  a.txt\n"));
    assert_true(strstr(b.data, "  a.txt\n") < strstr(b.data, "  b.txt\n"));
    hone_buf_free(&b);

    const char *exc[] = {"*.tmp"}, *inc[] = {"sub/**"};
    hone_io_manifest_opts o = e->o;
    o.exclude = exc, o.n_exclude = 1, o.include = inc, o.n_include = 1;
    hone_io_manifest *m2;
    assert_int_equal(hone_io_manifest_build(&m2, e->root, &o, &st, &err), HONE_OK);
    assert_int_equal(hone_io_manifest_count(m2), 1);
    assert_string_equal(hone_io_manifest_entry_at(m2, 0)->path, "sub/c.bin");
    hone_io_manifest_free(m2);
    hone_io_manifest_free(m);
}

static void test_second_build_reads_nothing(void **state) {
    env *e = *state;
    hone_io_manifest *m;
    hone_io_manifest_stats st;
    hone_error err = {0};
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
    hone_io_manifest_free(m);
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
    assert_int_equal(st.hashed, 0);
    assert_int_equal(st.cached, 4);
    expect_digest(m, "b.txt", "bee");
    hone_io_manifest_free(m);
    /* A changed file (new size, new mtime) is read again; the others not. */
    tree_file(e->root, "b.txt", "changed");
    set_mtime(e->root, "b.txt", e->now - 1000000000);
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
    assert_int_equal(st.hashed, 1);
    assert_int_equal(st.cached, 3);
    expect_digest(m, "b.txt", "changed");
    hone_io_manifest_free(m);
    /* A deleted file's entry is dropped from the index; a build with globs
     * (which did not see every file) drops nothing. */
    char p[4096];
    tree_path(p, sizeof p, e->root, "sub/c.bin");
    const char *inc[] = {"*.txt"};
    hone_io_manifest_opts og = e->o;
    og.include = inc, og.n_include = 1;
    assert_int_equal(hone_io_manifest_build(&m, e->root, &og, &st, &err), HONE_OK);
    assert_int_equal(st.pruned, 0);
    hone_io_manifest_free(m);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
    assert_int_equal(st.pruned, 1);
    assert_int_equal(st.cached, 3);
    hone_io_manifest_free(m);
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
    assert_int_equal(st.pruned, 0);
    hone_io_manifest_free(m);
    /* Another algorithm does not use sha256 entries. */
    hone_io_manifest_opts o = e->o;
    o.algo = "blake3";
    assert_int_equal(hone_io_manifest_build(&m, e->root, &o, &st, &err), HONE_OK);
    assert_int_equal(st.hashed, 3);
    assert_string_equal(hone_io_manifest_algo(m), "blake3");
    hone_io_manifest_free(m);
}

/* The racy-timestamp rule, deterministically: the run's clock is set to
 * the file's mtime, as if the file had been written in the same clock
 * tick as the run started. Such an entry must not be trusted next time,
 * because a second write in that tick would leave size, mtime and ctime
 * unchanged. */
static void test_racy_entry_is_rehashed(void **state) {
    env *e = *state;
    hone_io_manifest *m;
    hone_io_manifest_stats st;
    hone_error err = {0};
    /* An odd nanosecond: the file system's granularity is read from the
     * mtime (ns divisible by 10 look like a 10 ns clock), and the later
     * runs below must fall outside a.txt's tick whatever the clock read. */
    int64_t t = mtime_of(e->root, "a.txt") | 1;
    const char *all[] = {"a.txt", "b.txt", "sub/c.bin", "sub/deep/d.tmp"};
    for (int i = 0; i < 4; i++) set_mtime(e->root, all[i], t - (i ? 1000 : 0));
    e->now = t; /* the same tick as a.txt's mtime; the others are older */
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
    hone_io_manifest_free(m);
    e->now = t + 1; /* any later run */
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
    /* a.txt (mtime == the storing run's stamp) is racy and read again;
     * the others, older than that stamp, are trusted. */
    assert_int_equal(st.racy, 1);
    assert_int_equal(st.hashed, 1);
    assert_int_equal(st.cached, 3);
    hone_io_manifest_free(m);
    /* Re-read by a run whose stamp is after its mtime, it is trusted. */
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
    assert_int_equal(st.racy, 0);
    assert_int_equal(st.hashed, 0);
    hone_io_manifest_free(m);

    /* With a 1 s granularity, an mtime in the same second as the stamp is
     * racy even when a little older. */
    hone_io_manifest_opts o = e->o;
    o.granularity_ns = 1000000000;
    int64_t sec = (t / 1000000000) * 1000000000;
    set_mtime(e->root, "a.txt", sec + 100);
    for (int i = 1; i < 4; i++) set_mtime(e->root, all[i], sec - 5000000000);
    e->now = sec + 500;
    assert_int_equal(hone_io_manifest_build(&m, e->root, &o, &st, &err), HONE_OK);
    hone_io_manifest_free(m);
    e->now = sec + 900;
    assert_int_equal(hone_io_manifest_build(&m, e->root, &o, &st, &err), HONE_OK);
    assert_int_equal(st.racy, 1);
    hone_io_manifest_free(m);
}

/* The real race, end to end: write, build, rewrite with the same size at
 * once (same clock tick, so size, mtime and maybe ctime are unchanged),
 * build again: the digest must be the new content's. */
static void test_racy_rewrite_is_caught(void **state) {
    env *e = *state;
    hone_io_manifest_opts o = e->o;
    o.clock_ns = NULL; /* the real file-system clock */
    hone_io_manifest *m;
    hone_error err = {0};
    for (int i = 0; i < 5; i++) {
        tree_file(e->root, "r.txt", "one");
        assert_int_equal(hone_io_manifest_build(&m, e->root, &o, NULL, &err), HONE_OK);
        expect_digest(m, "r.txt", "one");
        hone_io_manifest_free(m);
        tree_file(e->root, "r.txt", "two");
        assert_int_equal(hone_io_manifest_build(&m, e->root, &o, NULL, &err), HONE_OK);
        expect_digest(m, "r.txt", "two");
        hone_io_manifest_free(m);
    }
}

static void index_file(const env *e, char *p, size_t n) {
    snprintf(p, n, "%s/manifest-index.mdb", e->idx);
}

static void quiet_log(void *ctx, hone_log_level level, const char *module, const char *msg) {
    int *warned = ctx;
    if (level == HONE_LOG_WARN && strstr(msg, "rebuild")) (*warned)++;
    (void)module;
}

static void build_expect_rebuilt(env *e, int want_rebuilt) {
    hone_io_manifest *m;
    hone_io_manifest_stats st;
    hone_error err = {0};
    int warned = 0;
    hone_log_set_sink(quiet_log, &warned);
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
    hone_log_set_sink(NULL, NULL);
    assert_int_equal(st.index_rebuilt, want_rebuilt);
    assert_int_equal(warned, want_rebuilt);
    if (want_rebuilt) assert_int_equal(st.hashed, 4);
    expect_digest(m, "a.txt", "ay");
    expect_digest(m, "b.txt", "bee");
    hone_io_manifest_free(m);
}

static void test_foreign_index_is_rebuilt(void **state) {
    env *e = *state;
    char p[4096];
    index_file(e, p, sizeof p);
    tree_mkdir(e->idx, "x");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    for (int i = 0; i < 2000; i++) fputs("this is not an LMDB file\n", f);
    fclose(f);
    build_expect_rebuilt(e, 1);
    build_expect_rebuilt(e, 0); /* and the rebuilt one is used afterwards */
}

/* Opens the index with LMDB directly, as a different program (or a bug)
 * might have written it. */
static void lmdb_put_raw(const env *e, const void *k, size_t kl, const void *v, size_t vl,
                         int drop_magic) {
    char p[4096];
    index_file(e, p, sizeof p);
    MDB_env *menv;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&menv), 0);
    assert_int_equal(mdb_env_open(menv, p, MDB_NOSUBDIR, 0644), 0);
    assert_int_equal(mdb_txn_begin(menv, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    if (drop_magic) {
        MDB_val mk = {sizeof "\001hone.io.index" - 1, "\001hone.io.index"};
        assert_int_equal(mdb_del(txn, dbi, &mk, NULL), 0);
    }
    if (k) {
        MDB_val mk = {kl, (void *)k}, mv = {vl, (void *)v};
        assert_int_equal(mdb_put(txn, dbi, &mk, &mv, 0), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(menv);
}

static void test_damaged_entry_is_never_trusted(void **state) {
    env *e = *state;
    build_expect_rebuilt(e, 0);
    /* Flip one byte of a.txt's stored digest: the entry's checksum no
     * longer matches and the whole index is distrusted and rebuilt. */
    char key[8192], real[4096];
    assert_non_null(realpath(e->root, real));
    snprintf(key, sizeof key, "%s/a.txt", real);
    char p[4096];
    index_file(e, p, sizeof p);
    MDB_env *menv;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&menv), 0);
    assert_int_equal(mdb_env_open(menv, p, MDB_NOSUBDIR, 0644), 0);
    assert_int_equal(mdb_txn_begin(menv, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    MDB_val k = {strlen(key), key}, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    unsigned char copy[512];
    assert_true(v.mv_size <= sizeof copy);
    memcpy(copy, v.mv_data, v.mv_size);
    copy[v.mv_size - 8 - 1] ^= 1; /* the digest's last byte */
    MDB_val nv = {v.mv_size, copy};
    assert_int_equal(mdb_put(txn, dbi, &k, &nv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(menv);
    build_expect_rebuilt(e, 1);
    build_expect_rebuilt(e, 0);
}

static void test_mismatched_or_unmarked_index_is_rebuilt(void **state) {
    env *e = *state;
    build_expect_rebuilt(e, 0);
    /* Another version's magic record. */
    lmdb_put_raw(e, "\001hone.io.index", sizeof "\001hone.io.index" - 1, "hone-io-index v0 xxxx", 21, 0);
    build_expect_rebuilt(e, 1);
    /* Entries without hone's record at all. */
    lmdb_put_raw(e, "/some/key", 9, "value", 5, 1);
    build_expect_rebuilt(e, 1);
    build_expect_rebuilt(e, 0);
}

static void test_check_reports_every_kind(void **state) {
    env *e = *state;
    hone_io_manifest *m;
    hone_error err = {0};
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, NULL, &err), HONE_OK);
    tree_file(e->root, "a.txt", "AY"); /* same size, other content */
    set_mtime(e->root, "a.txt", mtime_of(e->root, "b.txt"));
    char p[4096];
    tree_path(p, sizeof p, e->root, "sub/c.bin");
    unlink(p);
    tree_file(e->root, "new.txt", "n");
    hone_io_check_summary s;
    hone_buf log;
    hone_buf_init(&log, NULL);
    assert_int_equal(hone_io_manifest_check(m, e->root, &e->o, NULL, NULL, &s, NULL, &err), HONE_OK);
    assert_int_equal(s.same, 2);
    assert_int_equal(s.modified, 1);
    assert_int_equal(s.missing, 1);
    assert_int_equal(s.extra, 1);
    assert_int_equal(s.unreadable, 0);
    hone_buf_free(&log);
    hone_io_manifest_free(m);
}

static void record_change(void *ctx, hone_io_change c, const char *path) {
    hone_buf_printf(ctx, "%s %s\n", hone_io_change_name(c), path);
}

/* In a child that is not root (root reads anything), checks a tree whose
 * file and directory were made unreadable; writes the report to fd. */
static int unreadable_child(env *e, const hone_io_manifest *m, int fd) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) return 3;
    hone_buf out;
    hone_buf_init(&out, NULL);
    hone_io_check_summary s;
    hone_error err = {0};
    hone_io_manifest_opts o = e->o;
    o.no_index = 1; /* the index directory belongs to root */
    int rc = hone_io_manifest_check(m, e->root, &o, record_change, &out, &s, NULL, &err);
    dprintf(fd, "%d %llu\n%s", rc, (unsigned long long)s.unreadable, out.data ? out.data : "");
    hone_buf_free(&out);
    return 0;
}

static void test_check_reports_unreadable(void **state) {
    env *e = *state;
    hone_io_manifest *m;
    hone_error err = {0};
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, NULL, &err), HONE_OK);
    char p[4096];
    tree_path(p, sizeof p, e->root, "a.txt");
    assert_int_equal(chmod(p, 0), 0);
    tree_path(p, sizeof p, e->root, "sub/deep");
    assert_int_equal(chmod(p, 0), 0);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        _exit(unreadable_child(e, m, pfd[1]));
    }
    close(pfd[1]);
    char buf[1024] = {0};
    ssize_t n = read(pfd[0], buf, sizeof buf - 1);
    close(pfd[0]);
    int status;
    waitpid(pid, &status, 0);
    hone_io_manifest_free(m);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
        print_message("skipping: running as root and cannot switch to uid 65534\n");
        skip();
    }
    assert_true(n > 0);
    /* The directory, and the listed file it hides. */
    assert_string_equal(buf, "0 3\nunreadable a.txt\nunreadable sub/deep\nunreadable sub/deep/d.tmp\n");
}

static void test_parse_formats_and_errors(void **state) {
    (void)state;
    hone_io_manifest *m;
    hone_error err = {0};
    const char *h1 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
    const char *h2 = "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9";
    char text[1024];
    snprintf(text, sizeof text, "%s  ./z.txt\n%s *a b\n\\%s  back\\\\slash\\nnl\n", h1, h2, h1);
    assert_int_equal(hone_io_manifest_parse(&m, text, strlen(text), NULL, NULL, &err), HONE_OK);
    assert_int_equal(hone_io_manifest_count(m), 3);
    assert_string_equal(hone_io_manifest_algo(m), "sha256");
    assert_string_equal(hone_io_manifest_entry_at(m, 0)->path, "a b");
    assert_string_equal(hone_io_manifest_entry_at(m, 1)->path, "back\\slash\nnl");
    assert_string_equal(hone_io_manifest_entry_at(m, 2)->path, "z.txt");
    /* Round trip through both formats. */
    hone_buf b;
    hone_buf_init(&b, NULL);
    for (int fmt = 0; fmt < 2; fmt++) {
        hone_buf_clear(&b);
        assert_int_equal(hone_io_manifest_format_to(m, (hone_io_manifest_format)fmt, &b), HONE_OK);
        hone_io_manifest *m2;
        assert_int_equal(hone_io_manifest_parse(&m2, b.data, b.len, NULL, NULL, &err), HONE_OK);
        hone_io_check_summary s;
        assert_int_equal(hone_io_manifest_diff(m, m2, 0, NULL, NULL, &s, &err), HONE_OK);
        assert_int_equal(s.same, 3);
        assert_int_equal(s.modified + s.missing + s.extra, 0);
        hone_io_manifest_free(m2);
    }
    hone_buf_free(&b);
    hone_io_manifest_free(m);

    snprintf(text, sizeof text, "%s  a\n%s  b\nnot a line\n", h1, h2);
    assert_int_equal(hone_io_manifest_parse(&m, text, strlen(text), NULL, NULL, &err), HONE_EPARSE);
    assert_null(m);
    assert_int_equal(err.line, 3);
    assert_non_null(strstr(err.msg, "line 3"));

    snprintf(text, sizeof text, "%s  a\n%s  b\n%s  a\n", h1, h2, h2);
    assert_int_equal(hone_io_manifest_parse(&m, text, strlen(text), NULL, NULL, &err), HONE_EPARSE);
    assert_int_equal(err.line, 3);
    assert_non_null(strstr(err.msg, "twice"));

    assert_int_equal(hone_io_manifest_parse(&m, "{\"algo\":\"sha256\",\"files\":[{}]}", 31, NULL,
                                            NULL, &err),
                     HONE_EPARSE);
    assert_int_equal(hone_io_manifest_parse(&m, "{\"algo\":", 8, NULL, NULL, &err), HONE_EPARSE);
    assert_int_equal(hone_io_manifest_parse(&m, "", 0, "nope", NULL, &err), HONE_EINVAL);
    assert_int_equal(hone_io_manifest_parse(&m, "", 0, NULL, NULL, &err), HONE_OK);
    assert_int_equal(hone_io_manifest_count(m), 0);
    hone_io_manifest_free(m);
}

static void test_diff(void **state) {
    (void)state;
    const char *h1 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
    const char *h2 = "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9";
    char ta[512], tb[512];
    snprintf(ta, sizeof ta, "%s  same\n%s  changed\n%s  gone\n", h1, h1, h1);
    snprintf(tb, sizeof tb, "%s  same\n%s  changed\n%s  added\n", h1, h2, h1);
    hone_io_manifest *a, *b, *c;
    hone_error err = {0};
    assert_int_equal(hone_io_manifest_parse(&a, ta, strlen(ta), NULL, NULL, &err), HONE_OK);
    assert_int_equal(hone_io_manifest_parse(&b, tb, strlen(tb), NULL, NULL, &err), HONE_OK);
    hone_buf out;
    hone_buf_init(&out, NULL);
    hone_io_check_summary s;
    assert_int_equal(hone_io_manifest_diff(a, b, 1, record_change, &out, &s, &err), HONE_OK);
    assert_string_equal(out.data, "extra added\nmodified changed\nmissing gone\nsame same\n");
    assert_int_equal(hone_io_manifest_parse(&c, ta, strlen(ta), "blake3", NULL, &err), HONE_OK);
    assert_int_equal(hone_io_manifest_diff(a, c, 0, NULL, NULL, &s, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "blake3"));
    hone_buf_free(&out);
    hone_io_manifest_free(a);
    hone_io_manifest_free(b);
    hone_io_manifest_free(c);
}

/* Mutated manifests (bytes flipped, inserted, deleted, lines cut) must
 * parse or be rejected with HONE_EPARSE and a line number; never crash,
 * read out of bounds (ASan) or leak. Deterministic: a fixed seed. */
static void test_parse_fuzz(void **state) {
    (void)state;
    static const char seed[] =
        "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae  a\n"
        "\\fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9  b\\\\c\\nd\n"
        "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae *./e f\n";
    static const char jseed[] =
        "{\"algo\":\"sha256\",\"files\":[{\"path\":\"a\",\"digest\":"
        "\"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\",\"size\":3}]}";
    const char *alph = "0123456789abcdefgh \\\n*./{}[]\":,";
    uint64_t x = 42;
    char buf[512];
    int ok = 0, bad = 0;
    for (int it = 0; it < 20000; it++) {
        const char *src = (it & 1) ? jseed : seed;
        size_t n = strlen(src);
        memcpy(buf, src, n);
        int muts = 1 + (int)(x % 4);
        for (int k = 0; k < muts; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t pos = n ? (size_t)(x % n) : 0;
            char c = alph[(x >> 32) % strlen(alph)];
            switch ((x >> 20) % 4) {
            case 0: if (n) buf[pos] = c; break;
            case 1: if (n < sizeof buf - 1) memmove(buf + pos + 1, buf + pos, n - pos), buf[pos] = c, n++; break;
            case 2: if (n) memmove(buf + pos, buf + pos + 1, n - pos - 1), n--; break;
            case 3: n = pos; break;
            }
        }
        hone_io_manifest *m = NULL;
        hone_error err = {0};
        /* Parse from a heap copy of exactly n bytes, no NUL, so ASan sees
         * any read past the end. */
        char *exact = malloc(n ? n : 1);
        memcpy(exact, buf, n);
        int rc = hone_io_manifest_parse(&m, exact, n, NULL, NULL, &err);
        free(exact);
        if (rc == HONE_OK) {
            ok++;
            hone_io_manifest_free(m);
        } else {
            if (rc != HONE_EPARSE) fail_msg("iteration %d: got %s, want HONE_EPARSE", it, hone_status_name(rc));
            assert_null(m);
            assert_true(err.msg[0] != 0);
            bad++;
        }
    }
    assert_true(ok > 0 && bad > 0);
}

static void test_symlinks_listed_only_when_followed_inside(void **state) {
    env *e = *state;
    char *outside = tree_new();
    tree_file(outside, "secret", "s");
    assert_int_equal(tree_symlink(e->root, "alias.txt", "a.txt"), 0);
    assert_int_equal(tree_symlink(e->root, "out", outside), 0);
    assert_int_equal(tree_symlink(e->root, "sub/up", ".."), 0);
    hone_io_manifest *m;
    hone_error err = {0};
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, NULL, &err), HONE_OK);
    assert_int_equal(hone_io_manifest_count(m), 4);
    assert_null(hone_io_manifest_find(m, "alias.txt"));
    hone_io_manifest_free(m);
    hone_io_manifest_opts o = e->o;
    o.follow_symlinks = 1;
    assert_int_equal(hone_io_manifest_build(&m, e->root, &o, NULL, &err), HONE_OK);
    /* alias.txt is a.txt's content; out/ leaves the root and sub/up loops:
     * neither adds files. */
    assert_int_equal(hone_io_manifest_count(m), 5);
    expect_digest(m, "alias.txt", "ay");
    hone_io_manifest_free(m);
    tree_rm(outside);
    free(outside);
}

/* The default index directory: HONE_CACHE_DIR when absolute; a relative
 * one or a quoted "~/x" is refused (it would scatter an index under
 * whatever directory the program runs in), never used. */
static void test_index_dir_from_env(void **state) {
    (void)state;
    char *saved = getenv("HONE_CACHE_DIR") ? strdup(getenv("HONE_CACHE_DIR")) : NULL;
    char *dir = NULL;
    hone_error err = {0};
    setenv("HONE_CACHE_DIR", "/var/tmp/hone-index", 1);
    assert_int_equal(hone_io_default_index_dir(&dir, NULL, &err), HONE_OK);
    assert_string_equal(dir, "/var/tmp/hone-index");
    hone_free(NULL, dir);
    dir = NULL;
    setenv("HONE_CACHE_DIR", "~/x", 1);
    assert_int_equal(hone_io_default_index_dir(&dir, NULL, &err), HONE_EINVAL);
    assert_null(dir);
    assert_non_null(strstr(err.msg, "HONE_CACHE_DIR=~/x: expected an absolute directory path"));
    setenv("HONE_CACHE_DIR", "cache", 1);
    assert_int_equal(hone_io_default_index_dir(&dir, NULL, &err), HONE_EINVAL);
    if (saved) setenv("HONE_CACHE_DIR", saved, 1);
    else unsetenv("HONE_CACHE_DIR");
    free(saved);
}

static void test_bad_arguments(void **state) {
    env *e = *state;
    hone_io_manifest *m;
    hone_error err = {0};
    hone_io_manifest_opts o = e->o;
    o.algo = "md5";
    assert_int_equal(hone_io_manifest_build(&m, e->root, &o, NULL, &err), HONE_EINVAL);
    assert_null(m);
    assert_non_null(strstr(err.msg, "md5"));
    /* The algorithm as the hash module's enum; a name that disagrees with
     * it is refused rather than one of them silently winning. */
    o = e->o;
    o.algo = NULL;
    o.algorithm = HONE_HASH_BLAKE3;
    assert_int_equal(hone_io_manifest_build(&m, e->root, &o, NULL, &err), HONE_OK);
    assert_string_equal(hone_io_manifest_algo(m), "blake3");
    hone_io_manifest_free(m);
    o.algo = "sha256";
    assert_int_equal(hone_io_manifest_build(&m, e->root, &o, NULL, &err), HONE_EINVAL);
    assert_null(m);
    assert_non_null(strstr(err.msg, "disagree"));
    o.algo = NULL;
    o.algorithm = (hone_hash_algo)99;
    assert_int_equal(hone_io_manifest_build(&m, e->root, &o, NULL, &err), HONE_EINVAL);
    assert_null(m);
    o = e->o;
    char p[4096];
    tree_path(p, sizeof p, e->root, "missing-dir");
    assert_int_equal(hone_io_manifest_build(&m, p, &e->o, NULL, &err), HONE_ENOTFOUND);
    assert_null(m);
    /* An index directory that cannot be created: the build goes on
     * without it. */
    o = e->o;
    tree_path(p, sizeof p, e->root, "a.txt/not-a-dir");
    o.index_dir = p;
    hone_log_set_level(HONE_LOG_ERROR);
    assert_int_equal(hone_io_manifest_build(&m, e->root, &o, NULL, &err), HONE_OK);
    hone_log_set_level(HONE_LOG_WARN);
    assert_int_equal(hone_io_manifest_count(m), 4);
    hone_io_manifest_free(m);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The manifest sorts on a 16-byte prefix key before strcmp: names that
 * tie on the prefix, end inside it or right at it, differ only after it,
 * or hold bytes >= 0x80 must still come out in plain bytewise order. The
 * second build must find every file in the index (the directory scans). */
static void test_order_is_bytewise_around_the_sort_prefix(void **state) {
    env *e = *state;
    const char *names[] = {"a.txt", "b.txt", "sub/c.bin", "sub/deep/d.tmp",
                           "0123456789abcdef", "0123456789abcde", "0123456789abcdeg",
                           "0123456789abcdef0", "0123456789abcdef.", "0123456789abcdd/x",
                           "longdirectoryname/f1", "longdirectoryname/f0",
                           "longdirectoryname-x", "\xc3\xa9t\xc3\xa9", "\x7f", "Z", "a-b",
                           "a\xff", "0123456789abcdef0123456789abcdef1",
                           "0123456789abcdef0123456789abcdef0",
                           /* Subdirectories sorting before, at and after a
                            * sibling file: the per-directory index scan skips
                            * each subtree with a seek. */
                           "p/q-r/t.txt", "p/q.txt", "p/q/r/s.txt", "p/q0.txt", "p.txt"};
    size_t n = sizeof names / sizeof *names;
    for (size_t i = 4; i < n; i++) assert_int_equal(tree_file(e->root, names[i], names[i]), 0);
    const char *want[sizeof names / sizeof *names];
    memcpy(want, names, sizeof names);
    qsort(want, n, sizeof *want, cmp_str);
    hone_io_manifest *m;
    hone_error err = {0};
    for (int pass = 0; pass < 2; pass++) { /* cold, then every digest from the index */
        hone_io_manifest_stats st;
        assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
        assert_int_equal(st.cached, pass ? n : 0);
        assert_int_equal(hone_io_manifest_count(m), n);
        for (size_t i = 0; i < n; i++)
            assert_string_equal(hone_io_manifest_entry_at(m, i)->path, want[i]);
        expect_digest(m, "0123456789abcdef0", "0123456789abcdef0");
        hone_io_manifest_free(m);
    }
}

/* The LMDB transaction id of the index: it grows with every commit. */
static size_t index_txnid(const env *e) {
    char p[4096];
    index_file(e, p, sizeof p);
    MDB_env *menv;
    MDB_envinfo info;
    assert_int_equal(mdb_env_create(&menv), 0);
    assert_int_equal(mdb_env_open(menv, p, MDB_NOSUBDIR | MDB_RDONLY, 0644), 0);
    assert_int_equal(mdb_env_info(menv, &info), 0);
    mdb_env_close(menv);
    return info.me_last_txnid;
}

/* A warm build with nothing to store commits nothing (no writer's lock,
 * no sync); a changed or a deleted file does make it write. */
static void test_warm_build_writes_nothing(void **state) {
    env *e = *state;
    hone_io_manifest *m;
    hone_io_manifest_stats st;
    hone_error err = {0};
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
    hone_io_manifest_free(m);
    size_t t0 = index_txnid(e);
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
    assert_int_equal(st.cached, 4);
    /* Every phase was timed and the whole covers the parts. */
    assert_true(st.total_ns >= st.open_ns + st.walk_ns + st.sort_ns + st.store_ns + st.make_ns);
    assert_true(st.walk_ns > 0);
    hone_io_manifest_free(m);
    assert_int_equal(index_txnid(e), t0);
    tree_file(e->root, "a.txt", "changed");
    set_mtime(e->root, "a.txt", e->now - 1000000000);
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
    assert_int_equal(st.hashed, 1);
    hone_io_manifest_free(m);
    size_t t1 = index_txnid(e);
    assert_true(t1 > t0);
    char p[4096];
    tree_path(p, sizeof p, e->root, "b.txt");
    assert_int_equal(unlink(p), 0);
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
    assert_int_equal(st.hashed, 0);
    assert_int_equal(st.pruned, 1);
    hone_io_manifest_free(m);
    assert_true(index_txnid(e) > t1);
}

/* A path that was a file when indexed and is a directory now (and the
 * reverse) is listed as what it is now, never with the old digest. */
static void test_file_swapped_for_directory(void **state) {
    env *e = *state;
    hone_io_manifest *m;
    hone_io_manifest_stats st;
    hone_error err = {0};
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
    hone_io_manifest_free(m);
    char p[4096];
    tree_path(p, sizeof p, e->root, "a.txt");
    assert_int_equal(unlink(p), 0);
    assert_int_equal(tree_file(e->root, "a.txt/inner", "in"), 0);
    assert_int_equal(tree_file(e->root, "sub/c.bin", "sea2"), 0);
    set_mtime(e->root, "sub/c.bin", e->now - 1000000000);
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, &st, &err), HONE_OK);
    assert_null(hone_io_manifest_find(m, "a.txt"));
    expect_digest(m, "a.txt/inner", "in");
    expect_digest(m, "sub/c.bin", "sea2");
    assert_int_equal(st.hashed, 2);
    assert_int_equal(st.cached, 2);
    hone_io_manifest_free(m);
}

static void test_path_selected_and_names(void **state) {
    (void)state;
    const char *inc[] = {"*.txt"}, *exc[] = {"sub", "*.tmp"};
    assert_int_equal(hone_io_path_selected("a.txt", inc, 1, NULL, 0), 1);
    assert_int_equal(hone_io_path_selected("d/a.txt", inc, 1, NULL, 0), 1);
    assert_int_equal(hone_io_path_selected("a.bin", inc, 1, NULL, 0), 0);
    /* An excluded directory hides everything under it, as in the walk. */
    assert_int_equal(hone_io_path_selected("sub/deep/a.txt", inc, 1, exc, 2), 0);
    assert_int_equal(hone_io_path_selected("x/sub/a.txt", NULL, 0, exc, 2), 0);
    assert_int_equal(hone_io_path_selected("subway/a.txt", NULL, 0, exc, 2), 1);
    assert_int_equal(hone_io_path_selected("d/b.tmp", NULL, 0, exc, 2), 0);
    assert_int_equal(hone_io_path_selected("d/b", NULL, 0, NULL, 0), 1);
    assert_string_equal(hone_io_manifest_algo_from_name("x/models.b3"), "blake3");
    assert_string_equal(hone_io_manifest_algo_from_name("B3SUMS"), "blake3");
    assert_string_equal(hone_io_manifest_algo_from_name("dir/SHA256SUMS"), "sha256");
    assert_string_equal(hone_io_manifest_algo_from_name("m.SHA256"), "sha256");
    assert_string_equal(hone_io_manifest_algo_from_name("m.xxh128"), "xxh128");
    assert_null(hone_io_manifest_algo_from_name("manifest.txt"));
    assert_null(hone_io_manifest_algo_from_name(".b3"));
    assert_null(hone_io_manifest_algo_from_name("b3"));
}

static void test_check_filters_the_manifest_too(void **state) {
    env *e = *state;
    hone_io_manifest *m;
    hone_error err = {0};
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, NULL, &err), HONE_OK);
    const char *inc[] = {"*.txt"}, *exc[] = {"sub"};
    hone_io_manifest_opts o = e->o;
    o.include = inc, o.n_include = 1;
    hone_io_check_summary s;
    assert_int_equal(hone_io_manifest_check(m, e->root, &o, NULL, NULL, &s, NULL, &err), HONE_OK);
    assert_int_equal(s.same, 2);
    assert_int_equal(s.missing + s.extra + s.modified, 0);
    o.include = NULL, o.n_include = 0;
    o.exclude = exc, o.n_exclude = 1;
    assert_int_equal(hone_io_manifest_check(m, e->root, &o, NULL, NULL, &s, NULL, &err), HONE_OK);
    assert_int_equal(s.same, 2);
    assert_int_equal(s.missing, 0);
    hone_io_manifest_free(m);
}

static void record_move(void *ctx, const char *from, const char *to) {
    hone_buf_printf(ctx, "moved %s -> %s\n", from, to);
}

static void test_moves(void **state) {
    env *e = *state;
    tree_file(e->root, "copy1", "same");
    tree_file(e->root, "copy2", "same");
    tree_file(e->root, "empty", "");
    hone_io_manifest *m;
    hone_error err = {0};
    assert_int_equal(hone_io_manifest_build(&m, e->root, &e->o, NULL, &err), HONE_OK);
    char p[4096], q[4096];
    static const char *const mv[][2] = {{"a.txt", "sub/a-moved.txt"}, {"copy1", "copy3"},
                                        {"copy2", "copy4"}, {"empty", "empty2"}};
    for (size_t i = 0; i < 4; i++) {
        tree_path(p, sizeof p, e->root, mv[i][0]);
        tree_path(q, sizeof q, e->root, mv[i][1]);
        assert_int_equal(rename(p, q), 0);
    }
    hone_buf out;
    hone_buf_init(&out, NULL);
    hone_io_check_summary s;
    assert_int_equal(hone_io_manifest_check_moves(m, e->root, &e->o, record_change, record_move, &out,
                                                  &s, NULL, &err),
                     HONE_OK);
    /* One unique content moved; copies and the empty file are ambiguous. */
    assert_string_equal(out.data, "missing copy1\nmissing copy2\nextra copy3\nextra copy4\n"
                                  "missing empty\nextra empty2\nmoved a.txt -> sub/a-moved.txt\n");
    assert_int_equal(s.moved, 1);
    assert_int_equal(s.missing, 3);
    assert_int_equal(s.extra, 3);
    /* Without a move callback: the old report. */
    assert_int_equal(hone_io_manifest_check(m, e->root, &e->o, NULL, NULL, &s, NULL, &err), HONE_OK);
    assert_int_equal(s.moved, 0);
    assert_int_equal(s.missing, 4);

    /* diff: the same pairing, and sizes that disagree are no move. */
    hone_io_manifest *b;
    assert_int_equal(hone_io_manifest_build(&b, e->root, &e->o, NULL, &err), HONE_OK);
    hone_buf_clear(&out);
    hone_io_diff_opts d = {.on_change = record_change, .on_move = record_move, .ctx = &out};
    assert_int_equal(hone_io_manifest_diff_ex(m, b, &d, &s, &err), HONE_OK);
    assert_non_null(strstr(out.data, "moved a.txt -> sub/a-moved.txt\n"));
    assert_int_equal(s.moved, 1);
    const char *h = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
    char ta[256], tb[256];
    snprintf(ta, sizeof ta, "{\"algo\":\"sha256\",\"files\":[{\"path\":\"x\",\"digest\":\"%s\",\"size\":6}]}", h);
    snprintf(tb, sizeof tb, "{\"algo\":\"sha256\",\"files\":[{\"path\":\"y\",\"digest\":\"%s\",\"size\":7}]}", h);
    hone_io_manifest *ja, *jb;
    assert_int_equal(hone_io_manifest_parse(&ja, ta, strlen(ta), NULL, NULL, &err), HONE_OK);
    assert_int_equal(hone_io_manifest_parse(&jb, tb, strlen(tb), NULL, NULL, &err), HONE_OK);
    assert_int_equal(hone_io_manifest_diff_ex(ja, jb, &d, &s, &err), HONE_OK);
    assert_int_equal(s.moved, 0);
    assert_int_equal(s.missing, 1);
    hone_io_manifest_free(ja);
    hone_io_manifest_free(jb);
    hone_buf_free(&out);
    hone_io_manifest_free(b);
    hone_io_manifest_free(m);
}

static void test_parse_skips_comments(void **state) {
    (void)state;
    const char *text = "# hone manifest: algorithm blake3\n"
                       "8e4c7c1b99dbfd50e7a95185fead5ee1448fa904a2fdd778eaf5f2dbfd629a99  f\n";
    hone_io_manifest *m;
    hone_error err = {0};
    assert_int_equal(hone_io_manifest_parse(&m, text, strlen(text), "blake3", NULL, &err), HONE_OK);
    assert_int_equal(hone_io_manifest_count(m), 1);
    assert_string_equal(hone_io_manifest_entry_at(m, 0)->path, "f");
    hone_io_manifest_free(m);
}

/* Found by fuzzing: what hone writes as JSON must read back (jansson is
 * strict about UTF-8 and sizes), and a CR that b3sum wrote unescaped in an
 * untagged BLAKE3 line is part of the name. */
static void test_json_and_cr_edges(void **state) {
    (void)state;
    hone_io_manifest *m;
    hone_error err = {0};
    const char *overlong = "367670cca1866e16  -das\xe0\x82\xacode\n";
    assert_int_equal(hone_io_manifest_parse(&m, overlong, strlen(overlong), NULL, NULL, &err), HONE_OK);
    hone_buf b;
    hone_buf_init(&b, NULL);
    assert_int_equal(hone_io_manifest_format_to(m, HONE_IO_MANIFEST_JSON, &b), HONE_EINVAL);
    hone_io_manifest_free(m);
    const char *neg = "{\"algo\":\"xxh3\",\"files\":[{\"path\":\"a\",\"digest\":\"367670cca1866e16\",\"size\":-2}]}";
    assert_int_equal(hone_io_manifest_parse(&m, neg, strlen(neg), NULL, NULL, &err), HONE_EPARSE);
    assert_non_null(strstr(err.msg, "0 or more"));
    const char *cr = "871dadc0f2a28aadf41f6064a36c0b9a7a4b813aff11162a3c0a11bb37380572  cr\r\n";
    assert_int_equal(hone_io_manifest_parse(&m, cr, strlen(cr), "blake3", NULL, &err), HONE_OK);
    assert_string_equal(hone_io_manifest_entry_at(m, 0)->path, "cr\r");
    hone_io_manifest_free(m);
    assert_int_equal(hone_io_manifest_parse(&m, cr, strlen(cr), "sha256", NULL, &err), HONE_OK);
    assert_string_equal(hone_io_manifest_entry_at(m, 0)->path, "cr"); /* coreutils drops it */
    hone_io_manifest_free(m);
    hone_buf_free(&b);
}

int main(int argc, char **argv) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_build_sorted_with_digests),
        T(test_second_build_reads_nothing),
        T(test_racy_entry_is_rehashed),
        T(test_racy_rewrite_is_caught),
        T(test_foreign_index_is_rebuilt),
        T(test_damaged_entry_is_never_trusted),
        T(test_mismatched_or_unmarked_index_is_rebuilt),
        T(test_check_reports_every_kind),
        T(test_check_reports_unreadable),
        T(test_parse_formats_and_errors),
        T(test_diff),
        T(test_parse_fuzz),
        T(test_symlinks_listed_only_when_followed_inside),
        T(test_bad_arguments),
        T(test_index_dir_from_env),
        T(test_order_is_bytewise_around_the_sort_prefix),
        T(test_warm_build_writes_nothing),
        T(test_file_swapped_for_directory),
        T(test_path_selected_and_names),
        T(test_check_filters_the_manifest_too),
        T(test_moves),
        T(test_parse_skips_comments),
        T(test_json_and_cr_edges),
    };
    return HONE_TEST_RUN(tests, NULL, NULL, argc, argv);
}
