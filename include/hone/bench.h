/* hone/bench.h - benchmarking: statistics on timing samples (summary,
 * outliers, Welch's t-test, Mann-Whitney U, ratio of means with a confidence
 * interval), running commands with exact per-run measurements, and timing C
 * functions with calibrated iteration counts.
 *
 * Everything here is synchronous and keeps no global state: every function is
 * thread-safe as long as different threads pass different output objects.
 */
#ifndef HONE_BENCH_H
#define HONE_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "hone/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Statistics                                                          */
/* ------------------------------------------------------------------ */

/* A sample above median + HONE_BENCH_OUTLIER_K * MAD' (or below median - k *
 * MAD'), where MAD' = 1.4826 * MAD estimates the standard deviation of
 * normal data robustly, counts as an outlier. 3.5 is the cut-off of Iglewicz
 * and Hoaglin's modified z-score (0.6745 * |x - median| / MAD > 3.5). */
#define HONE_BENCH_OUTLIER_K 3.5

/* Summary statistics of one sample. Units are those of the input. */
typedef struct hone_bench_summary {
    size_t n;
    double mean;
    double stddev; /* sample standard deviation (n - 1); 0 when n < 2 */
    double median;
    double min, max;
    double mad;    /* median absolute deviation, unscaled */
    double p5, p25, p75, p95, p99; /* percentiles, linear interpolation */
    size_t outliers_low;  /* samples below the outlier fence */
    size_t outliers_high; /* samples above it */
} hone_bench_summary;

/* Summarises x[0..n-1] (not modified). Percentiles interpolate linearly
 * between closest ranks (the "R-7" definition used by numpy and Excel).
 * Outliers are counted, never removed: the caller decides what to report.
 * Returns HONE_OK; HONE_EINVAL if x or out is NULL or n == 0, or a value is
 * not finite; HONE_ENOMEM if the sorted copy (n doubles, through `a`) could
 * not be allocated, in which case *out is unchanged. */
HONE_API int hone_bench_summarize(const double *x, size_t n, hone_bench_summary *out,
                                  const hone_allocator *a);

/* The p-th percentile (p in [0, 100]) of sorted[0..n-1] (ascending), R-7
 * interpolation. Returns NaN if n == 0. Cannot fail otherwise. */
HONE_API double hone_bench_percentile(const double *sorted, size_t n, double p);

/* The regularized incomplete beta function I_x(a, b) for a, b > 0 and x in
 * [0, 1] (continued fraction, Lentz's method; relative error about 1e-14).
 * Returns NaN for arguments outside the domain. */
HONE_API double hone_bench_incbeta(double a, double b, double x);

/* P(T <= t) for Student's t distribution with df > 0 degrees of freedom
 * (df need not be an integer: Welch's test gives fractional df). Computed as
 * 1 - I_{df/(df+t^2)}(df/2, 1/2) / 2 for t >= 0. NaN if df <= 0. */
HONE_API double hone_bench_t_cdf(double t, double df);

/* The t with P(T <= t) = p, for p in (0, 1), by bisection on
 * hone_bench_t_cdf to 1e-12. NaN outside the domain. */
HONE_API double hone_bench_t_quantile(double p, double df);

/* P(Z <= z) for the standard normal distribution (via erfc). */
HONE_API double hone_bench_normal_cdf(double z);

/* Welch's unequal-variance t-test of the means of a and b. */
typedef struct hone_bench_welch {
    double t;  /* (mean_a - mean_b) / se */
    double df; /* Welch-Satterthwaite degrees of freedom */
    double p;  /* two-sided p-value */
} hone_bench_welch;

/* Runs Welch's t-test on two summaries (only n, mean and stddev are read).
 * When both variances are zero the test is degenerate: p is 1 if the means
 * are equal and 0 otherwise, t is 0 or +-INFINITY, df is n_a + n_b - 2.
 * Returns HONE_OK, or HONE_EINVAL if a pointer is NULL or a sample has fewer
 * than 2 values. */
HONE_API int hone_bench_welch_test(const hone_bench_summary *a, const hone_bench_summary *b,
                                   hone_bench_welch *out);

/* The Mann-Whitney U test (Wilcoxon rank-sum) of a against b. */
typedef struct hone_bench_mwu {
    double u;     /* U of sample a: the number of pairs (x in a, y in b) with x > y, ties 1/2 */
    double z;     /* normal approximation's z (0 when exact) */
    double p;     /* two-sided p-value */
    int exact;    /* 1 if p is exact (no ties and n_a * n_b <= 400), else the normal
                   * approximation with tie and continuity correction */
} hone_bench_mwu;

/* Runs the Mann-Whitney U test on a[0..na-1] and b[0..nb-1]. Allocates
 * (na + nb) ranks and, when exact, a count table, through `alloc`. Returns
 * HONE_OK; HONE_EINVAL for NULL pointers, an empty sample or a non-finite
 * value; HONE_ENOMEM (out unchanged). */
HONE_API int hone_bench_mann_whitney(const double *a, size_t na, const double *b, size_t nb,
                                     hone_bench_mwu *out, const hone_allocator *alloc);

/* The answer to "is B faster than A, by how much, and is that real?". */
typedef enum hone_bench_verdict {
    HONE_BENCH_SAME = 0,   /* no significant difference */
    HONE_BENCH_FASTER = 1, /* b's mean is significantly lower than a's */
    HONE_BENCH_SLOWER = 2  /* b's mean is significantly higher than a's */
} hone_bench_verdict;

typedef struct hone_bench_comparison {
    double ratio;          /* mean_b / mean_a */
    double ratio_lo;       /* 95 % confidence interval of the ratio */
    double ratio_hi;
    hone_bench_welch welch;
    hone_bench_mwu mwu;
    hone_bench_verdict verdict;
} hone_bench_comparison;

/* Compares sample b against reference sample a (both need >= 2 values and a
 * positive mean for a). The ratio's confidence interval uses the delta
 * method on log(mean_b / mean_a): se^2 = s_a^2/(n_a m_a^2) + s_b^2/(n_b
 * m_b^2), with Welch-Satterthwaite degrees of freedom for the t quantile.
 * The verdict is FASTER or SLOWER only when Welch's p < 0.05 AND the
 * interval excludes 1, so the two never disagree in the report. Mann-Whitney
 * is reported beside it for samples that are far from normal. Returns
 * HONE_OK, HONE_EINVAL (bad input, as above), HONE_ENOMEM. */
HONE_API int hone_bench_compare(const double *a, size_t na, const double *b, size_t nb,
                                hone_bench_comparison *out, const hone_allocator *alloc);

/* "faster", "slower" or "no significant difference". */
HONE_API const char *hone_bench_verdict_name(hone_bench_verdict v);

/* ------------------------------------------------------------------ */
/* Running commands                                                    */
/* ------------------------------------------------------------------ */

/* Splits a command line into words with POSIX shell quoting rules, but no
 * expansion: 'single quotes' keep everything, "double quotes" keep
 * everything but backslash escapes of $ ` " \ and newline, a backslash
 * outside quotes escapes the next character, unquoted blanks separate words.
 * On success *argv_out is a NULL-terminated array of *argc_out words (at
 * least one), allocated through `a` and freed by hone_bench_argv_free().
 * Returns HONE_OK; HONE_EPARSE for an unterminated quote or trailing
 * backslash, or an empty command (err says which, with its column);
 * HONE_EINVAL for NULL pointers; HONE_ENOMEM. On failure *argv_out is NULL. */
HONE_API int hone_bench_split(const char *cmdline, char ***argv_out, int *argc_out,
                              const hone_allocator *a, hone_error *err);
/* Frees what hone_bench_split made, with the same allocator. NULL is a no-op. */
HONE_API void hone_bench_argv_free(char **argv, const hone_allocator *a);

/* Finds the executable `name` the way execvp would: a name with a '/' is
 * taken as a path, otherwise each directory of `path_env` (PATH's format;
 * NULL: the PATH variable, or "/bin:/usr/bin" when unset) is tried. The file
 * must be a regular file with execute permission. *out is allocated through
 * `a` (free with hone_free). Returns HONE_OK; HONE_ENOTFOUND (no such file
 * anywhere); HONE_EACCES (found but not executable, or a directory);
 * HONE_EINVAL; HONE_ENOMEM. err (optional) names the command. */
HONE_API int hone_bench_which(const char *name, const char *path_env, char **out,
                              const hone_allocator *a, hone_error *err);

/* What one run of a command measured. */
typedef struct hone_bench_run {
    uint64_t wall_ns;       /* CLOCK_MONOTONIC from just before spawn to after wait */
    uint64_t user_ns;       /* user CPU time of the child (wait4 rusage) */
    uint64_t sys_ns;        /* system CPU time of the child */
    uint64_t max_rss_bytes; /* peak resident set size of the child */
    int exit_code;          /* exit status, or 128 + signal when killed */
    int signal;             /* the signal that killed it, 0 if it exited */
    /* 1 when max_rss_bytes is only an upper bound: Linux charges a child
     * started with vfork/posix_spawn the parent's peak RSS (exec records
     * the peak of the memory it leaves, which is the parent's), so a child
     * that stayed below the parent's peak reports exactly that peak. 0:
     * max_rss_bytes is the child's own peak. */
    int max_rss_bounded;
} hone_bench_run;

/* Where a child's standard streams go. Zeroed (or NULL) options send all
 * three to /dev/null, as hyperfine does by default. */
#define HONE_BENCH_USE_STDIN 1u  /* use stdin_fd instead of /dev/null */
#define HONE_BENCH_USE_STDOUT 2u /* use stdout_fd */
#define HONE_BENCH_USE_STDERR 4u /* use stderr_fd */
typedef struct hone_bench_exec_opts {
    unsigned use_fds; /* HONE_BENCH_USE_* bits; a clear bit means /dev/null */
    int stdin_fd, stdout_fd, stderr_fd;
    /* The environment of the child; NULL: the parent's environ. */
    char *const *envp;
} hone_bench_exec_opts;

/* Runs the executable at `path` (no PATH search: resolve it first with
 * hone_bench_which) with argv via posix_spawn, waits for it with wait4, and
 * fills *out. The wall clock brackets only spawn and wait. Returns HONE_OK
 * (whatever the child's exit status); HONE_EINVAL for NULL pointers;
 * HONE_EIO if /dev/null could not be opened; the status of posix_spawn's
 * errno (HONE_ENOTFOUND, HONE_EACCES, HONE_ENOMEM, HONE_EIO) if the child
 * could not be started. Thread-safe, but wait4 waits for this child only. */
HONE_API int hone_bench_exec(const char *path, char *const argv[], const hone_bench_exec_opts *o,
                             hone_bench_run *out);

/* ------------------------------------------------------------------ */
/* Timing C functions                                                  */
/* ------------------------------------------------------------------ */

/* The function under test: performs the operation `iters` times. Doing the
 * loop inside the function keeps the cost of the indirect call out of the
 * per-operation time. */
typedef void (*hone_bench_fn_t)(void *ctx, uint64_t iters);

typedef struct hone_bench_fn_opts {
    uint64_t sample_ns;   /* target duration of one sample; 0: 10 ms */
    uint32_t samples;     /* number of timed samples; 0: 30 */
    uint32_t warmup;      /* untimed samples before; 0: 1 (there is always one) */
    uint64_t max_iters;   /* upper bound of the calibrated count; 0: 2^40 */
    /* The clock, in nanoseconds; NULL: hone_now_ns. Tests inject one so that
     * calibration and results are deterministic. */
    uint64_t (*clock)(void *clock_ctx);
    void *clock_ctx;
    const hone_allocator *alloc;
} hone_bench_fn_opts;

typedef struct hone_bench_fn_result {
    uint64_t iters;      /* operations per sample, found by calibration */
    size_t samples;
    double *ns_per_op;   /* samples values (ns per operation), owned */
    hone_bench_summary ns; /* summary of ns_per_op */
    double ops_per_sec;  /* 1e9 / ns.mean */
    const hone_allocator *alloc; /* the allocator ns_per_op came from */
} hone_bench_fn_result;

/* Times fn: calibration doubles the iteration count (starting at 1) until one
 * call takes at least sample_ns / 8, then scales it to sample_ns; then it
 * runs `warmup` untimed samples and `samples` timed ones, each calling fn
 * once with the calibrated count. On success *out owns ns_per_op; release
 * it with hone_bench_fn_result_free(). Returns HONE_OK; HONE_EINVAL (fn or
 * out NULL, samples == 1); HONE_ENOMEM (out zeroed). Runs fn on the calling
 * thread only. */
HONE_API int hone_bench_fn(hone_bench_fn_t fn, void *ctx, const hone_bench_fn_opts *o,
                           hone_bench_fn_result *out);

/* Frees the result's samples and zeroes it. NULL is a no-op. */
HONE_API void hone_bench_fn_result_free(hone_bench_fn_result *r);

/* Compares two function results (b against reference a) with the same
 * statistics as hone_bench_compare on their ns_per_op samples. */
HONE_API int hone_bench_fn_compare(const hone_bench_fn_result *a, const hone_bench_fn_result *b,
                                   hone_bench_comparison *out);

#ifdef __cplusplus
}
#endif
#endif /* HONE_BENCH_H */
