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
} family;

struct hone_metrics {
    const hone_allocator *alloc;
    pthread_mutex_t lock;
    family **fams;
    size_t n_fams, cap_fams;
    hone_process_stats last; /* for hone_process_cpu_percent between updates */
    int have_last;
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
    for (size_t i = 0; i < m->n_fams && !f; i++)
        if (!strcmp(m->fams[i]->name, name)) f = m->fams[i];
    if (f) {
        static const char *const tn[] = {"counter", "gauge", "histogram"};
        if (f->type != type) {
            rc = hone_error_set(err, HONE_EEXIST, "metric '%s' already exists as a %s", name, tn[f->type]);
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

static int put_value(hone_buf *b, double v) {
    if (isnan(v)) return hone_buf_puts(b, "NaN");
    if (isinf(v)) return hone_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    char tmp[40];
    /* The shortest of %.15g / %.17g that reads back exactly. */
    snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v) snprintf(tmp, sizeof tmp, "%.17g", v);
    return hone_buf_puts(b, tmp);
}

static int put_escaped(hone_buf *b, const char *s, int quote) {
    int rc = 0;
    for (; *s && !rc; s++) {
        if (*s == '\\')
            rc = hone_buf_puts(b, "\\\\");
        else if (*s == '\n')
            rc = hone_buf_puts(b, "\\n");
        else if (quote && *s == '"')
            rc = hone_buf_puts(b, "\\\"");
        else
            rc = hone_buf_append(b, s, 1);
    }
    return rc;
}

/* name{labels[,le="x"]} */
static int put_series(hone_buf *b, const family *f, const hone_metric *s, const char *suffix, const char *le) {
    int rc = hone_buf_puts(b, f->name);
    rc |= hone_buf_puts(b, suffix);
    if (!f->n_labels && !le) return rc;
    rc |= hone_buf_puts(b, "{");
    for (size_t i = 0; i < f->n_labels; i++) {
        rc |= hone_buf_printf(b, "%s%s=\"", i ? "," : "", f->label_names[i]);
        rc |= put_escaped(b, s->label_values[i], 1);
        rc |= hone_buf_puts(b, "\"");
    }
    if (le) rc |= hone_buf_printf(b, "%sle=\"%s\"", f->n_labels ? "," : "", le);
    return rc | hone_buf_puts(b, "}");
}

int hone_metrics_expose(hone_metrics *m, hone_buf *out) {
    if (!m || !out) return HONE_EINVAL;
    static const char *const tn[] = {"counter", "gauge", "histogram"};
    size_t len0 = out->len;
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n_fams && !rc; i++) {
        const family *f = m->fams[i];
        rc |= hone_buf_printf(out, "# HELP %s ", f->name);
        rc |= put_escaped(out, f->help, 0);
        rc |= hone_buf_printf(out, "\n# TYPE %s %s\n", f->name, tn[f->type]);
        for (size_t k = 0; k < f->n_series && !rc; k++) {
            const hone_metric *s = f->series[k];
            if (f->type != HONE_METRIC_HISTOGRAM) {
                rc |= put_series(out, f, s, "", NULL);
                rc |= hone_buf_puts(out, " ");
                rc |= put_value(out, hone_metric_value(s));
                rc |= hone_buf_puts(out, "\n");
                continue;
            }
            /* Cumulative counts from one pass over the buckets, so that
             * the +Inf bucket and _count agree even under updates. */
            uint64_t cum = 0;
            for (size_t j = 0; j <= f->n_bounds; j++) {
                cum += __atomic_load_n(&s->buckets[j], __ATOMIC_RELAXED);
                char le[40];
                if (j == f->n_bounds) {
                    snprintf(le, sizeof le, "+Inf");
                } else {
                    snprintf(le, sizeof le, "%.15g", f->bounds[j]);
                    if (strtod(le, NULL) != f->bounds[j]) snprintf(le, sizeof le, "%.17g", f->bounds[j]);
                }
                rc |= put_series(out, f, s, "_bucket", le);
                rc |= hone_buf_printf(out, " %llu\n", (unsigned long long)cum);
            }
            rc |= put_series(out, f, s, "_sum", NULL);
            rc |= hone_buf_puts(out, " ");
            rc |= put_value(out, hone_metric_value(s));
            rc |= hone_buf_puts(out, "\n");
            rc |= put_series(out, f, s, "_count", NULL);
            rc |= hone_buf_printf(out, " %llu\n", (unsigned long long)cum);
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (rc) {
        out->len = len0;
        if (out->data) out->data[len0] = 0;
        return HONE_ENOMEM;
    }
    return HONE_OK;
}
