/* opt_demo.c - the `optimize` step of `hone demo`: one real workload (a
 * batcher feeding a pool that serves requests through a cache, computing
 * a value on each miss) run at each level, set through the optimizer's api
 * layer, with what each level chose and what it measured; then the
 * recommendations for the slowest run, from a monitor that watched it. */
#include "cli.h"

#include "hone/opt.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REQUESTS 24000
#define KEYS 6000
#define VALUE 4096 /* bytes of a value: 6000 keys need about 25 MiB */
#define HASH_ROUNDS 3

typedef struct request {
    unsigned key;
    uint8_t digest[8];
} request;

typedef struct workload {
    hone_cache *cache;
    hone_pool *pool;
    uint64_t threshold; /* exec.parallel_threshold: below it, the batch runs serially */
    int parallel;       /* exec.parallel */
    atomic_uint_fast64_t served, computed, bad;
} workload;

/* The expensive call a miss pays: a value made from the key and hashed. */
static void compute(unsigned key, uint8_t *val) {
    for (size_t i = 0; i < VALUE; i += 8) {
        uint64_t x = (uint64_t)key * 0x9E3779B97F4A7C15ull + i;
        x ^= x >> 29;
        memcpy(val + i, &x, 8);
    }
    uint8_t d[32];
    for (int r = 0; r < HASH_ROUNDS; r++) {
        hone_hash_oneshot(HONE_HASH_SHA256, val, VALUE, d, sizeof d);
        memcpy(val, d, sizeof d);
    }
}

static int serve_range(void *ctx, size_t lo, size_t hi) {
    void **items = ((void **)((void **)ctx)[1]);
    workload *w = ((void **)ctx)[0];
    uint8_t val[VALUE];
    char key[16];
    for (size_t i = lo; i < hi; i++) {
        request *rq = items[i];
        int kl = snprintf(key, sizeof key, "k%u", rq->key);
        size_t n = 0;
        if (hone_cache_get(w->cache, key, (size_t)kl, val, sizeof val, &n) != HONE_OK ||
            n != VALUE) {
            compute(rq->key, val);
            atomic_fetch_add(&w->computed, 1);
            if (hone_cache_put(w->cache, key, (size_t)kl, val, VALUE)) atomic_fetch_add(&w->bad, 1);
        } else if (rq->key % 97 == 0) {
            /* Now and then, check that a hit is the value a miss computes. */
            uint8_t want[VALUE];
            compute(rq->key, want);
            if (memcmp(want, val, VALUE)) atomic_fetch_add(&w->bad, 1);
        }
        memcpy(rq->digest, val, sizeof rq->digest);
        atomic_fetch_add(&w->served, 1);
    }
    return HONE_OK;
}

static void on_batch(void *ctx, void **items, size_t n) {
    workload *w = ctx;
    void *pair[2] = {w, items};
    if (w->parallel && n >= w->threshold)
        hone_parallel_for(w->pool, 0, n, 1, serve_range, pair);
    else
        serve_range(pair, 0, n);
}

typedef struct level_run {
    const char *level;
    hone_setting_state workers, threshold, batch, wait, size, ttl;
    unsigned pool_workers;
    uint64_t cache_max_bytes;
    double seconds, per_sec, hit_rate, mean_batch, p99_ms;
    hone_opt_report *report;
} level_run;

static void show(const char *label, const hone_setting_state *st, const char *extra) {
    /* "where" already names the layer for bundles ("level basic"); the
     * other layers get their origin's name in front. */
    int bundle = st->origin == HONE_ORIGIN_LEVEL || st->origin == HONE_ORIGIN_STRATEGY ||
                 st->origin == HONE_ORIGIN_PRESET;
    printf("    %-24s %-8s [%s%s%s]%s\n", label, st->value.text,
           bundle ? "" : hone_origin_name(st->origin), bundle ? "" : ": ", st->where, extra);
}

/* Runs the workload at the level now in effect; fills lr. */
static int run_level(level_run *lr, const char *dir, const request *reqs0) {
    hone_error err = {0};
    hone_setting_get(HONE_SET_MAX_WORKERS, NULL, &lr->workers, NULL);
    hone_setting_get(HONE_SET_PARALLEL_THRESHOLD, "demo", &lr->threshold, NULL);
    hone_setting_get(HONE_SET_BATCH_SIZE, "demo", &lr->batch, NULL);
    hone_setting_get(HONE_SET_BATCH_MAX_WAIT, NULL, &lr->wait, NULL);
    hone_setting_get(HONE_SET_CACHE_SIZE, "demo", &lr->size, NULL);
    hone_setting_get(HONE_SET_CACHE_TTL, "demo", &lr->ttl, NULL);
    workload w = {.threshold = lr->threshold.value.u ? lr->threshold.value.u : 1,
                  .parallel = (int)hone_setting_u64(HONE_SET_PARALLEL, NULL)};
    request *reqs = malloc(sizeof *reqs * REQUESTS);
    hone_batcher *b = NULL;
    hone_opt_monitor *mon = NULL;
    int fail = 1;
    if (!reqs) {
        fprintf(stderr, "optimize demo: out of memory\n");
        return 1;
    }
    memcpy(reqs, reqs0, sizeof *reqs * REQUESTS);
    /* Zero options: each module takes its defaults from the settings. The
     * cache stays in memory, its directory a scratch one all the same. */
    hone_pool_opts po = {0};
    hone_tier_options to = {.strategy = HONE_CACHE_MEMORY, .dir = dir};
    hone_batcher_opts bo = {0};
    if (hone_pool_new(&w.pool, &po, &err) || hone_cache_open(&w.cache, NULL, &to, &err) ||
        hone_batcher_new(&b, on_batch, &w, &bo, &err)) {
        fprintf(stderr, "optimize demo: %s\n", err.msg);
        goto out;
    }
    lr->pool_workers = hone_pool_workers(w.pool);
    hone_cache_stats cs;
    hone_cache_stats_get(w.cache, &cs);
    lr->cache_max_bytes = cs.max_bytes;
    hone_opt_monitor_opts mo = {.process = 1};
    int mrc = hone_opt_monitor_new(&mon, &mo);
    if (!mrc) mrc = hone_opt_watch_cache(mon, "demo", w.cache);
    if (!mrc)
        mrc = hone_opt_watch_batcher(mon, "demo-batcher", b, (size_t)lr->batch.value.u, lr->wait.value.u);
    if (!mrc) mrc = hone_opt_monitor_begin(mon, &err);
    if (mrc) {
        fprintf(stderr, "optimize demo: monitor: %s\n", err.msg[0] ? err.msg : hone_strerror(mrc));
        goto out;
    }
    uint64_t t0 = hone_monotonic_ns();
    for (size_t i = 0; i < REQUESTS; i++) {
        if (hone_batcher_add(b, &reqs[i], HONE_BATCH_BLOCK)) {
            fprintf(stderr, "optimize demo: the batcher refused request %zu\n", i);
            goto out;
        }
        if (i % 4096 == 0) hone_opt_monitor_sample(mon, &err);
    }
    hone_batcher_close(b);
    uint64_t t1 = hone_monotonic_ns();
    if (hone_opt_monitor_report(mon, &lr->report, &err)) {
        fprintf(stderr, "optimize demo: report: %s\n", err.msg);
        goto out;
    }
    hone_batcher_stats bs;
    hone_batcher_stats_get(b, &bs);
    hone_cache_stats_get(w.cache, &cs);
    lr->seconds = (double)(t1 - t0) / 1e9;
    lr->per_sec = REQUESTS / lr->seconds;
    lr->hit_rate = cs.hit_rate * 100;
    lr->mean_batch = bs.mean_batch;
    lr->p99_ms = bs.latency_p99_ns / 1e6;
    hone_cycle *cy = cli_demo_cycle();
    for (uint64_t i = 0; i < cs.hits; i++) hone_cycle_hit(cy);
    for (uint64_t i = 0; i < cs.misses; i++) hone_cycle_miss(cy);
    uint64_t served = atomic_load(&w.served), bad = atomic_load(&w.bad);
    if (served != REQUESTS || bad) {
        fprintf(stderr, "optimize demo: level %s served %llu of %d requests, %llu wrong\n",
                lr->level, (unsigned long long)served, REQUESTS, (unsigned long long)bad);
        goto out;
    }
    fail = 0;
out:
    if (mon) hone_opt_monitor_free(mon);
    hone_batcher_free(b);
    hone_cache_free(w.cache);
    hone_pool_free(w.pool);
    free(reqs);
    return fail;
}

int cli_demo_optimize(void) {
    static const char *const levels[] = {"basic", "moderate", "aggressive"};
    level_run runs[3];
    memset(runs, 0, sizeof runs);
    const char *td = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/hone-demo-opt-XXXXXX", td && *td == '/' ? td : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "cannot create a scratch directory: %s\n", strerror(errno));
        return 1;
    }
    /* The requests: skewed over KEYS keys (a few hot, a long tail), the
     * same at every level. */
    request *reqs = malloc(sizeof *reqs * REQUESTS);
    if (!reqs) {
        rmdir(dir);
        return 1;
    }
    uint64_t s = 0x2545F4914F6CDD1Dull;
    for (size_t i = 0; i < REQUESTS; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        double u = (double)(s >> 11) / 9007199254740992.0;
        reqs[i].key = (unsigned)(KEYS * u * u);
    }
    /* The api layer is restored afterwards: a level a caller set stays. */
    hone_setting_state prior;
    hone_setting_get(HONE_SET_LEVEL, NULL, &prior, NULL);
    int fail = 0;
    hone_error err = {0};
    printf("%d requests over %d keys (skewed), a %d-byte value computed on each miss (%d "
           "SHA-256 rounds), through batcher -> pool -> memory cache; options left at 0, so each "
           "module takes its settings:\n",
           REQUESTS, KEYS, VALUE, HASH_ROUNDS);
    for (int i = 0; i < 3 && !fail; i++) {
        level_run *lr = &runs[i];
        lr->level = levels[i];
        if (hone_opt_set("level", NULL, levels[i], "hone demo", &err)) {
            fprintf(stderr, "optimize demo: %s\n", err.msg);
            fail = 1;
            break;
        }
        if (run_level(lr, dir, reqs)) {
            fail = 1;
            break;
        }
        char extra[96];
        printf("  level %s:\n", levels[i]);
        snprintf(extra, sizeof extra, " (pool made %u workers)", lr->pool_workers);
        show("exec.max_workers", &lr->workers, extra);
        show("exec.parallel_threshold", &lr->threshold, "");
        show("batch.size", &lr->batch, "");
        show("batch.max_wait", &lr->wait, "");
        snprintf(extra, sizeof extra, " (cache holds up to %llu bytes)",
                 (unsigned long long)lr->cache_max_bytes);
        show("cache.size", &lr->size, extra);
        show("cache.ttl", &lr->ttl, "");
        printf("    measured: %.0f ms, %.0f requests/s, hit rate %.1f %%, mean batch %.1f, batch "
               "wait p99 %.2f ms\n",
               lr->seconds * 1e3, lr->per_sec, lr->hit_rate, lr->mean_batch, lr->p99_ms);
    }
    int slow = 0;
    for (int i = 1; i < 3; i++)
        if (runs[i].seconds > runs[slow].seconds) slow = i;
    /* The rules read the settings in force (their actions start from the
     * current value): the slowest run's level, until they have run. */
    if (!fail) hone_opt_set("level", NULL, levels[slow], "hone demo", NULL);
    if (!fail) {
        printf("  difference (one run each, this machine):");
        for (int i = 0; i < 3; i++)
            printf("%s %s %.2fx basic's throughput", i ? "," : "", runs[i].level,
                   runs[i].per_sec / runs[0].per_sec);
        printf("; hit rate %.1f / %.1f / %.1f %%\n", runs[0].hit_rate, runs[1].hit_rate,
               runs[2].hit_rate);
        hone_opt_finding *f = NULL;
        size_t n = 0;
        hone_buf b;
        hone_buf_init(&b, NULL);
        if (hone_opt_recommend(runs[slow].report, &f, &n, NULL) ||
            hone_opt_findings_format(f, n, 0, &b, 0)) {
            fprintf(stderr, "optimize demo: recommendations failed\n");
            fail = 1;
        } else {
            size_t fired = 0, nodata = 0;
            for (size_t k = 0; k < n; k++) {
                fired += f[k].verdict == HONE_OPT_FIRED;
                nodata += f[k].verdict == HONE_OPT_NO_DATA;
            }
            printf("  recommendations for the slowest, %s (a monitor watched its cache, batcher "
                   "and process): %zu finding%s, %zu rule%s quiet, %zu without enough data\n",
                   runs[slow].level, fired, fired == 1 ? "" : "s", n - fired - nodata,
                   n - fired - nodata == 1 ? "" : "s", nodata);
            if (b.len) fwrite(b.data, 1, b.len, stdout);
            if (b.len && b.data[b.len - 1] != '\n') putchar('\n');
        }
        hone_buf_free(&b);
        hone_free(NULL, f);
    }
    /* Restore what the api layer held. */
    if (prior.origin == HONE_ORIGIN_API)
        hone_opt_set("level", NULL, prior.value.text, prior.where, NULL);
    else
        hone_opt_unset("level", NULL, NULL);
    for (int i = 0; i < 3; i++) hone_opt_report_free(runs[i].report, NULL);
    free(reqs);
    rmdir(dir);
    return fail;
}
