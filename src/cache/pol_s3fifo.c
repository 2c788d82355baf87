/* pol_s3fifo.c - S3-FIFO (Yang et al.), as libCacheSim's S3FIFO.c
 * implements it, over policy.c's nodes and lists. Every key weighs 1. */
#include "cache/pol_internal.h"

enum { Q_SMALL = 1, Q_MAIN, Q_GHOST };

typedef struct s3pol {
    hone__pol base;
    uint64_t small_cap, main_cap, ghost_cap;
    int has_evicted;
} s3pol;

/* A node's freq byte is its access counter. */
static void s3_hit(hone__pol *p, uint32_t id) {
    if (p->nodes[id].freq < 255) p->nodes[id].freq++;
}

static void s3_ghost_add(hone__pol *p, uint32_t id) {
    s3pol *s = (s3pol *)p;
    hone__pol_push_head(p, Q_GHOST, id);
    while (p->q[Q_GHOST].weight > s->ghost_cap) hone__pol_drop(p, p->q[Q_GHOST].tail);
}

static void s3_evict_small(hone__pol *p, hone__pol_evict_fn cb, void *ctx) {
    s3pol *s = (s3pol *)p;
    while (p->q[Q_SMALL].tail != NIL) {
        uint32_t id = p->q[Q_SMALL].tail;
        pnode *n = &p->nodes[id];
        if (n->freq >= 2) {
            n->freq = 0;
            hone__pol_move(p, Q_MAIN, id);
        } else {
            uint64_t key = n->key;
            hone__pol_unlink(p, id);
            p->resident_weight -= n->weight;
            p->resident_count--;
            if (s->ghost_cap > 0) s3_ghost_add(p, id);
            else hone__pol_map_del(p, id);
            if (cb) cb(ctx, key);
            return;
        }
    }
}

static void s3_evict_main(hone__pol *p, hone__pol_evict_fn cb, void *ctx) {
    while (p->q[Q_MAIN].tail != NIL) {
        uint32_t id = p->q[Q_MAIN].tail;
        pnode *n = &p->nodes[id];
        if (n->freq >= 1) {
            n->freq = (uint8_t)((n->freq < 3 ? n->freq : 3) - 1);
            hone__pol_move(p, Q_MAIN, id);
        } else {
            hone__pol_evict_node(p, id, cb, ctx);
            return;
        }
    }
}

static void s3_evict(hone__pol *p, hone__pol_evict_fn cb, void *ctx) {
    s3pol *s = (s3pol *)p;
    s->has_evicted = 1;
    if (p->q[Q_MAIN].weight > s->main_cap || p->q[Q_SMALL].weight == 0)
        s3_evict_main(p, cb, ctx);
    else
        s3_evict_small(p, cb, ctx);
}

static void s3_resize(hone__pol *p, uint64_t old_cap) {
    (void)old_cap;
    s3pol *s = (s3pol *)p;
    s->small_cap = (uint64_t)((double)p->cap * 0.10);
    s->main_cap = p->cap - s->small_cap;
    s->ghost_cap = (uint64_t)((double)p->cap * 0.90);
}

static int s3_init(hone__pol *p, uint64_t entries_hint) {
    (void)entries_hint;
    s3_resize(p, 0);
    return HONE_OK;
}

static int s3_insert(hone__pol *p, uint64_t key, uint32_t weight, hone__pol_evict_fn cb,
                     void *ctx) {
    (void)weight; /* every object weighs 1 */
    s3pol *s = (s3pol *)p;
    if (hone__pol_reserve_one(p)) return HONE_ENOMEM;
    uint32_t ghost = hone__pol_map_find(p, key);
    int on_ghost = ghost != NIL && p->nodes[ghost].q == Q_GHOST;
    if (on_ghost) hone__pol_drop(p, ghost);
    while (p->resident_weight + 1 > p->cap) s3_evict(p, cb, ctx);
    uint32_t id = hone__pol_map_add(p, key);
    p->nodes[id].weight = 1;
    if (on_ghost) hone__pol_push_head(p, Q_MAIN, id);
    else if (s->small_cap == 0) return hone__pol_drop(p, id), HONE_OK;
    else if (!s->has_evicted && p->q[Q_SMALL].weight >= s->small_cap)
        hone__pol_push_head(p, Q_MAIN, id);
    else hone__pol_push_head(p, Q_SMALL, id);
    p->resident_weight++;
    p->resident_count++;
    return HONE_OK;
}

static void s3_evict_to_cap(hone__pol *p, hone__pol_evict_fn cb, void *ctx) {
    while (p->resident_weight > p->cap) s3_evict(p, cb, ctx);
}

static void s3_clear(hone__pol *p) { ((s3pol *)p)->has_evicted = 0; }

const hone__pol_ops hone__pol_s3fifo_ops = {
    .size = sizeof(s3pol),
    .resident = 1u << Q_SMALL | 1u << Q_MAIN,
    .init = s3_init,
    .hit = s3_hit,
    .touch_batch = hone__pol_touch_each,
    .insert = s3_insert,
    .evict_to_cap = s3_evict_to_cap,
    .resize = s3_resize,
    .clear = s3_clear,
};
