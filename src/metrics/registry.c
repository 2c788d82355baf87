/* registry.c - counters, gauges and histograms with labels, updated
 * lock-free from any thread, and their Prometheus text exposition. */
#include "hone/metrics.h"
#include "metrics/metrics_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Values are doubles kept in 64-bit words so that they can be updated
 * with atomic compare-and-swap. */
struct hone_metric {
    struct family *fam;
    char **label_values; /* fam->n_labels */
    /* The label pairs as exposed, escaped once at registration:
     * a="x",b="y" (empty without labels). */
    char *lbl;
    size_t lbl_len;
    uint64_t bits;       /* counter/gauge value, histogram sum */
    uint64_t *buckets;   /* histogram: n_buckets + 1 non-cumulative counts (+Inf last) */
};

typedef struct family {
    char *name, *help;
    hone_metric_type type;
    size_t n_labels;
    char **label_names;
    double *bounds; /* histogram upper bounds */
    size_t n_bounds;
    hone_metric **series;
    size_t n_series, cap_series;
    /* Made once at registration: the # HELP and # TYPE lines, and each
     * bucket's le value (n_bounds + 1, "+Inf" last). */
    char *head;
    size_t head_len, name_len;
    char **le;
} family;

struct hone_metrics {
    const hone_allocator *alloc;
    pthread_mutex_t lock;
    family **fams;
    size_t n_fams, cap_fams;
    hone_process_stats last; /* for hone_process_cpu_percent between updates */
    int have_last;
    size_t hint;     /* the family found last: lookups come in the same order each scrape */
    size_t last_len; /* bytes of the last exposition, reserved up front next time */
};

static double bits_to_d(uint64_t b) {
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}
static uint64_t d_to_bits(double d) {
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

int hone_metrics_new(hone_metrics **out, const hone_metrics_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    const hone_allocator *a = opts ? opts->alloc : NULL;
    hone_metrics *m = hone_calloc(a, 1, sizeof *m);
    if (!m) return HONE_ENOMEM;
    m->alloc = a;
    pthread_mutex_init(&m->lock, NULL);
    *out = m;
    return HONE_OK;
}

static void series_free(const hone_allocator *a, hone_metric *s, size_t n_labels) {
    if (!s) return;
    if (s->label_values)
        for (size_t i = 0; i < n_labels; i++) hone_free(a, s->label_values[i]);
    hone_free(a, s->label_values);
    hone_free(a, s->lbl);
    hone_free(a, s->buckets);
    hone_free(a, s);
}

static void family_free(const hone_allocator *a, family *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_series; i++) series_free(a, f->series[i], f->n_labels);
    if (f->label_names)
        for (size_t i = 0; i < f->n_labels; i++) hone_free(a, f->label_names[i]);
    hone_free(a, f->label_names);
    hone_free(a, f->series);
    hone_free(a, f->bounds);
    if (f->le)
        for (size_t i = 0; i <= f->n_bounds; i++) hone_free(a, f->le[i]);
    hone_free(a, f->le);
    hone_free(a, f->head);
    hone_free(a, f->name);
    hone_free(a, f->help);
    hone_free(a, f);
}

void hone_metrics_free(hone_metrics *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_fams; i++) family_free(m->alloc, m->fams[i]);
    hone_free(m->alloc, m->fams);
    pthread_mutex_destroy(&m->lock);
    hone_free(m->alloc, m);
}

static hone_metrics *g_default;
static pthread_once_t g_default_once = PTHREAD_ONCE_INIT;
static void default_init(void) {
    /* The default registry lives until exit: it keeps the allocator that
     * was the default when it was made, not whatever is default later. */
    hone_allocator *copy = malloc(sizeof *copy);
    if (!copy) return;
    *copy = *hone_allocator_default();
    if (hone_metrics_new(&g_default, &(hone_metrics_opts){copy})) free(copy);
}
hone_metrics *hone_metrics_default(void) {
    pthread_once(&g_default_once, default_init);
    return g_default;
}

static int valid_name(const char *s, int colon) {
    if (!s || !*s) return 0;
    for (const char *p = s; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || (colon && *p == ':') ||
                 (p != s && *p >= '0' && *p <= '9');
        if (!ok) return 0;
    }
    return 1;
}

static const double default_bounds[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

static int check_labels(const char *const *labels, size_t *n, hone_metric_type type, hone_error *err) {
    size_t k = 0;
    for (; labels && labels[k]; k += 2) {
        if (!labels[k + 1])
            return hone_error_set(err, HONE_EINVAL, "label '%s' has no value (labels come in name, value pairs)",
                                  labels[k]);
        if (!valid_name(labels[k], 0) || !strncmp(labels[k], "__", 2))
            return hone_error_set(err, HONE_EINVAL,
                                  "label name '%s': expected [a-zA-Z_][a-zA-Z0-9_]* not starting with __",
                                  labels[k]);
        if (type == HONE_METRIC_HISTOGRAM && !strcmp(labels[k], "le"))
            return hone_error_set(err, HONE_EINVAL, "label name 'le' is reserved for histogram buckets");
        for (size_t j = 0; j < k; j += 2)
            if (!strcmp(labels[j], labels[k]))
                return hone_error_set(err, HONE_EINVAL, "label name '%s' appears twice", labels[k]);
    }
    *n = k / 2;
    return HONE_OK;
}

/* ---- number and text formatting ------------------------------------ */

/* Decimal digits of v into p (no NUL); returns the count (1..20). */
static size_t fmt_u64(char *p, uint64_t v) {
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) p[i] = tmp[n - 1 - i];
    return n;
}

static const double pow10_tab[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
                                   1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

/* A sample value as Prometheus reads it, into p (at least 32 bytes, no
 * NUL); returns the length. The text always reads back as exactly v:
 * - NaN, +Inf, -Inf;
 * - an integral value below 1e15 in magnitude as an integer (as %.15g);
 * - else, when some k <= 15 makes m = v * 10^k an integer below 2^53 with
 *   m / 10^k == v, the decimal m * 10^-k with the smallest such k. Both m
 *   and 10^k are exact doubles, so the division, correctly rounded, is the
 *   double nearest that decimal: what strtod makes of the text;
 * - otherwise the shortest of %.15g and %.17g that reads back exactly. */
static size_t fmt_double(char *p, double v) {
    if (isnan(v)) return memcpy(p, "NaN", 3), 3;
    if (isinf(v)) return memcpy(p, v > 0 ? "+Inf" : "-Inf", 4), 4;
    double a = fabs(v);
    size_t n = 0;
    if (a < 1e15 && a == floor(a)) {
        if (signbit(v)) p[n++] = '-';
        return n + fmt_u64(p + n, (uint64_t)a);
    }
    if (a >= 1e-5 && a < 1e15) {
        for (int k = 1; k <= 15; k++) {
            double sc = a * pow10_tab[k];
            if (sc >= 9007199254740992.0) break;
            double m = nearbyint(sc);
            if (m / pow10_tab[k] != a) continue;
            uint64_t im = (uint64_t)m, ip = im, fr = 0, div = 1;
            for (int j = 0; j < k; j++) div *= 10;
            ip = im / div;
            fr = im % div;
            if (v < 0) p[n++] = '-';
            n += fmt_u64(p + n, ip);
            p[n++] = '.';
            char d[20];
            size_t dn = fmt_u64(d, fr);
            for (size_t z = dn; z < (size_t)k; z++) p[n++] = '0';
            memcpy(p + n, d, dn);
            return n + dn;
        }
    }
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v) snprintf(tmp, sizeof tmp, "%.17g", v);
    n = strlen(tmp);
    memcpy(p, tmp, n);
    return n;
}

/* Escapes s as a label value (quote nonzero) or HELP text: backslash and
 * newline, and the double quote in label values. */
static int put_escaped(hone_buf *b, const char *s, int quote) {
    int rc = 0;
    while (*s && !rc) {
        size_t run = 0;
        while (s[run] && s[run] != '\\' && s[run] != '\n' && !(quote && s[run] == '"')) run++;
        if (run) rc = hone_buf_append(b, s, run);
        s += run;
        if (!*s || rc) break;
        rc = hone_buf_append(b, *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : "\\\"", 2);
        s++;
    }
    return rc;
}

/* Moves a finished buffer's text into *out (NULL and HONE_ENOMEM when
 * building it failed). */
static int take(hone_buf *b, int rc, char **out, size_t *len) {
    if (rc) {
        hone_buf_free(b);
        return HONE_ENOMEM;
    }
    /* Empty text is an allocated "", so that NULL means out of memory. */
    if (!b->data && !(b->data = hone_calloc(b->alloc, 1, 1))) return HONE_ENOMEM;
    *out = b->data;
    *len = b->len;
    return HONE_OK;
}

static const char *const type_name[] = {"counter", "gauge", "histogram"};

/* The family's HELP and TYPE lines and its buckets' le values. */
static int family_text(const hone_allocator *a, family *f) {
    hone_buf b;
    hone_buf_init(&b, a);
    int rc = hone_buf_printf(&b, "# HELP %s ", f->name);
    rc |= put_escaped(&b, f->help, 0);
    rc |= hone_buf_printf(&b, "\n# TYPE %s %s\n", f->name, type_name[f->type]);
    if (take(&b, rc, &f->head, &f->head_len)) return HONE_ENOMEM;
    f->name_len = strlen(f->name);
    if (f->type != HONE_METRIC_HISTOGRAM) return HONE_OK;
    if (!(f->le = hone_calloc(a, f->n_bounds + 1, sizeof *f->le))) return HONE_ENOMEM;
    for (size_t j = 0; j <= f->n_bounds; j++) {
        char le[40];
        if (j == f->n_bounds) {
            snprintf(le, sizeof le, "+Inf");
        } else {
            snprintf(le, sizeof le, "%.15g", f->bounds[j]);
            if (strtod(le, NULL) != f->bounds[j]) snprintf(le, sizeof le, "%.17g", f->bounds[j]);
        }
        if (!(f->le[j] = hone_strdup(a, le))) return HONE_ENOMEM;
    }
    return HONE_OK;
}

/* The series' label pairs as exposed. */
static int series_text(const hone_allocator *a, const family *f, hone_metric *s) {
    hone_buf b;
    hone_buf_init(&b, a);
    int rc = 0;
    for (size_t i = 0; i < f->n_labels; i++) {
        if (i) rc |= hone_buf_append(&b, ",", 1);
        rc |= hone_buf_puts(&b, f->label_names[i]);
        rc |= hone_buf_append(&b, "=\"", 2);
        rc |= put_escaped(&b, s->label_values[i], 1);
        rc |= hone_buf_append(&b, "\"", 1);
    }
    return take(&b, rc, &s->lbl, &s->lbl_len);
}

/* Makes a family; NULL when out of memory. */
static family *family_new(const hone_allocator *a, const char *name, const char *help, hone_metric_type type,
                          const char *const *labels, size_t n_labels, const double *b, size_t nb) {
    family *f = hone_calloc(a, 1, sizeof *f);
    if (!f) return NULL;
    f->type = type;
    f->n_labels = n_labels;
    f->name = hone_strdup(a, name);
    f->help = hone_strdup(a, help);
    f->label_names = hone_calloc(a, n_labels ? n_labels : 1, sizeof *f->label_names);
    if (!f->name || !f->help || !f->label_names) goto oom;
    for (size_t i = 0; i < n_labels; i++)
        if (!(f->label_names[i] = hone_strdup(a, labels[2 * i]))) goto oom;
    if (type == HONE_METRIC_HISTOGRAM) {
        f->n_bounds = nb;
        if (!(f->bounds = hone_calloc(a, nb, sizeof *f->bounds))) goto oom;
        memcpy(f->bounds, b, nb * sizeof *b);
    }
    if (family_text(a, f)) goto oom;
    return f;
oom:
    family_free(a, f);
    return NULL;
}

static int get_series(hone_metrics *m, hone_metric_type type, const char *name, const char *help,
                      const double *b, size_t nb, const char *const *labels, hone_metric **out,
                      hone_error *err) {
    if (out) *out = NULL;
    if (!m || !out) return hone_error_set(err, HONE_EINVAL, "no registry or no place for the result");
    if (!valid_name(name, 1))
        return hone_error_set(err, HONE_EINVAL, "metric name '%s': expected [a-zA-Z_:][a-zA-Z0-9_:]*",
                              name ? name : "(null)");
    size_t n_labels = 0;
    int rc = check_labels(labels, &n_labels, type, err);
    if (rc) return rc;
    if (type == HONE_METRIC_HISTOGRAM) {
        if (!b || !nb) {
            b = default_bounds;
            nb = sizeof default_bounds / sizeof *default_bounds;
        }
        for (size_t i = 0; i < nb; i++)
            if (!isfinite(b[i]) || (i && b[i] <= b[i - 1]))
                return hone_error_set(err, HONE_EINVAL,
                                      "histogram '%s': bucket bounds must be finite and strictly ascending", name);
    }
    pthread_mutex_lock(&m->lock);
    family *f = NULL;
    /* Callers that refresh series before each scrape do so in the same
     * order every time: start at the family after the last one found. */
    for (size_t j = 0, n = m->n_fams; j < n && !f; j++) {
        size_t i = (m->hint + j) % n;
        if (!strcmp(m->fams[i]->name, name)) {
            f = m->fams[i];
            m->hint = i;
        }
    }
    if (f) {
        if (f->type != type) {
            rc = hone_error_set(err, HONE_EEXIST, "metric '%s' already exists as a %s", name, type_name[f->type]);
            goto out;
        }
        int same = f->n_labels == n_labels;
        for (size_t i = 0; same && i < n_labels; i++) same = !strcmp(f->label_names[i], labels[2 * i]);
        if (!same) {
            rc = hone_error_set(err, HONE_EINVAL, "metric '%s': label names differ from its first use", name);
            goto out;
        }
        if (type == HONE_METRIC_HISTOGRAM && b != default_bounds &&
            (nb != f->n_bounds || memcmp(b, f->bounds, nb * sizeof *b))) {
            rc = hone_error_set(err, HONE_EINVAL, "histogram '%s': buckets differ from its first use", name);
            goto out;
        }
        for (size_t i = 0; i < f->n_series; i++) {
            hone_metric *s = f->series[i];
            size_t k = 0;
            while (k < n_labels && !strcmp(s->label_values[k], labels[2 * k + 1])) k++;
            if (k == n_labels) {
                *out = s;
                goto out;
            }
        }
    } else {
        if (!help) {
            rc = hone_error_set(err, HONE_EINVAL, "metric '%s': help text is required on first use", name);
            goto out;
        }
        if (m->n_fams == m->cap_fams) {
            size_t cap = m->cap_fams ? 2 * m->cap_fams : 8;
            family **nf = hone_realloc(m->alloc, m->fams, cap * sizeof *nf);
            if (!nf) goto oom;
            m->fams = nf;
            m->cap_fams = cap;
        }
        f = family_new(m->alloc, name, help, type, labels, n_labels, b, nb);
        if (!f) goto oom;
        m->fams[m->n_fams++] = f;
    }
    if (f->n_series == f->cap_series) {
        size_t cap = f->cap_series ? 2 * f->cap_series : 4;
        hone_metric **ns = hone_realloc(m->alloc, f->series, cap * sizeof *ns);
        if (!ns) goto oom;
        f->series = ns;
        f->cap_series = cap;
    }
    hone_metric *s = hone_calloc(m->alloc, 1, sizeof *s);
    if (!s) goto oom;
    s->fam = f;
    s->label_values = hone_calloc(m->alloc, n_labels ? n_labels : 1, sizeof *s->label_values);
    if (!s->label_values) goto oom_series;
    for (size_t i = 0; i < n_labels; i++)
        if (!(s->label_values[i] = hone_strdup(m->alloc, labels[2 * i + 1]))) goto oom_series;
    if (series_text(m->alloc, f, s)) goto oom_series;
    if (type == HONE_METRIC_HISTOGRAM && !(s->buckets = hone_calloc(m->alloc, f->n_bounds + 1, sizeof(uint64_t))))
        goto oom_series;
    s->bits = d_to_bits(0.0);
    f->series[f->n_series++] = s;
    *out = s;
    goto out;
oom_series:
    series_free(m->alloc, s, n_labels);
oom:
    /* A family made by this call with no series is harmless: it exposes
     * only its HELP and TYPE lines until a later call adds a series. */
    rc = hone_error_set(err, HONE_ENOMEM, "out of memory registering metric '%s'", name);
out:
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int hone__metrics_last_process(hone_metrics *m, const hone_process_stats *cur, hone_process_stats *prev) {
    pthread_mutex_lock(&m->lock);
    int had = m->have_last;
    *prev = m->last;
    m->last = *cur;
    m->have_last = 1;
    pthread_mutex_unlock(&m->lock);
    return had;
}

int hone_metrics_counter(hone_metrics *m, const char *name, const char *help, const char *const *labels,
                         hone_metric **out, hone_error *err) {
    return get_series(m, HONE_METRIC_COUNTER, name, help, NULL, 0, labels, out, err);
}
int hone_metrics_gauge(hone_metrics *m, const char *name, const char *help, const char *const *labels,
                       hone_metric **out, hone_error *err) {
    return get_series(m, HONE_METRIC_GAUGE, name, help, NULL, 0, labels, out, err);
}
int hone_metrics_histogram(hone_metrics *m, const char *name, const char *help, const double *buckets,
                           size_t n, const char *const *labels, hone_metric **out, hone_error *err) {
    return get_series(m, HONE_METRIC_HISTOGRAM, name, help, buckets, n, labels, out, err);
}

static void add_bits(uint64_t *p, double v) {
    uint64_t old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(p, &old, d_to_bits(bits_to_d(old) + v), 1, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
    }
}

int hone_metric_add(hone_metric *s, double v) {
    if (!s || s->fam->type == HONE_METRIC_HISTOGRAM || isnan(v)) return HONE_EINVAL;
    if (s->fam->type == HONE_METRIC_COUNTER && v < 0) return HONE_EINVAL;
    add_bits(&s->bits, v);
    return HONE_OK;
}

int hone_metric_inc(hone_metric *s) { return hone_metric_add(s, 1.0); }

int hone_metric_set(hone_metric *s, double v) {
    if (!s || s->fam->type == HONE_METRIC_HISTOGRAM) return HONE_EINVAL;
    if (s->fam->type == HONE_METRIC_GAUGE) {
        __atomic_store_n(&s->bits, d_to_bits(v), __ATOMIC_RELAXED);
        return HONE_OK;
    }
    if (isnan(v)) return HONE_EINVAL;
    uint64_t old = __atomic_load_n(&s->bits, __ATOMIC_RELAXED);
    do {
        if (v < bits_to_d(old)) return HONE_ERANGE;
    } while (!__atomic_compare_exchange_n(&s->bits, &old, d_to_bits(v), 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return HONE_OK;
}

int hone_metrics_mirror(hone_metrics *m, int counter, const char *name, const char *help,
                        const char *const *labels, double v, hone_error *err) {
    hone_metric *s;
    int rc = counter ? hone_metrics_counter(m, name, help, labels, &s, err)
                     : hone_metrics_gauge(m, name, help, labels, &s, err);
    if (rc) return rc;
    rc = hone_metric_set(s, v);
    if (rc == HONE_OK) return HONE_OK;
    char lab[256];
    size_t n = 0;
    lab[0] = '\0';
    for (size_t i = 0; labels && labels[i] && labels[i + 1] && n < sizeof lab; i += 2) {
        int k = snprintf(lab + n, sizeof lab - n, "%s%s=\"%s\"", i ? "," : "", labels[i], labels[i + 1]);
        if (k < 0) break;
        n += (size_t)k;
    }
    if (rc == HONE_ERANGE)
        return hone_error_set(err, rc,
                              "%s{%s}: the value %.17g is below the counter's last value (two "
                              "sources exported under one name?)",
                              name, lab, v);
    return hone_error_set(err, rc, "%s{%s}: %s", name, lab, hone_strerror(rc));
}

int hone_metric_observe(hone_metric *s, double v) {
    if (!s || s->fam->type != HONE_METRIC_HISTOGRAM || isnan(v)) return HONE_EINVAL;
    const family *f = s->fam;
    /* Binary search for the first bound >= v (Prometheus buckets are
     * "less than or equal"). */
    size_t lo = 0, hi = f->n_bounds;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= f->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    __atomic_fetch_add(&s->buckets[lo], 1, __ATOMIC_RELAXED);
    add_bits(&s->bits, v);
    return HONE_OK;
}

double hone_metric_value(const hone_metric *s) {
    return s ? bits_to_d(__atomic_load_n(&s->bits, __ATOMIC_RELAXED)) : 0;
}

uint64_t hone_metric_count(const hone_metric *s) {
    if (!s || s->fam->type != HONE_METRIC_HISTOGRAM) return 0;
    uint64_t n = 0;
    for (size_t i = 0; i <= s->fam->n_bounds; i++) n += __atomic_load_n(&s->buckets[i], __ATOMIC_RELAXED);
    return n;
}

/* ---- exposition ---------------------------------------------------- */

/* Appends name suffix{labels[,le="x"]} value\n with one reservation. */
static int put_line(hone_buf *b, const family *f, const hone_metric *s, const char *suffix, size_t suffix_len,
                    const char *le, const char *num, size_t num_len) {
    size_t le_len = le ? strlen(le) : 0;
    size_t need = f->name_len + suffix_len + s->lbl_len + le_len + num_len + 16;
    if (hone_buf_reserve(b, need)) return HONE_ENOMEM;
    char *p = b->data + b->len;
    memcpy(p, f->name, f->name_len);
    p += f->name_len;
    memcpy(p, suffix, suffix_len);
    p += suffix_len;
    if (s->lbl_len || le) {
        *p++ = '{';
        memcpy(p, s->lbl, s->lbl_len);
        p += s->lbl_len;
        if (le) {
            if (s->lbl_len) *p++ = ',';
            memcpy(p, "le=\"", 4);
            memcpy(p + 4, le, le_len);
            p += 4 + le_len;
            *p++ = '"';
        }
        *p++ = '}';
    }
    *p++ = ' ';
    memcpy(p, num, num_len);
    p += num_len;
    *p++ = '\n';
    *p = '\0';
    b->len = (size_t)(p - b->data);
    return HONE_OK;
}

int hone_metrics_expose(hone_metrics *m, hone_buf *out) {
    if (!m || !out) return HONE_EINVAL;
    size_t len0 = out->len;
    int rc = 0;
    char num[40];
    pthread_mutex_lock(&m->lock);
    /* One growth up front, from the size of the last exposition. */
    if (m->last_len) rc = hone_buf_reserve(out, m->last_len + m->last_len / 8);
    for (size_t i = 0; i < m->n_fams && !rc; i++) {
        const family *f = m->fams[i];
        rc = hone_buf_append(out, f->head, f->head_len);
        for (size_t k = 0; k < f->n_series && !rc; k++) {
            const hone_metric *s = f->series[k];
            if (f->type != HONE_METRIC_HISTOGRAM) {
                rc = put_line(out, f, s, "", 0, NULL, num, fmt_double(num, hone_metric_value(s)));
                continue;
            }
            /* Cumulative counts from one pass over the buckets, so that
             * the +Inf bucket and _count agree even under updates. */
            uint64_t cum = 0;
            for (size_t j = 0; j <= f->n_bounds && !rc; j++) {
                cum += __atomic_load_n(&s->buckets[j], __ATOMIC_RELAXED);
                rc = put_line(out, f, s, "_bucket", 7, f->le[j], num, fmt_u64(num, cum));
            }
            if (!rc) rc = put_line(out, f, s, "_sum", 4, NULL, num, fmt_double(num, hone_metric_value(s)));
            if (!rc) rc = put_line(out, f, s, "_count", 6, NULL, num, fmt_u64(num, cum));
        }
    }
    if (!rc) m->last_len = out->len - len0;
    pthread_mutex_unlock(&m->lock);
    if (rc) {
        out->len = len0;
        if (out->data) out->data[len0] = 0;
        return HONE_ENOMEM;
    }
    return HONE_OK;
}
