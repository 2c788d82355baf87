/* hone/io.h - parallel directory walking with globs, and manifests of
 * directory trees (sha256sum/b3sum format or JSON) kept fast on the second
 * run by an incremental LMDB index.
 *
 * Three layers, each usable alone:
 * - hone_io_glob_match(): the glob dialect used by include/exclude lists.
 * - hone_io_walk(): a multi-threaded walk of one directory tree that never
 *   leaves its root and never loops.
 * - hone_io_manifest_*: build a manifest of a tree (hashing files in
 *   parallel, skipping files the index says are unchanged), write it, parse
 *   it back, check a tree against it, and compare two manifests.
 */
#ifndef HONE_IO_H
#define HONE_IO_H

#include <stdint.h>
#include <stdio.h>

#include "hone/core.h"
#include "hone/exec.h"
#include "hone/hash.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Globs                                                               */
/* ------------------------------------------------------------------ */

/* Matches a '/'-separated relative path against a glob pattern.
 *
 * The dialect is gitignore's: `*` matches any run of characters except '/',
 * `?` one character except '/', `[abc]`, `[a-z]` and `[!x]` (or `[^x]`) one
 * character of a set, `\x` the character x, and `**` as a whole path
 * segment matches zero or more segments (`**` alone matches everything,
 * "a/" then `**` everything under a, `**` then "/b" b at any depth). A pattern without
 * '/' is matched against the last component of the path only, so `*.tmp`
 * excludes such files at every depth; a pattern with '/' is matched against
 * the whole path (a leading '/' only anchors it). Leading dots are not
 * special. Returns 1 on a match, 0 otherwise (a malformed bracket matches
 * itself literally). Runs in O(length of path x length of pattern) time
 * however many stars the pattern holds (patterns of 4096 bytes or more
 * are matched by backtracking). Thread-safe; cannot fail. */
HONE_API int hone_io_glob_match(const char *pattern, const char *path);

/* Whether a walk with these globs (as hone_io_walk_opts reads them) would
 * report the file at `path`: no exclude glob matches the path or any of
 * its directories ("a", "a/b" of "a/b/c"), and, when includes are given,
 * one matches the path. Check and diff use it to hold a manifest's
 * entries to the same rules as the tree, so a filtered check does not call
 * the files it left out missing. Returns 1 or 0. Thread-safe; cannot
 * fail. */
HONE_API int hone_io_path_selected(const char *path, const char *const *include, size_t n_include,
                                   const char *const *exclude, size_t n_exclude);

/* ------------------------------------------------------------------ */
/* Walker                                                              */
/* ------------------------------------------------------------------ */

typedef enum hone_io_type {
    HONE_IO_FILE = 1,    /* regular file */
    HONE_IO_DIR = 2,     /* directory */
    HONE_IO_SYMLINK = 3, /* a symbolic link that is not followed */
    HONE_IO_OTHER = 4    /* fifo, socket, device */
} hone_io_type;

/* One entry met by the walk. With follow_symlinks, a followed link is
 * described by its target's type and stat but keeps the link's path. */
typedef struct hone_io_entry {
    const char *path; /* relative to the root, '/'-separated, never "./" */
    const char *name; /* the last component (points into path) */
    hone_io_type type;
    int depth;        /* 1 for entries directly in the root */
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
    uint32_t mode;
    /* The open directory holding the entry, valid during the callback:
     * openat(dirfd, name, ...) opens the entry without resolving its path
     * from the root again (and so without following a link swapped into
     * the path meanwhile). Do not close it. */
    int dirfd;
} hone_io_entry;

/* The callback for each entry. Return 0 to go on, HONE_IO_WALK_PRUNE to
 * not descend into a directory (ignored for other types), or a negative
 * hone_status to stop the whole walk, which then returns that status.
 * The entry and its strings are valid only during the call. */
#define HONE_IO_WALK_PRUNE 1
typedef int (*hone_io_walk_fn)(void *ctx, const hone_io_entry *e);

/* Called for each entry that could not be read (a directory that cannot be
 * opened or listed, an entry that cannot be stat'ed, a directory that
 * changed identity during the walk). `path` is relative to the root ("" for
 * the root itself), `status` a hone_status, `sys_errno` the errno behind it
 * (0 if none). The walk goes on after it. */
typedef void (*hone_io_walk_error_fn)(void *ctx, const char *path, int status, int sys_errno);

typedef struct hone_io_walk_opts {
    const hone_allocator *alloc; /* NULL: the default */
    unsigned threads;            /* 0: the online CPUs, at least 2, at most 8 */
    /* Globs as hone_io_glob_match() reads them. An entry matching any
     * exclude is skipped, and an excluded directory is not entered. When
     * any include is given, only files (and links, others) matching one are
     * reported; directories are still entered. */
    const char *const *include;
    size_t n_include;
    const char *const *exclude;
    size_t n_exclude;
    int follow_symlinks; /* follow links, but only to targets inside the root */
    int one_file_system; /* do not enter directories on another device */
    int report_dirs;     /* also call on_entry for directories */
    hone_io_walk_fn on_entry;    /* required */
    hone_io_walk_error_fn on_error; /* NULL: log each at warn level */
    void *ctx;                   /* passed to both callbacks */
    /* The pool whose workers help walk (threads > 1); NULL:
     * hone_pool_default(). The calling thread always walks too, and at
     * most `threads` walk at once. */
    hone_pool *pool;
} hone_io_walk_opts;

typedef struct hone_io_walk_stats {
    uint64_t files, dirs, symlinks, other; /* entries met (reported or not) */
    uint64_t bytes;        /* sum of the sizes of the files reported */
    uint64_t errors;       /* calls made to on_error */
    uint64_t excluded;     /* entries skipped by the globs */
    uint64_t loops;        /* followed links that led back to a directory on their own path */
    uint64_t outside;      /* followed links whose target is outside the root, not followed */
    uint64_t mounts;       /* directories not entered because of one_file_system */
} hone_io_walk_stats;

/* Walks the tree under `root` with several threads (the caller and tasks
 * on opts->pool, at most opts->threads at once) sharing a queue of
 * directories, listing each with getdents64 and stat'ing every entry with
 * fstatat relative to its directory.
 *
 * Guarantees: without follow_symlinks, no symlink is followed, and each
 * directory is opened relative to the root and checked to be the very
 * directory (device and inode) seen when listing its parent, so a tree
 * changed under the walk cannot lead it outside the root. With
 * follow_symlinks, a link is followed only if its resolved target lies
 * inside the root (others count in stats->outside), and a directory that is
 * already on the current path is not entered again (stats->loops), so the
 * walk ends. A tree that contains the same directory through two links is
 * listed under both paths, as `find -L` does.
 *
 * Callbacks run on the walker's threads, several at once: they must be
 * thread-safe. Entries arrive in no particular order. Returns HONE_OK when
 * the walk completed (even if on_error was called: check stats->errors),
 * HONE_EINVAL (err filled) if root or opts are unusable, HONE_ENOTFOUND or
 * HONE_EACCES (err filled) if the root cannot be opened as a directory,
 * HONE_ENOMEM, or the negative status on_entry returned to stop. `stats`
 * may be NULL. Thread-safe: concurrent walks share nothing. */
HONE_API int hone_io_walk(const char *root, const hone_io_walk_opts *opts,
                          hone_io_walk_stats *stats, hone_error *err);

/* ------------------------------------------------------------------ */
/* Manifests                                                           */
/* ------------------------------------------------------------------ */

/* The longest digest a manifest holds (SHA-256 and BLAKE3: 32 bytes). */
#define HONE_IO_DIGEST_MAX 64

/* A manifest: files relative to a root, sorted by path (bytewise), each
 * with its digest and, when known, size and mtime. Immutable once made. */
typedef struct hone_io_manifest hone_io_manifest;

typedef struct hone_io_manifest_entry {
    const char *path;   /* '/'-separated, relative, may hold any byte but NUL */
    uint8_t digest[HONE_IO_DIGEST_MAX];
    uint64_t size;      /* UINT64_MAX when unknown (parsed from *sum format) */
    int64_t mtime_ns;   /* INT64_MIN when unknown */
} hone_io_manifest_entry;

/* Progress of a long operation, for a progress bar. Files are hashed while
 * the walk still finds more, so the totals are what has been found so far
 * and grow until the walk ends; bytes_done counts what was actually read
 * (files taken from the index add to files_done only). */
typedef struct hone_io_progress {
    uint64_t files_done, files_total;
    uint64_t bytes_done, bytes_total;
    uint64_t elapsed_ns;
} hone_io_progress;
typedef void (*hone_io_progress_fn)(void *ctx, const hone_io_progress *p);

/* What a build (or check) did. */
typedef struct hone_io_manifest_stats {
    uint64_t files;        /* files in the manifest */
    uint64_t bytes;        /* their total size */
    uint64_t hashed;       /* files read and hashed */
    uint64_t hashed_bytes; /* bytes read */
    uint64_t cached;       /* files whose digest came from the index */
    uint64_t racy;         /* index entries not trusted because their mtime was too recent */
    uint64_t unreadable;   /* files or directories that could not be read */
    int index_rebuilt;     /* the index was corrupt, foreign or mismatched and was recreated */
    uint64_t pruned;       /* index entries of files no longer under root, deleted */
    /* Where the time went, in nanoseconds of the monotonic clock: opening
     * the index, the walk (with the index lookups and the hashing it
     * drives), sorting, updating the index, making the manifest, and the
     * whole call. For benchmarks and --verbose output; never 0 for a
     * phase that ran, unless it took under a nanosecond. */
    uint64_t open_ns, walk_ns, sort_ns, store_ns, make_ns, total_ns;
} hone_io_manifest_stats;

/* Called for each file or directory that could not be read; the build
 * leaves such files out of the manifest and goes on. */
typedef void (*hone_io_unreadable_fn)(void *ctx, const char *path, int status, int sys_errno);

typedef struct hone_io_manifest_opts {
    const hone_allocator *alloc; /* NULL: the default */
    const char *algo;  /* a name ("sha256", "blake3"...), or NULL: see algorithm */
    unsigned threads;  /* walk and hash threads; 0: the online CPUs, 2..8 */
    const char *const *include; /* globs, as in hone_io_walk_opts */
    size_t n_include;
    const char *const *exclude;
    size_t n_exclude;
    int one_file_system;
    int follow_symlinks;
    /* The incremental index. no_index: read every file. index_dir: where
     * the index lives; NULL: $HONE_CACHE_DIR, else $XDG_CACHE_HOME/hone,
     * else $HOME/.cache/hone (created if missing). */
    int no_index;
    const char *index_dir;
    /* Where "now" comes from for the racy-timestamp rule: nanoseconds of
     * the file-system clock. NULL: CLOCK_REALTIME_COARSE, the clock the
     * kernel stamps file times with. Tests inject a fixed clock. */
    int64_t (*clock_ns)(void *ctx);
    void *clock_ctx;
    /* The racy-timestamp rule: an index entry is trusted only if the
     * file's mtime lies in an earlier granule than the start of the run
     * that stored it, both truncated to the granularity. Each file's is
     * detected from its own mtime (a whole-second mtime means a 1 s or 2 s
     * file system such as ext3, ext4 with 128-byte inodes, HFS+ or FAT,
     * and is taken as 2 s; else the largest power of ten dividing it), and
     * granularity_ns, when larger, overrides it: set it for a network file
     * system whose server clock differs from this machine's, or to be
     * safe on any file system detection cannot see. 0: detection only. */
    uint64_t granularity_ns;
    hone_io_progress_fn progress; /* NULL: none; called at most ~10 times a second */
    void *progress_ctx;
    hone_io_unreadable_fn on_unreadable; /* NULL: log each at warn level */
    void *unreadable_ctx;
    /* Files never listed, whatever their path under root: each is
     * stat'ed (following links) when the build starts, and a file of the
     * same device and inode is left out, so a manifest written into the
     * tree (`-o`) never lists itself and no glob character in its name
     * matters. A path that does not exist yet excludes nothing. (The
     * index's own files are always left out the same way.) */
    const char *const *exclude_files;
    size_t n_exclude_files;
    /* The digest algorithm, as the hash module's enum; 0: `algo` above
     * names it (kept for callers that pass a name), else SHA-256. When
     * both are set they must agree (HONE_EINVAL otherwise). */
    hone_hash_algo algorithm;
} hone_io_manifest_opts;

/* Builds the manifest of every regular file under root (after the globs),
 * hashing files with `algo` on the walk's threads as they are found. With the index, a file whose
 * device, inode, size, mtime and ctime match its index entry for the same
 * algorithm, and whose entry is not racy (see granularity_ns), is not read;
 * every file read is recorded in the index at the end, and, after a walk
 * without globs, one_file_system or unreadable directories, entries of
 * files no longer under root are deleted (stats->pruned). An index that is
 * corrupt (checked against LMDB's format before LMDB reads it, so a
 * truncated or overwritten file cannot crash the build), foreign, of
 * another version or not a regular file is moved aside to
 * "manifest-index.mdb.corrupt" and rebuilt with a warning
 * (stats->index_rebuilt), never trusted; an index that cannot be created
 * at all makes the build run without it, with a warning. The index's own
 * files and opts->exclude_files are never listed. A file that reports
 * size 0 (procfs, sysfs) is read until read() returns 0.
 *
 * Files that cannot be read are left out and reported through
 * on_unreadable (counted in stats->unreadable); the build still succeeds.
 * On success *out is a new manifest the caller frees with
 * hone_io_manifest_free(). Returns HONE_OK, HONE_EINVAL (err filled: bad
 * algo, root not a directory), HONE_ENOTFOUND / HONE_EACCES (err filled:
 * root cannot be opened), HONE_EBUSY (no pthread key left), HONE_ENOMEM;
 * *out is NULL on failure. `stats` may
 * be NULL. Thread-safe with respect to other calls; LMDB serialises writers
 * of the same index across processes. */
HONE_API int hone_io_manifest_build(hone_io_manifest **out, const char *root,
                                    const hone_io_manifest_opts *opts,
                                    hone_io_manifest_stats *stats, hone_error *err);

typedef enum hone_io_manifest_format {
    HONE_IO_MANIFEST_SUM = 0, /* "<hex>  <path>" lines, as sha256sum and b3sum print */
    HONE_IO_MANIFEST_JSON = 1 /* {"algo":..,"files":[{"path","digest","size","mtime_ns"}]} */
} hone_io_manifest_format;

/* Appends the manifest to `out` in `format`. The SUM format is exactly what
 * `sha256sum` / `b3sum` print for the same files given in this order,
 * including their escaping (a path holding '\\' or a newline is written
 * with a leading backslash and "\\\\" / "\\n"), so `sha256sum -c` run in the
 * root verifies it. Returns HONE_OK or HONE_ENOMEM (out keeps its previous
 * content). Thread-safe for distinct buffers. */
HONE_API int hone_io_manifest_format_to(const hone_io_manifest *m, hone_io_manifest_format format,
                                        hone_buf *out);

/* Parses a manifest: the SUM format (as written by hone, sha256sum, b3sum,
 * with or without the '*' binary marker and the backslash escaping) or the
 * JSON format, told apart by the first non-blank byte. `algo` names the
 * algorithm for the SUM format, which does not record it (NULL: guessed
 * from the digest length, 64 hex digits meaning sha256); JSON records its
 * own. Lines starting with '#' are comments and skipped, as GNU
 * sha256sum -c skips them (no digest line starts with '#'). Duplicate
 * paths are an error. Returns HONE_OK, HONE_EPARSE (err has
 * the line and a message naming what was expected), HONE_EINVAL (bad
 * algo), HONE_ENOMEM; *out is NULL on failure. Thread-safe. */
HONE_API int hone_io_manifest_parse(hone_io_manifest **out, const char *text, size_t len,
                                    const char *algo, const hone_allocator *alloc,
                                    hone_error *err);

/* Frees a manifest; NULL does nothing. */
HONE_API void hone_io_manifest_free(hone_io_manifest *m);
/* The number of entries, entry i (sorted by path), and the algorithm name
 * ("sha256"...); pointers stay valid until hone_io_manifest_free(). */
HONE_API size_t hone_io_manifest_count(const hone_io_manifest *m);
HONE_API const hone_io_manifest_entry *hone_io_manifest_entry_at(const hone_io_manifest *m,
                                                                 size_t i);
HONE_API const char *hone_io_manifest_algo(const hone_io_manifest *m);
/* The digest length in bytes of the manifest's algorithm. */
HONE_API size_t hone_io_manifest_digest_len(const hone_io_manifest *m);
/* The entry for `path`, or NULL. Binary search; thread-safe. */
HONE_API const hone_io_manifest_entry *hone_io_manifest_find(const hone_io_manifest *m,
                                                             const char *path);

/* One difference found by check or diff. */
typedef enum hone_io_change {
    HONE_IO_SAME = 0,       /* (reported only by diff with report_same) */
    HONE_IO_MODIFIED = 1,   /* present in both, digests differ */
    HONE_IO_MISSING = 2,    /* listed in the expected manifest, absent from the tree or B */
    HONE_IO_EXTRA = 3,      /* present in the tree or B, not in the expected manifest */
    HONE_IO_UNREADABLE = 4, /* present in the tree but could not be read */
    HONE_IO_MOVED = 5       /* a missing entry's content is at one extra path (see hone_io_move_fn) */
} hone_io_change;

/* "same", "modified", "missing", "extra", "unreadable", "moved". */
HONE_API const char *hone_io_change_name(hone_io_change c);

/* Called once per difference, in path order, on the calling thread. */
typedef void (*hone_io_change_fn)(void *ctx, hone_io_change c, const char *path);

typedef struct hone_io_check_summary {
    uint64_t same, modified, missing, extra, unreadable;
    uint64_t moved; /* pairs reported as moved (then counted in neither missing nor extra) */
} hone_io_check_summary;

/* Called, with move detection on, for each file that moved: an entry
 * `from` of the expected manifest is missing, and `to`, absent from it,
 * holds the same content. It is called in path order of `to`, among the
 * on_change calls, on the calling thread.
 *
 * A pair is a move when its digest is that of exactly one missing entry
 * and exactly one extra file, their sizes agree where both are known (the
 * sum format records none), and the content is not empty (every empty
 * file has the same digest, so an empty file's "move" would be a guess).
 * When several missing entries or several extra files share the digest,
 * nothing says which went where: they stay missing and extra, as sorting
 * them out would be a guess too. */
typedef void (*hone_io_move_fn)(void *ctx, const char *from, const char *to);

/* Checks the tree under root against `expected`: builds the tree's
 * manifest with opts (whose algo is replaced by the manifest's, and the
 * index used as in a build) and compares, calling on_change for each
 * difference in path order. The globs of opts select on both sides:
 * extra files are those under root that they admit and the manifest
 * lacks, and entries of the manifest they leave out are not compared (not
 * "missing"), so a check with --include looks only at what it includes.
 * Returns HONE_OK when the
 * comparison ran (look at summary for the verdict), or the failures of
 * hone_io_manifest_build(). `summary` may be NULL. */
HONE_API int hone_io_manifest_check(const hone_io_manifest *expected, const char *root,
                                    const hone_io_manifest_opts *opts,
                                    hone_io_change_fn on_change, void *ctx,
                                    hone_io_check_summary *summary,
                                    hone_io_manifest_stats *stats, hone_error *err);

/* hone_io_manifest_check() with move detection: a file renamed in the
 * tree is reported once through on_move (and counted in summary->moved)
 * instead of as missing and extra; on_move NULL is
 * hone_io_manifest_check(). Besides that function's failures it returns
 * HONE_ENOMEM when the move lists cannot be allocated, before any
 * callback is called. */
HONE_API int hone_io_manifest_check_moves(const hone_io_manifest *expected, const char *root,
                                          const hone_io_manifest_opts *opts,
                                          hone_io_change_fn on_change, hone_io_move_fn on_move,
                                          void *ctx, hone_io_check_summary *summary,
                                          hone_io_manifest_stats *stats, hone_error *err);

/* Compares manifest a (expected) with b, calling on_change in path order
 * for each path modified, missing from b, or extra in b (and, when
 * report_same, unchanged). Manifests of different algorithms cannot be
 * compared: HONE_EINVAL (err filled). Returns HONE_OK otherwise; `summary`
 * may be NULL. Cannot fail otherwise; thread-safe. */
HONE_API int hone_io_manifest_diff(const hone_io_manifest *a, const hone_io_manifest *b,
                                   int report_same, hone_io_change_fn on_change, void *ctx,
                                   hone_io_check_summary *summary, hone_error *err);

/* What hone_io_manifest_diff_ex() does beyond hone_io_manifest_diff(). */
typedef struct hone_io_diff_opts {
    const hone_allocator *alloc; /* NULL: the default; used for move detection only */
    int report_same;             /* also call on_change for unchanged paths */
    /* Globs as in hone_io_walk_opts, applied to the paths of both
     * manifests (hone_io_path_selected): paths they leave out are not
     * compared at all. */
    const char *const *include;
    size_t n_include;
    const char *const *exclude;
    size_t n_exclude;
    hone_io_change_fn on_change; /* NULL: none */
    hone_io_move_fn on_move;     /* NULL: no move detection */
    void *ctx;                   /* passed to both callbacks */
} hone_io_diff_opts;

/* hone_io_manifest_diff() with globs and move detection (see
 * hone_io_move_fn). opts NULL: all zero. Returns HONE_OK, HONE_EINVAL (err
 * filled) for manifests of different algorithms, HONE_ENOMEM (err filled)
 * when the move lists cannot be allocated, before any callback is called.
 * Thread-safe. */
HONE_API int hone_io_manifest_diff_ex(const hone_io_manifest *a, const hone_io_manifest *b,
                                      const hone_io_diff_opts *opts,
                                      hone_io_check_summary *summary, hone_error *err);

/* The algorithm a manifest's file name announces, by the conventions of
 * sha256sum and b3sum users: a suffix ".sha256", ".sha256sum" or
 * ".sha256sums", or the name "SHA256SUMS", means "sha256"; ".b3", ".b3sum",
 * ".b3sums", ".blake3" or "B3SUMS" "blake3"; ".xxh3" "xxh3"; ".xxh128"
 * "xxh128" (letter case ignored). NULL for any other name. The sum format
 * has no place to record the algorithm that both sha256sum -c and b3sum -c
 * would skip (b3sum rejects every line that is not a digest line,
 * comments included), and SHA-256 and BLAKE3 digests have the same length,
 * so the name is where it can live. Returns a static string; thread-safe. */
HONE_API const char *hone_io_manifest_algo_from_name(const char *path);

/* The directory the index lives in by default, as the options describe
 * it, into a new string made with alloc (the caller frees it with
 * hone_free). Returns HONE_OK, HONE_ENOTFOUND (err filled) if neither
 * HONE_CACHE_DIR, XDG_CACHE_HOME nor HOME is set, HONE_EINVAL (err filled)
 * if HONE_CACHE_DIR is not an absolute path, HONE_ENOMEM. */
HONE_API int hone_io_default_index_dir(char **out, const hone_allocator *alloc, hone_error *err);

#ifdef __cplusplus
}
#endif

#endif /* HONE_IO_H */
