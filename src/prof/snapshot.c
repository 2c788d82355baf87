/* snapshot.c - profile snapshots: taking, reading back from JSON, and the
 * text, Markdown, JSON, CSV, Prometheus, tree, folded-stack and Chrome
 * trace reports. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "prof/prof_internal.h"

int hone_prof_snapshot_take(hone_prof_snapshot **out, const hone_prof_snapshot_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    const hone_allocator *alloc = opts ? opts->alloc : NULL;
    hone_prof_snapshot *s = hone_calloc(alloc, 1, sizeof *s);
    if (!s) return HONE_ENOMEM;
    int rc = hone__prof_collect(s, alloc, opts && opts->reset);
    if (!rc && s->traced) {
        /* The program's name for the trace's process; an allocation that
         * fails leaves it out rather than failing the snapshot after a
         * reset happened. */
        s->process = hone_strdup(alloc, program_invocation_short_name);
    }
    if (rc) {
        hone_free(alloc, s);
        return rc;
    }
    *out = s;
    return HONE_OK;
}

int hone_prof_reset(void) {
    hone_prof_snapshot *s;
    int rc = hone_prof_snapshot_take(&s, &(hone_prof_snapshot_opts){NULL, 1});
    hone_prof_snapshot_free(s);
    return rc;
}

void hone_prof_snapshot_free(hone_prof_snapshot *s) {
    if (!s) return;
    for (size_t i = 0; s->owned && i < s->n_owned; i++) hone_free(s->alloc, s->owned[i]);
    hone_free(s->alloc, s->owned);
    hone_free(s->alloc, s->process);
    hone_free(s->alloc, s->zones);
    hone_free(s->alloc, s->nodes);
    hone_free(s->alloc, s->threads);
    hone_free(s->alloc, s->events);
    hone_free(s->alloc, s);
}

size_t hone_prof_snapshot_node_count(const hone_prof_snapshot *s) { return s ? s->n_nodes : 0; }

const hone_prof_node *hone_prof_snapshot_node(const hone_prof_snapshot *s, size_t i) {
    return s && i < s->n_nodes ? &s->nodes[i] : NULL;
}

int hone_prof_snapshot_traced(const hone_prof_snapshot *s) { return s ? s->traced : 0; }

size_t hone_prof_snapshot_thread_count(const hone_prof_snapshot *s) { return s ? s->n_threads : 0; }

const hone_prof_thread *hone_prof_snapshot_thread(const hone_prof_snapshot *s, size_t i) {
    return s && i < s->n_threads ? &s->threads[i] : NULL;
}

uint64_t hone_prof_snapshot_trace_dropped(const hone_prof_snapshot *s) { return s ? s->trace_dropped : 0; }

size_t hone_prof_snapshot_count(const hone_prof_snapshot *s) { return s ? s->n : 0; }

const hone_prof_zone *hone_prof_snapshot_zone(const hone_prof_snapshot *s, size_t i) {
    return s && i < s->n ? &s->zones[i] : NULL;
}

uint64_t hone_prof_snapshot_wall_ns(const hone_prof_snapshot *s) { return s ? s->wall_ns : 0; }

const hone_prof_zone *hone_prof_snapshot_find(const hone_prof_snapshot *s, const char *name) {
    for (size_t i = 0; s && name && i < s->n; i++)
        if (!strcmp(s->zones[i].name, name)) return &s->zones[i];
    return NULL;
}

/* ---- JSON ---------------------------------------------------------- */

#define PROFILE_FORMAT "hone-profile"
#define PROFILE_VERSION 1

static json_t *zone_json(const hone_prof_zone *z) {
    return json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:I, s:I, s:I, s:I}",
                     "name", z->name, "file", z->file, "function", z->func, "line", z->line, "count",
                     (json_int_t)z->count, "total_ns", (json_int_t)z->total_ns, "self_ns",
                     (json_int_t)z->self_ns, "min_ns", (json_int_t)z->min_ns, "max_ns",
                     (json_int_t)z->max_ns, "mean_ns", z->mean_ns, "std_ns", z->std_ns, "p50_ns",
                     (json_int_t)z->p50_ns, "p90_ns", (json_int_t)z->p90_ns, "p99_ns",
                     (json_int_t)z->p99_ns, "p999_ns", (json_int_t)z->p999_ns);
}

/* The "tree" array: every node, its parent as an index (-1: none). */
static json_t *tree_json(const hone_prof_snapshot *s) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->n_nodes; i++) {
        const hone_prof_node *nd = &s->nodes[i];
        json_t *o = zone_json(&nd->z);
        if (!o || json_object_set_new(o, "parent", json_integer(nd->parent == HONE_PROF_NO_PARENT
                                                                    ? -1
                                                                    : (json_int_t)nd->parent)) ||
            json_array_append_new(a, o)) {
            json_decref(o);
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* The "trace" object: events as [node, begin_ns, end_ns] per thread. */
static json_t *trace_json(const hone_prof_snapshot *s) {
    json_t *threads = json_array();
    json_t *o = json_pack("{s:I, s:s, s:I, s:o}", "pid", (json_int_t)s->pid, "process",
                          s->process ? s->process : "", "dropped", (json_int_t)s->trace_dropped,
                          "threads", threads);
    if (!o) return NULL;
    for (size_t i = 0; i < s->n_threads; i++) {
        const hone_prof_thread *th = &s->threads[i];
        json_t *evs = json_array();
        json_t *t = json_pack("{s:I, s:s, s:I, s:o}", "tid", (json_int_t)th->tid, "name", th->name ? th->name : "",
                              "dropped", (json_int_t)th->dropped, "events", evs);
        if (!t || json_array_append_new(threads, t)) goto oom;
        for (size_t k = 0; k < th->n_events; k++) {
            const hone_prof_event *e = &th->events[k];
            json_t *ev = json_pack("[I, I, I]", (json_int_t)e->node, (json_int_t)e->begin_ns, (json_int_t)e->end_ns);
            if (!ev || json_array_append_new(evs, ev)) goto oom;
        }
    }
    return o;
oom:
    json_decref(o);
    return NULL;
}

/* Appends the JSON document of the zones in `order` (n of them), the whole
 * tree and the trace. */
static int json_report(const hone_prof_snapshot *s, const hone_prof_zone *const *order, size_t n,
                       hone_buf *out) {
    json_t *zones = json_array();
    json_t *doc = json_pack("{s:s, s:i, s:I, s:i, s:I, s:o}", "format", PROFILE_FORMAT, "version",
                            PROFILE_VERSION, "wall_ns", (json_int_t)s->wall_ns, "significant_digits",
                            s->digits, "dropped", (json_int_t)s->dropped, "zones", zones);
    if (!doc) return HONE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *z = zone_json(order[i]);
        if (!z || json_array_append_new(zones, z)) {
            json_decref(doc);
            return HONE_ENOMEM;
        }
    }
    /* json_object_set_new takes the value even when it fails. */
    if (json_object_set_new(doc, "tree", tree_json(s)) ||
        (s->traced && json_object_set_new(doc, "trace", trace_json(s)))) {
        json_decref(doc);
        return HONE_ENOMEM;
    }
    char *text = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    if (!text) return HONE_ENOMEM;
    size_t len0 = out->len;
    int rc = hone_buf_puts(out, text);
    if (!rc && (rc = hone_buf_puts(out, "\n"))) out->len = len0;
    free(text);
    return rc;
}

static int get_u64(json_t *o, const char *key, const char *what, size_t idx, uint64_t *out, hone_error *err) {
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return hone_error_set(err, HONE_ECORRUPT,
                              "%s %zu: field '%s' is missing or not a non-negative integer", what, idx, key);
    *out = (uint64_t)json_integer_value(v);
    return HONE_OK;
}

static int get_str(json_t *o, const char *key, const char *what, size_t idx, const char **out, hone_error *err) {
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        return hone_error_set(err, HONE_ECORRUPT, "%s %zu: field '%s' is missing or not a string", what, idx,
                              key);
    *out = json_string_value(v);
    return HONE_OK;
}

static double get_num(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : 0;
}

/* Keeps a copy of str owned by s; NULL when out of memory. */
static const char *own(hone_prof_snapshot *s, const char *str) {
    char *c = hone_strdup(s->alloc, str);
    if (c) s->owned[s->n_owned++] = c;
    return c;
}

/* Reads the zone fields of o (a zone or a tree node) into z. */
static int parse_zone(hone_prof_snapshot *s, json_t *o, const char *what, size_t i, hone_prof_zone *z,
                      hone_error *err) {
    int rc;
    uint64_t line = 0;
    memset(z, 0, sizeof *z);
    if (!json_is_object(o)) return hone_error_set(err, HONE_ECORRUPT, "%s %zu is not an object", what, i);
    if ((rc = get_str(o, "name", what, i, &z->name, err)) || (rc = get_u64(o, "count", what, i, &z->count, err)) ||
        (rc = get_u64(o, "total_ns", what, i, &z->total_ns, err)) ||
        (rc = get_u64(o, "self_ns", what, i, &z->self_ns, err)) ||
        (rc = get_u64(o, "min_ns", what, i, &z->min_ns, err)) ||
        (rc = get_u64(o, "max_ns", what, i, &z->max_ns, err)) ||
        (rc = get_u64(o, "p50_ns", what, i, &z->p50_ns, err)) ||
        (rc = get_u64(o, "p90_ns", what, i, &z->p90_ns, err)) ||
        (rc = get_u64(o, "p99_ns", what, i, &z->p99_ns, err)) ||
        (rc = get_u64(o, "p999_ns", what, i, &z->p999_ns, err)))
        return rc;
    const char *file = json_string_value(json_object_get(o, "file"));
    const char *func = json_string_value(json_object_get(o, "function"));
    json_t *jl = json_object_get(o, "line");
    if (json_is_integer(jl) && json_integer_value(jl) > 0) line = (uint64_t)json_integer_value(jl);
    z->line = line > INT32_MAX ? 0 : (int)line;
    z->mean_ns = get_num(o, "mean_ns");
    z->std_ns = get_num(o, "std_ns");
    if (!(z->name = own(s, z->name)) || !(z->file = own(s, file ? file : "")) || !(z->func = own(s, func ? func : "")))
        return hone_error_set(err, HONE_ENOMEM, "out of memory reading a profile");
    return HONE_OK;
}

/* Reads the optional "tree" array. */
static int parse_tree(hone_prof_snapshot *s, json_t *tree, hone_error *err) {
    size_t n = json_array_size(tree);
    if (!n) return HONE_OK;
    if (!(s->nodes = hone_calloc(s->alloc, n, sizeof *s->nodes)))
        return hone_error_set(err, HONE_ENOMEM, "out of memory reading a profile");
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(tree, i);
        hone_prof_node *nd = &s->nodes[i];
        int rc = parse_zone(s, o, "tree node", i, &nd->z, err);
        if (rc) return rc;
        s->n_nodes++;
        json_t *p = json_object_get(o, "parent");
        json_int_t pv = json_integer_value(p);
        /* Depth-first order: a parent comes before its children. */
        if (!json_is_integer(p) || pv < -1 || pv >= (json_int_t)i)
            return hone_error_set(err, HONE_ECORRUPT,
                                  "tree node %zu: field 'parent' is not -1 or the index of an earlier node", i);
        nd->parent = pv < 0 ? HONE_PROF_NO_PARENT : (size_t)pv;
        nd->depth = pv < 0 ? 0 : s->nodes[pv].depth + 1;
    }
    return HONE_OK;
}

/* Reads the optional "trace" object. */
static int parse_trace(hone_prof_snapshot *s, json_t *trace, hone_error *err) {
    json_t *threads = json_object_get(trace, "threads");
    if (!json_is_object(trace) || !json_is_array(threads))
        return hone_error_set(err, HONE_ECORRUPT, "field 'trace' is not an object with a 'threads' array");
    s->traced = 1;
    s->pid = (uint64_t)json_integer_value(json_object_get(trace, "pid"));
    s->trace_dropped = (uint64_t)json_integer_value(json_object_get(trace, "dropped"));
    const char *proc = json_string_value(json_object_get(trace, "process"));
    if (proc && !(s->process = hone_strdup(s->alloc, proc)))
        return hone_error_set(err, HONE_ENOMEM, "out of memory reading a profile");
    size_t nt = json_array_size(threads), ne = 0;
    for (size_t i = 0; i < nt; i++) ne += json_array_size(json_object_get(json_array_get(threads, i), "events"));
    if (!(s->threads = hone_calloc(s->alloc, nt ? nt : 1, sizeof *s->threads)) ||
        !(s->events = hone_calloc(s->alloc, ne ? ne : 1, sizeof *s->events)))
        return hone_error_set(err, HONE_ENOMEM, "out of memory reading a profile");
    for (size_t i = 0; i < nt; i++) {
        json_t *t = json_array_get(threads, i);
        json_t *evs = json_object_get(t, "events");
        hone_prof_thread *th = &s->threads[i];
        uint64_t tid, dropped = 0;
        int rc;
        if (!json_is_object(t) || !json_is_array(evs))
            return hone_error_set(err, HONE_ECORRUPT, "trace thread %zu is not an object with an 'events' array", i);
        if ((rc = get_u64(t, "tid", "trace thread", i, &tid, err))) return rc;
        if (json_object_get(t, "dropped") && (rc = get_u64(t, "dropped", "trace thread", i, &dropped, err)))
            return rc;
        const char *name = json_string_value(json_object_get(t, "name"));
        if (!(th->name = own(s, name ? name : "")))
            return hone_error_set(err, HONE_ENOMEM, "out of memory reading a profile");
        th->tid = tid;
        th->dropped = dropped;
        th->events = s->events + s->n_events;
        s->n_threads++;
        for (size_t k = 0; k < json_array_size(evs); k++) {
            json_t *e = json_array_get(evs, k);
            json_int_t v[3];
            int ok = json_is_array(e) && json_array_size(e) == 3;
            for (size_t j = 0; ok && j < 3; j++) {
                json_t *x = json_array_get(e, j);
                ok = json_is_integer(x) && (v[j] = json_integer_value(x)) >= 0;
            }
            if (!ok || (uint64_t)v[0] >= s->n_nodes || v[2] < v[1])
                return hone_error_set(err, HONE_ECORRUPT,
                                      "trace thread %zu, event %zu: expected [node index, begin_ns, end_ns] "
                                      "with a node of the tree and end >= begin", i, k);
            s->events[s->n_events++] = (hone_prof_event){(uint64_t)v[1], (uint64_t)v[2], (size_t)v[0]};
            th->n_events++;
        }
    }
    return HONE_OK;
}

int hone_prof_snapshot_parse(hone_prof_snapshot **out, const char *text, size_t len,
                             const hone_allocator *alloc, hone_error *err) {
    if (!out || (!text && len)) return hone_error_set(err, HONE_EINVAL, "no snapshot given");
    *out = NULL;
    json_error_t jerr;
    json_t *doc = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        return hone_error_set_at(err, HONE_EPARSE, jerr.line, jerr.column, (long long)jerr.position,
                                 "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    }
    int rc = HONE_OK;
    hone_prof_snapshot *s = NULL;
    json_t *fmt = json_object_get(doc, "format");
    json_t *zones = json_object_get(doc, "zones");
    json_t *tree = json_object_get(doc, "tree"), *trace = json_object_get(doc, "trace");
    if (!json_is_object(doc) || !json_is_string(fmt) || strcmp(json_string_value(fmt), PROFILE_FORMAT)) {
        rc = hone_error_set(err, HONE_ECORRUPT, "not a hone profile (no \"format\": \"%s\")", PROFILE_FORMAT);
        goto done;
    }
    if (json_integer_value(json_object_get(doc, "version")) != PROFILE_VERSION) {
        rc = hone_error_set(err, HONE_ECORRUPT, "unsupported hone profile version (expected %d)",
                            PROFILE_VERSION);
        goto done;
    }
    if (!json_is_array(zones)) {
        rc = hone_error_set(err, HONE_ECORRUPT, "field 'zones' is missing or not an array");
        goto done;
    }
    /* The tree and the trace came later: files without them are read. */
    if (tree && !json_is_array(tree)) {
        rc = hone_error_set(err, HONE_ECORRUPT, "field 'tree' is not an array");
        goto done;
    }
    size_t n = json_array_size(zones);
    size_t n_str = 3 * (n + json_array_size(tree)) + json_array_size(json_object_get(trace, "threads")) + 1;
    s = hone_calloc(alloc, 1, sizeof *s);
    if (s) s->alloc = alloc;
    if (!s || !(s->zones = hone_calloc(alloc, n ? n : 1, sizeof *s->zones)) ||
        !(s->owned = hone_calloc(alloc, n_str, sizeof *s->owned))) {
        rc = hone_error_set(err, HONE_ENOMEM, "out of memory reading a profile");
        goto done;
    }
    s->alloc = alloc;
    s->wall_ns = (uint64_t)json_integer_value(json_object_get(doc, "wall_ns"));
    s->digits = (int)json_integer_value(json_object_get(doc, "significant_digits"));
    s->dropped = (uint64_t)json_integer_value(json_object_get(doc, "dropped"));
    for (size_t i = 0; i < n; i++) {
        if ((rc = parse_zone(s, json_array_get(zones, i), "zone", i, &s->zones[i], err))) goto done;
        s->n++;
    }
    if (tree && (rc = parse_tree(s, tree, err))) goto done;
    if (trace && (rc = parse_trace(s, trace, err))) goto done;
done:
    json_decref(doc);
    if (rc)
        hone_prof_snapshot_free(s);
    else
        *out = s;
    return rc;
}

/* ---- reports ------------------------------------------------------- */

static const char *const sort_names[] = {"total", "self", "mean", "count", "max", "p99", "name", NULL};
static const char *const format_names[] = {"text", "md", "json", "csv", "prom", "tree", "folded", "chrome", NULL};

const char *const *hone_prof_sort_names(void) { return sort_names; }
const char *const *hone_report_format_names(void) { return format_names; }

typedef struct keyed {
    const hone_prof_zone *z;
    int key;
} keyed;

static double sort_value(const hone_prof_zone *z, int key) {
    switch (key) {
    case HONE_PROF_SORT_SELF: return (double)z->self_ns;
    case HONE_PROF_SORT_MEAN: return z->mean_ns;
    case HONE_PROF_SORT_COUNT: return (double)z->count;
    case HONE_PROF_SORT_MAX: return (double)z->max_ns;
    case HONE_PROF_SORT_P99: return (double)z->p99_ns;
    default: return (double)z->total_ns;
    }
}

static int cmp_keyed(const void *pa, const void *pb) {
    const keyed *a = pa, *b = pb;
    int c;
    if (a->key == HONE_PROF_SORT_NAME) {
        c = strcmp(a->z->name, b->z->name);
    } else {
        double va = sort_value(a->z, a->key), vb = sort_value(b->z, b->key);
        c = va > vb ? -1 : va < vb ? 1 : strcmp(a->z->name, b->z->name);
    }
    /* Ties keep snapshot order, so reports are deterministic. */
    return c ? c : (a->z < b->z ? -1 : a->z > b->z);
}

/* Human units for text and Markdown: 3 significant digits. */
static void fmt_ns(char *buf, size_t n, double ns) {
    if (ns < 1e3)
        snprintf(buf, n, "%.0f ns", ns);
    else if (ns < 1e6)
        snprintf(buf, n, "%.3g us", ns / 1e3);
    else if (ns < 1e9)
        snprintf(buf, n, "%.3g ms", ns / 1e6);
    else
        snprintf(buf, n, "%.3g s", ns / 1e9);
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Writes a CSV field, quoted when it holds a separator, quote or newline. */
static int csv_field(hone_buf *b, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) return hone_buf_puts(b, s);
    int rc = hone_buf_puts(b, "\"");
    for (; *s && !rc; s++) rc = *s == '"' ? hone_buf_puts(b, "\"\"") : hone_buf_append(b, s, 1);
    return rc ? rc : hone_buf_puts(b, "\"");
}

/* Markdown cells cannot hold '|' or newlines. */
static int md_field(hone_buf *b, const char *s) {
    int rc = 0;
    for (; *s && !rc; s++)
        rc = *s == '|' ? hone_buf_puts(b, "\\|") : (*s == '\n' ? hone_buf_puts(b, " ") : hone_buf_append(b, s, 1));
    return rc;
}

/* The columns of the text and Markdown tables, in order. total% is the
 * zone's inclusive time over the snapshot's interval (the outermost zone
 * of a single-threaded program is near 100 %; zones on several threads
 * may add up past it, as top's %CPU does); self% its share of all self
 * time (the column sums to 100 %). */
enum { C_ZONE, C_CALLS, C_TOTAL, C_TOTALP, C_SELF, C_SELFP, C_MEAN, C_MIN, C_MAX, C_STD,
       C_P50, C_P90, C_P99, C_P999, C_LOC, NCOL };
static const char *const col_name[NCOL] = {"zone", "calls", "total", "total%", "self", "self%", "mean",
                                           "min",  "max",   "std",   "p50",    "p90",  "p99",  "p99.9",
                                           "location"};
/* Which columns go first when a default text table is wider than 100
 * columns: the least telling first. zone, calls, total, total% and self%
 * always stay. */
static const int drop_order[] = {C_P999, C_STD, C_P90, C_MIN, C_SELF, C_P50, C_MAX, C_MEAN, C_P99, C_LOC};
#define TABLE_WIDTH 100
#define CELL 40

static int table_report(const hone_prof_snapshot *s, const hone_prof_zone *const *order, size_t n,
                        int md, int wide, double self_sum, hone_buf *out) {
    const hone_allocator *a = NULL;
    char (*cell)[NCOL][CELL] = n ? hone_calloc(a, n, sizeof *cell) : NULL;
    if (n && !cell) return HONE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const hone_prof_zone *z = order[i];
        snprintf(cell[i][C_ZONE], CELL, "%.*s", CELL - 1, z->name);
        snprintf(cell[i][C_CALLS], CELL, "%llu", (unsigned long long)z->count);
        fmt_ns(cell[i][C_TOTAL], CELL, (double)z->total_ns);
        snprintf(cell[i][C_TOTALP], CELL, "%.1f%%",
                 s->wall_ns ? 100.0 * (double)z->total_ns / (double)s->wall_ns : 0.0);
        fmt_ns(cell[i][C_SELF], CELL, (double)z->self_ns);
        snprintf(cell[i][C_SELFP], CELL, "%.1f%%", self_sum > 0 ? 100.0 * (double)z->self_ns / self_sum : 0.0);
        fmt_ns(cell[i][C_MEAN], CELL, z->mean_ns);
        fmt_ns(cell[i][C_MIN], CELL, (double)z->min_ns);
        fmt_ns(cell[i][C_MAX], CELL, (double)z->max_ns);
        fmt_ns(cell[i][C_STD], CELL, z->std_ns);
        fmt_ns(cell[i][C_P50], CELL, (double)z->p50_ns);
        fmt_ns(cell[i][C_P90], CELL, (double)z->p90_ns);
        fmt_ns(cell[i][C_P99], CELL, (double)z->p99_ns);
        fmt_ns(cell[i][C_P999], CELL, (double)z->p999_ns);
        snprintf(cell[i][C_LOC], CELL, "%s:%d", base_name(z->file), z->line);
    }
    /* Unless asked for every column, a column says nothing new when each
     * row repeats in it a value shown to its left (zones called once have
     * mean = min = max = p50 = total), or when it holds one value on every
     * row (std 0, one call each). */
    int show[NCOL];
    for (int c = 0; c < NCOL; c++) show[c] = 1;
    if (!wide && n) {
        /* One call has no distribution: mean to p99.9 (std too) say
         * nothing when no zone was called twice. */
        int once = 1;
        for (size_t i = 0; i < n; i++) once &= order[i]->count <= 1;
        for (int c = C_MEAN; c <= C_P999 && once; c++) show[c] = 0;
        for (int c = C_CALLS + 1; c < C_LOC; c++) {
            if (c == C_TOTAL || c == C_TOTALP || c == C_SELFP) continue;
            int repeats = 1, constant = n > 1;
            for (size_t i = 0; i < n && (repeats || constant); i++) {
                int seen = 0;
                for (int l = C_TOTAL; l < c && !seen; l++)
                    seen = show[l] && !strcmp(cell[i][l], cell[i][c]);
                repeats &= seen;
                constant &= !strcmp(cell[i][c], cell[0][c]);
            }
            if (repeats || constant) show[c] = 0;
        }
    }
    size_t w[NCOL];
    for (int c = 0; c < NCOL; c++) {
        w[c] = strlen(col_name[c]);
        for (size_t i = 0; i < n; i++)
            if (strlen(cell[i][c]) > w[c]) w[c] = strlen(cell[i][c]);
    }
    if (!wide && !md) {
        size_t total = 0;
        for (int c = 0; c < NCOL; c++) total += show[c] ? w[c] + 2 : 0;
        for (size_t k = 0; k < sizeof drop_order / sizeof *drop_order && total > TABLE_WIDTH; k++) {
            int c = drop_order[k];
            if (show[c]) total -= w[c] + 2, show[c] = 0;
        }
    }
    int rc = HONE_OK;
    if (md) {
        rc |= hone_buf_puts(out, "|");
        for (int c = 0; c < NCOL; c++)
            if (show[c]) rc |= hone_buf_printf(out, " %s |", col_name[c]);
        rc |= hone_buf_puts(out, "\n|");
        for (int c = 0; c < NCOL; c++)
            if (show[c]) rc |= hone_buf_puts(out, c == C_ZONE || c == C_LOC ? "---|" : "---:|");
        rc |= hone_buf_puts(out, "\n");
        for (size_t i = 0; i < n && !rc; i++) {
            rc |= hone_buf_puts(out, "|");
            for (int c = 0; c < NCOL; c++) {
                if (!show[c]) continue;
                rc |= hone_buf_puts(out, " ");
                rc |= md_field(out, c == C_ZONE ? order[i]->name : cell[i][c]);
                rc |= hone_buf_puts(out, " |");
            }
            rc |= hone_buf_puts(out, "\n");
        }
    } else {
        /* Names left-aligned, numbers right-aligned, two spaces apart. */
        for (size_t i = 0; i <= n && !rc; i++) {
            int first = 1;
            for (int c = 0; c < NCOL; c++) {
                if (!show[c]) continue;
                const char *v = i ? cell[i - 1][c] : col_name[c];
                int left = c == C_ZONE || c == C_LOC;
                rc |= hone_buf_printf(out, "%s%*s%s", first ? "" : "  ", left ? 0 : (int)w[c],
                                      left ? "" : v, left ? v : "");
                if (left && c != C_LOC) rc |= hone_buf_printf(out, "%*s", (int)(w[c] - strlen(v)), "");
                first = 0;
            }
            rc |= hone_buf_puts(out, "\n");
        }
    }
    if (!rc && !md) {
        char wall[32];
        fmt_ns(wall, sizeof wall, (double)s->wall_ns);
        rc |= hone_buf_printf(out, "%zu zone(s) shown of %zu; interval %s", n, s->n, wall);
        if (s->dropped) rc |= hone_buf_printf(out, "; %llu record(s) dropped", (unsigned long long)s->dropped);
        int hidden = 0;
        for (int c = 0; c < NCOL; c++) hidden += !show[c];
        if (hidden) rc |= hone_buf_printf(out, "; %d column(s) hidden (--wide shows all)", hidden);
        rc |= hone_buf_puts(out, "\n");
    }
    hone_free(a, cell);
    return rc ? HONE_ENOMEM : HONE_OK;
}

static int csv_report(const hone_prof_snapshot *s, const hone_prof_zone *const *order, size_t n,
                      hone_buf *out) {
    int rc = hone_buf_puts(out, "name,src_file,src_line,total_ns,total_perc,counts,mean_ns,min_ns,max_ns,"
                                "std_ns,self_ns,p50_ns,p90_ns,p99_ns,p999_ns\n");
    for (size_t i = 0; i < n && !rc; i++) {
        const hone_prof_zone *z = order[i];
        rc |= csv_field(out, z->name);
        rc |= hone_buf_puts(out, ",");
        rc |= csv_field(out, z->file);
        rc |= hone_buf_printf(out, ",%d,%llu,%.4f,%llu,%.1f,%llu,%llu,%.1f,%llu,%llu,%llu,%llu,%llu\n", z->line,
                              (unsigned long long)z->total_ns,
                              s->wall_ns ? 100.0 * (double)z->total_ns / (double)s->wall_ns : 0.0,
                              (unsigned long long)z->count, z->mean_ns, (unsigned long long)z->min_ns,
                              (unsigned long long)z->max_ns, z->std_ns, (unsigned long long)z->self_ns,
                              (unsigned long long)z->p50_ns, (unsigned long long)z->p90_ns,
                              (unsigned long long)z->p99_ns, (unsigned long long)z->p999_ns);
    }
    return rc ? HONE_ENOMEM : HONE_OK;
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static int prom_label(hone_buf *b, const char *s) {
    int rc = 0;
    while (*s && !rc) {
        size_t run = strcspn(s, "\\\"\n");
        if (run) rc = hone_buf_append(b, s, run);
        s += run;
        if (!*s || rc) break;
        rc = hone_buf_append(b, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\", 2);
        s++;
    }
    return rc;
}

/* Decimal digits of v into p (no NUL); returns the count. */
static size_t prom_u64(char *p, uint64_t v) {
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) p[i] = tmp[n - 1 - i];
    return n;
}

/* " <ns in seconds>\n" exactly as printf's %.9g of ns / 1e9 writes it:
 * below one second ns has at most 9 significant digits, which %.9g
 * writes exactly (0.0000dd.. from 1e-4 up, d.dde-0X below), so they are
 * written by hand; longer values go through printf, which rounds them. */
static int prom_seconds(hone_buf *b, uint64_t ns) {
    if (ns >= 1000000000u) return hone_buf_printf(b, " %.9g\n", (double)ns / 1e9);
    char t[32], d[20];
    size_t n = 0;
    t[n++] = ' ';
    if (!ns) {
        t[n++] = '0';
    } else {
        size_t full = prom_u64(d, ns), dn = full;
        while (dn > 1 && d[dn - 1] == '0') dn--; /* trailing zeros */
        if (ns >= 100000) {
            memcpy(t + n, "0.", 2);
            n += 2;
            for (size_t z = full; z < 9; z++) t[n++] = '0';
            memcpy(t + n, d, dn);
            n += dn;
        } else {
            t[n++] = d[0];
            if (dn > 1) {
                t[n++] = '.';
                memcpy(t + n, d + 1, dn - 1);
                n += dn - 1;
            }
            memcpy(t + n, "e-0", 3);
            n += 3;
            t[n++] = (char)('0' + (10 - full)); /* exponent 5..9 */
        }
    }
    t[n++] = '\n';
    return hone_buf_append(b, t, n);
}

static int prom_labels(hone_buf *b, const hone_prof_zone *z, const char *quantile) {
    char num[24];
    int rc = hone_buf_append(b, "{zone=\"", 7);
    rc |= prom_label(b, z->name);
    rc |= hone_buf_append(b, "\",file=\"", 8);
    rc |= prom_label(b, z->file);
    rc |= hone_buf_append(b, "\",line=\"", 8);
    if (z->line < 0) {
        rc |= hone_buf_printf(b, "%d", z->line);
    } else {
        rc |= hone_buf_append(b, num, prom_u64(num, (uint64_t)z->line));
    }
    rc |= hone_buf_append(b, "\"", 1);
    if (quantile) {
        rc |= hone_buf_append(b, ",quantile=\"", 11);
        rc |= hone_buf_puts(b, quantile);
        rc |= hone_buf_append(b, "\"", 1);
    }
    return rc | hone_buf_append(b, "}", 1);
}

static int prom_report(const hone_prof_zone *const *order, size_t n, hone_buf *out) {
    int rc = hone_buf_reserve(out, 64 + n * 1024);
    rc |= hone_buf_puts(out, "# HELP hone_zone_duration_seconds Inclusive time of the calls of a profiling zone.\n"
                             "# TYPE hone_zone_duration_seconds summary\n");
    static const char *const qs[] = {"0.5", "0.9", "0.99", "0.999"};
    char num[24];
    for (size_t i = 0; i < n && !rc; i++) {
        const hone_prof_zone *z = order[i];
        uint64_t qv[4] = {z->p50_ns, z->p90_ns, z->p99_ns, z->p999_ns};
        for (int k = 0; k < 4; k++) {
            rc |= hone_buf_append(out, "hone_zone_duration_seconds", 26);
            rc |= prom_labels(out, z, qs[k]);
            rc |= prom_seconds(out, qv[k]);
        }
        rc |= hone_buf_append(out, "hone_zone_duration_seconds_sum", 30);
        rc |= prom_labels(out, z, NULL);
        rc |= prom_seconds(out, z->total_ns);
        rc |= hone_buf_append(out, "hone_zone_duration_seconds_count", 32);
        rc |= prom_labels(out, z, NULL);
        num[0] = ' ';
        size_t nn = 1 + prom_u64(num + 1, z->count);
        num[nn++] = '\n';
        rc |= hone_buf_append(out, num, nn);
    }
    rc |= hone_buf_puts(out, "# HELP hone_zone_self_seconds_total Time spent in a zone outside the zones nested in it.\n"
                             "# TYPE hone_zone_self_seconds_total counter\n");
    for (size_t i = 0; i < n && !rc; i++) {
        rc |= hone_buf_append(out, "hone_zone_self_seconds_total", 28);
        rc |= prom_labels(out, order[i], NULL);
        rc |= prom_seconds(out, order[i]->self_ns);
    }
    return rc ? HONE_ENOMEM : HONE_OK;
}

/* ---- the zone tree, folded stacks, Chrome traces ------------------- */

/* A node to sort among its siblings. */
typedef struct sib {
    const hone_prof_node *n;
    size_t idx;
    int key;
} sib;

static int cmp_sib(const void *pa, const void *pb) {
    const sib *a = pa, *b = pb;
    /* Siblings together (outermost nodes last), then as the flat tables. */
    if (a->n->parent != b->n->parent) return a->n->parent < b->n->parent ? -1 : 1;
    keyed ka = {&a->n->z, a->key}, kb = {&b->n->z, b->key};
    int c = cmp_keyed(&ka, &kb);
    return c ? c : (a->idx > b->idx) - (a->idx < b->idx);
}

enum { T_CALLS, T_TOTAL, T_TOTALP, T_SELF, T_SELFP, T_MEAN, T_P50, T_P99, TCOL };
static const char *const tcol_name[TCOL] = {"calls", "total", "total%", "self", "self%", "mean", "p50", "p99"};

/* The tree, indented two spaces a level: siblings sorted by o->sort, nodes
 * under min_calls left out with their subtrees. */
static int tree_report(const hone_prof_snapshot *s, const hone_prof_report_opts *o, hone_buf *out) {
    size_t n = s->n_nodes;
    const hone_allocator *a = out->alloc;
    sib *sorted = hone_malloc(a, (n ? n : 1) * sizeof *sorted);
    size_t *first = hone_malloc(a, (n + 1) * sizeof *first), *count = hone_calloc(a, n + 1, sizeof *count);
    size_t *stack = hone_malloc(a, (n ? n : 1) * sizeof *stack), *order = hone_malloc(a, (n ? n : 1) * sizeof *order);
    char (*cell)[TCOL][CELL] = hone_calloc(a, n ? n : 1, sizeof *cell);
    int rc = HONE_ENOMEM;
    if (!sorted || !first || !count || !stack || !order || !cell) goto done;
    double self_sum = 0;
    for (size_t i = 0; i < n; i++) {
        sorted[i] = (sib){&s->nodes[i], i, (int)o->sort};
        self_sum += (double)s->nodes[i].z.self_ns;
    }
    qsort(sorted, n, sizeof *sorted, cmp_sib);
    /* Children of node p are sorted[first[p] .. first[p] + count[p]); the
     * outermost nodes are those of p = n. */
    for (size_t i = n + 1; i-- > 0;) first[i] = 0;
    for (size_t i = n; i-- > 0;) {
        size_t p = sorted[i].n->parent == HONE_PROF_NO_PARENT ? n : sorted[i].n->parent;
        first[p] = i;
        count[p]++;
    }
    /* Depth first, each sibling group in sorted order. */
    size_t sp = 0, no = 0;
    for (size_t k = count[n]; k-- > 0;) stack[sp++] = sorted[first[n] + k].idx;
    while (sp) {
        size_t i = stack[--sp];
        if (s->nodes[i].z.count < o->min_calls) continue;
        order[no++] = i;
        for (size_t k = count[i]; k-- > 0;) stack[sp++] = sorted[first[i] + k].idx;
    }
    size_t wname = strlen("zone"), w[TCOL];
    for (int c = 0; c < TCOL; c++) w[c] = strlen(tcol_name[c]);
    for (size_t r = 0; r < no; r++) {
        const hone_prof_node *nd = &s->nodes[order[r]];
        const hone_prof_zone *z = &nd->z;
        size_t wn = 2 * (size_t)nd->depth + strlen(z->name);
        if (wn > wname) wname = wn;
        snprintf(cell[r][T_CALLS], CELL, "%llu", (unsigned long long)z->count);
        fmt_ns(cell[r][T_TOTAL], CELL, (double)z->total_ns);
        snprintf(cell[r][T_TOTALP], CELL, "%.1f%%",
                 s->wall_ns ? 100.0 * (double)z->total_ns / (double)s->wall_ns : 0.0);
        fmt_ns(cell[r][T_SELF], CELL, (double)z->self_ns);
        snprintf(cell[r][T_SELFP], CELL, "%.1f%%", self_sum > 0 ? 100.0 * (double)z->self_ns / self_sum : 0.0);
        fmt_ns(cell[r][T_MEAN], CELL, z->mean_ns);
        fmt_ns(cell[r][T_P50], CELL, (double)z->p50_ns);
        fmt_ns(cell[r][T_P99], CELL, (double)z->p99_ns);
        for (int c = 0; c < TCOL; c++)
            if (strlen(cell[r][c]) > w[c]) w[c] = strlen(cell[r][c]);
    }
    int bad = hone_buf_printf(out, "%-*s", (int)wname, "zone");
    for (int c = 0; c < TCOL; c++) bad |= hone_buf_printf(out, "  %*s", (int)w[c], tcol_name[c]);
    bad |= hone_buf_puts(out, "\n");
    for (size_t r = 0; r < no && !bad; r++) {
        const hone_prof_node *nd = &s->nodes[order[r]];
        bad |= hone_buf_printf(out, "%*s%s%*s", 2 * (int)nd->depth, "", nd->z.name,
                               (int)(wname - 2 * nd->depth - strlen(nd->z.name)), "");
        for (int c = 0; c < TCOL; c++) bad |= hone_buf_printf(out, "  %*s", (int)w[c], cell[r][c]);
        bad |= hone_buf_puts(out, "\n");
    }
    char wall[32];
    fmt_ns(wall, sizeof wall, (double)s->wall_ns);
    bad |= hone_buf_printf(out, "%zu node(s) shown of %zu; interval %s", no, n, wall);
    if (s->dropped) bad |= hone_buf_printf(out, "; %llu record(s) dropped", (unsigned long long)s->dropped);
    bad |= hone_buf_puts(out, "\n");
    rc = bad ? HONE_ENOMEM : HONE_OK;
done:
    hone_free(a, sorted);
    hone_free(a, first);
    hone_free(a, count);
    hone_free(a, stack);
    hone_free(a, order);
    hone_free(a, cell);
    return rc;
}

/* Appends a zone name as a frame of a folded stack: ';' separates frames
 * and a line ends the stack, so both become '_'. */
static int folded_frame(hone_buf *b, const char *name) {
    int rc = 0;
    for (const char *p = name; *p && !rc; p++)
        rc = hone_buf_append(b, *p == ';' || *p == '\n' || *p == '\r' ? "_" : p, 1);
    return rc;
}

/* One line a node with at least 0.5 us of self time: "a;b;c <us>". */
static int folded_report(const hone_prof_snapshot *s, hone_buf *out) {
    size_t n = s->n_nodes;
    size_t *path = hone_malloc(out->alloc, (n ? n : 1) * sizeof *path);
    if (!path) return HONE_ENOMEM;
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++) {
        uint64_t us = (s->nodes[i].z.self_ns + 500) / 1000;
        if (!us) continue;
        size_t depth = 0;
        for (size_t k = i; k != HONE_PROF_NO_PARENT && depth < n; k = s->nodes[k].parent) path[depth++] = k;
        while (depth-- > 0) {
            bad |= folded_frame(out, s->nodes[path[depth]].z.name);
            if (depth) bad |= hone_buf_puts(out, ";");
        }
        bad |= hone_buf_printf(out, " %llu\n", (unsigned long long)us);
    }
    hone_free(out->alloc, path);
    return bad ? HONE_ENOMEM : HONE_OK;
}

/* Microseconds with nanosecond digits, as trace viewers read ts and dur. */
static int json_us(hone_buf *b, uint64_t ns) {
    return hone_buf_printf(b, "%llu.%03llu", (unsigned long long)(ns / 1000), (unsigned long long)(ns % 1000));
}

/* Chrome trace-event JSON: names of the process and threads, then one
 * complete event a traced call. */
static int chrome_report(const hone_prof_snapshot *s, hone_buf *out) {
    unsigned long long pid = (unsigned long long)s->pid;
    int bad = hone_buf_printf(out, "{\"traceEvents\":[\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%llu,"
                                   "\"tid\":0,\"args\":{\"name\":", pid);
    bad |= hone_buf_json_string(out, s->process && *s->process ? s->process : "hone");
    bad |= hone_buf_puts(out, "}}");
    for (size_t t = 0; t < s->n_threads && !bad; t++) {
        const hone_prof_thread *th = &s->threads[t];
        char fallback[32];
        snprintf(fallback, sizeof fallback, "thread %llu", (unsigned long long)th->tid);
        bad |= hone_buf_printf(out, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%llu,\"tid\":%llu,"
                                    "\"args\":{\"name\":", pid, (unsigned long long)th->tid);
        bad |= hone_buf_json_string(out, th->name && *th->name ? th->name : fallback);
        bad |= hone_buf_printf(out, ",\"dropped_events\":%llu}}", (unsigned long long)th->dropped);
    }
    for (size_t t = 0; t < s->n_threads && !bad; t++) {
        const hone_prof_thread *th = &s->threads[t];
        for (size_t k = 0; k < th->n_events && !bad; k++) {
            const hone_prof_event *e = &th->events[k];
            const hone_prof_zone *z = &s->nodes[e->node].z;
            bad |= hone_buf_puts(out, ",\n{\"name\":");
            bad |= hone_buf_json_string(out, z->name);
            bad |= hone_buf_printf(out, ",\"cat\":\"hone\",\"ph\":\"X\",\"pid\":%llu,\"tid\":%llu,\"ts\":", pid,
                                   (unsigned long long)th->tid);
            bad |= json_us(out, e->begin_ns);
            bad |= hone_buf_puts(out, ",\"dur\":");
            bad |= json_us(out, e->end_ns - e->begin_ns);
            bad |= hone_buf_puts(out, ",\"args\":{\"file\":");
            bad |= hone_buf_json_string(out, z->file);
            bad |= hone_buf_printf(out, ",\"line\":%d}}", z->line);
        }
    }
    bad |= hone_buf_printf(out, "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"producer\":\"hone\","
                                "\"dropped_events\":%llu}}\n",
                           (unsigned long long)s->trace_dropped);
    return bad ? HONE_ENOMEM : HONE_OK;
}

int hone_prof_report(const hone_prof_snapshot *s, const hone_prof_report_opts *opts, hone_buf *out) {
    hone_prof_report_opts o = {0};
    if (opts) o = *opts;
    if (!s || !out || (unsigned)o.format > HONE_REPORT_CHROME || (unsigned)o.sort > HONE_PROF_SORT_NAME)
        return HONE_EINVAL;
    if (o.format >= HONE_REPORT_TREE) {
        int rc;
        size_t len0 = out->len;
        if (o.format == HONE_REPORT_CHROME ? !s->traced : !s->n_nodes && s->n)
            return HONE_ENOTFOUND;
        switch (o.format) {
        case HONE_REPORT_TREE: rc = tree_report(s, &o, out); break;
        case HONE_REPORT_FOLDED: rc = folded_report(s, out); break;
        default: rc = chrome_report(s, out); break;
        }
        if (rc) {
            out->len = len0;
            if (out->data) out->data[len0] = 0;
        }
        return rc;
    }
    keyed *k = hone_malloc(out->alloc, (s->n ? s->n : 1) * sizeof *k);
    const hone_prof_zone **order = hone_malloc(out->alloc, (s->n ? s->n : 1) * sizeof *order);
    if (!k || !order) {
        hone_free(out->alloc, k);
        hone_free(out->alloc, order);
        return HONE_ENOMEM;
    }
    size_t n = 0;
    double self_sum = 0;
    for (size_t i = 0; i < s->n; i++) {
        self_sum += (double)s->zones[i].self_ns;
        if (s->zones[i].count >= o.min_calls) k[n++] = (keyed){&s->zones[i], (int)o.sort};
    }
    qsort(k, n, sizeof *k, cmp_keyed);
    if (o.top_n && n > o.top_n) n = o.top_n;
    for (size_t i = 0; i < n; i++) order[i] = k[i].z;
    size_t len0 = out->len;
    int rc;
    switch (o.format) {
    case HONE_REPORT_JSON: rc = json_report(s, order, n, out); break;
    case HONE_REPORT_CSV: rc = csv_report(s, order, n, out); break;
    case HONE_REPORT_PROM: rc = prom_report(order, n, out); break;
    default: rc = table_report(s, order, n, o.format == HONE_REPORT_MD, o.wide, self_sum, out); break;
    }
    if (rc) {
        out->len = len0;
        if (out->data) out->data[len0] = 0;
    }
    hone_free(out->alloc, k);
    hone_free(out->alloc, order);
    return rc;
}

int hone_prof_snapshot_json(const hone_prof_snapshot *s, hone_buf *out) {
    hone_prof_report_opts o = {.format = HONE_REPORT_JSON, .sort = HONE_PROF_SORT_TOTAL};
    return hone_prof_report(s, &o, out);
}

int hone_prof_write_file(const char *path, hone_error *err) {
    hone_prof_snapshot *s;
    if (hone_prof_snapshot_take(&s, NULL)) return hone_error_set(err, HONE_ENOMEM, "out of memory taking a profile");
    hone_buf b;
    hone_buf_init(&b, NULL);
    int rc = hone_prof_snapshot_json(s, &b);
    hone_prof_snapshot_free(s);
    if (rc) {
        hone_buf_free(&b);
        return hone_error_set(err, rc, "cannot format the profile: %s", hone_strerror(rc));
    }
    rc = hone_file_write_atomic(path, b.data, b.len, err);
    hone_buf_free(&b);
    return rc;
}
