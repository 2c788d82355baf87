/* hone/hash.h - content hashing: SHA-256, BLAKE3 and XXH3 behind one
 * streaming interface, file and stdin hashing in constant memory, and the
 * sha256sum/b3sum/xxhsum line format for writing and checking digest lists.
 *
 * SHA-256 goes through OpenSSL's EVP interface (which uses SHA-NI where the
 * CPU has it) and XXH3 through libxxhash; BLAKE3 is hone's own, with a
 * portable path and SSE4.1, AVX2 and AVX-512 paths chosen at run time from
 * hone_cpu_features() (so HONE_CPU_MASK forces the slower ones).
 *
 * Digests are written as bytes in the order their reference tools print
 * them: XXH3 digests are in XXH's canonical (big-endian) form, so that
 * hone_hash_hex() of a digest is what xxhsum prints.
 *
 * Thread-safety: every function here is thread-safe in the sense that
 * different threads may use different hone_hash objects at the same time;
 * one hone_hash object must not be used by two threads at once.
 */
#ifndef HONE_HASH_H
#define HONE_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "hone/core.h"
#include "hone/exec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Algorithms                                                          */
/* ------------------------------------------------------------------ */

/* The algorithms. Append-only: a value, once published, keeps its number. */
typedef enum hone_hash_algo {
    HONE_HASH_SHA256 = 1,   /* 32-byte digest, "sha256" */
    HONE_HASH_BLAKE3 = 2,   /* 32-byte default digest (any length by XOF), "blake3" */
    HONE_HASH_XXH3_64 = 3,  /* 8-byte digest, "xxh3"; not cryptographic */
    HONE_HASH_XXH3_128 = 4  /* 16-byte digest, "xxh128"; not cryptographic */
} hone_hash_algo;

/* The largest default digest of any algorithm, for stack buffers. */
#define HONE_HASH_MAX_DIGEST 32
/* A hex buffer large enough for any default digest and its NUL. */
#define HONE_HASH_MAX_HEX (2 * HONE_HASH_MAX_DIGEST + 1)

/* BLAKE3's fixed sizes. */
#define HONE_BLAKE3_KEY_LEN 32
#define HONE_BLAKE3_OUT_LEN 32
#define HONE_BLAKE3_BLOCK_LEN 64
#define HONE_BLAKE3_CHUNK_LEN 1024

/* The algorithm's canonical name: "sha256", "blake3", "xxh3", "xxh128";
 * NULL for a value that is not an algorithm. A static string. */
HONE_API const char *hone_hash_name(hone_hash_algo algo);

/* Parses an algorithm name. Accepts the canonical names and the aliases
 * "sha-256", "b3", "xxh3-64", "xxh3_64", "xxh3-128" and "xxh3_128" (any
 * case). Returns HONE_OK, or HONE_EINVAL with err naming the bad value, the
 * expected names and the nearest one ("did you mean"). *out is unchanged
 * on error. */
HONE_API int hone_hash_from_name(const char *name, hone_hash_algo *out, hone_error *err);

/* The default digest length in bytes (32, 32, 8, 16); 0 for a value that
 * is not an algorithm. */
HONE_API size_t hone_hash_digest_len(hone_hash_algo algo);

/* What hone knows about one algorithm, from the one table in src/hash/hash.c
 * that every other piece of the module (names, digest lengths, streaming
 * calls, list-line format, escaping, messages) reads. */
typedef struct hone_hash_info {
    hone_hash_algo algo;
    const char *name;       /* canonical lower-case name: the -a value and the
                               name used in messages ("sha256") */
    const char *title;      /* the name as prose writes it ("SHA-256", "BLAKE3",
                               "XXH3-64", "XXH3-128") */
    const char *tag;        /* the BSD tag of list lines ("SHA256", "BLAKE3",
                               "XXH3", "XXH128") */
    const char *tool;       /* the reference tool and its flag ("sha256sum",
                               "b3sum", "xxhsum -H3", "xxhsum -H2") */
    size_t digest_len;      /* default digest length in bytes */
    int xof;                /* nonzero: any output length (BLAKE3) */
    int cryptographic;      /* nonzero: collision resistant */
    int tag_only;           /* nonzero: the tool writes only tag-style lines
                               (xxhsum 0.8.1 for XXH3-64) */
    const char *stdin_name; /* how the tool names stdin in its lines ("-",
                               "stdin") */
    const char *escape_chars;     /* a name holding any of these is escaped in
                                     list lines ("" for never) */
    const char *check_escape_if;  /* a name holding any of these is escaped in
                                     -c OK/FAILED lines */
    const char *check_escape_chars; /* and then these characters are escaped */
} hone_hash_info;

/* The table entry of `algo`; NULL for a value that is not an algorithm. A
 * static object, valid for the life of the process. */
HONE_API const hone_hash_info *hone_hash_info_of(hone_hash_algo algo);

/* The i-th algorithm of the table (0-based, in the order sha256, blake3,
 * xxh3, xxh128, then any added later), or NULL when i is past the end, so
 * callers can loop over every algorithm without knowing how many there are. */
HONE_API const hone_hash_info *hone_hash_info_at(size_t i);

/* Which BLAKE3 implementation hone_hash objects made now would use:
 * "avx512", "avx2", "sse41" or "portable". It follows hone_cpu_features(),
 * so it changes after hone_cpu_reload() with a different HONE_CPU_MASK.
 * A static string. */
HONE_API const char *hone_hash_blake3_impl(void);

/* ------------------------------------------------------------------ */
/* Streaming hasher                                                    */
/* ------------------------------------------------------------------ */

/* A streaming hasher for one algorithm: new, update any number of times,
 * final, and reset to hash again without allocating. Its memory is fixed
 * (a few KiB plus, once a file has been hashed through it, one I/O buffer)
 * whatever the input size. */
typedef struct hone_hash hone_hash;

typedef struct hone_hash_opts {
    const hone_allocator *alloc; /* NULL: the default allocator */
    /* BLAKE3 only: threads used for large updates (and for
     * hone_hash_update_fd of large files), using BLAKE3's tree so the
     * digest does not depend on the count. 0 or 1: hash on the calling
     * thread only. The work of an update of at least a few MiB is split
     * into tasks on `pool`: the calling thread takes part, and at most
     * `threads` pieces are hashed at once (fewer if the pool has fewer
     * workers plus the caller). All of it is finished before that update
     * returns; a task that cannot be queued is run on the calling thread
     * instead. Ignored by the other algorithms, which are sequential by
     * definition. */
    unsigned threads;
    /* The pool BLAKE3's threaded updates run on; NULL: hone_pool_default(),
     * made on first threaded use. It must outlive the hasher. */
    hone_pool *pool;
} hone_hash_opts;

/* Makes a hasher for `algo` (BLAKE3 in its default, unkeyed mode). opts
 * may be NULL. Returns HONE_OK; HONE_EINVAL if out is NULL or algo is not
 * an algorithm; HONE_ENOMEM (OpenSSL's own allocations for SHA-256 do not
 * go through opts->alloc, but their failure is reported as HONE_ENOMEM
 * too). On failure *out is NULL and nothing leaks. */
HONE_API int hone_hash_new(hone_hash **out, hone_hash_algo algo, const hone_hash_opts *opts);

/* Makes a BLAKE3 hasher in keyed mode (a MAC) with a 32-byte key. The key
 * is copied. Errors as hone_hash_new(), plus HONE_EINVAL if key is NULL. */
HONE_API int hone_hash_new_blake3_keyed(hone_hash **out, const uint8_t key[HONE_BLAKE3_KEY_LEN],
                                        const hone_hash_opts *opts);

/* Makes a BLAKE3 hasher in derive_key mode: the context string (which
 * should be hard-coded, globally unique and application-specific) is
 * hashed now; then feed the key material with hone_hash_update() and read
 * the derived key with hone_hash_final() or hone_hash_xof(). Errors as
 * hone_hash_new(), plus HONE_EINVAL if context is NULL. */
HONE_API int hone_hash_new_blake3_derive_key(hone_hash **out, const char *context,
                                             const hone_hash_opts *opts);

/* Frees the hasher. NULL is a no-op. */
HONE_API void hone_hash_free(hone_hash *h);

/* The hasher's algorithm. */
HONE_API hone_hash_algo hone_hash_algorithm(const hone_hash *h);

/* Starts a new message with the same algorithm, mode and key, keeping the
 * hasher's memory. Valid in any state. Returns HONE_OK, or HONE_EINVAL if
 * h is NULL. */
HONE_API int hone_hash_reset(hone_hash *h);

/* Adds len bytes to the message. data may be NULL when len is 0. Returns
 * HONE_OK; HONE_EINVAL if h is NULL or data is NULL with len > 0;
 * HONE_ESTATE after hone_hash_final() of a non-BLAKE3 hasher (reset
 * first); HONE_EFAIL if OpenSSL fails. */
HONE_API int hone_hash_update(hone_hash *h, const void *data, size_t len);

/* Writes the digest of everything added since new/reset.
 *
 * For SHA-256 and XXH3, out_len must be at least the digest length; exactly
 * hone_hash_digest_len() bytes are written, and afterwards the hasher must
 * be reset before it is updated again (HONE_ESTATE otherwise). For BLAKE3,
 * exactly out_len bytes of output are written (any length: the first 32 are
 * the default digest and longer output is BLAKE3's extendable output), and
 * final does not end the message: more updates may follow, and final may be
 * called again.
 *
 * Returns HONE_OK; HONE_EINVAL if h or out is NULL; HONE_ERANGE if out_len
 * is too small for a fixed-length digest; HONE_EFAIL if OpenSSL fails. */
HONE_API int hone_hash_final(hone_hash *h, uint8_t *out, size_t out_len);

/* BLAKE3 only: writes out_len bytes of the extendable output starting at
 * byte `offset` of the output stream (so output can be read in pieces, or
 * from the middle, in any order). Does not change the hasher's state.
 * Returns HONE_OK; HONE_EINVAL if h is NULL or out is NULL with out_len >
 * 0; HONE_ENOTSUP if the hasher is not BLAKE3; HONE_ERANGE if offset +
 * out_len overflows 2^64. */
HONE_API int hone_hash_xof(hone_hash *h, uint64_t offset, uint8_t *out, size_t out_len);

/* One-shot digest of a buffer, writing the default digest length as
 * hone_hash_final() does (for BLAKE3: out_len bytes). Single-threaded.
 * Allocates nothing through hone's allocator (OpenSSL may allocate
 * internally). Returns HONE_OK; HONE_EINVAL for a bad algo, a NULL out, or
 * NULL data with len > 0; HONE_ERANGE if out_len is too small; HONE_EFAIL
 * if OpenSSL fails. */
HONE_API int hone_hash_oneshot(hone_hash_algo algo, const void *data, size_t len, uint8_t *out,
                               size_t out_len);

/* One-shot BLAKE3 keyed hash and derive_key, writing out_len bytes.
 * Single-threaded, allocate nothing. Return HONE_OK, or HONE_EINVAL for a
 * NULL key/context/out or NULL data/material with len > 0. */
HONE_API int hone_hash_blake3_keyed(const uint8_t key[HONE_BLAKE3_KEY_LEN], const void *data,
                                    size_t len, uint8_t *out, size_t out_len);
HONE_API int hone_hash_blake3_derive_key(const char *context, const void *material, size_t len,
                                         uint8_t *out, size_t out_len);

/* ------------------------------------------------------------------ */
/* Files and streams                                                   */
/* ------------------------------------------------------------------ */

/* How hone_hash_update_fd() reads. Measured on the development machine
 * (docs/design/hash.md): for files in the page cache, read() into a 512 KiB
 * buffer beat mmap by 15-25% for every algorithm on one thread (the copy
 * leaves each block in L2 for the hash); mmap wins only when several
 * threads hash one file in place. */
typedef enum hone_hash_io {
    HONE_HASH_IO_AUTO = 0, /* threads that pread their own parts for multi-threaded
                              BLAKE3 of regular files of 4 MiB or more, read() otherwise */
    HONE_HASH_IO_READ = 1, /* always read() into the hasher's buffer */
    HONE_HASH_IO_MMAP = 2  /* mmap regular files (falls back to read() for pipes, ttys,
                              and files that cannot be mapped or guarded); a file that
                              shrinks meanwhile is HONE_EIO, not SIGBUS */
} hone_hash_io;

typedef struct hone_hash_file_opts {
    hone_hash_io io;    /* 0: HONE_HASH_IO_AUTO */
    size_t buf_size;    /* read() size; 0: 512 KiB. Allocated once per hasher. */
    int no_fadvise;     /* nonzero: do not give the kernel posix_fadvise/madvise hints */
    int drop_cache;     /* nonzero: POSIX_FADV_DONTNEED what was read, so hashing a tree
                           larger than memory does not evict everything else */
} hone_hash_file_opts;

/* Adds everything readable from fd, from its current offset to end of
 * file, to the hasher's message (the hasher is not reset and not
 * finalised: call hone_hash_final() next). Works with regular files,
 * pipes, stdin and ttys; memory stays constant (one buffer of buf_size,
 * allocated through the hasher's allocator on first use and kept until
 * hone_hash_free()). EINTR is retried. With a multi-threaded BLAKE3
 * hasher, a large mapped file is hashed on its threads. opts may be NULL.
 * On return fd's offset is unspecified; fd is not closed.
 *
 * *nbytes (when not NULL) receives the number of bytes hashed, also on
 * error (bytes hashed before it). Returns HONE_OK; HONE_EINVAL for a NULL h
 * or a negative fd; HONE_ENOMEM if the buffer cannot be allocated;
 * HONE_ESTATE after hone_hash_final() of a non-BLAKE3 hasher; HONE_EINVAL
 * for a directory; HONE_EIO (or the hone_status_from_errno() of the
 * failure, e.g. HONE_EACCES) if reading fails - the message is then
 * incomplete and the caller should reset. A file that shrinks while it is
 * hashed gives HONE_EIO on every path: read() and pread see the short
 * file; a mapping (HONE_HASH_IO_MMAP) is guarded by a process-wide SIGBUS
 * handler that hone installs on the first mapping (chaining to the handler
 * it replaces for faults that are not in a mapping being hashed), where
 * b3sum and other mmap-based hashers die of SIGBUS. If the program
 * installs its own SIGBUS handler later, the next mapping puts hone's back
 * in front of it, and every SIGBUS that is not a read past the end of a
 * file hone is hashing still goes to the program's handler. Programs that
 * must own SIGBUS alone should use HONE_HASH_IO_READ or AUTO (which never
 * map). */
HONE_API int hone_hash_update_fd(hone_hash *h, int fd, const hone_hash_file_opts *opts,
                                 uint64_t *nbytes);

/* Opens path read-only, hashes it with hone_hash_update_fd() and writes
 * the default digest into out (out_len as hone_hash_final(); for BLAKE3
 * out_len bytes). The hasher is reset first, so it may be reused for many
 * files. Does not treat "-" specially: use hone_hash_update_fd(h, 0, ...)
 * for stdin. Returns what hone_hash_update_fd() and hone_hash_final()
 * return, plus HONE_ENOTFOUND / HONE_EACCES / HONE_EIO from open(), and
 * HONE_EINVAL for a directory. When open() fails, errno is left as open()
 * set it, so a caller can tell ENOENT (the file does not exist) from
 * ENOTDIR (a component of the path is not a directory), which are both
 * HONE_ENOTFOUND. */
HONE_API int hone_hash_path(hone_hash *h, const char *path, const hone_hash_file_opts *opts,
                            uint8_t *out, size_t out_len, uint64_t *nbytes);

/* ------------------------------------------------------------------ */
/* Hex                                                                 */
/* ------------------------------------------------------------------ */

/* Writes 2*len lowercase hex digits and a NUL into hex (which must hold
 * 2*len+1 bytes). Returns 2*len. Cannot fail. */
HONE_API size_t hone_hash_hex(const uint8_t *digest, size_t len, char *hex);

/* Parses exactly 2*len hex digits (either case) from hex into out[len].
 * Returns HONE_OK, or HONE_EPARSE if hex has a non-hex digit among its
 * first 2*len characters (out is then unspecified). */
HONE_API int hone_hash_unhex(const char *hex, uint8_t *out, size_t len);

/* ------------------------------------------------------------------ */
/* Digest lists: the sha256sum / b3sum / xxhsum line format            */
/* ------------------------------------------------------------------ */

/* The two line styles the tools write. */
typedef enum hone_hash_style {
    HONE_HASH_STYLE_GNU = 0, /* "<hex>  <name>" (sha256sum, b3sum, xxhsum -H2) */
    HONE_HASH_STYLE_TAG = 1  /* "SHA256 (<name>) = <hex>" (--tag); "BLAKE3", "XXH3",
                                "XXH128" */
} hone_hash_style;

/* Appends one line, with its newline, exactly as the reference tool
 * writes it for `name`: sha256sum (coreutils 9.1) for SHA-256, b3sum for
 * BLAKE3, and xxhsum 0.8.1 for XXH3-64 and XXH3-128. xxhsum writes XXH3-64
 * in the tag style even without --tag, so XXH3-64 lines are always tag
 * style. Awkward names are escaped as each tool does: the line starts with
 * a backslash and the name has "\\" for a backslash, "\n" for newline and
 * "\r" for carriage return; sha256sum escapes when the name holds any of the three,
 * b3sum when it holds a backslash or newline (and leaves carriage returns),
 * xxhsum never (so its lines for names with a newline cannot be read
 * back). digest must have hone_hash_digest_len(algo) bytes. Returns
 * HONE_OK, HONE_EINVAL (NULL argument or bad algo) or HONE_ENOMEM (b keeps
 * its previous content). */
HONE_API int hone_hash_format_line(hone_buf *b, hone_hash_algo algo, hone_hash_style style,
                                   const uint8_t *digest, const char *name);

/* Flags of hone_hash_format_line_ex(). */
enum {
    /* End the line with a NUL instead of a newline and never escape the
     * name, as sha256sum -z does (a NUL cannot be in a file name, so
     * nothing needs escaping). */
    HONE_HASH_LINE_ZERO = 1 << 0,
    /* Write the digest alone, without the name, as b3sum --no-names does
     * (GNU style only). */
    HONE_HASH_LINE_NO_NAME = 1 << 1
};

/* As hone_hash_format_line(), with digest_len bytes of digest (it must be
 * hone_hash_digest_len(algo), except for an algorithm whose info has xof
 * set, where any length including 0 is written, as b3sum -l does) and
 * `flags` (HONE_HASH_LINE_*; 0 gives hone_hash_format_line()'s line).
 * name may be NULL with HONE_HASH_LINE_NO_NAME. Returns HONE_OK; HONE_EINVAL
 * for a NULL argument, a bad algo, a wrong digest_len, an unknown flag, or
 * HONE_HASH_LINE_NO_NAME with the tag style (a tag line without its name is
 * not a line any tool reads); HONE_ENOMEM (b keeps its previous content). */
HONE_API int hone_hash_format_line_ex(hone_buf *b, hone_hash_algo algo, hone_hash_style style,
                                      const uint8_t *digest, size_t digest_len, const char *name,
                                      unsigned flags);

/* One parsed line of a digest list. */
typedef struct hone_hash_line {
    /* The algorithm the line names (tag style, or the "XXH3_" prefix newer
     * xxhsum writes), or, for an untagged line, the `def` passed to the
     * parser. */
    hone_hash_algo algo;
    hone_hash_style style;
    int binary;                         /* GNU style with '*' before the name */
    size_t digest_len;                  /* bytes in digest */
    uint8_t digest[HONE_HASH_MAX_DIGEST];
} hone_hash_line;

/* Parses one line of a list written by sha256sum, b3sum, xxhsum or hone
 * (GNU or tag style, escaped or not). `line` is len bytes without the
 * trailing newline. A final carriage return (a CRLF list) is dropped, as
 * coreutils does, except on an untagged BLAKE3 line: b3sum does not escape
 * carriage returns and reads a final one as part of the name, and so does
 * this parser. The file name, unescaped, replaces name's content.
 * Untagged lines are "<hex>", one space or tab, then either a type mark
 * (' ', or '*' for binary) and the name, or - when the next character is
 * neither, or is the last one - the name right away (the one-character
 * form of BSD `md5 -r`, which sha256sum -c also accepts): exactly the forms
 * coreutils 9.1 accepts for a list of that one line (b3sum -c takes only
 * the two-space form; hone takes GNU's forms for every algorithm).
 * Untagged lines are read as algorithm `def`: the digest must have
 * hone_hash_digest_len(def) bytes. Tagged lines must name an algorithm hone
 * knows, with its digest length.
 *
 * Returns HONE_OK; HONE_EPARSE for a malformed line, with err->msg saying
 * what is wrong and err->col the 1-based column where it went wrong
 * (err->line is left 0 for the caller to fill), and out->algo the
 * algorithm the line names by its tag or "XXH3_" prefix, or 0 when it
 * names none (so a caller can say which algorithm's line was malformed); HONE_ENOMEM if name cannot
 * grow; HONE_EINVAL for NULL arguments or a bad def. */
HONE_API int hone_hash_parse_line(const char *line, size_t len, hone_hash_algo def,
                                  hone_hash_line *out, hone_buf *name, hone_error *err);

/* What coreutils remembers between the lines of one check run: whether the
 * untagged lines so far separate digest and name with two characters
 * ("<hex>  <name>", "<hex> *<name>") or with one ("<hex> <name>", BSD
 * `md5 -r` style). Zero-initialise it once per run (coreutils keeps it
 * across every LIST of one command). */
typedef struct hone_hash_list_state {
    int form; /* 0: no untagged line yet; 1: two-character; 2: one-character */
} hone_hash_list_state;

/* Parses one line of a list as `sha256sum -c` (coreutils 9.1) does, with
 * the state of the lines before it. Beyond hone_hash_parse_line() (which
 * reads each line as if it were the first): an empty line or one whose
 * first byte is '#' holds no entry; once a list has a two-character
 * separator line, a one-character line is malformed (coreutils refuses to
 * mix them, so that a renamed file with a leading space cannot pass); and
 * after a one-character line, "<hex>  <name>" is read as the name
 * " <name>", with its leading space.
 *
 * Returns HONE_OK for an entry (out and name filled); HONE_ENOTFOUND for a
 * line without one, which the caller skips silently as coreutils does;
 * otherwise what hone_hash_parse_line() returns (HONE_EINVAL also for a
 * NULL st). The state changes only on HONE_OK. */
HONE_API int hone_hash_parse_list_line(hone_hash_list_state *st, const char *line, size_t len,
                                       hone_hash_algo def, hone_hash_line *out, hone_buf *name,
                                       hone_error *err);

#ifdef __cplusplus
}
#endif
#endif /* HONE_HASH_H */
