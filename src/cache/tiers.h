/* tiers.h - how a cache reaches its tiers below memory (tiers.c opens and
 * closes them, cache.c calls them on its paths); not part of the API. */
#ifndef HONE_CACHE_TIERS_H
#define HONE_CACHE_TIERS_H

#include <pthread.h>
#include <stdatomic.h>

#include "cache/disk.h"
#include "cache/redis.h"
#include "hone/tier.h"

/* Puts, deletes and promotions of one key are ordered by a lock of its
 * stripe; each stripe's generation counts its puts and deletes, so a
 * promotion can tell that the value it read below memory may be stale. */
#define HONE__TIER_STRIPES 256

typedef struct hone__tiers {
    const hone_allocator *alloc;
    int strategy;
    int mem_off; /* DISK: memory keeps nothing */
    hone__disk *disk;
    hone__redis *redis;
    hone_cache_clock_fn wall;
    void *wall_ctx;
    _Atomic uint64_t promotions;
    /* Held shared by puts, deletes and promotions (outside their stripe
     * lock), exclusively by clear, so that no write lands between clearing
     * disk and clearing memory and survives in one tier only. */
    pthread_rwlock_t clear_lock;
    pthread_mutex_t mu[HONE__TIER_STRIPES];
    _Atomic uint64_t gen[HONE__TIER_STRIPES];
} hone__tiers;

/* Wall-clock now, ns since the epoch. */
uint64_t hone__tiers_wall(const hone__tiers *t);
/* Closes the tiers (disk committed and synced, Redis fills sent); NULL is
 * a no-op. Called by hone_cache_free. */
void hone__tiers_close(hone__tiers *t);

/* cache.c: hands the tiers to a cache just made by hone_cache_new. */
void hone__cache_attach_tiers(hone_cache *c, hone__tiers *t);
hone__tiers *hone__cache_tiers(const hone_cache *c);

#endif
