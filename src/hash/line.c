/* line.c - writing and reading the lines of digest lists in the formats
 * of sha256sum, b3sum and xxhsum (GNU "<hex>  <name>" and BSD tag
 * "ALGO (<name>) = <hex>"), with their escaping of awkward file names. */
#include <string.h>

#include "hone/hash.h"

static const char *tag_name(hone_hash_algo algo) {
    switch (algo) {
    case HONE_HASH_SHA256: return "SHA256";
    case HONE_HASH_BLAKE3: return "BLAKE3";
    case HONE_HASH_XXH3_64: return "XXH3";
    case HONE_HASH_XXH3_128: return "XXH128";
    }
    return NULL;
}

/* The characters each tool escapes: coreutils 9.1 backslash, newline and
 * carriage return; b3sum backslash and newline; xxhsum 0.8.1 nothing. */
static const char *escaped_chars(hone_hash_algo algo) {
    switch (algo) {
    case HONE_HASH_SHA256: return "\\\n\r";
    case HONE_HASH_BLAKE3: return "\\\n";
    default: return "";
    }
}

static int append_escaped(hone_buf *b, const char *name, int escape) {
    if (!escape) return hone_buf_puts(b, name);
    for (const char *p = name; *p; p++) {
        int rc;
        if (*p == '\\')
            rc = hone_buf_append(b, "\\\\", 2);
        else if (*p == '\n')
            rc = hone_buf_append(b, "\\n", 2);
        else if (*p == '\r')
            rc = hone_buf_append(b, "\\r", 2);
        else
            rc = hone_buf_append(b, p, 1);
        if (rc) return rc;
    }
    return HONE_OK;
}

int hone_hash_format_line(hone_buf *b, hone_hash_algo algo, hone_hash_style style,
                          const uint8_t *digest, const char *name) {
    size_t dlen = hone_hash_digest_len(algo);
    if (!b || !digest || !name || !dlen) return HONE_EINVAL;
    char hex[HONE_HASH_MAX_HEX];
    hone_hash_hex(digest, dlen, hex);
    const char *esc = escaped_chars(algo);
    int escape = *esc && strpbrk(name, esc) != NULL;
    /* xxhsum 0.8.1 prints XXH3-64 only in the tag style. */
    if (algo == HONE_HASH_XXH3_64) style = HONE_HASH_STYLE_TAG;
    size_t old_len = b->len;
    int rc = HONE_OK;
    if (escape) rc = hone_buf_append(b, "\\", 1);
    if (style == HONE_HASH_STYLE_TAG) {
        if (!rc) rc = hone_buf_puts(b, tag_name(algo));
        if (!rc) rc = hone_buf_append(b, " (", 2);
        if (!rc) rc = append_escaped(b, name, escape);
        if (!rc) rc = hone_buf_append(b, ") = ", 4);
        if (!rc) rc = hone_buf_puts(b, hex);
    } else {
        if (!rc) rc = hone_buf_puts(b, hex);
        if (!rc) rc = hone_buf_append(b, "  ", 2);
        if (!rc) rc = append_escaped(b, name, escape);
    }
    if (!rc) rc = hone_buf_append(b, "\n", 1);
    if (rc) {
        /* Keep the promise that a failed append leaves b as it was. */
        b->len = old_len;
        if (b->data) b->data[old_len] = '\0';
    }
    return rc;
}

static int is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int parse_error(hone_error *err, size_t col, const char *fmt, const char *arg, size_t n) {
    if (err) {
        hone_error_set(err, HONE_EPARSE, fmt, arg, n);
        err->col = col;
    }
    return HONE_EPARSE;
}

/* Copies name[0..len) into out, undoing the escaping when `escaped`. */
static int unescape_name(const char *name, size_t len, int escaped, size_t col0, hone_buf *out,
                         hone_error *err) {
    if (len == 0) return parse_error(err, col0, "%s%zu", "missing file name at column ", col0);
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '\0')
            return parse_error(err, col0 + i, "%s%zu", "NUL byte in file name at column ",
                               col0 + i);
    }
    if (!escaped) return hone_buf_append(out, name, len);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '\\') {
            if (i + 1 == len)
                return parse_error(err, col0 + i, "%s%zu",
                                   "backslash at the end of an escaped file name, column ",
                                   col0 + i);
            char e = name[++i];
            if (e == '\\')
                c = '\\';
            else if (e == 'n')
                c = '\n';
            else if (e == 'r')
                c = '\r';
            else
                return parse_error(err, col0 + i - 1, "%s%zu",
                                   "invalid escape in file name (only \\\\, \\n and \\r), column ",
                                   col0 + i - 1);
        }
        int rc = hone_buf_append(out, &c, 1);
        if (rc) return rc;
    }
    return HONE_OK;
}

static int digest_into(const char *hex, size_t n, hone_hash_algo algo, size_t col,
                       hone_hash_line *out, hone_error *err) {
    size_t want = hone_hash_digest_len(algo);
    if (n != 2 * want) {
        if (err) {
            hone_error_set(err, HONE_EPARSE,
                           "expected %zu hex digits for %s at column %zu, found %zu", 2 * want,
                           hone_hash_name(algo), col, n);
            err->col = col;
        }
        return HONE_EPARSE;
    }
    hone_hash_unhex(hex, out->digest, want);
    out->digest_len = want;
    out->algo = algo;
    return HONE_OK;
}

static int parse_tagged(const char *s, size_t len, size_t start, int escaped, hone_hash_algo algo,
                        size_t name_open, hone_hash_line *out, hone_buf *name, hone_error *err) {
    /* The name runs to the last ')': a hex digest never holds one, while
     * a file name may. */
    size_t close = len;
    while (close > name_open && s[close - 1] != ')') close--;
    if (close == name_open)
        return parse_error(err, len + 1, "%s%zu", "missing ') = <digest>' at column ", len + 1);
    close--; /* index of ')' */
    size_t p = close + 1;
    if (p < len && s[p] == ' ') p++;
    if (p >= len || s[p] != '=')
        return parse_error(err, p + 1, "%s%zu", "expected '=' after ')' at column ", p + 1);
    p++;
    if (p < len && s[p] == ' ') p++;
    size_t hex_start = p;
    while (p < len && is_hex(s[p])) p++;
    if (p != len)
        return parse_error(err, p + 1, "%s%zu", "unexpected character after the digest, column ",
                           p + 1);
    int rc = digest_into(s + hex_start, len - hex_start, algo, hex_start + 1, out, err);
    if (rc) return rc;
    out->style = HONE_HASH_STYLE_TAG;
    out->binary = 0;
    (void)start;
    return unescape_name(s + name_open, close - name_open, escaped, name_open + 1, name, err);
}

int hone_hash_parse_line(const char *line, size_t len, hone_hash_algo def, hone_hash_line *out,
                         hone_buf *name, hone_error *err) {
    if (!line || !out || !name || !hone_hash_digest_len(def)) {
        return hone_error_set(err, HONE_EINVAL, "hash line: NULL argument or bad algorithm");
    }
    if (err) {
        err->code = HONE_OK;
        err->line = 0;
        err->col = 0;
        err->offset = UINT64_MAX;
        err->msg[0] = '\0';
    }
    hone_buf_clear(name);
    memset(out, 0, sizeof *out);
    /* A list written on Windows or copied through it ends lines in CRLF;
     * coreutils accepts that, so we drop a final CR - except on untagged
     * BLAKE3 lines, where b3sum does not escape a CR and reads a final one
     * as part of the name (below). */
    int had_cr = len > 0 && line[len - 1] == '\r';
    if (had_cr) len--;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i == len) return parse_error(err, 1, "%s%zu", "empty line (no digest), column ", i + 1);
    int escaped = 0;
    if (line[i] == '\\') {
        escaped = 1;
        i++;
    }
    /* Tag style: a known name, then " (" (or "("). */
    static const hone_hash_algo algos[] = {HONE_HASH_SHA256, HONE_HASH_BLAKE3,
                                           HONE_HASH_XXH3_128, HONE_HASH_XXH3_64};
    for (size_t k = 0; k < sizeof algos / sizeof algos[0]; k++) {
        const char *t = tag_name(algos[k]);
        size_t tl = strlen(t);
        if (len - i > tl && !memcmp(line + i, t, tl)) {
            size_t p = i + tl;
            if (p < len && line[p] == ' ') p++;
            if (p < len && line[p] == '(')
                return parse_tagged(line, len, i, escaped, algos[k], p + 1, out, name, err);
        }
    }
    /* GNU style, with xxhsum's optional "XXH3_" prefix on the digest. */
    hone_hash_algo algo = def;
    if (len - i > 5 && !memcmp(line + i, "XXH3_", 5)) {
        algo = HONE_HASH_XXH3_64;
        i += 5;
    }
    if (had_cr && algo == HONE_HASH_BLAKE3) len++;
    size_t hex_start = i;
    while (i < len && is_hex(line[i])) i++;
    if (i == hex_start) {
        /* Name an unknown tag so the user sees why the line is rejected. */
        size_t w = hex_start;
        while (w < len && ((line[w] >= 'A' && line[w] <= 'Z') || (line[w] >= '0' && line[w] <= '9')))
            w++;
        if (w > hex_start && w < len && (line[w] == ' ' || line[w] == '(')) {
            if (err) {
                hone_error_set(err, HONE_EPARSE,
                               "unsupported algorithm tag '%.*s' (hone knows SHA256, BLAKE3, "
                               "XXH3, XXH128)",
                               (int)(w - hex_start > 32 ? 32 : w - hex_start), line + hex_start);
                err->col = hex_start + 1;
            }
            return HONE_EPARSE;
        }
        return parse_error(err, hex_start + 1, "%s%zu", "expected a hex digest at column ",
                           hex_start + 1);
    }
    if (i < len && line[i] != ' ') {
        return parse_error(err, i + 1, "%s%zu",
                           "expected a space after the digest, found another character at "
                           "column ",
                           i + 1);
    }
    int rc = digest_into(line + hex_start, i - hex_start, algo, hex_start + 1, out, err);
    if (rc) return rc;
    if (i + 1 >= len || (line[i + 1] != ' ' && line[i + 1] != '*'))
        return parse_error(err, i + 2, "%s%zu",
                           "expected two spaces (or ' *') between the digest and the file "
                           "name, column ",
                           i + 2);
    out->binary = line[i + 1] == '*';
    out->style = HONE_HASH_STYLE_GNU;
    i += 2;
    return unescape_name(line + i, len - i, escaped, i + 1, name, err);
}
