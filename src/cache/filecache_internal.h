/* filecache_internal.h - the file-validated cache's lower-level calls for
 * the manifest builder (src/io): one read snapshot per thread with a
 * per-directory scan, and one batched write pass per run. Not part of the
 * API: their shapes follow the manifest's walk (sorted appends, a
 * directory prefix per lookup) and would freeze it if exported. */
#ifndef HONE_CACHE_FILECACHE_INTERNAL_H
#define HONE_CACHE_FILECACHE_INTERNAL_H

#include "hone/filecache.h"

/* A stored entry. value points into LMDB's map and stays valid while the
 * reader that found it lives. */
typedef struct hone__filecache_entry {
    hone_file_id id;
    int64_t stamp_ns; /* when the load that stored it began */
    const void *value;
    size_t vlen;
} hone__filecache_entry;

/* Whether e may be trusted for a file whose identity is now *id at time
 * now_ns: HONE_FILECACHE_HIT, _STALE (another identity), _RACY (the
 * racy-timestamp rule, see hone_filecache_opts.granularity_ns) or _EXPIRED
 * (ttl_ns). The one implementation of the rule, for get and the manifest.
 * Thread-safe. */
int hone__filecache_verdict(const hone_filecache *fc, const hone__filecache_entry *e,
                            const hone_file_id *id, int64_t now_ns);

/* Whether the file was moved aside and recreated at open. */
int hone__filecache_recreated(const hone_filecache *fc);

/* The longest key a persisted cache stores (SIZE_MAX in memory). */
size_t hone__filecache_max_key(const hone_filecache *fc);

/* The rest needs a persisted cache (HONE_ESTATE otherwise).
 *
 * Readers: each thread that looks entries up makes its own (an LMDB
 * read-only transaction, a snapshot; MDB_NOTLS lets any thread end it) and
 * keeps it for a whole run. hone__filecache_find looks up key, whose first
 * dirlen bytes are its directory ("<root>/<dir>/"): the first lookup in a
 * directory reads all of that directory's entries with one cursor scan into
 * a hash table of the reader, so the lookups that follow (a thread lists a
 * whole directory at a time) cost a hash probe. Returns 1 with *e filled,
 * 0 when there is no entry, HONE__FILECACHE_BAD_ENTRY when the entry fails
 * its checksum or layout (the caller must distrust the whole file and call
 * hone__filecache_reset), or HONE_ENOMEM. */
#define HONE__FILECACHE_BAD_ENTRY 2
typedef struct hone__filecache_reader hone__filecache_reader;
int hone__filecache_reader_begin(hone_filecache *fc, hone__filecache_reader **out);
int hone__filecache_find(hone__filecache_reader *r, const char *key, size_t klen, size_t dirlen,
                         hone__filecache_entry *e);
void hone__filecache_reader_end(hone__filecache_reader *r);

/* A write pass: begin, puts, commit (or abort), on one thread, with no get
 * or invalidate of the same cache on that thread meanwhile (LMDB allows one
 * writer; they would wait for this one). A put with append set must have a
 * key greater than every key in the file (LMDB's MDB_APPEND: pages fill in
 * order without searching; a key out of order fails with HONE_EEXIST rather
 * than damaging anything). Keys longer than max_key are skipped (HONE_OK). */
int hone__filecache_begin(hone_filecache *fc);
int hone__filecache_put(hone_filecache *fc, const char *key, size_t klen, const hone_file_id *id,
                        int64_t stamp_ns, const void *value, size_t vlen, int append);
int hone__filecache_commit(hone_filecache *fc);
void hone__filecache_abort(hone_filecache *fc);
/* Empties the file (inside a write pass), keeping its magic record. */
int hone__filecache_reset(hone_filecache *fc);
/* The number of entries (in the write pass if one is open, else in a short
 * read transaction), UINT64_MAX if unknown. */
uint64_t hone__filecache_entries(hone_filecache *fc);
/* Deletes (inside a write pass) every entry whose key starts with prefix
 * and for whose rest keep() returns 0, so entries of files deleted from a
 * tree do not stay forever. Adds the count to *pruned (may be NULL). */
int hone__filecache_prune(hone_filecache *fc, const char *prefix, size_t plen,
                          int (*keep)(void *ctx, const char *rest, size_t len), void *ctx,
                          uint64_t *pruned);

#endif
