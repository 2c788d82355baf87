/* cycles.c - cycle metrics: per-cycle records in a bounded ring, live
 * statistics over the history and a recent window, dashboards, and JSON
 * persistence written atomically. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hone/metrics.h"

typedef struct record {
    char *id;
    uint64_t start_unix_ns, end_unix_ns, duration_ns;
    int success;
    uint64_t hits, misses, validations, validation_ns, file_ops;
    size_t n_meta;
    char **meta; /* key, value, key, value... */
} record;

struct hone_cycle {
    hone_cycle_collector *c;
    record r;
    uint64_t start_mono;
};

struct hone_cycle_collector {
    const hone_allocator *alloc;
    pthread_mutex_t lock;
    size_t cap, window;
    record *ring; /* cap entries; n used, oldest at head */
    size_t head, n;
};

#define CYCLES_FORMAT "hone-cycles"
#define CYCLES_VERSION 1

static uint64_t unix_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void record_clear(const hone_allocator *a, record *r) {
    hone_free(a, r->id);
    for (size_t i = 0; i < 2 * r->n_meta; i++) hone_free(a, r->meta[i]);
    hone_free(a, r->meta);
    memset(r, 0, sizeof *r);
}

int hone_cycle_collector_new(hone_cycle_collector **out, const hone_cycle_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    hone_cycle_opts o = {0};
    if (opts) o = *opts;
    if (!o.history) o.history = 1000;
    if (!o.window) o.window = 100;
    hone_cycle_collector *c = hone_calloc(o.alloc, 1, sizeof *c);
    if (!c) return HONE_ENOMEM;
    c->ring = hone_calloc(o.alloc, o.history, sizeof *c->ring);
    if (!c->ring) {
        hone_free(o.alloc, c);
        return HONE_ENOMEM;
    }
    c->alloc = o.alloc;
    c->cap = o.history;
    c->window = o.window;
    pthread_mutex_init(&c->lock, NULL);
    *out = c;
    return HONE_OK;
}

static void ring_clear(hone_cycle_collector *c) {
    for (size_t i = 0; i < c->n; i++) record_clear(c->alloc, &c->ring[(c->head + i) % c->cap]);
    c->head = c->n = 0;
}

void hone_cycle_collector_free(hone_cycle_collector *c) {
    if (!c) return;
    ring_clear(c);
    hone_free(c->alloc, c->ring);
    pthread_mutex_destroy(&c->lock);
    hone_free(c->alloc, c);
}

static hone_cycle_collector *g_default;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void default_init(void) {
    /* Lives until exit, with the allocator that was default when made. */
    hone_allocator *copy = malloc(sizeof *copy);
    if (!copy) return;
    *copy = *hone_allocator_default();
    if (hone_cycle_collector_new(&g_default, &(hone_cycle_opts){.alloc = copy})) free(copy);
}
hone_cycle_collector *hone_cycle_default(void) {
    pthread_once(&g_once, default_init);
    return g_default;
}

int hone_cycle_begin(hone_cycle_collector *c, const char *id, hone_cycle **out) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    if (!c) c = hone_cycle_default();
    if (!c || !id) return HONE_EINVAL;
    hone_cycle *cy = hone_calloc(c->alloc, 1, sizeof *cy);
    if (!cy) return HONE_ENOMEM;
    if (!(cy->r.id = hone_strdup(c->alloc, id))) {
        hone_free(c->alloc, cy);
        return HONE_ENOMEM;
    }
    cy->c = c;
    cy->r.start_unix_ns = unix_ns();
    cy->start_mono = hone_monotonic_ns();
    *out = cy;
    return HONE_OK;
}

void hone_cycle_hit(hone_cycle *cy) {
    if (cy) cy->r.hits++;
}
void hone_cycle_miss(hone_cycle *cy) {
    if (cy) cy->r.misses++;
}
void hone_cycle_file_ops(hone_cycle *cy, uint64_t n) {
    if (cy) cy->r.file_ops += n;
}
void hone_cycle_validation(hone_cycle *cy, uint64_t ns) {
    if (!cy) return;
    cy->r.validations++;
    cy->r.validation_ns += ns;
}

static int meta_set(const hone_allocator *a, record *r, const char *key, const char *value) {
    char *v = hone_strdup(a, value);
    if (!v) return HONE_ENOMEM;
    for (size_t i = 0; i < r->n_meta; i++)
        if (!strcmp(r->meta[2 * i], key)) {
            hone_free(a, r->meta[2 * i + 1]);
            r->meta[2 * i + 1] = v;
            return HONE_OK;
        }
    char *k = hone_strdup(a, key);
    char **m = k ? hone_realloc(a, r->meta, (2 * r->n_meta + 2) * sizeof *m) : NULL;
    if (!m) {
        hone_free(a, k);
        hone_free(a, v);
        return HONE_ENOMEM;
    }
    r->meta = m;
    m[2 * r->n_meta] = k;
    m[2 * r->n_meta + 1] = v;
    r->n_meta++;
    return HONE_OK;
}

int hone_cycle_meta(hone_cycle *cy, const char *key, const char *value) {
    if (!cy || !key || !value) return HONE_EINVAL;
    return meta_set(cy->c->alloc, &cy->r, key, value);
}

/* Appends r (taking its memory) to the ring, dropping the oldest when
 * full. Under c->lock. */
static void ring_push(hone_cycle_collector *c, record *r) {
    if (c->n == c->cap) {
        record_clear(c->alloc, &c->ring[c->head]);
        c->ring[c->head] = *r;
        c->head = (c->head + 1) % c->cap;
    } else {
        c->ring[(c->head + c->n) % c->cap] = *r;
        c->n++;
    }
}

void hone_cycle_end(hone_cycle *cy, int success) {
    if (!cy) return;
    hone_cycle_collector *c = cy->c;
    cy->r.end_unix_ns = unix_ns();
    cy->r.duration_ns = hone_monotonic_ns() - cy->start_mono;
    cy->r.success = success != 0;
    pthread_mutex_lock(&c->lock);
    ring_push(c, &cy->r);
    pthread_mutex_unlock(&c->lock);
    hone_free(c->alloc, cy);
}

void hone_cycle_abandon(hone_cycle *cy) {
    if (!cy) return;
    record_clear(cy->c->alloc, &cy->r);
    hone_free(cy->c->alloc, cy);
}

size_t hone_cycle_count(hone_cycle_collector *c) {
    if (!c) return 0;
    pthread_mutex_lock(&c->lock);
    size_t n = c->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* ---- statistics ---------------------------------------------------- */

static const record *nth(const hone_cycle_collector *c, size_t i) { return &c->ring[(c->head + i) % c->cap]; }

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Statistics of the last `last` cycles (0: all). Under c->lock. */
static int stats_locked(hone_cycle_collector *c, size_t last, hone_cycle_stats *st) {
    memset(st, 0, sizeof *st);
    size_t n = last && last < c->n ? last : c->n;
    if (!n) return HONE_OK;
    uint64_t *d = hone_malloc(c->alloc, n * sizeof *d);
    if (!d) return HONE_ENOMEM;
    uint64_t first_start = UINT64_MAX, last_end = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        const record *r = nth(c, c->n - n + i);
        d[i] = r->duration_ns;
        sum += (double)r->duration_ns;
        st->succeeded += (uint64_t)r->success;
        st->hits += r->hits;
        st->misses += r->misses;
        st->validations += r->validations;
        st->validation_ns += r->validation_ns;
        st->file_ops += r->file_ops;
        if (r->start_unix_ns < first_start) first_start = r->start_unix_ns;
        if (r->end_unix_ns > last_end) last_end = r->end_unix_ns;
    }
    qsort(d, n, sizeof *d, cmp_u64);
    st->count = n;
    st->success_rate = (double)st->succeeded / (double)n;
    st->duration_mean_ns = sum / (double)n;
    /* Nearest rank: the smallest value with at least p% at or below it. */
    st->duration_p50_ns = d[(n * 50 + 99) / 100 - 1];
    st->duration_p95_ns = d[(n * 95 + 99) / 100 - 1];
    st->duration_max_ns = d[n - 1];
    st->hit_rate = st->hits + st->misses ? (double)st->hits / (double)(st->hits + st->misses) : 0;
    if (last_end > first_start) st->cycles_per_minute = (double)n * 60e9 / (double)(last_end - first_start);
    hone_free(c->alloc, d);
    return HONE_OK;
}

int hone_cycle_stats_get(hone_cycle_collector *c, size_t last, hone_cycle_stats *out) {
    if (!c || !out) return HONE_EINVAL;
    pthread_mutex_lock(&c->lock);
    int rc = stats_locked(c, last, out);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* ---- JSON ---------------------------------------------------------- */

static json_t *record_json(const record *r) {
    json_t *meta = json_object();
    if (!meta) return NULL;
    for (size_t i = 0; i < r->n_meta; i++)
        if (json_object_set_new(meta, r->meta[2 * i], json_string(r->meta[2 * i + 1]))) {
            json_decref(meta);
            return NULL;
        }
    return json_pack("{s:s, s:I, s:I, s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:o}", "id", r->id, "start_unix_ns",
                     (json_int_t)r->start_unix_ns, "end_unix_ns", (json_int_t)r->end_unix_ns, "duration_ns",
                     (json_int_t)r->duration_ns, "success", r->success, "cache_hits", (json_int_t)r->hits,
                     "cache_misses", (json_int_t)r->misses, "validations", (json_int_t)r->validations,
                     "validation_ns", (json_int_t)r->validation_ns, "file_ops", (json_int_t)r->file_ops,
                     "metadata", meta);
}

static json_t *stats_json(const hone_cycle_stats *s) {
    return json_pack("{s:I, s:I, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:f}", "count",
                     (json_int_t)s->count, "succeeded", (json_int_t)s->succeeded, "success_rate", s->success_rate,
                     "duration_mean_ns", s->duration_mean_ns, "duration_p50_ns", (json_int_t)s->duration_p50_ns,
                     "duration_p95_ns", (json_int_t)s->duration_p95_ns, "duration_max_ns",
                     (json_int_t)s->duration_max_ns, "cache_hits", (json_int_t)s->hits, "cache_misses",
                     (json_int_t)s->misses, "hit_rate", s->hit_rate, "validations", (json_int_t)s->validations,
                     "validation_ns", (json_int_t)s->validation_ns, "file_ops", (json_int_t)s->file_ops,
                     "cycles_per_minute", s->cycles_per_minute);
}

/* The history document (the save format); with stats, a report that
 * hone_cycle_parse also reads. Under c->lock. */
static json_t *history_json(hone_cycle_collector *c, size_t first, const hone_cycle_stats *all,
                            const hone_cycle_stats *recent) {
    json_t *arr = json_array();
    json_t *doc = json_pack("{s:s, s:i, s:I, s:o}", "format", CYCLES_FORMAT, "version", CYCLES_VERSION,
                            "capacity", (json_int_t)c->cap, "cycles", arr);
    if (!doc) return NULL;
    for (size_t i = first; i < c->n; i++) {
        json_t *r = record_json(nth(c, i));
        if (!r || json_array_append_new(arr, r)) goto oom;
    }
    if (all && (json_object_set_new(doc, "stats", stats_json(all)) ||
                json_object_set_new(doc, "recent_stats", stats_json(recent))))
        goto oom;
    return doc;
oom:
    json_decref(doc);
    return NULL;
}

static int dump_append(json_t *doc, hone_buf *out) {
    if (!doc) return HONE_ENOMEM;
    char *text = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    if (!text) return HONE_ENOMEM;
    int rc = hone_buf_puts(out, text);
    if (!rc) rc = hone_buf_puts(out, "\n");
    free(text);
    return rc;
}

int hone_cycle_save(hone_cycle_collector *c, const char *path, hone_error *err) {
    if (!c || !path) return hone_error_set(err, HONE_EINVAL, "no collector or no path");
    pthread_mutex_lock(&c->lock);
    json_t *doc = history_json(c, 0, NULL, NULL);
    pthread_mutex_unlock(&c->lock);
    hone_buf b;
    hone_buf_init(&b, c->alloc);
    int rc = dump_append(doc, &b);
    if (rc) {
        hone_buf_free(&b);
        return hone_error_set(err, rc, "out of memory saving cycle history to %s", path);
    }
    rc = hone_file_write_atomic(path, b.data, b.len, err);
    hone_buf_free(&b);
    return rc;
}

static int u64_field(json_t *o, const char *key, size_t i, uint64_t *out, hone_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v) {
        *out = 0;
        return HONE_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return hone_error_set(err, HONE_ECORRUPT, "cycle %zu: field '%s' is not a non-negative integer", i, key);
    *out = (uint64_t)json_integer_value(v);
    return HONE_OK;
}

int hone_cycle_parse(hone_cycle_collector *c, const char *text, size_t len, hone_error *err) {
    if (!c || (!text && len)) return hone_error_set(err, HONE_EINVAL, "no collector or no input");
    json_error_t jerr;
    json_t *doc = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        return hone_error_set_at(err, HONE_EPARSE, jerr.line, jerr.column, (long long)jerr.position,
                                 "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    }
    int rc = HONE_OK;
    record *tmp = NULL;
    size_t n = 0, keep = 0, made = 0;
    json_t *fmt = json_object_get(doc, "format"), *arr = json_object_get(doc, "cycles");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), CYCLES_FORMAT)) {
        rc = hone_error_set(err, HONE_ECORRUPT, "not a hone cycle history (no \"format\": \"%s\")", CYCLES_FORMAT);
        goto done;
    }
    if (json_integer_value(json_object_get(doc, "version")) != CYCLES_VERSION) {
        rc = hone_error_set(err, HONE_ECORRUPT, "unsupported hone cycle history version (expected %d)", CYCLES_VERSION);
        goto done;
    }
    if (!json_is_array(arr)) {
        rc = hone_error_set(err, HONE_ECORRUPT, "field 'cycles' is missing or not an array");
        goto done;
    }
    n = json_array_size(arr);
    keep = n < c->cap ? n : c->cap;
    /* Build the new history aside, so that a bad record leaves c as it
     * was. */
    tmp = hone_calloc(c->alloc, keep ? keep : 1, sizeof *tmp);
    if (!tmp) {
        rc = hone_error_set(err, HONE_ENOMEM, "out of memory loading cycles");
        goto done;
    }
    for (size_t i = n - keep; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        record *r = &tmp[made];
        json_t *id = json_object_get(o, "id"), *ok = json_object_get(o, "success"), *meta = json_object_get(o, "metadata");
        if (!json_is_object(o) || !json_is_string(id)) {
            rc = hone_error_set(err, HONE_ECORRUPT, "cycle %zu: field 'id' is missing or not a string", i);
            goto done;
        }
        if (!json_is_boolean(ok)) {
            rc = hone_error_set(err, HONE_ECORRUPT, "cycle %zu: field 'success' is missing or not true/false", i);
            goto done;
        }
        if (meta && !json_is_object(meta)) {
            rc = hone_error_set(err, HONE_ECORRUPT, "cycle %zu: field 'metadata' is not an object", i);
            goto done;
        }
        made++;
        if (!(r->id = hone_strdup(c->alloc, json_string_value(id)))) {
            rc = hone_error_set(err, HONE_ENOMEM, "out of memory loading cycles");
            goto done;
        }
        r->success = json_is_true(ok);
        if ((rc = u64_field(o, "start_unix_ns", i, &r->start_unix_ns, err)) ||
            (rc = u64_field(o, "end_unix_ns", i, &r->end_unix_ns, err)) ||
            (rc = u64_field(o, "duration_ns", i, &r->duration_ns, err)) ||
            (rc = u64_field(o, "cache_hits", i, &r->hits, err)) ||
            (rc = u64_field(o, "cache_misses", i, &r->misses, err)) ||
            (rc = u64_field(o, "validations", i, &r->validations, err)) ||
            (rc = u64_field(o, "validation_ns", i, &r->validation_ns, err)) ||
            (rc = u64_field(o, "file_ops", i, &r->file_ops, err)))
            goto done;
        const char *k;
        json_t *v;
        json_object_foreach(meta, k, v) {
            if (!json_is_string(v)) {
                rc = hone_error_set(err, HONE_ECORRUPT, "cycle %zu: metadata '%s' is not a string", i, k);
                goto done;
            }
            if (meta_set(c->alloc, r, k, json_string_value(v))) {
                rc = hone_error_set(err, HONE_ENOMEM, "out of memory loading cycles");
                goto done;
            }
        }
    }
    pthread_mutex_lock(&c->lock);
    ring_clear(c);
    for (size_t i = 0; i < made; i++) ring_push(c, &tmp[i]);
    pthread_mutex_unlock(&c->lock);
    made = 0;
done:
    for (size_t i = 0; i < made; i++) record_clear(c->alloc, &tmp[i]);
    hone_free(c->alloc, tmp);
    json_decref(doc);
    return rc;
}

int hone_cycle_load(hone_cycle_collector *c, const char *path, hone_error *err) {
    if (!c || !path) return hone_error_set(err, HONE_EINVAL, "no collector or no path");
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return hone_error_set(err, hone_status_from_errno(e), "cannot open %s: %s", path, strerror(e));
    }
    hone_buf b;
    hone_buf_init(&b, c->alloc);
    char chunk[65536];
    size_t n;
    int rc = HONE_OK;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0) rc = hone_buf_append(&b, chunk, n);
    if (!rc && ferror(f)) rc = hone_error_set(err, HONE_EIO, "cannot read %s", path);
    else if (rc) rc = hone_error_set(err, HONE_ENOMEM, "out of memory reading %s", path);
    fclose(f);
    if (!rc) {
        rc = hone_cycle_parse(c, b.data, b.len, err);
        if (rc && err) {
            /* Prefix the path, keeping line/col: the message may be cut
             * at the buffer's end, which is fine for a one-line error. */
            char msg[sizeof err->msg];
            size_t pl = strlen(path);
            if (pl > sizeof msg / 2) pl = sizeof msg / 2;
            memcpy(msg, path, pl);
            memcpy(msg + pl, ": ", 2);
            size_t ml = strnlen(err->msg, sizeof msg - pl - 3);
            memcpy(msg + pl + 2, err->msg, ml);
            msg[pl + 2 + ml] = 0;
            memcpy(err->msg, msg, sizeof msg);
        }
    }
    hone_buf_free(&b);
    return rc;
}

/* ---- dashboards ---------------------------------------------------- */

static void fmt_dur(char *buf, size_t n, double ns) {
    if (ns < 1e3)
        snprintf(buf, n, "%.0f ns", ns);
    else if (ns < 1e6)
        snprintf(buf, n, "%.3g us", ns / 1e3);
    else if (ns < 1e9)
        snprintf(buf, n, "%.3g ms", ns / 1e6);
    else
        snprintf(buf, n, "%.3g s", ns / 1e9);
}

static int stats_rows(hone_buf *o, int md, const hone_cycle_stats *a, const hone_cycle_stats *r, size_t win) {
    int rc = 0;
    char h[48];
    snprintf(h, sizeof h, "last %zu", win);
    if (md)
        rc |= hone_buf_printf(o, "| statistic | all | %s |\n|---|---:|---:|\n", h);
    else
        rc |= hone_buf_printf(o, "%-16s %12s %12s\n", "statistic", "all", h);
    const hone_cycle_stats *s[2] = {a, r};
    char v[2][10][32];
    for (int k = 0; k < 2; k++) {
        snprintf(v[k][0], 32, "%llu", (unsigned long long)s[k]->count);
        snprintf(v[k][1], 32, "%.1f%%", 100 * s[k]->success_rate);
        fmt_dur(v[k][2], 32, s[k]->duration_mean_ns);
        fmt_dur(v[k][3], 32, (double)s[k]->duration_p50_ns);
        fmt_dur(v[k][4], 32, (double)s[k]->duration_p95_ns);
        fmt_dur(v[k][5], 32, (double)s[k]->duration_max_ns);
        snprintf(v[k][6], 32, "%.1f%%", 100 * s[k]->hit_rate);
        snprintf(v[k][7], 32, "%llu", (unsigned long long)s[k]->validations);
        snprintf(v[k][8], 32, "%llu", (unsigned long long)s[k]->file_ops);
        snprintf(v[k][9], 32, "%.1f", s[k]->cycles_per_minute);
    }
    static const char *const names[] = {"cycles",        "success rate", "duration mean", "duration p50",
                                        "duration p95",  "duration max", "hit rate",      "validations",
                                        "file ops",      "cycles/min"};
    for (int i = 0; i < 10; i++)
        rc |= md ? hone_buf_printf(o, "| %s | %s | %s |\n", names[i], v[0][i], v[1][i])
                 : hone_buf_printf(o, "%-16s %12s %12s\n", names[i], v[0][i], v[1][i]);
    return rc;
}

static int recent_rows(hone_buf *o, int md, hone_cycle_collector *c, size_t first) {
    int rc = md ? hone_buf_puts(o, "\n| id | start (UTC) | duration | ok | hits | misses | validations | file ops | metadata |\n"
                                   "|---|---|---:|---|---:|---:|---:|---:|---|\n")
                : hone_buf_printf(o, "\n%-20s %-20s %10s %-4s %8s %8s %8s %8s  %s\n", "id", "start (UTC)", "duration",
                                  "ok", "hits", "misses", "valid.", "files", "metadata");
    for (size_t i = first; i < c->n && !rc; i++) {
        const record *r = nth(c, i);
        char when[32], dur[32];
        time_t t = (time_t)(r->start_unix_ns / 1000000000u);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        fmt_dur(dur, sizeof dur, (double)r->duration_ns);
        rc |= md ? hone_buf_printf(o, "| %s | %s | %s | %s | %llu | %llu | %llu | %llu | ", r->id, when, dur,
                                   r->success ? "yes" : "no", (unsigned long long)r->hits,
                                   (unsigned long long)r->misses, (unsigned long long)r->validations,
                                   (unsigned long long)r->file_ops)
                 : hone_buf_printf(o, "%-20s %-20s %10s %-4s %8llu %8llu %8llu %8llu  ", r->id, when, dur,
                                   r->success ? "yes" : "no", (unsigned long long)r->hits,
                                   (unsigned long long)r->misses, (unsigned long long)r->validations,
                                   (unsigned long long)r->file_ops);
        for (size_t k = 0; k < r->n_meta; k++)
            rc |= hone_buf_printf(o, "%s%s=%s", k ? " " : "", r->meta[2 * k], r->meta[2 * k + 1]);
        rc |= hone_buf_puts(o, md ? " |\n" : "\n");
    }
    return rc;
}

static int csv_str(hone_buf *b, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) return hone_buf_puts(b, s);
    int rc = hone_buf_puts(b, "\"");
    for (; *s && !rc; s++) rc = *s == '"' ? hone_buf_puts(b, "\"\"") : hone_buf_append(b, s, 1);
    return rc ? rc : hone_buf_puts(b, "\"");
}

static int csv_rows(hone_buf *o, hone_cycle_collector *c, size_t first) {
    int rc = hone_buf_puts(o, "id,start_unix_ns,end_unix_ns,duration_ns,success,cache_hits,cache_misses,"
                              "validations,validation_ns,file_ops,metadata\n");
    for (size_t i = first; i < c->n && !rc; i++) {
        const record *r = nth(c, i);
        rc |= csv_str(o, r->id);
        rc |= hone_buf_printf(o, ",%llu,%llu,%llu,%d,%llu,%llu,%llu,%llu,%llu,", (unsigned long long)r->start_unix_ns,
                              (unsigned long long)r->end_unix_ns, (unsigned long long)r->duration_ns, r->success,
                              (unsigned long long)r->hits, (unsigned long long)r->misses,
                              (unsigned long long)r->validations, (unsigned long long)r->validation_ns,
                              (unsigned long long)r->file_ops);
        hone_buf m;
        hone_buf_init(&m, o->alloc);
        for (size_t k = 0; k < r->n_meta && !rc; k++)
            rc |= hone_buf_printf(&m, "%s%s=%s", k ? ";" : "", r->meta[2 * k], r->meta[2 * k + 1]);
        if (!rc) rc |= csv_str(o, m.data ? m.data : "");
        hone_buf_free(&m);
        rc |= hone_buf_puts(o, "\n");
    }
    return rc;
}

static int prom_rows(hone_buf *o, const hone_cycle_stats *a, const hone_cycle_stats *r) {
    hone_metrics *m;
    int rc = hone_metrics_new(&m, &(hone_metrics_opts){o->alloc});
    if (rc) return rc;
    const hone_cycle_stats *s[2] = {a, r};
    static const char *const scope[2] = {"all", "recent"};
    for (int k = 0; k < 2 && !rc; k++) {
        const char *l[] = {"scope", scope[k], NULL};
        struct {
            const char *name, *help;
            double v;
        } g[] = {
            {"hone_cycles", "Cycles in the history (all) or the recent window.", (double)s[k]->count},
            {"hone_cycles_success_ratio", "Share of cycles that succeeded.", s[k]->success_rate},
            {"hone_cycle_duration_mean_seconds", "Mean cycle duration.", s[k]->duration_mean_ns / 1e9},
            {"hone_cycle_duration_p50_seconds", "Median cycle duration.", (double)s[k]->duration_p50_ns / 1e9},
            {"hone_cycle_duration_p95_seconds", "95th percentile cycle duration.", (double)s[k]->duration_p95_ns / 1e9},
            {"hone_cycle_duration_max_seconds", "Longest cycle duration.", (double)s[k]->duration_max_ns / 1e9},
            {"hone_cycle_cache_hit_ratio", "Cache hits over hits plus misses.", s[k]->hit_rate},
            {"hone_cycles_per_minute", "Cycles per minute over the span of the cycles.", s[k]->cycles_per_minute},
        };
        for (size_t i = 0; i < sizeof g / sizeof g[0] && !rc; i++) {
            hone_metric *x;
            rc = hone_metrics_gauge(m, g[i].name, g[i].help, l, &x, NULL);
            if (!rc) rc = hone_metric_set(x, g[i].v);
        }
    }
    if (!rc) rc = hone_metrics_expose(m, o);
    hone_metrics_free(m);
    return rc;
}

int hone_cycle_report(hone_cycle_collector *c, const hone_cycle_report_opts *opts, hone_buf *out) {
    hone_cycle_report_opts o = {0};
    if (opts) o = *opts;
    if (!c || !out || (unsigned)o.format > HONE_REPORT_PROM) return HONE_EINVAL;
    size_t len0 = out->len;
    hone_cycle_stats all, recent;
    pthread_mutex_lock(&c->lock);
    int rc = stats_locked(c, 0, &all);
    if (!rc) rc = stats_locked(c, c->window, &recent);
    size_t first = o.recent && o.recent < c->n ? c->n - o.recent : 0;
    if (!rc) {
        switch (o.format) {
        case HONE_REPORT_JSON: rc = dump_append(history_json(c, first, &all, &recent), out); break;
        case HONE_REPORT_CSV: rc = csv_rows(out, c, first) ? HONE_ENOMEM : 0; break;
        case HONE_REPORT_PROM: rc = prom_rows(out, &all, &recent); break;
        default: {
            int md = o.format == HONE_REPORT_MD;
            rc = md ? 0 : hone_buf_printf(out, "cycle history: %zu of at most %zu kept\n\n", c->n, c->cap);
            rc |= stats_rows(out, md, &all, &recent, c->window);
            if (o.recent) rc |= recent_rows(out, md, c, first);
            if (rc) rc = HONE_ENOMEM;
        }
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (rc) {
        out->len = len0;
        if (out->data) out->data[len0] = 0;
    }
    return rc;
}
