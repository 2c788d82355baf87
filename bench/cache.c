/* cache.c - benchmarks of the cache module: hit ratios of hone and of every
 * policy of the simulator, replayed in the same run on eleven reference
 * traces (with libCacheSim's published values reproduced on the first
 * three), throughput under Zipf(0.99) against a mutex-protected LRU and a
 * bare hash lookup, thread scaling, and memory per entry. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hone.h"

/* ------------------------------------------------------------------ */
/* hit ratios                                                          */

/* The policies every row is replayed with besides hone, in the column
 * order of the reference table in ../shared/traces/SOURCES.md. Belady's
 * optimum is the ceiling; the six online ones are what hone is measured
 * against. */
enum { REF_BELADY, REF_LRU, REF_ARC, REF_LIRS, REF_S3FIFO, REF_SIEVE, REF_WTINYLFU, NREF };
static const int ref_policy[NREF] = {
    HONE_CACHE_POLICY_BELADY, HONE_CACHE_POLICY_LRU,   HONE_CACHE_POLICY_ARC,
    HONE_CACHE_POLICY_LIRS,   HONE_CACHE_POLICY_S3FIFO, HONE_CACHE_POLICY_SIEVE,
    HONE_CACHE_POLICY_WTINYLFU};

/* One row: a trace at one cache size (objects). ref holds libCacheSim's
 * values for the row (--ignore-obj-size 1, percent, one decimal; columns
 * as ref_policy), all zero where none was published. Rows of one trace are
 * adjacent: each trace is loaded once for its rows. */
static const struct row {
    const char *trace, *file;
    uint64_t size;
    double ref[NREF];
} rows[] = {
    /* trace, file, size, {Belady, LRU, ARC, LIRS, S3-FIFO, SIEVE, W-TinyLFU} */
    {"oltp", "OLTP.lis.zst", 250, {38.4, 16.5, 21.2, 17.9, 21.7, 11.8, 21.6}},
    {"oltp", "OLTP.lis.zst", 500, {46.4, 23.4, 30.5, 26.5, 32.6, 20.6, 26.8}},
    {"oltp", "OLTP.lis.zst", 1000, {53.6, 32.8, 39.0, 34.6, 40.8, 32.6, 31.9}},
    {"oltp", "OLTP.lis.zst", 2000, {60.4, 42.5, 46.1, 42.5, 47.0, 41.2, 37.6}},
    {"web07", "web07.trace.xz", 500, {59.2, 45.6, 48.3, 46.6, 50.0, 48.5, 45.9}},
    {"web07", "web07.trace.xz", 1000, {63.6, 50.4, 53.0, 52.2, 54.1, 53.2, 50.3}},
    {"web07", "web07.trace.xz", 2000, {68.0, 55.5, 57.9, 57.3, 58.0, 57.9, 54.8}},
    {"web07", "web07.trace.xz", 4000, {71.6, 60.8, 62.6, 61.9, 62.4, 62.4, 59.5}},
    {"orm-busy", "orm-busy.trace.xz", 1000, {84.1, 78.8, 78.5, 73.7, 77.7, 73.9, 56.6}},
    {"orm-busy", "orm-busy.trace.xz", 5000, {91.4, 85.5, 85.7, 85.1, 86.6, 85.5, 82.5}},
    {"orm-busy", "orm-busy.trace.xz", 10000, {94.4, 89.5, 89.7, 89.5, 90.5, 89.8, 90.5}},
    {"orm-busy", "orm-busy.trace.xz", 20000, {96.7, 93.6, 93.6, 93.7, 94.1, 93.9, 94.5}},
    {"2_pools", "2_pools.lirs.zst", 500, {0}},
    {"2_pools", "2_pools.lirs.zst", 1000, {0}},
    {"2_pools", "2_pools.lirs.zst", 2000, {0}},
    {"2_pools", "2_pools.lirs.zst", 4000, {0}},
    {"cpp", "cpp.lirs.zst", 100, {0}},
    {"cpp", "cpp.lirs.zst", 200, {0}},
    {"cpp", "cpp.lirs.zst", 500, {0}},
    {"cpp", "cpp.lirs.zst", 1000, {0}},
    {"cs", "cs.lirs.zst", 100, {0}},
    {"cs", "cs.lirs.zst", 300, {0}},
    {"cs", "cs.lirs.zst", 500, {0}},
    {"cs", "cs.lirs.zst", 1000, {0}},
    {"multi1", "multi1.lirs.zst", 250, {0}},
    {"multi1", "multi1.lirs.zst", 500, {0}},
    {"multi1", "multi1.lirs.zst", 1000, {0}},
    {"multi1", "multi1.lirs.zst", 2000, {0}},
    {"multi3", "multi3.lirs.zst", 500, {0}},
    {"multi3", "multi3.lirs.zst", 1000, {0}},
    {"multi3", "multi3.lirs.zst", 2000, {0}},
    {"multi3", "multi3.lirs.zst", 4000, {0}},
    {"scan", "scan.lirs.zst", 250, {0}},
    {"scan", "scan.lirs.zst", 500, {0}},
    {"scan", "scan.lirs.zst", 1000, {0}},
    {"scan", "scan.lirs.zst", 1500, {0}},
    {"zigzag", "zigzag.lirs.zst", 250, {0}},
    {"zigzag", "zigzag.lirs.zst", 500, {0}},
    {"zigzag", "zigzag.lirs.zst", 1000, {0}},
    {"zigzag", "zigzag.lirs.zst", 1500, {0}},
    {"w106", "w106.trace.xz", 1000, {0}},
    {"w106", "w106.trace.xz", 10000, {0}},
    {"w106", "w106.trace.xz", 50000, {0}},
    {"w106", "w106.trace.xz", 100000, {0}},
};
#define NROWS (sizeof rows / sizeof rows[0])

/* How far a reproduced value may sit from libCacheSim's (which is rounded
 * to 0.1): Belady's optimum is exact, the online policies are faithful
 * reimplementations. */
#define REF_BOUND 0.3
#define REF_BOUND_BELADY 0.1

/* Replays one row through hone and every reference policy. Returns 0, or
 * -1 after printing why the row is skipped. */
static int replay_row(const struct row *rw, const uint64_t *keys, size_t n, double *hone,
                      double r[NREF]) {
    for (int j = -1; j < NREF; j++) {
        int p = j < 0 ? HONE_CACHE_POLICY_HONE : ref_policy[j];
        int st = hone_cache_sim_run(p, rw->size, keys, n, NULL, j < 0 ? hone : &r[j]);
        if (st != HONE_OK) {
            printf("# skipping %s %llu: %s failed (%s)\n", rw->trace,
                   (unsigned long long)rw->size, hone_cache_policy_name(p),
                   hone_status_name(st));
            return -1;
        }
    }
    return 0;
}

/* Every row of every trace: hone's hit ratio, its delta to the best online
 * policy on that row and Belady's lead over it, all from the same run;
 * then libCacheSim's values checked cell by cell, and the means. */
static void hit_ratios(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/../shared/traces", HONE_SOURCE_DIR);
    uint64_t t0 = hone_monotonic_ns();
    double sum_hone = 0, sum_gap = 0, sum[NREF] = {0};
    int done = 0, met = 0, cells = 0, cells_ok = 0;
    for (size_t i = 0, end; i < NROWS; i = end) {
        for (end = i + 1; end < NROWS && !strcmp(rows[end].file, rows[i].file); end++) {}
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, rows[i].file);
        uint64_t *keys = NULL;
        size_t n = 0;
        hone_error err;
        if (hone_cache_trace_load(path, HONE_CACHE_TRACE_AUTO, NULL, &keys, &n, &err)) {
            printf("# skipping %s: %s\n", rows[i].trace, err.msg);
            continue;
        }
        for (size_t k = i; k < end; k++) {
            const struct row *rw = &rows[k];
            const unsigned long long size = (unsigned long long)rw->size;
            double h, r[NREF];
            if (replay_row(rw, keys, n, &h, r)) continue;
            int best = REF_LRU;
            for (int j = REF_LRU; j < NREF; j++)
                if (r[j] > r[best]) best = j;
            printf("cache.hit.%s.%llu\t%.2f\t%% (lru %.2f, arc %.2f, lirs %.2f, s3fifo %.2f, "
                   "sieve %.2f, wtinylfu %.2f, belady %.2f)\n",
                   rw->trace, size, h, r[REF_LRU], r[REF_ARC], r[REF_LIRS], r[REF_S3FIFO],
                   r[REF_SIEVE], r[REF_WTINYLFU], r[REF_BELADY]);
            printf("cache.hit.%s.%llu.delta\t%+.2f\tpoints vs %s %.2f (same run)\n", rw->trace,
                   size, h - r[best], hone_cache_policy_name(ref_policy[best]), r[best]);
            printf("cache.hit.%s.%llu.belady_gap\t%.2f\tpoints: belady %.2f minus hone\n",
                   rw->trace, size, r[REF_BELADY] - h, r[REF_BELADY]);
            if (rw->ref[REF_BELADY] > 0)
                for (int j = 0; j < NREF; j++) {
                    double bound = j == REF_BELADY ? REF_BOUND_BELADY : REF_BOUND;
                    double d = r[j] - rw->ref[j];
                    cells++;
                    /* ref is rounded to 0.1: allow for the binary error. */
                    if (fabs(d) <= bound + 1e-9) cells_ok++;
                    else
                        printf("# ref mismatch: %s %llu %s %.2f vs libCacheSim %.1f (%+.2f, "
                               "bound %.1f)\n",
                               rw->trace, size, hone_cache_policy_name(ref_policy[j]), r[j],
                               rw->ref[j], d, bound);
                }
            sum_hone += h;
            sum_gap += r[REF_BELADY] - h;
            for (int j = 0; j < NREF; j++) sum[j] += r[j];
            met += h >= r[best] - 0.5;
            done++;
            fflush(stdout);
        }
        hone_free(NULL, keys);
    }
    if (cells)
        printf("cache.ref.reproduced\t%d\tof %d columns within %.1f points (Belady %.1f)\n",
               cells_ok, cells, REF_BOUND, REF_BOUND_BELADY);
    if (!done) return;
    char skipped[64] = "";
    if (done < (int)NROWS)
        snprintf(skipped, sizeof skipped, "; %d of %zu rows skipped", (int)NROWS - done, NROWS);
    printf("cache.hit.rows_within_0.5\t%d\tof %d rows (goal: all)%s\n", met, done, skipped);
    printf("cache.hit.mean.hone\t%.2f\t%% over %d rows\n", sum_hone / done, done);
    int best = REF_LRU;
    for (int j = REF_LRU; j < NREF; j++) {
        printf("cache.hit.mean.%s\t%.2f\t%% over %d rows\n", hone_cache_policy_name(ref_policy[j]),
               sum[j] / done, done);
        if (sum[j] > sum[best]) best = j;
    }
    printf("cache.hit.mean.belady\t%.2f\t%% over %d rows\n", sum[REF_BELADY] / done, done);
    printf("cache.hit.mean_gain\t%+.2f\tpoints: hone's mean minus the best single policy's mean "
           "(%s %.2f); goal >= +1\n",
           (sum_hone - sum[best]) / done, hone_cache_policy_name(ref_policy[best]),
           sum[best] / done);
    printf("cache.hit.belady_gap.mean\t%.2f\tpoints: belady's mean minus hone's\n",
           sum_gap / done);
    printf("cache.hit.replay_seconds\t%.1f\ts (loading and replaying every row, %d policies, "
           "one thread)\n",
           (double)(hone_monotonic_ns() - t0) / 1e9, NREF + 1);
    fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* kinds of workload (synthetic, beyond the reference traces)          */

static uint64_t kind_rng;
static uint64_t kind_next(void) {
    kind_rng ^= kind_rng << 13, kind_rng ^= kind_rng >> 7, kind_rng ^= kind_rng << 17;
    return kind_rng;
}

/* Zipf(s) ranks over n keys by inverse-CDF sampling (cdf is scratch). */
static double *kind_cdf;
static int kind_n;
static void kind_zipf(int n, double s) {
    free(kind_cdf);
    kind_cdf = malloc((size_t)n * sizeof *kind_cdf);
    double t = 0;
    for (int i = 0; i < n; i++) t += 1.0 / pow(i + 1, s), kind_cdf[i] = t;
    for (int i = 0; i < n; i++) kind_cdf[i] /= t;
    kind_n = n;
}
static uint64_t kind_draw(void) {
    double u = (double)(kind_next() >> 11) / 9007199254740992.0;
    int lo = 0, hi = kind_n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (kind_cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    return (uint64_t)lo;
}

/* A storage block trace's shape: runs of 4-64 consecutive blocks from the
 * start of an extent picked by Zipf(0.7) over 600 extents of 64 blocks
 * (38,400 reused blocks: the 1000-entry cache holds 2.6 % of them), and one
 * run in four a sequential read of 64 fresh blocks (a backup or a table
 * scan passing through), so most distinct blocks are seen once. */
static uint64_t block_run_left, block_next, block_fresh = 50000000;
static uint64_t kind_block(void) {
    if (block_run_left == 0) {
        if (kind_next() % 4 == 0) {
            block_next = block_fresh;
            block_run_left = 64;
            block_fresh += 64;
        } else {
            block_next = kind_draw() * 64;
            block_run_left = 4 + kind_next() % 61;
        }
    }
    block_run_left--;
    return block_next++;
}

/* Several programs at once, as a small cache sees them: a loop over 700
 * keys, a loop over 1300, a Zipf(0.9) set and a one-time scan, taking turns
 * in bursts of 1-32 accesses (a scheduler's time slices). */
static uint64_t inter_pos[4], inter_left, inter_who, inter_scan = 70000000;
static uint64_t kind_interleaved(void) {
    if (inter_left == 0) {
        inter_who = kind_next() % 4;
        inter_left = 1 + kind_next() % 32;
    }
    inter_left--;
    switch (inter_who) {
    case 0: return 10000000 + inter_pos[0]++ % 700;
    case 1: return 20000000 + inter_pos[1]++ % 1300;
    case 2: return kind_draw();
    default: return inter_scan++;
    }
}

/* Each kind of workload, 400,000 accesses against a 1000-entry cache,
 * replayed by hone and every online policy of the simulator in the same
 * run: the policy must hold up on kinds of workload, not only on the
 * reference traces. The kinds where a frequency policy is weakest
 * are here: loops over 1.1-4x the cache, a block trace with far more
 * distinct blocks than the cache, and interleaved programs. */
static void workload_kinds(void) {
    static const char *const names[] = {
        "zipf0.8",  "zipf0.99", "loop1100", "loop1200",  "loop1500",  "loop3000",
        "loop4000", "loop_zipf", "phases50k", "phases5k", "zipf_scan", "two_pools",
        "block",    "interleaved", "sweep_hot"};
    enum { NK = sizeof names / sizeof names[0] };
    const size_t n = 400000;
    uint64_t *k = malloc(n * sizeof *k);
    if (!k) return;
    enum { NPOL = 7 };
    static const int pol[NPOL] = {HONE_CACHE_POLICY_HONE,   HONE_CACHE_POLICY_LRU,
                                  HONE_CACHE_POLICY_ARC,    HONE_CACHE_POLICY_LIRS,
                                  HONE_CACHE_POLICY_S3FIFO, HONE_CACHE_POLICY_SIEVE,
                                  HONE_CACHE_POLICY_WTINYLFU};
    double sum[NPOL] = {0};
    int within = 0;
    for (int w = 0; w < NK; w++) {
        kind_rng = 88172645463325252ULL;
        size_t j = 0;
        uint64_t scan = 5000000;
        if (w <= 1) kind_zipf(50000, w == 0 ? 0.8 : 0.99);
        if ((w >= 7 && w <= 10) || w == 13 || w == 14) kind_zipf(20000, 0.9);
        if (w == 12) kind_zipf(600, 0.7), block_run_left = 0, block_fresh = 50000000;
        if (w == 13) memset(inter_pos, 0, sizeof inter_pos), inter_left = 0;
        for (size_t i = 0; i < n; i++) {
            switch (w) {
            case 0: case 1: k[i] = kind_draw(); break;
            case 2: k[i] = i % 1100; break;
            case 3: k[i] = i % 1200; break;
            case 4: k[i] = i % 1500; break;
            case 5: k[i] = i % 3000; break;
            case 6: k[i] = i % 4000; break;
            case 7: k[i] = (kind_next() & 1) ? 100000 + (j++ % 800) : kind_draw(); break;
            case 8: k[i] = kind_draw() + ((i / 50000) % 2 ? 1000000 : 0); break;
            case 9: k[i] = kind_draw() + ((i / 5000) % 2 ? 1000000 : 0); break;
            case 10: k[i] = (i / 20000) % 3 == 2 ? scan++ : kind_draw(); break;
            case 11:
                k[i] = kind_next() % 10 < 9 ? kind_next() % 500 : 1000 + kind_next() % 20000;
                break;
            case 12: k[i] = kind_block(); break;
            case 13: k[i] = kind_interleaved(); break;
            default:
                /* Point lookups (Zipf 0.9) with, every 40k accesses, a
                 * sweep over the same 2000-key table (a report job). */
                k[i] = (i % 40000) < 2000 ? 3000000 + i % 40000 : kind_draw();
                break;
            }
        }
        double r[NPOL];
        int best = 1;
        for (int p = 0; p < NPOL; p++) {
            hone_cache_sim_run(pol[p], 1000, k, n, NULL, &r[p]);
            sum[p] += r[p];
            if (p > 0 && r[p] > r[best]) best = p;
        }
        if (r[0] >= r[best] - 0.5) within++;
        printf("cache.kind.%s\t%.2f\t%% (best %s %.2f, delta %+.2f; lru %.2f, arc %.2f, lirs %.2f, "
               "s3fifo %.2f, sieve %.2f, wtinylfu %.2f)\n",
               names[w], r[0], hone_cache_policy_name(pol[best]), r[best], r[0] - r[best], r[1],
               r[2], r[3], r[4], r[5], r[6]);
    }
    int bestm = 1;
    for (int p = 2; p < NPOL; p++)
        if (sum[p] > sum[bestm]) bestm = p;
    printf("cache.kind.mean\t%.2f\t%% (lru %.2f, arc %.2f, lirs %.2f, s3fifo %.2f, sieve %.2f, "
           "wtinylfu %.2f)\n",
           sum[0] / NK, sum[1] / NK, sum[2] / NK, sum[3] / NK, sum[4] / NK, sum[5] / NK,
           sum[6] / NK);
    printf("cache.kind.within_0.5\t%d\tof %d kinds within 0.5 points of the best other policy\n",
           within, (int)NK);
    printf("cache.kind.mean_gain\t%+.2f\tpoints: hone's mean minus the best single policy's (%s "
           "%.2f)\n",
           (sum[0] - sum[bestm]) / NK, hone_cache_policy_name(pol[bestm]), sum[bestm] / NK);
    printf("cache.kind.mean.ratio\t%.3f\tx vs %s\n", sum[0] / sum[bestm],
           hone_cache_policy_name(pol[bestm]));
    free(kind_cdf);
    kind_cdf = NULL;
    free(k);
}

/* ------------------------------------------------------------------ */
/* throughput                                                          */

#define NKEYS 1000000
#define CAP (NKEYS / 10)
#define OPS_PER_THREAD 1000000
#define REPEATS 5

static uint32_t *zipf_seq; /* a shared precomputed Zipf(0.99) key stream */
#define SEQ_LEN (1 << 22)

static void make_zipf(void) {
    /* Zipf ranks over 1M keys from the same sampler as the workload kinds;
     * the rank order is scrambled so hot keys do not share hash buckets by
     * construction. */
    kind_zipf(NKEYS, 0.99);
    kind_rng = 88172645463325252ULL;
    zipf_seq = malloc(SEQ_LEN * sizeof *zipf_seq);
    for (int i = 0; i < SEQ_LEN; i++)
        zipf_seq[i] = (uint32_t)((kind_draw() * 2654435761u) % NKEYS);
    free(kind_cdf);
    kind_cdf = NULL;
}

/* The baseline: a hash table plus a doubly-linked LRU list behind one
 * mutex, with copy-out gets, as a careful user would write it. */
typedef struct lnode {
    uint64_t key;
    char val[16];
    struct lnode *prev, *next, *hnext;
} lnode;

typedef struct mlru {
    pthread_mutex_t mu;
    lnode **buckets;
    size_t mask, n, cap;
    lnode head; /* sentinel: head.next is MRU */
} mlru;

static uint64_t mix(uint64_t x) {
    x ^= x >> 33, x *= 0xff51afd7ed558ccdULL, x ^= x >> 33;
    return x;
}

static void mlru_init(mlru *l, size_t cap) {
    pthread_mutex_init(&l->mu, NULL);
    size_t b = 1;
    while (b < cap * 2) b <<= 1;
    l->buckets = calloc(b, sizeof *l->buckets);
    l->mask = b - 1;
    l->n = 0;
    l->cap = cap;
    l->head.next = l->head.prev = &l->head;
}

static void unlink_n(lnode *n) { n->prev->next = n->next, n->next->prev = n->prev; }
static void push_front(mlru *l, lnode *n) {
    n->next = l->head.next, n->prev = &l->head;
    l->head.next->prev = n, l->head.next = n;
}

static int mlru_get(mlru *l, uint64_t key, char *out) {
    pthread_mutex_lock(&l->mu);
    lnode *n = l->buckets[mix(key) & l->mask];
    while (n && n->key != key) n = n->hnext;
    if (n) {
        unlink_n(n);
        push_front(l, n);
        memcpy(out, n->val, 16);
    }
    pthread_mutex_unlock(&l->mu);
    return n != NULL;
}

static void mlru_put(mlru *l, uint64_t key, const char *val) {
    pthread_mutex_lock(&l->mu);
    lnode **b = &l->buckets[mix(key) & l->mask], *n = *b;
    while (n && n->key != key) n = n->hnext;
    if (n) {
        memcpy(n->val, val, 16);
        unlink_n(n);
        push_front(l, n);
        pthread_mutex_unlock(&l->mu);
        return;
    }
    if (l->n == l->cap) {
        lnode *v = l->head.prev;
        unlink_n(v);
        lnode **p = &l->buckets[mix(v->key) & l->mask];
        while (*p != v) p = &(*p)->hnext;
        *p = v->hnext;
        free(v);
        l->n--;
    }
    n = malloc(sizeof *n);
    n->key = key;
    memcpy(n->val, val, 16);
    n->hnext = *b;
    *b = n;
    push_front(l, n);
    l->n++;
    pthread_mutex_unlock(&l->mu);
}

static void mlru_free(mlru *l) {
    for (lnode *n = l->head.next; n != &l->head;) {
        lnode *next = n->next;
        free(n);
        n = next;
    }
    free(l->buckets);
    pthread_mutex_destroy(&l->mu);
}

/* A bare hash table lookup of the same keys: no policy, no lock. */
typedef struct bare {
    uint64_t *keys;
    char (*vals)[16];
    size_t mask;
} bare;

static int bare_get(const bare *b, uint64_t key, char *out) {
    for (size_t i = mix(key) & b->mask;; i = (i + 1) & b->mask) {
        if (b->keys[i] == key + 1) {
            memcpy(out, b->vals[i], 16);
            return 1;
        }
        if (!b->keys[i]) return 0;
    }
}

enum { IMPL_HONE, IMPL_MLRU, IMPL_BARE };

typedef struct job {
    int impl, writes_pct, tid;
    hone_cache *c;
    mlru *l;
    const bare *b;
    pthread_barrier_t *bar;
    uint64_t hits, ops;
    double secs;
} job;

static void *worker(void *p) {
    job *j = p;
    char val[16] = "0123456789abcde", out[16];
    size_t pos = (size_t)j->tid * 7919 * 13;
    uint64_t hits = 0;
    pthread_barrier_wait(j->bar);
    uint64_t t0 = hone_monotonic_ns();
    for (int i = 0; i < OPS_PER_THREAD; i++) {
        uint64_t key = zipf_seq[(pos + (size_t)i) & (SEQ_LEN - 1)];
        int write = j->writes_pct && (i % 100) < j->writes_pct;
        switch (j->impl) {
        case IMPL_HONE:
            if (write) hone_cache_put(j->c, &key, 8, val, 16);
            else {
                size_t n;
                hits += hone_cache_get(j->c, &key, 8, out, 16, &n) == HONE_OK;
            }
            break;
        case IMPL_MLRU:
            if (write) mlru_put(j->l, key, val);
            else hits += (uint64_t)mlru_get(j->l, key, out);
            break;
        default: hits += (uint64_t)bare_get(j->b, key, out); break;
        }
    }
    j->secs = (double)(hone_monotonic_ns() - t0) / 1e9;
    j->hits = hits;
    j->ops = OPS_PER_THREAD;
    return NULL;
}

/* Runs `threads` workers; returns million operations per second. */
static double run_once(int impl, int threads, int writes_pct, hone_cache *c, mlru *l,
                       const bare *b) {
    pthread_t th[8];
    job jobs[8];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job){impl, writes_pct, t, c, l, b, &bar, 0, 0, 0};
        pthread_create(&th[t], NULL, worker, &jobs[t]);
    }
    double ops = 0, secs = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        ops += (double)jobs[t].ops;
        if (jobs[t].secs > secs) secs = jobs[t].secs;
    }
    pthread_barrier_destroy(&bar);
    return ops / secs / 1e6;
}

/* The best of REPEATS runs: the machine is shared, and interference only
 * ever makes a run slower. */
static double run(int impl, int threads, int writes_pct, hone_cache *c, mlru *l, const bare *b) {
    double best = 0;
    for (int r = 0; r < REPEATS; r++) {
        double m = run_once(impl, threads, writes_pct, c, l, b);
        if (m > best) best = m;
    }
    return best;
}

static void warm(hone_cache *c, mlru *l) {
    char val[16] = "0123456789abcde";
    for (int i = 0; i < SEQ_LEN / 2; i++) {
        uint64_t key = zipf_seq[i];
        size_t n;
        char out[16];
        if (hone_cache_get(c, &key, 8, out, 16, &n) != HONE_OK) hone_cache_put(c, &key, 8, val, 16);
        if (!mlru_get(l, key, out)) mlru_put(l, key, val);
    }
}

/* ------------------------------------------------------------------ */
/* Caffeine: a real peer on the same key stream                        */

/* Caffeine (W-TinyLFU, the JVM's best-known concurrent cache) replays the
 * throughput section's exact key stream: bench/cache writes zipf_seq to a
 * file, compiles bench/caffeine/CaffeineBench.java into a temporary
 * directory and runs it with `java`, which warms the cache as warm() warms
 * hone, runs the same per-thread slices of the stream after JIT warm-up,
 * and prints its best of REPEATS runs per configuration. The Java side's
 * header comment gives the protocol. Missing tools skip the comparison with
 * one line saying what is missing; the bench still succeeds. */
#define CAFFEINE_JAR "/usr/share/java/caffeine.jar"
#define CAFFEINE_SRC HONE_SOURCE_DIR "/bench/caffeine/CaffeineBench.java"
#define THREAD_STRIDE (7919 * 13) /* worker(): thread t starts at t * stride */

typedef struct caffeine_res {
    double get[3], mixed[3]; /* Mops/s at [1] and [2] threads */
    double hit_rate;         /* %, gets after warming */
} caffeine_res;

/* Writes the stream as little-endian uint32 keys. Returns 0, or -1 with
 * errno set. */
static int caffeine_write_keys(const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    enum { CHUNK = 4096 };
    unsigned char buf[CHUNK * 4];
    for (size_t i = 0; i < SEQ_LEN; i += CHUNK) {
        for (size_t j = 0; j < CHUNK; j++) {
            uint32_t k = zipf_seq[i + j];
            buf[4 * j] = (unsigned char)k, buf[4 * j + 1] = (unsigned char)(k >> 8);
            buf[4 * j + 2] = (unsigned char)(k >> 16), buf[4 * j + 3] = (unsigned char)(k >> 24);
        }
        if (fwrite(buf, 1, sizeof buf, f) != sizeof buf) {
            int e = errno;
            fclose(f);
            errno = e;
            return -1;
        }
    }
    return fclose(f) ? -1 : 0;
}

/* Runs argv[0] (resolved already) with stdout to out_fd and stderr to ours.
 * Returns 0 when it ran and exited 0; otherwise prints why and returns -1. */
static int caffeine_exec(const char *path, char *const argv[], int out_fd) {
    hone_bench_exec_opts o = {0};
    o.use_fds = HONE_BENCH_USE_STDOUT | HONE_BENCH_USE_STDERR;
    o.stdin_fd = -1;
    o.stdout_fd = out_fd;
    o.stderr_fd = STDERR_FILENO;
    hone_bench_run r;
    int rc = hone_bench_exec(path, argv, &o, &r);
    if (rc) {
        printf("# skipping Caffeine: cannot start %s: %s\n", path, hone_strerror(rc));
        return -1;
    }
    if (r.signal) {
        printf("# skipping Caffeine: %s was killed by signal %d\n", path, r.signal);
        return -1;
    }
    if (r.exit_code) {
        printf("# skipping Caffeine: %s exited with status %d (its messages are on stderr)\n",
               path, r.exit_code);
        return -1;
    }
    return 0;
}

/* Removes the temporary directory and what javac and we put in it. */
static void caffeine_rmdir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[PATH_MAX];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Parses the Java side's result lines. Returns 0 when all four throughput
 * figures are there, -1 otherwise. */
static int caffeine_parse(FILE *f, caffeine_res *res) {
    char line[256], what[16];
    int t, have = 0;
    double v;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "hit_rate %lf", &v) == 1) res->hit_rate = v;
        else if (sscanf(line, "%15s %d %lf", what, &t, &v) == 3 && (t == 1 || t == 2) && v > 0) {
            if (!strcmp(what, "get")) res->get[t] = v, have |= 1 << t;
            else if (!strcmp(what, "mixed")) res->mixed[t] = v, have |= 4 << t;
        }
    }
    return have == (2 | 4 | 8 | 16) ? 0 : -1;
}

/* Measures Caffeine on zipf_seq. Returns 0 and fills *res, or -1 after
 * printing one line saying why the comparison is skipped. */
static int caffeine_run(caffeine_res *res) {
    char *java = NULL, *javac = NULL;
    hone_error err;
    if (hone_bench_which("javac", NULL, &javac, NULL, &err)) {
        printf("# skipping Caffeine: no javac (%s); install openjdk-17-jdk-headless\n", err.msg);
        return -1;
    }
    if (hone_bench_which("java", NULL, &java, NULL, &err)) {
        printf("# skipping Caffeine: no java (%s); install openjdk-17-jdk-headless\n", err.msg);
        hone_free(NULL, javac);
        return -1;
    }
    int rc = -1;
    char dir[PATH_MAX] = "", keys[PATH_MAX], out[PATH_MAX], cp[2 * PATH_MAX];
    FILE *f = NULL;
    if (access(CAFFEINE_JAR, R_OK)) {
        printf("# skipping Caffeine: no %s (%s); install libcaffeine-java\n", CAFFEINE_JAR,
               strerror(errno));
        goto done;
    }
    if (access(CAFFEINE_SRC, R_OK)) {
        printf("# skipping Caffeine: cannot read %s: %s\n", CAFFEINE_SRC, strerror(errno));
        goto done;
    }
    const char *tmp = getenv("TMPDIR");
    if (snprintf(dir, sizeof dir, "%s/hone-caffeine-XXXXXX", tmp && *tmp ? tmp : "/tmp") >=
            (int)sizeof dir
            ? (errno = ENAMETOOLONG)
            : !mkdtemp(dir)) {
        printf("# skipping Caffeine: cannot make a directory like %s: %s\n", dir, strerror(errno));
        dir[0] = 0;
        goto done;
    }
    if (snprintf(keys, sizeof keys, "%s/keys.u32le", dir) >= (int)sizeof keys ||
        snprintf(out, sizeof out, "%s/results.txt", dir) >= (int)sizeof out ||
        snprintf(cp, sizeof cp, "%s:%s", dir, CAFFEINE_JAR) >= (int)sizeof cp) {
        printf("# skipping Caffeine: the directory name %s is too long\n", dir);
        goto done;
    }
    if (caffeine_write_keys(keys)) {
        printf("# skipping Caffeine: cannot write %s: %s\n", keys, strerror(errno));
        goto done;
    }
    /* javac's own output goes to stderr: stdout carries only results. */
    char *jc_argv[] = {javac, "-nowarn", "-d", dir, "-cp", CAFFEINE_JAR, CAFFEINE_SRC, NULL};
    fflush(stdout);
    if (caffeine_exec(javac, jc_argv, STDERR_FILENO)) goto done;
    f = fopen(out, "w+");
    if (!f) {
        printf("# skipping Caffeine: cannot create %s: %s\n", out, strerror(errno));
        goto done;
    }
    char cap[24], ops[24], reps[24], stride[24];
    snprintf(cap, sizeof cap, "%d", CAP);
    snprintf(ops, sizeof ops, "%d", OPS_PER_THREAD);
    snprintf(reps, sizeof reps, "%d", REPEATS);
    snprintf(stride, sizeof stride, "%d", THREAD_STRIDE);
    /* A fixed heap keeps G1 from resizing during timed runs; the stream's
     * 4M references, 1M boxed keys and 100k entries need well under 1 GiB. */
    char *j_argv[] = {java, "-Xms1g", "-Xmx1g", "-cp", cp, "CaffeineBench",
                      keys, cap, ops, reps, stride, NULL};
    if (caffeine_exec(java, j_argv, fileno(f))) goto done;
    rewind(f);
    if (caffeine_parse(f, res)) {
        printf("# skipping Caffeine: %s printed no complete results\n", java);
        goto done;
    }
    rc = 0;
done:
    if (f) fclose(f);
    if (dir[0]) caffeine_rmdir(dir);
    hone_free(NULL, java);
    hone_free(NULL, javac);
    return rc;
}

static void throughput(void) {
    make_zipf();
    hone_cache_options o = {0};
    o.max_entries = CAP;
    hone_cache *c;
    if (hone_cache_new(&c, &o)) return;
    mlru l;
    mlru_init(&l, CAP);
    warm(c, &l);
    /* The bare table holds the same keys hone holds after warming. */
    bare b;
    size_t bs = 1;
    while (bs < CAP * 2) bs <<= 1;
    b.keys = calloc(bs, sizeof *b.keys);
    b.vals = calloc(bs, sizeof *b.vals);
    b.mask = bs - 1;
    for (uint64_t k = 0; k < NKEYS; k++) {
        if (!hone_cache_contains(c, &k, 8)) continue;
        size_t i = mix(k) & b.mask;
        while (b.keys[i]) i = (i + 1) & b.mask;
        b.keys[i] = k + 1;
    }
    double h1 = run(IMPL_HONE, 1, 0, c, &l, &b);
    double h2 = run(IMPL_HONE, 2, 0, c, &l, &b);
    double m1 = run(IMPL_MLRU, 1, 0, c, &l, &b);
    double m2 = run(IMPL_MLRU, 2, 0, c, &l, &b);
    double b1 = run(IMPL_BARE, 1, 0, c, &l, &b);
    double hw1 = run(IMPL_HONE, 1, 10, c, &l, &b);
    double hw2 = run(IMPL_HONE, 2, 10, c, &l, &b);
    double mw2 = run(IMPL_MLRU, 2, 10, c, &l, &b);
    printf("cache.get_mops.1t\t%.2f\tMops/s (100%% reads, Zipf 0.99, 1M keys, 100k entries)\n", h1);
    printf("cache.get_mops.2t\t%.2f\tMops/s\n", h2);
    printf("cache.mixed_mops.1t\t%.2f\tMops/s (90%% reads, 10%% writes)\n", hw1);
    printf("cache.mixed_mops.2t\t%.2f\tMops/s\n", hw2);
    printf("cache.mutex_lru.get_mops.1t\t%.2f\tMops/s\n", m1);
    printf("cache.mutex_lru.get_mops.2t\t%.2f\tMops/s\n", m2);
    printf("cache.mutex_lru.mixed_mops.2t\t%.2f\tMops/s\n", mw2);
    printf("cache.bare_lookup.get_mops.1t\t%.2f\tMops/s\n", b1);
    printf("cache.get_1t.ratio\t%.2f\tx vs mutex LRU at 1 thread (goal >= 1.0)\n", h1 / m1);
    printf("cache.get.ratio\t%.2f\tx vs mutex LRU at 2 threads (goal >= 3)\n", h2 / m2);
    printf("cache.mixed.ratio\t%.2f\tx vs mutex LRU at 2 threads, 90/10 (goal >= 1.5)\n", hw2 / mw2);
    printf("cache.scaling.ratio\t%.2f\tx 2 threads vs 1 (goal >= 1.8)\n", h2 / h1);
    printf("cache.policy_cost.ratio\t%.2f\tx bare hash lookup time per get, 1 thread\n", b1 / h1);
    hone_cache_stats st;
    hone_cache_stats_get(c, &st);
    printf("cache.zipf.hit_rate\t%.2f\t%%\n", st.hit_rate * 100);
    hone_cache_free(c);
    mlru_free(&l);
    free(b.keys);
    free(b.vals);
    fflush(stdout);
    caffeine_res cr = {0};
    if (!caffeine_run(&cr)) {
        const double hone[2][3] = {{0, h1, h2}, {0, hw1, hw2}};
        const double *caf[2] = {cr.get, cr.mixed};
        static const char *const mode[2] = {"get", "mixed"};
        double low = HUGE_VAL;
        printf("cache.caffeine.get_mops.1t\t%.2f\tMops/s (Caffeine 2.6.2, same key stream)\n",
               cr.get[1]);
        printf("cache.caffeine.get_mops.2t\t%.2f\tMops/s\n", cr.get[2]);
        printf("cache.caffeine.mixed_mops.1t\t%.2f\tMops/s (90%% reads, 10%% writes)\n",
               cr.mixed[1]);
        printf("cache.caffeine.mixed_mops.2t\t%.2f\tMops/s\n", cr.mixed[2]);
        for (int m = 0; m < 2; m++)
            for (int t = 1; t <= 2; t++) {
                double r = hone[m][t] / caf[m][t];
                printf("cache.caffeine.%s.%dt.ratio\t%.2f\tx hone vs Caffeine\n", mode[m], t, r);
                if (r < low) low = r;
            }
        printf("cache.caffeine.zipf.hit_rate\t%.2f\t%% (gets after warming)\n", cr.hit_rate);
        printf("cache.get.caffeine.ratio\t%.2f\tx vs Caffeine (lowest of hone/Caffeine over get "
               "1t, get 2t, mixed 1t, mixed 2t; goal >= 1.5)\n",
               low);
    }
    free(zipf_seq);
}

/* ------------------------------------------------------------------ */
/* the machine's ceiling                                               */

/* Independent random 8-byte reads over 64 MiB (beyond the caches) at 1 and
 * 2 threads: how far any memory-bound code can scale on this machine. A
 * cache whose structures do not fit in the CPU caches cannot scale better
 * than this, so it puts cache.scaling.ratio in context. */
#define MEMREF_WORDS (1u << 23)
#define MEMREF_READS 20000000

typedef struct memref_job {
    const uint64_t *a;
    uint64_t seed, sum;
    pthread_barrier_t *bar;
    double secs;
} memref_job;

static void *memref_worker(void *p) {
    memref_job *j = p;
    uint64_t x = j->seed, s = 0;
    pthread_barrier_wait(j->bar);
    uint64_t t0 = hone_monotonic_ns();
    for (int i = 0; i < MEMREF_READS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        s += j->a[x & (MEMREF_WORDS - 1)];
    }
    j->secs = (double)(hone_monotonic_ns() - t0) / 1e9;
    j->sum = s;
    return NULL;
}

static double memref_run(const uint64_t *a, int threads) {
    pthread_t th[2];
    memref_job jobs[2];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)threads);
    double best = 0;
    for (int r = 0; r < 3; r++) {
        for (int t = 0; t < threads; t++) {
            jobs[t] = (memref_job){a, (uint64_t)t * 0x9e3779b97f4a7c15ULL + 1, 0, &bar, 0};
            pthread_create(&th[t], NULL, memref_worker, &jobs[t]);
        }
        double secs = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(th[t], NULL);
            if (jobs[t].secs > secs) secs = jobs[t].secs;
        }
        double m = (double)MEMREF_READS * threads / secs / 1e6;
        if (m > best) best = m;
    }
    pthread_barrier_destroy(&bar);
    return best;
}

static void machine_ceiling(void) {
    uint64_t *a = malloc(MEMREF_WORDS * sizeof *a);
    if (!a) return;
    for (uint64_t i = 0; i < MEMREF_WORDS; i++) a[i] = i;
    double m1 = memref_run(a, 1), m2 = memref_run(a, 2);
    printf("cache.machine.mem_reads_mops.1t\t%.1f\tMops/s (random 8-byte reads over 64 MiB)\n", m1);
    printf("cache.machine.mem_scaling.ratio\t%.2f\tx 2 threads vs 1 (ceiling for memory-bound "
           "code on this machine)\n",
           m2 / m1);
    free(a);
}

/* ------------------------------------------------------------------ */
/* memory                                                              */

static void memory(void) {
    hone_cache_options o = {0};
    o.max_entries = CAP;
    hone_cache *c;
    if (hone_cache_new(&c, &o)) return;
    char val[16] = "0123456789abcde";
    for (uint64_t k = 0; k < CAP; k++) hone_cache_put(c, &k, 8, val, 16);
    hone_cache_stats st;
    hone_cache_stats_get(c, &st);
    uint64_t full = hone_cache_memory_size(c);
    /* Everything the cache holds, sketch and fixed structures included,
     * divided by the entries, less the key and value bytes. */
    double per = (double)full / (double)st.entries - (8 + 16);
    printf("cache.bytes_per_entry\t%.1f\tbytes beyond key and value (goal <= 64; %llu entries)\n",
           per, (unsigned long long)st.entries);
    hone_cache_free(c);
}

/* `cache` runs every section; `cache SECTION...` only those named (hits,
 * kinds, throughput, ceiling, memory), so that one part can be measured
 * again without the whole minute of the rest. */
int main(int argc, char **argv) {
    static const struct {
        const char *name;
        void (*run)(void);
    } sections[] = {{"hits", hit_ratios},        {"kinds", workload_kinds},
                    {"throughput", throughput},  {"ceiling", machine_ceiling},
                    {"memory", memory}};
    enum { NSEC = sizeof sections / sizeof sections[0] };
    int want[NSEC] = {0};
    for (int i = 1; i < argc; i++) {
        int k = 0;
        while (k < NSEC && strcmp(argv[i], sections[k].name)) k++;
        if (k == NSEC) {
            fprintf(stderr, "cache: unknown section '%s' (expected hits, kinds, throughput, "
                            "ceiling or memory)\n", argv[i]);
            return 2;
        }
        want[k] = 1;
    }
    for (int k = 0; k < NSEC; k++)
        if (argc == 1 || want[k]) sections[k].run();
    return 0;
}
