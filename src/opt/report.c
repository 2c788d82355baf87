/* report.c - the optimizer's report: what watched caches, batchers, HTTP
 * clients, the profiler's zones and the process did over a window, as
 * differences of each component's lifetime counters between the window's
 * start and its end; formatted as a table or JSON, read back from that
 * JSON, or made from a running hone server's /api endpoints. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hone/opt.h"
#include "hone/prof.h"

/* ------------------------------------------------------------------ */
/* Monitor                                                             */
/* ------------------------------------------------------------------ */

enum { W_CACHE, W_BATCHER, W_HTTP };

typedef struct watch {
    char name[64];
    int kind;
    void *obj;
    size_t batch_size;
    uint64_t max_wait_ns;
    hone_cache_stats cache0;     /* lifetime stats at the window's start */
    hone_batcher_stats batch0;
    hone_http_stats http0;
    double peak_util;            /* highest utilization sampled in the window */
} watch;

struct hone_opt_monitor {
    const hone_allocator *alloc;
    hone_clock_fn clock;
    void *clock_ctx;
    int zones, process;
    pthread_mutex_t mu; /* the watch list and the baselines */
    watch *w;
    size_t n, cap;
    int begun;
    uint64_t start_ns;
    hone_process_stats proc0;
    int have_proc0;
};

static uint64_t mon_now(const hone_opt_monitor *m) {
    return m->clock ? m->clock(m->clock_ctx) : hone_now_ns();
}

int hone_opt_monitor_new(hone_opt_monitor **out, const hone_opt_monitor_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    const hone_allocator *a = opts ? opts->alloc : NULL;
    hone_opt_monitor *m = hone_calloc(a, 1, sizeof *m);
    if (!m) return HONE_ENOMEM;
    m->alloc = a;
    if (opts) {
        m->clock = opts->clock;
        m->clock_ctx = opts->clock_ctx;
        m->zones = opts->zones;
        m->process = opts->process;
    }
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return HONE_OK;
}

void hone_opt_monitor_free(hone_opt_monitor *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    hone_free(m->alloc, m->w);
    hone_free(m->alloc, m);
}

static void baseline(watch *w) {
    switch (w->kind) {
    case W_CACHE:
        hone_cache_stats_lifetime(w->obj, &w->cache0);
        w->peak_util = w->cache0.utilization;
        break;
    case W_BATCHER: hone_batcher_stats_get(w->obj, &w->batch0); break;
    default: hone_http_stats_get(w->obj, &w->http0); break;
    }
}

static int add_watch(hone_opt_monitor *m, const char *name, int kind, void *obj, size_t bs,
                     uint64_t mw) {
    if (!m || !name || !*name || strlen(name) >= sizeof(((watch *)0)->name) || !obj)
        return HONE_EINVAL;
    int rc = HONE_OK;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->w[i].name, name)) rc = HONE_EEXIST;
    if (!rc && m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 4;
        watch *v = hone_realloc(m->alloc, m->w, cap * sizeof *v);
        if (!v) rc = HONE_ENOMEM;
        else {
            m->w = v;
            m->cap = cap;
        }
    }
    if (!rc) {
        watch *w = &m->w[m->n++];
        memset(w, 0, sizeof *w);
        snprintf(w->name, sizeof w->name, "%s", name);
        w->kind = kind;
        w->obj = obj;
        w->batch_size = bs;
        w->max_wait_ns = mw;
        baseline(w); /* a watch added mid-window counts from now */
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int hone_opt_watch_cache(hone_opt_monitor *m, const char *name, hone_cache *c) {
    return add_watch(m, name, W_CACHE, c, 0, 0);
}
int hone_opt_watch_batcher(hone_opt_monitor *m, const char *name, hone_batcher *b,
                           size_t batch_size, uint64_t max_wait_ns) {
    return add_watch(m, name, W_BATCHER, b, batch_size, max_wait_ns);
}
int hone_opt_watch_http(hone_opt_monitor *m, const char *name, hone_http_client *c) {
    return add_watch(m, name, W_HTTP, c, 0, 0);
}

void hone_opt_unwatch(hone_opt_monitor *m, const char *name) {
    if (!m || !name) return;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n; i++) {
        if (!strcmp(m->w[i].name, name)) {
            memmove(&m->w[i], &m->w[i + 1], (m->n - i - 1) * sizeof *m->w);
            m->n--;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
}

/* Starts the profiler's interval anew so the next snapshot is exactly the
 * window's. */
static int zones_reset(const hone_opt_monitor *m, hone_prof_snapshot **snap, hone_error *err) {
    hone_prof_snapshot_opts so = {.alloc = m->alloc, .reset = 1};
    int rc = hone_prof_snapshot_take(snap, &so);
    if (rc) return hone_error_set(err, rc, "profiler snapshot: %s", hone_strerror(rc));
    return HONE_OK;
}

int hone_opt_monitor_begin(hone_opt_monitor *m, hone_error *err) {
    if (!m) return hone_error_set(err, HONE_EINVAL, "no monitor");
    pthread_mutex_lock(&m->mu);
    int rc = HONE_OK;
    if (m->zones) {
        hone_prof_snapshot *s = NULL;
        rc = zones_reset(m, &s, err);
        hone_prof_snapshot_free(s);
    }
    if (!rc) {
        for (size_t i = 0; i < m->n; i++) baseline(&m->w[i]);
        m->have_proc0 = m->process && hone_process_stats_read(&m->proc0) == HONE_OK;
        m->start_ns = mon_now(m);
        m->begun = 1;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int hone_opt_monitor_sample(hone_opt_monitor *m, hone_error *err) {
    if (!m) return hone_error_set(err, HONE_EINVAL, "no monitor");
    pthread_mutex_lock(&m->mu);
    int rc = m->begun ? HONE_OK
                      : hone_error_set(err, HONE_EINVAL, "monitor: sample before begin");
    for (size_t i = 0; !rc && i < m->n; i++) {
        if (m->w[i].kind != W_CACHE) continue;
        hone_cache_stats st;
        hone_cache_stats_get(m->w[i].obj, &st);
        if (st.utilization > m->w[i].peak_util) m->w[i].peak_util = st.utilization;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static uint64_t sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

static unsigned online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static int resolved_workers(unsigned cpus) {
    uint64_t w = hone_setting_u64(HONE_SET_MAX_WORKERS, NULL);
    return w ? (int)w : (int)cpus;
}

static hone_opt_report *report_alloc(const hone_allocator *a, size_t nz, size_t nc, size_t nb,
                                     size_t nh) {
    hone_opt_report *r = hone_calloc(a, 1, sizeof *r);
    if (!r) return NULL;
    if ((nz && !(r->zones = hone_calloc(a, nz, sizeof *r->zones))) ||
        (nc && !(r->caches = hone_calloc(a, nc, sizeof *r->caches))) ||
        (nb && !(r->batchers = hone_calloc(a, nb, sizeof *r->batchers))) ||
        (nh && !(r->https = hone_calloc(a, nh, sizeof *r->https)))) {
        hone_opt_report_free(r, a);
        return NULL;
    }
    return r;
}

void hone_opt_report_free(hone_opt_report *r, const hone_allocator *alloc) {
    if (!r) return;
    hone_free(alloc, r->zones);
    hone_free(alloc, r->caches);
    hone_free(alloc, r->batchers);
    hone_free(alloc, r->https);
    hone_free(alloc, r);
}

static void fill_cache(hone_opt_cache_stat *cs, const char *name, const hone_cache_stats *a,
                       const hone_cache_stats *b, double peak, uint64_t mem) {
    snprintf(cs->name, sizeof cs->name, "%s", name);
    cs->hits = sub(b->hits, a->hits);
    cs->misses = sub(b->misses, a->misses);
    cs->evicted_capacity = sub(b->evictions[HONE_CACHE_EVICT_SIZE], a->evictions[HONE_CACHE_EVICT_SIZE]);
    cs->expired = sub(b->evictions[HONE_CACHE_EVICT_EXPIRED], a->evictions[HONE_CACHE_EVICT_EXPIRED]);
    cs->entries = b->entries;
    cs->bytes = b->bytes;
    cs->max_entries = b->max_entries;
    cs->max_bytes = b->max_bytes;
    cs->utilization = b->utilization;
    cs->peak_utilization = peak > b->utilization ? peak : b->utilization;
    cs->memory_bytes = mem;
}

static void fill_batcher_diff(hone_batcher_stats *o, const hone_batcher_stats *a,
                              const hone_batcher_stats *b) {
    *o = *b; /* latencies: the batcher's, at the end */
    o->items = sub(b->items, a->items);
    o->batches = sub(b->batches, a->batches);
    o->full_flushes = sub(b->full_flushes, a->full_flushes);
    o->timeout_flushes = sub(b->timeout_flushes, a->timeout_flushes);
    o->close_flushes = sub(b->close_flushes, a->close_flushes);
    o->rejected = sub(b->rejected, a->rejected);
    o->mean_batch = o->batches ? (double)o->items / (double)o->batches : 0;
}

static void fill_http_diff(hone_http_stats *o, const hone_http_stats *a, const hone_http_stats *b) {
#define D(f) o->f = sub(b->f, a->f)
    D(requests); D(attempts); D(retries); D(coalesced); D(responses_2xx); D(responses_3xx);
    D(responses_4xx); D(responses_5xx); D(errors); D(timeouts); D(connections_opened);
    D(reused); D(limiter_waits); D(limiter_wait_ns); D(breaker_rejects); D(budget_rejects);
    D(pushbacks);
#undef D
}

static void fill_zone(hone_opt_zone_stat *zs, const hone_prof_zone *z, double secs) {
    snprintf(zs->name, sizeof zs->name, "%s", z->name ? z->name : "?");
    zs->count = z->count;
    zs->mean_ns = z->mean_ns;
    zs->p50_ns = z->p50_ns;
    zs->p90_ns = z->p90_ns;
    zs->p99_ns = z->p99_ns;
    zs->max_ns = z->max_ns;
    zs->total_ns = z->total_ns;
    zs->per_sec = secs > 0 ? (double)z->count / secs : 0;
}

int hone_opt_monitor_report(hone_opt_monitor *m, hone_opt_report **out, hone_error *err) {
    if (!m || !out) return hone_error_set(err, HONE_EINVAL, "no monitor or no out");
    *out = NULL;
    pthread_mutex_lock(&m->mu);
    int rc = HONE_OK;
    hone_prof_snapshot *snap = NULL;
    hone_opt_report *r = NULL;
    if (!m->begun) {
        rc = hone_error_set(err, HONE_EINVAL, "monitor: report before begin");
        goto done;
    }
    size_t nc = 0, nb = 0, nh = 0;
    for (size_t i = 0; i < m->n; i++) {
        nc += m->w[i].kind == W_CACHE;
        nb += m->w[i].kind == W_BATCHER;
        nh += m->w[i].kind == W_HTTP;
    }
    /* Allocate before the profiler's reset, so that a failure leaves the
     * window as it was. */
    r = report_alloc(m->alloc, 0, nc, nb, nh);
    if (!r) {
        rc = hone_error_set(err, HONE_ENOMEM, "monitor report: out of memory");
        goto done;
    }
    if (m->zones && (rc = zones_reset(m, &snap, err))) goto done;
    uint64_t now = mon_now(m);
    r->start_ns = m->start_ns;
    r->end_ns = now > m->start_ns ? now : m->start_ns;
    double secs = (double)(r->end_ns - r->start_ns) / 1e9;
    if (snap && hone_prof_snapshot_count(snap)) {
        size_t nz = hone_prof_snapshot_count(snap);
        r->zones = hone_calloc(m->alloc, nz, sizeof *r->zones);
        if (!r->zones) {
            /* The zones of this window are lost with the reset already
             * made; say so rather than report without them. */
            rc = hone_error_set(err, HONE_ENOMEM, "monitor report: out of memory (zones)");
            goto done;
        }
        for (size_t i = 0; i < nz; i++) fill_zone(&r->zones[r->nzones++], hone_prof_snapshot_zone(snap, i), secs);
    }
    for (size_t i = 0; i < m->n; i++) {
        watch *w = &m->w[i];
        if (w->kind == W_CACHE) {
            hone_cache_stats st;
            hone_cache_stats_lifetime(w->obj, &st);
            hone_opt_cache_stat *cs = &r->caches[r->ncaches++];
            fill_cache(cs, w->name, &w->cache0, &st, w->peak_util, hone_cache_memory_size(w->obj));
            hone_setting_state ss;
            if (hone_setting_get(HONE_SET_CACHE_TTL, w->name, &ss, NULL) == HONE_OK)
                cs->ttl_ns = ss.value.u;
            w->cache0 = st;
            w->peak_util = st.utilization;
        } else if (w->kind == W_BATCHER) {
            hone_batcher_stats st;
            hone_batcher_stats_get(w->obj, &st);
            hone_opt_batcher_stat *bs = &r->batchers[r->nbatchers++];
            snprintf(bs->name, sizeof bs->name, "%s", w->name);
            fill_batcher_diff(&bs->st, &w->batch0, &st);
            bs->batch_size = w->batch_size;
            bs->max_wait_ns = w->max_wait_ns;
            w->batch0 = st;
        } else {
            hone_http_stats st;
            hone_http_stats_get(w->obj, &st);
            hone_opt_http_stat *hs = &r->https[r->nhttps++];
            snprintf(hs->name, sizeof hs->name, "%s", w->name);
            fill_http_diff(&hs->st, &w->http0, &st);
            w->http0 = st;
        }
    }
    r->process.cpus = online_cpus();
    if (m->process) {
        hone_process_stats cur;
        if (hone_process_stats_read(&cur) == HONE_OK) {
            if (m->have_proc0) {
                r->has_process = 1;
                r->process.cpu_percent = hone_process_cpu_percent(&m->proc0, &cur);
                r->process.rss_start = m->proc0.rss_bytes;
                r->process.rss_end = cur.rss_bytes;
                r->process.peak_rss = cur.peak_rss_bytes;
                r->process.threads = cur.threads;
            }
            m->proc0 = cur;
            m->have_proc0 = 1;
        }
    }
    r->max_workers = resolved_workers(r->process.cpus);
    m->start_ns = r->end_ns;
done:
    pthread_mutex_unlock(&m->mu);
    hone_prof_snapshot_free(snap);
    if (rc) hone_opt_report_free(r, m->alloc);
    else *out = r;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Formatting                                                          */
/* ------------------------------------------------------------------ */

/* A finite double in JSON (NaN and infinities are not JSON: 0). %.17g
 * reads back to the same double. */
static int json_num(hone_buf *b, double v) {
    if (!isfinite(v)) v = 0;
    return hone_buf_printf(b, "%.17g", v);
}

typedef unsigned long long ull;

static double pct(uint64_t part, uint64_t whole) {
    return whole ? 100.0 * (double)part / (double)whole : 0;
}

/* "1.5 ms", "820 us", "2.10 s". */
static void fmt_ns(char *buf, size_t n, double ns) {
    if (ns >= 1e9) snprintf(buf, n, "%.2f s", ns / 1e9);
    else if (ns >= 1e6) snprintf(buf, n, "%.2f ms", ns / 1e6);
    else if (ns >= 1e3) snprintf(buf, n, "%.1f us", ns / 1e3);
    else snprintf(buf, n, "%.0f ns", ns);
}

static void fmt_bytes(char *buf, size_t n, double b) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) b /= 1024, i++;
    if (i == 0) snprintf(buf, n, "%.0f B", b);
    else snprintf(buf, n, "%.1f %s", b, u[i]);
}

static int format_text(const hone_opt_report *r, hone_buf *out) {
    double secs = (double)(r->end_ns - r->start_ns) / 1e9;
    int rc = hone_buf_printf(out, "window: %.3f s   max_workers: %d\n", secs, r->max_workers);
    char a[32], b2[32], c[32], d[32], e[32];
    if (!rc && r->nzones) {
        rc = hone_buf_printf(out, "\nzones\n  %-32s %10s %10s %10s %10s %10s %10s %10s\n", "name",
                             "calls", "calls/s", "mean", "p50", "p90", "p99", "total");
        for (size_t i = 0; i < r->nzones && !rc; i++) {
            const hone_opt_zone_stat *z = &r->zones[i];
            fmt_ns(a, sizeof a, z->mean_ns);
            fmt_ns(b2, sizeof b2, (double)z->p50_ns);
            fmt_ns(c, sizeof c, (double)z->p90_ns);
            fmt_ns(d, sizeof d, (double)z->p99_ns);
            fmt_ns(e, sizeof e, (double)z->total_ns);
            rc = hone_buf_printf(out, "  %-32s %10llu %10.1f %10s %10s %10s %10s %10s\n", z->name,
                                 (ull)z->count, z->per_sec, a, b2, c, d, e);
        }
    }
    if (!rc && r->ncaches) {
        rc = hone_buf_printf(out, "\ncaches\n  %-24s %10s %10s %8s %10s %10s %7s %7s %10s\n", "name",
                             "lookups", "hits", "hit %", "evict cap", "expired", "util %",
                             "peak %", "memory");
        for (size_t i = 0; i < r->ncaches && !rc; i++) {
            const hone_opt_cache_stat *cs = &r->caches[i];
            uint64_t look = cs->hits + cs->misses;
            fmt_bytes(a, sizeof a, (double)cs->memory_bytes);
            rc = hone_buf_printf(out, "  %-24s %10llu %10llu %8.1f %10llu %10llu %7.1f %7.1f %10s\n",
                                 cs->name, (ull)look, (ull)cs->hits, pct(cs->hits, look),
                                 (ull)cs->evicted_capacity, (ull)cs->expired, cs->utilization,
                                 cs->peak_utilization, a);
        }
    }
    if (!rc && r->nbatchers) {
        rc = hone_buf_printf(out, "\nbatchers\n  %-24s %10s %10s %8s %8s %8s %8s %10s %10s\n",
                             "name", "items", "items/s", "batches", "mean", "timeout%", "rejected",
                             "lat p50", "lat p99");
        for (size_t i = 0; i < r->nbatchers && !rc; i++) {
            const hone_opt_batcher_stat *bs = &r->batchers[i];
            fmt_ns(a, sizeof a, bs->st.latency_p50_ns);
            fmt_ns(b2, sizeof b2, bs->st.latency_p99_ns);
            rc = hone_buf_printf(out, "  %-24s %10llu %10.1f %8llu %8.1f %8.1f %8llu %10s %10s\n",
                                 bs->name, (ull)bs->st.items,
                                 secs > 0 ? (double)bs->st.items / secs : 0, (ull)bs->st.batches,
                                 bs->st.mean_batch, pct(bs->st.timeout_flushes, bs->st.batches),
                                 (ull)bs->st.rejected, a, b2);
        }
    }
    if (!rc && r->nhttps) {
        rc = hone_buf_printf(out, "\nhttp clients\n  %-24s %10s %10s %10s %8s %8s %8s %10s\n",
                             "name", "requests", "req/s", "attempts", "retries", "errors",
                             "timeouts", "limit wait");
        for (size_t i = 0; i < r->nhttps && !rc; i++) {
            const hone_http_stats *h = &r->https[i].st;
            fmt_ns(a, sizeof a, (double)h->limiter_wait_ns);
            rc = hone_buf_printf(out, "  %-24s %10llu %10.1f %10llu %8llu %8llu %8llu %10s\n",
                                 r->https[i].name, (ull)h->requests,
                                 secs > 0 ? (double)h->requests / secs : 0, (ull)h->attempts,
                                 (ull)h->retries, (ull)h->errors, (ull)h->timeouts, a);
        }
    }
    if (!rc && r->has_process) {
        const hone_opt_process_stat *p = &r->process;
        fmt_bytes(a, sizeof a, (double)p->rss_start);
        fmt_bytes(b2, sizeof b2, (double)p->rss_end);
        fmt_bytes(c, sizeof c, (double)p->peak_rss);
        rc = hone_buf_printf(out,
                             "\nprocess\n  cpu %.1f %% of one CPU (%u online), rss %s -> %s "
                             "(peak %s), %u threads\n",
                             p->cpu_percent, p->cpus, a, b2, c, (unsigned)p->threads);
    }
    if (!rc && !r->nzones && !r->ncaches && !r->nbatchers && !r->nhttps && !r->has_process)
        rc = hone_buf_puts(out, "(nothing measured)\n");
    return rc;
}

static int format_json(const hone_opt_report *r, hone_buf *b) {
    int rc = hone_buf_printf(b,
                             "{\"format\":\"hone-opt-report\",\"version\":1,\"start_ns\":%llu,"
                             "\"end_ns\":%llu,\"seconds\":",
                             (ull)r->start_ns, (ull)r->end_ns);
    if (!rc) rc = json_num(b, (double)(r->end_ns - r->start_ns) / 1e9);
    if (!rc) rc = hone_buf_printf(b, ",\"max_workers\":%d,\"zones\":[", r->max_workers);
    for (size_t i = 0; i < r->nzones && !rc; i++) {
        const hone_opt_zone_stat *z = &r->zones[i];
        rc = hone_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        if (!rc) rc = hone_buf_json_string(b, z->name);
        if (!rc) rc = hone_buf_printf(b, ",\"count\":%llu,\"mean_ns\":", (ull)z->count);
        if (!rc) rc = json_num(b, z->mean_ns);
        if (!rc)
            rc = hone_buf_printf(b,
                                 ",\"p50_ns\":%llu,\"p90_ns\":%llu,\"p99_ns\":%llu,\"max_ns\":%llu,"
                                 "\"total_ns\":%llu,\"per_sec\":",
                                 (ull)z->p50_ns, (ull)z->p90_ns, (ull)z->p99_ns, (ull)z->max_ns,
                                 (ull)z->total_ns);
        if (!rc) rc = json_num(b, z->per_sec);
        if (!rc) rc = hone_buf_puts(b, "}");
    }
    if (!rc) rc = hone_buf_puts(b, "],\"caches\":[");
    for (size_t i = 0; i < r->ncaches && !rc; i++) {
        const hone_opt_cache_stat *c = &r->caches[i];
        rc = hone_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        if (!rc) rc = hone_buf_json_string(b, c->name);
        if (!rc)
            rc = hone_buf_printf(b,
                                 ",\"hits\":%llu,\"misses\":%llu,\"hit_rate\":%.17g,"
                                 "\"evicted_capacity\":%llu,\"expired\":%llu,\"entries\":%llu,"
                                 "\"bytes\":%llu,\"max_entries\":%llu,\"max_bytes\":%llu,"
                                 "\"utilization\":",
                                 (ull)c->hits, (ull)c->misses, pct(c->hits, c->hits + c->misses),
                                 (ull)c->evicted_capacity, (ull)c->expired, (ull)c->entries,
                                 (ull)c->bytes, (ull)c->max_entries, (ull)c->max_bytes);
        if (!rc) rc = json_num(b, c->utilization);
        if (!rc) rc = hone_buf_puts(b, ",\"peak_utilization\":");
        if (!rc) rc = json_num(b, c->peak_utilization);
        if (!rc)
            rc = hone_buf_printf(b, ",\"memory_bytes\":%llu,\"ttl_ns\":%llu}", (ull)c->memory_bytes,
                                 (ull)c->ttl_ns);
    }
    if (!rc) rc = hone_buf_puts(b, "],\"batchers\":[");
    for (size_t i = 0; i < r->nbatchers && !rc; i++) {
        const hone_opt_batcher_stat *x = &r->batchers[i];
        rc = hone_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        if (!rc) rc = hone_buf_json_string(b, x->name);
        if (!rc)
            rc = hone_buf_printf(b,
                                 ",\"items\":%llu,\"batches\":%llu,\"mean_batch\":%.17g,"
                                 "\"full_flushes\":%llu,\"timeout_flushes\":%llu,"
                                 "\"close_flushes\":%llu,\"rejected\":%llu,\"latency_p50_ns\":",
                                 (ull)x->st.items, (ull)x->st.batches,
                                 isfinite(x->st.mean_batch) ? x->st.mean_batch : 0,
                                 (ull)x->st.full_flushes, (ull)x->st.timeout_flushes,
                                 (ull)x->st.close_flushes, (ull)x->st.rejected);
        if (!rc) rc = json_num(b, x->st.latency_p50_ns);
        if (!rc) rc = hone_buf_puts(b, ",\"latency_p99_ns\":");
        if (!rc) rc = json_num(b, x->st.latency_p99_ns);
        if (!rc) rc = hone_buf_puts(b, ",\"latency_max_ns\":");
        if (!rc) rc = json_num(b, x->st.latency_max_ns);
        if (!rc)
            rc = hone_buf_printf(b, ",\"batch_size\":%llu,\"max_wait_ns\":%llu}",
                                 (ull)x->batch_size, (ull)x->max_wait_ns);
    }
    if (!rc) rc = hone_buf_puts(b, "],\"https\":[");
    for (size_t i = 0; i < r->nhttps && !rc; i++) {
        const hone_http_stats *h = &r->https[i].st;
        rc = hone_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        if (!rc) rc = hone_buf_json_string(b, r->https[i].name);
        if (!rc)
            rc = hone_buf_printf(
                b,
                ",\"requests\":%llu,\"attempts\":%llu,\"retries\":%llu,\"coalesced\":%llu,"
                "\"responses_2xx\":%llu,\"responses_3xx\":%llu,\"responses_4xx\":%llu,"
                "\"responses_5xx\":%llu,\"errors\":%llu,\"timeouts\":%llu,"
                "\"connections_opened\":%llu,\"reused\":%llu,\"limiter_waits\":%llu,"
                "\"limiter_wait_ns\":%llu,\"breaker_rejects\":%llu,\"budget_rejects\":%llu,"
                "\"pushbacks\":%llu}",
                (ull)h->requests, (ull)h->attempts, (ull)h->retries, (ull)h->coalesced,
                (ull)h->responses_2xx, (ull)h->responses_3xx, (ull)h->responses_4xx,
                (ull)h->responses_5xx, (ull)h->errors, (ull)h->timeouts,
                (ull)h->connections_opened, (ull)h->reused, (ull)h->limiter_waits,
                (ull)h->limiter_wait_ns, (ull)h->breaker_rejects, (ull)h->budget_rejects,
                (ull)h->pushbacks);
    }
    if (!rc) rc = hone_buf_puts(b, "],\"process\":");
    if (!rc && !r->has_process) rc = hone_buf_puts(b, "null");
    else if (!rc) {
        const hone_opt_process_stat *p = &r->process;
        rc = hone_buf_puts(b, "{\"cpu_percent\":");
        if (!rc) rc = json_num(b, p->cpu_percent);
        if (!rc)
            rc = hone_buf_printf(b,
                                 ",\"cpus\":%u,\"rss_start\":%llu,\"rss_end\":%llu,"
                                 "\"peak_rss\":%llu,\"threads\":%u}",
                                 p->cpus, (ull)p->rss_start, (ull)p->rss_end, (ull)p->peak_rss,
                                 (unsigned)p->threads);
    }
    if (!rc) rc = hone_buf_puts(b, "}\n");
    return rc;
}

int hone_opt_report_format(const hone_opt_report *r, hone_buf *out, int json) {
    if (!r || !out) return HONE_EINVAL;
    size_t len0 = out->len;
    int rc = json ? format_json(r, out) : format_text(r, out);
    if (rc && out->data) { /* leave out as it was */
        out->len = len0;
        out->data[len0] = '\0';
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

typedef struct jctx {
    hone_error *err;
    const char *where; /* "caches[2]" */
    int rc;
} jctx;

/* A required unsigned integer field. */
static uint64_t ju64(jctx *c, json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    if (c->rc) return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) return (uint64_t)json_integer_value(v);
    if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 1.8e19)
        return (uint64_t)json_real_value(v);
    c->rc = hone_error_set(c->err, HONE_ECORRUPT, "report: field '%s%s%s' is missing or not a "
                           "non-negative integer", c->where, *c->where ? "." : "", k);
    return 0;
}

static double jdbl(jctx *c, json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    if (c->rc) return 0;
    if (json_is_number(v)) return json_number_value(v);
    c->rc = hone_error_set(c->err, HONE_ECORRUPT, "report: field '%s%s%s' is missing or not a number",
                           c->where, *c->where ? "." : "", k);
    return 0;
}

static void jname(jctx *c, json_t *o, char *dst, size_t n) {
    json_t *v = json_object_get(o, "name");
    if (c->rc) return;
    if (!json_is_string(v) || strlen(json_string_value(v)) >= n || !*json_string_value(v)) {
        c->rc = hone_error_set(c->err, HONE_ECORRUPT,
                               "report: field '%s.name' is missing, empty or longer than %zu bytes",
                               c->where, n - 1);
        return;
    }
    memcpy(dst, json_string_value(v), strlen(json_string_value(v)) + 1);
}

static json_t *jarray(jctx *c, json_t *doc, const char *k) {
    json_t *v = json_object_get(doc, k);
    if (!c->rc && !json_is_array(v))
        c->rc = hone_error_set(c->err, HONE_ECORRUPT, "report: field '%s' is missing or not an array", k);
    return v;
}

int hone_opt_report_parse(hone_opt_report **out, const char *json, size_t len,
                          const hone_allocator *alloc, hone_error *err) {
    if (!out || (!json && len)) return hone_error_set(err, HONE_EINVAL, "no report given");
    *out = NULL;
    json_error_t je;
    json_t *doc = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return hone_error_set_at(err, HONE_EPARSE, je.line, je.column, (long long)je.position,
                                 "line %d, column %d: %s", je.line, je.column, je.text);
    jctx c = {err, "", HONE_OK};
    hone_opt_report *r = NULL;
    json_t *fmt = json_object_get(doc, "format");
    if (!json_is_object(doc) || !json_is_string(fmt) ||
        strcmp(json_string_value(fmt), "hone-opt-report")) {
        c.rc = hone_error_set(err, HONE_ECORRUPT,
                              "not a hone report (no \"format\": \"hone-opt-report\")");
        goto done;
    }
    if (json_integer_value(json_object_get(doc, "version")) != 1) {
        c.rc = hone_error_set(err, HONE_ECORRUPT, "unsupported report version (expected 1)");
        goto done;
    }
    json_t *zs = jarray(&c, doc, "zones"), *cs = jarray(&c, doc, "caches");
    json_t *bs = jarray(&c, doc, "batchers"), *hs = jarray(&c, doc, "https");
    json_t *pr = json_object_get(doc, "process");
    if (!c.rc && pr && !json_is_null(pr) && !json_is_object(pr))
        c.rc = hone_error_set(err, HONE_ECORRUPT, "report: field 'process' is not an object or null");
    if (c.rc) goto done;
    r = report_alloc(alloc, json_array_size(zs), json_array_size(cs), json_array_size(bs),
                     json_array_size(hs));
    if (!r) {
        c.rc = hone_error_set(err, HONE_ENOMEM, "report: out of memory");
        goto done;
    }
    r->start_ns = ju64(&c, doc, "start_ns");
    r->end_ns = ju64(&c, doc, "end_ns");
    r->max_workers = (int)ju64(&c, doc, "max_workers");
    if (!c.rc && r->end_ns < r->start_ns)
        c.rc = hone_error_set(err, HONE_ECORRUPT, "report: field 'end_ns' is before 'start_ns'");
    char where[32];
    c.where = where;
    for (size_t i = 0; !c.rc && i < json_array_size(zs); i++) {
        json_t *o = json_array_get(zs, i);
        snprintf(where, sizeof where, "zones[%zu]", i);
        hone_opt_zone_stat *z = &r->zones[r->nzones++];
        jname(&c, o, z->name, sizeof z->name);
        z->count = ju64(&c, o, "count");
        z->mean_ns = jdbl(&c, o, "mean_ns");
        z->p50_ns = ju64(&c, o, "p50_ns");
        z->p90_ns = ju64(&c, o, "p90_ns");
        z->p99_ns = ju64(&c, o, "p99_ns");
        z->max_ns = ju64(&c, o, "max_ns");
        z->total_ns = ju64(&c, o, "total_ns");
        z->per_sec = jdbl(&c, o, "per_sec");
    }
    for (size_t i = 0; !c.rc && i < json_array_size(cs); i++) {
        json_t *o = json_array_get(cs, i);
        snprintf(where, sizeof where, "caches[%zu]", i);
        hone_opt_cache_stat *x = &r->caches[r->ncaches++];
        jname(&c, o, x->name, sizeof x->name);
        x->hits = ju64(&c, o, "hits");
        x->misses = ju64(&c, o, "misses");
        x->evicted_capacity = ju64(&c, o, "evicted_capacity");
        x->expired = ju64(&c, o, "expired");
        x->entries = ju64(&c, o, "entries");
        x->bytes = ju64(&c, o, "bytes");
        x->max_entries = ju64(&c, o, "max_entries");
        x->max_bytes = ju64(&c, o, "max_bytes");
        x->utilization = jdbl(&c, o, "utilization");
        x->peak_utilization = jdbl(&c, o, "peak_utilization");
        x->memory_bytes = ju64(&c, o, "memory_bytes");
        x->ttl_ns = ju64(&c, o, "ttl_ns");
    }
    for (size_t i = 0; !c.rc && i < json_array_size(bs); i++) {
        json_t *o = json_array_get(bs, i);
        snprintf(where, sizeof where, "batchers[%zu]", i);
        hone_opt_batcher_stat *x = &r->batchers[r->nbatchers++];
        jname(&c, o, x->name, sizeof x->name);
        x->st.items = ju64(&c, o, "items");
        x->st.batches = ju64(&c, o, "batches");
        x->st.mean_batch = jdbl(&c, o, "mean_batch");
        x->st.full_flushes = ju64(&c, o, "full_flushes");
        x->st.timeout_flushes = ju64(&c, o, "timeout_flushes");
        x->st.close_flushes = ju64(&c, o, "close_flushes");
        x->st.rejected = ju64(&c, o, "rejected");
        x->st.latency_p50_ns = jdbl(&c, o, "latency_p50_ns");
        x->st.latency_p99_ns = jdbl(&c, o, "latency_p99_ns");
        x->st.latency_max_ns = jdbl(&c, o, "latency_max_ns");
        x->batch_size = (size_t)ju64(&c, o, "batch_size");
        x->max_wait_ns = ju64(&c, o, "max_wait_ns");
    }
    for (size_t i = 0; !c.rc && i < json_array_size(hs); i++) {
        json_t *o = json_array_get(hs, i);
        snprintf(where, sizeof where, "https[%zu]", i);
        hone_opt_http_stat *x = &r->https[r->nhttps++];
        jname(&c, o, x->name, sizeof x->name);
        hone_http_stats *h = &x->st;
#define F(f) h->f = ju64(&c, o, #f)
        F(requests); F(attempts); F(retries); F(coalesced); F(responses_2xx); F(responses_3xx);
        F(responses_4xx); F(responses_5xx); F(errors); F(timeouts); F(connections_opened);
        F(reused); F(limiter_waits); F(limiter_wait_ns); F(breaker_rejects); F(budget_rejects);
        F(pushbacks);
#undef F
    }
    if (!c.rc && json_is_object(pr)) {
        c.where = "process";
        r->has_process = 1;
        r->process.cpu_percent = jdbl(&c, pr, "cpu_percent");
        r->process.cpus = (unsigned)ju64(&c, pr, "cpus");
        r->process.rss_start = ju64(&c, pr, "rss_start");
        r->process.rss_end = ju64(&c, pr, "rss_end");
        r->process.peak_rss = ju64(&c, pr, "peak_rss");
        r->process.threads = (uint32_t)ju64(&c, pr, "threads");
    }
done:
    json_decref(doc);
    if (c.rc) hone_opt_report_free(r, alloc);
    else *out = r;
    return c.rc;
}

/* ------------------------------------------------------------------ */
/* Fetching from a running hone server                                 */
/* ------------------------------------------------------------------ */

typedef struct fetched {
    json_t *caches;  /* /api/caches */
    json_t *process; /* /api/process */
    hone_prof_snapshot *prof; /* /api/profile; NULL when the server has none (404) */
} fetched;

static void fetched_free(fetched *f) {
    json_decref(f->caches);
    json_decref(f->process);
    hone_prof_snapshot_free(f->prof);
    memset(f, 0, sizeof *f);
}

/* GETs base+path; *code the status. The body is in resp. */
static int get(hone_http_client *cl, const char *base, const char *path, hone_http_response *resp,
               hone_error *err) {
    char url[512];
    int n = snprintf(url, sizeof url, "%s%s", base, path);
    if (n < 0 || (size_t)n >= sizeof url) return hone_error_set(err, HONE_EINVAL, "url too long: %s", base);
    hone_http_request req = {.url = url};
    int rc = hone_http_do(cl, &req, resp, err);
    if (rc) return rc;
    if (resp->status != 200 && !(resp->status == 404 && !strcmp(path, "/api/profile")))
        return hone_error_set(err, HONE_EIO, "GET %s: HTTP %ld", url, resp->status);
    return HONE_OK;
}

static int get_json(hone_http_client *cl, const char *base, const char *path, json_t **out,
                    hone_error *err) {
    hone_http_response resp;
    int rc = get(cl, base, path, &resp, err);
    if (!rc) {
        json_error_t je;
        *out = json_loadb(resp.body ? resp.body : "", resp.body_len, 0, &je);
        if (!*out || !json_is_object(*out)) {
            json_decref(*out);
            *out = NULL;
            rc = hone_error_set(err, HONE_ECORRUPT, "%s%s: not a JSON object (%s)", base, path,
                                je.text);
        }
    }
    hone_http_response_free(cl, &resp);
    return rc;
}

static int fetch_once(hone_http_client *cl, const char *base, const hone_allocator *alloc,
                      fetched *f, hone_error *err) {
    int rc = get_json(cl, base, "/api/caches", &f->caches, err);
    if (!rc) rc = get_json(cl, base, "/api/process", &f->process, err);
    if (rc) return rc;
    hone_http_response resp;
    rc = get(cl, base, "/api/profile", &resp, err);
    if (!rc && resp.status == 200) {
        hone_error perr;
        rc = hone_prof_snapshot_parse(&f->prof, resp.body, resp.body_len, alloc, &perr);
        if (rc) hone_error_set(err, rc, "%s/api/profile: %s", base, perr.msg);
    }
    hone_http_response_free(cl, &resp);
    return rc;
}

static void cache_from_json(json_t *st, hone_cache_stats *o, uint64_t *mem) {
    memset(o, 0, sizeof *o);
#define U(k) (json_is_integer(json_object_get(st, k)) ? (uint64_t)json_integer_value(json_object_get(st, k)) : 0)
    o->hits = U("hits");
    o->misses = U("misses");
    json_t *ev = json_object_get(st, "evictions");
    if (json_is_object(ev)) {
        o->evictions[HONE_CACHE_EVICT_SIZE] = json_is_integer(json_object_get(ev, "size"))
            ? (uint64_t)json_integer_value(json_object_get(ev, "size")) : 0;
        o->evictions[HONE_CACHE_EVICT_EXPIRED] = json_is_integer(json_object_get(ev, "expired"))
            ? (uint64_t)json_integer_value(json_object_get(ev, "expired")) : 0;
    }
    o->entries = U("entries");
    o->bytes = U("bytes");
    o->max_entries = U("max_entries");
    o->max_bytes = U("max_bytes");
    o->utilization = json_number_value(json_object_get(st, "utilization_percent"));
    *mem = U("memory_bytes");
#undef U
}

static uint64_t jfield(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static int build_fetched(const fetched *a, const fetched *b, const hone_allocator *alloc,
                         hone_opt_report **out, hone_error *err) {
    json_t *ca = json_object_get(a->caches, "caches"), *cb = json_object_get(b->caches, "caches");
    if (!json_is_array(ca) || !json_is_array(cb))
        return hone_error_set(err, HONE_ECORRUPT, "/api/caches: field 'caches' is not an array");
    size_t nz = b->prof ? hone_prof_snapshot_count(b->prof) : 0;
    hone_opt_report *r = report_alloc(alloc, nz, json_array_size(cb), 0, 0);
    if (!r) return hone_error_set(err, HONE_ENOMEM, "report: out of memory");
    uint64_t w0 = jfield(a->process, "wall_ns"), w1 = jfield(b->process, "wall_ns");
    r->start_ns = w0;
    r->end_ns = w1 > w0 ? w1 : w0;
    double secs = (double)(r->end_ns - r->start_ns) / 1e9;
    for (size_t i = 0; i < json_array_size(cb); i++) {
        json_t *e = json_array_get(cb, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        if (!name) continue;
        hone_cache_stats s0, s1;
        uint64_t m0 = 0, m1 = 0;
        memset(&s0, 0, sizeof s0);
        for (size_t j = 0; j < json_array_size(ca); j++) {
            json_t *p = json_array_get(ca, j);
            const char *pn = json_string_value(json_object_get(p, "name"));
            if (pn && !strcmp(pn, name)) cache_from_json(json_object_get(p, "stats"), &s0, &m0);
        }
        cache_from_json(json_object_get(e, "stats"), &s1, &m1);
        /* The server's counters may have been reset in between: then the
         * later figure is all there is. */
        if (s1.hits + s1.misses < s0.hits + s0.misses) memset(&s0, 0, sizeof s0);
        hone_opt_cache_stat *cs = &r->caches[r->ncaches++];
        fill_cache(cs, name, &s0, &s1, s0.utilization, m1);
    }
    for (size_t i = 0; i < nz; i++) {
        const hone_prof_zone *z1 = hone_prof_snapshot_zone(b->prof, i);
        hone_opt_zone_stat *zs = &r->zones[r->nzones];
        fill_zone(zs, z1, secs);
        /* Counts and totals are the window's: differences of the server's
         * cumulative profile; percentiles are the profile's. */
        const hone_prof_zone *z0 = a->prof && z1->name ? hone_prof_snapshot_find(a->prof, z1->name) : NULL;
        if (z0 && z0->count <= z1->count) {
            zs->count = z1->count - z0->count;
            zs->total_ns = sub(z1->total_ns, z0->total_ns);
            zs->mean_ns = zs->count ? (double)zs->total_ns / (double)zs->count : 0;
            zs->per_sec = secs > 0 ? (double)zs->count / secs : 0;
        }
        if (zs->count) r->nzones++;
    }
    r->process.cpus = online_cpus();
    uint64_t cpu0 = jfield(a->process, "cpu_user_ns") + jfield(a->process, "cpu_system_ns");
    uint64_t cpu1 = jfield(b->process, "cpu_user_ns") + jfield(b->process, "cpu_system_ns");
    if (w1 > w0) {
        r->has_process = 1;
        r->process.cpu_percent = 100.0 * (double)sub(cpu1, cpu0) / (double)(w1 - w0);
        r->process.rss_start = jfield(a->process, "rss_bytes");
        r->process.rss_end = jfield(b->process, "rss_bytes");
        r->process.peak_rss = jfield(b->process, "peak_rss_bytes");
        r->process.threads = (uint32_t)jfield(b->process, "threads");
    }
    r->max_workers = resolved_workers(r->process.cpus);
    *out = r;
    return HONE_OK;
}

int hone_opt_report_fetch(hone_opt_report **out, const char *url, uint64_t window_ns,
                          const hone_allocator *alloc, hone_error *err) {
    if (!out || !url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)))
        return hone_error_set(err, HONE_EINVAL, "report fetch: expected an http:// or https:// URL, got '%s'",
                              url ? url : "(null)");
    *out = NULL;
    char base[256];
    size_t ul = strlen(url);
    while (ul > 0 && url[ul - 1] == '/') ul--;
    if (ul >= sizeof base) return hone_error_set(err, HONE_EINVAL, "report fetch: url too long");
    memcpy(base, url, ul);
    base[ul] = '\0';
    hone_http_client *cl = NULL;
    /* No proxy: the caller names the server; a retry would only blur the
     * window. */
    hone_http_opts ho = {.proxy = "", .alloc = alloc, .no_single_flight = 1};
    ho.retry.max_attempts = 1;
    int rc = hone_http_client_new(&cl, &ho);
    if (rc) return hone_error_set(err, rc, "report fetch: http client: %s", hone_strerror(rc));
    fetched a = {0}, b = {0};
    rc = fetch_once(cl, base, alloc, &a, err);
    if (!rc && window_ns) {
        struct timespec ts = {(time_t)(window_ns / 1000000000u), (long)(window_ns % 1000000000u)};
        while (nanosleep(&ts, &ts) && errno == EINTR) {}
    }
    if (!rc) rc = fetch_once(cl, base, alloc, &b, err);
    if (!rc) rc = build_fetched(&a, &b, alloc, out, err);
    fetched_free(&a);
    fetched_free(&b);
    hone_http_client_free(cl);
    return rc;
}
