/* hone/run.h - map a command or a function over many inputs: in parallel on
 * an exec pool, each job's output kept whole (never interleaved with another
 * job's), results remembered by content in a cache with tiers, flow-
 * controlled (a start rate, retries with backoff and a budget, a fixed or an
 * adaptive timeout), and stopped early with GNU parallel's --halt rules.
 * `hone run` (hone-run(1)) is this API on a terminal.
 *
 * A job is one command (or one call of the function) with per_job inputs.
 * A command is never given to a shell unless the options ask for one
 * (shell): each input becomes exactly the argv words the template says, so
 * an input cannot add a command, whatever characters it holds.
 *
 * Time: durations and deadlines are nanoseconds on the options' clock
 * (hone_now_ns() unless a hone_flow_clock is injected; tests inject one so
 * rates, backoffs and adaptive timeouts are proved without sleeping). A
 * command's own timeout is measured on the real monotonic clock, since a
 * child process runs in real time.
 *
 * The design and its measurements: docs/design/run.md. */
#ifndef HONE_RUN_H
#define HONE_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "hone/cache.h"
#include "hone/core.h"
#include "hone/exec.h"
#include "hone/filecache.h"
#include "hone/flow.h"
#include "hone/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Templates: GNU parallel's replacement strings                       */
/* ------------------------------------------------------------------ */

/* A command template: argv words in which these are replaced, for each
 * input of the job (GNU parallel's meaning):
 *   {}    the input                 {.}   without its extension
 *   {/}   its base name             {//}  its directory ("." if none)
 *   {/.}  base name, no extension   {#}   the job's number, from 1
 *   {%}   the worker slot, from 1   {N} {N.} {N/} {N//} {N/.}  input N only
 * An extension is the last '.' and what follows it in the base name, when
 * that '.' is not the base name's first character. "{{}" is not special:
 * a '{' that does not start one of the strings above is kept as it is.
 * A word that is exactly one of {} {.} {/} {//} {/.} becomes one word per
 * input of the job (so -n 3 gives three words); a word with other text
 * around a replacement string becomes one word, the inputs' replacements
 * joined by spaces (with shell, each input is quoted on its own, so it
 * stays one shell word). A template without any of the input strings ({#} and
 * {%} do not count) gets the inputs appended, one word each. */
typedef struct hone_run_template hone_run_template;

/* Parses argv[0..argc). shell nonzero: the job runs as `/bin/sh -c LINE`
 * where LINE is the template's words joined by spaces, as written (the
 * user's shell syntax), with each replacement quoted for the shell ('...',
 * a ' written as '\''), so even then an input is one word to the shell.
 * Returns HONE_OK; HONE_EINVAL (argc 0, argv NULL, an empty argv[0] or a
 * {N} with N 0 or above 65535; err names it); HONE_ENOMEM. */
HONE_API int hone_run_template_new(hone_run_template **out, int argc, const char *const *argv,
                                   int shell, const hone_allocator *alloc, hone_error *err);
HONE_API void hone_run_template_free(hone_run_template *t);

/* The argv of one job: inputs[0..n), job number seq (from 1), worker slot
 * (from 1). *argv_out is a NULL-terminated array of *argc_out words in one
 * allocation (free it with hone_free(alloc, ...), alloc as given to
 * _new). A {N} beyond the job's inputs becomes the empty string. Returns
 * HONE_OK, HONE_EINVAL (n 0 or an input NULL), HONE_ENOMEM. Thread-safe
 * (the template is only read). */
HONE_API int hone_run_template_expand(const hone_run_template *t, const char *const *inputs,
                                      size_t n, uint64_t seq, unsigned slot, char ***argv_out,
                                      int *argc_out);

/* ------------------------------------------------------------------ */
/* One command                                                         */
/* ------------------------------------------------------------------ */

/* How a job ended. Append-only. */
typedef enum hone_run_end {
    HONE_RUN_EXITED = 0,   /* it ran and exited; status is the exit code */
    HONE_RUN_SIGNALED = 1, /* a signal not sent by hone ended it; status is the signal */
    HONE_RUN_TIMEDOUT = 2, /* hone killed it at its timeout; status is the last signal sent */
    HONE_RUN_KILLED = 3,   /* hone killed it because the run halted or was stopped */
    HONE_RUN_NOSTART = 4,  /* it could not be started; status 127 (not found) or 126 */
    HONE_RUN_FAILED = 5    /* a function job returned an error status (status: it) */
} hone_run_end;

/* "exited", "signaled", "timedout", "killed", "nostart", "failed"; NULL
 * for other values. */
HONE_API const char *hone_run_end_name(int end);

typedef struct hone_run_exec_opts {
    /* Nanoseconds the command may run (real time); 0: no limit. At the
     * limit its process group gets SIGTERM, then SIGKILL kill_grace_ns
     * later if anything of it is still running. */
    uint64_t timeout_ns;
    uint64_t kill_grace_ns; /* 0: 200 ms (GNU parallel's first --termseq step) */
    /* Bytes of stdout and of stderr kept (each); past it the rest is read
     * and dropped, and truncated says so. 0: 1 GiB. */
    size_t max_output;
    /* The environment; NULL: environ. */
    char *const *envp;
    /* A descriptor that becomes readable when the command must stop at
     * once (a self-pipe written by a signal handler, or the run's halt):
     * the command is then killed as at a timeout and ends KILLED. -1 or 0:
     * none (0 is never taken as stop_fd, since it is stdin). */
    int stop_fd;
} hone_run_exec_opts;

/* What one command did. */
typedef struct hone_run_outcome {
    int end;             /* hone_run_end */
    int status;          /* see hone_run_end */
    uint64_t duration_ns; /* from just before the spawn to the reap (real time) */
    uint64_t start_wall_ns; /* CLOCK_REALTIME at the spawn, ns since the epoch */
    int truncated;       /* 1 when output beyond max_output was dropped */
} hone_run_outcome;

/* Runs argv[0] (searched in PATH as execvp does, when it has no '/') with
 * argv, stdin from /dev/null, stdout and stderr into out and err (each
 * cleared first; either may be NULL to drop that stream), in a process
 * group of its own so that a timeout or stop kills everything it started.
 * The child inherits no descriptor that hone opened (they are close-on-exec;
 * one the caller left inheritable is inherited, as by any exec). PATH is
 * the caller's, as for execvp, not envp's. Without a timeout, a background
 * process that keeps stdout open holds the command open until it exits.
 * Allocations go through out's allocator (else err's, else the default).
 * Another thread calling waitpid(-1) could steal the reap. Returns HONE_OK
 * whatever the command did (see *oc: a command that could not be started
 * is end NOSTART, with err holding one line saying why); HONE_EINVAL
 * (argv NULL or empty, oc NULL); HONE_ENOMEM; HONE_EIO (a pipe could not
 * be made). Thread-safe: many threads may run commands at once. */
HONE_API int hone_run_exec(char *const *argv, const hone_run_exec_opts *opts, hone_buf *out,
                           hone_buf *err, hone_run_outcome *oc);

/* ------------------------------------------------------------------ */
/* Mapping over inputs                                                 */
/* ------------------------------------------------------------------ */

/* --halt's "when": never halt; soon (start no new job, let running ones
 * finish); now (kill running jobs too). */
typedef enum hone_run_halt_when {
    HONE_HALT_NEVER = 0,
    HONE_HALT_SOON = 1,
    HONE_HALT_NOW = 2
} hone_run_halt_when;

/* --halt's condition: a count or a percentage of jobs that failed,
 * succeeded, or are done (either). A percentage is of the jobs finished so
 * far and is only judged once 3 jobs have finished (GNU parallel counts
 * against every job of the run, which a streamed input does not know). */
typedef enum hone_run_halt_on {
    HONE_HALT_FAIL = 0,
    HONE_HALT_SUCCESS = 1,
    HONE_HALT_DONE = 2
} hone_run_halt_on;

typedef struct hone_run_halt {
    int when;        /* hone_run_halt_when */
    int on;          /* hone_run_halt_on */
    uint64_t count;  /* halt when this many jobs match (0 and percent 0: 1) */
    double percent;  /* > 0: halt at this percentage instead (0, 100) */
} hone_run_halt;

/* Parses GNU parallel's --halt values: "never", "soon,fail=N",
 * "now,success=P%", "soon,done=N", and the old numeric 0, 1, 2 (never,
 * soon,fail=1, now,fail=1). Returns HONE_OK or HONE_EINVAL with err
 * naming the value and the expected form. */
HONE_API int hone_run_halt_parse(const char *s, hone_run_halt *out, hone_error *err);

/* One job as a function job sees it. */
typedef struct hone_run_job {
    uint64_t seq;                /* from 1, in input order */
    unsigned slot;               /* worker slot, from 1 */
    unsigned attempt;            /* from 1 */
    const char *const *inputs;   /* this job's inputs */
    size_t ninputs;
    uint64_t timeout_ns;         /* this attempt's timeout; 0 none */
    const struct hone_run_state *state_; /* private: for hone_run_job_stopped */
} hone_run_job;

/* Nonzero once the job should return early: the run halted "now", was
 * stopped, or the attempt's timeout passed (on the run's clock). */
HONE_API int hone_run_job_stopped(const hone_run_job *job);

/* A function job: appends what it produces to out (and err), returns
 * HONE_OK for success, or a negative hone status for a failure (retried
 * under the retry options like a failed command). Runs on a pool worker;
 * may run concurrently with itself. */
typedef int (*hone_run_fn)(void *ctx, const hone_run_job *job, hone_buf *out, hone_buf *err);

/* The result of one job, as the run reports it. Valid during the on_result
 * call only. */
typedef struct hone_run_result {
    uint64_t seq;              /* from 1, in input order */
    unsigned slot;
    const char *const *inputs;
    size_t ninputs;
    char *const *argv;         /* the command run (NULL for function jobs) */
    int argc;
    int end;                   /* hone_run_end of the last attempt (or of the cached one) */
    int status;
    int ok;                    /* the job succeeded (exit 0, or a function's HONE_OK) */
    unsigned attempts;         /* attempts made by this run (0 when cached) */
    int cached;                /* replayed from the result cache, not run */
    uint64_t start_wall_ns;    /* when its last attempt started (cached: the original run) */
    uint64_t duration_ns;      /* its last attempt's duration (cached: the original run's) */
    uint64_t timeout_ns;       /* the last attempt's timeout (0: none) */
    const char *out;           /* stdout (or a function's out), whole */
    size_t out_len;
    const char *err;           /* stderr (or a function's err), whole */
    size_t err_len;
    int truncated;
} hone_run_result;

/* Totals of a run. */
typedef struct hone_run_stats {
    uint64_t jobs;        /* jobs finished (run or cached) */
    uint64_t succeeded, failed;
    uint64_t cached;      /* of jobs: replayed from the cache */
    uint64_t retried;     /* retries made (attempts beyond each job's first) */
    uint64_t timed_out;   /* jobs whose last attempt timed out */
    uint64_t killed;      /* jobs killed by a halt "now" or a stop */
    uint64_t skipped;     /* inputs never started because the run halted or stopped */
    uint64_t budget_denied; /* retries refused by the retry budget */
    uint64_t cache_errors;  /* results that could not be stored or read back (counted, not fatal) */
    uint64_t wall_ns;     /* the run, start to end (the run's clock) */
    uint64_t run_ns;      /* durations of the attempts that ran, summed */
    uint64_t saved_ns;    /* durations of the original runs of the cached jobs, summed */
    int halted;           /* the halt condition was met */
    int stopped;          /* stopped through stop_fd */
    uint64_t halt_seq;    /* the job that met the halt condition (0: none) */
    int halt_status;      /* that job's exit status (GNU parallel's exit status under --halt) */
} hone_run_stats;

/* A source of inputs, pulled by the run one at a time under its lock:
 * returns 1 with *s (NUL-terminated, valid until the next call) and *len,
 * 0 at the end, or a negative status (the run stops starting jobs and
 * returns it). */
typedef int (*hone_run_source_fn)(void *ctx, const char **s, size_t *len);

typedef struct hone_run_opts {
    /* What a job runs: the template (borrowed), or fn when template is
     * NULL. fn_id names the function in cache keys (required with a cache
     * and fn: another function or version must get another id). */
    const hone_run_template *tmpl;
    hone_run_fn fn;
    void *fn_ctx;
    const char *fn_id;

    /* Inputs: the array inputs[0..ninputs), or the source when inputs is
     * NULL. per_job: inputs per job (xargs -n); 0: 1. The last job may
     * have fewer. */
    const char *const *inputs;
    size_t ninputs;
    hone_run_source_fn source;
    void *source_ctx;
    unsigned per_job;

    /* Parallelism: jobs run at once. 0: the pool's workers. pool: where
     * the jobs run (borrowed; it must have at least `jobs` workers or they
     * queue); NULL: a pool of `jobs` workers made for the run (0: as
     * hone_pool_new's default: HONE_MAX_WORKERS, else the online CPUs). */
    unsigned jobs;
    hone_pool *pool;

    /* Results: on_result is called once per finished job (not for skipped
     * inputs), one call at a time, in the order jobs finish, or in input
     * order with keep_order (a finished job then waits for the jobs before
     * it). A nonzero return stops the run as a stop_fd would. */
    int (*on_result)(void *ctx, const hone_run_result *r);
    void *ctx;
    int keep_order;

    hone_run_halt halt;

    /* Flow control. rate: jobs started per second (burst: at once after
     * idle, 0: 1); 0: no limit. A cached job takes no permit. */
    double rate;
    uint32_t burst;
    /* attempts: tries per job in all, as GNU parallel's --retries (0 or 1:
     * no retry). Between tries the job waits backoff (zero: full jitter,
     * 100 ms base, 10 s cap). budget: retries allowed per job of the run,
     * as hone_retry_budget's ratio over its window (0: no budget); a retry
     * the budget refuses ends the job with its failure. */
    unsigned attempts;
    hone_backoff_opts backoff;
    double retry_budget;
    uint64_t seed; /* backoff jitter; 0: from the OS */

    /* Timeouts. timeout_ns: every attempt's limit (0: none). With
     * timeout_auto, the limit is factor x the percentile of the durations
     * of this command's past successful jobs (those in history plus those
     * of this run), clamped to [timeout_min_ns, timeout_max_ns], and
     * timeout_max_ns until 20 durations are known. Zero fields: p95, x3,
     * 1 s, 1 h. timeout_ns is ignored when timeout_auto is set. */
    uint64_t timeout_ns;
    int timeout_auto;
    double timeout_percentile, timeout_factor;
    uint64_t timeout_min_ns, timeout_max_ns;
    uint64_t kill_grace_ns;  /* as hone_run_exec_opts */
    size_t max_output;       /* as hone_run_exec_opts */
    char *const *envp;       /* as hone_run_exec_opts */

    /* Result cache (borrowed; NULL: none). A job's result is stored under
     * a BLAKE3 key over: the expanded argv (or fn_id and the inputs), the
     * digest of every input that names a regular file, of every deps[i]
     * file, of the command's executable, and the values of the env_names
     * variables (an unset one differs from an empty one). A hit replays
     * the stored output and status without running. Only successful jobs
     * are stored, unless cache_failures (then exit codes other than 0 are
     * stored too); a job that timed out, was killed or signaled, or could
     * not start, never is. files: digests of files by their identity
     * (borrowed; NULL: a memory one made for the run), so an unchanged
     * file is not read again. A dep that cannot be read fails the run
     * (HONE_ENOTFOUND, err naming it) before any job starts. */
    hone_cache *cache;
    hone_filecache *files;
    const char *const *deps;
    size_t ndeps;
    const char *const *env_names;
    size_t nenv;
    int cache_failures;
    uint64_t cache_ttl_ns;   /* stored results' TTL; 0: the cache's default */
    /* Where timeout_auto finds past durations and leaves this run's
     * (borrowed; NULL: this run's only): any cache, usually the same
     * disk cache as results. */
    hone_cache *history;

    /* Stop: a descriptor that becomes readable to stop the run at once
     * (running jobs killed, nothing more started); -1 or 0: none. */
    int stop_fd;

    /* The run as one cycle in this collector (NULL: none): id "run",
     * cached jobs as hits, jobs run as misses, meta "command", "jobs",
     * "failed", "cached", "saved_ms"; success when no job failed. */
    hone_cycle_collector *cycles;

    const hone_flow_clock *clock; /* NULL: hone_now_ns() and nanosleep() */
    const hone_allocator *alloc;  /* NULL: the default allocator */
} hone_run_opts;

/* Runs every job. Returns HONE_OK when the run got through its inputs
 * (whatever the jobs did: see *stats, which may be NULL, and the results;
 * a halt or a stop is not an error); HONE_EINVAL (no template and no fn,
 * both inputs and source NULL with ninputs > 0, a cache with fn but no
 * fn_id, bad halt or flow options; err says which); HONE_ENOTFOUND or
 * HONE_EACCES (a dep cannot be read: err names it; nothing ran; a command
 * that cannot be found runs uncached and ends NOSTART, as without a cache);
 * the source's negative status;
 * HONE_ENOMEM. */
HONE_API int hone_run_map(const hone_run_opts *opts, hone_run_stats *stats, hone_error *err);

/* The exit status GNU parallel gives: 0 after a halt on success; after a
 * halt on fail=1 or done=1, the status of the job that met it (128 + the
 * signal for a killed one); else the number of jobs that failed or were
 * killed, at most 101 (0 when every job succeeded). */
HONE_API int hone_run_exit_status(const hone_run_stats *st, const hone_run_halt *halt);

#ifdef __cplusplus
}
#endif

#endif
