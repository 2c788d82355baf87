/* alerts.c - alerts with two thresholds and a for-duration on both edges.
 *
 * Each rule is a small state machine over the values fed for its metric
 * (wrong side: value >= fire when `above`, value <= fire otherwise; back:
 * value < clear when `above`, value > clear otherwise):
 *
 *   OK        --wrong-->                 PENDING (since = now), or FIRING at
 *                                         once when for_ns is 0
 *   PENDING   --wrong, now-since >= for-> FIRING   (event: firing)
 *   PENDING   --not wrong-->             OK       (no event: it never fired)
 *   FIRING    --back-->                  RESOLVING (since = now), or OK at
 *                                         once when for_ns is 0
 *   RESOLVING --back, now-since >= for-> OK       (event: resolved)
 *   RESOLVING --not back-->              FIRING   (no event: it never left)
 *
 * So a value wandering between clear and fire changes nothing, and a
 * crossing must hold for for_ns before it counts: that is what keeps a
 * noisy signal near one threshold from flapping.
 *
 * Events are delivered after the state lock is released (the callback may
 * read the alerts with hone_opt_alerts_format), one observe at a time
 * (deliveries are serialised, so a callback sees the transitions of each
 * rule in order); a callback must not call hone_opt_alerts_observe. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hone/opt.h"
#include "opt/opt_internal.h"

#define NAME_MAX_LEN 63
#define METRIC_MAX_LEN 159

typedef struct arule {
    char name[NAME_MAX_LEN + 1];
    char metric[METRIC_MAX_LEN + 1];
    int above;
    double fire, clear;
    uint64_t for_ns;
    int state;
    uint64_t since_ns;  /* when the pending crossing began */
    uint64_t first_ns;  /* for events: when the metric first crossed */
    double value;       /* last value seen */
    int has_value;
    uint64_t transitions;
    hone_metric *m_active, *m_transitions;
} arule;

struct hone_opt_alerts {
    const hone_allocator *alloc;
    hone_opt_alert_fn fn;
    void *ctx;
    int log;
    hone_metrics *metrics;
    pthread_mutex_t mu;         /* rules and their states */
    pthread_mutex_t deliver_mu; /* one observe's events delivered at a time */
    arule *r;
    size_t n, cap;
};

const char *hone_opt_alert_state_name(int s) {
    static const char *const names[] = {"ok", "pending", "firing", "resolving"};
    return s >= 0 && s <= HONE_ALERT_RESOLVING ? names[s] : "unknown";
}

int hone_opt_alerts_new(hone_opt_alerts **out, const hone_opt_alerts_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    const hone_allocator *a = opts ? opts->alloc : NULL;
    hone_opt_alerts *x = hone_calloc(a, 1, sizeof *x);
    if (!x) return HONE_ENOMEM;
    x->alloc = a;
    if (opts) {
        x->fn = opts->fn;
        x->ctx = opts->ctx;
        x->log = opts->log;
        x->metrics = opts->metrics;
    }
    pthread_mutex_init(&x->mu, NULL);
    pthread_mutex_init(&x->deliver_mu, NULL);
    *out = x;
    return HONE_OK;
}

void hone_opt_alerts_free(hone_opt_alerts *a) {
    if (!a) return;
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->deliver_mu);
    hone_free(a->alloc, a->r);
    hone_free(a->alloc, a);
}

static int valid_name(const char *s) {
    if (!s || !*s || strlen(s) > NAME_MAX_LEN) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-') return 0;
    return 1;
}

static int check_rule(const hone_opt_alert_rule *r, hone_error *err) {
    if (!r) return hone_error_set(err, HONE_EINVAL, "alert: no rule");
    if (!valid_name(r->name))
        return hone_error_set(err, HONE_EINVAL,
                              "alert name '%.80s': expected 1 to %d of A-Z a-z 0-9 _ . -",
                              r->name ? r->name : "(null)", NAME_MAX_LEN);
    if (!r->metric || !*r->metric)
        return hone_error_set(err, HONE_EINVAL, "alert %s: no metric", r->name);
    if (strlen(r->metric) > METRIC_MAX_LEN)
        return hone_error_set(err, HONE_EINVAL, "alert %s: metric longer than %d bytes", r->name,
                              METRIC_MAX_LEN);
    if (!isfinite(r->fire) || !isfinite(r->clear))
        return hone_error_set(err, HONE_EINVAL, "alert %s: thresholds must be finite numbers", r->name);
    if (r->above && r->fire < r->clear)
        return hone_error_set(err, HONE_EINVAL,
                              "alert %s: fires above %g but clears at %g: clear must be at or below "
                              "the fire threshold",
                              r->name, r->fire, r->clear);
    if (!r->above && r->fire > r->clear)
        return hone_error_set(err, HONE_EINVAL,
                              "alert %s: fires below %g but clears at %g: clear must be at or above "
                              "the fire threshold",
                              r->name, r->fire, r->clear);
    return HONE_OK;
}

/* Adds under a->mu. */
static int add_locked(hone_opt_alerts *a, const hone_opt_alert_rule *r, hone_error *err) {
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->r[i].name, r->name))
            return hone_error_set(err, HONE_EEXIST, "alert %s: already defined", r->name);
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        arule *v = hone_realloc(a->alloc, a->r, cap * sizeof *v);
        if (!v) return hone_error_set(err, HONE_ENOMEM, "alert %s: out of memory", r->name);
        a->r = v;
        a->cap = cap;
    }
    arule *x = &a->r[a->n];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", r->name);
    snprintf(x->metric, sizeof x->metric, "%s", r->metric);
    x->above = r->above != 0;
    x->fire = r->fire;
    x->clear = r->clear;
    x->for_ns = r->for_ns;
    if (a->metrics) {
        const char *labels[] = {"alert", x->name, NULL};
        int rc = hone_metrics_gauge(a->metrics, "hone_alert_active",
                                    "1 while the alert is firing, else 0", labels, &x->m_active, err);
        if (!rc)
            rc = hone_metrics_counter(a->metrics, "hone_alert_transitions_total",
                                      "Times the alert started firing or resolved", labels,
                                      &x->m_transitions, err);
        if (rc) return rc;
        hone_metric_set(x->m_active, 0);
    }
    a->n++;
    return HONE_OK;
}

int hone_opt_alerts_add(hone_opt_alerts *a, const hone_opt_alert_rule *r, hone_error *err) {
    if (!a) return hone_error_set(err, HONE_EINVAL, "alert: no alerts object");
    int rc = check_rule(r, err);
    if (rc) return rc;
    pthread_mutex_lock(&a->mu);
    rc = add_locked(a, r, err);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Observing                                                           */
/* ------------------------------------------------------------------ */

#define EVBATCH 16

static void fmt_for(char *buf, size_t n, uint64_t ns) {
    if (ns >= 60000000000ull && ns % 60000000000ull == 0)
        snprintf(buf, n, "%llu min", (unsigned long long)(ns / 60000000000ull));
    else if (ns >= 1000000000ull) snprintf(buf, n, "%g s", (double)ns / 1e9);
    else if (ns >= 1000000ull) snprintf(buf, n, "%g ms", (double)ns / 1e6);
    else snprintf(buf, n, "%llu ns", (unsigned long long)ns);
}

/* Records a transition of x into ev. */
static void transition(arule *x, int firing, double v, uint64_t now, hone_opt_alert_event *ev) {
    x->state = firing ? HONE_ALERT_FIRING : HONE_ALERT_OK;
    x->transitions++;
    if (x->m_active) hone_metric_set(x->m_active, firing ? 1 : 0);
    if (x->m_transitions) hone_metric_inc(x->m_transitions);
    memset(ev, 0, sizeof *ev);
    ev->name = x->name;
    ev->metric = x->metric;
    ev->firing = firing;
    ev->value = v;
    ev->threshold = firing ? x->fire : x->clear;
    ev->since_ns = x->first_ns;
    ev->at_ns = now;
    char d[32];
    fmt_for(d, sizeof d, now - x->first_ns);
    const char *op = firing ? (x->above ? ">=" : "<=") : (x->above ? "<" : ">");
    snprintf(ev->message, sizeof ev->message, "%s: %.60s = %.6g %s %.6g for %s (%s)", x->name,
             x->metric, v, op, ev->threshold, d, firing ? "firing" : "resolved");
}

/* Advances x by one value; returns 1 with *ev filled on a transition. */
static int step(arule *x, double v, uint64_t now, hone_opt_alert_event *ev) {
    int wrong = x->above ? v >= x->fire : v <= x->fire;
    int back = x->above ? v < x->clear : v > x->clear;
    x->value = v;
    x->has_value = 1;
    switch (x->state) {
    case HONE_ALERT_OK:
        if (!wrong) return 0;
        x->since_ns = x->first_ns = now;
        if (x->for_ns == 0) {
            transition(x, 1, v, now, ev);
            return 1;
        }
        x->state = HONE_ALERT_PENDING;
        return 0;
    case HONE_ALERT_PENDING:
        if (!wrong) {
            x->state = HONE_ALERT_OK;
            return 0;
        }
        if (now - x->since_ns >= x->for_ns) {
            transition(x, 1, v, now, ev);
            return 1;
        }
        return 0;
    case HONE_ALERT_FIRING:
        if (!back) return 0;
        x->since_ns = x->first_ns = now;
        if (x->for_ns == 0) {
            transition(x, 0, v, now, ev);
            return 1;
        }
        x->state = HONE_ALERT_RESOLVING;
        return 0;
    default: /* RESOLVING */
        if (!back) {
            x->state = HONE_ALERT_FIRING;
            return 0;
        }
        if (now - x->since_ns >= x->for_ns) {
            transition(x, 0, v, now, ev);
            return 1;
        }
        return 0;
    }
}

static void deliver(hone_opt_alerts *a, const hone_opt_alert_event *ev, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (a->log)
            hone_log(ev[i].firing ? HONE_LOG_WARN : HONE_LOG_INFO, "opt", "alert %s", ev[i].message);
        if (a->fn) a->fn(a->ctx, &ev[i]);
    }
}

void hone_opt_alerts_observe(hone_opt_alerts *a, const char *metric, double value,
                             uint64_t now_ns) {
    if (!a || !metric || isnan(value)) return;
    /* Events point into rule names: copies in a local batch keep them valid
     * after the lock is dropped (rules are never removed). */
    hone_opt_alert_event ev[EVBATCH];
    pthread_mutex_lock(&a->deliver_mu);
    size_t i = 0;
    for (;;) {
        size_t nev = 0;
        pthread_mutex_lock(&a->mu);
        for (; i < a->n && nev < EVBATCH; i++) {
            if (strcmp(a->r[i].metric, metric)) continue;
            if (step(&a->r[i], value, now_ns, &ev[nev])) {
                /* name and metric point into a->r, which add may move:
                 * rebase them on a stable copy below. */
                nev++;
            }
        }
        size_t done = i >= a->n;
        /* Copy names out while still locked. */
        char names[EVBATCH][NAME_MAX_LEN + 1];
        char metrics[EVBATCH][METRIC_MAX_LEN + 1];
        for (size_t k = 0; k < nev; k++) {
            snprintf(names[k], sizeof names[k], "%s", ev[k].name);
            snprintf(metrics[k], sizeof metrics[k], "%s", ev[k].metric);
            ev[k].name = names[k];
            ev[k].metric = metrics[k];
        }
        pthread_mutex_unlock(&a->mu);
        deliver(a, ev, nev);
        if (done) break;
    }
    pthread_mutex_unlock(&a->deliver_mu);
}

static void observe_fmt(hone_opt_alerts *a, uint64_t now, double v, const char *fmt,
                        const char *name) {
    char metric[METRIC_MAX_LEN + 1];
    snprintf(metric, sizeof metric, fmt, name);
    hone_opt_alerts_observe(a, metric, v, now);
}

void hone_opt_alerts_observe_report(hone_opt_alerts *a, const hone_opt_report *r) {
    if (!a || !r) return;
    uint64_t t = r->end_ns;
    for (size_t i = 0; i < r->nzones; i++) {
        const hone_opt_zone_stat *z = &r->zones[i];
        if (!z->count) continue;
        observe_fmt(a, t, (double)z->p99_ns / 1e6, "zone.%s.p99_ms", z->name);
        observe_fmt(a, t, (double)z->p90_ns / 1e6, "zone.%s.p90_ms", z->name);
        observe_fmt(a, t, (double)z->p50_ns / 1e6, "zone.%s.p50_ms", z->name);
        observe_fmt(a, t, z->mean_ns / 1e6, "zone.%s.mean_ms", z->name);
        observe_fmt(a, t, z->per_sec, "zone.%s.per_sec", z->name);
    }
    for (size_t i = 0; i < r->ncaches; i++) {
        const hone_opt_cache_stat *c = &r->caches[i];
        uint64_t look = c->hits + c->misses;
        if (look) observe_fmt(a, t, 100.0 * (double)c->hits / (double)look, "cache.%s.hit_rate", c->name);
        observe_fmt(a, t, c->utilization, "cache.%s.utilization", c->name);
        observe_fmt(a, t, (double)c->memory_bytes / 1048576.0, "cache.%s.memory_mb", c->name);
    }
    for (size_t i = 0; i < r->nbatchers; i++) {
        const hone_opt_batcher_stat *b = &r->batchers[i];
        if (b->st.items) observe_fmt(a, t, b->st.latency_p99_ns / 1e6, "batcher.%s.p99_ms", b->name);
        observe_fmt(a, t, (double)b->st.rejected, "batcher.%s.rejected", b->name);
    }
    for (size_t i = 0; i < r->nhttps; i++) {
        const hone_http_stats *h = &r->https[i].st;
        if (h->attempts) {
            /* An attempt failed when it got no response or a 5xx. */
            double failed = (double)(h->errors + h->responses_5xx);
            observe_fmt(a, t, 100.0 * failed / (double)h->attempts, "http.%s.error_rate", r->https[i].name);
            observe_fmt(a, t, 100.0 * (double)h->retries / (double)h->attempts, "http.%s.retry_rate",
                        r->https[i].name);
        }
    }
    if (r->has_process) {
        hone_opt_alerts_observe(a, "process.cpu_percent", r->process.cpu_percent, t);
        hone_opt_alerts_observe(a, "process.rss_mb", (double)r->process.rss_end / 1048576.0, t);
    }
}

/* ------------------------------------------------------------------ */
/* Formatting                                                          */
/* ------------------------------------------------------------------ */

int hone_opt_alerts_format(hone_opt_alerts *a, hone_buf *out, int json) {
    if (!a || !out) return HONE_EINVAL;
    size_t len0 = out->len;
    pthread_mutex_lock(&a->mu);
    int rc = HONE_OK;
    if (json) {
        rc = hone_buf_puts(out, "[");
        for (size_t i = 0; i < a->n && !rc; i++) {
            const arule *x = &a->r[i];
            rc = hone_buf_puts(out, i ? ",{\"name\":" : "{\"name\":");
            if (!rc) rc = hone_buf_json_string(out, x->name);
            if (!rc) rc = hone_buf_puts(out, ",\"metric\":");
            if (!rc) rc = hone_buf_json_string(out, x->metric);
            if (!rc)
                rc = hone_buf_printf(out,
                                     ",\"above\":%s,\"fire\":%.17g,\"clear\":%.17g,\"for_ns\":%llu,"
                                     "\"state\":\"%s\",\"value\":",
                                     x->above ? "true" : "false", x->fire, x->clear,
                                     (unsigned long long)x->for_ns, hone_opt_alert_state_name(x->state));
            if (!rc && x->has_value && isfinite(x->value)) rc = hone_buf_printf(out, "%.17g", x->value);
            else if (!rc) rc = hone_buf_puts(out, "null");
            if (!rc)
                rc = hone_buf_printf(out, ",\"transitions\":%llu}", (unsigned long long)x->transitions);
        }
        if (!rc) rc = hone_buf_puts(out, "]\n");
    } else {
        if (!a->n) rc = hone_buf_puts(out, "no alerts defined\n");
        else
            rc = hone_buf_printf(out, "%-24s %-32s %-10s %12s %11s  %s\n", "alert", "metric", "state",
                                 "last", "transitions", "rule");
        for (size_t i = 0; i < a->n && !rc; i++) {
            const arule *x = &a->r[i];
            char last[32], d[32];
            if (x->has_value) snprintf(last, sizeof last, "%.6g", x->value);
            else snprintf(last, sizeof last, "-");
            fmt_for(d, sizeof d, x->for_ns);
            rc = hone_buf_printf(out, "%-24s %-32s %-10s %12s %11llu  %s %g, clear %s %g, for %s\n",
                                 x->name, x->metric, hone_opt_alert_state_name(x->state), last,
                                 (unsigned long long)x->transitions, x->above ? ">=" : "<=", x->fire,
                                 x->above ? "<" : ">", x->clear, d);
        }
    }
    pthread_mutex_unlock(&a->mu);
    if (rc && out->data) {
        out->len = len0;
        out->data[len0] = '\0';
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Loading [alert.NAME] sections                                       */
/* ------------------------------------------------------------------ */

/* Debian's libinih gives its handler no line number, so the reader counts
 * the lines it hands over: when the handler runs, `line` is the line it
 * is called for. */
typedef struct lreader {
    FILE *f;
    long line;      /* line of the chunk last returned */
    int at_bol;     /* the next chunk starts a line */
    long header_line; /* line of the last [section] header read */
} lreader;

static char *read_line(char *str, int num, void *stream) {
    lreader *lr = stream;
    char *s = fgets(str, num, lr->f);
    if (!s) return NULL;
    size_t len = strlen(s);
    int bol = lr->at_bol;
    lr->at_bol = len > 0 && s[len - 1] == '\n';
    if (bol) {
        lr->line++;
        /* A whole line is normalised as the settings loader does (inline
         * comments, CRLF, BOM), so one file reads the same to both. */
        if ((lr->at_bol || feof(lr->f)) && len + 1 < (size_t)num) {
            const char *p = s;
            size_t n = hone__ini_trim(&p, lr->at_bol ? len - 1 : len, lr->line == 1);
            memmove(s, p, n);
            s[n] = '\n';
            s[n + 1] = '\0';
        }
        const char *p = s;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '[') lr->header_line = lr->line;
    }
    return s;
}

typedef struct pending {
    char name[NAME_MAX_LEN + 1];
    char metric[METRIC_MAX_LEN + 1];
    int have_metric, have_fire, have_clear, have_for;
    int above;
    double fire, clear;
    uint64_t for_ns;
    long line; /* its [alert.NAME] header */
} pending;

typedef struct lctx {
    const char *path;
    lreader *lr;
    pending *v;
    size_t n, cap;
    const hone_allocator *alloc;
    char section[128];
    int rc;
    long err_line;
    hone_error err;
} lctx;

static int lfail(lctx *c, long line, int code, const char *fmt, ...) HONE_PRINTF(4, 5);
static int lfail(lctx *c, long line, int code, const char *fmt, ...) {
    if (c->rc) return 0;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hone_error_set_at(&c->err, code, line, 0, -1, "%s:%ld: %s", c->path, line, msg);
    c->rc = code;
    c->err_line = line;
    return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
    lctx *c = user;
    if (c->rc) return 0;
    long line = c->lr->line;
    if (strncmp(section, "alert.", 6)) return 1; /* the settings loader's */
    const char *an = section + 6;
    pending *p = c->n ? &c->v[c->n - 1] : NULL;
    if (!p || strcmp(c->section, section)) {
        long hl = c->lr->header_line ? c->lr->header_line : line;
        if (!valid_name(an))
            return lfail(c, hl, HONE_EPARSE,
                         "[%.80s]: alert name '%.80s': expected 1 to %d of A-Z a-z 0-9 _ . -",
                         section, an, NAME_MAX_LEN);
        for (size_t i = 0; i < c->n; i++)
            if (!strcmp(c->v[i].name, an))
                return lfail(c, hl, HONE_EPARSE, "[%.80s] appears twice (first at line %ld)",
                             section, c->v[i].line);
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 4;
            pending *v = hone_realloc(c->alloc, c->v, cap * sizeof *v);
            if (!v) return lfail(c, line, HONE_ENOMEM, "out of memory");
            c->v = v;
            c->cap = cap;
        }
        p = &c->v[c->n++];
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, "%s", an);
        snprintf(c->section, sizeof c->section, "%s", section);
        p->line = hl;
    }
    hone_error e;
    if (!strcmp(name, "metric")) {
        if (p->have_metric) return lfail(c, line, HONE_EPARSE, "alert.%s.metric set twice", p->name);
        if (!*value || strlen(value) > METRIC_MAX_LEN)
            return lfail(c, line, HONE_EPARSE, "alert.%s.metric: expected a metric name of 1 to %d "
                         "bytes (zone.NAME.p99_ms, cache.NAME.hit_rate, ...)", p->name, METRIC_MAX_LEN);
        snprintf(p->metric, sizeof p->metric, "%s", value);
        p->have_metric = 1;
    } else if (!strcmp(name, "above") || !strcmp(name, "below")) {
        if (p->have_fire)
            return lfail(c, line, HONE_EPARSE, "alert.%s: give one of above and below, once", p->name);
        if (hone_parse_double(name, value, -1e300, 1e300, &p->fire, &e))
            return lfail(c, line, HONE_EPARSE, "alert.%s.%s", p->name, e.msg);
        p->above = name[0] == 'a';
        p->have_fire = 1;
    } else if (!strcmp(name, "clear")) {
        if (p->have_clear) return lfail(c, line, HONE_EPARSE, "alert.%s.clear set twice", p->name);
        if (hone_parse_double("clear", value, -1e300, 1e300, &p->clear, &e))
            return lfail(c, line, HONE_EPARSE, "alert.%s.%s", p->name, e.msg);
        p->have_clear = 1;
    } else if (!strcmp(name, "for")) {
        if (p->have_for) return lfail(c, line, HONE_EPARSE, "alert.%s.for set twice", p->name);
        if (hone_parse_duration("for", value, 1000000000ull, &p->for_ns, &e))
            return lfail(c, line, HONE_EPARSE, "alert.%s.%s", p->name, e.msg);
        p->have_for = 1;
    } else {
        static const char *const keys[] = {"metric", "above", "below", "clear", "for"};
        const char *near = hone_nearest_name(name, keys, sizeof keys / sizeof keys[0]);
        return lfail(c, line, HONE_EPARSE, "alert.%s: unknown key '%.60s'%s%s%s (keys: metric, "
                     "above or below, clear, for)", p->name, name, near ? " (did you mean '" : "",
                     near ? near : "", near ? "'?)" : "");
    }
    return 1;
}

int hone_opt_alerts_load(hone_opt_alerts *a, const char *path, hone_error *err) {
    if (!a) return hone_error_set(err, HONE_EINVAL, "alerts: no alerts object");
    char *owned = NULL;
    if (!path) {
        hone_error pe;
        int rc = hone_opt_config_path(&owned, a->alloc, &pe);
        if (rc == HONE_ENOTFOUND) return HONE_OK;
        if (rc) {
            if (err) *err = pe;
            return rc;
        }
        path = owned;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        hone_free(a->alloc, owned);
        if (e == ENOENT) return HONE_OK;
        return hone_error_set(err, hone_status_from_errno(e), "%s: %s", path ? path : "", strerror(e));
    }
    lreader lr = {f, 0, 1, 0};
    lctx c = {.path = path, .lr = &lr, .alloc = a->alloc};
    int ir = ini_parse_stream(read_line, &lr, handler, &c);
    fclose(f);
    if (!c.rc && ir > 0)
        lfail(&c, ir, HONE_EPARSE, "not an INI line (expected [section], key = value or a comment)");
    else if (c.rc == HONE_EPARSE && ir > 0 && ir < c.err_line) {
        /* inih met a malformed line before the handler's complaint. */
        c.rc = 0;
        lfail(&c, ir, HONE_EPARSE, "not an INI line (expected [section], key = value or a comment)");
    } else if (!c.rc && ir < 0)
        lfail(&c, 0, HONE_ENOMEM, "out of memory reading the file");
    /* Each section complete? */
    for (size_t i = 0; i < c.n && !c.rc; i++) {
        pending *p = &c.v[i];
        if (!p->have_metric) lfail(&c, p->line, HONE_EPARSE, "[alert.%s]: no metric", p->name);
        else if (!p->have_fire)
            lfail(&c, p->line, HONE_EPARSE, "[alert.%s]: no threshold: give above = N or below = N",
                  p->name);
        if (!p->have_clear) p->clear = p->fire;
        hone_opt_alert_rule r = {p->name, p->metric, p->above, p->fire, p->clear, p->for_ns};
        hone_error e;
        if (!c.rc && check_rule(&r, &e)) lfail(&c, p->line, HONE_EPARSE, "%s", e.msg);
    }
    /* All or nothing. */
    if (!c.rc) {
        pthread_mutex_lock(&a->mu);
        size_t n0 = a->n;
        for (size_t i = 0; i < c.n && !c.rc; i++) {
            hone_opt_alert_rule r = {c.v[i].name, c.v[i].metric, c.v[i].above, c.v[i].fire,
                                     c.v[i].clear, c.v[i].for_ns};
            hone_error e;
            int rc = add_locked(a, &r, &e);
            if (rc == HONE_EEXIST) lfail(&c, c.v[i].line, HONE_EEXIST, "%s", e.msg);
            else if (rc) lfail(&c, c.v[i].line, rc, "%s", e.msg);
        }
        if (c.rc) a->n = n0;
        pthread_mutex_unlock(&a->mu);
    }
    hone_free(a->alloc, c.v);
    if (c.rc && err) *err = c.err;
    hone_free(a->alloc, owned);
    return c.rc;
}
