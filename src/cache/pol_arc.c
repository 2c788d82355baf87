/* pol_arc.c - ARC (Megiddo and Modha), as libCacheSim implements it, over
 * policy.c's nodes and lists. Every key weighs 1. */
#include "cache/pol_internal.h"

enum { Q_T1 = 1, Q_T2, Q_B1, Q_B2 };

typedef struct arcpol {
    hone__pol base;
    uint64_t arc_p; /* the target size of T1 */
} arcpol;

static void arc_hit(hone__pol *p, uint32_t id) { hone__pol_move(p, Q_T2, id); }

static void arc_replace(hone__pol *p, int in_b2) {
    arcpol *a = (arcpol *)p;
    uint64_t t1 = p->q[Q_T1].weight;
    uint32_t id;
    if (t1 > 0 && (t1 > a->arc_p || (t1 == a->arc_p && in_b2))) {
        id = p->q[Q_T1].tail;
        hone__pol_move(p, Q_B1, id);
    } else {
        id = p->q[Q_T2].tail;
        hone__pol_move(p, Q_B2, id);
    }
    p->resident_weight -= p->nodes[id].weight;
    p->resident_count--;
}

/* Makes room for one page on a complete miss (not in B1 or B2). */
static void arc_make_room(hone__pol *p, hone__pol_evict_fn cb, void *ctx) {
    uint64_t c = p->cap;
    while (p->resident_weight + 1 > c) {
        uint64_t l1 = p->q[Q_T1].weight + p->q[Q_B1].weight;
        if (l1 + 1 > c) {
            if (p->q[Q_T1].weight < c) {
                hone__pol_drop(p, p->q[Q_B1].tail);
                arc_replace(p, 0);
            } else {
                hone__pol_evict_node(p, p->q[Q_T1].tail, cb, ctx);
            }
        } else {
            uint64_t all = l1 + p->q[Q_T2].weight + p->q[Q_B2].weight;
            if (all >= 2 * c && p->q[Q_B2].tail != NIL) hone__pol_drop(p, p->q[Q_B2].tail);
            arc_replace(p, 0);
        }
    }
}

static int arc_insert(hone__pol *p, uint64_t key, uint32_t weight, hone__pol_evict_fn cb,
                      void *ctx) {
    (void)weight; /* every page weighs 1 */
    arcpol *a = (arcpol *)p;
    if (hone__pol_reserve_one(p)) return HONE_ENOMEM;
    uint32_t ghost = hone__pol_map_find(p, key);
    int q = ghost != NIL ? p->nodes[ghost].q : HONE__POL_Q_NONE;
    if (q == Q_B1 || q == Q_B2) {
        uint64_t b1 = p->q[Q_B1].weight, b2 = p->q[Q_B2].weight;
        if (q == Q_B1) {
            uint64_t d = b2 / b1 > 1 ? b2 / b1 : 1;
            a->arc_p = a->arc_p + d < p->cap ? a->arc_p + d : p->cap;
        } else {
            uint64_t d = b1 / b2 > 1 ? b1 / b2 : 1;
            a->arc_p = a->arc_p > d ? a->arc_p - d : 0;
        }
        if (p->resident_count > 0) arc_replace(p, q == Q_B2);
        hone__pol_unlink(p, ghost);
        /* Pages pushed to B1/B2 by replace are ghosts: nobody holds
         * them any more, so only their keys are kept. */
        p->nodes[ghost].weight = 1;
        arc_make_room(p, cb, ctx);
        hone__pol_push_head(p, Q_T2, ghost);
    } else {
        arc_make_room(p, cb, ctx);
        uint32_t id = hone__pol_map_add(p, key);
        p->nodes[id].weight = 1;
        hone__pol_push_head(p, Q_T1, id);
    }
    p->resident_weight++;
    p->resident_count++;
    return HONE_OK;
}

static void arc_evict_to_cap(hone__pol *p, hone__pol_evict_fn cb, void *ctx) {
    arcpol *a = (arcpol *)p;
    while (p->resident_weight > p->cap) {
        uint32_t id = p->q[Q_T1].tail != NIL ? p->q[Q_T1].tail : p->q[Q_T2].tail;
        hone__pol_evict_node(p, id, cb, ctx);
    }
    if (a->arc_p > p->cap) a->arc_p = p->cap;
}

static void arc_clear(hone__pol *p) { ((arcpol *)p)->arc_p = 0; }

const hone__pol_ops hone__pol_arc_ops = {
    .size = sizeof(arcpol),
    .resident = 1u << Q_T1 | 1u << Q_T2,
    .hit = arc_hit,
    .touch_batch = hone__pol_touch_each,
    .insert = arc_insert,
    .evict_to_cap = arc_evict_to_cap,
    .clear = arc_clear,
};
