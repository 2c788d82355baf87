/* sim_map.h - a small open-addressing map from uint64 keys to uint32 node
 * indexes, for the simulator's reference policies (sim_sieve.c,
 * sim_wtinylfu.c). Linear probing, backward-shift deletion, load <= 1/2.
 *
 * The keys are trace keys replayed by the simulator, not chosen by a remote
 * party, so an unkeyed 64-bit mixer is enough: no flooding defence needed.
 * Internal; every function is static inline. */
#ifndef HONE_CACHE_SIM_MAP_H
#define HONE_CACHE_SIM_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "hone/core.h"

#define HONE__SIM_NIL UINT32_MAX

typedef struct hone__sim_map {
    uint64_t *keys;
    uint32_t *vals; /* HONE__SIM_NIL: empty slot */
    size_t mask;    /* slots - 1 (0 with no table yet) */
    size_t n;
    const hone_allocator *alloc;
} hone__sim_map;

/* splitmix64's finaliser. */
static inline uint64_t hone__sim_mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static inline void hone__sim_map_init(hone__sim_map *m, const hone_allocator *a) {
    m->keys = NULL;
    m->vals = NULL;
    m->mask = 0;
    m->n = 0;
    m->alloc = a;
}

static inline void hone__sim_map_free(hone__sim_map *m) {
    hone_free(m->alloc, m->keys);
    hone_free(m->alloc, m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->mask = 0;
    m->n = 0;
}

static inline uint32_t hone__sim_map_get(const hone__sim_map *m, uint64_t key) {
    if (!m->vals) return HONE__SIM_NIL;
    for (size_t i = (size_t)hone__sim_mix(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->vals[i] == HONE__SIM_NIL) return HONE__SIM_NIL;
        if (m->keys[i] == key) return m->vals[i];
    }
}

/* Makes room for `want` entries without growing later. HONE_OK or
 * HONE_ENOMEM (the map unchanged). */
static inline int hone__sim_map_reserve(hone__sim_map *m, size_t want) {
    size_t slots = m->vals ? m->mask + 1 : 0;
    if (want <= slots / 2) return HONE_OK;
    size_t ns = slots ? slots : 16;
    while (want > ns / 2) {
        if (ns > SIZE_MAX / 2 / sizeof(uint64_t)) return HONE_ENOMEM;
        ns *= 2;
    }
    uint64_t *keys = hone_malloc(m->alloc, ns * sizeof *keys);
    uint32_t *vals = hone_malloc(m->alloc, ns * sizeof *vals);
    if (!keys || !vals) {
        hone_free(m->alloc, keys);
        hone_free(m->alloc, vals);
        return HONE_ENOMEM;
    }
    for (size_t i = 0; i < ns; i++) vals[i] = HONE__SIM_NIL;
    for (size_t j = 0; j < slots; j++) {
        if (m->vals[j] == HONE__SIM_NIL) continue;
        size_t i = (size_t)hone__sim_mix(m->keys[j]) & (ns - 1);
        while (vals[i] != HONE__SIM_NIL) i = (i + 1) & (ns - 1);
        keys[i] = m->keys[j];
        vals[i] = m->vals[j];
    }
    hone_free(m->alloc, m->keys);
    hone_free(m->alloc, m->vals);
    m->keys = keys;
    m->vals = vals;
    m->mask = ns - 1;
    return HONE_OK;
}

/* Adds key (absent) -> val; the caller reserved room first. */
static inline void hone__sim_map_put(hone__sim_map *m, uint64_t key, uint32_t val) {
    size_t i = (size_t)hone__sim_mix(key) & m->mask;
    while (m->vals[i] != HONE__SIM_NIL) i = (i + 1) & m->mask;
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
}

/* Removes key (present or not). */
static inline void hone__sim_map_del(hone__sim_map *m, uint64_t key) {
    if (!m->vals) return;
    size_t i = (size_t)hone__sim_mix(key) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        if (m->vals[i] == HONE__SIM_NIL) return;
        if (m->keys[i] == key) break;
    }
    /* Backward shift: pull later entries of the run into the hole when
     * their home slot does not lie cyclically in (hole, j]. */
    size_t hole = i;
    for (size_t j = (i + 1) & m->mask; m->vals[j] != HONE__SIM_NIL; j = (j + 1) & m->mask) {
        size_t home = (size_t)hone__sim_mix(m->keys[j]) & m->mask;
        if (((j - home) & m->mask) >= ((j - hole) & m->mask)) {
            m->keys[hole] = m->keys[j];
            m->vals[hole] = m->vals[j];
            hole = j;
        }
    }
    m->vals[hole] = HONE__SIM_NIL;
    m->n--;
}

#endif
