/* policy.h - the eviction policies (hone's adaptive W-TinyLFU and the
 * reference LRU, ARC and S3-FIFO) over 64-bit keys, shared by the trace
 * simulator and the concurrent cache's shards. Not thread-safe: callers
 * serialise access to one policy. */
#ifndef HONE_CACHE_POLICY_H
#define HONE_CACHE_POLICY_H

#include <stdint.h>

#include "hone/core.h"
#include "hone/cachesim.h"

#define HONE__POL_NIL UINT32_MAX

typedef struct hone__pol hone__pol;

/* Called for every resident key the policy drops (ghost entries are not
 * reported). The policy holds keys only: a caller that stores values looks
 * them up by key (the cache, in its own index). */
typedef void (*hone__pol_evict_fn)(void *ctx, uint64_t key);

/* kind is a hone_cache_policy value. capacity is in weight units (entries
 * when every weight is 1); only the hone policy and LRU accept weights
 * other than 1. entries_hint 0 sizes the hone policy's frequency sketch
 * and sample period for `capacity` entries at once (the simulator);
 * nonzero sizes them for about that many entries, the sketch starting
 * small and growing with the entries held (the cache, whose capacity may
 * be bytes or far above what it will hold). Returns HONE_OK, HONE_EINVAL
 * or HONE_ENOMEM. */
int hone__pol_new(hone__pol **out, int kind, uint64_t capacity, uint64_t entries_hint,
                  const hone_allocator *a);
void hone__pol_free(hone__pol *p);

/* Looks key up; on a hit updates recency/frequency and returns 1. On a
 * miss records the reference (the frequency sketch counts misses too) and
 * returns 0. */
int hone__pol_get(hone__pol *p, uint64_t key);

/* The node id of a resident key, or HONE__POL_NIL. Ids stay the same while
 * the key is resident. */
uint32_t hone__pol_node_of(const hone__pol *p, uint64_t key);

/* A hit replayed later (the cache's read buffers), by node id without a
 * key lookup: exactly what hone__pol_get does on a hit, applied when node id
 * is resident and its key's low 32 bits are key_lo (a stale id, reused by
 * another key since, is almost always told apart and then ignored).
 * Returns 1 when applied, else 0. */
int hone__pol_touch_node(hone__pol *p, uint32_t id, uint32_t key_lo);
/* hone__pol_touch_node for n hits, each packed as id << 32 | key_lo, in
 * order. The same decisions as n single calls; the memory each touch will
 * need (the node, its sketch block, its list neighbours) is prefetched for
 * the whole batch first, so the cache misses overlap instead of following
 * one another. Returns the number of hits applied. */
size_t hone__pol_touch_batch(hone__pol *p, const uint64_t *hits, size_t n);

/* Inserts a key that hone__pol_get just missed, with its weight. May
 * evict other keys or the new key itself (through cb). Returns HONE_OK or
 * HONE_ENOMEM (nothing changed). */
int hone__pol_insert(hone__pol *p, uint64_t key, uint32_t weight, hone__pol_evict_fn cb,
                     void *ctx);

/* The simulator's access: get, and insert on a miss. Returns 1 hit, 0 miss,
 * or HONE_ENOMEM. */
int hone__pol_access(hone__pol *p, uint64_t key);

/* Removes a resident key without reporting it; returns 1, or 0 when it is
 * not resident. */
int hone__pol_remove(hone__pol *p, uint64_t key);

/* Changes the weight of a resident key and evicts as needed. */
int hone__pol_reweigh(hone__pol *p, uint64_t key, uint32_t weight, hone__pol_evict_fn cb,
                      void *ctx);

/* Sets a new capacity, evicting (through cb) down to it. */
void hone__pol_set_capacity(hone__pol *p, uint64_t capacity, hone__pol_evict_fn cb, void *ctx);

/* Drops every resident key (reporting each through cb) and all ghosts. */
void hone__pol_clear(hone__pol *p, hone__pol_evict_fn cb, void *ctx);

/* Evicts one entry the way the policy would to make room; returns 1, or 0
 * when nothing is resident. Used to enforce a second (entry count) limit. */
int hone__pol_evict_one(hone__pol *p, hone__pol_evict_fn cb, void *ctx);

/* Resident keys, their total weight, and bytes of memory the policy holds. */
uint64_t hone__pol_count(const hone__pol *p);
uint64_t hone__pol_weight(const hone__pol *p);
uint64_t hone__pol_capacity(const hone__pol *p);
uint64_t hone__pol_memory(const hone__pol *p);

/* ------------------------------------------------------------------ */
/* every policy kind (pol_table.c)                                     */

struct hone__pol_ops;
struct hone__simpol_ops;

/* What runs a hone_cache_policy value; exactly one of live, sim and
 * offline is set. live: a policy of hone__pol_new's (the cache's and the
 * simulator's; pol_internal.h). sim: one of the simulator's reference
 * policies (simpol.h). offline: a policy that needs the whole trace
 * (Belady), which puts the hits of keys[0..n) in a cache of `capacity`
 * objects in *hits and returns HONE_OK, HONE_EINVAL or HONE_ENOMEM. */
typedef struct hone__policy_info {
    const char *name; /* hone_cache_policy_name's */
    const struct hone__pol_ops *live;
    const struct hone__simpol_ops *sim;
    int (*offline)(const uint64_t *keys, size_t n, uint64_t capacity, const hone_allocator *a,
                   uint64_t *hits);
} hone__policy_info;

/* The entry of kind, or NULL when kind is no hone_cache_policy value. */
const hone__policy_info *hone__policy_info_of(int kind);

/* A strong 64-bit mix, used for sketch indexes. */
static inline uint64_t hone__mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#endif
