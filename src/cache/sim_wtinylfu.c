/* sim_wtinylfu.c - W-TinyLFU (Einziger, Friedman and Manes, "TinyLFU: A
 * Highly Efficient Cache Admission Policy", ACM ToS 2017) with a static 1 %
 * window, replayed as libCacheSim's WTinyLFU.c (default parameters
 * "main-cache=SLRU,window-size=0.01") does it, quirks included, so that its
 * figures reproduce that column of the reference table:
 *
 * - Window: an LRU of W = trunc(capacity * 0.01) objects (at least 1 here;
 *   libCacheSim would admit nothing below 100). Main: an SLRU of
 *   M = capacity - W objects in two segments, probation trunc(0.2 M) and
 *   protected trunc(0.8 M) (libCacheSim's "seg-size=1:4").
 * - A miss inserts into the window head even if the window is full; only
 *   when window + main hold `capacity` objects does eviction run: while the
 *   main cache has room, window tail objects move into it (so a cold cache
 *   first fills the whole window, then spills); once it is full, the window
 *   tail (candidate) is admitted in place of the main victim (probation
 *   tail, or protected tail when probation is empty) only if its estimated
 *   frequency is strictly greater, and then the next window tail is
 *   considered the same way; the first candidate that loses (a tie loses)
 *   is dropped, which ends the eviction. (Another libCacheSim version
 *   stops after one admission; the reference table was measured with this
 *   behaviour: every row rounds to the table's figure, the other is up to
 *   0.5 points off.)
 * - SLRU: an insert goes into the lowest segment with room (probation, then
 *   protected; into probation anyway when neither has room, the rounding
 *   leaving one slot over). A probation hit moves to the protected head;
 *   protected overflow demotes its tail to the probation head; probation
 *   overflow evicts its tail from the cache.
 * - Frequency: libCacheSim's "minimalIncrementCBF", a counting Bloom filter
 *   for M entries at error 0.001: ceil(14.38 M) unsigned counters,
 *   10 hashes (a + i b) mod counters with a and b the low 32 bits of XXH64
 *   of the key's 8 bytes under two seeds. An add increments all 10
 *   counters (despite the name), an estimate is their minimum. Adds: every
 *   insert, every main-cache hit (not window hits), and every window
 *   object considered for the main cache (admitted or not). Every
 *   32 M main-cache hits all counters are halved. No doorkeeper.
 *
 * Keys are trace keys replayed by the simulator, not chosen by an attacker,
 * so the unkeyed hashes (XXH64 with fixed seeds, sim_map.h's mixer) are
 * fine. Unit sizes, cold start. */
#include <limits.h>
#include <math.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "cache/sim_map.h"
#include "cache/simpol.h"

enum { SEG_WINDOW, SEG_PROB, SEG_PROT, SEG_COUNT };

typedef struct {
    uint64_t key;
    uint32_t prev; /* toward the head (more recent) */
    uint32_t next; /* toward the tail */
    uint8_t seg;
} wt_node;

typedef struct {
    const hone_allocator *alloc;
    uint64_t capacity, window_cap, main_cap;
    uint64_t seg_max[SEG_COUNT]; /* [SEG_PROB], [SEG_PROT] */
    uint64_t seg_n[SEG_COUNT];
    uint32_t head[SEG_COUNT], tail[SEG_COUNT];
    wt_node *nodes;
    uint32_t n_alloc, n_used; /* slots handed out so far */
    uint32_t free_list;       /* through .next */
    hone__sim_map map;
    /* the counting Bloom filter */
    unsigned *cbf;
    uint32_t cbf_n;
    int cbf_hashes;
    uint64_t hits_until_decay, decay_period;
} wt_state;

static void wt_destroy(void *state) {
    wt_state *s = state;
    if (!s) return;
    hone__sim_map_free(&s->map);
    hone_free(s->alloc, s->nodes);
    hone_free(s->alloc, s->cbf);
    hone_free(s->alloc, s);
}

static int wt_create(void **state, uint64_t capacity, const hone_allocator *a) {
    *state = NULL;
    if (!capacity) capacity = 1;
    wt_state *s = hone_calloc(a, 1, sizeof *s);
    if (!s) return HONE_ENOMEM;
    s->alloc = a;
    s->capacity = capacity;
    s->window_cap = (uint64_t)((double)capacity * 0.01);
    if (s->window_cap < 1) s->window_cap = 1;
    s->main_cap = capacity - s->window_cap;
    s->seg_max[SEG_PROB] = (uint64_t)((double)1 / 5 * (double)s->main_cap);
    s->seg_max[SEG_PROT] = (uint64_t)((double)4 / 5 * (double)s->main_cap);
    for (int i = 0; i < SEG_COUNT; i++) s->head[i] = s->tail[i] = HONE__SIM_NIL;
    s->free_list = HONE__SIM_NIL;
    hone__sim_map_init(&s->map, a);

    /* libCacheSim: minimalIncrementCBF_init(cbf, main size, 0.001). */
    double entries = (double)(s->main_cap > INT_MAX ? INT_MAX : s->main_cap);
    double bpe = -log(0.001) / 0.480453013918201;
    s->cbf_hashes = (int)ceil(0.693147180559945 * bpe);
    double n = ceil(bpe * entries);
    if (n > INT_MAX) n = INT_MAX;
    s->cbf_n = (uint32_t)n;
    if (s->cbf_n < (uint32_t)s->cbf_hashes) s->cbf_n = (uint32_t)s->cbf_hashes * 2;
    s->cbf = hone_calloc(a, s->cbf_n, sizeof *s->cbf);
    if (!s->cbf) {
        wt_destroy(s);
        return HONE_ENOMEM;
    }
    s->decay_period = s->main_cap > UINT64_MAX / 32 ? UINT64_MAX : 32 * s->main_cap;
    if (!s->decay_period) s->decay_period = 1;
    s->hits_until_decay = s->decay_period;
    *state = s;
    return HONE_OK;
}

/* ---- the counting Bloom filter ---- */

static unsigned wt_cbf(wt_state *s, uint64_t key, int add) {
    /* The cache2k reader sign-extends its int32 keys; the libCacheSim run
     * behind the reference table read them as unsigned 32-bit ids. Hash
     * such keys as that id (so a key and its 32-bit wrap share counters,
     * one more collision in an approximate filter), others as they are. */
    if ((int64_t)key >= INT32_MIN && (int64_t)key < 0) key = (uint32_t)key;
    unsigned char buf[sizeof key];
    memcpy(buf, &key, sizeof key); /* the obj_id's bytes, as libCacheSim */
    unsigned a = (unsigned)XXH64(buf, sizeof buf, 0x12345678);
    unsigned b = (unsigned)XXH64(buf, sizeof buf, 0x12344321);
    unsigned min = UINT_MAX;
    for (unsigned i = 0; i < (unsigned)s->cbf_hashes; i++) {
        unsigned x = (a + i * b) % s->cbf_n;
        if (s->cbf[x] < min) min = s->cbf[x];
    }
    if (add && min < UINT_MAX) {
        for (unsigned i = 0; i < (unsigned)s->cbf_hashes; i++) s->cbf[(a + i * b) % s->cbf_n]++;
        min++;
    }
    return min;
}

static void wt_cbf_decay(wt_state *s) {
    for (uint32_t i = 0; i < s->cbf_n; i++) s->cbf[i] >>= 1;
}

/* ---- lists ---- */

static void wt_unlink(wt_state *s, uint32_t i) {
    wt_node *n = &s->nodes[i];
    if (n->prev != HONE__SIM_NIL) s->nodes[n->prev].next = n->next;
    else s->head[n->seg] = n->next;
    if (n->next != HONE__SIM_NIL) s->nodes[n->next].prev = n->prev;
    else s->tail[n->seg] = n->prev;
    s->seg_n[n->seg]--;
}

static void wt_push(wt_state *s, uint32_t i, uint8_t seg) {
    wt_node *n = &s->nodes[i];
    n->seg = seg;
    n->prev = HONE__SIM_NIL;
    n->next = s->head[seg];
    if (s->head[seg] != HONE__SIM_NIL) s->nodes[s->head[seg]].prev = i;
    else s->tail[seg] = i;
    s->head[seg] = i;
    s->seg_n[seg]++;
}

/* Drops node i from the cache. */
static void wt_drop(wt_state *s, uint32_t i) {
    wt_unlink(s, i);
    hone__sim_map_del(&s->map, s->nodes[i].key);
    s->nodes[i].next = s->free_list;
    s->free_list = i;
}

static uint64_t wt_main_n(const wt_state *s) {
    return s->seg_n[SEG_PROB] + s->seg_n[SEG_PROT];
}

/* SLRU_to_evict: the tail of the lowest non-empty segment. */
static uint32_t wt_main_victim(const wt_state *s) {
    return s->seg_n[SEG_PROB] ? s->tail[SEG_PROB] : s->tail[SEG_PROT];
}

static void wt_main_evict(wt_state *s) {
    uint32_t v = wt_main_victim(s);
    if (v != HONE__SIM_NIL) wt_drop(s, v);
}

/* SLRU_insert of node i (unlinked). */
static void wt_main_insert(wt_state *s, uint32_t i) {
    uint8_t seg;
    if (s->seg_n[SEG_PROB] + 1 <= s->seg_max[SEG_PROB]) {
        seg = SEG_PROB;
    } else if (s->seg_n[SEG_PROT] + 1 <= s->seg_max[SEG_PROT]) {
        seg = SEG_PROT;
    } else {
        while (wt_main_n(s) + 1 > s->main_cap && wt_main_n(s)) wt_main_evict(s);
        seg = SEG_PROB;
    }
    wt_push(s, i, seg);
}

/* SLRU_cool: protected tail to the probation head; probation overflow is
 * evicted from the cache. */
static void wt_cool(wt_state *s, uint8_t seg) {
    if (seg == SEG_PROB) {
        wt_main_evict(s);
        return;
    }
    uint32_t t = s->tail[SEG_PROT];
    wt_unlink(s, t);
    wt_push(s, t, SEG_PROB);
    while (s->seg_n[SEG_PROB] > s->seg_max[SEG_PROB]) wt_cool(s, SEG_PROB);
}

/* WTinyLFU_evict: makes room for one object. */
static void wt_evict(wt_state *s) {
    for (;;) {
        if (!s->seg_n[SEG_WINDOW]) {
            wt_main_evict(s);
            return;
        }
        uint32_t cand = s->tail[SEG_WINDOW];
        uint64_t key = s->nodes[cand].key;
        int done = 0;
        if (wt_main_n(s) + 1 <= s->main_cap) {
            wt_unlink(s, cand);
            wt_main_insert(s, cand);
        } else {
            uint32_t victim = wt_main_victim(s);
            if (victim != HONE__SIM_NIL &&
                wt_cbf(s, key, 0) > wt_cbf(s, s->nodes[victim].key, 0)) {
                wt_main_evict(s);
                wt_unlink(s, cand);
                wt_main_insert(s, cand);
                /* Admitted: the total is unchanged, so the loop goes on to
                 * the next window object (libCacheSim's version measured
                 * in the table does not stop here). */
            } else {
                wt_drop(s, cand);
                done = 1;
            }
        }
        wt_cbf(s, key, 1);
        if (done) return;
    }
}

static int wt_access(void *state, uint64_t key) {
    wt_state *s = state;
    uint32_t i = hone__sim_map_get(&s->map, key);
    if (i != HONE__SIM_NIL) {
        uint8_t seg = s->nodes[i].seg;
        if (seg == SEG_WINDOW || seg == SEG_PROT) {
            wt_unlink(s, i);
            wt_push(s, i, seg);
        } else {
            wt_unlink(s, i);
            wt_push(s, i, SEG_PROT);
            while (s->seg_n[SEG_PROT] > s->seg_max[SEG_PROT]) wt_cool(s, SEG_PROT);
        }
        if (seg != SEG_WINDOW) {
            wt_cbf(s, key, 1);
            if (--s->hits_until_decay == 0) {
                s->hits_until_decay = s->decay_period;
                wt_cbf_decay(s);
            }
        }
        return 1;
    }
    /* A miss. Room for one more node and map entry first, so that an
     * allocation failure changes nothing. */
    uint64_t live = s->seg_n[SEG_WINDOW] + wt_main_n(s);
    if (s->free_list == HONE__SIM_NIL && s->n_used == s->n_alloc) {
        if (s->n_alloc >= HONE__SIM_NIL - 1) return HONE_ENOMEM;
        uint64_t want = s->n_alloc ? (uint64_t)s->n_alloc * 2 : 1024;
        if (want > s->capacity + 1) want = s->capacity + 1;
        if (want > HONE__SIM_NIL - 1) want = HONE__SIM_NIL - 1;
        wt_node *nodes = hone_realloc(s->alloc, s->nodes, (size_t)want * sizeof *nodes);
        if (!nodes) return HONE_ENOMEM;
        s->nodes = nodes;
        s->n_alloc = (uint32_t)want;
    }
    if (hone__sim_map_reserve(&s->map, (size_t)live + 1)) return HONE_ENOMEM;
    while (s->seg_n[SEG_WINDOW] + wt_main_n(s) + 1 > s->capacity) wt_evict(s);
    if (s->free_list != HONE__SIM_NIL) {
        i = s->free_list;
        s->free_list = s->nodes[i].next;
    } else {
        i = s->n_used++;
    }
    s->nodes[i].key = key;
    wt_push(s, i, SEG_WINDOW);
    hone__sim_map_put(&s->map, key, i);
    wt_cbf(s, key, 1);
    return 0;
}

const hone__simpol_ops hone__simpol_wtinylfu = {
    .create = wt_create,
    .access = wt_access,
    .destroy = wt_destroy,
};
