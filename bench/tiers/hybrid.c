/* hybrid.c - bench/tiers' hit ratios: a hybrid cache (memory at 10 % of
 * each reference size of bench/cache in front of disk at 100 %) replayed
 * over the public traces, against memory alone at 10 % and at 100 %, all
 * through the simulator (hone_cache_sim_tiered) in the same run. */
#include <stdio.h>
#include <string.h>

#include "hone.h"
#include "tiers.h"

static const struct row {
    const char *trace, *file;
    uint64_t size;
} rows[] = {
    {"oltp", "OLTP.lis.zst", 1000},           {"oltp", "OLTP.lis.zst", 2000},
    {"web07", "web07.trace.xz", 2000},        {"web07", "web07.trace.xz", 4000},
    {"orm-busy", "orm-busy.trace.xz", 10000}, {"orm-busy", "orm-busy.trace.xz", 20000},
};

void bench_tiers_hybrid(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/../shared/traces", HONE_SOURCE_DIR);
    const char *loaded = NULL;
    uint64_t *keys = NULL;
    size_t n = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (!loaded || strcmp(loaded, rows[i].file)) {
            hone_free(NULL, keys);
            keys = NULL;
            loaded = NULL;
            char path[1200];
            snprintf(path, sizeof path, "%s/%s", dir, rows[i].file);
            hone_error err;
            if (hone_cache_trace_load(path, 0, NULL, &keys, &n, &err)) {
                printf("# skipping %s: %s\n", rows[i].trace, err.msg);
                continue;
            }
            loaded = rows[i].file;
        }
        if (!keys) continue;
        uint64_t s = rows[i].size, m = s / 10;
        hone_cache_tier_sim t;
        double small = 0, big = 0;
        if (hone_cache_sim_tiered(HONE_CACHE_POLICY_HONE, m, s, keys, n, NULL, &t) ||
            hone_cache_sim_run(HONE_CACHE_POLICY_HONE, m, keys, n, NULL, &small) ||
            hone_cache_sim_run(HONE_CACHE_POLICY_HONE, s, keys, n, NULL, &big)) {
            printf("# %s: out of memory\n", rows[i].trace);
            continue;
        }
        printf("tiers.hybrid.%s.%llu\t%.2f\t%% (memory %llu: %.2f, disk %llu: %.2f)\n",
               rows[i].trace, (unsigned long long)s, t.hit_percent, (unsigned long long)m,
               t.memory_hit_percent, (unsigned long long)s, t.disk_hit_percent);
        printf("tiers.hybrid.%s.%llu.memory10\t%.2f\t%% memory alone at %llu\n", rows[i].trace,
               (unsigned long long)s, small, (unsigned long long)m);
        printf("tiers.hybrid.%s.%llu.memory100\t%.2f\t%% memory alone at %llu\n", rows[i].trace,
               (unsigned long long)s, big, (unsigned long long)s);
        printf("tiers.hybrid.%s.%llu.ratio\t%.3f\tx vs memory alone at 10 %%\n", rows[i].trace,
               (unsigned long long)s, small > 0 ? t.hit_percent / small : 0.0);
        printf("tiers.hybrid.%s.%llu.ratio100\t%.3f\tx vs memory alone at 100 %%\n",
               rows[i].trace, (unsigned long long)s, big > 0 ? t.hit_percent / big : 0.0);
    }
    hone_free(NULL, keys);
}
