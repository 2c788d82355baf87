/* sim_belady.c - Belady's optimum (MIN) over a whole trace: on a miss with
 * the cache full, evict the resident object whose next use is farthest in
 * the future (objects never used again first); the requested object is
 * always admitted, as libCacheSim's Belady does.
 *
 * next[i] is the index of the next access to keys[i] (n + i when there is
 * none, so that every resident object has a distinct next-use position),
 * found in one backward pass with a key -> index table. A resident object
 * is then named by its next-use position alone: access i hits iff position
 * i is in the cache, and the hit replaces i by next[i]. The positions live
 * in a max-heap of at most `capacity` entries, with each position's heap
 * slot kept in `where` so that a hit can raise its entry: O(n log c). */
#include <string.h>

#include "cache/simpol.h"

#define NONE ((size_t)-1)

static uint64_t mix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdu;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53u;
    k ^= k >> 33;
    return k;
}

typedef struct heap {
    size_t *pos;   /* the max-heap of next-use positions */
    size_t *where; /* position -> heap slot, NONE when not resident */
    size_t len;
} heap;

static void h_set(heap *h, size_t i, size_t p) {
    h->pos[i] = p;
    h->where[p] = i;
}

static void h_up(heap *h, size_t i) {
    size_t p = h->pos[i];
    while (i > 0 && h->pos[(i - 1) / 2] < p) {
        h_set(h, i, h->pos[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    h_set(h, i, p);
}

static void h_down(heap *h, size_t i) {
    size_t p = h->pos[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->len) break;
        if (c + 1 < h->len && h->pos[c + 1] > h->pos[c]) c++;
        if (h->pos[c] <= p) break;
        h_set(h, i, h->pos[c]);
        i = c;
    }
    h_set(h, i, p);
}

int hone__sim_belady(const uint64_t *keys, size_t n, uint64_t capacity, const hone_allocator *a,
                     uint64_t *hits) {
    *hits = 0;
    if (!capacity) return HONE_EINVAL;
    if (!n) return HONE_OK;
    if (n > ((size_t)-1) / 4) return HONE_ENOMEM;
    size_t cap = capacity < n ? (size_t)capacity : n;
    size_t slots = 16;
    while (slots < 2 * n) slots *= 2;
    size_t mask = slots - 1;
    size_t *next = hone_malloc(a, n * sizeof *next);
    size_t *last = hone_malloc(a, slots * sizeof *last); /* table: index of a key's access */
    heap h = {hone_malloc(a, cap * sizeof *h.pos), NULL, 0};
    if (!next || !last || !h.pos) {
        hone_free(a, next);
        hone_free(a, last);
        hone_free(a, h.pos);
        return HONE_ENOMEM;
    }
    for (size_t i = 0; i < slots; i++) last[i] = NONE;
    for (size_t i = n; i-- > 0;) {
        size_t j = (size_t)mix64(keys[i]) & mask;
        while (last[j] != NONE && keys[last[j]] != keys[i]) j = (j + 1) & mask;
        next[i] = last[j] == NONE ? n + i : last[j];
        last[j] = i;
    }
    hone_free(a, last);
    /* Positions run to 2n; `where` is indexed by them. */
    h.where = hone_malloc(a, 2 * n * sizeof *h.where);
    if (!h.where) {
        hone_free(a, next);
        hone_free(a, h.pos);
        return HONE_ENOMEM;
    }
    for (size_t i = 0; i < 2 * n; i++) h.where[i] = NONE;
    uint64_t hit = 0;
    for (size_t i = 0; i < n; i++) {
        size_t at = h.where[i];
        if (at != NONE) {
            hit++;
            h.where[i] = NONE;
            h_set(&h, at, next[i]);
            h_up(&h, at);
            continue;
        }
        if (h.len == cap) {
            /* Evict the farthest next use: the root. */
            h.where[h.pos[0]] = NONE;
            h.len--;
            if (h.len) {
                h.pos[0] = h.pos[h.len];
                h_down(&h, 0);
            }
        }
        h.pos[h.len] = next[i];
        h_up(&h, h.len++);
    }
    hone_free(a, next);
    hone_free(a, h.pos);
    hone_free(a, h.where);
    *hits = hit;
    return HONE_OK;
}
