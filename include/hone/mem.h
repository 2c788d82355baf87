/* hone/mem.h - memory helpers that avoid allocation churn: a pool of
 * fixed-size objects with per-thread caches, a thread-safe string interner
 * with stable pointers, and a bump arena with reset. */
#ifndef HONE_MEM_H
#define HONE_MEM_H

#include "hone/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Object pool                                                         */
/* ------------------------------------------------------------------ */

typedef struct hone_objpool hone_objpool;

typedef struct hone_objpool_opts {
    size_t obj_size;      /* bytes per object; required (rounded up to 16) */
    size_t cache_size;    /* objects per thread cache; 0: 64; 1 disables */
    size_t slab_objects;  /* objects carved per slab allocation; 0: 256 */
    const hone_allocator *alloc;
} hone_objpool_opts;

typedef struct hone_objpool_stats {
    uint64_t gets, puts;       /* calls that returned an object / took one */
    uint64_t cache_hits;       /* gets served by the calling thread's cache */
    uint64_t slabs;            /* slab allocations made */
    uint64_t capacity;         /* objects carved from slabs so far */
    uint64_t in_use;           /* gets - puts */
    uint64_t bytes;            /* memory held by the pool's slabs */
} hone_objpool_stats;

/* Makes a pool. Returns HONE_OK, HONE_EINVAL (obj_size 0 or out NULL),
 * HONE_ENOMEM; on failure *out is NULL. */
HONE_API int hone_objpool_new(hone_objpool **out, const hone_objpool_opts *opts);

/* An object of obj_size bytes, 16-byte aligned (64-byte aligned when the
 * rounded size is a multiple of 64, so that objects used on different
 * threads never share a cache line), contents undefined; NULL
 * when a new slab cannot be allocated. Thread-safe: each thread keeps a
 * small cache (a thread serves up to 4 pools from caches; more pools share
 * the locked path). */
HONE_API void *hone_objpool_get(hone_objpool *p);

/* Returns an object obtained from hone_objpool_get of the same pool (any
 * thread may return it). NULL is a no-op. Thread-safe. */
HONE_API void hone_objpool_put(hone_objpool *p, void *obj);

/* Counters summed over all threads. gets/puts/cache_hits are counted per
 * thread and are approximate while other threads run. Thread-safe. */
HONE_API void hone_objpool_stats_get(hone_objpool *p, hone_objpool_stats *out);

/* Frees the pool and all its memory, including objects still out and
 * objects in threads' caches. No thread may use the pool during or after
 * the call. NULL is a no-op. */
HONE_API void hone_objpool_free(hone_objpool *p);

/* ------------------------------------------------------------------ */
/* String interner                                                     */
/* ------------------------------------------------------------------ */

typedef struct hone_interner hone_interner;

typedef struct hone_interner_opts {
    const hone_allocator *alloc;
} hone_interner_opts;

HONE_API int hone_interner_new(hone_interner **out, const hone_interner_opts *opts);

/* The interned copy of s[0..len) (NUL-terminated): equal strings give the
 * same pointer, so they compare with ==. The pointer stays valid until the
 * interner is freed. Thread-safe (sharded locks). Returns HONE_OK with
 * *out set, HONE_EINVAL, HONE_ENOMEM (*out NULL, nothing changed). */
HONE_API int hone_intern(hone_interner *in, const char *s, size_t len, const char **out);

/* The interned copy of s if it was interned before, else NULL. Never
 * allocates. Thread-safe. */
HONE_API const char *hone_intern_lookup(hone_interner *in, const char *s, size_t len);

/* Number of distinct strings interned. Thread-safe. */
HONE_API size_t hone_interner_count(hone_interner *in);

/* Frees the interner and every string it handed out. NULL is a no-op. */
HONE_API void hone_interner_free(hone_interner *in);

/* ------------------------------------------------------------------ */
/* Arena                                                               */
/* ------------------------------------------------------------------ */

typedef struct hone_arena hone_arena;

typedef struct hone_arena_opts {
    size_t chunk_size; /* bytes per chunk; 0: 64 KiB. Larger requests get
                          a chunk of their own. */
    const hone_allocator *alloc;
} hone_arena_opts;

HONE_API int hone_arena_new(hone_arena **out, const hone_arena_opts *opts);

/* size bytes aligned to `align` (a power of two up to 4096; 0 means 16).
 * Valid until the next reset or free. NULL on out-of-memory or a bad
 * alignment. Not thread-safe: one arena per thread or request. */
HONE_API void *hone_arena_alloc(hone_arena *a, size_t size, size_t align);

/* Forgets every allocation but keeps the memory: the next allocations
 * reuse the first chunk(s) without calling the allocator. Oversized chunks
 * are released. */
HONE_API void hone_arena_reset(hone_arena *a);

/* Bytes handed out since the last reset, and bytes held in chunks. */
HONE_API size_t hone_arena_used(const hone_arena *a);
HONE_API size_t hone_arena_reserved(const hone_arena *a);

/* Frees the arena and all its chunks. NULL is a no-op. */
HONE_API void hone_arena_free(hone_arena *a);

#ifdef __cplusplus
}
#endif
#endif /* HONE_MEM_H */
