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

/* Opens (creating if needed) the index file in dir. A file that is not a
 * regular file, not a sound LMDB environment (validated before LMDB reads
 * any page), lacks hone's magic record, or has another version is moved
 * aside to "<file>.corrupt" and recreated with a warning, and *rebuilt is
 * set. Returns
 * HONE_OK, HONE_EIO/HONE_EACCES (err filled) if it cannot be created,
 * HONE_ENOMEM. LMDB allocates with malloc, not through `a`. */
int hone__io_index_open(hone__io_index **out, const char *dir, const hone_allocator *a,
                        int *rebuilt, hone_error *err);
void hone__io_index_close(hone__io_index *ix);

/* The longest key the index accepts; longer paths are never cached. */
size_t hone__io_index_max_key(const hone__io_index *ix);

/* Readers: each thread that looks entries up makes its own (an LMDB
 * read-only transaction; MDB_NOTLS lets any thread end it) and keeps it
 * for the whole run. hone__io_index_get looks up key, whose first dirlen
 * bytes are its directory ("<root>/<dir>/"): the first lookup in a
 * directory reads all that directory's entries with one cursor scan into
 * a hash table of the reader, so the lookups that follow (a thread lists a
 * whole directory at a time) cost a hash probe. It returns 1 and fills *st,
 * digest and *stamp_ns (the storing run's stamp, for the racy check) when
 * an entry exists with this algorithm and digest length; 0 when there is
 * none or it is for another algorithm; HONE__IO_BAD_ENTRY when the entry
 * is malformed (the caller must then distrust the whole index and call
 * hone__io_index_reset); HONE_ENOMEM. The caller compares *st with the
 * file's stat. */
#define HONE__IO_BAD_ENTRY 2
typedef struct hone__io_reader hone__io_reader;
int hone__io_index_reader(hone__io_index *ix, hone__io_reader **out);
int hone__io_index_get(hone__io_reader *r, const char *key, size_t klen, size_t dirlen, int algo,
                       size_t dlen, hone__io_fstat *st, uint8_t *digest, int64_t *stamp_ns);
void hone__io_index_reader_end(hone__io_reader *r);

/* A write pass: begin, puts, commit (or abort). A put with append set
 * must have a key greater than every key in the database (LMDB's
 * MDB_APPEND: it fills pages in order without searching; a key out of
 * order fails with HONE_EEXIST rather than damaging anything). */
int hone__io_index_begin_write(hone__io_index *ix);
int hone__io_index_put(hone__io_index *ix, const char *key, size_t klen, int algo,
                       const hone__io_fstat *st, const uint8_t *digest, size_t dlen,
                       int64_t stamp_ns, int append);
int hone__io_index_commit(hone__io_index *ix);
void hone__io_index_abort(hone__io_index *ix);
/* Empties the index and writes its magic record again (inside a write
 * pass). */
int hone__io_index_reset(hone__io_index *ix);
/* The number of file entries (in the write pass if one is open, else in a
 * short read transaction), UINT64_MAX if unknown. */
uint64_t hone__io_index_entries(hone__io_index *ix);
/* Deletes (inside a write pass) every entry whose key starts with prefix
 * and for whose rest keep() returns 0, so files deleted from a tree do not
 * stay in the index forever. Returns HONE_OK or an LMDB failure. */
int hone__io_index_prune(hone__io_index *ix, const char *prefix, size_t plen,
                         int (*keep)(void *ctx, const char *rest, size_t len), void *ctx,
                         uint64_t *pruned);

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
