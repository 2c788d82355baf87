/* fuzz_trace.c - libFuzzer target for the cache trace readers
 * (hone_cache_trace_open/next), which `hone cache sim --trace` runs on
 * downloaded, possibly damaged, possibly compressed files.
 *
 * The first byte picks the format (cache2k, arc, lines) and how the rest is
 * stored: plain, compressed with xz, compressed with zstd, or raw behind an
 * xz or zstd magic number (a damaged compressed file). The bytes go to a
 * memfd the reader opens by its /proc/self/fd path. Invariants, each
 * aborting:
 * - the keys read equal those of a reference reader written here from the
 *   format's description, and so does the way the trace ends (clean end,
 *   ETRUNC, EPARSE or ERANGE) with the error's byte offset and line;
 * - compression changes nothing: an xz or zstd file reads exactly as the
 *   plain file does, keys, end and error position;
 * - every error has a message naming the file, and a damaged compressed
 *   file fails with ECORRUPT or ETRUNC, never a crash.
 * Keys are compared for at most MAX_KEYS per input (an ARC line may ask
 * for a million blocks).
 *
 * FUZZ-OPTIONS: -max_len=6000 -runs=15000 */
#include <lzma.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "fuzz.h"
#include "hone/cachesim.h"

#define MAX_KEYS 4096

/* How a trace ended: the status (0 clean end) and where. */
typedef struct ending {
    int rc;
    uint64_t offset, line;
} ending;

typedef struct keys {
    uint64_t k[MAX_KEYS];
    size_t n;
    int full; /* a key past MAX_KEYS was refused */
    ending end;
} keys;

/* --- the reference readers, from hone-cache(1)'s description --------- */

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static int push(keys *out, uint64_t k) {
    if (out->n == MAX_KEYS) return !(out->full = 1);
    out->k[out->n++] = k;
    return 1;
}

/* cache2k: big-endian signed 32-bit keys, no header. */
static void ref_cache2k(const uint8_t *d, size_t n, keys *out) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t v = (uint32_t)d[i] << 24 | (uint32_t)d[i + 1] << 16 | (uint32_t)d[i + 2] << 8 | d[i + 3];
        if (!push(out, (uint64_t)(int64_t)(int32_t)v)) return;
    }
    out->end = i == n ? (ending){0, 0, 0} : (ending){HONE_ETRUNC, i, 0};
}

/* Lines of at most 4095 bytes; calls fn on each (text up to the first NUL,
 * as the reader works on C strings). Returns 0 at the end, or the ending. */
typedef int (*line_fn)(keys *out, const char *s, size_t len, uint64_t line, uint64_t off);

static void ref_lines_of(const uint8_t *d, size_t n, keys *out, line_fn fn) {
    uint64_t line = 1;
    for (size_t pos = 0; pos < n;) {
        const uint8_t *nl = memchr(d + pos, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - (d + pos)) : n - pos;
        if (len > 4095) {
            out->end = (ending){HONE_EPARSE, pos, line};
            return;
        }
        char buf[4096];
        memcpy(buf, d + pos, len);
        buf[len] = '\0';
        int rc = fn(out, buf, len, line, pos);
        if (rc) return; /* fn set out->end, or the key limit was reached */
        line++;
        pos += len + (nl ? 1 : 0);
    }
    out->end = (ending){0, 0, 0};
}

/* lines: one key per non-empty line (a final CR dropped), any text. */
static int lines_line(keys *out, const char *s, size_t len, uint64_t line, uint64_t off) {
    (void)line, (void)off, (void)s;
    if (len && s[len - 1] == '\r') len--;
    if (len == 0) return 0;
    /* The key is a hash of the text: equal texts give equal keys, which
     * the caller checks; here only the count is known. */
    return push(out, len) ? 0 : 1;
}

/* arc: "start count ignored reqno" (blank-separated decimals; anything
 * after the fourth field is ignored), expanding to start..start+count-1;
 * blank lines skipped; more than 2^20 blocks on a line is ERANGE. */
static int parse_field(const char **p, uint64_t *v) {
    const char *s = *p;
    while (is_blank(*s)) s++;
    if (*s < '0' || *s > '9') return -1;
    uint64_t x = 0;
    while (*s >= '0' && *s <= '9') {
        if (x > (UINT64_MAX - 9) / 10) return -1;
        x = x * 10 + (uint64_t)(*s++ - '0');
    }
    if (*s && !is_blank(*s)) return -1;
    *p = s;
    *v = x;
    return 0;
}

static int arc_line(keys *out, const char *s, size_t len, uint64_t line, uint64_t off) {
    (void)len;
    const char *p = s;
    while (is_blank(*p)) p++;
    if (!*p) return 0;
    uint64_t first, count, ign, req;
    if (parse_field(&p, &first) || parse_field(&p, &count) || parse_field(&p, &ign) || parse_field(&p, &req)) {
        out->end = (ending){HONE_EPARSE, off, line};
        return 1;
    }
    if (count > (UINT64_C(1) << 20)) {
        out->end = (ending){HONE_ERANGE, off, line};
        return 1;
    }
    for (uint64_t i = 0; i < count; i++)
        if (!push(out, first + i)) return 1;
    return 0;
}

/* --- the reader under test ------------------------------------------- */

static void read_trace(int fd, const uint8_t *d, size_t n, int format, keys *out, char *path_out) {
    if (ftruncate(fd, 0) || (n && pwrite(fd, d, n, 0) != (ssize_t)n)) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    snprintf(path_out, 64, "%s", path);
    hone_cache_trace *t = (hone_cache_trace *)&t;
    hone_error err;
    int rc = hone_cache_trace_open(&t, path, format, NULL, &err);
    FUZZ_CHECK(rc == HONE_OK, "open failed: %s", err.msg);
    uint64_t k;
    out->n = 0;
    while ((rc = hone_cache_trace_next(t, &k, &err)) == 1 && out->n < MAX_KEYS) out->k[out->n++] = k;
    if (rc == 1) {
        out->end = (ending){1, 0, 0}; /* stopped at the key limit */
    } else if (rc == 0) {
        out->end = (ending){0, 0, 0};
    } else {
        FUZZ_CHECK(fuzz_err_ok(&err) && strstr(err.msg, path), "error %s does not name the file: %s",
                   hone_status_name(rc), err.msg);
        out->end = (ending){rc, err.offset, format == HONE_CACHE_TRACE_CACHE2K ? 0 : err.line};
    }
    hone_cache_trace_close(t);
}

static void same(const keys *a, const keys *b, const char *how) {
    FUZZ_CHECK(a->n == b->n, "%s: %zu keys against %zu", how, a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        FUZZ_CHECK(a->k[i] == b->k[i], "%s: key %zu is %llu, not %llu", how, i, (unsigned long long)a->k[i],
                   (unsigned long long)b->k[i]);
    FUZZ_CHECK(a->end.rc == b->end.rc && a->end.offset == b->end.offset && a->end.line == b->end.line,
               "%s: ends with %s at offset %llu line %llu, not %s at %llu line %llu", how,
               hone_status_name(a->end.rc), (unsigned long long)a->end.offset,
               (unsigned long long)a->end.line, hone_status_name(b->end.rc),
               (unsigned long long)b->end.offset, (unsigned long long)b->end.line);
}

static keys got, want, plain;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int fd = -1;
    if (fd < 0 && (fd = memfd_create("fuzz-trace", 0)) < 0) abort();
    if (size == 0) return 0;
    static const int formats[] = {HONE_CACHE_TRACE_CACHE2K, HONE_CACHE_TRACE_ARC, HONE_CACHE_TRACE_LINES};
    int format = formats[data[0] % 3], store = (data[0] / 3) % 5;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    static const uint8_t xz_magic[6] = {0xfd, '7', 'z', 'X', 'Z', 0}, zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    char path[64];

    /* The plain file first: it must match the reference reader, unless it
     * starts like a compressed file (then the reader rightly decompresses). */
    int looks_compressed = (n >= 6 && !memcmp(d, xz_magic, 6)) || (n >= 4 && !memcmp(d, zstd_magic, 4));
    if (!looks_compressed) {
        read_trace(fd, d, n, format, &plain, path);
        memset(&want, 0, sizeof want);
        if (format == HONE_CACHE_TRACE_CACHE2K) ref_cache2k(d, n, &want);
        else ref_lines_of(d, n, &want, format == HONE_CACHE_TRACE_ARC ? arc_line : lines_line);
        if (want.full) want.end = (ending){1, 0, 0}; /* as read_trace marks the limit */
        if (format == HONE_CACHE_TRACE_LINES) {
            /* Keys of lines are hashes: check the count here and that equal
             * lines give equal keys through the compressed copies below. */
            FUZZ_CHECK(plain.n == want.n, "lines: %zu keys, %zu non-empty lines", plain.n, want.n);
            FUZZ_CHECK(plain.end.rc == want.end.rc && plain.end.offset == want.end.offset &&
                           plain.end.line == want.end.line,
                       "lines: ends with %s at %llu line %llu, not %s at %llu line %llu",
                       hone_status_name(plain.end.rc), (unsigned long long)plain.end.offset,
                       (unsigned long long)plain.end.line, hone_status_name(want.end.rc),
                       (unsigned long long)want.end.offset, (unsigned long long)want.end.line);
        } else {
            same(&plain, &want, format == HONE_CACHE_TRACE_ARC ? "arc" : "cache2k");
        }
    }

    uint8_t *buf = NULL;
    size_t blen = 0;
    if (store == 1) { /* xz */
        size_t cap = lzma_stream_buffer_bound(n);
        buf = malloc(cap);
        if (!buf || lzma_easy_buffer_encode(0, LZMA_CHECK_CRC32, NULL, d, n, buf, &blen, cap) != LZMA_OK) abort();
    } else if (store == 2) { /* zstd */
        size_t cap = ZSTD_compressBound(n);
        buf = malloc(cap);
        if (!buf) abort();
        blen = ZSTD_compress(buf, cap, d, n, 1);
        if (ZSTD_isError(blen)) abort();
    } else if (store == 3 || store == 4) { /* damaged: raw bytes behind a magic number */
        size_t m = store == 3 ? 6 : 4;
        buf = malloc(n + m);
        if (!buf) abort();
        memcpy(buf, store == 3 ? xz_magic : zstd_magic, m);
        if (n) memcpy(buf + m, d, n);
        blen = n + m;
    }
    if (buf) {
        read_trace(fd, buf, blen, format, &got, path);
        if (store <= 2 && !looks_compressed) {
            same(&got, &plain, store == 1 ? "xz against plain" : "zstd against plain");
        } else if (store >= 3 && got.end.rc < 0) {
            FUZZ_CHECK(got.end.rc == HONE_ECORRUPT || got.end.rc == HONE_ETRUNC || got.end.rc == HONE_EPARSE ||
                           got.end.rc == HONE_ERANGE,
                       "damaged compressed file gave %s", hone_status_name(got.end.rc));
        }
        free(buf);
    }
    return 0;
}
