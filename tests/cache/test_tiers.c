/* test_tiers.c - a cache opened with tiers answers the one cache API: what
 * was put survives a restart (disk, hybrid), memory never hides a newer
 * value on disk, TTLs hold across restarts, the environment picks the
 * strategy, refused files stay refused, and the hybrid simulator counts
 * what the hybrid cache does. Real LMDB files in a temporary directory. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/cache_test.h"
#include "test.h"
#include "tmpdir.h"

static char dir[256];

static int setup(void **state) {
    (void)state;
    return hone_test_tmpdir(dir, sizeof dir, "test-tiers");
}

static int teardown(void **state) {
    (void)state;
    hone_test_rmtree(dir);
    return 0;
}

/* A wall clock the tests move. */
static uint64_t wall_now = 1700000000ull * 1000000000ull;
static uint64_t test_wall(void *ctx) {
    (void)ctx;
    return wall_now;
}

static hone_cache *open_cache(int strategy, const char *name, uint64_t mem_entries, int nosync) {
    hone_cache_options mo = {.max_entries = mem_entries};
    hone_tier_options to = {.strategy = strategy,
                            .dir = dir,
                            .name = name,
                            .disk_bytes = (uint64_t)16 << 20,
                            .durability = nosync ? HONE_CACHE_NOSYNC : HONE_CACHE_SYNC,
                            .wall_clock = test_wall,
                            .ignore_env = 1};
    hone_cache *c = NULL;
    hone_error err;
    int rc = hone_cache_open(&c, &mo, &to, &err);
    if (rc) fprintf(stderr, "hone_cache_open: %s\n", err.msg);
    assert_int_equal(rc, HONE_OK);
    return c;
}

static void check_value(hone_cache *c, const char *key, const char *want) {
    char buf[128];
    size_t n = 0;
    int rc = hone_cache_get(c, key, strlen(key), buf, sizeof buf, &n);
    if (!want) {
        assert_int_equal(rc, HONE_ENOTFOUND);
        return;
    }
    assert_int_equal(rc, HONE_OK);
    assert_int_equal(n, strlen(want));
    buf[n < sizeof buf ? n : sizeof buf - 1] = '\0';
    assert_string_equal(buf, want);
}

/* Hybrid: far more entries than memory holds; every one readable, and
 * after a restart (memory empty) every one served from disk. */
static void test_hybrid_survives_restart(void **state) {
    (void)state;
    hone_cache *c = open_cache(HONE_CACHE_HYBRID, "hybrid.mdb", 100, 1);
    char k[32], v[64];
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "value-%d", i * 7);
        assert_int_equal(hone_cache_put(c, k, strlen(k), v, strlen(v)), HONE_OK);
    }
    hone_cache_stats ms;
    hone_cache_stats_get(c, &ms);
    assert_true(ms.entries <= 100);
    for (int i = 0; i < 3000; i += 7) {
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "value-%d", i * 7);
        check_value(c, k, v);
    }
    hone_cache_free(c);
    c = open_cache(HONE_CACHE_HYBRID, "hybrid.mdb", 100, 1);
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "value-%d", i * 7);
        check_value(c, k, v);
    }
    hone_cache_tier_stats ts;
    hone_cache_tier_stats_get(c, &ts);
    assert_int_equal(ts.strategy, HONE_CACHE_HYBRID);
    assert_true(ts.disk_hits >= 3000);
    assert_true(ts.promotions > 0);
    assert_int_equal(ts.disk_entries, 3000);
    /* A promoted key is now a memory hit. */
    hone_cache_stats_reset(c);
    check_value(c, "k2999", "value-20993");
    hone_cache_stats_get(c, &ms);
    assert_int_equal(ms.hits, 1);
    hone_cache_free(c);
}

/* get_many without a shared tier: memory, then disk, key by key. */
static void test_get_many_local(void **state) {
    (void)state;
    hone_cache *c = open_cache(HONE_CACHE_HYBRID, "many.mdb", 5, 1);
    char kb[40][16];
    const void *keys[40];
    size_t kl[40];
    hone_buf vals[40];
    int found[40];
    for (int i = 0; i < 40; i++) {
        snprintf(kb[i], sizeof kb[i], "g%d", i);
        keys[i] = kb[i];
        kl[i] = strlen(kb[i]);
        hone_buf_init(&vals[i], NULL);
        if (i % 2 == 0) assert_int_equal(hone_cache_put(c, kb[i], kl[i], kb[i], kl[i]), HONE_OK);
    }
    assert_int_equal(hone_cache_get_many(c, 40, keys, kl, vals, found), HONE_OK);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(found[i], i % 2 == 0);
        if (found[i]) assert_memory_equal(vals[i].data, kb[i], kl[i]);
        hone_buf_free(&vals[i]);
    }
    assert_int_equal(hone_cache_get_many(c, 1, NULL, kl, vals, found), HONE_EINVAL);
    hone_cache_free(c);
}

/* Disk: nothing in memory; put, overwrite, delete, all survive a restart;
 * get_view and contains read the file. */
static void test_disk_api(void **state) {
    (void)state;
    hone_cache *c = open_cache(HONE_CACHE_DISK, "disk.mdb", 0, 0);
    assert_int_equal(hone_cache_strategy_of(c), HONE_CACHE_DISK);
    assert_int_equal(hone_cache_put(c, "a", 1, "one", 3), HONE_OK);
    assert_int_equal(hone_cache_put(c, "b", 1, "two", 3), HONE_OK);
    assert_int_equal(hone_cache_put(c, "a", 1, "uno", 3), HONE_OK);
    assert_int_equal(hone_cache_put(c, "e", 1, "", 0), HONE_OK);
    assert_int_equal(hone_cache_delete(c, "b", 1), HONE_OK);
    assert_int_equal(hone_cache_delete(c, "b", 1), HONE_ENOTFOUND);
    check_value(c, "a", "uno");
    check_value(c, "b", NULL);
    check_value(c, "e", "");
    assert_int_equal(hone_cache_contains(c, "a", 1), 1);
    assert_int_equal(hone_cache_contains(c, "b", 1), 0);
    hone_cache_view v;
    assert_int_equal(hone_cache_get_view(c, "a", 1, &v), HONE_OK);
    assert_int_equal(v.len, 3);
    assert_memory_equal(v.data, "uno", 3);
    hone_cache_view_release(&v);
    hone_cache_stats ms;
    hone_cache_stats_get(c, &ms);
    assert_int_equal(ms.entries, 0);
    hone_cache_free(c);
    c = open_cache(HONE_CACHE_DISK, "disk.mdb", 0, 0);
    check_value(c, "a", "uno");
    check_value(c, "b", NULL);
    check_value(c, "e", "");
    hone_cache_clear(c);
    check_value(c, "a", NULL);
    hone_cache_free(c);
    c = open_cache(HONE_CACHE_DISK, "disk.mdb", 0, 0);
    check_value(c, "a", NULL);
    hone_cache_free(c);
}

/* TTLs are wall-clock deadlines on disk: they hold across a restart. */
static void test_ttl_across_restart(void **state) {
    (void)state;
    hone_cache *c = open_cache(HONE_CACHE_HYBRID, "ttl.mdb", 100, 0);
    assert_int_equal(hone_cache_put_ex(c, "t", 1, "ten", 3, 10000000000ull, 0), HONE_OK);
    assert_int_equal(hone_cache_put_ex(c, "f", 1, "forever", 7, UINT64_MAX, 0), HONE_OK);
    hone_cache_free(c);
    wall_now += 5000000000ull;
    c = open_cache(HONE_CACHE_HYBRID, "ttl.mdb", 100, 0);
    check_value(c, "t", "ten");
    hone_cache_free(c);
    wall_now += 6000000000ull;
    c = open_cache(HONE_CACHE_HYBRID, "ttl.mdb", 100, 0);
    check_value(c, "t", NULL);
    check_value(c, "f", "forever");
    hone_cache_free(c);
}

static int loads;
static int count_loader(void *ctx, const void *key, size_t klen, void **val, size_t *vlen,
                        uint64_t *ttl) {
    (void)ctx, (void)ttl;
    loads++;
    void *v = hone_malloc(NULL, klen);
    if (!v) return HONE_ENOMEM;
    memcpy(v, key, klen);
    *val = v;
    *vlen = klen;
    return HONE_OK;
}

/* get_or_load writes what it loads through to disk; after a restart the
 * loader is not called again. */
static void test_get_or_load_through_disk(void **state) {
    (void)state;
    loads = 0;
    hone_cache *c = open_cache(HONE_CACHE_HYBRID, "load.mdb", 100, 0);
    hone_cache_view v;
    assert_int_equal(hone_cache_get_or_load(c, "loaded", 6, count_loader, NULL, &v), HONE_OK);
    hone_cache_view_release(&v);
    assert_int_equal(loads, 1);
    hone_cache_free(c);
    c = open_cache(HONE_CACHE_HYBRID, "load.mdb", 100, 0);
    assert_int_equal(hone_cache_get_or_load(c, "loaded", 6, count_loader, NULL, &v), HONE_OK);
    assert_int_equal(v.len, 6);
    assert_memory_equal(v.data, "loaded", 6);
    hone_cache_view_release(&v);
    assert_int_equal(loads, 1);
    hone_cache_free(c);
}

/* A loader whose key is put while it runs: get_or_load serves what it
 * loaded, but neither memory nor disk may keep it over the newer put. */
static int racing_loader(void *ctx, const void *key, size_t klen, void **val, size_t *vlen,
                         uint64_t *ttl) {
    (void)ttl;
    hone_cache *c = ctx;
    assert_int_equal(hone_cache_put(c, key, klen, "newer", 5), HONE_OK);
    *val = hone_malloc(NULL, 5);
    if (!*val) return HONE_ENOMEM;
    memcpy(*val, "older", 5);
    *vlen = 5;
    return HONE_OK;
}

static void test_get_or_load_never_stale(void **state) {
    (void)state;
    for (int strategy = HONE_CACHE_DISK; strategy <= HONE_CACHE_HYBRID; strategy++) {
        hone_cache *c = open_cache(strategy, strategy == HONE_CACHE_DISK ? "race-d.mdb" : "race-h.mdb",
                                   100, 0);
        hone_cache_view v;
        assert_int_equal(hone_cache_get_or_load(c, "r", 1, racing_loader, c, &v), HONE_OK);
        assert_int_equal(v.len, 5);
        assert_memory_equal(v.data, "older", 5);
        hone_cache_view_release(&v);
        check_value(c, "r", "newer");
        assert_int_equal(hone_cache_get_or_load(c, "r", 1, racing_loader, c, &v), HONE_OK);
        assert_memory_equal(v.data, "newer", 5);
        hone_cache_view_release(&v);
        hone_cache_free(c);
        c = open_cache(strategy, strategy == HONE_CACHE_DISK ? "race-d.mdb" : "race-h.mdb", 100, 0);
        check_value(c, "r", "newer");
        hone_cache_free(c);
    }
}

/* An entry too big for memory's share is still stored (on disk), and
 * memory does not keep the older value of its key. */
static void test_too_big_for_memory(void **state) {
    (void)state;
    hone_cache_options mo = {.max_bytes = 4096, .shards = 1};
    hone_tier_options to = {.strategy = HONE_CACHE_HYBRID, .dir = dir, .name = "big.mdb",
                            .disk_bytes = (uint64_t)16 << 20, .ignore_env = 1};
    hone_cache *c;
    hone_error err;
    assert_int_equal(hone_cache_open(&c, &mo, &to, &err), HONE_OK);
    assert_int_equal(hone_cache_put(c, "k", 1, "small", 5), HONE_OK);
    static char big[20000];
    memset(big, 'x', sizeof big);
    assert_int_equal(hone_cache_put(c, "k", 1, big, sizeof big), HONE_OK);
    char buf[sizeof big];
    size_t n = 0;
    assert_int_equal(hone_cache_get(c, "k", 1, buf, sizeof buf, &n), HONE_OK);
    assert_int_equal(n, sizeof big);
    assert_memory_equal(buf, big, sizeof big);
    hone_cache_free(c);
}

/* Writers put increasing versions of their own keys; readers must never
 * see a key's version go down (memory hiding a newer value on disk would
 * show as a step back). Small memory, so gets promote all the time. */
#define RACE_KEYS 64
#define RACE_ROUNDS 300

typedef struct race {
    hone_cache *c;
    int id;
    int bad;
} race;

static void *race_writer(void *p) {
    race *r = p;
    char k[16], v[32];
    for (int round = 1; round <= RACE_ROUNDS; round++)
        for (int i = r->id; i < RACE_KEYS; i += 2) {
            snprintf(k, sizeof k, "r%d", i);
            snprintf(v, sizeof v, "%d", round);
            if (hone_cache_put(r->c, k, strlen(k), v, strlen(v))) r->bad++;
        }
    return NULL;
}

static void *race_reader(void *p) {
    race *r = p;
    int seen[RACE_KEYS] = {0};
    char k[16], v[32];
    for (int round = 0; round < RACE_ROUNDS * 4; round++)
        for (int i = 0; i < RACE_KEYS; i++) {
            snprintf(k, sizeof k, "r%d", i);
            size_t n = 0;
            if (hone_cache_get(r->c, k, strlen(k), v, sizeof v - 1, &n) != HONE_OK) continue;
            v[n] = '\0';
            int ver = atoi(v);
            if (ver < seen[i]) r->bad++;
            seen[i] = ver;
        }
    return NULL;
}

static void test_promotion_never_stale(void **state) {
    (void)state;
    hone_cache *c = open_cache(HONE_CACHE_HYBRID, "race.mdb", 8, 1);
    race rs[4] = {{c, 0, 0}, {c, 1, 0}, {c, 0, 0}, {c, 1, 0}};
    pthread_t th[4];
    pthread_create(&th[0], NULL, race_writer, &rs[0]);
    pthread_create(&th[1], NULL, race_writer, &rs[1]);
    pthread_create(&th[2], NULL, race_reader, &rs[2]);
    pthread_create(&th[3], NULL, race_reader, &rs[3]);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) assert_int_equal(rs[i].bad, 0);
    char k[16], v[16];
    for (int i = 0; i < RACE_KEYS; i++) {
        snprintf(k, sizeof k, "r%d", i);
        snprintf(v, sizeof v, "%d", RACE_ROUNDS);
        check_value(c, k, v);
    }
    hone_cache_free(c);
}

/* A put between a get's read below memory and its promotion: the get may
 * return the value it read (the two were concurrent), but memory must not
 * keep it. The newer value is too big for memory, so only the disk has it,
 * and a promoted stale value would hide it for good. */
static char big_value[20000];

static void put_newer(hone_cache *c, const void *key, size_t klen) {
    hone__cache_test_tier_hook = NULL;
    assert_int_equal(hone_cache_put(c, key, klen, big_value, sizeof big_value), HONE_OK);
}

static void test_promotion_after_put(void **state) {
    (void)state;
    memset(big_value, 'n', sizeof big_value);
    hone_cache_options mo = {.max_bytes = 4096, .shards = 1};
    hone_tier_options to = {.strategy = HONE_CACHE_HYBRID, .dir = dir, .name = "stale.mdb",
                            .disk_bytes = (uint64_t)16 << 20, .ignore_env = 1};
    hone_cache *c;
    hone_error err;
    assert_int_equal(hone_cache_open(&c, &mo, &to, &err), HONE_OK);
    assert_int_equal(hone_cache_put(c, "k", 1, "old", 3), HONE_OK);
    hone_cache_free(c);
    assert_int_equal(hone_cache_open(&c, &mo, &to, &err), HONE_OK);
    hone__cache_test_tier_hook = put_newer;
    char buf[sizeof big_value];
    size_t n = 0;
    assert_int_equal(hone_cache_get(c, "k", 1, buf, sizeof buf, &n), HONE_OK);
    assert_int_equal(n, 3); /* read before the put: the old value */
    assert_null(hone__cache_test_tier_hook);
    assert_int_equal(hone_cache_get(c, "k", 1, buf, sizeof buf, &n), HONE_OK);
    assert_int_equal(n, sizeof big_value);
    assert_memory_equal(buf, big_value, sizeof big_value);
    hone_cache_tier_stats ts;
    hone_cache_tier_stats_get(c, &ts);
    assert_int_equal(ts.promotions, 0);
    hone_cache_free(c);
}

/* The environment picks the strategy and the disk size; bad values are
 * refused naming them. */
static void test_environment(void **state) {
    (void)state;
    hone_tier_options o = {0};
    hone_error err;
    setenv("HONE_CACHE_STRATEGY", "hybrid", 1);
    setenv("HONE_CACHE_DISK_SIZE", "32M", 1);
    assert_int_equal(hone_tier_options_env(&o, &err), HONE_OK);
    assert_int_equal(o.strategy, HONE_CACHE_HYBRID);
    assert_int_equal(o.disk_bytes, (uint64_t)32 << 20);
    hone_tier_options keep = {.strategy = HONE_CACHE_MEMORY, .disk_bytes = 5 << 20};
    assert_int_equal(hone_tier_options_env(&keep, &err), HONE_OK);
    assert_int_equal(keep.strategy, HONE_CACHE_MEMORY);
    assert_int_equal(keep.disk_bytes, 5 << 20);
    setenv("HONE_CACHE_STRATEGY", "hybird", 1);
    memset(&o, 0, sizeof o);
    assert_int_equal(hone_tier_options_env(&o, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "HONE_CACHE_STRATEGY=hybird"));
    unsetenv("HONE_CACHE_STRATEGY");
    setenv("HONE_CACHE_DISK_SIZE", "lots", 1);
    memset(&o, 0, sizeof o);
    assert_int_equal(hone_tier_options_env(&o, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "HONE_CACHE_DISK_SIZE=lots"));
    unsetenv("HONE_CACHE_DISK_SIZE");
    setenv("HONE_CACHE_REDIS", "localhost", 1);
    memset(&o, 0, sizeof o);
    assert_int_equal(hone_tier_options_env(&o, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "HONE_CACHE_REDIS=localhost"));
    unsetenv("HONE_CACHE_REDIS");
    int s;
    assert_int_equal(hone_cache_strategy_parse("disk", &s, &err), HONE_OK);
    assert_int_equal(s, HONE_CACHE_DISK);
    assert_string_equal(hone_cache_strategy_name(HONE_CACHE_HYBRID), "hybrid");
    assert_int_equal(hone_cache_strategy_parse("ssd", &s, &err), HONE_EINVAL);
}

/* A file hone did not write is refused (never read, never replaced),
 * unless the caller allows recreating it. */
static void test_foreign_file_refused(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/foreign.mdb", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 3000; i++) fputs("not an LMDB file ", f);
    fclose(f);
    hone_tier_options to = {.strategy = HONE_CACHE_DISK, .dir = dir, .name = "foreign.mdb",
                            .disk_bytes = (uint64_t)16 << 20, .ignore_env = 1};
    hone_cache *c = NULL;
    hone_error err;
    assert_int_equal(hone_cache_open(&c, NULL, &to, &err), HONE_ECORRUPT);
    assert_null(c);
    assert_non_null(strstr(err.msg, path));
    f = fopen(path, "r");
    assert_non_null(f);
    char head[8] = {0};
    assert_int_equal(fread(head, 1, 7, f), 7);
    fclose(f);
    assert_string_equal(head, "not an ");
    to.recreate = 1;
    assert_int_equal(hone_cache_open(&c, NULL, &to, &err), HONE_OK);
    assert_int_equal(hone_cache_put(c, "k", 1, "v", 1), HONE_OK);
    check_value(c, "k", "v");
    hone_cache_free(c);
}

/* A file where the directory should be is reported as such, and left
 * alone, even when the caller allows recreating a damaged database. */
static void test_dir_is_a_file(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/plainfile", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("keep me\n", f);
    fclose(f);
    hone_tier_options to = {.strategy = HONE_CACHE_DISK, .dir = path, .recreate = 1,
                            .disk_bytes = (uint64_t)16 << 20, .ignore_env = 1};
    hone_cache *c = NULL;
    hone_error err;
    int rc = hone_cache_open(&c, NULL, &to, &err);
    assert_int_not_equal(rc, HONE_OK);
    assert_int_not_equal(rc, HONE_ECORRUPT);
    assert_null(c);
    assert_non_null(strstr(err.msg, "Not a directory"));
    f = fopen(path, "r");
    assert_non_null(f);
    char line[16] = {0};
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "keep me\n");
}

/* The memory-only strategy is the plain memory cache: nothing on disk. */
static void test_memory_strategy(void **state) {
    (void)state;
    hone_tier_options to = {.strategy = HONE_CACHE_MEMORY, .dir = dir, .name = "none.mdb",
                            .ignore_env = 1};
    hone_cache *c;
    hone_error err;
    assert_int_equal(hone_cache_open(&c, NULL, &to, &err), HONE_OK);
    assert_int_equal(hone_cache_strategy_of(c), HONE_CACHE_MEMORY);
    assert_int_equal(hone_cache_put(c, "k", 1, "v", 1), HONE_OK);
    check_value(c, "k", "v");
    assert_int_equal(hone_cache_sync(c), HONE_OK);
    hone_cache_free(c);
    char path[512];
    snprintf(path, sizeof path, "%s/none.mdb", dir);
    assert_int_equal(access(path, F_OK), -1);
}

typedef struct export_ctx {
    int n;
    int found_b;
} export_ctx;

static int export_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                      uint64_t expire) {
    export_ctx *x = ctx;
    x->n++;
    if (klen == 1 && !memcmp(key, "b", 1)) {
        x->found_b = vlen == 3 && !memcmp(val, "bee", 3) && expire == 0;
    }
    return 0;
}

/* Runs `hone cache ACTION --dir dir --name NAME` and returns its stdout
 * (static buffer) and exit status. */
static const char *run_cli(const char *action, const char *name, int *status) {
    static char out[65536];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/hone cache %s --dir '%s' --name %s", HONE_BINARY_DIR, action, dir,
             name);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    *status = pclose(p);
    return out;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_export(void **state) {
    (void)state;
    hone_cache *c = open_cache(HONE_CACHE_HYBRID, "export.mdb", 10, 1);
    char k[16];
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "e%d", i);
        assert_int_equal(hone_cache_put(c, k, strlen(k), k, strlen(k)), HONE_OK);
    }
    assert_int_equal(hone_cache_put(c, "b", 1, "bee", 3), HONE_OK);
    export_ctx x = {0, 0};
    assert_int_equal(hone_cache_export(c, export_one, &x), 0);
    assert_int_equal(x.n, 51);
    assert_int_equal(x.found_b, 1);
    assert_int_equal(hone_cache_put(c, "bin\0\377", 5, "\0\1", 2), HONE_OK);
    hone_cache_free(c);
    /* The command line sees the same entries. */
    int st;
    const char *out = run_cli("export", "export.mdb", &st);
    assert_int_equal(st, 0);
    assert_int_equal(count_lines(out), 52);
    assert_non_null(strstr(out, "{\"key\":\"b\",\"value\":\"bee\",\"expires\":null}\n"));
    assert_non_null(strstr(out, "{\"key_base64\":\"YmluAP8=\",\"value_base64\":\"AAE=\","));
    out = run_cli("stats --json", "export.mdb", &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "\"entries\": 52"));
    out = run_cli("clear", "export.mdb", &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "52 entries removed"));
    out = run_cli("stats --json", "export.mdb", &st);
    assert_non_null(strstr(out, "\"entries\": 0"));
}

/* The tiers' figures reach Prometheus beside memory's. */
static void test_metrics(void **state) {
    (void)state;
    hone_cache *c = open_cache(HONE_CACHE_HYBRID, "metrics.mdb", 10, 1);
    char k[16];
    for (int i = 0; i < 30; i++) {
        snprintf(k, sizeof k, "m%d", i);
        assert_int_equal(hone_cache_put(c, k, strlen(k), k, strlen(k)), HONE_OK);
    }
    for (int i = 0; i < 30; i++) {
        snprintf(k, sizeof k, "m%d", i);
        char buf[16];
        size_t n;
        assert_int_equal(hone_cache_get(c, k, strlen(k), buf, sizeof buf, &n), HONE_OK);
    }
    hone_cache_sync(c);
    hone_cache_tier_stats ts;
    hone_cache_tier_stats_get(c, &ts);
    assert_true(ts.disk_hits >= 20);
    hone_metrics *m;
    assert_int_equal(hone_metrics_new(&m, NULL), HONE_OK);
    hone_error err;
    assert_int_equal(hone_cache_metrics_update(c, m, "h", &err), HONE_OK);
    hone_buf b;
    hone_buf_init(&b, NULL);
    assert_int_equal(hone_metrics_expose(m, &b), HONE_OK);
    char want[128];
    snprintf(want, sizeof want, "hone_cache_tier_hits_total{cache=\"h\",tier=\"disk\"} %llu\n",
             (unsigned long long)ts.disk_hits);
    if (!strstr(b.data, want)) fprintf(stderr, "want %s in:\n%s", want, b.data);
    assert_non_null(strstr(b.data, want));
    assert_non_null(strstr(b.data, "hone_cache_disk_entries{cache=\"h\"} 30\n"));
    assert_null(strstr(b.data, "tier=\"redis\""));
    hone_buf_free(&b);
    hone_metrics_free(m);
    hone_cache_free(c);
}

/* The hybrid simulator, worked by hand: LRU of 1 in front of CLOCK of 2
 * over 1 1 2 1 3 1 2 hits memory once (the second 1) and disk twice (the
 * 1s after 2 and after 3); CLOCK alone over 1 2 1 3 1 2 hits twice. */
static void test_sim_tiered(void **state) {
    (void)state;
    const uint64_t keys[] = {1, 1, 2, 1, 3, 1, 2};
    hone_cache_tier_sim t;
    assert_int_equal(hone_cache_sim_tiered(HONE_CACHE_POLICY_LRU, 1, 2, keys, 7, NULL, &t),
                     HONE_OK);
    assert_int_equal(t.accesses, 7);
    assert_float_equal(t.memory_hit_percent, 100.0 / 7, 1e-9);
    assert_float_equal(t.disk_hit_percent, 200.0 / 7, 1e-9);
    assert_float_equal(t.hit_percent, 300.0 / 7, 1e-9);
    assert_int_equal(hone_cache_sim_tiered(HONE_CACHE_POLICY_LRU, 0, 2, keys + 1, 6, NULL, &t),
                     HONE_OK);
    assert_float_equal(t.disk_hit_percent, 200.0 / 6, 1e-9);
    assert_float_equal(t.memory_hit_percent, 0.0, 1e-9);
    assert_int_equal(hone_cache_sim_tiered(HONE_CACHE_POLICY_LRU, 1, 0, keys, 7, NULL, &t),
                     HONE_EINVAL);
}

static int oom_calls(const hone_allocator *a, void *ctx) {
    (void)ctx;
    hone_cache_options mo = {.alloc = a, .max_entries = 20};
    hone_tier_options to = {.strategy = HONE_CACHE_HYBRID, .dir = dir, .name = "oom.mdb",
                            .disk_bytes = (uint64_t)16 << 20, .ignore_env = 1,
                            .durability = HONE_CACHE_NOSYNC};
    hone_cache *c;
    hone_error err;
    int rc = hone_cache_open(&c, &mo, &to, &err);
    if (rc) return rc;
    char k[16], buf[16];
    size_t n;
    for (int i = 0; i < 60 && !rc; i++) {
        snprintf(k, sizeof k, "o%d", i % 40);
        rc = hone_cache_put(c, k, strlen(k), k, strlen(k));
        if (!rc && hone_cache_get(c, k, strlen(k), buf, sizeof buf, &n) == HONE_OK &&
            (n != strlen(k) || memcmp(buf, k, n)))
            rc = HONE_EFAIL;
    }
    hone_cache_view v;
    if (!rc && hone_cache_get_or_load(c, "o3", 2, count_loader, NULL, &v) == HONE_OK)
        hone_cache_view_release(&v);
    if (!rc && hone_cache_get_view(c, "o1", 2, &v) == HONE_OK) hone_cache_view_release(&v);
    if (!rc) {
        int d = hone_cache_delete(c, "o5", 2);
        if (d != HONE_OK && d != HONE_ENOTFOUND) rc = d;
    }
    if (!rc) {
        const void *keys[3] = {"o1", "o2", "nope"};
        const size_t klens[3] = {2, 2, 4};
        hone_buf vals[3];
        int found[3];
        for (int i = 0; i < 3; i++) hone_buf_init(&vals[i], a);
        rc = hone_cache_get_many(c, 3, keys, klens, vals, found);
        if (!rc && (found[2] || (found[0] && (vals[0].len != 2 || memcmp(vals[0].data, "o1", 2)))))
            rc = HONE_EFAIL;
        for (int i = 0; i < 3; i++) hone_buf_free(&vals[i]);
    }
    if (!rc) rc = hone_cache_sync(c);
    hone_cache_tier_stats ts;
    hone_cache_tier_stats_get(c, &ts);
    hone_cache_free(c);
    return rc;
}

static void test_oom(void **state) {
    (void)state;
    failalloc_loop("hybrid cache", oom_calls, NULL);
}

/* A cache opened with no capacity and no TTL takes cache.size and
 * cache.ttl from the settings table: the variables, a level, or the
 * cache's component; options that give them win. */
static uint64_t settings_now;
static uint64_t settings_clock(void *ctx) {
    (void)ctx;
    return settings_now;
}

static void test_settings_size_and_ttl(void **state) {
    (void)state;
    hone_error err;
    hone_cache *c = NULL;
    hone_cache_stats st;
    hone_cache_options mo = {.clock = settings_clock};
    hone_tier_options to = {.strategy = HONE_CACHE_MEMORY};
    setenv("HONE_CACHE_SIZE", "1M", 1);
    setenv("HONE_CACHE_TTL", "30", 1); /* a bare number is seconds */
    settings_now = 1000;
    assert_int_equal(hone_cache_open(&c, &mo, &to, &err), HONE_OK);
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.max_bytes, (uint64_t)1 << 20);
    assert_int_equal(hone_cache_put(c, "k", 1, "v", 1), HONE_OK);
    char buf[8];
    size_t n;
    settings_now += 29000000000ull;
    assert_int_equal(hone_cache_get(c, "k", 1, buf, sizeof buf, &n), HONE_OK);
    settings_now += 2000000000ull;
    assert_int_equal(hone_cache_get(c, "k", 1, buf, sizeof buf, &n), HONE_ENOTFOUND);
    hone_cache_free(c);

    /* The options win. */
    hone_cache_options given = {.clock = settings_clock, .max_entries = 10};
    assert_int_equal(hone_cache_open(&c, &given, &to, &err), HONE_OK);
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.max_entries, 10);
    assert_int_equal(st.max_bytes, 0);
    hone_cache_free(c);

    /* A malformed variable is refused, naming it. */
    setenv("HONE_CACHE_TTL", "soon", 1);
    assert_int_equal(hone_cache_open(&c, &mo, &to, &err), HONE_EINVAL);
    assert_null(c);
    assert_non_null(strstr(err.msg, "HONE_CACHE_TTL=soon"));
    unsetenv("HONE_CACHE_TTL");
    unsetenv("HONE_CACHE_SIZE");

    /* Level basic: 16M; the component "thumbs" has its own 2M. */
    setenv("HONE_LEVEL", "basic", 1);
    assert_int_equal(hone_cache_open(&c, &mo, &to, &err), HONE_OK);
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.max_bytes, (uint64_t)16 << 20);
    hone_cache_free(c);
    assert_int_equal(hone_setting_set(HONE_SET_CACHE_SIZE, "thumbs", HONE_ORIGIN_API, "2M", "test",
                                      &err),
                     HONE_OK);
    to.component = "thumbs";
    assert_int_equal(hone_cache_open(&c, &mo, &to, &err), HONE_OK);
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.max_bytes, (uint64_t)2 << 20);
    hone_cache_free(c);
    hone_setting_unset(HONE_SET_CACHE_SIZE, "thumbs", HONE_ORIGIN_API);
    unsetenv("HONE_LEVEL");

    /* ignore_env: the built-in 64 MiB and no TTL, whatever the table says. */
    setenv("HONE_CACHE_SIZE", "1M", 1);
    hone_tier_options fixed = {.strategy = HONE_CACHE_MEMORY, .ignore_env = 1};
    assert_int_equal(hone_cache_open(&c, &mo, &fixed, &err), HONE_OK);
    hone_cache_stats_get(c, &st);
    assert_int_equal(st.max_bytes, (uint64_t)64 << 20);
    hone_cache_free(c);
    unsetenv("HONE_CACHE_SIZE");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_hybrid_survives_restart),
    cmocka_unit_test(test_disk_api),
    cmocka_unit_test(test_get_many_local),
    cmocka_unit_test(test_ttl_across_restart),
    cmocka_unit_test(test_get_or_load_through_disk),
    cmocka_unit_test(test_get_or_load_never_stale),
    cmocka_unit_test(test_too_big_for_memory),
    cmocka_unit_test(test_promotion_never_stale),
    cmocka_unit_test(test_promotion_after_put),
    cmocka_unit_test(test_environment),
    cmocka_unit_test(test_settings_size_and_ttl),
    cmocka_unit_test(test_foreign_file_refused),
    cmocka_unit_test(test_dir_is_a_file),
    cmocka_unit_test(test_memory_strategy),
    cmocka_unit_test(test_export),
    cmocka_unit_test(test_metrics),
    cmocka_unit_test(test_sim_tiered),
    cmocka_unit_test(test_oom),
};

HONE_TEST_MAIN_FIXTURES(tests, setup, teardown)
