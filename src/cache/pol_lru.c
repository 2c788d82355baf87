/* pol_lru.c - LRU, the reference every policy is measured against, over
 * policy.c's nodes and lists. The only reference policy that takes
 * weights. */
#include "cache/pol_internal.h"

enum { Q_LRU = 1 };

static void lru_hit(hone__pol *p, uint32_t id) { hone__pol_move(p, Q_LRU, id); }

static void lru_evict_to_cap(hone__pol *p, hone__pol_evict_fn cb, void *ctx) {
    while (p->resident_weight > p->cap) hone__pol_evict_node(p, p->q[Q_LRU].tail, cb, ctx);
}

static int lru_insert(hone__pol *p, uint64_t key, uint32_t weight, hone__pol_evict_fn cb,
                      void *ctx) {
    if (hone__pol_reserve_one(p)) return HONE_ENOMEM;
    uint32_t id = hone__pol_map_add(p, key);
    p->nodes[id].weight = weight;
    p->resident_weight += weight;
    p->resident_count++;
    hone__pol_push_head(p, Q_LRU, id);
    while (p->resident_weight > p->cap && p->q[Q_LRU].tail != NIL)
        hone__pol_evict_node(p, p->q[Q_LRU].tail, cb, ctx);
    return HONE_OK;
}

static void lru_reweigh(hone__pol *p, uint32_t id, uint32_t weight, hone__pol_evict_fn cb,
                        void *ctx) {
    hone__pol_set_weight(p, id, weight);
    lru_evict_to_cap(p, cb, ctx);
}

const hone__pol_ops hone__pol_lru_ops = {
    .size = sizeof(hone__pol),
    .resident = 1u << Q_LRU,
    .hit = lru_hit,
    .touch_batch = hone__pol_touch_each,
    .insert = lru_insert,
    .evict_to_cap = lru_evict_to_cap,
    .reweigh = lru_reweigh,
};
