/* test_filecache.c - the file-validated cache: a value is reused while its
 * file is unchanged and reloaded after a rewrite (even one a coarse file
 * system cannot see in the file's identity), a replacement, or its ttl;
 * one load per path however many threads ask; memory-only and persisted
 * (reopened, foreign and damaged files); out-of-memory loops. */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000LL
#define THREADS 8

static int64_t fixed_clock(void *ctx) { return *(const int64_t *)ctx; }

typedef struct fx {
    char dir[256];
    char path[512];  /* a file in dir */
    char store[512]; /* an LMDB file in dir */
    int64_t now;
    atomic_int loads;
    const char *virtual; /* what virtual_loader returns */
} fx;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void write_file(const char *p, const char *content) {
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fputs(content, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static struct stat stat_of(const char *p) {
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    return sb;
}

static void set_mtime(const char *p, int64_t ns) {
    struct timespec ts[2] = {{ns / NS, ns % NS}, {ns / NS, ns % NS}};
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static int64_t mtime_ns(const char *p) {
    struct stat sb = stat_of(p);
    return (int64_t)sb.st_mtim.tv_sec * NS + sb.st_mtim.tv_nsec;
}

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    const char *t = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/hone-filecache-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/config.txt", f->dir);
    snprintf(f->store, sizeof f->store, "%s/cache/files.mdb", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* The loader: the value is "v:" and the file's content, so a test sees
 * which content a value came from. Counts its calls. */
static int read_loader(void *ctx, const char *path, int fd, const hone_file_id *id, hone_buf *out) {
    fx *f = ctx;
    (void)path;
    atomic_fetch_add(&f->loads, 1);
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) return hone_status_from_errno(errno);
    if ((uint64_t)n != id->size) return HONE_EIO;
    int rc = hone_buf_puts(out, "v:");
    if (!rc) rc = hone_buf_append(out, buf, (size_t)n);
    return rc;
}

/* A cache whose clock is an hour after now: nothing written in this test
 * is racy unless the test moves the clock. */
static hone_filecache *open_fc(fx *f, const char *store, const hone_allocator *a) {
    f->now = (int64_t)time(NULL) * NS + 3600 * NS;
    hone_filecache_opts o = {.alloc = a, .path = store, .clock_ns = fixed_clock, .clock_ctx = &f->now};
    hone_filecache *fc = NULL;
    hone_error err = {0};
    int rc = hone_filecache_new(&fc, &o, &err);
    if (rc) fail_msg("hone_filecache_new: %s (%s)", err.msg, hone_status_name(rc));
    return fc;
}

/* Gets f->path and checks the value and how it was found. */
static void expect_get(hone_filecache *fc, fx *f, const char *path, const hone_file_id *known,
                       const char *content, hone_filecache_result want_how) {
    hone_buf b;
    hone_buf_init(&b, NULL);
    hone_filecache_result how = (hone_filecache_result)-1;
    assert_int_equal(hone_filecache_get(fc, path, known, read_loader, f, &b, &how), HONE_OK);
    char want[256];
    snprintf(want, sizeof want, "v:%s", content);
    assert_non_null(b.data);
    assert_string_equal(b.data, want);
    assert_int_equal(how, want_how);
    hone_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Validation, in memory and persisted alike                           */
/* ------------------------------------------------------------------ */

static void hit_and_changes(fx *f, const char *store) {
    hone_filecache *fc = open_fc(f, store, NULL);
    write_file(f->path, "alpha");
    expect_get(fc, f, f->path, NULL, "alpha", HONE_FILECACHE_MISS);
    expect_get(fc, f, f->path, NULL, "alpha", HONE_FILECACHE_HIT);
    assert_int_equal(atomic_load(&f->loads), 1);

    /* The same size rewritten, and the mtime set back to exactly the
     * stored one: the ctime (which no call can set back) shows it. */
    int64_t m = mtime_ns(f->path);
    write_file(f->path, "bravo");
    set_mtime(f->path, m);
    assert_int_equal(mtime_ns(f->path), m);
    expect_get(fc, f, f->path, NULL, "bravo", HONE_FILECACHE_STALE);
    expect_get(fc, f, f->path, NULL, "bravo", HONE_FILECACHE_HIT);

    /* Replaced by a rename with the same size and mtime: another inode. */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.new", f->path);
    write_file(tmp, "delta");
    set_mtime(tmp, mtime_ns(f->path));
    assert_int_equal(rename(tmp, f->path), 0);
    expect_get(fc, f, f->path, NULL, "delta", HONE_FILECACHE_STALE);
    expect_get(fc, f, f->path, NULL, "delta", HONE_FILECACHE_HIT);
    assert_int_equal(atomic_load(&f->loads), 3);

    hone_filecache_stats st;
    hone_filecache_stats_get(fc, &st);
    assert_int_equal(st.hits, 3);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.stale, 2);
    assert_int_equal(st.entries, 1);

    /* Invalidate forgets it. */
    assert_int_equal(hone_filecache_invalidate(fc, f->path), HONE_OK);
    assert_int_equal(hone_filecache_invalidate(fc, f->path), HONE_ENOTFOUND);
    expect_get(fc, f, f->path, NULL, "delta", HONE_FILECACHE_MISS);
    hone_filecache_free(fc);
}

static void test_memory_hit_and_changes(void **state) { hit_and_changes(*state, NULL); }
static void test_persisted_hit_and_changes(void **state) {
    fx *f = *state;
    hit_and_changes(f, f->store);
}

/* The racy-timestamp rule. On a file system with coarse timestamps a
 * rewrite within the same tick leaves size, mtime and ctime all as they
 * were; here the file is left alone and the loader returns f->virtual, the
 * content such a silent rewrite would have changed. A value stored within
 * the file's last granule is not trusted, so the rewrite is seen; one
 * stored a granule later is trusted. */
static int virtual_loader(void *ctx, const char *path, int fd, const hone_file_id *id,
                          hone_buf *out) {
    fx *f = ctx;
    (void)path, (void)fd, (void)id;
    atomic_fetch_add(&f->loads, 1);
    return hone_buf_printf(out, "v:%s", f->virtual);
}

static void expect_virtual(hone_filecache *fc, fx *f, const char *content,
                           hone_filecache_result want_how) {
    hone_buf b;
    hone_buf_init(&b, NULL);
    hone_filecache_result how = (hone_filecache_result)-1;
    assert_int_equal(hone_filecache_get(fc, f->path, NULL, virtual_loader, f, &b, &how), HONE_OK);
    char want[256];
    snprintf(want, sizeof want, "v:%s", content);
    assert_string_equal(b.data, want);
    assert_int_equal(how, want_how);
    hone_buf_free(&b);
}

static void racy(fx *f, const char *store) {
    hone_filecache *fc = open_fc(f, store, NULL);
    write_file(f->path, "file");
    /* A whole second: taken as a 2 s file system, so the loads below at
     * sec + 0.5 s and sec + 1.5 s are in the file's last granule. */
    int64_t sec = ((int64_t)time(NULL) - 100000) / 2 * 2 * NS;
    set_mtime(f->path, sec);
    f->now = sec + NS / 2;
    f->virtual = "one";
    expect_virtual(fc, f, "one", HONE_FILECACHE_MISS);
    f->virtual = "two"; /* rewritten within the tick: the identity is unchanged */
    f->now = sec + NS + NS / 2;
    expect_virtual(fc, f, "two", HONE_FILECACHE_RACY);
    /* Still the file's granule: racy again, read again. */
    expect_virtual(fc, f, "two", HONE_FILECACHE_RACY);
    /* A load a granule later stores a stamp that rules a silent rewrite
     * out; from then on the value is trusted. */
    f->now = sec + 10 * NS;
    expect_virtual(fc, f, "two", HONE_FILECACHE_RACY);
    expect_virtual(fc, f, "two", HONE_FILECACHE_HIT);
    f->now = sec + 100 * NS;
    expect_virtual(fc, f, "two", HONE_FILECACHE_HIT);
    assert_int_equal(atomic_load(&f->loads), 4);
    hone_filecache_stats st;
    hone_filecache_stats_get(fc, &st);
    assert_int_equal(st.racy, 3);
    assert_int_equal(st.hits, 2);
    hone_filecache_free(fc);
}

static void test_memory_racy(void **state) { racy(*state, NULL); }
static void test_persisted_racy(void **state) {
    fx *f = *state;
    racy(f, f->store);
}

/* A forced granularity (a network file system): an mtime with nanoseconds
 * 1.5 s before the load, in the same 2 s granule, is racy only when
 * granularity_ns says 2 s. */
static void test_forced_granularity(void **state) {
    fx *f = *state;
    write_file(f->path, "x");
    int64_t sec = ((int64_t)time(NULL) - 100000) / 2 * 2 * NS;
    set_mtime(f->path, sec + 123456789);
    for (int forced = 0; forced < 2; forced++) {
        f->now = sec + 1900000000;
        hone_filecache_opts o = {.clock_ns = fixed_clock, .clock_ctx = &f->now,
                                 .granularity_ns = forced ? 2 * NS : 0};
        hone_filecache *fc;
        assert_int_equal(hone_filecache_new(&fc, &o, NULL), HONE_OK);
        expect_get(fc, f, f->path, NULL, "x", HONE_FILECACHE_MISS);
        expect_get(fc, f, f->path, NULL, "x", forced ? HONE_FILECACHE_RACY : HONE_FILECACHE_HIT);
        hone_filecache_free(fc);
    }
}

static void ttl(fx *f, const char *store) {
    f->now = (int64_t)time(NULL) * NS + 3600 * NS;
    hone_filecache_opts o = {.path = store, .clock_ns = fixed_clock, .clock_ctx = &f->now,
                             .ttl_ns = 10 * NS};
    hone_filecache *fc;
    assert_int_equal(hone_filecache_new(&fc, &o, NULL), HONE_OK);
    write_file(f->path, "ttl");
    expect_get(fc, f, f->path, NULL, "ttl", HONE_FILECACHE_MISS);
    f->now += 9 * NS;
    expect_get(fc, f, f->path, NULL, "ttl", HONE_FILECACHE_HIT);
    f->now += 2 * NS; /* 11 s after the load */
    expect_get(fc, f, f->path, NULL, "ttl", HONE_FILECACHE_EXPIRED);
    expect_get(fc, f, f->path, NULL, "ttl", HONE_FILECACHE_HIT);
    assert_int_equal(atomic_load(&f->loads), 2);
    hone_filecache_free(fc);
}

static void test_memory_ttl(void **state) { ttl(*state, NULL); }
static void test_persisted_ttl(void **state) {
    fx *f = *state;
    ttl(f, f->store);
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static int failing_loader(void *ctx, const char *path, int fd, const hone_file_id *id,
                          hone_buf *out) {
    fx *f = ctx;
    (void)path, (void)fd, (void)id, (void)out;
    atomic_fetch_add(&f->loads, 1);
    return HONE_EPARSE;
}

static void test_errors(void **state) {
    fx *f = *state;
    hone_filecache *fc = open_fc(f, NULL, NULL);
    hone_buf b;
    hone_buf_init(&b, NULL);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing", f->dir);
    assert_int_equal(hone_filecache_get(fc, missing, NULL, read_loader, f, &b, NULL), HONE_ENOTFOUND);
    assert_int_equal(hone_filecache_get(fc, f->dir, NULL, read_loader, f, &b, NULL), HONE_EINVAL);
    assert_int_equal(hone_filecache_get(fc, "", NULL, read_loader, f, &b, NULL), HONE_EINVAL);
    assert_int_equal(hone_filecache_get(fc, f->path, NULL, NULL, f, &b, NULL), HONE_EINVAL);
    assert_int_equal(atomic_load(&f->loads), 0);
    /* A loader's error is returned and nothing is stored: it runs again. */
    write_file(f->path, "bad");
    assert_int_equal(hone_filecache_get(fc, f->path, NULL, failing_loader, f, &b, NULL), HONE_EPARSE);
    assert_int_equal(hone_filecache_get(fc, f->path, NULL, failing_loader, f, &b, NULL), HONE_EPARSE);
    assert_int_equal(atomic_load(&f->loads), 2);
    hone_filecache_stats st;
    hone_filecache_stats_get(fc, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.load_failures, 4); /* the missing file, the directory, two loads */
    hone_buf_free(&b);
    hone_filecache_free(fc);

    /* Bad options name the value. */
    char name[300];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    hone_filecache_opts o = {.name = name};
    hone_error err = {0};
    fc = (hone_filecache *)1;
    assert_int_equal(hone_filecache_new(&fc, &o, &err), HONE_EINVAL);
    assert_null(fc);
    assert_non_null(strstr(err.msg, "expected 1 to 200 bytes"));
    hone_filecache_free(NULL);
}

/* The memory table keeps max_entries, dropping the least recently used. */
static void test_memory_bound(void **state) {
    fx *f = *state;
    f->now = (int64_t)time(NULL) * NS + 3600 * NS;
    hone_filecache_opts o = {.max_entries = 2, .clock_ns = fixed_clock, .clock_ctx = &f->now};
    hone_filecache *fc;
    assert_int_equal(hone_filecache_new(&fc, &o, NULL), HONE_OK);
    char p[3][600];
    for (int i = 0; i < 3; i++) {
        snprintf(p[i], sizeof p[i], "%s/f%d", f->dir, i);
        write_file(p[i], i == 0 ? "zero" : i == 1 ? "one" : "two");
    }
    expect_get(fc, f, p[0], NULL, "zero", HONE_FILECACHE_MISS);
    expect_get(fc, f, p[1], NULL, "one", HONE_FILECACHE_MISS);
    expect_get(fc, f, p[0], NULL, "zero", HONE_FILECACHE_HIT); /* p[1] is now the oldest */
    expect_get(fc, f, p[2], NULL, "two", HONE_FILECACHE_MISS);
    expect_get(fc, f, p[0], NULL, "zero", HONE_FILECACHE_HIT);
    expect_get(fc, f, p[1], NULL, "one", HONE_FILECACHE_MISS);
    hone_filecache_stats st;
    hone_filecache_stats_get(fc, &st);
    assert_int_equal(st.entries, 2);
    hone_filecache_free(fc);
}

/* ------------------------------------------------------------------ */
/* Persistence                                                         */
/* ------------------------------------------------------------------ */

static void test_persisted_survives_reopen(void **state) {
    fx *f = *state;
    hone_filecache *fc = open_fc(f, f->store, NULL);
    write_file(f->path, "kept");
    expect_get(fc, f, f->path, NULL, "kept", HONE_FILECACHE_MISS);
    hone_filecache_free(fc);
    fc = open_fc(f, f->store, NULL);
    expect_get(fc, f, f->path, NULL, "kept", HONE_FILECACHE_HIT);
    assert_int_equal(atomic_load(&f->loads), 1);
    /* A path longer than LMDB's key limit is never stored: loaded each time. */
    char longp[1200];
    int n = snprintf(longp, sizeof longp, "%s/", f->dir);
    for (; n < 620; n++) longp[n] = n % 50 == 49 ? '/' : 'd';
    longp[n] = '\0';
    char *slash = strrchr(longp, '/');
    *slash = '\0';
    char mk[1300];
    snprintf(mk, sizeof mk, "mkdir -p '%s'", longp);
    assert_int_equal(system(mk), 0);
    *slash = '/';
    write_file(longp, "long");
    expect_get(fc, f, longp, NULL, "long", HONE_FILECACHE_MISS);
    expect_get(fc, f, longp, NULL, "long", HONE_FILECACHE_MISS);
    hone_filecache_free(fc);
}

static void warn_sink(void *ctx, hone_log_level level, const char *module, const char *msg) {
    (void)module, (void)msg;
    if (level == HONE_LOG_WARN) (*(int *)ctx)++;
}

static void test_foreign_file_refused_or_recreated(void **state) {
    fx *f = *state;
    char dir[600], aside[700];
    snprintf(dir, sizeof dir, "%s/cache", f->dir);
    mkdir(dir, 0755);
    write_file(f->store, "this is not an LMDB file, it is a text file someone left here\n");
    hone_filecache_opts o = {.path = f->store};
    hone_filecache *fc = (hone_filecache *)1;
    hone_error err = {0};
    assert_int_equal(hone_filecache_new(&fc, &o, &err), HONE_ECORRUPT);
    assert_null(fc);
    assert_non_null(strstr(err.msg, f->store));
    /* Refused, and left alone. */
    struct stat sb = stat_of(f->store);
    assert_true(sb.st_size > 0);

    int warned = 0;
    hone_log_set_sink(warn_sink, &warned);
    o.recreate = 1;
    assert_int_equal(hone_filecache_new(&fc, &o, &err), HONE_OK);
    hone_log_set_sink(NULL, NULL);
    assert_int_equal(warned, 1);
    hone_filecache_stats st;
    hone_filecache_stats_get(fc, &st);
    assert_int_equal(st.recreated, 1);
    snprintf(aside, sizeof aside, "%s.corrupt", f->store);
    assert_int_equal(access(aside, F_OK), 0);
    write_file(f->path, "fresh");
    expect_get(fc, f, f->path, NULL, "fresh", HONE_FILECACHE_MISS);
    hone_filecache_free(fc);

    /* A sound file of another name (another kind of value) is foreign
     * too. */
    o.recreate = 0;
    o.name = "another.kind";
    assert_int_equal(hone_filecache_new(&fc, &o, &err), HONE_ECORRUPT);
    assert_non_null(strstr(err.msg, "another.kind"));
    /* And the file is still good for its own name. */
    o.name = NULL;
    assert_int_equal(hone_filecache_new(&fc, &o, &err), HONE_OK);
    hone_filecache_stats_get(fc, &st);
    assert_int_equal(st.recreated, 0);
    assert_int_equal(st.entries, 1);
    hone_filecache_free(fc);
}

/* A damaged entry (one flipped byte of its value) is never returned: the
 * checksum fails, the file is read again, and the entry rewritten. */
static void test_damaged_entry_is_reloaded(void **state) {
    fx *f = *state;
    hone_filecache *fc = open_fc(f, f->store, NULL);
    write_file(f->path, "intact");
    expect_get(fc, f, f->path, NULL, "intact", HONE_FILECACHE_MISS);
    hone_filecache_free(fc);

    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_open(env, f->store, MDB_NOSUBDIR, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    MDB_val k = {strlen(f->path), f->path}, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    unsigned char copy[512];
    assert_true(v.mv_size <= sizeof copy && v.mv_size > 9);
    memcpy(copy, v.mv_data, v.mv_size);
    copy[v.mv_size - 9] ^= 1; /* the value's last byte, before the checksum */
    MDB_val nv = {v.mv_size, copy};
    assert_int_equal(mdb_put(txn, dbi, &k, &nv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    fc = open_fc(f, f->store, NULL);
    expect_get(fc, f, f->path, NULL, "intact", HONE_FILECACHE_STALE);
    expect_get(fc, f, f->path, NULL, "intact", HONE_FILECACHE_HIT);
    hone_filecache_stats st;
    hone_filecache_stats_get(fc, &st);
    assert_int_equal(st.corrupt, 1);
    hone_filecache_free(fc);
}

/* ------------------------------------------------------------------ */
/* Single flight                                                       */
/* ------------------------------------------------------------------ */

typedef struct flight_fx {
    fx *f;
    hone_filecache *fc;
    pthread_barrier_t bar;
    atomic_int release; /* the loader waits for it */
    int rc[THREADS];
    hone_filecache_result how[THREADS];
    char got[THREADS][32];
} flight_fx;

static int slow_loader(void *ctx, const char *path, int fd, const hone_file_id *id, hone_buf *out) {
    flight_fx *ff = ctx;
    while (!atomic_load(&ff->release)) sched_yield();
    return read_loader(ff->f, path, fd, id, out);
}

typedef struct targ {
    flight_fx *ff;
    int i;
} targ;

static void *flight_thread(void *p) {
    targ *t = p;
    flight_fx *ff = t->ff;
    hone_buf b;
    hone_buf_init(&b, NULL);
    pthread_barrier_wait(&ff->bar);
    ff->rc[t->i] = hone_filecache_get(ff->fc, ff->f->path, NULL, slow_loader, ff, &b, &ff->how[t->i]);
    if (ff->rc[t->i] == HONE_OK) snprintf(ff->got[t->i], sizeof ff->got[t->i], "%s", b.data);
    hone_buf_free(&b);
    return NULL;
}

static void single_flight(fx *f, const char *store) {
    flight_fx ff;
    memset(&ff, 0, sizeof ff);
    ff.f = f;
    ff.fc = open_fc(f, store, NULL);
    write_file(f->path, "shared");
    assert_int_equal(pthread_barrier_init(&ff.bar, NULL, THREADS), 0);
    pthread_t th[THREADS];
    targ args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (targ){&ff, i};
        assert_int_equal(pthread_create(&th[i], NULL, flight_thread, &args[i]), 0);
    }
    /* The loader cannot finish before every other thread waits for it:
     * then all of them asked while the file was uncached. */
    for (;;) {
        hone_filecache_stats st;
        hone_filecache_stats_get(ff.fc, &st);
        if (st.waiting == THREADS - 1) break;
        sched_yield();
    }
    atomic_store(&ff.release, 1);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&f->loads), 1);
    int leaders = 0;
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(ff.rc[i], HONE_OK);
        assert_string_equal(ff.got[i], "v:shared");
        if (ff.how[i] == HONE_FILECACHE_MISS) leaders++;
        else assert_int_equal(ff.how[i], HONE_FILECACHE_JOINED);
    }
    assert_int_equal(leaders, 1);
    hone_filecache_stats st;
    hone_filecache_stats_get(ff.fc, &st);
    assert_int_equal(st.joined, THREADS - 1);
    assert_int_equal(st.waiting, 0);
    pthread_barrier_destroy(&ff.bar);
    hone_filecache_free(ff.fc);
}

static void test_memory_single_flight(void **state) { single_flight(*state, NULL); }
static void test_persisted_single_flight(void **state) {
    fx *f = *state;
    single_flight(f, f->store);
}

/* Threads getting and invalidating a few files at once: every value
 * returned is its own file's (never torn, never another's). For TSan. */
typedef struct churn {
    fx *f;
    hone_filecache *fc;
    char paths[4][600];
    pthread_barrier_t bar;
    atomic_int bad;
} churn;

static void *churn_thread(void *p) {
    churn *c = p;
    hone_buf b;
    hone_buf_init(&b, NULL);
    pthread_barrier_wait(&c->bar);
    for (int i = 0; i < 300; i++) {
        const char *path = c->paths[i % 4];
        int rc = hone_filecache_get(c->fc, path, NULL, read_loader, c->f, &b, NULL);
        /* A value is "v:" + the file's name repeated: it must name its file. */
        const char *base = strrchr(path, '/') + 1;
        if (rc != HONE_OK || strncmp(b.data, "v:", 2) != 0 || strncmp(b.data + 2, base, strlen(base)) != 0)
            atomic_fetch_add(&c->bad, 1);
        if (i % 37 == 0) hone_filecache_invalidate(c->fc, path);
    }
    hone_buf_free(&b);
    return NULL;
}

static void churn_run(fx *f, const char *store) {
    churn c;
    memset(&c, 0, sizeof c);
    c.f = f;
    c.fc = open_fc(f, store, NULL);
    for (int i = 0; i < 4; i++) {
        snprintf(c.paths[i], sizeof c.paths[i], "%s/file%d", f->dir, i);
        char content[64];
        snprintf(content, sizeof content, "file%dfile%d", i, i);
        write_file(c.paths[i], content);
    }
    assert_int_equal(pthread_barrier_init(&c.bar, NULL, 4), 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&th[i], NULL, churn_thread, &c), 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&c.bad), 0);
    pthread_barrier_destroy(&c.bar);
    hone_filecache_free(c.fc);
}

static void test_memory_concurrent(void **state) { churn_run(*state, NULL); }
static void test_persisted_concurrent(void **state) {
    fx *f = *state;
    churn_run(f, f->store);
}

/* ------------------------------------------------------------------ */
/* Out of memory                                                       */
/* ------------------------------------------------------------------ */

typedef struct oom_ctx {
    fx *f;
    const char *store;
} oom_ctx;

static int oom_run(const hone_allocator *a, void *p) {
    oom_ctx *o = p;
    fx *f = o->f;
    f->now = (int64_t)time(NULL) * NS + 3600 * NS;
    hone_filecache_opts opts = {.alloc = a, .path = o->store, .clock_ns = fixed_clock,
                                .clock_ctx = &f->now, .max_entries = 2};
    hone_filecache *fc;
    int rc = hone_filecache_new(&fc, &opts, NULL);
    if (rc) return rc;
    hone_buf b;
    hone_buf_init(&b, a);
    char p2[600];
    snprintf(p2, sizeof p2, "%s/second", f->dir);
    for (int i = 0; i < 3 && !rc; i++) {
        rc = hone_filecache_get(fc, f->path, NULL, read_loader, f, &b, NULL);
        if (!rc) rc = hone_filecache_get(fc, p2, NULL, read_loader, f, &b, NULL);
    }
    if (!rc && hone_filecache_invalidate(fc, p2) != HONE_OK) rc = HONE_EFAIL;
    hone_filecache_stats st;
    hone_filecache_stats_get(fc, &st);
    hone_buf_free(&b);
    hone_filecache_free(fc);
    if (o->store) {
        /* Each run starts from an empty file. */
        char lock[600];
        snprintf(lock, sizeof lock, "%s-lock", o->store);
        unlink(o->store);
        unlink(lock);
    }
    return rc;
}

static void test_oom(void **state) {
    fx *f = *state;
    write_file(f->path, "first");
    char p2[600];
    snprintf(p2, sizeof p2, "%s/second", f->dir);
    write_file(p2, "second");
    oom_ctx mem = {f, NULL}, disk = {f, f->store};
    failalloc_loop("filecache memory", oom_run, &mem);
    failalloc_loop("filecache persisted", oom_run, &disk);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_memory_hit_and_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persisted_hit_and_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_racy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persisted_racy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forced_granularity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persisted_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persisted_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_file_refused_or_recreated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_entry_is_reloaded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_single_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persisted_single_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persisted_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
    };
    return HONE_TEST_RUN(tests, NULL, NULL, argc, argv);
}
