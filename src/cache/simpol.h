/* simpol.h - the simulator's reference policies (LIRS, SIEVE, static-window
 * W-TinyLFU, Belady): faithful implementations of published policies that
 * the simulator compares hone's policy with. They replay uint64 keys with
 * unit sizes from a cold start (libCacheSim's --ignore-obj-size 1) and are
 * never used by a live cache. */
#ifndef HONE_CACHE_SIMPOL_H
#define HONE_CACHE_SIMPOL_H

#include <stddef.h>
#include <stdint.h>

#include "hone/core.h"

/* An online policy: new, one call per access, free. Its name and kind are
 * its entry's in hone__policy_info_of (policy.h). */
typedef struct hone__simpol_ops {
    /* Makes the state for `capacity` objects (>= 1). HONE_OK, HONE_ENOMEM. */
    int (*create)(void **state, uint64_t capacity, const hone_allocator *a);
    /* One access: 1 hit, 0 miss, HONE_ENOMEM. */
    int (*access)(void *state, uint64_t key);
    void (*destroy)(void *state);
} hone__simpol_ops;

extern const hone__simpol_ops hone__simpol_lirs;
extern const hone__simpol_ops hone__simpol_sieve;
extern const hone__simpol_ops hone__simpol_wtinylfu;

/* Belady's optimum (offline: it needs the whole trace): evicts the object
 * whose next use is farthest in the future (never used again first).
 * *hits gets the hits of keys[0..n) in a cache of `capacity` objects.
 * HONE_OK, HONE_EINVAL (capacity 0), HONE_ENOMEM. */
int hone__sim_belady(const uint64_t *keys, size_t n, uint64_t capacity, const hone_allocator *a,
                     uint64_t *hits);

#endif
