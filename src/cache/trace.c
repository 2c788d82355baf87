/* trace.c - reads cache traces (cache2k int32, ARC block ranges, one key
 * per line) from plain, xz or zstd files, streaming. */
#include <errno.h>
#include <lzma.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

#include "cache/policy.h"
#include "hone/cache.h"
#include "hone/cachesim.h"

enum { COMP_NONE, COMP_XZ, COMP_ZSTD };

#define IN_SIZE (64 * 1024)
#define OUT_SIZE (128 * 1024)

struct hone_cache_trace {
    const hone_allocator *alloc;
    FILE *f;
    char *path;
    int format, comp;
    unsigned char *in, *out;
    size_t in_len, in_pos;   /* compressed input buffer */
    size_t out_len, out_pos; /* decompressed data buffer */
    uint64_t in_off;         /* compressed bytes consumed from the file */
    uint64_t off;            /* decompressed bytes handed to the parser */
    int eof;                 /* decompressed stream finished */
    lzma_stream lz;
    ZSTD_DStream *zs;
    size_t zs_last; /* last ZSTD_decompressStream return: 0 = frame done */
    uint64_t line;
    /* ARC: the current range still being expanded */
    uint64_t arc_next, arc_left;
};

static const char *const format_names[] = {"auto", "cache2k", "arc", "lines", NULL};

int hone_cache_trace_format_parse(const char *name, int *out, hone_error *err) {
    return hone_parse_enum("trace format", name, format_names, out, err);
}

const char *hone_cache_trace_format_name(int format) {
    return format >= HONE_CACHE_TRACE_AUTO && format <= HONE_CACHE_TRACE_LINES ? format_names[format]
                                                                              : NULL;
}

/* Whether base ends in ext, or in ext followed by a compression suffix
 * (".lis.zst", ".trace.xz"). */
static int has_suffix(const char *base, const char *ext) {
    static const char *const comp[] = {"", ".xz", ".zst", ".gz", NULL};
    size_t bl = strlen(base);
    for (int i = 0; comp[i]; i++) {
        size_t el = strlen(ext), cl = strlen(comp[i]);
        if (bl > el + cl && !memcmp(base + bl - cl, comp[i], cl) &&
            !memcmp(base + bl - cl - el, ext, el))
            return 1;
    }
    return 0;
}

int hone_cache_trace_format_detect(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return has_suffix(base, ".lis") ? HONE_CACHE_TRACE_ARC
           : has_suffix(base, ".trace") ? HONE_CACHE_TRACE_CACHE2K
                                        : HONE_CACHE_TRACE_LINES;
}

static int set_io_error(hone_error *err, int e, const char *path) {
    return hone_error_set(err, hone_status_from_errno(e), "%s: %s", path, strerror(e));
}

/* Refills the raw input buffer; returns bytes available (0 at file end). */
static int fill_in(hone_cache_trace *t, hone_error *err) {
    if (t->in_pos < t->in_len) return HONE_OK;
    t->in_len = fread(t->in, 1, IN_SIZE, t->f);
    t->in_pos = 0;
    if (t->in_len == 0 && ferror(t->f)) return set_io_error(err, errno ? errno : EIO, t->path);
    return HONE_OK;
}

static int comp_error(hone_cache_trace *t, hone_error *err, int code, const char *what) {
    int rc = hone_error_set(err, code, "%s: %s at compressed byte offset %llu", t->path, what,
                            (unsigned long long)(t->in_off + t->in_pos));
    if (err) err->offset = t->in_off + t->in_pos;
    return rc;
}

/* Produces more decompressed bytes into t->out. Returns HONE_OK (with
 * out_len possibly 0 only at the end) or an error. */
static int refill(hone_cache_trace *t, hone_error *err) {
    t->out_len = t->out_pos = 0;
    if (t->eof) return HONE_OK;
    if (t->comp == COMP_NONE) {
        if (t->in_pos < t->in_len) {
            size_t n = t->in_len - t->in_pos;
            memcpy(t->out, t->in + t->in_pos, n);
            t->in_off += t->in_len;
            t->in_pos = t->in_len = 0;
            t->out_len = n;
            return HONE_OK;
        }
        t->out_len = fread(t->out, 1, OUT_SIZE, t->f);
        if (t->out_len == 0) {
            if (ferror(t->f)) return set_io_error(err, errno ? errno : EIO, t->path);
            t->eof = 1;
        }
        return HONE_OK;
    }
    while (t->out_len == 0 && !t->eof) {
        size_t before = t->in_pos;
        int rc = fill_in(t, err);
        if (rc) return rc;
        (void)before;
        int at_end = t->in_len == 0;
        if (t->comp == COMP_XZ) {
            t->lz.next_in = t->in + t->in_pos;
            t->lz.avail_in = t->in_len - t->in_pos;
            t->lz.next_out = t->out;
            t->lz.avail_out = OUT_SIZE;
            lzma_ret r = lzma_code(&t->lz, at_end ? LZMA_FINISH : LZMA_RUN);
            size_t used = (t->in_len - t->in_pos) - t->lz.avail_in;
            t->in_pos += used;
            t->out_len = OUT_SIZE - t->lz.avail_out;
            if (r == LZMA_STREAM_END) {
                t->eof = 1;
            } else if (r == LZMA_BUF_ERROR && at_end) {
                return comp_error(t, err, HONE_ETRUNC, "xz stream ends early (truncated file)");
            } else if (r != LZMA_OK) {
                return comp_error(t, err, r == LZMA_MEM_ERROR ? HONE_ENOMEM : HONE_ECORRUPT,
                                  r == LZMA_MEM_ERROR ? "out of memory decompressing xz"
                                                      : "corrupt xz data");
            }
        } else {
            if (at_end) {
                if (t->zs_last != 0)
                    return comp_error(t, err, HONE_ETRUNC,
                                      "zstd stream ends early (truncated file)");
                t->eof = 1;
                break;
            }
            ZSTD_inBuffer ib = {t->in, t->in_len, t->in_pos};
            ZSTD_outBuffer ob = {t->out, OUT_SIZE, 0};
            size_t r = ZSTD_decompressStream(t->zs, &ob, &ib);
            t->in_pos = ib.pos;
            if (ZSTD_isError(r)) return comp_error(t, err, HONE_ECORRUPT, ZSTD_getErrorName(r));
            t->zs_last = r;
            t->out_len = ob.pos;
        }
        if (t->in_pos == t->in_len && t->in_len) {
            t->in_off += t->in_len;
            t->in_pos = t->in_len = 0;
        }
    }
    return HONE_OK;
}

/* Next decompressed byte: returns 0..255, -1 at end, or an error < -1
 * (as -1000 + status to stay apart from -1). */
static int next_byte(hone_cache_trace *t, hone_error *err, int *rc) {
    if (t->out_pos == t->out_len) {
        *rc = refill(t, err);
        if (*rc) return -2;
        if (t->out_len == 0) return -1;
    }
    t->off++;
    return t->out[t->out_pos++];
}

int hone_cache_trace_open(hone_cache_trace **out, const char *path, int format,
                          const hone_allocator *alloc, hone_error *err) {
    *out = NULL;
    if (!path || format < HONE_CACHE_TRACE_AUTO || format > HONE_CACHE_TRACE_LINES)
        return hone_error_set(err, HONE_EINVAL, "invalid trace path or format");
    if (format == HONE_CACHE_TRACE_AUTO) format = hone_cache_trace_format_detect(path);
    hone_cache_trace *t = hone_calloc(alloc, 1, sizeof *t);
    if (!t) return hone_error_set(err, HONE_ENOMEM, "out of memory");
    t->alloc = alloc;
    t->format = format;
    t->line = 1;
    lzma_stream init = LZMA_STREAM_INIT;
    t->lz = init;
    int rc = HONE_ENOMEM;
    t->path = hone_strdup(alloc, path);
    t->in = hone_malloc(alloc, IN_SIZE);
    t->out = hone_malloc(alloc, OUT_SIZE);
    if (!t->path || !t->in || !t->out) {
        hone_error_set(err, rc, "out of memory");
        goto fail;
    }
    t->f = fopen(path, "rb");
    if (!t->f) {
        rc = set_io_error(err, errno, path);
        goto fail;
    }
    if ((rc = fill_in(t, err))) goto fail;
    static const unsigned char xz_magic[6] = {0xfd, '7', 'z', 'X', 'Z', 0};
    static const unsigned char zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    if (t->in_len >= 6 && !memcmp(t->in, xz_magic, 6)) {
        t->comp = COMP_XZ;
        /* Concatenated streams (`xz a >> t.xz`, parallel xz) are one
         * trace, as xz -d reads them; anything after the last stream that
         * is not stream padding is corrupt, as with zstd. */
        if (lzma_stream_decoder(&t->lz, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK) {
            rc = hone_error_set(err, HONE_ENOMEM, "out of memory starting the xz decoder");
            goto fail;
        }
    } else if (t->in_len >= 4 && !memcmp(t->in, zstd_magic, 4)) {
        t->comp = COMP_ZSTD;
        t->zs = ZSTD_createDStream();
        if (!t->zs) {
            rc = hone_error_set(err, HONE_ENOMEM, "out of memory starting the zstd decoder");
            goto fail;
        }
        ZSTD_initDStream(t->zs);
        t->zs_last = 1;
    }
    *out = t;
    return HONE_OK;
fail:
    hone_cache_trace_close(t);
    return rc;
}

void hone_cache_trace_close(hone_cache_trace *t) {
    if (!t) return;
    if (t->f) fclose(t->f);
    lzma_end(&t->lz);
    if (t->zs) ZSTD_freeDStream(t->zs);
    hone_free(t->alloc, t->in);
    hone_free(t->alloc, t->out);
    hone_free(t->alloc, t->path);
    hone_free(t->alloc, t);
}

static int parse_error(hone_cache_trace *t, hone_error *err, int code, uint64_t off,
                       const char *what) {
    int rc;
    if (t->format == HONE_CACHE_TRACE_CACHE2K)
        rc = hone_error_set(err, code, "%s: %s at byte offset %llu", t->path, what,
                            (unsigned long long)off);
    else
        rc = hone_error_set(err, code, "%s: %s at line %llu (byte offset %llu)", t->path, what,
                            (unsigned long long)t->line, (unsigned long long)off);
    if (err) {
        err->offset = off;
        if (t->format != HONE_CACHE_TRACE_CACHE2K) err->line = t->line;
    }
    return rc;
}

/* Reads one text line into buf (without the newline). Returns its length,
 * -1 at the end of the trace, or a status < -1 via *rc. */
static long read_line(hone_cache_trace *t, char *buf, size_t cap, hone_error *err, int *rc,
                      uint64_t *start) {
    size_t n = 0;
    int c;
    *start = t->off;
    while ((c = next_byte(t, err, rc)) >= 0) {
        if (c == '\n') return (long)n;
        if (n + 1 >= cap) {
            *rc = parse_error(t, err, HONE_EPARSE, *start, "line longer than 4095 bytes");
            return -2;
        }
        buf[n++] = (char)c;
    }
    if (c == -2) return -2;
    return n ? (long)n : -1;
}

static int next_cache2k(hone_cache_trace *t, uint64_t *key, hone_error *err) {
    uint32_t v = 0;
    uint64_t start = t->off;
    int rc = 0;
    for (int i = 0; i < 4; i++) {
        int c = next_byte(t, err, &rc);
        if (c == -2) return rc;
        if (c == -1) {
            if (i == 0) return 0;
            return parse_error(t, err, HONE_ETRUNC, start,
                               "truncated record (a key needs 4 bytes)");
        }
        v = (v << 8) | (uint32_t)c;
    }
    /* The key is the signed value, as Java's readInt sees it. */
    *key = (uint64_t)(int64_t)(int32_t)v;
    return 1;
}

static int parse_u64_field(const char **p, uint64_t *out) {
    const char *s = *p;
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    if (*s < '0' || *s > '9') return -1;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        if (v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(*s++ - '0');
    }
    if (*s && *s != ' ' && *s != '\t' && *s != '\r') return -1;
    *p = s;
    *out = v;
    return 0;
}

#define HONE__ARC_MAX_BLOCKS (UINT64_C(1) << 20)

static int next_arc(hone_cache_trace *t, uint64_t *key, hone_error *err) {
    char buf[4096];
    while (t->arc_left == 0) {
        int rc = 0;
        uint64_t start;
        long n = read_line(t, buf, sizeof buf, err, &rc, &start);
        if (n == -1) return 0;
        if (n < 0) return rc;
        buf[n] = 0;
        const char *p = buf;
        uint64_t first, count, ign, reqno;
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (*p == 0) { /* blank lines are skipped */
            t->line++;
            continue;
        }
        if (parse_u64_field(&p, &first) || parse_u64_field(&p, &count) ||
            parse_u64_field(&p, &ign) || parse_u64_field(&p, &reqno))
            return parse_error(t, err, HONE_EPARSE, start,
                               "expected 'start_block n_blocks ignored request_no'");
        /* One line is one request: more blocks than this (4 GiB of 4 KiB
         * blocks) is a damaged trace, not a request, and would ask for
         * memory without end. */
        if (count > HONE__ARC_MAX_BLOCKS) {
            char what[96];
            snprintf(what, sizeof what, "n_blocks %llu: expected at most %llu blocks in one request",
                     (unsigned long long)count, (unsigned long long)HONE__ARC_MAX_BLOCKS);
            return parse_error(t, err, HONE_ERANGE, start, what);
        }
        t->line++;
        t->arc_next = first;
        t->arc_left = count;
    }
    *key = t->arc_next++;
    t->arc_left--;
    return 1;
}

static int next_lines(hone_cache_trace *t, uint64_t *key, hone_error *err) {
    char buf[4096];
    for (;;) {
        int rc = 0;
        uint64_t start;
        long n = read_line(t, buf, sizeof buf, err, &rc, &start);
        if (n == -1) return 0;
        if (n < 0) return rc;
        t->line++;
        if (n > 0 && buf[n - 1] == '\r') n--;
        if (n == 0) continue;
        /* FNV-1a then a final mix: keys only need to be distinct. */
        uint64_t h = 0xcbf29ce484222325ULL;
        for (long i = 0; i < n; i++) h = (h ^ (unsigned char)buf[i]) * 0x100000001b3ULL;
        *key = hone__mix64(h);
        return 1;
    }
}

int hone_cache_trace_next(hone_cache_trace *t, uint64_t *key, hone_error *err) {
    switch (t->format) {
    case HONE_CACHE_TRACE_CACHE2K: return next_cache2k(t, key, err);
    case HONE_CACHE_TRACE_ARC: return next_arc(t, key, err);
    default: return next_lines(t, key, err);
    }
}

int hone_cache_trace_load(const char *path, int format, const hone_allocator *alloc,
                          uint64_t **keys, size_t *n, hone_error *err) {
    *keys = NULL;
    *n = 0;
    hone_cache_trace *t;
    int rc = hone_cache_trace_open(&t, path, format, alloc, err);
    if (rc) return rc;
    size_t cap = 0, len = 0;
    uint64_t *a = NULL, k;
    while ((rc = hone_cache_trace_next(t, &k, err)) == 1) {
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 4096;
            uint64_t *na = hone_realloc(alloc, a, nc * sizeof *na);
            if (!na) {
                rc = hone_error_set(err, HONE_ENOMEM, "out of memory loading %s", path);
                break;
            }
            a = na;
            cap = nc;
        }
        a[len++] = k;
    }
    hone_cache_trace_close(t);
    if (rc < 0) {
        hone_free(alloc, a);
        return rc;
    }
    *keys = a;
    *n = len;
    return HONE_OK;
}
