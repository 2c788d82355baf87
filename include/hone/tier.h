/* tier.h - where a cache keeps its entries: in memory only, on disk (an
 * LMDB file that survives restarts and may be bigger than memory), or both
 * (hybrid: the hot entries in memory, every entry on disk), optionally in
 * front of a Redis server that many processes and hosts share. A cache
 * opened with hone_cache_open answers the one cache API of cache.h
 * (hone_cache_get, _put, _get_or_load, _delete, ...) through its tiers. */
#ifndef HONE_TIER_H
#define HONE_TIER_H

#include <stdint.h>

#include "hone/cache.h"
#include "hone/cachesim.h"
#include "hone/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where entries live. DEFAULT takes HONE_CACHE_STRATEGY, else MEMORY. */
typedef enum hone_cache_strategy {
    HONE_CACHE_STRATEGY_DEFAULT = 0,
    HONE_CACHE_MEMORY = 1, /* fastest; lost when the process ends */
    HONE_CACHE_DISK = 2,   /* every get reads the file; survives restarts */
    HONE_CACHE_HYBRID = 3  /* memory in front of disk; survives restarts */
} hone_cache_strategy;

/* "memory", "disk", "hybrid" ("default" for 0); NULL for other values. */
HONE_API const char *hone_cache_strategy_name(int strategy);
/* Parses "memory", "disk" or "hybrid". Returns HONE_OK or HONE_EINVAL with
 * err naming the value and the valid names. */
HONE_API int hone_cache_strategy_parse(const char *name, int *out, hone_error *err);

/* What a put on disk has survived once it returns (docs/design/tiers.md
 * says exactly what each can lose):
 *   SYNC: the put's group of writes was committed and fsynced: it survives
 *     a crash of the process and a power failure. Concurrent puts share one
 *     commit (group commit), so their throughput grows with the number of
 *     writers; one writer pays one fsync per put (about 0.3 ms here).
 *   NOSYNC: the put is queued; other calls of this process see it at once,
 *     and the file has it within group_wait_ns (then it survives a crash of
 *     the process). The file is fsynced every sync_interval_ns and by
 *     hone_cache_sync, but between syncs LMDB writes without ordering, so a
 *     power failure can damage the file: it is then refused at the next
 *     open (or moved aside with recreate) and the tier starts empty. It
 *     never serves a damaged entry. For caches whose entries can be
 *     recomputed. */
typedef enum hone_cache_durability {
    HONE_CACHE_SYNC = 0,
    HONE_CACHE_NOSYNC = 1
} hone_cache_durability;

/* The cache's tiers: one settings struct, which the optimizer sets. Zero
 * everywhere means what the settings table says (hone-optimize(1)):
 * memory only at level moderate. */
typedef struct hone_tier_options {
    /* hone_cache_strategy; DEFAULT: cache.strategy (HONE_CACHE_STRATEGY;
     * memory at levels basic and moderate, hybrid at aggressive). */
    int strategy;
    /* Disk (DISK and HYBRID). dir: the directory of the file; NULL:
     * cache.dir (HONE_CACHE_DIR), else $XDG_CACHE_HOME/hone, else
     * ~/.cache/hone.
     * name: the file's name in it; NULL: "cache.mdb" (two caches open at
     * once need two names). The file is made on first use. */
    const char *dir;
    const char *name;
    /* Bytes of entries (keys, values and a 40-byte header each) kept on
     * disk at most; the oldest entries not read since their last write
     * are evicted first (see docs/design/tiers.md). The file itself can be
     * up to about twice this (LMDB's pages are never full and it writes
     * copies). 0: cache.disk_size (HONE_CACHE_DISK_SIZE; 1 GiB at level
     * moderate). */
    uint64_t disk_bytes;
    int durability;            /* hone_cache_durability; 0: SYNC */
    unsigned group_max;        /* puts per disk transaction at most; 0: 512 */
    uint64_t group_wait_ns;    /* NOSYNC: how long a group gathers; 0: 1 ms */
    uint64_t sync_interval_ns; /* NOSYNC: how often the file is fsynced; 0: 1 s */
    /* A file that hone did not write, of another format version, or
     * damaged, is refused (HONE_ECORRUPT, never read). Nonzero: it is moved
     * aside to NAME.corrupt with a warning and a new one made. */
    int recreate;
    /* Shared tier: the Redis server, "HOST:PORT" or the absolute path of a
     * Unix socket; NULL: HONE_CACHE_REDIS, else none. Keys are stored
     * under redis_prefix (NULL: "hone:"); each command waits at most
     * redis_timeout_ns (0: 50 ms), and a slow or absent server only makes
     * misses. redis_connections: pool size (0: 4). */
    const char *redis;
    const char *redis_prefix;
    uint64_t redis_timeout_ns;
    unsigned redis_connections;
    /* The wall clock of stored expiry times, in ns since the epoch; NULL:
     * CLOCK_REALTIME. Tests set it to expire entries without waiting. */
    hone_cache_clock_fn wall_clock;
    void *wall_clock_ctx;
    /* Nonzero: read no HONE_CACHE_* variable nor any other layer of the
     * settings table; zero fields take the built-in defaults (memory, 1
     * GiB on disk, 64 MiB in memory, no TTL). For programs whose caches
     * must not change with their users' environment. */
    int ignore_env;
    /* The cache's name in the settings' [component.NAME] sections, for its
     * cache.size and cache.ttl; NULL: the global values only. */
    const char *component;
} hone_tier_options;

/* Opens a cache with tiers. memory: the memory tier's options (capacity,
 * TTL, clock, allocator), as for hone_cache_new; NULL or no capacity in
 * it: cache.size bytes of entries (HONE_CACHE_SIZE or the component's
 * size; 64 MiB at level moderate; unused by DISK, which keeps nothing in
 * memory but the policy's reference bits); ttl_ns 0: cache.ttl
 * (HONE_CACHE_TTL or the component's ttl; none at level moderate).
 * tiers: NULL is all defaults.
 *
 * On every tier the one cache API holds: a get returns the newest value
 * put (or nothing), never a stale or a damaged one. A get that misses
 * memory reads disk, then Redis; a hit below memory is copied up
 * (promoted) unless a put or delete of the same key came meanwhile. A put
 * writes through every tier: memory at once, disk as its durability says
 * (the put returns when that is done), Redis in the background (batched
 * and pipelined; the shared tier is a cache for other processes, not a
 * store: a Redis failure never fails a put). An entry the memory tier
 * evicts stays on disk, where a later get finds it (hybrid is inclusive:
 * disk holds every entry within its bound, memory the hot ones). TTLs are
 * stored as wall-clock deadlines, so they hold across restarts.
 *
 * Returns HONE_OK; HONE_EINVAL (bad options or environment; err says
 * which); HONE_ECORRUPT (a refused file, see recreate); HONE_EACCES,
 * HONE_EIO (the directory or file cannot be made); HONE_ENOMEM. On
 * failure *out is NULL and nothing leaks. A cache from hone_cache_new is a
 * memory cache with no tiers. hone_cache_free closes the tiers after
 * committing and syncing what is queued. */
HONE_API int hone_cache_open(hone_cache **out, const hone_cache_options *memory,
                             const hone_tier_options *tiers, hone_error *err);

/* Gets n keys at once, for callers that need many values per request:
 * each key from memory; those memory misses from disk; those still missing
 * from Redis in one pipelined round trip (one connection, n GETs) instead
 * of n. vals[i] must be initialised hone_bufs: on a hit the value is copied
 * into vals[i] (cleared first) and found[i] is 1, else found[i] is 0. Hits
 * below memory are promoted as hone_cache_get promotes them. Works on
 * every cache (from hone_cache_new too). Returns HONE_OK (also when some or
 * all missed), HONE_EINVAL (a NULL array with n > 0, a NULL key with a
 * nonzero length) or HONE_ENOMEM (found[] then says which values were
 * copied). Thread-safe. */
HONE_API int hone_cache_get_many(hone_cache *c, size_t n, const void *const *keys,
                                 const size_t *klens, hone_buf *vals, int *found);

/* Fills the zero fields of o from the settings cache.strategy and
 * cache.disk_size (their variables HONE_CACHE_STRATEGY and
 * HONE_CACHE_DISK_SIZE, the config file, the level...) and from
 * HONE_CACHE_REDIS (hone_cache_open does this unless ignore_env).
 * Returns HONE_OK or HONE_EINVAL naming the variable and its value. */
HONE_API int hone_tier_options_env(hone_tier_options *o, hone_error *err);

/* The cache's strategy (never DEFAULT). Thread-safe. */
HONE_API int hone_cache_strategy_of(const hone_cache *c);

/* Makes every put that returned before the call durable: disk writes
 * committed and fsynced, Redis fills sent (waiting at most the Redis
 * timeout). Returns HONE_OK, HONE_EIO (the disk could not be written),
 * or HONE_ETIMEDOUT (Redis did not answer; the disk part is done).
 * A memory-only cache returns HONE_OK at once. Thread-safe. */
HONE_API int hone_cache_sync(hone_cache *c);

/* What each tier below memory did (hone_cache_stats counts memory, and a
 * get it counts as a miss may have hit disk or Redis). Counts since the
 * cache was opened. */
typedef struct hone_cache_tier_stats {
    int strategy;
    uint64_t promotions; /* hits below memory copied into memory */
    /* disk (zero when there is none) */
    uint64_t disk_hits, disk_misses, disk_puts, disk_deletes;
    uint64_t disk_evictions, disk_expired, disk_corrupt;
    uint64_t disk_commits, disk_syncs;
    uint64_t disk_entries, disk_bytes, disk_max_bytes, disk_file_bytes;
    /* shared tier (zero when there is none) */
    int redis;
    uint64_t redis_hits, redis_misses, redis_errors, redis_timeouts, redis_rejected;
    uint64_t redis_reconnects, redis_puts, redis_puts_dropped;
} hone_cache_tier_stats;

/* Fills *st. Thread-safe. */
HONE_API void hone_cache_tier_stats_get(hone_cache *c, hone_cache_tier_stats *st);

/* Calls fn for each live entry of the cache's lowest local tier (disk when
 * there is one, else memory, as hone_cache_iterate), with its wall-clock
 * expiry (0: none; memory entries report 0 here). Writes queued under
 * NOSYNC are committed first. fn must not call into the cache; nonzero
 * stops the walk and is returned. Thread-safe. */
HONE_API int hone_cache_export(hone_cache *c,
                               int (*fn)(void *ctx, const void *key, size_t klen,
                                         const void *val, size_t vlen, uint64_t expire_wall_ns),
                               void *ctx);

/* What a hybrid cache would hit on a trace (hone_cache_sim_tiered). */
typedef struct hone_cache_tier_sim {
    uint64_t accesses;
    double memory_hit_percent; /* served by memory */
    double disk_hit_percent;   /* missed memory, served by disk */
    double hit_percent;        /* the sum */
} hone_cache_tier_sim;

/* Replays keys[0..n) through a memory tier of memory_capacity objects
 * running memory_policy (a hone_cache_policy; 0 capacity: no memory tier)
 * in front of a disk tier of disk_capacity objects running the disk
 * tier's policy (FIFO with reinsertion, see docs/design/tiers.md), with
 * unit-size objects from a cold start, as a hybrid cache serves gets: a
 * memory miss reads disk, a disk hit is promoted into memory, a miss is
 * written to both. Returns HONE_OK, HONE_EINVAL (disk_capacity 0 or above
 * 2^32, bad policy) or HONE_ENOMEM. Thread-safe (keys are only read). */
HONE_API int hone_cache_sim_tiered(int memory_policy, uint64_t memory_capacity,
                                   uint64_t disk_capacity, const uint64_t *keys, size_t n,
                                   const hone_allocator *alloc, hone_cache_tier_sim *out);

#ifdef __cplusplus
}
#endif

#endif
