/* bench.c - `hone bench`: benchmarks commands like hyperfine does, with
 * hyperfine's options, plus interleaved runs, MAD outlier warnings and a
 * significance-tested comparison; also the `bench` step of `hone demo`. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_cli.h"

#define CMD "bench"

enum {
    OPT_INPUT = CLI_LONG, OPT_OUTPUT, OPT_SHOW_OUTPUT, OPT_STYLE, OPT_EXPORT_JSON, OPT_EXPORT_CSV,
    OPT_EXPORT_MD, OPT_REFERENCE, OPT_INTERLEAVE, OPT_NO_INTERLEAVE, OPT_BASELINE, OPT_EXPORT_ADOC,
    OPT_EXPORT_ORG
};

static const cli_opt bench_opts[] = {
    {'w', "warmup", "NUM", "untimed runs before timing (default 0)", NULL},
    {'m', "min-runs", "NUM", "at least NUM runs (default 10)", NULL},
    {'M', "max-runs", "NUM", "at most NUM runs (default: no limit)", NULL},
    {'r', "runs", "NUM", "exactly NUM runs (default: at least 3 s worth)", NULL},
    {'s', "setup", "CMD", "run CMD before the runs of each command", NULL},
    {'p', "prepare", "CMD", "run CMD before every run (once, or once per command)", NULL},
    {'C', "conclude", "CMD", "run CMD after every run (once, or once per command)", NULL},
    {'c', "cleanup", "CMD", "run CMD after the runs of each command", NULL},
    {'P', "parameter-scan", "NAME MIN MAX", "one benchmark per value, {NAME} replaced", NULL},
    {'D', "parameter-step-size", "STEP", "step of --parameter-scan (default 1)", NULL},
    {'L', "parameter-list", "NAME A,B,...", "one benchmark per value (repeatable)", NULL},
    {'S', "shell", "SHELL",
     "run commands through SHELL (\"none\": directly, the default; \"default\": /bin/sh); the "
     "shell's spawn time is measured and subtracted",
     "none default sh bash"},
    {'N', "", NULL, "same as --shell=none", NULL},
    {'n', "command-name", "NAME", "name a command in the report (repeatable)", NULL},
    {'i', "ignore-failure", NULL, "do not stop on a non-zero exit status", NULL},
    {OPT_INPUT, "input", "WHERE", "stdin of the commands: null (default) or a FILE", "@file"},
    {OPT_OUTPUT, "output", "WHERE", "stdout: null (default), pipe, inherit or a FILE", "@file"},
    {OPT_SHOW_OUTPUT, "show-output", NULL, "same as --output=inherit", NULL},
    {'u', "time-unit", "UNIT", "microsecond, millisecond or second (default: auto)",
     "microsecond millisecond second"},
    {OPT_STYLE, "style", "TYPE", "auto, basic, full, nocolor, color or none",
     "auto basic full nocolor color none"},
    {OPT_EXPORT_JSON, "export-json", "FILE", "hyperfine's JSON schema plus hone's fields", "@file"},
    {OPT_EXPORT_CSV, "export-csv", "FILE", "summary as CSV (seconds)", "@file"},
    {OPT_EXPORT_MD, "export-markdown", "FILE", "summary as a Markdown table", "@file"},
    {OPT_EXPORT_ADOC, "export-asciidoc", "FILE", "summary as an AsciiDoc table", "@file"},
    {OPT_EXPORT_ORG, "export-orgmode", "FILE", "summary as an Org mode table", "@file"},
    {OPT_REFERENCE, "reference", "CMD|N",
     "benchmark CMD first and compare against it, or compare against command N (1-based; "
     "default 1)",
     NULL},
    {OPT_INTERLEAVE, "interleave", NULL,
     "shuffle runs of all commands together (default with two or more commands that share one "
     "setup and cleanup)",
     NULL},
    {OPT_NO_INTERLEAVE, "no-interleave", NULL, "run each command's runs in a block, like hyperfine",
     NULL},
    {OPT_BASELINE, "baseline", "FILE.json", "compare with a saved --export-json file", "@file"},
    {'h', "help", NULL, "show this help", NULL},
    {0, NULL, NULL, NULL, NULL}};

const cli_spec cli_spec_bench = {
    "bench",
    "usage: hone bench [OPTIONS] COMMAND...\n"
    "\n"
    "Benchmarks each COMMAND: runs it repeatedly, measures wall time, user and\n"
    "system time and peak memory, and reports mean, standard deviation, range and\n"
    "outliers. With two or more commands the runs are interleaved in a shuffled\n"
    "order (unless their setups differ) and each command is compared with the\n"
    "first (or --reference): ratio of means with a 95 % confidence interval,\n"
    "Welch's t-test p-value, and a verdict. Commands are split with shell quoting\n"
    "and run directly (no shell) unless --shell is given. Options follow\n"
    "hyperfine's names and defaults.\n",
    "NO_COLOR turns colour off. See hone-bench(1).\n",
    bench_opts};

void cli_bench_usage(FILE *out) { cli_help(&cli_spec_bench, out); }

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

typedef struct plist {
    char *name;
    char **values;
    size_t n;
} plist;

typedef struct opts {
    uint64_t warmup, min_runs, max_runs, runs;
    int have_runs, have_min, have_max;
    const char *setup, *cleanup;
    const char **prepare, **conclude, **names;
    size_t nprepare, nconclude, nnames;
    plist *lists;
    size_t nlists;
    int have_scan;
    const char *shell;
    int ignore_failure;
    const char *input, *output;
    int unit;
    int style; /* index into styles[] */
    const char *export_json, *export_csv, *export_md, *export_adoc, *export_org;
    uint64_t reference;
    const char *reference_cmd; /* --reference CMD: benchmarked first */
    int interleave; /* -1: default */
    const char *baseline;
} opts;

static const char *const styles[] = {"auto", "basic", "full", "nocolor", "color", "none", NULL};
enum { STYLE_AUTO, STYLE_BASIC, STYLE_FULL, STYLE_NOCOLOR, STYLE_COLOR, STYLE_NONE };

static void opts_free(opts *o) {
    for (size_t i = 0; i < o->nlists; i++) {
        for (size_t k = 0; k < o->lists[i].n; k++) free(o->lists[i].values[k]);
        free(o->lists[i].values);
    }
    free(o->lists);
    free(o->prepare);
    free(o->conclude);
    free(o->names);
}

static int push_str(const char ***arr, size_t *n, const char *s) {
    const char **na = realloc(*arr, (*n + 1) * sizeof *na);
    if (!na) return -1;
    na[(*n)++] = s;
    *arr = na;
    return 0;
}

static int add_list(opts *o, const char *name, char **values, size_t n) {
    plist *nl = realloc(o->lists, (o->nlists + 1) * sizeof *nl);
    if (!nl) return -1;
    o->lists = nl;
    o->lists[o->nlists++] = (plist){(char *)name, values, n};
    return 0;
}

/* The number of decimal places a number's spelling needs: digits after the
 * point, less a power of ten ("0.25" 2, "5e-1" 1, "2.5e3" 0). */
static int decimals(const char *s) {
    const char *dot = strchr(s, '.');
    int d = 0;
    if (dot)
        for (const char *p = dot + 1; *p >= '0' && *p <= '9'; p++) d++;
    const char *e = strpbrk(s, "eE");
    if (e) d -= atoi(e + 1);
    return d < 0 ? 0 : d;
}

/* --parameter-scan NAME MIN MAX [-D STEP]: the values are computed on
 * integers scaled by 10^decimals, so that 0.3..0.7 step 0.2 gives exactly
 * 0.3, 0.5, 0.7 (as hyperfine, which uses decimal arithmetic), never
 * 0.7000000001 or a missing last value. */
static int scan_values(opts *o, const char *name, const char *lo, const char *hi,
                       const char *step) {
    hone_error err;
    double dlo, dhi, dstep = 1;
    if (hone_parse_double("--parameter-scan MIN", lo, -1e15, 1e15, &dlo, &err) ||
        hone_parse_double("--parameter-scan MAX", hi, -1e15, 1e15, &dhi, &err) ||
        (step && hone_parse_double("--parameter-step-size", step, 1e-12, 1e15, &dstep, &err))) {
        cli_cmd_error(CMD, "%s", err.msg);
        return CLI_USAGE;
    }
    if (!step && (dlo != floor(dlo) || dhi != floor(dhi))) {
        cli_cmd_error(CMD,
                      "--parameter-scan %s %s %s: expected integer bounds (give a step with -D "
                      "for decimal values)",
                      name, lo, hi);
        return CLI_USAGE;
    }
    if (dlo > dhi) {
        cli_cmd_error(CMD, "--parameter-scan %s %s %s: expected MIN <= MAX", name, lo, hi);
        return CLI_USAGE;
    }
    /* Counted in floating point first: in integers of the finest decimal
     * place, a wide range overflows (1e14 in steps of 1e-6 is 1e20). */
    double fcount = floor((dhi - dlo) / dstep * (1 + 1e-12)) + 1;
    if (fcount > 100000) {
        cli_cmd_error(CMD, "--parameter-scan %s %s %s: %.3g values, expected at most 100000", name,
                      lo, hi, fcount);
        return CLI_USAGE;
    }
    int d = decimals(lo);
    if (decimals(hi) > d) d = decimals(hi);
    if (step && decimals(step) > d) d = decimals(step);
    if (d > 9) d = 9;
    double scale = pow(10, d);
    if (fmax(fabs(dlo), fabs(dhi)) * scale > 9e18) {
        cli_cmd_error(CMD, "--parameter-scan %s %s %s: values this large cannot have %d decimal "
                           "places: expected fewer decimals or smaller bounds",
                      name, lo, hi, d);
        return CLI_USAGE;
    }
    long long ilo = llround(dlo * scale), ihi = llround(dhi * scale), ist = llround(dstep * scale);
    if (ist <= 0) ist = 1;
    long long count = (ihi - ilo) / ist + 1;
    char **vals = calloc((size_t)count, sizeof *vals);
    if (!vals) return CLI_FAIL;
    for (long long i = 0; i < count; i++) {
        long long v = ilo + i * ist;
        char buf[64];
        if (d == 0) {
            snprintf(buf, sizeof buf, "%lld", v);
        } else {
            long long p10 = (long long)scale;
            long long a = v < 0 ? -v : v;
            snprintf(buf, sizeof buf, "%s%lld.%0*lld", v < 0 ? "-" : "", a / p10, d, a % p10);
        }
        vals[i] = strdup(buf);
        if (!vals[i]) {
            for (long long k = 0; k < i; k++) free(vals[k]);
            free(vals);
            return CLI_FAIL;
        }
    }
    if (add_list(o, name, vals, (size_t)count)) return CLI_FAIL;
    return CLI_OK;
}

static int list_values(opts *o, const char *name, const char *csv) {
    size_t n = 1;
    for (const char *p = csv; *p; p++) n += *p == ',';
    char **vals = calloc(n, sizeof *vals);
    if (!vals) return CLI_FAIL;
    const char *p = csv;
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(p, ",");
        vals[i] = strndup(p, len);
        if (!vals[i]) {
            for (size_t k = 0; k < i; k++) free(vals[k]);
            free(vals);
            return CLI_FAIL;
        }
        p += len + (p[len] == ',');
    }
    if (add_list(o, name, vals, n)) return CLI_FAIL;
    return CLI_OK;
}

static int valid_param_name(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (*s == '{' || *s == '}' || *s == ' ') return 0;
    return 1;
}

/* getopt takes one value per option; -P and -L take several. They are
 * folded into one argument, with \x1f between the parts, before getopt
 * sees argv, so that options may still come after the commands. */
static char **fold_multi(int argc, char **argv, int *nargc, char **store, size_t *nstore) {
    char **out = calloc((size_t)argc + 1, sizeof *out);
    if (!out) return NULL;
    int k = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int parts = 0;
        const char *longname = NULL;
        if (!strcmp(a, "--")) {
            while (i < argc) out[k++] = argv[i++];
            break;
        }
        if (!strcmp(a, "-P") || !strcmp(a, "--parameter-scan")) parts = 3, longname = "parameter-scan";
        if (!strcmp(a, "-L") || !strcmp(a, "--parameter-list")) parts = 2, longname = "parameter-list";
        if (!parts) {
            out[k++] = argv[i];
            continue;
        }
        if (i + parts >= argc) {
            cli_cmd_error(CMD, "option '%s' needs %s", a,
                          parts == 3 ? "NAME MIN MAX" : "NAME VALUES");
            free(out);
            return NULL;
        }
        size_t len = strlen(longname) + 4;
        for (int p = 1; p <= parts; p++) len += strlen(argv[i + p]) + 1;
        char *s = malloc(len);
        if (!s) {
            free(out);
            return NULL;
        }
        int off = snprintf(s, len, "--%s=", longname);
        for (int p = 1; p <= parts; p++)
            off += snprintf(s + off, len - (size_t)off, "%s%s", argv[i + p], p < parts ? "\x1f" : "");
        store[(*nstore)++] = s;
        out[k++] = s;
        i += parts;
    }
    *nargc = k;
    return out;
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */
/* ------------------------------------------------------------------ */

/* Replaces every {name} of params in s. Returns a malloc'd string. */
static char *substitute(const char *s, const bench_param *params, size_t n) {
    hone_buf b;
    hone_buf_init(&b, NULL);
    if (hone_buf_puts(&b, "")) return NULL;
    for (const char *p = s; *p;) {
        int hit = 0;
        if (*p == '{') {
            for (size_t i = 0; i < n; i++) {
                size_t l = strlen(params[i].name);
                if (!strncmp(p + 1, params[i].name, l) && p[1 + l] == '}') {
                    if (hone_buf_puts(&b, params[i].value)) goto oom;
                    p += l + 2;
                    hit = 1;
                    break;
                }
            }
        }
        if (!hit && hone_buf_append(&b, p++, 1)) goto oom;
    }
    return b.data;
oom:
    hone_buf_free(&b);
    return NULL;
}

static void exec_free(bench_exec *e) {
    hone_bench_argv_free(e->argv, NULL);
    free(e->path);
    e->argv = NULL;
    e->path = NULL;
}

static void cmd_free(bench_cmd *c) {
    free(c->cmdline);
    free(c->name);
    for (size_t i = 0; i < c->nparams; i++) free(c->params[i].value);
    free(c->params);
    exec_free(&c->run);
    exec_free(&c->prepare);
    exec_free(&c->conclude);
    exec_free(&c->setup);
    exec_free(&c->cleanup);
    free(c->t);
    free(c->user);
    free(c->sys);
    free(c->rss);
    free(c->code);
}

/* Whether two setup/cleanup commands are the same (both absent counts). */
static int exec_same(const bench_exec *a, const bench_exec *b) {
    if (!a->argv || !b->argv) return !a->argv && !b->argv;
    size_t i = 0;
    for (; a->argv[i] && b->argv[i]; i++)
        if (strcmp(a->argv[i], b->argv[i])) return 0;
    return !a->argv[i] && !b->argv[i];
}

/* Without a shell, a word such as '*.json', '$HOME', '~/x' or 'a;' reaches
 * the program as it is, where a shell would have expanded or split it. When
 * such a command fails, its error says so. Writes the hint (or "") to buf. */
static const char *shell_hint(int shell, char *const *argv, char *buf, size_t n) {
    buf[0] = 0;
    if (shell || !argv) return buf;
    for (size_t i = 0; argv[i]; i++)
        if (strpbrk(argv[i], "*?[$`;&|<>") || argv[i][0] == '~') {
            snprintf(buf, n,
                     " (without a shell, '%s' reached it as written; --shell=sh would run the "
                     "line as a shell does)",
                     argv[i]);
            break;
        }
    return buf;
}

/* Resolves how to start `line`: split and found in PATH, or handed to the
 * shell. `what` names the line in the error ("command", "--prepare"). */
static int make_exec(const bench_ctx *c, const char *line, const char *what, bench_exec *e) {
    hone_error err;
    memset(e, 0, sizeof *e);
    if (c->shell) {
        char **sw;
        int sn;
        if (hone_bench_split(c->shell_line, &sw, &sn, NULL, &err)) {
            cli_cmd_error(CMD, "--shell: %s", err.msg);
            return CLI_USAGE;
        }
        char **argv = calloc((size_t)sn + 3, sizeof *argv);
        if (!argv) {
            hone_bench_argv_free(sw, NULL);
            return CLI_FAIL;
        }
        for (int i = 0; i < sn; i++) argv[i] = sw[i];
        free(sw);
        argv[sn] = strdup("-c");
        argv[sn + 1] = strdup(line);
        e->argv = argv;
        if (!argv[sn] || !argv[sn + 1]) return CLI_FAIL;
        if (hone_bench_which(argv[0], NULL, &e->path, NULL, &err)) {
            cli_cmd_error(CMD, "--shell: %s", err.msg);
            return CLI_USAGE;
        }
        return CLI_OK;
    }
    int argc;
    if (hone_bench_split(line, &e->argv, &argc, NULL, &err)) {
        if (!strcmp(what, "command")) cli_cmd_error(CMD, "%s", err.msg);
        else cli_cmd_error(CMD, "%s: %s", what, err.msg);
        return CLI_USAGE;
    }
    /* Without a shell, `a | b` would run a with the arguments "|" and "b":
     * a silently wrong benchmark for anyone used to hyperfine's default
     * shell, so a bare operator word is refused. */
    static const char *const ops[] = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>&1", NULL};
    for (int i = 1; i < argc; i++)
        for (int k = 0; ops[k]; k++)
            if (!strcmp(e->argv[i], ops[k])) {
                cli_cmd_error(CMD,
                              "%s '%s' contains the shell operator '%s', but commands run without "
                              "a shell: expected --shell=sh, or quote it to pass it literally",
                              what, line, ops[k]);
                return CLI_USAGE;
            }
    if (hone_bench_which(e->argv[0], NULL, &e->path, NULL, &err)) {
        if (err.code == HONE_ENOMEM) return CLI_FAIL;
        char hint[320];
        char *first[2] = {e->argv[0], NULL};
        shell_hint(0, first, hint, sizeof hint);
        if (!strcmp(what, "command")) cli_cmd_error(CMD, "%s%s", err.msg, hint);
        else cli_cmd_error(CMD, "%s: %s%s", what, err.msg, hint);
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* At most this many commands after parameter expansion: each one runs at
 * least a few times, so more would run for days. */
#define MAX_COMMANDS 10000

/* Builds the command list: each positional command crossed with every
 * combination of parameter values. */
static int build_cmds(bench_ctx *c, opts *o, char **cmds, size_t ncmd) {
    /* Bounded before multiplying: 16 lists of 16 values would wrap. */
    size_t combos = 1;
    for (size_t i = 0; i < o->nlists; i++) {
        if (o->lists[i].n > MAX_COMMANDS / combos / (ncmd ? ncmd : 1)) {
            cli_cmd_error(CMD, "the parameter lists make more than %d commands: expected fewer "
                               "values or lists", MAX_COMMANDS);
            return CLI_USAGE;
        }
        combos *= o->lists[i].n;
    }
    if (o->nnames > ncmd * combos) {
        cli_cmd_error(CMD, "%zu --command-name options for %zu commands: expected at most %zu",
                      o->nnames, ncmd * combos, ncmd * combos);
        return CLI_USAGE;
    }
    if (o->nprepare > 1 && o->nprepare != ncmd) {
        cli_cmd_error(CMD, "%zu --prepare options for %zu commands: expected 1 or %zu", o->nprepare,
                      ncmd, ncmd);
        return CLI_USAGE;
    }
    if (o->nconclude > 1 && o->nconclude != ncmd) {
        cli_cmd_error(CMD, "%zu --conclude options for %zu commands: expected 1 or %zu",
                      o->nconclude, ncmd, ncmd);
        return CLI_USAGE;
    }
    c->cmds = calloc(ncmd * combos, sizeof *c->cmds);
    if (!c->cmds) return CLI_FAIL;
    size_t idx = 0;
    for (size_t ci = 0; ci < ncmd; ci++) {
        for (size_t k = 0; k < combos; k++) {
            bench_cmd *b = &c->cmds[idx];
            c->ncmds = ++idx;
            b->nparams = o->nlists;
            if (o->nlists && !(b->params = calloc(o->nlists, sizeof *b->params))) return CLI_FAIL;
            /* The first list varies fastest, in hyperfine's order. */
            size_t rem = k;
            for (size_t li = 0; li < o->nlists; li++) {
                b->params[li].name = o->lists[li].name;
                b->params[li].value = strdup(o->lists[li].values[rem % o->lists[li].n]);
                if (!b->params[li].value) return CLI_FAIL;
                rem /= o->lists[li].n;
            }
            b->cmdline = substitute(cmds[ci], b->params, b->nparams);
            const char *nm = idx - 1 < o->nnames ? o->names[idx - 1]
                             : (o->nnames == ncmd && combos > 1) ? o->names[ci]
                                                                 : NULL;
            b->name = substitute(nm ? nm : cmds[ci], b->params, b->nparams);
            if (!b->cmdline || !b->name) return CLI_FAIL;
            int rc = make_exec(c, b->cmdline, "command", &b->run);
            const char *aux[4] = {
                o->nprepare ? o->prepare[o->nprepare == 1 ? 0 : ci] : NULL,
                o->nconclude ? o->conclude[o->nconclude == 1 ? 0 : ci] : NULL, o->setup,
                o->cleanup};
            const char *what[4] = {"--prepare", "--conclude", "--setup", "--cleanup"};
            bench_exec *dst[4] = {&b->prepare, &b->conclude, &b->setup, &b->cleanup};
            for (int a = 0; a < 4 && rc == CLI_OK; a++) {
                if (!aux[a]) continue;
                char *line = substitute(aux[a], b->params, b->nparams);
                if (!line) return CLI_FAIL;
                rc = make_exec(c, line, what[a], dst[a]);
                free(line);
            }
            if (rc) return rc;
        }
    }
    return CLI_OK;
}

/* ------------------------------------------------------------------ */
/* Running                                                             */
/* ------------------------------------------------------------------ */

typedef struct runner {
    hone_bench_exec_opts io;   /* for benchmarked commands */
    hone_bench_exec_opts null; /* for setup/prepare/conclude/cleanup */
    int input_fd;              /* --input FILE, rewound before each run */
    int pipe_w;                /* --output=pipe: the write end */
    pthread_t drain;
    int draining;
    int ignore_failure;
} runner;

static void *drain_pipe(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    while (read(fd, buf, sizeof buf) > 0 || errno == EINTR) {
    }
    close(fd);
    return NULL;
}

static int spawn(const bench_exec *e, const hone_bench_exec_opts *io, hone_bench_run *r,
                 const char *line) {
    int rc = hone_bench_exec(e->path, e->argv, io, r);
    if (rc) {
        cli_cmd_error(CMD, "could not start '%s': %s", line, hone_strerror(rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* Runs a setup/prepare/conclude/cleanup command; its failure always stops
 * the benchmark, as in hyperfine. */
static int run_aux(runner *rn, const bench_exec *e, const char *what, const bench_cmd *b) {
    if (!e->argv) return CLI_OK;
    hone_bench_run r;
    if (spawn(e, &rn->null, &r, what)) return CLI_FAIL;
    if (r.exit_code != 0) {
        cli_cmd_error(CMD, "the %s command of '%s' failed with exit status %d", what, b->name,
                      r.exit_code);
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int push_run(bench_cmd *b, const bench_ctx *c, const hone_bench_run *r) {
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 16;
        double *t = realloc(b->t, nc * sizeof *t);
        if (t) b->t = t;
        double *u = realloc(b->user, nc * sizeof *u);
        if (u) b->user = u;
        double *s = realloc(b->sys, nc * sizeof *s);
        if (s) b->sys = s;
        uint64_t *m = realloc(b->rss, nc * sizeof *m);
        if (m) b->rss = m;
        int *e = realloc(b->code, nc * sizeof *e);
        if (e) b->code = e;
        if (!t || !u || !s || !m || !e) return CLI_FAIL;
        b->cap = nc;
    }
    /* The shell's own start-up is not part of the command: subtract its
     * mean, as hyperfine does, but never below zero. */
    b->t[b->n] = fmax(0, (double)r->wall_ns / 1e9 - c->shell_wall);
    b->user[b->n] = fmax(0, (double)r->user_ns / 1e9 - c->shell_user);
    b->sys[b->n] = fmax(0, (double)r->sys_ns / 1e9 - c->shell_sys);
    b->rss[b->n] = r->max_rss_bytes;
    if (r->max_rss_bytes > b->peak_rss) {
        b->peak_rss = r->max_rss_bytes;
        b->peak_rss_bounded = r->max_rss_bounded;
    } else if (r->max_rss_bytes == b->peak_rss && !r->max_rss_bounded) {
        b->peak_rss_bounded = 0;
    }
    b->code[b->n] = r->exit_code;
    b->n++;
    return CLI_OK;
}

/* One run of b with its prepare and conclude commands; timed runs are
 * recorded. */
static int one_run(runner *rn, bench_ctx *c, bench_cmd *b, int timed) {
    if (run_aux(rn, &b->prepare, "--prepare", b)) return CLI_FAIL;
    if (rn->input_fd >= 0) lseek(rn->input_fd, 0, SEEK_SET);
    hone_bench_run r;
    if (spawn(&b->run, &rn->io, &r, b->cmdline)) return CLI_FAIL;
    if (r.exit_code != 0 && !rn->ignore_failure) {
        char hint[320];
        shell_hint(c->shell, b->run.argv, hint, sizeof hint);
        if (r.signal)
            cli_cmd_error(CMD, "command '%s' was killed by signal %d%s; use --ignore-failure (-i) "
                               "to benchmark it anyway", b->name, r.signal, hint);
        else
            cli_cmd_error(CMD, "command '%s' terminated with non-zero exit status %d%s; use "
                               "--ignore-failure (-i) to benchmark it anyway", b->name, r.exit_code,
                          hint);
        return CLI_FAIL;
    }
    if (timed && push_run(b, c, &r)) return CLI_FAIL;
    if (run_aux(rn, &b->conclude, "--conclude", b)) return CLI_FAIL;
    return CLI_OK;
}

/* Progress on stderr, redrawn in place; only on a terminal. */
typedef struct progress {
    int on;
    size_t done, total;
    size_t base; /* done when start was taken: the ETA's rate counts from there */
    uint64_t start, last;
    const char *label;
} progress;

static void progress_draw(progress *p, int force) {
    if (!p->on) return;
    uint64_t now = hone_monotonic_ns();
    if (!force && now - p->last < 50000000u) return;
    p->last = now;
    double el = (double)(now - p->start) / 1e9;
    size_t since = p->done - p->base;
    double eta = since ? el / (double)since * (double)(p->total - p->done) : 0;
    int width = 30, fill = p->total ? (int)((double)width * (double)p->done / (double)p->total) : 0;
    char bar[128];
    int k = 0;
    for (int i = 0; i < width; i++) k += snprintf(bar + k, sizeof bar - (size_t)k, "%s", i < fill ? "#" : "-");
    fprintf(stderr, "\r\033[K%s [%s] %zu/%zu  ETA %02d:%02d", p->label, bar, p->done, p->total,
            (int)eta / 60, (int)eta % 60);
    fflush(stderr);
}

static void progress_clear(progress *p) {
    if (p->on) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}

static size_t runs_for(const opts *o, double first) {
    if (o->have_runs) return (size_t)o->runs;
    /* Enough runs to fill 3 s, at least min-runs, at most max-runs, like
     * hyperfine. */
    double want = first > 0 ? ceil(3.0 / first) : 1e9;
    uint64_t lo = o->have_min ? o->min_runs : 10;
    uint64_t n = want > 1e9 ? 1000000000u : (uint64_t)want;
    if (n < lo) n = lo;
    if (o->have_max && n > o->max_runs) n = o->max_runs;
    return (size_t)n;
}

/* xorshift64*: a small generator for the run order; seeded from the clock,
 * the order only needs to be unpredictable to the machine's drift. */
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static int measure_shell(bench_ctx *c, runner *rn) {
    bench_exec e;
    int rc = make_exec(c, "", "--shell", &e);
    if (rc) {
        exec_free(&e);
        return rc;
    }
    /* Fifty runs of the shell with an empty command after five warm-ups,
     * as hyperfine does; the mean is the shell's cost per run. */
    double w = 0, u = 0, s = 0;
    const int n = 50;
    for (int i = 0; i < n + 5 && rc == CLI_OK; i++) {
        hone_bench_run r;
        rc = spawn(&e, &rn->null, &r, c->shell_line);
        if (rc == CLI_OK && r.exit_code != 0) {
            cli_cmd_error(CMD, "--shell=%s: the shell exits with status %d on an empty command",
                          c->shell_line, r.exit_code);
            rc = CLI_USAGE;
        }
        if (rc == CLI_OK && i >= 5) {
            w += (double)r.wall_ns / 1e9;
            u += (double)r.user_ns / 1e9;
            s += (double)r.sys_ns / 1e9;
        }
    }
    exec_free(&e);
    if (rc) return rc;
    c->shell_wall = w / n;
    c->shell_user = u / n;
    c->shell_sys = s / n;
    c->shell_n = (size_t)n;
    return CLI_OK;
}

static int run_all(bench_ctx *c, runner *rn, const opts *o) {
    progress pg = {.on = 0};
    pg.on = !c->quiet && (o->style == STYLE_FULL || o->style == STYLE_COLOR ||
                          ((o->style == STYLE_AUTO || o->style == STYLE_NOCOLOR) && isatty(2)));
    if (o->style == STYLE_COLOR) pg.on = 0;
    if (o->style == STYLE_FULL || o->style == STYLE_NOCOLOR) pg.on = 1;

    for (size_t i = 0; i < c->ncmds; i++) {
        bench_cmd *b = &c->cmds[i];
        if (run_aux(rn, &b->setup, "--setup", b)) return CLI_FAIL;
        pg.label = "warming up";
        pg.total = (size_t)o->warmup;
        pg.done = 0;
        pg.start = hone_monotonic_ns();
    pg.base = pg.done;
        for (uint64_t w = 0; w < o->warmup; w++) {
            if (one_run(rn, c, b, 0)) return CLI_FAIL;
            pg.done++;
            progress_draw(&pg, 0);
        }
        /* The first timed run sizes the run count. */
        if (one_run(rn, c, b, 1)) return CLI_FAIL;
        /* Sized on the raw time, shell included: after the subtraction a
         * trivial command may measure 0, which would ask for endless runs. */
        b->target = runs_for(o, b->t[0] + c->shell_wall);
        if (!c->interleave) {
            pg.label = "measuring ";
            pg.total = b->target;
            pg.done = 1;
            pg.start = hone_monotonic_ns();
            pg.base = pg.done;
            while (b->n < b->target) {
                if (one_run(rn, c, b, 1)) return CLI_FAIL;
                pg.done++;
                progress_draw(&pg, 0);
            }
            progress_clear(&pg);
            if (run_aux(rn, &b->cleanup, "--cleanup", b)) return CLI_FAIL;
        }
    }
    progress_clear(&pg);
    if (!c->interleave) return CLI_OK;

    /* Interleaved: every remaining run of every command, in one shuffled
     * order, so that drift of a noisy machine lands on all commands. */
    size_t total = 0;
    for (size_t i = 0; i < c->ncmds; i++) total += c->cmds[i].target - c->cmds[i].n;
    size_t *order = malloc((total ? total : 1) * sizeof *order);
    if (!order) return CLI_FAIL;
    size_t k = 0;
    for (size_t i = 0; i < c->ncmds; i++)
        for (size_t r = c->cmds[i].n; r < c->cmds[i].target; r++) order[k++] = i;
    uint64_t seed = hone_monotonic_ns() | 1;
    for (size_t i = total; i > 1; i--) {
        size_t j = (size_t)(rng_next(&seed) % i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    /* The bar counts every timed run, the first run of each command (made
     * above, to size the counts) too: 2 commands x 10 runs start at 2/20. */
    pg.label = "measuring ";
    pg.total = 0;
    for (size_t i = 0; i < c->ncmds; i++) pg.total += c->cmds[i].target;
    pg.done = pg.total - total;
    pg.start = hone_monotonic_ns();
    pg.base = pg.done;
    int rc = CLI_OK;
    for (size_t i = 0; i < total && rc == CLI_OK; i++) {
        rc = one_run(rn, c, &c->cmds[order[i]], 1);
        pg.done++;
        progress_draw(&pg, 0);
    }
    free(order);
    progress_clear(&pg);
    for (size_t i = 0; i < c->ncmds && rc == CLI_OK; i++)
        rc = run_aux(rn, &c->cmds[i].cleanup, "--cleanup", &c->cmds[i]);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Report                                                              */
/* ------------------------------------------------------------------ */

static const char *col(const bench_ctx *c, const char *code) { return c->color ? code : ""; }

static void fmt_bytes(uint64_t b, char *buf, size_t n) {
    if (b >= 1024u * 1024u) snprintf(buf, n, "%.1f MiB", (double)b / 1048576.0);
    else snprintf(buf, n, "%.1f KiB", (double)b / 1024.0);
}

static int summarize_all(bench_ctx *c) {
    for (size_t i = 0; i < c->ncmds; i++) {
        bench_cmd *b = &c->cmds[i];
        if (hone_bench_summarize(b->t, b->n, &b->sum, NULL)) return CLI_FAIL;
        double u = 0, s = 0;
        for (size_t k = 0; k < b->n; k++) u += b->user[k], s += b->sys[k];
        b->user_mean = u / (double)b->n;
        b->sys_mean = s / (double)b->n;
    }
    bench_cmd *ref = &c->cmds[c->reference];
    for (size_t i = 0; i < c->ncmds; i++) {
        if (i == c->reference) continue;
        bench_cmd *b = &c->cmds[i];
        b->has_cmp = hone_bench_compare(ref->t, ref->n, b->t, b->n, &b->cmp, NULL) == HONE_OK;
    }
    return CLI_OK;
}

#define OUTLIER_WARN_MADS 14.0

static void print_result(const bench_ctx *c, size_t i) {
    const bench_cmd *b = &c->cmds[i];
    const hone_bench_summary *s = &b->sum;
    char m[32], sd[32], u[32], sy[32], lo[32], hi[32], mem[32];
    printf("%sBenchmark %zu:%s %s\n", col(c, "\033[1m"), i + 1, col(c, "\033[0m"), b->name);
    bench_fmt_time(c, s->mean, s->mean, m, sizeof m);
    bench_fmt_time(c, s->stddev, s->mean, sd, sizeof sd);
    bench_fmt_time(c, b->user_mean, s->mean, u, sizeof u);
    bench_fmt_time(c, b->sys_mean, s->mean, sy, sizeof sy);
    bench_fmt_time(c, s->min, s->mean, lo, sizeof lo);
    bench_fmt_time(c, s->max, s->mean, hi, sizeof hi);
    /* A child that stayed below this process's own peak is charged that
     * peak by Linux (its exec records the spawning memory's high-water
     * mark), so its own is unknown: no figure is printed rather than
     * hone's (`true` would show 8 MiB where /usr/bin/time says 1). The
     * JSON export keeps the bound, flagged memory_usage_is_upper_bound. */
    mem[0] = 0;
    if (!b->peak_rss_bounded) {
        snprintf(mem, sizeof mem, ", peak RSS ");
        size_t ml = strlen(mem);
        fmt_bytes(b->peak_rss, mem + ml, sizeof mem - ml);
    }
    printf("  Time (mean \u00b1 \u03c3):     %s%10s%s \u00b1 %10s    [User: %s, System: %s]\n",
           col(c, "\033[32;1m"), m, col(c, "\033[0m"), b->n > 1 ? sd : "n/a", u, sy);
    char md[32];
    bench_fmt_time(c, s->median, s->mean, md, sizeof md);
    printf("  Range (min \u2026 max):   %10s \u2026 %10s    %zu runs   median %s%s\n", lo, hi,
           b->n, md, mem);
    /* Counted outliers (beyond HONE_BENCH_OUTLIER_K scaled MADs) go to the
     * JSON export; the warning fires only for runs beyond hyperfine's
     * threshold of 14, so that the heavy right tail every process-spawn
     * benchmark has does not raise it on every run. */
    size_t far = 0;
    if (s->mad > 0)
        for (size_t k = 0; k < b->n; k++)
            far += fabs(b->t[k] - s->median) / (1.4826 * s->mad) > OUTLIER_WARN_MADS;
    fflush(stdout); /* warnings on stderr appear after the lines they follow */
    if (far)
        fprintf(stderr,
                "  %sWarning%s: %s: %zu of %zu runs are statistical outliers (more than %.0f "
                "scaled MADs from the median; %zu beyond %.1f). Other programs or the system may "
                "have interfered; consider --warmup or a quieter machine.\n",
                col(c, "\033[33;1m"), col(c, "\033[0m"), b->name, far, b->n, OUTLIER_WARN_MADS,
                s->outliers_low + s->outliers_high, HONE_BENCH_OUTLIER_K);
    size_t fails = 0;
    for (size_t k = 0; k < b->n; k++) fails += b->code[k] != 0;
    if (fails)
        fprintf(stderr, "  Warning: %s: %zu of %zu runs exited with a non-zero status.\n", b->name,
                fails, b->n);
    printf(" \n");
}

static void print_p(double p, char *buf, size_t n) {
    if (p < 0.001) snprintf(buf, n, "p < 0.001");
    else snprintf(buf, n, "p = %.3f", p);
}

/* One comparison line: "'b' is 1.52x faster than 'a' (95 % CI ...)". */
static void print_cmp(const bench_ctx *c, const char *who, const char *than,
                      const hone_bench_comparison *k) {
    char p[32];
    print_p(k->welch.p, p, sizeof p);
    if (k->verdict == HONE_BENCH_FASTER)
        printf("  '%s' is %s%.2fx faster%s than '%s' (95 %% CI %.2f\u2013%.2f, %s)\n", who,
               col(c, "\033[32;1m"), 1 / k->ratio, col(c, "\033[0m"), than, 1 / k->ratio_hi,
               1 / k->ratio_lo, p);
    else if (k->verdict == HONE_BENCH_SLOWER)
        printf("  '%s' is %s%.2fx slower%s than '%s' (95 %% CI %.2f\u2013%.2f, %s)\n", who,
               col(c, "\033[31;1m"), k->ratio, col(c, "\033[0m"), than, k->ratio_lo, k->ratio_hi, p);
    else
        printf("  '%s' vs '%s': %sno significant difference%s (time ratio %.3f, 95 %% CI "
               "%.3f\u2013%.3f, %s)\n",
               who, than, col(c, "\033[1m"), col(c, "\033[0m"), k->ratio, k->ratio_lo, k->ratio_hi,
               p);
}

static void print_summary(const bench_ctx *c) {
    if (c->ncmds > 1) {
        const bench_cmd *ref = &c->cmds[c->reference];
        printf("%sSummary%s (vs '%s'; ratio of means, Welch's t-test)\n", col(c, "\033[1m"),
               col(c, "\033[0m"), ref->name);
        for (size_t i = 0; i < c->ncmds; i++) {
            if (i == c->reference) continue;
            const bench_cmd *b = &c->cmds[i];
            if (b->has_cmp) print_cmp(c, b->name, ref->name, &b->cmp);
            else
                printf("  '%s' vs '%s': not compared (needs 2+ runs with a positive mean each)\n",
                       b->name, ref->name);
        }
    }
    int any = 0;
    for (size_t i = 0; i < c->ncmds; i++) any |= c->cmds[i].has_base;
    if (any) {
        printf("%sBaseline%s (%s)\n", col(c, "\033[1m"), col(c, "\033[0m"), c->baseline_file);
        for (size_t i = 0; i < c->ncmds; i++) {
            const bench_cmd *b = &c->cmds[i];
            if (!b->has_base) continue;
            char who[512];
            snprintf(who, sizeof who, "%s", b->name);
            print_cmp(c, who, "baseline", &b->base_cmp);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static int parse_count(const char *what, const char *v, uint64_t min, uint64_t *out) {
    hone_error err;
    if (hone_parse_u64(what, v, min, 1000000000u, out, &err)) {
        cli_cmd_error(CMD, "%s", err.msg);
        return -1;
    }
    return 0;
}

static int setup_io(runner *rn, const opts *o) {
    memset(rn, 0, sizeof *rn);
    rn->input_fd = -1;
    rn->pipe_w = -1;
    const char *in = o->input ? o->input : "null";
    if (strcmp(in, "null") != 0) {
        rn->input_fd = open(in, O_RDONLY | O_CLOEXEC);
        if (rn->input_fd < 0) {
            cli_cmd_error(CMD, "--input=%s: %s (expected 'null' or a readable file)", in,
                          strerror(errno));
            return CLI_USAGE;
        }
        rn->io.use_fds |= HONE_BENCH_USE_STDIN;
        rn->io.stdin_fd = rn->input_fd;
    }
    const char *out = o->output ? o->output : "null";
    if (!strcmp(out, "inherit")) {
        rn->io.use_fds |= HONE_BENCH_USE_STDOUT | HONE_BENCH_USE_STDERR;
        rn->io.stdout_fd = 1;
        rn->io.stderr_fd = 2;
    } else if (!strcmp(out, "pipe")) {
        int p[2];
        if (pipe2(p, O_CLOEXEC)) return CLI_FAIL;
        rn->pipe_w = p[1];
        if (pthread_create(&rn->drain, NULL, drain_pipe, (void *)(intptr_t)p[0])) {
            close(p[0]);
            return CLI_FAIL;
        }
        rn->draining = 1;
        rn->io.use_fds |= HONE_BENCH_USE_STDOUT | HONE_BENCH_USE_STDERR;
        rn->io.stdout_fd = rn->io.stderr_fd = p[1];
    } else if (strcmp(out, "null") != 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            cli_cmd_error(CMD, "--output=%s: %s (expected null, pipe, inherit or a writable file)",
                          out, strerror(errno));
            return CLI_USAGE;
        }
        rn->pipe_w = fd; /* closed at the end like the pipe */
        rn->io.use_fds |= HONE_BENCH_USE_STDOUT;
        rn->io.stdout_fd = fd;
    }
    return CLI_OK;
}

static void teardown_io(runner *rn) {
    if (rn->input_fd >= 0) close(rn->input_fd);
    if (rn->pipe_w >= 0) close(rn->pipe_w);
    if (rn->draining) pthread_join(rn->drain, NULL);
}

/* The verdict of the last two-command run, for the demo step's check. */
static int last_verdict = -1;

static int bench_main(int argc, char **argv, opts *o) {
    static const char *const units[] = {"second", "millisecond", "microsecond", NULL};
    const char *scan = NULL, *step = NULL;
    hone_error err;
    int ch, idx;
    optind = 0;
    while ((ch = cli_next(&cli_spec_bench, argc, argv)) != -1) {
        switch (ch) {
        case 'w':
            if (parse_count("--warmup", optarg, 0, &o->warmup)) return CLI_USAGE;
            break;
        case 'm':
            if (parse_count("--min-runs", optarg, 2, &o->min_runs)) return CLI_USAGE;
            o->have_min = 1;
            break;
        case 'M':
            if (parse_count("--max-runs", optarg, 1, &o->max_runs)) return CLI_USAGE;
            o->have_max = 1;
            break;
        case 'r':
            if (parse_count("--runs", optarg, 1, &o->runs)) return CLI_USAGE;
            o->have_runs = 1;
            break;
        case 's': o->setup = optarg; break;
        case 'c': o->cleanup = optarg; break;
        case 'p':
            if (push_str(&o->prepare, &o->nprepare, optarg)) return CLI_FAIL;
            break;
        case 'C':
            if (push_str(&o->conclude, &o->nconclude, optarg)) return CLI_FAIL;
            break;
        case 'P':
            if (scan) {
                cli_cmd_error(CMD, "--parameter-scan given twice: expected it once (use "
                                   "--parameter-list for more parameters)");
                return CLI_USAGE;
            }
            scan = optarg;
            break;
        case 'D': step = optarg; break;
        case 'L': {
            char *sep = strchr(optarg, '\x1f');
            if (!sep) {
                cli_cmd_error(CMD, "option '--parameter-list' needs NAME VALUES");
                return CLI_USAGE;
            }
            *sep = '\0';
            if (!valid_param_name(optarg)) {
                cli_cmd_error(CMD, "--parameter-list '%s': expected a name without braces or spaces",
                              optarg);
                return CLI_USAGE;
            }
            int rc = list_values(o, optarg, sep + 1);
            if (rc) return rc;
            break;
        }
        case 'S': o->shell = optarg; break;
        case 'N': o->shell = "none"; break;
        case 'n':
            if (push_str(&o->names, &o->nnames, optarg)) return CLI_FAIL;
            break;
        case 'i': o->ignore_failure = 1; break;
        case OPT_INPUT: o->input = optarg; break;
        case OPT_OUTPUT: o->output = optarg; break;
        case OPT_SHOW_OUTPUT: o->output = "inherit"; break;
        case 'u':
            if (hone_parse_enum("--time-unit", optarg, units, &idx, &err)) {
                cli_cmd_error(CMD, "%s", err.msg);
                return CLI_USAGE;
            }
            o->unit = idx == 0 ? UNIT_S : idx == 1 ? UNIT_MS : UNIT_US;
            break;
        case OPT_STYLE:
            if (hone_parse_enum("--style", optarg, styles, &o->style, &err)) {
                cli_cmd_error(CMD, "%s", err.msg);
                return CLI_USAGE;
            }
            break;
        case OPT_EXPORT_JSON: o->export_json = optarg; break;
        case OPT_EXPORT_CSV: o->export_csv = optarg; break;
        case OPT_EXPORT_MD: o->export_md = optarg; break;
        case OPT_EXPORT_ADOC: o->export_adoc = optarg; break;
        case OPT_EXPORT_ORG: o->export_org = optarg; break;
        case OPT_REFERENCE:
            /* hyperfine 1.19 takes a command here, benchmarked first as
             * the reference; a plain number still picks one of ours. */
            if (optarg[0] && strspn(optarg, "0123456789") == strlen(optarg)) {
                if (parse_count("--reference", optarg, 1, &o->reference)) return CLI_USAGE;
            } else {
                o->reference_cmd = optarg;
            }
            break;
        case OPT_INTERLEAVE: o->interleave = 1; break;
        case OPT_NO_INTERLEAVE: o->interleave = 0; break;
        case OPT_BASELINE: o->baseline = optarg; break;
        case 'h': cli_bench_usage(stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (o->reference_cmd && o->reference) {
        cli_cmd_error(CMD, "--reference given twice: expected one command or one number");
        return CLI_USAGE;
    }
    if (optind >= argc && !o->reference_cmd) {
        cli_cmd_error(CMD, "expected at least one command to benchmark (see 'hone bench --help')");
        return CLI_USAGE;
    }
    if (o->have_runs && (o->have_min || o->have_max)) {
        cli_cmd_error(CMD, "--runs=%llu: expected either --runs or --min-runs/--max-runs, not both",
                      (unsigned long long)o->runs);
        return CLI_USAGE;
    }
    if (o->have_min && o->have_max && o->min_runs > o->max_runs) {
        cli_cmd_error(CMD, "--min-runs=%llu: expected at most --max-runs=%llu",
                      (unsigned long long)o->min_runs, (unsigned long long)o->max_runs);
        return CLI_USAGE;
    }
    if (step && !scan) {
        cli_cmd_error(CMD, "--parameter-step-size=%s: expected together with --parameter-scan",
                      step);
        return CLI_USAGE;
    }
    if (scan) {
        char *a = strchr(scan, '\x1f'), *b = a ? strchr(a + 1, '\x1f') : NULL;
        if (!a || !b) {
            cli_cmd_error(CMD, "option '--parameter-scan' needs NAME MIN MAX");
            return CLI_USAGE;
        }
        *a = *b = '\0';
        if (!valid_param_name(scan)) {
            cli_cmd_error(CMD, "--parameter-scan '%s': expected a name without braces or spaces",
                          scan);
            return CLI_USAGE;
        }
        if (o->nlists) {
            cli_cmd_error(CMD, "--parameter-scan: expected either --parameter-scan or "
                               "--parameter-list, not both");
            return CLI_USAGE;
        }
        int rc = scan_values(o, scan, a + 1, b + 1, step);
        if (rc) return rc;
    }

    bench_ctx c;
    memset(&c, 0, sizeof c);
    c.unit = o->unit;
    c.quiet = o->style == STYLE_NONE;
    int want_color = o->style == STYLE_FULL || o->style == STYLE_COLOR ||
                     (o->style == STYLE_AUTO && isatty(1));
    const char *nc = getenv("NO_COLOR");
    c.color = want_color && !(nc && *nc);
    if (o->shell && strcmp(o->shell, "none") != 0) {
        c.shell = 1;
        c.shell_line = strcmp(o->shell, "default") ? o->shell : "/bin/sh";
    }
    c.baseline_file = o->baseline;

    /* Everything that can be wrong with the input is checked before the
     * first run: a typo must not cost minutes of benchmarking. */
    int rc = CLI_OK;
    if (o->baseline) rc = bench_baseline_read(&c, o->baseline);
    const char *exports[5] = {o->export_json, o->export_csv, o->export_md, o->export_adoc,
                              o->export_org};
    const char *xnames[5] = {"--export-json", "--export-csv", "--export-markdown",
                             "--export-asciidoc", "--export-orgmode"};
    for (int i = 0; i < 5 && rc == CLI_OK; i++) {
        if (!exports[i]) continue;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", exports[i]);
        char *slash = strrchr(dir, '/');
        if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
        else snprintf(dir, sizeof dir, ".");
        /* An existing file (or /dev/stdout) needs to be writable itself;
         * a new one needs a writable directory. */
        if (access(exports[i], F_OK) == 0 ? access(exports[i], W_OK) != 0
                                           : access(dir, W_OK) != 0) {
            cli_cmd_error(CMD, "%s=%s: directory '%s' is not writable (%s)", xnames[i], exports[i],
                          dir, strerror(errno));
            rc = CLI_USAGE;
        }
    }
    runner rn;
    memset(&rn, 0, sizeof rn);
    rn.input_fd = rn.pipe_w = -1;
    if (rc == CLI_OK) rc = setup_io(&rn, o);
    rn.ignore_failure = o->ignore_failure;
    char **cmdv = argv + optind;
    size_t ncmdv = (size_t)(argc - optind);
    char **withref = NULL;
    if (rc == CLI_OK && o->reference_cmd) {
        withref = calloc(ncmdv + 1, sizeof *withref);
        if (!withref) rc = CLI_FAIL;
        else {
            withref[0] = (char *)o->reference_cmd;
            memcpy(withref + 1, cmdv, ncmdv * sizeof *cmdv);
            cmdv = withref;
            ncmdv++;
            o->reference = 1;
        }
    }
    if (rc == CLI_OK) rc = build_cmds(&c, o, cmdv, ncmdv);
    free(withref);
    if (rc == CLI_OK && o->reference > c.ncmds) {
        cli_cmd_error(CMD, "--reference=%llu: expected a command number from 1 to %zu",
                      (unsigned long long)o->reference, c.ncmds);
        rc = CLI_USAGE;
    }
    if (rc == CLI_OK) {
        c.reference = o->reference ? (size_t)o->reference - 1 : 0;
        /* --setup prepares state for one command's series (hyperfine's
         * meaning), and --cleanup ends it: runs of another command in
         * between would be measured in the wrong state. Interleaving is
         * correct only when every command has the same ones. */
        const char *why = NULL;
        for (size_t i = 1; i < c.ncmds && !why; i++) {
            if (!exec_same(&c.cmds[0].setup, &c.cmds[i].setup)) why = "--setup";
            else if (!exec_same(&c.cmds[0].cleanup, &c.cmds[i].cleanup)) why = "--cleanup";
        }
        if (why && o->interleave == 1) {
            cli_cmd_error(CMD,
                          "--interleave: the commands have different %s commands, and each "
                          "prepares the state of its own command's runs; drop --interleave",
                          why);
            rc = CLI_USAGE;
        }
        c.interleave = o->interleave == -1 ? c.ncmds > 1 && !why : o->interleave;
        if (rc == CLI_OK && why && o->interleave == -1 && !c.quiet)
            printf("Runs are not interleaved: each command has its own %s, which prepares "
                   "the state of that command's runs alone.\n",
                   why);
        if (rc == CLI_OK && c.shell) rc = measure_shell(&c, &rn);
    }
    if (rc == CLI_OK && c.shell && !c.quiet) {
        char t[32];
        printf("Shell: %s; its spawn time, %s (mean of %zu runs), is subtracted from every run.\n",
               c.shell_line, bench_fmt_time(&c, c.shell_wall, c.shell_wall, t, sizeof t),
               c.shell_n);
    }
    if (rc == CLI_OK) rc = run_all(&c, &rn, o);
    teardown_io(&rn);
    if (rc == CLI_OK) rc = summarize_all(&c);
    last_verdict = rc == CLI_OK && c.ncmds == 2 && c.cmds[1].has_cmp ? (int)c.cmds[1].cmp.verdict : -1;
    if (rc == CLI_OK && o->baseline) rc = bench_baseline_compare(&c, o->baseline);
    bench_baseline_drop(&c);
    if (rc == CLI_OK && !c.quiet) {
        for (size_t i = 0; i < c.ncmds; i++) print_result(&c, i);
        print_summary(&c);
    }
    if (rc == CLI_OK && o->export_json) rc = bench_export_json(&c, o->export_json);
    if (rc == CLI_OK && o->export_csv) rc = bench_export_csv(&c, o->export_csv);
    if (rc == CLI_OK && o->export_md) rc = bench_export_markdown(&c, o->export_md);
    if (rc == CLI_OK && o->export_adoc) rc = bench_export_asciidoc(&c, o->export_adoc);
    if (rc == CLI_OK && o->export_org) rc = bench_export_orgmode(&c, o->export_org);
    for (size_t i = 0; i < c.ncmds; i++) cmd_free(&c.cmds[i]);
    free(c.cmds);
    return rc;
}

int cli_bench_main(int argc, char **argv) {
    char **store = calloc((size_t)argc + 1, sizeof *store);
    size_t nstore = 0;
    int nargc = 0;
    char **nargv = store ? fold_multi(argc, argv, &nargc, store, &nstore) : NULL;
    int rc;
    if (!nargv) {
        rc = store ? CLI_USAGE : CLI_FAIL;
    } else {
        opts o;
        memset(&o, 0, sizeof o);
        o.interleave = -1;
        rc = bench_main(nargc, nargv, &o);
        opts_free(&o);
    }
    for (size_t i = 0; i < nstore; i++) free(store[i]);
    free(store);
    free(nargv);
    fflush(stdout);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Demo step                                                           */
/* ------------------------------------------------------------------ */

int cli_demo_bench(void) {
    /* Two tiny commands, few runs, interleaved: `true` against `sleep
     * 0.002`, a difference the statistics must call significant. */
    char *argv[] = {"bench", "--runs", "20", "--warmup", "2", "--style", "basic",
                    "true", "sleep 0.002", NULL};
    printf("hone bench --runs 20 --warmup 2 true 'sleep 0.002'\n");
    fflush(stdout);
    int rc = cli_bench_main(9, argv);
    if (rc != CLI_OK) {
        fprintf(stderr, "hone bench failed with exit status %d\n", rc);
        return 1;
    }
    if (last_verdict != HONE_BENCH_SLOWER) {
        fprintf(stderr, "expected 'sleep 0.002' to be significantly slower than 'true', got: %s\n",
                last_verdict < 0 ? "no comparison"
                                 : hone_bench_verdict_name((hone_bench_verdict)last_verdict));
        return 1;
    }
    return 0;
}
