/* cache_calibrate.c - `hone cache calibrate`: reads labelled pairs, scores
 * them with the similarity cache's scorer and gates, picks the threshold
 * for a target false hit rate on one half and reports recall and false hit
 * rate with 95 % intervals on the other, beside the fixed rules of GPTCache
 * (cosine >= 0.60) and RedisVL (cosine >= 0.90) on the same scores. */
#include "cli.h"

#include "hone/simcache.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_PAIRS = CLI_LONG, OPT_TARGET_FPR, OPT_JSON, OPT_SEED, OPT_NS_AWARE, OPT_NO_NS };

static const cli_opt calibrate_opts[] = {
    {OPT_PAIRS, "pairs", "FILE", "labelled pairs, JSON lines {\"a\", \"b\", \"label\": 0|1}", "@file"},
    {OPT_TARGET_FPR, "target-fpr", "R", "the false hit rate to calibrate for, in [0, 1); default 0.01",
     NULL},
    {OPT_SEED, "seed", "N",
     "seeds the split into halves and the scorer's hashing; default 1 (runs repeat)", NULL},
    {OPT_NS_AWARE, "ns-aware", NULL,
     "pairs whose \"ns_a\" and \"ns_b\" differ are refused by the namespace gate (the default "
     "when a pair names a namespace)",
     NULL},
    {OPT_NO_NS, "no-ns", NULL, "ignore \"ns_a\" and \"ns_b\": compare the texts alone", NULL},
    {OPT_JSON, "json", NULL, "print one JSON object instead of a table", NULL},
    {'h', "help", NULL, "show this help", NULL},
    {0, NULL, NULL, NULL, NULL}};

const cli_spec cli_spec_cache_calibrate = {
    "cache calibrate",
    "usage: hone cache calibrate --pairs FILE [--target-fpr R] [--seed N]\n"
    "                            [--ns-aware | --no-ns] [--json]\n"
    "\n"
    "Scores every pair with the similarity cache's built-in scorer, checks its\n"
    "gates (a refused pair never hits), splits the pairs in two halves by label,\n"
    "picks on the first half the lowest threshold whose false hit rate is at most\n"
    "R, and prints recall and false hit rate with 95 % Wilson intervals on the\n"
    "second half; beside it, on all pairs, the default threshold and the fixed\n"
    "rules of GPTCache (cosine >= 0.60) and RedisVL (cosine >= 0.90), ungated.\n"
    "When any pair has \"ns_a\" or \"ns_b\", a pair of two namespaces is refused as\n"
    "the namespace gate refuses it (a cache keeps tenants apart); --no-ns turns\n"
    "that off.\n",
    NULL, calibrate_opts};

/* The similarity cache's threshold must be above 0; this one puts every
 * pair with a positive score through the gates, which a lookup checks only
 * at or above the threshold. */
#define GATE_ALL_THRESHOLD 1e-9

typedef struct pair {
    char *a, *b, *ns_a, *ns_b, *kind;
    int label;
    double raw;   /* the scorer's cosine */
    double gated; /* raw, or -inf when a gate refused the pair */
    int refused_by; /* the gate that refused it, or -1 */
} pair;

typedef struct pairs {
    pair *v;
    size_t n, cap;
} pairs;

static void pairs_free(pairs *p) {
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].a);
        free(p->v[i].b);
        free(p->v[i].ns_a);
        free(p->v[i].ns_b);
        free(p->v[i].kind);
    }
    free(p->v);
}

/* An optional string member: 0 and *out set (NULL when absent), or -1 when
 * present with another type. */
static int opt_string(json_t *o, const char *name, char **out) {
    json_t *v = json_object_get(o, name);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return -1;
    *out = strdup(json_string_value(v));
    return 0;
}

/* Parses one line into *pr; returns 0, or -1 with *what naming what was
 * expected, or -2 when memory ran out. */
static int parse_pair(const char *line, pair *pr, const char **what) {
    json_error_t jerr;
    json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    memset(pr, 0, sizeof *pr);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        *what = "a JSON object {\"a\": ..., \"b\": ..., \"label\": 0|1}";
        return -1;
    }
    json_t *a = json_object_get(o, "a"), *b = json_object_get(o, "b"),
           *l = json_object_get(o, "label");
    int rc = 0;
    if (!json_is_string(a) || !json_is_string(b)) {
        *what = "\"a\" and \"b\" as strings";
        rc = -1;
    } else if (!json_is_integer(l) || (json_integer_value(l) != 0 && json_integer_value(l) != 1)) {
        *what = "\"label\" 0 or 1";
        rc = -1;
    } else {
        char *bad = NULL;
        if (opt_string(o, "ns_a", &pr->ns_a) || opt_string(o, "ns_b", &pr->ns_b))
            bad = "\"ns_a\" and \"ns_b\" as strings when given";
        else if (opt_string(o, "kind", &pr->kind))
            bad = "\"kind\" as a string when given";
        if (bad) {
            *what = bad;
            rc = -1;
        } else {
            pr->a = strdup(json_string_value(a));
            pr->b = strdup(json_string_value(b));
            pr->label = (int)json_integer_value(l);
            json_t *na = json_object_get(o, "ns_a"), *nb = json_object_get(o, "ns_b");
            if (!pr->a || !pr->b || (json_is_string(na) && !pr->ns_a) ||
                (json_is_string(nb) && !pr->ns_b))
                rc = -2;
        }
    }
    json_decref(o);
    if (rc) {
        free(pr->a);
        free(pr->b);
        free(pr->ns_a);
        free(pr->ns_b);
        free(pr->kind);
        memset(pr, 0, sizeof *pr);
    }
    return rc;
}

/* Reads the pairs file; returns CLI_OK, or the exit status after printing
 * one line that names the file (and line). */
static int read_pairs(const char *path, pairs *out) {
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_cmd_error("cache calibrate", "%s: %s", path, strerror(errno));
        return CLI_USAGE;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = CLI_OK;
    while ((len = getline(&line, &cap, f)) != -1) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (strspn(line, " \t") == (size_t)len) continue; /* blank lines are allowed */
        if (out->n == out->cap) {
            size_t ncap = out->cap ? out->cap * 2 : 1024;
            pair *v = realloc(out->v, ncap * sizeof *v);
            if (!v) {
                rc = CLI_FAIL;
                cli_cmd_error("cache calibrate", "out of memory");
                break;
            }
            out->v = v;
            out->cap = ncap;
        }
        const char *what = NULL;
        int prc = parse_pair(line, &out->v[out->n], &what);
        if (prc == -2) {
            cli_cmd_error("cache calibrate", "out of memory");
            rc = CLI_FAIL;
            break;
        }
        if (prc) {
            cli_cmd_error("cache calibrate", "%s:%ld: expected %s", path, lineno, what);
            rc = CLI_USAGE;
            break;
        }
        out->n++;
    }
    if (rc == CLI_OK && ferror(f)) {
        cli_cmd_error("cache calibrate", "%s: %s", path, strerror(errno));
        rc = CLI_USAGE;
    }
    free(line);
    fclose(f);
    return rc;
}

/* A fixed rule's figures over all pairs. */
typedef struct rule {
    const char *name;
    double threshold;
    int gated; /* 1: on the gated scores; 0: on the raw cosines */
    size_t tp, fn, fp, tn;
    double recall, recall_lo, recall_hi, fpr, fpr_lo, fpr_hi;
} rule;

static void rule_eval(rule *r, const pairs *p) {
    for (size_t i = 0; i < p->n; i++) {
        double s = r->gated ? p->v[i].gated : p->v[i].raw;
        int hit = s >= r->threshold;
        if (p->v[i].label) hit ? r->tp++ : r->fn++;
        else hit ? r->fp++ : r->tn++;
    }
    size_t pos = r->tp + r->fn, neg = r->fp + r->tn;
    r->recall = pos ? (double)r->tp / (double)pos : 0;
    r->fpr = neg ? (double)r->fp / (double)neg : 0;
    hone_sim_wilson(r->tp, pos, &r->recall_lo, &r->recall_hi);
    hone_sim_wilson(r->fp, neg, &r->fpr_lo, &r->fpr_hi);
}

/* Negatives of each kind, and how many hit at threshold t. */
#define MAX_KINDS 16
typedef struct kinds {
    const char *name[MAX_KINDS];
    size_t n[MAX_KINDS];
    size_t count;
} kinds;

static void kinds_collect(kinds *k, const pairs *p) {
    k->count = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->v[i].label) continue;
        const char *name = p->v[i].kind ? p->v[i].kind : "(none)";
        size_t j = 0;
        while (j < k->count && strcmp(k->name[j], name)) j++;
        if (j == k->count) {
            if (k->count == MAX_KINDS) continue;
            k->name[k->count] = name;
            k->n[k->count++] = 0;
        }
        k->n[j]++;
    }
}

static size_t kind_hits(const pairs *p, const char *kind, double t, int gated) {
    size_t hits = 0;
    for (size_t i = 0; i < p->n; i++) {
        const char *name = p->v[i].kind ? p->v[i].kind : "(none)";
        if (p->v[i].label || strcmp(name, kind)) continue;
        if ((gated ? p->v[i].gated : p->v[i].raw) >= t) hits++;
    }
    return hits;
}

static json_t *ci(double lo, double hi) { return json_pack("[f, f]", lo, hi); }

static int print_json(const char *path, const pairs *p, size_t npos, size_t refused,
                      const char *scorer, uint64_t seed, int ns_aware,
                      const hone_sim_calibration *c, rule *rules, int nrules, const kinds *k) {
    json_t *j = json_pack(
        "{s:s, s:I, s:I, s:I, s:s, s:I, s:b, s:I, s:f, s:{s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:f, s:o, s:f, s:o}}",
        "pairs_file", path, "pairs", (json_int_t)p->n, "positives", (json_int_t)npos, "negatives",
        (json_int_t)(p->n - npos), "scorer", scorer, "seed", (json_int_t)seed, "ns_aware", ns_aware,
        "gate_refusals", (json_int_t)refused, "target_fpr", c->target_fpr, "calibrated", "threshold",
        c->threshold, "fit_pos", (json_int_t)c->fit_pos, "fit_neg", (json_int_t)c->fit_neg,
        "eval_pos", (json_int_t)c->eval_pos, "eval_neg", (json_int_t)c->eval_neg, "tp",
        (json_int_t)c->tp, "fn", (json_int_t)c->fn, "fp", (json_int_t)c->fp, "tn", (json_int_t)c->tn,
        "recall", c->recall, "recall_ci", ci(c->recall_lo, c->recall_hi), "fpr", c->fpr, "fpr_ci",
        ci(c->fpr_lo, c->fpr_hi));
    json_t *arr = json_array();
    if (!j || !arr) goto fail;
    for (int i = 0; i < nrules; i++) {
        rule *r = &rules[i];
        json_t *byk = json_object();
        for (size_t q = 0; byk && q < k->count; q++)
            json_object_set_new(byk, k->name[q],
                                json_pack("{s:I, s:I}", "pairs", (json_int_t)k->n[q], "hits",
                                          (json_int_t)kind_hits(p, k->name[q], r->threshold, r->gated)));
        json_t *o = json_pack("{s:s, s:f, s:b, s:I, s:I, s:I, s:I, s:f, s:o, s:f, s:o, s:o}", "rule",
                              r->name, "threshold", r->threshold, "gated", r->gated, "tp",
                              (json_int_t)r->tp, "fn", (json_int_t)r->fn, "fp", (json_int_t)r->fp,
                              "tn", (json_int_t)r->tn, "recall", r->recall, "recall_ci",
                              ci(r->recall_lo, r->recall_hi), "fpr", r->fpr, "fpr_ci",
                              ci(r->fpr_lo, r->fpr_hi), "false_hits_by_kind", byk);
        if (!o || json_array_append_new(arr, o)) goto fail;
    }
    if (json_object_set_new(j, "rules_on_all_pairs", arr)) {
        arr = NULL;
        goto fail;
    }
    arr = NULL;
    if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) goto fail;
    putchar('\n');
    json_decref(j);
    return CLI_OK;
fail:
    json_decref(arr);
    json_decref(j);
    cli_cmd_error("cache calibrate", "could not write JSON");
    return CLI_FAIL;
}

static void print_row(const char *name, double t, size_t tp, size_t pos, double rl, double rh,
                      size_t fp, size_t neg, double fl, double fh) {
    printf("  %-30s %9.4f %6zu/%-6zu %6.2f [%6.2f, %6.2f] %6zu/%-6zu %6.2f [%5.2f, %5.2f]\n", name,
           t, tp, pos, pos ? 100.0 * (double)tp / (double)pos : 0, 100 * rl, 100 * rh, fp, neg,
           neg ? 100.0 * (double)fp / (double)neg : 0, 100 * fl, 100 * fh);
}

int cli_cache_calibrate(int argc, char **argv) {
    const char *path = NULL;
    double target = 0.01;
    uint64_t seed = 1;
    int json = 0, ns_mode = -1, c; /* ns_mode: -1 as the pairs say, 0 --no-ns, 1 --ns-aware */
    hone_error err;
    optind = 0;
    while ((c = cli_next(&cli_spec_cache_calibrate, argc, argv)) != -1) {
        switch (c) {
        case OPT_PAIRS: path = optarg; break;
        case OPT_TARGET_FPR:
            if (hone_parse_double("--target-fpr", optarg, 0, 1, &target, &err) || target >= 1) {
                cli_cmd_error("cache calibrate", "%s",
                              target >= 1 ? "--target-fpr: expected a rate in [0, 1), like 0.01"
                                          : err.msg);
                return CLI_USAGE;
            }
            break;
        case OPT_SEED:
            if (hone_parse_u64("--seed", optarg, 1, UINT64_MAX, &seed, &err)) {
                cli_cmd_error("cache calibrate", "%s", err.msg);
                return CLI_USAGE;
            }
            break;
        case OPT_NS_AWARE:
        case OPT_NO_NS:
            if (ns_mode == (c == OPT_NS_AWARE ? 0 : 1)) {
                cli_cmd_error("cache calibrate", "--ns-aware and --no-ns exclude each other");
                return CLI_USAGE;
            }
            ns_mode = c == OPT_NS_AWARE;
            break;
        case OPT_JSON: json = 1; break;
        case 'h': cli_help(&cli_spec_cache_calibrate, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc) {
        cli_cmd_error("cache calibrate", "unexpected argument '%s'", argv[optind]);
        return CLI_USAGE;
    }
    if (!path) {
        cli_cmd_error("cache calibrate", "--pairs FILE is required");
        return CLI_USAGE;
    }

    pairs p = {0};
    int rc = read_pairs(path, &p);
    if (rc) {
        pairs_free(&p);
        return rc;
    }
    /* A cache with namespaces never serves one tenant another's entry, so
     * pairs that name their tenants are judged that way unless told not. */
    int has_ns = 0;
    for (size_t i = 0; i < p.n && !has_ns; i++) has_ns = p.v[i].ns_a || p.v[i].ns_b;
    int ns_aware = ns_mode >= 0 ? ns_mode : has_ns;

    /* One cache scores every pair: the built-in scorer with a fixed seed
     * (so runs repeat), and a threshold low enough that the gates are
     * checked on every pair that could ever hit. */
    hone_sim_ngram st;
    hone_sim_scorer scorer;
    hone_sim_scorer_ngram(&scorer, &st, 0, seed);
    hone_simcache_opts o = {.scorer = &scorer, .threshold = GATE_ALL_THRESHOLD};
    hone_simcache *cache = NULL;
    rc = hone_simcache_new(&cache, &o, &err);
    if (rc) {
        cli_cmd_error("cache calibrate", "%s", err.msg);
        pairs_free(&p);
        return CLI_FAIL;
    }
    size_t npos = 0, refused = 0;
    char scorer_name[sizeof ((hone_sim_result *)0)->scorer] = "";
    for (size_t i = 0; i < p.n; i++) {
        pair *pr = &p.v[i];
        hone_sim_result why;
        rc = hone_simcache_score(cache, pr->a, strlen(pr->a), pr->b, strlen(pr->b), &pr->raw, &why);
        if (rc) {
            cli_cmd_error("cache calibrate", "%s:%zu: scoring failed: %s", path, i + 1,
                          hone_strerror(rc));
            hone_simcache_free(cache);
            pairs_free(&p);
            return CLI_FAIL;
        }
        if (!scorer_name[0]) snprintf(scorer_name, sizeof scorer_name, "%s", why.scorer);
        pr->refused_by = -1;
        for (int g = 0; g < HONE_SIM_GATE_COUNT && pr->refused_by < 0; g++)
            if (why.gates[g].checked && !why.gates[g].passed) pr->refused_by = g;
        if (ns_aware && strcmp(pr->ns_a ? pr->ns_a : "", pr->ns_b ? pr->ns_b : ""))
            pr->refused_by = HONE_SIM_GATE_NAMESPACE;
        pr->gated = pr->refused_by >= 0 ? -INFINITY : pr->raw;
        refused += pr->refused_by >= 0;
        npos += pr->label;
    }
    double default_threshold = HONE_SIM_NGRAM_THRESHOLD;
    hone_simcache_free(cache);

    double *scores = malloc((p.n ? p.n : 1) * sizeof *scores);
    int *labels = malloc((p.n ? p.n : 1) * sizeof *labels);
    if (!scores || !labels) {
        free(scores);
        free(labels);
        pairs_free(&p);
        cli_cmd_error("cache calibrate", "out of memory");
        return CLI_FAIL;
    }
    for (size_t i = 0; i < p.n; i++) {
        scores[i] = p.v[i].gated;
        labels[i] = p.v[i].label;
    }
    hone_sim_calibration cal;
    rc = hone_sim_calibrate(scores, labels, p.n, target, seed, &cal, &err);
    free(scores);
    free(labels);
    if (rc) {
        cli_cmd_error("cache calibrate", "%s: %s", path, err.msg);
        pairs_free(&p);
        return rc == HONE_ENOMEM ? CLI_FAIL : CLI_USAGE;
    }

    rule rules[] = {
        {.name = "calibrated, gated", .threshold = cal.threshold, .gated = 1},
        {.name = "hone default, gated", .threshold = default_threshold, .gated = 1},
        {.name = "GPTCache (cosine >= 0.60)", .threshold = 0.60},
        {.name = "RedisVL (cosine >= 0.90)", .threshold = 0.90},
        {.name = "calibrated, ungated", .threshold = cal.threshold},
    };
    int nrules = (int)(sizeof rules / sizeof rules[0]);
    for (int i = 0; i < nrules; i++) rule_eval(&rules[i], &p);
    kinds k;
    kinds_collect(&k, &p);

    if (json) {
        rc = print_json(path, &p, npos, refused, scorer_name, seed, ns_aware, &cal, rules, nrules, &k);
        pairs_free(&p);
        return rc;
    }
    printf("pairs %s: %zu (%zu should hit, %zu must not); scorer %s; %zu refused by a gate%s\n",
           path, p.n, npos, p.n - npos, scorer_name, refused,
           ns_aware ? " (namespaces checked)" : "");
    printf("target false hit rate %.2f %%: threshold %.4f, chosen on %zu + %zu pairs, evaluated on "
           "%zu + %zu\n",
           100 * target, cal.threshold, cal.fit_pos, cal.fit_neg, cal.eval_pos, cal.eval_neg);
    printf("  %-30s %9s %13s %6s %16s %13s %6s %14s\n", "rule", "threshold", "hits", "recall",
           "95 % interval", "false hits", "rate", "95 % interval");
    print_row("calibrated, gated (eval half)", cal.threshold, cal.tp, cal.eval_pos, cal.recall_lo,
              cal.recall_hi, cal.fp, cal.eval_neg, cal.fpr_lo, cal.fpr_hi);
    printf("on all pairs (nothing fitted):\n");
    for (int i = 0; i < nrules; i++) {
        rule *r = &rules[i];
        print_row(r->name, r->threshold, r->tp, r->tp + r->fn, r->recall_lo, r->recall_hi, r->fp,
                  r->fp + r->tn, r->fpr_lo, r->fpr_hi);
    }
    if (k.count > 1 || (k.count == 1 && strcmp(k.name[0], "(none)"))) {
        printf("false hits by kind of negative (all pairs):\n  %-30s", "rule");
        for (size_t q = 0; q < k.count; q++) printf(" %12.12s", k.name[q]);
        printf("\n  %-30s", "pairs");
        for (size_t q = 0; q < k.count; q++) printf(" %12zu", k.n[q]);
        putchar('\n');
        for (int i = 0; i < nrules; i++) {
            printf("  %-30s", rules[i].name);
            for (size_t q = 0; q < k.count; q++)
                printf(" %12zu", kind_hits(&p, k.name[q], rules[i].threshold, rules[i].gated));
            putchar('\n');
        }
    }
    size_t cross = 0;
    for (size_t i = 0; i < p.n; i++)
        cross += strcmp(p.v[i].ns_a ? p.v[i].ns_a : "", p.v[i].ns_b ? p.v[i].ns_b : "") != 0;
    if (cross && !ns_aware)
        printf("note: %zu pairs name two different namespaces, compared here by text alone "
               "(--no-ns); without it they are refused as the namespace gate would\n",
               cross);
    pairs_free(&p);
    return CLI_OK;
}
