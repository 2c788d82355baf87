/* glob.c - the gitignore-style glob dialect of include/exclude lists:
 * `*`, `?`, brackets, escapes, and `**` spanning path segments. */
#include "hone/io.h"

#include <stdint.h>
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

/* The matcher proper, as a set of pattern positions advanced one path byte
 * at a time (Thompson's simulation of the pattern as an automaton): O(path
 * length x pattern length) however many stars, where trying each way a
 * star could match took exponential time (a 60-byte name against
 * `*a*a*a*a*a*a*a*b` took 15 s). A state is the offset of a token of the
 * pattern; the transitions are exactly the dialect's:
 *   `*`          stays on any byte but '/'; may also skip itself;
 *   `**` + '/'   skips itself (zero segments), or enters its skipping
 *                state (a second set), which stays on any byte and goes
 *                past the token on a '/' (whole segments);
 *   `**` at end  matches all that is left;
 *   `**` + x     stays on any byte ('/' too); may also skip itself;
 *   `?`, `[..]`  one byte but '/'; a malformed '[' is a literal '[';
 *   `\x`         the byte x; anything else itself.
 * Skips (moves without a byte) always go forward, so one sweep in order
 * closes a set over them. */

/* Where the token at p ends, and what kind it is. */
enum { T_END, T_STAR, T_SEGS, T_ALL, T_CROSS, T_ONE, T_CLASS, T_LIT };

static int token(const char *p, size_t *next, size_t *skip) {
    *skip = 0;
    switch (*p) {
    case '\0': return T_END;
    case '*': {
        if (p[1] != '*') {
            *next = 1, *skip = 1;
            return T_STAR;
        }
        size_t q = 0;
        while (p[q] == '*') q++;
        if (p[q] == '\0') return T_ALL;
        if (p[q] == '/') {
            *next = q + 1, *skip = q + 1;
            return T_SEGS;
        }
        *next = q, *skip = q;
        return T_CROSS;
    }
    case '?': *next = 1; return T_ONE;
    case '[': *next = 1; return T_CLASS;
    case '\\': *next = p[1] ? 2 : 1; return T_LIT;
    default: *next = 1; return T_LIT;
    }
}

#define MAX_STATES 4096 /* longer patterns fall back to the backtracking matcher */

static int match_slow(const char *p, const char *s) {
    for (;;) {
        switch (*p) {
        case '\0': return *s == '\0';
        case '*':
            if (p[1] == '*') {
                const char *q = p;
                while (*q == '*') q++;
                if (*q == '\0') return 1;
                if (*q == '/') {
                    if (match_slow(q + 1, s)) return 1;
                    for (const char *t = s; *t; t++)
                        if (*t == '/' && match_slow(q + 1, t + 1)) return 1;
                    return 0;
                }
                for (const char *t = s;; t++) {
                    if (match_slow(q, t)) return 1;
                    if (!*t) return 0;
                }
            }
            p++;
            for (const char *t = s;; t++) {
                if (match_slow(p, t)) return 1;
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

typedef uint64_t word;
#define WBITS 64
#define SET(b, i) ((b)[(i) / WBITS] |= (word)1 << ((i) % WBITS))
#define HAS(b, i) (((b)[(i) / WBITS] >> ((i) % WBITS)) & 1)

/* Adds every state reachable by skips (and the skipping state of each
 * double star before a '/' reached); returns 1 if the set can match
 * whatever follows (a trailing `**` is in it). */
static int closure(const char *p, size_t m, word *set, word *segs) {
    for (size_t i = 0; i <= m; i++) {
        if (!HAS(set, i)) continue;
        size_t next, skip;
        int t = token(p + i, &next, &skip);
        if (t == T_ALL) return 1;
        if (t == T_SEGS) SET(segs, i);
        if (skip) SET(set, i + skip);
    }
    return 0;
}

static int match(const char *p, const char *s) {
    size_t m = strlen(p);
    if (m >= MAX_STATES) return match_slow(p, s);
    word a[MAX_STATES / WBITS], b[MAX_STATES / WBITS];
    word sa[MAX_STATES / WBITS], sb[MAX_STATES / WBITS];
    size_t nw = m / WBITS + 1;
    word *cur = a, *nxt = b, *scur = sa, *snxt = sb;
    memset(cur, 0, nw * sizeof *cur);
    memset(scur, 0, nw * sizeof *scur);
    SET(cur, 0);
    if (closure(p, m, cur, scur)) return 1;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        memset(nxt, 0, nw * sizeof *nxt);
        memset(snxt, 0, nw * sizeof *snxt);
        int any = 0;
        for (size_t i = 0; i < m; i++) {
            size_t next = 0, skip = 0;
            const char *q = p + i;
            if (HAS(scur, i)) {
                /* Skipping whole segments: stay, and past the token on '/'. */
                token(q, &next, &skip);
                SET(snxt, i), any = 1;
                if (c == '/') SET(nxt, i + next);
            }
            if (!HAS(cur, i)) continue;
            switch (token(q, &next, &skip)) {
            case T_STAR:
                if (c != '/') SET(nxt, i), any = 1;
                break;
            case T_CROSS: SET(nxt, i), any = 1; break;
            case T_ONE:
                if (c != '/') SET(nxt, i + 1), any = 1;
                break;
            case T_CLASS: {
                if (c == '/') break;
                const char *e = q;
                int r = match_bracket(&e, c);
                if (r < 0 ? c == '[' : r) SET(nxt, r < 0 ? i + 1 : (size_t)(e - p)), any = 1;
                break;
            }
            case T_LIT:
                if ((unsigned char)q[next - 1] == c) SET(nxt, i + next), any = 1;
                break;
            default: break;
            }
        }
        if (!any) return 0;
        if (closure(p, m, nxt, snxt)) return 1;
        word *t = cur;
        cur = nxt, nxt = t;
        t = scur;
        scur = snxt, snxt = t;
    }
    return HAS(cur, m) ? 1 : 0;
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
