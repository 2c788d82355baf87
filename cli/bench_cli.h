/* bench_cli.h - what the files of `hone bench` share: one benchmarked
 * command with its measurements, the run's settings, and the report and
 * export functions of bench_report.c. */
#ifndef HONE_BENCH_CLI_H
#define HONE_BENCH_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hone.h"

typedef struct bench_param {
    char *name;
    char *value;
} bench_param;

/* How to start one command line: resolved once, before any run. */
typedef struct bench_exec {
    char **argv;
    char *path;
} bench_exec;

typedef struct bench_cmd {
    char *cmdline; /* after parameter substitution */
    char *name;    /* --command-name (substituted), or cmdline */
    bench_param *params;
    size_t nparams;
    bench_exec run, prepare, conclude, setup, cleanup; /* argv NULL when unused */
    /* Per timed run, in seconds (shell spawn time already subtracted). */
    double *t, *user, *sys;
    uint64_t *rss;
    /* The largest of rss, and whether it is only an upper bound (every run
     * that reported it was charged this process's own peak; see
     * hone_bench_run.max_rss_bounded). */
    uint64_t peak_rss;
    int peak_rss_bounded;
    int *code;
    size_t n, cap;
    size_t target; /* timed runs planned */
    hone_bench_summary sum;
    double user_mean, sys_mean;
    int has_cmp; /* cmp is valid: compared with the reference */
    hone_bench_comparison cmp;
    int has_base; /* base_cmp is valid: compared with --baseline */
    hone_bench_comparison base_cmp;
    double base_mean;
} bench_cmd;

enum { UNIT_AUTO, UNIT_S, UNIT_MS, UNIT_US };

typedef struct bench_ctx {
    bench_cmd *cmds;
    size_t ncmds;
    size_t reference; /* 0-based index of the reference command */
    int unit;
    int color;
    int quiet; /* --style none */
    int shell; /* commands run through a shell */
    const char *shell_line;
    double shell_wall, shell_user, shell_sys; /* subtracted per run, seconds */
    size_t shell_n;
    int interleave;
    const char *baseline_file;
    void *baseline; /* the parsed --baseline file (json_t *) until compared */
} bench_ctx;

/* bench_report.c */
/* Writes the hyperfine-compatible JSON export (plus hone's fields) to
 * path; returns 0 or prints one error line and returns 1. */
int bench_export_json(const bench_ctx *c, const char *path);
int bench_export_csv(const bench_ctx *c, const char *path);
int bench_export_markdown(const bench_ctx *c, const char *path);
int bench_export_asciidoc(const bench_ctx *c, const char *path);
int bench_export_orgmode(const bench_ctx *c, const char *path);
/* Reads a JSON export (hyperfine's or hone's) into c->baseline, before any
 * run, so that a bad file costs no benchmark time. Returns 0, or 2 after
 * printing why the file cannot be used. */
int bench_baseline_read(bench_ctx *c, const char *path);
/* Compares each command found by name in c->baseline with this run and
 * releases the file. Returns 0, or 2 for a command without usable times. */
int bench_baseline_compare(bench_ctx *c, const char *path);
/* Releases c->baseline if it was not compared (the run failed). */
void bench_baseline_drop(bench_ctx *c);
/* Formats seconds in the chosen unit ("12.3 ms"); returns buf. */
const char *bench_fmt_time(const bench_ctx *c, double s, double ref, char *buf, size_t n);
/* The unit used for values around `ref` seconds, and its scale. */
const char *bench_unit(const bench_ctx *c, double ref, double *scale);

#endif
