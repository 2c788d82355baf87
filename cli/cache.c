/* cache.c - `hone cache sim`: replays a cache trace through hone's policy
 * and the reference policies, or through a memory tier in front of a disk
 * tier, and prints their hit ratios; also the `cache` step of `hone demo`.
 * The actions on disk caches (stats, clear, export) are in cache_disk.c. */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SIZES 32

/* Long options only: their letters mean other things in other subcommands. */
enum { OPT_JSON = CLI_LONG, OPT_TRACE, OPT_FORMAT, OPT_SIZE, OPT_POLICY, OPT_TIER, OPT_MEMORY,
       OPT_DISK };

static const cli_opt sim_opts[] = {
    {OPT_TRACE, "trace", "FILE", "the trace to replay (plain, .xz or .zst)", "@file"},
    {OPT_FORMAT, "format", "F",
     "cache2k (big-endian int32 keys), arc (block ranges), lines (one key per line); default "
     "auto, by the file name's suffix",
     "auto cache2k arc lines"},
    {OPT_SIZE, "size", "N,...", "cache sizes in objects (1 to 1000000000)", NULL},
    {OPT_POLICY, "policy", "P,...", "policies to compare; default all: hone,lru,arc,s3fifo,lirs,sieve,wtinylfu,belady",
     "hone lru arc s3fifo lirs sieve wtinylfu belady"},
    {OPT_TIER, "tier", "T",
     "hybrid: replay through a memory tier (--memory objects, the first --policy) in front "
     "of a disk tier (--disk objects) instead; disk: the disk tier alone",
     "hybrid disk"},
    {OPT_MEMORY, "memory", "N", "with --tier hybrid: the memory tier's size in objects", NULL},
    {OPT_DISK, "disk", "M", "with --tier: the disk tier's size in objects", NULL},
    {OPT_JSON, "json", NULL, "print one JSON object instead of a table", NULL},
    {'h', "help", NULL, "show this help", NULL},
    {0, NULL, NULL, NULL, NULL}};

const cli_spec cli_spec_cache_sim = {
    "cache sim",
    "usage: hone cache sim --trace FILE [--format auto|cache2k|arc|lines]\n"
    "                      --size N[,N...] [--policy P[,P...]] [--json]\n"
    "       hone cache sim --trace FILE --tier hybrid --memory N --disk M [--policy P]\n"
    "\n"
    "Replays a cache trace (plain, .xz or .zst) through each policy at each size,\n"
    "from a cold start with unit-size objects, and prints the object hit ratio in\n"
    "percent. Policies: hone (the cache's own adaptive policy), lru, arc, s3fifo,\n"
    "and the references lirs, sieve, wtinylfu (static 1 % window) and belady; all\n"
    "of them by default. Each row also names the best online policy other than\n"
    "hone, hone's delta to it, and Belady's optimum's lead over hone.\n"
    "With --tier hybrid, replays it as a hybrid cache serves gets (memory, then\n"
    "disk) and prints the hits of each tier, beside memory alone at N and at M.\n",
    NULL, sim_opts};

void cli_cache_usage(FILE *out) {
    fputs("usage: hone cache sim --trace FILE --size N[,N...] [options]\n"
          "       hone cache sim --trace FILE --tier hybrid --memory N --disk M\n"
          "       hone cache calibrate --pairs FILE [--target-fpr R] [--json]\n"
          "       hone cache stats|clear|export [--dir DIR] [--name NAME] [--json]\n"
          "\n"
          "sim replays a cache trace through hone's policy and LRU, ARC and S3-FIFO,\n"
          "or through a memory tier in front of a disk tier; calibrate picks a\n"
          "similarity cache's threshold for a false hit rate on labelled pairs; stats,\n"
          "clear and export act on a disk or hybrid cache's file. See 'hone cache\n"
          "ACTION --help' for the options of each, and hone-cache(1).\n",
          out);
}

static int parse_sizes(const char *s, uint64_t *sizes, int *n) {
    char buf[1024];
    if (strlen(s) >= sizeof buf) {
        cli_cmd_error("cache", "--size: list too long");
        return -1;
    }
    strcpy(buf, s);
    *n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        hone_error err;
        if (*n == MAX_SIZES) {
            cli_cmd_error("cache", "--size: at most %d sizes", MAX_SIZES);
            return -1;
        }
        if (hone_parse_u64("--size", t, 1, 1000000000, &sizes[*n], &err)) {
            cli_cmd_error("cache", "%s", err.msg);
            return -1;
        }
        (*n)++;
    }
    if (*n == 0) {
        cli_cmd_error("cache", "--size='%s': expected sizes like 500,1000", s);
        return -1;
    }
    return 0;
}

static int parse_policies(const char *s, int *pols, int *n) {
    char buf[256];
    if (strlen(s) >= sizeof buf) {
        cli_cmd_error("cache", "--policy: list too long");
        return -1;
    }
    strcpy(buf, s);
    *n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        hone_error err;
        if (*n == HONE_CACHE_POLICY_ALL_COUNT * 2) {
            cli_cmd_error("cache", "--policy: too many policies");
            return -1;
        }
        if (hone_cache_policy_parse(t, &pols[*n], &err)) {
            cli_cmd_error("cache", "--%s", err.msg);
            return -1;
        }
        (*n)++;
    }
    if (*n == 0) {
        cli_cmd_error("cache", "--policy='%s': expected policies like hone,lru", s);
        return -1;
    }
    return 0;
}

/* Prints one JSON value on stdout; returns CLI_OK or CLI_FAIL. */
static int print_json(json_t *j) {
    if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) {
        json_decref(j);
        cli_cmd_error("cache", "could not write JSON");
        return CLI_FAIL;
    }
    putchar('\n');
    json_decref(j);
    return CLI_OK;
}

/* `cache sim --tier`: the trace through memory (mem objects of policy pol;
 * 0: none) in front of disk (disk objects), beside memory alone at both
 * sizes. */
static int sim_tiered(const char *trace, int format, int pol, uint64_t mem, uint64_t disk,
                      int json) {
    uint64_t *keys;
    size_t n;
    hone_error err;
    int rc = hone_cache_trace_load(trace, format, NULL, &keys, &n, &err);
    if (rc) {
        cli_cmd_error("cache", "%s", err.msg);
        return rc == HONE_ENOMEM ? CLI_FAIL : CLI_USAGE;
    }
    if (format == HONE_CACHE_TRACE_AUTO) format = hone_cache_trace_format_detect(trace);
    hone_cache_tier_sim t;
    double alone_mem = 0, alone_disk = 0;
    rc = hone_cache_sim_tiered(pol, mem, disk, keys, n, NULL, &t);
    if (!rc && mem) rc = hone_cache_sim_run(pol, mem, keys, n, NULL, &alone_mem);
    if (!rc) rc = hone_cache_sim_run(pol, disk, keys, n, NULL, &alone_disk);
    hone_free(NULL, keys);
    if (rc) {
        cli_cmd_error("cache", "simulation failed: %s", hone_strerror(rc));
        return CLI_FAIL;
    }
    const char *pname = hone_cache_policy_name(pol);
    if (json) {
        json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:{s:f, s:f, s:f}, s:{s:f, s:f}}",
                              "trace", trace, "format", hone_cache_trace_format_name(format),
                              "accesses", (json_int_t)n, "memory_policy", pname, "memory",
                              (json_int_t)mem, "disk", (json_int_t)disk, "hit_percent",
                              "memory", t.memory_hit_percent, "disk", t.disk_hit_percent,
                              "total", t.hit_percent, "memory_alone_hit_percent", "at_memory",
                              alone_mem, "at_disk", alone_disk);
        return print_json(j);
    }
    printf("trace %s: %zu accesses (%s); object hit ratio in percent\n", trace, n,
           hone_cache_trace_format_name(format));
    if (mem)
        printf("hybrid: memory %llu objects (%s) in front of disk %llu objects (FIFO with "
               "reinsertion)\n",
               (unsigned long long)mem, pname, (unsigned long long)disk);
    else
        printf("disk tier alone: %llu objects (FIFO with reinsertion)\n",
               (unsigned long long)disk);
    if (mem) printf("  %-28s %8.2f\n", "served by memory", t.memory_hit_percent);
    printf("  %-28s %8.2f\n", mem ? "served by disk" : "hits", t.disk_hit_percent);
    if (mem) printf("  %-28s %8.2f\n", "hybrid total", t.hit_percent);
    char what[64];
    if (mem) {
        snprintf(what, sizeof what, "%s alone at %llu", pname, (unsigned long long)mem);
        printf("  %-28s %8.2f\n", what, alone_mem);
    }
    snprintf(what, sizeof what, "%s alone at %llu", pname, (unsigned long long)disk);
    printf("  %-28s %8.2f\n", what, alone_disk);
    return CLI_OK;
}

static int cache_sim(int argc, char **argv) {
    const char *trace = NULL;
    int format = HONE_CACHE_TRACE_AUTO, json = 0, c, nsizes = 0, tier = 0, pol_given = 0;
    uint64_t mem = 0, disk = 0;
    uint64_t sizes[MAX_SIZES];
    /* Every policy by default: hone, each online reference, Belady. */
    int npols = HONE_CACHE_POLICY_ALL_COUNT;
    int pols[HONE_CACHE_POLICY_ALL_COUNT * 2];
    for (int p = 0; p < HONE_CACHE_POLICY_ALL_COUNT; p++) pols[p] = p;
    hone_error err;
    optind = 0;
    while ((c = cli_next(&cli_spec_cache_sim, argc, argv)) != -1) {
        switch (c) {
        case OPT_TRACE: trace = optarg; break;
        case OPT_FORMAT:
            if (hone_parse_enum("--format", optarg,
                                (const char *const[]){"auto", "cache2k", "arc", "lines", NULL},
                                &format, &err)) {
                cli_cmd_error("cache", "%s", err.msg);
                return CLI_USAGE;
            }
            break;
        case OPT_SIZE:
            if (parse_sizes(optarg, sizes, &nsizes)) return CLI_USAGE;
            break;
        case OPT_POLICY:
            if (parse_policies(optarg, pols, &npols)) return CLI_USAGE;
            pol_given = 1;
            break;
        case OPT_TIER:
            if (hone_parse_enum("--tier", optarg, (const char *const[]){"hybrid", "disk", NULL},
                                &tier, &err)) {
                cli_cmd_error("cache", "%s", err.msg);
                return CLI_USAGE;
            }
            tier++; /* 1 hybrid, 2 disk */
            break;
        case OPT_MEMORY:
        case OPT_DISK:
            if (hone_parse_u64(c == OPT_MEMORY ? "--memory" : "--disk", optarg, 1, 1000000000,
                               c == OPT_MEMORY ? &mem : &disk, &err)) {
                cli_cmd_error("cache", "%s", err.msg);
                return CLI_USAGE;
            }
            break;
        case OPT_JSON: json = 1; break;
        case 'h': cli_help(&cli_spec_cache_sim, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc) {
        cli_cmd_error("cache", "unexpected argument '%s'", argv[optind]);
        return CLI_USAGE;
    }
    if (!trace) {
        cli_cmd_error("cache", "sim needs --trace FILE");
        return CLI_USAGE;
    }
    if (tier) {
        if (nsizes) {
            cli_cmd_error("cache", "--size is for policies; with --tier give --memory and --disk");
            return CLI_USAGE;
        }
        if (!disk || (tier == 1 && !mem)) {
            cli_cmd_error("cache", "--tier %s needs %s", tier == 1 ? "hybrid" : "disk",
                          tier == 1 ? "--memory N and --disk M" : "--disk M");
            return CLI_USAGE;
        }
        if (tier == 2 && mem) {
            cli_cmd_error("cache", "--tier disk has no memory tier: leave out --memory");
            return CLI_USAGE;
        }
        int mpol = pol_given ? pols[0] : HONE_CACHE_POLICY_HONE;
        if (pol_given && npols > 1) {
            cli_cmd_error("cache", "--tier replays one memory policy: give one --policy");
            return CLI_USAGE;
        }
        if (mpol == HONE_CACHE_POLICY_BELADY) {
            cli_cmd_error("cache", "--policy=belady: a memory tier needs an online policy (Belady "
                                   "knows the future); expected hone, lru, arc, s3fifo, lirs, sieve "
                                   "or wtinylfu");
            return CLI_USAGE;
        }
        return sim_tiered(trace, format, mpol, tier == 1 ? mem : 0, disk, json);
    }
    if (mem || disk) {
        cli_cmd_error("cache", "--memory and --disk need --tier hybrid or --tier disk");
        return CLI_USAGE;
    }
    if (!nsizes) {
        cli_cmd_error("cache", "sim needs --size N[,N...]");
        return CLI_USAGE;
    }
    uint64_t *keys;
    size_t n;
    int rc = hone_cache_trace_load(trace, format, NULL, &keys, &n, &err);
    if (rc) {
        cli_cmd_error("cache", "%s", err.msg);
        return rc == HONE_ENOMEM ? CLI_FAIL : CLI_USAGE;
    }
    if (format == HONE_CACHE_TRACE_AUTO) format = hone_cache_trace_format_detect(trace);
    double res[MAX_SIZES][HONE_CACHE_POLICY_ALL_COUNT * 2];
    for (int i = 0; i < nsizes; i++)
        for (int p = 0; p < npols; p++)
            if ((rc = hone_cache_sim_run(pols[p], sizes[i], keys, n, NULL, &res[i][p]))) {
                hone_free(NULL, keys);
                cli_cmd_error("cache", "simulation failed: %s", hone_strerror(rc));
                return CLI_FAIL;
            }
    hone_free(NULL, keys);
    /* Per row: the best online reference policy run (hone and Belady are
     * not references) and hone's distance to it and to Belady. */
    int ph = -1, pb = -1, nref = 0;
    for (int p = 0; p < npols; p++) {
        if (pols[p] == HONE_CACHE_POLICY_HONE && ph < 0) ph = p;
        else if (pols[p] == HONE_CACHE_POLICY_BELADY && pb < 0) pb = p;
        else if (pols[p] != HONE_CACHE_POLICY_HONE && pols[p] != HONE_CACHE_POLICY_BELADY) nref++;
    }
    int best[MAX_SIZES];
    double mean[HONE_CACHE_POLICY_ALL_COUNT * 2] = {0};
    for (int i = 0; i < nsizes; i++) {
        best[i] = -1;
        for (int p = 0; p < npols; p++) {
            mean[p] += res[i][p] / nsizes;
            if (pols[p] == HONE_CACHE_POLICY_HONE || pols[p] == HONE_CACHE_POLICY_BELADY) continue;
            if (best[i] < 0 || res[i][p] > res[i][best[i]]) best[i] = p;
        }
    }
    /* The best single reference policy over all rows, by its mean. */
    int best_mean = -1;
    for (int p = 0; p < npols; p++)
        if (pols[p] != HONE_CACHE_POLICY_HONE && pols[p] != HONE_CACHE_POLICY_BELADY &&
            (best_mean < 0 || mean[p] > mean[best_mean]))
            best_mean = p;
    int cmp = ph >= 0 && nref > 0;
    if (json) {
        json_t *rows = json_array();
        for (int i = 0; i < nsizes; i++) {
            json_t *hr = json_object();
            for (int p = 0; p < npols; p++)
                json_object_set_new(hr, hone_cache_policy_name(pols[p]), json_real(res[i][p]));
            json_t *row = json_pack("{s:I, s:o}", "size", (json_int_t)sizes[i], "hit_percent", hr);
            if (cmp) {
                json_object_set_new(row, "best_reference",
                                    json_string(hone_cache_policy_name(pols[best[i]])));
                json_object_set_new(row, "hone_delta", json_real(res[i][ph] - res[i][best[i]]));
            }
            if (ph >= 0 && pb >= 0)
                json_object_set_new(row, "belady_gap", json_real(res[i][pb] - res[i][ph]));
            json_array_append_new(rows, row);
        }
        json_t *jm = json_object();
        for (int p = 0; p < npols; p++)
            json_object_set_new(jm, hone_cache_policy_name(pols[p]), json_real(mean[p]));
        json_t *j = json_pack("{s:s, s:s, s:I, s:o, s:o}", "trace", trace, "format",
                              hone_cache_trace_format_name(format), "accesses", (json_int_t)n,
                              "results", rows, "mean_hit_percent", jm);
        if (cmp) {
            json_object_set_new(j, "best_mean_reference",
                                json_string(hone_cache_policy_name(pols[best_mean])));
            json_object_set_new(j, "hone_mean_delta", json_real(mean[ph] - mean[best_mean]));
        }
        return print_json(j);
    }
    printf("trace %s: %zu accesses (%s); object hit ratio in percent\n", trace, n,
           hone_cache_trace_format_name(format));
    printf("%10s", "size");
    for (int p = 0; p < npols; p++) printf(" %8s", hone_cache_policy_name(pols[p]));
    if (cmp) printf("  %-9s %7s", "best", "hone-vs");
    if (ph >= 0 && pb >= 0) printf(" %7s", "to-opt");
    putchar('\n');
    for (int i = 0; i < nsizes + (nsizes > 1); i++) {
        const double *r = i < nsizes ? res[i] : mean;
        int b = i < nsizes ? best[i] : best_mean;
        if (i < nsizes) printf("%10llu", (unsigned long long)sizes[i]);
        else printf("%10s", "mean");
        for (int p = 0; p < npols; p++) printf(" %8.2f", r[p]);
        if (cmp) printf("  %-9s %+7.2f", hone_cache_policy_name(pols[b]), r[ph] - r[b]);
        if (ph >= 0 && pb >= 0) printf(" %7.2f", r[pb] - r[ph]);
        putchar('\n');
    }
    if (cmp)
        printf("best: the best online policy other than hone on that row (for mean, the one\n"
               "with the best mean); hone-vs: hone minus it\n");
    if (ph >= 0 && pb >= 0) printf("to-opt: Belady's optimum minus hone\n");
    return CLI_OK;
}

int cli_cache_main(int argc, char **argv) {
    if (argc < 2) {
        cli_cmd_error("cache", "missing subcommand (expected sim, calibrate, stats, clear or "
                               "export; see 'hone cache --help')");
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        cli_cache_usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "sim")) return cache_sim(argc - 1, argv + 1);
    if (!strcmp(argv[1], "calibrate")) return cli_cache_calibrate(argc - 1, argv + 1);
    if (!strcmp(argv[1], "stats") || !strcmp(argv[1], "clear") || !strcmp(argv[1], "export"))
        return cli_cache_disk(argc - 1, argv + 1);
    cli_cmd_error("cache", "unknown subcommand '%s' (expected sim, calibrate, stats, clear or "
                           "export)",
                  argv[1]);
    return CLI_USAGE;
}

/* Finds web07.trace.xz: in the source tree the CLI was built from, else
 * under the share directory next to the installed binary. */
static int find_web07(char *path, size_t cap) {
    snprintf(path, cap, "%s/data/traces/web07.trace.xz", HONE_SOURCE_DIR);
    if (access(path, R_OK) == 0) return 0;
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(path, cap, "%s/../share/hone/traces/web07.trace.xz", exe);
            if (access(path, R_OK) == 0) return 0;
        }
    }
    return -1;
}

int cli_demo_cache(void) {
    char path[1200];
    if (find_web07(path, sizeof path)) {
        fprintf(stderr, "web07.trace.xz not found under %s/data/traces or share/hone/traces\n",
                HONE_SOURCE_DIR);
        return 1;
    }
    uint64_t *keys;
    size_t n;
    hone_error err;
    if (hone_cache_trace_load(path, HONE_CACHE_TRACE_CACHE2K, NULL, &keys, &n, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("replaying web07 (%zu HTTP requests, CC BY 4.0 headissue GmbH, Jens Wilke)\n", n);
    /* Beside LRU, the best of the published policies the simulator has:
     * beating LRU alone would be a low bar. */
    static const hone_cache_policy refs[] = {HONE_CACHE_POLICY_LRU, HONE_CACHE_POLICY_ARC,
                                             HONE_CACHE_POLICY_S3FIFO};
    printf("%8s %8s %8s %8s %8s %12s\n", "size", "hone", "lru", "arc", "s3fifo", "vs best");
    static const uint64_t sizes[] = {500, 1000, 2000};
    int worse = 0;
    hone_cycle *cy = cli_demo_cycle();
    for (int i = 0; i < 3; i++) {
        double h = 0, r[3] = {0};
        int rc = hone_cache_sim_run(HONE_CACHE_POLICY_HONE, sizes[i], keys, n, NULL, &h);
        for (int k = 0; k < 3 && !rc; k++) rc = hone_cache_sim_run(refs[k], sizes[i], keys, n, NULL, &r[k]);
        if (rc) {
            hone_free(NULL, keys);
            fprintf(stderr, "simulation ran out of memory\n");
            return 1;
        }
        int best = 0;
        for (int k = 1; k < 3; k++)
            if (r[k] > r[best]) best = k;
        printf("%8llu %7.2f%% %7.2f%% %7.2f%% %7.2f%% %+7.2f %-4s\n", (unsigned long long)sizes[i], h,
               r[0], r[1], r[2], h - r[best], hone_cache_policy_name(refs[best]));
        if (h <= r[0]) worse = 1;
        /* The step's cycle counts the replay's hits and misses. */
        uint64_t hits = (uint64_t)(h / 100.0 * (double)n + 0.5);
        for (uint64_t k = 0; k < hits; k++) hone_cycle_hit(cy);
        for (uint64_t k = hits; k < n; k++) hone_cycle_miss(cy);
    }
    hone_free(NULL, keys);
    /* The policy exists to beat LRU; not doing so on this trace is a bug. */
    if (worse) {
        fprintf(stderr, "hone's policy did not beat LRU on web07\n");
        return 1;
    }
    /* A kind of workload where recency policies get nothing: a job that
     * reads the same 1100 keys over and over with room for 1000. Each key
     * is evicted just before it comes back under LRU and ARC; a policy that
     * keeps a fixed part of the loop hits on that part. */
    enum { LOOP_KEYS = 1100, LOOP_CAP = 1000, LOOP_N = 110000 };
    uint64_t *loop = hone_malloc(NULL, LOOP_N * sizeof *loop);
    if (!loop) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < LOOP_N; i++) loop[i] = i % LOOP_KEYS;
    static const hone_cache_policy lpol[] = {HONE_CACHE_POLICY_HONE, HONE_CACHE_POLICY_LRU,
                                             HONE_CACHE_POLICY_ARC, HONE_CACHE_POLICY_S3FIFO,
                                             HONE_CACHE_POLICY_LIRS};
    double lr[5] = {0};
    int rc = 0;
    for (int k = 0; k < 5 && !rc; k++)
        rc = hone_cache_sim_run(lpol[k], LOOP_CAP, loop, LOOP_N, NULL, &lr[k]);
    hone_free(NULL, loop);
    if (rc) {
        fprintf(stderr, "simulation ran out of memory\n");
        return 1;
    }
    printf("a job re-reading %d keys with room for %d (a loop longer than the cache):\n", LOOP_KEYS,
           LOOP_CAP);
    printf("    hone %.2f%%, lru %.2f%%, arc %.2f%%, s3fifo %.2f%%, lirs %.2f%%\n", lr[0], lr[1], lr[2],
           lr[3], lr[4]);
    /* (LOOP_CAP - window) / LOOP_KEYS is what a policy that holds still
     * gets; less than half of the loop's keys hitting would be a bug. */
    if (lr[0] < 50.0) {
        fprintf(stderr, "hone's policy lost the loop (%.2f%% of hits)\n", lr[0]);
        return 1;
    }
    return 0;
}
