/* bench_report.c - what `hone bench` writes and reads besides its terminal
 * report: JSON (hyperfine's schema plus hone's fields), CSV and Markdown
 * exports, and --baseline files. */
#include "cli.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "bench_cli.h"

#define CMD "bench"

const char *bench_unit(const bench_ctx *c, double ref, double *scale) {
    int u = c->unit;
    if (u == UNIT_AUTO) u = ref < 1.0 ? UNIT_MS : UNIT_S;
    if (u == UNIT_S) return *scale = 1, "s";
    if (u == UNIT_US) return *scale = 1e6, "\u00b5s";
    return *scale = 1e3, "ms";
}

const char *bench_fmt_time(const bench_ctx *c, double s, double ref, char *buf, size_t n) {
    double scale;
    const char *unit = bench_unit(c, ref, &scale);
    double v = s * scale;
    snprintf(buf, n, fabs(v) < 10 ? "%.3f %s" : "%.1f %s", v, unit);
    return buf;
}

static json_t *num_array(const double *v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_real(v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *cmp_json(const hone_bench_comparison *k, const char *against) {
    return json_pack("{s:s, s:f, s:[f,f], s:f, s:f, s:f, s:f, s:f, s:b, s:s}", "against", against,
                     "ratio", k->ratio, "ratio_ci95", k->ratio_lo, k->ratio_hi, "welch_t",
                     isfinite(k->welch.t) ? k->welch.t : copysign(1e308, k->welch.t), "welch_df",
                     k->welch.df, "p_value", k->welch.p, "mann_whitney_u", k->mwu.u,
                     "mann_whitney_p", k->mwu.p, "mann_whitney_exact", k->mwu.exact, "verdict",
                     hone_bench_verdict_name(k->verdict));
}

static json_t *result_json(const bench_ctx *c, const bench_cmd *b) {
    const hone_bench_summary *s = &b->sum;
    json_t *r = json_object();
    json_t *mem = json_array(), *codes = json_array();
    if (!r || !mem || !codes) goto fail;
    for (size_t i = 0; i < b->n; i++) {
        if (json_array_append_new(mem, json_integer((json_int_t)b->rss[i])) ||
            json_array_append_new(codes, json_integer(b->code[i])))
            goto fail;
    }
    /* hyperfine's fields first, in hyperfine's order and units (seconds). */
    int bad = json_object_set_new(r, "command", json_string(b->name));
    bad |= json_object_set_new(r, "mean", json_real(s->mean));
    bad |= json_object_set_new(r, "stddev", b->n > 1 ? json_real(s->stddev) : json_null());
    bad |= json_object_set_new(r, "median", json_real(s->median));
    bad |= json_object_set_new(r, "user", json_real(b->user_mean));
    bad |= json_object_set_new(r, "system", json_real(b->sys_mean));
    bad |= json_object_set_new(r, "min", json_real(s->min));
    bad |= json_object_set_new(r, "max", json_real(s->max));
    bad |= json_object_set_new(r, "times", num_array(b->t, b->n));
    bad |= json_object_set_new(r, "memory_usage_byte", mem);
    /* hone's: the peak is only an upper bound (see hone-bench(1)). */
    bad |= json_object_set_new(r, "memory_usage_is_upper_bound", json_boolean(b->peak_rss_bounded));
    mem = NULL;
    bad |= json_object_set_new(r, "exit_codes", codes);
    codes = NULL;
    if (b->nparams) {
        json_t *p = json_object();
        for (size_t i = 0; p && i < b->nparams; i++)
            bad |= json_object_set_new(p, b->params[i].name, json_string(b->params[i].value));
        bad |= json_object_set_new(r, "parameters", p);
    }
    /* hone's additions. */
    bad |= json_object_set_new(r, "command_line", json_string(b->cmdline));
    bad |= json_object_set_new(r, "user_times", num_array(b->user, b->n));
    bad |= json_object_set_new(r, "system_times", num_array(b->sys, b->n));
    bad |= json_object_set_new(
        r, "statistics",
        json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:{s:I, s:I, s:f}}", "mad", s->mad, "p5", s->p5,
                  "p25", s->p25, "p75", s->p75, "p95", s->p95, "p99", s->p99, "outliers", "slow",
                  (json_int_t)s->outliers_high, "fast", (json_int_t)s->outliers_low, "threshold_mads",
                  HONE_BENCH_OUTLIER_K));
    if (b->has_cmp)
        bad |= json_object_set_new(r, "comparison",
                                   cmp_json(&b->cmp, c->cmds[c->reference].name));
    if (b->has_base) {
        json_t *k = cmp_json(&b->base_cmp, "baseline");
        if (k) bad |= json_object_set_new(k, "baseline_mean", json_real(b->base_mean));
        bad |= json_object_set_new(r, "baseline_comparison", k);
    }
    if (bad) goto fail;
    return r;
fail:
    json_decref(r);
    json_decref(mem);
    json_decref(codes);
    return NULL;
}

static FILE *open_out(const char *path, const char *opt) {
    FILE *f = fopen(path, "w");
    if (!f)
        cli_cmd_error(CMD, "%s=%s: %s (expected a writable file path)", opt, path, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *path, const char *opt) {
    if (ferror(f) | fclose(f)) {
        cli_cmd_error(CMD, "%s=%s: write failed", opt, path);
        return CLI_FAIL;
    }
    return CLI_OK;
}

int bench_export_json(const bench_ctx *c, const char *path) {
    json_t *results = json_array();
    int bad = !results;
    for (size_t i = 0; !bad && i < c->ncmds; i++)
        bad = json_array_append_new(results, result_json(c, &c->cmds[i])) != 0;
    json_t *root = bad ? NULL
                       : json_pack("{s:o, s:{s:s, s:s?, s:f, s:b, s:i}}", "results", results,
                                   "hone", "version", hone_version_string(), "shell",
                                   c->shell ? c->shell_line : NULL, "shell_spawn_time",
                                   c->shell_wall, "interleaved", c->interleave, "reference",
                                   (int)c->reference + 1);
    if (!root) {
        if (bad) json_decref(results);
        cli_cmd_error(CMD, "--export-json: out of memory");
        return CLI_FAIL;
    }
    FILE *f = open_out(path, "--export-json");
    if (!f) {
        json_decref(root);
        return CLI_FAIL;
    }
    int w = json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    fputc('\n', f);
    json_decref(root);
    if (w) {
        fclose(f);
        cli_cmd_error(CMD, "--export-json=%s: write failed", path);
        return CLI_FAIL;
    }
    return close_out(f, path, "--export-json");
}

/* A CSV field, quoted when it holds a separator, quote or newline. */
static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int bench_export_csv(const bench_ctx *c, const char *path) {
    FILE *f = open_out(path, "--export-csv");
    if (!f) return CLI_FAIL;
    fputs("command,mean,stddev,median,user,system,min,max", f);
    const bench_cmd *b0 = &c->cmds[0];
    for (size_t i = 0; i < b0->nparams; i++) fprintf(f, ",parameter_%s", b0->params[i].name);
    fputc('\n', f);
    for (size_t i = 0; i < c->ncmds; i++) {
        const bench_cmd *b = &c->cmds[i];
        csv_field(f, b->name);
        fprintf(f, ",%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g", b->sum.mean, b->sum.stddev,
                b->sum.median, b->user_mean, b->sys_mean, b->sum.min, b->sum.max);
        for (size_t k = 0; k < b->nparams; k++) {
            fputc(',', f);
            csv_field(f, b->params[k].value);
        }
        fputc('\n', f);
    }
    return close_out(f, path, "--export-csv");
}

/* The summary table in three markups, as hyperfine writes them: Markdown,
 * AsciiDoc and Org mode. One unit for the whole table, chosen from the
 * fastest command, and "Relative" against the fastest. */
typedef enum { TABLE_MARKDOWN, TABLE_ASCIIDOC, TABLE_ORGMODE } table_style;

/* A command name as a code span of the markup; '|' would end a cell. */
static void table_name(FILE *f, table_style st, const char *name) {
    const char *open = st == TABLE_ORGMODE ? "=" : "`";
    fputs(open, f);
    for (const char *p = name; *p; p++) {
        if (*p == '|') fputs(st == TABLE_ORGMODE ? "\\vert{}" : "\\|", f);
        else fputc(*p, f);
    }
    fputs(open, f);
}

static int export_table(const bench_ctx *c, const char *path, const char *flag, table_style st) {
    FILE *f = open_out(path, flag);
    if (!f) return CLI_FAIL;
    size_t fast = 0;
    for (size_t i = 1; i < c->ncmds; i++)
        if (c->cmds[i].sum.mean < c->cmds[fast].sum.mean) fast = i;
    const hone_bench_summary *fs = &c->cmds[fast].sum;
    double scale;
    const char *u = bench_unit(c, fs->mean, &scale);
    /* Cells are written in order; each markup says how a row starts, how
     * cells are separated and how a row ends. */
    const char *row_open = "| ", *sep = " | ", *row_close = " |\n";
    if (st == TABLE_ASCIIDOC) {
        fputs("[cols=\"<,>,>,>,>\"]\n|===\n", f);
        sep = "\n| ";
        row_close = "\n\n";
    }
    fprintf(f, "%sCommand%sMean [%s]%sMin [%s]%sMax [%s]%sRelative%s", row_open, sep, u, sep, u,
            sep, u, sep, row_close);
    if (st == TABLE_MARKDOWN) fputs("|:---|---:|---:|---:|---:|\n", f);
    if (st == TABLE_ORGMODE) fputs("|--+--+--+--+--|\n", f);
    for (size_t i = 0; i < c->ncmds; i++) {
        const hone_bench_summary *s = &c->cmds[i].sum;
        fputs(row_open, f);
        table_name(f, st, c->cmds[i].name);
        fprintf(f, "%s%.3f \u00b1 %.3f%s%.3f%s%.3f%s", sep, s->mean * scale, s->stddev * scale, sep,
                s->min * scale, sep, s->max * scale, sep);
        double rel = fs->mean > 0 ? s->mean / fs->mean : NAN;
        if (i == fast) {
            fputs("1.00", f);
        } else {
            double e = 0;
            if (s->mean > 0 && fs->mean > 0)
                e = rel * sqrt(pow(s->stddev / s->mean, 2) + pow(fs->stddev / fs->mean, 2));
            fprintf(f, "%.2f \u00b1 %.2f", rel, e);
        }
        fputs(row_close, f);
    }
    if (st == TABLE_ASCIIDOC) fputs("|===\n", f);
    return close_out(f, path, flag);
}

int bench_export_markdown(const bench_ctx *c, const char *path) {
    return export_table(c, path, "--export-markdown", TABLE_MARKDOWN);
}

int bench_export_asciidoc(const bench_ctx *c, const char *path) {
    return export_table(c, path, "--export-asciidoc", TABLE_ASCIIDOC);
}

int bench_export_orgmode(const bench_ctx *c, const char *path) {
    return export_table(c, path, "--export-orgmode", TABLE_ORGMODE);
}

int bench_baseline_read(bench_ctx *c, const char *path) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        cli_cmd_error(CMD, "--baseline=%s: %s (line %d; expected a JSON export of hone bench or "
                           "hyperfine)", path, je.text, je.line);
        return CLI_USAGE;
    }
    if (!json_is_array(json_object_get(root, "results"))) {
        json_decref(root);
        cli_cmd_error(CMD, "--baseline=%s: no \"results\" array (expected a JSON export of hone "
                           "bench or hyperfine)", path);
        return CLI_USAGE;
    }
    c->baseline = root;
    return CLI_OK;
}

int bench_baseline_compare(bench_ctx *c, const char *path) {
    json_t *root = c->baseline;
    c->baseline = NULL;
    json_t *results = json_object_get(root, "results");
    int rc = CLI_OK, matched = 0;
    for (size_t i = 0; i < c->ncmds && rc == CLI_OK; i++) {
        bench_cmd *b = &c->cmds[i];
        size_t k;
        json_t *r;
        json_array_foreach(results, k, r) {
            const char *name = json_string_value(json_object_get(r, "command"));
            if (!name || strcmp(name, b->name) != 0) continue;
            json_t *times = json_object_get(r, "times");
            size_t n = json_array_size(times);
            double *t = n ? malloc(n * sizeof *t) : NULL;
            if (n && !t) {
                rc = CLI_FAIL;
                break;
            }
            int ok = n >= 2;
            for (size_t j = 0; ok && j < n; j++) {
                json_t *v = json_array_get(times, j);
                ok = json_is_number(v);
                if (ok) t[j] = json_number_value(v);
            }
            if (!ok) {
                cli_cmd_error(CMD, "--baseline=%s: command '%s' has no usable \"times\" (expected "
                                   "an array of at least 2 numbers)", path, name);
                free(t);
                rc = CLI_USAGE;
                break;
            }
            if (hone_bench_compare(t, n, b->t, b->n, &b->base_cmp, NULL) == HONE_OK) {
                b->has_base = 1;
                b->base_mean = 0;
                for (size_t j = 0; j < n; j++) b->base_mean += t[j];
                b->base_mean /= (double)n;
                matched++;
            }
            free(t);
            break;
        }
    }
    json_decref(root);
    if (rc == CLI_OK && !matched)
        fprintf(stderr, "hone bench: warning: --baseline=%s has no command named like one of "
                        "this run's, nothing compared\n", path);
    return rc;
}

void bench_baseline_drop(bench_ctx *c) {
    json_decref(c->baseline);
    c->baseline = NULL;
}
