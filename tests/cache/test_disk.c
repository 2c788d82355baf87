/* test_disk.c - the LMDB disk tier: what callers rely on (puts read back,
 * deletes, read-your-writes under nosync, TTLs across restarts, long keys
 * never confused, the byte bound with CLOCK eviction, MAP_FULL never
 * surfacing) and that foreign, garbage, other-version and damaged files
 * are never trusted. Real LMDB files in a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "test_disk.h"

static int setup(void **state) {
    (void)state;
    dir_make();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    log_release();
    dir_remove();
    return 0;
}

typedef struct fake_wall {
    uint64_t now;
} fake_wall;

static uint64_t fake_now(void *ctx) { return ((fake_wall *)ctx)->now; }

static hone__disk *open_ok(const char *name, hone__disk_options *o) {
    static char path[300];
    dir_path(path, sizeof path, name);
    o->path = path;
    if (!o->max_bytes) o->max_bytes = 64u << 20;
    hone__disk *d = NULL;
    hone_error err = {0};
    int rc = hone__disk_open(&d, o, NULL, &err);
    if (rc) fprintf(stderr, "open: %s\n", err.msg);
    assert_int_equal(rc, HONE_OK);
    assert_non_null(d);
    return d;
}

static void want_value(hone__disk *d, const void *key, size_t klen, const char *want) {
    hone_buf b;
    hone_buf_init(&b, NULL);
    uint64_t exp = 1;
    assert_int_equal(hone__disk_get(d, key, klen, &b, &exp), HONE_OK);
    assert_int_equal(b.len, strlen(want));
    if (b.len) assert_memory_equal(b.data, want, b.len);
    hone_buf_free(&b);
}

static void want_miss(hone__disk *d, const void *key, size_t klen) {
    hone_buf b;
    hone_buf_init(&b, NULL);
    assert_int_equal(hone__disk_get(d, key, klen, &b, NULL), HONE_ENOTFOUND);
    hone_buf_free(&b);
}

#define S(s) s, strlen(s)

/* buf as a NUL-terminated string (a static copy). */
static const char *v_str(const char *buf, size_t n) {
    static char s[4096];
    memcpy(s, buf, n);
    s[n] = '\0';
    return s;
}

/* ------------------------------------------------------------------ */

static void test_put_get_delete(void **state) {
    (void)state;
    hone__disk_options o = {0};
    hone__disk *d = open_ok("basic.lmdb", &o);
    want_miss(d, S("a"));
    assert_int_equal(hone__disk_put(d, S("a"), S("alpha"), 0), HONE_OK);
    assert_int_equal(hone__disk_put(d, S("b"), S("beta"), 0), HONE_OK);
    assert_int_equal(hone__disk_put(d, S("empty"), "", 0, 0), HONE_OK);
    want_value(d, S("a"), "alpha");
    want_value(d, S("b"), "beta");
    want_value(d, S("empty"), "");
    assert_int_equal(hone__disk_put(d, S("a"), S("alpha-2"), 0), HONE_OK); /* overwrite */
    want_value(d, S("a"), "alpha-2");
    assert_int_equal(hone__disk_delete(d, S("b")), HONE_OK);
    want_miss(d, S("b"));
    assert_int_equal(hone__disk_delete(d, S("never")), HONE_OK);
    hone__disk_stats st;
    hone__disk_stats_get(d, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.puts, 4);
    assert_int_equal(st.deletes, 2);
    assert_int_equal(st.hits, 4);
    assert_int_equal(st.misses, 2);
    assert_true(st.commits >= 6);
    assert_true(st.syncs >= 6); /* sync mode: every commit is synced */
    assert_true(st.bytes > 0 && st.bytes <= st.max_bytes);
    assert_true(st.file_bytes > 0);
    hone__disk_close(d);

    /* Everything acknowledged is there after a reopen. */
    o = (hone__disk_options){0};
    d = open_ok("basic.lmdb", &o);
    want_value(d, S("a"), "alpha-2");
    want_value(d, S("empty"), "");
    want_miss(d, S("b"));
    hone__disk_stats_get(d, &st);
    assert_int_equal(st.entries, 2);
    hone__disk_close(d);
    hone__disk_close(NULL);
}

static void test_bad_arguments(void **state) {
    (void)state;
    hone__disk *d = (hone__disk *)1;
    hone_error err = {0};
    hone__disk_options o = {0};
    assert_int_equal(hone__disk_open(&d, &o, NULL, &err), HONE_EINVAL);
    assert_null(d);
    char path[300];
    dir_path(path, sizeof path, "x.lmdb");
    o.path = path;
    assert_int_equal(hone__disk_open(&d, &o, NULL, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "max_bytes=0"));
    o.max_bytes = 64 << 10;
    assert_int_equal(hone__disk_open(&d, &o, NULL, &err), HONE_OK);
    /* An entry over a quarter of the bound is refused, not stored. */
    static char big[20000];
    assert_int_equal(hone__disk_put(d, S("big"), big, sizeof big, 0), HONE_EINVAL);
    assert_int_equal(hone__disk_put(d, S("ok"), big, 1000, 0), HONE_OK);
    hone__disk_close(d);
}

/* Under nosync a put is visible at once, before any commit (the writer is
 * told to gather for an hour), and so is a delete; close commits them. */
static void test_nosync_read_your_writes(void **state) {
    (void)state;
    hone__disk_options o = {.nosync = 1,
                            .group_max = 100000,
                            .group_wait_ns = 3600ull * 1000000000u,
                            .sync_interval_ns = 3600ull * 1000000000u};
    hone__disk *d = open_ok("ryw.lmdb", &o);
    assert_int_equal(hone__disk_put(d, S("k1"), S("v1"), 0), HONE_OK);
    assert_int_equal(hone__disk_put(d, S("k2"), S("v2"), 0), HONE_OK);
    assert_int_equal(hone__disk_put(d, S("k1"), S("v1b"), 0), HONE_OK);
    want_value(d, S("k1"), "v1b");
    want_value(d, S("k2"), "v2");
    hone__disk_stats st;
    hone__disk_stats_get(d, &st);
    assert_int_equal(st.commits, 0);
    assert_int_equal(hone__disk_flush(d), HONE_OK);
    hone__disk_stats_get(d, &st);
    assert_int_equal(st.commits, 1);
    assert_true(st.syncs >= 1);
    assert_int_equal(st.entries, 2);
    /* A queued delete hides the committed value at once. */
    assert_int_equal(hone__disk_delete(d, S("k2")), HONE_OK);
    want_miss(d, S("k2"));
    assert_int_equal(hone__disk_put(d, S("k3"), S("v3"), 0), HONE_OK);
    hone__disk_stats_get(d, &st);
    assert_int_equal(st.commits, 1);
    hone__disk_close(d);

    o = (hone__disk_options){.nosync = 1};
    d = open_ok("ryw.lmdb", &o);
    want_value(d, S("k1"), "v1b");
    want_miss(d, S("k2"));
    want_value(d, S("k3"), "v3");
    hone__disk_close(d);
}

/* Expiry times are wall-clock, stored with the entry, checked on every
 * read and kept across a restart. */
static void test_ttl(void **state) {
    (void)state;
    fake_wall w = {1700000000ull * 1000000000u};
    hone__disk_options o = {.wall_clock = fake_now, .wall_clock_ctx = &w};
    hone__disk *d = open_ok("ttl.lmdb", &o);
    uint64_t t0 = w.now;
    assert_int_equal(hone__disk_put(d, S("short"), S("s"), t0 + 100), HONE_OK);
    assert_int_equal(hone__disk_put(d, S("long"), S("l"), t0 + 1000), HONE_OK);
    assert_int_equal(hone__disk_put(d, S("never"), S("n"), 0), HONE_OK);
    hone_buf b;
    hone_buf_init(&b, NULL);
    uint64_t exp = 0;
    assert_int_equal(hone__disk_get(d, S("short"), &b, &exp), HONE_OK);
    assert_int_equal(exp, t0 + 100);
    assert_int_equal(hone__disk_get(d, S("never"), &b, &exp), HONE_OK);
    assert_int_equal(exp, 0);
    w.now = t0 + 100;
    want_miss(d, S("short"));
    want_value(d, S("long"), "l");
    /* The expired entry read is dropped by the writer. */
    assert_int_equal(hone__disk_flush(d), HONE_OK);
    hone__disk_stats st;
    hone__disk_stats_get(d, &st);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.entries, 2);
    hone__disk_close(d);

    w.now = t0 + 500;
    d = open_ok("ttl.lmdb", &o);
    assert_int_equal(hone__disk_get(d, S("long"), &b, &exp), HONE_OK);
    assert_int_equal(exp, t0 + 1000);
    w.now = t0 + 1000;
    want_miss(d, S("long"));
    want_value(d, S("never"), "n");
    hone__disk_close(d);
    hone_buf_free(&b);
}

/* Keys beyond LMDB's limit are stored under their digest with the full
 * key kept: they round-trip, near-identical ones stay apart, and a record
 * under a key's digest that holds another key is a miss, never the other
 * key's value. */
static void test_long_keys(void **state) {
    (void)state;
    size_t n = 5000;
    char *ka = malloc(n), *kb = malloc(n);
    memset(ka, 'k', n);
    memcpy(kb, ka, n);
    kb[n - 1] = 'K'; /* same prefix, differs at the end */
    char k510[510], k511[511];
    memset(k510, 'x', sizeof k510);
    memset(k511, 'y', sizeof k511);
    hone__disk_options o = {0};
    hone__disk *d = open_ok("long.lmdb", &o);
    assert_int_equal(hone__disk_put(d, ka, n, S("value-a"), 0), HONE_OK);
    assert_int_equal(hone__disk_put(d, kb, n, S("value-b"), 0), HONE_OK);
    assert_int_equal(hone__disk_put(d, k510, sizeof k510, S("510"), 0), HONE_OK);
    assert_int_equal(hone__disk_put(d, k511, sizeof k511, S("511"), 0), HONE_OK);
    want_value(d, ka, n, "value-a");
    want_value(d, kb, n, "value-b");
    want_value(d, k510, sizeof k510, "510");
    want_value(d, k511, sizeof k511, "511");
    want_miss(d, ka, n - 1);
    hone__disk_close(d);

    /* Where they are: 510 bytes fit LMDB's 511-byte limit with the
     * prefix, 511 and 5000 do not. */
    char path[300];
    dir_path(path, sizeof path, "long.lmdb");
    raw r;
    raw_open(&r, path);
    assert_int_equal(raw_count(&r, HONE__DISK_ENTRY_PREFIX), 1);
    assert_int_equal(raw_count(&r, HONE__DISK_HASHED_PREFIX), 3);
    /* Make A's digest hold B's record: what a digest collision would
     * look like. */
    unsigned char la[40], lb[40];
    MDB_val ka_v = {raw_key(la, ka, n, 1), la}, kb_v = {raw_key(lb, kb, n, 1), lb}, v;
    assert_int_equal(mdb_get(r.txn, r.dbi, &kb_v, &v), 0);
    void *copy = malloc(v.mv_size);
    memcpy(copy, v.mv_data, v.mv_size);
    MDB_val nv = {v.mv_size, copy};
    assert_int_equal(mdb_put(r.txn, r.dbi, &ka_v, &nv, 0), 0);
    /* And damage the full key kept in the 511-byte key's record. */
    unsigned char l511[40];
    MDB_val k511_v = {raw_key(l511, k511, sizeof k511, 1), l511};
    assert_int_equal(mdb_get(r.txn, r.dbi, &k511_v, &v), 0);
    unsigned char *rec = malloc(v.mv_size);
    memcpy(rec, v.mv_data, v.mv_size);
    rec[40 + 100] ^= 1; /* a byte of the stored key (after the 40-byte header) */
    nv = (MDB_val){v.mv_size, rec};
    assert_int_equal(mdb_put(r.txn, r.dbi, &k511_v, &nv, 0), 0);
    raw_close(&r);
    free(copy);
    free(rec);

    o = (hone__disk_options){0};
    d = open_ok("long.lmdb", &o);
    want_miss(d, ka, n);
    want_value(d, kb, n, "value-b");
    want_miss(d, k511, sizeof k511);
    assert_int_equal(hone__disk_flush(d), HONE_OK);
    hone__disk_stats st;
    hone__disk_stats_get(d, &st);
    assert_int_equal(st.corrupt, 2);
    /* Both bad records were dropped; a new put of A works. */
    assert_int_equal(st.entries, 2);
    assert_int_equal(hone__disk_put(d, ka, n, S("value-a2"), 0), HONE_OK);
    want_value(d, ka, n, "value-a2");
    want_value(d, kb, n, "value-b");
    hone__disk_close(d);
    free(ka);
    free(kb);
}

static void check_file_bound(const char *name, uint64_t entries) {
    char path[300];
    dir_path(path, sizeof path, name);
    raw r;
    raw_open(&r, path);
    size_t e = raw_count(&r, HONE__DISK_ENTRY_PREFIX), ord = raw_count(&r, HONE__DISK_ORDER_PREFIX);
    raw_close(&r);
    assert_int_equal(e, entries);
    assert_int_equal(ord, entries); /* one order record per entry, no leftovers */
}

/* Many puts into a small bound: the stored bytes stay within it at every
 * commit, and the order index matches the entries. */
static void test_byte_bound(void **state) {
    (void)state;
    hone__disk_options o = {.nosync = 1, .max_bytes = 64 << 10, .group_max = 64};
    hone__disk *d = open_ok("bound.lmdb", &o);
    char k[32], v[200];
    memset(v, 'v', sizeof v);
    hone__disk_stats st;
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "key-%05d", i);
        assert_int_equal(hone__disk_put(d, k, strlen(k), v, sizeof v, 0), HONE_OK);
        if (i % 500 == 499) {
            assert_int_equal(hone__disk_flush(d), HONE_OK);
            hone__disk_stats_get(d, &st);
            assert_true(st.bytes <= st.max_bytes);
        }
    }
    assert_int_equal(hone__disk_flush(d), HONE_OK);
    hone__disk_stats_get(d, &st);
    assert_true(st.bytes <= 64 << 10);
    assert_true(st.bytes > (64 << 10) * 8 / 10); /* not emptied either */
    assert_true(st.evictions > 2500);
    assert_int_equal(st.evictions + st.entries, 3000);
    want_value(d, S("key-02999"), v_str(v, sizeof v));
    want_miss(d, S("key-00000"));
    hone__disk_close(d);
    check_file_bound("bound.lmdb", st.entries);

    /* A smaller bound at reopen is applied at once. */
    o = (hone__disk_options){.max_bytes = 16 << 10};
    d = open_ok("bound.lmdb", &o);
    hone__disk_stats_get(d, &st);
    assert_true(st.bytes <= 16 << 10);
    hone__disk_close(d);
    check_file_bound("bound.lmdb", st.entries);
}

/* CLOCK: a key read between puts survives a scan many times the bound,
 * while a key put beside it and never read is evicted. Sync mode, one
 * putter: every put is committed before the next read, so this does not
 * depend on timing. */
static void test_clock_keeps_hot_key(void **state) {
    (void)state;
    hone__disk_options o = {.max_bytes = 16 << 10};
    hone__disk *d = open_ok("clock.lmdb", &o);
    char k[32], v[300];
    memset(v, 's', sizeof v);
    assert_int_equal(hone__disk_put(d, S("hot"), S("hot-value"), 0), HONE_OK);
    assert_int_equal(hone__disk_put(d, S("cold"), S("cold-value"), 0), HONE_OK);
    for (int i = 0; i < 200; i++) { /* over 4 times the bound */
        snprintf(k, sizeof k, "scan-%04d", i);
        assert_int_equal(hone__disk_put(d, k, strlen(k), v, sizeof v, 0), HONE_OK);
        want_value(d, S("hot"), "hot-value");
    }
    want_miss(d, S("cold"));
    want_miss(d, S("scan-0000"));
    hone__disk_stats st;
    hone__disk_stats_get(d, &st);
    assert_true(st.bytes <= 16 << 10);
    assert_true(st.evictions > 150);
    hone__disk_close(d);
}

/* A tiny bound and big values in one group of 200 puts: the transaction
 * overflows the map; the writer grows it to its ceiling and splits the
 * group. Every put succeeds and the bound holds. */
static void test_map_full_never_surfaces(void **state) {
    (void)state;
    hone__disk_options o = {.nosync = 1,
                            .max_bytes = 256 << 10,
                            .group_max = 512,
                            .group_wait_ns = 3600ull * 1000000000u};
    hone__disk *d = open_ok("full.lmdb", &o);
    size_t vn = 60 << 10;
    char *v = malloc(vn);
    char k[32];
    for (int i = 0; i < 200; i++) {
        memset(v, 'a' + i % 26, vn);
        snprintf(k, sizeof k, "big-%03d", i);
        assert_int_equal(hone__disk_put(d, k, strlen(k), v, vn, 0), HONE_OK);
    }
    assert_int_equal(hone__disk_flush(d), HONE_OK);
    hone__disk_stats st;
    hone__disk_stats_get(d, &st);
    assert_true(st.map_grows >= 1);
    assert_true(st.bytes <= 256 << 10);
    assert_true(st.entries >= 3);
    hone_buf b;
    hone_buf_init(&b, NULL);
    assert_int_equal(hone__disk_get(d, S("big-199"), &b, NULL), HONE_OK);
    assert_int_equal(b.len, vn);
    assert_int_equal((unsigned char)b.data[0], 'a' + 199 % 26);
    hone_buf_free(&b);
    hone__disk_close(d);

    /* The same under sync, a put at a time. */
    o = (hone__disk_options){.max_bytes = 256 << 10};
    d = open_ok("full2.lmdb", &o);
    for (int i = 0; i < 60; i++) {
        snprintf(k, sizeof k, "big-%03d", i);
        assert_int_equal(hone__disk_put(d, k, strlen(k), v, vn, 0), HONE_OK);
    }
    hone__disk_stats_get(d, &st);
    assert_true(st.bytes <= 256 << 10);
    hone__disk_close(d);
    free(v);
}

/* ------------------------------------------------------------------ */
/* Files hone did not write                                            */
/* ------------------------------------------------------------------ */

static int open_err(const char *path, int recreate, int *recreated, hone_error *err,
                    hone__disk **out) {
    hone__disk_options o = {.path = path, .max_bytes = 1 << 20, .recreate = recreate};
    *out = (hone__disk *)1;
    int rc = hone__disk_open(out, &o, recreated, err);
    if (rc) assert_null(*out);
    return rc;
}

static void expect_refused_then_recreated(const char *path, const char *why) {
    hone_error err = {0};
    hone__disk *d;
    int again = 0;
    assert_int_equal(open_err(path, 0, &again, &err, &d), HONE_ECORRUPT);
    assert_int_equal(again, 0);
    if (!strstr(err.msg, path) || !strstr(err.msg, why)) fail_msg("message: %s", err.msg);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0); /* refused, untouched */

    log_capture();
    assert_int_equal(open_err(path, 1, &again, &err, &d), HONE_OK);
    assert_int_equal(again, 1);
    log_release();
    if (!strstr(g_log, path) || !strstr(g_log, ".corrupt")) fail_msg("log: %s", g_log);
    char aside[400];
    snprintf(aside, sizeof aside, "%s.corrupt", path);
    assert_int_equal(stat(aside, &sb), 0);
    assert_int_equal(hone__disk_put(d, S("fresh"), S("start"), 0), HONE_OK);
    want_value(d, S("fresh"), "start");
    hone__disk_close(d);
    assert_int_equal(open_err(path, 0, &again, &err, &d), HONE_OK);
    want_value(d, S("fresh"), "start");
    hone__disk_close(d);
}

static void test_foreign_lmdb_refused(void **state) {
    (void)state;
    char path[300];
    dir_path(path, sizeof path, "foreign.lmdb");
    raw r;
    raw_open(&r, path);
    MDB_val k = {3, "abc"}, v = {5, "hello"};
    assert_int_equal(mdb_put(r.txn, r.dbi, &k, &v, 0), 0);
    raw_close(&r);
    expect_refused_then_recreated(path, "did not write");
}

static void test_garbage_refused(void **state) {
    (void)state;
    char path[300];
    dir_path(path, sizeof path, "garbage.lmdb");
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    assert_true(fd >= 0);
    unsigned char buf[4096];
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 16; i++) {
        for (size_t j = 0; j < sizeof buf; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[j] = (unsigned char)x;
        }
        assert_int_equal(write(fd, buf, sizeof buf), (ssize_t)sizeof buf);
    }
    close(fd);
    expect_refused_then_recreated(path, "not an LMDB database");

    /* A directory where the file should be. */
    dir_path(path, sizeof path, "dir.lmdb");
    assert_int_equal(mkdir(path, 0755), 0);
    expect_refused_then_recreated(path, "not an LMDB");
}

/* A hone disk cache of another format version is refused, naming the
 * version, never read. */
static void test_other_version_refused(void **state) {
    (void)state;
    hone__disk_options o = {0};
    hone__disk *d = open_ok("ver.lmdb", &o);
    assert_int_equal(hone__disk_put(d, S("k"), S("v"), 0), HONE_OK);
    hone__disk_close(d);
    char path[300];
    dir_path(path, sizeof path, "ver.lmdb");
    raw r;
    raw_open(&r, path);
    char mv[64];
    int ml = hone__disk_magic_value(mv, sizeof mv);
    char *p = strstr(mv, " v1 ");
    assert_non_null(p);
    p[2] = '7';
    MDB_val k = {sizeof HONE__DISK_MAGIC_KEY - 1, HONE__DISK_MAGIC_KEY}, v = {(size_t)ml, mv};
    assert_int_equal(mdb_put(r.txn, r.dbi, &k, &v, 0), 0);
    raw_close(&r);
    expect_refused_then_recreated(path, "format version 7");
}

/* A flipped byte in a stored value: a miss, counted once, the record
 * dropped; iterate skips it too. */
static void test_corrupt_record(void **state) {
    (void)state;
    hone__disk_options o = {0};
    hone__disk *d = open_ok("flip.lmdb", &o);
    char v[100];
    memset(v, 'x', sizeof v);
    assert_int_equal(hone__disk_put(d, S("victim"), v, sizeof v, 0), HONE_OK);
    assert_int_equal(hone__disk_put(d, S("other"), S("fine"), 0), HONE_OK);
    assert_int_equal(hone__disk_put(d, S("victim2"), v, sizeof v, 0), HONE_OK);
    hone__disk_close(d);
    char path[300];
    dir_path(path, sizeof path, "flip.lmdb");
    raw r;
    raw_open(&r, path);
    const char *names[] = {"victim", "victim2"};
    for (int i = 0; i < 2; i++) {
        unsigned char lk[16];
        MDB_val k = {raw_key(lk, names[i], strlen(names[i]), 0), lk}, rv;
        assert_int_equal(mdb_get(r.txn, r.dbi, &k, &rv), 0);
        unsigned char *rec = malloc(rv.mv_size);
        memcpy(rec, rv.mv_data, rv.mv_size);
        rec[rv.mv_size - 7] ^= 0x20;
        MDB_val nv = {rv.mv_size, rec};
        assert_int_equal(mdb_put(r.txn, r.dbi, &k, &nv, 0), 0);
        free(rec);
    }
    raw_close(&r);

    d = open_ok("flip.lmdb", &o);
    want_miss(d, S("victim"));
    want_value(d, S("other"), "fine");
    assert_int_equal(hone__disk_flush(d), HONE_OK);
    hone__disk_stats st;
    hone__disk_stats_get(d, &st);
    assert_int_equal(st.corrupt, 1);
    assert_int_equal(st.entries, 2);
    want_miss(d, S("victim"));
    hone__disk_close(d);
}

typedef struct walk {
    int n, stop_at;
    size_t bytes;
} walk;

static int walk_fn(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                   uint64_t exp) {
    walk *w = ctx;
    (void)exp;
    /* Every value is the key reversed: check it. */
    if (vlen != klen) return -100;
    for (size_t i = 0; i < klen; i++)
        if (((const char *)val)[i] != ((const char *)key)[klen - 1 - i]) return -101;
    w->n++;
    w->bytes += vlen;
    return w->n == w->stop_at ? 42 : 0;
}

static void test_iterate_and_clear(void **state) {
    (void)state;
    hone__disk_options o = {.nosync = 1};
    hone__disk *d = open_ok("walk.lmdb", &o);
    char k[700], v[700];
    for (int i = 0; i < 300; i++) {
        size_t kl = (size_t)snprintf(k, sizeof k, "walk-%d-", i);
        if (i % 50 == 0) { /* some long keys, stored hashed */
            memset(k + kl, 'L', 600);
            kl += 600;
        }
        for (size_t j = 0; j < kl; j++) v[j] = k[kl - 1 - j];
        assert_int_equal(hone__disk_put(d, k, kl, v, kl, 0), HONE_OK);
    }
    /* Queued writes are flushed first: all 300 are seen. */
    walk w = {0, 0, 0};
    assert_int_equal(hone__disk_iterate(d, walk_fn, &w), HONE_OK);
    assert_int_equal(w.n, 300);
    w = (walk){0, 10, 0};
    assert_int_equal(hone__disk_iterate(d, walk_fn, &w), 42);
    assert_int_equal(w.n, 10);

    assert_int_equal(hone__disk_clear(d), HONE_OK);
    hone__disk_stats st;
    hone__disk_stats_get(d, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    want_miss(d, S("walk-1-"));
    w = (walk){0, 0, 0};
    assert_int_equal(hone__disk_iterate(d, walk_fn, &w), HONE_OK);
    assert_int_equal(w.n, 0);
    assert_int_equal(hone__disk_put(d, S("ab"), S("ba"), 0), HONE_OK);
    hone__disk_close(d);
    d = open_ok("walk.lmdb", &o);
    w = (walk){0, 0, 0};
    assert_int_equal(hone__disk_iterate(d, walk_fn, &w), HONE_OK);
    assert_int_equal(w.n, 1);
    hone__disk_close(d);
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */
/* ------------------------------------------------------------------ */

typedef struct conc {
    hone__disk *d;
    int id, ops, bad;
} conc;

/* Values are "<key>=<n>": a get must return a value of its own key. */
static void *conc_thread(void *p) {
    conc *c = p;
    char k[32], v[64];
    hone_buf b;
    hone_buf_init(&b, NULL);
    uint64_t x = 0x9e3779b97f4a7c15u * (uint64_t)(c->id + 1);
    for (int i = 0; i < c->ops; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int key = (int)(x % 200), op = (int)((x >> 20) % 10);
        int kl = snprintf(k, sizeof k, "ck%d", key);
        if (op < 3) {
            int vl = snprintf(v, sizeof v, "%s=%d", k, i);
            if (hone__disk_put(c->d, k, (size_t)kl, v, (size_t)vl, 0)) c->bad++;
        } else if (op == 3) {
            if (hone__disk_delete(c->d, k, (size_t)kl)) c->bad++;
        } else {
            int rc = hone__disk_get(c->d, k, (size_t)kl, &b, NULL);
            if (rc == HONE_OK) {
                if (b.len <= (size_t)kl || memcmp(b.data, k, (size_t)kl) || b.data[kl] != '=')
                    c->bad++;
            } else if (rc != HONE_ENOTFOUND) {
                c->bad++;
            }
        }
    }
    hone_buf_free(&b);
    return NULL;
}

static void run_concurrent(const char *name, int nosync, int ops) {
    hone__disk_options o = {.nosync = nosync, .max_bytes = 16 << 10, .group_max = 16};
    hone__disk *d = open_ok(name, &o);
    pthread_t th[4];
    conc c[4];
    for (int i = 0; i < 4; i++) {
        c[i] = (conc){d, i, ops, 0};
        assert_int_equal(pthread_create(&th[i], NULL, conc_thread, &c[i]), 0);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) assert_int_equal(c[i].bad, 0);
    assert_int_equal(hone__disk_flush(d), HONE_OK);
    hone__disk_stats st;
    hone__disk_stats_get(d, &st);
    assert_true(st.bytes <= st.max_bytes);
    assert_int_equal(st.corrupt, 0);
    hone__disk_close(d);
}

static void test_concurrent(void **state) {
    (void)state;
    run_concurrent("conc-nosync.lmdb", 1, 20000);
    run_concurrent("conc-sync.lmdb", 0, 400);
}

/* ------------------------------------------------------------------ */
/* Out of memory                                                       */
/* ------------------------------------------------------------------ */

static int disk_calls(const hone_allocator *a, void *ctx) {
    const char *path = ctx;
    int nosync = path[strlen(path) - 1] == 'n';
    hone__disk_options o = {.alloc = a, .path = path, .max_bytes = 8 << 10, .nosync = nosync};
    hone__disk *d;
    int rc = hone__disk_open(&d, &o, NULL, NULL);
    if (rc) return rc;
    char k[600], v[300];
    memset(v, 'q', sizeof v);
    hone_buf b;
    hone_buf_init(&b, a);
    /* Fewer under sync: each put there costs a commit with two fsyncs. */
    for (int i = 0; i < (nosync ? 40 : 12) && !rc; i++) {
        size_t kl = (size_t)snprintf(k, sizeof k, "oom-%d", i % 25);
        if (i % 5 == 0) {
            memset(k + kl, 'z', 550);
            kl += 550;
        }
        rc = hone__disk_put(d, k, kl, v, sizeof v, 0);
        if (!rc) {
            int g = hone__disk_get(d, k, kl, &b, NULL);
            if (g == HONE_ENOMEM) rc = g;
            else if (g == HONE_OK && (b.len != sizeof v || memcmp(b.data, v, b.len))) rc = HONE_EFAIL;
        }
        if (!rc && i % 7 == 0) rc = hone__disk_delete(d, k, kl);
    }
    hone_buf_free(&b);
    if (!rc) rc = hone__disk_flush(d);
    hone__disk_close(d);
    return rc;
}

static void test_oom(void **state) {
    (void)state;
    char p1[300], p2[300];
    dir_path(p1, sizeof p1, "oom.lmdb-s");
    dir_path(p2, sizeof p2, "oom.lmdb-n");
    failalloc_loop("disk sync", disk_calls, p1);
    failalloc_loop("disk nosync", disk_calls, p2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
static const struct CMUnitTest tests[] = {
        T(test_put_get_delete),
        T(test_bad_arguments),
        T(test_nosync_read_your_writes),
        T(test_ttl),
        T(test_long_keys),
        T(test_byte_bound),
        T(test_clock_keeps_hot_key),
        T(test_map_full_never_surfaces),
        T(test_foreign_lmdb_refused),
        T(test_garbage_refused),
        T(test_other_version_refused),
        T(test_corrupt_record),
        T(test_iterate_and_clear),
        T(test_concurrent),
        T(test_oom),
};
HONE_TEST_MAIN(tests)
