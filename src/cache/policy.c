/* policy.c - the eviction policies' common interface (policy.h) over what
 * they share: dense node arrays indexed by 32-bit ids, lists over them and
 * a key map. Each policy lives in its own file (hone's adaptive W-TinyLFU in
 * pol_hone.c, the reference LRU, ARC and S3-FIFO in pol_lru.c, pol_arc.c,
 * pol_s3fifo.c) behind hone__pol_ops (pol_internal.h); the functions here
 * do the common part of each call and hand the rest to p->ops. */
#include "cache/pol_internal.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* nodes, lists and the key map                                        */

static uint32_t node_alloc(hone__pol *p) {
    if (p->free_head != NIL) {
        uint32_t id = p->free_head;
        p->free_head = p->nodes[id].next;
        return id;
    }
    if (p->n_nodes == p->cap_nodes) {
        /* Growing by half, not double: the node array is most of the
         * policy's memory, and doubling leaves up to half of it idle. */
        if (p->cap_nodes > (NIL - 1) / 3 * 2) return NIL;
        uint32_t nc = p->cap_nodes ? p->cap_nodes + p->cap_nodes / 2 : 64;
        /* A policy that knows the most nodes it will need (its
         * node_bound) has the last growth stop there instead of
         * overshooting by up to a half. Only a size hint: past it the
         * array grows as usual. */
        uint64_t most = p->ops->node_bound ? p->ops->node_bound(p) : 0;
        if (most && nc > most && most > p->n_nodes) nc = (uint32_t)most;
        pnode *nn = hone_realloc(p->alloc, p->nodes, (size_t)nc * sizeof *nn);
        if (!nn) return NIL;
        p->nodes = nn;
        p->cap_nodes = nc;
    }
    return p->n_nodes++;
}

static void node_release(hone__pol *p, uint32_t id) {
    p->nodes[id].q = HONE__POL_Q_NONE;
    p->nodes[id].next = p->free_head;
    p->free_head = id;
}

static void slot_put(uint64_t *slots, uint64_t mask, uint64_t h, uint32_t id) {
    uint64_t i = h & mask;
    while (slots[i] != HONE__POL_EMPTY) i = (i + 1) & mask;
    slots[i] = hone__pol_fp_of(h) | id;
}

static int map_grow(hone__pol *p) {
    uint64_t n = (p->slot_mask + 1) * 2;
    uint64_t *ns = hone_malloc(p->alloc, n * sizeof *ns);
    if (!ns) return HONE_ENOMEM;
    memset(ns, 0xff, n * sizeof *ns);
    uint64_t *old = p->slots;
    uint64_t old_n = p->slot_mask + 1;
    p->slots = ns;
    p->slot_mask = n - 1;
    for (uint64_t i = 0; i < old_n; i++)
        if (old[i] != HONE__POL_EMPTY)
            slot_put(ns, p->slot_mask, hone__pol_khash(p->nodes[(uint32_t)old[i]].key),
                     (uint32_t)old[i]);
    hone_free(p->alloc, old);
    return HONE_OK;
}

/* The table stays at most 5/8 full: short probe runs matter more than the
 * bytes. */
int hone__pol_reserve_one(hone__pol *p) {
    if ((p->used_slots + 1) * 8 > (p->slot_mask + 1) * 5 && map_grow(p)) return HONE_ENOMEM;
    uint32_t id = node_alloc(p);
    if (id == NIL) return HONE_ENOMEM;
    node_release(p, id);
    return HONE_OK;
}

uint32_t hone__pol_map_add(hone__pol *p, uint64_t key) {
    uint32_t id = node_alloc(p); /* cannot fail after reserve_one */
    pnode *n = &p->nodes[id];
    memset(n, 0, sizeof *n);
    n->key = key;
    n->prev = n->next = NIL;
    slot_put(p->slots, p->slot_mask, hone__pol_khash(key), id);
    p->used_slots++;
    return id;
}

/* Deletes with backward shift, so linear probing needs no tombstones. */
void hone__pol_map_del(hone__pol *p, uint32_t id) {
    uint64_t i = hone__pol_khash(p->nodes[id].key) & p->slot_mask;
    while ((uint32_t)p->slots[i] != id) i = (i + 1) & p->slot_mask;
    for (uint64_t j = (i + 1) & p->slot_mask;; j = (j + 1) & p->slot_mask) {
        uint64_t o = p->slots[j];
        if (o == HONE__POL_EMPTY) break;
        uint64_t h = hone__pol_khash(p->nodes[(uint32_t)o].key) & p->slot_mask;
        /* o may move to i when its home h is not in (i, j]. */
        if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
            p->slots[i] = o;
            i = j;
        }
    }
    p->slots[i] = HONE__POL_EMPTY;
    p->used_slots--;
    node_release(p, id);
}

void hone__pol_drop(hone__pol *p, uint32_t id) {
    if (p->nodes[id].q != HONE__POL_Q_NONE) hone__pol_unlink(p, id);
    hone__pol_map_del(p, id);
}

void hone__pol_evict_node(hone__pol *p, uint32_t id, hone__pol_evict_fn cb, void *ctx) {
    pnode *n = &p->nodes[id];
    uint64_t key = n->key;
    p->resident_weight -= n->weight;
    p->resident_count--;
    hone__pol_drop(p, id);
    if (cb) cb(ctx, key);
}

void hone__pol_set_weight(hone__pol *p, uint32_t id, uint32_t weight) {
    pnode *n = &p->nodes[id];
    int q = n->q;
    hone__pol_unlink(p, id);
    p->resident_weight = p->resident_weight - n->weight + weight;
    n->weight = weight;
    hone__pol_push_head(p, q, id);
}

size_t hone__pol_touch_each(hone__pol *p, const uint64_t *hits, size_t n) {
    /* The nodes first, then the work. A stale id only costs a useless
     * prefetch: the check before each hit catches it. */
    for (size_t i = 0; i < n; i++) {
        uint32_t id = (uint32_t)(hits[i] >> 32);
        if (id < p->n_nodes) __builtin_prefetch(&p->nodes[id], 1);
    }
    size_t applied = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = (uint32_t)(hits[i] >> 32);
        if (!hone__pol_touch_ok(p, id, (uint32_t)hits[i])) continue;
        p->ops->hit(p, id);
        applied++;
    }
    return applied;
}

/* ------------------------------------------------------------------ */
/* the common interface                                                */

int hone__pol_new(hone__pol **out, int kind, uint64_t capacity, uint64_t entries_hint,
                  const hone_allocator *a) {
    *out = NULL;
    const hone__policy_info *info = hone__policy_info_of(kind);
    if (!info || !info->live || capacity == 0) return HONE_EINVAL;
    const hone__pol_ops *ops = info->live;
    hone__pol *p = hone_calloc(a, 1, ops->size);
    if (!p) return HONE_ENOMEM;
    p->ops = ops;
    p->alloc = a;
    p->resident = ops->resident;
    p->cap = capacity;
    p->free_head = NIL;
    for (int i = 0; i < HONE__POL_LISTS; i++) p->q[i].head = p->q[i].tail = NIL;
    p->slots = hone_malloc(a, 16 * sizeof *p->slots);
    if (!p->slots) goto fail;
    memset(p->slots, 0xff, 16 * sizeof *p->slots);
    p->slot_mask = 15;
    if (ops->init && ops->init(p, entries_hint)) goto fail;
    *out = p;
    return HONE_OK;
fail:
    hone_free(a, p->slots);
    hone_free(a, p);
    return HONE_ENOMEM;
}

void hone__pol_free(hone__pol *p) {
    if (!p) return;
    if (p->ops->fini) p->ops->fini(p);
    hone_free(p->alloc, p->nodes);
    hone_free(p->alloc, p->slots);
    hone_free(p->alloc, p);
}

int hone__pol_get(hone__pol *p, uint64_t key) {
    uint32_t id = hone__pol_map_find(p, key);
    int hit = id != NIL && hone__pol_is_resident(p, id);
    if (hit) p->ops->hit(p, id);
    else if (p->ops->miss) p->ops->miss(p, key);
    return hit;
}

uint32_t hone__pol_node_of(const hone__pol *p, uint64_t key) {
    uint32_t id = hone__pol_map_find(p, key);
    return id != NIL && hone__pol_is_resident(p, id) ? id : HONE__POL_NIL;
}

int hone__pol_touch_node(hone__pol *p, uint32_t id, uint32_t key_lo) {
    if (!hone__pol_touch_ok(p, id, key_lo)) return 0;
    p->ops->hit(p, id);
    return 1;
}

size_t hone__pol_touch_batch(hone__pol *p, const uint64_t *hits, size_t n) {
    return p->ops->touch_batch(p, hits, n);
}

int hone__pol_insert(hone__pol *p, uint64_t key, uint32_t weight,
                     hone__pol_evict_fn cb, void *ctx) {
    return p->ops->insert(p, key, weight, cb, ctx);
}

int hone__pol_access(hone__pol *p, uint64_t key) {
    if (hone__pol_get(p, key)) return 1;
    int rc = hone__pol_insert(p, key, 1, NULL, NULL);
    return rc ? rc : 0;
}

int hone__pol_remove(hone__pol *p, uint64_t key) {
    uint32_t id = hone__pol_map_find(p, key);
    if (id == NIL || !hone__pol_is_resident(p, id)) return 0;
    p->resident_weight -= p->nodes[id].weight;
    p->resident_count--;
    hone__pol_drop(p, id);
    return 1;
}

int hone__pol_reweigh(hone__pol *p, uint64_t key, uint32_t weight, hone__pol_evict_fn cb,
                      void *ctx) {
    uint32_t id = hone__pol_map_find(p, key);
    if (id == NIL || !hone__pol_is_resident(p, id)) return HONE_ENOTFOUND;
    if (p->ops->reweigh) p->ops->reweigh(p, id, weight, cb, ctx);
    return HONE_OK;
}

void hone__pol_set_capacity(hone__pol *p, uint64_t capacity, hone__pol_evict_fn cb, void *ctx) {
    if (capacity == 0) capacity = 1;
    uint64_t old_cap = p->cap;
    p->cap = capacity;
    if (p->ops->resize) p->ops->resize(p, old_cap);
    p->ops->evict_to_cap(p, cb, ctx);
}

uint64_t hone__pol_count(const hone__pol *p) { return p->resident_count; }
uint64_t hone__pol_weight(const hone__pol *p) { return p->resident_weight; }
uint64_t hone__pol_capacity(const hone__pol *p) { return p->cap; }

uint64_t hone__pol_memory(const hone__pol *p) {
    uint64_t m = p->ops->size + (uint64_t)p->cap_nodes * sizeof(pnode) +
                 (p->slot_mask + 1) * sizeof(uint64_t);
    if (p->ops->memory) m += p->ops->memory(p);
    return m;
}

void hone__pol_clear(hone__pol *p, hone__pol_evict_fn cb, void *ctx) {
    /* Reports every resident key first, then forgets all nodes at once:
     * the lists and the key map are rebuilt empty; what the policy learnt
     * beyond them (hone's sketch) is its clear's to keep or reset. */
    for (uint32_t i = 0; i < p->n_nodes; i++)
        if (hone__pol_is_resident(p, i) && cb) cb(ctx, p->nodes[i].key);
    memset(p->slots, 0xff, (p->slot_mask + 1) * sizeof *p->slots);
    p->used_slots = 0;
    p->n_nodes = 0;
    p->free_head = NIL;
    for (int i = 0; i < HONE__POL_LISTS; i++) {
        p->q[i].head = p->q[i].tail = NIL;
        p->q[i].weight = p->q[i].count = 0;
    }
    p->resident_weight = p->resident_count = 0;
    if (p->ops->clear) p->ops->clear(p);
}

int hone__pol_evict_one(hone__pol *p, hone__pol_evict_fn cb, void *ctx) {
    if (p->resident_count == 0) return 0;
    uint64_t cap = p->cap;
    p->cap = p->resident_weight - 1;
    p->ops->evict_to_cap(p, cb, ctx);
    p->cap = cap;
    return 1;
}
