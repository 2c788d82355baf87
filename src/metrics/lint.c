/* lint.c - checks of a Prometheus text (0.0.4) or OpenMetrics 1.0 exposition
 * for what promtool lets through, and the conversion of the first into the
 * second. */
#include "hone/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum ftype { T_UNTYPED, T_COUNTER, T_GAUGE, T_HISTOGRAM, T_SUMMARY, T_UNKNOWN, T_GAUGEHIST, T_STATESET, T_INFO };
static const char *const ftype_name[] = {"untyped", "counter", "gauge", "histogram", "summary",
                                         "unknown", "gaugehistogram", "stateset", "info"};

/* One histogram series: its labels without le, and what its buckets said. */
typedef struct group {
    char *key;
    size_t line;
    double last_le, last_cum, inf_count, count;
    int have_bucket, have_inf, have_count;
} group;

typedef struct fam {
    char *name;
    enum ftype type;
    int has_help, has_type, has_samples;
} fam;

/* A series as seen: name plus its labels sorted, and where. */
typedef struct seen {
    char *key;
    size_t line;
} seen;

typedef struct lint {
    int om;
    hone_error *err;
    size_t line;
    fam *fams;
    size_t nfams, capfams;
    fam *cur;
    group *groups;
    size_t ngroups, capgroups;
    seen *seen;
    size_t nseen, capseen;
    char shown[128]; /* the current sample as written, for messages */
} lint;

static int grow(void **p, size_t *cap, size_t n, size_t size) {
    if (n < *cap) return 0;
    size_t c = *cap ? 2 * *cap : 16;
    void *q = realloc(*p, c * size);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static int oom(lint *l) { return hone_error_set(l->err, HONE_ENOMEM, "out of memory checking the exposition"); }

#define BAD(l, ...) hone_error_set((l)->err, HONE_ECORRUPT, __VA_ARGS__)

static int name_start(char c, int colon) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}
static int name_char(char c, int colon) { return name_start(c, colon) || (c >= '0' && c <= '9'); }

/* Length of the name at s (0: none). */
static size_t name_len(const char *s, const char *end, int colon) {
    size_t n = 0;
    if (s < end && name_start(*s, colon))
        for (n = 1; s + n < end && name_char(s[n], colon); n++) {
        }
    return n;
}

static int ends_with(const char *s, size_t n, const char *suffix) {
    size_t k = strlen(suffix);
    return n >= k && !memcmp(s + n - k, suffix, k);
}

/* Does sample name s belong to family f? */
static int belongs(const lint *l, const fam *f, const char *s, size_t n) {
    size_t fn = strlen(f->name);
    if (n < fn || memcmp(s, f->name, fn)) return 0;
    const char *suf = s + fn;
    size_t sn = n - fn;
#define IS(x) (sn == sizeof(x) - 1 && !memcmp(suf, x, sn))
    switch (f->type) {
    case T_COUNTER: return l->om ? IS("_total") || IS("_created") : IS("");
    case T_HISTOGRAM: return IS("_bucket") || IS("_sum") || IS("_count") || (l->om && IS("_created"));
    case T_SUMMARY: return IS("") || IS("_sum") || IS("_count") || (l->om && IS("_created"));
    case T_GAUGEHIST: return IS("_bucket") || IS("_gsum") || IS("_gcount");
    case T_INFO: return IS("_info");
    default: return IS("");
    }
#undef IS
}

/* The checks of a histogram family that can only be made at its end. */
static int finish_family(lint *l) {
    int rc = HONE_OK;
    for (size_t i = 0; i < l->ngroups; i++) {
        group *g = &l->groups[i];
        if (!rc && l->cur && l->cur->type == T_HISTOGRAM) {
            if (!g->have_inf)
                rc = BAD(l, "line %zu: %s{%s}: histogram without a +Inf bucket", g->line, l->cur->name, g->key);
            else if (g->have_count && g->count != g->inf_count)
                rc = BAD(l, "line %zu: %s_count{%s}: %.17g not equal to the +Inf bucket's %.17g", g->line,
                         l->cur->name, g->key, g->count, g->inf_count);
        }
        free(g->key);
    }
    l->ngroups = 0;
    return rc;
}

static fam *find_fam(lint *l, const char *s, size_t n) {
    for (size_t i = 0; i < l->nfams; i++)
        if (strlen(l->fams[i].name) == n && !memcmp(l->fams[i].name, s, n)) return &l->fams[i];
    return NULL;
}

static fam *add_fam(lint *l, const char *s, size_t n, enum ftype t) {
    if (grow((void **)&l->fams, &l->capfams, l->nfams, sizeof *l->fams)) return NULL;
    char *name = dup_n(s, n);
    if (!name) return NULL;
    /* l->cur may point into the array that grew: keep it as an index. */
    l->fams[l->nfams] = (fam){.name = name, .type = t};
    return &l->fams[l->nfams++];
}

/* Makes f the current family, finishing the previous one. */
static int enter(lint *l, fam *f) {
    if (l->cur == f) return HONE_OK;
    int rc = finish_family(l);
    l->cur = f;
    return rc;
}

/* Checks text[0..n) for escapes: valid ones are \\, \n and (quoted or
 * OpenMetrics) \". */
static const char *bad_escape(const char *s, size_t n, int dq) {
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\\') {
            if (i + 1 == n) return "a backslash at the end";
            char c = s[++i];
            if (c != '\\' && c != 'n' && !(dq && c == '"')) return "an invalid escape sequence";
        }
    return NULL;
}

static int comment(lint *l, const char *p, const char *end) {
    int help = end - p >= 7 && !memcmp(p, "# HELP ", 7), type = end - p >= 7 && !memcmp(p, "# TYPE ", 7);
    if (l->om && end - p >= 7 && !memcmp(p, "# UNIT ", 7)) return HONE_OK;
    if (!help && !type) {
        if (l->om) return BAD(l, "line %zu: only # HELP, # TYPE, # UNIT and # EOF comments are OpenMetrics", l->line);
        return HONE_OK; /* a plain comment */
    }
    p += 7;
    size_t nn = name_len(p, end, 1);
    if (!nn || (p + nn < end && p[nn] != ' '))
        return BAD(l, "line %zu: # %s: malformed metric name", l->line, help ? "HELP" : "TYPE");
    const char *name = p, *rest = p + nn < end ? p + nn + 1 : end;
    fam *f = find_fam(l, name, nn);
    if (f && f->has_samples && f != l->cur)
        return BAD(l, "line %zu: %.*s: # %s after the family's samples, which are not contiguous", l->line,
                   (int)nn, name, help ? "HELP" : "TYPE");
    if (f && f->has_samples) return BAD(l, "line %zu: %.*s: # %s after its samples", l->line, (int)nn, name, help ? "HELP" : "TYPE");
    if (f && (help ? f->has_help : f->has_type))
        return BAD(l, "line %zu: %.*s: # %s repeated", l->line, (int)nn, name, help ? "HELP" : "TYPE");
    enum ftype t = T_UNTYPED;
    if (type) {
        size_t tn = (size_t)(end - rest);
        int found = 0;
        for (int i = 0; i < (int)(sizeof ftype_name / sizeof *ftype_name) && !found; i++)
            if (strlen(ftype_name[i]) == tn && !memcmp(rest, ftype_name[i], tn)) {
                t = (enum ftype)i;
                found = 1;
            }
        if (!found || (!l->om && t > T_SUMMARY) || (l->om && t == T_UNTYPED))
            return BAD(l, "line %zu: %.*s: type '%.*s' is not %s", l->line, (int)nn, name, (int)tn, rest,
                       l->om ? "an OpenMetrics type (untyped is 'unknown' there)"
                             : "counter, gauge, histogram, summary or untyped");
        if (l->om && t == T_COUNTER && ends_with(name, nn, "_total"))
            return BAD(l, "line %zu: %.*s: an OpenMetrics counter's TYPE names the family, without _total", l->line,
                       (int)nn, name);
    } else {
        const char *why = bad_escape(rest, (size_t)(end - rest), l->om);
        if (why) return BAD(l, "line %zu: %.*s: HELP text has %s", l->line, (int)nn, name, why);
    }
    if (f && type) {
        if (f->type != T_UNTYPED && f->type != t) return BAD(l, "line %zu: %.*s: # TYPE repeated", l->line, (int)nn, name);
        f->type = t;
    }
    if (!f) {
        size_t cur = l->cur ? (size_t)(l->cur - l->fams) : 0;
        int had = l->cur != NULL;
        f = add_fam(l, name, nn, t);
        if (!f) return oom(l);
        if (had) l->cur = &l->fams[cur];
    }
    if (help) f->has_help = 1;
    else f->has_type = 1;
    return enter(l, f);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int parse_value(const char *s, size_t n, double *v) {
    char tmp[64];
    if (!n || n >= sizeof tmp) return -1;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    if (!strcmp(tmp, "+Inf") || !strcmp(tmp, "Inf")) return *v = INFINITY, 0;
    if (!strcmp(tmp, "-Inf")) return *v = -INFINITY, 0;
    if (!strcmp(tmp, "NaN")) return *v = NAN, 0;
    if (strpbrk(tmp, "iInNxX_")) return -1; /* no inf/nan spellings, hex or underscores */
    char *e;
    *v = strtod(tmp, &e);
    return *e ? -1 : 0;
}

static int sample(lint *l, const char *p, const char *end) {
    const char *line0 = p;
    size_t nn = name_len(p, end, 1);
    if (!nn) return BAD(l, "line %zu: malformed metric name", l->line);
    const char *name = p;
    p += nn;
    /* Labels, kept as name=value strings (raw, escapes checked). */
    const char *lab[64][2];
    size_t labn[64][2], nl = 0;
    const char *le = NULL;
    size_t le_n = 0;
    if (p < end && *p == '{') {
        p++;
        while (p < end && *p != '}') {
            size_t ln = name_len(p, end, 0);
            if (!ln) return BAD(l, "line %zu: %.*s: malformed label name", l->line, (int)nn, name);
            const char *lname = p;
            p += ln;
            if (p + 1 >= end || p[0] != '=' || p[1] != '"')
                return BAD(l, "line %zu: %.*s: label %.*s: expected =\"value\"", l->line, (int)nn, name, (int)ln, lname);
            p += 2;
            const char *v = p;
            while (p < end && *p != '"') p += *p == '\\' && p + 1 < end ? 2 : 1;
            if (p >= end) return BAD(l, "line %zu: %.*s: unterminated label value", l->line, (int)nn, name);
            const char *why = bad_escape(v, (size_t)(p - v), 1);
            if (why) return BAD(l, "line %zu: %.*s: label %.*s has %s", l->line, (int)nn, name, (int)ln, lname, why);
            if (nl == 64) return BAD(l, "line %zu: %.*s: more than 64 labels", l->line, (int)nn, name);
            for (size_t i = 0; i < nl; i++)
                if (labn[i][0] == ln && !memcmp(lab[i][0], lname, ln))
                    return BAD(l, "line %zu: %.*s: label %.*s repeated", l->line, (int)nn, name, (int)ln, lname);
            lab[nl][0] = lname;
            labn[nl][0] = ln;
            lab[nl][1] = v;
            labn[nl][1] = (size_t)(p - v);
            if (ln == 2 && !memcmp(lname, "le", 2)) le = v, le_n = (size_t)(p - v);
            nl++;
            p++; /* the closing quote */
            if (p < end && *p == ',') p++;
            else if (p < end && *p != '}')
                return BAD(l, "line %zu: %.*s: expected , or } after a label", l->line, (int)nn, name);
        }
        if (p >= end) return BAD(l, "line %zu: %.*s: unterminated label set", l->line, (int)nn, name);
        p++;
    }
    snprintf(l->shown, sizeof l->shown, "%.*s", (int)(p - line0), line0);
    if (p >= end || *p != ' ') return BAD(l, "line %zu: %s: expected a space and a value", l->line, l->shown);
    while (p < end && *p == ' ' && !l->om) p++;
    if (l->om) p++;
    const char *v = p;
    while (p < end && *p != ' ') p++;
    double val;
    if (parse_value(v, (size_t)(p - v), &val))
        return BAD(l, "line %zu: %s: malformed value '%.*s'", l->line, l->shown, (int)(p - v), v);
    if (p < end) {
        p++;
        const char *t = p;
        while (p < end && *p != ' ') p++;
        double ts;
        int ok = t < p && (l->om ? !parse_value(t, (size_t)(p - t), &ts) : (strspn(t, "-0123456789") >= (size_t)(p - t)));
        if (!(l->om && t < p && *t == '#') && !ok)
            return BAD(l, "line %zu: %s: malformed timestamp '%.*s'", l->line, l->shown, (int)(p - t), t);
        if (p < end && !(l->om && p + 1 < end && p[1] == '#'))
            return BAD(l, "line %zu: %s: unexpected text after the timestamp", l->line, l->shown);
    }

    /* Its family. */
    fam *f = l->cur && belongs(l, l->cur, name, nn) ? l->cur : NULL;
    if (!f) {
        for (size_t i = 0; i < l->nfams && !f; i++)
            if (belongs(l, &l->fams[i], name, nn)) f = &l->fams[i];
        if (f && f->has_samples)
            return BAD(l, "line %zu: %s: the samples of family %s are not contiguous", l->line, l->shown, f->name);
        fam *same = f ? NULL : find_fam(l, name, nn);
        if (l->om && same && same->type == T_COUNTER)
            return BAD(l, "line %zu: %s: OpenMetrics counter samples are named %s_total", l->line, l->shown, same->name);
        if (!f && same) f = same; /* a family declared under this name and type */
        if (!f) {
            size_t cur = l->cur ? (size_t)(l->cur - l->fams) : 0;
            int had = l->cur != NULL;
            f = add_fam(l, name, nn, l->om ? T_UNKNOWN : T_UNTYPED);
            if (!f) return oom(l);
            if (had) l->cur = &l->fams[cur];
        }
        int rc = enter(l, f);
        if (rc) return rc;
    }
    if (l->om && f->type == T_COUNTER && !ends_with(name, nn, "_total") && !ends_with(name, nn, "_created"))
        return BAD(l, "line %zu: %s: OpenMetrics counter samples are named %s_total", l->line, l->shown, f->name);
    f->has_samples = 1;

    /* Duplicates: name and labels sorted by name. */
    char *pairs[64];
    size_t total = nn + 3;
    for (size_t i = 0; i < nl; i++) total += labn[i][0] + labn[i][1] + 4;
    for (size_t i = 0; i < nl; i++) {
        pairs[i] = malloc(labn[i][0] + labn[i][1] + 4);
        if (!pairs[i]) {
            while (i--) free(pairs[i]);
            return oom(l);
        }
        sprintf(pairs[i], "%.*s=\"%.*s\"", (int)labn[i][0], lab[i][0], (int)labn[i][1], lab[i][1]);
    }
    qsort(pairs, nl, sizeof *pairs, cmp_str);
    char *key = malloc(total), *gkey = malloc(total);
    int rc = HONE_OK;
    if (!key || !gkey || grow((void **)&l->seen, &l->capseen, l->nseen, sizeof *l->seen)) {
        rc = oom(l);
    } else {
        size_t k = (size_t)sprintf(key, "%.*s{", (int)nn, name), g = 0;
        gkey[0] = 0;
        for (size_t i = 0; i < nl; i++) {
            k += (size_t)sprintf(key + k, "%s%s", i ? "," : "", pairs[i]);
            if (strncmp(pairs[i], "le=\"", 4)) g += (size_t)sprintf(gkey + g, "%s%s", g ? "," : "", pairs[i]);
        }
        strcpy(key + k, "}");
        l->seen[l->nseen++] = (seen){key, l->line};
        key = NULL;
    }
    for (size_t i = 0; i < nl; i++) free(pairs[i]);
    free(key);
    if (rc) {
        free(gkey);
        return rc;
    }

    /* Histogram buckets and counts. */
    if (f->type == T_HISTOGRAM) {
        size_t fn = strlen(f->name);
        const char *suf = name + fn;
        size_t sn = nn - fn;
        int bucket = sn == 7 && !memcmp(suf, "_bucket", 7), count = sn == 6 && !memcmp(suf, "_count", 6);
        group *g = NULL;
        if (bucket || count) {
            for (size_t i = 0; i < l->ngroups && !g; i++)
                if (!strcmp(l->groups[i].key, gkey)) g = &l->groups[i];
            if (!g) {
                if (grow((void **)&l->groups, &l->capgroups, l->ngroups, sizeof *l->groups)) {
                    free(gkey);
                    return oom(l);
                }
                g = &l->groups[l->ngroups++];
                *g = (group){.key = gkey, .line = l->line, .last_le = -INFINITY};
                gkey = NULL;
            }
        }
        free(gkey);
        if (bucket) {
            double lev;
            if (!le) return BAD(l, "line %zu: %s: a histogram bucket without an le label", l->line, l->shown);
            if (parse_value(le, le_n, &lev) || isnan(lev))
                return BAD(l, "line %zu: %s: le \"%.*s\" is not a number", l->line, l->shown, (int)le_n, le);
            if (g->have_inf || lev <= g->last_le)
                return BAD(l, "line %zu: %s: le %.*s not above the previous bucket's %.17g", l->line, l->shown,
                           (int)le_n, le, g->last_le);
            if (g->have_bucket && val < g->last_cum)
                return BAD(l, "line %zu: %s: cumulative count %.17g below the previous bucket's %.17g", l->line,
                           l->shown, val, g->last_cum);
            g->have_bucket = 1;
            g->last_le = lev;
            g->last_cum = val;
            if (isinf(lev)) g->have_inf = 1, g->inf_count = val;
        } else if (count) {
            g->have_count = 1;
            g->count = val;
        }
    } else {
        free(gkey);
    }
    return HONE_OK;
}

int hone_metrics_lint(const char *text, size_t len, int openmetrics, hone_error *err) {
    if (!text && len) return hone_error_set(err, HONE_EINVAL, "no text");
    lint l = {.om = openmetrics != 0, .err = err};
    int rc = HONE_OK, eof = 0;
    const char *p = text, *end = text + len;
    while (p < end && !rc) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
        l.line++;
        if (eof) {
            rc = BAD(&l, "line %zu: text after # EOF", l.line);
        } else if (le == p) {
            if (l.om) rc = BAD(&l, "line %zu: an empty line (OpenMetrics has none)", l.line);
        } else if (l.om && le - p == 5 && !memcmp(p, "# EOF", 5)) {
            eof = 1;
        } else if (*p == '#') {
            rc = comment(&l, p, le);
        } else {
            rc = sample(&l, p, le);
        }
        p = nl ? nl + 1 : end;
    }
    if (!rc) rc = finish_family(&l);
    if (!rc && l.om && !eof) rc = BAD(&l, "line %zu: an OpenMetrics exposition ends with # EOF", l.line);
    if (!rc && l.nseen > 1) {
        /* Duplicates: sort the keys, keeping the line of each. */
        char **keys = malloc(l.nseen * sizeof *keys);
        if (!keys) {
            rc = oom(&l);
        } else {
            for (size_t i = 0; i < l.nseen; i++) keys[i] = l.seen[i].key;
            qsort(keys, l.nseen, sizeof *keys, cmp_str);
            for (size_t i = 1; i < l.nseen && !rc; i++)
                if (!strcmp(keys[i], keys[i - 1])) {
                    size_t first = 0, second = 0;
                    for (size_t k = 0; k < l.nseen; k++)
                        if (!strcmp(l.seen[k].key, keys[i])) {
                            if (!first) first = l.seen[k].line;
                            else if (!second) second = l.seen[k].line;
                        }
                    rc = BAD(&l, "line %zu: %s: duplicate series (first on line %zu)", second, keys[i], first);
                }
            free(keys);
        }
    }
    for (size_t i = 0; i < l.ngroups; i++) free(l.groups[i].key);
    free(l.groups);
    for (size_t i = 0; i < l.nfams; i++) free(l.fams[i].name);
    free(l.fams);
    for (size_t i = 0; i < l.nseen; i++) free(l.seen[i].key);
    free(l.seen);
    return rc;
}

/* ---- Prometheus text to OpenMetrics -------------------------------- */

int hone_metrics_openmetrics(const char *text, size_t len, hone_buf *out) {
    if ((!text && len) || !out) return HONE_EINVAL;
    size_t len0 = out->len;
    /* First pass: each counter's name, to rename its HELP too. */
    int rc = hone_buf_reserve(out, len + len / 16 + 16);
    const char *end = text + len;
    for (const char *p = text; p < end && !rc;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
        size_t n = (size_t)(le - p);
        if (n > 7 && (!memcmp(p, "# HELP ", 7) || !memcmp(p, "# TYPE ", 7))) {
            int help = p[2] == 'H';
            const char *name = p + 7;
            size_t nn = name_len(name, le, 1);
            const char *rest = name + nn < le ? name + nn + 1 : le;
            size_t rn = (size_t)(le - rest);
            /* The family's type, from its TYPE line (before or after). */
            int counter = 0, untyped = 0;
            char want[300];
            if (nn + 8 < sizeof want) {
                snprintf(want, sizeof want, "# TYPE %.*s ", (int)nn, name);
                const char *t = help ? NULL : p;
                if (help)
                    for (const char *q = text; q < end && !t;) {
                        const char *qn = memchr(q, '\n', (size_t)(end - q));
                        if (!strncmp(q, want, strlen(want)) && (size_t)((qn ? qn : end) - q) > strlen(want)) t = q;
                        q = qn ? qn + 1 : end;
                    }
                if (t) {
                    const char *tt = t + 7 + nn + 1, *te = memchr(t, '\n', (size_t)(end - t));
                    if (!te) te = end;
                    counter = te - tt == 7 && !memcmp(tt, "counter", 7);
                    untyped = te - tt == 7 && !memcmp(tt, "untyped", 7);
                }
            }
            int total = counter && ends_with(name, nn, "_total");
            size_t fn = total ? nn - 6 : nn;
            rc |= hone_buf_append(out, p, 7);
            rc |= hone_buf_append(out, name, fn);
            rc |= hone_buf_append(out, " ", 1);
            if (help) {
                /* OpenMetrics escapes the double quote in HELP text too. */
                for (size_t i = 0; i < rn && !rc; i++) {
                    if (rest[i] == '\\' && i + 1 < rn) {
                        rc |= hone_buf_append(out, rest + i, 2);
                        i++;
                    } else if (rest[i] == '"') {
                        rc |= hone_buf_append(out, "\\\"", 2);
                    } else {
                        rc |= hone_buf_append(out, rest + i, 1);
                    }
                }
            } else if (untyped || (counter && !total)) {
                rc |= hone_buf_puts(out, "unknown");
            } else {
                rc |= hone_buf_append(out, rest, rn);
            }
            rc |= hone_buf_append(out, "\n", 1);
        } else if (n && *p != '#') {
            /* A sample: unchanged, but for a timestamp (ms there, seconds here). */
            const char *q = p;
            while (q < le && *q != '{' && *q != ' ') q++;
            if (q < le && *q == '{')
                for (int inq = 0; q < le && (inq || *q != '}'); q++) {
                    if (inq && *q == '\\') q++;
                    else if (*q == '"') inq = !inq;
                }
            const char *sp = memchr(q, ' ', (size_t)(le - q));
            const char *v = sp;
            while (v && v < le && *v == ' ') v++;
            const char *ve = v ? memchr(v, ' ', (size_t)(le - v)) : NULL;
            if (!sp) {
                rc |= hone_buf_append(out, p, n);
            } else {
                rc |= hone_buf_append(out, p, (size_t)(sp - p));
                rc |= hone_buf_append(out, " ", 1);
                rc |= hone_buf_append(out, v, (size_t)((ve ? ve : le) - v));
                if (ve) {
                    const char *t = ve;
                    while (t < le && *t == ' ') t++;
                    char *e;
                    long long ms = strtoll(t, &e, 10);
                    if (e == le && e > t) {
                        long long s = ms / 1000, f = ms % 1000;
                        if (f < 0) f += 1000, s--;
                        rc |= hone_buf_printf(out, " %lld.%03lld", s, f);
                    } else {
                        rc |= hone_buf_append(out, ve, (size_t)(le - ve));
                    }
                }
            }
            rc |= hone_buf_append(out, "\n", 1);
        }
        /* Other comments and empty lines have no place in OpenMetrics. */
        p = nl ? nl + 1 : end;
    }
    rc |= hone_buf_puts(out, "# EOF\n");
    if (rc) {
        out->len = len0;
        if (out->data) out->data[len0] = 0;
        return HONE_ENOMEM;
    }
    return HONE_OK;
}
