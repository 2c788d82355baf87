/* cache.h - hone's in-memory cache: a sharded, thread-safe key/value cache
 * with an adaptive admission and eviction policy, TTLs, single-flight
 * loading and statistics. The trace reader and the simulator that measure
 * its policy against the published ones are in cachesim.h. */
#ifndef HONE_CACHE_H
#define HONE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "hone/core.h"
#include "hone/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* The cache                                                           */
/* ------------------------------------------------------------------ */

typedef struct hone_cache hone_cache;

/* Why an entry left the cache (stats count each). */
typedef enum hone_cache_reason {
    HONE_CACHE_EVICT_SIZE = 0,     /* the policy chose it to make room */
    HONE_CACHE_EVICT_EXPIRED = 1,  /* its time-to-live ran out */
    HONE_CACHE_EVICT_EXPLICIT = 2, /* delete, clear, or replaced by put */
    HONE_CACHE_REASON_COUNT
} hone_cache_reason;

/* A clock returning nanoseconds on any monotonic scale. */
typedef uint64_t (*hone_cache_clock_fn)(void *ctx);

typedef struct hone_cache_options {
    const hone_allocator *alloc; /* NULL: the default allocator */
    /* Capacity: at most max_entries entries and at most max_bytes bytes of
     * weight (an entry weighs key length + value length, or what put_ex
     * says). 0 means no limit of that kind; at least one must be set. */
    uint64_t max_entries;
    uint64_t max_bytes;
    uint64_t ttl_ns;            /* default time-to-live after write; 0: none */
    int expire_after_access;    /* nonzero: each hit restarts the entry's ttl */
    uint64_t negative_ttl_ns;   /* get_or_load: cache loader errors this long; 0: never */
    /* NULL: hone_monotonic_ns. Called inside lock-free reads, so it must
     * not call into any hone cache. */
    hone_cache_clock_fn clock;
    void *clock_ctx;
    /* Shards (a power of two up to 256); 0 picks from the capacity: one
     * shard for small caches (so eviction order is exact), up to 64. */
    unsigned shards;
    /* Keys are hashed with XXH3 keyed by a secret drawn from the OS
     * (getrandom) for each cache, so that nobody who chooses keys can
     * compute two that collide: with one hash they would share one place,
     * and putting one would replace the other. A nonzero hash_seed derives
     * the secret from it instead, only to replay a run exactly (the policy's
     * choices depend on the hashes); never set it from anything an attacker
     * can learn. */
    uint64_t hash_seed;
} hone_cache_options;

/* Creates a cache. Returns HONE_OK; HONE_EINVAL (no capacity, shards not a
 * power of two or above 256); HONE_ENOMEM. On failure *out is NULL and
 * nothing leaks. */
HONE_API int hone_cache_new(hone_cache **out, const hone_cache_options *opts);

/* Frees the cache and every entry no view holds. Views still held stay
 * valid until released (their memory is freed by the last release), but
 * the cache must not be used by any thread after this call. NULL is a
 * no-op. */
HONE_API void hone_cache_free(hone_cache *c);

/* Stores a copy of key and value, replacing any entry for key. ttl_ns: 0
 * uses the default ttl, UINT64_MAX means never expire. weight counts only
 * when max_bytes is set (otherwise every entry weighs 1): 0 means klen +
 * vlen. The cache is split into shards, each with an equal share of
 * max_bytes, so one entry may weigh at most max_bytes / shards. The entry
 * may be evicted at once when the policy does not admit it (counted as a
 * size eviction). Returns HONE_OK; HONE_EINVAL (NULL key or value with a
 * nonzero length, klen above 2^31 - 1, vlen or weight above 2^32 - 1,
 * weight above the shard's share); HONE_ENOMEM (the cache is unchanged;
 * also when a custom allocator returns memory not aligned like malloc's).
 * Thread-safe. */
HONE_API int hone_cache_put(hone_cache *c, const void *key, size_t klen, const void *val,
                            size_t vlen);
HONE_API int hone_cache_put_ex(hone_cache *c, const void *key, size_t klen, const void *val,
                               size_t vlen, uint64_t ttl_ns, uint64_t weight);

/* Copy-out get: copies the value into buf (up to cap bytes) and sets *vlen
 * to the value's full length. Returns HONE_OK on a hit (the copy is
 * truncated when cap < *vlen: compare them), HONE_ENOTFOUND on a miss or an
 * expired entry. Thread-safe and lock-free: reads take no lock (entries are
 * reclaimed by epochs, see docs/design/cache.md) and hand the hit to the
 * policy through a buffer that a writer or a later reader applies. Each
 * reading thread holds one of 512 epoch slots until it exits; a thread that
 * finds none free reads under the shard lock instead (same results).
 * get_view, contains and the hit path of get_or_load read the same way. */
HONE_API int hone_cache_get(hone_cache *c, const void *key, size_t klen, void *buf, size_t cap,
                            size_t *vlen);

/* A read-only view of a cached value. It stays valid until
 * hone_cache_view_release(), even if the entry is evicted, replaced or the
 * cache is cleared meanwhile: each entry carries a reference count; the
 * cache holds one reference and every view another, and the last one to
 * let go frees the entry. */
typedef struct hone_cache_view {
    const void *data;
    size_t len;
    void *ref_; /* private */
} hone_cache_view;

/* Gets a view. Returns HONE_OK (release it once), HONE_ENOTFOUND (nothing
 * to release). Thread-safe; a view may be released on any thread. */
HONE_API int hone_cache_get_view(hone_cache *c, const void *key, size_t klen,
                                 hone_cache_view *view);
/* Releases a view; a zeroed view or NULL is a no-op. */
HONE_API void hone_cache_view_release(hone_cache_view *view);

/* Loads a missing value. On success it fills *val with a buffer allocated
 * by the cache's allocator (the cache takes ownership), *vlen, and may set
 * *ttl_ns (preset to 0 = the default) for this entry. Returns HONE_OK or
 * any negative status, which goes to every waiter. */
typedef int (*hone_cache_loader_fn)(void *ctx, const void *key, size_t klen, void **val,
                                    size_t *vlen, uint64_t *ttl_ns);

/* Gets key as a view, loading it on a miss. When many threads miss the same
 * key at once, the loader runs once (in the first thread) and the others
 * wait for its result: all of them get a view of the same value, or the
 * same error. A loader error is not cached unless negative_ttl_ns is set;
 * then the same error is returned without calling the loader until it
 * expires. Returns HONE_OK (release the view), the loader's error, or
 * HONE_ENOMEM. The loader must not call back into this cache for the same
 * key (it would wait for itself). Thread-safe. */
HONE_API int hone_cache_get_or_load(hone_cache *c, const void *key, size_t klen,
                                    hone_cache_loader_fn loader, void *ctx,
                                    hone_cache_view *view);

/* Removes key. Returns HONE_OK or HONE_ENOTFOUND. Thread-safe. */
HONE_API int hone_cache_delete(hone_cache *c, const void *key, size_t klen);
/* 1 when key is present and not expired, else 0. Does not count as an
 * access for the policy or the stats. Thread-safe. */
HONE_API int hone_cache_contains(hone_cache *c, const void *key, size_t klen);
/* Removes every entry (counted as explicit evictions). Thread-safe. */
HONE_API void hone_cache_clear(hone_cache *c);

/* Calls fn for each live entry, one shard at a time under that shard's
 * lock: each shard is a consistent snapshot, the whole is not (entries may
 * change in shards not yet or already visited). fn must not call into the
 * cache; returning nonzero stops the walk. Returns HONE_OK, or fn's nonzero
 * value. Thread-safe. */
HONE_API int hone_cache_iterate(hone_cache *c,
                                int (*fn)(void *ctx, const void *key, size_t klen,
                                          const void *val, size_t vlen),
                                void *ctx);

/* Changes the capacity at run time (same meaning as in the options),
 * evicting down to it. Returns HONE_OK or HONE_EINVAL (both zero).
 * Thread-safe. */
HONE_API int hone_cache_resize(hone_cache *c, uint64_t max_entries, uint64_t max_bytes);

/* Statistics. Counters are exact: hits and misses are atomic increments
 * on per-shard stripes, the rest are updated under the shard locks. */
typedef struct hone_cache_stats {
    uint64_t hits, misses;
    double hit_rate; /* hits / (hits + misses), 0 when none */
    uint64_t loads, load_failures, load_time_ns;
    uint64_t evictions[HONE_CACHE_REASON_COUNT];
    uint64_t entries, bytes; /* bytes: total weight */
    double utilization;      /* percent of the binding capacity in use */
    uint64_t max_entries, max_bytes;
} hone_cache_stats;

/* Fills *st with what happened since the cache was made or since the last
 * hone_cache_stats_reset. Thread-safe (a per-shard consistent sum). */
HONE_API void hone_cache_stats_get(hone_cache *c, hone_cache_stats *st);
/* Like hone_cache_stats_get, but counting since the cache was made:
 * hone_cache_stats_reset does not affect these totals. Thread-safe. */
HONE_API void hone_cache_stats_lifetime(hone_cache *c, hone_cache_stats *st);
/* Starts the counts of hone_cache_stats_get (hits, misses, loads, load
 * failures, load time, evictions) again from zero; entries and bytes are
 * not counts and stay. Lifetime totals are untouched. Thread-safe. */
HONE_API void hone_cache_stats_reset(hone_cache *c);
/* Appends the stats as one JSON object to buf. Returns HONE_OK or
 * HONE_ENOMEM. Thread-safe. */
HONE_API int hone_cache_stats_json(hone_cache *c, hone_buf *buf);
/* Bytes of memory the cache holds now: its structures, entries (with key
 * and value copies) and policy metadata, not the allocator's overhead.
 * Thread-safe. */
HONE_API uint64_t hone_cache_memory_size(hone_cache *c);

/* Sets the cache's figures in a metrics registry, for Prometheus
 * exposition (hone_metrics_expose), every series labelled cache="name":
 *   counters (lifetime totals, so hone_cache_stats_reset never makes them
 *   go down): hone_cache_hits_total, hone_cache_misses_total,
 *   hone_cache_loads_total, hone_cache_load_failures_total,
 *   hone_cache_load_seconds_total, hone_cache_evictions_total{reason=
 *   "size"|"expired"|"explicit"};
 *   gauges: hone_cache_entries, hone_cache_weight (the total weight, bytes
 *   when the cache is limited by bytes), hone_cache_max_entries,
 *   hone_cache_max_bytes (0: no limit), hone_cache_utilization_percent,
 *   hone_cache_memory_bytes, hone_cache_hit_ratio (lifetime, 0..1).
 * A cache opened with tiers (tier.h) adds, per tier below memory (label
 * tier="disk" or "redis"): hone_cache_tier_hits_total,
 * hone_cache_tier_misses_total, hone_cache_tier_errors_total; and
 * hone_cache_promotions_total, and for disk the gauges
 * hone_cache_disk_entries, hone_cache_disk_bytes, hone_cache_disk_max_bytes,
 * hone_cache_disk_file_bytes.
 * Call it before each exposition (a scrape): values are read then. name
 * must be non-empty; each cache exported to one registry needs its own
 * name. Returns HONE_OK; HONE_EINVAL (NULL argument or empty name);
 * HONE_ERANGE (a counter would go down: two caches share a name); a
 * status of hone_metrics_counter/gauge (err says which series); or
 * HONE_ENOMEM. Thread-safe. */
HONE_API int hone_cache_metrics_update(hone_cache *c, hone_metrics *m, const char *name,
                                       hone_error *err);

#ifdef __cplusplus
}
#endif

#endif
