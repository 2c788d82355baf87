/* opt.h - the optimizer: one settings model (levels, cache strategies,
 * scenario presets, per-component rules; every value with its origin), a
 * report over a window of measurements, recommendations that cite their
 * evidence, alerts with hysteresis, and an opt-in continuous mode that
 * changes one setting at a time, keeps a change only when it measurably
 * helped, and journals every change so it can be undone.
 *
 * The settings themselves live in core's settings table (core.h, "Settings
 * table"), which every module reads its defaults from; this module fills
 * its file, api and auto layers. See docs/design/opt.md and
 * hone-optimize(1). */
#ifndef HONE_OPT_H
#define HONE_OPT_H

#include <stddef.h>
#include <stdint.h>

#include "hone/cache.h"
#include "hone/core.h"
#include "hone/exec.h"
#include "hone/http.h"
#include "hone/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Settings: config file, api layer, status                             */
/* ------------------------------------------------------------------ */

/* The config file: HONE_CONFIG when set (an absolute path, or "off" for
 * none), else $XDG_CONFIG_HOME/hone/hone.ini when XDG_CONFIG_HOME is
 * absolute, else $HOME/.config/hone/hone.ini. *out is allocated with alloc.
 * Returns HONE_OK, HONE_ENOTFOUND (HONE_CONFIG=off, or no HOME), HONE_EINVAL
 * (a relative HONE_CONFIG, named), HONE_ENOMEM. */
HONE_API int hone_opt_config_path(char **out, const hone_allocator *alloc, hone_error *err);

/* Reads a config file into the file layer, replacing what the layer held
 * (path NULL: hone_opt_config_path; none or a missing file leaves the layer
 * empty and returns HONE_OK). The file is INI (parsed with libinih):
 *
 *     level = aggressive          # top-level keys: level, preset
 *     [cache]
 *     strategy = hybrid           # section.key = a setting's name
 *     size = 256M
 *     [component.parser]          # per-component rules
 *     ttl = 10m
 *     batch_size = 32
 *     [alert.slow-parse]          # alerts (hone_opt_alerts_load); skipped here
 *     metric = zone.parse.p99_ms
 *
 * Every value is parsed as its setting expects; the first bad line makes
 * the whole load fail with HONE_EPARSE, err naming "path:line", the key and
 * what was expected (an unknown key gets a "did you mean"), and the layer
 * is left as it was. Each value's origin is "path:line". Thread-safe. */
HONE_API int hone_opt_load(const char *path, hone_error *err);

/* The status of the automatic load that libhone does before the first
 * setting is resolved (config file, then the journal's kept changes into
 * the auto layer): HONE_OK, or the error it logged (err filled). */
HONE_API int hone_opt_load_status(hone_error *err);

/* Sets a setting in the api layer by name ("cache.ttl", or its variable
 * "HONE_CACHE_TTL"); component NULL for the global value. `where` is shown
 * as the origin ("--level", "hone_opt_set"; NULL: "api"). Returns HONE_OK,
 * HONE_ENOTFOUND (unknown name; err suggests the nearest), HONE_EINVAL /
 * HONE_ERANGE (bad value, named with the valid ones). Thread-safe. */
HONE_API int hone_opt_set(const char *name, const char *component, const char *value,
                          const char *where, hone_error *err);
/* Removes an api-layer value; unknown names are HONE_ENOTFOUND. */
HONE_API int hone_opt_unset(const char *name, const char *component, hone_error *err);

/* Writes `name = value` (component NULL: in the setting's section; else in
 * [component.NAME]) into the config file at `path` (NULL: the active one),
 * replacing the key's line if present and keeping every other line and
 * comment; value NULL removes the key. The value is validated first; the
 * file is written atomically (hone_file_write_atomic, directories made as
 * needed). When path is the active config file the file layer is reloaded.
 * Returns HONE_OK, HONE_ENOTFOUND (unknown name, or no config file),
 * HONE_EINVAL/HONE_ERANGE (bad value), HONE_EPARSE (the existing file does
 * not parse: it is left untouched), HONE_EIO/HONE_EACCES. */
HONE_API int hone_opt_persist(const char *path, const char *name, const char *component,
                              const char *value, hone_error *err);

/* Appends every setting's effective value, origin and where to out, one
 * line each in a table (json 0) or as one JSON object (json 1):
 *   {"config": PATH|null, "load_error": MSG|null, "settings": [{"name":
 *   "cache.ttl", "value": "1h", "origin": "file", "where": "...",
 *   "variable": "HONE_CACHE_TTL", "levels": {"basic": ..., ...}}, ...],
 *   "components": [{"component": "parser", "name": "cache.ttl", ...}]}
 * Returns HONE_OK or HONE_ENOMEM. */
HONE_API int hone_opt_status(hone_buf *out, int json, hone_error *err);

/* Appends what a level, strategy or preset sets (selector HONE_SET_LEVEL,
 * HONE_SET_CACHE_STRATEGY or HONE_SET_PRESET; choice by name, e.g.
 * "aggressive"), as text or JSON. Returns HONE_OK, HONE_EINVAL (bad
 * selector or choice: err names the valid ones), HONE_ENOMEM. */
HONE_API int hone_opt_bundle_describe(int selector, const char *choice, hone_buf *out, int json,
                                      hone_error *err);

/* ------------------------------------------------------------------ */
/* Report: what the components did over a window                       */
/* ------------------------------------------------------------------ */

typedef struct hone_opt_zone_stat {
    char name[96];
    uint64_t count;
    double mean_ns;
    uint64_t p50_ns, p90_ns, p99_ns, max_ns;
    uint64_t total_ns; /* inclusive time over the window */
    double per_sec;    /* calls per second of the window */
} hone_opt_zone_stat;

typedef struct hone_opt_cache_stat {
    char name[64];
    uint64_t hits, misses;             /* over the window */
    uint64_t evicted_capacity;         /* evicted for room over the window */
    uint64_t expired;                  /* removed by their ttl over the window */
    uint64_t entries, bytes;           /* at the end of the window */
    uint64_t max_entries, max_bytes;   /* capacity (0: no limit of that kind) */
    double utilization;                /* percent of the binding capacity, at the end */
    double peak_utilization;           /* highest seen at a sample in the window */
    uint64_t memory_bytes;             /* hone_cache_memory_size at the end */
    uint64_t ttl_ns;                   /* the cache's ttl (0 none), when known */
} hone_opt_cache_stat;

typedef struct hone_opt_batcher_stat {
    char name[64];
    hone_batcher_stats st;  /* counters over the window; latencies at the end */
    size_t batch_size;      /* the batcher's settings */
    uint64_t max_wait_ns;
} hone_opt_batcher_stat;

typedef struct hone_opt_http_stat {
    char name[64];
    hone_http_stats st; /* over the window */
} hone_opt_http_stat;

typedef struct hone_opt_process_stat {
    double cpu_percent;         /* of one CPU, over the window */
    unsigned cpus;              /* online CPUs */
    uint64_t rss_start, rss_end, peak_rss;
    uint32_t threads;
} hone_opt_process_stat;

typedef struct hone_opt_report {
    uint64_t start_ns, end_ns; /* the window, on the monitor's clock */
    hone_opt_zone_stat *zones;
    size_t nzones;
    hone_opt_cache_stat *caches;
    size_t ncaches;
    hone_opt_batcher_stat *batchers;
    size_t nbatchers;
    hone_opt_http_stat *https;
    size_t nhttps;
    int has_process;
    hone_opt_process_stat process;
    int max_workers;            /* the effective exec.max_workers, resolved (CPUs for 0) */
} hone_opt_report;

typedef struct hone_opt_monitor hone_opt_monitor;

typedef struct hone_opt_monitor_opts {
    const hone_allocator *alloc;
    hone_clock_fn clock; /* NULL: hone_now_ns() */
    void *clock_ctx;
    /* Nonzero: read the profiler's zones (hone_prof_snapshot_take with
     * reset at each window start, so zone figures are exactly the
     * window's). The profiler is process-wide: one monitor should do it. */
    int zones;
    int process; /* nonzero: read this process's CPU and memory */
} hone_opt_monitor_opts;

/* A monitor watches components, named as they appear in the report. The
 * watched objects are borrowed and must outlive the monitor (or be
 * unwatched). Returns HONE_OK, HONE_EINVAL, HONE_ENOMEM. */
HONE_API int hone_opt_monitor_new(hone_opt_monitor **out, const hone_opt_monitor_opts *opts);
HONE_API void hone_opt_monitor_free(hone_opt_monitor *m);
HONE_API int hone_opt_watch_cache(hone_opt_monitor *m, const char *name, hone_cache *c);
HONE_API int hone_opt_watch_batcher(hone_opt_monitor *m, const char *name, hone_batcher *b,
                                    size_t batch_size, uint64_t max_wait_ns);
HONE_API int hone_opt_watch_http(hone_opt_monitor *m, const char *name, hone_http_client *c);
HONE_API void hone_opt_unwatch(hone_opt_monitor *m, const char *name);
/* Starts a window: takes the baselines. */
HONE_API int hone_opt_monitor_begin(hone_opt_monitor *m, hone_error *err);
/* Takes an intermediate sample (peak utilization and memory); optional. */
HONE_API int hone_opt_monitor_sample(hone_opt_monitor *m, hone_error *err);
/* Ends the window at now and makes the report over it; a new window starts
 * at once. Returns HONE_OK, HONE_EINVAL (no begin), HONE_ENOMEM. */
HONE_API int hone_opt_monitor_report(hone_opt_monitor *m, hone_opt_report **out, hone_error *err);
HONE_API void hone_opt_report_free(hone_opt_report *r, const hone_allocator *alloc);

/* Appends the report as a table (json 0) or one JSON object (json 1). */
HONE_API int hone_opt_report_format(const hone_opt_report *r, hone_buf *out, int json);
/* Reads a report written by hone_opt_report_format(json 1). Returns
 * HONE_OK, HONE_EPARSE (not JSON, line and column in err), HONE_ECORRUPT
 * (JSON but not a report: err names the field), HONE_ENOMEM. */
HONE_API int hone_opt_report_parse(hone_opt_report **out, const char *json, size_t len,
                                   const hone_allocator *alloc, hone_error *err);
/* Makes a report from what a running hone server answers (/api/caches,
 * /api/profile, /api/process at base URL `url`, "http://127.0.0.1:9000"),
 * sampled twice `window_ns` apart; counters are the differences, zone
 * figures those of the server's profile. Loopback or any URL the caller
 * names; nothing else is contacted. */
HONE_API int hone_opt_report_fetch(hone_opt_report **out, const char *url, uint64_t window_ns,
                                   const hone_allocator *alloc, hone_error *err);

/* ------------------------------------------------------------------ */
/* Recommendations                                                     */
/* ------------------------------------------------------------------ */

typedef enum hone_opt_severity {
    HONE_OPT_INFO = 0,    /* worth knowing; nothing to change */
    HONE_OPT_LOW = 1,     /* a small gain available */
    HONE_OPT_MEDIUM = 2,  /* a clear gain available */
    HONE_OPT_HIGH = 3,    /* a large loss today (most time or memory wasted) */
    HONE_OPT_CRITICAL = 4 /* failing or about to (errors, rejections, memory) */
} hone_opt_severity;

typedef enum hone_opt_verdict {
    HONE_OPT_QUIET = 0,   /* the rule read enough data and found nothing */
    HONE_OPT_FIRED = 1,   /* a finding */
    HONE_OPT_NO_DATA = 2  /* too few samples to say: "not enough data" */
} hone_opt_verdict;

typedef struct hone_opt_finding {
    const char *rule;    /* "cache.undersized" (static) */
    char subject[96];    /* "cache sessions", "zone parse", "process" */
    int verdict;         /* hone_opt_verdict */
    int severity;        /* hone_opt_severity (FIRED only) */
    double confidence;   /* 0..1: how sure the evidence makes the rule */
    char evidence[512];  /* the measurements, with their counts and window */
    char effect[256];    /* what following the action should change, by how much */
    char action[256];    /* what to do ("set cache.size=128M"); "" when none */
    int setting;         /* the setting the action changes; -1 none */
    char value[64];      /* its proposed value */
} hone_opt_finding;

typedef struct hone_opt_rule_info {
    const char *name;  /* "cache.undersized" */
    const char *reads; /* the measurements it reads */
    const char *why;   /* why the finding follows from them */
    const char *min_data; /* how much data it needs before it says anything */
} hone_opt_rule_info;

/* Every rule, in the order they run. */
HONE_API const hone_opt_rule_info *hone_opt_rules(size_t *n);

/* Runs every rule over the report: one finding per rule and subject it
 * applies to (FIRED, QUIET or NO_DATA), fired ones first by severity.
 * *out is allocated with alloc (free with hone_free). Returns HONE_OK,
 * HONE_EINVAL, HONE_ENOMEM. */
HONE_API int hone_opt_recommend(const hone_opt_report *r, hone_opt_finding **out, size_t *n,
                                const hone_allocator *alloc);
/* Appends findings as text (fired ones; quiet and no-data too when `all`)
 * or as a JSON array. */
HONE_API int hone_opt_findings_format(const hone_opt_finding *f, size_t n, int all, hone_buf *out,
                                      int json);
/* "info", "low", "medium", "high", "critical"; "fired", "quiet", "not enough data". */
HONE_API const char *hone_opt_severity_name(int severity);
HONE_API const char *hone_opt_verdict_name(int verdict);

/* ------------------------------------------------------------------ */
/* Alerts                                                              */
/* ------------------------------------------------------------------ */

/* An alert fires when its metric has been on the wrong side of `fire` for
 * `for_ns`, and resolves only when it has been back past `clear` for
 * `for_ns` (two thresholds: hysteresis). above nonzero: wrong = high
 * (fire >= clear required); zero: wrong = low (fire <= clear). */
typedef struct hone_opt_alert_rule {
    const char *name;   /* [A-Za-z0-9_.-], up to 63 bytes */
    const char *metric; /* a report metric: "zone.NAME.p99_ms", "zone.NAME.mean_ms",
                           "cache.NAME.hit_rate" (percent), "cache.NAME.utilization",
                           "batcher.NAME.p99_ms", "http.NAME.error_rate" (percent),
                           "process.cpu_percent", "process.rss_mb", or any name the
                           caller feeds through hone_opt_alerts_observe */
    int above;
    double fire, clear;
    uint64_t for_ns;
} hone_opt_alert_rule;

typedef enum hone_opt_alert_state {
    HONE_ALERT_OK = 0,
    HONE_ALERT_PENDING = 1, /* past fire, for less than for_ns */
    HONE_ALERT_FIRING = 2,
    HONE_ALERT_RESOLVING = 3 /* firing, back past clear for less than for_ns */
} hone_opt_alert_state;

typedef struct hone_opt_alert_event {
    const char *name, *metric;
    int firing;       /* 1: started firing; 0: resolved */
    double value;     /* the value that completed the transition */
    double threshold; /* fire or clear */
    uint64_t since_ns; /* when the metric first crossed */
    uint64_t at_ns;
    char message[256]; /* "zone.parse.p99_ms = 62.1 >= 50 for 30 s" */
} hone_opt_alert_event;

typedef void (*hone_opt_alert_fn)(void *ctx, const hone_opt_alert_event *ev);

typedef struct hone_opt_alerts_opts {
    hone_opt_alert_fn fn; /* NULL: none */
    void *ctx;
    int log;              /* nonzero: each transition also goes to hone_log (warn / info) */
    /* NULL: none. Else each rule exports hone_alert_active{alert=NAME} (1
     * firing, 0 not) and hone_alert_transitions_total{alert=NAME}, which the
     * server's /metrics shows. */
    hone_metrics *metrics;
    const hone_allocator *alloc;
} hone_opt_alerts_opts;

typedef struct hone_opt_alerts hone_opt_alerts;

HONE_API int hone_opt_alerts_new(hone_opt_alerts **out, const hone_opt_alerts_opts *opts);
HONE_API void hone_opt_alerts_free(hone_opt_alerts *a);
/* Adds a rule (copied). HONE_EINVAL with err naming what is wrong (name,
 * thresholds on the wrong side, no metric), HONE_EEXIST (same name). */
HONE_API int hone_opt_alerts_add(hone_opt_alerts *a, const hone_opt_alert_rule *r, hone_error *err);
/* Adds the [alert.NAME] sections of a config file (path NULL: the active
 * one; missing file: nothing). Keys: metric, above or below (the fire
 * threshold), clear, for (a duration). HONE_EPARSE naming path:line. */
HONE_API int hone_opt_alerts_load(hone_opt_alerts *a, const char *path, hone_error *err);
/* Feeds one value of a metric at time now_ns; rules on that metric advance
 * their state and deliver transitions. Thread-safe. */
HONE_API void hone_opt_alerts_observe(hone_opt_alerts *a, const char *metric, double value,
                                      uint64_t now_ns);
/* Feeds every metric a report has, at the report's end time. */
HONE_API void hone_opt_alerts_observe_report(hone_opt_alerts *a, const hone_opt_report *r);
/* Appends each rule with its state, last value and transitions count, as
 * text or JSON. */
HONE_API int hone_opt_alerts_format(hone_opt_alerts *a, hone_buf *out, int json);
/* "ok", "pending", "firing", "resolving". */
HONE_API const char *hone_opt_alert_state_name(int state);

/* ------------------------------------------------------------------ */
/* Continuous mode and the journal                                     */
/* ------------------------------------------------------------------ */

/* The journal is an append-only file of JSON lines, one per event:
 *   {"seq":4,"time":"2026-12-04T16:20:00Z","setting":"batch.size",
 *    "component":null,"before":"64","after":"128","evidence":"...",
 *    "outcome":"kept"|"reverted"|"undone"|"skipped","ref":3}
 * plus "before_origin" (the origin of `before`: "default", "auto", ...).
 * A tuner's change is written once judged, with its outcome ("kept" or
 * "reverted"); a knob left alone is one "skipped" line; an undo is a later
 * "undone" line whose "ref" names the change. Nothing is ever rewritten:
 * each line is one O_APPEND write under an exclusive flock, fsynced.
 * Default path: $XDG_STATE_HOME/hone/journal.jsonl (XDG_STATE_HOME
 * absolute), else ~/.local/state/hone/journal.jsonl (HONE_ENOTFOUND with
 * HONE_CONFIG=off or no HOME). A complete line that is not a journal line
 * stops a replay with HONE_ECORRUPT naming path:line, before anything is
 * applied. An incomplete last line (no newline: a crash mid-write) is
 * ignored by replay and format with a logged warning; nothing is appended
 * after it (HONE_ECORRUPT naming path:line) until the user removes it. */
HONE_API int hone_opt_journal_path(char **out, const hone_allocator *alloc, hone_error *err);

/* Replays a journal (path NULL: the default one; none is HONE_OK) into
 * the auto layer: each setting it names gets the `after` of its last kept
 * change not undone, with where "journal #SEQ", or no auto value when all
 * were undone. A setting this build does not know, or a value it no
 * longer accepts, is left out with a logged warning. Returns HONE_OK,
 * HONE_ECORRUPT, HONE_EIO, HONE_ENOMEM. A missing file is HONE_OK. */
HONE_API int hone_opt_journal_replay(const char *path, hone_error *err);
/* Undoes the last kept change not already undone: appends an "undone" line
 * and sets the auto layer back (its `before` when that came from the auto
 * layer, i.e. the earlier kept change still in effect, with that change's
 * "journal #SEQ"; else removes the auto value), so the auto layer is what
 * a replay of the journal gives. *what (may be NULL) receives a line
 * describing it. Returns HONE_OK, HONE_ENOTFOUND (nothing to undo, no
 * journal file, HONE_CONFIG=off), HONE_ECORRUPT, HONE_EIO. */
HONE_API int hone_opt_journal_undo(const char *path, char *what, size_t what_size, hone_error *err);
/* Appends the journal as text (one line per event: "#SEQ TIME SETTING
 * BEFORE -> AFTER: OUTCOME; EVIDENCE", a kept change marked "(undone by
 * #N)") or JSON (an array of the stored lines). No journal: an empty
 * history. Returns HONE_OK, HONE_ECORRUPT (out unchanged), HONE_EIO,
 * HONE_ENOMEM. */
HONE_API int hone_opt_journal_format(const char *path, hone_buf *out, int json, hone_error *err);

/* A setting the tuner may move: from its current value by multiplying or
 * dividing by `factor` (0: 2; else above 1), within [min, max] intersected
 * with the setting's own range (max 0: the setting's max). Only U64, SIZE
 * and DURATION settings. */
typedef struct hone_opt_knob {
    int setting;
    const char *component; /* NULL: global */
    uint64_t min, max;
    double factor;
} hone_opt_knob;

/* One measurement of the objective: higher is better (throughput, or a
 * negated latency). Called several times per window; returns HONE_OK or
 * an error (the step is abandoned and the setting restored). */
typedef int (*hone_opt_measure_fn)(void *ctx, double *value);

typedef struct hone_opt_tuner_opts {
    const hone_opt_knob *knobs;
    size_t nknobs;
    hone_opt_measure_fn measure;
    void *ctx;
    unsigned samples;  /* measurements per window; 0: 5 */
    uint64_t hold_ns;  /* least time between two changes; 0: 60 s */
    /* A change is kept only when the mean after exceeds the mean before by
     * more than both min_gain (relative; 0: 0.02) and z standard errors of
     * the difference (Welch; z 0: 2.0); it is reverted when it is worse by
     * more than that, or not clearly better. */
    double min_gain;
    double z;
    const char *journal; /* NULL: hone_opt_journal_path() (none: memory only) */
    hone_clock_fn clock; /* NULL: hone_now_ns() */
    void *clock_ctx;
    const hone_allocator *alloc;
} hone_opt_tuner_opts;

typedef enum hone_opt_tuner_action {
    HONE_TUNE_WAIT = 0,     /* holding: nothing to do yet */
    HONE_TUNE_MEASURED = 1, /* measured the baseline */
    HONE_TUNE_STEPPED = 2,  /* changed one setting (pending judgement) */
    HONE_TUNE_KEPT = 3,     /* the change helped: kept */
    HONE_TUNE_REVERTED = 4, /* it did not: put back */
    HONE_TUNE_SKIPPED = 5,  /* knob set explicitly by the user: left alone */
    HONE_TUNE_DONE = 6      /* no knob has a step left that helped */
} hone_opt_tuner_action;

typedef struct hone_opt_tuner_event {
    int action;         /* hone_opt_tuner_action */
    int setting;        /* -1 when none */
    char before[64], after[64];
    double mean_before, mean_after, se_diff; /* when judged */
    char evidence[256];
} hone_opt_tuner_event;

typedef struct hone_opt_tuner hone_opt_tuner;

/* Makes a tuner (continuous mode is off until a program makes one).
 * HONE_EINVAL: no knobs, a knob on a non-numeric setting, no measure. */
HONE_API int hone_opt_tuner_new(hone_opt_tuner **out, const hone_opt_tuner_opts *opts,
                                hone_error *err);
HONE_API void hone_opt_tuner_free(hone_opt_tuner *t);
/* Advances the tuner by at most one action, measuring through the
 * callback: called periodically by the program (or its pool's timer). It
 * changes at most one setting per call, never before hold_ns since the
 * last change, never a setting whose origin is file, env or api (that
 * is SKIPPED once, journalled), each step bounded by the knob's factor and
 * range. Returns HONE_OK with *ev (may be NULL) describing what it did, or
 * the measure callback's error. Not thread-safe: one thread ticks. */
HONE_API int hone_opt_tuner_tick(hone_opt_tuner *t, hone_opt_tuner_event *ev, hone_error *err);
/* "wait", "measured", "stepped", "kept", "reverted", "skipped", "done". */
HONE_API const char *hone_opt_tuner_action_name(int action);

#ifdef __cplusplus
}
#endif
#endif /* HONE_OPT_H */
