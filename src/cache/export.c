/* export.c - the cache's figures as Prometheus series in a metrics
 * registry: lifetime counters (never reset) and gauges of what it holds. */
#include <string.h>

#include "hone/cache.h"
#include "hone/metrics.h"
#include "hone/tier.h"

int hone_cache_metrics_update(hone_cache *c, hone_metrics *m, const char *name,
                              hone_error *err) {
    if (!c || !m || !name || !*name)
        return hone_error_set(err, HONE_EINVAL,
                              "hone_cache_metrics_update: cache, registry and a non-empty "
                              "name are required");
    hone_cache_stats st;
    hone_cache_stats_lifetime(c, &st);
    const char *l[] = {"cache", name, NULL};
    const int C = 1, G = 0;
    int rc;
#define PUT(fn, metric, help, v)                                                        \
    do {                                                                                \
        if ((rc = hone_metrics_mirror(m, fn, metric, help, l, (double)(v), err)) != HONE_OK) return rc; \
    } while (0)
    PUT(C, "hone_cache_hits_total", "Lookups that found a live entry.", st.hits);
    PUT(C, "hone_cache_misses_total", "Lookups that found no live entry.", st.misses);
    PUT(C, "hone_cache_loads_total", "Loader calls made by get_or_load.", st.loads);
    PUT(C, "hone_cache_load_failures_total", "Loader calls that returned an error.",
        st.load_failures);
    PUT(C, "hone_cache_load_seconds_total", "Time spent in loader calls.",
        (double)st.load_time_ns / 1e9);
    static const char *const reasons[HONE_CACHE_REASON_COUNT] = {"size", "expired",
                                                                  "explicit"};
    for (int r = 0; r < HONE_CACHE_REASON_COUNT; r++) {
        const char *lr[] = {"cache", name, "reason", reasons[r], NULL};
        rc = hone_metrics_mirror(m, C, "hone_cache_evictions_total",
                 "Entries that left the cache, by reason: size (the policy made room), "
                 "expired (time-to-live), explicit (delete, clear, replaced).",
                 lr, (double)st.evictions[r], err);
        if (rc) return rc;
    }
    PUT(G, "hone_cache_entries", "Entries held.", st.entries);
    PUT(G, "hone_cache_weight", "Total weight of the entries held (bytes when limited by bytes).",
        st.bytes);
    PUT(G, "hone_cache_max_entries", "Capacity in entries (0: no limit).", st.max_entries);
    PUT(G, "hone_cache_max_bytes", "Capacity in bytes of weight (0: no limit).", st.max_bytes);
    PUT(G, "hone_cache_utilization_percent", "Percent of the binding capacity in use.",
        st.utilization);
    PUT(G, "hone_cache_memory_bytes", "Memory the cache holds: structures, entries, metadata.",
        hone_cache_memory_size(c));
    PUT(G, "hone_cache_hit_ratio", "Hits over lookups since the cache was made (0..1).",
        st.hit_rate);
#undef PUT
    hone_cache_tier_stats ts;
    hone_cache_tier_stats_get(c, &ts);
    if (ts.strategy == HONE_CACHE_MEMORY && !ts.redis) return HONE_OK;
    /* The tiers below memory: one series per tier, labelled tier="disk"
     * or tier="redis". Memory's own figures are the series above. */
    struct tier_row {
        const char *tier;
        int on;
        uint64_t hits, misses, errors;
    } rows[2] = {
        {"disk", ts.strategy != HONE_CACHE_MEMORY, ts.disk_hits, ts.disk_misses, ts.disk_corrupt},
        {"redis", ts.redis, ts.redis_hits, ts.redis_misses, ts.redis_errors + ts.redis_rejected},
    };
    for (int i = 0; i < 2; i++) {
        if (!rows[i].on) continue;
        const char *lt[] = {"cache", name, "tier", rows[i].tier, NULL};
        if ((rc = hone_metrics_mirror(m, C, "hone_cache_tier_hits_total",
                      "Lookups that missed memory and found a live entry in this tier.", lt,
                      (double)rows[i].hits, err)) ||
            (rc = hone_metrics_mirror(m, C, "hone_cache_tier_misses_total",
                      "Lookups that missed memory and this tier.", lt, (double)rows[i].misses,
                      err)) ||
            (rc = hone_metrics_mirror(m, C, "hone_cache_tier_errors_total",
                      "Failures of this tier, each served as a miss: damaged records (disk); "
                      "timeouts, connection failures and foreign values (redis).",
                      lt, (double)rows[i].errors, err)))
            return rc;
    }
    if ((rc = hone_metrics_mirror(m, C, "hone_cache_promotions_total",
                  "Hits below memory copied into memory.", l, (double)ts.promotions, err)))
        return rc;
    if (ts.strategy != HONE_CACHE_MEMORY &&
        ((rc = hone_metrics_mirror(m, G, "hone_cache_disk_entries", "Entries in the disk tier.", l,
                   (double)ts.disk_entries, err)) ||
         (rc = hone_metrics_mirror(m, G, "hone_cache_disk_bytes",
                   "Bytes of entries in the disk tier (keys, values, headers).", l,
                   (double)ts.disk_bytes, err)) ||
         (rc = hone_metrics_mirror(m, G, "hone_cache_disk_max_bytes", "The disk tier's bound in bytes.", l,
                   (double)ts.disk_max_bytes, err)) ||
         (rc = hone_metrics_mirror(m, G, "hone_cache_disk_file_bytes", "Size of the disk tier's file.", l,
                   (double)ts.disk_file_bytes, err))))
        return rc;
    return HONE_OK;
}
