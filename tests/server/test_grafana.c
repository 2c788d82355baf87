/* test_grafana.c - docs/grafana/hone.json, the Grafana dashboard for the
 * embedded server's /metrics, stays importable and in step with what hone
 * exports: it is JSON with a Prometheus datasource input, every panel
 * queries through it, and every metric name in every PromQL expression
 * (panels and template variables) is a sample name that a live server,
 * with a cache, cycles and profiler zones, has in its /metrics. A renamed
 * or misspelled series fails here, naming the panel and the expression,
 * instead of drawing an empty graph for a user.
 *
 * The names are taken from each expression with a small PromQL scanner:
 * string literals, label matchers {...}, ranges [...], Grafana variables
 * ($x, ${x}), numbers and durations are skipped, as are the label lists of
 * by/without/on/ignoring/group_left/group_right; an identifier followed by
 * "(" must be a PromQL function or aggregation, and any other identifier
 * that is not a keyword is a metric name. */
#include "test.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DASHBOARD HONE_SOURCE_DIR "/docs/grafana/hone.json"
#define DS_UID "${DS_PROMETHEUS}"
/* Grafana 9.0's schema; older versions migrate panels on import. */
#define MIN_SCHEMA 36

/* ------------------------------------------------------------------ */
/* A set of names                                                      */
/* ------------------------------------------------------------------ */

typedef struct names {
    char **v;
    size_t n, cap;
} names;

static int names_has(const names *s, const char *p, size_t len) {
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->v[i]) == len && !memcmp(s->v[i], p, len)) return 1;
    return 0;
}

static void names_add(names *s, const char *p, size_t len) {
    if (names_has(s, p, len)) return;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        assert_non_null(s->v);
    }
    s->v[s->n] = strndup(p, len);
    assert_non_null(s->v[s->n]);
    s->n++;
}

static void names_free(names *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------ */
/* PromQL scanning                                                     */
/* ------------------------------------------------------------------ */

/* PromQL 2.42's functions and aggregation operators, and the @ modifier's
 * start() and end(). */
static const char *const promql_calls[] = {
        "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
        "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
        "count_over_time", "days_in_month", "day_of_month", "day_of_week", "day_of_year", "deg",
        "delta", "deriv", "exp", "floor", "histogram_count", "histogram_fraction",
        "histogram_quantile", "histogram_sum", "holt_winters", "hour", "idelta", "increase",
        "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2",
        "max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear",
        "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round", "scalar",
        "sgn", "sin", "sinh", "sort", "sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time",
        "sum_over_time", "tan", "tanh", "time", "timestamp", "vector", "year",
        /* aggregation operators */
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
        "bottomk", "topk", "quantile",
        /* @ modifier */
        "start", "end", NULL};

/* Keywords followed by a parenthesised list of label names. */
static const char *const label_list_kw[] = {"by",          "without",    "on", "ignoring",
                                            "group_left", "group_right", NULL};
/* Other keywords (case-insensitive in PromQL), and the float literals. */
static const char *const keywords[] = {"and", "or",  "unless", "bool", "offset", "atan2",
                                       "inf", "nan", "by",     "without", "on",  "ignoring",
                                       "group_left", "group_right", NULL};

static int in_list(const char *const *list, const char *p, size_t len, int nocase) {
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == len &&
            !(nocase ? strncasecmp(list[i], p, len) : strncmp(list[i], p, len)))
            return 1;
    return 0;
}

/* The aggregation operators, which may take by/without before their
 * parenthesis. */
static const char *const aggregations[] = {"sum",     "min",    "max",          "avg",
                                           "group",   "stddev", "stdvar",       "count",
                                           "count_values", "bottomk", "topk", "quantile", NULL};

static int ident_start(char c) { return isalpha((unsigned char)c) || c == '_' || c == ':'; }
static int ident_char(char c) { return isalnum((unsigned char)c) || c == '_' || c == ':'; }

/* Index just past the string literal that starts at s[i]. */
static size_t skip_string(const char *s, size_t i) {
    char q = s[i++];
    while (s[i] && s[i] != q) i += (s[i] == '\\' && q != '`' && s[i + 1]) ? 2 : 1;
    return s[i] ? i + 1 : i;
}

/* Index just past the bracket that closes the one at s[i], strings inside
 * skipped. */
static size_t skip_group(const char *s, size_t i) {
    char open = s[i], close = open == '{' ? '}' : open == '[' ? ']' : ')';
    int depth = 0;
    while (s[i]) {
        if (s[i] == '"' || s[i] == '\'' || s[i] == '`') {
            i = skip_string(s, i);
            continue;
        }
        if (s[i] == open) depth++;
        else if (s[i] == close && --depth == 0) return i + 1;
        i++;
    }
    return i;
}

/* Does s begin with keyword kw (any case) as a whole word? */
static int starts_word(const char *s, const char *kw) {
    size_t n = strlen(kw);
    return !strncasecmp(s, kw, n) && !ident_char(s[n]);
}

typedef struct found {
    names metrics; /* metric names */
    names calls;   /* identifiers called as functions that PromQL does not have */
} found;

/* Adds the metric names of PromQL expression s to f. */
static void scan_promql(const char *s, found *f) {
    size_t i = 0;
    while (s[i]) {
        char c = s[i];
        if (c == '"' || c == '\'' || c == '`') {
            i = skip_string(s, i);
        } else if (c == '{' || c == '[') {
            i = skip_group(s, i);
        } else if (c == '#') {
            while (s[i] && s[i] != '\n') i++;
        } else if (c == '$') {
            i++;
            if (s[i] == '{') i = skip_group(s, i);
            else
                while (ident_char(s[i])) i++;
        } else if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)s[i + 1]))) {
            /* 0.5, 1e3, 0x1f, and durations such as 5m or 1h30m */
            while (isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '_') i++;
        } else if (ident_start(c)) {
            size_t b = i;
            while (ident_char(s[i])) i++;
            size_t len = i - b, j = i;
            while (isspace((unsigned char)s[j])) j++;
            if (in_list(label_list_kw, s + b, len, 1) && s[j] == '(') {
                i = skip_group(s, j);
            } else if (s[j] == '(' ||
                       (in_list(aggregations, s + b, len, 0) &&
                        (starts_word(s + j, "by") || starts_word(s + j, "without")))) {
                /* A call; in "sum by (x) (...)" the next round skips the
                 * label list. */
                if (!in_list(promql_calls, s + b, len, 0)) names_add(&f->calls, s + b, len);
            } else if (!in_list(keywords, s + b, len, 1)) {
                names_add(&f->metrics, s + b, len);
            }
        } else {
            i++;
        }
    }
}

/* A Grafana template variable's query: label_values(EXPR, LABEL) and
 * query_result(EXPR) hold PromQL; label_values(LABEL), label_names() and
 * metrics(REGEX) name no series. */
static void scan_variable_query(const char *q, found *f) {
    while (isspace((unsigned char)*q)) q++;
    size_t n = strlen(q);
    while (n && isspace((unsigned char)q[n - 1])) n--;
    const char *lv = "label_values(", *qr = "query_result(";
    if (n > strlen(lv) && !strncmp(q, lv, strlen(lv)) && q[n - 1] == ')') {
        char *inner = strndup(q + strlen(lv), n - strlen(lv) - 1);
        assert_non_null(inner);
        char *comma = strrchr(inner, ',');
        int two = 0;
        if (comma) { /* the last argument is a label name, not a matcher's comma */
            const char *p = comma + 1;
            while (isspace((unsigned char)*p)) p++;
            two = ident_start(*p);
            while (ident_char(*p)) p++;
            while (isspace((unsigned char)*p)) p++;
            two = two && !*p;
        }
        if (two) {
            *comma = '\0';
            scan_promql(inner, f);
        }
        free(inner);
    } else if (n > strlen(qr) && !strncmp(q, qr, strlen(qr))) {
        scan_promql(q + strlen(qr), f);
    }
}

/* ------------------------------------------------------------------ */
/* The dashboard                                                       */
/* ------------------------------------------------------------------ */

static json_t *load_dashboard(void) {
    json_error_t je;
    json_t *d = json_load_file(DASHBOARD, 0, &je);
    if (!d) print_error("%s:%d:%d: %s\n", DASHBOARD, je.line, je.column, je.text);
    assert_non_null(d);
    return d;
}

static int uses_ds_input(json_t *ds) {
    const char *uid = json_string_value(json_object_get(ds, "uid"));
    return uid && !strcmp(uid, DS_UID);
}

/* Reports every name the expression uses that exported lacks (and calls
 * of functions PromQL lacks); returns how many. */
static int check_found(const char *where, const char *expr, found *f, const names *exported) {
    int bad = 0;
    for (size_t i = 0; i < f->metrics.n; i++)
        if (!names_has(exported, f->metrics.v[i], strlen(f->metrics.v[i]))) {
            print_error("%s: unknown series \"%s\" in: %s\n", where, f->metrics.v[i], expr);
            bad++;
        }
    for (size_t i = 0; i < f->calls.n; i++) {
        print_error("%s: unknown function \"%s\" in: %s\n", where, f->calls.v[i], expr);
        bad++;
    }
    if (!f->metrics.n) {
        print_error("%s: no series at all in: %s\n", where, expr);
        bad++;
    }
    names_free(&f->metrics);
    names_free(&f->calls);
    return bad;
}

/* Checks one panel (a row's collapsed panels too): a non-row panel needs
 * targets, each with an expr whose names are all exported, and queries
 * through the datasource input. Returns the problems found (printed). */
static int check_panel(json_t *p, const names *exported, size_t *n_exprs) {
    const char *title = json_string_value(json_object_get(p, "title"));
    const char *type = json_string_value(json_object_get(p, "type"));
    char where[256];
    snprintf(where, sizeof where, "panel \"%s\"", title ? title : "(untitled)");
    int bad = 0;
    if (type && !strcmp(type, "row")) {
        size_t k;
        json_t *sub;
        json_array_foreach(json_object_get(p, "panels"), k, sub) bad +=
                check_panel(sub, exported, n_exprs);
        return bad;
    }
    json_t *targets = json_object_get(p, "targets");
    if (!json_array_size(targets)) {
        print_error("%s: no targets\n", where);
        return 1;
    }
    if (!uses_ds_input(json_object_get(p, "datasource"))) {
        print_error("%s: datasource is not {\"uid\": \"" DS_UID "\"}\n", where);
        bad++;
    }
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t) {
        const char *ref = json_string_value(json_object_get(t, "refId"));
        char w[320];
        snprintf(w, sizeof w, "%s target %s", where, ref ? ref : "?");
        const char *expr = json_string_value(json_object_get(t, "expr"));
        if (!expr || !*expr) {
            print_error("%s: no expr\n", w);
            bad++;
            continue;
        }
        json_t *tds = json_object_get(t, "datasource");
        if (tds && !uses_ds_input(tds)) {
            print_error("%s: datasource is not {\"uid\": \"" DS_UID "\"}\n", w);
            bad++;
        }
        found f = {0};
        scan_promql(expr, &f);
        bad += check_found(w, expr, &f, exported);
        (*n_exprs)++;
    }
    return bad;
}

/* Every check of the whole dashboard; returns the problems found. */
static int check_dashboard(json_t *d, const names *exported, size_t *n_exprs) {
    int bad = 0;
    *n_exprs = 0;
    json_t *panels = json_object_get(d, "panels");
    if (!json_array_size(panels)) {
        print_error("%s: no panels\n", DASHBOARD);
        return 1;
    }
    size_t i;
    json_t *p;
    json_array_foreach(panels, i, p) bad += check_panel(p, exported, n_exprs);
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(d, "templating"), "list"), i, v) {
        const char *type = json_string_value(json_object_get(v, "type"));
        if (!type || strcmp(type, "query")) continue;
        const char *name = json_string_value(json_object_get(v, "name"));
        json_t *q = json_object_get(v, "query");
        const char *qs = json_is_string(q) ? json_string_value(q)
                                           : json_string_value(json_object_get(q, "query"));
        char w[256];
        snprintf(w, sizeof w, "variable $%s", name ? name : "?");
        if (!qs) {
            print_error("%s: no query\n", w);
            bad++;
            continue;
        }
        if (!uses_ds_input(json_object_get(v, "datasource"))) {
            print_error("%s: datasource is not {\"uid\": \"" DS_UID "\"}\n", w);
            bad++;
        }
        found f = {0};
        scan_variable_query(qs, &f);
        bad += check_found(w, qs, &f, exported);
        (*n_exprs)++;
    }
    return bad;
}

/* ------------------------------------------------------------------ */
/* What a live server exports                                          */
/* ------------------------------------------------------------------ */

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    return hone_buf_append(ud, p, sz * n) ? 0 : sz * n;
}

/* The sample names (the part of each sample line before its labels or
 * value) of /metrics of a server exporting every source the dashboard
 * graphs: a cache with hits, misses and evictions, cycles, profiler zones
 * and the process. */
static void exported_names(names *out) {
    hone_cache *c;
    hone_cache_options co = {.max_entries = 4};
    assert_int_equal(hone_cache_new(&c, &co), HONE_OK);
    for (int i = 0; i < 40; i++) {
        char k[8], v[8];
        size_t vl;
        int kl = snprintf(k, sizeof k, "k%d", i % 7);
        if (hone_cache_get(c, k, (size_t)kl, v, sizeof v, &vl) != HONE_OK)
            assert_int_equal(hone_cache_put(c, k, (size_t)kl, "v", 1), HONE_OK);
    }
    hone_cycle_collector *cy;
    assert_int_equal(hone_cycle_collector_new(&cy, NULL), HONE_OK);
    for (int i = 0; i < 3; i++) {
        hone_cycle *one;
        assert_int_equal(hone_cycle_begin(cy, "build", &one), HONE_OK);
        hone_cycle_hit(one);
        hone_cycle_end(one, i != 1);
    }
    hone_prof_enable(1);
    for (int i = 0; i < 10; i++) {
        HONE_ZONE("grafana_test_outer");
        {
            HONE_ZONE("grafana_test_inner");
        }
    }
    hone_server *s = NULL;
    hone_error err = {0};
    hone_server_opts o = {.cycles = cy};
    int rc = hone_server_start(&s, &o, &err);
    if (rc) print_error("hone_server_start: %s\n", err.msg);
    assert_int_equal(rc, HONE_OK);
    assert_int_equal(hone_server_add_cache(s, "sessions", c), HONE_OK);

    hone_buf b;
    hone_buf_init(&b, NULL);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/metrics", hone_server_port(s));
    CURL *h = curl_easy_init();
    assert_non_null(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    long code = 0;
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    hone_server_stop(s);
    hone_prof_enable(0);
    hone_cycle_collector_free(cy);
    hone_cache_free(c);
    assert_int_equal(code, 200);
    assert_non_null(b.data);

    for (const char *p = b.data; *p;) {
        const char *e = strchr(p, '\n');
        size_t ll = e ? (size_t)(e - p) : strlen(p);
        if (ll && *p != '#') {
            size_t n = 0;
            while (n < ll && p[n] != '{' && p[n] != ' ') n++;
            names_add(out, p, n);
        }
        p += ll + (e ? 1 : 0);
    }
    hone_buf_free(&b);
    /* The sources the dashboard needs are all there. */
    const char *must[] = {"hone_server_requests_total", "hone_cache_hits_total", "hone_cycles",
                          "hone_zone_duration_seconds", "process_resident_memory_bytes"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
        if (!names_has(out, must[i], strlen(must[i])))
            print_error("the server's /metrics lacks %s\n", must[i]);
        assert_true(names_has(out, must[i], strlen(must[i])));
    }
}

/* ------------------------------------------------------------------ */

/* The scanner on expressions with a known answer. */
static void scanner(void **state) {
    (void)state;
    static const struct {
        const char *expr, *want; /* want: the metric names, space-separated, in order */
    } cases[] = {
            {"up", "up"},
            {"sum by (cache, reason) (rate(hone_cache_evictions_total{instance=~\"$instance\","
             "cache=~\"a{b}\"}[$__rate_interval]))",
             "hone_cache_evictions_total"},
            {"sum(rate(a_total[5m] offset 1h30m)) by (job) / on(instance) group_left(kind) "
             "b_bytes > bool 0.5 and ignoring (x) c unless d or e{x='y \"z'} * 1e3",
             "a_total b_bytes c d e"},
            {"histogram_quantile(0.99, sum without (le) (rate(x_bucket[${__range}]))) * $scale"
             " / ${k}",
             "x_bucket"},
            {"max_over_time(m:rec:rate5m[10m:1m]) @ start() + Inf + NaN - AND_NOT_A_KEYWORD",
             "m:rec:rate5m AND_NOT_A_KEYWORD"},
            {"topk(5, q) # a comment naming not_a_series\n", "q"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        found f = {0};
        scan_promql(cases[i].expr, &f);
        char got[256] = "";
        for (size_t k = 0; k < f.metrics.n; k++) {
            if (k) strcat(got, " ");
            strcat(got, f.metrics.v[k]);
        }
        if (strcmp(got, cases[i].want))
            print_error("scan of %s\n  got  \"%s\"\n  want \"%s\"\n", cases[i].expr, got,
                        cases[i].want);
        assert_string_equal(got, cases[i].want);
        assert_int_equal(f.calls.n, 0);
        names_free(&f.metrics);
        names_free(&f.calls);
    }
    /* A misspelled function is not taken for a series, and is reported. */
    found f = {0};
    scan_promql("sum(rat(x_total[1m]))", &f);
    assert_int_equal(f.calls.n, 1);
    assert_string_equal(f.calls.v[0], "rat");
    names_free(&f.metrics);
    names_free(&f.calls);
    /* Grafana variable queries. */
    scan_variable_query("label_values(hone_cache_entries{instance=~\"$instance\", a=\"b\"}, cache)",
                        &f);
    assert_int_equal(f.metrics.n, 1);
    assert_string_equal(f.metrics.v[0], "hone_cache_entries");
    names_free(&f.metrics);
    scan_variable_query("label_values(instance)", &f);
    assert_int_equal(f.metrics.n, 0);
    names_free(&f.metrics);
    names_free(&f.calls);
}

/* The file itself: JSON, importable anywhere, with panels. */
static void dashboard_importable(void **state) {
    (void)state;
    json_t *d = load_dashboard();
    json_int_t schema = json_integer_value(json_object_get(d, "schemaVersion"));
    if (schema < MIN_SCHEMA) print_error("schemaVersion %lld, want >= %d\n", (long long)schema,
                                         MIN_SCHEMA);
    assert_true(schema >= MIN_SCHEMA);
    int has_input = 0;
    size_t i;
    json_t *in;
    json_array_foreach(json_object_get(d, "__inputs"), i, in) {
        const char *name = json_string_value(json_object_get(in, "name"));
        const char *plugin = json_string_value(json_object_get(in, "pluginId"));
        const char *type = json_string_value(json_object_get(in, "type"));
        has_input |= name && plugin && type && !strcmp(name, "DS_PROMETHEUS") &&
                     !strcmp(plugin, "prometheus") && !strcmp(type, "datasource");
    }
    if (!has_input) print_error("__inputs lacks the datasource DS_PROMETHEUS (prometheus)\n");
    assert_true(has_input);
    /* An importing Grafana keeps ids as they are: they must be unique. */
    json_t *panels = json_object_get(d, "panels");
    assert_true(json_array_size(panels) > 0);
    json_t *p, *q;
    size_t k;
    json_array_foreach(panels, i, p) {
        json_int_t id = json_integer_value(json_object_get(p, "id"));
        assert_true(id > 0);
        assert_true(json_is_object(json_object_get(p, "gridPos")));
        json_array_foreach(panels, k, q) if (k > i) {
            if (json_integer_value(json_object_get(q, "id")) == id)
                print_error("panel id %lld appears twice\n", (long long)id);
            assert_true(json_integer_value(json_object_get(q, "id")) != id);
        }
    }
    json_decref(d);
}

/* Every series the dashboard queries is one the server exports. */
static void dashboard_series_exported(void **state) {
    (void)state;
    names exported = {0};
    exported_names(&exported);
    json_t *d = load_dashboard();
    size_t n_exprs;
    int bad = check_dashboard(d, &exported, &n_exprs);
    if (bad) {
        print_error("%d problem(s) in %s; the server exports:\n", bad, DASHBOARD);
        for (size_t i = 0; i < exported.n; i++) print_error("  %s\n", exported.v[i]);
    }
    assert_int_equal(bad, 0);
    assert_true(n_exprs > 0);
    json_decref(d);
    names_free(&exported);
}

/* The check has teeth: one series misspelled in one panel's expression is
 * caught, and nothing else is. */
static void misspelling_caught(void **state) {
    (void)state;
    names exported = {0};
    exported_names(&exported);
    json_t *d = load_dashboard();
    json_t *t = NULL;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(d, "panels"), i, p) {
        t = json_array_get(json_object_get(p, "targets"), 0);
        if (t) break;
    }
    assert_non_null(t);
    const char *expr = json_string_value(json_object_get(t, "expr"));
    assert_non_null(expr);
    found f = {0};
    scan_promql(expr, &f);
    assert_true(f.metrics.n > 0);
    /* A typo: the last letter doubled ("..._total" -> "..._totall"). */
    char *bad_name = malloc(strlen(f.metrics.v[0]) + 2);
    assert_non_null(bad_name);
    sprintf(bad_name, "%s%c", f.metrics.v[0], f.metrics.v[0][strlen(f.metrics.v[0]) - 1]);
    assert_false(names_has(&exported, bad_name, strlen(bad_name)));
    /* Replace each whole-word occurrence of the name in the expression. */
    hone_buf nb;
    hone_buf_init(&nb, NULL);
    size_t nl = strlen(f.metrics.v[0]);
    for (const char *s = expr; *s;) {
        if (!strncmp(s, f.metrics.v[0], nl) && !ident_char(s[nl]) &&
            (s == expr || !ident_char(s[-1]))) {
            assert_int_equal(hone_buf_puts(&nb, bad_name), HONE_OK);
            s += nl;
        } else {
            assert_int_equal(hone_buf_append(&nb, s, 1), HONE_OK);
            s++;
        }
    }
    assert_int_equal(json_object_set_new(t, "expr", json_string(nb.data)), 0);
    print_message("misspelling %s as %s; the check should report it:\n", f.metrics.v[0], bad_name);
    size_t n_exprs;
    int bad = check_dashboard(d, &exported, &n_exprs);
    assert_int_equal(bad, 1);
    names_free(&f.metrics);
    names_free(&f.calls);
    free(bad_name);
    hone_buf_free(&nb);
    json_decref(d);
    names_free(&exported);
}

static int setup(void **state) {
    (void)state;
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    curl_global_cleanup();
    return 0;
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(scanner),
        cmocka_unit_test(dashboard_importable),
        cmocka_unit_test(dashboard_series_exported),
        cmocka_unit_test(misspelling_caught),
};
HONE_TEST_MAIN_FIXTURES(tests, setup, teardown)
