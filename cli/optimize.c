/* optimize.c - `hone optimize`: what every setting is and where it comes
 * from, the choices that persist in the config file (level, cache
 * strategy, preset, any setting), what each bundle sets, a report over a
 * window of a running hone server (or a saved one), the recommendations
 * and alerts over it, the continuous mode's journal and its undo, and
 * removing hone's cache files. Everything here is opt.h plus printing. */
#include "cli.h"

#include "hone/opt.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    OPT_JSON = CLI_LONG,
    OPT_COMPONENT,
    OPT_URL,
    OPT_WINDOW,
    OPT_FROM,
    OPT_ALL,
    OPT_DIR
};

#define JSON_OPT {OPT_JSON, "json", NULL, "print one JSON object", NULL}
#define HELP_OPT {'h', "help", NULL, "show this help", NULL}
#define END_OPT {0, NULL, NULL, NULL, NULL}
#define SOURCE_OPTS                                                                              \
    {OPT_URL, "url", "URL",                                                                      \
     "measure a running hone server (hone serve, or a program started with HONE_SERVE) at URL", \
     NULL},                                                                                      \
        {OPT_WINDOW, "window", "DUR", "with --url: the window sampled (default 5s)", NULL},      \
        {OPT_FROM, "from", "FILE", "read a saved report (hone optimize report --json)", "@file"}

static const cli_opt status_opts[] = {
    {OPT_COMPONENT, "component", "NAME", "the values a component gets (its own rules first)", NULL},
    JSON_OPT, HELP_OPT, END_OPT};
static const cli_opt choose_opts[] = {JSON_OPT, HELP_OPT, END_OPT};
static const cli_opt set_opts[] = {
    {OPT_COMPONENT, "component", "NAME", "in the [component.NAME] section: a rule for one component", NULL},
    JSON_OPT, HELP_OPT, END_OPT};
static const cli_opt show_opts[] = {JSON_OPT, HELP_OPT, END_OPT};
static const cli_opt report_opts[] = {SOURCE_OPTS, JSON_OPT, HELP_OPT, END_OPT};
static const cli_opt recommend_opts[] = {
    SOURCE_OPTS,
    {OPT_ALL, "all", NULL, "also the rules that found nothing and those without enough data", NULL},
    JSON_OPT, HELP_OPT, END_OPT};
static const cli_opt alerts_opts[] = {SOURCE_OPTS, JSON_OPT, HELP_OPT, END_OPT};
static const cli_opt journal_opts[] = {JSON_OPT, HELP_OPT, END_OPT};
static const cli_opt clear_opts[] = {
    {OPT_DIR, "dir", "DIR", "the cache directory; default $HONE_CACHE_DIR, else ~/.cache/hone", "@dir"},
    JSON_OPT, HELP_OPT, END_OPT};

const cli_spec cli_spec_optimize_status = {
    "optimize status",
    "usage: hone optimize status [--component NAME] [--json]\n"
    "\n"
    "Prints every setting's effective value, its origin (default, level,\n"
    "strategy, preset, auto, file, env, api) and where it was set, the config\n"
    "file's path and its load error if any.\n",
    NULL, status_opts};
const cli_spec cli_spec_optimize_level = {
    "optimize level",
    "usage: hone optimize level basic|moderate|aggressive [--json]\n"
    "\n"
    "Writes `level = L` into the config file (atomically, keeping its other\n"
    "lines and comments) and prints what changed and what the level sets.\n",
    NULL, choose_opts};
const cli_spec cli_spec_optimize_cache = {
    "optimize cache",
    "usage: hone optimize cache memory|disk|hybrid [--json]\n"
    "\n"
    "Writes the cache strategy ([cache] strategy) into the config file and\n"
    "prints what changed and what the strategy sets.\n",
    NULL, choose_opts};
const cli_spec cli_spec_optimize_preset = {
    "optimize preset",
    "usage: hone optimize preset none|large-repo|realtime|batch|api-heavy [--json]\n"
    "\n"
    "Writes `preset = P` into the config file and prints what changed and what\n"
    "the preset sets.\n",
    NULL, choose_opts};
const cli_spec cli_spec_optimize_set = {
    "optimize set",
    "usage: hone optimize set NAME VALUE [--component NAME] [--json]\n"
    "\n"
    "Writes one setting (by name, cache.ttl, or variable, HONE_CACHE_TTL) into\n"
    "the config file, after checking its value, and prints what changed.\n",
    NULL, set_opts};
const cli_spec cli_spec_optimize_unset = {
    "optimize unset",
    "usage: hone optimize unset NAME [--component NAME] [--json]\n"
    "\n"
    "Removes a setting's line from the config file and prints what changed.\n",
    NULL, set_opts};
const cli_spec cli_spec_optimize_levels = {
    "optimize levels",
    "usage: hone optimize levels [LEVEL] [--json]\n"
    "\n"
    "Prints what each level (or LEVEL) sets: every setting's value.\n",
    NULL, show_opts};
const cli_spec cli_spec_optimize_strategies = {
    "optimize strategies",
    "usage: hone optimize strategies [STRATEGY] [--json]\n"
    "\n"
    "Prints what each cache strategy (or STRATEGY) sets.\n",
    NULL, show_opts};
const cli_spec cli_spec_optimize_presets = {
    "optimize presets",
    "usage: hone optimize presets [PRESET] [--json]\n"
    "\n"
    "Prints what each scenario preset (or PRESET) sets.\n",
    NULL, show_opts};
const cli_spec cli_spec_optimize_report = {
    "optimize report",
    "usage: hone optimize report --url URL [--window DUR] [--json]\n"
    "       hone optimize report --from FILE [--json]\n"
    "\n"
    "Prints what the components did over a window: per zone mean and\n"
    "percentile times, cache hit rates and fill, batchers, HTTP clients, CPU\n"
    "and memory; --json writes the report that --from reads back.\n",
    NULL, report_opts};
const cli_spec cli_spec_optimize_recommendations = {
    "optimize recommendations",
    "usage: hone optimize recommendations (--url URL [--window DUR] | --from FILE)\n"
    "                                     [--all] [--json]\n"
    "\n"
    "Runs every rule over the report and prints the findings: evidence with\n"
    "its counts and window, expected effect, confidence, severity and action.\n",
    NULL, recommend_opts};
const cli_spec cli_spec_optimize_alerts = {
    "optimize alerts",
    "usage: hone optimize alerts (--url URL [--window DUR] | --from FILE) [--json]\n"
    "\n"
    "Evaluates the alert rules of the config file's [alert.NAME] sections on\n"
    "the report and prints each rule's state. Exit status 1 when one fires.\n",
    NULL, alerts_opts};
const cli_spec cli_spec_optimize_history = {
    "optimize history",
    "usage: hone optimize history [--json]\n"
    "\n"
    "Prints the continuous mode's journal: each change with its before and\n"
    "after values, evidence and outcome.\n",
    NULL, journal_opts};
const cli_spec cli_spec_optimize_undo = {
    "optimize undo",
    "usage: hone optimize undo [--json]\n"
    "\n"
    "Undoes the last kept change of the journal (appending an \"undone\" line).\n",
    NULL, journal_opts};
const cli_spec cli_spec_optimize_clear_cache = {
    "optimize clear-cache",
    "usage: hone optimize clear-cache [--dir DIR] [--json]\n"
    "\n"
    "Removes the cache files hone makes in the cache directory (cache.mdb,\n"
    "run.mdb, run-files.mdb, manifest-index.mdb and their lock files), each\n"
    "only after opening it as hone's; any other file is left alone.\n",
    NULL, clear_opts};

void cli_optimize_usage(FILE *out) {
    fputs("usage: hone optimize status [--component NAME] [--json]\n"
          "       hone optimize level basic|moderate|aggressive\n"
          "       hone optimize cache memory|disk|hybrid\n"
          "       hone optimize preset none|large-repo|realtime|batch|api-heavy\n"
          "       hone optimize set NAME VALUE | unset NAME [--component NAME]\n"
          "       hone optimize levels|strategies|presets [CHOICE]\n"
          "       hone optimize report|recommendations|alerts (--url URL | --from FILE)\n"
          "       hone optimize history|undo\n"
          "       hone optimize clear-cache [--dir DIR]\n"
          "\n"
          "Shows every setting with its origin, persists choices in the config file\n"
          "(HONE_CONFIG, else $XDG_CONFIG_HOME/hone/hone.ini), prints what levels,\n"
          "strategies and presets set, reports on a running hone server, recommends\n"
          "changes with their evidence, evaluates alerts, shows and undoes the\n"
          "continuous mode's journal, and removes hone's cache files. Every action\n"
          "takes --json. See 'hone optimize ACTION --help' and hone-optimize(1).\n",
          out);
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

#define CMD "optimize"

static int emit_json(json_t *j) {
    if (!j) {
        cli_cmd_error(CMD, "out of memory");
        return CLI_FAIL;
    }
    int rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (rc || putchar('\n') == EOF) {
        cli_cmd_error(CMD, "could not write JSON");
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* The JSON the library appended to b, parsed (NULL: not JSON, said). */
static json_t *json_of(const hone_buf *b, const char *what) {
    json_error_t je;
    json_t *j = json_loadb(b->data ? b->data : "", b->len, JSON_DECODE_ANY, &je);
    if (!j) cli_cmd_error(CMD, "%s: the library wrote JSON that does not parse: %s", what, je.text);
    return j;
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static void put_text(const hone_buf *b) {
    if (b->len) {
        fwrite(b->data, 1, b->len, stdout);
        if (b->data[b->len - 1] != '\n') putchar('\n');
    }
}

/* Exit status of a library error: bad input is usage, the rest failure. */
static int status_of(int rc) {
    switch (rc) {
    case HONE_EINVAL:
    case HONE_ERANGE:
    case HONE_EPARSE:
    case HONE_ECORRUPT: return CLI_USAGE;
    default: return CLI_FAIL;
    }
}

/* Parses an action's options into *json (and the ids it returns for the
 * caller to handle through fn); returns -1 to go on, else an exit status. */
typedef struct args {
    int json, all;
    const char *component, *url, *window, *from, *dir;
} args;

static int parse(const cli_spec *s, int argc, char **argv, args *a) {
    int c;
    optind = 0;
    while ((c = cli_next(s, argc, argv)) != -1) {
        switch (c) {
        case OPT_JSON: a->json = 1; break;
        case OPT_ALL: a->all = 1; break;
        case OPT_COMPONENT: a->component = optarg; break;
        case OPT_URL: a->url = optarg; break;
        case OPT_WINDOW: a->window = optarg; break;
        case OPT_FROM: a->from = optarg; break;
        case OPT_DIR: a->dir = optarg; break;
        case 'h': cli_help(s, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    return -1;
}

/* Checks the operand count: between lo and hi operands after the options. */
static int operands(const cli_spec *s, int argc, char **argv, int lo, int hi, const char *want) {
    int n = argc - optind;
    if (n < lo) {
        cli_cmd_error(CMD, "%s: expected %s (see 'hone %s --help')", s->cmd + sizeof CMD, want,
                      s->cmd);
        return CLI_USAGE;
    }
    if (n > hi) {
        cli_cmd_error(CMD, "%s: unexpected argument '%s'; expected %s", s->cmd + sizeof CMD,
                      argv[optind + hi], want);
        return CLI_USAGE;
    }
    return -1;
}

static json_t *state_json(const hone_setting_state *st) {
    return json_pack("{s:s, s:s, s:s}", "value", st->value.text, "origin",
                     hone_origin_name(st->origin), "where", st->where);
}

/* ------------------------------------------------------------------ */
/* status                                                              */
/* ------------------------------------------------------------------ */

static int act_status(int argc, char **argv) {
    args a = {0};
    int rc = parse(&cli_spec_optimize_status, argc, argv, &a);
    if (rc >= 0) return rc;
    if ((rc = operands(&cli_spec_optimize_status, argc, argv, 0, 0, "no operand")) >= 0) return rc;
    hone_error err = {0};
    hone_buf b;
    hone_buf_init(&b, NULL);
    if (!a.component) {
        if ((rc = hone_opt_status(&b, a.json, &err))) {
            cli_cmd_error(CMD, "status: %s", err.msg);
            hone_buf_free(&b);
            return CLI_FAIL;
        }
        int out = CLI_OK;
        if (a.json) {
            json_t *j = json_of(&b, "status");
            out = j ? emit_json(j) : CLI_FAIL;
        } else {
            put_text(&b);
        }
        hone_buf_free(&b);
        return out;
    }
    /* One component: the settings it can have a rule for, as it gets them. */
    json_t *arr = a.json ? json_array() : NULL;
    if (!a.json) printf("component %s\n", a.component);
    for (int id = 0; id < HONE_SETTING_COUNT; id++) {
        const hone_setting_info *in = hone_setting_info_get(id);
        if (!in || !in->component_key) continue;
        hone_setting_state st;
        rc = hone_setting_get(id, a.component, &st, &err);
        if (rc && rc != HONE_EINVAL) {
            cli_cmd_error(CMD, "status: %s: %s", in->name, err.msg);
            json_decref(arr);
            return CLI_FAIL;
        }
        if (a.json) {
            json_t *o = state_json(&st);
            json_object_set_new(o, "name", json_string(in->name));
            json_object_set_new(o, "key", json_string(in->component_key));
            json_object_set_new(o, "own", json_boolean(st.component));
            json_array_append_new(arr, o);
        } else {
            printf("  %-26s %-12s %-8s %s%s\n", in->name, st.value.text[0] ? st.value.text : "\"\"",
                   hone_origin_name(st.origin), st.where, st.component ? " (the component's own)" : "");
        }
    }
    hone_buf_free(&b);
    if (a.json)
        return emit_json(json_pack("{s:s, s:o}", "component", a.component, "settings", arr));
    return CLI_OK;
}

/* ------------------------------------------------------------------ */
/* level, cache, preset, set, unset                                    */
/* ------------------------------------------------------------------ */

/* Writes name = value (NULL: removes it) into the active config file and
 * prints the change; selector >= 0 also prints the chosen bundle. */
static int persist(const char *name, const char *component, const char *value, int selector,
                   int json) {
    hone_error err = {0};
    int id = hone_setting_lookup(name);
    if (id < 0) {
        const char *names[HONE_SETTING_COUNT];
        for (int i = 0; i < HONE_SETTING_COUNT; i++) names[i] = hone_setting_info_get(i)->name;
        const char *near = hone_nearest_name(name, names, HONE_SETTING_COUNT);
        if (near)
            cli_cmd_error(CMD, "'%s' is not a setting; did you mean '%s'? (see 'hone optimize status')",
                          name, near);
        else
            cli_cmd_error(CMD, "'%s' is not a setting (see 'hone optimize status')", name);
        return CLI_USAGE;
    }
    const hone_setting_info *in = hone_setting_info_get(id);
    if (component && !in->component_key) {
        cli_cmd_error(CMD, "%s has no per-component rule; --component is for cache.ttl, cache.size, "
                           "exec.parallel_threshold, batch.size, http.timeout, http.max_input_size",
                      in->name);
        return CLI_USAGE;
    }
    /* The value first, so that a bad one never needs a config file. */
    if (value) {
        hone_setting_value v;
        if (hone_setting_parse(id, in->name, value, &v, &err)) {
            cli_cmd_error(CMD, "%s", err.msg);
            return CLI_USAGE;
        }
    }
    char *path = NULL;
    int rc = hone_opt_config_path(&path, NULL, &err);
    if (rc == HONE_ENOTFOUND) {
        cli_cmd_error(CMD, "no config file to write (%s); set HONE_CONFIG to an absolute path",
                      err.msg);
        return CLI_FAIL;
    }
    if (rc) {
        cli_cmd_error(CMD, "%s", err.msg);
        return status_of(rc);
    }
    hone_setting_state before, after;
    hone_setting_get(id, component, &before, NULL);
    rc = hone_opt_persist(path, in->name, component, value, &err);
    if (rc) {
        cli_cmd_error(CMD, "%s", err.msg);
        hone_free(NULL, path);
        return status_of(rc);
    }
    /* The file layer was reloaded: what the setting is now. */
    hone_setting_get(id, component, &after, NULL);
    const char *envv = in->env ? getenv(in->env) : NULL;
    int overridden = after.origin > HONE_ORIGIN_FILE;
    hone_buf bundle;
    hone_buf_init(&bundle, NULL);
    if (selector >= 0 && value && hone_opt_bundle_describe(selector, value, &bundle, json, &err)) {
        cli_cmd_error(CMD, "%s", err.msg);
        hone_buf_free(&bundle);
        hone_free(NULL, path);
        return CLI_FAIL;
    }
    int out = CLI_OK;
    if (json) {
        json_t *j = json_pack("{s:s, s:o, s:s, s:o, s:o, s:o}", "setting", in->name, "component",
                              str_or_null(component), "config", path, "written",
                              str_or_null(value), "before", state_json(&before), "after",
                              state_json(&after));
        if (j && overridden)
            json_object_set_new(j, "overridden_by",
                                json_string(after.origin == HONE_ORIGIN_ENV && in->env ? in->env
                                                                                       : after.where));
        else if (j)
            json_object_set_new(j, "overridden_by", json_null());
        if (j && selector >= 0 && value) {
            json_t *bj = json_of(&bundle, "bundle");
            if (!bj) out = CLI_FAIL;
            else json_object_set_new(j, "bundle", bj);
        }
        if (out == CLI_OK) out = emit_json(j);
        else json_decref(j);
    } else {
        if (value)
            printf("wrote %s%s%s%s = %s to %s\n", component ? "[component." : "",
                   component ? component : "", component ? "] " : "", in->name, value, path);
        else
            printf("removed %s%s%s%s from %s\n", component ? "[component." : "",
                   component ? component : "", component ? "] " : "", in->name, path);
        printf("%s%s%s: %s (%s, %s) -> %s (%s, %s)\n", in->name, component ? " of " : "",
               component ? component : "", before.value.text, hone_origin_name(before.origin),
               before.where, after.value.text, hone_origin_name(after.origin), after.where);
        if (overridden) {
            if (after.origin == HONE_ORIGIN_ENV && in->env)
                printf("warning: %s=%s in the environment overrides the file: the change has no "
                       "effect in this shell (unset %s)\n",
                       in->env, envv ? envv : "", in->env);
            else
                printf("warning: %s (%s) overrides the file: the change has no effect there\n",
                       after.where, hone_origin_name(after.origin));
        }
        if (selector >= 0 && value) put_text(&bundle);
    }
    hone_buf_free(&bundle);
    hone_free(NULL, path);
    return out;
}

static int act_choose(const cli_spec *s, int selector, const char *what, int argc, char **argv) {
    args a = {0};
    int rc = parse(s, argc, argv, &a);
    if (rc >= 0) return rc;
    const hone_setting_info *in = hone_setting_info_get(selector);
    char want[160];
    snprintf(want, sizeof want, "one %s: %s", what, in->choices);
    if ((rc = operands(s, argc, argv, 1, 1, want)) >= 0) return rc;
    return persist(in->name, NULL, argv[optind], selector, a.json);
}

static int act_level(int argc, char **argv) {
    return act_choose(&cli_spec_optimize_level, HONE_SET_LEVEL, "level", argc, argv);
}
static int act_cache(int argc, char **argv) {
    return act_choose(&cli_spec_optimize_cache, HONE_SET_CACHE_STRATEGY, "strategy", argc, argv);
}
static int act_preset(int argc, char **argv) {
    return act_choose(&cli_spec_optimize_preset, HONE_SET_PRESET, "preset", argc, argv);
}

static int act_set(int argc, char **argv) {
    args a = {0};
    int rc = parse(&cli_spec_optimize_set, argc, argv, &a);
    if (rc >= 0) return rc;
    if ((rc = operands(&cli_spec_optimize_set, argc, argv, 2, 2, "NAME VALUE")) >= 0) return rc;
    int id = hone_setting_lookup(argv[optind]);
    int sel = id == HONE_SET_LEVEL || id == HONE_SET_CACHE_STRATEGY || id == HONE_SET_PRESET ? id : -1;
    return persist(argv[optind], a.component, argv[optind + 1], sel, a.json);
}

static int act_unset(int argc, char **argv) {
    args a = {0};
    int rc = parse(&cli_spec_optimize_unset, argc, argv, &a);
    if (rc >= 0) return rc;
    if ((rc = operands(&cli_spec_optimize_unset, argc, argv, 1, 1, "NAME")) >= 0) return rc;
    return persist(argv[optind], a.component, NULL, -1, a.json);
}

/* ------------------------------------------------------------------ */
/* levels, strategies, presets                                         */
/* ------------------------------------------------------------------ */

static int act_show(const cli_spec *s, int selector, const char *key, int argc, char **argv) {
    args a = {0};
    int rc = parse(s, argc, argv, &a);
    if (rc >= 0) return rc;
    const hone_setting_info *in = hone_setting_info_get(selector);
    char want[160];
    snprintf(want, sizeof want, "at most one of %s", in->choices);
    if ((rc = operands(s, argc, argv, 0, 1, want)) >= 0) return rc;
    char choices[256];
    snprintf(choices, sizeof choices, "%s", in->choices);
    const char *only = optind < argc ? argv[optind] : NULL;
    hone_error err = {0};
    if (only) {
        hone_setting_value v;
        if (hone_setting_parse(selector, in->name, only, &v, &err)) {
            cli_cmd_error(CMD, "%s", err.msg);
            return CLI_USAGE;
        }
    }
    json_t *arr = a.json ? json_array() : NULL;
    hone_buf b;
    hone_buf_init(&b, NULL);
    int out = CLI_OK, first = 1;
    char *save = NULL;
    for (char *c = strtok_r(choices, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        if (only && strcmp(c, only)) continue;
        hone_buf_clear(&b);
        if ((rc = hone_opt_bundle_describe(selector, c, &b, a.json, &err))) {
            cli_cmd_error(CMD, "%s", err.msg);
            out = CLI_FAIL;
            break;
        }
        if (a.json) {
            json_t *bj = json_of(&b, c);
            if (!bj) {
                out = CLI_FAIL;
                break;
            }
            json_array_append_new(arr, json_pack("{s:s, s:o}", "name", c, "sets", bj));
        } else {
            if (!first) putchar('\n');
            first = 0;
            put_text(&b);
        }
    }
    hone_buf_free(&b);
    if (a.json) {
        if (out != CLI_OK) {
            json_decref(arr);
            return out;
        }
        return emit_json(json_pack("{s:s, s:o}", "selector", in->name, key, arr));
    }
    return out;
}

static int act_levels(int argc, char **argv) {
    return act_show(&cli_spec_optimize_levels, HONE_SET_LEVEL, "levels", argc, argv);
}
static int act_strategies(int argc, char **argv) {
    return act_show(&cli_spec_optimize_strategies, HONE_SET_CACHE_STRATEGY, "strategies", argc, argv);
}
static int act_presets(int argc, char **argv) {
    return act_show(&cli_spec_optimize_presets, HONE_SET_PRESET, "presets", argc, argv);
}

/* ------------------------------------------------------------------ */
/* report, recommendations, alerts                                     */
/* ------------------------------------------------------------------ */

/* The report the options name; *src describes where it came from. */
static int get_report(const args *a, hone_opt_report **r, char *src, size_t srcn) {
    hone_error err = {0};
    if (a->url && a->from) {
        cli_cmd_error(CMD, "--url and --from: expected one report source");
        return CLI_USAGE;
    }
    if (!a->url && !a->from) {
        cli_cmd_error(CMD, "no report source: give --url http://HOST:PORT (a running hone serve, "
                           "or a program started with HONE_SERVE) or --from FILE (a saved report)");
        return CLI_USAGE;
    }
    if (a->window && !a->url) {
        cli_cmd_error(CMD, "--window only matters with --url");
        return CLI_USAGE;
    }
    int rc;
    if (a->from) {
        size_t len = 0;
        char *text = cli_slurp(a->from, &len);
        if (!text) {
            cli_cmd_error(CMD, "cannot read --from %s: %s", a->from, strerror(errno));
            return CLI_FAIL;
        }
        rc = hone_opt_report_parse(r, text, len, NULL, &err);
        free(text);
        if (rc) {
            cli_cmd_error(CMD, "%s: %s", a->from, err.msg);
            return status_of(rc);
        }
        snprintf(src, srcn, "%s", a->from);
        return -1;
    }
    uint64_t window = 5000000000ull;
    if (a->window &&
        ((rc = hone_parse_duration("--window", a->window, 1000000000ull, &window, &err)) ||
         window == 0)) {
        if (!rc) snprintf(err.msg, sizeof err.msg, "--window=%s: expected a duration above 0 (5s)",
                          a->window);
        cli_cmd_error(CMD, "%s", err.msg);
        return CLI_USAGE;
    }
    rc = hone_opt_report_fetch(r, a->url, window, NULL, &err);
    if (rc) {
        cli_cmd_error(CMD, "%s", err.msg);
        return rc == HONE_EINVAL ? CLI_USAGE : CLI_FAIL;
    }
    snprintf(src, srcn, "%s over %.3g s", a->url, (double)window / 1e9);
    return -1;
}

static double window_s(const hone_opt_report *r) {
    return r->end_ns > r->start_ns ? (double)(r->end_ns - r->start_ns) / 1e9 : 0;
}

static int act_report(int argc, char **argv) {
    args a = {0};
    int rc = parse(&cli_spec_optimize_report, argc, argv, &a);
    if (rc >= 0) return rc;
    if ((rc = operands(&cli_spec_optimize_report, argc, argv, 0, 0, "no operand")) >= 0) return rc;
    hone_opt_report *r = NULL;
    char src[512];
    if ((rc = get_report(&a, &r, src, sizeof src)) >= 0) return rc;
    hone_buf b;
    hone_buf_init(&b, NULL);
    int out = CLI_OK;
    if (hone_opt_report_format(r, &b, a.json)) {
        cli_cmd_error(CMD, "out of memory");
        out = CLI_FAIL;
    } else if (a.json) {
        json_t *j = json_of(&b, "report");
        out = j ? emit_json(j) : CLI_FAIL;
    } else {
        printf("report of %s\n", src);
        put_text(&b);
    }
    hone_buf_free(&b);
    hone_opt_report_free(r, NULL);
    return out;
}

static int act_recommendations(int argc, char **argv) {
    args a = {0};
    int rc = parse(&cli_spec_optimize_recommendations, argc, argv, &a);
    if (rc >= 0) return rc;
    if ((rc = operands(&cli_spec_optimize_recommendations, argc, argv, 0, 0, "no operand")) >= 0)
        return rc;
    hone_opt_report *r = NULL;
    char src[512];
    if ((rc = get_report(&a, &r, src, sizeof src)) >= 0) return rc;
    hone_opt_finding *f = NULL;
    size_t n = 0;
    if ((rc = hone_opt_recommend(r, &f, &n, NULL))) {
        cli_cmd_error(CMD, "recommendations: %s", hone_strerror(rc));
        hone_opt_report_free(r, NULL);
        return CLI_FAIL;
    }
    size_t fired = 0, quiet = 0, nodata = 0;
    for (size_t i = 0; i < n; i++) {
        if (f[i].verdict == HONE_OPT_FIRED) fired++;
        else if (f[i].verdict == HONE_OPT_QUIET) quiet++;
        else nodata++;
    }
    hone_buf b;
    hone_buf_init(&b, NULL);
    int out = CLI_OK;
    if (hone_opt_findings_format(f, n, a.all, &b, a.json)) {
        cli_cmd_error(CMD, "out of memory");
        out = CLI_FAIL;
    } else if (a.json) {
        json_t *fj = json_of(&b, "findings");
        out = fj ? emit_json(json_pack("{s:s, s:f, s:I, s:I, s:I, s:o}", "source", src, "window_s",
                                       window_s(r), "fired", (json_int_t)fired, "quiet",
                                       (json_int_t)quiet, "not_enough_data", (json_int_t)nodata,
                                       "findings", fj))
                 : CLI_FAIL;
    } else {
        printf("recommendations for %s (window %.3g s): %zu finding%s, %zu rule%s quiet, %zu "
               "without enough data%s\n",
               src, window_s(r), fired, fired == 1 ? "" : "s", quiet, quiet == 1 ? "" : "s", nodata,
               a.all || !(quiet + nodata) ? "" : " (--all shows them)");
        put_text(&b);
    }
    hone_buf_free(&b);
    hone_free(NULL, f);
    hone_opt_report_free(r, NULL);
    return out;
}

static void count_firing(void *ctx, const hone_opt_alert_event *ev) {
    if (ev->firing) (*(int *)ctx)++;
}

/* How many rules the alerts hold, from their JSON (an array of rules, or
 * an object with one). */
static size_t rule_count(json_t *j) {
    if (json_is_array(j)) return json_array_size(j);
    const char *k;
    json_t *v;
    size_t n = 0;
    json_object_foreach(j, k, v) if (json_is_array(v)) n += json_array_size(v);
    return n;
}

static int act_alerts(int argc, char **argv) {
    args a = {0};
    int rc = parse(&cli_spec_optimize_alerts, argc, argv, &a);
    if (rc >= 0) return rc;
    if ((rc = operands(&cli_spec_optimize_alerts, argc, argv, 0, 0, "no operand")) >= 0) return rc;
    hone_error err = {0};
    char *path = NULL;
    if ((rc = hone_opt_config_path(&path, NULL, &err)) && rc != HONE_ENOTFOUND) {
        cli_cmd_error(CMD, "%s", err.msg);
        return status_of(rc);
    }
    int firing = 0;
    hone_opt_alerts_opts ao = {.fn = count_firing, .ctx = &firing};
    hone_opt_alerts *al = NULL;
    if ((rc = hone_opt_alerts_new(&al, &ao))) {
        cli_cmd_error(CMD, "alerts: %s", hone_strerror(rc));
        hone_free(NULL, path);
        return CLI_FAIL;
    }
    int out = CLI_OK;
    hone_buf b;
    hone_buf_init(&b, NULL);
    hone_opt_report *r = NULL;
    json_t *before = NULL;
    if (path && (rc = hone_opt_alerts_load(al, path, &err))) {
        cli_cmd_error(CMD, "%s", err.msg);
        out = status_of(rc);
        goto done;
    }
    if (hone_opt_alerts_format(al, &b, 1) || !(before = json_of(&b, "alerts"))) {
        out = CLI_FAIL;
        goto done;
    }
    size_t nrules = rule_count(before);
    if (nrules == 0) {
        if (a.json)
            out = emit_json(json_pack("{s:o, s:I, s:[]}", "config", str_or_null(path), "rules",
                                      (json_int_t)0, "alerts"));
        else
            printf("no alert configured%s%s: add an [alert.NAME] section with metric, above or "
                   "below, clear and for (see hone-optimize(1), ALERTS)\n",
                   path ? " in " : " (no config file: HONE_CONFIG=off)", path ? path : "");
        goto done;
    }
    char src[512];
    if ((rc = get_report(&a, &r, src, sizeof src)) >= 0) {
        out = rc;
        goto done;
    }
    hone_opt_alerts_observe_report(al, r);
    hone_buf_clear(&b);
    if (hone_opt_alerts_format(al, &b, a.json)) {
        cli_cmd_error(CMD, "out of memory");
        out = CLI_FAIL;
        goto done;
    }
    if (a.json) {
        json_t *aj = json_of(&b, "alerts");
        out = aj ? emit_json(json_pack("{s:o, s:s, s:I, s:I, s:o}", "config", str_or_null(path),
                                       "source", src, "rules", (json_int_t)nrules, "firing",
                                       (json_int_t)firing, "alerts", aj))
                 : CLI_FAIL;
    } else {
        printf("%zu alert rule%s from %s, on the report of %s: %d firing\n", nrules,
               nrules == 1 ? "" : "s", path, src, firing);
        put_text(&b);
    }
    if (out == CLI_OK && firing) out = CLI_FAIL;
done:
    json_decref(before);
    hone_buf_free(&b);
    hone_opt_report_free(r, NULL);
    hone_opt_alerts_free(al);
    hone_free(NULL, path);
    return out;
}

/* ------------------------------------------------------------------ */
/* history, undo                                                       */
/* ------------------------------------------------------------------ */

static int journal_path(char **path) {
    hone_error err = {0};
    int rc = hone_opt_journal_path(path, NULL, &err);
    if (rc == HONE_ENOTFOUND) {
        cli_cmd_error(CMD, "no journal (%s)", err.msg);
        return CLI_FAIL;
    }
    if (rc) {
        cli_cmd_error(CMD, "%s", err.msg);
        return status_of(rc);
    }
    return -1;
}

static int act_history(int argc, char **argv) {
    args a = {0};
    int rc = parse(&cli_spec_optimize_history, argc, argv, &a);
    if (rc >= 0) return rc;
    if ((rc = operands(&cli_spec_optimize_history, argc, argv, 0, 0, "no operand")) >= 0) return rc;
    char *path = NULL;
    if ((rc = journal_path(&path)) >= 0) return rc;
    hone_error err = {0};
    hone_buf b;
    hone_buf_init(&b, NULL);
    int out = CLI_OK;
    struct stat sb;
    int exists = stat(path, &sb) == 0;
    if ((rc = hone_opt_journal_format(path, &b, a.json, &err))) {
        cli_cmd_error(CMD, "%s", err.msg);
        out = status_of(rc);
    } else if (a.json) {
        json_t *ev = json_of(&b, "journal");
        out = ev ? emit_json(json_pack("{s:s, s:o}", "journal", path, "events", ev)) : CLI_FAIL;
    } else if (!exists || b.len == 0) {
        printf("journal %s: no change yet (continuous mode is off unless a program starts a "
               "tuner)\n",
               path);
    } else {
        printf("journal %s\n", path);
        put_text(&b);
    }
    hone_buf_free(&b);
    hone_free(NULL, path);
    return out;
}

static int act_undo(int argc, char **argv) {
    args a = {0};
    int rc = parse(&cli_spec_optimize_undo, argc, argv, &a);
    if (rc >= 0) return rc;
    if ((rc = operands(&cli_spec_optimize_undo, argc, argv, 0, 0, "no operand")) >= 0) return rc;
    char *path = NULL;
    if ((rc = journal_path(&path)) >= 0) return rc;
    hone_error err = {0};
    char what[512] = "";
    rc = hone_opt_journal_undo(path, what, sizeof what, &err);
    int out = CLI_OK;
    if (rc == HONE_ENOTFOUND) {
        cli_cmd_error(CMD, "undo: nothing to undo in %s", path);
        out = CLI_FAIL;
    } else if (rc) {
        cli_cmd_error(CMD, "%s", err.msg);
        out = status_of(rc);
    } else if (a.json) {
        out = emit_json(json_pack("{s:s, s:s}", "journal", path, "undone", what));
    } else {
        printf("undone: %s\n(journal %s)\n", what, path);
    }
    hone_free(NULL, path);
    return out;
}

/* ------------------------------------------------------------------ */
/* clear-cache                                                         */
/* ------------------------------------------------------------------ */

/* The cache files hone makes in its cache directory: disk caches (opened
 * with hone_cache_open as `hone cache clear` does) and file-validated
 * caches (opened with hone_filecache_new under the name they write). A
 * file that does not open as such is not hone's (or is damaged) and is
 * left alone. */
static const struct hone_file {
    const char *name;
    const char *filecache; /* NULL: a disk cache */
    const char *what;
} hone_files[] = {
    {"cache.mdb", NULL, "disk and hybrid caches (hone_cache_open)"},
    {"run.mdb", NULL, "hone run --cache results"},
    {"run-files.mdb", "hone.run.digests", "hone run --cache file digests"},
    {"manifest-index.mdb", "hone.io.index", "hone manifest's incremental index"},
};

/* Whether path is a file hone wrote as f says; why says what it is not. */
static int is_hone_file(const struct hone_file *f, const char *dir, const char *path,
                        uint64_t size, char *why, size_t whyn) {
    hone_error err = {0};
    int rc;
    if (f->filecache) {
        hone_filecache *fc = NULL;
        hone_filecache_opts fo = {.path = path, .name = f->filecache, .recreate = 0,
                                  .map_size = size * 2 + ((uint64_t)1 << 20)};
        rc = hone_filecache_new(&fc, &fo, &err);
        hone_filecache_free(fc);
    } else {
        uint64_t disk = size * 2;
        if (disk < ((uint64_t)1 << 20)) disk = (uint64_t)1 << 20;
        if (disk > ((uint64_t)1 << 40)) disk = (uint64_t)1 << 40;
        hone_tier_options to = {.strategy = HONE_CACHE_DISK, .dir = dir, .name = f->name,
                                .disk_bytes = disk, .ignore_env = 1};
        hone_cache *c = NULL;
        rc = hone_cache_open(&c, NULL, &to, &err);
        if (!rc) {
            /* As `hone cache clear`: processes that have it open see an
             * empty cache, not a file that vanished under them. */
            hone_cache_clear(c);
            rc = hone_cache_sync(c);
            if (rc) snprintf(err.msg, sizeof err.msg, "could not clear: %s", hone_strerror(rc));
        }
        hone_cache_free(c);
    }
    if (rc) snprintf(why, whyn, "%s", err.msg);
    return rc == HONE_OK;
}

static int act_clear_cache(int argc, char **argv) {
    args a = {0};
    int rc = parse(&cli_spec_optimize_clear_cache, argc, argv, &a);
    if (rc >= 0) return rc;
    if ((rc = operands(&cli_spec_optimize_clear_cache, argc, argv, 0, 0, "no operand")) >= 0)
        return rc;
    hone_error err = {0};
    char *defdir = NULL;
    const char *dir = a.dir;
    if (!dir) {
        if ((rc = hone_cache_dir(&defdir, NULL, &err))) {
            cli_cmd_error(CMD, "%s", err.msg);
            return CLI_USAGE;
        }
        dir = defdir;
    }
    if (dir[0] != '/') {
        cli_cmd_error(CMD, "--dir=%s: expected an absolute directory path", dir);
        return CLI_USAGE;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        cli_cmd_error(CMD, "%s: no cache directory there (%s)", dir,
                      errno ? strerror(errno) : "not a directory");
        free(defdir);
        return CLI_FAIL;
    }
    json_t *removed = json_array(), *kept = json_array();
    uint64_t total = 0;
    unsigned nremoved = 0;
    int out = CLI_OK;
    if (!a.json) printf("cache directory %s\n", dir);
    for (size_t i = 0; i < sizeof hone_files / sizeof hone_files[0]; i++) {
        const struct hone_file *f = &hone_files[i];
        char path[4096], lock[4200], why[400] = "";
        snprintf(path, sizeof path, "%s/%s", dir, f->name);
        snprintf(lock, sizeof lock, "%s-lock", path);
        if (lstat(path, &sb) != 0) continue;
        if (!S_ISREG(sb.st_mode)) {
            snprintf(why, sizeof why, "not a regular file");
        } else if (is_hone_file(f, dir, path, (uint64_t)sb.st_size, why, sizeof why)) {
            uint64_t bytes = 0;
            struct stat ls;
            /* The size after the clear: what removing it frees. */
            if (stat(path, &sb) == 0) bytes += (uint64_t)sb.st_size;
            if (lstat(lock, &ls) == 0 && S_ISREG(ls.st_mode)) bytes += (uint64_t)ls.st_size;
            if (unlink(path) != 0) {
                snprintf(why, sizeof why, "cannot remove it: %s", strerror(errno));
                out = CLI_FAIL;
            } else {
                if (lstat(lock, &ls) == 0 && S_ISREG(ls.st_mode)) unlink(lock);
                total += bytes;
                nremoved++;
                json_array_append_new(removed, json_pack("{s:s, s:s, s:I}", "file", path, "what",
                                                         f->what, "bytes", (json_int_t)bytes));
                if (!a.json)
                    printf("  removed %-20s %12llu bytes  (%s)\n", f->name,
                           (unsigned long long)bytes, f->what);
                continue;
            }
        }
        json_array_append_new(kept, json_pack("{s:s, s:s}", "file", path, "why", why));
        if (!a.json) printf("  kept    %-20s %s\n", f->name, why);
    }
    if (a.json) {
        int jrc = emit_json(json_pack("{s:s, s:o, s:o, s:I}", "dir", dir, "removed", removed,
                                      "kept", kept, "bytes", (json_int_t)total));
        if (jrc) out = jrc;
    } else {
        json_decref(removed);
        json_decref(kept);
        printf("%u file%s removed, %llu bytes freed; other files in %s were not touched\n",
               nremoved, nremoved == 1 ? "" : "s", (unsigned long long)total, dir);
    }
    free(defdir);
    return out;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static const struct action {
    const char *name;
    int (*run)(int, char **);
} actions[] = {
    {"status", act_status},
    {"level", act_level},
    {"cache", act_cache},
    {"preset", act_preset},
    {"set", act_set},
    {"unset", act_unset},
    {"levels", act_levels},
    {"strategies", act_strategies},
    {"presets", act_presets},
    {"report", act_report},
    {"recommendations", act_recommendations},
    {"alerts", act_alerts},
    {"history", act_history},
    {"undo", act_undo},
    {"clear-cache", act_clear_cache},
};
#define N_ACTIONS (sizeof actions / sizeof actions[0])

int cli_optimize_main(int argc, char **argv) {
    const char *names[N_ACTIONS];
    char list[320] = "";
    for (size_t i = 0; i < N_ACTIONS; i++) {
        names[i] = actions[i].name;
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 actions[i].name);
    }
    if (argc < 2) {
        cli_cmd_error(CMD, "expected an action: %s", list);
        return CLI_USAGE;
    }
    for (size_t i = 0; i < N_ACTIONS; i++)
        if (!strcmp(argv[1], actions[i].name)) return actions[i].run(argc - 1, argv + 1);
    const char *near = hone_nearest_name(argv[1], names, N_ACTIONS);
    if (near)
        cli_cmd_error(CMD, "unknown action '%s'; did you mean '%s'? expected one of %s", argv[1],
                      near, list);
    else
        cli_cmd_error(CMD, "unknown action '%s'; expected one of %s", argv[1], list);
    return CLI_USAGE;
}
