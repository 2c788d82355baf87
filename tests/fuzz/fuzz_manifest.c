/* fuzz_manifest.c - libFuzzer target for the manifest parser
 * (hone_io_manifest_parse), which reads lists hone, sha256sum and b3sum
 * wrote, or hone's JSON, and so any file a user points `hone manifest check`
 * at.
 *
 * The first byte picks the algorithm argument (none, each algorithm, or a
 * bad name); the rest is the manifest. Invariants, each aborting:
 * - a failure returns EPARSE (EINVAL for the bad name only) with a message,
 *   leaves *out NULL, and a sum-format failure names its line (within the
 *   input's lines);
 * - a parsed manifest is sorted by path without duplicates, no path starts
 *   with "./", every entry is found by hone_io_manifest_find(), and sum
 *   input has no size or mtime;
 * - each line of sum input reads the same through the digest-list line
 *   parser of `hone hash -c` (one parser of sha256sum/b3sum lines, not two
 *   that disagree);
 * - the round trip: written back as JSON it parses to the same algorithm and
 *   entries (digest, size, mtime); written back in the sum format it parses
 *   to the same entries, for every path the sum format can carry.
 *
 * FUZZ-OPTIONS: -max_len=4096 -runs=500000 */
#include "fuzz.h"

/* A strict UTF-8 check (RFC 3629: no overlong forms, no surrogates, nothing
 * past U+10FFFF), the rule JSON readers such as jansson apply. */
static int utf8_valid(const unsigned char *s) {
    while (*s) {
        unsigned c = *s;
        size_t n;
        unsigned min, cp;
        if (c < 0x80) {
            s++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1, min = 0x80, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, min = 0x800, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return 0;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        s += n + 1;
    }
    return 1;
}

/* Whether the sum format can carry this path for this algorithm, asked of
 * the digest-list line parser itself (the code `hone hash -c` runs): the
 * line hone writes for it must be one line and read back to the same name
 * there. That
 * leaves out the empty path (no name) and, as sha256sum, b3sum and xxhsum
 * escape different characters, a newline or a final carriage return where
 * the tool does not escape it. */
static int sum_can_carry(const hone_io_manifest_entry *e, hone_hash_algo algo) {
    hone_buf line = {0}, name = {0};
    hone_hash_line hl;
    int ok = hone_hash_format_line(&line, algo, HONE_HASH_STYLE_GNU, e->digest, e->path) == HONE_OK &&
             memchr(line.data, '\n', line.len) == line.data + line.len - 1 &&
             hone_hash_parse_line(line.data, line.len - 1, algo, &hl, &name, NULL) == HONE_OK &&
             !strcmp(name.data, e->path);
    hone_buf_free(&line);
    hone_buf_free(&name);
    return ok;
}

static void same_entries(const hone_io_manifest *a, const hone_io_manifest *b, int with_meta,
                         const char *how) {
    FUZZ_CHECK(!strcmp(hone_io_manifest_algo(a), hone_io_manifest_algo(b)), "%s: algo %s became %s",
               how, hone_io_manifest_algo(a), hone_io_manifest_algo(b));
    size_t n = hone_io_manifest_count(a), dlen = hone_io_manifest_digest_len(a);
    FUZZ_CHECK(hone_io_manifest_count(b) == n, "%s: %zu entries became %zu", how, n,
               hone_io_manifest_count(b));
    for (size_t i = 0; i < n; i++) {
        const hone_io_manifest_entry *x = hone_io_manifest_entry_at(a, i);
        const hone_io_manifest_entry *y = hone_io_manifest_entry_at(b, i);
        FUZZ_CHECK(!strcmp(x->path, y->path), "%s: entry %zu path '%s' became '%s'", how, i, x->path,
                   y->path);
        FUZZ_CHECK(!memcmp(x->digest, y->digest, dlen), "%s: digest of '%s' changed", how, x->path);
        if (with_meta) {
            FUZZ_CHECK(x->size == y->size && x->mtime_ns == y->mtime_ns,
                       "%s: size/mtime of '%s' %llu/%lld became %llu/%lld", how, x->path,
                       (unsigned long long)x->size, (long long)x->mtime_ns,
                       (unsigned long long)y->size, (long long)y->mtime_ns);
        } else {
            FUZZ_CHECK(y->size == UINT64_MAX && y->mtime_ns == INT64_MIN,
                       "%s: sum-format entry '%s' has a size or mtime", how, y->path);
        }
    }
}

/* The differential check of sum-format input: every line the manifest
 * parser read (not blank, not a '#' comment) reads the same, one at a time,
 * through the digest-list line parser that `hone hash -c` uses: its name
 * (without a leading "./") is an entry with the same digest. */
static void same_as_line_parser(const hone_io_manifest *m, const char *text, size_t len) {
    hone_hash_algo algo;
    hone_hash_from_name(hone_io_manifest_algo(m), &algo, NULL);
    hone_buf name = {0};
    uint64_t lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        lineno++;
        if (ll == 0 || line[0] == '#' || (ll == 1 && line[0] == '\r')) continue;
        hone_hash_line hl;
        hone_error err;
        int rc = hone_hash_parse_line(line, ll, algo, &hl, &name, &err);
        FUZZ_CHECK(rc == HONE_OK, "line %llu parsed in the manifest but not alone: %s",
                   (unsigned long long)lineno, err.msg);
        FUZZ_CHECK(hl.algo == algo, "line %llu is %s in a %s manifest", (unsigned long long)lineno,
                   hone_hash_name(hl.algo), hone_hash_name(algo));
        const char *path = name.data;
        while (path[0] == '.' && path[1] == '/') path += 2;
        const hone_io_manifest_entry *e = hone_io_manifest_find(m, path);
        FUZZ_CHECK(e != NULL, "line %llu names '%s', which the manifest does not list",
                   (unsigned long long)lineno, path);
        FUZZ_CHECK(!memcmp(e->digest, hl.digest, hl.digest_len), "line %llu: digest of '%s' differs",
                   (unsigned long long)lineno, path);
    }
    hone_buf_free(&name);
}

static void check_parsed(const hone_io_manifest *m, int is_json) {
    size_t n = hone_io_manifest_count(m), dlen = hone_io_manifest_digest_len(m);
    hone_hash_algo algo;
    FUZZ_CHECK(hone_hash_from_name(hone_io_manifest_algo(m), &algo, NULL) == HONE_OK,
               "unknown algo '%s'", hone_io_manifest_algo(m));
    FUZZ_CHECK(dlen == hone_hash_digest_len(algo) && dlen <= HONE_IO_DIGEST_MAX, "digest length %zu",
               dlen);
    int carry = 1, utf8 = 1;
    for (size_t i = 0; i < n; i++) {
        const hone_io_manifest_entry *e = hone_io_manifest_entry_at(m, i);
        FUZZ_CHECK(e && e->path, "entry %zu missing", i);
        FUZZ_CHECK(strncmp(e->path, "./", 2) != 0, "path '%s' keeps its './'", e->path);
        if (i) {
            const char *prev = hone_io_manifest_entry_at(m, i - 1)->path;
            FUZZ_CHECK(strcmp(prev, e->path) < 0, "'%s' before '%s': not sorted or a duplicate",
                       prev, e->path);
        }
        FUZZ_CHECK(hone_io_manifest_find(m, e->path) == e, "find('%s') is not entry %zu", e->path, i);
        if (!is_json)
            FUZZ_CHECK(e->size == UINT64_MAX && e->mtime_ns == INT64_MIN,
                       "sum-format entry '%s' has a size or mtime", e->path);
        carry &= sum_can_carry(e, algo);
        utf8 &= utf8_valid((const unsigned char *)e->path);
    }
    FUZZ_CHECK(hone_io_manifest_entry_at(m, n) == NULL, "entry_at(count) is not NULL");

    /* JSON round trip. JSON strings are Unicode, so a path that is not
     * UTF-8 cannot be written; anything else must come back. */
    hone_buf out = {0};
    int rc = hone_io_manifest_format_to(m, HONE_IO_MANIFEST_JSON, &out);
    if (rc == HONE_OK) {
        hone_io_manifest *m2 = NULL;
        hone_error err;
        rc = hone_io_manifest_parse(&m2, out.data, out.len, NULL, NULL, &err);
        FUZZ_CHECK(rc == HONE_OK, "the JSON hone wrote does not parse: %s\n%s", err.msg, out.data);
        same_entries(m, m2, 1, "JSON round trip");
        hone_io_manifest_free(m2);
    } else {
        FUZZ_CHECK(rc == HONE_EINVAL && !utf8, "writing JSON failed with %s", hone_status_name(rc));
    }
    hone_buf_free(&out);

    /* Sum-format round trip, with the algorithm named as the CLI names it
     * from the file's suffix. */
    if (carry) {
        rc = hone_io_manifest_format_to(m, HONE_IO_MANIFEST_SUM, &out);
        FUZZ_CHECK(rc == HONE_OK, "writing the sum format failed with %s", hone_status_name(rc));
        hone_io_manifest *m2 = NULL;
        hone_error err;
        rc = hone_io_manifest_parse(&m2, out.data ? out.data : "", out.len, hone_io_manifest_algo(m),
                                    NULL, &err);
        FUZZ_CHECK(rc == HONE_OK, "the sum format hone wrote does not parse: %s\n%s", err.msg,
                   out.data ? out.data : "");
        same_entries(m, m2, 0, "sum round trip");
        hone_io_manifest_free(m2);
        hone_buf_free(&out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const algos[] = {NULL, "sha256", "blake3", "xxh3", "xxh128", "md5"};
    const char *algo = NULL;
    if (size > 0) {
        algo = algos[data[0] % (sizeof algos / sizeof algos[0])];
        data++, size--;
    }
    /* An exact-size copy without a terminator: the parser takes a length. */
    char *text = malloc(size ? size : 1);
    if (!text) abort();
    if (size) memcpy(text, data, size);

    size_t s = 0;
    while (s < size && (text[s] == ' ' || text[s] == '\t' || text[s] == '\n' || text[s] == '\r')) s++;
    int is_json = s < size && text[s] == '{';
    uint64_t lines = 0;
    for (size_t i = 0; i < size; i++) lines += text[i] == '\n';
    if (size && text[size - 1] != '\n') lines++;

    hone_io_manifest *m = (hone_io_manifest *)&m; /* must be reset to NULL */
    hone_error err;
    memset(&err, 0, sizeof err);
    int rc = hone_io_manifest_parse(&m, text, size, algo, NULL, &err);
    if (rc == HONE_OK) {
        FUZZ_CHECK(m != NULL, "HONE_OK without a manifest");
        FUZZ_CHECK(!algo || strcmp(algo, "md5"), "the bad algorithm name was accepted");
        check_parsed(m, is_json);
        if (!is_json) same_as_line_parser(m, text, size);
        hone_io_manifest_free(m);
    } else {
        FUZZ_CHECK(m == NULL, "*out not NULL after %s", hone_status_name(rc));
        FUZZ_CHECK(fuzz_err_ok(&err), "%s without a message", hone_status_name(rc));
        if (algo && !strcmp(algo, "md5")) {
            FUZZ_CHECK(rc == HONE_EINVAL, "a bad algorithm name gave %s", hone_status_name(rc));
        } else {
            FUZZ_CHECK(rc == HONE_EPARSE, "bad input gave %s: %s", hone_status_name(rc), err.msg);
            if (!is_json) {
                FUZZ_CHECK(err.line >= 1 && err.line <= lines, "error line %llu of %llu lines: %s",
                           (unsigned long long)err.line, (unsigned long long)lines, err.msg);
                char want[32];
                snprintf(want, sizeof want, "line %llu:", (unsigned long long)err.line);
                FUZZ_CHECK(!strncmp(err.msg, want, strlen(want)), "message does not start with '%s': %s",
                           want, err.msg);
            }
        }
    }
    free(text);
    return 0;
}
