/* internal.h - what the io module's files share; not part of the API. */
#ifndef HONE_IO_INTERNAL_H
#define HONE_IO_INTERNAL_H

#include "cache/filecache_internal.h"
#include "hone/io.h"

/* The thread count for a request of `requested` (0: the default). */
unsigned hone__io_default_threads(unsigned requested);
/* Opens root as a directory, O_CLOEXEC; on failure fills err with a line
 * naming the path. */
int hone__io_open_root(const char *root, int *fd, hone_error *err);

/* ------------------------------------------------------------------ */
/* The incremental index (index.c): a file-validated cache             */
/* (src/cache/filecache.c) persisted in one LMDB file, whose value for  */
/* each file is its algorithm and digest.                               */
/* ------------------------------------------------------------------ */

/* Opens (creating if needed) the index file in dir as a file-validated
 * cache named "hone.io.index", with the racy-timestamp rule's clock and
 * granularity from o. A file that is not a regular file, not a sound LMDB
 * environment (validated before LMDB reads any page), lacks the index's
 * magic record, or has another version is moved aside to "<file>.corrupt"
 * and recreated with a warning, and *rebuilt is set. Returns HONE_OK,
 * HONE_EIO/HONE_EACCES (err filled) if it cannot be created, HONE_ENOMEM.
 * LMDB allocates with malloc, not through `a`. */
int hone__io_index_open(hone_filecache **out, const char *dir, const hone_allocator *a,
                        const hone_io_manifest_opts *o, int *rebuilt, hone_error *err);

/* The longest value the index stores: an algorithm byte and a digest. */
#define HONE__IO_INDEX_VALUE_MAX (1 + HONE_IO_DIGEST_MAX)
/* Encodes algo and digest as an index value into buf; returns its length. */
size_t hone__io_index_value(uint8_t *buf, int algo, const uint8_t *digest, size_t dlen);
/* Whether the stored value v[0..vlen) is a digest of algo with dlen
 * bytes; if so copies it into digest and returns 1, else 0 (an entry made
 * with another algorithm, to be replaced). */
int hone__io_index_digest(const void *v, size_t vlen, int algo, size_t dlen, uint8_t *digest);

/* The walker behind hone_io_walk. With lazy_files set, an entry that
 * getdents reports as a regular file (d_type DT_REG) is passed to on_entry
 * without being stat'ed: its type is HONE_IO_FILE, its mode 0 and its dev,
 * ino, size and times 0, and the callback must stat or open it itself
 * (relative to dirfd, without following links). It saves the manifest
 * builder one fstatat per file it is going to open and fstat anyway. The
 * walk's stats then count such files but not their bytes. */
int hone__io_walk(const char *root, const hone_io_walk_opts *opts, int lazy_files,
                  hone_io_walk_stats *stats, hone_error *err);

/* The name of the index file inside its directory. */
#define HONE__IO_INDEX_FILE "manifest-index.mdb"

#endif
