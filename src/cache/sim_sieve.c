/* sim_sieve.c - SIEVE (Zhang et al., "SIEVE is Simpler than LRU", NSDI
 * 2024), replayed as libCacheSim's Sieve.c does it: one FIFO queue, new
 * objects at the head, a visited bit per object that a hit sets and nothing
 * else; the hand walks from the tail toward the head, clearing set bits,
 * evicts the first unvisited object and stays at its neighbour toward the
 * head; past the head it wraps to the tail. Unit sizes, cold start. */
#include "cache/sim_map.h"
#include "cache/simpol.h"

typedef struct {
    uint64_t key;
    uint32_t prev; /* toward the head (newer) */
    uint32_t next; /* toward the tail (older) */
    uint8_t visited;
} sieve_node;

typedef struct {
    const hone_allocator *alloc;
    uint64_t capacity;
    sieve_node *nodes; /* grows up to capacity; slot reuse on eviction */
    uint32_t n_alloc, n_live;
    uint32_t head, tail, hand; /* HONE__SIM_NIL when none */
    hone__sim_map map;
} sieve_state;

static int sieve_create(void **state, uint64_t capacity, const hone_allocator *a) {
    *state = NULL;
    sieve_state *s = hone_calloc(a, 1, sizeof *s);
    if (!s) return HONE_ENOMEM;
    s->alloc = a;
    s->capacity = capacity ? capacity : 1;
    s->head = s->tail = s->hand = HONE__SIM_NIL;
    hone__sim_map_init(&s->map, a);
    *state = s;
    return HONE_OK;
}

static void sieve_destroy(void *state) {
    sieve_state *s = state;
    if (!s) return;
    hone__sim_map_free(&s->map);
    hone_free(s->alloc, s->nodes);
    hone_free(s->alloc, s);
}

static void sieve_unlink(sieve_state *s, uint32_t i) {
    sieve_node *n = &s->nodes[i];
    if (n->prev != HONE__SIM_NIL) s->nodes[n->prev].next = n->next;
    else s->head = n->next;
    if (n->next != HONE__SIM_NIL) s->nodes[n->next].prev = n->prev;
    else s->tail = n->prev;
}

/* Evicts one object; returns its slot for reuse. */
static uint32_t sieve_evict(sieve_state *s) {
    uint32_t i = s->hand == HONE__SIM_NIL ? s->tail : s->hand;
    while (s->nodes[i].visited) {
        s->nodes[i].visited = 0;
        i = s->nodes[i].prev == HONE__SIM_NIL ? s->tail : s->nodes[i].prev;
    }
    s->hand = s->nodes[i].prev;
    sieve_unlink(s, i);
    hone__sim_map_del(&s->map, s->nodes[i].key);
    s->n_live--;
    return i;
}

static int sieve_access(void *state, uint64_t key) {
    sieve_state *s = state;
    uint32_t i = hone__sim_map_get(&s->map, key);
    if (i != HONE__SIM_NIL) {
        s->nodes[i].visited = 1;
        return 1;
    }
    if (s->n_live < s->capacity) {
        /* Room without eviction: make sure a slot and a map entry exist
         * before changing anything. */
        if (s->n_live == s->n_alloc) {
            if (s->n_alloc >= HONE__SIM_NIL - 1) return HONE_ENOMEM;
            uint64_t want = s->n_alloc ? (uint64_t)s->n_alloc * 2 : 1024;
            if (want > s->capacity) want = s->capacity;
            if (want > HONE__SIM_NIL - 1) want = HONE__SIM_NIL - 1;
            sieve_node *nodes = hone_realloc(s->alloc, s->nodes, (size_t)want * sizeof *nodes);
            if (!nodes) return HONE_ENOMEM;
            s->nodes = nodes;
            s->n_alloc = (uint32_t)want;
        }
        if (hone__sim_map_reserve(&s->map, (size_t)s->n_live + 1)) return HONE_ENOMEM;
        i = s->n_live;
    } else {
        i = sieve_evict(s);
    }
    s->n_live++;
    sieve_node *n = &s->nodes[i];
    n->key = key;
    n->visited = 0;
    n->prev = HONE__SIM_NIL;
    n->next = s->head;
    if (s->head != HONE__SIM_NIL) s->nodes[s->head].prev = i;
    else s->tail = i;
    s->head = i;
    hone__sim_map_put(&s->map, key, i);
    return 0;
}

const hone__simpol_ops hone__simpol_sieve = {
    .create = sieve_create,
    .access = sieve_access,
    .destroy = sieve_destroy,
};
