/* run.c - `hone run`: a command over many inputs, in parallel, each job's
 * output whole, results cached by content, with GNU parallel's --halt,
 * --joblog and replacement strings, a start rate, retries and timeouts; and
 * the `run` step of `hone demo`. Everything here is hone_run_map (run.h)
 * plus reading inputs and printing. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Errors that are not a job's: 255, as GNU parallel, since 1 means that
 * one job failed. */
enum { RUN_ERROR = 255 };

enum {
    OPT_SHELL = CLI_LONG,
    OPT_JOBLOG,
    OPT_JSON,
    OPT_HALT,
    OPT_RATE,
    OPT_RETRIES,
    OPT_RETRY_BUDGET,
    OPT_TIMEOUT,
    OPT_CACHE,
    OPT_CACHE_TIER,
    OPT_CACHE_DIR,
    OPT_CACHE_REDIS,
    OPT_CACHE_FAILURES,
    OPT_CACHE_STATS,
    OPT_DEP,
    OPT_ENV,
    OPT_HISTORY,
    OPT_NO_HISTORY,
    OPT_PROGRESS,
    OPT_NO_PROGRESS
};

static const cli_opt run_opts[] = {
    {'j', "jobs", "N", "jobs at once (default: HONE_MAX_WORKERS, else the online CPUs)", NULL},
    {'a', "arg-file", "FILE", "read inputs from FILE, one per line ('-': stdin)", "@file"},
    {'0', "null", NULL, "inputs are separated by NUL bytes, not newlines (find -print0)", NULL},
    {'n', "max-args", "N", "inputs per command (as xargs -n; default 1)", NULL},
    {'k', "keep-order", NULL, "print jobs' output in input order, not as they finish", NULL},
    {OPT_SHELL, "shell", NULL, "run each command with /bin/sh -c (inputs are quoted)", NULL},
    {OPT_JOBLOG, "joblog", "FILE", "write a log of every job in GNU parallel's format", "@file"},
    {OPT_JSON, "json", NULL, "print one JSON object per job instead of its output", NULL},
    {OPT_HALT, "halt", "WHEN,ON=N",
     "stop early, as GNU parallel: now|soon,fail|success|done=N|P% (e.g. now,fail=1)",
     "never now,fail=1 soon,fail=1 now,success=1"},
    {OPT_RATE, "rate", "R", "start at most R jobs per second (10/s, 600/min)", NULL},
    {OPT_RETRIES, "retries", "N", "try a failing job up to N times in all, with backoff and jitter", NULL},
    {OPT_RETRY_BUDGET, "retry-budget", "R",
     "retries per job over a 10 s window, plus 10/s always (e.g. 0.1); default unlimited", NULL},
    {OPT_TIMEOUT, "timeout", "DUR|auto",
     "kill a job after DUR (30s, 500ms), or auto: 3x the p95 of its past durations", NULL},
    {OPT_CACHE, "cache", NULL, "replay a job's output and status when nothing it depends on changed", NULL},
    {OPT_CACHE_TIER, "cache-tier", "TIER", "where results live: disk (default), hybrid or memory",
     "disk hybrid memory"},
    {OPT_CACHE_DIR, "cache-dir", "DIR", "directory of the result cache (default $HONE_CACHE_DIR)", "@dir"},
    {OPT_CACHE_REDIS, "cache-redis", "ADDR", "share results through the Redis server at HOST:PORT", NULL},
    {OPT_CACHE_FAILURES, "cache-failures", NULL, "also cache jobs that exited non-zero", NULL},
    {OPT_CACHE_STATS, "cache-stats", NULL, "print what the result cache holds and exit", NULL},
    {OPT_DEP, "dep", "FILE", "a file the command reads: a change to it is a cache miss (repeatable)", "@file"},
    {OPT_ENV, "env", "NAME", "an environment variable the result depends on (repeatable)", NULL},
    {OPT_HISTORY, "history", "FILE", "record the run as a cycle in FILE (default: in the cache dir)", "@file"},
    {OPT_NO_HISTORY, "no-history", NULL, "do not record the run", NULL},
    {OPT_PROGRESS, "progress", NULL, "show a progress bar even when stderr is not a terminal", NULL},
    {OPT_NO_PROGRESS, "no-progress", NULL, "no progress bar", NULL},
    {'q', "quiet", NULL, "no summary line at the end", NULL},
    {'h', "help", NULL, "show this help", NULL},
    {0, NULL, NULL, NULL, NULL}};

const cli_spec cli_spec_run = {
    "run",
    "usage: hone run [OPTIONS] [--] CMD [ARGS...] [::: INPUT...]\n"
    "\n"
    "Runs CMD once per input, several at once, as xargs -P or GNU parallel do.\n"
    "Inputs come after :::, from -a FILE, or from stdin, one per line. In ARGS,\n"
    "{} is the input, {.} without extension, {/} base name, {//} directory,\n"
    "{/.} base name without extension, {#} the job number, {%} the slot; with\n"
    "none of them the input is appended. No shell runs unless --shell, so an\n"
    "input is always exactly one argument. Each job's output is printed whole.\n",
    "Exit status: 0 when every job succeeded; else the number of jobs that failed\n"
    "or were killed (at most 101); under --halt ...,fail=1 the failing job's\n"
    "status; 2 for bad usage; 255 for other errors (as GNU parallel).\n"
    "See hone-run(1).\n",
    run_opts};

void cli_run_usage(FILE *out) { cli_help(&cli_spec_run, out); }

/* ------------------------------------------------------------------ */
/* Inputs                                                              */
/* ------------------------------------------------------------------ */

typedef struct stream_src {
    FILE *f;
    int sep;
    char *line;
    size_t cap;
} stream_src;

static int stream_next(void *ctx, const char **s, size_t *len) {
    stream_src *ss = ctx;
    errno = 0;
    ssize_t n = getdelim(&ss->line, &ss->cap, ss->sep, ss->f);
    if (n < 0) return ferror(ss->f) ? hone_status_from_errno(errno ? errno : EIO) : 0;
    if (n > 0 && ss->line[n - 1] == ss->sep) ss->line[--n] = '\0';
    *s = ss->line;
    *len = (size_t)n;
    return 1;
}

/* Splits text into an array of inputs (pointers into text, separators
 * replaced by NULs). A last separator ends the last input; it does not
 * start an empty one. */
static char **split_inputs(char *text, size_t len, int sep, size_t *n) {
    size_t cnt = 0;
    for (size_t i = 0; i < len; i++) cnt += text[i] == sep;
    if (len && text[len - 1] != sep) cnt++;
    char **v = calloc(cnt ? cnt : 1, sizeof *v);
    if (!v) return NULL;
    size_t k = 0, start = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == sep) {
            text[i] = '\0';
            v[k++] = text + start;
            start = i + 1;
        }
    if (start < len) v[k++] = text + start;
    *n = k;
    return v;
}

/* ------------------------------------------------------------------ */
/* Printing                                                            */
/* ------------------------------------------------------------------ */

typedef struct printer {
    int json, progress, color, cache_on;
    FILE *joblog;
    uint64_t total; /* 0: unknown */
    uint64_t done, failed, cached;
    uint64_t t0, last_draw;
    int bar_shown;
    int write_failed;
} printer;

static void bar_clear(printer *p) {
    if (!p->bar_shown) return;
    fputs("\r\033[K", stderr);
    p->bar_shown = 0;
}

static void fmt_secs(char *b, size_t n, double s) {
    if (s < 60)
        snprintf(b, n, "%.0fs", s);
    else if (s < 3600)
        snprintf(b, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(b, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

static void bar_draw(printer *p, int force) {
    if (!p->progress) return;
    uint64_t now = hone_monotonic_ns();
    if (!force && now - p->last_draw < 100000000u) return;
    p->last_draw = now;
    double el = (double)(now - p->t0) / 1e9;
    char eta[32] = "";
    if (p->total && p->done && p->done < p->total) {
        char t[24];
        fmt_secs(t, sizeof t, el / (double)p->done * (double)(p->total - p->done));
        snprintf(eta, sizeof eta, ", ETA %s", t);
    }
    char fails[64] = "", cached[40] = "";
    if (p->cache_on) snprintf(cached, sizeof cached, ", %llu cached", (unsigned long long)p->cached);
    if (p->failed)
        snprintf(fails, sizeof fails, ", %s%llu failed%s", p->color ? "\033[31m" : "",
                 (unsigned long long)p->failed, p->color ? "\033[0m" : "");
    if (p->total) {
        enum { W = 30 };
        int fill = (int)((double)W * (double)p->done / (double)p->total);
        char bar[W + 1];
        for (int i = 0; i < W; i++) bar[i] = i < fill ? '#' : '.';
        bar[W] = '\0';
        fprintf(stderr, "\r\033[K[%s] %llu/%llu jobs%s%s%s", bar, (unsigned long long)p->done,
                (unsigned long long)p->total, cached, fails, eta);
    } else {
        fprintf(stderr, "\r\033[K%llu jobs%s%s", (unsigned long long)p->done, cached, fails);
    }
    p->bar_shown = 1;
}

static json_t *json_bytes(const char *s, size_t n) {
    json_t *j = json_stringn(s, n);
    /* Not UTF-8: JSON cannot hold it as text; say so instead of losing it
     * silently. */
    return j ? j : json_string("(not UTF-8; see the job's output without --json)");
}

static void print_json(printer *p, const hone_run_result *r) {
    json_t *o = json_object();
    if (!o) return;
    json_object_set_new(o, "seq", json_integer((json_int_t)r->seq));
    json_t *in = json_array();
    for (size_t i = 0; i < r->ninputs; i++) json_array_append_new(in, json_bytes(r->inputs[i], strlen(r->inputs[i])));
    json_object_set_new(o, "inputs", in);
    json_t *cmd = json_array();
    for (int i = 0; r->argv && i < r->argc; i++)
        json_array_append_new(cmd, json_bytes(r->argv[i], strlen(r->argv[i])));
    json_object_set_new(o, "command", cmd);
    json_object_set_new(o, "end", json_string(hone_run_end_name(r->end)));
    json_object_set_new(o, "exit", r->end == HONE_RUN_EXITED || r->end == HONE_RUN_NOSTART
                                       ? json_integer(r->status)
                                       : json_null());
    json_object_set_new(o, "signal", r->end == HONE_RUN_SIGNALED || r->end == HONE_RUN_TIMEDOUT ||
                                             r->end == HONE_RUN_KILLED
                                         ? json_integer(r->status)
                                         : json_null());
    json_object_set_new(o, "ok", json_boolean(r->ok));
    json_object_set_new(o, "cached", json_boolean(r->cached));
    json_object_set_new(o, "attempts", json_integer(r->attempts));
    json_object_set_new(o, "start", json_real((double)r->start_wall_ns / 1e9));
    json_object_set_new(o, "duration_s", json_real((double)r->duration_ns / 1e9));
    json_object_set_new(o, "stdout", json_bytes(r->out, r->out_len));
    json_object_set_new(o, "stderr", json_bytes(r->err, r->err_len));
    if (r->truncated) json_object_set_new(o, "truncated", json_true());
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s) {
        if (fputs(s, stdout) == EOF || fputc('\n', stdout) == EOF) p->write_failed = 1;
        free(s);
    }
}

/* GNU parallel's joblog: Seq Host Starttime JobRuntime Send Receive
 * Exitval Signal Command, tab-separated; Exitval -1 with the signal for a
 * killed job. hone adds nothing to the columns, so tools that read
 * parallel's joblog (--resume-failed scripts) read this one. */
static void print_joblog(printer *p, const hone_run_result *r) {
    int exitval = r->status, sig = 0;
    if (r->end == HONE_RUN_SIGNALED || r->end == HONE_RUN_TIMEDOUT || r->end == HONE_RUN_KILLED) {
        exitval = -1;
        sig = r->status;
    } else if (r->end == HONE_RUN_FAILED) {
        exitval = 1;
    }
    fprintf(p->joblog, "%llu\t:\t%.3f\t%10.3f\t0\t%zu\t%d\t%d\t", (unsigned long long)r->seq,
            (double)r->start_wall_ns / 1e9, (double)r->duration_ns / 1e9, r->out_len + r->err_len,
            exitval, sig);
    for (int i = 0; i < r->argc; i++) {
        if (i) fputc(' ', p->joblog);
        /* One line per job: a newline inside an argument is written as \n. */
        for (const char *c = r->argv[i]; *c; c++) {
            if (*c == '\n')
                fputs("\\n", p->joblog);
            else if (*c == '\t')
                fputs("\\t", p->joblog);
            else
                fputc(*c, p->joblog);
        }
    }
    fputc('\n', p->joblog);
}

static int on_result(void *ctx, const hone_run_result *r) {
    printer *p = ctx;
    p->done++;
    if (!r->ok && r->end != HONE_RUN_KILLED) p->failed++;
    if (r->cached) p->cached++;
    bar_clear(p);
    if (p->json) {
        print_json(p, r);
    } else {
        if (r->out_len && fwrite(r->out, 1, r->out_len, stdout) != r->out_len) p->write_failed = 1;
        if (r->err_len) {
            fflush(stdout);
            fwrite(r->err, 1, r->err_len, stderr);
        }
        if (r->truncated)
            fprintf(stderr, "hone run: job %llu: output beyond the limit was dropped\n",
                    (unsigned long long)r->seq);
        if (r->end == HONE_RUN_TIMEDOUT)
            fprintf(stderr, "hone run: job %llu timed out after %.3f s and was killed\n",
                    (unsigned long long)r->seq, (double)r->timeout_ns / 1e9);
    }
    if (p->progress) fflush(stdout);
    if (p->joblog) print_joblog(p, r);
    bar_draw(p, 0);
    /* stdout closed (a pipe to head): stop like xargs and parallel do. */
    return p->write_failed ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* The command                                                         */
/* ------------------------------------------------------------------ */

static int g_sigpipe[2] = {-1, -1};
static volatile sig_atomic_t g_signal;

static void on_signal(int sig) {
    g_signal = sig;
    char b = 1;
    int saved = errno;
    if (g_sigpipe[1] >= 0) (void)!write(g_sigpipe[1], &b, 1);
    errno = saved;
}

static void fmt_dur(char *b, size_t n, uint64_t ns) {
    double s = (double)ns / 1e9;
    if (s < 1)
        snprintf(b, n, "%.0f ms", s * 1e3);
    else if (s < 120)
        snprintf(b, n, "%.2f s", s);
    else
        fmt_secs(b, n, s);
}

typedef struct run_cfg {
    unsigned jobs, per_job, attempts;
    int sep, keep, shell, json, cache, cache_failures, cache_stats, quiet, progress, no_history;
    const char *arg_file, *joblog, *history, *cache_dir, *cache_redis;
    int cache_tier;
    hone_run_halt halt;
    double rate, budget;
    uint64_t timeout_ns;
    int timeout_auto;
    const char **deps, **envs;
    size_t ndeps, nenvs;
} run_cfg;

static int push(const char ***v, size_t *n, const char *s) {
    const char **p = realloc(*v, (*n + 1) * sizeof *p);
    if (!p) return -1;
    p[(*n)++] = s;
    *v = p;
    return 0;
}

static int parse_args(run_cfg *c, int argc, char **argv) {
    hone_error err = {0};
    uint64_t v;
    int opt;
    optind = 0;
    while ((opt = cli_next_posix(&cli_spec_run, argc, argv)) != -1) {
        switch (opt) {
        case 'j':
            if (hone_parse_u64("--jobs", optarg, 1, 4096, &v, &err)) goto bad;
            c->jobs = (unsigned)v;
            break;
        case 'a': c->arg_file = optarg; break;
        case '0': c->sep = '\0'; break;
        case 'n':
            if (hone_parse_u64("--max-args", optarg, 1, 65536, &v, &err)) goto bad;
            c->per_job = (unsigned)v;
            break;
        case 'k': c->keep = 1; break;
        case 'q': c->quiet = 1; break;
        case OPT_SHELL: c->shell = 1; break;
        case OPT_JOBLOG: c->joblog = optarg; break;
        case OPT_JSON: c->json = 1; break;
        case OPT_HALT:
            if (hone_run_halt_parse(optarg, &c->halt, &err)) goto bad;
            break;
        case OPT_RATE:
            if (hone_parse_rate("--rate", optarg, &c->rate, &err)) goto bad;
            if (c->rate == 0) {
                cli_cmd_error("run", "bad --rate '%s': 0 would start nothing; expected a rate above 0 (10/s)",
                              optarg);
                return CLI_USAGE;
            }
            if (isinf(c->rate)) c->rate = 0;
            break;
        case OPT_RETRIES:
            if (hone_parse_u64("--retries", optarg, 0, 1000, &v, &err)) goto bad;
            c->attempts = (unsigned)v;
            break;
        case OPT_RETRY_BUDGET:
            if (hone_parse_double("--retry-budget", optarg, 0.001, 1000, &c->budget, &err)) goto bad;
            break;
        case OPT_TIMEOUT:
            if (strcmp(optarg, "auto") == 0) {
                c->timeout_auto = 1;
            } else {
                if (hone_parse_duration("--timeout", optarg, 1000000000u, &c->timeout_ns, &err)) goto bad;
                if (c->timeout_ns == 0) {
                    cli_cmd_error("run", "bad --timeout '%s': expected a duration above 0 (30s) or auto",
                                  optarg);
                    return CLI_USAGE;
                }
            }
            break;
        case OPT_CACHE: c->cache = 1; break;
        case OPT_CACHE_TIER:
            if (hone_cache_strategy_parse(optarg, &c->cache_tier, &err)) {
                cli_cmd_error("run", "bad --cache-tier '%s': expected disk, hybrid or memory", optarg);
                return CLI_USAGE;
            }
            break;
        case OPT_CACHE_DIR: c->cache_dir = optarg; break;
        case OPT_CACHE_REDIS: c->cache_redis = optarg; break;
        case OPT_CACHE_FAILURES: c->cache_failures = 1; break;
        case OPT_CACHE_STATS: c->cache_stats = 1; break;
        case OPT_DEP:
            if (push(&c->deps, &c->ndeps, optarg)) goto oom;
            break;
        case OPT_ENV:
            if (!optarg[0] || strchr(optarg, '=')) {
                cli_cmd_error("run", "bad --env '%s': expected a variable's name (no '=')", optarg);
                return CLI_USAGE;
            }
            if (push(&c->envs, &c->nenvs, optarg)) goto oom;
            break;
        case OPT_HISTORY: c->history = optarg; break;
        case OPT_NO_HISTORY: c->no_history = 1; break;
        case OPT_PROGRESS: c->progress = 1; break;
        case OPT_NO_PROGRESS: c->progress = -1; break;
        case 'h': cli_run_usage(stdout); return -1;
        default: return CLI_USAGE;
        }
    }
    return CLI_OK;
bad:
    cli_cmd_error("run", "%s", err.msg);
    return CLI_USAGE;
oom:
    cli_cmd_error("run", "out of memory");
    return RUN_ERROR;
}

/* Opens the result cache (and the file digests beside it). */
static int open_cache(const run_cfg *c, const char *dir, hone_cache **cache, hone_filecache **files) {
    hone_error err = {0};
    hone_tier_options t = {.strategy = c->cache_tier ? c->cache_tier : HONE_CACHE_DISK,
                           .dir = dir,
                           .name = "run.mdb",
                           .durability = HONE_CACHE_NOSYNC,
                           .recreate = 1,
                           .redis = c->cache_redis};
    int rc = hone_cache_open(cache, NULL, &t, &err);
    if (rc != HONE_OK) {
        cli_cmd_error("run", "result cache: %s", err.msg);
        return CLI_FAIL;
    }
    if (t.strategy == HONE_CACHE_MEMORY) return CLI_OK;
    char path[4096];
    snprintf(path, sizeof path, "%s/run-files.mdb", dir);
    hone_filecache_opts fo = {.path = path, .name = "hone.run.digests", .recreate = 1};
    rc = hone_filecache_new(files, &fo, &err);
    if (rc != HONE_OK) {
        cli_cmd_error("run", "file digests: %s", err.msg);
        hone_cache_free(*cache);
        *cache = NULL;
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_run_main(int argc, char **argv) {
    run_cfg c = {.sep = '\n', .cache_tier = 0};
    int rc = parse_args(&c, argc, argv);
    if (rc != CLI_OK) {
        free(c.deps);
        free(c.envs);
        return rc < 0 ? CLI_OK : rc;
    }
    int status = RUN_ERROR;
    if (!c.cache && (c.ndeps || c.nenvs || c.cache_failures || c.cache_tier || c.cache_redis)) {
        cli_cmd_error("run", "%s only matters with --cache",
                      c.ndeps ? "--dep" : c.nenvs ? "--env" : c.cache_failures ? "--cache-failures"
                                 : c.cache_tier ? "--cache-tier" : "--cache-redis");
        free(c.deps);
        free(c.envs);
        return CLI_USAGE;
    }
    char *dir = NULL, *text = NULL, **inputs = NULL;
    size_t ninputs = 0;
    hone_run_template *tmpl = NULL;
    hone_cache *cache = NULL;
    hone_filecache *files = NULL;
    hone_cycle_collector *cycles = NULL;
    char *hist_path = NULL;
    printer pr = {0};
    stream_src ss = {0};
    hone_error err = {0};

    /* The cache directory (results, file digests, history). */
    if (c.cache_dir) {
        if (c.cache_dir[0] != '/') {
            cli_cmd_error("run", "bad --cache-dir '%s': expected an absolute path", c.cache_dir);
            status = CLI_USAGE;
            goto out;
        }
        dir = strdup(c.cache_dir);
    } else if (c.cache || c.cache_stats || c.timeout_auto || (!c.no_history && !c.history)) {
        if (hone_cache_dir(&dir, NULL, &err) != HONE_OK) {
            if (c.cache || c.cache_stats || c.timeout_auto) {
                cli_cmd_error("run", "%s", err.msg);
                status = CLI_USAGE;
                goto out;
            }
            c.no_history = 1; /* nowhere to keep it, and not asked for */
        }
    }
    if (c.cache_stats) {
        char *sv[] = {"stats", "--dir", dir, "--name", "run.mdb", NULL};
        optind = 0;
        status = cli_cache_disk(5, sv);
        goto out;
    }

    /* The command and the ::: inputs. */
    int first = optind, end = argc;
    for (int i = first; i < argc; i++)
        if (strcmp(argv[i], ":::") == 0) {
            end = i;
            break;
        }
    if (end == first) {
        cli_cmd_error("run", "no command given: expected hone run [OPTIONS] CMD [ARGS...] [::: INPUT...]");
        status = CLI_USAGE;
        goto out;
    }
    if (end < argc && c.arg_file) {
        cli_cmd_error("run", "inputs after ::: and from -a %s: expected one source", c.arg_file);
        status = CLI_USAGE;
        goto out;
    }
    rc = hone_run_template_new(&tmpl, end - first, (const char *const *)argv + first, c.shell, NULL, &err);
    if (rc != HONE_OK) {
        cli_cmd_error("run", "%s", err.msg);
        status = CLI_USAGE;
        goto out;
    }
    hone_run_opts o = {.tmpl = tmpl,
                       .per_job = c.per_job,
                       .jobs = c.jobs,
                       .keep_order = c.keep,
                       .halt = c.halt,
                       .rate = c.rate,
                       .attempts = c.attempts,
                       .retry_budget = c.budget,
                       .timeout_ns = c.timeout_ns,
                       .timeout_auto = c.timeout_auto,
                       .deps = c.deps,
                       .ndeps = c.ndeps,
                       .env_names = c.envs,
                       .nenv = c.nenvs,
                       .cache_failures = c.cache_failures,
                       .on_result = on_result,
                       .ctx = &pr};
    if (end < argc) {
        o.inputs = (const char *const *)argv + end + 1;
        o.ninputs = (size_t)(argc - end - 1);
    } else if (c.arg_file && strcmp(c.arg_file, "-") != 0) {
        size_t len = 0;
        text = cli_slurp(c.arg_file, &len);
        if (!text) {
            cli_cmd_error("run", "cannot read -a %s: %s", c.arg_file, strerror(errno));
            goto out;
        }
        inputs = split_inputs(text, len, c.sep, &ninputs);
        if (!inputs) {
            cli_cmd_error("run", "out of memory");
            goto out;
        }
        o.inputs = (const char *const *)inputs;
        o.ninputs = ninputs;
    } else {
        ss.f = stdin;
        ss.sep = c.sep;
        if (isatty(STDIN_FILENO))
            fprintf(stderr, "hone run: reading inputs from the terminal, one per line; end them "
                            "with Ctrl-D (or give them after ::: or with -a FILE)\n");
        o.source = stream_next;
        o.source_ctx = &ss;
    }

    if ((c.cache || c.timeout_auto) && open_cache(&c, dir, &cache, &files) != CLI_OK) goto out;
    if (c.cache) {
        o.cache = cache;
        o.files = files;
    }
    if (c.timeout_auto) o.history = cache;
    if (!c.no_history && (c.history || dir)) {
        if (c.history) {
            hist_path = strdup(c.history);
        } else {
            size_t n = strlen(dir) + 32;
            hist_path = malloc(n);
            if (hist_path) snprintf(hist_path, n, "%s/run-history.json", dir);
        }
        if (!hist_path || hone_cycle_collector_new(&cycles, NULL) != HONE_OK) {
            cli_cmd_error("run", "out of memory");
            goto out;
        }
        rc = hone_cycle_load(cycles, hist_path, &err);
        if (rc != HONE_OK && rc != HONE_ENOTFOUND) {
            cli_cmd_error("run", "history %s: %s (fix or remove it, or use --no-history)", hist_path,
                          err.msg);
            goto out;
        }
        o.cycles = cycles;
    }
    if (c.joblog) {
        pr.joblog = strcmp(c.joblog, "-") == 0 ? stdout : fopen(c.joblog, "w");
        if (!pr.joblog) {
            cli_cmd_error("run", "cannot write --joblog %s: %s", c.joblog, strerror(errno));
            goto out;
        }
        fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n", pr.joblog);
    }
    pr.json = c.json;
    pr.cache_on = c.cache;
    pr.total = o.inputs ? (o.ninputs + (c.per_job ? c.per_job : 1) - 1) / (c.per_job ? c.per_job : 1) : 0;
    pr.progress = c.progress > 0 || (c.progress == 0 && isatty(STDERR_FILENO));
    const char *nc = getenv("NO_COLOR");
    pr.color = pr.progress && isatty(STDERR_FILENO) && !(nc && nc[0]);
    pr.t0 = hone_monotonic_ns();

    /* Ctrl-C and TERM stop the run: running jobs are killed (their
     * process groups), and the run ends with what finished. */
    if (pipe2(g_sigpipe, O_CLOEXEC) != 0) {
        cli_cmd_error("run", "pipe: %s", strerror(errno));
        goto out;
    }
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term, old_hup;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    o.stop_fd = g_sigpipe[0];

    hone_run_stats st;
    rc = hone_run_map(&o, &st, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    bar_draw(&pr, 1);
    bar_clear(&pr);
    if (fflush(stdout) == EOF) pr.write_failed = 1;
    if (rc != HONE_OK) {
        cli_cmd_error("run", "%s", err.msg);
        status = rc == HONE_EINVAL ? CLI_USAGE : RUN_ERROR;
        goto out;
    }
    if (cycles && !c.history && dir) (void)cli_mkdirs(dir, 1);
    if (cycles && hone_cycle_save(cycles, hist_path, &err) != HONE_OK)
        cli_cmd_error("run", "history not saved: %s", err.msg);
    if (cache) hone_cache_sync(cache);
    if (!c.quiet) {
        char wall[32], saved[32];
        fmt_dur(wall, sizeof wall, st.wall_ns);
        fmt_dur(saved, sizeof saved, st.saved_ns);
        fprintf(stderr, "hone run: %llu jobs: %llu succeeded, %llu failed", (unsigned long long)st.jobs,
                (unsigned long long)st.succeeded, (unsigned long long)st.failed);
        if (c.cache) fprintf(stderr, ", %llu cached (saved %s)", (unsigned long long)st.cached, saved);
        if (st.retried) fprintf(stderr, ", %llu retries", (unsigned long long)st.retried);
        if (st.budget_denied)
            fprintf(stderr, ", %llu retries refused by the budget", (unsigned long long)st.budget_denied);
        if (st.timed_out) fprintf(stderr, ", %llu timed out", (unsigned long long)st.timed_out);
        if (st.killed) fprintf(stderr, ", %llu killed", (unsigned long long)st.killed);
        if (st.skipped) fprintf(stderr, ", %llu not started", (unsigned long long)st.skipped);
        fprintf(stderr, "; wall %s", wall);
        if (st.halted) fprintf(stderr, "; halted by --halt after job %llu", (unsigned long long)st.halt_seq);
        if (g_signal) fprintf(stderr, "; stopped by %s", strsignal(g_signal));
        fputc('\n', stderr);
        if (st.cache_errors)
            fprintf(stderr, "hone run: %llu results could not be stored in or read from the cache\n",
                    (unsigned long long)st.cache_errors);
    }
    if (g_signal)
        status = 128 + g_signal;
    else if (pr.write_failed)
        status = RUN_ERROR;
    else
        status = hone_run_exit_status(&st, &c.halt);
out:
    if (pr.joblog && pr.joblog != stdout) fclose(pr.joblog);
    for (int i = 0; i < 2; i++) {
        if (g_sigpipe[i] >= 0) close(g_sigpipe[i]);
        g_sigpipe[i] = -1;
    }
    g_signal = 0;
    hone_cycle_collector_free(cycles);
    hone_filecache_free(files);
    hone_cache_free(cache);
    hone_run_template_free(tmpl);
    free(ss.line);
    free(inputs);
    free(text);
    free(hist_path);
    free(dir);
    free(c.deps);
    free(c.envs);
    return status;
}

/* ------------------------------------------------------------------ */
/* hone demo: run                                                      */
/* ------------------------------------------------------------------ */

typedef struct demo_count {
    unsigned ok, failed, cached;
    uint64_t first_fail;
    char first_err[160];
} demo_count;

static int demo_result(void *ctx, const hone_run_result *r) {
    demo_count *d = ctx;
    if (r->cached) d->cached++;
    if (r->ok) {
        d->ok++;
    } else if (r->end != HONE_RUN_KILLED) {
        d->failed++;
        if (!d->first_fail) {
            d->first_fail = r->seq;
            /* The compiler's first "error" line, else its first line. */
            const char *e = r->err, *end = r->err + r->err_len, *line = e;
            for (const char *l = e; l < end;) {
                const char *nl = memchr(l, '\n', (size_t)(end - l));
                size_t len = nl ? (size_t)(nl - l) : (size_t)(end - l);
                if (memmem(l, len, "error", 5)) {
                    line = l;
                    break;
                }
                l += len + 1;
            }
            size_t n = 0;
            while (line + n < end && line[n] != '\n' && n < sizeof d->first_err - 1) n++;
            memcpy(d->first_err, line, n);
            d->first_err[n] = '\0';
        }
    }
    return 0;
}

static int rm_tree_file(const char *dir, const char *name) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return unlink(p);
}

/* Validates the project's public headers with the C compiler (each must
 * compile on its own), twice through a disk result cache in a temporary
 * directory (the second run replays every result), then once more with a
 * broken file among them under --halt now,fail=1. Without a compiler or a
 * source tree (an installed hone), it validates generated shell scripts
 * with `sh -n` instead, the same three ways. */
int cli_demo_run(void) {
    char tmp[] = "/tmp/hone-demo-run-XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("run demo: mkdtemp");
        return 1;
    }
    const char *names[] = {"core", "prof", "metrics", "bench", "exec", "mem", "hash", "io", "cache", "tier",
                           "filecache", "flow", "http", "server", "run"};
    enum { NH = sizeof names / sizeof names[0] };
    char *paths[NH + 1] = {0};
    char *cc = NULL, incflag[1100];
    const char *tmpl_c[8];
    int ntmpl = 0, use_cc = 0;
    char hdr0[1100];
    snprintf(hdr0, sizeof hdr0, "%s/include/hone/core.h", HONE_SOURCE_DIR);
    if (access(hdr0, R_OK) == 0 && hone_bench_which("cc", NULL, &cc, NULL, NULL) == HONE_OK) use_cc = 1;
    for (int i = 0; i < NH; i++) {
        char p[1200];
        if (use_cc) {
            snprintf(p, sizeof p, "%s/include/hone/%s.h", HONE_SOURCE_DIR, names[i]);
        } else {
            snprintf(p, sizeof p, "%s/%s.sh", tmp, names[i]);
            FILE *f = fopen(p, "w");
            if (!f) goto fail_io;
            fprintf(f, "# %s\nfor i in 1 2 3; do\n  case $i in 2) echo %s;; esac\ndone\n", names[i], names[i]);
            fclose(f);
        }
        paths[i] = strdup(p);
        if (!paths[i]) goto fail_io;
    }
    if (use_cc) {
        snprintf(incflag, sizeof incflag, "-I%s/include", HONE_SOURCE_DIR);
        tmpl_c[ntmpl++] = "cc";
        tmpl_c[ntmpl++] = "-fsyntax-only";
        tmpl_c[ntmpl++] = "-std=c11";
        tmpl_c[ntmpl++] = "-Wall";
        tmpl_c[ntmpl++] = "-Werror";
        tmpl_c[ntmpl++] = incflag;
        tmpl_c[ntmpl++] = "{}";
    } else {
        tmpl_c[ntmpl++] = "sh";
        tmpl_c[ntmpl++] = "-n";
        tmpl_c[ntmpl++] = "{}";
    }
    hone_run_template *t = NULL;
    hone_cache *cache = NULL;
    hone_error err = {0};
    int fail = 1;
    if (hone_run_template_new(&t, ntmpl, tmpl_c, 0, NULL, &err) != HONE_OK) {
        fprintf(stderr, "run demo: %s\n", err.msg);
        goto out;
    }
    hone_tier_options to = {.strategy = HONE_CACHE_DISK, .dir = tmp, .name = "run.mdb",
                            .durability = HONE_CACHE_NOSYNC, .ignore_env = 1};
    if (hone_cache_open(&cache, NULL, &to, &err) != HONE_OK) {
        fprintf(stderr, "run demo: %s\n", err.msg);
        goto out;
    }
    const char *what = use_cc ? "public headers with `cc -fsyntax-only -Werror`" : "generated scripts with `sh -n`";
    hone_run_stats st[3];
    demo_count dc[3];
    for (int pass = 0; pass < 2; pass++) {
        memset(&dc[pass], 0, sizeof dc[pass]);
        hone_run_opts o = {.tmpl = t, .inputs = (const char *const *)paths, .ninputs = NH, .jobs = 2,
                           .cache = cache, .on_result = demo_result, .ctx = &dc[pass],
                           .cycles = hone_cycle_default()};
        if (hone_run_map(&o, &st[pass], &err) != HONE_OK) {
            fprintf(stderr, "run demo: %s\n", err.msg);
            goto out;
        }
        hone_cycle_file_ops(cli_demo_cycle(), NH);
    }
    printf("checked %d %s, 2 at once: %u passed, %u failed in %.2f s\n", NH, what, dc[0].ok, dc[0].failed,
           (double)st[0].wall_ns / 1e9);
    printf("again through the result cache: %llu of %d replayed, %llu run, in %.1f ms (saved %.2f s of work)\n",
           (unsigned long long)st[1].cached, NH, (unsigned long long)(st[1].jobs - st[1].cached),
           (double)st[1].wall_ns / 1e6, (double)st[1].saved_ns / 1e9);
    if (dc[0].ok != NH || st[1].cached != NH) {
        fprintf(stderr, "run demo: expected %d passes and %d replays (first failure: %s)\n", NH, NH,
                dc[0].first_err);
        goto out;
    }
    /* A broken file second in line, one job at a time, halting on it. */
    char broken[1200];
    snprintf(broken, sizeof broken, "%s/broken.%s", tmp, use_cc ? "h" : "sh");
    FILE *f = fopen(broken, "w");
    if (!f) goto fail_io2;
    fputs(use_cc ? "int broken(void) { return 0 }\n" : "if true; then echo broken\n", f);
    fclose(f);
    const char *in3[NH + 1];
    in3[0] = paths[0];
    in3[1] = broken;
    for (int i = 1; i < NH; i++) in3[i + 1] = paths[i];
    memset(&dc[2], 0, sizeof dc[2]);
    hone_run_opts o3 = {.tmpl = t, .inputs = in3, .ninputs = NH + 1, .jobs = 1, .cache = cache,
                        .on_result = demo_result, .ctx = &dc[2],
                        .halt = {.when = HONE_HALT_NOW, .on = HONE_HALT_FAIL, .count = 1}};
    if (hone_run_map(&o3, &st[2], &err) != HONE_OK) {
        fprintf(stderr, "run demo: %s\n", err.msg);
        goto out;
    }
    printf("with a broken file second in line and --halt now,fail=1: halted at job %llu (exit status %d), "
           "%llu not started\n  %s\n",
           (unsigned long long)st[2].halt_seq, hone_run_exit_status(&st[2], &o3.halt),
           (unsigned long long)st[2].skipped, dc[2].first_err);
    if (!st[2].halted || st[2].halt_seq != 2 || st[2].skipped != NH - 1) {
        fprintf(stderr, "run demo: expected a halt at job 2 with %d not started\n", NH - 1);
        goto out;
    }
    fail = 0;
    goto out;
fail_io2:
    perror("run demo");
out:
    hone_cache_free(cache);
    hone_run_template_free(t);
    for (int i = 0; i < NH; i++) free(paths[i]);
    free(cc);
    {
        const char *junk[] = {"run.mdb", "run.mdb-lock", "broken.h", "broken.sh"};
        for (size_t i = 0; i < sizeof junk / sizeof *junk; i++) rm_tree_file(tmp, junk[i]);
        for (int i = 0; i < NH; i++) {
            char n[64];
            snprintf(n, sizeof n, "%s.sh", names[i]);
            rm_tree_file(tmp, n);
        }
        rmdir(tmp);
    }
    return fail;
fail_io:
    perror("run demo");
    for (int i = 0; i < NH; i++) free(paths[i]);
    free(cc);
    rmdir(tmp);
    return 1;
}
