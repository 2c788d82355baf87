/* filecache.h - hone's file-validated cache: values derived from files
 * (parsed configuration, checksums) kept until the file changes, in memory
 * or in an LMDB file that survives restarts. */
#ifndef HONE_FILECACHE_H
#define HONE_FILECACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "hone/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What identifies a file's content without reading it: a rewrite in place
 * changes size, mtime or ctime; a replacement (rename over, delete and
 * create) changes the inode; another mount the device. Times are
 * nanoseconds since the epoch. */
typedef struct hone_file_id {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
} hone_file_id;

/* Fills *id from a stat result. Thread-safe; cannot fail. */
HONE_API void hone_file_id_from_stat(hone_file_id *id, const struct stat *sb);

/* How a lookup ended, so callers and tests can tell why a file was read.
 * Append-only. */
typedef enum hone_filecache_result {
    HONE_FILECACHE_HIT = 0,     /* the stored value was valid and returned */
    HONE_FILECACHE_MISS = 1,    /* nothing stored for the path: loaded */
    HONE_FILECACHE_STALE = 2,   /* stored for another identity (the file changed): loaded */
    HONE_FILECACHE_RACY = 3,    /* same identity, but stored too soon after the file's last
                                 * write to rule out a later rewrite in the same tick: loaded */
    HONE_FILECACHE_EXPIRED = 4, /* older than ttl_ns: loaded */
    HONE_FILECACHE_JOINED = 5   /* another thread was loading the same file: its value */
} hone_filecache_result;

/* A nanosecond clock on the scale of file timestamps (CLOCK_REALTIME). */
typedef int64_t (*hone_filecache_clock_fn)(void *ctx);

typedef struct hone_filecache_opts {
    const hone_allocator *alloc; /* NULL: the default allocator */
    /* The LMDB file to persist in (made with its directories if missing;
     * LMDB adds "<path>-lock" beside it). NULL: memory only. */
    const char *path;
    /* What the values are, written into the file's magic record
     * ("\001<name>"), so that a file holding another kind of value (say a
     * manifest index opened as a config cache) is refused like a foreign
     * one. NULL: "hone.filecache". Up to 200 bytes. */
    const char *name;
    /* Memory only: the most entries kept; the least recently used goes
     * first. 0: 65536 (an entry costs about 100 bytes plus its path and
     * value, so a few MB for small values). A persisted cache is bounded
     * by map_size instead. */
    uint64_t max_entries;
    /* A value is reloaded once this old (from when the load began), even if
     * the file has not changed: for values that depend on more than the
     * file (a config that includes others). 0: no expiry. Measured with
     * clock_ns, so it survives a restart of a persisted cache. */
    uint64_t ttl_ns;
    /* The racy-timestamp rule. A value is trusted only if the file's mtime
     * lies in an earlier granule than the moment its load began (both
     * truncated to the granularity): a rewrite after that moment gives an
     * mtime in that granule or later, so only then is it sure that the
     * identity would show a rewrite. The granularity of each file is
     * detected from its own mtime (Linux truncates to the file system's:
     * an mtime with zero nanoseconds means a 1 s or 2 s file system such as
     * ext4 with 128-byte inodes, FAT or HFS+, and is taken as 2 s; else the
     * largest power of ten dividing it), never finer than the real one;
     * granularity_ns, when larger, overrides it (a network file system whose
     * server clock is ahead of this machine's). 0: detection only. The
     * price: a file loaded within a granule of its last write is loaded
     * again on the next lookup (counted as RACY), until a load starts a
     * granule after the write. */
    uint64_t granularity_ns;
    /* "Now" for the racy rule and the ttl. NULL: CLOCK_REALTIME_COARSE,
     * the clock the kernel stamps file times with. Tests inject one. */
    hone_filecache_clock_fn clock_ns;
    void *clock_ctx;
    /* A persisted file that is not a sound LMDB file hone wrote for this
     * name and format version (checked page by page before LMDB reads it,
     * so a truncated or overwritten file cannot crash the process):
     * 0: refused with HONE_ECORRUPT; nonzero: moved aside to
     * "<path>.corrupt" (replacing an older one) and recreated empty, with a
     * warning, and counted in stats.recreated. */
    int recreate;
    /* The LMDB map size: the most the file may grow to. 0: 1 GiB (address
     * space only; the file grows as entries are added). */
    uint64_t map_size;
} hone_filecache_opts;

typedef struct hone_filecache hone_filecache;

/* Opens a file-validated cache (see hone_filecache_opts). Returns HONE_OK;
 * HONE_EINVAL (out NULL, path empty, name empty or too long, granularity
 * above INT64_MAX); HONE_ECORRUPT (a foreign, damaged or other-version
 * file with recreate unset; err names the file); HONE_EIO, HONE_EACCES or
 * HONE_ENOTFOUND (the file or its directory cannot be made or opened; err
 * says which); HONE_ENOMEM. On failure *out is NULL and nothing leaks.
 * LMDB allocates with malloc, outside the allocator seam. err may be NULL.
 * Thread-safe; several caches (in one process or many) may share one file,
 * LMDB serialising their writes. */
HONE_API int hone_filecache_new(hone_filecache **out, const hone_filecache_opts *opts,
                                hone_error *err);

/* Closes the cache; a persisted one keeps its entries in the file. No call
 * may be running on any thread. NULL is a no-op. */
HONE_API void hone_filecache_free(hone_filecache *fc);

/* Reads the value of `path` into *out (cleared first). A loader turns the
 * open file into its value: it reads fd (open read-only on the regular file
 * at path; the cache closes it), whose identity (from fstat) is *id, and
 * appends the value to out. It returns HONE_OK, or a negative status that
 * the get returns (and every thread waiting for it); a failed load stores
 * nothing. */
typedef int (*hone_filecache_loader_fn)(void *ctx, const char *path, int fd, const hone_file_id *id,
                                        hone_buf *out);

/* Gets the value derived from the file at path, loading it if needed. The
 * file is stat'ed (following links) unless `known` gives its identity (the
 * caller already has a stat: no second one). A value stored for exactly
 * that identity, not racy and not expired (see the options) is returned;
 * otherwise the file is opened, fstat'ed and passed to the loader, and the
 * value stored under the identity of what was read, replacing the old one.
 * Single flight: while one thread loads a path, others asking for it wait,
 * and take its value if their own identity of the file equals the one the
 * loader read (otherwise they load again themselves), or its error. So N
 * threads asking at once for an uncached file run the loader once.
 *
 * path is the key as given: "a" and "./a" are two entries, and a relative
 * path means another file after a chdir; the identity check makes that
 * safe (the other file has another inode) but costs a reload, so pass
 * absolute paths where the working directory moves. A persisted cache
 * never stores paths longer than LMDB's key limit (511 bytes): those are
 * loaded on every get.
 *
 * Costs: a hit is one stat (none with `known`) and, persisted, one LMDB
 * read transaction; a persisted miss commits one write transaction (one
 * fsync) after the load.
 *
 * Returns HONE_OK with the value in *out (its content is unspecified after
 * an error) and *how (may be NULL) saying how it was found; HONE_EINVAL (a
 * NULL argument, empty path); the stat or open failure as a status
 * (HONE_ENOTFOUND, HONE_EACCES, HONE_EIO); HONE_EINVAL when path is not a
 * regular file; the loader's status; HONE_ENOMEM. A
 * value that cannot be stored (out of memory, a persisted write failing,
 * e.g. the map full) is still returned, counted in stats.store_failures.
 * Thread-safe; the loader runs on the calling thread without any lock of
 * the cache held, but must not get the same path from this cache (it would
 * wait for itself). */
HONE_API int hone_filecache_get(hone_filecache *fc, const char *path, const hone_file_id *known,
                                hone_filecache_loader_fn loader, void *ctx, hone_buf *out,
                                hone_filecache_result *how);

/* Forgets the value of path, so the next get loads it. Returns HONE_OK,
 * HONE_ENOTFOUND (nothing stored), HONE_EINVAL (NULL argument), or an LMDB
 * failure as a status (HONE_EIO, HONE_ERANGE when the map is full).
 * Thread-safe. */
HONE_API int hone_filecache_invalidate(hone_filecache *fc, const char *path);

typedef struct hone_filecache_stats {
    uint64_t hits;           /* gets answered from a stored value */
    uint64_t misses, stale, racy, expired; /* loads, by why (see hone_filecache_result) */
    uint64_t joined;         /* gets that took another thread's load */
    uint64_t load_failures;  /* loads (or stat/open) that failed */
    uint64_t corrupt;        /* persisted entries whose checksum failed: reloaded */
    uint64_t store_failures; /* values returned but not stored */
    uint64_t entries;        /* stored now (a persisted cache: in the file) */
    uint64_t recreated;      /* 1 when the file was moved aside and recreated at open */
    uint64_t waiting;        /* threads waiting now for another thread's load */
} hone_filecache_stats;

/* Fills *st with the counts since the cache was opened. Thread-safe. */
HONE_API void hone_filecache_stats_get(hone_filecache *fc, hone_filecache_stats *st);

#ifdef __cplusplus
}
#endif

#endif
