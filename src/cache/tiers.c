/* tiers.c - opening a cache with tiers: the strategy and its settings from
 * the options and the environment, the disk and Redis tiers made and
 * closed, and what the tiers report (stats, sync, export). The paths that
 * read and write through the tiers are in cache.c. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/tiers.h"
#include "hone/tier.h"

static const char *const strategy_names[] = {"memory", "disk", "hybrid", NULL};

const char *hone_cache_strategy_name(int strategy) {
    if (strategy == HONE_CACHE_STRATEGY_DEFAULT) return "default";
    if (strategy < HONE_CACHE_MEMORY || strategy > HONE_CACHE_HYBRID) return NULL;
    return strategy_names[strategy - 1];
}

int hone_cache_strategy_parse(const char *name, int *out, hone_error *err) {
    int i;
    int rc = hone_parse_enum("strategy", name, strategy_names, &i, err);
    if (rc == HONE_OK) *out = i + 1;
    return rc;
}

int hone_tier_options_env(hone_tier_options *o, hone_error *err) {
    /* The settings table: cache.strategy and cache.disk_size from their
     * variables, the config file, a level, a strategy or a preset. */
    int rc;
    hone_setting_state st;
    if (o->strategy == HONE_CACHE_STRATEGY_DEFAULT) {
        if ((rc = hone_setting_get(HONE_SET_CACHE_STRATEGY, NULL, &st, err))) return rc;
        o->strategy = (int)st.value.u + 1;
    }
    if (!o->disk_bytes) {
        if ((rc = hone_setting_get(HONE_SET_CACHE_DISK_SIZE, NULL, &st, err))) return rc;
        o->disk_bytes = st.value.u;
    }
    if (!o->redis) {
        const char *v = getenv("HONE_CACHE_REDIS");
        if (v && *v) {
            char host[256];
            unsigned port;
            rc = hone_parse_addr("HONE_CACHE_REDIS", v, host, sizeof host, &port, err);
            if (rc) return rc;
            o->redis = v;
        }
    }
    return HONE_OK;
}

uint64_t hone__tiers_wall(const hone__tiers *t) {
    if (t->wall) return t->wall(t->wall_ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void hone__tiers_close(hone__tiers *t) {
    if (!t) return;
    hone__disk_close(t->disk);
    hone__redis_close(t->redis);
    for (int i = 0; i < HONE__TIER_STRIPES; i++) pthread_mutex_destroy(&t->mu[i]);
    pthread_rwlock_destroy(&t->clear_lock);
    hone_free(t->alloc, t);
}

/* The disk tier's file: dir/name, dir from the options or the environment
 * (hone_cache_dir). */
static int disk_path(const hone_tier_options *o, const hone_allocator *a, char **out,
                     hone_error *err) {
    char *dir = NULL;
    int rc;
    if (o->dir && *o->dir) {
        dir = hone_strdup(a, o->dir);
        if (!dir) return hone_error_set(err, HONE_ENOMEM, "out of memory");
    } else if ((rc = hone_cache_dir(&dir, a, err))) {
        return rc;
    }
    const char *name = o->name && *o->name ? o->name : "cache.mdb";
    if (strchr(name, '/')) {
        hone_free(a, dir);
        return hone_error_set(err, HONE_EINVAL,
                              "cache file name '%s': expected a name without '/' (the directory "
                              "goes in dir)",
                              name);
    }
    hone_buf b;
    hone_buf_init(&b, a);
    rc = hone_buf_printf(&b, "%s/%s", dir, name);
    hone_free(a, dir);
    if (rc) {
        hone_buf_free(&b);
        return hone_error_set(err, HONE_ENOMEM, "out of memory");
    }
    *out = b.data;
    return HONE_OK;
}

int hone_cache_open(hone_cache **out, const hone_cache_options *memory,
                    const hone_tier_options *tiers, hone_error *err) {
    *out = NULL;
    hone_cache_options mo;
    if (memory) mo = *memory;
    else memset(&mo, 0, sizeof mo);
    hone_tier_options to;
    if (tiers) to = *tiers;
    else memset(&to, 0, sizeof to);
    int rc;
    if (!to.ignore_env && (rc = hone_tier_options_env(&to, err))) return rc;
    if (to.strategy == HONE_CACHE_STRATEGY_DEFAULT) to.strategy = HONE_CACHE_MEMORY;
    if (to.strategy < HONE_CACHE_MEMORY || to.strategy > HONE_CACHE_HYBRID)
        return hone_error_set(err, HONE_EINVAL,
                              "cache strategy %d: expected memory (1), disk (2) or hybrid (3)",
                              to.strategy);
    if (to.durability != HONE_CACHE_SYNC && to.durability != HONE_CACHE_NOSYNC)
        return hone_error_set(err, HONE_EINVAL,
                              "cache durability %d: expected sync (0) or nosync (1)",
                              to.durability);
    if (!to.disk_bytes) to.disk_bytes = (uint64_t)1 << 30;
    /* The memory tier's capacity and TTL, when the options leave them:
     * cache.size and cache.ttl of the cache's component (ignore_env: 64 MiB
     * and no TTL, the built-in defaults). */
    hone_setting_state st;
    if (!mo.max_entries && !mo.max_bytes && !to.ignore_env) {
        if ((rc = hone_setting_get(HONE_SET_CACHE_SIZE, to.component, &st, err))) return rc;
        mo.max_bytes = st.value.u;
    }
    if (!mo.ttl_ns && !to.ignore_env) {
        if ((rc = hone_setting_get(HONE_SET_CACHE_TTL, to.component, &st, err))) return rc;
        mo.ttl_ns = st.value.u;
    }
    int mem_off = to.strategy == HONE_CACHE_DISK;
    if (mem_off) {
        /* DISK keeps nothing in memory; the memory tier's structures exist
         * (one small shard) only so that one code path serves all. */
        mo.max_entries = 1;
        mo.max_bytes = 0;
        mo.shards = 1;
    } else if (!mo.max_entries && !mo.max_bytes) {
        mo.max_bytes = (uint64_t)64 << 20;
    }
    const hone_allocator *a = mo.alloc;
    hone_cache *c = NULL;
    if ((rc = hone_cache_new(&c, &mo)))
        return hone_error_set(err, rc, "cannot make the cache's memory tier: %s",
                              hone_strerror(rc));
    if (to.strategy == HONE_CACHE_MEMORY && !to.redis) {
        *out = c;
        return HONE_OK;
    }
    hone__tiers *t = hone_calloc(a, 1, sizeof *t);
    if (!t) {
        hone_cache_free(c);
        return hone_error_set(err, HONE_ENOMEM, "out of memory");
    }
    t->alloc = a;
    t->strategy = to.strategy;
    t->mem_off = mem_off;
    t->wall = to.wall_clock;
    t->wall_ctx = to.wall_clock_ctx;
    for (int i = 0; i < HONE__TIER_STRIPES; i++) pthread_mutex_init(&t->mu[i], NULL);
    pthread_rwlock_init(&t->clear_lock, NULL);
    if (to.strategy != HONE_CACHE_MEMORY) {
        char *path = NULL;
        rc = disk_path(&to, a, &path, err);
        if (!rc) {
            hone__disk_options d = {
                .alloc = a,
                .path = path,
                .max_bytes = to.disk_bytes,
                .nosync = to.durability == HONE_CACHE_NOSYNC,
                .group_max = to.group_max,
                .group_wait_ns = to.group_wait_ns,
                .sync_interval_ns = to.sync_interval_ns,
                .recreate = to.recreate,
                .wall_clock = to.wall_clock,
                .wall_clock_ctx = to.wall_clock_ctx,
            };
            rc = hone__disk_open(&t->disk, &d, NULL, err);
            hone_free(a, path);
        }
        if (rc) goto fail;
    }
    if (to.redis) {
        hone__redis_options r = {
            .alloc = a,
            .addr = to.redis,
            .prefix = to.redis_prefix,
            .timeout_ns = to.redis_timeout_ns,
            .connections = to.redis_connections,
        };
        if ((rc = hone__redis_open(&t->redis, &r, err))) goto fail;
    }
    hone__cache_attach_tiers(c, t);
    *out = c;
    return HONE_OK;
fail:
    hone__tiers_close(t);
    hone_cache_free(c);
    return rc;
}

int hone_cache_strategy_of(const hone_cache *c) {
    const hone__tiers *t = hone__cache_tiers(c);
    return t ? t->strategy : HONE_CACHE_MEMORY;
}

int hone_cache_sync(hone_cache *c) {
    hone__tiers *t = hone__cache_tiers(c);
    if (!t) return HONE_OK;
    int rc = t->disk ? hone__disk_flush(t->disk) : HONE_OK;
    if (t->redis) {
        int r2 = hone__redis_flush(t->redis);
        if (!rc) rc = r2;
    }
    return rc;
}

void hone_cache_tier_stats_get(hone_cache *c, hone_cache_tier_stats *st) {
    memset(st, 0, sizeof *st);
    hone__tiers *t = hone__cache_tiers(c);
    st->strategy = t ? t->strategy : HONE_CACHE_MEMORY;
    if (!t) return;
    st->promotions = atomic_load_explicit(&t->promotions, memory_order_relaxed);
    if (t->disk) {
        hone__disk_stats d;
        hone__disk_stats_get(t->disk, &d);
        st->disk_hits = d.hits, st->disk_misses = d.misses;
        st->disk_puts = d.puts, st->disk_deletes = d.deletes;
        st->disk_evictions = d.evictions, st->disk_expired = d.expired;
        st->disk_corrupt = d.corrupt;
        st->disk_commits = d.commits, st->disk_syncs = d.syncs;
        st->disk_entries = d.entries, st->disk_bytes = d.bytes;
        st->disk_max_bytes = d.max_bytes, st->disk_file_bytes = d.file_bytes;
    }
    if (t->redis) {
        hone__redis_stats r;
        hone__redis_stats_get(t->redis, &r);
        st->redis = 1;
        st->redis_hits = r.hits, st->redis_misses = r.misses;
        st->redis_errors = r.errors, st->redis_timeouts = r.timeouts;
        st->redis_rejected = r.rejected, st->redis_reconnects = r.reconnects;
        st->redis_puts = r.puts, st->redis_puts_dropped = r.puts_dropped;
    }
}

typedef struct mem_export {
    int (*fn)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
              uint64_t expire_wall_ns);
    void *ctx;
} mem_export;

static int mem_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    mem_export *x = ctx;
    return x->fn(x->ctx, key, klen, val, vlen, 0);
}

int hone_cache_export(hone_cache *c,
                      int (*fn)(void *ctx, const void *key, size_t klen, const void *val,
                                size_t vlen, uint64_t expire_wall_ns),
                      void *ctx) {
    hone__tiers *t = hone__cache_tiers(c);
    if (t && t->disk) return hone__disk_iterate(t->disk, fn, ctx);
    mem_export x = {fn, ctx};
    return hone_cache_iterate(c, mem_one, &x);
}
