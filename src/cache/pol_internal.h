/* pol_internal.h - what the live eviction policies share: the node array,
 * the doubly linked lists over it and the key map (policy.c), and the table
 * of operations each policy implements in its own file (pol_hone.c,
 * pol_lru.c, pol_arc.c, pol_s3fifo.c). policy.c's public functions (policy.h)
 * do the common part of each call and hand the policy's part to p->ops; none
 * of them looks at which policy it runs. */
#ifndef HONE_CACHE_POL_INTERNAL_H
#define HONE_CACHE_POL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cache/policy.h"

#define NIL HONE__POL_NIL

/* A key the policy knows, resident or a ghost, in list q (HONE__POL_Q_NONE
 * while in no list). A policy numbers its own lists from 1 up to
 * HONE__POL_LISTS - 1 and tells which of them hold resident keys in its
 * ops' `resident` mask. */
typedef struct pnode {
    uint64_t key;
    uint32_t prev, next; /* toward head (MRU) and toward tail (LRU) */
    uint32_t weight;
    uint8_t q;
    uint8_t freq; /* the policy's: S3-FIFO's access counter; hone: its flags */
    uint16_t pad;
} pnode;

typedef struct plist {
    uint32_t head, tail;
    uint64_t weight, count;
} plist;

#define HONE__POL_Q_NONE 0
#define HONE__POL_LISTS 6

typedef struct hone__pol_ops hone__pol_ops;

/* The state every policy has. A policy with state of its own embeds this
 * struct as the first member of its own (ops->size bytes, zeroed by
 * hone__pol_new), so that a hone__pol * converts to it: its fields are one
 * offset away, never one pointer further. */
struct hone__pol {
    const hone__pol_ops *ops;
    const hone_allocator *alloc;
    uint32_t resident; /* ops->resident: bit q set when list q is resident */
    uint64_t cap;
    pnode *nodes;
    uint32_t n_nodes, cap_nodes, free_head;
    uint64_t *slots; /* open addressing, linear probing; EMPTY = free */
    uint64_t slot_mask, used_slots;
    plist q[HONE__POL_LISTS];
    uint64_t resident_weight, resident_count;
};

/* A policy's part of each call. The shared code has done the lookups and
 * checks each comment names; a NULL optional member means what it says. */
struct hone__pol_ops {
    size_t size;       /* of the policy's struct, which starts with a hone__pol */
    uint32_t resident; /* bit q set for each list q that holds resident keys */
    /* Optional: sets up the policy's own state once the shared state is
     * (p->cap is the capacity, entries_hint as hone__pol_new's). On failure
     * frees what it allocated and returns HONE_ENOMEM. */
    int (*init)(hone__pol *p, uint64_t entries_hint);
    /* Optional: frees what init allocated. */
    void (*fini)(hone__pol *p);
    /* A hit on resident node id (hone__pol_get, or a checked
     * hone__pol_touch_node). */
    void (*hit)(hone__pol *p, uint32_t id);
    /* Optional: a miss on key (hone__pol_get); NULL when a policy learns
     * nothing from misses. */
    void (*miss)(hone__pol *p, uint64_t key);
    /* hone__pol_touch_batch, whole (a policy may prefetch more of what its
     * hits will touch); hone__pol_touch_each does it with hit. */
    size_t (*touch_batch)(hone__pol *p, const uint64_t *hits, size_t n);
    /* hone__pol_insert, whole: reserves room first (hone__pol_reserve_one),
     * so that HONE_ENOMEM changes nothing, then admits key, evicting
     * through cb. */
    int (*insert)(hone__pol *p, uint64_t key, uint32_t weight, hone__pol_evict_fn cb,
                  void *ctx);
    /* Evicts through cb until the resident weight fits p->cap. */
    void (*evict_to_cap)(hone__pol *p, hone__pol_evict_fn cb, void *ctx);
    /* Optional: resident node id's weight becomes `weight`, then evicts to
     * the capacity. NULL: the policy counts every key as 1 and ignores it. */
    void (*reweigh)(hone__pol *p, uint32_t id, uint32_t weight, hone__pol_evict_fn cb,
                    void *ctx);
    /* Optional: p->cap has just changed from old_cap; resizes the policy's
     * parts (evict_to_cap follows). */
    void (*resize)(hone__pol *p, uint64_t old_cap);
    /* Optional: hone__pol_clear has forgotten every node and list; resets
     * what the policy derived from them. */
    void (*clear)(hone__pol *p);
    /* Optional: bytes the policy holds beyond its struct and the shared
     * arrays. */
    uint64_t (*memory)(const hone__pol *p);
    /* Optional: the most nodes the policy will need now, which the node
     * array's growth may stop at; 0 for no bound. */
    uint64_t (*node_bound)(const hone__pol *p);
};

extern const hone__pol_ops hone__pol_hone_ops;
extern const hone__pol_ops hone__pol_lru_ops;
extern const hone__pol_ops hone__pol_arc_ops;
extern const hone__pol_ops hone__pol_s3fifo_ops;

/* ------------------------------------------------------------------ */
/* nodes, lists and the key map (policy.c)                             */

/* Whether node id is resident (in one of the policy's resident lists). */
static inline int hone__pol_is_resident(const hone__pol *p, uint32_t id) {
    return (p->resident >> p->nodes[id].q) & 1;
}

/* Whether a hit replayed by node id still applies: id is resident and its
 * key's low 32 bits are key_lo (see hone__pol_touch_node). */
static inline int hone__pol_touch_ok(const hone__pol *p, uint32_t id, uint32_t key_lo) {
    return id < p->n_nodes && hone__pol_is_resident(p, id) && (uint32_t)p->nodes[id].key == key_lo;
}

static inline void hone__pol_unlink(hone__pol *p, uint32_t id) {
    pnode *n = &p->nodes[id];
    plist *l = &p->q[n->q];
    if (n->prev != NIL) p->nodes[n->prev].next = n->next; else l->head = n->next;
    if (n->next != NIL) p->nodes[n->next].prev = n->prev; else l->tail = n->prev;
    l->weight -= n->weight;
    l->count--;
    n->q = HONE__POL_Q_NONE;
}

static inline void hone__pol_push_head(hone__pol *p, int q, uint32_t id) {
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

static inline void hone__pol_move(hone__pol *p, int q, uint32_t id) {
    hone__pol_unlink(p, id);
    hone__pol_push_head(p, q, id);
}

/* A slot packs a 32-bit fingerprint of the key's hash above the node id,
 * so that probing rarely touches a node that is not the one sought. */
#define HONE__POL_EMPTY UINT64_MAX

static inline uint64_t hone__pol_khash(uint64_t key) {
    return hone__mix64(key ^ 0x9e3779b97f4a7c15ULL);
}
static inline uint64_t hone__pol_fp_of(uint64_t h) { return h & 0xffffffff00000000ULL; }

/* The node of key, resident or a ghost, or NIL. */
static inline uint32_t hone__pol_map_find(const hone__pol *p, uint64_t key) {
    uint64_t h = hone__pol_khash(key), fp = hone__pol_fp_of(h);
    for (uint64_t i = h & p->slot_mask;; i = (i + 1) & p->slot_mask) {
        uint64_t s = p->slots[i];
        if (s == HONE__POL_EMPTY) return NIL;
        if ((s & 0xffffffff00000000ULL) == fp && p->nodes[(uint32_t)s].key == key)
            return (uint32_t)s;
    }
}

/* Makes room for one more map entry and one more node, so that the insert
 * that follows cannot fail half way. HONE_OK or HONE_ENOMEM. */
int hone__pol_reserve_one(hone__pol *p);
/* Adds key (after hone__pol_reserve_one: cannot fail) as a node in no list,
 * weight 0, freq 0; returns its id. */
uint32_t hone__pol_map_add(hone__pol *p, uint64_t key);
/* Forgets node id, which is in no list. */
void hone__pol_map_del(hone__pol *p, uint32_t id);
/* Drops a resident or ghost node entirely (the resident totals are the
 * caller's). */
void hone__pol_drop(hone__pol *p, uint32_t id);
/* Evicts a resident node: reports it and forgets it. */
void hone__pol_evict_node(hone__pol *p, uint32_t id, hone__pol_evict_fn cb, void *ctx);
/* Resident node id's weight becomes `weight`: it moves to the head of its
 * list, the totals follow. */
void hone__pol_set_weight(hone__pol *p, uint32_t id, uint32_t weight);
/* touch_batch for a policy with no prefetching of its own: the nodes are
 * prefetched, then each hit is checked and applied with ops->hit. */
size_t hone__pol_touch_each(hone__pol *p, const uint64_t *hits, size_t n);

#endif
