/* disk.h - the cache's disk tier: one LMDB file of entries with stored
 * expiry times, written by one writer thread in group commits, bounded in
 * bytes; not part of the API (hone_cache_open puts it behind the cache). */
#ifndef HONE_CACHE_DISK_H
#define HONE_CACHE_DISK_H

#include <stddef.h>
#include <stdint.h>

#include "hone/cache.h"
#include "hone/core.h"

typedef struct hone__disk hone__disk;

typedef struct hone__disk_options {
    const hone_allocator *alloc; /* NULL: the default allocator */
    const char *path;            /* the database file (MDB_NOSUBDIR); its directory is made */
    uint64_t max_bytes;          /* bound on stored entry bytes (key + value + header); > 0 */
    int nosync;                  /* 0: sync (see hone__disk_put); 1: nosync */
    unsigned group_max;          /* puts per transaction at most; 0: 512 */
    uint64_t group_wait_ns;      /* nosync: how long the writer gathers puts; 0: 1 ms */
    uint64_t sync_interval_ns;   /* nosync: mdb_env_sync period; 0: 1 s */
    int recreate;                /* refused file: moved aside to PATH.corrupt, started empty */
    /* Wall clock for stored expiry times (ns since the epoch); NULL:
     * CLOCK_REALTIME. Injectable so tests can expire entries. */
    hone_cache_clock_fn wall_clock;
    void *wall_clock_ctx;
} hone__disk_options;

/* Opens or creates the database. A file hone did not write, of another
 * format version, or failing hone__lmdb_precheck/validate is refused with
 * HONE_ECORRUPT and err naming the path and why, unless recreate is set
 * (then moved aside with a warning, *recreated set when non-NULL). Stale
 * reader slots are cleared (mdb_reader_check). Returns HONE_OK,
 * HONE_EINVAL (bad options), HONE_ECORRUPT, HONE_EACCES, HONE_EIO,
 * HONE_ENOMEM; on failure *out is NULL and nothing leaks. */
int hone__disk_open(hone__disk **out, const hone__disk_options *o, int *recreated,
                    hone_error *err);

/* Commits and syncs everything queued, stops the writer and closes the
 * file. NULL is a no-op. */
void hone__disk_close(hone__disk *d);

/* Looks key up: queued writes first (read-your-writes), then the file. A
 * hit copies the value into val (cleared first) and sets *expire_wall_ns
 * (0: never). Expired entries are misses. A record whose checksum, length
 * or full key does not match is a miss, counted as corrupt and deleted by
 * the writer. Returns HONE_OK, HONE_ENOTFOUND, HONE_ENOMEM, or an LMDB
 * failure. Thread-safe. */
int hone__disk_get(hone__disk *d, const void *key, size_t klen, hone_buf *val,
                   uint64_t *expire_wall_ns);

/* Queues a put of key (any length: keys longer than LMDB's limit are
 * stored under their BLAKE3 digest with the full key kept and compared)
 * with expiry expire_wall_ns (0: never). Under sync it returns once the
 * group holding it is committed and fsynced; under nosync once queued
 * (visible to hone__disk_get at once, in the file within group_wait_ns,
 * durable within sync_interval_ns). Eviction keeps the stored bytes under
 * max_bytes; MDB_MAP_FULL is handled by evicting and growing the map
 * within the bound, never returned. Returns HONE_OK, HONE_EINVAL (an entry
 * bigger than max_bytes / 4), HONE_ENOMEM, or HONE_EIO when the file
 * cannot be written (err-less; the writer logs the cause). Thread-safe. */
int hone__disk_put(hone__disk *d, const void *key, size_t klen, const void *val, size_t vlen,
                   uint64_t expire_wall_ns);

/* Queues a delete of key; waits as hone__disk_put does. Returns HONE_OK
 * (also when absent), HONE_ENOMEM, HONE_EIO. Thread-safe. */
int hone__disk_delete(hone__disk *d, const void *key, size_t klen);

/* Removes every entry (in one transaction, synced). Returns HONE_OK or an
 * LMDB failure. Thread-safe. */
int hone__disk_clear(hone__disk *d);

/* Returns once everything queued before the call is committed and synced
 * (under nosync too). Returns HONE_OK or HONE_EIO. Thread-safe. */
int hone__disk_flush(hone__disk *d);

/* Calls fn for each live entry in a read snapshot of the file (queued
 * writes first flushed). Nonzero from fn stops the walk and is returned.
 * Damaged records are skipped (and queued for deletion). fn must not put,
 * delete, clear or flush this tier: the walk holds a read slot that a map
 * resize by the writer waits for. Thread-safe. */
int hone__disk_iterate(hone__disk *d,
                       int (*fn)(void *ctx, const void *key, size_t klen, const void *val,
                                 size_t vlen, uint64_t expire_wall_ns),
                       void *ctx);

typedef struct hone__disk_stats {
    uint64_t hits, misses, puts, deletes;
    uint64_t evictions, expired, corrupt; /* records dropped for each reason */
    uint64_t commits, syncs, map_grows;
    uint64_t entries, bytes, max_bytes; /* stored now */
    uint64_t file_bytes;                /* size of the file on disk */
} hone__disk_stats;

void hone__disk_stats_get(hone__disk *d, hone__disk_stats *st);

/* The on-disk format, for tests and tools that read the file with LMDB
 * directly (docs/design/tiers.md describes it). One unnamed database:
 * - MAGIC_KEY -> MAGIC_PREFIX, the format version in decimal, a space, and
 *   the uint32 0x01020304 in native order (a byte-order probe);
 * - STATE_KEY -> {bytes, entries, next_seq, checksum} (uint64s);
 * - 'd' + BLAKE3-256(key) -> entry record holding the full key;
 * - 'k' + key -> entry record, for keys that fit LMDB's key limit less one;
 * - 'o' + big-endian uint64 seq -> the entry's LMDB key (the FIFO order).
 * The ranges sort in that order: the order index last, appended to with
 * MDB_APPEND (full pages). Put first, it cost 30 % more leaf pages (100k
 * keys put in ascending order: 8893 against 6775; entries alone 4348),
 * because its inserts split the page it shares with the entries.
 * Bump the version whenever a record's layout changes: files of another
 * version are refused (or moved aside), never read. */
#define HONE__DISK_FORMAT_VERSION 1
#define HONE__DISK_MAGIC_KEY "\001hone.cache.disk"
#define HONE__DISK_STATE_KEY "\001hone.cache.disk.state"
#define HONE__DISK_MAGIC_PREFIX "hone-cache-disk v"
#define HONE__DISK_HASHED_PREFIX 'd'
#define HONE__DISK_ENTRY_PREFIX 'k'
#define HONE__DISK_ORDER_PREFIX 'o'

/* Writes this build's magic record value into buf (n bytes of room).
 * Returns its length, or 0 if it does not fit. */
int hone__disk_magic_value(char *buf, size_t n);

#endif
