/* test_robust.c - manifests on hostile ground: coarse file-system
 * timestamps (the racy rule at the right granularity), a damaged index in
 * every shape (each case in a child bounded by alarm(), so a crash or a
 * hang fails the case instead of the runner), hone's own index inside the
 * tree, and files that report size 0 but have content (procfs). */
#include "test.h"

#include <errno.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hone/hash.h"
#include "hone/io.h"
#include "tree.h"

#define NS 1000000000LL

static int64_t fixed_clock(void *ctx) { return *(const int64_t *)ctx; }

static void set_mtime(const char *root, const char *rel, int64_t ns) {
    char p[4096];
    tree_path(p, sizeof p, root, rel);
    struct timespec ts[2] = {{ns / NS, ns % NS}, {ns / NS, ns % NS}};
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

/* ------------------------------------------------------------------ */
/* Coarse timestamps                                                   */
/* ------------------------------------------------------------------ */

/* A file system that stamps whole seconds (ext4 with 128-byte inodes,
 * ext3, HFS+, FAT at 2 s, many NFS/SMB servers) is simulated on this one by
 * giving the file an mtime of a whole second and running the build half a
 * second later: a rewrite within that second would leave size, mtime and
 * ctime unchanged there, so the entry must not be trusted by a later run.
 * The build detects the granularity from the stamp itself; nothing is
 * configured. */
static void test_whole_second_mtime_is_racy_without_configuration(void **state) {
    (void)state;
    char *root = tree_new(), *idx = tree_new();
    tree_file(root, "coarse.txt", "one");
    tree_file(root, "old.txt", "old");
    /* An even second, so the 2 s granule is the same as the 1 s one. */
    int64_t sec = ((int64_t)time(NULL) - 100000) / 2 * 2 * NS;
    set_mtime(root, "coarse.txt", sec);
    set_mtime(root, "old.txt", sec - 3600 * NS);
    int64_t now = sec + NS / 2;
    hone_io_manifest_opts o = {.index_dir = idx, .clock_ns = fixed_clock, .clock_ctx = &now};
    hone_io_manifest *m;
    hone_io_manifest_stats st;
    hone_error err = {0};
    assert_int_equal(hone_io_manifest_build(&m, root, &o, &st, &err), HONE_OK);
    assert_int_equal(st.hashed, 2);
    hone_io_manifest_free(m);
    now = sec + 10 * NS;
    assert_int_equal(hone_io_manifest_build(&m, root, &o, &st, &err), HONE_OK);
    /* coarse.txt is read again (racy); old.txt comes from the index. */
    assert_int_equal(st.racy, 1);
    assert_int_equal(st.hashed, 1);
    assert_int_equal(st.cached, 1);
    hone_io_manifest_free(m);
    /* Stored again by a run a whole granule later, it is trusted. */
    assert_int_equal(hone_io_manifest_build(&m, root, &o, &st, &err), HONE_OK);
    assert_int_equal(st.racy, 0);
    assert_int_equal(st.cached, 2);
    hone_io_manifest_free(m);
    tree_rm(root);
    tree_rm(idx);
    free(root);
    free(idx);
}

/* The forced granularity: with granularity_ns = 2 s (FAT), an mtime with
 * nanoseconds (so nothing to detect) 1.5 s before the stamp but in the same
 * 2 s granule is racy; with the default it is not. */
static void test_forced_granularity(void **state) {
    (void)state;
    char *root = tree_new(), *idx = tree_new();
    tree_file(root, "f.txt", "one");
    int64_t sec = ((int64_t)time(NULL) - 100000) / 2 * 2 * NS;
    set_mtime(root, "f.txt", sec + 123456789);
    int64_t now = sec + 1900000000;
    hone_io_manifest_opts o = {.index_dir = idx, .clock_ns = fixed_clock, .clock_ctx = &now};
    hone_io_manifest *m;
    hone_io_manifest_stats st;
    hone_error err = {0};
    for (int forced = 0; forced < 2; forced++) {
        tree_rm(idx);
        o.granularity_ns = forced ? 2000000000u : 0;
        now = sec + 1900000000;
        assert_int_equal(hone_io_manifest_build(&m, root, &o, &st, &err), HONE_OK);
        hone_io_manifest_free(m);
        now = sec + 60 * NS;
        assert_int_equal(hone_io_manifest_build(&m, root, &o, &st, &err), HONE_OK);
        assert_int_equal(st.racy, forced);
        assert_int_equal(st.cached, !forced);
        hone_io_manifest_free(m);
    }
    tree_rm(root);
    tree_rm(idx);
    free(root);
    free(idx);
}

/* ------------------------------------------------------------------ */
/* A damaged index                                                     */
/* ------------------------------------------------------------------ */

/* The corruption cases run in a child: cmocka's asserts cannot be used
 * there (a failure would go on running the other cases in the child), so
 * the child exits with a code naming what went wrong. */
enum { C_OK = 0, C_BUILD = 10, C_REF, C_DIFF, C_SECOND, C_SECOND_CACHED, C_SETUP };

static const char *child_error(int code) {
    switch (code) {
    case C_BUILD: return "the build after the damage failed";
    case C_REF: return "the reference build (no index) failed";
    case C_DIFF: return "the manifest differs from a build without the index";
    case C_SECOND: return "the build after the rebuild failed";
    case C_SECOND_CACHED: return "the build after the rebuild did not use the rebuilt index";
    case C_SETUP: return "setting up the damage failed";
    }
    return "unknown";
}

typedef struct rig {
    char *root, *idx;
    char file[4096];
    int64_t now;
    int nfiles;
} rig;

static void quiet(void *ctx, hone_log_level level, const char *module, const char *msg) {
    (void)ctx, (void)level, (void)module, (void)msg;
}

/* Enough files for several leaf pages and a branch page. */
static void rig_new_index(rig *r) {
    /* The index in memory when /dev/shm is there: every case commits to it
     * twice, and an fsync to disk costs more than the rest of the case. */
    char shm[] = "/dev/shm/hone-io-robust-XXXXXX";
    r->idx = mkdtemp(shm) ? strdup(shm) : tree_new();
    assert_non_null(r->idx);
    snprintf(r->file, sizeof r->file, "%s/manifest-index.mdb", r->idx);
}

static void rig_free_index(rig *r) {
    tree_rm(r->idx);
    free(r->idx);
    r->idx = NULL;
}

static void rig_new(rig *r) {
    memset(r, 0, sizeof *r);
    r->root = tree_new();
    assert_non_null(r->root);
    char rel[64], content[64];
    r->nfiles = 400;
    for (int i = 0; i < r->nfiles; i++) {
        snprintf(rel, sizeof rel, "d%02d/file-with-a-longish-name-%04d.dat", i % 7, i);
        snprintf(content, sizeof content, "content %d", i * 7919);
        assert_int_equal(tree_file(r->root, rel, content), 0);
    }
}

static void rig_free(rig *r) {
    tree_rm(r->root);
    free(r->root);
}

static hone_io_manifest_opts rig_opts(rig *r) {
    /* The clock is an hour after the files: nothing is racy, so a build
     * after a good one reads nothing. */
    struct stat sb;
    char p[4096];
    snprintf(p, sizeof p, "%s/d00", r->root);
    stat(p, &sb);
    r->now = ((int64_t)sb.st_mtim.tv_sec + 3600) * NS;
    hone_io_manifest_opts o = {.index_dir = r->idx, .clock_ns = fixed_clock, .clock_ctx = &r->now,
                               .threads = 2};
    return o;
}

/* In the child: the build over the damaged index must succeed and equal a
 * build without the index; the build after it must take every digest from
 * the (rebuilt) index. */
static int child_verify(rig *r) {
    hone_log_set_sink(quiet, NULL);
    hone_io_manifest_opts o = rig_opts(r), ref_o = o;
    ref_o.no_index = 1;
    hone_io_manifest *m = NULL, *ref = NULL;
    hone_io_manifest_stats st;
    hone_error err = {0};
    if (hone_io_manifest_build(&m, r->root, &o, &st, &err)) return C_BUILD;
    if (hone_io_manifest_build(&ref, r->root, &ref_o, NULL, &err)) return C_REF;
    hone_io_check_summary s;
    int rc = hone_io_manifest_diff(ref, m, 0, NULL, NULL, &s, &err);
    int same = !rc && s.same == (uint64_t)r->nfiles && !s.modified && !s.missing && !s.extra;
    hone_io_manifest_free(m);
    hone_io_manifest_free(ref);
    if (!same) return C_DIFF;
    if (hone_io_manifest_build(&m, r->root, &o, &st, &err)) return C_SECOND;
    hone_io_manifest_free(m);
    if (st.cached != (uint64_t)r->nfiles) return C_SECOND_CACHED;
    return C_OK;
}

/* Runs damage() then the verification in a child bounded by alarm(). The
 * first, good build runs in the child too: the parent never starts hone's
 * thread pool, so every child forks from a single-threaded process. */
static void run_case(rig *shared, const char *what, void (*damage)(rig *r, int arg), int arg) {
    rig r = *shared;
    rig_new_index(&r);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka catches these to report a crashed case and go on; here a
         * crash must end the child so that the parent sees it. */
        int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
        for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) signal(sigs[i], SIG_DFL);
        alarm(60);
        hone_log_set_sink(quiet, NULL);
        hone_io_manifest_opts o = rig_opts(&r);
        hone_io_manifest *m = NULL;
        hone_error err = {0};
        if (hone_io_manifest_build(&m, r.root, &o, NULL, &err)) _exit(C_SETUP);
        hone_io_manifest_free(m);
        damage(&r, arg);
        _exit(child_verify(&r));
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    rig_free_index(&r);
    if (WIFSIGNALED(status))
        fail_msg("%s (%d): the build was killed by signal %d (%s)", what, arg, WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    if (WEXITSTATUS(status) != 0)
        fail_msg("%s (%d): %s (child exit %d)", what, arg, child_error(WEXITSTATUS(status)),
                 WEXITSTATUS(status));
}

static void must(int ok) {
    if (!ok) _exit(C_SETUP);
}

static void damage_truncate(rig *r, int size) { must(truncate(r->file, size) == 0); }

static off_t file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 ? sb.st_size : -1;
}

/* Overwrites 4 KiB page `page` with pseudo-random garbage (seeded by it). */
static void damage_page(rig *r, int page) {
    unsigned char buf[4096];
    uint64_t x = 0x9e3779b97f4a7c15u * (uint64_t)(page + 1);
    for (size_t i = 0; i < sizeof buf; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (unsigned char)x;
    }
    FILE *f = fopen(r->file, "r+b");
    must(f != NULL);
    must(fseek(f, (long)page * 4096, SEEK_SET) == 0);
    must(fwrite(buf, 1, sizeof buf, f) == sizeof buf);
    must(fclose(f) == 0);
}

/* Flips one bit: arg is page * 65536 + bit offset within the page. */
static void damage_bit(rig *r, int arg) {
    long off = (long)(arg / 65536) * 4096 + (arg % 65536) / 8;
    FILE *f = fopen(r->file, "r+b");
    must(f != NULL);
    must(fseek(f, off, SEEK_SET) == 0);
    int c = fgetc(f);
    must(c != EOF);
    must(fseek(f, off, SEEK_SET) == 0);
    must(fputc(c ^ (1 << (arg % 8)), f) != EOF);
    must(fclose(f) == 0);
}

static void damage_dir(rig *r, int arg) {
    (void)arg;
    must(unlink(r->file) == 0);
    must(mkdir(r->file, 0755) == 0);
    char p[4200];
    snprintf(p, sizeof p, "%s/inside", r->file);
    FILE *f = fopen(p, "w");
    must(f != NULL);
    fclose(f);
}

static void damage_fifo(rig *r, int arg) {
    (void)arg;
    must(unlink(r->file) == 0);
    must(mkfifo(r->file, 0644) == 0);
}

/* A foreign LMDB file written by plain LMDB calls: arg 0 puts keys in the
 * main database, arg 1 makes named databases (whose records in the main
 * database are sub-database nodes), arg 2 uses duplicate keys. */
static void damage_foreign(rig *r, int arg) {
    must(unlink(r->file) == 0);
    char lock[4200];
    snprintf(lock, sizeof lock, "%s-lock", r->file);
    unlink(lock);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    must(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 4);
    must(mdb_env_open(env, r->file, MDB_NOSUBDIR, 0644) == 0);
    must(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    const char *name = arg == 1 ? "things" : NULL;
    unsigned flags = arg == 2 ? MDB_DUPSORT | MDB_CREATE : arg == 1 ? MDB_CREATE : 0;
    must(mdb_dbi_open(txn, name, flags, &dbi) == 0);
    char k[64], v[200];
    for (int i = 0; i < 500; i++) {
        snprintf(k, sizeof k, arg == 2 ? "key-%d" : "/foreign/key-%05d", arg == 2 ? i % 10 : i);
        memset(v, 'v', sizeof v);
        snprintf(v, sizeof v, "value-%d", i);
        MDB_val mk = {strlen(k), k}, mv = {arg == 2 ? strlen(v) : sizeof v, v};
        must(mdb_put(txn, dbi, &mk, &mv, 0) == 0);
    }
    must(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
}

static int rig_setup(void **state) {
    rig *r = calloc(1, sizeof *r);
    rig_new(r);
    *state = r;
    return 0;
}

static int rig_teardown(void **state) {
    rig_free(*state);
    free(*state);
    return 0;
}

static void test_truncated_index(void **state) {
    rig *r = *state;
    run_case(r, "truncated to 8192 bytes", damage_truncate, 8192);
    run_case(r, "truncated to 0 bytes", damage_truncate, 0);
    run_case(r, "truncated to 5000 bytes", damage_truncate, 5000);
    run_case(r, "truncated to 12288 bytes", damage_truncate, 12288);
}

static void test_garbage_pages(void **state) {
    rig *rs = *state, r = *rs;
    rig_new_index(&r);
    /* How many pages a good index of this tree has: built in a child
     * (see run_case), then measured here. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(60);
        hone_io_manifest_opts o = rig_opts(&r);
        hone_io_manifest *m = NULL;
        hone_error err = {0};
        _exit(hone_io_manifest_build(&m, r.root, &o, NULL, &err) ? 1 : 0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    off_t size = file_size(r.file);
    rig_free_index(&r);
    int pages = (int)(size / 4096);
    assert_true(pages >= 8);
    /* Every page but the two meta pages, each in its own run. */
    for (int p = 2; p < pages; p++) run_case(rs, "garbage over a data page", damage_page, p);
    /* And the meta pages too. */
    run_case(rs, "garbage over meta page 0", damage_page, 0);
    run_case(rs, "garbage over meta page 1", damage_page, 1);
}

static void test_bit_flips_in_meta_pages(void **state) {
    rig *r = *state;
    /* The meta record: 16 bytes of page header, then magic, version,
     * address, map size, the two database records (48 bytes each), last
     * page and transaction id: 152 bytes. Flip bits across all of it, in
     * both meta pages. */
    for (int page = 0; page < 2; page++)
        for (int bit = 0; bit < 152 * 8; bit += 11)
            run_case(r, "a flipped bit in a meta page", damage_bit, page * 65536 + bit);
}

static void test_not_a_file_in_place(void **state) {
    rig *r = *state;
    run_case(r, "a directory in place of the index", damage_dir, 0);
    run_case(r, "a FIFO in place of the index", damage_fifo, 0);
}

static void test_foreign_lmdb(void **state) {
    rig *r = *state;
    run_case(r, "a foreign LMDB file (plain keys)", damage_foreign, 0);
    run_case(r, "a foreign LMDB file (named databases)", damage_foreign, 1);
    run_case(r, "a foreign LMDB file (duplicate keys)", damage_foreign, 2);
}

/* ------------------------------------------------------------------ */
/* The index inside the tree                                           */
/* ------------------------------------------------------------------ */

/* `hone manifest build ~` with the index in ~/.cache/hone: the index files
 * change with every run, so listing them would make the manifest never
 * verify. They are never listed, whatever the globs. */
static void test_own_index_is_never_listed(void **state) {
    (void)state;
    char *root = tree_new();
    tree_file(root, "a.txt", "ay");
    tree_file(root, ".cache/hone/keep.txt", "a file next to the index is listed");
    char idx[4096];
    snprintf(idx, sizeof idx, "%s/.cache/hone", root);
    hone_io_manifest_opts o = {.index_dir = idx};
    hone_io_manifest *m;
    hone_error err = {0};
    for (int run = 0; run < 2; run++) {
        assert_int_equal(hone_io_manifest_build(&m, root, &o, NULL, &err), HONE_OK);
        for (size_t i = 0; i < hone_io_manifest_count(m); i++) {
            const char *p = hone_io_manifest_entry_at(m, i)->path;
            if (strstr(p, "manifest-index")) fail_msg("the manifest lists hone's own index: %s", p);
        }
        assert_int_equal(hone_io_manifest_count(m), 2);
        assert_non_null(hone_io_manifest_find(m, ".cache/hone/keep.txt"));
        hone_io_manifest_free(m);
    }
    /* check, with the index inside the tree, finds nothing different. */
    assert_int_equal(hone_io_manifest_build(&m, root, &o, NULL, &err), HONE_OK);
    hone_io_check_summary s;
    assert_int_equal(hone_io_manifest_check(m, root, &o, NULL, NULL, &s, NULL, &err), HONE_OK);
    assert_int_equal(s.same, 2);
    assert_int_equal(s.extra + s.modified + s.missing + s.unreadable, 0);
    hone_io_manifest_free(m);
    tree_rm(root);
    free(root);
}

/* ------------------------------------------------------------------ */
/* Files that report size 0                                            */
/* ------------------------------------------------------------------ */

/* Reads a whole file the plain way, until read() returns 0. */
static size_t slurp(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    size_t n = 0;
    ssize_t r;
    while (n < cap && (r = read(fd, buf + n, cap - n)) > 0) n += (size_t)r;
    close(fd);
    return n;
}

/* /proc/crypto reports size 0, holds about 11 KiB, and the kernel hands it
 * out a page at a time; it changes only when a crypto module loads. */
static void test_size_zero_file_is_read_to_the_end(void **state) {
    (void)state;
    static char a[1 << 20], b[1 << 20];
    struct stat sb;
    if (stat("/proc/crypto", &sb) != 0 || sb.st_size != 0) {
        skip();
        return;
    }
    size_t n = slurp("/proc/crypto", a, sizeof a);
    if (n <= 4096 || n != slurp("/proc/crypto", b, sizeof b) || memcmp(a, b, n)) {
        fprintf(stderr, "/proc/crypto is too short or changing (%zu bytes): skipped\n", n);
        skip();
        return;
    }
    /* Only /proc/crypto: every other top-level name is excluded (and so
     * not entered). */
    const char *exc[] = {"/[!c]*", "/c[!r]*", "/cr[!y]*", "/cry[!p]*", "/cryp[!t]*", "/crypt[!o]*",
                         "/crypto?*"};
    hone_io_manifest_opts o = {.no_index = 1, .exclude = exc, .n_exclude = 7};
    hone_io_manifest *m;
    hone_error err = {0};
    assert_int_equal(hone_io_manifest_build(&m, "/proc", &o, NULL, &err), HONE_OK);
    assert_int_equal(hone_io_manifest_count(m), 1);
    const hone_io_manifest_entry *e = hone_io_manifest_find(m, "crypto");
    assert_non_null(e);
    uint8_t want[32];
    assert_int_equal(hone_hash_oneshot(HONE_HASH_SHA256, a, n, want, 32), HONE_OK);
    char hw[65], hg[65];
    hone_hash_hex(want, 32, hw);
    hone_hash_hex(e->digest, 32, hg);
    assert_string_equal(hg, hw);
    hone_io_manifest_free(m);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_second_mtime_is_racy_without_configuration),
        cmocka_unit_test(test_forced_granularity),
        cmocka_unit_test_setup_teardown(test_truncated_index, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_garbage_pages, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_bit_flips_in_meta_pages, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_not_a_file_in_place, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_lmdb, rig_setup, rig_teardown),
        cmocka_unit_test(test_own_index_is_never_listed),
        cmocka_unit_test(test_size_zero_file_is_read_to_the_end),
};
HONE_TEST_MAIN(tests)
