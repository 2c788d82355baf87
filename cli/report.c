/* report.c - `hone report`: prints a profile snapshot (HONE_PROFILE_OUT)
 * or a cycle-metrics history file as text, Markdown, JSON, CSV or
 * Prometheus text, and a profile also as its zone tree, folded stacks or a
 * Chrome trace; also the `profile` step of `hone demo`. */
#include "cli.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { OPT_FORMAT = CLI_LONG, OPT_TOP, OPT_MIN_CALLS, OPT_SORT, OPT_RECENT, OPT_WIDE };

static const cli_opt report_opts[] = {
    {OPT_FORMAT, "format", "F",
     "text (default), md, json, csv, prom; for profiles also tree, folded (flame graphs) or chrome "
     "(a trace, HONE_PROFILE=trace)",
     "text md json csv prom tree folded chrome"},
    {OPT_TOP, "top", "N", "only the N first zones after sorting (profiles)", NULL},
    {OPT_MIN_CALLS, "min-calls", "N", "leave out zones with fewer than N calls (profiles)", NULL},
    {OPT_SORT, "sort", "KEY", "total (default), self, mean, count, max, p99 or name",
     "total self mean count max p99 name"},
    {OPT_RECENT, "recent", "N", "also list the N most recent cycles (histories, text/md)", NULL},
    {OPT_WIDE, "wide", NULL,
     "every column; by default columns that repeat another are left out and a text table fits 100 "
     "columns",
     NULL},
    {'h', "help", NULL, "show this help", NULL},
    {0, NULL, NULL, NULL, NULL}};

const cli_spec cli_spec_report = {
    "report",
    "usage: hone report FILE [--format text|md|json|csv|prom|tree|folded|chrome]\n"
    "                        [--top N] [--min-calls N] [--sort KEY] [--recent N] [--wide]\n"
    "\n"
    "Prints a profile snapshot (the file HONE_PROFILE_OUT writes at exit) or a\n"
    "cycle-metrics history (written by hone_cycle_save) in the chosen format.\n",
    "Exit status: 0 printed, 1 the file could not be read, 2 bad option or a file\n"
    "that is not a hone profile or history.\n",
    report_opts};

void cli_report_usage(FILE *out) { cli_help(&cli_spec_report, out); }



/* The "format" member of a JSON document, or NULL; fills err on a JSON
 * syntax error. *n_cycles gets the room a history needs. */
static char *peek_format(const char *text, size_t len, size_t *n_cycles, char *err, size_t errn) {
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, 0, &jerr);
    if (!doc) {
        snprintf(err, errn, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    const char *f = json_string_value(json_object_get(doc, "format"));
    /* A history is shown with the room it was saved with (its
     * "capacity"), or at least room for every cycle in it. */
    *n_cycles = json_array_size(json_object_get(doc, "cycles"));
    json_int_t cap = json_integer_value(json_object_get(doc, "capacity"));
    if (cap > 0 && (uint64_t)cap > *n_cycles && cap <= 1000000) *n_cycles = (size_t)cap;
    char *out = strdup(f ? f : "");
    json_decref(doc);
    if (!out) snprintf(err, errn, "out of memory");
    return out;
}

/* Prints a rendered report (and frees it), or says why rendering failed. */
static int print_report(const char *path, int rc, hone_buf *b) {
    if (rc == HONE_OK) fwrite(b->data, 1, b->len, stdout);
    hone_buf_free(b);
    if (rc == HONE_OK) return CLI_OK;
    cli_cmd_error("report", "%s: %s", path, hone_strerror(rc));
    return CLI_FAIL;
}

static int report_profile(const char *path, const char *text, size_t len, int fmt,
                          const hone_prof_report_opts *ro) {
    hone_prof_snapshot *s;
    hone_error err;
    if (hone_prof_snapshot_parse(&s, text, len, NULL, &err)) {
        cli_cmd_error("report", "%s: %s", path, err.msg);
        return CLI_USAGE;
    }
    hone_buf b;
    hone_buf_init(&b, NULL);
    hone_prof_report_opts o = *ro;
    o.format = (hone_report_format)fmt;
    int rc = hone_prof_report(s, &o, &b);
    uint64_t lost = hone_prof_snapshot_trace_dropped(s);
    int traced = hone_prof_snapshot_traced(s);
    hone_prof_snapshot_free(s);
    if (rc == HONE_ENOTFOUND) {
        hone_buf_free(&b);
        if (fmt == HONE_REPORT_CHROME)
            cli_cmd_error("report", "%s has no trace: record one with HONE_PROFILE=trace", path);
        else
            cli_cmd_error("report", "%s has no zone tree (written by an older hone): use --format text", path);
        return CLI_USAGE;
    }
    /* Events lost to full rings are said where a person sees it, not
     * inside the output a tool reads. */
    if (rc == HONE_OK && traced && lost && fmt == HONE_REPORT_CHROME)
        fprintf(stderr, "hone report: %llu trace event(s) dropped (the oldest; a ring per thread holds a "
                        "bounded number)\n", (unsigned long long)lost);
    return print_report(path, rc, &b);
}

static int report_cycles(const char *path, const char *text, size_t len, size_t n, int fmt, size_t recent) {
    hone_cycle_collector *c;
    hone_error err;
    /* Room for every cycle in the file (and the capacity it was saved
     * with): the report shows what was saved. */
    if (hone_cycle_collector_new(&c, &(hone_cycle_opts){.history = n ? n : 1})) {
        cli_cmd_error("report", "out of memory");
        return CLI_FAIL;
    }
    if (hone_cycle_parse(c, text, len, &err)) {
        hone_cycle_collector_free(c);
        cli_cmd_error("report", "%s: %s", path, err.msg);
        return CLI_USAGE;
    }
    hone_buf b;
    hone_buf_init(&b, NULL);
    hone_cycle_report_opts o = {(hone_report_format)fmt, recent};
    int rc = hone_cycle_report(c, &o, &b);
    hone_cycle_collector_free(c);
    return print_report(path, rc, &b);
}

int cli_report_main(int argc, char **argv) {
    int c, fmt = 0, sort = 0, wide = 0;
    uint64_t top = 0, min_calls = 0, recent = 0;
    hone_error err;
    optind = 0;
    while ((c = cli_next(&cli_spec_report, argc, argv)) != -1) {
        int rc = HONE_OK;
        switch (c) {
        case OPT_FORMAT: rc = hone_parse_enum("--format", optarg, hone_report_format_names(), &fmt, &err); break;
        case OPT_TOP: rc = hone_parse_u64("--top", optarg, 1, 1000000000, &top, &err); break;
        case OPT_MIN_CALLS: rc = hone_parse_u64("--min-calls", optarg, 0, UINT64_MAX, &min_calls, &err); break;
        case OPT_SORT: rc = hone_parse_enum("--sort", optarg, hone_prof_sort_names(), &sort, &err); break;
        case OPT_RECENT: rc = hone_parse_u64("--recent", optarg, 0, 1000000, &recent, &err); break;
        case OPT_WIDE: wide = 1; break;
        case 'h': cli_report_usage(stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
        if (rc) {
            cli_cmd_error("report", "%s", err.msg);
            return CLI_USAGE;
        }
    }
    if (optind >= argc) {
        cli_cmd_error("report", "missing FILE (a profile snapshot or a metrics history)");
        return CLI_USAGE;
    }
    if (optind + 1 < argc) {
        cli_cmd_error("report", "unexpected argument '%s' (it takes one FILE)", argv[optind + 1]);
        return CLI_USAGE;
    }
    const char *path = argv[optind];
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        cli_cmd_error("report", "%s is a directory: expected a profile snapshot or a metrics "
                                "history file", path);
        return CLI_USAGE;
    }
    size_t len = 0;
    char *text = cli_slurp(path, &len);
    if (!text) {
        cli_cmd_error("report", "cannot read %s: %s", path, strerror(errno));
        return CLI_FAIL;
    }
    char perr[256];
    size_t n_cycles = 0;
    char *kind = peek_format(text, len, &n_cycles, perr, sizeof perr);
    int rc;
    if (!kind) {
        cli_cmd_error("report", "%s is not JSON: %s", path, perr);
        rc = CLI_USAGE;
    } else if (!strcmp(kind, "hone-profile")) {
        hone_prof_report_opts ro = {.sort = (hone_prof_sort)sort, .top_n = (size_t)top,
                                    .min_calls = min_calls, .wide = wide};
        rc = report_profile(path, text, len, fmt, &ro);
    } else if (!strcmp(kind, "hone-cycles") && fmt > HONE_REPORT_PROM) {
        cli_cmd_error("report", "--format %s: expected text, md, json, csv or prom for a metrics history "
                                "(%s is a history)", hone_report_format_names()[fmt], path);
        rc = CLI_USAGE;
    } else if (!strcmp(kind, "hone-cycles")) {
        rc = report_cycles(path, text, len, n_cycles, fmt, (size_t)recent);
    } else {
        cli_cmd_error("report", "%s is not a hone profile or metrics history (\"format\" is %s%s%s)", path,
                      *kind ? "\"" : "", *kind ? kind : "missing", *kind ? "\"" : "");
        rc = CLI_USAGE;
    }
    free(kind);
    free(text);
    return rc;
}

/* The last demo step: the profile of every step so far. */
int cli_demo_profile(void) {
    hone_prof_snapshot *s;
    int rc = hone_prof_snapshot_take(&s, NULL);
    if (rc) {
        fprintf(stderr, "profile: cannot take a snapshot: %s\n", hone_strerror(rc));
        return 1;
    }
    hone_buf b;
    hone_buf_init(&b, NULL);
    hone_prof_report_opts o = {.format = HONE_REPORT_TEXT, .sort = HONE_PROF_SORT_TOTAL};
    rc = hone_prof_report(s, &o, &b);
    size_t n = hone_prof_snapshot_count(s);
    hone_prof_snapshot_free(s);
    if (rc) {
        hone_buf_free(&b);
        fprintf(stderr, "profile: cannot format the report: %s\n", hone_strerror(rc));
        return 1;
    }
    fwrite(b.data, 1, b.len, stdout);
    hone_buf_clear(&b);
    if (!n) {
        hone_buf_free(&b);
        fprintf(stderr, "profile: no zone recorded (profiling is off?)\n");
        return 1;
    }
    /* The steps as work cycles (hone demo records one per step). */
    if (hone_cycle_count(hone_cycle_default())) {
        hone_cycle_report_opts co = {HONE_REPORT_TEXT, 0};
        if ((rc = hone_cycle_report(hone_cycle_default(), &co, &b))) {
            hone_buf_free(&b);
            fprintf(stderr, "profile: cannot format the cycle report: %s\n", hone_strerror(rc));
            return 1;
        }
        printf("\n%s", b.data);
    }
    hone_buf_free(&b);
    hone_process_stats ps;
    if ((rc = hone_process_stats_read(&ps))) {
        fprintf(stderr, "profile: cannot read process metrics: %s\n", hone_strerror(rc));
        return 1;
    }
    printf("\nprocess: rss %.1f MiB (peak %.1f MiB, %.2f%% of memory), cpu %.0f ms user + %.0f ms system, "
           "%u thread(s), %u open fd(s), %llu+%llu context switches\n",
           (double)ps.rss_bytes / 1048576.0, (double)ps.peak_rss_bytes / 1048576.0, ps.mem_percent,
           (double)ps.cpu_user_ns / 1e6, (double)ps.cpu_system_ns / 1e6, ps.threads, ps.open_fds,
           (unsigned long long)ps.ctx_voluntary, (unsigned long long)ps.ctx_involuntary);
    return 0;
}
