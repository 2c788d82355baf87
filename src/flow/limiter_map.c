/* limiter_map.c - keyed GCRA limiters (per client, per host): seeded XXH3,
 * mutex-sharded chained tables, idle keys dropped and the oldest evicted so
 * that memory stays within max_keys. */
#include "flow_internal.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <xxhash.h>

#define MAP_MAX_SHARDS 16u
/* A shard holds at least this many keys before the map splits further:
 * below it, the eviction scan is cheap and an even split of max_keys
 * matters more than lock spreading. */
#define MAP_MIN_PER_SHARD 64u

typedef struct map_node {
    struct map_node *next;
    uint64_t hash;
    uint64_t tat; /* GCRA units; guarded by the shard's mutex */
    uint32_t len;
    unsigned char key[];
} map_node;

typedef struct map_shard {
    _Alignas(64) pthread_mutex_t mu;
    map_node **buckets;
    size_t mask;
    size_t n, cap;
} map_shard;

struct hone_limiter_map {
    hone__gcra g;
    hone__clock clock;
    const hone_allocator *alloc;
    uint64_t seed;
    unsigned nshards;
    map_shard *shards;
};

static void shard_unlink(hone_limiter_map *m, map_shard *s, map_node **link) {
    map_node *n = *link;
    *link = n->next;
    s->n--;
    hone_free(m->alloc, n);
}

/* Drops every idle key (TAT not after now_u: its bucket is full again, the
 * same as a key never seen). With `evict`, and when none was idle, also
 * drops the key with the oldest TAT. Returns how many were dropped. */
static size_t shard_sweep(hone_limiter_map *m, map_shard *s, uint64_t now_u, int evict) {
    size_t dropped = 0;
    map_node **oldest = NULL;
    uint64_t oldest_tat = UINT64_MAX;
    for (size_t b = 0; b <= s->mask; b++) {
        map_node **link = &s->buckets[b];
        while (*link) {
            if ((*link)->tat <= now_u) {
                shard_unlink(m, s, link);
                dropped++;
                continue;
            }
            if ((*link)->tat < oldest_tat) oldest_tat = (*link)->tat, oldest = link;
            link = &(*link)->next;
        }
    }
    /* `oldest` is still valid: nothing was unlinked after it was taken,
     * because only idle nodes are unlinked and then dropped > 0. */
    if (evict && !dropped && oldest) {
        shard_unlink(m, s, oldest);
        dropped = 1;
    }
    return dropped;
}

static void map_destroy(hone_limiter_map *m, unsigned shards_ready) {
    for (unsigned i = 0; i < shards_ready; i++) {
        map_shard *s = &m->shards[i];
        for (size_t b = 0; b <= s->mask; b++) {
            map_node *n = s->buckets[b];
            while (n) {
                map_node *next = n->next;
                hone_free(m->alloc, n);
                n = next;
            }
        }
        hone_free(m->alloc, s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    hone_free(m->alloc, m->shards);
    hone_free(m->alloc, m);
}

int hone_limiter_map_new(hone_limiter_map **out, const hone_limiter_map_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    if (!opts) return HONE_EINVAL;
    hone__clock c;
    hone__clock_copy(&c, opts->clock);
    hone__gcra g;
    if (hone__gcra_init(&g, opts->rate, opts->burst, hone__clock_now(&c))) return HONE_EINVAL;
    size_t max_keys = opts->max_keys ? opts->max_keys : 10000;
    unsigned nshards = 1;
    while (nshards < MAP_MAX_SHARDS && max_keys / (nshards * 2u) >= MAP_MIN_PER_SHARD) nshards *= 2;

    hone_limiter_map *m = hone_calloc(opts->alloc, 1, sizeof *m);
    if (!m) return HONE_ENOMEM;
    m->g = g;
    m->clock = c;
    m->alloc = opts->alloc;
    m->seed = hone__flow_seed();
    m->nshards = nshards;
    m->shards = hone_calloc(opts->alloc, nshards, sizeof *m->shards);
    if (!m->shards) {
        hone_free(opts->alloc, m);
        return HONE_ENOMEM;
    }
    for (unsigned i = 0; i < nshards; i++) {
        map_shard *s = &m->shards[i];
        /* The shares sum to max_keys exactly. */
        s->cap = max_keys / nshards + (i < max_keys % nshards);
        size_t nb = 1;
        while (nb < s->cap) nb *= 2;
        s->buckets = hone_calloc(opts->alloc, nb, sizeof *s->buckets);
        if (!s->buckets) {
            map_destroy(m, i);
            return HONE_ENOMEM;
        }
        s->mask = nb - 1;
        pthread_mutex_init(&s->mu, NULL);
    }
    *out = m;
    return HONE_OK;
}

void hone_limiter_map_free(hone_limiter_map *m) {
    if (m) map_destroy(m, m->nshards);
}

int hone_limiter_map_acquire(hone_limiter_map *m, const void *key, size_t len, uint32_t cost,
                             uint64_t *wait_ns) {
    uint64_t w = 0;
    if (!m || (!key && len) || len > UINT32_MAX) return HONE_EINVAL;
    if (m->g.mode != HONE__GCRA_LIMIT) {
        int deny = m->g.mode == HONE__GCRA_DENY;
        if (wait_ns) *wait_ns = deny ? UINT64_MAX : 0;
        return deny ? HONE_EBUSY : HONE_OK;
    }
    uint64_t h = XXH3_64bits_withSeed(key, len, m->seed);
    map_shard *s = &m->shards[(h >> 40) & (m->nshards - 1)];
    uint64_t now_u = hone__gcra_now(&m->g, hone__clock_now(&m->clock));
    int rc = HONE_OK;
    pthread_mutex_lock(&s->mu);
    map_node **head = &s->buckets[h & s->mask], *n = *head;
    while (n && !(n->hash == h && n->len == len && (len == 0 || !memcmp(n->key, key, len))))
        n = n->next;
    uint64_t nt;
    if (!hone__gcra_decide(&m->g, n ? n->tat : 0, now_u, cost, &nt, &w)) {
        rc = HONE_EBUSY;
    } else if (n) {
        n->tat = nt;
    } else {
        if (s->n >= s->cap) shard_sweep(m, s, now_u, 1);
        n = hone_malloc(m->alloc, sizeof *n + len);
        if (!n) {
            rc = HONE_ENOMEM;
        } else {
            n->hash = h;
            n->tat = nt;
            n->len = (uint32_t)len;
            if (len) memcpy(n->key, key, len);
            n->next = *head;
            *head = n;
            s->n++;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (wait_ns) *wait_ns = rc == HONE_EBUSY ? w : 0;
    return rc;
}

size_t hone_limiter_map_size(hone_limiter_map *m) {
    size_t total = 0;
    for (unsigned i = 0; m && i < m->nshards; i++) {
        pthread_mutex_lock(&m->shards[i].mu);
        total += m->shards[i].n;
        pthread_mutex_unlock(&m->shards[i].mu);
    }
    return total;
}

size_t hone_limiter_map_expire(hone_limiter_map *m) {
    if (!m || m->g.mode != HONE__GCRA_LIMIT) return 0;
    uint64_t now_u = hone__gcra_now(&m->g, hone__clock_now(&m->clock));
    size_t dropped = 0;
    for (unsigned i = 0; i < m->nshards; i++) {
        pthread_mutex_lock(&m->shards[i].mu);
        dropped += shard_sweep(m, &m->shards[i], now_u, 0);
        pthread_mutex_unlock(&m->shards[i].mu);
    }
    return dropped;
}
