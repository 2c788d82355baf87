/* disk.c - bench/tiers' disk-tier figures: gets and puts of the LMDB disk
 * tier against raw LMDB on the same data in the same run (100k keys of 16
 * bytes, values of 100 bytes), and group commit against one commit per put
 * under sync with the same 32 putter threads. */
#include <ftw.h>
#include <lmdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../src/cache/disk.h"
#include "hone.h"
#include "tiers.h"

enum { NKEYS = 100000, KLEN = 16, VLEN = 100, GROUP = 512, PUTTERS = 32 };
#define SYNC_RUN_NS 2000000000ull

static char g_tmp[64];

static double secs(uint64_t ns) { return (double)ns / 1e9; }

static void key_of(char *k, uint32_t i) {
    char b[32];
    snprintf(b, sizeof b, "key-%012u", i);
    memcpy(k, b, KLEN);
}

static void value_of(char *v, uint32_t i) {
    for (int j = 0; j < VLEN; j++) v[j] = (char)('a' + (i + (uint32_t)j) % 26);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static MDB_env *raw_env(const char *name, unsigned flags, MDB_dbi *dbi) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", g_tmp, name);
    MDB_env *e;
    MDB_txn *t;
    if (mdb_env_create(&e) || mdb_env_set_mapsize(e, (size_t)1 << 30) ||
        mdb_env_open(e, path, MDB_NOSUBDIR | MDB_NOTLS | flags, 0644) ||
        mdb_txn_begin(e, NULL, 0, &t) || mdb_dbi_open(t, NULL, 0, dbi) || mdb_txn_commit(t)) {
        fprintf(stderr, "bench tiers: cannot open raw LMDB at %s\n", path);
        exit(1);
    }
    return e;
}

static hone__disk *tier(const char *name, int nosync) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", g_tmp, name);
    hone__disk_options o = {.path = path, .max_bytes = 256u << 20, .nosync = nosync,
                            .group_max = GROUP};
    hone__disk *d;
    hone_error err;
    if (hone__disk_open(&d, &o, NULL, &err)) {
        fprintf(stderr, "bench tiers: %s\n", err.msg);
        exit(1);
    }
    return d;
}

/* ------------------------------------------------------------------ */
/* Gets and puts against raw LMDB                                      */
/* ------------------------------------------------------------------ */

/* The keys in a shuffled order: a cache's keys (hashes, URLs) do not come
 * in ascending order, and ascending keys favour raw LMDB's page splits. */
static uint32_t *g_put_order;

/* Raw puts: transactions of GROUP puts with MDB_NOSYNC, then one sync, as
 * the tier's nosync writer does. */
static uint64_t raw_puts(MDB_env *e, MDB_dbi dbi) {
    char k[KLEN], v[VLEN];
    uint64_t t0 = hone_now_ns();
    for (uint32_t i = 0; i < NKEYS;) {
        MDB_txn *t;
        mdb_txn_begin(e, NULL, 0, &t);
        for (uint32_t j = 0; j < GROUP && i < NKEYS; j++, i++) {
            key_of(k, g_put_order[i]);
            value_of(v, g_put_order[i]);
            MDB_val mk = {KLEN, k}, mv = {VLEN, v};
            mdb_put(t, dbi, &mk, &mv, 0);
        }
        mdb_txn_commit(t);
    }
    mdb_env_sync(e, 1);
    return hone_now_ns() - t0;
}

static uint64_t tier_puts(hone__disk *d) {
    char k[KLEN], v[VLEN];
    uint64_t t0 = hone_now_ns();
    for (uint32_t i = 0; i < NKEYS; i++) {
        key_of(k, g_put_order[i]);
        value_of(v, g_put_order[i]);
        if (hone__disk_put(d, k, KLEN, v, VLEN, 0)) {
            fprintf(stderr, "bench tiers: put failed\n");
            exit(1);
        }
    }
    hone__disk_flush(d);
    return hone_now_ns() - t0;
}

/* Raw gets: a kept read transaction renewed per get, mdb_get, and a copy
 * of the value out, as the tier does. */
static uint64_t raw_gets(MDB_env *e, MDB_dbi dbi, const uint32_t *order, size_t n, size_t *found) {
    char k[KLEN], out[VLEN];
    MDB_txn *t;
    mdb_txn_begin(e, NULL, MDB_RDONLY, &t);
    mdb_txn_reset(t);
    size_t f = 0;
    uint64_t t0 = hone_now_ns();
    for (size_t i = 0; i < n; i++) {
        key_of(k, order[i]);
        mdb_txn_renew(t);
        MDB_val mk = {KLEN, k}, mv;
        if (!mdb_get(t, dbi, &mk, &mv) && mv.mv_size == VLEN) {
            memcpy(out, mv.mv_data, VLEN);
            f += out[0] != 0;
        }
        mdb_txn_reset(t);
    }
    uint64_t dt = hone_now_ns() - t0;
    mdb_txn_abort(t);
    *found = f;
    return dt;
}

static uint64_t tier_gets(hone__disk *d, const uint32_t *order, size_t n, size_t *found) {
    char k[KLEN];
    hone_buf b;
    hone_buf_init(&b, NULL);
    size_t f = 0;
    uint64_t t0 = hone_now_ns();
    for (size_t i = 0; i < n; i++) {
        key_of(k, order[i]);
        if (!hone__disk_get(d, k, KLEN, &b, NULL) && b.len == VLEN) f += b.data[0] != 0;
    }
    uint64_t dt = hone_now_ns() - t0;
    hone_buf_free(&b);
    *found = f;
    return dt;
}

static void shuffle(uint32_t *a, size_t n, uint64_t x) {
    for (size_t i = n - 1; i > 0; i--) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t j = x % (i + 1);
        uint32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static void get_put(void) {
    g_put_order = malloc(NKEYS * sizeof *g_put_order);
    for (uint32_t i = 0; i < NKEYS; i++) g_put_order[i] = i;
    shuffle(g_put_order, NKEYS, 0x2545f4914f6cdd1du);
    MDB_dbi dbi;
    MDB_env *e = raw_env("raw.lmdb", MDB_NOSYNC | MDB_NORDAHEAD, &dbi);
    hone__disk *d = tier("tier.lmdb", 1);
    uint64_t raw_put = raw_puts(e, dbi), tier_put = tier_puts(d);
    double rp = NKEYS / secs(raw_put), tp = NKEYS / secs(tier_put);
    printf("tiers.disk.put.raw\t%.0f\tputs/s (nosync, %d per txn)\n", rp, GROUP);
    printf("tiers.disk.put.hone\t%.0f\tputs/s (nosync, group_max %d)\n", tp, GROUP);
    printf("tiers.disk.put.ratio\t%.2f\tvs raw LMDB\n", tp / rp);

    /* A random order of all keys, three times over; each side measured
     * three times, alternating, and its best run kept. */
    size_t n = (size_t)NKEYS * 3;
    uint32_t *order = malloc(n * sizeof *order);
    for (size_t i = 0; i < n; i++) order[i] = (uint32_t)(i % NKEYS);
    shuffle(order, n, 0x9e3779b97f4a7c15u);
    uint64_t best_raw = UINT64_MAX, best_tier = UINT64_MAX;
    size_t fr = 0, ft = 0;
    for (int rep = 0; rep < 3; rep++) {
        uint64_t r = raw_gets(e, dbi, order, n, &fr), t = tier_gets(d, order, n, &ft);
        if (r < best_raw) best_raw = r;
        if (t < best_tier) best_tier = t;
    }
    if (fr != n || ft != n)
        fprintf(stderr, "bench tiers: gets found %zu (raw) and %zu (tier) of %zu\n", fr, ft, n);
    double rg = (double)n / secs(best_raw), tg = (double)n / secs(best_tier);
    printf("tiers.disk.get.raw\t%.0f\tgets/s (%.0f ns each)\n", rg, 1e9 / rg);
    printf("tiers.disk.get.hone\t%.0f\tgets/s (%.0f ns each)\n", tg, 1e9 / tg);
    printf("tiers.disk.get.ratio\t%.2f\tvs raw LMDB\n", tg / rg);
    free(order);
    free(g_put_order);
    hone__disk_close(d);
    mdb_env_close(e);
}

/* ------------------------------------------------------------------ */
/* Group commit against one commit per put, under sync                 */
/* ------------------------------------------------------------------ */

typedef struct putter {
    hone__disk *d; /* the tier, or NULL for naive */
    MDB_env *e;
    MDB_dbi dbi;
    int id;
    atomic_int *stop;
    uint64_t done;
} putter;

static int putter_task(void *arg, hone_task *task) {
    (void)task;
    putter *p = arg;
    char k[KLEN], v[VLEN];
    for (uint32_t i = 0; !atomic_load(p->stop); i++) {
        key_of(k, (uint32_t)p->id * 1000000u + i);
        value_of(v, i);
        if (p->d) {
            if (hone__disk_put(p->d, k, KLEN, v, VLEN, 0)) return HONE_EIO;
        } else {
            /* The naive tier: its own transaction, committed and synced
             * by LMDB, per put. */
            MDB_txn *t;
            if (mdb_txn_begin(p->e, NULL, 0, &t)) return HONE_EIO;
            MDB_val mk = {KLEN, k}, mv = {VLEN, v};
            mdb_put(t, p->dbi, &mk, &mv, 0);
            if (mdb_txn_commit(t)) return HONE_EIO;
        }
        p->done++;
    }
    return HONE_OK;
}

/* Runs PUTTERS threads for SYNC_RUN_NS; returns puts per second. */
static double run_putters(hone_pool *pool, hone__disk *d, MDB_env *e, MDB_dbi dbi) {
    atomic_int stop = 0;
    putter p[PUTTERS];
    hone_future *f[PUTTERS];
    uint64_t t0 = hone_now_ns();
    for (int i = 0; i < PUTTERS; i++) {
        p[i] = (putter){d, e, dbi, i, &stop, 0};
        if (hone_pool_submit(pool, putter_task, &p[i], &f[i])) exit(1);
    }
    struct timespec ts = {(time_t)(SYNC_RUN_NS / 1000000000u), (long)(SYNC_RUN_NS % 1000000000u)};
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    uint64_t total = 0;
    for (int i = 0; i < PUTTERS; i++) {
        if (hone_future_wait(f[i])) fprintf(stderr, "bench tiers: a putter failed\n");
        hone_future_free(f[i]);
        total += p[i].done;
    }
    return (double)total / secs(hone_now_ns() - t0);
}

static void group_commit(void) {
    hone_pool *pool;
    hone_pool_opts po = {.workers = PUTTERS};
    hone_error err;
    if (hone_pool_new(&pool, &po, &err)) {
        fprintf(stderr, "bench tiers: %s\n", err.msg);
        exit(1);
    }
    MDB_dbi dbi;
    MDB_env *e = raw_env("naive.lmdb", 0, &dbi);
    double naive = run_putters(pool, NULL, e, dbi);
    mdb_env_close(e);
    hone__disk *d = tier("group.lmdb", 0);
    hone__disk_stats st;
    double group = run_putters(pool, d, NULL, 0);
    hone__disk_stats_get(d, &st);
    hone__disk_close(d);
    hone_pool_free(pool);
    printf("tiers.disk.sync.naive\t%.0f\tputs/s (%d threads, a synced commit per put)\n", naive,
           PUTTERS);
    printf("tiers.disk.sync.group\t%.0f\tputs/s (%d threads, group commit)\n", group, PUTTERS);
    printf("tiers.disk.sync.group_size\t%.1f\tputs per commit\n",
           st.commits ? (double)st.puts / (double)st.commits : 0.0);
    printf("tiers.disk.sync.ratio\t%.1f\tx vs one commit per put\n", group / naive);
}

void bench_tiers_disk(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/hone-bench-disk-XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("bench tiers: mkdtemp");
        return;
    }
    get_put();
    group_commit();
    nftw(g_tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
