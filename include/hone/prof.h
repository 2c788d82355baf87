/* hone/prof.h - the profiler: zones (named, timed scopes), log-linear
 * latency histograms, snapshots merged over threads, and reports.
 *
 * A zone is a static per-call-site descriptor plus a scope on the caller's
 * stack. Recording is per thread: the hot path touches only the calling
 * thread's own memory, with no lock and no read-modify-write atomic. Each
 * thread keeps one fixed-size slot per zone (with a histogram whose pieces
 * are allocated the first time a value of that magnitude is seen), so memory
 * is bounded by threads x zones x histogram size, never by the number of
 * calls.
 *
 * Each thread also knows which zone runs inside which: a zone's identity in
 * the zone tree is its path of enclosing zones on its thread ("main;parse;
 * lex"), and every path keeps the statistics a flat zone keeps. The flat
 * per-zone figures are the sums over the paths of each zone, so both views
 * come from one record per call.
 *
 * Switches: HONE_PROFILE=0|1|trace (read when the library loads) and
 * hone_prof_enable() / hone_prof_trace() at run time; when off, a zone costs
 * one load and one predictable branch. With tracing on, each zone's begin and
 * end also go into a bounded ring per thread (the timeline that
 * HONE_REPORT_CHROME writes). Defining HONE_NO_PROFILE before including this
 * header removes zones from the compiled code entirely. HONE_PROFILE_OUT=path
 * makes the process write its profile (JSON, see hone_prof_snapshot_json) to
 * path at exit, and turns profiling on unless HONE_PROFILE=0.
 */
#ifndef HONE_PROF_H
#define HONE_PROF_H

#include "hone/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Histogram                                                           */
/* ------------------------------------------------------------------ */

/* A log-linear histogram of non-negative integer values (HdrHistogram's
 * layout): values up to 2 * 10^digits are exact, larger ones keep
 * `significant_digits` decimal digits of precision. Not thread-safe: one
 * writer at a time, and readers must not run concurrently with writers. */
typedef struct hone_hist hone_hist;

typedef struct hone_hist_opts {
    const hone_allocator *alloc; /* NULL: the default */
    int significant_digits;      /* 1..3; 0 means 2 */
    uint64_t highest;            /* largest trackable value; 0 means 3.6e12 (1 h in ns) */
} hone_hist_opts;

/* Makes an empty histogram. Returns HONE_OK, HONE_EINVAL (out NULL,
 * digits outside 1..3 or highest < 2 * 10^digits) or HONE_ENOMEM; on error
 * *out is NULL. */
HONE_API int hone_hist_new(hone_hist **out, const hone_hist_opts *opts);
/* Frees h; NULL is a no-op. */
HONE_API void hone_hist_free(hone_hist *h);
/* Records one value (count times). Values above `highest` are recorded as
 * `highest` and counted by hone_hist_saturated(). Cannot fail. */
HONE_API void hone_hist_record(hone_hist *h, uint64_t value);
HONE_API void hone_hist_record_n(hone_hist *h, uint64_t value, uint64_t count);
/* Adds every count of src to dst. Returns HONE_OK, or HONE_EINVAL when
 * their digits or highest differ. */
HONE_API int hone_hist_merge(hone_hist *dst, const hone_hist *src);
/* Empties h, keeping its memory. */
HONE_API void hone_hist_reset(hone_hist *h);
/* The number of recorded values. */
HONE_API uint64_t hone_hist_count(const hone_hist *h);
/* Values recorded above `highest` (clamped). */
HONE_API uint64_t hone_hist_saturated(const hone_hist *h);
/* The exact smallest and largest recorded values; 0 when empty. */
HONE_API uint64_t hone_hist_min(const hone_hist *h);
HONE_API uint64_t hone_hist_max(const hone_hist *h);
/* Mean and standard deviation computed from the buckets (each value
 * counted at the middle of its bucket, as HdrHistogram does); 0 if empty. */
HONE_API double hone_hist_mean(const hone_hist *h);
HONE_API double hone_hist_stddev(const hone_hist *h);
/* The value at percentile p (0..100): the highest value equivalent to the
 * bucket holding the ceil(p% of count)-th value, clamped to the exact max.
 * 0 when empty. */
HONE_API uint64_t hone_hist_percentile(const hone_hist *h, double p);
/* Values v1 and v2 are "equivalent" when they share a bucket; these give
 * the smallest and largest value equivalent to v. */
HONE_API uint64_t hone_hist_lowest_equivalent(const hone_hist *h, uint64_t v);
HONE_API uint64_t hone_hist_highest_equivalent(const hone_hist *h, uint64_t v);
/* Bytes of memory h uses, struct included. */
HONE_API size_t hone_hist_memory_size(const hone_hist *h);

/* ------------------------------------------------------------------ */
/* Zones                                                               */
/* ------------------------------------------------------------------ */

/* One call site. Make it static (the HONE_ZONE macros do); it is
 * registered the first time it records and must live until exit. Fields
 * other than `id` may be set before first use; `id` belongs to hone. */
typedef struct hone_prof_site {
    const char *name; /* shown in reports; zones with one name are separate
                         if their sites differ */
    const char *file;
    const char *func;
    int line;
    int slow_level;   /* hone_log_level for slow calls */
    uint64_t slow_ns; /* a call taking longer logs one line; 0: never */
    uint32_t id;      /* 0 until registered (accessed atomically) */
    uint32_t slow_suppressed; /* slow calls not logged since the last line */
    uint64_t slow_last_ns;    /* when the last slow-call line was logged */
} hone_prof_site;

/* A zone in progress, on the caller's stack. Opaque contents. */
typedef struct hone_prof_scope {
    hone_prof_site *site; /* NULL: not recording */
    uint64_t start;
    uint64_t child;
    struct hone_prof_scope *parent;
    uint32_t node; /* its path in the zone tree */
} hone_prof_scope;

/* Nonzero while profiling is on. Read it with hone_prof_enabled(); it is
 * exported only so that the disabled check can be inlined. */
HONE_API extern int hone_prof_state;

/* Switches profiling on (1) or off (0) for every thread. Zones already
 * begun still end normally. Tracing (hone_prof_trace) is a separate switch
 * and only records while profiling is on. Thread-safe; cannot fail. */
HONE_API void hone_prof_enable(int on);

/* Switches tracing on (1) or off (0) for every thread: while it and
 * profiling are on, each zone that ends also writes one event (its path,
 * begin and end) into its thread's ring of hone_prof_config.trace_events
 * events. A full ring overwrites its oldest event, and snapshots count the
 * events so lost, so memory stays at one ring per thread that traced
 * (rings of exited threads are kept until the next reset, at most
 * HONE_PROF_TRACE_RETIRED of them) however long the program runs. A zone
 * that is still open when a snapshot is taken is not in it. HONE_PROFILE=
 * trace turns both switches on at start. Thread-safe; cannot fail (a ring
 * that cannot be allocated loses its events, which are counted). */
HONE_API void hone_prof_trace(int on);
/* Nonzero while tracing is on. Thread-safe. */
HONE_API int hone_prof_tracing(void);

/* Rings of exited threads kept for the next snapshot; older ones are freed
 * and their events counted as dropped. */
#define HONE_PROF_TRACE_RETIRED 64
static inline int hone_prof_enabled(void) {
    return __atomic_load_n(&hone_prof_state, __ATOMIC_RELAXED);
}

/* Begins a zone on this thread (use the macros below). When profiling is
 * off, or the thread's state cannot be allocated, or more than
 * HONE_PROF_MAX_ZONES sites exist, scope->site is set to NULL and nothing is
 * recorded (hone_prof_dropped() counts the latter two). Must be paired with
 * hone_prof_end() on the same thread, innermost first. */
HONE_API void hone_prof_begin_slow(hone_prof_site *site, hone_prof_scope *scope);
/* Ends the zone begun into scope: records its inclusive time, its self
 * time (inclusive minus the time of zones nested directly in it), and
 * logs a line if it took longer than site->slow_ns. */
HONE_API void hone_prof_end_slow(hone_prof_scope *scope);

static inline void hone_prof_begin(hone_prof_site *site, hone_prof_scope *scope) {
    if (__builtin_expect(hone_prof_enabled(), 0))
        hone_prof_begin_slow(site, scope);
    else
        scope->site = NULL;
}
static inline void hone_prof_end(hone_prof_scope *scope) {
    if (scope->site) hone_prof_end_slow(scope);
}
/* For __attribute__((cleanup)). */
static inline void hone_prof__cleanup(hone_prof_scope *scope) { hone_prof_end(scope); }

/* Records a duration measured elsewhere as one call of site (inclusive
 * and self time both ns), on this thread, if profiling is on. In the zone
 * tree it is a child of the zone open on this thread (if any), whose self
 * time it does not reduce, as it may have run elsewhere. It is not traced.
 * Slow-call logging applies. */
HONE_API void hone_prof_record(hone_prof_site *site, uint64_t ns);

/* At most this many distinct sites record; later ones are dropped. */
#define HONE_PROF_MAX_ZONES 4096
/* At most this many distinct paths (nodes of the zone tree) record; a zone
 * whose path would be a new one past this is dropped (counted by
 * hone_prof_dropped), and zones inside it are recorded as if it were not
 * there. 4x the sites: most sites run under one or two parents. */
#define HONE_PROF_MAX_NODES 16384

/* Bytes the profiler's per-thread recording state uses now (slots and
 * histogram blocks of live threads), like HdrHistogram's
 * hdr_get_memory_size. Thread-safe. */
HONE_API size_t hone_prof_memory_size(void);

/* Zones not recorded because of HONE_PROF_MAX_ZONES, HONE_PROF_MAX_NODES
 * or out of memory. */
HONE_API uint64_t hone_prof_dropped(void);

/* A clock for the profiler to read instead of the cycle counter, in
 * nanoseconds; ctx is hone_prof_config.clock_ctx. For tests and replays
 * that need exact, repeatable durations. Called on the recording thread;
 * it must be thread-safe if zones run on several threads. */
typedef uint64_t (*hone_prof_clock_fn)(void *ctx);

typedef struct hone_prof_config {
    int significant_digits; /* of every zone histogram, 1..3; 0 means 2 */
    uint64_t slow_log_interval_ns; /* at most one slow-call line per site per
                                      interval (others are counted and
                                      reported with the next); 0 means 1 s */
    /* Events in each thread's trace ring, rounded up to a power of two,
     * 2..2^24; 0 means 65536 (1.5 MiB a thread at 24 bytes an event: the
     * last 0.65 s of a thread that runs a zone every 10 us). Applies to
     * rings made after the call (a thread makes its ring when it first
     * traces). */
    size_t trace_events;
    hone_prof_clock_fn clock; /* NULL: the cycle counter (hone_cycles) */
    void *clock_ctx;
} hone_prof_config;

/* Sets the profiler's configuration. The slow-call interval may change at
 * any time; the significant digits only until the first zone registers
 * (histograms cannot change shape under recorders); the clock only while no
 * zone is open on any thread (a zone begun on one clock and ended on the
 * other measures nonsense). Trace timestamps count from when the profiler
 * loaded, or, with a clock, are that clock's readings. Returns HONE_OK,
 * HONE_EINVAL (bad value) or HONE_ESTATE (other digits asked for after a
 * zone registered; nothing changed). Thread-safe. */
HONE_API int hone_prof_configure(const hone_prof_config *cfg);

#define HONE__CAT2(a, b) a##b
#define HONE__CAT(a, b) HONE__CAT2(a, b)

#ifndef HONE_NO_PROFILE
/* HONE_ZONE("name"): times the rest of the enclosing block. */
#define HONE_ZONE(name) HONE_ZONE_SLOW(name, 0, HONE_LOG_WARN)
/* Same, logging calls slower than slow_ms (whole) milliseconds at `level`,
 * rate-limited (see hone_prof_config). */
#define HONE_ZONE_SLOW(name, slow_ms, level)                                                    \
    static hone_prof_site HONE__CAT(hone__site_, __LINE__) = {                                  \
        name, __FILE__, __func__, __LINE__, (int)(level), (uint64_t)(slow_ms) * 1000000u, 0, 0, 0}; \
    __attribute__((cleanup(hone_prof__cleanup))) hone_prof_scope HONE__CAT(hone__scope_, __LINE__); \
    hone_prof_begin(&HONE__CAT(hone__site_, __LINE__), &HONE__CAT(hone__scope_, __LINE__))
/* Explicit begin/end for code that cannot use a block: `var` names the
 * zone so that HONE_ZONE_END(var) can end it. */
#define HONE_ZONE_BEGIN(var, name)                                                              \
    static hone_prof_site HONE__CAT(hone__site_, var) = {                                       \
        name, __FILE__, __func__, __LINE__, HONE_LOG_WARN, 0, 0, 0, 0};                          \
    hone_prof_scope var;                                                                        \
    hone_prof_begin(&HONE__CAT(hone__site_, var), &var)
#define HONE_ZONE_END(var) hone_prof_end(&var)
#else
#define HONE_ZONE(name) ((void)0)
#define HONE_ZONE_SLOW(name, slow_ms, level) ((void)0)
#define HONE_ZONE_BEGIN(var, name) ((void)0)
#define HONE_ZONE_END(var) ((void)0)
#endif

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */
/* ------------------------------------------------------------------ */

/* What one zone did, merged over threads. Times in nanoseconds. */
typedef struct hone_prof_zone {
    const char *name, *file, *func; /* owned by the snapshot */
    int line;
    uint64_t count;
    uint64_t total_ns; /* inclusive */
    uint64_t self_ns;  /* inclusive minus directly nested zones */
    uint64_t min_ns, max_ns;
    double mean_ns, std_ns;
    uint64_t p50_ns, p90_ns, p99_ns, p999_ns;
} hone_prof_zone;

/* One node of the zone tree: the calls of a zone at one path of enclosing
 * zones, merged over threads. The statistics have the meaning they have in
 * hone_prof_zone, restricted to the calls at this path; a node kept only
 * because calls under it ran in the interval has count 0. */
typedef struct hone_prof_node {
    hone_prof_zone z; /* name, file, func owned by the snapshot */
    size_t parent;    /* index of the enclosing node, or HONE_PROF_NO_PARENT */
    unsigned depth;   /* 0 for outermost zones */
} hone_prof_node;

#define HONE_PROF_NO_PARENT ((size_t)-1)

/* One traced call: a zone's begin and end on one thread. Times in ns (see
 * hone_prof_config for their origin); node indexes the snapshot's tree. */
typedef struct hone_prof_event {
    uint64_t begin_ns, end_ns;
    size_t node;
} hone_prof_event;

/* The trace of one thread. */
typedef struct hone_prof_thread {
    uint64_t tid;     /* the kernel's thread id (gettid) */
    const char *name; /* pthread name; owned by the snapshot */
    const hone_prof_event *events; /* n_events, by begin time (an enclosing
                                      zone before the zones in it) */
    size_t n_events;
    uint64_t dropped; /* events of the interval lost to a full ring */
} hone_prof_thread;

typedef struct hone_prof_snapshot hone_prof_snapshot;

typedef struct hone_prof_snapshot_opts {
    const hone_allocator *alloc; /* NULL: the default */
    int reset; /* nonzero: also start a new interval, atomically: every
                  record lands in exactly one snapshot */
} hone_prof_snapshot_opts;

/* Takes a snapshot of every zone that recorded since the last reset (or
 * start), merging all threads, including threads that have exited, while
 * other threads keep recording. Zones with no calls in the interval are
 * left out. A record in flight while the snapshot is taken may appear in
 * its count but only in the next snapshot's histogram (or the reverse);
 * across consecutive snapshots every record is counted exactly once in
 * every field. Returns HONE_OK, HONE_EINVAL (out NULL) or HONE_ENOMEM (no
 * reset happened). Thread-safe; snapshots serialise with each other. */
HONE_API int hone_prof_snapshot_take(hone_prof_snapshot **out, const hone_prof_snapshot_opts *opts);
/* Reads a snapshot written by hone_prof_snapshot_json() (the file of
 * HONE_PROFILE_OUT). Returns HONE_OK, HONE_EPARSE (not JSON; err has line
 * and column), HONE_ECORRUPT (JSON but not a hone profile; err names the
 * field), HONE_ENOMEM, HONE_EINVAL. */
HONE_API int hone_prof_snapshot_parse(hone_prof_snapshot **out, const char *json, size_t len,
                                      const hone_allocator *alloc, hone_error *err);
HONE_API void hone_prof_snapshot_free(hone_prof_snapshot *s);
/* Zones of the snapshot, in registration order; pointers valid until the
 * snapshot is freed. */
HONE_API size_t hone_prof_snapshot_count(const hone_prof_snapshot *s);
HONE_API const hone_prof_zone *hone_prof_snapshot_zone(const hone_prof_snapshot *s, size_t i);
/* Wall time the snapshot covers (since start or the last reset), in ns. */
HONE_API uint64_t hone_prof_snapshot_wall_ns(const hone_prof_snapshot *s);
/* The zone named `name` (first match), or NULL. */
HONE_API const hone_prof_zone *hone_prof_snapshot_find(const hone_prof_snapshot *s, const char *name);

/* The zone tree: nodes in depth-first order (each node after its parent,
 * siblings in the order they first ran), every node that ran in the
 * interval and its ancestors. A snapshot read from a file written before
 * hone kept the tree has no nodes. Pointers valid until the snapshot is
 * freed; NULL past the end. */
HONE_API size_t hone_prof_snapshot_node_count(const hone_prof_snapshot *s);
HONE_API const hone_prof_node *hone_prof_snapshot_node(const hone_prof_snapshot *s, size_t i);

/* Nonzero when the snapshot holds a trace: tracing was on when it was
 * taken, or the file it was read from had one. */
HONE_API int hone_prof_snapshot_traced(const hone_prof_snapshot *s);
/* The traced threads (those with events or dropped events in the
 * interval), in no particular order; NULL past the end. */
HONE_API size_t hone_prof_snapshot_thread_count(const hone_prof_snapshot *s);
HONE_API const hone_prof_thread *hone_prof_snapshot_thread(const hone_prof_snapshot *s, size_t i);
/* Trace events of the interval lost: overwritten in full rings, in rings
 * of exited threads freed past HONE_PROF_TRACE_RETIRED, or not written
 * because a ring could not be allocated. */
HONE_API uint64_t hone_prof_snapshot_trace_dropped(const hone_prof_snapshot *s);

/* Starts a new interval without taking a snapshot. Same guarantees. */
HONE_API int hone_prof_reset(void);

/* ------------------------------------------------------------------ */
/* Reports                                                             */
/* ------------------------------------------------------------------ */

typedef enum hone_report_format {
    HONE_REPORT_TEXT = 0,
    HONE_REPORT_MD = 1,
    HONE_REPORT_JSON = 2,
    HONE_REPORT_CSV = 3,
    HONE_REPORT_PROM = 4, /* Prometheus text format 0.0.4 */
    HONE_REPORT_TREE = 5,   /* the zone tree, indented (profiles only) */
    HONE_REPORT_FOLDED = 6, /* folded stacks for flame graphs (profiles only) */
    HONE_REPORT_CHROME = 7  /* Chrome trace-event JSON (traced profiles only) */
} hone_report_format;

typedef enum hone_prof_sort {
    HONE_PROF_SORT_TOTAL = 0,
    HONE_PROF_SORT_SELF,
    HONE_PROF_SORT_MEAN,
    HONE_PROF_SORT_COUNT,
    HONE_PROF_SORT_MAX,
    HONE_PROF_SORT_P99,
    HONE_PROF_SORT_NAME
} hone_prof_sort;

/* "total", "self", "mean", "count", "max", "p99", "name" in enum order,
 * NULL-terminated, for option parsers. */
HONE_API const char *const *hone_prof_sort_names(void);
/* "text", "md", "json", "csv", "prom", "tree", "folded", "chrome" in enum
 * order, NULL-terminated. */
HONE_API const char *const *hone_report_format_names(void);

typedef struct hone_prof_report_opts {
    hone_report_format format;
    hone_prof_sort sort; /* descending, except NAME */
    size_t top_n;        /* 0: all */
    uint64_t min_calls;  /* zones with fewer calls are left out */
    /* Text and Markdown tables: 0 leaves out columns that repeat a value
     * shown to their left on every row or hold one value on all rows
     * (zones called once), and, in text, the least telling columns until
     * the table fits 100 columns; the last line says how many are hidden.
     * Nonzero shows every column. */
    int wide;
} hone_prof_report_opts;

/* Appends a report of s to out: a text table, Markdown table, JSON (the
 * format hone_prof_snapshot_parse reads; filters apply) or CSV with the
 * columns of tracy-csvexport (name,src_file,src_line,total_ns,total_perc,
 * counts,mean_ns,min_ns,max_ns,std_ns) followed by self_ns,p50_ns,p90_ns,
 * p99_ns,p999_ns. total_perc, like the tables' total%, is the zone's
 * inclusive time over the snapshot's interval (wall_ns): near 100 for the
 * outermost zone, past 100 when threads overlap. The tables' self% is the
 * zone's share of the sum of self times.
 * PROM writes Prometheus text format 0.0.4: a summary
 * hone_zone_duration_seconds (quantiles 0.5, 0.9, 0.99, 0.999) and a counter
 * hone_zone_self_seconds_total, labelled zone, file and line.
 * The JSON also holds the whole zone tree ("tree": nodes with a "parent"
 * index, -1 for outermost, and the zone fields) and, when traced, the trace
 * ("trace": "pid", "dropped" and "threads" with "tid", "name", "dropped" and
 * "events" as [node, begin_ns, end_ns] triples); filters apply to "zones"
 * only, and readers of the flat zones can ignore both.
 * TREE writes the tree indented two spaces a level, one line a node (calls,
 * total, total%, self, self%, mean, p50, p99); siblings follow `sort`,
 * min_calls leaves out a node and what is under it, top_n does not apply.
 * FOLDED writes one line a node whose self time is at least 0.5 us:
 * the path of zone names joined by ';' (a ';' or newline inside a name
 * becomes '_'), a space, and the self time in whole microseconds, as
 * flamegraph.pl, inferno and speedscope read it; no filter applies.
 * CHROME writes Chrome trace-event JSON ({"traceEvents": [...]}) as
 * Perfetto and chrome://tracing open it: a "process_name" and a
 * "thread_name" metadata event, then one complete ("ph": "X") event a
 * traced call with ts and dur in microseconds; "otherData" gives the
 * dropped events; no filter applies.
 * Returns HONE_OK, HONE_EINVAL, HONE_ENOTFOUND (TREE or FOLDED on a snapshot
 * without a tree, CHROME on one without a trace) or HONE_ENOMEM (out keeps
 * what it had). */
HONE_API int hone_prof_report(const hone_prof_snapshot *s, const hone_prof_report_opts *opts,
                              hone_buf *out);
/* The snapshot as JSON, every zone, unfiltered. Same returns. */
HONE_API int hone_prof_snapshot_json(const hone_prof_snapshot *s, hone_buf *out);

/* Takes a snapshot and writes its JSON to path atomically (temporary file,
 * fsync, rename, fsync of the directory), so the file is either the old
 * one or the complete new one. Returns HONE_OK, HONE_EIO/HONE_EACCES/
 * HONE_ENOTFOUND (err says which path and why) or HONE_ENOMEM. */
HONE_API int hone_prof_write_file(const char *path, hone_error *err);

#ifdef __cplusplus
}
#endif
#endif /* HONE_PROF_H */
