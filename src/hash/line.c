/* line.c - writing and reading the lines of digest lists in the formats
 * of sha256sum, b3sum and xxhsum (GNU "<hex>  <name>" and BSD tag
 * "ALGO (<name>) = <hex>"), with their escaping of awkward file names. */
#include <string.h>

#include "hone/hash.h"


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

static int append_hex(hone_buf *b, const uint8_t *digest, size_t len) {
    char hex[2 * 64 + 1];
    for (size_t off = 0; off < len; off += 64) {
        size_t n = len - off < 64 ? len - off : 64;
        int rc = hone_buf_append(b, hex, hone_hash_hex(digest + off, n, hex));
        if (rc) return rc;
    }
    return HONE_OK;
}

int hone_hash_format_line_ex(hone_buf *b, hone_hash_algo algo, hone_hash_style style,
                             const uint8_t *digest, size_t digest_len, const char *name,
                             unsigned flags) {
    const hone_hash_info *in = hone_hash_info_of(algo);
    int no_name = (flags & HONE_HASH_LINE_NO_NAME) != 0;
    if (!b || !in || (!digest && digest_len) || (flags & ~(unsigned)(HONE_HASH_LINE_ZERO |
                                                                     HONE_HASH_LINE_NO_NAME)))
        return HONE_EINVAL;
    if ((!no_name && !name) || (no_name && style == HONE_HASH_STYLE_TAG)) return HONE_EINVAL;
    if (!in->xof && digest_len != in->digest_len) return HONE_EINVAL;
    if (!in->xof && !digest) return HONE_EINVAL;
    /* xxhsum 0.8.1 prints XXH3-64 only in the tag style. */
    if (in->tag_only && !no_name) style = HONE_HASH_STYLE_TAG;
    int escape = !(flags & HONE_HASH_LINE_ZERO) && !no_name && *in->escape_chars &&
                 strpbrk(name, in->escape_chars) != NULL;
    size_t old_len = b->len;
    int rc = HONE_OK;
    if (escape) rc = hone_buf_append(b, "\\", 1);
    if (no_name) {
        rc = append_hex(b, digest, digest_len);
    } else if (style == HONE_HASH_STYLE_TAG) {
        if (!rc) rc = hone_buf_puts(b, in->tag);
        if (!rc) rc = hone_buf_append(b, " (", 2);
        if (!rc) rc = append_escaped(b, name, escape);
        if (!rc) rc = hone_buf_append(b, ") = ", 4);
        if (!rc) rc = append_hex(b, digest, digest_len);
    } else {
        if (!rc) rc = append_hex(b, digest, digest_len);
        if (!rc) rc = hone_buf_append(b, "  ", 2);
        if (!rc) rc = append_escaped(b, name, escape);
    }
    if (!rc) rc = hone_buf_append(b, (flags & HONE_HASH_LINE_ZERO) ? "\0" : "\n", 1);
    if (rc) {
        /* Keep the promise that a failed append leaves b as it was. */
        b->len = old_len;
        if (b->data) b->data[old_len] = '\0';
    }
    return rc;
}

int hone_hash_format_line(hone_buf *b, hone_hash_algo algo, hone_hash_style style,
                          const uint8_t *digest, const char *name) {
    size_t dlen = hone_hash_digest_len(algo);
    if (!dlen || !digest) return HONE_EINVAL;
    return hone_hash_format_line_ex(b, algo, style, digest, dlen, name, 0);
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
    out->algo = algo; /* for the caller's message, also on error */
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

/* The separator forms of untagged lines (hone_hash_list_state.form). */
enum { FORM_NONE = 0, FORM_TWO = 1, FORM_ONE = 2 };

/* Parses one line given the separator form of the untagged lines before it
 * (FORM_NONE: none); *form receives this line's form (FORM_NONE for a tagged
 * line). */
static int parse_line(const char *line, size_t len, hone_hash_algo def, int form_before,
                      int *form, hone_hash_line *out, hone_buf *name, hone_error *err) {
    *form = FORM_NONE;
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
    const hone_hash_info *in;
    for (size_t k = 0; (in = hone_hash_info_at(k)) != NULL; k++) {
        size_t tl = strlen(in->tag);
        if (len - i > tl && !memcmp(line + i, in->tag, tl)) {
            size_t p = i + tl;
            if (p < len && line[p] == ' ') p++;
            if (p < len && line[p] == '(')
                return parse_tagged(line, len, i, escaped, in->algo, p + 1, out, name, err);
        }
    }
    /* GNU style, with xxhsum's optional "XXH3_" prefix on the digest. */
    hone_hash_algo algo = def;
    if (len - i > 5 && !memcmp(line + i, "XXH3_", 5)) {
        algo = HONE_HASH_XXH3_64;
        out->algo = algo;
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
    if (i < len && line[i] != ' ' && line[i] != '\t') {
        return parse_error(err, i + 1, "%s%zu",
                           "expected a space or tab after the digest, found another character "
                           "at column ",
                           i + 1);
    }
    int rc = digest_into(line + hex_start, i - hex_start, algo, hex_start + 1, out, err);
    if (rc) return rc;
    /* coreutils 9.1 (md5sum.c split_3): one blank (space or tab), then a
     * type mark (' ' text, '*' binary) and the name; or, when the next
     * character is neither or is the last one, the name right away (BSD
     * `md5 -r` lines). It refuses the one-character form once it has seen
     * the other, and after a one-character line reads every name whole. */
    if (i + 1 >= len)
        return parse_error(err, i + 2, "%s%zu", "missing file name after the digest, column ",
                           i + 2);
    size_t rest = i + 1;
    int one = len - rest == 1 || (line[rest] != ' ' && line[rest] != '*');
    if (one) {
        if (form_before == FORM_TWO)
            return parse_error(err, rest + 1, "%s%zu",
                               "one blank between digest and name after lines with two (as "
                               "sha256sum -c, hone does not mix the two forms), column ",
                               rest + 1);
        *form = FORM_ONE;
    } else if (form_before != FORM_ONE) {
        *form = FORM_TWO;
        out->binary = line[rest] == '*';
        rest++;
    } else {
        *form = FORM_ONE;
    }
    out->style = HONE_HASH_STYLE_GNU;
    return unescape_name(line + rest, len - rest, escaped, rest + 1, name, err);
}

int hone_hash_parse_line(const char *line, size_t len, hone_hash_algo def, hone_hash_line *out,
                         hone_buf *name, hone_error *err) {
    int form;
    return parse_line(line, len, def, FORM_NONE, &form, out, name, err);
}

int hone_hash_parse_list_line(hone_hash_list_state *st, const char *line, size_t len,
                              hone_hash_algo def, hone_hash_line *out, hone_buf *name,
                              hone_error *err) {
    if (!st || !line)
        return hone_error_set(err, HONE_EINVAL, "hash list line: NULL argument");
    /* coreutils skips a line whose first byte is '#' before anything else,
     * then an empty one (after dropping a final CR). */
    if (len == 0 || line[0] == '#' || (len == 1 && line[0] == '\r')) return HONE_ENOTFOUND;
    int form;
    int rc = parse_line(line, len, def, st->form, &form, out, name, err);
    if (rc == HONE_OK && form != FORM_NONE) st->form = form;
    return rc;
}
