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
/* Mirrors a figure kept elsewhere (a module's lifetime stats) into the
 * registry: finds or makes the series (a counter when counter is nonzero,
 * else a gauge) and sets it to v. A counter set below its last value gives
 * HONE_ERANGE with err naming the series and its labels (two sources
 * exported under one name). Returns as hone_metrics_counter and
 * hone_metric_set. Thread-safe. */
HONE_API int hone_metrics_mirror(hone_metrics *m, int counter, const char *name, const char *help,
                                 const char *const *labels, double v, hone_error *err);
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

/* Checks an exposition (text[0..len)) for what promtool lets through:
 * malformed metric or label names, label values and HELP text with bad
 * escapes, malformed values or timestamps, a label repeated in a sample, a
 * type that is not one of the format's; a duplicate series (same name and
 * label set, labels compared as a set); a family whose samples are not
 * contiguous, or whose HELP or TYPE is repeated or comes after its
 * samples; a histogram series without a +Inf bucket, with an le that does
 * not increase, with a cumulative count below the previous bucket's, or
 * whose _count differs from its +Inf bucket. With openmetrics nonzero, the
 * OpenMetrics 1.0 rules as well: the text ends with "# EOF" (nothing
 * after it), no empty lines or other comments than HELP, TYPE and UNIT,
 * "unknown" instead of "untyped", counters' TYPE and HELP name the family
 * without _total and their samples are name_total (or name_created).
 * Returns HONE_OK; HONE_ECORRUPT at the first defect, err naming the line
 * number, the series and what is wrong ("line 12: hone_x_bucket{le=\"0.5\"}:
 * cumulative count 3 below the previous bucket's 5"; a duplicate names the
 * line of its second appearance); HONE_EINVAL (text NULL with len > 0);
 * HONE_ENOMEM. Thread-safe; the default allocator is used for scratch. */
HONE_API int hone_metrics_lint(const char *text, size_t len, int openmetrics, hone_error *err);

/* Appends to out the OpenMetrics 1.0.0 text of a Prometheus text 0.0.4
 * exposition: the TYPE and HELP lines of a counter named x_total name its
 * family x (the samples keep their names); a counter whose name lacks
 * _total becomes type "unknown", keeping its sample names; untyped becomes
 * unknown; gauges, summaries and histograms are unchanged; a double quote
 * in HELP text is escaped; sample timestamps (milliseconds) become
 * seconds; other comments and empty lines are dropped; "# EOF\n" ends it.
 * The input is not checked (hone_metrics_lint does that); a valid one
 * gives a valid OpenMetrics text. Returns HONE_OK, HONE_EINVAL (out NULL,
 * or text NULL with len > 0) or HONE_ENOMEM (out unchanged). */
HONE_API int hone_metrics_openmetrics(const char *text, size_t len, hone_buf *out);

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

/* ------------------------------------------------------------------ */
/* Cycle metrics                                                       */
/* ------------------------------------------------------------------ */

/* A work cycle (one pass of a job: a build, a sync, a request batch) and
 * what happened in it. Completed cycles go into a collector's bounded
 * history; statistics are computed over the whole history and over the
 * most recent `window` cycles. */
typedef struct hone_cycle_collector hone_cycle_collector;
typedef struct hone_cycle hone_cycle;

typedef struct hone_cycle_opts {
    const hone_allocator *alloc; /* NULL: the default */
    size_t history;              /* cycles kept, oldest dropped first; 0 means 1000 */
    size_t window;               /* cycles in the "recent" statistics; 0 means 100 */
} hone_cycle_opts;

/* Makes an empty collector. Returns HONE_OK, HONE_EINVAL (out NULL) or
 * HONE_ENOMEM (*out NULL). */
HONE_API int hone_cycle_collector_new(hone_cycle_collector **out, const hone_cycle_opts *opts);
/* Frees the collector and its history; cycles begun on it and not ended
 * must be ended or abandoned first. NULL is a no-op. */
HONE_API void hone_cycle_collector_free(hone_cycle_collector *c);
/* The process-wide collector (defaults), made on first use and never
 * freed; NULL only if that allocation failed. */
HONE_API hone_cycle_collector *hone_cycle_default(void);

/* Begins a cycle named id (copied) on c (NULL: the default collector),
 * stamping its start time. The cycle belongs to the caller until
 * hone_cycle_end/abandon; use it from one thread at a time. Returns
 * HONE_OK, HONE_EINVAL or HONE_ENOMEM (*out NULL). */
HONE_API int hone_cycle_begin(hone_cycle_collector *c, const char *id, hone_cycle **out);
/* Counts a cache hit, a cache miss, n file operations, or one validation
 * that took ns. Cannot fail; NULL is ignored. */
HONE_API void hone_cycle_hit(hone_cycle *cy);
HONE_API void hone_cycle_miss(hone_cycle *cy);
HONE_API void hone_cycle_file_ops(hone_cycle *cy, uint64_t n);
HONE_API void hone_cycle_validation(hone_cycle *cy, uint64_t ns);
/* Sets metadata key to value (both copied; a key set twice keeps the last
 * value). Returns HONE_OK, HONE_EINVAL or HONE_ENOMEM (cycle unchanged). */
HONE_API int hone_cycle_meta(hone_cycle *cy, const char *key, const char *value);
/* Ends the cycle: stamps its end, records success (nonzero) or failure
 * into the collector's history (dropping the oldest cycle when full) and
 * frees cy. Cannot fail. Thread-safe with respect to the collector. */
HONE_API void hone_cycle_end(hone_cycle *cy, int success);
/* Frees cy without recording it. */
HONE_API void hone_cycle_abandon(hone_cycle *cy);

typedef struct hone_cycle_stats {
    uint64_t count, succeeded;
    double success_rate;          /* 0..1; 0 when count is 0 */
    double duration_mean_ns;
    uint64_t duration_p50_ns, duration_p95_ns, duration_max_ns; /* nearest rank */
    uint64_t hits, misses;
    double hit_rate;              /* hits / (hits + misses); 0 with no calls */
    uint64_t validations, validation_ns, file_ops;
    double cycles_per_minute;     /* count over the span from the first start to the last end */
} hone_cycle_stats;

/* Statistics over the last `last` cycles (0: the whole history). Returns
 * HONE_OK, HONE_EINVAL or HONE_ENOMEM. Thread-safe. */
HONE_API int hone_cycle_stats_get(hone_cycle_collector *c, size_t last, hone_cycle_stats *out);
/* Cycles in the history now. */
HONE_API size_t hone_cycle_count(hone_cycle_collector *c);

typedef struct hone_cycle_report_opts {
    hone_report_format format; /* TEXT, MD, JSON, CSV or PROM */
    size_t recent;             /* TEXT/MD: also list the last N cycles; CSV: rows (0: all) */
} hone_cycle_report_opts;

/* Appends a dashboard of c to out: statistics over the history and over
 * the recent window, plus a table of the last `recent` cycles. CSV has one
 * row per cycle; JSON holds both statistics and the cycles; PROM gauges
 * labelled scope="all"|"recent". Returns HONE_OK, HONE_EINVAL or
 * HONE_ENOMEM (out unchanged). Thread-safe. */
HONE_API int hone_cycle_report(hone_cycle_collector *c, const hone_cycle_report_opts *opts, hone_buf *out);

/* Writes the history to path as JSON ("format": "hone-cycles"),
 * atomically (temporary file, fsync, rename, fsync of the directory): on
 * any error the previous file is untouched. Returns HONE_OK, HONE_ENOMEM or
 * an I/O status with err naming the path. Thread-safe. */
HONE_API int hone_cycle_save(hone_cycle_collector *c, const char *path, hone_error *err);
/* Replaces c's history with the cycles in the file at path (keeping the
 * newest `history` of them). A file that is not JSON gives HONE_EPARSE with
 * line and column; JSON that is not a hone cycle history, or has a bad
 * field, HONE_ECORRUPT naming it; an unreadable file an I/O status. On any
 * error c is unchanged. Thread-safe. */
HONE_API int hone_cycle_load(hone_cycle_collector *c, const char *path, hone_error *err);
/* The same from a buffer. */
HONE_API int hone_cycle_parse(hone_cycle_collector *c, const char *json, size_t len, hone_error *err);

#ifdef __cplusplus
}
#endif
#endif /* HONE_METRICS_H */
