/* demo.c - `hone demo`, the main job: runs each module's demo step in
 * order, times it, and fails if any step fails. */
#include "cli.h"

#include <string.h>

static const struct step {
    const char *name;
    const char *summary;
    int (*run)(void);
} steps[] = {
#define HONE_DEMO_STEP(name, summary) {#name, summary, cli_demo_##name},
#include "demo_steps.def"
#undef HONE_DEMO_STEP
};
#define N_STEPS (sizeof steps / sizeof steps[0])

enum { OPT_LIST = CLI_LONG };

static const cli_opt demo_opts[] = {
    {OPT_LIST, "list", NULL, "list the steps and exit", NULL},
    {'h', "help", NULL, "show this help", NULL},
    {0, NULL, NULL, NULL, NULL}};

const cli_spec cli_spec_demo = {
    "demo",
    "usage: hone demo [--list] [STEP...]\n"
    "\n"
    "Runs the main job: each step exercises one module of hone on real work and\n"
    "reports what it did. Without STEP, every step runs in order; profile runs\n"
    "last wherever it is named. The exit status is 1 if any step failed, naming\n"
    "the step and why.\n",
    NULL, demo_opts};

void cli_demo_usage(FILE *out) { cli_help(&cli_spec_demo, out); }

/* The cycle of the step that is running, for the steps to count what they
 * did (hits, misses, validations, file operations). */
static hone_cycle *current_cycle;

hone_cycle *cli_demo_cycle(void) { return current_cycle; }

static const struct step *find_step(const char *name) {
    for (size_t i = 0; i < N_STEPS; i++)
        if (!strcmp(steps[i].name, name)) return &steps[i];
    return NULL;
}

int cli_demo_main(int argc, char **argv) {
    int list = 0, c;
    optind = 0;
    while ((c = cli_next(&cli_spec_demo, argc, argv)) != -1) {
        switch (c) {
        case OPT_LIST: list = 1; break;
        case 'h': cli_demo_usage(stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (list) {
        for (size_t i = 0; i < N_STEPS; i++) printf("%-10s %s\n", steps[i].name, steps[i].summary);
        return CLI_OK;
    }
    const struct step *chosen[N_STEPS * 4];
    size_t n = 0;
    if (optind == argc) {
        for (size_t i = 0; i < N_STEPS; i++) chosen[n++] = &steps[i];
    }
    for (int i = optind; i < argc; i++) {
        const struct step *s = find_step(argv[i]);
        if (!s) {
            const char *names[N_STEPS];
            for (size_t k = 0; k < N_STEPS; k++) names[k] = steps[k].name;
            const char *near = hone_nearest_name(argv[i], names, N_STEPS);
            if (near)
                cli_cmd_error("demo", "no step named '%s'; did you mean '%s'? (see 'hone demo --list')",
                              argv[i], near);
            else
                cli_cmd_error("demo", "no step named '%s' (see 'hone demo --list')", argv[i]);
            return CLI_USAGE;
        }
        if (n < N_STEPS * 4) chosen[n++] = s;
    }
    /* `profile` prints what the other steps measured, so it runs after
     * them wherever it was named (once). */
    const struct step *prof = find_step("profile");
    size_t kept = 0, profiles = 0;
    for (size_t i = 0; i < n; i++) {
        if (chosen[i] == prof) profiles++;
        else chosen[kept++] = chosen[i];
    }
    if (profiles) chosen[kept++] = prof;
    n = kept;
    int failed = 0;
    /* The demo profiles itself: every step runs inside a zone named after
     * it, and the `profile` step prints what the zones measured. */
    static hone_prof_site sites[N_STEPS];
    hone_prof_enable(1);
    for (size_t i = 0; i < n; i++) {
        printf("== %s: %s\n", chosen[i]->name, chosen[i]->summary);
        fflush(stdout);
        hone_prof_site *site = &sites[chosen[i] - steps];
        /* The zone's location is where the step is run (set there). */
        if (!site->name)
            *site = (hone_prof_site){chosen[i]->name, "cli/demo.c", "cli_demo_main", 0,
                                     HONE_LOG_WARN, 0, 0, 0, 0};
        hone_prof_scope zone;
        /* Each step is also a work cycle of the default collector, which
         * the `profile` step summarises. */
        current_cycle = NULL;
        hone_cycle_begin(NULL, chosen[i]->name, &current_cycle);
        uint64_t t0 = hone_monotonic_ns();
        site->line = __LINE__ + 2;
        hone_prof_begin(site, &zone);
        int rc = chosen[i]->run();
        hone_prof_end(&zone);
        hone_cycle_end(current_cycle, rc == 0);
        current_cycle = NULL;
        double ms = (double)(hone_monotonic_ns() - t0) / 1e6;
        fflush(stdout);
        if (rc) {
            failed++;
            printf("== %s: FAILED after %.1f ms\n\n", chosen[i]->name, ms);
            cli_cmd_error("demo", "step '%s' failed", chosen[i]->name);
        } else {
            printf("== %s: ok in %.1f ms\n\n", chosen[i]->name, ms);
        }
    }
    printf("demo: %zu step(s), %zu passed, %d failed\n", n, n - (size_t)failed, failed);
    return failed ? CLI_FAIL : CLI_OK;
}
