/* glob.c - the gitignore-style glob dialect of include/exclude lists:
 * `*`, `?`, brackets, escapes, and `**` spanning path segments. */
#include "hone/io.h"

#include <string.h>

/* Matches one bracket expression at *pp against character c. Returns 1 or
 * 0 and advances *pp past the ']', or returns -1 (leaving *pp alone) when
 * the bracket is not closed, so the caller treats '[' as a literal. */
static int match_bracket(const char **pp, unsigned char c) {
    const char *p = *pp + 1;
    int negate = 0, hit = 0;
    if (*p == '!' || *p == '^') negate = 1, p++;
    const char *first = p;
    while (*p && (*p != ']' || p == first)) {
        unsigned char lo = (unsigned char)*p;
        if (lo == '\\' && p[1]) lo = (unsigned char)*++p;
        unsigned char hi = lo;
        if (p[1] == '-' && p[2] && p[2] != ']') {
            p += 2;
            hi = (unsigned char)*p;
            if (hi == '\\' && p[1]) hi = (unsigned char)*++p;
        }
        if (c >= lo && c <= hi) hit = 1;
        p++;
    }
    if (*p != ']') return -1;
    *pp = p + 1;
    return hit != negate;
}

/* The matcher proper: backtracking over `*` and `**`, which is cheap for
 * paths (short, few stars). */
static int match(const char *p, const char *s) {
    for (;;) {
        switch (*p) {
        case '\0': return *s == '\0';
        case '*':
            if (p[1] == '*') {
                /* `**` followed by '/' spans whole segments; at the end it
                 * matches everything left; elsewhere it is a '*' that may
                 * cross '/'. */
                const char *q = p;
                while (*q == '*') q++;
                if (*q == '\0') return 1;
                if (*q == '/') {
                    /* Zero segments, or skip whole segments of s. */
                    if (match(q + 1, s)) return 1;
                    for (const char *t = s; *t; t++)
                        if (*t == '/' && match(q + 1, t + 1)) return 1;
                    return 0;
                }
                /* "**x": like '*' but crossing '/'. */
                for (const char *t = s;; t++) {
                    if (match(q, t)) return 1;
                    if (!*t) return 0;
                }
            }
            p++;
            for (const char *t = s;; t++) {
                if (match(p, t)) return 1;
                if (!*t || *t == '/') return 0;
            }
        case '?':
            if (!*s || *s == '/') return 0;
            p++, s++;
            break;
        case '[': {
            if (!*s || *s == '/') return 0;
            const char *q = p;
            int r = match_bracket(&q, (unsigned char)*s);
            if (r < 0) {
                if (*s != '[') return 0;
                p++, s++;
            } else {
                if (!r) return 0;
                p = q, s++;
            }
            break;
        }
        case '\\':
            if (p[1]) p++;
            /* fall through */
        default:
            if (*p != *s) return 0;
            p++, s++;
        }
    }
}

int hone_io_glob_match(const char *pattern, const char *path) {
    if (!pattern || !path) return 0;
    if (!strchr(pattern, '/')) {
        const char *base = strrchr(path, '/');
        return match(pattern, base ? base + 1 : path);
    }
    while (*pattern == '/') pattern++;
    return match(pattern, path);
}
