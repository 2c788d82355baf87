/* sim.c - replays key traces through a policy, or through a memory tier
 * in front of a disk tier, and counts object hits. */
#include <string.h>

#include "cache/policy.h"
#include "cache/simpol.h"
#include "hone/cache.h"
#include "hone/cachesim.h"
#include "hone/tier.h"

/* A simulator runs hone's policy code (pol) for the policies a cache can
 * use, or one of the simulator's reference policies (ops and its state),
 * as the policy's entry in hone__policy_info_of says. */
struct hone_cache_sim {
    const hone_allocator *alloc;
    hone__pol *pol;
    const hone__simpol_ops *ops;
    void *state;
    uint64_t hits, accesses;
};

int hone_cache_sim_new(hone_cache_sim **out, int policy, uint64_t capacity,
                       const hone_allocator *alloc) {
    *out = NULL;
    hone_cache_sim *s = hone_calloc(alloc, 1, sizeof *s);
    if (!s) return HONE_ENOMEM;
    s->alloc = alloc;
    const hone__policy_info *info = hone__policy_info_of(policy);
    s->ops = info ? info->sim : NULL;
    int rc;
    if (!info || info->offline || !capacity)
        rc = HONE_EINVAL; /* an offline policy: hone_cache_sim_run only */
    else if (s->ops)
        rc = s->ops->create(&s->state, capacity, alloc);
    else
        rc = hone__pol_new(&s->pol, policy, capacity, 0, alloc);
    if (rc) {
        hone_free(alloc, s);
        return rc;
    }
    *out = s;
    return HONE_OK;
}

int hone_cache_sim_access(hone_cache_sim *s, uint64_t key) {
    int r = s->ops ? s->ops->access(s->state, key) : hone__pol_access(s->pol, key);
    if (r < 0) return r;
    s->accesses++;
    s->hits += (uint64_t)r;
    return r;
}

void hone_cache_sim_counts(const hone_cache_sim *s, uint64_t *hits, uint64_t *accesses) {
    if (hits) *hits = s->hits;
    if (accesses) *accesses = s->accesses;
}

double hone_cache_sim_hit_percent(const hone_cache_sim *s) {
    return s->accesses ? 100.0 * (double)s->hits / (double)s->accesses : 0.0;
}

void hone_cache_sim_free(hone_cache_sim *s) {
    if (!s) return;
    if (s->ops)
        s->ops->destroy(s->state);
    else
        hone__pol_free(s->pol);
    hone_free(s->alloc, s);
}

int hone_cache_sim_run(int policy, uint64_t capacity, const uint64_t *keys, size_t n,
                       const hone_allocator *alloc, double *hit_percent) {
    const hone__policy_info *info = hone__policy_info_of(policy);
    if (info && info->offline) {
        uint64_t hits;
        *hit_percent = 0.0;
        int rc = info->offline(keys, n, capacity, alloc, &hits);
        if (rc) return rc;
        if (n) *hit_percent = 100.0 * (double)hits / (double)n;
        return HONE_OK;
    }
    hone_cache_sim *s;
    int rc = hone_cache_sim_new(&s, policy, capacity, alloc);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        rc = hone_cache_sim_access(s, keys[i]);
        if (rc < 0) break;
    }
    *hit_percent = hone_cache_sim_hit_percent(s);
    hone_cache_sim_free(s);
    return rc < 0 ? rc : HONE_OK;
}

/* ------------------------------------------------------------------ */
/* A memory tier in front of a disk tier                               */
/* ------------------------------------------------------------------ */

/* The disk tier's policy over unit-size keys: FIFO with reinsertion
 * (CLOCK). Keys wait in a ring in the order they were written; a read sets
 * the key's bit; eviction takes the oldest key and, when its bit is set,
 * clears it and writes it back at the tail instead. Residents are found
 * through an open-addressing table (linear probing, backward-shift
 * deletion); keys may be any 64-bit value, so each slot has a state byte
 * beside its key. */
typedef struct clock_sim {
    const hone_allocator *a;
    uint64_t cap, head, count;
    uint64_t *ring;
    uint64_t *tkey;
    uint8_t *tref; /* 0 empty, 1 resident, 2 resident and referenced */
    size_t mask;
} clock_sim;

static uint64_t mix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdu;
    k ^= k >> 33;
    return k;
}

static size_t clock_find(const clock_sim *s, uint64_t key) {
    size_t i = (size_t)mix64(key) & s->mask;
    while (s->tref[i] && s->tkey[i] != key) i = (i + 1) & s->mask;
    return i;
}

static void clock_erase(clock_sim *s, size_t i) {
    s->tref[i] = 0;
    for (size_t j = (i + 1) & s->mask; s->tref[j]; j = (j + 1) & s->mask) {
        size_t home = (size_t)mix64(s->tkey[j]) & s->mask;
        /* j's entry may move to the hole at i when i lies on its probe
         * path, from home to j (cyclically). */
        if (((j - home) & s->mask) >= ((j - i) & s->mask)) {
            s->tkey[i] = s->tkey[j];
            s->tref[i] = s->tref[j];
            s->tref[j] = 0;
            i = j;
        }
    }
}

/* Returns 1 on a hit (the key's bit set), 0 on a miss (the key written,
 * evicting as needed). */
static int clock_access(clock_sim *s, uint64_t key) {
    size_t i = clock_find(s, key);
    if (s->tref[i]) {
        s->tref[i] = 2;
        return 1;
    }
    while (s->count == s->cap) {
        uint64_t old = s->ring[s->head];
        s->head = (s->head + 1) % s->cap;
        s->count--;
        size_t j = clock_find(s, old);
        if (s->tref[j] == 2) {
            s->tref[j] = 1;
            s->ring[(s->head + s->count) % s->cap] = old;
            s->count++;
        } else {
            clock_erase(s, j);
        }
    }
    i = clock_find(s, key);
    s->tkey[i] = key;
    s->tref[i] = 1;
    s->ring[(s->head + s->count) % s->cap] = key;
    s->count++;
    return 0;
}

int hone_cache_sim_tiered(int memory_policy, uint64_t memory_capacity, uint64_t disk_capacity,
                          const uint64_t *keys, size_t n, const hone_allocator *alloc,
                          hone_cache_tier_sim *out) {
    memset(out, 0, sizeof *out);
    if (!disk_capacity || disk_capacity > ((uint64_t)1 << 32)) return HONE_EINVAL;
    hone_cache_sim *m = NULL;
    int rc = memory_capacity ? hone_cache_sim_new(&m, memory_policy, memory_capacity, alloc)
                             : HONE_OK;
    if (rc) return rc;
    clock_sim d = {alloc, disk_capacity, 0, 0, NULL, NULL, NULL, 0};
    size_t slots = 16;
    while (slots < 2 * disk_capacity) slots *= 2;
    d.mask = slots - 1;
    d.ring = hone_malloc(alloc, disk_capacity * sizeof *d.ring);
    d.tkey = hone_malloc(alloc, slots * sizeof *d.tkey);
    d.tref = hone_calloc(alloc, slots, 1);
    if (!d.ring || !d.tkey || !d.tref) rc = HONE_ENOMEM;
    uint64_t mh = 0, dh = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        /* A memory miss reads the disk tier: a hit there is promoted
         * (the memory policy's access has already inserted the key), a
         * miss writes the key to both. Memory hits never reach the disk
         * tier, whose bits then see only what memory could not serve. */
        int r = m ? hone_cache_sim_access(m, keys[i]) : 0;
        if (r < 0) {
            rc = r;
            break;
        }
        if (r) {
            mh++;
            continue;
        }
        dh += (uint64_t)clock_access(&d, keys[i]);
    }
    hone_free(alloc, d.ring);
    hone_free(alloc, d.tkey);
    hone_free(alloc, d.tref);
    hone_cache_sim_free(m);
    if (rc) return rc;
    out->accesses = n;
    if (n) {
        out->memory_hit_percent = 100.0 * (double)mh / (double)n;
        out->disk_hit_percent = 100.0 * (double)dh / (double)n;
        out->hit_percent = 100.0 * (double)(mh + dh) / (double)n;
    }
    return HONE_OK;
}
