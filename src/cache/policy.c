/* policy.c - hone's adaptive W-TinyLFU policy and the reference LRU, ARC
 * and S3-FIFO, over dense node arrays indexed by 32-bit ids. */
#include "cache/policy.h"

#include <string.h>

#include "hone/cache.h"

enum {
    Q_NONE,
    Q_LRU,
    Q_T1, Q_T2, Q_B1, Q_B2,          /* ARC */
    Q_SMALL, Q_MAIN, Q_GHOST,        /* S3-FIFO */
    Q_WINDOW, Q_PROB, Q_PROT,        /* hone */
    Q_GW, Q_GM,                      /* hone's ghosts of window and main */
    Q_COUNT
};

#define NIL HONE__POL_NIL

/* The window starts at 1 % of the capacity (TinyLFU's default), the
 * protected segment holds 90 % of the main space, and the hill climber
 * samples the hit rate every 10 x capacity accesses, stepping 6.25 % of the
 * capacity, restarting its step after a 5 % change in hit rate and decaying
 * it by 2 % otherwise (Caffeine's constants). The ghost lists each remember
 * 20 % of the capacity; a ghost hit moves the window by the entry's
 * weight, scaled like ARC by the ratio of the ghost list sizes. The sketch
 * has 8 counters per row for each unit of capacity: narrower rows saturate
 * on traces with many more distinct keys than the cache holds (OLTP). The
 * values were chosen on the simulator over the SOURCES.md traces; see
 * docs/design/cache.md for what each changes. */
#define HONE_WINDOW_START 0.01
#define HONE_PROT_SHARE 0.90
#define HONE_STEP 0.0625
#define HONE_RESTART 0.05
#define HONE_DECAY 0.98
#define HONE_SAMPLE 10
#define HONE_GHOST_SHARE 0.20
#define HONE_GHOST_UNIT 1.0
#define HONE_SKETCH_WIDTH 8
/* hone's node flags (in the node's freq byte, which only S3-FIFO counts
 * with): admitted on a ghost's word and not hit since; and a key whose
 * ghost admission failed (it left again without a hit), whose ghost hits
 * count for nothing until a hit proves it. */
#define FL_BYPASSED 1
#define FL_FAILED 2

typedef struct pnode {
    uint64_t key;
    uint32_t prev, next; /* toward head (MRU) and toward tail (LRU) */
    uint32_t weight;
    uint8_t q;
    uint8_t freq; /* S3-FIFO's access counter; hone: the FL_ flags */
    uint16_t pad;
} pnode;

typedef struct plist {
    uint32_t head, tail;
    uint64_t weight, count;
} plist;

/* Count-min sketch of 4-bit counters, 4 rows, halved ("aged") after
 * `sample` increments so that old popularity fades. */
typedef struct sketch {
    uint8_t *t;       /* two counters per byte, in 64-byte blocks */
    uint64_t nblocks; /* 128 counters each: 4 rows of 32 */
    uint64_t adds, sample;
} sketch;

struct hone__pol {
    const hone_allocator *alloc;
    int kind;
    uint64_t cap;
    pnode *nodes;
    uint32_t n_nodes, cap_nodes, free_head;
    uint64_t *slots; /* open addressing, linear probing; EMPTY = free */
    uint64_t slot_mask, used_slots;
    plist q[Q_COUNT];
    uint64_t resident_weight, resident_count;
    /* ARC */
    uint64_t arc_p;
    /* S3-FIFO */
    uint64_t small_cap, main_cap, ghost_cap;
    int has_evicted;
    /* hone */
    sketch sk;
    uint64_t window_max, prot_max, hghost_cap;
    uint64_t sample_hits, sample_misses, sample_period;
    double prev_rate, step;
    uint64_t rng;
    uint64_t sk_sized, sk_target; /* lazy sketch growth; 0: sized at once */
    int unit_weights;             /* no weight other than 1 seen yet */
};

#define SKETCH_FIRST 4096

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
        /* While every weight is 1, hone's nodes never outnumber the
         * capacity plus both ghost lists (and the one reserve_one takes):
         * the last growth stops there instead of overshooting by up to a
         * half. Only a size hint: past it the array grows as usual. */
        uint64_t most = p->cap + 2 * p->hghost_cap + 2;
        if (p->kind == HONE_CACHE_POLICY_HONE && p->unit_weights && nc > most &&
            most > p->n_nodes)
            nc = (uint32_t)most;
        pnode *nn = hone_realloc(p->alloc, p->nodes, (size_t)nc * sizeof *nn);
        if (!nn) return NIL;
        p->nodes = nn;
        p->cap_nodes = nc;
    }
    return p->n_nodes++;
}

static void node_release(hone__pol *p, uint32_t id) {
    p->nodes[id].q = Q_NONE;
    p->nodes[id].next = p->free_head;
    p->free_head = id;
}

static void l_unlink(hone__pol *p, uint32_t id) {
    pnode *n = &p->nodes[id];
    plist *l = &p->q[n->q];
    if (n->prev != NIL) p->nodes[n->prev].next = n->next; else l->head = n->next;
    if (n->next != NIL) p->nodes[n->next].prev = n->prev; else l->tail = n->prev;
    l->weight -= n->weight;
    l->count--;
    n->q = Q_NONE;
}

static void l_push_head(hone__pol *p, int q, uint32_t id) {
    pnode *n = &p->nodes[id];
    plist *l = &p->q[q];
    n->q = (uint8_t)q;
    n->prev = NIL;
    n->next = l->head;
    if (l->head != NIL) p->nodes[l->head].prev = id; else l->tail = id;
    l->head = id;
    l->weight += n->weight;
    l->count++;
}

static void l_move(hone__pol *p, int q, uint32_t id) {
    l_unlink(p, id);
    l_push_head(p, q, id);
}

/* A slot packs a 32-bit fingerprint of the key's hash above the node id,
 * so that probing rarely touches a node that is not the one sought. */
#define EMPTY UINT64_MAX

static uint64_t khash(uint64_t key) { return hone__mix64(key ^ 0x9e3779b97f4a7c15ULL); }
static uint64_t fp_of(uint64_t h) { return h & 0xffffffff00000000ULL; }

static uint32_t map_find(const hone__pol *p, uint64_t key) {
    uint64_t h = khash(key), fp = fp_of(h);
    for (uint64_t i = h & p->slot_mask;; i = (i + 1) & p->slot_mask) {
        uint64_t s = p->slots[i];
        if (s == EMPTY) return NIL;
        if ((s & 0xffffffff00000000ULL) == fp && p->nodes[(uint32_t)s].key == key)
            return (uint32_t)s;
    }
}

static void slot_put(uint64_t *slots, uint64_t mask, uint64_t h, uint32_t id) {
    uint64_t i = h & mask;
    while (slots[i] != EMPTY) i = (i + 1) & mask;
    slots[i] = fp_of(h) | id;
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
        if (old[i] != EMPTY)
            slot_put(ns, p->slot_mask, khash(p->nodes[(uint32_t)old[i]].key), (uint32_t)old[i]);
    hone_free(p->alloc, old);
    return HONE_OK;
}

/* Makes room for one more map entry and one more node, so that the insert
 * that follows cannot fail half way. The table stays at most 5/8 full:
 * short probe runs matter more than the bytes. */
static int reserve_one(hone__pol *p) {
    if ((p->used_slots + 1) * 8 > (p->slot_mask + 1) * 5 && map_grow(p)) return HONE_ENOMEM;
    uint32_t id = node_alloc(p);
    if (id == NIL) return HONE_ENOMEM;
    node_release(p, id);
    return HONE_OK;
}

static uint32_t map_add(hone__pol *p, uint64_t key) {
    uint32_t id = node_alloc(p); /* cannot fail after reserve_one */
    pnode *n = &p->nodes[id];
    memset(n, 0, sizeof *n);
    n->key = key;
    n->prev = n->next = NIL;
    slot_put(p->slots, p->slot_mask, khash(key), id);
    p->used_slots++;
    return id;
}

/* Deletes with backward shift, so linear probing needs no tombstones. */
static void map_del(hone__pol *p, uint32_t id) {
    uint64_t i = khash(p->nodes[id].key) & p->slot_mask;
    while ((uint32_t)p->slots[i] != id) i = (i + 1) & p->slot_mask;
    for (uint64_t j = (i + 1) & p->slot_mask;; j = (j + 1) & p->slot_mask) {
        uint64_t o = p->slots[j];
        if (o == EMPTY) break;
        uint64_t h = khash(p->nodes[(uint32_t)o].key) & p->slot_mask;
        /* o may move to i when its home h is not in (i, j]. */
        if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
            p->slots[i] = o;
            i = j;
        }
    }
    p->slots[i] = EMPTY;
    p->used_slots--;
    node_release(p, id);
}

/* Drops a resident or ghost node entirely. */
static void drop(hone__pol *p, uint32_t id) {
    if (p->nodes[id].q != Q_NONE) l_unlink(p, id);
    map_del(p, id);
}

static int is_resident_q(int q) {
    return q == Q_LRU || q == Q_T1 || q == Q_T2 || q == Q_SMALL || q == Q_MAIN ||
           q == Q_WINDOW || q == Q_PROB || q == Q_PROT;
}

/* Evicts a resident node: reports it and forgets it. */
static void evict_node(hone__pol *p, uint32_t id, hone__pol_evict_fn cb, void *ctx) {
    pnode *n = &p->nodes[id];
    uint64_t key = n->key;
    p->resident_weight -= n->weight;
    p->resident_count--;
    drop(p, id);
    if (cb) cb(ctx, key);
}

/* Evicts a resident node but remembers its key on ghost list q, trimmed
 * to `limit` weight. */
static void evict_to_ghost(hone__pol *p, uint32_t id, int q, uint64_t limit,
                           hone__pol_evict_fn cb, void *ctx) {
    pnode *n = &p->nodes[id];
    uint64_t key = n->key;
    p->resident_weight -= n->weight;
    p->resident_count--;
    l_unlink(p, id);
    if (p->kind == HONE_CACHE_POLICY_HONE && (n->freq & FL_BYPASSED))
        n->freq = FL_FAILED; /* admitted on a ghost's word, never hit */
    if (limit == 0) map_del(p, id);
    else {
        l_push_head(p, q, id);
        while (p->q[q].weight > limit && p->q[q].tail != NIL) drop(p, p->q[q].tail);
    }
    if (cb) cb(ctx, key);
}

/* ------------------------------------------------------------------ */
/* the frequency sketch                                                */

static int sketch_init(hone__pol *p, uint64_t cap) {
    /* HONE_SKETCH_WIDTH counters per row for each unit of capacity, in
     * whole blocks; at most 2^22 blocks (256 MiB): beyond that the sketch
     * would cost more than the entries it judges. */
    uint64_t c = cap < 16 ? 16 : cap;
    uint64_t nb = (c * HONE_SKETCH_WIDTH + 31) / 32;
    if (nb > (1ULL << 22)) nb = 1ULL << 22;
    uint8_t *t = hone_calloc(p->alloc, (size_t)(nb * 64), 1);
    if (!t) return HONE_ENOMEM;
    hone_free(p->alloc, p->sk.t);
    p->sk.t = t;
    p->sk.nblocks = nb;
    p->sk.adds = 0;
    p->sk.sample = 10 * (cap ? cap : 1);
    return HONE_OK;
}

/* The block of a key: its hash scaled onto [0, nblocks) (a multiply, not a
 * modulo, so the block count need not be a power of two). */
static uint64_t sk_block(const sketch *s, uint64_t h) {
    return ((h & 0xffffffffu) * s->nblocks) >> 32; /* nblocks <= 2^22: no overflow */
}

static unsigned sk_get(const sketch *s, uint64_t idx) {
    return (s->t[idx >> 1] >> ((idx & 1) * 4)) & 15;
}

static void sk_inc_at(sketch *s, uint64_t idx) {
    s->t[idx >> 1] = (uint8_t)(s->t[idx >> 1] + (1u << ((idx & 1) * 4)));
}

/* The four counters of a key lie in one 64-byte block (128 counters, a
 * 32-counter row each), so that reading or bumping them costs one cache
 * miss instead of four; the block and the positions come from one mix. */
/* The mix of a key that places it in the sketch: block (low half) and
 * counters (high half). */
static uint64_t sk_hash(uint64_t key) { return hone__mix64(key + 0x9e3779b97f4a7c15ULL); }

static void sk_indexes(const sketch *s, uint64_t key, uint64_t idx[4]) {
    uint64_t h = sk_hash(key);
    uint64_t base = sk_block(s, h) * 128;
    uint64_t x = h >> 32;
    for (int r = 0; r < 4; r++) idx[r] = base + (uint64_t)r * 32 + ((x >> (r * 5)) & 31);
}

static unsigned sketch_freq(const sketch *s, uint64_t key) {
    uint64_t idx[4];
    sk_indexes(s, key, idx);
    unsigned m = 15;
    for (int r = 0; r < 4; r++) {
        unsigned v = sk_get(s, idx[r]);
        if (v < m) m = v;
    }
    return m;
}

static void sketch_add(sketch *s, uint64_t key) {
    /* Conservative update: only the minimal counters grow, which keeps
     * collisions from inflating rarely seen keys. */
    uint64_t idx[4];
    sk_indexes(s, key, idx);
    unsigned m = 15;
    for (int r = 0; r < 4; r++) {
        unsigned v = sk_get(s, idx[r]);
        if (v < m) m = v;
    }
    if (m == 15) return;
    for (int r = 0; r < 4; r++)
        if (sk_get(s, idx[r]) == m) sk_inc_at(s, idx[r]);
    if (++s->adds >= s->sample) {
        uint64_t bytes = s->nblocks * 64;
        for (uint64_t i = 0; i < bytes; i++) s->t[i] = (uint8_t)((s->t[i] >> 1) & 0x77);
        s->adds /= 2;
    }
}

/* ------------------------------------------------------------------ */
/* hone: W-TinyLFU with a hill-climbing window                        */


static void hone_set_window(hone__pol *p, uint64_t w) {
    uint64_t minw = 1;
    if (p->cap <= 1) w = p->cap;
    else if (w < minw) w = minw;
    else if (w > p->cap - 1) w = p->cap - 1;
    p->window_max = w;
    p->prot_max = (uint64_t)((double)(p->cap - w) * HONE_PROT_SHARE);
}

static void hone_rebalance(hone__pol *p) {
    /* A smaller window hands its oldest entries to probation (they keep
     * their place in the cache); a smaller main demotes protected ones. */
    while (p->q[Q_WINDOW].weight > p->window_max && p->q[Q_WINDOW].tail != NIL)
        l_move(p, Q_PROB, p->q[Q_WINDOW].tail);
    while (p->q[Q_PROT].weight > p->prot_max && p->q[Q_PROT].tail != NIL)
        l_move(p, Q_PROB, p->q[Q_PROT].tail);
}

static void hone_climb(hone__pol *p, int hit) {
    if (hit) p->sample_hits++; else p->sample_misses++;
    uint64_t n = p->sample_hits + p->sample_misses;
    if (n < p->sample_period) return;
    double rate = (double)p->sample_hits / (double)n;
    double change = rate - p->prev_rate;
    double amount = change >= 0 ? p->step : -p->step;
    double mag = change < 0 ? -change : change;
    p->step = mag >= HONE_RESTART ? HONE_STEP * (double)p->cap * (amount >= 0 ? 1 : -1)
                                  : HONE_DECAY * amount;
    p->prev_rate = rate;
    p->sample_hits = p->sample_misses = 0;
    int64_t w = (int64_t)p->window_max + (int64_t)amount;
    if (w < 0) w = 0;
    hone_set_window(p, (uint64_t)w);
    hone_rebalance(p);
}

static int hone_admit(hone__pol *p, uint64_t cand, uint64_t victim) {
    unsigned fc = sketch_freq(&p->sk, cand), fv = sketch_freq(&p->sk, victim);
    if (fc > fv) return 1;
    /* A popular candidate losing to a more popular victim is still let in
     * now and then, so an attacker cannot pin the victim by flooding. */
    if (fc >= 6) {
        p->rng ^= p->rng << 13, p->rng ^= p->rng >> 7, p->rng ^= p->rng << 17;
        return (p->rng & 127) == 0;
    }
    return 0;
}

static void hone_evict(hone__pol *p, uint32_t cand, hone__pol_evict_fn cb, void *ctx) {
    while (p->resident_weight > p->cap) {
        uint32_t victim = p->q[Q_PROB].tail;
        if (victim == NIL) victim = p->q[Q_PROT].tail;
        if (victim == NIL) victim = p->q[Q_WINDOW].tail;
        if (victim == NIL) break;
        if (cand != NIL && cand != victim) {
            if (hone_admit(p, p->nodes[cand].key, p->nodes[victim].key)) {
                evict_to_ghost(p, victim, Q_GM, p->hghost_cap, cb, ctx);
            } else {
                evict_to_ghost(p, cand, Q_GW, p->hghost_cap, cb, ctx);
                cand = NIL;
            }
        } else {
            if (victim == cand) cand = NIL;
            evict_to_ghost(p, victim, p->nodes[victim].q == Q_WINDOW ? Q_GW : Q_GM, p->hghost_cap, cb, ctx);
        }
    }
}

static void hone_hit(hone__pol *p, uint32_t id) {
    p->nodes[id].freq = 0; /* a hit proves the key, however it came in */
    switch (p->nodes[id].q) {
    case Q_WINDOW: l_move(p, Q_WINDOW, id); break;
    case Q_PROB:
        l_move(p, Q_PROT, id);
        while (p->q[Q_PROT].weight > p->prot_max && p->q[Q_PROT].tail != NIL)
            l_move(p, Q_PROB, p->q[Q_PROT].tail);
        break;
    default: l_move(p, Q_PROT, id); break;
    }
}

/* Inserts a new key into the window, or straight into main segment
 * `direct` (Q_PROB, Q_PROT) when a ghost list vouched for it. */
static void hone_insert(hone__pol *p, uint32_t id, int direct, hone__pol_evict_fn cb,
                        void *ctx) {
    if (direct != Q_NONE) {
        l_push_head(p, direct, id);
        while (p->q[Q_PROT].weight > p->prot_max && p->q[Q_PROT].tail != NIL)
            l_move(p, Q_PROB, p->q[Q_PROT].tail);
        hone_evict(p, NIL, cb, ctx);
        return;
    }
    if (p->sk_target && p->resident_count > p->sk_sized && p->sk_sized < p->sk_target) {
        uint64_t n = p->sk_sized * 4 < p->sk_target ? p->sk_sized * 4 : p->sk_target;
        if (sketch_init(p, n) == HONE_OK) p->sk_sized = n;
        else p->sk_target = p->sk_sized; /* stay small rather than fail */
    }
    l_push_head(p, Q_WINDOW, id);
    uint32_t cand = NIL;
    while (p->q[Q_WINDOW].weight > p->window_max && p->q[Q_WINDOW].tail != NIL) {
        cand = p->q[Q_WINDOW].tail;
        l_move(p, Q_PROB, cand);
    }
    hone_evict(p, cand, cb, ctx);
}

/* ------------------------------------------------------------------ */
/* ARC (Megiddo and Modha), as libCacheSim implements it               */

static void arc_replace(hone__pol *p, int in_b2) {
    uint64_t t1 = p->q[Q_T1].weight;
    uint32_t id;
    if (t1 > 0 && (t1 > p->arc_p || (t1 == p->arc_p && in_b2))) {
        id = p->q[Q_T1].tail;
        l_move(p, Q_B1, id);
    } else {
        id = p->q[Q_T2].tail;
        l_move(p, Q_B2, id);
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
                drop(p, p->q[Q_B1].tail);
                arc_replace(p, 0);
            } else {
                evict_node(p, p->q[Q_T1].tail, cb, ctx);
            }
        } else {
            uint64_t all = l1 + p->q[Q_T2].weight + p->q[Q_B2].weight;
            if (all >= 2 * c && p->q[Q_B2].tail != NIL) drop(p, p->q[Q_B2].tail);
            arc_replace(p, 0);
        }
    }
}

/* ------------------------------------------------------------------ */
/* S3-FIFO (Yang et al.), as libCacheSim's S3FIFO.c implements it      */

static void s3_ghost_add(hone__pol *p, uint32_t id) {
    l_push_head(p, Q_GHOST, id);
    while (p->q[Q_GHOST].weight > p->ghost_cap) drop(p, p->q[Q_GHOST].tail);
}

static void s3_evict_small(hone__pol *p, hone__pol_evict_fn cb, void *ctx) {
    while (p->q[Q_SMALL].tail != NIL) {
        uint32_t id = p->q[Q_SMALL].tail;
        pnode *n = &p->nodes[id];
        if (n->freq >= 2) {
            n->freq = 0;
            l_move(p, Q_MAIN, id);
        } else {
            uint64_t key = n->key;
            l_unlink(p, id);
            p->resident_weight -= n->weight;
            p->resident_count--;
            if (p->ghost_cap > 0) s3_ghost_add(p, id);
            else map_del(p, id);
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
            l_move(p, Q_MAIN, id);
        } else {
            evict_node(p, id, cb, ctx);
            return;
        }
    }
}

static void s3_evict(hone__pol *p, hone__pol_evict_fn cb, void *ctx) {
    p->has_evicted = 1;
    if (p->q[Q_MAIN].weight > p->main_cap || p->q[Q_SMALL].weight == 0)
        s3_evict_main(p, cb, ctx);
    else
        s3_evict_small(p, cb, ctx);
}

static void s3_sizes(hone__pol *p) {
    p->small_cap = (uint64_t)((double)p->cap * 0.10);
    p->main_cap = p->cap - p->small_cap;
    p->ghost_cap = (uint64_t)((double)p->cap * 0.90);
}

/* ------------------------------------------------------------------ */
/* the common interface                                                */

int hone__pol_new(hone__pol **out, int kind, uint64_t capacity, uint64_t entries_hint,
                  const hone_allocator *a) {
    *out = NULL;
    if (kind < 0 || kind >= HONE_CACHE_POLICY_COUNT || capacity == 0) return HONE_EINVAL;
    hone__pol *p = hone_calloc(a, 1, sizeof *p);
    if (!p) return HONE_ENOMEM;
    p->alloc = a;
    p->kind = kind;
    p->cap = capacity;
    p->unit_weights = 1;
    p->free_head = NIL;
    for (int i = 0; i < Q_COUNT; i++) p->q[i].head = p->q[i].tail = NIL;
    p->slots = hone_malloc(a, 16 * sizeof *p->slots);
    if (!p->slots) goto fail;
    memset(p->slots, 0xff, 16 * sizeof *p->slots);
    p->slot_mask = 15;
    p->rng = 0x2545f4914f6cdd1dULL;
    if (kind == HONE_CACHE_POLICY_HONE) {
        uint64_t size = entries_hint ? entries_hint : capacity;
        if (entries_hint) {
            /* The hint is a guess, so the sketch starts small and grows
             * with the entries actually held (as Caffeine's does). */
            if (size < 16) size = 16;
            p->sk_target = size;
            p->sk_sized = size < SKETCH_FIRST ? size : SKETCH_FIRST;
            if (sketch_init(p, p->sk_sized)) goto fail;
        } else if (sketch_init(p, size)) {
            goto fail;
        }
        hone_set_window(p, (uint64_t)((double)capacity * HONE_WINDOW_START));
        p->sample_period = (uint64_t)(HONE_SAMPLE * (double)size);
        if (p->sample_period > 1000000) p->sample_period = 1000000;
        p->step = HONE_STEP * (double)capacity;
        p->hghost_cap = (uint64_t)(HONE_GHOST_SHARE * (double)capacity);
    } else if (kind == HONE_CACHE_POLICY_S3FIFO) {
        s3_sizes(p);
    }
    *out = p;
    return HONE_OK;
fail:
    hone_free(a, p->sk.t);
    hone_free(a, p->slots);
    hone_free(a, p);
    return HONE_ENOMEM;
}

void hone__pol_free(hone__pol *p) {
    if (!p) return;
    hone_free(p->alloc, p->nodes);
    hone_free(p->alloc, p->slots);
    hone_free(p->alloc, p->sk.t);
    hone_free(p->alloc, p);
}

int hone__pol_get(hone__pol *p, uint64_t key) {
    uint32_t id = map_find(p, key);
    int hit = id != NIL && is_resident_q(p->nodes[id].q);
    switch (p->kind) {
    case HONE_CACHE_POLICY_LRU:
        if (hit) l_move(p, Q_LRU, id);
        break;
    case HONE_CACHE_POLICY_ARC:
        if (hit) l_move(p, Q_T2, id);
        break;
    case HONE_CACHE_POLICY_S3FIFO:
        if (hit && p->nodes[id].freq < 255) p->nodes[id].freq++;
        break;
    default:
        sketch_add(&p->sk, key);
        hone_climb(p, hit);
        if (hit) hone_hit(p, id);
        break;
    }
    return hit;
}

uint32_t hone__pol_node_of(const hone__pol *p, uint64_t key) {
    uint32_t id = map_find(p, key);
    return id != NIL && is_resident_q(p->nodes[id].q) ? id : HONE__POL_NIL;
}

int hone__pol_touch_node(hone__pol *p, uint32_t id, uint32_t key_lo) {
    if (id >= p->n_nodes || !is_resident_q(p->nodes[id].q) ||
        (uint32_t)p->nodes[id].key != key_lo)
        return 0;
    uint64_t key = p->nodes[id].key;
    switch (p->kind) {
    case HONE_CACHE_POLICY_LRU: l_move(p, Q_LRU, id); break;
    case HONE_CACHE_POLICY_ARC: l_move(p, Q_T2, id); break;
    case HONE_CACHE_POLICY_S3FIFO:
        if (p->nodes[id].freq < 255) p->nodes[id].freq++;
        break;
    default:
        sketch_add(&p->sk, key);
        hone_climb(p, 1);
        hone_hit(p, id);
        break;
    }
    return 1;
}

size_t hone__pol_touch_batch(hone__pol *p, const uint64_t *hits, size_t n) {
    /* Three passes: the nodes, then what the nodes point at (the sketch
     * block of each key and the list neighbours), then the work. A stale
     * id only costs a useless prefetch: touch_node checks it. */
    for (size_t i = 0; i < n; i++) {
        uint32_t id = (uint32_t)(hits[i] >> 32);
        if (id < p->n_nodes) __builtin_prefetch(&p->nodes[id], 1);
    }
    if (p->kind == HONE_CACHE_POLICY_HONE) {
        for (size_t i = 0; i < n; i++) {
            uint32_t id = (uint32_t)(hits[i] >> 32);
            if (id >= p->n_nodes) continue;
            const pnode *nd = &p->nodes[id];
            const uint8_t *blk = &p->sk.t[sk_block(&p->sk, sk_hash(nd->key)) * 64];
            __builtin_prefetch(blk, 1);
            __builtin_prefetch(blk + 63, 1); /* the block may straddle two lines */
            if (nd->prev != NIL && nd->prev < p->n_nodes) __builtin_prefetch(&p->nodes[nd->prev], 1);
            if (nd->next != NIL && nd->next < p->n_nodes) __builtin_prefetch(&p->nodes[nd->next], 1);
        }
    }
    size_t applied = 0;
    for (size_t i = 0; i < n; i++)
        applied += (size_t)hone__pol_touch_node(p, (uint32_t)(hits[i] >> 32), (uint32_t)hits[i]);
    return applied;
}

int hone__pol_insert(hone__pol *p, uint64_t key, uint32_t weight,
                     hone__pol_evict_fn cb, void *ctx) {
    if (p->kind == HONE_CACHE_POLICY_ARC || p->kind == HONE_CACHE_POLICY_S3FIFO) weight = 1;
    if (weight != 1) p->unit_weights = 0;
    if (reserve_one(p)) return HONE_ENOMEM;
    uint32_t ghost = map_find(p, key);
    int direct = Q_NONE, failed = 0;
    switch (p->kind) {
    case HONE_CACHE_POLICY_ARC: {
        int q = ghost != NIL ? p->nodes[ghost].q : Q_NONE;
        if (q == Q_B1 || q == Q_B2) {
            uint64_t b1 = p->q[Q_B1].weight, b2 = p->q[Q_B2].weight;
            if (q == Q_B1) {
                uint64_t d = b2 / b1 > 1 ? b2 / b1 : 1;
                p->arc_p = p->arc_p + d < p->cap ? p->arc_p + d : p->cap;
            } else {
                uint64_t d = b1 / b2 > 1 ? b1 / b2 : 1;
                p->arc_p = p->arc_p > d ? p->arc_p - d : 0;
            }
            if (p->resident_count > 0) arc_replace(p, q == Q_B2);
            l_unlink(p, ghost);
            /* Pages pushed to B1/B2 by replace are ghosts: nobody holds
             * them any more, so only their keys are kept. */
            p->nodes[ghost].weight = 1;
            arc_make_room(p, cb, ctx);
            l_push_head(p, Q_T2, ghost);
        } else {
            arc_make_room(p, cb, ctx);
            uint32_t id = map_add(p, key);
            p->nodes[id].weight = 1;
            l_push_head(p, Q_T1, id);
        }
        p->resident_weight++;
        p->resident_count++;
        return HONE_OK;
    }
    case HONE_CACHE_POLICY_S3FIFO: {
        int on_ghost = ghost != NIL && p->nodes[ghost].q == Q_GHOST;
        if (on_ghost) drop(p, ghost);
        while (p->resident_weight + 1 > p->cap) s3_evict(p, cb, ctx);
        uint32_t id = map_add(p, key);
        p->nodes[id].weight = 1;
        if (on_ghost) l_push_head(p, Q_MAIN, id);
        else if (p->small_cap == 0) return drop(p, id), HONE_OK;
        else if (!p->has_evicted && p->q[Q_SMALL].weight >= p->small_cap) l_push_head(p, Q_MAIN, id);
        else l_push_head(p, Q_SMALL, id);
        p->resident_weight++;
        p->resident_count++;
        return HONE_OK;
    }
    default:
        if (ghost != NIL) {
            failed = p->nodes[ghost].freq & FL_FAILED;
            /* ARC's lesson applied to TinyLFU's window: a key that comes
             * back soon after the window dropped it says the window is too
             * small; one that comes back after main dropped it says main
             * is. This adapts at once, where the hill climber needs whole
             * sample periods, so it helps most on short or shifting
             * workloads; the climber keeps correcting the long run. */
            int q = p->nodes[ghost].q;
            uint64_t gw = p->q[Q_GW].weight, gm = p->q[Q_GM].weight;
            double unit = HONE_GHOST_UNIT * (double)weight;
            if (q == Q_GW) {
                double d = gw ? (double)gm / (double)gw : 1;
                if (d < 1) d = 1;
                hone_set_window(p, p->window_max + (uint64_t)(d * unit));
                hone_rebalance(p);
            } else if (q == Q_GM) {
                double d = gm ? (double)gw / (double)gm : 1;
                if (d < 1) d = 1;
                uint64_t dd = (uint64_t)(d * unit);
                hone_set_window(p, p->window_max > dd ? p->window_max - dd : 0);
                hone_rebalance(p);
            }
            /* A ghost hit is proof of reuse the sketch may not show yet
             * (it was aged, or the key was rejected at a tie): the key
             * skips the window and the admission duel, like S3-FIFO's
             * ghost hits go straight to main. Keys main let go return to
             * protected, keys the window let go to probation.
             * Unless the key's last admission on a ghost's word bought no
             * hit: a loop longer than the cache looks like that (every
             * miss is a ghost hit, and letting each in evicts the next key
             * the loop needs, so the cache does no better than LRU, which
             * hits nothing). Such a key takes the window and the duel like
             * a new one until a hit proves it. */
            direct = failed ? Q_NONE : q == Q_GW ? Q_PROB : q == Q_GM ? Q_PROT : Q_NONE;
            drop(p, ghost);
        }
        break;
    }
    uint32_t id = map_add(p, key);
    p->nodes[id].weight = weight;
    p->resident_weight += weight;
    p->resident_count++;
    if (p->kind == HONE_CACHE_POLICY_LRU) {
        l_push_head(p, Q_LRU, id);
        while (p->resident_weight > p->cap && p->q[Q_LRU].tail != NIL)
            evict_node(p, p->q[Q_LRU].tail, cb, ctx);
    } else {
        p->nodes[id].freq = failed ? FL_FAILED : direct != Q_NONE ? FL_BYPASSED : 0;
        hone_insert(p, id, direct, cb, ctx);
    }
    return HONE_OK;
}

int hone__pol_access(hone__pol *p, uint64_t key) {
    if (hone__pol_get(p, key)) return 1;
    int rc = hone__pol_insert(p, key, 1, NULL, NULL);
    return rc ? rc : 0;
}

int hone__pol_remove(hone__pol *p, uint64_t key) {
    uint32_t id = map_find(p, key);
    if (id == NIL || !is_resident_q(p->nodes[id].q)) return 0;
    p->resident_weight -= p->nodes[id].weight;
    p->resident_count--;
    drop(p, id);
    return 1;
}

static void evict_to_cap(hone__pol *p, hone__pol_evict_fn cb, void *ctx) {
    switch (p->kind) {
    case HONE_CACHE_POLICY_LRU:
        while (p->resident_weight > p->cap) evict_node(p, p->q[Q_LRU].tail, cb, ctx);
        break;
    case HONE_CACHE_POLICY_ARC:
        while (p->resident_weight > p->cap) {
            uint32_t id = p->q[Q_T1].tail != NIL ? p->q[Q_T1].tail : p->q[Q_T2].tail;
            evict_node(p, id, cb, ctx);
        }
        if (p->arc_p > p->cap) p->arc_p = p->cap;
        break;
    case HONE_CACHE_POLICY_S3FIFO:
        while (p->resident_weight > p->cap) s3_evict(p, cb, ctx);
        break;
    default:
        hone_evict(p, NIL, cb, ctx);
        break;
    }
}

int hone__pol_reweigh(hone__pol *p, uint64_t key, uint32_t weight, hone__pol_evict_fn cb,
                      void *ctx) {
    uint32_t id = map_find(p, key);
    if (id == NIL || !is_resident_q(p->nodes[id].q)) return HONE_ENOTFOUND;
    if (p->kind == HONE_CACHE_POLICY_ARC || p->kind == HONE_CACHE_POLICY_S3FIFO) return HONE_OK;
    pnode *n = &p->nodes[id];
    int q = n->q;
    l_unlink(p, id);
    p->resident_weight = p->resident_weight - n->weight + weight;
    n->weight = weight;
    if (weight != 1) p->unit_weights = 0;
    l_push_head(p, q, id);
    if (p->kind == HONE_CACHE_POLICY_HONE) hone_rebalance(p);
    evict_to_cap(p, cb, ctx);
    return HONE_OK;
}

void hone__pol_set_capacity(hone__pol *p, uint64_t capacity, hone__pol_evict_fn cb, void *ctx) {
    if (capacity == 0) capacity = 1;
    double share = p->cap ? (double)p->window_max / (double)p->cap : HONE_WINDOW_START;
    uint64_t old_cap = p->cap;
    p->cap = capacity;
    if (p->kind == HONE_CACHE_POLICY_S3FIFO) s3_sizes(p);
    if (p->kind == HONE_CACHE_POLICY_HONE) {
        hone_set_window(p, (uint64_t)(share * (double)capacity));
        p->step = HONE_STEP * (double)capacity;
        /* The sample period scales with the capacity (it may have been
         * sized from an entry hint, so it is scaled, not recomputed). */
        double period = (double)p->sample_period * (double)capacity / (double)old_cap;
        p->sample_period = period < 1 ? 1 : period > 1e6 ? 1000000 : (uint64_t)period;
        p->hghost_cap = (uint64_t)(HONE_GHOST_SHARE * (double)capacity);
        for (int q = Q_GW; q <= Q_GM; q++)
            while (p->q[q].weight > p->hghost_cap && p->q[q].tail != NIL) drop(p, p->q[q].tail);
        hone_rebalance(p);
    }
    evict_to_cap(p, cb, ctx);
}

uint64_t hone__pol_count(const hone__pol *p) { return p->resident_count; }
uint64_t hone__pol_weight(const hone__pol *p) { return p->resident_weight; }
uint64_t hone__pol_capacity(const hone__pol *p) { return p->cap; }

uint64_t hone__pol_memory(const hone__pol *p) {
    uint64_t m = sizeof *p + (uint64_t)p->cap_nodes * sizeof(pnode) +
                 (p->slot_mask + 1) * sizeof(uint64_t);
    if (p->sk.t) m += p->sk.nblocks * 64;
    return m;
}

unsigned hone__pol_window_permille(const hone__pol *p) {
    if (p->kind != HONE_CACHE_POLICY_HONE) return 0;
    return (unsigned)(p->window_max * 1000 / p->cap);
}

void hone__pol_clear(hone__pol *p, hone__pol_evict_fn cb, void *ctx) {
    /* Reports every resident key first, then forgets all nodes at once:
     * the lists and the key map are rebuilt empty, the sketch is kept
     * (popularity outlives a flush). */
    for (uint32_t i = 0; i < p->n_nodes; i++)
        if (is_resident_q(p->nodes[i].q) && cb) cb(ctx, p->nodes[i].key);
    memset(p->slots, 0xff, (p->slot_mask + 1) * sizeof *p->slots);
    p->used_slots = 0;
    p->n_nodes = 0;
    p->free_head = NIL;
    for (int i = 0; i < Q_COUNT; i++) {
        p->q[i].head = p->q[i].tail = NIL;
        p->q[i].weight = p->q[i].count = 0;
    }
    p->resident_weight = p->resident_count = 0;
    p->arc_p = 0;
    p->has_evicted = 0;
}

int hone__pol_evict_one(hone__pol *p, hone__pol_evict_fn cb, void *ctx) {
    if (p->resident_count == 0) return 0;
    uint64_t cap = p->cap;
    p->cap = p->resident_weight - 1;
    evict_to_cap(p, cb, ctx);
    p->cap = cap;
    return 1;
}

