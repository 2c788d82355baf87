/* cachesim.h - cache traces and the policy simulator: reads real cache
 * traces (cache2k, ARC block ranges, one key per line; plain, xz or zstd)
 * and replays them through hone's policy, on the same code as the live
 * cache, and through the published policies it is compared with (LRU, ARC,
 * S3-FIFO, LIRS, SIEVE, W-TinyLFU, Belady's optimum). `hone cache sim` is
 * its command line. The cache itself is cache.h. */
#ifndef HONE_CACHESIM_H
#define HONE_CACHESIM_H

#include <stddef.h>
#include <stdint.h>

#include "hone/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Policies                                                            */
/* ------------------------------------------------------------------ */

/* The eviction policies. HONE is the cache's own (an adaptive W-TinyLFU,
 * see docs/design/cache.md); the others are faithful reference policies
 * for the simulator. Append-only.
 *
 * HONE_CACHE_POLICY_COUNT keeps its first meaning: the number of policies
 * before LIRS (hone, LRU, ARC, S3-FIFO), the ones that loops over "every
 * policy" have always meant, so their output does not change. LIRS, SIEVE,
 * W-TinyLFU (libCacheSim's, a static 1 % window) and Belady's optimum
 * exist only in the simulator, which replays them from a cold start with
 * unit sizes; BELADY is offline (it needs the whole trace), so only
 * hone_cache_sim_run takes it. HONE_CACHE_POLICY_ALL_COUNT counts every
 * value. */
typedef enum hone_cache_policy {
    HONE_CACHE_POLICY_HONE = 0,
    HONE_CACHE_POLICY_LRU = 1,
    HONE_CACHE_POLICY_ARC = 2,
    HONE_CACHE_POLICY_S3FIFO = 3,
    HONE_CACHE_POLICY_LIRS = 4,
    HONE_CACHE_POLICY_SIEVE = 5,
    HONE_CACHE_POLICY_WTINYLFU = 6,
    HONE_CACHE_POLICY_BELADY = 7,
    HONE_CACHE_POLICY_ALL_COUNT = 8,
    HONE_CACHE_POLICY_COUNT = HONE_CACHE_POLICY_LIRS
} hone_cache_policy;

/* The policy's short name ("hone", "lru", "arc", "s3fifo", "lirs",
 * "sieve", "wtinylfu", "belady"), or NULL for an unknown value. Static
 * string; thread-safe. */
HONE_API const char *hone_cache_policy_name(int policy);
/* Parses a short name (as above, case-sensitive; "s3-fifo" and
 * "w-tinylfu" are accepted).
 * Returns HONE_OK, or HONE_EINVAL with err naming the value and the valid
 * names (and the nearest one). */
HONE_API int hone_cache_policy_parse(const char *name, int *out, hone_error *err);

/* ------------------------------------------------------------------ */
/* Traces                                                              */
/* ------------------------------------------------------------------ */

/* Trace formats (see hone-cache(1)). AUTO picks by the file name's
 * suffix: ".lis" is ARC, ".trace" is cache2k (either may be followed by
 * ".xz", ".zst" or ".gz"), anything else lines. */
typedef enum hone_cache_trace_format {
    HONE_CACHE_TRACE_AUTO = 0,
    HONE_CACHE_TRACE_CACHE2K = 1, /* big-endian int32 keys, no header */
    HONE_CACHE_TRACE_ARC = 2,     /* "start count ignored reqno" lines */
    HONE_CACHE_TRACE_LINES = 3    /* one key per line (text, hashed) */
} hone_cache_trace_format;

/* Parses "cache2k", "arc", "lines" or "auto". Returns HONE_OK or
 * HONE_EINVAL (err filled). */
HONE_API int hone_cache_trace_format_parse(const char *name, int *out, hone_error *err);
/* "auto", "cache2k", "arc" or "lines"; NULL for another value. */
HONE_API const char *hone_cache_trace_format_name(int format);
/* The format AUTO picks for path, by its name alone (never AUTO).
 * "keys.list" is lines: a suffix counts, not a substring. Thread-safe. */
HONE_API int hone_cache_trace_format_detect(const char *path);

typedef struct hone_cache_trace hone_cache_trace;

/* Opens a trace file. Compression is detected from the content: xz and
 * zstd streams are decompressed on the fly, anything else is read plain.
 * Returns HONE_OK; HONE_EINVAL (bad format value); HONE_ENOTFOUND,
 * HONE_EACCES or HONE_EIO when the file cannot be opened; HONE_ENOMEM.
 * On failure *out is NULL and err says why. Not thread-safe per handle. */
HONE_API int hone_cache_trace_open(hone_cache_trace **out, const char *path, int format,
                                   const hone_allocator *alloc, hone_error *err);

/* Reads the next key. Returns 1 with *key set, 0 at the clean end of the
 * trace, or a negative status: HONE_ETRUNC (the file or its compressed
 * stream ends mid-record), HONE_EPARSE or HONE_ECORRUPT (malformed data),
 * HONE_EIO. Errors fill err with the byte offset (err->offset; of the
 * decompressed data, and the compressed offset too in the message for
 * compressed files) and for text formats the line. Lines keys are 64-bit
 * hashes of the line's text, so distinct lines may in theory collide. */
HONE_API int hone_cache_trace_next(hone_cache_trace *t, uint64_t *key, hone_error *err);

/* Closes the trace; NULL is a no-op. */
HONE_API void hone_cache_trace_close(hone_cache_trace *t);

/* Reads a whole trace into an array allocated with alloc (the caller frees
 * it with hone_free(alloc, *keys)). Returns as hone_cache_trace_open and
 * hone_cache_trace_next do; on error *keys is NULL and *n 0. */
HONE_API int hone_cache_trace_load(const char *path, int format, const hone_allocator *alloc,
                                   uint64_t **keys, size_t *n, hone_error *err);

/* ------------------------------------------------------------------ */
/* Simulator                                                           */
/* ------------------------------------------------------------------ */

/* A policy replayed over keys with unit sizes, counting object hits from a
 * cold start: the conventions of libCacheSim's --ignore-obj-size 1. */
typedef struct hone_cache_sim hone_cache_sim;

/* Creates a simulator of `policy` holding `capacity` objects. Returns
 * HONE_OK, HONE_EINVAL (unknown policy, capacity 0, or BELADY: the optimum
 * needs the whole trace, so only hone_cache_sim_run replays it) or
 * HONE_ENOMEM. */
HONE_API int hone_cache_sim_new(hone_cache_sim **out, int policy, uint64_t capacity,
                                const hone_allocator *alloc);
/* Replays one access. Returns 1 on a hit, 0 on a miss, HONE_ENOMEM. */
HONE_API int hone_cache_sim_access(hone_cache_sim *s, uint64_t key);
/* Hits and accesses so far. */
HONE_API void hone_cache_sim_counts(const hone_cache_sim *s, uint64_t *hits, uint64_t *accesses);
/* Hits / accesses in percent (0 before the first access). */
HONE_API double hone_cache_sim_hit_percent(const hone_cache_sim *s);
/* NULL is a no-op. */
HONE_API void hone_cache_sim_free(hone_cache_sim *s);

/* Replays keys[0..n) through a fresh simulator; *hit_percent gets the
 * object hit ratio in percent. Returns HONE_OK, HONE_EINVAL, HONE_ENOMEM.
 * Thread-safe (keys are only read). */
HONE_API int hone_cache_sim_run(int policy, uint64_t capacity, const uint64_t *keys, size_t n,
                                const hone_allocator *alloc, double *hit_percent);

#ifdef __cplusplus
}
#endif
#endif /* HONE_CACHESIM_H */
