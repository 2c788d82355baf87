/* sim_lirs.c - LIRS (S. Jiang and X. Zhang, "LIRS: An Efficient Low
 * Inter-reference Recency Set Replacement Policy", SIGMETRICS 2002) for the
 * simulator, as libCacheSim implements it (1a1a11a/libCacheSim,
 * cache/eviction/LIRS.c), whose figures are the reference table in
 * ../shared/traces/SOURCES.md.
 *
 * The cache holds LIR blocks (lirs_limit = capacity - hirs_limit) and
 * resident HIR blocks (hirs_limit = 1 % of the capacity, at least 1). Stack
 * S orders blocks by recency and holds every LIR block, and HIR blocks
 * (resident or not) more recent than the oldest LIR block: stack pruning
 * removes HIR entries from the bottom of S so that its bottom is always an
 * LIR block. Queue Q holds the resident HIR blocks, evicted from its front.
 * Non-resident HIR entries are bounded as libCacheSim bounds them: when S
 * holds more than 2 x capacity entries, the entry that became non-resident
 * first leaves S (list NH keeps that order).
 *
 * Where libCacheSim departs from the paper, this follows libCacheSim, since
 * its numbers are the ones the simulator must reproduce:
 * - a hit on a resident HIR block that is in Q but no longer in S demotes
 *   the bottom LIR block to Q (as a hit in S does), and the block re-enters S
 *   as a resident HIR block; when that demotion pushes the block itself out
 *   of Q (a 1-entry Q), it stays in S marked resident without occupying Q,
 *   and a later hit there promotes it to LIR;
 * - a miss on a non-resident HIR block in S demotes the bottom LIR block
 *   once to make LIR room and once more to make cache room, so the LIR set
 *   shrinks by one and the next new block fills it as LIR directly.
 * The queues are intrusive doubly linked lists over one node per key (a key
 * may be in S, Q and NH at once); a node returns to the free list when it
 * is in none of them. */
#include <string.h>

#include "cache/simpol.h"

#define NIL ((size_t)-1)

enum { L_S, L_Q, L_NH, L_COUNT };

typedef struct lnode {
    uint64_t key;
    size_t prev[L_COUNT], next[L_COUNT];
    uint8_t in[L_COUNT];
    uint8_t lir; /* S's view: an LIR block */
    uint8_t res; /* S's view: resident */
} lnode;

typedef struct list {
    size_t head, tail, len; /* head is the most recent end */
} list;

typedef struct lirs {
    const hone_allocator *a;
    uint64_t cap, lirs_limit, hirs_limit;
    uint64_t lirs_count, hirs_count, occupied;
    lnode *nodes;
    size_t n_nodes, n_alloc, free_head;
    list l[L_COUNT];
    size_t *slot; /* open addressing: node index + 1, 0 empty */
    size_t mask, used;
    int oom;
} lirs;

static uint64_t mix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdu;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53u;
    k ^= k >> 33;
    return k;
}

/* ---- the key table ---- */

static size_t tab_pos(const lirs *s, uint64_t key) {
    size_t i = (size_t)mix64(key) & s->mask;
    while (s->slot[i] && s->nodes[s->slot[i] - 1].key != key) i = (i + 1) & s->mask;
    return i;
}

static size_t tab_find(const lirs *s, uint64_t key) {
    size_t i = tab_pos(s, key);
    return s->slot[i] ? s->slot[i] - 1 : NIL;
}

static int tab_grow(lirs *s) {
    size_t n = (s->mask + 1) * 2;
    size_t *old = s->slot, omask = s->mask;
    s->slot = hone_calloc(s->a, n, sizeof *s->slot);
    if (!s->slot) {
        s->slot = old;
        return HONE_ENOMEM;
    }
    s->mask = n - 1;
    for (size_t i = 0; i <= omask; i++)
        if (old[i]) s->slot[tab_pos(s, s->nodes[old[i] - 1].key)] = old[i];
    hone_free(s->a, old);
    return HONE_OK;
}

static void tab_erase(lirs *s, uint64_t key) {
    size_t i = tab_pos(s, key);
    if (!s->slot[i]) return;
    s->slot[i] = 0;
    s->used--;
    for (size_t j = (i + 1) & s->mask; s->slot[j]; j = (j + 1) & s->mask) {
        size_t home = (size_t)mix64(s->nodes[s->slot[j] - 1].key) & s->mask;
        if (((j - home) & s->mask) >= ((j - i) & s->mask)) {
            s->slot[i] = s->slot[j];
            s->slot[j] = 0;
            i = j;
        }
    }
}

/* The node of key, made (in no list) when absent; NIL when out of memory. */
static size_t node_get(lirs *s, uint64_t key) {
    size_t n = tab_find(s, key);
    if (n != NIL) return n;
    if (2 * (s->used + 1) > s->mask + 1 && tab_grow(s)) return NIL;
    if (s->free_head == NIL) {
        if (s->n_nodes == s->n_alloc) {
            size_t na = s->n_alloc * 2;
            lnode *nn = hone_realloc(s->a, s->nodes, na * sizeof *nn);
            if (!nn) return NIL;
            s->nodes = nn;
            s->n_alloc = na;
        }
        n = s->n_nodes++;
    } else {
        n = s->free_head;
        s->free_head = s->nodes[n].next[L_S];
    }
    lnode *x = &s->nodes[n];
    memset(x, 0, sizeof *x);
    x->key = key;
    s->slot[tab_pos(s, key)] = n + 1;
    s->used++;
    return n;
}

static void node_release(lirs *s, size_t n) {
    lnode *x = &s->nodes[n];
    if (x->in[L_S] || x->in[L_Q] || x->in[L_NH]) return;
    tab_erase(s, x->key);
    x->next[L_S] = s->free_head;
    s->free_head = n;
}

/* ---- lists ---- */

static void l_unlink(lirs *s, int w, size_t n) {
    lnode *x = &s->nodes[n];
    list *l = &s->l[w];
    if (x->prev[w] != NIL) s->nodes[x->prev[w]].next[w] = x->next[w];
    else l->head = x->next[w];
    if (x->next[w] != NIL) s->nodes[x->next[w]].prev[w] = x->prev[w];
    else l->tail = x->prev[w];
    x->in[w] = 0;
    l->len--;
}

static void l_push(lirs *s, int w, size_t n) {
    lnode *x = &s->nodes[n];
    list *l = &s->l[w];
    x->prev[w] = NIL;
    x->next[w] = l->head;
    if (l->head != NIL) s->nodes[l->head].prev[w] = n;
    else l->tail = n;
    l->head = n;
    x->in[w] = 1;
    l->len++;
}

static void l_to_head(lirs *s, int w, size_t n) {
    l_unlink(s, w, n);
    l_push(s, w, n);
}

/* Removes n from list w and frees the node when it is in no list. */
static void l_remove(lirs *s, int w, size_t n) {
    if (!s->nodes[n].in[w]) return;
    l_unlink(s, w, n);
    if (w == L_S) s->nodes[n].lir = s->nodes[n].res = 0;
    node_release(s, n);
}

/* ---- LIRS ---- */

/* Stack pruning: HIR entries leave the bottom of S until an LIR block is
 * there (the last entry stays). */
static void prune(lirs *s) {
    while (s->l[L_S].tail != NIL && s->l[L_S].tail != s->l[L_S].head) {
        size_t t = s->l[L_S].tail;
        if (s->nodes[t].lir) break;
        if (s->nodes[t].in[L_NH]) l_unlink(s, L_NH, t);
        l_remove(s, L_S, t);
    }
}

/* Evicts the front of Q; its entry in S (if any) becomes non-resident. */
static void evict_hir(lirs *s) {
    size_t t = s->l[L_Q].tail;
    if (t == NIL) return;
    s->hirs_count--;
    s->occupied--;
    l_unlink(s, L_Q, t);
    if (s->nodes[t].in[L_S]) {
        s->nodes[t].res = 0;
        if (s->nodes[t].in[L_NH]) l_unlink(s, L_NH, t);
        l_push(s, L_NH, t);
    } else {
        node_release(s, t);
    }
}

/* Moves the LIR block at the bottom of S to the end of Q, then prunes. */
static void evict_lir(lirs *s) {
    size_t t = s->l[L_S].tail;
    if (t == NIL) return;
    s->lirs_count--;
    s->occupied--;
    l_unlink(s, L_S, t);
    s->nodes[t].lir = s->nodes[t].res = 0;
    while (s->hirs_count + 1 > s->hirs_limit && s->l[L_Q].tail != NIL) evict_hir(s);
    if (s->nodes[t].in[L_Q]) {
        l_unlink(s, L_Q, t);
        s->hirs_count--;
        s->occupied--;
    }
    l_push(s, L_Q, t);
    s->hirs_count++;
    s->occupied++;
    prune(s);
}

/* Makes LIR room while an entry other than key's is at the bottom of S. */
static void make_lir_room(lirs *s, uint64_t key) {
    while (s->lirs_count + 1 > s->lirs_limit && s->l[L_S].tail != NIL &&
           s->nodes[s->l[L_S].tail].key != key)
        evict_lir(s);
}

/* Bounds S at 2 x capacity entries by dropping the oldest non-resident. */
static void limit_stack(lirs *s) {
    while (s->l[L_S].len > 2 * s->cap && s->l[L_NH].tail != NIL) {
        size_t t = s->l[L_NH].tail;
        l_unlink(s, L_NH, t);
        l_remove(s, L_S, t);
    }
}

static int lirs_access(void *state, uint64_t key) {
    lirs *s = state;
    size_t n = node_get(s, key);
    if (n == NIL) return HONE_ENOMEM;
    int in_s = s->nodes[n].in[L_S], in_q = s->nodes[n].in[L_Q];
    if (in_s) l_to_head(s, L_S, n);
    if (in_q) l_to_head(s, L_Q, n);
    int hit = 1;
    if (in_s && s->nodes[n].lir) {
        prune(s);
    } else if (in_s && s->nodes[n].res) {
        /* A resident HIR block in S becomes LIR. */
        if (in_q) {
            l_unlink(s, L_Q, n);
            s->hirs_count--;
            s->occupied--;
        }
        make_lir_room(s, key);
        n = tab_find(s, key);
        s->nodes[n].lir = 1;
        s->lirs_count++;
        s->occupied++;
    } else if (!in_s && in_q) {
        /* A resident HIR block out of S re-enters S, staying HIR. */
        make_lir_room(s, key);
        n = node_get(s, key);
        if (n == NIL) return HONE_ENOMEM;
        l_push(s, L_S, n);
        s->nodes[n].lir = 0;
        s->nodes[n].res = 1;
    } else if (in_s) {
        /* A miss on a non-resident HIR block in S: it becomes LIR. */
        hit = 0;
        make_lir_room(s, key);
        n = tab_find(s, key);
        if (s->nodes[n].in[L_NH]) l_unlink(s, L_NH, n);
        while (s->occupied + 1 > s->cap) {
            uint64_t before = s->occupied;
            while (s->hirs_count >= s->hirs_limit && s->l[L_Q].tail != NIL) evict_hir(s);
            if (s->l[L_S].tail != NIL && s->nodes[s->l[L_S].tail].key != key) evict_lir(s);
            if (s->occupied >= before) break;
        }
        n = tab_find(s, key);
        s->nodes[n].lir = 1;
        s->nodes[n].res = 1;
        s->lirs_count++;
        s->occupied++;
    } else {
        /* A miss on a block in neither S nor Q. */
        hit = 0;
        if (s->lirs_count + 1 > s->lirs_limit && s->hirs_count + 1 > s->hirs_limit)
            while (s->hirs_count + 1 > s->hirs_limit && s->l[L_Q].tail != NIL) evict_hir(s);
        while (s->occupied + 1 > s->cap) {
            uint64_t before = s->occupied;
            if (s->lirs_count + 1 > s->lirs_limit && s->hirs_count + 1 > s->hirs_limit)
                evict_hir(s);
            if (s->occupied >= before) break;
        }
        n = tab_find(s, key);
        l_push(s, L_S, n);
        s->nodes[n].res = 1;
        if (s->lirs_count + 1 <= s->lirs_limit) {
            s->nodes[n].lir = 1;
            s->lirs_count++;
        } else {
            l_push(s, L_Q, n);
            s->hirs_count++;
        }
        s->occupied++;
    }
    limit_stack(s);
    return hit;
}

static void lirs_destroy(void *state) {
    lirs *s = state;
    if (!s) return;
    hone_free(s->a, s->nodes);
    hone_free(s->a, s->slot);
    hone_free(s->a, s);
}

static int lirs_create(void **state, uint64_t capacity, const hone_allocator *a) {
    *state = NULL;
    lirs *s = hone_calloc(a, 1, sizeof *s);
    if (!s) return HONE_ENOMEM;
    s->a = a;
    s->cap = capacity ? capacity : 1;
    s->hirs_limit = (uint64_t)(0.01 * (double)s->cap);
    if (s->hirs_limit < 1) s->hirs_limit = 1;
    s->lirs_limit = s->cap > s->hirs_limit ? s->cap - s->hirs_limit : 0;
    s->free_head = NIL;
    for (int w = 0; w < L_COUNT; w++) s->l[w] = (list){NIL, NIL, 0};
    s->n_alloc = 64;
    size_t slots = 128;
    s->nodes = hone_malloc(a, s->n_alloc * sizeof *s->nodes);
    s->slot = hone_calloc(a, slots, sizeof *s->slot);
    s->mask = slots - 1;
    if (!s->nodes || !s->slot) {
        lirs_destroy(s);
        return HONE_ENOMEM;
    }
    *state = s;
    return HONE_OK;
}

const hone__simpol_ops hone__simpol_lirs = {lirs_create, lirs_access, lirs_destroy};
