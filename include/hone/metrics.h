/* hone/metrics.h - a metrics registry (counters, gauges and histograms with
 * labels) exposed in Prometheus text format 0.0.4, process metrics from
 * /proc and getrusage, and cycle metrics: per-work-cycle records kept in a
 * bounded history with live statistics, dashboards and JSON persistence.
 */
#ifndef HONE_METRICS_H
#define HONE_METRICS_H

#include "hone/core.h"
#include "hone/prof.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Registry                                                            */
/* ------------------------------------------------------------------ */

typedef struct hone_metrics hone_metrics;
/* One time series: a metric family plus one set of label values. */
typedef struct hone_metric hone_metric;

typedef enum hone_metric_type {
    HONE_METRIC_COUNTER = 0,
    HONE_METRIC_GAUGE = 1,
    HONE_METRIC_HISTOGRAM = 2
} hone_metric_type;

typedef struct hone_metrics_opts {
    const hone_allocator *alloc; /* NULL: the default */
} hone_metrics_opts;

/* Makes an empty registry. Returns HONE_OK, HONE_EINVAL (out NULL) or
 * HONE_ENOMEM (*out NULL). */
HONE_API int hone_metrics_new(hone_metrics **out, const hone_metrics_opts *opts);
/* Frees the registry and every series handle it gave out; NULL is a
 * no-op. No other thread may be using it. */
HONE_API void hone_metrics_free(hone_metrics *m);
/* The process-wide registry, made on first call with the default
 * allocator and never freed; NULL only if that allocation failed. */
HONE_API hone_metrics *hone_metrics_default(void);

/* Finds or creates the series of family `name` with the given labels.
 * labels is NULL or a NULL-terminated list of name, value pairs
 * ({"method", "GET", "code", "200", NULL}); every series of a family must
 * use the same label names in the same order. help is required the first
 * time (later calls may pass NULL). For histograms, buckets are the
 * ascending finite upper bounds (n of them; NULL/0: the Prometheus default
 * .005 .. 10); +Inf is implicit; later calls must pass the same or NULL.
 * The handle stays valid until the registry is freed.
 * Returns HONE_OK; HONE_EINVAL (bad metric or label name per Prometheus
 * rules, label names differing from the family's, "le" on a histogram,
 * unsorted buckets, missing help; err says which); HONE_EEXIST (the name
 * exists with another type); HONE_ENOMEM. Thread-safe. */
HONE_API int hone_metrics_counter(hone_metrics *m, const char *name, const char *help,
                                  const char *const *labels, hone_metric **out, hone_error *err);
HONE_API int hone_metrics_gauge(hone_metrics *m, const char *name, const char *help,
                                const char *const *labels, hone_metric **out, hone_error *err);
HONE_API int hone_metrics_histogram(hone_metrics *m, const char *name, const char *help,
                                    const double *buckets, size_t n, const char *const *labels,
                                    hone_metric **out, hone_error *err);

/* Updates, all thread-safe and lock-free:
 * - add: counters and gauges; a counter ignores negative or NaN amounts
 *   (counters only go up) and returns HONE_EINVAL for them.
 * - set: gauges; also counters that mirror a total kept elsewhere, where a
 *   value below the current one returns HONE_ERANGE (counters only go up);
 *   HONE_EINVAL for histograms.
 * - observe: histograms only (HONE_EINVAL otherwise; NaN ignored). */
HONE_API int hone_metric_add(hone_metric *s, double v);
HONE_API int hone_metric_inc(hone_metric *s);
HONE_API int hone_metric_set(hone_metric *s, double v);
HONE_API int hone_metric_observe(hone_metric *s, double v);
/* The value of a counter or gauge; a histogram's sum. */
HONE_API double hone_metric_value(const hone_metric *s);
/* A histogram's number of observations (0 for other types). */
HONE_API uint64_t hone_metric_count(const hone_metric *s);

/* Appends the Prometheus text exposition (format 0.0.4) of every family
 * to out: # HELP and # TYPE lines, series with escaped label values,
 * histograms as cumulative _bucket{le=...}, _sum and _count. Families in
 * registration order. Returns HONE_OK or HONE_ENOMEM (out unchanged).
 * Thread-safe against concurrent updates and registrations. */
HONE_API int hone_metrics_expose(hone_metrics *m, hone_buf *out);

/* ------------------------------------------------------------------ */
/* Process metrics                                                     */
/* ------------------------------------------------------------------ */

typedef struct hone_process_stats {
    uint64_t wall_ns;          /* hone_monotonic_ns() when read */
    uint64_t cpu_user_ns, cpu_system_ns;
    uint64_t rss_bytes, peak_rss_bytes, virtual_bytes;
    uint64_t mem_total_bytes;  /* of the machine */
    double mem_percent;        /* rss of total */
    uint32_t threads, open_fds;
    uint64_t ctx_voluntary, ctx_involuntary;
} hone_process_stats;

/* Reads this process's figures from /proc/self and getrusage(). Returns
 * HONE_OK, HONE_EINVAL (st NULL) or HONE_EIO (/proc unreadable). Thread-
 * safe. */
HONE_API int hone_process_stats_read(hone_process_stats *st);
/* CPU use between two reads, user + system, in percent of one CPU (can
 * exceed 100 with several threads); 0 if no time passed. */
HONE_API double hone_process_cpu_percent(const hone_process_stats *prev, const hone_process_stats *cur);
/* Reads the process figures and sets them in m as process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, hone_process_peak_resident_memory_bytes,
 * hone_process_memory_percent, hone_process_threads,
 * hone_process_cpu_percent (since the previous update of m) and
 * hone_process_context_switches_total{kind="voluntary"|"involuntary"}.
 * Returns HONE_OK, HONE_EIO or HONE_ENOMEM. Thread-safe. */
HONE_API int hone_metrics_update_process(hone_metrics *m, hone_error *err);

#ifdef __cplusplus
}
#endif
#endif /* HONE_METRICS_H */
