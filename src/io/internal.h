/* internal.h - what the io module's files share; not part of the API. */
#ifndef HONE_IO_INTERNAL_H
#define HONE_IO_INTERNAL_H

#include "hone/io.h"

/* The thread count for a request of `requested` (0: the default). */
unsigned hone__io_default_threads(unsigned requested);
/* Opens root as a directory, O_CLOEXEC; on failure fills err with a line
 * naming the path. */
int hone__io_open_root(const char *root, int *fd, hone_error *err);

/* What identifies a file's content without reading it. */
typedef struct hone__io_fstat {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
} hone__io_fstat;

/* ------------------------------------------------------------------ */
/* The incremental index (index.c), an LMDB environment in one file.  */
/* ------------------------------------------------------------------ */

typedef struct hone__io_index hone__io_index;

/* Opens (creating if needed) the index file in dir. A file that is not an
 * LMDB environment, lacks hone's magic record, or has another version is
 * deleted and recreated with a warning, and *rebuilt is set. Returns
 * HONE_OK, HONE_EIO/HONE_EACCES (err filled) if it cannot be created,
 * HONE_ENOMEM. LMDB allocates with malloc, not through `a`. */
int hone__io_index_open(hone__io_index **out, const char *dir, const hone_allocator *a,
                        int *rebuilt, hone_error *err);
void hone__io_index_close(hone__io_index *ix);

/* The longest key the index accepts; longer paths are never cached. */
size_t hone__io_index_max_key(const hone__io_index *ix);

/* Readers: each thread that looks entries up makes its own (an LMDB
 * read-only transaction; MDB_NOTLS lets any thread end it). A lookup
 * returns 1 and fills digest when an entry for key exists with this
 * algorithm and stat, 0 when there is none or it differs, and -1 when the
 * entry is malformed (the caller must then distrust the whole index and
 * call hone__io_index_reset). *stamp_ns receives the entry's stamp for the
 * racy check. */
typedef struct hone__io_reader hone__io_reader;
int hone__io_index_reader(hone__io_index *ix, hone__io_reader **out);
int hone__io_index_lookup(hone__io_reader *r, const char *key, size_t klen, int algo,
                          const hone__io_fstat *st, uint8_t *digest, size_t dlen,
                          int64_t *stamp_ns);
void hone__io_index_reader_end(hone__io_reader *r);

/* A write pass: begin, puts, commit (or abort). */
int hone__io_index_begin_write(hone__io_index *ix);
int hone__io_index_put(hone__io_index *ix, const char *key, size_t klen, int algo,
                       const hone__io_fstat *st, const uint8_t *digest, size_t dlen,
                       int64_t stamp_ns);
int hone__io_index_commit(hone__io_index *ix);
void hone__io_index_abort(hone__io_index *ix);
/* Empties the index and writes its magic record again (inside a write
 * pass). */
int hone__io_index_reset(hone__io_index *ix);
/* The number of file entries (inside a write pass), UINT64_MAX if unknown. */
uint64_t hone__io_index_entries(hone__io_index *ix);
/* Deletes (inside a write pass) every entry whose key starts with prefix
 * and for whose rest keep() returns 0, so files deleted from a tree do not
 * stay in the index forever. Returns HONE_OK or an LMDB failure. */
int hone__io_index_prune(hone__io_index *ix, const char *prefix, size_t plen,
                         int (*keep)(void *ctx, const char *rest, size_t len), void *ctx,
                         uint64_t *pruned);

/* The name of the index file inside its directory. */
#define HONE__IO_INDEX_FILE "manifest-index.mdb"

#endif
